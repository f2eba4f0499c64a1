//! The plain-text final report (`summary.txt`, and what the terminal shows at the end), in
//! the style of the VAL17 "Final Report Template". No colours: the CLI adds them.
use crate::model::{display_value, secs, CheckResult, MetricResult, RunReport};
use serde_json::Value;
use std::fmt::Write as _;
use testrunner_events::{CheckStatus, Verdict};

pub fn render(r: &RunReport) -> String {
    let mut t = String::new();
    header(&mut t, r);
    phases(&mut t, r);
    timing(&mut t, r);
    checks(&mut t, r);
    step_errors(&mut t, r);
    harness(&mut t, r);
    cleanup(&mut t, r);
    footer(&mut t, r);
    // Titles, errors and stderr are untrusted: show their control characters, never run them.
    crate::text::escape_controls(&t).into_owned()
}

fn header(t: &mut String, r: &RunReport) {
    let title = if r.title.is_empty() { r.scenario.as_str() } else { r.title.as_str() };
    let _ = writeln!(t, "# {title}\n");
    let finished = r.finished_at.as_deref().unwrap_or("- (the run did not finish)");
    let mut row = |k: &str, v: &str| {
        let _ = writeln!(t, "{:<15}{v}", format!("{k}:"));
    };
    row("Generated", finished);
    row("Started", &r.started_at);
    row("Run", &r.run_id);
    row("Scenario", &format!("{} ({})", r.scenario, r.file));
    row("Fingerprint", &r.fingerprint);
    row("Host", &r.host);
    row("Tool", &r.tool_version);
    if let Some(rev) = &r.git_revision {
        row("Git revision", rev);
    }
    row("Duration", &secs(r.duration_ms));
    if let Some(sig) = &r.interrupted {
        row("Interrupted", &format!("by {sig}: cleanup ran, later steps and checks did not"));
    }
    if r.verdict() == Verdict::Incomplete {
        row("Incomplete", "the journal ends before the run finished (runner killed?)");
    }
}

fn phases(t: &mut String, r: &RunReport) {
    if r.phases.is_empty() {
        return;
    }
    t.push_str("\n## Phases\n");
    let w = r.phases.iter().map(|p| p.name.chars().count()).max().unwrap_or(0);
    let sw = r.phases.iter().map(|p| p.status.len()).max().unwrap_or(0);
    for p in &r.phases {
        let mut line = format!("{:<w$}  {:<sw$}", p.name, p.status);
        if let Some(ms) = p.elapsed_ms() {
            let _ = write!(line, "  {}", secs(ms));
        }
        if p.iterations > 1 {
            let _ = write!(line, "  x{}", p.iterations);
        }
        if let Some(s) = &p.failed_step {
            let _ = write!(line, "  (failed at step `{s}`)");
        }
        if let Some(why) = &p.skip_reason {
            let _ = write!(line, "  ({why})");
        }
        let _ = writeln!(t, "{}", line.trim_end());
    }
    let unfinished: Vec<_> = r.steps.iter().filter(|s| s.finished_ms.is_none()).collect();
    for s in unfinished {
        let _ = writeln!(
            t,
            "  step `{}` ({}) started at {} and never finished",
            s.step,
            s.action,
            secs(s.started_ms)
        );
    }
}

fn timing(t: &mut String, r: &RunReport) {
    if r.metrics.is_empty() {
        return;
    }
    t.push_str("\n## Timing\n");
    let w = r.metrics.iter().map(|m| m.name.chars().count() + 1).max().unwrap_or(0);
    for m in &r.metrics {
        let mut line = format!("{:<w$} {}", format!("{}:", m.name), metric_value(m));
        let thresholds: Vec<&str> = r
            .checks
            .iter()
            .filter(|c| c.decl.metric.as_deref() == Some(m.name.as_str()))
            .filter_map(|c| c.decl.threshold.as_deref())
            .collect();
        if let Some(th) = thresholds.first() {
            let _ = write!(line, "  (threshold={th})");
        }
        let _ = writeln!(t, "{line}");
    }
}

fn metric_value(m: &MetricResult) -> String {
    let unit = m.unit.as_deref().map(|u| format!(" {u}")).unwrap_or_default();
    if m.error.is_some() {
        return m.text();
    }
    match &m.series {
        Some(Value::Object(s)) => {
            let get = |k: &str| s.get(k).map(display_value).unwrap_or_else(|| "-".into());
            format!(
                "median {}{unit}  (n={} min={} p95={} max={})",
                get("median"),
                get("count"),
                get("min"),
                get("p95"),
                get("max")
            )
        }
        _ => m.text(),
    }
}

fn checks(t: &mut String, r: &RunReport) {
    t.push_str("\n## Checks\n");
    if r.checks.is_empty() {
        t.push_str("(no checks declared)\n");
        return;
    }
    let label = |c: &CheckResult| format!("{} {}:", c.decl.id, c.decl.name);
    let w = r.checks.iter().map(|c| label(c).chars().count()).max().unwrap_or(0);
    for c in &r.checks {
        let l = label(c);
        let pad = w - l.chars().count();
        let mut line = format!("{l}{} {}", " ".repeat(pad), c.status.as_str());
        if let Some(extra) = check_numbers(r, c) {
            let _ = write!(line, "  ({extra})");
        }
        let _ = writeln!(t, "{line}");
        if c.status != CheckStatus::Pass {
            let msg = if c.message.is_empty() { "not evaluated" } else { c.message.as_str() };
            let _ = writeln!(t, "    {msg}");
            if let Some(at) = &c.at {
                let _ = writeln!(t, "    at {at}");
            }
            for d in &c.details {
                let _ = writeln!(t, "      - {d}");
            }
        }
    }
}

/// `loss_ms=812, threshold=30000` when the check names a metric or a threshold.
fn check_numbers(r: &RunReport, c: &CheckResult) -> Option<String> {
    let mut parts = vec![];
    if let Some(m) = &c.decl.metric {
        let v = r.check_metric_value(c).map(|v| display_value(&v)).unwrap_or_else(|| "?".into());
        let interval =
            r.metric(m).and_then(|m| m.interval).filter(|_| c.value.as_ref().is_none_or(|v| v.is_number()));
        match interval {
            Some([lo, hi]) => parts.push(format!("{m}={v} in [{}, {}]", num(lo), num(hi))),
            None => parts.push(format!("{m}={v}")),
        }
    }
    if let Some(th) = &c.decl.threshold {
        parts.push(format!("threshold={th}"));
    }
    (!parts.is_empty()).then(|| parts.join(", "))
}

fn num(x: f64) -> String {
    display_value(&serde_json::json!(x))
}

/// Failed steps no check reported: errors of their own, so a run failed only by a step
/// is never counted as all green.
fn step_errors(t: &mut String, r: &RunReport) {
    if r.step_errors.is_empty() {
        return;
    }
    t.push_str("\n## Failed steps (not covered by a check)\n");
    for s in &r.step_errors {
        let it = s.iteration.map(|i| format!(" iteration {i}")).unwrap_or_default();
        let at = s.at.as_deref().map(|a| format!(" (at {a})")).unwrap_or_default();
        let _ = writeln!(t, "ERROR {} step {}{it}: {}{at}", s.phase, s.step, s.error);
    }
}

fn harness(t: &mut String, r: &RunReport) {
    if r.harness_errors.is_empty() {
        return;
    }
    t.push_str("\n## Harness errors\n");
    for h in &r.harness_errors {
        let _ = writeln!(t, "ERROR [{}] at {}: {}", h.stage, secs(h.t_ms), h.message);
    }
}

fn cleanup(t: &mut String, r: &RunReport) {
    if r.undo.is_empty() && r.pending_undo.is_empty() {
        return;
    }
    t.push_str("\n## Cleanup (undo)\n");
    if let Some(sig) = &r.cleanup_abandoned {
        let _ = writeln!(t, "ABANDONED     cleanup, by a second {sig}");
    }
    for u in &r.undo {
        if u.ok {
            let _ = writeln!(t, "restored      {}  [{}]", u.description, u.key);
        } else {
            let err = u.error.as_deref().unwrap_or("failed");
            let _ = writeln!(t, "NOT RESTORED  {}  [{}]: {err}", u.description, u.key);
        }
    }
    let n = r.unrestored().count();
    if n > 0 {
        let _ = writeln!(t, "!!! {n} change(s) NOT restored: the system is NOT as it was found");
    }
    // Recorded write-ahead and never undone: `testrunner cleanup <run-dir>` replays them.
    for p in &r.pending_undo {
        let _ = writeln!(t, "PENDING       {}  [{}]", p.description, p.key);
    }
    if !r.pending_undo.is_empty() {
        let _ = writeln!(
            t,
            "!!! {} change(s) pending: run `testrunner cleanup <run-dir>` to undo them",
            r.pending_undo.len()
        );
    }
}

fn footer(t: &mut String, r: &RunReport) {
    let n = r.totals();
    let _ = writeln!(t, "\n## Summary\npass={} fail={} error={} total={}", n.pass, n.fail, n.error, n.total);
    let _ = writeln!(t, "Verdict: {}", r.verdict().as_str());
}
