use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

const AFTER_HELP: &str = "\
Examples:
  testrunner run scenarios/val17.yaml
  testrunner run scenarios/val13.yaml --var failover_threshold_ms=3000 --junit target/junit.xml
  testrunner check scenarios/*.yaml
  testrunner explain docker.stop
  testrunner report runs/val17/20261122T101500Z

Exit codes:
{EXIT_CODES}
Docs: README.md (authoring guide) · `testrunner actions` (catalogue)";

/// Runs HA / failover / chaos validation scenarios written in YAML, with hard deadlines,
/// and writes JUnit XML, HTML, JSON and an evidence directory.
#[derive(Parser, Debug)]
#[command(name = "testrunner", version, about, long_about = None, after_help = after_help())]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

fn after_help() -> String {
    let table: String =
        testrunner_engine::EXIT_CODE_TABLE.iter().map(|(c, m)| format!("  {c:<9} {m}\n")).collect();
    AFTER_HELP.replace("{EXIT_CODES}\n", &table)
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run a scenario and write its run directory (reports + evidence).
    #[command(after_help = after_help())]
    Run(RunArgs),
    /// Validate scenario files without running anything (exit 3 if any is invalid).
    Check(CheckArgs),
    /// List every registered action.
    Actions,
    /// Show an action's parameters, outputs and an example.
    Explain(ExplainArgs),
    /// Print the scenario format as a JSON Schema, for editor completion and checks
    /// (YAML language server). `testrunner check` remains the full validation.
    Schema(SchemaArgs),
    /// Rebuild a run's reports from its journal (also after the runner was killed).
    Report(ReportArgs),
    /// Dry run: resolved steps, checks, worst-case duration, fingerprint and read-only
    /// preconditions (exit 3 when a blocker is found). Changes nothing.
    Plan(PlanArgs),
    /// Record baselines that later runs are compared with.
    Baseline(BaselineArgs),
    /// Build a readiness (proof) report from the latest runs of several scenarios
    /// (exit 0 when the first readiness level is reached, 1 otherwise).
    Readiness(ReadinessArgs),
}

#[derive(Args, Debug)]
pub struct ReadinessArgs {
    /// The readiness spec, e.g. readiness/ha.yaml.
    pub spec: PathBuf,
    /// The runs directory (holding <scenario>/<timestamp>/report.json).
    #[arg(long, default_value = "runs")]
    pub runs: PathBuf,
    /// Where to write readiness.txt/.json/.html (default: <runs>/readiness-<id>/<timestamp>).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
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
}

#[derive(Args, Debug)]
pub struct RunArgs {
    /// The scenario file.
    pub scenario: PathBuf,
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
    },
}

#[derive(Args, Debug)]
pub struct CheckArgs {
    /// Scenario files to validate.
    #[arg(required = true)]
    pub scenarios: Vec<PathBuf>,
    #[command(flatten)]
    pub vars: VarArgs,
}

#[derive(Args, Debug)]
pub struct SchemaArgs {
    /// Write the schema to this file instead of standard output.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct ExplainArgs {
    /// An action name, e.g. `docker.stop`.
    pub action: String,
}

#[derive(Args, Debug)]
pub struct ReportArgs {
    /// A run directory containing journal.jsonl.
    pub run_dir: PathBuf,
}
