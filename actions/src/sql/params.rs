//! Statement parameters from JSON values, sent in the text format so the server parses
//! each one as the type of its placeholder (`$1` compared with an int8 column gets "42").
use bytes::BytesMut;
use serde_json::Value;
use std::error::Error;
use tokio_postgres::types::{to_sql_checked, Format, IsNull, Kind, ToSql, Type};

#[derive(Debug)]
pub struct TextParam(Value);

impl TextParam {
    pub fn from_json(v: &Value) -> Self {
        TextParam(v.clone())
    }
}

/// A JSON list as a PostgreSQL array literal: `{1,"a b",NULL,{2,3}}`.
fn array_literal(v: &Value, out: &mut String) {
    match v {
        Value::Array(items) => {
            out.push('{');
            for (i, x) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                array_literal(x, out);
            }
            out.push('}');
        }
        Value::Null => out.push_str("NULL"),
        Value::String(s) => quoted(s, out),
        Value::Object(_) => quoted(&v.to_string(), out),
        other => out.push_str(&other.to_string()),
    }
}

fn quoted(s: &str, out: &mut String) {
    out.push('"');
    for ch in s.chars() {
        if ch == '"' || ch == '\\' {
            out.push('\\');
        }
        out.push(ch);
    }
    out.push('"');
}

impl ToSql for TextParam {
    fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> Result<IsNull, Box<dyn Error + Sync + Send>> {
        let text = match &self.0 {
            Value::Null => return Ok(IsNull::Yes),
            Value::String(s) => s.clone(),
            Value::Array(_) if matches!(ty.kind(), Kind::Array(_)) => {
                let mut s = String::new();
                array_literal(&self.0, &mut s);
                s
            }
            other => other.to_string(),
        };
        out.extend_from_slice(text.as_bytes());
        Ok(IsNull::No)
    }
    fn accepts(_: &Type) -> bool {
        true
    }
    fn encode_format(&self, _ty: &Type) -> Format {
        Format::Text
    }
    to_sql_checked!();
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn lists_become_array_literals() {
        let mut s = String::new();
        array_literal(&serde_json::json!([1, "a \"b\"", null, [2, 3]]), &mut s);
        assert_eq!(s, r#"{1,"a \"b\"",NULL,{2,3}}"#);
    }
}
