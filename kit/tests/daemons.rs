//! The daemon configurations of `kit::conf`, run in the real daemons on loopback.
//!
//! Each module renders its files into a temporary directory (paths and ports come from the
//! settings, never from editing the output), starts the Debian-packaged daemons
//! (`scripts/deps.sh` installs them) through the `ellison-e2e` process helpers, and checks
//! what the store relies on. Every wait polls a condition with a deadline.

#[path = "daemons/backup.rs"]
mod backup;
#[path = "daemons/consumers.rs"]
mod consumers;
#[path = "daemons/exporters.rs"]
mod exporters;
#[path = "daemons/galera.rs"]
mod galera;
#[path = "daemons/redis.rs"]
mod redis;
#[path = "daemons/rendered.rs"]
mod rendered;
#[path = "daemons/support.rs"]
mod support;
#[path = "daemons/upgrade.rs"]
mod upgrade;
#[path = "daemons/web.rs"]
mod web;
