//! Property tests of the session windows alone, with a fixed budget and seed (run by `make test`).
//! The differential test against the Python `SessionWindows` is
//! tests/dataflows/silver/test_columnar_sessions.py; here: every member added is in exactly one
//! session, open or closed; open sessions never touch each other; a closed session could take
//! no more on-time members; a restored snapshot goes on as the sessions would.

mod common;

use common::config;
use proptest::prelude::*;
use scout_decode::sessions::{Member, Sessions};

const KEYS: &[&str] = &["a", "b"];
const GAP: i64 = 30;

/// (key, start, length) of members in arrival order, and watermarks (per key) after some of them.
fn members() -> impl Strategy<Value = Vec<(usize, i64, i64, Option<i64>)>> {
    proptest::collection::vec(
        (
            0..KEYS.len(),
            0i64..400,
            0i64..40,
            proptest::option::of(0i64..500),
        ),
        0..80,
    )
}

fn run(s: &mut Sessions, raw: &[(usize, i64, i64, Option<i64>)], from: u64) -> Vec<Vec<u64>> {
    let mut closed = vec![];
    for (i, &(key, start, len, wm)) in raw.iter().enumerate() {
        let m = Member {
            key,
            start,
            end: start + len,
            handle: from + i as u64,
        };
        s.add(KEYS, &[m]).unwrap();
        if let Some(wm) = wm {
            for c in s.close_until(&[KEYS[key]], &[wm]).unwrap() {
                assert!(
                    c.session.end < wm - GAP,
                    "closed before the watermark passed end + gap"
                );
                closed.push(c.session.members);
            }
        }
    }
    closed
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn every_member_is_in_one_session(raw in members()) {
        let mut s = Sessions::new(GAP).unwrap();
        let mut all: Vec<u64> = run(&mut s, &raw, 0).into_iter().flatten().collect();
        for (_, open) in s.snapshot() {
            for (i, a) in open.iter().enumerate() {
                for b in &open[i + 1..] {
                    prop_assert!(a.end + GAP < b.start || b.end + GAP < a.start, "open sessions that touch");
                }
            }
            all.extend(open.into_iter().flat_map(|x| x.members));
        }
        all.sort_unstable();
        prop_assert_eq!(all, (0..raw.len() as u64).collect::<Vec<_>>());
    }

    #[test]
    fn a_restored_snapshot_goes_on_as_the_sessions_would(raw in members(), at in 0usize..80) {
        let at = at.min(raw.len());
        let mut going = Sessions::new(GAP).unwrap();
        run(&mut going, &raw[..at], 0);
        let mut resumed = Sessions::new(GAP).unwrap();
        for (key, open) in going.snapshot() {
            resumed.restore(&key, open);
        }
        prop_assert_eq!(run(&mut going, &raw[at..], at as u64), run(&mut resumed, &raw[at..], at as u64));
        // flush's order across keys is the order they came (a snapshot leaves out keys with none open)
        let by_key = |mut c: Vec<scout_decode::sessions::Closed>| {
            c.sort_by(|x, y| x.key.cmp(&y.key));
            c
        };
        prop_assert_eq!(by_key(going.flush()), by_key(resumed.flush()));
    }
}
