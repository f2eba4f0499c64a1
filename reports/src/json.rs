//! `report.json`: the run report for machines, tagged with a schema version so that a
//! reader (the readiness report) can tell a report it understands from one it does not.
use crate::model::RunReport;
use serde_json::{Map, Value};

/// The schema tag every `report.json` carries; bump it on an incompatible change.
pub const SCHEMA: &str = "testrunner.report/v1";

pub fn render(report: &RunReport) -> String {
    let mut doc = Map::new();
    doc.insert("schema".into(), Value::String(SCHEMA.into()));
    match serde_json::to_value(report) {
        Ok(Value::Object(fields)) => doc.extend(fields),
        // A RunReport is always an object; keep the failure visible rather than panic.
        Ok(other) => {
            doc.insert("report".into(), other);
        }
        Err(e) => {
            doc.insert("error".into(), Value::String(format!("cannot serialize report: {e}")));
        }
    }
    let mut text = serde_json::to_string_pretty(&Value::Object(doc)).unwrap_or_default();
    text.push('\n');
    text
}

/// Reads a `report.json`; another (or no) schema version is an error, never a guess.
pub fn parse(text: &str) -> Result<RunReport, String> {
    let mut doc: Value = serde_json::from_str(text).map_err(|e| format!("report.json is not JSON: {e}"))?;
    let obj = doc.as_object_mut().ok_or("report.json is not a JSON object")?;
    match obj.remove("schema") {
        Some(Value::String(s)) if s == SCHEMA => {}
        Some(Value::String(s)) => {
            return Err(format!("unsupported report schema `{s}` (expected `{SCHEMA}`)"))
        }
        Some(other) => return Err(format!("report schema must be a string, found {other}")),
        None => return Err(format!("report.json has no `schema` field (expected `{SCHEMA}`)")),
    }
    serde_json::from_value(doc).map_err(|e| format!("report.json does not match `{SCHEMA}`: {e}"))
}
