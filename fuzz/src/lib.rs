//! The invariants the fuzz targets check, shared by all of them: a partial frame is `Ok(None)`,
//! a frame is decided by its own bytes, an error is not undone by more bytes, and `scan`, `args`,
//! `value` and `classify` agree with each other. Every target checks under Redis' default limits
//! and under tiny ones, so that the limit paths are reached with short inputs.
//!
//! One exception, Redis' own: a request line refused for its length (more than 64 KiB buffered
//! without its end, [`is_line_too_long`]) would have been a frame had its end arrived in the
//! same read, so that error may be undone by more bytes, and streams longer than
//! [`SPLIT_INDEPENDENT_MAX`] may scan differently when split. libFuzzer's default `-max_len`
//! (4096) never reaches it.

use bytes::{Bytes, BytesMut};
use ellison::proxy::command::classify;
use ellison::resp::{
    encode, scan_command, scan_reply, value, Args, CommandFrame, Limits, ProtocolError, ReplyFrame,
};

/// Limits small enough for fuzzed input to cross them.
pub const TINY: Limits = Limits {
    max_bulk_len: 8,
    max_array_len: 3,
};

/// Frames at most this long have every strict prefix scanned; longer ones a sample.
const EVERY_PREFIX_MAX: usize = 256;

/// Bytes appended to check that more input does not change a verdict.
const MORE: &[u8] = b"\r\n$1\r\nx\r\n";

/// Streams at most this long scan to the same frames however they are split into reads.
pub const SPLIT_INDEPENDENT_MAX: usize = 64 * 1024;

/// Whether `e` refuses a request line for its length, a verdict on what has arrived so far.
pub fn is_line_too_long(e: &ProtocolError) -> bool {
    matches!(
        e,
        ProtocolError::InlineTooLong
            | ProtocolError::MultibulkCountTooLong
            | ProtocolError::BulkCountTooLong
    )
}

fn strict_prefixes(len: usize) -> Box<dyn Iterator<Item = usize>> {
    if len <= EVERY_PREFIX_MAX {
        Box::new(0..len)
    } else {
        Box::new([0, 1, len / 2, len - 2, len - 1].into_iter())
    }
}

/// Scans `buf` command after command, checking each frame; returns the frames.
pub fn check_commands(buf: &[u8], limits: &Limits) -> Vec<CommandFrame> {
    let mut frames = Vec::new();
    let mut pos = 0;
    loop {
        let rest = &buf[pos..];
        let result = scan_command(rest, limits);
        match result {
            Ok(Some(frame)) => {
                assert!(frame.len > 0 && frame.len <= rest.len(), "{frame:?}");
                let bytes = &rest[..frame.len];
                assert_eq!(scan_command(bytes, limits), result, "{bytes:?}");
                assert_eq!(
                    scan_command(&[rest, MORE].concat(), limits),
                    result,
                    "{bytes:?}"
                );
                for end in strict_prefixes(frame.len) {
                    assert_eq!(
                        scan_command(&bytes[..end], limits),
                        Ok(None),
                        "prefix {end} of {bytes:?}"
                    );
                }
                let args: Vec<&[u8]> = Args::new(bytes, frame.inline).collect();
                assert_eq!(args.len(), frame.argc, "{bytes:?}");
                pos += frame.len;
                frames.push(frame);
            }
            Ok(None) => return frames,
            Err(e) if is_line_too_long(&e) => return frames,
            Err(_) => {
                assert_eq!(
                    scan_command(&[rest, MORE].concat(), limits),
                    result,
                    "{rest:?}"
                );
                return frames;
            }
        }
    }
}

/// Scans `buf` reply after reply, checking each frame and `value::parse` against it.
pub fn check_replies(buf: &[u8], limits: &Limits) -> Vec<ReplyFrame> {
    let mut frames = Vec::new();
    let mut pos = 0;
    loop {
        let rest = &buf[pos..];
        let result = scan_reply(rest, limits);
        match result {
            Ok(Some(frame)) => {
                assert!(frame.len > 0 && frame.len <= rest.len(), "{frame:?}");
                let bytes = &rest[..frame.len];
                assert_eq!(scan_reply(bytes, limits), result, "{bytes:?}");
                assert_eq!(
                    scan_reply(&[rest, MORE].concat(), limits),
                    result,
                    "{bytes:?}"
                );
                for end in strict_prefixes(frame.len) {
                    assert_eq!(
                        scan_reply(&bytes[..end], limits),
                        Ok(None),
                        "prefix {end} of {bytes:?}"
                    );
                }
                if bytes[0] != b'|' {
                    assert_eq!(frame.kind, bytes[0], "{bytes:?}");
                }
                match value::parse(&Bytes::copy_from_slice(bytes), limits) {
                    Ok(Some((_, len))) => assert_eq!(len, frame.len, "{bytes:?}"),
                    // Only the parser looks at integer text and recurses.
                    Err(ProtocolError::BadLength) if bytes.contains(&b':') => {}
                    Err(ProtocolError::TooDeep { .. }) => {}
                    other => panic!("value::parse {other:?} of a whole frame {bytes:?}"),
                }
                pos += frame.len;
                frames.push(frame);
            }
            Ok(None) => {
                let parsed = value::parse(&Bytes::copy_from_slice(rest), limits);
                assert_eq!(parsed, Ok(None), "{rest:?}");
                return frames;
            }
            Err(e) => {
                assert_eq!(
                    scan_reply(&[rest, MORE].concat(), limits),
                    result,
                    "{rest:?}"
                );
                let parsed = value::parse(&Bytes::copy_from_slice(rest), limits);
                assert_eq!(parsed, Err(e), "{rest:?}");
                return frames;
            }
        }
    }
}

/// Classifies every whole command in `buf` as a session does, and checks that the same
/// arguments sent as an array of bulk strings (how `encode` writes them) mean the same.
pub fn check_classify(buf: &[u8], limits: &Limits) {
    let mut pos = 0;
    while let Ok(Some(frame)) = scan_command(&buf[pos..], limits) {
        let bytes = &buf[pos..pos + frame.len];
        pos += frame.len;
        let effect = classify(bytes, &frame);
        let args: Vec<&[u8]> = Args::new(bytes, frame.inline).collect();
        if args.is_empty() {
            continue;
        }
        let mut array = BytesMut::new();
        encode::command(&mut array, &args);
        let again = scan_command(&array, &Limits::default())
            .expect("encoded arguments scan")
            .expect("encoded arguments are whole");
        assert_eq!(again.len, array.len());
        let again_args: Vec<&[u8]> = Args::new(&array, false).collect();
        assert_eq!(again_args, args);
        assert_eq!(classify(&array, &again), effect, "{bytes:?}");
    }
}
