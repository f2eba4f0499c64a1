//! The run directory: reports, and a manifest with the sha256 of every file.
use serde_json::json;
use sha2::{Digest, Sha256};
use std::io::Write;
use std::path::{Path, PathBuf};
use testrunner_reports::{evidence, html, json as json_report, junit, summary, RunReport};

pub fn default_dir(scenario: &str) -> PathBuf {
    let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%S%.3fZ").to_string().replace('.', "");
    PathBuf::from("runs").join(scenario).join(stamp)
}

/// Writes junit.xml, report.json, report.html, summary.txt, the evidence reports
/// (`evidence/<scenario>-report.{txt,json}`) and manifest.json.
pub fn write_reports(
    dir: &Path,
    report: &RunReport,
    scenario_yaml: &str,
    junit_copy: Option<&Path>,
) -> std::io::Result<()> {
    let junit_xml = junit::render(report);
    put(dir, "junit.xml", junit_xml.as_bytes())?;
    if let Some(p) = junit_copy {
        if let Some(parent) = p.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(p, &junit_xml)?;
    }
    // Streamed to their files: they hold every step's result.
    put_with(dir, "report.json", |w| json_report::write(report, w))?;
    put_with(dir, "report.html", |w| html::write(report, scenario_yaml, w))?;
    put(dir, "summary.txt", summary::render(report).as_bytes())?;
    for (name, text) in evidence::render(report) {
        put(dir, &format!("evidence/{name}"), text.as_bytes())?;
    }
    write_manifest(dir, report)
}

/// Writes `rel` inside the run directory without following a link a step planted there.
pub fn put(dir: &Path, rel: &str, bytes: &[u8]) -> std::io::Result<()> {
    put_with(dir, rel, |w| w.write_all(bytes))
}

/// As [`put`], the content written by `write` through a buffer.
fn put_with(
    dir: &Path,
    rel: &str,
    write: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
) -> std::io::Result<()> {
    let f =
        testrunner_actions::create_beneath(dir, rel, false).map_err(|e| std::io::Error::other(e.message))?;
    let mut w = std::io::BufWriter::new(f);
    write(&mut w)?;
    w.flush()
}

fn write_manifest(dir: &Path, report: &RunReport) -> std::io::Result<()> {
    let mut files = serde_json::Map::new();
    let mut stack = vec![dir.to_path_buf()];
    let mut paths = vec![];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d)? {
            let entry = entry?;
            let p = entry.path();
            // Not followed: a link may point outside the run; a socket or FIFO (a server's
            // `.s.PGSQL.5432` left in a data dir) cannot be read and is no evidence.
            let kind = entry.file_type()?;
            if kind.is_dir() {
                stack.push(p);
            } else if kind.is_file() && p.file_name().is_some_and(|n| n != "manifest.json") {
                paths.push(p);
            }
        }
    }
    paths.sort();
    for p in paths {
        // Hashed as it is read: a report of many steps is megabytes.
        let named = |e: std::io::Error| std::io::Error::new(e.kind(), format!("{}: {e}", p.display()));
        let mut hash = Sha256::new();
        let bytes = std::io::copy(&mut std::fs::File::open(&p).map_err(named)?, &mut hash).map_err(named)?;
        let rel = p.strip_prefix(dir).unwrap_or(&p).to_string_lossy().to_string();
        files.insert(rel, json!({"sha256": hex::encode(hash.finalize()), "bytes": bytes}));
    }
    let manifest = json!({
        "schema": "testrunner.manifest/v1",
        "run_id": report.run_id,
        "scenario": report.scenario,
        "fingerprint": report.fingerprint,
        "tool_version": report.tool_version,
        "git_revision": report.git_revision,
        "host": report.host,
        "command": report.command,
        "started_at": report.started_at,
        "finished_at": report.finished_at,
        "verdict": report.verdict().as_str(),
        "files": files,
    });
    put(dir, "manifest.json", (serde_json::to_string_pretty(&manifest)? + "\n").as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_manifest_skips_sockets_and_links_and_lists_every_file() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(d.path().join("evidence/pg")).unwrap();
        std::fs::write(d.path().join("evidence/a.txt"), "a").unwrap();
        // What a PostgreSQL killed by the undo stack leaves in its data dir.
        let _sock =
            std::os::unix::net::UnixListener::bind(d.path().join("evidence/pg/.s.PGSQL.5432")).unwrap();
        std::os::unix::fs::symlink("/etc/hostname", d.path().join("evidence/link")).unwrap();
        write_manifest(d.path(), &RunReport::default()).unwrap();
        let m: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(d.path().join("manifest.json")).unwrap()).unwrap();
        let files: Vec<&String> = m["files"].as_object().unwrap().keys().collect();
        assert_eq!(files, ["evidence/a.txt"]);
    }
}
