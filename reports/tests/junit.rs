//! JUnit XML: schema-valid (xmllint against junit-10.xsd), one test case per check, harness
//! problems as errored test cases, snapshots of the fixed runs.
mod common;

use std::path::PathBuf;
use std::process::Command;
use testrunner_reports::{junit, CheckStatus, Event, RunReport};

fn xsd() -> PathBuf {
    // JUNIT_XSD: for checkouts that are not next to `shared/` (git worktrees).
    std::env::var_os("JUNIT_XSD").map(PathBuf::from).unwrap_or_else(|| {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/schemas/junit-10.xsd")
    })
}

/// Validates with the same tool CI uses; a missing xmllint is a failure, never a skip.
fn validate(xml: &str) -> Result<(), String> {
    let xsd = xsd();
    assert!(xsd.is_file(), "schema not found at {}", xsd.display());
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("junit.xml");
    std::fs::write(&file, xml).unwrap();
    let out = match Command::new("xmllint").arg("--noout").arg("--schema").arg(&xsd).arg(&file).output() {
        Ok(o) => o,
        Err(e) => panic!("cannot run xmllint ({e}): install it with `apt-get install -y libxml2-utils`"),
    };
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

fn fixtures() -> Vec<(&'static str, RunReport)> {
    vec![
        ("passing", common::report(&common::passing())),
        ("failing", common::report(&common::failing())),
        ("interrupted", common::report(&common::interrupted())),
        ("incomplete", common::incomplete()),
    ]
}

#[test]
fn every_fixture_validates_against_the_schema() {
    for (name, r) in fixtures() {
        let xml = junit::render(&r);
        if let Err(e) = validate(&xml) {
            panic!("{name}: junit.xml does not validate:\n{e}\n{xml}");
        }
    }
}

#[test]
fn the_validator_rejects_invalid_junit() {
    // Negative controls: the same helper must be able to say no.
    let no_name = r#"<?xml version="1.0"?>
<testsuite name="s" tests="1" failures="0" errors="0"><testcase classname="s"/></testsuite>"#;
    assert!(validate(no_name).is_err(), "a testcase without name must be rejected");
    let unknown_attr = r#"<?xml version="1.0"?>
<testsuites tests="0" skipped="0" failures="0" errors="0"/>"#;
    assert!(validate(unknown_attr).is_err(), "`skipped` on <testsuites> must be rejected");
    let wrong_order = r#"<?xml version="1.0"?>
<testsuites><properties/></testsuites>"#;
    assert!(validate(wrong_order).is_err(), "properties directly under testsuites must be rejected");
}

#[test]
fn snapshots() {
    for (name, r) in fixtures() {
        insta::assert_snapshot!(format!("junit_{name}"), junit::render(&r));
    }
}

#[test]
fn one_testcase_per_check_with_expected_and_actual() {
    let xml = junit::render(&common::report(&common::passing()));
    for id in [
        "VAL17-01 baseline_quorum_healthy",
        "VAL17-03 loss_detection_timing_bound",
        "VAL17-06 recovery_detected",
    ] {
        assert!(xml.contains(&format!("name=\"{id}\" classname=\"val17\"")), "{id} missing:\n{xml}");
    }
    assert!(!xml.contains("<failure") && !xml.contains("<error"), "{xml}");

    let xml = junit::render(&common::report(&common::failing()));
    assert!(xml.contains(r#"<failure message="expected `lost.ok`" type="check failed">"#), "{xml}");
    assert!(xml.contains("  lost.ok\n"), "expected expression listed:\n{xml}");
    assert!(xml.contains("`lost.ok` is false: lost.ok = false"), "actual values listed:\n{xml}");
    assert!(xml.contains("<error message=\"not run: phase `loss` failed at step `lost`"), "{xml}");
    // The step log of the check's phase goes to system-out.
    assert!(xml.contains("stop_pg (docker.stop) ok"), "{xml}");
}

#[test]
fn harness_problems_never_vanish() {
    let xml = junit::render(&common::report(&common::failing()));
    assert!(xml.contains(r#"<testcase name="harness undo" classname="val17">"#), "{xml}");
    assert!(xml.contains("NOT RESTORED docker.stopped:val17-pg"), "{xml}");
    assert!(xml.contains(r#"<testcase name="harness teardown" classname="val17">"#), "{xml}");
    assert!(xml.contains(r#"errors="4""#), "2 errored checks + 2 harness cases:\n{xml}");

    let xml = junit::render(&common::report(&common::interrupted()));
    assert!(xml.contains(r#"<testcase name="run interrupted" classname="val17">"#), "{xml}");
    assert!(xml.contains("SIGINT"), "{xml}");

    let xml = junit::render(&common::incomplete());
    assert!(xml.contains(r#"<testcase name="run incomplete" classname="val17">"#), "{xml}");
    assert!(xml.contains("step lost (http.get) started at 0.401 s never finished"), "{xml}");
}

#[test]
fn duplicate_names_are_made_unique() {
    let mut checks = common::val17_checks();
    checks.push(checks[0].clone());
    // A check that happens to be called like a harness test case.
    let mut clash = checks[1].clone();
    clash.id = "harness".into();
    clash.name = "undo".into();
    checks.push(clash);
    let events = [
        common::run_started("t", &["baseline"], checks),
        Event::HarnessError { stage: "undo".into(), message: "boom".into(), t_ms: 1 },
    ];
    let xml = junit::render(&RunReport::from_events(&events));
    assert!(xml.contains(r#"name="VAL17-01 baseline_quorum_healthy" "#), "{xml}");
    assert!(xml.contains(r#"name="VAL17-01 baseline_quorum_healthy (2)" "#), "{xml}");
    assert!(xml.contains(r#"name="harness undo" "#), "{xml}");
    assert!(xml.contains(r#"name="harness undo (2)" "#), "the harness case keeps its own name:\n{xml}");
    validate(&xml).unwrap();
}

#[test]
fn hostile_text_stays_valid_xml() {
    let mut events = common::passing();
    events.retain(|e| !matches!(e, Event::RunFinished { .. }));
    events.push(common::check(
        "VAL17-06",
        CheckStatus::Fail,
        "<script>alert(1)</script> \"&' ]]> \u{1b}[31mred\u{1b}[0m \u{7}bell",
        &["a < b && c > d", "]]>"],
        None,
        1600,
    ));
    events.push(Event::HarnessError {
        stage: "setup\"<x>".into(),
        message: "&amp; <![CDATA[".into(),
        t_ms: 1601,
    });
    let xml = junit::render(&RunReport::from_events(&events));
    validate(&xml).unwrap_or_else(|e| panic!("{e}\n{xml}"));
    assert!(!xml.contains("<script>"), "{xml}");
}

#[test]
fn a_failed_step_and_an_uncomputable_metric_are_errored_cases_and_stay_schema_valid() {
    // Every check passed; a step failed (no check reports it) and a metric is missing.
    let mut events = common::passing();
    events.retain(|e| !matches!(e, Event::RunFinished { .. }));
    for e in events.iter_mut() {
        if let Event::StepFinished { step, .. } = e {
            if step == "start_pg" {
                *e = common::failed(e.clone(), "container val17-pg: no such container");
            }
        }
    }
    events.push(Event::Metric {
        name: "gap_ms".into(),
        phase: "recovery".into(),
        value: serde_json::Value::Null,
        unit: Some("ms".into()),
        series: None,
        interval: None,
        error: Some("cannot subtract: `recovered.first_match_ms` is null (the step never matched)".into()),
    });
    events.push(common::finished(testrunner_reports::Verdict::Fail, 1, 1510));
    let r = RunReport::from_events(&events);
    let xml = junit::render(&r);
    assert!(xml.contains(r#"tests="6" failures="0" errors="2""#), "{xml}");
    assert!(xml.contains(r#"<testcase name="recovery step start_pg""#), "{xml}");
    assert!(xml.contains(r#"message="container val17-pg: no such container" type="step failed""#), "{xml}");
    assert!(xml.contains(r#"<testcase name="metric gap_ms""#), "{xml}");
    let t = r.totals();
    assert_eq!((t.pass, t.fail, t.error, t.total), (4, 0, 2, 6));
    validate(&xml).unwrap();
}

#[test]
fn characters_xml_forbids_are_replaced() {
    // U+FFFE / U+FFFF and C0 controls are not XML 1.0 characters, not even as `&#…;`.
    let hostile = "bad \u{fffe} \u{ffff} \u{0} \u{8} \u{1b}[2J end";
    let mut events = common::passing();
    events.retain(|e| !matches!(e, Event::RunFinished { .. }));
    events.push(common::check("VAL17-06", CheckStatus::Fail, hostile, &[hostile], None, 1600));
    events.push(Event::HarnessError { stage: hostile.into(), message: hostile.into(), t_ms: 1601 });
    let mut r = RunReport::from_events(&events);
    r.title = hostile.into();
    r.scenario = format!("val17{hostile}");
    let xml = junit::render(&r);
    validate(&xml).unwrap_or_else(|e| panic!("{e}\n{xml}"));
    // (quick-junit itself drops C0 controls and ANSI sequences, not these two.)
    assert!(xml.contains("bad \\u{fffe} \\u{ffff} "), "{xml}");
    assert!(!xml.contains(['\u{fffe}', '\u{ffff}', '\u{0}', '\u{1b}']), "{xml}");
}
