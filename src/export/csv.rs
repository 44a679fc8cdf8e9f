//! Per-message CSV with a header row: one row per recorded message.
//!
//! As with the JSON lines, the run's six fields are rendered once (by the csv crate, quoting
//! and all) into a prefix, and each row adds its four numbers with `itoa`: byte for byte what
//! the csv crate writes for the whole record.

use super::stream::RunLabel;
use super::STREAM_SCHEMA_VERSION;
use crate::wire::Sample;

/// The header row; every row has these columns in this order.
pub const COLUMNS: [&str; 10] = [
    "schema_version",
    "transport",
    "pattern",
    "framing",
    "size_bytes",
    "repetition",
    "seq",
    "send_ns",
    "recv_ns",
    "latency_ns",
];

/// The header row, as written at the top of the file.
pub fn header() -> Vec<u8> {
    record(&COLUMNS)
}

/// The rows of one run.
pub struct CsvRows {
    /// `1,uds,round-trip,raw,64,0,`
    prefix: Vec<u8>,
}

impl CsvRows {
    pub fn new(run: &RunLabel) -> CsvRows {
        let fields = [
            STREAM_SCHEMA_VERSION.to_string(),
            run.transport.to_string(),
            run.pattern.to_string(),
            run.framing.to_string(),
            run.size_bytes.to_string(),
            run.repetition.to_string(),
        ];
        let mut prefix = record(&fields);
        prefix.pop(); // the newline
        prefix.push(b',');
        CsvRows { prefix }
    }

    /// Appends the row of `s` (with its newline) to `out`.
    #[inline]
    pub fn row(&self, s: &Sample, out: &mut Vec<u8>) {
        let mut num = itoa::Buffer::new();
        out.extend_from_slice(&self.prefix);
        for (i, v) in [s.seq, s.send_ns, s.recv_ns, s.latency_ns()].into_iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            out.extend_from_slice(num.format(v).as_bytes());
        }
        out.push(b'\n');
    }
}

/// One record as the csv crate writes it.
fn record<T: AsRef<[u8]>>(fields: &[T]) -> Vec<u8> {
    let mut w = csv::WriterBuilder::new().from_writer(Vec::new());
    w.write_record(fields).expect("writing to memory");
    w.into_inner().expect("writing to memory")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn a_row_is_exactly_what_the_csv_crate_writes(seq: u64, send_ns: u64, recv_ns: u64, rep: u32) {
            let run = RunLabel::example(rep);
            let s = Sample { seq, send_ns, recv_ns };
            let mut fast = Vec::new();
            CsvRows::new(&run).row(&s, &mut fast);
            let slow = record(&[
                STREAM_SCHEMA_VERSION.to_string(),
                run.transport.to_string(),
                run.pattern.to_string(),
                run.framing.to_string(),
                run.size_bytes.to_string(),
                rep.to_string(),
                seq.to_string(),
                send_ns.to_string(),
                recv_ns.to_string(),
                s.latency_ns().to_string(),
            ]);
            prop_assert_eq!(String::from_utf8(fast).unwrap(), String::from_utf8(slow).unwrap());
        }
    }

    #[test]
    fn the_header_names_every_column_once() {
        assert_eq!(String::from_utf8(header()).unwrap(), COLUMNS.join(",") + "\n");
    }
}
