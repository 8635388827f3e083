//! The store factory: a typed store spec in, everything a Magento 2 store needs out.
//!
//! - [`conf`]: the configuration files of the daemons the store runs (MariaDB/Galera,
//!   Redis, Sentinel, Ellison, nginx, php-fpm), as pure functions of typed settings.

pub mod conf;
