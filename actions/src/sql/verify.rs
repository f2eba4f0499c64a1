//! sql.verify_no_loss: reads every id back and proves the floor (every acknowledged id is
//! present) and gap-freedom up to the highest acknowledged id.
//!
//! Definitions. `holes` = ids in 1..=max_ack absent from the table. A hole is *explained*
//! when the pool classified its id failed or unknown, or never allocated it (other
//! clients, sequence jumps after a crash). `gaps` = unexplained holes — because the pool
//! allocates and classifies every id it consumes, a gap is an acknowledged row that is
//! gone, i.e. a lost transaction. The action fails when the floor is broken or, with
//! `gap_free`, when there is any gap.
use super::conn::{connect, pg_error, CONNECT_TIMEOUT};
use super::idset::IdSet;
use super::writers::{ids_file_name, lookup, parse_ids, WriterSets};
use crate::params::{decode, schema};
use crate::{Action, ActionCtx, ActionEntry, ActionError, ActionSpec, Outcome, OutputField};
use async_trait::async_trait;
use futures::StreamExt;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::Value;
use std::sync::{Arc, Mutex};
use std::time::Instant;

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct VerifyParams {
    /// Connection string of the server to verify (e.g. the promoted standby).
    url: String,
    /// Table the writers wrote (default tr_writes).
    table: Option<String>,
    /// Step id of the sql.writers step of this run.
    writers: Option<String>,
    /// Or an ids file written by sql.writers (absolute, or relative to the run directory).
    ids_file: Option<String>,
    /// Also require no gaps up to the highest acknowledged id (default true).
    gap_free: Option<bool>,
}

struct Verify;

fn load_sets(p: &VerifyParams, ctx: &ActionCtx) -> Result<Arc<Mutex<WriterSets>>, ActionError> {
    if let Some(step) = &p.writers {
        if let Some(s) = lookup(&ctx.state.run_dir, step) {
            return Ok(s);
        }
        let path = ctx.state.evidence_dir().join(ids_file_name(step));
        if let Ok(text) = std::fs::read_to_string(&path) {
            return parse_ids(&text).map(|s| Arc::new(Mutex::new(s))).map_err(ActionError::new);
        }
        return Err(ActionError::new(format!("no sql.writers step `{step}` has finished in this run"))
            .hint("stop the writers step (`- stop: <id>`) before verifying"));
    }
    if let Some(f) = &p.ids_file {
        let path = if std::path::Path::new(f).is_absolute() { f.into() } else { ctx.state.run_dir.join(f) };
        let text = std::fs::read_to_string(&path)
            .map_err(|e| ActionError::new(format!("cannot read {}: {e}", path.display())))?;
        return parse_ids(&text).map(|s| Arc::new(Mutex::new(s))).map_err(ActionError::new);
    }
    Err(ActionError::new("give `writers` (a step id) or `ids_file`"))
}

#[async_trait]
impl Action for Verify {
    fn spec(&self) -> ActionSpec {
        ActionSpec {
            name: "sql.verify_no_loss",
            summary: "Read every id back: FLOOR (every acknowledged row present) and GAP-FREE; fails on loss",
            params: schema::<VerifyParams>(),
            outputs: &[
                OutputField { name: "ok", ty: "bool", doc: "floor and (if asked) gap-free hold" },
                OutputField { name: "floor_ok", ty: "bool", doc: "every acknowledged id is present" },
                OutputField { name: "gap_free_ok", ty: "bool", doc: "no unexplained hole up to max_ack_id" },
                OutputField { name: "present", ty: "int", doc: "rows in the table" },
                OutputField { name: "acknowledged", ty: "int", doc: "ids the writers acknowledged" },
                OutputField { name: "lost", ty: "int", doc: "acknowledged ids that are missing" },
                OutputField { name: "lost_ids", ty: "list", doc: "the first 20 of them" },
                OutputField { name: "unknown_present", ty: "int", doc: "unknown-outcome ids that made it" },
                OutputField { name: "unknown_absent", ty: "int", doc: "unknown-outcome ids that did not" },
                OutputField { name: "holes", ty: "int", doc: "absent ids in 1..max_ack_id (the table-only view)" },
                OutputField { name: "gaps", ty: "int", doc: "holes not explained by failed/unknown/unallocated ids" },
                OutputField { name: "read_ms", ty: "int", doc: "time to stream the ids" },
            ],
            example: "- id: verify\n  sql.verify_no_loss: { url: \"${standby_url}\", table: d31_writes, writers: writers, gap_free: true }\n",
            background: false,
        }
    }

    async fn run(&self, params: Value, ctx: &ActionCtx) -> Result<Outcome, ActionError> {
        let p: VerifyParams = decode(params)?;
        let sets = load_sets(&p, ctx)?;
        let table = p.table.clone().unwrap_or_else(|| "tr_writes".into());
        let ident = format!("\"{}\"", table.replace('"', "\"\""));
        let c = connect(&p.url, ctx, CONNECT_TIMEOUT).await?;
        let t = Instant::now();
        let stream = c
            .client
            .copy_out(&format!("COPY (SELECT id FROM {ident} ORDER BY id) TO STDOUT"))
            .await
            .map_err(|e| pg_error(&p.url, &e, ctx))?;
        futures::pin_mut!(stream);
        let mut present = IdSet::new();
        let mut partial: i64 = 0;
        let mut in_num = false;
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| pg_error(&p.url, &e, ctx))?;
            for &b in chunk.iter() {
                if b.is_ascii_digit() {
                    partial = partial * 10 + (b - b'0') as i64;
                    in_num = true;
                } else if b == b'\n' && in_num {
                    present.insert(partial);
                    partial = 0;
                    in_num = false;
                }
            }
        }
        let read_ms = t.elapsed().as_millis() as u64;
        let s = sets.lock().unwrap();
        let mut lost = 0u64;
        let mut lost_ids = vec![];
        for id in s.acked.iter() {
            if !present.contains(id) {
                lost += 1;
                if lost_ids.len() < 20 {
                    lost_ids.push(id);
                }
            }
        }
        let (mut unknown_present, mut unknown_absent) = (0u64, 0u64);
        for id in s.unknown.iter() {
            if present.contains(id) {
                unknown_present += 1;
            } else {
                unknown_absent += 1;
            }
        }
        let max_ack = s.acked.max().unwrap_or(0);
        let (mut holes, mut gaps) = (0u64, 0u64);
        for id in 1..=max_ack {
            if present.contains(id) {
                continue;
            }
            holes += 1;
            let explained = s.failed.contains(id) || s.unknown.contains(id) || !s.acked.contains(id);
            if !explained {
                gaps += 1;
            }
        }
        let floor_ok = lost == 0;
        let gap_free_ok = gaps == 0;
        let ok = floor_ok && (!p.gap_free.unwrap_or(true) || gap_free_ok);
        let out = Outcome::new()
            .with("ok", ok)
            .with("floor_ok", floor_ok)
            .with("gap_free_ok", gap_free_ok)
            .with("present", present.len())
            .with("acknowledged", s.acked.len())
            .with("lost", lost)
            .with("lost_ids", lost_ids.clone())
            .with("unknown_present", unknown_present)
            .with("unknown_absent", unknown_absent)
            .with("failed", s.failed.len())
            .with("max_ack_id", max_ack)
            .with("holes", holes)
            .with("gaps", gaps)
            .with("read_ms", read_ms);
        // `ok` is the engine's own field; the verdict is carried as `verified`.
        let mut out = out;
        let verified = out.output.remove("ok").unwrap_or(Value::Bool(false));
        out.output.insert("verified".into(), verified);
        if ok {
            return Ok(out);
        }
        let mut e = ActionError::new(format!(
            "{lost} acknowledged row(s) missing (first: {:?}), {gaps} gap(s) up to id {max_ack}",
            &lost_ids[..lost_ids.len().min(5)]
        ))
        .hint("acknowledged writes were lost: the failover did not preserve committed transactions");
        e.output = out.output;
        Err(e)
    }
}

inventory::submit!(ActionEntry(&Verify));
