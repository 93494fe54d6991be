//! Session windows of many keys (issue #21, the columnar stages): which members — utterances
//! and people frames, named by a handle — form a session, and when it closes; the loop of
//! `dataflows/silver/sessions.py`'s `SessionWindows`, per key, over a batch's columns. What a
//! member *is* (its transcript, people, tags) stays in the caller's Arrow columns.
//!
//! Each member covers `[start, end]`. A member joins every open session it touches (the gap
//! between them at most `gap_ms`), merging them into the first (in the order they were opened);
//! it opens a session when it touches none. A session closes once the key's watermark has passed
//! `end + gap_ms`. Sessions, their order and their members' order are those `SessionWindows`
//! gives, so a snapshot holds the same data.

use crate::keyed::Keyed;

/// An open session: its span and its members' handles, in the order they joined.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Session {
    pub start: i64,
    pub end: i64,
    pub members: Vec<u64>,
}

/// One member as [`Sessions::add`] reads it: its key's index in the batch's key list, its span
/// and its handle.
#[derive(Clone, Copy, Debug)]
pub struct Member {
    pub key: usize,
    pub start: i64,
    pub end: i64,
    pub handle: u64,
}

/// A closed session, with its key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Closed {
    pub key: String,
    pub session: Session,
}

/// The open sessions of every key.
#[derive(Clone, Debug)]
pub struct Sessions {
    gap_ms: i64,
    keys: Keyed<Vec<Session>>,
}

fn touches(s: &Session, start: i64, end: i64, gap: i64) -> bool {
    s.start.saturating_sub(gap) <= end && start <= s.end.saturating_add(gap)
}

fn add_to(open: &mut Vec<Session>, m: &Member, gap: i64) {
    let mut touching = open
        .iter()
        .enumerate()
        .filter(|(_, s)| touches(s, m.start, m.end, gap));
    let Some((target, _)) = touching.next() else {
        open.push(Session {
            start: m.start,
            end: m.end,
            members: vec![m.handle],
        });
        return;
    };
    let others: Vec<usize> = touching.map(|(i, _)| i).collect();
    let t = &mut open[target];
    t.members.push(m.handle);
    t.start = t.start.min(m.start);
    t.end = t.end.max(m.end);
    for &i in &others {
        let (start, end) = (open[i].start, open[i].end);
        let members = std::mem::take(&mut open[i].members);
        let t = &mut open[target];
        t.members.extend(members);
        t.start = t.start.min(start);
        t.end = t.end.max(end);
    }
    for &i in others.iter().rev() {
        open.remove(i);
    }
}

impl Sessions {
    pub fn new(gap_ms: i64) -> Result<Self, String> {
        if gap_ms < 0 {
            return Err(format!("gap_ms must be >= 0, not {gap_ms}"));
        }
        Ok(Sessions {
            gap_ms,
            keys: Keyed::new(),
        })
    }

    /// Add a batch's members in arrival order. A member naming a key beyond `keys` is an
    /// error, and then nothing of the batch has been applied.
    pub fn add(&mut self, keys: &[&str], members: &[Member]) -> Result<(), String> {
        if let Some(m) = members.iter().find(|m| m.key >= keys.len()) {
            return Err(format!("a member names key {} of {}", m.key, keys.len()));
        }
        let slots: Vec<usize> = keys.iter().map(|k| self.keys.slot(k, Vec::new)).collect();
        for m in members {
            add_to(&mut self.keys.entries[slots[m.key]].1, m, self.gap_ms);
        }
        Ok(())
    }

    /// Remove and return, per key in `keys` (by start within a key), every session its
    /// watermark has closed.
    pub fn close_until(
        &mut self,
        keys: &[&str],
        watermarks: &[i64],
    ) -> Result<Vec<Closed>, String> {
        if keys.len() != watermarks.len() {
            return Err(format!(
                "{} keys and {} watermarks",
                keys.len(),
                watermarks.len()
            ));
        }
        let mut out = Vec::new();
        for (key, wm) in keys.iter().zip(watermarks) {
            let Some(slot) = self.keys.find(key) else {
                continue;
            };
            let limit = wm.saturating_sub(self.gap_ms);
            let open = std::mem::take(&mut self.keys.entries[slot].1);
            let (mut closed, still): (Vec<Session>, Vec<Session>) =
                open.into_iter().partition(|s| s.end < limit);
            self.keys.entries[slot].1 = still;
            closed.sort_by_key(|s| s.start); // stable, as Python's sort
            out.extend(closed.into_iter().map(|session| Closed {
                key: (*key).to_owned(),
                session,
            }));
        }
        Ok(out)
    }

    /// Close every open session (the end of input), per key in the order keys were first seen.
    pub fn flush(&mut self) -> Vec<Closed> {
        let mut out = Vec::new();
        for (key, open) in self.keys.entries.iter_mut() {
            let mut closed = std::mem::take(open);
            closed.sort_by_key(|s| s.start);
            out.extend(closed.into_iter().map(|session| Closed {
                key: key.clone(),
                session,
            }));
        }
        out
    }

    /// Every key's open sessions, as a copy (keys without any left out).
    pub fn snapshot(&self) -> Vec<(String, Vec<Session>)> {
        self.keys
            .entries
            .iter()
            .filter(|(_, open)| !open.is_empty())
            .cloned()
            .collect()
    }

    /// Take a key's open sessions (replacing what the key had).
    pub fn restore(&mut self, key: &str, open: Vec<Session>) {
        let slot = self.keys.slot(key, Vec::new);
        self.keys.entries[slot].1 = open;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(start: i64, end: i64, handle: u64) -> Member {
        Member {
            key: 0,
            start,
            end,
            handle,
        }
    }

    #[test]
    fn the_doctest_of_session_windows() {
        // dataflows/silver/sessions.py's example: gap 30 s, frames at 0, 20 s, 100 s, 45 s
        let mut s = Sessions::new(30_000).unwrap();
        let times = [0, 20_000, 100_000, 45_000];
        let members: Vec<Member> = times
            .iter()
            .enumerate()
            .map(|(i, t)| m(*t, *t, i as u64))
            .collect();
        s.add(&["d"], &members).unwrap();
        let closed = s.close_until(&["d"], &[200_000]).unwrap();
        let got: Vec<(i64, i64, Vec<u64>)> = closed
            .into_iter()
            .map(|c| (c.session.start, c.session.end, c.session.members))
            .collect();
        assert_eq!(
            got,
            vec![(0, 45_000, vec![0, 1, 3]), (100_000, 100_000, vec![2])]
        );
    }

    #[test]
    fn a_bridging_member_merges_sessions_into_the_first_opened() {
        let mut s = Sessions::new(10).unwrap();
        s.add(
            &["d"],
            &[m(100, 100, 1), m(0, 0, 2), m(50, 50, 3), m(5, 45, 4)],
        )
        .unwrap();
        // 4 touches [0,0] (opened second) and [50,50] (third): merged into the second
        assert_eq!(
            s.snapshot()[0]
                .1
                .iter()
                .map(|x| x.members.clone())
                .collect::<Vec<_>>(),
            vec![vec![1], vec![2, 4, 3]]
        );
        assert!(s
            .add(
                &["d"],
                &[Member {
                    key: 1,
                    ..m(1, 1, 9)
                }]
            )
            .is_err());
    }
}
