//! The event contract (scout_contract/events.py) as one borrowed, flat serde struct.
//!
//! Every field of every schema is an `Option`: which ones a schema requires is checked after
//! the parse ([`Event::complete`]). A field of another schema is type-checked too, where
//! msgspec would ignore it: the record is then deferred to the Python validator, never
//! accepted wrongly. Strings borrow from the payload unless they hold escapes.

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

use serde::de::{Error, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};

/// A string that borrows from the payload where it can.
#[derive(Deserialize)]
pub struct Str<'a>(#[serde(borrow)] pub Cow<'a, str>);

#[derive(Deserialize)]
pub struct Word<'a> {
    #[serde(borrow)]
    pub w: Cow<'a, str>,
    pub start_ms: i64,
    pub end_ms: i64,
    pub conf: f64,
}

#[derive(Deserialize)]
pub struct Detection<'a> {
    #[serde(borrow)]
    pub label: Cow<'a, str>,
    pub confidence: f64,
    pub bbox: Vec<f64>,
    #[serde(borrow, default)]
    pub zone: Option<Cow<'a, str>>,
    #[serde(default)]
    pub track_id: Option<i64>,
}

/// `dict[str, str]` in the order written; a key written twice is refused (Python keeps the last).
pub struct Models<'a>(pub Vec<(Cow<'a, str>, Cow<'a, str>)>);

impl<'de: 'a, 'a> Deserialize<'de> for Models<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
            type Value = Models<'a>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an object of strings")
            }
            fn visit_map<M: MapAccess<'de>>(self, mut m: M) -> Result<Self::Value, M::Error> {
                let mut out: Vec<(Cow<'a, str>, Cow<'a, str>)> = Vec::new();
                while let Some((k, v)) = m.next_entry::<Str<'a>, Str<'a>>()? {
                    if out.iter().any(|(seen, _)| *seen == k.0) {
                        return Err(M::Error::custom("a key written twice"));
                    }
                    out.push((k.0, v.0));
                }
                Ok(Models(out))
            }
        }
        d.deserialize_map(V(PhantomData))
    }
}

/// A field that must be present but may be null (`cpu_temp_c: float | None`, no default):
/// `None` when absent, `Some(None)` when null.
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

/// Every field of every input schema.
#[derive(Deserialize, Default)]
pub struct Event<'a> {
    #[serde(borrow)]
    pub schema: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub event_id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub device_id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub store_id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub ts: Option<Cow<'a, str>>,
    // stt/1, stt/2
    pub duration_ms: Option<i64>,
    #[serde(borrow)]
    pub transcript: Option<Cow<'a, str>>,
    pub confidence: Option<f64>,
    #[serde(borrow)]
    pub lang: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub engine: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub model_version: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub words: Option<Vec<Word<'a>>>,
    #[serde(borrow)]
    pub audio_url: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub speaker: Option<Cow<'a, str>>,
    // visual/1
    pub frame_id: Option<i64>,
    pub width: Option<i64>,
    pub height: Option<i64>,
    #[serde(borrow)]
    pub detections: Option<Vec<Detection<'a>>>,
    // heartbeat/1
    pub uptime_s: Option<f64>,
    pub cpu_pct: Option<f64>,
    pub mem_pct: Option<f64>,
    #[serde(default, deserialize_with = "present")]
    pub cpu_temp_c: Option<Option<f64>>,
    pub disk_free_mb: Option<f64>,
    pub outbox_depth: Option<i64>,
    #[serde(borrow)]
    pub models: Option<Models<'a>>,
    #[serde(borrow)]
    pub sw_version: Option<Cow<'a, str>>,
    pub interval_s: Option<f64>,
    #[serde(borrow)]
    pub status: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub problems: Option<Vec<Str<'a>>>,
    #[serde(borrow)]
    pub model_update: Option<Cow<'a, str>>,
    // feedback/1
    #[serde(borrow)]
    pub insight_id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub advisor_id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub insight_type: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub action: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub comment: Option<Cow<'a, str>>,
}

/// The input schemas: tag, stream, and the index of the stream in [`STREAMS`].
pub const SCHEMAS: [(&str, &str); 5] = [
    ("scout.stt/1", "stt"),
    ("scout.stt/2", "stt"),
    ("scout.visual/1", "visual"),
    ("scout.heartbeat/1", "heartbeat"),
    ("scout.feedback/1", "feedback"),
];
pub const STREAMS: [&str; 4] = ["stt", "visual", "heartbeat", "feedback"];
pub const STT: u8 = 0;
pub const VISUAL: u8 = 1;
pub const HEARTBEAT: u8 = 2;
pub const FEEDBACK: u8 = 3;
const FEEDBACK_ACTIONS: [&str; 3] = ["accepted", "dismissed", "snoozed"];

pub fn stream_index(name: &str) -> Option<u8> {
    STREAMS.iter().position(|s| *s == name).map(|i| i as u8)
}

impl<'a> Event<'a> {
    /// Index in [`SCHEMAS`] of the event's schema when every field that schema requires is
    /// present with its type; `None` otherwise.
    pub fn complete(&self) -> Option<usize> {
        let tag = self.schema.as_deref()?;
        let schema = SCHEMAS.iter().position(|(t, _)| *t == tag)?;
        let base = self.event_id.is_some() && self.device_id.is_some() && self.store_id.is_some();
        let ok = base
            && match SCHEMAS[schema].1 {
                "stt" => {
                    self.duration_ms.is_some()
                        && self.transcript.is_some()
                        && self.confidence.is_some()
                        && self.lang.is_some()
                        && self.engine.is_some()
                        && self.model_version.is_some()
                }
                "visual" => {
                    self.frame_id.is_some()
                        && self.width.is_some()
                        && self.height.is_some()
                        && self.model_version.is_some()
                        && self.detections.is_some()
                }
                "heartbeat" => {
                    self.uptime_s.is_some()
                        && self.cpu_pct.is_some()
                        && self.mem_pct.is_some()
                        && self.cpu_temp_c.is_some()
                        && self.disk_free_mb.is_some()
                        && self.outbox_depth.is_some()
                        && self.models.is_some()
                        && self.sw_version.is_some()
                        && self.interval_s.is_some()
                }
                _ => {
                    self.insight_id.is_some()
                        && self.advisor_id.is_some()
                        && self.insight_type.is_some()
                        && self
                            .action
                            .as_deref()
                            .is_some_and(|a| FEEDBACK_ACTIONS.contains(&a))
                }
            };
        ok.then_some(schema)
    }

    /// `audio_url` as the schema has it (stt/2 has none: msgspec ignores the field there).
    pub fn audio_url(&self, schema: usize) -> Option<&str> {
        if SCHEMAS[schema].0 == "scout.stt/1" {
            self.audio_url.as_deref()
        } else {
            None
        }
    }

    /// `speaker` as the schema has it (stt/2 only).
    pub fn speaker(&self, schema: usize) -> Option<&str> {
        if SCHEMAS[schema].0 == "scout.stt/2" {
            self.speaker.as_deref()
        } else {
            None
        }
    }
}

/// Milliseconds since the epoch of an RFC 3339 timestamp with a zone, floored as
/// `scout_contract.ts_millis` floors; `None` for any other form (the Python validator then
/// decides). Accepted: `YYYY-MM-DDTHH:MM:SS[.f{1,6}](Z|±HH:MM)`, years 1970 to 9998,
/// offsets other than `-00:00`.
pub fn ts_millis(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    let num = |i: usize, n: usize| -> Option<i64> {
        let mut v = 0i64;
        for &c in b.get(i..i + n)? {
            if !c.is_ascii_digit() {
                return None;
            }
            v = v * 10 + i64::from(c - b'0');
        }
        Some(v)
    };
    if b.len() < 20
        || b[4] != b'-'
        || b[7] != b'-'
        || b[10] != b'T'
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let (year, month, day) = (num(0, 4)?, num(5, 2)?, num(8, 2)?);
    let (hour, minute, second) = (num(11, 2)?, num(14, 2)?, num(17, 2)?);
    if !(1970..=9998).contains(&year)
        || !(1..=12).contains(&month)
        || hour > 23
        || minute > 59
        || second > 59
    {
        return None;
    }
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    let month_days = [
        31,
        if leap { 29 } else { 28 },
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ];
    if day < 1 || day > month_days[(month - 1) as usize] {
        return None;
    }
    let mut i = 19;
    let mut micros = 0i64;
    if b[i] == b'.' {
        let start = i + 1;
        let mut end = start;
        while end < b.len() && b[end].is_ascii_digit() {
            end += 1;
        }
        let digits = end - start;
        if digits == 0 || digits > 6 {
            return None;
        }
        micros = num(start, digits)? * 10i64.pow((6 - digits) as u32);
        i = end;
    }
    let offset_s = match &b[i..] {
        b"Z" => 0,
        [sign @ (b'+' | b'-'), _, _, b':', _, _] => {
            let (h, m) = (num(i + 1, 2)?, num(i + 4, 2)?);
            if h > 23 || m > 59 || (*sign == b'-' && h == 0 && m == 0) {
                return None;
            }
            let s = h * 3600 + m * 60;
            if *sign == b'-' {
                -s
            } else {
                s
            }
        }
        _ => return None,
    };
    // days from the civil date (Howard Hinnant's algorithm)
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = days * 86_400 + hour * 3600 + minute * 60 + second - offset_s;
    Some((secs * 1_000_000 + micros).div_euclid(1000))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps() {
        assert_eq!(ts_millis("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(
            ts_millis("2025-05-19T08:00:01.250+00:00"),
            Some(1_747_641_601_250)
        );
        assert_eq!(
            ts_millis("2025-05-19T10:00:01.2509+02:00"),
            Some(1_747_641_601_250)
        );
        assert_eq!(ts_millis("1970-01-01T00:00:00.0005+00:01"), Some(-60_000));
        assert_eq!(ts_millis("2024-02-29T00:00:00Z"), Some(1_709_164_800_000));
        assert_eq!(ts_millis("2025-02-29T00:00:00Z"), None);
        assert_eq!(ts_millis("2025-05-19T08:00:01.1234567Z"), None);
        assert_eq!(ts_millis("2025-05-19T08:00:01-00:00"), None);
        assert_eq!(ts_millis("2025-05-19T08:00:01"), None);
        assert_eq!(ts_millis("2025-05-19 08:00:01Z"), None);
    }
}
