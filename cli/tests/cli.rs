//! The command-line tool, run as a new user would run it.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The workspace root, where `examples/programs` lives; the tool runs there,
/// as a user following the README would run it.
fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the tool package sits in the workspace")
}

fn adjit(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_adjit"))
        .args(args)
        .current_dir(root())
        .output()
        .expect("the binary runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn programs() -> Vec<PathBuf> {
    let dir = root().join("examples/programs");
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "adj"))
        .collect();
    files.sort();
    files
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("adjit-cli-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A user error: non-zero exit, a message, never a panic or backtrace.
fn assert_clean_failure(o: &Output, code: i32) {
    let err = stderr(o);
    assert_eq!(o.status.code(), Some(code), "stderr: {err}");
    assert!(
        !err.contains("panicked") && !err.contains("RUST_BACKTRACE"),
        "{err}"
    );
    assert!(!err.trim().is_empty());
}

#[test]
fn check_accepts_every_bundled_program() {
    let files: Vec<String> = programs().iter().map(|p| p.display().to_string()).collect();
    assert!(files.len() >= 10);
    let mut args = vec!["check"];
    args.extend(files.iter().map(String::as_str));
    let o = adjit(&args);
    assert!(o.status.success(), "{}", stderr(&o));
}

#[test]
fn printed_programs_reparse_to_identical_text() {
    let dir = scratch("print");
    for file in programs() {
        let first = adjit(&["print", file.to_str().unwrap()]);
        assert!(first.status.success(), "{}", stderr(&first));
        let copy = dir.join(file.file_name().unwrap());
        std::fs::write(&copy, &first.stdout).unwrap();
        let second = adjit(&["print", copy.to_str().unwrap()]);
        assert_eq!(stdout(&first), stdout(&second), "{}", file.display());
    }
}

#[test]
fn eval_seed2_prints_five() {
    let o = adjit(&[
        "eval",
        "examples/programs/seed2.adj",
        "--in",
        "x=3",
        "--in",
        "y=2",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o).trim(), "f = 5");
}

#[test]
fn eval_arrays_prints_summary_and_writes_npy() {
    let dir = scratch("out");
    let o = adjit(&[
        "eval",
        "examples/programs/bs.adj",
        "--in",
        "S=100,110",
        "--in",
        "K=100,100",
        "--in",
        "T=1,1",
        "--in",
        "r=0.05,0.05",
        "--in",
        "sigma=0.2,0.2",
        "--out",
        dir.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    assert!(text.starts_with("C: f64[2] [10.45058357218556"), "{text}");
    let bytes = std::fs::read(dir.join("C.npy")).unwrap();
    let npy = npyz::NpyFile::new(&bytes[..]).unwrap();
    assert_eq!(npy.shape(), &[2]);
    let prices: Vec<f64> = npy.into_vec().unwrap();
    // The textbook price of the at-the-money option.
    assert!((prices[0] - 10.4506).abs() < 1e-4, "{prices:?}");
}

fn write_npy(path: &Path, data: &[f64]) {
    use npyz::WriterBuilder;
    let mut out = Vec::new();
    let mut w = npyz::WriteOptions::<f64>::new()
        .default_dtype()
        .shape(&[data.len() as u64])
        .writer(&mut out)
        .begin_nd()
        .unwrap();
    w.extend(data.iter().copied()).unwrap();
    w.finish().unwrap();
    std::fs::write(path, out).unwrap();
}

#[test]
fn one_rosen_file_serves_every_size_from_npy() {
    let dir = scratch("rosen");
    for n in [2usize, 1000, 1_000_000] {
        let x: Vec<f64> = (0..n)
            .map(|i| ((i * 7919) % 1000) as f64 / 500.0 - 1.0)
            .collect();
        let path = dir.join(format!("x{n}.npy"));
        write_npy(&path, &x);
        let arg = format!("x={}", path.display());
        let o = adjit(&["eval", "examples/programs/rosen.adj", "--in", &arg]);
        assert!(o.status.success(), "{}", stderr(&o));
        let value: f64 = stdout(&o)
            .trim()
            .strip_prefix("f = ")
            .unwrap()
            .parse()
            .unwrap();
        let want = adjit_workloads::rosen::value(&x);
        assert!(
            (value - want).abs() <= 1e-12 * want.abs(),
            "n={n}: {value} vs {want}"
        );
    }
}

#[test]
fn broken_programs_give_located_errors() {
    let dir = scratch("broken");
    let rosen = std::fs::read_to_string(root().join("examples/programs/rosen.adj")).unwrap();
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "missing_operand",
            b"func @f(%x: f64) -> f64 {\n  %a: f64 = add %x\n  return %a\n}\n".to_vec(),
            ":2:",
        ),
        (
            "shape_mismatch",
            b"func @f(%x: f64[3], %y: f64[4]) -> f64[3] {\n  %a: f64[3] = add %x, %y\n  return %a\n}\n".to_vec(),
            ":2:",
        ),
        (
            "unknown_op",
            b"func @f(%x: f64) -> f64 {\n  %a: f64 = mull %x, %x\n  return %a\n}\n".to_vec(),
            ":2:",
        ),
        ("truncated", rosen.as_bytes()[..rosen.len() / 2].to_vec(), ":"),
        ("garbage", (0..=255u8).rev().cycle().take(500).collect(), ":1:"),
    ];
    for (name, text, loc) in cases {
        let path = dir.join(format!("{name}.adj"));
        std::fs::write(&path, text).unwrap();
        for cmd in ["check", "print", "eval"] {
            let o = adjit(&[cmd, path.to_str().unwrap()]);
            assert_clean_failure(&o, 1);
            let err = stderr(&o);
            let located = format!("{}{loc}", path.display());
            assert!(
                err.contains(&located) && err.contains("error:"),
                "{name} ({cmd}): {err}"
            );
            assert!(err.contains('^'), "{name}: no caret: {err}");
        }
    }
}

#[test]
fn user_errors_are_one_line_and_exit_2() {
    let cases: Vec<Vec<&str>> = vec![
        vec!["eval", "no/such/file.adj"],
        vec!["eval", "examples/programs/seed2.adj", "--in", "x=3"],
        vec![
            "eval",
            "examples/programs/seed2.adj",
            "--in",
            "x=3",
            "--in",
            "y=two",
        ],
        vec![
            "eval",
            "examples/programs/seed2.adj",
            "--in",
            "x=3",
            "--in",
            "y=2",
            "--in",
            "z=1",
        ],
        vec![
            "eval",
            "examples/programs/seed2.adj",
            "--in",
            "x=3",
            "--in",
            "y=1,2",
        ],
        vec![
            "eval",
            "examples/programs/rosen.adj",
            "--in",
            "x=no/such.npy",
        ],
        vec![
            "eval",
            "examples/programs/seed2.adj",
            "--func",
            "nope",
            "--in",
            "x=1",
            "--in",
            "y=1",
        ],
    ];
    for args in cases {
        let o = adjit(&args);
        assert_clean_failure(&o, 2);
        assert_eq!(
            stderr(&o).trim().lines().count(),
            1,
            "{args:?}: {}",
            stderr(&o)
        );
    }
    // A malformed .npy file.
    let dir = scratch("npy");
    let bad = dir.join("bad.npy");
    std::fs::write(
        &bad,
        b"\x93NUMPY\x01\x00\x20\x00{'descr': '<f8', 'shape': (999999999999,), }",
    )
    .unwrap();
    let arg = format!("x={}", bad.display());
    let o = adjit(&["eval", "examples/programs/rosen.adj", "--in", &arg]);
    assert_clean_failure(&o, 2);
}

#[test]
fn dot_prints_a_graph() {
    let o = adjit(&["dot", "examples/programs/seed2.adj"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    assert!(
        text.starts_with("digraph") && text.contains("mul") && text.contains("->"),
        "{text}"
    );
}

#[test]
fn no_arguments_runs_the_demo() {
    let o = adjit(&[]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(!stdout(&o).is_empty());
}

#[test]
fn eval_grad_of_seed2_prints_value_and_gradient() {
    let o = adjit(&[
        "eval",
        "examples/programs/seed2.adj",
        "--grad",
        "--in",
        "x=3",
        "--in",
        "y=2",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o), "f = 5\ndf/dx = 6\ndf/dy = -4\n");
}

#[test]
fn print_grad_shows_the_derivative_program_and_wrt_is_checked() {
    let o = adjit(&[
        "print",
        "examples/programs/logreg.adj",
        "--grad",
        "--wrt",
        "w",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    assert!(
        text.starts_with(
            "func @logreg_grad(%w: f64[d], %X: f64[n, d], %y: f64[n]) -> (f64, f64[d])"
        ),
        "{text}"
    );
    let o = adjit(&[
        "print",
        "examples/programs/logreg.adj",
        "--grad",
        "--wrt",
        "nope",
    ]);
    assert_clean_failure(&o, 2);
}

#[test]
fn eval_jvp_defaults_tangents_to_ones() {
    // d/dS of the Black-Scholes price is N(d1): at the money with r = 0.05,
    // sigma = 0.2, T = 1, d1 = 0.35.
    let o = adjit(&[
        "eval",
        "examples/programs/bs.adj",
        "--jvp",
        "--wrt",
        "S",
        "--in",
        "S=100",
        "--in",
        "K=100",
        "--in",
        "T=1",
        "--in",
        "r=0.05",
        "--in",
        "sigma=0.2",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    let line = text
        .lines()
        .find(|l| l.starts_with("C_dot"))
        .expect("a tangent line");
    let value: f64 = line
        .split(" [")
        .nth(1)
        .unwrap()
        .split(']')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let want = adjit_workloads::bs::norm_cdf(0.35);
    assert!((value - want).abs() < 1e-14, "{value} vs {want}");
}

/// Every number printed by `eval`, in order.
fn numbers(text: &str) -> Vec<f64> {
    text.split(|c: char| c.is_whitespace() || c == '[' || c == ']' || c == '=')
        .filter_map(|w| w.parse::<f64>().ok())
        .collect()
}

#[test]
fn jit_and_interpreter_backends_agree() {
    let runs: Vec<Vec<&str>> = vec![
        vec!["examples/programs/seed1.adj", "--grad", "--in", "x=0.7"],
        vec![
            "examples/programs/seed2.adj",
            "--grad",
            "--in",
            "x=3",
            "--in",
            "y=2",
        ],
        vec![
            "examples/programs/seed3.adj",
            "--grad",
            "--in",
            "x=-1.5",
            "--in",
            "y=4",
        ],
        vec!["examples/programs/select.adj", "--grad", "--in", "x=3"],
        vec!["examples/programs/select.adj", "--grad", "--in", "x=0.5"],
        vec![
            "examples/programs/rosen.adj",
            "--grad",
            "--in",
            "x=1,2,3,-0.5,0.25",
        ],
        vec![
            "examples/programs/rosen.adj",
            "--hvp",
            "--in",
            "x=1,2,3,-0.5,0.25",
        ],
        vec![
            "examples/programs/bs.adj",
            "--jvp",
            "--wrt",
            "S",
            "--in",
            "S=90,100,120",
            "--in",
            "K=100,100,100",
            "--in",
            "T=0.5,1,2",
            "--in",
            "r=0.01,0.05,0.03",
            "--in",
            "sigma=0.3,0.2,0.25",
        ],
    ];
    for run in runs {
        let mut jit = vec!["eval"];
        jit.extend(&run);
        let mut interp = jit.clone();
        interp.extend(["--backend", "interp"]);
        let (a, b) = (adjit(&jit), adjit(&interp));
        assert!(
            a.status.success() && b.status.success(),
            "{run:?}: {} {}",
            stderr(&a),
            stderr(&b)
        );
        let (x, y) = (numbers(&stdout(&a)), numbers(&stdout(&b)));
        assert_eq!(x.len(), y.len(), "{run:?}");
        for (p, q) in x.iter().zip(&y) {
            assert!(
                (p - q).abs() <= 1e-13 * p.abs().max(q.abs()),
                "{run:?}: {p} vs {q}"
            );
        }
    }
}

#[test]
fn asm_prints_cranelift_ir_and_machine_code() {
    let o = adjit(&[
        "asm",
        "examples/programs/rosen.adj",
        "--grad",
        "--size",
        "n=1000",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    assert!(
        text.contains("Cranelift IR")
            && text.contains("function u0:")
            && text.contains("machine code")
    );
    let o = adjit(&["asm", "examples/programs/rosen.adj"]);
    assert_clean_failure(&o, 2);
}

#[test]
fn bench_reports_compile_stages_timings_and_ratios_as_json() {
    let o = adjit(&[
        "bench",
        "examples/programs/rosen.adj",
        "--grad",
        "--size",
        "n=100",
        "--time",
        "0.01",
        "--json",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let report: serde_json::Value = serde_json::from_str(&stdout(&o)).expect("one JSON object");
    assert_eq!(report["function"], "rosen");
    assert_eq!(report["program"], "rosen_grad");
    assert_eq!(report["kind"], "grad");
    let inputs = report["inputs"].as_array().expect("inputs");
    assert_eq!(inputs.len(), 1);
    assert_eq!(inputs[0]["name"], "x");
    assert_eq!(inputs[0]["type"], "f64[100]");
    assert_eq!(inputs[0]["generated"], true);
    for stage in ["parse", "ad", "optimise", "codegen"] {
        let ns = report["compile_ns"][stage].as_f64();
        assert!(ns.is_some_and(|t| t >= 0.0), "{stage}: {report}");
    }
    for row in ["jit", "interp", "jit primal", "fd jit"] {
        let t = &report["timings"][row];
        assert!(
            t["median_ns"].as_f64().is_some_and(|t| t > 0.0),
            "{row}: {t}"
        );
        assert!(t["samples"].as_u64().is_some_and(|n| n >= 1), "{row}: {t}");
    }
    // The interpreter is the reference; the JIT reassociates sums only.
    let difference = report["jit_interp_difference"].as_f64();
    assert!(difference.is_some_and(|d| d <= 1e-12), "{report}");
    for ratio in ["interp / jit", "fd jit / jit", "jit / jit primal"] {
        let x = report["ratios"][ratio].as_f64();
        assert!(x.is_some_and(|x| x > 0.0), "{ratio}: {report}");
    }
}

#[test]
fn bench_prints_a_table_and_takes_given_inputs() {
    let o = adjit(&[
        "bench",
        "examples/programs/seed2.adj",
        "--in",
        "x=3",
        "--time",
        "0.01",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    assert!(text.contains("%x: f64 (given)") && text.contains("%y: f64 (generated)"));
    assert!(text.contains("compile") && text.contains("parse") && text.contains("codegen"));
    assert!(
        !text.contains("\n  ad "),
        "no AD stage without a derivative:\n{text}"
    );
    for row in ["jit", "interp"] {
        assert!(
            text.lines().any(|l| l.trim_start().starts_with(row)),
            "{row}:\n{text}"
        );
    }
    assert!(text.contains("interp / jit"));
    // No finite differences without --grad.
    assert!(!text.contains("fd jit"));
}

#[test]
fn bench_rejects_bad_requests() {
    for args in [
        &["bench", "examples/programs/rosen.adj"][..],
        &[
            "bench",
            "examples/programs/rosen.adj",
            "--size",
            "n=10",
            "--time",
            "0",
        ],
        &[
            "bench",
            "examples/programs/rosen.adj",
            "--size",
            "n=10",
            "--time",
            "nan",
        ],
        &["bench", "examples/programs/seed2.adj", "--in", "z=1"],
    ] {
        let o = adjit(args);
        assert_clean_failure(&o, 2);
    }
}
