//! Whether a text is one JSON value (RFC 8259), as Step Functions requires of a task's output,
//! without building it.
//!
//! Not the body parser (`json_body`, serde_json): that one stops at 128 levels of nesting and at
//! numbers beyond a double's range, and refuses lone surrogate escapes and repeated member names,
//! all of which the grammar allows and the service takes in an output. Here nesting is an
//! explicit stack (no recursion, so no depth limit and no stack to overflow in the sandbox),
//! numbers and escapes are checked only for their form, and member names are not compared:
//! only the engine reads the output, so there are no two readers to disagree.

/// `Ok` when `text` is exactly one JSON value with optional whitespace around it; else what is
/// wrong and where (a character offset: the value itself is never echoed).
#[inline(never)]
pub fn check(text: &str) -> Result<(), String> {
    let bytes = text.as_bytes();
    scan(bytes).map_err(|(what, at)| {
        // The place in characters (UTF-8 continuation bytes do not count), from 1.
        let end = at.min(bytes.len());
        let column = bytes[..end].iter().filter(|b| (**b & 0xC0) != 0x80).count() + 1;
        format!("{what} at character {column}")
    })
}

/// What is wrong, and the byte offset where.
type Fault = (&'static str, usize);

/// The grammar, on bytes; a fault names the first place it fails.
fn scan(bytes: &[u8]) -> Result<(), Fault> {
    let mut scan = Scan { bytes, at: 0 };
    // The open containers, innermost last: `{` or `[`.
    let mut open: Vec<u8> = Vec::new();
    scan.skip_whitespace();
    loop {
        // A value is expected here.
        match scan.next() {
            Some(b'{') => {
                scan.skip_whitespace();
                if !scan.eat(b'}') {
                    open.push(b'{');
                    scan.member_name()?;
                    continue;
                }
            }
            Some(b'[') => {
                scan.skip_whitespace();
                if !scan.eat(b']') {
                    open.push(b'[');
                    continue;
                }
            }
            Some(b'"') => scan.string()?,
            Some(b'-' | b'0'..=b'9') => scan.number()?,
            Some(b't') => scan.literal(b"rue")?,
            Some(b'f') => scan.literal(b"alse")?,
            Some(b'n') => scan.literal(b"ull")?,
            _ => return Err(scan.error("expected a value", 1)),
        }
        // A value ended: close what it ends, or go on to the next member or item.
        loop {
            scan.skip_whitespace();
            match open.last() {
                None if scan.at == scan.bytes.len() => return Ok(()),
                None => return Err(scan.error("trailing characters", 0)),
                Some(b'{') if scan.eat(b',') => {
                    scan.skip_whitespace();
                    scan.member_name()?;
                    break;
                }
                Some(b'[') if scan.eat(b',') => {
                    scan.skip_whitespace();
                    break;
                }
                Some(b'{') if scan.eat(b'}') => {
                    open.pop();
                }
                Some(b'[') if scan.eat(b']') => {
                    open.pop();
                }
                Some(b'{') => return Err(scan.error("expected ',' or '}'", 0)),
                Some(_) => return Err(scan.error("expected ',' or ']'", 0)),
            }
        }
    }
}

/// A cursor over the text's bytes. Its steps are kept out of line: inlined at each call site
/// they cost the component kilobytes, and output is checked once per request.
struct Scan<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Scan<'_> {
    fn next(&mut self) -> Option<u8> {
        let byte = self.bytes.get(self.at).copied();
        self.at += 1;
        byte
    }

    fn eat(&mut self, byte: u8) -> bool {
        let found = self.bytes.get(self.at) == Some(&byte);
        self.at += usize::from(found);
        found
    }

    #[inline(never)]
    fn skip_whitespace(&mut self) {
        while matches!(self.bytes.get(self.at), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.at += 1;
        }
    }

    /// What is wrong, at `back` bytes before the cursor.
    fn error(&self, what: &'static str, back: usize) -> Fault {
        (what, self.at.saturating_sub(back))
    }

    /// `"name"` and the `:` after it, with the whitespace around.
    #[inline(never)]
    fn member_name(&mut self) -> Result<(), Fault> {
        if !self.eat(b'"') {
            return Err(self.error("expected a member name", 0));
        }
        self.string()?;
        self.skip_whitespace();
        if !self.eat(b':') {
            return Err(self.error("expected ':'", 0));
        }
        self.skip_whitespace();
        Ok(())
    }

    /// The rest of a string after its opening quote: no raw control characters, only the
    /// grammar's escapes (a `\u` escape need not pair its surrogates).
    fn string(&mut self) -> Result<(), Fault> {
        loop {
            match self.next() {
                Some(b'"') => return Ok(()),
                Some(b'\\') => match self.next() {
                    Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => {}
                    Some(b'u') => {
                        for _ in 0..4 {
                            if !self.next().is_some_and(|b| b.is_ascii_hexdigit()) {
                                return Err(self.error("a \\u escape without four hex digits", 1));
                            }
                        }
                    }
                    _ => return Err(self.error("an unknown escape", 1)),
                },
                Some(0..0x20) => return Err(self.error("a control character in a string", 1)),
                Some(_) => {}
                None => return Err(self.error("an unterminated string", 1)),
            }
        }
    }

    /// The rest of a number after its first byte (`-` or a digit): `-? (0 | [1-9][0-9]*)
    /// (. [0-9]+)? ([eE] [+-]? [0-9]+)?`, of any size.
    #[inline(never)]
    fn number(&mut self) -> Result<(), Fault> {
        let first = self.bytes[self.at - 1];
        let leading = if first == b'-' {
            self.next()
        } else {
            Some(first)
        };
        match leading {
            Some(b'0') => {}
            Some(b'1'..=b'9') => self.digits(),
            _ => return Err(self.error("a number without digits", 1)),
        }
        if self.eat(b'.') {
            self.required_digits()?;
        }
        if self.eat(b'e') || self.eat(b'E') {
            let _ = self.eat(b'+') || self.eat(b'-');
            self.required_digits()?;
        }
        Ok(())
    }

    fn digits(&mut self) {
        while self.bytes.get(self.at).is_some_and(u8::is_ascii_digit) {
            self.at += 1;
        }
    }

    fn required_digits(&mut self) -> Result<(), Fault> {
        let start = self.at;
        self.digits();
        if self.at == start {
            return Err(self.error("a number without digits", 0));
        }
        Ok(())
    }

    /// The rest of `true`, `false` or `null` after its first letter.
    #[inline(never)]
    fn literal(&mut self, rest: &[u8]) -> Result<(), Fault> {
        if self.bytes.get(self.at..self.at + rest.len()) == Some(rest) {
            self.at += rest.len();
            Ok(())
        } else {
            Err(self.error("expected true, false or null", 1))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::check;

    #[test]
    fn every_kind_of_value_passes() {
        for text in [
            "{}",
            "[]",
            " {\"a\": [1, -0.5e+3, true, false, null, \"x\\u00e9\\n\"], \"b\": {}} ",
            "42",
            "\"text\"",
            "null",
            "-0",
            "1E400",
            "{\"a\": \"\\ud800\"}",
            "{\"a\": 1, \"a\": 2}",
        ] {
            assert_eq!(check(text), Ok(()), "{text}");
        }
    }

    #[test]
    fn nesting_is_unbounded() {
        let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        assert_eq!(check(&deep), Ok(()));
        let deep = format!("{}1{}", "{\"a\":".repeat(10_000), "}".repeat(10_000));
        assert_eq!(check(&deep), Ok(()));
    }

    #[test]
    fn what_the_grammar_forbids_is_refused_with_its_place() {
        for (text, error) in [
            ("", "expected a value at character 1"),
            ("not json", "expected true, false or null at character 1"),
            ("oops", "expected a value at character 1"),
            ("{} x", "trailing characters at character 4"),
            ("{\"a\" 1}", "expected ':' at character 6"),
            ("{\"a\": 1,}", "expected a member name at character 9"),
            ("[1,]", "expected a value at character 4"),
            ("[1 2]", "expected ',' or ']' at character 4"),
            // Each container closes with its own bracket (found by fuzzing).
            (" {\"a\":\"a\" ]", "expected ',' or '}' at character 11"),
            ("[1}", "expected ',' or ']' at character 3"),
            ("01", "trailing characters at character 2"),
            ("1.", "a number without digits at character 3"),
            ("-", "a number without digits at character 2"),
            ("\"é\\x\"", "an unknown escape at character 4"),
            (
                "\"\\u12g4\"",
                "a \\u escape without four hex digits at character 6",
            ),
            ("\"a\tb\"", "a control character in a string at character 3"),
            ("\"open", "an unterminated string at character 6"),
            ("tru", "expected true, false or null at character 1"),
            ("[[[", "expected a value at character 4"),
        ] {
            assert_eq!(check(text), Err(error.to_owned()), "{text:?}");
        }
    }
}
