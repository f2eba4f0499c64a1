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

/// Passwords written into connection strings (`postgres://user:PASSWORD@host`,
/// `password=PASSWORD`): masked like declared secrets even when the variable holding the
/// URL was not declared in `secrets:`, so a credential in a default never reaches a report.
pub fn embedded_credentials(text: &str) -> Vec<String> {
    let mut out = vec![];
    let mut rest = text;
    while let Some(i) = rest.find("://") {
        let after = &rest[i + 3..];
        let end = after.find(|c: char| c == '/' || c == '?' || c.is_whitespace()).unwrap_or(after.len());
        let authority = &after[..end];
        if let Some((userinfo, _host)) = authority.rsplit_once('@') {
            if let Some((_user, pw)) = userinfo.split_once(':') {
                out.push(pw.to_string());
            }
        }
        rest = &after[end..];
    }
    for part in text.split(|c: char| c.is_whitespace() || c == '&' || c == '?') {
        if part.get(..9).is_some_and(|p| p.eq_ignore_ascii_case("password=")) {
            out.push(part[9..].trim_matches('\'').to_string());
        }
    }
    // A template is not a credential yet; its value is masked when it is one.
    out.retain(|p| !p.is_empty() && !p.contains("${"));
    out
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

    #[test]
    fn finds_passwords_inside_connection_strings() {
        assert_eq!(embedded_credentials("postgres://app:s3cret@db:5432/app?sslmode=disable"), ["s3cret"]);
        assert_eq!(embedded_credentials("host=db user=app password=pa55 dbname=x"), ["pa55"]);
        assert!(embedded_credentials("postgres://app@db/app http://h:80/x").is_empty());
        assert!(embedded_credentials("postgres://app:${pg_password}@db/app").is_empty());
        // Not ASCII: no byte-offset slicing inside a character.
        assert!(embedded_credentials("Größenänderung ééééé").is_empty());
        assert_eq!(embedded_credentials("PASSWORD=ü"), ["ü"]);
    }
}
