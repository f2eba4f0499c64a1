//! One step of the run: evaluate, dispatch (engine steps, actions inline or in the
//! background), and record what it did: journal, scope, undo stack, evidence.
use super::{Background, Runner};
use crate::error::location;
use crate::step::{ms_since, now_rfc3339, save_content, Attempts, StepRun};
use crate::EngineError;
use serde_json::{json, Value};
use std::time::Instant;
use testrunner_actions::{find, ActionCtx};
use testrunner_events::Event;
use testrunner_scenario::{Scope, Step, StepKind};
use tokio_util::sync::CancellationToken;

impl Runner<'_> {
    /// Runs steps in order; returns the first failure (of a step not allowed to fail).
    pub(super) async fn steps(&mut self, steps: &[Step], phase: &str) -> Option<EngineError> {
        for s in steps {
            if self.interrupted() {
                return Some(step_error(s, "interrupted".into(), None));
            }
            let run = self.step(s, phase, self.interrupt.token.clone(), self.deadline).await;
            if let Some(run) = run {
                if !run.ok && !s.allow_failure {
                    return Some(step_error(s, run.error.unwrap_or_default(), run.hint));
                }
            }
        }
        None
    }

    /// The scope a step sees: the run's, with its fragment's `with:` values bound.
    pub(super) fn step_scope(&self, s: &Step) -> Result<Scope, EngineError> {
        let mut scope = self.scope.clone();
        if let Some(fs) = &s.scope {
            fs.bind(&mut scope).map_err(|e| step_error(s, e, None))?;
        }
        Ok(scope)
    }

    /// Runs one step. Returns None for a background step (it finishes at `stop`).
    pub(super) async fn step(
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
                return Some(self.finish_inline(s, phase, StepRun::failed(t, t, now_rfc3339(), e.message())));
            }
        };
        if let Some(w) = &s.when {
            match w.eval_bool(&scope) {
                Ok(true) => {}
                Ok(false) => {
                    let run = StepRun::passed(t, t, now_rfc3339());
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
                        at: location(&s.span),
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
            traits: testrunner_actions::spec(&s.action).map(|a| a.traits).unwrap_or_default(),
        });
        let params = match s.params.eval(&scope) {
            Ok(p) => p,
            Err(e) => {
                let run = StepRun::failed(
                    t,
                    ms_since(self.t0),
                    now_rfc3339(),
                    format!("cannot evaluate parameters: {e}"),
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
            action_params_schema(&s.action),
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

    pub(super) fn assert(&self, s: &Step, scope: &Scope, params: &Value, t: u64) -> StepRun {
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
        let (finished, at) = (ms_since(self.t0), now_rfc3339());
        let run = if failures.is_empty() {
            StepRun::passed(t, finished, at)
        } else {
            let msg =
                params.get("message").and_then(Value::as_str).map(|m| format!("{m}: ")).unwrap_or_default();
            StepRun::failed(t, finished, at, format!("{msg}{}", failures.join("; ")))
        };
        StepRun { attempts: 1, ..run }
    }

    /// Records a finished step: journal, scope, undo stack, evidence.
    pub(super) fn finish_inline(&mut self, s: &Step, phase: &str, mut run: StepRun) -> StepRun {
        let mut announced = self.undo.take_intents(&s.id);
        // A step that changed the world (or restored it) is journalled durably.
        let mut changed = !announced.is_empty();
        if let Some(outcome) = run.outcome.take() {
            changed |= !outcome.undo.is_empty() || !outcome.resolves.is_empty();
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
        let mut result = run.take_result();
        // Kept only if an expression reads it. Before the save: its file name may.
        let keep = self.reads.contains(&s.id);
        if keep {
            self.scope.set(s.id.clone(), result.clone());
        }
        if let Some(save) = &s.save {
            // Evidence the scenario promised is part of the step: a save that cannot be
            // written fails a step that had succeeded (a failed one keeps its own error).
            if let Err(e) = self.save(s, save, &result) {
                if run.ok {
                    run.ok = false;
                    run.error = Some(e.message());
                    run.hint =
                        Some("`save:` names a file inside evidence/ (no `..`, no absolute path)".into());
                    // Only these two fields of the result change.
                    result["ok"] = json!(false);
                    result["error"] = json!(run.error);
                    if keep {
                        self.scope.set(s.id.clone(), result.clone());
                    }
                }
            }
        }
        let finished = Event::StepFinished {
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
            result: {
                trim(&mut result);
                result
            },
            at: location(&s.span),
        };
        if changed {
            self.journal.emit_durable(finished);
        } else {
            self.journal.emit(finished);
        }
        run
    }

    pub(super) fn save(
        &mut self,
        s: &Step,
        save: &testrunner_scenario::Template,
        result: &Value,
    ) -> Result<(), EngineError> {
        let scope = self.step_scope(s).unwrap_or_else(|_| self.scope.clone());
        let name = match save.eval(&scope) {
            Ok(Value::String(n)) => n,
            Ok(other) => other.to_string(),
            Err(e) => return Err(step_error(s, format!("save: {e}"), None)),
        };
        let ctx = ActionCtx {
            step_id: s.id.clone(),
            state: self.state.clone(),
            deadline: Instant::now(),
            stop: CancellationToken::new(),
        };
        let path = ctx
            .write_evidence(&name, &save_content(result))
            .map_err(|e| step_error(s, format!("save `{name}` failed: {}", e.message), None))?;
        self.journal.emit(Event::Evidence { path, step: Some(s.id.clone()) });
        Ok(())
    }
}

/// A failure of step `s`, at its place in the scenario.
fn step_error(s: &Step, message: String, hint: Option<String>) -> EngineError {
    EngineError::Step { step: s.id.clone(), message, hint, span: s.span.clone() }
}

/// The parameter schema of a registered action (cached by the registry).
fn action_params_schema(name: &str) -> &'static Value {
    static NONE: Value = Value::Null;
    testrunner_actions::spec(name).map(|s| &s.params).unwrap_or(&NONE)
}

/// Keeps the journal readable: very long strings in results are cut (evidence has them
/// whole). In place: a result with nothing to cut is not rebuilt.
fn trim(v: &mut Value) {
    match v {
        Value::String(s) if s.len() > 16_384 => {
            let cut: String = s.chars().take(16_384).collect();
            *s = format!("{cut}… [{} bytes total]", s.len());
        }
        Value::Array(a) => {
            let n = a.len();
            if n > 2000 {
                a.truncate(2000);
            }
            a.iter_mut().for_each(trim);
            if n > 2000 {
                a.push(Value::String(format!("… [{n} items total]")));
            }
        }
        Value::Object(m) => m.values_mut().for_each(trim),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trim_cuts_long_strings_and_arrays_in_place_and_leaves_the_rest() {
        let mut v = json!({"text": "x".repeat(20_000), "rows": (0..2500).collect::<Vec<_>>(), "ok": true});
        trim(&mut v);
        let text = v["text"].as_str().unwrap();
        assert!(text.ends_with("… [20000 bytes total]") && text.starts_with(&"x".repeat(16_384)));
        let rows = v["rows"].as_array().unwrap();
        assert_eq!(
            (rows.len(), rows[1999].clone(), rows[2000].clone()),
            (2001, json!(1999), json!("… [2500 items total]"))
        );
        // Negative control: a small result is unchanged.
        let small = json!({"status": 200, "json": {"a": [1, 2]}, "text": "up"});
        let mut same = small.clone();
        trim(&mut same);
        assert_eq!(same, small);
    }
}
