//! adjit as a GradBench tool: speaks the GradBench protocol on standard
//! input and output until input ends. Functions run on the JIT; with
//! `--interpreter` they run on the reference interpreter instead; with
//! `--dump DIR` every prepared module is also written to `DIR` as text.

use adjit_cli::gradbench::Tool;
use adjit_cli::gradbench::backend::{Backend, Compiled, Interpreted};
use std::io::{BufWriter, stdin, stdout};
use std::process::ExitCode;

const USAGE: &str = "usage: adjit-gradbench [--interpreter] [--dump DIR]";

fn main() -> ExitCode {
    let mut backend: &dyn Backend = &Compiled;
    let mut dump = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--interpreter" => backend = &Interpreted,
            "--dump" => match args.next() {
                Some(dir) => dump = Some(dir),
                None => {
                    eprintln!("adjit-gradbench: --dump needs a directory\n{USAGE}");
                    return ExitCode::FAILURE;
                }
            },
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
    let mut tool = Tool::new(backend);
    if let Some(dir) = dump {
        tool = tool.dump_to(dir);
    }
    match adjit_cli::gradbench::serve(tool, input, output) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("adjit-gradbench: {e}");
            ExitCode::FAILURE
        }
    }
}
