//! Test support: a real PostgreSQL 15 run as a host process (as uid 101, since postgres
//! refuses root), `halab` nodes as child processes, a tiny HTTP client, bounded waits.
#![allow(dead_code)]

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use serde_json::Value;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const PG_BIN: &str = "/usr/lib/postgresql/15/bin";
const PG_UID: u32 = 101;
const PG_GID: u32 = 104;

/// Polls `f` every 20 ms until it yields a value; panics after `limit`.
pub fn wait_for<T>(what: &str, limit: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(start.elapsed() < limit, "timed out after {limit:?} waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn signal(pid: u32, s: Signal) {
    let _ = kill(Pid::from_raw(pid as i32), s);
}

/// Waits for a child to exit, bounded; `None` if it is still running.
fn wait_exit(child: &mut Child, limit: Duration) -> Option<std::process::ExitStatus> {
    let start = Instant::now();
    loop {
        if let Ok(Some(s)) = child.try_wait() {
            return Some(s);
        }
        if start.elapsed() > limit {
            return None;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A throwaway PostgreSQL cluster on 127.0.0.1 and a free port.
pub struct Pg {
    dir: tempfile::TempDir,
    pub port: u16,
    child: Option<Child>,
}

impl Pg {
    pub fn start() -> Pg {
        let dir = tempfile::tempdir().unwrap();
        std::os::unix::fs::chown(dir.path(), Some(PG_UID), Some(PG_GID)).unwrap();
        let out = Command::new(format!("{PG_BIN}/initdb"))
            .args(["-D", "data", "-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale=C", "--no-sync"])
            .current_dir(dir.path())
            .uid(PG_UID)
            .gid(PG_GID)
            .output()
            .expect("initdb");
        assert!(out.status.success(), "initdb failed: {}", String::from_utf8_lossy(&out.stderr));
        let mut pg = Pg { dir, port: free_port(), child: None };
        pg.launch();
        pg
    }

    fn launch(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("pg.log"))
            .unwrap();
        let sock = self.dir.path().to_str().unwrap().to_string();
        let port = self.port.to_string();
        let child = Command::new(format!("{PG_BIN}/postgres"))
            .args(["-D", "data", "-p", &port, "-k", &sock, "-c", "listen_addresses=127.0.0.1"])
            .args(["-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"])
            .current_dir(self.dir.path())
            .uid(PG_UID)
            .gid(PG_GID)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("postgres");
        self.child = Some(child);
        let url = self.url();
        wait_for("postgres to accept connections", Duration::from_secs(30), || {
            if let Some(s) = self.child.as_mut().unwrap().try_wait().unwrap() {
                panic!("postgres exited ({s}): {}", self.log());
            }
            query_opt(&url, "SELECT 1").ok()
        });
    }

    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    pub fn url_db(&self, db: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{db}", self.port)
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("postgres running").id()
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("pg.log")).unwrap_or_default()
    }

    /// Fast shutdown (SIGINT: ends sessions), bounded; SIGKILL as a last resort.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            signal(c.id(), Signal::SIGCONT);
            signal(c.id(), Signal::SIGINT);
            if wait_exit(&mut c, Duration::from_secs(15)).is_none() {
                let _ = c.kill();
                let _ = c.wait();
            }
        }
    }

    /// Starts again on the same data directory and port.
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "restart of a running postgres");
        self.launch();
    }

    /// SIGSTOP the postmaster: new connections hang (existing sessions keep working).
    pub fn pause(&self) {
        signal(self.pid(), Signal::SIGSTOP);
    }

    pub fn resume(&self) {
        signal(self.pid(), Signal::SIGCONT);
    }

    pub fn query(&self, sql: &str) -> Vec<Vec<Option<String>>> {
        query(&self.url(), sql)
    }

    /// The single value of a one-row, one-column query.
    pub fn scalar(&self, sql: &str) -> String {
        let rows = self.query(sql);
        rows[0][0].clone().unwrap_or_default()
    }
}

impl Drop for Pg {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("--- postgres log ---\n{}", self.log());
        }
        self.stop();
    }
}

/// Runs `sql` (simple protocol, so rows come back as text), bounded by 10 s.
pub fn query_opt(url: &str, sql: &str) -> Result<Vec<Vec<Option<String>>>, String> {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let work = async {
            let (c, conn) =
                tokio_postgres::connect(url, tokio_postgres::NoTls).await.map_err(|e| e.to_string())?;
            tokio::spawn(conn);
            let msgs = c.simple_query(sql).await.map_err(|e| format!("{e:?}"))?;
            Ok(msgs
                .into_iter()
                .filter_map(|m| match m {
                    tokio_postgres::SimpleQueryMessage::Row(r) => {
                        Some((0..r.len()).map(|i| r.get(i).map(str::to_string)).collect())
                    }
                    _ => None,
                })
                .collect())
        };
        tokio::time::timeout(Duration::from_secs(10), work)
            .await
            .map_err(|_| "query timed out".to_string())?
    })
}

pub fn query(url: &str, sql: &str) -> Vec<Vec<Option<String>>> {
    query_opt(url, sql).unwrap_or_else(|e| panic!("{sql}: {e}"))
}

pub fn halab() -> &'static str {
    env!("CARGO_BIN_EXE_halab")
}

/// One `halab serve` child on a port it picked itself (read back from its log).
pub struct Node {
    pub id: String,
    pub port: u16,
    child: Option<Child>,
    log: PathBuf,
}

impl Node {
    /// Starts a node; `extra` are further `serve` flags. Waits for /healthz.
    pub fn start(id: &str, pg_url: &str, dir: &Path, extra: &[&str]) -> Node {
        let log = dir.join(format!("{id}.log"));
        let file = std::fs::File::create(&log).unwrap();
        let audit = dir.join("audit");
        let child = Command::new(halab())
            .args(["serve", "--node-id", id, "--listen", "127.0.0.1:0", "--pg-url", pg_url])
            .arg("--audit-dir")
            .arg(&audit)
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(file)
            .spawn()
            .expect("spawn halab");
        let mut node = Node { id: id.to_string(), port: 0, child: Some(child), log };
        node.port = wait_for("halab to print its address", Duration::from_secs(10), || {
            let text = node.log();
            let rest = text.split(" listening on 127.0.0.1:").nth(1)?;
            rest.split(|c: char| !c.is_ascii_digit()).next()?.parse().ok()
        });
        wait_for("/healthz", Duration::from_secs(10), || node.get_opt("/healthz").filter(|(s, _)| *s == 200));
        node
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("node running").id()
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn get_opt(&self, path: &str) -> Option<(u16, String)> {
        http(self.port, "GET", path, None).ok()
    }

    /// GET returning (status, JSON body).
    pub fn get(&self, path: &str) -> (u16, Value) {
        let (s, body) = http(self.port, "GET", path, None).unwrap_or_else(|e| panic!("GET {path}: {e}"));
        (s, serde_json::from_str(&body).unwrap_or(Value::String(body)))
    }

    pub fn status(&self) -> Value {
        self.get("/v1/ha/status").1
    }

    pub fn quorum(&self) -> Value {
        self.get("/v1/ha/quorum").1
    }

    pub fn is_leader(&self) -> bool {
        self.status()["is_leader"] == true
    }

    pub fn post(&self, path: &str, body: &Value) -> (u16, Value) {
        let text = body.to_string();
        let (s, body) =
            http(self.port, "POST", path, Some(&text)).unwrap_or_else(|e| panic!("POST {path}: {e}"));
        (s, serde_json::from_str(&body).unwrap_or(Value::String(body)))
    }

    pub fn write(&self, key: &str, value: &str) -> (u16, Value) {
        self.post("/v1/protected/writes", &serde_json::json!({"key": key, "value": value}))
    }

    /// Audit events of one type, as served by this node.
    pub fn events(&self, event_type: &str) -> Vec<Value> {
        let (s, v) = self.get(&format!("/v1/audit/events?event_type={event_type}"));
        assert_eq!(s, 200, "{v}");
        assert_eq!(v["count"].as_u64().unwrap() as usize, v["events"].as_array().unwrap().len());
        v["events"].as_array().unwrap().clone()
    }

    /// SIGTERM and wait (bounded) for the exit code.
    pub fn terminate(&mut self) -> Option<i32> {
        let mut c = self.child.take().expect("node running");
        signal(c.id(), Signal::SIGTERM);
        let s = wait_exit(&mut c, Duration::from_secs(10));
        if s.is_none() {
            let _ = c.kill();
            let _ = c.wait();
        }
        s.and_then(|s| s.code())
    }

    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("--- {} log ---\n{}", self.id, self.log());
        }
        self.kill();
    }
}

/// One HTTP/1.1 exchange (Connection: close), bounded by 5 s.
pub fn http(port: u16, method: &str, path: &str, body: Option<&str>) -> Result<(u16, String), String> {
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.set_write_timeout(Some(Duration::from_secs(5))).unwrap();
    let body = body.unwrap_or("");
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).map_err(|e| e.to_string())?;
    let mut resp = String::new();
    s.read_to_string(&mut resp).map_err(|e| e.to_string())?;
    let (head, body) = resp.split_once("\r\n\r\n").ok_or("no header end")?;
    let status = head.split_whitespace().nth(1).and_then(|c| c.parse().ok()).ok_or("no status")?;
    Ok((status, body.to_string()))
}

/// The lab tables' user data as one comparable string.
pub fn writes_digest(pg: &Pg) -> String {
    pg.scalar(
        "SELECT count(*) || ':' || coalesce(md5(string_agg(id || ':' || key || ':' || value, ',' ORDER BY id)), '')
         FROM lab_writes",
    )
}
