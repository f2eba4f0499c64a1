//! Reports are written inside the run directory only: a link a step planted where a report
//! goes is never followed (the run is then a harness error, exit 3).
use std::process::Command;

#[test]
fn a_link_planted_where_a_report_goes_is_not_followed() {
    let tmp = tempfile::tempdir().unwrap();
    let outside = tmp.path().join("outside");
    std::fs::create_dir(&outside).unwrap();
    let victim = outside.join("victim.txt");
    std::fs::write(&victim, "untouched").unwrap();
    let scenario = tmp.path().join("plant.yaml");
    std::fs::write(
        &scenario,
        format!(
            "scenario: plant\nphases:\n  - name: p\n    steps:\n      - exec: {{ argv: [ln, -s, \"{}\", \"${{run.dir}}/summary.txt\"] }}\n      - exec: {{ argv: [ln, -s, \"{}\", \"${{run.dir}}/report.html\"] }}\n    checks:\n      - {{ id: C, expect: \"true\" }}\n",
            victim.display(),
            victim.display()
        ),
    )
    .unwrap();
    let run_dir = tmp.path().join("run");
    let out = Command::new(env!("CARGO_BIN_EXE_testrunner"))
        .args(["run", "-q", "--no-baseline", "--out"])
        .arg(&run_dir)
        .arg(&scenario)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("cannot write reports"), "{stderr}");
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "untouched");
    // What could be written is there (the journal, the JUnit file before the planted link).
    assert!(run_dir.join("journal.jsonl").is_file());
    assert!(run_dir.join("junit.xml").is_file());
}
