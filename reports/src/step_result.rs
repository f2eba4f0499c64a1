//! A step's result as the report keeps it: compact JSON text. A run of many steps then
//! holds a few hundred bytes a step instead of a tree of maps; a reader parses the result
//! it shows, when it shows it.
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

#[derive(Clone, PartialEq, Eq)]
pub struct StepResult(Box<str>);

impl StepResult {
    pub fn new(v: &Value) -> StepResult {
        StepResult(serde_json::to_string(v).unwrap_or_else(|_| "null".into()).into_boxed_str())
    }

    /// The result as a JSON value (parsed on each call: keep it while reading it).
    pub fn value(&self) -> Value {
        serde_json::from_str(&self.0).unwrap_or(Value::Null)
    }

    pub fn is_null(&self) -> bool {
        &*self.0 == "null"
    }
}

impl Default for StepResult {
    fn default() -> StepResult {
        StepResult("null".into())
    }
}

impl From<Value> for StepResult {
    fn from(v: Value) -> StepResult {
        StepResult::new(&v)
    }
}

impl std::fmt::Debug for StepResult {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// As the value it holds, so `report.json` is laid out as any other value of the report.
impl Serialize for StepResult {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.value().serialize(s)
    }
}

impl<'de> Deserialize<'de> for StepResult {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<StepResult, D::Error> {
        Value::deserialize(d).map(|v| StepResult::new(&v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_result_round_trips_through_its_text_and_serializes_as_its_value() {
        let v = json!({"status": 200, "z": 1.5, "a": [1, "x", null], "big": u64::MAX});
        let r = StepResult::new(&v);
        assert_eq!(r.value(), v);
        assert_eq!(serde_json::to_string_pretty(&r).unwrap(), serde_json::to_string_pretty(&v).unwrap());
        let back: StepResult = serde_json::from_value(v.clone()).unwrap();
        assert_eq!(back, r);
        assert!(StepResult::default().is_null() && StepResult::default().value().is_null());
        // Negative control: a different value is a different result.
        assert_ne!(StepResult::new(&json!({"status": 201})), r);
    }
}
