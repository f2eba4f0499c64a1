//! The commands around runs: `init` (a starter that passes `check` and runs),
//! `completions`, `runs` (any depth) and `diff` (check and metric deltas, text and HTML).
use std::path::Path;
use std::process::{Command, Output};

fn tr(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_testrunner"))
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .args(args)
        .output()
        .unwrap()
}

fn out(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

#[test]
fn init_writes_a_starter_that_checks_and_runs_and_never_overwrites() {
    let tmp = tempfile::tempdir().unwrap();
    let o = tr(tmp.path(), &["init", "failover"]);
    assert_eq!(o.status.code(), Some(0), "{}", out(&o));
    let o = tr(tmp.path(), &["check", "failover.yaml"]);
    assert_eq!(o.status.code(), Some(0), "{}", out(&o));
    let o = tr(tmp.path(), &["run", "failover.yaml", "--no-baseline", "-q", "--out", "r"]);
    assert_eq!(o.status.code(), Some(0), "{}", out(&o));
    // Negative controls: an existing file is kept, a bad name refused.
    std::fs::write(tmp.path().join("failover.yaml"), "edited").unwrap();
    let o = tr(tmp.path(), &["init", "failover"]);
    assert_eq!(o.status.code(), Some(3), "{}", out(&o));
    assert_eq!(std::fs::read_to_string(tmp.path().join("failover.yaml")).unwrap(), "edited");
    assert_eq!(tr(tmp.path(), &["init", "../x"]).status.code(), Some(3));
}

#[test]
fn completion_scripts_parse() {
    let tmp = tempfile::tempdir().unwrap();
    let o = tr(tmp.path(), &["completions", "bash"]);
    assert_eq!(o.status.code(), Some(0));
    let script = tmp.path().join("c.bash");
    std::fs::write(&script, &o.stdout).unwrap();
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        text.contains("testrunner") && text.contains("--shard") && text.contains("completions"),
        "{text}"
    );
    let b = Command::new("bash").arg("-n").arg(&script).output().unwrap();
    assert!(b.status.success(), "{}", String::from_utf8_lossy(&b.stderr));
    let z = tr(tmp.path(), &["completions", "zsh"]);
    assert!(String::from_utf8_lossy(&z.stdout).starts_with("#compdef testrunner"));
    assert_eq!(tr(tmp.path(), &["completions", "tcsh"]).status.code(), Some(3));
}

#[test]
fn runs_lists_every_run_and_diff_shows_what_changed() {
    let tmp = tempfile::tempdir().unwrap();
    let flaky = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/suites/flaky.yaml");
    let o = tr(
        tmp.path(),
        &["run", flaky.to_str().unwrap(), "--repeat", "2", "--no-baseline", "-q", "--out", "runs/s"],
    );
    assert_eq!(o.status.code(), Some(1), "{}", out(&o));
    // Another run, written with --out somewhere else under runs/.
    let pass = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/suites/pass-a.yaml");
    let o = tr(tmp.path(), &["run", pass.to_str().unwrap(), "--no-baseline", "-q", "--out", "runs/manual/a"]);
    assert_eq!(o.status.code(), Some(0), "{}", out(&o));

    let o = tr(tmp.path(), &["runs"]);
    let t = out(&o);
    assert_eq!(o.status.code(), Some(0), "{t}");
    assert!(t.contains("3 run(s) under runs"), "{t}");
    assert!(
        t.contains("runs/s/flaky.1") && t.contains("runs/s/flaky.2") && t.contains("runs/manual/a"),
        "{t}"
    );
    assert!(t.lines().any(|l| l.contains("flaky") && l.contains("FAIL") && l.contains("1/2")), "{t}");
    assert!(t.contains("nap_ms="), "key metrics are shown: {t}");
    let o = tr(tmp.path(), &["runs", "--scenario", "pass-a", "--json"]);
    let rows: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(rows.as_array().unwrap().len(), 1);

    let o = tr(tmp.path(), &["diff", "runs/s/flaky.1", "runs/s/flaky.2", "--html", "diff.html"]);
    let t = out(&o);
    assert_eq!(o.status.code(), Some(0), "{t}");
    assert!(
        t.lines().any(|l| l.contains("FL-01") && l.contains("PASS -> FAIL") && l.contains("WORSE")),
        "{t}"
    );
    assert!(
        t.lines().any(|l| l.contains("FL-02") && l.contains("PASS -> PASS") && !l.contains("changed")),
        "{t}"
    );
    assert!(t.contains("nap_ms") && t.contains("1 check(s) changed, 1 passed in A and not in B"), "{t}");
    assert!(std::fs::read_to_string(tmp.path().join("diff.html")).unwrap().contains("<tr class=\"worse\">"));
    assert_eq!(tr(tmp.path(), &["diff", "runs/s/flaky.1", "runs/nope"]).status.code(), Some(3));
}

/// scripts/check-toolchain.sh (run first by scripts/setup.sh) refuses a rustc older than
/// Cargo.toml's rust-version with what to do, and accepts one as new or newer.
#[test]
fn the_toolchain_check_refuses_an_old_rustc() {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/check-toolchain.sh");
    // Written once, before anything runs it: the version comes from the environment.
    let fake = tempfile::tempdir().unwrap();
    for (f, body) in [("rustc", "#!/bin/sh\necho \"rustc $FAKE_RUSTC (fake)\"\n"), ("cargo", "#!/bin/sh\n")] {
        use std::os::unix::fs::PermissionsExt;
        std::fs::write(fake.path().join(f), body).unwrap();
        std::fs::set_permissions(fake.path().join(f), std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let check = |version: &str| {
        Command::new("bash")
            .arg(&script)
            .env("PATH", format!("{}:/usr/bin:/bin", fake.path().display()))
            .env("FAKE_RUSTC", version)
            .output()
            .unwrap()
    };
    let old = check("1.63.0");
    assert_eq!(old.status.code(), Some(1));
    let msg = String::from_utf8_lossy(&old.stderr);
    assert!(
        msg.contains("Rust 1.89 or newer") && msg.contains("found rustc 1.63.0") && msg.contains("rustup"),
        "{msg}"
    );
    for ok in ["1.89.0", "1.95.0", "1.100.1"] {
        assert_eq!(check(ok).status.code(), Some(0), "{ok}");
    }
    assert_eq!(check("1.9.0").status.code(), Some(1), "1.9 is older than 1.89");
}
