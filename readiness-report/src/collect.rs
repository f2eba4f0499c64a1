//! Finding each slice's latest run and reading its `report.json`. Nothing here fails: a
//! missing run, an unreadable file or a report of another schema becomes a MISSING slice
//! with a reason.
use serde::Serialize;
use std::path::{Path, PathBuf};
use testrunner_reports::runs::read_report;
use testrunner_reports::{CheckStatus, RunReport, Verdict};

/// What the coverage table says about a slice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum SliceStatus {
    Pass,
    Fail,
    Missing,
}

impl SliceStatus {
    pub fn as_str(&self) -> &'static str {
        match self {
            SliceStatus::Pass => "PASS",
            SliceStatus::Fail => "FAIL",
            SliceStatus::Missing => "MISSING",
        }
    }
}

/// One slice as found (or not) under the runs directory.
#[derive(Debug, Clone, Serialize)]
pub struct SliceResult {
    pub id: String,
    pub name: String,
    pub scenario: String,
    pub status: SliceStatus,
    /// `10/10 checks`, `no run found`, `schema mismatch: …`.
    pub detail: String,
    pub run_dir: Option<String>,
    pub run_id: Option<String>,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    pub verdict: Option<String>,
    pub passed: usize,
    pub failed: usize,
    pub total: usize,
    /// Ids of the checks that did not pass.
    pub failed_checks: Vec<String>,
    #[serde(skip)]
    pub report: Option<RunReport>,
}

impl SliceResult {
    pub fn found(&self) -> bool {
        self.report.is_some()
    }

    /// One phrase for the check matrix: `all 10 checks passed`, `8/10 checks passed
    /// (failed: VAL13-03, VAL13-05)`, or why the slice is missing.
    pub fn summary(&self) -> String {
        match self.status {
            SliceStatus::Missing => format!("MISSING ({})", self.detail),
            SliceStatus::Pass => format!("all {} checks passed", self.total),
            SliceStatus::Fail if self.failed_checks.is_empty() => format!("FAIL ({})", self.detail),
            SliceStatus::Fail => format!(
                "{}/{} checks passed (not passed: {})",
                self.passed,
                self.total,
                self.failed_checks.join(", ")
            ),
        }
    }
}

/// The latest run of `scenario`: in the classic layout (`<runs>/<scenario>/<timestamp>/`)
/// the greatest directory name holding a `report.json`, and anywhere below `runs` (a run
/// written with `--out runs/val13`, a suite's `runs/suite/<stamp>/val13`) a run whose
/// report names the scenario; the one that started last wins. A newest classic run that
/// cannot be read is returned as it is, so it shows as MISSING with its reason.
pub fn latest_run(runs: &Path, scenario: &str) -> Option<PathBuf> {
    let classic = classic_latest(runs, scenario);
    let classic_start = match &classic {
        Some(dir) => match read_report(dir) {
            Ok(r) => Some(r.started_at),
            Err(_) => return classic,
        },
        None => None,
    };
    let found = testrunner_reports::runs::find(runs);
    match testrunner_reports::runs::latest_of(&found, scenario) {
        Some(i)
            if classic_start
                .as_ref()
                .is_none_or(|c| found[i].report.as_ref().is_ok_and(|r| r.started_at > *c)) =>
        {
            Some(found[i].dir.clone())
        }
        _ => classic,
    }
}

fn classic_latest(runs: &Path, scenario: &str) -> Option<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(runs.join(scenario))
        .ok()?
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.is_dir() && p.join("report.json").is_file())
        .collect();
    dirs.sort_by(|a, b| a.file_name().cmp(&b.file_name()));
    dirs.pop()
}

/// Collects one slice.
pub fn collect(runs: &Path, id: &str, name: &str, scenario: &str) -> SliceResult {
    let mut s = SliceResult {
        id: id.into(),
        name: name.into(),
        scenario: scenario.into(),
        status: SliceStatus::Missing,
        detail: "no run found".into(),
        run_dir: None,
        run_id: None,
        started_at: None,
        finished_at: None,
        verdict: None,
        passed: 0,
        failed: 0,
        total: 0,
        failed_checks: vec![],
        report: None,
    };
    let Some(dir) = latest_run(runs, scenario) else { return s };
    s.run_dir = Some(dir.to_string_lossy().into_owned());
    let report = match read_report(&dir) {
        Ok(r) => r,
        Err(e) => {
            s.detail = e;
            return s;
        }
    };
    s.total = report.checks.len();
    s.passed = report.count(CheckStatus::Pass);
    s.failed = s.total - s.passed;
    s.failed_checks =
        report.checks.iter().filter(|c| c.status != CheckStatus::Pass).map(|c| c.decl.id.clone()).collect();
    let verdict = report.verdict();
    s.detail = format!("{}/{} checks", s.passed, s.total);
    // A run whose checks all passed but that did not end PASS (interrupted, cleanup
    // could not restore…) is not evidence of a pass.
    if !matches!(verdict, Verdict::Pass | Verdict::Fail) {
        s.detail.push_str(&format!(", run verdict {}", verdict.as_str()));
    }
    s.status = if s.failed == 0 && s.total > 0 && verdict == Verdict::Pass {
        SliceStatus::Pass
    } else {
        SliceStatus::Fail
    };
    s.run_id = Some(report.run_id.clone());
    s.started_at = Some(report.started_at.clone());
    s.finished_at = report.finished_at.clone();
    s.verdict = Some(verdict.as_str().to_string());
    s.report = Some(report);
    s
}
