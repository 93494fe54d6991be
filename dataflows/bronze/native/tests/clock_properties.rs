//! Property tests of the event clocks alone, with a fixed budget and seed (run by `make test`).
//! The differential test against the Python `DeviceClock` is
//! tests/dataflows/silver/test_columnar_clock.py; here: verdicts do not depend on how a stream
//! of events is cut into batches, a snapshot restored into new clocks goes on as the old ones
//! would, and an event naming a key or group that does not exist is an error, not a panic.

mod common;

use common::config;
use proptest::prelude::*;
use scout_decode::clock::{Clocks, Event, LATE, NO_WATERMARK};

const KEYS: &[&str] = &["a", "b", "store/s"];
const OOO: i64 = 10;
/// How many distinct ids the events draw from: enough for one group to hold more than the
/// clocks keep before pruning (`PRUNE_AT`), few enough to repeat.
const IDS: usize = 400;

fn ids() -> Vec<String> {
    (0..IDS).map(|i| format!("e{i}")).collect()
}

/// (key, group, time jitter, id): mostly one key's one group (so that it prunes), ids that
/// repeat; the n-th event's time is n + its jitter, so that time goes on and some events go back
/// past the bound.
fn events() -> impl Strategy<Value = Vec<(usize, usize, i64, usize)>> {
    let mostly_first = |n: usize| prop_oneof![3 => Just(0usize), 1 => 0..n];
    let event = (mostly_first(KEYS.len()), mostly_first(3), -25i64..5, 0..IDS);
    proptest::collection::vec(event, 0..300)
}

fn as_events<'a>(raw: &[(usize, usize, i64, usize)], ids: &'a [String]) -> Vec<Event<'a>> {
    raw.iter()
        .enumerate()
        .map(|(n, &(key, group, jitter, id))| Event {
            key,
            group,
            ts: n as i64 + jitter,
            event_id: &ids[id],
        })
        .collect()
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn verdicts_do_not_depend_on_the_batches(raw in events(), cuts in proptest::collection::vec(0usize..300, 0..4)) {
        let ids = ids();
        let all = as_events(&raw, &ids);
        let mut whole = Clocks::new(OOO, 3).unwrap();
        let (want, want_marks) = whole.process(KEYS, &all).unwrap();
        let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c.min(all.len())).collect();
        cuts.sort_unstable();
        let mut split = Clocks::new(OOO, 3).unwrap();
        let (mut got, mut got_marks, mut at) = (vec![], vec![], 0);
        for cut in cuts.into_iter().chain([all.len()]) {
            let (v, m) = split.process(KEYS, &all[at..cut]).unwrap();
            got.extend(v);
            got_marks.extend(m);
            at = cut;
        }
        prop_assert_eq!(&got, &want);
        prop_assert_eq!(&got_marks, &want_marks);
        for (e, (v, m)) in all.iter().zip(want.iter().zip(&want_marks)) {
            prop_assert_eq!(*v == LATE, *m != NO_WATERMARK && e.ts < *m);
        }
    }

    #[test]
    fn a_restored_snapshot_goes_on_as_the_clocks_would(raw in events(), at in 0usize..300) {
        let ids = ids();
        let all = as_events(&raw, &ids);
        let at = at.min(all.len());
        let mut going = Clocks::new(OOO, 3).unwrap();
        going.process(KEYS, &all[..at]).unwrap();
        let mut resumed = Clocks::new(OOO, 3).unwrap();
        for (key, groups) in going.snapshot() {
            resumed.restore(&key, groups).unwrap();
        }
        prop_assert_eq!(going.process(KEYS, &all[at..]).unwrap(), resumed.process(KEYS, &all[at..]).unwrap());
    }

    #[test]
    fn a_bad_index_is_an_error_not_a_panic(raw in proptest::collection::vec((0usize..5, 0usize..5, any::<i64>(), 0..IDS), 0..20)) {
        let mut clocks = Clocks::new(OOO, 3).unwrap();
        let bad = raw.iter().any(|&(k, g, _, _)| k >= KEYS.len() || g >= 3);
        let ids = ids();
        let result = clocks.process(KEYS, &as_events(&raw, &ids));
        prop_assert_eq!(result.is_err(), bad);
        if bad {
            prop_assert!(clocks.snapshot().is_empty());
        }
    }
}
