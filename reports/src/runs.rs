//! Finding runs under a directory at any depth: `runs/<scenario>/<timestamp>/`, a run
//! written with `--out runs/val13`, or the runs of a suite (`runs/suite/<stamp>/val13/`).
//! A run directory is one holding `journal.jsonl`; the walk does not descend into one (its
//! evidence may be large), follows no links, and stops at a fixed depth.
use crate::RunReport;
use std::path::{Path, PathBuf};

/// Nesting depth searched below the root.
const MAX_DEPTH: usize = 8;

/// A run directory found, with its report or why it cannot be read.
pub struct FoundRun {
    pub dir: PathBuf,
    pub report: Result<RunReport, String>,
}

/// Every run directory with a `report.json` under `root` (the root itself included),
/// sorted by path.
pub fn find(root: &Path) -> Vec<FoundRun> {
    let mut dirs = vec![];
    walk(root, 0, &mut dirs);
    dirs.sort();
    dirs.into_iter().map(|dir| FoundRun { report: read_report(&dir), dir }).collect()
}

fn walk(dir: &Path, depth: usize, out: &mut Vec<PathBuf>) {
    if dir.join("journal.jsonl").is_file() {
        if dir.join("report.json").is_file() {
            out.push(dir.to_path_buf());
        }
        return;
    }
    if depth >= MAX_DEPTH {
        return;
    }
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for e in entries.flatten() {
        if e.file_type().is_ok_and(|t| t.is_dir()) {
            walk(&e.path(), depth + 1, out);
        }
    }
}

/// Reads a run's `report.json`; any problem is the reason (a readiness slice is then MISSING).
pub fn read_report(dir: &Path) -> Result<RunReport, String> {
    let text = std::fs::read(dir.join("report.json")).map_err(|e| format!("unreadable report.json: {e}"))?;
    let text = String::from_utf8_lossy(&text);
    crate::json::parse(&text).map_err(|e| format!("schema mismatch: {e}"))
}

/// The newest run of `scenario` anywhere under `root`, by its start time.
pub fn latest_of(found: &[FoundRun], scenario: &str) -> Option<usize> {
    found
        .iter()
        .enumerate()
        .filter(|(_, f)| f.report.as_ref().is_ok_and(|r| r.scenario == scenario))
        .max_by(|(_, a), (_, b)| {
            let key = |f: &FoundRun| f.report.as_ref().map(|r| r.started_at.clone()).unwrap_or_default();
            key(a).cmp(&key(b)).then_with(|| a.dir.cmp(&b.dir))
        })
        .map(|(i, _)| i)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(dir: &Path, scenario: &str, started: &str) {
        std::fs::create_dir_all(dir.join("evidence/deep")).unwrap();
        std::fs::write(dir.join("journal.jsonl"), "").unwrap();
        let r = RunReport { scenario: scenario.into(), started_at: started.into(), ..Default::default() };
        std::fs::write(dir.join("report.json"), crate::json::render(&r)).unwrap();
        // Evidence is not searched: a report.json in it is not a run.
        std::fs::write(dir.join("evidence/deep/report.json"), "{}").unwrap();
    }

    #[test]
    fn runs_are_found_at_any_depth_and_the_newest_wins() {
        let d = tempfile::tempdir().unwrap();
        run(&d.path().join("val13/20260101T000000Z"), "val13", "2026-01-01T00:00:00Z");
        run(&d.path().join("manual-out"), "val13", "2026-03-01T00:00:00Z");
        run(&d.path().join("suite/20260201/val13"), "val13", "2026-02-01T00:00:00Z");
        run(&d.path().join("suite/20260201/val17"), "val17", "2026-02-01T00:00:00Z");
        let found = find(d.path());
        assert_eq!(found.len(), 4, "{:?}", found.iter().map(|f| &f.dir).collect::<Vec<_>>());
        let i = latest_of(&found, "val13").unwrap();
        assert!(found[i].dir.ends_with("manual-out"));
        assert!(latest_of(&found, "val99").is_none());
    }
}
