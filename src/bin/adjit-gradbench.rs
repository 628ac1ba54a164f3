//! adjit as a GradBench tool: speaks the GradBench protocol on standard
//! input and output until input ends.

use std::io::{BufWriter, stdin, stdout};
use std::process::ExitCode;

fn main() -> ExitCode {
    let input = stdin().lock();
    let output = BufWriter::new(stdout().lock());
    match adjit::gradbench::run(input, output) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("adjit-gradbench: {e}");
            ExitCode::FAILURE
        }
    }
}
