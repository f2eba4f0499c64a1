//! A suite: several runs (scenarios × repeats) started by one `testrunner run`. Its
//! reports are built from the runs' own `report.json`, never re-judged: the combined
//! junit.xml, index.html, report.json, and the flakiness of repeated scenarios.
mod flaky;
mod html;
mod junit;

pub use flaky::{flakiness, BaselineSpread, CheckRate, Flakiness, MetricSpread};
pub use html::html;
pub use junit::junit;

use crate::{RunReport, Verdict};
use serde::{Deserialize, Serialize};

/// The schema tag of a suite's `report.json` (a run's is `testrunner.report/v1`).
pub const SCHEMA: &str = "testrunner.suite/v1";

/// One run of the suite, as scheduled and as it ended.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct SuiteRun {
    /// The run directory's name inside the suite directory (`val17`, `val17.2`).
    pub name: String,
    pub scenario: String,
    pub file: String,
    /// 1-based, with `--repeat N`.
    pub repeat: u32,
    pub run_id: String,
    /// The run's exit code; None when it never ran.
    pub exit_code: Option<i32>,
    /// Why it did not run (`--fail-fast`, interrupted).
    pub not_run: Option<String>,
    /// Why there is no report although it ran (the child died, unreadable report.json).
    pub problem: Option<String>,
    pub duration_ms: u64,
    #[serde(skip)]
    pub report: Option<RunReport>,
}

impl SuiteRun {
    /// PASS, FAIL, PARTIAL, ERROR, INTERRUPTED, INCOMPLETE from the run's own report;
    /// NOT RUN or ERROR (no report) otherwise.
    pub fn verdict(&self) -> String {
        match (&self.report, &self.not_run) {
            (Some(r), _) => r.verdict().as_str().to_string(),
            (None, Some(_)) => "NOT RUN".into(),
            (None, None) => "ERROR".into(),
        }
    }

    pub fn passed(&self) -> bool {
        self.report.as_ref().is_some_and(|r| r.verdict() == Verdict::Pass) && self.exit_code == Some(0)
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct SuiteReport {
    pub started_at: String,
    pub finished_at: String,
    pub duration_ms: u64,
    pub command: Vec<String>,
    pub jobs: u32,
    pub shard: Option<String>,
    pub repeat: u32,
    pub exit_code: i32,
    /// The rule that made `exit_code`, in words.
    pub exit_rule: String,
    pub interrupted: Option<String>,
    pub runs: Vec<SuiteRun>,
    pub flakiness: Vec<Flakiness>,
}

impl SuiteReport {
    /// `report.json` at the top of the suite directory: each run's verdict, exit code,
    /// counts and directory, and the flakiness of repeated scenarios.
    pub fn json(&self) -> String {
        let mut v = serde_json::to_value(self).unwrap_or_default();
        if let Some(obj) = v.as_object_mut() {
            obj.insert("schema".into(), SCHEMA.into());
            let runs: Vec<serde_json::Value> = self
                .runs
                .iter()
                .map(|r| {
                    let mut j = serde_json::to_value(r).unwrap_or_default();
                    if let Some(o) = j.as_object_mut() {
                        o.insert("verdict".into(), r.verdict().into());
                        o.insert("dir".into(), r.name.clone().into());
                        if let Some(rep) = &r.report {
                            let t = rep.totals();
                            o.insert(
                                "totals".into(),
                                serde_json::json!({"pass": t.pass, "fail": t.fail, "error": t.error, "total": t.total}),
                            );
                        }
                    }
                    j
                })
                .collect();
            obj.insert("runs".into(), runs.into());
        }
        let mut text = serde_json::to_string_pretty(&v).unwrap_or_default();
        text.push('\n');
        text
    }

    /// The terminal summary: one line per run, the flakiness tables, the exit code.
    pub fn text(&self) -> String {
        use std::fmt::Write as _;
        let mut t = String::from("\nSuite\n");
        for r in &self.runs {
            let counts = r
                .report
                .as_ref()
                .map(|rep| {
                    let x = rep.totals();
                    format!("{}/{} passed", x.pass, x.total)
                })
                .unwrap_or_default();
            let why =
                r.not_run.as_deref().or(r.problem.as_deref()).map(|w| format!("  ({w})")).unwrap_or_default();
            let code = r.exit_code.map(|c| format!("exit {c}")).unwrap_or_else(|| "-".into());
            let _ = writeln!(
                t,
                "  {:<11} {:<24} {:>10}  {:<14} {code:<8} {}{why}",
                r.verdict(),
                r.name,
                crate::model::secs(r.duration_ms),
                counts,
                r.file
            );
        }
        for f in &self.flakiness {
            t.push_str(&f.text());
        }
        let passed = self.runs.iter().filter(|r| r.passed()).count();
        let _ = writeln!(
            t,
            "\n{passed}/{} runs passed · exit {} ({})",
            self.runs.len(),
            self.exit_code,
            self.exit_rule
        );
        crate::text::escape_controls(&t).into_owned()
    }
}
