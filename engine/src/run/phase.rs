//! A phase: `when`, its iterations (`repeat`, `for_each`), metric series, and its checks.
use super::judge::Judged;
use super::Runner;
use crate::step::ms_since;
use crate::EngineError;
use serde_json::{json, Value};
use std::collections::HashMap;
use testrunner_events::{CheckStatus, Event};
use testrunner_scenario::expr::bound_name;
use testrunner_scenario::{stats, Check};

impl Runner<'_> {
    /// Runs a phase (all iterations); returns why later phases must not run, if any.
    pub(super) async fn run_phase(&mut self, phase: &testrunner_scenario::Phase) -> Option<String> {
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
        let eval_error = |what: &str, message: String| EngineError::Eval {
            what: what.into(),
            message,
            span: phase.span.clone(),
        };
        let items: Result<Vec<Value>, EngineError> = match (&phase.repeat, &phase.for_each) {
            (Some(n), _) => match n.eval(&self.scope) {
                Ok(v) => match v.as_u64() {
                    Some(k) => Ok((0..k).map(|i| json!(i)).collect()),
                    None => Err(eval_error(
                        "repeat",
                        format!(
                            "`{}` is {v}, not a whole number (0 or more)",
                            n.as_written().as_str().unwrap_or_default()
                        ),
                    )),
                },
                Err(e) => Err(eval_error("repeat", e)),
            },
            (None, Some(p)) => match p.eval(&self.scope) {
                Ok(Value::Array(a)) => Ok(a),
                Ok(other) => Err(eval_error(
                    "for_each",
                    format!("`{}` is {other}, not a list", p.as_written().as_str().unwrap_or_default()),
                )),
                Err(e) => Err(eval_error("for_each", e)),
            },
            (None, None) => Ok(vec![Value::Null]),
        };
        let items = match items {
            Ok(items) => items,
            Err(e) => {
                let reason = format!("not run: phase `{}` ({}): {e}", phase.name, e.span());
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
        let mut failure: Option<EngineError> = None;
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
            failed_step: failure.as_ref().and_then(|e| e.step()).map(str::to_string),
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
                let value = summary.as_ref().map(|s| s["median"].clone()).unwrap_or(Value::Null);
                self.note_metric(&m.name, &value);
                self.journal.emit(Event::Metric {
                    name: m.name.clone(),
                    phase: phase.name.clone(),
                    value,
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
        let reason = failure.map(|e| {
            let step = e.step().unwrap_or_default();
            format!("not run: phase `{}` failed at step `{step}`: {}", phase.name, e.message())
        });
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
    pub(super) fn emit_iterated(&mut self, c: &Check, results: Vec<(usize, Judged)>) {
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
        self.record_check(c, (status, message, details), failed_iterations);
    }
}

/// Whether a check reads a series field (`m.max`, `m.count`, …) of one of its repeated
/// phase's metrics: such a check is judged once, after the last iteration.
fn reads_series(c: &Check, phase: &testrunner_scenario::Phase) -> bool {
    c.expect.iter().flat_map(|e| e.paths()).any(|(root, fields)| {
        phase.metrics.iter().any(|m| m.name == root) && fields.first().is_some_and(|f| f != "lo" && f != "hi")
    })
}
