//! `probe` of every SQL action (what `testrunner plan` calls): a server that does not answer
//! is one WARNING per step, bounded; a real server (primary or standby) is no warning; and
//! the probe is strictly read-only — the server's own statement log shows nothing but
//! `SELECT 1`, no table appears, and a standby stays a standby.
#[path = "support/pg.rs"]
mod pg;

use pg::{PgOpts, PgServer};
use serde_json::{json, Value};
use std::time::{Duration, Instant};
use testrunner_actions::{find, ActionCtx, Precondition};

const ACTIONS: &[&str] =
    &["sql.exec", "sql.query", "sql.writers", "sql.verify_no_loss", "sql.promote", "sql.sample"];

/// Realistic step parameters: each would write, create, truncate or promote if it were *run*.
fn params(action: &str, url: &str) -> Value {
    match action {
        "sql.exec" => {
            json!({"url": url, "sql": "CREATE TABLE probe_exec (x int); INSERT INTO probe_exec VALUES (1)"})
        }
        "sql.query" => json!({"url": url, "sql": "INSERT INTO probe_exec VALUES (2) RETURNING x"}),
        "sql.writers" => {
            json!({"url": url, "table": "probe_writes", "workers": 2, "truncate": true, "rows": 100})
        }
        "sql.verify_no_loss" => json!({"url": url, "table": "probe_writes", "writers": "w"}),
        "sql.promote" => json!({"url": url, "wait": true, "timeout": "5s"}),
        "sql.sample" => json!({"url": url, "sql": "SELECT txid_current()", "every": "10ms"}),
        other => panic!("no params for {other}"),
    }
}

/// A per-action application name, so the server log tells which probe sent what.
fn app(action: &str) -> String {
    format!("probe_{}", action.trim_start_matches("sql."))
}

fn ctx(timeout: Duration) -> (tempfile::TempDir, ActionCtx) {
    let dir = tempfile::tempdir().unwrap();
    let c = ActionCtx::standalone(dir.path().into(), "plan", timeout);
    (dir, c)
}

/// Probes every SQL action at once, each with its own URL; (action, findings, elapsed).
async fn probe_all(
    url: impl Fn(&str) -> String,
    c: &ActionCtx,
) -> Vec<(&'static str, Vec<Precondition>, Duration)> {
    let runs = ACTIONS.iter().map(|a| {
        let p = params(a, &url(a));
        async move {
            let action = find(a).unwrap_or_else(|| panic!("{a} registered"));
            let t = Instant::now();
            // Bounded here too, so a probe that hangs fails the test instead of hanging it.
            let found = tokio::time::timeout(Duration::from_secs(10), action.probe(p, c))
                .await
                .unwrap_or_else(|_| panic!("{a}: probe did not return within 10s"));
            (*a, found, t.elapsed())
        }
    });
    futures::future::join_all(runs).await
}

/// Every statement the server logged for connections named `app` (log_statement = all).
fn statements(pg: &PgServer, app: &str) -> Vec<String> {
    let prefix = format!("{app}|");
    pg.log_text()
        .lines()
        .filter(|l| l.starts_with(&prefix))
        .filter_map(|l| l.split_once("statement: ").map(|(_, s)| s.trim().to_string()))
        .collect()
}

fn logging_opts() -> PgOpts {
    PgOpts {
        settings: vec![
            ("log_statement".into(), "all".into()),
            ("log_line_prefix".into(), "%a|".into()),
            ("log_connections".into(), "on".into()),
        ],
        ..Default::default()
    }
}

fn url_for(pg: &PgServer, action: &str) -> String {
    format!("{}?application_name={}", pg.url(), app(action))
}

/// The probes answered clean, and the log shows each one connected and sent exactly
/// `SELECT 1` — nothing of the step's own SQL, no DDL, no pg_promote.
fn assert_answered_read_only(pg: &PgServer, found: &[(&str, Vec<Precondition>, Duration)]) {
    for (a, f, _) in found {
        assert!(f.is_empty(), "{a} on {}: {f:?}", pg.name);
    }
    for a in ACTIONS {
        // Server log lines are written as they happen, but give the writer a moment.
        let ok = pg::wait_until(Duration::from_secs(5), || !statements(pg, &app(a)).is_empty());
        let logged = statements(pg, &app(a));
        assert!(ok, "{a}: no statement logged for {} on {}; log:\n{}", app(a), pg.name, pg.log_text());
        assert_eq!(logged, vec!["SELECT 1".to_string()], "{a} on {}", pg.name);
    }
    // Nothing was created in the database.
    let tables = pg.psql("SELECT count(*) FROM pg_class WHERE relnamespace = 'public'::regnamespace");
    assert_eq!(tables, "0", "{} has relations after probing", pg.name);
}

#[tokio::test]
async fn a_closed_port_is_one_warning_per_action_at_once() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let (_d, c) = ctx(Duration::from_secs(20));
    let found = probe_all(|_| format!("postgres://postgres:hunter2@127.0.0.1:{port}/postgres"), &c).await;
    for (a, f, took) in &found {
        assert_eq!(f.len(), 1, "{a}: {f:?}");
        let p = &f[0];
        assert!(!p.blocker, "{a}: a server an earlier step may start is a warning, not a blocker");
        assert!(p.message.starts_with("PostgreSQL does not answer now"), "{a}: {}", p.message);
        assert!(p.message.contains(&format!("127.0.0.1:{port}")), "{a}: {}", p.message);
        assert!(!p.message.contains("hunter2"), "{a}: password in {}", p.message);
        assert!(*took < Duration::from_secs(2), "{a}: a refused connection took {took:?}");
    }
}

#[tokio::test]
async fn a_server_that_never_answers_is_a_warning_within_the_bound() {
    // Accepts TCP (the kernel's backlog) but never speaks: connect alone would wait forever.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let (_d, c) = ctx(Duration::from_secs(60));
    let found = probe_all(|_| format!("postgres://postgres@127.0.0.1:{port}/postgres"), &c).await;
    for (a, f, took) in &found {
        assert_eq!(f.len(), 1, "{a}: {f:?}");
        assert!(!f[0].blocker && f[0].message.starts_with("PostgreSQL does not answer now"), "{a}: {f:?}");
        assert!(*took >= Duration::from_secs(2) && *took < Duration::from_secs(5), "{a}: took {took:?}");
    }
    drop(silent);
}

#[tokio::test]
async fn a_url_known_only_at_run_time_is_not_probed() {
    let (_d, c) = ctx(Duration::from_secs(5));
    let found = probe_all(|_| "${pg.url}".to_string(), &c).await;
    for (a, f, _) in &found {
        assert!(f.is_empty(), "{a}: {f:?}");
    }
}

#[tokio::test]
async fn a_real_primary_and_standby_answer_and_the_probes_change_nothing() {
    let primary = PgServer::start(logging_opts());
    let standby = PgServer::standby_of(&primary, false);
    assert_eq!(standby.psql("SELECT pg_is_in_recovery()"), "t");

    let (_d, c) = ctx(Duration::from_secs(30));
    let on_primary = probe_all(|a| url_for(&primary, a), &c).await;
    assert_answered_read_only(&primary, &on_primary);

    let on_standby = probe_all(|a| url_for(&standby, a), &c).await;
    assert_answered_read_only(&standby, &on_standby);
    // sql.promote's probe did not promote: a promotion (even one not waited for) would be
    // logged and would end recovery within moments.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(standby.psql("SELECT pg_is_in_recovery()"), "t", "the standby was promoted by a probe");
    assert!(!standby.log_text().contains("received promote request"), "{}", standby.log_text());
    // sql.writers' probe created no table on the primary (default or named), so none replicated.
    assert_eq!(
        primary.psql("SELECT to_regclass('tr_writes') IS NULL AND to_regclass('probe_writes') IS NULL"),
        "t"
    );
}

#[tokio::test]
async fn the_probe_bound_is_its_own_not_the_callers_spent_deadline() {
    // `plan` probes every step with one context; by a late step its deadline may be past.
    let pg = PgServer::start(PgOpts::default());
    let (_d, c) = ctx(Duration::ZERO);
    tokio::time::sleep(Duration::from_millis(10)).await;
    let found = probe_all(|_| pg.url(), &c).await;
    for (a, f, _) in &found {
        assert!(f.is_empty(), "{a}: a live server reported as not answering: {f:?}");
    }
}
