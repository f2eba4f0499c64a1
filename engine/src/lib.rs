//! Runs a loaded scenario: setup → phases → undo stack → teardown, every step under a
//! deadline, polling with `until`, background steps, checks and verdicts, signals, and a
//! journal flushed event by event.

pub mod baseline;
mod catalog;
mod exit;
mod journal;
mod run;
mod step;
mod undo;
mod verdict;

pub use baseline::Baseline;
pub use catalog::RegistryCatalog;
pub use exit::{suite_exit, ExitCode, EXIT_CODE_TABLE, SUITE_EXIT_RULE};
pub use journal::Journal;
pub use run::{run, Interrupt, RunOptions, RunOutcome};
pub use undo::UndoStack;
