//! The page view: verdict banner, checks, metrics, phases, steps, cleanup, evidence.
use super::chart::WriteRate;
use super::steps::{step_row, StepRow};
use super::timeline::Timeline;
use crate::model::{display_value, secs, RunReport};
use askama::Template;
use serde_json::Value;
use testrunner_events::{CheckStatus, Verdict};

#[derive(Template)]
#[template(path = "report.html")]
pub(super) struct Page<'a> {
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
    /// The availability charts, rendered by their own template (html/availability.rs).
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
pub(super) struct Part {
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
    /// Where the check is written (`file:line:col`), for one that did not pass.
    at: String,
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
    pub(super) fn new(r: &'a RunReport, yaml: &'a str) -> Self {
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
            availability: super::availability::render(r),
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
pub(super) fn parts(s: &str) -> Vec<Part> {
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
    let mut out = vec![];
    let mut cur = String::new();
    for c in s.chars() {
        cur.push(c);
        if matches!(c, '_' | '.' | '/') {
            out.push(std::mem::take(&mut cur));
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
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
                at: c.at.clone().filter(|_| c.status != CheckStatus::Pass).unwrap_or_default(),
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
