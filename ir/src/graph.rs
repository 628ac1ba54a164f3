//! The Rust builder API: graphs written as ordinary Rust expressions.
//!
//! ```
//! use adjit_ir::{Graph, Type};
//! let g = Graph::new("f");
//! let x = g.param("x", Type::f64(&[3]));
//! let w = g.param("w", Type::f64(&[3]));
//! let y = ((x + 1.0).sin() * w).sum_all();
//! let f = g.finish(&[y]).unwrap();
//! assert_eq!(f.outputs().len(), 1);
//! ```
//!
//! [`Var`] handles are `Copy` and combine with `+ - * /`, with literal scalars
//! on either side, and with methods for every op. Shapes broadcast as in numpy
//! (aligned at the right; a size-1 axis stretches): the builder inserts the
//! explicit `broadcast` nodes the IR requires.
//!
//! Errors do not panic. The first error in an expression is recorded with the
//! op, the shapes and the Rust call site (`#[track_caller]`); the handle it
//! returns is poisoned, later ops on poisoned handles record nothing, and
//! [`Graph::finish`] returns every recorded error.
//!
//! A [`Var`] belongs to the graph that made it: an op given a value of
//! another graph records an error naming both graphs (values are never
//! looked up by index in the wrong graph). A graph sees the functions of the
//! module it was made with ([`Graph::with_module`]) for `call`, `scan` and
//! `while`; a failed call still returns as many (poisoned) values as the
//! callee has outputs. Sizes (`slice_axis` bounds, scan lengths, …) accept
//! integers or [`Dim`]s; a negative literal is a recorded error.

use crate::builder::FunctionBuilder;
use crate::checkpoint::Checkpoint;
use crate::dim::Dim;
use crate::function::{Function, Module, Value};
use crate::op::{BinaryOp, CmpOp, ConstData, FuncName, Op, ReduceOp, Scalar, SliceRange, UnaryOp};
use crate::types::{Elem, Shape, Type};
use crate::typing::Signatures;
use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt;
use std::panic::Location;
use std::sync::Arc;

/// An error made while building a graph: which op, what is wrong, and where in
/// the caller's code. The caller's fault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildError {
    /// The op's name (`add`, `matmul`, …).
    pub op: String,
    /// What is wrong, with the shapes involved.
    pub message: String,
    /// The Rust call site that made the op.
    pub location: &'static Location<'static>,
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: `{}`: {}", self.location, self.op, self.message)
    }
}

impl std::error::Error for BuildError {}

/// Every error recorded while building a graph (at least one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildErrors(pub Vec<BuildError>);

impl fmt::Display for BuildErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for BuildErrors {}

/// A function under construction. Create [`Var`]s with [`Graph::param`] and
/// the constant constructors, combine them, and call [`Graph::finish`].
pub struct Graph {
    inner: RefCell<Inner>,
}

struct Inner {
    /// The function's name, kept after `finish` for error messages.
    name: Arc<str>,
    builder: Option<FunctionBuilder>,
    sigs: HashMap<String, (Vec<Type>, Vec<Type>)>,
    errors: Vec<BuildError>,
}

impl Signatures for HashMap<String, (Vec<Type>, Vec<Type>)> {
    fn signature(&self, name: &str) -> Option<(Vec<Type>, Vec<Type>)> {
        self.get(name).cloned()
    }
}

/// A handle to a value of a [`Graph`]. `Copy`; combine with operators and methods.
#[derive(Clone, Copy)]
pub struct Var<'g> {
    g: &'g Graph,
    /// `None` once an error was recorded for this value.
    v: Option<Value>,
}

impl fmt::Debug for Var<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.v {
            Some(v) => write!(f, "Var({v:?}: {})", self.g.ty_of(v)),
            None => f.write_str("Var(<error>)"),
        }
    }
}

/// An operand of a binary op: a value or a literal scalar.
#[derive(Clone, Copy)]
pub enum Operand<'g> {
    /// A graph value.
    Var(Var<'g>),
    /// A literal, converted to the other operand's element type.
    Lit(f64),
}

impl<'g> From<Var<'g>> for Operand<'g> {
    fn from(v: Var<'g>) -> Self {
        Operand::Var(v)
    }
}
impl<'g> From<&Var<'g>> for Operand<'g> {
    fn from(v: &Var<'g>) -> Self {
        Operand::Var(*v)
    }
}
impl From<f64> for Operand<'_> {
    fn from(x: f64) -> Self {
        Operand::Lit(x)
    }
}
impl From<f32> for Operand<'_> {
    fn from(x: f32) -> Self {
        Operand::Lit(f64::from(x))
    }
}
impl From<i32> for Operand<'_> {
    fn from(x: i32) -> Self {
        Operand::Lit(f64::from(x))
    }
}

impl Graph {
    /// A graph for a function named `name` that calls no other function.
    pub fn new(name: &str) -> Graph {
        Graph {
            inner: RefCell::new(Inner {
                name: Arc::from(name),
                builder: Some(FunctionBuilder::new(name)),
                sigs: HashMap::new(),
                errors: Vec::new(),
            }),
        }
    }

    /// A graph that may `call`, `scan` or `while` over the functions of `module`.
    pub fn with_module(name: &str, module: &Module) -> Graph {
        let g = Graph::new(name);
        g.inner.borrow_mut().sigs = module
            .functions()
            .iter()
            .map(|f| (f.name().to_string(), (f.param_types(), f.output_types())))
            .collect();
        g
    }

    fn ty_of(&self, v: Value) -> Type {
        let inner = self.inner.borrow();
        match &inner.builder {
            Some(b) => b.ty(v).clone(),
            None => Type::scalar(Elem::F64),
        }
    }

    fn record(&self, op: &str, message: String, location: &'static Location<'static>) {
        self.inner.borrow_mut().errors.push(BuildError {
            op: op.to_string(),
            message,
            location,
        });
    }

    /// Adds a node; on a type error records it and returns `None`s.
    fn push(
        &self,
        op: Op,
        args: &[Value],
        n: usize,
        loc: &'static Location<'static>,
    ) -> Vec<Option<Value>> {
        let mut inner = self.inner.borrow_mut();
        let Inner {
            builder,
            sigs,
            errors,
            ..
        } = &mut *inner;
        let Some(b) = builder.as_mut() else {
            errors.push(BuildError {
                op: op.name().into(),
                message: "the graph was already finished".into(),
                location: loc,
            });
            return vec![None; n];
        };
        match b.push(op, args, sigs) {
            Ok(vals) => vals.into_iter().map(Some).collect(),
            Err(e) => {
                let mut message = e.message;
                if message.starts_with("no function named") {
                    message.push_str(UNKNOWN_FUNCTION_HINT);
                }
                errors.push(BuildError {
                    op: e.op.to_string(),
                    message,
                    location: loc,
                });
                vec![None; n]
            }
        }
    }

    /// The name of the function being built (without `@`).
    pub fn name(&self) -> String {
        self.inner.borrow().name.to_string()
    }

    /// Whether `v` is a value of this graph (and not of another one).
    pub fn owns(&self, v: &Var<'_>) -> bool {
        std::ptr::eq(self, v.g)
    }

    /// Records that operand `index` of `op` belongs to another graph.
    fn record_foreign(&self, op: &str, index: usize, v: &Var<'_>, loc: &'static Location<'static>) {
        let (other, this) = (v.g.name(), self.name());
        let which = if other == this {
            format!("another graph also named @{other}")
        } else {
            format!("graph @{other}")
        };
        self.record(
            op,
            format!(
                "operand {index} is a value of {which}, not of @{this}: a value can only be used \
                 in the graph that made it (pass it in as a parameter, or `call` the other function)"
            ),
            loc,
        );
    }

    /// The IR values of `vars`; `None` if one is poisoned or belongs to
    /// another graph (which is recorded as an error of `op`).
    fn values(
        &self,
        op: &str,
        vars: &[Var<'_>],
        loc: &'static Location<'static>,
    ) -> Option<Vec<Value>> {
        if let Some((i, v)) = vars.iter().enumerate().find(|(_, v)| !self.owns(v)) {
            self.record_foreign(op, i, v, loc);
            return None;
        }
        vars.iter().map(|v| v.v).collect()
    }

    /// `d` as a size: a negative literal is recorded as an error of `op`.
    fn size_arg(
        &self,
        op: &str,
        what: &str,
        d: Dim,
        loc: &'static Location<'static>,
    ) -> Option<Dim> {
        match d.known() {
            Some(k) if k < 0 => {
                self.record(op, format!("{what} {k} is negative"), loc);
                None
            }
            _ => Some(d),
        }
    }

    fn var(&self, v: Option<Value>) -> Var<'_> {
        Var { g: self, v }
    }

    fn push1(&self, op: Op, args: &[Value], loc: &'static Location<'static>) -> Var<'_> {
        let r = self.push(op, args, 1, loc);
        self.var(r.first().copied().flatten())
    }

    /// Adds a parameter. Parameters must come before any other value.
    #[track_caller]
    pub fn param(&self, name: &str, ty: Type) -> Var<'_> {
        let loc = Location::caller();
        let mut inner = self.inner.borrow_mut();
        let ok = inner
            .builder
            .as_ref()
            .is_some_and(|b| b.function().nodes().is_empty());
        if !ok {
            inner.errors.push(BuildError {
                op: "param".into(),
                message: format!("parameter %{name} must be added before any node"),
                location: loc,
            });
            return Var { g: self, v: None };
        }
        let v = inner.builder.as_mut().map(|b| b.param(name, ty));
        Var { g: self, v }
    }

    /// A constant from row-major `f64` data.
    #[track_caller]
    pub fn constant(&self, data: &[f64], shape: impl Into<Shape>) -> Var<'_> {
        self.constant_of(
            Elem::F64,
            data.iter().map(|&x| Scalar::F64(x)).collect(),
            shape.into(),
        )
    }

    /// A constant from row-major `f32` data.
    #[track_caller]
    pub fn constant_f32(&self, data: &[f32], shape: impl Into<Shape>) -> Var<'_> {
        self.constant_of(
            Elem::F32,
            data.iter().map(|&x| Scalar::F32(x)).collect(),
            shape.into(),
        )
    }

    /// A constant from row-major `i64` data (e.g. static gather indices).
    #[track_caller]
    pub fn constant_i64(&self, data: &[i64], shape: impl Into<Shape>) -> Var<'_> {
        self.constant_of(
            Elem::I64,
            data.iter().map(|&x| Scalar::I64(x)).collect(),
            shape.into(),
        )
    }

    #[track_caller]
    fn constant_of(&self, elem: Elem, data: Arc<[Scalar]>, shape: Shape) -> Var<'_> {
        let op = Op::Const {
            ty: Type::new(elem, shape),
            data: ConstData::Dense(data),
        };
        self.push1(op, &[], Location::caller())
    }

    /// A scalar `f64` constant.
    #[track_caller]
    pub fn scalar(&self, x: f64) -> Var<'_> {
        self.full(Scalar::F64(x), Shape::scalar())
    }

    /// A constant with every element equal to `value`.
    #[track_caller]
    pub fn full(&self, value: Scalar, shape: impl Into<Shape>) -> Var<'_> {
        let op = Op::Const {
            ty: Type::new(value.elem(), shape.into()),
            data: ConstData::Splat(value),
        };
        self.push1(op, &[], Location::caller())
    }

    /// Zeros of the given type.
    #[track_caller]
    pub fn zeros(&self, ty: Type) -> Var<'_> {
        self.full(Scalar::from_f64(ty.elem, 0.0), ty.shape)
    }

    /// Element `i` is its index along `axis`.
    #[track_caller]
    pub fn iota(&self, ty: Type, axis: usize) -> Var<'_> {
        self.push1(Op::Iota { ty, axis }, &[], Location::caller())
    }

    /// The value of a dimension (e.g. a size variable) as a scalar of `elem`.
    #[track_caller]
    pub fn size(&self, dim: impl Into<Dim>, elem: Elem) -> Var<'_> {
        let loc = Location::caller();
        let Some(dim) = self.size_arg("size", "dimension", dim.into(), loc) else {
            return self.var(None);
        };
        self.push1(Op::Size { dim, elem }, &[], loc)
    }

    /// `cond ? on_true : on_false`, elementwise, with numpy broadcasting.
    #[track_caller]
    pub fn select<'g>(
        &'g self,
        cond: Var<'g>,
        on_true: impl Into<Operand<'g>>,
        on_false: impl Into<Operand<'g>>,
    ) -> Var<'g> {
        let loc = Location::caller();
        let (t, f) = (on_true.into(), on_false.into());
        let elem = match (t, f) {
            (Operand::Var(v), _) | (_, Operand::Var(v)) => v.elem(),
            _ => Elem::F64,
        };
        let vars: Vec<Operand<'g>> = vec![Operand::Var(cond), t, f];
        let Some(args) = self.broadcast_operands("select", &vars, &[Elem::Bool, elem, elem], loc)
        else {
            return self.var(None);
        };
        self.push1(Op::Select, &args, loc)
    }

    /// Joins values along `axis`.
    #[track_caller]
    pub fn concat<'g>(&'g self, parts: &[Var<'g>], axis: usize) -> Var<'g> {
        let loc = Location::caller();
        let Some(args) = self.values("concat", parts, loc) else {
            return self.var(None);
        };
        self.push1(Op::Concat { axis }, &args, loc)
    }

    /// Joins values of one shape along a new axis `axis` (`0..=rank`): the
    /// result has shape `shape[..axis] ++ [parts.len()] ++ shape[axis..]`.
    /// `stack(&[a, b], 0)` of two scalars is the vector `[a, b]`.
    ///
    /// ```
    /// use adjit_ir::{Graph, Type};
    /// let g = Graph::new("f");
    /// let x = g.param("x", Type::f64(&[]));
    /// let v = g.stack(&[x, x * 2.0, x * 3.0], 0);
    /// assert_eq!(v.ty(), Type::f64(&[3]));
    /// ```
    #[track_caller]
    pub fn stack<'g>(&'g self, parts: &[Var<'g>], axis: usize) -> Var<'g> {
        let loc = Location::caller();
        let Some(args) = self.values("stack", parts, loc) else {
            return self.var(None);
        };
        let Some(&first) = args.first() else {
            self.record("stack", "needs at least one value".into(), loc);
            return self.var(None);
        };
        let shape = self.ty_of(first).shape;
        if axis > shape.rank() {
            self.record(
                "stack",
                format!("axis {axis} out of range for values of shape {shape}"),
                loc,
            );
            return self.var(None);
        }
        let mut dims = shape.0.clone();
        dims.insert(axis, Dim::ONE);
        let mut rows = Vec::with_capacity(args.len());
        for &a in &args {
            let s = self.ty_of(a).shape;
            if s != shape {
                self.record(
                    "stack",
                    format!("values of shapes {shape} and {s}: all must have one shape"),
                    loc,
                );
                return self.var(None);
            }
            let Some(r) = self.push(
                Op::Reshape {
                    shape: Shape(dims.clone()),
                },
                &[a],
                1,
                loc,
            )[0] else {
                return self.var(None);
            };
            rows.push(r);
        }
        self.push1(Op::Concat { axis }, &rows, loc)
    }

    /// A zero tensor whose axis `axis` has `size` entries, with the slices of
    /// `updates` added at (clamped) `indices`: the transpose of `gather`.
    #[track_caller]
    pub fn scatter_add<'g>(
        &'g self,
        updates: Var<'g>,
        indices: Var<'g>,
        axis: usize,
        size: impl Into<Dim>,
    ) -> Var<'g> {
        let loc = Location::caller();
        let Some(args) = self.values("scatter_add", &[updates, indices], loc) else {
            return self.var(None);
        };
        let Some(size) = self.size_arg("scatter_add", "size", size.into(), loc) else {
            return self.var(None);
        };
        self.push1(Op::ScatterAdd { axis, size }, &args, loc)
    }

    /// Calls another function of the module; returns its outputs.
    ///
    /// The graph must see the callee: made by [`Graph::with_module`] from a
    /// module that holds it. On an error (a wrong argument, an unknown
    /// function) the error is recorded and the values returned are poisoned;
    /// there are as many as the callee has outputs, or one if the graph does
    /// not know the callee ([`Graph::call_n`] always returns `N`).
    #[track_caller]
    pub fn call<'g>(&'g self, func: &str, args: &[Var<'g>]) -> Vec<Var<'g>> {
        let n = self.inner.borrow().sigs.get(func).map_or(1, |s| s.1.len());
        self.call_at(Location::caller(), func, args, n)
    }

    /// [`Graph::call`] of a function with `N` outputs, as an array: a
    /// different count is a recorded error (and `N` poisoned values), so
    /// indexing the result never panics.
    ///
    /// ```
    /// use adjit_ir::{Graph, Module, Type};
    /// let g = Graph::new("divmod");
    /// let a = g.param("a", Type::f64(&[]));
    /// let q = (a / 2.0).floor();
    /// let mut m = Module::new();
    /// m.add(g.finish(&[q, a - q * 2.0]).unwrap()).unwrap();
    ///
    /// let g = Graph::with_module("main", &m);
    /// let x = g.param("x", Type::f64(&[]));
    /// let [q, r] = g.call_n("divmod", &[x]);
    /// assert!(g.finish(&[q + r]).is_ok());
    /// ```
    #[track_caller]
    pub fn call_n<'g, const N: usize>(&'g self, func: &str, args: &[Var<'g>]) -> [Var<'g>; N] {
        let loc = Location::caller();
        let known = self.inner.borrow().sigs.get(func).map(|s| s.1.len());
        let mut out = [self.var(None); N];
        match known {
            Some(n) if n != N => {
                self.record("call", format!("@{func} has {n} output(s), not {N}"), loc)
            }
            _ => {
                for (slot, v) in out.iter_mut().zip(self.call_at(loc, func, args, N)) {
                    *slot = v;
                }
            }
        }
        out
    }

    fn call_at<'g>(
        &'g self,
        loc: &'static Location<'static>,
        func: &str,
        args: &[Var<'g>],
        n: usize,
    ) -> Vec<Var<'g>> {
        let Some(args) = self.values("call", args, loc) else {
            return vec![self.var(None); n];
        };
        let func: FuncName = Arc::from(func);
        let r = self.push(Op::Call { func }, &args, n, loc);
        r.into_iter().map(|v| self.var(v)).collect()
    }

    /// A loop of `length` steps over `body(consts..., carry..., x_t...) ->
    /// (carry..., y_t...)`. Returns the final carry followed by the stacked
    /// per-step outputs. See [`Op::Scan`]. Its reverse-mode derivative
    /// keeps every state ([`Checkpoint::All`]); [`Graph::scan_checkpointed`]
    /// chooses another policy.
    #[track_caller]
    pub fn scan<'g>(
        &'g self,
        body: &str,
        length: impl Into<Dim>,
        consts: &[Var<'g>],
        init: &[Var<'g>],
        xs: &[Var<'g>],
        reverse: bool,
    ) -> Vec<Var<'g>> {
        self.scan_at(
            Location::caller(),
            body,
            length.into(),
            [consts, init, xs],
            reverse,
            Checkpoint::All,
        )
    }

    /// [`Graph::scan`] returning an array of its `N` results (the final
    /// carry, then the stacked per-step outputs): a body with another number
    /// of outputs is a recorded error (and `N` poisoned values), so the
    /// results can be destructured without a panic.
    ///
    /// ```
    /// use adjit_ir::{Graph, Module, Type};
    /// let g = Graph::new("step");
    /// let (a, s) = (g.param("a", Type::f64(&[])), g.param("s", Type::f64(&[])));
    /// let mut m = Module::new();
    /// m.add(g.finish(&[s * a, s]).unwrap()).unwrap(); // carry s·a, output s
    ///
    /// let g = Graph::with_module("powers", &m);
    /// let a = g.param("a", Type::f64(&[]));
    /// let [last, all] = g.scan_n("step", 4, &[a], &[g.scalar(1.0)], &[]);
    /// assert_eq!(all.ty(), Type::f64(&[4]));
    /// assert!(g.finish(&[last, all]).is_ok());
    /// ```
    #[track_caller]
    pub fn scan_n<'g, const N: usize>(
        &'g self,
        body: &str,
        length: impl Into<Dim>,
        consts: &[Var<'g>],
        init: &[Var<'g>],
        xs: &[Var<'g>],
    ) -> [Var<'g>; N] {
        let loc = Location::caller();
        let known = self.inner.borrow().sigs.get(body).map(|s| s.1.len());
        let mut out = [self.var(None); N];
        match known {
            Some(n) if n != N => {
                self.record("scan", format!("@{body} has {n} output(s), not {N}"), loc)
            }
            _ => {
                let r = self.scan_at(
                    loc,
                    body,
                    length.into(),
                    [consts, init, xs],
                    false,
                    Checkpoint::All,
                );
                for (slot, v) in out.iter_mut().zip(r) {
                    *slot = v;
                }
            }
        }
        out
    }

    /// [`Graph::scan`] with the checkpointing policy of its reverse-mode
    /// derivative (see [`crate::checkpoint`]).
    #[track_caller]
    #[allow(clippy::too_many_arguments)]
    pub fn scan_checkpointed<'g>(
        &'g self,
        body: &str,
        length: impl Into<Dim>,
        consts: &[Var<'g>],
        init: &[Var<'g>],
        xs: &[Var<'g>],
        reverse: bool,
        checkpoint: Checkpoint,
    ) -> Vec<Var<'g>> {
        self.scan_at(
            Location::caller(),
            body,
            length.into(),
            [consts, init, xs],
            reverse,
            checkpoint,
        )
    }

    fn scan_at<'g>(
        &'g self,
        loc: &'static Location<'static>,
        body: &str,
        length: Dim,
        [consts, init, xs]: [&[Var<'g>]; 3],
        reverse: bool,
        checkpoint: Checkpoint,
    ) -> Vec<Var<'g>> {
        let n_out = self
            .inner
            .borrow()
            .sigs
            .get(body)
            .map_or(init.len(), |s| s.1.len());
        let all: Vec<Var<'g>> = consts.iter().chain(init).chain(xs).copied().collect();
        let Some(args) = self.values("scan", &all, loc) else {
            return vec![self.var(None); n_out];
        };
        let Some(length) = self.size_arg("scan", "length", length, loc) else {
            return vec![self.var(None); n_out];
        };
        let op = Op::Scan {
            body: Arc::from(body),
            length,
            reverse,
            n_consts: consts.len(),
            n_carry: init.len(),
            checkpoint,
        };
        let r = self.push(op, &args, n_out, loc);
        r.into_iter().map(|v| self.var(v)).collect()
    }

    /// A bounded while loop: while `cond(consts..., state...)` and fewer than
    /// `max_trips` steps ran, `state = body(consts..., state...)`. Returns the
    /// final state and the trip count. See [`Op::While`].
    #[track_caller]
    pub fn while_loop<'g>(
        &'g self,
        cond: &str,
        body: &str,
        max_trips: impl Into<Dim>,
        consts: &[Var<'g>],
        init: &[Var<'g>],
    ) -> (Vec<Var<'g>>, Var<'g>) {
        self.while_at(
            Location::caller(),
            [cond, body],
            max_trips.into(),
            [consts, init],
            Checkpoint::All,
        )
    }

    /// [`Graph::while_loop`] with the checkpointing policy of its
    /// reverse-mode derivative (see [`crate::checkpoint`]).
    #[track_caller]
    pub fn while_checkpointed<'g>(
        &'g self,
        cond: &str,
        body: &str,
        max_trips: impl Into<Dim>,
        consts: &[Var<'g>],
        init: &[Var<'g>],
        checkpoint: Checkpoint,
    ) -> (Vec<Var<'g>>, Var<'g>) {
        self.while_at(
            Location::caller(),
            [cond, body],
            max_trips.into(),
            [consts, init],
            checkpoint,
        )
    }

    fn while_at<'g>(
        &'g self,
        loc: &'static Location<'static>,
        [cond, body]: [&str; 2],
        max_trips: Dim,
        [consts, init]: [&[Var<'g>]; 2],
        checkpoint: Checkpoint,
    ) -> (Vec<Var<'g>>, Var<'g>) {
        let all: Vec<Var<'g>> = consts.iter().chain(init).copied().collect();
        let poisoned = || (vec![self.var(None); init.len()], self.var(None));
        let Some(args) = self.values("while", &all, loc) else {
            return poisoned();
        };
        let Some(max_trips) = self.size_arg("while", "max_trips", max_trips, loc) else {
            return poisoned();
        };
        let op = Op::While {
            cond: Arc::from(cond),
            body: Arc::from(body),
            max_trips,
            n_consts: consts.len(),
            checkpoint,
        };
        let mut r: Vec<Var<'g>> = self
            .push(op, &args, init.len() + 1, loc)
            .into_iter()
            .map(|v| self.var(v))
            .collect();
        let trips = r.pop().unwrap_or(self.var(None));
        (r, trips)
    }

    /// Finishes the function with the given outputs, or returns every error
    /// recorded while building it.
    #[track_caller]
    pub fn finish(&self, outputs: &[Var<'_>]) -> Result<Function, BuildErrors> {
        let loc = Location::caller();
        let outs = self.values("return", outputs, loc);
        let mut inner = self.inner.borrow_mut();
        if outs.is_none() && inner.errors.is_empty() {
            inner.errors.push(BuildError {
                op: "return".into(),
                message: "an output is not a valid value".into(),
                location: loc,
            });
        }
        if !inner.errors.is_empty() {
            return Err(BuildErrors(std::mem::take(&mut inner.errors)));
        }
        match (inner.builder.take(), outs) {
            (Some(b), Some(outs)) => Ok(b.finish(&outs)),
            _ => Err(BuildErrors(vec![BuildError {
                op: "return".into(),
                message: "the graph was already finished".into(),
                location: loc,
            }])),
        }
    }

    /// Converts operands to values of a common broadcast shape. `elems` gives
    /// the element type for literals at each position.
    fn broadcast_operands(
        &self,
        op: &str,
        operands: &[Operand<'_>],
        elems: &[Elem],
        loc: &'static Location<'static>,
    ) -> Option<Vec<Value>> {
        for (i, o) in operands.iter().enumerate() {
            if let Operand::Var(v) = o
                && !self.owns(v)
            {
                self.record_foreign(op, i, v, loc);
                return None;
            }
        }
        let mut shapes = Vec::new();
        for o in operands {
            match o {
                Operand::Var(v) => shapes.push(self.ty_of(v.v?).shape),
                Operand::Lit(_) => {}
            }
        }
        let target = match broadcast_shapes(&shapes) {
            Ok(s) => s,
            Err(msg) => {
                self.record(op, msg, loc);
                return None;
            }
        };
        let mut out = Vec::with_capacity(operands.len());
        for (o, &elem) in operands.iter().zip(elems) {
            let v = match *o {
                Operand::Var(var) => self.broadcast_value(var.v?, &target, loc)?,
                Operand::Lit(x) => {
                    let lit = literal(elem, x).map_err(|m| self.record(op, m, loc)).ok()?;
                    let c = Op::Const {
                        ty: Type::new(elem, target.clone()),
                        data: ConstData::Splat(lit),
                    };
                    self.push(c, &[], 1, loc)[0]?
                }
            };
            out.push(v);
        }
        Some(out)
    }

    /// Broadcasts `v` to `target` numpy-style (right-aligned), if needed.
    fn broadcast_value(
        &self,
        v: Value,
        target: &Shape,
        loc: &'static Location<'static>,
    ) -> Option<Value> {
        let shape = self.ty_of(v).shape;
        if &shape == target {
            return Some(v);
        }
        let offset = target.rank() - shape.rank();
        let op = Op::Broadcast {
            shape: target.clone(),
            dims: (offset..target.rank()).collect(),
        };
        self.push(op, &[v], 1, loc)[0]
    }
}

/// Appended to "no function named @f" errors.
const UNKNOWN_FUNCTION_HINT: &str = " in the functions this graph sees: a graph sees the \
     functions of the module it was made with (`Graph::with_module(name, &module)`, made after \
     the callee was added), and `Graph::new` sees none";

/// A literal as `elem`, refusing values the type cannot hold exactly.
fn literal(elem: Elem, x: f64) -> Result<Scalar, String> {
    let s = Scalar::from_f64(elem, x);
    let exact = match elem {
        Elem::F64 | Elem::F32 => true,
        Elem::I64 | Elem::Bool => s.to_f64() == x,
    };
    if exact {
        Ok(s)
    } else {
        Err(format!("literal {x} is not a {elem}"))
    }
}

/// The numpy broadcast of several shapes.
pub fn broadcast_shapes(shapes: &[Shape]) -> Result<Shape, String> {
    let rank = shapes.iter().map(Shape::rank).max().unwrap_or(0);
    let mut dims = vec![Dim::ONE; rank];
    for s in shapes {
        let offset = rank - s.rank();
        for (i, d) in s.dims().iter().enumerate() {
            let slot = &mut dims[offset + i];
            if slot.is(1) {
                *slot = d.clone();
            } else if !d.is(1) && d != slot {
                let list: Vec<String> = shapes.iter().map(ToString::to_string).collect();
                return Err(format!("shapes {} do not broadcast", list.join(", ")));
            }
        }
    }
    Ok(Shape(dims))
}

impl<'g> Var<'g> {
    /// The graph this value belongs to.
    pub fn graph(&self) -> &'g Graph {
        self.g
    }

    /// The IR value, or `None` if an error was recorded for it.
    pub fn value(&self) -> Option<Value> {
        self.v
    }

    /// The value's type (`f64` scalar if an error was recorded for it).
    pub fn ty(&self) -> Type {
        self.v.map_or(Type::scalar(Elem::F64), |v| self.g.ty_of(v))
    }

    /// The element type.
    pub fn elem(&self) -> Elem {
        self.ty().elem
    }

    /// The shape.
    pub fn shape(&self) -> Shape {
        self.ty().shape
    }

    /// Names the value (as printed in the text format: `%name`).
    pub fn named(self, name: &str) -> Var<'g> {
        if let Some(v) = self.v {
            let mut inner = self.g.inner.borrow_mut();
            if let Some(b) = inner.builder.as_mut() {
                b.set_name(v, name);
            }
        }
        self
    }

    #[track_caller]
    fn unary(self, u: UnaryOp) -> Var<'g> {
        let loc = Location::caller();
        match self.v {
            Some(v) => self.g.push1(Op::Unary(u), &[v], loc),
            None => self,
        }
    }

    #[track_caller]
    fn binary(self, op: BinaryOp, other: Operand<'g>) -> Var<'g> {
        let loc = Location::caller();
        self.binary_at(Operand::Var(self), op, other, loc)
    }

    fn binary_at(
        self,
        a: Operand<'g>,
        op: BinaryOp,
        b: Operand<'g>,
        loc: &'static Location<'static>,
    ) -> Var<'g> {
        let elem = self.elem();
        match self
            .g
            .broadcast_operands(op.name(), &[a, b], &[elem, elem], loc)
        {
            Some(args) => self.g.push1(Op::Binary(op), &args, loc),
            None => self.g.var(None),
        }
    }

    #[track_caller]
    fn compare(self, op: CmpOp, other: Operand<'g>) -> Var<'g> {
        let loc = Location::caller();
        let elem = self.elem();
        match self
            .g
            .broadcast_operands(op.name(), &[Operand::Var(self), other], &[elem, elem], loc)
        {
            Some(args) => self.g.push1(Op::Compare(op), &args, loc),
            None => self.g.var(None),
        }
    }

    /// `|x|`.
    #[track_caller]
    pub fn abs(self) -> Var<'g> {
        self.unary(UnaryOp::Abs)
    }
    /// `√x`.
    #[track_caller]
    pub fn sqrt(self) -> Var<'g> {
        self.unary(UnaryOp::Sqrt)
    }
    /// `eˣ`.
    #[track_caller]
    pub fn exp(self) -> Var<'g> {
        self.unary(UnaryOp::Exp)
    }
    /// `ln x`.
    #[track_caller]
    pub fn log(self) -> Var<'g> {
        self.unary(UnaryOp::Log)
    }
    /// `ln(1 + x)`.
    #[track_caller]
    pub fn log1p(self) -> Var<'g> {
        self.unary(UnaryOp::Log1p)
    }
    /// `eˣ − 1`.
    #[track_caller]
    pub fn expm1(self) -> Var<'g> {
        self.unary(UnaryOp::Expm1)
    }
    /// `sin x`.
    #[track_caller]
    pub fn sin(self) -> Var<'g> {
        self.unary(UnaryOp::Sin)
    }
    /// `cos x`.
    #[track_caller]
    pub fn cos(self) -> Var<'g> {
        self.unary(UnaryOp::Cos)
    }
    /// `tan x`.
    #[track_caller]
    pub fn tan(self) -> Var<'g> {
        self.unary(UnaryOp::Tan)
    }
    /// `tanh x`.
    #[track_caller]
    pub fn tanh(self) -> Var<'g> {
        self.unary(UnaryOp::Tanh)
    }
    /// `1 / (1 + e⁻ˣ)`.
    #[track_caller]
    pub fn sigmoid(self) -> Var<'g> {
        self.unary(UnaryOp::Sigmoid)
    }
    /// The error function.
    #[track_caller]
    pub fn erf(self) -> Var<'g> {
        self.unary(UnaryOp::Erf)
    }
    /// `1 / x`.
    #[track_caller]
    pub fn recip(self) -> Var<'g> {
        self.unary(UnaryOp::Recip)
    }
    /// Rounds towards −∞.
    #[track_caller]
    pub fn floor(self) -> Var<'g> {
        self.unary(UnaryOp::Floor)
    }
    /// Rounds towards +∞.
    #[track_caller]
    pub fn ceil(self) -> Var<'g> {
        self.unary(UnaryOp::Ceil)
    }
    /// Rounds half away from zero.
    #[track_caller]
    pub fn round(self) -> Var<'g> {
        self.unary(UnaryOp::Round)
    }
    /// −1, 0 or 1 with the sign of `x` (±0 and NaN map to themselves).
    #[track_caller]
    pub fn sign(self) -> Var<'g> {
        self.unary(UnaryOp::Sign)
    }
    /// `x²` (as `x * x`).
    #[track_caller]
    pub fn square(self) -> Var<'g> {
        self * self
    }
    /// `softplus(x) = log(1 + eˣ)`, computed stably as `max(x, 0) + log1p(e^−|x|)`.
    #[track_caller]
    pub fn softplus(self) -> Var<'g> {
        self.max(0.0) + (-self.abs()).exp().log1p()
    }

    /// `xʸ`.
    #[track_caller]
    pub fn pow(self, y: impl Into<Operand<'g>>) -> Var<'g> {
        self.binary(BinaryOp::Pow, y.into())
    }
    /// Elementwise minimum (NaN-propagating).
    #[track_caller]
    pub fn min(self, y: impl Into<Operand<'g>>) -> Var<'g> {
        self.binary(BinaryOp::Min, y.into())
    }
    /// Elementwise maximum (NaN-propagating).
    #[track_caller]
    pub fn max(self, y: impl Into<Operand<'g>>) -> Var<'g> {
        self.binary(BinaryOp::Max, y.into())
    }
    /// `atan2(self, x)`: the angle of the point `(x, self)`.
    #[track_caller]
    pub fn atan2(self, x: impl Into<Operand<'g>>) -> Var<'g> {
        self.binary(BinaryOp::Atan2, x.into())
    }
    /// Logical (bool) or bitwise (i64) and.
    #[track_caller]
    pub fn and(self, y: impl Into<Operand<'g>>) -> Var<'g> {
        self.binary(BinaryOp::And, y.into())
    }
    /// Logical (bool) or bitwise (i64) or.
    #[track_caller]
    pub fn or(self, y: impl Into<Operand<'g>>) -> Var<'g> {
        self.binary(BinaryOp::Or, y.into())
    }

    /// `x == y`, elementwise.
    #[track_caller]
    pub fn equal(self, y: impl Into<Operand<'g>>) -> Var<'g> {
        self.compare(CmpOp::Eq, y.into())
    }
    /// `x != y`, elementwise.
    #[track_caller]
    pub fn not_equal(self, y: impl Into<Operand<'g>>) -> Var<'g> {
        self.compare(CmpOp::Ne, y.into())
    }
    /// `x < y`, elementwise.
    #[track_caller]
    pub fn lt(self, y: impl Into<Operand<'g>>) -> Var<'g> {
        self.compare(CmpOp::Lt, y.into())
    }
    /// `x <= y`, elementwise.
    #[track_caller]
    pub fn le(self, y: impl Into<Operand<'g>>) -> Var<'g> {
        self.compare(CmpOp::Le, y.into())
    }
    /// `x > y`, elementwise.
    #[track_caller]
    pub fn gt(self, y: impl Into<Operand<'g>>) -> Var<'g> {
        self.compare(CmpOp::Gt, y.into())
    }
    /// `x >= y`, elementwise.
    #[track_caller]
    pub fn ge(self, y: impl Into<Operand<'g>>) -> Var<'g> {
        self.compare(CmpOp::Ge, y.into())
    }

    #[track_caller]
    fn single(self, op: Op) -> Var<'g> {
        let loc = Location::caller();
        match self.v {
            Some(v) => self.g.push1(op, &[v], loc),
            None => self,
        }
    }

    /// Broadcasts numpy-style to `shape`.
    #[track_caller]
    pub fn broadcast_to(self, shape: impl Into<Shape>) -> Var<'g> {
        let loc = Location::caller();
        let shape = shape.into();
        let Some(v) = self.v else { return self };
        let from = self.shape();
        if from.rank() > shape.rank() {
            self.g.record(
                "broadcast",
                format!(
                    "cannot broadcast {} to the lower-rank shape {shape}",
                    self.ty()
                ),
                loc,
            );
            return self.g.var(None);
        }
        self.g.var(self.g.broadcast_value(v, &shape, loc))
    }

    /// The explicit broadcast: operand axis `i` becomes result axis `dims[i]`.
    #[track_caller]
    pub fn broadcast_in_dim(self, shape: impl Into<Shape>, dims: &[usize]) -> Var<'g> {
        self.single(Op::Broadcast {
            shape: shape.into(),
            dims: dims.to_vec(),
        })
    }

    #[track_caller]
    fn reduce(self, op: ReduceOp, axes: &[usize]) -> Var<'g> {
        let mut axes = axes.to_vec();
        axes.sort_unstable();
        self.single(Op::Reduce { op, axes })
    }

    /// Sum over the given axes (removed from the shape).
    #[track_caller]
    pub fn sum(self, axes: &[usize]) -> Var<'g> {
        self.reduce(ReduceOp::Sum, axes)
    }
    /// Sum of all elements.
    #[track_caller]
    pub fn sum_all(self) -> Var<'g> {
        let axes: Vec<usize> = (0..self.ty().rank()).collect();
        self.reduce(ReduceOp::Sum, &axes)
    }
    /// Product over the given axes.
    #[track_caller]
    pub fn reduce_prod(self, axes: &[usize]) -> Var<'g> {
        self.reduce(ReduceOp::Prod, axes)
    }
    /// Maximum over the given axes.
    #[track_caller]
    pub fn reduce_max(self, axes: &[usize]) -> Var<'g> {
        self.reduce(ReduceOp::Max, axes)
    }
    /// Minimum over the given axes.
    #[track_caller]
    pub fn reduce_min(self, axes: &[usize]) -> Var<'g> {
        self.reduce(ReduceOp::Min, axes)
    }
    /// Mean over the given axes.
    #[track_caller]
    pub fn mean(self, axes: &[usize]) -> Var<'g> {
        let loc = Location::caller();
        let ty = self.ty();
        let picked: Vec<Dim> = axes
            .iter()
            .filter_map(|&a| ty.shape.dims().get(a).cloned())
            .collect();
        let count = match Dim::product(&picked) {
            Ok(c) => c,
            Err(e) => {
                self.g.record("mean", e.to_string(), loc);
                return self.g.var(None);
            }
        };
        let total = self.sum(axes);
        let n = match count.known() {
            Some(k) => Operand::Lit(k as f64),
            None => Operand::Var(self.g.size(count, ty.elem)),
        };
        total.binary_at(Operand::Var(total), BinaryOp::Div, n, loc)
    }
    /// Mean of all elements.
    #[track_caller]
    pub fn mean_all(self) -> Var<'g> {
        let axes: Vec<usize> = (0..self.ty().rank()).collect();
        self.mean(&axes)
    }

    /// Same elements, new shape.
    #[track_caller]
    pub fn reshape(self, shape: impl Into<Shape>) -> Var<'g> {
        self.single(Op::Reshape {
            shape: shape.into(),
        })
    }

    /// Permutes axes: result axis `i` is axis `perm[i]`.
    #[track_caller]
    pub fn transpose(self, perm: &[usize]) -> Var<'g> {
        self.single(Op::Transpose {
            perm: perm.to_vec(),
        })
    }

    /// Swaps the last two axes.
    #[track_caller]
    pub fn t(self) -> Var<'g> {
        let r = self.ty().rank();
        let mut perm: Vec<usize> = (0..r).collect();
        if r >= 2 {
            perm.swap(r - 2, r - 1);
        }
        self.transpose(&perm)
    }

    /// A strided box, one `start:stop:step` range per axis.
    #[track_caller]
    pub fn slice(self, ranges: &[SliceRange]) -> Var<'g> {
        self.single(Op::Slice {
            ranges: ranges.to_vec(),
        })
    }

    /// `start..stop` along one axis, everything along the others. Bounds are
    /// integers or [`Dim`]s; a negative one is an error (not counted from the
    /// end).
    ///
    /// ```
    /// use adjit_ir::{Graph, Type};
    /// let g = Graph::new("f");
    /// let x = g.param("x", Type::f64(&[5]));
    /// assert_eq!(x.slice_axis(0, 1, 4).ty(), Type::f64(&[3]));
    /// assert!(x.slice_axis(0, -1, 4).value().is_none()); // recorded: negative
    /// ```
    #[track_caller]
    pub fn slice_axis(self, axis: usize, start: impl Into<Dim>, stop: impl Into<Dim>) -> Var<'g> {
        let loc = Location::caller();
        let ty = self.ty();
        let (start, stop) = (start.into(), stop.into());
        let (Some(start), Some(stop)) = (
            self.g.size_arg("slice", "start", start, loc),
            self.g.size_arg("slice", "stop", stop, loc),
        ) else {
            return self.g.var(None);
        };
        let ranges: Vec<SliceRange> = ty
            .shape
            .dims()
            .iter()
            .enumerate()
            .map(|(i, d)| {
                if i == axis {
                    SliceRange {
                        start: start.clone(),
                        stop: stop.clone(),
                        step: 1,
                    }
                } else {
                    SliceRange {
                        start: Dim::ZERO,
                        stop: d.clone(),
                        step: 1,
                    }
                }
            })
            .collect();
        if axis >= ty.rank() {
            let loc = Location::caller();
            self.g
                .record("slice", format!("axis {axis} out of range for {ty}"), loc);
            return self.g.var(None);
        }
        self.slice(&ranges)
    }

    /// Entry `i` along axis 0 with that axis removed, as numpy's `x[i]`: an
    /// element of a vector is a scalar, a row of a matrix a vector. `i` is
    /// an integer or a [`Dim`]; a negative one is an error.
    ///
    /// ```
    /// use adjit_ir::{Graph, Type};
    /// let g = Graph::new("f");
    /// let s = g.param("s", Type::f64(&[2]));
    /// let (x, y) = (s.at(0), s.at(1));
    /// assert_eq!(x.ty(), Type::f64(&[]));
    /// assert!(g.finish(&[x * y]).is_ok());
    /// ```
    #[track_caller]
    pub fn at(self, i: impl Into<Dim>) -> Var<'g> {
        let loc = Location::caller();
        let i = i.into();
        let ty = self.ty();
        if ty.rank() == 0 {
            self.g
                .record("slice", format!("cannot index the scalar {ty}"), loc);
            return self.g.var(None);
        }
        let stop = match i.checked_add(&Dim::ONE) {
            Ok(d) => d,
            Err(e) => {
                self.g.record("slice", e.to_string(), loc);
                return self.g.var(None);
            }
        };
        let row = self.slice_axis(0, i, stop);
        row.reshape_at(Shape(ty.shape.0[1..].to_vec()), loc)
    }

    /// Pads with `value`: `lo[i]` before and `hi[i]` after along each axis.
    #[track_caller]
    pub fn pad(self, lo: &[usize], hi: &[usize], value: f64) -> Var<'g> {
        let loc = Location::caller();
        let elem = self.elem();
        let value = match literal(elem, value) {
            Ok(v) => v,
            Err(m) => {
                self.g.record("pad", m, loc);
                return self.g.var(None);
            }
        };
        self.single(Op::Pad {
            lo: lo.iter().map(|&d| Dim::from(d)).collect(),
            hi: hi.iter().map(|&d| Dim::from(d)).collect(),
            interior: vec![0; lo.len()],
            value,
        })
    }

    /// Takes entries along `axis` at `indices` (i64, clamped into range).
    #[track_caller]
    pub fn gather(self, indices: Var<'g>, axis: usize) -> Var<'g> {
        let loc = Location::caller();
        match self.g.values("gather", &[self, indices], loc).as_deref() {
            Some(&[x, i]) => self.g.push1(Op::Gather { axis }, &[x, i], loc),
            _ => self.g.var(None),
        }
    }

    /// Matrix product with numpy's rules: rank-1 operands are promoted to a row
    /// (left) or column (right) and the added axis removed; leading batch axes
    /// broadcast.
    #[track_caller]
    pub fn matmul(self, other: Var<'g>) -> Var<'g> {
        let loc = Location::caller();
        if self.g.values("matmul", &[self, other], loc).is_none() {
            return self.g.var(None);
        }
        let (ta, tb) = (self.ty(), other.ty());
        if ta.rank() == 0 || tb.rank() == 0 {
            self.g.record(
                "matmul",
                format!("operands {ta} and {tb} must not be scalars"),
                loc,
            );
            return self.g.var(None);
        }
        let a = if ta.rank() == 1 {
            self.reshape(Shape(vec![Dim::ONE, ta.shape.0[0].clone()]))
        } else {
            self
        };
        let b = if tb.rank() == 1 {
            other.reshape(Shape(vec![tb.shape.0[0].clone(), Dim::ONE]))
        } else {
            other
        };
        let (sa, sb) = (a.shape(), b.shape());
        let (ra, rb) = (sa.rank(), sb.rank());
        let batch = match broadcast_shapes(&[
            Shape(sa.0[..ra - 2].to_vec()),
            Shape(sb.0[..rb - 2].to_vec()),
        ]) {
            Ok(s) => s,
            Err(m) => {
                self.g.record("matmul", m, loc);
                return self.g.var(None);
            }
        };
        let with_batch = |x: Var<'g>, s: &Shape| {
            let mut full = batch.0.clone();
            full.extend_from_slice(&s.0[s.rank() - 2..]);
            let full = Shape(full);
            if &full == s {
                x
            } else {
                x.broadcast_to_at(full, loc)
            }
        };
        let (a, b) = (with_batch(a, &sa), with_batch(b, &sb));
        let (Some(av), Some(bv)) = (a.v, b.v) else {
            return self.g.var(None);
        };
        let mut out = self.g.push1(Op::Matmul, &[av, bv], loc);
        if out.v.is_some() && (ta.rank() == 1 || tb.rank() == 1) {
            let mut dims = out.shape().0;
            if tb.rank() == 1 {
                dims.pop();
            }
            if ta.rank() == 1 {
                // The promoted row axis `m` sits just before `n` (or last, if `n` went).
                let m_axis = dims.len() - if tb.rank() == 1 { 1 } else { 2 };
                dims.remove(m_axis);
            }
            out = out.reshape_at(Shape(dims), loc);
        }
        out
    }

    fn broadcast_to_at(self, shape: Shape, loc: &'static Location<'static>) -> Var<'g> {
        match self.v {
            Some(v) => self.g.var(self.g.broadcast_value(v, &shape, loc)),
            None => self,
        }
    }

    fn reshape_at(self, shape: Shape, loc: &'static Location<'static>) -> Var<'g> {
        match self.v {
            Some(v) => self.g.push1(Op::Reshape { shape }, &[v], loc),
            None => self,
        }
    }

    /// Converts elements to another type.
    #[track_caller]
    pub fn convert(self, elem: Elem) -> Var<'g> {
        self.single(Op::Convert { elem })
    }
}

macro_rules! binary_operator {
    ($trait:ident, $method:ident, $op:expr) => {
        impl<'g, R: Into<Operand<'g>>> std::ops::$trait<R> for Var<'g> {
            type Output = Var<'g>;
            #[track_caller]
            fn $method(self, rhs: R) -> Var<'g> {
                self.binary($op, rhs.into())
            }
        }
        impl<'g, R: Into<Operand<'g>>> std::ops::$trait<R> for &Var<'g> {
            type Output = Var<'g>;
            #[track_caller]
            fn $method(self, rhs: R) -> Var<'g> {
                (*self).binary($op, rhs.into())
            }
        }
        impl<'g> std::ops::$trait<Var<'g>> for f64 {
            type Output = Var<'g>;
            #[track_caller]
            fn $method(self, rhs: Var<'g>) -> Var<'g> {
                rhs.binary_at(
                    Operand::Lit(self),
                    $op,
                    Operand::Var(rhs),
                    Location::caller(),
                )
            }
        }
        impl<'g> std::ops::$trait<&Var<'g>> for f64 {
            type Output = Var<'g>;
            #[track_caller]
            fn $method(self, rhs: &Var<'g>) -> Var<'g> {
                rhs.binary_at(
                    Operand::Lit(self),
                    $op,
                    Operand::Var(*rhs),
                    Location::caller(),
                )
            }
        }
    };
}

binary_operator!(Add, add, BinaryOp::Add);
binary_operator!(Sub, sub, BinaryOp::Sub);
binary_operator!(Mul, mul, BinaryOp::Mul);
binary_operator!(Div, div, BinaryOp::Div);

impl<'g> std::ops::Neg for Var<'g> {
    type Output = Var<'g>;
    #[track_caller]
    fn neg(self) -> Var<'g> {
        self.unary(UnaryOp::Neg)
    }
}

impl<'g> std::ops::Neg for &Var<'g> {
    type Output = Var<'g>;
    #[track_caller]
    fn neg(self) -> Var<'g> {
        (*self).unary(UnaryOp::Neg)
    }
}

impl<'g> std::ops::Not for Var<'g> {
    type Output = Var<'g>;
    /// Logical (bool) or bitwise (i64) not.
    #[track_caller]
    fn not(self) -> Var<'g> {
        self.unary(UnaryOp::Not)
    }
}
