//! Automatic differentiation as IR → IR transforms.
//!
//! Each transform takes a [`Module`], the name of a function in it and the
//! parameters to differentiate with respect to (the others are constants),
//! and returns a new module — the original functions plus the generated ones
//! (including derivatives of callees) — and the name of the new function.
//! The result is ordinary IR: it can be printed, optimised, interpreted,
//! compiled, and differentiated again.
//!
//! | transform | generated function |
//! |---|---|
//! | [`jvp`] | `(x..., ẋ per wrt param) → (y..., ẏ per float output)` |
//! | [`vjp`] | `(x..., ȳ per float output) → (y..., x̄ per wrt param)` |
//! | [`grad`] | `x → (y..., ∇y_last per wrt param)` for a scalar last output |
//! | [`hvp`] | `(x..., v per wrt param) → (∇²y_last·v per wrt param)` |
//! | [`jacobian`] | `x → J[i][j]` of shape `shape(y_i) ++ shape(x_j)` per (float output, wrt param) |
//! | [`vmap`] | the function over a new leading axis of some parameters |
//!
//! Tangent and cotangent inputs have the types of the values they belong
//! to; tangents and cotangents are given only for float values (an `i64` or
//! `bool` output has none, and `wrt` must name float parameters). Shapes may
//! be symbolic: the derivative of `@rosen(%x: f64[n])` is itself generic in
//! `n`.
//!
//! Invariants of the generated code:
//! - Symbolic zeros: a value that does not depend on a differentiated
//!   parameter gets no tangent or cotangent, and no zero array stands for
//!   one. Only an output whose derivative is identically zero is filled with
//!   a zero constant (a splat).
//! - Cotangents are summed with `add` at fan-out, as contributions arrive in
//!   reverse definition order.
//! - Derived values are named after their primal: `%x_dot` (tangent of
//!   `%x`), `%x_bar` (cotangent), `%dy_dx` (a Jacobian block); generated
//!   functions `@f_jvp`, `@f_vjp`, `@f_grad`, `@f_hvp`, `@f_jacfwd`,
//!   `@f_jacrev`, `@f_vmap` (with a suffix if the name is taken).
//! - The output is not simplified: it is full of `x * 1` and dead primal
//!   nodes, which `opt` removes.
//!
//! The derivative rules of every op are in [`rules`], one file per family
//! with each op's JVP, VJP and batching rule side by side. Their fixed
//! conventions where the derivative is not classical (details in
//! [`rules::elementwise`] and [`rules::reduce`]):
//! - `abs'(0) = 0`; `sqrt'(0) = +inf`; `floor`, `ceil`, `round`, `sign`,
//!   comparisons and integer ops have derivative 0 everywhere;
//! - binary `max`/`min` at a tie give ½ to each operand; `reduce_max`/
//!   `reduce_min` share the cotangent equally among the tied elements;
//! - `∂(x^y)/∂x = y·x^(y−1)` but 0 where `y == 0`; `∂(x^y)/∂y = log(x)·x^y`
//!   but 0 where `x == 0`;
//! - `reduce_prod` uses products of the other elements (exact with zeros);
//! - `select` differentiates the branch taken; `convert` passes derivatives
//!   between float types and stops them at `i64`/`bool`;
//! - `atan2` at the origin gives NaN.
//!
//! `scan` and `while` are differentiated in both modes (see
//! [`rules::control`]): forward mode runs a loop over values and tangents,
//! reverse mode ends with a `scan_adjoint` that recomputes the loop's states
//! as its checkpointing policy says; all three loop ops can be batched, and
//! `scan_adjoint` has a JVP and a VJP, so every composition of the
//! transforms works through loops: `hvp`, `jacobian` in both modes,
//! `grad(grad f)`, `vjp(grad f)`, `jacobian(grad f, Reverse)`. Loops that
//! do not depend on the differentiated parameters are copied.
//!
//! A function may carry custom derivative rules ([`adjit_ir::CustomRules`],
//! attached with `Module::attach_jvp` / `attach_vjp` or a `rules` line of
//! the text format): every transform that needs the function's tangent or
//! adjoint calls the rule instead of differentiating the body, and a rule
//! given alone serves the other mode by transposition (it must be linear
//! in its tangents or cotangents). Batching a function batches its rules.
//! See `custom.rs`.
//!
//! ```
//! use adjit::ad;
//! use adjit::ir::{Graph, Module, Type};
//!
//! let g = Graph::new("f");
//! let x = g.param("x", Type::f64(&[]));
//! let y = g.param("y", Type::f64(&[]));
//! let f = (x + y) * (x - y);
//! let mut module = Module::new();
//! module.add(g.finish(&[f]).unwrap()).unwrap();
//!
//! let (module, name) = ad::grad(&module, "f", &[0, 1]).unwrap();
//! let grad_f = module.get(&name).unwrap();
//! assert_eq!(grad_f.outputs().len(), 3); // f, ∂f/∂x, ∂f/∂y
//! adjit::ir::verify_module(&module).unwrap();
//! ```

mod batch;
mod custom;
mod emit;
mod forward;
mod jacobian;
mod reverse;
pub mod rules;

pub use jacobian::Mode;

use adjit_ir::{Dim, Function, Module, VerifyErrors, verify_module};
use batch::VmapSpec;
use emit::Ctx;
use forward::JvpSpec;
use reverse::{Seed, VjpSpec};

/// Why a transform could not be applied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AdError {
    /// No function of that name in the module. The caller's fault.
    #[error("no function named @{0}")]
    UnknownFunction(String),
    /// The input module does not verify. The caller's fault.
    #[error("the module does not verify:\n{0}")]
    Invalid(VerifyErrors),
    /// A parameter index is out of range, repeated, or names a parameter
    /// that cannot be differentiated (not a float). The caller's fault.
    #[error("@{func}: parameter {index}: {reason}")]
    BadParam {
        /// The function.
        func: String,
        /// The offending parameter index.
        index: usize,
        /// What is wrong.
        reason: String,
    },
    /// The function's outputs do not suit the transform (`grad` of a
    /// non-scalar output). The caller's fault.
    #[error("@{func}: {reason}")]
    BadOutput {
        /// The function.
        func: String,
        /// What is wrong.
        reason: String,
    },
    /// A `vmap` batch size that is negative or mentions a size variable the
    /// function cannot bind. The caller's fault.
    #[error("@{func}: batch size {size}: {reason}")]
    BadSize {
        /// The function.
        func: String,
        /// The size.
        size: String,
        /// What is wrong.
        reason: String,
    },
    /// The function uses an op this transform does not handle (no op today:
    /// kept for ops added without every rule).
    #[error("`{op}` is not supported by {transform} yet")]
    Unsupported {
        /// The op's text name.
        op: &'static str,
        /// The transform (`jvp`, `vjp`, `vmap`).
        transform: &'static str,
    },
    /// Dimension arithmetic on the shapes overflowed `i64`.
    #[error("dimension arithmetic overflows")]
    Overflow,
    /// A rule produced ill-typed or unverifiable code: a bug in `ad`.
    #[error("internal error in automatic differentiation: {message}")]
    Internal {
        /// What went wrong.
        message: String,
    },
}

/// Checks the module and the function, and returns a context over a copy.
fn prepare(module: &Module, func: &str) -> Result<(Ctx, Function), AdError> {
    let f = module
        .get(func)
        .cloned()
        .ok_or_else(|| AdError::UnknownFunction(func.to_string()))?;
    verify_module(module).map_err(AdError::Invalid)?;
    Ok((Ctx::new(module), f))
}

/// Checks that `wrt` lists distinct float parameters of `f`.
fn check_wrt(f: &Function, wrt: &[usize]) -> Result<(), AdError> {
    let bad = |index: usize, reason: &str| AdError::BadParam {
        func: f.name().to_string(),
        index,
        reason: reason.to_string(),
    };
    for (k, &i) in wrt.iter().enumerate() {
        let Some(&p) = f.params().get(i) else {
            return Err(bad(
                i,
                &format!("there are {} parameters", f.params().len()),
            ));
        };
        if wrt[..k].contains(&i) {
            return Err(bad(i, "listed twice"));
        }
        if !f.ty(p).elem.is_float() {
            return Err(bad(
                i,
                &format!("%{} is of type {}, not a float", f.value_name(p), f.ty(p)),
            ));
        }
    }
    Ok(())
}

/// The indices of the float outputs.
fn float_outputs(f: &Function) -> Vec<usize> {
    (0..f.outputs().len())
        .filter(|&i| f.ty(f.outputs()[i]).elem.is_float())
        .collect()
}

/// Returns the module; in debug builds, verifies it first.
fn finish(ctx: Ctx, name: String) -> Result<(Module, String), AdError> {
    if cfg!(debug_assertions) {
        verify_module(&ctx.module).map_err(|e| AdError::Internal {
            message: format!("the output does not verify:\n{e}"),
        })?;
    }
    Ok((ctx.module, name))
}

/// The last output, checked to be a float scalar (what `grad` differentiates).
fn scalar_output(f: &Function) -> Result<usize, AdError> {
    let bad = |reason: String| AdError::BadOutput {
        func: f.name().to_string(),
        reason,
    };
    let Some(&last) = f.outputs().last() else {
        return Err(bad("has no output to differentiate".into()));
    };
    let ty = f.ty(last);
    if !ty.is_scalar() || !ty.elem.is_float() {
        return Err(bad(format!(
            "the last output %{} is of type {ty}, not a float scalar",
            f.value_name(last)
        )));
    }
    Ok(f.outputs().len() - 1)
}

/// Forward mode. The new function takes `(x..., ẋ for each parameter in
/// wrt, in that order)` and returns `(y..., ẏ for each float output)`.
/// An output whose tangent is identically zero gets a zero constant.
pub fn jvp(module: &Module, func: &str, wrt: &[usize]) -> Result<(Module, String), AdError> {
    let (mut ctx, f) = prepare(module, func)?;
    check_wrt(&f, wrt)?;
    let spec = JvpSpec {
        wrt: wrt.to_vec(),
        outputs: float_outputs(&f),
        primal_outputs: true,
        zeros: true,
        base: format!("{func}_jvp"),
    };
    let d = ctx.jvp(func, &spec)?;
    finish(ctx, d.name)
}

/// Reverse mode. The new function takes `(x..., ȳ for each float output)`
/// and returns `(y..., x̄ for each parameter in wrt, in that order)`. A
/// parameter whose cotangent is identically zero gets a zero constant.
pub fn vjp(module: &Module, func: &str, wrt: &[usize]) -> Result<(Module, String), AdError> {
    let (mut ctx, f) = prepare(module, func)?;
    check_wrt(&f, wrt)?;
    let seeds = (0..f.outputs().len())
        .map(|i| {
            if f.ty(f.outputs()[i]).elem.is_float() {
                Seed::Param
            } else {
                Seed::Zero
            }
        })
        .collect();
    let spec = VjpSpec {
        wrt: wrt.to_vec(),
        seeds,
        zeros: true,
        base: format!("{func}_vjp"),
    };
    let d = ctx.vjp(func, &spec)?;
    finish(ctx, d.name)
}

/// The gradient of the function's last output, which must be a float
/// scalar. The new function takes the same parameters and returns every
/// output of `func` followed by the gradient with respect to each parameter
/// in `wrt`. For a scalar-output `f`, that is `x → (f(x), ∇f(x)...)`; and
/// since `grad(f)` with one parameter ends with `f'`, `grad(grad(f))`
/// returns `(f, f', f'')`.
pub fn grad(module: &Module, func: &str, wrt: &[usize]) -> Result<(Module, String), AdError> {
    let (mut ctx, f) = prepare(module, func)?;
    check_wrt(&f, wrt)?;
    let d = grad_in(&mut ctx, &f, wrt)?;
    finish(ctx, d.name)
}

fn grad_in(ctx: &mut Ctx, f: &Function, wrt: &[usize]) -> Result<emit::Derived, AdError> {
    let last = scalar_output(f)?;
    let seeds = (0..f.outputs().len())
        .map(|i| if i == last { Seed::One } else { Seed::Zero })
        .collect();
    let spec = VjpSpec {
        wrt: wrt.to_vec(),
        seeds,
        zeros: true,
        base: format!("{}_grad", f.name()),
    };
    ctx.vjp(f.name(), &spec)
}

/// Hessian-vector products of the last output (a float scalar), built as
/// `jvp(grad(f))`. The new function takes `(x..., v for each parameter in
/// wrt)` and returns `∇²y·v` restricted to each parameter in `wrt`, in that
/// order (the tangents of the gradient outputs).
pub fn hvp(module: &Module, func: &str, wrt: &[usize]) -> Result<(Module, String), AdError> {
    let (mut ctx, f) = prepare(module, func)?;
    check_wrt(&f, wrt)?;
    let g = grad_in(&mut ctx, &f, wrt)?;
    let n_out = f.outputs().len();
    let spec = JvpSpec {
        wrt: wrt.to_vec(),
        outputs: (n_out..n_out + wrt.len()).collect(),
        primal_outputs: false,
        zeros: true,
        base: format!("{func}_hvp"),
    };
    let d = ctx.jvp(&g.name, &spec)?;
    finish(ctx, d.name)
}

/// The full Jacobian, from one batched sweep (see [`Mode`]). The new
/// function takes the parameters of `func` and returns, for each float
/// output `y_i` (in order) and each parameter `x_j` in `wrt` (in that
/// order), output-major, the tensor of shape `shape(y_i) ++ shape(x_j)`
/// holding `∂y_i[a..]/∂x_j[b..]` at index `[a.., b..]`.
pub fn jacobian(
    module: &Module,
    func: &str,
    wrt: &[usize],
    mode: Mode,
) -> Result<(Module, String), AdError> {
    let (mut ctx, f) = prepare(module, func)?;
    check_wrt(&f, wrt)?;
    let d = ctx.jacobian(func, wrt, mode)?;
    finish(ctx, d.name)
}

/// Batching: the new function takes the parameters of `func`, those listed
/// in `batched` with an extra leading axis of `size`, and returns every
/// output with that leading axis (outputs that do not depend on a batched
/// parameter are broadcast). Slice `b` of each output is `func` applied to
/// slice `b` of each batched parameter. `size` must be non-negative and use
/// only size variables bound by `func`'s parameters, or be a single new
/// variable (then bound by the batched parameters).
pub fn vmap(
    module: &Module,
    func: &str,
    batched: &[usize],
    size: Dim,
) -> Result<(Module, String), AdError> {
    let (mut ctx, f) = prepare(module, func)?;
    let mut mask = vec![false; f.params().len()];
    for &i in batched {
        if i >= mask.len() {
            return Err(AdError::BadParam {
                func: func.to_string(),
                index: i,
                reason: format!("there are {} parameters", mask.len()),
            });
        }
        if std::mem::replace(&mut mask[i], true) {
            return Err(AdError::BadParam {
                func: func.to_string(),
                index: i,
                reason: "listed twice".into(),
            });
        }
    }
    let bad = |reason: &str| AdError::BadSize {
        func: func.to_string(),
        size: size.to_string(),
        reason: reason.to_string(),
    };
    if size.known().is_some_and(|k| k < 0) {
        return Err(bad("is negative"));
    }
    let bound = f.size_vars();
    let self_bound = size.as_var().is_some() && !batched.is_empty();
    if !self_bound && size.vars().iter().any(|v| !bound.contains(v)) {
        return Err(bad("mentions a size variable no parameter binds"));
    }
    let spec = VmapSpec {
        batched: mask,
        size,
        broadcast_outputs: true,
        base: format!("{func}_vmap"),
    };
    let d = ctx.vmap(func, &spec)?;
    finish(ctx, d.name)
}
