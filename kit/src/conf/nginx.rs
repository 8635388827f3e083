//! `nginx.conf` for Magento 2, from the rules of Magento's `nginx.conf.sample`.
//!
//! The document root is `<magento_root>/pub`; PHP runs only for Magento's entry points
//! (`index.php`, `get.php`, `static.php`, `health_check.php`, `errors/*.php`), through
//! php-fpm; static files and media are served directly with long cache lifetimes and fall back
//! to `static.php`/`get.php`; `setup/`, `update/`, dot files and sensitive media are denied,
//! except `/.well-known/` (ACME challenges, `security.txt`), served as plain files.
//! A second server on [`Settings::status_port`] (for probes, never exposed through a Service)
//! answers `/nginx-health`, `/nginx-status` (`stub_status`, for the exporter) and forwards
//! php-fpm's ping and status pages. Every writable path
//! is under [`Settings::temp_dir`], so the root filesystem can be read-only.

use std::fmt::Write as _;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

/// Everything `nginx.conf` depends on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// The address both servers listen on; `None`: every address (in a pod, where Services
    /// and probes reach the pod's IP). Tests on one machine give a loopback address.
    pub address: Option<IpAddr>,
    /// The port the store is served on (8080: unprivileged).
    pub port: u16,
    /// `server_name`s; empty: any host.
    pub server_names: Vec<String>,
    /// The port of the status server (`/nginx-health`, php-fpm ping and status).
    pub status_port: u16,
    /// Magento's root (`MAGE_ROOT`); the document root is its `pub/`.
    pub magento_root: PathBuf,
    /// php-fpm's address: `127.0.0.1:9000` or `unix:/run/php/php-fpm.sock`.
    pub fastcgi: String,
    /// php-fpm's ping path (as in the pool's `ping.path`).
    pub fpm_ping_path: String,
    /// php-fpm's status path (as in the pool's `pm.status_path`).
    pub fpm_status_path: String,
    /// Largest request body (uploads, imports) in MiB.
    pub client_max_body_size_mb: u32,
    /// `worker_processes`; 0 for `auto`.
    pub worker_processes: u32,
    /// `worker_connections`.
    pub worker_connections: u32,
    /// Where `mime.types` and `fastcgi_params` are (`/etc/nginx`).
    pub include_dir: PathBuf,
    /// A writable directory: pid file and request body and FastCGI buffers.
    pub temp_dir: PathBuf,
    /// Access log; `None`: stdout.
    pub access_log: Option<PathBuf>,
    /// Error log; `None`: stderr.
    pub error_log: Option<PathBuf>,
    /// `user` for a master started as root; `None` in a container that starts unprivileged.
    pub user: Option<String>,
    /// Media kept in an S3 bucket (Magento's remote storage): `None` serves `pub/media` and
    /// falls back to `get.php`.
    pub remote_media: Option<RemoteMedia>,
    /// Host names with the website or store view Magento runs for them, passed to PHP as
    /// `MAGE_RUN_CODE` and `MAGE_RUN_TYPE`; other hosts get Magento's default.
    pub run_codes: Vec<RunCode>,
}

/// The website or store view of a host name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunCode {
    /// Host name (`fr.shop.example.com`).
    pub host: String,
    /// Website or store view code (`french`).
    pub code: String,
    /// `website` or `store`.
    pub kind: String,
}

/// Media in a bucket: what `pub/media` lacks is fetched from the bucket, and what the bucket
/// lacks (an image not resized yet, a private bucket) goes to `get.php`, which Magento's
/// remote storage answers from the bucket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteMedia {
    /// The URL object keys are appended to (`https://s3.eu-west-1.amazonaws.com/bucket`); the
    /// key of `/media/x.jpg` is `media/x.jpg`, as Magento's remote storage names it.
    pub base_url: String,
    /// The `Host` header of that URL.
    pub host: String,
    /// A file with nginx's `resolver` directive (the pod's name server, known only when the
    /// container starts: see [`resolver_command`]); the bucket's addresses are resolved
    /// again as their DNS records expire.
    pub resolver_file: PathBuf,
}

/// A shell command that writes `resolver_file` from the first `nameserver` of
/// `/etc/resolv.conf` (IPv6 in brackets), for [`RemoteMedia::resolver_file`]; run it before
/// nginx starts.
pub fn resolver_command(resolver_file: &std::path::Path) -> String {
    format!(
        "awk '$1 == \"nameserver\" {{ a = $2; if (a ~ /:/) a = \"[\" a \"]\"; \
         print \"resolver \" a \" valid=30s;\"; exit }}' /etc/resolv.conf > {f} && \
         grep -q '^resolver ' {f}",
        f = resolver_file.display()
    )
}

/// The master's pid file, in [`Settings::temp_dir`].
pub fn pid_file(s: &Settings) -> std::path::PathBuf {
    s.temp_dir.join("nginx.pid")
}

/// Renders `nginx.conf`.
pub fn render(s: &Settings) -> String {
    let temp = s.temp_dir.display();
    let include = s.include_dir.display();
    let mut out = String::from("# nginx for Magento 2, rendered by kit: do not edit, re-render.\n");
    if let Some(user) = &s.user {
        let _ = writeln!(out, "user {user};");
    }
    if s.worker_processes == 0 {
        out.push_str("worker_processes auto;\n");
    } else {
        let _ = writeln!(out, "worker_processes {};", s.worker_processes);
    }
    // In the foreground, as a container's main process.
    out.push_str("daemon off;\n");
    let _ = writeln!(out, "pid {};", pid_file(s).display());
    let _ = writeln!(
        out,
        "error_log {} warn;",
        s.error_log
            .as_ref()
            .map_or("stderr".to_owned(), |p| p.display().to_string())
    );
    let _ = writeln!(
        out,
        "events {{\n    worker_connections {};\n}}\n",
        s.worker_connections
    );
    out.push_str("http {\n");
    let _ = writeln!(out, "    include {include}/mime.types;");
    out.push_str("    default_type application/octet-stream;\n");
    let _ = writeln!(
        out,
        "    access_log {};",
        s.access_log
            .as_ref()
            .map_or("/dev/stdout".to_owned(), |p| p.display().to_string())
    );
    for kind in ["client_body", "fastcgi", "proxy", "uwsgi", "scgi"] {
        let _ = writeln!(out, "    {kind}_temp_path {temp}/{kind};");
    }
    out.push_str(
        "    sendfile on;\n\
         \x20   tcp_nopush on;\n\
         \x20   keepalive_timeout 65;\n\
         \x20   server_tokens off;\n",
    );
    let _ = writeln!(
        out,
        "    client_max_body_size {}m;",
        s.client_max_body_size_mb
    );
    out.push_str(
        "    gzip on;\n\
         \x20   gzip_comp_level 6;\n\
         \x20   gzip_min_length 1100;\n\
         \x20   gzip_buffers 16 8k;\n\
         \x20   gzip_proxied any;\n\
         \x20   gzip_vary on;\n\
         \x20   gzip_types text/plain text/css text/js text/xml text/javascript application/javascript application/x-javascript application/json application/xml application/xml+rss image/svg+xml;\n\n",
    );
    let _ = writeln!(
        out,
        "    upstream fastcgi_backend {{\n        server {};\n    }}\n",
        s.fastcgi
    );
    if !s.run_codes.is_empty() {
        for (var, field) in [("MAGE_RUN_CODE", 0), ("MAGE_RUN_TYPE", 1)] {
            let _ = writeln!(out, "    map $host ${var} {{\n        default '';");
            for r in &s.run_codes {
                let value = if field == 0 { &r.code } else { &r.kind };
                let _ = writeln!(out, "        {} {value};", r.host);
            }
            out.push_str("    }\n");
        }
        out.push('\n');
    }
    // Magento's store.
    out.push_str("    server {\n");
    let _ = writeln!(out, "        listen {};", listen(s.address, s.port));
    if s.server_names.is_empty() {
        out.push_str("        server_name _;\n");
    } else {
        let _ = writeln!(out, "        server_name {};", s.server_names.join(" "));
    }
    let _ = writeln!(out, "        set $MAGE_ROOT {};", s.magento_root.display());
    let fallback = if s.remote_media.is_some() {
        "@remote_media"
    } else {
        "/get.php$is_args$args"
    };
    out.push_str(
        STORE_SERVER_BODY
            .replace("@INCLUDE@", &include.to_string())
            .replace("@MEDIA_FALLBACK@", fallback)
            .replace(
                "@RUN_CODES@",
                if s.run_codes.is_empty() {
                    ""
                } else {
                    "            fastcgi_param MAGE_RUN_CODE $MAGE_RUN_CODE;\n            \
                     fastcgi_param MAGE_RUN_TYPE $MAGE_RUN_TYPE;\n"
                },
            )
            .as_str(),
    );
    if let Some(r) = &s.remote_media {
        let _ = writeln!(out, "        include {};", r.resolver_file.display());
        let _ = write!(
            out,
            "        # Media from the bucket; what it lacks (an image not resized yet, a private\n\
             \x20       # bucket) goes to get.php, which Magento answers from the bucket.\n\
             \x20       location @remote_media {{\n\
             \x20           set $remote_media \"{base}\";\n\
             \x20           proxy_pass $remote_media$uri;\n\
             \x20           proxy_set_header Host \"{host}\";\n\
             \x20           proxy_pass_request_headers off;\n\
             \x20           proxy_pass_request_body off;\n\
             \x20           proxy_ssl_server_name on;\n\
             \x20           proxy_intercept_errors on;\n\
             \x20           proxy_ignore_headers Set-Cookie;\n\
             \x20           proxy_hide_header Set-Cookie;\n\
             \x20           proxy_hide_header x-amz-id-2;\n\
             \x20           proxy_hide_header x-amz-request-id;\n\
             \x20           error_page 403 404 = /get.php$is_args$args;\n\
             \x20           add_header X-Frame-Options \"SAMEORIGIN\" always;\n\
             \x20           add_header X-Content-Type-Options \"nosniff\" always;\n\
             \x20       }}\n",
            base = r.base_url,
            host = r.host,
        );
    }
    out.push_str("    }\n\n");
    // Probes.
    out.push_str("    server {\n");
    let _ = writeln!(out, "        listen {};", listen(s.address, s.status_port));
    out.push_str(
        "        access_log off;\n\
         \x20       location = /nginx-health {\n\
         \x20           default_type text/plain;\n\
         \x20           return 200 \"ok\\n\";\n\
         \x20       }\n\
         \x20       location = /nginx-status {\n\
         \x20           stub_status;\n\
         \x20       }\n",
    );
    for path in [&s.fpm_ping_path, &s.fpm_status_path] {
        let _ = writeln!(out, "        location = {path} {{");
        let _ = writeln!(out, "            include {include}/fastcgi_params;");
        let _ = writeln!(out, "            fastcgi_param SCRIPT_NAME {path};");
        let _ = writeln!(out, "            fastcgi_param SCRIPT_FILENAME {path};");
        out.push_str("            fastcgi_pass fastcgi_backend;\n        }\n");
    }
    out.push_str("        location / {\n            return 404;\n        }\n    }\n}\n");
    out
}

/// A `listen` parameter: the port alone (every address), or the address and port.
fn listen(address: Option<IpAddr>, port: u16) -> String {
    address.map_or(port.to_string(), |ip| SocketAddr::new(ip, port).to_string())
}

/// The store server's rules after `$MAGE_ROOT`, from Magento's `nginx.conf.sample`, in
/// production mode (`setup/` and `update/` denied, static files cached for a year).
const STORE_SERVER_BODY: &str = r#"        root $MAGE_ROOT/pub;
        index index.php;
        autoindex off;
        charset UTF-8;
        error_page 404 403 = /errors/404.php;

        add_header X-Frame-Options "SAMEORIGIN" always;
        add_header X-Content-Type-Options "nosniff" always;
        add_header Referrer-Policy "strict-origin-when-cross-origin" always;

        # ACME challenges, security.txt, app links: files of pub/.well-known, never PHP.
        location ^~ /.well-known/ {
            location ~ \.php$ {
                deny all;
            }
            try_files $uri =404;
        }

        # The web installer and updater are not part of a production store.
        location ~* ^/(setup|update)($|/) {
            deny all;
        }
        location /.user.ini {
            deny all;
        }

        location / {
            try_files $uri $uri/ /index.php$is_args$args;
        }

        location /pub/ {
            location ~ ^/pub/media/(downloadable|customer|import|custom_options|theme_customization/.*\.xml) {
                deny all;
            }
            alias $MAGE_ROOT/pub/;
            add_header X-Frame-Options "SAMEORIGIN" always;
            add_header X-Content-Type-Options "nosniff" always;
        }

        location /static/ {
            expires max;
            # Versioned URLs (static content signing) map to the same files.
            location ~ ^/static/version\d*/ {
                rewrite ^/static/version\d*/(.*)$ /static/$1 last;
            }
            location ~* \.(ico|jpg|jpeg|png|gif|svg|svgz|webp|avif|avifs|js|css|eot|ttf|otf|woff|woff2|html|json|webmanifest)$ {
                add_header Cache-Control "public";
                add_header X-Frame-Options "SAMEORIGIN" always;
                add_header X-Content-Type-Options "nosniff" always;
                expires +1y;
                if (!-f $request_filename) {
                    rewrite ^/static/?(.*)$ /static.php?resource=$1 last;
                }
            }
            location ~* \.(zip|gz|gzip|bz2|csv|xml)$ {
                add_header Cache-Control "no-store";
                add_header X-Frame-Options "SAMEORIGIN" always;
                add_header X-Content-Type-Options "nosniff" always;
                expires off;
                if (!-f $request_filename) {
                    rewrite ^/static/?(.*)$ /static.php?resource=$1 last;
                }
            }
            if (!-f $request_filename) {
                rewrite ^/static/?(.*)$ /static.php?resource=$1 last;
            }
            add_header X-Frame-Options "SAMEORIGIN" always;
            add_header X-Content-Type-Options "nosniff" always;
        }

        location /media/ {
            try_files $uri $uri/ @MEDIA_FALLBACK@;
            location ~ ^/media/theme_customization/.*\.xml {
                deny all;
            }
            location ~* \.(ico|jpg|jpeg|png|gif|svg|svgz|webp|avif|avifs|js|css|eot|ttf|otf|woff|woff2)$ {
                add_header Cache-Control "public";
                add_header X-Frame-Options "SAMEORIGIN" always;
                add_header X-Content-Type-Options "nosniff" always;
                expires +1y;
                try_files $uri $uri/ @MEDIA_FALLBACK@;
            }
            location ~* \.(zip|gz|gzip|bz2|csv|xml)$ {
                add_header Cache-Control "no-store";
                add_header X-Frame-Options "SAMEORIGIN" always;
                add_header X-Content-Type-Options "nosniff" always;
                expires off;
                try_files $uri $uri/ @MEDIA_FALLBACK@;
            }
            add_header X-Frame-Options "SAMEORIGIN" always;
            add_header X-Content-Type-Options "nosniff" always;
        }

        location /media/customer/ {
            deny all;
        }
        location /media/downloadable/ {
            deny all;
        }
        location /media/import/ {
            deny all;
        }
        location /media/custom_options/ {
            deny all;
        }
        location /errors/ {
            location ~* \.xml$ {
                deny all;
            }
        }

        # Magento's PHP entry points, and nothing else.
        location ~ ^/(index|get|static|errors/report|errors/404|errors/503|health_check)\.php$ {
            try_files $uri =404;
            fastcgi_pass fastcgi_backend;
            fastcgi_buffers 16 16k;
            fastcgi_buffer_size 32k;
            fastcgi_param PHP_FLAG "session.auto_start=off";
            fastcgi_read_timeout 600s;
            fastcgi_connect_timeout 60s;
            fastcgi_index index.php;
            fastcgi_param SCRIPT_FILENAME $document_root$fastcgi_script_name;
@RUN_CODES@            include @INCLUDE@/fastcgi_params;
        }

        # Any other PHP file, templates, server files and VCS metadata.
        location ~* (\.php$|\.phtml$|\.htaccess$|\.htpasswd$|\.git|/\.) {
            deny all;
        }
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_store_is_served_from_pub_with_php_only_for_entry_points() {
        let s = Settings {
            address: None,
            port: 8080,
            server_names: vec!["shop.example.com".into()],
            status_port: 8081,
            magento_root: "/var/www/magento".into(),
            fastcgi: "127.0.0.1:9000".into(),
            fpm_ping_path: "/fpm-ping".into(),
            fpm_status_path: "/fpm-status".into(),
            client_max_body_size_mb: 64,
            worker_processes: 0,
            worker_connections: 1024,
            include_dir: "/etc/nginx".into(),
            temp_dir: "/tmp/nginx".into(),
            access_log: None,
            error_log: None,
            user: None,
            remote_media: None,
            run_codes: Vec::new(),
        };
        let conf = render(&s);
        for line in [
            "        set $MAGE_ROOT /var/www/magento;",
            "        root $MAGE_ROOT/pub;",
            "        server_name shop.example.com;",
            "    client_max_body_size 64m;",
            "    gzip on;",
            "        server 127.0.0.1:9000;",
            "        location = /fpm-ping {",
        ] {
            assert!(
                conf.lines().any(|l| l == line),
                "missing {line:?} in\n{conf}"
            );
        }
        assert!(!conf.contains("@INCLUDE@") && !conf.contains("@MEDIA_FALLBACK@"));
        assert_eq!(conf, render(&s));
    }

    #[test]
    fn an_address_binds_both_servers_to_it() {
        let mut s = Settings {
            address: None,
            port: 8080,
            server_names: Vec::new(),
            status_port: 8081,
            magento_root: "/var/www/magento".into(),
            fastcgi: "127.0.0.1:9000".into(),
            fpm_ping_path: "/fpm-ping".into(),
            fpm_status_path: "/fpm-status".into(),
            client_max_body_size_mb: 64,
            worker_processes: 2,
            worker_connections: 1024,
            include_dir: "/etc/nginx".into(),
            temp_dir: "/tmp".into(),
            access_log: None,
            error_log: None,
            user: None,
            remote_media: None,
            run_codes: Vec::new(),
        };
        let listens = |conf: &str| -> Vec<String> {
            conf.lines()
                .filter(|l| l.trim_start().starts_with("listen "))
                .map(|l| l.trim().to_owned())
                .collect()
        };
        assert_eq!(listens(&render(&s)), ["listen 8080;", "listen 8081;"]);
        s.address = Some("127.0.0.1".parse().expect("an address"));
        assert_eq!(
            listens(&render(&s)),
            ["listen 127.0.0.1:8080;", "listen 127.0.0.1:8081;"]
        );
        s.address = Some("::1".parse().expect("an address"));
        assert_eq!(
            listens(&render(&s)),
            ["listen [::1]:8080;", "listen [::1]:8081;"]
        );
    }
}
