//! The store factory: a typed store spec in, everything a Magento 2 store needs out.
//!
//! A pure library: spec text in, typed objects and file contents out; no I/O, no clock, no
//! randomness (the `kit` binary reads and writes files and draws the passwords).
//!
//! - [`spec`]: the user-authored, versioned `StoreSpec` (YAML, unknown fields refused).
//! - [`validate`]: spec -> [`validate::Store`] with defaults; every error names its field path.
//! - [`mod@render`]: store -> typed Kubernetes/OpenShift objects or a compose file, per component.
//! - [`output`]: objects -> deterministic multi-document YAML and a `kustomization.yaml`.
//! - [`secrets`]: the keys of the store's Secret and its text, for `kit secrets`.
//! - [`error`]: the user-facing spec errors.
//! - [`conf`]: the configuration files of the daemons the store runs (MariaDB/Galera,
//!   Redis, Sentinel, Ellison, nginx, php-fpm), as pure functions of typed settings.

pub mod conf;
pub mod error;
pub mod output;
pub mod render;
pub mod secrets;
pub mod spec;
pub mod validate;

pub use error::{FieldError, SpecError};
pub use render::render;
pub use spec::Target;
pub use validate::{load, Store};
