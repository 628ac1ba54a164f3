//! adjit as a GradBench tool: speaks the GradBench protocol on standard
//! input and output until input ends. Functions run on the JIT; with
//! `--interpreter` they run on the reference interpreter instead.

use adjit::gradbench::backend::{Backend, Compiled, Interpreted};
use std::io::{BufWriter, stdin, stdout};
use std::process::ExitCode;

const USAGE: &str = "usage: adjit-gradbench [--interpreter]";

fn main() -> ExitCode {
    let mut backend: &dyn Backend = &Compiled;
    for arg in std::env::args().skip(1) {
        match arg.as_str() {
            "--interpreter" => backend = &Interpreted,
            "-h" | "--help" => {
                println!("{USAGE}");
                return ExitCode::SUCCESS;
            }
            _ => {
                eprintln!("adjit-gradbench: unknown argument {arg:?}\n{USAGE}");
                return ExitCode::FAILURE;
            }
        }
    }
    let input = stdin().lock();
    let output = BufWriter::new(stdout().lock());
    match adjit::gradbench::run_with(backend, input, output) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("adjit-gradbench: {e}");
            ExitCode::FAILURE
        }
    }
}
