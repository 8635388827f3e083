//! The `ellison` binary: parse the configuration (exit 64 if it is bad), set up logging, serve
//! until SIGTERM or SIGINT.

use std::process::ExitCode;

use clap::Parser;
use ellison::config::{Cli, LogFormat};
use tracing::{error, info};
use tracing_subscriber::EnvFilter;

/// `EX_CONFIG` from sysexits.h: the configuration is unusable.
const EXIT_CONFIG: u8 = 64;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = match cli.load() {
        Ok(config) => config,
        Err(e) => {
            eprintln!("ellison: invalid configuration: {e}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    if cli.check_config {
        for group in &config.groups {
            println!(
                "group {:?}: listen {}, master name {:?}, {} sentinel(s)",
                group.name,
                group.listen,
                group.master_name,
                group.sentinels.len()
            );
        }
        println!("configuration is valid");
        return ExitCode::SUCCESS;
    }
    init_tracing(config.log_format);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            error!(error = %e, "cannot start the runtime");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async {
        let server = match ellison::Server::bind(config).await {
            Ok(server) => server,
            Err(e) => {
                error!(error = %e, "cannot start");
                return ExitCode::FAILURE;
            }
        };
        server.run(shutdown_signal()).await;
        info!("stopped");
        ExitCode::SUCCESS
    })
}

fn init_tracing(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    match format {
        LogFormat::Plain => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = match signal(SignalKind::terminate()) {
        Ok(s) => s,
        Err(e) => {
            error!(error = %e, "cannot listen for SIGTERM");
            return std::future::pending().await;
        }
    };
    tokio::select! {
        _ = term.recv() => info!("SIGTERM received; shutting down"),
        _ = tokio::signal::ctrl_c() => info!("SIGINT received; shutting down"),
    }
}
