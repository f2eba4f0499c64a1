//! kube.* actions against the kubectl STUB (tests/stubs/kubectl): exact argument vectors,
//! patch types, jsonpath polling of a CNPG promotion, apply, delete, scale with undo, and
//! errors that carry kubectl's stderr and exit code.
mod kube_stub;

use kube_stub::{cnpg_cluster, deployment, v, Stub};
use serde_json::json;
use testrunner_actions::find;

#[test]
fn all_kube_actions_are_registered() {
    for a in ["kube.patch", "kube.get", "kube.apply", "kube.delete", "kube.scale"] {
        let spec = find(a).unwrap_or_else(|| panic!("{a} missing")).spec();
        assert_eq!(spec.params["additionalProperties"], false, "{a}: unknown keys must be rejected");
        for f in ["context", "namespace", "kubeconfig", "kubectl", "timeout"] {
            assert!(spec.params["properties"][f]["description"].is_string(), "{a}.{f} undocumented");
        }
    }
    // A plain enum, so the loader rejects `type: apply` at load time with a did-you-mean.
    let ty = &find("kube.patch").unwrap().spec().params["properties"]["type"];
    assert_eq!(ty["enum"], json!(["merge", "json", "strategic"]), "{ty}");
}

#[tokio::test]
async fn patch_merge_builds_the_exact_argv_and_returns_the_object() {
    let s = Stub::new(json!({"deployment/web/api": deployment("api", "web", 2)}), &[]);
    let o = s
        .run(
            "kube.patch",
            json!({"kind": "deployment", "name": "api", "namespace": "web", "context": "prod-eu",
                   "kubeconfig": "/etc/kube/cfg", "timeout": "7s",
                   "patch": {"metadata": {"labels": {"chaos": "on"}}}}),
        )
        .await
        .unwrap();
    assert_eq!(
        s.last_call(),
        v(&[
            "--context=prod-eu",
            "--namespace=web",
            "--kubeconfig=/etc/kube/cfg",
            "--request-timeout=7s",
            "patch",
            "deployment",
            "api",
            "--type",
            "merge",
            "-p",
            r#"{"metadata":{"labels":{"chaos":"on"}}}"#,
            "-o",
            "json",
        ])
    );
    assert_eq!(o.output["json"]["metadata"]["labels"]["chaos"], "on");
    assert_eq!(s.objects()["deployment/web/api"]["metadata"]["labels"]["chaos"], "on");
    assert!(o.undo.is_empty(), "no undo_patch, no undo");
}

#[tokio::test]
async fn patch_json_and_strategic_types_are_passed_through() {
    let s = Stub::new(json!({"deployment/default/api": deployment("api", "default", 2)}), &[]);
    let ops = json!([{"op": "replace", "path": "/spec/replicas", "value": 5}]);
    let o =
        s.run("kube.patch", json!({"kind": "deployment", "name": "api", "type": "json", "patch": ops})).await;
    assert_eq!(o.unwrap().output["json"]["spec"]["replicas"], 5);
    let call = s.last_call();
    assert_eq!(&call[1..5], v(&["patch", "deployment", "api", "--type"]).as_slice());
    assert_eq!(call[5], "json");
    assert_eq!(call[7], ops.to_string());

    s.run("kube.patch", json!({"kind": "deployment", "name": "api", "type": "strategic", "patch": {"spec": {"paused": true}}}))
        .await
        .unwrap();
    assert_eq!(s.last_call()[5], "strategic");
    assert_eq!(s.objects()["deployment/default/api"]["spec"]["paused"], true);

    // Negative control: a JSON patch that does not apply fails with kubectl's words.
    let bad = json!([{"op": "replace", "path": "/spec/nothing/here", "value": 1}]);
    let e = s
        .run("kube.patch", json!({"kind": "deployment", "name": "api", "type": "json", "patch": bad}))
        .await
        .unwrap_err();
    assert_eq!(e.output["exit_code"], 1);
    assert!(e.output["stderr"].as_str().unwrap().contains("The request is invalid"), "{e:?}");
    assert!(e.message.contains("exited with 1"), "{}", e.message);
    // An unknown type is refused before kubectl runs.
    let n = s.calls().len();
    let e =
        s.run("kube.patch", json!({"kind": "deployment", "name": "api", "type": "apply", "patch": {}})).await;
    assert!(e.unwrap_err().message.contains("invalid parameters"));
    assert_eq!(s.calls().len(), n);
}

#[tokio::test]
async fn undo_patch_registers_an_inverse_that_restores_the_object() {
    let s = Stub::new(json!({"cluster/cnpg/pg-primary": cnpg_cluster("pg-primary", "cnpg", false)}), &[]);
    let o = s
        .run(
            "kube.patch",
            json!({"kind": "cluster.postgresql.cnpg.io", "name": "pg-primary", "namespace": "cnpg", "context": "",
                   "patch": {"spec": {"instances": 0}}, "undo_patch": {"spec": {"instances": 3}}}),
        )
        .await
        .unwrap();
    assert_eq!(s.objects()["cluster/cnpg/pg-primary"]["spec"]["instances"], 0);
    assert_eq!(o.undo.len(), 1);
    let u = &o.undo[0];
    assert_eq!(u.key, "kube.patch:cluster.postgresql.cnpg.io/pg-primary");
    assert_eq!(u.action, "kube.patch");
    assert_eq!(u.params["namespace"], "cnpg");
    assert_eq!(u.params["type"], "merge");
    assert!(u.params.get("context").is_none(), "an empty context is not carried: {}", u.params);
    // The engine runs the undo through the registry, exactly like this.
    let ctx = s.ctx(std::time::Duration::from_secs(30));
    let restored = find(u.action).unwrap().run(u.params.clone(), &ctx).await.unwrap();
    assert_eq!(restored.output["json"]["spec"]["instances"], 3);
    assert!(restored.undo.is_empty());
    assert_eq!(s.objects()["cluster/cnpg/pg-primary"]["spec"]["instances"], 3);
    assert!(!s.last_call().iter().any(|a| a.starts_with("--context")), "{:?}", s.last_call());
}

#[tokio::test]
async fn get_jsonpath_sees_the_emulated_promotion_a_few_polls_later() {
    let s = Stub::new(json!({"cluster/cnpg/pg-replica": cnpg_cluster("pg-replica", "cnpg", true)}), &[]);
    let get = json!({"kind": "cluster.postgresql.cnpg.io", "name": "pg-replica", "namespace": "cnpg",
                     "jsonpath": "{.status.currentPrimary}"});
    assert_eq!(s.run("kube.get", get.clone()).await.unwrap().output["text"], "");
    s.run(
        "kube.patch",
        json!({"kind": "cluster.postgresql.cnpg.io", "name": "pg-replica", "namespace": "cnpg",
               "patch": {"spec": {"replica": {"enabled": false}}}}),
    )
    .await
    .unwrap();
    let mut texts = vec![];
    for _ in 0..4 {
        let o = s.run("kube.get", get.clone()).await.unwrap();
        texts.push(o.output["text"].as_str().unwrap().to_string());
        assert!(o.output.get("json").is_none(), "a bare name is not JSON");
    }
    assert_eq!(texts, ["", "", "pg-replica-1", "pg-replica-1"]);
    assert_eq!(
        s.last_call(),
        v(&[
            "--namespace=cnpg",
            &s.last_call()[1],
            "get",
            "cluster.postgresql.cnpg.io",
            "pg-replica",
            "-o=jsonpath={.status.currentPrimary}"
        ])
    );
    assert!(s.last_call()[1].starts_with("--request-timeout="));
    // A jsonpath value that is JSON is also given as `json`.
    let o = s
        .run("kube.get", json!({"kind": "cluster", "name": "pg-replica", "namespace": "cnpg", "jsonpath": "{.spec.instances}"}))
        .await
        .unwrap();
    assert_eq!((o.output["text"].clone(), o.output["json"].clone()), (json!("3"), json!(3)));
}

#[tokio::test]
async fn without_the_controller_the_primary_never_appears() {
    // The negative control of the poll above: the same loop never sees a primary.
    let s = Stub::new(
        json!({"cluster/cnpg/pg-replica": cnpg_cluster("pg-replica", "cnpg", true)}),
        &[("KUBECTL_STUB_NEVER_PROMOTE", "1")],
    );
    let patch = json!({"kind": "cluster.postgresql.cnpg.io", "name": "pg-replica", "namespace": "cnpg",
                       "patch": {"spec": {"replica": {"enabled": false}}}});
    s.run("kube.patch", patch).await.unwrap();
    for _ in 0..6 {
        let get = json!({"kind": "cluster.postgresql.cnpg.io", "name": "pg-replica", "namespace": "cnpg",
                         "jsonpath": "{.status.currentPrimary}"});
        assert_eq!(s.run("kube.get", get).await.unwrap().output["text"], "");
    }
}

#[tokio::test]
async fn get_whole_objects_and_lists_by_selector() {
    let s = Stub::new(
        json!({"deployment/web/api": deployment("api", "web", 2), "deployment/web/ui": deployment("ui", "web", 1)}),
        &[],
    );
    let o =
        s.run("kube.get", json!({"kind": "deployment", "name": "api", "namespace": "web"})).await.unwrap();
    assert_eq!(o.output["json"]["spec"]["replicas"], 2);
    assert_eq!(&s.last_call()[2..], v(&["get", "deployment", "api", "-o=json"]).as_slice());
    let o = s
        .run("kube.get", json!({"kind": "deployment", "selector": "app=ui", "namespace": "web"}))
        .await
        .unwrap();
    assert_eq!(&s.last_call()[2..], v(&["get", "deployment", "--selector=app=ui", "-o=json"]).as_slice());
    let items = o.output["json"]["items"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["metadata"]["name"], "ui");
    let e = s.run("kube.get", json!({"kind": "deployment", "name": "api", "selector": "app=ui"})).await;
    assert!(e.unwrap_err().message.contains("not both"));
}

#[tokio::test]
async fn apply_feeds_the_manifest_on_stdin() {
    let s = Stub::new(json!({}), &[]);
    let cm =
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "d31"}, "data": {"run": "42"}});
    let o = s.run("kube.apply", json!({"namespace": "cnpg", "manifest": cm})).await.unwrap();
    assert_eq!(&s.last_call()[2..], v(&["apply", "-f", "-", "-o", "json"]).as_slice());
    assert_eq!(o.output["json"]["data"]["run"], "42");
    assert_eq!(s.objects()["configmap/cnpg/d31"]["data"]["run"], "42");

    // A list becomes one List; server-side apply adds its flag.
    let two = json!([
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}, "data": {}},
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "b", "namespace": "other"}}
    ]);
    let o = s
        .run("kube.apply", json!({"namespace": "cnpg", "manifest": two, "server_side": true}))
        .await
        .unwrap();
    assert_eq!(&s.last_call()[2..], v(&["apply", "--server-side", "-f", "-", "-o", "json"]).as_slice());
    assert_eq!(o.output["json"]["items"].as_array().unwrap().len(), 2);
    assert!(s.objects()["configmap/cnpg/a"].is_object() && s.objects()["secret/other/b"].is_object());

    // From a file.
    let f = s.dir.path().join("m.json");
    std::fs::write(
        &f,
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "f"}}).to_string(),
    )
    .unwrap();
    s.run("kube.apply", json!({"file": f})).await.unwrap();
    assert_eq!(&s.last_call()[1..], v(&["apply", "-f", f.to_str().unwrap(), "-o", "json"]).as_slice());
    assert!(s.objects()["configmap/default/f"].is_object());

    // Exactly one source.
    let n = s.calls().len();
    for bad in [json!({"file": "x", "manifest": cm}), json!({})] {
        assert!(s.run("kube.apply", bad).await.unwrap_err().message.contains("exactly one"));
    }
    assert_eq!(s.calls().len(), n, "kubectl must not run for invalid parameters");
}

#[tokio::test]
async fn delete_ignores_missing_objects_unless_told_not_to() {
    let s = Stub::new(json!({"pod/cnpg/pg-1": {"kind": "Pod", "metadata": {"name": "pg-1"}}}), &[]);
    s.run("kube.delete", json!({"kind": "pod", "name": "pg-1", "namespace": "cnpg"})).await.unwrap();
    assert_eq!(
        &s.last_call()[2..],
        v(&["delete", "pod", "pg-1", "--ignore-not-found=true", "--wait=false"]).as_slice()
    );
    assert!(s.objects().get("pod/cnpg/pg-1").is_none());
    // Deleting it again is fine by default...
    s.run("kube.delete", json!({"kind": "pod", "name": "pg-1", "namespace": "cnpg", "wait": true}))
        .await
        .unwrap();
    assert_eq!(s.last_call()[6], "--wait=true");
    // ...and an error when the caller says a missing object is one.
    let e = s
        .run(
            "kube.delete",
            json!({"kind": "pod", "name": "pg-1", "namespace": "cnpg", "ignore_not_found": false}),
        )
        .await
        .unwrap_err();
    assert_eq!(e.output["exit_code"], 1);
    assert_eq!(e.output["stderr"], r#"Error from server (NotFound): pod "pg-1" not found"#);
    assert!(e.hint.as_deref().unwrap().contains("check the kind, name and namespace"), "{:?}", e.hint);
}

#[tokio::test]
async fn scale_with_undo_replicas_restores_the_count() {
    let s = Stub::new(json!({"deployment/web/api": deployment("api", "web", 2)}), &[]);
    let o = s
        .run("kube.scale", json!({"kind": "deployment", "name": "api", "namespace": "web", "replicas": 0, "undo_replicas": 2}))
        .await
        .unwrap();
    assert_eq!(&s.last_call()[2..], v(&["scale", "deployment/api", "--replicas=0"]).as_slice());
    assert_eq!(s.objects()["deployment/web/api"]["spec"]["replicas"], 0);
    let u = &o.undo[0];
    assert_eq!((u.key.as_str(), u.action), ("kube.scale:deployment/api", "kube.scale"));
    assert_eq!(u.params["replicas"], 2);
    let restored =
        find(u.action).unwrap().run(u.params.clone(), &s.ctx(std::time::Duration::from_secs(30))).await;
    assert!(restored.unwrap().undo.is_empty(), "the inverse registers no inverse of its own");
    assert_eq!(s.objects()["deployment/web/api"]["spec"]["replicas"], 2);
    // Without undo_replicas nothing is registered; negative replicas are refused at decode.
    let o = s
        .run("kube.scale", json!({"kind": "deployment", "name": "api", "namespace": "web", "replicas": 1}))
        .await;
    assert!(o.unwrap().undo.is_empty());
    let e =
        s.run("kube.scale", json!({"kind": "deployment", "name": "api", "replicas": -1})).await.unwrap_err();
    assert!(e.message.contains("invalid parameters"), "{}", e.message);
}

#[tokio::test]
async fn errors_carry_stderr_exit_code_and_a_hint() {
    let s = Stub::new(json!({}), &[]);
    let e = s
        .run("kube.get", json!({"kind": "cluster.postgresql.cnpg.io", "name": "ghost", "context": "prod"}))
        .await
        .unwrap_err();
    assert_eq!(e.output["exit_code"], 1);
    assert_eq!(
        e.output["stderr"],
        r#"Error from server (NotFound): cluster.postgresql.cnpg.io "ghost" not found"#
    );
    assert!(e.message.contains("exited with 1: Error from server (NotFound)"), "{}", e.message);
    assert!(
        e.message.contains("get cluster.postgresql.cnpg.io ghost"),
        "the command is shown: {}",
        e.message
    );
    assert!(e.hint.unwrap().contains("kubectl --context prod get cluster.postgresql.cnpg.io"));

    // An unreachable server points at the context.
    let s = Stub::new(json!({}), &[("KUBECTL_STUB_UNREACHABLE", "1")]);
    let e = s.run("kube.get", json!({"kind": "pod", "name": "y", "context": "prod"})).await.unwrap_err();
    assert!(e.output["stderr"].as_str().unwrap().contains("Unable to connect to the server"), "{e:?}");
    assert_eq!(e.hint.unwrap(), "is the context reachable? `kubectl --context prod cluster-info`");
    // No binary at all.
    let ctx = s.ctx(std::time::Duration::from_secs(5));
    let params = json!({"kind": "deployment", "name": "a", "kubectl": "/nonexistent/kubectl"});
    let e = find("kube.get").unwrap().run(params, &ctx).await.unwrap_err();
    assert!(e.message.contains("cannot run `/nonexistent/kubectl`"), "{}", e.message);
}

#[tokio::test]
async fn probes_are_read_only_and_tell_blockers_from_warnings() {
    let s = Stub::new(json!({"deployment/web/api": deployment("api", "web", 2)}), &[]);
    let a = find("kube.patch").unwrap();
    let ctx = s.ctx(std::time::Duration::from_secs(10));
    let with = |p: serde_json::Value| {
        let mut p = p;
        p["kubectl"] = json!(s.wrapper);
        p
    };
    let found = a.probe(with(json!({"kind": "deployment", "name": "api", "namespace": "web"})), &ctx).await;
    assert!(found.is_empty(), "{found:?}");
    assert_eq!(&s.last_call()[2..], v(&["get", "deployment", "api", "-o", "name"]).as_slice());
    let missing =
        a.probe(with(json!({"kind": "deployment", "name": "nope", "namespace": "web"})), &ctx).await;
    assert!(!missing[0].blocker, "it may be created by an earlier step: {missing:?}");
    let n = s.calls().len();
    assert!(a.probe(with(json!({"kind": "deployment", "name": "${x}"})), &ctx).await.is_empty());
    assert_eq!(s.calls().len(), n, "unresolved parameters are not probed");
    assert_eq!(s.objects()["deployment/web/api"]["spec"]["replicas"], 2);
    let down = Stub::new(json!({}), &[("KUBECTL_STUB_UNREACHABLE", "1")]);
    let mut p = json!({"manifest": {}});
    p["kubectl"] = json!(down.wrapper);
    let found = find("kube.apply").unwrap().probe(p, &ctx).await;
    assert!(found[0].blocker && found[0].message.contains("not usable"), "{found:?}");
    assert_eq!(&down.last_call()[1..], v(&["version", "-o", "json"]).as_slice());
}

#[tokio::test]
async fn unknown_parameters_are_rejected() {
    let s = Stub::new(json!({}), &[]);
    let e = s.run("kube.get", json!({"kind": "pod", "nmespace": "x"})).await.unwrap_err();
    assert!(e.message.contains("unknown field `nmespace`"), "{}", e.message);
    assert!(s.calls().is_empty());
}

#[tokio::test]
async fn context_namespace_and_deadline_flags_pass_through() {
    let s = Stub::new(json!({"deployment/ns-1/api": deployment("api", "ns-1", 1)}), &[]);
    let ctx = s.ctx(std::time::Duration::from_secs(20));
    s.run_in(
        "kube.get",
        json!({"kind": "deployment", "name": "api", "namespace": "ns-1", "context": "kind-a b"}),
        &ctx,
    )
    .await
    .unwrap();
    let call = s.last_call();
    assert_eq!(&call[..2], v(&["--context=kind-a b", "--namespace=ns-1"]).as_slice());
    // No timeout given: what is left of the 20 s step deadline.
    let t = call[2].strip_prefix("--request-timeout=").unwrap();
    let ms: u64 = match t.strip_suffix("ms") {
        Some(ms) => ms.parse().unwrap(),
        None => t.strip_suffix('s').unwrap().parse::<u64>().unwrap() * 1000,
    };
    assert!((10_000..=20_000).contains(&ms), "{t}");
    // Absent flags are absent, not empty.
    s.run("kube.get", json!({"kind": "deployment", "name": "api", "namespace": "ns-1", "timeout": 1500}))
        .await
        .unwrap();
    assert_eq!(&s.last_call()[..2], v(&["--namespace=ns-1", "--request-timeout=1500ms"]).as_slice());
}
