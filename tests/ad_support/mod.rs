//! Shared by the AD tests: a catalogue of small functions, one per op (or
//! op variant), with the input domains where their derivatives are smooth.
#![allow(dead_code)]

use adjit::ir::typing::NoSignatures;
use adjit::ir::{
    Dim, Elem, FunctionBuilder, Graph, Module, Op, Scalar, Shape, SliceRange, Type, UnaryOp, Var,
};

/// Where a parameter's random values are drawn from.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Domain {
    /// Uniform in (−2, 2).
    Any,
    /// Uniform in (0.5, 2.5).
    Positive,
    /// Uniform in (−0.7, 0.7) (away from tan's poles, log1p's pole).
    Small,
    /// Uniform in (−2, 2) but at least 0.2 from the nearest half-integer
    /// multiple (away from the jumps of floor, ceil, round and the kink of abs).
    AwayFromKinks,
    /// Indices: the parameter is `i64`, values in `0..bound`.
    Index(i64),
    /// Parameter `k`'s value (same shape) plus or minus 0.3 to 1.3: never
    /// within a finite-difference step of a tie or a branch switch.
    Apart(usize),
    /// All elements distinct, at least 0.1 apart, in (−2, 2) (reductions
    /// by max and min without ties).
    Distinct,
}

/// A function of the catalogue.
pub struct Case {
    /// A short name (also the function's name).
    pub name: String,
    /// Parameter types (may be symbolic in `n`, `m`).
    pub params: Vec<Type>,
    /// Per-parameter input domain.
    pub domains: Vec<Domain>,
    /// Which parameters are differentiable (float) ones.
    pub wrt: Vec<usize>,
    /// The module holding the function (and its callees).
    pub module: Module,
}

/// `elem[dims]` with `n`, `m` as size variables when given as strings.
pub fn ty(elem: Elem, dims: &[&str]) -> Type {
    let d: Vec<Dim> = dims
        .iter()
        .map(|s| match s.parse::<i64>() {
            Ok(k) => Dim::Known(k),
            Err(_) => Dim::var(s),
        })
        .collect();
    Type::new(elem, Shape(d))
}

fn dim(s: &str) -> Dim {
    match s.parse::<i64>() {
        Ok(k) => Dim::Known(k),
        Err(_) => Dim::var(s),
    }
}

type Build = for<'g> fn(&'g Graph, &[Var<'g>]) -> Vec<Var<'g>>;

fn case(name: &str, params: Vec<(Type, Domain)>, build: Build) -> Case {
    case_in(name, Module::new(), params, build)
}

fn case_in(name: &str, mut module: Module, params: Vec<(Type, Domain)>, build: Build) -> Case {
    let g = Graph::with_module(name, &module);
    let vars: Vec<Var<'_>> = params
        .iter()
        .enumerate()
        .map(|(i, (t, _))| g.param(&format!("p{i}"), t.clone()))
        .collect();
    let outs = build(&g, &vars);
    let f = g
        .finish(&outs)
        .unwrap_or_else(|e| panic!("building {name}: {e}"));
    module.add(f).unwrap();
    let wrt = params
        .iter()
        .enumerate()
        .filter(|(_, (t, _))| t.elem.is_float())
        .map(|(i, _)| i)
        .collect();
    Case {
        name: name.to_string(),
        params: params.iter().map(|(t, _)| t.clone()).collect(),
        domains: params.iter().map(|(_, d)| *d).collect(),
        wrt,
        module,
    }
}

/// A function of the catalogue with a callee: `@sq(x) = (x·x, sin x)`
/// called from `@name`.
fn call_case(elem: Elem) -> Case {
    let mut module = Module::new();
    let g = Graph::new("sq");
    let x = g.param("x", ty(elem, &["m"]));
    let c = g.param("c", ty(elem, &["m"]));
    let outs = [x * x * c, x.sin()];
    module.add(g.finish(&outs).unwrap()).unwrap();
    case_in(
        "call",
        module,
        vec![
            (ty(elem, &["n"]), Domain::Any),
            (ty(elem, &["n"]), Domain::Any),
        ],
        |g, p| {
            let r = g.call("sq", &[p[0], p[1]]);
            let r2 = g.call("sq", &[r[1], p[0]]);
            vec![r[0] + r2[0], r2[1]]
        },
    )
}

/// Every differentiable op (and the non-differentiable ones mixed into
/// differentiable functions), for one float element type.
pub fn catalogue(elem: Elem) -> Vec<Case> {
    use Domain::*;
    let v = |dims: &[&str]| ty(elem, dims);
    let mut out = Vec::new();

    let unary: [(&str, Domain, Build); 18] = [
        ("neg", Any, |_, p| vec![-p[0]]),
        ("abs", AwayFromKinks, |_, p| vec![p[0].abs()]),
        ("sqrt", Positive, |_, p| vec![p[0].sqrt()]),
        ("exp", Any, |_, p| vec![p[0].exp()]),
        ("log", Positive, |_, p| vec![p[0].log()]),
        ("log1p", Small, |_, p| vec![p[0].log1p()]),
        ("expm1", Any, |_, p| vec![p[0].expm1()]),
        ("sin", Any, |_, p| vec![p[0].sin()]),
        ("cos", Any, |_, p| vec![p[0].cos()]),
        ("tan", Small, |_, p| vec![p[0].tan()]),
        ("tanh", Any, |_, p| vec![p[0].tanh()]),
        ("sigmoid", Any, |_, p| vec![p[0].sigmoid()]),
        ("erf", Any, |_, p| vec![p[0].erf()]),
        ("recip", Positive, |_, p| vec![p[0].recip()]),
        // Piecewise-constant ops: a zero derivative, plus a smooth term so
        // the function is not constant.
        ("floor", AwayFromKinks, |_, p| vec![p[0].floor() * p[0]]),
        ("ceil", AwayFromKinks, |_, p| vec![p[0].ceil() * p[0]]),
        ("round", AwayFromKinks, |_, p| vec![p[0].round() * p[0]]),
        ("sign", AwayFromKinks, |_, p| vec![p[0].sign() * p[0].sin()]),
    ];
    for (name, d, build) in unary {
        out.push(case(name, vec![(v(&["n"]), d)], build));
    }

    let binary: [(&str, Domain, Domain, Build); 8] = [
        ("add", Any, Any, |_, p| vec![p[0] + p[1]]),
        ("sub", Any, Any, |_, p| vec![p[0] - p[1]]),
        ("mul", Any, Any, |_, p| vec![p[0] * p[1]]),
        ("div", Any, Positive, |_, p| vec![p[0] / p[1]]),
        ("pow", Positive, Any, |_, p| vec![p[0].pow(p[1])]),
        ("min", Any, Apart(0), |_, p| vec![p[0].min(p[1])]),
        ("max", Any, Apart(0), |_, p| vec![p[0].max(p[1])]),
        ("atan2", Any, Positive, |_, p| vec![p[0].atan2(p[1])]),
    ];
    for (name, da, db, build) in binary {
        out.push(case(
            name,
            vec![(v(&["n", "2"]), da), (v(&["n", "2"]), db)],
            build,
        ));
    }

    out.push(case(
        "select",
        vec![(v(&["n"]), Any), (v(&["n"]), Apart(0))],
        |_, p| {
            let c = p[0].gt(p[1]);
            vec![c.graph().select(c, p[0] * p[1], p[1].sin())]
        },
    ));
    out.push(case(
        "compare_int",
        vec![(v(&["n"]), AwayFromKinks)],
        |_, p| {
            // Integer and bool paths carry no derivative.
            let k = p[0].convert(Elem::I64) + p[0].gt(0.0).convert(Elem::I64);
            vec![k.convert(p[0].elem()) * p[0], k]
        },
    ));
    let other = if elem == Elem::F64 {
        Elem::F32
    } else {
        Elem::F64
    };
    out.push(case_conv(elem, other));

    out.push(case(
        "broadcast",
        vec![(v(&["n", "1"]), Any), (v(&["3"]), Any)],
        |_, p| {
            let n = p[0].shape().dims()[0].clone();
            let a = p[0].broadcast_in_dim(
                Shape(vec![Dim::Known(2), n.clone(), Dim::Known(3)]),
                &[1, 2],
            );
            let b = p[1].broadcast_in_dim(Shape(vec![Dim::Known(2), n, Dim::Known(3)]), &[2]);
            vec![a * b]
        },
    ));
    out.push(case(
        "broadcast_scalar",
        vec![(v(&[]), Any), (v(&["n"]), Any)],
        |_, p| {
            let s = p[0].broadcast_in_dim(p[1].shape(), &[]);
            vec![(s * p[1]).sin()]
        },
    ));
    for (name, axes) in [
        ("sum0", vec![0usize]),
        ("sum1", vec![1]),
        ("sum01", vec![0, 1]),
        ("sum_none", vec![]),
    ] {
        let c = case(
            &format!("reduce_{name}"),
            vec![(v(&["n", "3"]), Any)],
            match axes.as_slice() {
                [0] => |_, p| vec![p[0].sum(&[0])],
                [1] => |_, p| vec![p[0].sum(&[1])],
                [0, 1] => |_, p| vec![p[0].sum(&[0, 1])],
                _ => |_, p| vec![p[0].sum(&[])],
            },
        );
        out.push(c);
    }
    out.push(case("prod0", vec![(v(&["n", "3"]), Any)], |_, p| {
        vec![p[0].reduce_prod(&[0])]
    }));
    out.push(case("prod1", vec![(v(&["3", "n"]), Any)], |_, p| {
        vec![p[0].reduce_prod(&[1])]
    }));
    out.push(case(
        "prod_all",
        vec![(v(&["2", "n", "2"]), Any)],
        |_, p| vec![p[0].reduce_prod(&[0, 2])],
    ));
    // Groups of 16 or more known elements take the scanned rule.
    out.push(case("prod_scan", vec![(v(&["n", "20"]), Any)], |_, p| {
        vec![p[0].reduce_prod(&[1])]
    }));
    out.push(case(
        "prod_scan_axes",
        vec![(v(&["4", "n", "5"]), Any)],
        |_, p| vec![p[0].reduce_prod(&[0, 2])],
    ));
    out.push(case("max0", vec![(v(&["n", "3"]), Distinct)], |_, p| {
        vec![p[0].reduce_max(&[0])]
    }));
    out.push(case("min1", vec![(v(&["3", "n"]), Distinct)], |_, p| {
        vec![p[0].reduce_min(&[1])]
    }));
    out.push(case("max_all", vec![(v(&["2", "n"]), Distinct)], |_, p| {
        vec![p[0].reduce_max(&[0, 1])]
    }));

    out.push(case("reshape", vec![(v(&["n", "6"]), Any)], |_, p| {
        let n = p[0].shape().dims()[0].clone();
        vec![
            p[0].reshape(Shape(vec![Dim::Known(3), n, Dim::Known(2)]))
                .sin(),
        ]
    }));
    out.push(case(
        "transpose",
        vec![(v(&["2", "n", "3"]), Any)],
        |_, p| vec![p[0].transpose(&[2, 0, 1]).sin()],
    ));
    out.push(case("slice", vec![(v(&["n", "7"]), Any)], |_, p| {
        let n = p[0].shape().dims()[0].clone();
        let r = [
            SliceRange {
                start: Dim::ONE,
                stop: n,
                step: 1,
            },
            SliceRange {
                start: Dim::Known(1),
                stop: Dim::Known(6),
                step: 2,
            },
        ];
        vec![p[0].slice(&r).sin()]
    }));
    out.push(pad_case(elem));
    out.push(case(
        "concat",
        vec![
            (v(&["n", "2"]), Any),
            (v(&["3", "2"]), Any),
            (v(&["n", "2"]), Any),
        ],
        |g, p| {
            let c = g.concat(&[p[0], p[1], p[2]], 0);
            vec![c.sin()]
        },
    ));
    out.push(case(
        "concat_one_active",
        vec![(v(&["n", "2"]), Any)],
        |g, p| {
            let k = g
                .constant(&[1.0, 2.0, 3.0, 4.0], [2, 2])
                .convert(p[0].elem());
            let c = g.concat(&[k, p[0], k], 0);
            vec![c * c]
        },
    ));
    out.push(case(
        "concat_some_active",
        vec![(v(&["n", "2"]), Any), (v(&["1", "2"]), Any)],
        |g, p| {
            let k = g
                .constant(&[1.0, 2.0, 3.0, 4.0], [2, 2])
                .convert(p[0].elem());
            let c = g.concat(&[p[0], k, p[1], k], 0);
            vec![c.sin()]
        },
    ));
    out.push(case(
        "select_one_branch",
        vec![(v(&["n"]), Any), (v(&["n"]), Apart(0))],
        |g, p| {
            let k = g.full(Scalar::from_f64(p[0].elem(), 0.25), p[0].shape());
            let c = p[0].gt(p[1]);
            vec![g.select(c, p[0].exp(), k), g.select(c, k, p[1] * p[1])]
        },
    ));
    out.push(case(
        "gather",
        vec![
            (v(&["n", "3"]), Any),
            (ty(Elem::I64, &["4", "2"]), Index(3)),
        ],
        |_, p| vec![p[0].gather(p[1], 0).sin()],
    ));
    out.push(case(
        "gather_axis1",
        vec![(v(&["2", "n"]), Any), (ty(Elem::I64, &["5"]), Index(3))],
        |_, p| vec![p[0].gather(p[1], 1) * 2.0],
    ));
    out.push(case(
        "scatter_add",
        vec![
            (v(&["2", "5", "3"]), Any),
            (ty(Elem::I64, &["5"]), Index(4)),
        ],
        |g, p| vec![g.scatter_add(p[0].sin(), p[1], 1, dim("4"))],
    ));
    out.push(case(
        "matmul",
        vec![(v(&["n", "3"]), Any), (v(&["3", "m"]), Any)],
        |_, p| vec![p[0].matmul(p[1])],
    ));
    out.push(case(
        "matmul_batch",
        vec![(v(&["2", "n", "3"]), Any), (v(&["2", "3", "2"]), Any)],
        |_, p| vec![p[0].matmul(p[1]).sin()],
    ));
    out.push(call_case(elem));
    out
}

/// `pad` with symbolic, interior and asymmetric padding, built node by node
/// (the graph API pads without interior).
fn pad_case(elem: Elem) -> Case {
    let mut b = FunctionBuilder::new("pad");
    let x = b.param("p0", ty(elem, &["n", "3"]));
    let s = b
        .push1(Op::Unary(UnaryOp::Sin), &[x], &NoSignatures)
        .unwrap();
    let pad = Op::Pad {
        lo: vec![Dim::ONE, Dim::Known(2)],
        hi: vec![Dim::var("n"), Dim::ZERO],
        interior: vec![0, 2],
        value: Scalar::from_f64(elem, 0.5),
    };
    let y = b.push1(pad, &[s], &NoSignatures).unwrap();
    let mut module = Module::new();
    module.add(b.finish(&[y])).unwrap();
    Case {
        name: "pad".into(),
        params: vec![ty(elem, &["n", "3"])],
        domains: vec![Domain::Any],
        wrt: vec![0],
        module,
    }
}

fn case_conv(elem: Elem, other: Elem) -> Case {
    let name = "convert";
    case(
        name,
        vec![(ty(elem, &["n"]), Domain::Any)],
        match other {
            Elem::F32 => |_, p| {
                let e = p[0].elem();
                vec![p[0].convert(Elem::F32).sin().convert(e) * p[0]]
            },
            _ => |_, p| {
                let e = p[0].elem();
                vec![p[0].convert(Elem::F64).sin().convert(e) * p[0]]
            },
        },
    )
}

// ---------------------------------------------------------------------------
// Numbers: inputs, evaluation, finite differences.

use adjit::ir::Tensor;
use adjit::ir::interp;

/// SplitMix64: deterministic inputs.
pub struct Rng(pub u64);

impl Rng {
    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `[lo, hi)`.
    pub fn uniform(&mut self, lo: f64, hi: f64) -> f64 {
        let u = (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
        lo + (hi - lo) * u
    }

    /// Uniform in `0..n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
}

/// The concrete shape of `t` with the size variables bound.
pub fn concrete(t: &Type, sizes: &[(&str, i64)]) -> Vec<usize> {
    let env = |v: &str| sizes.iter().find(|(n, _)| *n == v).map(|(_, k)| *k);
    t.shape
        .dims()
        .iter()
        .map(|d| d.eval(&env).expect("sizes bind every variable"))
        .collect()
}

/// A tensor of `elem` from `f64` values.
pub fn tensor(elem: Elem, shape: &[usize], values: Vec<f64>) -> Tensor {
    match elem {
        Elem::F64 => Tensor::f64(shape, values).unwrap(),
        Elem::F32 => Tensor::f32(shape, values.iter().map(|&x| x as f32).collect()).unwrap(),
        Elem::I64 => Tensor::i64(shape, values.iter().map(|&x| x as i64).collect()).unwrap(),
        Elem::Bool => Tensor::bool(shape, values.iter().map(|&x| x != 0.0).collect()).unwrap(),
    }
}

/// Random inputs for the case's parameters at the given sizes.
pub fn sample_inputs(case: &Case, sizes: &[(&str, i64)], rng: &mut Rng) -> Vec<Tensor> {
    let mut out: Vec<Tensor> = Vec::new();
    for (t, d) in case.params.iter().zip(&case.domains) {
        let shape = concrete(t, sizes);
        let len: usize = shape.iter().product();
        let values: Vec<f64> = match *d {
            Domain::Any => (0..len).map(|_| rng.uniform(-2.0, 2.0)).collect(),
            Domain::Positive => (0..len).map(|_| rng.uniform(0.5, 2.5)).collect(),
            Domain::Small => (0..len).map(|_| rng.uniform(-0.7, 0.7)).collect(),
            Domain::AwayFromKinks => (0..len)
                .map(|_| 0.5 * (rng.below(8) as f64 - 4.0) + rng.uniform(0.2, 0.3))
                .collect(),
            Domain::Index(bound) => (0..len).map(|_| rng.below(bound as u64) as f64).collect(),
            Domain::Apart(k) => out[k]
                .to_f64_vec()
                .iter()
                .map(|&x| {
                    let s = if rng.below(2) == 0 { -1.0 } else { 1.0 };
                    x + s * rng.uniform(0.3, 1.3)
                })
                .collect(),
            Domain::Distinct => {
                let mut rank: Vec<usize> = (0..len).collect();
                for i in (1..len).rev() {
                    rank.swap(i, rng.below(i as u64 + 1) as usize);
                }
                let gap = 3.6 / len.max(1) as f64;
                rank.iter()
                    .map(|&r| -1.8 + gap * r as f64 + rng.uniform(-0.2, 0.2) * gap)
                    .collect()
            }
        };
        out.push(tensor(t.elem, &shape, values));
    }
    out
}

/// Random values shaped like `t` in (−1, 1).
pub fn random_like(t: &Tensor, rng: &mut Rng) -> Tensor {
    let values = (0..t.len()).map(|_| rng.uniform(-1.0, 1.0)).collect();
    tensor(t.elem(), t.shape(), values)
}

/// Evaluates, panicking with the function's name on error.
pub fn eval(module: &Module, func: &str, inputs: &[Tensor]) -> Vec<Tensor> {
    interp::eval(module, func, inputs).unwrap_or_else(|e| panic!("evaluating @{func}: {e}"))
}

/// `x + h·v`, in `x`'s element type.
pub fn axpy(x: &Tensor, h: f64, v: &Tensor) -> Tensor {
    let values = x
        .to_f64_vec()
        .iter()
        .zip(v.to_f64_vec())
        .map(|(a, b)| a + h * b)
        .collect();
    tensor(x.elem(), x.shape(), values)
}

/// `Σ aᵢbᵢ` and `Σ |aᵢbᵢ|`, in `f64`.
pub fn dot(a: &Tensor, b: &Tensor) -> (f64, f64) {
    assert_eq!(a.shape(), b.shape(), "dot of different shapes");
    a.to_f64_vec()
        .iter()
        .zip(b.to_f64_vec())
        .fold((0.0, 0.0), |(s, m), (x, y)| (s + x * y, m + (x * y).abs()))
}

/// Central differences `(f(x + h·v) − f(x − h·v)) / 2h` of every output of
/// `func`, perturbing the parameters listed in `wrt` along `v`.
pub fn central_difference(
    module: &Module,
    func: &str,
    x: &[Tensor],
    wrt: &[usize],
    v: &[Tensor],
    h: f64,
) -> Vec<Vec<f64>> {
    let shifted = |sign: f64| {
        let mut xs = x.to_vec();
        for (k, &j) in wrt.iter().enumerate() {
            xs[j] = axpy(&x[j], sign * h, &v[k]);
        }
        eval(module, func, &xs)
    };
    let (plus, minus) = (shifted(1.0), shifted(-1.0));
    plus.iter()
        .zip(&minus)
        .map(|(p, m)| {
            p.to_f64_vec()
                .iter()
                .zip(m.to_f64_vec())
                .map(|(a, b)| (a - b) / (2.0 * h))
                .collect()
        })
        .collect()
}

/// Asserts `|got − want| ≤ rtol · max(1, max |want|)` elementwise.
pub fn assert_close(got: &[f64], want: &[f64], rtol: f64, what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: lengths differ");
    let scale = want.iter().fold(1.0f64, |m, w| m.max(w.abs()));
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        let ok = (g - w).abs() <= rtol * scale || (g.is_nan() && w.is_nan());
        assert!(
            ok,
            "{what}: element {i}: got {g}, want {w} (scale {scale}, rtol {rtol})\n got {got:?}\nwant {want:?}"
        );
    }
}

/// Step and tolerances per element type, fixed in advance from the
/// precision: central differences err by `O(h²)` (truncation) plus
/// `O(ε/h)` (rounding).
pub struct Tol {
    /// Finite-difference step.
    pub h: f64,
    /// Relative tolerance against finite differences.
    pub fd: f64,
    /// Relative tolerance of the dot-product test (against the sum of
    /// magnitudes of the terms) and of AD-vs-AD agreement.
    pub exact: f64,
}

/// The tolerances for a case: those of the least precise float type any of
/// its functions computes in (a function of `f64` parameters that rounds
/// through `f32` is only as smooth as `f32`).
pub fn case_tol(case: &Case) -> Tol {
    let uses_f32 = case
        .module
        .functions()
        .iter()
        .any(|f| f.values().any(|v| f.ty(v).elem == Elem::F32));
    tol(if uses_f32 { Elem::F32 } else { Elem::F64 })
}

/// The tolerances for `elem`.
pub fn tol(elem: Elem) -> Tol {
    match elem {
        Elem::F32 => Tol {
            h: 1e-2,
            fd: 2e-3,
            exact: 1e-5,
        },
        _ => Tol {
            h: 1e-5,
            fd: 1e-6,
            exact: 1e-12,
        },
    }
}

/// A module adding `@loss(params..., w...) = Σᵢ sum(yᵢ · wᵢ)` over the float
/// outputs `yᵢ` of the case's function (called, not inlined).
pub fn loss_module(case: &Case) -> Module {
    let f = case.module.get(&case.name).unwrap();
    let g = Graph::with_module("loss", &case.module);
    let params: Vec<Var<'_>> = case
        .params
        .iter()
        .enumerate()
        .map(|(i, t)| g.param(&format!("p{i}"), t.clone()))
        .collect();
    let float_outs: Vec<usize> = (0..f.outputs().len())
        .filter(|&i| f.ty(f.outputs()[i]).elem.is_float())
        .collect();
    let weights: Vec<Var<'_>> = float_outs
        .iter()
        .map(|&i| g.param(&format!("w{i}"), f.ty(f.outputs()[i]).clone()))
        .collect();
    let y = g.call(&case.name, &params);
    let mut total: Option<Var<'_>> = None;
    for (k, &i) in float_outs.iter().enumerate() {
        let term = (y[i] * weights[k]).sum_all();
        total = Some(match total {
            Some(t) => t + term,
            None => term,
        });
    }
    let mut module = case.module.clone();
    module.add(g.finish(&[total.unwrap()]).unwrap()).unwrap();
    module
}
