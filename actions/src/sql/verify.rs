//! sql.verify_no_loss: reads every id back into a bitmap and proves the zero-loss contract.
//!
//! Definitions (A = acknowledged ids, F = failed ids, U = unknown ids, all as recorded by
//! the `sql.writers` pool, which takes every id it writes from the sequence first;
//! P = ids present in the table; max = the highest acknowledged id):
//! - **floor**: A ⊆ P. `lost` = |A \ P| (the first 20 are listed in `lost_ids`).
//! - **holes**: ids in 1..=max that are not in P — the table-only view of the D31 harness.
//! - **gap-free**: no hole in 1..=max among the ids the pool attempted and did not see fail,
//!   i.e. among A ∪ U, except that an unknown batch may be absent *as a whole* (a
//!   transaction whose COMMIT outcome is unknown either committed or did not; it cannot
//!   half-commit). So `gaps` = |(A ∩ [1, max]) \ P| + the absent ids of unknown batches
//!   that are *partly* present (`torn_batches` counts those batches). Holes of failed ids
//!   (rolled back) and of ids the pool never received (other clients, a failed id
//!   allocation, the sequence jumping ahead after a crash or promotion) are explained.
//! - `failed_present` = |F ∩ P|: a batch reported failed (its COMMIT never sent) whose rows
//!   exist contradicts the classification; it also fails the check.
//!
//! - **identity**: a write is present only if the row under its id carries its batch
//!   number (the `batch` column). After a failover the promoted standby's sequence may hand
//!   out again ids the dead primary gave to batches that never reached it; by id alone such
//!   a row would stand in for the lost one. (An ids file without batch lines: by id.)
//!
//! The action fails (an error carrying every output field) when the floor is broken,
//! `failed_present` > 0, or `gap_free` is asked (default) and `gaps` > 0. The verdict is
//! the `verified` field (`ok` is the engine's own). Memory is one bit per id up to the
//! highest id present (1,000,000 ids ≈ 125 KB), plus 4 bytes per id of the pool's span for
//! the batch of each row.
use super::conn::{connect, pg_error, CONNECT_TIMEOUT};
use super::idset::IdSet;
use super::sets::{ids_file_name, parse_ids, Class, Run, WriterSets};
use crate::params::{decode, schema};
use crate::sync::lock;
use crate::{
    Action, ActionCtx, ActionEntry, ActionError, ActionSpec, ActionTraits, Outcome, OutputField, Precondition,
};
use async_trait::async_trait;
use futures::StreamExt;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::Value;
use std::collections::HashMap;
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
    /// Also require gap-freedom up to the highest acknowledged id (default true): no hole that a failed, wholly-absent unknown or never-allocated batch does not explain.
    gap_free: Option<bool>,
    /// The id column (default `id`).
    id_column: Option<String>,
    /// The column the pool writes its batch number to (default `batch`): a row is the
    /// pool's write only if its id *and* batch match what the pool recorded.
    batch_column: Option<String>,
}

struct Verify;

fn load_sets(p: &VerifyParams, ctx: &ActionCtx) -> Result<Arc<Mutex<WriterSets>>, ActionError> {
    if let Some(step) = &p.writers {
        if let Some(s) = ctx.state.memory.get::<Mutex<WriterSets>>(step) {
            return Ok(s);
        }
        let path = ctx.state.evidence_dir().join(ids_file_name(step));
        if let Ok(text) = std::fs::read_to_string(&path) {
            return parse_ids(&text).map(|s| Arc::new(Mutex::new(s)));
        }
        return Err(ActionError::new(format!("no sql.writers step `{step}` has finished in this run"))
            .hint("stop the writers step (`- stop: <id>`) before verifying"));
    }
    if let Some(f) = &p.ids_file {
        let path = if std::path::Path::new(f).is_absolute() { f.into() } else { ctx.state.run_dir.join(f) };
        let text = std::fs::read_to_string(&path)
            .map_err(|e| ActionError::new(format!("cannot read {}: {e}", path.display())))?;
        return parse_ids(&text).map(|s| Arc::new(Mutex::new(s)));
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
                OutputField { name: "verified", ty: "bool", doc: "floor and (if asked) gap-free hold, and no failed row is present" },
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
                OutputField { name: "unknown", ty: "int", doc: "ids whose COMMIT outcome the writers could not know" },
                OutputField { name: "torn_batches", ty: "int", doc: "unknown batches only partly present (a transaction cannot half-commit)" },
                OutputField { name: "failed", ty: "int", doc: "ids of batches that failed before COMMIT" },
                OutputField { name: "failed_present", ty: "int", doc: "rows of failed batches that exist anyway (a misclassification)" },
                OutputField { name: "max_ack_id", ty: "int", doc: "highest acknowledged id" },
                OutputField { name: "batch_mismatches", ty: "int", doc: "recorded writes whose id now holds another batch's row (an id handed out again after a failover, or a replaced row)" },
                OutputField { name: "identity", ty: "string", doc: "`id+batch` (rows matched by id and batch number) or `id` (an ids file without batches)" },
                OutputField { name: "read_ms", ty: "int", doc: "time to stream the ids" },
            ],
            example: "- id: verify\n  sql.verify_no_loss: { url: \"${standby_url}\", table: d31_writes, writers: writers, gap_free: true }\n",
            background: false,
            traits: ActionTraits::NONE,
        }
    }

    async fn run(&self, params: Value, ctx: &ActionCtx) -> Result<Outcome, ActionError> {
        let p: VerifyParams = decode(params)?;
        let sets = load_sets(&p, ctx)?;
        let ident = quote(p.table.as_deref().unwrap_or("tr_writes"));
        let col = quote(p.id_column.as_deref().unwrap_or("id"));
        // The pool's rows are (id, batch); an ids file written by hand has no batches.
        let mut rows = RowBatches::for_runs(&lock(&sets).runs);
        let c = connect(&p.url, ctx, CONNECT_TIMEOUT).await?;
        let t = Instant::now();
        // No ORDER BY: a bitmap does not care, and the server skips a sort.
        let sql = match &rows {
            Some(_) => {
                let batch = quote(p.batch_column.as_deref().unwrap_or("batch"));
                format!("COPY (SELECT {col}, {batch} FROM {ident} WHERE {col} IS NOT NULL) TO STDOUT")
            }
            None => format!("COPY (SELECT {col} FROM {ident} WHERE {col} IS NOT NULL) TO STDOUT"),
        };
        let stream = c.client.copy_out(&sql).await.map_err(|e| pg_error(&p.url, &e, ctx))?;
        futures::pin_mut!(stream);
        let mut present = IdSet::new();
        let mut reader = IdReader::default();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| pg_error(&p.url, &e, ctx))?;
            reader.feed(&chunk, &mut present, rows.as_mut());
        }
        let read_ms = t.elapsed().as_millis() as u64;
        let s = lock(&sets);
        let v = match &rows {
            Some(r) => judge_rows(&s, &present, r),
            None => judge(&s, &present),
        };
        let ok = v.floor_ok() && v.failed_present == 0 && (!p.gap_free.unwrap_or(true) || v.gaps == 0);
        let out = Outcome::new()
            .with("verified", ok)
            .with("floor_ok", v.floor_ok())
            .with("gap_free_ok", v.gaps == 0)
            .with("present", present.len())
            .with("acknowledged", s.acked.len())
            .with("lost", v.lost)
            .with("lost_ids", v.lost_ids.clone())
            .with("unknown", s.unknown.len())
            .with("unknown_present", v.unknown_present)
            .with("unknown_absent", v.unknown_absent)
            .with("torn_batches", v.torn_batches)
            .with("failed", s.failed.len())
            .with("failed_present", v.failed_present)
            .with("max_ack_id", v.max_ack)
            .with("batch_mismatches", v.batch_mismatches)
            .with("identity", if rows.is_some() { "id+batch" } else { "id" })
            .with("holes", v.holes)
            .with("gaps", v.gaps)
            .with("read_ms", read_ms);
        if ok {
            return Ok(out);
        }
        let mut e = ActionError::new(format!(
            "{} acknowledged row(s) missing (first: {:?}), {} gap(s) up to id {}, {} failed row(s) present",
            v.lost,
            &v.lost_ids[..v.lost_ids.len().min(5)],
            v.gaps,
            v.max_ack,
            v.failed_present
        ))
        .hint(if v.lost > 0 {
            "acknowledged writes were lost: the failover did not preserve committed transactions"
        } else {
            "the table does not match what the writer pool recorded (see gaps / failed_present)"
        });
        e.output = out.output;
        Err(e)
    }

    /// Read-only: connects and sends `SELECT 1` — it reads no table.
    async fn probe(&self, params: Value, ctx: &ActionCtx) -> Vec<Precondition> {
        super::conn::probe(&params, ctx).await
    }
}

fn quote(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

/// The batch number of every present row whose id the pool recorded, indexed by id over
/// the span of the pool's ids (4 bytes an id: 1,000,000 ids = 4 MB). 0 = no row (or a
/// NULL / unrepresentable batch: not the pool's).
struct RowBatches {
    base: i64,
    batch_of: Vec<u32>,
}

/// Beyond this span of ids the table is not the dense one a pool writes: judge by id alone.
const MAX_SPAN: i64 = 64 << 20;

impl RowBatches {
    fn for_runs(runs: &[Run]) -> Option<RowBatches> {
        let base = runs.iter().map(|r| r.first).min()?;
        let top = runs.iter().map(|r| r.last).max()?;
        (top - base < MAX_SPAN).then(|| RowBatches { base, batch_of: vec![0; (top - base + 1) as usize] })
    }
    fn slot(&self, id: i64) -> Option<usize> {
        let i = id.checked_sub(self.base)?;
        (i >= 0 && (i as usize) < self.batch_of.len()).then_some(i as usize)
    }
    fn set(&mut self, id: i64, batch: Option<i64>) {
        if let Some(i) = self.slot(id) {
            self.batch_of[i] = batch.and_then(tag).unwrap_or(0);
        }
    }
    /// The row under `id` is the one the pool wrote in `batch`.
    fn is(&self, id: i64, batch: i64) -> bool {
        self.slot(id).is_some_and(|i| self.batch_of[i] != 0 && Some(self.batch_of[i]) == tag(batch))
    }
}

fn tag(batch: i64) -> Option<u32> {
    u32::try_from(batch).ok().and_then(|b| b.checked_add(1))
}

/// Parses COPY text output incrementally across chunks: `id` or `id<TAB>batch` per line
/// (`\N` is NULL).
#[derive(Default)]
struct IdReader {
    id: Field,
    batch: Field,
    second: bool,
}

#[derive(Default)]
struct Field {
    value: i64,
    digits: bool,
    negative: bool,
}

impl Field {
    fn push(&mut self, b: u8) {
        match b {
            b'0'..=b'9' => {
                self.value = self.value.saturating_mul(10).saturating_add((b - b'0') as i64);
                self.digits = true;
            }
            b'-' => self.negative = true,
            _ => {}
        }
    }
    fn get(&self) -> Option<i64> {
        (self.digits && !self.negative).then_some(self.value)
    }
}

impl IdReader {
    fn feed(&mut self, chunk: &[u8], into: &mut IdSet, mut rows: Option<&mut RowBatches>) {
        for &b in chunk {
            match b {
                b'\t' => self.second = true,
                b'\n' => {
                    if let Some(id) = self.id.get() {
                        into.insert(id);
                        if let Some(r) = rows.as_deref_mut() {
                            r.set(id, self.batch.get());
                        }
                    }
                    *self = IdReader::default();
                }
                _ if self.second => self.batch.push(b),
                _ => self.id.push(b),
            }
        }
    }
}

#[derive(Debug, Default)]
struct Verdict {
    lost: u64,
    lost_ids: Vec<i64>,
    unknown_present: u64,
    unknown_absent: u64,
    torn_batches: u64,
    failed_present: u64,
    max_ack: i64,
    holes: u64,
    gaps: u64,
    batch_mismatches: u64,
}

impl Verdict {
    fn floor_ok(&self) -> bool {
        self.lost == 0
    }
}

fn judge(s: &WriterSets, present: &IdSet) -> Verdict {
    let mut v = Verdict { max_ack: s.acked.max().unwrap_or(0), ..Default::default() };
    for id in s.acked.iter() {
        if !present.contains(id) {
            v.lost += 1;
            if v.lost_ids.len() < 20 {
                v.lost_ids.push(id);
            }
        }
    }
    for id in s.unknown.iter() {
        if present.contains(id) {
            v.unknown_present += 1;
        } else {
            v.unknown_absent += 1;
        }
    }
    v.failed_present = s.failed.iter().filter(|id| present.contains(*id)).count() as u64;
    v.holes = (1..=v.max_ack).filter(|id| !present.contains(*id)).count() as u64;
    // Every lost id is ≤ max_ack by definition; torn unknown batches add their absent ids.
    v.gaps = v.lost;
    for batch in &s.unknown_batches {
        let here = batch.iter().filter(|id| present.contains(**id)).count();
        if here > 0 && here < batch.len() {
            v.torn_batches += 1;
            v.gaps += batch.iter().filter(|id| **id <= v.max_ack && !present.contains(**id)).count() as u64;
        }
    }
    v
}

/// [`judge`] by row identity: each recorded `(id, batch)` is present only if the row under
/// that id carries that batch. An id handed out twice (by a dead primary to a batch that
/// never reached the standby, then by the promoted standby) belongs to the batch its row
/// says; an acknowledged row replaced under its id is lost.
fn judge_rows(s: &WriterSets, present: &IdSet, rows: &RowBatches) -> Verdict {
    let mut v = Verdict { max_ack: s.acked.max().unwrap_or(0), ..Default::default() };
    // (batch, present, total) of each unknown batch, to find torn ones.
    let mut unknown: HashMap<i64, (u64, u64)> = HashMap::new();
    for r in &s.runs {
        for id in r.first..=r.last {
            let here = rows.is(id, r.batch);
            if !here && present.contains(id) {
                v.batch_mismatches += 1;
            }
            match r.class {
                Class::Acked if !here => {
                    v.lost += 1;
                    if v.lost_ids.len() < 20 {
                        v.lost_ids.push(id);
                    }
                }
                Class::Acked => {}
                Class::Failed => v.failed_present += here as u64,
                Class::Unknown => {
                    let e = unknown.entry(r.batch).or_default();
                    e.0 += here as u64;
                    e.1 += 1;
                    if here {
                        v.unknown_present += 1;
                    } else {
                        v.unknown_absent += 1;
                    }
                }
            }
        }
    }
    v.lost_ids.sort_unstable();
    v.holes = (1..=v.max_ack).filter(|id| !present.contains(*id)).count() as u64;
    v.gaps = v.lost;
    for r in s.runs.iter().filter(|r| r.class == Class::Unknown) {
        let (here, total) = unknown[&r.batch];
        if here > 0 && here < total {
            v.gaps += (r.first..=r.last.min(v.max_ack)).filter(|id| !rows.is(*id, r.batch)).count() as u64;
        }
    }
    v.torn_batches = unknown.values().filter(|(here, total)| *here > 0 && here < total).count() as u64;
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(ids: impl IntoIterator<Item = i64>) -> IdSet {
        let mut s = IdSet::new();
        ids.into_iter().for_each(|i| {
            s.insert(i);
        });
        s
    }

    #[test]
    fn reader_parses_across_chunks() {
        let mut s = IdSet::new();
        let mut r = IdReader::default();
        r.feed(b"1\n2\n12", &mut s, None);
        r.feed(b"3\n-4\n", &mut s, None);
        assert_eq!(s.iter().collect::<Vec<_>>(), vec![1, 2, 123]);
    }

    #[test]
    fn reader_takes_id_and_batch_and_nulls() {
        let runs = [Run { first: 1, last: 3, batch: 7, class: Class::Acked }];
        let mut rows = RowBatches::for_runs(&runs).unwrap();
        let (mut s, mut r) = (IdSet::new(), IdReader::default());
        r.feed(b"1\t7\n2\t", &mut s, Some(&mut rows));
        r.feed(b"8\n3\t\\N\n", &mut s, Some(&mut rows));
        assert_eq!(s.iter().collect::<Vec<_>>(), vec![1, 2, 3]);
        assert!(rows.is(1, 7) && !rows.is(2, 7) && !rows.is(3, 7) && !rows.is(4, 7));
    }

    /// The failover case the id alone gets wrong: the dead primary gave ids 4..=5 to an
    /// unknown batch (9) that never reached the standby, and the promoted standby gave them
    /// again to an acknowledged batch (12). And an acknowledged row replaced under its id.
    #[test]
    fn rows_are_judged_by_id_and_batch() {
        let mut w = WriterSets::default();
        w.record(Class::Acked, 1, &[1, 2, 3]);
        w.record(Class::Unknown, 9, &[4, 5]);
        w.record(Class::Acked, 12, &[4, 5, 6]);
        let runs = w.runs.clone();
        let mut rows = RowBatches::for_runs(&runs).unwrap();
        let mut present = IdSet::new();
        let mut r = IdReader::default();
        r.feed(b"1\t1\n2\t1\n3\t1\n4\t12\n5\t12\n6\t12\n", &mut present, Some(&mut rows));
        let v = judge_rows(&w, &present, &rows);
        assert_eq!((v.lost, v.torn_batches, v.gaps, v.unknown_absent, v.unknown_present), (0, 0, 0, 2, 0));
        assert_eq!(v.batch_mismatches, 2, "ids 4 and 5 belong to batch 12, not 9");
        // By id alone the unknown batch would look present (and with one of its ids gone, torn).
        assert_eq!(judge(&w, &present).unknown_present, 2);

        // NEGATIVE CONTROL: acknowledged row 2 replaced by another writer under the same id.
        let mut rows = RowBatches::for_runs(&runs).unwrap();
        let mut present = IdSet::new();
        r.feed(b"1\t1\n2\t\\N\n3\t1\n4\t12\n5\t12\n6\t12\n", &mut present, Some(&mut rows));
        let v = judge_rows(&w, &present, &rows);
        assert_eq!((v.lost, v.lost_ids.clone()), (1, vec![2]));
        assert_eq!(judge(&w, &present).lost, 0, "the id alone cannot see it");
    }

    #[test]
    fn definitions() {
        let mut w = WriterSets::default();
        w.record_ids(Class::Acked, &[1, 2, 3, 6, 7]);
        w.record_ids(Class::Failed, &[4]);
        w.record_ids(Class::Unknown, &[5]);
        w.record_ids(Class::Unknown, &[8, 9]);
        // 5 (unknown, whole batch absent) and 4 (failed) are explained holes; 10 never allocated.
        let v = judge(&w, &set([1, 2, 3, 6, 7, 9]));
        assert_eq!((v.lost, v.holes, v.gaps, v.torn_batches, v.failed_present), (0, 2, 0, 1, 0));
        assert_eq!((v.unknown_present, v.unknown_absent), (1, 2));
        // Batch {8, 9} is torn, but 8 > max_ack (7): not counted as a gap below max.
        let v = judge(&w, &set([1, 3, 4, 6, 7]));
        assert_eq!((v.lost, v.lost_ids.clone(), v.gaps, v.failed_present), (1, vec![2], 1, 1));
    }
}

inventory::submit!(ActionEntry(&Verify));
