//! report.html: self-contained, every section present, and every user-derived value escaped.
mod common;

use testrunner_reports::{html, Event, RunReport};

const HOSTILE: &str = "<script>alert(1)</script>\"&'";

fn hostile_report() -> RunReport {
    let mut events = common::failing();
    if let Event::RunStarted { title, .. } = &mut events[0] {
        *title = format!("VAL17 {HOSTILE}");
    }
    for e in events.iter_mut() {
        match e {
            Event::StepFinished { error: Some(err), .. } => *err = format!("step error {HOSTILE}"),
            Event::Check { id, message, details, .. } if id == "VAL17-02" => {
                *message = format!("check message {HOSTILE}");
                details.push(format!("detail {HOSTILE}"));
            }
            _ => {}
        }
    }
    events.insert(1, common::step_started(&format!("step{HOSTILE}"), "baseline", "core.log", 5));
    events.push(Event::Evidence { path: format!("evidence/{HOSTILE}.json"), step: None });
    events.push(Event::Evidence { path: "javascript:alert(1)".into(), step: None });
    RunReport::from_events(&events)
}

/// What leaked unescaped into a page (empty = nothing).
fn leaks(page: &str) -> Vec<&'static str> {
    let mut found = vec![];
    if page.contains("<script") {
        found.push("a <script> element");
    }
    if page.contains(HOSTILE) {
        found.push("the raw hostile text");
    }
    if page.contains("\"&'") {
        found.push("a raw quote/amp sequence");
    }
    if page.contains("</pre><script>") {
        found.push("YAML breaking out of <pre>");
    }
    if page.contains("href=\"javascript:") {
        found.push("a javascript: link");
    }
    found
}

#[test]
fn everything_user_derived_is_escaped() {
    let yaml = format!("title: \"{HOSTILE}\"\nvars: {{ x: \"</pre><script>alert(2)</script>\" }}\n");
    let page = html::render(&hostile_report(), &yaml);
    assert_eq!(leaks(&page), Vec::<&str>::new(), "{page}");
    // Present, escaped, in each place: title, step error, check message, SVG labels, YAML.
    let escaped = "&#60;script&#62;alert(1)&#60;/script&#62;&#34;&#38;&#39;";
    let n = page.matches(escaped).count();
    assert!(
        n >= 6,
        "expected the escaped text in title, step error, check, svg, evidence, yaml; found {n}:\n{page}"
    );
    assert!(page.contains(&format!("<title>ERROR · VAL17 {escaped}</title>")), "{page}");
    assert!(
        page.contains(&format!("<text x=\"4\" y=\"50.0\">step{escaped} · core.log</text>")),
        "SVG text:\n{page}"
    );
}

#[test]
fn escaping_check_can_fail() {
    // Negative control: the same detector flags a page that was not escaped.
    let unescaped = format!("<html><body><h1>{HOSTILE}</h1><a href=\"javascript:x\">e</a></body></html>");
    assert_eq!(leaks(&unescaped).len(), 4, "{:?}", leaks(&unescaped));
}

#[test]
fn self_contained_with_all_sections() {
    let page = html::render(&common::report(&common::passing()), "scenario: val17\n");
    for section in [
        "<h2>Checks</h2>",
        "<h2>Metrics</h2>",
        "<h2>Timeline</h2>",
        "<h2>Phases</h2>",
        "<h2>Steps</h2>",
        "<h2>Cleanup (undo)</h2>",
        "<h2>Harness errors</h2>",
        "<h2>Evidence</h2>",
        "<h2>Resolved scenario</h2>",
    ] {
        assert!(page.contains(section), "missing {section}");
    }
    assert!(page.contains(r#"<div class="banner pass">"#));
    assert!(page.contains("<th>Baseline</th><th>Delta</th>"));
    assert!(page.contains(r#"<a href="evidence/val17-01-baseline.json">"#));
    assert!(page.contains("<pre>scenario: val17\n</pre>"));
    // No external resources: no src=, no stylesheet links, no remote URLs except the SVG namespace.
    assert!(!page.contains("src="), "no external resources");
    assert!(!page.contains("<link"), "no external stylesheet");
    let urls = page.matches("http://").count() + page.matches("https://").count();
    let allowed =
        page.matches("http://www.w3.org/2000/svg").count() + page.matches("http://127.0.0.1").count();
    assert_eq!(urls, allowed, "only the SVG namespace and the vars' own URL may appear");
}

#[test]
fn timeline_shows_steps_polls_and_faults_on_one_clock() {
    let page = html::render(&common::report(&common::passing()), "");
    let svg = &page[page.find("<svg").unwrap()..page.find("</svg>").unwrap()];
    // One bar per step record, the fault marked distinctly, one tick per poll.
    assert_eq!(svg.matches("<rect class=\"bar ").count(), 5, "{svg}");
    assert_eq!(svg.matches("class=\"bar ok fault\"").count(), 1, "docker.stop is a fault:\n{svg}");
    assert_eq!(svg.matches("class=\"faultline\"").count(), 1, "{svg}");
    assert_eq!(svg.matches("<line class=\"poll ").count(), 3, "{svg}");
    assert_eq!(svg.matches("class=\"poll hit\"").count(), 1, "{svg}");
    assert!(svg.contains("⚡ stop_pg · docker.stop"), "{svg}");
    // The clock runs to the end of the run (1.510 s): the last axis label.
    assert!(svg.contains(">1.510 s</text>"), "{svg}");
    assert!(svg.contains("stop_pg (docker.stop) ok: 0.051 s → 0.400 s (0.349 s)"), "{svg}");

    let page = html::render(&common::report(&common::interrupted()), "");
    assert!(
        page.contains("<text x=\"4\" y=\"110.0\">undo</text>"),
        "the undo row is on the same clock:\n{page}"
    );
    assert!(page.contains("class=\"mark hit\""), "{page}");

    let page = html::render(&common::report(&common::failing()), "");
    assert!(page.contains("class=\"bar failed\""), "a failed step is red");
    assert!(page.contains("NOT RESTORED"), "{page}");
    assert!(page.contains("class=\"mark perr\""), "harness errors/undo failures are marked");

    let page = html::render(&common::incomplete(), "");
    assert!(
        page.contains("class=\"bar unfinished\""),
        "an unfinished step is drawn to the end of the record"
    );
    assert!(page.contains("banner incomplete"));
}

#[test]
fn check_matrix_has_status_message_and_details() {
    let page = html::render(&common::report(&common::failing()), "");
    assert!(page.contains(r#"<td class="st fail">FAIL</td>"#), "{page}");
    assert!(page.contains(r#"<td class="st error">ERROR</td>"#), "{page}");
    assert!(page.contains("<li>`lost.ok` is false: lost.ok = false</li>"), "{page}");
}
