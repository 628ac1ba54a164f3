//! Rules of the ops that run other functions: `call`, `scan`, `while`,
//! `scan_adjoint`.
//!
//! `call` is differentiated by deriving the callee into a new function of
//! the module (memoized per callee and per set of active operands and
//! outputs) and calling it:
//! - JVP: one call of the callee's tangent function computes the primal
//!   results and the tangents together;
//! - VJP: the reverse sweep calls the callee's adjoint function, which
//!   recomputes the callee's primal (a checkpoint) and returns the operand
//!   cotangents;
//! - batching: a call of the callee's batched version.
//!
//! Derived callees leave identically-zero tangents and cotangents out of
//! their outputs and report which are present, so symbolic zeros survive the
//! call boundary.
//!
//! Loops are differentiated through their step functions, which get
//! derived like callees and wrapped into the loop's operand layout (the
//! wrappers `@body_jvp_step`, `@cond_jvp_cond`, `@body_vjp_step` are
//! memoized like derived callees):
//! - `scan` JVP: a scan of the body's tangent function, carrying
//!   `(carry..., active carry tangents...)` and stacking the wanted
//!   per-step outputs' tangents;
//! - `while` JVP: a `while` over `(state..., active state tangents...)`
//!   whose condition reads the primal state only, so it runs the same trips;
//! - `scan` VJP: the primal scan stays in the forward sweep, and the
//!   reverse sweep is one `scan_adjoint` whose adjoint step is the body's
//!   adjoint function, under the scan's checkpointing policy;
//! - `while` VJP: the same, with the trip count the `while` returned as the
//!   dynamic `trips` operand and `max_trips` as the length.
//!
//! A `while`'s trip count is an integer, piecewise constant in the inputs:
//! its derivative is zero, so both modes differentiate the steps that ran
//! (the derivative of the piece the inputs lie in).
//!
//! Activity is closed over the steps: a carry is active if its initial
//! value is, or if some step makes it depend on an active value (a least
//! fixed point, at most one round per carry). Only active carries get
//! tangents and cotangents. The consts' cotangents are summed over the
//! steps in the adjoint carry, so the reverse sweep holds no per-step
//! const cotangents; a const's sum starts from a literal 0.
//!
//! Batching runs the loop over the batched step (`@body_vmap`), with every
//! carry batched and the batch axis of stacked operands and results moved
//! behind the step axis. A batched `while` lets each lane run its own trip
//! count: it loops while some lane's condition holds, and lanes whose
//! condition fails keep their state (`@body_vmap_step`, `@cond_vmap_cond`);
//! a `scan_adjoint` with a batched trip count likewise masks the steps of
//! each lane beyond its count (`@body_vmap_lanes`). So `jacobian` and
//! `vmap` work through `scan`, `while` and their gradients.
//!
//! `scan_adjoint` has a JVP (a `scan_adjoint` of the tangent steps of its
//! forward and reverse steps), so forward-over-reverse works through loops
//! (`hvp`), and a VJP (see [`scan_adjoint_vjp`]: the reverse sweep run
//! again recording its carries, a `scan` that reverses it, and a
//! `scan_adjoint` of the forward recurrence), so reverse-over-reverse does
//! (`grad(grad f)`, `vjp(grad f)`), under every checkpointing policy, in
//! existing ops the JIT compiles. The VJP holds two stacks of one row per
//! step (the reverse sweep's carries and the forward states' cotangents),
//! whatever the policy: the policy bounds the forward states only.

use super::super::AdError;
use super::super::batch::{VmapSpec, batched_type, to_batched};
use super::super::emit::{Ctx, Emitter};
use super::super::forward::JvpSpec;
use super::super::reverse::{Seed, VjpSpec};
use super::{BatchOut, JvpOut};
use adjit_ir::{Checkpoint, CmpOp, Dim, Elem, Function, Op, ReduceOp, Shape, Type, Value};
use std::sync::Arc;

/// JVP of `call @func(x...)`.
pub(crate) fn call_jvp(
    cx: &mut Emitter,
    func: &str,
    x: &[Value],
    dx: &[Option<Value>],
    want: &[bool],
) -> Result<JvpOut, AdError> {
    let callee = cx.ctx.source(func)?;
    let n_out = callee.outputs().len();
    let wrt: Vec<usize> = (0..x.len()).filter(|&i| dx[i].is_some()).collect();
    let outputs: Vec<usize> = (0..n_out)
        .filter(|&i| want[i] && callee.ty(callee.outputs()[i]).elem.is_float())
        .collect();
    if wrt.is_empty() || outputs.is_empty() {
        let y = cx.call(func, x)?;
        return Ok((y, vec![None; n_out]));
    }
    let spec = JvpSpec {
        wrt,
        outputs: outputs.clone(),
        primal_outputs: true,
        zeros: false,
        base: format!("{func}_jvp"),
    };
    let d = cx.ctx.jvp(func, &spec)?;
    let args: Vec<Value> = x
        .iter()
        .copied()
        .chain(dx.iter().flatten().copied())
        .collect();
    let res = cx.call(&d.name, &args)?;
    let mut tangents = vec![None; n_out];
    let mut next = n_out;
    for (&o, &present) in outputs.iter().zip(&d.present) {
        if present {
            tangents[o] = Some(res[next]);
            next += 1;
        }
    }
    Ok((res[..n_out].to_vec(), tangents))
}

/// VJP of `call @func(x...)`.
pub(crate) fn call_vjp(
    cx: &mut Emitter,
    func: &str,
    x: &[Value],
    ybar: &[Option<Value>],
    needs: &[bool],
) -> Result<Vec<Option<Value>>, AdError> {
    let n_out = ybar.len();
    let wrt: Vec<usize> = (0..x.len()).filter(|&i| needs[i]).collect();
    let seeds: Vec<Seed> = ybar
        .iter()
        .map(|c| if c.is_some() { Seed::Param } else { Seed::Zero })
        .collect();
    let spec = VjpSpec {
        wrt: wrt.clone(),
        seeds,
        zeros: false,
        base: format!("{func}_vjp"),
    };
    let d = cx.ctx.vjp(func, &spec)?;
    let args: Vec<Value> = x
        .iter()
        .copied()
        .chain(ybar.iter().flatten().copied())
        .collect();
    let res = cx.call(&d.name, &args)?;
    let mut xbar = vec![None; x.len()];
    let mut next = n_out;
    for (&i, &present) in wrt.iter().zip(&d.present) {
        if present {
            xbar[i] = Some(res[next]);
            next += 1;
        }
    }
    Ok(xbar)
}

/// Batching rule of `call @func(x...)`.
pub(crate) fn call_batch(
    cx: &mut Emitter,
    func: &str,
    x: &[Value],
    xb: &[bool],
    size: &Dim,
) -> Result<BatchOut, AdError> {
    // The batch size is the caller's; the callee sees it as a size variable
    // of its own, bound by its batched parameters, so one batched callee
    // serves every caller and size.
    let _ = size;
    let callee = cx.ctx.source(func)?;
    let var = fresh_batch_var(&callee);
    let spec = VmapSpec {
        batched: xb.to_vec(),
        size: Dim::var(&var),
        broadcast_outputs: false,
        base: format!("{func}_vmap"),
    };
    let d = cx.ctx.vmap(func, &spec)?;
    let y = cx.call(&d.name, x)?;
    Ok((y, d.present))
}

/// A name for a batch size variable that `f` does not use: a derived
/// function binds it through its batched parameters, so one batched
/// function serves every caller and size.
fn fresh_batch_var(f: &Function) -> String {
    let taken: Vec<_> = f.values().flat_map(|v| f.ty(v).shape.vars()).collect();
    (0..)
        .map(|i| {
            if i == 0 {
                "b".to_string()
            } else {
                format!("b{i}")
            }
        })
        .find(|name| !taken.iter().any(|t| &**t == name.as_str()))
        .unwrap_or_default()
}

/// Which outputs of `f` may depend on the parameters flagged in `active`:
/// the activity rule of the sweeps (a node with an active operand has
/// active float results), run over a loop body.
fn output_activity(f: &Function, active: &[bool]) -> Vec<bool> {
    let mut act = vec![false; f.value_count()];
    for (p, &a) in f.params().iter().zip(active) {
        act[p.index()] = a;
    }
    for node in f.nodes() {
        if node.args.iter().any(|a| act[a.index()]) {
            for &r in &node.results {
                act[r.index()] = f.ty(r).elem.is_float();
            }
        }
    }
    f.outputs().iter().map(|o| act[o.index()]).collect()
}

/// The activity of a loop's operands `(consts..., carry..., xs...)` closed
/// over the steps: a carry whose next value is active in some step is
/// active in every step. `active` holds the operands' own activity; the
/// least fixed point adds at most one carry per round.
fn loop_activity(
    f: &Function,
    n_consts: usize,
    n_carry: usize,
    mut active: Vec<bool>,
) -> Vec<bool> {
    loop {
        let outs = output_activity(f, &active);
        let mut changed = false;
        for i in 0..n_carry {
            if outs.get(i).copied().unwrap_or(false) && !active[n_consts + i] {
                active[n_consts + i] = true;
                changed = true;
            }
        }
        if !changed {
            return active;
        }
    }
}

fn internal(message: &str) -> AdError {
    AdError::Internal {
        message: message.to_string(),
    }
}

/// Splits a loop's operand count into `[consts, carry, xs]`.
fn groups(n: usize, n_consts: usize, n_carry: usize) -> Result<[usize; 3], AdError> {
    n.checked_sub(n_consts)
        .and_then(|r| r.checked_sub(n_carry))
        .map(|n_xs| [n_consts, n_carry, n_xs])
        .ok_or_else(|| internal("a loop has fewer operands than its attributes say"))
}

/// Builds (or reuses) the step of a loop's tangent loop, a wrapper of the
/// body's tangent function in loop order: `(c..., ċ..., k..., k̇..., x...,
/// ẋ...) -> (k'..., k̇'..., y..., ẏ...)`, with a tangent for each operand
/// flagged in `active` (body parameter order) and each per-step output in
/// `ys` (body output indices). Every active carry gets its tangent back.
/// `groups` are the sizes of the parameter groups, each followed by its
/// tangents; the first two are the consts and the carries.
fn jvp_step(
    ctx: &mut Ctx,
    body: &str,
    groups: &[usize],
    active: &[bool],
    ys: &[usize],
) -> Result<String, AdError> {
    let key = format!("loop-jvp:{body:?}:{groups:?}:{active:?}:{ys:?}");
    if let Some(d) = ctx.memo(&key) {
        return Ok(d.name);
    }
    let f = ctx.source(body)?;
    let (n_consts, n_carry) = (groups[0], groups[1]);
    let n_out = f.outputs().len();
    let carries: Vec<usize> = (0..n_carry).filter(|&i| active[n_consts + i]).collect();
    let spec = JvpSpec {
        wrt: (0..active.len()).filter(|&i| active[i]).collect(),
        outputs: carries.iter().chain(ys).copied().collect(),
        primal_outputs: true,
        zeros: true,
        base: format!("{body}_jvp"),
    };
    let d = ctx.jvp(body, &spec)?;
    let mut cx = Emitter::new(ctx);
    let (mut primal, mut tangent) = (Vec::new(), Vec::new());
    let mut start = 0;
    for &n in groups {
        for i in start..start + n {
            let p = f.params()[i];
            primal.push(cx.param(f.value_name(p), f.ty(p).clone()));
        }
        for i in (start..start + n).filter(|&i| active[i]) {
            let p = f.params()[i];
            let name = format!("{}_dot", f.value_name(p));
            tangent.push(cx.param(&name, f.ty(p).clone()));
        }
        start += n;
    }
    let args: Vec<Value> = primal.iter().chain(&tangent).copied().collect();
    let res = cx.call(&d.name, &args)?;
    if res.len() != n_out + spec.outputs.len() {
        return Err(internal("a body's tangent function has unexpected outputs"));
    }
    let (res, tan) = res.split_at(n_out);
    let (dk, dy) = tan.split_at(carries.len());
    let outs: Vec<Value> = [&res[..n_carry], dk, &res[n_carry..], dy].concat();
    let g = cx.finish(&outs);
    Ok(ctx
        .add(g, &format!("{body}_jvp_step"), key, Vec::new())?
        .name)
}

/// The operands of a tangent loop: per group, the primal operands and then
/// the tangents of the active ones (a zero for an active carry that enters
/// the loop without a tangent).
fn tangent_operands(
    cx: &mut Emitter,
    groups: &[usize],
    active: &[bool],
    x: &[Value],
    dx: &[Option<Value>],
) -> Result<Vec<Value>, AdError> {
    let mut args = Vec::with_capacity(2 * x.len());
    let mut start = 0;
    for &n in groups {
        args.extend_from_slice(&x[start..start + n]);
        for i in (start..start + n).filter(|&i| active[i]) {
            args.push(match dx[i] {
                Some(t) => t,
                None => cx.splat_like(x[i], 0.0)?,
            });
        }
        start += n;
    }
    Ok(args)
}

/// JVP of `scan`: a scan of the body's tangent function, carrying the
/// active carries' tangents and stacking the wanted per-step outputs'
/// tangents, with the original trip count, direction and policy.
pub(crate) fn scan_jvp(
    cx: &mut Emitter,
    op: &Op,
    x: &[Value],
    dx: &[Option<Value>],
    want: &[bool],
) -> Result<JvpOut, AdError> {
    let Op::Scan {
        body,
        length,
        reverse,
        n_consts,
        n_carry,
        checkpoint,
    } = op
    else {
        return Err(internal("scan rule applied to another op"));
    };
    let (n_consts, n_carry) = (*n_consts, *n_carry);
    let f = cx.ctx.source(body)?;
    let n_out = f.outputs().len();
    let g = groups(x.len(), n_consts, n_carry)?;
    let seed = dx.iter().map(Option::is_some).collect();
    let active = loop_activity(&f, n_consts, n_carry, seed);
    let outs = output_activity(&f, &active);
    let ys: Vec<usize> = (n_carry..n_out).filter(|&j| outs[j] && want[j]).collect();
    let step = jvp_step(cx.ctx, body, &g, &active, &ys)?;
    let args = tangent_operands(cx, &g, &active, x, dx)?;
    let nc = active[..n_consts].iter().filter(|&&a| a).count();
    let nk = active[n_consts..n_consts + n_carry]
        .iter()
        .filter(|&&a| a)
        .count();
    let res = cx.push(
        Op::Scan {
            body: Arc::from(step.as_str()),
            length: length.clone(),
            reverse: *reverse,
            n_consts: n_consts + nc,
            n_carry: n_carry + nk,
            checkpoint: *checkpoint,
        },
        &args,
    )?;
    let n_ys = n_out - n_carry;
    let y: Vec<Value> = [&res[..n_carry], &res[n_carry + nk..n_carry + nk + n_ys]].concat();
    let mut dy = vec![None; n_out];
    let mut next = res[n_carry..n_carry + nk].iter();
    for i in (0..n_carry).filter(|&i| active[n_consts + i]) {
        dy[i] = next.next().copied();
    }
    for (&j, &t) in ys.iter().zip(&res[n_carry + nk + n_ys..]) {
        dy[j] = Some(t);
    }
    Ok((y, dy))
}

/// Builds (or reuses) the condition of a tangent `while`: `(c..., ċ...,
/// s..., ṡ...) -> cond(c..., s...)`.
fn jvp_cond(
    ctx: &mut Ctx,
    cond: &str,
    groups: [usize; 2],
    active: &[bool],
) -> Result<String, AdError> {
    let key = format!("loop-cond:{cond:?}:{groups:?}:{active:?}");
    if let Some(d) = ctx.memo(&key) {
        return Ok(d.name);
    }
    let f = ctx.source(cond)?;
    let mut cx = Emitter::new(ctx);
    let mut primal = Vec::new();
    let mut start = 0;
    for n in groups {
        for i in start..start + n {
            let p = f.params()[i];
            primal.push(cx.param(f.value_name(p), f.ty(p).clone()));
        }
        for i in (start..start + n).filter(|&i| active[i]) {
            let p = f.params()[i];
            let name = format!("{}_dot", f.value_name(p));
            cx.param(&name, f.ty(p).clone());
        }
        start += n;
    }
    let res = cx.call(cond, &primal)?;
    let g = cx.finish(&res);
    Ok(ctx
        .add(g, &format!("{cond}_jvp_cond"), key, Vec::new())?
        .name)
}

/// JVP of `while`: a `while` over the state and the active states'
/// tangents, whose body is the body's tangent function and whose condition
/// reads the primal state only, so it runs the same trips.
pub(crate) fn while_jvp(
    cx: &mut Emitter,
    op: &Op,
    x: &[Value],
    dx: &[Option<Value>],
) -> Result<JvpOut, AdError> {
    let Op::While {
        cond,
        body,
        max_trips,
        n_consts,
        checkpoint,
    } = op
    else {
        return Err(internal("while rule applied to another op"));
    };
    let n_consts = *n_consts;
    let [_, _, n_state] = groups(x.len(), n_consts, 0)?;
    let f = cx.ctx.source(body)?;
    let seed = dx.iter().map(Option::is_some).collect();
    let active = loop_activity(&f, n_consts, n_state, seed);
    let step = jvp_step(cx.ctx, body, &[n_consts, n_state, 0], &active, &[])?;
    let test = jvp_cond(cx.ctx, cond, [n_consts, n_state], &active)?;
    let args = tangent_operands(cx, &[n_consts, n_state], &active, x, dx)?;
    let nc = active[..n_consts].iter().filter(|&&a| a).count();
    let nk = active[n_consts..].iter().filter(|&&a| a).count();
    let res = cx.push(
        Op::While {
            cond: Arc::from(test.as_str()),
            body: Arc::from(step.as_str()),
            max_trips: max_trips.clone(),
            n_consts: n_consts + nc,
            checkpoint: *checkpoint,
        },
        &args,
    )?;
    let mut y = res[..n_state].to_vec();
    y.push(res[n_state + nk]);
    let mut dy = vec![None; n_state + 1];
    let mut next = res[n_state..n_state + nk].iter();
    for i in (0..n_state).filter(|&i| active[n_consts + i]) {
        dy[i] = next.next().copied();
    }
    Ok((y, dy))
}

/// Builds (or reuses) the reverse step of a loop, a wrapper of the body's
/// adjoint function in the layout of `scan_adjoint`:
/// `(c..., k̄..., c̄_acc..., k..., x..., ȳ...) -> (k̄_prev..., c̄_acc + c̄..., x̄...)`
/// for the carries in `carries`, the consts in `consts` (their cotangents
/// summed over the steps in the adjoint carry), the scanned inputs in `xs`
/// and the per-step outputs in `ys` (body output indices) that have
/// cotangents.
fn vjp_step(
    ctx: &mut Ctx,
    body: &str,
    groups: [usize; 3],
    [consts, carries, xs, ys]: [&[usize]; 4],
) -> Result<String, AdError> {
    let key = format!("loop-vjp:{body:?}:{groups:?}:{consts:?}:{carries:?}:{xs:?}:{ys:?}");
    if let Some(d) = ctx.memo(&key) {
        return Ok(d.name);
    }
    let f = ctx.source(body)?;
    let [n_consts, n_carry, n_xs] = groups;
    let n_out = f.outputs().len();
    let seeds = (0..n_out)
        .map(|o| {
            if carries.contains(&o) || ys.contains(&o) {
                Seed::Param
            } else {
                Seed::Zero
            }
        })
        .collect();
    let spec = VjpSpec {
        wrt: consts
            .iter()
            .copied()
            .chain(carries.iter().map(|&i| n_consts + i))
            .chain(xs.iter().map(|&i| n_consts + n_carry + i))
            .collect(),
        seeds,
        zeros: true,
        base: format!("{body}_vjp"),
    };
    let d = ctx.vjp(body, &spec)?;
    let mut cx = Emitter::new(ctx);
    let param = |cx: &mut Emitter, i: usize, suffix: &str| {
        let p = f.params()[i];
        cx.param(&format!("{}{suffix}", f.value_name(p)), f.ty(p).clone())
    };
    let c: Vec<Value> = (0..n_consts).map(|i| param(&mut cx, i, "")).collect();
    let kbar: Vec<Value> = carries
        .iter()
        .map(|&i| param(&mut cx, n_consts + i, "_bar"))
        .collect();
    let cacc: Vec<Value> = consts.iter().map(|&i| param(&mut cx, i, "_bar")).collect();
    let k: Vec<Value> = (0..n_carry)
        .map(|i| param(&mut cx, n_consts + i, ""))
        .collect();
    let xv: Vec<Value> = (0..n_xs)
        .map(|i| param(&mut cx, n_consts + n_carry + i, ""))
        .collect();
    let ybar: Vec<Value> = ys
        .iter()
        .map(|&j| {
            let o = f.outputs()[j];
            cx.param(&format!("{}_bar", f.value_name(o)), f.ty(o).clone())
        })
        .collect();
    let args = [&c[..], &k, &xv, &kbar, &ybar].concat();
    let res = cx.call(&d.name, &args)?;
    if res.len() != n_out + spec.wrt.len() {
        return Err(internal("a body's adjoint function has unexpected outputs"));
    }
    let (cbar, rest) = res[n_out..].split_at(consts.len());
    let (kbar_prev, xbar) = rest.split_at(carries.len());
    let mut outs = kbar_prev.to_vec();
    for (&acc, &step) in cacc.iter().zip(cbar) {
        outs.push(cx.add(acc, step)?);
    }
    outs.extend_from_slice(xbar);
    let g = cx.finish(&outs);
    Ok(ctx
        .add(g, &format!("{body}_vjp_step"), key, Vec::new())?
        .name)
}

/// A loop as its reverse sweep sees it: a `scan` (a `while` is a scan
/// with no scanned inputs or per-step outputs, run for a recorded number of
/// trips).
struct Reversed<'a> {
    body: &'a str,
    length: &'a Dim,
    reverse: bool,
    checkpoint: Checkpoint,
    n_consts: usize,
    n_carry: usize,
}

/// The reverse sweep of a loop: one `scan_adjoint` of the body's adjoint
/// step over the loop's states (obtained as its policy says), carrying the
/// active carries' cotangents and the sums of the consts' cotangents.
/// `ybar` holds the cotangents of the body's outputs (final carries, then
/// stacked per-step outputs).
fn loop_vjp(
    cx: &mut Emitter,
    lp: &Reversed,
    x: &[Value],
    ybar: &[Option<Value>],
    needs: &[bool],
    trips: Option<Value>,
) -> Result<Vec<Option<Value>>, AdError> {
    let (n_consts, n_carry) = (lp.n_consts, lp.n_carry);
    let g = groups(x.len(), n_consts, n_carry)?;
    let f = cx.ctx.source(lp.body)?;
    let n_out = f.outputs().len();
    if ybar.len() != n_out {
        return Err(internal("a loop's results do not match its body"));
    }
    let active = loop_activity(&f, n_consts, n_carry, needs.to_vec());
    let consts: Vec<usize> = (0..n_consts).filter(|&i| needs[i]).collect();
    let carries: Vec<usize> = (0..n_carry).filter(|&i| active[n_consts + i]).collect();
    let xs: Vec<usize> = (0..g[2])
        .filter(|&i| needs[n_consts + n_carry + i])
        .collect();
    let ys: Vec<usize> = (n_carry..n_out).filter(|&j| ybar[j].is_some()).collect();
    let step = vjp_step(cx.ctx, lp.body, g, [&consts, &carries, &xs, &ys])?;
    let mut args = x.to_vec();
    for &i in &carries {
        args.push(match ybar[i] {
            Some(b) => b,
            None => cx.splat_like(x[n_consts + i], 0.0)?,
        });
    }
    for &i in &consts {
        args.push(cx.splat_like(x[i], 0.0)?);
    }
    args.extend(ys.iter().filter_map(|&j| ybar[j]));
    args.extend(trips);
    let res = cx.push(
        Op::ScanAdjoint {
            body: Arc::from(lp.body),
            adjoint: Arc::from(step.as_str()),
            length: lp.length.clone(),
            reverse: lp.reverse,
            checkpoint: lp.checkpoint,
            n_consts,
            n_carry,
            n_xs: g[2],
            n_acarry: carries.len() + consts.len(),
            trips: trips.is_some(),
        },
        &args,
    )?;
    let mut xbar = vec![None; x.len()];
    let mut next = res.iter().copied();
    for &i in &carries {
        let b = next.next();
        if needs[n_consts + i] {
            xbar[n_consts + i] = b;
        }
    }
    for &i in &consts {
        xbar[i] = next.next();
    }
    for &i in &xs {
        xbar[n_consts + n_carry + i] = next.next();
    }
    Ok(xbar)
}

/// VJP of `scan`: the primal scan is already in the forward sweep; the
/// reverse sweep is a `scan_adjoint` of the body's adjoint step under the
/// scan's checkpointing policy.
pub(crate) fn scan_vjp(
    cx: &mut Emitter,
    op: &Op,
    x: &[Value],
    ybar: &[Option<Value>],
    needs: &[bool],
) -> Result<Vec<Option<Value>>, AdError> {
    let Op::Scan {
        body,
        length,
        reverse,
        n_consts,
        n_carry,
        checkpoint,
    } = op
    else {
        return Err(internal("scan rule applied to another op"));
    };
    let lp = Reversed {
        body,
        length,
        reverse: *reverse,
        checkpoint: *checkpoint,
        n_consts: *n_consts,
        n_carry: *n_carry,
    };
    loop_vjp(cx, &lp, x, ybar, needs, None)
}

/// VJP of `while`: a `scan_adjoint` of the body's adjoint step whose
/// dynamic trip count is the one the forward `while` recorded, with
/// `max_trips` as its length and the loop's checkpointing policy.
pub(crate) fn while_vjp(
    cx: &mut Emitter,
    op: &Op,
    x: &[Value],
    y: &[Value],
    ybar: &[Option<Value>],
    needs: &[bool],
) -> Result<Vec<Option<Value>>, AdError> {
    let Op::While {
        body,
        max_trips,
        n_consts,
        checkpoint,
        ..
    } = op
    else {
        return Err(internal("while rule applied to another op"));
    };
    let [_, _, n_state] = groups(x.len(), *n_consts, 0)?;
    let (Some(&trips), Some(state_bar)) = (y.last(), ybar.get(..n_state)) else {
        return Err(internal("a while has fewer results than its state"));
    };
    let lp = Reversed {
        body,
        length: max_trips,
        reverse: false,
        checkpoint: *checkpoint,
        n_consts: *n_consts,
        n_carry: n_state,
    };
    loop_vjp(cx, &lp, x, state_bar, needs, Some(trips))
}

/// The results of a batched loop: the first `carried` are batched on axis
/// 0 already; the stacked ones have the step axis first and the batch axis
/// second, which are swapped. Every result is batched.
fn batched_loop_results(
    cx: &mut Emitter,
    res: &[Value],
    carried: usize,
) -> Result<BatchOut, AdError> {
    let mut y = res[..carried].to_vec();
    for &r in &res[carried..] {
        y.push(swap_leading(cx, r)?);
    }
    let yb = vec![true; y.len()];
    Ok((y, yb))
}

/// Swaps the two leading axes (the batch axis and a loop's step axis).
fn swap_leading(cx: &mut Emitter, v: Value) -> Result<Value, AdError> {
    let mut perm: Vec<usize> = (0..cx.ty(v).rank()).collect();
    perm.swap(0, 1);
    cx.transpose(v, perm)
}

/// The batched version of a loop step: `func` with the parameters flagged
/// in `batched` given the batch axis, every output batched.
fn batched_step(ctx: &mut Ctx, func: &str, batched: Vec<bool>) -> Result<Arc<str>, AdError> {
    let f = ctx.source(func)?;
    let spec = VmapSpec {
        batched,
        size: Dim::var(&fresh_batch_var(&f)),
        broadcast_outputs: true,
        base: format!("{func}_vmap"),
    };
    Ok(Arc::from(ctx.vmap(func, &spec)?.name.as_str()))
}

/// The operand of a loop in batched form: a carry gets the batch axis if it
/// lacks it (`carry`), a batched stacked operand has its batch axis moved
/// behind the step axis (`stacked`), anything else is passed as it is.
fn loop_operand(
    cx: &mut Emitter,
    v: Value,
    batched: bool,
    carry: bool,
    stacked: bool,
    size: &Dim,
) -> Result<Value, AdError> {
    match (batched, carry, stacked) {
        (false, true, _) => to_batched(cx, v, size),
        (true, _, true) => swap_leading(cx, v),
        _ => Ok(v),
    }
}

/// Batching of `scan`: a scan of the batched body with every carry batched
/// (a carry the batch does not reach is broadcast, which keeps the rule
/// free of a fixed point over the body); batched scanned inputs and the
/// stacked outputs have their batch axis moved behind the step axis.
pub(crate) fn scan_batch(
    cx: &mut Emitter,
    op: &Op,
    x: &[Value],
    xb: &[bool],
    size: &Dim,
) -> Result<BatchOut, AdError> {
    let Op::Scan {
        body,
        length,
        reverse,
        n_consts,
        n_carry,
        checkpoint,
    } = op
    else {
        return Err(internal("scan rule applied to another op"));
    };
    let [nc, nk, _] = groups(x.len(), *n_consts, *n_carry)?;
    let is_carry = |i: usize| (nc..nc + nk).contains(&i);
    let flags: Vec<bool> = (0..x.len()).map(|i| xb[i] || is_carry(i)).collect();
    let step = batched_step(cx.ctx, body, flags)?;
    let mut args = Vec::with_capacity(x.len());
    for (i, &v) in x.iter().enumerate() {
        args.push(loop_operand(cx, v, xb[i], is_carry(i), i >= nc + nk, size)?);
    }
    let res = cx.push(
        Op::Scan {
            body: step,
            length: length.clone(),
            reverse: *reverse,
            n_consts: nc,
            n_carry: nk,
            checkpoint: *checkpoint,
        },
        &args,
    )?;
    batched_loop_results(cx, &res, nk)
}

/// Builds the condition and body of a batched `while` whose lanes may run
/// different numbers of trips, over `(consts..., state..., trips)` with
/// every state batched and `trips: i64[b]` counting each lane's steps:
/// - condition: some lane's condition holds;
/// - body: the lanes whose condition holds take a step and count it, the
///   others keep their state (`select`), so a lane stops for good when its
///   condition first fails, as it would alone.
fn masked_while(
    ctx: &mut Ctx,
    cond: &str,
    body: &str,
    n_consts: usize,
    xb: &[bool],
) -> Result<(Arc<str>, Arc<str>), AdError> {
    let key = format!("while-vmap:{cond:?}:{body:?}:{n_consts}:{xb:?}");
    let keys = (format!("{key}:cond"), format!("{key}:body"));
    if let (Some(c), Some(b)) = (ctx.memo(&keys.0), ctx.memo(&keys.1)) {
        return Ok((Arc::from(c.name.as_str()), Arc::from(b.name.as_str())));
    }
    let f = ctx.source(body)?;
    let flags: Vec<bool> = (0..xb.len()).map(|i| xb[i] || i >= n_consts).collect();
    let cond_b = batched_step(ctx, cond, flags.clone())?;
    let body_b = batched_step(ctx, body, flags.clone())?;
    let lanes = Dim::var(&fresh_batch_var(&f));
    let mut names = Vec::new();
    for (with_body, key) in [(false, keys.0), (true, keys.1)] {
        let mut cx = Emitter::new(ctx);
        let params: Vec<Value> = f
            .params()
            .iter()
            .zip(&flags)
            .map(|(&p, &b)| {
                let ty = f.ty(p);
                let ty = if b {
                    batched_type(ty, &lanes)
                } else {
                    ty.clone()
                };
                cx.param(f.value_name(p), ty)
            })
            .collect();
        let trips = cx.param("trips", Type::new(Elem::I64, Shape(vec![lanes.clone()])));
        let go = cx.call(&cond_b, &params)?[0];
        let outs = if with_body {
            let next = cx.call(&body_b, &params)?;
            let mut outs = Vec::with_capacity(next.len() + 1);
            for (&s2, &s) in next.iter().zip(&params[n_consts..]) {
                let mask = cx.broadcast(go, cx.shape(s), vec![0])?;
                outs.push(cx.select(mask, s2, s)?);
            }
            let step = cx.convert(go, Elem::I64)?;
            outs.push(cx.add(trips, step)?);
            outs
        } else {
            let count = cx.convert(go, Elem::I64)?;
            let most = cx.reduce(ReduceOp::Max, count, vec![0])?;
            let zero = cx.splat(Type::scalar(Elem::I64), 0.0)?;
            vec![cx.cmp(CmpOp::Gt, most, zero)?]
        };
        let g = cx.finish(&outs);
        let base = if with_body {
            format!("{body}_vmap_step")
        } else {
            format!("{cond}_vmap_cond")
        };
        names.push(ctx.add(g, &base, key, Vec::new())?.name);
    }
    Ok((Arc::from(names[0].as_str()), Arc::from(names[1].as_str())))
}

/// Batching of `while`: a `while` over every state batched and a per-lane
/// trip count (see [`masked_while`]); the loop runs until no lane's
/// condition holds or `max_trips` steps, and the batched trip count is the
/// per-lane one. A lane that has stopped still evaluates the body (its
/// result discarded), so a body that fails at run time on such a state
/// fails the batch.
pub(crate) fn while_batch(
    cx: &mut Emitter,
    op: &Op,
    x: &[Value],
    xb: &[bool],
    size: &Dim,
) -> Result<BatchOut, AdError> {
    let Op::While {
        cond,
        body,
        max_trips,
        n_consts,
        checkpoint,
    } = op
    else {
        return Err(internal("while rule applied to another op"));
    };
    let [nc, _, n_state] = groups(x.len(), *n_consts, 0)?;
    let (test, step) = masked_while(cx.ctx, cond, body, nc, xb)?;
    let mut args = x[..nc].to_vec();
    for (&v, &b) in x[nc..].iter().zip(&xb[nc..]) {
        args.push(loop_operand(cx, v, b, true, false, size)?);
    }
    let zero = cx.splat(Type::new(Elem::I64, Shape(vec![size.clone()])), 0.0)?;
    args.push(zero);
    let res = cx.push(
        Op::While {
            cond: test,
            body: step,
            max_trips: max_trips.clone(),
            n_consts: nc,
            checkpoint: *checkpoint,
        },
        &args,
    )?;
    let y = res[..=n_state].to_vec();
    let yb = vec![true; y.len()];
    Ok((y, yb))
}

/// JVP of `scan_adjoint`: a `scan_adjoint` whose forward step is the
/// body's tangent step over `(carry, carry tangent)` and whose reverse step
/// is the adjoint step's tangent step over `(adjoint carry, its tangent)`;
/// each operand group is followed by the tangents of its active members.
/// This is what makes `hvp` (forward over reverse) work through loops.
pub(crate) fn scan_adjoint_jvp(
    cx: &mut Emitter,
    op: &Op,
    x: &[Value],
    dx: &[Option<Value>],
    want: &[bool],
) -> Result<JvpOut, AdError> {
    let Op::ScanAdjoint {
        body,
        adjoint,
        length,
        reverse,
        checkpoint,
        n_consts,
        n_carry,
        n_xs,
        n_acarry,
        trips,
    } = op
    else {
        return Err(internal("scan_adjoint rule applied to another op"));
    };
    let (nc, nk, nx, na) = (*n_consts, *n_carry, *n_xs, *n_acarry);
    let fixed = nc + nk + nx;
    let n_axs = x
        .len()
        .checked_sub(fixed + na + usize::from(*trips))
        .ok_or_else(|| internal("a scan_adjoint has fewer operands than its attributes say"))?;
    let seed: Vec<bool> = dx.iter().map(Option::is_some).collect();
    let fwd = cx.ctx.source(body)?;
    let fwd_active = loop_activity(&fwd, nc, nk, seed[..fixed].to_vec());
    // The adjoint step's parameters: consts, adjoint carry, carry, xs, adjoint xs.
    let mut adj_seed: Vec<bool> = fwd_active[..nc].to_vec();
    adj_seed.extend_from_slice(&seed[fixed..fixed + na]);
    adj_seed.extend_from_slice(&fwd_active[nc..]);
    adj_seed.extend_from_slice(&seed[fixed + na..fixed + na + n_axs]);
    let adj = cx.ctx.source(adjoint)?;
    let adj_active = loop_activity(&adj, nc, na, adj_seed);
    let outs = output_activity(&adj, &adj_active);
    let n_out = adj.outputs().len();
    let ys: Vec<usize> = (na..n_out).filter(|&j| outs[j] && want[j]).collect();
    let step = jvp_step(cx.ctx, body, &[nc, nk, nx], &fwd_active, &[])?;
    let back = jvp_step(cx.ctx, adjoint, &[nc, na, nk, nx, n_axs], &adj_active, &ys)?;
    // The operands' activity in the op's order.
    let mut active = fwd_active.clone();
    active.extend_from_slice(&adj_active[nc..nc + na]);
    active.extend_from_slice(&adj_active[nc + na + nk + nx..]);
    let groups = [nc, nk, nx, na, n_axs];
    let mut args = tangent_operands(cx, &groups, &active, x, dx)?;
    args.extend(x.last().filter(|_| *trips));
    let count = |range: std::ops::Range<usize>| active[range].iter().filter(|&&a| a).count();
    let nda = count(fixed..fixed + na);
    let res = cx.push(
        Op::ScanAdjoint {
            body: Arc::from(step.as_str()),
            adjoint: Arc::from(back.as_str()),
            length: length.clone(),
            reverse: *reverse,
            checkpoint: *checkpoint,
            n_consts: nc + count(0..nc),
            n_carry: nk + count(nc..nc + nk),
            n_xs: nx + count(nc + nk..fixed),
            n_acarry: na + nda,
            trips: *trips,
        },
        &args,
    )?;
    let n_ys = n_out - na;
    let y: Vec<Value> = [&res[..na], &res[na + nda..na + nda + n_ys]].concat();
    let mut dy = vec![None; n_out];
    let mut next = res[na..na + nda].iter();
    for i in (0..na).filter(|&i| active[fixed + i]) {
        dy[i] = next.next().copied();
    }
    for (&j, &t) in ys.iter().zip(&res[na + nda + n_ys..]) {
        dy[j] = Some(t);
    }
    Ok((y, dy))
}

/// The indices in `range` of the float parameters of `f`, relative to the
/// range's start.
fn float_params(f: &Function, range: std::ops::Range<usize>) -> Vec<usize> {
    let start = range.start;
    range
        .filter(|&i| f.ty(f.params()[i]).elem.is_float())
        .map(|i| i - start)
        .collect()
}

/// Builds (or reuses) the reverse step of a `scan_adjoint` that also
/// returns its adjoint-carry input as per-step outputs: `(c..., a..., k...,
/// x..., ax...) -> (a'..., ay..., a...)`, so the recomputed sweep stacks
/// `a_{s+1}` at the index of step `s`.
fn recording_step(ctx: &mut Ctx, adjoint: &str, nc: usize, na: usize) -> Result<String, AdError> {
    let key = format!("adjoint-record:{adjoint:?}:{nc}:{na}");
    if let Some(d) = ctx.memo(&key) {
        return Ok(d.name);
    }
    let f = ctx.source(adjoint)?;
    let mut cx = Emitter::new(ctx);
    let params: Vec<Value> = f
        .params()
        .iter()
        .map(|&p| cx.param(f.value_name(p), f.ty(p).clone()))
        .collect();
    let mut outs = cx.call(adjoint, &params)?;
    outs.extend_from_slice(&params[nc..nc + na]);
    let g = cx.finish(&outs);
    Ok(ctx
        .add(g, &format!("{adjoint}_record"), key, Vec::new())?
        .name)
}

/// The layout of a `scan_adjoint` whose VJP is being built.
struct AdjointLayout {
    nc: usize,
    nk: usize,
    nx: usize,
    na: usize,
    n_axs: usize,
    n_ay: usize,
    trips: bool,
}

/// Builds (or reuses) the step of the forward sweep that reverses a
/// `scan_adjoint`'s reverse sweep: a scan body over
/// `(c..., [n], k..., ā..., c̄..., [i], x..., ax..., a..., āy...)` that
/// advances the forward state `k` by the body and pulls the cotangent `ā`
/// of the reverse sweep's carry back through the adjoint step at
/// `(c, a, k, x, ax)` (with `a` the recorded `a_{s+1}`), summing the
/// consts' cotangents in `c̄`. Per-step outputs: the cotangents of `k`, `x`
/// and `ax` at that step. With a trip count `n` and step counter `i`,
/// steps from `n` on keep the carry and output zeros. Only float values
/// get cotangents; `ays` lists the adjoint step's per-step outputs that
/// have one.
fn reverse_reverse_step(
    ctx: &mut Ctx,
    body: &str,
    adjoint: &str,
    lay: &AdjointLayout,
    ays: &[usize],
) -> Result<String, AdError> {
    let key = format!(
        "adjoint-vjp:{body:?}:{adjoint:?}:{}:{}:{}:{}:{}:{}:{ays:?}",
        lay.nc, lay.nk, lay.nx, lay.na, lay.n_axs, lay.trips
    );
    if let Some(d) = ctx.memo(&key) {
        return Ok(d.name);
    }
    let AdjointLayout {
        nc,
        nk,
        nx,
        na,
        n_axs,
        n_ay,
        trips,
    } = *lay;
    let adj = ctx.source(adjoint)?;
    let n_params = nc + na + nk + nx + n_axs;
    if adj.params().len() != n_params || adj.outputs().len() != na + n_ay {
        return Err(internal(
            "a scan_adjoint's adjoint step does not match its layout",
        ));
    }
    let fl: Vec<usize> = float_params(&adj, 0..n_params);
    let fa: Vec<usize> = float_params(&adj, nc..nc + na);
    let fcn: Vec<usize> = float_params(&adj, 0..nc);
    let out_float = |j: usize| adj.ty(adj.outputs()[j]).elem.is_float();
    let seeds: Vec<Seed> = (0..na + n_ay)
        .map(|j| {
            let on = if j < na {
                fa.contains(&j)
            } else {
                ays.contains(&(j - na))
            };
            if on && out_float(j) {
                Seed::Param
            } else {
                Seed::Zero
            }
        })
        .collect();
    let spec = VjpSpec {
        wrt: fl.clone(),
        seeds,
        zeros: true,
        base: format!("{adjoint}_vjp"),
    };
    let d = ctx.vjp(adjoint, &spec)?;
    let mut cx = Emitter::new(ctx);
    let param = |cx: &mut Emitter, i: usize, suffix: &str| {
        let p = adj.params()[i];
        cx.param(&format!("{}{suffix}", adj.value_name(p)), adj.ty(p).clone())
    };
    let i64s = Type::scalar(Elem::I64);
    // Parameters in scan order.
    let c: Vec<Value> = (0..nc).map(|i| param(&mut cx, i, "")).collect();
    let n = trips.then(|| cx.param("n", i64s.clone()));
    let k: Vec<Value> = (0..nk).map(|i| param(&mut cx, nc + na + i, "")).collect();
    let abar: Vec<Value> = fa.iter().map(|&i| param(&mut cx, nc + i, "_bar")).collect();
    let cacc: Vec<Value> = fcn.iter().map(|&i| param(&mut cx, i, "_bar")).collect();
    let step = trips.then(|| cx.param("i", i64s.clone()));
    let xv: Vec<Value> = (0..nx)
        .map(|i| param(&mut cx, nc + na + nk + i, ""))
        .collect();
    let ax: Vec<Value> = (0..n_axs)
        .map(|i| param(&mut cx, nc + na + nk + nx + i, ""))
        .collect();
    let a: Vec<Value> = (0..na).map(|i| param(&mut cx, nc + i, "")).collect();
    let aybar: Vec<Value> = ays
        .iter()
        .map(|&j| {
            let o = adj.outputs()[na + j];
            cx.param(&format!("{}_bar", adj.value_name(o)), adj.ty(o).clone())
        })
        .collect();
    // The forward step.
    let fwd = cx.call(body, &[&c[..], &k, &xv].concat())?;
    let knext = fwd
        .get(..nk)
        .ok_or_else(|| internal("a loop body returns fewer values than its carry"))?
        .to_vec();
    // The adjoint step's cotangents.
    let args = [&c[..], &a, &k, &xv, &ax, &abar, &aybar].concat();
    let res = cx.call(&d.name, &args)?;
    let cots = res
        .get(na + n_ay..)
        .filter(|r| r.len() == fl.len())
        .ok_or_else(|| internal("an adjoint step's derivative has unexpected outputs"))?
        .to_vec();
    let cot_of = |i: usize| cots[fl.iter().position(|&k| k == i).unwrap_or(0)];
    let anext: Vec<Value> = fa.iter().map(|&i| cot_of(nc + i)).collect();
    let mut cnext = Vec::with_capacity(cacc.len());
    for (&acc, &i) in cacc.iter().zip(&fcn) {
        cnext.push(cx.add(acc, cot_of(i))?);
    }
    let mut ys = Vec::new();
    for (start, len) in [
        (nc + na, nk),
        (nc + na + nk, nx),
        (nc + na + nk + nx, n_axs),
    ] {
        for i in float_params(&adj, start..start + len) {
            ys.push(cot_of(start + i));
        }
    }
    let old: Vec<Value> = [&k[..], &abar, &cacc].concat();
    let new: Vec<Value> = [&knext[..], &anext, &cnext].concat();
    let mut outs = Vec::with_capacity(new.len() + ys.len() + 1);
    match (n, step) {
        (Some(n), Some(i)) => {
            let live = cx.cmp(CmpOp::Lt, i, n)?;
            for (&nv, &ov) in new.iter().zip(&old) {
                let mask = cx.broadcast(live, cx.shape(nv), vec![])?;
                outs.push(cx.select(mask, nv, ov)?);
            }
            let one = cx.splat(i64s, 1.0)?;
            outs.push(cx.add(i, one)?);
            for &y in &ys {
                let mask = cx.broadcast(live, cx.shape(y), vec![])?;
                let zero = cx.splat_like(y, 0.0)?;
                outs.push(cx.select(mask, y, zero)?);
            }
        }
        _ => {
            outs.extend_from_slice(&new);
            outs.extend_from_slice(&ys);
        }
    }
    let g = cx.finish(&outs);
    Ok(ctx
        .add(g, &format!("{adjoint}_vjp_step"), key, Vec::new())?
        .name)
}

/// Builds (or reuses) the reverse step of the forward recurrence with an
/// extra cotangent per step: the body's adjoint step (see [`vjp_step`]) over
/// the float carries and consts, whose carry cotangent gains the scanned
/// input `extra_{t(s)}`: `(c..., k̄..., c̄..., k..., x..., extra...) ->
/// (k̄_prev + extra..., c̄ + ∂c..., x̄...)`.
fn forward_reverse_step(
    ctx: &mut Ctx,
    body: &str,
    groups: [usize; 3],
    [consts, carries, xs]: [&[usize]; 3],
) -> Result<String, AdError> {
    let key = format!("loop-vjp-extra:{body:?}:{groups:?}:{consts:?}:{carries:?}:{xs:?}");
    if let Some(d) = ctx.memo(&key) {
        return Ok(d.name);
    }
    let inner = vjp_step(ctx, body, groups, [consts, carries, xs, &[]])?;
    let f = ctx.source(&inner)?;
    let b = ctx.source(body)?;
    let mut cx = Emitter::new(ctx);
    let params: Vec<Value> = f
        .params()
        .iter()
        .map(|&p| cx.param(f.value_name(p), f.ty(p).clone()))
        .collect();
    let extra: Vec<Value> = carries
        .iter()
        .map(|&i| {
            let p = b.params()[groups[0] + i];
            cx.param(&format!("{}_adj", b.value_name(p)), b.ty(p).clone())
        })
        .collect();
    let mut outs = cx.call(&inner, &params)?;
    for (o, &e) in outs.iter_mut().zip(&extra) {
        *o = cx.add(*o, e)?;
    }
    let g = cx.finish(&outs);
    Ok(ctx
        .add(g, &format!("{body}_vjp_extra"), key, Vec::new())?
        .name)
}

/// VJP of `scan_adjoint` (reverse over reverse through a loop). With
/// `c_s` the forward states and `a_s` the reverse sweep's carries, the
/// cotangents flow in three sweeps, all loops the JIT runs natively:
/// 1. the reverse sweep again (a `scan_adjoint` under the op's policy)
///    stacking each `a_{s+1}` at the index of step `s`;
/// 2. a `scan` forward in `s` ([`reverse_reverse_step`]) that recomputes
///    `c_s` and carries `ā_s`, the cotangent of the reverse carry, through
///    the adjoint step's VJP: it yields `ā_n` (the cotangent of the
///    adjoint carry's initial value), the consts' share, and per step the
///    cotangents of `c_s`, `x_t` and `ax_t`;
/// 3. the reverse sweep of the forward recurrence (a `scan_adjoint` under
///    the op's policy, [`forward_reverse_step`]) with the cotangents of the
///    `c_s` from sweep 2 added at each step: it yields the cotangents of
///    the initial carry, of the consts and of the scanned inputs.
///
/// The states `c_s` are obtained as the policy says; the reverse carries
/// `a_{s+1}` and the per-step cotangents of the `c_s` are stacked (one row
/// per step of `length`). With a dynamic trip count, sweep 2 runs `length`
/// steps and masks those from the trip count on.
pub(crate) fn scan_adjoint_vjp(
    cx: &mut Emitter,
    op: &Op,
    x: &[Value],
    ybar: &[Option<Value>],
    needs: &[bool],
) -> Result<Vec<Option<Value>>, AdError> {
    let Op::ScanAdjoint {
        body,
        adjoint,
        length,
        reverse,
        checkpoint,
        n_consts,
        n_carry,
        n_xs,
        n_acarry,
        trips,
    } = op
    else {
        return Err(internal("scan_adjoint rule applied to another op"));
    };
    let (nc, nk, nx, na) = (*n_consts, *n_carry, *n_xs, *n_acarry);
    let fixed = nc + nk + nx;
    let n_axs = x
        .len()
        .checked_sub(fixed + na + usize::from(*trips))
        .ok_or_else(|| internal("a scan_adjoint has fewer operands than its attributes say"))?;
    let n_ay = ybar
        .len()
        .checked_sub(na)
        .ok_or_else(|| internal("a scan_adjoint has fewer results than its adjoint carry"))?;
    let lay = AdjointLayout {
        nc,
        nk,
        nx,
        na,
        n_axs,
        n_ay,
        trips: *trips,
    };
    let trip = x.last().copied().filter(|_| *trips);
    let is_float = |cx: &Emitter, v: Value| cx.elem(v).is_float();

    // 1. The reverse sweep, recording a_{s+1}.
    let rec = recording_step(cx.ctx, adjoint, nc, na)?;
    let res = cx.push(
        Op::ScanAdjoint {
            body: body.clone(),
            adjoint: Arc::from(rec.as_str()),
            length: length.clone(),
            reverse: *reverse,
            checkpoint: *checkpoint,
            n_consts: nc,
            n_carry: nk,
            n_xs: nx,
            n_acarry: na,
            trips: *trips,
        },
        x,
    )?;
    let a_stack = res[na + n_ay..].to_vec();

    // 2. Forward in s: the cotangents through the adjoint step.
    let ays: Vec<usize> = (0..n_ay)
        .filter(|&j| ybar[na + j].is_some() && is_float(cx, res[na + j]))
        .collect();
    let step = reverse_reverse_step(cx.ctx, body, adjoint, &lay, &ays)?;
    let (consts, carry) = (&x[..nc], &x[nc..nc + nk]);
    let (xs, ainit) = (&x[nc + nk..fixed], &x[fixed..fixed + na]);
    let axs = &x[fixed + na..fixed + na + n_axs];
    let fa: Vec<usize> = (0..na).filter(|&i| is_float(cx, ainit[i])).collect();
    let fcn: Vec<usize> = (0..nc).filter(|&i| is_float(cx, consts[i])).collect();
    let fk: Vec<usize> = (0..nk).filter(|&i| is_float(cx, carry[i])).collect();
    let fx: Vec<usize> = (0..nx).filter(|&i| is_float(cx, xs[i])).collect();
    let fax: Vec<usize> = (0..n_axs).filter(|&i| is_float(cx, axs[i])).collect();
    let mut args: Vec<Value> = consts.to_vec();
    args.extend(trip);
    args.extend_from_slice(carry);
    for &i in &fa {
        args.push(match ybar[i] {
            Some(b) => b,
            None => cx.splat_like(ainit[i], 0.0)?,
        });
    }
    for &i in &fcn {
        args.push(cx.splat_like(consts[i], 0.0)?);
    }
    if *trips {
        args.push(cx.splat(Type::scalar(Elem::I64), 0.0)?);
    }
    args.extend_from_slice(xs);
    args.extend_from_slice(axs);
    args.extend_from_slice(&a_stack);
    args.extend(ays.iter().filter_map(|&j| ybar[na + j]));
    let n_carry2 = nk + fa.len() + fcn.len() + usize::from(*trips);
    let sweep = cx.push(
        Op::Scan {
            body: Arc::from(step.as_str()),
            length: length.clone(),
            reverse: *reverse,
            n_consts: nc + usize::from(*trips),
            n_carry: n_carry2,
            checkpoint: *checkpoint,
        },
        &args,
    )?;
    let ainit_bar = &sweep[nk..nk + fa.len()];
    let cbar_adj = &sweep[nk + fa.len()..nk + fa.len() + fcn.len()];
    let stacks = &sweep[n_carry2..];
    let (kbar_stack, rest) = stacks.split_at(fk.len());
    let (xbar_adj, axbar) = rest.split_at(fx.len());

    // 3. The forward recurrence's reverse sweep, with the c̄_s added.
    let back = forward_reverse_step(cx.ctx, body, [nc, nk, nx], [&fcn, &fk, &fx])?;
    let mut args: Vec<Value> = x[..fixed].to_vec();
    for &i in &fk {
        args.push(cx.splat_like(carry[i], 0.0)?);
    }
    for &i in &fcn {
        args.push(cx.splat_like(consts[i], 0.0)?);
    }
    args.extend_from_slice(kbar_stack);
    args.extend(trip);
    let res = cx.push(
        Op::ScanAdjoint {
            body: body.clone(),
            adjoint: Arc::from(back.as_str()),
            length: length.clone(),
            reverse: *reverse,
            checkpoint: *checkpoint,
            n_consts: nc,
            n_carry: nk,
            n_xs: nx,
            n_acarry: fk.len() + fcn.len(),
            trips: *trips,
        },
        &args,
    )?;
    let (init_bar, rest) = res.split_at(fk.len());
    let (cbar_fwd, xbar_fwd) = rest.split_at(fcn.len());

    let mut xbar = vec![None; x.len()];
    for (k, &i) in fcn.iter().enumerate() {
        xbar[i] = Some(cx.add(cbar_adj[k], cbar_fwd[k])?);
    }
    for (k, &i) in fk.iter().enumerate() {
        xbar[nc + i] = Some(init_bar[k]);
    }
    for (k, &i) in fx.iter().enumerate() {
        xbar[nc + nk + i] = Some(cx.add(xbar_adj[k], xbar_fwd[k])?);
    }
    for (k, &i) in fa.iter().enumerate() {
        xbar[fixed + i] = Some(ainit_bar[k]);
    }
    for (k, &i) in fax.iter().enumerate() {
        xbar[fixed + na + i] = Some(axbar[k]);
    }
    for (b, &need) in xbar.iter_mut().zip(needs) {
        if !need {
            *b = None;
        }
    }
    Ok(xbar)
}

/// Batching of `scan_adjoint` with an unbatched trip count: the forward
/// body is batched (every carry) if any of its operands is, the adjoint
/// step is batched with every adjoint carry batched, and stacked operands
/// and results move their batch axis behind the step axis as for `scan`.
/// A batched trip count goes to [`lanes_adjoint_batch`].
pub(crate) fn scan_adjoint_batch(
    cx: &mut Emitter,
    op: &Op,
    x: &[Value],
    xb: &[bool],
    size: &Dim,
) -> Result<BatchOut, AdError> {
    let Op::ScanAdjoint {
        body,
        adjoint,
        length,
        reverse,
        checkpoint,
        n_consts,
        n_carry,
        n_xs,
        n_acarry,
        trips,
    } = op
    else {
        return Err(internal("scan_adjoint rule applied to another op"));
    };
    let (nc, nk, nx, na) = (*n_consts, *n_carry, *n_xs, *n_acarry);
    let fixed = nc + nk + nx;
    if *trips && xb.last() == Some(&true) {
        return lanes_adjoint_batch(cx, op, x, xb, size);
    }
    let n_axs = x
        .len()
        .checked_sub(fixed + na + usize::from(*trips))
        .ok_or_else(|| internal("a scan_adjoint has fewer operands than its attributes say"))?;
    let forward = xb[..fixed].iter().any(|&b| b);
    let body = if forward {
        let flags = (0..fixed)
            .map(|i| xb[i] || (nc..nc + nk).contains(&i))
            .collect();
        batched_step(cx.ctx, body, flags)?
    } else {
        body.clone()
    };
    // Adjoint parameters: consts, adjoint carry, carry, xs, adjoint xs.
    let mut flags: Vec<bool> = xb[..nc].to_vec();
    flags.extend(std::iter::repeat_n(true, na));
    flags.extend(std::iter::repeat_n(forward, nk));
    flags.extend_from_slice(&xb[nc + nk..fixed]);
    flags.extend_from_slice(&xb[fixed + na..fixed + na + n_axs]);
    let step = batched_step(cx.ctx, adjoint, flags)?;
    let mut args = Vec::with_capacity(x.len());
    for (i, &v) in x.iter().enumerate() {
        let carry = (forward && (nc..nc + nk).contains(&i)) || (fixed..fixed + na).contains(&i);
        let stacked =
            (nc + nk..fixed).contains(&i) || (fixed + na..fixed + na + n_axs).contains(&i);
        args.push(loop_operand(cx, v, xb[i], carry, stacked, size)?);
    }
    let res = cx.push(
        Op::ScanAdjoint {
            body,
            adjoint: step,
            length: length.clone(),
            reverse: *reverse,
            checkpoint: *checkpoint,
            n_consts: nc,
            n_carry: nk,
            n_xs: nx,
            n_acarry: na,
            trips: *trips,
        },
        &args,
    )?;
    batched_loop_results(cx, &res, na)
}

/// The forward step and adjoint step of a `scan_adjoint` whose lanes run
/// their own trip counts `n: i64[b]` (the last const), with a shared step
/// counter `i: i64` appended to the carry: step `i` of a lane is taken only
/// if `i < n` for that lane; otherwise its state and adjoint carry are
/// kept and its per-step adjoint output is zero, as rows of steps that did
/// not run are.
fn lanes_steps(
    ctx: &mut Ctx,
    body: &str,
    adjoint: &str,
    [nc, nk, nx, na]: [usize; 4],
    xb: &[bool],
) -> Result<(Arc<str>, Arc<str>), AdError> {
    let key = format!("adjoint-lanes:{body:?}:{adjoint:?}:{nc}:{nk}:{nx}:{na}:{xb:?}");
    let keys = (format!("{key}:body"), format!("{key}:adjoint"));
    if let (Some(b), Some(a)) = (ctx.memo(&keys.0), ctx.memo(&keys.1)) {
        return Ok((Arc::from(b.name.as_str()), Arc::from(a.name.as_str())));
    }
    let fixed = nc + nk + nx;
    let n_axs = xb.len() - fixed - na - 1;
    // Batched: consts and scanned inputs as given, every carry and adjoint carry.
    let fwd_flags: Vec<bool> = (0..fixed)
        .map(|i| xb[i] || (nc..nc + nk).contains(&i))
        .collect();
    let mut adj_flags: Vec<bool> = xb[..nc].to_vec();
    adj_flags.extend(std::iter::repeat_n(true, na + nk));
    adj_flags.extend_from_slice(&xb[nc + nk..fixed]);
    adj_flags.extend_from_slice(&xb[fixed + na..fixed + na + n_axs]);
    let body_b = batched_step(ctx, body, fwd_flags.clone())?;
    let adjoint_b = batched_step(ctx, adjoint, adj_flags.clone())?;
    let mut names = Vec::new();
    for (is_adjoint, key) in [(false, keys.0), (true, keys.1)] {
        let (func, flags, step) = if is_adjoint {
            (adjoint, &adj_flags, &adjoint_b)
        } else {
            (body, &fwd_flags, &body_b)
        };
        let f = ctx.source(func)?;
        let lanes = Dim::var(&fresh_batch_var(&f));
        // Where the trip counts and the step counter go among the parameters.
        let (at_n, at_i) = if is_adjoint {
            (nc, nc + na + nk)
        } else {
            (nc, nc + nk)
        };
        let mut cx = Emitter::new(ctx);
        let mut params = Vec::with_capacity(f.params().len());
        let (mut n, mut i) = (None, None);
        for (k, (&p, &b)) in f.params().iter().zip(flags).enumerate() {
            if k == at_n {
                n = Some(cx.param("n", Type::new(Elem::I64, Shape(vec![lanes.clone()]))));
            }
            if k == at_i {
                i = Some(cx.param("i", Type::scalar(Elem::I64)));
            }
            let ty = f.ty(p);
            let ty = if b {
                batched_type(ty, &lanes)
            } else {
                ty.clone()
            };
            params.push(cx.param(f.value_name(p), ty));
        }
        // After the last parameter when nothing follows them.
        let lanes_ty = Type::new(Elem::I64, Shape(vec![lanes.clone()]));
        let n = n.or_else(|| Some(cx.param("n", lanes_ty)));
        let i = i.or_else(|| Some(cx.param("i", Type::scalar(Elem::I64))));
        let (Some(n), Some(i)) = (n, i) else {
            return Err(internal("a loop step has fewer parameters than its loop"));
        };
        let res = cx.call(step, &params)?;
        let ib = cx.broadcast(i, Shape(vec![lanes.clone()]), vec![])?;
        let live = cx.cmp(CmpOp::Lt, ib, n)?;
        let (kept, n_kept) = if is_adjoint {
            (&params[nc..nc + na], na)
        } else {
            (&params[nc..nc + nk], nk)
        };
        let mut outs = Vec::with_capacity(res.len() + 1);
        for (k, &r) in res.iter().enumerate() {
            // The forward step's per-step outputs are ignored by the op.
            if !is_adjoint && k >= n_kept {
                outs.push(r);
                continue;
            }
            let mask = cx.broadcast(live, cx.shape(r), vec![0])?;
            let other = match kept.get(k) {
                Some(&old) => old,
                None => cx.splat_like(r, 0.0)?,
            };
            outs.push(cx.select(mask, r, other)?);
            if !is_adjoint && k + 1 == nk {
                let one = cx.splat(Type::scalar(Elem::I64), 1.0)?;
                outs.push(cx.add(i, one)?);
            }
        }
        if !is_adjoint && nk == 0 {
            let one = cx.splat(Type::scalar(Elem::I64), 1.0)?;
            outs.insert(0, cx.add(i, one)?);
        }
        let g = cx.finish(&outs);
        let base = format!("{func}_vmap_lanes");
        names.push(ctx.add(g, &base, key, Vec::new())?.name);
    }
    Ok((Arc::from(names[0].as_str()), Arc::from(names[1].as_str())))
}

/// Batching of `scan_adjoint` with a batched trip count: each lane runs its
/// own number of steps (see [`lanes_steps`]) inside one `scan_adjoint` of
/// the most trips of any lane.
fn lanes_adjoint_batch(
    cx: &mut Emitter,
    op: &Op,
    x: &[Value],
    xb: &[bool],
    size: &Dim,
) -> Result<BatchOut, AdError> {
    let Op::ScanAdjoint {
        body,
        adjoint,
        length,
        reverse,
        checkpoint,
        n_consts,
        n_carry,
        n_xs,
        n_acarry,
        ..
    } = op
    else {
        return Err(internal("scan_adjoint rule applied to another op"));
    };
    let (nc, nk, nx, na) = (*n_consts, *n_carry, *n_xs, *n_acarry);
    let fixed = nc + nk + nx;
    let Some(&n) = x.last() else {
        return Err(internal("a scan_adjoint without its trip count"));
    };
    if x.len() < fixed + na + 1 {
        return Err(internal(
            "a scan_adjoint has fewer operands than its attributes say",
        ));
    }
    let (step, back) = lanes_steps(cx.ctx, body, adjoint, [nc, nk, nx, na], xb)?;
    let n_axs = x.len() - fixed - na - 1;
    let mut args = Vec::with_capacity(x.len() + 2);
    for (k, &v) in x[..x.len() - 1].iter().enumerate() {
        if k == nc {
            args.push(n);
        }
        if k == nc + nk {
            args.push(cx.splat(Type::scalar(Elem::I64), 0.0)?);
        }
        let carry = (nc..nc + nk).contains(&k) || (fixed..fixed + na).contains(&k);
        let stacked =
            (nc + nk..fixed).contains(&k) || (fixed + na..fixed + na + n_axs).contains(&k);
        args.push(loop_operand(cx, v, xb[k], carry, stacked, size)?);
    }
    if x.len() - 1 == nc {
        args.push(n);
    }
    if x.len() - 1 == nc + nk {
        args.push(cx.splat(Type::scalar(Elem::I64), 0.0)?);
    }
    let most = cx.reduce(ReduceOp::Max, n, vec![0])?;
    args.push(most);
    let res = cx.push(
        Op::ScanAdjoint {
            body: step,
            adjoint: back,
            length: length.clone(),
            reverse: *reverse,
            checkpoint: *checkpoint,
            n_consts: nc + 1,
            n_carry: nk + 1,
            n_xs: nx,
            n_acarry: na,
            trips: true,
        },
        &args,
    )?;
    batched_loop_results(cx, &res, na)
}
