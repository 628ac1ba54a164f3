//! The JIT against hand-written Rust (`adjit_workloads`) and the
//! interpreter, in one run, plus compile times of generated graphs.
//!
//! - `seed2`: f(x, y) = (x + y)(x − y): per-call overhead through the raw
//!   entry, the zero-allocation `call_into`, and the allocating `call`.
//! - `rosen`: value, and value + gradient (the gradient graph is written out
//!   the way reverse-mode AD produces it: `pad(∂x₀, 0, 1) + pad(∂x₁, 1, 0)`),
//!   n = 1000 and 100000.
//! - `logreg`: value, and value + gradient, X: 10000×100.
//! - `compile`: graphs of 10², 10³, 10⁴, 10⁵ nodes (a random scalar chain
//!   and a wide random DAG of `f64[8]` ops).
//!
//! Run with `cargo bench --bench jit`; compare medians within one run.

use adjit::ir::text::parse_module;
use adjit::ir::{Module, Tensor, Type, interp};
use adjit::jit::{self, ArgMut, ArgRef, CompiledFn, Options};
use adjit_workloads::{logreg, rosen};
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use std::hint::black_box;
use std::time::Duration;

#[path = "../tests/jit_support/mod.rs"]
mod support;

fn program(name: &str) -> Module {
    let path = format!(
        "{}/examples/programs/{name}.adj",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).expect("bundled program");
    parse_module(&text).expect("parses").0
}

fn compile_for(m: &Module, f: &str, args: &[Type]) -> CompiledFn {
    jit::compile_for_with(
        m,
        f,
        args,
        &Options {
            verify: false,
            ..Options::default()
        },
    )
    .expect("compiles")
}

fn seed2(c: &mut Criterion) {
    let m = program("seed2");
    let f = compile_for(&m, "seed2", &[Type::f64(&[]), Type::f64(&[])]);
    let mut group = c.benchmark_group("seed2");
    group.bench_function("rust", |b| {
        b.iter(|| adjit_workloads::seeds::seed2(black_box(3.0), black_box(2.0)))
    });
    // The same function written in Rust behind the same ABI and called
    // through a function pointer: the cost of the calling convention itself.
    extern "C" fn seed2_abi(inputs: *const *const u8, outputs: *const *mut u8, _ws: *mut u8) {
        // SAFETY: called below with two f64 inputs and one f64 output.
        unsafe {
            let x = *(*inputs).cast::<f64>();
            let y = *(*inputs.add(1)).cast::<f64>();
            *(*outputs).cast::<f64>() = (x + y) * (x - y);
        }
    }
    let raw = f.raw();
    let mut ws = f.workspace();
    let (x, y) = (3.0f64, 2.0f64);
    let mut out = 0.0f64;
    let inputs: [*const u8; 2] = [(&raw const x).cast(), (&raw const y).cast()];
    let outputs: [*mut u8; 1] = [(&raw mut out).cast()];
    let wsp = ws.as_mut_ptr();
    group.bench_function("jit_raw", |b| {
        b.iter(|| {
            // SAFETY: the ABI of seed2: two f64 scalars in, one out, no workspace.
            unsafe { raw.call(black_box(inputs.as_ptr()), outputs.as_ptr(), wsp) };
            black_box(out)
        })
    });
    let rust_ptr: extern "C" fn(*const *const u8, *const *mut u8, *mut u8) = black_box(seed2_abi);
    group.bench_function("rust_fn_ptr", |b| {
        b.iter(|| {
            rust_ptr(black_box(inputs.as_ptr()), outputs.as_ptr(), wsp);
            black_box(out)
        })
    });
    group.bench_function("jit_call_into", |b| {
        let mut o = [0.0];
        b.iter(|| {
            f.call_into(
                &[
                    ArgRef::F64(&[black_box(3.0)]),
                    ArgRef::F64(&[black_box(2.0)]),
                ],
                &mut [ArgMut::F64(&mut o)],
                &mut ws,
            )
            .unwrap();
            o[0]
        })
    });
    let (tx, ty_) = (Tensor::from_f64(3.0), Tensor::from_f64(2.0));
    group.bench_function("jit_call", |b| b.iter(|| f.call(&[&tx, &ty_]).unwrap()));
    group.bench_function("interp", |b| {
        b.iter(|| interp::eval(&m, "seed2", &[tx.clone(), ty_.clone()]).unwrap())
    });
    group.finish();
}

fn rosen_bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("rosen");
    let m = program("rosen");
    for n in [1000usize, 100_000] {
        let x = rosen::inputs(n, 7).x;
        let f = compile_for(&m, "rosen", &[Type::f64(&[n])]);
        let mut ws = f.workspace();
        let mut out = [0.0];
        group.bench_with_input(BenchmarkId::new("value/rust", n), &n, |b, _| {
            b.iter(|| rosen::value(black_box(&x)))
        });
        group.bench_with_input(BenchmarkId::new("value/jit", n), &n, |b, _| {
            b.iter(|| {
                f.call_into(
                    &[ArgRef::F64(black_box(&x))],
                    &mut [ArgMut::F64(&mut out)],
                    &mut ws,
                )
                .unwrap();
                out[0]
            })
        });
        if n == 1000 {
            let tx = Tensor::f64(&[n], x.clone()).unwrap();
            let inst = jit_instance(&m, "rosen", &[Type::f64(&[n])]);
            group.bench_with_input(BenchmarkId::new("value/interp", n), &n, |b, _| {
                b.iter(|| interp::eval(&inst.0, &inst.1, std::slice::from_ref(&tx)).unwrap())
            });
        }

        let gm = support::rosen_grad_module(n);
        let gf = compile_for(&gm, "rosen_grad", &[Type::f64(&[n])]);
        let mut gws = gf.workspace();
        let mut grad = vec![0.0; n];
        group.bench_with_input(BenchmarkId::new("grad/rust", n), &n, |b, _| {
            b.iter(|| rosen::value_and_grad(black_box(&x), &mut grad).unwrap())
        });
        group.bench_with_input(BenchmarkId::new("grad/jit", n), &n, |b, _| {
            b.iter(|| {
                gf.call_into(
                    &[ArgRef::F64(black_box(&x))],
                    &mut [ArgMut::F64(&mut out), ArgMut::F64(&mut grad)],
                    &mut gws,
                )
                .unwrap();
                out[0]
            })
        });
    }
    group.finish();
}

fn jit_instance(m: &Module, f: &str, args: &[Type]) -> (Module, String) {
    adjit::ir::instantiate(m, f, args).expect("instantiates")
}

fn logreg_bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("logreg");
    group.sample_size(30);
    let (n, d) = (10_000usize, 100usize);
    let inp = logreg::inputs(n, d, 7).unwrap();
    let m = program("logreg");
    let f = compile_for(
        &m,
        "logreg",
        &[Type::f64(&[d]), Type::f64(&[n, d]), Type::f64(&[n])],
    );
    let mut ws = f.workspace();
    let mut out = [0.0];
    group.bench_function("value/rust", |b| {
        b.iter(|| logreg::value(black_box(&inp.x), &inp.y, &inp.w).unwrap())
    });
    group.bench_function("value/jit", |b| {
        b.iter(|| {
            f.call_into(
                &[
                    ArgRef::F64(&inp.w),
                    ArgRef::F64(black_box(&inp.x)),
                    ArgRef::F64(&inp.y),
                ],
                &mut [ArgMut::F64(&mut out)],
                &mut ws,
            )
            .unwrap();
            out[0]
        })
    });
    let gm = support::logreg_grad_module(n, d);
    let gf = compile_for(
        &gm,
        "logreg_grad",
        &[Type::f64(&[d]), Type::f64(&[n, d]), Type::f64(&[n])],
    );
    let mut gws = gf.workspace();
    let mut grad = vec![0.0; d];
    group.bench_function("grad/rust", |b| {
        b.iter(|| logreg::value_and_grad(black_box(&inp.x), &inp.y, &inp.w, &mut grad).unwrap())
    });
    group.bench_function("grad/jit", |b| {
        b.iter(|| {
            gf.call_into(
                &[
                    ArgRef::F64(&inp.w),
                    ArgRef::F64(black_box(&inp.x)),
                    ArgRef::F64(&inp.y),
                ],
                &mut [ArgMut::F64(&mut out), ArgMut::F64(&mut grad)],
                &mut gws,
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
    group.measurement_time(Duration::from_secs(20));
    let opts = Options {
        verify: false,
        ..Options::default()
    };
    for n in [100usize, 1000, 10_000, 100_000] {
        let chain = support::random_scalar_chain(n, 1);
        group.bench_with_input(BenchmarkId::new("scalar_chain", n), &n, |b, _| {
            b.iter(|| jit::compile_with(&chain, "f", &opts).unwrap())
        });
        let dag = support::random_wide_dag(n, 8, 2);
        group.bench_with_input(BenchmarkId::new("wide_dag", n), &n, |b, _| {
            b.iter(|| jit::compile_with(&dag, "f", &opts).unwrap())
        });
    }
    group.finish();
}

criterion_group!(
    name = benches;
    config = Criterion::default().warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(3));
    targets = seed2, rosen_bench, logreg_bench, compile_time
);
criterion_main!(benches);
