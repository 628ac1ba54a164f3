//! Full Jacobians in one sweep: the tangent (forward) or adjoint (reverse)
//! program batched over identity seeds.
//!
//! With `N` = the total number of elements of the differentiated parameters
//! and `M` = that of the float outputs:
//! - forward: the JVP batched over its tangent inputs with `N` directions,
//!   direction `d` seeding element `d` of the concatenated parameters;
//! - reverse: the VJP batched over its cotangent inputs with `M` directions,
//!   direction `d` seeding element `d` of the concatenated outputs.
//!
//! The generated function `@f_jacfwd` / `@f_jacrev` takes `f`'s parameters
//! and returns, for each float output `i` (in order) and for each
//! differentiated parameter `j` (in the order given), the tensor
//! `J[i][j]` of shape `shape(y_i) ++ shape(x_j)` with
//! `J[i][j][a.., b..] = ∂y_i[a..] / ∂x_j[b..]` — output-major.
//!
//! It builds the seeds (slices of an identity made from `iota`), calls the
//! batched program once, and slices, reshapes and transposes its results
//! into that layout. Its size does not depend on `N` or `M`: the directions
//! are a batch axis, not a loop.

use super::AdError;
use super::batch::VmapSpec;
use super::emit::{Ctx, Derived, Emitter};
use super::forward::JvpSpec;
use super::reverse::{Seed, VjpSpec};
use adjit_ir::{CmpOp, Dim, Elem, Function, Shape, Type, Value};

/// Which sweep a Jacobian is built from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Mode {
    /// Batched tangents: one forward sweep carrying a direction per
    /// parameter element. Cheaper when parameters are few.
    Forward,
    /// Batched cotangents: one reverse sweep carrying a direction per
    /// output element. Cheaper when outputs are few.
    Reverse,
}

/// Element counts of `types`, their offsets in the concatenation, and the total.
fn blocks(types: &[Type]) -> Result<(Vec<Dim>, Vec<Dim>, Dim), AdError> {
    let mut counts = Vec::with_capacity(types.len());
    let mut offsets = Vec::with_capacity(types.len());
    let mut total = Dim::ZERO;
    for t in types {
        let n = t.shape.element_count()?;
        offsets.push(total.clone());
        total = total.checked_add(&n)?;
        counts.push(n);
    }
    Ok((counts, offsets, total))
}

/// The seeds: for each block, the columns of the `[total, total]` identity
/// belonging to it, shaped `[total] ++ shape` and of the block's element type.
fn seeds(cx: &mut Emitter, types: &[Type]) -> Result<Vec<Value>, AdError> {
    let (counts, offsets, total) = blocks(types)?;
    let square = Type::new(Elem::I64, Shape(vec![total.clone(), total.clone()]));
    let rows = cx.iota(square.clone(), 0)?;
    let cols = cx.iota(square, 1)?;
    let diag = cx.cmp(CmpOp::Eq, rows, cols)?;
    let mut out = Vec::with_capacity(types.len());
    for ((t, n), off) in types.iter().zip(&counts).zip(&offsets) {
        let stop = off.checked_add(n)?;
        let block = cx.slice_axis(diag, 1, off.clone(), stop)?;
        let ty = Type::new(t.elem, cx.shape(block));
        let one = cx.splat(ty.clone(), 1.0)?;
        let zero = cx.splat(ty, 0.0)?;
        let seed = cx.select(block, one, zero)?;
        let mut shape = vec![total.clone()];
        shape.extend_from_slice(t.shape.dims());
        out.push(cx.reshape(seed, Shape(shape))?);
    }
    Ok(out)
}

/// Rows `off..off+n` of a batched result `[total, rest..]`, as `lead ++ rest`.
fn rows(cx: &mut Emitter, v: Value, off: &Dim, n: &Dim, lead: &Shape) -> Result<Value, AdError> {
    let stop = off.checked_add(n)?;
    let block = cx.slice_axis(v, 0, off.clone(), stop)?;
    let mut shape = lead.dims().to_vec();
    shape.extend_from_slice(&cx.shape(block).dims()[1..]);
    cx.reshape(block, Shape(shape))
}

impl Ctx {
    /// Builds the Jacobian function of `func` with respect to `wrt`.
    pub(crate) fn jacobian(
        &mut self,
        func: &str,
        wrt: &[usize],
        mode: Mode,
    ) -> Result<Derived, AdError> {
        let f = self.source(func)?;
        let np = f.params().len();
        let outs: Vec<usize> = (0..f.outputs().len())
            .filter(|&i| f.ty(f.outputs()[i]).elem.is_float())
            .collect();
        let param_types: Vec<Type> = wrt.iter().map(|&j| f.ty(f.params()[j]).clone()).collect();
        let out_types: Vec<Type> = outs.iter().map(|&i| f.ty(f.outputs()[i]).clone()).collect();
        let (kind, dir_types) = match mode {
            Mode::Forward => ("jacfwd", &param_types),
            Mode::Reverse => ("jacrev", &out_types),
        };
        let (_, _, directions) = blocks(dir_types)?;

        // The program to batch, and its batched version.
        let (swept, first_result) = match mode {
            Mode::Forward => {
                let spec = JvpSpec {
                    wrt: wrt.to_vec(),
                    outputs: outs.clone(),
                    primal_outputs: false,
                    zeros: true,
                    base: format!("{func}_jvp"),
                };
                (self.jvp(func, &spec)?, 0)
            }
            Mode::Reverse => {
                let seeds = (0..f.outputs().len())
                    .map(|i| {
                        if outs.contains(&i) {
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
                (self.vjp(func, &spec)?, f.outputs().len())
            }
        };
        let n_seeds = dir_types.len();
        let spec = VmapSpec {
            batched: (0..np + n_seeds).map(|i| i >= np).collect(),
            size: directions,
            broadcast_outputs: true,
            base: format!("{}_vmap", swept.name),
        };
        let batched = self.vmap(&swept.name, &spec)?;

        let key = format!("{kind}:{func:?}:{wrt:?}");
        let mut cx = Emitter::new(self);
        let x: Vec<Value> = f
            .params()
            .iter()
            .map(|&p| cx.param(f.value_name(p), f.ty(p).clone()))
            .collect();
        let seed_values = seeds(&mut cx, dir_types)?;
        let args: Vec<Value> = x.iter().copied().chain(seed_values).collect();
        let res = cx.call(&batched.name, &args)?;
        let jac = match mode {
            Mode::Forward => forward_layout(&mut cx, &f, &res, &outs, wrt)?,
            Mode::Reverse => reverse_layout(&mut cx, &f, &res[first_result..], &outs, wrt)?,
        };
        let g: Function = cx.finish(&jac);
        self.add(g, &format!("{func}_{kind}"), key, vec![])
    }
}

/// Forward results `ẏ_i: [N, out_i..]` → `J[i][j]: out_i ++ param_j`.
fn forward_layout(
    cx: &mut Emitter,
    f: &Function,
    res: &[Value],
    outs: &[usize],
    wrt: &[usize],
) -> Result<Vec<Value>, AdError> {
    let param_types: Vec<Type> = wrt.iter().map(|&j| f.ty(f.params()[j]).clone()).collect();
    let (counts, offsets, _) = blocks(&param_types)?;
    let mut jac = Vec::new();
    for (k, &i) in outs.iter().enumerate() {
        let out_rank = f.ty(f.outputs()[i]).rank();
        for (j, t) in param_types.iter().enumerate() {
            // [n_j, out..] → [param_j.., out..] → [out.., param_j..]
            let since = cx.mark();
            let block = rows(cx, res[k], &offsets[j], &counts[j], &t.shape)?;
            let pr = t.rank();
            let perm = (pr..pr + out_rank).chain(0..pr).collect();
            let v = cx.transpose(block, perm)?;
            cx.name_new(v, since, &entry_name(f, i, wrt[j]));
            jac.push(v);
        }
    }
    Ok(jac)
}

/// Reverse results `x̄_j: [M, param_j..]` → `J[i][j]: out_i ++ param_j`.
fn reverse_layout(
    cx: &mut Emitter,
    f: &Function,
    xbar: &[Value],
    outs: &[usize],
    wrt: &[usize],
) -> Result<Vec<Value>, AdError> {
    let out_types: Vec<Type> = outs.iter().map(|&i| f.ty(f.outputs()[i]).clone()).collect();
    let (counts, offsets, _) = blocks(&out_types)?;
    let mut jac = Vec::new();
    for (k, t) in out_types.iter().enumerate() {
        for (j, &p) in wrt.iter().enumerate() {
            let since = cx.mark();
            let v = rows(cx, xbar[j], &offsets[k], &counts[k], &t.shape)?;
            cx.name_new(v, since, &entry_name(f, outs[k], p));
            jac.push(v);
        }
    }
    Ok(jac)
}

/// `d{y}_d{x}` for output `i` and parameter `j`.
fn entry_name(f: &Function, i: usize, j: usize) -> String {
    format!(
        "d{}_d{}",
        f.value_name(f.outputs()[i]),
        f.value_name(f.params()[j])
    )
}
