//! The reference interpreter: what every op means.
//!
//! [`eval`] (or an [`Interpreter`], which keeps its per-function plans across
//! calls) evaluates a function of a [`Module`] on concrete [`Tensor`]s. The
//! compiler is tested against it, and it is the "interpreted" peer in
//! benchmarks: each op is one loop over whole arrays, buffers are freed after
//! their last use and overwritten in place by the op that uses them last.
//!
//! # Evaluation
//!
//! - **Size variables** are bound from the inputs' shapes: a parameter
//!   dimension that is a bare variable (`f64[n]`) binds `n` to the input's
//!   size (the first such occurrence binds; later ones must agree). Every
//!   parameter dimension is then evaluated and must equal the input's size.
//!   Every symbolic dimension in an attribute (const, iota, broadcast and
//!   reshape shapes, slice bounds, pad widths, scatter sizes, scan lengths,
//!   while bounds, `size`) is evaluated with [`Dim::eval`](crate::Dim::eval)
//!   in the bindings of the function it appears in. Callees (`call`, `scan`
//!   and `while` bodies) bind their own variables from their own arguments.
//! - **Order**: nodes run in definition order. Nothing recurses — not the
//!   graph walk, not calls, not loop steps — so deep graphs and long loops
//!   cannot overflow the native stack; call nesting is bounded by
//!   [`Limits::max_call_depth`].
//! - **Checks**: every node checks its actual operands (element types, ranks,
//!   sizes, arity) against the op's type rule, so even an unverified,
//!   ill-typed function yields [`EvalError::Malformed`] rather than a panic.
//!   Verified functions never produce `Malformed`.
//! - **Sizes** are computed with checked arithmetic. A result whose element
//!   count overflows or exceeds [`Limits::max_elements`] is
//!   [`EvalError::TooLarge`], and one that would take the interpreter's live
//!   buffers past [`Limits::max_live_bytes`] (or that the allocator refuses) is
//!   [`EvalError::OutOfMemory`], both reported *before* allocating. The
//!   caller's input tensors are borrowed and not counted.
//!
//! # Semantics of the ops
//!
//! Element types are IEEE-754 `f64` and `f32` (every `f32` op computes in
//! single precision with the `f32` functions of `std`/`libm`), 64-bit
//! two's-complement `i64` (all arithmetic wraps), and `bool`. No input value
//! makes an op fail: NaN and infinities propagate by IEEE rules.
//!
//! **Unary** (result has the operand's type):
//! - `neg`: `-x` (`i64`: wrapping, so `-MIN = MIN`). `abs`: `|x|`, clears the
//!   sign bit of floats (`|-0| = +0`, `|NaN|` is NaN); `i64` wraps
//!   (`|MIN| = MIN`).
//! - `sqrt`, `exp`, `log` (`ln`), `log1p` (`ln_1p`), `expm1` (`exp_m1`),
//!   `sin`, `cos`, `tan`, `tanh`: the `std` methods of the element type.
//!   `erf`: `libm::erf` / `libm::erff`.
//! - `sigmoid`: `1/(1+e^−x)` for `x ≥ 0` and `e^x/(1+e^x)` for `x < 0`
//!   (neither branch overflows; NaN gives NaN; `±0` gives `0.5`).
//! - `recip`: `1/x` (`1/±0 = ±inf`).
//! - `floor`, `ceil`, `round` (half away from zero, as `f64::round`): the `std`
//!   methods; they keep the sign of zero and pass NaN and infinities through.
//! - `sign`: `−1` for `x < 0`, `+1` for `x > 0`, and `x` itself for `±0` and
//!   NaN; `i64`: `signum`.
//! - `not`: `bool` logical not; `i64` bitwise not.
//!
//! **Binary** (operands of one type; result has that type):
//! - `add`, `sub`, `mul`: IEEE; `i64` wraps.
//! - `div`: IEEE for floats (`x/0` is `±inf` or NaN); `i64` truncates towards
//!   zero, `x/0 = 0`, and `MIN/−1 = MIN` (wraps).
//! - `pow`: `powf`, which follows C99 `pow` (`pow(x, ±0) = 1` even for NaN `x`,
//!   `pow(1, y) = 1` even for NaN `y`, a negative base with a non-integer
//!   exponent is NaN, …).
//! - `min`, `max`: NaN if either operand is NaN (the first NaN operand is
//!   returned); `min(−0, +0) = −0` and `max(−0, +0) = +0` in either order.
//!   `i64`: the usual order.
//! - `atan2(a, b)`: `a.atan2(b)`, the angle of the point `(b, a)`.
//! - `and`, `or`: `bool` logical, `i64` bitwise.
//!
//! **Compare** (`eq ne lt le gt ge`, result `bool`): IEEE — every comparison
//! with NaN is false except `ne`, which is true; `−0 == +0`. `bool` has only
//! `eq` and `ne`.
//!
//! **select**`(c, t, f)`: `t[i]` where `c[i]`, else `f[i]`.
//!
//! **convert**: float → `i64` by Rust `as` (truncates towards zero,
//! saturates at `i64::MIN`/`MAX`, NaN → 0); float/`i64` → `bool` is `x ≠ 0`
//! (so NaN → `true`, `−0` → `false`); `bool` → numeric is 0 or 1; `i64` →
//! float and `f64` → `f32` by `as` (round to nearest even); `f32` → `f64` is
//! exact.
//!
//! **const** (`splat` or row-major `dense`); **iota**: element `i` holds its
//! index along `axis`, converted with `as`; **size**: the dimension's value,
//! *signed* (a dimension such as `n−1` may evaluate to −1), converted with
//! `as`.
//!
//! **Structure**:
//! - `broadcast`: operand axis `i` becomes result axis `dims[i]`; an operand
//!   axis of size 1 stretches to any size; result axes not in `dims` repeat.
//! - `reshape`: the same elements in row-major order. `transpose`: result axis
//!   `i` is operand axis `perm[i]`.
//! - `slice`: per axis `start:stop:step` with `0 ≤ start ≤ stop ≤ size`
//!   (else [`EvalError::SliceOutOfBounds`]), `step ≥ 1`; takes indices
//!   `start, start+step, …` below `stop`, so the length is
//!   `ceil((stop−start)/step)`.
//! - `concat`: operands joined along `axis`, in operand order.
//! - `pad`: `lo[i]` values before, `hi[i]` after, and `interior[i]` between
//!   neighbours along each axis (widths evaluated as sizes, so a negative
//!   width is an error).
//! - `gather(x, idx)`: numpy `take` along `axis`; each index is clamped into
//!   `[0, d−1]`. If `d = 0` the result must be empty; otherwise
//!   [`EvalError::EmptyAxis`].
//! - `scatter_add(upd, idx)`: zeros (`+0`) of the result shape, then for each
//!   index in row-major order of `idx`, its slice of `upd` is added (`+=`) at
//!   the clamped index; so one position receives its updates in index order.
//!   If `size = 0` the updates must be empty; otherwise
//!   [`EvalError::EmptyAxis`]. (Being a sum from `+0`, scattering only `−0`
//!   gives `+0`.)
//! - `reduce_sum`, `reduce_prod`: start from the identity (`+0`, `1`) and
//!   fold the reduced elements in row-major order: `((id ⊕ x₀) ⊕ x₁) ⊕ …`.
//!   So the sum of an empty set is `+0`, and a sum of only `−0`s is `+0`.
//! - `reduce_max`, `reduce_min`: the same fold with binary `max`/`min`, from
//!   `−inf`/`+inf` (`i64::MIN`/`MAX` for `i64`), so NaN propagates and an
//!   empty reduction gives the identity.
//! - `matmul`: `[B.., m, k] × [B.., k, n]`; each output element is
//!   `((+0 + a₀b₀) + a₁b₁) + …` over `k` in order `0..k`, each product rounded
//!   before the addition (no fused multiply-add); `i64` wraps.
//!
//! **Functions and loops**:
//! - `call`: the callee's outputs.
//! - `scan`: `length` steps; the body maps `(consts…, carry…, x_t…)` to
//!   `(carry…, y_t…)`, where `x_t` is row `t` (along axis 0) of each `xs`
//!   operand. Results: the final carry, then each `y` stacked along a new axis
//!   0 with `y_t` at index `t`. With `reverse`, `t` runs from `length−1` down
//!   to 0. For `length = 0` the results are the initial carry and empty stacks
//!   (whose row shapes are the node's declared result types).
//! - `while`: while fewer than `max_trips` trips have run and
//!   `cond(consts…, state…)` is true, `state = body(consts…, state…)`. The
//!   condition is not evaluated once `max_trips` is reached. Results: the
//!   final state, then the trip count as an `i64` scalar.

mod buf;
mod elementwise;
mod loops;
mod machine;
mod plan;
mod shape_ops;

use crate::dim::DimEvalError;
use crate::function::{Module, NodeId};
use crate::tensor::Tensor;
use std::collections::HashMap;

use buf::{Meter, Val};
use plan::Plan;

pub use crate::limits::Limits;

/// Why evaluation failed. Errors name the function (without `@`) and, where
/// one is to blame, the node (`None`: the function's signature or outputs).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EvalError {
    /// No function of that name: the caller's fault, or for a `call`, `scan`
    /// or `while` callee the module's.
    #[error("no function named @{name}")]
    UnknownFunction {
        /// The name looked up.
        name: String,
    },
    /// The wrong number of inputs (for a callee: the module's fault).
    #[error("@{func} takes {expected} input(s), got {found}")]
    InputCount {
        /// The function.
        func: String,
        /// Its parameter count.
        expected: usize,
        /// The inputs given.
        found: usize,
    },
    /// An input's element type, rank or size does not match its parameter at
    /// the sizes bound so far.
    #[error("@{func}: input {index} (%{param}) must be {expected}, got {found}")]
    InputMismatch {
        /// The function.
        func: String,
        /// The parameter's position.
        index: usize,
        /// The parameter's name.
        param: String,
        /// The parameter type, with the bindings of its size variables.
        expected: String,
        /// The input's element type and shape.
        found: String,
    },
    /// A dimension could not be evaluated: a variable is unbound, the value
    /// overflows, or a size is negative.
    #[error("@{func}{}: {error}", site(node))]
    Dim {
        /// The function.
        func: String,
        /// The node whose attribute it is (`None`: a parameter type).
        node: Option<NodeId>,
        /// What went wrong.
        error: DimEvalError,
    },
    /// A slice range does not lie within its axis: the function's fault (the
    /// verifier cannot check symbolic bounds).
    #[error(
        "@{func}{}: slice axis {axis}: range {start}:{stop} is not within 0:{size}",
        site(node)
    )]
    SliceOutOfBounds {
        /// The function.
        func: String,
        /// The slice.
        node: Option<NodeId>,
        /// The axis.
        axis: usize,
        /// The evaluated start.
        start: i64,
        /// The evaluated stop.
        stop: i64,
        /// The axis size.
        size: usize,
    },
    /// `gather` from an empty axis with a non-empty result, or `scatter_add`
    /// of non-empty updates into an empty axis: there is no index to clamp to.
    #[error(
        "@{func}{}: `{op}` along axis {axis} of size 0 with non-empty data",
        site(node)
    )]
    EmptyAxis {
        /// The function.
        func: String,
        /// The node.
        node: Option<NodeId>,
        /// `gather` or `scatter_add`.
        op: String,
        /// The axis.
        axis: usize,
    },
    /// A result's element count overflows or exceeds the limit.
    #[error(
        "@{func}{}: shape {shape:?} has more than {limit} elements",
        site(node)
    )]
    TooLarge {
        /// The function.
        func: String,
        /// The node.
        node: Option<NodeId>,
        /// The shape asked for.
        shape: Vec<usize>,
        /// [`Limits::max_elements`].
        limit: usize,
    },
    /// An allocation would exceed the live-bytes limit, or the allocator
    /// refused it.
    #[error(
        "@{func}{}: allocating {requested} bytes with {live} live exceeds the limit of {limit}",
        site(node)
    )]
    OutOfMemory {
        /// The function.
        func: String,
        /// The node.
        node: Option<NodeId>,
        /// Bytes asked for.
        requested: usize,
        /// Bytes of live buffers.
        live: usize,
        /// [`Limits::max_live_bytes`].
        limit: usize,
    },
    /// Calls nest deeper than [`Limits::max_call_depth`] (the module's call
    /// graph is cyclic, or deeper than allowed).
    #[error("calling @{func} would nest calls deeper than {limit}")]
    CallDepth {
        /// The function about to be entered.
        func: String,
        /// The limit.
        limit: usize,
    },
    /// The function is ill-typed or ill-formed at this node (only unverified
    /// functions): the module's fault.
    #[error("@{func}{}: malformed: {message}", site(node))]
    Malformed {
        /// The function.
        func: String,
        /// The node (`None`: the signature or outputs).
        node: Option<NodeId>,
        /// What is wrong, starting with the op's name.
        message: String,
    },
}

fn site(node: &Option<NodeId>) -> String {
    match node {
        Some(n) => format!(", node {n:?}"),
        None => String::new(),
    }
}

/// Evaluates functions of one module; keeps per-function plans across calls.
pub struct Interpreter<'m> {
    module: &'m Module,
    limits: Limits,
    index: HashMap<&'m str, usize>,
    plans: Vec<Plan>,
    /// The deepest call nesting from each function (see
    /// [`crate::limits::call_depths`]), checked on entry so that what runs
    /// does not depend on which calls a loop happens to make.
    depths: Vec<usize>,
}

impl<'m> Interpreter<'m> {
    /// An interpreter for `module` with the default [`Limits`].
    pub fn new(module: &'m Module) -> Interpreter<'m> {
        Interpreter::with_limits(module, Limits::default())
    }

    /// An interpreter for `module` with the given limits.
    pub fn with_limits(module: &'m Module, limits: Limits) -> Interpreter<'m> {
        let functions = module.functions();
        let depths = crate::limits::call_depths(module);
        Interpreter {
            module,
            limits,
            index: functions
                .iter()
                .enumerate()
                .map(|(i, f)| (f.name(), i))
                .collect(),
            plans: functions.iter().map(plan::plan).collect(),
            depths: functions
                .iter()
                .map(|f| depths.get(f.name()).copied().unwrap_or(usize::MAX))
                .collect(),
        }
    }

    /// The limits in force.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Evaluates `func` on `inputs` (one per parameter) to its outputs.
    pub fn eval(&self, func: &str, inputs: &[Tensor]) -> Result<Vec<Tensor>, EvalError> {
        let fi = *self
            .index
            .get(func)
            .ok_or_else(|| EvalError::UnknownFunction {
                name: func.to_string(),
            })?;
        if self.depths[fi] > self.limits.max_call_depth {
            return Err(EvalError::CallDepth {
                func: func.to_string(),
                limit: self.limits.max_call_depth,
            });
        }
        let meter = Meter::new(self.limits);
        let args = inputs.iter().map(Val::Input).collect();
        let outs = self.run(fi, args, &meter)?;
        outs.into_iter()
            .map(|v| v.into_tensor())
            .collect::<Result<_, _>>()
            .map_err(|f| machine::locate(func, None, "return", f))
    }
}

/// Evaluates `func` of `module` on `inputs` with the default [`Limits`].
pub fn eval(module: &Module, func: &str, inputs: &[Tensor]) -> Result<Vec<Tensor>, EvalError> {
    Interpreter::new(module).eval(func, inputs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::Graph;
    use crate::types::Type;

    fn module() -> Module {
        let g = Graph::new("f");
        let x = g.param("x", Type::f64(&[50]));
        let y = (x.sin() * x + 1.0).exp();
        let z = y.sum_all();
        let mut m = Module::new();
        m.add(g.finish(&[y, z, y]).unwrap()).unwrap();
        m
    }

    #[test]
    fn live_bytes_return_to_zero() {
        let m = module();
        let interp = Interpreter::new(&m);
        let x = Tensor::f64(&[50], vec![0.5; 50]).unwrap();
        let meter = Meter::new(Limits::default());
        let outs = interp.run(0, vec![Val::Input(&x)], &meter).unwrap();
        assert_eq!(
            meter.live(),
            50 * 8 + 8,
            "y (one buffer, two outputs) and z"
        );
        let tensors: Vec<Tensor> = outs.into_iter().map(|v| v.into_tensor().unwrap()).collect();
        assert_eq!(tensors[0], tensors[2]);
        assert_eq!(meter.live(), 0);
        // An error midway (the splat of 1 next to sin(x)·x) drops everything too.
        let tight = Meter::new(Limits {
            max_live_bytes: 700,
            ..Limits::default()
        });
        let result = interp.run(0, vec![Val::Input(&x)], &tight);
        assert!(matches!(
            result,
            Err(EvalError::OutOfMemory { live: 400, .. })
        ));
        drop(result);
        assert_eq!(tight.live(), 0);
    }

    #[test]
    fn plans_free_values_after_their_last_use() {
        let m = module();
        let f = &m.functions()[0];
        let p = plan::plan(f);
        assert!(p.broken.is_none());
        // Nodes: sin, mul, const, add, exp, reduce_sum. `x` dies at mul,
        // which uses it second; sin(x) dies there too and may be taken.
        let mul = 1;
        assert_eq!(p.movable[mul], [true, true]);
        assert_eq!(p.movable[0], [false], "x is used again by mul");
        let exp = 4;
        assert!(p.free_after[exp].len() == 1, "the add result dies at exp");
        assert!(p.movable[5] == [false], "y is an output, never taken");
    }

    #[test]
    fn interpreters_can_be_shared_between_threads() {
        fn send_sync<T: Send + Sync>() {}
        send_sync::<Interpreter<'static>>();
        send_sync::<EvalError>();
    }
}
