//! `kit`: the thin CLI over the kit library: read a spec, print, check or render it.
//!
//! Exit codes: 0 success, 64 an invalid spec (every message names its field path), 1 any
//! other failure (a file that cannot be read or written).

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};
use kit::{output, secrets, spec, validate, SpecError, Store, Target};

/// Renders a whole Magento store for Kubernetes, OpenShift or docker compose from one spec.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Print the documented example spec (every field, commented).
    Example,
    /// Validate a spec without rendering; print the store's summary.
    Check {
        /// The spec file (YAML).
        spec: PathBuf,
    },
    /// Render a store into OUT/<store name>/.
    Render {
        /// The spec file (YAML).
        spec: PathBuf,
        /// Directory that receives one directory per store.
        #[arg(long)]
        out: PathBuf,
        /// What to render for.
        #[arg(long, value_enum, default_value_t = TargetArg::Kubernetes)]
        target: TargetArg,
    },
    /// Print the store's Galera full-outage recovery script (also rendered as
    /// `galera-recover.sh`): run it when a node is lost for good and the others wait.
    GaleraRecover {
        /// The spec file (YAML).
        spec: PathBuf,
    },
    /// Print the store's Secret with freshly generated passwords; run once per store.
    Secrets {
        /// The spec file (YAML).
        spec: PathBuf,
        /// A Kubernetes Secret (pipe to `kubectl apply -f -`) or a compose `.env` file.
        #[arg(long, value_enum, default_value_t = SecretFormat::Kubernetes)]
        format: SecretFormat,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum TargetArg {
    Kubernetes,
    Openshift,
    Compose,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum SecretFormat {
    Kubernetes,
    Env,
}

/// A spec that failed validation: exit 64 after printing every field error.
#[derive(Debug)]
struct Invalid(String, SpecError);

impl std::fmt::Display for Invalid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: invalid store spec:\n{}", self.0, self.1)
    }
}

impl std::error::Error for Invalid {}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            if let Some(inv) = e.downcast_ref::<Invalid>() {
                eprintln!("kit: {inv}");
                ExitCode::from(64)
            } else {
                eprintln!("kit: {e:#}");
                ExitCode::FAILURE
            }
        }
    }
}

fn load(path: &Path) -> anyhow::Result<Store> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    validate::load(&text).map_err(|e| Invalid(path.display().to_string(), e).into())
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Example => print!("{}", spec::EXAMPLE),
        Command::Check { spec } => {
            let s = load(&spec)?;
            for t in [Target::Kubernetes, Target::Openshift, Target::Compose] {
                if let Err(e) = validate::for_target(&s, t) {
                    println!("{}: not renderable for {}: {e}", spec.display(), t.as_str());
                }
            }
            println!(
                "{}: store {} is valid: {} domain(s), Galera {} node(s), Redis 1+{} per group and {} Sentinel(s){}, Ellison {:?}, web {} replica(s)",
                spec.display(),
                s.name,
                s.domains.len(),
                s.galera.nodes,
                s.redis.replicas,
                s.redis.sentinels,
                if s.redis.cache_reads_from_replicas {
                    " (the cache read from the replicas)"
                } else {
                    ""
                },
                s.ellison.placement,
                s.web.replicas,
            );
        }
        Command::Render { spec, out, target } => {
            let s = load(&spec)?;
            let target = match target {
                TargetArg::Kubernetes => Target::Kubernetes,
                TargetArg::Openshift => Target::Openshift,
                TargetArg::Compose => Target::Compose,
            };
            let bundle =
                kit::render(&s, target).map_err(|e| Invalid(spec.display().to_string(), e))?;
            let files = output::files(&bundle)?;
            let dir = out.join(&s.name);
            write(&dir, &files)?;
            println!(
                "{}: wrote {} files for {} to {}",
                spec.display(),
                files.len(),
                target.as_str(),
                dir.display()
            );
        }
        Command::GaleraRecover { spec } => {
            let s = load(&spec)?;
            let ctx = kit::render::Ctx {
                store: &s,
                target: Target::Kubernetes,
            };
            print!("{}", kit::render::galera::recover_script(&ctx));
        }
        Command::Secrets { spec, format } => {
            let s = load(&spec)?;
            let mut values = BTreeMap::new();
            for k in secrets::keys(&s) {
                let v = if k.generated {
                    random_password()?
                } else {
                    String::new()
                };
                values.insert(k.name.to_owned(), v);
            }
            match format {
                SecretFormat::Kubernetes => print!("{}", secrets::manifest(&s, &values)?),
                SecretFormat::Env => print!("{}", secrets::env_file(&values)),
            }
        }
    }
    Ok(())
}

/// Writes the files (those under a `bin/` directory executable), after removing the YAML files a previous render left that this one does
/// not produce (only files that start with kit's header: nothing a person wrote).
fn write(dir: &Path, files: &BTreeMap<String, String>) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    for entry in std::fs::read_dir(dir).with_context(|| format!("cannot list {}", dir.display()))? {
        let path = entry?.path();
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        if path.extension().is_some_and(|e| e == "yaml") && !files.contains_key(name) {
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            if text.starts_with(output::HEADER) {
                std::fs::remove_file(&path)
                    .with_context(|| format!("cannot remove {}", path.display()))?;
            }
        }
    }
    for (name, text) in files {
        let path = dir.join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("cannot create {}", parent.display()))?;
        }
        std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
        if name.contains("/bin/") {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))
                .with_context(|| format!("cannot make {} executable", path.display()))?;
        }
    }
    Ok(())
}

/// 32 characters from [A-Za-z0-9] with at least a letter and a digit
/// ([`secrets::acceptable`]), drawn from the operating system's random source; a draw that
/// lacks one is drawn again (each misses with about 0.4 % probability).
fn random_password() -> anyhow::Result<String> {
    for _ in 0..64 {
        let p = random_draw()?;
        if secrets::acceptable(&p) {
            return Ok(p);
        }
    }
    anyhow::bail!(
        "64 random draws in a row lacked a letter or a digit: the random source is broken"
    )
}

/// 32 characters from [A-Za-z0-9], drawn from the operating system's random source.
fn random_draw() -> anyhow::Result<String> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut out = String::with_capacity(32);
    let mut f = std::fs::File::open("/dev/urandom").context("cannot open /dev/urandom")?;
    let mut buf = [0u8; 64];
    while out.len() < 32 {
        f.read_exact(&mut buf).context("cannot read /dev/urandom")?;
        // 248 = 4 * 62: rejecting larger bytes keeps every character equally likely.
        for b in buf.iter().filter(|b| **b < 248) {
            if out.len() < 32 {
                out.push(char::from(ALPHABET[usize::from(*b) % 62]));
            }
        }
    }
    Ok(out)
}
