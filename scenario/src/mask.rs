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
        // Each secret also in the forms it takes on the way out: JSON-escaped (once and
        // twice), URL-encoded, and base64 (a Basic auth header `user:secret` at any offset).
        let mut secrets: Vec<String> =
            secrets.into_iter().filter(|s| s.len() >= 3).flat_map(|s| encoded_forms(&s)).collect();
        secrets.retain(|s| s.len() >= 3);
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

    /// For streaming: how many trailing bytes of `text` must wait for more input, because
    /// they could be the start of a secret (masking the rest now cannot cut one in two).
    pub fn holdback(&self, text: &str) -> usize {
        let mut hold = 0;
        for s in &self.secrets {
            for k in (hold + 1..s.len().min(text.len() + 1)).rev() {
                if s.is_char_boundary(k) && text.ends_with(&s[..k]) {
                    hold = k;
                    break;
                }
            }
        }
        hold
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

/// `secret` and its encoded forms (deduplicated; the secret itself first).
fn encoded_forms(secret: &str) -> Vec<String> {
    let mut out = vec![secret.to_string()];
    let json_once = json_escape(secret);
    out.push(json_escape(&json_once));
    out.push(json_once);
    out.push(url_encode(secret, false, true));
    out.push(url_encode(secret, false, false));
    out.push(url_encode(secret, true, true));
    // base64 at each of the three byte alignments: only the characters that depend on the
    // secret alone, so `Basic base64(user:secret)` is caught whatever the user name.
    let bytes = secret.as_bytes();
    for pad in 0..3usize {
        let mut b = vec![0u8; pad];
        b.extend_from_slice(bytes);
        let enc = base64(&b);
        let first = (8 * pad).div_ceil(6);
        let Some(last) = (8 * (pad + bytes.len())).checked_sub(6).map(|x| x / 6) else { continue };
        if last + 1 > first + 3 {
            out.push(enc[first..=last].to_string());
        }
    }
    out.push(base64(bytes));
    let mut seen = std::collections::HashSet::new();
    out.retain(|f| seen.insert(f.clone()));
    out
}

fn json_escape(s: &str) -> String {
    let q = serde_json::to_string(s).unwrap_or_default();
    q[1..q.len() - 1].to_string()
}

/// Percent-encoding of everything but RFC 3986 unreserved characters (`plus`: space as `+`).
fn url_encode(s: &str, plus: bool, upper: bool) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => out.push(b as char),
            b' ' if plus => out.push('+'),
            _ if upper => out.push_str(&format!("%{b:02X}")),
            _ => out.push_str(&format!("%{b:02x}")),
        }
    }
    out
}

fn base64(bytes: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for c in bytes.chunks(3) {
        let n = (c[0] as u32) << 16 | (*c.get(1).unwrap_or(&0) as u32) << 8 | *c.get(2).unwrap_or(&0) as u32;
        for i in 0..4 {
            if i <= c.len() {
                out.push(A[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
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
    fn masks_escaped_url_encoded_and_base64_forms() {
        let secret = r#"Hu nter"42\/x:y"#;
        let m = Masker::new(vec![secret.to_string()]);
        let json = serde_json::to_string(&serde_json::json!({ "pw": secret })).unwrap();
        assert_eq!(m.mask(&json), r#"{"pw":"****"}"#);
        let twice = serde_json::to_string(&json).unwrap();
        assert!(!m.mask(&twice).contains("nter"), "{}", m.mask(&twice));
        assert_eq!(m.mask("p=Hu%20nter%2242%5C%2Fx%3Ay&q=1"), "p=****&q=1");
        assert_eq!(m.mask("p=Hu+nter%2242%5C%2Fx%3Ay"), "p=****");
        assert_eq!(m.mask("p=Hu%20nter%2242%5c%2fx%3ay"), "p=****");
        for user in ["u", "us", "use", "admin"] {
            let header = format!("Basic {}", base64(format!("{user}:{secret}").as_bytes()));
            let masked = m.mask(&header);
            assert!(masked.contains(MASK), "{user}: {header} -> {masked}");
            // Left unmasked: the user name's characters and at most one group at each edge.
            let left = masked.len() - MASK.len() - "Basic ".len();
            assert!(left <= (user.len() + 1).div_ceil(3) * 4 + 4, "{user}: {masked}");
        }
        assert_eq!(base64(b"user:pw"), "dXNlcjpwdw==");
    }

    #[test]
    fn holdback_keeps_a_possible_secret_start() {
        let m = Masker::new(vec!["hunter2".to_string()]);
        assert_eq!(m.holdback("log line hunt"), 4);
        assert_eq!(m.holdback("log line h"), 1);
        assert_eq!(m.holdback("log line x"), 0);
        assert_eq!(Masker::default().holdback("abc"), 0);
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
