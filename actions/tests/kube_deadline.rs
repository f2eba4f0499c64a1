//! A hung kubectl (the STUB told to hang, like an unreachable API server) ends at the step
//! deadline and its process is killed — both when the action's own deadline fires and when
//! the engine drops the future first.
mod kube_stub;

use kube_stub::{dead, gone, Stub};
use serde_json::json;
use std::time::{Duration, Instant};

#[tokio::test]
async fn a_hung_kubectl_ends_at_the_deadline_and_is_killed() {
    let s = Stub::new(json!({}), &[("KUBECTL_STUB_HANG", "1")]);
    let ctx = s.ctx(Duration::from_millis(1500));
    let t = Instant::now();
    let e = s.run_in("kube.get", json!({"kind": "pod", "name": "x"}), &ctx).await.unwrap_err();
    let took = t.elapsed();
    assert!(took >= Duration::from_millis(1400), "ended before the deadline: {took:?}");
    assert!(took < Duration::from_secs(6), "ended long after the deadline: {took:?}");
    assert!(e.message.contains("did not finish within the step deadline"), "{}", e.message);
    let pid = s.pid();
    assert_eq!(e.output["pid"], pid);
    assert!(gone(pid), "kubectl (pid {pid}) is still there");
    // It really was asked for a request bounded by what was left of the deadline.
    let flag = s.last_call()[0].clone();
    let ms: u64 = flag.strip_prefix("--request-timeout=").unwrap().trim_end_matches("ms").parse().unwrap();
    assert!((1000..=1500).contains(&ms), "{flag}");
}

#[tokio::test]
async fn dropping_the_action_kills_the_child() {
    let s = Stub::new(json!({}), &[("KUBECTL_STUB_HANG", "1")]);
    let ctx = s.ctx(Duration::from_secs(60));
    let pidfile = s.dir.path().join("pid");
    let run = s.run_in("kube.get", json!({"kind": "pod", "name": "x"}), &ctx);
    // The engine enforces deadlines by dropping the future: do the same once the stub is up.
    let started = async {
        let t = Instant::now();
        while !pidfile.exists() {
            assert!(t.elapsed() < Duration::from_secs(10), "the stub never started");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    tokio::select! {
        r = run => panic!("a hung kubectl returned: {r:?}"),
        () = started => {}
    }
    let pid = s.pid();
    let t = Instant::now();
    while !dead(pid) {
        assert!(t.elapsed() < Duration::from_secs(5), "pid {pid} survived the drop");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_kube_patch_and_scale_record_their_undo_before_kubectl_runs() {
    // Write-ahead: the undo is known before the call, so a runner SIGKILLed while kubectl
    // hangs (the change may be applied) still leaves it in the journal.
    for (action, params) in [
        (
            "kube.patch",
            json!({"kind": "deployment", "name": "api", "patch": {"spec": {"replicas": 0}}, "undo_patch": {"spec": {"replicas": 2}}}),
        ),
        ("kube.scale", json!({"kind": "deployment", "name": "api", "replicas": 0, "undo_replicas": 2})),
    ] {
        let s = Stub::new(json!({}), &[("KUBECTL_STUB_HANG", "1")]);
        let mut ctx = s.ctx(Duration::from_millis(500));
        let notes = std::sync::Arc::new(std::sync::Mutex::new(vec![]));
        let seen = notes.clone();
        ctx.state.undo_sink = Some(std::sync::Arc::new(move |n| seen.lock().unwrap().push(n)));
        assert!(s.run_in(action, params, &ctx).await.is_err(), "{action}: the hung kubectl must fail");
        let notes = notes.lock().unwrap();
        let keys: Vec<String> = notes
            .iter()
            .filter_map(|n| match n {
                testrunner_actions::UndoNote::Intend { undo, .. } => Some(undo.key.clone()),
                _ => None,
            })
            .collect();
        assert_eq!(keys, vec![format!("{action}:deployment/api")], "{action}");
    }
}
