//! `halab`: the reference HA control-plane server the shipped scenarios run against.
//! A test fixture, small and honest: leader lease in PostgreSQL, quorum monitor, write
//! gate, audit log, epoch-divergence (split-brain) detection, backup and restore, and a
//! read-only quorum status CLI.

mod audit;
mod backup;
mod dumpfile;
mod election;
mod http;
mod pg;
mod quorum;
mod serve;
mod shared;
mod state;
mod status_cli;

use clap::{Parser, Subcommand};
use std::time::Duration;

#[derive(Parser)]
#[command(
    name = "halab",
    version,
    about = "Reference HA server used by testrunner's scenarios (a test fixture)"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run one HA node.
    Serve(serve::Args),
    /// Dump user tables to a file and print its SHA-256.
    Backup(backup::BackupArgs),
    /// Restore a backup file (optionally verifying its SHA-256 first).
    Restore(backup::RestoreArgs),
    /// Print a node's /v1/ha/quorum as `key: value` lines (read-only; the seed's
    /// "ha quorum status" CLI).
    QuorumStatus(status_cli::Args),
}

/// Parses `500ms`, `2s`, `1.5s`, `1m` (and a bare number of milliseconds; `0` is zero).
pub fn duration(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit() && c != '.').unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: f64 = num.parse().map_err(|_| format!("`{s}` is not a duration (e.g. 500ms, 2s)"))?;
    let ms = match unit {
        "" | "ms" => n,
        "s" => n * 1e3,
        "m" => n * 60e3,
        _ => return Err(format!("`{s}`: use ms, s or m")),
    };
    Ok(Duration::from_micros((ms * 1e3).round() as u64))
}

fn main() {
    let cli = Cli::parse();
    let rt = match tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("halab: cannot start the runtime: {e}");
            std::process::exit(2);
        }
    };
    let code = rt.block_on(async {
        match cli.cmd {
            Cmd::Serve(a) => serve::run(a).await,
            Cmd::Backup(a) => backup::backup(a).await,
            Cmd::Restore(a) => backup::restore(a).await,
            Cmd::QuorumStatus(a) => status_cli::run(a).await,
        }
    });
    // Don't wait for background tasks (a hung connection) on the way out.
    rt.shutdown_timeout(Duration::from_millis(100));
    std::process::exit(code);
}

#[cfg(test)]
mod tests {
    use super::duration;
    use std::time::Duration;

    #[test]
    fn durations() {
        assert_eq!(duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(duration("2s").unwrap(), Duration::from_secs(2));
        assert_eq!(duration("1.5s").unwrap(), Duration::from_millis(1500));
        assert_eq!(duration("1m").unwrap(), Duration::from_secs(60));
        assert_eq!(duration("0").unwrap(), Duration::ZERO);
        assert!(duration("2h").is_err());
        assert!(duration("fast").is_err());
    }
}
