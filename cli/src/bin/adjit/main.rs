//! The `adjit` command-line tool: check, print, evaluate, differentiate,
//! compile and benchmark programs in adjit's text format.

mod bench;
mod build;
mod demo;
mod derive;
mod error;
mod generate;
mod inputs;
mod limits;
mod npy;
mod program;
mod show;

use clap::{Args, Parser, Subcommand};
use derive::{DeriveArgs, Kind};
use error::CliError;
use std::path::{Path, PathBuf};

/// adjit compiles differentiable computation graphs to native code.
#[derive(Parser)]
#[command(name = "adjit", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Parse and verify programs; exit 0, or 1 with every diagnostic.
    Check {
        /// The program files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Print a function in canonical text form.
    Print {
        /// The program file.
        file: PathBuf,
        #[command(flatten)]
        select: Select,
        #[command(flatten)]
        derive: DeriveArgs,
    },
    /// Evaluate a function on the given inputs.
    Eval {
        /// The program file.
        file: PathBuf,
        #[command(flatten)]
        select: Select,
        /// An input: NAME=VALUE (a number, a list `1,2,3`, or a path to an .npy file).
        #[arg(long = "in", value_name = "NAME=VALUE")]
        inputs: Vec<String>,
        /// Write every array result as NAME.npy into this directory.
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
        /// Where to run: native code (the default) or the reference interpreter.
        #[arg(long, value_enum, default_value_t = Backend::Jit)]
        backend: Backend,
        #[command(flatten)]
        derive: DeriveArgs,
        #[command(flatten)]
        limits: limits::LimitArgs,
    },
    /// Print the Cranelift IR and the machine code the JIT generates.
    Asm {
        /// The program file.
        file: PathBuf,
        #[command(flatten)]
        select: Select,
        /// An input, as for `eval` (only its shape matters here).
        #[arg(long = "in", value_name = "NAME=VALUE")]
        inputs: Vec<String>,
        /// Bind a size variable: NAME=N (instead of giving an input of that size).
        #[arg(long = "size", value_name = "NAME=N")]
        sizes: Vec<String>,
        #[command(flatten)]
        derive: DeriveArgs,
    },
    /// Time compilation (parse, AD, optimisation, code generation) and calls
    /// (JIT, interpreter, and finite differences for --grad); print medians
    /// and ratios.
    Bench {
        /// The program file.
        file: PathBuf,
        #[command(flatten)]
        select: Select,
        /// An input, as for `eval`; inputs not given are generated
        /// (deterministically, in the bundled workloads' domains).
        #[arg(long = "in", value_name = "NAME=VALUE")]
        inputs: Vec<String>,
        /// Bind a size variable: NAME=N (the size of generated inputs).
        #[arg(long = "size", value_name = "NAME=N")]
        sizes: Vec<String>,
        /// Seconds of timing per row.
        #[arg(long, value_name = "SECONDS", default_value_t = 1.0)]
        time: f64,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        derive: DeriveArgs,
        #[command(flatten)]
        limits: limits::LimitArgs,
    },
    /// Compile a function and its derivative ahead of time into an object
    /// file with a C header.
    Build(build::BuildArgs),
    /// Print the graph in Graphviz DOT.
    Dot {
        /// The program file.
        file: PathBuf,
        #[command(flatten)]
        select: Select,
        #[command(flatten)]
        derive: DeriveArgs,
    },
}

/// Where `eval` runs a program.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum Backend {
    /// Native code compiled by the JIT.
    Jit,
    /// The reference interpreter.
    Interp,
}

/// Which function of a file.
#[derive(Args)]
struct Select {
    /// The function (default: the last one in the file).
    #[arg(long, value_name = "NAME")]
    func: Option<String>,
}

fn main() {
    let cli = Cli::parse();
    let result = match cli.command {
        None => demo::run(),
        Some(Command::Check { files }) => check(&files),
        Some(Command::Print {
            file,
            select,
            derive,
        }) => print(&file, &select, &derive),
        Some(Command::Eval {
            file,
            select,
            inputs,
            out,
            backend,
            derive,
            limits,
        }) => eval(
            &file,
            &select,
            &inputs,
            out.as_deref(),
            backend,
            &derive,
            &limits.limits(),
        ),
        Some(Command::Asm {
            file,
            select,
            inputs,
            sizes,
            derive,
        }) => asm(&file, &select, &inputs, &sizes, &derive),
        Some(Command::Bench {
            file,
            select,
            inputs,
            sizes,
            time,
            json,
            derive,
            limits,
        }) => bench::run(&bench::Request {
            file: &file,
            func: select.func.as_deref(),
            inputs: &inputs,
            sizes: &sizes,
            derive: &derive,
            seconds: time,
            json,
            limits: limits.limits(),
        }),
        Some(Command::Build(args)) => build::run(&args),
        Some(Command::Dot {
            file,
            select,
            derive,
        }) => dot(&file, &select, &derive),
    };
    if let Err(e) = result {
        eprintln!("{e}");
        std::process::exit(e.exit_code());
    }
}

fn check(files: &[PathBuf]) -> Result<(), CliError> {
    let mut failures = Vec::new();
    for file in files {
        match program::load(file) {
            Ok(p) => println!(
                "{}: ok ({} function(s))",
                file.display(),
                p.module.functions().len()
            ),
            Err(e) => failures.push(e.to_string()),
        }
    }
    if failures.is_empty() {
        Ok(())
    } else {
        Err(CliError::Program(failures.join("\n")))
    }
}

fn print(file: &Path, select: &Select, args: &DeriveArgs) -> Result<(), CliError> {
    let p = program::load(file)?;
    if args.kind() == Kind::Primal && select.func.is_none() {
        print!("{}", adjit::ir::text::print_module(&p.module));
        return Ok(());
    }
    let d = derive::derive(&p.module, p.function(select.func.as_deref())?, args)?;
    print!("{}", adjit::ir::text::print_module(&d.reachable()));
    Ok(())
}

fn dot(file: &Path, select: &Select, args: &DeriveArgs) -> Result<(), CliError> {
    let p = program::load(file)?;
    if args.kind() == Kind::Primal && select.func.is_none() {
        print!("{}", adjit::ir::dot::module_to_dot(&p.module));
        return Ok(());
    }
    let d = derive::derive(&p.module, p.function(select.func.as_deref())?, args)?;
    print!("{}", adjit::ir::dot::module_to_dot(&d.reachable()));
    Ok(())
}

fn eval(
    file: &Path,
    select: &Select,
    inputs: &[String],
    out: Option<&std::path::Path>,
    backend: Backend,
    args: &DeriveArgs,
    limits: &adjit::ir::Limits,
) -> Result<(), CliError> {
    let p = program::load(file)?;
    let primal = p.function(select.func.as_deref())?;
    let d = derive::derive(&p.module, primal, args)?;
    let f = d.function();
    let assignments = inputs::parse_assignments(inputs)?;
    // Tangents, cotangents and Hessian directions default to ones.
    let primal_params: Vec<&str> = primal
        .params()
        .iter()
        .map(|&q| primal.value_name(q))
        .collect();
    let default = |name: &str| (!primal_params.contains(&name)).then_some(1.0);
    let inputs = inputs::bind(f, &assignments, &default, limits)?;
    let results = match backend {
        Backend::Interp => adjit::ir::interp::Interpreter::with_limits(&d.module, *limits)
            .eval(f.name(), &inputs)
            .map_err(|e| CliError::Eval(e.to_string()))?,
        Backend::Jit => {
            let types: Vec<adjit::ir::Type> = inputs.iter().map(adjit::ir::Tensor::ty).collect();
            let opts = adjit::jit::Options {
                limits: *limits,
                ..adjit::jit::Options::default()
            };
            let compiled = adjit::jit::compile_for_with(&d.module, f.name(), &types, &opts)
                .map_err(|e| CliError::Eval(format!("cannot compile @{}: {e}", f.name())))?;
            limits::check_workspace(limits, f.name(), compiled.workspace_size())?;
            let refs: Vec<&adjit::ir::Tensor> = inputs.iter().collect();
            compiled
                .call(&refs)
                .map_err(|e| CliError::Eval(e.to_string()))?
        }
    };
    report(&derive::labels(primal, &d), &results, out)
}

fn asm(
    file: &Path,
    select: &Select,
    inputs: &[String],
    sizes: &[String],
    args: &DeriveArgs,
) -> Result<(), CliError> {
    let p = program::load(file)?;
    let primal = p.function(select.func.as_deref())?;
    let d = derive::derive(&p.module, primal, args)?;
    let f = d.function();
    let assignments = inputs::parse_assignments(inputs)?;
    let types = inputs::types(f, &assignments, &inputs::parse_sizes(sizes)?)?;
    let opts = adjit::jit::Options {
        keep_clif: true,
        keep_disasm: true,
        ..adjit::jit::Options::default()
    };
    let compiled = adjit::jit::compile_for_with(&d.module, f.name(), &types, &opts)
        .map_err(|e| CliError::Eval(format!("cannot compile @{}: {e}", f.name())))?;
    for (i, clif) in compiled.clif().iter().enumerate() {
        println!("; ---- Cranelift IR, function {i} ----\n{clif}");
    }
    for (i, code) in compiled.disassembly().iter().enumerate() {
        println!("; ---- machine code, function {i} ----\n{code}");
    }
    println!("; workspace: {} bytes", compiled.workspace_size());
    Ok(())
}

/// Prints each output and writes arrays to `out`.
fn report(
    labels: &[String],
    results: &[adjit::ir::Tensor],
    out: Option<&std::path::Path>,
) -> Result<(), CliError> {
    if let Some(dir) = out {
        std::fs::create_dir_all(dir)
            .map_err(|e| CliError::Output(format!("{}: {e}", dir.display())))?;
    }
    for (name, t) in labels.iter().zip(results) {
        if t.shape().is_empty() {
            println!("{name} = {}", show::tensor(t));
        } else {
            print!("{name}: {}", show::tensor(t));
            if let Some(dir) = out {
                let path = dir.join(format!("{}.npy", name.replace('/', "_")));
                npy::write(&path, t)?;
                print!(" -> {}", path.display());
            }
            println!();
        }
    }
    Ok(())
}
