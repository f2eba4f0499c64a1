//! The readiness (proof) report over synthetic run directories written with the real
//! `report.json` renderer: all passing, a slice missing, a slice failing, reports of another
//! schema or garbage, runs wider than the evidence window, derived thresholds, escaping,
//! expressions that cannot be evaluated, and spec errors with their positions.
use chrono::{DateTime, Duration, TimeZone, Utc};
use serde_json::{json, Value};
use std::path::Path;
use testrunner_readiness::{self as readiness, Readiness, SliceStatus, Spec};
use testrunner_reports::{
    json as json_report, CheckDecl, CheckResult, CheckStatus, MetricResult, RunReport, Verdict,
};

const SPEC: &str = include_str!("../../readiness/ha.yaml");
const SLICES: [&str; 5] = ["val13", "val14", "val15", "val16", "val17"];

fn spec() -> Spec {
    readiness::load_spec("readiness/ha.yaml", SPEC).unwrap_or_else(|e| panic!("{}", e.render(false)))
}

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 23, 9, 0, 0).unwrap()
}

fn metric(name: &str, v: Value) -> MetricResult {
    MetricResult {
        name: name.into(),
        phase: "p".into(),
        value: v,
        unit: Some("ms".into()),
        series: None,
        interval: None,
        error: None,
    }
}

/// The metrics the shipped scenarios record (values from the seed's example report).
fn metrics(scenario: &str, light_p95: f64) -> Vec<MetricResult> {
    match scenario {
        "val13" => vec![
            metric("sigterm_failover_ms", json!(342)),
            metric("sigkill_failover_ms", json!(389)),
            MetricResult {
                series: Some(json!({"count": 3, "min": 281.0, "median": 305.0, "max": 318.0,
                                    "all": [281.0, 305.0, 318.0]})),
                ..metric("rapid_failover_ms", json!(305.0))
            },
        ],
        "val14" => vec![
            metric("idle_p95_ms", json!(0)),
            metric("light_p95_ms", json!(light_p95)),
            metric("light_drain_ms", json!(87)),
            metric("heavy_p99_ms", json!(1)),
            metric("heavy_drain_ms", json!(412)),
        ],
        "val15" => vec![metric("backup_ms", json!(1247)), metric("restore_ms", json!(2891))],
        "val16" => vec![metric("detection_ms", json!(106)), metric("split_brain_recovery_ms", json!(524))],
        _ => vec![metric("loss_ms", json!(812)), metric("recovery_ms", json!(1500))],
    }
}

/// A run of `scenario` with ten checks `VALnn-01..10`, all passing except `failing`.
fn report(scenario: &str, start: DateTime<Utc>, failing: &[&str], light_p95: f64) -> RunReport {
    let n = &scenario[3..];
    let checks: Vec<CheckResult> = (1..=10)
        .map(|i| {
            let id = format!("VAL{n}-{i:02}");
            let failed = failing.contains(&id.as_str());
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
                status: if failed { CheckStatus::Fail } else { CheckStatus::Pass },
                message: String::new(),
                details: vec![],
                value: None,
                failed_iterations: vec![],
                at: None,
            }
        })
        .collect();
    let fmt = |t: DateTime<Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    RunReport {
        run_id: format!("{scenario}-{}", start.format("%Y%m%dT%H%M%SZ")),
        scenario: scenario.into(),
        started_at: fmt(start),
        finished_at: Some(fmt(start + Duration::minutes(5))),
        verdict: Some(if checks.iter().all(|c| c.status == CheckStatus::Pass) {
            Verdict::Pass
        } else {
            Verdict::Fail
        }),
        checks,
        metrics: metrics(scenario, light_p95),
        ..Default::default()
    }
}

fn write_run(runs: &Path, r: &RunReport) {
    let dir = runs.join(&r.scenario).join(&r.run_id[r.scenario.len() + 1..]);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("report.json"), json_report::render(r)).unwrap();
}

fn write_raw(runs: &Path, scenario: &str, stamp: &str, text: &str) {
    let dir = runs.join(scenario).join(stamp);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("report.json"), text).unwrap();
}

/// The five slices, ten minutes apart, except `skip`; `failing` check ids fail.
fn all(runs: &Path, skip: Option<&str>, failing: &[&str]) {
    for (i, s) in SLICES.iter().enumerate() {
        if Some(*s) != skip {
            write_run(runs, &report(s, t0() + Duration::minutes(10 * i as i64), failing, 0.0));
        }
    }
}

fn eval(runs: &Path) -> Readiness {
    readiness::evaluate(&spec(), runs, t0() + Duration::hours(1))
}

fn check<'a>(r: &'a Readiness, id: &str) -> &'a readiness::CheckOutcome {
    r.check(id).unwrap_or_else(|| panic!("no check {id}"))
}

#[test]
fn all_slices_passing_within_the_window_is_design_partner_ready() {
    let d = tempfile::tempdir().unwrap();
    all(d.path(), None, &[]);
    let r = eval(d.path());
    assert!(r.ready);
    assert!(r.ready);
    assert_eq!(r.verdict, "HA DESIGN PARTNER READY");
    assert!(r.checks.iter().all(|c| c.pass), "{:#?}", r.checks);
    assert_eq!((r.pass, r.fail), (10, 0));
    assert!(r.coverage.iter().all(|c| c.status == SliceStatus::Pass && c.detail == "10/10 checks"));
    assert!(r.window.ok);
    assert_eq!(r.window.span_hours, 0.75);
    assert!(!r.levels[1].reached && !r.levels[2].reached);
}

#[test]
fn text_layout_follows_the_seed_report_format() {
    let d = tempfile::tempdir().unwrap();
    all(d.path(), None, &[]);
    let text = readiness::text(&eval(d.path())).replace(&*d.path().to_string_lossy(), "<runs>");
    insta::assert_snapshot!("readiness_all_pass", text);
}

#[test]
fn a_missing_slice_is_missing_and_not_ready() {
    let d = tempfile::tempdir().unwrap();
    all(d.path(), Some("val15"), &[]);
    let r = eval(d.path());
    let c = r.slice("VAL15").unwrap();
    assert_eq!((c.status, c.detail.as_str()), (SliceStatus::Missing, "no run found"));
    let text = readiness::text(&r);
    assert!(text.contains("VAL15  Backup/Restore Validation     MISSING (no run found)"), "{text}");
    for id in ["VAL26-03", "VAL26-08", "VAL26-10"] {
        assert!(!check(&r, id).pass, "{id}");
    }
    for id in ["VAL26-01", "VAL26-02", "VAL26-04", "VAL26-05", "VAL26-06", "VAL26-07", "VAL26-09"] {
        assert!(check(&r, id).pass, "{id}");
    }
    assert_eq!(check(&r, "VAL26-03").summary, "VAL15 backup/restore report: MISSING (no run found)");
    // The 6-hour rule is over the reports found: the four found are within it. The missing
    // one fails its own checks (and so VAL26-10), not the window.
    assert!(r.window.ok, "{:?}", r.window);
    assert_eq!((r.window.runs, r.window.missing.clone()), (4, vec!["VAL15".to_string()]));
    assert!(r.window.note.is_empty(), "{}", r.window.note);
    assert!(
        check(&r, "VAL26-10").detail.starts_with("failed: VAL26-03, VAL26-08;"),
        "{}",
        check(&r, "VAL26-10").detail
    );
    assert!(text.contains("COHERENT; not counted (MISSING): VAL15\n"), "{text}");
    // Section text over a missing slice reads n/a rather than failing.
    assert!(text.contains("Backup duration:  n/a ms [target <= 30,000 ms] n/a"), "{text}");
    assert!(!r.ready);
    assert!(!r.ready);
    assert_eq!(r.verdict, "NOT READY");
    assert!(text.contains("\nVerdict: NOT READY\n\nNotes:\n"), "{text}");
    assert!(text.contains("HA DESIGN PARTNER READY ✗ (NOT YET)\n"), "{text}");
    assert!(text.contains("    ✗ failed: VAL26-10\n"), "{text}");
}

#[test]
fn a_failing_slice_is_fail_and_not_ready() {
    let d = tempfile::tempdir().unwrap();
    all(d.path(), None, &["VAL17-04"]);
    let r = eval(d.path());
    let c = r.slice("VAL17").unwrap();
    assert_eq!((c.status, c.detail.as_str()), (SliceStatus::Fail, "9/10 checks"));
    assert!(readiness::text(&r).contains("VAL17  Quorum Loss Validation        FAIL (9/10 checks)"));
    assert!(!check(&r, "VAL26-05").pass);
    assert_eq!(
        check(&r, "VAL26-05").summary,
        "VAL17 quorum loss report: 9/10 checks passed (not passed: VAL17-04)"
    );
    assert!(!check(&r, "VAL26-09").pass);
    assert_eq!(check(&r, "VAL26-09").detail, "VAL17-02 PASS, VAL17-03 PASS, VAL17-04 FAIL");
    assert!(check(&r, "VAL26-06").pass, "other metric checks are unaffected");
    assert!(r.window.ok, "a failing slice is still evidence inside the window");
    assert!(!check(&r, "VAL26-10").pass);
    let d10 = &check(&r, "VAL26-10").detail;
    assert!(d10.starts_with("failed: VAL26-05, VAL26-09;"), "{d10}");
    assert!(!r.ready);
    assert!(!r.ready);
}

#[test]
fn a_run_that_did_not_end_pass_is_not_evidence_of_a_pass() {
    let d = tempfile::tempdir().unwrap();
    all(d.path(), Some("val16"), &[]);
    // Every check passed, but cleanup could not restore the system: verdict ERROR.
    let mut r16 = report("val16", t0(), &[], 0.0);
    r16.verdict = Some(Verdict::Error);
    write_run(d.path(), &r16);
    let r = eval(d.path());
    let c = r.slice("VAL16").unwrap();
    assert_eq!((c.status, c.detail.as_str()), (SliceStatus::Fail, "10/10 checks, run verdict ERROR"));
    assert!(!check(&r, "VAL26-04").pass);
    assert!(!r.ready);
}

#[test]
fn a_slow_sigterm_failover_fails_its_metric_check() {
    let d = tempfile::tempdir().unwrap();
    all(d.path(), None, &["VAL13-03"]);
    let r = eval(d.path());
    assert!(!check(&r, "VAL26-06").pass);
    assert!(!check(&r, "VAL26-01").pass);
    assert!(check(&r, "VAL26-07").pass);
    assert!(!r.ready);
}

#[test]
fn reports_of_another_schema_or_garbage_are_missing_not_a_crash() {
    let d = tempfile::tempdir().unwrap();
    all(d.path(), None, &[]);
    // Newer (lexicographically greater) runs win, and these are unreadable.
    write_raw(d.path(), "val14", "20260323T120000Z", r#"{"schema": "someone-else/v9", "checks": 3}"#);
    write_raw(d.path(), "val16", "20260323T120000Z", "this is not json {");
    write_raw(d.path(), "val17", "20260323T120000Z", r#"{"schema": "testrunner.report/v1", "checks": 3}"#);
    let r = eval(d.path());
    for id in ["VAL14", "VAL16", "VAL17"] {
        let c = r.slice(id).unwrap();
        assert_eq!(c.status, SliceStatus::Missing, "{id}");
        assert!(c.detail.starts_with("schema mismatch: "), "{id}: {}", c.detail);
        assert!(c.run_dir.as_deref().unwrap().ends_with("20260323T120000Z"));
    }
    assert!(r.slice("VAL14").unwrap().detail.contains("someone-else/v9"));
    assert!(readiness::text(&r).contains("MISSING (schema mismatch: "));
    assert!(!check(&r, "VAL26-02").pass && !check(&r, "VAL26-04").pass && !check(&r, "VAL26-09").pass);
    assert!(!r.ready);
    // Every renderer copes.
    assert!(readiness::html(&r).contains("schema mismatch"));
    assert!(readiness::json(&r).contains("schema mismatch"));
}

#[test]
fn the_latest_run_with_a_report_is_used() {
    let d = tempfile::tempdir().unwrap();
    all(d.path(), None, &[]);
    // An older failing run, and a newer directory without report.json (a run in progress).
    write_run(d.path(), &report("val13", t0() - Duration::hours(1), &["VAL13-04"], 0.0));
    std::fs::create_dir_all(d.path().join("val13/20991231T000000Z")).unwrap();
    let r = eval(d.path());
    let c = r.slice("VAL13").unwrap();
    assert_eq!(c.status, SliceStatus::Pass);
    assert_eq!(c.run_id.as_deref(), Some("val13-20260323T090000Z"));
    // Negative control: a newer failing run is the one that counts.
    write_run(d.path(), &report("val13", t0() + Duration::minutes(1), &["VAL13-04"], 0.0));
    let r = eval(d.path());
    assert_eq!(r.slice("VAL13").unwrap().status, SliceStatus::Fail);
    assert!(!check(&r, "VAL26-07").pass);
}

#[test]
fn runs_spread_wider_than_the_window_are_not_coherent() {
    let d = tempfile::tempdir().unwrap();
    all(d.path(), Some("val17"), &[]);
    // val13 starts at 09:00; val17 finishing at 16:00 makes a 7 h span.
    write_run(d.path(), &report("val17", t0() + Duration::minutes(6 * 60 + 55), &[], 0.0));
    let r = eval(d.path());
    assert_eq!(r.window.span_hours, 7.0);
    assert!(!r.window.ok);
    assert!(r.window.note.contains("exceeds 6h"), "{}", r.window.note);
    assert!(r.checks.iter().filter(|c| c.id != "VAL26-10").all(|c| c.pass));
    assert!(!check(&r, "VAL26-10").pass);
    assert!(!r.ready);
    let text = readiness::text(&r);
    assert!(text.contains("  Evidence window: 7 h ("), "{text}");
    assert!(text.contains("NOT COHERENT (span 7 h exceeds 6h)"), "{text}");
    // A found run outside the window counts even when another slice is missing.
    std::fs::remove_dir_all(d.path().join("val15")).unwrap();
    let r = eval(d.path());
    assert!(!r.window.ok && r.window.note.contains("exceeds 6h"), "{:?}", r.window);

    // Negative control: 5 h 55 min is inside the window.
    let d = tempfile::tempdir().unwrap();
    all(d.path(), Some("val17"), &[]);
    write_run(d.path(), &report("val17", t0() + Duration::minutes(5 * 60 + 50), &[], 0.0));
    let r = eval(d.path());
    assert!(r.window.ok, "{:?}", r.window);
    assert!(r.ready);
}

#[test]
fn with_no_run_found_the_window_is_not_coherent() {
    let d = tempfile::tempdir().unwrap();
    let r = eval(d.path());
    assert!(r.coverage.iter().all(|c| c.status == SliceStatus::Missing));
    assert_eq!(r.window.runs, 0);
    assert!(!r.window.ok);
    assert_eq!(r.window.note, "no runs found");
    assert!(readiness::text(&r)
        .contains("Evidence window: 0 h (no runs found) [limit 6h] NOT COHERENT (no runs found)"));
    assert!(!r.ready);
}

#[test]
fn seed_template_lines_are_verbatim_and_additions_follow_the_verdict() {
    let d = tempfile::tempdir().unwrap();
    all(d.path(), None, &[]);
    let r = eval(d.path());
    let text = readiness::text(&r);
    // Lines of VAL26's "Final Report Format" (whitespace aside) and §4's Meaning line.
    let squeeze = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ");
    let lines: Vec<String> = text.lines().map(squeeze).collect();
    for want in [
        "Cluster: Two-node HA (node1 + node2), single-region",
        "Database: PostgreSQL in Docker (single primary; VAL14 adds Docker standby)",
        "Chaos: SIGTERM + SIGKILL for failover; SQL metadata injection for split-brain",
        "docker stop/start for quorum loss; NO iptables, NO real network partitions",
        "Evidence: single coherent evidence window",
        "Method: SIGTERM/SIGKILL leader PID → poll follower holder_id every 50ms",
        "Derived alerting thresholds (healthy = max(p95×3+1, 10)):",
        "Overall: PASS=10 FAIL=0",
        "Meaning: the core HA lifecycle is functional and stable enough to offer to early adopters under the scope limitations stated in §1.",
        "- Write-gate HTTP endpoint rejection test (HA binary in this deployment does not expose /v1/rollouts; write-gate is verified via status endpoint fields)",
        "- VAL15 uses halab's logical dump/restore, not pg_dump/pg_restore; no PITR / WAL-based backup",
    ] {
        assert!(lines.iter().any(|l| l == want), "missing line `{want}` in:\n{text}");
    }
    // Overall is followed by the risks, not by our evidence-window line.
    let overall = text.find("Overall: PASS=10 FAIL=0\n\nRisks and Open Gaps:\n");
    assert!(overall.is_some(), "{text}");
    for drift in [
        "halab reference server",
        "streaming standby",
        "/v1/ha/status holder_id",
        "observed_p95 = ",
        "or SQL injection",
    ] {
        let before_verdict = &text[..text.find("\nVerdict: ").unwrap()];
        assert!(!before_verdict.contains(drift), "`{drift}` in the seed's part:\n{text}");
    }
    // What we add comes after the verdict.
    let notes = &text
        [text.find("\nVerdict: HA DESIGN PARTNER READY\n\nNotes:\n").expect("notes after the verdict")..];
    assert!(notes.contains("  Evidence window: 0.75 h ("), "{notes}");
    assert!(notes.contains("  VAL14 observed_p95 = 0 ms"), "{notes}");
    assert!(notes.contains("halab"), "{notes}");
    // Meaning only where the seed has one, right under its level's criteria.
    assert_eq!(text.matches("Meaning: ").count(), 1, "{text}");
    let dp = text.find("HA DESIGN PARTNER READY ✓").unwrap();
    let ga = text.find("HA GA READY ✗").unwrap();
    assert!((dp..ga).contains(&text.find("    Meaning: the core HA lifecycle").unwrap()));
    // The same in HTML and JSON.
    let html = readiness::html(&r);
    assert!(html.contains("<b>Meaning:</b> the core HA lifecycle is functional"), "{html}");
    assert!(html.contains("<h2>Notes</h2>") && html.contains("VAL14 observed_p95 = 0 ms"), "{html}");
    let v: Value = serde_json::from_str(&readiness::json(&r)).unwrap();
    assert!(v["levels"][0]["meaning"].as_str().unwrap().starts_with("the core HA lifecycle"));
    assert_eq!(v["levels"][1]["meaning"], Value::Null);
    assert_eq!(v["notes"].as_array().unwrap().len(), 4);
}

#[test]
fn derived_thresholds_follow_the_seed_formulas() {
    // healthy = max(observed_p95*3+1, 10); degraded = max(healthy*10, 100); alert = max(healthy*50, 500)
    for (light, healthy, degraded, alert) in
        [(2.0, 10.0, 100.0, 500.0), (5.0, 16.0, 160.0, 800.0), (40.0, 121.0, 1210.0, 6050.0)]
    {
        let d = tempfile::tempdir().unwrap();
        all(d.path(), Some("val14"), &[]);
        write_run(d.path(), &report("val14", t0(), &[], light));
        let r = eval(d.path());
        let got = |k: &str| r.derived[k].as_f64().unwrap_or_else(|| panic!("{k}: {:?}", r.derived));
        assert_eq!(got("observed_p95_ms"), light);
        assert_eq!((got("healthy_ms"), got("degraded_ms"), got("alert_ms")), (healthy, degraded, alert));
        let text = readiness::text(&r);
        assert!(text.contains(&format!("Healthy:  <= {healthy} ms")), "{text}");
        assert!(
            text.contains(&format!("Alert:    > {degraded} ms (alert threshold = {alert} ms)")),
            "{text}"
        );
        assert!(text.contains("DERIVED from measured lab values"));
    }
    // Without VAL14 there is nothing to derive from: n/a, not a crash.
    let d = tempfile::tempdir().unwrap();
    all(d.path(), Some("val14"), &[]);
    let r = eval(d.path());
    assert!(r.derived["healthy_ms"].is_null());
    assert!(readiness::text(&r).contains("Healthy:  <= n/a ms"));
}

#[test]
fn html_escapes_what_runs_and_specs_contain() {
    let d = tempfile::tempdir().unwrap();
    all(d.path(), None, &[]);
    // A report's own schema field flows into the slice detail.
    write_raw(d.path(), "val15", "20260323T120000Z", r#"{"schema": "<script>alert(1)</script>"}"#);
    let r = eval(d.path());
    assert!(r.slice("VAL15").unwrap().detail.contains("<script>alert(1)</script>"));
    let html = readiness::html(&r);
    assert!(!html.contains("<script>"), "unescaped script in HTML");
    assert!(html.contains("&#60;script&#62;alert(1)&#60;/script&#62;"), "{html}");
    assert!(html.contains("Verdict: NOT READY"));
    // Negative control: the text report keeps the detail verbatim.
    assert!(readiness::text(&r).contains("<script>alert(1)</script>"));
}

#[test]
fn json_is_tagged_and_complete() {
    let d = tempfile::tempdir().unwrap();
    all(d.path(), None, &[]);
    let v: Value = serde_json::from_str(&readiness::json(&eval(d.path()))).unwrap();
    assert_eq!(v["schema"], readiness::SCHEMA);
    assert_eq!(v["ready"], true);
    assert_eq!(v["verdict"], "HA DESIGN PARTNER READY");
    assert_eq!(v["coverage"][0]["status"], "PASS");
    assert_eq!(v["checks"].as_array().unwrap().len(), 10);
    assert_eq!(v["window"]["ok"], true);
    assert_eq!(v["derived"]["healthy_ms"], 10.0);
    assert_eq!(v["levels"][1]["reached"], false);
}

const SMALL: &str = r#"
readiness: small
title: Small
window: 1h
slices:
  - { id: A, scenario: val13, name: Failover }
sections:
  - title: S
    lines:
      - "x=${val13.metrics.nope} y=${val13.metrics.sigterm_failover_ms}"
checks:
  - { id: C-1, description: reads a metric that is not there, expect: "val13.metrics.nope > 1" }
  - { id: C-2, description: comparison, expect: "val13.metrics.sigterm_failover_ms < 100" }
  - { id: C-3, description: sees earlier failures, expect: "failed == ['C-1', 'C-2']" }
levels:
  - { name: OK, requires: [C-1] }
"#;

#[test]
fn expressions_that_cannot_be_evaluated_fail_with_the_error() {
    let d = tempfile::tempdir().unwrap();
    all(d.path(), None, &[]);
    let spec = readiness::load_spec("small.yaml", SMALL).unwrap_or_else(|e| panic!("{}", e.render(false)));
    let r = readiness::evaluate(&spec, d.path(), t0());
    let c1 = check(&r, "C-1");
    assert!(!c1.pass);
    assert!(c1.error.as_deref().unwrap_or_default().contains("nope"), "{c1:?}");
    assert!(c1.detail.starts_with("cannot evaluate: "), "{}", c1.detail);
    // A false comparison (no detail template) explains its sides.
    let c2 = check(&r, "C-2");
    assert!(!c2.pass && c2.error.is_none());
    assert_eq!(c2.detail, "val13.metrics.sigterm_failover_ms = 342; wanted < 100");
    assert!(check(&r, "C-3").pass, "`failed` lists the checks failed so far");
    assert_eq!(r.sections[0].lines, vec!["x=n/a y=342"]);
    assert_eq!(r.verdict, "NOT READY");
}

fn spec_error(text: &str) -> String {
    readiness::load_spec("bad.yaml", text).map(|_| ()).expect_err("the spec must be rejected").render(false)
}

#[test]
fn spec_errors_point_at_file_line_col() {
    // The shipped spec loads (negative control for the cases below).
    assert_eq!(spec().slices.len(), 5);

    let e = spec_error(&SMALL.replace("expect: \"val13.metrics.nope > 1\"", "expect: \"val31.found\""));
    assert!(e.contains("unknown name `val31`"), "{e}");
    assert!(e.contains("--> bad.yaml:12:72"), "{e}");
    assert!(e.contains("did you mean `val13`?"), "{e}");

    let e = spec_error(&SMALL.replace("description: comparison", "descripton: comparison"));
    assert!(e.contains("unknown key `descripton` in a check") && e.contains("bad.yaml:13:16"), "{e}");

    let e = spec_error(&SMALL.replace("y=${val13.metrics.sigterm_failover_ms}", "y=${val13.metrics.(}"));
    assert!(e.contains("invalid `${…}` expression") && e.contains("bad.yaml:10:"), "{e}");

    let e = spec_error(&SMALL.replace("requires: [C-1]", "requires: [C-9]"));
    assert!(e.contains("requires unknown check `C-9`") && e.contains("bad.yaml:16:"), "{e}");

    let e = spec_error(&SMALL.replace("window: 1h", "window: soon"));
    assert!(e.contains("invalid window `soon`") && e.contains("bad.yaml:4:9"), "{e}");

    let e = spec_error(&SMALL.replace("title: Small\n", ""));
    assert!(e.contains("missing `title:`"), "{e}");

    let e = spec_error("readiness: [unclosed\n");
    assert!(e.contains("invalid YAML") && e.contains("bad.yaml:"), "{e}");

    // Macro variables are bound by the expression, not unknown names.
    let ok = SMALL.replace("\"val13.metrics.nope > 1\"", "\"[1, 2].all(x, x > 0)\"");
    assert!(readiness::load_spec("ok.yaml", &ok).is_ok());
}

/// Runs written with `--out runs/val13` or by a suite (`runs/suite/<stamp>/val14`) are
/// found at any depth and grouped by the scenario their report names.
#[test]
fn runs_at_any_depth_are_found_by_their_scenario() {
    let d = tempfile::tempdir().unwrap();
    let put = |dir: &Path, r: &RunReport| {
        std::fs::create_dir_all(dir).unwrap();
        std::fs::write(dir.join("journal.jsonl"), "").unwrap();
        std::fs::write(dir.join("report.json"), json_report::render(r)).unwrap();
    };
    for (i, s) in SLICES.iter().enumerate() {
        let r = report(s, t0() + Duration::minutes(10 * i as i64), &[], 0.0);
        match *s {
            "val13" => put(&d.path().join("val13"), &r),
            "val14" => put(&d.path().join("suite/20260323T090000Z").join(s), &r),
            _ => write_run(d.path(), &r),
        }
    }
    let r = eval(d.path());
    for id in ["VAL13", "VAL14"] {
        assert_eq!(r.slice(id).unwrap().status, SliceStatus::Pass, "{id}: {}", r.slice(id).unwrap().detail);
    }
    assert!(r.ready);
    // A later failing run elsewhere is the one that counts (negative control).
    put(
        &d.path().join("manual/val13-rerun"),
        &report("val13", t0() + Duration::minutes(45), &["VAL13-04"], 0.0),
    );
    let r = eval(d.path());
    assert_eq!(r.slice("VAL13").unwrap().status, SliceStatus::Fail);
    // And a classic run newer than it wins again.
    write_run(d.path(), &report("val13", t0() + Duration::minutes(50), &[], 0.0));
    assert_eq!(eval(d.path()).slice("VAL13").unwrap().status, SliceStatus::Pass);
}
