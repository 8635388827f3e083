//! Frame boundary scanning: finds where each whole RESP frame ends without copying or allocating.
//!
//! The proxy never needs a parsed value on its hot path, only "is a whole frame buffered, and how
//! long is it?" (mini-redis' `Frame::check`). Both scanners return `Ok(None)` when the buffer holds
//! only part of a frame; that is the normal case for a partial read, not an error.

use super::inline::is_space;
use super::{Limits, ProtocolError};

/// A whole client command found at the start of a buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommandFrame {
    /// Bytes the frame occupies, including its final CRLF.
    pub len: usize,
    /// Number of arguments, command name included. Zero for an empty array (`*0`, `*-1`) or a
    /// blank inline line, which Redis silently skips and which must therefore not be forwarded.
    pub argc: usize,
    /// Whether the command was sent inline (`PING\r\n`) rather than as an array of bulk strings.
    /// `argc` of an inline command counts blank-separated words, before quotes are resolved.
    pub inline: bool,
}

/// A whole reply found at the start of a buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplyFrame {
    /// Bytes the frame occupies, including its final CRLF.
    pub len: usize,
    /// The type byte of the outermost frame after any RESP3 attribute (`+`, `-`, `>`, ...).
    pub kind: u8,
}

impl ReplyFrame {
    /// RESP3 push frames (`>`) arrive out of band: they answer no command.
    pub fn is_push(&self) -> bool {
        self.kind == b'>'
    }
}

/// Longest inline command Redis accepts (`PROTO_INLINE_MAX_SIZE`).
const MAX_INLINE: usize = 64 * 1024;
/// Longest header line (`*123\r\n`) worth waiting for: a longer one is garbage, not a number.
const MAX_HEADER_LINE: usize = 32;

/// Where the scan of an incomplete frame stopped. The next scan of the same buffer (with more
/// bytes appended) resumes there instead of walking the frame again from its start: a frame of
/// a million small elements arriving in small reads would otherwise cost quadratic time.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Resume {
    /// Offset of the first element not walked yet; 0 when nothing is known.
    pos: usize,
    /// Elements still to read from `pos` on (arguments of a command, or a reply's `need`).
    left: u64,
    /// A command's argument count; for a reply, its outermost type once known (0: not yet).
    extra: u64,
}

/// Scans one client command at the start of `buf`, enforcing Redis' own request rules: an array
/// of bulk strings, or an inline line.
pub fn scan_command(buf: &[u8], limits: &Limits) -> Result<Option<CommandFrame>, ProtocolError> {
    scan_command_from(buf, limits, &mut Resume::default())
}

/// [`scan_command`], resuming where the previous call on the same frame stopped. `resume` must
/// start as `Resume::default()` for each new frame; it is reset when a frame is found.
pub fn scan_command_from(
    buf: &[u8],
    limits: &Limits,
    resume: &mut Resume,
) -> Result<Option<CommandFrame>, ProtocolError> {
    let (mut pos, mut left, count) = if resume.pos > 0 {
        (resume.pos, resume.left, resume.extra)
    } else {
        let Some(&first) = buf.first() else {
            return Ok(None);
        };
        if first != b'*' {
            return scan_inline(buf);
        }
        let Some((count, body)) = header(buf, 0)? else {
            return Ok(None);
        };
        if count <= 0 {
            return Ok(Some(CommandFrame {
                len: body,
                argc: 0,
                inline: false,
            }));
        }
        if count as u64 > limits.max_array_len {
            return Err(ProtocolError::ArrayTooLong {
                len: count,
                max: limits.max_array_len,
            });
        }
        (body, count as u64, count as u64)
    };
    while left > 0 {
        let incomplete = Resume {
            pos,
            left,
            extra: count,
        };
        match buf.get(pos) {
            None => {
                *resume = incomplete;
                return Ok(None);
            }
            Some(b'$') => {}
            Some(&other) => return Err(ProtocolError::ExpectedBulk { got: other }),
        }
        let Some((len, body)) = header(buf, pos)? else {
            *resume = incomplete;
            return Ok(None);
        };
        if len < 0 || len as u64 > limits.max_bulk_len {
            return Err(ProtocolError::BulkLength {
                len,
                max: limits.max_bulk_len,
            });
        }
        pos = match skip_bulk_body(buf, body, len as usize)? {
            Some(end) => end,
            None => {
                *resume = incomplete;
                return Ok(None);
            }
        };
        left -= 1;
    }
    *resume = Resume::default();
    Ok(Some(CommandFrame {
        len: pos,
        argc: count as usize,
        inline: false,
    }))
}

fn scan_inline(buf: &[u8]) -> Result<Option<CommandFrame>, ProtocolError> {
    let Some(nl) = buf.iter().take(MAX_INLINE + 1).position(|&b| b == b'\n') else {
        if buf.len() > MAX_INLINE {
            return Err(ProtocolError::InlineTooLong);
        }
        return Ok(None);
    };
    let line = &buf[..nl];
    // Words as Redis' blank-skipping sees them; quotes are resolved by `inline::split`.
    let argc = line
        .split(|&b| is_space(b))
        .filter(|w| !w.is_empty())
        .count();
    Ok(Some(CommandFrame {
        len: nl + 1,
        argc,
        inline: true,
    }))
}

/// Scans one reply (RESP2 or RESP3) at the start of `buf`.
pub fn scan_reply(buf: &[u8], limits: &Limits) -> Result<Option<ReplyFrame>, ProtocolError> {
    scan_reply_from(buf, limits, &mut Resume::default())
}

/// [`scan_reply`], resuming where the previous call on the same frame stopped; see
/// [`scan_command_from`].
pub fn scan_reply_from(
    buf: &[u8],
    limits: &Limits,
    resume: &mut Resume,
) -> Result<Option<ReplyFrame>, ProtocolError> {
    // Elements still to read before the frame is whole; aggregates add their children.
    let (mut pos, mut need, mut kind) = if resume.pos > 0 {
        (
            resume.pos,
            resume.left,
            u8::try_from(resume.extra).ok().filter(|k| *k != 0),
        )
    } else {
        (0, 1, None)
    };
    while need > 0 {
        let incomplete = Resume {
            pos,
            left: need,
            extra: u64::from(kind.unwrap_or(0)),
        };
        macro_rules! wait_for_more {
            () => {{
                *resume = if pos > 0 {
                    incomplete
                } else {
                    Resume::default()
                };
                return Ok(None);
            }};
        }
        let Some(&ty) = buf.get(pos) else {
            wait_for_more!()
        };
        // The outermost value is the one read while nothing else is outstanding; an attribute
        // before it raises `need` until its own children are consumed.
        if kind.is_none() && need == 1 && ty != b'|' {
            kind = Some(ty);
        }
        match ty {
            b'+' | b'-' | b':' | b'_' | b',' | b'#' | b'(' => {
                pos = match line_end(buf, pos + 1, limits.max_bulk_len as usize)? {
                    Some(end) => end,
                    None => wait_for_more!(),
                };
                need -= 1;
            }
            b'$' | b'!' | b'=' => {
                let Some((len, body)) = header(buf, pos)? else {
                    wait_for_more!()
                };
                if len < 0 {
                    // RESP2 null bulk string.
                    pos = body;
                    need -= 1;
                    continue;
                }
                if len as u64 > limits.max_bulk_len {
                    return Err(ProtocolError::BulkLength {
                        len,
                        max: limits.max_bulk_len,
                    });
                }
                pos = match skip_bulk_body(buf, body, len as usize)? {
                    Some(end) => end,
                    None => wait_for_more!(),
                };
                need -= 1;
            }
            b'*' | b'~' | b'>' | b'%' | b'|' => {
                let Some((count, body)) = header(buf, pos)? else {
                    wait_for_more!()
                };
                pos = body;
                need -= 1;
                if ty == b'|' && count < 0 {
                    return Err(ProtocolError::BadLength);
                }
                if count <= 0 {
                    // A null aggregate; an empty attribute still precedes its value.
                    need += u64::from(ty == b'|');
                    continue;
                }
                if count as u64 > limits.max_array_len {
                    return Err(ProtocolError::ArrayTooLong {
                        len: count,
                        max: limits.max_array_len,
                    });
                }
                let children = match ty {
                    b'%' => 2 * count as u64,
                    // An attribute map is followed by the value it describes.
                    b'|' => 2 * count as u64 + 1,
                    _ => count as u64,
                };
                // Headers alone must not be able to wrap the count back to zero.
                need = need.checked_add(children).ok_or(ProtocolError::BadLength)?;
            }
            other => return Err(ProtocolError::UnknownType { got: other }),
        }
    }
    *resume = Resume::default();
    Ok(Some(ReplyFrame {
        len: pos,
        kind: kind.unwrap_or(b'|'),
    }))
}

/// Parses `<type><signed decimal>\r\n` at `start`; returns the number and the offset after CRLF.
fn header(buf: &[u8], start: usize) -> Result<Option<(i64, usize)>, ProtocolError> {
    let digits_start = start + 1;
    let window = &buf[digits_start.min(buf.len())..];
    // The common case in one pass: digits (an optional sign), then CRLF.
    let sign = usize::from(window.first() == Some(&b'-'));
    let digits = window[sign..]
        .iter()
        .take_while(|b| b.is_ascii_digit())
        .count();
    let end = sign + digits;
    if end < MAX_HEADER_LINE && window.get(end..end + 2) == Some(b"\r\n") {
        let value = parse_int(&window[..end]).ok_or(ProtocolError::BadLength)?;
        return Ok(Some((value, digits_start + end + 2)));
    }
    let Some(cr) = window
        .iter()
        .take(MAX_HEADER_LINE)
        .position(|&b| b == b'\r' || b == b'\n')
    else {
        if window.len() >= MAX_HEADER_LINE {
            return Err(ProtocolError::BadLength);
        }
        return Ok(None);
    };
    if window[cr] == b'\n' {
        return Err(ProtocolError::MissingCrlf);
    }
    let Some(&lf) = window.get(cr + 1) else {
        return Ok(None);
    };
    if lf != b'\n' {
        return Err(ProtocolError::MissingCrlf);
    }
    let value = parse_int(&window[..cr]).ok_or(ProtocolError::BadLength)?;
    Ok(Some((value, digits_start + cr + 2)))
}

/// Skips `len` payload bytes and the CRLF after them; returns the offset after the CRLF.
fn skip_bulk_body(buf: &[u8], body: usize, len: usize) -> Result<Option<usize>, ProtocolError> {
    let end = body + len;
    if buf.len() < end + 2 {
        return Ok(None);
    }
    if &buf[end..end + 2] != b"\r\n" {
        return Err(ProtocolError::MissingCrlf);
    }
    Ok(Some(end + 2))
}

/// Finds the CRLF ending a simple line that starts at `start`; returns the offset after it.
///
/// A line longer than `max` is refused whether or not its end has arrived, so that the verdict
/// does not depend on how the bytes were read.
fn line_end(buf: &[u8], start: usize, max: usize) -> Result<Option<usize>, ProtocolError> {
    let window = &buf[start.min(buf.len())..];
    match window.iter().position(|&b| b == b'\n') {
        Some(nl) if nl > 0 && window[nl - 1] == b'\r' => {
            if nl - 1 > max {
                return Err(ProtocolError::LineTooLong);
            }
            Ok(Some(start + nl + 1))
        }
        Some(_) => Err(ProtocolError::MissingCrlf),
        None => {
            let content = window.len() - usize::from(window.last() == Some(&b'\r'));
            if content > max {
                return Err(ProtocolError::LineTooLong);
            }
            Ok(None)
        }
    }
}

/// Parses a signed decimal as RESP writes it: optional `-`, then at least one digit; `None`
/// outside `i64`.
pub(crate) fn parse_int(digits: &[u8]) -> Option<i64> {
    let (negative, digits) = match digits.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, digits),
    };
    if digits.is_empty() || digits.len() > 19 {
        return None;
    }
    // Accumulate negatively: i64::MIN has no positive counterpart.
    let mut value: i64 = 0;
    for &d in digits {
        if !d.is_ascii_digit() {
            return None;
        }
        value = value.checked_mul(10)?.checked_sub(i64::from(d - b'0'))?;
    }
    if negative {
        Some(value)
    } else {
        value.checked_neg()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> Limits {
        Limits::default()
    }

    fn cmd(buf: &[u8]) -> Result<Option<CommandFrame>, ProtocolError> {
        scan_command(buf, &limits())
    }

    fn reply(buf: &[u8]) -> Result<Option<(usize, u8)>, ProtocolError> {
        scan_reply(buf, &limits()).map(|f| f.map(|f| (f.len, f.kind)))
    }

    #[test]
    fn whole_command_reports_its_length_and_argc() {
        let buf = b"*2\r\n$3\r\nGET\r\n$3\r\nkey\r\n*1\r\n$4\r\nPING\r\n";
        let frame = cmd(buf).unwrap().unwrap();
        assert_eq!(frame.len, 22);
        assert_eq!(frame.argc, 2);
        assert!(!frame.inline);
    }

    #[test]
    fn every_strict_prefix_of_a_command_is_incomplete() {
        let buf = b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$10\r\n0123456789\r\n";
        for end in 0..buf.len() {
            assert_eq!(cmd(&buf[..end]).unwrap(), None, "prefix {end}");
        }
        assert_eq!(cmd(buf).unwrap().unwrap().len, buf.len());
    }

    #[test]
    fn inline_commands_end_at_newline() {
        let frame = cmd(b"PING\r\nrest").unwrap().unwrap();
        assert_eq!((frame.len, frame.argc, frame.inline), (6, 1, true));
        assert_eq!(cmd(b"  \r\n").unwrap().unwrap().argc, 0);
        assert_eq!(cmd(b"SET a").unwrap(), None);
    }

    #[test]
    fn empty_arrays_are_consumed_without_arguments() {
        assert_eq!(cmd(b"*0\r\n").unwrap().unwrap().argc, 0);
        assert_eq!(cmd(b"*-1\r\n").unwrap().unwrap().len, 5);
    }

    #[test]
    fn malformed_commands_are_rejected() {
        assert_eq!(
            cmd(b"*1\r\n:3\r\n"),
            Err(ProtocolError::ExpectedBulk { got: b':' })
        );
        assert_eq!(cmd(b"*x\r\n"), Err(ProtocolError::BadLength));
        assert_eq!(
            cmd(b"*1\r\n$-5\r\n"),
            Err(ProtocolError::BulkLength {
                len: -5,
                max: limits().max_bulk_len
            })
        );
        assert_eq!(cmd(b"*1\r\n$3\r\nGETxx"), Err(ProtocolError::MissingCrlf));
        assert_eq!(cmd(b"*1\n"), Err(ProtocolError::MissingCrlf));
        assert!(matches!(
            cmd(b"*1\r\n$1073741824\r\n"),
            Err(ProtocolError::BulkLength { .. })
        ));
        assert!(matches!(
            cmd(b"*3000000000\r\n"),
            Err(ProtocolError::ArrayTooLong { .. })
        ));
        assert_eq!(
            cmd(b"*11111111111111111111111111111111111"),
            Err(ProtocolError::BadLength)
        );
    }

    #[test]
    fn replies_of_every_resp3_type_are_scanned_whole() {
        let cases: &[&[u8]] = &[
            b"+OK\r\n",
            b"-ERR x\r\n",
            b":-12\r\n",
            b"$-1\r\n",
            b"$3\r\nabc\r\n",
            b"*-1\r\n",
            b"*2\r\n$1\r\na\r\n:1\r\n",
            b"_\r\n",
            b",3.14\r\n",
            b"#t\r\n",
            b"(123456789012345678901234567890\r\n",
            b"!3\r\nerr\r\n",
            b"=7\r\ntxt:abc\r\n",
            b"%1\r\n+k\r\n*1\r\n:1\r\n",
            b"~2\r\n+a\r\n+b\r\n",
            b">3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$1\r\nx\r\n",
        ];
        for case in cases {
            for end in 0..case.len() {
                assert_eq!(reply(&case[..end]).unwrap(), None, "{case:?} prefix {end}");
            }
            let mut buf = case.to_vec();
            buf.extend_from_slice(b"+NEXT\r\n");
            assert_eq!(
                reply(&buf).unwrap(),
                Some((case.len(), case[0])),
                "{case:?}"
            );
        }
    }

    #[test]
    fn an_attribute_belongs_to_the_value_after_it() {
        let buf = b"|1\r\n+key-popularity\r\n:1\r\n$3\r\nabc\r\n";
        assert_eq!(reply(buf).unwrap(), Some((buf.len(), b'$')));
        assert_eq!(reply(&buf[..buf.len() - 1]).unwrap(), None);
    }

    #[test]
    fn resumed_scans_find_the_same_frames_at_every_split() {
        let limits = limits();
        let command = b"*4\r\n$3\r\nSET\r\n$1\r\nk\r\n$0\r\n\r\n$5\r\nvalue\r\n";
        let reply = b"|1\r\n+a\r\n:1\r\n*3\r\n%1\r\n+k\r\n$2\r\nab\r\n_\r\n>1\r\n:7\r\n";
        for end in 0..=command.len() {
            let mut resume = Resume::default();
            let early = scan_command_from(&command[..end], &limits, &mut resume).unwrap();
            let whole = scan_command_from(command, &limits, &mut resume).unwrap();
            assert_eq!(early.is_some(), end == command.len(), "split {end}");
            assert_eq!(
                whole,
                scan_command(command, &limits).unwrap(),
                "split {end}"
            );
            assert_eq!(resume, Resume::default());
        }
        for end in 0..=reply.len() {
            let mut resume = Resume::default();
            let early = scan_reply_from(&reply[..end], &limits, &mut resume).unwrap();
            let whole = scan_reply_from(reply, &limits, &mut resume).unwrap();
            assert_eq!(early.is_some(), end == reply.len(), "split {end}");
            assert_eq!(
                whole,
                Some(ReplyFrame {
                    len: reply.len(),
                    kind: b'*'
                }),
                "split {end}"
            );
        }
    }

    #[test]
    fn a_million_arguments_arriving_in_small_pieces_scan_to_one_frame() {
        let mut command = b"*1000000\r\n".to_vec();
        for _ in 0..1_000_000 {
            command.extend_from_slice(b"$0\r\n\r\n");
        }
        let limits = limits();
        let mut resume = Resume::default();
        let mut steps = 0;
        for end in (1024..command.len()).step_by(1024) {
            assert_eq!(
                scan_command_from(&command[..end], &limits, &mut resume).unwrap(),
                None
            );
            steps += 1;
        }
        let frame = scan_command_from(&command, &limits, &mut resume)
            .unwrap()
            .unwrap();
        assert_eq!(
            (frame.len, frame.argc, steps),
            (command.len(), 1_000_000, 5859)
        );
        assert_eq!(resume, Resume::default());
    }

    #[test]
    fn an_empty_attribute_still_precedes_its_value() {
        assert_eq!(reply(b"|0\r\n").unwrap(), None);
        assert_eq!(reply(b"|0\r\n+x\r\n").unwrap(), Some((8, b'+')));
        assert_eq!(reply(b"|-1\r\n+x\r\n"), Err(ProtocolError::BadLength));
    }

    #[test]
    fn unknown_reply_types_are_errors() {
        assert_eq!(
            reply(b"?\r\n"),
            Err(ProtocolError::UnknownType { got: b'?' })
        );
    }

    #[test]
    fn integers_parse_like_redis_writes_them() {
        assert_eq!(parse_int(b"0"), Some(0));
        assert_eq!(parse_int(b"-42"), Some(-42));
        assert_eq!(parse_int(b""), None);
        assert_eq!(parse_int(b"-"), None);
        assert_eq!(parse_int(b"1a"), None);
        assert_eq!(
            parse_int(b"999999999999999999"),
            Some(999_999_999_999_999_999)
        );
        assert_eq!(parse_int(b"9223372036854775807"), Some(i64::MAX));
        assert_eq!(parse_int(b"-9223372036854775808"), Some(i64::MIN));
        assert_eq!(parse_int(b"9223372036854775808"), None);
        assert_eq!(parse_int(b"99999999999999999999"), None);
    }
}
