//! `halab backup` / `halab restore` (VAL15): user tables dumped with COPY into one file
//! whose SHA-256 is printed, and restored in one transaction.
use crate::pg;
use futures::{SinkExt, StreamExt};
use serde_json::json;
use sha2::{Digest, Sha256};
use std::time::{Duration, Instant};

#[derive(clap::Args)]
pub struct BackupArgs {
    #[arg(long)]
    pg_url: String,
    /// Backup file to write.
    #[arg(long)]
    out: std::path::PathBuf,
    /// Tables to include (default: lab_writes).
    #[arg(long = "table")]
    tables: Vec<String>,
}

#[derive(clap::Args)]
pub struct RestoreArgs {
    #[arg(long)]
    pg_url: String,
    /// Backup file to restore.
    #[arg(long)]
    file: std::path::PathBuf,
    /// Refuse to restore unless the file's SHA-256 is this.
    #[arg(long)]
    verify_sha256: Option<String>,
}

const TIMEOUT: Duration = Duration::from_secs(60);

fn fail(msg: String) -> i32 {
    println!("{}", json!({"error": msg}));
    eprintln!("halab: {msg}");
    1
}

pub async fn backup(a: BackupArgs) -> i32 {
    let t = Instant::now();
    let tables = if a.tables.is_empty() { vec!["lab_writes".to_string()] } else { a.tables };
    let c = match pg::connect(&a.pg_url, Duration::from_secs(5)).await {
        Ok(c) => c,
        Err(e) => return fail(e),
    };
    let mut out = String::from("-- halab backup v1\n");
    let mut counts = serde_json::Map::new();
    for table in &tables {
        let cols = match pg::bounded(
            TIMEOUT,
            c.query(
                "SELECT a.attname, format_type(a.atttypid, a.atttypmod) FROM pg_attribute a WHERE a.attrelid = $1::text::regclass AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
                &[table],
            ),
        )
        .await
        {
            Ok(rows) if !rows.is_empty() => rows,
            Ok(_) => return fail(format!("table {table} not found")),
            Err(e) => return fail(e),
        };
        let mut data = Vec::new();
        let ident = format!("\"{}\"", table.replace('"', "\"\""));
        let stream = match pg::bounded(TIMEOUT, c.copy_out(&format!("COPY {ident} TO STDOUT"))).await {
            Ok(s) => s,
            Err(e) => return fail(e),
        };
        futures::pin_mut!(stream);
        while let Some(chunk) = stream.next().await {
            match chunk {
                Ok(b) => data.extend_from_slice(&b),
                Err(e) => return fail(pg::describe(&e)),
            }
        }
        let rows = data.iter().filter(|b| **b == b'\n').count();
        out.push_str(&format!("-- table {table} rows={rows}\n"));
        for col in &cols {
            out.push_str(&format!("-- column {} {}\n", col.get::<_, String>(0), col.get::<_, String>(1)));
        }
        out.push_str("-- data\n");
        out.push_str(&String::from_utf8_lossy(&data));
        out.push_str("\\.\n");
        counts.insert(table.clone(), json!(rows));
    }
    if let Err(e) = std::fs::write(&a.out, out.as_bytes()) {
        return fail(format!("cannot write {}: {e}", a.out.display()));
    }
    let sha = hex::encode(Sha256::digest(out.as_bytes()));
    println!(
        "{}",
        json!({"file": a.out, "bytes": out.len(), "sha256": sha, "tables": counts, "elapsed_ms": t.elapsed().as_millis() as u64})
    );
    0
}

struct Table {
    name: String,
    columns: Vec<(String, String)>,
    data: String,
}

fn parse(text: &str) -> Result<Vec<Table>, String> {
    let mut lines = text.lines();
    if lines.next() != Some("-- halab backup v1") {
        return Err("not a halab backup file".into());
    }
    let mut tables = vec![];
    while let Some(l) = lines.next() {
        let Some(rest) = l.strip_prefix("-- table ") else { return Err(format!("unexpected line: {l}")) };
        let name = rest.split_whitespace().next().unwrap_or_default().to_string();
        let mut t = Table { name, columns: vec![], data: String::new() };
        for l in lines.by_ref() {
            if let Some(c) = l.strip_prefix("-- column ") {
                let (n, ty) = c.split_once(' ').ok_or("bad column line")?;
                t.columns.push((n.to_string(), ty.to_string()));
            } else if l == "-- data" {
                break;
            }
        }
        for l in lines.by_ref() {
            if l == "\\." {
                break;
            }
            t.data.push_str(l);
            t.data.push('\n');
        }
        tables.push(t);
    }
    Ok(tables)
}

pub async fn restore(a: RestoreArgs) -> i32 {
    let t = Instant::now();
    let bytes = match std::fs::read(&a.file) {
        Ok(b) => b,
        Err(e) => return fail(format!("cannot read {}: {e}", a.file.display())),
    };
    let sha = hex::encode(Sha256::digest(&bytes));
    if let Some(want) = &a.verify_sha256 {
        if !want.eq_ignore_ascii_case(&sha) {
            return fail(format!("checksum mismatch: file has {sha}, expected {want}; refusing to restore"));
        }
    }
    let tables = match parse(&String::from_utf8_lossy(&bytes)) {
        Ok(t) => t,
        Err(e) => return fail(e),
    };
    let mut c = match pg::connect(&a.pg_url, Duration::from_secs(5)).await {
        Ok(c) => c,
        Err(e) => return fail(e),
    };
    let r: Result<serde_json::Map<String, serde_json::Value>, String> = async {
        let tx = pg::bounded(TIMEOUT, c.transaction()).await?;
        let mut counts = serde_json::Map::new();
        for table in &tables {
            let ident = format!("\"{}\"", table.name.replace('"', "\"\""));
            let cols: Vec<String> =
                table.columns.iter().map(|(n, ty)| format!("\"{}\" {ty}", n.replace('"', "\"\""))).collect();
            pg::bounded(
                TIMEOUT,
                tx.batch_execute(&format!(
                    "DROP TABLE IF EXISTS {ident}; CREATE TABLE {ident} ({})",
                    cols.join(", ")
                )),
            )
            .await?;
            let sink = pg::bounded(TIMEOUT, tx.copy_in(&format!("COPY {ident} FROM STDIN"))).await?;
            futures::pin_mut!(sink);
            sink.send(bytes::Bytes::from(table.data.clone())).await.map_err(|e| pg::describe(&e))?;
            sink.finish().await.map_err(|e| pg::describe(&e))?;
            let n: i64 = pg::bounded(TIMEOUT, tx.query_one(&format!("SELECT count(*) FROM {ident}"), &[]))
                .await?
                .get(0);
            counts.insert(table.name.clone(), json!(n));
        }
        pg::bounded(TIMEOUT, tx.commit()).await?;
        Ok(counts)
    }
    .await;
    match r {
        Ok(counts) => {
            println!(
                "{}",
                json!({"tables": counts, "sha256": sha, "elapsed_ms": t.elapsed().as_millis() as u64})
            );
            0
        }
        Err(e) => fail(e),
    }
}
