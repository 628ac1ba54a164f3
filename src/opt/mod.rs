//! IR optimisation: constant folding, exact algebraic simplification, common
//! subexpression elimination and dead code elimination, and the pipeline that
//! runs them to a fixed point.
//!
//! Every pass maps a [`Function`] to a new [`Function`] rebuilt with
//! [`adjit_ir::FunctionBuilder`] (so the result is type-checked node by node
//! and numbered in definition order), keeping the names of the values that
//! survive. Passes never change a function's signature (parameters and output
//! types), so functions can be optimised one at a time against the signatures
//! of the original module.
//!
//! ```
//! use adjit::ir::{Graph, Module, Type};
//! use adjit::opt::{Options, optimize_with};
//!
//! let g = Graph::new("f");
//! let x = g.param("x", Type::f64(&[3]));
//! let y = (-(-x) * 1.0 + -0.0).exp(); // what AD tends to write
//! let mut module = Module::new();
//! module.add(g.finish(&[y]).unwrap()).unwrap();
//!
//! let out = optimize_with(&module, "f", &Options::default()).unwrap();
//! let f = out.module.get("f").unwrap();
//! assert_eq!(f.nodes().len(), 1); // just `exp`
//! assert_eq!(out.stats.totals(), (7, 1));
//! println!("{}", out.stats); // nodes before/after, per pass
//! ```
//!
//! Invariants (what is deliberately absent):
//! - **Exact rewrites only** by default: every rewrite gives bitwise the same
//!   results as the interpreter on the unoptimised function, for every input
//!   including ±0, ±∞ and NaN (NaN results may differ in payload and sign).
//!   Rewrites that are exact only up to rounding are opt-in
//!   ([`Options::reassociate`]). Each rule in [`simplify`] states why it is exact.
//! - A function that evaluates without error gives the same results after
//!   optimisation. One that fails at run time (a symbolic slice bound out of
//!   range) may fail in fewer places: removed or folded nodes no longer check.
//! - No pass grows a function except the opt-in reassociating rules: each
//!   default rule replaces a node by an existing value, by one node, or by two
//!   when it frees an operand that has no other use.
//! - Custom derivative rules attached to functions (`Module::attach_vjp`)
//!   stay attached in the optimised module, and removing unused functions
//!   keeps the rule functions of the functions kept: optimising before
//!   differentiating does not lose a rule.
//! - Running out of rounds is a reported stop reason ([`Stop::RoundLimit`]),
//!   not an error: the result is still a correct, verified function.
//! - The verifier runs after every pass in debug builds (and whenever
//!   [`Options::verify_each_pass`] is set); the input is always verified first.

pub mod cse;
pub mod dce;
pub mod fold;
mod rewrite;
pub mod simplify;

use adjit_ir::{Function, Module, VerifyErrors, verify_function, verify_module};
use std::collections::{BTreeMap, HashSet};
use std::fmt;

/// One of the passes.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
pub enum Pass {
    /// Constant folding ([`fold`]).
    Fold,
    /// Algebraic simplification ([`simplify`]).
    Simplify,
    /// Common subexpression elimination ([`cse`]).
    Cse,
    /// Dead code elimination ([`dce`]).
    Dce,
}

impl Pass {
    /// The passes of one round, in the order they run.
    pub const PIPELINE: [Pass; 4] = [Pass::Fold, Pass::Simplify, Pass::Cse, Pass::Dce];

    /// A short lower-case name (`fold`, `simplify`, `cse`, `dce`).
    pub fn name(self) -> &'static str {
        match self {
            Pass::Fold => "fold",
            Pass::Simplify => "simplify",
            Pass::Cse => "cse",
            Pass::Dce => "dce",
        }
    }
}

impl fmt::Display for Pass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.name())
    }
}

/// Why optimisation failed.
#[derive(Debug, thiserror::Error)]
pub enum OptError {
    /// No function of that name in the module. The caller's fault.
    #[error("no function named @{0}")]
    UnknownFunction(String),
    /// The module does not verify, so it cannot be optimised. The caller's fault.
    #[error("the module to optimise does not verify:\n{0}")]
    InvalidInput(VerifyErrors),
    /// A pass produced an ill-typed node or a function that does not verify.
    /// A bug in the pass, never the input's fault.
    #[error("pass `{pass}` broke @{func}: {message}")]
    Broken {
        /// The pass at fault.
        pass: Pass,
        /// The function being optimised.
        func: String,
        /// What went wrong.
        message: String,
    },
}

/// Settings of the pipeline. [`Options::default`] is exact-only.
#[derive(Clone, Debug)]
pub struct Options {
    /// The most rounds (each round runs every pass once) per function.
    pub max_rounds: usize,
    /// Allow rewrites that are exact in real arithmetic but not bit for bit
    /// in floating point: they may round differently or change the sign of a
    /// zero (`reduce_sum(broadcast x)` over `k` copies → `k · x`; a float
    /// `reduce_sum` over axes of size 1 → a reshape, although `+0 + (−0)` is
    /// `+0`). Off by default.
    pub reassociate: bool,
    /// Fold a node with constant operands only if its result has at most this
    /// many elements (splat results of any shape always fold).
    pub fold_limit: usize,
    /// Fold only if every constant operand has at most this many elements
    /// (the interpreter materialises them).
    pub fold_operand_limit: usize,
    /// Remove the functions not reachable from the optimised ones (for
    /// [`optimize_with`]: from the entry point).
    pub remove_unused_functions: bool,
    /// Run the verifier after every pass even in release builds (it always
    /// runs in debug builds).
    pub verify_each_pass: bool,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            max_rounds: 16,
            reassociate: false,
            fold_limit: 1024,
            fold_operand_limit: 1 << 16,
            remove_unused_functions: false,
            verify_each_pass: false,
        }
    }
}

/// What one pass did to one function in one round.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PassStats {
    /// The pass.
    pub pass: Pass,
    /// The round (from 1).
    pub round: usize,
    /// Nodes before the pass.
    pub nodes_before: usize,
    /// Nodes after the pass.
    pub nodes_after: usize,
    /// Wall-clock time the pass took (verification in debug builds included).
    pub time: std::time::Duration,
}

/// Why the pipeline stopped on a function.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stop {
    /// A whole round changed nothing.
    FixedPoint,
    /// [`Options::max_rounds`] rounds ran and the last still changed something.
    RoundLimit,
}

/// What the pipeline did to one function.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FunctionStats {
    /// The function's name.
    pub function: String,
    /// Nodes before optimisation.
    pub nodes_before: usize,
    /// Nodes after optimisation.
    pub nodes_after: usize,
    /// Rounds run (the last one changes nothing if the stop is a fixed point).
    pub rounds: usize,
    /// Why it stopped.
    pub stop: Stop,
    /// Every pass run, in order.
    pub passes: Vec<PassStats>,
    /// How often each rule fired (`"mul.one"`, `"cse"`, `"dce"`, …), summed
    /// over rounds.
    pub rules: BTreeMap<&'static str, usize>,
}

impl FunctionStats {
    /// Nodes removed by each pass, summed over rounds (negative if it added).
    pub fn removed_by_pass(&self) -> BTreeMap<Pass, i64> {
        let mut out = BTreeMap::new();
        for p in &self.passes {
            let delta = p.nodes_before as i64 - p.nodes_after as i64;
            *out.entry(p.pass).or_insert(0) += delta;
        }
        out
    }
}

/// What the pipeline did to a module.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// One entry per optimised function, in module order.
    pub functions: Vec<FunctionStats>,
    /// Functions removed as unreachable.
    pub removed_functions: Vec<String>,
}

impl Stats {
    /// Total nodes before and after, over the optimised functions.
    pub fn totals(&self) -> (usize, usize) {
        self.functions
            .iter()
            .fold((0, 0), |(b, a), f| (b + f.nodes_before, a + f.nodes_after))
    }
}

impl fmt::Display for Stats {
    /// A size report: one line per function, then one per pass.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for s in &self.functions {
            let stop = match s.stop {
                Stop::FixedPoint => "fixed point",
                Stop::RoundLimit => "round limit",
            };
            writeln!(
                f,
                "@{}: {} -> {} nodes ({} round(s), {stop})",
                s.function, s.nodes_before, s.nodes_after, s.rounds
            )?;
            for (pass, removed) in s.removed_by_pass() {
                if removed >= 0 {
                    writeln!(f, "  {pass:<9} removed {removed}")?;
                } else {
                    writeln!(f, "  {pass:<9} added {}", -removed)?;
                }
            }
        }
        for r in &self.removed_functions {
            writeln!(f, "@{r}: removed (unreachable)")?;
        }
        Ok(())
    }
}

/// A pass's result: the new function and how often each rule fired.
#[derive(Clone, Debug)]
pub struct Rewritten {
    /// The rewritten function (the input itself when nothing fired).
    pub function: Function,
    /// Rule name → times it fired.
    pub rules: BTreeMap<&'static str, usize>,
}

/// A pass's result as the pipeline uses it: the new function only if the
/// pass changed it (no copy of an unchanged function).
pub(crate) struct Outcome {
    /// The rewritten function, or `None` when no rule fired.
    pub(crate) function: Option<Function>,
    /// Rule name → times it fired.
    pub(crate) rules: BTreeMap<&'static str, usize>,
}

impl Outcome {
    /// No rule fired.
    pub(crate) fn unchanged() -> Outcome {
        Outcome {
            function: None,
            rules: BTreeMap::new(),
        }
    }

    /// The outcome of a pass that fired `rules` and built `function`: a pass
    /// that fired no rule leaves the function as it was.
    pub(crate) fn new(function: Option<Function>, rules: BTreeMap<&'static str, usize>) -> Outcome {
        if rules.is_empty() {
            return Outcome::unchanged();
        }
        Outcome { function, rules }
    }

    /// As a [`Rewritten`], `f` being the pass's input.
    pub(crate) fn into_rewritten(self, f: &Function) -> Rewritten {
        Rewritten {
            function: self.function.unwrap_or_else(|| f.clone()),
            rules: self.rules,
        }
    }
}

impl Rewritten {
    /// Whether any rule fired.
    pub fn changed(&self) -> bool {
        self.rules.values().any(|&n| n > 0)
    }
}

/// The optimised module and what was done to it.
#[derive(Clone, Debug)]
pub struct Optimized {
    /// The optimised module.
    pub module: Module,
    /// Statistics.
    pub stats: Stats,
}

/// Runs one pass over `@f` of `module`.
pub fn run_pass(
    pass: Pass,
    module: &Module,
    f: &Function,
    options: &Options,
) -> Result<Rewritten, OptError> {
    run(pass, module, f, options).map(|o| o.into_rewritten(f))
}

/// Runs one pass, without copying `f` if nothing changes.
fn run(pass: Pass, module: &Module, f: &Function, options: &Options) -> Result<Outcome, OptError> {
    match pass {
        Pass::Fold => fold::run(module, f, options),
        Pass::Simplify => simplify::run(module, f, options),
        Pass::Cse => cse::run(module, f),
        Pass::Dce => dce::run(module, f),
    }
}

/// Optimises `@func` and every function it reaches, with the default
/// (exact-only) options. Other functions are left as they are.
pub fn optimize(module: &Module, func: &str) -> Result<Module, OptError> {
    optimize_with(module, func, &Options::default()).map(|o| o.module)
}

/// Optimises every function of the module with the default options.
pub fn optimize_module(module: &Module) -> Result<Module, OptError> {
    optimize_module_with(module, &Options::default()).map(|o| o.module)
}

/// Optimises `@func` and every function it reaches.
pub fn optimize_with(
    module: &Module,
    func: &str,
    options: &Options,
) -> Result<Optimized, OptError> {
    if !module.contains(func) {
        return Err(OptError::UnknownFunction(func.to_string()));
    }
    let targets = dce::reachable(module, &[func]);
    run_functions(module, &targets, &[func], options)
}

/// Optimises every function of the module. With
/// [`Options::remove_unused_functions`], functions not reachable from the
/// last one (the entry point by convention) are removed.
pub fn optimize_module_with(module: &Module, options: &Options) -> Result<Optimized, OptError> {
    let targets: HashSet<String> = module
        .functions()
        .iter()
        .map(|f| f.name().to_string())
        .collect();
    let entry: Vec<&str> = module.last().map(|f| f.name()).into_iter().collect();
    run_functions(module, &targets, &entry, options)
}

fn run_functions(
    module: &Module,
    targets: &HashSet<String>,
    roots: &[&str],
    options: &Options,
) -> Result<Optimized, OptError> {
    verify_module(module).map_err(OptError::InvalidInput)?;
    let mut out = Module::new();
    let mut stats = Stats::default();
    for f in module.functions() {
        if targets.contains(f.name()) {
            let (g, s) = optimize_function(module, f, options)?;
            stats.functions.push(s);
            out.insert_or_replace(g);
        } else {
            out.insert_or_replace(f.clone());
        }
    }
    dce::keep_rules(module, &mut out);
    if options.remove_unused_functions {
        let (pruned, removed) = dce::remove_unused_functions(&out, roots);
        out = pruned;
        stats.removed_functions = removed;
    }
    if cfg!(debug_assertions) || options.verify_each_pass {
        verify_module(&out).map_err(|e| OptError::Broken {
            pass: Pass::Dce,
            func: roots.first().map_or_else(String::new, |r| r.to_string()),
            message: e.to_string(),
        })?;
    }
    Ok(Optimized { module: out, stats })
}

/// Runs the pipeline on one function of `module` until a round changes
/// nothing or [`Options::max_rounds`] rounds have run.
pub fn optimize_function(
    module: &Module,
    f: &Function,
    options: &Options,
) -> Result<(Function, FunctionStats), OptError> {
    let mut stats = FunctionStats {
        function: f.name().to_string(),
        nodes_before: f.nodes().len(),
        nodes_after: f.nodes().len(),
        rounds: 0,
        stop: Stop::RoundLimit,
        passes: Vec::new(),
        rules: BTreeMap::new(),
    };
    let mut current = f.clone();
    for round in 1..=options.max_rounds {
        stats.rounds = round;
        let mut changed = false;
        for pass in Pass::PIPELINE {
            let before = current.nodes().len();
            let start = std::time::Instant::now();
            let r = run(pass, module, &current, options)?;
            if let Some(function) = r.function {
                check(pass, module, &function, options)?;
                changed |=
                    function.nodes() != current.nodes() || function.outputs() != current.outputs();
                current = function;
            }
            for (rule, n) in r.rules {
                *stats.rules.entry(rule).or_insert(0) += n;
            }
            stats.passes.push(PassStats {
                pass,
                round,
                nodes_before: before,
                nodes_after: current.nodes().len(),
                time: start.elapsed(),
            });
        }
        if !changed {
            stats.stop = Stop::FixedPoint;
            break;
        }
    }
    stats.nodes_after = current.nodes().len();
    Ok((current, stats))
}

/// Verifies a pass's output in debug builds or when asked to.
fn check(pass: Pass, module: &Module, f: &Function, options: &Options) -> Result<(), OptError> {
    if cfg!(debug_assertions) || options.verify_each_pass {
        verify_function(module, f).map_err(|e| OptError::Broken {
            pass,
            func: f.name().to_string(),
            message: e.to_string(),
        })?;
    }
    Ok(())
}

/// Adds one to a rule's count.
pub(crate) fn count(rules: &mut BTreeMap<&'static str, usize>, rule: &'static str) {
    *rules.entry(rule).or_insert(0) += 1;
}
