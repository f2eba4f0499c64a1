//! Untrusted text (titles, step errors, a program's stderr) on its way to a terminal or an
//! XML file: control characters are shown, never interpreted.
use std::borrow::Cow;

/// Escapes control characters (C0 except newline and tab, DEL, C1) as `\x1b`, so an ESC
/// sequence in a title or in stderr cannot recolour, move the cursor or retitle a terminal.
pub fn escape_controls(s: &str) -> Cow<'_, str> {
    let bad = |c: char| (c.is_control() && c != '\n' && c != '\t') || c == '\u{2028}' || c == '\u{2029}';
    if !s.chars().any(bad) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if bad(c) {
            match c {
                '\r' => out.push_str("\\r"),
                c if (c as u32) < 0x100 => out.push_str(&format!("\\x{:02x}", c as u32)),
                c => out.push_str(&format!("\\u{{{:04x}}}", c as u32)),
            }
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// Escapes control characters in every string of a JSON value (keys too).
pub fn escape_controls_json(v: &mut serde_json::Value) {
    use serde_json::Value;
    match v {
        Value::String(s) => {
            if let Cow::Owned(e) = escape_controls(s) {
                *s = e;
            }
        }
        Value::Array(a) => a.iter_mut().for_each(escape_controls_json),
        Value::Object(m) => {
            let old = std::mem::take(m);
            for (k, mut x) in old {
                escape_controls_json(&mut x);
                m.insert(escape_controls(&k).into_owned(), x);
            }
        }
        _ => {}
    }
}

/// Makes text legal in XML 1.0: characters it forbids (C0 controls other than tab, newline
/// and carriage return; U+FFFE, U+FFFF) are written as visible `\x1b` / `\u{fffe}` text.
/// Markup is untouched (these characters never occur in it).
pub fn xml_chars(s: &str) -> Cow<'_, str> {
    let bad = |c: char| {
        let u = c as u32;
        (u < 0x20 && !matches!(c, '\t' | '\n' | '\r')) || u == 0xFFFE || u == 0xFFFF
    };
    if !s.chars().any(bad) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if !bad(c) {
            out.push(c);
        } else if (c as u32) < 0x20 {
            out.push_str(&format!("\\x{:02x}", c as u32));
        } else {
            out.push_str(&format!("\\u{{{:04x}}}", c as u32));
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controls_are_shown_not_interpreted() {
        assert_eq!(escape_controls("plain\ttext\n"), "plain\ttext\n");
        assert_eq!(escape_controls("a\x1b[2Jb\rc\u{9b}d\u{7f}"), "a\\x1b[2Jb\\rc\\x9bd\\x7f");
        let mut v = serde_json::json!({"t\x07": ["x\x1b]0;pwned\x07"]});
        escape_controls_json(&mut v);
        assert_eq!(v, serde_json::json!({"t\\x07": ["x\\x1b]0;pwned\\x07"]}));
    }

    #[test]
    fn xml_forbidden_chars_are_replaced() {
        assert_eq!(xml_chars("ok\t\r\n"), "ok\t\r\n");
        assert_eq!(xml_chars("a\u{fffe}b\u{ffff}c\x1bd\0"), "a\\u{fffe}b\\u{ffff}c\\x1bd\\x00");
    }
}
