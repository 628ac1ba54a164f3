//! Random and mutated texts through the parser: none may panic.
//!
//! Inputs are valid programs (hand-written and random) mutated at the level
//! of characters, tokens and lines, truncated, spliced, nested deeply, and
//! random bytes. For every input:
//! - parsing returns (no panic, no unbounded recursion);
//! - an error is located inside the text and renders;
//! - an accepted text prints to canonical text that parses back to the same
//!   module and prints the same again, and the type rules run on every node
//!   without panicking.
//!
//! The normal run checks [`NORMAL_RUN`] inputs; `cargo test --test text_fuzz
//! -- --ignored` runs [`LONG_RUN`] more.

use adjit_ir::testgen::{GenConfig, Rng, random_module};
use adjit_ir::text::{parse_module, print_module};
use adjit_ir::typing::infer;
use adjit_ir::{Module, Type};
use std::panic::{AssertUnwindSafe, catch_unwind};

const NORMAL_RUN: usize = 10_000;
const LONG_RUN: usize = 300_000;

const EVERY_OP: &str = include_str!("text/every_op.adj");

/// Small programs that exercise the corners of the grammar.
const SNIPPETS: &[&str] = &[
    "func @f(%x: f64[2*n+1, (n-1)*(m+2)]) -> f64 {\n  %s: f64 = size -9223372036854775808*n+3\n  %y: f64[2*n+1, m*n+2*n-m-2] = neg %x\n  %z = reduce_sum %y, axes=[0, 1]\n  return %z\n}\n",
    "func @\"odd name\"(%\"a b\": f32[n], %0: i64) -> (f32, i64) {\n  %c: f32[n] = const nan(0x7fc00001)\n  %d = add %\"a b\", %c\n  %e = reduce_max %d, axes=[0]\n  return %e, %0\n}\n",
    "func @g(%x: f64) -> f64 { return %x }\nfunc @h(%x: f64) -> () {\n  %a = call @g(%x)\n  call @k(%a)\n  return\n}\nfunc @k(%x: f64) -> () {\n  return\n}\n",
    "// comment\nfunc @s(%x: f64[3, 4], %i: i64[2]) -> f64[5, 4] {\n  %g = gather %x, %i, axis=0 // take\n  %s: f64[5, 4] = scatter_add %g, %i, axis=0\n  %p = pad %s, lo=[0, 1], hi=[0, 0], value=-inf, interior=[0, 0]\n  %q = slice %p, [0:5, 1:5:1]\n  return %q\n}\n",
];

/// Tokens to splice in.
const DICTIONARY: &[&str] = &[
    "func",
    "return",
    "%x",
    "%y",
    "%0",
    "@f",
    "@g",
    "@main",
    "(",
    ")",
    "[",
    "]",
    "{",
    "}",
    ",",
    ":",
    "=",
    "->",
    "+",
    "-",
    "*",
    "//",
    "\"",
    "f64",
    "f32",
    "i64",
    "bool",
    "f64[n]",
    "f64[]",
    "n",
    "m",
    "T",
    "0",
    "1",
    "-1",
    "2.5",
    "1e308",
    "1e999",
    "-0.0",
    "inf",
    "nan",
    "nan(0x1)",
    "nan(0x7ff8000000000001)",
    "true",
    "false",
    "9223372036854775808",
    "18446744073709551616",
    "axes=[0]",
    "axis=1",
    "axis=18446744073709551615",
    "perm=[1, 0]",
    "dims=[0]",
    "lo=[1]",
    "hi=[n]",
    "value=0.0",
    "interior=[2]",
    "length=n",
    "max=3",
    "consts=()",
    "carry=(%x)",
    "xs=()",
    "init=(%x)",
    "reverse",
    "const",
    "iota",
    "size",
    "add",
    "neg",
    "select",
    "broadcast",
    "reduce_sum",
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
    "[0:n]",
    "[0:3:2]",
    "é",
    "\t",
    "\n",
    "\r\n",
    " ",
    "\u{0}",
    "\u{feff}",
];

/// Characters to insert.
const ALPHABET: &[char] = &[
    '%', '@', '(', ')', '[', ']', '{', '}', ',', ':', '=', '+', '-', '*', '/', ' ', '\n', '0', '1',
    '9', 'a', 'e', 'f', 'n', 'x', '.', '"', '\\', '_', '>', '$', 'é', '\u{0}', '\t',
];

fn corpus() -> Vec<String> {
    let mut out: Vec<String> = vec![EVERY_OP.to_string()];
    // The functions of the big example, one by one (their calls then dangle).
    for part in EVERY_OP.split("\n\n") {
        out.push(format!("{part}\n"));
    }
    out.extend(SNIPPETS.iter().map(|s| s.to_string()));
    for seed in 0..24 {
        let cfg = GenConfig {
            nodes: 4 + (seed as usize % 8),
            symbolic: seed % 2 == 0,
            control_flow: seed % 3 != 0,
            odd_names: seed % 4 == 0,
        };
        out.push(print_module(&random_module(seed, &cfg)));
    }
    out
}

fn char_boundary_at(s: &str, rng: &mut Rng) -> usize {
    let mut i = rng.below(s.len() + 1);
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

fn is_separator(c: char) -> bool {
    c.is_whitespace() || matches!(c, ',' | '(' | ')' | '[' | ']')
}

/// The byte range of the token (run of non-separators) at or after `at`.
fn token_at(s: &str, at: usize) -> (usize, usize) {
    let start = s[at..]
        .char_indices()
        .find(|&(_, c)| !is_separator(c))
        .map_or(s.len(), |(i, _)| at + i);
    let start = s[..start]
        .char_indices()
        .rev()
        .take_while(|&(_, c)| !is_separator(c))
        .last()
        .map_or(start, |(i, _)| i);
    let end = s[start..]
        .char_indices()
        .find(|&(_, c)| is_separator(c))
        .map_or(s.len(), |(i, _)| start + i);
    (start, end)
}

fn mutate_once(s: &str, rng: &mut Rng, corpus: &[String]) -> String {
    match rng.below(12) {
        // Delete a few characters.
        0 => {
            let a = char_boundary_at(s, rng);
            let mut b = (a + 1 + rng.below(6)).min(s.len());
            while !s.is_char_boundary(b) {
                b += 1;
            }
            format!("{}{}", &s[..a], &s[b..])
        }
        // Insert characters.
        1 => {
            let a = char_boundary_at(s, rng);
            let ins: String = (0..1 + rng.below(3)).map(|_| rng.pick(ALPHABET)).collect();
            format!("{}{ins}{}", &s[..a], &s[a..])
        }
        // Replace one character.
        2 => {
            let a = char_boundary_at(s, rng);
            let rest = &s[a..];
            let skip = rest.chars().next().map_or(0, char::len_utf8);
            format!("{}{}{}", &s[..a], rng.pick(ALPHABET), &rest[skip..])
        }
        // Token edits: delete, duplicate, replace, or swap with a later one.
        3..=5 => {
            let (a, b) = token_at(s, char_boundary_at(s, rng));
            let tok = &s[a..b];
            match rng.below(4) {
                0 => format!("{}{}", &s[..a], &s[b..]),
                1 => format!("{}{tok} {tok}{}", &s[..a], &s[b..]),
                2 => format!("{}{}{}", &s[..a], rng.pick(DICTIONARY), &s[b..]),
                _ => {
                    let at = b + char_boundary_at(&s[b..], rng);
                    let (c, d) = token_at(s, at);
                    // The later token may run back into this one.
                    let (c, d) = (c.max(b), d.max(b));
                    format!("{}{}{}{tok}{}", &s[..a], &s[c..d], &s[b..c], &s[d..])
                }
            }
        }
        // Truncate.
        6 => {
            let a = char_boundary_at(s, rng);
            s[..a].to_string()
        }
        // Line edits.
        7 => {
            let mut lines: Vec<&str> = s.split('\n').collect();
            let i = rng.below(lines.len());
            let j = rng.below(lines.len());
            match rng.below(3) {
                0 => {
                    lines.remove(i);
                }
                1 => lines.insert(j, lines[i]),
                _ => lines.swap(i, j),
            }
            lines.join("\n")
        }
        // Splice with another program.
        8 => {
            let other = &corpus[rng.below(corpus.len())];
            let a = char_boundary_at(s, rng);
            let b = char_boundary_at(other, rng);
            format!("{}{}", &s[..a], &other[b..])
        }
        // Deep nesting.
        9 => {
            let a = char_boundary_at(s, rng);
            let depth = rng.pick(&[10, 63, 64, 65, 1000, 5000]);
            let (open, close) = if rng.chance(1, 2) {
                ("(", ")")
            } else {
                ("[", "]")
            };
            let inner = rng.pick(&["n", "1", "n+1", "", "%x"]);
            format!(
                "{}{}{inner}{}{}",
                &s[..a],
                open.repeat(depth),
                close.repeat(if rng.chance(1, 2) { depth } else { depth / 2 }),
                &s[a..]
            )
        }
        // A huge number somewhere.
        10 => {
            let a = char_boundary_at(s, rng);
            let n = rng.pick(&[
                "1000000000000",
                "9223372036854775807",
                "-9223372036854775808",
                "99999999999999999999999999",
                "0x",
                "0xffffffffffffffffff",
                "1e",
                "1.5e-",
            ]);
            format!("{}{n}{}", &s[..a], &s[a..])
        }
        // Random bytes, made text.
        _ => {
            let bytes: Vec<u8> = (0..rng.below(300)).map(|_| rng.next_u64() as u8).collect();
            let junk = String::from_utf8_lossy(&bytes).into_owned();
            let a = char_boundary_at(s, rng);
            if rng.chance(1, 3) {
                junk
            } else {
                format!("{}{junk}{}", &s[..a], &s[a..])
            }
        }
    }
}

fn input(rng: &mut Rng, corpus: &[String]) -> String {
    let mut s = corpus[rng.below(corpus.len())].clone();
    for _ in 0..1 + rng.below(4) {
        s = mutate_once(&s, rng, corpus);
    }
    s
}

/// The properties every input must have; `Err` says which failed, `Ok`
/// whether the text was accepted.
fn check(text: &str) -> Result<bool, String> {
    match parse_module(text) {
        Err(errors) => {
            if errors.0.is_empty() {
                return Err("an error result without errors".into());
            }
            let lines = text.split('\n').count() as u32;
            for e in &errors.0 {
                if e.line == 0 || e.col == 0 || e.line > lines {
                    return Err(format!("error outside the text: {e:?}"));
                }
            }
            let rendered = errors.render("fuzz.adj", text);
            if !rendered.contains(": error: ") {
                return Err("error rendering lacks `error:`".into());
            }
            Ok(false)
        }
        Ok((module, _)) => {
            run_type_rules(&module);
            let printed = print_module(&module);
            let (again, _) = parse_module(&printed)
                .map_err(|e| format!("printed text does not parse:\n{printed}\n{e}"))?;
            if again != module {
                return Err(format!("reparse differs:\n{printed}"));
            }
            if print_module(&again) != printed {
                return Err(format!("printing is not stable:\n{printed}"));
            }
            Ok(true)
        }
    }
}

/// The type rules on every node of an accepted (unverified) module.
fn run_type_rules(m: &Module) {
    for f in m.functions() {
        for node in f.nodes() {
            let args: Vec<&Type> = node.args.iter().map(|&a| f.ty(a)).collect();
            let _ = infer(&node.op, &args, m);
        }
    }
}

/// Runs `count` inputs from `seed`; returns the failures (input, reason).
fn run(seed: u64, count: usize) -> (Vec<(String, String)>, usize) {
    let corpus = corpus();
    let mut rng = Rng::new(seed);
    let mut failures = Vec::new();
    let mut accepted = 0;
    for _ in 0..count {
        let text = input(&mut rng, &corpus);
        match catch_unwind(AssertUnwindSafe(|| check(&text))) {
            Ok(Ok(true)) => accepted += 1,
            Ok(Ok(false)) => {}
            Ok(Err(reason)) => failures.push((text, reason)),
            Err(panic) => {
                let msg = panic
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default();
                failures.push((text, format!("panic: {msg}")));
            }
        }
        if failures.len() >= 5 {
            break;
        }
    }
    (failures, accepted)
}

fn report(failures: &[(String, String)]) -> String {
    failures
        .iter()
        .map(|(text, reason)| format!("---- {reason}\ninput: {text:?}\n"))
        .collect()
}

#[test]
fn unmutated_programs_are_accepted() {
    for s in SNIPPETS.iter().chain([&EVERY_OP]) {
        if let Err(e) = parse_module(s) {
            panic!("{}", e.render("snippet.adj", s));
        }
        assert_eq!(check(s), Ok(true));
    }
}

#[test]
fn mutated_texts_never_panic() {
    let (failures, accepted) = run(0x5eed, NORMAL_RUN);
    assert!(failures.is_empty(), "{}", report(&failures));
    // Some mutations keep the text valid (comments, whitespace, names).
    assert!(accepted > 0);
}

#[test]
#[ignore = "long run: cargo test --test text_fuzz -- --ignored"]
fn mutated_texts_never_panic_long() {
    let (failures, _) = run(0x10ad, LONG_RUN);
    assert!(failures.is_empty(), "{}", report(&failures));
}
