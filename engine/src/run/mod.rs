//! The run: setup → phases → undo stack → teardown, and the verdict.
mod background;
mod cleanup;
mod judge;
mod phase;
mod reads;
mod steps;

use crate::step::{ms_since, now_rfc3339};
use crate::verdict::{decide, Facts};
use crate::{EngineError, ExitCode, Journal, UndoStack};
use background::Background;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Instant;
use testrunner_actions::{SharedState, UndoNote};
use testrunner_events::{CheckDecl, CheckStatus, Event, Verdict};
use testrunner_scenario::{Check, Masker, Scenario, Scope, Span, Template};
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

/// How the run ended; the report is what the journal's subscribers folded.
pub struct RunOutcome {
    pub verdict: Verdict,
    pub exit: ExitCode,
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
    /// The names expressions read: the step results the scope keeps.
    reads: std::collections::HashSet<String>,
    /// The latest numeric value of each metric, as journalled: what a baseline compares.
    metric_values: std::collections::BTreeMap<String, f64>,
}

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
        metric_values: Default::default(),
        reads: reads::read_names(sc),
    };
    let var_error = r.bind_vars(opts);
    journal.emit(Event::RunStarted {
        run_id: opts.run_id.clone(),
        scenario: sc.id.clone(),
        title: sc.title.clone(),
        description: sc.description.clone(),
        file: sc.file.to_string(),
        fingerprint: sc.resolved().fingerprint,
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
        r.harness("vars", e.to_string());
        stop_reason = Some(format!("not run: vars could not be evaluated: {e}"));
    }
    if stop_reason.is_none() {
        if let Some(e) = r.steps(&sc.setup, "setup").await {
            r.harness("setup", e.to_string());
            stop_reason = Some(format!("not run: setup failed at step `{}`", e.step().unwrap_or_default()));
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
    RunOutcome { verdict, exit }
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

impl Runner<'_> {
    fn interrupted(&self) -> bool {
        self.interrupt.token.is_cancelled()
    }

    fn harness(&mut self, stage: &str, message: String) {
        self.harness_error = true;
        self.journal.emit(Event::HarnessError { stage: stage.into(), message, t_ms: ms_since(self.t0) });
    }

    fn bind_vars(&mut self, opts: &RunOptions) -> Option<EngineError> {
        self.scope.set(
            "run",
            json!({"id": opts.run_id, "dir": opts.run_dir.to_string_lossy(), "scenario": self.sc.id, "started_at": now_rfc3339()}),
        );
        for v in &self.sc.vars {
            match v.value.eval(&self.scope) {
                Ok(val) => self.scope.set(v.name.clone(), val),
                Err(message) => {
                    return Some(EngineError::Eval {
                        what: format!("var `{}`", v.name),
                        message,
                        span: v.span.clone(),
                    })
                }
            }
        }
        None
    }
}
