//! Event clocks of many keys over whole batches (issue #21, the columnar stages): lateness by a
//! running maximum in arrival order, and duplicates down to the watermark, per key and stream
//! group — the sequential part of `dataflows/silver/event_clock.py`'s `DeviceClock.process`,
//! as one loop over a batch's columns instead of a Python object per event.
//!
//! Per key (a device, or `store/<id>`) and stream group (`join`, `heartbeat`, `feedback`):
//!
//! * watermark = newest on-time event time of the group − out-of-orderness;
//! * an event older than the watermark is [`LATE`] (the watermark it missed is reported);
//! * an event whose id the group saw first at a time no older than the watermark is a
//!   [`DUPLICATE`];
//! * any other event is [`ON_TIME`]: its id is remembered and it may move the group's newest time.
//!
//! A group forgets its ids behind its watermark at the end of a batch, once it holds
//! [`PRUNE_AT`] or more (as the Python clock does: the state a snapshot holds is the same);
//! verdicts never depend on it.

use std::collections::HashMap;

use crate::keyed::Keyed;

/// The verdicts of [`Clocks::process`].
pub const ON_TIME: u8 = 0;
pub const LATE: u8 = 1;
pub const DUPLICATE: u8 = 2;
/// A group's ids are pruned at the end of a batch once there are this many.
pub const PRUNE_AT: usize = 64;
/// The watermark reported for an event of a group that has seen none before it.
pub const NO_WATERMARK: i64 = i64::MIN;

/// One stream group of one key: its newest on-time event time and the ids it still remembers.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GroupClock {
    pub newest: Option<i64>,
    /// event id → the event time it was first accepted at
    pub seen: HashMap<String, i64>,
}

impl GroupClock {
    fn watermark(&self, ooo: i64) -> Option<i64> {
        self.newest.map(|n| n.saturating_sub(ooo))
    }

    fn prune(&mut self, ooo: i64) {
        if let Some(low) = self.watermark(ooo) {
            if self.seen.len() >= PRUNE_AT {
                self.seen.retain(|_, ts| *ts >= low);
            }
        }
    }
}

/// One event as [`Clocks::process`] reads it: its key's index in the batch's key list, its
/// stream group's index, its event time (ms) and its id.
#[derive(Clone, Copy, Debug)]
pub struct Event<'a> {
    pub key: usize,
    pub group: usize,
    pub ts: i64,
    pub event_id: &'a str,
}

/// The event clocks of every key seen so far.
#[derive(Clone, Debug)]
pub struct Clocks {
    out_of_orderness_ms: i64,
    n_groups: usize,
    keys: Keyed<Vec<GroupClock>>,
}

impl Clocks {
    pub fn new(out_of_orderness_ms: i64, n_groups: usize) -> Result<Self, String> {
        if out_of_orderness_ms < 0 {
            return Err(format!(
                "out_of_orderness_ms must be >= 0, not {out_of_orderness_ms}"
            ));
        }
        Ok(Clocks {
            out_of_orderness_ms,
            n_groups,
            keys: Keyed::new(),
        })
    }

    fn slot(&mut self, key: &str) -> usize {
        let n = self.n_groups;
        self.keys.slot(key, || vec![GroupClock::default(); n])
    }

    /// Decide a batch's events in arrival order: a verdict per event and the watermark it met
    /// ([`NO_WATERMARK`] when its group had none). `keys`: the batch's key names, which the
    /// events index. An event naming a key or group that does not exist is an error, and
    /// then nothing of the batch has been applied.
    pub fn process<'a>(
        &mut self,
        keys: &[&str],
        events: &[Event<'a>],
    ) -> Result<(Vec<u8>, Vec<i64>), String> {
        if let Some(e) = events
            .iter()
            .find(|e| e.key >= keys.len() || e.group >= self.n_groups)
        {
            return Err(format!(
                "an event names key {} of {} or group {} of {}",
                e.key,
                keys.len(),
                e.group,
                self.n_groups
            ));
        }
        let slots: Vec<usize> = keys.iter().map(|k| self.slot(k)).collect();
        let ooo = self.out_of_orderness_ms;
        let mut verdicts = Vec::with_capacity(events.len());
        let mut watermarks = Vec::with_capacity(events.len());
        let mut touched = vec![false; slots.len()];
        for e in events {
            touched[e.key] = true;
            let clock = &mut self.keys.entries[slots[e.key]].1[e.group];
            let watermark = clock.watermark(ooo);
            watermarks.push(watermark.unwrap_or(NO_WATERMARK));
            let low = match watermark {
                Some(w) if e.ts < w => {
                    verdicts.push(LATE);
                    continue;
                }
                Some(w) => w,
                None => i64::MIN,
            };
            if let Some(first) = clock.seen.get_mut(e.event_id) {
                if *first >= low {
                    verdicts.push(DUPLICATE);
                    continue;
                }
                *first = e.ts;
            } else {
                clock.seen.insert(e.event_id.to_owned(), e.ts);
            }
            if clock.newest.is_none_or(|n| e.ts > n) {
                clock.newest = Some(e.ts);
            }
            verdicts.push(ON_TIME);
        }
        for (i, slot) in slots.iter().enumerate() {
            if touched[i] {
                for clock in self.keys.entries[*slot].1.iter_mut() {
                    clock.prune(ooo);
                }
            }
        }
        Ok((verdicts, watermarks))
    }

    /// A group's watermark (`None`: it has seen no event, or the key none at all).
    pub fn watermark(&self, key: &str, group: usize) -> Option<i64> {
        let slot = self.keys.find(key)?;
        self.keys.entries[slot]
            .1
            .get(group)?
            .watermark(self.out_of_orderness_ms)
    }

    /// Every key's groups, as a copy.
    pub fn snapshot(&self) -> Vec<(String, Vec<GroupClock>)> {
        self.keys.entries.clone()
    }

    /// Take a key's groups (replacing what the key had).
    pub fn restore(&mut self, key: &str, groups: Vec<GroupClock>) -> Result<(), String> {
        if groups.len() != self.n_groups {
            return Err(format!(
                "{} groups for key {key:?}, not {}",
                groups.len(),
                self.n_groups
            ));
        }
        let slot = self.slot(key);
        self.keys.entries[slot].1 = groups;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(key: usize, ts: i64, id: &str) -> Event<'_> {
        Event {
            key,
            group: 0,
            ts,
            event_id: id,
        }
    }

    #[test]
    fn late_duplicate_and_forgotten_ids() {
        let mut c = Clocks::new(10, 1).unwrap();
        let (v, w) = c
            .process(
                &["a", "b"],
                &[
                    ev(0, 100, "x"),
                    ev(0, 89, "y"),
                    ev(0, 95, "x"),
                    ev(1, 0, "x"),
                    ev(0, 200, "z"),
                    ev(0, 300, "x"),
                ],
            )
            .unwrap();
        assert_eq!(v, vec![ON_TIME, LATE, DUPLICATE, ON_TIME, ON_TIME, ON_TIME]);
        assert_eq!(w, vec![NO_WATERMARK, 90, 90, NO_WATERMARK, 90, 190]);
        assert_eq!(c.watermark("a", 0), Some(290));
        assert_eq!(c.watermark("b", 0), Some(-10));
        assert_eq!(c.watermark("c", 0), None);
    }

    #[test]
    fn a_bad_index_applies_nothing() {
        let mut c = Clocks::new(10, 1).unwrap();
        assert!(c.process(&["a"], &[ev(0, 1, "x"), ev(1, 2, "y")]).is_err());
        assert!(c.snapshot().is_empty());
        assert!(Clocks::new(-1, 1).is_err());
    }
}
