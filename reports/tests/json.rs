//! report.json: schema-tagged, round-trips, and refuses other schema versions.
mod common;

use testrunner_reports::{json, RunReport, Verdict};

#[test]
fn snapshots() {
    insta::assert_snapshot!("json_passing", json::render(&common::report(&common::passing())));
    insta::assert_snapshot!("json_failing", json::render(&common::report(&common::failing())));
    insta::assert_snapshot!("json_interrupted", json::render(&common::report(&common::interrupted())));
    insta::assert_snapshot!("json_incomplete", json::render(&common::incomplete()));
}

#[test]
fn schema_comes_first_and_round_trips() {
    for r in [common::report(&common::passing()), common::report(&common::failing()), common::incomplete()] {
        let text = json::render(&r);
        assert!(text.starts_with("{\n  \"schema\": \"testrunner.report/v1\","), "{text}");
        assert_eq!(json::parse(&text).unwrap(), r);
    }
}

#[test]
fn other_schema_versions_are_rejected() {
    let text = json::render(&common::report(&common::passing()));
    let v2 = text.replacen("testrunner.report/v1", "testrunner.report/v2", 1);
    let err = json::parse(&v2).unwrap_err();
    assert!(err.contains("unsupported report schema `testrunner.report/v2`"), "{err}");

    let mut doc: serde_json::Value = serde_json::from_str(&text).unwrap();
    doc.as_object_mut().unwrap().remove("schema");
    let err = json::parse(&doc.to_string()).unwrap_err();
    assert!(err.contains("no `schema` field"), "{err}");

    assert!(json::parse("[1, 2]").unwrap_err().contains("not a JSON object"));
    assert!(json::parse("{\"schema\": \"testrunner.report/v1\"").is_err(), "truncated JSON");
    let wrong_type = r#"{"schema": "testrunner.report/v1", "checks": "none"}"#;
    assert!(json::parse(wrong_type).unwrap_err().contains("does not match"));
}

#[test]
fn missing_fields_default() {
    // A report written by a newer minor version that dropped an optional field still reads.
    let r =
        json::parse(r#"{"schema": "testrunner.report/v1", "scenario": "val17", "verdict": "PASS"}"#).unwrap();
    assert_eq!(r.scenario, "val17");
    assert_eq!(r.verdict(), Verdict::Pass);
    assert_eq!(r, RunReport { scenario: "val17".into(), verdict: Some(Verdict::Pass), ..Default::default() });
}
