//! The checks behind every value of a spec: the [`Checker`] that collects each problem with its
//! field path, and the parsers of the quantities, names and addresses it checks.

use std::collections::BTreeMap;

use super::store::{Endpoint, MediaClass, Memory, Resources, Web, S3};
use crate::error::FieldError;
use crate::spec;

/// The largest memory quantity of a container.
pub const MAX_MEMORY_BYTES: u64 = 1 << 40;

/// The largest volume size.
pub const MAX_SIZE_BYTES: u64 = 1 << 50;

/// The most CPU a container may ask for, in millicores.
pub const MAX_MILLICORES: u64 = 256_000;

/// Parses `http(s)://host[:port]` (an optional trailing `/`); `None` for anything else.
pub fn parse_endpoint(url: &str) -> Option<Endpoint> {
    let (https, rest) = if let Some(r) = url.strip_prefix("https://") {
        (true, r)
    } else {
        (false, url.strip_prefix("http://")?)
    };
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    let (host, port) = match rest.rsplit_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (rest, None),
    };
    if !is_host(host) {
        return None;
    }
    let (port, explicit_port) = match port {
        Some(p) => match p.parse::<u16>() {
            Ok(n) if n > 0 && p.chars().all(|c| c.is_ascii_digit()) => (n, true),
            _ => return None,
        },
        None => (if https { 443 } else { 80 }, false),
    };
    Some(Endpoint {
        https,
        host: host.to_owned(),
        port,
        explicit_port,
    })
}

/// A host name or IPv4 address: dot-separated labels of letters, digits and '-'.
fn is_host(text: &str) -> bool {
    !text.is_empty()
        && text.len() <= 253
        && text.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        })
}

/// S3's bucket naming rules: 3 to 63 lowercase letters, digits, '.' and '-', starting and
/// ending with a letter or digit.
fn is_bucket(text: &str) -> bool {
    (3..=63).contains(&text.len())
        && text
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.' || c == '-')
        && text.starts_with(|c: char| c.is_ascii_alphanumeric())
        && text.ends_with(|c: char| c.is_ascii_alphanumeric())
        && !text.contains("..")
}

/// Parses a memory quantity (`512Mi`, `2Gi`, `1G`, `1000000`) into bytes.
pub fn parse_memory(text: &str) -> Option<u64> {
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (num, unit) = text.split_at(split);
    let n: u64 = num.parse().ok()?;
    let mult: u64 = match unit {
        "" => 1,
        "k" => 1000,
        "M" => 1000u64.pow(2),
        "G" => 1000u64.pow(3),
        "T" => 1000u64.pow(4),
        "Ki" => 1 << 10,
        "Mi" => 1 << 20,
        "Gi" => 1 << 30,
        "Ti" => 1 << 40,
        _ => return None,
    };
    n.checked_mul(mult)
}

fn is_cpu(text: &str) -> bool {
    let body = text.strip_suffix('m').unwrap_or(text);
    let mut parts = body.splitn(2, '.');
    let whole = parts.next().unwrap_or("");
    let frac = parts.next();
    let digits = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_digit());
    digits(whole)
        && frac.is_none_or(|f| digits(f) && !text.ends_with('m'))
        && body.chars().any(|c| c != '0' && c != '.')
}

/// Millicores of a CPU quantity that [`is_cpu`] accepts, rounded up; `None` past `u64`.
fn millicores(text: &str) -> Option<u64> {
    if let Some(m) = text.strip_suffix('m') {
        return m.parse().ok();
    }
    let (whole, frac) = text.split_once('.').unwrap_or((text, ""));
    let whole: u64 = whole.parse().ok()?;
    let digits = frac.len().min(3);
    let frac_millis: u64 = if digits == 0 {
        0
    } else {
        // The first three decimals are millicores; any further digit rounds up.
        let head: u64 = frac[..digits].parse().ok()?;
        let scaled = head * 10u64.pow(3 - u32::try_from(digits).ok()?);
        scaled + u64::from(frac[digits..].chars().any(|c| c != '0'))
    };
    whole.checked_mul(1000)?.checked_add(frac_millis)
}

/// `ll_CC`, as Magento names its locales (`en_US`, `pt_BR`).
pub(super) fn is_locale(text: &str) -> bool {
    let b = text.as_bytes();
    b.len() == 5
        && b[..2].iter().all(u8::is_ascii_lowercase)
        && b[2] == b'_'
        && b[3..].iter().all(u8::is_ascii_uppercase)
}

pub(super) fn is_email(text: &str) -> bool {
    match text.split_once('@') {
        Some((user, domain)) => {
            !user.is_empty()
                && domain.contains('.')
                && !text
                    .chars()
                    .any(|c| c.is_whitespace() || c == '\'' || c == '"')
        }
        None => false,
    }
}

/// Collects field errors while the spec is walked.
#[derive(Default)]
pub(super) struct Checker {
    pub(super) errors: Vec<FieldError>,
}

impl Checker {
    pub(super) fn err(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.errors.push(FieldError::new(path, message));
    }

    pub(super) fn dns_label(&mut self, path: &str, value: &str, max: usize) {
        let ok = !value.is_empty()
            && value.len() <= max
            && value
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            && value.starts_with(|c: char| c.is_ascii_lowercase())
            && !value.ends_with('-');
        if !ok {
            self.err(
                path,
                format!(
                    "'{value}' is not allowed; use 1 to {max} lowercase letters, digits or '-', \
                     starting with a letter and not ending with '-'"
                ),
            );
        }
    }

    pub(super) fn dns_subdomain(&mut self, path: &str, value: &str) {
        let ok = !value.is_empty()
            && value.len() <= 253
            && value.split('.').all(|l| {
                !l.is_empty()
                    && l.chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
                    && !l.starts_with('-')
                    && !l.ends_with('-')
            });
        if !ok {
            self.err(
                path,
                format!(
                    "'{value}' is not a Kubernetes object name; use lowercase letters, digits, \
                     '-' and '.'"
                ),
            );
        }
    }

    pub(super) fn domain(&mut self, path: &str, value: &str) {
        // The last label of a DNS name is never all digits: 10.0.0.1 is an address, and an
        // Ingress or Route refuses an address as its host.
        let numeric = value
            .rsplit('.')
            .next()
            .is_some_and(|l| !l.is_empty() && l.chars().all(|c| c.is_ascii_digit()));
        if numeric {
            self.err(
                path,
                format!(
                    "'{value}' is an IP address, not a host name; an Ingress or Route needs a \
                     DNS name (shop.example.com)"
                ),
            );
            return;
        }
        let ok = value.contains('.')
            && value.len() <= 253
            && value.split('.').all(|l| {
                !l.is_empty()
                    && l.len() <= 63
                    && l.chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
                    && !l.starts_with('-')
                    && !l.ends_with('-')
            });
        if !ok {
            self.err(
                path,
                format!(
                    "'{value}' is not a host name; use lowercase labels separated by dots \
                     (shop.example.com), no scheme, port or wildcard"
                ),
            );
        }
    }

    pub(super) fn image(&mut self, path: &str, value: &str) {
        // Image references reach scripts and JSON as they are: only their own characters.
        if value.is_empty()
            || !value
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "._-/:@".contains(c))
        {
            self.err(
                path,
                format!("'{value}' is not an image reference; use registry/repository:tag"),
            );
        } else if !value.contains(':') && !value.contains('@') {
            self.err(
                path,
                format!("'{value}' has no tag or digest; pin one (:2.4.7 or @sha256:...) so that renders are reproducible"),
            );
        }
    }

    pub(super) fn image_or(&mut self, path: &str, value: Option<String>, default: &str) -> String {
        let value = value.unwrap_or_else(|| default.to_owned());
        self.image(path, &value);
        value
    }

    pub(super) fn memory(&mut self, path: &str, value: Option<String>, default: &str) -> Memory {
        let text = value.unwrap_or_else(|| default.to_owned());
        let bytes = match parse_memory(&text) {
            Some(b) if b > MAX_MEMORY_BYTES => {
                self.err(path, format!("'{text}' is too large; give at most 1Ti"));
                0
            }
            Some(b) if b >= 64 << 20 => b,
            Some(_) => {
                self.err(path, format!("'{text}' is too small; give at least 64Mi"));
                0
            }
            None => {
                self.err(
                    path,
                    format!(
                        "'{text}' is not a memory quantity; use an integer with Ki, Mi, Gi, Ti \
                         (or k, M, G, T): 512Mi, 2Gi"
                    ),
                );
                0
            }
        };
        Memory { text, bytes }
    }

    pub(super) fn size(&mut self, path: &str, value: Option<String>, default: &str) -> String {
        let text = value.unwrap_or_else(|| default.to_owned());
        match parse_memory(&text) {
            None | Some(0) => self.err(
                path,
                format!("'{text}' is not a size; use an integer with Mi, Gi, Ti: 20Gi"),
            ),
            Some(b) if b > MAX_SIZE_BYTES => {
                self.err(path, format!("'{text}' is too large; give at most 1024Ti"));
            }
            Some(_) => {}
        }
        text
    }

    pub(super) fn resources(
        &mut self,
        path: &str,
        value: Option<&spec::Resources>,
        cpu: &str,
        memory: &str,
    ) -> Resources {
        let value = value.cloned().unwrap_or_default();
        let cpu = value.cpu.unwrap_or_else(|| cpu.to_owned());
        if !is_cpu(&cpu) {
            self.err(
                format!("{path}.cpu"),
                format!("'{cpu}' is not a CPU quantity; use cores (1, 0.5) or millicores (500m)"),
            );
        } else if millicores(&cpu).is_none_or(|m| m > MAX_MILLICORES) {
            self.err(
                format!("{path}.cpu"),
                format!("'{cpu}' is too large; give at most 256 cores"),
            );
        }
        Resources {
            cpu,
            memory: self.memory(&format!("{path}.memory"), value.memory, memory),
        }
    }

    /// A volume access mode that the web pods can share: `ReadWriteMany`, or
    /// `ReadWriteOnce` with one web replica and no autoscaling.
    pub(super) fn access_mode(&mut self, path: &str, mode: &str, web: &Web, alternative: &str) {
        let also = if alternative.is_empty() {
            String::new()
        } else {
            format!(" {alternative}")
        };
        if mode != "ReadWriteMany" && mode != "ReadWriteOnce" {
            self.err(
                path,
                format!("'{mode}' is not allowed; use ReadWriteMany or ReadWriteOnce"),
            );
        } else if mode == "ReadWriteOnce" && web.replicas > 1 {
            self.err(
                path,
                format!(
                    "ReadWriteOnce cannot be shared by {} web replicas; use a ReadWriteMany \
                     class (CephFS, NFS){also}, or web.replicas: 1",
                    web.replicas
                ),
            );
        } else if mode == "ReadWriteOnce" && web.autoscaling.is_some() {
            self.err(
                path,
                format!(
                    "ReadWriteOnce cannot be shared by autoscaled web pods; use ReadWriteMany{also}"
                ),
            );
        }
    }

    /// An S3 bucket at `path`: every value reaches a configuration file or a script.
    pub(super) fn s3(&mut self, path: &str, s3: &spec::S3) -> S3 {
        if !is_bucket(&s3.bucket) {
            self.err(
                format!("{path}.bucket"),
                format!(
                    "'{}' is not a bucket name; use 3 to 63 lowercase letters, digits, '.' and \
                     '-' (S3's rules)",
                    s3.bucket
                ),
            );
        }
        if s3.region.is_empty()
            || s3.region.len() > 63
            || !s3
                .region
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        {
            self.err(
                format!("{path}.region"),
                format!(
                    "'{}' is not a region; use lowercase letters, digits and '-' (us-east-1)",
                    s3.region
                ),
            );
        }
        let endpoint = s3.endpoint.as_ref().and_then(|ep| {
            let parsed = parse_endpoint(ep);
            if parsed.is_none() {
                self.err(
                    format!("{path}.endpoint"),
                    format!(
                        "'{ep}' is not an endpoint URL; use https://host[:port] (no path, port 1 \
                         to 65535)"
                    ),
                );
            }
            parsed
        });
        let path_style = s3.path_style.unwrap_or(s3.endpoint.is_some());
        if !path_style && s3.bucket.contains('.') {
            self.err(
                format!("{path}.pathStyle"),
                "false does not work with a bucket name that has a '.' (the TLS certificate of \
                 bucket.host does not cover it); set it to true",
            );
        }
        S3 {
            bucket: s3.bucket.clone(),
            region: s3.region.clone(),
            endpoint,
            path_style,
        }
    }

    pub(super) fn between(&mut self, path: &str, value: u32, min: u32, max: u32) -> u32 {
        if !(min..=max).contains(&value) {
            self.err(
                path,
                format!("{value} is out of range; allowed: {min} to {max}"),
            );
        }
        value
    }

    pub(super) fn schedule(&mut self, path: &str, value: &str) {
        let fields: Vec<&str> = value.split_whitespace().collect();
        let ok = fields.len() == 5
            && fields.iter().all(|f| {
                f.chars()
                    .all(|c| c.is_ascii_digit() || matches!(c, '*' | '/' | ',' | '-'))
            });
        if !ok {
            self.err(
                path,
                format!("'{value}' is not a cron schedule; use five fields: \"30 2 * * *\""),
            );
        }
    }
}

/// The StorageClass `spec.media.createStorageClass` asks for; `None` (with errors) when a
/// required parameter is missing.
pub(super) fn media_class(v: &mut Checker, p: &spec::Provisioner) -> Option<MediaClass> {
    const AT: &str = "spec.media.createStorageClass";
    fn required(
        v: &mut Checker,
        field: String,
        value: &Option<String>,
        what: &str,
    ) -> Option<String> {
        match value.as_deref().map(str::trim) {
            Some(x) if !x.is_empty() => Some(x.to_owned()),
            _ => {
                v.err(field, format!("is required; give {what}"));
                None
            }
        }
    }
    let given = [p.cephfs.is_some(), p.nfs.is_some(), p.glusterfs.is_some()];
    if given.iter().filter(|g| **g).count() != 1 {
        v.err(
            AT,
            "give exactly one provisioner: cephfs (ceph-csi) or nfs (csi-driver-nfs)",
        );
        return None;
    }
    match (&p.cephfs, &p.nfs) {
        (Some(c), _) => {
            let at = format!("{AT}.cephfs");
            let cluster = required(
                v,
                format!("{at}.clusterID"),
                &c.cluster_id,
                "the Ceph cluster's id as in ceph-csi's config (ceph fsid)",
            );
            let fs = required(
                v,
                format!("{at}.fsName"),
                &c.fs_name,
                "the CephFS file system name (ceph fs ls)",
            );
            let secret = required(
                v,
                format!("{at}.secretName"),
                &c.secret_name,
                "the Secret holding ceph-csi's Ceph credentials",
            );
            let ns = required(
                v,
                format!("{at}.secretNamespace"),
                &c.secret_namespace,
                "the namespace of that Secret",
            );
            if let Some(s) = &secret {
                v.dns_subdomain(&format!("{at}.secretName"), s);
            }
            let (cluster, fs, secret, ns) = (cluster?, fs?, secret?, ns?);
            let mut parameters =
                BTreeMap::from([("clusterID".to_owned(), cluster), ("fsName".to_owned(), fs)]);
            if let Some(pool) = c.pool.as_ref().filter(|p| !p.is_empty()) {
                parameters.insert("pool".to_owned(), pool.clone());
            }
            for role in ["provisioner", "controller-expand", "node-stage"] {
                parameters.insert(
                    format!("csi.storage.k8s.io/{role}-secret-name"),
                    secret.clone(),
                );
                parameters.insert(
                    format!("csi.storage.k8s.io/{role}-secret-namespace"),
                    ns.clone(),
                );
            }
            Some(MediaClass {
                provisioner: "cephfs.csi.ceph.com",
                parameters,
                mount_options: Vec::new(),
            })
        }
        (None, Some(n)) => {
            let at = format!("{AT}.nfs");
            let server = required(
                v,
                format!("{at}.server"),
                &n.server,
                "the NFS server's host name or address",
            );
            let share = required(
                v,
                format!("{at}.share"),
                &n.share,
                "the exported path (/exports/media)",
            );
            if let Some(sh) = &share {
                if !sh.starts_with('/') {
                    v.err(
                        format!("{at}.share"),
                        format!("'{sh}' is not an absolute path; give the exported path (/exports/media)"),
                    );
                }
            }
            let (server, share) = (server?, share?);
            Some(MediaClass {
                provisioner: "nfs.csi.k8s.io",
                parameters: BTreeMap::from([
                    ("server".to_owned(), server),
                    ("share".to_owned(), share),
                ]),
                mount_options: n.mount_options.clone().unwrap_or_default(),
            })
        }
        (None, None) => {
            v.err(
                format!("{AT}.glusterfs"),
                "the in-tree GlusterFS provisioner (kubernetes.io/glusterfs) was removed in \
                 Kubernetes 1.26; use cephfs or nfs, or create a class for a GlusterFS CSI \
                 driver yourself and name it in spec.media.storageClass",
            );
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_quantities_parse_with_binary_and_decimal_units() {
        assert_eq!(parse_memory("512Mi"), Some(512 << 20));
        assert_eq!(parse_memory("2G"), Some(2_000_000_000));
        assert_eq!(parse_memory("1024"), Some(1024));
        assert_eq!(parse_memory("1.5Gi"), None);
        assert_eq!(parse_memory("Gi"), None);
        assert_eq!(parse_memory("2GB"), None);
        assert_eq!(parse_memory("99999999999Ti"), None);
    }

    #[test]
    fn cpu_quantities_accept_cores_and_millicores_only() {
        for ok in ["1", "0.5", "500m", "2"] {
            assert!(is_cpu(ok), "{ok}");
        }
        for bad in ["", "0", "1.5m", "one", "m", "-1", "0m"] {
            assert!(!is_cpu(bad), "{bad}");
        }
    }
}
