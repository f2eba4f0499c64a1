use serde_json::Value;
use std::borrow::Cow;

/// Replaces every secret value with `****` in anything that leaves the process:
/// terminal, journal, reports, evidence files.
#[derive(Debug, Default, Clone)]
pub struct Masker {
    secrets: Vec<String>,
}

pub const MASK: &str = "****";

impl Masker {
    pub fn new(secrets: impl IntoIterator<Item = String>) -> Self {
        // Longest first, so a secret that contains another is masked whole. Very short
        // values would mask half the output and protect nothing; they are still masked
        // when they are at least 3 characters.
        let mut secrets: Vec<String> = secrets.into_iter().filter(|s| s.len() >= 3).collect();
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        secrets.dedup();
        Masker { secrets }
    }

    pub fn is_empty(&self) -> bool {
        self.secrets.is_empty()
    }

    pub fn mask<'a>(&self, text: &'a str) -> Cow<'a, str> {
        if !self.secrets.iter().any(|s| text.contains(s.as_str())) {
            return Cow::Borrowed(text);
        }
        let mut out = text.to_string();
        for s in &self.secrets {
            out = out.replace(s.as_str(), MASK);
        }
        Cow::Owned(out)
    }

    pub fn mask_json(&self, value: &mut Value) {
        if self.secrets.is_empty() {
            return;
        }
        match value {
            Value::String(s) => {
                if let Cow::Owned(m) = self.mask(s) {
                    *s = m;
                }
            }
            Value::Array(items) => items.iter_mut().for_each(|v| self.mask_json(v)),
            Value::Object(map) => map.values_mut().for_each(|v| self.mask_json(v)),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn masks_in_text_and_json() {
        let m = Masker::new(vec!["hunter2".to_string()]);
        assert_eq!(m.mask("postgres://u:hunter2@h/db"), "postgres://u:****@h/db");
        let mut v = serde_json::json!({"a": ["x hunter2 y"], "b": 1});
        m.mask_json(&mut v);
        assert_eq!(v, serde_json::json!({"a": ["x **** y"], "b": 1}));
    }
}
