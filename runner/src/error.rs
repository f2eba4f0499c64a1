//! The one error type of the commands, and the one place a command's result becomes a
//! process exit code.
use crate::load::color_stderr;
use testrunner_engine::ExitCode;
use testrunner_scenario::{Diagnostic, LoadFailure, Sources, Span};

/// What a command returns: `Ok` is the verdict it reached (pass, a failed check, a
/// scenario's own code, an interrupted run), `Err` a harness error it stopped at.
pub type CliResult = Result<ExitCode, CliError>;

#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// One problem, with its place in a file when it has one.
    #[error("{}", .0.title)]
    Diagnostic(Box<Diagnostic>),
    /// A scenario that does not load: every diagnostic, with the sources they point into.
    #[error("the scenario is invalid ({} diagnostic(s))", .0.diagnostics.len())]
    Load(Box<LoadFailure>),
    /// Several problems of one file that is not a scenario (a readiness spec).
    #[error("{} problem(s) in {}", .diagnostics.len(), .diagnostics.first().map(|d| d.span.file.to_string()).unwrap_or_default())]
    Diagnostics { diagnostics: Vec<Diagnostic>, sources: Sources },
    /// The command has printed what went wrong already (each invalid file of `check`).
    #[error("already reported")]
    Reported,
}

impl CliError {
    /// A problem without a place in a file (bad flags, unreadable files), with its hint.
    pub fn msg(title: impl Into<String>, hint: Option<&str>) -> CliError {
        let mut d = Diagnostic::error(title, Span::none());
        if let Some(h) = hint {
            d = d.hint(h);
        }
        CliError::Diagnostic(Box::new(d))
    }

    /// Every error of a command is a harness error: verdicts are `Ok`.
    pub fn exit_code(&self) -> ExitCode {
        match self {
            CliError::Diagnostic(_)
            | CliError::Load(_)
            | CliError::Diagnostics { .. }
            | CliError::Reported => ExitCode::HarnessError,
        }
    }

    /// The text for stderr, through the one diagnostic renderer.
    pub fn render(&self, color: bool) -> String {
        match self {
            CliError::Diagnostic(d) => d.render(&Sources::default(), color),
            CliError::Load(f) => f.render(color),
            CliError::Diagnostics { diagnostics, sources } => {
                diagnostics.iter().map(|d| d.render(sources, color)).collect()
            }
            CliError::Reported => String::new(),
        }
    }
}

impl From<LoadFailure> for CliError {
    fn from(f: LoadFailure) -> Self {
        CliError::Load(Box::new(f))
    }
}

impl From<testrunner_readiness::SpecError> for CliError {
    fn from(e: testrunner_readiness::SpecError) -> Self {
        CliError::Diagnostics { diagnostics: e.diagnostics, sources: e.sources }
    }
}

/// Prints a command's error and returns the process's exit code: the only mapping.
pub fn exit_code(result: CliResult) -> ExitCode {
    match result {
        Ok(code) => code,
        Err(e) => {
            eprint!("{}", e.render(color_stderr()));
            e.exit_code()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_error_is_a_harness_error_and_renders_its_hint() {
        let e = CliError::msg("cannot read x", Some("check the path"));
        assert_eq!(e.exit_code(), ExitCode::HarnessError);
        assert_eq!(e.render(false), "error: cannot read x\n  = hint: check the path\n");
        assert_eq!(CliError::Reported.render(false), "");
        assert_eq!(CliError::Reported.exit_code(), ExitCode::HarnessError);
    }
}
