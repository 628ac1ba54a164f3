//! The C API from C and from Python: the programs of `examples/c/` are
//! built with the machine's C compiler (`cc`, or `$CC`) against the shared
//! library this package builds, run, and their gradients compared with the
//! interpreter's on the same inputs. Also: errors from Rust through the C
//! entry points (null pointers, malformed programs, missing sizes) are
//! codes and messages.

use adjit::ir::{Tensor, interp};
use adjit_capi::prepare::{self, Kind};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The repository's root.
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("capi/ has a parent")
        .to_path_buf()
}

/// The directory holding the libraries cargo builds for this test
/// (`target/<profile>`, the parent of the test binary's `deps/`). Cargo
/// builds only the Rust library for a test, so the first call builds the
/// shared library itself with the same profile.
fn lib_dir() -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            let exe = std::env::current_exe().expect("the test binary's path");
            let dir = exe
                .parent()
                .and_then(Path::parent)
                .expect("target/<profile>/deps/<test>")
                .to_path_buf();
            let profile = match dir.file_name().and_then(|n| n.to_str()) {
                Some("debug") | None => "dev".to_string(),
                Some(other) => other.to_string(),
            };
            let status = Command::new(env!("CARGO"))
                .args(["build", "--quiet", "-p", "adjit-capi", "--lib", "--profile"])
                .arg(&profile)
                .current_dir(root())
                .status()
                .expect("cargo runs");
            assert!(status.success(), "cargo build -p adjit-capi failed");
            assert!(
                dir.join("libadjit_capi.so").exists(),
                "{} has no libadjit_capi.so",
                dir.display()
            );
            dir
        })
        .clone()
}

/// A fresh scratch directory for this test.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("adjit-capi-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

/// Compiles a C file against the shared library; returns the executable.
fn build_c(src: &str, dir: &Path) -> PathBuf {
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".to_string());
    let libs = lib_dir();
    let exe = dir.join(Path::new(src).file_stem().expect("a file name"));
    let out = Command::new(&cc)
        .arg("-std=c11")
        .arg("-Wall")
        .arg("-Werror")
        .arg(root().join("examples/c").join(src))
        .arg("-I")
        .arg(root().join("capi/include"))
        .arg("-L")
        .arg(&libs)
        .arg("-ladjit_capi")
        .arg(format!("-Wl,-rpath,{}", libs.display()))
        .arg("-o")
        .arg(&exe)
        .output()
        .unwrap_or_else(|e| panic!("running {cc}: {e}"));
    assert!(
        out.status.success(),
        "{cc} {src} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    exe
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().expect("runs");
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}):\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8 output")
}

/// The outputs printed by `grad_from_text`: per `output NAME COUNT` line,
/// the numbers after it.
fn parse_outputs(text: &str) -> Vec<(String, Vec<f64>)> {
    let mut out: Vec<(String, Vec<f64>)> = Vec::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("output ") {
            let name = rest.split_whitespace().next().expect("a name");
            out.push((name.to_string(), Vec::new()));
        } else if let (Some(last), Ok(x)) = (out.last_mut(), line.trim().parse::<f64>()) {
            last.1.push(x);
        }
    }
    out
}

/// The interpreter's gradient (alone) of `file`'s last function.
fn interp_grad(source: &str, wrt: &[&str], inputs: &[Tensor]) -> Vec<Vec<f64>> {
    let (m, entry) = prepare::parse("test", source).expect("parses");
    let (gm, gf) = prepare::derive(&m, &entry, Kind::Grad, wrt).expect("derives");
    interp::eval(&gm, &gf, inputs)
        .expect("interprets")
        .iter()
        .map(|t| t.as_f64().expect("f64").to_vec())
        .collect()
}

/// `|got − want| ≤ tol·|want|` elementwise (or equal).
fn assert_rel(what: &str, got: &[f64], want: &[f64], tol: f64) {
    assert_eq!(got.len(), want.len(), "{what}: lengths");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(
            g == w || (g - w).abs() <= tol * w.abs(),
            "{what}[{i}]: got {g:e}, want {w:e}"
        );
    }
}

#[test]
fn the_c_example_compiles_a_gradient_from_text_and_reports_a_malformed_program() {
    let dir = scratch("builtin");
    let exe = build_c("grad_from_text.c", &dir);
    let text = run(&mut Command::new(&exe));
    // The built-in example: rosen at n = 4, x[j] = 0.5 + j/4.
    let outputs = parse_outputs(&text);
    assert_eq!(outputs.len(), 1, "{text}");
    let rosen = std::fs::read_to_string(root().join("examples/programs/rosen.adj")).unwrap();
    let x = Tensor::f64(&[4], (0..4).map(|j| 0.5 + j as f64 / 4.0).collect()).unwrap();
    let want = interp_grad(&rosen, &["x"], &[x]);
    assert_rel("drosen/dx", &outputs[0].1, &want[0], 1e-12);
    assert!(
        text.contains("malformed program: status 2 (ADJIT_ERR_PARSE = 2), module null"),
        "{text}"
    );
    assert!(text.contains("message: "), "{text}");
}

/// The spring inputs of sample `b` (the formulas of `spring_batch.py`):
/// k, v0, x0, target, dt.
fn spring_inputs(b: usize) -> Vec<Tensor> {
    let n = 32;
    let k = (0..n - 1)
        .map(|j| 0.5 + ((7 * j + 3 * b) % 11) as f64 / 10.0)
        .collect();
    let v0 = (0..n)
        .map(|j| ((5 * j + b) % 7) as f64 / 10.0 - 0.3)
        .collect();
    let x0 = (0..n)
        .map(|j| j as f64 + ((3 * j) % 5) as f64 / 20.0)
        .collect();
    let target = (0..n).map(|j| 1.1 * j as f64).collect();
    vec![
        Tensor::f64(&[n - 1], k).unwrap(),
        Tensor::f64(&[n], v0).unwrap(),
        Tensor::f64(&[n], x0).unwrap(),
        Tensor::f64(&[n], target).unwrap(),
        Tensor::from_f64(0.01),
    ]
}

#[test]
fn the_c_example_matches_the_interpreter_on_the_spring_gradient() {
    let dir = scratch("spring");
    let exe = build_c("grad_from_text.c", &dir);
    let inputs = spring_inputs(0);
    let mut numbers = String::new();
    for t in &inputs {
        for x in t.as_f64().unwrap() {
            numbers.push_str(&format!("{x:?}\n"));
        }
    }
    let file = dir.join("inputs.txt");
    std::fs::write(&file, numbers).unwrap();
    let program = root().join("examples/programs/spring.adj");
    let text = run(Command::new(&exe)
        .arg(&program)
        .arg("k,v0")
        .arg("n=32")
        .arg(&file));
    let got = parse_outputs(&text);
    let source = std::fs::read_to_string(&program).unwrap();
    let want = interp_grad(&source, &["k", "v0"], &inputs);
    assert_eq!(got.len(), 2, "{text}");
    assert_eq!(got[0].0, "k_bar");
    assert_rel("dloss/dk", &got[0].1, &want[0], 1e-12);
    assert_rel("dloss/dv0", &got[1].1, &want[1], 1e-12);
}

#[test]
fn the_python_ctypes_example_runs_a_batch_and_matches_the_interpreter() {
    let lib = lib_dir().join("libadjit_capi.so");
    let text = run(Command::new("python3")
        .arg(root().join("examples/c/spring_batch.py"))
        .arg(&lib)
        .arg("6"));
    let got: Vec<f64> = text.lines().map(|l| l.trim().parse().unwrap()).collect();
    let source = std::fs::read_to_string(root().join("examples/programs/spring.adj")).unwrap();
    let want = interp_grad(&source, &["k", "v0"], &spring_inputs(1));
    assert_eq!(got.len(), 31 + 32);
    assert_rel("dloss/dk", &got[..31], &want[0], 1e-12);
    assert_rel("dloss/dv0", &got[31..], &want[1], 1e-12);
}

/// Whether `tool` runs (`tool --version`).
fn have(tool: &str) -> bool {
    Command::new(tool)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Builds `src` with `compiler` (and `flags`) against the shared library.
fn build_with(compiler: &str, flags: &[&str], src: &str, dir: &Path) -> PathBuf {
    let libs = lib_dir();
    let exe = dir.join(src.replace('.', "_"));
    let out = Command::new(compiler)
        .args(flags)
        .arg(root().join("examples/c").join(src))
        .arg("-L")
        .arg(&libs)
        .arg("-ladjit_capi")
        .arg(format!("-Wl,-rpath,{}", libs.display()))
        .arg("-o")
        .arg(&exe)
        .output()
        .unwrap_or_else(|e| panic!("running {compiler}: {e}"));
    assert!(
        out.status.success(),
        "{compiler} {src} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    exe
}

/// The interpreter's gradient of rosen at x[j] = 0.5 + j/4, n = 4.
fn rosen_reference() -> Vec<f64> {
    let rosen = std::fs::read_to_string(root().join("examples/programs/rosen.adj")).unwrap();
    let x = Tensor::f64(&[4], (0..4).map(|j| 0.5 + j as f64 / 4.0).collect()).unwrap();
    interp_grad(&rosen, &["x"], &[x]).remove(0)
}

#[test]
fn the_cpp_example_matches_the_interpreter() {
    if !have("c++") {
        eprintln!("no c++ on this machine: the C++ example is not built");
        return;
    }
    let dir = scratch("cpp");
    let include = root().join("capi/include");
    let exe = build_with(
        "c++",
        &[
            "-std=c++17",
            "-Wall",
            "-Werror",
            "-I",
            include.to_str().unwrap(),
        ],
        "rosen_grad.cpp",
        &dir,
    );
    let text = run(Command::new(&exe).arg(root().join("examples/programs/rosen.adj")));
    let got: Vec<f64> = text.lines().map(|l| l.trim().parse().unwrap()).collect();
    assert_rel("drosen/dx", &got, &rosen_reference(), 1e-12);
}

#[test]
fn the_fortran_example_matches_the_interpreter() {
    if !have("gfortran") {
        eprintln!("no gfortran on this machine: the Fortran example is not built");
        return;
    }
    let dir = scratch("fortran");
    let exe = build_with("gfortran", &["-Wall", "-Werror"], "rosen_grad.f90", &dir);
    let text = run(&mut Command::new(&exe));
    let got: Vec<f64> = text.lines().map(|l| l.trim().parse().unwrap()).collect();
    assert_rel("drosen/dx", &got, &rosen_reference(), 1e-12);
}
