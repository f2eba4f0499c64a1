use crate::cli::{BaselineArgs, BaselineCommand};
use crate::error::{CliError, CliResult};
use std::path::{Path, PathBuf};
use testrunner_engine::{Baseline, ExitCode, RecordedRun};
use testrunner_reports::RunReport;

pub fn run(args: BaselineArgs) -> CliResult {
    match args.command {
        BaselineCommand::Record { run_dirs, out, allow_mixed } => record(&run_dirs, out, allow_mixed),
    }
}

/// A run's report, folded from its journal (present even when the runner was killed).
pub fn read_run(dir: &Path) -> Result<RunReport, String> {
    let path = dir.join("journal.jsonl");
    let text = std::fs::read_to_string(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let events = RunReport::parse_journal(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(RunReport::from_events(&events))
}

fn record(dirs: &[PathBuf], out: Option<PathBuf>, allow_mixed: bool) -> CliResult {
    let mut reports = vec![];
    for d in dirs {
        match read_run(d) {
            Ok(r) => reports.push(r),
            Err(e) => {
                return Err(CliError::msg(e, Some("pass run directories, e.g. runs/val17/<timestamp>")));
            }
        }
    }
    // A baseline judges one version of a scenario: runs of a changed file or other vars
    // would mix what is compared.
    let mut prints: Vec<&str> = reports.iter().map(|r| r.fingerprint.as_str()).collect();
    prints.sort_unstable();
    prints.dedup();
    if prints.len() > 1 && !allow_mixed {
        let runs: Vec<String> = dirs
            .iter()
            .zip(&reports)
            .map(|(d, r)| {
                format!("{} (fingerprint {})", d.display(), &r.fingerprint[..r.fingerprint.len().min(12)])
            })
            .collect();
        return Err(CliError::msg(format!(
                "cannot record a baseline: the runs are of different scenario fingerprints: {}",
                runs.join(", ")
            ),
            Some("the scenario file or its vars changed between these runs: record from runs of one version, or pass --allow-mixed to record them together anyway")));
    }
    let host = reports.first().map(|r| r.host.clone()).unwrap_or_default();
    let rev = reports.first().and_then(|r| r.git_revision.clone());
    let runs: Vec<RecordedRun> = reports
        .iter()
        .map(|r| RecordedRun {
            run_id: r.run_id.clone(),
            scenario: r.scenario.clone(),
            verdict: r.verdict(),
            metrics: r.metrics.iter().map(|m| (m.name.clone(), m.value.as_f64(), m.unit.clone())).collect(),
        })
        .collect();
    let baseline = match Baseline::record(&runs, rev, host) {
        Ok(b) => b,
        Err(e) => {
            return Err(CliError::msg(format!("cannot record a baseline: {e}"), None));
        }
    };
    let path = out.unwrap_or_else(|| default_path(&baseline.scenario));
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        let _ = std::fs::create_dir_all(parent);
    }
    if let Err(e) = std::fs::write(&path, baseline.to_yaml()) {
        return Err(CliError::msg(format!("cannot write {}: {e}", path.display()), None));
    }
    println!(
        "baseline for `{}` from {} run(s) written to {}",
        baseline.scenario,
        reports.len(),
        path.display()
    );
    for (name, m) in &baseline.metrics {
        let unit = m.unit.as_deref().unwrap_or("");
        println!(
            "  {name:<28} median {} {unit}  spread {} {unit}  ({} samples)",
            m.median,
            m.spread,
            m.samples.len()
        );
    }
    Ok(ExitCode::Pass)
}

pub fn default_path(scenario: &str) -> PathBuf {
    PathBuf::from("baselines").join(format!("{scenario}.yaml"))
}
