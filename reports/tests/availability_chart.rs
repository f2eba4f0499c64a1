//! The `http.sample` chart in report.html: probes on the run's clock, the outage as a red
//! band, the partition and the heal marked, the figures and the outage's bounds in words.
mod common;

use serde_json::json;
use testrunner_reports::Event;
use testrunner_reports::{html, RunReport};

fn with_result(ev: Event, result: serde_json::Value) -> Event {
    match ev {
        Event::StepFinished {
            step,
            phase,
            action,
            started_ms,
            finished_ms,
            attempts,
            ok,
            error,
            hint,
            ..
        } => Event::StepFinished {
            step,
            phase,
            action,
            ok,
            error,
            hint,
            allowed_failure: false,
            skipped: false,
            started_ms,
            finished_ms,
            attempts,
            last_miss_ms: None,
            first_match_ms: None,
            result,
            at: None,
        },
        other => other,
    }
}

/// A 10 s run: the sampler runs 0.5 → 9.5 s; probes fail from 4.0 s (partition at 3.9 s)
/// to 6.0 s (the first accepted after the heal at 5.8 s).
fn sampled_run(label: &str) -> Vec<Event> {
    let series: Vec<serde_json::Value> =
        (0..90).map(|i| 500 + i * 100).map(|t| json!([t, 3.5, !(4000..6000).contains(&t)])).collect();
    vec![
        common::run_started("partition", &["fault"], vec![]),
        common::phase_started("fault", 400),
        common::step_started("availability", "fault", "http.sample", 500),
        common::step_started(label, "fault", "net.partition", 3900),
        common::step_finished(label, "fault", "net.partition", (3900, 3950), 1),
        common::step_started("heal", "fault", "net.heal", 5800),
        common::step_finished("heal", "fault", "net.heal", (5800, 5840), 1),
        with_result(
            common::step_finished("availability", "fault", "http.sample", (500, 9500), 1),
            json!({"samples": 90, "down": 20, "availability": 77.78, "latency_p50_ms": 3.5,
                   "latency_p95_ms": 3.5, "latency_p99_ms": 3.5, "latency_max_ms": 3.5,
                   "outages": 1, "outage_ms": 2000, "outage_lo_ms": 1900, "outage_hi_ms": 2100,
                   "outage_start_ms": 4000, "outage_start_lo_ms": 3900, "outage_end_lo_ms": 5900,
                   "outage_end_ms": 6000, "recovered": true, "series": series}),
        ),
        common::phase_finished("fault", true, None, 9600),
        common::finished(testrunner_reports::Verdict::Pass, 0, 10000),
    ]
}

#[test]
fn the_chart_draws_probes_on_the_run_clock_with_the_outage_and_the_marks() {
    let page = html::render(&RunReport::from_events(&sampled_run("partition_pg")), "");
    let start = page.find("<h2>Availability — availability</h2>").expect("a chart for the sampler");
    let chart = &page[start..page[start..].find("</section>").unwrap() + start];
    let svg = &chart[chart.find("<svg").unwrap()..chart.find("</svg>").unwrap()];
    assert_eq!(svg.matches("<circle class=\"up\"").count(), 70, "one dot per accepted probe");
    assert_eq!(svg.matches("<rect class=\"down\"").count(), 1, "one band for the outage");
    // The x axis is the whole run (0 → 10 s over 1062 px from x=64): the band starts at
    // 4.0 s (x=488.8) and ends at the first accepted probe, 6.0 s (x=701.2).
    assert!(svg.contains("<rect class=\"down\" x=\"488.8\" y=\"36.0\" width=\"212.4\""), "{svg}");
    assert!(svg.contains("<line class=\"m-fault\" x1=\"478.2\""), "partition at 3.9 s: {svg}");
    assert!(svg.contains("<line class=\"m-heal\" x1=\"680.0\""), "heal at 5.8 s: {svg}");
    assert!(svg.contains(">partition_pg</text>") && svg.contains(">heal</text>"), "{svg}");
    assert!(chart.contains("availability 77.78% · probes 90 · down 20 · p50 3.5 ms"), "{chart}");
    assert!(
        chart.contains(
            "Longest outage 2 s (at least 1.9 s, at most 2.1 s): it began between 3.900 s and \
             4.000 s, and ended between 5.900 s and 6.000 s."
        ),
        "{chart}"
    );
    assert!(page.contains("<a href=\"#availability\">Availability</a>"));
}

#[test]
fn user_text_in_the_chart_is_escaped_and_no_sampler_means_no_chart() {
    let page = html::render(&RunReport::from_events(&sampled_run("<script>x</script>")), "");
    assert!(!page.contains("<script"), "a step id is escaped");
    let chart = &page[page.find("<h2>Availability").unwrap()..];
    assert!(chart.contains("&#60;script&#62;x") || chart.contains("&lt;script&gt;x"), "{chart}");
    let none = html::render(&RunReport::from_events(&common::passing()), "");
    assert!(!none.contains("Availability —") && !none.contains("href=\"#availability\""));
}
