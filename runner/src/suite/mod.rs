//! `testrunner run` with several scenarios (files, directories, globs) or suite flags:
//! select, run each in its own process, then write the suite's own reports at the top of
//! `--out`: junit.xml (one `<testsuite>` per run), index.html, report.json, summary.txt.
mod exec;
pub mod select;

use crate::cli::RunArgs;
use crate::error::{CliError, CliResult};
use crate::load::{color_stderr, load_scenario};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use testrunner_engine::ExitCode;
use testrunner_reports::suite::{BaselineSpread, SuiteReport, SuiteRun};

/// A single plain file without suite flags is a single run (its directory is `--out`).
pub fn is_suite(args: &RunArgs) -> bool {
    args.scenarios.len() > 1 || args.suite.any() || args.scenarios.iter().any(|p| select::is_collection(p))
}

pub fn run(args: RunArgs) -> CliResult {
    let started = chrono::Utc::now();
    let files = match select::expand(&args.scenarios) {
        Ok(f) => f,
        Err(e) => {
            return Err(CliError::msg(
                e,
                Some("give scenario files, directories or quoted globs ('scenarios/*.yaml')"),
            ));
        }
    };
    // Every file is loaded first: a suite with an invalid scenario runs nothing. A `--var`
    // need only be declared by some scenario of the suite (checked below).
    let mut vars = args.vars.clone();
    vars.suite_vars = true;
    let mut declared: std::collections::BTreeSet<String> = Default::default();
    let mut loaded = vec![];
    let mut secrets = vec![];
    let mut bad = 0;
    for f in &files {
        match load_scenario(f, &vars) {
            Ok(l) => {
                let sc = l.scenario;
                declared.extend(sc.vars.iter().map(|v| v.name.clone()));
                secrets.extend(crate::cmd_run::secret_values(&sc));
                loaded.push((f.clone(), (sc.id.clone(), sc.tags.clone())));
            }
            Err(fail) => {
                bad += 1;
                eprint!("{}", fail.render(color_stderr()));
            }
        }
    }
    if bad > 0 {
        return Err(CliError::msg(
            format!("{bad} of {} scenario file(s) invalid; nothing was run", files.len()),
            Some("`testrunner check <files>` shows every problem without running"),
        ));
    }
    let undeclared: Vec<&str> = args
        .vars
        .vars
        .iter()
        .filter_map(|kv| kv.split_once('=').map(|(k, _)| k.trim()))
        .filter(|k| !declared.contains(*k))
        .collect();
    if !undeclared.is_empty() {
        return Err(CliError::msg(
            format!("--var sets `{}`, which no scenario of the suite declares", undeclared.join("`, `")),
            Some("check the name against the scenarios' `vars:`"),
        ));
    }
    let s = &args.suite;
    loaded.retain(|(_, (_, tags))| select::tags_match(tags, &s.tags, &s.exclude_tags));
    if let Some(spec) = &s.shard {
        match select::parse_shard(spec) {
            Ok((k, n)) => loaded = select::shard(&loaded, k, n),
            Err(e) => {
                return Err(CliError::msg(e, None));
            }
        }
    }
    if loaded.is_empty() {
        if s.shard.is_some() {
            // More shards than scenarios: an empty slice is not a failure of the CI matrix.
            eprintln!("this shard selects no scenario; nothing to run");
            return Ok(ExitCode::Pass);
        }
        return Err(CliError::msg(
            format!("no scenario selected from {} file(s)", files.len()),
            Some("check --tags / --exclude-tags against the scenarios' `tags:`"),
        ));
    }
    let ids: std::collections::BTreeSet<&str> = loaded.iter().map(|(_, (id, _))| id.as_str()).collect();
    if args.expect_fingerprint.is_some() && ids.len() > 1 {
        return Err(CliError::msg(
            "--expect-fingerprint names one scenario's fingerprint, and this suite has several",
            Some("run the reviewed scenario on its own"),
        ));
    }
    let stamp = started.format("%Y%m%dT%H%M%S%3fZ").to_string();
    let out = args.out.clone().unwrap_or_else(|| PathBuf::from("runs").join("suite").join(&stamp));
    claim(&out)?;
    let parallel = s.jobs as usize;
    let mut runs: Vec<SuiteRun> = vec![];
    let mut jobs = vec![];
    let mut taken: BTreeMap<String, usize> = BTreeMap::new();
    for (file, (id, _)) in &loaded {
        // Two files with the same scenario id still get their own directories.
        let n = taken.entry(id.clone()).or_default();
        *n += 1;
        let base = if *n == 1 { id.clone() } else { format!("{id}-{n}") };
        for k in 1..=s.repeat {
            let name = if s.repeat == 1 { base.clone() } else { format!("{base}.{k}") };
            // Unique on this host across suites too: scenarios name containers by run.id.
            let run_id = format!("{name}-{stamp}");
            let console = (parallel > 1).then(|| out.join("console").join(format!("{name}.txt")));
            jobs.push(exec::Job {
                name: name.clone(),
                args: child_args(&args, file, &out.join(&name), &run_id, parallel),
                console,
            });
            runs.push(SuiteRun {
                name,
                scenario: id.clone(),
                file: file.to_string_lossy().into_owned(),
                repeat: k,
                run_id,
                ..Default::default()
            });
        }
    }
    if parallel > 1 {
        if let Err(e) = std::fs::create_dir_all(out.join("console")) {
            return Err(CliError::msg(format!("cannot create {}: {e}", out.join("console").display()), None));
        }
    }
    let outcome = exec::run_all(jobs, parallel, s.fail_fast, args.quiet);
    for (r, e) in runs.iter_mut().zip(outcome.ended) {
        r.exit_code = e.code;
        r.not_run = e.not_run;
        r.problem = e.problem;
        r.duration_ms = e.duration_ms;
        if r.exit_code.is_some() {
            match crate::cmd_baseline::read_run(&out.join(&r.name)) {
                Ok(rep) => r.report = Some(rep),
                Err(err) => {
                    r.problem.get_or_insert(err);
                }
            }
        }
    }
    let codes: Vec<Option<i32>> = runs
        .iter()
        .map(|r| match (&r.not_run, &r.report) {
            (Some(_), _) => None,
            // A run that could not start, or ended without a report, is a broken run.
            (None, None) => Some(ExitCode::HarnessError.code()),
            (None, Some(_)) => r.exit_code,
        })
        .collect();
    let (code, rule) = testrunner_engine::suite_exit(&codes, outcome.interrupted.as_deref());
    let finished = chrono::Utc::now();
    let mut suite = SuiteReport {
        started_at: started.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        finished_at: finished.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        duration_ms: (finished - started).num_milliseconds().max(0) as u64,
        // A secret given with --var stays out of the suite's reports, as out of a run's.
        command: {
            let masker = testrunner_scenario::Masker::new(secrets);
            std::env::args().map(|a| masker.mask(&a).into_owned()).collect()
        },
        jobs: s.jobs,
        shard: s.shard.clone(),
        repeat: s.repeat,
        exit_code: code.code(),
        exit_rule: rule.to_string(),
        interrupted: outcome.interrupted,
        runs,
        flakiness: vec![],
    };
    if s.repeat > 1 {
        suite.flakiness = flakiness(&suite.runs, &args);
    }
    if let Err(e) = write(&out, &suite, args.junit.as_deref()) {
        return Err(CliError::msg(format!("cannot write the suite reports in {}: {e}", out.display()), None));
    }
    let _ = std::io::Write::write_all(
        &mut std::io::stdout().lock(),
        format!("{}suite directory: {}\n", suite.text(), out.display()).as_bytes(),
    );
    Ok(code)
}

/// The suite directory must be new or empty: a suite never mixes its runs with others'.
fn claim(out: &Path) -> Result<(), CliError> {
    let hint = Some("give --out a new or empty directory");
    if std::fs::read_dir(out).is_ok_and(|mut d| d.next().is_some()) {
        return Err(CliError::msg(format!("suite directory {} is not empty", out.display()), hint));
    }
    std::fs::create_dir_all(out)
        .map_err(|e| CliError::msg(format!("cannot create {}: {e}", out.display()), hint))
}

/// The child's command line: the same vars, baseline and gates, its own directory and id.
fn child_args(args: &RunArgs, file: &Path, dir: &Path, run_id: &str, parallel: usize) -> Vec<String> {
    let mut a: Vec<String> = vec!["run".into(), file.to_string_lossy().into_owned()];
    let mut flag = |f: &str, v: String| {
        a.push(f.into());
        a.push(v);
    };
    flag("--out", dir.to_string_lossy().into_owned());
    flag("--run-id", run_id.into());
    for v in &args.vars.vars {
        flag("--var", v.clone());
    }
    for f in &args.vars.vars_files {
        flag("--vars-file", f.to_string_lossy().into_owned());
    }
    for r in &args.vars.include_roots {
        flag("--include-root", r.to_string_lossy().into_owned());
    }
    if let Some(b) = &args.baseline {
        flag("--baseline", b.to_string_lossy().into_owned());
    }
    if let Some(fp) = &args.expect_fingerprint {
        flag("--expect-fingerprint", fp.clone());
    }
    a.push("--suite-vars".into());
    if args.no_baseline {
        a.push("--no-baseline".into());
    }
    if args.preflight {
        a.push("--preflight".into());
    }
    if args.quiet || parallel > 1 {
        a.push("--quiet".into());
    }
    a
}

/// Pass rate per check and metric spread per repeated scenario, against its baseline.
fn flakiness(runs: &[SuiteRun], args: &RunArgs) -> Vec<testrunner_reports::suite::Flakiness> {
    let mut by: Vec<(String, Vec<&testrunner_reports::RunReport>)> = vec![];
    for r in runs {
        let Some(rep) = &r.report else { continue };
        match by.iter_mut().find(|(n, _)| *n == r.scenario) {
            Some((_, v)) => v.push(rep),
            None => by.push((r.scenario.clone(), vec![rep])),
        }
    }
    by.into_iter()
        .map(|(scenario, reports)| {
            let spread = baseline_spread(&scenario, args);
            testrunner_reports::suite::flakiness(&scenario, &reports, &spread)
        })
        .collect()
}

/// The baseline's spread per metric (the one `run` would compare with); empty without one.
fn baseline_spread(scenario: &str, args: &RunArgs) -> BTreeMap<String, BaselineSpread> {
    if args.no_baseline {
        return BTreeMap::new();
    }
    let path = args.baseline.clone().unwrap_or_else(|| crate::cmd_baseline::default_path(scenario));
    let Ok(text) = std::fs::read_to_string(&path) else { return BTreeMap::new() };
    let Ok(b) = testrunner_engine::Baseline::from_yaml(&text) else { return BTreeMap::new() };
    if b.scenario != scenario {
        return BTreeMap::new();
    }
    b.metrics
        .into_iter()
        .map(|(name, m)| {
            let min = m.samples.iter().cloned().fold(f64::INFINITY, f64::min);
            let max = m.samples.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
            let (min, max) = if m.samples.is_empty() { (m.median, m.median) } else { (min, max) };
            (name, BaselineSpread { median: m.median, min, max, spread: m.spread, samples: m.samples.len() })
        })
        .collect()
}

fn write(out: &Path, s: &SuiteReport, junit_copy: Option<&Path>) -> std::io::Result<()> {
    let junit = testrunner_reports::suite::junit(s);
    std::fs::write(out.join("junit.xml"), &junit)?;
    if let Some(p) = junit_copy {
        if let Some(parent) = p.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(p, &junit)?;
    }
    std::fs::write(out.join("index.html"), testrunner_reports::suite::html(s))?;
    std::fs::write(out.join("report.json"), s.json())?;
    std::fs::write(out.join("summary.txt"), s.text())
}
