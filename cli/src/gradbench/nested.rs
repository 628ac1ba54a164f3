//! What `saddle` and `particle` share: gradients of scalar functions by
//! either AD mode, and the gradient-descent solver of the reference
//! implementations as a `while` loop in the IR.
//!
//! Every function here works on scalars: a point of `ℝⁿ` is `n` scalar
//! parameters, after the constants the function is specialised by. An
//! *objective* is a module function `(consts..., x₀, …, xₙ₋₁) -> f`; its
//! gradient function (made by [`gradient_fn`]) is `(consts..., x...) ->
//! (∂f/∂x₀, …)`, by reverse mode (`grad`) or by forward mode (one `jvp` call
//! per coordinate, with the unit tangents).
//!
//! [`argmin`] adds a condition and a body function implementing
//! GradBench's `multivariate_argmin`: from `x`, `f(x)`, `∇f(x)`, step size
//! `η = 10⁻⁵` and a counter `i = 0`, each step stops when `‖∇f‖ ≤ 10⁻⁵`,
//! doubles `η` (resetting `i`) after 10 accepted steps, stops when the step
//! `x′ = x − η∇f` moves less than `10⁻⁵`, accepts `x′` if `f(x′) < f(x)` and
//! halves `η` (resetting `i`) otherwise. The branches are `select`s, so
//! `f(x′)` and `∇f(x′)` are evaluated on every step; the chosen results are
//! the reference's. The loop's state is `(x..., f, ∇f..., η, i, go)` with
//! `i` an `i64` and `go` a `bool`; `go` is false once it stopped. A loop
//! is bounded by [`MAX_TRIPS`]: its `go` being still true afterwards means
//! it did not converge, which the evals report as a failure.

use super::GradbenchError;
use adjit::ir::{Graph, Module, Scalar, Shape, Type, Var};

/// The most steps any loop of these evals runs (the reference's loops run a
/// few hundred).
pub(crate) const MAX_TRIPS: usize = 100_000;

/// The AD mode of a gradient.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// `jvp` once per coordinate.
    Forward,
    /// `grad`, one reverse sweep.
    Reverse,
}

impl Mode {
    /// `'f'` or `'r'`, as in the evals' function names.
    pub(crate) fn of(c: char) -> Option<Mode> {
        match c {
            'f' => Some(Mode::Forward),
            'r' => Some(Mode::Reverse),
            _ => None,
        }
    }
}

pub(crate) fn graph_err(e: &dyn std::fmt::Display) -> GradbenchError {
    GradbenchError::Graph(e.to_string())
}

fn ad_err(e: adjit::ad::AdError) -> GradbenchError {
    super::ad_error(e)
}

/// Adds a finished graph to the module.
pub(crate) fn add(module: &mut Module, g: &Graph, outs: &[Var<'_>]) -> Result<(), GradbenchError> {
    let f = g.finish(outs).map_err(|e| graph_err(&e))?;
    module.add(f).map_err(|e| graph_err(&e))
}

/// A scalar `f64` parameter.
pub(crate) fn scalar_param<'g>(g: &'g Graph, name: &str) -> Var<'g> {
    g.param(name, Type::f64(&[]))
}

/// Element `i` of a vector, as a scalar.
pub(crate) fn elem(v: Var<'_>, i: usize) -> Var<'_> {
    v.slice_axis(0, i, i + 1).reshape(Shape::scalar())
}

/// Adds the gradient function of objective `f` (`n_consts` constants, then
/// `n` coordinates) to the module, made by `mode`; returns its name.
pub(crate) fn gradient_fn(
    module: &mut Module,
    f: &str,
    n_consts: usize,
    n: usize,
    mode: Mode,
) -> Result<String, GradbenchError> {
    let wrt: Vec<usize> = (n_consts..n_consts + n).collect();
    let (derived, name) = match mode {
        Mode::Reverse => adjit::ad::grad(module, f, &wrt).map_err(ad_err)?,
        Mode::Forward => adjit::ad::jvp(module, f, &wrt).map_err(ad_err)?,
    };
    *module = derived;
    let wrapper = module.fresh_name(&format!("{f}_gradient"));
    let g = Graph::with_module(&wrapper, module);
    let args: Vec<Var<'_>> = (0..n_consts + n)
        .map(|i| scalar_param(&g, &format!("a{i}")))
        .collect();
    let grads: Vec<Var<'_>> = match mode {
        // `grad` returns `(f, ∂f/∂x₀, …)`.
        Mode::Reverse => g.call(&name, &args).into_iter().skip(1).collect(),
        // `jvp` takes the tangents after the arguments and returns `(f, ḟ)`.
        Mode::Forward => (0..n)
            .map(|k| {
                let mut call_args = args.clone();
                call_args.extend((0..n).map(|j| g.scalar(if j == k { 1.0 } else { 0.0 })));
                g.call(&name, &call_args)[1]
            })
            .collect(),
    };
    add(module, &g, &grads)?;
    Ok(wrapper)
}

/// The names of a solver loop's functions.
pub(crate) struct Solver {
    pub(crate) cond: String,
    pub(crate) body: String,
}

/// Adds the condition and body of the gradient-descent loop minimising
/// objective `f` with gradient function `grad` (both with `n_consts`
/// constants, then `n` coordinates), named after `name`.
pub(crate) fn argmin(
    module: &mut Module,
    name: &str,
    f: &str,
    grad: &str,
    n_consts: usize,
    n: usize,
) -> Result<Solver, GradbenchError> {
    let cond = module.fresh_name(&format!("{name}_cond"));
    let g = Graph::with_module(&cond, module);
    let params = solver_state(&g, n_consts, n);
    add(module, &g, &params[params.len() - 1..])?;

    let body = module.fresh_name(&format!("{name}_step"));
    let g = Graph::with_module(&body, module);
    let params = solver_state(&g, n_consts, n);
    let consts = &params[..n_consts];
    let x = &params[n_consts..n_consts + n];
    let fx = params[n_consts + n];
    let gx = &params[n_consts + n + 1..n_consts + 2 * n + 1];
    let eta = params[n_consts + 2 * n + 1];
    let i = params[n_consts + 2 * n + 2];

    let magnitude = sum(gx.iter().map(|v| *v * *v), fx).sqrt();
    let converged = magnitude.le(1e-5);
    let at_ten = i.equal(10);
    let xp: Vec<Var<'_>> = x.iter().zip(gx).map(|(a, b)| *a - eta * *b).collect();
    let moved = sum(x.iter().zip(&xp).map(|(a, b)| (*a - *b) * (*a - *b)), fx).sqrt();
    let stalled = moved.le(1e-5);
    let mut at_xp: Vec<Var<'_>> = consts.to_vec();
    at_xp.extend_from_slice(&xp);
    let fxp = g.call(f, &at_xp)[0];
    let gxp = g.call(grad, &at_xp);
    let better = fxp.lt(fx);

    // The reference's branches, in order: converged, at ten, stalled,
    // better, worse.
    let accept = (!converged).and(!at_ten).and(!stalled).and(better);
    let pick = |on, a, b| g.select(on, a, b);
    let mut next: Vec<Var<'_>> = Vec::with_capacity(2 * n + 4);
    next.extend(xp.iter().zip(x).map(|(p, c)| pick(accept, *p, *c)));
    next.push(pick(accept, fxp, fx));
    next.extend(gxp.iter().zip(gx).map(|(p, c)| pick(accept, *p, *c)));
    let halved = pick(better, eta, eta * 0.5);
    let moving = pick(stalled, eta, halved);
    next.push(pick(converged, eta, pick(at_ten, eta * 2.0, moving)));
    let zero = g.full(Scalar::I64(0), Shape::scalar());
    let counted = pick(stalled, i, pick(better, i + 1, zero));
    next.push(pick(converged, i, pick(at_ten, zero, counted)));
    next.push((!converged).and(at_ten.or(!stalled)));
    add(module, &g, &next)?;
    Ok(Solver { cond, body })
}

/// The parameters of a solver's condition and body: the constants, then
/// the state.
fn solver_state(g: &Graph, n_consts: usize, n: usize) -> Vec<Var<'_>> {
    let mut s: Vec<Var<'_>> = (0..n_consts)
        .map(|i| scalar_param(g, &format!("c{i}")))
        .collect();
    s.extend((0..n).map(|i| scalar_param(g, &format!("x{i}"))));
    s.push(scalar_param(g, "fx"));
    s.extend((0..n).map(|i| scalar_param(g, &format!("gx{i}"))));
    s.push(scalar_param(g, "eta"));
    s.push(g.param("i", Type::scalar(adjit::ir::Elem::I64)));
    s.push(g.param("go", Type::scalar(adjit::ir::Elem::Bool)));
    s
}

/// Runs the solver of objective `f` and gradient `grad` in graph `g` from
/// `start`, with the constants `consts`: the minimiser's coordinates and the
/// loop's final `go` flag (true if it did not converge within
/// [`MAX_TRIPS`]).
pub(crate) fn solve<'g>(
    g: &'g Graph,
    solver: &Solver,
    (f, grad): (&str, &str),
    consts: &[Var<'g>],
    start: &[Var<'g>],
) -> (Vec<Var<'g>>, Var<'g>) {
    let n = start.len();
    let mut at: Vec<Var<'g>> = consts.to_vec();
    at.extend_from_slice(start);
    let mut init: Vec<Var<'g>> = start.to_vec();
    init.push(g.call(f, &at)[0]);
    init.extend(g.call(grad, &at));
    init.push(g.scalar(1e-5));
    init.push(g.full(Scalar::I64(0), Shape::scalar()));
    init.push(g.full(Scalar::Bool(true), Shape::scalar()));
    let (state, _) = g.while_loop(&solver.cond, &solver.body, MAX_TRIPS, consts, &init);
    let go = state[state.len() - 1];
    (state[..n].to_vec(), go)
}

/// The sum of scalars, in order; `like` (a scalar of the same graph) gives
/// the zero of an empty sum.
fn sum<'g>(mut terms: impl Iterator<Item = Var<'g>>, like: Var<'g>) -> Var<'g> {
    match terms.next() {
        Some(first) => terms.fold(first, |a, b| a + b),
        None => like * 0.0,
    }
}
