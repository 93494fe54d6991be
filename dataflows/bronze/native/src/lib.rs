//! `scout_decode`: the compiled decode path of bronze validation (issue #21).
//!
//! The Python side is `dataflows/bronze/columnar.py`: it hands a batch of record values here
//! and gets back a verdict per record and Arrow buffers of the clean records' bronze columns;
//! the records deferred go through the Python validator as before.

pub mod columns;
pub mod decode;
pub mod envelope;
pub mod event;
pub mod rules;

#[cfg(feature = "python")]
mod python {
    use std::collections::HashMap;

    use pyo3::exceptions::PyValueError;
    use pyo3::prelude::*;
    use pyo3::types::{PyBytes, PyString};

    use crate::decode::{self, Envelope};
    use crate::envelope::Limits;
    use crate::event::{SCHEMAS, STREAMS};
    use crate::rules::Spec;

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

    #[pyclass(frozen, module = "scout_decode")]
    struct Decoder {
        inner: decode::Decoder,
    }

    /// Per stream: the clean rows and their columns, as Python bytes.
    fn streams_out<'py>(
        py: Python<'py>,
        out: decode::Decoded,
    ) -> (Bound<'py, PyBytes>, HashMap<&'static str, StreamOut<'py>>) {
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
        ) -> PyResult<(Bound<'py, PyBytes>, HashMap<&'static str, StreamOut<'py>>)> {
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

        /// Decide the lines of a topic file (SPEC §2 file form), as `decode` does records.
        fn decode_lines<'py>(
            &self,
            py: Python<'py>,
            lines: Vec<Bound<'py, PyBytes>>,
            now_ms: i64,
        ) -> PyResult<(Bound<'py, PyBytes>, HashMap<&'static str, StreamOut<'py>>)> {
            let out = self
                .inner
                .decode_lines(lines.iter().map(|l| l.as_bytes()), now_ms)
                .map_err(PyValueError::new_err)?;
            Ok(streams_out(py, out))
        }
    }

    #[pymodule]
    fn scout_decode(m: &Bound<'_, PyModule>) -> PyResult<()> {
        m.add_class::<Decoder>()?;
        m.add("SCHEMAS", SCHEMAS.to_vec())?;
        m.add("STREAMS", STREAMS.to_vec())?;
        m.add("DEFER", decode::DEFER)?;
        Ok(())
    }
}
