//! The derivative flags shared by `print`, `eval`, `dot` and friends:
//! `--grad | --jvp | --vjp | --hvp`, `--wrt a,b`, `--no-opt`.

use crate::error::CliError;
use adjit::ir::{Function, Module};
use clap::Args;

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

    /// The function and the functions the transform generated for it (not in
    /// `original`), in module order: what `print --grad` shows.
    pub fn own_functions(&self, original: &Module) -> Module {
        let mut out = Module::new();
        for f in self.module.functions() {
            if f.name() == self.name || !original.contains(f.name()) {
                out.insert_or_replace(f.clone());
            }
        }
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
    let (module, name) =
        transform(module, f.name(), &wrt).map_err(|e| CliError::Program(format!("error: {e}")))?;
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

/// Parameter indices from names; every float parameter when none are given.
fn wrt_indices(f: &Function, names: &[String]) -> Result<Vec<usize>, CliError> {
    let params: Vec<&str> = f.params().iter().map(|&p| f.value_name(p)).collect();
    if names.is_empty() {
        let floats: Vec<usize> = f
            .params()
            .iter()
            .enumerate()
            .filter(|(_, p)| f.ty(**p).elem.is_float())
            .map(|(i, _)| i)
            .collect();
        if floats.is_empty() {
            return Err(CliError::Input(format!(
                "@{} has no float parameter to differentiate",
                f.name()
            )));
        }
        return Ok(floats);
    }
    names
        .iter()
        .map(|n| {
            let n = n.trim().trim_start_matches('%');
            params.iter().position(|p| *p == n).ok_or_else(|| {
                CliError::Input(format!(
                    "--wrt {n}: @{} has no parameter %{n} (its parameters: {})",
                    f.name(),
                    params
                        .iter()
                        .map(|p| format!("%{p}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ))
            })
        })
        .collect()
}

/// Display labels for the outputs of a derived function: the gradient of
/// `f` with respect to `x` is `df/dx`; other outputs keep their value names.
pub fn labels(primal: &Function, d: &Derived) -> Vec<String> {
    let f = d.function();
    let mut labels: Vec<String> = f
        .outputs()
        .iter()
        .map(|&o| f.value_name(o).to_string())
        .collect();
    if d.kind == Kind::Grad {
        let n_primal = primal.outputs().len();
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
