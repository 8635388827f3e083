//! Inline commands (`SET "a b" 1\r\n`), split exactly as Redis splits them (`sdssplitargs`), so
//! that Ellison can forward them as ordinary arrays and replay what Redis understood.

use super::ProtocolError;

/// C's `isspace`, which Redis uses to skip blanks between arguments.
pub(crate) fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\x0b' | b'\x0c' | b'\r')
}

/// Splits one inline line (without its line feed) into arguments. An empty result is a blank
/// line, which Redis skips without a reply. The line is one that [`super::scan_command`] found:
/// it holds no NUL, since Redis never finds the end of a line with a NUL before it.
pub(crate) fn split(line: &[u8]) -> Result<Vec<Vec<u8>>, ProtocolError> {
    // Redis drops the CR of a CRLF.
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let mut args = Vec::new();
    let mut p = 0;
    loop {
        while p < line.len() && is_space(line[p]) {
            p += 1;
        }
        if p == line.len() {
            return Ok(args);
        }
        let mut current = Vec::new();
        let mut in_double = false;
        let mut in_single = false;
        loop {
            let c = line.get(p).copied();
            let next = line.get(p + 1).copied();
            if in_double {
                match (c, next) {
                    (Some(b'\\'), Some(b'x'))
                        if line.get(p + 2).is_some_and(u8::is_ascii_hexdigit)
                            && line.get(p + 3).is_some_and(u8::is_ascii_hexdigit) =>
                    {
                        let hex = |b: u8| (b as char).to_digit(16).unwrap_or(0) as u8;
                        current.push(hex(line[p + 2]) * 16 + hex(line[p + 3]));
                        p += 3;
                    }
                    (Some(b'\\'), Some(escaped)) => {
                        current.push(match escaped {
                            b'n' => b'\n',
                            b'r' => b'\r',
                            b't' => b'\t',
                            b'b' => b'\x08',
                            b'a' => b'\x07',
                            other => other,
                        });
                        p += 1;
                    }
                    (Some(b'"'), next) => {
                        // A closing quote must be followed by a blank or the end.
                        if next.is_some_and(|n| !is_space(n)) {
                            return Err(ProtocolError::UnbalancedQuotes);
                        }
                        p += 1;
                        break;
                    }
                    (None, _) => return Err(ProtocolError::UnbalancedQuotes),
                    (Some(c), _) => current.push(c),
                }
            } else if in_single {
                match (c, next) {
                    (Some(b'\\'), Some(b'\'')) => {
                        current.push(b'\'');
                        p += 1;
                    }
                    (Some(b'\''), next) => {
                        if next.is_some_and(|n| !is_space(n)) {
                            return Err(ProtocolError::UnbalancedQuotes);
                        }
                        p += 1;
                        break;
                    }
                    (None, _) => return Err(ProtocolError::UnbalancedQuotes),
                    (Some(c), _) => current.push(c),
                }
            } else {
                match c {
                    None | Some(b' ' | b'\n' | b'\r' | b'\t') => break,
                    Some(b'"') => in_double = true,
                    Some(b'\'') => in_single = true,
                    Some(c) => current.push(c),
                }
            }
            p += 1;
        }
        args.push(current);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(line: &[u8], expected: &[&[u8]]) {
        let args = split(line).unwrap();
        let args: Vec<&[u8]> = args.iter().map(Vec::as_slice).collect();
        assert_eq!(args, expected, "{:?}", String::from_utf8_lossy(line));
    }

    #[test]
    fn plain_words_split_on_blanks() {
        check(b"SET a  b\r", &[b"SET", b"a", b"b"]);
        check(b"  \x0b\x0c ", &[]);
        check(b"", &[]);
    }

    #[test]
    fn quotes_and_escapes_follow_redis() {
        check(br#"SET "a b" 'c d'"#, &[b"SET", b"a b", b"c d"]);
        check(br#"SET k "\x41\n\"""#, &[b"SET", b"k", b"A\n\""]);
        check(br#"SET k 'it\'s'"#, &[b"SET", b"k", b"it's"]);
        check(b"SELECT \"2\"", &[b"SELECT", b"2"]);
        check(b"a\x0bb", &[b"a\x0bb"]);
        check(b"ECHO \"\" ''", &[b"ECHO", b"", b""]);
    }

    #[test]
    fn unbalanced_quotes_are_protocol_errors() {
        for line in [&b"SET \"unbalanced 1"[..], b"\"a\"b", b"'x", b"'a'b"] {
            assert_eq!(
                split(line),
                Err(ProtocolError::UnbalancedQuotes),
                "{line:?}"
            );
        }
    }
}
