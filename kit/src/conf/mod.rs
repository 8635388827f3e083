//! Configuration files of the daemons a store runs, rendered from typed settings.
//!
//! One module per daemon; each takes a `Settings` struct of plain typed fields and returns
//! the file text (or a small set of files). Rendering is pure and deterministic: no I/O, no
//! clock, no randomness, and no secret in any output (passwords are read by the daemons, or by
//! the rendered scripts, from files or environment variables at run time).
//!
//! - [`galera`]: MariaDB Galera `my.cnf` and `galera.sh` (bootstrap decision, start, probes,
//!   recovery).
//! - [`redis`] and [`sentinel`]: `redis.conf` per role and `sentinel.conf`.
//! - [`ellison`]: Ellison's TOML file, one group per Sentinel-monitored master.
//! - [`nginx`] and [`php`]: the web pod's `nginx.conf`, `php-fpm.conf` and `php.ini` overrides.

pub mod ellison;
pub mod galera;
pub mod nginx;
pub mod php;
pub mod redis;
pub mod sentinel;
