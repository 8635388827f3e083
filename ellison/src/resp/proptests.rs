//! Property tests for the wire format: generated pipelines and reply streams scan back to exactly
//! the frames they were encoded from, however the bytes are split into reads; arbitrary bytes
//! never panic a scanner, the parser or the classifier.
//!
//! The unit tests beside each module pin single cases; these check the invariants of
//! ARCHITECTURE.md over many: a partial frame is `Ok(None)` (never an error), a frame is decided
//! by its own bytes alone (the one exception, a request line over 64 KiB, is beyond what these
//! generate; `scan`'s unit tests pin it), commands written as sloppily as Redis still reads them
//! scan to the same arguments, and `scan`, `args` and `value` agree on where frames end. The
//! coverage-guided fuzz targets in `fuzz/` check the same invariants for much longer.

use bytes::Bytes;
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::Index;

use super::testing::{scan_all, scan_fed, End};
use super::{
    encode, scan_command, scan_reply, value, Args, CommandFrame, Limits, ProtocolError, ReplyFrame,
    Value,
};
use crate::proxy::command::classify;

/// Limits small enough for generated input to cross them.
const TINY: Limits = Limits {
    max_bulk_len: 8,
    max_array_len: 3,
};

/// Streams at most this long are also fed one byte at a time, and every strict prefix of each of
/// their frames is scanned.
const EVERY_BOUNDARY_MAX: usize = 600;

// ---------------------------------------------------------------------------------------------
// Generators

/// Payload bytes, biased toward those that end lines and start frames.
fn payload_byte() -> impl Strategy<Value = u8> {
    prop_oneof![
        3 => any::<u8>(),
        2 => prop::sample::select(b"\r\n*$+-:_,#(!=~>%|0123456789 ".to_vec()),
    ]
}

fn payload(max: usize) -> impl Strategy<Value = Vec<u8>> {
    vec(payload_byte(), 0..max)
}

/// Text of a simple line: anything but CR and LF.
fn line_text() -> impl Strategy<Value = Vec<u8>> {
    vec(payload_byte(), 0..24).prop_map(|mut v| {
        v.retain(|&b| b != b'\r' && b != b'\n');
        v
    })
}

/// One client command as it goes on the wire, with what the scanner and `Args` must report.
#[derive(Debug, Clone)]
struct Cmd {
    bytes: Vec<u8>,
    frame: CommandFrame,
    args: Vec<Vec<u8>>,
}

fn array_cmd() -> impl Strategy<Value = Cmd> {
    vec(payload(40), 1..6).prop_map(|args| {
        let mut out = bytes::BytesMut::new();
        let refs: Vec<&[u8]> = args.iter().map(Vec::as_slice).collect();
        encode::command(&mut out, &refs);
        Cmd {
            frame: CommandFrame {
                len: out.len(),
                argc: args.len(),
                inline: false,
            },
            bytes: out.to_vec(),
            args,
        }
    })
}

/// An array as a sloppy client may write it and Redis still reads it: any byte after each
/// header's CR instead of LF, any two bytes after each payload instead of CRLF (Redis skips
/// them unread).
fn sloppy_array_cmd() -> impl Strategy<Value = Cmd> {
    vec(
        (payload(40), payload_byte(), payload_byte(), payload_byte()),
        1..6,
    )
    .prop_map(|args| {
        let mut bytes = format!("*{}\r", args.len()).into_bytes();
        bytes.push(args[0].1);
        for (arg, after_cr, end1, end2) in &args {
            bytes.extend(format!("${}\r", arg.len()).into_bytes());
            bytes.push(*after_cr);
            bytes.extend_from_slice(arg);
            bytes.extend([*end1, *end2]);
        }
        Cmd {
            frame: CommandFrame {
                len: bytes.len(),
                argc: args.len(),
                inline: false,
            },
            bytes,
            args: args.into_iter().map(|(arg, ..)| arg).collect(),
        }
    })
}

/// C's `isspace`, which separates inline words in Redis.
const BLANKS: &[u8] = b" \t\n\x0b\x0c\r";

/// Inline words: anything but blanks, and but NUL, before which Redis never finds a line's end.
fn inline_word() -> impl Strategy<Value = Vec<u8>> {
    vec(payload_byte(), 1..12).prop_filter_map("all blanks", |mut w| {
        w.retain(|b| !BLANKS.contains(b) && *b != 0);
        (!w.is_empty()).then_some(w)
    })
}

/// Runs of the whitespace that separates inline words (LF alone ends the line).
fn inline_space(min: usize) -> impl Strategy<Value = Vec<u8>> {
    vec(prop::sample::select(b" \t\r\x0c".to_vec()), min..4)
}

fn inline_cmd() -> impl Strategy<Value = Cmd> {
    (
        inline_space(0),
        vec((inline_word(), inline_space(1)), 1..5),
        any::<bool>(),
    )
        .prop_map(|(lead, words, crlf)| {
            let mut bytes = lead;
            let first = words.first().and_then(|(w, _)| w.first()).copied();
            if bytes.is_empty() && first == Some(b'*') {
                // A line starting with `*` is an array header, not an inline command.
                bytes.push(b' ');
            }
            for (i, (word, space)) in words.iter().enumerate() {
                bytes.extend_from_slice(word);
                if i + 1 < words.len() {
                    bytes.extend_from_slice(space);
                }
            }
            bytes.extend_from_slice(if crlf { b"\r\n" } else { b"\n" });
            Cmd {
                frame: CommandFrame {
                    len: bytes.len(),
                    argc: words.len(),
                    inline: true,
                },
                bytes,
                args: words.into_iter().map(|(w, _)| w).collect(),
            }
        })
}

/// Requests Redis skips without a reply: empty and null arrays, blank lines.
fn empty_cmd() -> impl Strategy<Value = Cmd> {
    prop::sample::select(vec![
        (&b"*0\r\n"[..], false),
        (b"*-1\r\n", false),
        (b"\r\n", true),
        (b"\n", true),
        (b" \t \r\n", true),
    ])
    .prop_map(|(bytes, inline)| Cmd {
        bytes: bytes.to_vec(),
        frame: CommandFrame {
            len: bytes.len(),
            argc: 0,
            inline,
        },
        args: Vec::new(),
    })
}

fn command() -> impl Strategy<Value = Cmd> {
    prop_oneof![
        5 => array_cmd(),
        2 => sloppy_array_cmd(),
        3 => inline_cmd(),
        1 => empty_cmd(),
    ]
}

fn pipeline() -> impl Strategy<Value = Vec<Cmd>> {
    vec(command(), 1..10)
}

/// One reply as a server writes it (RESP2 and RESP3).
#[derive(Debug, Clone)]
enum Reply {
    Simple(Vec<u8>),
    Error(Vec<u8>),
    Int(i64),
    Bulk(Vec<u8>),
    NullBulk,
    NullArray,
    Null,
    Double(&'static str),
    Bool(bool),
    BigNumber(String),
    BlobError(Vec<u8>),
    Verbatim(&'static str, Vec<u8>),
    Array(Vec<Reply>),
    Set(Vec<Reply>),
    Push(Vec<Reply>),
    Map(Vec<(Reply, Reply)>),
    /// An attribute and the value it describes.
    Attribute(Vec<(Reply, Reply)>, Box<Reply>),
}

impl Reply {
    fn encode(&self, out: &mut Vec<u8>) {
        fn header(out: &mut Vec<u8>, ty: u8, n: usize) {
            out.push(ty);
            out.extend_from_slice(n.to_string().as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        fn line(out: &mut Vec<u8>, ty: u8, text: &[u8]) {
            out.push(ty);
            out.extend_from_slice(text);
            out.extend_from_slice(b"\r\n");
        }
        fn blob(out: &mut Vec<u8>, ty: u8, body: &[u8]) {
            header(out, ty, body.len());
            out.extend_from_slice(body);
            out.extend_from_slice(b"\r\n");
        }
        match self {
            Reply::Simple(t) => line(out, b'+', t),
            Reply::Error(t) => line(out, b'-', t),
            Reply::Int(i) => line(out, b':', i.to_string().as_bytes()),
            Reply::Bulk(b) => blob(out, b'$', b),
            Reply::NullBulk => out.extend_from_slice(b"$-1\r\n"),
            Reply::NullArray => out.extend_from_slice(b"*-1\r\n"),
            Reply::Null => out.extend_from_slice(b"_\r\n"),
            Reply::Double(d) => line(out, b',', d.as_bytes()),
            Reply::Bool(b) => line(out, b'#', if *b { b"t" } else { b"f" }),
            Reply::BigNumber(n) => line(out, b'(', n.as_bytes()),
            Reply::BlobError(b) => blob(out, b'!', b),
            Reply::Verbatim(format, body) => {
                let mut b = format!("{format}:").into_bytes();
                b.extend_from_slice(body);
                blob(out, b'=', &b);
            }
            Reply::Array(items) | Reply::Set(items) | Reply::Push(items) => {
                let ty = match self {
                    Reply::Array(_) => b'*',
                    Reply::Set(_) => b'~',
                    _ => b'>',
                };
                header(out, ty, items.len());
                for item in items {
                    item.encode(out);
                }
            }
            Reply::Map(pairs) | Reply::Attribute(pairs, _) => {
                let ty = if matches!(self, Reply::Map(_)) {
                    b'%'
                } else {
                    b'|'
                };
                header(out, ty, pairs.len());
                for (k, v) in pairs {
                    k.encode(out);
                    v.encode(out);
                }
                if let Reply::Attribute(_, described) = self {
                    described.encode(out);
                }
            }
        }
    }

    /// The type byte `scan_reply` reports: the outermost one after any attribute.
    fn kind(&self) -> u8 {
        match self {
            Reply::Attribute(_, described) => described.kind(),
            other => {
                let mut out = Vec::new();
                other.encode(&mut out);
                out[0]
            }
        }
    }

    /// What `value::parse` must return: RESP3 shapes flattened onto RESP2 ones.
    fn value(&self) -> Value {
        let text = |t: &[u8]| String::from_utf8_lossy(t).into_owned();
        match self {
            Reply::Simple(t) => Value::Simple(text(t)),
            Reply::Error(t) | Reply::BlobError(t) => Value::Error(text(t)),
            Reply::Int(i) => Value::Int(*i),
            Reply::Bulk(b) | Reply::Verbatim(_, b) => Value::Bulk(Bytes::from(b.clone())),
            Reply::NullBulk | Reply::NullArray | Reply::Null => Value::Nil,
            Reply::Double(d) => Value::Simple((*d).to_owned()),
            Reply::Bool(b) => Value::Simple(if *b { "t" } else { "f" }.to_owned()),
            Reply::BigNumber(n) => Value::Simple(n.clone()),
            Reply::Array(items) | Reply::Set(items) | Reply::Push(items) => {
                Value::Array(items.iter().map(Reply::value).collect())
            }
            Reply::Map(pairs) => Value::Array(
                pairs
                    .iter()
                    .flat_map(|(k, v)| [k.value(), v.value()])
                    .collect(),
            ),
            Reply::Attribute(_, described) => described.value(),
        }
    }
}

/// Integers, small ones more often, and the 19-digit extremes.
fn int() -> impl Strategy<Value = i64> {
    prop_oneof![-1000i64..1000, any::<i64>(), Just(i64::MIN), Just(i64::MAX)]
}

fn reply_leaf() -> impl Strategy<Value = Reply> {
    prop_oneof![
        line_text().prop_map(Reply::Simple),
        line_text().prop_map(Reply::Error),
        int().prop_map(Reply::Int),
        payload(40).prop_map(Reply::Bulk),
        Just(Reply::NullBulk),
        Just(Reply::NullArray),
        Just(Reply::Null),
        prop::sample::select(vec!["3.14", "-1.5e-7", "inf", "-inf", "nan", "10"])
            .prop_map(Reply::Double),
        any::<bool>().prop_map(Reply::Bool),
        "-?[0-9]{1,60}".prop_map(Reply::BigNumber),
        payload(24).prop_map(Reply::BlobError),
        (prop::sample::select(vec!["txt", "mkd"]), payload(24))
            .prop_map(|(f, b)| Reply::Verbatim(f, b)),
    ]
}

fn reply() -> impl Strategy<Value = Reply> {
    reply_leaf().prop_recursive(4, 48, 5, |inner| {
        prop_oneof![
            vec(inner.clone(), 0..5).prop_map(Reply::Array),
            vec(inner.clone(), 0..5).prop_map(Reply::Set),
            vec(inner.clone(), 0..5).prop_map(Reply::Push),
            vec((inner.clone(), inner.clone()), 0..4).prop_map(Reply::Map),
            (vec((inner.clone(), inner.clone()), 0..3), inner)
                .prop_map(|(pairs, described)| Reply::Attribute(pairs, Box::new(described))),
        ]
    })
}

fn reply_stream() -> impl Strategy<Value = Vec<Reply>> {
    vec(reply(), 1..8)
}

/// Up to `n` cut points into a stream, as indexes resolved against its length.
fn cuts(n: usize) -> impl Strategy<Value = Vec<Index>> {
    vec(any::<Index>(), 0..n)
}

// ---------------------------------------------------------------------------------------------
// Helpers

fn cmd(limits: Limits) -> impl Fn(&[u8]) -> Result<Option<CommandFrame>, ProtocolError> {
    move |buf| scan_command(buf, &limits)
}

fn reply_scan(limits: Limits) -> impl Fn(&[u8]) -> Result<Option<ReplyFrame>, ProtocolError> {
    move |buf| scan_reply(buf, &limits)
}

fn cmd_len(f: &CommandFrame) -> usize {
    f.len
}

fn reply_len(f: &ReplyFrame) -> usize {
    f.len
}

fn resolve(cuts: &[Index], len: usize) -> Vec<usize> {
    cuts.iter().map(|i| i.index(len + 1)).collect()
}

/// Checks everything that must hold of any buffer, valid or not: no panic, frames inside the
/// buffer, a frame decided by its own bytes (every strict prefix incomplete, the bytes after it
/// ignored), an error not undone by more bytes, `Args`, `classify` and `value::parse` in
/// agreement with the scanners.
fn check_any(buf: &[u8], limits: Limits) {
    let more: &[u8] = b"\r\n$1\r\nx\r\n";
    let extended = [buf, more].concat();

    // Commands.
    let mut pos = 0;
    loop {
        let rest = &buf[pos..];
        let result = scan_command(rest, &limits);
        match result {
            Ok(Some(frame)) => {
                assert!(frame.len > 0 && frame.len <= rest.len());
                let bytes = &rest[..frame.len];
                assert_eq!(scan_command(bytes, &limits), result, "{bytes:?}");
                assert_eq!(scan_command(&extended[pos..], &limits), result, "{bytes:?}");
                for end in strict_prefixes(frame.len) {
                    assert_eq!(
                        scan_command(&bytes[..end], &limits),
                        Ok(None),
                        "prefix {end} of {bytes:?}"
                    );
                }
                let args: Vec<&[u8]> = Args::new(bytes, frame.inline).collect();
                assert_eq!(args.len(), frame.argc, "{bytes:?}");
                classify(bytes, &frame);
                pos += frame.len;
            }
            Ok(None) => break,
            Err(_) => {
                assert_eq!(scan_command(&extended[pos..], &limits), result, "{rest:?}");
                break;
            }
        }
    }

    // Replies.
    let mut pos = 0;
    loop {
        let rest = &buf[pos..];
        let result = scan_reply(rest, &limits);
        match result {
            Ok(Some(frame)) => {
                assert!(frame.len > 0 && frame.len <= rest.len());
                let bytes = &rest[..frame.len];
                assert_eq!(scan_reply(bytes, &limits), result, "{bytes:?}");
                assert_eq!(scan_reply(&extended[pos..], &limits), result, "{bytes:?}");
                for end in strict_prefixes(frame.len) {
                    assert_eq!(
                        scan_reply(&bytes[..end], &limits),
                        Ok(None),
                        "prefix {end} of {bytes:?}"
                    );
                }
                check_parse_agrees(bytes, frame.len, &limits);
                pos += frame.len;
            }
            Ok(None) => {
                let parsed = value::parse(&Bytes::copy_from_slice(rest), &limits);
                assert_eq!(parsed, Ok(None), "{rest:?}");
                break;
            }
            Err(e) => {
                assert_eq!(scan_reply(&extended[pos..], &limits), result, "{rest:?}");
                let parsed = value::parse(&Bytes::copy_from_slice(rest), &limits);
                assert_eq!(parsed, Err(e), "{rest:?}");
                break;
            }
        }
    }
}

/// Every strict prefix length of a short frame; a sample of them for a long one.
fn strict_prefixes(len: usize) -> Box<dyn Iterator<Item = usize>> {
    if len <= EVERY_BOUNDARY_MAX {
        Box::new(0..len)
    } else {
        Box::new([0, 1, len / 2, len - 2, len - 1].into_iter())
    }
}

/// `value::parse` of one whole frame returns it whole, or refuses what only it looks into: nesting
/// deeper than it recurses, integer text.
fn check_parse_agrees(frame: &[u8], len: usize, limits: &Limits) {
    match value::parse(&Bytes::copy_from_slice(frame), limits) {
        Ok(Some((_, parsed))) => assert_eq!(parsed, len, "{frame:?}"),
        Err(ProtocolError::TooDeep { .. }) => {}
        // The scanner checks shape only: a `:` line that is not an integer is refused here alone.
        Err(ProtocolError::BadLength) if frame.contains(&b':') => {}
        other => panic!("value::parse {other:?} of a whole frame {frame:?}"),
    }
}

// ---------------------------------------------------------------------------------------------
// Properties

proptest! {
    #![proptest_config(ProptestConfig {
        // `PROPTEST_CASES=100000 cargo test --release -p ellison proptests` for a deeper run.
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(192),
        // A failure prints its shrunk input; the fixed regression tests below keep it.
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn command_pipelines_scan_back_to_their_frames_and_arguments(
        cmds in pipeline(),
        cut_points in cuts(12),
    ) {
        let stream: Vec<u8> = cmds.iter().flat_map(|c| c.bytes.clone()).collect();
        let expected: Vec<CommandFrame> = cmds.iter().map(|c| c.frame).collect();
        let limits = Limits::default();

        let (frames, end) = scan_all(&stream, cmd(limits), cmd_len);
        prop_assert_eq!(&frames, &expected);
        prop_assert_eq!(end, End::Incomplete);

        let mut pos = 0;
        for c in &cmds {
            let bytes = &stream[pos..pos + c.frame.len];
            let args: Vec<&[u8]> = Args::new(bytes, c.frame.inline).collect();
            let want: Vec<&[u8]> = c.args.iter().map(Vec::as_slice).collect();
            prop_assert_eq!(args, want);
            for end in strict_prefixes(bytes.len()) {
                prop_assert_eq!(scan_command(&bytes[..end], &limits), Ok(None));
            }
            pos += c.frame.len;
        }

        let (frames, end) = scan_fed(&stream, &resolve(&cut_points, stream.len()), cmd(limits), cmd_len);
        prop_assert_eq!(&frames, &expected);
        prop_assert_eq!(end, End::Incomplete);

        if stream.len() <= EVERY_BOUNDARY_MAX {
            let every: Vec<usize> = (1..stream.len()).collect();
            let (frames, end) = scan_fed(&stream, &every, cmd(limits), cmd_len);
            prop_assert_eq!(&frames, &expected);
            prop_assert_eq!(end, End::Incomplete);
        }
    }

    #[test]
    fn reply_streams_scan_back_to_their_frames_and_values(
        replies in reply_stream(),
        cut_points in cuts(12),
    ) {
        let mut stream = Vec::new();
        let mut expected = Vec::new();
        for r in &replies {
            let start = stream.len();
            r.encode(&mut stream);
            expected.push(ReplyFrame { len: stream.len() - start, kind: r.kind() });
        }
        let limits = Limits::default();

        let (frames, end) = scan_all(&stream, reply_scan(limits), reply_len);
        prop_assert_eq!(&frames, &expected);
        prop_assert_eq!(end, End::Incomplete);

        let shared = Bytes::from(stream.clone());
        let mut pos = 0;
        for (r, f) in replies.iter().zip(&expected) {
            let rest = shared.slice(pos..);
            prop_assert_eq!(value::parse(&rest, &limits), Ok(Some((r.value(), f.len))));
            for end in strict_prefixes(f.len) {
                prop_assert_eq!(scan_reply(&rest[..end], &limits), Ok(None));
            }
            pos += f.len;
        }

        let (frames, end) =
            scan_fed(&stream, &resolve(&cut_points, stream.len()), reply_scan(limits), reply_len);
        prop_assert_eq!(&frames, &expected);
        prop_assert_eq!(end, End::Incomplete);

        if stream.len() <= EVERY_BOUNDARY_MAX {
            let every: Vec<usize> = (1..stream.len()).collect();
            let (frames, end) = scan_fed(&stream, &every, reply_scan(limits), reply_len);
            prop_assert_eq!(&frames, &expected);
            prop_assert_eq!(end, End::Incomplete);
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic_and_frames_stay_inside_them(
        buf in vec(any::<u8>(), 0..300),
    ) {
        check_any(&buf, Limits::default());
        check_any(&buf, TINY);
    }

    #[test]
    fn damaged_streams_never_panic_and_split_reads_agree_with_one_read(
        cmds in pipeline(),
        replies in reply_stream(),
        edits in vec((any::<Index>(), 0u8..3, payload_byte()), 1..4),
        cut_points in cuts(8),
    ) {
        for mut buf in [
            cmds.iter().flat_map(|c| c.bytes.clone()).collect::<Vec<u8>>(),
            replies.iter().fold(Vec::new(), |mut out, r| { r.encode(&mut out); out }),
        ] {
            for (at, op, byte) in &edits {
                let i = at.index(buf.len() + 1);
                match op {
                    0 => buf.insert(i, *byte),
                    1 if i < buf.len() => { buf.remove(i); }
                    _ if i < buf.len() => buf[i] = *byte,
                    _ => buf.push(*byte),
                }
            }
            for limits in [Limits::default(), TINY] {
                check_any(&buf, limits);
                let cut_points = resolve(&cut_points, buf.len());
                prop_assert_eq!(
                    scan_fed(&buf, &cut_points, cmd(limits), cmd_len),
                    scan_all(&buf, cmd(limits), cmd_len)
                );
                let (fed, fed_end) = scan_fed(&buf, &cut_points, reply_scan(limits), reply_len);
                let (whole, whole_end) = scan_all(&buf, reply_scan(limits), reply_len);
                prop_assert_eq!(fed, whole);
                prop_assert_eq!(fed_end.alike(), whole_end.alike());
            }
        }
    }

    #[test]
    fn inline_and_array_forms_of_a_command_classify_alike(
        name in prop::sample::select(vec![
            "AUTH", "SELECT", "HELLO", "CLIENT", "MULTI", "EXEC", "DISCARD", "WATCH", "UNWATCH",
            "RESET", "QUIT", "SUBSCRIBE", "PSUBSCRIBE", "SSUBSCRIBE", "MONITOR", "SYNC", "PSYNC",
            "GET", "PING",
        ]),
        lower in vec(any::<bool>(), 11),
        rest in vec(prop::sample::select(vec![
            "3", "2", "0", "-1", "x", "AUTH", "auth", "SETNAME", "setname", "TRACKING", "on",
            "off", "REPLY", "u", "pw", "99999999999999999999",
        ]), 0..6),
    ) {
        let name: String = name
            .chars()
            .zip(lower.iter().chain(std::iter::repeat(&false)))
            .map(|(c, &l)| if l { c.to_ascii_lowercase() } else { c })
            .collect();
        let words: Vec<&[u8]> = std::iter::once(name.as_bytes())
            .chain(rest.iter().map(|w| w.as_bytes()))
            .collect();
        let mut array = bytes::BytesMut::new();
        encode::command(&mut array, &words);
        let inline = [words.join(&b" "[..]), b"\r\n".to_vec()].concat();
        let limits = Limits::default();
        let array_frame = scan_command(&array, &limits).unwrap().unwrap();
        let inline_frame = scan_command(&inline, &limits).unwrap().unwrap();
        prop_assert_eq!(array_frame.argc, inline_frame.argc);
        prop_assert_eq!(classify(&array, &array_frame), classify(&inline, &inline_frame));
    }
}

// ---------------------------------------------------------------------------------------------
// Regressions found by the properties and the fuzz targets (fixed in 04660d9).

fn tiny_reply(buf: &[u8]) -> Result<Option<ReplyFrame>, ProtocolError> {
    scan_reply(buf, &TINY)
}

#[test]
fn zero_entry_attribute_belongs_to_the_value_after_it() {
    let buf = b"|0\r\n+x\r\n";
    for end in 0..buf.len() {
        assert_eq!(
            scan_reply(&buf[..end], &Limits::default()),
            Ok(None),
            "prefix {end}"
        );
    }
    assert_eq!(
        scan_reply(buf, &Limits::default()),
        Ok(Some(ReplyFrame {
            len: buf.len(),
            kind: b'+'
        }))
    );
}

#[test]
fn zero_entry_attribute_does_not_panic_value_parse() {
    let parse = |b: &'static [u8]| value::parse(&Bytes::from_static(b), &Limits::default());
    assert_eq!(parse(b"|0\r\n"), Ok(None));
    assert_eq!(parse(b"|0\r\n:1\r\n"), Ok(Some((Value::Int(1), 8))));
}

#[test]
fn negative_entry_attribute_does_not_panic_value_parse() {
    let parsed = value::parse(&Bytes::from_static(b"|-1\r\n:1\r\n"), &Limits::default());
    assert!(parsed.is_err(), "{parsed:?}");
}

#[test]
fn over_long_reply_line_is_refused_however_it_is_read() {
    // Nine bytes of line where eight are allowed: refused while the CRLF has not arrived...
    assert_eq!(tiny_reply(b"+123456789"), Err(ProtocolError::LineTooLong));
    // ...so refused when it has, or the verdict would depend on how the bytes were read.
    assert_eq!(
        tiny_reply(b"+123456789\r\n"),
        Err(ProtocolError::LineTooLong)
    );
    // And no strict prefix of a frame that is accepted whole may be an error.
    let whole = b"~1\r\n+1234567\r\n";
    assert!(matches!(tiny_reply(whole), Ok(Some(_))));
    for end in 0..whole.len() {
        assert_eq!(tiny_reply(&whole[..end]), Ok(None), "prefix {end}");
    }
}

#[test]
fn integers_of_nineteen_digits_parse() {
    let parse = |b: &'static [u8]| value::parse(&Bytes::from_static(b), &Limits::default());
    assert_eq!(
        parse(b":9223372036854775807\r\n"),
        Ok(Some((Value::Int(i64::MAX), 22)))
    );
    assert_eq!(
        parse(b":-9223372036854775808\r\n"),
        Ok(Some((Value::Int(i64::MIN), 23)))
    );
    assert_eq!(
        parse(b":1000000000000000000\r\n"),
        Ok(Some((Value::Int(1_000_000_000_000_000_000), 22)))
    );
}
