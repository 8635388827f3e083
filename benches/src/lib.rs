//! End-to-end benchmark harness for Ellison: the same load through direct Redis, Ellison (in
//! session and in multiplex mode), HAProxy and twemproxy, interleaved round by round, reported
//! as ratios to direct.
//!
//! Layout:
//! - [`error`]: the [`Error`] type.
//! - [`procs`]: readings from `/proc` (CPU time, RSS) and the load client's CPU time; the
//!   file-descriptor limit; tool lookup.
//! - [`endpoints`]: the five endpoints, their configuration files and readiness checks; the
//!   processes the harness starts itself (Ellison, HAProxy, twemproxy) are
//!   [`ellison_e2e::Proc`]s, stopped by PID.
//! - [`throughput`]: the `redis-benchmark` cells and the interleaved rounds.
//! - [`load`]: the harness's own load clients: paced (for latency at a fixed rate) and
//!   closed-loop scripted requests (Magento's pipelined transactions and its sessions).
//! - [`idle`]: memory per idle client connection, and the connections Redis sees meanwhile.
//! - [`failover`]: time from a replica's promotion to the first write it acknowledges through
//!   an endpoint, and the errors clients saw.
//! - [`replicas`]: reads on the master versus reads through Ellison's replica listener, with
//!   the CPU per command of the master, each replica and Ellison, and where the reads landed.
//! - [`report`]: medians, percentiles and Markdown tables.
//!
//! Redis and Sentinel processes come from the end-to-end crate (`ellison-e2e`): its
//! [`ellison_e2e::SentinelGroup`] starts them robustly and stops them by PID. The Ellison under
//! test is the release binary, a separate process, so that its CPU time and RSS can be read
//! from `/proc` like HAProxy's.
//!
//! Benchmarks are not tests: nothing here fails on a timing; a phase that cannot run reports
//! why and the harness goes on with the next.

pub mod endpoints;
pub mod error;
pub mod failover;
pub mod idle;
pub mod load;
pub mod procs;
pub mod replicas;
pub mod report;
pub mod throughput;

pub use error::{Error, Result};

use std::future::Future;
use std::process::ExitCode;

/// Runs a harness binary's `run` on a one-thread runtime, which every harness uses: each child
/// is spawned from the main thread (its parent-death signal follows that thread), and the
/// harness's own load clients run on one thread like `redis-benchmark`. Errors are printed
/// after the binary's `name`.
pub fn main_with<F: Future<Output = Result<()>>>(name: &str, run: F) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("{name}: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{name}: {e}");
            ExitCode::FAILURE
        }
    }
}
