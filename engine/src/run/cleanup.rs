//! The end of every run: background steps, the undo stack (LIFO), then teardown, all
//! within the teardown budget.
use super::Runner;
use crate::step::ms_since;
use std::time::{Duration, Instant};
use testrunner_actions::{find, ActionCtx};
use testrunner_events::Event;
use testrunner_scenario::format_duration;
use tokio_util::sync::CancellationToken;

impl Runner<'_> {
    /// Background steps still running, the undo stack, then teardown — within the
    /// teardown budget, whatever happened before.
    pub(super) async fn cleanup(&mut self) {
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
