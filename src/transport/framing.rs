//! How messages are framed on a byte stream: raw fixed-size messages, a length prefix, or one
//! JSON object per line. Framing is part of what a protocol costs, so it is timed.
//!
//! | framing | on the wire |
//! |---|---|
//! | `raw` | the message's `size` bytes |
//! | `length-prefixed` | `u32` little-endian length, then that many bytes |
//! | `json-lines` | `{"type","seq","send_ns","time_us","src","dst","payload"}` and `\n`, padded (in `payload`) to exactly `size` bytes |

use std::io::Write as _;

use serde::{Deserialize, Serialize};

/// The wire format of a stream transport.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord, clap::ValueEnum,
)]
#[serde(rename_all = "kebab-case")]
pub enum Framing {
    /// Fixed-size messages, as they are.
    #[default]
    Raw,
    /// A u32 little-endian length, then the message.
    LengthPrefixed,
    /// One JSON object per line, padded to the message size.
    JsonLines,
}

crate::display_as_value_name!(Framing);

/// Bytes of the length prefix.
pub const PREFIX_BYTES: usize = 4;

/// The smallest json-lines message: the object with the widest numbers and no padding.
pub const JSON_MIN_BYTES: usize = 160;

/// A message as a JSON object; strings are borrowed from the line, so parsing does not allocate.
#[derive(Debug, Deserialize)]
pub struct JsonMessage<'a> {
    #[serde(rename = "type", borrow)]
    pub kind: &'a str,
    pub seq: u64,
    #[serde(default)]
    pub send_ns: u64,
    #[serde(default, borrow)]
    pub src: &'a str,
    #[serde(default, borrow)]
    pub dst: &'a str,
    #[serde(default, borrow)]
    pub payload: &'a str,
}

/// Writes one JSON line of exactly `size` bytes into `out` (cleared first). Fails when `size`
/// cannot hold the object.
pub fn encode_json_line(
    out: &mut Vec<u8>,
    kind: &str,
    seq: u64,
    send_ns: u64,
    src: &str,
    dst: &str,
    size: usize,
) -> Result<(), String> {
    out.clear();
    let _ = write!(
        out,
        r#"{{"type":"{kind}","seq":{seq},"send_ns":{send_ns},"time_us":{},"src":"{src}","dst":"{dst}","payload":""#,
        send_ns / 1000
    );
    const TAIL: &[u8] = b"\"}\n";
    let used = out.len() + TAIL.len();
    if used > size {
        return Err(format!("a JSON line needs at least {used} bytes, the message size is {size}"));
    }
    out.resize(size - TAIL.len(), b'x');
    out.extend_from_slice(TAIL);
    Ok(())
}

/// The sequence number in a reply line: from `field` (the typed fast path for `seq`).
pub fn reply_seq(line: &[u8], field: &str) -> Result<(u64, u64), String> {
    if field == "seq" {
        let m: JsonMessage<'_> = serde_json::from_slice(line).map_err(|e| e.to_string())?;
        return Ok((m.seq, m.send_ns));
    }
    let v: serde_json::Value = serde_json::from_slice(line).map_err(|e| e.to_string())?;
    let seq = v.get(field).and_then(|s| s.as_u64()).ok_or_else(|| format!("no integer field '{field}'"))?;
    Ok((seq, v.get("send_ns").and_then(|s| s.as_u64()).unwrap_or(0)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_lines_are_exactly_the_requested_size_and_parse_back() {
        let mut out = Vec::new();
        for size in [JSON_MIN_BYTES, 200, 4096] {
            encode_json_line(&mut out, "echo", u64::MAX - 1, u64::MAX - 2, "initiator", "peer", size)
                .unwrap();
            assert_eq!(out.len(), size);
            assert_eq!(out.last(), Some(&b'\n'));
            assert_eq!(out.iter().filter(|&&b| b == b'\n').count(), 1, "one line");
            let m: JsonMessage<'_> = serde_json::from_slice(&out).unwrap();
            assert_eq!(
                (m.kind, m.seq, m.send_ns, m.src, m.dst),
                ("echo", u64::MAX - 1, u64::MAX - 2, "initiator", "peer")
            );
        }
        assert!(encode_json_line(&mut out, "msg", 1, 2, "initiator", "peer", 50)
            .unwrap_err()
            .contains("at least"));
    }

    #[test]
    fn reply_sequence_numbers_come_from_the_named_field() {
        let line = br#"{"type":"echo","id":42,"seq":7,"send_ns":9}"#;
        assert_eq!(reply_seq(line, "seq").unwrap(), (7, 9));
        assert_eq!(reply_seq(line, "id").unwrap(), (42, 9));
        assert!(reply_seq(line, "nope").unwrap_err().contains("no integer field 'nope'"));
        assert!(reply_seq(b"not json", "seq").is_err());
    }
}
