//! The emitter: a [`FunctionBuilder`] plus the module being extended, with
//! one small method per op so that rules read like the formulas they encode.
//!
//! Invariants:
//! - Every node goes through [`FunctionBuilder::push`], so everything a
//!   transform emits is type-checked as it is built. The transforms verify
//!   their input first, so a type error here is a bug in a rule and is
//!   reported as [`AdError::Internal`].
//! - Derived values are named once, after the value they belong to
//!   (`%x_dot`, `%x_bar`); values the source function named keep their names.
//!   Names the builder invents (`%v12`) are left alone.

use super::AdError;
use adjit_ir::dim::DimOverflow;
use adjit_ir::{
    BinaryOp, CmpOp, ConstData, Dim, Elem, Function, FunctionBuilder, Module, Op, ReduceOp, Scalar,
    Shape, SliceRange, Type, TypeError, UnaryOp, Value,
};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

/// A derived function added to the module, and which of its optional
/// derivative outputs it actually has (the rest are symbolic zeros).
#[derive(Clone, Debug)]
pub(crate) struct Derived {
    /// The new function's name.
    pub name: String,
    /// One flag per requested derivative output: present (`true`) or a
    /// symbolic zero that was left out of the outputs (`false`).
    pub present: Vec<bool>,
}

/// The state shared by one transform and every derivative of a callee it
/// generates: the module grown so far and a memo of derived functions.
pub(crate) struct Ctx {
    /// The source functions plus every function generated so far.
    pub module: Module,
    /// Derived functions by a key naming the transform, the source function
    /// (quoted, so any function name gives an unambiguous key) and the
    /// transform's parameters.
    memo: HashMap<String, Derived>,
    /// The functions whose derivatives from custom rules are being built:
    /// needing another derivative of one of them meanwhile is a cycle (a
    /// rule whose own derivative needs the function's).
    pub(crate) building: HashSet<String>,
}

impl Ctx {
    /// A context extending a copy of `module`.
    pub fn new(module: &Module) -> Ctx {
        Ctx {
            module: module.clone(),
            memo: HashMap::new(),
            building: HashSet::new(),
        }
    }

    /// The source function `name`, cloned so the module can grow while it is read.
    pub fn source(&self, name: &str) -> Result<Function, AdError> {
        self.module
            .get(name)
            .cloned()
            .ok_or_else(|| AdError::UnknownFunction(name.to_string()))
    }

    /// A previously derived function.
    pub fn memo(&self, key: &str) -> Option<Derived> {
        self.memo.get(key).cloned()
    }

    /// Remembers an existing derived function under another key.
    pub fn remember(&mut self, key: String, d: Derived) {
        self.memo.insert(key, d);
    }

    /// Adds a finished function under a fresh name derived from `base`, and
    /// remembers it under `key`.
    pub fn add(
        &mut self,
        mut f: Function,
        base: &str,
        key: String,
        present: Vec<bool>,
    ) -> Result<Derived, AdError> {
        let name = self.module.fresh_name(base);
        f.set_name(&name);
        self.module.add(f).map_err(|e| AdError::Internal {
            message: e.to_string(),
        })?;
        let d = Derived { name, present };
        self.memo.insert(key, d.clone());
        Ok(d)
    }
}

/// Builds one function of a transform's output.
pub(crate) struct Emitter<'c> {
    b: FunctionBuilder,
    /// The module (for callee signatures) and the derived-function memo.
    pub ctx: &'c mut Ctx,
    /// Values whose names were chosen deliberately.
    named: HashSet<Value>,
}

impl From<TypeError> for AdError {
    fn from(e: TypeError) -> AdError {
        AdError::Internal {
            message: format!("a rule built an ill-typed node: {e}"),
        }
    }
}

impl From<DimOverflow> for AdError {
    fn from(_: DimOverflow) -> AdError {
        AdError::Overflow
    }
}

/// Whether a name is one the builder invents (`v12`, `v12_1`), which carries
/// no meaning worth keeping in a derived function.
fn is_invented(name: &str) -> bool {
    let Some(rest) = name.strip_prefix('v') else {
        return false;
    };
    !rest.is_empty()
        && rest
            .split('_')
            .all(|part| !part.is_empty() && part.bytes().all(|c| c.is_ascii_digit()))
}

impl<'c> Emitter<'c> {
    /// An emitter for a new function (named when it is added to the module).
    pub fn new(ctx: &'c mut Ctx) -> Emitter<'c> {
        Emitter {
            b: FunctionBuilder::new("derived"),
            ctx,
            named: HashSet::new(),
        }
    }

    /// Adds a parameter.
    pub fn param(&mut self, name: &str, ty: Type) -> Value {
        let v = self.b.param(name, ty);
        self.named.insert(v);
        v
    }

    /// Finishes the function.
    pub fn finish(self, outputs: &[Value]) -> Function {
        self.b.finish(outputs)
    }

    /// The number of values defined so far: values with a higher index were
    /// created later.
    pub fn mark(&self) -> usize {
        self.b.function().value_count()
    }

    /// A value's type.
    pub fn ty(&self, v: Value) -> &Type {
        self.b.ty(v)
    }

    /// A value's shape.
    pub fn shape(&self, v: Value) -> Shape {
        self.b.ty(v).shape.clone()
    }

    /// A value's element type.
    pub fn elem(&self, v: Value) -> Elem {
        self.b.ty(v).elem
    }

    /// A value's current name.
    pub fn name(&self, v: Value) -> String {
        self.b.function().value_name(v).to_string()
    }

    /// Gives a copied value the name it had in the source function, unless
    /// that name was invented by a builder.
    pub fn keep_name(&mut self, v: Value, source_name: &str) {
        if !is_invented(source_name) && !self.named.contains(&v) {
            self.b.set_name(v, source_name);
            self.named.insert(v);
        }
    }

    /// Names `v` `{of}{suffix}` if it was created at or after `since` and
    /// has not been named yet (a rule may return an existing value, such as
    /// the operand's tangent itself, which keeps its name).
    pub fn name_derived(&mut self, v: Value, since: usize, of: Value, suffix: &str) {
        let name = format!("{}{suffix}", self.name(of));
        self.name_new(v, since, &name);
    }

    /// Names `v` `name` if it was created at or after `since` and has not
    /// been named yet.
    pub fn name_new(&mut self, v: Value, since: usize, name: &str) {
        if v.index() >= since && !self.named.contains(&v) {
            self.b.set_name(v, name);
            self.named.insert(v);
        }
    }

    /// Adds a node; returns its results.
    pub fn push(&mut self, op: Op, args: &[Value]) -> Result<Vec<Value>, AdError> {
        Ok(self.b.push(op, args, &self.ctx.module)?)
    }

    /// Adds a single-result node.
    pub fn push1(&mut self, op: Op, args: &[Value]) -> Result<Value, AdError> {
        Ok(self.b.push1(op, args, &self.ctx.module)?)
    }

    /// A constant of type `ty` with every element `x`.
    pub fn splat(&mut self, ty: Type, x: f64) -> Result<Value, AdError> {
        let data = ConstData::Splat(Scalar::from_f64(ty.elem, x));
        self.push1(Op::Const { ty, data }, &[])
    }

    /// A constant of `v`'s type with every element `x`.
    pub fn splat_like(&mut self, v: Value, x: f64) -> Result<Value, AdError> {
        self.splat(self.ty(v).clone(), x)
    }

    /// Element `i` is its index along `axis`.
    pub fn iota(&mut self, ty: Type, axis: usize) -> Result<Value, AdError> {
        self.push1(Op::Iota { ty, axis }, &[])
    }

    /// The value of a dimension as a scalar.
    pub fn size(&mut self, dim: Dim, elem: Elem) -> Result<Value, AdError> {
        self.push1(Op::Size { dim, elem }, &[])
    }

    /// An elementwise unary op.
    pub fn unary(&mut self, u: UnaryOp, x: Value) -> Result<Value, AdError> {
        self.push1(Op::Unary(u), &[x])
    }

    /// An elementwise binary op.
    pub fn binary(&mut self, op: BinaryOp, a: Value, b: Value) -> Result<Value, AdError> {
        self.push1(Op::Binary(op), &[a, b])
    }

    /// `-x`.
    pub fn neg(&mut self, x: Value) -> Result<Value, AdError> {
        self.unary(UnaryOp::Neg, x)
    }

    /// `a + b`.
    pub fn add(&mut self, a: Value, b: Value) -> Result<Value, AdError> {
        self.binary(BinaryOp::Add, a, b)
    }

    /// `a - b`.
    pub fn sub(&mut self, a: Value, b: Value) -> Result<Value, AdError> {
        self.binary(BinaryOp::Sub, a, b)
    }

    /// `a * b`.
    pub fn mul(&mut self, a: Value, b: Value) -> Result<Value, AdError> {
        self.binary(BinaryOp::Mul, a, b)
    }

    /// `a / b`.
    pub fn div(&mut self, a: Value, b: Value) -> Result<Value, AdError> {
        self.binary(BinaryOp::Div, a, b)
    }

    /// `c + x` for a literal `c` (as `x`'s type).
    pub fn add_lit(&mut self, c: f64, x: Value) -> Result<Value, AdError> {
        let k = self.splat_like(x, c)?;
        self.add(k, x)
    }

    /// `c - x` for a literal `c`.
    pub fn lit_sub(&mut self, c: f64, x: Value) -> Result<Value, AdError> {
        let k = self.splat_like(x, c)?;
        self.sub(k, x)
    }

    /// `c * x` for a literal `c`.
    pub fn lit_mul(&mut self, c: f64, x: Value) -> Result<Value, AdError> {
        let k = self.splat_like(x, c)?;
        self.mul(k, x)
    }

    /// `a + b` where either may be a symbolic zero.
    pub fn add_opt(
        &mut self,
        a: Option<Value>,
        b: Option<Value>,
    ) -> Result<Option<Value>, AdError> {
        Ok(match (a, b) {
            (Some(a), Some(b)) => Some(self.add(a, b)?),
            (a, None) => a,
            (None, b) => b,
        })
    }

    /// An elementwise comparison.
    pub fn cmp(&mut self, c: CmpOp, a: Value, b: Value) -> Result<Value, AdError> {
        self.push1(Op::Compare(c), &[a, b])
    }

    /// `cond ? t : f`.
    pub fn select(&mut self, cond: Value, t: Value, f: Value) -> Result<Value, AdError> {
        self.push1(Op::Select, &[cond, t, f])
    }

    /// Converts elements to `elem` (no node if already of that type).
    pub fn convert(&mut self, x: Value, elem: Elem) -> Result<Value, AdError> {
        if self.elem(x) == elem {
            return Ok(x);
        }
        self.push1(Op::Convert { elem }, &[x])
    }

    /// Broadcasts `x` to `shape`, operand axis `i` going to result axis `dims[i]`.
    pub fn broadcast(
        &mut self,
        x: Value,
        shape: Shape,
        dims: Vec<usize>,
    ) -> Result<Value, AdError> {
        if self.shape(x) == shape {
            return Ok(x);
        }
        self.push1(Op::Broadcast { shape, dims }, &[x])
    }

    /// A reduction over `axes` (no node for no axes).
    pub fn reduce(&mut self, op: ReduceOp, x: Value, axes: Vec<usize>) -> Result<Value, AdError> {
        if axes.is_empty() {
            return Ok(x);
        }
        self.push1(Op::Reduce { op, axes }, &[x])
    }

    /// Sum over `axes`.
    pub fn reduce_sum(&mut self, x: Value, axes: Vec<usize>) -> Result<Value, AdError> {
        self.reduce(ReduceOp::Sum, x, axes)
    }

    /// Same elements, new shape (no node if the shape is unchanged).
    pub fn reshape(&mut self, x: Value, shape: Shape) -> Result<Value, AdError> {
        if self.shape(x) == shape {
            return Ok(x);
        }
        self.push1(Op::Reshape { shape }, &[x])
    }

    /// Permutes axes (no node for the identity).
    pub fn transpose(&mut self, x: Value, perm: Vec<usize>) -> Result<Value, AdError> {
        if perm.iter().enumerate().all(|(i, &p)| i == p) {
            return Ok(x);
        }
        self.push1(Op::Transpose { perm }, &[x])
    }

    /// Swaps the last two axes.
    pub fn swap_last_two(&mut self, x: Value) -> Result<Value, AdError> {
        let r = self.ty(x).rank();
        let mut perm: Vec<usize> = (0..r).collect();
        perm.swap(r - 2, r - 1);
        self.transpose(x, perm)
    }

    /// A strided box.
    pub fn slice(&mut self, x: Value, ranges: Vec<SliceRange>) -> Result<Value, AdError> {
        self.push1(Op::Slice { ranges }, &[x])
    }

    /// `start..stop` along `axis`, everything along the other axes.
    pub fn slice_axis(
        &mut self,
        x: Value,
        axis: usize,
        start: Dim,
        stop: Dim,
    ) -> Result<Value, AdError> {
        let ranges = self
            .shape(x)
            .dims()
            .iter()
            .enumerate()
            .map(|(i, d)| SliceRange {
                start: if i == axis { start.clone() } else { Dim::ZERO },
                stop: if i == axis { stop.clone() } else { d.clone() },
                step: 1,
            })
            .collect();
        self.slice(x, ranges)
    }

    /// Pads with zeros.
    pub fn pad_zero(
        &mut self,
        x: Value,
        lo: Vec<Dim>,
        hi: Vec<Dim>,
        interior: Vec<u64>,
    ) -> Result<Value, AdError> {
        self.pad(x, lo, hi, interior, 0.0)
    }

    /// Pads with the literal `value`.
    pub fn pad(
        &mut self,
        x: Value,
        lo: Vec<Dim>,
        hi: Vec<Dim>,
        interior: Vec<u64>,
        value: f64,
    ) -> Result<Value, AdError> {
        let value = Scalar::from_f64(self.elem(x), value);
        self.push1(
            Op::Pad {
                lo,
                hi,
                interior,
                value,
            },
            &[x],
        )
    }

    /// Joins values along `axis`.
    pub fn concat(&mut self, xs: &[Value], axis: usize) -> Result<Value, AdError> {
        self.push1(Op::Concat { axis }, xs)
    }

    /// Takes entries of `x` along `axis`.
    pub fn gather(&mut self, x: Value, indices: Value, axis: usize) -> Result<Value, AdError> {
        self.push1(Op::Gather { axis }, &[x, indices])
    }

    /// Adds slices of `updates` into zeros at `indices` along `axis`.
    pub fn scatter_add(
        &mut self,
        updates: Value,
        indices: Value,
        axis: usize,
        size: Dim,
    ) -> Result<Value, AdError> {
        self.push1(Op::ScatterAdd { axis, size }, &[updates, indices])
    }

    /// Batched matrix product.
    pub fn matmul(&mut self, a: Value, b: Value) -> Result<Value, AdError> {
        self.push1(Op::Matmul, &[a, b])
    }

    /// Calls a function of the module.
    pub fn call(&mut self, func: &str, args: &[Value]) -> Result<Vec<Value>, AdError> {
        self.push(
            Op::Call {
                func: Arc::from(func),
            },
            args,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::is_invented;

    #[test]
    fn invented_names() {
        assert!(is_invented("v12"));
        assert!(is_invented("v12_1"));
        assert!(!is_invented("v"));
        assert!(!is_invented("v_1"));
        assert!(!is_invented("val"));
        assert!(!is_invented("x"));
        assert!(!is_invented("v1__2"));
    }
}
