//! `scout_decode`: the compiled core of the columnar stages (issue #21).
//!
//! The decode path of bronze validation: its Python side is `dataflows/bronze/columnar.py`,
//! which hands a batch of record values here and gets back a verdict per record and Arrow
//! buffers of the clean records' bronze columns; the records deferred go through the Python
//! validator as before. The event clocks (`clock`): their Python side is
//! `dataflows/silver/columnar_clock.py`, which hands a batch's key, group, time and id columns
//! here and gets back a verdict (on time, late, duplicate) and a watermark per event.

pub mod clock;
pub mod columns;
pub mod decode;
pub mod envelope;
pub mod event;
pub mod keyed;
pub mod rules;
pub mod sessions;

#[cfg(feature = "python")]
mod python {
    use std::collections::HashMap;

    use pyo3::exceptions::PyValueError;
    use pyo3::prelude::*;
    use pyo3::types::{PyBytes, PyString};

    use crate::clock::{self, Event, GroupClock};
    use crate::decode::{self, Envelope};
    use crate::envelope::Limits;
    use crate::event::{SCHEMAS, STREAMS};
    use crate::rules::Spec;
    use crate::sessions;

    /// `(stream, check, field, lo, hi, len_lo, len_hi, values, ms)`: one rule of a stream.
    type RuleTuple = (
        String,
        String,
        Option<String>,
        f64,
        f64,
        i64,
        i64,
        Vec<String>,
        i64,
    );
    /// Per stream: the clean rows' indices (u32, little-endian) and each column's
    /// `(buffers, null count)`.
    type StreamOut<'py> = (
        Bound<'py, PyBytes>,
        Vec<(Vec<Option<Bound<'py, PyBytes>>>, usize)>,
    );
    /// A batch's `(verdicts, {stream: (rows, columns)})`.
    type Decided<'py> = (Bound<'py, PyBytes>, HashMap<&'static str, StreamOut<'py>>);

    #[pyclass(frozen, module = "scout_decode")]
    struct Decoder {
        inner: decode::Decoder,
    }

    /// Per stream: the clean rows and their columns, as Python bytes.
    fn streams_out<'py>(py: Python<'py>, out: decode::Decoded) -> Decided<'py> {
        let mut streams = HashMap::new();
        for (name, (rows, columns)) in STREAMS.iter().zip(out.streams) {
            let rows: Vec<u8> = rows.iter().flat_map(|r| r.to_le_bytes()).collect();
            let cols = columns
                .into_iter()
                .map(|c| {
                    let bufs = c
                        .buffers
                        .iter()
                        .map(|b| b.as_ref().map(|b| PyBytes::new(py, b)))
                        .collect();
                    (bufs, c.null_count)
                })
                .collect();
            streams.insert(*name, (PyBytes::new(py, &rows), cols));
        }
        (PyBytes::new(py, &out.verdicts), streams)
    }

    #[pymethods]
    impl Decoder {
        /// `limits`: `(partition max, offset max, record timestamp max, topic max length)`.
        #[new]
        fn new(
            rules: Vec<RuleTuple>,
            topic_streams: HashMap<String, String>,
            columns: HashMap<String, Vec<String>>,
            limits: (i64, i64, i64, usize),
        ) -> PyResult<Self> {
            let specs: Vec<(String, Spec)> = rules
                .iter()
                .map(
                    |(stream, check, field, lo, hi, len_lo, len_hi, values, ms)| {
                        let spec = Spec {
                            check,
                            field: field.as_deref(),
                            lo: *lo,
                            hi: *hi,
                            len_lo: *len_lo,
                            len_hi: *len_hi,
                            values: values.clone(),
                            ms: *ms,
                        };
                        (stream.clone(), spec)
                    },
                )
                .collect();
            let (partition_max, offset_max, timestamp_ms_max, topic_max_length) = limits;
            let limits = Limits {
                partition_max,
                offset_max,
                timestamp_ms_max,
                topic_max_length,
            };
            let inner = decode::Decoder::new(&specs, &topic_streams, &columns, limits)
                .map_err(PyValueError::new_err)?;
            Ok(Decoder { inner })
        }

        /// Streams whose records are all deferred: a rule of theirs is not compiled here.
        fn deferred_streams(&self) -> Vec<&'static str> {
            self.inner.deferred_streams()
        }

        /// Decide a batch of records: `(verdicts, {stream: (rows, columns)})`; a verdict is the
        /// stream's index in `STREAMS` for a clean record and 255 for one the Python validator decides.
        #[allow(clippy::too_many_arguments)]
        fn decode<'py>(
            &self,
            py: Python<'py>,
            values: Vec<Bound<'py, PyBytes>>,
            keys: Vec<Option<Bound<'py, PyString>>>,
            topics: Vec<Bound<'py, PyString>>,
            partitions: Vec<i64>,
            offsets: Vec<i64>,
            record_ts: Vec<i64>,
            now_ms: i64,
        ) -> PyResult<Decided<'py>> {
            let n = values.len();
            if [
                keys.len(),
                topics.len(),
                partitions.len(),
                offsets.len(),
                record_ts.len(),
            ]
            .iter()
            .any(|l| *l != n)
            {
                return Err(PyValueError::new_err("the record lists differ in length"));
            }
            let mut key_strs = Vec::with_capacity(n);
            for k in &keys {
                key_strs.push(match k {
                    Some(k) => Some(k.to_str()?),
                    None => None,
                });
            }
            let mut topic_strs = Vec::with_capacity(n);
            for t in &topics {
                topic_strs.push(t.to_str()?);
            }
            let records = (0..n).map(|i| Envelope {
                key: key_strs[i],
                topic: topic_strs[i],
                partition: partitions[i],
                offset: offsets[i],
                record_ts: record_ts[i],
                value: values[i].as_bytes(),
            });
            let out = self
                .inner
                .decode(records, now_ms)
                .map_err(PyValueError::new_err)?;
            Ok(streams_out(py, out))
        }

        /// Decide a buffer of a topic file's whole lines, one record per line that is not blank:
        /// `((verdicts, {stream: (rows, columns)}), bounds)`, `bounds` each line's start and end in the
        /// buffer (u64 little-endian pairs), for the lines the Python side reads itself.
        fn decode_buffer<'py>(
            &self,
            py: Python<'py>,
            buffer: &[u8],
            now_ms: i64,
        ) -> PyResult<(Decided<'py>, Bound<'py, PyBytes>)> {
            let bounds = decode::line_bounds(buffer);
            let out = self
                .inner
                .decode_buffer(buffer, &bounds, now_ms)
                .map_err(PyValueError::new_err)?;
            let flat: Vec<u8> = bounds
                .iter()
                .flat_map(|(s, e)| [*s as u64, *e as u64])
                .flat_map(u64::to_le_bytes)
                .collect();
            Ok((streams_out(py, out), PyBytes::new(py, &flat)))
        }

        /// Decide the lines of a topic file (SPEC §2 file form), as `decode` does records.
        fn decode_lines<'py>(
            &self,
            py: Python<'py>,
            lines: Vec<Bound<'py, PyBytes>>,
            now_ms: i64,
        ) -> PyResult<Decided<'py>> {
            let out = self
                .inner
                .decode_lines(lines.iter().map(|l| l.as_bytes()), now_ms)
                .map_err(PyValueError::new_err)?;
            Ok(streams_out(py, out))
        }
    }

    /// A group's `(newest event time or None, {event id: first event time})`.
    type GroupTuple = (Option<i64>, HashMap<String, i64>);

    /// The event clocks of a set of keys (`clock::Clocks`).
    #[pyclass(module = "scout_decode")]
    struct EventClocks {
        inner: clock::Clocks,
    }

    /// Read `n` little-endian values of `width` bytes from `buf`.
    fn words<const W: usize>(buf: &[u8], n: usize, what: &str) -> PyResult<Vec<[u8; W]>> {
        if buf.len() != n * W {
            return Err(PyValueError::new_err(format!(
                "{what}: {} bytes for {n} values of {W}",
                buf.len()
            )));
        }
        Ok(buf
            .chunks_exact(W)
            .map(|c| c.try_into().expect("chunks of W"))
            .collect())
    }

    #[pymethods]
    impl EventClocks {
        #[new]
        fn new(out_of_orderness_ms: i64, n_groups: usize) -> PyResult<Self> {
            let inner =
                clock::Clocks::new(out_of_orderness_ms, n_groups).map_err(PyValueError::new_err)?;
            Ok(EventClocks { inner })
        }

        /// Decide a batch of `n` events in arrival order: `(verdicts, watermarks)` as bytes (u8
        /// per event; i64 little-endian per event). The columns come as little-endian bytes:
        /// `key_codes` (u32, an index into `keys`), `groups` (u8), `ts` (i64), and the event ids
        /// as an Arrow string column's `id_offsets` (i32, n + 1 of them) and `id_data`.
        #[allow(clippy::too_many_arguments)]
        fn process<'py>(
            &mut self,
            py: Python<'py>,
            n: usize,
            keys: Vec<String>,
            key_codes: &[u8],
            groups: &[u8],
            ts: &[u8],
            id_offsets: &[u8],
            id_data: &[u8],
        ) -> PyResult<(Bound<'py, PyBytes>, Bound<'py, PyBytes>)> {
            let codes = words::<4>(key_codes, n, "key_codes")?;
            let times = words::<8>(ts, n, "ts")?;
            let offsets = words::<4>(id_offsets, n + 1, "id_offsets")?;
            if groups.len() != n {
                return Err(PyValueError::new_err(format!(
                    "groups: {} bytes for {n} values",
                    groups.len()
                )));
            }
            let ids = std::str::from_utf8(id_data)
                .map_err(|e| PyValueError::new_err(format!("id_data: {e}")))?;
            let mut events = Vec::with_capacity(n);
            for i in 0..n {
                let (lo, hi) = (
                    i32::from_le_bytes(offsets[i]),
                    i32::from_le_bytes(offsets[i + 1]),
                );
                let id = usize::try_from(lo)
                    .ok()
                    .zip(usize::try_from(hi).ok())
                    .and_then(|(lo, hi)| ids.get(lo..hi))
                    .ok_or_else(|| {
                        PyValueError::new_err(format!(
                            "id_offsets: event {i} has no id at {lo}..{hi}"
                        ))
                    })?;
                events.push(Event {
                    key: u32::from_le_bytes(codes[i]) as usize,
                    group: groups[i] as usize,
                    ts: i64::from_le_bytes(times[i]),
                    event_id: id,
                });
            }
            let names: Vec<&str> = keys.iter().map(String::as_str).collect();
            let (verdicts, watermarks) = self
                .inner
                .process(&names, &events)
                .map_err(PyValueError::new_err)?;
            let marks: Vec<u8> = watermarks.iter().flat_map(|w| w.to_le_bytes()).collect();
            Ok((PyBytes::new(py, &verdicts), PyBytes::new(py, &marks)))
        }

        /// A group's watermark, or None.
        fn watermark(&self, key: &str, group: usize) -> Option<i64> {
            self.inner.watermark(key, group)
        }

        /// Every key's groups: `{key: [(newest, {event id: event time}), ...]}` (a copy).
        fn snapshot(&self) -> HashMap<String, Vec<GroupTuple>> {
            self.inner
                .snapshot()
                .into_iter()
                .map(|(key, groups)| {
                    (
                        key,
                        groups.into_iter().map(|g| (g.newest, g.seen)).collect(),
                    )
                })
                .collect()
        }

        /// Take a key's groups, in `snapshot`'s form.
        fn restore(&mut self, key: &str, groups: Vec<GroupTuple>) -> PyResult<()> {
            let groups = groups
                .into_iter()
                .map(|(newest, seen)| GroupClock { newest, seen })
                .collect();
            self.inner
                .restore(key, groups)
                .map_err(PyValueError::new_err)
        }
    }

    /// Closed sessions: `(keys, starts, ends, member counts, handles)`, one entry per session
    /// but the handles, which are every session's in turn (u64 little-endian).
    type ClosedOut<'py> = (
        Vec<String>,
        Vec<i64>,
        Vec<i64>,
        Vec<u32>,
        Bound<'py, PyBytes>,
    );
    /// An open session: `(start, end, member handles)`.
    type SessionTuple = (i64, i64, Vec<u64>);

    fn closed_out(py: Python<'_>, closed: Vec<sessions::Closed>) -> ClosedOut<'_> {
        let mut out = (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for c in closed {
            out.0.push(c.key);
            out.1.push(c.session.start);
            out.2.push(c.session.end);
            out.3.push(c.session.members.len() as u32);
            out.4
                .extend(c.session.members.iter().flat_map(|h| h.to_le_bytes()));
        }
        (out.0, out.1, out.2, out.3, PyBytes::new(py, &out.4))
    }

    /// The session windows of a set of keys (`sessions::Sessions`).
    #[pyclass(module = "scout_decode")]
    struct Sessions {
        inner: sessions::Sessions,
    }

    #[pymethods]
    impl Sessions {
        #[new]
        fn new(gap_ms: i64) -> PyResult<Self> {
            let inner = sessions::Sessions::new(gap_ms).map_err(PyValueError::new_err)?;
            Ok(Sessions { inner })
        }

        /// Add `n` members in arrival order; the columns as little-endian bytes: `key_codes`
        /// (u32, an index into `keys`), `starts` and `ends` (i64), `handles` (u64).
        fn add(
            &mut self,
            n: usize,
            keys: Vec<String>,
            key_codes: &[u8],
            starts: &[u8],
            ends: &[u8],
            handles: &[u8],
        ) -> PyResult<()> {
            let codes = words::<4>(key_codes, n, "key_codes")?;
            let starts = words::<8>(starts, n, "starts")?;
            let ends = words::<8>(ends, n, "ends")?;
            let handles = words::<8>(handles, n, "handles")?;
            let members: Vec<sessions::Member> = (0..n)
                .map(|i| sessions::Member {
                    key: u32::from_le_bytes(codes[i]) as usize,
                    start: i64::from_le_bytes(starts[i]),
                    end: i64::from_le_bytes(ends[i]),
                    handle: u64::from_le_bytes(handles[i]),
                })
                .collect();
            let names: Vec<&str> = keys.iter().map(String::as_str).collect();
            self.inner
                .add(&names, &members)
                .map_err(PyValueError::new_err)
        }

        /// Close, per key, every session its watermark has passed (`end + gap < watermark`).
        fn close_until<'py>(
            &mut self,
            py: Python<'py>,
            keys: Vec<String>,
            watermarks: Vec<i64>,
        ) -> PyResult<ClosedOut<'py>> {
            let names: Vec<&str> = keys.iter().map(String::as_str).collect();
            let closed = self
                .inner
                .close_until(&names, &watermarks)
                .map_err(PyValueError::new_err)?;
            Ok(closed_out(py, closed))
        }

        /// Close every open session.
        fn flush<'py>(&mut self, py: Python<'py>) -> ClosedOut<'py> {
            closed_out(py, self.inner.flush())
        }

        /// Every key's open sessions: `{key: [(start, end, handles), ...]}` (a copy).
        fn snapshot(&self) -> HashMap<String, Vec<SessionTuple>> {
            self.inner
                .snapshot()
                .into_iter()
                .map(|(key, open)| {
                    (
                        key,
                        open.into_iter()
                            .map(|s| (s.start, s.end, s.members))
                            .collect(),
                    )
                })
                .collect()
        }

        /// Take a key's open sessions, in `snapshot`'s form.
        fn restore(&mut self, key: &str, open: Vec<SessionTuple>) {
            let open = open
                .into_iter()
                .map(|(start, end, members)| sessions::Session {
                    start,
                    end,
                    members,
                })
                .collect();
            self.inner.restore(key, open);
        }
    }

    #[pymodule]
    fn scout_decode(m: &Bound<'_, PyModule>) -> PyResult<()> {
        m.add_class::<Decoder>()?;
        m.add_class::<EventClocks>()?;
        m.add_class::<Sessions>()?;
        m.add("ON_TIME", clock::ON_TIME)?;
        m.add("LATE", clock::LATE)?;
        m.add("DUPLICATE", clock::DUPLICATE)?;
        m.add("NO_WATERMARK", clock::NO_WATERMARK)?;
        m.add("SCHEMAS", SCHEMAS.to_vec())?;
        m.add("STREAMS", STREAMS.to_vec())?;
        m.add("DEFER", decode::DEFER)?;
        Ok(())
    }
}
