//! `halab backup` / `halab restore` (VAL15): user tables dumped with COPY into one file
//! whose SHA-256 is printed, and restored in one transaction.
use crate::dumpfile::{self, Column, Table, TableMeta};
use crate::pg;
use futures::{SinkExt, StreamExt};
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

#[derive(clap::Args)]
pub struct BackupArgs {
    #[arg(long)]
    pg_url: String,
    /// Backup file to write.
    #[arg(long)]
    out: PathBuf,
    /// Tables to include (repeatable; default: lab_writes).
    #[arg(long = "table")]
    tables: Vec<String>,
    /// Bound on the whole backup.
    #[arg(long, default_value = "60s", value_parser = crate::duration)]
    timeout: Duration,
}

#[derive(clap::Args)]
pub struct RestoreArgs {
    #[arg(long)]
    pg_url: String,
    /// Backup file to restore.
    #[arg(long)]
    file: PathBuf,
    /// Refuse to restore (exit 1) unless the file's SHA-256 is this.
    #[arg(long)]
    verify_sha256: Option<String>,
    /// Bound on the whole restore.
    #[arg(long, default_value = "60s", value_parser = crate::duration)]
    timeout: Duration,
}

fn fail(msg: String) -> i32 {
    println!("{}", json!({ "error": msg }));
    eprintln!("halab: {msg}");
    1
}

/// `schema.table` or `table`, each part quoted.
fn ident(name: &str) -> String {
    name.split('.').map(|p| format!("\"{}\"", p.replace('"', "\"\""))).collect::<Vec<_>>().join(".")
}

async fn bounded_all<T>(
    limit: Duration,
    what: &str,
    f: impl std::future::Future<Output = Result<T, String>>,
) -> Result<T, String> {
    tokio::time::timeout(limit, f)
        .await
        .map_err(|_| format!("{what} timed out after {}ms", limit.as_millis()))?
}

pub async fn backup(a: BackupArgs) -> i32 {
    let t = Instant::now();
    let tables = if a.tables.is_empty() { vec!["lab_writes".to_string()] } else { a.tables.clone() };
    let r = bounded_all(a.timeout, "backup", async {
        let mut c = pg::connect(&a.pg_url, Duration::from_secs(5)).await?;
        // One snapshot for every table.
        let tx = c
            .build_transaction()
            .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()
            .await
            .map_err(|e| pg::describe(&e))?;
        let mut dumped = vec![];
        for name in &tables {
            dumped.push(dump_table(&tx, name).await?);
        }
        tx.commit().await.map_err(|e| pg::describe(&e))?;
        let bytes = dumpfile::encode(&crate::state::now_rfc3339(), &dumped);
        write_synced(&a.out, &bytes).map_err(|e| format!("cannot write {}: {e}", a.out.display()))?;
        Ok((bytes, dumped))
    })
    .await;
    match r {
        Ok((bytes, dumped)) => {
            let counts: Map<String, Value> =
                dumped.iter().map(|t| (t.meta.name.clone(), json!(t.meta.rows))).collect();
            println!(
                "{}",
                json!({"file": a.out, "bytes": bytes.len(), "sha256": hex::encode(Sha256::digest(&bytes)),
                       "tables": counts, "elapsed_ms": t.elapsed().as_millis() as u64})
            );
            0
        }
        Err(e) => fail(e),
    }
}

fn write_synced(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut f = std::fs::File::create(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}

async fn dump_table(c: &tokio_postgres::Transaction<'_>, name: &str) -> Result<Table, String> {
    let cols = "SELECT a.attname::text, format_type(a.atttypid, a.atttypmod), a.attnotnull,
                  a.attidentity <> '' OR pg_get_serial_sequence($1::text, a.attname::text) IS NOT NULL,
                  pg_get_expr(d.adbin, d.adrelid)
                FROM pg_attribute a LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
                WHERE a.attrelid = $1::text::regclass AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum";
    let rows = c.query(cols, &[&name]).await.map_err(|e| format!("table {name}: {}", pg::describe(&e)))?;
    let columns: Vec<Column> = rows
        .iter()
        .map(|r| {
            let serial: bool = r.get(3);
            Column {
                name: r.get(0),
                ty: r.get(1),
                not_null: r.get(2),
                serial,
                default: if serial { None } else { r.get(4) },
            }
        })
        .collect();
    let pk = "SELECT a.attname::text FROM pg_index i
                JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)
              WHERE i.indrelid = $1::text::regclass AND i.indisprimary ORDER BY array_position(i.indkey, a.attnum)";
    let primary_key =
        c.query(pk, &[&name]).await.map_err(|e| pg::describe(&e))?.iter().map(|r| r.get(0)).collect();
    let stream =
        c.copy_out(&format!("COPY {} TO STDOUT", ident(name))).await.map_err(|e| pg::describe(&e))?;
    futures::pin_mut!(stream);
    let mut data = vec![];
    while let Some(chunk) = stream.next().await {
        data.extend_from_slice(&chunk.map_err(|e| pg::describe(&e))?);
    }
    let rows = data.iter().filter(|b| **b == b'\n').count() as u64;
    Ok(Table { meta: TableMeta { name: name.to_string(), rows, columns, primary_key }, data })
}

pub async fn restore(a: RestoreArgs) -> i32 {
    let t = Instant::now();
    let bytes = match std::fs::read(&a.file) {
        Ok(b) => b,
        Err(e) => return fail(format!("cannot read {}: {e}", a.file.display())),
    };
    let sha = hex::encode(Sha256::digest(&bytes));
    if let Some(want) = &a.verify_sha256 {
        if !want.trim().eq_ignore_ascii_case(&sha) {
            return fail(format!("checksum mismatch: file has {sha}, expected {want}; refusing to restore"));
        }
    }
    let tables = match dumpfile::decode(&bytes) {
        Ok(t) => t,
        Err(e) => return fail(format!("{}: {e}", a.file.display())),
    };
    let r = bounded_all(a.timeout, "restore", async {
        let mut c = pg::connect(&a.pg_url, Duration::from_secs(5)).await?;
        let tx = c.transaction().await.map_err(|e| pg::describe(&e))?;
        let mut counts = Map::new();
        for table in &tables {
            let n = load_table(&tx, table).await.map_err(|e| format!("table {}: {e}", table.meta.name))?;
            counts.insert(table.meta.name.clone(), json!(n));
        }
        tx.commit().await.map_err(|e| pg::describe(&e))?;
        Ok(counts)
    })
    .await;
    match r {
        Ok(counts) => {
            println!(
                "{}",
                json!({"tables": counts, "elapsed_ms": t.elapsed().as_millis() as u64, "sha256": sha})
            );
            0
        }
        Err(e) => fail(e),
    }
}

fn create_sql(t: &TableMeta) -> String {
    let mut defs: Vec<String> = t
        .columns
        .iter()
        .map(|c| {
            let mut d = format!("{} {}", ident(&c.name), c.ty);
            if c.serial {
                d.push_str(" GENERATED BY DEFAULT AS IDENTITY");
            } else if let Some(x) = &c.default {
                d.push_str(&format!(" DEFAULT {x}"));
            }
            if c.not_null {
                d.push_str(" NOT NULL");
            }
            d
        })
        .collect();
    if !t.primary_key.is_empty() {
        let cols: Vec<String> = t.primary_key.iter().map(|c| ident(c)).collect();
        defs.push(format!("PRIMARY KEY ({})", cols.join(", ")));
    }
    let name = ident(&t.name);
    format!("DROP TABLE IF EXISTS {name}; CREATE TABLE {name} ({})", defs.join(", "))
}

/// Recreates one table, loads its rows and moves its sequences past the highest value.
async fn load_table(tx: &tokio_postgres::Transaction<'_>, t: &Table) -> Result<i64, String> {
    let d = |e: tokio_postgres::Error| pg::describe(&e);
    let name = ident(&t.meta.name);
    tx.batch_execute(&create_sql(&t.meta)).await.map_err(d)?;
    let sink = tx.copy_in(&format!("COPY {name} FROM STDIN")).await.map_err(d)?;
    futures::pin_mut!(sink);
    sink.send(bytes::Bytes::copy_from_slice(&t.data)).await.map_err(d)?;
    sink.finish().await.map_err(d)?;
    for c in t.meta.columns.iter().filter(|c| c.serial) {
        let sql = format!(
            "SELECT setval(pg_get_serial_sequence($1, $2), coalesce(max({col}), 0) + 1, false) FROM {name}",
            col = ident(&c.name)
        );
        tx.query_one(&sql, &[&t.meta.name, &c.name]).await.map_err(d)?;
    }
    let n: i64 = tx.query_one(&format!("SELECT count(*) FROM {name}"), &[]).await.map_err(d)?.get(0);
    if n as u64 != t.meta.rows {
        return Err(format!("loaded {n} rows, the backup holds {}", t.meta.rows));
    }
    Ok(n)
}
