//! The rules file's checks (dataflows/bronze/rules.py), for the field paths the contract has.
//!
//! A rule passes when every value at its path passes (an absent optional field has no value),
//! exactly as the Python predicates read it. A path or check not known here makes the
//! Python side defer the whole stream to the Python validator ([`Check::new`] says which).

use std::collections::HashSet;

use crate::event::{Event, FEEDBACK, HEARTBEAT, STT, VISUAL};

/// Integers beyond 2^53 are not compared as floats here (the Python validator decides).
const EXACT_INT: i64 = 1 << 53;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Path {
    EventId,
    DeviceId,
    StoreId,
    DurationMs,
    Transcript,
    Confidence,
    Lang,
    Engine,
    ModelVersion,
    Words,
    WordW,
    WordStart,
    WordEnd,
    WordConf,
    AudioUrl,
    Speaker,
    FrameId,
    Width,
    Height,
    Detections,
    DetLabel,
    DetConfidence,
    DetBbox,
    DetBboxValue,
    DetZone,
    DetTrackId,
    UptimeS,
    CpuPct,
    MemPct,
    CpuTempC,
    DiskFreeMb,
    OutboxDepth,
    SwVersion,
    IntervalS,
    Status,
    Problems,
    Problem,
    ModelUpdate,
    InsightId,
    AdvisorId,
    InsightType,
    Action,
    Comment,
}

/// The path of a rules-file field (`detections[].bbox[]`) on a stream, if this stream has it.
pub fn path(stream: u8, field: &str) -> Option<Path> {
    use Path::*;
    let common = match field {
        "event_id" => Some(EventId),
        "device_id" => Some(DeviceId),
        "store_id" => Some(StoreId),
        _ => None,
    };
    common.or(match (stream, field) {
        (STT, "duration_ms") => Some(DurationMs),
        (STT, "transcript") => Some(Transcript),
        (STT, "confidence") => Some(Confidence),
        (STT, "lang") => Some(Lang),
        (STT, "engine") => Some(Engine),
        (STT | VISUAL, "model_version") => Some(ModelVersion),
        (STT, "words") => Some(Words),
        (STT, "words[].w") => Some(WordW),
        (STT, "words[].start_ms") => Some(WordStart),
        (STT, "words[].end_ms") => Some(WordEnd),
        (STT, "words[].conf") => Some(WordConf),
        (STT, "audio_url") => Some(AudioUrl),
        (STT, "speaker") => Some(Speaker),
        (VISUAL, "frame_id") => Some(FrameId),
        (VISUAL, "width") => Some(Width),
        (VISUAL, "height") => Some(Height),
        (VISUAL, "detections") => Some(Detections),
        (VISUAL, "detections[].label") => Some(DetLabel),
        (VISUAL, "detections[].confidence") => Some(DetConfidence),
        (VISUAL, "detections[].bbox") => Some(DetBbox),
        (VISUAL, "detections[].bbox[]") => Some(DetBboxValue),
        (VISUAL, "detections[].zone") => Some(DetZone),
        (VISUAL, "detections[].track_id") => Some(DetTrackId),
        (HEARTBEAT, "uptime_s") => Some(UptimeS),
        (HEARTBEAT, "cpu_pct") => Some(CpuPct),
        (HEARTBEAT, "mem_pct") => Some(MemPct),
        (HEARTBEAT, "cpu_temp_c") => Some(CpuTempC),
        (HEARTBEAT, "disk_free_mb") => Some(DiskFreeMb),
        (HEARTBEAT, "outbox_depth") => Some(OutboxDepth),
        (HEARTBEAT, "sw_version") => Some(SwVersion),
        (HEARTBEAT, "interval_s") => Some(IntervalS),
        (HEARTBEAT, "status") => Some(Status),
        (HEARTBEAT, "problems") => Some(Problems),
        (HEARTBEAT, "problems[]") => Some(Problem),
        (HEARTBEAT, "model_update") => Some(ModelUpdate),
        (FEEDBACK, "insight_id") => Some(InsightId),
        (FEEDBACK, "advisor_id") => Some(AdvisorId),
        (FEEDBACK, "insight_type") => Some(InsightType),
        (FEEDBACK, "action") => Some(Action),
        (FEEDBACK, "comment") => Some(Comment),
        _ => None,
    })
}

/// A number at a path: a float, or an integer (exact as a float only up to 2^53).
#[derive(Clone, Copy)]
enum Num {
    F(f64),
    I(i64),
}

impl Num {
    fn within(self, lo: f64, hi: f64) -> bool {
        match self {
            Num::F(v) => v >= lo && v <= hi,
            Num::I(v) => v.abs() <= EXACT_INT && (v as f64) >= lo && (v as f64) <= hi,
        }
    }
}

/// Calls `f` on every number at `path`; false as soon as `f` is (or the path holds no numbers).
fn all_nums(ev: &Event, p: Path, mut f: impl FnMut(Num) -> bool) -> Option<bool> {
    use Path::*;
    let one = |v: Option<Num>, f: &mut dyn FnMut(Num) -> bool| v.is_none_or(f);
    Some(match p {
        DurationMs => one(ev.duration_ms.map(Num::I), &mut f),
        Confidence => one(ev.confidence.map(Num::F), &mut f),
        FrameId => one(ev.frame_id.map(Num::I), &mut f),
        Width => one(ev.width.map(Num::I), &mut f),
        Height => one(ev.height.map(Num::I), &mut f),
        UptimeS => one(ev.uptime_s.map(Num::F), &mut f),
        CpuPct => one(ev.cpu_pct.map(Num::F), &mut f),
        MemPct => one(ev.mem_pct.map(Num::F), &mut f),
        CpuTempC => one(ev.cpu_temp_c.flatten().map(Num::F), &mut f),
        DiskFreeMb => one(ev.disk_free_mb.map(Num::F), &mut f),
        OutboxDepth => one(ev.outbox_depth.map(Num::I), &mut f),
        IntervalS => one(ev.interval_s.map(Num::F), &mut f),
        WordStart | WordEnd | WordConf => ev.words.iter().flatten().all(|w| {
            f(match p {
                WordStart => Num::I(w.start_ms),
                WordEnd => Num::I(w.end_ms),
                _ => Num::F(w.conf),
            })
        }),
        DetConfidence => ev
            .detections
            .iter()
            .flatten()
            .all(|d| f(Num::F(d.confidence))),
        DetTrackId => ev
            .detections
            .iter()
            .flatten()
            .all(|d| d.track_id.map(Num::I).is_none_or(&mut f)),
        DetBboxValue => ev
            .detections
            .iter()
            .flatten()
            .all(|d| d.bbox.iter().all(|&v| f(Num::F(v)))),
        _ => return None,
    })
}

/// Calls `f` on every string at `path`.
fn all_strs(ev: &Event, schema: usize, p: Path, mut f: impl FnMut(&str) -> bool) -> Option<bool> {
    use Path::*;
    let one = |v: Option<&str>, f: &mut dyn FnMut(&str) -> bool| v.is_none_or(f);
    Some(match p {
        EventId => one(ev.event_id.as_deref(), &mut f),
        DeviceId => one(ev.device_id.as_deref(), &mut f),
        StoreId => one(ev.store_id.as_deref(), &mut f),
        Transcript => one(ev.transcript.as_deref(), &mut f),
        Lang => one(ev.lang.as_deref(), &mut f),
        Engine => one(ev.engine.as_deref(), &mut f),
        ModelVersion => one(ev.model_version.as_deref(), &mut f),
        AudioUrl => one(ev.audio_url(schema), &mut f),
        Speaker => one(ev.speaker(schema), &mut f),
        SwVersion => one(ev.sw_version.as_deref(), &mut f),
        Status => one(ev.status.as_deref(), &mut f),
        ModelUpdate => one(ev.model_update.as_deref(), &mut f),
        InsightId => one(ev.insight_id.as_deref(), &mut f),
        AdvisorId => one(ev.advisor_id.as_deref(), &mut f),
        InsightType => one(ev.insight_type.as_deref(), &mut f),
        Action => one(ev.action.as_deref(), &mut f),
        Comment => one(ev.comment.as_deref(), &mut f),
        WordW => ev.words.iter().flatten().all(|w| f(&w.w)),
        DetLabel => ev.detections.iter().flatten().all(|d| f(&d.label)),
        DetZone => ev
            .detections
            .iter()
            .flatten()
            .all(|d| d.zone.as_deref().is_none_or(&mut f)),
        Problem => ev.problems.iter().flatten().all(|s| f(&s.0)),
        _ => return None,
    })
}

/// Calls `f` on the length of every list at `path` (or of every string: Python's `len`).
fn all_lens(ev: &Event, schema: usize, p: Path, mut f: impl FnMut(usize) -> bool) -> Option<bool> {
    use Path::*;
    match p {
        Words => Some(ev.words.as_ref().is_none_or(|w| f(w.len()))),
        Detections => Some(ev.detections.as_ref().is_none_or(|d| f(d.len()))),
        DetBbox => Some(ev.detections.iter().flatten().all(|d| f(d.bbox.len()))),
        Problems => Some(ev.problems.as_ref().is_none_or(|v| f(v.len()))),
        _ => all_strs(ev, schema, p, |s| f(s.chars().count())),
    }
}

/// `_label_known` of dataflows/bronze/rules.py.
fn label_known(label: &str) -> bool {
    matches!(label, "face" | "person" | "hand")
        || matches!(label.split_once(':'), Some(("brand" | "gesture", name)) if !name.is_empty())
}

/// One rule of a stream, compiled.
pub enum Check {
    Range { path: Path, lo: f64, hi: f64 },
    Length { path: Path, lo: i64, hi: i64 },
    InSet { path: Path, values: HashSet<String> },
    LabelKnown { path: Path },
    TsMin(i64),
    TsMaxSkew(i64),
    TsMaxAheadOfIngest(i64),
    TopicMatchesSchema,
    KeyMatches,
}

/// What a rule may consult besides the event (the record's envelope and the batch's clock).
pub struct Context<'r> {
    pub key: Option<&'r str>,
    pub topic_stream: Option<u8>,
    pub record_ts: i64,
    pub now_ms: i64,
}

/// A rule as the rules file states it (see `dataflows/bronze/columnar.py`, which builds these).
pub struct Spec<'s> {
    pub check: &'s str,
    pub field: Option<&'s str>,
    pub lo: f64,
    pub hi: f64,
    pub len_lo: i64,
    pub len_hi: i64,
    pub values: Vec<String>,
    pub ms: i64,
}

impl Check {
    /// The compiled rule, or `None` when this check or field is not known here on `stream`.
    pub fn new(stream: u8, spec: &Spec) -> Option<Check> {
        let at = || spec.field.and_then(|f| path(stream, f));
        Some(match spec.check {
            "range" => {
                let path = at()?;
                all_nums(&Event::default(), path, |_| true)?; // a numeric path
                Check::Range {
                    path,
                    lo: spec.lo,
                    hi: spec.hi,
                }
            }
            "max_length" | "min_length" | "list_length" => {
                let path = at()?;
                all_lens(&Event::default(), 0, path, |_| true)?;
                Check::Length {
                    path,
                    lo: spec.len_lo,
                    hi: spec.len_hi,
                }
            }
            "in_set" => {
                let path = at()?;
                all_strs(&Event::default(), 0, path, |_| true)?;
                Check::InSet {
                    path,
                    values: spec.values.iter().cloned().collect(),
                }
            }
            "label_known" => {
                let path = at()?;
                all_strs(&Event::default(), 0, path, |_| true)?;
                Check::LabelKnown { path }
            }
            "ts_min" => Check::TsMin(spec.ms),
            "ts_max_skew" => Check::TsMaxSkew(spec.ms),
            "ts_max_ahead_of_ingest" => Check::TsMaxAheadOfIngest(spec.ms),
            "topic_matches_schema" => Check::TopicMatchesSchema,
            "key_matches" => Check::KeyMatches,
            _ => return None,
        })
    }

    pub fn passes(&self, ev: &Event, schema: usize, stream: u8, ts: i64, ctx: &Context) -> bool {
        match self {
            Check::Range { path, lo, hi } => {
                all_nums(ev, *path, |v| v.within(*lo, *hi)) == Some(true)
            }
            Check::Length { path, lo, hi } => {
                all_lens(ev, schema, *path, |n| {
                    (n as i64) >= *lo && (n as i64) <= *hi
                }) == Some(true)
            }
            Check::InSet { path, values } => {
                all_strs(ev, schema, *path, |s| values.contains(s)) == Some(true)
            }
            Check::LabelKnown { path } => all_strs(ev, schema, *path, label_known) == Some(true),
            Check::TsMin(bound) => ts >= *bound,
            Check::TsMaxSkew(ms) => ctx.record_ts.checked_add(*ms).is_some_and(|b| ts <= b),
            Check::TsMaxAheadOfIngest(ms) => ctx.now_ms.checked_add(*ms).is_some_and(|b| ts <= b),
            Check::TopicMatchesSchema => ctx.topic_stream == Some(stream),
            Check::KeyMatches => {
                let want = if stream == FEEDBACK {
                    ev.store_id.as_deref()
                } else {
                    ev.device_id.as_deref()
                };
                ctx.key.is_some() && ctx.key == want
            }
        }
    }
}
