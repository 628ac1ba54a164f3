//! Reverse mode: the adjoint program of a function.
//!
//! The generated function takes `(x..., ȳ for each output seeded by a
//! parameter)` and returns every primal output followed by the cotangents of
//! the differentiated parameters. It is the primal sweep (every node copied)
//! followed by the reverse sweep: nodes visited in reverse definition order,
//! each node's rule turning the cotangents of its results into contributions
//! to its operands, which are summed with `add` as they arrive (fan-out).
//! When a node is reached, every use of its results has been visited, so
//! their cotangents are final; that is when they are named `%name_bar`.
//!
//! Cotangents are optional (`None` is a symbolic zero). A node is visited
//! only if one of its results has a cotangent and one of its operands is
//! *active* (a float depending on a differentiated parameter), and a rule
//! computes contributions only for active operands.
//!
//! A `call` is differentiated by calling the callee's adjoint function in
//! the reverse sweep, which recomputes the callee's primal sweep (calls are
//! checkpoints: nothing of the callee's is stored across the sweeps).

use super::AdError;
use super::emit::{Ctx, Derived, Emitter};
use super::rules;
use adjit_ir::Value;

/// How an output's cotangent enters the reverse sweep.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Seed {
    /// A parameter of the adjoint function (`ȳ`).
    Param,
    /// The constant 1 (for `grad` of a scalar output).
    One,
    /// No cotangent (a symbolic zero).
    Zero,
}

/// What adjoint function to build.
#[derive(Clone, Debug)]
pub(crate) struct VjpSpec {
    /// Parameters whose cotangents are returned, in output order.
    pub wrt: Vec<usize>,
    /// One seed per output of the source function.
    pub seeds: Vec<Seed>,
    /// Whether an identically-zero parameter cotangent is returned as a zero
    /// constant (`true`) or left out and reported in [`Derived::present`].
    pub zeros: bool,
    /// The base of the new function's name.
    pub base: String,
}

impl Ctx {
    /// Builds (or reuses) the adjoint function of `func`.
    pub(crate) fn vjp(&mut self, func: &str, spec: &VjpSpec) -> Result<Derived, AdError> {
        let key = format!(
            "vjp:{func:?}:{:?}:{:?}:{}",
            spec.wrt, spec.seeds, spec.zeros
        );
        if let Some(d) = self.memo(&key) {
            return Ok(d);
        }
        if let Some(rules) = self.module.rules(func).cloned() {
            return self.custom_vjp(func, &rules, spec, key);
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

        let mut cx = Emitter::new(self);
        let mut map: Vec<Value> = Vec::with_capacity(n);
        for &p in f.params() {
            map.push(cx.param(f.value_name(p), f.ty(p).clone()));
        }
        let mut seed_params = Vec::new();
        for (i, &o) in f.outputs().iter().enumerate() {
            if spec.seeds[i] == Seed::Param {
                let name = format!("{}_bar", f.value_name(o));
                seed_params.push(Some(cx.param(&name, f.ty(o).clone())));
            } else {
                seed_params.push(None);
            }
        }

        // The primal sweep.
        for node in f.nodes() {
            let x: Vec<Value> = node.args.iter().map(|a| map[a.index()]).collect();
            let y = cx.push(node.op.clone(), &x)?;
            for (k, &r) in node.results.iter().enumerate() {
                cx.keep_name(y[k], f.value_name(r));
                map.push(y[k]);
            }
        }

        // The reverse sweep.
        let mut ct: Vec<Option<Value>> = vec![None; n];
        let start = cx.mark();
        for (i, &o) in f.outputs().iter().enumerate() {
            if !active[o.index()] {
                continue;
            }
            let seed = match spec.seeds[i] {
                Seed::Param => seed_params[i],
                Seed::One => Some(cx.splat(f.ty(o).clone(), 1.0)?),
                Seed::Zero => None,
            };
            ct[o.index()] = cx.add_opt(ct[o.index()], seed)?;
        }
        for node in f.nodes().iter().rev() {
            let ybar: Vec<Option<Value>> = node.results.iter().map(|r| ct[r.index()]).collect();
            let needs: Vec<bool> = node.args.iter().map(|a| active[a.index()]).collect();
            if ybar.iter().all(Option::is_none) || !needs.iter().any(|&b| b) {
                continue;
            }
            for (&r, c) in node.results.iter().zip(&ybar) {
                if let Some(c) = *c {
                    cx.name_derived(c, start, map[r.index()], "_bar");
                }
            }
            let x: Vec<Value> = node.args.iter().map(|a| map[a.index()]).collect();
            let y: Vec<Value> = node.results.iter().map(|r| map[r.index()]).collect();
            let xbar = rules::vjp(&mut cx, &node.op, &x, &y, &ybar, &needs)?;
            for ((&a, &need), xb) in node.args.iter().zip(&needs).zip(xbar) {
                if need {
                    ct[a.index()] = cx.add_opt(ct[a.index()], xb)?;
                }
            }
        }

        let mut outputs: Vec<Value> = f.outputs().iter().map(|o| map[o.index()]).collect();
        let mut present = Vec::with_capacity(spec.wrt.len());
        for &i in &spec.wrt {
            let p = f.params()[i];
            match ct[p.index()] {
                Some(c) => {
                    cx.name_derived(c, start, map[p.index()], "_bar");
                    outputs.push(c);
                    present.push(true);
                }
                None if spec.zeros => {
                    let z = cx.splat(f.ty(p).clone(), 0.0)?;
                    cx.name_derived(z, 0, map[p.index()], "_bar");
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
