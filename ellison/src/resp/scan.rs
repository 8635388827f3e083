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
    pub(crate) fn is_push(&self) -> bool {
        self.kind == b'>'
    }
}

/// How much of a request line Redis buffers without finding its end (`PROTO_INLINE_MAX_SIZE`):
/// an inline command, or the header of an array or of one of its arguments. With more than this
/// buffered and no end, the request is refused.
const MAX_REQUEST_LINE: usize = 64 * 1024;
/// Longest reply header line (`*123\r\n`) worth waiting for: a longer one is garbage, not a number.
const MAX_HEADER_LINE: usize = 32;

/// Where the scan of an incomplete frame stopped. The next scan of the same buffer (with more
/// bytes appended) resumes there instead of walking the frame again from its start: a frame of
/// a million small elements arriving in small reads would otherwise cost quadratic time, and so
/// would a 64 KiB line arriving a byte at a time.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Resume {
    /// Offset of the first element not walked yet; 0 when nothing is known.
    pos: usize,
    /// Elements still to read from `pos` on (arguments of a command, or a reply's `need`).
    left: u64,
    /// A command's argument count; for a reply, its outermost type once known (0: not yet).
    extra: u64,
    /// Bytes of the request line at `pos` (at 0: the frame's first line) known not to hold its
    /// end.
    line: usize,
}

/// Scans one client command at the start of `buf` by Redis' own request rules: an array of bulk
/// strings, or an inline line.
///
/// What Redis accepts is accepted, what it refuses is refused with its words, and where it
/// waits this returns `Ok(None)`: a header's number is read as `string2ll` reads it (`*-0` and
/// `*01` are refused), the byte after a header's CR and the two bytes after a bulk string are
/// skipped unread, and a NUL before a line's end hides that end, as `strchr` does. A line is
/// refused once more than 64 KiB of it are buffered without its end; whether a longer line
/// whose end is buffered too is refused therefore depends, as in Redis, on what had arrived
/// when it was scanned.
pub fn scan_command(buf: &[u8], limits: &Limits) -> Result<Option<CommandFrame>, ProtocolError> {
    scan_command_from(buf, limits, &mut Resume::default())
}

/// [`scan_command`], resuming where the previous call on the same frame stopped. `resume` must
/// start as `Resume::default()` for each new frame; it is reset when a frame is found.
pub(crate) fn scan_command_from(
    buf: &[u8],
    limits: &Limits,
    resume: &mut Resume,
) -> Result<Option<CommandFrame>, ProtocolError> {
    let (mut pos, mut left, count, mut searched) = if resume.pos > 0 {
        (resume.pos, resume.left, resume.extra, resume.line)
    } else {
        let Some(&first) = buf.first() else {
            return Ok(None);
        };
        if first != b'*' {
            return scan_inline(buf, resume);
        }
        let Some((text, body)) = request_header(
            buf,
            0,
            &mut resume.line,
            ProtocolError::MultibulkCountTooLong,
        )?
        else {
            return Ok(None);
        };
        let count = match string2ll(text) {
            Some(n) if n <= i64::from(i32::MAX) => n,
            _ => return Err(ProtocolError::MultibulkLength),
        };
        if count > 0 && count as u64 > limits.max_array_len {
            return Err(if limits.is_unauthenticated() {
                ProtocolError::UnauthenticatedMultibulkLength
            } else {
                ProtocolError::MultibulkLength
            });
        }
        if count <= 0 {
            *resume = Resume::default();
            return Ok(Some(CommandFrame {
                len: body,
                argc: 0,
                inline: false,
            }));
        }
        (body, count as u64, count as u64, 0)
    };
    while left > 0 {
        let Some((text, body)) =
            request_header(buf, pos, &mut searched, ProtocolError::BulkCountTooLong)?
        else {
            *resume = Resume {
                pos,
                left,
                extra: count,
                line: searched,
            };
            return Ok(None);
        };
        if buf[pos] != b'$' {
            return Err(ProtocolError::ExpectedBulk { got: buf[pos] });
        }
        let end = body + bulk_len(text, limits)? + 2;
        if buf.len() < end {
            // The header is walked again next time, from its CR.
            *resume = Resume {
                pos,
                left,
                extra: count,
                line: body - 2 - pos,
            };
            return Ok(None);
        }
        pos = end;
        left -= 1;
        searched = 0;
    }
    *resume = Resume::default();
    Ok(Some(CommandFrame {
        len: pos,
        argc: count as usize,
        inline: false,
    }))
}

fn scan_inline(buf: &[u8], resume: &mut Resume) -> Result<Option<CommandFrame>, ProtocolError> {
    let Some(nl) = request_line_end(
        buf,
        0,
        b'\n',
        &mut resume.line,
        ProtocolError::InlineTooLong,
    )?
    else {
        return Ok(None);
    };
    *resume = Resume::default();
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

/// Finds the end of the request line at `start` as Redis finds it with `strchr`: the first
/// `end` byte (CR for a header, LF for an inline command), unless a NUL comes first, which hides
/// it for good. `searched` bytes from `start` are known not to hold it, and are updated. With no
/// end found, more than [`MAX_REQUEST_LINE`] bytes from `start` are refused with `too_long`.
fn request_line_end(
    buf: &[u8],
    start: usize,
    end: u8,
    searched: &mut usize,
    too_long: ProtocolError,
) -> Result<Option<usize>, ProtocolError> {
    let from = start + *searched;
    let window = buf.get(from..).unwrap_or_default();
    match window.iter().position(|&b| b == end || b == 0) {
        Some(i) if window[i] == end => {
            *searched = from + i - start;
            Ok(Some(from + i))
        }
        stop => {
            *searched = stop.map_or(buf.len().max(from), |i| from + i) - start;
            if buf.len().saturating_sub(start) > MAX_REQUEST_LINE {
                Err(too_long)
            } else {
                Ok(None)
            }
        }
    }
}

/// Reads the request header (`*<n>` or `$<n>`) at `start` once its CR and the byte after it
/// are buffered: returns the text between the type byte and the CR, and where the next line
/// starts. Redis skips the byte after the CR without looking at it.
fn request_header<'a>(
    buf: &'a [u8],
    start: usize,
    searched: &mut usize,
    too_long: ProtocolError,
) -> Result<Option<(&'a [u8], usize)>, ProtocolError> {
    let Some(cr) = request_line_end(buf, start, b'\r', searched, too_long)? else {
        return Ok(None);
    };
    if buf.len() < cr + 2 {
        return Ok(None);
    }
    Ok(Some((&buf[(start + 1).min(cr)..cr], cr + 2)))
}

/// The length of a bulk header's `text`, checked as Redis checks it: an integer, not negative,
/// within the limits (and for a client that has not authenticated, Redis' default limit first).
fn bulk_len(text: &[u8], limits: &Limits) -> Result<usize, ProtocolError> {
    let len = string2ll(text)
        .and_then(|n| u64::try_from(n).ok())
        .ok_or(ProtocolError::BulkLength)?;
    if len > limits.max_bulk_len {
        let redis_default = Limits::default().max_bulk_len;
        return Err(if limits.is_unauthenticated() && len <= redis_default {
            ProtocolError::UnauthenticatedBulkLength
        } else {
            ProtocolError::BulkLength
        });
    }
    usize::try_from(len).map_err(|_| ProtocolError::BulkLength)
}

/// Scans one reply (RESP2 or RESP3) at the start of `buf`.
pub fn scan_reply(buf: &[u8], limits: &Limits) -> Result<Option<ReplyFrame>, ProtocolError> {
    scan_reply_from(buf, limits, &mut Resume::default())
}

/// [`scan_reply`], resuming where the previous call on the same frame stopped; see
/// [`scan_command_from`].
pub(crate) fn scan_reply_from(
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
            line: 0,
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
                    return Err(ProtocolError::BulkLength);
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
                    return Err(ProtocolError::MultibulkLength);
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

/// Parses the reply header `<type><signed decimal>\r\n` at `start`; returns the number and the
/// offset after CRLF.
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

/// Skips the `len` payload bytes of a reply's bulk string and the CRLF after them; returns the
/// offset after the CRLF.
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

/// Reads a number of a request header as Redis' `string2ll` does: `0`, or an optional `-` and
/// digits not starting with `0`, fewer than 21 characters in all, within `i64`.
pub(crate) fn string2ll(text: &[u8]) -> Option<i64> {
    if text == b"0" {
        return Some(0);
    }
    let digits = text.strip_prefix(b"-").unwrap_or(text);
    if text.len() > 20 || !matches!(digits.first(), Some(b'1'..=b'9')) {
        return None;
    }
    parse_int(text)
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
    use crate::resp::Args;

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

    /// What each input scans to: `Ok(Some(len))` a frame of `len` bytes, `Ok(None)` wait.
    /// Each verdict is Redis 7.0.15's (`tests/tests/hostile.rs` compares them end to end).
    type Verdict = Result<Option<usize>, ProtocolError>;

    fn check(cases: &[(&[u8], Verdict)]) {
        for (input, expected) in cases {
            let got = cmd(input).map(|f| f.map(|f| f.len));
            assert_eq!(&got, expected, "{}", input.escape_ascii());
        }
    }

    #[test]
    fn malformed_commands_are_refused_with_redis_words() {
        use ProtocolError::*;
        check(&[
            (b"*1\r\n:3\r\n", Err(ExpectedBulk { got: b':' })),
            (b"*1\r\n:3", Ok(None)),
            (b"*1\r\n\r\n", Err(ExpectedBulk { got: b'\r' })),
            (b"*1\r\n\xffabc\r\n", Err(ExpectedBulk { got: 0xff })),
            (b"*x\r\n", Err(MultibulkLength)),
            (b"*\r\n", Err(MultibulkLength)),
            (b"*+1\r\n", Err(MultibulkLength)),
            (b"* 1\r\n", Err(MultibulkLength)),
            (b"*1\n$4\r\nPING\r\n", Err(MultibulkLength)),
            (b"*2147483648\r\n", Err(MultibulkLength)),
            (b"*000000000000000000001\r\n", Err(MultibulkLength)),
            (b"*1\r\n$-5\r\n", Err(BulkLength)),
            (b"*1\r\n$-0\r\n", Err(BulkLength)),
            (b"*1\r\n$04\r\nPING\r\n", Err(BulkLength)),
            (b"*1\r\n$536870913\r\n", Err(BulkLength)),
            (b"*2147483647\r\n", Ok(None)),
            (b"*1\r\n$536870912\r\n", Ok(None)),
        ]);
    }

    #[test]
    fn issue_10_a_bulk_length_that_is_not_a_number_is_an_invalid_bulk_length() {
        check(&[(b"*20\r\n$foo\r\n", Err(ProtocolError::BulkLength))]);
    }

    #[test]
    fn issue_18_missing_crlf_after_a_bulk_string_is_skipped_unread_as_redis_does() {
        let buf = b"*1\r\n$4\r\nPINGxx*1\r\n$4\r\nPING\r\n";
        check(&[(buf, Ok(Some(14))), (&buf[14..], Ok(Some(14)))]);
        let args: Vec<&[u8]> = Args::new(&buf[..14], false).collect();
        assert_eq!(args, [b"PING"]);
        // The byte after a header's CR is skipped unread too.
        check(&[
            (b"*1\rX$4\r\nPING\r\n", Ok(Some(14))),
            (b"*1\r\n$4\rXPING\r\n", Ok(Some(14))),
            (b"*1\r", Ok(None)),
        ]);
    }

    #[test]
    fn issue_18_minus_zero_multibulk_count_is_invalid() {
        check(&[(b"*-0\r\nPING\r\n", Err(ProtocolError::MultibulkLength))]);
        // Other negative counts are skipped like `*0`.
        check(&[(b"*-1\r\n", Ok(Some(5))), (b"*-2\r\n", Ok(Some(5)))]);
    }

    #[test]
    fn issue_18_multibulk_count_with_a_leading_zero_is_invalid() {
        check(&[(
            b"*01\r\n$4\r\nPING\r\n",
            Err(ProtocolError::MultibulkLength),
        )]);
    }

    #[test]
    fn issue_18_a_header_without_its_cr_waits_for_64_kib_then_is_too_big() {
        let mut star = b"*".to_vec();
        star.extend(b"1".repeat(40));
        check(&[(&star, Ok(None))]);
        // Once its CR is there, 41 characters are not a number.
        star.extend(b"\r\n");
        check(&[(&star, Err(ProtocolError::MultibulkLength))]);
        // 64 KiB from the `*` are waited on; one byte more is refused.
        let mut star = b"*".to_vec();
        star.extend(b"1".repeat(64 * 1024 - 1));
        check(&[(&star, Ok(None))]);
        star.push(b'1');
        check(&[(&star, Err(ProtocolError::MultibulkCountTooLong))]);
        // The same for an argument's header, counted from its `$`.
        let mut dollar = b"*1\r\n$".to_vec();
        dollar.extend(b"1".repeat(64 * 1024 - 1));
        check(&[(&dollar, Ok(None))]);
        dollar.push(b'1');
        check(&[(&dollar, Err(ProtocolError::BulkCountTooLong))]);
        // A CR already buffered is a line waiting for the byte after it, however long.
        let mut long = b"*".to_vec();
        long.extend(b"1".repeat(70_000));
        long.push(b'\r');
        check(&[(&long, Ok(None))]);
        long.push(b'\n');
        check(&[(&long, Err(ProtocolError::MultibulkLength))]);
    }

    #[test]
    fn issue_18_seventy_thousand_digits_are_a_too_big_mbulk_count_string() {
        let mut star = b"*".to_vec();
        star.extend(b"1".repeat(70_000));
        check(&[(&star, Err(ProtocolError::MultibulkCountTooLong))]);
    }

    #[test]
    fn issue_18_a_nul_before_the_end_of_a_line_hides_that_end_as_in_redis() {
        let inline = b"ECHO a\x00b\r\nPING\r\n";
        check(&[(inline, Ok(None)), (b"\x00\r\n", Ok(None))]);
        check(&[(b"*1\x00\r\n$4\r\nPING\r\n", Ok(None))]);
        check(&[(b"*1\r\n$4\x00\r\nPING\r\n", Ok(None))]);
        // ...until more than 64 KiB are buffered.
        let stuck = [&inline[..], &vec![b'x'; 64 * 1024]].concat();
        check(&[(&stuck, Err(ProtocolError::InlineTooLong))]);
    }

    #[test]
    fn issue_18_an_inline_command_over_64_kib_whose_end_is_buffered_is_accepted() {
        let mut line = b"ECHO ".to_vec();
        line.extend(b"a".repeat(64 * 1024));
        check(&[(&line, Err(ProtocolError::InlineTooLong))]);
        line.extend(b"\r\n");
        check(&[(&line, Ok(Some(line.len())))]);
        assert_eq!(cmd(&line).unwrap().unwrap().argc, 2);
        // 64 KiB without an end wait.
        check(&[(&line[..64 * 1024], Ok(None))]);
    }

    #[test]
    fn unauthenticated_limits_are_refused_with_redis_words_for_them() {
        let unauth = |buf: &[u8]| scan_command(buf, &Limits::UNAUTHENTICATED);
        assert_eq!(
            unauth(b"*11\r\n"),
            Err(ProtocolError::UnauthenticatedMultibulkLength)
        );
        assert_eq!(unauth(b"*10\r\n"), Ok(None));
        assert_eq!(
            unauth(b"*2147483648\r\n"),
            Err(ProtocolError::MultibulkLength)
        );
        assert_eq!(
            unauth(b"*1\r\n$16385\r\n"),
            Err(ProtocolError::UnauthenticatedBulkLength)
        );
        assert_eq!(unauth(b"*1\r\n$16384\r\n"), Ok(None));
        assert_eq!(
            unauth(b"*1\r\n$536870913\r\n"),
            Err(ProtocolError::BulkLength)
        );
    }

    #[test]
    fn a_long_line_arriving_a_byte_at_a_time_is_searched_once() {
        let mut line = b"ECHO ".to_vec();
        line.extend(b"a".repeat(60_000));
        line.extend(b"\r\n");
        let limits = limits();
        let mut resume = Resume::default();
        for end in 1..line.len() {
            assert_eq!(
                scan_command_from(&line[..end], &limits, &mut resume),
                Ok(None)
            );
            assert_eq!(resume.line, end, "searched after {end} bytes");
        }
        let frame = scan_command_from(&line, &limits, &mut resume);
        assert_eq!(frame.unwrap().unwrap().len, line.len());
        assert_eq!(resume, Resume::default());
    }

    #[test]
    fn request_numbers_are_read_as_string2ll_reads_them() {
        for (text, n) in [
            (&b"0"[..], Some(0)),
            (b"7", Some(7)),
            (b"-7", Some(-7)),
            (b"9223372036854775807", Some(i64::MAX)),
            (b"-9223372036854775808", Some(i64::MIN)),
            (b"9223372036854775808", None),
            (b"-0", None),
            (b"01", None),
            (b"+1", None),
            (b"", None),
            (b"-", None),
            (b"1 ", None),
            (b"00000000000000000001", None),
        ] {
            assert_eq!(string2ll(text), n, "{}", text.escape_ascii());
        }
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
