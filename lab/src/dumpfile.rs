//! The backup file format: a header line, then per table one JSON line describing it
//! (columns, primary key, row count) followed by its rows in COPY text format, ended by
//! `\.` (COPY text escapes every backslash, so no data line can be exactly `\.`).
//!
//! ```text
//! -- halab backup v2 created_at=2026-11-22T17:31:15.902Z
//! -- table {"name":"lab_writes","rows":2,"columns":[{"name":"id","type":"bigint","not_null":true,"serial":true,"default":null},...],"primary_key":["id"]}
//! 1<TAB>k1<TAB>v1<TAB>node1<TAB>2026-11-22 17:31:15.902+00<TAB>3
//! 2<TAB>k2<TAB>v2<TAB>node1<TAB>2026-11-22 17:31:16.002+00<TAB>3
//! \.
//! ```
use serde::{Deserialize, Serialize};

pub const MAGIC: &str = "-- halab backup v2";
const TABLE: &str = "-- table ";
const END: &[u8] = b"\\.";

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Column {
    pub name: String,
    /// `format_type` of the column, e.g. `timestamp with time zone`.
    #[serde(rename = "type")]
    pub ty: String,
    pub not_null: bool,
    /// Filled from a sequence (serial or identity): restored as an identity column whose
    /// sequence continues after the highest restored value.
    pub serial: bool,
    /// Any other default expression.
    pub default: Option<String>,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct TableMeta {
    pub name: String,
    pub rows: u64,
    pub columns: Vec<Column>,
    pub primary_key: Vec<String>,
}

#[derive(Debug, PartialEq)]
pub struct Table {
    pub meta: TableMeta,
    /// COPY text rows, each ending in `\n`.
    pub data: Vec<u8>,
}

pub fn encode(created_at: &str, tables: &[Table]) -> Vec<u8> {
    let mut out = format!("{MAGIC} created_at={created_at}\n").into_bytes();
    for t in tables {
        out.extend_from_slice(TABLE.as_bytes());
        out.extend_from_slice(serde_json::to_string(&t.meta).expect("plain data").as_bytes());
        out.push(b'\n');
        out.extend_from_slice(&t.data);
        out.extend_from_slice(END);
        out.push(b'\n');
    }
    out
}

pub fn decode(bytes: &[u8]) -> Result<Vec<Table>, String> {
    let mut lines = bytes.split_inclusive(|b| *b == b'\n');
    let header = lines.next().unwrap_or_default();
    if !header.starts_with(MAGIC.as_bytes()) {
        return Err("not a halab backup file (v2)".into());
    }
    let mut tables = vec![];
    while let Some(line) = lines.next() {
        let text = std::str::from_utf8(line).map_err(|_| "table line is not UTF-8".to_string())?;
        let Some(json) = text.trim_end_matches('\n').strip_prefix(TABLE) else {
            return Err(format!("unexpected line: {}", text.trim_end()));
        };
        let meta: TableMeta = serde_json::from_str(json).map_err(|e| format!("table line: {e}"))?;
        let mut data = vec![];
        let mut ended = false;
        for l in lines.by_ref() {
            if l.strip_suffix(b"\n").unwrap_or(l) == END {
                ended = true;
                break;
            }
            data.extend_from_slice(l);
        }
        if !ended {
            return Err(format!("table {}: truncated (no end marker)", meta.name));
        }
        let rows = data.iter().filter(|b| **b == b'\n').count() as u64;
        if rows != meta.rows {
            return Err(format!("table {}: header says {} rows, file holds {rows}", meta.name, meta.rows));
        }
        tables.push(Table { meta, data });
    }
    Ok(tables)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<Table> {
        let col = |n: &str, serial| Column {
            name: n.into(),
            ty: "bigint".into(),
            not_null: true,
            serial,
            default: None,
        };
        vec![
            Table {
                meta: TableMeta {
                    name: "a".into(),
                    rows: 2,
                    columns: vec![col("id", true), col("x", false)],
                    primary_key: vec!["id".into()],
                },
                data: b"1\t\\\\.\n2\t\\N\n".to_vec(),
            },
            Table {
                meta: TableMeta {
                    name: "b".into(),
                    rows: 0,
                    columns: vec![col("y", false)],
                    primary_key: vec![],
                },
                data: vec![],
            },
        ]
    }

    #[test]
    fn round_trip() {
        let bytes = encode("2026-01-01T00:00:00Z", &sample());
        assert_eq!(decode(&bytes).unwrap(), sample());
    }

    #[test]
    fn rejects_foreign_truncated_and_miscounted_files() {
        assert!(decode(b"hello\n").unwrap_err().contains("not a halab backup"));
        let bytes = encode("t", &sample());
        let cut = &bytes[..bytes.len() - 3];
        assert!(decode(cut).unwrap_err().contains("truncated"), "{:?}", decode(cut));
        let text = String::from_utf8(bytes).unwrap().replace("\"rows\":2", "\"rows\":3");
        assert!(decode(text.as_bytes()).unwrap_err().contains("header says 3 rows"));
    }
}
