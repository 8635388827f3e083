//! Test support for the wire format, shared by the property tests (`proptests.rs`) and the fuzz
//! crate (`fuzz/`, through the `test-support` feature): a stream scanned frame after frame, as
//! read at once or fed in reads, to compare the two. Not part of the proxy.

use super::ProtocolError;

/// How a scan over a buffer ended after its frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// Nothing left, or only part of a frame.
    Incomplete,
    /// The scanner refused the bytes after the frames.
    Error(ProtocolError),
}

impl End {
    /// The end with one difference allowed for replies: a line over the limit that ends in a
    /// bare LF is `LineTooLong` while the LF has not arrived and `MissingCrlf` once it has.
    /// Refused either way; only the message differs.
    pub fn alike(self) -> End {
        match self {
            End::Error(ProtocolError::MissingCrlf) => End::Error(ProtocolError::LineTooLong),
            other => other,
        }
    }
}

/// Scans frame after frame as a session does on one read, stopping at the first partial frame
/// or error.
pub fn scan_all<F: Copy>(
    buf: &[u8],
    scan: impl Fn(&[u8]) -> Result<Option<F>, ProtocolError>,
    len: impl Fn(&F) -> usize,
) -> (Vec<F>, End) {
    scan_fed(buf, &[], scan, len)
}

/// Feeds `buf` in reads ending at `cuts` (sorted and deduplicated here; cuts at or past the end
/// ignored) and scans after every read, as a session does.
///
/// # Panics
///
/// When `scan` returns a frame that is empty or reaches past the bytes read so far.
pub fn scan_fed<F: Copy>(
    buf: &[u8],
    cuts: &[usize],
    scan: impl Fn(&[u8]) -> Result<Option<F>, ProtocolError>,
    len: impl Fn(&F) -> usize,
) -> (Vec<F>, End) {
    let mut ends: Vec<usize> = cuts.iter().copied().filter(|&c| c < buf.len()).collect();
    ends.push(buf.len());
    ends.sort_unstable();
    ends.dedup();
    let mut frames = Vec::new();
    let mut pos = 0;
    for end in ends {
        loop {
            match scan(&buf[pos..end]) {
                Ok(Some(frame)) => {
                    let n = len(&frame);
                    assert!(n > 0 && pos + n <= end, "frame past the bytes read");
                    pos += n;
                    frames.push(frame);
                }
                Ok(None) => break,
                Err(e) => return (frames, End::Error(e)),
            }
        }
    }
    (frames, End::Incomplete)
}
