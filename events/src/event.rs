use crate::ActionTraits;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The verdict of a whole run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Verdict {
    Pass,
    /// The scenario's `outcome.partial_if_passed` checks passed but others failed.
    Partial,
    Fail,
    /// Harness error: setup failed, cleanup could not restore, internal error.
    Error,
    Interrupted,
    /// Rebuilt from a journal that never recorded the end of the run (runner killed).
    Incomplete,
}

impl Verdict {
    pub fn as_str(&self) -> &'static str {
        match self {
            Verdict::Pass => "PASS",
            Verdict::Partial => "PARTIAL",
            Verdict::Fail => "FAIL",
            Verdict::Error => "ERROR",
            Verdict::Interrupted => "INTERRUPTED",
            Verdict::Incomplete => "INCOMPLETE",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CheckStatus {
    Pass,
    Fail,
    /// The check could not be evaluated (its phase never ran, an input is missing).
    Error,
}

impl CheckStatus {
    pub fn as_str(&self) -> &'static str {
        match self {
            CheckStatus::Pass => "PASS",
            CheckStatus::Fail => "FAIL",
            CheckStatus::Error => "ERROR",
        }
    }
}

/// A check as the scenario declares it, announced at run start so that a check that never
/// gets evaluated still appears in every report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckDecl {
    pub id: String,
    pub name: String,
    pub phase: String,
    /// The expressions that must all hold, as written.
    pub expect: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metric: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threshold: Option<String>,
}

/// One line of `journal.jsonl`. Times: `t_ms` is monotonic milliseconds since run start;
/// `at` is wall-clock RFC 3339 UTC. All values arrive here already masked.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    RunStarted {
        run_id: String,
        scenario: String,
        title: String,
        #[serde(default)]
        description: String,
        file: String,
        fingerprint: String,
        at: String,
        tool_version: String,
        host: String,
        command: Vec<String>,
        #[serde(default)]
        git_revision: Option<String>,
        /// Resolved variables (secrets masked).
        vars: serde_json::Map<String, Value>,
        phases: Vec<String>,
        checks: Vec<CheckDecl>,
    },
    PhaseStarted {
        phase: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        iteration: Option<u32>,
        t_ms: u64,
    },
    StepStarted {
        step: String,
        phase: String,
        action: String,
        t_ms: u64,
        at: String,
        #[serde(default)]
        background: bool,
        /// What the action declares about itself (injects a fault, draws a chart).
        #[serde(default, skip_serializing_if = "ActionTraits::is_none")]
        traits: ActionTraits,
    },
    /// One attempt of a polled (`until`) or retried step.
    Poll {
        step: String,
        attempt: u32,
        started_ms: u64,
        finished_ms: u64,
        matched: bool,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<String>,
    },
    /// Free-form progress from an action or the engine ("waiting for port 5432").
    Log {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        step: Option<String>,
        t_ms: u64,
        message: String,
    },
    StepFinished {
        step: String,
        phase: String,
        action: String,
        ok: bool,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        hint: Option<String>,
        /// The step failed but declared `allow_failure: true`; never counted as a pass.
        #[serde(default)]
        allowed_failure: bool,
        /// `when:` was false; the step did not run.
        #[serde(default)]
        skipped: bool,
        started_ms: u64,
        finished_ms: u64,
        attempts: u32,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        last_miss_ms: Option<u64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        first_match_ms: Option<u64>,
        /// The step result as scenarios address it (action output included, large values trimmed).
        #[serde(default)]
        result: Value,
        /// Where the step is written: `file:line:col`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        at: Option<String>,
    },
    Evidence {
        path: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        step: Option<String>,
    },
    PhaseFinished {
        phase: String,
        ok: bool,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        failed_step: Option<String>,
        t_ms: u64,
    },
    PhaseSkipped {
        phase: String,
        reason: String,
    },
    Metric {
        name: String,
        phase: String,
        value: Value,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        unit: Option<String>,
        /// For a metric of a repeated phase: the series summary (min/median/p95/max/all).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        series: Option<Value>,
        /// `[lo, hi]`: where the true value lies, for a metric read from a poll's transition.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        interval: Option<[f64; 2]>,
        /// Why the metric could not be computed (then `value` is null): an error in every report.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<String>,
    },
    Check {
        id: String,
        status: CheckStatus,
        message: String,
        /// For each failed expression: what it was, and the values it saw.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        details: Vec<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        value: Option<Value>,
        /// In a repeated phase: the iterations (`loop.index`) in which the check did not hold.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        failed_iterations: Vec<u32>,
        t_ms: u64,
        /// Where the check is written: `file:line:col`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        at: Option<String>,
    },
    Undo {
        key: String,
        description: String,
        ok: bool,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<String>,
        t_ms: u64,
    },
    /// Write-ahead: the inverse of a change, recorded (fsynced) before the change takes
    /// effect, or the moment a child process exists. Pending until an `undo` with `ok` or an
    /// `undo_settled` of the same key; what is still pending is what `testrunner cleanup` replays.
    UndoPending {
        key: String,
        description: String,
        /// The registered action that restores it, and its parameters (self-contained: pgid
        /// and start time, container id ...).
        action: String,
        params: Value,
        t_ms: u64,
    },
    /// A pending entry that no longer needs undoing (restored by a step, its program ended,
    /// or the change was never applied).
    UndoSettled {
        key: String,
        reason: String,
        t_ms: u64,
    },
    /// A second signal abandoned cleanup: what was really left, after the running children
    /// were killed.
    CleanupAbandoned {
        signal: String,
        left: Vec<String>,
        t_ms: u64,
    },
    /// A harness-level problem outside any check (setup failed, teardown failed, internal error).
    HarnessError {
        stage: String,
        message: String,
        t_ms: u64,
    },
    Interrupted {
        signal: String,
        t_ms: u64,
    },
    RunFinished {
        verdict: Verdict,
        exit_code: i32,
        at: String,
        duration_ms: u64,
    },
}

impl Event {
    /// The event without a finished step's result: what a reader that never shows results
    /// (the terminal) needs, without copying a big one.
    pub fn without_result(&self) -> Event {
        match self {
            Event::StepFinished {
                step,
                phase,
                action,
                ok,
                error,
                hint,
                allowed_failure,
                skipped,
                started_ms,
                finished_ms,
                attempts,
                last_miss_ms,
                first_match_ms,
                result: _,
                at,
            } => Event::StepFinished {
                step: step.clone(),
                phase: phase.clone(),
                action: action.clone(),
                ok: *ok,
                error: error.clone(),
                hint: hint.clone(),
                allowed_failure: *allowed_failure,
                skipped: *skipped,
                started_ms: *started_ms,
                finished_ms: *finished_ms,
                attempts: *attempts,
                last_miss_ms: *last_miss_ms,
                first_match_ms: *first_match_ms,
                result: Value::Null,
                at: at.clone(),
            },
            other => other.clone(),
        }
    }
}

/// Reads a `journal.jsonl` text; a torn last line (the runner died mid-write) is ignored.
pub fn parse_journal(text: &str) -> Result<Vec<Event>, String> {
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let mut events = Vec::with_capacity(lines.len());
    for (i, line) in lines.iter().enumerate() {
        match serde_json::from_str::<Event>(line) {
            Ok(e) => events.push(e),
            Err(_) if i + 1 == lines.len() => break,
            Err(e) => return Err(format!("journal line {}: {e}", i + 1)),
        }
    }
    Ok(events)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finished(result: Value) -> Event {
        Event::StepFinished {
            step: "s".into(),
            phase: "p".into(),
            action: "http.get".into(),
            ok: true,
            error: None,
            hint: None,
            allowed_failure: false,
            skipped: false,
            started_ms: 1,
            finished_ms: 2,
            attempts: 1,
            last_miss_ms: None,
            first_match_ms: None,
            result,
            at: Some("s.yaml:3:5".into()),
        }
    }

    #[test]
    fn without_result_drops_only_the_result() {
        let ev = finished(serde_json::json!({"status": 200}));
        assert_eq!(ev.without_result(), finished(Value::Null));
        // Negative control: other events are unchanged.
        let log = Event::Log { step: None, t_ms: 3, message: "m".into() };
        assert_eq!(log.without_result(), log);
    }

    #[test]
    fn a_torn_last_line_is_ignored_and_a_torn_middle_line_is_an_error() {
        let line = serde_json::to_string(&finished(Value::Null)).unwrap();
        let text = format!("{line}\n{line}\n{{\"event\":\"log\",\"t_");
        assert_eq!(parse_journal(&text).unwrap().len(), 2);
        let bad = format!("{line}\n{{\"event\":\n{line}\n");
        assert!(parse_journal(&bad).unwrap_err().starts_with("journal line 2:"));
    }
}
