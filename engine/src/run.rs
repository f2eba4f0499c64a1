//! The run: setup → phases → undo stack → teardown, and the verdict.
use crate::step::{ms_since, now_rfc3339, save_content, Attempts, StepRun};
use crate::verdict::{decide, Facts};
use crate::{ExitCode, Journal, UndoStack};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use testrunner_actions::{find, ActionCtx, SharedState, UndoNote};
use testrunner_reports::{CheckDecl, CheckStatus, Event, RunReport};
use testrunner_scenario::expr::bound_name;
use testrunner_scenario::{
    format_duration, stats, Check, Masker, Scenario, Scope, Span, Step, StepKind, Template,
};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub struct RunOptions {
    pub run_dir: PathBuf,
    pub run_id: String,
    pub command: Vec<String>,
    pub tool_version: String,
    pub git_revision: Option<String>,
    pub host: String,
    /// Compare metrics with this baseline (regression checks in every report).
    pub baseline: Option<crate::Baseline>,
}

/// The first SIGINT/SIGTERM: the CLI cancels `token` and records which signal it was.
#[derive(Clone, Default)]
pub struct Interrupt {
    pub token: CancellationToken,
    pub signal: Arc<Mutex<Option<String>>>,
}

impl Interrupt {
    pub fn fire(&self, signal: &str) {
        self.signal.lock().unwrap().get_or_insert_with(|| signal.to_string());
        self.token.cancel();
    }
    fn name(&self) -> Option<String> {
        self.signal.lock().unwrap().clone()
    }
}

pub struct RunOutcome {
    pub report: RunReport,
    pub exit: ExitCode,
}

struct Background {
    step: Step,
    phase: String,
    /// When it started (run clock, wall clock): what a step cut off at its stop is timed from.
    started_ms: u64,
    started_at: String,
    stop: CancellationToken,
    handle: JoinHandle<StepRun>,
}

struct Runner<'a> {
    sc: &'a Scenario,
    journal: Journal,
    undo: UndoStack,
    interrupt: Interrupt,
    t0: Instant,
    deadline: Instant,
    scope: Scope,
    state: SharedState,
    background: HashMap<String, Background>,
    harness_error: bool,
    phase_failed: bool,
    checks: Vec<(String, CheckStatus)>,
    /// Metrics that could not be computed (last evaluation), with why: a check reading one
    /// is an error naming it.
    metric_errors: HashMap<String, String>,
}

/// A check's judgement before it is reported: status, message, details.
type Judged = (CheckStatus, String, Vec<String>);

pub async fn run(
    sc: &Scenario,
    opts: &RunOptions,
    masker: Arc<Masker>,
    journal: Journal,
    undo: UndoStack,
    interrupt: Interrupt,
) -> RunOutcome {
    let t0 = Instant::now();
    let mut state = SharedState { t0, ..SharedState::new(opts.run_dir.clone(), masker) };
    state.undo_sink = Some(undo_sink(journal.clone(), undo.clone(), t0));
    let mut r = Runner {
        sc,
        journal: journal.clone(),
        undo,
        interrupt,
        t0,
        deadline: t0 + sc.timeout,
        scope: Scope::new(),
        state,
        background: HashMap::new(),
        harness_error: false,
        phase_failed: false,
        checks: vec![],
        metric_errors: HashMap::new(),
    };
    let var_error = r.bind_vars(opts);
    journal.emit(Event::RunStarted {
        run_id: opts.run_id.clone(),
        scenario: sc.id.clone(),
        title: sc.title.clone(),
        description: sc.description.clone(),
        file: sc.file.to_string(),
        fingerprint: sc.fingerprint.clone(),
        at: now_rfc3339(),
        tool_version: opts.tool_version.clone(),
        host: opts.host.clone(),
        command: opts.command.clone(),
        git_revision: opts.git_revision.clone(),
        vars: sc
            .vars
            .iter()
            .filter_map(|v| r.scope.get(&v.name).map(|x| (v.name.clone(), x.clone())))
            .collect(),
        phases: sc
            .phases
            .iter()
            .map(|p| p.name.clone())
            .chain((!sc.final_checks.is_empty()).then(|| "final".to_string()))
            .collect(),
        checks: {
            let mut c = declared_checks(sc, &r.scope);
            if opts.baseline.is_some() {
                c.extend(crate::baseline::declared(sc));
            }
            c
        },
    });

    let mut stop_reason: Option<String> = None;
    if let Some(e) = var_error {
        r.harness("vars", e.clone());
        stop_reason = Some(format!("not run: vars could not be evaluated: {e}"));
    }
    if stop_reason.is_none() {
        if let Some((step, err)) = r.steps(&sc.setup, "setup").await {
            r.harness("setup", format!("step `{step}` failed: {err}"));
            stop_reason = Some(format!("not run: setup failed at step `{step}`"));
        }
        r.stop_background("setup").await;
    }
    for phase in &sc.phases {
        if let Some(reason) =
            stop_reason.clone().or_else(|| r.interrupted().then(|| "not run: interrupted".to_string()))
        {
            r.journal.emit(Event::PhaseSkipped { phase: phase.name.clone(), reason: reason.clone() });
            r.error_checks(&phase.checks, &reason);
            continue;
        }
        if let Some(reason) = r.run_phase(phase).await {
            stop_reason = Some(reason);
        }
    }
    if !sc.final_checks.is_empty() || !sc.final_metrics.is_empty() {
        match stop_reason.clone().or_else(|| r.interrupted().then(|| "not run: interrupted".to_string())) {
            Some(reason) => {
                r.journal.emit(Event::PhaseSkipped { phase: "final".into(), reason: reason.clone() });
                r.error_checks(&sc.final_checks, &reason);
            }
            None => {
                r.metrics(&sc.final_metrics, "final");
                r.eval_checks(&sc.final_checks, None);
            }
        }
    }
    r.hard_fail();
    if let Some(b) = &opts.baseline {
        r.regressions(b);
    }
    r.cleanup().await;

    let interrupted = r.interrupt.name();
    let (verdict, exit) = decide(
        sc,
        &Facts {
            checks: &r.checks,
            harness_error: r.harness_error,
            phase_failed: r.phase_failed,
            interrupted: interrupted.as_deref(),
        },
    );
    journal.emit(Event::RunFinished {
        verdict,
        exit_code: exit.code(),
        at: now_rfc3339(),
        duration_ms: ms_since(t0),
    });
    let events = journal.events();
    RunOutcome { report: RunReport::from_events(&events), exit }
}

/// Write-ahead undo records: journalled (fsynced) the moment an action announces them.
fn undo_sink(journal: Journal, undo: UndoStack, t0: Instant) -> testrunner_actions::UndoSink {
    Arc::new(move |note| match note {
        UndoNote::Intend { step_id, undo: u } => {
            journal.emit(Event::UndoPending {
                key: u.key.clone(),
                description: u.description.clone(),
                action: u.action.to_string(),
                params: u.params.clone(),
                t_ms: ms_since(t0),
            });
            undo.intend(&step_id, u);
        }
        UndoNote::Settled { key } => {
            if undo.settle_intent(&key) {
                journal.emit(Event::UndoSettled {
                    key,
                    reason: "its program ended".into(),
                    t_ms: ms_since(t0),
                });
            }
        }
    })
}

/// The checks as declared, with `${…}` in their threshold text rendered from the vars, so
/// a report shows the threshold that was judged (`--var rto_deadline=30s` → "<= 30s").
fn declared_checks(sc: &Scenario, vars: &Scope) -> Vec<CheckDecl> {
    let threshold = |t: &String| match Template::parse(t, &Span::none())
        .and_then(|tpl| tpl.eval(vars).map_err(|e| (e, 0)))
    {
        Ok(Value::String(s)) => s,
        Ok(v) => v.to_string(),
        Err(_) => t.clone(),
    };
    let decl = |c: &Check| CheckDecl {
        id: c.id.clone(),
        name: c.name.clone(),
        phase: c.phase.clone(),
        expect: c.expect.iter().map(|e| e.source.clone()).collect(),
        metric: c.metric.clone(),
        unit: c.unit.clone(),
        threshold: c.threshold.as_ref().map(threshold),
    };
    let mut v: Vec<CheckDecl> = sc.phases.iter().flat_map(|p| p.checks.iter().map(decl)).collect();
    v.extend(sc.final_checks.iter().map(decl));
    v.extend(sc.hard_fail.iter().map(|h| CheckDecl {
        id: h.id.clone(),
        name: format!("hard_fail: {}", h.message),
        phase: "final".into(),
        expect: vec![format!("!({})", h.expr.source)],
        metric: None,
        unit: None,
        threshold: None,
    }));
    v
}

impl<'a> Runner<'a> {
    fn interrupted(&self) -> bool {
        self.interrupt.token.is_cancelled()
    }

    fn harness(&mut self, stage: &str, message: String) {
        self.harness_error = true;
        self.journal.emit(Event::HarnessError { stage: stage.into(), message, t_ms: ms_since(self.t0) });
    }

    fn bind_vars(&mut self, opts: &RunOptions) -> Option<String> {
        self.scope.set(
            "run",
            json!({"id": opts.run_id, "dir": opts.run_dir.to_string_lossy(), "scenario": self.sc.id, "started_at": now_rfc3339()}),
        );
        for v in &self.sc.vars {
            match v.value.eval(&self.scope) {
                Ok(val) => self.scope.set(v.name.clone(), val),
                Err(e) => return Some(format!("var `{}`: {e}", v.name)),
            }
        }
        None
    }

    /// Runs steps in order; returns the failing step and its error.
    async fn steps(&mut self, steps: &[Step], phase: &str) -> Option<(String, String)> {
        for s in steps {
            if self.interrupted() {
                return Some((s.id.clone(), "interrupted".into()));
            }
            let run = self.step(s, phase, self.interrupt.token.clone(), self.deadline).await;
            if let Some(run) = run {
                if !run.ok && !s.allow_failure {
                    return Some((s.id.clone(), run.error.unwrap_or_default()));
                }
            }
        }
        None
    }

    fn step_scope(&self, s: &Step) -> Result<Scope, String> {
        let mut scope = self.scope.clone();
        if let Some(fs) = &s.scope {
            fs.bind(&mut scope)?;
        }
        Ok(scope)
    }

    /// Runs one step. Returns None for a background step (it finishes at `stop`).
    async fn step(
        &mut self,
        s: &Step,
        phase: &str,
        interrupt: CancellationToken,
        outer: Instant,
    ) -> Option<StepRun> {
        let t = ms_since(self.t0);
        let scope = match self.step_scope(s) {
            Ok(sc) => sc,
            Err(e) => {
                let e = format!("{e} (at {})", s.span);
                return Some(self.finish_inline(s, phase, StepRun::failed(t, t, now_rfc3339(), e)));
            }
        };
        if let Some(w) = &s.when {
            match w.eval_bool(&scope) {
                Ok(true) => {}
                Ok(false) => {
                    let mut run = StepRun::failed(t, t, now_rfc3339(), String::new());
                    run.ok = true;
                    run.error = None;
                    self.scope.set(s.id.clone(), json!({"ok": true, "skipped": true}));
                    self.journal.emit(Event::StepFinished {
                        step: s.id.clone(),
                        phase: phase.into(),
                        action: s.action.clone(),
                        ok: true,
                        error: None,
                        hint: None,
                        allowed_failure: false,
                        skipped: true,
                        started_ms: t,
                        finished_ms: t,
                        attempts: 0,
                        last_miss_ms: None,
                        first_match_ms: None,
                        result: json!({"skipped": true}),
                    });
                    return Some(run);
                }
                Err(e) => {
                    return Some(self.finish_inline(
                        s,
                        phase,
                        StepRun::failed(t, t, now_rfc3339(), format!("when: {e}")),
                    ))
                }
            }
        }
        self.journal.emit(Event::StepStarted {
            step: s.id.clone(),
            phase: phase.into(),
            action: s.action.clone(),
            t_ms: t,
            at: now_rfc3339(),
            background: s.background,
            // What the action declares (a fault, a chart): reports read it from the journal.
            traits: find(&s.action).map(|a| a.spec().traits).unwrap_or_default(),
        });
        let params = match s.params.eval(&scope) {
            Ok(p) => p,
            Err(e) => {
                let run = StepRun::failed(
                    t,
                    ms_since(self.t0),
                    now_rfc3339(),
                    format!("cannot evaluate parameters: {e} (at {})", s.span),
                );
                return Some(self.finish_inline(s, phase, run));
            }
        };
        match s.kind {
            StepKind::Assert => {
                let run = self.assert(s, &scope, &params, t);
                return Some(self.finish_inline(s, phase, run));
            }
            StepKind::Stop => {
                let run = self.stop_step(s, &params, t).await;
                return Some(self.finish_inline(s, phase, run));
            }
            StepKind::Wait => {
                let run = self.wait_step(s, &params, t).await;
                return Some(self.finish_inline(s, phase, run));
            }
            StepKind::Action | StepKind::Set | StepKind::Log => {}
        }
        let Some(action) = find(&s.action) else {
            let run =
                StepRun::failed(t, t, now_rfc3339(), format!("action `{}` is not registered", s.action));
            return Some(self.finish_inline(s, phase, run));
        };
        // A `${…}` value is converted to the type its slot takes, or refused here with
        // where it is written (not by the action's decoder, which knows no place).
        let params = match testrunner_scenario::conform_params(
            &s.action,
            &s.params,
            params,
            &action.spec().params,
            &self.sc.sources,
        ) {
            Ok(p) => p,
            Err(e) => {
                let run =
                    StepRun::failed(t, ms_since(self.t0), now_rfc3339(), format!("invalid parameters: {e}"));
                return Some(self.finish_inline(s, phase, run));
            }
        };
        let timeout = match (s.timeout, s.background) {
            (Some(t), _) => t,
            // A background step lives until it is stopped; the run's deadline bounds it.
            (None, true) => outer.saturating_duration_since(Instant::now()),
            (None, false) => self.sc.defaults.step_timeout,
        };
        let deadline = (Instant::now() + timeout).min(outer);
        let mut self_names = vec![s.id.clone()];
        if let Some(fs) = &s.scope {
            self_names
                .extend(fs.aliases.iter().filter(|(_, full)| *full == s.id).map(|(short, _)| short.clone()));
        }
        let stop = if s.background { CancellationToken::new() } else { interrupt.child_token() };
        let attempts = Attempts {
            action,
            step_id: s.id.clone(),
            self_names,
            params,
            until: s.until.clone(),
            interval: s.interval.unwrap_or(self.sc.defaults.interval),
            retries: s.retries,
            timeout,
            deadline,
            scope,
            state: self.state.clone(),
            journal: self.journal.clone(),
            t0: self.t0,
            stop: stop.clone(),
            interrupt: if s.background { CancellationToken::new() } else { interrupt },
        };
        if s.background {
            let (started_ms, started_at) = (ms_since(self.t0), now_rfc3339());
            let handle = tokio::spawn(attempts.run());
            self.background.insert(
                s.id.clone(),
                Background { step: s.clone(), phase: phase.into(), started_ms, started_at, stop, handle },
            );
            return None;
        }
        let run = attempts.run().await;
        Some(self.finish_inline(s, phase, run))
    }

    fn assert(&self, s: &Step, scope: &Scope, params: &Value, t: u64) -> StepRun {
        let mut failures = vec![];
        for e in &s.assertions {
            match e.eval_bool(scope) {
                Ok(true) => {}
                Ok(false) => {
                    failures.push(format!("`{}` is false ({})", e.source, e.explain(scope).join(", ")))
                }
                Err(err) => failures.push(err),
            }
        }
        let mut run = StepRun::failed(t, ms_since(self.t0), now_rfc3339(), String::new());
        run.attempts = 1;
        if failures.is_empty() {
            run.ok = true;
            run.error = None;
        } else {
            let msg =
                params.get("message").and_then(Value::as_str).map(|m| format!("{m}: ")).unwrap_or_default();
            run.error = Some(format!("{msg}{}", failures.join("; ")));
        }
        run
    }

    async fn stop_step(&mut self, s: &Step, params: &Value, t: u64) -> StepRun {
        let target = params.as_str().unwrap_or_default().to_string();
        let mut run = StepRun::failed(t, t, now_rfc3339(), String::new());
        run.attempts = 1;
        match self.background.remove(&target) {
            Some(bg) => {
                let limit = s.timeout.unwrap_or(self.sc.defaults.step_timeout);
                let ok = self.finish_background(bg, limit).await;
                run.ok = ok;
                run.error = (!ok).then(|| format!("background step `{target}` failed"));
            }
            None => {
                run.error = Some(format!("`{target}` is not running (already stopped, or never started)"))
            }
        }
        run.finished_ms = ms_since(self.t0);
        run
    }

    /// `wait: { any | all: [ids] }`: waits (bounded by its own timeout) for the first / every
    /// named background poll to end, records their results and says which matched and when.
    /// With `any`, the polls still running when one matched are stopped, and they and the
    /// ones that ended without a match are recorded as allowed failures: losing a race is
    /// not a failure.
    async fn wait_step(&mut self, s: &Step, params: &Value, t: u64) -> StepRun {
        let all = params.get("all").is_some();
        let ids: Vec<String> = params
            .get(if all { "all" } else { "any" })
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).map(String::from).collect())
            .unwrap_or_default();
        let mut run = StepRun::failed(t, t, now_rfc3339(), String::new());
        run.attempts = 1;
        let missing: Vec<&String> = ids.iter().filter(|id| !self.background.contains_key(*id)).collect();
        if !missing.is_empty() {
            let names = missing.iter().map(|m| format!("`{m}`")).collect::<Vec<_>>().join(", ");
            run.error = Some(format!("{names} not running (already ended, or never started)"));
            run.finished_ms = ms_since(self.t0);
            return run;
        }
        let mut polls: Vec<Background> = ids.iter().filter_map(|id| self.background.remove(id)).collect();
        let mut results: Vec<Option<StepRun>> = polls.iter().map(|_| None).collect();
        let timeout = s.timeout.unwrap_or(self.sc.defaults.step_timeout);
        let deadline = (Instant::now() + timeout).min(self.deadline);
        let mut winner: Option<usize> = None;
        let mut cut_short: Option<String> = None;
        while winner.is_none() || all {
            let open: Vec<usize> = (0..polls.len()).filter(|i| results[*i].is_none()).collect();
            if open.is_empty() {
                break;
            }
            let handles = polls
                .iter_mut()
                .enumerate()
                .filter(|(i, _)| results[*i].is_none())
                .map(|(_, b)| &mut b.handle);
            let next = tokio::select! {
                biased;
                _ = self.interrupt.token.cancelled() => Err("interrupted".to_string()),
                _ = tokio::time::sleep_until(deadline.into()) => Err(format!("deadline {} exceeded", format_duration(timeout))),
                (res, pos, _) = futures::future::select_all(handles) => Ok((open[pos], res)),
            };
            match next {
                Ok((i, res)) => {
                    let b = &polls[i];
                    let r = res.unwrap_or_else(|e| {
                        StepRun::failed(
                            b.started_ms,
                            ms_since(self.t0),
                            b.started_at.clone(),
                            format!("background task failed: {e}"),
                        )
                    });
                    if r.ok && winner.is_none() {
                        winner = Some(i);
                    }
                    results[i] = Some(r);
                }
                Err(e) => {
                    run.interrupted = self.interrupted();
                    cut_short = Some(e);
                    break;
                }
            }
        }
        // Stop the polls still running (bounded: a poll ends at its next attempt boundary).
        let limit = self.sc.defaults.step_timeout;
        for (i, b) in polls.iter_mut().enumerate() {
            if results[i].is_some() {
                continue;
            }
            b.stop.cancel();
            let r = match tokio::time::timeout(limit, &mut b.handle).await {
                Ok(Ok(r)) => r,
                Ok(Err(e)) => StepRun::failed(
                    b.started_ms,
                    ms_since(self.t0),
                    b.started_at.clone(),
                    format!("background task failed: {e}"),
                ),
                Err(_) => {
                    b.handle.abort();
                    StepRun::failed(
                        b.started_ms,
                        ms_since(self.t0),
                        b.started_at.clone(),
                        format!("did not stop within {}", format_duration(limit)),
                    )
                }
            };
            results[i] = Some(r);
        }
        let win_id = winner.map(|w| polls[w].step.id.clone());
        let mut matched: Vec<(u64, String, Option<u64>)> = vec![];
        let mut misses: Vec<String> = vec![];
        for (b, r) in polls.iter().zip(results) {
            let mut r = r.expect("every poll has a result");
            let mut step = b.step.clone();
            if r.ok {
                matched.push((r.first_match_ms.unwrap_or(r.finished_ms), step.id.clone(), r.last_miss_ms));
            } else {
                misses.push(format!("`{}`: {}", step.id, r.error.clone().unwrap_or_default()));
                if let (false, Some(w)) = (all, &win_id) {
                    step.allow_failure = true;
                    r.error = Some(format!("`{w}` matched first; {}", r.error.unwrap_or_default()));
                }
            }
            self.finish_inline(&step, &b.phase, r);
        }
        matched.sort();
        let first = matched.first();
        run.output.insert("winner".into(), json!(first.map(|m| m.1.clone())));
        run.output.insert("matched".into(), json!(matched.iter().map(|m| m.1.clone()).collect::<Vec<_>>()));
        run.ok = cut_short.is_none() && if all { misses.is_empty() } else { winner.is_some() };
        if run.ok {
            run.error = None;
            // The moment waited for lies in (last_miss_ms, first_match_ms]: the first match
            // for `any`, the last of them for `all`.
            let decisive = if all { matched.last() } else { first };
            run.first_match_ms = decisive.map(|m| m.0);
            run.last_miss_ms =
                if all { matched.iter().filter_map(|m| m.2).max() } else { first.and_then(|m| m.2) };
        } else {
            let why = cut_short.map(|c| format!("{c}; ")).unwrap_or_default();
            let what = if all { "not every poll matched" } else { "no poll matched" };
            run.error = Some(format!("{why}{what}: {}", misses.join("; ")));
        }
        run.finished_ms = ms_since(self.t0);
        run
    }

    /// Asks a background step to stop, waits (bounded) for its result and records it.
    async fn finish_background(&mut self, bg: Background, limit: Duration) -> bool {
        bg.stop.cancel();
        // The attempt loop ends a stopped action after STOP_GRACE; `limit` is the backstop.
        let limit = limit.max(crate::step::STOP_GRACE + Duration::from_secs(1));
        let Background { step, phase, handle, started_ms: t, started_at, .. } = bg;
        let abort = handle.abort_handle();
        let run = match tokio::time::timeout(limit, handle).await {
            Ok(Ok(run)) => run,
            Ok(Err(e)) => {
                StepRun::failed(t, ms_since(self.t0), started_at, format!("background task failed: {e}"))
            }
            Err(_) => {
                abort.abort();
                StepRun::failed(
                    t,
                    ms_since(self.t0),
                    started_at,
                    format!("did not stop within {} of being asked to", format_duration(limit)),
                )
            }
        };
        // After finish_inline: a `save:` that cannot be written fails the step too.
        let run = self.finish_inline(&step, &phase, run);
        run.ok || step.allow_failure
    }

    /// At the end of a block (an iteration of a phase, setup, teardown): its background
    /// steps end, except those a `stop:` or `wait:` in a later phase ends (they live on
    /// until then, or until the end of the run).
    async fn stop_background(&mut self, phase: &str) {
        let sc = self.sc;
        let ended_later = |id: &str| {
            sc.phases
                .iter()
                .filter(|p| p.name != phase)
                .flat_map(|p| &p.steps)
                .any(|s| s.ends().contains(&id))
        };
        let ids: Vec<String> = self
            .background
            .iter()
            .filter(|(id, b)| b.phase == phase && !ended_later(id))
            .map(|(k, _)| k.clone())
            .collect();
        for id in ids {
            if let Some(bg) = self.background.remove(&id) {
                let limit = self.sc.defaults.step_timeout;
                if !self.finish_background(bg, limit).await {
                    self.phase_failed = true;
                }
            }
        }
    }

    /// Records a finished step: journal, scope, undo stack, evidence.
    fn finish_inline(&mut self, s: &Step, phase: &str, mut run: StepRun) -> StepRun {
        let mut announced = self.undo.take_intents(&s.id);
        if let Some(outcome) = run.outcome.take() {
            if run.ok {
                for key in &outcome.resolves {
                    if self.undo.resolve(key) {
                        self.journal.emit(Event::UndoSettled {
                            key: key.clone(),
                            reason: format!("restored by step `{}`", s.id),
                            t_ms: ms_since(self.t0),
                        });
                    }
                }
                for u in outcome.undo.clone() {
                    // Not announced before the change: recorded now, as early as it can be.
                    if !announced.iter().any(|a| a.key == u.key) {
                        self.journal.emit(Event::UndoPending {
                            key: u.key.clone(),
                            description: u.description.clone(),
                            action: u.action.to_string(),
                            params: u.params.clone(),
                            t_ms: ms_since(self.t0),
                        });
                    }
                    announced.retain(|a| a.key != u.key);
                    self.undo.push(u);
                }
            }
            run.outcome = Some(outcome);
        }
        // Announced but not confirmed: the step failed before the change, or its program ended.
        for a in announced {
            let reason = if run.ok { "ended with its step" } else { "not applied: the step failed" };
            self.journal.emit(Event::UndoSettled {
                key: a.key,
                reason: reason.into(),
                t_ms: ms_since(self.t0),
            });
        }
        if s.kind == StepKind::Set && run.ok {
            for (k, v) in &run.output {
                self.scope.set(k.clone(), v.clone());
            }
        }
        if s.kind == StepKind::Log && run.ok {
            let msg = run.output.get("message").and_then(Value::as_str).unwrap_or_default().to_string();
            self.journal.emit(Event::Log { step: Some(s.id.clone()), t_ms: run.finished_ms, message: msg });
        }
        let mut result = run.result();
        // Before the save: its file name may read the step's own result.
        self.scope.set(s.id.clone(), result.clone());
        if let Some(save) = &s.save {
            // Evidence the scenario promised is part of the step: a save that cannot be
            // written fails a step that had succeeded (a failed one keeps its own error).
            if let Err(e) = self.save(s, save, &result) {
                if run.ok {
                    run.ok = false;
                    run.error = Some(e);
                    run.hint =
                        Some("`save:` names a file inside evidence/ (no `..`, no absolute path)".into());
                    result = run.result();
                    self.scope.set(s.id.clone(), result.clone());
                }
            }
        }
        self.journal.emit(Event::StepFinished {
            step: s.id.clone(),
            phase: phase.into(),
            action: s.action.clone(),
            ok: run.ok,
            error: run.error.clone(),
            hint: run.hint.clone(),
            allowed_failure: !run.ok && s.allow_failure,
            skipped: false,
            started_ms: run.started_ms,
            finished_ms: run.finished_ms,
            attempts: run.attempts,
            last_miss_ms: run.last_miss_ms,
            first_match_ms: run.first_match_ms,
            result: trim(result),
        });
        run
    }

    fn save(&mut self, s: &Step, save: &testrunner_scenario::Template, result: &Value) -> Result<(), String> {
        let scope = self.step_scope(s).unwrap_or_else(|_| self.scope.clone());
        let name = match save.eval(&scope) {
            Ok(Value::String(n)) => n,
            Ok(other) => other.to_string(),
            Err(e) => return Err(format!("save: {e}")),
        };
        let ctx = ActionCtx {
            step_id: s.id.clone(),
            state: self.state.clone(),
            deadline: Instant::now(),
            stop: CancellationToken::new(),
        };
        let path = ctx
            .write_evidence(&name, &save_content(result))
            .map_err(|e| format!("save `{name}` failed: {}", e.message))?;
        self.journal.emit(Event::Evidence { path, step: Some(s.id.clone()) });
        Ok(())
    }

    /// Runs a phase (all iterations); returns why later phases must not run, if any.
    async fn run_phase(&mut self, phase: &testrunner_scenario::Phase) -> Option<String> {
        if let Some(w) = &phase.when {
            match w.eval_bool(&self.scope) {
                Ok(true) => {}
                Ok(false) => {
                    let reason = format!("skipped: `when: {}` was false", w.source);
                    self.journal
                        .emit(Event::PhaseSkipped { phase: phase.name.clone(), reason: reason.clone() });
                    self.error_checks(&phase.checks, &reason);
                    return None;
                }
                Err(e) => {
                    let reason = format!("not run: phase `{}` when: {e}", phase.name);
                    self.journal
                        .emit(Event::PhaseSkipped { phase: phase.name.clone(), reason: reason.clone() });
                    self.error_checks(&phase.checks, &reason);
                    self.phase_failed = true;
                    return Some(reason);
                }
            }
        }
        let items: Result<Vec<Value>, String> = match (&phase.repeat, &phase.for_each) {
            (Some(n), _) => match n.eval(&self.scope) {
                Ok(v) => match v.as_u64() {
                    Some(k) => Ok((0..k).map(|i| json!(i)).collect()),
                    None => Err(format!(
                        "repeat: `{}` is {v}, not a whole number (0 or more)",
                        n.as_written().as_str().unwrap_or_default()
                    )),
                },
                Err(e) => Err(format!("repeat: {e}")),
            },
            (None, Some(p)) => match p.eval(&self.scope) {
                Ok(Value::Array(a)) => Ok(a),
                Ok(other) => Err(format!(
                    "for_each: `{}` is {other}, not a list",
                    p.as_written().as_str().unwrap_or_default()
                )),
                Err(e) => Err(format!("for_each: {e}")),
            },
            (None, None) => Ok(vec![Value::Null]),
        };
        let items = match items {
            Ok(items) => items,
            Err(e) => {
                let reason = format!("not run: phase `{}` ({}): {e}", phase.name, phase.span);
                self.journal.emit(Event::PhaseSkipped { phase: phase.name.clone(), reason: reason.clone() });
                self.error_checks(&phase.checks, &reason);
                self.phase_failed = true;
                return Some(reason);
            }
        };
        let repeated = phase.is_repeated();
        // In a repeated phase a check must hold in every iteration; one that reads a series
        // field of the phase's metrics (`m.max`, `m.count`) exists only after the last one.
        let (series_checks, iter_checks): (Vec<&Check>, Vec<&Check>) =
            phase.checks.iter().partition(|c| !repeated || reads_series(c, phase));
        let mut judged: HashMap<String, Vec<(usize, Judged)>> = HashMap::new();
        let mut series: HashMap<String, Vec<f64>> = HashMap::new();
        let mut metric_errs: HashMap<String, Vec<String>> = HashMap::new();
        let mut failure: Option<(String, String)> = None;
        let mut failed_at = 0usize;
        for (i, item) in items.iter().enumerate() {
            if repeated {
                self.scope.set("loop", json!({"index": i, "item": item, "count": items.len()}));
            }
            self.journal.emit(Event::PhaseStarted {
                phase: phase.name.clone(),
                iteration: repeated.then_some(i as u32),
                t_ms: ms_since(self.t0),
            });
            failure = self.steps(&phase.steps, &phase.name).await;
            self.stop_background(&phase.name).await;
            if failure.is_some() {
                failed_at = i;
                break;
            }
            if repeated {
                for m in &phase.metrics {
                    match self.eval_metric(m) {
                        Ok((v, interval)) => {
                            if let Some(x) = v.as_f64() {
                                series.entry(m.name.clone()).or_default().push(x);
                            }
                            self.set_metric(&m.name, v, interval);
                        }
                        Err(e) => {
                            // Never judge an iteration with the previous iteration's value.
                            self.unset_metric(&m.name, &e);
                            metric_errs
                                .entry(m.name.clone())
                                .or_default()
                                .push(format!("iteration {i}: {e}"));
                        }
                    }
                }
                if !self.interrupted() {
                    for c in &iter_checks {
                        let j = self.judge(c, None);
                        judged.entry(c.id.clone()).or_default().push((i, j));
                    }
                }
            }
        }
        let ok = failure.is_none() && !self.interrupted();
        if !ok {
            self.phase_failed = true;
        }
        self.journal.emit(Event::PhaseFinished {
            phase: phase.name.clone(),
            ok,
            failed_step: failure.as_ref().map(|(s, _)| s.clone()),
            t_ms: ms_since(self.t0),
        });
        if repeated {
            for m in &phase.metrics {
                let values = series.remove(&m.name).unwrap_or_default();
                let mut errors = metric_errs.remove(&m.name).unwrap_or_default();
                if values.is_empty() && errors.is_empty() {
                    if self.interrupted() {
                        continue;
                    }
                    errors.push("no iteration completed".into());
                }
                let summary = (!values.is_empty()).then(|| stats::summary(&values));
                let error = (!errors.is_empty()).then(|| errors.join("; "));
                self.scope.remove(&bound_name(&m.name, "lo"));
                self.scope.remove(&bound_name(&m.name, "hi"));
                match &summary {
                    Some(s) => self.scope.set(m.name.clone(), s.clone()),
                    None => self.scope.remove(&m.name),
                }
                match &error {
                    Some(e) => self.metric_failed(&m.name, e),
                    None => {
                        self.metric_errors.remove(&m.name);
                    }
                }
                self.journal.emit(Event::Metric {
                    name: m.name.clone(),
                    phase: phase.name.clone(),
                    value: summary.as_ref().map(|s| s["median"].clone()).unwrap_or(Value::Null),
                    unit: m.unit.clone(),
                    series: summary,
                    interval: None,
                    error,
                });
            }
        } else if !self.interrupted() {
            // Also after a failed step: a metric whose inputs exist (the RTO, measured before
            // a later step failed) is still a measurement; the others are logged as missing.
            self.metrics(&phase.metrics, &phase.name);
        }
        if self.interrupted() {
            // Cut short: the steps a check depends on may not have run to the end, so no
            // check of this phase is judged, even one that would evaluate.
            let reason = "not run: interrupted".to_string();
            self.error_checks(&phase.checks, &reason);
            return Some(reason);
        }
        let reason = failure
            .map(|(step, err)| format!("not run: phase `{}` failed at step `{step}`: {err}", phase.name));
        let series_checks: Vec<Check> = series_checks.into_iter().cloned().collect();
        self.eval_checks(&series_checks, reason.as_deref());
        for c in iter_checks {
            let mut results = judged.remove(&c.id).unwrap_or_default();
            if reason.is_some() {
                // The iteration cut short by the failed step is judged too.
                results.push((failed_at, self.judge(c, reason.as_deref())));
            }
            self.emit_iterated(c, results);
        }
        reason
    }

    /// Reports a check of a repeated phase from its judgement in each iteration: it passes
    /// only if it held in every one; otherwise it names the iterations and their values.
    fn emit_iterated(&mut self, c: &Check, results: Vec<(usize, Judged)>) {
        let n = results.len();
        let bad: Vec<&(usize, Judged)> = results.iter().filter(|(_, j)| j.0 != CheckStatus::Pass).collect();
        let (status, message, details) = match bad.first() {
            None => (CheckStatus::Pass, format!("all expectations hold in all {n} iterations"), vec![]),
            Some((first, (_, msg, _))) => {
                let status = if bad.iter().any(|(_, j)| j.0 == CheckStatus::Fail) {
                    CheckStatus::Fail
                } else {
                    CheckStatus::Error
                };
                let list: Vec<String> = bad.iter().map(|(i, _)| i.to_string()).collect();
                let message = if bad.len() == 1 {
                    format!("failed in iteration {first} (loop.index) of {n}: {msg}")
                } else {
                    format!(
                        "failed in {} of {n} iterations (loop.index {}); iteration {first}: {msg}",
                        bad.len(),
                        list.join(", ")
                    )
                };
                let mut details = vec![];
                for (i, (_, msg, ds)) in &bad {
                    if ds.is_empty() {
                        details.push(format!("iteration {i}: {msg}"));
                    }
                    details.extend(ds.iter().map(|d| format!("iteration {i}: {d}")));
                }
                (status, message, details)
            }
        };
        let failed_iterations = bad.iter().map(|(i, _)| *i as u32).collect();
        let value = c.metric.as_ref().and_then(|m| self.scope.get(m).cloned());
        self.checks.push((c.id.clone(), status));
        self.journal.emit(Event::Check {
            id: c.id.clone(),
            status,
            message,
            details,
            value,
            failed_iterations,
            t_ms: ms_since(self.t0),
        });
    }

    /// A metric's value and, when it reads a polled step's `first_match_ms` (or
    /// `first_match_started_ms`), its interval: the same expression evaluated with that
    /// step's `last_miss_ms` in its place (the step's start when the first attempt
    /// matched) gives the other bound; with several polled steps, every combination.
    fn eval_metric(&self, m: &testrunner_scenario::MetricDef) -> Result<(Value, Option<(f64, f64)>), String> {
        let v = m.value.eval(&self.scope)?;
        let Some(x) = v.as_f64() else { return Ok((v, None)) };
        let mut polled: Vec<String> = vec![];
        for (root, fields) in m.value.paths() {
            let matched = matches!(
                fields.as_slice(),
                [f] if f == "first_match_ms" || f == "first_match_started_ms"
            );
            let has_match =
                self.scope.get(&root).and_then(|r| r.get("first_match_ms")).is_some_and(|t| !t.is_null());
            if matched && has_match && !polled.contains(&root) && polled.len() < 4 {
                polled.push(root);
            }
        }
        if polled.is_empty() {
            return Ok((v, None));
        }
        let (mut lo, mut hi) = (x, x);
        for mask in 1u32..(1 << polled.len()) {
            let mut scope = self.scope.clone();
            for (k, root) in polled.iter().enumerate().filter(|(k, _)| mask & (1 << k) != 0) {
                let Some(mut r) = scope.get(root).cloned() else { continue };
                let other = [r.get("last_miss_ms"), r.get("started_ms")]
                    .into_iter()
                    .flatten()
                    .find(|t| !t.is_null())
                    .cloned()
                    .unwrap_or(Value::Null);
                r["first_match_ms"] = other.clone();
                r["first_match_started_ms"] = other;
                let _ = k;
                scope.set(root.clone(), r);
            }
            if let Some(y) = m.value.eval(&scope).ok().and_then(|y| y.as_f64()) {
                lo = lo.min(y);
                hi = hi.max(y);
            }
        }
        Ok((v, Some((lo, hi))))
    }

    /// Binds a computed metric, and its bounds as `<name>.lo` / `<name>.hi`.
    fn set_metric(&mut self, name: &str, v: Value, interval: Option<(f64, f64)>) {
        self.scope.set(name, v);
        self.metric_errors.remove(name);
        for (b, x) in [("lo", interval.map(|i| i.0)), ("hi", interval.map(|i| i.1))] {
            match x {
                Some(x) => self.scope.set(bound_name(name, b), number(x)),
                None => self.scope.remove(&bound_name(name, b)),
            }
        }
    }

    /// A metric that could not be computed has no value (not a stale one) and is an error.
    fn unset_metric(&mut self, name: &str, error: &str) {
        self.scope.remove(name);
        self.scope.remove(&bound_name(name, "lo"));
        self.scope.remove(&bound_name(name, "hi"));
        self.metric_errors.insert(name.to_string(), error.to_string());
    }

    /// Records an uncomputable metric for the verdict (an error, as a check would be).
    fn metric_failed(&mut self, name: &str, error: &str) {
        self.metric_errors.insert(name.to_string(), error.to_string());
        self.checks.push((format!("metric {name}"), CheckStatus::Error));
    }

    fn metrics(&mut self, metrics: &[testrunner_scenario::MetricDef], phase: &str) {
        for m in metrics {
            let (value, interval, error) = match self.eval_metric(m) {
                Ok((v, interval)) => {
                    self.set_metric(&m.name, v.clone(), interval);
                    (v, interval, None)
                }
                Err(e) => {
                    self.unset_metric(&m.name, &e);
                    self.metric_failed(&m.name, &e);
                    (Value::Null, None, Some(e))
                }
            };
            self.journal.emit(Event::Metric {
                name: m.name.clone(),
                phase: phase.into(),
                value,
                unit: m.unit.clone(),
                series: None,
                interval: interval.map(|(lo, hi)| [lo, hi]),
                error,
            });
        }
    }

    /// Evaluates checks. `failed` says why their phase did not complete: a check that can
    /// still be judged is judged; one whose inputs are missing is an error naming the reason.
    fn eval_checks(&mut self, checks: &[Check], failed: Option<&str>) {
        for c in checks {
            let (status, message, details) = self.judge(c, failed);
            let value = c.metric.as_ref().and_then(|m| self.scope.get(m).cloned());
            self.checks.push((c.id.clone(), status));
            self.journal.emit(Event::Check {
                id: c.id.clone(),
                status,
                message,
                details,
                value,
                failed_iterations: vec![],
                t_ms: ms_since(self.t0),
            });
        }
    }

    /// Judges one check against the current scope.
    fn judge(&self, c: &Check, failed: Option<&str>) -> Judged {
        // A check that reads an uncomputable metric is an error naming it, never a pass.
        let unknown = c.expect.iter().flat_map(|e| e.roots()).find_map(|r| {
            self.metric_errors
                .get(&r)
                .map(|why| format!("reads metric `{r}`, which could not be computed: {why}"))
        });
        {
            let mut details = vec![];
            let mut status = CheckStatus::Pass;
            let mut message = String::new();
            for e in &c.expect {
                match e.eval_bool(&self.scope) {
                    Ok(true) => {}
                    Ok(false) => {
                        if status == CheckStatus::Pass {
                            status = CheckStatus::Fail;
                            message = format!("expected `{}`", e.source);
                        }
                        details.push(format!(
                            "`{}` is false: {}",
                            e.source,
                            e.explain(&self.scope).join(", ")
                        ));
                    }
                    Err(err) => {
                        status = CheckStatus::Error;
                        message = match failed {
                            Some(reason) => reason.to_string(),
                            None => format!("cannot evaluate `{}`: {err}", e.source),
                        };
                        details.push(err);
                        break;
                    }
                }
            }
            match (status, unknown) {
                // Decided without the metric (`rto.ok && rto_ms <= x` with no promotion):
                // a real failure, with the missing metric said beside it.
                (CheckStatus::Fail, Some(msg)) => details.push(msg),
                // Otherwise it can never pass on a value that does not exist.
                (_, Some(msg)) => {
                    return (
                        CheckStatus::Error,
                        failed.map(str::to_string).unwrap_or_else(|| msg.clone()),
                        vec![msg],
                    )
                }
                (CheckStatus::Pass, None) => message = "all expectations hold".into(),
                _ => {}
            }
            (status, message, details)
        }
    }

    fn error_checks(&mut self, checks: &[Check], reason: &str) {
        for c in checks {
            self.checks.push((c.id.clone(), CheckStatus::Error));
            self.journal.emit(Event::Check {
                id: c.id.clone(),
                status: CheckStatus::Error,
                message: reason.to_string(),
                details: vec![],
                value: None,
                failed_iterations: vec![],
                t_ms: ms_since(self.t0),
            });
        }
    }

    fn hard_fail(&mut self) {
        for h in &self.sc.hard_fail {
            let (status, message, details) = match h.expr.eval_bool(&self.scope) {
                Ok(false) => (CheckStatus::Pass, "invariant holds".to_string(), vec![]),
                Ok(true) => (
                    CheckStatus::Fail,
                    format!("HARD FAIL: {}", h.message),
                    vec![format!("`{}` is true: {}", h.expr.source, h.expr.explain(&self.scope).join(", "))],
                ),
                Err(e) => (CheckStatus::Error, format!("cannot evaluate `{}`", h.expr.source), vec![e]),
            };
            self.checks.push((h.id.clone(), status));
            self.journal.emit(Event::Check {
                id: h.id.clone(),
                status,
                message,
                details,
                value: None,
                failed_iterations: vec![],
                t_ms: ms_since(self.t0),
            });
        }
    }

    fn regressions(&mut self, b: &crate::Baseline) {
        let mut values = std::collections::BTreeMap::new();
        for e in self.journal.events() {
            if let Event::Metric { name, value, .. } = e {
                if let Some(v) = value.as_f64() {
                    values.insert(name, v);
                }
            }
        }
        for (id, status, mut message) in crate::baseline::evaluate(self.sc, b, &values) {
            let name = id.trim_start_matches("BASELINE-");
            if let Some(why) = self.metric_errors.get(name).filter(|_| status == CheckStatus::Error) {
                message =
                    format!("{name} could not be computed ({why}): nothing to compare with the baseline");
            }
            let value = values.get(name).map(|v| json!(v));
            self.checks.push((id.clone(), status));
            self.journal.emit(Event::Check {
                id,
                status,
                message,
                details: vec![],
                value,
                failed_iterations: vec![],
                t_ms: ms_since(self.t0),
            });
        }
    }

    /// Background steps still running, the undo stack, then teardown — within the
    /// teardown budget, whatever happened before.
    async fn cleanup(&mut self) {
        let budget = self.sc.defaults.teardown_timeout;
        let deadline = Instant::now() + budget;
        let ids: Vec<String> = self.background.keys().cloned().collect();
        for id in ids {
            if let Some(bg) = self.background.remove(&id) {
                let limit = deadline.saturating_duration_since(Instant::now()).min(Duration::from_secs(30));
                self.finish_background(bg, limit).await;
            }
        }
        if let Some(sig) = self.interrupt.name() {
            self.journal.emit(Event::Interrupted { signal: sig, t_ms: ms_since(self.t0) });
        }
        while let Some(u) = self.undo.pop() {
            let t = ms_since(self.t0);
            let remaining = deadline.saturating_duration_since(Instant::now());
            let result = match find(u.action) {
                None => Err(format!("undo action `{}` is not registered", u.action)),
                Some(_) if remaining.is_zero() => Err("teardown budget exhausted".to_string()),
                Some(action) => {
                    let ctx = ActionCtx {
                        step_id: format!("undo:{}", u.key),
                        state: self.state.clone(),
                        deadline: Instant::now() + remaining.min(Duration::from_secs(60)),
                        stop: CancellationToken::new(),
                    };
                    match tokio::time::timeout_at(ctx.deadline.into(), action.run(u.params.clone(), &ctx))
                        .await
                    {
                        Ok(Ok(_)) => Ok(()),
                        Ok(Err(e)) => Err(e.message),
                        Err(_) => Err("deadline exceeded".into()),
                    }
                }
            };
            let _ = t;
            if let Err(e) = &result {
                self.harness_error = true;
                self.journal.emit(Event::HarnessError {
                    stage: "undo".into(),
                    message: format!("could not {}: {e}", u.description),
                    t_ms: ms_since(self.t0),
                });
            }
            self.journal.emit(Event::Undo {
                key: u.key.clone(),
                description: u.description.clone(),
                ok: result.is_ok(),
                error: result.err(),
                t_ms: ms_since(self.t0),
            });
        }
        let never = CancellationToken::new();
        for s in &self.sc.teardown {
            if Instant::now() >= deadline {
                self.harness(
                    "teardown",
                    format!("teardown budget {} exhausted before `{}`", format_duration(budget), s.id),
                );
                break;
            }
            if let Some(run) = self.step(s, "teardown", never.clone(), deadline).await {
                if !run.ok && !s.allow_failure {
                    self.harness(
                        "teardown",
                        format!("step `{}` failed: {}", s.id, run.error.unwrap_or_default()),
                    );
                }
            }
        }
        self.stop_background("teardown").await;
    }
}

/// Keeps the journal readable: very long strings in results are cut (evidence has them whole).
fn trim(v: Value) -> Value {
    match v {
        Value::String(s) if s.len() > 16_384 => {
            let cut: String = s.chars().take(16_384).collect();
            Value::String(format!("{cut}… [{} bytes total]", s.len()))
        }
        Value::Array(a) if a.len() > 2000 => {
            let n = a.len();
            let mut kept: Vec<Value> = a.into_iter().take(2000).map(trim).collect();
            kept.push(Value::String(format!("… [{n} items total]")));
            Value::Array(kept)
        }
        Value::Array(a) => Value::Array(a.into_iter().map(trim).collect()),
        Value::Object(m) => Value::Object(m.into_iter().map(|(k, v)| (k, trim(v))).collect()),
        other => other,
    }
}

/// Whether a check reads a series field (`m.max`, `m.count`, …) of one of its repeated
/// phase's metrics: such a check is judged once, after the last iteration.
fn reads_series(c: &Check, phase: &testrunner_scenario::Phase) -> bool {
    c.expect.iter().flat_map(|e| e.paths()).any(|(root, fields)| {
        phase.metrics.iter().any(|m| m.name == root) && fields.first().is_some_and(|f| f != "lo" && f != "hi")
    })
}

/// A bound as JSON: whole milliseconds stay integers.
fn number(x: f64) -> Value {
    if x.fract() == 0.0 && x.abs() < 1e15 {
        json!(x as i64)
    } else {
        json!(x)
    }
}
