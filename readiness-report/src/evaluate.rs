//! Evaluating a spec over the collected slices: the expression scope, the evidence
//! window, derived values, section lines, the check matrix, levels and the verdict.
//! Evaluation never fails as a whole: an expression that cannot be evaluated (a missing
//! slice, a missing metric) makes its check FAIL with the error, and its section text `n/a`.
use crate::collect::{self, SliceResult, SliceStatus};
use crate::spec::Spec;
use crate::Readiness;
use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;
use serde_json::{json, Map, Value};
use std::path::Path;
use testrunner_scenario::expr::Part;
use testrunner_scenario::{Scope, Template};

/// The evidence-window coherence rule (VAL26 §2): all *found* runs, from the earliest
/// start to the latest finish, within the window. A missing slice is shown MISSING in the
/// coverage table (and fails its own checks) but does not by itself make the window
/// incoherent; with no run found at all there is no window, and it is not coherent.
#[derive(Debug, Clone, Serialize)]
pub struct Window {
    pub ok: bool,
    pub span_hours: f64,
    pub limit_hours: f64,
    /// The window as the spec wrote it (`6h`).
    pub limit: String,
    pub earliest: Option<String>,
    pub latest: Option<String>,
    /// How many runs were found (their times make the span).
    pub runs: usize,
    /// Slices with no usable run (informational: not part of the rule).
    pub missing: Vec<String>,
    /// Why the window is not OK, when it is not.
    pub note: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct SectionResult {
    pub title: String,
    pub lines: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct CheckOutcome {
    pub id: String,
    pub when: String,
    pub description: String,
    pub pass: bool,
    /// The matrix line.
    pub summary: String,
    /// The indented line under it (the evaluation error, when there was one).
    pub detail: String,
    pub error: Option<String>,
}

impl CheckOutcome {
    pub fn status(&self) -> &'static str {
        if self.pass {
            "PASS"
        } else {
            "FAIL"
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct LevelOutcome {
    pub name: String,
    pub reached: bool,
    pub criteria: Vec<String>,
    pub unmet: Vec<String>,
    /// Required readiness checks that failed.
    pub failed_checks: Vec<String>,
    /// Not reached because an earlier level was not.
    pub blocked_by_previous: bool,
    /// What reaching the level means, from the spec.
    pub meaning: Option<String>,
}

pub fn evaluate(spec: &Spec, runs: &Path, generated: DateTime<Utc>) -> Readiness {
    let coverage: Vec<SliceResult> =
        spec.slices.iter().map(|s| collect::collect(runs, &s.id, &s.name, &s.scenario)).collect();
    let mut scope = Scope::new();
    for (s, c) in spec.slices.iter().zip(&coverage) {
        scope.set(s.var.clone(), slice_value(c));
    }
    let window = window(spec, &coverage);
    scope.set("window", serde_json::to_value(&window).unwrap_or(Value::Null));
    scope.set("failed", json!([]));

    let mut derived = Map::new();
    scope.set("derived", Value::Object(derived.clone()));
    for (name, e) in &spec.derived {
        // A value that cannot be computed is null: shown as n/a, compared as false.
        derived.insert(name.clone(), e.eval(&scope).unwrap_or(Value::Null));
        scope.set("derived", Value::Object(derived.clone()));
    }

    let sections = spec
        .sections
        .iter()
        .map(|s| SectionResult {
            title: s.title.clone(),
            lines: s.lines.iter().map(|t| render(t, &scope)).collect(),
        })
        .collect();

    let mut failed: Vec<String> = vec![];
    let mut checks = vec![];
    for c in &spec.checks {
        scope.set("failed", json!(failed));
        let (pass, error) = match c.expect.eval_bool(&scope) {
            Ok(b) => (b, None),
            Err(e) => (false, Some(e)),
        };
        let summary = c.summary.as_ref().map(|t| render(t, &scope)).unwrap_or_else(|| c.description.clone());
        let mut detail = c.detail.as_ref().map(|t| render(t, &scope)).unwrap_or_default();
        if let Some(e) = &error {
            detail = join_nonempty(&detail, &format!("cannot evaluate: {e}"));
        } else if !pass && c.detail.is_none() {
            detail = c.expect.explain(&scope).join("; ");
        }
        if !pass {
            failed.push(c.id.clone());
        }
        checks.push(CheckOutcome {
            id: c.id.clone(),
            when: c.when.clone(),
            description: c.description.clone(),
            pass,
            summary,
            detail,
            error,
        });
    }

    let mut levels: Vec<LevelOutcome> = vec![];
    for l in &spec.levels {
        let previous = levels.last().is_none_or(|p| p.reached);
        let failed_checks: Vec<String> = l
            .requires
            .iter()
            .filter(|r| !checks.iter().any(|c: &CheckOutcome| c.id == **r && c.pass))
            .cloned()
            .collect();
        levels.push(LevelOutcome {
            name: l.name.clone(),
            reached: previous && l.unmet.is_empty() && failed_checks.is_empty(),
            criteria: l.criteria.clone(),
            unmet: l.unmet.clone(),
            failed_checks,
            blocked_by_previous: !previous,
            meaning: l.meaning.clone(),
        });
    }
    let verdict =
        levels.iter().rev().find(|l| l.reached).map(|l| l.name.clone()).unwrap_or_else(|| "NOT READY".into());
    let pass = checks.iter().filter(|c| c.pass).count();
    scope.set("failed", json!(failed));
    let notes = spec.notes.iter().map(|t| render(t, &scope)).collect();
    Readiness {
        schema: crate::SCHEMA,
        id: spec.id.clone(),
        title: spec.title.clone(),
        spec_file: spec.file.clone(),
        generated: generated.to_rfc3339_opts(SecondsFormat::Secs, true),
        runs_dir: runs.to_string_lossy().into_owned(),
        topology: spec.topology.clone(),
        note: spec.note.clone(),
        coverage,
        derived,
        sections,
        pass,
        fail: checks.len() - pass,
        checks,
        window,
        levels,
        risks: spec.risks.clone(),
        notes,
        ready: false,
        verdict,
    }
    .finish()
}

fn join_nonempty(a: &str, b: &str) -> String {
    if a.is_empty() {
        b.to_string()
    } else {
        format!("{a} — {b}")
    }
}

/// What a slice looks like to expressions. A missing slice has the same shape (empty maps,
/// zero counts), so `val13.found && …` reads naturally and field access does not error.
fn slice_value(c: &SliceResult) -> Value {
    let mut checks = Map::new();
    let mut values = Map::new();
    let mut metrics = Map::new();
    if let Some(r) = &c.report {
        for ch in &r.checks {
            checks.insert(ch.decl.id.clone(), json!(ch.status.as_str()));
            values.insert(
                ch.decl.id.clone(),
                r.check_metric_value(ch).or(ch.value.clone()).unwrap_or(Value::Null),
            );
        }
        for m in &r.metrics {
            metrics.insert(m.name.clone(), m.series.clone().unwrap_or_else(|| m.value.clone()));
        }
    }
    let text = |o: &Option<String>| o.clone().unwrap_or_default();
    json!({
        "found": c.found(),
        "status": c.status.as_str(),
        "detail": c.detail,
        "summary": c.summary(),
        "run_id": text(&c.run_id),
        "run_dir": text(&c.run_dir),
        "started_at": text(&c.started_at),
        "finished_at": text(&c.finished_at),
        "verdict": c.verdict.clone().unwrap_or_else(|| "MISSING".into()),
        "passed": c.passed,
        "failed": c.failed,
        "total": c.total,
        "failed_checks": c.failed_checks,
        "checks": checks,
        "values": values,
        "metrics": metrics,
    })
}

fn window(spec: &Spec, coverage: &[SliceResult]) -> Window {
    let limit_hours = spec.window.as_secs_f64() / 3600.0;
    let mut w = Window {
        ok: false,
        span_hours: 0.0,
        limit_hours,
        limit: spec.window_text.clone(),
        earliest: None,
        latest: None,
        runs: 0,
        missing: vec![],
        note: String::new(),
    };
    let mut notes = vec![];
    let (mut first, mut last): (Option<DateTime<Utc>>, Option<DateTime<Utc>>) = (None, None);
    for c in coverage.iter().filter(|c| c.found()) {
        w.runs += 1;
        let parse = |s: &str| DateTime::parse_from_rfc3339(s).ok().map(|t| t.with_timezone(&Utc));
        let start = c.started_at.as_deref().and_then(parse);
        // An unfinished run (rebuilt from a cut journal) ends, for this rule, where it started.
        let end = c.finished_at.as_deref().and_then(parse).or(start);
        match (start, end) {
            (Some(a), Some(b)) => {
                first = Some(first.map_or(a, |f| f.min(a)));
                last = Some(last.map_or(b, |l| l.max(b)));
            }
            _ => notes.push(format!("{}: no readable timestamp", c.id)),
        }
    }
    if let (Some(a), Some(b)) = (first, last) {
        w.span_hours = ((b - a).num_milliseconds() as f64 / 3.6e6 * 100.0).round() / 100.0;
        w.earliest = Some(a.to_rfc3339_opts(SecondsFormat::Secs, true));
        w.latest = Some(b.to_rfc3339_opts(SecondsFormat::Secs, true));
    }
    // Informational only: a missing slice fails its own checks, not the window.
    w.missing = coverage.iter().filter(|c| c.status == SliceStatus::Missing).map(|c| c.id.clone()).collect();
    let within = match (first, last) {
        (Some(a), Some(b)) => (b - a).num_milliseconds() as f64 <= spec.window.as_millis() as f64,
        _ => false,
    };
    if w.runs == 0 {
        notes.push("no runs found".to_string());
    } else if !within && first.is_some() {
        notes.push(format!("span {} h exceeds {}", w.span_hours, spec.window_text));
    }
    w.ok = within && notes.is_empty();
    w.note = notes.join("; ");
    w
}

/// A template as text: each `${…}` as a person reads it, `n/a` when it cannot be evaluated.
pub fn render(t: &Template, scope: &Scope) -> String {
    t.parts
        .iter()
        .map(|p| match p {
            Part::Lit(s) => s.clone(),
            Part::Expr(e) => e.eval(scope).map(|v| display(&v)).unwrap_or_else(|_| "n/a".into()),
        })
        .collect()
}

/// Whole numbers without `.0`, lists joined with `, `, null as `n/a`.
pub fn display(v: &Value) -> String {
    match v {
        Value::Null => "n/a".into(),
        Value::String(s) => s.clone(),
        Value::Number(n) => match n.as_f64() {
            Some(f) if n.is_f64() && f.fract() == 0.0 && f.abs() < 1e15 => format!("{}", f as i64),
            Some(f) if n.is_f64() => format!("{}", (f * 100.0).round() / 100.0),
            _ => n.to_string(),
        },
        Value::Array(items) => items.iter().map(display).collect::<Vec<_>>().join(", "),
        other => other.to_string(),
    }
}
