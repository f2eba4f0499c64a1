use crate::StepResult;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use testrunner_events::{ActionTraits, CheckDecl, CheckStatus, Event, Verdict};

/// One run, as every report shows it. Built only by folding events, so a report rebuilt
/// from `journal.jsonl` is the same report the live run wrote.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RunReport {
    pub run_id: String,
    pub scenario: String,
    pub title: String,
    pub description: String,
    pub file: String,
    pub fingerprint: String,
    pub started_at: String,
    pub finished_at: Option<String>,
    pub duration_ms: u64,
    pub tool_version: String,
    pub host: String,
    pub command: Vec<String>,
    pub git_revision: Option<String>,
    pub vars: serde_json::Map<String, Value>,
    pub verdict: Option<Verdict>,
    pub exit_code: Option<i32>,
    pub interrupted: Option<String>,
    pub phases: Vec<PhaseResult>,
    pub steps: Vec<StepRecord>,
    pub checks: Vec<CheckResult>,
    pub metrics: Vec<MetricResult>,
    pub undo: Vec<UndoRecord>,
    /// Changes recorded write-ahead and never undone (runner killed, cleanup abandoned or
    /// failed): what `testrunner cleanup <run-dir>` replays.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub pending_undo: Vec<PendingUndo>,
    /// Set when a second signal abandoned cleanup (its signal).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cleanup_abandoned: Option<String>,
    pub evidence: Vec<String>,
    pub harness_errors: Vec<HarnessError>,
    /// Progress messages, with the step they belong to.
    pub logs: Vec<LogLine>,
    /// Failed steps of the phases that no check reported (an errored test case each).
    pub step_errors: Vec<StepError>,
}

/// A report folded one event at a time: the live run keeps this instead of its events, so
/// its memory is what the report holds, not the journal's size.
#[derive(Debug, Clone, Default)]
pub struct ReportFold {
    report: RunReport,
    last_t: u64,
}

impl ReportFold {
    pub fn push(&mut self, ev: &Event) {
        self.report.apply(ev, &mut self.last_t);
    }

    /// The report as folded so far (not finalized: no step errors yet).
    pub fn partial(&self) -> &RunReport {
        &self.report
    }

    /// The report of the events so far, finalized as [`RunReport::from_events`] does.
    pub fn finish(self) -> RunReport {
        let mut r = self.report;
        r.finalize(self.last_t);
        r
    }
}

/// The live run's report, fed by the journal.
impl testrunner_events::Subscriber for ReportFold {
    fn event(&mut self, ev: &Event) {
        self.push(ev);
    }
}

/// A failed step not covered by a check: one that no check reported as ERROR naming it
/// (`… failed at step `<id>` …`). Setup and teardown failures are harness errors, an
/// interrupted step is the interruption, and `allow_failure` steps are not failures.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepError {
    pub phase: String,
    pub step: String,
    #[serde(default)]
    pub iteration: Option<u32>,
    pub error: String,
    pub t_ms: u64,
    /// Where the step is written: `file:line:col`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at: Option<String>,
}

/// Test cases of a run, counted the same way by every report: the checks, the failed steps
/// not covered by a check, and the metrics that could not be computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Totals {
    pub pass: usize,
    pub fail: usize,
    pub error: usize,
    pub total: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PhaseResult {
    pub name: String,
    /// `pending`, `ok`, `failed`, `skipped`.
    pub status: String,
    pub failed_step: Option<String>,
    pub skip_reason: Option<String>,
    pub started_ms: Option<u64>,
    pub finished_ms: Option<u64>,
    pub iterations: u32,
    /// A `repeat:` / `for_each:` phase (its steps carry their iteration).
    #[serde(default)]
    pub repeated: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Poll {
    pub attempt: u32,
    pub started_ms: u64,
    pub finished_ms: u64,
    pub matched: bool,
    pub error: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepRecord {
    pub step: String,
    pub phase: String,
    /// In a repeated phase: the iteration (`loop.index`) the step ran in.
    #[serde(default)]
    pub iteration: Option<u32>,
    pub action: String,
    pub background: bool,
    /// What the step's action declares about itself (fault, failover, chart).
    #[serde(default, skip_serializing_if = "ActionTraits::is_none")]
    pub traits: ActionTraits,
    pub started_ms: u64,
    pub started_at: String,
    /// None while (or if, after a crash) the step never finished.
    pub finished_ms: Option<u64>,
    pub ok: Option<bool>,
    pub error: Option<String>,
    pub hint: Option<String>,
    pub allowed_failure: bool,
    pub skipped: bool,
    pub attempts: u32,
    pub last_miss_ms: Option<u64>,
    pub first_match_ms: Option<u64>,
    pub polls: Vec<Poll>,
    pub result: StepResult,
    /// Where the step is written: `file:line:col`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckResult {
    pub decl: CheckDecl,
    pub status: CheckStatus,
    pub message: String,
    pub details: Vec<String>,
    pub value: Option<Value>,
    /// In a repeated phase: the iterations (`loop.index`) in which the check did not hold.
    #[serde(default)]
    pub failed_iterations: Vec<u32>,
    /// Where the check is written: `file:line:col`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricResult {
    pub name: String,
    pub phase: String,
    pub value: Value,
    pub unit: Option<String>,
    pub series: Option<Value>,
    /// `[lo, hi]`: where the true value lies (a timing read from a poll's transition).
    #[serde(default)]
    pub interval: Option<[f64; 2]>,
    /// Why it could not be computed: an error in every report.
    #[serde(default)]
    pub error: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UndoRecord {
    pub key: String,
    pub description: String,
    pub ok: bool,
    pub error: Option<String>,
    pub t_ms: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PendingUndo {
    pub key: String,
    pub description: String,
    pub action: String,
    pub params: Value,
    pub t_ms: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HarnessError {
    pub stage: String,
    pub message: String,
    pub t_ms: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogLine {
    pub step: Option<String>,
    pub t_ms: u64,
    pub message: String,
}

impl RunReport {
    /// Folds a run's events, in journal order, into its report.
    pub fn from_events<'a>(events: impl IntoIterator<Item = &'a Event>) -> RunReport {
        let mut fold = ReportFold::default();
        for ev in events {
            fold.push(ev);
        }
        fold.finish()
    }

    /// What only the whole run can say: uncovered step failures, and a run that never
    /// finished (`last_t`: the latest time any event carried).
    fn finalize(&mut self, last_t: u64) {
        self.step_errors = self.uncovered_step_failures();
        if self.verdict.is_none() {
            // The runner died before it could finish: keep what was recorded, say so.
            self.verdict = Some(Verdict::Incomplete);
            self.duration_ms = last_t;
            for c in self.checks.iter_mut().filter(|c| c.status == CheckStatus::Error && c.message.is_empty())
            {
                c.message = "not evaluated: the run ended before this check (runner killed?)".into();
            }
        }
    }

    fn apply(&mut self, ev: &Event, last_t: &mut u64) {
        match ev {
            Event::RunStarted {
                run_id,
                scenario,
                title,
                description,
                file,
                fingerprint,
                at,
                tool_version,
                host,
                command,
                git_revision,
                vars,
                phases,
                checks,
            } => {
                self.run_id = run_id.clone();
                self.scenario = scenario.clone();
                self.title = title.clone();
                self.description = description.clone();
                self.file = file.clone();
                self.fingerprint = fingerprint.clone();
                self.started_at = at.clone();
                self.tool_version = tool_version.clone();
                self.host = host.clone();
                self.command = command.clone();
                self.git_revision = git_revision.clone();
                self.vars = vars.clone();
                self.phases = phases
                    .iter()
                    .map(|p| PhaseResult {
                        name: p.clone(),
                        status: "pending".into(),
                        failed_step: None,
                        skip_reason: None,
                        started_ms: None,
                        finished_ms: None,
                        iterations: 0,
                        repeated: false,
                    })
                    .collect();
                self.checks = checks
                    .iter()
                    .map(|d| CheckResult {
                        decl: d.clone(),
                        status: CheckStatus::Error,
                        message: String::new(),
                        details: vec![],
                        value: None,
                        failed_iterations: vec![],
                        at: None,
                    })
                    .collect();
            }
            Event::PhaseStarted { phase, t_ms, iteration } => {
                *last_t = (*last_t).max(*t_ms);
                if let Some(p) = self.phase_mut(phase) {
                    p.started_ms.get_or_insert(*t_ms);
                    p.iterations += 1;
                    p.repeated |= iteration.is_some();
                    p.status = "running".into();
                }
            }
            Event::StepStarted { step, phase, action, t_ms, at, background, traits } => {
                *last_t = (*last_t).max(*t_ms);
                let iteration = self.iteration_of(phase);
                self.steps.push(StepRecord {
                    step: step.clone(),
                    phase: phase.clone(),
                    iteration,
                    action: action.clone(),
                    background: *background,
                    traits: *traits,
                    started_ms: *t_ms,
                    started_at: at.clone(),
                    finished_ms: None,
                    ok: None,
                    error: None,
                    hint: None,
                    allowed_failure: false,
                    skipped: false,
                    attempts: 0,
                    last_miss_ms: None,
                    first_match_ms: None,
                    polls: vec![],
                    result: StepResult::default(),
                    at: None,
                });
            }
            Event::Poll { step, attempt, started_ms, finished_ms, matched, error } => {
                *last_t = (*last_t).max(*finished_ms);
                if let Some(s) = self.open_step_mut(step) {
                    s.polls.push(Poll {
                        attempt: *attempt,
                        started_ms: *started_ms,
                        finished_ms: *finished_ms,
                        matched: *matched,
                        error: error.clone(),
                    });
                    s.attempts = *attempt;
                }
            }
            Event::Log { step, t_ms, message } => {
                *last_t = (*last_t).max(*t_ms);
                self.logs.push(LogLine { step: step.clone(), t_ms: *t_ms, message: message.clone() });
            }
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
                result,
                at,
            } => {
                *last_t = (*last_t).max(*finished_ms);
                if self.open_step_mut(step).is_none() {
                    // A skipped step (`when:` false) has no StepStarted.
                    let iteration = self.iteration_of(phase);
                    self.steps.push(StepRecord {
                        step: step.clone(),
                        phase: phase.clone(),
                        iteration,
                        action: action.clone(),
                        background: false,
                        // Never started: it injected nothing, whatever its action.
                        traits: ActionTraits::NONE,
                        started_ms: *started_ms,
                        started_at: String::new(),
                        finished_ms: None,
                        ok: None,
                        error: None,
                        hint: None,
                        allowed_failure: false,
                        skipped: false,
                        attempts: 0,
                        last_miss_ms: None,
                        first_match_ms: None,
                        polls: vec![],
                        result: StepResult::default(),
                        at: None,
                    });
                }
                let s = self.open_step_mut(step).expect("just ensured");
                // The step result's own clock (what `<id>.started_ms` reads), so every
                // report shows the same duration as the terminal and the scenario's metrics.
                s.started_ms = *started_ms;
                s.finished_ms = Some(*finished_ms);
                s.ok = Some(*ok);
                s.error = error.clone();
                s.hint = hint.clone();
                s.allowed_failure = *allowed_failure;
                s.skipped = *skipped;
                s.attempts = *attempts;
                s.last_miss_ms = *last_miss_ms;
                s.first_match_ms = *first_match_ms;
                s.result = StepResult::new(result);
                s.at = at.clone();
            }
            Event::Evidence { path, .. } => {
                if !self.evidence.contains(path) {
                    self.evidence.push(path.clone());
                }
            }
            Event::PhaseFinished { phase, ok, failed_step, t_ms } => {
                *last_t = (*last_t).max(*t_ms);
                if let Some(p) = self.phase_mut(phase) {
                    p.status = if *ok { "ok" } else { "failed" }.into();
                    p.failed_step = failed_step.clone();
                    p.finished_ms = Some(*t_ms);
                }
            }
            Event::PhaseSkipped { phase, reason } => {
                if let Some(p) = self.phase_mut(phase) {
                    p.status = "skipped".into();
                    p.skip_reason = Some(reason.clone());
                }
            }
            Event::Metric { name, phase, value, unit, series, interval, error } => {
                self.metrics.retain(|m| m.name != *name);
                self.metrics.push(MetricResult {
                    name: name.clone(),
                    phase: phase.clone(),
                    value: value.clone(),
                    unit: unit.clone(),
                    series: series.clone(),
                    interval: *interval,
                    error: error.clone(),
                });
            }
            Event::Check { id, status, message, details, value, failed_iterations, t_ms, at } => {
                *last_t = (*last_t).max(*t_ms);
                if let Some(c) = self.checks.iter_mut().find(|c| c.decl.id == *id) {
                    c.status = *status;
                    c.message = message.clone();
                    c.details = details.clone();
                    c.value = value.clone();
                    c.failed_iterations = failed_iterations.clone();
                    c.at = at.clone();
                }
            }
            Event::UndoPending { key, description, action, params, t_ms } => {
                *last_t = (*last_t).max(*t_ms);
                self.pending_undo.retain(|p| p.key != *key);
                self.pending_undo.push(PendingUndo {
                    key: key.clone(),
                    description: description.clone(),
                    action: action.clone(),
                    params: params.clone(),
                    t_ms: *t_ms,
                });
            }
            Event::UndoSettled { key, t_ms, .. } => {
                *last_t = (*last_t).max(*t_ms);
                self.pending_undo.retain(|p| p.key != *key);
            }
            Event::CleanupAbandoned { signal, t_ms, .. } => {
                *last_t = (*last_t).max(*t_ms);
                self.cleanup_abandoned = Some(signal.clone());
            }
            Event::Undo { key, description, ok, error, t_ms } => {
                *last_t = (*last_t).max(*t_ms);
                if *ok {
                    self.pending_undo.retain(|p| p.key != *key);
                }
                self.undo.push(UndoRecord {
                    key: key.clone(),
                    description: description.clone(),
                    ok: *ok,
                    error: error.clone(),
                    t_ms: *t_ms,
                });
            }
            Event::HarnessError { stage, message, t_ms } => {
                *last_t = (*last_t).max(*t_ms);
                self.harness_errors.push(HarnessError {
                    stage: stage.clone(),
                    message: message.clone(),
                    t_ms: *t_ms,
                });
            }
            Event::Interrupted { signal, t_ms } => {
                *last_t = (*last_t).max(*t_ms);
                self.interrupted = Some(signal.clone());
            }
            Event::RunFinished { verdict, exit_code, at, duration_ms } => {
                self.verdict = Some(*verdict);
                self.exit_code = Some(*exit_code);
                self.finished_at = Some(at.clone());
                self.duration_ms = *duration_ms;
            }
        }
    }

    fn phase_mut(&mut self, name: &str) -> Option<&mut PhaseResult> {
        self.phases.iter_mut().find(|p| p.name == name)
    }

    /// The current iteration (`loop.index`) of a repeated phase.
    fn iteration_of(&self, phase: &str) -> Option<u32> {
        self.phases.iter().find(|p| p.name == phase && p.repeated).map(|p| p.iterations.saturating_sub(1))
    }

    fn uncovered_step_failures(&self) -> Vec<StepError> {
        self.steps
            .iter()
            .filter(|s| s.ok == Some(false) && !s.allowed_failure && !s.skipped)
            .filter(|s| s.phase != "setup" && s.phase != "teardown")
            .filter(|s| {
                !(self.interrupted.is_some() && s.error.as_deref().is_some_and(|e| e.contains("interrupted")))
            })
            .filter(|s| {
                let named = format!("failed at step `{}`", s.step);
                !self.checks.iter().any(|c| c.status == CheckStatus::Error && c.message.contains(&named))
            })
            .map(|s| StepError {
                phase: s.phase.clone(),
                step: s.step.clone(),
                iteration: s.iteration,
                error: s.error.clone().unwrap_or_else(|| "failed".into()),
                t_ms: s.finished_ms.unwrap_or(s.started_ms),
                at: s.at.clone(),
            })
            .collect()
    }

    /// The counts every report shows (JUnit, HTML banner, summary, JSON).
    pub fn totals(&self) -> Totals {
        let (pass, fail) = (self.count(CheckStatus::Pass), self.count(CheckStatus::Fail));
        let error = self.count(CheckStatus::Error)
            + self.step_errors.len()
            + self.metrics.iter().filter(|m| m.error.is_some()).count();
        Totals { pass, fail, error, total: pass + fail + error }
    }

    /// The latest record of `step` (a step of a repeated phase appears once per iteration).
    fn open_step_mut(&mut self, step: &str) -> Option<&mut StepRecord> {
        self.steps.iter_mut().rev().find(|s| s.step == step && s.finished_ms.is_none())
    }

    pub fn verdict(&self) -> Verdict {
        self.verdict.unwrap_or(Verdict::Incomplete)
    }

    pub fn count(&self, status: CheckStatus) -> usize {
        self.checks.iter().filter(|c| c.status == status).count()
    }

    pub fn step(&self, id: &str) -> Option<&StepRecord> {
        self.steps.iter().rev().find(|s| s.step == id)
    }

    /// Reads a `journal.jsonl` text; a torn last line (the runner died mid-write) is ignored.
    pub fn parse_journal(text: &str) -> Result<Vec<Event>, String> {
        testrunner_events::parse_journal(text)
    }
}

impl StepRecord {
    /// The action injects a fault (declared in its spec): reports mark the step distinctly.
    pub fn is_fault(&self) -> bool {
        self.traits.fault
    }

    pub fn elapsed_ms(&self) -> Option<u64> {
        self.finished_ms.map(|f| f.saturating_sub(self.started_ms))
    }

    /// One word for the step's outcome, as every report shows it.
    pub fn status_word(&self) -> &'static str {
        match (self.ok, self.skipped, self.allowed_failure) {
            (_, true, _) => "skipped",
            (None, ..) => "unfinished",
            (Some(true), ..) => "ok",
            (Some(false), _, true) => "failed (allowed)",
            (Some(false), ..) => "failed",
        }
    }
}

impl PhaseResult {
    pub fn elapsed_ms(&self) -> Option<u64> {
        Some(self.finished_ms?.saturating_sub(self.started_ms?))
    }
}

impl RunReport {
    pub fn phase(&self, name: &str) -> Option<&PhaseResult> {
        self.phases.iter().find(|p| p.name == name)
    }

    pub fn metric(&self, name: &str) -> Option<&MetricResult> {
        self.metrics.iter().find(|m| m.name == name)
    }

    /// Every record of the steps of `phase`, in the order they started.
    pub fn steps_of<'a>(&'a self, phase: &'a str) -> impl Iterator<Item = &'a StepRecord> + 'a {
        self.steps.iter().filter(move |s| s.phase == phase)
    }

    /// The value a check's metric had: the check's own value, else the metric of that name.
    pub fn check_metric_value(&self, c: &CheckResult) -> Option<Value> {
        let name = c.decl.metric.as_deref()?;
        c.value.clone().or_else(|| self.metric(name).map(|m| m.value.clone()))
    }

    /// Undo records that failed: changes that were NOT restored.
    pub fn unrestored(&self) -> impl Iterator<Item = &UndoRecord> {
        self.undo.iter().filter(|u| !u.ok)
    }

    /// The last moment anything was recorded, in run milliseconds.
    pub fn clock_end_ms(&self) -> u64 {
        let steps = self.steps.iter().flat_map(|s| {
            [Some(s.started_ms), s.finished_ms].into_iter().chain(s.polls.iter().map(|p| Some(p.finished_ms)))
        });
        let phases = self.phases.iter().flat_map(|p| [p.started_ms, p.finished_ms]);
        let rest = self
            .undo
            .iter()
            .map(|u| Some(u.t_ms))
            .chain(self.harness_errors.iter().map(|h| Some(h.t_ms)))
            .chain(self.logs.iter().map(|l| Some(l.t_ms)));
        steps.chain(phases).chain(rest).flatten().fold(self.duration_ms, u64::max)
    }
}

/// A JSON value as a person reads it: strings bare, whole floats without `.0`.
pub fn display_value(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => match n.as_f64() {
            Some(f) if n.is_f64() && f.fract() == 0.0 && f.abs() < 1e15 => format!("{}", f as i64),
            Some(f) if n.is_f64() => format!("{}", (f * 1000.0).round() / 1000.0),
            _ => n.to_string(),
        },
        Value::Null => "null".into(),
        other => other.to_string(),
    }
}

impl MetricResult {
    /// The value as every report shows it: `9900 ms, true value in [9820, 9900] ms`, or
    /// `ERROR: …` when it could not be computed.
    pub fn text(&self) -> String {
        if let Some(e) = &self.error {
            return format!("ERROR: {e}");
        }
        let unit = self.unit.as_deref().map(|u| format!(" {u}")).unwrap_or_default();
        let mut t = format!("{}{unit}", display_value(&self.value));
        if let Some([lo, hi]) = self.interval {
            let n = |x: f64| display_value(&serde_json::json!(x));
            t.push_str(&format!(", true value in [{}, {}]{unit}", n(lo), n(hi)));
        }
        t
    }
}

/// Milliseconds as seconds with three decimals (`1.234 s`).
pub fn secs(ms: u64) -> String {
    format!("{}.{:03} s", ms / 1000, ms % 1000)
}
