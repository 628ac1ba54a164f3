//! The operator-overloading tape against the external tape crates `easy-ml`
//! (`Record`) and `reverse`, and against a hand-written gradient, all in one
//! run: value and gradient of the extended Rosenbrock function
//! f(x) = Σ 100(x_{i+1} − x_i²)² + (1 − x_i)², and of
//! g(x) = Σ (x_i + x_{i+1})(x_i − x_{i+1}).
//!
//! Every tape records the same operations in the same order (8 nodes per
//! Rosenbrock term, 4 per g term, one node per input) and every measured
//! call starts from a cleared, warm tape and ends with the gradient in a
//! caller-owned slice.

use std::hint::black_box;
use std::time::Duration;

use adjit::tape::{Tape, Var};
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use easy_ml::differentiation::record_operations::SwappedOperations;
use easy_ml::differentiation::{Record, WengertList};

const SIZES: [usize; 2] = [1_000, 10_000];

fn point(n: usize) -> Vec<f64> {
    (0..n).map(|i| 0.5 + 0.4 * (i as f64 * 0.7).sin()).collect()
}

fn rosen_hand(x: &[f64], gradient: &mut [f64]) -> f64 {
    gradient.fill(0.0);
    let mut value = 0.0;
    for (i, pair) in x.windows(2).enumerate() {
        let (a, b) = (pair[0], pair[1]);
        let t = b - a * a;
        let u = 1.0 - a;
        value += 100.0 * t * t + u * u;
        gradient[i] += -400.0 * a * t - 2.0 * u;
        gradient[i + 1] += 200.0 * t;
    }
    value
}

fn rosen_adjit<'t>(x: &[Var<'t>]) -> Var<'t> {
    let term = |a: Var<'t>, b: Var<'t>| {
        let t = b - a * a;
        let u = 1.0 - a;
        100.0 * (t * t) + u * u
    };
    let mut sum = term(x[0], x[1]);
    for pair in x[1..].windows(2) {
        sum += term(pair[0], pair[1]);
    }
    sum
}

fn rosen_easy_ml<'a>(x: &[Record<'a, f64>]) -> Record<'a, f64> {
    let term = |a: Record<'a, f64>, b: Record<'a, f64>| {
        let t = b - a * a;
        let u = a.sub_swapped(1.0);
        (t * t) * 100.0 + u * u
    };
    let mut sum = term(x[0], x[1]);
    for pair in x[1..].windows(2) {
        sum = sum + term(pair[0], pair[1]);
    }
    sum
}

fn rosen_reverse<'a>(x: &[reverse::Var<'a>]) -> reverse::Var<'a> {
    let term = |a: reverse::Var<'a>, b: reverse::Var<'a>| {
        let t = b - a * a;
        let u = 1.0 - a;
        100.0 * (t * t) + u * u
    };
    let mut sum = term(x[0], x[1]);
    for pair in x[1..].windows(2) {
        sum = sum + term(pair[0], pair[1]);
    }
    sum
}

fn sumprod_hand(x: &[f64], gradient: &mut [f64]) -> f64 {
    gradient.fill(0.0);
    let mut value = 0.0;
    for (i, pair) in x.windows(2).enumerate() {
        let (a, b) = (pair[0], pair[1]);
        value += (a + b) * (a - b);
        gradient[i] += 2.0 * a;
        gradient[i + 1] -= 2.0 * b;
    }
    value
}

fn sumprod_adjit<'t>(x: &[Var<'t>]) -> Var<'t> {
    let mut sum = (x[0] + x[1]) * (x[0] - x[1]);
    for pair in x[1..].windows(2) {
        sum += (pair[0] + pair[1]) * (pair[0] - pair[1]);
    }
    sum
}

fn sumprod_easy_ml<'a>(x: &[Record<'a, f64>]) -> Record<'a, f64> {
    let mut sum = (x[0] + x[1]) * (x[0] - x[1]);
    for pair in x[1..].windows(2) {
        sum = sum + (pair[0] + pair[1]) * (pair[0] - pair[1]);
    }
    sum
}

fn sumprod_reverse<'a>(x: &[reverse::Var<'a>]) -> reverse::Var<'a> {
    let mut sum = (x[0] + x[1]) * (x[0] - x[1]);
    for pair in x[1..].windows(2) {
        sum = sum + (pair[0] + pair[1]) * (pair[0] - pair[1]);
    }
    sum
}

/// One workload written once per implementation.
struct Workload {
    name: &'static str,
    hand: fn(&[f64], &mut [f64]) -> f64,
    adjit: for<'t> fn(&[Var<'t>]) -> Var<'t>,
    easy_ml: for<'a> fn(&[Record<'a, f64>]) -> Record<'a, f64>,
    reverse: for<'a> fn(&[reverse::Var<'a>]) -> reverse::Var<'a>,
}

fn adjit_grad_into(tape: &mut Tape, w: &Workload, x: &[f64], gradient: &mut [f64]) -> f64 {
    match tape.grad_into(w.adjit, x, gradient) {
        Ok(value) => value,
        Err(error) => panic!("{error}"),
    }
}

fn adjit_gradient(tape: &mut Tape, w: &Workload, x: &[f64], gradient: &mut [f64]) -> f64 {
    tape.clear();
    let vars = tape.vars(x);
    let output = (w.adjit)(&vars);
    let gradients = tape.gradient(output);
    if let Err(error) = gradients.write(&vars, gradient) {
        panic!("{error}");
    }
    output.value()
}

fn easy_ml(list: &WengertList<f64>, w: &Workload, x: &[f64], gradient: &mut [f64]) -> f64 {
    list.clear();
    let vars: Vec<Record<'_, f64>> = x.iter().map(|&v| Record::variable(v, list)).collect();
    let output = (w.easy_ml)(&vars);
    let derivatives = output.derivatives();
    for (slot, var) in gradient.iter_mut().zip(&vars) {
        *slot = derivatives[var];
    }
    output.number
}

fn reverse(tape: &reverse::Tape, w: &Workload, x: &[f64], gradient: &mut [f64]) -> f64 {
    use reverse::Gradient;
    tape.clear();
    let vars = tape.add_vars(x);
    let output = (w.reverse)(&vars);
    let gradients = output.grad().wrt(&vars);
    gradient.copy_from_slice(&gradients);
    output.val()
}

/// Fails the run if the implementations disagree, so the timings compare
/// like with like.
fn check_agreement(w: &Workload, x: &[f64]) {
    let n = x.len();
    let mut expected = vec![0.0; n];
    let value = (w.hand)(x, &mut expected);
    let mut tape = Tape::new();
    let list = WengertList::new();
    let reverse_tape = reverse::Tape::new();
    let mut gradient = vec![0.0; n];
    let results = [
        (
            "adjit grad_into",
            adjit_grad_into(&mut tape, w, x, &mut gradient),
            gradient.clone(),
        ),
        (
            "adjit gradient",
            adjit_gradient(&mut tape, w, x, &mut gradient),
            gradient.clone(),
        ),
        (
            "easy-ml",
            easy_ml(&list, w, x, &mut gradient),
            gradient.clone(),
        ),
        (
            "reverse",
            reverse(&reverse_tape, w, x, &mut gradient),
            gradient.clone(),
        ),
    ];
    let close = |a: f64, b: f64| (a - b).abs() <= 1e-9 * (1.0 + b.abs());
    for (name, v, g) in results {
        assert!(close(v, value), "{}: {name} value {v} vs {value}", w.name);
        for (i, (&gi, &ei)) in g.iter().zip(&expected).enumerate() {
            assert!(
                close(gi, ei),
                "{}: {name} gradient[{i}] {gi} vs {ei}",
                w.name
            );
        }
    }
}

fn bench_workload(c: &mut Criterion, w: &Workload) {
    let mut group = c.benchmark_group(w.name);
    for n in SIZES {
        let x = point(n);
        check_agreement(w, &x);
        let mut gradient = vec![0.0; n];

        group.bench_function(BenchmarkId::new("hand-written", n), |b| {
            b.iter(|| (w.hand)(black_box(&x), black_box(&mut gradient)))
        });

        let mut tape = Tape::new();
        group.bench_function(BenchmarkId::new("adjit grad_into", n), |b| {
            b.iter(|| adjit_grad_into(&mut tape, w, black_box(&x), black_box(&mut gradient)))
        });
        group.bench_function(BenchmarkId::new("adjit gradient", n), |b| {
            b.iter(|| adjit_gradient(&mut tape, w, black_box(&x), black_box(&mut gradient)))
        });
        // The two halves of the adjit figure: recording, and the sweep alone.
        group.bench_function(BenchmarkId::new("adjit record only", n), |b| {
            b.iter(|| {
                tape.clear();
                let vars = tape.vars(black_box(&x));
                (w.adjit)(&vars).value()
            })
        });
        tape.clear();
        let vars = tape.vars(&x);
        let output = (w.adjit)(&vars);
        group.bench_function(BenchmarkId::new("adjit sweep only", n), |b| {
            b.iter(|| tape.gradient(black_box(output)).wrt(vars[0]))
        });

        let list = WengertList::new();
        group.bench_function(BenchmarkId::new("easy-ml", n), |b| {
            b.iter(|| easy_ml(&list, w, black_box(&x), black_box(&mut gradient)))
        });

        let reverse_tape = reverse::Tape::new();
        group.bench_function(BenchmarkId::new("reverse", n), |b| {
            b.iter(|| reverse(&reverse_tape, w, black_box(&x), black_box(&mut gradient)))
        });
    }
    group.finish();
}

fn benches(c: &mut Criterion) {
    let workloads = [
        Workload {
            name: "rosen",
            hand: rosen_hand,
            adjit: rosen_adjit,
            easy_ml: rosen_easy_ml,
            reverse: rosen_reverse,
        },
        Workload {
            name: "sumprod",
            hand: sumprod_hand,
            adjit: sumprod_adjit,
            easy_ml: sumprod_easy_ml,
            reverse: sumprod_reverse,
        },
    ];
    for w in &workloads {
        bench_workload(c, w);
    }
}

criterion_group! {
    name = tape;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = benches
}
criterion_main!(tape);
