//! The reference interpreter against independent oracles: `std`/`libm` on the
//! same inputs, hand-worked arrays, C99 and IEEE special values, and naive
//! index-by-index implementations written here.

use adjit_ir::interp::{EvalError, Interpreter, Limits, eval};
use adjit_ir::typing::NoSignatures;
use adjit_ir::{
    BinaryOp, Checkpoint, CmpOp, ConstData, Dim, Elem, Function, FunctionBuilder, Graph, Module,
    Op, ReduceOp, Scalar, Shape, SliceRange, Tensor, Type, UnaryOp, Value,
};
use std::sync::Arc;

// ---------------------------------------------------------------- helpers

fn module_of(fs: impl IntoIterator<Item = Function>) -> Module {
    let mut m = Module::new();
    for f in fs {
        m.add(f).expect("distinct names");
    }
    m
}

/// One node applying `op` to parameters typed like `inputs`, built through
/// the type rule, then evaluated.
fn apply(op: Op, inputs: &[Tensor]) -> Result<Vec<Tensor>, EvalError> {
    let mut b = FunctionBuilder::new("f");
    let ps: Vec<Value> = inputs
        .iter()
        .enumerate()
        .map(|(i, t)| b.param(&format!("p{i}"), t.ty()))
        .collect();
    let r = b.push(op, &ps, &NoSignatures).expect("well-typed");
    eval(&module_of([b.finish(&r)]), "f", inputs)
}

fn apply1(op: Op, inputs: &[Tensor]) -> Tensor {
    apply(op, inputs).expect("evaluates").remove(0)
}

fn t64(shape: &[usize], v: &[f64]) -> Tensor {
    Tensor::f64(shape, v.to_vec()).unwrap()
}
fn t32(shape: &[usize], v: &[f32]) -> Tensor {
    Tensor::f32(shape, v.to_vec()).unwrap()
}
fn ti(shape: &[usize], v: &[i64]) -> Tensor {
    Tensor::i64(shape, v.to_vec()).unwrap()
}
fn tb(shape: &[usize], v: &[bool]) -> Tensor {
    Tensor::bool(shape, v.to_vec()).unwrap()
}
fn vec1(v: &[f64]) -> Tensor {
    t64(&[v.len()], v)
}

fn f64s(t: &Tensor) -> Vec<f64> {
    t.as_f64().expect("f64 tensor").to_vec()
}
fn f32s(t: &Tensor) -> Vec<f32> {
    t.as_f32().expect("f32 tensor").to_vec()
}
fn i64s(t: &Tensor) -> Vec<i64> {
    t.as_i64().expect("i64 tensor").to_vec()
}
fn bools(t: &Tensor) -> Vec<bool> {
    t.as_bool().expect("bool tensor").to_vec()
}

/// Bitwise equality, except that any NaN equals any NaN.
fn same64(a: f64, b: f64) -> bool {
    a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan())
}
fn same32(a: f32, b: f32) -> bool {
    a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan())
}

#[track_caller]
fn assert_same64(got: &[f64], want: &[f64], what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: lengths");
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        assert!(same64(g, w), "{what}[{i}]: got {g:?}, want {w:?}");
    }
}

#[track_caller]
fn assert_same32(got: &[f32], want: &[f32], what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: lengths");
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        assert!(same32(g, w), "{what}[{i}]: got {g:?}, want {w:?}");
    }
}

const EDGES: [f64; 24] = [
    0.0,
    -0.0,
    1.0,
    -1.0,
    0.5,
    -0.5,
    1.5,
    2.5,
    -2.5,
    3.7,
    -40.0,
    100.0,
    710.0,
    -745.5,
    1e-300,
    -1e-300,
    5e-324,
    f64::MIN_POSITIVE,
    1e300,
    f64::MAX,
    f64::MIN,
    f64::INFINITY,
    f64::NEG_INFINITY,
    f64::NAN,
];

fn edges32() -> Vec<f32> {
    let mut v: Vec<f32> = EDGES.iter().map(|&x| x as f32).collect();
    v.extend([1e-45, f32::MAX, f32::MIN, 88.8, -104.0]);
    v
}

/// A deterministic pseudo-random sequence in [-1, 1).
fn noise(n: usize, seed: u64) -> Vec<f64> {
    let mut s = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..n)
        .map(|_| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((s >> 11) as f64 / (1u64 << 53) as f64) * 2.0 - 1.0
        })
        .collect()
}

/// The row-major multi-index of flat index `i` in `shape`.
fn unravel(mut i: usize, shape: &[usize]) -> Vec<usize> {
    let mut idx = vec![0; shape.len()];
    for k in (0..shape.len()).rev() {
        idx[k] = i % shape[k];
        i /= shape[k];
    }
    idx
}

/// The flat row-major index of `idx` in `shape`.
fn ravel(idx: &[usize], shape: &[usize]) -> usize {
    idx.iter().zip(shape).fold(0, |acc, (&i, &d)| acc * d + i)
}

fn known(dims: &[i64]) -> Shape {
    Shape(dims.iter().map(|&d| Dim::Known(d)).collect())
}

fn n() -> Dim {
    Dim::var("n")
}

// ---------------------------------------------------------------- unary

type F64Fn = fn(f64) -> f64;
type F32Fn = fn(f32) -> f32;
type F64Bin = fn(f64, f64) -> f64;
type F64Cmp = fn(&f64, &f64) -> bool;

fn std_unary() -> Vec<(UnaryOp, F64Fn, F32Fn)> {
    vec![
        (UnaryOp::Neg, |x| -x, |x| -x),
        (UnaryOp::Abs, f64::abs, f32::abs),
        (UnaryOp::Sqrt, f64::sqrt, f32::sqrt),
        (UnaryOp::Exp, f64::exp, f32::exp),
        (UnaryOp::Log, f64::ln, f32::ln),
        (UnaryOp::Log1p, f64::ln_1p, f32::ln_1p),
        (UnaryOp::Expm1, f64::exp_m1, f32::exp_m1),
        (UnaryOp::Sin, f64::sin, f32::sin),
        (UnaryOp::Cos, f64::cos, f32::cos),
        (UnaryOp::Tan, f64::tan, f32::tan),
        (UnaryOp::Tanh, f64::tanh, f32::tanh),
        (UnaryOp::Erf, libm::erf, libm::erff),
        (UnaryOp::Recip, |x| 1.0 / x, |x| 1.0 / x),
        (UnaryOp::Floor, f64::floor, f32::floor),
        (UnaryOp::Ceil, f64::ceil, f32::ceil),
        (UnaryOp::Round, f64::round, f32::round),
    ]
}

#[test]
fn unary_float_ops_match_std_and_libm_on_edge_values() {
    let e32 = edges32();
    for (op, f, g) in std_unary() {
        let got = f64s(&apply1(Op::Unary(op), &[vec1(&EDGES)]));
        let want: Vec<f64> = EDGES.iter().map(|&x| f(x)).collect();
        assert_same64(&got, &want, op.name());
        let got = f32s(&apply1(Op::Unary(op), &[t32(&[e32.len()], &e32)]));
        let want: Vec<f32> = e32.iter().map(|&x| g(x)).collect();
        assert_same32(&got, &want, op.name());
        // Scalars, empty and length-1 arrays.
        let s = f64s(&apply1(Op::Unary(op), &[Tensor::from_f64(0.75)]));
        assert_same64(&s, &[f(0.75)], op.name());
        for shape in [&[0][..], &[3, 0], &[0, 2]] {
            let e = apply1(Op::Unary(op), &[t64(shape, &[])]);
            assert_eq!(e.shape(), shape);
            assert!(e.is_empty());
        }
        let one = f64s(&apply1(Op::Unary(op), &[vec1(&[-0.25])]));
        assert_same64(&one, &[f(-0.25)], op.name());
    }
}

#[test]
fn unary_closed_forms_and_signed_zeros() {
    let u = |op, xs: &[f64]| f64s(&apply1(Op::Unary(op), &[vec1(xs)]));
    assert_same64(&u(UnaryOp::Abs, &[-0.0]), &[0.0], "abs -0");
    assert_same64(&u(UnaryOp::Neg, &[0.0]), &[-0.0], "neg 0");
    assert_same64(
        &u(UnaryOp::Sqrt, &[-0.0, -1.0, 4.0]),
        &[-0.0, f64::NAN, 2.0],
        "sqrt",
    );
    assert_same64(
        &u(UnaryOp::Log, &[0.0, -0.0, -1.0, 1.0, f64::INFINITY]),
        &[
            f64::NEG_INFINITY,
            f64::NEG_INFINITY,
            f64::NAN,
            0.0,
            f64::INFINITY,
        ],
        "log",
    );
    assert_same64(
        &u(UnaryOp::Log1p, &[-1.0, -0.0]),
        &[f64::NEG_INFINITY, -0.0],
        "log1p",
    );
    assert_same64(
        &u(UnaryOp::Expm1, &[-0.0, f64::NEG_INFINITY]),
        &[-0.0, -1.0],
        "expm1",
    );
    assert_same64(
        &u(UnaryOp::Exp, &[f64::NEG_INFINITY, 0.0, 710.0]),
        &[0.0, 1.0, f64::INFINITY],
        "exp",
    );
    assert_same64(
        &u(UnaryOp::Recip, &[0.0, -0.0, 4.0]),
        &[f64::INFINITY, f64::NEG_INFINITY, 0.25],
        "recip",
    );
    assert_same64(
        &u(
            UnaryOp::Tanh,
            &[-0.0, f64::INFINITY, f64::NEG_INFINITY, 1e3],
        ),
        &[-0.0, 1.0, -1.0, 1.0],
        "tanh",
    );
    assert_same64(
        &u(
            UnaryOp::Round,
            &[0.5, -0.5, 1.5, 2.5, -2.5, -0.4, 0.4999999999999999],
        ),
        &[1.0, -1.0, 2.0, 3.0, -3.0, -0.0, 0.0],
        "round half away from zero",
    );
    assert_same64(
        &u(UnaryOp::Floor, &[-0.5, -0.0, 2.7]),
        &[-1.0, -0.0, 2.0],
        "floor",
    );
    assert_same64(
        &u(UnaryOp::Ceil, &[-0.5, 0.2, -0.0]),
        &[-0.0, 1.0, -0.0],
        "ceil",
    );
    assert_same64(
        &u(
            UnaryOp::Sign,
            &[
                3.5,
                -2.0,
                0.0,
                -0.0,
                f64::NAN,
                f64::INFINITY,
                f64::NEG_INFINITY,
                5e-324,
                -5e-324,
            ],
        ),
        &[1.0, -1.0, 0.0, -0.0, f64::NAN, 1.0, -1.0, 1.0, -1.0],
        "sign",
    );
    assert_same64(
        &u(
            UnaryOp::Erf,
            &[0.0, -0.0, f64::INFINITY, f64::NEG_INFINITY, 6.0, f64::NAN],
        ),
        &[0.0, -0.0, 1.0, -1.0, 1.0, f64::NAN],
        "erf",
    );
    // f32 sign keeps zeros and NaN too.
    let s = f32s(&apply1(
        Op::Unary(UnaryOp::Sign),
        &[t32(&[4], &[-0.0, 0.0, f32::NAN, -3.0])],
    ));
    assert_same32(&s, &[-0.0, 0.0, f32::NAN, -1.0], "sign f32");
}

#[test]
fn erf_matches_its_taylor_series() {
    // erf x = 2/√π Σ (−1)ⁿ x^(2n+1) / (n! (2n+1)), summed until terms vanish.
    for x in [0.1f64, 0.5, -0.8, 1.3] {
        let mut sum = 0.0;
        let mut term = x; // (−1)ⁿ x^(2n+1) / n!
        for k in 0..60 {
            sum += term / (2 * k + 1) as f64;
            term *= -x * x / (k + 1) as f64;
        }
        let series = 2.0 / std::f64::consts::PI.sqrt() * sum;
        let got = f64s(&apply1(Op::Unary(UnaryOp::Erf), &[Tensor::from_f64(x)]))[0];
        assert!(
            (got - series).abs() <= 4.0 * f64::EPSILON * series.abs(),
            "erf({x}) = {got}, series {series}"
        );
        let got32 = f32s(&apply1(Op::Unary(UnaryOp::Erf), &[t32(&[], &[x as f32])]))[0];
        assert!(
            (f64::from(got32) - series).abs() <= 2.0 * f64::from(f32::EPSILON) * series.abs(),
            "erff({x}) = {got32}"
        );
    }
}

#[test]
fn sigmoid_is_stable_in_both_tails() {
    let xs = [
        0.0,
        -0.0,
        800.0,
        -800.0,
        40.0,
        -40.0,
        -745.0,
        3.0,
        -3.0,
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::NAN,
    ];
    let got = f64s(&apply1(Op::Unary(UnaryOp::Sigmoid), &[vec1(&xs)]));
    assert_same64(&got[..4], &[0.5, 0.5, 1.0, 0.0], "sigmoid 0 and tails");
    assert_eq!(got[4], 1.0 / (1.0 + (-40.0f64).exp()));
    // e^−40 / (1 + e^−40) with no cancellation: relative accuracy holds.
    let e = (-40.0f64).exp();
    assert!((got[5] - e / (1.0 + e)).abs() <= f64::EPSILON * got[5]);
    assert!(
        got[6] > 0.0,
        "sigmoid(-745) underflows to a subnormal, not 0 or NaN"
    );
    assert!(
        (got[7] + got[8] - 1.0).abs() <= 2.0 * f64::EPSILON,
        "σ(x) + σ(−x) = 1"
    );
    assert_same64(&got[9..], &[1.0, 0.0, f64::NAN], "sigmoid ±inf, NaN");
    let g32 = f32s(&apply1(
        Op::Unary(UnaryOp::Sigmoid),
        &[t32(&[3], &[100.0, -100.0, 0.0])],
    ));
    let e32 = (-100.0f32).exp();
    assert_same32(&g32, &[1.0, e32 / (1.0 + e32), 0.5], "sigmoid f32");
    assert!(g32[1] > 0.0);
}

#[test]
fn unary_i64_and_bool() {
    let x = ti(&[6], &[5, -3, 0, i64::MIN, i64::MAX, -1]);
    let u = |op| i64s(&apply1(Op::Unary(op), std::slice::from_ref(&x)));
    assert_eq!(u(UnaryOp::Neg), [-5, 3, 0, i64::MIN, -i64::MAX, 1]);
    assert_eq!(u(UnaryOp::Abs), [5, 3, 0, i64::MIN, i64::MAX, 1]);
    assert_eq!(u(UnaryOp::Sign), [1, -1, 0, -1, 1, -1]);
    assert_eq!(u(UnaryOp::Not), [-6, 2, -1, i64::MAX, i64::MIN, 0]);
    let b = bools(&apply1(
        Op::Unary(UnaryOp::Not),
        &[tb(&[2], &[true, false])],
    ));
    assert_eq!(b, [false, true]);
    assert!(apply1(Op::Unary(UnaryOp::Not), &[tb(&[0], &[])]).is_empty());
}

// ---------------------------------------------------------------- binary

/// Every pair of a smaller edge set, as two flat arrays.
fn pairs() -> (Vec<f64>, Vec<f64>) {
    let vals = [
        0.0,
        -0.0,
        1.0,
        -1.5,
        2.0,
        0.5,
        3.0,
        -7.25,
        1e300,
        5e-324,
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::NAN,
    ];
    let mut a = Vec::new();
    let mut b = Vec::new();
    for &x in &vals {
        for &y in &vals {
            a.push(x);
            b.push(y);
        }
    }
    (a, b)
}

fn bin64(op: BinaryOp, a: &[f64], b: &[f64]) -> Vec<f64> {
    f64s(&apply1(Op::Binary(op), &[vec1(a), vec1(b)]))
}

/// min/max written from the definition: NaN wins, then zeros by sign, then order.
fn min_oracle(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        f64::NAN
    } else if a == 0.0 && b == 0.0 {
        if a.is_sign_negative() || b.is_sign_negative() {
            -0.0
        } else {
            0.0
        }
    } else if a <= b {
        a
    } else {
        b
    }
}
fn max_oracle(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        f64::NAN
    } else if a == 0.0 && b == 0.0 {
        if a.is_sign_positive() || b.is_sign_positive() {
            0.0
        } else {
            -0.0
        }
    } else if a >= b {
        a
    } else {
        b
    }
}

#[test]
fn binary_float_ops_match_ieee_on_all_edge_pairs() {
    let (a, b) = pairs();
    let cases: Vec<(BinaryOp, F64Bin)> = vec![
        (BinaryOp::Add, |x, y| x + y),
        (BinaryOp::Sub, |x, y| x - y),
        (BinaryOp::Mul, |x, y| x * y),
        (BinaryOp::Div, |x, y| x / y),
        (BinaryOp::Pow, f64::powf),
        (BinaryOp::Atan2, f64::atan2),
        (BinaryOp::Min, min_oracle),
        (BinaryOp::Max, max_oracle),
    ];
    for (op, f) in cases {
        let want: Vec<f64> = a.iter().zip(&b).map(|(&x, &y)| f(x, y)).collect();
        assert_same64(&bin64(op, &a, &b), &want, op.name());
        let a32: Vec<f32> = a.iter().map(|&x| x as f32).collect();
        let b32: Vec<f32> = b.iter().map(|&x| x as f32).collect();
        let got = f32s(&apply1(
            Op::Binary(op),
            &[t32(&[a.len()], &a32), t32(&[b.len()], &b32)],
        ));
        let want32: Vec<f32> = match op {
            BinaryOp::Pow => a32.iter().zip(&b32).map(|(&x, &y)| x.powf(y)).collect(),
            BinaryOp::Atan2 => a32.iter().zip(&b32).map(|(&x, &y)| x.atan2(y)).collect(),
            // The rest are exact in f32 when computed in f32.
            _ => a32
                .iter()
                .zip(&b32)
                .map(|(&x, &y)| match op {
                    BinaryOp::Add => x + y,
                    BinaryOp::Sub => x - y,
                    BinaryOp::Mul => x * y,
                    BinaryOp::Div => x / y,
                    BinaryOp::Min => min_oracle(f64::from(x), f64::from(y)) as f32,
                    _ => max_oracle(f64::from(x), f64::from(y)) as f32,
                })
                .collect(),
        };
        assert_same32(&got, &want32, op.name());
    }
    // Scalars and empty arrays.
    let s = f64s(&apply1(
        Op::Binary(BinaryOp::Add),
        &[Tensor::from_f64(1.5), Tensor::from_f64(-0.25)],
    ));
    assert_eq!(s, [1.25]);
    assert!(
        apply1(
            Op::Binary(BinaryOp::Mul),
            &[t64(&[3, 0], &[]), t64(&[3, 0], &[])]
        )
        .is_empty()
    );
}

#[test]
fn min_max_zero_signs_and_nan_in_either_position() {
    let a = [-0.0, 0.0, f64::NAN, 1.0, f64::NEG_INFINITY];
    let b = [0.0, -0.0, 1.0, f64::NAN, f64::NAN];
    assert_same64(
        &bin64(BinaryOp::Min, &a, &b),
        &[-0.0, -0.0, f64::NAN, f64::NAN, f64::NAN],
        "min",
    );
    assert_same64(
        &bin64(BinaryOp::Max, &a, &b),
        &[0.0, 0.0, f64::NAN, f64::NAN, f64::NAN],
        "max",
    );
}

#[test]
fn pow_follows_c99_special_cases() {
    let cases: [(f64, f64, f64); 22] = [
        (f64::NAN, 0.0, 1.0),
        (f64::NAN, -0.0, 1.0),
        (1.0, f64::NAN, 1.0),
        (-1.0, f64::INFINITY, 1.0),
        (-1.0, f64::NEG_INFINITY, 1.0),
        (2.0, f64::NAN, f64::NAN),
        (f64::NAN, 1.0, f64::NAN),
        (-8.0, 1.0 / 3.0, f64::NAN),
        (0.0, -1.0, f64::INFINITY),
        (-0.0, -1.0, f64::NEG_INFINITY),
        (-0.0, -2.0, f64::INFINITY),
        (-0.0, 3.0, -0.0),
        (0.0, 3.0, 0.0),
        (-0.0, 0.5, 0.0),
        (0.5, f64::INFINITY, 0.0),
        (2.0, f64::INFINITY, f64::INFINITY),
        (0.5, f64::NEG_INFINITY, f64::INFINITY),
        (f64::NEG_INFINITY, 3.0, f64::NEG_INFINITY),
        (f64::NEG_INFINITY, -3.0, -0.0),
        (f64::INFINITY, -1.0, 0.0),
        (-2.0, 3.0, -8.0),
        (4.0, 0.5, 2.0),
    ];
    let a: Vec<f64> = cases.iter().map(|c| c.0).collect();
    let b: Vec<f64> = cases.iter().map(|c| c.1).collect();
    let want: Vec<f64> = cases.iter().map(|c| c.2).collect();
    assert_same64(&bin64(BinaryOp::Pow, &a, &b), &want, "pow");
    let a32: Vec<f32> = a.iter().map(|&x| x as f32).collect();
    let b32: Vec<f32> = b.iter().map(|&x| x as f32).collect();
    let got = f32s(&apply1(
        Op::Binary(BinaryOp::Pow),
        &[t32(&[22], &a32), t32(&[22], &b32)],
    ));
    let want32: Vec<f32> = want.iter().map(|&x| x as f32).collect();
    assert_same32(&got, &want32, "powf f32");
}

#[test]
fn atan2_quadrants_and_zeros() {
    use std::f64::consts::PI;
    let a = [0.0, -0.0, 0.0, -0.0, 1.0, -1.0, 1.0, f64::NAN];
    let b = [-1.0, -1.0, 0.0, 0.0, 0.0, 0.0, f64::INFINITY, 1.0];
    assert_same64(
        &bin64(BinaryOp::Atan2, &a, &b),
        &[PI, -PI, 0.0, -0.0, PI / 2.0, -PI / 2.0, 0.0, f64::NAN],
        "atan2",
    );
}

#[test]
fn binary_i64_wraps_and_divides_by_zero_to_zero() {
    let bin = |op, a: &[i64], b: &[i64]| {
        i64s(&apply1(
            Op::Binary(op),
            &[ti(&[a.len()], a), ti(&[b.len()], b)],
        ))
    };
    assert_eq!(bin(BinaryOp::Add, &[i64::MAX, -5], &[1, 3]), [i64::MIN, -2]);
    assert_eq!(bin(BinaryOp::Sub, &[i64::MIN, 2], &[1, 5]), [i64::MAX, -3]);
    assert_eq!(
        bin(BinaryOp::Mul, &[i64::MAX, i64::MIN, -4], &[2, -1, 6]),
        [-2, i64::MIN, -24]
    );
    assert_eq!(
        bin(
            BinaryOp::Div,
            &[7, -7, 7, -7, 7, -7, 0, i64::MIN, i64::MIN],
            &[2, 2, -2, -2, 0, 0, 0, -1, 1]
        ),
        [3, -3, -3, 3, 0, 0, 0, i64::MIN, i64::MIN]
    );
    assert_eq!(bin(BinaryOp::Min, &[3, i64::MIN], &[-3, 0]), [-3, i64::MIN]);
    assert_eq!(bin(BinaryOp::Max, &[3, i64::MIN], &[-3, 0]), [3, 0]);
    assert_eq!(
        bin(BinaryOp::And, &[0b1100, -1], &[0b1010, 77]),
        [0b1000, 77]
    );
    assert_eq!(
        bin(BinaryOp::Or, &[0b1100, i64::MIN], &[0b1010, 1]),
        [0b1110, i64::MIN + 1]
    );
    let bb = |op| {
        bools(&apply1(
            Op::Binary(op),
            &[
                tb(&[4], &[false, false, true, true]),
                tb(&[4], &[false, true, false, true]),
            ],
        ))
    };
    assert_eq!(bb(BinaryOp::And), [false, false, false, true]);
    assert_eq!(bb(BinaryOp::Or), [false, true, true, true]);
}

#[test]
fn in_place_reuse_does_not_disturb_shared_operands() {
    // x is used after y = x + x and z = y * y, so neither may overwrite it.
    let g = Graph::new("f");
    let x = g.param("x", Type::f64(&[3]));
    let y = x + x;
    let z = y * y;
    let w = z - x;
    let m = module_of([g.finish(&[w, x, y]).unwrap()]);
    let out = eval(&m, "f", &[vec1(&[1.0, -2.0, 0.5])]).unwrap();
    assert_eq!(f64s(&out[0]), [3.0, 18.0, 0.5]);
    assert_eq!(f64s(&out[1]), [1.0, -2.0, 0.5]);
    assert_eq!(f64s(&out[2]), [2.0, -4.0, 1.0]);
}

// ---------------------------------------------------------------- compare, select, convert

#[test]
fn comparisons_are_ieee() {
    let (a, b) = pairs();
    let cases: Vec<(CmpOp, F64Cmp)> = vec![
        (CmpOp::Eq, f64::eq),
        (CmpOp::Ne, f64::ne),
        (CmpOp::Lt, f64::lt),
        (CmpOp::Le, f64::le),
        (CmpOp::Gt, f64::gt),
        (CmpOp::Ge, f64::ge),
    ];
    for (op, f) in cases {
        let got = bools(&apply1(Op::Compare(op), &[vec1(&a), vec1(&b)]));
        let want: Vec<bool> = a.iter().zip(&b).map(|(x, y)| f(x, y)).collect();
        assert_eq!(got, want, "{}", op.name());
    }
    let c = |op, x: f64, y: f64| {
        bools(&apply1(
            Op::Compare(op),
            &[Tensor::from_f64(x), Tensor::from_f64(y)],
        ))[0]
    };
    assert!(!c(CmpOp::Eq, f64::NAN, f64::NAN));
    assert!(c(CmpOp::Ne, f64::NAN, f64::NAN));
    assert!(!c(CmpOp::Lt, f64::NAN, 1.0) && !c(CmpOp::Ge, f64::NAN, 1.0));
    assert!(c(CmpOp::Eq, -0.0, 0.0) && !c(CmpOp::Lt, -0.0, 0.0));
    let ci = |op| {
        bools(&apply1(
            Op::Compare(op),
            &[ti(&[3], &[1, i64::MIN, 5]), ti(&[3], &[2, i64::MAX, 5])],
        ))
    };
    assert_eq!(ci(CmpOp::Lt), [true, true, false]);
    assert_eq!(ci(CmpOp::Ge), [false, false, true]);
    let cb = |op| {
        bools(&apply1(
            Op::Compare(op),
            &[tb(&[2], &[true, false]), tb(&[2], &[true, true])],
        ))
    };
    assert_eq!(cb(CmpOp::Eq), [true, false]);
    assert_eq!(cb(CmpOp::Ne), [false, true]);
    let c32 = bools(&apply1(
        Op::Compare(CmpOp::Le),
        &[t32(&[2], &[f32::NAN, 1.0]), t32(&[2], &[1.0, 1.0])],
    ));
    assert_eq!(c32, [false, true]);
}

#[test]
fn select_picks_elementwise() {
    let out = apply1(
        Op::Select,
        &[
            tb(&[4], &[true, false, true, false]),
            vec1(&[f64::NAN, 1.0, -0.0, 3.0]),
            vec1(&[9.0, -0.0, 8.0, f64::INFINITY]),
        ],
    );
    assert_same64(
        &f64s(&out),
        &[f64::NAN, -0.0, -0.0, f64::INFINITY],
        "select",
    );
    let s = apply1(
        Op::Select,
        &[tb(&[], &[false]), ti(&[], &[1]), ti(&[], &[2])],
    );
    assert_eq!(i64s(&s), [2]);
    assert!(apply1(Op::Select, &[tb(&[0], &[]), vec1(&[]), vec1(&[])]).is_empty());
}

#[test]
fn convert_between_every_pair_of_element_types() {
    let conv = |x: &Tensor, elem| apply1(Op::Convert { elem }, std::slice::from_ref(x));
    let xs = vec1(&[
        2.9,
        -2.9,
        f64::NAN,
        f64::INFINITY,
        f64::NEG_INFINITY,
        1e300,
        -0.0,
        0.1,
    ]);
    assert_eq!(
        i64s(&conv(&xs, Elem::I64)),
        [2, -2, 0, i64::MAX, i64::MIN, i64::MAX, 0, 0]
    );
    assert_eq!(
        bools(&conv(&xs, Elem::Bool)),
        [true, true, true, true, true, true, false, true]
    );
    assert_same32(
        &f32s(&conv(&xs, Elem::F32)),
        &[
            2.9f32,
            -2.9,
            f32::NAN,
            f32::INFINITY,
            f32::NEG_INFINITY,
            f32::INFINITY,
            -0.0,
            0.1f32,
        ],
        "f64→f32",
    );
    assert_same64(&f64s(&conv(&xs, Elem::F64)), &f64s(&xs), "f64→f64");
    let x32 = t32(&[4], &[0.1, -3.5, f32::NAN, 3e9]);
    assert_same64(
        &f64s(&conv(&x32, Elem::F64)),
        &[f64::from(0.1f32), -3.5, f64::NAN, f64::from(3e9f32)],
        "f32→f64",
    );
    assert_eq!(i64s(&conv(&x32, Elem::I64)), [0, -3, 0, 3_000_000_000]);
    assert_eq!(bools(&conv(&x32, Elem::Bool)), [true, true, true, true]);
    let xi = ti(&[4], &[i64::MAX, -3, 0, 1 << 53 | 1]);
    assert_same64(
        &f64s(&conv(&xi, Elem::F64)),
        &[2f64.powi(63), -3.0, 0.0, (1u64 << 53) as f64],
        "i64→f64",
    );
    assert_same32(
        &f32s(&conv(&xi, Elem::F32)),
        &[9.223372e18, -3.0, 0.0, 9.007199e15],
        "i64→f32",
    );
    assert_eq!(bools(&conv(&xi, Elem::Bool)), [true, true, false, true]);
    let xb = tb(&[2], &[true, false]);
    assert_eq!(f64s(&conv(&xb, Elem::F64)), [1.0, 0.0]);
    assert_eq!(f32s(&conv(&xb, Elem::F32)), [1.0, 0.0]);
    assert_eq!(i64s(&conv(&xb, Elem::I64)), [1, 0]);
    assert_eq!(bools(&conv(&xb, Elem::Bool)), [true, false]);
    assert!(
        conv(&t64(&[0, 3], &[]), Elem::I64)
            .as_i64()
            .unwrap()
            .is_empty()
    );
}

// ---------------------------------------------------------------- nullary ops

#[test]
fn constants_iota_and_size() {
    let c = apply1(
        Op::Const {
            ty: Type::f64(&[2, 3]),
            data: ConstData::Splat(Scalar::F64(-0.0)),
        },
        &[],
    );
    assert_eq!(c.shape(), [2, 3]);
    assert!(f64s(&c).iter().all(|x| x.to_bits() == (-0.0f64).to_bits()));
    let d = apply1(
        Op::Const {
            ty: Type::new(Elem::I64, Shape::known(&[2, 2])),
            data: ConstData::Dense(Arc::from([
                Scalar::I64(1),
                Scalar::I64(-2),
                Scalar::I64(3),
                Scalar::I64(i64::MIN),
            ])),
        },
        &[],
    );
    assert_eq!(i64s(&d), [1, -2, 3, i64::MIN]);
    let e = apply1(
        Op::Const {
            ty: Type::new(Elem::Bool, Shape::known(&[3, 0])),
            data: ConstData::Splat(Scalar::Bool(true)),
        },
        &[],
    );
    assert_eq!(e.shape(), [3, 0]);

    let iota = |elem, shape: &[usize], axis| {
        apply1(
            Op::Iota {
                ty: Type::new(elem, Shape::known(shape)),
                axis,
            },
            &[],
        )
    };
    assert_eq!(
        f64s(&iota(Elem::F64, &[2, 3], 0)),
        [0.0, 0.0, 0.0, 1.0, 1.0, 1.0]
    );
    assert_eq!(i64s(&iota(Elem::I64, &[2, 3], 1)), [0, 1, 2, 0, 1, 2]);
    assert_eq!(
        f32s(&iota(Elem::F32, &[2, 2, 2], 1)),
        [0.0, 0.0, 1.0, 1.0, 0.0, 0.0, 1.0, 1.0]
    );
    assert!(iota(Elem::I64, &[0, 3], 1).is_empty());
    assert_eq!(i64s(&iota(Elem::I64, &[1], 0)), [0]);

    // Symbolic: shapes and sizes from the input's length.
    let mut b = FunctionBuilder::new("f");
    let x = b.param("x", Type::new(Elem::F64, Shape(vec![n()])));
    let nm1 = n().checked_sub(&Dim::ONE).unwrap();
    let s = b
        .push1(
            Op::Size {
                dim: nm1.clone(),
                elem: Elem::F64,
            },
            &[],
            &NoSignatures,
        )
        .unwrap();
    let si = b
        .push1(
            Op::Size {
                dim: n().checked_mul(&n()).unwrap(),
                elem: Elem::I64,
            },
            &[],
            &NoSignatures,
        )
        .unwrap();
    let k = b
        .push1(
            Op::Const {
                ty: Type::new(Elem::F32, Shape(vec![Dim::Known(2), n()])),
                data: ConstData::Splat(Scalar::F32(1.5)),
            },
            &[],
            &NoSignatures,
        )
        .unwrap();
    let m = module_of([b.finish(&[s, si, k, x])]);
    for len in [5usize, 1, 0] {
        let out = eval(&m, "f", &[vec1(&vec![0.25; len])]).unwrap();
        assert_eq!(f64s(&out[0]), [len as f64 - 1.0], "size n-1 is signed");
        assert_eq!(i64s(&out[1]), [(len * len) as i64]);
        assert_eq!(out[2].shape(), [2, len]);
        assert!(f32s(&out[2]).iter().all(|&v| v == 1.5));
        assert_eq!(
            f64s(&out[3]),
            vec![0.25; len],
            "an input returned as an output"
        );
    }
}

// ---------------------------------------------------------------- structure

/// Naive broadcast: result index → operand index, one element at a time.
fn broadcast_oracle(x: &[f64], xs: &[usize], shape: &[usize], dims: &[usize]) -> Vec<f64> {
    let count: usize = shape.iter().product();
    (0..count)
        .map(|i| {
            let idx = unravel(i, shape);
            let src: Vec<usize> = dims
                .iter()
                .enumerate()
                .map(|(k, &d)| if xs[k] == 1 { 0 } else { idx[d] })
                .collect();
            x[ravel(&src, xs)]
        })
        .collect()
}

#[test]
fn broadcast_against_index_formula() {
    let cases: [(&[usize], &[usize], &[usize]); 7] = [
        (&[3], &[2, 3], &[1]),
        (&[3], &[3, 2], &[0]),
        (&[1, 3], &[4, 3], &[0, 1]),
        (&[], &[2, 2], &[]),
        (&[2, 1, 3], &[2, 4, 5, 3], &[0, 1, 3]),
        (&[3], &[0, 3], &[1]),
        (&[1], &[1], &[0]),
    ];
    for (xs, shape, dims) in cases {
        let x = noise(xs.iter().product(), 7);
        let got = apply1(
            Op::Broadcast {
                shape: Shape::known(shape),
                dims: dims.to_vec(),
            },
            &[t64(xs, &x)],
        );
        assert_eq!(got.shape(), shape);
        assert_same64(
            &f64s(&got),
            &broadcast_oracle(&x, xs, shape, dims),
            "broadcast",
        );
    }
}

#[test]
fn reshape_and_transpose() {
    let x = noise(24, 3);
    let r = apply1(
        Op::Reshape {
            shape: Shape::known(&[4, 6]),
        },
        &[t64(&[2, 3, 4], &x)],
    );
    assert_eq!((r.shape(), f64s(&r)), (&[4usize, 6][..], x.clone()));
    let e = apply1(
        Op::Reshape {
            shape: Shape::known(&[0, 5]),
        },
        &[t64(&[0], &[])],
    );
    assert_eq!(e.shape(), [0, 5]);
    let s = apply1(
        Op::Reshape {
            shape: Shape::known(&[1, 1]),
        },
        &[Tensor::from_f64(4.0)],
    );
    assert_eq!((s.shape(), f64s(&s)), (&[1usize, 1][..], vec![4.0]));

    let t = apply1(
        Op::Transpose { perm: vec![1, 0] },
        &[t64(&[2, 3], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0])],
    );
    assert_eq!(
        (t.shape(), f64s(&t)),
        (&[3usize, 2][..], vec![1.0, 4.0, 2.0, 5.0, 3.0, 6.0])
    );
    for perm in [[2, 0, 1], [1, 2, 0], [0, 1, 2], [2, 1, 0]] {
        let xs = [2, 3, 4];
        let got = apply1(
            Op::Transpose {
                perm: perm.to_vec(),
            },
            &[t64(&xs, &x)],
        );
        let shape: Vec<usize> = perm.iter().map(|&p| xs[p]).collect();
        assert_eq!(got.shape(), shape);
        let want: Vec<f64> = (0..24)
            .map(|i| {
                let idx = unravel(i, &shape);
                let mut src = [0; 3];
                for (k, &p) in perm.iter().enumerate() {
                    src[p] = idx[k];
                }
                x[ravel(&src, &xs)]
            })
            .collect();
        assert_same64(&f64s(&got), &want, "transpose");
    }
    let e = apply1(Op::Transpose { perm: vec![1, 0] }, &[t64(&[3, 0], &[])]);
    assert_eq!(e.shape(), [0, 3]);
}

fn range(start: i64, stop: i64, step: u64) -> SliceRange {
    SliceRange {
        start: Dim::Known(start),
        stop: Dim::Known(stop),
        step,
    }
}

#[test]
fn strided_slices() {
    let x: Vec<f64> = (0..10).map(f64::from).collect();
    let s = |r: SliceRange| f64s(&apply1(Op::Slice { ranges: vec![r] }, &[vec1(&x)]));
    assert_eq!(s(range(1, 8, 3)), [1.0, 4.0, 7.0]);
    assert_eq!(s(range(0, 10, 1)), x);
    assert_eq!(s(range(3, 3, 1)), [0.0; 0]);
    assert_eq!(s(range(0, 1, 5)), [0.0]);
    assert_eq!(s(range(9, 10, 2)), [9.0]);
    assert_eq!(s(range(2, 9, 2)), [2.0, 4.0, 6.0, 8.0]);
    // 2-D: rows 1:3, columns 0:5:2 of a 3×5 matrix.
    let m: Vec<f64> = (0..15).map(f64::from).collect();
    let got = apply1(
        Op::Slice {
            ranges: vec![range(1, 3, 1), range(0, 5, 2)],
        },
        &[t64(&[3, 5], &m)],
    );
    assert_eq!(
        (got.shape(), f64s(&got)),
        (&[2usize, 3][..], vec![5.0, 7.0, 9.0, 10.0, 12.0, 14.0])
    );
    let e = apply1(
        Op::Slice {
            ranges: vec![range(0, 0, 1), range(1, 4, 1)],
        },
        &[t64(&[2, 5], &m[..10])],
    );
    assert_eq!(e.shape(), [0, 3]);
}

#[test]
fn concat_and_pad() {
    let c = apply1(
        Op::Concat { axis: 0 },
        &[vec1(&[1.0, 2.0]), vec1(&[]), vec1(&[3.0])],
    );
    assert_eq!(f64s(&c), [1.0, 2.0, 3.0]);
    let c = apply1(
        Op::Concat { axis: 1 },
        &[
            t64(&[2, 1], &[1.0, 2.0]),
            t64(&[2, 2], &[3.0, 4.0, 5.0, 6.0]),
        ],
    );
    assert_eq!(
        (c.shape(), f64s(&c)),
        (&[2usize, 3][..], vec![1.0, 3.0, 4.0, 2.0, 5.0, 6.0])
    );
    let c = apply1(Op::Concat { axis: 0 }, &[ti(&[1], &[7])]);
    assert_eq!(i64s(&c), [7]);
    let c = apply1(
        Op::Concat { axis: 1 },
        &[t64(&[0, 2], &[]), t64(&[0, 1], &[])],
    );
    assert_eq!(c.shape(), [0, 3]);

    let pad = |x: Tensor, lo: &[i64], hi: &[i64], interior: &[u64], value: Scalar| {
        apply1(
            Op::Pad {
                lo: lo.iter().map(|&d| Dim::Known(d)).collect(),
                hi: hi.iter().map(|&d| Dim::Known(d)).collect(),
                interior: interior.to_vec(),
                value,
            },
            &[x],
        )
    };
    let p = pad(vec1(&[1.0, 2.0, 3.0]), &[1], &[2], &[1], Scalar::F64(-0.0));
    assert_same64(
        &f64s(&p),
        &[-0.0, 1.0, -0.0, 2.0, -0.0, 3.0, -0.0, -0.0],
        "pad interior",
    );
    let p = pad(
        ti(&[2, 2], &[1, 2, 3, 4]),
        &[1, 0],
        &[0, 1],
        &[0, 2],
        Scalar::I64(9),
    );
    // Columns: 2 + 0 + 1 + 2·(2−1) = 5.
    assert_eq!(p.shape(), [3, 5]);
    assert_eq!(i64s(&p), [9, 9, 9, 9, 9, 1, 9, 9, 2, 9, 3, 9, 9, 4, 9]);
    let p = pad(vec1(&[]), &[2], &[1], &[3], Scalar::F64(f64::NAN));
    assert_eq!(p.shape(), [3]);
    assert!(f64s(&p).iter().all(|x| x.is_nan()));
    let p = pad(Tensor::from_f64(5.0), &[], &[], &[], Scalar::F64(0.0));
    assert_eq!(f64s(&p), [5.0]);
    let p = pad(tb(&[1], &[true]), &[0], &[0], &[7], Scalar::Bool(false));
    assert_eq!(bools(&p), [true]);
}

#[test]
fn gather_clamps_indices() {
    let x = vec1(&[10.0, 20.0, 30.0, 40.0]);
    let g = apply1(
        Op::Gather { axis: 0 },
        &[x.clone(), ti(&[5], &[3, -1, 0, 9, 1])],
    );
    assert_eq!(f64s(&g), [40.0, 10.0, 10.0, 40.0, 20.0]);
    let g = apply1(
        Op::Gather { axis: 0 },
        &[x.clone(), ti(&[2, 2], &[0, i64::MAX, i64::MIN, 2])],
    );
    assert_eq!(
        (g.shape(), f64s(&g)),
        (&[2usize, 2][..], vec![10.0, 40.0, 10.0, 30.0])
    );
    let g = apply1(Op::Gather { axis: 0 }, &[x, ti(&[], &[2])]);
    assert_eq!((g.shape(), f64s(&g)), (&[][..], vec![30.0]));
    // Along the middle axis of a 2×3×2 array, with 2-D indices.
    let v: Vec<f64> = (0..12).map(f64::from).collect();
    let idx = [2i64, 0, -4, 1];
    let g = apply1(
        Op::Gather { axis: 1 },
        &[t64(&[2, 3, 2], &v), ti(&[2, 2], &idx)],
    );
    assert_eq!(g.shape(), [2, 2, 2, 2]);
    let want: Vec<f64> = (0..16)
        .map(|i| {
            let u = unravel(i, &[2, 2, 2, 2]);
            let k = idx[u[1] * 2 + u[2]].clamp(0, 2) as usize;
            v[ravel(&[u[0], k, u[3]], &[2, 3, 2])]
        })
        .collect();
    assert_eq!(f64s(&g), want);
    // Empty index arrays give empty results, even from an empty axis.
    let g = apply1(Op::Gather { axis: 0 }, &[vec1(&[]), ti(&[0], &[])]);
    assert_eq!(g.shape(), [0]);
    let g = apply1(
        Op::Gather { axis: 0 },
        &[t64(&[0, 0], &[]), ti(&[3], &[1, 2, 3])],
    );
    assert_eq!(g.shape(), [3, 0]);
    let err = apply(Op::Gather { axis: 0 }, &[vec1(&[]), ti(&[1], &[0])]).unwrap_err();
    assert!(matches!(err, EvalError::EmptyAxis { axis: 0, .. }), "{err}");
}

#[test]
fn scatter_add_accumulates_at_clamped_indices() {
    let s = |upd: Tensor, idx: Tensor, axis, size: i64| {
        apply(
            Op::ScatterAdd {
                axis,
                size: Dim::Known(size),
            },
            &[upd, idx],
        )
    };
    let r = s(vec1(&[1.0, 2.0, 3.0, 4.0]), ti(&[4], &[0, 2, 0, 9]), 0, 3).unwrap();
    assert_eq!(f64s(&r[0]), [4.0, 0.0, 6.0]);
    // Zeros are +0, and summing −0 into them keeps +0.
    let r = s(vec1(&[-0.0]), ti(&[1], &[-3]), 0, 2).unwrap();
    assert_same64(&f64s(&r[0]), &[0.0, 0.0], "scatter −0");
    // Along axis 1 of a 2×3 result, with 2×2 updates.
    let r = s(t64(&[2, 2], &[1.0, 2.0, 3.0, 4.0]), ti(&[2], &[2, 2]), 1, 3).unwrap();
    assert_eq!(
        (r[0].shape(), f64s(&r[0])),
        (&[2usize, 3][..], vec![0.0, 0.0, 3.0, 0.0, 0.0, 7.0])
    );
    let r = s(ti(&[2], &[i64::MAX, 1]), ti(&[2], &[0, 0]), 0, 1).unwrap();
    assert_eq!(i64s(&r[0]), [i64::MIN]);
    let r = s(vec1(&[]), ti(&[0], &[]), 0, 0).unwrap();
    assert_eq!(r[0].shape(), [0]);
    let r = s(vec1(&[]), ti(&[0], &[]), 0, 2).unwrap();
    assert_eq!(f64s(&r[0]), [0.0, 0.0]);
    let err = s(vec1(&[1.0]), ti(&[1], &[0]), 0, 0).unwrap_err();
    assert!(matches!(err, EvalError::EmptyAxis { axis: 0, .. }), "{err}");
    // f32 accumulates in f32.
    let r = apply1(
        Op::ScatterAdd {
            axis: 0,
            size: Dim::Known(1),
        },
        &[t32(&[3], &[16777216.0, 1.0, 1.0]), ti(&[3], &[0, 0, 0])],
    );
    assert_eq!(f32s(&r), [16777216.0]);
}

/// Naive reduction: for each output index, fold the reduced elements in
/// row-major order from the identity.
fn reduce_oracle(
    x: &[f64],
    xs: &[usize],
    axes: &[usize],
    id: f64,
    f: fn(f64, f64) -> f64,
) -> Vec<f64> {
    let out_shape: Vec<usize> = (0..xs.len())
        .filter(|a| !axes.contains(a))
        .map(|a| xs[a])
        .collect();
    let red_shape: Vec<usize> = axes.iter().map(|&a| xs[a]).collect();
    let outs: usize = out_shape.iter().product();
    let reds: usize = red_shape.iter().product();
    (0..outs)
        .map(|o| {
            let oi = unravel(o, &out_shape);
            let mut acc = id;
            for r in 0..reds {
                let ri = unravel(r, &red_shape);
                let (mut ok, mut rk) = (oi.iter(), ri.iter());
                let idx: Vec<usize> = (0..xs.len())
                    .map(|a| {
                        if axes.contains(&a) {
                            *rk.next().unwrap()
                        } else {
                            *ok.next().unwrap()
                        }
                    })
                    .collect();
                acc = f(acc, x[ravel(&idx, xs)]);
            }
            acc
        })
        .collect()
}

#[test]
fn reductions_against_naive_folds() {
    let shapes: [&[usize]; 4] = [&[2, 3, 4], &[5], &[3, 0, 2], &[1, 4, 1]];
    let ops: [(ReduceOp, f64, F64Bin); 4] = [
        (ReduceOp::Sum, 0.0, |a, b| a + b),
        (ReduceOp::Prod, 1.0, |a, b| a * b),
        (ReduceOp::Max, f64::NEG_INFINITY, max_oracle),
        (ReduceOp::Min, f64::INFINITY, min_oracle),
    ];
    for xs in shapes {
        let rank = xs.len();
        let mut x = noise(xs.iter().product(), 11);
        if x.len() > 5 {
            x[5] = -0.0;
            x[2] = 1e16;
        }
        for mask in 0..(1u32 << rank) {
            let axes: Vec<usize> = (0..rank).filter(|a| mask & (1 << a) != 0).collect();
            for (op, id, f) in ops {
                let got = apply1(
                    Op::Reduce {
                        op,
                        axes: axes.clone(),
                    },
                    &[t64(xs, &x)],
                );
                let want = reduce_oracle(&x, xs, &axes, id, f);
                assert_same64(
                    &f64s(&got),
                    &want,
                    &format!("{} {axes:?} of {xs:?}", op.name()),
                );
            }
        }
    }
}

#[test]
fn reduction_edge_values() {
    let r = |op, x: Tensor, axes: &[usize]| {
        apply1(
            Op::Reduce {
                op,
                axes: axes.to_vec(),
            },
            &[x],
        )
    };
    // Row-major order, not column-major: ((1e16 + 1) − 1e16) + 1 = 1.
    assert_eq!(
        f64s(&r(
            ReduceOp::Sum,
            t64(&[2, 2], &[1e16, 1.0, -1e16, 1.0]),
            &[0, 1]
        )),
        [1.0]
    );
    assert_eq!(
        f64s(&r(
            ReduceOp::Sum,
            t64(&[4, 1], &[1e16, 1.0, -1e16, 1.0]),
            &[0]
        )),
        [1.0]
    );
    // Empty reductions give the identity; a sum of −0s is +0.
    assert_same64(
        &f64s(&r(ReduceOp::Sum, vec1(&[]), &[0])),
        &[0.0],
        "empty sum",
    );
    assert_same64(
        &f64s(&r(ReduceOp::Sum, vec1(&[-0.0, -0.0]), &[0])),
        &[0.0],
        "sum of −0",
    );
    assert_eq!(f64s(&r(ReduceOp::Prod, vec1(&[]), &[0])), [1.0]);
    assert_eq!(
        f64s(&r(ReduceOp::Max, vec1(&[]), &[0])),
        [f64::NEG_INFINITY]
    );
    assert_eq!(f64s(&r(ReduceOp::Min, vec1(&[]), &[0])), [f64::INFINITY]);
    assert_eq!(i64s(&r(ReduceOp::Max, ti(&[0], &[]), &[0])), [i64::MIN]);
    assert_eq!(i64s(&r(ReduceOp::Min, ti(&[0], &[]), &[0])), [i64::MAX]);
    let e = r(ReduceOp::Sum, t64(&[3, 0], &[]), &[1]);
    assert_eq!((e.shape(), f64s(&e)), (&[3usize][..], vec![0.0; 3]));
    assert_eq!(r(ReduceOp::Sum, t64(&[3, 0], &[]), &[0]).shape(), [0]);
    // NaN propagates through max and min wherever it is.
    for pos in 0..3 {
        let mut v = vec![1.0, 5.0, -2.0];
        v[pos] = f64::NAN;
        assert!(f64s(&r(ReduceOp::Max, vec1(&v), &[0]))[0].is_nan());
        assert!(f64s(&r(ReduceOp::Min, vec1(&v), &[0]))[0].is_nan());
    }
    assert_same64(
        &f64s(&r(ReduceOp::Max, vec1(&[-0.0, 0.0]), &[0])),
        &[0.0],
        "max ±0",
    );
    assert_same64(
        &f64s(&r(ReduceOp::Max, vec1(&[0.0, -0.0]), &[0])),
        &[0.0],
        "max ±0",
    );
    assert_same64(
        &f64s(&r(ReduceOp::Min, vec1(&[0.0, -0.0]), &[0])),
        &[-0.0],
        "min ±0",
    );
    assert_same64(
        &f64s(&r(ReduceOp::Max, vec1(&[-0.0]), &[0])),
        &[-0.0],
        "max −0",
    );
    assert!(f64s(&r(ReduceOp::Prod, vec1(&[f64::INFINITY, 0.0]), &[0]))[0].is_nan());
    assert_eq!(
        i64s(&r(ReduceOp::Sum, ti(&[2], &[i64::MAX, 1]), &[0])),
        [i64::MIN]
    );
    assert_eq!(i64s(&r(ReduceOp::Prod, ti(&[3], &[2, 3, -4]), &[0])), [-24]);
    // No axes: the identity folded with each element (so −0 + 0 = +0).
    assert_same64(
        &f64s(&r(ReduceOp::Sum, vec1(&[-0.0, 2.0]), &[])),
        &[0.0, 2.0],
        "sum over no axes",
    );
    assert_eq!(f64s(&r(ReduceOp::Sum, Tensor::from_f64(3.0), &[])), [3.0]);
    // f32 sums in f32: 2²⁴ + 1 + 1 stays 2²⁴.
    assert_eq!(
        f32s(&r(ReduceOp::Sum, t32(&[3], &[16777216.0, 1.0, 1.0]), &[0])),
        [16777216.0]
    );
}

/// Naive batched matmul: for each (b, i, j), sum over k in order from +0.
fn matmul_oracle(a: &[f64], b: &[f64], batch: usize, m: usize, k: usize, n: usize) -> Vec<f64> {
    let mut out = Vec::new();
    for bi in 0..batch {
        for i in 0..m {
            for j in 0..n {
                let mut acc = 0.0;
                for p in 0..k {
                    acc += a[bi * m * k + i * k + p] * b[bi * k * n + p * n + j];
                }
                out.push(acc);
            }
        }
    }
    out
}

#[test]
fn matmul_against_naive_loops() {
    for (batch, m, k, n) in [
        (1, 2, 3, 4),
        (3, 5, 1, 2),
        (2, 1, 7, 1),
        (1, 4, 0, 3),
        (2, 0, 3, 2),
        (1, 3, 3, 0),
    ] {
        let mut a = noise(batch * m * k, 1);
        let b = noise(batch * k * n, 2);
        if a.len() > 1 {
            a[1] = f64::NAN;
        }
        let (sa, sb) = if batch == 1 {
            (vec![m, k], vec![k, n])
        } else {
            (vec![batch, m, k], vec![batch, k, n])
        };
        let got = apply1(Op::Matmul, &[t64(&sa, &a), t64(&sb, &b)]);
        let mut shape = sa[..sa.len() - 1].to_vec();
        shape.push(n);
        assert_eq!(got.shape(), shape);
        assert_same64(
            &f64s(&got),
            &matmul_oracle(&a, &b, batch, m, k, n),
            "matmul",
        );
    }
    // inf · 0 is NaN, and no product is skipped.
    let got = apply1(
        Op::Matmul,
        &[
            t64(&[1, 2], &[f64::INFINITY, 1.0]),
            t64(&[2, 1], &[0.0, 2.0]),
        ],
    );
    assert!(f64s(&got)[0].is_nan());
    // −0 products sum from +0 to +0.
    let got = apply1(Op::Matmul, &[t64(&[1, 1], &[-0.0]), t64(&[1, 1], &[1.0])]);
    assert_same64(&f64s(&got), &[0.0], "matmul −0");
    let got = apply1(
        Op::Matmul,
        &[ti(&[1, 2], &[i64::MAX, 2]), ti(&[2, 1], &[2, 3])],
    );
    assert_eq!(i64s(&got), [i64::MAX.wrapping_mul(2).wrapping_add(6)]);
    let got = apply1(
        Op::Matmul,
        &[
            t32(&[1, 3], &[16777216.0, 1.0, 1.0]),
            t32(&[3, 1], &[1.0, 1.0, 1.0]),
        ],
    );
    assert_eq!(f32s(&got), [16777216.0]);
}

// ---------------------------------------------------------------- symbolic sizes

/// Extended Rosenbrock, written plainly.
fn rosen_plain(x: &[f64]) -> f64 {
    let mut acc = 0.0;
    for i in 0..x.len().saturating_sub(1) {
        let d = x[i + 1] - x[i] * x[i];
        let e = 1.0 - x[i];
        acc += 100.0 * (d * d) + e * e;
    }
    acc
}

fn rosen_module() -> Module {
    let g = Graph::new("rosen");
    let x = g.param("x", Type::new(Elem::F64, Shape(vec![n()])));
    let head = x.slice_axis(0, Dim::ZERO, n().checked_sub(&Dim::ONE).unwrap());
    let next = x.slice_axis(0, Dim::ONE, n());
    let d = next - head * head;
    let e = 1.0 - head;
    let f = (100.0 * (d * d) + e * e).sum_all();
    module_of([g.finish(&[f]).unwrap()])
}

#[test]
fn symbolic_rosen_at_several_sizes() {
    let m = rosen_module();
    let interp = Interpreter::new(&m);
    for size in [2usize, 3, 1000, 1] {
        let x: Vec<f64> = noise(size, size as u64).iter().map(|v| 1.5 * v).collect();
        let out = interp.eval("rosen", &[vec1(&x)]).unwrap();
        assert_eq!(out[0].shape(), [0usize; 0]);
        // Same operations in the same order: equal to the last bit.
        assert_eq!(
            f64s(&out[0])[0].to_bits(),
            rosen_plain(&x).to_bits(),
            "n = {size}"
        );
    }
    // n = 0 makes the slice 0:n-1 = 0:-1, which is out of bounds.
    let err = interp.eval("rosen", &[vec1(&[])]).unwrap_err();
    assert!(
        matches!(
            err,
            EvalError::SliceOutOfBounds {
                stop: -1,
                size: 0,
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn parameters_bind_and_check_size_variables() {
    let mut b = FunctionBuilder::new("f");
    let np1 = n().checked_add(&Dim::ONE).unwrap();
    let x = b.param("x", Type::new(Elem::F64, Shape(vec![n()])));
    let y = b.param("y", Type::new(Elem::F64, Shape(vec![np1, n()])));
    let s = b
        .push1(
            Op::Reduce {
                op: ReduceOp::Sum,
                axes: vec![0, 1],
            },
            &[y],
            &NoSignatures,
        )
        .unwrap();
    let m = module_of([b.finish(&[s, x])]);
    let ok = eval(&m, "f", &[vec1(&[1.0, 2.0]), t64(&[3, 2], &[1.0; 6])]).unwrap();
    assert_eq!(f64s(&ok[0]), [6.0]);
    let err = eval(&m, "f", &[vec1(&[1.0, 2.0]), t64(&[2, 2], &[1.0; 4])]).unwrap_err();
    match &err {
        EvalError::InputMismatch {
            index,
            param,
            expected,
            found,
            ..
        } => {
            assert_eq!((*index, param.as_str()), (1, "y"));
            assert!(expected.contains("n = 2"), "{expected}");
            assert!(found.contains("[2, 2]"), "{found}");
        }
        _ => panic!("{err}"),
    }
    // A variable bound twice must agree.
    let mut b = FunctionBuilder::new("g");
    let x = b.param("x", Type::new(Elem::F64, Shape(vec![n()])));
    let y = b.param("y", Type::new(Elem::F64, Shape(vec![n()])));
    let s = b
        .push1(Op::Binary(BinaryOp::Add), &[x, y], &NoSignatures)
        .unwrap();
    let m = module_of([b.finish(&[s])]);
    assert_eq!(
        f64s(&eval(&m, "g", &[vec1(&[1.0]), vec1(&[2.0])]).unwrap()[0]),
        [3.0]
    );
    let err = eval(&m, "g", &[vec1(&[1.0]), vec1(&[2.0, 3.0])]).unwrap_err();
    assert!(
        matches!(err, EvalError::InputMismatch { index: 1, .. }),
        "{err}"
    );
    // A variable never bound by a bare dimension cannot be evaluated.
    let mut b = FunctionBuilder::new("h");
    let x = b.param(
        "x",
        Type::new(
            Elem::F64,
            Shape(vec![n().checked_mul(&Dim::Known(2)).unwrap()]),
        ),
    );
    let m = module_of([b.finish(&[x])]);
    let err = eval(&m, "h", &[vec1(&[1.0, 2.0])]).unwrap_err();
    assert!(matches!(err, EvalError::Dim { node: None, .. }), "{err}");
}

#[test]
fn symbolic_slice_bounds_are_checked_at_evaluation() {
    let g = Graph::new("f");
    let x = g.param("x", Type::new(Elem::F64, Shape(vec![n()])));
    let y = x.slice_axis(0, Dim::ONE, n().checked_add(&Dim::ONE).unwrap());
    let m = module_of([g.finish(&[y]).unwrap()]);
    let err = eval(&m, "f", &[vec1(&[1.0, 2.0, 3.0])]).unwrap_err();
    assert!(
        matches!(
            err,
            EvalError::SliceOutOfBounds {
                axis: 0,
                start: 1,
                stop: 4,
                size: 3,
                ..
            }
        ),
        "{err}"
    );
    // start > stop: n:n-1 has a known length −1 the type rule cannot refuse.
    let mut b = FunctionBuilder::new("g");
    let x = b.param("x", Type::new(Elem::F64, Shape(vec![n()])));
    let r = SliceRange {
        start: n(),
        stop: n().checked_sub(&Dim::ONE).unwrap(),
        step: 1,
    };
    let y = b
        .push1(Op::Slice { ranges: vec![r] }, &[x], &NoSignatures)
        .unwrap();
    let m = module_of([b.finish(&[y])]);
    let err = eval(&m, "g", &[vec1(&[1.0, 2.0])]).unwrap_err();
    assert!(
        matches!(
            err,
            EvalError::SliceOutOfBounds {
                start: 2,
                stop: 1,
                ..
            }
        ),
        "{err}"
    );
    // A negative padding width from a symbolic size is an error.
    let mut b = FunctionBuilder::new("p");
    let x = b.param("x", Type::new(Elem::F64, Shape(vec![n()])));
    let lo = n().checked_sub(&Dim::Known(5)).unwrap();
    let op = Op::Pad {
        lo: vec![lo],
        hi: vec![Dim::ZERO],
        interior: vec![0],
        value: Scalar::F64(0.0),
    };
    let y = b.push1(op, &[x], &NoSignatures).unwrap();
    let m = module_of([b.finish(&[y])]);
    assert_eq!(eval(&m, "p", &[vec1(&[0.0; 6])]).unwrap()[0].len(), 7);
    let err = eval(&m, "p", &[vec1(&[0.0; 3])]).unwrap_err();
    assert!(matches!(err, EvalError::Dim { node: Some(_), .. }), "{err}");
}

// ---------------------------------------------------------------- calls and loops

fn scan_module(reverse: bool) -> Module {
    let gb = Graph::new("body");
    let w = gb.param("w", Type::f64(&[]));
    let h = gb.param("h", Type::f64(&[]));
    let x = gb.param("x", Type::f64(&[3]));
    let h2 = h * w + x.sum_all();
    let y = x * h;
    let mut m = module_of([gb.finish(&[h2, y]).unwrap()]);
    let g = Graph::with_module("main", &m);
    let w = g.param("w", Type::f64(&[]));
    let h0 = g.param("h0", Type::f64(&[]));
    let xs = g.param("xs", Type::new(Elem::F64, Shape(vec![n(), Dim::Known(3)])));
    let r = g.scan("body", n(), &[w], &[h0], &[xs], reverse);
    m.add(g.finish(&r).unwrap()).unwrap();
    m
}

/// The scan above, as a loop.
fn scan_plain(w: f64, h0: f64, xs: &[f64], reverse: bool) -> (f64, Vec<f64>) {
    let len = xs.len() / 3;
    let mut h = h0;
    let mut ys = vec![0.0; xs.len()];
    let order: Vec<usize> = if reverse {
        (0..len).rev().collect()
    } else {
        (0..len).collect()
    };
    for t in order {
        let x = &xs[3 * t..3 * t + 3];
        let next = h * w + (((0.0 + x[0]) + x[1]) + x[2]);
        for j in 0..3 {
            ys[3 * t + j] = x[j] * h;
        }
        h = next;
    }
    (h, ys)
}

#[test]
fn scan_forward_and_reverse_match_a_loop() {
    for reverse in [false, true] {
        let m = scan_module(reverse);
        for len in [4usize, 1, 0] {
            let xs = noise(3 * len, 5);
            let out = eval(
                &m,
                "main",
                &[
                    Tensor::from_f64(0.9),
                    Tensor::from_f64(0.5),
                    t64(&[len, 3], &xs),
                ],
            )
            .unwrap();
            let (h, ys) = scan_plain(0.9, 0.5, &xs, reverse);
            assert_eq!(
                f64s(&out[0]),
                [h],
                "carry, reverse = {reverse}, length {len}"
            );
            assert_eq!(out[1].shape(), [len, 3]);
            assert_same64(&f64s(&out[1]), &ys, "stacked ys");
        }
    }
}

fn while_module(max_trips: i64) -> Module {
    let gc = Graph::new("cond");
    let limit = gc.param("limit", Type::f64(&[]));
    let x = gc.param("x", Type::f64(&[]));
    let _k = gc.param("k", Type::scalar(Elem::I64));
    let c = x.lt(limit);
    let gb = Graph::new("body");
    let _limit = gb.param("limit", Type::f64(&[]));
    let x = gb.param("x", Type::f64(&[]));
    let k = gb.param("k", Type::scalar(Elem::I64));
    let (x2, k2) = (x * 2.0, k + 1);
    let mut m = module_of([gc.finish(&[c]).unwrap(), gb.finish(&[x2, k2]).unwrap()]);
    let g = Graph::with_module("main", &m);
    let limit = g.param("limit", Type::f64(&[]));
    let x0 = g.param("x0", Type::f64(&[]));
    let k0 = g.param("k0", Type::scalar(Elem::I64));
    let (state, trips) = g.while_loop("cond", "body", Dim::Known(max_trips), &[limit], &[x0, k0]);
    m.add(g.finish(&[state[0], state[1], trips]).unwrap())
        .unwrap();
    m
}

#[test]
fn while_loops_stop_on_condition_or_max_trips() {
    let run = |max, limit: f64, x0: f64| {
        let m = while_module(max);
        let out = eval(
            &m,
            "main",
            &[
                Tensor::from_f64(limit),
                Tensor::from_f64(x0),
                ti(&[], &[10]),
            ],
        )
        .unwrap();
        (f64s(&out[0])[0], i64s(&out[1])[0], i64s(&out[2])[0])
    };
    // 1 → 2 → … → 128: seven doublings until x ≥ 100.
    assert_eq!(run(100, 100.0, 1.0), (128.0, 17, 7));
    assert_eq!(run(3, 100.0, 1.0), (8.0, 13, 3), "stops at max_trips");
    assert_eq!(
        run(100, 100.0, 1000.0),
        (1000.0, 10, 0),
        "condition false at once"
    );
    assert_eq!(run(0, 100.0, 1.0), (1.0, 10, 0), "max_trips 0");
    assert_eq!(run(100, 100.0, f64::NAN).2, 0, "NaN < limit is false");
}

#[test]
fn calls_bind_their_own_sizes() {
    // sq(v: f64[m]) = Σ v², called on x (n) and on x ++ x (2n).
    let gs = Graph::new("sq");
    let v = gs.param("v", Type::new(Elem::F64, Shape(vec![Dim::var("m")])));
    let s = (v * v).sum_all();
    let mut m = module_of([gs.finish(&[s]).unwrap()]);
    let g = Graph::with_module("main", &m);
    let x = g.param("x", Type::new(Elem::F64, Shape(vec![n()])));
    let a = g.call("sq", &[x])[0];
    let xx = g.concat(&[x, x], 0);
    let b = g.call("sq", &[xx])[0];
    m.add(g.finish(&[a, b]).unwrap()).unwrap();
    let out = eval(&m, "main", &[vec1(&[1.0, 2.0, 3.0])]).unwrap();
    assert_eq!((f64s(&out[0]), f64s(&out[1])), (vec![14.0], vec![28.0]));
    let out = eval(&m, "main", &[vec1(&[])]).unwrap();
    assert_same64(&f64s(&out[1]), &[0.0], "empty");
}

/// `f0` calls `f1` calls … `f{depth-1}`, which returns its input plus one.
fn call_chain(depth: usize) -> Module {
    let mut m = Module::new();
    for i in (0..depth).rev() {
        let g = Graph::with_module(&format!("f{i}"), &m);
        let x = g.param("x", Type::f64(&[]));
        let y = if i + 1 == depth {
            x + 1.0
        } else {
            g.call(&format!("f{}", i + 1), &[x])[0] + 1.0
        };
        m.add(g.finish(&[y]).unwrap()).unwrap();
    }
    m
}

#[test]
fn call_depth_is_bounded_and_deep_chains_do_not_recurse() {
    let m = call_chain(200);
    let out = eval(&m, "f0", &[Tensor::from_f64(0.0)]).unwrap();
    assert_eq!(f64s(&out[0]), [200.0]);
    let limits = Limits {
        max_call_depth: 50,
        ..Limits::default()
    };
    let err = Interpreter::with_limits(&m, limits)
        .eval("f0", &[Tensor::from_f64(0.0)])
        .unwrap_err();
    assert!(
        matches!(err, EvalError::CallDepth { limit: 50, .. }),
        "{err}"
    );
    // A cyclic module (the verifier would refuse it) ends in the same error.
    let mut b = FunctionBuilder::new("r");
    let x = b.param("x", Type::f64(&[]));
    let y = b.push_declared(
        Op::Call {
            func: Arc::from("r"),
        },
        &[x],
        vec![Type::f64(&[])],
    );
    let m = module_of([b.finish(&y)]);
    let err = eval(&m, "r", &[Tensor::from_f64(0.0)]).unwrap_err();
    assert!(matches!(err, EvalError::CallDepth { .. }), "{err}");
}

#[test]
fn a_long_chain_of_nodes_runs_in_bounded_memory() {
    // 20 000 nodes: no recursion, and buffers die (or are reused) as they go.
    let g = Graph::new("chain");
    let x = g.param("x", Type::f64(&[1000]));
    let mut y = x;
    for _ in 0..10_000 {
        y = y + 1.0;
    }
    let m = module_of([g.finish(&[y]).unwrap()]);
    let limits = Limits {
        max_live_bytes: 3 * 8000,
        ..Limits::default()
    };
    let out = Interpreter::with_limits(&m, limits)
        .eval("chain", &[vec1(&[0.5; 1000])])
        .unwrap();
    assert!(f64s(&out[0]).iter().all(|&v| v == 10_000.5));
}

// ---------------------------------------------------------------- errors and limits

#[test]
fn input_count_type_and_shape_errors() {
    let m = rosen_module();
    let err = eval(&m, "rosen", &[]).unwrap_err();
    assert!(
        matches!(
            err,
            EvalError::InputCount {
                expected: 1,
                found: 0,
                ..
            }
        ),
        "{err}"
    );
    let err = eval(&m, "rosen", &[vec1(&[1.0]), vec1(&[1.0])]).unwrap_err();
    assert!(
        matches!(
            err,
            EvalError::InputCount {
                expected: 1,
                found: 2,
                ..
            }
        ),
        "{err}"
    );
    let err = eval(&m, "rosen", &[t32(&[2], &[1.0, 2.0])]).unwrap_err();
    assert!(
        matches!(&err, EvalError::InputMismatch { index: 0, param, .. } if param == "x"),
        "{err}"
    );
    let err = eval(&m, "rosen", &[t64(&[2, 2], &[1.0; 4])]).unwrap_err();
    assert!(matches!(err, EvalError::InputMismatch { .. }), "{err}");
    let err = eval(&m, "nope", &[]).unwrap_err();
    assert_eq!(
        err,
        EvalError::UnknownFunction {
            name: "nope".into()
        }
    );
}

#[test]
fn huge_shapes_fail_before_allocating() {
    let big = 1usize << 40;
    let splat = |shape: &[usize]| Op::Const {
        ty: Type::f64(shape),
        data: ConstData::Splat(Scalar::F64(1.0)),
    };
    let err = apply(splat(&[big, big]), &[]).unwrap_err();
    assert!(matches!(err, EvalError::TooLarge { .. }), "{err}");
    let err = apply(splat(&[big]), &[]).unwrap_err();
    assert!(matches!(err, EvalError::TooLarge { .. }), "{err}");
    let err = apply(
        Op::Broadcast {
            shape: Shape::known(&[big, big]),
            dims: vec![],
        },
        &[Tensor::from_f64(1.0)],
    )
    .unwrap_err();
    assert!(matches!(err, EvalError::TooLarge { .. }), "{err}");
    let err = apply(
        Op::Iota {
            ty: Type::new(Elem::I64, Shape::known(&[big, 1 << 30])),
            axis: 0,
        },
        &[],
    )
    .unwrap_err();
    assert!(matches!(err, EvalError::TooLarge { .. }), "{err}");
    // An empty array may have huge axes: nothing is allocated.
    let e = apply1(splat(&[big, 0]), &[]);
    assert_eq!(e.shape(), [big, 0]);

    // Symbolic: [n, n, n] at n = 2048 is 2³³ elements; n⁵ at n = 8192 overflows.
    let mut b = FunctionBuilder::new("f");
    let x = b.param("x", Type::new(Elem::Bool, Shape(vec![n()])));
    let ty = Type::new(Elem::Bool, Shape(vec![n(), n(), n()]));
    let c = b
        .push1(
            Op::Const {
                ty,
                data: ConstData::Splat(Scalar::Bool(true)),
            },
            &[],
            &NoSignatures,
        )
        .unwrap();
    let m = module_of([b.finish(&[c, x])]);
    let err = eval(&m, "f", &[tb(&[2048], &[false; 2048])]).unwrap_err();
    assert!(matches!(err, EvalError::TooLarge { .. }), "{err}");
    assert_eq!(
        eval(&m, "f", &[tb(&[3], &[false; 3])]).unwrap()[0].len(),
        27
    );
    let mut b = FunctionBuilder::new("g");
    let x = b.param("x", Type::new(Elem::Bool, Shape(vec![n()])));
    let n5 = Dim::product(&[n(), n(), n(), n(), n()]).unwrap();
    let c = b
        .push1(
            Op::Size {
                dim: n5,
                elem: Elem::I64,
            },
            &[],
            &NoSignatures,
        )
        .unwrap();
    let m = module_of([b.finish(&[c, x])]);
    let err = eval(&m, "g", &[tb(&[8192], &[false; 8192])]).unwrap_err();
    assert!(matches!(err, EvalError::Dim { node: Some(_), .. }), "{err}");
    // A negative dimension.
    let mut b = FunctionBuilder::new("h");
    let x = b.param("x", Type::new(Elem::F64, Shape(vec![n()])));
    let ty = Type::new(
        Elem::F64,
        Shape(vec![n().checked_sub(&Dim::Known(5)).unwrap()]),
    );
    let c = b
        .push1(
            Op::Const {
                ty,
                data: ConstData::Splat(Scalar::F64(0.0)),
            },
            &[],
            &NoSignatures,
        )
        .unwrap();
    let m = module_of([b.finish(&[c, x])]);
    let err = eval(&m, "h", &[vec1(&[0.0; 3])]).unwrap_err();
    assert!(matches!(err, EvalError::Dim { .. }), "{err}");
}

#[test]
fn configured_limits_are_enforced() {
    let iota = |len: usize| Op::Iota {
        ty: Type::new(Elem::F64, Shape::known(&[len])),
        axis: 0,
    };
    let mut b = FunctionBuilder::new("f");
    let r = b.push(iota(100), &[], &NoSignatures).unwrap();
    let m = module_of([b.finish(&r)]);
    let small = Limits {
        max_elements: 100,
        ..Limits::default()
    };
    assert!(Interpreter::with_limits(&m, small).eval("f", &[]).is_ok());
    let smaller = Limits {
        max_elements: 99,
        ..Limits::default()
    };
    let err = Interpreter::with_limits(&m, smaller)
        .eval("f", &[])
        .unwrap_err();
    assert!(
        matches!(err, EvalError::TooLarge { limit: 99, .. }),
        "{err}"
    );

    // Two live 800-byte results do not fit in 1 KiB; one at a time does.
    let g = Graph::new("two");
    let x = g.param("x", Type::f64(&[100]));
    let y = g.concat(&[x.sin(), x.cos()], 0);
    let m = module_of([g.finish(&[y]).unwrap()]);
    let tight = Limits {
        max_live_bytes: 1024,
        ..Limits::default()
    };
    let err = Interpreter::with_limits(&m, tight)
        .eval("two", &[vec1(&[0.0; 100])])
        .unwrap_err();
    assert!(
        matches!(err, EvalError::OutOfMemory { limit: 1024, .. }),
        "{err}"
    );
    let g = Graph::new("one");
    let x = g.param("x", Type::f64(&[100]));
    let y = x.sin().cos().exp().sum_all();
    let m = module_of([g.finish(&[y]).unwrap()]);
    let out = Interpreter::with_limits(&m, tight)
        .eval("one", &[vec1(&[0.0; 100])])
        .unwrap();
    let e = 0f64.sin().cos().exp();
    assert_eq!(f64s(&out[0]), [(0..100).fold(0.0, |acc, _| acc + e)]);
}

// ---------------------------------------------------------------- ill-typed functions

/// One node with declared (unchecked) result types over parameters typed like
/// `inputs`, in a module that also holds the functions `extra`.
fn declared(
    op: Op,
    inputs: &[Tensor],
    results: usize,
    extra: Vec<Function>,
) -> Result<Vec<Tensor>, EvalError> {
    let mut b = FunctionBuilder::new("bad");
    let ps: Vec<Value> = inputs
        .iter()
        .enumerate()
        .map(|(i, t)| b.param(&format!("p{i}"), t.ty()))
        .collect();
    let r = b.push_declared(op, &ps, vec![Type::f64(&[2]); results]);
    let mut m = module_of(extra);
    m.add(b.finish(&r)).unwrap();
    eval(&m, "bad", inputs)
}

#[track_caller]
fn assert_malformed(r: Result<Vec<Tensor>, EvalError>) {
    match r {
        Err(EvalError::Malformed { node: Some(_), .. }) => {}
        other => panic!("expected a malformed-node error, got {other:?}"),
    }
}

#[test]
fn ill_typed_nodes_are_errors_not_panics() {
    let a3 = vec1(&[1.0, 2.0, 3.0]);
    let a4 = vec1(&[1.0, 2.0, 3.0, 4.0]);
    assert_malformed(declared(
        Op::Binary(BinaryOp::Add),
        &[a3.clone(), a4.clone()],
        1,
        vec![],
    ));
    assert_malformed(declared(
        Op::Binary(BinaryOp::Add),
        std::slice::from_ref(&a3),
        1,
        vec![],
    ));
    assert_malformed(declared(
        Op::Binary(BinaryOp::Add),
        &[a3.clone(), ti(&[3], &[1, 2, 3])],
        1,
        vec![],
    ));
    assert_malformed(declared(
        Op::Unary(UnaryOp::Not),
        std::slice::from_ref(&a3),
        1,
        vec![],
    ));
    assert_malformed(declared(
        Op::Unary(UnaryOp::Sin),
        &[ti(&[1], &[1])],
        1,
        vec![],
    ));
    assert_malformed(declared(
        Op::Unary(UnaryOp::Neg),
        std::slice::from_ref(&a3),
        2,
        vec![],
    ));
    assert_malformed(declared(
        Op::Compare(CmpOp::Lt),
        &[tb(&[1], &[true]), tb(&[1], &[false])],
        1,
        vec![],
    ));
    assert_malformed(declared(
        Op::Matmul,
        &[t64(&[2, 3], &[0.0; 6]), t64(&[2, 3], &[0.0; 6])],
        1,
        vec![],
    ));
    assert_malformed(declared(
        Op::Reshape {
            shape: Shape::known(&[2, 2]),
        },
        std::slice::from_ref(&a3),
        1,
        vec![],
    ));
    assert_malformed(declared(
        Op::Gather { axis: 0 },
        &[a3.clone(), a3.clone()],
        1,
        vec![],
    ));
    assert_malformed(declared(
        Op::Gather { axis: 1 },
        &[a3.clone(), ti(&[1], &[0])],
        1,
        vec![],
    ));
    assert_malformed(declared(Op::Concat { axis: 0 }, &[], 1, vec![]));
    assert_malformed(declared(
        Op::Broadcast {
            shape: Shape::known(&[3, 3]),
            dims: vec![1, 0],
        },
        &[t64(&[3, 3], &[0.0; 9])],
        1,
        vec![],
    ));
    assert_malformed(declared(
        Op::Transpose { perm: vec![0, 0] },
        &[t64(&[3, 3], &[0.0; 9])],
        1,
        vec![],
    ));
    assert_malformed(declared(
        Op::Reduce {
            op: ReduceOp::Sum,
            axes: vec![1],
        },
        std::slice::from_ref(&a3),
        1,
        vec![],
    ));
    assert_malformed(declared(
        Op::Reduce {
            op: ReduceOp::Sum,
            axes: vec![],
        },
        &[tb(&[1], &[true])],
        1,
        vec![],
    ));
    assert_malformed(declared(
        Op::Slice {
            ranges: vec![range(0, 1, 0)],
        },
        std::slice::from_ref(&a3),
        1,
        vec![],
    ));
    assert_malformed(declared(
        Op::Select,
        &[a3.clone(), a3.clone(), a3.clone()],
        1,
        vec![],
    ));
    assert_malformed(declared(
        Op::Const {
            ty: Type::f64(&[2]),
            data: ConstData::Dense(Arc::from([Scalar::F64(1.0)])),
        },
        &[],
        1,
        vec![],
    ));
    assert_malformed(declared(
        Op::Const {
            ty: Type::f64(&[1]),
            data: ConstData::Splat(Scalar::I64(1)),
        },
        &[],
        1,
        vec![],
    ));
    assert_malformed(declared(
        Op::Pad {
            lo: vec![Dim::ZERO],
            hi: vec![Dim::ZERO],
            interior: vec![0],
            value: Scalar::I64(0),
        },
        std::slice::from_ref(&a3),
        1,
        vec![],
    ));
    assert_malformed(declared(
        Op::Scan {
            body: Arc::from("id"),
            length: Dim::Known(1),
            reverse: false,
            n_consts: 2,
            n_carry: 2,
            checkpoint: Checkpoint::All,
        },
        std::slice::from_ref(&a3),
        1,
        vec![identity_fn()],
    ));
    assert_malformed(declared(
        Op::While {
            cond: Arc::from("id"),
            body: Arc::from("id"),
            max_trips: Dim::Known(3),
            n_consts: 0,
            checkpoint: Checkpoint::All,
        },
        &[Tensor::from_f64(1.0)],
        2,
        vec![scalar_identity_fn()],
    ));
    // A callee given the wrong argument type reports it like a caller would.
    let err = declared(
        Op::Call {
            func: Arc::from("id"),
        },
        &[ti(&[1], &[1])],
        1,
        vec![identity_fn()],
    )
    .unwrap_err();
    assert!(
        matches!(&err, EvalError::InputMismatch { func, .. } if func == "id"),
        "{err}"
    );
    let err = declared(
        Op::Call {
            func: Arc::from("missing"),
        },
        std::slice::from_ref(&a3),
        1,
        vec![],
    )
    .unwrap_err();
    assert_eq!(
        err,
        EvalError::UnknownFunction {
            name: "missing".into()
        }
    );
    // A reference to a value that does not exist.
    let mut b = FunctionBuilder::new("dangling");
    let x = b.param("x", Type::f64(&[]));
    let r = b.push_declared(
        Op::Binary(BinaryOp::Add),
        &[x, Value(99)],
        vec![Type::f64(&[])],
    );
    let m = module_of([b.finish(&r)]);
    let err = eval(&m, "dangling", &[Tensor::from_f64(1.0)]).unwrap_err();
    assert!(matches!(err, EvalError::Malformed { .. }), "{err}");
}

fn identity_fn() -> Function {
    let g = Graph::new("id");
    let x = g.param("x", Type::new(Elem::F64, Shape(vec![Dim::var("k")])));
    g.finish(&[x]).unwrap()
}

fn scalar_identity_fn() -> Function {
    let g = Graph::new("id");
    let x = g.param("x", Type::f64(&[]));
    g.finish(&[x]).unwrap()
}

/// Every op, with good and bad attributes, on every short list of operands
/// from a varied pool: evaluation returns (a value or an error) and never
/// panics.
#[test]
fn no_operand_combination_panics() {
    let pool = vec![
        Tensor::from_f64(f64::NAN),
        vec1(&[1.0, -0.0, 3.0]),
        t64(&[2, 3], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]),
        t64(&[0], &[]),
        t64(&[3, 0], &[]),
        t32(&[3], &[1.0, 2.0, f32::INFINITY]),
        ti(&[3], &[-5, 1, 99]),
        ti(&[], &[i64::MIN]),
        tb(&[3], &[true, false, true]),
        tb(&[], &[true]),
    ];
    let k = |d: i64| Dim::Known(d);
    let mut ops: Vec<Op> = Vec::new();
    ops.extend(UnaryOp::ALL.map(Op::Unary));
    ops.extend(BinaryOp::ALL.map(Op::Binary));
    ops.extend(CmpOp::ALL.map(Op::Compare));
    for op in ReduceOp::ALL {
        for axes in [vec![], vec![0], vec![1], vec![0, 1], vec![1, 0]] {
            ops.push(Op::Reduce { op, axes });
        }
    }
    for elem in Elem::ALL {
        ops.push(Op::Convert { elem });
        ops.push(Op::Iota {
            ty: Type::new(elem, Shape::known(&[2, 3])),
            axis: 1,
        });
        ops.push(Op::Iota {
            ty: Type::new(elem, Shape::known(&[2])),
            axis: 3,
        });
        ops.push(Op::Size { dim: k(-3), elem });
    }
    ops.extend([
        Op::Select,
        Op::Matmul,
        Op::Broadcast {
            shape: known(&[2, 3]),
            dims: vec![1],
        },
        Op::Broadcast {
            shape: known(&[3, 3]),
            dims: vec![0, 1],
        },
        Op::Broadcast {
            shape: known(&[3]),
            dims: vec![5],
        },
        Op::Reshape {
            shape: known(&[3, 1]),
        },
        Op::Reshape {
            shape: known(&[-1, -3]),
        },
        Op::Transpose { perm: vec![1, 0] },
        Op::Transpose { perm: vec![0] },
        Op::Slice {
            ranges: vec![range(1, 3, 1)],
        },
        Op::Slice {
            ranges: vec![range(0, 2, 2), range(1, 3, 5)],
        },
        Op::Slice {
            ranges: vec![range(2, 1, 1)],
        },
        Op::Slice {
            ranges: vec![range(0, 3, u64::MAX)],
        },
        Op::Concat { axis: 0 },
        Op::Concat { axis: 1 },
        Op::Pad {
            lo: vec![k(1)],
            hi: vec![k(0)],
            interior: vec![u64::MAX],
            value: Scalar::F64(0.0),
        },
        Op::Pad {
            lo: vec![k(1), k(1)],
            hi: vec![k(-1), k(0)],
            interior: vec![1, 1],
            value: Scalar::F64(0.0),
        },
        Op::Pad {
            lo: vec![k(0)],
            hi: vec![k(0)],
            interior: vec![2],
            value: Scalar::Bool(true),
        },
        Op::Gather { axis: 0 },
        Op::Gather { axis: 1 },
        Op::ScatterAdd {
            axis: 0,
            size: k(2),
        },
        Op::ScatterAdd {
            axis: 1,
            size: k(0),
        },
        Op::ScatterAdd {
            axis: 0,
            size: k(-2),
        },
        Op::Const {
            ty: Type::f64(&[2]),
            data: ConstData::Splat(Scalar::F64(1.0)),
        },
        Op::Const {
            ty: Type::new(Elem::F64, Shape(vec![n()])),
            data: ConstData::Splat(Scalar::F64(1.0)),
        },
        Op::Call {
            func: Arc::from("id"),
        },
        Op::Scan {
            body: Arc::from("id"),
            length: k(3),
            reverse: false,
            n_consts: 0,
            n_carry: 1,
            checkpoint: Checkpoint::All,
        },
        Op::Scan {
            body: Arc::from("id"),
            length: k(0),
            reverse: true,
            n_consts: 0,
            n_carry: 0,
            checkpoint: Checkpoint::All,
        },
        Op::Scan {
            body: Arc::from("id"),
            length: k(2),
            reverse: true,
            n_consts: 1,
            n_carry: 0,
            checkpoint: Checkpoint::All,
        },
        Op::While {
            cond: Arc::from("id"),
            body: Arc::from("id"),
            max_trips: k(4),
            n_consts: 0,
            checkpoint: Checkpoint::All,
        },
        Op::While {
            cond: Arc::from("truth"),
            body: Arc::from("id"),
            max_trips: k(4),
            n_consts: 1,
            checkpoint: Checkpoint::All,
        },
    ]);
    let truth = {
        let mut b = FunctionBuilder::new("truth");
        let _ = b.param("a", Type::new(Elem::F64, Shape(vec![Dim::var("p")])));
        let t = b
            .push(
                Op::Const {
                    ty: Type::scalar(Elem::Bool),
                    data: ConstData::Splat(Scalar::Bool(true)),
                },
                &[],
                &NoSignatures,
            )
            .unwrap();
        b.finish(&t)
    };
    let mut combos: Vec<Vec<usize>> = vec![vec![]];
    for len in 1..=3 {
        let mut next = Vec::new();
        for c in combos.iter().filter(|c| c.len() == len - 1) {
            for i in 0..pool.len() {
                let mut c = c.clone();
                c.push(i);
                next.push(c);
            }
        }
        combos.extend(next);
    }
    let mut evaluated = 0;
    for op in &ops {
        let variadic = matches!(
            op,
            Op::Select | Op::Concat { .. } | Op::Call { .. } | Op::Scan { .. } | Op::While { .. }
        );
        for combo in combos.iter().filter(|c| c.len() < 3 || variadic) {
            let inputs: Vec<Tensor> = combo.iter().map(|&i| pool[i].clone()).collect();
            for results in [1, 2] {
                let _ = declared(
                    op.clone(),
                    &inputs,
                    results,
                    vec![identity_fn(), truth.clone()],
                );
                evaluated += 1;
            }
        }
    }
    assert!(evaluated > 10_000, "{evaluated}");
}

// ---------------------------------------------------------------- length 1 and f32

#[test]
fn length_one_arrays_through_every_kind_of_op() {
    let one = vec1(&[-0.0]);
    let b = f64s(&apply1(
        Op::Binary(BinaryOp::Max),
        &[one.clone(), vec1(&[0.0])],
    ));
    assert_same64(&b, &[0.0], "max length 1");
    let c = bools(&apply1(
        Op::Compare(CmpOp::Eq),
        &[one.clone(), vec1(&[0.0])],
    ));
    assert_eq!(c, [true]);
    let r = f64s(&apply1(
        Op::Reduce {
            op: ReduceOp::Min,
            axes: vec![0],
        },
        std::slice::from_ref(&one),
    ));
    assert_same64(&r, &[-0.0], "min of [-0]");
    let mm = f64s(&apply1(
        Op::Matmul,
        &[t64(&[1, 1], &[3.0]), t64(&[1, 1], &[-2.0])],
    ));
    assert_eq!(mm, [-6.0]);
    let s = f64s(&apply1(
        Op::Slice {
            ranges: vec![range(0, 1, 1)],
        },
        std::slice::from_ref(&one),
    ));
    assert_same64(&s, &[-0.0], "slice");
    let t = apply1(Op::Transpose { perm: vec![1, 0] }, &[t64(&[1, 1], &[7.0])]);
    assert_eq!((t.shape(), f64s(&t)), (&[1usize, 1][..], vec![7.0]));
    let bc = apply1(
        Op::Broadcast {
            shape: Shape::known(&[4]),
            dims: vec![0],
        },
        &[vec1(&[2.5])],
    );
    assert_eq!(f64s(&bc), [2.5; 4]);
    let g = apply1(
        Op::Gather { axis: 0 },
        &[vec1(&[9.0]), ti(&[3], &[-5, 0, 7])],
    );
    assert_eq!(f64s(&g), [9.0; 3]);
    let sc = apply1(
        Op::ScatterAdd {
            axis: 0,
            size: Dim::Known(1),
        },
        &[vec1(&[1.0, 2.0, 4.0]), ti(&[3], &[-5, 0, 7])],
    );
    assert_eq!(f64s(&sc), [7.0]);
    let cc = apply1(Op::Concat { axis: 0 }, &[one.clone(), vec1(&[1.0])]);
    assert_same64(&f64s(&cc), &[-0.0, 1.0], "concat");
}

#[test]
fn structural_ops_on_f32_i64_and_bool() {
    let x = t32(&[2, 3], &[1.0, f32::NAN, -0.0, 4.0, 5.0, f32::NEG_INFINITY]);
    let t = apply1(Op::Transpose { perm: vec![1, 0] }, std::slice::from_ref(&x));
    assert_same32(
        &f32s(&t),
        &[1.0, 4.0, f32::NAN, 5.0, -0.0, f32::NEG_INFINITY],
        "transpose f32",
    );
    let mx = apply1(
        Op::Reduce {
            op: ReduceOp::Max,
            axes: vec![1],
        },
        std::slice::from_ref(&x),
    );
    assert_same32(&f32s(&mx), &[f32::NAN, 5.0], "reduce_max f32");
    let mn = apply1(
        Op::Reduce {
            op: ReduceOp::Min,
            axes: vec![0],
        },
        std::slice::from_ref(&x),
    );
    assert_same32(
        &f32s(&mn),
        &[1.0, f32::NAN, f32::NEG_INFINITY],
        "reduce_min f32",
    );
    let p = apply1(
        Op::Pad {
            lo: vec![Dim::ZERO],
            hi: vec![Dim::ONE],
            interior: vec![1],
            value: Scalar::F32(0.5),
        },
        &[t32(&[2], &[1.0, 2.0])],
    );
    assert_eq!(f32s(&p), [1.0, 0.5, 2.0, 0.5]);
    let g = apply1(Op::Gather { axis: 1 }, &[x, ti(&[1], &[2])]);
    assert_same32(&f32s(&g), &[-0.0, f32::NEG_INFINITY], "gather f32");
    let tb2 = apply1(
        Op::Transpose { perm: vec![1, 0] },
        &[tb(&[2, 2], &[true, false, false, false])],
    );
    assert_eq!(bools(&tb2), [true, false, false, false]);
    let bb = apply1(
        Op::Broadcast {
            shape: Shape::known(&[2, 2]),
            dims: vec![1],
        },
        &[tb(&[2], &[true, false])],
    );
    assert_eq!(bools(&bb), [true, false, true, false]);
    let sl = apply1(
        Op::Slice {
            ranges: vec![range(1, 5, 2)],
        },
        &[ti(&[5], &[0, 1, 2, 3, 4])],
    );
    assert_eq!(i64s(&sl), [1, 3]);
    let cb = apply1(
        Op::Concat { axis: 0 },
        &[tb(&[1], &[true]), tb(&[2], &[false, true])],
    );
    assert_eq!(bools(&cb), [true, false, true]);
    let rs = apply1(
        Op::Reshape {
            shape: Shape::known(&[2, 1]),
        },
        &[ti(&[2], &[4, 5])],
    );
    assert_eq!((rs.shape(), i64s(&rs)), (&[2usize, 1][..], vec![4, 5]));
}

#[test]
fn error_messages_name_the_function_node_and_sizes() {
    let m = rosen_module();
    let err = eval(&m, "rosen", &[t32(&[3], &[1.0, 2.0, 3.0])]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "@rosen: input 0 (%x) must be f64[n], got f32[3]"
    );
    let err = eval(&m, "rosen", &[vec1(&[])]).unwrap_err();
    let text = err.to_string();
    assert!(text.starts_with("@rosen, node n"), "{text}");
    assert!(text.contains("range 0:-1 is not within 0:0"), "{text}");
    let err = declared(Op::Unary(UnaryOp::Not), &[vec1(&[1.0])], 1, vec![]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "@bad, node n0: malformed: `not`: not defined for f64"
    );
}
