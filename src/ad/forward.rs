//! Forward mode: the tangent program of a function, in one forward sweep.
//!
//! The generated function takes `(x..., ẋ for each differentiated parameter)`
//! and returns the primal outputs (if asked) followed by the tangents of the
//! selected outputs. Each value carries an optional tangent; `None` is a
//! symbolic zero and emits nothing.
//!
//! Two analyses keep the output small:
//! - *activity* (forward): a value has a tangent only if it is a float that
//!   depends on a differentiated parameter;
//! - *need* (backward): a tangent is computed only if it flows into a
//!   selected output's tangent.
//!
//! Primal nodes are copied whether or not they are needed (DCE removes the
//! dead ones); for an active node the rule emits the primal itself, which
//! lets `call` compute its primal and tangent in one call of the callee's
//! tangent function.

use super::AdError;
use super::emit::{Ctx, Derived, Emitter};
use super::rules;
use adjit_ir::Value;

/// What tangent function to build.
#[derive(Clone, Debug)]
pub(crate) struct JvpSpec {
    /// Parameters that get a tangent input, in input order.
    pub wrt: Vec<usize>,
    /// Outputs whose tangents are returned, in output order (float outputs).
    pub outputs: Vec<usize>,
    /// Whether the primal outputs come first.
    pub primal_outputs: bool,
    /// Whether an identically-zero output tangent is returned as a zero
    /// constant (`true`) or left out and reported in [`Derived::present`].
    pub zeros: bool,
    /// The base of the new function's name.
    pub base: String,
}

impl Ctx {
    /// Builds (or reuses) the tangent function of `func`.
    pub(crate) fn jvp(&mut self, func: &str, spec: &JvpSpec) -> Result<Derived, AdError> {
        let key = format!(
            "jvp:{func:?}:{:?}:{:?}:{}:{}",
            spec.wrt, spec.outputs, spec.primal_outputs, spec.zeros
        );
        if let Some(d) = self.memo(&key) {
            return Ok(d);
        }
        if let Some(rules) = self.module.rules(func).cloned() {
            return self.custom_jvp(func, &rules, spec, key);
        }
        let f = self.source(func)?;
        let n = f.value_count();

        let mut active = vec![false; n];
        for &i in &spec.wrt {
            active[f.params()[i].index()] = true;
        }
        for node in f.nodes() {
            if node.args.iter().any(|a| active[a.index()]) {
                for &r in &node.results {
                    active[r.index()] = f.ty(r).elem.is_float();
                }
            }
        }
        let mut needed = vec![false; n];
        for &o in &spec.outputs {
            needed[f.outputs()[o].index()] = true;
        }
        for node in f.nodes().iter().rev() {
            if node.results.iter().any(|r| needed[r.index()]) {
                for &a in &node.args {
                    needed[a.index()] = true;
                }
            }
        }

        let mut cx = Emitter::new(self);
        let mut map: Vec<Value> = Vec::with_capacity(n);
        let mut tangent: Vec<Option<Value>> = vec![None; n];
        for &p in f.params() {
            map.push(cx.param(f.value_name(p), f.ty(p).clone()));
        }
        for &i in &spec.wrt {
            let p = f.params()[i];
            let name = format!("{}_dot", cx.name(map[p.index()]));
            tangent[p.index()] = Some(cx.param(&name, f.ty(p).clone()));
        }
        for node in f.nodes() {
            let x: Vec<Value> = node.args.iter().map(|a| map[a.index()]).collect();
            let want: Vec<bool> = node
                .results
                .iter()
                .map(|r| active[r.index()] && needed[r.index()])
                .collect();
            let go =
                want.iter().any(|&w| w) && node.args.iter().any(|a| tangent[a.index()].is_some());
            let since = cx.mark();
            let (y, dy) = if go {
                let dx: Vec<Option<Value>> = node.args.iter().map(|a| tangent[a.index()]).collect();
                rules::jvp(&mut cx, &node.op, &x, &dx, &want)?
            } else {
                let y = cx.push(node.op.clone(), &x)?;
                let none = vec![None; y.len()];
                (y, none)
            };
            for (k, &r) in node.results.iter().enumerate() {
                cx.keep_name(y[k], f.value_name(r));
                map.push(y[k]);
            }
            for (k, &r) in node.results.iter().enumerate() {
                if let Some(t) = dy[k].filter(|_| want[k]) {
                    cx.name_derived(t, since, y[k], "_dot");
                    tangent[r.index()] = Some(t);
                }
            }
        }

        let mut outputs: Vec<Value> = Vec::new();
        if spec.primal_outputs {
            outputs.extend(f.outputs().iter().map(|o| map[o.index()]));
        }
        let mut present = Vec::with_capacity(spec.outputs.len());
        for &o in &spec.outputs {
            let out = f.outputs()[o];
            match tangent[out.index()] {
                Some(t) => {
                    outputs.push(t);
                    present.push(true);
                }
                None if spec.zeros => {
                    let z = cx.splat(f.ty(out).clone(), 0.0)?;
                    cx.name_derived(z, 0, map[out.index()], "_dot");
                    outputs.push(z);
                    present.push(true);
                }
                None => present.push(false),
            }
        }
        let g = cx.finish(&outputs);
        self.add(g, &spec.base, key, present)
    }
}
