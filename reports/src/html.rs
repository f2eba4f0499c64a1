//! `report.html`: one self-contained page for people (inline CSS, no network, no JS).
//! Rust computes a plain view (strings and numbers); the askama template lays it out and
//! escapes every value, SVG text included, because `.html` templates auto-escape.
use crate::event::{CheckStatus, Verdict};
use crate::model::{display_value, secs, RunReport, StepRecord};
use askama::Template;
use serde_json::Value;

mod availability;

pub fn render(report: &RunReport, resolved_scenario_yaml: &str) -> String {
    let page = Page::new(report, resolved_scenario_yaml);
    let html = page.render().unwrap_or_else(|e| {
        // Rendering only fails on a template bug; still produce a (escaped) page.
        let esc = |s: &str| s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;");
        format!(
            "<!DOCTYPE html><html><body><h1>report rendering failed</h1><pre>{}</pre></body></html>\n",
            esc(&e.to_string())
        )
    });
    // Escaping stops markup, not control characters (an ESC from stderr): make them visible.
    crate::text::xml_chars(&html).into_owned()
}

#[derive(Template)]
#[template(path = "report.html")]
struct Page<'a> {
    r: &'a RunReport,
    title: &'a str,
    verdict: &'static str,
    verdict_class: String,
    /// One sentence under the verdict: how many checks failed, how long it took.
    headline: String,
    description: Vec<Part>,
    banner_note: String,
    /// Failed and errored checks, named in the banner with a link to their row.
    problems: Vec<Problem>,
    finished_at: String,
    duration: String,
    command: String,
    git_revision: String,
    pass: usize,
    fail: usize,
    error: usize,
    checks: Vec<CheckRow>,
    metrics: Vec<MetricRow>,
    metrics_have_series: bool,
    metrics_have_baseline: bool,
    phases: Vec<PhaseRow>,
    steps: Vec<StepRow>,
    /// Whether any step has a transition window / an error or hint (else the column is left out).
    steps_have_window: bool,
    steps_have_error: bool,
    timeline: Timeline,
    write_rates: Vec<WriteRate>,
    /// The `http.sample` charts, rendered by their own template (html/availability.rs).
    availability: String,
    undo: Vec<UndoRow>,
    unrestored: usize,
    harness: Vec<HarnessRow>,
    logs: Vec<LogRow>,
    evidence: Vec<EvidenceRow>,
    vars: Vec<(String, String)>,
    scenario_yaml: &'a str,
    scenario_lines: usize,
}

/// A piece of a message: text, or a `backticked` expression shown as code.
struct Part {
    code: bool,
    text: String,
}

struct Problem {
    anchor: String,
    id: String,
    name: String,
    status: &'static str,
    message: Vec<Part>,
}

struct CheckRow {
    anchor: String,
    id: String,
    name: String,
    /// `name` cut after `_` `.` `/` so a long identifier wraps at its joints.
    name_parts: Vec<String>,
    phase: String,
    status: &'static str,
    class: &'static str,
    message: Vec<Part>,
    expect: Vec<Vec<String>>,
    details: Vec<Vec<Part>>,
    /// `metric = value unit`, when the check measures a metric.
    measured: String,
    threshold: String,
}

struct MetricRow {
    name: String,
    phase: String,
    value: String,
    series: String,
    /// From the run's `BASELINE-<metric>` check, when there is one; empty otherwise.
    baseline: String,
    delta: String,
    regression: bool,
}

struct PhaseRow {
    name: String,
    status: String,
    elapsed: String,
    iterations: u32,
    checks: String,
    checks_class: &'static str,
    note: Vec<Part>,
}

struct StepRow {
    /// The first step of a new phase: the table starts a group row for it.
    phase_break: bool,
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
    error: Vec<Part>,
    hint: String,
    /// The step's result as pretty JSON, bookkeeping fields left out; empty when nothing is left.
    output: String,
    /// What the collapsed output says: its field names.
    output_summary: String,
    /// A short result of plain values, shown as is instead (`port=35731`).
    output_inline: String,
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
    message: Vec<Part>,
    at: String,
}

struct LogRow {
    at: String,
    step: String,
    message: String,
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
        let totals = r.totals();
        let (pass, fail, error) = (totals.pass, totals.fail, totals.error);
        let checks = check_rows(r);
        let mut problems: Vec<Problem> = checks
            .iter()
            .filter(|c| c.class != "pass")
            .map(|c| Problem {
                anchor: c.anchor.clone(),
                id: c.id.clone(),
                name: c.name.clone(),
                status: c.status,
                message: parts(&flatten(&c.message)),
            })
            .collect();
        // Failed steps no check reported and uncomputable metrics count as errors too.
        problems.extend(r.step_errors.iter().map(|s| Problem {
            anchor: "steps".into(),
            id: format!("{} step {}", s.phase, s.step),
            name: s.iteration.map(|i| format!("iteration {i}")).unwrap_or_default(),
            status: "ERROR",
            message: parts(&s.error),
        }));
        problems.extend(r.metrics.iter().filter_map(|m| {
            Some(Problem {
                anchor: "metrics".into(),
                id: format!("metric {}", m.name),
                name: String::new(),
                status: "ERROR",
                message: parts(&format!("could not be computed: {}", m.error.as_deref()?)),
            })
        }));
        let metrics: Vec<MetricRow> = r.metrics.iter().map(|m| metric_row(r, m)).collect();
        Page {
            r,
            title: if r.title.is_empty() { &r.scenario } else { &r.title },
            verdict: verdict.as_str(),
            verdict_class: verdict.as_str().to_lowercase(),
            headline: headline(totals.total, pass, fail, error, r.duration_ms),
            description: parts(&r.description),
            banner_note,
            problems,
            finished_at: r.finished_at.clone().unwrap_or_else(|| "- (did not finish)".into()),
            duration: secs(r.duration_ms),
            command: r.command.join(" "),
            git_revision: r.git_revision.clone().unwrap_or_default(),
            pass,
            fail,
            error,
            checks,
            metrics_have_series: metrics.iter().any(|m| !m.series.is_empty()),
            metrics_have_baseline: metrics.iter().any(|m| !m.baseline.is_empty() || !m.delta.is_empty()),
            metrics,
            phases: r.phases.iter().map(|p| phase_row(r, p)).collect(),
            steps: r
                .steps
                .iter()
                .enumerate()
                .map(|(i, s)| step_row(s, i == 0 || r.steps[i - 1].phase != s.phase))
                .collect(),
            steps_have_window: r.steps.iter().any(|s| s.first_match_ms.is_some()),
            steps_have_error: r.steps.iter().any(|s| s.error.is_some() || s.hint.is_some()),
            timeline: Timeline::new(r),
            write_rates: WriteRate::all(r),
            availability: availability::render(r),
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
                .map(|h| HarnessRow { stage: h.stage.clone(), message: parts(&h.message), at: secs(h.t_ms) })
                .collect(),
            logs: r
                .logs
                .iter()
                .map(|l| LogRow {
                    at: secs(l.t_ms),
                    step: l.step.clone().unwrap_or_default(),
                    message: l.message.clone(),
                })
                .collect(),
            evidence: r.evidence.iter().map(|p| evidence_row(p)).collect(),
            vars: r.vars.iter().map(|(k, v)| (k.clone(), display_value(v))).collect(),
            scenario_yaml: yaml,
            scenario_lines: yaml.lines().count(),
        }
    }
}

fn headline(total: usize, pass: usize, fail: usize, error: usize, duration_ms: u64) -> String {
    // `total` counts checks plus failed steps and metrics no check covered (errors).
    let checks = match (total, fail, error) {
        (0, ..) => "no checks declared".to_string(),
        (t, 0, 0) => format!("{pass} of {t} checks passed"),
        (t, f, 0) => format!("{f} of {t} checks failed"),
        (t, 0, e) => format!("{e} of {t} checks could not be evaluated"),
        (t, f, e) => format!("{f} of {t} checks failed, {e} could not be evaluated"),
    };
    format!("{checks} · ran {}", secs(duration_ms))
}

/// Splits `a `b` c` into text and code parts; an unmatched backtick stays text.
fn parts(s: &str) -> Vec<Part> {
    let mut pieces: Vec<String> = s.split('`').map(str::to_string).collect();
    if pieces.len().is_multiple_of(2) {
        // An odd number of backticks: the last one opens nothing.
        let last = pieces.pop().unwrap_or_default();
        if let Some(prev) = pieces.last_mut() {
            prev.push('`');
            prev.push_str(&last);
        }
    }
    pieces
        .into_iter()
        .enumerate()
        .filter(|(_, t)| !t.is_empty())
        .map(|(i, text)| Part { code: i % 2 == 1, text })
        .collect()
}

/// The parts back as the original text (for re-splitting elsewhere).
fn flatten(p: &[Part]) -> String {
    p.iter().map(|p| if p.code { format!("`{}`", p.text) } else { p.text.clone() }).collect()
}

/// Cuts after every `_`, `.` and `/`: the template puts a line-break opportunity (`<wbr>`)
/// between the pieces, so `lost.json.can_accept_protected_writes` wraps at a joint rather
/// than mid-word.
fn joints(s: &str) -> Vec<String> {
    let mut out = vec![String::new()];
    for c in s.chars() {
        out.last_mut().unwrap().push(c);
        if matches!(c, '_' | '.' | '/') {
            out.push(String::new());
        }
    }
    out.retain(|p| !p.is_empty());
    out
}

/// A value usable in `id="…"` and `href="#…"`: letters, digits, `-` and `_` only.
fn anchor(id: &str) -> String {
    let a: String =
        id.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '_' }).collect();
    format!("check-{a}")
}

fn check_rows(r: &RunReport) -> Vec<CheckRow> {
    r.checks
        .iter()
        .map(|c| {
            let measured = match &c.decl.metric {
                Some(m) => {
                    let v = r.check_metric_value(c).map(|v| display_value(&v)).unwrap_or_else(|| "?".into());
                    let unit = c.decl.unit.as_deref().map(|u| format!(" {u}")).unwrap_or_default();
                    format!("{m} = {v}{unit}")
                }
                None => String::new(),
            };
            let message = if c.message.is_empty() && c.status == CheckStatus::Error {
                "not evaluated".to_string()
            } else {
                c.message.clone()
            };
            CheckRow {
                anchor: anchor(&c.decl.id),
                id: c.decl.id.clone(),
                name: c.decl.name.clone(),
                name_parts: joints(&c.decl.name),
                phase: c.decl.phase.clone(),
                status: c.status.as_str(),
                class: status_class(c.status),
                message: parts(&message),
                expect: c.decl.expect.iter().map(|e| joints(e)).collect(),
                details: c.details.iter().map(|d| parts(d)).collect(),
                measured,
                threshold: c.decl.threshold.clone().unwrap_or_default(),
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

fn metric_row(r: &RunReport, m: &crate::model::MetricResult) -> MetricRow {
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
    let (baseline, delta, regression) = baseline_of(r, &m.name).unwrap_or_default();
    MetricRow {
        name: m.name.clone(),
        phase: m.phase.clone(),
        value: m.text(),
        series,
        baseline,
        delta,
        // An uncomputable metric is shown as loudly as a regression.
        regression: regression || m.error.is_some(),
    }
}

/// Baseline and delta from the `BASELINE-<metric>` check's message
/// (`[REGRESSION ]name: 1900 ms vs baseline 1200 ms (+58.3%, limit +25.0%)`).
fn baseline_of(r: &RunReport, name: &str) -> Option<(String, String, bool)> {
    let id = format!("BASELINE-{name}");
    let c = r.checks.iter().find(|c| c.decl.id == id)?;
    let bad = c.status != CheckStatus::Pass;
    let parsed = c.message.split_once(" vs baseline ").and_then(|(_, rest)| {
        let (base, paren) = rest.split_once(" (")?;
        let paren = paren.strip_suffix(')')?;
        let delta = match paren.split_once(", limit ") {
            Some((d, limit)) => format!("{d} (limit {limit})"),
            None => paren.to_string(),
        };
        Some((base.to_string(), delta))
    });
    Some(match parsed {
        Some((base, delta)) => (base, delta, bad),
        None => ("-".into(), c.message.clone(), bad),
    })
}

fn phase_row(r: &RunReport, p: &crate::model::PhaseResult) -> PhaseRow {
    let note = match (&p.failed_step, &p.skip_reason) {
        (Some(s), _) => format!("failed at step `{s}`"),
        (None, Some(why)) => why.clone(),
        _ => String::new(),
    };
    let mine: Vec<_> = r.checks.iter().filter(|c| c.decl.phase == p.name).collect();
    let n = |s: CheckStatus| mine.iter().filter(|c| c.status == s).count();
    let (pass, fail, error) = (n(CheckStatus::Pass), n(CheckStatus::Fail), n(CheckStatus::Error));
    let mut words = vec![];
    for (k, word) in [(pass, "pass"), (fail, "fail"), (error, "error")] {
        if k > 0 {
            words.push(format!("{k} {word}"));
        }
    }
    PhaseRow {
        name: p.name.clone(),
        status: p.status.clone(),
        elapsed: p.elapsed_ms().map(secs).unwrap_or_default(),
        iterations: p.iterations,
        checks: if words.is_empty() { "-".into() } else { words.join(", ") },
        note: parts(&note),
        checks_class: if fail > 0 {
            "fail"
        } else if error > 0 {
            "error"
        } else {
            ""
        },
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

/// Longest step output shown inline; the whole result is in report.json.
const OUTPUT_MAX: usize = 4000;

/// The step's result without what the other columns already show: (pretty JSON, the
/// collapsed summary, a one-line form when the result is a few plain values).
fn step_output(s: &StepRecord) -> (String, String, String) {
    let Value::Object(m) = &s.result else {
        return match &s.result {
            Value::Null => Default::default(),
            v => (
                truncate(&serde_json::to_string_pretty(v).unwrap_or_default()),
                "result".into(),
                String::new(),
            ),
        };
    };
    let mut m = m.clone();
    for k in [
        "ok",
        "error",
        "started_ms",
        "finished_ms",
        "started_at",
        "attempts",
        "last_miss_ms",
        "first_match_ms",
    ] {
        m.remove(k);
    }
    if m.get("elapsed_ms").and_then(Value::as_u64) == s.elapsed_ms() {
        m.remove("elapsed_ms");
    }
    // An HTTP body that parsed as JSON is shown once, parsed.
    if m.get("json").is_some_and(|j| !j.is_null()) {
        m.remove("text");
    }
    if m.is_empty() {
        return Default::default();
    }
    let plain = m.values().all(|v| !v.is_object() && !v.is_array());
    let shown = |v: &Value| match v {
        Value::String(s) if s.is_empty() || s.contains(' ') => v.to_string(),
        v => display_value(v),
    };
    let inline = m.iter().map(|(k, v)| format!("{k}={}", shown(v))).collect::<Vec<_>>().join(" ");
    if plain && inline.chars().count() <= 48 && !inline.contains('\n') {
        return (String::new(), String::new(), inline);
    }
    let mut summary = String::new();
    for k in m.keys() {
        if summary.chars().count() + k.chars().count() > 36 {
            summary.push_str(", …");
            break;
        }
        if !summary.is_empty() {
            summary.push_str(", ");
        }
        summary.push_str(k);
    }
    (truncate(&serde_json::to_string_pretty(&Value::Object(m)).unwrap_or_default()), summary, String::new())
}

fn truncate(s: &str) -> String {
    if s.chars().count() <= OUTPUT_MAX {
        return s.to_string();
    }
    let cut: String = s.chars().take(OUTPUT_MAX).collect();
    format!(
        "{cut}\n… (truncated at {OUTPUT_MAX} of {} characters; the full result is in report.json)",
        s.chars().count()
    )
}

fn step_row(s: &StepRecord, phase_break: bool) -> StepRow {
    let window = match (s.last_miss_ms, s.first_match_ms) {
        (Some(a), Some(b)) => format!("{} … {}", secs(a), secs(b)),
        (None, Some(b)) => format!("… {}", secs(b)),
        _ => String::new(),
    };
    let (output, output_summary, output_inline) = step_output(s);
    StepRow {
        phase_break,
        step: match s.iteration {
            Some(i) => format!("{} #{i}", s.step),
            None => s.step.clone(),
        },
        phase: s.phase.clone(),
        action: s.action.clone(),
        status: s.status_word(),
        class: step_class(s),
        fault: s.is_fault(),
        started: secs(s.started_ms),
        elapsed: s.elapsed_ms().map(secs).unwrap_or_else(|| "-".into()),
        attempts: s.attempts,
        window,
        error: parts(s.error.as_deref().unwrap_or_default()),
        hint: s.hint.clone().unwrap_or_default(),
        output,
        output_summary,
        output_inline,
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

// ---- shared chart helpers ----

/// Approximate advance of one character of the 11 px monospace chart font.
const CHAR_W: f64 = 6.7;

fn f(v: f64) -> String {
    format!("{:.1}", v)
}

/// A round step (1, 2 or 5 × 10^k) that cuts `span` into about `target` pieces.
fn nice_step(span: f64, target: f64) -> f64 {
    let raw = (span / target).max(f64::MIN_POSITIVE);
    let mag = 10f64.powf(raw.log10().floor());
    let norm = raw / mag;
    let n = if norm <= 1.0 {
        1.0
    } else if norm <= 2.0 {
        2.0
    } else if norm <= 5.0 {
        5.0
    } else {
        10.0
    };
    n * mag
}

/// A run-clock tick label with as many decimals as the tick step needs: `0.5 s`, `2 s`.
fn tick_label(ms: u64, step_ms: u64) -> String {
    let decimals = if step_ms.is_multiple_of(1000) {
        0
    } else if step_ms.is_multiple_of(100) {
        1
    } else if step_ms.is_multiple_of(10) {
        2
    } else {
        3
    };
    format!("{:.*} s", decimals, ms as f64 / 1000.0)
}

/// Ticks on the run clock between `from` and `to` (ms), about `target` of them.
fn clock_ticks(from: u64, to: u64, target: f64) -> Vec<(u64, String)> {
    let step = (nice_step(to.saturating_sub(from).max(1) as f64, target).round() as u64).max(1);
    let first = from.div_ceil(step) * step;
    (0..).map(|i| first + i * step).take_while(|t| *t <= to).map(|t| (t, tick_label(t, step))).collect()
}

/// Puts labels (x = left edge, width) on the first lane where they do not overlap the
/// previous label; more labels than lanes can hold share the last lane.
fn lanes(items: &[(f64, f64)], max_lanes: usize) -> Vec<usize> {
    let mut ends: Vec<f64> = vec![];
    items
        .iter()
        .map(|(x, w)| {
            let lane = ends.iter().position(|e| *e + 6.0 <= *x).unwrap_or_else(|| {
                if ends.len() < max_lanes {
                    ends.push(f64::MIN);
                    ends.len() - 1
                } else {
                    max_lanes - 1
                }
            });
            ends[lane] = x + w;
            lane
        })
        .collect()
}

/// `110000` → `110k`, `2500000` → `2.5M`.
fn compact(v: f64) -> String {
    let trim = |s: String| {
        if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.').to_string()
        } else {
            s
        }
    };
    if v.abs() >= 1e6 {
        format!("{}M", trim(format!("{:.2}", v / 1e6)))
    } else if v.abs() >= 1e3 {
        format!("{}k", trim(format!("{:.1}", v / 1e3)))
    } else {
        trim(format!("{v:.2}"))
    }
}

// ---- timeline: steps, polls, faults, undo and harness errors on one clock ----

const LABEL_W: f64 = 260.0;
const PLOT_W: f64 = 820.0;
/// Room right of the plot for the last step's duration and the last tick label.
const RIGHT_W: f64 = 70.0;
const ROW_H: f64 = 20.0;
/// Top of the phase bands (below the tick labels).
const BANDS_Y: f64 = 16.0;
const LANE_H: f64 = 13.0;

struct Timeline {
    width: String,
    height: String,
    bands_y: String,
    plot_bottom: String,
    band_h: String,
    end: String,
    axis: Vec<Tick>,
    phases: Vec<Band>,
    stripes: Vec<String>,
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
    label_y: String,
    class: &'static str,
}

struct Row {
    y: String,
    text_y: String,
    label: String,
    /// The whole label when `label` had to be shortened to fit its column; else empty.
    full_label: String,
    x: String,
    w: String,
    class: &'static str,
    fault: bool,
    title: String,
    polls: Vec<Mark>,
    dur: String,
    dur_x: String,
    dur_anchor: &'static str,
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

impl Timeline {
    fn new(r: &RunReport) -> Self {
        let end = r.clock_end_ms().max(1);
        let x = |t: u64| LABEL_W + (t.min(end) as f64) * PLOT_W / end as f64;
        let right = LABEL_W + PLOT_W + RIGHT_W;

        // Phase bands, plus setup and teardown (not phases, but where the time went).
        let mut spans: Vec<(String, u64, u64, bool)> = r
            .phases
            .iter()
            .filter_map(|p| Some((p.name.clone(), p.started_ms?, p.finished_ms.unwrap_or(end), false)))
            .collect();
        for pseudo in ["setup", "teardown"] {
            if r.phases.iter().any(|p| p.name == pseudo) {
                continue;
            }
            let mine: Vec<_> = r.steps.iter().filter(|s| s.phase == pseudo).collect();
            if let Some(start) = mine.iter().map(|s| s.started_ms).min() {
                let stop = mine.iter().map(|s| s.finished_ms.unwrap_or(end)).max().unwrap_or(end);
                spans.push((pseudo.to_string(), start, stop, true));
            }
        }
        spans.sort_by_key(|s| s.1);
        let label_lanes = lanes(
            &spans
                .iter()
                .map(|(name, a, ..)| (x(*a), name.chars().count() as f64 * CHAR_W))
                .collect::<Vec<_>>(),
            3,
        );
        let lane_count = label_lanes.iter().max().map(|l| l + 1).unwrap_or(0);
        let mut odd = false;
        let phases = spans
            .iter()
            .zip(&label_lanes)
            .map(|((name, start, stop, pseudo), lane)| {
                let class = if *pseudo {
                    "band pseudo"
                } else {
                    odd = !odd;
                    if odd {
                        "band"
                    } else {
                        "band odd"
                    }
                };
                Band {
                    x: f(x(*start)),
                    w: f((x(*stop) - x(*start)).max(1.0)),
                    label: name.clone(),
                    label_y: f(BANDS_Y + LANE_H * (*lane as f64 + 1.0) - 2.0),
                    class,
                }
            })
            .collect();

        let top = BANDS_Y + LANE_H * lane_count as f64 + 4.0;
        let mut y = top;
        let mut rows = vec![];
        let max_chars = ((LABEL_W - 12.0) / CHAR_W) as usize;
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
            let iteration = s.iteration.map(|i| format!(" #{i}")).unwrap_or_default();
            let label =
                format!("{}{}{iteration} · {}", if s.is_fault() { "⚡ " } else { "" }, s.step, s.action);
            let (label, full_label) = if label.chars().count() > max_chars {
                (format!("{}…", label.chars().take(max_chars - 1).collect::<String>()), label)
            } else {
                (label, String::new())
            };
            let dur = match (s.skipped, s.elapsed_ms()) {
                (true, _) => "skipped".to_string(),
                (false, Some(e)) => secs(e),
                (false, None) => "unfinished".to_string(),
            };
            let w = (x1 - x0).max(2.0);
            let (dur_x, dur_anchor) = if x0 + w + 4.0 + dur.chars().count() as f64 * 6.1 <= right {
                (x0 + w + 4.0, "start")
            } else {
                (x0 - 4.0, "end")
            };
            rows.push(Row {
                y: f(y + 3.0),
                text_y: f(y + 14.0),
                label,
                full_label,
                x: f(x0),
                w: f(w),
                class: step_class(s),
                fault: s.is_fault(),
                title,
                polls,
                dur,
                dur_x: f(dur_x),
                dur_anchor,
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
        // Zebra stripes so a label can be followed across to its bar.
        let n_rows = rows.len() + marks_rows.len();
        let stripes = (0..n_rows).filter(|i| i % 2 == 1).map(|i| f(top + i as f64 * ROW_H)).collect();
        let faults = r
            .steps
            .iter()
            .filter(|s| s.is_fault())
            .map(|s| Tick { x: f(x(s.started_ms)), label: format!("{} at {}", s.step, secs(s.started_ms)) })
            .collect();
        let axis =
            clock_ticks(0, end, 8.0).into_iter().map(|(t, label)| Tick { x: f(x(t)), label }).collect();
        Timeline {
            width: f(right),
            height: f(y + 6.0),
            bands_y: f(BANDS_Y),
            plot_bottom: f(y),
            band_h: f(y - BANDS_Y),
            end: secs(end),
            axis,
            phases,
            stripes,
            rows,
            faults,
            marks_rows,
        }
    }
}

// ---- write rate: a writer pool's acknowledged rows per second, faults and promotions marked ----

struct RateBar {
    x: String,
    y: String,
    w: String,
    h: String,
    title: String,
}

struct RateMark {
    x: String,
    label_y: String,
    line_y: String,
    label: String,
    class: &'static str,
}

struct YTick {
    y: String,
    label: String,
}

struct WriteRate {
    step: String,
    width: String,
    height: String,
    left: String,
    right: String,
    top: String,
    base: String,
    plot_h: String,
    /// The writers' active window (x, width): no bar in it means zero rows acknowledged.
    window_x: String,
    window_w: String,
    axis_y: String,
    caption_y: String,
    ylabel_x: String,
    tick_y2: String,
    unit_y: String,
    bucket: String,
    peak: String,
    bars: Vec<RateBar>,
    marks: Vec<RateMark>,
    xticks: Vec<Tick>,
    yticks: Vec<YTick>,
    stats: String,
    errors: Vec<String>,
    rto: String,
}

impl WriteRate {
    const W: f64 = 1150.0;
    const H: f64 = 236.0;
    const LEFT: f64 = 64.0;
    const RIGHT: f64 = Self::W - 24.0;
    const TOP: f64 = 36.0;
    const BASE: f64 = 196.0;

    /// One chart per `sql.writers` step whose result carries a `series` of [second, rows/s].
    fn all(r: &RunReport) -> Vec<WriteRate> {
        r.steps.iter().filter(|s| s.action == "sql.writers").filter_map(|s| Self::new(r, s)).collect()
    }

    fn new(r: &RunReport, s: &StepRecord) -> Option<WriteRate> {
        let series: Vec<(f64, f64)> = s
            .result
            .get("series")?
            .as_array()?
            .iter()
            .filter_map(|p| Some((p.get(0)?.as_f64()?, p.get(1)?.as_f64()?)))
            .collect();
        if series.is_empty() {
            return None;
        }
        // The bucket width: the smallest gap between samples (0.1 s, 1 s, ...).
        let bucket = series.windows(2).map(|w| w[1].0 - w[0].0).filter(|d| *d > 0.0).fold(f64::MAX, f64::min);
        let bucket = if bucket == f64::MAX { 1.0 } else { bucket.max(0.001) };
        let last = series.iter().map(|p| p.0).fold(0.0, f64::max);
        let start_ms = s.started_ms as f64;
        let series_end = start_ms + (last + bucket) * 1000.0;
        let end_ms = s.finished_ms.map(|f| f as f64).unwrap_or(series_end).max(series_end);
        let span_ms = (end_ms - start_ms).max(1.0);
        let plot_w = Self::RIGHT - Self::LEFT;
        let sx = |ms: f64| Self::LEFT + (ms - start_ms).clamp(0.0, span_ms) / span_ms * plot_w;
        let plot_h = Self::BASE - Self::TOP;
        let peak = series.iter().map(|p| p.1).fold(0.0, f64::max);
        let ystep = nice_step(peak.max(1.0), 4.0);
        let ymax = ((peak / ystep).ceil() * ystep).max(ystep);
        let sy = |v: f64| Self::BASE - v / ymax * plot_h;
        let bw = bucket * 1000.0 / span_ms * plot_w;
        let bars = series
            .iter()
            .map(|(sec, n)| {
                let t = start_ms + sec * 1000.0;
                RateBar {
                    x: f(sx(t)),
                    y: f(sy(*n)),
                    w: f(if bw > 3.0 { bw - 1.0 } else { bw.max(1.0) }),
                    h: f(Self::BASE - sy(*n)),
                    title: format!(
                        "{} → {}: {} rows/s acknowledged",
                        secs(t.round() as u64),
                        secs((t + bucket * 1000.0).round() as u64),
                        display_value(&serde_json::json!(n))
                    ),
                }
            })
            .collect();
        let marked: Vec<(&StepRecord, bool)> = r
            .steps
            .iter()
            .filter(|o| o.started_ms as f64 >= start_ms && (o.started_ms as f64) <= end_ms)
            .filter_map(|o| {
                let promote = o.action == "sql.promote" || o.step.contains("promot");
                (o.is_fault() || promote).then_some((o, promote))
            })
            .collect();
        let word = |promote: bool| if promote { "promote" } else { "kill" };
        let label_lanes = lanes(
            &marked
                .iter()
                .map(|(o, p)| {
                    let w = word(*p).len() as f64 * CHAR_W;
                    (sx(o.started_ms as f64) - w / 2.0, w)
                })
                .collect::<Vec<_>>(),
            2,
        );
        let marks = marked
            .iter()
            .zip(label_lanes)
            .map(|((o, promote), lane)| RateMark {
                x: f(sx(o.started_ms as f64)),
                label_y: f(12.0 + 13.0 * lane as f64),
                line_y: f(15.0 + 13.0 * lane as f64),
                label: format!("{} ({}) at {}", o.step, o.action, secs(o.started_ms)),
                class: word(*promote),
            })
            .collect();
        let xticks = clock_ticks(start_ms as u64, end_ms as u64, 10.0)
            .into_iter()
            .map(|(t, label)| Tick { x: f(sx(t as f64)), label })
            .collect();
        let yticks = (0..)
            .map(|i| i as f64 * ystep)
            .take_while(|v| *v <= ymax + ystep / 1000.0)
            .map(|v| YTick { y: f(sy(v)), label: compact(v) })
            .collect();
        let rto = match r.metrics.iter().find(|m| m.name == "rto_ms") {
            Some(m) if !m.value.is_null() => match m.interval {
                Some([lo, hi]) => format!(
                    "RTO {} ms, measured to the first poll that saw the new primary; the promotion completed in [{}, {}] ms.",
                    display_value(&m.value),
                    compact(lo),
                    compact(hi)
                ),
                None => format!("RTO {} ms", display_value(&m.value)),
            },
            _ => String::new(),
        };
        let res = |k: &str| s.result.get(k).filter(|v| !v.is_null()).map(display_value);
        let stats = [
            ("acknowledged", "acknowledged"),
            ("failed", "failed"),
            ("unknown", "unknown (in doubt)"),
            ("attempted", "attempted"),
            ("rows_per_s", "mean rows/s"),
            ("workers", "workers"),
        ]
        .iter()
        .filter_map(|(k, label)| res(k).map(|v| format!("{label} {v}")))
        .collect::<Vec<_>>()
        .join(" · ");
        let errors = s
            .result
            .get("errors")
            .and_then(Value::as_array)
            .map(|a| a.iter().take(20).map(display_value).collect())
            .unwrap_or_default();
        Some(WriteRate {
            step: s.step.clone(),
            width: f(Self::W),
            height: f(Self::H),
            left: f(Self::LEFT),
            right: f(Self::RIGHT),
            top: f(Self::TOP),
            base: f(Self::BASE),
            plot_h: f(plot_h),
            window_x: f(sx(start_ms)),
            window_w: f(sx(s.finished_ms.map(|f| f as f64).unwrap_or(end_ms)) - sx(start_ms)),
            axis_y: f(Self::BASE + 16.0),
            caption_y: f(Self::BASE + 34.0),
            ylabel_x: f(Self::LEFT - 6.0),
            tick_y2: f(Self::BASE + 4.0),
            unit_y: f(Self::TOP - 8.0),
            bucket: format!("{} s", display_value(&serde_json::json!(bucket))),
            peak: format!("{} rows/s", display_value(&serde_json::json!(peak))),
            bars,
            marks,
            xticks,
            yticks,
            stats,
            errors,
            rto,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_round_and_labels_fit_the_step() {
        let t: Vec<String> = clock_ticks(0, 1510, 8.0).into_iter().map(|t| t.1).collect();
        assert_eq!(t, ["0.0 s", "0.2 s", "0.4 s", "0.6 s", "0.8 s", "1.0 s", "1.2 s", "1.4 s"]);
        let t: Vec<String> = clock_ticks(0, 5106, 8.0).into_iter().map(|t| t.1).collect();
        assert_eq!(t, ["0 s", "1 s", "2 s", "3 s", "4 s", "5 s"]);
        let t: Vec<u64> = clock_ticks(2412, 4710, 10.0).into_iter().map(|t| t.0).collect();
        assert_eq!(t.first(), Some(&2500));
        assert_eq!(t.last(), Some(&4500));
    }

    #[test]
    fn labels_that_would_overlap_go_to_another_lane() {
        assert_eq!(lanes(&[(0.0, 50.0), (20.0, 30.0), (100.0, 10.0), (101.0, 10.0)], 3), [0, 1, 0, 1]);
        assert_eq!(lanes(&[(0.0, 50.0), (1.0, 50.0), (2.0, 50.0)], 2), [0, 1, 1]);
    }

    #[test]
    fn backticks_become_code_parts() {
        let p = parts("expected `a >= 4` got `3`");
        let v: Vec<(bool, &str)> = p.iter().map(|p| (p.code, p.text.as_str())).collect();
        assert_eq!(v, [(false, "expected "), (true, "a >= 4"), (false, " got "), (true, "3")]);
        let p = parts("odd ` backtick");
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].text, "odd ` backtick");
        assert_eq!(flatten(&parts("x `y` z")), "x `y` z");
    }

    #[test]
    fn compact_numbers() {
        assert_eq!(compact(110000.0), "110k");
        assert_eq!(compact(2_500_000.0), "2.5M");
        assert_eq!(compact(25000.0), "25k");
        assert_eq!(compact(0.0), "0");
        assert_eq!(compact(12.5), "12.5");
    }
}
