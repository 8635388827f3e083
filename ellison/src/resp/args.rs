//! Walks the arguments of one whole command frame, for the few commands whose arguments the
//! session must see (AUTH, SELECT, HELLO, CLIENT ...).

use super::inline::is_space;
use super::scan::string2ll;

/// The arguments of a command frame already validated by [`super::scan_command`].
#[derive(Debug, Clone)]
pub struct Args<'a> {
    rest: &'a [u8],
    inline: bool,
}

impl<'a> Args<'a> {
    /// `frame` must be exactly one frame as returned by [`super::scan_command`]. Inline frames
    /// yield their raw blank-separated words; `inline::split` resolves quotes as Redis
    /// does, and the session forwards inline commands as arrays built from it.
    pub fn new(frame: &'a [u8], inline: bool) -> Self {
        let rest = if inline {
            frame
        } else {
            // Skip the `*<n>` header, its CR and the byte after it, which Redis skips unread.
            match frame.iter().position(|&b| b == b'\r') {
                Some(cr) => frame.get(cr + 2..).unwrap_or_default(),
                None => &[],
            }
        };
        Args { rest, inline }
    }
}

impl<'a> Iterator for Args<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        if self.inline {
            let start = self.rest.iter().position(|&b| !is_space(b))?;
            let word = &self.rest[start..];
            let end = word.iter().position(|&b| is_space(b)).unwrap_or(word.len());
            self.rest = &word[end..];
            return Some(&word[..end]);
        }
        // `$<len>\r?<payload>??`: as the scanner read it, the byte after the header's CR and the
        // two after the payload are skipped unread (they are `\n` and `\r\n` from any client).
        let cr = self.rest.iter().position(|&b| b == b'\r')?;
        let len = usize::try_from(string2ll(self.rest.get(1..cr)?)?).ok()?;
        let body = self.rest.get(cr + 2..cr + 2 + len)?;
        self.rest = self.rest.get(cr + 4 + len..).unwrap_or_default();
        Some(body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn array_arguments_come_out_in_order() {
        let frame = b"*3\r\n$5\r\nHELLO\r\n$1\r\n3\r\n$0\r\n\r\n";
        let args: Vec<&[u8]> = Args::new(frame, false).collect();
        assert_eq!(args, vec![&b"HELLO"[..], b"3", b""]);
    }

    #[test]
    fn binary_payloads_with_crlf_inside_are_kept_whole() {
        let frame = b"*2\r\n$3\r\nSET\r\n$4\r\na\r\nb\r\n";
        let args: Vec<&[u8]> = Args::new(frame, false).collect();
        assert_eq!(args, vec![&b"SET"[..], b"a\r\nb"]);
    }

    #[test]
    fn arguments_are_walked_as_redis_reads_them_whatever_follows_each_cr_and_payload() {
        let frame = b"*2\rX$4\r\nPINGxx$1\r?axx";
        let args: Vec<&[u8]> = Args::new(frame, false).collect();
        assert_eq!(args, vec![&b"PING"[..], b"a"]);
    }

    #[test]
    fn inline_arguments_split_on_whitespace() {
        let args: Vec<&[u8]> = Args::new(b"  select   2 \r\n", true).collect();
        assert_eq!(args, vec![&b"select"[..], b"2"]);
    }
}
