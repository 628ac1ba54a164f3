//! The syntactic parser: tokens to [`FuncAst`]s.
//!
//! Recursive descent with one token of lookahead. Inside a function body,
//! each statement ends at the end of its line; an error in a statement is
//! recorded and parsing resumes at the next line, so one run reports many
//! errors. An error in a function header skips to the next line that starts
//! with `func`.
//!
//! Bounds that keep hostile input harmless: dimension expressions nest at
//! most [`MAX_DIM_DEPTH`] parentheses deep (the only recursion), products of
//! dimensions are refused once their canonical text would exceed
//! [`MAX_DIM_TEXT`] characters (polynomial products can grow exponentially),
//! and parsing stops after [`MAX_ERRORS`] errors. Nothing is allocated from a
//! number written in the text.

use super::ast::{
    ConstLit, FuncAst, Lit, LitKind, Name, OpAst, OpKind, ResultDecl, Return, RulesAst, Stmt,
};
use super::lexer::{Tok, Token, tokenize};
use super::{Location, ParseError};
use crate::checkpoint::Checkpoint;
use crate::dim::Dim;
use crate::op::{BinaryOp, CmpOp, ReduceOp, SliceRange, UnaryOp};
use crate::types::{Elem, Shape, Type};

/// Parsing stops after this many errors.
pub(super) const MAX_ERRORS: usize = 100;
/// The deepest nesting of parentheses in a dimension expression.
pub(super) const MAX_DIM_DEPTH: u32 = 64;
/// The longest canonical text of a factor or result of a dimension product.
pub(super) const MAX_DIM_TEXT: usize = 1024;

/// The error was recorded; the caller recovers.
struct Reported;

/// The optional trailing attributes of a loop op.
struct LoopTail {
    trips: Option<Name>,
    reverse: bool,
    checkpoint: Checkpoint,
}

type PResult<T> = Result<T, Reported>;

struct Parser<'a> {
    toks: Vec<Token<'a>>,
    i: usize,
    /// The first token of the statement being parsed: tokens on later lines
    /// are then hidden behind [`Tok::Eol`].
    stmt_start: Option<usize>,
    eol: Tok<'a>,
    errors: Vec<ParseError>,
}

/// Parses `src` into function syntax trees and the syntax errors found.
#[cfg(test)]
fn parse(src: &str) -> (Vec<FuncAst>, Vec<ParseError>) {
    let (funcs, _, errors) = parse_with_rules(src);
    (funcs, errors)
}

/// Parses `src` into function syntax trees, the custom-rule attachments
/// (`rules` lines between functions) and the syntax errors found.
pub(super) fn parse_with_rules(src: &str) -> (Vec<FuncAst>, Vec<RulesAst>, Vec<ParseError>) {
    let mut p = Parser {
        toks: tokenize(src),
        i: 0,
        stmt_start: None,
        eol: Tok::Eol,
        errors: Vec::new(),
    };
    let mut funcs = Vec::new();
    let mut rules = Vec::new();
    while !p.full() {
        match p.peek() {
            Tok::Eof => break,
            Tok::Ident("func") => {
                if let Some(f) = p.func() {
                    funcs.push(f);
                }
            }
            Tok::Ident("rules") => {
                p.stmt_start = Some(p.i);
                if let Ok(r) = p.rules_decl() {
                    rules.push(r);
                }
                p.skip_line();
                p.stmt_start = None;
            }
            t => {
                let msg = format!("expected `func`, found {}", t.describe());
                let _ = p.error_here::<()>(msg);
                p.skip_to_func();
            }
        }
    }
    (funcs, rules, p.errors)
}

/// The ops whose names are not those of a unary, binary, comparison or
/// reduction.
const OTHER_OPS: [&str; 18] = [
    "const",
    "iota",
    "size",
    "select",
    "broadcast",
    "reshape",
    "transpose",
    "slice",
    "concat",
    "pad",
    "gather",
    "scatter_add",
    "matmul",
    "convert",
    "call",
    "scan",
    "while",
    "scan_adjoint",
];

/// The op named `name`, as a static string.
fn find_op(name: &str) -> Option<&'static str> {
    let found = OTHER_OPS.iter().copied().find(|&n| n == name);
    found
        .or_else(|| UnaryOp::ALL.iter().map(|u| u.name()).find(|&n| n == name))
        .or_else(|| BinaryOp::ALL.iter().map(|b| b.name()).find(|&n| n == name))
        .or_else(|| CmpOp::ALL.iter().map(|c| c.name()).find(|&n| n == name))
        .or_else(|| ReduceOp::ALL.iter().map(|r| r.name()).find(|&n| n == name))
}

/// Every op name, for "did you mean" hints.
fn op_names() -> Vec<&'static str> {
    let mut names = OTHER_OPS.to_vec();
    names.extend(UnaryOp::ALL.iter().map(|u| u.name()));
    names.extend(BinaryOp::ALL.iter().map(|b| b.name()));
    names.extend(CmpOp::ALL.iter().map(|c| c.name()));
    names.extend(ReduceOp::ALL.iter().map(|r| r.name()));
    names
}

/// Levenshtein distance, for suggestions (short strings only).
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

impl<'a> Parser<'a> {
    // ---- token access -------------------------------------------------

    fn full(&self) -> bool {
        self.errors.len() >= MAX_ERRORS
    }

    /// Whether the current token lies past the end of the current statement.
    fn at_break(&self) -> bool {
        matches!(self.stmt_start, Some(s) if self.i > s && self.toks[self.i].first_on_line)
    }

    fn peek(&self) -> &Tok<'a> {
        if self.at_break() {
            &self.eol
        } else {
            &self.toks[self.i].tok
        }
    }

    /// Where the current token is; at a line end or the end of the text,
    /// just after the previous token.
    fn loc(&self) -> Location {
        let t = &self.toks[self.i];
        if self.at_break() || t.tok == Tok::Eof {
            match self.i.checked_sub(1).map(|j| &self.toks[j]) {
                Some(prev) => Location {
                    line: prev.loc.line,
                    col: prev.end_col,
                },
                None => t.loc,
            }
        } else {
            t.loc
        }
    }

    /// Moves past the current token (never past the end or a line break).
    fn bump(&mut self) {
        if !self.at_break() && self.toks[self.i].tok != Tok::Eof {
            self.i += 1;
        }
    }

    fn is_punct(&self, c: char) -> bool {
        *self.peek() == Tok::Punct(c)
    }

    fn eat_punct(&mut self, c: char) -> bool {
        let yes = self.is_punct(c);
        if yes {
            self.bump();
        }
        yes
    }

    // ---- errors and recovery -------------------------------------------

    fn error_at<T>(&mut self, loc: Location, message: String) -> PResult<T> {
        if self.errors.len() < MAX_ERRORS {
            self.errors.push(ParseError {
                line: loc.line,
                col: loc.col,
                message,
            });
        }
        Err(Reported)
    }

    /// Reports `message` at the current token. A malformed token reports its
    /// own problem instead.
    fn error_here<T>(&mut self, message: String) -> PResult<T> {
        let loc = self.loc();
        match self.peek() {
            Tok::Error(m) => {
                let m = m.clone();
                self.error_at(loc, m)
            }
            _ => self.error_at(loc, message),
        }
    }

    /// `expected {what}, found {current}`.
    fn expected<T>(&mut self, what: &str) -> PResult<T> {
        let msg = format!("expected {what}, found {}", self.peek().describe());
        self.error_here(msg)
    }

    fn expect_punct(&mut self, c: char, what: &str) -> PResult<()> {
        if self.eat_punct(c) {
            Ok(())
        } else {
            self.expected(what)
        }
    }

    /// Like [`Self::expect_punct`], with the description made only if needed.
    fn expect_punct_lazy(&mut self, c: char, what: impl FnOnce() -> String) -> PResult<()> {
        if self.eat_punct(c) {
            Ok(())
        } else {
            self.expected(&what())
        }
    }

    /// Skips the rest of the current statement's line.
    fn skip_line(&mut self) {
        let start = self.stmt_start.unwrap_or(self.i);
        loop {
            let t = &self.toks[self.i];
            if t.tok == Tok::Eof || (self.i > start && t.first_on_line) {
                return;
            }
            self.i += 1;
        }
    }

    /// Skips at least one token, then up to a line that starts with `func`.
    fn skip_to_func(&mut self) {
        self.stmt_start = None;
        loop {
            if self.toks[self.i].tok == Tok::Eof {
                return;
            }
            self.i += 1;
            let t = &self.toks[self.i];
            if t.tok == Tok::Eof || (t.first_on_line && t.tok == Tok::Ident("func")) {
                return;
            }
        }
    }

    // ---- functions -----------------------------------------------------

    fn func(&mut self) -> Option<FuncAst> {
        self.bump();
        let name = match self.peek().clone() {
            Tok::Func(n) => {
                let name = Name {
                    text: n.into_owned(),
                    loc: self.loc(),
                };
                self.bump();
                name
            }
            _ => {
                let _ = self.expected::<()>("a function name `@name` after `func`");
                self.skip_to_func();
                return None;
            }
        };
        let mut f = FuncAst {
            name,
            params: Vec::new(),
            results: Vec::new(),
            body: Vec::new(),
            ret: None,
            header_ok: false,
        };
        if self.header(&mut f).is_err() {
            self.skip_to_func();
            return Some(f);
        }
        f.header_ok = true;
        self.body(&mut f);
        Some(f)
    }

    /// `rules @f, jvp=@r, vjp=@s` (either rule may be left out, not both).
    fn rules_decl(&mut self) -> PResult<RulesAst> {
        self.bump();
        let func = self.func_ref("a function name `@name` after `rules`")?;
        let (mut jvp, mut vjp) = (None, None);
        while self.eat_punct(',') {
            let is_jvp = match self.peek() {
                Tok::Ident("jvp") => true,
                Tok::Ident("vjp") => false,
                _ => return self.expected("`jvp=` or `vjp=`"),
            };
            let loc = self.loc();
            self.bump();
            self.expect_punct('=', "`=` and the rule `@name`")?;
            let rule = self.func_ref("the rule `@name`")?;
            let slot = if is_jvp { &mut jvp } else { &mut vjp };
            if slot.replace(rule).is_some() {
                let kind = if is_jvp { "jvp" } else { "vjp" };
                return self.error_at(loc, format!("`{kind}=` is given twice"));
            }
        }
        if jvp.is_none() && vjp.is_none() {
            return self.expected("`, jvp=@rule` or `, vjp=@rule`");
        }
        self.end_of_stmt()?;
        Ok(RulesAst { func, jvp, vjp })
    }

    /// `(params) -> results {`
    fn header(&mut self, f: &mut FuncAst) -> PResult<()> {
        self.expect_punct('(', "`(` after the function name")?;
        if !self.eat_punct(')') {
            loop {
                let name = match self.peek().clone() {
                    Tok::Value(n) => Name {
                        text: n.into_owned(),
                        loc: self.loc(),
                    },
                    _ => return self.expected("a parameter `%name: type`"),
                };
                self.bump();
                self.expect_punct(':', "`:` and the parameter's type")?;
                let (ty, _) = self.ty()?;
                f.params.push((name, ty));
                if self.eat_punct(')') {
                    break;
                }
                self.expect_punct(',', "`,` or `)` after a parameter")?;
            }
        }
        if *self.peek() != Tok::Arrow {
            return self.expected("`->` and the result types");
        }
        self.bump();
        if self.eat_punct('(') {
            if !self.eat_punct(')') {
                loop {
                    f.results.push(self.ty()?);
                    if self.eat_punct(')') {
                        break;
                    }
                    self.expect_punct(',', "`,` or `)` in the result types")?;
                }
            }
        } else {
            f.results.push(self.ty()?);
        }
        self.expect_punct('{', "`{` to open the function body")
    }

    fn body(&mut self, f: &mut FuncAst) {
        loop {
            if self.full() {
                return;
            }
            self.stmt_start = None;
            let loc = self.loc();
            let first_on_line = self.toks[self.i].first_on_line;
            match self.peek().clone() {
                Tok::Punct('}') => {
                    self.bump();
                    let _ = self.error_at::<()>(loc, "expected `return` before `}`".into());
                    return;
                }
                Tok::Eof => {
                    let _ = self.error_at::<()>(
                        loc,
                        format!(
                            "unexpected end of file: the body of @{} is not closed (expected `return` and `}}`)",
                            f.name.text
                        ),
                    );
                    return;
                }
                Tok::Ident("func") if first_on_line => {
                    let _ = self.error_at::<()>(
                        loc,
                        format!(
                            "expected `return` and `}}` to close @{} before the next `func`",
                            f.name.text
                        ),
                    );
                    return;
                }
                Tok::Ident("return") => {
                    self.stmt_start = Some(self.i);
                    match self.ret() {
                        Ok(r) => f.ret = Some(r),
                        Err(Reported) => self.skip_line(),
                    }
                    self.stmt_start = None;
                    self.close_body(f);
                    return;
                }
                Tok::Value(_) | Tok::Ident(_) => {
                    self.stmt_start = Some(self.i);
                    let stmt = self.stmt();
                    f.body.push(stmt);
                }
                _ => {
                    self.stmt_start = Some(self.i);
                    let _ = self.expected::<()>("a statement `%name = op ...` or `return`");
                    self.skip_line();
                }
            }
        }
    }

    /// After `return`: the closing `}`.
    fn close_body(&mut self, f: &FuncAst) {
        if self.eat_punct('}') {
            return;
        }
        let msg = format!(
            "expected `}}` to close @{} after its return statement, found {}",
            f.name.text,
            self.peek().describe()
        );
        let _ = self.error_here::<()>(msg);
        // Skip to the closing brace, unless the function is not closed at all.
        loop {
            let t = &self.toks[self.i];
            match t.tok {
                Tok::Eof => return,
                Tok::Ident("func") if t.first_on_line => return,
                Tok::Punct('}') => {
                    self.i += 1;
                    return;
                }
                _ => self.i += 1,
            }
        }
    }

    /// `return %a, %b` (possibly no values).
    fn ret(&mut self) -> PResult<Return> {
        let loc = self.loc();
        self.bump();
        let mut values = Vec::new();
        if matches!(self.peek(), Tok::Value(_)) {
            values.push(self.value("a returned value")?);
            while self.eat_punct(',') {
                values.push(self.value("a returned value after `,`")?);
            }
        }
        self.end_of_stmt()?;
        Ok(Return { loc, values })
    }

    /// A statement ends at the line end (or a `}` or the end of the text).
    fn end_of_stmt(&mut self) -> PResult<()> {
        match self.peek() {
            Tok::Eol | Tok::Eof | Tok::Punct('}') => Ok(()),
            _ => self.expected("end of line"),
        }
    }

    /// `%a: T, %b = op ...` or a result-less `op ...`.
    fn stmt(&mut self) -> Stmt {
        let loc = self.loc();
        let mut results = Vec::new();
        let op = self.stmt_parts(&mut results);
        if op.is_err() {
            self.skip_line();
        }
        Stmt {
            loc,
            results,
            op: op.ok(),
        }
    }

    fn stmt_parts(&mut self, results: &mut Vec<ResultDecl>) -> PResult<OpAst> {
        if matches!(self.peek(), Tok::Value(_)) {
            loop {
                let name = self.value("a result name")?;
                let ty = if self.eat_punct(':') {
                    Some(self.ty()?)
                } else {
                    None
                };
                results.push(ResultDecl { name, ty });
                if !self.eat_punct(',') {
                    break;
                }
            }
            self.expect_punct('=', "`=` after the result names")?;
        }
        let op = self.op()?;
        self.end_of_stmt()?;
        Ok(op)
    }

    // ---- small pieces --------------------------------------------------

    /// A `%name` operand.
    fn value(&mut self, what: &str) -> PResult<Name> {
        match self.peek().clone() {
            Tok::Value(n) => {
                let name = Name {
                    text: n.into_owned(),
                    loc: self.loc(),
                };
                self.bump();
                Ok(name)
            }
            _ => self.expected(what),
        }
    }

    /// A `@name` function reference.
    fn func_ref(&mut self, what: &str) -> PResult<Name> {
        match self.peek().clone() {
            Tok::Func(n) => {
                let name = Name {
                    text: n.into_owned(),
                    loc: self.loc(),
                };
                self.bump();
                Ok(name)
            }
            _ => self.expected(what),
        }
    }

    /// `, key=`.
    fn attr(&mut self, key: &str, op: &str) -> PResult<()> {
        self.expect_punct_lazy(',', || format!("`,` and `{key}=` (`{op}` needs it)"))?;
        self.key(key, op)
    }

    /// `key=`.
    fn key(&mut self, key: &str, op: &str) -> PResult<()> {
        if *self.peek() != Tok::Ident(key) {
            return self.expected(&format!("`{key}=` (`{op}` needs it)"));
        }
        self.bump();
        self.expect_punct_lazy('=', || format!("`=` after `{key}`"))
    }

    /// Decimal digits as an integer of type `T`.
    fn int<T: std::str::FromStr>(&mut self, what: &str) -> PResult<T> {
        match *self.peek() {
            Tok::Int(s) => match s.parse::<T>() {
                Ok(v) => {
                    self.bump();
                    Ok(v)
                }
                Err(_) => {
                    let loc = self.loc();
                    self.error_at(loc, format!("{what} `{s}` is out of range"))
                }
            },
            _ => self.expected(what),
        }
    }

    /// `[a, b, ...]`, possibly empty, each item parsed by `item`.
    fn list<T>(
        &mut self,
        what: &str,
        mut item: impl FnMut(&mut Self) -> PResult<T>,
    ) -> PResult<Vec<T>> {
        self.expect_punct_lazy('[', || format!("`[` to open {what}"))?;
        let mut out = Vec::new();
        if self.eat_punct(']') {
            return Ok(out);
        }
        loop {
            out.push(item(self)?);
            if self.eat_punct(']') {
                return Ok(out);
            }
            self.expect_punct_lazy(',', || format!("`,` or `]` in {what}"))?;
        }
    }

    fn axis_list(&mut self, what: &str) -> PResult<Vec<usize>> {
        self.list(what, |p| p.int("an axis number"))
    }

    /// `(%a, %b)`, possibly `()`.
    fn group(&mut self, what: &str) -> PResult<Vec<Name>> {
        self.expect_punct_lazy('(', || format!("`(` to open {what}"))?;
        let mut out = Vec::new();
        if self.eat_punct(')') {
            return Ok(out);
        }
        loop {
            out.push(self.value("a value `%name`")?);
            if self.eat_punct(')') {
                return Ok(out);
            }
            self.expect_punct_lazy(',', || format!("`,` or `)` in {what}"))?;
        }
    }

    /// An element type with an optional shape: `f64`, `f64[]`, `i64[n, 3]`.
    fn ty(&mut self) -> PResult<(Type, Location)> {
        let loc = self.loc();
        let elem = match *self.peek() {
            Tok::Ident(s) => match Elem::from_name(s) {
                Some(e) => e,
                None => {
                    return self.error_at(
                        loc,
                        format!("unknown element type `{s}` (expected f64, f32, i64 or bool)"),
                    );
                }
            },
            _ => return self.expected("a type such as `f64` or `f64[n, 3]`"),
        };
        self.bump();
        let dims = if self.is_punct('[') {
            self.list("the shape", |p| p.dim())?
        } else {
            Vec::new()
        };
        Ok((Type::new(elem, Shape(dims)), loc))
    }

    /// A literal: `1.5`, `-2`, `1e-300`, `inf`, `nan`, `nan(0x...)`, `true`.
    fn lit(&mut self) -> PResult<Lit> {
        let loc = self.loc();
        let neg = self.eat_punct('-');
        let kind = match self.peek().clone() {
            Tok::Int(s) => LitKind::Int(s.to_string()),
            Tok::Float(s) => LitKind::Float(s.to_string()),
            Tok::Ident("inf") => LitKind::Inf,
            Tok::Ident("nan") => {
                self.bump();
                if !self.eat_punct('(') {
                    return Ok(Lit {
                        neg,
                        kind: LitKind::Nan(None),
                        loc,
                    });
                }
                let bits = match *self.peek() {
                    Tok::Hex(h) => h.to_string(),
                    _ => return self.expected("the bits of a NaN, `0x` and hexadecimal digits"),
                };
                self.bump();
                self.expect_punct(')', "`)` after the bits of a NaN")?;
                return Ok(Lit {
                    neg,
                    kind: LitKind::Nan(Some(bits)),
                    loc,
                });
            }
            Tok::Ident("true") if !neg => LitKind::Bool(true),
            Tok::Ident("false") if !neg => LitKind::Bool(false),
            _ => return self.expected("a literal (a number, `inf`, `nan`, `true` or `false`)"),
        };
        self.bump();
        Ok(Lit { neg, kind, loc })
    }

    // ---- dimensions ----------------------------------------------------

    /// A dimension expression: integers, size variables, `+ - *`, parentheses.
    fn dim(&mut self) -> PResult<Dim> {
        self.dim_expr(0)
    }

    fn dim_expr(&mut self, depth: u32) -> PResult<Dim> {
        let mut acc = {
            let neg = self.eat_punct('-');
            self.dim_term(neg, depth)?
        };
        loop {
            let loc = self.loc();
            let neg = match self.peek() {
                Tok::Punct('+') => false,
                Tok::Punct('-') => true,
                _ => return Ok(acc),
            };
            self.bump();
            let term = self.dim_term(neg, depth)?;
            acc = match acc.checked_add(&term) {
                Ok(d) => d,
                Err(_) => return self.error_at(loc, "dimension arithmetic overflows".into()),
            };
        }
    }

    /// A product of factors. The sign is folded into a leading integer so
    /// that `-9223372036854775808` reads back.
    fn dim_term(&mut self, neg: bool, depth: u32) -> PResult<Dim> {
        let loc = self.loc();
        let mut acc = match *self.peek() {
            Tok::Int(s) => {
                let value = s
                    .parse::<i128>()
                    .ok()
                    .map(|m| if neg { -m } else { m })
                    .and_then(|v| i64::try_from(v).ok());
                match value {
                    Some(v) => {
                        self.bump();
                        Dim::Known(v)
                    }
                    None => {
                        return self.error_at(loc, format!("dimension `{s}` is out of range"));
                    }
                }
            }
            _ => {
                let f = self.dim_factor(depth)?;
                if neg {
                    self.dim_mul(&f, &Dim::Known(-1), loc)?
                } else {
                    f
                }
            }
        };
        while self.is_punct('*') {
            let loc = self.loc();
            self.bump();
            let f = self.dim_factor(depth)?;
            acc = self.dim_mul(&acc, &f, loc)?;
        }
        Ok(acc)
    }

    fn dim_factor(&mut self, depth: u32) -> PResult<Dim> {
        let loc = self.loc();
        match *self.peek() {
            Tok::Int(s) => match s.parse::<i64>() {
                Ok(v) => {
                    self.bump();
                    Ok(Dim::Known(v))
                }
                Err(_) => self.error_at(loc, format!("dimension `{s}` is out of range")),
            },
            Tok::Ident(v) => {
                self.bump();
                Ok(Dim::var(v))
            }
            Tok::Punct('(') => {
                if depth >= MAX_DIM_DEPTH {
                    return self.error_at(
                        loc,
                        format!(
                            "dimension expression nested too deeply (more than {MAX_DIM_DEPTH} parentheses)"
                        ),
                    );
                }
                self.bump();
                let d = self.dim_expr(depth + 1)?;
                self.expect_punct(')', "`)` to close the parenthesis")?;
                Ok(d)
            }
            _ => self.expected("a dimension (an integer, a size variable or `(`)"),
        }
    }

    fn dim_mul(&mut self, a: &Dim, b: &Dim, loc: Location) -> PResult<Dim> {
        let too_big = |d: &Dim| d.known().is_none() && d.to_string().len() > MAX_DIM_TEXT;
        if too_big(a) || too_big(b) {
            return self.error_at(loc, "dimension expression too large".into());
        }
        match a.checked_mul(b) {
            Ok(d) if too_big(&d) => self.error_at(loc, "dimension expression too large".into()),
            Ok(d) => Ok(d),
            Err(_) => self.error_at(loc, "dimension arithmetic overflows".into()),
        }
    }

    // ---- ops -----------------------------------------------------------

    /// `n` operands separated by commas.
    fn operands(&mut self, op: &str, n: usize) -> PResult<Vec<Name>> {
        let mut out = Vec::with_capacity(n);
        for k in 0..n {
            if k > 0 && !self.eat_punct(',') {
                let msg = format!(
                    "missing operand: `{op}` takes {n} operands, expected `,`, found {}",
                    self.peek().describe()
                );
                return self.error_here(msg);
            }
            if !matches!(self.peek(), Tok::Value(_)) {
                let msg = format!(
                    "missing operand: `{op}` takes {n} operand{}, found {}",
                    if n == 1 { "" } else { "s" },
                    self.peek().describe()
                );
                return self.error_here(msg);
            }
            out.push(self.value("an operand")?);
        }
        Ok(out)
    }

    fn op(&mut self) -> PResult<OpAst> {
        let loc = self.loc();
        let name = match *self.peek() {
            Tok::Ident(s) => s,
            _ => return self.expected("an op name"),
        };
        let Some(name) = find_op(name) else {
            // Only short names get a hint, so the cost stays small.
            let hint = op_names()
                .into_iter()
                .filter(|n| name.len() <= 32 && edit_distance(name, n) <= 2)
                .min_by_key(|n| edit_distance(name, n))
                .map(|n| format!(" (did you mean `{n}`?)"))
                .unwrap_or_default();
            return self.error_at(loc, format!("unknown op `{name}`{hint}"));
        };
        self.bump();
        let (kind, args) = self.op_body(name)?;
        Ok(OpAst {
            name,
            loc,
            kind,
            args,
        })
    }

    fn op_body(&mut self, name: &'static str) -> PResult<(OpKind, Vec<Name>)> {
        if let Some(&u) = UnaryOp::ALL.iter().find(|u| u.name() == name) {
            return Ok((OpKind::Unary(u), self.operands(name, 1)?));
        }
        if let Some(&b) = BinaryOp::ALL.iter().find(|b| b.name() == name) {
            return Ok((OpKind::Binary(b), self.operands(name, 2)?));
        }
        if let Some(&c) = CmpOp::ALL.iter().find(|c| c.name() == name) {
            return Ok((OpKind::Compare(c), self.operands(name, 2)?));
        }
        if let Some(&r) = ReduceOp::ALL.iter().find(|r| r.name() == name) {
            let args = self.operands(name, 1)?;
            self.attr("axes", name)?;
            let axes = self.axis_list("the reduced axes")?;
            return Ok((OpKind::Reduce { op: r, axes }, args));
        }
        let (kind, args) = match name {
            "const" => {
                let lit = if self.is_punct('[') {
                    ConstLit::Dense(self.list("the elements", |p| p.lit())?)
                } else {
                    ConstLit::Splat(self.lit()?)
                };
                (OpKind::Const(lit), vec![])
            }
            "iota" => {
                self.key("axis", name)?;
                let axis = self.int("an axis number")?;
                (OpKind::Iota { axis }, vec![])
            }
            "size" => (OpKind::Size { dim: self.dim()? }, vec![]),
            "select" => (OpKind::Select, self.operands(name, 3)?),
            "broadcast" => {
                let args = self.operands(name, 1)?;
                self.attr("dims", name)?;
                let dims = self.axis_list("the result axes")?;
                (OpKind::Broadcast { dims }, args)
            }
            "reshape" => (OpKind::Reshape, self.operands(name, 1)?),
            "convert" => (OpKind::Convert, self.operands(name, 1)?),
            "matmul" => (OpKind::Matmul, self.operands(name, 2)?),
            "transpose" => {
                let args = self.operands(name, 1)?;
                self.attr("perm", name)?;
                let perm = self.axis_list("the permutation")?;
                (OpKind::Transpose { perm }, args)
            }
            "slice" => {
                let args = self.operands(name, 1)?;
                self.expect_punct(',', "`,` and the ranges `[start:stop, ...]`")?;
                let ranges = self.list("the slice ranges", |p| p.slice_range())?;
                (OpKind::Slice { ranges }, args)
            }
            "concat" => {
                let mut args = self.operands(name, 1)?;
                loop {
                    self.expect_punct(',', "`,` and another operand or `axis=`")?;
                    if matches!(self.peek(), Tok::Value(_)) {
                        args.push(self.value("an operand")?);
                    } else {
                        break;
                    }
                }
                self.key("axis", name)?;
                let axis = self.int("an axis number")?;
                (OpKind::Concat { axis }, args)
            }
            "pad" => {
                let args = self.operands(name, 1)?;
                self.attr("lo", name)?;
                let lo = self.list("the low padding", |p| p.dim())?;
                self.attr("hi", name)?;
                let hi = self.list("the high padding", |p| p.dim())?;
                self.attr("value", name)?;
                let value = self.lit()?;
                let interior = if self.eat_punct(',') {
                    self.key("interior", name)?;
                    self.list("the interior padding", |p| p.int("an interior padding"))?
                } else {
                    vec![0; lo.len()]
                };
                (
                    OpKind::Pad {
                        lo,
                        hi,
                        interior,
                        value,
                    },
                    args,
                )
            }
            "gather" => {
                let args = self.operands(name, 2)?;
                self.attr("axis", name)?;
                let axis = self.int("an axis number")?;
                (OpKind::Gather { axis }, args)
            }
            "scatter_add" => {
                let args = self.operands(name, 2)?;
                self.attr("axis", name)?;
                let axis_loc = self.loc();
                let axis = self.int("an axis number")?;
                (OpKind::ScatterAdd { axis, axis_loc }, args)
            }
            "call" => {
                let func = self.func_ref("the callee `@name`")?;
                let args = self.group("the arguments")?;
                (OpKind::Call { func }, args)
            }
            "scan" => {
                let body = self.func_ref("the body function `@name`")?;
                self.attr("length", name)?;
                let length = self.dim()?;
                self.attr("consts", name)?;
                let mut args = self.group("the constants")?;
                self.attr("carry", name)?;
                let carry = self.group("the carried values")?;
                self.attr("xs", name)?;
                let xs = self.group("the scanned inputs")?;
                let tail = self.loop_tail(name, false)?;
                let (n_consts, n_carry) = (args.len(), carry.len());
                args.extend(carry);
                args.extend(xs);
                let kind = OpKind::Scan {
                    body,
                    length,
                    reverse: tail.reverse,
                    n_consts,
                    n_carry,
                    checkpoint: tail.checkpoint,
                };
                (kind, args)
            }
            "while" => {
                let cond = self.func_ref("the condition function `@name`")?;
                self.expect_punct(',', "`,` and the body function `@name`")?;
                let body = self.func_ref("the body function `@name`")?;
                self.attr("max", name)?;
                let max_trips = self.dim()?;
                self.attr("consts", name)?;
                let mut args = self.group("the constants")?;
                self.attr("init", name)?;
                let init = self.group("the initial state")?;
                let checkpoint = self.checkpoint_tail(name)?;
                let n_consts = args.len();
                args.extend(init);
                let kind = OpKind::While {
                    cond,
                    body,
                    max_trips,
                    n_consts,
                    checkpoint,
                };
                (kind, args)
            }
            "scan_adjoint" => {
                let body = self.func_ref("the body function `@name`")?;
                self.expect_punct(',', "`,` and the adjoint function `@name`")?;
                let adjoint = self.func_ref("the adjoint function `@name`")?;
                self.attr("length", name)?;
                let length = self.dim()?;
                self.attr("consts", name)?;
                let mut args = self.group("the constants")?;
                self.attr("carry", name)?;
                let carry = self.group("the carried values")?;
                self.attr("xs", name)?;
                let xs = self.group("the scanned inputs")?;
                self.attr("adjoint_carry", name)?;
                let acarry = self.group("the adjoint's carried values")?;
                self.attr("adjoint_xs", name)?;
                let axs = self.group("the adjoint's scanned inputs")?;
                let tail = self.loop_tail(name, true)?;
                let counts = [args.len(), carry.len(), xs.len(), acarry.len()];
                args.extend(carry);
                args.extend(xs);
                args.extend(acarry);
                args.extend(axs);
                let trips = tail.trips.is_some();
                args.extend(tail.trips);
                let kind = OpKind::ScanAdjoint {
                    body,
                    adjoint,
                    length,
                    reverse: tail.reverse,
                    checkpoint: tail.checkpoint,
                    counts,
                    trips,
                };
                (kind, args)
            }
            other => {
                // Every name in `op_names` is handled above.
                let loc = self.loc();
                return self.error_at(loc, format!("unknown op `{other}`"));
            }
        };
        Ok((kind, args))
    }

    /// The optional trailing attributes of a loop, in order:
    /// `, trips=%n` (only `scan_adjoint`), `, reverse`, `, checkpoint=P`.
    fn loop_tail(&mut self, op: &str, with_trips: bool) -> PResult<LoopTail> {
        let mut tail = LoopTail {
            trips: None,
            reverse: false,
            checkpoint: Checkpoint::All,
        };
        let expected = if with_trips {
            "`trips=`, `reverse` or `checkpoint=`"
        } else {
            "`reverse` or `checkpoint=`"
        };
        let mut stage = 0;
        while self.eat_punct(',') {
            match *self.peek() {
                Tok::Ident("trips") if with_trips && stage < 1 => {
                    self.key("trips", op)?;
                    tail.trips = Some(self.value("the trip count `%name`")?);
                    stage = 1;
                }
                Tok::Ident("reverse") if stage < 2 => {
                    self.bump();
                    tail.reverse = true;
                    stage = 2;
                }
                Tok::Ident("checkpoint") if stage < 3 => {
                    self.key("checkpoint", op)?;
                    tail.checkpoint = self.checkpoint()?;
                    stage = 3;
                }
                _ => return self.expected(expected),
            }
        }
        Ok(tail)
    }

    /// `, checkpoint=P` if present.
    fn checkpoint_tail(&mut self, op: &str) -> PResult<Checkpoint> {
        if !self.eat_punct(',') {
            return Ok(Checkpoint::All);
        }
        if *self.peek() != Tok::Ident("checkpoint") {
            return self.expected("`checkpoint=`");
        }
        self.key("checkpoint", op)?;
        self.checkpoint()
    }

    /// `all`, `every(k)` or `binomial(s)`.
    fn checkpoint(&mut self) -> PResult<Checkpoint> {
        let what = "a checkpoint policy: `all`, `every(k)` or `binomial(s)`";
        let kind = match *self.peek() {
            Tok::Ident(k @ ("all" | "every" | "binomial")) => k,
            _ => return self.expected(what),
        };
        self.bump();
        if kind == "all" {
            return Ok(Checkpoint::All);
        }
        self.expect_punct_lazy('(', || format!("`(` after `{kind}`"))?;
        let loc = self.loc();
        let k: u64 = self.int(if kind == "every" {
            "a segment length"
        } else {
            "a number of snapshots"
        })?;
        self.expect_punct_lazy(')', || "`)`".to_string())?;
        let policy = if kind == "every" {
            Checkpoint::Every(k)
        } else {
            Checkpoint::Binomial(k)
        };
        if let Err(m) = policy.check() {
            return self.error_at(loc, m);
        }
        Ok(policy)
    }

    /// `start:stop` or `start:stop:step`.
    fn slice_range(&mut self) -> PResult<SliceRange> {
        let start = self.dim()?;
        self.expect_punct(':', "`:` between the start and the stop of a range")?;
        let stop = self.dim()?;
        let step = if self.eat_punct(':') {
            self.int("a step")?
        } else {
            1
        };
        Ok(SliceRange { start, stop, step })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggestions_use_edit_distance() {
        assert_eq!(edit_distance("mull", "mul"), 1);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("reduce_sun", "reduce_sum"), 1);
    }

    #[test]
    fn dims_parse_to_normal_form() {
        let src =
            "func @f(%x: f64[2*n+1, -n+5, (n+1)*(n-1), -9223372036854775808]) -> () {\n return\n}";
        let (funcs, errors) = parse(src);
        assert!(errors.is_empty(), "{errors:?}");
        let shape = &funcs[0].params[0].1.shape;
        assert_eq!(
            shape.to_string(),
            "[2*n+1, -n+5, n*n-1, -9223372036854775808]"
        );
    }

    #[test]
    fn deep_nesting_is_an_error() {
        let deep = format!(
            "func @f(%x: f64[{}n{}]) -> () {{\n return\n}}",
            "(".repeat(100_000),
            ")".repeat(100_000)
        );
        let (_, errors) = parse(&deep);
        assert_eq!(errors.len(), 1);
        assert!(errors[0].message.contains("nested too deeply"));
    }
}
