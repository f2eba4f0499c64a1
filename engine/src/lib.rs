//! Runs a loaded scenario: setup → phases → undo stack → teardown, every step under a
//! deadline, polling with `until`, background steps, checks and verdicts, signals, and a
//! journal flushed event by event.

pub mod baseline;
mod error;
mod exit;
mod group_commit;
mod journal;
mod run;
mod step;
mod undo;
mod verdict;

pub use baseline::{Baseline, RecordedRun};
pub use error::EngineError;
pub use exit::{exit_code_table, suite_exit, ExitCode, SUITE_EXIT_RULE};
pub use group_commit::{SyncStats, SYNC_EVERY};
pub use journal::Journal;
pub use run::{run, Interrupt, RunOptions, RunOutcome};
/// The loader's catalog of actions, re-exported for the runner and tests.
pub use testrunner_actions::RegistryCatalog;
pub use undo::UndoStack;
