//! The operator-overloading tape against outside oracles: every operation's
//! value against `f64` (std) or `libm`, its derivatives against central
//! finite differences of those same `f64` functions, and whole-function
//! gradients against hand-derived formulas.

use adjit::tape::{Tape, TapeError, Var, grad};
use proptest::prelude::*;

/// Central difference of `f` at `x` with a step scaled to `x`.
fn central_difference(f: impl Fn(f64) -> f64, x: f64) -> f64 {
    let h = 1e-6 * x.abs().max(1.0);
    (f(x + h) - f(x - h)) / (2.0 * h)
}

/// Central differences are accurate to about 1e-9 relative here (step 1e-6,
/// smooth functions away from singularities).
fn assert_close(found: f64, expected: f64, tolerance: f64, what: &str) {
    let scale = 1.0 + expected.abs();
    assert!(
        (found - expected).abs() <= tolerance * scale,
        "{what}: found {found}, expected {expected}"
    );
}

const FD_TOLERANCE: f64 = 1e-7;

/// Values are the oracle's up to rounding (only `sigmoid` is evaluated by a
/// different, overflow-free formula).
const VALUE_TOLERANCE: f64 = 1e-15;

/// A one-argument operation: on handles, on `f64` (the oracle), and the
/// points where it is checked.
struct Unary {
    name: &'static str,
    on_var: for<'t> fn(Var<'t>) -> Var<'t>,
    on_f64: fn(f64) -> f64,
    points: &'static [f64],
}

fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

const GENERAL: &[f64] = &[-2.3, -0.7, 0.3, 1.1, 2.9];
const POSITIVE: &[f64] = &[0.05, 0.4, 1.0, 2.5, 17.0];

fn unary_ops() -> Vec<Unary> {
    vec![
        Unary {
            name: "neg",
            on_var: |x| -x,
            on_f64: |x| -x,
            points: GENERAL,
        },
        Unary {
            name: "sin",
            on_var: |x| x.sin(),
            on_f64: f64::sin,
            points: GENERAL,
        },
        Unary {
            name: "cos",
            on_var: |x| x.cos(),
            on_f64: f64::cos,
            points: GENERAL,
        },
        Unary {
            name: "tan",
            on_var: |x| x.tan(),
            on_f64: f64::tan,
            points: &[-1.2, -0.3, 0.2, 1.0, 1.4],
        },
        Unary {
            name: "exp",
            on_var: |x| x.exp(),
            on_f64: f64::exp,
            points: GENERAL,
        },
        Unary {
            name: "exp_m1",
            on_var: |x| x.exp_m1(),
            on_f64: f64::exp_m1,
            points: &[-30.0, -2.3, -1e-3, 1e-3, 2.9],
        },
        Unary {
            name: "ln",
            on_var: |x| x.ln(),
            on_f64: f64::ln,
            points: POSITIVE,
        },
        Unary {
            name: "log base 3",
            on_var: |x| x.log(3.0),
            on_f64: |x| x.log(3.0),
            points: POSITIVE,
        },
        Unary {
            name: "ln_1p",
            on_var: |x| x.ln_1p(),
            on_f64: f64::ln_1p,
            points: &[-0.9, -1e-3, 1e-3, 0.7, 40.0],
        },
        Unary {
            name: "sqrt",
            on_var: |x| x.sqrt(),
            on_f64: f64::sqrt,
            points: POSITIVE,
        },
        Unary {
            name: "recip",
            on_var: |x| x.recip(),
            on_f64: f64::recip,
            points: &[-2.3, -0.7, 0.3, 1.1, 2.9],
        },
        Unary {
            name: "powf 2.5",
            on_var: |x| x.powf(2.5),
            on_f64: |x| x.powf(2.5),
            points: POSITIVE,
        },
        Unary {
            name: "powf -1.5",
            on_var: |x| x.powf(-1.5),
            on_f64: |x| x.powf(-1.5),
            points: POSITIVE,
        },
        Unary {
            name: "powf 0",
            on_var: |x| x.powf(0.0),
            on_f64: |x| x.powf(0.0),
            points: GENERAL,
        },
        Unary {
            name: "powi 3",
            on_var: |x| x.powi(3),
            on_f64: |x| x.powi(3),
            points: GENERAL,
        },
        Unary {
            name: "powi -2",
            on_var: |x| x.powi(-2),
            on_f64: |x| x.powi(-2),
            points: GENERAL,
        },
        Unary {
            name: "powi 0",
            on_var: |x| x.powi(0),
            on_f64: |x| x.powi(0),
            points: GENERAL,
        },
        Unary {
            name: "tanh",
            on_var: |x| x.tanh(),
            on_f64: f64::tanh,
            points: GENERAL,
        },
        Unary {
            name: "sigmoid",
            on_var: |x| x.sigmoid(),
            on_f64: sigmoid,
            points: &[-40.0, -2.3, 0.0, 0.3, 2.9, 40.0],
        },
        Unary {
            name: "erf",
            on_var: |x| x.erf(),
            on_f64: libm::erf,
            points: &[-2.3, -0.7, 0.0, 0.3, 1.1, 2.9],
        },
        Unary {
            name: "abs",
            on_var: |x| x.abs(),
            on_f64: f64::abs,
            points: GENERAL,
        },
        Unary {
            name: "x + 2.5",
            on_var: |x| x + 2.5,
            on_f64: |x| x + 2.5,
            points: GENERAL,
        },
        Unary {
            name: "2.5 + x",
            on_var: |x| 2.5 + x,
            on_f64: |x| 2.5 + x,
            points: GENERAL,
        },
        Unary {
            name: "x - 2.5",
            on_var: |x| x - 2.5,
            on_f64: |x| x - 2.5,
            points: GENERAL,
        },
        Unary {
            name: "2.5 - x",
            on_var: |x| 2.5 - x,
            on_f64: |x| 2.5 - x,
            points: GENERAL,
        },
        Unary {
            name: "x * 2.5",
            on_var: |x| x * 2.5,
            on_f64: |x| x * 2.5,
            points: GENERAL,
        },
        Unary {
            name: "2.5 * x",
            on_var: |x| 2.5 * x,
            on_f64: |x| 2.5 * x,
            points: GENERAL,
        },
        Unary {
            name: "x / 2.5",
            on_var: |x| x / 2.5,
            on_f64: |x| x / 2.5,
            points: GENERAL,
        },
        Unary {
            name: "2.5 / x",
            on_var: |x| 2.5 / x,
            on_f64: |x| 2.5 / x,
            points: GENERAL,
        },
        Unary {
            name: "x += 2.5",
            on_var: |mut x| {
                x += 2.5;
                x
            },
            on_f64: |x| x + 2.5,
            points: GENERAL,
        },
        Unary {
            name: "x -= 2.5",
            on_var: |mut x| {
                x -= 2.5;
                x
            },
            on_f64: |x| x - 2.5,
            points: GENERAL,
        },
        Unary {
            name: "x *= 2.5",
            on_var: |mut x| {
                x *= 2.5;
                x
            },
            on_f64: |x| x * 2.5,
            points: GENERAL,
        },
        Unary {
            name: "x /= 2.5",
            on_var: |mut x| {
                x /= 2.5;
                x
            },
            on_f64: |x| x / 2.5,
            points: GENERAL,
        },
    ]
}

#[test]
fn unary_values_and_derivatives_match_f64_and_finite_differences() {
    for op in unary_ops() {
        for &x in op.points {
            let tape = Tape::new();
            let input = tape.var(x);
            let output = (op.on_var)(input);
            let what = format!("{} at {x}", op.name);
            assert_close(output.value(), (op.on_f64)(x), VALUE_TOLERANCE, &what);
            let derivative = tape.gradient(output)[input];
            assert_close(
                derivative,
                central_difference(op.on_f64, x),
                FD_TOLERANCE,
                &what,
            );
        }
    }
}

/// A two-argument operation on handles and on `f64`, and points (a, b).
struct Binary {
    name: &'static str,
    on_var: for<'t> fn(Var<'t>, Var<'t>) -> Var<'t>,
    on_f64: fn(f64, f64) -> f64,
    points: &'static [(f64, f64)],
}

const PAIRS: &[(f64, f64)] = &[
    (-2.3, 0.7),
    (0.3, -1.1),
    (2.9, 1.3),
    (-0.4, -3.2),
    (1.5, 1.6),
];
const POSITIVE_PAIRS: &[(f64, f64)] = &[(0.3, -1.1), (2.9, 1.3), (0.7, 2.5), (1.5, 0.0)];

fn binary_ops() -> Vec<Binary> {
    vec![
        Binary {
            name: "add",
            on_var: |a, b| a + b,
            on_f64: |a, b| a + b,
            points: PAIRS,
        },
        Binary {
            name: "sub",
            on_var: |a, b| a - b,
            on_f64: |a, b| a - b,
            points: PAIRS,
        },
        Binary {
            name: "mul",
            on_var: |a, b| a * b,
            on_f64: |a, b| a * b,
            points: PAIRS,
        },
        Binary {
            name: "div",
            on_var: |a, b| a / b,
            on_f64: |a, b| a / b,
            points: PAIRS,
        },
        Binary {
            name: "pow",
            on_var: |a, b| a.pow(b),
            on_f64: f64::powf,
            points: POSITIVE_PAIRS,
        },
        Binary {
            name: "atan2",
            on_var: |a, b| a.atan2(b),
            on_f64: f64::atan2,
            points: PAIRS,
        },
        Binary {
            name: "max",
            on_var: |a, b| a.max(b),
            on_f64: f64::max,
            points: PAIRS,
        },
        Binary {
            name: "min",
            on_var: |a, b| a.min(b),
            on_f64: f64::min,
            points: PAIRS,
        },
        Binary {
            name: "a += b",
            on_var: |mut a, b| {
                a += b;
                a
            },
            on_f64: |a, b| a + b,
            points: PAIRS,
        },
        Binary {
            name: "a -= b",
            on_var: |mut a, b| {
                a -= b;
                a
            },
            on_f64: |a, b| a - b,
            points: PAIRS,
        },
        Binary {
            name: "a *= b",
            on_var: |mut a, b| {
                a *= b;
                a
            },
            on_f64: |a, b| a * b,
            points: PAIRS,
        },
        Binary {
            name: "a /= b",
            on_var: |mut a, b| {
                a /= b;
                a
            },
            on_f64: |a, b| a / b,
            points: PAIRS,
        },
    ]
}

#[test]
fn binary_values_and_derivatives_match_f64_and_finite_differences() {
    for op in binary_ops() {
        for &(a, b) in op.points {
            let tape = Tape::new();
            let (x, y) = (tape.var(a), tape.var(b));
            let output = (op.on_var)(x, y);
            let what = format!("{} at ({a}, {b})", op.name);
            assert_close(output.value(), (op.on_f64)(a, b), VALUE_TOLERANCE, &what);
            let gradients = tape.gradient(output);
            let da = central_difference(|t| (op.on_f64)(t, b), a);
            let db = central_difference(|t| (op.on_f64)(a, t), b);
            assert_close(gradients[x], da, FD_TOLERANCE, &format!("{what}, d/da"));
            assert_close(gradients[y], db, FD_TOLERANCE, &format!("{what}, d/db"));
        }
    }
}

/// The same operation applied to one handle twice: both partials land on it.
#[test]
fn binary_ops_on_one_handle_sum_both_partials() {
    for op in binary_ops() {
        for &(a, _) in op.points {
            if op.name == "pow" && a <= 0.0 {
                continue;
            }
            let tape = Tape::new();
            let x = tape.var(a);
            let output = (op.on_var)(x, x);
            let what = format!("{}(x, x) at {a}", op.name);
            let expected = central_difference(|t| (op.on_f64)(t, t), a);
            assert_close(tape.gradient(output)[x], expected, FD_TOLERANCE, &what);
        }
    }
}

#[test]
fn kinks_have_the_documented_derivatives() {
    let tape = Tape::new();
    let zero = tape.var(0.0);
    let negative_zero = tape.var(-0.0);
    let one = tape.var(1.0);
    let other_one = tape.var(1.0);
    let nan = tape.var(f64::NAN);
    let three = tape.var(3.0);
    let derivative = |output: Var<'_>, input: Var<'_>| tape.gradient(output)[input];

    assert_eq!(derivative(zero.abs(), zero), 0.0);
    assert_eq!(derivative(negative_zero.abs(), negative_zero), 0.0);
    assert_eq!(derivative(zero.sqrt(), zero), f64::INFINITY);

    // A tie splits evenly; max(x, x) = x has derivative 1.
    let tie = one.max(other_one);
    assert_eq!(
        (derivative(tie, one), derivative(tie, other_one)),
        (0.5, 0.5)
    );
    let tie = one.min(other_one);
    assert_eq!(
        (derivative(tie, one), derivative(tie, other_one)),
        (0.5, 0.5)
    );
    assert_eq!(derivative(one.max(one), one), 1.0);

    // f64::max and f64::min ignore a NaN operand; so does the derivative.
    for select in [Var::max, Var::min] {
        let chosen = select(nan, three);
        assert_eq!(chosen.value(), 3.0);
        assert_eq!(
            (derivative(chosen, nan), derivative(chosen, three)),
            (0.0, 1.0)
        );
        let chosen = select(three, nan);
        assert_eq!(
            (derivative(chosen, three), derivative(chosen, nan)),
            (1.0, 0.0)
        );
    }

    // 0^y for y > 0 is 0 for all y near it: derivative 0 in y.
    let power = zero.pow(three);
    assert_eq!(
        (derivative(power, zero), derivative(power, three)),
        (0.0, 0.0)
    );
    // x^0 is 1 for all x: derivative 0 in x, also at x = 0.
    let power = zero.pow(tape.var(0.0));
    assert_eq!((power.value(), derivative(power, zero)), (1.0, 0.0));
    assert_eq!(derivative(zero.powf(0.0), zero), 0.0);
    assert_eq!(derivative(zero.powi(0), zero), 0.0);
}

#[test]
fn infinite_adjoints_stay_infinite() {
    // d/dx x^(1/4) = +inf at 0, reached as the product of two infinite partials.
    let tape = Tape::new();
    let x = tape.var(0.0);
    let y = x.sqrt().sqrt();
    assert_eq!(tape.gradient(y)[x], f64::INFINITY);
}

#[test]
fn nodes_that_do_not_reach_the_output_add_nothing() {
    // An unused NaN and an unused infinite partial do not poison x.
    let tape = Tape::new();
    let x = tape.var(0.0);
    let _nan = (x - 1.0).ln();
    let _infinite = x.sqrt();
    let y = x * 3.0;
    assert_eq!(tape.gradient(y)[x], 3.0);
}

#[test]
fn seed2_value_and_gradient_at_3_2() {
    // f = (x + y)(x − y) = x² − y²: ∇f = (2x, −2y) = (6, −4) at (3, 2).
    let tape = Tape::new();
    let (x, y) = (tape.var(3.0), tape.var(2.0));
    let f = (x + y) * (x - y);
    let gradients = tape.gradient(f);
    assert_eq!(f.value(), 5.0);
    assert_eq!((gradients[x], gradients[y]), (6.0, -4.0));
}

fn seed3<'t>(v: &[Var<'t>]) -> Var<'t> {
    let (x, y) = (v[0], v[1]);
    x * x + x * y + 2.0
}

fn seed1<'t>(v: &[Var<'t>]) -> Var<'t> {
    let x = v[0];
    (x.exp() * x).sin() + x.ln() * x.cos().tanh()
}

/// d/dx [sin(eˣx) + ln(x)·tanh(cos x)], by hand.
fn seed1_derivative(x: f64) -> f64 {
    let e = x.exp();
    let t = x.cos().tanh();
    (e * x).cos() * (e + e * x) + t / x - x.ln() * (1.0 - t * t) * x.sin()
}

/// x² if x > 1, else 2x − 1: records only the branch taken.
fn select<'t>(v: &[Var<'t>]) -> Var<'t> {
    let x = v[0];
    if x.value() > 1.0 {
        x * x
    } else {
        2.0 * x - 1.0
    }
}

fn select_f64(x: f64) -> f64 {
    if x > 1.0 { x * x } else { 2.0 * x - 1.0 }
}

fn rosen<'t>(x: &[Var<'t>]) -> Var<'t> {
    let mut sum = x[0].tape().var(0.0);
    for pair in x.windows(2) {
        let (a, b) = (pair[0], pair[1]);
        sum += 100.0 * (b - a * a).powi(2) + (1.0 - a).powi(2);
    }
    sum
}

fn rosen_f64(x: &[f64]) -> f64 {
    x.windows(2)
        .map(|w| 100.0 * (w[1] - w[0] * w[0]).powi(2) + (1.0 - w[0]).powi(2))
        .sum()
}

/// ∂/∂x_i of the extended Rosenbrock function, by hand.
fn rosen_gradient(x: &[f64]) -> Vec<f64> {
    let mut gradient = vec![0.0; x.len()];
    for i in 0..x.len().saturating_sub(1) {
        let t = x[i + 1] - x[i] * x[i];
        gradient[i] += -400.0 * x[i] * t - 2.0 * (1.0 - x[i]);
        gradient[i + 1] += 200.0 * t;
    }
    gradient
}

#[test]
fn seed_examples_match_hand_derived_gradients() {
    for (x, y) in [(3.0, 4.0), (-1.5, 0.25), (0.0, 7.0)] {
        let (value, gradient) = grad(seed3, &[x, y]);
        assert_eq!(value, x * x + x * y + 2.0);
        assert_eq!(gradient, [2.0 * x + y, x]);
    }
    for x in [0.1, 0.5, 1.0, 2.0, 3.7] {
        let (_, gradient) = grad(seed1, &[x]);
        assert_close(
            gradient[0],
            seed1_derivative(x),
            1e-13,
            &format!("seed1 at {x}"),
        );
    }
}

#[test]
fn a_conditional_differentiates_the_branch_taken() {
    for x in [-2.0, 0.0, 0.99, 1.01, 3.0] {
        let (value, gradient) = grad(select, &[x]);
        assert_eq!(value, select_f64(x));
        let expected = if x > 1.0 { 2.0 * x } else { 2.0 };
        assert_eq!(gradient[0], expected, "select at {x}");
        assert_close(
            gradient[0],
            central_difference(select_f64, x),
            FD_TOLERANCE,
            "select",
        );
    }
}

#[test]
fn rosen_matches_the_hand_derived_gradient() {
    let x: Vec<f64> = (0..101)
        .map(|i| (f64::from(i) * 0.37).sin() * 1.3)
        .collect();
    let (value, gradient) = grad(rosen, &x);
    assert_close(value, rosen_f64(&x), 1e-14, "rosen value");
    for (i, (&found, &expected)) in gradient.iter().zip(&rosen_gradient(&x)).enumerate() {
        assert_close(found, expected, 1e-13, &format!("rosen gradient[{i}]"));
    }
    // The minimum.
    let (value, gradient) = grad(rosen, &[1.0; 10]);
    assert_eq!((value, gradient), (0.0, vec![0.0; 10]));
}

#[test]
fn fan_out_accumulates_every_use() {
    // y = Σ_k c_k·x with x used 1000 times: dy/dx = Σ_k c_k.
    let tape = Tape::new();
    let x = tape.var(0.7);
    let terms: Vec<Var<'_>> = (1..=1000).map(|k| x * f64::from(k)).collect();
    let y = tape.sum(&terms);
    assert_eq!(tape.gradient(y)[x], 500_500.0);

    // x·x·…·x (12 factors) = x¹²: derivative 12x¹¹.
    let mut product = x;
    for _ in 1..12 {
        product *= x;
    }
    assert_close(
        tape.gradient(product)[x],
        12.0 * 0.7f64.powi(11),
        1e-14,
        "x^12",
    );

    // A diamond repeated: each level doubles the paths to x.
    let z = tape.var(1.5);
    let mut level = z;
    for _ in 0..20 {
        level = level.sin() + level.cos();
    }
    let expected = central_difference(|t| (0..20).fold(t, |v, _| v.sin() + v.cos()), 1.5);
    assert_close(
        tape.gradient(level)[z],
        expected,
        FD_TOLERANCE,
        "diamond chain",
    );
}

#[test]
fn sum_of_slices() {
    let tape = Tape::new();
    let xs = tape.vars(&[1.0, 2.0, 3.0, 4.0, 5.0]);
    let total = tape.sum(&xs);
    assert_eq!(total.value(), 15.0);
    assert_eq!(tape.gradient(total).wrt_all(&xs), [1.0; 5]);
    let empty = tape.sum(&[]);
    assert_eq!(empty.value(), 0.0);
    assert_eq!(tape.gradient(empty).wrt_all(&xs), [0.0; 5]);
    let single = tape.sum(&xs[2..3]);
    assert_eq!(
        tape.gradient(single).wrt_all(&xs),
        [0.0, 0.0, 1.0, 0.0, 0.0]
    );
}

#[test]
fn gradients_of_intermediates_and_of_later_nodes() {
    let tape = Tape::new();
    let x = tape.var(2.0);
    let u = x * 3.0;
    let y = u.exp();
    let later = x * 10.0;
    let gradients = tape.gradient(y);
    assert_eq!(gradients[u], 6.0f64.exp());
    assert_eq!(gradients[x], 3.0 * 6.0f64.exp());
    assert_eq!(gradients[y], 1.0);
    // Recorded after the output, so the output does not depend on it.
    assert_eq!(gradients[later], 0.0);
}

#[test]
fn clear_and_rerecord_does_not_reallocate() {
    let x: Vec<f64> = (0..500).map(|i| f64::from(i) * 0.01).collect();
    let mut tape = Tape::new();
    let record = |tape: &Tape| {
        let vars = tape.vars(&x);
        let output = rosen(&vars);
        (tape.gradient(output).wrt_all(&vars), tape.len())
    };
    let (first, len) = record(&tape);
    assert!(tape.capacity() >= len);
    // The first clear may move the recording into one block of storage.
    tape.clear();
    let capacity = tape.capacity();
    assert!(capacity >= len);
    for _ in 0..5 {
        tape.clear();
        assert_eq!((tape.len(), tape.capacity()), (0, capacity));
        let (again, again_len) = record(&tape);
        assert_eq!(
            (again, again_len, tape.capacity()),
            (first.clone(), len, capacity)
        );
    }
    // Exactly sized storage stays put as well.
    let mut exact = Tape::with_capacity(len);
    let capacity = exact.capacity();
    assert_eq!(record(&exact).1, len);
    exact.clear();
    record(&exact);
    assert_eq!(exact.capacity(), capacity);
}

#[test]
fn grad_into_reuses_the_tape_and_checks_lengths() {
    let mut tape = Tape::new();
    let mut gradient = vec![0.0; 40];
    let x: Vec<f64> = (0..40).map(|i| 1.0 - f64::from(i) * 0.05).collect();
    let value = tape.grad_into(rosen, &x, &mut gradient).unwrap();
    let capacity = tape.capacity();
    assert_close(value, rosen_f64(&x), 1e-14, "value");
    for (&found, &expected) in gradient.iter().zip(&rosen_gradient(&x)) {
        assert_close(found, expected, 1e-13, "rosen gradient");
    }
    for _ in 0..3 {
        tape.grad_into(rosen, &x, &mut gradient).unwrap();
        assert_eq!(tape.capacity(), capacity);
    }
    assert_eq!(
        tape.grad_into(rosen, &x, &mut [0.0; 3]),
        Err(TapeError::LengthMismatch {
            what: "gradient buffer",
            expected: 40,
            found: 3
        })
    );
    // The output may be one of the inputs, which precedes later inputs.
    let mut gradient = [9.0; 3];
    let value = tape
        .grad_into(|v| v[0], &[5.0, 6.0, 7.0], &mut gradient)
        .unwrap();
    assert_eq!((value, gradient), (5.0, [1.0, 0.0, 0.0]));
}

#[test]
fn gradients_write_checks_lengths() {
    let tape = Tape::new();
    let xs = tape.vars(&[1.0, 2.0]);
    let gradients = tape.gradient(xs[0] * xs[1]);
    let mut out = [0.0; 2];
    gradients.write(&xs, &mut out).unwrap();
    assert_eq!(out, [2.0, 1.0]);
    assert!(gradients.write(&xs, &mut [0.0; 1]).is_err());
}

#[test]
#[should_panic(expected = "a variable of one tape was used with another tape")]
fn mixing_tapes_panics() {
    let (a, b) = (Tape::new(), Tape::new());
    let _ = a.var(1.0) + b.var(2.0);
}

proptest! {
    #[test]
    fn rosen_gradient_at_random_points(x in prop::collection::vec(-2.0f64..2.0, 2..40)) {
        let (value, gradient) = grad(rosen, &x);
        assert_close(value, rosen_f64(&x), 1e-13, "rosen value");
        for (&found, &expected) in gradient.iter().zip(&rosen_gradient(&x)) {
            assert_close(found, expected, 1e-12, "rosen gradient");
        }
    }

    #[test]
    fn seeds_at_random_points(x in -10.0f64..10.0, y in -10.0f64..10.0, positive in 0.01f64..5.0) {
        let (_, gradient) = grad(seed3, &[x, y]);
        assert_close(gradient[0], 2.0 * x + y, 1e-15, "seed3 d/dx");
        prop_assert_eq!(gradient[1], x);
        let (value, gradient) = grad(|v| (v[0] + v[1]) * (v[0] - v[1]), &[x, y]);
        prop_assert_eq!(value, (x + y) * (x - y));
        prop_assert_eq!(gradient, vec![(x - y) + (x + y), (x - y) - (x + y)]);
        let (_, gradient) = grad(seed1, &[positive]);
        assert_close(gradient[0], seed1_derivative(positive), 1e-12, "seed1");
    }

    #[test]
    fn unary_ops_at_random_points(index in 0usize..33, t in 0.0f64..1.0) {
        let ops = unary_ops();
        let op = &ops[index % ops.len()];
        // Interpolate between the op's own sample points to stay in its domain.
        let (lo, hi) = (op.points[0], op.points[op.points.len() - 1]);
        let x = lo + t * (hi - lo);
        // Several operations have a pole or a kink at 0, where finite
        // differences mean nothing; the fixed points above cover 0.
        prop_assume!(x.abs() > 0.1);
        let tape = Tape::new();
        let input = tape.var(x);
        let output = (op.on_var)(input);
        let derivative = tape.gradient(output)[input];
        let expected = central_difference(op.on_f64, x);
        assert_close(derivative, expected, 1e-6, &format!("{} at {x}", op.name));
    }
}
