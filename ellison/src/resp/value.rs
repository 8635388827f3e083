//! Whole-reply parsing into values, for the Sentinel side (replies to `SENTINEL MASTER`, `ROLE`,
//! pub/sub messages). Not used on the proxy's hot path, which only scans frame boundaries.

use bytes::Bytes;

use super::scan::{parse_int, scan_reply};
use super::{Limits, ProtocolError};

/// Nesting deeper than this is refused rather than recursed into.
const MAX_DEPTH: usize = 16;

/// A parsed reply. RESP3 maps, sets and pushes flatten into arrays, as RESP2 sends them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// `+...`, and RESP3 doubles, booleans and big numbers in their text form.
    Simple(String),
    /// `-...` or RESP3 `!` blob errors.
    Error(String),
    Int(i64),
    Bulk(Bytes),
    Nil,
    Array(Vec<Value>),
}

impl Value {
    /// The value as text, for simple and bulk strings.
    pub(crate) fn as_str(&self) -> Option<&str> {
        match self {
            Value::Simple(s) => Some(s),
            Value::Bulk(b) => std::str::from_utf8(b).ok(),
            _ => None,
        }
    }

    /// The value as an integer, for integers and strings holding one.
    pub(crate) fn as_int(&self) -> Option<i64> {
        match self {
            Value::Int(i) => Some(*i),
            other => other.as_str()?.parse().ok(),
        }
    }
}

/// Parses one whole reply at the start of `buf`; `Ok(None)` if it is not all there yet.
pub fn parse(buf: &Bytes, limits: &Limits) -> Result<Option<(Value, usize)>, ProtocolError> {
    let Some(frame) = scan_reply(buf, limits)? else {
        return Ok(None);
    };
    let mut pos = 0;
    let value = parse_at(buf, &mut pos, 0)?;
    debug_assert_eq!(pos, frame.len);
    Ok(Some((value, frame.len)))
}

fn parse_at(buf: &Bytes, pos: &mut usize, depth: usize) -> Result<Value, ProtocolError> {
    if depth > MAX_DEPTH {
        return Err(ProtocolError::TooDeep { max: MAX_DEPTH });
    }
    let ty = buf[*pos];
    let nl = buf[*pos..]
        .iter()
        .position(|&b| b == b'\n')
        .ok_or(ProtocolError::MissingCrlf)?
        + *pos;
    let line = &buf[*pos + 1..nl - 1];
    let text = || String::from_utf8_lossy(line).into_owned();
    let number = || parse_int(line).ok_or(ProtocolError::BadLength);
    *pos = nl + 1;
    Ok(match ty {
        b'+' | b',' | b'#' | b'(' => Value::Simple(text()),
        b'-' => Value::Error(text()),
        b':' => Value::Int(number()?),
        b'_' => Value::Nil,
        b'$' | b'!' | b'=' => {
            let len = number()?;
            if len < 0 {
                return Ok(Value::Nil);
            }
            let start = *pos;
            *pos += len as usize + 2;
            let mut body = buf.slice(start..start + len as usize);
            match ty {
                b'!' => Value::Error(String::from_utf8_lossy(&body).into_owned()),
                b'=' => {
                    // Verbatim strings carry a three-letter format and a colon.
                    body = body.slice(4.min(body.len())..);
                    Value::Bulk(body)
                }
                _ => Value::Bulk(body),
            }
        }
        b'*' | b'~' | b'>' | b'%' => {
            let count = number()?;
            if count < 0 {
                return Ok(Value::Nil);
            }
            let count = if ty == b'%' { count * 2 } else { count } as usize;
            let mut items = Vec::with_capacity(count.min(1024));
            for _ in 0..count {
                items.push(parse_at(buf, pos, depth + 1)?);
            }
            Value::Array(items)
        }
        b'|' => {
            // Attributes are metadata about the value that follows; skip them.
            let count = usize::try_from(number()?)
                .map_err(|_| ProtocolError::BadLength)?
                .saturating_mul(2);
            for _ in 0..count {
                parse_at(buf, pos, depth + 1)?;
            }
            parse_at(buf, pos, depth + 1)?
        }
        other => return Err(ProtocolError::UnknownType { got: other }),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(bytes: &'static [u8]) -> Value {
        let (value, len) = parse(&Bytes::from_static(bytes), &Limits::default())
            .unwrap()
            .unwrap();
        assert_eq!(len, bytes.len());
        value
    }

    #[test]
    fn sentinel_master_reply_parses_as_flat_array() {
        let value = one(b"*4\r\n$4\r\nname\r\n$8\r\nmymaster\r\n$2\r\nip\r\n$9\r\n127.0.0.1\r\n");
        let Value::Array(items) = value else {
            panic!("not an array")
        };
        assert_eq!(items[1].as_str(), Some("mymaster"));
        assert_eq!(items[3].as_str(), Some("127.0.0.1"));
    }

    #[test]
    fn resp3_types_map_onto_resp2_shapes() {
        assert_eq!(
            one(b"%1\r\n+a\r\n:1\r\n"),
            Value::Array(vec![Value::Simple("a".into()), Value::Int(1)])
        );
        assert_eq!(one(b"_\r\n"), Value::Nil);
        assert_eq!(one(b"$-1\r\n"), Value::Nil);
        assert_eq!(
            one(b"=8\r\ntxt:abcd\r\n"),
            Value::Bulk(Bytes::from_static(b"abcd"))
        );
        assert_eq!(one(b"!3\r\nbad\r\n"), Value::Error("bad".into()));
        assert_eq!(one(b"|1\r\n+a\r\n+b\r\n:7\r\n"), Value::Int(7));
        assert_eq!(one(b":12\r\n").as_int(), Some(12));
        assert_eq!(one(b"$2\r\n12\r\n").as_int(), Some(12));
    }

    #[test]
    fn deep_nesting_is_refused_not_recursed() {
        let mut bytes = b"*1\r\n".repeat(100);
        bytes.extend_from_slice(b":1\r\n");
        let result = parse(&Bytes::from(bytes), &Limits::default());
        assert!(result.is_err());
    }
}
