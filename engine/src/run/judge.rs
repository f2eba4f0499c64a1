//! Metrics and checks: computing metrics (with the bounds a poll's transition gives),
//! judging expectations, hard-fail invariants and baseline regressions.
use super::Runner;
use crate::error::location;
use crate::step::ms_since;
use serde_json::{json, Value};
use testrunner_events::{CheckStatus, Event};
use testrunner_scenario::expr::bound_name;
use testrunner_scenario::Check;

/// A check's judgement before it is reported: status, message, details.
pub(super) type Judged = (CheckStatus, String, Vec<String>);

impl Runner<'_> {
    /// A metric's value and, when it reads a polled step's `first_match_ms` (or
    /// `first_match_started_ms`), its interval: the same expression evaluated with that
    /// step's `last_miss_ms` in its place (the step's start when the first attempt
    /// matched) gives the other bound; with several polled steps, every combination.
    pub(super) fn eval_metric(
        &self,
        m: &testrunner_scenario::MetricDef,
    ) -> Result<(Value, Option<(f64, f64)>), String> {
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
            for (_, root) in polled.iter().enumerate().filter(|(k, _)| mask & (1 << k) != 0) {
                let Some(mut r) = scope.get(root).cloned() else { continue };
                let other = [r.get("last_miss_ms"), r.get("started_ms")]
                    .into_iter()
                    .flatten()
                    .find(|t| !t.is_null())
                    .cloned()
                    .unwrap_or(Value::Null);
                r["first_match_ms"] = other.clone();
                r["first_match_started_ms"] = other;
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
    pub(super) fn set_metric(&mut self, name: &str, v: Value, interval: Option<(f64, f64)>) {
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
    pub(super) fn unset_metric(&mut self, name: &str, error: &str) {
        self.scope.remove(name);
        self.scope.remove(&bound_name(name, "lo"));
        self.scope.remove(&bound_name(name, "hi"));
        self.metric_errors.insert(name.to_string(), error.to_string());
    }

    /// The value a metric event carries, for the baseline comparison (the latest counts).
    pub(super) fn note_metric(&mut self, name: &str, value: &Value) {
        match value.as_f64() {
            Some(v) => self.metric_values.insert(name.to_string(), v),
            None => self.metric_values.remove(name),
        };
    }

    /// Records an uncomputable metric for the verdict (an error, as a check would be).
    pub(super) fn metric_failed(&mut self, name: &str, error: &str) {
        self.metric_errors.insert(name.to_string(), error.to_string());
        self.checks.push((format!("metric {name}"), CheckStatus::Error));
    }

    pub(super) fn metrics(&mut self, metrics: &[testrunner_scenario::MetricDef], phase: &str) {
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
            self.note_metric(&m.name, &value);
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
    pub(super) fn eval_checks(&mut self, checks: &[Check], failed: Option<&str>) {
        for c in checks {
            let (status, message, details) = self.judge(c, failed);
            self.record_check(c, (status, message, details), vec![]);
        }
    }

    /// Records a check's verdict: counted for the run, journalled with its metric's value.
    pub(super) fn record_check(&mut self, c: &Check, judged: Judged, failed_iterations: Vec<u32>) {
        let (status, message, details) = judged;
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
            at: location(&c.span),
        });
    }

    /// Judges one check against the current scope.
    pub(super) fn judge(&self, c: &Check, failed: Option<&str>) -> Judged {
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

    pub(super) fn error_checks(&mut self, checks: &[Check], reason: &str) {
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
                at: location(&c.span),
            });
        }
    }

    pub(super) fn hard_fail(&mut self) {
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
                at: location(&h.expr.span),
            });
        }
    }

    pub(super) fn regressions(&mut self, b: &crate::Baseline) {
        let values = self.metric_values.clone();
        for (id, status, mut message) in crate::baseline::evaluate(self.sc, b, &values) {
            let name = id.trim_start_matches("BASELINE-");
            if let Some(why) = self.metric_errors.get(name).filter(|_| status == CheckStatus::Error) {
                message =
                    format!("{name} could not be computed ({why}): nothing to compare with the baseline");
            }
            let value = values.get(name).map(|v| json!(v));
            let rule = self.sc.phases.iter().flat_map(|p| &p.metrics).chain(&self.sc.final_metrics);
            let at = rule.filter(|m| m.name == name).find_map(|m| location(&m.span));
            self.checks.push((id.clone(), status));
            self.journal.emit(Event::Check {
                id,
                status,
                message,
                details: vec![],
                value,
                failed_iterations: vec![],
                t_ms: ms_since(self.t0),
                at,
            });
        }
    }
}

/// A bound as JSON: whole milliseconds stay integers.
fn number(x: f64) -> Value {
    if x.fract() == 0.0 && x.abs() < 1e15 {
        json!(x as i64)
    } else {
        json!(x)
    }
}
