//! Network faults against the real Docker Engine and the real kernel: networks created and
//! removed, a container disconnected and reconnected at its address, nftables partitions in
//! a container's namespace (drop / reject, one or both ways) healed by exactly their own
//! table, and the runner's own namespace refused. Traffic goes only from this process to
//! containers the test created.
mod docker_support;

use docker_support::{host_binds, Lab, IMAGE};
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use testrunner_actions::{find, UndoNote};

/// Removes the networks it names when dropped: declare it before the Lab, so the Lab's
/// containers are gone first (a network with containers cannot be removed).
struct Nets(Vec<String>);

impl Drop for Nets {
    fn drop(&mut self) {
        for n in &self.0 {
            let _ = std::process::Command::new("docker").args(["network", "rm", n]).output();
        }
    }
}

/// A web server in a container on `network`: answers `GET /` on port 8080.
async fn web(lab: &Lab, network: &str) -> (String, String) {
    let name = lab.name();
    let o = lab
        .ok(
            "docker.run",
            json!({
                "image": IMAGE, "name": name, "network_mode": network, "binds": host_binds(),
                "command": ["/usr/bin/python3", "-u", "-m", "http.server", "8080", "--bind", "0.0.0.0"],
                "ready": {"log_regex": "Serving HTTP", "timeout": "20s"},
            }),
        )
        .await;
    (name, o.output["ip"].as_str().unwrap().to_string())
}

/// What `GET http://ip:8080/` does within `within`: "200", "refused", or "timeout".
async fn reach(ip: &str, within: Duration) -> String {
    let addr = format!("{ip}:8080");
    match tokio::time::timeout(within, tokio::net::TcpStream::connect(&addr)).await {
        Err(_) => "timeout".into(),
        Ok(Err(e)) if e.kind() == std::io::ErrorKind::ConnectionRefused => "refused".into(),
        Ok(Err(e)) => format!("error {e}"),
        Ok(Ok(_)) => "connected".into(),
    }
}

fn net_name(lab: &Lab) -> String {
    format!("{}-net", lab.name())
}

#[tokio::test]
async fn a_partition_drops_exactly_its_peers_and_its_heal_removes_exactly_its_table() {
    let mut nets = Nets(vec![]);
    let lab = Lab::new("cut");
    let net = net_name(&lab);
    nets.0.push(net.clone());
    let created = lab.ok("docker.network_create", json!({"name": net})).await;
    let gateway = created.output["gateway"].as_str().unwrap().to_string();
    assert!(!gateway.is_empty(), "{:?}", created.output);
    assert_eq!(created.undo[0].action, "docker.network_rm");
    let (server, ip) = web(&lab, &net).await;
    assert_eq!(reach(&ip, Duration::from_secs(5)).await, "connected");

    // Write-ahead: the undo is announced before the rules exist.
    let notes: Arc<Mutex<Vec<UndoNote>>> = Arc::default();
    let mut lab = lab;
    let sink = notes.clone();
    lab.ctx.state.undo_sink = Some(Arc::new(move |n| sink.lock().unwrap().push(n)));

    // Negative control first: a partition from someone else leaves us connected.
    let other = lab.ok("net.partition", json!({"container": server, "peers": ["10.254.254.254"]})).await;
    assert_eq!(reach(&ip, Duration::from_secs(2)).await, "connected");

    // We reach the container from the bridge's gateway address: cutting that off drops us.
    let cut = lab.ok("net.partition", json!({"container": server, "peers": [gateway]})).await;
    let table = cut.output["table"].as_str().unwrap().to_string();
    assert!(table.starts_with("testrunner_cut_"), "{table}");
    assert_eq!(cut.output["target"], format!("container:{server}"));
    assert_eq!(reach(&ip, Duration::from_millis(700)).await, "timeout");
    let intents: Vec<String> = notes
        .lock()
        .unwrap()
        .iter()
        .filter_map(|n| match n {
            UndoNote::Intend { undo, .. } => Some(undo.key.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(intents, vec![other.undo[0].key.clone(), cut.undo[0].key.clone()]);

    // The undo (what `testrunner cleanup` would replay) removes that table only.
    let u = &cut.undo[0];
    assert_eq!(u.action, "net.heal");
    let healed = find(u.action).unwrap().run(u.params.clone(), &lab.ctx).await.unwrap();
    assert_eq!(healed.output["removed"], json!([table]));
    assert_eq!(healed.resolves, vec![u.key.clone()]);
    assert_eq!(reach(&ip, Duration::from_secs(5)).await, "connected");
    let listing = nft_tables(&server);
    assert!(listing.contains(other.output["table"].as_str().unwrap()), "the other table stays: {listing}");
    // Healing again is a no-op, not an error (the undo stack may run it after a heal step).
    let again = find(u.action).unwrap().run(u.params.clone(), &lab.ctx).await.unwrap();
    assert_eq!(again.output["removed"], json!([]));

    // Reject, incoming only: refused at once instead of hanging.
    let t = Instant::now();
    lab.ok(
        "net.partition",
        json!({"container": server, "peers": [format!("{gateway}/32")], "direction": "incoming", "mode": "reject"}),
    )
    .await;
    assert_eq!(reach(&ip, Duration::from_secs(3)).await, "refused");
    assert!(t.elapsed() < Duration::from_secs(3));
    // net.heal without a table removes every table of ours, and only those.
    let st = std::process::Command::new("nsenter")
        .arg(format!("--net=/proc/{}/ns/net", pid(&server)))
        .args(["nft", "add", "table", "inet", "theirs"])
        .status()
        .unwrap();
    assert!(st.success());
    let all = lab.ok("net.heal", json!({"container": server})).await;
    assert_eq!(all.output["removed"].as_array().unwrap().len(), 2, "{:?}", all.output);
    // Only ours went: the test's table and Docker's own (its DNS rules) stay.
    let left = nft_tables(&server);
    assert!(left.contains("table inet theirs") && !left.contains("testrunner_"), "{left}");
    assert_eq!(reach(&ip, Duration::from_secs(5)).await, "connected");

    // After the container is gone, the heal has nothing left to do.
    lab.ok("docker.rm", json!({"container": server, "force": true})).await;
    let gone = lab.ok("net.heal", json!({"container": server})).await;
    assert_eq!(gone.output["gone"], true);
    let rm = lab.ok("docker.network_rm", json!({"name": net})).await;
    assert_eq!(rm.output["removed"], true);
    assert_eq!(rm.resolves, vec![format!("docker.network:{net}")]);
    assert_eq!(lab.ok("docker.network_rm", json!({"name": net})).await.output["removed"], false);
}

fn pid(container: &str) -> String {
    let o = std::process::Command::new("docker")
        .args(["inspect", "-f", "{{.State.Pid}}", container])
        .output()
        .unwrap();
    String::from_utf8_lossy(&o.stdout).trim().to_string()
}

fn nft_tables(container: &str) -> String {
    let o = std::process::Command::new("nsenter")
        .arg(format!("--net=/proc/{}/ns/net", pid(container)))
        .args(["nft", "list", "tables"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[tokio::test]
async fn a_disconnected_container_is_reconnected_at_its_address() {
    let mut nets = Nets(vec![]);
    let lab = Lab::new("disconnect");
    let net = net_name(&lab);
    nets.0.push(net.clone());
    // A subnet of our own, so the Engine lets the container keep its address. Another
    // network may hold the first candidate: the next one is tried (bounded).
    let pid = std::process::id();
    let mut created = None;
    for k in 0..32u32 {
        let subnet = format!("10.{}.{}.0/24", 200 + (pid / 250 + k) % 50, (pid + 7 * k) % 250);
        match lab.run("docker.network_create", json!({"name": net, "subnet": subnet})).await {
            Ok(o) => {
                created = Some(o);
                break;
            }
            Err(e) if e.message.contains("overlaps") => continue,
            Err(e) => panic!("docker.network_create: {}", e.message),
        }
    }
    assert!(created.is_some(), "no free subnet among 32 candidates");
    let again = lab.err("docker.network_create", json!({"name": net})).await;
    assert!(again.message.contains("exists already"), "{}", again.message);
    let (server, ip) = web(&lab, &net).await;
    let cut = lab.ok("docker.network_disconnect", json!({"network": net, "container": server})).await;
    assert_eq!(cut.output["ip"], json!(ip));
    assert_ne!(reach(&ip, Duration::from_millis(700)).await, "connected");
    let e = lab.err("docker.network_disconnect", json!({"network": net, "container": server})).await;
    assert!(e.message.contains("is not connected"), "{}", e.message);
    let u = &cut.undo[0];
    assert_eq!(u.key, format!("docker.disconnected:{net}/{server}"));
    let back = find(u.action).unwrap().run(u.params.clone(), &lab.ctx).await.unwrap();
    assert_eq!(back.output["ip"], json!(ip), "same address");
    assert_eq!(back.resolves, vec![u.key.clone()]);
    assert_eq!(reach(&ip, Duration::from_secs(5)).await, "connected");
    // Connecting again is not an error (the undo may follow a heal step).
    lab.ok("docker.network_connect", json!({"network": net, "container": server})).await;
}

#[tokio::test]
async fn the_runners_own_namespace_and_bad_peers_are_refused() {
    let lab = Lab::new("refuse");
    let (host_net, _) = lab.sleeper(json!({})).await;
    let e = lab.err("net.partition", json!({"container": host_net, "peers": ["10.0.0.1"]})).await;
    assert!(e.message.contains("runner's own network namespace"), "{}", e.message);
    let e =
        lab.err("net.partition", json!({"container": host_net, "netns": "x", "peers": ["10.0.0.1"]})).await;
    assert!(e.message.contains("exactly one of"), "{}", e.message);
    // A peer that is no address and no container name never reaches nft.
    let e = lab
        .err("net.partition", json!({"container": "no-such-container", "peers": ["1.2.3.4 } accept"]}))
        .await;
    assert!(e.message.contains("peer `1.2.3.4 } accept`"), "{}", e.message);
    let e = lab.err("net.heal", json!({"container": host_net, "table": "filter"})).await;
    assert!(e.message.contains("not a table net.partition made"), "{}", e.message);
    // A named namespace that does not exist: nothing to heal, nothing to partition.
    assert_eq!(
        lab.ok("net.heal", json!({"netns": "testrunner-no-such-ns"})).await.output["gone"],
        Value::Bool(true)
    );
    let e = lab.err("net.partition", json!({"netns": "testrunner-no-such-ns", "peers": ["10.0.0.1"]})).await;
    assert!(e.message.contains("no network namespace now"), "{}", e.message);
}
