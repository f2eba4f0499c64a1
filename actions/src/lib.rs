//! The Action trait, its registry, and every built-in action, one module per domain.
//!
//! An action is a named, typed operation (`docker.stop`, `http.get`, ...). Its parameters
//! are a serde struct whose JSON schema (schemars) is both the load-time validator and the
//! `explain` documentation, so the two can never drift apart.

mod catalog;
mod context;
mod memory;
mod outcome;
pub mod params;
mod registry;
mod sync;

pub mod core;
pub mod docker;
pub mod files;
pub mod http;
pub mod kube;
pub mod metrics;
pub mod net;
pub mod process;
pub mod sql;

pub use catalog::RegistryCatalog;
pub use context::{create_beneath, ActionCtx, Processes, SharedState, SpawnedProcess, UndoNote, UndoSink};
pub use memory::StepMemory;
pub use outcome::{ActionError, Outcome, Undo};
pub use params::Dur;
pub use registry::{all, find, spec, specs, Action, ActionEntry, ActionSpec, OutputField, Precondition};
pub use sync::lock;

/// The traits an action declares in its spec (defined with the model, read by reports).
pub use testrunner_scenario::{ActionTraits, Chart};

/// Re-exported so action modules register with `inventory::submit!` without a direct dependency.
pub use inventory;
