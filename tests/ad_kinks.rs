//! The documented derivatives at kinks, ties, zeros and poles (see
//! `adjit::ad::rules`), checked against the values the documentation states.

mod ad_support;

use ad_support::{eval, tensor};
use adjit::ad;
use adjit::ir::{Elem, Graph, Module, Tensor, Type, Var, verify_module};

fn module_of(
    params: &[Type],
    build: impl for<'g> FnOnce(&'g Graph, &[Var<'g>]) -> Vec<Var<'g>>,
) -> Module {
    let g = Graph::new("f");
    let vars: Vec<Var<'_>> = params
        .iter()
        .enumerate()
        .map(|(i, t)| g.param(&format!("x{i}"), t.clone()))
        .collect();
    let outs = build(&g, &vars);
    let mut m = Module::new();
    m.add(g.finish(&outs).unwrap()).unwrap();
    m
}

/// The gradient of the last output of `@f` at `inputs`, w.r.t. `wrt`.
fn grad_at(m: &Module, wrt: &[usize], inputs: &[Tensor]) -> Vec<Vec<f64>> {
    let (gm, gf) = ad::grad(m, "f", wrt).unwrap();
    verify_module(&gm).unwrap();
    let out = eval(&gm, &gf, inputs);
    let n = m.get("f").unwrap().outputs().len();
    out[n..].iter().map(Tensor::to_f64_vec).collect()
}

/// The tangent of the first output of `@f` along `v` (one wrt parameter).
fn tangent_at(m: &Module, x: Tensor, v: Tensor) -> Vec<f64> {
    let (jm, jf) = ad::jvp(m, "f", &[0]).unwrap();
    verify_module(&jm).unwrap();
    eval(&jm, &jf, &[x, v])[1].to_f64_vec()
}

fn s(x: f64) -> Tensor {
    Tensor::from_f64(x)
}

fn vec(x: &[f64]) -> Tensor {
    tensor(Elem::F64, &[x.len()], x.to_vec())
}

fn scalar() -> Type {
    Type::f64(&[])
}

#[test]
fn abs_has_derivative_zero_at_zero() {
    let m = module_of(&[scalar()], |_, p| vec![p[0].abs()]);
    assert_eq!(grad_at(&m, &[0], &[s(0.0)]), [[0.0]]);
    assert_eq!(grad_at(&m, &[0], &[s(-0.0)]), [[0.0]]);
    assert_eq!(grad_at(&m, &[0], &[s(-2.0)]), [[-1.0]]);
    assert_eq!(tangent_at(&m, s(0.0), s(1.0)), [0.0]);
}

#[test]
fn sqrt_has_infinite_derivative_at_zero() {
    let m = module_of(&[scalar()], |_, p| vec![p[0].sqrt()]);
    assert_eq!(grad_at(&m, &[0], &[s(0.0)]), [[f64::INFINITY]]);
    assert_eq!(tangent_at(&m, s(0.0), s(2.0)), [f64::INFINITY]);
    // A zero tangent times the infinite derivative is 0·inf = NaN.
    assert!(tangent_at(&m, s(0.0), s(0.0))[0].is_nan());
    assert_eq!(grad_at(&m, &[0], &[s(4.0)]), [[0.25]]);
}

#[test]
fn binary_max_and_min_split_ties_equally() {
    for max in [true, false] {
        let m = module_of(&[scalar(), scalar()], |_, p| {
            vec![if max { p[0].max(p[1]) } else { p[0].min(p[1]) }]
        });
        assert_eq!(grad_at(&m, &[0, 1], &[s(1.5), s(1.5)]), [[0.5], [0.5]]);
        let (hi, lo) = if max { ([1.0], [0.0]) } else { ([0.0], [1.0]) };
        assert_eq!(grad_at(&m, &[0, 1], &[s(2.0), s(1.0)]), [hi, lo]);
        // ±0 compare equal: a tie.
        assert_eq!(grad_at(&m, &[0, 1], &[s(-0.0), s(0.0)]), [[0.5], [0.5]]);
        // A NaN result matches neither operand: 0 to both.
        assert_eq!(grad_at(&m, &[0, 1], &[s(f64::NAN), s(1.0)]), [[0.0], [0.0]]);
        // Along the diagonal the tangent is the mean of the two.
        let (jm, jf) = ad::jvp(&m, "f", &[0, 1]).unwrap();
        let t = eval(&jm, &jf, &[s(3.0), s(3.0), s(1.0), s(3.0)]);
        assert_eq!(t[1].to_f64_vec(), [2.0]);
    }
}

#[test]
fn reduce_max_and_min_share_the_cotangent_among_ties() {
    let m = module_of(&[Type::f64(&[5])], |_, p| vec![p[0].reduce_max(&[0])]);
    assert_eq!(
        grad_at(&m, &[0], &[vec(&[1.0, 3.0, 3.0, 2.0, -1.0])]),
        [[0.0, 0.5, 0.5, 0.0, 0.0]]
    );
    let third = 1.0 / 3.0;
    assert_eq!(
        grad_at(&m, &[0], &[vec(&[7.0, 7.0, 0.0, 7.0, 6.0])]),
        [[third, third, 0.0, third, 0.0]]
    );
    let m = module_of(&[Type::f64(&[2, 3])], |_, p| {
        vec![p[0].reduce_min(&[1]).sum_all()]
    });
    let x = tensor(Elem::F64, &[2, 3], vec![0.0, 0.0, 1.0, 5.0, -2.0, 4.0]);
    assert_eq!(grad_at(&m, &[0], &[x]), [[0.5, 0.5, 0.0, 0.0, 1.0, 0.0]]);
    // A NaN maximum matches no element: the derivative is NaN (0/0).
    let m = module_of(&[Type::f64(&[2])], |_, p| vec![p[0].reduce_max(&[0])]);
    assert!(
        grad_at(&m, &[0], &[vec(&[f64::NAN, 1.0])])[0]
            .iter()
            .all(|g| g.is_nan())
    );
}

#[test]
fn reduce_prod_gradient_is_right_with_zeros() {
    let m = module_of(&[Type::f64(&[4])], |_, p| vec![p[0].reduce_prod(&[0])]);
    // One zero: only that element has a non-zero derivative.
    assert_eq!(
        grad_at(&m, &[0], &[vec(&[2.0, 0.0, 3.0, 4.0])]),
        [[0.0, 24.0, 0.0, 0.0]]
    );
    // Two zeros: every derivative is zero.
    assert_eq!(
        grad_at(&m, &[0], &[vec(&[0.0, 5.0, 0.0, 2.0])]),
        [[0.0, 0.0, 0.0, 0.0]]
    );
    // No zero: the products of the others.
    assert_eq!(
        grad_at(&m, &[0], &[vec(&[2.0, 3.0, 4.0, 5.0])]),
        [[60.0, 40.0, 30.0, 24.0]]
    );
    // Over one axis of a matrix: each row on its own.
    let m = module_of(&[Type::f64(&[2, 3])], |_, p| {
        vec![p[0].reduce_prod(&[1]).sum_all()]
    });
    let x = tensor(Elem::F64, &[2, 3], vec![0.0, 2.0, 3.0, 1.0, -1.0, 4.0]);
    assert_eq!(grad_at(&m, &[0], &[x]), [[6.0, 0.0, 0.0, -4.0, 4.0, -1.0]]);
    // Long groups (the scanned rule): one zero, two zeros, none.
    let m = module_of(&[Type::f64(&[20])], |_, p| vec![p[0].reduce_prod(&[0])]);
    let base: Vec<f64> = (0..20)
        .map(|i| if i % 2 == 0 { 2.0 } else { 0.5 } * (1.0 + i as f64 / 64.0))
        .collect();
    let others = |x: &[f64], i: usize| -> f64 {
        x.iter()
            .enumerate()
            .filter(|&(j, _)| j != i)
            .map(|(_, v)| v)
            .product()
    };
    for zeros in [vec![], vec![7], vec![0, 19]] {
        let mut x = base.clone();
        for &z in &zeros {
            x[z] = 0.0;
        }
        let want: Vec<f64> = (0..20).map(|i| others(&x, i)).collect();
        let got = grad_at(&m, &[0], &[vec(&x)]).remove(0);
        for (g, w) in got.iter().zip(&want) {
            assert!(
                (g - w).abs() <= 1e-15 * w.abs().max(1.0),
                "zeros {zeros:?}: {got:?} vs {want:?}"
            );
        }
        if zeros.len() == 2 {
            assert!(got.iter().all(|&g| g == 0.0));
        }
    }
    // The second derivative through the product of the others.
    let (hm, hf) = ad::hvp(
        &module_of(&[Type::f64(&[3])], |_, p| vec![p[0].reduce_prod(&[0])]),
        "f",
        &[0],
    )
    .unwrap();
    // H of x0·x1·x2 at (0, 2, 3) along (1, 0, 0) is (0, x2, x1) = (0, 3, 2).
    let hv = eval(&hm, &hf, &[vec(&[0.0, 2.0, 3.0]), vec(&[1.0, 0.0, 0.0])]);
    assert_eq!(hv[0].to_f64_vec(), [0.0, 3.0, 2.0]);
}

#[test]
fn pow_derivatives_at_zero() {
    let m = module_of(&[scalar(), scalar()], |_, p| vec![p[0].pow(p[1])]);
    // d/dx x^y = y·x^(y−1), but 0 where y == 0 (even at x = 0).
    assert_eq!(grad_at(&m, &[0], &[s(0.0), s(0.0)]), [[0.0]]);
    assert_eq!(grad_at(&m, &[0], &[s(2.0), s(0.0)]), [[0.0]]);
    assert_eq!(grad_at(&m, &[0], &[s(0.0), s(1.0)]), [[1.0]]);
    assert_eq!(grad_at(&m, &[0], &[s(0.0), s(2.0)]), [[0.0]]);
    assert_eq!(grad_at(&m, &[0], &[s(3.0), s(2.0)]), [[6.0]]);
    // d/dy x^y = log(x)·x^y, but 0 where x == 0.
    assert_eq!(grad_at(&m, &[1], &[s(0.0), s(2.0)]), [[0.0]]);
    assert_eq!(grad_at(&m, &[1], &[s(0.0), s(0.5)]), [[0.0]]);
    assert_eq!(grad_at(&m, &[1], &[s(0.0), s(0.0)]), [[0.0]]);
    let e = std::f64::consts::E;
    assert_eq!(grad_at(&m, &[1], &[s(e), s(2.0)]), [[e.ln() * e.powf(2.0)]]);
}

#[test]
fn piecewise_constant_ops_have_zero_derivative_even_at_jumps() {
    for k in 0..4 {
        let m = module_of(&[scalar()], |_, p| {
            vec![match k {
                0 => p[0].floor(),
                1 => p[0].ceil(),
                2 => p[0].round(),
                _ => p[0].sign(),
            }]
        });
        for x in [1.0, 0.5, 0.0, -2.0, 0.3] {
            assert_eq!(grad_at(&m, &[0], &[s(x)]), [[0.0]], "op {k} at {x}");
            assert_eq!(tangent_at(&m, s(x), s(1.0)), [0.0], "op {k} at {x}");
        }
    }
}

#[test]
fn conversions_through_integers_have_zero_derivative() {
    let m = module_of(&[scalar()], |_, p| {
        vec![p[0].convert(Elem::I64).convert(Elem::F64) + p[0].gt(0.0).convert(Elem::F64)]
    });
    assert_eq!(grad_at(&m, &[0], &[s(1.7)]), [[0.0]]);
    // float → float converts the derivative.
    let m = module_of(&[scalar()], |_, p| {
        vec![(p[0].convert(Elem::F32) * 3.0).convert(Elem::F64)]
    });
    assert_eq!(grad_at(&m, &[0], &[s(1.7)]), [[3.0]]);
}

#[test]
fn atan2_derivative_is_nan_at_the_origin() {
    let m = module_of(&[scalar(), scalar()], |_, p| vec![p[0].atan2(p[1])]);
    let g = grad_at(&m, &[0, 1], &[s(0.0), s(0.0)]);
    assert!(g[0][0].is_nan() && g[1][0].is_nan());
    // Away from it: (b, −a)/(a² + b²).
    assert_eq!(grad_at(&m, &[0, 1], &[s(1.0), s(1.0)]), [[0.5], [-0.5]]);
}

#[test]
fn select_at_the_switch_takes_the_false_branch() {
    let m = module_of(&[scalar()], |g, p| {
        vec![g.select(p[0].gt(1.0), p[0] * p[0], p[0] * 2.0 - 1.0)]
    });
    assert_eq!(grad_at(&m, &[0], &[s(1.0)]), [[2.0]]);
    assert_eq!(
        grad_at(&m, &[0], &[s(1.0 + f64::EPSILON)]),
        [[2.0 + 2.0 * f64::EPSILON]]
    );
}
