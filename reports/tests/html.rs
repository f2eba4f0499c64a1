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
    // The timeline label is shortened to fit its column; the whole label is its tooltip.
    assert!(
        page.contains(&format!(
            "<text x=\"4\" y=\"60.0\"><title>step{escaped} · core.log</title>step&#60;script&#62;"
        )),
        "SVG text:\n{page}"
    );
}

#[test]
fn a_hostile_check_name_is_escaped_in_the_table_and_the_banner() {
    let mut events = common::failing();
    if let Event::RunStarted { checks, .. } = &mut events[0] {
        checks[1].name = HOSTILE.into();
        checks[1].expect = vec![format!("x == \"{HOSTILE}\"")];
    }
    let page = html::render(&RunReport::from_events(&events), "");
    assert_eq!(leaks(&page), Vec::<&str>::new(), "{page}");
    let banner = &page[page.find("<div class=\"banner").unwrap()..page.find("<nav").unwrap()];
    assert!(
        banner.contains("<a href=\"#check-VAL17-02\">VAL17-02</a> &#60;script&#62;alert(1)&#60;/script&#62;&#34;&#38;&#39; — FAIL"),
        "{banner}"
    );
    // In the table the name may wrap after `/`: the pieces are escaped, the break is a <wbr>.
    assert!(
        page.contains(
            "<td class=\"wrap\">&#60;script&#62;alert(1)&#60;/<wbr>script&#62;&#34;&#38;&#39;</td>"
        ),
        "{page}"
    );
    assert!(
        page.contains(
            "<code>x == &#34;&#60;script&#62;alert(1)&#60;/<wbr>script&#62;&#34;&#38;&#39;&#34;</code>"
        ),
        "{page}"
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
    assert!(!page.contains("<th>Baseline</th>"), "no baseline: no empty Baseline/Delta columns");
    assert!(page.contains("No baseline compared"));
    assert!(page.contains(r#"<a href="evidence/val17-01-baseline.json">"#));
    assert!(page.contains("<pre class=\"yaml\">scenario: val17\n</pre>"));
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
    // The clock runs to the end of the run (1.510 s), with round ticks every 0.2 s.
    assert!(page.contains("Seconds since the run started (0 → 1.510 s)"), "{page}");
    let ticks: Vec<&str> = svg
        .split("<text class=\"tick\"")
        .skip(1)
        .map(|t| &t[t.find('>').unwrap() + 1..t.find("</text>").unwrap()])
        .collect();
    assert_eq!(ticks, ["0.0 s", "0.2 s", "0.4 s", "0.6 s", "0.8 s", "1.0 s", "1.2 s", "1.4 s"], "{svg}");
    assert!(svg.contains("stop_pg (docker.stop) ok: 0.051 s → 0.400 s (0.349 s)"), "{svg}");
    // Each bar says how long it took, and the phases are labelled.
    assert!(svg.contains(">0.349 s</text>"), "{svg}");
    for phase in ["baseline", "loss", "recovery"] {
        assert!(svg.contains(&format!("\">{phase}</text>")), "phase label {phase}:\n{svg}");
    }

    let page = html::render(&common::report(&common::interrupted()), "");
    assert!(
        page.contains("<text x=\"4\" y=\"120.0\">undo</text>"),
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
    assert!(page.contains("<li><code>lost.ok</code> is false: lost.ok = false</li>"), "{page}");
}

#[test]
fn the_banner_states_the_verdict_and_names_the_checks_that_did_not_pass() {
    let page = html::render(&common::report(&common::failing()), "");
    let banner = &page[page.find("<div class=\"banner").unwrap()..page.find("<nav").unwrap()];
    assert!(banner.starts_with("<div class=\"banner error\">\n  <div class=\"v\">ERROR</div>"), "{banner}");
    assert!(banner.contains("1 of 4 checks failed, 2 could not be evaluated · ran 30.610 s"), "{banner}");
    assert!(banner.contains("pass=1 fail=1 error=2 total=4 — some changes were NOT restored"), "{banner}");
    // Each failed or errored check is named, linked to its row, with its message.
    for id in ["VAL17-02", "VAL17-03", "VAL17-06"] {
        assert!(banner.contains(&format!("<a href=\"#check-{id}\">{id}</a>")), "{id} in {banner}");
        assert!(page.contains(&format!("id=\"check-{id}\"")), "row anchor for {id}");
    }
    assert!(!banner.contains("VAL17-01"), "a passing check is not listed: {banner}");
    assert!(banner.contains("FAIL: expected <code>lost.ok</code>"), "{banner}");

    let page = html::render(&common::report(&common::passing()), "");
    let banner = &page[page.find("<div class=\"banner").unwrap()..page.find("<nav").unwrap()];
    assert!(
        banner.contains("<div class=\"v\">PASS</div>") && banner.contains("4 of 4 checks passed"),
        "{banner}"
    );
    assert!(!banner.contains("<ul>"), "nothing to list when all pass: {banner}");
}

fn finished_with(
    step: &str,
    phase: &str,
    action: &str,
    span: (u64, u64),
    result: serde_json::Value,
) -> Event {
    match common::step_finished(step, phase, action, span, 1) {
        Event::StepFinished { step, phase, action, started_ms, finished_ms, attempts, .. } => {
            Event::StepFinished {
                step,
                phase,
                action,
                ok: true,
                error: None,
                hint: None,
                allowed_failure: false,
                skipped: false,
                started_ms,
                finished_ms,
                attempts,
                last_miss_ms: None,
                first_match_ms: None,
                result,
                at: None,
            }
        }
        other => other,
    }
}

/// D31 in miniature: writers run 1.000 → 3.298 s in 0.1 s buckets, the primary is killed at
/// 2.004 s (1.004 s into the writers' window), the standby promoted at 2.168 s.
fn writers_run() -> Vec<Event> {
    use serde_json::json;
    let series: Vec<serde_json::Value> =
        (0..11).map(|i| json!([i as f64 / 10.0, if i == 10 { 10000 } else { 90000 + i * 1000 }])).collect();
    vec![
        common::run_started("D31", &["failover"], vec![]),
        common::phase_started("failover", 990),
        common::step_started("writers_pool", "failover", "sql.writers", 1000),
        common::step_started("region_kill", "failover", "docker.kill", 2004),
        common::step_finished("region_kill", "failover", "docker.kill", (2004, 2100), 1),
        common::step_started("promote_standby", "failover", "sql.promote", 2168),
        common::step_finished("promote_standby", "failover", "sql.promote", (2168, 2280), 1),
        finished_with(
            "writers_pool",
            "failover",
            "sql.writers",
            (1000, 3298),
            json!({"acknowledged": 86000, "failed": 0, "unknown": 8000, "workers": 8, "series": series,
                   "errors": ["COMMIT failed: connection closed: <batch unknown>"]}),
        ),
        common::phase_finished("failover", true, None, 3300),
        Event::Metric {
            name: "rto_ms".into(),
            phase: "failover".into(),
            value: json!(285),
            unit: Some("ms".into()),
            series: None,
            interval: None,
            error: None,
        },
        common::finished(testrunner_reports::Verdict::Pass, 0, 3400),
    ]
}

#[test]
fn charts_and_fault_marks_follow_the_declared_traits_not_the_action_names() {
    use testrunner_events::ActionTraits;
    assert!(html::render(&RunReport::from_events(&writers_run()), "").contains("⚡"), "the kill is marked");
    // The same run, but the journal says no action declared anything: no chart, no marks.
    let events: Vec<Event> = writers_run()
        .into_iter()
        .map(|e| match e {
            Event::StepStarted { step, phase, action, t_ms, at, background, .. } => {
                Event::StepStarted { step, phase, action, t_ms, at, background, traits: ActionTraits::NONE }
            }
            other => other,
        })
        .collect();
    let page = html::render(&RunReport::from_events(&events), "");
    assert!(!page.contains("Write rate —"), "no step declares a chart");
    assert!(!page.contains("⚡"), "no step declares a fault");
    // And the other way: a step of any name whose action declares the chart gets one.
    let mut events = writers_run();
    for e in &mut events {
        if let Event::StepStarted { action, .. } | Event::StepFinished { action, .. } = e {
            if action == "sql.writers" {
                *action = "pg.writers".into();
            }
        }
    }
    let page = html::render(&RunReport::from_events(&events), "");
    assert!(page.contains("<h2>Write rate — writers_pool</h2>"), "the chart follows the trait");
}

#[test]
fn the_write_rate_chart_has_axes_and_marks_where_the_kill_and_promotion_happened() {
    let page = html::render(&RunReport::from_events(&writers_run()), "");
    let start = page.find("<h2>Write rate — writers_pool</h2>").expect("a chart for the writer step");
    let chart = &page[start..];
    let svg = &chart[chart.find("<svg").unwrap()..chart.find("</svg>").unwrap()];
    assert_eq!(svg.matches("<rect class=\"rate\"").count(), 11, "one bar per bucket:\n{svg}");
    assert!(chart.contains("in 0.1 s buckets (peak 99000 rows/s)"), "{chart}");
    // The x axis is the writers' window (1.000 → 3.298 s), not one second per bucket: the kill,
    // 1.004 s into a 2.298 s window, sits 43.7 % of the way along the 1062 px plot from x=64.
    assert!(svg.contains("<line class=\"m-kill\" x1=\"528.0\""), "{svg}");
    assert!(svg.contains(">kill</text>") && svg.contains(">promote</text>"), "{svg}");
    assert!(svg.contains("region_kill (docker.kill) at 2.004 s"), "{svg}");
    // Labelled axes: rows/s with round ticks, run-clock seconds.
    for label in
        [">0</text>", ">50k</text>", ">100k</text>", ">rows/s</text>", ">1.5 s</text>", ">3.0 s</text>"]
    {
        assert!(svg.contains(label), "axis label {label}:\n{svg}");
    }
    assert!(chart.contains("acknowledged 86000 · failed 0 · unknown (in doubt) 8000 · workers 8"), "{chart}");
    assert!(
        chart.contains("<li>COMMIT failed: connection closed: &#60;batch unknown&#62;</li>"),
        "escaped: {chart}"
    );
    assert!(chart.contains("RTO 285 ms"));
    assert!(page.contains("<a href=\"#write-rate\">Write rate</a>"));

    // No writer series: no chart.
    let page = html::render(&common::report(&common::passing()), "");
    assert!(!page.contains("Write rate"), "{page}");
}

#[test]
fn long_step_output_is_collapsed_wrapped_and_truncated() {
    use serde_json::json;
    let long = "x".repeat(9000);
    let mut events = common::passing();
    let at = events.iter().position(|e| matches!(e, Event::RunFinished { .. })).unwrap();
    events.insert(at, common::step_started("dump", "recovery", "exec", 1502));
    events.insert(
        at + 1,
        finished_with(
            "dump",
            "recovery",
            "exec",
            (1502, 1503),
            json!({"stdout": format!("<{long}>"), "exit_code": 0}),
        ),
    );
    events.insert(at + 2, common::step_started("port", "recovery", "net.free_port", 1504));
    events.insert(
        at + 3,
        finished_with(
            "port",
            "recovery",
            "net.free_port",
            (1504, 1504),
            json!({"port": 5432, "path": "/tmp/a b", "ok": true, "started_ms": 1504}),
        ),
    );
    let page = html::render(&RunReport::from_events(&events), "");
    assert_eq!(leaks(&page), Vec::<&str>::new());
    let row = &page[page.find("<td class=\"mono\">dump</td>").unwrap()..];
    let row = &row[..row.find("</tr>").unwrap()];
    assert!(row.contains("<details><summary>stdout, exit_code</summary><pre class=\"out\">{\n  &#34;stdout&#34;: &#34;&#60;xxx"), "{row}");
    assert!(
        row.contains("… (truncated at 4000 of 9038 characters; the full result is in report.json)"),
        "{row}"
    );
    assert!(row.len() < 6000, "truncated: {} bytes", row.len());
    // A short plain result is shown inline; bookkeeping fields (ok, started_ms, ...) never.
    let port = &page[page.find("<td class=\"mono\">port</td>").unwrap()..];
    assert!(
        port[..port.find("</tr>").unwrap()]
            .contains("<td><code>port=5432 path=&#34;/tmp/a b&#34;</code></td>"),
        "{port}"
    );
    assert!(!page.contains("ok=true") && !page.contains("&#34;ok&#34;"), "bookkeeping shown:\n{page}");
    let lost = &page[page.find("<td class=\"mono\">lost</td>").unwrap()..];
    assert!(lost[..lost.find("</tr>").unwrap()].contains("<summary>json</summary>"), "{lost}");
}

#[test]
fn steps_are_grouped_by_phase() {
    let page = html::render(&common::report(&common::passing()), "");
    let steps = &page[page.find("<h2>Steps</h2>").unwrap()..page.find("<h2>Cleanup (undo)</h2>").unwrap()];
    let groups: Vec<&str> = steps
        .split("<tr class=\"group\"><td colspan=\"10\">")
        .skip(1)
        .map(|g| &g[..g.find('<').unwrap()])
        .collect();
    assert_eq!(groups, ["baseline", "loss", "recovery"], "{steps}");
    assert!(steps.contains("<th>Transition window</th>"), "lost has a transition window");
    assert!(!steps.contains("<th>Error</th>"), "no step failed: no empty Error column");
    let page = html::render(&common::report(&common::failing()), "");
    assert!(page.contains("<th>Error</th>") && page.contains("hint: is the HA server running?"));
}

#[test]
fn baseline_and_delta_come_from_the_baseline_check() {
    let mut events = common::passing();
    let at = events.iter().position(|e| matches!(e, Event::RunFinished { .. })).unwrap();
    events.insert(
        at,
        common::check(
            "BASELINE-loss_ms",
            testrunner_reports::CheckStatus::Fail,
            "REGRESSION loss_ms: 765 ms vs baseline 487 ms (+57.1%, limit +25.0%)",
            &[],
            None,
            1505,
        ),
    );
    if let Event::RunStarted { checks, .. } = &mut events[0] {
        let mut d = checks[0].clone();
        d.id = "BASELINE-loss_ms".into();
        d.name = "loss_ms_no_regression".into();
        checks.push(d);
    }
    let page = html::render(&RunReport::from_events(&events), "");
    assert!(page.contains("<th>Baseline</th><th>Delta</th>"), "{page}");
    assert!(
        page.contains("<tr class=\"regression\"><td class=\"mono\">loss_ms</td><td>loss</td><td class=\"num\">765 ms, true value in [565, 765] ms</td><td class=\"mono\"></td><td class=\"num\">487 ms</td><td class=\"loud\">+57.1% (limit +25.0%)</td></tr>"),
        "{page}"
    );
    assert!(page.contains("REGRESSION loss_ms"), "the check message is shown as is");
}

/// The page body (markup, no CSS), for snapshots: a change to the layout shows up as a diff.
fn body(page: &str) -> &str {
    &page[page.find("<body>").unwrap()..]
}

#[test]
fn snapshots() {
    for (name, r) in [
        ("passing", common::report(&common::passing())),
        ("failing", common::report(&common::failing())),
        ("writers", RunReport::from_events(&writers_run())),
    ] {
        insta::assert_snapshot!(format!("html_{name}"), body(&html::render(&r, "scenario: val17\n")));
    }
}
