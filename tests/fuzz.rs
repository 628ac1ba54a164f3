//! A seeded mutation fuzzer over the whole pipeline, on stable Rust:
//! programs (the bundled ones, the language reference's examples, loops and
//! random well-typed modules) are mutated a few characters or lines at a
//! time and run through parse → verify → evaluate (interpreter and JIT,
//! within small [`Limits`]) → `grad` → print → parse → verify again.
//!
//! Properties: nothing panics (every stage returns a value or an error);
//! the printed gradient of every program that verifies is a module that
//! parses and verifies, raw and optimised (text is the truth).
//!
//! `cargo test --test fuzz` runs a short pass; `cargo test --test fuzz --
//! --ignored` the long one (`ADJIT_FUZZ_COUNT` mutants, default 20000;
//! `ADJIT_FUZZ_SEED` to start elsewhere). Each prints how many inputs it
//! ran and how far they got.

use adjit::ir::testgen::{GenConfig, Rng, random_module};
use adjit::ir::text::{parse_module, print_module};
use adjit::ir::{Data, Elem, Interpreter, Limits, Module, Op, Tensor, Type, verify_module};
use std::collections::HashSet;
use std::panic::{AssertUnwindSafe, catch_unwind};

/// Loops that could run longer than this many trips are not evaluated.
const MAX_TRIPS: i64 = 1000;

fn limits() -> Limits {
    Limits {
        max_elements: 1 << 16,
        max_live_bytes: 1 << 26,
        max_workspace_bytes: 1 << 20,
        ..Limits::default()
    }
}

/// How far the inputs got.
#[derive(Default, Debug)]
struct Stats {
    inputs: usize,
    parsed: usize,
    verified: usize,
    evaluated: usize,
    compiled: usize,
    differentiated: usize,
}

fn corpus() -> Vec<String> {
    let mut out = Vec::new();
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/programs");
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "adj"))
        .collect();
    files.sort();
    for f in files {
        out.push(std::fs::read_to_string(f).unwrap());
    }
    let doc = include_str!("../docs/text-format.md");
    let mut rest = doc;
    while let Some(start) = rest.find("```adj\n") {
        let body = &rest[start + 7..];
        let end = body.find("```\n").expect("closed block");
        out.push(body[..end].to_string());
        rest = &body[end..];
    }
    out.push(
        "func @more(%x: f64) -> bool {\n  %ten: f64 = const 10.0\n  %c: bool = lt %x, %ten\n  return %c\n}\n\
         func @inc(%x: f64) -> f64 {\n  %one: f64 = const 1.0\n  %y: f64 = add %x, %one\n  return %y\n}\n\
         func @f(%x: f64) -> f64 {\n  %y: f64, %n: i64 = while @more, @inc, max=100, consts=(), init=(%x)\n  return %y\n}\n"
            .into(),
    );
    for seed in 0..8 {
        let cfg = GenConfig {
            nodes: 12,
            odd_names: seed % 2 == 1,
            ..GenConfig::default()
        };
        out.push(print_module(&random_module(seed, &cfg)));
    }
    out
}

const TOKENS: &[&str] = &[
    "-1",
    "0",
    "1e999",
    "4611686018427387904",
    "9223372036854775807",
    "%x",
    "@f",
    ",",
    "(",
    ")",
    "[",
    "]",
    "\n",
    " n",
    "f64",
    "i64[",
    "scan",
    "while",
    "call",
    "\"",
    "checkpoint=binomial(0)",
    "n-1",
    "nan",
];

const OPS: &[&str] = &[
    "add",
    "sub",
    "mul",
    "div",
    "sin",
    "exp",
    "log",
    "neg",
    "sqrt",
    "reduce_sum",
    "reduce_max",
    "matmul",
];

/// One to three random edits of `text`.
fn mutate(text: &str, rng: &mut Rng) -> String {
    let mut s: Vec<char> = text.chars().collect();
    for _ in 0..1 + rng.below(3) {
        let at = rng.below(s.len() + 1);
        match rng.below(7) {
            0 if !s.is_empty() => {
                s.remove(at.min(s.len() - 1));
            }
            1 => {
                let tok: Vec<char> = rng.pick(TOKENS).chars().collect();
                s.splice(at..at, tok);
            }
            2 => {
                // Replace the number at or after `at`.
                let text: String = s.iter().collect();
                if let Some(off) = text
                    .char_indices()
                    .skip(at)
                    .find(|(_, c)| c.is_ascii_digit())
                {
                    let start = text[..off.0].chars().count();
                    let mut end = start;
                    while end < s.len() && s[end].is_ascii_digit() {
                        end += 1;
                    }
                    let tok: Vec<char> = rng.pick(&TOKENS[..5]).chars().collect();
                    s.splice(start..end, tok);
                }
            }
            3 => {
                let text: String = s.iter().collect();
                let mut lines: Vec<&str> = text.lines().collect();
                if !lines.is_empty() {
                    let i = rng.below(lines.len());
                    match rng.below(3) {
                        0 => {
                            lines.remove(i);
                        }
                        1 => {
                            let l = lines[i];
                            lines.insert(i, l);
                        }
                        _ => {
                            let j = rng.below(lines.len());
                            lines.swap(i, j);
                        }
                    }
                }
                s = (lines.join("\n") + "\n").chars().collect();
            }
            4 => {
                let text: String = s.iter().collect();
                let from = rng.pick(OPS);
                let to = rng.pick(OPS);
                s = text
                    .replacen(&format!(" {from} "), &format!(" {to} "), 1)
                    .chars()
                    .collect();
            }
            _ => {
                let tok: Vec<char> = rng.pick(TOKENS).chars().collect();
                let end = (at + tok.len()).min(s.len());
                s.splice(at..end, tok);
            }
        }
    }
    s.into_iter().collect()
}

/// The function and every function it reaches, the function last.
fn reachable(m: &Module, name: &str) -> Module {
    let mut seen: HashSet<String> = HashSet::from([name.to_string()]);
    let mut todo = vec![name.to_string()];
    while let Some(n) = todo.pop() {
        if let Some(f) = m.get(&n) {
            for node in f.nodes() {
                for c in node.op.callees() {
                    if seen.insert(c.to_string()) {
                        todo.push(c.to_string());
                    }
                }
            }
        }
    }
    let mut out = Module::new();
    for f in m.functions() {
        if f.name() != name && seen.contains(f.name()) {
            out.insert_or_replace(f.clone());
        }
    }
    out.insert_or_replace(m.get(name).unwrap().clone());
    out
}

/// Every loop of the module runs at most [`MAX_TRIPS`] trips at size 3.
fn loops_are_short(m: &Module) -> bool {
    m.functions().iter().all(|f| {
        f.nodes().iter().all(|n| {
            let bound = match &n.op {
                Op::Scan { length, .. } | Op::ScanAdjoint { length, .. } => length,
                Op::While { max_trips, .. } => max_trips,
                _ => return true,
            };
            bound
                .eval_signed(&|_| Some(3))
                .is_ok_and(|k| k <= MAX_TRIPS)
        })
    })
}

/// Inputs for the parameters with every size variable 3.
fn inputs(m: &Module, name: &str) -> Option<(Vec<Type>, Vec<Tensor>)> {
    let f = m.get(name)?;
    let mut types = Vec::new();
    let mut out = Vec::new();
    for &p in f.params() {
        let ty = f.ty(p);
        let shape: Vec<usize> = ty
            .shape
            .dims()
            .iter()
            .map(|d| d.eval(&|_| Some(3)).ok())
            .collect::<Option<_>>()?;
        let n: usize = shape.iter().product();
        if n > 4096 {
            return None;
        }
        let data = match ty.elem {
            Elem::F64 => Data::F64((0..n).map(|i| 0.5 + (i % 7) as f64 / 7.0).collect()),
            Elem::F32 => Data::F32((0..n).map(|i| 0.5 + (i % 7) as f32 / 7.0).collect()),
            Elem::I64 => Data::I64(vec![1; n]),
            Elem::Bool => Data::Bool(vec![true; n]),
        };
        let t = Tensor::new(shape, data).ok()?;
        types.push(t.ty());
        out.push(t);
    }
    Some((types, out))
}

/// The pipeline on one program text; panics only where a property fails.
fn pipeline(text: &str, stats: &mut Stats) {
    stats.inputs += 1;
    let Ok((m, _)) = parse_module(text) else {
        return;
    };
    stats.parsed += 1;
    if verify_module(&m).is_err() {
        return;
    }
    stats.verified += 1;
    let Some(f) = m.functions().last() else {
        return;
    };
    let name = f.name().to_string();
    let limits = limits();
    if loops_are_short(&m)
        && let Some((types, args)) = inputs(&m, &name)
    {
        let _ = Interpreter::with_limits(&m, limits).eval(&name, &args);
        stats.evaluated += 1;
        let opts = adjit::jit::Options {
            limits,
            ..adjit::jit::Options::default()
        };
        if let Ok(c) = adjit::jit::compile_for_with(&m, &name, &types, &opts) {
            stats.compiled += 1;
            if c.workspace_size() <= limits.max_live_bytes {
                let refs: Vec<&Tensor> = args.iter().collect();
                let _ = c.call(&refs);
            }
        }
    }
    let wrt: Vec<usize> = f
        .params()
        .iter()
        .enumerate()
        .filter(|(_, p)| f.ty(**p).elem.is_float())
        .map(|(i, _)| i)
        .collect();
    if wrt.is_empty() {
        return;
    }
    // `grad` where the last output is a scalar, `vjp` for any outputs.
    let Ok((gm, gname)) =
        adjit::ad::grad(&m, &name, &wrt).or_else(|_| adjit::ad::vjp(&m, &name, &wrt))
    else {
        return;
    };
    stats.differentiated += 1;
    let mut printed = vec![print_module(&reachable(&gm, &gname))];
    if let Ok(om) = adjit::opt::optimize(&gm, &gname) {
        printed.push(print_module(&reachable(&om, &gname)));
    }
    for p in printed {
        let (pm, _) = parse_module(&p)
            .unwrap_or_else(|e| panic!("the printed gradient does not parse: {e:?}\n{text}\n{p}"));
        if let Err(e) = verify_module(&pm) {
            panic!(
                "the printed gradient does not verify: {e}\n--- program\n{text}\n--- printed\n{p}"
            );
        }
    }
}

fn fuzz(count: usize, seed: u64) -> Stats {
    let corpus = corpus();
    let mut stats = Stats::default();
    // The corpus itself, then mutants.
    for text in &corpus {
        pipeline(text, &mut stats);
    }
    let mut rng = Rng::new(seed);
    for i in 0..count {
        let base = &corpus[rng.below(corpus.len())];
        let text = mutate(base, &mut rng);
        let run = catch_unwind(AssertUnwindSafe(|| {
            let mut s = Stats::default();
            pipeline(&text, &mut s);
            s
        }));
        match run {
            Ok(s) => {
                stats.inputs += s.inputs;
                stats.parsed += s.parsed;
                stats.verified += s.verified;
                stats.evaluated += s.evaluated;
                stats.compiled += s.compiled;
                stats.differentiated += s.differentiated;
            }
            Err(_) => panic!("mutant {i} (seed {seed}) panicked:\n{text}"),
        }
    }
    eprintln!("fuzz: {stats:?}");
    stats
}

#[test]
fn random_programs_print_gradients_that_check() {
    // Random well-typed modules with calls, scans and whiles: the printed
    // gradient always parses and verifies.
    let mut stats = Stats::default();
    for seed in 100..160 {
        let cfg = GenConfig {
            odd_names: seed % 3 == 0,
            ..GenConfig::default()
        };
        let m = random_module(seed, &cfg);
        if let Err(e) = verify_module(&m) {
            panic!("seed {seed}: {e}\n{}", print_module(&m));
        }
        pipeline(&print_module(&m), &mut stats);
    }
    assert_eq!(stats.verified, 60, "{stats:?}");
    assert!(stats.differentiated >= 50, "{stats:?}");
}

#[test]
fn mutated_programs_short() {
    let stats = fuzz(300, 1);
    assert!(stats.verified > 20, "{stats:?}");
}

#[test]
#[ignore = "long: cargo test --test fuzz -- --ignored"]
fn mutated_programs_long() {
    let count = std::env::var("ADJIT_FUZZ_COUNT")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000);
    let seed = std::env::var("ADJIT_FUZZ_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2);
    fuzz(count, seed);
}
