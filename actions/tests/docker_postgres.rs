//! The lab recipe the HA scenarios use: the host's PostgreSQL 15 in a container of the empty
//! local image (scripts/build-image.sh), no registry involved.
//!
//! Recipe (what this test runs, step by step):
//!   image:        testrunner-hostfs:latest  (`docker import` of an empty tar)
//!   binds:        /usr:/usr:ro /lib:/lib:ro /lib64:/lib64:ro /bin:/bin:ro /etc:/etc:ro
//!                 (+ /sbin:/sbin:ro when /sbin is a real directory) + <datadir>:/pgdata
//!                 (+ <sockdir>:/tmp for the server)
//!   datadir:      a host directory, mode 0700, owned by 101:104 (postgres:postgres here)
//!   user:         "101:104"
//!   network_mode: host  (so it listens on the host's loopback)
//!   socket dir:   <sockdir>:/tmp, a host directory owned by 101:104 (the empty image has no
//!                 /tmp). Not a tmpfs: Engine 20.10 re-mounts a tmpfs without its `mode=` when
//!                 the container is started again, and PostgreSQL then fails with
//!                 `could not create lock file "/tmp/.s.PGSQL.<port>.lock": Permission denied`.
//!   initdb:       a one-shot container, command
//!                 [/usr/lib/postgresql/15/bin/initdb, -D, /pgdata, -U, postgres, --auth=trust]
//!                 then docker.wait {state: exited} must give exit_code 0
//!   server:       stop_signal SIGINT (fast shutdown), command
//!                 [/usr/lib/postgresql/15/bin/postgres, -D, /pgdata, -p, <free port>,
//!                  -c, listen_addresses=127.0.0.1, -k, /tmp]
//!                 ready: {log_regex: "database system is ready to accept connections"}
//!   port:         bind 127.0.0.1:0 on the host, read the port back, release it.
mod docker_support;

use docker_support::{host_binds, Lab, IMAGE};
use serde_json::{json, Value};
use std::os::unix::fs::PermissionsExt;
use std::time::{Duration, Instant};

const PG_BIN: &str = "/usr/lib/postgresql/15/bin";

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

async fn query_one(port: u16, sql: &str) -> Result<String, tokio_postgres::Error> {
    let conn = format!("host=127.0.0.1 port={port} user=postgres dbname=postgres connect_timeout=5");
    let (client, connection) = tokio_postgres::connect(&conn, tokio_postgres::NoTls).await?;
    tokio::spawn(connection);
    let rows = client.simple_query(sql).await?;
    Ok(rows
        .iter()
        .find_map(|m| match m {
            tokio_postgres::SimpleQueryMessage::Row(r) => r.get(0).map(String::from),
            _ => None,
        })
        .unwrap_or_default())
}

#[tokio::test]
async fn host_postgres_15_runs_in_the_hostfs_image_and_survives_stop_start() {
    if !std::path::Path::new(PG_BIN).join("postgres").exists() {
        panic!("PostgreSQL 15 is not installed at {PG_BIN}: scripts/setup.sh installs it");
    }
    let lab = Lab::new("pg");
    let data = lab.dir.path().join("pgdata");
    std::fs::create_dir(&data).unwrap();
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o700)).unwrap();
    std::os::unix::fs::chown(&data, Some(101), Some(104)).unwrap();
    let sock = lab.dir.path().join("sock");
    std::fs::create_dir(&sock).unwrap();
    std::os::unix::fs::chown(&sock, Some(101), Some(104)).unwrap();
    let mut binds = host_binds();
    binds.push(format!("{}:/pgdata", data.display()));
    let init_binds = binds.clone();
    binds.push(format!("{}:/tmp", sock.display()));

    // initdb in a one-shot container.
    let init = lab.name();
    lab.ok(
        "docker.run",
        json!({"image": IMAGE, "name": init, "user": "101:104", "network_mode": "host", "binds": init_binds,
               "command": [format!("{PG_BIN}/initdb"), "-D", "/pgdata", "-U", "postgres", "--auth=trust"]}),
    )
    .await;
    let w = lab.ok("docker.wait", json!({"container": init, "state": "exited", "timeout": "120s"})).await;
    let initdb_log = lab.ok("docker.logs", json!({"container": init})).await;
    assert_eq!(w.output["exit_code"], 0, "initdb failed: {}", initdb_log.output["text"]);
    lab.ok("docker.rm", json!({"container": init})).await;
    assert!(data.join("PG_VERSION").exists());

    // The server.
    let port = free_port();
    let pg = lab.name();
    let run = lab
        .ok(
            "docker.run",
            json!({"image": IMAGE, "name": pg, "user": "101:104", "network_mode": "host",
                   "stop_signal": "SIGINT", "binds": binds,
                   "command": [format!("{PG_BIN}/postgres"), "-D", "/pgdata", "-p", port.to_string(),
                               "-c", "listen_addresses=127.0.0.1", "-k", "/tmp"],
                   "ready": {"log_regex": "database system is ready to accept connections", "timeout": "60s"}}),
        )
        .await;
    assert_eq!(run.undo[0].key, format!("docker.container:{pg}"));
    // Reachable from the host on loopback (host networking), and over its socket inside.
    assert_eq!(query_one(port, "SELECT current_setting('server_version_num')").await.unwrap()[..2], *"15");
    query_one(port, "CREATE TABLE acked (id int); INSERT INTO acked VALUES (42)").await.unwrap();
    let isready = json!({"container": pg, "argv": [format!("{PG_BIN}/pg_isready"), "-h", "/tmp", "-p", port.to_string()]});
    lab.ok("docker.exec", isready.clone()).await;
    let who = lab.ok("docker.inspect", json!({"container": pg})).await;
    assert_eq!(who.output["json"]["Config"]["User"], "101:104");

    // docker.stop uses SIGINT: PostgreSQL logs a *fast* shutdown (SIGTERM would be "smart").
    let stop = lab.ok("docker.stop", json!({"container": pg, "grace": "30s"})).await;
    assert_eq!((stop.output["state"].as_str(), stop.output["exit_code"].as_i64()), (Some("exited"), Some(0)));
    let logs = lab.ok("docker.logs", json!({"container": pg, "save": "pg.log"})).await;
    let text = logs.output["text"].as_str().unwrap();
    assert!(text.contains("received fast shutdown request"), "{text}");
    assert!(query_one(port, "SELECT 1").await.is_err(), "negative control: nothing listens once stopped");

    // docker.start brings it back on the same data; bounded wait on pg_isready.
    let start = lab.ok("docker.start", json!({"container": pg})).await;
    assert_eq!(start.resolves, vec![format!("docker.stopped:{pg}")]);
    let t = Instant::now();
    loop {
        let mut p = isready.clone();
        p["expect_exit"] = Value::from("any");
        if lab.ok("docker.exec", p).await.output["exit_code"] == 0 {
            break;
        }
        assert!(t.elapsed() < Duration::from_secs(60), "PostgreSQL did not come back after docker.start");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(query_one(port, "SELECT id FROM acked").await.unwrap(), "42", "the data survived");
}
