//! The audit store: JSON lines in a file, fsynced, so it works while PostgreSQL is down.
use serde_json::{json, Value};
use std::io::Write;
use std::path::PathBuf;
use std::sync::Mutex;

pub struct Audit {
    path: PathBuf,
    lock: Mutex<()>,
}

impl Audit {
    pub fn new(dir: PathBuf) -> std::io::Result<Audit> {
        std::fs::create_dir_all(&dir)?;
        Ok(Audit { path: dir.join("audit.jsonl"), lock: Mutex::new(()) })
    }

    pub fn emit(&self, event_type: &str, node_id: &str, details: Value) {
        let line = json!({
            "event_type": event_type,
            "node_id": node_id,
            "at": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            "details": details,
        });
        let _g = self.lock.lock().unwrap();
        let r = std::fs::OpenOptions::new().create(true).append(true).open(&self.path).and_then(|mut f| {
            writeln!(f, "{line}")?;
            f.sync_data()
        });
        if let Err(e) = r {
            eprintln!("audit write failed: {e}");
        }
        eprintln!("audit {event_type} {details}");
    }

    pub fn query(
        &self,
        event_type: Option<&str>,
        start: Option<chrono::DateTime<chrono::Utc>>,
    ) -> Vec<Value> {
        let text = std::fs::read_to_string(&self.path).unwrap_or_default();
        text.lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|e| event_type.is_none_or(|t| e["event_type"] == t))
            .filter(|e| {
                start.is_none_or(|s| {
                    e["at"]
                        .as_str()
                        .and_then(|a| chrono::DateTime::parse_from_rfc3339(a).ok())
                        .is_some_and(|a| a >= s)
                })
            })
            .collect()
    }
}
