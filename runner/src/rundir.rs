//! The run directory: reports, and a manifest with the sha256 of every file.
use serde_json::json;
use sha2::{Digest, Sha256};
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
    std::fs::write(dir.join("junit.xml"), &junit_xml)?;
    if let Some(p) = junit_copy {
        if let Some(parent) = p.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(p, &junit_xml)?;
    }
    std::fs::write(dir.join("report.json"), json_report::render(report))?;
    std::fs::write(dir.join("report.html"), html::render(report, scenario_yaml))?;
    std::fs::write(dir.join("summary.txt"), summary::render(report))?;
    std::fs::create_dir_all(dir.join("evidence"))?;
    for (name, text) in evidence::render(report) {
        std::fs::write(dir.join("evidence").join(name), text)?;
    }
    write_manifest(dir, report)
}

fn write_manifest(dir: &Path, report: &RunReport) -> std::io::Result<()> {
    let mut files = serde_json::Map::new();
    let mut stack = vec![dir.to_path_buf()];
    let mut paths = vec![];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d)? {
            let p = entry?.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.file_name().is_some_and(|n| n != "manifest.json") {
                paths.push(p);
            }
        }
    }
    paths.sort();
    for p in paths {
        let bytes = std::fs::read(&p)?;
        let rel = p.strip_prefix(dir).unwrap_or(&p).to_string_lossy().to_string();
        files.insert(rel, json!({"sha256": hex::encode(Sha256::digest(&bytes)), "bytes": bytes.len()}));
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
    std::fs::write(dir.join("manifest.json"), serde_json::to_string_pretty(&manifest)? + "\n")
}
