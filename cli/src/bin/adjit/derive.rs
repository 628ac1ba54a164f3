//! The derivative flags shared by `print`, `eval`, `dot` and friends:
//! `--grad | --jvp | --vjp | --hvp`, `--wrt a,b`, `--no-opt`.

use crate::error::CliError;
use adjit::ir::{Function, Module};
use adjit_capi::prepare::PrepError;
use clap::Args;
use std::collections::HashSet;

/// Which derivative program to take, and of which parameters.
#[derive(Args, Clone, Debug, Default)]
pub struct DeriveArgs {
    /// The gradient program: x -> (f(x), grad f(x)) (the last output must be a scalar).
    #[arg(long, group = "derivative")]
    pub grad: bool,
    /// The forward-mode tangent program: (x, x_dot) -> (y, y_dot).
    #[arg(long, group = "derivative")]
    pub jvp: bool,
    /// The reverse-mode adjoint program: (x, y_bar) -> (y, x_bar).
    #[arg(long, group = "derivative")]
    pub vjp: bool,
    /// The Hessian-vector product program: (x, v) -> H(x) v.
    #[arg(long, group = "derivative")]
    pub hvp: bool,
    /// Differentiate with respect to these parameters (default: every float parameter).
    #[arg(long, value_name = "NAMES", value_delimiter = ',')]
    pub wrt: Vec<String>,
    /// Print or run the derivative program as AD produced it, without optimisation.
    #[arg(long)]
    pub no_opt: bool,
}

/// The kind of derivative requested.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Kind {
    /// No derivative: the function itself.
    Primal,
    /// `grad`.
    Grad,
    /// `jvp`.
    Jvp,
    /// `vjp`.
    Vjp,
    /// `hvp`.
    Hvp,
}

impl DeriveArgs {
    /// The requested kind.
    pub fn kind(&self) -> Kind {
        match (self.grad, self.jvp, self.vjp, self.hvp) {
            (true, ..) => Kind::Grad,
            (_, true, ..) => Kind::Jvp,
            (_, _, true, _) => Kind::Vjp,
            (.., true) => Kind::Hvp,
            _ => Kind::Primal,
        }
    }
}

/// The program to print or run: the function itself or a derivative, in a
/// module that holds it and its callees.
pub struct Derived {
    /// The module.
    pub module: Module,
    /// The function's name in it.
    pub name: String,
    /// The kind of derivative.
    pub kind: Kind,
    /// The indices of the parameters differentiated.
    pub wrt: Vec<usize>,
}

impl Derived {
    /// The function.
    pub fn function(&self) -> &Function {
        self.module
            .get(&self.name)
            .expect("the transform's own function")
    }

    /// The function and every function it reaches through calls and loops
    /// (generated or not), in module order with the function itself last:
    /// what `print --grad` shows, a module that parses and verifies on its
    /// own and whose last function is the derivative.
    pub fn reachable(&self) -> Module {
        let mut seen: HashSet<&str> = HashSet::new();
        let mut todo = vec![self.name.as_str()];
        seen.insert(self.name.as_str());
        while let Some(name) = todo.pop() {
            let Some(f) = self.module.get(name) else {
                continue;
            };
            for node in f.nodes() {
                for c in node.op.callees() {
                    if seen.insert(c) {
                        todo.push(c);
                    }
                }
            }
        }
        let mut out = Module::new();
        for f in self.module.functions() {
            if f.name() != self.name && seen.contains(f.name()) {
                out.insert_or_replace(f.clone());
            }
        }
        out.insert_or_replace(self.function().clone());
        out
    }
}

/// Applies the requested transform (and, unless `--no-opt`, the optimiser).
pub fn derive(module: &Module, f: &Function, args: &DeriveArgs) -> Result<Derived, CliError> {
    let kind = args.kind();
    if kind == Kind::Primal {
        if !args.wrt.is_empty() {
            return Err(CliError::Input(
                "--wrt needs one of --grad, --jvp, --vjp, --hvp".into(),
            ));
        }
        return Ok(Derived {
            module: module.clone(),
            name: f.name().to_string(),
            kind,
            wrt: Vec::new(),
        });
    }
    let wrt = wrt_indices(f, &args.wrt)?;
    let transform = match kind {
        Kind::Grad => adjit::ad::grad,
        Kind::Jvp => adjit::ad::jvp,
        Kind::Vjp => adjit::ad::vjp,
        Kind::Hvp => adjit::ad::hvp,
        Kind::Primal => unreachable!("handled above"),
    };
    let (module, name) = transform(module, f.name(), &wrt).map_err(|e| match e {
        // The request does not suit the function: exit 2.
        adjit::ad::AdError::UnknownFunction(_)
        | adjit::ad::AdError::BadParam { .. }
        | adjit::ad::AdError::BadOutput { .. }
        | adjit::ad::AdError::BadSize { .. } => CliError::Input(e.to_string()),
        _ => CliError::Program(format!("error: {e}")),
    })?;
    let (module, name) = if args.no_opt {
        (module, name)
    } else {
        optimise(module, name)?
    };
    Ok(Derived {
        module,
        name,
        kind,
        wrt,
    })
}

/// The optimiser on a derivative program (what `derive` does unless
/// `--no-opt`).
pub fn optimise(module: Module, name: String) -> Result<(Module, String), CliError> {
    let module = adjit::opt::optimize(&module, &name)
        .map_err(|e| CliError::Program(format!("error: {e}")))?;
    Ok((module, name))
}

/// Parameter indices from names; every float parameter when none are given
/// (the rule the C API follows too, so it is written once, there).
fn wrt_indices(f: &Function, names: &[String]) -> Result<Vec<usize>, CliError> {
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    adjit_capi::prepare::wrt_indices(f, &names).map_err(|e| match e {
        PrepError::NotFound(m) => CliError::Input(format!("--wrt: {m}")),
        PrepError::Parse(m) | PrepError::Derive(m) | PrepError::Size(m) => CliError::Input(m),
    })
}

/// Display labels for the outputs of a derived function: the outputs of
/// the primal keep the primal's names (a transform or the optimiser may
/// rename values), the gradient of `f` with respect to `x` is `df/dx`, and
/// other outputs keep their value names.
pub fn labels(primal: &Function, d: &Derived) -> Vec<String> {
    let f = d.function();
    let mut labels: Vec<String> = f
        .outputs()
        .iter()
        .map(|&o| f.value_name(o).to_string())
        .collect();
    let n_primal = primal.outputs().len();
    if matches!(d.kind, Kind::Grad | Kind::Jvp | Kind::Vjp) {
        for (slot, &o) in labels.iter_mut().zip(primal.outputs()) {
            *slot = primal.value_name(o).to_string();
        }
    }
    if d.kind == Kind::Grad {
        let last = primal
            .outputs()
            .last()
            .map_or("f", |&o| primal.value_name(o))
            .to_string();
        for (slot, &p) in labels.iter_mut().skip(n_primal).zip(&d.wrt) {
            *slot = format!("d{last}/d{}", primal.value_name(primal.params()[p]));
        }
    }
    labels
}
