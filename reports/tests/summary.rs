//! The plain-text final report: snapshots and the properties people rely on.
mod common;

use testrunner_reports::summary;

#[test]
fn snapshots() {
    insta::assert_snapshot!("summary_passing", summary::render(&common::report(&common::passing())));
    insta::assert_snapshot!("summary_failing", summary::render(&common::report(&common::failing())));
    insta::assert_snapshot!("summary_interrupted", summary::render(&common::report(&common::interrupted())));
    insta::assert_snapshot!("summary_incomplete", summary::render(&common::incomplete()));
}

#[test]
fn check_matrix_is_aligned_and_carries_numbers() {
    let text = summary::render(&common::report(&common::passing()));
    assert!(
        text.contains(
            "VAL17-03 loss_detection_timing_bound: PASS  (loss_ms=765 in [565, 765], threshold=30000)\n"
        ),
        "{text}"
    );
    assert!(text.contains("VAL17-01 baseline_quorum_healthy:     PASS\n"), "{text}");
    assert!(text.contains("recovery_ms: median 300 ms  (n=2 min=250 p95=345 max=350)"), "{text}");
    assert!(text.ends_with("pass=4 fail=0 error=0 total=4\nVerdict: PASS\n"), "{text}");
    assert!(!text.contains('\u{1b}'), "no ANSI colours");
}

#[test]
fn failures_harness_errors_and_unrestored_changes_are_loud() {
    let text = summary::render(&common::report(&common::failing()));
    assert!(
        text.contains(
            "VAL17-02 loss_detected:               FAIL\n    expected `lost.ok`\n      - `lost.ok` is false"
        ),
        "{text}"
    );
    assert!(
        text.contains("VAL17-06 recovery_detected:           ERROR\n    not run: phase `loss`"),
        "{text}"
    );
    assert!(text.contains("ERROR [teardown] at 30.600 s: step `rm_pg` failed"), "{text}");
    assert!(
        text.contains("NOT RESTORED  start container val17-pg  [docker.stopped:val17-pg]: no such container"),
        "{text}"
    );
    assert!(text.contains("!!! 1 change(s) NOT restored"), "{text}");
    assert!(text.ends_with("pass=1 fail=1 error=2 total=4\nVerdict: ERROR\n"), "{text}");

    let text = summary::render(&common::incomplete());
    assert!(text.contains("Verdict: INCOMPLETE"), "{text}");
    assert!(text.contains("step `lost` (http.get) started at 0.401 s and never finished"), "{text}");
}

#[test]
fn control_characters_of_untrusted_text_are_shown_not_sent() {
    // A title or a program's stderr must not clear, recolour or retitle the terminal.
    let mut events = common::failing();
    for e in &mut events {
        if let testrunner_reports::Event::HarnessError { message, .. } = e {
            *message = "boom \u{1b}]0;owned\u{7} \u{1b}[2J\r done".into();
        }
    }
    let mut r = common::report(&events);
    r.title = "title \u{1b}[31mred\u{9b}1m".into();
    let text = summary::render(&r);
    assert!(!text.contains('\u{1b}') && !text.contains('\u{9b}') && !text.contains('\r'), "{text:?}");
    assert!(text.contains("# title \\x1b[31mred\\x9b1m\n"), "{text}");
    assert!(text.contains("boom \\x1b]0;owned\\x07 \\x1b[2J\\r done"), "{text}");
}
