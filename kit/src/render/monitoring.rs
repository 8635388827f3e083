//! Ellison's Grafana dashboard and Prometheus alert rules, rendered next to the store.
//!
//! Every target gets them as plain files ([`DASHBOARD_FILE`], Grafana's JSON model, and
//! [`RULES_FILE`], a Prometheus rule file) for a Grafana and a Prometheus configured by hand;
//! Kubernetes and OpenShift also get them as objects in `monitoring.yaml`: a ConfigMap
//! labelled `grafana_dashboard: "1"`, which Grafana's dashboard sidecar loads, and, with
//! `spec.monitoring.prometheusRule`, a `monitoring.coreos.com/v1` PrometheusRule for the
//! Prometheus Operator (the CRD must exist, so it is opt-in).
//!
//! The queries name only what Ellison exports (`ellison/src/metrics.rs`, `process.rs`):
//! `tests/tests/monitoring.rs` scrapes a real Ellison through a failover and checks every
//! metric, and every label value a matcher names, against the scrape; `kit/tests/monitoring.rs`
//! puts the rules through `promtool check rules` and `promtool test rules`. Nothing depends
//! on the store but the objects' names and labels: the same Ellison metrics, wherever they come
//! from, are filtered by the `namespace` and `group` labels of the dashboard's variables.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use super::bundle::Object;
use super::k8s::{Component, Ctx};
use super::kinds::{AlertRule, PrometheusRule, RuleFile, RuleGroup};

/// The dashboard, Grafana's JSON model.
pub const DASHBOARD_FILE: &str = "monitoring/ellison-dashboard.json";

/// The alert rules, a Prometheus rule file (`rule_files`).
pub const RULES_FILE: &str = "monitoring/ellison-alerts.yaml";

/// The dashboard's key in its ConfigMap.
pub const DASHBOARD_KEY: &str = "ellison.json";

/// The dashboard's `uid`: its address in Grafana, `/d/ellison`.
pub const DASHBOARD_UID: &str = "ellison";

/// How long a group may go without a verified master before it is an alert: a failover
/// (Sentinel's `down-after-milliseconds`, the election, the promotion) takes seconds.
pub const NO_MASTER_FOR: &str = "1m";

/// A master switch slower than this many seconds is an alert (commands waited longer than
/// the default `hold_timeout` and failed): a bucket boundary of
/// `ellison_master_switch_duration_seconds`.
pub const SLOW_SWITCH_SECONDS: u32 = 10;

/// The `le` matcher of that bucket: Ellison writes `le="10"`, which Prometheus 2 stores as it
/// is and Prometheus 3 normalizes to `le="10.0"`; the matcher takes both.
fn slow_switch_le() -> String {
    format!("le=~\"{SLOW_SWITCH_SECONDS}|{SLOW_SWITCH_SECONDS}\\\\.0\"")
}

/// The plain files, for every target.
pub fn files() -> Vec<(String, String)> {
    vec![
        (DASHBOARD_FILE.to_owned(), dashboard_json()),
        (RULES_FILE.to_owned(), rules_yaml()),
    ]
}

/// `monitoring.yaml`: the dashboard's ConfigMap and, when the spec asks, the PrometheusRule.
pub fn render(ctx: &Ctx<'_>) -> Vec<Object> {
    let c = Component::Ellison;
    let Object::ConfigMap(mut dashboard) = ctx.config_map(
        ctx.name("ellison-dashboard"),
        c,
        &[(DASHBOARD_KEY, dashboard_json())],
    ) else {
        unreachable!("config_map makes a ConfigMap")
    };
    // The label Grafana's dashboard sidecar (the grafana chart, kube-prometheus-stack)
    // watches by default.
    dashboard
        .metadata
        .labels
        .get_or_insert_with(BTreeMap::new)
        .insert("grafana_dashboard".into(), "1".into());
    let mut out = vec![Object::ConfigMap(dashboard)];
    if ctx.store.monitoring.prometheus_rule {
        out.push(Object::PrometheusRule(PrometheusRule {
            api_version: "monitoring.coreos.com/v1".into(),
            kind: "PrometheusRule".into(),
            metadata: ctx.meta(ctx.name("ellison"), c),
            spec: rules(),
        }));
    }
    out
}

/// The rule file's text.
pub fn rules_yaml() -> String {
    let body = serde_yaml_ng::to_string(&rules()).unwrap_or_default();
    format!(
        "# Ellison's alert rules, rendered by kit: list this file under rule_files (the\n\
         # PrometheusRule in monitoring.yaml holds the same groups for the Prometheus Operator).\n\
         {body}"
    )
}

fn alert(
    name: &str,
    expr: &str,
    for_: &str,
    severity: &str,
    summary: &str,
    description: &str,
) -> AlertRule {
    AlertRule {
        alert: name.to_owned(),
        expr: expr.to_owned(),
        for_: for_.to_owned(),
        labels: BTreeMap::from([("severity".to_owned(), severity.to_owned())]),
        annotations: BTreeMap::from([
            ("summary".to_owned(), summary.to_owned()),
            ("description".to_owned(), description.to_owned()),
        ]),
    }
}

/// The alert rules: one group, `ellison`. Each alert keeps the labels that say which Ellison
/// (`namespace`, `pod`, `instance`) and which group.
pub fn rules() -> RuleFile {
    let at = "{{ $labels.namespace }}/{{ $labels.pod }} at {{ $labels.instance }}";
    RuleFile {
        groups: vec![RuleGroup {
            name: "ellison".into(),
            rules: vec![
                alert(
                    "EllisonNoVerifiedMaster",
                    "ellison_master_verified == 0",
                    NO_MASTER_FOR,
                    "critical",
                    &format!("Ellison {at} has had no verified master for group {{{{ $labels.group }}}} for {NO_MASTER_FOR}"),
                    "Commands of the group wait hold_timeout, then fail with MASTERDOWN. GET /status on Ellison's admin port shows why commands are held and what each Sentinel reports; its warn lines name a Sentinel that is unreachable, refuses the credentials or does not monitor the master name, and a node that refuses Ellison.",
                ),
                alert(
                    "EllisonMasterSwitchSlow",
                    &format!(
                        "increase(ellison_master_switch_duration_seconds_count[15m])\n  - ignoring (le) increase(ellison_master_switch_duration_seconds_bucket{{{}}}[15m])\n  > 0",
                        slow_switch_le()
                    ),
                    "0m",
                    "warning",
                    &format!("A master switch of group {{{{ $labels.group }}}} took more than {SLOW_SWITCH_SECONDS} s, seen by Ellison {at}"),
                    "From the first sign of trouble to the new master verified took longer than commands wait by default (hold_timeout 5s): clients got MASTERDOWN meanwhile. The Sentinels' down-after-milliseconds and failover-timeout, and Ellison's log of the switch (took_ms), say where the time went.",
                ),
                alert(
                    "EllisonHeldCommandsFailing",
                    "increase(ellison_held_commands_total{outcome=\"failed\"}[5m]) > 0",
                    "0m",
                    "warning",
                    &format!("Commands of group {{{{ $labels.group }}}} failed with MASTERDOWN after waiting for a master, in Ellison {at}"),
                    "Commands waited hold_timeout for a verified master and failed: clients saw errors. A failover slower than hold_timeout, or a master lost without a replacement.",
                ),
                alert(
                    "EllisonSentinelsDisagree",
                    "(sum without (sentinel) (ellison_sentinel_agrees) < ellison_sentinels_known)\n  and ellison_master_verified == 1",
                    "5m",
                    "warning",
                    &format!("Not every Sentinel of group {{{{ $labels.group }}}} names the verified master, seen by Ellison {at}"),
                    "A majority still names the master Ellison routes to, but some known Sentinels do not (unreachable, another address, an older config-epoch, not monitoring the master name): the group survives fewer failures than it should. GET /status lists each Sentinel's report.",
                ),
                alert(
                    "EllisonSentinelUnreachable",
                    "ellison_sentinel_reachable == 0",
                    "5m",
                    "warning",
                    &format!("Sentinel {{{{ $labels.sentinel }}}} of group {{{{ $labels.group }}}} does not answer Ellison {at}"),
                    "Ellison counts every known Sentinel, reachable or not, in the majority it needs: each one lost brings the group closer to no verified master. A Sentinel removed for good stays known until Ellison restarts.",
                ),
                alert(
                    "EllisonUnsafePromotion",
                    "increase(ellison_unsafe_promotions_total[15m]) > 0",
                    "0m",
                    "critical",
                    &format!("The Sentinels promoted a master of group {{{{ $labels.group }}}} that lacks acknowledged writes ({{{{ $labels.action }}}}), seen by Ellison {at}"),
                    "The new master's replication history lacks writes the previous master was seen to hold: with on_stale_promotion = route they are lost, with refuse the group has no master until an operator acts. Ellison's error line gives the gap in bytes; see README, the contract.",
                ),
            ],
        }],
    }
}

/// The dashboard's text: Grafana's JSON model, pretty-printed.
pub fn dashboard_json() -> String {
    let mut text = serde_json::to_string_pretty(&dashboard()).unwrap_or_default();
    text.push('\n');
    text
}

/// Selector of a group's series, by the dashboard's variables.
const GROUP: &str = "namespace=~\"$namespace\", group=~\"$group\"";
/// Selector of a process' series (no group label).
const PROCESS: &str = "namespace=~\"$namespace\"";
/// The dashboard's data source, a variable.
const DATASOURCE: &str = "$datasource";

/// One panel, before it is placed: title, description, unit, `(expr, legend)` targets.
struct Panel {
    title: &'static str,
    description: &'static str,
    unit: &'static str,
    bars: bool,
    targets: Vec<(String, &'static str)>,
}

fn panel(
    title: &'static str,
    description: &'static str,
    unit: &'static str,
    targets: Vec<(String, &'static str)>,
) -> Panel {
    Panel {
        title,
        description,
        unit,
        bars: false,
        targets,
    }
}

fn bars(mut p: Panel) -> Panel {
    p.bars = true;
    p
}

fn rate(metric: &str, by: &str) -> String {
    format!("sum by ({by}) (rate({metric}{{{GROUP}}}[$__rate_interval]))")
}

fn increase(metric: &str, by: &str) -> String {
    format!("sum by ({by}) (increase({metric}{{{GROUP}}}[$__rate_interval]))")
}

fn quantile(q: &str, histogram: &str, window: &str) -> String {
    format!(
        "histogram_quantile({q}, sum by (group, le) (rate({histogram}_bucket{{{GROUP}}}[{window}])))"
    )
}

/// The dashboard's rows and their panels.
fn rows() -> Vec<(&'static str, Vec<Panel>)> {
    vec![
        (
            "Master and failovers",
            vec![
                panel(
                    "Verified master",
                    "1 while the group has a verified master; 0 while commands are held (the worst Ellison).",
                    "none",
                    vec![(
                        format!("min by (group) (ellison_master_verified{{{GROUP}}})"),
                        "{{group}}",
                    )],
                ),
                panel(
                    "Master by address (failover timeline)",
                    "The verified master of each group: a line per address, present while it is the master.",
                    "none",
                    vec![(
                        format!("max by (group, address) (ellison_master_info{{{GROUP}}})"),
                        "{{group}} {{address}}",
                    )],
                ),
                bars(panel(
                    "Master switches",
                    "Changes of verified master (address or config-epoch), as the Ellison that saw most counts them.",
                    "short",
                    vec![(
                        format!("max by (group) (increase(ellison_master_switches_total{{{GROUP}}}[$__rate_interval]))"),
                        "{{group}}",
                    )],
                )),
                panel(
                    "Switch duration",
                    "From the first sign of trouble (a Sentinel event, a failed ROLE check, a disagreement) to the new master verified.",
                    "s",
                    vec![
                        (
                            format!(
                                "sum by (group) (increase(ellison_master_switch_duration_seconds_sum{{{GROUP}}}[15m]))\n  / sum by (group) (increase(ellison_master_switch_duration_seconds_count{{{GROUP}}}[15m]))"
                            ),
                            "{{group}} mean (15m)",
                        ),
                        (
                            quantile("0.99", "ellison_master_switch_duration_seconds", "1h"),
                            "{{group}} p99 (1h)",
                        ),
                    ],
                ),
                panel(
                    "Held commands",
                    "Commands that waited for a verified master: sent once one was verified, or failed with MASTERDOWN after hold_timeout.",
                    "ops",
                    vec![(rate("ellison_held_commands_total", "group, outcome"), "{{group}} {{outcome}}")],
                ),
                bars(panel(
                    "Sessions on a changed master",
                    "Client sessions moved to the new master (idle, or after an in-flight command's error) or closed because they were pinned (MULTI, WATCH, subscriptions ...).",
                    "short",
                    vec![(
                        format!("{} > 0", increase("ellison_failover_sessions_total", "group, action, reason")),
                        "{{group}} {{action}} ({{reason}})",
                    )],
                )),
                bars(panel(
                    "Promotions and stale masters",
                    "Masters routed to on the promotion fast path (confirmed by the Sentinels or withdrawn), and masters named by the Sentinels that lack acknowledged writes (routed or refused).",
                    "short",
                    vec![
                        (increase("ellison_promotions_total", "group, outcome"), "{{group}} fast path {{outcome}}"),
                        (
                            increase("ellison_unsafe_promotions_total", "group, action"),
                            "{{group}} stale master {{action}}",
                        ),
                    ],
                )),
                panel(
                    "Unanswered ROLE checks",
                    "ROLE checks of the verified master that got no answer (a timeout, -BUSY, -LOADING): a slow master, kept while the Sentinels name it.",
                    "ops",
                    vec![(rate("ellison_role_checks_unanswered_total", "group"), "{{group}}")],
                ),
            ],
        ),
        (
            "Sentinels",
            vec![
                panel(
                    "Sentinel agreement",
                    "Known Sentinels, and how many are reachable, report on the master name and name the verified master, as the Ellison that sees fewest does.",
                    "short",
                    vec![
                        (format!("max by (group) (ellison_sentinels_known{{{GROUP}}})"), "{{group}} known"),
                        (
                            format!("min by (group) (sum without (sentinel) (ellison_sentinel_reachable{{{GROUP}}}))"),
                            "{{group}} reachable",
                        ),
                        (
                            format!("min by (group) (sum without (sentinel) (ellison_sentinel_monitors{{{GROUP}}}))"),
                            "{{group}} monitoring",
                        ),
                        (
                            format!("min by (group) (sum without (sentinel) (ellison_sentinel_agrees{{{GROUP}}}))"),
                            "{{group}} agreeing",
                        ),
                    ],
                ),
                panel(
                    "Sentinels by endpoint",
                    "1 while every Ellison finds the Sentinel reachable and naming the verified master.",
                    "none",
                    vec![
                        (
                            format!("min by (group, sentinel) (ellison_sentinel_agrees{{{GROUP}}})"),
                            "{{group}} {{sentinel}} agrees",
                        ),
                        (
                            format!("min by (group, sentinel) (ellison_sentinel_reachable{{{GROUP}}})"),
                            "{{group}} {{sentinel}} reachable",
                        ),
                    ],
                ),
            ],
        ),
        (
            "Traffic",
            vec![
                panel(
                    "Commands",
                    "Client commands forwarded to Redis.",
                    "ops",
                    vec![(rate("ellison_commands_total", "group"), "{{group}}")],
                ),
                panel(
                    "Command latency",
                    "From a client command read whole to its reply, through Ellison.",
                    "s",
                    vec![
                        (
                            quantile("0.5", "ellison_command_duration_seconds", "$__rate_interval"),
                            "{{group}} p50",
                        ),
                        (
                            quantile("0.99", "ellison_command_duration_seconds", "$__rate_interval"),
                            "{{group}} p99",
                        ),
                    ],
                ),
                panel(
                    "Client connections",
                    "Client connections open now.",
                    "short",
                    vec![(
                        format!("sum by (group) (ellison_client_connections_active{{{GROUP}}})"),
                        "{{group}}",
                    )],
                ),
                panel(
                    "Connections opened and closed",
                    "Accepted, refused at max_clients, and how they ended.",
                    "ops",
                    vec![(rate("ellison_client_connections_total", "group, outcome"), "{{group}} {{outcome}}")],
                ),
                panel(
                    "Client traffic",
                    "Bytes read from and written to clients.",
                    "Bps",
                    vec![
                        (rate("ellison_client_received_bytes_total", "group"), "{{group}} received"),
                        (rate("ellison_client_sent_bytes_total", "group"), "{{group}} sent"),
                    ],
                ),
                panel(
                    "Upstream connects",
                    "Time to connect (and handshake) to the master for a session.",
                    "s",
                    vec![(
                        quantile("0.99", "ellison_upstream_connect_duration_seconds", "$__rate_interval"),
                        "{{group}} p99",
                    )],
                ),
                panel(
                    "Connect and TLS failures",
                    "Failed connects to the master, and failed TLS handshakes by peer.",
                    "ops",
                    vec![
                        (rate("ellison_upstream_connect_failures_total", "group"), "{{group}} connect"),
                        (rate("ellison_tls_handshake_failures_total", "group, peer"), "{{group}} TLS {{peer}}"),
                    ],
                ),
                panel(
                    "Client refusals",
                    "What clients were refused: wrong AUTH (when Ellison checks credentials), denied commands, protocol errors (the connection is closed). A burst of auth_failed is someone guessing, or a client with an old password.",
                    "ops",
                    vec![(rate("ellison_client_refusals_total", "group, kind"), "{{group}} {{kind}}")],
                ),
            ],
        ),
        (
            "Process",
            vec![
                panel(
                    "Resident memory",
                    "Resident memory of each Ellison process.",
                    "bytes",
                    vec![(
                        format!("ellison_process_resident_memory_bytes{{{PROCESS}}}"),
                        "{{pod}} {{instance}}",
                    )],
                ),
                panel(
                    "File descriptors",
                    "Open descriptors (each client and upstream connection holds one) and the limit.",
                    "short",
                    vec![
                        (format!("ellison_process_open_fds{{{PROCESS}}}"), "{{pod}} {{instance}} open"),
                        (format!("ellison_process_max_fds{{{PROCESS}}}"), "{{pod}} {{instance}} limit"),
                    ],
                ),
                panel(
                    "CPU",
                    "CPU seconds per second (cores) of each Ellison process.",
                    "short",
                    vec![(
                        format!("rate(ellison_process_cpu_seconds_total{{{PROCESS}}}[$__rate_interval])"),
                        "{{pod}} {{instance}}",
                    )],
                ),
                panel(
                    "Uptime, versions and reloads",
                    "Time since each process started, the versions running, and configuration reloads (SIGHUP) by result.",
                    "short",
                    vec![
                        (
                            format!("time() - ellison_process_start_time_seconds{{{PROCESS}}}"),
                            "{{pod}} {{instance}} uptime (s)",
                        ),
                        (format!("count by (version) (ellison_build_info{{{PROCESS}}})"), "version {{version}}"),
                        (
                            format!("sum by (result) (increase(ellison_config_reloads_total{{{PROCESS}}}[$__rate_interval]))"),
                            "reloads {{result}}",
                        ),
                    ],
                ),
            ],
        ),
    ]
}

/// Grafana's JSON model of the dashboard (schema 39, Grafana 10 and later).
pub fn dashboard() -> Value {
    let datasource = json!({ "type": "prometheus", "uid": DATASOURCE });
    let mut panels = Vec::new();
    let mut id = 0;
    let mut y = 0;
    for (row, members) in rows() {
        id += 1;
        panels.push(json!({
            "type": "row",
            "id": id,
            "title": row,
            "collapsed": false,
            "gridPos": { "h": 1, "w": 24, "x": 0, "y": y },
            "panels": [],
        }));
        y += 1;
        let count = members.len();
        for (i, p) in members.into_iter().enumerate() {
            id += 1;
            let targets: Vec<Value> = p
                .targets
                .iter()
                .zip('A'..)
                .map(|((expr, legend), ref_id)| {
                    json!({
                        "datasource": datasource,
                        "expr": expr,
                        "legendFormat": legend,
                        "refId": ref_id.to_string(),
                    })
                })
                .collect();
            let x = if i % 2 == 0 { 0 } else { 12 };
            panels.push(json!({
                "type": "timeseries",
                "id": id,
                "title": p.title,
                "description": p.description,
                "datasource": datasource,
                "gridPos": { "h": 8, "w": 12, "x": x, "y": y },
                "fieldConfig": {
                    "defaults": {
                        "unit": p.unit,
                        "custom": {
                            "drawStyle": if p.bars { "bars" } else { "line" },
                            "fillOpacity": if p.bars { 80 } else { 10 },
                            "showPoints": "never",
                        },
                    },
                    "overrides": [],
                },
                "options": {
                    "legend": { "displayMode": "list", "placement": "bottom", "showLegend": true },
                    "tooltip": { "mode": "multi", "sort": "desc" },
                },
                "targets": targets,
            }));
            if i % 2 == 1 {
                y += 8;
            }
        }
        if count % 2 == 1 {
            y += 8;
        }
    }
    json!({
        "uid": DASHBOARD_UID,
        "title": "Ellison",
        "description": "Ellison, the Sentinel-aware Redis proxy: failovers, held commands, Sentinels, traffic and the process.",
        "tags": ["ellison", "redis", "magento"],
        "editable": true,
        "graphTooltip": 1,
        "refresh": "30s",
        "schemaVersion": 39,
        "time": { "from": "now-6h", "to": "now" },
        "timezone": "browser",
        "version": 1,
        "annotations": {
            "list": [
                {
                    "builtIn": 1,
                    "datasource": { "type": "grafana", "uid": "-- Grafana --" },
                    "enable": true,
                    "hide": true,
                    "iconColor": "rgba(0, 211, 255, 1)",
                    "name": "Annotations & Alerts",
                    "type": "dashboard",
                },
                {
                    "datasource": datasource,
                    "enable": true,
                    "expr": format!("max by (group) (changes(ellison_master_switches_total{{{GROUP}}}[1m])) > 0"),
                    "iconColor": "red",
                    "name": "Master switches",
                    "step": "1m",
                    "titleFormat": "master switch",
                    "textFormat": "group {{group}}",
                },
            ],
        },
        "templating": {
            "list": [
                {
                    "type": "datasource",
                    "name": "datasource",
                    "label": "Data source",
                    "query": "prometheus",
                    "current": {},
                    "hide": 0,
                },
                {
                    "type": "query",
                    "name": "namespace",
                    "label": "Namespace",
                    "datasource": datasource,
                    "query": { "query": "label_values(ellison_build_info, namespace)", "refId": "namespace" },
                    "definition": "label_values(ellison_build_info, namespace)",
                    "includeAll": true,
                    "allValue": ".*",
                    "multi": true,
                    "refresh": 2,
                    "sort": 1,
                    "current": { "text": "All", "value": "$__all" },
                    "hide": 0,
                },
                {
                    "type": "query",
                    "name": "group",
                    "label": "Group",
                    "datasource": datasource,
                    "query": {
                        "query": format!("label_values(ellison_master_verified{{{PROCESS}}}, group)"),
                        "refId": "group",
                    },
                    "definition": format!("label_values(ellison_master_verified{{{PROCESS}}}, group)"),
                    "includeAll": true,
                    "allValue": ".*",
                    "multi": true,
                    "refresh": 2,
                    "sort": 1,
                    "current": { "text": "All", "value": "$__all" },
                    "hide": 0,
                },
            ],
        },
        "panels": panels,
    })
}
