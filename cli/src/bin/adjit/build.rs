//! `adjit build`: a function and its derivative compiled ahead of time into
//! one relocatable object file, with a C header declaring each entry.
//!
//! Entries: `PREFIX` (the function) and, with a derivative flag,
//! `PREFIX_grad` / `_jvp` / `_vjp` / `_hvp` (the meanings of the C API: the
//! gradient and the Hessian-vector product alone). `PREFIX` defaults to the
//! function's name. Every entry has the raw ABI of a compiled function,
//! `void f(const void *const *inputs, void *const *outputs, void *workspace)`;
//! the header gives each entry's input and output shapes and its workspace
//! size as constants. The helpers of an entry (its constant pools, its
//! chunks, its loop bodies) are local symbols, so objects built with
//! different prefixes link into one program. When both entries are
//! requested, their objects are joined into one with the system linker
//! (`ld -r`, or `$LD`).
//!
//! Code that calls runtime routines (GEMM, a reverse loop sweep's driver)
//! is refused with the list of routines: no runtime library is shipped yet.

use crate::derive::{DeriveArgs, Kind};
use crate::error::CliError;
use crate::inputs::parse_sizes;
use crate::program;
use adjit::ir::{Type, instantiate};
use adjit::jit::{self, ObjectCode, Options};
use adjit_capi::prepare;
use clap::Args;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

/// The options of `adjit build`.
#[derive(Args)]
pub struct BuildArgs {
    /// The program file.
    pub file: PathBuf,
    /// The function (default: the last one in the file).
    #[arg(long, value_name = "NAME")]
    pub func: Option<String>,
    #[command(flatten)]
    pub derive: DeriveArgs,
    /// Bind a size variable: NAME=N (required for each size variable).
    #[arg(long = "size", value_name = "NAME=N")]
    pub sizes: Vec<String>,
    /// The prefix of the entries' symbols (default: the function's name).
    #[arg(long, value_name = "P")]
    pub prefix: Option<String>,
    /// The object file to write.
    #[arg(short = 'o', long = "output", value_name = "OUT.o")]
    pub output: PathBuf,
    /// The C header to write.
    #[arg(long, value_name = "OUT.h")]
    pub header: PathBuf,
    /// Print the time of each stage (parse, AD and optimisation, code
    /// generation per entry) on stderr.
    #[arg(long)]
    pub timings: bool,
}

/// One compiled entry.
struct Entry {
    symbol: String,
    what: String,
    param_names: Vec<String>,
    output_names: Vec<String>,
    code: ObjectCode,
}

fn is_c_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Runs `adjit build`.
pub fn run(args: &BuildArgs) -> Result<(), CliError> {
    let start = Instant::now();
    let program = program::load(&args.file)?;
    let f = program.function(args.func.as_deref())?;
    let func = f.name().to_string();
    let parse_time = start.elapsed();

    let prefix = args.prefix.clone().unwrap_or_else(|| func.clone());
    if !is_c_identifier(&prefix) {
        return Err(CliError::Input(format!(
            "--prefix {prefix}: a prefix must be a C identifier (letters, digits, _)"
        )));
    }
    let sizes = parse_sizes(&args.sizes)?;
    let kind = args.derive.kind();
    let wrt: Vec<&str> = args.derive.wrt.iter().map(String::as_str).collect();
    let mut requested = vec![(prepare::Kind::Primal, "")];
    let (pkind, suffix) = match kind {
        Kind::Primal => (None, ""),
        Kind::Grad => (Some(prepare::Kind::Grad), "_grad"),
        Kind::Jvp => (Some(prepare::Kind::Jvp), "_jvp"),
        Kind::Vjp => (Some(prepare::Kind::Vjp), "_vjp"),
        Kind::Hvp => (Some(prepare::Kind::Hvp), "_hvp"),
    };
    if let Some(k) = pkind {
        requested.push((k, suffix));
    } else if !wrt.is_empty() {
        return Err(CliError::Input(
            "--wrt needs one of --grad, --jvp, --vjp, --hvp".into(),
        ));
    }

    let mut entries = Vec::new();
    let mut timings = Vec::new();
    for (k, suffix) in requested {
        let t0 = Instant::now();
        let names = if k == prepare::Kind::Primal {
            &[][..]
        } else {
            &wrt[..]
        };
        let (module, name) = prepare::derive(&program.module, &func, k, names)
            .map_err(|e| CliError::Program(format!("error: {e}")))?;
        let g = prepare::function(&module, &name).map_err(|e| CliError::Input(e.to_string()))?;
        let types: Vec<Type> = prepare::concrete_types(g, &sizes)
            .map_err(|e| CliError::Input(format!("{e} (with --size NAME=N)")))?;
        let (inst, inst_name) = instantiate(&module, &name, &types)
            .map_err(|e| CliError::Program(format!("error: {e}")))?;
        let derive_time = t0.elapsed();
        let symbol = format!("{prefix}{suffix}");
        let t1 = Instant::now();
        let code = jit::compile_object(&inst, &inst_name, &symbol, &Options::default())
            .map_err(|e| CliError::Program(format!("error: {symbol}: {e}")))?;
        let compile_time = t1.elapsed();
        if !code.imports.is_empty() {
            return Err(CliError::Program(format!(
                "error: {symbol} calls runtime routines ({}) that adjit build cannot supply yet \
                 (no runtime library is shipped)",
                code.imports.join(", ")
            )));
        }
        let g = inst
            .get(&inst_name)
            .ok_or_else(|| CliError::Program(format!("error: no function @{inst_name}")))?;
        let what = describe(&func, k, &args.derive.wrt);
        entries.push(Entry {
            symbol: symbol.clone(),
            what,
            param_names: g
                .params()
                .iter()
                .map(|&p| g.value_name(p).to_string())
                .collect(),
            output_names: g
                .outputs()
                .iter()
                .map(|&o| g.value_name(o).to_string())
                .collect(),
            code,
        });
        timings.push((symbol, derive_time, compile_time));
    }

    write_object(&entries, &args.output)?;
    let header = header(&args.file, &prefix, &entries);
    std::fs::write(&args.header, header)
        .map_err(|e| CliError::Output(format!("{}: {e}", args.header.display())))?;
    if args.timings {
        eprintln!("parse and verify: {:.3} ms", parse_time.as_secs_f64() * 1e3);
        for (symbol, derive, compile) in &timings {
            eprintln!(
                "{symbol}: AD and optimisation {:.3} ms, compile {:.3} ms",
                derive.as_secs_f64() * 1e3,
                compile.as_secs_f64() * 1e3
            );
        }
        eprintln!("total: {:.3} ms", start.elapsed().as_secs_f64() * 1e3);
    }
    Ok(())
}

/// A sentence saying what an entry computes.
fn describe(func: &str, kind: prepare::Kind, wrt: &[String]) -> String {
    let wrt = if wrt.is_empty() {
        "every float parameter".to_string()
    } else {
        wrt.iter()
            .map(|w| format!("%{}", w.trim_start_matches('%')))
            .collect::<Vec<_>>()
            .join(", ")
    };
    match kind {
        prepare::Kind::Primal => format!("@{func} itself."),
        prepare::Kind::Grad => format!(
            "the gradient of @{func}'s last output with respect to {wrt}, alone (one output per parameter)."
        ),
        prepare::Kind::Jvp => format!(
            "forward mode of @{func} with respect to {wrt}: (inputs, tangents) -> (outputs, output tangents)."
        ),
        prepare::Kind::Vjp => format!(
            "reverse mode of @{func} with respect to {wrt}: (inputs, output cotangents) -> (outputs, cotangents)."
        ),
        prepare::Kind::Hvp => format!(
            "Hessian-vector products of @{func}'s last output with respect to {wrt}: (inputs, v) -> H v, alone."
        ),
    }
}

/// Writes the entries' objects as one object file.
fn write_object(entries: &[Entry], out: &Path) -> Result<(), CliError> {
    let write = |path: &Path, bytes: &[u8]| {
        std::fs::write(path, bytes)
            .map_err(|e| CliError::Output(format!("{}: {e}", path.display())))
    };
    match entries {
        [one] => write(out, &one.code.bytes),
        _ => {
            let mut parts = Vec::new();
            for (i, e) in entries.iter().enumerate() {
                let part = out.with_extension(format!("part{i}.o"));
                write(&part, &e.code.bytes)?;
                parts.push(part);
            }
            let ld = std::env::var("LD").unwrap_or_else(|_| "ld".to_string());
            let result = Command::new(&ld)
                .arg("-r")
                .args(&parts)
                .arg("-o")
                .arg(out)
                .output();
            for p in &parts {
                let _ = std::fs::remove_file(p);
            }
            let output = result.map_err(|e| CliError::Output(format!("running {ld} -r: {e}")))?;
            if !output.status.success() {
                return Err(CliError::Output(format!(
                    "{ld} -r failed: {}",
                    String::from_utf8_lossy(&output.stderr).trim()
                )));
            }
            Ok(())
        }
    }
}

fn c_type(t: &Type) -> &'static str {
    match t.elem {
        adjit::ir::Elem::F64 => "double",
        adjit::ir::Elem::F32 => "float",
        adjit::ir::Elem::I64 => "int64_t",
        adjit::ir::Elem::Bool => "uint8_t (0 or 1)",
    }
}

fn count(t: &Type) -> usize {
    t.shape
        .as_known()
        .map(|s| s.iter().product::<usize>())
        .unwrap_or(0)
}

/// The C header declaring every entry.
fn header(file: &Path, prefix: &str, entries: &[Entry]) -> String {
    let guard = format!("{}_H", prefix.to_ascii_uppercase());
    let mut h = String::new();
    let _ = writeln!(
        h,
        "/* Generated by adjit build from {}. Do not edit. */",
        file.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    );
    let _ = writeln!(h, "#ifndef {guard}\n#define {guard}\n");
    let _ = writeln!(h, "#include <stddef.h>\n#include <stdint.h>\n");
    let _ = writeln!(h, "#ifdef __cplusplus\nextern \"C\" {{\n#endif\n");
    let _ = writeln!(
        h,
        "/* The ABI of every entry:\n \
         *   void entry(const void *const *inputs, void *const *outputs, void *workspace);\n \
         * inputs: one pointer per input, to its elements, row-major (a scalar is\n \
         * one element); outputs: one pointer per output, to room for its elements;\n \
         * workspace: ENTRY_WORKSPACE_SIZE bytes aligned to {upper}_WORKSPACE_ALIGN,\n \
         * scratch (its contents need not be initialised). Outputs must not overlap\n \
         * each other, the inputs or the workspace. Entries never allocate and may\n \
         * run on several threads at once, each with its own workspace. */",
        upper = prefix.to_ascii_uppercase()
    );
    let _ = writeln!(
        h,
        "#define {}_WORKSPACE_ALIGN 64\n",
        prefix.to_ascii_uppercase()
    );
    for e in entries {
        let up = e.symbol.to_ascii_uppercase();
        let _ = writeln!(h, "/* {}: {}", e.symbol, e.what);
        let _ = writeln!(h, " *   inputs:");
        for (i, (t, n)) in e.code.params.iter().zip(&e.param_names).enumerate() {
            let _ = writeln!(
                h,
                " *     {i}: {n}: {t} ({}, {} elements)",
                c_type(t),
                count(t)
            );
        }
        let _ = writeln!(h, " *   outputs:");
        for (i, (t, n)) in e.code.outputs.iter().zip(&e.output_names).enumerate() {
            let _ = writeln!(
                h,
                " *     {i}: {n}: {t} ({}, {} elements)",
                c_type(t),
                count(t)
            );
        }
        let _ = writeln!(h, " */");
        let _ = writeln!(h, "#define {up}_WORKSPACE_SIZE {}", e.code.workspace_size);
        let _ = writeln!(h, "#define {up}_NUM_INPUTS {}", e.code.params.len());
        let _ = writeln!(h, "#define {up}_NUM_OUTPUTS {}", e.code.outputs.len());
        for (i, t) in e.code.params.iter().enumerate() {
            let _ = writeln!(h, "#define {up}_IN{i}_COUNT {}", count(t));
        }
        for (i, t) in e.code.outputs.iter().enumerate() {
            let _ = writeln!(h, "#define {up}_OUT{i}_COUNT {}", count(t));
        }
        let _ = writeln!(
            h,
            "void {}(const void *const *inputs, void *const *outputs, void *workspace);\n",
            e.symbol
        );
    }
    let _ = writeln!(h, "#ifdef __cplusplus\n}}\n#endif\n\n#endif /* {guard} */");
    h
}
