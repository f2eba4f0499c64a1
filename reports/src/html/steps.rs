//! The steps table: one row per step run, its output shown compactly.
use super::page::{parts, Part};
use crate::model::{display_value, secs, StepRecord};
use serde_json::Value;

pub(super) struct StepRow {
    /// The first step of a new phase: the table starts a group row for it.
    pub(super) phase_break: bool,
    pub(super) step: String,
    pub(super) phase: String,
    pub(super) action: String,
    pub(super) status: &'static str,
    pub(super) class: &'static str,
    pub(super) fault: bool,
    pub(super) started: String,
    pub(super) elapsed: String,
    pub(super) attempts: u32,
    pub(super) window: String,
    pub(super) error: Vec<Part>,
    pub(super) hint: String,
    /// The step's result as pretty JSON, bookkeeping fields left out; empty when nothing is left.
    pub(super) output: String,
    /// What the collapsed output says: its field names.
    pub(super) output_summary: String,
    /// A short result of plain values, shown as is instead (`port=35731`).
    pub(super) output_inline: String,
}

pub(super) fn step_class(s: &StepRecord) -> &'static str {
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
    let result = s.result.value();
    let Value::Object(m) = &result else {
        return match &result {
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

pub(super) fn step_row(s: &StepRecord, phase_break: bool) -> StepRow {
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
