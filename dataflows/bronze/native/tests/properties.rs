//! Property tests of the decoder alone, with a fixed budget and seed (run by `make test`:
//! `cargo test --no-default-features`). The differential test against the Python validator is
//! tests/dataflows/bronze/test_columnar.py; here: no input panics or errors a batch, a clean
//! record's columns are complete, and timestamps agree with a day-by-day count.

use std::collections::HashMap;

mod common;

use common::config;
use proptest::prelude::*;
use scout_decode::decode::{line_bounds, Decoder, Envelope, DEFER};
use scout_decode::envelope::Limits;
use scout_decode::event::ts_millis;
use scout_decode::rules::Spec;

const VALID: &[&str] = &[
    r#"{"schema":"scout.stt/1","event_id":"e","device_id":"d","store_id":"s","ts":"2025-05-19T08:00:00.250Z","duration_ms":10,"transcript":"po","confidence":0.5,"lang":"fil","engine":"vosk","model_version":"m","words":[{"w":"po","start_ms":0,"end_ms":9,"conf":0.5}]}"#,
    r#"{"schema":"scout.visual/1","event_id":"e","device_id":"d","store_id":"s","ts":"2025-05-19T08:00:00+08:00","frame_id":1,"width":640,"height":480,"model_version":"m","detections":[{"label":"brand:x","confidence":0.9,"bbox":[0.1,0.2,0.3,0.4]}]}"#,
    r#"{"schema":"scout.heartbeat/1","event_id":"e","device_id":"d","store_id":"s","ts":"2025-05-19T08:00:00Z","uptime_s":1,"cpu_pct":5,"mem_pct":5,"cpu_temp_c":null,"disk_free_mb":1,"outbox_depth":0,"models":{"a":"1"},"sw_version":"1","interval_s":60}"#,
    r#"{"schema":"scout.feedback/1","event_id":"e","device_id":"d","store_id":"s","ts":"2025-05-19T08:00:00Z","insight_id":"i","advisor_id":"a","insight_type":"t","action":"snoozed"}"#,
];

fn decoder() -> Decoder {
    let spec = |check: &'static str, field: Option<&'static str>, lo: f64, hi: f64| Spec {
        check,
        field,
        lo,
        hi,
        len_lo: 0,
        len_hi: 4,
        values: vec![],
        ms: 3_600_000,
    };
    let rules = vec![
        (
            "stt".to_string(),
            spec("range", Some("words[].conf"), 0.0, 1.0),
        ),
        (
            "visual".to_string(),
            spec("range", Some("detections[].bbox[]"), 0.0, 1.0),
        ),
        (
            "visual".to_string(),
            spec("list_length", Some("detections[].bbox"), 0.0, 0.0),
        ),
        (
            "visual".to_string(),
            spec("label_known", Some("detections[].label"), 0.0, 0.0),
        ),
        ("heartbeat".to_string(), spec("ts_max_skew", None, 0.0, 0.0)),
    ];
    let columns: HashMap<String, Vec<String>> = [
        (
            "stt",
            vec![
                "event_id",
                "ts",
                "schema",
                "confidence",
                "n_words_reported",
                "audio_url",
            ],
        ),
        ("visual", vec!["event_id", "labels", "width"]),
        ("heartbeat", vec!["cpu_temp_c", "models"]),
        ("feedback", vec!["action", "comment"]),
    ]
    .into_iter()
    .map(|(s, c)| (s.to_string(), c.into_iter().map(String::from).collect()))
    .collect();
    let limits = Limits {
        partition_max: (1 << 31) - 1,
        offset_max: i64::MAX,
        timestamp_ms_max: 10_413_791_999_999,
        topic_max_length: 249,
    };
    Decoder::new(&rules, &HashMap::new(), &columns, limits).expect("known rules and columns")
}

fn envelope(value: &[u8]) -> Envelope<'_> {
    Envelope {
        key: Some("d"),
        topic: "t",
        partition: 0,
        offset: 0,
        record_ts: 1_747_641_600_000,
        value,
    }
}

/// A valid payload with bytes replaced, inserted or cut.
fn mutated() -> impl Strategy<Value = Vec<u8>> {
    (
        0..VALID.len(),
        proptest::collection::vec((any::<usize>(), any::<u8>(), 0u8..3), 0..6),
    )
        .prop_map(|(i, edits)| {
            let mut v = VALID[i].as_bytes().to_vec();
            for (at, byte, how) in edits {
                let at = at % (v.len() + 1);
                match how {
                    0 if at < v.len() => v[at] = byte,
                    1 => v.insert(at, byte),
                    _ => v.truncate(at),
                }
            }
            v
        })
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn no_payload_breaks_a_batch(values in proptest::collection::vec(prop_oneof![mutated(), any::<Vec<u8>>()], 1..8)) {
        let d = decoder();
        let out = d.decode(values.iter().map(|v| envelope(v)), 1_747_700_000_000).expect("a batch");
        prop_assert_eq!(out.verdicts.len(), values.len());
        let clean = out.verdicts.iter().filter(|v| **v != DEFER).count();
        prop_assert_eq!(clean, out.streams.iter().map(|(rows, _)| rows.len()).sum::<usize>());
        for (rows, cols) in &out.streams {
            for col in cols {
                // every column has a value (or a null) per clean row: offsets or fixed-width values
                let first = col.buffers.iter().flatten().next().map_or(0, |b| b.len());
                prop_assert!(rows.is_empty() || first > 0);
            }
        }
    }

    #[test]
    fn no_line_breaks_a_batch(values in proptest::collection::vec(prop_oneof![mutated(), any::<Vec<u8>>()], 1..8), cut in any::<usize>()) {
        // each value as the file form's line, some of them cut or garbled
        let lines: Vec<Vec<u8>> = values.iter().enumerate().map(|(i, v)| {
            let mut line = format!(r#"{{"topic":"t","partition":0,"offset":{i},"timestamp_ms":1747641600000,"key":"d","value":"#).into_bytes();
            line.extend_from_slice(v);
            line.push(b'}');
            if i == cut % values.len() { line.truncate(cut % (line.len() + 1)); }
            line
        }).collect();
        let d = decoder();
        let out = d.decode_lines(lines.iter().map(|l| l.as_slice()), 1_747_700_000_000).expect("a batch");
        prop_assert_eq!(out.verdicts.len(), lines.len());
        let by_values = d.decode(values.iter().map(|v| envelope(v)), 1_747_700_000_000).expect("a batch");
        for (i, verdict) in out.verdicts.iter().enumerate() {
            if *verdict != DEFER {  // a line read whole decides as its value does
                prop_assert_eq!(*verdict, by_values.verdicts[i]);
            }
        }
    }

    #[test]
    fn a_buffer_of_lines_decides_as_its_lines(lines in proptest::collection::vec(prop_oneof![
        mutated().prop_map(|v| {
            let mut line = br#"{"topic":"t","partition":0,"offset":1,"timestamp_ms":1747641600000,"key":"d","value":"#.to_vec();
            line.extend_from_slice(&v);
            line.push(b'}');
            line
        }),
        any::<Vec<u8>>(),
        proptest::sample::select(vec![b"".to_vec(), b" \t\r".to_vec(), b"\x0b\x0c".to_vec()]),
    ], 1..8), last_newline in any::<bool>()) {
        // a buffer of those lines (newlines in them split them further): blank lines are left out,
        // every other line decides as it does alone
        let mut buffer = lines.join(&b'\n');
        if last_newline { buffer.push(b'\n'); }
        let d = decoder();
        let bounds = line_bounds(&buffer);
        let pieces: Vec<&[u8]> = buffer.split_inclusive(|b| *b == b'\n').collect();
        // Python's bytes.strip() whitespace: b" \t\n\r\x0b\x0c"
        let kept: Vec<&[u8]> = pieces.iter().copied().filter(|p| !p.iter().all(|b| b" \t\n\r\x0b\x0c".contains(b))).collect();
        prop_assert_eq!(bounds.iter().map(|(s, e)| &buffer[*s..*e]).collect::<Vec<_>>(), kept.clone());
        let out = d.decode_buffer(&buffer, &bounds, 1_747_700_000_000).expect("a batch");
        let alone = d.decode_lines(kept.iter().copied(), 1_747_700_000_000).expect("a batch");
        prop_assert_eq!(out.verdicts, alone.verdicts);
    }

    #[test]
    fn timestamps_count_days_like_a_calendar(days in 0i64..2_900_000, secs in 0i64..86_400, micros in 0i64..1_000_000, off in -1439i64..1440) {
        // the civil date of `days` after 1970-01-01, counted month by month
        let (mut y, mut m, mut left) = (1970i64, 1i64, days);
        loop {
            let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
            let len = [31, if leap { 29 } else { 28 }, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][(m - 1) as usize];
            if left < len { break; }
            left -= len;
            m += 1;
            if m == 13 { m = 1; y += 1; }
        }
        prop_assume!(y <= 9998);
        let sign = if off < 0 { '-' } else { '+' };
        let zone = format!("{}{:02}:{:02}", sign, off.abs() / 60, off.abs() % 60);
        let zone = if zone == "-00:00" { "Z".to_string() } else { zone };
        let s = format!("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}{}", y, m, left + 1, secs / 3600, secs / 60 % 60, secs % 60, micros, zone);
        let local_us = (days * 86_400 + secs) * 1_000_000 + micros;
        let offset_us = if zone == "Z" { 0 } else { off * 60 * 1_000_000 };
        prop_assert_eq!(ts_millis(&s), Some((local_us - offset_us).div_euclid(1000)), "{}", s);
    }
}
