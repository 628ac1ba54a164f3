//! Functions and modules: SSA graphs over [`Value`] entities.
//!
//! Invariants of a [`Function`] (the verifier checks every one; see
//! [`crate::verify`]):
//! - Values are numbered in definition order: first the parameters, then the
//!   results of each node in node order. Hence a node's operands are defined
//!   before it, the forward sweep is a loop over `nodes` and the reverse sweep
//!   the same loop backwards.
//! - Every value has a name, unique within its function, that the text format
//!   prints as `%name`.
//! - Result types are stored with the values; for a verified function they
//!   equal what [`crate::typing::infer`] computes from the operand types.
//!
//! A [`Module`] may attach [`CustomRules`] to a function: derivative rules
//! written as other functions of the module. Attachments name functions the
//! module has; a module built function by function (`Module::add`) starts
//! with none.

use crate::dim::SizeVar;
use crate::op::{FuncName, Op};
use crate::types::Type;
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::Arc;

/// A value of a function: a parameter or a node result. Index into the
/// function's value table.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Value(pub u32);

impl Value {
    /// The index into the value table.
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

impl fmt::Debug for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "v{}", self.0)
    }
}

/// A node of a function. Index into the function's node list.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId(pub u32);

impl NodeId {
    /// The index into the node list.
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

impl fmt::Debug for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "n{}", self.0)
    }
}

/// Where a value comes from.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum ValueDef {
    /// The `i`-th parameter.
    Param(u32),
    /// Result `i` of a node.
    Result(NodeId, u32),
}

/// What a function knows about each value.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct ValueData {
    /// The value's type.
    pub ty: Type,
    /// Its name (without `%`), unique in the function.
    pub name: Arc<str>,
    /// Where it is defined.
    pub def: ValueDef,
}

/// One operation applied to operands, defining result values.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct Node {
    /// The operation and its attributes.
    pub op: Op,
    /// The operands, in the order the op documents.
    pub args: Vec<Value>,
    /// The values this node defines.
    pub results: Vec<Value>,
}

/// A function: typed parameters, nodes in definition order, outputs.
///
/// Built with [`crate::builder::FunctionBuilder`] or parsed from text.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Function {
    pub(crate) name: Arc<str>,
    pub(crate) params: Vec<Value>,
    pub(crate) values: Vec<ValueData>,
    pub(crate) nodes: Vec<Node>,
    pub(crate) outputs: Vec<Value>,
}

impl Function {
    /// The function's name (without `@`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The name as a shared string (for `call` ops).
    pub fn name_arc(&self) -> &FuncName {
        &self.name
    }

    /// Renames the function.
    pub fn set_name(&mut self, name: &str) {
        self.name = Arc::from(name);
    }

    /// The parameters, in order.
    pub fn params(&self) -> &[Value] {
        &self.params
    }

    /// The nodes, in definition order.
    pub fn nodes(&self) -> &[Node] {
        &self.nodes
    }

    /// One node.
    pub fn node(&self, n: NodeId) -> &Node {
        &self.nodes[n.index()]
    }

    /// The outputs, in order.
    pub fn outputs(&self) -> &[Value] {
        &self.outputs
    }

    /// Every value, in definition order.
    pub fn values(&self) -> impl ExactSizeIterator<Item = Value> + '_ {
        (0..self.values.len() as u32).map(Value)
    }

    /// The number of values.
    pub fn value_count(&self) -> usize {
        self.values.len()
    }

    /// What is known about a value.
    pub fn value(&self, v: Value) -> &ValueData {
        &self.values[v.index()]
    }

    /// A value's type.
    pub fn ty(&self, v: Value) -> &Type {
        &self.values[v.index()].ty
    }

    /// A value's name (without `%`).
    pub fn value_name(&self, v: Value) -> &str {
        &self.values[v.index()].name
    }

    /// Where a value is defined.
    pub fn def(&self, v: Value) -> ValueDef {
        self.values[v.index()].def
    }

    /// The node defining `v`, if it is not a parameter.
    pub fn defining_node(&self, v: Value) -> Option<NodeId> {
        match self.def(v) {
            ValueDef::Param(_) => None,
            ValueDef::Result(n, _) => Some(n),
        }
    }

    /// The parameter types, in order.
    pub fn param_types(&self) -> Vec<Type> {
        self.params.iter().map(|&v| self.ty(v).clone()).collect()
    }

    /// The output types, in order.
    pub fn output_types(&self) -> Vec<Type> {
        self.outputs.iter().map(|&v| self.ty(v).clone()).collect()
    }

    /// Looks a value up by name.
    pub fn value_by_name(&self, name: &str) -> Option<Value> {
        self.values().find(|&v| self.value_name(v) == name)
    }

    /// The size variables bound by the parameters: those that appear as a
    /// whole dimension (`f64[n]`) of some parameter, in order of appearance.
    pub fn size_vars(&self) -> Vec<SizeVar> {
        let mut out: Vec<SizeVar> = Vec::new();
        for &p in &self.params {
            for d in self.ty(p).shape.dims() {
                if let Some(v) = d.as_var()
                    && !out.contains(v)
                {
                    out.push(v.clone());
                }
            }
        }
        out
    }

    /// How many uses each value has (as an operand or an output).
    pub fn use_counts(&self) -> Vec<u32> {
        let mut counts = vec![0u32; self.values.len()];
        for node in &self.nodes {
            for a in &node.args {
                counts[a.index()] += 1;
            }
        }
        for o in &self.outputs {
            counts[o.index()] += 1;
        }
        counts
    }
}

/// A set of named functions that may call each other (without recursion),
/// with the custom derivative rules attached to some of them.
#[derive(Clone, Default, Debug)]
pub struct Module {
    functions: Vec<Function>,
    by_name: HashMap<Arc<str>, usize>,
    rules: BTreeMap<Arc<str>, CustomRules>,
}

impl PartialEq for Module {
    fn eq(&self, other: &Module) -> bool {
        self.functions == other.functions && self.rules == other.rules
    }
}

/// Custom derivative rules of a function: functions of the same module
/// that automatic differentiation calls instead of differentiating the
/// function's body. With `F` the function's float parameters and `G` its
/// float outputs (each in order):
/// - the JVP rule takes `(x..., ẋ per F)` and returns `(y..., ẏ per G)`,
///   the signature `ad::jvp` gives with respect to every float parameter;
/// - the VJP rule takes `(x..., ȳ per G)` and returns `(y..., x̄ per F)`,
///   the signature `ad::vjp` gives with respect to every float parameter.
///
/// The verifier checks both signatures ([`crate::verify`]). A rule must be
/// linear in its tangents (cotangents) when it is the only one attached:
/// the other mode is then obtained by transposing it.
#[derive(Clone, Default, PartialEq, Eq, Hash, Debug)]
pub struct CustomRules {
    /// The JVP rule, if any.
    pub jvp: Option<FuncName>,
    /// The VJP rule, if any.
    pub vjp: Option<FuncName>,
}

/// An attachment names a function the module does not have.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("module has no function named @{0}")]
pub struct NoSuchFunction(pub String);
impl Eq for Module {}

/// A function of that name already exists in the module.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("module already has a function named @{0}")]
pub struct DuplicateFunction(pub String);

impl Module {
    /// An empty module.
    pub fn new() -> Module {
        Module::default()
    }

    /// Adds a function; its name must be new.
    pub fn add(&mut self, f: Function) -> Result<(), DuplicateFunction> {
        if self.by_name.contains_key(&f.name) {
            return Err(DuplicateFunction(f.name.to_string()));
        }
        self.by_name.insert(f.name.clone(), self.functions.len());
        self.functions.push(f);
        Ok(())
    }

    /// Adds a function, replacing one of the same name (keeping its position).
    pub fn insert_or_replace(&mut self, f: Function) {
        match self.by_name.get(&f.name) {
            Some(&i) => self.functions[i] = f,
            None => {
                self.by_name.insert(f.name.clone(), self.functions.len());
                self.functions.push(f);
            }
        }
    }

    /// Looks a function up by name.
    pub fn get(&self, name: &str) -> Option<&Function> {
        self.by_name.get(name).map(|&i| &self.functions[i])
    }

    /// The functions, in the order they were added (text order).
    pub fn functions(&self) -> &[Function] {
        &self.functions
    }

    /// Whether a function of that name exists.
    pub fn contains(&self, name: &str) -> bool {
        self.by_name.contains_key(name)
    }

    /// A name not used by any function, starting from `base`.
    pub fn fresh_name(&self, base: &str) -> String {
        if !self.contains(base) {
            return base.to_string();
        }
        (1..)
            .map(|i| format!("{base}_{i}"))
            .find(|n| !self.contains(n))
            .expect("infinitely many candidates")
    }

    /// The last function: by convention the entry point of a text file.
    pub fn last(&self) -> Option<&Function> {
        self.functions.last()
    }

    /// Attaches `rule` as the JVP rule of `func` (replacing any), in one
    /// line: `module.attach_jvp("lse", "lse_jvp")?`. Both must be functions
    /// of the module; the rule's signature is checked by the verifier (see
    /// [`CustomRules`]).
    pub fn attach_jvp(&mut self, func: &str, rule: &str) -> Result<(), NoSuchFunction> {
        let rule = self.name_of(rule)?;
        self.rules_entry(func)?.jvp = Some(rule);
        Ok(())
    }

    /// Attaches `rule` as the VJP rule of `func` (replacing any); as
    /// [`Module::attach_jvp`].
    pub fn attach_vjp(&mut self, func: &str, rule: &str) -> Result<(), NoSuchFunction> {
        let rule = self.name_of(rule)?;
        self.rules_entry(func)?.vjp = Some(rule);
        Ok(())
    }

    /// Sets (or, with both rules `None`, removes) the rules of `func`.
    pub fn set_rules(&mut self, func: &str, rules: CustomRules) -> Result<(), NoSuchFunction> {
        for r in rules.jvp.iter().chain(&rules.vjp) {
            self.name_of(r)?;
        }
        let name = self.name_of(func)?;
        if rules == CustomRules::default() {
            self.rules.remove(&name);
        } else {
            self.rules.insert(name, rules);
        }
        Ok(())
    }

    /// The custom rules attached to `func`, if any.
    pub fn rules(&self, func: &str) -> Option<&CustomRules> {
        self.rules.get(func)
    }

    /// Every attachment, by function name in alphabetical order.
    pub fn all_rules(&self) -> impl Iterator<Item = (&str, &CustomRules)> + '_ {
        self.rules.iter().map(|(name, r)| (&**name, r))
    }

    fn name_of(&self, func: &str) -> Result<Arc<str>, NoSuchFunction> {
        self.by_name
            .get_key_value(func)
            .map(|(name, _)| name.clone())
            .ok_or_else(|| NoSuchFunction(func.to_string()))
    }

    fn rules_entry(&mut self, func: &str) -> Result<&mut CustomRules, NoSuchFunction> {
        let name = self.name_of(func)?;
        Ok(self.rules.entry(name).or_default())
    }
}
