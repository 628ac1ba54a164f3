//! The text format of the IR: a printer and a parser.
//!
//! The language is described in `docs/text-format.md`. In short:
//!
//! ```text
//! // line comments anywhere
//! func @rosen(%x: f64[n]) -> f64 {
//!   %x0: f64[n-1] = slice %x, [0:n-1]
//!   %sq: f64[n-1] = mul %x0, %x0
//!   %f: f64 = reduce_sum %sq, axes=[0]
//!   return %f
//! }
//! ```
//!
//! ```
//! use adjit_ir::text::{parse_module, print_module};
//! let src = "func @total(%x: f64[n]) -> f64 {\n  %s: f64 = reduce_sum %x, axes=[0]\n  return %s\n}\n";
//! let (module, _) = parse_module(src).map_err(|e| e.render("total.adj", src)).unwrap();
//! assert_eq!(print_module(&module), src);
//! let bad = "func @total(%x: f64[n]) -> f64 {\n  %s = reduce_sum %y, axes=[0]\n  return %s\n}\n";
//! let errors = parse_module(bad).unwrap_err();
//! assert_eq!(errors.0[0].to_string(), "2:19: unknown value %y");
//! ```
//!
//! Guarantees:
//! - [`print_module`] output is canonical: `print(parse(t)) == t` for printed
//!   text `t`, and `parse(print(m)) == m` for every module whose functions keep
//!   their attribute-carrying types (`const`, `iota`, `broadcast`, `reshape`,
//!   `convert`, `scatter_add`, `size`) and literals equal to their result and
//!   operand types, which every verified module does, and whose size variables
//!   are identifiers (`[A-Za-z_][A-Za-z0-9_.]*`). Value and function names are
//!   kept verbatim (quoted in the text when they are not plain).
//! - The parser never panics, recurses only to a fixed depth, and allocates in
//!   proportion to the text it has read, never to a number written in it.
//! - Every problem is reported as a [`ParseError`] with a line and a column
//!   (1-based; columns count characters). After an error in a statement the
//!   parser resumes at the next line, so one run reports many errors.
//! - The parser does not run the verifier: it stores annotated result types as
//!   written (or inferred ones where there is no annotation). A [`SourceMap`]
//!   maps the verifier's function-and-node locations back to lines.

mod ast;
mod lexer;
mod parser;
mod printer;
mod resolve;

pub use printer::{print_function, print_module};

use crate::function::{Function, Module, NodeId};
use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

/// A position in a source text: 1-based line and column (in characters).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug, Default)]
pub struct Location {
    /// 1-based line number.
    pub line: u32,
    /// 1-based column, counted in characters.
    pub col: u32,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.col)
    }
}

/// One problem found while parsing: the text's fault.
#[derive(Clone, PartialEq, Eq, Debug, thiserror::Error)]
#[error("{line}:{col}: {message}")]
pub struct ParseError {
    /// 1-based line of the offending text.
    pub line: u32,
    /// 1-based column (in characters) of the offending text.
    pub col: u32,
    /// What is wrong.
    pub message: String,
}

impl ParseError {
    /// The error's position.
    pub fn location(&self) -> Location {
        Location {
            line: self.line,
            col: self.col,
        }
    }

    /// `FILE:LINE:COL: error: message`, then the offending line and a caret
    /// under the column.
    pub fn render(&self, file_name: &str, source: &str) -> String {
        render_diagnostic(file_name, source, self.location(), &self.message)
    }
}

/// Every error found in a text (at least one), in text order.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct ParseErrors(pub Vec<ParseError>);

impl ParseErrors {
    /// Each error rendered as by [`ParseError::render`], one after another.
    pub fn render(&self, file_name: &str, source: &str) -> String {
        self.0.iter().map(|e| e.render(file_name, source)).collect()
    }
}

impl fmt::Display for ParseErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ParseErrors {}

/// Renders a located message in the format of parse errors:
///
/// ```text
/// rosen.adj:3:17: error: unknown op `mull`
///   %sq: f64[n-1] = mull %x0, %x0
///                   ^
/// ```
///
/// Used for parse errors and, through a [`SourceMap`], for verifier errors.
/// The source line is shown as written; the caret line keeps its tabs so the
/// caret lines up. A location past the end of the text shows no source line.
/// The result ends with a newline.
pub fn render_diagnostic(file_name: &str, source: &str, loc: Location, message: &str) -> String {
    let mut out = format!("{file_name}:{}:{}: error: {message}\n", loc.line, loc.col);
    let Some(text) = (loc.line as usize)
        .checked_sub(1)
        .and_then(|i| source.split('\n').nth(i))
    else {
        return out;
    };
    let text = text.strip_suffix('\r').unwrap_or(text);
    out.push_str(text);
    out.push('\n');
    let before = (loc.col as usize).saturating_sub(1);
    let mut chars = text.chars();
    for _ in 0..before {
        match chars.next() {
            Some('\t') => out.push('\t'),
            _ => out.push(' '),
        }
    }
    out.push_str("^\n");
    out
}

/// Where one function's parts were written.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct FunctionLocations {
    /// The function's name.
    pub name: Arc<str>,
    /// The `@name` in the header.
    pub location: Location,
    /// Each parameter's `%name`, by parameter index.
    pub params: Vec<Location>,
    /// Each node's statement (its first token), by node index.
    pub nodes: Vec<Location>,
    /// The `return` statement.
    pub ret: Location,
}

/// Where each function, parameter and node of a parsed module came from, so
/// that errors found later (by function name and node index) can be shown
/// with a line and a caret.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct SourceMap {
    functions: Vec<FunctionLocations>,
    by_name: HashMap<Arc<str>, usize>,
}

impl SourceMap {
    fn push(&mut self, f: FunctionLocations) {
        self.by_name.insert(f.name.clone(), self.functions.len());
        self.functions.push(f);
    }

    /// Every function's locations, in text order.
    pub fn functions(&self) -> &[FunctionLocations] {
        &self.functions
    }

    /// One function's locations.
    pub fn function(&self, name: &str) -> Option<&FunctionLocations> {
        self.by_name.get(name).map(|&i| &self.functions[i])
    }

    /// Where a node of a function was written.
    pub fn node(&self, function: &str, node: NodeId) -> Option<Location> {
        self.function(function)?.nodes.get(node.index()).copied()
    }

    /// Where a parameter of a function was written.
    pub fn param(&self, function: &str, index: usize) -> Option<Location> {
        self.function(function)?.params.get(index).copied()
    }
}

/// Parses a module: a sequence of `func` definitions and `rules`
/// attachments. Returns the module and
/// where each of its parts came from, or every error found.
pub fn parse_module(source: &str) -> Result<(Module, SourceMap), ParseErrors> {
    let (funcs, rules, mut errors) = parser::parse_with_rules(source);
    let mut result = resolve::resolve(&funcs, &mut errors);
    resolve::attach_rules(&mut result.0, &rules, &mut errors);
    if errors.is_empty() {
        return Ok(result);
    }
    errors.sort_by_key(|e| (e.line, e.col));
    errors.dedup();
    errors.truncate(parser::MAX_ERRORS);
    Err(ParseErrors(errors))
}

/// Parses a text holding exactly one function (which therefore calls no
/// other).
pub fn parse_function(source: &str) -> Result<Function, ParseErrors> {
    let (module, _) = parse_module(source)?;
    match module.functions() {
        [f] => Ok(f.clone()),
        fs => Err(ParseErrors(vec![ParseError {
            line: 1,
            col: 1,
            message: format!("expected exactly one function, found {}", fs.len()),
        }])),
    }
}
