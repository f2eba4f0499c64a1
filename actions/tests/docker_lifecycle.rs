//! docker.run / start / stop / kill / restart / pause / unpause / rm against the real
//! Engine, with the local empty image and the host's binaries bind-mounted. Every state is
//! checked through the Engine's own inspect, and every undo entry is executed the way the
//! engine does it: `find(undo.action).run(undo.params, ctx)`.
mod docker_support;

use docker_support::{host_binds, Lab, IMAGE, SLEEPER};
use serde_json::json;
use std::time::{Duration, Instant};
use testrunner_actions::{find, Outcome, Undo};

fn only_undo(o: &Outcome) -> &Undo {
    assert_eq!(o.undo.len(), 1, "exactly one undo entry: {:?}", o.undo);
    &o.undo[0]
}

async fn run_undo(lab: &Lab, u: &Undo) -> Outcome {
    find(u.action)
        .unwrap_or_else(|| panic!("undo action {} not registered", u.action))
        .run(u.params.clone(), &lab.ctx)
        .await
        .unwrap_or_else(|e| panic!("undo {} failed: {}", u.description, e.message))
}

#[test]
fn every_docker_action_is_registered_with_documented_strict_params() {
    let names = [
        "docker.run",
        "docker.start",
        "docker.stop",
        "docker.kill",
        "docker.restart",
        "docker.pause",
        "docker.unpause",
        "docker.rm",
        "docker.exec",
        "docker.inspect",
        "docker.logs",
        "docker.wait",
    ];
    for a in names {
        let spec = find(a).unwrap_or_else(|| panic!("{a} missing")).spec();
        assert_eq!(spec.params["additionalProperties"], false, "{a}: unknown keys must be rejected");
        let props = spec.params["properties"].as_object().unwrap();
        for (k, v) in props {
            assert!(v["description"].is_string(), "{a}.{k} undocumented");
        }
        assert!(spec.example.contains(a), "{a}: the example uses the action");
        assert!(!spec.outputs.is_empty(), "{a}: outputs documented");
    }
    let run = find("docker.run").unwrap().spec();
    assert!(run.params["properties"]["ready"].is_object());
    // Negative control: the decoder rejects an unknown key even if the loader were bypassed.
    let rt = tokio::runtime::Runtime::new().unwrap();
    let lab = Lab::new("strict");
    let e = rt.block_on(lab.err("docker.stop", json!({"container": "x", "grase": "1s"})));
    assert!(e.message.contains("unknown field"), "{}", e.message);
}

#[tokio::test]
async fn run_labels_waits_for_the_log_line_and_its_undo_removes_the_container() {
    let lab = Lab::new("run-step");
    let t = Instant::now();
    let (c, o) = lab.sleeper(json!({"labels": {"team": "ha"}, "env": {"GREETING": "hi"}})).await;
    assert_eq!(o.output["name"], c.as_str());
    let id = o.output["id"].as_str().unwrap();
    assert_eq!(id.len(), 64, "{id}");
    assert!(o.output["ready_ms"].as_u64().unwrap() < t.elapsed().as_millis() as u64 + 1);
    assert!(o.output.get("ip").is_none(), "host networking has no container IP: {:?}", o.output);
    // Ready means the log line is there already, not merely "running".
    let i = lab.engine_inspect(&c).await.unwrap();
    assert_eq!(i["State"]["Status"], "running");
    assert_eq!(i["Id"], id);
    let labels = &i["Config"]["Labels"];
    assert_eq!(labels["testrunner.managed"], "true");
    assert_eq!(labels["testrunner.step"], "run-step");
    assert_eq!(labels["team"], "ha");
    assert!(i["Config"]["Env"].as_array().unwrap().contains(&json!("GREETING=hi")));
    assert_eq!(i["HostConfig"]["NetworkMode"], "host");

    let u = only_undo(&o);
    assert_eq!(u.key, format!("docker.container:{c}"));
    assert_eq!(u.action, "docker.rm");
    assert_eq!(u.description, format!("remove container {c} (log kept in evidence)"));
    let log = format!("{c}.container.log");
    assert_eq!(u.params, json!({"container": c, "force": true, "missing_ok": true, "save_logs": log}));
    let r = run_undo(&lab, u).await;
    assert_eq!(r.output["removed"], true);
    // The container's log outlives it, in evidence.
    let kept = std::fs::read_to_string(lab.dir.path().join("evidence").join(&log)).unwrap();
    assert!(kept.lines().any(|l| l == "ready"), "{kept}");
    assert!(r.resolves.contains(&format!("docker.container:{c}")));
    assert!(lab.engine_inspect(&c).await.is_none(), "the undo removed the container");
    // Idempotent: the undo of a container the scenario already removed is not an error.
    assert_eq!(run_undo(&lab, u).await.output["removed"], false);
}

#[tokio::test]
async fn pause_is_undone_by_unpause_which_resolves_it() {
    let lab = Lab::new("pause");
    let (c, _) = lab.sleeper(json!({})).await;
    let o = lab.ok("docker.pause", json!({"container": c})).await;
    assert_eq!(o.output["state"], "paused");
    assert_eq!(lab.engine_state(&c).await, "paused");
    let u = only_undo(&o).clone();
    assert_eq!(u.key, format!("docker.paused:{c}"));
    assert_eq!((u.action, u.params.clone()), ("docker.unpause", json!({"container": c})));
    let i = lab.ok("docker.inspect", json!({"container": c})).await;
    assert_eq!(i.output["state"], "paused");
    // Pausing twice is refused by the Engine, with a hint.
    let e = lab.err("docker.pause", json!({"container": c})).await;
    assert!(e.hint.is_some(), "{}", e.message);

    let r = run_undo(&lab, &u).await;
    assert_eq!(r.output["state"], "running");
    assert_eq!(r.resolves, vec![format!("docker.paused:{c}")]);
    assert_eq!(lab.engine_state(&c).await, "running");
    // A second unpause (the scenario already unpaused) is harmless.
    assert_eq!(lab.ok("docker.unpause", json!({"container": c})).await.output["state"], "running");
}

#[tokio::test]
async fn stop_sends_the_stop_signal_and_start_undoes_it() {
    let lab = Lab::new("stop");
    let (c, _) = lab.sleeper(json!({"stop_signal": "SIGINT"})).await;
    let t = Instant::now();
    let o = lab.ok("docker.stop", json!({"container": c, "grace": "10s"})).await;
    // The trap answered SIGINT with exit 3: the configured stop signal was used, not SIGKILL (137).
    assert_eq!(o.output["state"], "exited");
    assert_eq!(o.output["exit_code"], 3);
    assert!(t.elapsed() < Duration::from_secs(8), "no grace period was needed: {:?}", t.elapsed());
    let i = lab.engine_inspect(&c).await.unwrap();
    assert_eq!((i["State"]["Status"].as_str(), i["State"]["ExitCode"].as_i64()), (Some("exited"), Some(3)));
    let u = only_undo(&o).clone();
    assert_eq!(u.key, format!("docker.stopped:{c}"));
    assert_eq!((u.action, u.params.clone()), ("docker.start", json!({"container": c})));
    assert!(o.resolves.contains(&format!("docker.paused:{c}")), "a stopped container is not paused");

    let s = lab.ok("docker.start", json!({"container": c})).await;
    assert_eq!(s.output["state"], "running");
    assert_eq!(s.resolves, vec![format!("docker.stopped:{c}")]);
    // The undo is harmless on a running container (the Engine answers 304).
    assert_eq!(run_undo(&lab, &u).await.output["state"], "running");

    // Stop again, and this time let the undo restart it.
    lab.ok("docker.stop", json!({"container": c, "grace": "5s"})).await;
    assert_eq!(lab.engine_state(&c).await, "exited");
    run_undo(&lab, &u).await;
    assert_eq!(lab.engine_state(&c).await, "running");
}

#[tokio::test]
async fn stop_without_a_handler_escalates_to_sigkill_after_the_grace() {
    let lab = Lab::new("stop-kill");
    // `sleep` as PID 1 has no handler: SIGTERM is not delivered, so the grace runs out.
    let c = lab.name();
    lab.ok(
        "docker.run",
        json!({"image": IMAGE, "name": c, "command": ["/bin/sleep", "600"], "binds": host_binds(),
               "network_mode": "host"}),
    )
    .await;
    let t = Instant::now();
    let o = lab.ok("docker.stop", json!({"container": c, "grace": "500ms"})).await;
    let took = t.elapsed();
    assert_eq!(o.output["exit_code"], 137, "{:?}", o.output);
    assert!(took >= Duration::from_millis(900), "500ms rounds up to 1s, not 0: {took:?}");
    assert!(took < Duration::from_secs(8), "{took:?}");
}

#[tokio::test]
async fn kill_sigkill_registers_a_start_undo_but_a_survived_sighup_does_not() {
    let lab = Lab::new("kill");
    let (c, _) = lab.sleeper(json!({})).await;
    let h = lab.ok("docker.kill", json!({"container": c, "signal": "SIGHUP"})).await;
    assert_eq!(h.output["state"], "running");
    assert!(h.undo.is_empty(), "the container survived SIGHUP: nothing to undo ({:?})", h.undo);
    // The trap saw the signal (the log line appears asynchronously: bounded wait).
    let t = Instant::now();
    loop {
        let l = lab.ok("docker.logs", json!({"container": c})).await;
        if l.output["text"].as_str().unwrap().contains("got-hup") {
            break;
        }
        assert!(t.elapsed() < Duration::from_secs(10), "SIGHUP never reached the trap: {:?}", l.output);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(lab.engine_state(&c).await, "running");

    let k = lab.ok("docker.kill", json!({"container": c})).await;
    assert_eq!(k.output["signal"], "SIGKILL");
    assert_eq!(k.output["state"], "exited");
    let i = lab.engine_inspect(&c).await.unwrap();
    assert_eq!(i["State"]["ExitCode"], 137);
    let u = only_undo(&k).clone();
    assert_eq!((u.key.as_str(), u.action), (format!("docker.stopped:{c}").as_str(), "docker.start"));
    run_undo(&lab, &u).await;
    assert_eq!(lab.engine_state(&c).await, "running");

    // Killing a container that is not running is an Engine error with a hint.
    lab.ok("docker.kill", json!({"container": c, "signal": "9"})).await;
    let e = lab.err("docker.kill", json!({"container": c})).await;
    assert!(e.message.contains("not running"), "{}", e.message);
    assert!(e.hint.is_some());
}

#[tokio::test]
async fn kill_of_a_paused_container_resolves_its_pause() {
    let lab = Lab::new("kill-paused");
    let (c, _) = lab.sleeper(json!({})).await;
    lab.ok("docker.pause", json!({"container": c})).await;
    let k = lab.ok("docker.kill", json!({"container": c, "signal": "SIGKILL"})).await;
    assert_eq!(k.output["state"], "exited");
    assert!(k.resolves.contains(&format!("docker.paused:{c}")));
    assert_eq!(only_undo(&k).key, format!("docker.stopped:{c}"));
}

#[tokio::test]
async fn restart_gives_a_new_process_and_resolves_a_stop() {
    let lab = Lab::new("restart");
    let (c, _) = lab.sleeper(json!({})).await;
    let pid1 = lab.engine_inspect(&c).await.unwrap()["State"]["Pid"].as_i64().unwrap();
    let o = lab.ok("docker.restart", json!({"container": c, "grace": "5s"})).await;
    assert_eq!(o.output["state"], "running");
    assert_eq!(o.resolves, vec![format!("docker.stopped:{c}")]);
    assert!(o.undo.is_empty());
    let pid2 = lab.engine_inspect(&c).await.unwrap()["State"]["Pid"].as_i64().unwrap();
    assert_ne!(pid1, pid2);
}

#[tokio::test]
async fn rm_refuses_a_running_container_without_force_and_resolves_everything() {
    let lab = Lab::new("rm");
    let (c, _) = lab.sleeper(json!({})).await;
    let e = lab.err("docker.rm", json!({"container": c})).await;
    assert!(e.hint.as_deref().unwrap_or("").contains("force"), "{e:?}");
    assert_eq!(lab.engine_state(&c).await, "running");
    let o = lab.ok("docker.rm", json!({"container": c, "force": true, "volumes": true})).await;
    assert_eq!(o.output["removed"], true);
    for k in ["container", "stopped", "paused"] {
        assert!(o.resolves.contains(&format!("docker.{k}:{c}")), "{k}: {:?}", o.resolves);
    }
    assert!(lab.engine_inspect(&c).await.is_none());
    // Gone: an error with a hint by default, fine with missing_ok.
    let e = lab.err("docker.rm", json!({"container": c})).await;
    assert!(e.hint.unwrap().contains("did the setup step"));
    assert_eq!(
        lab.ok("docker.rm", json!({"container": c, "missing_ok": true})).await.output["removed"],
        false
    );
}

#[tokio::test]
async fn a_name_in_use_is_refused_unless_remove_existing() {
    let lab = Lab::new("dup");
    let (c, first) = lab.sleeper(json!({})).await;
    let params = json!({"image": IMAGE, "name": c, "command": ["/bin/sh", "-c", SLEEPER],
                        "binds": host_binds(), "network_mode": "host"});
    let e = lab.err("docker.run", params.clone()).await;
    assert!(e.hint.unwrap().contains("remove_existing"));
    assert_eq!(lab.engine_inspect(&c).await.unwrap()["Id"], first.output["id"], "the first one is untouched");
    let mut p = params;
    p["remove_existing"] = json!(true);
    let second = lab.ok("docker.run", p).await;
    assert_ne!(second.output["id"], first.output["id"]);
    assert_eq!(lab.engine_state(&c).await, "running");
}

/// scripts/build-image.sh builds testrunner-hostfs only: any other missing image is to be
/// pulled or loaded (testrunner never pulls), and the hint says so.
#[tokio::test]
async fn a_missing_image_hint_names_the_right_remedy() {
    let lab = Lab::new("img");
    let c = lab.name();
    let e = lab
        .err(
            "docker.run",
            json!({"image": "testrunner-no-such-image:never", "name": c, "command": ["/bin/true"]}),
        )
        .await;
    let hint = e.hint.unwrap();
    assert!(
        hint.contains("docker pull testrunner-no-such-image:never") && !hint.contains("build-image"),
        "{hint}"
    );
    assert!(lab.engine_inspect(&c).await.is_none());
}

#[tokio::test]
async fn failed_readiness_removes_the_container() {
    let lab = Lab::new("ready");
    // Exits before it is ready: reported with its exit code and last log line.
    let c = lab.name();
    let e = lab
        .err(
            "docker.run",
            json!({"image": IMAGE, "name": c, "binds": host_binds(), "network_mode": "host",
                   "command": ["/bin/sh", "-c", "echo no config found >&2; exit 2"],
                   "ready": {"log_regex": "accepting", "timeout": "20s"}}),
        )
        .await;
    assert!(e.message.contains("exited (code 2)") && e.message.contains("no config found"), "{}", e.message);
    assert!(lab.engine_inspect(&c).await.is_none(), "removed after the failure");

    // Never ready: bounded by ready.timeout, then removed.
    let c = lab.name();
    let t = Instant::now();
    let e = lab
        .err(
            "docker.run",
            json!({"image": IMAGE, "name": c, "binds": host_binds(), "network_mode": "host",
                   "command": ["/bin/sh", "-c", SLEEPER],
                   "ready": {"log_regex": "^never$", "timeout": "700ms"}}),
        )
        .await;
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
    assert!(e.message.contains("not ready within 700ms") && e.message.contains("ready"), "{}", e.message);
    assert!(lab.engine_inspect(&c).await.is_none(), "removed after the timeout");

    // Port readiness: a port nobody listens on never gets ready (negative control) ...
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = free.local_addr().unwrap().port();
    drop(free);
    let c = lab.name();
    let ready = json!({"port": port, "timeout": "500ms"});
    let base = json!({"image": IMAGE, "name": c, "binds": host_binds(), "network_mode": "host",
                      "command": ["/bin/sleep", "600"], "ready": ready});
    lab.err("docker.run", base.clone()).await;
    assert!(lab.engine_inspect(&c).await.is_none());
    // ... and one that listens (on the host, host networking) is ready at once.
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let mut p = base;
    p["ready"] = json!({"port": l.local_addr().unwrap().port(), "timeout": "10s"});
    lab.ok("docker.run", p).await;
}

#[tokio::test]
async fn a_run_dropped_at_its_deadline_still_removes_its_container() {
    let lab = Lab::new("deadline");
    let c = lab.name();
    let params = json!({"image": IMAGE, "name": c, "binds": host_binds(), "network_mode": "host",
                        "command": ["/bin/sh", "-c", SLEEPER],
                        "ready": {"log_regex": "^never$", "timeout": "60s"}});
    let run = find("docker.run").unwrap().run(params, &lab.ctx);
    // The engine enforces deadlines by dropping the future, as this timeout does.
    let dropped = tokio::time::timeout(Duration::from_millis(1500), run).await;
    assert!(dropped.is_err(), "still waiting for readiness");
    let t = Instant::now();
    while lab.engine_inspect(&c).await.is_some() {
        assert!(t.elapsed() < Duration::from_secs(15), "the dropped run left {c} behind");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn tmpfs_user_and_workdir_reach_the_container() {
    // (A tmpfs that is also the workdir loses its mode=1777: runc re-creates the workdir.)
    let lab = Lab::new("opts");
    let c = lab.name();
    lab.ok(
        "docker.run",
        json!({"image": IMAGE, "name": c, "binds": host_binds(), "network_mode": "host",
               "user": "101:104", "workdir": "/etc", "tmpfs": {"/scratch": "rw,mode=1777"},
               "entrypoint": ["/bin/sh", "-c"], "command": ["id -u; id -g; pwd; touch /scratch/f && echo wrote; exec sleep 600"],
               "ready": {"log_regex": "^(wrote|touch.*)$", "timeout": "20s"}}),
    )
    .await;
    let logs = lab.ok("docker.logs", json!({"container": c})).await;
    assert_eq!(logs.output["text"], "101\n104\n/etc\nwrote\n");
}

#[tokio::test]
async fn a_container_with_a_stop_signal_is_stopped_with_it_before_its_undo_removes_it() {
    // PostgreSQL's fast shutdown is SIGINT: the undo must not SIGKILL it (`force`) first.
    let lab = Lab::new("graceful");
    let (c, o) = lab.sleeper(json!({"stop_signal": "SIGINT"})).await;
    let u = only_undo(&o);
    assert_eq!(u.description, format!("stop and remove container {c} (log kept in evidence)"));
    assert_eq!(u.params["grace"], "10s");
    let t = Instant::now();
    let r = run_undo(&lab, u).await;
    assert_eq!(r.output["removed"], true);
    assert!(t.elapsed() < Duration::from_secs(8), "it waited for the grace period: {:?}", t.elapsed());
    // The log was taken after the stop: the trap for SIGINT ran (a SIGKILL leaves no line).
    let kept =
        std::fs::read_to_string(lab.dir.path().join("evidence").join(format!("{c}.container.log"))).unwrap();
    assert!(kept.contains("got-int"), "{kept}");
    assert!(lab.engine_inspect(&c).await.is_none());
}
