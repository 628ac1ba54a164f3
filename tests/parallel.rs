//! Evaluation across cores (`adjit::parallel`): a batch of spring gradients
//! over 1 and 2 threads gives the same bits as one call per sample, and, in
//! the JIT's strict mode, the interpreter's bits; bad arguments are errors
//! before anything runs.
#![cfg(feature = "parallel")]

mod common;

use adjit::ir::{Tensor, Type, interp};
use adjit::jit::{self, ArgMut, ArgRef, Options};
use adjit::parallel::{BatchArg, BatchError, Pool};

/// The optimised gradient of spring with respect to k and v0.
fn spring_grad() -> (adjit::ir::Module, String) {
    let (m, entry) = common::program("spring");
    let (gm, gf) = adjit::ad::grad(&m, &entry, &[0, 1]).unwrap();
    let gm = adjit::opt::optimize(&gm, &gf).unwrap();
    (gm, gf)
}

/// Per-sample stiffnesses and initial velocities, stacked, and the shared
/// inputs.
struct Batch {
    k: Vec<f64>,
    v0: Vec<f64>,
    shared: Vec<Tensor>,
    types: Vec<Type>,
}

fn batch(n: usize) -> Batch {
    let mut k = Vec::new();
    let mut v0 = Vec::new();
    let (_, first) = common::spring_inputs(0);
    for seed in 0..n as u64 {
        let (inp, _) = common::spring_inputs(seed);
        k.extend_from_slice(&inp.k);
        v0.extend_from_slice(&inp.v0);
    }
    let types = first.iter().map(|t| t.ty()).collect();
    Batch {
        k,
        v0,
        shared: first[2..].to_vec(),
        types,
    }
}

fn f64s(t: &Tensor) -> &[f64] {
    t.as_f64().expect("f64")
}

/// Runs the batch on `threads` threads; returns (loss, dk, dv0) stacked.
fn run(c: &jit::CompiledFn, b: &Batch, n: usize, threads: usize) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let masses = b.v0.len() / n;
    let mut loss = vec![0.0; n];
    let mut dk = vec![0.0; n * (masses - 1)];
    let mut dv0 = vec![0.0; n * masses];
    let mut pool = Pool::new(threads).unwrap();
    assert_eq!(pool.threads(), threads);
    pool.call_batch(
        c,
        n,
        &[
            BatchArg::Stacked(ArgRef::F64(&b.k)),
            BatchArg::Stacked(ArgRef::F64(&b.v0)),
            BatchArg::Shared(ArgRef::F64(f64s(&b.shared[0]))),
            BatchArg::Shared(ArgRef::F64(f64s(&b.shared[1]))),
            BatchArg::Shared(ArgRef::F64(f64s(&b.shared[2]))),
        ],
        &mut [
            ArgMut::F64(&mut loss),
            ArgMut::F64(&mut dk),
            ArgMut::F64(&mut dv0),
        ],
    )
    .unwrap();
    (loss, dk, dv0)
}

#[test]
fn a_batch_of_spring_gradients_is_the_same_on_one_and_two_threads_and_per_call() {
    let (gm, gf) = spring_grad();
    let n = 40;
    let b = batch(n);
    let c = jit::compile_for(&gm, &gf, &b.types).unwrap();
    let one = run(&c, &b, n, 1);
    let two = run(&c, &b, n, 2);
    assert_eq!(one, two, "1 thread against 2 threads");
    let masses = b.v0.len() / n;
    for s in 0..n {
        let k = common::t(
            &[masses - 1],
            b.k[s * (masses - 1)..][..masses - 1].to_vec(),
        );
        let v0 = common::t(&[masses], b.v0[s * masses..][..masses].to_vec());
        let out = c
            .call(&[&k, &v0, &b.shared[0], &b.shared[1], &b.shared[2]])
            .unwrap();
        assert_eq!(f64s(&out[0]), &two.0[s..s + 1], "loss of sample {s}");
        assert_eq!(
            f64s(&out[1]),
            &two.1[s * (masses - 1)..][..masses - 1],
            "dk of sample {s}"
        );
        assert_eq!(
            f64s(&out[2]),
            &two.2[s * masses..][..masses],
            "dv0 of sample {s}"
        );
    }
}

#[test]
fn in_strict_mode_the_batch_has_the_interpreters_bits() {
    let (gm, gf) = spring_grad();
    let n = 3;
    let b = batch(n);
    let strict = Options {
        strict_order: true,
        library_math: true,
        ..Options::default()
    };
    let c = jit::compile_for_with(&gm, &gf, &b.types, &strict).unwrap();
    let (loss, dk, dv0) = run(&c, &b, n, 2);
    let masses = b.v0.len() / n;
    for s in 0..n {
        let k = common::t(
            &[masses - 1],
            b.k[s * (masses - 1)..][..masses - 1].to_vec(),
        );
        let v0 = common::t(&[masses], b.v0[s * masses..][..masses].to_vec());
        let mut args = vec![k, v0];
        args.extend(b.shared.iter().cloned());
        let want = interp::eval(&gm, &gf, &args).unwrap();
        assert_eq!(f64s(&want[0]), &loss[s..s + 1], "loss of sample {s}");
        assert_eq!(f64s(&want[1]), &dk[s * (masses - 1)..][..masses - 1]);
        assert_eq!(f64s(&want[2]), &dv0[s * masses..][..masses]);
    }
}

#[test]
fn bad_batch_arguments_are_errors() {
    let (gm, gf) = spring_grad();
    let n = 2;
    let b = batch(n);
    let c = jit::compile_for(&gm, &gf, &b.types).unwrap();
    let masses = b.v0.len() / n;
    let mut pool = Pool::new(2).unwrap();
    let mut loss = vec![0.0; n];
    let mut dk = vec![0.0; n * (masses - 1)];
    let mut dv0 = vec![0.0; n * masses];
    let shared = [
        BatchArg::Shared(ArgRef::F64(f64s(&b.shared[0]))),
        BatchArg::Shared(ArgRef::F64(f64s(&b.shared[1]))),
        BatchArg::Shared(ArgRef::F64(f64s(&b.shared[2]))),
    ];
    // Too few inputs.
    let e = pool
        .call_batch(&c, n, &shared, &mut [ArgMut::F64(&mut loss)])
        .unwrap_err();
    assert!(matches!(e, BatchError::Count { kind: "input", .. }), "{e}");
    // A stacked input one sample short.
    let mut inputs = vec![
        BatchArg::Stacked(ArgRef::F64(&b.k[..masses - 1])),
        BatchArg::Stacked(ArgRef::F64(&b.v0)),
    ];
    inputs.extend(shared);
    let e = pool
        .call_batch(
            &c,
            n,
            &inputs,
            &mut [
                ArgMut::F64(&mut loss),
                ArgMut::F64(&mut dk),
                ArgMut::F64(&mut dv0),
            ],
        )
        .unwrap_err();
    assert_eq!(
        e,
        BatchError::Length {
            kind: "input",
            index: 0,
            expected: n * (masses - 1),
            found: masses - 1
        }
    );
    // An output of the wrong element type.
    inputs[0] = BatchArg::Stacked(ArgRef::F64(&b.k));
    let mut wrong = vec![0i64; n];
    let e = pool
        .call_batch(
            &c,
            n,
            &inputs,
            &mut [
                ArgMut::I64(&mut wrong),
                ArgMut::F64(&mut dk),
                ArgMut::F64(&mut dv0),
            ],
        )
        .unwrap_err();
    assert!(
        matches!(
            e,
            BatchError::ElemType {
                kind: "output",
                index: 0,
                ..
            }
        ),
        "{e}"
    );
    // A batch whose element count overflows.
    let e = pool
        .call_batch(
            &c,
            usize::MAX / 2,
            &inputs,
            &mut [
                ArgMut::F64(&mut loss),
                ArgMut::F64(&mut dk),
                ArgMut::F64(&mut dv0),
            ],
        )
        .unwrap_err();
    assert!(matches!(e, BatchError::TooLarge(_)), "{e}");
    // An empty batch runs nothing and succeeds.
    inputs[0] = BatchArg::Stacked(ArgRef::F64(&[]));
    inputs[1] = BatchArg::Stacked(ArgRef::F64(&[]));
    pool.call_batch(
        &c,
        0,
        &inputs,
        &mut [
            ArgMut::F64(&mut []),
            ArgMut::F64(&mut []),
            ArgMut::F64(&mut []),
        ],
    )
    .unwrap();
}
