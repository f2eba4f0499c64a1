//! docker.exec / inspect / logs / wait against the real Engine, and the hints every
//! container action gives when the container does not exist.
mod docker_support;

use docker_support::{host_binds, Lab, IMAGE};
use serde_json::json;
use std::time::{Duration, Instant};

#[tokio::test]
async fn exec_captures_stdout_stderr_exit_code_and_json() {
    let lab = Lab::new("exec");
    let (c, _) = lab.sleeper(json!({})).await;
    let o = lab
        .ok(
            "docker.exec",
            json!({"container": c, "argv": ["/bin/sh", "-c", "echo '{\"a\": [1, 2]}'; echo warn >&2"]}),
        )
        .await;
    assert_eq!(o.output["stdout"], "{\"a\": [1, 2]}\n");
    assert_eq!(o.output["stderr"], "warn\n");
    assert_eq!(o.output["exit_code"], 0);
    assert_eq!(o.output["json"], json!({"a": [1, 2]}));
    assert!(o.undo.is_empty() && o.resolves.is_empty(), "exec changes nothing the undo stack knows");

    // Not JSON: no json field.
    let o = lab.ok("docker.exec", json!({"container": c, "argv": ["/bin/echo", "plain text"]})).await;
    assert!(o.output.get("json").is_none());

    // An argument vector, never a shell line: metacharacters arrive verbatim.
    let tricky = "$(id -u); rm -rf / && echo `uname`";
    let o = lab.ok("docker.exec", json!({"container": c, "argv": ["/bin/echo", tricky]})).await;
    assert_eq!(o.output["stdout"], format!("{tricky}\n"));

    // env, user and workdir.
    let o = lab
        .ok(
            "docker.exec",
            json!({"container": c, "argv": ["/bin/sh", "-c", "echo \"$MODE\"; id -u; pwd"],
                   "env": {"MODE": "chaos"}, "user": "101:104", "workdir": "/usr/lib"}),
        )
        .await;
    assert_eq!(o.output["stdout"], "chaos\n101\n/usr/lib\n");
}

#[tokio::test]
async fn exec_exit_code_mismatch_is_an_error_that_keeps_the_outputs() {
    let lab = Lab::new("exec-exit");
    let (c, _) = lab.sleeper(json!({})).await;
    let argv = json!(["/bin/sh", "-c", "echo partial; echo broken >&2; exit 3"]);
    let e = lab.err("docker.exec", json!({"container": c, "argv": argv})).await;
    assert!(e.message.contains("exited with 3, expected 0"), "{}", e.message);
    assert_eq!(e.output["exit_code"], 3);
    assert_eq!(e.output["stdout"], "partial\n");
    assert_eq!(e.output["stderr"], "broken\n");

    for ok in [json!(3), json!([1, 3]), json!("any")] {
        let o = lab.ok("docker.exec", json!({"container": c, "argv": argv, "expect_exit": ok})).await;
        assert_eq!(o.output["exit_code"], 3);
    }
    let e = lab.err("docker.exec", json!({"container": c, "argv": argv, "expect_exit": [0, 1]})).await;
    assert!(e.message.contains("expected [0, 1]"), "{}", e.message);

    // A program that does not exist in the container: 126/127 with a hint.
    let e = lab.err("docker.exec", json!({"container": c, "argv": ["/no/such/program"]})).await;
    assert!(matches!(e.output["exit_code"].as_i64(), Some(126 | 127)), "{:?}", e.output);
    assert!(e.hint.unwrap().contains("not found"));

    // A stopped container cannot exec: an Engine error with a hint.
    lab.ok("docker.kill", json!({"container": c})).await;
    let e = lab.err("docker.exec", json!({"container": c, "argv": ["/bin/true"]})).await;
    assert!(e.message.contains("not running"), "{}", e.message);
    assert!(e.hint.is_some());
}

#[tokio::test]
async fn inspect_reports_state_running_pid_and_the_engine_json() {
    let lab = Lab::new("inspect");
    let (c, run) = lab.sleeper(json!({})).await;
    let o = lab.ok("docker.inspect", json!({"container": c})).await;
    assert_eq!(o.output["state"], "running");
    assert_eq!(o.output["running"], true);
    let pid = o.output["pid"].as_i64().unwrap();
    assert!(pid > 1, "a host pid: {pid}");
    assert!(std::path::Path::new(&format!("/proc/{pid}")).exists(), "the pid is a host process");
    assert_eq!(o.output["json"]["Id"], run.output["id"]);
    assert_eq!(o.output["json"]["Name"], format!("/{c}"));
    assert!(o.output.get("health").is_none(), "no healthcheck, no health field");

    lab.ok("docker.kill", json!({"container": c})).await;
    let o = lab.ok("docker.inspect", json!({"container": c})).await;
    assert_eq!((o.output["state"].as_str(), o.output["running"].as_bool()), (Some("exited"), Some(false)));
    assert_eq!(o.output["pid"], 0);
    assert_eq!(o.output["exit_code"], 137);
}

#[tokio::test]
async fn logs_are_saved_to_evidence_with_secrets_masked() {
    let secret = "s3cr3t-token-42";
    let lab = Lab::with_secrets("logs", vec![secret.to_string()]);
    let c = lab.name();
    // stdout and stderr are separate pipes: their relative order in the log is not fixed,
    // so the assertions look at lines, not at positions across the two streams.
    let script = "echo from-stdout; echo first >&2; echo \"token=$TOKEN\" >&2; echo last >&2";
    lab.ok(
        "docker.run",
        json!({"image": IMAGE, "name": c, "binds": host_binds(), "network_mode": "host",
               "env": {"TOKEN": secret}, "command": ["/bin/sh", "-c", script]}),
    )
    .await;
    // Exited means the Engine has copied all of its output.
    lab.ok("docker.wait", json!({"container": c, "state": "exited", "timeout": "20s"})).await;
    let o = lab.ok("docker.logs", json!({"container": c})).await;
    assert_eq!(o.output["path"], format!("evidence/{c}.log"));
    assert_eq!(o.output["lines"], 4);
    let file = std::fs::read_to_string(lab.dir.path().join(format!("evidence/{c}.log"))).unwrap();
    let mut lines: Vec<&str> = file.lines().collect();
    lines.sort();
    assert_eq!(lines[..3], ["first", "from-stdout", "last"], "{file}");
    assert!(lines[3].starts_with("token=") && lines[3].len() > "token=".len(), "{file}");
    assert!(!file.contains(secret), "the secret is masked in the evidence file: {file}");
    assert!(!o.output["text"].as_str().unwrap().contains(secret), "and in the output");

    let o = lab.ok("docker.logs", json!({"container": c, "save": "pg/tail.log", "tail": 1})).await;
    assert_eq!(o.output["path"], "evidence/pg/tail.log");
    assert_eq!(o.output["lines"], 1);
    let tail = std::fs::read_to_string(lab.dir.path().join("evidence/pg/tail.log")).unwrap();
    assert_eq!(o.output["text"], tail.as_str());
    assert!(["last\n", "from-stdout\n"].contains(&tail.as_str()), "{tail}");

    // Negative control: an evidence path that leaves the run directory is refused.
    let e = lab.err("docker.logs", json!({"container": c, "save": "../escape.log"})).await;
    assert!(e.message.contains("leaves the run directory"), "{}", e.message);
}

#[tokio::test]
async fn wait_for_exited_is_bounded_and_reports_the_exit_code() {
    let lab = Lab::new("wait");
    let c = lab.name();
    lab.ok(
        "docker.run",
        json!({"image": IMAGE, "name": c, "binds": host_binds(), "network_mode": "host",
               "command": ["/bin/sh", "-c", "echo ready; sleep 0.3; exit 7"]}),
    )
    .await;
    let o = lab.ok("docker.wait", json!({"container": c, "state": "exited", "timeout": "20s"})).await;
    assert_eq!(o.output["state"], "exited");
    assert_eq!(o.output["exit_code"], 7);
    assert!(o.output["waited_ms"].as_u64().unwrap() < 20_000);

    // Negative control: a container that keeps running is not "exited"; the wait ends at its bound.
    let (s, _) = lab.sleeper(json!({})).await;
    let t = Instant::now();
    let e = lab.err("docker.wait", json!({"container": s, "state": "exited", "timeout": "400ms"})).await;
    let took = t.elapsed();
    assert!(took >= Duration::from_millis(400) && took < Duration::from_secs(3), "{took:?}");
    assert!(e.message.contains("did not become exited within 400ms (it is running)"), "{}", e.message);
    assert_eq!(e.output["state"], "running");

    let o = lab.ok("docker.wait", json!({"container": s, "state": "running", "timeout": "5s"})).await;
    assert!(o.output.get("exit_code").is_none(), "exit_code only for exited");
    lab.ok("docker.pause", json!({"container": s})).await;
    lab.ok("docker.wait", json!({"container": s, "state": "paused", "timeout": "5s"})).await;
    lab.ok("docker.unpause", json!({"container": s})).await;
    let e = lab.err("docker.wait", json!({"container": s, "state": "healthy", "timeout": "200ms"})).await;
    assert!(e.hint.unwrap().contains("no healthcheck"));
}

#[tokio::test]
async fn a_missing_container_gives_an_error_with_a_hint() {
    let lab = Lab::new("missing");
    let c = lab.name(); // never created
    let cases = [
        ("docker.start", json!({"container": c})),
        ("docker.stop", json!({"container": c})),
        ("docker.kill", json!({"container": c})),
        ("docker.restart", json!({"container": c})),
        ("docker.pause", json!({"container": c})),
        ("docker.unpause", json!({"container": c})),
        ("docker.rm", json!({"container": c})),
        ("docker.exec", json!({"container": c, "argv": ["/bin/true"]})),
        ("docker.inspect", json!({"container": c})),
        ("docker.logs", json!({"container": c})),
        ("docker.wait", json!({"container": c, "state": "running", "timeout": "5s"})),
    ];
    for (action, params) in cases {
        let t = Instant::now();
        let e = lab.err(action, params).await;
        let hint = e.hint.clone().unwrap_or_default();
        assert!(hint.contains("no such container") && hint.contains("did the setup step"), "{action}: {e:?}");
        assert!(hint.contains(&c), "{action}: names the container: {hint}");
        assert!(t.elapsed() < Duration::from_secs(3), "{action} fails fast, it does not wait");
    }
    assert!(
        !lab.dir.path().join(format!("evidence/{c}.log")).exists(),
        "no evidence for a missing container"
    );
}
