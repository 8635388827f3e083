//! End-to-end harness for Ellison: real `redis-server` and `redis-sentinel` processes on loopback.
//!
//! Layout:
//! - [`redis`]: the [`RedisNode`] type, one `redis-server` with its config and log.
//! - [`group`]: [`SentinelGroup`], a master, replicas and Sentinels, with
//!   waits for failover, roles and convergence.
//! - [`sentinel`]: the Sentinel processes, and [`RogueSentinel`], a lone
//!   Sentinel with a wrong view of the same master name.
//! - [`resp`]: a small RESP client with a deadline on every round trip, and
//!   [`raw_roundtrip`] for tests that need exact bytes.
//! - [`binary`]: [`EllisonBinary`], the real `ellison` binary as a child process, its log
//!   lines waited on.
//! - [`tls`]: a test PKI, TLS-only Redis and Sentinel configs, and the harness' TLS clients.
//! - [`transparency`]: scripted conversations run against Redis and through
//!   Ellison, compared byte for byte.
//! - [`differential`]: seeded random conversations over every command family, run
//!   the same way, and the list of differences still open.
//! - [`web`]: [`Store`], php-fpm and nginx serving the Magento-like store page of
//!   `tests/fixtures/php/` (phpredis), with the harness's own minimal configurations.
//! - [`http_load`]: [`HttpLoad`], an HTTP/1.1 load generator at a fixed rate, bounded in
//!   requests and time, recording each request's status, latency and time.
//! - [`store`]: the store page through a failover: [`store::run_trial`] and its figures.
//! - [`netns`]: [`Net`], test hosts as network namespaces on a private bridge, cut
//!   apart and healed with nftables; the harness reaches them from the net's observer host.
//! - [`partition`]: a Sentinel group, Ellison and writers on test hosts, and the partition
//!   scenarios run against them, with their figures ([`partition::Figures`]).
//! - `process`: [`Proc`] (spawning, signalling by PID, reaping), ports, log tails.
//! - `wait`: [`eventually`], the one way the harness and the tests await a condition.
//! - [`error`]: the [`HarnessError`] type.
//!
//! Invariants: every process the harness starts is ended by PID (SIGCONT then
//! SIGKILL, then reaped) when its owner is dropped, and is also started with a
//! parent-death signal; every wait goes through [`eventually`]: it has a deadline, polls a
//! condition (never a fixed sleep), and on timeout reports what it awaited, what it saw last
//! and the tail of the logs involved.
//!
//! Linux delivers the parent-death signal when the *thread* that spawned a
//! process exits: create groups and nodes from the test's own task (as
//! `#[tokio::test]` does), not from a `spawn_blocking` thread or a shared
//! static initialised by another test. Set [`KEEP_DIRS_ENV`] to keep a
//! group's directory after the test for inspection.
//!
//! Modes: `scripts/test.sh` runs this crate's tests twice, the second time with
//! `ELLISON_MODE=multiplex` in the environment, which every Ellison the harness starts reads as
//! its `--mode` (in-process and binaries alike). Tests whose expectations differ by mode ask
//! [`multiplexed`]; README's list of multiplex-mode differences is what they allow.

pub mod binary;
pub mod differential;
pub mod error;
pub mod group;
pub mod http_load;
pub mod netns;
pub mod partition;
mod process;
pub mod proxy;
pub mod redis;
pub mod resp;
pub mod sentinel;
pub mod store;
pub mod tls;
pub mod transparency;
mod wait;
pub mod web;
pub mod workload;

pub use binary::EllisonBinary;
pub use error::{HarnessError, Result};

/// Whether this run's Ellisons are in multiplex mode (`ELLISON_MODE=multiplex`).
pub fn multiplexed() -> bool {
    std::env::var("ELLISON_MODE").is_ok_and(|m| m.eq_ignore_ascii_case("multiplex"))
}
pub use group::{GroupHosts, GroupOptions, SentinelGroup, KEEP_DIRS_ENV};
pub use http_load::{HttpLoad, LoadOptions};
pub use netns::{Host, Net};
pub use process::{free_port, log_tail, Proc, REDIS_SERVER_ENV};
pub use proxy::{http_get, wait_http, Proxy};
pub use redis::RedisNode;
pub use resp::{command, command_with, raw_roundtrip, Auth, RespClient, Value};
pub use sentinel::RogueSentinel;
pub use store::{FailoverMode, TrialOptions};
pub use tls::{CertFiles, ServerTls, TestPki, TlsClient};
pub use wait::eventually;
pub use web::{Store, StoreOptions};
pub use workload::{Workload, WorkloadOptions};
