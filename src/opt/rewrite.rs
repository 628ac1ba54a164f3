//! Rebuilding a function node by node: the machinery every pass shares.
//!
//! A [`Rewriter`] walks the nodes of an old function in definition order and
//! builds a new function with [`FunctionBuilder`], so the new function is
//! type-checked node by node and numbered in definition order by construction.
//! Each old value is *bound* to the new value that replaces it; the operands of
//! later nodes are translated through that map. Rules look at the new function
//! (already rewritten operands), so chains such as `neg(neg(neg x))` collapse in
//! one sweep.
//!
//! Invariants:
//! - An old value is bound exactly once, before any node that uses it is
//!   processed (true because old operands precede their users).
//! - A binding never changes a type: binding an old value to a new value of
//!   another type is reported as a bug in the pass.
//! - Names survive: a new value takes the name of the first old value bound to
//!   it, unless it already has one. Values made up by a rule get fresh names
//!   (`v<index>`); if such a name is later wanted by a surviving value, the
//!   builder makes that one unique with a suffix.

use super::{OptError, Pass};
use adjit_ir::{Function, FunctionBuilder, Module, Node, Op, Type, Value};

/// Builds the rewritten copy of one function.
pub(crate) struct Rewriter<'a> {
    pass: Pass,
    /// Callee signatures for type-checking `call`, `scan` and `while`.
    module: &'a Module,
    /// The function being rewritten.
    old: &'a Function,
    b: FunctionBuilder,
    /// Old value index → the new value bound to it.
    map: Vec<Option<Value>>,
    /// New value index → whether it carries a name taken from an old value.
    named: Vec<bool>,
}

impl<'a> Rewriter<'a> {
    /// Starts a copy of `old` with the same parameters (same names and types).
    pub(crate) fn new(pass: Pass, module: &'a Module, old: &'a Function) -> Rewriter<'a> {
        let mut b = FunctionBuilder::new(old.name());
        let mut map = vec![None; old.value_count()];
        let mut named = Vec::with_capacity(old.value_count());
        for &p in old.params() {
            let v = b.param(old.value_name(p), old.ty(p).clone());
            map[p.index()] = Some(v);
            named.push(true);
        }
        Rewriter {
            pass,
            module,
            old,
            b,
            map,
            named,
        }
    }

    /// The function being rewritten.
    pub(crate) fn old(&self) -> &'a Function {
        self.old
    }

    /// A type of the new function.
    pub(crate) fn ty(&self, v: Value) -> &Type {
        self.b.ty(v)
    }

    /// The defining op and operands of a new value, if it is a node result.
    pub(crate) fn def(&self, v: Value) -> Option<(&Op, &[Value])> {
        let f = self.b.function();
        f.defining_node(v).map(|n| {
            let node = f.node(n);
            (&node.op, node.args.as_slice())
        })
    }

    /// The new value an old value is bound to.
    ///
    /// # Panics
    /// If the old value is not bound yet: old operands are processed before
    /// their users, so this is a broken invariant of the pass.
    pub(crate) fn get(&self, old: Value) -> Value {
        self.map[old.index()].expect("operands are bound before their users")
    }

    /// The new operands of an old node.
    pub(crate) fn args(&self, node: &Node) -> Vec<Value> {
        node.args.iter().map(|&a| self.get(a)).collect()
    }

    fn broken(&self, message: String) -> OptError {
        OptError::Broken {
            pass: self.pass,
            func: self.old.name().to_string(),
            message,
        }
    }

    /// Adds a node to the new function, type-checked.
    pub(crate) fn emit(&mut self, op: Op, args: &[Value]) -> Result<Vec<Value>, OptError> {
        let name = op.name();
        let results = self
            .b
            .push(op, args, self.module)
            .map_err(|e| self.broken(format!("made an ill-typed `{name}`: {e}")))?;
        self.named.resize(self.b.function().value_count(), false);
        Ok(results)
    }

    /// Adds a single-result node to the new function, type-checked.
    pub(crate) fn emit1(&mut self, op: Op, args: &[Value]) -> Result<Value, OptError> {
        let name = op.name();
        match self.emit(op, args)?.as_slice() {
            [v] => Ok(*v),
            other => Err(self.broken(format!(
                "`{name}` has {} results where one was expected",
                other.len()
            ))),
        }
    }

    /// Binds an old value to the new value that replaces it.
    pub(crate) fn bind(&mut self, old: Value, new: Value) -> Result<(), OptError> {
        if self.old.ty(old) != self.b.ty(new) {
            return Err(self.broken(format!(
                "replaced %{} of type {} by a value of type {}",
                self.old.value_name(old),
                self.old.ty(old),
                self.b.ty(new)
            )));
        }
        if self.map[old.index()].is_some() {
            return Err(self.broken(format!("bound %{} twice", self.old.value_name(old))));
        }
        self.map[old.index()] = Some(new);
        if !self.named[new.index()] {
            self.b.set_name(new, self.old.value_name(old));
            self.named[new.index()] = true;
        }
        Ok(())
    }

    /// Binds every result of an old node to the given replacements.
    pub(crate) fn bind_all(&mut self, node: &Node, new: &[Value]) -> Result<(), OptError> {
        if node.results.len() != new.len() {
            return Err(self.broken(format!(
                "replaced the {} result(s) of `{}` by {} value(s)",
                node.results.len(),
                node.op.name(),
                new.len()
            )));
        }
        for (&o, &n) in node.results.iter().zip(new) {
            self.bind(o, n)?;
        }
        Ok(())
    }

    /// Copies an old node unchanged (its operands translated) and binds its results.
    pub(crate) fn copy(&mut self, node: &Node, args: &[Value]) -> Result<Vec<Value>, OptError> {
        let results = self.emit(node.op.clone(), args)?;
        self.bind_all(node, &results)?;
        Ok(results)
    }

    /// Finishes the new function with the old outputs, translated.
    pub(crate) fn finish(self) -> Function {
        let outputs: Vec<Value> = self.old.outputs().iter().map(|&o| self.get(o)).collect();
        self.b.finish(&outputs)
    }
}
