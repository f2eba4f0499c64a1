//! The one enum of exit codes: the engine, every command, `--help` and the README table
//! (checked below) are generated from it.

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
    /// Standard output was closed by its reader (`| head`); not for `run`, whose verdict
    /// code survives a closed pipe.
    BrokenPipe,
    /// First SIGTERM: cleaned up, reports written.
    Terminated,
}

impl ExitCode {
    /// Every kind of exit, in the order of the table (`Scenario` stands for its range).
    pub const ALL: [ExitCode; 7] = [
        ExitCode::Pass,
        ExitCode::CheckFailed,
        ExitCode::Scenario(2),
        ExitCode::HarnessError,
        ExitCode::Interrupted,
        ExitCode::BrokenPipe,
        ExitCode::Terminated,
    ];

    pub fn code(self) -> i32 {
        match self {
            ExitCode::Pass => 0,
            ExitCode::CheckFailed => 1,
            ExitCode::Scenario(c) => c,
            ExitCode::HarnessError => 3,
            ExitCode::Interrupted => 130,
            ExitCode::BrokenPipe => 141,
            ExitCode::Terminated => 143,
        }
    }

    /// The kind of exit a process status stands for (a child run's, a suite's).
    pub fn from_code(code: i32) -> ExitCode {
        match code {
            0 => ExitCode::Pass,
            1 => ExitCode::CheckFailed,
            3 => ExitCode::HarnessError,
            130 => ExitCode::Interrupted,
            141 => ExitCode::BrokenPipe,
            143 => ExitCode::Terminated,
            c => ExitCode::Scenario(c),
        }
    }

    /// The code column of the table: a scenario's code is any of its range.
    pub fn label(self) -> &'static str {
        match self {
            ExitCode::Pass => "0",
            ExitCode::CheckFailed => "1",
            ExitCode::Scenario(_) => "2, 4-125",
            ExitCode::HarnessError => "3",
            ExitCode::Interrupted => "130",
            ExitCode::BrokenPipe => "141",
            ExitCode::Terminated => "143",
        }
    }

    /// The meaning column, as `--help` and the README state it.
    pub fn meaning(self) -> &'static str {
        match self {
            ExitCode::Pass => "pass: every check passed",
            ExitCode::CheckFailed => {
                "a check failed or could not be judged (a step it needs failed), or the verdict is PARTIAL"
            }
            ExitCode::Scenario(_) => "chosen by the scenario's `exit_codes` (e.g. 2 = RTO exceeded)",
            ExitCode::HarnessError => {
                "harness error: bad scenario or flags, failed setup, incomplete cleanup, internal error"
            }
            ExitCode::Interrupted => "interrupted by SIGINT (cleanup ran, reports marked interrupted)",
            ExitCode::BrokenPipe => {
                "standard output closed by its reader (e.g. piped into `head`); `run` keeps its own code"
            }
            ExitCode::Terminated => "terminated by SIGTERM (cleanup ran, reports marked interrupted)",
        }
    }
}

/// (code, meaning) rows, as printed by `testrunner --help` and in the README.
pub fn exit_code_table() -> Vec<(&'static str, &'static str)> {
    ExitCode::ALL.iter().map(|c| (c.label(), c.meaning())).collect()
}

/// The exit code of a suite (several runs of one `testrunner run`), as the README states it.
pub const SUITE_EXIT_RULE: &[&str] = &[
    "130 / 143 when the suite was interrupted (SIGINT / SIGTERM), or a run was",
    "3 when a run was a harness error or left no report (nothing hides a broken run)",
    "0 when every run passed",
    "otherwise the code the failed runs share (e.g. 2 when each exceeded its RTO), 1 when they differ",
];

/// Applies [`SUITE_EXIT_RULE`] to the runs' exit codes (None: a run that never started,
/// e.g. after `--fail-fast`; it changes nothing) and says which line applied.
pub fn suite_exit(codes: &[Option<i32>], interrupted: Option<&str>) -> (ExitCode, &'static str) {
    let ran: Vec<i32> = codes.iter().flatten().copied().collect();
    let signalled = |c: i32| c == ExitCode::Interrupted.code() || c == ExitCode::Terminated.code();
    match interrupted {
        Some("SIGTERM") => return (ExitCode::Terminated, "interrupted by SIGTERM"),
        Some(_) => return (ExitCode::Interrupted, "interrupted by SIGINT"),
        None => {}
    }
    if let Some(c) = ran.iter().copied().find(|c| signalled(*c)) {
        return (ExitCode::from_code(c), "a run was interrupted");
    }
    if ran.is_empty() || ran.iter().any(|c| *c == ExitCode::HarnessError.code() || *c < 0) {
        return (ExitCode::HarnessError, "a run was a harness error");
    }
    let failed: Vec<i32> = ran.into_iter().filter(|c| *c != 0).collect();
    match failed.first() {
        None => (ExitCode::Pass, "every run passed"),
        Some(first) if failed.iter().all(|c| c == first) => {
            (ExitCode::from_code(*first), "the code every failed run exited with")
        }
        Some(_) => (ExitCode::CheckFailed, "failed runs exited with different codes"),
    }
}

#[cfg(test)]
mod tests {
    use super::{suite_exit, ExitCode};

    #[test]
    fn codes_round_trip_through_the_enum() {
        for c in ExitCode::ALL {
            assert_eq!(ExitCode::from_code(c.code()), c);
        }
        assert_eq!(ExitCode::from_code(4), ExitCode::Scenario(4));
    }

    #[test]
    fn suite_exit_rule() {
        assert_eq!(suite_exit(&[Some(0), Some(0), None], None).0.code(), 0);
        assert_eq!(suite_exit(&[Some(0), Some(2), Some(2)], None).0.code(), 2);
        assert_eq!(suite_exit(&[Some(1), Some(2)], None).0.code(), 1);
        assert_eq!(suite_exit(&[Some(2), Some(3)], None).0.code(), 3);
        assert_eq!(
            suite_exit(&[Some(-1), Some(0)], None).0.code(),
            3,
            "a run killed by a signal left no code"
        );
        assert_eq!(suite_exit(&[None], None).0.code(), 3, "nothing ran");
        assert_eq!(suite_exit(&[Some(0), Some(143)], None).0.code(), 143);
        assert_eq!(suite_exit(&[Some(1)], Some("SIGINT")).0.code(), 130);
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
        for (code, meaning) in super::exit_code_table() {
            let row = format!("| {code} | {meaning} |");
            assert!(readme.contains(&row), "README.md lacks the row `{row}`");
        }
    }
}
