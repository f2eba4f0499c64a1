//! Evaluating: the CEL runtime with our functions, and values across the JSON boundary.
use cel::objects::{Key, Map};
use serde_json::{Number, Value};
use std::collections::HashMap;
use std::sync::Arc;

/// The functions expressions can call, for hints: ours first, then CEL's.
pub const FUNCTIONS: &[&str] = &[
    "duration_ms",
    "max",
    "min",
    "sum",
    "avg",
    "percentile",
    "first_ack_after",
    "size",
    "int",
    "uint",
    "double",
    "string",
    "bool",
    "bytes",
    "type",
    "dyn",
    "duration",
    "timestamp",
    "contains",
    "startsWith",
    "endsWith",
    "matches",
    "has",
    "all",
    "exists",
    "exists_one",
    "map",
    "filter",
    "getFullYear",
    "getMonth",
    "getDayOfMonth",
    "getDayOfWeek",
    "getDayOfYear",
    "getDate",
    "getHours",
    "getMinutes",
    "getSeconds",
    "getMilliseconds",
    "replace",
    "split",
    "join",
    "lower",
    "upper",
    "trim",
];

/// Whether `name` is a function an expression can call, globally (`size(x)`) or as a
/// method (`x.contains(y)`). Asks the CEL runtime itself, once per name.
pub fn function_exists(name: &str) -> bool {
    use std::sync::{Mutex, OnceLock, PoisonError};
    static KNOWN: OnceLock<Mutex<HashMap<String, bool>>> = OnceLock::new();
    let cache = KNOWN.get_or_init(Default::default);
    // A cache: a poisoned lock still holds only whole answers.
    let lock = || cache.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(k) = lock().get(name) {
        return *k;
    }
    let ctx = context();
    let undeclared = |probe: String| match cel::Program::compile(&probe) {
        Ok(p) => match p.execute(&ctx) {
            Err(cel::ExecutionError::UndeclaredReference(n)) => n.as_str() == name,
            _ => false,
        },
        Err(_) => true,
    };
    let exists = !undeclared(format!("{name}()")) || !undeclared(format!("null.{name}()"));
    lock().insert(name.to_string(), exists);
    exists
}

/// A context with CEL's standard library, its strings extension (`replace`, `split`, `join`,
/// `trim`, `lowerAscii`, ...) and our functions.
pub(super) fn context() -> cel::Context<'static, 'static> {
    use std::sync::OnceLock;
    static ENV: OnceLock<Arc<cel::Env>> = OnceLock::new();
    let env = ENV.get_or_init(|| {
        let mut env = cel::Env::stdlib();
        env.add_extension(cel::extensions::strings).expect("the strings extension registers");
        Arc::new(env)
    });
    let mut ctx = cel::Context::with_env(env.clone());
    register_functions(&mut ctx);
    ctx
}

pub(super) fn register_functions(ctx: &mut cel::Context) {
    // Unicode-aware `lower`/`upper`, the names users reach for (`lowerAscii` is CEL's).
    let _ = ctx.add_function("lower", |cel::extractors::This(s): cel::extractors::This<Arc<String>>| {
        s.to_lowercase()
    });
    let _ = ctx.add_function("upper", |cel::extractors::This(s): cel::extractors::This<Arc<String>>| {
        s.to_uppercase()
    });
    // Aggregates over lists of numbers, for series metrics. `max`/`min` take a list or arguments.
    // `duration_ms("90s") == 90000`: compare measured milliseconds with duration vars.
    let _ = ctx.add_function("duration_ms", |d: Arc<String>| -> i64 {
        crate::parse_duration(&d).map(|d| d.as_millis() as i64).unwrap_or(-1)
    });
    let _ = ctx.add_function("max", cel::functions::max);
    let _ = ctx.add_function("min", cel::functions::min);
    let _ =
        ctx.add_function("sum", |list: Arc<Vec<cel::Value>>| -> f64 { list.iter().filter_map(num).sum() });
    let _ = ctx.add_function("avg", |list: Arc<Vec<cel::Value>>| -> f64 {
        let v: Vec<f64> = list.iter().filter_map(num).collect();
        if v.is_empty() {
            0.0
        } else {
            v.iter().sum::<f64>() / v.len() as f64
        }
    });
    let _ = ctx.add_function("percentile", |list: Arc<Vec<cel::Value>>, p: f64| -> f64 {
        let v: Vec<f64> = list.iter().filter_map(num).collect();
        crate::stats::percentile(&v, p)
    });
    // `pool.first_ack_after(t)`: over a sql.writers result's `acks` ([COMMIT sent, returned]
    // in run-clock ms), when the first COMMIT sent at or after `t` returned acknowledged;
    // null if none did. Sent after `t`, so a commit already in flight at `t` does not count.
    let _ = ctx.add_function(
        "first_ack_after",
        |cel::extractors::This(this): cel::extractors::This<cel::Value>, t: cel::Value| {
            let (cel::Value::Map(m), Some(t)) = (this, num(&t)) else { return cel::Value::Null };
            let Some(cel::Value::List(acks)) = m.get(&cel::objects::Key::from("acks")) else {
                return cel::Value::Null;
            };
            acks.iter()
                .filter_map(|a| match a {
                    cel::Value::List(p) if p.len() == 2 => Some((num(&p[0])?, num(&p[1])?)),
                    _ => None,
                })
                .filter(|(sent, _)| *sent >= t)
                .map(|(_, ack)| ack)
                .min_by(f64::total_cmp)
                .map(|ack| cel::Value::Int(ack as i64))
                .unwrap_or(cel::Value::Null)
        },
    );
}

pub(super) fn num(v: &cel::Value) -> Option<f64> {
    match v {
        cel::Value::Int(i) => Some(*i as f64),
        cel::Value::UInt(u) => Some(*u as f64),
        cel::Value::Float(f) => Some(*f),
        _ => None,
    }
}

pub fn to_cel(v: &Value) -> cel::Value {
    match v {
        Value::Null => cel::Value::Null,
        Value::Bool(b) => cel::Value::Bool(*b),
        Value::Number(n) => match n.as_i64() {
            Some(i) => cel::Value::Int(i),
            None => cel::Value::Float(n.as_f64().unwrap_or(f64::NAN)),
        },
        Value::String(s) => cel::Value::String(Arc::new(s.clone())),
        Value::Array(items) => cel::Value::List(Arc::new(items.iter().map(to_cel).collect())),
        Value::Object(m) => {
            let map: HashMap<Key, cel::Value> =
                m.iter().map(|(k, v)| (Key::from(k.as_str()), to_cel(v))).collect();
            cel::Value::Map(Map::from(map))
        }
    }
}

pub fn from_cel(v: &cel::Value) -> Value {
    match v {
        cel::Value::Null => Value::Null,
        cel::Value::Bool(b) => Value::Bool(*b),
        cel::Value::Int(i) => Value::from(*i),
        cel::Value::UInt(u) => Value::from(*u),
        cel::Value::Float(f) => Number::from_f64(*f).map(Value::Number).unwrap_or(Value::Null),
        cel::Value::String(s) => Value::String(s.to_string()),
        cel::Value::Bytes(b) => Value::String(String::from_utf8_lossy(b).into_owned()),
        cel::Value::List(items) => Value::Array(items.iter().map(from_cel).collect()),
        cel::Value::Map(m) => Value::Object(
            m.map
                .iter()
                .map(|(k, v)| {
                    let key = match k {
                        Key::String(s) => s.to_string(),
                        Key::Int(i) => i.to_string(),
                        Key::Uint(u) => u.to_string(),
                        Key::Bool(b) => b.to_string(),
                    };
                    (key, from_cel(v))
                })
                .collect(),
        ),
        other => Value::String(format!("{other:?}")),
    }
}
