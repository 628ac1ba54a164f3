//! Hostile input on the command line: every run ends, within a time limit
//! and under a 4 GB address-space limit, either with the right answer
//! (exit 0) or with a one-line error (exit 1 for a bad program, 2 for a bad
//! request) — never a panic, an abort on allocation or a stack overflow.
//!
//! The expected values come from the interpreter's semantics worked out by
//! hand (a `while` adding one until 10 has derivative 1, `sin` has
//! derivative `cos`), never from the tool's own output.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the tool package sits in the workspace")
}

/// Runs the tool under `timeout 20` and `ulimit -v 4000000` (where the
/// shell and `timeout` exist; otherwise directly).
fn adjit(args: &[&str]) -> Output {
    let bin = env!("CARGO_BIN_EXE_adjit");
    let limited = Path::new("/bin/sh").exists() && Path::new("/usr/bin/timeout").exists();
    let mut cmd = if limited {
        let mut c = Command::new("/bin/sh");
        c.arg("-c")
            .arg("ulimit -v 4000000 && exec /usr/bin/timeout 20 \"$0\" \"$@\"")
            .arg(bin)
            .args(args);
        c
    } else {
        let mut c = Command::new(bin);
        c.args(args);
        c
    };
    cmd.current_dir(root()).output().expect("the binary runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("adjit-hostile-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p.display().to_string()
}

/// No sign of a crash in the output, whatever the exit code.
fn assert_no_crash(o: &Output) {
    let err = stderr(o);
    for bad in [
        "panicked at",
        "memory allocation of",
        "overflowed its stack",
        "RUST_BACKTRACE",
    ] {
        assert!(!err.contains(bad), "{bad}: {err}");
    }
    let code = o.status.code();
    assert!(
        matches!(code, Some(0..=2)),
        "exit {code:?} (124 is the time limit); stderr: {err}"
    );
}

/// A clean failure: the exit code and one line on stderr.
fn assert_fails(o: &Output, code: i32) -> String {
    assert_no_crash(o);
    let err = stderr(o);
    assert_eq!(o.status.code(), Some(code), "stderr: {err}");
    assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
    err
}

/// A success; returns stdout.
fn assert_ok(o: &Output) -> String {
    assert_no_crash(o);
    assert_eq!(o.status.code(), Some(0), "stderr: {}", stderr(o));
    stdout(o)
}

/// The value printed for `name = …` (a scalar output).
fn scalar(out: &str, name: &str) -> f64 {
    let prefix = format!("{name} = ");
    let line = out
        .lines()
        .find(|l| l.starts_with(&prefix))
        .unwrap_or_else(|| panic!("no `{prefix}` in {out}"));
    let text = &line[prefix.len()..];
    match text {
        "nan" => f64::NAN,
        "inf" => f64::INFINITY,
        "-inf" => f64::NEG_INFINITY,
        _ => text.parse().unwrap_or_else(|_| panic!("{line}")),
    }
}

const WHILE_BIG: &str = "\
func @more(%x: f64) -> bool {
  %ten: f64 = const 10.0
  %c: bool = lt %x, %ten
  return %c
}
func @inc(%x: f64) -> f64 {
  %one: f64 = const 1.0
  %y: f64 = add %x, %one
  return %y
}
func @f(%x: f64) -> f64 {
  %y: f64, %n: i64 = while @more, @inc, max=1000000000000, consts=(), init=(%x)
  return %y
}
";

const SCAN_BIG: &str = "\
func @step(%c: f64) -> f64 {
  %y: f64 = sin %c
  return %y
}
func @f(%x: f64) -> f64 {
  %y: f64 = scan @step, length=100000000000, consts=(), carry=(%x), xs=()
  return %y
}
";

/// A chain of `n` functions, each calling the previous; the last is
/// `sin(x)` through `n − 1` calls.
fn chain(n: usize) -> String {
    let mut s = String::from("func @f0(%x: f64) -> f64 {\n  %y: f64 = sin %x\n  return %y\n}\n");
    for i in 1..n {
        s += &format!(
            "func @f{i}(%x: f64) -> f64 {{\n  %y: f64 = call @f{}(%x)\n  return %y\n}}\n",
            i - 1
        );
    }
    s
}

#[test]
fn bench_with_huge_sizes_is_a_clean_error() {
    for sizes in [
        vec!["--size", "n=4611686018427387904"],
        vec!["--size", "n=1000000000000"],
    ] {
        let mut args = vec!["bench", "examples/programs/rosen.adj", "--time", "0.01"];
        args.extend(sizes);
        let err = assert_fails(&adjit(&args), 2);
        assert!(err.contains("%x"), "{err}");
    }
    let o = adjit(&[
        "bench",
        "examples/programs/mlp.adj",
        "--grad",
        "--size",
        "i=4294967296",
        "--size",
        "h=4294967296",
        "--size",
        "o=10",
        "--size",
        "b=64",
        "--time",
        "0.01",
    ]);
    assert_fails(&o, 2);
}

#[test]
fn while_with_a_huge_max_differentiates_on_both_backends() {
    let dir = scratch("while");
    let file = write(&dir, "while.adj", WHILE_BIG);
    for backend in ["jit", "interp"] {
        let out = assert_ok(&adjit(&[
            "eval",
            &file,
            "--in",
            "x=1",
            "--grad",
            "--backend",
            backend,
        ]));
        assert_eq!(scalar(&out, "y"), 10.0, "{backend}: {out}");
        assert_eq!(scalar(&out, "dy/dx"), 1.0, "{backend}: {out}");
    }
}

#[test]
fn scan_longer_than_the_element_limit_is_a_clean_error() {
    let dir = scratch("scan");
    let file = write(&dir, "scan.adj", SCAN_BIG);
    for backend in ["jit", "interp"] {
        for grad in [false, true] {
            let mut args = vec!["eval", &file, "--in", "x=1", "--backend", backend];
            if grad {
                args.push("--grad");
            }
            let err = assert_fails(&adjit(&args), 2);
            assert!(err.contains("100000000000"), "{err}");
        }
    }
}

#[test]
fn negative_sizes_trip_counts_and_maxima_fail_check() {
    let dir = scratch("negative");
    let cases = [
        WHILE_BIG.replace("max=1000000000000", "max=-1"),
        SCAN_BIG.replace("length=100000000000", "length=-1"),
        "func @f(%x: f64[-1]) -> f64[-1] {\n  return %x\n}\n".to_string(),
        "func @f(%x: f64) -> f64[2] {\n  %y: f64[2] = broadcast %x, dims=[]\n  %z: f64[-1] = slice %y, [1:0]\n  return %y\n}\n".to_string(),
    ];
    for (i, text) in cases.iter().enumerate() {
        let file = write(&dir, &format!("neg{i}.adj"), text);
        let o = adjit(&["check", &file]);
        assert_no_crash(&o);
        assert_eq!(o.status.code(), Some(1), "{text}\n{}", stdout(&o));
        // Neither backend runs what check refuses.
        for backend in ["jit", "interp"] {
            let o = adjit(&["eval", &file, "--in", "x=1", "--backend", backend]);
            assert_no_crash(&o);
            assert_eq!(o.status.code(), Some(1), "{text}");
        }
    }
}

#[test]
fn call_chains_give_the_same_outcome_on_both_backends() {
    let dir = scratch("chain");
    // Within the call-depth limit: both backends run it.
    let file = write(&dir, "chain220.adj", &chain(220));
    for backend in ["jit", "interp"] {
        let out = assert_ok(&adjit(&[
            "eval",
            &file,
            "--in",
            "x=1",
            "--grad",
            "--backend",
            backend,
        ]));
        assert!((scalar(&out, "y") - 1f64.sin()).abs() < 1e-15, "{out}");
        assert!((scalar(&out, "dy/dx") - 1f64.cos()).abs() < 1e-15, "{out}");
    }
    // Beyond it: the same clean depth error everywhere.
    for n in [5000, 8000] {
        let file = write(&dir, &format!("chain{n}.adj"), &chain(n));
        let mut errors = Vec::new();
        for args in [
            vec!["check", &file],
            vec!["eval", &file, "--in", "x=1", "--backend", "jit"],
            vec!["eval", &file, "--in", "x=1", "--backend", "interp"],
            vec!["eval", &file, "--in", "x=1", "--grad", "--backend", "jit"],
            vec![
                "eval",
                &file,
                "--in",
                "x=1",
                "--grad",
                "--backend",
                "interp",
            ],
            vec!["print", "--grad", &file],
        ] {
            let o = adjit(&args);
            assert_no_crash(&o);
            assert_eq!(o.status.code(), Some(1), "{args:?}: {}", stderr(&o));
            let text = stderr(&o) + &stdout(&o);
            assert!(text.contains("deeper than"), "{args:?}: {text}");
            errors.push(text);
        }
    }
}

#[test]
fn printed_derivatives_of_loops_check() {
    let dir = scratch("print");
    let while_file = write(&dir, "while.adj", WHILE_BIG);
    for (file, extra) in [
        ("examples/programs/spring.adj", vec!["--wrt", "k,v0"]),
        (while_file.as_str(), vec![]),
    ] {
        for opt in [false, true] {
            let mut args = vec!["print", "--grad", file];
            args.extend(extra.iter().copied());
            if !opt {
                args.push("--no-opt");
            }
            let printed = assert_ok(&adjit(&args));
            let out = write(&dir, "printed.adj", &printed);
            let o = adjit(&["check", &out]);
            assert_eq!(o.status.code(), Some(0), "{args:?}:\n{}", stderr(&o));
        }
    }
}

#[test]
fn user_names_label_derivative_outputs() {
    let dir = scratch("names");
    let file = write(
        &dir,
        "v5.adj",
        "func @f(%x: f64) -> f64 {\n  %a: f64 = sin %x\n  %v5: f64 = mul %a, %x\n  return %v5\n}\n",
    );
    for backend in ["jit", "interp"] {
        let out = assert_ok(&adjit(&[
            "eval",
            &file,
            "--in",
            "x=2",
            "--grad",
            "--backend",
            backend,
        ]));
        // d(x sin x)/dx = sin x + x cos x.
        assert_eq!(scalar(&out, "v5"), 2.0 * 2f64.sin(), "{out}");
        let want = 2f64.sin() + 2.0 * 2f64.cos();
        assert!((scalar(&out, "dv5/dx") - want).abs() < 1e-14, "{out}");
    }
}

/// `.npy` bytes: version 1.0, the header dict padded to 64 bytes, the data.
fn npy(header: &str, data: &[u8]) -> Vec<u8> {
    let mut h = header.to_string();
    while !(10 + h.len() + 1).is_multiple_of(64) {
        h.push(' ');
    }
    h.push('\n');
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend_from_slice(&(h.len() as u16).to_le_bytes());
    out.extend_from_slice(h.as_bytes());
    out.extend_from_slice(data);
    out
}

#[test]
fn malformed_npy_files_are_clean_errors() {
    let dir = scratch("npy");
    let five: Vec<u8> = (0..5).flat_map(|i| f64::to_le_bytes(i as f64)).collect();
    let four: Vec<u8> = (0..4).flat_map(|i| f64::to_le_bytes(i as f64)).collect();
    let good = npy(
        "{'descr': '<f8', 'fortran_order': False, 'shape': (5,), }",
        &five,
    );
    let file = dir.join("good.npy");
    std::fs::write(&file, &good).unwrap();
    let arg = format!("x={}", file.display());
    let out = assert_ok(&adjit(&[
        "eval",
        "examples/programs/rosen.adj",
        "--in",
        &arg,
        "--backend",
        "interp",
    ]));
    assert!(out.starts_with("f = "), "{out}");

    let mut bad: Vec<(&str, Vec<u8>)> = vec![
        (
            "list shape",
            npy(
                "{'descr': '<f8', 'fortran_order': False, 'shape': [5], }",
                &five,
            ),
        ),
        (
            "extra key",
            npy(
                "{'descr': '<f8', 'fortran_order': False, 'shape': (5,), 'x': 1, }",
                &five,
            ),
        ),
        (
            "arithmetic",
            npy(
                "{'descr': '<f8', 'fortran_order': False, 'shape': (2+2,), }",
                &four,
            ),
        ),
        (
            "missing key",
            npy("{'descr': '<f8', 'shape': (5,), }", &five),
        ),
        ("truncated", good[..good.len() - 3].to_vec()),
    ];
    // A version 2 header declaring 4 GB.
    let mut huge = b"\x93NUMPY\x02\x00".to_vec();
    huge.extend_from_slice(&u32::MAX.to_le_bytes());
    huge.extend_from_slice(b"{'descr': '<f8', ");
    bad.push(("huge header", huge));
    for (what, bytes) in bad {
        let file = dir.join("bad.npy");
        std::fs::write(&file, &bytes).unwrap();
        let arg = format!("x={}", file.display());
        let o = adjit(&[
            "eval",
            "examples/programs/rosen.adj",
            "--in",
            &arg,
            "--backend",
            "interp",
        ]);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{what}: {err}");
        assert_fails(&o, 2);
    }
}

#[test]
fn command_line_values_are_strict() {
    let rosen = "examples/programs/rosen.adj";
    for value in [
        "x=1e999,1",
        "x=",
        "x=1,,2",
        "x=0x10,1",
        "x=[1,2",
        "x=[[1,2],[3,4]]",
    ] {
        assert_fails(&adjit(&["eval", rosen, "--in", value]), 2);
    }
    // `nan` and `inf` print as they are read.
    let dir = scratch("values");
    let file = write(
        &dir,
        "nan.adj",
        "func @f(%x: f64) -> (f64, f64) {\n  %z: f64 = sub %x, %x\n  %q: f64 = div %x, %z\n  %n: f64 = div %z, %z\n  return %q, %n\n}\n",
    );
    for backend in ["jit", "interp"] {
        let out = assert_ok(&adjit(&[
            "eval",
            &file,
            "--in",
            "x=1",
            "--backend",
            backend,
        ]));
        assert!(
            out.contains("q = inf\n") && out.contains("n = nan\n"),
            "{out}"
        );
    }
    for v in ["x=nan", "x=inf", "x=-inf"] {
        assert_ok(&adjit(&["eval", &file, "--in", v]));
    }
    // Nested lists give higher ranks.
    let file = write(
        &dir,
        "m.adj",
        "func @f(%a: f64[n, m]) -> f64 {\n  %s: f64 = reduce_sum %a, axes=[0, 1]\n  return %s\n}\n",
    );
    let out = assert_ok(&adjit(&["eval", &file, "--in", "a=[[1,2,3],[4,5,6]]"]));
    assert_eq!(scalar(&out, "s"), 21.0, "{out}");
    for ragged in ["a=[[1,2],[3]]", "a=[1,2]", "a=[[1,2],3]"] {
        assert_fails(&adjit(&["eval", &file, "--in", ragged]), 2);
    }
}

#[test]
fn bad_requests_exit_2() {
    let o = adjit(&[
        "eval",
        "examples/programs/seed2.adj",
        "--in",
        "x=1",
        "--in",
        "y=2",
        "--grad",
        "--wrt",
        "x,x",
    ]);
    assert_fails(&o, 2);
    let o = adjit(&[
        "eval",
        "examples/programs/bs.adj",
        "--grad",
        "--backend",
        "interp",
    ]);
    assert_no_crash(&o);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
}

/// A small deterministic generator (SplitMix64) for the mutation tests.
struct Mix(u64);

impl Mix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// Mutated `.npy` files and `--in` values, `count` of each: every run ends
/// in exit 0 or a one-line exit 2.
fn fuzz_inputs(count: usize, seed: u64) -> usize {
    let dir = scratch(&format!("fuzz{seed}"));
    let five: Vec<u8> = (0..5).flat_map(|i| f64::to_le_bytes(i as f64)).collect();
    let good = npy(
        "{'descr': '<f8', 'fortran_order': False, 'shape': (5,), }",
        &five,
    );
    let mut rng = Mix(seed);
    let mut runs = 0;
    for i in 0..count {
        let mut bytes = good.clone();
        for _ in 0..1 + rng.below(4) {
            let at = rng.below(bytes.len());
            match rng.below(4) {
                0 => bytes[at] = rng.next() as u8,
                1 => {
                    bytes.remove(at);
                }
                2 => bytes.truncate(at),
                _ => bytes.insert(at, b"(),:'[]{}0123456789-+ \xff"[rng.below(22)]),
            }
        }
        let file = dir.join(format!("m{i}.npy"));
        std::fs::write(&file, &bytes).unwrap();
        let arg = format!("x={}", file.display());
        let o = adjit(&[
            "eval",
            "examples/programs/rosen.adj",
            "--in",
            &arg,
            "--backend",
            "interp",
        ]);
        assert_no_crash(&o);
        if o.status.code() != Some(0) {
            assert_fails(&o, 2);
        }
        runs += 1;
    }
    let pieces = [
        "1",
        "-2.5",
        "1e999",
        "-1e400",
        "nan",
        "inf",
        "-inf",
        "[",
        "]",
        ",",
        " ",
        "0x1",
        "1e",
        "",
        "[[",
        "]]",
        "true",
        "18446744073709551616",
    ];
    for _ in 0..count {
        let mut v = String::new();
        for _ in 0..1 + rng.below(6) {
            v.push_str(pieces[rng.below(pieces.len())]);
        }
        let arg = format!("x={v}");
        let o = adjit(&["eval", "examples/programs/rosen.adj", "--in", &arg]);
        assert_no_crash(&o);
        if o.status.code() != Some(0) {
            assert_fails(&o, 2);
        }
        runs += 1;
    }
    eprintln!("fuzz_inputs: {runs} runs (seed {seed})");
    runs
}

#[test]
fn mutated_inputs_short() {
    assert_eq!(fuzz_inputs(30, 1), 60);
}

#[test]
#[ignore = "long: cargo test -p adjit-cli --test hostile -- --ignored"]
fn mutated_inputs_long() {
    let count = std::env::var("ADJIT_FUZZ_COUNT")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    fuzz_inputs(count, 2);
}
