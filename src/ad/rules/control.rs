//! Rules of the ops that run other functions: `call`, `scan`, `while`.
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
//! `scan` and `while` are not differentiable yet and report
//! [`AdError::Unsupported`]. A scan rule slots in here with the same shape
//! as `call`: its JVP is a scan whose body is the body's JVP (carries and
//! per-step outputs paired with their tangents); its VJP is a forward scan
//! that also stacks the carries, then a reverse scan (`reverse: true`) whose
//! body is the body's VJP, carrying the carries' cotangents and emitting the
//! per-step inputs' cotangents; its batching rule is a scan of the batched
//! body.

use super::super::AdError;
use super::super::batch::VmapSpec;
use super::super::emit::Emitter;
use super::super::forward::JvpSpec;
use super::super::reverse::{Seed, VjpSpec};
use super::{BatchOut, JvpOut};
use adjit_ir::{Dim, Value};

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
    let taken: Vec<_> = callee
        .values()
        .flat_map(|v| callee.ty(v).shape.vars())
        .collect();
    let var = (0..)
        .map(|i| {
            if i == 0 {
                "b".to_string()
            } else {
                format!("b{i}")
            }
        })
        .find(|name| !taken.iter().any(|t| &**t == name.as_str()))
        .unwrap_or_default();
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

fn unsupported<T>(op: &'static str, transform: &'static str) -> Result<T, AdError> {
    Err(AdError::Unsupported { op, transform })
}

/// JVP of `scan`: not supported yet.
pub(crate) fn scan_jvp() -> Result<JvpOut, AdError> {
    unsupported("scan", "jvp")
}

/// VJP of `scan`: not supported yet.
pub(crate) fn scan_vjp() -> Result<Vec<Option<Value>>, AdError> {
    unsupported("scan", "vjp")
}

/// Batching of `scan`: not supported yet.
pub(crate) fn scan_batch() -> Result<BatchOut, AdError> {
    unsupported("scan", "vmap")
}

/// JVP of `while`: not supported yet.
pub(crate) fn while_jvp() -> Result<JvpOut, AdError> {
    unsupported("while", "jvp")
}

/// VJP of `while`: not supported yet.
pub(crate) fn while_vjp() -> Result<Vec<Option<Value>>, AdError> {
    unsupported("while", "vjp")
}

/// Batching of `while`: not supported yet.
pub(crate) fn while_batch() -> Result<BatchOut, AdError> {
    unsupported("while", "vmap")
}
