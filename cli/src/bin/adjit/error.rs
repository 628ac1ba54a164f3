//! The CLI's errors and their exit codes.
//!
//! Exit code 1: the program text has errors (diagnostics were printed).
//! Exit code 2: the user's request is wrong (missing file, unknown input, bad
//! number, wrong shape, malformed `.npy`) — one clear line on stderr.

use std::fmt;

/// Everything that stops a CLI command.
#[derive(Debug)]
pub enum CliError {
    /// Diagnostics about a program, already rendered (possibly several lines).
    Program(String),
    /// A bad input value, file or option.
    Input(String),
    /// An output could not be written.
    Output(String),
    /// Evaluation failed (e.g. a size error at these inputs).
    Eval(String),
}

impl CliError {
    /// The process exit code for this error.
    pub fn exit_code(&self) -> i32 {
        match self {
            CliError::Program(_) => 1,
            CliError::Input(_) | CliError::Output(_) | CliError::Eval(_) => 2,
        }
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CliError::Program(s) => f.write_str(s.trim_end()),
            // A request error is one line, whatever the message it quotes.
            CliError::Input(s) | CliError::Output(s) | CliError::Eval(s) => {
                let words: Vec<&str> = s.split_whitespace().collect();
                write!(f, "error: {}", words.join(" "))
            }
        }
    }
}
