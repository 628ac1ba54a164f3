//! Splits source text into tokens with their positions.
//!
//! The lexer never fails: a character that starts no token becomes an
//! [`Tok::Error`] token (one per bad character or malformed number or name),
//! and the parser reports it like any other unexpected token. Comments (`//`
//! to the end of the line) and whitespace are dropped; each token records
//! whether it is the first on its line, since statements end at a line end.

use super::Location;
use std::borrow::Cow;

/// What a token is.
#[derive(Clone, PartialEq, Debug)]
pub(super) enum Tok<'a> {
    /// A bare identifier: `[A-Za-z_][A-Za-z0-9_.]*`.
    Ident(&'a str),
    /// `%name`, the name without the sigil (unescaped if quoted).
    Value(Cow<'a, str>),
    /// `@name`, the name without the sigil (unescaped if quoted).
    Func(Cow<'a, str>),
    /// Decimal digits.
    Int(&'a str),
    /// A decimal number with a fraction or an exponent.
    Float(&'a str),
    /// `0x` and hexadecimal digits (without the `0x`).
    Hex(&'a str),
    /// One of `( ) [ ] { } , : = + - *`.
    Punct(char),
    /// `->`.
    Arrow,
    /// A malformed token, with the reason.
    Error(String),
    /// Not produced by the lexer: the parser's view of a line end inside a
    /// statement.
    Eol,
    /// The end of the text.
    Eof,
}

impl Tok<'_> {
    /// How the token is named in messages.
    pub(super) fn describe(&self) -> String {
        match self {
            Tok::Ident(s) => format!("`{s}`"),
            Tok::Value(s) => format!("`%{}`", super::printer::name_text(s)),
            Tok::Func(s) => format!("`@{}`", super::printer::name_text(s)),
            Tok::Int(s) | Tok::Float(s) => format!("`{s}`"),
            Tok::Hex(s) => format!("`0x{s}`"),
            Tok::Punct(c) => format!("`{c}`"),
            Tok::Arrow => "`->`".into(),
            Tok::Error(m) => m.clone(),
            Tok::Eol => "end of line".into(),
            Tok::Eof => "end of file".into(),
        }
    }
}

/// A token and where it is.
#[derive(Clone, Debug)]
pub(super) struct Token<'a> {
    /// The token.
    pub tok: Tok<'a>,
    /// Where it starts.
    pub loc: Location,
    /// The column just after its last character (same line).
    pub end_col: u32,
    /// Whether no token precedes it on its line.
    pub first_on_line: bool,
}

/// Whether `c` may appear in a name after `%` or `@`, or after the first
/// character of an identifier.
pub(super) fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '.'
}

/// Whether `c` may start a bare identifier.
pub(super) fn is_ident_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_'
}

struct Lexer<'a> {
    src: &'a str,
    /// Byte offset of the next character.
    pos: usize,
    line: u32,
    col: u32,
    /// Whether a token was already produced on the current line.
    seen_on_line: bool,
}

impl<'a> Lexer<'a> {
    fn peek(&self) -> Option<char> {
        // ASCII without decoding: most text is ASCII.
        match self.src.as_bytes().get(self.pos) {
            Some(&b) if b.is_ascii() => Some(char::from(b)),
            Some(_) => self.src[self.pos..].chars().next(),
            None => None,
        }
    }

    fn peek2(&self) -> Option<char> {
        let next = self.pos + self.peek()?.len_utf8();
        match self.src.as_bytes().get(next) {
            Some(&b) if b.is_ascii() => Some(char::from(b)),
            Some(_) => self.src[next..].chars().next(),
            None => None,
        }
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += c.len_utf8();
        if c == '\n' {
            self.line = self.line.saturating_add(1);
            self.col = 1;
            self.seen_on_line = false;
        } else {
            self.col = self.col.saturating_add(1);
        }
        Some(c)
    }

    /// Consumes characters while `pred` holds; returns the text consumed.
    fn take_while(&mut self, pred: impl Fn(char) -> bool) -> &'a str {
        let start = self.pos;
        while self.peek().is_some_and(&pred) {
            self.bump();
        }
        &self.src[start..self.pos]
    }

    fn skip_trivia(&mut self) {
        loop {
            match self.peek() {
                Some(c) if c.is_whitespace() => {
                    self.bump();
                }
                Some('/') if self.peek2() == Some('/') => {
                    self.take_while(|c| c != '\n');
                }
                _ => return,
            }
        }
    }

    fn next_token(&mut self) -> Token<'a> {
        self.skip_trivia();
        let loc = Location {
            line: self.line,
            col: self.col,
        };
        let first_on_line = !self.seen_on_line;
        self.seen_on_line = true;
        let tok = match self.peek() {
            None => Tok::Eof,
            Some(c) => self.token(c),
        };
        Token {
            tok,
            loc,
            end_col: self.col,
            first_on_line,
        }
    }

    fn token(&mut self, c: char) -> Tok<'a> {
        match c {
            '%' | '@' => {
                self.bump();
                match self.name() {
                    Ok(name) if c == '%' => Tok::Value(name),
                    Ok(name) => Tok::Func(name),
                    Err(m) => Tok::Error(m),
                }
            }
            '-' if self.peek2() == Some('>') => {
                self.bump();
                self.bump();
                Tok::Arrow
            }
            '(' | ')' | '[' | ']' | '{' | '}' | ',' | ':' | '=' | '+' | '-' | '*' => {
                self.bump();
                Tok::Punct(c)
            }
            c if c.is_ascii_digit() => self.number(),
            c if is_ident_start(c) => Tok::Ident(self.take_while(is_name_char)),
            c => {
                self.bump();
                Tok::Error(format!("unexpected character {c:?}"))
            }
        }
    }

    /// A name after `%` or `@`: name characters, or a quoted string.
    fn name(&mut self) -> Result<Cow<'a, str>, String> {
        if self.peek() == Some('"') {
            return self.quoted().map(Cow::Owned);
        }
        let name = self.take_while(is_name_char);
        if name.is_empty() {
            return Err("expected a name after the sigil".into());
        }
        Ok(Cow::Borrowed(name))
    }

    /// `"..."` with escapes `\\`, `\"`, `\n`, `\t`, `\u{HEX}`; on one line.
    fn quoted(&mut self) -> Result<String, String> {
        self.bump();
        let mut out = String::new();
        loop {
            match self.peek() {
                None | Some('\n') => return Err("unterminated quoted name".into()),
                Some('"') => {
                    self.bump();
                    return Ok(out);
                }
                Some('\\') => {
                    self.bump();
                    match self.bump() {
                        Some('\\') => out.push('\\'),
                        Some('"') => out.push('"'),
                        Some('n') => out.push('\n'),
                        Some('t') => out.push('\t'),
                        Some('u') if self.peek() == Some('{') => {
                            self.bump();
                            let hex = self.take_while(|c| c.is_ascii_hexdigit());
                            let ch = (hex.len() <= 6)
                                .then(|| u32::from_str_radix(hex, 16).ok())
                                .flatten()
                                .and_then(char::from_u32);
                            match (ch, self.peek()) {
                                (Some(ch), Some('}')) => {
                                    self.bump();
                                    out.push(ch);
                                }
                                _ => return Err("malformed `\\u{...}` escape in name".into()),
                            }
                        }
                        _ => return Err("unknown escape in quoted name".into()),
                    }
                }
                Some(c) => {
                    self.bump();
                    out.push(c);
                }
            }
        }
    }

    /// `0xHEX`, or digits with an optional `.digits` and `e[+-]digits`.
    fn number(&mut self) -> Tok<'a> {
        let start = self.pos;
        if self.peek() == Some('0') && matches!(self.peek2(), Some('x' | 'X')) {
            self.bump();
            self.bump();
            let hex = self.take_while(|c| c.is_ascii_hexdigit());
            if hex.is_empty() || self.peek().is_some_and(is_name_char) {
                self.take_while(is_name_char);
                return Tok::Error(format!("malformed number `{}`", &self.src[start..self.pos]));
            }
            return Tok::Hex(hex);
        }
        self.take_while(|c| c.is_ascii_digit());
        let mut float = false;
        if self.peek() == Some('.') && self.peek2().is_some_and(|c| c.is_ascii_digit()) {
            self.bump();
            self.take_while(|c| c.is_ascii_digit());
            float = true;
        }
        if matches!(self.peek(), Some('e' | 'E')) {
            let rest = &self.src[self.pos + 1..];
            let digits_at = usize::from(rest.starts_with(['+', '-']));
            if rest[digits_at..].starts_with(|c: char| c.is_ascii_digit()) {
                self.bump();
                if digits_at == 1 {
                    self.bump();
                }
                self.take_while(|c| c.is_ascii_digit());
                float = true;
            }
        }
        if self.peek().is_some_and(is_name_char) {
            self.take_while(is_name_char);
            return Tok::Error(format!("malformed number `{}`", &self.src[start..self.pos]));
        }
        let text = &self.src[start..self.pos];
        if float {
            Tok::Float(text)
        } else {
            Tok::Int(text)
        }
    }
}

/// Every token of `src`, ending with one [`Tok::Eof`].
pub(super) fn tokenize(src: &str) -> Vec<Token<'_>> {
    // A byte-order mark is not part of the text.
    let bom = if src.starts_with('\u{feff}') { 3 } else { 0 };
    let mut lx = Lexer {
        src,
        pos: bom,
        line: 1,
        col: 1,
        seen_on_line: false,
    };
    let mut out = Vec::new();
    loop {
        let t = lx.next_token();
        let eof = t.tok == Tok::Eof;
        out.push(t);
        if eof {
            return out;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(s: &str) -> Vec<Tok<'_>> {
        tokenize(s).into_iter().map(|t| t.tok).collect()
    }

    #[test]
    fn tokens_and_positions() {
        let ts = tokenize("func @f(%x: f64[n-1]) -> f64 { // c\n  return %x\n}");
        let kinds: Vec<_> = ts.iter().map(|t| t.tok.clone()).collect();
        assert_eq!(
            kinds,
            vec![
                Tok::Ident("func"),
                Tok::Func("f".into()),
                Tok::Punct('('),
                Tok::Value("x".into()),
                Tok::Punct(':'),
                Tok::Ident("f64"),
                Tok::Punct('['),
                Tok::Ident("n"),
                Tok::Punct('-'),
                Tok::Int("1"),
                Tok::Punct(']'),
                Tok::Punct(')'),
                Tok::Arrow,
                Tok::Ident("f64"),
                Tok::Punct('{'),
                Tok::Ident("return"),
                Tok::Value("x".into()),
                Tok::Punct('}'),
                Tok::Eof,
            ]
        );
        let ret = &ts[15];
        assert_eq!((ret.loc.line, ret.loc.col, ret.first_on_line), (2, 3, true));
        assert!(!ts[16].first_on_line);
        assert_eq!(ts[16].end_col, 12);
    }

    #[test]
    fn numbers() {
        assert_eq!(
            toks("1 1.5 1e-300 2E+5 0x7ff 1.e3"),
            vec![
                Tok::Int("1"),
                Tok::Float("1.5"),
                Tok::Float("1e-300"),
                Tok::Float("2E+5"),
                Tok::Hex("7ff"),
                Tok::Error("malformed number `1.e3`".into()),
                Tok::Eof
            ]
        );
        assert_eq!(
            toks("3n"),
            vec![Tok::Error("malformed number `3n`".into()), Tok::Eof]
        );
    }

    #[test]
    fn quoted_names() {
        assert_eq!(
            toks(r#"%"a b\"\\\u{e9}" %"open"#),
            vec![
                Tok::Value("a b\"\\é".into()),
                Tok::Error("unterminated quoted name".into()),
                Tok::Eof
            ]
        );
    }
}
