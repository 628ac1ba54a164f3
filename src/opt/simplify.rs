//! Algebraic simplification: exact rewrites of single nodes, and the shape
//! patterns automatic differentiation produces.
//!
//! One sweep over the nodes in definition order. Each node is matched against
//! the rules of its op, looking at its operands *as already rewritten*, so
//! chains (`neg(neg(neg x))`, `transpose(transpose(transpose x))`) collapse in
//! one sweep. A rule replaces the node by an existing value, or by at most one
//! new node, or by two when it also frees an operand node that has no other
//! use; so it does not grow the function (except the opt-in reassociating
//! rules; new constants are merged by CSE).
//!
//! # Exactness
//!
//! "Exact" means bitwise-identical results for every input, ±0, ±∞ and NaN
//! included; only a NaN's payload and sign may differ. For IEEE-754 floats
//! the arguments rest on four facts:
//! 1. `a − b` is defined as `a + (−b)`, zeros' signs included.
//! 2. `+` and `·` are commutative bit for bit (up to the NaN payload).
//! 3. Rounding is symmetric in sign, and `·` and `/` take the exclusive-or of
//!    the operands' signs, so `(−a)·(−b) = a·b` and `(−a)/(−b) = a/b`;
//!    multiplying by ±1 or dividing by 1 is exact (no rounding).
//! 4. `−0` is the additive identity (`−0 + x = x` for every `x`, including
//!    `x = +0`), while `+0` is not (`+0 + −0 = +0`). Hence `x + (−0) → x` and
//!    `x − (+0) → x` are exact, `x + 0 → x` is **not**.
//!
//! Deliberately absent, because they are wrong for some input: `x · 0 → 0`
//! and `0 / x → 0` (NaN, ∞, and the sign of zero), `x − x → 0` and `x / x → 1`
//! (NaN, ∞), `x + 0 → x` and `0 − x → −x` (−0), `eq(x, x) → true` on floats
//! (NaN), `max(x, +∞) → +∞` (NaN), `recip(recip x) → x` and `exp(log x) → x`
//! (rounding), `pow(x, 1) → x` and `pow(x, 2) → x·x` (they depend on the
//! math library's `pow`), `(−a) − b → −(a + b)` (`a = +0, b = −0`).
//! For `i64` (two's complement, wrapping) and `bool` the ring laws hold, so
//! more rules apply there: `x · 0 → 0`, `x − x → 0`, `x + 0 → x`, `x / 0 → 0`
//! (the IR defines integer division by zero as 0), …
//!
//! # Rules
//!
//! Each rule's name (used in the statistics) is given with its exactness argument.
//!
//! Elementwise (`c` is a splat constant, possibly broadcast):
//! - `neg.neg` — `neg(neg x) → x`: negation flips the sign bit; twice restores it.
//! - `abs.neg` — `abs(neg x) → abs x`: `abs` clears the sign bit (wrapping for `i64`).
//! - `abs.abs` — `abs(abs x) → abs x`: idempotent.
//! - `not.not` — `not(not x) → x`: involution on bits.
//! - `round.round` — `f(g x) → g x` for `f, g ∈ {floor, ceil, round}`:
//!   `g x` is an integer, ±0, ±∞ or NaN, all fixed points of `f` (sign kept).
//! - `sign.sign` — `sign(sign x) → sign x`: −1, ±0, 1 and NaN are fixed points.
//! - `add.neg_zero` — `x + (−0.0) → x`, `(−0.0) + x → x` (fact 4).
//! - `add.zero` — `x + 0 → x` on `i64`.
//! - `add.neg` — `x + neg y → x − y`, `neg y + x → x − y` (facts 1, 2).
//! - `sub.zero` — `x − (+0.0) → x` (facts 1, 4); `x − 0 → x` on `i64`.
//! - `sub.from_zero` — `(−0.0) − x → neg x` (facts 1, 4); `0 − x → neg x` on `i64`.
//! - `sub.neg` — `x − neg y → x + y` (fact 1).
//! - `sub.self` — `x − x → 0` on `i64` only.
//! - `mul.one` — `x · 1 → x`, `1 · x → x` (fact 3).
//! - `mul.neg_one` — `x · (−1) → neg x`, `(−1) · x → neg x` (fact 3).
//! - `mul.neg_neg` — `neg x · neg y → x · y` (fact 3; a ring law for `i64`).
//! - `mul.neg_out` — `neg x · y → neg(x · y)`, `x · neg y → neg(x · y)` when
//!   the negation has no other use (fact 3; a ring law for `i64`). Moves
//!   negations outwards, where `add.neg`, `sub.neg` and `neg.neg` absorb them
//!   (AD writes `ct · neg(sin x)` for `cos`).
//! - `mul.zero` — `x · 0 → 0` on `i64` only.
//! - `div.one` — `x / 1 → x` (fact 3; truncation is exact for `i64`).
//! - `div.neg_one` — `x / (−1) → neg x` (fact 3; on `i64` the IR defines
//!   `MIN / −1 = MIN`, which is the wrapping `neg MIN`).
//! - `div.neg_neg` — `neg x / neg y → x / y` on floats (fact 3).
//! - `div.neg_out` — `neg x / y → neg(x / y)`, `x / neg y → neg(x / y)` on
//!   floats, when the negation has no other use (fact 3). Not on `i64`:
//!   `(−MIN) / 2 ≠ −(MIN / 2)`.
//! - `div.zero` — `x / 0 → 0` and `0 / x → 0` on `i64` (the IR's integer division).
//! - `minmax.self` — `min(x, x) → x`, `max(x, x) → x`.
//! - `minmax.identity` — `max(x, −∞) → x`, `min(x, +∞) → x` (NaN propagates
//!   from `x`; `max(−0, −∞) = −0`); with `i64::MIN`/`i64::MAX` on `i64`.
//! - `minmax.absorb` — `max(x, i64::MAX) → i64::MAX`, `min(x, i64::MIN) →
//!   i64::MIN` on `i64` only (floats: NaN).
//! - `logic.self` — `and(x, x) → x`, `or(x, x) → x`.
//! - `logic.identity` — `and(x, all-ones) → x`, `or(x, 0) → x` (`bool`: true/false).
//! - `logic.absorb` — `and(x, 0) → 0`, `or(x, all-ones) → all-ones`.
//! - `cmp.self` — on `i64`/`bool`: `eq, le, ge (x, x) → true`, `ne, lt, gt (x, x)
//!   → false`; on floats only `lt, gt (x, x) → false` (false for NaN too).
//! - `cmp.bool` — `eq(x, true) → x`, `ne(x, false) → x`, `eq(x, false) → not x`,
//!   `ne(x, true) → not x` on `bool`.
//! - `select.same` — `select(c, x, x) → x`.
//! - `select.const` — `select(true, x, y) → x`, `select(false, x, y) → y`.
//! - `select.not` — `select(not c, x, y) → select(c, y, x)`.
//! - `select.bool` — `select(c, true, false) → c`, `select(c, false, true) → not c`.
//! - `convert.identity` — `convert(x, T) → x` when `x: T`.
//! - `convert.convert` — `convert(convert(x, A), B) → convert(x, B)` when
//!   converting `x` to `A` is exact and injective (`bool` → anything, `f32` →
//!   `f64`): the first conversion loses nothing, and converting its result to
//!   `B` is converting the same number (for `bool` → `A` → `bool`, 0/1 back).
//!
//! Shapes (pure data movement, exact by construction):
//! - `broadcast.identity` — a broadcast to the operand's own shape with dims
//!   `0..rank` is the operand.
//! - `broadcast.broadcast` — `broadcast(broadcast(x, s1, d1), s2, d2) →
//!   broadcast(x, s2, d2∘d1)`: result index `r` reads `x` at `r[d2[d1[i]]]`
//!   (or 0 where `x` has size 1) either way.
//! - `transpose.identity`, `transpose.transpose` — permutations compose:
//!   `transpose(transpose(x, p), q) = transpose(x, i ↦ p[q[i]])`.
//! - `reshape.identity`, `reshape.reshape` — row-major order is preserved by
//!   each reshape, so only the last shape matters.
//! - `slice.full` — a slice `0:dim:1` on every axis is the operand.
//! - `slice.slice` — nested slices compose (`a+c : a+d` for unit steps; with
//!   strides when all bounds are known).
//! - `pad.zero` — padding by zero everywhere is the operand.
//! - `pad.pad` — nested edge paddings with the same value (bitwise) add up.
//! - `concat.single` — a concat of one operand is the operand.
//! - `concat.empty` — operands of known size 0 along the axis are dropped.
//!
//! Reductions:
//! - `reduce.unit_axes` — a reduction over axes of known size 1 (or over no
//!   axis) reduces one element per output: a reshape. The interpreter folds
//!   from the identity, and `1 · x`, `max(−∞, x)`, `min(+∞, x)` and the
//!   wrapping `0 + x` are `x` bit for bit, so this is exact for `reduce_prod`,
//!   `reduce_max`, `reduce_min` and integer `reduce_sum`. A float
//!   `reduce_sum` computes `+0 + x`, which turns `−0` into `+0`, so there it
//!   is applied only with [`Options::reassociate`].
//! - `reduce.empty` — a reduction over an axis of known size 0 is a splat of
//!   the reduction's identity (the documented result for no elements).
//! - `reduce.broadcast_copies` — `reduce_max`/`reduce_min` over axes a
//!   broadcast created (or stretched from size 1) of a known non-zero count:
//!   the maximum of copies of `x` is `x`, NaN and ±0 included. Rewritten to the
//!   broadcast without those axes.
//! - `reduce.sum_copies` — `reduce_sum` over broadcast axes of `k` copies of
//!   `x` → `x · k`. Exact for `i64` (wrapping addition of `k` copies is
//!   wrapping multiplication by `k`), applied when it does not grow the
//!   function. For floats it is **not** exact (summing `k` copies rounds at
//!   each step, `k · x` once: with `k = 3`, `x = 0.1` the two differ in the
//!   last bit for some `x`, and a running sum can overflow where `k · x` does
//!   not, or vice versa), so it is applied to floats only with
//!   [`Options::reassociate`].

use super::rewrite::Rewriter;
use super::{OptError, Options, Outcome, Pass, Rewritten, count};
use adjit_ir::typing::reduce_identity;
use adjit_ir::{
    BinaryOp, CmpOp, ConstData, Dim, Elem, Function, Module, Op, ReduceOp, Scalar, Shape,
    SliceRange, Type, UnaryOp, Value,
};
use std::collections::BTreeMap;

/// A predicate on literals.
type ScalarTest = fn(Scalar) -> bool;

/// What a rule did: its name and the values replacing the node's results.
type Fired = Option<(&'static str, Vec<Value>)>;

/// Applies the rules above once over every node of `f`.
pub fn simplify(module: &Module, f: &Function, options: &Options) -> Result<Rewritten, OptError> {
    run(module, f, options).map(|o| o.into_rewritten(f))
}

/// [`simplify`] without copying `f` if nothing changes.
pub(crate) fn run(module: &Module, f: &Function, options: &Options) -> Result<Outcome, OptError> {
    let mut rw = Rewriter::new(Pass::Simplify, module, f);
    let uses = f.use_counts();
    let mut rules = BTreeMap::new();
    for node in f.nodes() {
        let args = rw.args(node);
        let single_use: Vec<bool> = node.args.iter().map(|a| uses[a.index()] == 1).collect();
        let mut s = Simplifier {
            rw: &mut rw,
            options,
            single_use: &single_use,
        };
        match s.rules(&node.op, &args)? {
            Some((rule, values)) => {
                rw.bind_all(node, &values)?;
                count(&mut rules, rule);
            }
            None => {
                rw.copy(node, &args)?;
            }
        }
    }
    if rules.is_empty() {
        return Ok(Outcome::unchanged());
    }
    Ok(Outcome::new(rw.finish()?, rules))
}

/// The splat value of `v` if it is a constant with every element equal
/// (bitwise), possibly broadcast.
pub(crate) fn splat_value(rw: &Rewriter<'_>, mut v: Value) -> Option<Scalar> {
    loop {
        match rw.def(v)? {
            (
                Op::Const {
                    data: ConstData::Splat(s),
                    ..
                },
                _,
            ) => return Some(*s),
            (
                Op::Const {
                    data: ConstData::Dense(items),
                    ..
                },
                _,
            ) => {
                let first = *items.first()?;
                return items.iter().all(|&x| x == first).then_some(first);
            }
            (Op::Broadcast { .. }, [x]) => v = *x,
            _ => return None,
        }
    }
}

/// Whether `s` is the float `x` (bitwise, so `-0.0` and `0.0` differ).
fn is_float(s: Scalar, x: f64) -> bool {
    match s {
        Scalar::F64(y) => y.to_bits() == x.to_bits(),
        Scalar::F32(y) => y.to_bits() == (x as f32).to_bits(),
        Scalar::I64(_) | Scalar::Bool(_) => false,
    }
}

/// Whether `s` is the integer `k`.
fn is_int(s: Scalar, k: i64) -> bool {
    s == Scalar::I64(k)
}

/// Whether `s` is the number one (any numeric type).
fn is_one(s: Scalar) -> bool {
    is_float(s, 1.0) || is_int(s, 1)
}

/// Whether `s` is minus one (any numeric type).
fn is_minus_one(s: Scalar) -> bool {
    is_float(s, -1.0) || is_int(s, -1)
}

/// Whether `s` has no bit set (`false`, `0`).
fn is_no_bits(s: Scalar) -> bool {
    s == Scalar::Bool(false) || s == Scalar::I64(0)
}

/// Whether `s` has every bit set (`true`, `-1`).
fn is_all_bits(s: Scalar) -> bool {
    s == Scalar::Bool(true) || s == Scalar::I64(-1)
}

struct Simplifier<'r, 'a> {
    rw: &'r mut Rewriter<'a>,
    options: &'r Options,
    /// Per operand: it has no other use in the old function, so a rule that
    /// stops using it frees its node.
    single_use: &'r [bool],
}

/// A rule replacing the node by one value.
fn to(rule: &'static str, v: Value) -> Result<Fired, OptError> {
    Ok(Some((rule, vec![v])))
}

impl Simplifier<'_, '_> {
    fn splat(&self, v: Value) -> Option<Scalar> {
        splat_value(self.rw, v)
    }

    fn elem(&self, v: Value) -> Elem {
        self.rw.ty(v).elem
    }

    /// The operand of `v`'s defining node if it is the unary op `u`.
    fn unary_arg(&self, v: Value, u: UnaryOp) -> Option<Value> {
        match self.rw.def(v)? {
            (Op::Unary(w), [x]) if *w == u => Some(*x),
            _ => None,
        }
    }

    fn emit(&mut self, op: Op, args: &[Value]) -> Result<Value, OptError> {
        self.rw.emit1(op, args)
    }

    fn splat_const(&mut self, ty: Type, s: Scalar) -> Result<Value, OptError> {
        self.emit(
            Op::Const {
                ty,
                data: ConstData::Splat(s),
            },
            &[],
        )
    }

    fn rules(&mut self, op: &Op, args: &[Value]) -> Result<Fired, OptError> {
        match op {
            Op::Unary(u) => self.unary(*u, args[0]),
            Op::Binary(b) => self.binary(*b, args[0], args[1]),
            Op::Compare(c) => self.compare(*c, args[0], args[1]),
            Op::Select => self.select(args[0], args[1], args[2]),
            Op::Broadcast { shape, dims } => self.broadcast(shape, dims, args[0]),
            Op::Reduce { op, axes } => self.reduce(*op, axes, args[0]),
            Op::Reshape { shape } => self.reshape(shape, args[0]),
            Op::Transpose { perm } => self.transpose(perm, args[0]),
            Op::Slice { ranges } => self.slice(ranges, args[0]),
            Op::Concat { axis } => self.concat(*axis, args),
            Op::Pad {
                lo,
                hi,
                interior,
                value,
            } => self.pad(lo, hi, interior, *value, args[0]),
            Op::Convert { elem } => self.convert(*elem, args[0]),
            Op::Const { .. }
            | Op::Iota { .. }
            | Op::Size { .. }
            | Op::Gather { .. }
            | Op::ScatterAdd { .. }
            | Op::Matmul
            | Op::Call { .. }
            | Op::Scan { .. }
            | Op::While { .. }
            | Op::ScanAdjoint { .. } => Ok(None),
        }
    }

    fn unary(&mut self, u: UnaryOp, x: Value) -> Result<Fired, OptError> {
        let inner = |s: &Self| match s.rw.def(x) {
            Some((Op::Unary(w), [y])) => Some((*w, *y)),
            _ => None,
        };
        let Some((w, y)) = inner(self) else {
            return Ok(None);
        };
        match (u, w) {
            (UnaryOp::Neg, UnaryOp::Neg) | (UnaryOp::Not, UnaryOp::Not) => to(
                if u == UnaryOp::Neg {
                    "neg.neg"
                } else {
                    "not.not"
                },
                y,
            ),
            (UnaryOp::Abs, UnaryOp::Neg) => {
                let v = self.emit(Op::Unary(UnaryOp::Abs), &[y])?;
                to("abs.neg", v)
            }
            (UnaryOp::Abs, UnaryOp::Abs) => to("abs.abs", x),
            (UnaryOp::Sign, UnaryOp::Sign) => to("sign.sign", x),
            (
                UnaryOp::Floor | UnaryOp::Ceil | UnaryOp::Round,
                UnaryOp::Floor | UnaryOp::Ceil | UnaryOp::Round,
            ) => to("round.round", x),
            _ => Ok(None),
        }
    }

    fn binary(&mut self, b: BinaryOp, x: Value, y: Value) -> Result<Fired, OptError> {
        let elem = self.elem(x);
        let float = elem.is_float();
        let int = elem == Elem::I64;
        let (sx, sy) = (self.splat(x), self.splat(y));
        let neg = |s: &Self, v| s.unary_arg(v, UnaryOp::Neg);
        match b {
            BinaryOp::Add => {
                if float && sy.is_some_and(|s| is_float(s, -0.0)) {
                    return to("add.neg_zero", x);
                }
                if float && sx.is_some_and(|s| is_float(s, -0.0)) {
                    return to("add.neg_zero", y);
                }
                if int && sy.is_some_and(|s| is_int(s, 0)) {
                    return to("add.zero", x);
                }
                if int && sx.is_some_and(|s| is_int(s, 0)) {
                    return to("add.zero", y);
                }
                if let Some(z) = neg(self, y) {
                    let v = self.emit(Op::Binary(BinaryOp::Sub), &[x, z])?;
                    return to("add.neg", v);
                }
                if let Some(z) = neg(self, x) {
                    let v = self.emit(Op::Binary(BinaryOp::Sub), &[y, z])?;
                    return to("add.neg", v);
                }
                Ok(None)
            }
            BinaryOp::Sub => {
                if (float && sy.is_some_and(|s| is_float(s, 0.0)))
                    || (int && sy.is_some_and(|s| is_int(s, 0)))
                {
                    return to("sub.zero", x);
                }
                if (float && sx.is_some_and(|s| is_float(s, -0.0)))
                    || (int && sx.is_some_and(|s| is_int(s, 0)))
                {
                    let v = self.emit(Op::Unary(UnaryOp::Neg), &[y])?;
                    return to("sub.from_zero", v);
                }
                if let Some(z) = neg(self, y) {
                    let v = self.emit(Op::Binary(BinaryOp::Add), &[x, z])?;
                    return to("sub.neg", v);
                }
                if int && x == y {
                    let ty = self.rw.ty(x).clone();
                    let v = self.splat_const(ty, Scalar::I64(0))?;
                    return to("sub.self", v);
                }
                Ok(None)
            }
            BinaryOp::Mul => {
                if sy.is_some_and(is_one) {
                    return to("mul.one", x);
                }
                if sx.is_some_and(is_one) {
                    return to("mul.one", y);
                }
                if sy.is_some_and(is_minus_one) {
                    let v = self.emit(Op::Unary(UnaryOp::Neg), &[x])?;
                    return to("mul.neg_one", v);
                }
                if sx.is_some_and(is_minus_one) {
                    let v = self.emit(Op::Unary(UnaryOp::Neg), &[y])?;
                    return to("mul.neg_one", v);
                }
                if int && sy.is_some_and(|s| is_int(s, 0)) {
                    return to("mul.zero", y);
                }
                if int && sx.is_some_and(|s| is_int(s, 0)) {
                    return to("mul.zero", x);
                }
                if let (Some(a), Some(c)) = (neg(self, x), neg(self, y)) {
                    let v = self.emit(Op::Binary(BinaryOp::Mul), &[a, c])?;
                    return to("mul.neg_neg", v);
                }
                self.neg_out(BinaryOp::Mul, x, y, "mul.neg_out")
            }
            BinaryOp::Div => {
                if sy.is_some_and(is_one) {
                    return to("div.one", x);
                }
                if sy.is_some_and(is_minus_one) {
                    let v = self.emit(Op::Unary(UnaryOp::Neg), &[x])?;
                    return to("div.neg_one", v);
                }
                if int && sy.is_some_and(|s| is_int(s, 0)) {
                    return to("div.zero", y);
                }
                if int && sx.is_some_and(|s| is_int(s, 0)) {
                    return to("div.zero", x);
                }
                if float && let (Some(a), Some(c)) = (neg(self, x), neg(self, y)) {
                    let v = self.emit(Op::Binary(BinaryOp::Div), &[a, c])?;
                    return to("div.neg_neg", v);
                }
                if float {
                    return self.neg_out(BinaryOp::Div, x, y, "div.neg_out");
                }
                Ok(None)
            }
            BinaryOp::Min | BinaryOp::Max => {
                if x == y {
                    return to("minmax.self", x);
                }
                let is_max = b == BinaryOp::Max;
                let identity = |s: Scalar| match (s, is_max) {
                    (Scalar::I64(k), true) => k == i64::MIN,
                    (Scalar::I64(k), false) => k == i64::MAX,
                    (_, true) => is_float(s, f64::NEG_INFINITY),
                    (_, false) => is_float(s, f64::INFINITY),
                };
                let absorbing = |s: Scalar| match (s, is_max) {
                    (Scalar::I64(k), true) => k == i64::MAX,
                    (Scalar::I64(k), false) => k == i64::MIN,
                    _ => false,
                };
                if sy.is_some_and(identity) {
                    return to("minmax.identity", x);
                }
                if sx.is_some_and(identity) {
                    return to("minmax.identity", y);
                }
                if sy.is_some_and(absorbing) {
                    return to("minmax.absorb", y);
                }
                if sx.is_some_and(absorbing) {
                    return to("minmax.absorb", x);
                }
                Ok(None)
            }
            BinaryOp::And | BinaryOp::Or => {
                if x == y {
                    return to("logic.self", x);
                }
                let (identity, absorbing): (ScalarTest, ScalarTest) = if b == BinaryOp::And {
                    (is_all_bits, is_no_bits)
                } else {
                    (is_no_bits, is_all_bits)
                };
                if sy.is_some_and(identity) {
                    return to("logic.identity", x);
                }
                if sx.is_some_and(identity) {
                    return to("logic.identity", y);
                }
                if sy.is_some_and(absorbing) {
                    return to("logic.absorb", y);
                }
                if sx.is_some_and(absorbing) {
                    return to("logic.absorb", x);
                }
                Ok(None)
            }
            BinaryOp::Pow | BinaryOp::Atan2 => Ok(None),
        }
    }

    /// `neg a ∘ b → neg(a ∘ b)` and `a ∘ neg b → neg(a ∘ b)`, when the
    /// negation has no other use (so the node count stays the same), letting
    /// an enclosing `add`/`sub`/`neg` absorb the negation.
    fn neg_out(
        &mut self,
        op: BinaryOp,
        x: Value,
        y: Value,
        rule: &'static str,
    ) -> Result<Fired, OptError> {
        let (a, b) = match (
            self.unary_arg(x, UnaryOp::Neg),
            self.unary_arg(y, UnaryOp::Neg),
        ) {
            (Some(a), None) if self.single_use[0] => (a, y),
            (None, Some(b)) if self.single_use[1] => (x, b),
            _ => return Ok(None),
        };
        let inner = self.emit(Op::Binary(op), &[a, b])?;
        let v = self.emit(Op::Unary(UnaryOp::Neg), &[inner])?;
        to(rule, v)
    }

    fn compare(&mut self, c: CmpOp, x: Value, y: Value) -> Result<Fired, OptError> {
        let elem = self.elem(x);
        let bool_ty = self.rw.ty(x).with_elem(Elem::Bool);
        if x == y {
            let answer = match (c, elem.is_float()) {
                (CmpOp::Lt | CmpOp::Gt, _) => Some(false),
                (CmpOp::Eq | CmpOp::Le | CmpOp::Ge, false) => Some(true),
                (CmpOp::Ne, false) => Some(false),
                (CmpOp::Eq | CmpOp::Ne | CmpOp::Le | CmpOp::Ge, true) => None,
            };
            if let Some(a) = answer {
                let v = self.splat_const(bool_ty, Scalar::Bool(a))?;
                return to("cmp.self", v);
            }
        }
        if elem == Elem::Bool {
            let (sx, sy) = (self.splat(x), self.splat(y));
            let (other, lit) = match (sx, sy) {
                (_, Some(Scalar::Bool(b))) => (x, b),
                (Some(Scalar::Bool(b)), _) => (y, b),
                _ => return Ok(None),
            };
            // eq(x, true) and ne(x, false) are x; the other two are not x.
            let same = (c == CmpOp::Eq) == lit;
            if same {
                return to("cmp.bool", other);
            }
            let v = self.emit(Op::Unary(UnaryOp::Not), &[other])?;
            return to("cmp.bool", v);
        }
        Ok(None)
    }

    fn select(&mut self, c: Value, t: Value, f: Value) -> Result<Fired, OptError> {
        if t == f {
            return to("select.same", t);
        }
        match self.splat(c) {
            Some(Scalar::Bool(true)) => return to("select.const", t),
            Some(Scalar::Bool(false)) => return to("select.const", f),
            _ => {}
        }
        if let Some(inner) = self.unary_arg(c, UnaryOp::Not) {
            let v = self.emit(Op::Select, &[inner, f, t])?;
            return to("select.not", v);
        }
        match (self.splat(t), self.splat(f)) {
            (Some(Scalar::Bool(true)), Some(Scalar::Bool(false))) => to("select.bool", c),
            (Some(Scalar::Bool(false)), Some(Scalar::Bool(true))) => {
                let v = self.emit(Op::Unary(UnaryOp::Not), &[c])?;
                to("select.bool", v)
            }
            _ => Ok(None),
        }
    }

    fn convert(&mut self, elem: Elem, x: Value) -> Result<Fired, OptError> {
        if self.elem(x) == elem {
            return to("convert.identity", x);
        }
        let Some((Op::Convert { elem: mid }, [y])) = self.rw.def(x) else {
            return Ok(None);
        };
        let (mid, y) = (*mid, *y);
        let from = self.elem(y);
        let exact = from == Elem::Bool || (from == Elem::F32 && mid == Elem::F64);
        if !exact {
            return Ok(None);
        }
        if from == elem {
            return to("convert.convert", y);
        }
        let v = self.emit(Op::Convert { elem }, &[y])?;
        to("convert.convert", v)
    }

    fn broadcast(&mut self, shape: &Shape, dims: &[usize], x: Value) -> Result<Fired, OptError> {
        let xs = &self.rw.ty(x).shape;
        if xs == shape && dims.iter().enumerate().all(|(i, &d)| i == d) {
            return to("broadcast.identity", x);
        }
        let Some((Op::Broadcast { dims: inner, .. }, [y])) = self.rw.def(x) else {
            return Ok(None);
        };
        let y = *y;
        let composed: Vec<usize> = inner.iter().map(|&d| dims[d]).collect();
        let v = self.emit(
            Op::Broadcast {
                shape: shape.clone(),
                dims: composed,
            },
            &[y],
        )?;
        to("broadcast.broadcast", v)
    }

    fn transpose(&mut self, perm: &[usize], x: Value) -> Result<Fired, OptError> {
        let is_identity = |p: &[usize]| p.iter().enumerate().all(|(i, &q)| i == q);
        if is_identity(perm) {
            return to("transpose.identity", x);
        }
        let Some((Op::Transpose { perm: inner }, [y])) = self.rw.def(x) else {
            return Ok(None);
        };
        let y = *y;
        let composed: Vec<usize> = perm.iter().map(|&q| inner[q]).collect();
        if is_identity(&composed) {
            return to("transpose.transpose", y);
        }
        let v = self.emit(Op::Transpose { perm: composed }, &[y])?;
        to("transpose.transpose", v)
    }

    fn reshape(&mut self, shape: &Shape, x: Value) -> Result<Fired, OptError> {
        if &self.rw.ty(x).shape == shape {
            return to("reshape.identity", x);
        }
        let Some((Op::Reshape { .. }, [y])) = self.rw.def(x) else {
            return Ok(None);
        };
        let y = *y;
        if &self.rw.ty(y).shape == shape {
            return to("reshape.reshape", y);
        }
        let v = self.emit(
            Op::Reshape {
                shape: shape.clone(),
            },
            &[y],
        )?;
        to("reshape.reshape", v)
    }

    fn slice(&mut self, ranges: &[SliceRange], x: Value) -> Result<Fired, OptError> {
        let dims = self.rw.ty(x).shape.dims();
        let full = ranges.iter().zip(dims).all(|(r, d)| {
            r.start.is(0) && &r.stop == d && (r.step == 1 || d.known().is_some_and(|k| k <= 1))
        });
        if full {
            return to("slice.full", x);
        }
        let Some((Op::Slice { ranges: inner }, [y])) = self.rw.def(x) else {
            return Ok(None);
        };
        let y = *y;
        let composed: Option<Vec<SliceRange>> = inner
            .iter()
            .zip(ranges)
            .map(|(a, b)| compose_ranges(a, b))
            .collect();
        let Some(composed) = composed else {
            return Ok(None);
        };
        let v = self.emit(Op::Slice { ranges: composed }, &[y])?;
        to("slice.slice", v)
    }

    fn pad(
        &mut self,
        lo: &[Dim],
        hi: &[Dim],
        interior: &[u64],
        value: Scalar,
        x: Value,
    ) -> Result<Fired, OptError> {
        let zero = |d: &[Dim]| d.iter().all(|d| d.is(0));
        let no_interior = interior.iter().all(|&i| i == 0);
        if zero(lo) && zero(hi) && no_interior {
            return to("pad.zero", x);
        }
        let Some((
            Op::Pad {
                lo: lo1,
                hi: hi1,
                interior: int1,
                value: v1,
            },
            [y],
        )) = self.rw.def(x)
        else {
            return Ok(None);
        };
        if *v1 != value || !no_interior || int1.iter().any(|&i| i != 0) {
            return Ok(None);
        }
        let add = |a: &[Dim], b: &[Dim]| -> Option<Vec<Dim>> {
            a.iter()
                .zip(b)
                .map(|(p, q)| p.checked_add(q).ok())
                .collect()
        };
        let (Some(lo2), Some(hi2)) = (add(lo1, lo), add(hi1, hi)) else {
            return Ok(None);
        };
        let op = Op::Pad {
            lo: lo2,
            hi: hi2,
            interior: int1.clone(),
            value,
        };
        let y = *y;
        let v = self.emit(op, &[y])?;
        to("pad.pad", v)
    }

    fn concat(&mut self, axis: usize, args: &[Value]) -> Result<Fired, OptError> {
        if let [x] = args {
            return to("concat.single", *x);
        }
        let nonempty: Vec<Value> = args
            .iter()
            .copied()
            .filter(|&a| !self.rw.ty(a).shape.0[axis].is(0))
            .collect();
        match nonempty.as_slice() {
            [] => Ok(None),
            parts if parts.len() == args.len() => Ok(None),
            [x] => to("concat.empty", *x),
            parts => {
                let v = self.emit(Op::Concat { axis }, parts)?;
                to("concat.empty", v)
            }
        }
    }

    fn reduce(&mut self, op: ReduceOp, axes: &[usize], x: Value) -> Result<Fired, OptError> {
        let xty = self.rw.ty(x).clone();
        let kept: Vec<usize> = (0..xty.rank()).filter(|a| !axes.contains(a)).collect();
        let out_shape = Shape(kept.iter().map(|&a| xty.shape.0[a].clone()).collect());
        let out_ty = Type::new(xty.elem, out_shape.clone());
        let zero_sign_matters = op == ReduceOp::Sum && xty.elem.is_float();
        if axes.iter().all(|&a| xty.shape.0[a].is(1))
            && (!zero_sign_matters || self.options.reassociate)
        {
            if axes.is_empty() {
                return to("reduce.unit_axes", x);
            }
            let v = self.emit(Op::Reshape { shape: out_shape }, &[x])?;
            return to("reduce.unit_axes", v);
        }
        if axes.iter().any(|&a| xty.shape.0[a].is(0)) {
            let v = self.splat_const(out_ty, reduce_identity(op, xty.elem))?;
            return to("reduce.empty", v);
        }
        self.reduce_broadcast(op, axes, x, &xty, &out_shape)
    }

    /// `reduce(broadcast(y))` over axes that hold copies of `y`'s elements.
    fn reduce_broadcast(
        &mut self,
        op: ReduceOp,
        axes: &[usize],
        x: Value,
        xty: &Type,
        out_shape: &Shape,
    ) -> Result<Fired, OptError> {
        let Some((Op::Broadcast { dims, .. }, [y])) = self.rw.def(x) else {
            return Ok(None);
        };
        let (dims, y) = (dims.clone(), *y);
        let yshape = self.rw.ty(y).shape.clone();
        // Every reduced axis must be new, or stretched from size 1.
        if dims
            .iter()
            .enumerate()
            .any(|(i, d)| axes.contains(d) && !yshape.0[i].is(1))
        {
            return Ok(None);
        }
        let Ok(copies) = Dim::product(axes.iter().map(|&a| &xty.shape.0[a])) else {
            return Ok(None);
        };
        // y without its size-1 axes that are reduced, and where its remaining
        // axes land in the reduction's result.
        let position = |axis: usize| axis - axes.iter().filter(|&&a| a < axis).count();
        let kept: Vec<usize> = (0..yshape.rank())
            .filter(|&i| !axes.contains(&dims[i]))
            .collect();
        let y_kept = Shape(kept.iter().map(|&i| yshape.0[i].clone()).collect());
        let new_dims: Vec<usize> = kept.iter().map(|&i| position(dims[i])).collect();
        let dropped = kept.len() != yshape.rank();
        let identity = &y_kept == out_shape;
        let copy_nodes = usize::from(dropped) + usize::from(!identity);
        let freed = 1 + usize::from(self.single_use[0]);

        let copy = |s: &mut Self| -> Result<Value, OptError> {
            let mut v = y;
            if dropped {
                v = s.emit(
                    Op::Reshape {
                        shape: y_kept.clone(),
                    },
                    &[v],
                )?;
            }
            if !identity {
                let op = Op::Broadcast {
                    shape: out_shape.clone(),
                    dims: new_dims.clone(),
                };
                v = s.emit(op, &[v])?;
            }
            Ok(v)
        };
        match op {
            ReduceOp::Max | ReduceOp::Min => {
                if copies.known().is_some_and(|k| k >= 1) && copy_nodes <= freed {
                    let v = copy(self)?;
                    return to("reduce.broadcast_copies", v);
                }
                Ok(None)
            }
            ReduceOp::Sum => {
                let int = xty.elem == Elem::I64;
                if !(int || self.options.reassociate && xty.elem.is_float()) {
                    return Ok(None);
                }
                let factor_nodes = match copies.known() {
                    Some(_) => 1,
                    None => 1 + usize::from(!out_shape.is_scalar()),
                };
                if !self.options.reassociate && copy_nodes + factor_nodes + 1 > freed {
                    return Ok(None);
                }
                let v = copy(self)?;
                let out_ty = Type::new(xty.elem, out_shape.clone());
                let k = match copies.known() {
                    Some(k) => {
                        let lit = match xty.elem {
                            Elem::I64 => Scalar::I64(k),
                            e => Scalar::from_f64(e, k as f64),
                        };
                        self.splat_const(out_ty, lit)?
                    }
                    None => {
                        let size = self.emit(
                            Op::Size {
                                dim: copies,
                                elem: xty.elem,
                            },
                            &[],
                        )?;
                        if out_shape.is_scalar() {
                            size
                        } else {
                            let op = Op::Broadcast {
                                shape: out_shape.clone(),
                                dims: vec![],
                            };
                            self.emit(op, &[size])?
                        }
                    }
                };
                let product = self.emit(Op::Binary(BinaryOp::Mul), &[v, k])?;
                to("reduce.sum_copies", product)
            }
            ReduceOp::Prod => Ok(None),
        }
    }
}

/// `slice(slice(x, a), b)` as one range of `x`, if expressible.
fn compose_ranges(a: &SliceRange, b: &SliceRange) -> Option<SliceRange> {
    if a.step == 1 && b.step == 1 {
        return Some(SliceRange {
            start: a.start.checked_add(&b.start).ok()?,
            stop: a.start.checked_add(&b.stop).ok()?,
            step: 1,
        });
    }
    let (a0, c) = (a.start.known()?, b.start.known()?);
    let s1 = i64::try_from(a.step).ok()?;
    let s2 = i64::try_from(b.step).ok()?;
    let step = s1.checked_mul(s2)?;
    let count = Dim::range_len(&b.start, &b.stop, b.step).ok()??.known()?;
    // An empty outer range may start past the inner one's last index; any
    // empty range within bounds picks the same (nothing).
    let (start, stop) = if count <= 0 {
        (a0, a0)
    } else {
        let start = a0.checked_add(s1.checked_mul(c)?)?;
        let last = start.checked_add(step.checked_mul(count - 1)?)?;
        (start, last.checked_add(1)?)
    };
    Some(SliceRange {
        start: Dim::Known(start),
        stop: Dim::Known(stop),
        step: u64::try_from(step).ok()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn indices(len: i64, r: &SliceRange) -> Vec<i64> {
        let (start, stop) = (r.start.known().unwrap(), r.stop.known().unwrap());
        (start..stop.min(len)).step_by(r.step as usize).collect()
    }

    /// Composed ranges pick the same indices as slicing twice (brute force).
    #[test]
    fn composed_slices_pick_the_same_indices() {
        let r = |a: i64, b: i64, s: u64| SliceRange {
            start: Dim::Known(a),
            stop: Dim::Known(b),
            step: s,
        };
        let len = 23;
        for s1 in 1..4u64 {
            for a in 0..6 {
                for b in a..=len {
                    let inner = r(a, b, s1);
                    let picked = indices(len, &inner);
                    let n = picked.len() as i64;
                    for s2 in 1..4u64 {
                        for c in 0..=n {
                            for d in c..=n {
                                let outer = r(c, d, s2);
                                let want: Vec<i64> = indices(n, &outer)
                                    .iter()
                                    .map(|&i| picked[i as usize])
                                    .collect();
                                let composed = compose_ranges(&inner, &outer).unwrap();
                                let stop = composed.stop.known().unwrap();
                                assert!(stop <= len, "{inner:?} {outer:?} -> {composed:?}");
                                assert_eq!(indices(len, &composed), want, "{inner:?} {outer:?}");
                            }
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn symbolic_unit_slices_compose() {
        let n = Dim::var("n");
        let one = Dim::Known(1);
        let inner = SliceRange {
            start: one.clone(),
            stop: n.clone(),
            step: 1,
        };
        let outer = SliceRange {
            start: one.clone(),
            stop: n.checked_sub(&Dim::Known(2)).unwrap(),
            step: 1,
        };
        let c = compose_ranges(&inner, &outer).unwrap();
        assert_eq!(c.start, Dim::Known(2));
        assert_eq!(c.stop, n.checked_sub(&one).unwrap());
    }
}
