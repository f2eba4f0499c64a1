//! `report.json`: the run report for machines, tagged with a schema version so that a
//! reader (the readiness report) can tell a report it understands from one it does not.
use crate::model::RunReport;
use serde_json::Value;

/// The schema tag every `report.json` carries; bump it on an incompatible change.
pub const SCHEMA: &str = "testrunner.report/v1";

/// `schema` first, then the report's fields: serialized straight to text (no JSON value tree
/// of the whole run in memory).
#[derive(serde::Serialize)]
struct Doc<'a> {
    schema: &'static str,
    #[serde(flatten)]
    report: &'a RunReport,
}

pub fn render(report: &RunReport) -> String {
    let mut out = Vec::new();
    // Writing to memory cannot fail.
    let _ = write(report, &mut out);
    String::from_utf8(out).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

/// Writes the report as it is serialized (never held whole in memory: it holds every
/// step's result).
pub fn write(report: &RunReport, out: &mut dyn std::io::Write) -> std::io::Result<()> {
    if let Err(e) = serde_json::to_writer_pretty(&mut *out, &Doc { schema: SCHEMA, report }) {
        if e.is_io() {
            return Err(e.into());
        }
        // Only a value JSON cannot hold gets here; the reader is told, not handed half a report.
        write!(out, "\n{{\n  \"schema\": \"{SCHEMA}\",\n  \"error\": {:?}\n}}", e.to_string())?;
    }
    out.write_all(b"\n")
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
