//! The command line: the flags that only it has (the file, the single group it can define, the
//! log format, `--check-config`) and every [`Settings`] flattened in. Each flag can also be set
//! through the `ELLISON_*` variable named beside it; its doc comment is its `--help`.

use std::path::PathBuf;

use clap::Parser;

use super::file::{read_file, FileConfig};
use super::settings::Settings;
use super::{Config, ConfigError, LogFormat};

/// Command line. Each flag can also be set through the environment variable named beside it.
#[derive(Debug, Parser)]
#[command(
    name = "ellison",
    version,
    about = "A Sentinel-aware Redis proxy",
    long_about = None
)]
pub struct Cli {
    /// TOML file describing one or more groups (see ellison/ellison.example.toml). Flags and
    /// environment variables override the file's top-level settings; `[[groups]]` keys
    /// override both. Re-read on SIGHUP.
    #[arg(long, env = "ELLISON_CONFIG")]
    pub config: Option<PathBuf>,

    /// Address clients connect to, as they would to the Redis master.
    #[arg(long, env = "ELLISON_LISTEN")]
    pub(crate) listen: Option<String>,

    /// Name of the master as the Sentinels monitor it (`sentinel monitor <name> ...`).
    #[arg(long, env = "ELLISON_MASTER_NAME")]
    pub(crate) master_name: Option<String>,

    /// Comma-separated Sentinel addresses (`host:port`); hostnames are resolved again on every
    /// reconnect. Further Sentinels are discovered from these.
    #[arg(long, env = "ELLISON_SENTINELS", value_delimiter = ',')]
    pub(crate) sentinels: Vec<String>,

    /// The settings that the file's top level gives too.
    #[command(flatten)]
    pub(crate) settings: Settings,

    /// Log format.
    #[arg(long, env = "ELLISON_LOG_FORMAT", value_enum, default_value_t = LogFormat::Plain)]
    pub(crate) log_format: LogFormat,

    /// Validate the configuration, print a summary and exit (0 if valid, 64 if not).
    #[arg(long)]
    pub check_config: bool,
}

impl Cli {
    /// Reads the file named by `--config`, if any, and merges it with the flags.
    pub fn load(&self) -> Result<Config, ConfigError> {
        let file = match &self.config {
            Some(path) => Some(read_file(path)?),
            None => None,
        };
        self.resolve(file.unwrap_or_default())
    }

    /// Merges the flags over a parsed file and validates the result. `RUST_LOG` is read for
    /// the log filter when neither `--log` nor the file's `log` gives one.
    pub(crate) fn resolve(&self, file: FileConfig) -> Result<Config, ConfigError> {
        self.resolve_with_env(file, std::env::var("RUST_LOG").ok())
    }

    /// [`Cli::resolve`] with the value of `RUST_LOG` given.
    pub(crate) fn resolve_with_env(
        &self,
        file: FileConfig,
        rust_log: Option<String>,
    ) -> Result<Config, ConfigError> {
        super::resolve::resolve(self, &file, rust_log)
    }
}
