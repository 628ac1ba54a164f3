//! Loops through the JIT against hand-written Rust (`adjit_workloads`) and
//! the interpreter, in one run, plus compile times that must not depend on
//! the trip count.
//!
//! - `spring`: the bundled program (N = 32, T = 1000): value, and value +
//!   gradient with respect to k, v0 and x0 (`ad::grad`, then
//!   `opt::optimize`) under the default policy (store-all, as bundled) and binomial(32)
//!   checkpointing; hand-written Rust (value, and the adjoint over a stored
//!   trajectory) and the interpreter as baselines.
//! - `scan_step`: the per-step cost of a loop whose body does almost
//!   nothing (one scalar add), T = 10⁵: the overhead of a native loop step
//!   (pointer tables, the call of the compiled body); and of the reverse
//!   sweep of that loop under store-all (a forward and a reverse step per
//!   trip, run by the checkpointing driver).
//! - `compile`: AD + optimisation + compilation of the spring gradient at
//!   T = 10 and T = 10⁵ (they should be equal).
//!
//! Run with `cargo bench --bench loops` (add `-- --quick` for a fast pass);
//! compare medians within one run.

use adjit::ir::text::{parse_module, print_module};
use adjit::ir::{Module, Tensor, Type, interp};
use adjit::jit::{self, ArgMut, ArgRef, CompiledFn, Options};
use adjit_workloads::spring;
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use std::hint::black_box;
use std::time::Duration;

fn opts() -> Options {
    Options {
        verify: false,
        ..Options::default()
    }
}

/// The bundled spring program with `T` steps and the given policy (`""`:
/// store all, or e.g. `", checkpoint=binomial(32)"`).
fn spring_program(steps: usize, policy: &str) -> Module {
    let path = format!(
        "{}/examples/programs/spring.adj",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).expect("bundled program");
    let m = parse_module(&text).expect("parses").0;
    let text = print_module(&m)
        .replace(", checkpoint=binomial(32)", "")
        .replace("length=1000", &format!("length={steps}"))
        .replace("xs=()", &format!("xs=(){policy}"));
    parse_module(&text).expect("parses").0
}

/// The optimised gradient program (wrt k, v0, x0) and its name.
fn spring_gradient(m: &Module) -> (Module, String) {
    let (gm, gf) = adjit::ad::grad(m, "spring", &[0, 1, 2]).expect("differentiates");
    (adjit::opt::optimize(&gm, &gf).expect("optimises"), gf)
}

fn spring_types(n: usize) -> Vec<Type> {
    vec![
        Type::f64(&[n - 1]),
        Type::f64(&[n]),
        Type::f64(&[n]),
        Type::f64(&[n]),
        Type::f64(&[]),
    ]
}

fn compile_spring_gradient(steps: usize, policy: &str) -> CompiledFn {
    let (gm, gf) = spring_gradient(&spring_program(steps, policy));
    jit::compile_for_with(&gm, &gf, &spring_types(32), &opts()).expect("compiles")
}

fn spring_bench(c: &mut Criterion) {
    let inp = spring::inputs(spring::BENCH, 1);
    let cfg = inp.config;
    let n = cfg.masses;
    let dt = [cfg.dt];
    fn args<'a>(inp: &'a spring::SpringInputs, dt: &'a [f64]) -> [ArgRef<'a>; 5] {
        [
            ArgRef::F64(&inp.k),
            ArgRef::F64(&inp.v0),
            ArgRef::F64(&inp.x0),
            ArgRef::F64(&inp.target),
            ArgRef::F64(dt),
        ]
    }
    let mut group = c.benchmark_group("spring");
    let mut sws = spring::Workspace::new(cfg).expect("workspace");
    group.bench_function("value/rust", |b| {
        b.iter(|| spring::value(cfg, black_box(inp.args()), &mut sws).unwrap())
    });
    let value = jit::compile_for_with(
        &spring_program(cfg.steps, ""),
        "spring",
        &spring_types(n),
        &opts(),
    )
    .expect("compiles");
    let mut vws = value.workspace();
    let mut loss = [0.0];
    group.bench_function("value/jit", |b| {
        b.iter(|| {
            value
                .call_into(
                    &args(black_box(&inp), &dt),
                    &mut [ArgMut::F64(&mut loss)],
                    &mut vws,
                )
                .unwrap();
            loss[0]
        })
    });
    let (mut dk, mut dx0, mut dv0) = (vec![0.0; n - 1], vec![0.0; n], vec![0.0; n]);
    group.bench_function("grad/rust", |b| {
        b.iter(|| {
            let grads = spring::Grads {
                k: &mut dk,
                x0: &mut dx0,
                v0: &mut dv0,
            };
            spring::value_and_grad(cfg, black_box(inp.args()), &mut sws, grads).unwrap()
        })
    });
    for (name, policy) in [("all", ""), ("binomial32", ", checkpoint=binomial(32)")] {
        let g = compile_spring_gradient(cfg.steps, policy);
        let mut gws = g.workspace();
        group.bench_function(format!("grad/jit_{name}"), |b| {
            b.iter(|| {
                g.call_into(
                    &args(black_box(&inp), &dt),
                    &mut [
                        ArgMut::F64(&mut loss),
                        ArgMut::F64(&mut dk),
                        ArgMut::F64(&mut dv0),
                        ArgMut::F64(&mut dx0),
                    ],
                    &mut gws,
                )
                .unwrap();
                loss[0]
            })
        });
    }
    let (gm, gf) = spring_gradient(&spring_program(cfg.steps, ""));
    let tensors = [
        Tensor::f64(&[n - 1], inp.k.clone()).unwrap(),
        Tensor::f64(&[n], inp.v0.clone()).unwrap(),
        Tensor::f64(&[n], inp.x0.clone()).unwrap(),
        Tensor::f64(&[n], inp.target.clone()).unwrap(),
        Tensor::from_f64(cfg.dt),
    ];
    let (im, iname) = adjit::ir::instantiate(&gm, &gf, &spring_types(n)).expect("instantiates");
    group.sample_size(10);
    group.bench_function("grad/interp", |b| {
        b.iter(|| interp::eval(&im, &iname, black_box(&tensors)).unwrap())
    });
    group.finish();
}

fn scan_step(c: &mut Criterion) {
    const T: usize = 100_000;
    let src = format!(
        r#"
func @inc(%d: f64, %x: f64) -> f64 {{
  %y: f64 = add %x, %d
  return %y
}}

func @f(%d: f64, %x0: f64) -> f64 {{
  %x: f64 = scan @inc, length={T}, consts=(%d), carry=(%x0), xs=()
  return %x
}}
"#
    );
    let m = parse_module(&src).expect("parses").0;
    let f = jit::compile_with(&m, "f", &opts()).expect("compiles");
    let mut ws = f.workspace();
    let mut out = [0.0];
    let mut group = c.benchmark_group("scan_step");
    group.bench_function(BenchmarkId::new("jit_scalar_add", T), |b| {
        b.iter(|| {
            f.call_into(
                &[ArgRef::F64(&[1.0]), ArgRef::F64(black_box(&[0.0]))],
                &mut [ArgMut::F64(&mut out)],
                &mut ws,
            )
            .unwrap();
            out[0]
        })
    });
    // The reverse sweep of the same loop under store-all: one forward step
    // (advance) and one reverse step per trip, through the runtime driver.
    let src = format!(
        r#"
func @inc(%d: f64, %x: f64) -> f64 {{
  %y: f64 = add %x, %d
  return %y
}}

func @back(%d: f64, %g: f64, %x: f64) -> f64 {{
  %h: f64 = add %g, %x
  return %h
}}

func @f(%d: f64, %x0: f64) -> f64 {{
  %g: f64 = scan_adjoint @inc, @back, length={T}, consts=(%d), carry=(%x0), xs=(), adjoint_carry=(%x0), adjoint_xs=()
  return %g
}}
"#
    );
    let m = parse_module(&src).expect("parses").0;
    let f = jit::compile_with(&m, "f", &opts()).expect("compiles");
    let mut ws = f.workspace();
    group.bench_function(BenchmarkId::new("jit_adjoint_scalar_add", T), |b| {
        b.iter(|| {
            f.call_into(
                &[ArgRef::F64(&[1.0]), ArgRef::F64(black_box(&[0.0]))],
                &mut [ArgMut::F64(&mut out)],
                &mut ws,
            )
            .unwrap();
            out[0]
        })
    });
    group.finish();
}

fn compile_time(c: &mut Criterion) {
    let mut group = c.benchmark_group("compile");
    group.sample_size(10);
    for steps in [10usize, 100_000] {
        let m = spring_program(steps, ", checkpoint=binomial(32)");
        group.bench_with_input(BenchmarkId::new("spring_grad", steps), &steps, |b, _| {
            b.iter(|| {
                let (gm, gf) = spring_gradient(&m);
                jit::compile_for_with(&gm, &gf, &spring_types(32), &opts()).unwrap()
            })
        });
    }
    group.finish();
}

criterion_group!(
    name = benches;
    config = Criterion::default().warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(3));
    targets = spring_bench, scan_step, compile_time
);
criterion_main!(benches);
