//! Per-message JSON lines: one object per recorded message.
//!
//! The run's fields are the same on every line of a run, so they are rendered once (by
//! serde_json, escapes and all) into a prefix, and each line adds its four numbers with `itoa`:
//! byte for byte what serializing [`Line`] gives, at a fraction of the cost (the writer thread
//! formats millions of lines a second while the run goes on).

use serde::Serialize;

use super::stream::RunLabel;
use super::STREAM_SCHEMA_VERSION;
use crate::wire::Sample;

/// One line of the stream: the layout, field by field.
#[derive(Serialize)]
pub struct Line<'a> {
    pub schema_version: u32,
    pub transport: &'a str,
    pub pattern: &'a str,
    pub framing: &'a str,
    pub size_bytes: usize,
    pub repetition: u32,
    pub seq: u64,
    pub send_ns: u64,
    pub recv_ns: u64,
    pub latency_ns: u64,
}

/// The lines of one run.
pub struct JsonLines {
    /// `{"schema_version":1,...,"repetition":0,"seq":`
    prefix: Vec<u8>,
}

impl JsonLines {
    pub fn new(run: &RunLabel) -> JsonLines {
        let (transport, pattern, framing) =
            (run.transport.to_string(), run.pattern.to_string(), run.framing.to_string());
        let line = Line {
            schema_version: STREAM_SCHEMA_VERSION,
            transport: &transport,
            pattern: &pattern,
            framing: &framing,
            size_bytes: run.size_bytes,
            repetition: run.repetition,
            seq: 0,
            send_ns: 0,
            recv_ns: 0,
            latency_ns: 0,
        };
        let whole = serde_json::to_vec(&line).expect("a line always serializes");
        let cut = find(&whole, b"\"seq\":").expect("the line has a seq") + b"\"seq\":".len();
        JsonLines { prefix: whole[..cut].to_vec() }
    }

    /// Appends the line of `s` (with its newline) to `out`.
    #[inline]
    pub fn line(&self, s: &Sample, out: &mut Vec<u8>) {
        let mut num = itoa::Buffer::new();
        out.extend_from_slice(&self.prefix);
        out.extend_from_slice(num.format(s.seq).as_bytes());
        out.extend_from_slice(b",\"send_ns\":");
        out.extend_from_slice(num.format(s.send_ns).as_bytes());
        out.extend_from_slice(b",\"recv_ns\":");
        out.extend_from_slice(num.format(s.recv_ns).as_bytes());
        out.extend_from_slice(b",\"latency_ns\":");
        out.extend_from_slice(num.format(s.latency_ns()).as_bytes());
        out.extend_from_slice(b"}\n");
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn a_line_is_exactly_what_serde_json_writes(seq: u64, send_ns: u64, recv_ns: u64, rep: u32) {
            let run = RunLabel::example(rep);
            let s = Sample { seq, send_ns, recv_ns };
            let mut fast = Vec::new();
            JsonLines::new(&run).line(&s, &mut fast);
            let (t, p, f) = (run.transport.to_string(), run.pattern.to_string(), run.framing.to_string());
            let mut slow = serde_json::to_vec(&Line {
                schema_version: STREAM_SCHEMA_VERSION,
                transport: &t,
                pattern: &p,
                framing: &f,
                size_bytes: run.size_bytes,
                repetition: run.repetition,
                seq,
                send_ns,
                recv_ns,
                latency_ns: s.latency_ns(),
            })
            .unwrap();
            slow.push(b'\n');
            prop_assert_eq!(String::from_utf8(fast).unwrap(), String::from_utf8(slow).unwrap());
        }
    }
}
