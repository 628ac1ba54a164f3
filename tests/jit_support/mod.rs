//! Shared helpers of the JIT test binaries: building one-op modules,
//! deterministic test data with IEEE special values, and comparing JIT
//! results with the interpreter's under a stated tolerance.
#![allow(dead_code)]

use adjit::ir::typing::NoSignatures;
use adjit::ir::{Data, Elem, FunctionBuilder, Module, Op, Shape, Tensor, Type, Value, interp};
use adjit::jit::{self, Options};

/// A module with one function `@f(p0, p1, …)` returning `op(p0, p1, …)`.
pub fn one_op(op: Op, args: &[Type]) -> Module {
    let mut b = FunctionBuilder::new("f");
    let ps: Vec<Value> = args
        .iter()
        .enumerate()
        .map(|(i, t)| b.param(&format!("p{i}"), t.clone()))
        .collect();
    let r = b
        .push(op.clone(), &ps, &NoSignatures)
        .unwrap_or_else(|e| panic!("{op:?} on {args:?}: {e}"));
    let mut m = Module::new();
    m.add(b.finish(&r)).unwrap();
    m
}

/// A module built by a closure over a low-level builder.
pub fn build(
    args: &[Type],
    body: impl FnOnce(&mut FunctionBuilder, &[Value]) -> Vec<Value>,
) -> Module {
    let mut b = FunctionBuilder::new("f");
    let ps: Vec<Value> = args
        .iter()
        .enumerate()
        .map(|(i, t)| b.param(&format!("p{i}"), t.clone()))
        .collect();
    let outs = body(&mut b, &ps);
    let mut m = Module::new();
    m.add(b.finish(&outs)).unwrap();
    m
}

/// Pushes one node and returns its result.
pub fn push(b: &mut FunctionBuilder, op: Op, args: &[Value]) -> Value {
    b.push1(op.clone(), args, &NoSignatures)
        .unwrap_or_else(|e| panic!("{op:?}: {e}"))
}

/// A small deterministic generator (xorshift64*).
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    /// Uniform in `[lo, hi)`.
    pub fn uniform(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * ((self.next() >> 11) as f64 / (1u64 << 53) as f64)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// Which values test data may contain.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Values {
    /// Ordinary values in [-4, 4] plus every IEEE special (NaN, ±inf, ±0,
    /// subnormals, huge values) at some positions.
    Full,
    /// Ordinary values only (for reassociated reductions).
    Tame,
    /// Values in [0.5, 2) (for products).
    Unitish,
    /// Positive values (logs, square roots).
    Positive,
}

const F64_SPECIALS: [f64; 10] = [
    f64::NAN,
    f64::INFINITY,
    f64::NEG_INFINITY,
    0.0,
    -0.0,
    5e-324,
    -1e300,
    1e300,
    0.5,
    -2.5,
];

/// `n` deterministic values of `elem`.
pub fn data(elem: Elem, n: usize, seed: u64, values: Values) -> Data {
    let mut rng = Rng::new(seed);
    let f = |rng: &mut Rng, i: usize| -> f64 {
        match values {
            Values::Full if rng.below(4) == 0 => F64_SPECIALS[(i + rng.below(10) as usize) % 10],
            Values::Full | Values::Tame => rng.uniform(-4.0, 4.0),
            Values::Unitish => rng.uniform(0.5, 2.0),
            Values::Positive => rng.uniform(0.01, 10.0),
        }
    };
    match elem {
        Elem::F64 => Data::F64((0..n).map(|i| f(&mut rng, i)).collect()),
        Elem::F32 => Data::F32((0..n).map(|i| f(&mut rng, i) as f32).collect()),
        Elem::I64 => Data::I64(
            (0..n)
                .map(|i| match values {
                    Values::Full if rng.below(5) == 0 => [i64::MIN, i64::MAX, 0, -1, 1][i % 5],
                    Values::Unitish | Values::Positive => 1 + rng.below(3) as i64,
                    _ => rng.below(101) as i64 - 50,
                })
                .collect(),
        ),
        Elem::Bool => Data::Bool((0..n).map(|_| rng.below(2) == 1).collect()),
    }
}

/// A tensor of type `ty` (which must be concrete).
pub fn tensor(ty: &Type, seed: u64, values: Values) -> Tensor {
    let shape = ty.shape.as_known().expect("concrete type");
    let n = shape.iter().product();
    Tensor::new(shape, data(ty.elem, n, seed, values)).unwrap()
}

/// How close the JIT must be to the interpreter.
#[derive(Clone, Debug)]
pub enum Tol {
    /// Bit-identical (NaNs of any payload match each other).
    Exact,
    /// Within this many units in the last place (or both NaN, or equal).
    Ulps(u64),
    /// Per element, `|jit − interp| ≤ bound[i]` (or both NaN, or equal).
    Abs(Vec<f64>),
    /// `|jit − interp| ≤ rel·max(|interp|, floor)`.
    Rel(f64, f64),
}

fn ulps64(a: f64, b: f64) -> u64 {
    let key = |x: f64| {
        let b = x.to_bits() as i64;
        if b < 0 { i64::MIN - b } else { b }
    };
    key(a).abs_diff(key(b))
}

fn close(a: f64, b: f64, tol: &Tol, i: usize, f32_ulps: bool) -> bool {
    if a.is_nan() || b.is_nan() {
        return a.is_nan() && b.is_nan();
    }
    if a == b && a.is_sign_negative() == b.is_sign_negative() {
        return true;
    }
    match tol {
        Tol::Exact => false,
        Tol::Ulps(u) => {
            if f32_ulps {
                let (x, y) = (a as f32, b as f32);
                let key = |x: f32| {
                    let b = x.to_bits() as i32;
                    if b < 0 { i32::MIN - b } else { b }
                };
                (key(x).abs_diff(key(y)) as u64) <= *u || (a == b)
            } else {
                ulps64(a, b) <= *u || a == b
            }
        }
        Tol::Abs(bounds) => a == b || (a - b).abs() <= bounds[i],
        Tol::Rel(r, floor) => a == b || (a - b).abs() <= r * b.abs().max(*floor),
    }
}

/// Asserts that `got` matches `want` under `tol`.
pub fn assert_close(got: &Tensor, want: &Tensor, tol: &Tol, what: &str) {
    assert_eq!(got.shape(), want.shape(), "{what}: shape");
    assert_eq!(got.elem(), want.elem(), "{what}: element type");
    match (got.data(), want.data()) {
        (Data::I64(g), Data::I64(w)) => assert_eq!(g, w, "{what}"),
        (Data::Bool(g), Data::Bool(w)) => assert_eq!(g, w, "{what}"),
        _ => {
            let is_f32 = got.elem() == Elem::F32;
            let (g, w) = (got.to_f64_vec(), want.to_f64_vec());
            for i in 0..g.len() {
                assert!(
                    close(g[i], w[i], tol, i, is_f32),
                    "{what}: element {i} of {}: jit {:e} ({:#x}), interpreter {:e} ({:#x}), tolerance {tol:?}",
                    g.len(),
                    g[i],
                    g[i].to_bits(),
                    w[i],
                    w[i].to_bits()
                );
            }
        }
    }
}

/// The option sets every per-op test runs under.
pub fn configs() -> Vec<(&'static str, Options)> {
    vec![
        ("default", Options::default()),
        (
            "scalar-unfused",
            Options {
                fusion: false,
                vectorize: false,
                ..Options::default()
            },
        ),
    ]
}

/// Compiles `@f` of `m` and checks it against the interpreter on `inputs`.
pub fn check_with(m: &Module, inputs: &[Tensor], tol: &Tol, opts: &Options, what: &str) {
    let want = interp::eval(m, "f", inputs).unwrap_or_else(|e| panic!("{what}: interpreter: {e}"));
    let c = jit::compile_with(m, "f", opts).unwrap_or_else(|e| panic!("{what}: compile: {e}"));
    let refs: Vec<&Tensor> = inputs.iter().collect();
    let got = c
        .call(&refs)
        .unwrap_or_else(|e| panic!("{what}: call: {e}"));
    assert_eq!(got.len(), want.len());
    for (i, (g, w)) in got.iter().zip(&want).enumerate() {
        assert_close(g, w, tol, &format!("{what}, output {i}"));
    }
}

/// [`check_with`] under every configuration of [`configs`].
pub fn check(m: &Module, inputs: &[Tensor], tol: &Tol, what: &str) {
    for (name, opts) in configs() {
        check_with(m, inputs, tol, &opts, &format!("{what} [{name}]"));
    }
}

/// `f64[dims]`-style type of any element.
pub fn ty(elem: Elem, dims: &[usize]) -> Type {
    Type::new(elem, Shape::known(dims))
}

/// The 1-D test shapes: scalar, empty, tiny, around vector widths, odd, large.
pub const SHAPES: [&[usize]; 9] = [&[], &[0], &[1], &[2], &[3], &[7], &[8], &[33], &[1023]];

/// Machine epsilon of a float element type.
pub fn eps(elem: Elem) -> f64 {
    match elem {
        Elem::F32 => f64::from(f32::EPSILON),
        _ => f64::EPSILON,
    }
}

/// A long random chain of `n` scalar ops over two `f64` inputs: each op
/// reads the previous value and one of the last 64 (a long dependency chain
/// with some fan-out). Bounded ops only (sin, cos, tanh, products of values
/// in [-1, 1], means), so values stay finite.
pub fn random_scalar_chain(n: usize, seed: u64) -> Module {
    use adjit::ir::{BinaryOp, UnaryOp};
    build(&[ty(Elem::F64, &[]), ty(Elem::F64, &[])], |b, p| {
        let mut rng = Rng::new(seed);
        let mut pool: Vec<Value> = p.to_vec();
        let half = push(
            b,
            Op::Const {
                ty: ty(Elem::F64, &[]),
                data: adjit::ir::ConstData::Splat(adjit::ir::Scalar::F64(0.5)),
            },
            &[],
        );
        while pool.len() < n {
            let last = *pool.last().expect("inputs");
            let other = pool[pool.len() - 1 - rng.below(pool.len().min(64) as u64) as usize];
            let v = match rng.below(6) {
                0 => push(b, Op::Unary(UnaryOp::Sin), &[last]),
                1 => push(b, Op::Unary(UnaryOp::Cos), &[last]),
                2 => push(b, Op::Unary(UnaryOp::Tanh), &[last]),
                3 => push(b, Op::Binary(BinaryOp::Mul), &[last, other]),
                4 => {
                    let s = push(b, Op::Binary(BinaryOp::Add), &[last, other]);
                    push(b, Op::Binary(BinaryOp::Mul), &[s, half])
                }
                _ => push(b, Op::Binary(BinaryOp::Max), &[last, other]),
            };
            pool.push(v);
        }
        let k = pool.len();
        vec![pool[k - 1], pool[k / 2]]
    })
}

/// A wide random DAG of `n` elementwise ops on `f64[width]` tensors: each op
/// combines two values drawn uniformly from everything before it (heavy,
/// irregular fan-out); the outputs are the last value and the sum of the
/// last 16.
pub fn random_wide_dag(n: usize, width: usize, seed: u64) -> Module {
    use adjit::ir::{BinaryOp, ReduceOp, UnaryOp};
    let t = ty(Elem::F64, &[width]);
    build(&[t.clone(), t], |b, p| {
        let mut rng = Rng::new(seed);
        let mut pool: Vec<Value> = p.to_vec();
        while pool.len() < n {
            let a = pool[rng.below(pool.len() as u64) as usize];
            let c = pool[rng.below(pool.len() as u64) as usize];
            let v = match rng.below(5) {
                0 => push(b, Op::Binary(BinaryOp::Add), &[a, c]),
                1 => push(b, Op::Binary(BinaryOp::Mul), &[a, c]),
                2 => push(b, Op::Binary(BinaryOp::Min), &[a, c]),
                3 => push(b, Op::Unary(UnaryOp::Tanh), &[a]),
                _ => push(b, Op::Binary(BinaryOp::Sub), &[a, c]),
            };
            pool.push(v);
        }
        let k = pool.len();
        let mut acc = pool[k - 1];
        for &v in &pool[k - 16..k - 1] {
            acc = push(b, Op::Binary(BinaryOp::Add), &[acc, v]);
        }
        let s = push(
            b,
            Op::Reduce {
                op: ReduceOp::Sum,
                axes: vec![0],
            },
            &[acc],
        );
        vec![pool[k - 1], s]
    })
}

/// Rosenbrock's value and gradient as reverse-mode AD writes it.
pub fn rosen_grad_module(n: usize) -> Module {
    let g = adjit::ir::Graph::new("rosen_grad");
    let x = g.param("x", Type::f64(&[n]));
    let a = x.slice_axis(0, 0usize, n - 1);
    let b = x.slice_axis(0, 1usize, n);
    let t = b - a * a;
    let u = 1.0 - a;
    let f = (t * t * 100.0 + u * u).sum_all();
    let da = a * t * -400.0 - u * 2.0;
    let db = t * 200.0;
    let grad = da.pad(&[0], &[1], 0.0) + db.pad(&[1], &[0], 0.0);
    let mut m = Module::new();
    m.add(g.finish(&[f, grad]).unwrap()).unwrap();
    m
}

/// Logistic regression's loss and gradient with respect to `w`, as AD and
/// simplification produce it: z = X·w, g = Xᵀ(σ(z) − y)/n + λw.
pub fn logreg_grad_module(n: usize, d: usize) -> Module {
    let g = adjit::ir::Graph::new("logreg_grad");
    let w = g.param("w", Type::f64(&[d]));
    let x = g.param("X", Type::f64(&[n, d]));
    let y = g.param("y", Type::f64(&[n]));
    let z = x.matmul(w.reshape([d, 1])).reshape([n]);
    let sp = z.max(0.0) + (-z.abs()).exp().log1p();
    let loss = (sp - y * z).sum_all() / n as f64
        + (w * w).sum_all() * (0.5 * adjit_workloads::logreg::LAMBDA);
    let r = (z.sigmoid() - y) / n as f64;
    let grad = x.t().matmul(r.reshape([n, 1])).reshape([d]) + w * adjit_workloads::logreg::LAMBDA;
    let mut m = Module::new();
    m.add(g.finish(&[loss, grad]).unwrap()).unwrap();
    m
}
