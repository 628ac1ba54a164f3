//! Loading a program file: bytes → UTF-8 text → parsed module → verified.
//! Every failure is rendered as `FILE:LINE:COL: error: message` with the
//! offending line and a caret.

use crate::error::CliError;
use adjit::ir::text::{Location, parse_module, render_diagnostic};
use adjit::ir::{Function, Module, verify_module};
use std::path::Path;

/// A parsed and verified program.
pub struct Program {
    /// The file name used in diagnostics.
    pub name: String,
    /// The module.
    pub module: Module,
}

/// Reads, parses and verifies a program file.
pub fn load(path: &Path) -> Result<Program, CliError> {
    let name = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|e| CliError::Input(format!("{name}: {e}")))?;
    let source = match String::from_utf8(bytes) {
        Ok(s) => s,
        Err(e) => {
            let valid = &e.as_bytes()[..e.utf8_error().valid_up_to()];
            // Lossless: `valid` is valid UTF-8 by construction.
            let prefix = String::from_utf8_lossy(valid);
            let line = prefix.matches('\n').count() + 1;
            let col = prefix.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
            // Show the line with control characters replaced, one for one, so
            // the caret still lines up and the terminal is not disturbed.
            let shown: String = String::from_utf8_lossy(e.as_bytes())
                .chars()
                .map(|c| {
                    if c.is_control() && c != '\n' && c != '\t' {
                        '\u{FFFD}'
                    } else {
                        c
                    }
                })
                .collect();
            let loc = Location {
                line: u32::try_from(line).unwrap_or(u32::MAX),
                col: u32::try_from(col).unwrap_or(u32::MAX),
            };
            return Err(CliError::Program(render_diagnostic(
                &name,
                &shown,
                loc,
                "the file is not valid UTF-8 text (is it a binary file?)",
            )));
        }
    };
    from_source(&name, &source)
}

/// Parses and verifies program text.
pub fn from_source(name: &str, source: &str) -> Result<Program, CliError> {
    let (module, map) =
        parse_module(source).map_err(|e| CliError::Program(e.render(name, source)))?;
    if let Err(errors) = verify_module(&module) {
        let rendered: Vec<String> = errors
            .0
            .iter()
            .map(|e| {
                let loc = e
                    .node
                    .and_then(|n| map.node(&e.func, n))
                    .or_else(|| map.function(&e.func).map(|f| f.location))
                    .unwrap_or(Location { line: 1, col: 1 });
                render_diagnostic(name, source, loc, &e.to_string())
            })
            .collect();
        return Err(CliError::Program(rendered.join("")));
    }
    if module.functions().is_empty() {
        return Err(CliError::Program(format!(
            "{name}: error: the file defines no function"
        )));
    }
    Ok(Program {
        name: name.to_string(),
        module,
    })
}

impl Program {
    /// The named function, or the last one of the file.
    pub fn function(&self, name: Option<&str>) -> Result<&Function, CliError> {
        match name {
            Some(n) => {
                let n = n.trim_start_matches('@');
                self.module.get(n).ok_or_else(|| {
                    let names: Vec<String> = self
                        .module
                        .functions()
                        .iter()
                        .map(|f| format!("@{}", f.name()))
                        .collect();
                    CliError::Input(format!(
                        "{} has no function @{n} (it has {})",
                        self.name,
                        names.join(", ")
                    ))
                })
            }
            None => self
                .module
                .last()
                .ok_or_else(|| CliError::Input(format!("{} defines no function", self.name))),
        }
    }
}
