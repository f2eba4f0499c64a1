//! Runs a loaded scenario: setup → phases → undo stack → teardown, every step under a
//! deadline, polling with `until`, background steps, checks and verdicts, signals, and a
//! journal flushed event by event.

pub mod baseline;
mod catalog;
mod exit;
mod group_commit;
mod journal;
mod run;
mod step;
mod undo;
mod verdict;

pub use baseline::Baseline;
pub use catalog::RegistryCatalog;
pub use exit::{ExitCode, EXIT_CODE_TABLE};
pub use group_commit::{SyncStats, SYNC_EVERY};
pub use journal::Journal;
pub use run::{run, Interrupt, RunOptions, RunOutcome};
pub use undo::UndoStack;
