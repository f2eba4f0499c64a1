//! Background steps: started by a step, ended by `stop:`, `wait:` or the end of their block.
use super::Runner;
use crate::step::{ms_since, now_rfc3339, StepRun};
use serde_json::{json, Value};
use std::time::{Duration, Instant};
use testrunner_scenario::{format_duration, Step};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub(super) struct Background {
    pub(super) step: Step,
    pub(super) phase: String,
    /// When it started (run clock, wall clock): what a step cut off at its stop is timed from.
    pub(super) started_ms: u64,
    pub(super) started_at: String,
    pub(super) stop: CancellationToken,
    pub(super) handle: JoinHandle<StepRun>,
}

impl Runner<'_> {
    pub(super) async fn stop_step(&mut self, s: &Step, params: &Value, t: u64) -> StepRun {
        let target = params.as_str().unwrap_or_default().to_string();
        let mut run = StepRun::started(t, now_rfc3339());
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
    pub(super) async fn wait_step(&mut self, s: &Step, params: &Value, t: u64) -> StepRun {
        let all = params.get("all").is_some();
        let ids: Vec<String> = params
            .get(if all { "all" } else { "any" })
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).map(String::from).collect())
            .unwrap_or_default();
        let mut run = StepRun::started(t, now_rfc3339());
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
    pub(super) async fn finish_background(&mut self, bg: Background, limit: Duration) -> bool {
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
    pub(super) async fn stop_background(&mut self, phase: &str) {
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
}
