//! `adjit build`: objects and headers linked into C programs by the
//! machine's C compiler (`cc`, or `$CC`), run, and compared with the
//! interpreter; the linked programs need nothing but libc and libm.

use adjit::ir::{Tensor, interp};
use adjit_capi::prepare::{self, Kind};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the tool package sits in the workspace")
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("adjit-build-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

fn ok(o: Output, what: &str) -> String {
    assert!(
        o.status.success(),
        "{what} failed ({}):\nstdout:\n{}\nstderr:\n{}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn adjit(args: &[&str], dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_adjit"))
        .args(args)
        .current_dir(dir)
        .output()
        .expect("the binary runs")
}

fn program(name: &str) -> String {
    root()
        .join("examples/programs")
        .join(format!("{name}.adj"))
        .display()
        .to_string()
}

/// Compiles and links `src` from examples/c with the objects; returns the
/// executable.
fn cc(src: &str, objects: &[&str], dir: &Path) -> PathBuf {
    let compiler = std::env::var("CC").unwrap_or_else(|_| "cc".to_string());
    let exe = dir.join(src.trim_end_matches(".c"));
    let o = Command::new(&compiler)
        .args(["-std=c11", "-Wall", "-Werror", "-I"])
        .arg(dir)
        .arg(root().join("examples/c").join(src))
        .args(objects.iter().map(|o| dir.join(o)))
        .args(["-lm", "-o"])
        .arg(&exe)
        .output()
        .expect("the C compiler runs");
    ok(o, &format!("{compiler} {src}"));
    exe
}

fn numbers(text: &str) -> Vec<f64> {
    text.lines().map(|l| l.trim().parse().unwrap()).collect()
}

fn assert_rel(what: &str, got: &[f64], want: &[f64], tol: f64) {
    assert_eq!(got.len(), want.len(), "{what}: lengths");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(
            g == w || (g - w).abs() <= tol * w.abs(),
            "{what}[{i}]: got {g:e}, want {w:e}"
        );
    }
}

/// The interpreter on `kind` of the bundled program `name`.
fn interpret(name: &str, kind: Kind, wrt: &[&str], inputs: &[Tensor]) -> Vec<Vec<f64>> {
    let source = std::fs::read_to_string(program(name)).unwrap();
    let (m, entry) = prepare::parse(name, &source).unwrap();
    let (dm, df) = prepare::derive(&m, &entry, kind, wrt).unwrap();
    interp::eval(&dm, &df, inputs)
        .unwrap()
        .iter()
        .map(|t| t.as_f64().unwrap().to_vec())
        .collect()
}

fn rosen_x() -> Tensor {
    Tensor::f64(&[8], (0..8).map(|j| 0.5 + j as f64 / 8.0).collect()).unwrap()
}

/// The symbols `nm -u` lists as undefined in `exe` (none if nm is absent).
fn undefined(exe: &Path) -> Option<Vec<String>> {
    let o = Command::new("nm").arg("-u").arg(exe).output().ok()?;
    o.status.success().then(|| {
        String::from_utf8_lossy(&o.stdout)
            .lines()
            .filter_map(|l| l.split_whitespace().last().map(str::to_string))
            .collect()
    })
}

#[test]
fn the_rosen_gradient_built_ahead_of_time_matches_the_interpreter_from_c() {
    let dir = scratch("rosen");
    let out = adjit(
        &[
            "build",
            &program("rosen"),
            "--grad",
            "--wrt",
            "x",
            "--size",
            "n=8",
            "-o",
            "rosen.o",
            "--header",
            "rosen.h",
            "--timings",
        ],
        &dir,
    );
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    ok(out, "adjit build rosen");
    assert!(err.contains("rosen_grad: AD and optimisation"), "{err}");
    let header = std::fs::read_to_string(dir.join("rosen.h")).unwrap();
    for needle in [
        "void rosen(const void *const *inputs, void *const *outputs, void *workspace);",
        "void rosen_grad(const void *const *inputs, void *const *outputs, void *workspace);",
        "#define ROSEN_GRAD_IN0_COUNT 8",
        "#define ROSEN_GRAD_OUT0_COUNT 8",
        "#define ROSEN_OUT0_COUNT 1",
        "the gradient of @rosen's last output with respect to %x",
    ] {
        assert!(header.contains(needle), "{needle} not in\n{header}");
    }
    let exe = cc("rosen_aot.c", &["rosen.o"], &dir);
    let got = numbers(&ok(Command::new(&exe).output().unwrap(), "rosen_aot"));
    let want = interpret("rosen", Kind::Grad, &["x"], &[rosen_x()]);
    assert_rel("drosen/dx", &got, &want[0], 1e-12);
    if let Some(symbols) = undefined(&exe) {
        for s in &symbols {
            assert!(
                !s.starts_with("adjit") && !s.starts_with("rosen"),
                "{s} is undefined in the linked program: {symbols:?}"
            );
        }
    }
}

#[test]
fn two_objects_link_into_one_program() {
    let dir = scratch("two");
    ok(
        adjit(
            &[
                "build",
                &program("rosen"),
                "--grad",
                "--wrt",
                "x",
                "--size",
                "n=8",
                "-o",
                "rosen.o",
                "--header",
                "rosen.h",
            ],
            &dir,
        ),
        "adjit build rosen",
    );
    ok(
        adjit(
            &[
                "build",
                &program("spring"),
                "--size",
                "n=32",
                "-o",
                "spring.o",
                "--header",
                "spring.h",
            ],
            &dir,
        ),
        "adjit build spring",
    );
    let exe = cc("two_objects.c", &["rosen.o", "spring.o"], &dir);
    let got = numbers(&ok(Command::new(&exe).output().unwrap(), "two_objects"));
    let want = interpret("rosen", Kind::Grad, &["x"], &[rosen_x()]);
    assert_rel("drosen/dx", &got[..8], &want[0], 1e-12);
    let n = 32;
    let spring_in = vec![
        Tensor::f64(
            &[n - 1],
            (0..n - 1)
                .map(|j| 0.5 + ((7 * j) % 11) as f64 / 10.0)
                .collect(),
        )
        .unwrap(),
        Tensor::f64(
            &[n],
            (0..n).map(|j| ((5 * j) % 7) as f64 / 10.0 - 0.3).collect(),
        )
        .unwrap(),
        Tensor::f64(
            &[n],
            (0..n)
                .map(|j| j as f64 + ((3 * j) % 5) as f64 / 20.0)
                .collect(),
        )
        .unwrap(),
        Tensor::f64(&[n], (0..n).map(|j| 1.1 * j as f64).collect()).unwrap(),
        Tensor::from_f64(0.01),
    ];
    let loss = interpret("spring", Kind::Primal, &[], &spring_in);
    // One sum of 32 squares: the JIT's reassociation bound, 4·n·ε·Σ|xᵢ|
    // (every term is non-negative, so Σ|xᵢ| is the loss itself).
    let bound = 4.0 * 32.0 * f64::EPSILON * loss[0][0];
    assert!(
        (got[8] - loss[0][0]).abs() <= bound,
        "spring loss: got {}, want {}",
        got[8],
        loss[0][0]
    );
}

#[test]
fn build_errors_are_clear() {
    let dir = scratch("errors");
    // A size variable without --size.
    let o = adjit(
        &[
            "build",
            &program("rosen"),
            "--grad",
            "-o",
            "r.o",
            "--header",
            "r.h",
        ],
        &dir,
    );
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("n=N") && err.contains("--size"), "{err}");
    // A prefix that is not a C identifier.
    let o = adjit(
        &[
            "build",
            &program("rosen"),
            "--size",
            "n=4",
            "--prefix",
            "3x",
            "-o",
            "r.o",
            "--header",
            "r.h",
        ],
        &dir,
    );
    assert_eq!(o.status.code(), Some(2));
    // The reverse sweep of a loop cannot be emitted into an object yet.
    let o = adjit(
        &[
            "build",
            &program("spring"),
            "--grad",
            "--wrt",
            "k,v0",
            "--size",
            "n=32",
            "-o",
            "s.o",
            "--header",
            "s.h",
        ],
        &dir,
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("spring_grad"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}
