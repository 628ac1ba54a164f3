//! Function handles: functions as values, transforms as methods, calls on
//! plain data.
//!
//! ```
//! use adjit::{Builder, ir::Type};
//!
//! let g = Builder::new("f");
//! let (x, y) = (g.param("x", Type::f64(&[])), g.param("y", Type::f64(&[])));
//! let f = g.finish(&[(x + y) * (x - y)])?;
//! let df = f.grad()?.compile()?;
//! assert_eq!(df.call((3.0, 2.0))?.scalars()?, [6.0, -4.0]);
//! # Ok::<(), adjit::Error>(())
//! ```
//!
//! - [`Func`] is a function together with the module that holds it (and
//!   every function it calls). It is cheap to clone (the module is shared)
//!   and never changes: each transform returns a new `Func` whose module is
//!   the old one plus the generated functions.
//! - [`Builder`] is a [`Graph`] bound to a module: it sees every function of
//!   that module (for `call`, `scan` and `while`), and [`Builder::finish`]
//!   returns the new function as a `Func` whose module holds them all. Make
//!   one with [`Builder::new`] (no functions), [`Func::builder`] (the
//!   functions of a `Func`'s module) or [`Builder::with_funcs`] (several).
//! - The transforms have JAX's meanings: [`Func::grad`] is the gradient
//!   alone, [`Func::value_and_grad`] the value and the gradient,
//!   [`Func::hvp`] `H·v` alone. They differentiate with respect to every
//!   float parameter unless [`Func::wrt`] chose some, by name or by index.
//!   (The module-and-name functions of [`crate::ad`] keep their own
//!   conventions: `ad::grad` returns the outputs and then the gradient.)
//! - [`Func::compile`] simplifies (with [`crate::opt`]) and compiles (with
//!   [`crate::jit`]) into a [`Compiled`], whose [`Compiled::call`] takes
//!   plain data — scalars, slices, `Vec`s, arrays, [`Tensor`]s, in a tuple —
//!   and returns [`Outputs`], read by name or position as slices, scalars or
//!   owned vectors. [`Func::with_vjp`] and [`Func::with_jvp`] attach a
//!   custom derivative rule, itself a `Func`. The zero-allocation call ([`Compiled::call_into`]) and
//!   the raw entry ([`Compiled::compiled_fn`]) stay available.
//!
//! Every error is an [`Error`]; nothing here panics on bad input.

use crate::Error;
use crate::ad::{self, Mode};
use crate::jit::{self, ArgMut, ArgRef, CompiledFn, Workspace};
use crate::opt;
use adjit_ir::{
    Data, Dim, Elem, Function, Graph, Module, Tensor, Type, Var, interp, print_module,
    verify_module,
};
use std::fmt;
use std::sync::{Arc, Mutex};

/// A function and the module that holds it and its callees. See the
/// [module docs](self).
#[derive(Clone, Debug)]
pub struct Func {
    module: Arc<Module>,
    name: Arc<str>,
    /// The parameters the transforms differentiate (`None`: every float one).
    wrt: Option<Vec<usize>>,
}

/// A parameter or output, by position (`usize`) or by name (`&str`).
pub trait Key {
    /// The position of this key among `names`, if there is one.
    fn position(&self, names: &[&str]) -> Option<usize>;
    /// The key as written in messages.
    fn describe(&self) -> String;
}

impl Key for usize {
    fn position(&self, names: &[&str]) -> Option<usize> {
        (*self < names.len()).then_some(*self)
    }
    fn describe(&self) -> String {
        self.to_string()
    }
}

impl Key for &str {
    fn position(&self, names: &[&str]) -> Option<usize> {
        names.iter().position(|n| n == self)
    }
    fn describe(&self) -> String {
        format!("%{self}")
    }
}

impl Key for String {
    fn position(&self, names: &[&str]) -> Option<usize> {
        self.as_str().position(names)
    }
    fn describe(&self) -> String {
        self.as_str().describe()
    }
}

fn find(func: &str, kind: &'static str, names: &[&str], key: &impl Key) -> Result<usize, Error> {
    key.position(names).ok_or_else(|| Error::NoSuch {
        func: func.to_string(),
        kind,
        key: key.describe(),
        available: if names.is_empty() {
            "none".to_string()
        } else {
            names
                .iter()
                .map(|n| format!("%{n}"))
                .collect::<Vec<_>>()
                .join(", ")
        },
    })
}

impl Func {
    /// The handle of a function that calls no other function (it is
    /// verified).
    ///
    /// ```
    /// use adjit::{Func, ir::{Graph, Type}};
    /// let g = Graph::new("sq");
    /// let x = g.param("x", Type::f64(&[]));
    /// let f = Func::new(g.finish(&[x * x])?)?;
    /// assert_eq!(f.name(), "sq");
    /// # Ok::<(), adjit::Error>(())
    /// ```
    pub fn new(function: Function) -> Result<Func, Error> {
        let name = function.name().to_string();
        let mut module = Module::new();
        module.add(function)?;
        Func::from_module(module, &name)
    }

    /// This function with `rule` attached as its custom VJP rule: every
    /// transform of the result, and of any function that calls it, uses
    /// the rule instead of differentiating the body (see `docs/ad.md`). The
    /// rule takes `(x..., ȳ per float output)` and returns `(y..., x̄ per
    /// float parameter)`; a rule of another signature is an error.
    ///
    /// ```
    /// use adjit::{Builder, ir::Type};
    /// let s = Type::f64(&[]);
    /// let g = Builder::new("sq");
    /// let x = g.param("x", s.clone());
    /// let sq = g.finish(&[x * x])?;
    /// // A rule that is not the body's derivative 2x, to show it is used.
    /// let g = Builder::new("sq_vjp");
    /// let (x, dy) = (g.param("x", s.clone()), g.param("dy", s));
    /// let rule = g.finish(&[x * x, dy * 10.0])?;
    ///
    /// let sq = sq.with_vjp(&rule)?;
    /// assert_eq!(sq.grad()?.compile()?.call((3.0,))?.scalar(0)?, 10.0);
    /// # Ok::<(), adjit::Error>(())
    /// ```
    pub fn with_vjp(&self, rule: &Func) -> Result<Func, Error> {
        self.with_rule(rule, Mode::Reverse)
    }

    /// This function with `rule` attached as its custom JVP rule, as
    /// [`Func::with_vjp`]. The rule takes `(x..., ẋ per float parameter)`
    /// and returns `(y..., ẏ per float output)`.
    ///
    /// ```
    /// use adjit::{Builder, ir::Type};
    /// let s = Type::f64(&[]);
    /// let g = Builder::new("sq");
    /// let x = g.param("x", s.clone());
    /// let sq = g.finish(&[x * x])?;
    /// let g = Builder::new("sq_jvp");
    /// let (x, dx) = (g.param("x", s.clone()), g.param("dx", s));
    /// let rule = g.finish(&[x * x, dx * 10.0])?;
    ///
    /// let sq = sq.with_jvp(&rule)?;
    /// assert_eq!(sq.jvp()?.compile()?.call((3.0, 1.0))?.scalars()?, [9.0, 10.0]);
    /// # Ok::<(), adjit::Error>(())
    /// ```
    pub fn with_jvp(&self, rule: &Func) -> Result<Func, Error> {
        self.with_rule(rule, Mode::Forward)
    }

    fn with_rule(&self, rule: &Func, mode: Mode) -> Result<Func, Error> {
        let mut module = merge(&[self, rule])?;
        let attached = match mode {
            Mode::Forward => module.attach_jvp(&self.name, &rule.name),
            Mode::Reverse => module.attach_vjp(&self.name, &rule.name),
        };
        attached.map_err(|e| Error::UnknownFunction(e.0))?;
        Ok(Func {
            wrt: self.wrt.clone(),
            ..Func::from_module(module, &self.name)?
        })
    }

    /// The handle of `name` in `module` (the module is verified).
    ///
    /// ```
    /// use adjit::Func;
    /// let (m, _) = adjit::ir::parse_module("func @f(%x: f64) -> f64 {\n  %y: f64 = mul %x, %x\n  return %y\n}")?;
    /// let f = Func::from_module(m, "f")?;
    /// assert_eq!(f.param_names(), ["x"]);
    /// # Ok::<(), adjit::Error>(())
    /// ```
    pub fn from_module(module: Module, name: &str) -> Result<Func, Error> {
        if module.get(name).is_none() {
            return Err(Error::UnknownFunction(name.to_string()));
        }
        verify_module(&module)?;
        Ok(Func::trusted(module, name))
    }

    /// The last function of a program in the text format (see
    /// `docs/text-format.md`).
    ///
    /// ```
    /// let f = adjit::Func::parse("func @f(%x: f64) -> f64 {\n  %y: f64 = sin %x\n  return %y\n}")?;
    /// let y = f.compile()?.call((0.5,))?.scalar(0)?;
    /// assert!((y - 0.5f64.sin()).abs() < 1e-15);
    /// # Ok::<(), adjit::Error>(())
    /// ```
    pub fn parse(text: &str) -> Result<Func, Error> {
        let (module, _) = adjit_ir::parse_module(text)?;
        let name = match module.last() {
            Some(f) => f.name().to_string(),
            None => return Err(Error::UnknownFunction("(the text defines none)".into())),
        };
        Func::from_module(module, &name)
    }

    /// A handle on a module known to verify (made by AD or the optimiser).
    fn trusted(module: Module, name: &str) -> Func {
        Func {
            module: Arc::new(module),
            name: Arc::from(name),
            wrt: None,
        }
    }

    /// The function's name (without `@`).
    ///
    /// ```
    /// use adjit::{Builder, ir::Type};
    /// let g = Builder::new("f");
    /// let x = g.param("x", Type::f64(&[]));
    /// let f = g.finish(&[x * 2.0])?;
    /// assert_eq!(f.name(), "f");
    /// assert_eq!(f.grad()?.name(), "f_gradient");
    /// # Ok::<(), adjit::Error>(())
    /// ```
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The module holding the function and its callees.
    ///
    /// ```
    /// use adjit::{Builder, ir::Type};
    /// let g = Builder::new("f");
    /// let x = g.param("x", Type::f64(&[]));
    /// let f = g.finish(&[x * 2.0])?;
    /// let df = f.grad()?;
    /// let names: Vec<&str> = df.module().functions().iter().map(|g| g.name()).collect();
    /// assert_eq!(names, ["f", "f_grad", "f_gradient"]); // f, AD's value-and-gradient, the gradient
    /// # Ok::<(), adjit::Error>(())
    /// ```
    pub fn module(&self) -> &Module {
        &self.module
    }

    /// The function itself.
    ///
    /// ```
    /// use adjit::{Builder, ir::Type};
    /// let g = Builder::new("f");
    /// let x = g.param("x", Type::f64(&[]));
    /// let f = g.finish(&[x * 2.0])?;
    /// assert_eq!(f.function().outputs().len(), 1);
    /// # Ok::<(), adjit::Error>(())
    /// ```
    pub fn function(&self) -> &Function {
        self.module
            .get(&self.name)
            .expect("a Func's module holds its function")
    }

    /// The parameters' names, in order.
    ///
    /// ```
    /// use adjit::{Builder, ir::Type};
    /// let g = Builder::new("f");
    /// let (a, b) = (g.param("a", Type::f64(&[])), g.param("b", Type::f64(&[2])));
    /// let f = g.finish(&[a * b])?;
    /// assert_eq!(f.param_names(), ["a", "b"]);
    /// # Ok::<(), adjit::Error>(())
    /// ```
    pub fn param_names(&self) -> Vec<&str> {
        let f = self.function();
        f.params().iter().map(|&p| f.value_name(p)).collect()
    }

    /// The outputs' names (the names of the returned values), in order.
    ///
    /// ```
    /// use adjit::{Builder, ir::Type};
    /// let g = Builder::new("f");
    /// let x = g.param("x", Type::f64(&[]));
    /// let f = g.finish(&[x.sin().named("s"), x.cos().named("c")])?;
    /// assert_eq!(f.output_names(), ["s", "c"]);
    /// # Ok::<(), adjit::Error>(())
    /// ```
    pub fn output_names(&self) -> Vec<&str> {
        let f = self.function();
        f.outputs().iter().map(|&v| f.value_name(v)).collect()
    }

    /// A builder for a new function that sees every function of this one's
    /// module (this one included).
    ///
    /// ```
    /// use adjit::{Builder, ir::Type};
    /// let g = Builder::new("sq");
    /// let x = g.param("x", Type::f64(&[]));
    /// let sq = g.finish(&[x * x])?;
    ///
    /// let g = sq.builder("quartic");
    /// let x = g.param("x", Type::f64(&[]));
    /// let [y] = g.call_n("sq", &[x]);
    /// let [z] = g.call_n("sq", &[y]);
    /// let f = g.finish(&[z])?;
    /// assert_eq!(f.compile()?.call((2.0,))?.scalar(0)?, 16.0);
    /// # Ok::<(), adjit::Error>(())
    /// ```
    pub fn builder(&self, name: &str) -> Builder {
        Builder::over(name, Module::clone(&self.module))
    }

    /// The same function, with the transforms differentiating only the
    /// given parameters (by name or index, in the order given: the order of
    /// the derivatives they return).
    ///
    /// ```
    /// use adjit::{Builder, ir::Type};
    /// let g = Builder::new("f");
    /// let (x, y) = (g.param("x", Type::f64(&[])), g.param("y", Type::f64(&[])));
    /// let f = g.finish(&[x * y * y])?;
    /// let dy = f.wrt(["y"])?.grad()?.compile()?;
    /// assert_eq!(dy.call((3.0, 2.0))?.scalars()?, [12.0]); // 2xy
    /// let both = f.wrt([1, 0])?.grad()?.compile()?;
    /// assert_eq!(both.call((3.0, 2.0))?.scalars()?, [12.0, 4.0]);
    /// assert!(f.wrt(["z"]).is_err());
    /// # Ok::<(), adjit::Error>(())
    /// ```
    pub fn wrt<K: Key>(&self, params: impl IntoIterator<Item = K>) -> Result<Func, Error> {
        let wrt = self.params_of(params)?;
        Ok(Func {
            wrt: Some(wrt),
            ..self.clone()
        })
    }

    fn params_of<K: Key>(&self, params: impl IntoIterator<Item = K>) -> Result<Vec<usize>, Error> {
        let names = self.param_names();
        params
            .into_iter()
            .map(|k| find(&self.name, "parameter", &names, &k))
            .collect()
    }

    /// The differentiated parameters: those chosen with [`Func::wrt`], or
    /// every float parameter.
    ///
    /// ```
    /// use adjit::{Builder, ir::{Elem, Shape, Type}};
    /// let g = Builder::new("f");
    /// let (x, k, y) = (
    ///     g.param("x", Type::f64(&[])),
    ///     g.param("k", Type::new(Elem::I64, Shape::scalar())),
    ///     g.param("y", Type::f64(&[])),
    /// );
    /// let f = g.finish(&[x * y + k.convert(Elem::F64)])?;
    /// assert_eq!(f.wrt_indices(), [0, 2]); // the float ones
    /// assert_eq!(f.wrt(["y"])?.wrt_indices(), [2]);
    /// # Ok::<(), adjit::Error>(())
    /// ```
    pub fn wrt_indices(&self) -> Vec<usize> {
        match &self.wrt {
            Some(w) => w.clone(),
            None => {
                let f = self.function();
                (0..f.params().len())
                    .filter(|&i| f.ty(f.params()[i]).elem.is_float())
                    .collect()
            }
        }
    }

    fn derived(&self, (module, name): (Module, String)) -> Func {
        Func::trusted(module, &name)
    }

    /// Adds a function to the module that calls `inner` with this
    /// function's parameters and returns the results at `keep`, named
    /// `names`.
    fn select_outputs(
        &self,
        inner: Func,
        base: &str,
        keep: &[usize],
        names: &[String],
    ) -> Result<Func, Error> {
        let name = inner.module.fresh_name(base);
        let b = inner.builder(&name);
        let f = self.function();
        let params: Vec<Var<'_>> = f
            .params()
            .iter()
            .map(|&p| b.param(f.value_name(p), f.ty(p).clone()))
            .collect();
        let results = b.call(inner.name(), &params);
        let outs: Vec<Var<'_>> = keep
            .iter()
            .zip(names)
            .filter_map(|(&k, n)| results.get(k).map(|v| v.named(n)))
            .collect();
        b.finish(&outs)
    }

    /// The gradient alone, as `jax.grad`: a function of the same parameters
    /// returning `∂y/∂x` for each differentiated parameter `x` (named
    /// `grad_x`), where `y` is the last output, a float scalar.
    ///
    /// ```
    /// use adjit::{Builder, ir::Type};
    /// let g = Builder::new("f");
    /// let x = g.param("x", Type::f64(&[3]));
    /// let f = g.finish(&[(x * x).sum_all()])?; // |x|²
    /// let out = f.grad()?.compile()?.call((&[1.0, 2.0, 3.0],))?;
    /// assert_eq!(out.f64("grad_x")?, [2.0, 4.0, 6.0]);
    /// # Ok::<(), adjit::Error>(())
    /// ```
    pub fn grad(&self) -> Result<Func, Error> {
        let wrt = self.wrt_indices();
        let g = self.derived(ad::grad(&self.module, &self.name, &wrt)?);
        let n_out = self.function().outputs().len();
        let keep: Vec<usize> = (n_out..n_out + wrt.len()).collect();
        let names = self.grad_names(&wrt);
        self.select_outputs(g, &format!("{}_gradient", self.name), &keep, &names)
    }

    fn grad_names(&self, wrt: &[usize]) -> Vec<String> {
        let names = self.param_names();
        wrt.iter()
            .map(|&i| format!("grad_{}", names.get(i).copied().unwrap_or("")))
            .collect()
    }

    /// The value and the gradient, as `jax.value_and_grad`: returns the last
    /// output `y` (a float scalar) and then `∂y/∂x` for each differentiated
    /// parameter (named `grad_x`).
    ///
    /// ```
    /// use adjit::{Builder, ir::Type};
    /// let g = Builder::new("f");
    /// let x = g.param("x", Type::f64(&[]));
    /// let f = g.finish(&[x.exp() * x])?;
    /// let out = f.value_and_grad()?.compile()?.call((1.0,))?;
    /// let e = 1f64.exp();
    /// assert!((out.scalar(0)? - e).abs() < 1e-15);
    /// assert!((out.scalar("grad_x")? - 2.0 * e).abs() < 1e-14); // (1 + x)eˣ
    /// # Ok::<(), adjit::Error>(())
    /// ```
    pub fn value_and_grad(&self) -> Result<Func, Error> {
        let wrt = self.wrt_indices();
        let g = self.derived(ad::grad(&self.module, &self.name, &wrt)?);
        let f = self.function();
        let n_out = f.outputs().len();
        let mut keep = vec![n_out.saturating_sub(1)];
        keep.extend(n_out..n_out + wrt.len());
        let mut names = vec![
            f.outputs()
                .last()
                .map_or("value".to_string(), |&v| f.value_name(v).to_string()),
        ];
        names.extend(self.grad_names(&wrt));
        self.select_outputs(g, &format!("{}_value_and_grad", self.name), &keep, &names)
    }

    /// Forward mode, as `jax.jvp`: a function taking the parameters and then
    /// a tangent for each differentiated parameter, returning the outputs
    /// and then the tangent of each float output (see [`ad::jvp`]).
    ///
    /// ```
    /// use adjit::{Builder, ir::Type};
    /// let g = Builder::new("f");
    /// let x = g.param("x", Type::f64(&[]));
    /// let f = g.finish(&[x.sin()])?;
    /// let out = f.jvp()?.compile()?.call((0.5, 2.0))?.scalars()?;
    /// assert_eq!(out, [0.5f64.sin(), 2.0 * 0.5f64.cos()]);
    /// # Ok::<(), adjit::Error>(())
    /// ```
    pub fn jvp(&self) -> Result<Func, Error> {
        Ok(self.derived(ad::jvp(&self.module, &self.name, &self.wrt_indices())?))
    }

    /// Reverse mode, as `jax.vjp` (its value and its pullback in one
    /// function): takes the parameters and then a cotangent for each float
    /// output, and returns the outputs and then the cotangent of each
    /// differentiated parameter (see [`ad::vjp`]).
    ///
    /// ```
    /// use adjit::{Builder, ir::Type};
    /// let g = Builder::new("f");
    /// let x = g.param("x", Type::f64(&[2]));
    /// let f = g.finish(&[x * 3.0])?;
    /// let out = f.vjp()?.compile()?.call((&[1.0, 2.0], &[10.0, 20.0]))?;
    /// assert_eq!(out.f64(0)?, [3.0, 6.0]);
    /// assert_eq!(out.f64(1)?, [30.0, 60.0]);
    /// # Ok::<(), adjit::Error>(())
    /// ```
    pub fn vjp(&self) -> Result<Func, Error> {
        Ok(self.derived(ad::vjp(&self.module, &self.name, &self.wrt_indices())?))
    }

    /// Hessian-vector products alone: takes the parameters and then a vector
    /// `v` for each differentiated parameter, and returns `H·v` restricted to
    /// each (see [`ad::hvp`]). The last output must be a float scalar.
    ///
    /// ```
    /// use adjit::{Builder, ir::Type};
    /// let g = Builder::new("f");
    /// let x = g.param("x", Type::f64(&[2]));
    /// let f = g.finish(&[(x * x * x).sum_all()])?; // H = diag(6x)
    /// let hv = f.hvp()?.compile()?.call((&[1.0, 2.0], &[1.0, 1.0]))?;
    /// assert_eq!(hv.f64(0)?, [6.0, 12.0]);
    /// # Ok::<(), adjit::Error>(())
    /// ```
    pub fn hvp(&self) -> Result<Func, Error> {
        Ok(self.derived(ad::hvp(&self.module, &self.name, &self.wrt_indices())?))
    }

    /// The full Jacobian, from one batched reverse sweep (as `jax.jacrev`):
    /// for each float output `y` and differentiated parameter `x`,
    /// output-major, the array of shape `shape(y) ++ shape(x)` (see
    /// [`ad::jacobian`]).
    ///
    /// ```
    /// use adjit::{Builder, ir::Type};
    /// let g = Builder::new("f");
    /// let x = g.param("x", Type::f64(&[2]));
    /// let f = g.finish(&[x * x])?;
    /// let j = f.jacobian()?.compile()?.call((&[3.0, 5.0],))?;
    /// assert_eq!(j.f64(0)?, [6.0, 0.0, 0.0, 10.0]);
    /// # Ok::<(), adjit::Error>(())
    /// ```
    pub fn jacobian(&self) -> Result<Func, Error> {
        self.jacobian_with(Mode::Reverse)
    }

    /// [`Func::jacobian`] from a forward ([`Mode::Forward`], as
    /// `jax.jacfwd`) or reverse sweep.
    ///
    /// ```
    /// use adjit::{Builder, Mode, ir::Type};
    /// let g = Builder::new("f");
    /// let x = g.param("x", Type::f64(&[2]));
    /// let f = g.finish(&[x * x])?;
    /// let j = f.jacobian_with(Mode::Forward)?.compile()?.call((&[3.0, 5.0],))?;
    /// assert_eq!(j.f64(0)?, [6.0, 0.0, 0.0, 10.0]);
    /// # Ok::<(), adjit::Error>(())
    /// ```
    pub fn jacobian_with(&self, mode: Mode) -> Result<Func, Error> {
        Ok(self.derived(ad::jacobian(
            &self.module,
            &self.name,
            &self.wrt_indices(),
            mode,
        )?))
    }

    /// Batching, as `jax.vmap`: the function over a new leading axis of
    /// `size` on the parameters listed (by name or index); every output gets
    /// that axis (see [`ad::vmap`]). `size` is an integer or a [`Dim`].
    ///
    /// ```
    /// use adjit::{Builder, ir::Type};
    /// let g = Builder::new("f");
    /// let (x, a) = (g.param("x", Type::f64(&[])), g.param("a", Type::f64(&[])));
    /// let f = g.finish(&[a * x * x])?;
    /// let many = f.vmap(["x"], 3)?.compile()?;
    /// assert_eq!(many.call((&[1.0, 2.0, 3.0], 2.0))?.f64(0)?, [2.0, 8.0, 18.0]);
    /// # Ok::<(), adjit::Error>(())
    /// ```
    pub fn vmap<K: Key>(
        &self,
        batched: impl IntoIterator<Item = K>,
        size: impl Into<Dim>,
    ) -> Result<Func, Error> {
        let batched = self.params_of(batched)?;
        Ok(self.derived(ad::vmap(&self.module, &self.name, &batched, size.into())?))
    }

    /// The function simplified by [`crate::opt`] (exact rewrites only).
    ///
    /// ```
    /// use adjit::{Builder, ir::Type};
    /// let g = Builder::new("f");
    /// let x = g.param("x", Type::f64(&[]));
    /// let f = g.finish(&[(x * 1.0).sin()])?; // x·1 → x
    /// assert!(f.simplify()?.function().nodes().len() < f.function().nodes().len());
    /// # Ok::<(), adjit::Error>(())
    /// ```
    pub fn simplify(&self) -> Result<Func, Error> {
        let module = opt::optimize(&self.module, &self.name)?;
        Ok(Func {
            module: Arc::new(module),
            ..self.clone()
        })
    }

    /// Simplifies and compiles the function with the default options. Its
    /// sizes must be known; [`Func::compile_for`] specialises a symbolic
    /// one.
    ///
    /// ```
    /// use adjit::{Builder, ir::Type};
    /// let g = Builder::new("f");
    /// let x = g.param("x", Type::f64(&[]));
    /// let f = g.finish(&[x * x])?.compile()?;
    /// assert_eq!(f.call((3.0,))?.scalar(0)?, 9.0);
    /// # Ok::<(), adjit::Error>(())
    /// ```
    pub fn compile(&self) -> Result<Compiled, Error> {
        self.compile_with(&CompileOptions::default())
    }

    /// Compiles with options (whether to simplify first; the JIT's options).
    ///
    /// ```
    /// use adjit::{Builder, CompileOptions, ir::Type};
    /// let g = Builder::new("f");
    /// let x = g.param("x", Type::f64(&[]));
    /// let f = g.finish(&[x * 1.0])?;
    /// let raw = CompileOptions { simplify: false, ..Default::default() };
    /// assert_eq!(f.compile_with(&raw)?.call((3.0,))?.scalar(0)?, 3.0);
    /// # Ok::<(), adjit::Error>(())
    /// ```
    pub fn compile_with(&self, options: &CompileOptions) -> Result<Compiled, Error> {
        self.compile_inner(None, options)
    }

    /// Specialises the function to the given parameter types (binding its
    /// size variables), then simplifies and compiles it.
    ///
    /// ```
    /// let f = adjit::Func::parse(
    ///     "func @sum(%x: f64[n]) -> f64 {\n  %s: f64 = reduce_sum %x, axes=[0]\n  return %s\n}",
    /// )?;
    /// let c = f.compile_for(&[adjit::ir::Type::f64(&[4])])?;
    /// assert_eq!(c.call((&[1.0, 2.0, 3.0, 4.0],))?.scalar(0)?, 10.0);
    /// # Ok::<(), adjit::Error>(())
    /// ```
    pub fn compile_for(&self, params: &[Type]) -> Result<Compiled, Error> {
        self.compile_inner(Some(params), &CompileOptions::default())
    }

    fn compile_inner(
        &self,
        params: Option<&[Type]>,
        options: &CompileOptions,
    ) -> Result<Compiled, Error> {
        let module = if options.simplify {
            opt::optimize(&self.module, &self.name)?
        } else {
            Module::clone(&self.module)
        };
        // Specialising even a function whose own sizes are known also
        // specialises the callees and loop bodies it reaches (a batched
        // callee may be generic in its batch size).
        let own = self.function().param_types();
        let compiled = match params {
            Some(types) => jit::compile_for_with(&module, &self.name, types, &options.jit)?,
            // Symbolic sizes: the JIT's own error names the value.
            None if own.iter().any(|t| t.shape.as_known().is_none()) => {
                jit::compile_with(&module, &self.name, &options.jit)?
            }
            None => jit::compile_for_with(&module, &self.name, &own, &options.jit)?,
        };
        Ok(Compiled {
            name: self.name.to_string(),
            params: self.param_names().iter().map(|s| s.to_string()).collect(),
            outputs: self.output_names().iter().map(|s| s.to_string()).collect(),
            workspaces: Mutex::new(Vec::new()),
            f: compiled,
        })
    }

    /// Evaluates the function in the reference interpreter (symbolic sizes
    /// are bound from the inputs).
    ///
    /// ```
    /// use adjit::{Builder, ir::{Tensor, Type}};
    /// let g = Builder::new("f");
    /// let x = g.param("x", Type::f64(&[]));
    /// let f = g.finish(&[x + 1.0])?;
    /// let out = f.eval(&[Tensor::from_f64(2.0)])?;
    /// assert_eq!(out[0].as_f64(), Some(&[3.0][..]));
    /// # Ok::<(), adjit::Error>(())
    /// ```
    pub fn eval(&self, inputs: &[Tensor]) -> Result<Vec<Tensor>, Error> {
        Ok(interp::eval(&self.module, &self.name, inputs)?)
    }
}

/// The module in the text format, the entry last.
///
/// ```
/// use adjit::{Builder, ir::Type};
/// let g = Builder::new("f");
/// let x = g.param("x", Type::f64(&[]));
/// let f = g.finish(&[x.sin()])?;
/// assert!(f.to_string().starts_with("func @f(%x: f64) -> f64 {"));
/// # Ok::<(), adjit::Error>(())
/// ```
/// The modules of `funcs` merged, custom rules included (two different
/// functions of one name, or two different rules of one function, are an
/// error).
fn merge(funcs: &[&Func]) -> Result<Module, Error> {
    let mut module = Module::new();
    let duplicate =
        |name: &str| Error::from(adjit_ir::function::DuplicateFunction(name.to_string()));
    for f in funcs {
        for function in f.module.functions() {
            match module.get(function.name()) {
                Some(existing) if existing == function => {}
                Some(_) => return Err(duplicate(function.name())),
                None => module.add(function.clone())?,
            }
        }
    }
    for f in funcs {
        for (name, rules) in f.module.all_rules() {
            match module.rules(name) {
                Some(existing) if existing == rules => {}
                Some(_) => return Err(duplicate(name)),
                None => module
                    .set_rules(name, rules.clone())
                    .map_err(|e| Error::UnknownFunction(e.0))?,
            }
        }
    }
    Ok(module)
}

impl fmt::Display for Func {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&print_module(&self.module))
    }
}

/// A [`Graph`] bound to a module: it sees the module's functions, and
/// [`Builder::finish`] adds the new function to (a copy of) the module and
/// returns its [`Func`]. It dereferences to the `Graph`, so every builder
/// method (`param`, `call`, `scan`, …) is available.
pub struct Builder {
    module: Module,
    graph: Graph,
}

impl Builder {
    /// A builder for a function that calls no other function.
    ///
    /// ```
    /// use adjit::{Builder, ir::Type};
    /// let g = Builder::new("f");
    /// let x = g.param("x", Type::f64(&[]));
    /// let f = g.finish(&[x.sin()])?;
    /// assert_eq!(f.module().functions().len(), 1);
    /// # Ok::<(), adjit::Error>(())
    /// ```
    pub fn new(name: &str) -> Builder {
        Builder::over(name, Module::new())
    }

    /// A builder that sees every function of `module`.
    ///
    /// ```
    /// use adjit::{Builder, ir::Type};
    /// let (m, _) = adjit::ir::parse_module("func @sq(%x: f64) -> f64 {\n  %y: f64 = mul %x, %x\n  return %y\n}")?;
    /// let g = Builder::with_module("f", &m);
    /// let x = g.param("x", Type::f64(&[]));
    /// let [y] = g.call_n("sq", &[x]);
    /// assert_eq!(g.finish(&[y + 1.0])?.compile()?.call((3.0,))?.scalar(0)?, 10.0);
    /// # Ok::<(), adjit::Error>(())
    /// ```
    pub fn with_module(name: &str, module: &Module) -> Builder {
        Builder::over(name, module.clone())
    }

    /// A builder that sees the functions of every `Func` given (their
    /// modules merged; two different functions of one name are an error).
    ///
    /// ```
    /// use adjit::{Builder, ir::Type};
    /// let g = Builder::new("sq");
    /// let x = g.param("x", Type::f64(&[]));
    /// let sq = g.finish(&[x * x])?;
    /// let g = Builder::new("cube");
    /// let x = g.param("x", Type::f64(&[]));
    /// let cube = g.finish(&[x * x * x])?;
    ///
    /// let g = Builder::with_funcs("f", &[&sq, &cube])?;
    /// let x = g.param("x", Type::f64(&[]));
    /// let [a] = g.call_n("sq", &[x]);
    /// let [b] = g.call_n("cube", &[x]);
    /// assert_eq!(g.finish(&[a + b])?.compile()?.call((2.0,))?.scalar(0)?, 12.0);
    /// # Ok::<(), adjit::Error>(())
    /// ```
    pub fn with_funcs(name: &str, funcs: &[&Func]) -> Result<Builder, Error> {
        Ok(Builder::over(name, merge(funcs)?))
    }

    fn over(name: &str, module: Module) -> Builder {
        Builder {
            graph: Graph::with_module(name, &module),
            module,
        }
    }

    /// The functions this builder sees.
    ///
    /// ```
    /// use adjit::{Builder, ir::Type};
    /// let g = Builder::new("f");
    /// let x = g.param("x", Type::f64(&[]));
    /// let f = g.finish(&[x * 2.0])?;
    /// let g = f.builder("h");
    /// assert!(g.module().contains("f"));
    /// # Ok::<(), adjit::Error>(())
    /// ```
    pub fn module(&self) -> &Module {
        &self.module
    }

    /// Finishes the function with the given outputs and returns its handle,
    /// whose module holds every function this builder sees and the new one.
    /// Every error recorded while building is returned ([`Error::Build`]).
    ///
    /// ```
    /// use adjit::{Builder, Error, ir::Type};
    /// let g = Builder::new("f");
    /// let a = g.param("a", Type::f64(&[2]));
    /// let b = g.param("b", Type::f64(&[3]));
    /// assert!(matches!(g.finish(&[a + b]), Err(Error::Build(_))));
    /// ```
    #[track_caller]
    pub fn finish(&self, outputs: &[Var<'_>]) -> Result<Func, Error> {
        let function = self.graph.finish(outputs)?;
        let name = function.name().to_string();
        let mut module = self.module.clone();
        module.add(function)?;
        Func::from_module(module, &name)
    }
}

impl std::ops::Deref for Builder {
    type Target = Graph;
    fn deref(&self) -> &Graph {
        &self.graph
    }
}

/// Options of [`Func::compile_with`].
#[derive(Clone, Debug)]
pub struct CompileOptions {
    /// Simplify with [`crate::opt`] (exact rewrites) before compiling. On by
    /// default.
    pub simplify: bool,
    /// The JIT's options.
    pub jit: jit::Options,
}

impl Default for CompileOptions {
    fn default() -> CompileOptions {
        CompileOptions {
            simplify: true,
            jit: jit::Options::default(),
        }
    }
}

/// A compiled function with the names of its parameters and outputs. Calls
/// take plain data ([`Compiled::call`]); the zero-allocation call
/// ([`Compiled::call_into`]) and the raw entry ([`Compiled::compiled_fn`])
/// are there for hot loops. `Sync`: one may be called from many threads.
pub struct Compiled {
    name: String,
    params: Vec<String>,
    outputs: Vec<String>,
    /// Workspaces of finished calls, reused by later ones.
    workspaces: Mutex<Vec<Workspace>>,
    f: CompiledFn,
}

impl fmt::Debug for Compiled {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Compiled")
            .field("name", &self.name)
            .field("params", &self.params)
            .field("outputs", &self.outputs)
            .finish_non_exhaustive()
    }
}

/// One argument of [`Compiled::call`]: a scalar (`f64`, `f32`, `i64`,
/// `bool`), a slice, `Vec` or array of them (row-major), or a [`Tensor`].
pub trait Arg {
    /// The argument's elements.
    fn arg(&self) -> ArgRef<'_>;
}

macro_rules! arg_impls {
    ($($t:ty => $v:ident),*) => {$(
        impl Arg for $t {
            fn arg(&self) -> ArgRef<'_> {
                ArgRef::$v(std::slice::from_ref(self))
            }
        }
        impl Arg for [$t] {
            fn arg(&self) -> ArgRef<'_> {
                ArgRef::$v(self)
            }
        }
        impl Arg for Vec<$t> {
            fn arg(&self) -> ArgRef<'_> {
                ArgRef::$v(self)
            }
        }
        impl<const N: usize> Arg for [$t; N] {
            fn arg(&self) -> ArgRef<'_> {
                ArgRef::$v(self)
            }
        }
    )*};
}
arg_impls!(f64 => F64, f32 => F32, i64 => I64, bool => Bool);

impl<T: Arg + ?Sized> Arg for &T {
    fn arg(&self) -> ArgRef<'_> {
        (**self).arg()
    }
}

impl Arg for Tensor {
    fn arg(&self) -> ArgRef<'_> {
        match self.data() {
            Data::F64(v) => ArgRef::F64(v),
            Data::F32(v) => ArgRef::F32(v),
            Data::I64(v) => ArgRef::I64(v),
            Data::Bool(v) => ArgRef::Bool(v),
        }
    }
}

impl Arg for ArgRef<'_> {
    fn arg(&self) -> ArgRef<'_> {
        *self
    }
}

/// The arguments of [`Compiled::call`]: a tuple of [`Arg`]s (`(x,)` for
/// one), or a slice of [`ArgRef`]s.
pub trait Args {
    /// The arguments' elements, in order.
    fn args(&self) -> Vec<ArgRef<'_>>;
}

impl Args for () {
    fn args(&self) -> Vec<ArgRef<'_>> {
        Vec::new()
    }
}

impl Args for [ArgRef<'_>] {
    fn args(&self) -> Vec<ArgRef<'_>> {
        self.to_vec()
    }
}

impl<T: Args + ?Sized> Args for &T {
    fn args(&self) -> Vec<ArgRef<'_>> {
        (**self).args()
    }
}

macro_rules! tuple_args {
    ($($name:ident . $i:tt),+) => {
        impl<$($name: Arg),+> Args for ($($name,)+) {
            fn args(&self) -> Vec<ArgRef<'_>> {
                vec![$(self.$i.arg()),+]
            }
        }
    };
}
tuple_args!(A.0);
tuple_args!(A.0, B.1);
tuple_args!(A.0, B.1, C.2);
tuple_args!(A.0, B.1, C.2, D.3);
tuple_args!(A.0, B.1, C.2, D.3, E.4);
tuple_args!(A.0, B.1, C.2, D.3, E.4, F.5);
tuple_args!(A.0, B.1, C.2, D.3, E.4, F.5, G.6);
tuple_args!(A.0, B.1, C.2, D.3, E.4, F.5, G.6, H.7);
tuple_args!(A.0, B.1, C.2, D.3, E.4, F.5, G.6, H.7, I.8);
tuple_args!(A.0, B.1, C.2, D.3, E.4, F.5, G.6, H.7, I.8, J.9);
tuple_args!(A.0, B.1, C.2, D.3, E.4, F.5, G.6, H.7, I.8, J.9, K.10);
tuple_args!(A.0, B.1, C.2, D.3, E.4, F.5, G.6, H.7, I.8, J.9, K.10, L.11);

impl Compiled {
    /// Calls on plain data: a tuple with one argument per parameter (a
    /// scalar, or a slice, `Vec`, array or [`Tensor`] holding the
    /// parameter's elements row-major), checked against the parameter types.
    /// Allocates the outputs (and reuses workspaces across calls).
    ///
    /// ```
    /// use adjit::{Builder, ir::Type};
    /// let g = Builder::new("affine");
    /// let (a, x, b) = (
    ///     g.param("a", Type::f64(&[2, 2])),
    ///     g.param("x", Type::f64(&[2])),
    ///     g.param("b", Type::f64(&[])),
    /// );
    /// let f = g.finish(&[(a.matmul(x) + b).named("y")])?.compile()?;
    /// let a = vec![1.0, 2.0, 3.0, 4.0];
    /// let out = f.call((&a, [1.0, 1.0], 0.5))?;
    /// assert_eq!(out.f64("y")?, [3.5, 7.5]);
    /// assert!(f.call((&a, [1.0], 0.5)).is_err()); // wrong length
    /// # Ok::<(), adjit::Error>(())
    /// ```
    pub fn call(&self, args: impl Args) -> Result<Outputs, Error> {
        let inputs = args.args();
        let mut datas: Vec<Data> = Vec::with_capacity(self.outputs.len());
        let mut shapes = Vec::with_capacity(self.outputs.len());
        for t in self.f.output_types() {
            let shape = t.shape.as_known().unwrap_or_default();
            let n = shape.iter().product::<usize>();
            datas.push(match t.elem {
                Elem::F64 => Data::F64(vec![0.0; n]),
                Elem::F32 => Data::F32(vec![0.0; n]),
                Elem::I64 => Data::I64(vec![0; n]),
                Elem::Bool => Data::Bool(vec![false; n]),
            });
            shapes.push(shape);
        }
        {
            let mut outs: Vec<ArgMut<'_>> = datas
                .iter_mut()
                .map(|d| match d {
                    Data::F64(v) => ArgMut::F64(v),
                    Data::F32(v) => ArgMut::F32(v),
                    Data::I64(v) => ArgMut::I64(v),
                    Data::Bool(v) => ArgMut::Bool(v),
                })
                .collect();
            let pooled = self.workspaces.lock().ok().and_then(|mut p| p.pop());
            let mut ws = pooled.unwrap_or_else(|| self.f.workspace());
            let result = self.f.call_into(&inputs, &mut outs, &mut ws);
            if let Ok(mut pool) = self.workspaces.lock() {
                pool.push(ws);
            }
            result?;
        }
        let tensors = datas
            .into_iter()
            .zip(shapes)
            .map(|(d, s)| Tensor::new(s, d))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Outputs {
            func: self.name.clone(),
            names: self.outputs.clone(),
            tensors,
        })
    }

    /// Calls with tensors (see [`CompiledFn::call`]).
    ///
    /// ```
    /// use adjit::{Builder, ir::{Tensor, Type}};
    /// let g = Builder::new("f");
    /// let x = g.param("x", Type::f64(&[]));
    /// let f = g.finish(&[x * 2.0])?.compile()?;
    /// let out = f.call_tensors(&[&Tensor::from_f64(4.0)])?;
    /// assert_eq!(out[0].as_f64(), Some(&[8.0][..]));
    /// # Ok::<(), adjit::Error>(())
    /// ```
    pub fn call_tensors(&self, inputs: &[&Tensor]) -> Result<Vec<Tensor>, Error> {
        Ok(self.f.call(inputs)?)
    }

    /// The zero-allocation call: slices in, slices out, a workspace made by
    /// [`Compiled::workspace`] (see [`CompiledFn::call_into`]).
    ///
    /// ```
    /// use adjit::{Builder, ir::Type};
    /// use adjit::jit::{ArgMut, ArgRef};
    /// let g = Builder::new("f");
    /// let x = g.param("x", Type::f64(&[2]));
    /// let f = g.finish(&[x * x])?.compile()?;
    /// let mut ws = f.workspace();
    /// let mut y = [0.0; 2];
    /// f.call_into(&[ArgRef::F64(&[3.0, 4.0])], &mut [ArgMut::F64(&mut y)], &mut ws)?;
    /// assert_eq!(y, [9.0, 16.0]);
    /// # Ok::<(), adjit::Error>(())
    /// ```
    pub fn call_into(
        &self,
        inputs: &[ArgRef<'_>],
        outputs: &mut [ArgMut<'_>],
        ws: &mut Workspace,
    ) -> Result<(), Error> {
        Ok(self.f.call_into(inputs, outputs, ws)?)
    }

    /// A workspace for [`Compiled::call_into`] (allocates; reuse it).
    ///
    /// ```
    /// use adjit::{Builder, ir::Type};
    /// let g = Builder::new("f");
    /// let x = g.param("x", Type::f64(&[]));
    /// let f = g.finish(&[x + 1.0])?.compile()?;
    /// assert!(f.workspace().size() >= f.compiled_fn().workspace_size());
    /// # Ok::<(), adjit::Error>(())
    /// ```
    pub fn workspace(&self) -> Workspace {
        self.f.workspace()
    }

    /// The compiled function itself: its types, statistics and raw entry.
    ///
    /// ```
    /// use adjit::{Builder, ir::Type};
    /// let g = Builder::new("f");
    /// let x = g.param("x", Type::f64(&[3]));
    /// let f = g.finish(&[x.sum_all()])?.compile()?;
    /// assert_eq!(f.compiled_fn().param_types(), [Type::f64(&[3])]);
    /// # Ok::<(), adjit::Error>(())
    /// ```
    pub fn compiled_fn(&self) -> &CompiledFn {
        &self.f
    }

    /// The compiled function's name.
    ///
    /// ```
    /// use adjit::{Builder, ir::Type};
    /// let g = Builder::new("f");
    /// let x = g.param("x", Type::f64(&[]));
    /// let c = g.finish(&[(x * 2.0).named("y")])?.grad()?.compile()?;
    /// assert_eq!(c.name(), "f_gradient");
    /// # Ok::<(), adjit::Error>(())
    /// ```
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The parameters' names, in order.
    ///
    /// ```
    /// use adjit::{Builder, ir::Type};
    /// let g = Builder::new("f");
    /// let x = g.param("x", Type::f64(&[]));
    /// let c = g.finish(&[(x * 2.0).named("y")])?.grad()?.compile()?;
    /// assert_eq!(c.param_names(), ["x"]);
    /// # Ok::<(), adjit::Error>(())
    /// ```
    pub fn param_names(&self) -> &[String] {
        &self.params
    }

    /// The outputs' names, in order.
    ///
    /// ```
    /// use adjit::{Builder, ir::Type};
    /// let g = Builder::new("f");
    /// let x = g.param("x", Type::f64(&[]));
    /// let c = g.finish(&[(x * 2.0).named("y")])?.grad()?.compile()?;
    /// assert_eq!(c.output_names(), ["grad_x"]);
    /// # Ok::<(), adjit::Error>(())
    /// ```
    pub fn output_names(&self) -> &[String] {
        &self.outputs
    }
}

/// The outputs of [`Compiled::call`], read by name or position.
#[derive(Clone, Debug, PartialEq)]
pub struct Outputs {
    func: String,
    names: Vec<String>,
    tensors: Vec<Tensor>,
}

impl Outputs {
    fn index(&self, key: &impl Key) -> Result<usize, Error> {
        let names: Vec<&str> = self.names.iter().map(String::as_str).collect();
        find(&self.func, "output", &names, key)
    }

    fn wrong(&self, key: &impl Key, i: usize, wanted: &'static str) -> Error {
        Error::OutputType {
            key: key.describe(),
            ty: self.tensors[i].ty(),
            wanted,
        }
    }

    /// The elements of an `f64` output.
    ///
    /// ```
    /// use adjit::{Builder, ir::Type};
    /// let g = Builder::new("f");
    /// let x = g.param("x", Type::f64(&[2]));
    /// let out = g.finish(&[(x * 2.0).named("y")])?.compile()?.call((&[1.0, 2.0],))?;
    /// assert_eq!(out.f64("y")?, out.f64(0)?);
    /// assert_eq!(out.f64(0)?, [2.0, 4.0]);
    /// assert!(out.f64(1).is_err() && out.f64("z").is_err());
    /// # Ok::<(), adjit::Error>(())
    /// ```
    pub fn f64(&self, key: impl Key) -> Result<&[f64], Error> {
        let i = self.index(&key)?;
        self.tensors[i]
            .as_f64()
            .ok_or_else(|| self.wrong(&key, i, "f64"))
    }

    /// The elements of an `f32` output.
    ///
    /// ```
    /// use adjit::{Builder, ir::{Elem, Type}};
    /// let g = Builder::new("f");
    /// let x = g.param("x", Type::new(Elem::F32, adjit::ir::Shape::known(&[2])));
    /// let out = g.finish(&[x * 2.0])?.compile()?.call((&[1.0f32, 2.0],))?;
    /// assert_eq!(out.f32(0)?, [2.0f32, 4.0]);
    /// assert!(out.f64(0).is_err());
    /// # Ok::<(), adjit::Error>(())
    /// ```
    pub fn f32(&self, key: impl Key) -> Result<&[f32], Error> {
        let i = self.index(&key)?;
        self.tensors[i]
            .as_f32()
            .ok_or_else(|| self.wrong(&key, i, "f32"))
    }

    /// An owned copy of a float output's elements (`f32` widened to `f64`).
    ///
    /// ```
    /// use adjit::{Builder, ir::Type};
    /// let g = Builder::new("f");
    /// let x = g.param("x", Type::f64(&[2]));
    /// let out = g.finish(&[x + 1.0])?.compile()?.call(([1.0, 2.0],))?;
    /// let v: Vec<f64> = out.to_vec(0)?;
    /// assert_eq!(v, [2.0, 3.0]);
    /// # Ok::<(), adjit::Error>(())
    /// ```
    pub fn to_vec(&self, key: impl Key) -> Result<Vec<f64>, Error> {
        let i = self.index(&key)?;
        match self.tensors[i].data() {
            Data::F64(v) => Ok(v.clone()),
            Data::F32(v) => Ok(v.iter().map(|&x| f64::from(x)).collect()),
            _ => Err(self.wrong(&key, i, "a float array")),
        }
    }

    /// A float scalar output as `f64`.
    ///
    /// ```
    /// use adjit::{Builder, ir::Type};
    /// let g = Builder::new("f");
    /// let x = g.param("x", Type::f64(&[2]));
    /// let out = g.finish(&[x.sum_all().named("s"), x])?.compile()?.call(([1.0, 2.0],))?;
    /// assert_eq!(out.scalar("s")?, 3.0);
    /// assert!(out.scalar(1).is_err()); // a vector
    /// # Ok::<(), adjit::Error>(())
    /// ```
    pub fn scalar(&self, key: impl Key) -> Result<f64, Error> {
        let i = self.index(&key)?;
        let t = &self.tensors[i];
        match (t.shape().is_empty(), t.data()) {
            (true, Data::F64(v)) => Ok(v[0]),
            (true, Data::F32(v)) => Ok(f64::from(v[0])),
            _ => Err(self.wrong(&key, i, "a float scalar")),
        }
    }

    /// Every output, each a float scalar, as `f64`s in order.
    ///
    /// ```
    /// use adjit::{Builder, ir::Type};
    /// let g = Builder::new("f");
    /// let x = g.param("x", Type::f64(&[]));
    /// let out = g.finish(&[x + 1.0, x * 2.0])?.compile()?.call((5.0,))?;
    /// assert_eq!(out.scalars()?, [6.0, 10.0]);
    /// # Ok::<(), adjit::Error>(())
    /// ```
    pub fn scalars(&self) -> Result<Vec<f64>, Error> {
        (0..self.tensors.len()).map(|i| self.scalar(i)).collect()
    }

    /// An output as a tensor (with its shape).
    ///
    /// ```
    /// use adjit::{Builder, ir::Type};
    /// let g = Builder::new("f");
    /// let x = g.param("x", Type::f64(&[2, 3]));
    /// let out = g.finish(&[x.t()])?.compile()?.call(([0.0; 6],))?;
    /// assert_eq!(out.tensor(0)?.shape(), [3, 2]);
    /// # Ok::<(), adjit::Error>(())
    /// ```
    pub fn tensor(&self, key: impl Key) -> Result<&Tensor, Error> {
        Ok(&self.tensors[self.index(&key)?])
    }

    /// The outputs' names, in order.
    ///
    /// ```
    /// use adjit::{Builder, ir::Type};
    /// let g = Builder::new("f");
    /// let x = g.param("x", Type::f64(&[]));
    /// let out = g.finish(&[x.named("a"), (x * 2.0).named("b")])?.compile()?.call((1.5,))?;
    /// assert_eq!(out.names(), ["a", "b"]);
    /// # Ok::<(), adjit::Error>(())
    /// ```
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// The number of outputs.
    ///
    /// ```
    /// use adjit::{Builder, ir::Type};
    /// let g = Builder::new("f");
    /// let x = g.param("x", Type::f64(&[]));
    /// let out = g.finish(&[x.named("a"), (x * 2.0).named("b")])?.compile()?.call((1.5,))?;
    /// assert_eq!(out.len(), 2);
    /// # Ok::<(), adjit::Error>(())
    /// ```
    pub fn len(&self) -> usize {
        self.tensors.len()
    }

    /// Whether there are no outputs.
    ///
    /// ```
    /// use adjit::{Builder, ir::Type};
    /// let g = Builder::new("f");
    /// let x = g.param("x", Type::f64(&[]));
    /// let out = g.finish(&[x.named("a"), (x * 2.0).named("b")])?.compile()?.call((1.5,))?;
    /// assert!(!out.is_empty());
    /// # Ok::<(), adjit::Error>(())
    /// ```
    pub fn is_empty(&self) -> bool {
        self.tensors.is_empty()
    }

    /// The outputs as tensors, in order.
    ///
    /// ```
    /// use adjit::{Builder, ir::Type};
    /// let g = Builder::new("f");
    /// let x = g.param("x", Type::f64(&[]));
    /// let out = g.finish(&[x.named("a"), (x * 2.0).named("b")])?.compile()?.call((1.5,))?;
    /// let t = out.into_tensors();
    /// assert_eq!(t[1].as_f64(), Some(&[3.0][..]));
    /// # Ok::<(), adjit::Error>(())
    /// ```
    pub fn into_tensors(self) -> Vec<Tensor> {
        self.tensors
    }
}
