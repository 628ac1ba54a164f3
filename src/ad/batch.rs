//! Batching (`vmap`): a function mapped over a new leading axis of some of
//! its parameters, as one program rather than a loop.
//!
//! A value is *batched* if it depends on a batched parameter; a batched value
//! always carries the batch axis first (axis 0, of size `size`). Nodes with no
//! batched operand are copied unchanged, so work that does not depend on the
//! batch is done once. Each op's batching rule (next to its JVP and VJP rules
//! in [`super::rules`]) rewrites the op for operands with the extra axis,
//! broadcasting unbatched operands where the op needs equal shapes.
//!
//! This is what makes `jacobian` one sweep: the tangent (or adjoint) program
//! is batched over its seed inputs, so all directions travel together.

use super::AdError;
use super::emit::{Ctx, Derived, Emitter};
use super::rules;
use adjit_ir::{CustomRules, Dim, Function, Shape, Type, Value};
use std::sync::Arc;

/// What batched function to build.
#[derive(Clone, Debug)]
pub(crate) struct VmapSpec {
    /// One flag per parameter: whether it gets the leading batch axis.
    pub batched: Vec<bool>,
    /// The batch size.
    pub size: Dim,
    /// Whether unbatched outputs are broadcast along the batch axis (`true`)
    /// or returned as they are and reported in [`Derived::present`] (`false`:
    /// `present[i]` says whether output `i` is batched).
    pub broadcast_outputs: bool,
    /// The base of the new function's name.
    pub base: String,
}

/// `ty` with a leading axis of `size`.
pub(crate) fn batched_type(ty: &Type, size: &Dim) -> Type {
    let mut dims = vec![size.clone()];
    dims.extend_from_slice(ty.shape.dims());
    Type::new(ty.elem, Shape(dims))
}

/// Gives an unbatched value the batch axis by broadcasting.
pub(crate) fn to_batched(cx: &mut Emitter, v: Value, size: &Dim) -> Result<Value, AdError> {
    let ty = batched_type(cx.ty(v), size);
    let dims = (1..ty.rank()).collect();
    cx.broadcast(v, ty.shape, dims)
}

impl Ctx {
    /// Builds (or reuses) the batched version of `func`.
    pub(crate) fn vmap(&mut self, func: &str, spec: &VmapSpec) -> Result<Derived, AdError> {
        let key = format!(
            "vmap:{func:?}:{:?}:{}:{}",
            spec.batched, spec.size, spec.broadcast_outputs
        );
        if let Some(d) = self.memo(&key) {
            return Ok(d);
        }
        let rules = self.module.rules(func).cloned();
        if rules.is_some() && !spec.broadcast_outputs {
            // The batched rules return every output batched, so the
            // batched function must too for their signatures to match.
            let spec = VmapSpec {
                broadcast_outputs: true,
                ..spec.clone()
            };
            let d = self.vmap(func, &spec)?;
            self.remember(key, d.clone());
            return Ok(d);
        }
        let f = self.source(func)?;
        let n = f.value_count();
        let mut cx = Emitter::new(self);
        let mut map: Vec<Value> = Vec::with_capacity(n);
        let mut batched = vec![false; n];
        for (i, &p) in f.params().iter().enumerate() {
            let ty = if spec.batched[i] {
                batched[p.index()] = true;
                batched_type(f.ty(p), &spec.size)
            } else {
                f.ty(p).clone()
            };
            map.push(cx.param(f.value_name(p), ty));
        }
        for node in f.nodes() {
            let x: Vec<Value> = node.args.iter().map(|a| map[a.index()]).collect();
            let xb: Vec<bool> = node.args.iter().map(|a| batched[a.index()]).collect();
            let (y, yb) = if xb.iter().any(|&b| b) {
                rules::batch(&mut cx, &node.op, &x, &xb, &spec.size)?
            } else {
                let y = cx.push(node.op.clone(), &x)?;
                let yb = vec![false; y.len()];
                (y, yb)
            };
            for (k, &r) in node.results.iter().enumerate() {
                cx.keep_name(y[k], f.value_name(r));
                map.push(y[k]);
                batched[r.index()] = yb[k];
            }
        }
        let mut outputs = Vec::with_capacity(f.outputs().len());
        let mut present = Vec::with_capacity(f.outputs().len());
        for &o in f.outputs() {
            let v = map[o.index()];
            if batched[o.index()] || !spec.broadcast_outputs {
                outputs.push(v);
                present.push(batched[o.index()]);
            } else {
                outputs.push(to_batched(&mut cx, v, &spec.size)?);
                present.push(true);
            }
        }
        let g = cx.finish(&outputs);
        let d = self.add(g, &spec.base, key, present)?;
        if let Some(rules) = rules {
            self.batch_rules(&f, &rules, spec, &d.name)?;
        }
        Ok(d)
    }

    /// Attaches to the batched function `name` the batched versions of
    /// `f`'s custom rules: a JVP rule's tangents are batched as their
    /// parameters are, a VJP rule's cotangents all are (every output of
    /// the batched function is), and every output of either is.
    fn batch_rules(
        &mut self,
        f: &Function,
        rules: &CustomRules,
        spec: &VmapSpec,
        name: &str,
    ) -> Result<(), AdError> {
        let float_params: Vec<bool> = f
            .params()
            .iter()
            .zip(&spec.batched)
            .filter(|(p, _)| f.ty(**p).elem.is_float())
            .map(|(_, &b)| b)
            .collect();
        let n_float_out = f
            .outputs()
            .iter()
            .filter(|o| f.ty(**o).elem.is_float())
            .count();
        let mut batched = CustomRules::default();
        for (rule, slot, extra) in [
            (&rules.jvp, &mut batched.jvp, float_params.clone()),
            (&rules.vjp, &mut batched.vjp, vec![true; n_float_out]),
        ] {
            if let Some(rule) = rule {
                let rspec = VmapSpec {
                    batched: [&spec.batched[..], &extra].concat(),
                    size: spec.size.clone(),
                    broadcast_outputs: true,
                    base: format!("{rule}_vmap"),
                };
                *slot = Some(Arc::from(self.vmap(rule, &rspec)?.name.as_str()));
            }
        }
        self.module
            .set_rules(name, batched)
            .map_err(|e| AdError::Internal {
                message: e.to_string(),
            })
    }
}
