//! The one table of exit codes. `--help`, the README and the engine all read it from here.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitCode {
    Pass,
    /// A check failed, or the verdict is PARTIAL.
    CheckFailed,
    /// A code the scenario chose with `exit_codes` (2, 4…125).
    Scenario(i32),
    /// Invalid scenario, bad flags, setup failed, cleanup could not restore, internal error.
    HarnessError,
    /// First SIGINT: cleaned up, reports written.
    Interrupted,
    /// First SIGTERM: cleaned up, reports written.
    Terminated,
    /// Standard output was closed by its reader (`| head`); not for `run`, whose verdict
    /// code survives a closed pipe.
    BrokenPipe,
}

impl ExitCode {
    pub fn code(self) -> i32 {
        match self {
            ExitCode::Pass => 0,
            ExitCode::CheckFailed => 1,
            ExitCode::Scenario(c) => c,
            ExitCode::HarnessError => 3,
            ExitCode::Interrupted => 130,
            ExitCode::Terminated => 143,
            ExitCode::BrokenPipe => 141,
        }
    }
}

/// (code, meaning), as printed by `testrunner --help` and in the README.
pub const EXIT_CODE_TABLE: &[(&str, &str)] = &[
    ("0", "pass: every check passed"),
    ("1", "a check failed or could not be judged (a step it needs failed), or the verdict is PARTIAL"),
    ("2, 4-125", "chosen by the scenario's `exit_codes` (e.g. 2 = RTO exceeded)"),
    ("3", "harness error: bad scenario or flags, failed setup, incomplete cleanup, internal error"),
    ("130", "interrupted by SIGINT (cleanup ran, reports marked interrupted)"),
    ("141", "standard output closed by its reader (e.g. piped into `head`); `run` keeps its own code"),
    ("143", "terminated by SIGTERM (cleanup ran, reports marked interrupted)"),
];

#[cfg(test)]
mod tests {
    /// The README documents the same table, row for row.
    #[test]
    fn readme_lists_the_same_exit_codes() {
        let readme = include_str!("../../README.md");
        for (code, meaning) in super::EXIT_CODE_TABLE {
            let row = format!("| {code} | {meaning} |");
            assert!(readme.contains(&row), "README.md lacks the row `{row}`");
        }
    }
}
