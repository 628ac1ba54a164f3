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
//! The copy is made lazily: while no rule has changed anything, the new
//! function is the old one (every value bound to itself) and nothing is
//! built. The first [`Rewriter::emit`] or binding to a different value
//! builds the unchanged prefix (the same `push` and naming calls the eager
//! copy would have made, so the result is identical), and from then on
//! every node is copied as it comes. A pass that fires no rule therefore
//! costs its rule checks only, without a copy of the function.
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
    /// The copy, once something changed; `None` while the new function is
    /// still the old one.
    built: Option<Built>,
    /// While `built` is `None`: how many old nodes were copied unchanged.
    copied: usize,
}

/// The new function under construction.
struct Built {
    b: FunctionBuilder,
    /// Old value index → the new value bound to it.
    map: Vec<Option<Value>>,
    /// New value index → whether it carries a name taken from an old value.
    named: Vec<bool>,
}

impl<'a> Rewriter<'a> {
    /// Starts a copy of `old` with the same parameters (same names and types).
    pub(crate) fn new(pass: Pass, module: &'a Module, old: &'a Function) -> Rewriter<'a> {
        Rewriter {
            pass,
            module,
            old,
            built: None,
            copied: 0,
        }
    }

    /// Builds the unchanged prefix: the parameters and the first `copied`
    /// nodes, each bound to its copy.
    fn materialise(&mut self) -> Result<&mut Built, OptError> {
        if self.built.is_none() {
            let old = self.old;
            let mut b = FunctionBuilder::new(old.name());
            let mut map = vec![None; old.value_count()];
            let mut named = Vec::with_capacity(old.value_count());
            for &p in old.params() {
                let v = b.param(old.value_name(p), old.ty(p).clone());
                map[p.index()] = Some(v);
                named.push(true);
            }
            self.built = Some(Built { b, map, named });
            for node in &old.nodes()[..self.copied] {
                let args: Vec<Value> = node.args.iter().map(|&a| self.get(a)).collect();
                let results = self.emit(node.op.clone(), &args)?;
                self.bind_all(node, &results)?;
            }
        }
        Ok(self.built.as_mut().expect("built above"))
    }

    /// The function being rewritten.
    pub(crate) fn old(&self) -> &'a Function {
        self.old
    }

    /// A type of the new function.
    pub(crate) fn ty(&self, v: Value) -> &Type {
        match &self.built {
            Some(built) => built.b.ty(v),
            None => self.old.ty(v),
        }
    }

    /// The defining op and operands of a new value, if it is a node result.
    pub(crate) fn def(&self, v: Value) -> Option<(&Op, &[Value])> {
        let f = match &self.built {
            Some(built) => built.b.function(),
            None => self.old,
        };
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
        match &self.built {
            Some(built) => built.map[old.index()].expect("operands are bound before their users"),
            None => old,
        }
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
        let module = self.module;
        let built = self.materialise()?;
        let pushed = built.b.push(op, args, module);
        built.named.resize(built.b.function().value_count(), false);
        pushed.map_err(|e| self.broken(format!("made an ill-typed `{name}`: {e}")))
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
        self.materialise()?;
        if self.old.ty(old) != self.ty(new) {
            return Err(self.broken(format!(
                "replaced %{} of type {} by a value of type {}",
                self.old.value_name(old),
                self.old.ty(old),
                self.ty(new)
            )));
        }
        let built = self.built.as_mut().expect("materialised above");
        if built.map[old.index()].is_some() {
            return Err(self.broken(format!("bound %{} twice", self.old.value_name(old))));
        }
        built.map[old.index()] = Some(new);
        if !built.named[new.index()] {
            built.b.set_name(new, self.old.value_name(old));
            built.named[new.index()] = true;
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
        if self.built.is_none()
            && self
                .old
                .nodes()
                .get(self.copied)
                .is_some_and(|next| std::ptr::eq(next, node))
            && args == node.args.as_slice()
        {
            // Still unchanged: the copy is the old node itself.
            self.copied += 1;
            return Ok(node.results.clone());
        }
        let results = self.emit(node.op.clone(), args)?;
        self.bind_all(node, &results)?;
        Ok(results)
    }

    /// Finishes the new function with the old outputs, translated; `None`
    /// if nothing changed (the new function is the old one: every node was
    /// copied unchanged).
    pub(crate) fn finish(mut self) -> Result<Option<Function>, OptError> {
        if self.built.is_none() && self.copied == self.old.nodes().len() {
            return Ok(None);
        }
        self.materialise()?;
        let built = self.built.expect("materialised above");
        let outputs: Vec<Value> = self
            .old
            .outputs()
            .iter()
            .map(|&o| built.map[o.index()].expect("outputs are bound"))
            .collect();
        Ok(Some(built.b.finish(&outputs)))
    }
}
