//! A batch of records in (their values and envelopes, or the lines of a topic file); bronze
//! columns of the records that are clean, and a verdict per record, out.
//!
//! *Clean* means: the envelope fits its columns, the value decodes strictly as one of the
//! contract's schemas, and every rule of its stream passes. Anything else (a broken line or
//! payload, a rule broken, even a warning, a form of timestamp or number not handled here) is
//! *deferred*: the Python validator decides it and writes the quarantine reasons. So this path
//! can only ever be stricter than the Python one, never more lenient.

use std::collections::HashMap;

use crate::columns::{Column, Finished};
use crate::envelope::Limits;
use crate::event::{stream_index, ts_millis, Event, SCHEMAS, STREAMS};
use crate::rules::{Check, Context, Spec};

/// Verdict of a record the Python validator must decide.
pub const DEFER: u8 = u8::MAX;

/// The lines of a buffer of topic-file lines, as `(start, end)` (the end past the line's newline, or
/// the buffer's end), leaving out the blank ones: those of ASCII whitespace only (what Python's
/// `bytes.strip` strips), which the file source skips too.
pub fn line_bounds(buffer: &[u8]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut at = 0;
    while at < buffer.len() {
        let end = memchr::memchr(b'\n', &buffer[at..]).map_or(buffer.len(), |i| at + i + 1);
        let blank = buffer[at..end]
            .iter()
            .all(|b| matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c));
        if !blank {
            out.push((at, end));
        }
        at = end;
    }
    out
}

/// One record's envelope and value.
pub struct Envelope<'r> {
    pub key: Option<&'r str>,
    pub topic: &'r str,
    pub partition: i64,
    pub offset: i64,
    pub record_ts: i64,
    pub value: &'r [u8],
}

pub struct Decoder {
    /// Per stream: its rules, or `None` when a rule of it is not known here (all deferred).
    rules: Vec<Option<Vec<Check>>>,
    topic_streams: HashMap<String, u8>,
    /// Per stream: the requested column names.
    columns: Vec<Vec<String>>,
    limits: Limits,
}

/// The output of one batch: a verdict per record (the stream's index, or [`DEFER`]) and, per
/// stream, the clean records' indices in the batch and their columns.
pub struct Decoded {
    pub verdicts: Vec<u8>,
    pub streams: Vec<(Vec<u32>, Vec<Finished>)>,
}

/// The columns being filled for one batch.
struct Batch {
    verdicts: Vec<u8>,
    rows: Vec<Vec<u32>>,
    columns: Vec<Vec<Column>>,
    now_ms: i64,
}

impl Batch {
    fn push(
        &mut self,
        i: usize,
        clean: Option<(usize, i64, Event)>,
        env: &Envelope,
    ) -> Result<(), String> {
        let Some((schema, ts, event)) = clean else {
            self.verdicts.push(DEFER);
            return Ok(());
        };
        let stream = stream_index(SCHEMAS[schema].1).expect("a known schema") as usize;
        self.verdicts.push(stream as u8);
        self.rows[stream].push(u32::try_from(i).map_err(|_| "a batch of more than 2^32 records")?);
        for column in &mut self.columns[stream] {
            column.push(&event, schema, ts, env, self.now_ms)?;
        }
        Ok(())
    }

    fn finish(self) -> Decoded {
        let streams = self
            .rows
            .into_iter()
            .zip(self.columns)
            .map(|(r, cols)| (r, cols.into_iter().map(Column::finish).collect()))
            .collect();
        Decoded {
            verdicts: self.verdicts,
            streams,
        }
    }
}

impl Decoder {
    /// `rules`: `(stream, spec)` for every rule of the rules file; `columns`: the column names
    /// each stream's output holds. Errors name an unknown stream or column.
    pub fn new(
        rules: &[(String, Spec)],
        topic_streams: &HashMap<String, String>,
        columns: &HashMap<String, Vec<String>>,
        limits: Limits,
    ) -> Result<Decoder, String> {
        let index = |s: &str| stream_index(s).ok_or_else(|| format!("unknown stream {s:?}"));
        let mut compiled: Vec<Option<Vec<Check>>> =
            STREAMS.iter().map(|_| Some(Vec::new())).collect();
        for (stream, spec) in rules {
            let i = index(stream)?;
            let check = Check::new(i, spec);
            match (&mut compiled[i as usize], check) {
                (Some(checks), Some(check)) => checks.push(check),
                (slot, _) => *slot = None,
            }
        }
        let mut topics = HashMap::new();
        for (topic, stream) in topic_streams {
            topics.insert(topic.clone(), index(stream)?);
        }
        let mut cols = vec![Vec::new(); STREAMS.len()];
        for (stream, names) in columns {
            for name in names {
                Column::new(stream, name)
                    .ok_or_else(|| format!("no column {name:?} on stream {stream:?}"))?;
            }
            cols[index(stream)? as usize] = names.clone();
        }
        Ok(Decoder {
            rules: compiled,
            topic_streams: topics,
            columns: cols,
            limits,
        })
    }

    /// Streams whose records are all deferred (a rule of theirs is not known here).
    pub fn deferred_streams(&self) -> Vec<&'static str> {
        STREAMS
            .iter()
            .zip(&self.rules)
            .filter(|(_, r)| r.is_none())
            .map(|(s, _)| *s)
            .collect()
    }

    /// The verdict of one record: `(schema index, event time in ms, event)` when it is clean.
    pub fn decide<'a>(&self, env: &Envelope<'a>, now_ms: i64) -> Option<(usize, i64, Event<'a>)> {
        if !self
            .limits
            .fits(env.topic, env.partition, env.offset, env.record_ts)
        {
            return None;
        }
        // as for a line (envelope.rs): one UTF-8 check of the whole value, not one per string
        let event: Event<'a> = serde_json::from_str(std::str::from_utf8(env.value).ok()?).ok()?;
        let schema = event.complete()?;
        let stream = stream_index(SCHEMAS[schema].1)?;
        let rules = self.rules[stream as usize].as_ref()?;
        let ts = ts_millis(event.ts.as_deref()?)?;
        let ctx = Context {
            key: env.key,
            topic_stream: self.topic_streams.get(env.topic).copied(),
            record_ts: env.record_ts,
            now_ms,
        };
        rules
            .iter()
            .all(|r| r.passes(&event, schema, stream, ts, &ctx))
            .then_some((schema, ts, event))
    }

    fn batch(&self, now_ms: i64) -> Batch {
        let columns = STREAMS
            .iter()
            .zip(&self.columns)
            .map(|(s, names)| {
                names
                    .iter()
                    .map(|n| Column::new(s, n).expect("checked in new"))
                    .collect()
            })
            .collect();
        Batch {
            verdicts: Vec::new(),
            rows: vec![Vec::new(); STREAMS.len()],
            columns,
            now_ms,
        }
    }

    /// Decides every record of a batch and fills the clean ones' columns.
    pub fn decode<'v>(
        &self,
        records: impl Iterator<Item = Envelope<'v>>,
        now_ms: i64,
    ) -> Result<Decoded, String> {
        let mut batch = self.batch(now_ms);
        for (i, env) in records.enumerate() {
            batch.push(i, self.decide(&env, now_ms), &env)?;
        }
        Ok(batch.finish())
    }

    /// The same for a buffer of a topic file's whole lines: each line that is not blank, in order
    /// (the bounds [`line_bounds`] gives), is one record.
    pub fn decode_buffer(
        &self,
        buffer: &[u8],
        bounds: &[(usize, usize)],
        now_ms: i64,
    ) -> Result<Decoded, String> {
        let mut batch = self.batch(now_ms);
        for column in batch.columns.iter_mut().flatten() {
            column.reserve(bounds.len(), buffer.len());
        }
        self.fill_lines(batch, bounds.iter().map(|(s, e)| &buffer[*s..*e]))
    }

    /// The same for the lines of a topic file (SPEC §2 file form); a line whose envelope this does
    /// not read is deferred.
    pub fn decode_lines<'v>(
        &self,
        lines: impl Iterator<Item = &'v [u8]>,
        now_ms: i64,
    ) -> Result<Decoded, String> {
        self.fill_lines(self.batch(now_ms), lines)
    }

    fn fill_lines<'v>(
        &self,
        mut batch: Batch,
        lines: impl Iterator<Item = &'v [u8]>,
    ) -> Result<Decoded, String> {
        let now_ms = batch.now_ms;
        for (i, line) in lines.enumerate() {
            let Some(rec) = self.limits.read(line) else {
                batch.verdicts.push(DEFER);
                continue;
            };
            let env = Envelope {
                key: rec.key.as_deref(),
                topic: &rec.topic,
                partition: rec.partition,
                offset: rec.offset,
                record_ts: rec.timestamp_ms,
                value: &rec.value,
            };
            batch.push(i, self.decide(&env, now_ms), &env)?;
        }
        Ok(batch.finish())
    }
}
