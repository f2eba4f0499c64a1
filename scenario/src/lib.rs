//! The scenario core: a typed model of a scenario file with source spans, its loader and
//! validator, the expression language, and the one diagnostic renderer. No I/O besides
//! [`read_source`] (the bounded file read the CLI hands the loader as its callback).

mod catalog;
pub mod diag;
mod duration;
pub mod expr;
mod json_schema;
mod kind;
mod load;
mod mask;
mod model;
pub mod names;
pub mod node;
pub mod read;
mod refs;
mod resolved;
mod schema;
mod span;
pub mod stats;

pub use diag::{did_you_mean, Diagnostic, Severity};
pub use duration::{format_duration, parse_duration};
pub use expr::{Expr, Scope, Template, FUNCTIONS};
pub use json_schema::scenario_schema;
pub use kind::StepKind;
pub use load::{
    is_ident, load, load_with, read_source, valid_scenario_id, Catalog, LoadFailure, LoadOptions, Loaded,
    Output, Overrides, ReadBytes, ReadFile, MAX_EXPANDED, MAX_FILE_BYTES, MAX_TOTAL_BYTES, RESULT_FIELDS,
    STEP_KEYS,
};
pub use mask::{embedded_credentials, Masker};
pub use model::*;
pub use node::{parse_yaml, Node, SNode};
pub use resolved::{step_json, Resolved};
pub use schema::conform_params;
pub use span::{Sources, Span, Spanned};
/// Declared by actions in their specs, recorded in the journal: the event crate owns them.
pub use testrunner_events::{ActionTraits, Chart};
