//! The run-result model and its renderers. The engine emits [`Event`]s; the journal stores
//! them; [`RunReport::from_events`] folds them into one result, and every renderer (JUnit,
//! HTML, JSON, terminal text) reads that result. No renderer derives a verdict of its own.

#[cfg(test)]
mod fixtures;
mod model;
mod step_result;

pub mod diff;
pub mod evidence;
pub mod html;
pub mod json;
pub mod junit;
pub mod runs;
pub mod suite;
pub mod summary;
pub mod text;

pub use model::{
    CheckResult, MetricResult, PendingUndo, PhaseResult, ReportFold, RunReport, StepRecord, UndoRecord,
};
pub use step_result::StepResult;
pub use testrunner_events::{CheckDecl, CheckStatus, Event, Subscriber, Verdict};
