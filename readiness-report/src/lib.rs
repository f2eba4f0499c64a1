//! The readiness (proof) report, after VAL26: the latest run of each scenario a spec names
//! (a "slice"), cross-slice checks written as CEL over those runs' checks and metrics,
//! readiness levels, the evidence-window rule, risks and a verdict — as text, JSON and
//! HTML. A missing run, or a report of another schema, is MISSING, never a crash.
//!
//! ```text
//! let spec = readiness::load_spec("readiness/ha.yaml", &text)?;
//! let r = readiness::evaluate(&spec, Path::new("runs"), Utc::now());
//! print!("{}", readiness::text(&r));   // and json(&r), html(&r); r.ready: the first level
//! ```

mod collect;
mod evaluate;
mod html;
mod json;
mod spec;
mod text;

pub use collect::{latest_run, SliceResult, SliceStatus};
pub use evaluate::{display, evaluate, CheckOutcome, LevelOutcome, SectionResult, Window};
pub use html::html;
pub use json::json;
pub use spec::{load_spec, var_name, CheckSpec, LevelSpec, SectionSpec, SliceSpec, Spec, SpecError};
pub use testrunner_reports::runs::read_report;
pub use text::text;

use serde::Serialize;
use serde_json::{Map, Value};

/// The schema tag of `readiness.json`.
pub const SCHEMA: &str = "testrunner.readiness/v1";

/// One evaluated readiness report; every renderer reads this and derives nothing itself.
#[derive(Debug, Clone, Serialize)]
pub struct Readiness {
    pub schema: &'static str,
    pub id: String,
    pub title: String,
    pub spec_file: String,
    pub generated: String,
    pub runs_dir: String,
    pub topology: String,
    pub note: String,
    pub coverage: Vec<SliceResult>,
    /// The spec's `derived:` values, by name (null when not computable).
    pub derived: Map<String, Value>,
    pub sections: Vec<SectionResult>,
    pub checks: Vec<CheckOutcome>,
    pub pass: usize,
    pub fail: usize,
    pub window: Window,
    pub levels: Vec<LevelOutcome>,
    pub risks: Vec<String>,
    /// The spec's `notes:` lines, rendered (shown after the verdict).
    pub notes: Vec<String>,
    /// True when the first level is reached.
    pub ready: bool,
    /// The highest level reached, or `NOT READY`.
    pub verdict: String,
}

impl Readiness {
    fn finish(mut self) -> Self {
        self.ready = self.levels.first().is_some_and(|l| l.reached);
        self
    }

    pub fn check(&self, id: &str) -> Option<&CheckOutcome> {
        self.checks.iter().find(|c| c.id == id)
    }

    pub fn slice(&self, id: &str) -> Option<&SliceResult> {
        self.coverage.iter().find(|c| c.id == id)
    }
}
