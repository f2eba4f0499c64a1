//! `readiness.json`: the evaluated report for machines, tagged with [`crate::SCHEMA`].
use crate::Readiness;

pub fn json(r: &Readiness) -> String {
    match serde_json::to_string_pretty(r) {
        Ok(mut s) => {
            s.push('\n');
            s
        }
        // Serializing plain data cannot fail; keep any failure visible rather than panic.
        Err(e) => format!("{{\"schema\": \"{}\", \"error\": {:?}}}\n", crate::SCHEMA, e.to_string()),
    }
}
