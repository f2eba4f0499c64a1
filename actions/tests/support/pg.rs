//! Real PostgreSQL 15 servers for tests: a primary, and streaming standbys made with
//! `pg_basebackup -R`. Each server runs as the `postgres` user (the server refuses root) in
//! its own temp dir, on 127.0.0.1 and a free port, in its own process group so `kill9()`
//! takes the postmaster and every backend down at once, like a crashed host. Everything
//! is torn down on drop. Include it with `#[path = "support/pg.rs"] mod pg;`.
#![allow(dead_code)]

use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub const PG_BIN: &str = "/usr/lib/postgresql/15/bin";
const PG_UID: u32 = 101;
const PG_GID: u32 = 104;

/// How to start a server. `Default` is a fast throwaway primary (`fsync=off`).
#[derive(Clone, Debug)]
pub struct PgOpts {
    /// `fsync` (off by default: tests that do not crash the host do not need it).
    pub fsync: bool,
    /// `synchronous_commit` (on, remote_apply, remote_write, local, off).
    pub synchronous_commit: String,
    /// When set, TCP connections need this password for user `postgres` (scram-sha-256).
    pub password: Option<String>,
    /// More `-c name=value` settings.
    pub settings: Vec<(String, String)>,
}

impl Default for PgOpts {
    fn default() -> Self {
        PgOpts { fsync: false, synchronous_commit: "on".into(), password: None, settings: vec![] }
    }
}

pub struct PgServer {
    pub port: u16,
    pub name: String,
    /// Root temp dir (data/, sock/, log).
    pub dir: tempfile::TempDir,
    pub data: PathBuf,
    pub sock: PathBuf,
    pub log: PathBuf,
    pub opts: PgOpts,
    child: Option<Child>,
}

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind :0");
    l.local_addr().unwrap().port()
}

fn as_postgres(cmd: &mut Command) -> &mut Command {
    cmd.uid(PG_UID).gid(PG_GID).env("LC_ALL", "C").env_remove("PGPASSWORD")
}

fn run_ok(cmd: &mut Command, what: &str) -> Output {
    let out = cmd.output().unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(
        out.status.success(),
        "{what} failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn chown_pg(p: &Path) {
    std::os::unix::fs::chown(p, Some(PG_UID), Some(PG_GID)).expect("chown");
}

/// A temp dir that the postgres user can use: owned by it, parents traversable (/tmp is).
fn pg_tempdir(name: &str) -> (tempfile::TempDir, PathBuf, PathBuf) {
    let dir = tempfile::Builder::new().prefix(&format!("tr-pg-{name}-")).tempdir().expect("tempdir");
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    chown_pg(dir.path());
    let (data, sock) = (dir.path().join("data"), dir.path().join("sock"));
    for d in [&data, &sock] {
        std::fs::create_dir(d).unwrap();
        std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o700)).unwrap();
        chown_pg(d);
    }
    std::fs::set_permissions(&sock, std::fs::Permissions::from_mode(0o755)).unwrap();
    (dir, data, sock)
}

impl PgServer {
    /// initdb + start a primary; returns once it accepts queries (bounded: 30 s).
    pub fn start(opts: PgOpts) -> PgServer {
        let (dir, data, sock) = pg_tempdir("primary");
        let mut initdb = Command::new(format!("{PG_BIN}/initdb"));
        initdb.args(["-D"]).arg(&data).args(["-U", "postgres", "--no-sync", "--auth-local=trust"]);
        initdb.arg(if opts.password.is_some() { "--auth-host=scram-sha-256" } else { "--auth-host=trust" });
        run_ok(as_postgres(&mut initdb), "initdb");
        let mut s = PgServer::spawn("primary", dir, data, sock, opts, &[]);
        if let Some(pw) = s.opts.password.clone() {
            // Over the (trusted) unix socket; the password never reaches a command line.
            s.psql_stdin(&format!("ALTER USER postgres PASSWORD '{}';", pw.replace('\'', "''")));
        }
        s.name = "primary".into();
        s
    }

    /// A streaming standby of `primary` (pg_basebackup -R). With `sync`, the primary lists it
    /// in `synchronous_standby_names` and waits until it reports `sync_state = 'sync'`.
    pub fn standby_of(primary: &PgServer, sync: bool) -> PgServer {
        let app = format!("standby_{}", free_port());
        let (dir, data, sock) = pg_tempdir("standby");
        let mut bb = Command::new(format!("{PG_BIN}/pg_basebackup"));
        bb.arg("-D").arg(&data).args(["-h", "127.0.0.1", "-p", &primary.port.to_string()]);
        bb.args(["-U", "postgres", "-R", "-X", "stream", "-c", "fast", "--no-sync"]);
        as_postgres(&mut bb);
        if let Some(pw) = &primary.opts.password {
            bb.env("PGPASSWORD", pw);
        }
        run_ok(&mut bb, "pg_basebackup");
        // In postgresql.auto.conf (the last line wins), not on the command line, so that
        // `cut_replication` can clear it with ALTER SYSTEM.
        let conninfo = format!("host=127.0.0.1 port={} user=postgres application_name={app}", primary.port);
        let auto = data.join("postgresql.auto.conf");
        let mut text = std::fs::read_to_string(&auto).unwrap_or_default();
        text.push_str(&format!("primary_conninfo = '{conninfo}'\n"));
        std::fs::write(&auto, text).unwrap();
        let mut opts = primary.opts.clone();
        opts.password = None;
        let s = PgServer::spawn("standby", dir, data, sock, opts, &[]);
        if sync {
            primary.psql(&format!("ALTER SYSTEM SET synchronous_standby_names = '\"{app}\"'"));
            primary.psql("SELECT pg_reload_conf()");
        }
        let want = if sync { "sync" } else { "async" };
        let q = format!(
            "SELECT count(*) FROM pg_stat_replication WHERE application_name = '{app}' \
             AND state = 'streaming' AND sync_state = '{want}'"
        );
        wait_for(Duration::from_secs(30), || primary.psql(&q) == "1", &format!("standby {app} {want}"));
        s
    }

    fn spawn(
        name: &str,
        dir: tempfile::TempDir,
        data: PathBuf,
        sock: PathBuf,
        opts: PgOpts,
        extra: &[(String, String)],
    ) -> PgServer {
        let port = free_port();
        let log = dir.path().join("postgres.log");
        let logf = std::fs::File::create(&log).unwrap();
        chown_pg(&log);
        let mut cmd = Command::new(format!("{PG_BIN}/postgres"));
        cmd.arg("-D").arg(&data).args(["-p", &port.to_string()]).arg("-k").arg(&sock);
        let mut settings = vec![
            ("listen_addresses".to_string(), "127.0.0.1".to_string()),
            ("fsync".into(), if opts.fsync { "on" } else { "off" }.into()),
            ("synchronous_commit".into(), opts.synchronous_commit.clone()),
            ("max_connections".into(), "60".into()),
            ("shared_buffers".into(), "32MB".into()),
            ("wal_keep_size".into(), "256MB".into()),
        ];
        settings.extend(opts.settings.iter().cloned());
        settings.extend(extra.iter().cloned());
        for (k, v) in &settings {
            cmd.arg("-c").arg(format!("{k}={v}"));
        }
        as_postgres(&mut cmd)
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(logf.try_clone().unwrap())
            .stderr(logf);
        let child = cmd.spawn().expect("spawn postgres");
        let s = PgServer { port, name: name.into(), dir, data, sock, log, opts, child: Some(child) };
        let ready = wait_until(Duration::from_secs(30), || s.try_psql("SELECT 1").is_some_and(|o| o == "1"));
        assert!(ready, "postgres {name} did not accept queries within 30 s; log:\n{}", s.log_text());
        s
    }

    /// `postgres://postgres@127.0.0.1:<port>/postgres` (with the password when there is one).
    pub fn url(&self) -> String {
        match &self.opts.password {
            Some(pw) => format!("postgres://postgres:{pw}@127.0.0.1:{}/postgres", self.port),
            None => format!("postgres://postgres@127.0.0.1:{}/postgres", self.port),
        }
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(|c| c.id())
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn psql_cmd(&self) -> Command {
        let mut c = Command::new(format!("{PG_BIN}/psql"));
        c.args(["-X", "-A", "-t", "-q", "-v", "ON_ERROR_STOP=1", "-h"]).arg(&self.sock);
        c.args(["-p", &self.port.to_string(), "-U", "postgres", "-d", "postgres"]);
        c.env("PGCONNECT_TIMEOUT", "3").env_remove("PGPASSWORD");
        c
    }

    /// Runs SQL over the unix socket; `None` when it fails (e.g. not up yet).
    pub fn try_psql(&self, sql: &str) -> Option<String> {
        let out = self.psql_cmd().arg("-c").arg(sql).stdin(Stdio::null()).output().ok()?;
        out.status.success().then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
    }

    /// Runs SQL over the unix socket; panics (with the server log) when it fails.
    pub fn psql(&self, sql: &str) -> String {
        let out = run_ok(self.psql_cmd().arg("-c").arg(sql).stdin(Stdio::null()), &format!("psql `{sql}`"));
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    fn psql_stdin(&self, sql: &str) {
        use std::io::Write;
        let mut child = self.psql_cmd().stdin(Stdio::piped()).stdout(Stdio::null()).spawn().unwrap();
        child.stdin.take().unwrap().write_all(sql.as_bytes()).unwrap();
        assert!(child.wait().unwrap().success(), "psql (stdin) failed");
    }

    /// SIGKILL to the postmaster's whole process group: the server and every backend die
    /// at once, without a shutdown checkpoint or a goodbye to the standby.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = nix::sys::signal::killpg(
                nix::unistd::Pid::from_raw(c.id() as i32),
                nix::sys::signal::Signal::SIGKILL,
            );
            let _ = c.wait();
        }
    }

    /// Disconnects a standby from its primary (empty `primary_conninfo`, reloaded) and waits
    /// until its WAL receiver is gone: from now on nothing the primary commits reaches it.
    /// An asynchronous primary keeps acknowledging; a synchronous one makes commits wait.
    pub fn cut_replication(&self) {
        self.psql("ALTER SYSTEM SET primary_conninfo = ''");
        self.psql("SELECT pg_reload_conf()");
        wait_for(
            Duration::from_secs(10),
            || self.psql("SELECT count(*) FROM pg_stat_wal_receiver") == "0",
            "WAL receiver stopped",
        );
    }

    /// Stops WAL replay on a standby (WAL keeps arriving, nothing is applied): rows the
    /// primary acknowledges from now on are guaranteed missing from this server's tables.
    pub fn pause_replay(&self) {
        self.psql("SELECT pg_wal_replay_pause()");
        wait_for(
            Duration::from_secs(10),
            || self.psql("SELECT pg_get_wal_replay_pause_state()") == "paused",
            "replay paused",
        );
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        if let Some(c) = &self.child {
            let pid = c.id();
            // Fast and bounded: immediate shutdown, then SIGKILL to the group whatever happened.
            let mut stop = Command::new(format!("{PG_BIN}/pg_ctl"));
            stop.arg("-D").arg(&self.data).args(["-m", "immediate", "-t", "5", "stop"]);
            let _ = as_postgres(&mut stop).stdout(Stdio::null()).stderr(Stdio::null()).status();
            let _ = nix::sys::signal::killpg(
                nix::unistd::Pid::from_raw(pid as i32),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
        if let Some(mut c) = self.child.take() {
            let _ = c.wait();
        }
    }
}

/// Polls `cond` every 50 ms until it holds or `limit` passes.
pub fn wait_until(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + limit;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= end {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

pub fn wait_for(limit: Duration, cond: impl FnMut() -> bool, what: &str) {
    assert!(wait_until(limit, cond), "timed out after {limit:?} waiting for {what}");
}
