//! The `ellison` binary: parse the configuration (exit 64 if it is bad), set up logging with a
//! reloadable filter, bind, serve; SIGHUP reloads the configuration, SIGTERM or SIGINT drains
//! (a second SIGINT exits at once), and the process exits 0 once drained.

use std::process::ExitCode;

use clap::Parser;
use ellison::config::Cli;
use ellison::shutdown::{Request, Signals};
use tracing::{error, info, warn};

/// `EX_USAGE` from sysexits.h: bad flags or configuration.
const EXIT_CONFIG: u8 = 64;
/// The conventional status of a process ended by SIGINT (128 + 2), for the second SIGINT.
const EXIT_INTERRUPTED: i32 = 130;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // --help and --version land here too, and are not errors.
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::from(EXIT_CONFIG)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    let config = match cli.load() {
        Ok(config) => config,
        Err(e) => {
            eprintln!("ellison: invalid configuration: {e}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    if cli.check_config {
        print!("{config}");
        println!("configuration is valid");
        return ExitCode::SUCCESS;
    }
    let log_reload = match ellison::logging::init(config.log_format, &config.log) {
        Ok(reload) => reload,
        Err(e) => {
            eprintln!("ellison: invalid configuration: log: {e}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    info!(
        version = ellison::VERSION,
        pid = std::process::id(),
        "ellison starting"
    );
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
        // Before anything else, so that no signal meets its default action (SIGHUP's ends the
        // process) while Ellison starts.
        let mut signals = match Signals::install() {
            Ok(signals) => signals,
            Err(e) => {
                error!(error = %e, "cannot install signal handlers");
                return ExitCode::FAILURE;
            }
        };
        let server = match ellison::Server::bind(config).await {
            Ok(server) => server,
            Err(e) => {
                error!(error = %e, "cannot start");
                return ExitCode::FAILURE;
            }
        };
        let control = server.control();
        control.set_log_reload(log_reload);
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            let mut stop = Some(stop_tx);
            loop {
                match signals.next().await {
                    Request::Reload => {
                        info!("SIGHUP received; reloading the configuration");
                        let _ = control.reload(cli.load());
                    }
                    Request::Drain(name) => match stop.take() {
                        Some(stop) => {
                            if name == "SIGINT" {
                                info!("SIGINT received; draining (a second SIGINT exits at once)");
                            } else {
                                info!("{name} received; draining");
                            }
                            let _ = stop.send(());
                        }
                        None => info!("{name} received; already draining"),
                    },
                    Request::Exit => {
                        warn!("second SIGINT received; exiting without waiting for sessions");
                        std::process::exit(EXIT_INTERRUPTED);
                    }
                }
            }
        });
        server
            .run(async {
                let _ = stop_rx.await;
            })
            .await;
        info!("stopped");
        ExitCode::SUCCESS
    })
}
