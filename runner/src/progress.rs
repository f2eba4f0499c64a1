//! Live progress on stderr: one line per step, check and cleanup action; polls are shown
//! as they go so a long wait is never silent. Colours only on a terminal.
use std::collections::HashMap;
use std::io::Write;
use std::sync::Mutex;
use testrunner_reports::{CheckStatus, Event, Subscriber};

pub struct Progress {
    color: bool,
    quiet: bool,
    /// Per polled step: when we last printed a "still waiting" line (run-relative ms).
    last_poll_line: Mutex<HashMap<String, u64>>,
    /// Check names by id, from the run's declaration, so check lines read like the report.
    check_names: Mutex<HashMap<String, String>>,
}

const POLL_EVERY_MS: u64 = 2000;

impl Progress {
    pub fn new(color: bool, quiet: bool) -> Self {
        Progress { color, quiet, last_poll_line: Mutex::default(), check_names: Mutex::default() }
    }

    fn paint(&self, code: &str, s: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{s}\x1b[0m")
        } else {
            s.to_string()
        }
    }

    /// The line for `event`, its untrusted text (titles, errors, stderr) with control
    /// characters escaped, so only our own colour codes reach the terminal.
    pub fn line(&self, event: &Event) -> Option<String> {
        if self.quiet || matches!(event, Event::StepStarted { background: false, .. }) {
            return None;
        }
        // A step's result is never shown: it stays out of the escaping round trip (a big
        // HTTP body would be converted twice per step).
        let slim;
        let event = match event {
            Event::StepFinished { result, .. } if !result.is_null() => {
                slim = event.without_result();
                &slim
            }
            _ => event,
        };
        let mut v = serde_json::to_value(event).ok()?;
        testrunner_reports::text::escape_controls_json(&mut v);
        match serde_json::from_value::<Event>(v) {
            Ok(clean) => self.render(&clean),
            Err(_) => self.render(event).map(|l| testrunner_reports::text::escape_controls(&l).into_owned()),
        }
    }

    fn render(&self, event: &Event) -> Option<String> {
        Some(match event {
            Event::RunStarted { scenario, title, run_id, checks, .. } => {
                let mut names = self.check_names.lock().unwrap();
                names.extend(checks.iter().map(|c| (c.id.clone(), c.name.clone())));
                format!("{} {title} ({scenario}) · run {run_id}", self.paint("1", "testrunner"))
            }
            Event::PhaseStarted { phase, iteration, .. } => match iteration {
                Some(i) => format!("{} {phase} [iteration {}]", self.paint("1;34", "▶"), i + 1),
                None => format!("{} {phase}", self.paint("1;34", "▶")),
            },
            Event::StepStarted { step, action, background: true, .. } => {
                format!("  {} {step}  {action}  (background)", self.paint("36", "↻"))
            }
            Event::StepStarted { .. } => return None,
            Event::Poll { step, attempt, started_ms, finished_ms, matched, error } => {
                let mut last = self.last_poll_line.lock().unwrap();
                let first = *last.entry(step.clone()).or_insert(*started_ms);
                let prev = last.get(&format!("{step}#printed")).copied().unwrap_or(first);
                if *matched || finished_ms.saturating_sub(prev) < POLL_EVERY_MS {
                    return None;
                }
                last.insert(format!("{step}#printed"), *finished_ms);
                let why = error.as_deref().map(|e| format!(" — {e}")).unwrap_or_default();
                format!(
                    "    {} {step}: waiting, attempt {attempt}, {:.1}s{why}",
                    self.paint("2", "…"),
                    finished_ms.saturating_sub(first) as f64 / 1000.0
                )
            }
            Event::StepFinished {
                step,
                action,
                ok,
                error,
                skipped,
                started_ms,
                finished_ms,
                attempts,
                allowed_failure,
                hint,
                ..
            } => {
                let took = fmt_ms(finished_ms.saturating_sub(*started_ms));
                let tries = if *attempts > 1 { format!(" ({attempts} attempts)") } else { String::new() };
                if *skipped {
                    format!("  {} {step}  {action}  skipped (when: false)", self.paint("2", "-"))
                } else if *ok {
                    format!("  {} {step}  {action}  {took}{tries}", self.paint("32", "✓"))
                } else {
                    let mark = if *allowed_failure { self.paint("33", "!") } else { self.paint("31", "✗") };
                    let note = if *allowed_failure { " (allowed failure)" } else { "" };
                    let hint = hint.as_deref().map(|h| format!("\n      hint: {h}")).unwrap_or_default();
                    format!(
                        "  {mark} {step}  {action}  {took}{tries}{note}\n      {}{hint}",
                        error.as_deref().unwrap_or("")
                    )
                }
            }
            Event::Log { message, step, .. } => {
                format!(
                    "    {} {}{message}",
                    self.paint("2", "·"),
                    step.as_ref().map(|s| format!("{s}: ")).unwrap_or_default()
                )
            }
            Event::PhaseSkipped { phase, reason } => format!("{} {phase}: {reason}", self.paint("33", "⤼")),
            Event::Check { id, status, message, .. } => {
                let (code, word) = match status {
                    CheckStatus::Pass => ("32", "PASS"),
                    CheckStatus::Fail => ("31", "FAIL"),
                    CheckStatus::Error => ("33", "ERROR"),
                };
                let msg = if *status == CheckStatus::Pass { String::new() } else { format!("  {message}") };
                let name = self.check_names.lock().unwrap().get(id).cloned().unwrap_or_default();
                format!("  {} {id} {name}{msg}", self.paint(code, word))
            }
            Event::Undo { description, ok, error, .. } => {
                if *ok {
                    format!("  {} undo: {description}", self.paint("36", "↺"))
                } else {
                    format!(
                        "  {} undo FAILED: {description}: {}",
                        self.paint("31", "✗"),
                        error.as_deref().unwrap_or("")
                    )
                }
            }
            Event::HarnessError { stage, message, .. } => {
                format!("{} {stage}: {message}", self.paint("1;31", "harness error:"))
            }
            Event::Interrupted { signal, .. } => {
                format!("{} by {signal}: undoing and tearing down", self.paint("1;33", "interrupted"))
            }
            _ => return None,
        })
    }
}

/// The terminal as a journal subscriber: each event's line, if it has one, on stderr.
impl Subscriber for Progress {
    fn event(&mut self, event: &Event) {
        if let Some(line) = self.line(event) {
            // A closed stderr (`| tee` died of the same ^C) must not stop the run.
            let _ = writeln!(std::io::stderr().lock(), "{line}");
        }
    }
}

pub fn fmt_ms(ms: u64) -> String {
    if ms < 1000 {
        format!("{ms}ms")
    } else {
        format!("{:.1}s", ms as f64 / 1000.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn untrusted_control_characters_are_escaped_but_colours_stay() {
        let p = Progress::new(true, false);
        let ev = Event::HarnessError {
            stage: "run\u{1b}[2J".into(),
            message: "x\u{1b}]0;t\u{7}\ry".into(),
            t_ms: 0,
        };
        let line = p.line(&ev).unwrap();
        assert_eq!(line, "\u{1b}[1;31mharness error:\u{1b}[0m run\\x1b[2J: x\\x1b]0;t\\x07\\ry");
    }

    #[test]
    fn a_finished_step_is_shown_without_its_result_and_still_escaped() {
        let p = Progress::new(false, false);
        let ev = Event::StepFinished {
            step: "s".into(),
            phase: "p".into(),
            action: "http.get".into(),
            ok: false,
            error: Some("bad\u{1b}[2J".into()),
            hint: None,
            allowed_failure: false,
            skipped: false,
            started_ms: 0,
            finished_ms: 5,
            attempts: 1,
            last_miss_ms: None,
            first_match_ms: None,
            result: serde_json::json!({"text": "x".repeat(100_000)}),
        };
        let line = p.line(&ev).unwrap();
        assert!(line.ends_with("bad\\x1b[2J"), "{line}");
        assert!(!line.contains("xxx"));
    }
}
