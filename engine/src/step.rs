//! One step: evaluate its parameters, run its action attempt by attempt under the deadline,
//! poll `until`, retry, and build the result scenarios address as `<id>.field`.
use serde_json::{json, Map, Value};
use std::time::{Duration, Instant};
use testrunner_actions::{Action, ActionCtx, Outcome, SharedState};
use testrunner_events::Event;
use testrunner_scenario::{format_duration, Expr, Scope};
use tokio_util::sync::CancellationToken;

use crate::Journal;

/// What one step did, before it is folded into the scope and the journal.
#[derive(Debug, Clone)]
pub struct StepRun {
    pub ok: bool,
    pub error: Option<String>,
    pub hint: Option<String>,
    pub started_ms: u64,
    pub finished_ms: u64,
    pub started_at: String,
    pub attempts: u32,
    pub last_miss_ms: Option<u64>,
    pub first_match_ms: Option<u64>,
    /// When the matching attempt started: a blocking probe's window is that of its attempt.
    pub first_match_started_ms: Option<u64>,
    pub output: Map<String, Value>,
    pub outcome: Option<Outcome>,
    pub interrupted: bool,
}

impl StepRun {
    /// A step that has started and has neither succeeded nor failed yet.
    pub fn started(started_ms: u64, started_at: String) -> StepRun {
        StepRun {
            ok: false,
            error: None,
            hint: None,
            started_ms,
            finished_ms: started_ms,
            started_at,
            attempts: 0,
            last_miss_ms: None,
            first_match_ms: None,
            first_match_started_ms: None,
            output: Map::new(),
            outcome: None,
            interrupted: false,
        }
    }

    pub fn failed(started_ms: u64, finished_ms: u64, started_at: String, error: String) -> StepRun {
        StepRun { finished_ms, error: Some(error), ..StepRun::started(started_ms, started_at) }
    }

    pub fn passed(started_ms: u64, finished_ms: u64, started_at: String) -> StepRun {
        StepRun { ok: true, finished_ms, ..StepRun::started(started_ms, started_at) }
    }

    /// The step result as expressions see it.
    pub fn result(&self) -> Value {
        self.result_of(self.output.clone())
    }

    /// The step result, its action's output moved into it (the step is recorded).
    pub fn take_result(&mut self) -> Value {
        let output = std::mem::take(&mut self.output);
        self.result_of(output)
    }

    fn result_of(&self, mut m: Map<String, Value>) -> Value {
        m.insert("ok".into(), json!(self.ok));
        m.insert("error".into(), json!(self.error));
        m.insert("started_ms".into(), json!(self.started_ms));
        m.insert("finished_ms".into(), json!(self.finished_ms));
        m.insert("elapsed_ms".into(), json!(self.finished_ms.saturating_sub(self.started_ms)));
        m.insert("started_at".into(), json!(self.started_at));
        m.insert("attempts".into(), json!(self.attempts));
        m.insert("last_miss_ms".into(), json!(self.last_miss_ms));
        m.insert("first_match_ms".into(), json!(self.first_match_ms));
        m.insert("first_match_started_ms".into(), json!(self.first_match_started_ms));
        Value::Object(m)
    }
}

/// Everything an attempt loop needs, owned, so it can also run as a background task.
pub struct Attempts {
    pub action: &'static dyn Action,
    pub step_id: String,
    /// Names the result is visible under while `until` is evaluated (id and short alias).
    pub self_names: Vec<String>,
    pub params: Value,
    pub until: Option<Expr>,
    pub interval: Duration,
    pub retries: u32,
    pub timeout: Duration,
    pub deadline: Instant,
    pub scope: Scope,
    pub state: SharedState,
    pub journal: Journal,
    pub t0: Instant,
    pub stop: CancellationToken,
    pub interrupt: CancellationToken,
}

pub fn ms_since(t0: Instant) -> u64 {
    t0.elapsed().as_millis() as u64
}

pub fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

impl Attempts {
    pub async fn run(mut self) -> StepRun {
        let started_ms = ms_since(self.t0);
        let started_at = now_rfc3339();
        let polled = self.until.is_some() || self.retries > 0;
        let mut run = StepRun::started(started_ms, started_at);
        let mut last_seen: Option<String> = None;
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            run.attempts = attempt;
            let a_start_i = Instant::now();
            let a_start = ms_since(self.t0);
            let ctx = ActionCtx {
                step_id: self.step_id.clone(),
                state: self.state.clone(),
                deadline: self.deadline,
                stop: self.stop.clone(),
            };
            let fut = self.action.run(self.params.clone(), &ctx);
            // Biased: an interrupt wins over an action that returns because of it. A poll
            // (background or not) ends at `stop:`; other actions see `ctx.stop` themselves.
            let res = tokio::select! {
                biased;
                _ = self.interrupt.cancelled() => None,
                _ = stopped(&self.stop, self.until.is_some()) => {
                    return self.stopped_poll(run, attempt, &last_seen);
                }
                r = tokio::time::timeout_at(self.deadline.into(), fut) => Some(r),
                // An action that does not end by itself within the grace is dropped (its
                // children die with it): being stopped is not a failure of the action.
                _ = stop_grace(&self.stop, self.until.is_none()) => {
                    return self.cut_off_at_stop(run);
                }
            };
            let a_end = ms_since(self.t0);
            run.finished_ms = a_end;
            let mut matched = false;
            let mut attempt_error: Option<String> = None;
            match res {
                None => {
                    run.interrupted = true;
                    run.error = Some("interrupted".into());
                    return run;
                }
                Some(Err(_elapsed)) => {
                    run.error = Some(self.deadline_message(attempt, &last_seen));
                    run.hint = Some(format!(
                        "the step's deadline is {}; raise `timeout:` on the step or `defaults.step_timeout` if the system is just slow",
                        format_duration(self.timeout)
                    ));
                    if polled {
                        self.poll_event(attempt, a_start, a_end, false, Some("deadline".into()));
                    }
                    return run;
                }
                Some(Ok(Ok(mut outcome))) => {
                    run.output = std::mem::take(&mut outcome.output);
                    run.outcome = Some(outcome);
                    run.error = None;
                    match &self.until {
                        None => matched = true,
                        Some(u) => {
                            let mut scope = self.scope.clone();
                            run.ok = true;
                            let me = run.result();
                            for n in &self.self_names {
                                scope.set(n.clone(), me.clone());
                            }
                            match u.eval_bool(&scope) {
                                Ok(true) => matched = true,
                                Ok(false) => last_seen = Some(u.explain(&scope).join(", ")),
                                Err(e) => {
                                    last_seen = Some(e.clone());
                                    attempt_error = Some(e);
                                }
                            }
                            run.ok = false;
                        }
                    }
                }
                Some(Ok(Err(mut e))) => {
                    run.output = std::mem::take(&mut e.output);
                    run.hint = e.hint.clone();
                    last_seen = Some(format!("error: {}", e.message));
                    attempt_error = Some(e.message.clone());
                    run.error = Some(e.message);
                    run.outcome = None;
                    if let Some(u) = &self.until {
                        // A failed attempt is a result too (`ok: false`, `error` set):
                        // `until: "!probe.ok"` waits for a service to go down.
                        let mut scope = self.scope.clone();
                        let me = run.result();
                        for n in &self.self_names {
                            scope.set(n.clone(), me.clone());
                        }
                        matched = u.eval_bool(&scope) == Ok(true);
                    } else if attempt > self.retries {
                        if polled {
                            self.poll_event(attempt, a_start, a_end, false, attempt_error);
                        }
                        return run;
                    }
                }
            }
            if polled {
                self.poll_event(attempt, a_start, a_end, matched, attempt_error);
            }
            if matched {
                run.ok = true;
                run.error = None;
                run.hint = None;
                if self.until.is_some() {
                    run.first_match_ms = Some(a_end);
                    run.first_match_started_ms = Some(a_start);
                }
                return run;
            }
            if self.until.is_some() {
                run.last_miss_ms = Some(a_start);
            }
            // Fixed-rate polling: the next attempt starts one interval after this one started.
            let next = (a_start_i + self.interval).min(self.deadline);
            tokio::select! {
                biased;
                _ = self.interrupt.cancelled() => {
                    run.interrupted = true;
                    run.error = Some("interrupted".into());
                    return run;
                }
                _ = stopped(&self.stop, self.until.is_some()) => {
                    return self.stopped_poll(run, attempt, &last_seen);
                }
                // A retried action stopped between attempts keeps its last failure.
                _ = self.stop.cancelled(), if self.until.is_none() => {
                    run.finished_ms = ms_since(self.t0);
                    return run;
                }
                _ = tokio::time::sleep_until(next.into()) => {}
            }
            if Instant::now() >= self.deadline {
                run.ok = false;
                run.error = Some(self.deadline_message(attempt, &last_seen));
                run.hint = Some(format!(
                    "the step's deadline is {}; raise `timeout:` if the system is just slow",
                    format_duration(self.timeout)
                ));
                return run;
            }
        }
    }

    /// A poll ended by `stop:` (or by a `wait: { any }` that another poll won) before
    /// its `until` held.
    fn stopped_poll(&self, mut run: StepRun, attempts: u32, last_seen: &Option<String>) -> StepRun {
        let last = last_seen.as_ref().map(|s| format!("; last: {s}")).unwrap_or_default();
        let until = self.until.as_ref().map(|u| u.source.as_str()).unwrap_or_default();
        run.ok = false;
        run.finished_ms = ms_since(self.t0);
        run.error = Some(format!("stopped before `{until}` held ({attempts} attempts{last})"));
        run.hint = None;
        run
    }

    /// An action still running [`STOP_GRACE`] after its `stop:` (or its phase's end).
    fn cut_off_at_stop(&self, mut run: StepRun) -> StepRun {
        run.ok = true;
        run.error = None;
        run.hint = None;
        run.finished_ms = ms_since(self.t0);
        self.journal.emit(Event::Log {
            step: Some(self.step_id.clone()),
            t_ms: run.finished_ms,
            message: format!("did not end within {} of being stopped: cut off", format_duration(STOP_GRACE)),
        });
        run
    }

    fn deadline_message(&self, attempts: u32, last_seen: &Option<String>) -> String {
        let t = format_duration(self.timeout);
        let last = last_seen.as_ref().map(|s| format!("; last: {s}")).unwrap_or_default();
        match &self.until {
            Some(u) => format!("until `{}` did not hold within {t} ({attempts} attempts{last})", u.source),
            None if attempts > 1 => format!("deadline {t} exceeded after {attempts} attempts{last}"),
            None => format!("deadline {t} exceeded"),
        }
    }

    fn poll_event(
        &mut self,
        attempt: u32,
        started_ms: u64,
        finished_ms: u64,
        matched: bool,
        error: Option<String>,
    ) {
        self.journal.emit(Event::Poll {
            step: self.step_id.clone(),
            attempt,
            started_ms,
            finished_ms,
            matched,
            error,
        });
    }
}

/// How long a stopped background action may take to end by itself.
pub const STOP_GRACE: Duration = Duration::from_secs(1);

/// Resolves [`STOP_GRACE`] after `stop` is cancelled, if `armed`; never otherwise.
async fn stop_grace(stop: &CancellationToken, armed: bool) {
    if armed {
        stop.cancelled().await;
        tokio::time::sleep(STOP_GRACE).await
    } else {
        std::future::pending().await
    }
}

/// Resolves when `stop` is cancelled, if `armed`; never otherwise.
async fn stopped(stop: &CancellationToken, armed: bool) {
    if armed {
        stop.cancelled().await
    } else {
        std::future::pending().await
    }
}

/// What `save:` writes: the first of `json`, `rows`, `text`, `stdout`, else the whole result.
pub fn save_content(result: &Value) -> Vec<u8> {
    for key in ["json", "rows"] {
        if let Some(v) = result.get(key).filter(|v| !v.is_null()) {
            return serde_json::to_vec_pretty(v).unwrap_or_default();
        }
    }
    for key in ["text", "stdout"] {
        if let Some(Value::String(s)) = result.get(key) {
            return s.as_bytes().to_vec();
        }
    }
    serde_json::to_vec_pretty(result).unwrap_or_default()
}
