//! sql.promote: `pg_promote(wait, seconds)`, bounded by the step deadline.
use super::conn::{connect, pg_error, CONNECT_TIMEOUT};
use crate::params::{decode, schema};
use crate::{
    Action, ActionCtx, ActionEntry, ActionError, ActionSpec, ActionTraits, Dur, Outcome, OutputField,
    Precondition,
};
use async_trait::async_trait;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::Value;
use std::time::Instant;

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct PromoteParams {
    /// Connection string of the standby (passwords are masked in every message).
    url: String,
    /// Wait until the promotion completes (default true). With false, `promoted` only says
    /// the request was sent.
    wait: Option<bool>,
    /// How long pg_promote may wait (default 60s; never beyond the step's deadline).
    timeout: Option<Dur>,
}

struct Promote;

#[async_trait]
impl Action for Promote {
    fn spec(&self) -> ActionSpec {
        ActionSpec {
            name: "sql.promote",
            summary: "Promote a standby with pg_promote(), bounded; fails if it did not complete in time",
            params: schema::<PromoteParams>(),
            outputs: &[
                OutputField { name: "promoted", ty: "bool", doc: "what pg_promote returned" },
                OutputField { name: "promote_ms", ty: "int", doc: "time pg_promote took (after connecting)" },
            ],
            example: "- sql.promote: { url: \"${standby_url}\", wait: true, timeout: 30s }\n",
            background: false,
            traits: ActionTraits::FAILOVER,
        }
    }
    async fn run(&self, params: Value, ctx: &ActionCtx) -> Result<Outcome, ActionError> {
        let p: PromoteParams = decode(params)?;
        let wait = p.wait.unwrap_or(true);
        let c = connect(&p.url, ctx, CONNECT_TIMEOUT).await?;
        // Whole seconds, at least 1, and ending before the engine's deadline would drop us.
        let asked = p.timeout.map(|d| d.0).unwrap_or(std::time::Duration::from_secs(60));
        let secs = asked.min(ctx.remaining().saturating_sub(std::time::Duration::from_millis(500)));
        let secs = secs.as_secs().max(1) as i32;
        let t = Instant::now();
        let row = c.client.query_one("SELECT pg_promote($1, $2)", &[&wait, &secs]).await.map_err(|e| {
            pg_error(&p.url, &e, ctx).hint("is this server a standby? (SELECT pg_is_in_recovery())")
        })?;
        let promoted: bool = row.get(0);
        let o = Outcome::new().with("promoted", promoted).with("promote_ms", t.elapsed().as_millis() as u64);
        if promoted {
            return Ok(o);
        }
        let mut e = ActionError::new(format!("pg_promote did not complete within {secs}s"))
            .hint("the standby may still be replaying WAL; see its log");
        e.output = o.output;
        Err(e)
    }

    /// Read-only: connects and sends `SELECT 1` — it never promotes.
    async fn probe(&self, params: Value, ctx: &ActionCtx) -> Vec<Precondition> {
        super::conn::probe(&params, ctx).await
    }
}

inventory::submit!(ActionEntry(&Promote));
