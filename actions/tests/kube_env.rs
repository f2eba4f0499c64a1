//! TESTRUNNER_KUBECTL selects the binary when no `kubectl` parameter is given. Its own test
//! binary: it sets a process-wide variable.
mod kube_stub;

use kube_stub::{deployment, Stub};
use serde_json::json;
use std::time::Duration;
use testrunner_actions::find;

#[tokio::test]
async fn testrunner_kubectl_names_the_binary() {
    let s = Stub::new(json!({"deployment/default/api": deployment("api", "default", 3)}), &[]);
    std::env::set_var("TESTRUNNER_KUBECTL", &s.wrapper);
    let ctx = s.ctx(Duration::from_secs(30));
    let o = find("kube.get").unwrap().run(json!({"kind": "deployment", "name": "api"}), &ctx).await.unwrap();
    assert_eq!(o.output["json"]["spec"]["replicas"], 3);
    assert_eq!(s.calls().len(), 1);
    // The parameter still wins over the variable.
    let e = find("kube.get")
        .unwrap()
        .run(json!({"kind": "deployment", "name": "api", "kubectl": "/nonexistent/k"}), &ctx);
    assert!(e.await.unwrap_err().message.contains("/nonexistent/k"));
    assert_eq!(s.calls().len(), 1);
}
