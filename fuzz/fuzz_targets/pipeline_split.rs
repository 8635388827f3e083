//! One stream read in pieces must scan to the same frames, and end the same way, as the stream
//! read at once. Input: a flags byte (bit 0: replies rather than commands; bit 1: tiny limits),
//! a byte `n`, then `n % 16` big-endian `u16` cut points (taken modulo the stream length), then
//! the stream. Streams of at most 256 bytes are also fed one byte at a time. Commands longer
//! than `SPLIT_INDEPENDENT_MAX` are not compared: a line over 64 KiB is judged on what has
//! arrived, as in Redis.
#![no_main]

use ellison::resp::testing::{scan_all, scan_fed, End};
use ellison::resp::{scan_command, scan_reply, Limits};
use ellison_fuzz::{SPLIT_INDEPENDENT_MAX, TINY};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let [flags, n, rest @ ..] = data else {
        return;
    };
    let n = usize::from(*n % 16);
    if rest.len() < 2 * n {
        return;
    }
    let (cut_bytes, stream) = rest.split_at(2 * n);
    let cuts: Vec<usize> = cut_bytes
        .chunks_exact(2)
        .map(|c| usize::from(u16::from_be_bytes([c[0], c[1]])) % (stream.len() + 1))
        .collect();
    let every: Vec<usize> = if stream.len() <= 256 {
        (1..stream.len()).collect()
    } else {
        Vec::new()
    };
    let limits = if flags & 2 == 0 {
        Limits::default()
    } else {
        TINY
    };
    if flags & 1 == 0 {
        if stream.len() > SPLIT_INDEPENDENT_MAX {
            return;
        }
        let scan = |b: &[u8]| scan_command(b, &limits);
        let len = |f: &ellison::resp::CommandFrame| f.len;
        let whole = scan_all(stream, scan, len);
        assert_eq!(scan_fed(stream, &cuts, scan, len), whole, "cuts {cuts:?}");
        if !every.is_empty() {
            assert_eq!(scan_fed(stream, &every, scan, len), whole, "byte by byte");
        }
    } else {
        let scan = |b: &[u8]| scan_reply(b, &limits);
        let len = |f: &ellison::resp::ReplyFrame| f.len;
        // Error kinds compared with `End::alike`: see there.
        let alike = |(frames, end): (Vec<_>, End)| (frames, end.alike());
        let whole = alike(scan_all(stream, scan, len));
        assert_eq!(
            alike(scan_fed(stream, &cuts, scan, len)),
            whole,
            "cuts {cuts:?}"
        );
        if !every.is_empty() {
            assert_eq!(
                alike(scan_fed(stream, &every, scan, len)),
                whole,
                "byte by byte"
            );
        }
    }
});
