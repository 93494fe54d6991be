//! The file form of a record (scout_contract/records.py): one JSON line with the record's
//! coordinates and its value. A line this does not read exactly as msgspec would (a field out
//! of range, `key_b64`/`value_b64`, a value string that is not valid Unicode) is deferred: the
//! Python source makes the record, or the envelope error, of it.

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::value::RawValue;

/// The largest values an envelope's columns hold (given by Python: `scout_contract.records`).
#[derive(Clone, Copy)]
pub struct Limits {
    pub partition_max: i64,
    pub offset_max: i64,
    pub timestamp_ms_max: i64,
    pub topic_max_length: usize,
}

#[derive(Deserialize)]
struct Line<'a> {
    #[serde(borrow)]
    topic: Cow<'a, str>,
    partition: i64,
    offset: i64,
    timestamp_ms: i64,
    #[serde(borrow, default)]
    key: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    key_b64: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    value: Option<&'a RawValue>,
    #[serde(borrow, default)]
    value_b64: Option<Cow<'a, str>>,
}

/// One record read from a line.
pub struct Record<'a> {
    pub topic: Cow<'a, str>,
    pub partition: i64,
    pub offset: i64,
    pub timestamp_ms: i64,
    pub key: Option<Cow<'a, str>>,
    pub value: Cow<'a, [u8]>,
}

impl Limits {
    /// Whether a record's coordinates fit their columns (`dataflows.bronze.validate.envelope_problem`).
    pub fn fits(&self, topic: &str, partition: i64, offset: i64, timestamp_ms: i64) -> bool {
        (0..=self.partition_max).contains(&partition)
            && (0..=self.offset_max).contains(&offset)
            && (0..=self.timestamp_ms_max).contains(&timestamp_ms)
            && !topic.is_empty()
    }

    /// The record of a file line, or `None` when the Python source must read it.
    pub fn read<'a>(&self, line: &'a [u8]) -> Option<Record<'a>> {
        // UTF-8 checked once for the whole line: serde_json then reads strings without checking
        // each one again (a line that is not UTF-8 is deferred either way)
        let l: Line<'a> = serde_json::from_str(std::str::from_utf8(line).ok()?).ok()?;
        if l.key_b64.is_some()
            || l.value_b64.is_some()
            || l.topic.chars().count() > self.topic_max_length
        {
            return None;
        }
        if !self.fits(&l.topic, l.partition, l.offset, l.timestamp_ms) {
            return None;
        }
        let value: Cow<'a, [u8]> = match l.value {
            None => Cow::Borrowed(b"null"),
            Some(raw) if raw.get().starts_with('"') => {
                let text: String = serde_json::from_str(raw.get()).ok()?;
                Cow::Owned(text.into_bytes())
            }
            Some(raw) => Cow::Borrowed(raw.get().as_bytes()),
        };
        Some(Record {
            topic: l.topic,
            partition: l.partition,
            offset: l.offset,
            timestamp_ms: l.timestamp_ms,
            key: l.key,
            value,
        })
    }
}
