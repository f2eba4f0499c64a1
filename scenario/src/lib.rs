//! The scenario core: a typed model of a scenario file with source spans, its loader and
//! validator, the expression language, and the one diagnostic renderer. No I/O: included
//! files are read through a callback the caller supplies.

mod duration;
mod mask;

pub use duration::{format_duration, parse_duration};
pub use mask::Masker;
