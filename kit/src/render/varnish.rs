//! Varnish for Magento 2: its VCL and runtime parameters.

use super::contracts::VARNISH_GRACE_SECS;
use crate::validate::Store;

/// Varnish's runtime parameters (`-p name=value`): Magento tags a category page with one
/// `X-Magento-Tags` entry per product, so response headers outgrow Varnish's defaults (8 KiB
/// per header, 32 KiB in all) and the page would be a 503; Adobe's recommended sizes, and
/// a backend workspace that holds them.
pub const VARNISH_PARAMS: &[(&str, &str)] = &[
    ("http_resp_hdr_len", "65536"),
    ("http_resp_size", "98304"),
    ("workspace_backend", "163840"),
];

/// Varnish's VCL for Magento 2, after the `varnish7.vcl` that `bin/magento varnish:vcl:generate`
/// writes: the web Service as the backend probed on `/health_check.php`; purges by tag pattern
/// (or `X-Pool`) only on the purge port (the pods' addresses are not known for an ACL; the
/// NetworkPolicy lets only Magento's pods reach that port); no caching of non-GET requests,
/// customer and checkout pages, media and static files (nginx serves those with their own
/// lifetimes) or authenticated GraphQL; marketing parameters stripped and the query sorted;
/// the cache varied by `X-Magento-Vary` and `X-Forwarded-Proto`; cacheable responses lose
/// their `Set-Cookie`; private, uncacheable and error responses are not cached; browsers get
/// `no-store` for pages (Varnish, purged by Magento, is the only page cache); grace while the
/// backend is sick.
pub fn varnish_vcl(store: &Store) -> String {
    vcl(&format!("{}-web", store.name), 8080)
}

/// Query parameters of analytics and marketing tools, stripped before the lookup (as Magento's
/// `Identifier::getMarketingParameterPatterns()`).
const MARKETING_PARAMS: &str = "_branch_match_id|_bta_[a-z]+|_ga|_gl|_ke|_kx|campid|ceneo_cid|clickId|cof|customid|cx|dclid|dm_i|ef_id|epik|fbclid|gad_[a-z]+|gbraid|gclid|gclsrc|gdf[a-z]+|hsa_[a-z]+|igshid|mc_[a-z]+|mk[a-z]{3}|msclkid|(mtm|matomo)_[a-z]+|pcrid|p(iwi)?k_[a-z]+|redirect(_log)?_mongo_id|s_kwcid|sb_referer_host|ScCid|siteurl|snrai_[a-z]+|srsltid|tduid|trk_[a-z]+|utm_[a-z]+|wbraid|zanpid";

/// The VCL of [`varnish_vcl`] for a backend (the web Service and its port).
pub fn vcl(backend_host: &str, backend_port: u16) -> String {
    format!(
        r#"vcl 4.1;
# Varnish for Magento 2, rendered by kit: do not edit, re-render.
import std;

backend default {{
    .host = "{backend_host}";
    .port = "{backend_port}";
    .first_byte_timeout = 600s;
    .probe = {{
        .url = "/health_check.php";
        .timeout = 2s;
        .interval = 5s;
        .window = 10;
        .threshold = 5;
    }}
}}

sub vcl_recv {{
    if (req.restarts > 0) {{
        set req.hash_always_miss = true;
    }}
    if (req.url ~ "\?.+&.+") {{
        set req.url = std.querysort(req.url);
    }}
    if (req.method == "PURGE") {{
        # Purges come from Magento's pods on the purge port only.
        if (local.socket != "purge") {{
            return (synth(405, "Method not allowed"));
        }}
        if (!req.http.X-Magento-Tags-Pattern && !req.http.X-Pool) {{
            return (synth(400, "X-Magento-Tags-Pattern or X-Pool header required"));
        }}
        if (req.http.X-Magento-Tags-Pattern) {{
            ban("obj.http.X-Magento-Tags ~ " + req.http.X-Magento-Tags-Pattern);
        }}
        if (req.http.X-Pool) {{
            ban("obj.http.X-Pool ~ " + req.http.X-Pool);
        }}
        return (synth(200, "Purged"));
    }}
    if (req.method != "GET" && req.method != "HEAD" && req.method != "PUT" &&
        req.method != "POST" && req.method != "PATCH" && req.method != "TRACE" &&
        req.method != "OPTIONS" && req.method != "DELETE") {{
        return (pipe);
    }}
    if (req.method != "GET" && req.method != "HEAD") {{
        return (pass);
    }}
    if (req.url ~ "/customer" || req.url ~ "/checkout") {{
        return (pass);
    }}
    if (req.url ~ "^/(pub/)?(health_check.php)$") {{
        return (pass);
    }}
    set req.http.grace = "none";
    set req.url = regsub(req.url, "^http[s]?://", "");
    std.collect(req.http.Cookie);
    if (req.url ~ "(\?|&)({MARKETING_PARAMS})=") {{
        set req.url = regsuball(req.url, "({MARKETING_PARAMS})=[-_A-z0-9+()%.]+&?", "");
        set req.url = regsub(req.url, "[?|&]+$", "");
    }}
    # nginx serves media and static files with their own cache lifetimes.
    if (req.url ~ "^/(pub/)?(media|static)/") {{
        return (pass);
    }}
    if (req.url ~ "/graphql" && !req.http.X-Magento-Cache-Id && req.http.Authorization ~ "^Bearer") {{
        return (pass);
    }}
    return (hash);
}}

sub vcl_hash {{
    if ((req.url !~ "/graphql" || !req.http.X-Magento-Cache-Id) && req.http.cookie ~ "X-Magento-Vary=") {{
        hash_data(regsub(req.http.cookie, "^.*?X-Magento-Vary=([^;]+);*.*$", "\1"));
    }}
    # The ingress terminates TLS and says so.
    if (req.http.X-Forwarded-Proto) {{
        hash_data(req.http.X-Forwarded-Proto);
    }}
    if (req.url ~ "/graphql") {{
        if (req.http.X-Magento-Cache-Id) {{
            hash_data(req.http.X-Magento-Cache-Id);
            if (req.http.Authorization ~ "^Bearer") {{
                hash_data("Authorized");
            }}
        }}
        if (req.http.Store) {{
            hash_data(req.http.Store);
        }}
        if (req.http.Content-Currency) {{
            hash_data(req.http.Content-Currency);
        }}
    }}
}}

sub vcl_backend_response {{
    if (beresp.status == 403 || beresp.status == 404 || beresp.status >= 500) {{
        set beresp.uncacheable = true;
        set beresp.ttl = 120s;
        return (deliver);
    }}
    set beresp.grace = 3d;
    if (beresp.http.content-type ~ "text") {{
        set beresp.do_esi = true;
    }}
    if (bereq.url ~ "\.js$" || beresp.http.content-type ~ "text|javascript|json|css") {{
        set beresp.do_gzip = true;
    }}
    if (beresp.http.X-Magento-Debug) {{
        set beresp.http.X-Magento-Cache-Control = beresp.http.Cache-Control;
    }}
    if (beresp.http.Cache-Control ~ "private") {{
        set beresp.uncacheable = true;
        set beresp.ttl = 86400s;
        return (deliver);
    }}
    # A cacheable page keeps no cookie: one visitor's would be served to the next.
    if (beresp.ttl > 0s && (bereq.method == "GET" || bereq.method == "HEAD")) {{
        std.collect(beresp.http.set-cookie);
        # Not under this key when the response sets a vary cookie the request lacks.
        if ((bereq.url !~ "/graphql" || !bereq.http.X-Magento-Cache-Id)
            && bereq.http.cookie !~ "X-Magento-Vary="
            && beresp.http.set-cookie ~ "X-Magento-Vary=") {{
            set beresp.ttl = 0s;
            set beresp.uncacheable = true;
        }}
        unset beresp.http.set-cookie;
    }}
    if (beresp.ttl <= 0s ||
        beresp.http.Surrogate-control ~ "no-store" ||
        (!beresp.http.Surrogate-Control && beresp.http.Cache-Control ~ "no-cache|no-store") ||
        beresp.http.Vary == "*") {{
        # Hit-for-pass for two minutes.
        set beresp.ttl = 120s;
        set beresp.uncacheable = true;
    }}
    if (bereq.url ~ "/graphql" && bereq.http.X-Magento-Cache-Id && bereq.http.X-Magento-Cache-Id != beresp.http.X-Magento-Cache-Id) {{
        set beresp.ttl = 0s;
        set beresp.uncacheable = true;
    }}
    return (deliver);
}}

sub vcl_deliver {{
    if (obj.uncacheable) {{
        set resp.http.X-Magento-Cache-Debug = "UNCACHEABLE";
    }} else if (obj.hits) {{
        set resp.http.X-Magento-Cache-Debug = "HIT";
        set resp.http.Grace = req.http.grace;
    }} else {{
        set resp.http.X-Magento-Cache-Debug = "MISS";
    }}
    # Browsers keep no page: Varnish holds it, and Magento purges Varnish.
    if (resp.http.Cache-Control !~ "private" && req.url !~ "^/(pub/)?(media|static)/") {{
        set resp.http.Pragma = "no-cache";
        set resp.http.Expires = "-1";
        set resp.http.Cache-Control = "no-store, no-cache, must-revalidate, max-age=0";
    }}
    if (!resp.http.X-Magento-Debug) {{
        unset resp.http.Age;
    }}
    unset resp.http.X-Magento-Debug;
    unset resp.http.X-Magento-Tags;
    unset resp.http.X-Pool;
    unset resp.http.X-Powered-By;
    unset resp.http.Server;
    unset resp.http.X-Varnish;
    unset resp.http.Via;
    unset resp.http.Link;
}}

sub vcl_hit {{
    if (obj.ttl >= 0s) {{
        return (deliver);
    }}
    if (std.healthy(req.backend_hint)) {{
        if (obj.ttl + {VARNISH_GRACE_SECS}s > 0s) {{
            set req.http.grace = "normal (healthy server)";
            return (deliver);
        }}
        return (restart);
    }}
    set req.http.grace = "unlimited (unhealthy server)";
    return (deliver);
}}
"#
    )
}
