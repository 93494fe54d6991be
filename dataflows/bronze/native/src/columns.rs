//! Arrow buffers of the bronze columns a decoded event fills.
//!
//! Which columns a stream has is not decided here: the Python side asks for the bronze row's
//! fields by name (dataflows/tables.py defines them) and [`Column::new`] refuses a name it
//! does not know. The record's columns (payload, coordinates, `ingested_at`, `record_key` (the
//! record's key, not a bronze column: the late events' rows keep it), and `warnings`, always
//! empty for a clean record) are filled from its envelope. Buffers follow Arrow's layout (little-endian values, i32 offsets, a
//! validity bitmap) so that `pyarrow.Array.from_buffers` takes them as they are.

use crate::decode::Envelope;
use crate::event::{Event, SCHEMAS};

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Field {
    EventId,
    DeviceId,
    StoreId,
    Ts,
    Schema,
    DurationMs,
    Transcript,
    Confidence,
    Lang,
    Engine,
    ModelVersion,
    NWordsReported,
    AudioUrl,
    FrameId,
    Width,
    Height,
    Labels,
    UptimeS,
    CpuPct,
    MemPct,
    CpuTempC,
    DiskFreeMb,
    OutboxDepth,
    Models,
    SwVersion,
    IntervalS,
    InsightId,
    AdvisorId,
    InsightType,
    Action,
    Comment,
    Warnings,
    Payload,
    Topic,
    Partition,
    Offset,
    RecordTs,
    IngestedAt,
    RecordKey,
}

fn field(stream: &str, name: &str) -> Option<Field> {
    use Field::*;
    let common = match name {
        "event_id" => Some(EventId),
        "device_id" => Some(DeviceId),
        "store_id" => Some(StoreId),
        "ts" => Some(Ts),
        "schema" => Some(Schema),
        "warnings" => Some(Warnings),
        "payload" => Some(Payload),
        "topic" => Some(Topic),
        "partition" => Some(Partition),
        "offset" => Some(Offset),
        "record_ts" => Some(RecordTs),
        "ingested_at" => Some(IngestedAt),
        "record_key" => Some(RecordKey),
        _ => None,
    };
    common.or(match (stream, name) {
        ("stt", "duration_ms") => Some(DurationMs),
        ("stt", "transcript") => Some(Transcript),
        ("stt", "confidence") => Some(Confidence),
        ("stt", "lang") => Some(Lang),
        ("stt", "engine") => Some(Engine),
        ("stt" | "visual", "model_version") => Some(ModelVersion),
        ("stt", "n_words_reported") => Some(NWordsReported),
        ("stt", "audio_url") => Some(AudioUrl),
        ("visual", "frame_id") => Some(FrameId),
        ("visual", "width") => Some(Width),
        ("visual", "height") => Some(Height),
        ("visual", "labels") => Some(Labels),
        ("heartbeat", "uptime_s") => Some(UptimeS),
        ("heartbeat", "cpu_pct") => Some(CpuPct),
        ("heartbeat", "mem_pct") => Some(MemPct),
        ("heartbeat", "cpu_temp_c") => Some(CpuTempC),
        ("heartbeat", "disk_free_mb") => Some(DiskFreeMb),
        ("heartbeat", "outbox_depth") => Some(OutboxDepth),
        ("heartbeat", "models") => Some(Models),
        ("heartbeat", "sw_version") => Some(SwVersion),
        ("heartbeat", "interval_s") => Some(IntervalS),
        ("feedback", "insight_id") => Some(InsightId),
        ("feedback", "advisor_id") => Some(AdvisorId),
        ("feedback", "insight_type") => Some(InsightType),
        ("feedback", "action") => Some(Action),
        ("feedback", "comment") => Some(Comment),
        _ => None,
    })
}

/// Validity bitmap (all valid until the first null).
#[derive(Default)]
struct Validity {
    bits: Vec<u8>,
    len: usize,
    nulls: usize,
}

impl Validity {
    fn push(&mut self, valid: bool) {
        if self.len.is_multiple_of(8) {
            self.bits.push(0);
        }
        if valid {
            *self.bits.last_mut().unwrap() |= 1 << (self.len % 8);
        } else {
            self.nulls += 1;
        }
        self.len += 1;
    }
}

/// Strings: i32 offsets and UTF-8 data.
struct Strings {
    offsets: Vec<i32>,
    data: Vec<u8>,
}

impl Strings {
    fn new() -> Self {
        Strings {
            offsets: vec![0],
            data: Vec::new(),
        }
    }

    fn push(&mut self, s: &str) -> Result<(), String> {
        self.push_bytes(s.as_bytes())
    }

    fn push_bytes(&mut self, b: &[u8]) -> Result<(), String> {
        self.data.extend_from_slice(b);
        let end = i32::try_from(self.data.len())
            .map_err(|_| "a batch's strings exceed 2 GiB".to_string())?;
        self.offsets.push(end);
        Ok(())
    }
}

fn le<T: Copy, const N: usize>(values: &[T], bytes: impl Fn(T) -> [u8; N]) -> Vec<u8> {
    values.iter().flat_map(|&v| bytes(v)).collect()
}

enum Buffers {
    Str(Strings, Validity),
    I64(Vec<i64>, Validity),
    F64(Vec<f64>, Validity),
    /// list<string>: list offsets, then the strings
    StrList(Vec<i32>, Strings),
    /// map<string, string>: entry offsets, keys, values
    StrMap(Vec<i32>, Strings, Strings),
}

/// One requested column of one stream, filled event by event.
pub struct Column {
    field: Field,
    buffers: Buffers,
}

/// A finished column: its Arrow buffers in `from_buffers` order (`None`: no validity bitmap)
/// and, for a list or map, the child arrays' buffers.
pub struct Finished {
    pub buffers: Vec<Option<Vec<u8>>>,
    pub null_count: usize,
}

impl Column {
    pub fn new(stream: &str, name: &str) -> Option<Column> {
        use Field::*;
        let field = field(stream, name)?;
        let buffers = match field {
            Ts | DurationMs | NWordsReported | FrameId | Width | Height | OutboxDepth
            | Partition | Offset | RecordTs | IngestedAt => {
                Buffers::I64(Vec::new(), Validity::default())
            }
            Confidence | UptimeS | CpuPct | MemPct | CpuTempC | DiskFreeMb | IntervalS => {
                Buffers::F64(Vec::new(), Validity::default())
            }
            Labels | Warnings => Buffers::StrList(vec![0], Strings::new()),
            Models => Buffers::StrMap(vec![0], Strings::new(), Strings::new()),
            _ => Buffers::Str(Strings::new(), Validity::default()),
        };
        Some(Column { field, buffers })
    }

    /// Room for `rows` values, and for `payload_bytes` of payloads in the payload column (what a
    /// batch from a buffer of lines holds at most): the column then never moves while it fills.
    pub fn reserve(&mut self, rows: usize, payload_bytes: usize) {
        match &mut self.buffers {
            Buffers::Str(strings, _) => {
                strings.offsets.reserve(rows);
                if self.field == Field::Payload {
                    strings.data.reserve(payload_bytes);
                }
            }
            Buffers::I64(values, _) => values.reserve(rows),
            Buffers::F64(values, _) => values.reserve(rows),
            Buffers::StrList(offsets, _) | Buffers::StrMap(offsets, _, _) => offsets.reserve(rows),
        }
    }

    /// Appends the event's value (`schema`: index in [`SCHEMAS`], `ts`: event time in ms; `env`:
    /// its record; `now_ms`: the batch's processing time).
    pub fn push(
        &mut self,
        ev: &Event,
        schema: usize,
        ts: i64,
        env: &Envelope,
        now_ms: i64,
    ) -> Result<(), String> {
        use Field::*;
        match &mut self.buffers {
            Buffers::Str(strings, validity) if self.field == Payload => {
                validity.push(true);
                strings.push_bytes(env.value)?;
            }
            Buffers::Str(strings, validity) => {
                let value = match self.field {
                    EventId => ev.event_id.as_deref(),
                    DeviceId => ev.device_id.as_deref(),
                    StoreId => ev.store_id.as_deref(),
                    Schema => Some(SCHEMAS[schema].0),
                    Transcript => ev.transcript.as_deref(),
                    Lang => ev.lang.as_deref(),
                    Engine => ev.engine.as_deref(),
                    ModelVersion => ev.model_version.as_deref(),
                    AudioUrl => ev.audio_url(schema),
                    SwVersion => ev.sw_version.as_deref(),
                    InsightId => ev.insight_id.as_deref(),
                    AdvisorId => ev.advisor_id.as_deref(),
                    InsightType => ev.insight_type.as_deref(),
                    Action => ev.action.as_deref(),
                    Comment => ev.comment.as_deref(),
                    Topic => Some(env.topic),
                    RecordKey => env.key,
                    _ => unreachable!("a string column"),
                };
                validity.push(value.is_some());
                strings.push(value.unwrap_or(""))?;
            }
            Buffers::I64(values, validity) => {
                let value = match self.field {
                    Ts => Some(ts),
                    DurationMs => ev.duration_ms,
                    NWordsReported => ev.words.as_ref().map(|w| w.len() as i64),
                    FrameId => ev.frame_id,
                    Width => ev.width,
                    Height => ev.height,
                    OutboxDepth => ev.outbox_depth,
                    Partition => Some(env.partition),
                    Offset => Some(env.offset),
                    RecordTs => Some(env.record_ts),
                    IngestedAt => Some(now_ms),
                    _ => unreachable!("an integer column"),
                };
                validity.push(value.is_some());
                values.push(value.unwrap_or(0));
            }
            Buffers::F64(values, validity) => {
                let value = match self.field {
                    Confidence => ev.confidence,
                    UptimeS => ev.uptime_s,
                    CpuPct => ev.cpu_pct,
                    MemPct => ev.mem_pct,
                    CpuTempC => ev.cpu_temp_c.flatten(),
                    DiskFreeMb => ev.disk_free_mb,
                    IntervalS => ev.interval_s,
                    _ => unreachable!("a float column"),
                };
                validity.push(value.is_some());
                values.push(value.unwrap_or(0.0));
            }
            Buffers::StrList(offsets, strings) => {
                if self.field == Labels {
                    for d in ev.detections.iter().flatten() {
                        strings.push(&d.label)?;
                    }
                }
                offsets.push((strings.offsets.len() - 1) as i32);
            }
            Buffers::StrMap(offsets, keys, values) => {
                for (k, v) in ev.models.iter().flat_map(|m| m.0.iter()) {
                    keys.push(k)?;
                    values.push(v)?;
                }
                offsets.push((keys.offsets.len() - 1) as i32);
            }
        }
        Ok(())
    }

    /// Arrow buffers: `[validity, values]` for numbers, `[validity, offsets, data]` for strings,
    /// `[None, offsets, None, child offsets, child data]` for a list, and
    /// `[None, offsets, None, key offsets, key data, None, value offsets, value data]` for a map.
    pub fn finish(self) -> Finished {
        let bitmap = |v: Validity| if v.nulls == 0 { None } else { Some(v.bits) };
        let offsets = |o: &[i32]| le(o, i32::to_le_bytes);
        match self.buffers {
            Buffers::Str(s, v) => {
                let nulls = v.nulls;
                Finished {
                    buffers: vec![bitmap(v), Some(offsets(&s.offsets)), Some(s.data)],
                    null_count: nulls,
                }
            }
            Buffers::I64(x, v) => {
                let nulls = v.nulls;
                Finished {
                    buffers: vec![bitmap(v), Some(le(&x, i64::to_le_bytes))],
                    null_count: nulls,
                }
            }
            Buffers::F64(x, v) => {
                let nulls = v.nulls;
                Finished {
                    buffers: vec![bitmap(v), Some(le(&x, f64::to_le_bytes))],
                    null_count: nulls,
                }
            }
            Buffers::StrList(o, s) => Finished {
                buffers: vec![
                    None,
                    Some(offsets(&o)),
                    None,
                    Some(offsets(&s.offsets)),
                    Some(s.data),
                ],
                null_count: 0,
            },
            Buffers::StrMap(o, k, v) => Finished {
                buffers: vec![
                    None,
                    Some(offsets(&o)),
                    None,
                    None,
                    Some(offsets(&k.offsets)),
                    Some(k.data),
                    None,
                    Some(offsets(&v.offsets)),
                    Some(v.data),
                ],
                null_count: 0,
            },
        }
    }
}
