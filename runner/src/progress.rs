//! Live progress on stderr: one line per step, check and cleanup action; polls are shown
//! as they go so a long wait is never silent. A failed step or a check that could not be
//! judged is rendered as a diagnostic, with its source line. Colours only on a terminal.
use std::collections::HashMap;
use std::io::Write;
use std::sync::{Mutex, PoisonError};
use testrunner_reports::{CheckStatus, Event, Subscriber};
use testrunner_scenario::{Diagnostic, Scenario, Sources, Span};

pub struct Progress {
    color: bool,
    quiet: bool,
    /// The scenario's text, and its steps' and checks' spans by `file:line:col` (the `at`
    /// of their events), for rendering a failure with its source line.
    sources: Sources,
    places: HashMap<String, Span>,
    /// Per polled step: when we last printed a "still waiting" line (run-relative ms). This
    /// state and the check names only shape lines: after a panic elsewhere held a lock,
    /// they are used as they are.
    last_poll_line: Mutex<HashMap<String, u64>>,
    /// Check names by id, from the run's declaration, so check lines read like the report.
    check_names: Mutex<HashMap<String, String>>,
}

const POLL_EVERY_MS: u64 = 2000;

impl Progress {
    pub fn new(color: bool, quiet: bool) -> Self {
        Progress {
            color,
            quiet,
            sources: Sources::default(),
            places: HashMap::new(),
            last_poll_line: Mutex::default(),
            check_names: Mutex::default(),
        }
    }

    /// Failures are shown with the scenario's source lines.
    pub fn with_scenario(mut self, sc: &Scenario) -> Self {
        self.sources = sc.sources.clone();
        let steps = sc.setup.iter().chain(sc.phases.iter().flat_map(|p| &p.steps)).chain(&sc.teardown);
        let checks = sc.phases.iter().flat_map(|p| &p.checks).chain(&sc.final_checks);
        let spans = steps
            .map(|s| &s.span)
            .chain(checks.map(|c| &c.span))
            .chain(sc.hard_fail.iter().map(|h| &h.expr.span));
        self.places = spans.filter(|s| s.is_known()).map(|s| (s.to_string(), s.clone())).collect();
        self
    }

    /// A step's span marks where its map starts: the caret underlines the rest of that line.
    fn whole_line(&self, span: &Span) -> Span {
        let rest = self.sources.line(span).map(|l| l.trim_end().chars().count() + 1).unwrap_or(0);
        let len = rest.saturating_sub(span.col as usize) as u32;
        Span { len: span.len.max(len), ..span.clone() }
    }

    /// `d` at the place `at` names, rendered and indented under its progress line.
    fn diagnostic(&self, d: Diagnostic, at: Option<&str>) -> String {
        let d = match at {
            Some(at) => match self.places.get(at) {
                Some(span) => Diagnostic { span: self.whole_line(span), ..d },
                // Not one of this scenario's places: say it in words.
                None => Diagnostic { title: format!("{} (at {at})", d.title), ..d },
            },
            None => d,
        };
        let text = d.render(&self.sources, self.color);
        text.lines().map(|l| format!("\n    {l}")).collect()
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
                let mut names = self.check_names.lock().unwrap_or_else(PoisonError::into_inner);
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
                let mut last = self.last_poll_line.lock().unwrap_or_else(PoisonError::into_inner);
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
                at,
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
                    let title = format!("step `{step}` failed: {}", error.as_deref().unwrap_or(""));
                    let d = if *allowed_failure {
                        Diagnostic::warning(title, Span::none())
                    } else {
                        Diagnostic::error(title, Span::none())
                    };
                    let d = self.diagnostic(d.hint_opt(hint.clone()), at.as_deref());
                    format!("  {mark} {step}  {action}  {took}{tries}{note}{d}")
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
            Event::Check { id, status, message, at, .. } => {
                let (code, word) = match status {
                    CheckStatus::Pass => ("32", "PASS"),
                    CheckStatus::Fail => ("31", "FAIL"),
                    CheckStatus::Error => ("33", "ERROR"),
                };
                let name = self
                    .check_names
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .get(id)
                    .cloned()
                    .unwrap_or_default();
                let head = format!("  {} {id} {name}", self.paint(code, word));
                match status {
                    CheckStatus::Pass => head,
                    CheckStatus::Fail => format!("{head}  {message}"),
                    CheckStatus::Error => {
                        let title = format!("check `{id}` could not be judged: {message}");
                        format!(
                            "{head}{}",
                            self.diagnostic(Diagnostic::error(title, Span::none()), at.as_deref())
                        )
                    }
                }
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

    fn finished(step: &str, ok: bool, at: &str) -> Event {
        Event::StepFinished {
            step: step.into(),
            phase: "p".into(),
            action: "exec".into(),
            ok,
            error: (!ok).then(|| "`sh` exited with 3, expected 0".into()),
            hint: (!ok).then(|| "look at its stderr".into()),
            allowed_failure: false,
            skipped: false,
            started_ms: 0,
            finished_ms: 5,
            attempts: 1,
            last_miss_ms: None,
            first_match_ms: None,
            result: serde_json::Value::Null,
            at: Some(at.into()),
        }
    }

    fn with_file() -> Progress {
        let mut p = Progress::new(false, false);
        let file: std::sync::Arc<str> = "s.yaml".into();
        p.sources.add(file.clone(), "steps:\n  - id: broken\n    exec: {}\n".into());
        let span = Span::new(file, 2, 5, 1);
        p.places.insert(span.to_string(), span);
        p
    }

    #[test]
    fn a_failed_step_is_a_diagnostic_with_its_source_line_caret_and_hint() {
        let line = with_file().line(&finished("broken", false, "s.yaml:2:5")).unwrap();
        assert_eq!(
            line,
            "  ✗ broken  exec  5ms\n    error: step `broken` failed: `sh` exited with 3, expected 0\n     --> s.yaml:2:5\n      |\n    2 |   - id: broken\n      |     ^^^^^^^^^^\n      |\n      = hint: look at its stderr"
        );
    }

    #[test]
    fn a_passing_step_prints_no_diagnostic() {
        let line = with_file().line(&finished("broken", true, "s.yaml:2:5")).unwrap();
        assert_eq!(line, "  ✓ broken  exec  5ms");
    }

    #[test]
    fn a_place_outside_the_scenario_is_named_in_words() {
        let line = with_file().line(&finished("x", false, "other.yaml:9:1")).unwrap();
        assert!(
            line.contains("error: step `x` failed: `sh` exited with 3, expected 0 (at other.yaml:9:1)"),
            "{line}"
        );
        assert!(!line.contains("-->"), "{line}");
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
            at: None,
        };
        let line = p.line(&ev).unwrap();
        assert!(line.ends_with("bad\\x1b[2J"), "{line}");
        assert!(!line.contains("xxx"));
    }
}
