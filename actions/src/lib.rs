//! The Action trait, its registry, and every built-in action, one module per domain.
//!
//! An action is a named, typed operation (`docker.stop`, `http.get`, ...). Its parameters
//! are a serde struct whose JSON schema (schemars) is both the load-time validator and the
//! `explain` documentation, so the two can never drift apart.

mod context;
mod outcome;
pub mod params;
mod registry;

pub mod core;
pub mod docker;
pub mod files;
pub mod http;
pub mod kube;
pub mod metrics;
pub mod net;
pub mod process;
pub mod sql;

pub use context::{create_beneath, ActionCtx, Processes, SharedState, SpawnedProcess, UndoNote, UndoSink};
pub use outcome::{ActionError, Outcome, Undo};
pub use params::Dur;
pub use registry::{all, find, Action, ActionEntry, ActionSpec, OutputField, Precondition};

/// Re-exported so action modules register with `inventory::submit!` without a direct dependency.
pub use inventory;
