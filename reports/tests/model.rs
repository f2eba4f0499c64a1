//! `RunReport::from_events` and `parse_journal`: the fold every renderer relies on.
mod common;

use serde_json::json;
use testrunner_reports::{CheckStatus, Event, RunReport, Verdict};

#[test]
fn a_torn_last_line_is_ignored_and_the_run_is_incomplete() {
    let text = common::truncated_journal();
    let events = RunReport::parse_journal(&text).unwrap();
    assert_eq!(events.len(), text.lines().count() - 1, "only the torn line is dropped");
    let r = RunReport::from_events(&events);
    assert_eq!(r.verdict(), Verdict::Incomplete);
    assert_eq!(r.duration_ms, 616, "duration = last recorded time");
    let lost = r.step("lost").unwrap();
    assert_eq!((lost.finished_ms, lost.polls.len(), lost.attempts), (None, 2, 2));
    assert_eq!(r.checks[0].status, CheckStatus::Pass);
    for c in &r.checks[1..] {
        assert_eq!(c.status, CheckStatus::Error);
        assert!(c.message.contains("run ended before this check"), "{}", c.message);
    }
}

#[test]
fn a_torn_line_in_the_middle_is_an_error() {
    let text = common::truncated_journal();
    let mut lines: Vec<&str> = text.lines().collect();
    let last = lines.len() - 1;
    lines.swap(3, last);
    let err = RunReport::parse_journal(&lines.join("\n")).unwrap_err();
    assert!(err.starts_with("journal line 4:"), "{err}");
}

#[test]
fn journal_round_trip_equals_the_live_report() {
    let events = common::failing();
    let text: String = events.iter().map(|e| serde_json::to_string(e).unwrap() + "\n").collect();
    let rebuilt = RunReport::from_events(&RunReport::parse_journal(&text).unwrap());
    assert_eq!(rebuilt, RunReport::from_events(&events));
}

#[test]
fn fold_of_the_failing_run() {
    let r = common::report(&common::failing());
    assert_eq!(r.verdict(), Verdict::Error);
    assert_eq!(r.exit_code, Some(3));
    let status: Vec<_> = r.phases.iter().map(|p| p.status.as_str()).collect();
    assert_eq!(status, ["ok", "failed", "skipped"]);
    assert_eq!(r.phase("loss").unwrap().failed_step.as_deref(), Some("lost"));
    assert!(r.phase("recovery").unwrap().skip_reason.as_deref().unwrap().starts_with("not run"));
    assert_eq!(
        (r.count(CheckStatus::Pass), r.count(CheckStatus::Fail), r.count(CheckStatus::Error)),
        (1, 1, 2)
    );
    assert_eq!(r.unrestored().count(), 1);
    assert_eq!(r.harness_errors.len(), 2);
    assert_eq!(r.evidence, ["evidence/val17-01-baseline.json"]);
    assert!(r.step("stop_pg").unwrap().is_fault());
    assert!(!r.step("baseline").unwrap().is_fault());
}

#[test]
fn repeated_steps_and_skipped_steps() {
    let mut events = vec![
        common::run_started("t", &["loop"], vec![]),
        common::phase_started("loop", 0),
        common::phase_started("loop", 100),
    ];
    for i in 0..2u64 {
        events.push(common::step_started("probe", "loop", "http.get", i * 100 + 1));
        events.push(common::step_finished("probe", "loop", "http.get", (i * 100 + 1, i * 100 + 50), 1));
    }
    // A `when: false` step has no StepStarted.
    events.push(Event::StepFinished {
        step: "maybe".into(),
        phase: "loop".into(),
        action: "core.log".into(),
        ok: true,
        error: None,
        hint: None,
        allowed_failure: false,
        skipped: true,
        started_ms: 160,
        finished_ms: 160,
        attempts: 0,
        last_miss_ms: None,
        first_match_ms: None,
        result: json!(null),
        at: None,
    });
    let r = RunReport::from_events(&events);
    assert_eq!(r.phases[0].iterations, 2);
    assert_eq!(r.steps.len(), 3, "one record per iteration plus the skipped step");
    assert_eq!(r.step("probe").unwrap().started_ms, 101, "the latest iteration");
    assert_eq!(r.step("maybe").unwrap().status_word(), "skipped");
    assert_eq!(r.clock_end_ms(), 160);
}

#[test]
fn later_metric_replaces_earlier_and_unknown_checks_are_ignored() {
    let events = vec![
        common::run_started("t", &["p"], common::val17_checks()),
        Event::Metric {
            name: "m".into(),
            phase: "p".into(),
            value: json!(1),
            unit: None,
            series: None,
            interval: None,
            error: None,
        },
        Event::Metric {
            name: "m".into(),
            phase: "p".into(),
            value: json!(2),
            unit: None,
            series: None,
            interval: None,
            error: None,
        },
        common::check("NOPE", CheckStatus::Fail, "x", &[], None, 1),
        common::finished(Verdict::Pass, 0, 5),
    ];
    let r = RunReport::from_events(&events);
    assert_eq!(r.metrics.len(), 1);
    assert_eq!(r.metric("m").unwrap().value, json!(2));
    assert_eq!(r.checks.len(), 4);
    assert_eq!(r.verdict(), Verdict::Pass, "the verdict is the engine's, never re-derived");
}

#[test]
fn a_step_is_timed_by_its_result_clock_not_by_when_it_was_announced() {
    // Parameters are evaluated between StepStarted and the action's start: the report must
    // show the action's own duration, which is what `<id>.elapsed_ms` and the terminal show.
    let events: Vec<Event> = serde_json::from_value(json!([
        {"event": "step_started", "step": "s", "phase": "p", "action": "exec", "t_ms": 10, "at": "x"},
        {"event": "step_finished", "step": "s", "phase": "p", "action": "exec", "ok": true,
         "started_ms": 14, "finished_ms": 19, "attempts": 1, "result": {}}
    ]))
    .unwrap();
    let r = RunReport::from_events(&events);
    assert_eq!(r.step("s").unwrap().elapsed_ms(), Some(5));
}

/// The place a step or check is written (`at` on its event) reaches every report: the
/// JSON model, the JUnit failure text and the summary; without it nothing is added.
#[test]
fn where_a_failed_check_and_step_are_written_reaches_json_junit_and_summary() {
    let mut events = common::failing();
    for e in &mut events {
        match e {
            Event::Check { id, at, .. } if id == "VAL17-02" => *at = Some("val17.yaml:40:11".into()),
            Event::StepFinished { step, at, .. } if step == "lost" => *at = Some("val17.yaml:22:9".into()),
            _ => {}
        }
    }
    let r = RunReport::from_events(&events);
    assert_eq!(r.step("lost").unwrap().at.as_deref(), Some("val17.yaml:22:9"));
    let json = testrunner_reports::json::render(&r);
    assert!(json.contains("\"at\": \"val17.yaml:40:11\""), "{json}");
    let junit = testrunner_reports::junit::render(&r);
    assert!(junit.contains("at val17.yaml:40:11\nexpected (all must hold):"), "{junit}");
    let summary = testrunner_reports::summary::render(&r);
    assert!(summary.contains("    expected `lost.ok`\n    at val17.yaml:40:11\n"), "{summary}");
    // Negative control: the same run without places shows none.
    let plain = testrunner_reports::summary::render(&RunReport::from_events(&common::failing()));
    assert!(!plain.contains(" at val17.yaml"), "{plain}");
}

/// The HTML report names where a check that did not pass is written.
#[test]
fn the_html_report_names_where_a_failed_check_is_written() {
    let mut events = common::failing();
    for e in &mut events {
        if let Event::Check { id, at, .. } = e {
            *at = Some(format!("val17.yaml:{}:11", if id == "VAL17-02" { 40 } else { 50 }));
        }
    }
    let page = testrunner_reports::html::render(&RunReport::from_events(&events), "");
    assert!(page.contains("at <code>val17.yaml:40:11</code>"), "the failed check's place");
    let plain = testrunner_reports::html::render(&RunReport::from_events(&common::failing()), "");
    assert!(!plain.contains("at <code>val17.yaml"), "no place, no line");
}
