//! Random well-typed modules, for property tests of everything that reads IR
//! (the text format, the verifier, the interpreter, the transforms).
//!
//! Compiled only with the cargo feature `testgen`. This crate's own tests
//! enable it through a dev-dependency on itself; another crate's tests enable
//! it with `adjit-ir = { path = "ir", features = ["testgen"] }` under
//! `[dev-dependencies]`.
//!
//! Guarantees:
//! - Deterministic: one seed and one [`GenConfig`] give one module.
//! - Every node is added with [`FunctionBuilder::push`], so every function is
//!   well-typed by construction; the entry point is the module's last function.
//! - Over many seeds every op appears, every unary, binary, comparison and
//!   reduction on the element types it accepts, known and symbolic dimensions,
//!   and literals at the edges: `-0.0`, infinities, NaNs with payloads,
//!   subnormals, extreme integers.
//! - A function's size variables are exactly those its parameters bind (bare
//!   variables in parameter shapes), and symbolic slices are `0:n`, `1:n` or
//!   `0:n-1` of a bare variable `n`, so binding every size variable to a value
//!   of at least 1 gives valid sizes. Data are not chosen for any op's domain:
//!   `log` may see negative numbers and `div` zeros (IEEE results).

use crate::builder::FunctionBuilder;
use crate::checkpoint::Checkpoint;
use crate::dim::{Dim, SizeVar};
use crate::function::{Module, Value};
use crate::op::{BinaryOp, CmpOp, ConstData, Op, ReduceOp, Scalar, SliceRange, UnaryOp};
use crate::types::{Elem, Shape, Type};
use std::collections::HashMap;
use std::sync::Arc;

/// A small deterministic random number generator (SplitMix64).
#[derive(Clone, Debug)]
pub struct Rng {
    state: u64,
}

impl Rng {
    /// A generator seeded with `seed`.
    pub fn new(seed: u64) -> Rng {
        Rng { state: seed }
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            return 0;
        }
        (self.next_u64() % n as u64) as usize
    }

    /// True with probability `num / den`.
    pub fn chance(&mut self, num: u64, den: u64) -> bool {
        den > 0 && self.next_u64() % den < num
    }

    /// A random element of a non-empty slice.
    ///
    /// # Panics
    /// If `items` is empty (a caller bug).
    pub fn pick<T: Clone>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())].clone()
    }
}

/// What to generate.
#[derive(Clone, Debug)]
pub struct GenConfig {
    /// How many ops to try in the entry function (helpers get a third).
    pub nodes: usize,
    /// Whether parameter shapes may use size variables.
    pub symbolic: bool,
    /// Whether to add helper functions and use `call`, `scan` and `while`.
    pub control_flow: bool,
    /// Whether to give some values and functions names that the text format
    /// must quote (spaces, quotes, non-ASCII, the empty name).
    pub odd_names: bool,
}

impl Default for GenConfig {
    fn default() -> GenConfig {
        GenConfig {
            nodes: 20,
            symbolic: true,
            control_flow: true,
            odd_names: false,
        }
    }
}

/// A random well-typed module; its last function is the entry point.
pub fn random_module(seed: u64, cfg: &GenConfig) -> Module {
    let mut rng = Rng::new(seed);
    let mut module = Module::new();
    let mut helpers = Helpers::default();
    if cfg.control_flow {
        add_helpers(&mut rng, cfg, &mut module, &mut helpers);
    }
    let vars: &[&str] = if cfg.symbolic { &["n", "m"] } else { &[] };
    let count = 1 + rng.below(3);
    let params = random_params(&mut rng, vars, count);
    let mut g = Gen::new(&mut rng, cfg, &module, "main", &params, &helpers);
    g.steps(cfg.nodes);
    let n_out = 1 + g.rng.below(3);
    let outputs: Vec<Value> = (0..n_out).map(|_| g.recent()).collect();
    let f = g.b.finish(&outputs);
    let _ = module.add(f);
    module
}

/// Helper functions the entry may use.
#[derive(Default)]
struct Helpers {
    /// Plain functions for `call`.
    calls: Vec<Arc<str>>,
    /// Scan bodies: name, number of consts, number of carries.
    scans: Vec<(Arc<str>, usize, usize)>,
    /// While loops: condition, body, number of consts.
    whiles: Vec<(Arc<str>, Arc<str>, usize)>,
}

/// Parameter types over the size variables `vars` (bare) and small known sizes.
fn random_params(rng: &mut Rng, vars: &[&str], count: usize) -> Vec<Type> {
    (0..count)
        .map(|_| {
            let elem = random_elem(rng);
            let rank = rng.below(4);
            let dims = (0..rank)
                .map(|_| {
                    if !vars.is_empty() && rng.chance(1, 2) {
                        Dim::var(rng.pick(vars))
                    } else {
                        Dim::Known(1 + rng.below(4) as i64)
                    }
                })
                .collect();
            Type::new(elem, Shape(dims))
        })
        .collect()
}

fn random_elem(rng: &mut Rng) -> Elem {
    // Mostly f64, the common case.
    match rng.below(8) {
        0 => Elem::F32,
        1 => Elem::I64,
        2 => Elem::Bool,
        _ => Elem::F64,
    }
}

fn add_helpers(rng: &mut Rng, cfg: &GenConfig, module: &mut Module, helpers: &mut Helpers) {
    let sub = GenConfig {
        nodes: cfg.nodes / 3,
        control_flow: false,
        ..cfg.clone()
    };
    let none = Helpers::default();
    let vars: &[&str] = if cfg.symbolic { &["k", "j"] } else { &[] };
    let odd = |rng: &mut Rng, plain: &str| -> String {
        if cfg.odd_names && rng.chance(1, 3) {
            format!("{plain} fn")
        } else {
            plain.to_string()
        }
    };

    // A plain function.
    let name = odd(rng, "h0");
    let count = 1 + rng.below(3);
    let params = random_params(rng, vars, count);
    let mut g = Gen::new(rng, &sub, module, &name, &params, &none);
    g.steps(sub.nodes);
    let outs: Vec<Value> = (0..1 + g.rng.below(2)).map(|_| g.recent()).collect();
    let f = g.b.finish(&outs);
    helpers.calls.push(f.name_arc().clone());
    let _ = module.add(f);

    // A scan body: (consts, carry, x_t) -> (carry, y_t).
    let name = odd(rng, "body0");
    let (n_consts, n_carry, n_xs) = (rng.below(2), 1 + rng.below(2), rng.below(3));
    let params = random_params(rng, vars, n_consts + n_carry + n_xs);
    let mut g = Gen::new(rng, &sub, module, &name, &params, &none);
    g.steps(sub.nodes);
    let mut outs: Vec<Value> = params[n_consts..n_consts + n_carry]
        .iter()
        .map(|t| g.existing_of_type(t))
        .collect();
    for _ in 0..g.rng.below(3) {
        outs.push(g.recent());
    }
    let f = g.b.finish(&outs);
    helpers
        .scans
        .push((f.name_arc().clone(), n_consts, n_carry));
    let _ = module.add(f);

    // A while condition and body over (consts, state).
    let (n_consts, n_state) = (rng.below(2), 1 + rng.below(2));
    let params = random_params(rng, vars, n_consts + n_state);
    let cond_name = odd(rng, "cond0");
    let mut g = Gen::new(rng, &sub, module, &cond_name, &params, &none);
    g.steps(sub.nodes / 2);
    let c = g.bool_scalar();
    let f = g.b.finish(&[c]);
    let cond = f.name_arc().clone();
    let _ = module.add(f);
    let body_name = odd(rng, "wbody0");
    let mut g = Gen::new(rng, &sub, module, &body_name, &params, &none);
    g.steps(sub.nodes);
    let outs: Vec<Value> = params[n_consts..]
        .iter()
        .map(|t| g.existing_of_type(t))
        .collect();
    let f = g.b.finish(&outs);
    helpers.whiles.push((cond, f.name_arc().clone(), n_consts));
    let _ = module.add(f);
}

/// Builds one function.
struct Gen<'a> {
    rng: &'a mut Rng,
    cfg: &'a GenConfig,
    module: &'a Module,
    helpers: &'a Helpers,
    b: FunctionBuilder,
    /// Every value defined so far.
    pool: Vec<Value>,
    /// The size variables the parameters bind.
    vars: Vec<SizeVar>,
}

const ODD_NAMES: [&str; 12] = [
    "x",
    "y.1",
    "_t",
    "0",
    "v1",
    "a b",
    "é",
    "q\"uote",
    "tab\there",
    "",
    "return",
    "nan",
];

impl<'a> Gen<'a> {
    fn new(
        rng: &'a mut Rng,
        cfg: &'a GenConfig,
        module: &'a Module,
        name: &str,
        params: &[Type],
        helpers: &'a Helpers,
    ) -> Gen<'a> {
        let mut b = FunctionBuilder::new(name);
        let mut pool = Vec::new();
        for (i, t) in params.iter().enumerate() {
            let pname = if cfg.odd_names && rng.chance(1, 4) {
                rng.pick(&ODD_NAMES).to_string()
            } else {
                format!("p{i}")
            };
            pool.push(b.param(&pname, t.clone()));
        }
        let vars = b.function().size_vars();
        Gen {
            rng,
            cfg,
            module,
            helpers,
            b,
            pool,
            vars,
        }
    }

    fn ty(&self, v: Value) -> Type {
        self.b.ty(v).clone()
    }

    /// One of the latest values (outputs tend to use late values).
    fn recent(&mut self) -> Value {
        let n = self.pool.len();
        if n == 0 {
            return self.const_of(&Type::scalar(Elem::F64));
        }
        let back = self.rng.below(n.min(4));
        self.pool[n - 1 - back]
    }

    fn push(&mut self, op: Op, args: &[Value]) -> Option<Vec<Value>> {
        let results = self.b.push(op, args, self.module).ok()?;
        for &r in &results {
            if self.cfg.odd_names && self.rng.chance(1, 6) {
                let name = self.rng.pick(&ODD_NAMES);
                self.b.set_name(r, name);
            }
            self.pool.push(r);
        }
        Some(results)
    }

    fn push1(&mut self, op: Op, args: &[Value]) -> Option<Value> {
        self.push(op, args)?.first().copied()
    }

    fn steps(&mut self, n: usize) {
        for _ in 0..n {
            self.step();
        }
    }

    /// Tries one random op; an op that does not fit is skipped.
    fn step(&mut self) {
        let choices = if self.cfg.control_flow { 24 } else { 21 };
        let _ = match self.rng.below(choices) {
            0 => Some(self.random_const()),
            1 => self.iota(),
            2 => self.size(),
            3 | 4 => self.unary(),
            5 | 6 => self.binary(),
            7 => self.compare(),
            8 => self.select(),
            9 => self.broadcast(),
            10 => self.reduce(),
            11 => self.reshape(),
            12 => self.transpose(),
            13 => self.slice(),
            14 => self.concat(),
            15 => self.pad(),
            16 => self.gather(),
            17 => self.scatter_add(),
            18 => self.matmul(),
            19 => self.convert(),
            20 => Some(self.random_const()),
            21 => self.call(),
            22 => self.scan(),
            _ => self.while_loop(),
        };
    }

    // ---- values ---------------------------------------------------------

    fn dim(&mut self) -> Dim {
        if !self.vars.is_empty() && self.rng.chance(1, 3) {
            Dim::var(&self.rng.pick(&self.vars))
        } else {
            Dim::Known(1 + self.rng.below(4) as i64)
        }
    }

    fn shape(&mut self, rank: usize) -> Shape {
        Shape((0..rank).map(|_| self.dim()).collect())
    }

    /// A literal of `elem`: often an edge case, sometimes random bits.
    fn scalar(&mut self, elem: Elem) -> Scalar {
        let r = self.rng.below(16);
        match elem {
            Elem::F64 => Scalar::F64(match r {
                0 => -0.0,
                1 => f64::INFINITY,
                2 => f64::NEG_INFINITY,
                3 => f64::NAN,
                4 => f64::from_bits(0x7ff0_0000_0000_0001),
                5 => 1e-300,
                6 => 5e-324,
                7 => f64::MAX,
                8 => 0.1,
                9 => f64::from_bits(self.rng.next_u64()),
                10 => 100.0,
                _ => (self.rng.below(2001) as f64 - 1000.0) / 8.0,
            }),
            Elem::F32 => Scalar::F32(match r {
                0 => -0.0,
                1 => f32::INFINITY,
                2 => f32::NEG_INFINITY,
                3 => f32::NAN,
                4 => f32::from_bits(0xffc0_0001),
                5 => 1e-45,
                6 => f32::MIN_POSITIVE,
                7 => f32::MAX,
                8 => 0.1,
                9 => f32::from_bits(self.rng.next_u64() as u32),
                _ => (self.rng.below(2001) as f32 - 1000.0) / 8.0,
            }),
            Elem::I64 => Scalar::I64(match r {
                0 => i64::MIN,
                1 => i64::MAX,
                2 => self.rng.next_u64() as i64,
                _ => self.rng.below(21) as i64 - 10,
            }),
            Elem::Bool => Scalar::Bool(r.is_multiple_of(2)),
        }
    }

    /// A new constant of type `ty`: dense when the shape is known and small.
    fn const_of(&mut self, ty: &Type) -> Value {
        let count = ty
            .shape
            .as_known()
            .and_then(|k| crate::typing::checked_count(&k));
        let data = match count {
            Some(c) if c <= 8 && self.rng.chance(1, 2) => {
                ConstData::Dense((0..c).map(|_| self.scalar(ty.elem)).collect())
            }
            _ => ConstData::Splat(self.scalar(ty.elem)),
        };
        let op = Op::Const {
            ty: ty.clone(),
            data,
        };
        // A constant of any type is well-typed.
        self.push1(op, &[]).expect("constants always type-check")
    }

    fn random_const(&mut self) -> Value {
        let elem = random_elem(self.rng);
        let rank = self.rng.below(3);
        let shape = self.shape(rank);
        self.const_of(&Type::new(elem, shape))
    }

    /// A random existing value satisfying `pred`.
    fn find(&mut self, pred: impl Fn(&Type) -> bool) -> Option<Value> {
        let fits: Vec<Value> = self
            .pool
            .iter()
            .copied()
            .filter(|&v| pred(self.b.ty(v)))
            .collect();
        (!fits.is_empty()).then(|| self.rng.pick(&fits))
    }

    /// An existing value of exactly `ty`, else a new constant.
    fn existing_of_type(&mut self, ty: &Type) -> Value {
        match self.find(|t| t == ty) {
            Some(v) => v,
            None => self.const_of(ty),
        }
    }

    /// Often an existing value of type `ty`, else a new constant.
    fn of_type(&mut self, ty: &Type) -> Value {
        if self.rng.chance(2, 3) {
            self.existing_of_type(ty)
        } else {
            self.const_of(ty)
        }
    }

    /// An existing value satisfying `pred`, else a constant of `fallback`.
    fn find_or(&mut self, pred: impl Fn(&Type) -> bool, fallback: Type) -> Value {
        match self.find(pred) {
            Some(v) => v,
            None => self.const_of(&fallback),
        }
    }

    /// A `bool` scalar computed from the values (for `while` conditions).
    fn bool_scalar(&mut self) -> Value {
        let Some(x) = self.find(|t| t.elem.is_numeric()) else {
            return self.const_of(&Type::scalar(Elem::Bool));
        };
        let t = self.ty(x);
        let axes: Vec<usize> = (0..t.rank()).collect();
        let s = self
            .push1(
                Op::Reduce {
                    op: ReduceOp::Sum,
                    axes,
                },
                &[x],
            )
            .expect("a full sum type-checks");
        let c = self.const_of(&Type::scalar(t.elem));
        self.push1(Op::Compare(CmpOp::Lt), &[s, c])
            .expect("comparing scalars type-checks")
    }

    // ---- ops ------------------------------------------------------------

    fn iota(&mut self) -> Option<Value> {
        let elem = if self.rng.chance(1, 2) {
            Elem::I64
        } else {
            Elem::F64
        };
        let rank = 1 + self.rng.below(3);
        let ty = Type::new(elem, self.shape(rank));
        let axis = self.rng.below(rank);
        self.push1(Op::Iota { ty, axis }, &[])
    }

    fn size(&mut self) -> Option<Value> {
        let a = self.dim();
        let b = self.dim();
        let k = Dim::Known(self.rng.below(5) as i64 - 2);
        let dim = match self.rng.below(3) {
            0 => a,
            1 => a.checked_mul(&b).ok()?.checked_add(&k).ok()?,
            _ => a.checked_sub(&k).ok()?,
        };
        let elem = if self.rng.chance(1, 2) {
            Elem::I64
        } else {
            Elem::F64
        };
        self.push1(Op::Size { dim, elem }, &[])
    }

    fn unary(&mut self) -> Option<Value> {
        let u = self.rng.pick(&UnaryOp::ALL);
        let fallback = if u.accepts(Elem::F64) {
            Elem::F64
        } else {
            Elem::Bool
        };
        let x = self.find_or(|t| u.accepts(t.elem), Type::scalar(fallback));
        self.push1(Op::Unary(u), &[x])
    }

    fn binary(&mut self) -> Option<Value> {
        let op = self.rng.pick(&BinaryOp::ALL);
        let fallback = if op.accepts(Elem::F64) {
            Elem::F64
        } else {
            Elem::I64
        };
        let a = self.find_or(|t| op.accepts(t.elem), Type::scalar(fallback));
        let ta = self.ty(a);
        let b = self.of_type(&ta);
        self.push1(Op::Binary(op), &[a, b])
    }

    fn compare(&mut self) -> Option<Value> {
        let c = self.rng.pick(&CmpOp::ALL);
        let ordered = !matches!(c, CmpOp::Eq | CmpOp::Ne);
        let a = self.find_or(|t| !ordered || t.elem.is_numeric(), Type::scalar(Elem::F64));
        let ta = self.ty(a);
        let b = self.of_type(&ta);
        self.push1(Op::Compare(c), &[a, b])
    }

    fn select(&mut self) -> Option<Value> {
        let a = self.recent();
        let ta = self.ty(a);
        let b = self.of_type(&ta);
        let cond_ty = ta.with_elem(Elem::Bool);
        let cond = match self.find(|t| *t == cond_ty) {
            Some(c) => c,
            None => self.push1(Op::Compare(CmpOp::Eq), &[a, b])?,
        };
        self.push1(Op::Select, &[cond, a, b])
    }

    fn broadcast(&mut self) -> Option<Value> {
        let x = self.find(|t| t.rank() <= 3)?;
        let tx = self.ty(x);
        let mut shape: Vec<Dim> = Vec::new();
        let mut dims = Vec::new();
        for d in tx.shape.dims() {
            if self.rng.chance(1, 3) {
                shape.push(self.dim());
            }
            dims.push(shape.len());
            let grown = if d.is(1) && self.rng.chance(1, 2) {
                self.dim()
            } else {
                d.clone()
            };
            shape.push(grown);
        }
        if self.rng.chance(1, 2) {
            shape.push(self.dim());
        }
        let op = Op::Broadcast {
            shape: Shape(shape),
            dims,
        };
        self.push1(op, &[x])
    }

    fn reduce(&mut self) -> Option<Value> {
        let op = self.rng.pick(&ReduceOp::ALL);
        let x = self.find(|t| t.elem.is_numeric())?;
        let rank = self.ty(x).rank();
        let axes: Vec<usize> = (0..rank).filter(|_| self.rng.chance(1, 2)).collect();
        self.push1(Op::Reduce { op, axes }, &[x])
    }

    fn reshape(&mut self) -> Option<Value> {
        let x = self.recent();
        let tx = self.ty(x);
        let count = tx.shape.element_count().ok()?;
        let shape = match (self.rng.below(3), count.known()) {
            (0, _) => vec![count],
            (1, Some(c)) if c > 1 => {
                let divisors: Vec<i64> = (1..=c).filter(|d| c % d == 0).collect();
                let d = self.rng.pick(&divisors);
                vec![Dim::Known(d), Dim::Known(c / d)]
            }
            _ => {
                let mut dims = tx.shape.0.clone();
                let at = self.rng.below(dims.len() + 1);
                dims.insert(at, Dim::ONE);
                dims
            }
        };
        self.push1(
            Op::Reshape {
                shape: Shape(shape),
            },
            &[x],
        )
    }

    fn transpose(&mut self) -> Option<Value> {
        let x = self.find(|t| t.rank() >= 1)?;
        let rank = self.ty(x).rank();
        let mut perm: Vec<usize> = (0..rank).collect();
        for i in (1..rank).rev() {
            let j = self.rng.below(i + 1);
            perm.swap(i, j);
        }
        self.push1(Op::Transpose { perm }, &[x])
    }

    /// A valid range of an axis of size `d`.
    fn range(&mut self, d: &Dim) -> SliceRange {
        if let Some(k) = d.known() {
            let k = k.max(0) as usize;
            let start = self.rng.below(k + 1);
            let stop = start + self.rng.below(k - start + 1);
            return SliceRange {
                start: Dim::from(start),
                stop: Dim::from(stop),
                step: 1 + self.rng.below(3) as u64,
            };
        }
        let (start, stop) = match (d.as_var(), self.rng.below(3)) {
            (Some(_), 1) => (Dim::ONE, d.clone()),
            (Some(_), 2) => (Dim::ZERO, d.checked_sub(&Dim::ONE).unwrap_or(Dim::ZERO)),
            _ => (Dim::ZERO, d.clone()),
        };
        SliceRange {
            start,
            stop,
            step: 1,
        }
    }

    fn slice(&mut self) -> Option<Value> {
        let x = self.recent();
        let tx = self.ty(x);
        let ranges = tx.shape.dims().iter().map(|d| self.range(d)).collect();
        self.push1(Op::Slice { ranges }, &[x])
    }

    fn concat(&mut self) -> Option<Value> {
        let x = self.find(|t| t.rank() >= 1)?;
        let tx = self.ty(x);
        let axis = self.rng.below(tx.rank());
        let mut args = vec![x];
        for _ in 0..self.rng.below(3) {
            let same_but_axis = |t: &Type| {
                t.elem == tx.elem
                    && t.rank() == tx.rank()
                    && (0..t.rank()).all(|i| i == axis || t.shape.0[i] == tx.shape.0[i])
            };
            let y = self.find(same_but_axis).unwrap_or(x);
            args.push(y);
        }
        self.push1(Op::Concat { axis }, &args)
    }

    fn pad(&mut self) -> Option<Value> {
        let x = self.recent();
        let tx = self.ty(x);
        let mut lo = Vec::new();
        let mut hi = Vec::new();
        let mut interior = Vec::new();
        for d in tx.shape.dims() {
            for side in [&mut lo, &mut hi] {
                side.push(if !self.vars.is_empty() && self.rng.chance(1, 6) {
                    Dim::var(&self.rng.pick(&self.vars))
                } else {
                    Dim::Known(self.rng.below(3) as i64)
                });
            }
            let inner = if d.known().is_some() && self.rng.chance(1, 3) {
                1 + self.rng.below(2) as u64
            } else {
                0
            };
            interior.push(inner);
        }
        let value = self.scalar(tx.elem);
        let op = Op::Pad {
            lo,
            hi,
            interior,
            value,
        };
        self.push1(op, &[x])
    }

    fn indices(&mut self) -> Value {
        let rank = self.rng.below(3);
        if let Some(v) = self.find(|t| t.elem == Elem::I64 && t.rank() == rank) {
            return v;
        }
        let shape = self.shape(rank);
        self.const_of(&Type::new(Elem::I64, shape))
    }

    fn gather(&mut self) -> Option<Value> {
        let x = self.find(|t| t.rank() >= 1)?;
        let axis = self.rng.below(self.ty(x).rank());
        let idx = self.indices();
        self.push1(Op::Gather { axis }, &[x, idx])
    }

    fn scatter_add(&mut self) -> Option<Value> {
        let u = self.find(|t| t.rank() >= 1 && t.elem.is_numeric())?;
        let tu = self.ty(u);
        let axis = self.rng.below(tu.rank());
        let k = self.rng.below((tu.rank() - axis).min(2) + 1);
        let idx_ty = Type::new(Elem::I64, Shape(tu.shape.0[axis..axis + k].to_vec()));
        let idx = self.of_type(&idx_ty);
        let size = self.dim();
        self.push1(Op::ScatterAdd { axis, size }, &[u, idx])
    }

    fn matmul(&mut self) -> Option<Value> {
        let a = match self.find(|t| (2..=3).contains(&t.rank()) && t.elem.is_numeric()) {
            Some(a) => a,
            None => {
                let shape = self.shape(2);
                self.const_of(&Type::new(Elem::F64, shape))
            }
        };
        let ta = self.ty(a);
        let r = ta.rank();
        let mut bdims = ta.shape.0[..r - 1].to_vec();
        bdims[r - 2] = ta.shape.0[r - 1].clone();
        bdims.push(self.dim());
        let b = self.of_type(&Type::new(ta.elem, Shape(bdims)));
        self.push1(Op::Matmul, &[a, b])
    }

    fn convert(&mut self) -> Option<Value> {
        let x = self.recent();
        let elem = random_elem(self.rng);
        self.push1(Op::Convert { elem }, &[x])
    }

    /// Arguments for a callee: its size variables bound to random dims.
    fn args_for(&mut self, params: &[Type]) -> Option<(Vec<Value>, HashMap<SizeVar, Dim>)> {
        let mut binding: HashMap<SizeVar, Dim> = HashMap::new();
        for p in params {
            for d in p.shape.dims() {
                if let Some(v) = d.as_var()
                    && !binding.contains_key(v)
                {
                    let d = self.dim();
                    binding.insert(v.clone(), d);
                }
            }
        }
        let mut args = Vec::new();
        for p in params {
            let t = substitute(p, &binding)?;
            args.push(self.of_type(&t));
        }
        Some((args, binding))
    }

    fn call(&mut self) -> Option<Value> {
        if self.helpers.calls.is_empty() {
            return None;
        }
        let func = self.rng.pick(&self.helpers.calls);
        let callee = self.module.get(&func)?;
        let (args, _) = self.args_for(&callee.param_types())?;
        self.push(Op::Call { func }, &args)?.first().copied()
    }

    fn scan(&mut self) -> Option<Value> {
        if self.helpers.scans.is_empty() {
            return None;
        }
        let (body, n_consts, n_carry) = self.rng.pick(&self.helpers.scans);
        let params = self.module.get(&body)?.param_types();
        let length = self.dim();
        // The step inputs are slices of the `xs` along a leading axis.
        let mut stacked = params.clone();
        for t in &mut stacked[n_consts + n_carry..] {
            t.shape.0.insert(0, length.clone());
        }
        let mut binding: HashMap<SizeVar, Dim> = HashMap::new();
        for p in &params {
            for d in p.shape.dims() {
                if let Some(v) = d.as_var()
                    && !binding.contains_key(v)
                {
                    let d = self.dim();
                    binding.insert(v.clone(), d);
                }
            }
        }
        let mut args = Vec::new();
        for t in &stacked {
            let t = substitute(t, &binding)?;
            args.push(self.of_type(&t));
        }
        let op = Op::Scan {
            body,
            length,
            reverse: self.rng.chance(1, 2),
            n_consts,
            n_carry,
            checkpoint: self.checkpoint(),
        };
        self.push(op, &args)?.last().copied()
    }

    fn while_loop(&mut self) -> Option<Value> {
        if self.helpers.whiles.is_empty() {
            return None;
        }
        let (cond, body, n_consts) = self.rng.pick(&self.helpers.whiles);
        let params = self.module.get(&body)?.param_types();
        let (args, _) = self.args_for(&params)?;
        let max_trips = Dim::Known(self.rng.below(6) as i64);
        let op = Op::While {
            cond,
            body,
            max_trips,
            n_consts,
            checkpoint: self.checkpoint(),
        };
        self.push(op, &args)?.first().copied()
    }

    /// A checkpoint policy: mostly the default, sometimes one with a small
    /// parameter (which only derivatives read).
    fn checkpoint(&mut self) -> Checkpoint {
        match self.rng.below(4) {
            0 => Checkpoint::Every(1 + self.rng.below(4) as u64),
            1 => Checkpoint::Binomial(1 + self.rng.below(3) as u64),
            _ => Checkpoint::All,
        }
    }
}

/// `t` with size variables replaced.
fn substitute(t: &Type, binding: &HashMap<SizeVar, Dim>) -> Option<Type> {
    let dims = t
        .shape
        .dims()
        .iter()
        .map(|d| d.substitute(binding).ok())
        .collect::<Option<Vec<_>>>()?;
    Some(Type::new(t.elem, Shape(dims)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modules_are_deterministic_and_cover_every_op() {
        let cfg = GenConfig::default();
        assert_eq!(random_module(7, &cfg), random_module(7, &cfg));
        let mut seen: Vec<&'static str> = Vec::new();
        for seed in 0..200 {
            let m = random_module(seed, &cfg);
            for f in m.functions() {
                for n in f.nodes() {
                    if !seen.contains(&n.op.name()) {
                        seen.push(n.op.name());
                    }
                }
            }
        }
        let mut all: Vec<&str> = vec![
            "const",
            "iota",
            "size",
            "select",
            "broadcast",
            "reshape",
            "transpose",
            "slice",
            "concat",
            "pad",
            "gather",
            "scatter_add",
            "matmul",
            "convert",
            "call",
            "scan",
            "while",
        ];
        all.extend(UnaryOp::ALL.iter().map(|u| u.name()));
        all.extend(BinaryOp::ALL.iter().map(|b| b.name()));
        all.extend(CmpOp::ALL.iter().map(|c| c.name()));
        all.extend(ReduceOp::ALL.iter().map(|r| r.name()));
        let missing: Vec<&&str> = all.iter().filter(|n| !seen.contains(n)).collect();
        assert!(missing.is_empty(), "never generated: {missing:?}");
    }
}
