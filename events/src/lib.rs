//! The journal's vocabulary: every [`Event`] the engine emits (one line of `journal.jsonl`
//! each), the [`Verdict`] of a run and the [`CheckStatus`] of a check. Serde only, so the
//! engine emits events without knowing any report, and every report folds them.

mod event;
mod subscriber;
mod traits;

pub use event::{parse_journal, CheckDecl, CheckStatus, Event, Verdict};
pub use subscriber::Subscriber;
pub use traits::{ActionTraits, Chart};
