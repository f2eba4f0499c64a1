//! The audit store: JSON lines in a file, fsynced, so it works while PostgreSQL is down.
//! Several nodes may share one directory: each event is a single `write` on an O_APPEND
//! file, so lines never interleave.
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

    /// Appends one event stamped `at` (RFC 3339) and syncs it to disk.
    pub fn emit_at(&self, event_type: &str, node_id: &str, at: &str, details: Value) {
        let mut line =
            json!({"event_type": event_type, "node_id": node_id, "at": at, "details": details}).to_string();
        line.push('\n');
        let _g = self.lock.lock().unwrap_or_else(|p| p.into_inner());
        let r = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
            .and_then(|mut f| f.write_all(line.as_bytes()).and_then(|_| f.sync_data()));
        match r {
            Ok(()) => eprintln!("audit {event_type} {details}"),
            Err(e) => eprintln!("audit write failed ({}): {e}", self.path.display()),
        }
    }

    pub fn emit(&self, event_type: &str, node_id: &str, details: Value) {
        self.emit_at(event_type, node_id, &crate::state::now_rfc3339(), details)
    }

    /// Events of one type (all when `None`) at or after `start`, oldest first.
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_by_type_and_start() {
        let dir = std::env::temp_dir().join(format!("halab-audit-{}", std::process::id()));
        let a = Audit::new(dir.clone()).unwrap();
        a.emit_at("ha.quorum.lost", "n1", "2026-01-01T00:00:00.000Z", json!({}));
        a.emit_at("ha.quorum.restored", "n1", "2026-01-01T00:00:01.000Z", json!({}));
        a.emit_at("ha.quorum.lost", "n1", "2026-01-01T00:00:02.000Z", json!({"reason": "x"}));
        assert_eq!(a.query(None, None).len(), 3);
        assert_eq!(a.query(Some("ha.quorum.lost"), None).len(), 2);
        let start = chrono::DateTime::parse_from_rfc3339("2026-01-01T00:00:01Z").unwrap().to_utc();
        let late = a.query(Some("ha.quorum.lost"), Some(start));
        assert_eq!(late.len(), 1);
        assert_eq!(late[0]["details"]["reason"], "x");
        assert!(a.query(Some("ha.nothing"), None).is_empty());
        std::fs::remove_dir_all(dir).unwrap();
    }
}
