//! `report.html`: one self-contained page for people (inline CSS, no network, no JS).
//! Rust computes a plain view (strings and numbers); the askama template lays it out and
//! escapes every value, SVG text included, because `.html` templates auto-escape.
use crate::event::{CheckStatus, Verdict};
use crate::model::{display_value, secs, RunReport, StepRecord};
use askama::Template;
use serde_json::Value;

pub fn render(report: &RunReport, resolved_scenario_yaml: &str) -> String {
    let page = Page::new(report, resolved_scenario_yaml);
    page.render().unwrap_or_else(|e| {
        // Rendering only fails on a template bug; still produce a (escaped) page.
        let esc = |s: &str| s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;");
        format!(
            "<!DOCTYPE html><html><body><h1>report rendering failed</h1><pre>{}</pre></body></html>\n",
            esc(&e.to_string())
        )
    })
}

#[derive(Template)]
#[template(path = "report.html")]
struct Page<'a> {
    r: &'a RunReport,
    title: &'a str,
    verdict: &'static str,
    verdict_class: String,
    banner_note: String,
    finished_at: String,
    duration: String,
    command: String,
    git_revision: String,
    pass: usize,
    fail: usize,
    error: usize,
    checks: Vec<CheckRow>,
    metrics: Vec<MetricRow>,
    phases: Vec<PhaseRow>,
    steps: Vec<StepRow>,
    timeline: Timeline,
    write_rates: Vec<WriteRate>,
    undo: Vec<UndoRow>,
    unrestored: usize,
    harness: Vec<HarnessRow>,
    evidence: Vec<EvidenceRow>,
    vars: Vec<(String, String)>,
    scenario_yaml: &'a str,
}

struct CheckRow {
    id: String,
    name: String,
    phase: String,
    status: &'static str,
    class: &'static str,
    message: String,
    expect: Vec<String>,
    details: Vec<String>,
    numbers: String,
}

struct MetricRow {
    name: String,
    phase: String,
    value: String,
    unit: String,
    series: String,
    /// Filled by baseline comparison when there is one; empty otherwise.
    baseline: String,
    delta: String,
}

struct PhaseRow {
    name: String,
    status: String,
    elapsed: String,
    iterations: u32,
    note: String,
}

struct StepRow {
    step: String,
    phase: String,
    action: String,
    status: &'static str,
    class: &'static str,
    fault: bool,
    started: String,
    elapsed: String,
    attempts: u32,
    window: String,
    error: String,
    hint: String,
}

struct UndoRow {
    ok: bool,
    key: String,
    description: String,
    error: String,
    at: String,
}

struct HarnessRow {
    stage: String,
    message: String,
    at: String,
}

struct EvidenceRow {
    /// None when the path is not a plain relative path (then it is shown, not linked).
    href: Option<String>,
    label: String,
}

impl<'a> Page<'a> {
    fn new(r: &'a RunReport, yaml: &'a str) -> Self {
        let verdict = r.verdict();
        let banner_note = match verdict {
            Verdict::Interrupted => {
                format!(
                    "interrupted by {}: cleanup ran, later steps and checks did not",
                    r.interrupted.as_deref().unwrap_or("a signal")
                )
            }
            Verdict::Incomplete => "the journal ends before the run finished (runner killed?)".into(),
            _ if r.unrestored().count() > 0 => "some changes were NOT restored: see Cleanup".into(),
            _ => String::new(),
        };
        Page {
            r,
            title: if r.title.is_empty() { &r.scenario } else { &r.title },
            verdict: verdict.as_str(),
            verdict_class: verdict.as_str().to_lowercase(),
            banner_note,
            finished_at: r.finished_at.clone().unwrap_or_else(|| "- (did not finish)".into()),
            duration: secs(r.duration_ms),
            command: r.command.join(" "),
            git_revision: r.git_revision.clone().unwrap_or_default(),
            pass: r.count(CheckStatus::Pass),
            fail: r.count(CheckStatus::Fail),
            error: r.count(CheckStatus::Error),
            checks: check_rows(r),
            metrics: r.metrics.iter().map(metric_row).collect(),
            phases: r.phases.iter().map(phase_row).collect(),
            steps: r.steps.iter().map(step_row).collect(),
            timeline: Timeline::new(r),
            write_rates: WriteRate::all(r),
            undo: r
                .undo
                .iter()
                .map(|u| UndoRow {
                    ok: u.ok,
                    key: u.key.clone(),
                    description: u.description.clone(),
                    error: u.error.clone().unwrap_or_default(),
                    at: secs(u.t_ms),
                })
                .collect(),
            unrestored: r.unrestored().count(),
            harness: r
                .harness_errors
                .iter()
                .map(|h| HarnessRow { stage: h.stage.clone(), message: h.message.clone(), at: secs(h.t_ms) })
                .collect(),
            evidence: r.evidence.iter().map(|p| evidence_row(p)).collect(),
            vars: r.vars.iter().map(|(k, v)| (k.clone(), display_value(v))).collect(),
            scenario_yaml: yaml,
        }
    }
}

fn check_rows(r: &RunReport) -> Vec<CheckRow> {
    r.checks
        .iter()
        .map(|c| {
            let mut numbers = vec![];
            if let Some(m) = &c.decl.metric {
                let v = r.check_metric_value(c).map(|v| display_value(&v)).unwrap_or_else(|| "?".into());
                let unit = c.decl.unit.as_deref().map(|u| format!(" {u}")).unwrap_or_default();
                numbers.push(format!("{m} = {v}{unit}"));
            }
            if let Some(th) = &c.decl.threshold {
                numbers.push(format!("threshold {th}"));
            }
            CheckRow {
                id: c.decl.id.clone(),
                name: c.decl.name.clone(),
                phase: c.decl.phase.clone(),
                status: c.status.as_str(),
                class: status_class(c.status),
                message: if c.message.is_empty() && c.status == CheckStatus::Error {
                    "not evaluated".into()
                } else {
                    c.message.clone()
                },
                expect: c.decl.expect.clone(),
                details: c.details.clone(),
                numbers: numbers.join(", "),
            }
        })
        .collect()
}

fn status_class(s: CheckStatus) -> &'static str {
    match s {
        CheckStatus::Pass => "pass",
        CheckStatus::Fail => "fail",
        CheckStatus::Error => "error",
    }
}

fn metric_row(m: &crate::model::MetricResult) -> MetricRow {
    let series = match &m.series {
        Some(Value::Object(s)) => {
            let get = |k: &str| s.get(k).map(display_value).unwrap_or_else(|| "-".into());
            format!(
                "n={} min={} median={} p95={} max={}",
                get("count"),
                get("min"),
                get("median"),
                get("p95"),
                get("max")
            )
        }
        _ => String::new(),
    };
    MetricRow {
        name: m.name.clone(),
        phase: m.phase.clone(),
        value: display_value(&m.value),
        unit: m.unit.clone().unwrap_or_default(),
        series,
        baseline: String::new(),
        delta: String::new(),
    }
}

fn phase_row(p: &crate::model::PhaseResult) -> PhaseRow {
    let note = match (&p.failed_step, &p.skip_reason) {
        (Some(s), _) => format!("failed at step `{s}`"),
        (None, Some(why)) => why.clone(),
        _ => String::new(),
    };
    PhaseRow {
        name: p.name.clone(),
        status: p.status.clone(),
        elapsed: p.elapsed_ms().map(secs).unwrap_or_default(),
        iterations: p.iterations,
        note,
    }
}

fn step_class(s: &StepRecord) -> &'static str {
    match (s.ok, s.skipped, s.allowed_failure) {
        (_, true, _) => "skipped",
        (None, ..) => "unfinished",
        (Some(true), ..) => "ok",
        (Some(false), _, true) => "allowed",
        (Some(false), ..) => "failed",
    }
}

fn step_row(s: &StepRecord) -> StepRow {
    let window = match (s.last_miss_ms, s.first_match_ms) {
        (Some(a), Some(b)) => format!("{} … {}", secs(a), secs(b)),
        (None, Some(b)) => format!("… {}", secs(b)),
        _ => String::new(),
    };
    StepRow {
        step: s.step.clone(),
        phase: s.phase.clone(),
        action: s.action.clone(),
        status: s.status_word(),
        class: step_class(s),
        fault: s.is_fault(),
        started: secs(s.started_ms),
        elapsed: s.elapsed_ms().map(secs).unwrap_or_else(|| "-".into()),
        attempts: s.attempts,
        window,
        error: s.error.clone().unwrap_or_default(),
        hint: s.hint.clone().unwrap_or_default(),
    }
}

fn evidence_row(path: &str) -> EvidenceRow {
    let plain = !path.is_empty()
        && !path.starts_with('/')
        && !path.contains(':')
        && !path.contains('\\')
        && path.split('/').all(|c| c != "..");
    let href =
        plain.then(
            || if path.starts_with("evidence/") { path.to_string() } else { format!("evidence/{path}") },
        );
    EvidenceRow { href, label: path.to_string() }
}

// ---- timeline: steps, polls, faults, undo and harness errors on one clock ----

const LABEL_W: f64 = 250.0;
const PLOT_W: f64 = 850.0;
const ROW_H: f64 = 20.0;
const TOP: f64 = 36.0;

struct Timeline {
    width: String,
    height: String,
    plot_bottom: String,
    band_h: String,
    axis: Vec<Tick>,
    phases: Vec<Band>,
    rows: Vec<Row>,
    faults: Vec<Tick>,
    marks_rows: Vec<MarkRow>,
}

struct Tick {
    x: String,
    label: String,
}

struct Band {
    x: String,
    w: String,
    label: String,
    odd: bool,
}

struct Row {
    y: String,
    text_y: String,
    label: String,
    x: String,
    w: String,
    class: &'static str,
    fault: bool,
    title: String,
    polls: Vec<Mark>,
}

struct Mark {
    x: String,
    class: &'static str,
    title: String,
}

/// A row of point events (undo, harness errors).
struct MarkRow {
    y: String,
    text_y: String,
    label: &'static str,
    marks: Vec<Mark>,
}

fn f(v: f64) -> String {
    format!("{:.1}", v)
}

impl Timeline {
    fn new(r: &RunReport) -> Self {
        let end = r.clock_end_ms().max(1);
        let x = |t: u64| LABEL_W + (t.min(end) as f64) * PLOT_W / end as f64;
        let mut y = TOP;
        let mut rows = vec![];
        for s in &r.steps {
            let stop = s.finished_ms.unwrap_or(end);
            let (x0, x1) = (x(s.started_ms), x(stop));
            let status = s.status_word();
            let span = match (s.finished_ms, s.elapsed_ms()) {
                (Some(f), Some(e)) => format!("{} → {} ({})", secs(s.started_ms), secs(f), secs(e)),
                _ => format!("{} → never finished", secs(s.started_ms)),
            };
            let mut title = format!("{} ({}) {status}: {span}", s.step, s.action);
            if let Some(e) = &s.error {
                title.push_str(&format!(" — {e}"));
            }
            let polls = s
                .polls
                .iter()
                .map(|p| Mark {
                    x: f(x(p.finished_ms)),
                    class: if p.error.is_some() {
                        "perr"
                    } else if p.matched {
                        "hit"
                    } else {
                        "miss"
                    },
                    title: format!(
                        "attempt {} at {}: {}{}",
                        p.attempt,
                        secs(p.finished_ms),
                        if p.matched { "matched" } else { "not yet" },
                        p.error.as_deref().map(|e| format!(" — {e}")).unwrap_or_default()
                    ),
                })
                .collect();
            rows.push(Row {
                y: f(y + 3.0),
                text_y: f(y + 14.0),
                label: format!("{}{} · {}", if s.is_fault() { "⚡ " } else { "" }, s.step, s.action),
                x: f(x0),
                w: f((x1 - x0).max(2.0)),
                class: step_class(s),
                fault: s.is_fault(),
                title,
                polls,
            });
            y += ROW_H;
        }
        let mut marks_rows = vec![];
        if !r.undo.is_empty() {
            let marks = r
                .undo
                .iter()
                .map(|u| Mark {
                    x: f(x(u.t_ms)),
                    class: if u.ok { "hit" } else { "perr" },
                    title: format!(
                        "{} {} at {}{}",
                        if u.ok { "restored" } else { "NOT RESTORED" },
                        u.description,
                        secs(u.t_ms),
                        u.error.as_deref().map(|e| format!(": {e}")).unwrap_or_default()
                    ),
                })
                .collect();
            marks_rows.push(MarkRow { y: f(y + 3.0), text_y: f(y + 14.0), label: "undo", marks });
            y += ROW_H;
        }
        if !r.harness_errors.is_empty() {
            let marks = r
                .harness_errors
                .iter()
                .map(|h| Mark {
                    x: f(x(h.t_ms)),
                    class: "perr",
                    title: format!("[{}] at {}: {}", h.stage, secs(h.t_ms), h.message),
                })
                .collect();
            marks_rows.push(MarkRow { y: f(y + 3.0), text_y: f(y + 14.0), label: "harness errors", marks });
            y += ROW_H;
        }
        let phases = r
            .phases
            .iter()
            .filter_map(|p| Some((p, p.started_ms?)))
            .enumerate()
            .map(|(i, (p, start))| {
                let stop = p.finished_ms.unwrap_or(end);
                Band {
                    x: f(x(start)),
                    w: f((x(stop) - x(start)).max(1.0)),
                    label: p.name.clone(),
                    odd: i % 2 == 1,
                }
            })
            .collect();
        let faults = r
            .steps
            .iter()
            .filter(|s| s.is_fault())
            .map(|s| Tick { x: f(x(s.started_ms)), label: format!("{} at {}", s.step, secs(s.started_ms)) })
            .collect();
        let axis = (0..=5)
            .map(|i| {
                let t = end * i / 5;
                Tick { x: f(x(t)), label: secs(t) }
            })
            .collect();
        Timeline {
            width: f(LABEL_W + PLOT_W + 20.0),
            height: f(y + 8.0),
            plot_bottom: f(y),
            band_h: f(y - 14.0),
            axis,
            phases,
            rows,
            faults,
            marks_rows,
        }
    }
}

// ---- write rate: a writer pool's acknowledged rows per second, faults and promotions marked ----

struct RateBar {
    x: f64,
    y: f64,
    w: f64,
    h: f64,
    title: String,
}

struct RateMark {
    x: f64,
    label: String,
    class: &'static str,
}

struct WriteRate {
    step: String,
    width: f64,
    height: f64,
    base: f64,
    peak: String,
    bars: Vec<RateBar>,
    marks: Vec<RateMark>,
    rto: String,
}

impl WriteRate {
    const W: f64 = 900.0;
    const H: f64 = 160.0;
    const BASE: f64 = 140.0;

    /// One chart per `sql.writers` step whose result carries a `series` of [second, rows].
    fn all(r: &RunReport) -> Vec<WriteRate> {
        r.steps
            .iter()
            .filter(|s| s.action == "sql.writers")
            .filter_map(|s| {
                let series: Vec<(f64, f64)> = s.result.get("series")?.as_array()?.iter()
                    .filter_map(|p| Some((p.get(0)?.as_f64()?, p.get(1)?.as_f64()?)))
                    .collect();
                if series.is_empty() {
                    return None;
                }
                let start_ms = s.started_ms as f64;
                let end_ms = s.finished_ms.map(|f| f as f64).unwrap_or(start_ms + series.len() as f64 * 1000.0);
                let span_ms = (end_ms - start_ms).max(series.len() as f64 * 1000.0).max(1.0);
                let peak = series.iter().map(|p| p.1).fold(1.0, f64::max);
                let scale_x = |ms: f64| 40.0 + (ms - start_ms).max(0.0) / span_ms * (Self::W - 60.0);
                let step_s = if series.len() > 1 { (series[1].0 - series[0].0).max(0.001) } else { 1.0 };
                let bw = step_s * 1000.0 / span_ms * (Self::W - 60.0);
                let bars = series
                    .iter()
                    .map(|(sec, n)| {
                        let h = n / peak * (Self::BASE - 20.0);
                        RateBar { x: scale_x(start_ms + sec * 1000.0), y: Self::BASE - h, w: (bw - 1.0).max(1.0), h, title: format!("t={sec:.1} s: {n} rows/s acknowledged") }
                    })
                    .collect();
                let marks = r
                    .steps
                    .iter()
                    .filter(|o| o.started_ms as f64 >= start_ms && (o.started_ms as f64) <= end_ms)
                    .filter_map(|o| {
                        let promote = o.action == "sql.promote" || o.step.contains("promot");
                        if o.is_fault() || promote {
                            Some(RateMark {
                                x: scale_x(o.started_ms as f64),
                                label: format!("{} ({}) at {} ms", o.step, o.action, o.started_ms),
                                class: if promote { "promote" } else { "kill" },
                            })
                        } else {
                            None
                        }
                    })
                    .collect();
                let metric = |n: &str| r.metrics.iter().find(|m| m.name == n).map(|m| display_value(&m.value));
                let rto = match (metric("rto_ms"), metric("rto_uncertainty_ms")) {
                    (Some(v), Some(u)) => format!("RTO {v} ms, measured to the first poll that saw the new primary; the promotion completed within the {u} ms before it."),
                    (Some(v), None) => format!("RTO {v} ms"),
                    _ => String::new(),
                };
                Some(WriteRate {
                    step: s.step.clone(),
                    width: Self::W,
                    height: Self::H,
                    base: Self::BASE,
                    peak: format!("{peak} rows/s"),
                    bars,
                    marks,
                    rto,
                })
            })
            .collect()
    }
}
