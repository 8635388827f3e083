//! Ellison's dashboard and alert rules as kit renders them (`kit::render::monitoring`): the
//! dashboard is Grafana JSON whose panels fit its grid and whose variables are declared; the
//! ConfigMap carries it with the sidecar's label; the PrometheusRule, when asked for, holds
//! the rule file's groups; `promtool` (Debian's `prometheus`, from scripts/deps.sh) accepts
//! the rules and every dashboard query, and its unit tests show each alert firing when it
//! should and not before. That the queries name metrics Ellison exports is
//! `tests/tests/monitoring.rs`, against a real scrape.

mod common;

use std::collections::BTreeSet;
use std::process::Command;

use common::check::Check;
use kit::render::kinds::{PrometheusRule, RuleFile};
use kit::render::monitoring::{DASHBOARD_FILE, DASHBOARD_KEY, DASHBOARD_UID, RULES_FILE};
use kit::render::{Bundle, Content, Object};
use kit::{output, spec, validate, Target};
use serde_json::Value;

fn render(text: &str, target: Target) -> Bundle {
    kit::render(&validate::load(text).expect("valid"), target).expect("renders")
}

fn with_rule() -> String {
    let text = spec::EXAMPLE.replacen("prometheusRule: false", "prometheusRule: true", 1);
    assert_ne!(text, spec::EXAMPLE);
    text
}

fn text(bundle: &Bundle, path: &str) -> String {
    match bundle.files.get(path) {
        Some(Content::Text(t)) => t.clone(),
        other => panic!("{path}: {other:?}"),
    }
}

fn objects<'a>(bundle: &'a Bundle, path: &str) -> &'a [Object] {
    match bundle.files.get(path) {
        Some(Content::Objects(o)) => o,
        other => panic!("{path}: {other:?}"),
    }
}

fn dashboard() -> Value {
    let bundle = render(spec::EXAMPLE, Target::Kubernetes);
    serde_json::from_str(&text(&bundle, DASHBOARD_FILE)).expect("the dashboard is JSON")
}

/// Every PromQL expression of the dashboard: its panels' targets and its annotations.
fn dashboard_exprs(d: &Value) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![d];
    while let Some(v) = stack.pop() {
        match v {
            Value::Object(m) => {
                if let Some(Value::String(e)) = m.get("expr") {
                    out.push(e.clone());
                }
                stack.extend(m.values());
            }
            Value::Array(a) => stack.extend(a),
            _ => {}
        }
    }
    out
}

fn tool(name: &str) -> Command {
    let probe = Command::new(name).arg("--version").output();
    assert!(
        probe.is_ok_and(|o| o.status.success()),
        "{name} is not installed; run scripts/deps.sh"
    );
    Command::new(name)
}

fn promtool(args: &[&str], dir: &std::path::Path) -> String {
    let out = tool("promtool")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run promtool");
    let report =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "promtool {args:?}:\n{report}");
    report
}

#[test]
fn the_dashboard_is_grafana_json_whose_panels_fit_the_grid() {
    let d = dashboard();
    assert_eq!(d["uid"], DASHBOARD_UID);
    assert_eq!(d["title"], "Ellison");
    assert!(d["schemaVersion"].as_u64().is_some_and(|v| v >= 36));
    let variables: Vec<&str> = d["templating"]["list"]
        .as_array()
        .expect("variables")
        .iter()
        .map(|v| v["name"].as_str().expect("a name"))
        .collect();
    assert_eq!(variables, ["datasource", "namespace", "group"]);

    let panels = d["panels"].as_array().expect("panels");
    let mut ids = BTreeSet::new();
    let mut cells = BTreeSet::new();
    let mut titles = BTreeSet::new();
    let mut graphs = 0;
    for p in panels {
        let title = p["title"].as_str().expect("a title");
        assert!(ids.insert(p["id"].as_u64().expect("an id")), "{title}: id");
        assert!(titles.insert(title), "{title} twice");
        let g = &p["gridPos"];
        let (x, y, w, h) = (
            g["x"].as_u64().expect("x"),
            g["y"].as_u64().expect("y"),
            g["w"].as_u64().expect("w"),
            g["h"].as_u64().expect("h"),
        );
        assert!(x + w <= 24 && w > 0 && h > 0, "{title}: {g}");
        for cx in x..x + w {
            for cy in y..y + h {
                assert!(cells.insert((cx, cy)), "{title} overlaps at ({cx}, {cy})");
            }
        }
        if p["type"] == "row" {
            continue;
        }
        graphs += 1;
        assert_eq!(p["type"], "timeseries", "{title}");
        assert_eq!(p["datasource"]["uid"], "$datasource", "{title}");
        assert!(
            p["description"].as_str().is_some_and(|s| !s.is_empty()),
            "{title}: a description"
        );
        let targets = p["targets"].as_array().expect("targets");
        assert!(!targets.is_empty(), "{title}: no query");
        let mut refs = BTreeSet::new();
        for t in targets {
            assert!(refs.insert(t["refId"].as_str().expect("refId")), "{title}");
            assert!(t["legendFormat"].as_str().is_some(), "{title}");
            let expr = t["expr"].as_str().expect("expr");
            // Every variable a query uses is declared, or one of Grafana's own.
            for (i, _) in expr.match_indices('$') {
                let name: String = expr[i + 1..]
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                assert!(
                    variables.contains(&name.as_str()) || name == "__rate_interval",
                    "{title}: ${name} in {expr}"
                );
            }
            // Group series are filtered by both variables, process series by the namespace.
            assert!(
                expr.contains("namespace=~\"$namespace\""),
                "{title}: {expr}"
            );
        }
    }
    assert!(graphs >= 15, "{graphs} graphs");
    for needed in [
        "Master by address (failover timeline)",
        "Switch duration",
        "Held commands",
        "Commands",
        "Command latency",
        "Sentinel agreement",
        "Client connections",
        "Resident memory",
    ] {
        assert!(titles.contains(needed), "no panel {needed:?}");
    }
}

#[test]
fn clusters_get_the_dashboard_configmap_and_on_request_the_prometheus_rule() {
    for target in [Target::Kubernetes, Target::Openshift] {
        let plain = render(spec::EXAMPLE, target);
        let files = output::files(&plain).expect("yaml");
        assert!(files["kustomization.yaml"].contains("\n- monitoring.yaml\n"));
        let monitoring = objects(&plain, "monitoring.yaml");
        assert_eq!(monitoring.len(), 1, "no PrometheusRule unless asked");
        let Object::ConfigMap(cm) = &monitoring[0] else {
            panic!("{monitoring:?}");
        };
        assert_eq!(cm.metadata.name.as_deref(), Some("shop-ellison-dashboard"));
        let labels = cm.metadata.labels.clone().unwrap_or_default();
        assert_eq!(
            labels.get("grafana_dashboard").map(String::as_str),
            Some("1")
        );
        let data = cm.data.clone().unwrap_or_default();
        assert_eq!(data.keys().collect::<Vec<_>>(), [DASHBOARD_KEY]);
        assert_eq!(data[DASHBOARD_KEY], text(&plain, DASHBOARD_FILE));
        // kubectl apply keeps the object in an annotation of at most 256 KiB.
        assert!(data[DASHBOARD_KEY].len() < 200 * 1024);

        let asked = render(&with_rule(), target);
        let monitoring = objects(&asked, "monitoring.yaml");
        assert_eq!(monitoring.len(), 2);
        let Object::PrometheusRule(rule) = &monitoring[1] else {
            panic!("{monitoring:?}");
        };
        rule.check().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(rule.metadata.name.as_deref(), Some("shop-ellison"));
        let file: RuleFile = serde_yaml_ng::from_str(&text(&asked, RULES_FILE))
            .expect("the rule file reads back strictly");
        assert_eq!(rule.spec, file, "the PrometheusRule is the rule file");
        let yaml = output::object_yaml(&monitoring[1]).expect("yaml");
        assert!(yaml.starts_with("apiVersion: monitoring.coreos.com/v1\nkind: PrometheusRule\n"));
        let back: PrometheusRule = serde_yaml_ng::from_str(&yaml).expect("reads back strictly");
        assert_eq!(&back, rule);
        let files = output::files(&asked).expect("yaml");
        assert!(files["kustomization.yaml"].contains("\n- monitoring.yaml\n"));
    }
    // Compose gets the files alone; every target the same ones.
    let compose = render(spec::EXAMPLE, Target::Compose);
    assert!(!compose.files.contains_key("monitoring.yaml"));
    let k8s = render(spec::EXAMPLE, Target::Kubernetes);
    for path in [DASHBOARD_FILE, RULES_FILE] {
        assert_eq!(text(&compose, path), text(&k8s, path));
    }

    // The check refuses what the CRD refuses.
    let asked = render(&with_rule(), Target::Kubernetes);
    let Object::PrometheusRule(rule) = &objects(&asked, "monitoring.yaml")[1] else {
        panic!("no PrometheusRule");
    };
    let mut bad = rule.clone();
    bad.spec.groups[0].rules[0].for_ = "1 minute".into();
    assert!(bad.check().is_err_and(|e| e.contains("not a duration")));
    let mut bad = rule.clone();
    bad.spec.groups.push(bad.spec.groups[0].clone());
    assert!(bad.check().is_err_and(|e| e.contains("unique")));
}

#[test]
fn promtool_accepts_the_rules_and_every_dashboard_query() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bundle = render(spec::EXAMPLE, Target::Kubernetes);
    std::fs::write(dir.path().join("alerts.yaml"), text(&bundle, RULES_FILE)).expect("write");
    let report = promtool(&["check", "rules", "alerts.yaml"], dir.path());
    assert!(report.contains("SUCCESS: 6 rules found"), "{report}");

    // The dashboard's queries as recording rules, with Grafana's variables as Grafana would
    // fill them in: promtool parses each one.
    let exprs = dashboard_exprs(&dashboard());
    assert!(exprs.len() > 20, "{exprs:?}");
    let mut rules = String::from("groups:\n- name: dashboard\n  rules:\n");
    for (i, e) in exprs.iter().enumerate() {
        let filled = e
            .replace("$__rate_interval", "1m")
            .replace("$namespace", ".*")
            .replace("$group", ".*");
        assert!(!filled.contains('$'), "{e}");
        rules.push_str(&format!(
            "  - record: dashboard:query_{i}\n    expr: {}\n",
            serde_json::to_string(&filled).expect("a JSON string is a YAML string")
        ));
    }
    std::fs::write(dir.path().join("dashboard.yaml"), rules).expect("write");
    let report = promtool(&["check", "rules", "dashboard.yaml"], dir.path());
    assert!(
        report.contains(&format!("SUCCESS: {} rules found", exprs.len())),
        "{report}"
    );
}

/// promtool's unit tests of the alerts, on made-up series with Ellison's names and labels
/// (a scrape of the real thing backs those names: `tests/tests/monitoring.rs`). Series every
/// 15 s; `a x n` is n+1 samples of a.
const ALERT_TESTS: &str = r#"
rule_files: [alerts.yaml]
evaluation_interval: 15s
tests:
  - interval: 15s
    input_series:
      # cache: no verified master from 60 s to 165 s, its Sentinels with it; commands held
      # and failed, a stale master routed to, and a fast switch at 135 s.
      - series: 'ellison_master_verified{group="cache",instance="10.0.0.5:9121",namespace="shop",pod="shop-web-0"}'
        values: '1x3 0x7 1x40'
      - series: 'ellison_sentinels_known{group="cache",instance="10.0.0.5:9121",namespace="shop",pod="shop-web-0"}'
        values: '3x51'
      - series: 'ellison_sentinel_agrees{group="cache",sentinel="s1:26379",instance="10.0.0.5:9121",namespace="shop",pod="shop-web-0"}'
        values: '1x3 0x7 1x40'
      - series: 'ellison_sentinel_agrees{group="cache",sentinel="s2:26379",instance="10.0.0.5:9121",namespace="shop",pod="shop-web-0"}'
        values: '1x3 0x7 1x40'
      - series: 'ellison_sentinel_agrees{group="cache",sentinel="s3:26379",instance="10.0.0.5:9121",namespace="shop",pod="shop-web-0"}'
        values: '1x3 0x7 1x40'
      - series: 'ellison_held_commands_total{group="cache",outcome="failed",instance="10.0.0.5:9121",namespace="shop",pod="shop-web-0"}'
        values: '0x8 3x40'
      - series: 'ellison_held_commands_total{group="cache",outcome="sent",instance="10.0.0.5:9121",namespace="shop",pod="shop-web-0"}'
        values: '0x8 50x40'
      - series: 'ellison_unsafe_promotions_total{group="cache",action="routed",instance="10.0.0.5:9121",namespace="shop",pod="shop-web-0"}'
        values: '0x8 1x40'
      - series: 'ellison_unsafe_promotions_total{group="cache",action="refused",instance="10.0.0.5:9121",namespace="shop",pod="shop-web-0"}'
        values: '0x48'
      - series: 'ellison_master_switch_duration_seconds_count{group="cache",instance="10.0.0.5:9121",namespace="shop",pod="shop-web-0"}'
        values: '0x8 1x40'
      - series: 'ellison_master_switch_duration_seconds_bucket{group="cache",le="10",instance="10.0.0.5:9121",namespace="shop",pod="shop-web-0"}'
        values: '0x8 1x40'
      # sessions: always a master; Sentinel s3 lost from 75 s; a switch slower than 10 s.
      - series: 'ellison_master_verified{group="sessions",instance="10.0.0.5:9121",namespace="shop",pod="shop-web-0"}'
        values: '1x51'
      - series: 'ellison_sentinels_known{group="sessions",instance="10.0.0.5:9121",namespace="shop",pod="shop-web-0"}'
        values: '3x51'
      - series: 'ellison_sentinel_agrees{group="sessions",sentinel="s1:26379",instance="10.0.0.5:9121",namespace="shop",pod="shop-web-0"}'
        values: '1x51'
      - series: 'ellison_sentinel_agrees{group="sessions",sentinel="s2:26379",instance="10.0.0.5:9121",namespace="shop",pod="shop-web-0"}'
        values: '1x51'
      - series: 'ellison_sentinel_agrees{group="sessions",sentinel="s3:26379",instance="10.0.0.5:9121",namespace="shop",pod="shop-web-0"}'
        values: '1x4 0x46'
      - series: 'ellison_sentinel_reachable{group="sessions",sentinel="s3:26379",instance="10.0.0.5:9121",namespace="shop",pod="shop-web-0"}'
        values: '1x4 0x46'
      - series: 'ellison_sentinel_reachable{group="sessions",sentinel="s1:26379",instance="10.0.0.5:9121",namespace="shop",pod="shop-web-0"}'
        values: '1x51'
      - series: 'ellison_master_switch_duration_seconds_count{group="sessions",instance="10.0.0.5:9121",namespace="shop",pod="shop-web-0"}'
        values: '0x8 1x40'
      - series: 'ellison_master_switch_duration_seconds_bucket{group="sessions",le="10",instance="10.0.0.5:9121",namespace="shop",pod="shop-web-0"}'
        values: '0x48'
      - series: 'ellison_master_switch_duration_seconds_bucket{group="sessions",le="15",instance="10.0.0.5:9121",namespace="shop",pod="shop-web-0"}'
        values: '0x8 1x40'
      # pages: the same slow switch with le as Prometheus 3 stores it (10.0).
      - series: 'ellison_master_switch_duration_seconds_count{group="pages",instance="10.0.0.5:9121",namespace="shop",pod="shop-web-0"}'
        values: '0x8 1x40'
      - series: 'ellison_master_switch_duration_seconds_bucket{group="pages",le="10.0",instance="10.0.0.5:9121",namespace="shop",pod="shop-web-0"}'
        values: '0x48'
      - series: 'ellison_master_switch_duration_seconds_bucket{group="pages",le="15.0",instance="10.0.0.5:9121",namespace="shop",pod="shop-web-0"}'
        values: '0x8 1x40'
    alert_rule_test:
      # Pending for its minute, then firing; gone once a master is verified again.
      - eval_time: 1m45s
        alertname: EllisonNoVerifiedMaster
        exp_alerts: []
      - eval_time: 2m
        alertname: EllisonNoVerifiedMaster
        exp_alerts:
          - exp_labels: {severity: critical, group: cache, instance: "10.0.0.5:9121", namespace: shop, pod: shop-web-0}
      - eval_time: 3m30s
        alertname: EllisonNoVerifiedMaster
        exp_alerts: []
      # Only the switches that took longer than 10 s, whichever way le is written.
      - eval_time: 1m
        alertname: EllisonMasterSwitchSlow
        exp_alerts: []
      - eval_time: 3m
        alertname: EllisonMasterSwitchSlow
        exp_alerts:
          - exp_labels: {severity: warning, group: sessions, instance: "10.0.0.5:9121", namespace: shop, pod: shop-web-0}
          - exp_labels: {severity: warning, group: pages, instance: "10.0.0.5:9121", namespace: shop, pod: shop-web-0}
      # Failed held commands, not sent ones.
      - eval_time: 3m
        alertname: EllisonHeldCommandsFailing
        exp_alerts:
          - exp_labels: {severity: warning, group: cache, outcome: failed, instance: "10.0.0.5:9121", namespace: shop, pod: shop-web-0}
      - eval_time: 1m
        alertname: EllisonHeldCommandsFailing
        exp_alerts: []
      # A Sentinel that no longer agrees, for 5 minutes, while there is a master; cache's
      # Sentinels named no master while it had none: that is the other alert.
      - eval_time: 6m
        alertname: EllisonSentinelsDisagree
        exp_alerts: []
      - eval_time: 6m15s
        alertname: EllisonSentinelsDisagree
        exp_alerts:
          - exp_labels: {severity: warning, group: sessions, instance: "10.0.0.5:9121", namespace: shop, pod: shop-web-0}
      - eval_time: 6m15s
        alertname: EllisonSentinelUnreachable
        exp_alerts:
          - exp_labels: {severity: warning, group: sessions, sentinel: "s3:26379", instance: "10.0.0.5:9121", namespace: shop, pod: shop-web-0}
      - eval_time: 3m
        alertname: EllisonUnsafePromotion
        exp_alerts:
          - exp_labels: {severity: critical, group: cache, action: routed, instance: "10.0.0.5:9121", namespace: shop, pod: shop-web-0}
      - eval_time: 1m
        alertname: EllisonUnsafePromotion
        exp_alerts: []
"#;

#[test]
fn promtool_unit_tests_fire_each_alert_when_it_should() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bundle = render(spec::EXAMPLE, Target::Kubernetes);
    // The rules as rendered, without their annotations: promtool compares those too, and
    // `check rules` already parsed their templates.
    let mut file: RuleFile =
        serde_yaml_ng::from_str(&text(&bundle, RULES_FILE)).expect("the rule file");
    let mut alerts = BTreeSet::new();
    for r in file.groups.iter_mut().flat_map(|g| &mut g.rules) {
        r.annotations.clear();
        alerts.insert(r.alert.clone());
    }
    // Every alert has a case here.
    for a in &alerts {
        assert!(
            ALERT_TESTS.contains(&format!("alertname: {a}\n")),
            "no test of {a}"
        );
    }
    std::fs::write(
        dir.path().join("alerts.yaml"),
        serde_yaml_ng::to_string(&file).expect("yaml"),
    )
    .expect("write");
    std::fs::write(dir.path().join("tests.yaml"), ALERT_TESTS).expect("write");
    let report = promtool(&["test", "rules", "tests.yaml"], dir.path());
    assert!(report.contains("SUCCESS"), "{report}");
}
