//! The readiness (proof) report over synthetic run directories: all passing, one slice
//! missing, one failing, one with a report of another schema, and runs spread wider
//! than the evidence window.
use serde_json::json;
use std::path::Path;
use testrunner_reports::{
    json as json_report, proof, CheckDecl, CheckResult, CheckStatus, MetricResult, RunReport, Verdict,
};

const SPEC: &str = include_str!("../../readiness/ha.yaml");

fn report(scenario: &str, started: &str, finished: &str, failing: Option<&str>) -> RunReport {
    let n: u32 = scenario[3..].parse().unwrap();
    let checks = (1..=10)
        .map(|i| {
            let id = format!("VAL{n}-{i:02}");
            let status = if failing == Some(id.as_str()) { CheckStatus::Fail } else { CheckStatus::Pass };
            CheckResult {
                decl: CheckDecl {
                    id,
                    name: format!("check_{i}"),
                    phase: "p".into(),
                    expect: vec![],
                    metric: None,
                    unit: None,
                    threshold: None,
                },
                status,
                message: String::new(),
                details: vec![],
                value: None,
            }
        })
        .collect();
    let metric = |name: &str, v: f64| MetricResult {
        name: name.into(),
        phase: "p".into(),
        value: json!(v),
        unit: Some("ms".into()),
        series: None,
    };
    RunReport {
        run_id: format!("{scenario}-run"),
        scenario: scenario.into(),
        started_at: started.into(),
        finished_at: Some(finished.into()),
        verdict: Some(if failing.is_some() { Verdict::Fail } else { Verdict::Pass }),
        checks,
        metrics: vec![
            metric("sigterm_failover_ms", 342.0),
            metric("loss_ms", 812.0),
            metric("idle_p95_ms", 0.0),
            metric("light_p95_ms", 2.0),
        ],
        ..Default::default()
    }
}

fn write(runs: &Path, r: &RunReport) {
    let dir = runs.join(&r.scenario).join("20261122T100000Z");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("report.json"), json_report::render(r)).unwrap();
}

fn all(runs: &Path, skip: Option<&str>, failing: Option<&str>) {
    for s in ["val13", "val14", "val15", "val16", "val17"] {
        if Some(s) == skip {
            continue;
        }
        let f = failing.filter(|f| f.to_lowercase().starts_with(s));
        write(runs, &report(s, "2026-11-22T10:00:00Z", "2026-11-22T10:05:00Z", f));
    }
}

fn build(runs: &Path) -> proof::Proof {
    proof::build(&proof::parse_spec(SPEC).unwrap(), runs)
}

#[test]
fn all_slices_passing_is_design_partner_ready() {
    let d = tempfile::tempdir().unwrap();
    all(d.path(), None, None);
    let p = build(d.path());
    assert!(p.ready());
    assert_eq!(p.verdict, "HA DESIGN PARTNER READY");
    assert!(p.checks.iter().all(|c| c.pass));
    let text = proof::text(&p);
    assert!(text.contains("VAL13  HA Failover Validation        PASS (10/10 checks)"), "{text}");
    assert!(text.contains("SIGTERM graceful failover: 342 ms [target <= 5,000 ms] PASS"), "{text}");
    assert!(text.contains("HA GA READY ✗ (NOT YET)"));
    assert!(text.ends_with("Verdict: HA DESIGN PARTNER READY\n"));
}

#[test]
fn a_missing_slice_is_missing_and_not_ready() {
    let d = tempfile::tempdir().unwrap();
    all(d.path(), Some("val15"), None);
    let p = build(d.path());
    assert!(!p.ready());
    assert_eq!(p.coverage[2].status, "MISSING");
    assert!(!p.checks.iter().find(|c| c.id == "VAL26-03").unwrap().pass);
    assert!(!p.checks.iter().find(|c| c.id == "VAL26-08").unwrap().pass);
    assert_eq!(p.verdict, "NOT READY");
}

#[test]
fn a_failing_slice_fails_its_check() {
    let d = tempfile::tempdir().unwrap();
    all(d.path(), None, Some("VAL17-04"));
    let p = build(d.path());
    assert_eq!(p.coverage[4].status, "FAIL");
    assert_eq!(p.coverage[4].detail, "9/10 checks");
    assert!(!p.checks.iter().find(|c| c.id == "VAL26-09").unwrap().pass);
    assert!(!p.ready());
}

#[test]
fn a_report_of_another_schema_is_missing_not_a_crash() {
    let d = tempfile::tempdir().unwrap();
    all(d.path(), None, None);
    let dir = d.path().join("val14/20261122T110000Z");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("report.json"), "{\"schema\": \"someone-else/v9\", \"checks\": 3}").unwrap();
    let p = build(d.path());
    assert_eq!(p.coverage[1].status, "MISSING");
    assert!(p.coverage[1].detail.starts_with("schema mismatch"), "{}", p.coverage[1].detail);
    assert!(!p.ready());
}

#[test]
fn runs_wider_than_the_window_are_not_coherent() {
    let d = tempfile::tempdir().unwrap();
    all(d.path(), Some("val17"), None);
    write(d.path(), &report("val17", "2026-11-22T16:30:00Z", "2026-11-22T17:00:00Z", None));
    let p = build(d.path());
    assert_eq!(p.window["ok"], false);
    assert!(!p.checks.iter().find(|c| c.id == "VAL26-10").unwrap().pass);
    assert!(p.checks.iter().filter(|c| c.id != "VAL26-10").all(|c| c.pass));
    assert!(!p.ready());
}

#[test]
fn html_is_escaped() {
    let d = tempfile::tempdir().unwrap();
    all(d.path(), None, None);
    let mut p = build(d.path());
    p.coverage[0].detail = "<script>alert(1)</script>".into();
    let html = proof::html(&p);
    assert!(!html.contains("<script>"));
    assert!(html.contains("&lt;script&gt;"));
}

#[test]
fn derived_thresholds_follow_the_seed_formulas() {
    use testrunner_scenario::{Expr, Scope, Span};
    // healthy = max(p95*3+1, 10); degraded = max(healthy*10, 100); alert = max(healthy*50, 500)
    for (p95, healthy, degraded, alert) in [(2.0, 10.0, 100.0, 500.0), (5.0, 16.0, 160.0, 800.0)] {
        let mut s = Scope::new();
        s.set("p", json!(p95));
        let h = Expr::compile("max(p * 3.0 + 1.0, 10.0)", Span::none()).unwrap().eval(&s).unwrap();
        assert_eq!(h, json!(healthy));
        s.set("h", h);
        assert_eq!(
            Expr::compile("max(h * 10.0, 100.0)", Span::none()).unwrap().eval(&s).unwrap(),
            json!(degraded)
        );
        assert_eq!(
            Expr::compile("max(h * 50.0, 500.0)", Span::none()).unwrap().eval(&s).unwrap(),
            json!(alert)
        );
    }
}
