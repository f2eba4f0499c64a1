//! Shared parameter types and the decoder every action uses.
use crate::ActionError;
use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::time::Duration;

/// Decode the evaluated parameters into the action's typed struct.
/// Load-time validation already rejected unknown keys and wrong types; what can still fail
/// here is a `${…}` expression that evaluated to the wrong type.
pub fn decode<P: DeserializeOwned>(params: Value) -> Result<P, ActionError> {
    serde_json::from_value(params).map_err(|e| ActionError::new(format!("invalid parameters: {e}")))
}

/// The JSON schema of a parameter struct, as the registry publishes it.
pub fn schema<P: JsonSchema>() -> Value {
    let settings = schemars::generate::SchemaSettings::draft07();
    let generator = settings.into_generator();
    generator.into_root_schema_for::<P>().to_value()
}

/// A duration parameter: `"250ms"`, `"30s"`, `"2m"`, `"1h"`, or an integer number of milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Dur(pub Duration);

impl Dur {
    pub fn ms(ms: u64) -> Self {
        Dur(Duration::from_millis(ms))
    }
}

impl<'de> Deserialize<'de> for Dur {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Ms(u64),
            Text(String),
        }
        match Raw::deserialize(d)? {
            Raw::Ms(ms) => Ok(Dur::ms(ms)),
            Raw::Text(s) => {
                testrunner_scenario::parse_duration(&s).map(Dur).map_err(serde::de::Error::custom)
            }
        }
    }
}

impl JsonSchema for Dur {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Duration".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "a duration: \"250ms\", \"30s\", \"2m\", \"1h\", or integer milliseconds",
            "type": ["string", "integer"],
            "format": "duration"
        })
    }
}
