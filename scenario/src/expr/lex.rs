//! The one quote-aware scanner of expression source: where the string literals are. Every
//! rewrite or search that must not look inside strings (the `loop` rename, `.lo`/`.hi`
//! bounds, the comparison split, the size bound, the end of a `${…}`, error positions) asks
//! it, so all of them agree on escapes (`'it\'s'`), raw strings (`r'\d'`) and triple quotes.

/// Source characters with every string literal marked.
pub struct Lexed {
    pub chars: Vec<char>,
    /// `code[i]`: `chars[i]` is outside every string literal (its quotes and prefix included).
    pub code: Vec<bool>,
    /// Each string literal as (first char, one past its last char, triple-quoted).
    pub strings: Vec<(usize, usize, bool)>,
}

pub fn lex(src: &str) -> Lexed {
    lex_chars(src.chars().collect())
}

/// A string that is never closed runs to the end of the text.
pub fn lex_chars(chars: Vec<char>) -> Lexed {
    let n = chars.len();
    let mut code = vec![true; n];
    let mut strings = vec![];
    let mut i = 0;
    while i < n {
        let q = chars[i];
        if q != '"' && q != '\'' {
            i += 1;
            continue;
        }
        let word = |c: char| c.is_alphanumeric() || c == '_';
        // `r'…'` / `R"…"`: a backslash is just a character.
        let raw = i > 0 && matches!(chars[i - 1], 'r' | 'R') && (i < 2 || !word(chars[i - 2]));
        let triple = chars[i..].starts_with(&[q, q, q]);
        let close: &[char] = if triple { &[q, q, q] } else { &[q] };
        let start = if raw { i - 1 } else { i };
        let mut j = i + close.len();
        while j < n {
            if !raw && chars[j] == '\\' {
                j += 2;
            } else if chars[j..].starts_with(close) {
                j += close.len();
                break;
            } else {
                j += 1;
            }
        }
        let end = j.min(n);
        code[start..end].iter_mut().for_each(|c| *c = false);
        strings.push((start, end, triple));
        i = end;
    }
    Lexed { chars, code, strings }
}

impl Lexed {
    /// Whether `chars[i..]` starts with `word` as a whole identifier, outside strings, not
    /// after a `.` (so it is a name read at the top level, not a field).
    pub fn name_at(&self, i: usize, word: &[char]) -> bool {
        let is_word = |c: char| c.is_alphanumeric() || c == '_';
        self.code[i]
            && self.chars[i..].starts_with(word)
            && (i == 0 || !(is_word(self.chars[i - 1]) || self.chars[i - 1] == '.'))
            && self.chars.get(i + word.len()).is_none_or(|n| !is_word(*n))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(src: &str) -> String {
        let l = lex(src);
        l.chars.iter().zip(&l.code).map(|(c, k)| if *k { *c } else { '_' }).collect()
    }

    #[test]
    fn strings_are_marked_with_escapes_raw_and_triple_quotes() {
        assert_eq!(code(r#"a == "x" && b"#), r#"a == ___ && b"#);
        // An escaped quote does not end the string.
        assert_eq!(code(r#"'it\'s ' + loop"#), r#"________ + loop"#);
        assert_eq!(code(r#""a\"b" + n"#), r#"______ + n"#);
        // In a raw string a backslash is a character: `r'\'` is complete.
        assert_eq!(code(r#"r'\' + n"#), r#"____ + n"#);
        assert_eq!(code("'''a'b''' + n"), "_________ + n");
        assert_eq!(code("'open + n"), "_________");
        let l = lex("'''x\ny''' + 'z'");
        assert_eq!(l.strings, [(0, 9, true), (12, 15, false)]);
    }

    #[test]
    fn names_are_found_outside_strings_only() {
        let l = lex(r#"'loop\' loop' + loop.index"#);
        let w: Vec<char> = "loop".chars().collect();
        let at: Vec<usize> = (0..l.chars.len()).filter(|i| l.name_at(*i, &w)).collect();
        assert_eq!(at, [16]);
        let l = lex("a.loop + loops");
        assert!((0..l.chars.len()).all(|i| !l.name_at(i, &w)), "a field and a longer name are not the name");
    }
}
