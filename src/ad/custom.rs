//! Custom derivative rules: functions of the module that stand for the
//! derivative of another function (see [`adjit_ir::CustomRules`] for their
//! signatures).
//!
//! When a transform needs the tangent or adjoint function of a function
//! with rules attached — at the top level or for a `call`, a loop body or
//! a rule's own derivative — it builds a function that calls the rule
//! instead of differentiating the body:
//! - tangent function: the JVP rule, with zero tangents for the float
//!   parameters not differentiated;
//! - adjoint function: the VJP rule, with the seeds as cotangents (a zero
//!   for an unseeded output, a one for `grad`'s output).
//!
//! With only one rule attached, the other mode transposes it: the rule is
//! taken to be linear in its tangents (cotangents), as a derivative is, so
//! the adjoint function is the reverse-mode derivative of the JVP rule with
//! respect to its tangent inputs, evaluated at zero tangents, and the
//! tangent function is the reverse-mode derivative of the VJP rule with
//! respect to its cotangent inputs. A rule that is not linear there is
//! replaced by its linearisation at zero.
//!
//! The primal outputs of the derived functions are the rule's, so a rule
//! that computes the primal value more stably than the body is used for it
//! as well. Rules are ordinary IR: higher derivatives differentiate them,
//! batching batches them, and the JIT compiles the calls.

use super::AdError;
use super::emit::{Ctx, Derived, Emitter};
use super::forward::JvpSpec;
use super::reverse::{Seed, VjpSpec};
use adjit_ir::{CustomRules, Function, Value};

/// The indices of the float parameters and of the float outputs.
fn floats(f: &Function) -> (Vec<usize>, Vec<usize>) {
    let fp = (0..f.params().len())
        .filter(|&i| f.ty(f.params()[i]).elem.is_float())
        .collect();
    let fo = (0..f.outputs().len())
        .filter(|&i| f.ty(f.outputs()[i]).elem.is_float())
        .collect();
    (fp, fo)
}

fn position(list: &[usize], i: usize) -> Result<usize, AdError> {
    list.iter()
        .position(|&k| k == i)
        .ok_or_else(|| AdError::Internal {
            message: "a custom rule was asked for the derivative of a non-float value".into(),
        })
}

/// Splat zeros of the types of `f`'s values `vs`.
fn zeros(
    cx: &mut Emitter,
    f: &Function,
    vs: impl Iterator<Item = Value>,
) -> Result<Vec<Value>, AdError> {
    vs.map(|v| cx.splat(f.ty(v).clone(), 0.0)).collect()
}

/// A rule whose derivative needs the derivative it defines.
fn cycle(func: &str) -> AdError {
    AdError::BadOutput {
        func: func.to_string(),
        reason: "a custom rule needs the derivative it defines (a rule used by \
                 transposition must not differentiate a call of its own function)"
            .into(),
    }
}

impl Ctx {
    /// The tangent function of `func` from its custom rules.
    pub(crate) fn custom_jvp(
        &mut self,
        func: &str,
        rules: &CustomRules,
        spec: &JvpSpec,
        key: String,
    ) -> Result<Derived, AdError> {
        if !self.building.insert(func.to_string()) {
            return Err(cycle(func));
        }
        let d = self.custom_jvp_in(func, rules, spec, key);
        self.building.remove(func);
        d
    }

    fn custom_jvp_in(
        &mut self,
        func: &str,
        rules: &CustomRules,
        spec: &JvpSpec,
        key: String,
    ) -> Result<Derived, AdError> {
        let f = self.source(func)?;
        let (fp, fo) = floats(&f);
        let n_out = f.outputs().len();
        let mut cx = Emitter::new(self);
        let x: Vec<Value> = f
            .params()
            .iter()
            .map(|&p| cx.param(f.value_name(p), f.ty(p).clone()))
            .collect();
        let mut dx: Vec<Option<Value>> = vec![None; x.len()];
        for &i in &spec.wrt {
            let p = f.params()[i];
            dx[i] = Some(cx.param(&format!("{}_dot", f.value_name(p)), f.ty(p).clone()));
        }
        let mut tangents = Vec::with_capacity(fp.len());
        for &i in &fp {
            tangents.push(match dx[i] {
                Some(t) => t,
                None => cx.splat(f.ty(f.params()[i]).clone(), 0.0)?,
            });
        }
        let (y, ydot) = if let Some(rule) = &rules.jvp {
            let res = cx.call(rule, &[&x[..], &tangents].concat())?;
            (res[..n_out].to_vec(), res[n_out..].to_vec())
        } else if let Some(rule) = &rules.vjp {
            // ẏ = (ȳ ↦ Jᵀȳ)ᵀ ẋ: reverse mode of the VJP rule in its cotangents.
            let n_in = x.len();
            let rspec = VjpSpec {
                wrt: (n_in..n_in + fo.len()).collect(),
                seeds: (0..n_out + fp.len())
                    .map(|k| if k < n_out { Seed::Zero } else { Seed::Param })
                    .collect(),
                zeros: true,
                base: format!("{rule}_vjp"),
            };
            let d = cx.ctx.vjp(rule, &rspec)?;
            let ybar0 = zeros(&mut cx, &f, fo.iter().map(|&o| f.outputs()[o]))?;
            let res = cx.call(&d.name, &[&x[..], &ybar0, &tangents].concat())?;
            (res[..n_out].to_vec(), res[n_out + fp.len()..].to_vec())
        } else {
            return Err(AdError::Internal {
                message: format!("@{func} has an empty set of custom rules"),
            });
        };
        let mut outputs = Vec::new();
        if spec.primal_outputs {
            outputs.extend_from_slice(&y);
        }
        for &o in &spec.outputs {
            outputs.push(ydot[position(&fo, o)?]);
        }
        let g = cx.finish(&outputs);
        let present = vec![true; spec.outputs.len()];
        self.add(g, &spec.base, key, present)
    }

    /// The adjoint function of `func` from its custom rules.
    pub(crate) fn custom_vjp(
        &mut self,
        func: &str,
        rules: &CustomRules,
        spec: &VjpSpec,
        key: String,
    ) -> Result<Derived, AdError> {
        if !self.building.insert(func.to_string()) {
            return Err(cycle(func));
        }
        let d = self.custom_vjp_in(func, rules, spec, key);
        self.building.remove(func);
        d
    }

    fn custom_vjp_in(
        &mut self,
        func: &str,
        rules: &CustomRules,
        spec: &VjpSpec,
        key: String,
    ) -> Result<Derived, AdError> {
        let f = self.source(func)?;
        let (fp, fo) = floats(&f);
        let n_out = f.outputs().len();
        let mut cx = Emitter::new(self);
        let x: Vec<Value> = f
            .params()
            .iter()
            .map(|&p| cx.param(f.value_name(p), f.ty(p).clone()))
            .collect();
        let mut seeded = vec![None; n_out];
        for (i, &o) in f.outputs().iter().enumerate() {
            if spec.seeds[i] == Seed::Param {
                seeded[i] = Some(cx.param(&format!("{}_bar", f.value_name(o)), f.ty(o).clone()));
            }
        }
        let mut cot = Vec::with_capacity(fo.len());
        for &i in &fo {
            let ty = f.ty(f.outputs()[i]).clone();
            cot.push(match (spec.seeds[i], seeded[i]) {
                (Seed::Param, Some(v)) => v,
                (Seed::One, _) => cx.splat(ty, 1.0)?,
                _ => cx.splat(ty, 0.0)?,
            });
        }
        let (y, xbar) = if let Some(rule) = &rules.vjp {
            let res = cx.call(rule, &[&x[..], &cot].concat())?;
            (res[..n_out].to_vec(), res[n_out..].to_vec())
        } else if let Some(rule) = &rules.jvp {
            // x̄ = (ẋ ↦ Jẋ)ᵀ ȳ: reverse mode of the JVP rule in its tangents.
            let n_in = x.len();
            let rspec = VjpSpec {
                wrt: (n_in..n_in + fp.len()).collect(),
                seeds: (0..n_out + fo.len())
                    .map(|k| if k < n_out { Seed::Zero } else { Seed::Param })
                    .collect(),
                zeros: true,
                base: format!("{rule}_vjp"),
            };
            let d = cx.ctx.vjp(rule, &rspec)?;
            let xdot0 = zeros(&mut cx, &f, fp.iter().map(|&i| f.params()[i]))?;
            let res = cx.call(&d.name, &[&x[..], &xdot0, &cot].concat())?;
            (res[..n_out].to_vec(), res[n_out + fo.len()..].to_vec())
        } else {
            return Err(AdError::Internal {
                message: format!("@{func} has an empty set of custom rules"),
            });
        };
        let mut outputs = y;
        for &i in &spec.wrt {
            outputs.push(xbar[position(&fp, i)?]);
        }
        let g = cx.finish(&outputs);
        let present = vec![true; spec.wrt.len()];
        self.add(g, &spec.base, key, present)
    }
}
