//! The `CompiledFn` API: argument checking, the raw ABI, threads, code
//! memory release, compile errors, and the fusion/planning introspection.

#[path = "jit_support/mod.rs"]
mod support;

use adjit::ir::{Dim, Elem, Graph, Module, Op, Shape, Tensor, Type, interp};
use adjit::jit::{self, ArgMut, ArgRef, CallError, CompiledFn, Options};
use support::*;

fn module(g: &Graph, outs: &[adjit::ir::Var<'_>]) -> Module {
    let mut m = Module::new();
    m.add(g.finish(outs).unwrap()).unwrap();
    m
}

/// `f(x: f64[n]) = Σ 100(x[i+1] − x[i]²)² + (1 − x[i])²`.
fn rosen(n: usize) -> Module {
    let g = Graph::new("rosen");
    let x = g.param("x", Type::f64(&[n]));
    let a = x.slice_axis(0, 0usize, n - 1);
    let b = x.slice_axis(0, 1usize, n);
    let t = b - a * a;
    let u = 1.0 - a;
    let f = (t * t * 100.0 + u * u).sum_all();
    module(&g, &[f])
}

fn rosen_ref(x: &[f64]) -> f64 {
    (0..x.len() - 1)
        .map(|i| 100.0 * (x[i + 1] - x[i] * x[i]).powi(2) + (1.0 - x[i]).powi(2))
        .sum()
}

fn seed2() -> Module {
    let g = Graph::new("seed2");
    let x = g.param("x", Type::f64(&[]));
    let y = g.param("y", Type::f64(&[]));
    let f = (x + y) * (x - y);
    module(&g, &[f])
}

#[test]
fn compiled_fn_is_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<CompiledFn>();
    fn assert_send<T: Send>() {}
    assert_send::<jit::Workspace>();
}

#[test]
fn safe_call_rejects_wrong_arguments() {
    let c = jit::compile(&rosen(5), "rosen").unwrap();
    let good = Tensor::f64(&[5], vec![1.0; 5]).unwrap();
    assert!(c.call(&[&good]).is_ok());
    assert!(matches!(
        c.call(&[]),
        Err(CallError::InputCount {
            expected: 1,
            found: 0
        })
    ));
    assert!(matches!(
        c.call(&[&good, &good]),
        Err(CallError::InputCount { .. })
    ));
    let short = Tensor::f64(&[4], vec![1.0; 4]).unwrap();
    assert!(matches!(
        c.call(&[&short]),
        Err(CallError::InputType { index: 0, .. })
    ));
    let f32s = Tensor::f32(&[5], vec![1.0; 5]).unwrap();
    assert!(matches!(c.call(&[&f32s]), Err(CallError::InputType { .. })));
    let matrix = Tensor::f64(&[5, 1], vec![1.0; 5]).unwrap();
    assert!(matches!(
        c.call(&[&matrix]),
        Err(CallError::InputType { .. })
    ));
}

#[test]
fn call_into_rejects_wrong_arguments() {
    let c = jit::compile(&rosen(5), "rosen").unwrap();
    let mut ws = c.workspace();
    let x = [1.0f64; 5];
    let mut out = [0.0f64];
    assert!(
        c.call_into(&[ArgRef::F64(&x)], &mut [ArgMut::F64(&mut out)], &mut ws)
            .is_ok()
    );
    assert_eq!(out[0], 0.0);
    let e = c.call_into(
        &[ArgRef::F64(&x[..4])],
        &mut [ArgMut::F64(&mut out)],
        &mut ws,
    );
    assert!(
        matches!(
            e,
            Err(CallError::Length {
                kind: "input",
                index: 0,
                expected: 5,
                found: 4
            })
        ),
        "{e:?}"
    );
    let xf = [1.0f32; 5];
    let e = c.call_into(&[ArgRef::F32(&xf)], &mut [ArgMut::F64(&mut out)], &mut ws);
    assert!(
        matches!(e, Err(CallError::ElemType { kind: "input", .. })),
        "{e:?}"
    );
    let mut two = [0.0f64; 2];
    let e = c.call_into(&[ArgRef::F64(&x)], &mut [ArgMut::F64(&mut two)], &mut ws);
    assert!(
        matches!(e, Err(CallError::Length { kind: "output", .. })),
        "{e:?}"
    );
    let e = c.call_into(&[ArgRef::F64(&x)], &mut [], &mut ws);
    assert!(matches!(e, Err(CallError::OutputCount { .. })), "{e:?}");
    let e = c.call_into(&[], &mut [ArgMut::F64(&mut out)], &mut ws);
    assert!(matches!(e, Err(CallError::InputCount { .. })), "{e:?}");
    // A workspace made for another function.
    let other = jit::compile(&seed2(), "seed2").unwrap();
    let mut wrong = other.workspace();
    let e = c.call_into(&[ArgRef::F64(&x)], &mut [ArgMut::F64(&mut out)], &mut wrong);
    assert!(matches!(e, Err(CallError::Workspace { .. })), "{e:?}");
}

#[test]
fn raw_entry_follows_the_documented_abi() {
    let c = jit::compile(&seed2(), "seed2").unwrap();
    let (x, y) = (3.0f64, 2.0f64);
    let mut f = 0.0f64;
    let inputs: [*const u8; 2] = [(&raw const x).cast(), (&raw const y).cast()];
    let outputs: [*mut u8; 1] = [(&raw mut f).cast()];
    let mut ws = c.workspace();
    // SAFETY: one pointer per f64 scalar parameter and output, a workspace
    // of the function's size.
    unsafe {
        c.raw()
            .call(inputs.as_ptr(), outputs.as_ptr(), ws.as_mut_ptr())
    };
    assert_eq!(f, 5.0);
}

#[test]
fn one_function_many_threads() {
    let n = 1001;
    let c = jit::compile(&rosen(n), "rosen").unwrap();
    std::thread::scope(|s| {
        for t in 0..4 {
            let c = &c;
            s.spawn(move || {
                let mut ws = c.workspace();
                for k in 0..200 {
                    let x: Vec<f64> = (0..n)
                        .map(|i| ((i * 7 + k * 3 + t) % 17) as f64 * 0.1 - 0.5)
                        .collect();
                    let mut out = [0.0];
                    c.call_into(&[ArgRef::F64(&x)], &mut [ArgMut::F64(&mut out)], &mut ws)
                        .unwrap();
                    let want = rosen_ref(&x);
                    assert!(
                        (out[0] - want).abs() <= 1e-12 * want.abs(),
                        "thread {t}: {} vs {want}",
                        out[0]
                    );
                }
            });
        }
    });
}

#[test]
fn compile_errors_name_the_problem() {
    // Loops are not lowered yet: an error naming the op.
    let mut m = Module::new();
    let body = Graph::new("body");
    let c = body.param("c", Type::f64(&[]));
    let x = body.param("x", Type::f64(&[]));
    let y = c + x;
    m.add(body.finish(&[y, y]).unwrap()).unwrap();
    let g = Graph::with_module("f", &m);
    let x = g.param("x", Type::f64(&[3]));
    let c0 = g.scalar(0.0);
    let r = g.scan("body", 3usize, &[], &[c0], &[x], false);
    m.add(g.finish(&r).unwrap()).unwrap();
    match jit::compile(&m, "f") {
        Err(jit::CompileError::Unsupported { op, .. }) => assert_eq!(op, "scan"),
        other => panic!("expected Unsupported(scan), got {:?}", other.err()),
    }
    // An unverified function.
    let mut b = adjit::ir::FunctionBuilder::new("bad");
    let p = b.param("x", Type::f64(&[3]));
    let r = b.push_declared(
        Op::Unary(adjit::ir::UnaryOp::Exp),
        &[p],
        vec![Type::f64(&[4])],
    );
    let mut m = Module::new();
    m.add(b.finish(&r)).unwrap();
    assert!(matches!(
        jit::compile(&m, "bad"),
        Err(jit::CompileError::Verify(_))
    ));
    // Symbolic dims.
    let g = Graph::new("sym");
    let x = g.param("x", Type::new(Elem::F64, Shape(vec![Dim::var("n")])));
    let m = module(&g, &[x.exp()]);
    assert!(matches!(
        jit::compile(&m, "sym"),
        Err(jit::CompileError::NotMonomorphic { .. })
    ));
    assert!(matches!(
        jit::compile_for(&m, "sym", &[Type::f64(&[2, 2])]),
        Err(jit::CompileError::Instantiate(_))
    ));
}

#[test]
fn clif_and_listing_are_kept_on_request() {
    let opts = Options {
        keep_clif: true,
        keep_disasm: true,
        ..Options::default()
    };
    let c = jit::compile_with(&rosen(100), "rosen", &opts).unwrap();
    assert_eq!(c.clif().len(), c.stats().functions);
    assert!(c.clif()[0].contains("f64x2"), "{}", c.clif()[0]);
    assert_eq!(c.disassembly().len(), c.stats().functions);
    assert!(!c.disassembly()[0].is_empty());
    let plain = jit::compile(&rosen(100), "rosen").unwrap();
    assert!(plain.clif().is_empty() && plain.disassembly().is_empty());
}

// ---------------------------------------------------------------- fusion

#[test]
fn elementwise_chain_is_one_kernel_without_workspace() {
    let n = 1000;
    let g = Graph::new("chain");
    let x = g.param("x", Type::f64(&[n]));
    let y = g.param("y", Type::f64(&[n]));
    let mut v = x;
    for i in 0..20 {
        v = if i % 2 == 0 {
            v * y + 1.0
        } else {
            (v - x).abs() / 3.0
        };
    }
    let m = module(&g, &[v]);
    let c = jit::compile(&m, "chain").unwrap();
    let s = c.stats();
    assert_eq!(s.kernels.len(), 1, "{s:?}");
    assert_eq!(s.workspace_bytes, 0, "{s:?}");
    assert_eq!(s.kernels[0].loops, 1);
    assert_eq!(s.kernels[0].width, 2, "vectorised: {s:?}");
    let inputs = [
        tensor(&Type::f64(&[n]), 1, Values::Full),
        tensor(&Type::f64(&[n]), 2, Values::Full),
    ];
    check(&m_rename(&m, "chain"), &inputs, &Tol::Exact, "chain");
}

/// The module with its function renamed `f` (what the checker calls).
fn m_rename(m: &Module, name: &str) -> Module {
    let mut f = m.get(name).unwrap().clone();
    f.set_name("f");
    let mut out = Module::new();
    out.add(f).unwrap();
    out
}

#[test]
fn broadcast_multiply_sum_is_one_kernel() {
    // X·w as broadcast-multiply-reduce, and Σ over a broadcast column.
    let g = Graph::new("bms");
    let x = g.param("x", Type::f64(&[300, 40]));
    let w = g.param("w", Type::f64(&[40]));
    let xw = (x * w.broadcast_to([300, 40])).sum(&[1]);
    let m = module(&g, &[xw]);
    let c = jit::compile(&m, "bms").unwrap();
    let s = c.stats();
    assert_eq!(s.kernels.len(), 1, "{s:?}");
    assert_eq!(s.workspace_bytes, 0);
    let inputs = [
        tensor(&Type::f64(&[300, 40]), 3, Values::Tame),
        tensor(&Type::f64(&[40]), 4, Values::Tame),
    ];
    check(&m_rename(&m, "bms"), &inputs, &Tol::Rel(1e-12, 10.0), "bms");
}

#[test]
fn rosen_value_is_one_vector_loop() {
    let c = jit::compile(&rosen(1000), "rosen").unwrap();
    let s = c.stats();
    assert_eq!(s.kernels.len(), 1, "{s:?}");
    assert_eq!(s.kernels[0].loops, 1, "{s:?}");
    assert_eq!(s.kernels[0].segments, 1, "{s:?}");
    assert_eq!(s.kernels[0].width, 2, "{s:?}");
    assert_eq!(s.workspace_bytes, 0);
    assert_eq!(s.functions, 1);
}

#[test]
fn pads_of_slices_split_one_loop_into_segments() {
    // What AD makes of rosen's gradient: pad(a, 0, 1) + pad(b, 1, 0).
    let n = 101;
    let g = Graph::new("padsum");
    let x = g.param("x", Type::f64(&[n]));
    let a = x.slice_axis(0, 0usize, n - 1);
    let b = x.slice_axis(0, 1usize, n);
    let t = b - a * a;
    let da = (t * a * -400.0).pad(&[0], &[1], 0.0);
    let db = (t * 200.0).pad(&[1], &[0], 0.0);
    let grad = da + db;
    let m = module(&g, &[grad]);
    let c = jit::compile(&m, "padsum").unwrap();
    let s = c.stats();
    assert_eq!(s.kernels.len(), 1, "{s:?}");
    assert_eq!(s.kernels[0].loops, 1);
    assert_eq!(s.kernels[0].segments, 3, "edges and interior: {s:?}");
    assert_eq!(s.kernels[0].width, 2);
    assert_eq!(s.workspace_bytes, 0);
    let inputs = [tensor(&Type::f64(&[n]), 5, Values::Full)];
    check(&m_rename(&m, "padsum"), &inputs, &Tol::Exact, "padsum");
}

#[test]
fn chain_of_materialised_values_reuses_buffers() {
    // Each `exp` feeds two consumers, so each is materialised; the planner
    // must reuse slots: O(1) buffers of workspace, not N.
    let n = 512;
    let steps = 40;
    let g = Graph::new("mat");
    let x = g.param("x", Type::f64(&[n]));
    let mut v = x;
    for _ in 0..steps {
        let e = (v * 0.01).exp();
        v = e * e.sin() + e;
    }
    let m = module(&g, &[v]);
    let c = jit::compile(&m, "mat").unwrap();
    let s = c.stats();
    assert!(s.workspace_buffers >= steps - 1, "{s:?}");
    let one = n * 8;
    assert!(
        s.workspace_bytes <= 3 * one,
        "{} bytes of workspace for {} buffers of {one} bytes",
        s.workspace_bytes,
        s.workspace_buffers
    );
    let inputs = [tensor(&Type::f64(&[n]), 6, Values::Tame)];
    let mm = m_rename(&m, "mat");
    let want = interp::eval(&mm, "f", &inputs).unwrap();
    let got = c.call(&[&inputs[0]]).unwrap();
    assert_close(&got[0], &want[0], &Tol::Ulps(64), "mat");
}

#[test]
fn matvec_is_a_fused_reduction_not_a_gemm() {
    let g = Graph::new("mv");
    let x = g.param("x", Type::f64(&[1000, 100]));
    let w = g.param("w", Type::f64(&[100, 1]));
    let r = g.param("r", Type::f64(&[1000, 1]));
    let xw = x.matmul(w);
    let xtr = x.t().matmul(r);
    let m = module(&g, &[xw, xtr]);
    let c = jit::compile(&m, "mv").unwrap();
    let s = c.stats();
    assert_eq!(s.gemm_calls, 0, "{s:?}");
    assert_eq!(s.kernels.len(), 2);
    for k in &s.kernels {
        assert_eq!(k.width, 2, "vectorised: {s:?}");
    }
    let big = jit::compile(
        &{
            let g = Graph::new("mm");
            let a = g.param("a", Type::f64(&[64, 64]));
            let b = g.param("b", Type::f64(&[64, 64]));
            let p = a.matmul(b.t());
            module(&g, &[p])
        },
        "mm",
    )
    .unwrap();
    assert_eq!(big.stats().gemm_calls, 1, "{:?}", big.stats());
    assert_eq!(
        big.stats().workspace_bytes,
        0,
        "transposed operand by strides"
    );
}

#[test]
fn large_graphs_are_split_into_functions() {
    let g = Graph::new("long");
    let x = g.param("x", Type::f64(&[]));
    let y = g.param("y", Type::f64(&[]));
    let (mut a, mut b) = (x, y);
    for i in 0..5000 {
        let c = if i % 3 == 0 { a * b } else { a + b * 0.5 };
        a = b;
        b = c.sin();
    }
    let m = module(&g, &[a, b]);
    let c = jit::compile(&m, "long").unwrap();
    assert!(c.stats().functions > 2, "{:?}", c.stats().functions);
    let inputs = [Tensor::from_f64(0.3), Tensor::from_f64(-0.2)];
    let mm = m_rename(&m, "long");
    let want = interp::eval(&mm, "f", &inputs).unwrap();
    let got = c.call(&[&inputs[0], &inputs[1]]).unwrap();
    for (g, w) in got.iter().zip(&want) {
        // Each step may differ by a few ulps (of values at most 1) once the
        // math kernels replace library calls; the chain is contracting, so
        // 5000 steps stay below 5000 · 4 · 2⁻⁵² ≈ 5e-12.
        assert_close(g, w, &Tol::Rel(1e-11, 1.0), "long chain");
    }
}
