//! Golden CLI tests: each directory under `tests/golden/` holds a scenario, the command
//! line (`cmd`), and the expected stdout, stderr and exit code. Output is normalised
//! (durations, timestamps, paths, hashes) so the comparison is about behaviour.
//! Regenerate with `GOLDEN_UPDATE=1 cargo test -p testrunner --test golden`.
use regex::Regex;
use std::path::{Path, PathBuf};
use std::process::Command;

fn normalise(text: &str, run_dir: &Path) -> String {
    let mut t = text.replace(&run_dir.to_string_lossy().to_string(), "<RUN>");
    let rules: &[(&str, &str)] = &[
        (r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", "<TIME>"),
        // A suite's run ids end in its compact UTC timestamp (`twice.2-20261203T170055226Z`).
        (r"\d{8}T\d{6,9}Z", "<STAMP>"),
        (r"\b[0-9a-f]{64}\b", "<SHA256>"),
        (r"\b[0-9a-f]{12,16}\b", "<HASH>"),
        (r"\b\d+(\.\d+)?(ms|s)\b", "<DUR>"),
        (r"\b\d+(\.\d+)? (ms|s)\b", "<DUR>"),
        (r"(\w+_ms) = \d+", "$1 = <N>"),
        (r"Host:( +)\S+", "Host:$1<HOST>"),
        (r"\b\d+ attempts\b", "<N> attempts"),
        (r"attempt \d+", "attempt <N>"),
        (r"(_ms|elapsed|ms)=\d+", "$1=<N>"),
        (r"pid \d+", "pid <PID>"),
        // A timing's interval bounds (`true value in [660, 674] ms`, `in [660, 674]`).
        (r"\[\d+(\.\d+)?, \d+(\.\d+)?\]", "[<N>, <N>]"),
    ];
    for (re, with) in rules {
        t = Regex::new(re).unwrap().replace_all(&t, *with).into_owned();
    }
    t
}

fn run_case(dir: &Path) -> Result<(), String> {
    let cmd = std::fs::read_to_string(dir.join("cmd")).map_err(|e| format!("{}: cmd: {e}", dir.display()))?;
    let out_dir = tempfile::tempdir().unwrap();
    let args: Vec<String> = cmd
        .split_whitespace()
        .map(|a| a.replace("{out}", &out_dir.path().join("run").to_string_lossy()))
        .collect();
    let bin = env!("CARGO_BIN_EXE_testrunner");
    let target_bin = Path::new(bin).parent().unwrap().to_path_buf();
    let path = format!("{}:{}", target_bin.display(), std::env::var("PATH").unwrap_or_default());
    let output = Command::new(bin)
        .args(&args)
        .current_dir(dir)
        .env("PATH", path)
        .env("NO_COLOR", "1")
        .env_remove("RUST_LOG")
        .output()
        .map_err(|e| e.to_string())?;
    let stdout = normalise(&String::from_utf8_lossy(&output.stdout), out_dir.path());
    let stderr = normalise(&String::from_utf8_lossy(&output.stderr), out_dir.path());
    let code = format!("{}\n", output.status.code().unwrap_or(-1));
    if std::env::var_os("GOLDEN_UPDATE").is_some() {
        std::fs::write(dir.join("expected.stdout"), &stdout).unwrap();
        std::fs::write(dir.join("expected.stderr"), &stderr).unwrap();
        std::fs::write(dir.join("expected.code"), &code).unwrap();
        return Ok(());
    }
    let mut problems = vec![];
    for (name, actual) in
        [("expected.stdout", &stdout), ("expected.stderr", &stderr), ("expected.code", &code)]
    {
        let expected = std::fs::read_to_string(dir.join(name)).unwrap_or_default();
        if expected != *actual {
            problems.push(format!("--- {name} (expected)\n{expected}\n--- actual\n{actual}"));
        }
    }
    // Every run that produced a junit.xml must produce a valid one.
    let junit = out_dir.path().join("run/junit.xml");
    if junit.exists() {
        if let Err(e) = validate_junit(&junit) {
            problems.push(e);
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(format!("golden case {}:\n{}", dir.display(), problems.join("\n")))
    }
}

pub fn validate_junit(path: &Path) -> Result<(), String> {
    // ../shared next to the repository (a git worktree sits deeper: the nearest ancestor's).
    let xsd = Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .map(|a| a.join("shared/schemas/junit-10.xsd"))
        .find(|p| p.is_file())
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/schemas/junit-10.xsd"));
    let out =
        Command::new("xmllint").args(["--noout", "--schema"]).arg(&xsd).arg(path).output().map_err(|e| {
            format!("xmllint not runnable ({e}): install libxml2-utils (scripts/setup.sh does)")
        })?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!("{} does not validate:\n{}", path.display(), String::from_utf8_lossy(&out.stderr)))
    }
}

#[test]
fn golden_cases() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    let mut cases: Vec<PathBuf> =
        std::fs::read_dir(&root).unwrap().map(|e| e.unwrap().path()).filter(|p| p.is_dir()).collect();
    cases.sort();
    assert!(!cases.is_empty());
    let failures: Vec<String> = cases.iter().filter_map(|c| run_case(c).err()).collect();
    assert!(
        failures.is_empty(),
        "{} of {} golden cases differ:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n\n")
    );
}

/// Runs the binary with its standard output a pipe whose reading end is already closed.
fn with_closed_stdout(args: &[&str], dir: &Path) -> std::process::Output {
    let (read, write) = nix::unistd::pipe().unwrap();
    drop(read);
    Command::new(env!("CARGO_BIN_EXE_testrunner"))
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .stdout(std::process::Stdio::from(write))
        .stderr(std::process::Stdio::piped())
        .output()
        .unwrap()
}

/// `testrunner actions | head -1` and friends: a closed stdout ends the process quietly,
/// as SIGPIPE ends other Unix tools, never with a "failed printing to stdout" panic.
#[test]
fn closed_stdout_exits_quietly() {
    use std::os::unix::process::ExitStatusExt;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("ok.yaml"),
        "phases:\n  - name: p\n    steps:\n      - log: { message: hi }\n",
    )
    .unwrap();
    for args in [
        &["check", "ok.yaml"][..],
        &["actions"],
        &["schema"],
        &["explain", "exec"],
        &["--help"],
        &["run", "--help"],
    ] {
        let out = with_closed_stdout(args, dir.path());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.is_empty(), "{args:?}: {stderr}");
        let sigpipe = out.status.signal() == Some(nix::sys::signal::Signal::SIGPIPE as i32);
        assert!(sigpipe || out.status.code() == Some(141), "{args:?}: {:?}", out.status);
    }
    // `run` keeps SIGPIPE ignored, so cleanup always happens; its final summary to the
    // closed pipe still ends it quietly, after the reports are written.
    let out = with_closed_stdout(&["run", "ok.yaml", "--out", "r", "-q"], dir.path());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_ne!(out.status.code(), Some(101), "{stderr}");
    assert!(dir.path().join("r/report.json").exists(), "{stderr}");
}
