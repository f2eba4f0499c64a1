//! `halab`: the reference HA control-plane server the shipped scenarios run against.
//! A test fixture, small and honest: leader lease in PostgreSQL, quorum monitor, write
//! gate, audit log, epoch-divergence (split-brain) detection, backup and restore.

mod audit;
mod backup;
mod pg;
mod serve;

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
}

/// Parses `500ms`, `2s`, `1m` (and a bare number of milliseconds).
pub fn duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit() && c != '.').unwrap_or(s.len()));
    let n: f64 = num.parse().map_err(|_| format!("`{s}` is not a duration"))?;
    let ms = match unit {
        "" | "ms" => n,
        "s" => n * 1e3,
        "m" => n * 60e3,
        _ => return Err(format!("`{s}`: use ms, s or m")),
    };
    Ok(Duration::from_micros((ms * 1e3) as u64))
}

fn main() {
    let cli = Cli::parse();
    let rt =
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    let code = rt.block_on(async {
        match cli.cmd {
            Cmd::Serve(a) => serve::run(a).await,
            Cmd::Backup(a) => backup::backup(a).await,
            Cmd::Restore(a) => backup::restore(a).await,
        }
    });
    std::process::exit(code);
}
