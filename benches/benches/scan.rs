//! Micro-benchmarks of the session's per-command work on realistic buffers: finding frame
//! boundaries (`resp::scan_command`, `resp::scan_reply`) and classifying commands
//! (`proxy::command::classify`).
//!
//! ```sh
//! cargo bench -p ellison-benches --bench scan
//! ```
//!
//! Each buffer is benchmarked twice, once with bytes and once with frames as the throughput
//! unit, so criterion reports both GB/s and frames/s.

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use ellison::proxy::command::{classify, Effect};
use ellison::resp::{scan_command, scan_reply, CommandFrame, Limits};

/// A RESP array of bulk strings, as clients send commands.
fn command(args: &[&[u8]]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
    out
}

fn bulk(value: &[u8]) -> Vec<u8> {
    let mut out = format!("${}\r\n", value.len()).into_bytes();
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
    out
}

/// `count` pipelined `SET key:<n> <size bytes>`, as `redis-benchmark -P 16 -t set` sends them.
fn set_pipeline(count: usize, size: usize) -> Vec<u8> {
    let value = vec![b'x'; size];
    (0..count)
        .flat_map(|i| command(&[b"SET", format!("key:{i:012}").as_bytes(), &value]))
        .collect()
}

/// `count` replies to pipelined GETs of `size`-byte values.
fn get_replies(count: usize, size: usize) -> Vec<u8> {
    let value = vec![b'x'; size];
    (0..count).flat_map(|_| bulk(&value)).collect()
}

/// One `LRANGE`-style reply: an array of `count` short bulk strings.
fn array_reply(count: usize) -> Vec<u8> {
    let mut out = format!("*{count}\r\n").into_bytes();
    for i in 0..count {
        out.extend(bulk(format!("item:{i:08}").as_bytes()));
    }
    out
}

/// Scans every command in `buf`; returns how many.
fn scan_all_commands(buf: &[u8], limits: &Limits) -> usize {
    let mut pos = 0;
    let mut n = 0;
    while let Ok(Some(frame)) = scan_command(&buf[pos..], limits) {
        pos += frame.len;
        n += 1;
    }
    n
}

/// Scans every reply in `buf`; returns how many.
fn scan_all_replies(buf: &[u8]) -> usize {
    let mut pos = 0;
    let mut n = 0;
    while let Ok(Some(frame)) = scan_reply(&buf[pos..], &Limits::REPLIES) {
        pos += frame.len;
        n += 1;
    }
    n
}

fn scanners(c: &mut Criterion) {
    let limits = Limits::default();
    let commands = [
        ("16 SET 32 B", set_pipeline(16, 32), 16u64),
        ("16 SET 4 KiB", set_pipeline(16, 4096), 16),
    ];
    let replies = [
        ("64 GET replies 32 B", get_replies(64, 32), 64u64),
        ("64 GET replies 4 KiB", get_replies(64, 4096), 64),
        ("array of 1000", array_reply(1000), 1001),
    ];
    for (unit, bytes) in [("bytes", true), ("frames", false)] {
        let mut group = c.benchmark_group(format!("scan_command/{unit}"));
        for (name, buf, frames) in &commands {
            assert_eq!(scan_all_commands(buf, &limits) as u64, *frames);
            group.throughput(if bytes {
                Throughput::Bytes(buf.len() as u64)
            } else {
                Throughput::Elements(*frames)
            });
            group.bench_with_input(BenchmarkId::from_parameter(name), buf, |b, buf| {
                b.iter(|| scan_all_commands(black_box(buf), &limits))
            });
        }
        group.finish();
        let mut group = c.benchmark_group(format!("scan_reply/{unit}"));
        for (name, buf, elements) in &replies {
            // An array is one frame of `elements` values; count its values as elements.
            group.throughput(if bytes {
                Throughput::Bytes(buf.len() as u64)
            } else {
                Throughput::Elements(*elements)
            });
            group.bench_with_input(BenchmarkId::from_parameter(name), buf, |b, buf| {
                b.iter(|| scan_all_replies(black_box(buf)))
            });
        }
        group.finish();
    }
}

fn classifier(c: &mut Criterion) {
    let value = vec![b'x'; 32];
    let typical: Vec<(&str, Vec<u8>)> = vec![
        ("GET", command(&[b"GET", b"key:000000001234"])),
        ("SET", command(&[b"SET", b"key:000000001234", &value])),
        ("HGET", command(&[b"HGET", b"zc:k:4f2_CONFIG", b"d"])),
        (
            "EVAL",
            command(&[
                b"EVAL",
                b"return redis.call('HGET', KEYS[1], 'm')",
                b"1",
                b"k",
            ]),
        ),
        ("SELECT 2", command(&[b"SELECT", b"2"])),
        ("AUTH", command(&[b"AUTH", b"app", b"secret"])),
        (
            "CLIENT SETNAME",
            command(&[b"CLIENT", b"SETNAME", b"php-fpm"]),
        ),
        ("MULTI", command(&[b"MULTI"])),
        ("inline PING", b"PING\r\n".to_vec()),
    ];
    let frames: Vec<(&str, Vec<u8>, CommandFrame)> = typical
        .into_iter()
        .map(|(name, bytes)| {
            let frame = scan_command(&bytes, &Limits::default())
                .ok()
                .flatten()
                .unwrap_or_else(|| panic!("{name} is a whole frame"));
            (name, bytes, frame)
        })
        .collect();
    let mut group = c.benchmark_group("classify");
    group.throughput(Throughput::Elements(1));
    for (name, bytes, frame) in &frames {
        group.bench_with_input(BenchmarkId::from_parameter(name), bytes, |b, bytes| {
            b.iter(|| classify(black_box(bytes), black_box(frame)))
        });
    }
    group.finish();
    // The mix a session sees: mostly data commands, a few stateful ones.
    let mut group = c.benchmark_group("scan_and_classify");
    let pipeline: Vec<u8> = frames.iter().flat_map(|(_, b, _)| b.clone()).collect();
    group.throughput(Throughput::Elements(frames.len() as u64));
    group.bench_function("9 typical commands", |b| {
        b.iter(|| {
            let buf = black_box(&pipeline[..]);
            let limits = Limits::default();
            let mut pos = 0;
            let mut stateful = 0;
            while let Ok(Some(frame)) = scan_command(&buf[pos..], &limits) {
                if classify(&buf[pos..pos + frame.len], &frame) != Effect::None {
                    stateful += 1;
                }
                pos += frame.len;
            }
            stateful
        })
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(50);
    targets = scanners, classifier
}
criterion_main!(benches);
