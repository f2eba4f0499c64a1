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

/// The exit code of a suite (several runs of one `testrunner run`), as the README states it.
pub const SUITE_EXIT_RULE: &[&str] = &[
    "130 / 143 when the suite was interrupted (SIGINT / SIGTERM), or a run was",
    "3 when a run was a harness error or left no report (nothing hides a broken run)",
    "0 when every run passed",
    "otherwise the code the failed runs share (e.g. 2 when each exceeded its RTO), 1 when they differ",
];

/// Applies [`SUITE_EXIT_RULE`] to the runs' exit codes (None: a run that never started,
/// e.g. after `--fail-fast`; it changes nothing) and says which line applied.
pub fn suite_exit(codes: &[Option<i32>], interrupted: Option<&str>) -> (i32, &'static str) {
    let ran: Vec<i32> = codes.iter().flatten().copied().collect();
    let signalled = |c: i32| c == ExitCode::Interrupted.code() || c == ExitCode::Terminated.code();
    match interrupted {
        Some("SIGTERM") => return (ExitCode::Terminated.code(), "interrupted by SIGTERM"),
        Some(_) => return (ExitCode::Interrupted.code(), "interrupted by SIGINT"),
        None => {}
    }
    if let Some(c) = ran.iter().copied().find(|c| signalled(*c)) {
        return (c, "a run was interrupted");
    }
    if ran.is_empty() || ran.iter().any(|c| *c == ExitCode::HarnessError.code() || *c < 0) {
        return (ExitCode::HarnessError.code(), "a run was a harness error");
    }
    let failed: Vec<i32> = ran.into_iter().filter(|c| *c != 0).collect();
    match failed.first() {
        None => (0, "every run passed"),
        Some(first) if failed.iter().all(|c| c == first) => (*first, "the code every failed run exited with"),
        Some(_) => (ExitCode::CheckFailed.code(), "failed runs exited with different codes"),
    }
}

#[cfg(test)]
mod tests {
    use super::suite_exit;

    #[test]
    fn suite_exit_rule() {
        assert_eq!(suite_exit(&[Some(0), Some(0), None], None).0, 0);
        assert_eq!(suite_exit(&[Some(0), Some(2), Some(2)], None).0, 2);
        assert_eq!(suite_exit(&[Some(1), Some(2)], None).0, 1);
        assert_eq!(suite_exit(&[Some(2), Some(3)], None).0, 3);
        assert_eq!(suite_exit(&[Some(-1), Some(0)], None).0, 3, "a run killed by a signal left no code");
        assert_eq!(suite_exit(&[None], None).0, 3, "nothing ran");
        assert_eq!(suite_exit(&[Some(0), Some(143)], None).0, 143);
        assert_eq!(suite_exit(&[Some(1)], Some("SIGINT")).0, 130);
    }

    /// The README states the same rule, line for line.
    #[test]
    fn readme_states_the_suite_exit_rule() {
        let readme = include_str!("../../README.md");
        for line in super::SUITE_EXIT_RULE {
            assert!(readme.contains(line), "README.md lacks the suite exit rule line `{line}`");
        }
    }

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
