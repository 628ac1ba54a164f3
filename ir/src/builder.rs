//! The low-level function builder, shared by the parser, the passes and the
//! high-level [`crate::graph`] API.
//!
//! [`FunctionBuilder::push`] type-checks each node with [`crate::typing::infer`]
//! as it is added, so a function built only through `push` is well-typed by
//! construction. [`FunctionBuilder::push_declared`] stores declared result types
//! without checking (the parser uses it so that the verifier can report every
//! error of a file at once).
//!
//! Invariants kept: values are numbered in definition order (parameters must
//! all be added before the first node), and value names are unique.

use crate::function::{Function, Node, NodeId, Value, ValueData, ValueDef};
use crate::op::Op;
use crate::types::Type;
use crate::typing::{Signatures, TypeError, infer};
use std::collections::HashMap;
use std::sync::Arc;

/// Builds one [`Function`] node by node.
pub struct FunctionBuilder {
    f: Function,
    names: Names,
}

/// Allocates unique value names.
#[derive(Default)]
struct Names {
    used: HashMap<Arc<str>, u32>,
}

impl Names {
    /// `base` if free, else `base_1`, `base_2`, ….
    fn fresh(&mut self, base: &str) -> Arc<str> {
        if !self.used.contains_key(base) {
            let name: Arc<str> = Arc::from(base);
            self.used.insert(name.clone(), 0);
            return name;
        }
        let mut k = self.used[base];
        loop {
            k += 1;
            let candidate = format!("{base}_{k}");
            if !self.used.contains_key(candidate.as_str()) {
                *self.used.get_mut(base).expect("present") = k;
                let name: Arc<str> = Arc::from(candidate);
                self.used.insert(name.clone(), 0);
                return name;
            }
        }
    }
}

impl FunctionBuilder {
    /// A builder for a function named `name` (without `@`).
    pub fn new(name: &str) -> FunctionBuilder {
        FunctionBuilder {
            f: Function {
                name: Arc::from(name),
                params: Vec::new(),
                values: Vec::new(),
                nodes: Vec::new(),
                outputs: Vec::new(),
            },
            names: Names::default(),
        }
    }

    /// The function being built (read-only view).
    pub fn function(&self) -> &Function {
        &self.f
    }

    /// Adds a parameter. Must come before the first node.
    ///
    /// # Panics
    /// If a node was already added (a broken caller invariant, not bad input).
    pub fn param(&mut self, name: &str, ty: Type) -> Value {
        assert!(self.f.nodes.is_empty(), "parameters must precede nodes");
        let v = Value(self.f.values.len() as u32);
        let index = self.f.params.len() as u32;
        let name = self.names.fresh(name);
        self.f.values.push(ValueData {
            ty,
            name,
            def: ValueDef::Param(index),
        });
        self.f.params.push(v);
        v
    }

    /// Adds a node after checking its type rule; returns its results.
    pub fn push(
        &mut self,
        op: Op,
        args: &[Value],
        sigs: &dyn Signatures,
    ) -> Result<Vec<Value>, TypeError> {
        let types = {
            let arg_types: Vec<&Type> = args.iter().map(|&a| self.f.ty(a)).collect();
            infer(&op, &arg_types, sigs)?
        };
        Ok(self.push_declared(op, args, types))
    }

    /// Adds a node with the given result types, unchecked. The verifier checks
    /// them later.
    pub fn push_declared(&mut self, op: Op, args: &[Value], types: Vec<Type>) -> Vec<Value> {
        let node = NodeId(self.f.nodes.len() as u32);
        let results: Vec<Value> = types
            .into_iter()
            .enumerate()
            .map(|(i, ty)| {
                let v = Value(self.f.values.len() as u32);
                let name = self.names.fresh(&format!("v{}", v.0));
                self.f.values.push(ValueData {
                    ty,
                    name,
                    def: ValueDef::Result(node, i as u32),
                });
                v
            })
            .collect();
        self.f.nodes.push(Node {
            op,
            args: args.to_vec(),
            results: results.clone(),
        });
        results
    }

    /// Adds a single-result node after checking its type rule.
    pub fn push1(
        &mut self,
        op: Op,
        args: &[Value],
        sigs: &dyn Signatures,
    ) -> Result<Value, TypeError> {
        let name = op.name();
        let results = self.push(op, args, sigs)?;
        match results.as_slice() {
            [v] => Ok(*v),
            _ => Err(TypeError {
                op: name,
                message: format!("has {} results where one was expected", results.len()),
            }),
        }
    }

    /// Renames a value; the name is made unique (a suffix is added if taken).
    /// The old name becomes free again. Returns the name given.
    pub fn set_name(&mut self, v: Value, name: &str) -> Arc<str> {
        let current = self.f.values[v.index()].name.clone();
        if &*current == name {
            return current;
        }
        self.names.used.remove(&current);
        let fresh = self.names.fresh(name);
        self.f.values[v.index()].name = fresh.clone();
        fresh
    }

    /// A value's type.
    pub fn ty(&self, v: Value) -> &Type {
        self.f.ty(v)
    }

    /// Finishes the function with the given outputs.
    pub fn finish(mut self, outputs: &[Value]) -> Function {
        self.f.outputs = outputs.to_vec();
        self.f
    }
}
