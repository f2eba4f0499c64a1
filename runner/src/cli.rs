use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;
use testrunner_engine::ExitCode;

const DOCS: &str = "Docs: README.md (authoring guide) · `testrunner actions` (catalogue)";

/// Runs HA / failover / chaos validation scenarios written in YAML, with hard deadlines,
/// and writes JUnit XML, HTML, JSON and an evidence directory.
#[derive(Parser, Debug)]
#[command(name = "testrunner", version, about, long_about = None, after_help = top_help())]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

/// An "Examples:" block, an optional extra block, then the docs line.
fn help(examples: &[&str], extra: &str) -> String {
    let mut out = String::from("Examples:\n");
    for e in examples {
        out.push_str(&format!("  {e}\n"));
    }
    if !extra.is_empty() {
        out.push('\n');
        out.push_str(extra.trim_end());
        out.push('\n');
    }
    out.push('\n');
    out.push_str(DOCS);
    out
}

fn exit_codes() -> String {
    let table: String =
        testrunner_engine::exit_code_table().iter().map(|(c, m)| format!("  {c:<9} {m}\n")).collect();
    format!("Exit codes:\n{table}")
}

fn top_help() -> String {
    help(
        &[
            "testrunner run scenarios/val17.yaml",
            "testrunner run scenarios/ --tags val --jobs 2 --out runs/nightly",
            "testrunner check scenarios/",
            "testrunner explain docker.stop",
            "testrunner report runs/val17/20261122T101500Z",
            "testrunner runs",
        ],
        &exit_codes(),
    )
}

fn suite_rule() -> String {
    let rule: String = testrunner_engine::SUITE_EXIT_RULE
        .iter()
        .enumerate()
        .map(|(i, l)| format!("  {}. {l}\n", i + 1))
        .collect();
    format!(
        "Suites (several files, a directory, a glob, or a suite flag):\n  one run directory per run under --out, \
         plus junit.xml, index.html and report.json at its top.\n  Exit code, the first rule that applies:\n{}",
        rule.trim_end()
    )
}

fn run_help() -> String {
    let deadlines = "\
Deadlines:
  The whole run (setup + phases) ends at the scenario's `timeout:` (default 30m).
  Every step has its own: `timeout:` on the step, else `defaults.step_timeout` (default 30s).
  Then the undo stack and teardown get their own budget: `defaults.teardown_timeout` (default 2m).";
    help(
        &[
            "testrunner run scenarios/val17.yaml",
            "testrunner run scenarios/val13.yaml --var failover_threshold_ms=3000 --junit target/junit.xml",
            "testrunner run scenarios/val17.yaml --vars-file lab.yaml --out runs/val17/manual -q",
            "testrunner run scenarios/d31.yaml --preflight --expect-fingerprint 3a727b931ebe174e   # as reviewed with `plan`",
            "testrunner run scenarios/ --tags val --exclude-tags kubernetes --shard 2/3 --junit junit/shard-2.xml",
            "testrunner run scenarios/val13.yaml --repeat 10   # pass rate per check, metric spread",
        ],
        &format!("{deadlines}\n\n{}\n\n{}", suite_rule(), exit_codes()),
    )
}

fn check_help() -> String {
    help(
        &["testrunner check scenarios/*.yaml", "testrunner check scenarios/val13.yaml --var failover_threshold_ms=3000"],
        &format!(
            "Exit codes:\n  {:<9} every file is valid\n  {:<9} at least one file is invalid (each problem is printed)",
            ExitCode::Pass.label(),
            ExitCode::HarnessError.label()
        ),
    )
}

fn explain_help() -> String {
    help(
        &["testrunner explain docker.stop", "testrunner explain sql.writers", "testrunner explain until"],
        "",
    )
}

fn schema_help() -> String {
    help(
        &[
            "testrunner schema --out .vscode/testrunner.schema.json",
            "testrunner schema | jq '.definitions | keys'",
        ],
        "",
    )
}

fn report_help() -> String {
    help(&["testrunner report runs/val17/20261122T101500Z"], "")
}

fn plan_help() -> String {
    help(&["testrunner plan scenarios/val17.yaml", "testrunner plan scenarios/val17.yaml --json"], "")
}

fn baseline_help() -> String {
    help(&["testrunner baseline record runs/val17/20261122T101500Z runs/val17/20261122T103000Z"], "")
}

fn readiness_help() -> String {
    help(
        &[
            "testrunner readiness readiness/ha.yaml",
            "testrunner readiness readiness/ha.yaml --runs runs --out proof/",
        ],
        "",
    )
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run a scenario and write its run directory (reports + evidence).
    #[command(after_help = run_help())]
    Run(Box<RunArgs>),
    /// Validate scenario files without running anything (exit 3 if any is invalid).
    #[command(after_help = check_help())]
    Check(CheckArgs),
    /// List every registered action.
    #[command(after_help = help(&["testrunner actions", "testrunner actions | grep docker"], ""))]
    Actions,
    /// Show an action's parameters, outputs and an example (or what an engine key does).
    #[command(after_help = explain_help())]
    Explain(ExplainArgs),
    /// Print the scenario format as a JSON Schema, for editor completion and checks
    /// (YAML language server). `testrunner check` remains the full validation.
    #[command(after_help = schema_help())]
    Schema(SchemaArgs),
    /// Rebuild a run's reports from its journal (also after the runner was killed).
    #[command(after_help = report_help())]
    Report(ReportArgs),
    /// Undo what a run recorded and never undid (runner killed, cleanup abandoned): kill its
    /// process groups, remove its containers, resume what it paused. Safe to repeat.
    #[command(after_help = help(&["testrunner cleanup runs/val17/20261122T101500Z"], ""))]
    Cleanup(CleanupArgs),
    /// Dry run: resolved steps, checks, worst-case duration, fingerprint and read-only
    /// preconditions (exit 3 when a blocker is found). Changes nothing.
    #[command(after_help = plan_help())]
    Plan(PlanArgs),
    /// Record baselines that later runs are compared with.
    #[command(after_help = baseline_help())]
    Baseline(BaselineArgs),
    /// List the runs below a directory (any depth): verdict, duration, checks, key metrics.
    #[command(after_help = help(&["testrunner runs", "testrunner runs runs/suite --scenario val17", "testrunner runs --json"], ""))]
    Runs(RunsArgs),
    /// Show what changed between two runs: each check's status and each metric's delta.
    #[command(after_help = help(&["testrunner diff runs/val17/20261122T101500Z runs/val17/20261123T101500Z --html diff.html"], ""))]
    Diff(DiffArgs),
    /// Write a commented starter scenario (NAME.yaml) that passes `check`.
    #[command(after_help = help(&["testrunner init failover", "testrunner init failover --dir scenarios"], ""))]
    Init(InitArgs),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    #[command(after_help = help(&[
        "testrunner completions bash > ~/.local/share/bash-completion/completions/testrunner",
        "testrunner completions zsh > ~/.zfunc/_testrunner",
        "testrunner completions fish > ~/.config/fish/completions/testrunner.fish",
    ], ""))]
    Completions(CompletionsArgs),
    /// Build a readiness (proof) report from the latest runs of several scenarios
    /// (exit 0 when the first readiness level is reached, 1 otherwise).
    #[command(after_help = readiness_help())]
    Readiness(ReadinessArgs),
}

#[derive(Args, Debug)]
pub struct ReadinessArgs {
    /// The readiness spec, e.g. readiness/ha.yaml.
    pub spec: PathBuf,
    /// The runs directory: every run below it, at any depth (runs/<scenario>/<timestamp>,
    /// a run written with --out, a suite's runs); per scenario the one that started last.
    #[arg(long, default_value = "runs")]
    pub runs: PathBuf,
    /// Where to write readiness.txt/.json/.html (default: <runs>/readiness-<id>/<timestamp>).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct InitArgs {
    /// The scenario id and file name (default: my-scenario).
    pub name: Option<String>,
    /// The directory to write NAME.yaml in.
    #[arg(long, value_name = "DIR", default_value = ".")]
    pub dir: PathBuf,
}

#[derive(Args, Debug)]
pub struct CompletionsArgs {
    /// The shell.
    pub shell: clap_complete::Shell,
}

#[derive(Args, Debug)]
pub struct RunsArgs {
    /// Where to look (every run directory below it, at any depth).
    #[arg(default_value = "runs")]
    pub dir: PathBuf,
    /// Only runs of this scenario id.
    #[arg(long, value_name = "ID")]
    pub scenario: Option<String>,
    /// Print JSON instead of the table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct DiffArgs {
    /// The earlier run directory.
    pub run_a: PathBuf,
    /// The later run directory.
    pub run_b: PathBuf,
    /// Also write the comparison as one HTML page.
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct PlanArgs {
    /// The scenario file.
    pub scenario: PathBuf,
    #[command(flatten)]
    pub vars: VarArgs,
    /// Print the plan as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug, Clone, Default)]
pub struct VarArgs {
    /// Override a variable: `--var name=value` (repeatable; wins over the file,
    /// `--vars-file` and TESTRUNNER_VAR_<name> environment variables).
    #[arg(long = "var", value_name = "NAME=VALUE")]
    pub vars: Vec<String>,
    /// A YAML file of `name: value` overrides.
    #[arg(long = "vars-file", value_name = "FILE")]
    pub vars_files: Vec<PathBuf>,
    /// Also allow `include:` files from this directory tree (repeatable). By default an
    /// include must lie in the scenario file's own directory tree.
    #[arg(long = "include-root", value_name = "DIR")]
    pub include_roots: Vec<PathBuf>,
    /// Set by a suite for its runs: a `--var` / `--vars-file` entry this scenario does not
    /// declare is a warning, not an error (another scenario of the suite declares it).
    #[arg(long = "suite-vars", hide = true)]
    pub suite_vars: bool,
}

#[derive(Args, Debug, Clone)]
pub struct RunArgs {
    /// Scenario files, directories (every `*.yaml` / `*.yml` with a top-level `phases:`,
    /// recursively) or quoted globs (`'scenarios/**/*.yaml'`). More than one scenario, or
    /// any suite flag, runs a suite: one run directory per run under `--out`, plus a
    /// combined junit.xml, index.html and report.json at its top.
    #[arg(required = true, value_name = "SCENARIO")]
    pub scenarios: Vec<PathBuf>,
    #[command(flatten)]
    pub vars: VarArgs,
    /// The run directory (default: runs/<scenario>/<UTC timestamp>).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Also write the JUnit XML here (for CI servers that look in a fixed place).
    #[arg(long, value_name = "PATH")]
    pub junit: Option<PathBuf>,
    /// Print only the final report.
    #[arg(short, long)]
    pub quiet: bool,
    /// Compare metrics with this baseline (default: baselines/<scenario>.yaml if it exists).
    #[arg(long, value_name = "FILE", conflicts_with = "no_baseline")]
    pub baseline: Option<PathBuf>,
    /// Do not compare with any baseline.
    #[arg(long)]
    pub no_baseline: bool,
    /// First probe the preconditions as `plan` does; with any blocker, run nothing and
    /// exit 3 (a blocked dry run never runs).
    #[arg(long)]
    pub preflight: bool,
    /// Run only if the resolved scenario (vars included) still has the fingerprint a
    /// reviewed `plan` printed (a prefix of at least 8 hex digits); otherwise exit 3.
    #[arg(long, value_name = "HEX")]
    pub expect_fingerprint: Option<String>,
    #[command(flatten)]
    pub suite: SuiteArgs,
    /// The run id (`run.id`) instead of the run directory's name: set by a suite for each
    /// of its runs, so that parallel runs never share container names.
    #[arg(long, value_name = "ID", hide = true)]
    pub run_id: Option<String>,
}

/// Selecting and scheduling the runs of a suite.
#[derive(Args, Debug, Clone, Default)]
pub struct SuiteArgs {
    /// Run only scenarios with at least one of these `tags:` (comma-separated, repeatable).
    #[arg(long, value_name = "TAG,...", value_delimiter = ',')]
    pub tags: Vec<String>,
    /// Skip scenarios with any of these `tags:` (comma-separated, repeatable; wins over --tags).
    #[arg(long, value_name = "TAG,...", value_delimiter = ',')]
    pub exclude_tags: Vec<String>,
    /// Run up to N scenarios at once, each in its own process with its own run id.
    #[arg(long, short = 'j', value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=64))]
    pub jobs: u32,
    /// Run only slice K of N (1-based): the selected scenarios, sorted by path, dealt
    /// round-robin, so N CI jobs with K = 1..N run each scenario exactly once.
    #[arg(long, value_name = "K/N")]
    pub shard: Option<String>,
    /// Start no further run after the first one that does not pass (the running ones finish;
    /// the rest are reported as skipped). Default: keep going.
    #[arg(long)]
    pub fail_fast: bool,
    /// Run each scenario N times and report flakiness: pass rate per check and
    /// min / median / p95 / max of every metric, against the baseline's spread.
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub repeat: u32,
}

impl SuiteArgs {
    /// Any flag that only makes sense for a suite.
    pub fn any(&self) -> bool {
        !self.tags.is_empty()
            || !self.exclude_tags.is_empty()
            || self.jobs > 1
            || self.shard.is_some()
            || self.fail_fast
            || self.repeat > 1
    }
}

#[derive(Args, Debug)]
pub struct BaselineArgs {
    #[command(subcommand)]
    pub command: BaselineCommand,
}

#[derive(Subcommand, Debug)]
pub enum BaselineCommand {
    /// Record a baseline from one or more passing runs of the same scenario
    /// (several runs let the comparison judge noise, not a single number).
    Record {
        /// Run directories (each with journal.jsonl).
        #[arg(required = true)]
        run_dirs: Vec<PathBuf>,
        /// Where to write it (default: baselines/<scenario>.yaml).
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
        /// Record from runs of different scenario fingerprints (changed file or vars).
        #[arg(long)]
        allow_mixed: bool,
    },
}

#[derive(Args, Debug)]
pub struct CheckArgs {
    /// Scenario files, directories (their scenarios, recursively) or quoted globs.
    #[arg(required = true)]
    pub scenarios: Vec<PathBuf>,
    #[command(flatten)]
    pub vars: VarArgs,
    /// `text` (source lines and carets), `json` (one object per file with its
    /// diagnostics) or `github` (`::error file=…,line=…` annotations for GitHub Actions).
    #[arg(long, value_enum, default_value_t = CheckFormat::Text)]
    pub format: CheckFormat,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum CheckFormat {
    Text,
    Json,
    Github,
}

#[derive(Args, Debug)]
pub struct SchemaArgs {
    /// Write the schema to this file instead of standard output (missing directories are created).
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct ExplainArgs {
    /// An action name, e.g. `docker.stop`, or an engine key (`until`, `stop`, `use`, ...).
    pub action: String,
}

#[derive(Args, Debug)]
pub struct ReportArgs {
    /// A run directory containing journal.jsonl.
    pub run_dir: PathBuf,
}

#[derive(Args, Debug)]
pub struct CleanupArgs {
    /// A run directory containing journal.jsonl.
    pub run_dir: PathBuf,
}
