//! PostgreSQL values as JSON, decoded from the binary wire format.
//!
//! ints → numbers, floats → numbers (NaN/±Infinity as strings), numeric → exact decimal
//! string, bool, text-like → string, json/jsonb → JSON, timestamptz → RFC 3339 (UTC, `Z`),
//! timestamp → ISO 8601 without offset, date, time, uuid → string, bytea → hex, pg_lsn →
//! `X/Y`, enums → label, arrays of any of these → (nested) lists, NULL → null.
//! Anything else (interval, inet, money, geometric, ranges...) is not decoded here:
//! [`binary_supported`] says so before the query runs, and the caller reads it as text.
use serde_json::{json, Value};
use std::error::Error;
use tokio_postgres::types::{FromSql, Kind, Type};

/// Any column, raw: the bytes (or NULL) and nothing else.
pub struct Raw<'a>(pub Option<&'a [u8]>);

impl<'a> FromSql<'a> for Raw<'a> {
    fn from_sql(_: &Type, raw: &'a [u8]) -> Result<Self, Box<dyn Error + Sync + Send>> {
        Ok(Raw(Some(raw)))
    }
    fn from_sql_null(_: &Type) -> Result<Self, Box<dyn Error + Sync + Send>> {
        Ok(Raw(None))
    }
    fn accepts(_: &Type) -> bool {
        true
    }
}

/// Whether [`to_json`] maps this type (otherwise read the column as `::text`).
pub fn binary_supported(ty: &Type) -> bool {
    match ty.kind() {
        Kind::Enum(_) => true,
        Kind::Array(elem) => binary_supported(elem),
        _ => matches!(
            *ty,
            Type::BOOL
                | Type::INT2
                | Type::INT4
                | Type::INT8
                | Type::OID
                | Type::FLOAT4
                | Type::FLOAT8
                | Type::NUMERIC
                | Type::TEXT
                | Type::VARCHAR
                | Type::NAME
                | Type::BPCHAR
                | Type::CHAR
                | Type::UNKNOWN
                | Type::JSON
                | Type::JSONB
                | Type::BYTEA
                | Type::TIMESTAMPTZ
                | Type::TIMESTAMP
                | Type::DATE
                | Type::TIME
                | Type::UUID
                | Type::PG_LSN
        ),
    }
}

type R<T> = Result<T, String>;

fn take<const N: usize>(b: &[u8], at: usize) -> R<[u8; N]> {
    b.get(at..at + N).and_then(|s| s.try_into().ok()).ok_or_else(|| "short value".to_string())
}
fn i16_at(b: &[u8], at: usize) -> R<i16> {
    take::<2>(b, at).map(i16::from_be_bytes)
}
fn i32_at(b: &[u8], at: usize) -> R<i32> {
    take::<4>(b, at).map(i32::from_be_bytes)
}
fn i64_at(b: &[u8], at: usize) -> R<i64> {
    take::<8>(b, at).map(i64::from_be_bytes)
}

fn float(f: f64) -> Value {
    if f.is_finite() {
        json!(f)
    } else if f.is_nan() {
        json!("NaN")
    } else if f > 0.0 {
        json!("Infinity")
    } else {
        json!("-Infinity")
    }
}

/// Microseconds between 1970-01-01 and PostgreSQL's epoch, 2000-01-01.
const PG_EPOCH_US: i64 = 946_684_800_000_000;

/// Decodes one non-NULL value of a supported type.
pub fn to_json(ty: &Type, b: &[u8]) -> R<Value> {
    if let Kind::Array(elem) = ty.kind() {
        return array(elem, b);
    }
    if let Kind::Enum(_) = ty.kind() {
        return text(b);
    }
    Ok(match *ty {
        Type::BOOL => json!(take::<1>(b, 0)?[0] != 0),
        Type::INT2 => json!(i16_at(b, 0)?),
        Type::INT4 => json!(i32_at(b, 0)?),
        Type::INT8 => json!(i64_at(b, 0)?),
        Type::OID => json!(u32::from_be_bytes(take::<4>(b, 0)?)),
        Type::FLOAT4 => float(f32::from_be_bytes(take::<4>(b, 0)?) as f64),
        Type::FLOAT8 => float(f64::from_be_bytes(take::<8>(b, 0)?)),
        Type::NUMERIC => json!(numeric(b)?),
        Type::JSON => serde_json::from_slice(b).map_err(|e| e.to_string())?,
        Type::JSONB => serde_json::from_slice(b.get(1..).unwrap_or_default()).map_err(|e| e.to_string())?,
        Type::BYTEA => json!(hex::encode(b)),
        Type::TIMESTAMPTZ => timestamp(i64_at(b, 0)?, true),
        Type::TIMESTAMP => timestamp(i64_at(b, 0)?, false),
        Type::DATE => date(i32_at(b, 0)?),
        Type::TIME => {
            let us = i64_at(b, 0)?;
            let t = chrono::NaiveTime::from_num_seconds_from_midnight_opt(
                (us / 1_000_000) as u32,
                (us % 1_000_000) as u32 * 1000,
            )
            .ok_or("time out of range")?;
            json!(t.format("%H:%M:%S%.f").to_string())
        }
        Type::UUID => {
            let h = hex::encode(take::<16>(b, 0)?);
            json!(format!("{}-{}-{}-{}-{}", &h[..8], &h[8..12], &h[12..16], &h[16..20], &h[20..]))
        }
        Type::PG_LSN => {
            let v = i64_at(b, 0)? as u64;
            json!(format!("{:X}/{:X}", v >> 32, v & 0xFFFF_FFFF))
        }
        _ => text(b)?,
    })
}

fn text(b: &[u8]) -> R<Value> {
    std::str::from_utf8(b).map(|s| json!(s)).map_err(|e| e.to_string())
}

fn timestamp(us: i64, tz: bool) -> Value {
    match us {
        i64::MAX => return json!("infinity"),
        i64::MIN => return json!("-infinity"),
        _ => {}
    }
    match chrono::DateTime::from_timestamp_micros(us.saturating_add(PG_EPOCH_US)) {
        Some(t) if tz => json!(t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)),
        Some(t) => json!(t.naive_utc().format("%Y-%m-%dT%H:%M:%S%.f").to_string()),
        None => Value::Null,
    }
}

fn date(days: i32) -> Value {
    match days {
        i32::MAX => json!("infinity"),
        i32::MIN => json!("-infinity"),
        d => chrono::NaiveDate::from_ymd_opt(2000, 1, 1)
            .and_then(|e| e.checked_add_signed(chrono::TimeDelta::days(d as i64)))
            .map(|x| json!(x.format("%Y-%m-%d").to_string()))
            .unwrap_or(Value::Null),
    }
}

/// The binary numeric (base-10000 digits, weight, sign, display scale) as exact decimal text.
pub fn numeric(b: &[u8]) -> R<String> {
    let (ndigits, weight, sign, dscale) = (i16_at(b, 0)?, i16_at(b, 2)?, i16_at(b, 4)? as u16, i16_at(b, 6)?);
    match sign {
        0xC000 => return Ok("NaN".into()),
        0xD000 => return Ok("Infinity".into()),
        0xF000 => return Ok("-Infinity".into()),
        _ => {}
    }
    let digits: Vec<i16> = (0..ndigits.max(0) as usize).map(|i| i16_at(b, 8 + 2 * i)).collect::<R<_>>()?;
    let digit = |i: i32| if i >= 0 && (i as usize) < digits.len() { digits[i as usize] } else { 0 };
    let mut out = String::new();
    if sign == 0x4000 {
        out.push('-');
    }
    if weight < 0 {
        out.push('0');
    } else {
        for i in 0..=weight as i32 {
            if i == 0 {
                out.push_str(&digit(0).to_string());
            } else {
                out.push_str(&format!("{:04}", digit(i)));
            }
        }
    }
    if dscale > 0 {
        let mut frac = String::new();
        let mut i = weight as i32 + 1;
        while frac.len() < dscale as usize {
            frac.push_str(&format!("{:04}", digit(i)));
            i += 1;
        }
        frac.truncate(dscale as usize);
        out.push('.');
        out.push_str(&frac);
    }
    Ok(out)
}

/// Binary array: ndim, has-null flag, element oid, (length, lower bound) per dimension,
/// then each element as (length or -1 for NULL, bytes). Multi-dimensional → nested lists.
fn array(elem: &Type, b: &[u8]) -> R<Value> {
    let ndim = i32_at(b, 0)?.max(0) as usize;
    if ndim == 0 {
        return Ok(json!([]));
    }
    let dims: Vec<usize> =
        (0..ndim).map(|d| i32_at(b, 12 + 8 * d).map(|n| n.max(0) as usize)).collect::<R<_>>()?;
    let mut at = 12 + 8 * ndim;
    let total: usize = dims.iter().product();
    let mut flat = Vec::with_capacity(total);
    for _ in 0..total {
        let len = i32_at(b, at)?;
        at += 4;
        if len < 0 {
            flat.push(Value::Null);
        } else {
            let v = b.get(at..at + len as usize).ok_or("short array")?;
            flat.push(to_json(elem, v)?);
            at += len as usize;
        }
    }
    // Fold the innermost dimension first: [2][3] → 2 lists of 3.
    for &n in dims.iter().skip(1).rev() {
        flat = flat.chunks(n.max(1)).map(|c| Value::Array(c.to_vec())).collect();
    }
    Ok(Value::Array(flat))
}

/// A value as a JSON number when it is one (ints, floats, numeric), for samplers.
pub fn as_f64(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    fn num(ndigits: i16, weight: i16, sign: u16, dscale: i16, digits: &[i16]) -> String {
        let mut b = vec![];
        for x in [ndigits, weight, sign as i16, dscale] {
            b.extend_from_slice(&x.to_be_bytes());
        }
        for d in digits {
            b.extend_from_slice(&d.to_be_bytes());
        }
        numeric(&b).unwrap()
    }
    #[test]
    fn numerics_are_exact() {
        assert_eq!(num(2, 0, 0, 2, &[1, 2500]), "1.25");
        assert_eq!(num(1, 1, 0, 0, &[1]), "10000");
        assert_eq!(num(2, 1, 0x4000, 0, &[12, 3456]), "-123456");
        assert_eq!(num(1, -2, 0, 6, &[1200]), "0.000012");
        assert_eq!(num(3, 0, 0, 8, &[3, 1415, 9265]), "3.14159265");
        assert_eq!(num(0, 0, 0, 3, &[]), "0.000");
        assert_eq!(num(0, 0, 0xC000, 0, &[]), "NaN");
    }
}
