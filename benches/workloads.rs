//! Every benchmark workload of the project, with every baseline, in one run.
//!
//! One criterion group per workload and size; each group has the same fixed
//! set of rows ([`Row`]), of which it benchmarks those its workload supports:
//!
//! | row | what one iteration computes |
//! |---|---|
//! | `hand primal` | the hand-written value (`adjit_workloads`) |
//! | `hand` | the hand-written value and derivative |
//! | `tape` | value and derivative on adjit's tape (`adjit_workloads::taped`) |
//! | `tape per option` | `bs` only: one small tape and sweep per option |
//! | `easy-ml`, `reverse` | the same on the external tape crates, where they express the workload |
//! | `interp primal` | the bundled program (`examples/programs`) in the interpreter |
//! | `interp` | the derivative program (AD) in the interpreter |
//! | `fd interp` | the gradient by central differences over the interpreter primal |
//! | `fd hand` | `hvp` only: central differences of the hand-written gradient |
//! | `jit primal`, `jit`, `fd jit` | the same three on compiled code (`adjit::jit`), called through `call_into` with a reused workspace |
//! | `jit raw` | `seed2` only: the compiled gradient through the raw `extern "C"` entry (the floor of the calling convention) |
//!
//! "Derivative" is the workload's: a gradient, except `bs` (price, delta and
//! vega) and `hvp` (a Hessian-vector product). Inputs come from the
//! workloads' deterministic generators; data are inputs, never constants.
//! Before anything is timed, every row's result is checked against the
//! hand-written one, so the timings compare like with like.
//!
//! Derivative programs are built as the command-line tool builds them: the
//! transform of `adjit::ad`, then `adjit::opt::optimize`, then (for the JIT
//! rows) `adjit::jit::compile_for` at the inputs' sizes. A row whose program
//! cannot be built or compiled is skipped with a message on stderr; the rest
//! of the group still runs.
//!
//! `ADJIT_BENCH_QUICK=1` selects short warm-up and measurement times and
//! smaller sizes (a CI-sized run); it changes nothing but the harness
//! settings and the sizes, which are part of every group's name.

use std::hint::black_box;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use adjit::ir::interp::Interpreter;
use adjit::ir::{Data, Dim, Elem, Graph, Module, Tensor, Type, verify_module};
use adjit::jit::{ArgMut, ArgRef, CompiledFn};
use adjit_workloads::taped::{self, SpringGrads};
use adjit_workloads::{bs, gmm, logreg, mlp, rosen, seeds, spring};
use criterion::measurement::WallTime;
use criterion::{
    BenchmarkGroup, BenchmarkId, Criterion, SamplingMode, criterion_group, criterion_main,
};

#[path = "../tests/common/mod.rs"]
mod common;

// ------------------------------------------------------------------ setup

/// Whether `ADJIT_BENCH_QUICK` asks for a CI-sized run.
fn quick() -> bool {
    std::env::var("ADJIT_BENCH_QUICK").is_ok_and(|v| !v.is_empty() && v != "0")
}

/// The sizes of one run.
struct Sizes {
    rosen: [usize; 2],
    logreg: (usize, usize),
    gmm_points: usize,
    mlp: mlp::Shape,
    bs: usize,
    hvp: usize,
    /// Graph sizes of the compile-time group.
    graphs: &'static [usize],
    /// The largest graph the compile-time group compiles (compiling takes
    /// about 1 ms per node, and criterion takes at least ten samples).
    compiled_graphs: usize,
}

impl Sizes {
    fn new(quick: bool) -> Sizes {
        if quick {
            Sizes {
                rosen: [1000, 10_000],
                logreg: (1000, 100),
                gmm_points: 100,
                mlp: mlp::Shape {
                    batch: 8,
                    ..mlp::MNIST
                },
                bs: 1000,
                hvp: 1000,
                graphs: &[100, 1000, 10_000],
                compiled_graphs: 1000,
            }
        } else {
            Sizes {
                rosen: [1000, 100_000],
                logreg: (10_000, 100),
                gmm_points: 1000,
                mlp: mlp::MNIST,
                bs: 10_000,
                hvp: 1000,
                graphs: &[100, 1000, 10_000, 100_000],
                compiled_graphs: 10_000,
            }
        }
    }
}

/// The rows of every group, in table order (see the module documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Row {
    HandPrimal,
    Hand,
    Tape,
    TapePerOption,
    EasyMl,
    Reverse,
    InterpPrimal,
    Interp,
    FdInterp,
    FdHand,
    JitPrimal,
    Jit,
    JitRaw,
    FdJit,
}

impl Row {
    fn name(self) -> &'static str {
        match self {
            Row::HandPrimal => "hand primal",
            Row::Hand => "hand",
            Row::Tape => "tape",
            Row::TapePerOption => "tape per option",
            Row::EasyMl => "easy-ml",
            Row::Reverse => "reverse",
            Row::InterpPrimal => "interp primal",
            Row::Interp => "interp",
            Row::FdInterp => "fd interp",
            Row::FdHand => "fd hand",
            Row::JitPrimal => "jit primal",
            Row::Jit => "jit",
            Row::JitRaw => "jit raw",
            Row::FdJit => "fd jit",
        }
    }
}

/// What `scripts/bench_report.py` needs to report exactly one run: when it
/// started, whether it was quick, and its groups (criterion's directory also
/// holds the results of earlier runs).
struct RunRecord {
    path: PathBuf,
    started: f64,
    quick: bool,
    groups: Vec<String>,
}

static RUN: Mutex<Option<RunRecord>> = Mutex::new(None);

impl RunRecord {
    /// Criterion's output directory, found as criterion finds it.
    fn directory() -> PathBuf {
        if let Some(home) = std::env::var_os("CRITERION_HOME") {
            PathBuf::from(home)
        } else if let Some(target) = std::env::var_os("CARGO_TARGET_DIR") {
            PathBuf::from(target).join("criterion")
        } else {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/criterion")
        }
    }

    fn start() {
        let started = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64());
        let record = RunRecord {
            path: RunRecord::directory().join("adjit-run.json"),
            started,
            quick: quick(),
            groups: Vec::new(),
        };
        record.write();
        *RUN.lock().unwrap_or_else(|e| e.into_inner()) = Some(record);
    }

    fn add_group(name: &str) {
        let mut run = RUN.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(record) = run.as_mut() {
            record.groups.push(name.to_string());
            record.write();
        }
    }

    /// Writes the record as JSON; a failure only costs the report its
    /// filter, so it is reported and ignored.
    fn write(&self) {
        let groups: Vec<String> = self
            .groups
            .iter()
            .map(|g| format!("\"{}\"", g.replace('\\', "\\\\").replace('"', "\\\"")))
            .collect();
        let json = format!(
            "{{\"started\": {}, \"quick\": {}, \"groups\": [{}]}}\n",
            self.started,
            self.quick,
            groups.join(", ")
        );
        let written = std::fs::create_dir_all(RunRecord::directory())
            .and_then(|()| std::fs::write(&self.path, json));
        if let Err(e) = written {
            eprintln!("cannot write {}: {e}", self.path.display());
        }
    }
}

/// A criterion group with the harness settings of the run.
struct Group<'c> {
    group: BenchmarkGroup<'c, WallTime>,
    /// The group's name, for messages.
    name: String,
    /// The run's sample count, for rows of ordinary length.
    samples: usize,
    /// The run's measurement time per row.
    measurement: Duration,
}

impl<'c> Group<'c> {
    fn new(c: &'c mut Criterion, name: &str) -> Group<'c> {
        let (_, measurement) = times();
        RunRecord::add_group(name);
        Group {
            group: c.benchmark_group(name),
            name: name.to_string(),
            samples: if quick() { 10 } else { 100 },
            measurement,
        }
    }

    /// Benchmarks `f` as `row`. One untimed call first sizes the sampling:
    /// when criterion's linear sampling (1 + 2 + … + samples calls) would not
    /// fit the measurement time, the row gets flat sampling, one call per
    /// sample, as many samples as fit (at least ten) and the time they need.
    fn row<R>(&mut self, row: Row, mut f: impl FnMut() -> R) {
        let start = Instant::now();
        black_box(f());
        let once = start.elapsed();
        let linear_calls = self.samples * (self.samples + 1) / 2;
        if once.as_secs_f64() * linear_calls as f64 <= self.measurement.as_secs_f64() {
            self.group.sample_size(self.samples);
            self.group.sampling_mode(SamplingMode::Auto);
            self.group.measurement_time(self.measurement);
        } else {
            let fit = self.measurement.as_secs_f64() / once.as_secs_f64().max(1e-9);
            let samples = (fit as usize).clamp(10, self.samples);
            self.group.sample_size(samples);
            self.group.sampling_mode(SamplingMode::Flat);
            let needed = once.mul_f64(1.2 * samples as f64);
            self.group.measurement_time(self.measurement.max(needed));
        }
        self.group.bench_function(row.name(), |b| b.iter(&mut f));
    }

    /// Says why a row is missing from this group.
    fn skip(&self, row: Row, why: &dyn std::fmt::Display) {
        eprintln!("{}: no `{}` row: {why}", self.name, row.name());
    }

    fn finish(self) {
        self.group.finish();
    }
}

// ---------------------------------------------------------------- checks

/// Panics unless `got` is within `tol` of `want`, relative to the largest
/// magnitude in `want` (a normwise check: the rows compute the same
/// derivative in different orders, or by differencing).
fn check(what: &str, got: &[f64], want: &[f64], tol: f64) {
    assert_eq!(got.len(), want.len(), "{what}: lengths");
    let scale = want.iter().fold(1e-300f64, |m, w| m.max(w.abs()));
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(
            (g - w).abs() <= tol * scale,
            "{what}[{i}]: {g} vs hand-written {w} (scale {scale:e})"
        );
    }
}

/// Tolerance for AD rows against the hand-written derivative.
const AD_TOL: f64 = 1e-9;
/// Tolerance for central differences (truncation ~h², rounding ~ε/h).
const FD_TOL: f64 = 1e-5;

// ------------------------------------------------- interpreter and FD rows

/// A bundled program, its interpreter and its inputs.
struct Program {
    module: Module,
    entry: String,
    args: Vec<Tensor>,
}

impl Program {
    fn new(name: &str, args: Vec<Tensor>) -> Program {
        let (module, entry) = common::program(name);
        Program {
            module,
            entry,
            args,
        }
    }

    fn interp(&self) -> Interpreter<'_> {
        Interpreter::new(&self.module)
    }

    /// A derivative program of the entry function: `transform` (from
    /// `adjit::ad`) with respect to the parameters `wrt`, then the optimiser,
    /// as the command-line tool does by default.
    fn derive(&self, transform: Transform, wrt: &[usize]) -> Result<(Module, String), String> {
        let (module, name) =
            transform(&self.module, &self.entry, wrt).map_err(|e| e.to_string())?;
        let module = adjit::opt::optimize(&module, &name).map_err(|e| e.to_string())?;
        Ok((module, name))
    }
}

/// The most arguments or outputs a [`Jitted`] call passes (the largest
/// workload signature is `bs`'s forward-mode program, with seven inputs).
const MAX_ARGS: usize = 8;

/// A compiled function with its arguments bound, called through
/// `call_into` with a reused workspace and output buffers: a call allocates
/// nothing, like the hand-written rows.
struct Jitted {
    f: CompiledFn,
    ws: adjit::jit::Workspace,
    /// The arguments, flat; the `fd jit` rows perturb them in place.
    args: Vec<Vec<f64>>,
    /// One buffer per output.
    out: Vec<Vec<f64>>,
}

impl Jitted {
    /// Compiles `name` of `module` for the types of `args` (all `f64`).
    fn compile(module: &Module, name: &str, args: &[Tensor]) -> Result<Jitted, String> {
        let types: Vec<Type> = args.iter().map(Tensor::ty).collect();
        let f = adjit::jit::compile_for(module, name, &types).map_err(|e| e.to_string())?;
        let mut out = Vec::new();
        for t in f.output_types() {
            let shape = t.shape.as_known().ok_or("a symbolic output shape")?;
            if t.elem != Elem::F64 {
                return Err(format!("an output of type {t}"));
            }
            out.push(vec![0.0; shape.iter().product()]);
        }
        if args.len() > MAX_ARGS || out.len() > MAX_ARGS {
            return Err(format!("more than {MAX_ARGS} inputs or outputs"));
        }
        let args = args
            .iter()
            .map(|t| t.as_f64().map(<[f64]>::to_vec).ok_or("a non-f64 input"))
            .collect::<Result<_, _>>()?;
        let ws = f.workspace();
        Ok(Jitted { f, ws, args, out })
    }

    /// Calls the function on `args`, writing `out`.
    fn call(&mut self) {
        let (n_in, n_out) = (self.args.len(), self.out.len());
        let mut ins = [ArgRef::F64(&[]); MAX_ARGS];
        for (slot, a) in ins.iter_mut().zip(&self.args) {
            *slot = ArgRef::F64(black_box(a));
        }
        let mut outs: [ArgMut<'_>; MAX_ARGS] = std::array::from_fn(|_| ArgMut::F64(&mut []));
        for (slot, o) in outs.iter_mut().zip(&mut self.out) {
            *slot = ArgMut::F64(o);
        }
        if let Err(e) = self
            .f
            .call_into(&ins[..n_in], &mut outs[..n_out], &mut self.ws)
        {
            panic!("a call with the compiled signature: {e}");
        }
    }

    /// Benchmarks calls as `row`, through `call_into` with the argument
    /// tables built once (what a caller in a loop does).
    fn row(&mut self, g: &mut Group<'_>, row: Row) {
        let ins: Vec<ArgRef<'_>> = self.args.iter().map(|a| ArgRef::F64(a)).collect();
        let mut outs: Vec<ArgMut<'_>> = self.out.iter_mut().map(|o| ArgMut::F64(o)).collect();
        let (f, ws) = (&self.f, &mut self.ws);
        g.row(row, || f.call_into(black_box(&ins), &mut outs, ws));
    }

    /// The first output's first element (the value of a scalar function).
    fn value(&self) -> f64 {
        self.out[0][0]
    }

    /// Every element of every output from `from` on, concatenated.
    fn outputs(&self, from: usize) -> Vec<f64> {
        self.out[from..].concat()
    }
}

/// The gradient of a compiled scalar function with respect to every element
/// of the arguments listed in `wrt`, by central differences, concatenated in
/// `wrt` order into `grad`: [`fd_gradient`] on compiled code.
fn fd_jit(j: &mut Jitted, wrt: &[usize], grad: &mut [f64]) {
    let mut out = grad.iter_mut();
    for &a in wrt {
        for i in 0..j.args[a].len() {
            let x = j.args[a][i];
            let h = fd_step(x);
            j.args[a][i] = x + h;
            j.call();
            let up = j.value();
            j.args[a][i] = x - h;
            j.call();
            let down = j.value();
            j.args[a][i] = x;
            *out.next().expect("grad has one slot per element") = (up - down) / (2.0 * h);
        }
    }
}

/// The signature shared by `adjit::ad::{grad, jvp, vjp, hvp}`.
type Transform = fn(&Module, &str, &[usize]) -> Result<(Module, String), adjit::AdError>;

/// Every element of every output from `from` on, concatenated.
fn outputs_f64(out: &[Tensor], from: usize) -> Vec<f64> {
    out[from..]
        .iter()
        .flat_map(|t| t.as_f64().expect("an f64 output").iter().copied())
        .collect()
}

/// Evaluates the entry function; panics on an evaluation error (the bundled
/// programs are verified and their inputs come from the generators).
fn eval(interp: &Interpreter<'_>, entry: &str, args: &[Tensor]) -> Vec<Tensor> {
    match interp.eval(entry, args) {
        Ok(out) => out,
        Err(e) => panic!("{entry}: {e}"),
    }
}

/// The first output's elements.
fn first_f64(out: &[Tensor]) -> Vec<f64> {
    out[0].as_f64().expect("an f64 output").to_vec()
}

/// Sets element `j` of an `f64` tensor.
fn set(t: &mut Tensor, j: usize, value: f64) {
    let shape = t.shape().to_vec();
    let mut data = match std::mem::replace(t, Tensor::from_f64(0.0)).into_data() {
        Data::F64(data) => data,
        other => panic!("differentiated inputs are f64, not {:?}", other.elem()),
    };
    data[j] = value;
    *t = Tensor::f64(&shape, data).expect("same shape");
}

/// The central-difference step for a coordinate of magnitude `x`: ∛ε scaled,
/// which balances truncation (h²) against rounding (ε/h).
fn fd_step(x: f64) -> f64 {
    6e-6 * x.abs().max(1.0)
}

/// The gradient of `f`'s scalar output with respect to every element of the
/// arguments listed in `wrt`, by central differences (2 evaluations per
/// element), concatenated in `wrt` order into `grad`.
fn fd_gradient(
    args: &mut [Tensor],
    wrt: &[usize],
    f: &mut impl FnMut(&[Tensor]) -> f64,
    grad: &mut [f64],
) {
    let mut out = grad.iter_mut();
    for &a in wrt {
        for j in 0..args[a].len() {
            let x = args[a].as_f64().expect("f64")[j];
            let h = fd_step(x);
            set(&mut args[a], j, x + h);
            let up = f(args);
            set(&mut args[a], j, x - h);
            let down = f(args);
            set(&mut args[a], j, x);
            *out.next().expect("grad has one slot per element") = (up - down) / (2.0 * h);
        }
    }
}

/// The program rows of a workload whose derivative is a gradient: `interp
/// primal`, `interp`, `jit primal`, `jit`, and `fd interp` and `fd jit` when
/// `fd` (central differences need two primal evaluations per differentiated
/// element, so they are run only where that count is small). `want_value`
/// and `want_grad` are the hand-written results the rows are checked
/// against.
fn program_rows(
    g: &mut Group<'_>,
    p: &Program,
    wrt: &[usize],
    fd: bool,
    want_value: f64,
    want_grad: &[f64],
) {
    let interp = p.interp();
    let value = common::scalar(&eval(&interp, &p.entry, &p.args)[0]);
    check("interp primal", &[value], &[want_value], AD_TOL);
    g.row(Row::InterpPrimal, || {
        eval(&interp, &p.entry, black_box(&p.args))
    });
    // The gradient program returns (value, ∂/∂wrt[0], ∂/∂wrt[1], …).
    let derived = p.derive(adjit::ad::grad, wrt);
    match &derived {
        Ok((module, name)) => {
            let grad_interp = Interpreter::new(module);
            let out = eval(&grad_interp, name, &p.args);
            check("interp", &outputs_f64(&out, 1), want_grad, AD_TOL);
            g.row(Row::Interp, || eval(&grad_interp, name, black_box(&p.args)));
        }
        Err(e) => g.skip(Row::Interp, e),
    }
    match Jitted::compile(&p.module, &p.entry, &p.args) {
        Ok(mut j) => {
            j.call();
            check("jit primal", &[j.value()], &[want_value], AD_TOL);
            j.row(g, Row::JitPrimal);
            if fd {
                let mut grad = vec![0.0; want_grad.len()];
                fd_jit(&mut j, wrt, &mut grad);
                check("fd jit", &grad, want_grad, FD_TOL);
                g.row(Row::FdJit, || {
                    fd_jit(&mut j, wrt, &mut grad);
                    grad[0]
                });
            }
        }
        Err(e) => {
            g.skip(Row::JitPrimal, &e);
            if fd {
                g.skip(Row::FdJit, &e);
            }
        }
    }
    match derived.and_then(|(module, name)| Jitted::compile(&module, &name, &p.args)) {
        Ok(mut j) => {
            j.call();
            check("jit", &j.outputs(1), want_grad, AD_TOL);
            j.row(g, Row::Jit);
        }
        Err(e) => g.skip(Row::Jit, &e),
    }
    if fd {
        let mut args = p.args.clone();
        let mut grad = vec![0.0; want_grad.len()];
        let mut f = |a: &[Tensor]| common::scalar(&eval(&interp, &p.entry, a)[0]);
        fd_gradient(&mut args, wrt, &mut f, &mut grad);
        check("fd interp", &grad, want_grad, FD_TOL);
        g.row(Row::FdInterp, || {
            fd_gradient(&mut args, wrt, &mut f, &mut grad);
            grad[0]
        });
    }
}

// ------------------------------------------------------------------ seed2

fn seed2(c: &mut Criterion) {
    let (x, y) = (3.0, 2.0);
    let want = seeds::seed2_grad(x, y);
    let mut g = Group::new(c, "seed2");
    g.row(Row::HandPrimal, || seeds::seed2(black_box(x), black_box(y)));
    g.row(Row::Hand, || {
        let (x, y) = (black_box(x), black_box(y));
        (seeds::seed2(x, y), seeds::seed2_grad(x, y))
    });
    let mut ws = taped::Workspace::new();
    let (_, got) = taped::seed2(&mut ws, x, y).expect("sizes fixed");
    check("tape", &got, &want, AD_TOL);
    g.row(Row::Tape, || {
        taped::seed2(&mut ws, black_box(x), black_box(y))
    });
    let p = Program::new("seed2", vec![common::s(x), common::s(y)]);
    program_rows(&mut g, &p, &[0, 1], true, seeds::seed2(x, y), &want);
    match p
        .derive(adjit::ad::grad, &[0, 1])
        .and_then(|(module, name)| Jitted::compile(&module, &name, &p.args).map(|j| j.f))
    {
        Ok(f) => {
            let raw = f.raw();
            let mut ws = f.workspace();
            let workspace = ws.as_mut_ptr();
            let mut out = [0.0f64; 3];
            let inputs: [*const u8; 2] = [(&raw const x).cast(), (&raw const y).cast()];
            let outputs: [*mut u8; 3] = [
                (&raw mut out[0]).cast(),
                (&raw mut out[1]).cast(),
                (&raw mut out[2]).cast(),
            ];
            let call = || {
                // SAFETY: the ABI of seed2's gradient: two f64 scalars in,
                // three f64 scalars out (value, ∂x, ∂y), each pointer to its
                // own live local; the workspace comes from this function.
                unsafe { raw.call(black_box(inputs.as_ptr()), outputs.as_ptr(), workspace) };
            };
            call();
            check("jit raw", &out[1..], &want, AD_TOL);
            // The outputs are written by code the optimiser cannot see into.
            g.row(Row::JitRaw, call);
        }
        Err(e) => g.skip(Row::JitRaw, &e),
    }
    g.finish();
}

// ------------------------------------------------------------------ rosen

/// Rosenbrock on easy-ml's `Record` (8 nodes per term, as on adjit's tape).
fn rosen_easy_ml<'a>(
    list: &'a easy_ml::differentiation::WengertList<f64>,
    x: &[f64],
    grad: &mut [f64],
) {
    use easy_ml::differentiation::Record;
    use easy_ml::differentiation::record_operations::SwappedOperations;
    list.clear();
    let vars: Vec<Record<'a, f64>> = x.iter().map(|&v| Record::variable(v, list)).collect();
    let term = |a: Record<'a, f64>, b: Record<'a, f64>| {
        let t = b - a * a;
        let u = a.sub_swapped(1.0);
        (t * t) * 100.0 + u * u
    };
    let mut sum = term(vars[0], vars[1]);
    for w in vars[1..].windows(2) {
        sum = sum + term(w[0], w[1]);
    }
    let d = sum.derivatives();
    for (slot, v) in grad.iter_mut().zip(&vars) {
        *slot = d[v];
    }
}

/// Rosenbrock on `reverse`'s tape.
fn rosen_reverse<'a>(tape: &'a reverse::Tape, x: &[f64], grad: &mut [f64]) {
    use reverse::Gradient;
    tape.clear();
    let vars = tape.add_vars(x);
    let term = |a: reverse::Var<'a>, b: reverse::Var<'a>| {
        let t = b - a * a;
        let u = 1.0 - a;
        100.0 * (t * t) + u * u
    };
    let mut sum = term(vars[0], vars[1]);
    for w in vars[1..].windows(2) {
        sum = sum + term(w[0], w[1]);
    }
    grad.copy_from_slice(&sum.grad().wrt(&vars));
}

fn rosen(c: &mut Criterion, n: usize) {
    let x = rosen::inputs(n, 7).x;
    let mut want = vec![0.0; n];
    let value = rosen::value_and_grad(&x, &mut want).expect("sizes match");
    let mut grad = vec![0.0; n];
    let mut g = Group::new(c, &format!("rosen n={n}"));
    g.row(Row::HandPrimal, || rosen::value(black_box(&x)));
    g.row(Row::Hand, || {
        rosen::value_and_grad(black_box(&x), &mut grad)
    });

    let mut ws = taped::Workspace::new();
    taped::rosen(&mut ws, &x, &mut grad).expect("sizes match");
    check("tape", &grad, &want, AD_TOL);
    g.row(Row::Tape, || {
        taped::rosen(&mut ws, black_box(&x), &mut grad)
    });

    let list = easy_ml::differentiation::WengertList::new();
    rosen_easy_ml(&list, &x, &mut grad);
    check("easy-ml", &grad, &want, AD_TOL);
    g.row(Row::EasyMl, || {
        rosen_easy_ml(&list, black_box(&x), &mut grad)
    });

    let tape = reverse::Tape::new();
    rosen_reverse(&tape, &x, &mut grad);
    check("reverse", &grad, &want, AD_TOL);
    g.row(Row::Reverse, || {
        rosen_reverse(&tape, black_box(&x), &mut grad)
    });

    let p = Program::new("rosen", vec![common::t(&[n], x.clone())]);
    program_rows(&mut g, &p, &[0], n <= 1000, value, &want);
    g.finish();
}

// ----------------------------------------------------------------- logreg

/// logreg on easy-ml (ln(1 + e) for log1p, which easy-ml lacks; the sum is
/// within rounding of the stable form since e ≤ 1).
fn logreg_easy_ml(
    list: &easy_ml::differentiation::WengertList<f64>,
    inp: &logreg::LogregInputs,
    grad: &mut [f64],
) -> f64 {
    use easy_ml::differentiation::Record;
    use easy_ml::numeric::extra::{Exp, Ln};
    list.clear();
    let d = inp.w.len();
    let w: Vec<Record<'_, f64>> = inp.w.iter().map(|&v| Record::variable(v, list)).collect();
    let mut data = Record::constant(0.0);
    for (row, &yi) in inp.x.chunks_exact(d).zip(&inp.y) {
        let mut z = w[0] * row[0];
        for (wj, &xj) in w[1..].iter().zip(&row[1..]) {
            z = z + *wj * xj;
        }
        let softplus = if z.number > 0.0 {
            z + (-z).exp().add_one().ln()
        } else {
            z.exp().add_one().ln()
        };
        data = data + (softplus - z * yi);
    }
    let mut norm2 = w[0] * w[0];
    for wj in &w[1..] {
        norm2 = norm2 + *wj * *wj;
    }
    let loss = data / (inp.y.len() as f64) + norm2 * (0.5 * logreg::LAMBDA);
    let derivatives = loss.derivatives();
    for (slot, v) in grad.iter_mut().zip(&w) {
        *slot = derivatives[v];
    }
    loss.number
}

/// `x + 1` for easy-ml records.
trait AddOne {
    fn add_one(self) -> Self;
}

impl AddOne for easy_ml::differentiation::Record<'_, f64> {
    fn add_one(self) -> Self {
        self + 1.0
    }
}

/// logreg on `reverse`.
fn logreg_reverse(tape: &reverse::Tape, inp: &logreg::LogregInputs, grad: &mut [f64]) -> f64 {
    use reverse::Gradient;
    tape.clear();
    let d = inp.w.len();
    let w = tape.add_vars(&inp.w);
    let mut data = None;
    for (row, &yi) in inp.x.chunks_exact(d).zip(&inp.y) {
        let mut z = w[0] * row[0];
        for (wj, &xj) in w[1..].iter().zip(&row[1..]) {
            z = z + *wj * xj;
        }
        let softplus = if z.val() > 0.0 {
            z + (-z).exp().ln_1p()
        } else {
            z.exp().ln_1p()
        };
        let term = softplus - z * yi;
        data = Some(match data {
            Some(acc) => acc + term,
            None => term,
        });
    }
    let mut norm2 = w[0] * w[0];
    for wj in &w[1..] {
        norm2 = norm2 + *wj * *wj;
    }
    let loss = data.expect("n > 0") / (inp.y.len() as f64) + norm2 * (0.5 * logreg::LAMBDA);
    grad.copy_from_slice(&loss.grad().wrt(&w));
    loss.val()
}

fn logreg(c: &mut Criterion, (n, d): (usize, usize)) {
    let (inp, args) = common::logreg_inputs(n, d, 7);
    let mut want = vec![0.0; d];
    let value = logreg::value_and_grad(&inp.x, &inp.y, &inp.w, &mut want).expect("sizes match");
    let mut grad = vec![0.0; d];
    let mut g = Group::new(c, &format!("logreg {n}x{d}"));
    g.row(Row::HandPrimal, || {
        logreg::value(&inp.x, &inp.y, black_box(&inp.w))
    });
    g.row(Row::Hand, || {
        logreg::value_and_grad(&inp.x, &inp.y, black_box(&inp.w), &mut grad)
    });

    let mut ws = taped::Workspace::new();
    taped::logreg(&mut ws, &inp.x, &inp.y, &inp.w, &mut grad).expect("sizes match");
    check("tape", &grad, &want, AD_TOL);
    g.row(Row::Tape, || {
        taped::logreg(&mut ws, &inp.x, &inp.y, black_box(&inp.w), &mut grad)
    });

    let list = easy_ml::differentiation::WengertList::new();
    logreg_easy_ml(&list, &inp, &mut grad);
    check("easy-ml", &grad, &want, AD_TOL);
    g.row(Row::EasyMl, || {
        logreg_easy_ml(&list, black_box(&inp), &mut grad)
    });

    let tape = reverse::Tape::new();
    logreg_reverse(&tape, &inp, &mut grad);
    check("reverse", &grad, &want, AD_TOL);
    g.row(Row::Reverse, || {
        logreg_reverse(&tape, black_box(&inp), &mut grad)
    });

    let p = Program::new("logreg", args);
    program_rows(&mut g, &p, &[0], true, value, &want);
    g.finish();
}

// -------------------------------------------------------------------- gmm

fn gmm(c: &mut Criterion, d: usize, k: usize, n: usize) {
    let shape = gmm::Shape { d, k, n };
    let inp = gmm::inputs(shape, 11).expect("valid shape");
    let row = shape.icf_row_len().expect("valid shape");
    let (na, nm, ni) = (k, k * d, k * row);
    let mut hand_ws = gmm::Workspace::new(shape).expect("valid shape");
    let mut want = vec![0.0; na + nm + ni];
    let value = {
        let (a, rest) = want.split_at_mut(na);
        let (m, i) = rest.split_at_mut(nm);
        let grads = gmm::Grads {
            alphas: a,
            means: m,
            icf: i,
        };
        gmm::value_and_grad(
            shape,
            inp.params(),
            &inp.x,
            inp.wishart,
            &mut hand_ws,
            grads,
        )
        .expect("sizes match")
    };
    let mut grad = vec![0.0; want.len()];

    let mut g = Group::new(c, &format!("gmm d={d} k={k} n={n}"));
    g.row(Row::HandPrimal, || {
        gmm::value(shape, inp.params(), &inp.x, inp.wishart, &mut hand_ws)
    });
    g.row(Row::Hand, || {
        let (a, rest) = grad.split_at_mut(na);
        let (m, i) = rest.split_at_mut(nm);
        let grads = gmm::Grads {
            alphas: a,
            means: m,
            icf: i,
        };
        gmm::value_and_grad(
            shape,
            inp.params(),
            &inp.x,
            inp.wishart,
            &mut hand_ws,
            grads,
        )
    });

    let mut ws = taped::Workspace::new();
    let tape_gmm = |ws: &mut taped::Workspace, grad: &mut [f64]| {
        let (a, rest) = grad.split_at_mut(na);
        let (m, i) = rest.split_at_mut(nm);
        let grads = gmm::Grads {
            alphas: a,
            means: m,
            icf: i,
        };
        taped::gmm(ws, shape, inp.params(), &inp.x, inp.wishart, grads)
    };
    tape_gmm(&mut ws, &mut grad).expect("sizes match");
    check("tape", &grad, &want, AD_TOL);
    g.row(Row::Tape, || tape_gmm(&mut ws, &mut grad));

    // The program leaves out the parameter-independent constants.
    let constants = -(n as f64) * d as f64 * 0.5 * (2.0 * std::f64::consts::PI).ln()
        + k as f64 * gmm::wishart_constant(d, inp.wishart);
    let p = Program::new(
        "gmm",
        vec![
            common::t(&[k], inp.alphas.clone()),
            common::t(&[k, d], inp.means.clone()),
            common::t(&[k, row], inp.icf.clone()),
            common::t(&[n, d], inp.x.clone()),
            common::s(inp.wishart.gamma),
            common::s(inp.wishart.m),
        ],
    );
    // Central differences only for the smallest (30 parameters).
    program_rows(&mut g, &p, &[0, 1, 2], d <= 2, value - constants, &want);
    g.finish();
}

// -------------------------------------------------------------------- mlp

fn mlp(c: &mut Criterion, shape: mlp::Shape) {
    let inp = mlp::inputs(shape, 3).expect("valid shape");
    let p = inp.params();
    let (n1, nb1, n2) = (p.w1.len(), p.b1.len(), p.w2.len());
    let total = n1 + nb1 + n2 + p.b2.len();
    let mut hand_ws = mlp::Workspace::new(shape).expect("valid shape");
    // Gradients in one buffer, laid out W1 | b1 | W2 | b2.
    fn grads(buf: &mut [f64], n1: usize, nb1: usize, n2: usize) -> mlp::Grads<'_> {
        let (w1, rest) = buf.split_at_mut(n1);
        let (b1, rest) = rest.split_at_mut(nb1);
        let (w2, b2) = rest.split_at_mut(n2);
        mlp::Grads { w1, b1, w2, b2 }
    }
    let mut want = vec![0.0; total];
    let value = mlp::value_and_grad(
        shape,
        p,
        &inp.x,
        &inp.y,
        &mut hand_ws,
        grads(&mut want, n1, nb1, n2),
    )
    .expect("sizes match");
    let mut grad = vec![0.0; total];
    let name = format!(
        "mlp {}-{}-{} b={}",
        shape.input, shape.hidden, shape.classes, shape.batch
    );
    let mut g = Group::new(c, &name);
    g.row(Row::HandPrimal, || {
        mlp::value(shape, p, black_box(&inp.x), &inp.y, &mut hand_ws)
    });
    g.row(Row::Hand, || {
        let out = grads(&mut grad, n1, nb1, n2);
        mlp::value_and_grad(shape, p, black_box(&inp.x), &inp.y, &mut hand_ws, out)
    });

    let mut ws = taped::Workspace::new();
    taped::mlp(
        &mut ws,
        shape,
        p,
        &inp.x,
        &inp.y,
        grads(&mut grad, n1, nb1, n2),
    )
    .expect("sizes match");
    check("tape", &grad, &want, AD_TOL);
    g.row(Row::Tape, || {
        let out = grads(&mut grad, n1, nb1, n2);
        taped::mlp(&mut ws, shape, p, black_box(&inp.x), &inp.y, out)
    });

    let prog = Program::new(
        "mlp",
        vec![
            common::t(&[shape.input, shape.hidden], inp.w1.clone()),
            common::t(&[shape.hidden], inp.b1.clone()),
            common::t(&[shape.hidden, shape.classes], inp.w2.clone()),
            common::t(&[shape.classes], inp.b2.clone()),
            common::t(&[shape.batch, shape.input], inp.x.clone()),
            common::t(&[shape.batch, shape.classes], inp.y.clone()),
        ],
    );
    // ~10⁵ parameters: no finite differences.
    program_rows(&mut g, &prog, &[0, 1, 2, 3], false, value, &want);
    g.finish();
}

// ----------------------------------------------------------------- spring

/// The spring chain on easy-ml; gradient with respect to k and v0.
fn spring_easy_ml(
    list: &easy_ml::differentiation::WengertList<f64>,
    inp: &spring::SpringInputs,
    grad: &mut [f64],
) -> f64 {
    use easy_ml::differentiation::Record;
    list.clear();
    let (n, dt) = (inp.config.masses, inp.config.dt);
    let k: Vec<Record<'_, f64>> = inp.k.iter().map(|&v| Record::variable(v, list)).collect();
    let mut v: Vec<Record<'_, f64>> = inp.v0.iter().map(|&v| Record::variable(v, list)).collect();
    let params: Vec<Record<'_, f64>> = k.iter().chain(&v).copied().collect();
    let mut x: Vec<Record<'_, f64>> = inp.x0.iter().map(|&v| Record::variable(v, list)).collect();
    for _ in 0..inp.config.steps {
        let mut previous: Option<Record<'_, f64>> = None;
        for i in 0..n - 1 {
            let tension = k[i] * (x[i + 1] - x[i] - 1.0);
            let force = match previous {
                Some(p) => tension - p,
                None => tension,
            };
            v[i] = v[i] + force * dt;
            previous = Some(tension);
        }
        if let Some(p) = previous {
            v[n - 1] = v[n - 1] - p * dt;
        }
        for (xj, vj) in x.iter_mut().zip(&v) {
            *xj = *xj + *vj * dt;
        }
    }
    let mut loss = Record::constant(0.0);
    for (xj, &tj) in x.iter().zip(&inp.target) {
        let e = *xj - tj;
        loss = loss + e * e;
    }
    let derivatives = loss.derivatives();
    for (slot, p) in grad.iter_mut().zip(&params) {
        *slot = derivatives[p];
    }
    loss.number
}

/// The spring chain on `reverse`; gradient with respect to k and v0.
fn spring_reverse(tape: &reverse::Tape, inp: &spring::SpringInputs, grad: &mut [f64]) -> f64 {
    use reverse::Gradient;
    tape.clear();
    let (n, dt) = (inp.config.masses, inp.config.dt);
    let k = tape.add_vars(&inp.k);
    let mut v = tape.add_vars(&inp.v0);
    let params: Vec<reverse::Var<'_>> = k.iter().chain(&v).copied().collect();
    let mut x = tape.add_vars(&inp.x0);
    for _ in 0..inp.config.steps {
        let mut previous: Option<reverse::Var<'_>> = None;
        for i in 0..n - 1 {
            let tension = k[i] * (x[i + 1] - x[i] - 1.0);
            let force = match previous {
                Some(p) => tension - p,
                None => tension,
            };
            v[i] = v[i] + dt * force;
            previous = Some(tension);
        }
        if let Some(p) = previous {
            v[n - 1] = v[n - 1] - dt * p;
        }
        for (xj, vj) in x.iter_mut().zip(&v) {
            *xj = *xj + dt * *vj;
        }
    }
    let mut loss = (x[0] - inp.target[0]) * (x[0] - inp.target[0]);
    for (xj, &tj) in x[1..].iter().zip(&inp.target[1..]) {
        loss = loss + (*xj - tj) * (*xj - tj);
    }
    grad.copy_from_slice(&loss.grad().wrt(&params));
    loss.val()
}

fn spring(c: &mut Criterion) {
    let (inp, args) = common::spring_inputs(5);
    let config = inp.config;
    let (n, m) = (config.masses, config.springs());
    let mut hand_ws = spring::Workspace::new(config).expect("valid config");
    let (mut gk, mut gx, mut gv) = (vec![0.0; m], vec![0.0; n], vec![0.0; n]);
    let value = spring::value_and_grad(
        config,
        inp.args(),
        &mut hand_ws,
        spring::Grads {
            k: &mut gk,
            x0: &mut gx,
            v0: &mut gv,
        },
    )
    .expect("sizes match");
    // The workload's gradient: k, then v0 (the program's parameter order).
    let want: Vec<f64> = gk.iter().chain(&gv).copied().collect();
    let mut grad = vec![0.0; m + n];

    let mut g = Group::new(c, &format!("spring n={n} t={}", config.steps));
    g.row(Row::HandPrimal, || {
        spring::value(config, black_box(inp.args()), &mut hand_ws)
    });
    g.row(Row::Hand, || {
        let grads = spring::Grads {
            k: &mut gk,
            x0: &mut gx,
            v0: &mut gv,
        };
        spring::value_and_grad(config, black_box(inp.args()), &mut hand_ws, grads)
    });

    let mut ws = taped::Workspace::new();
    let tape_spring = |ws: &mut taped::Workspace, grad: &mut [f64]| {
        let (k, v0) = grad.split_at_mut(m);
        taped::spring(ws, config, black_box(inp.args()), SpringGrads { k, v0 })
    };
    tape_spring(&mut ws, &mut grad).expect("sizes match");
    check("tape", &grad, &want, AD_TOL);
    g.row(Row::Tape, || tape_spring(&mut ws, &mut grad));

    let list = easy_ml::differentiation::WengertList::new();
    spring_easy_ml(&list, &inp, &mut grad);
    check("easy-ml", &grad, &want, AD_TOL);
    g.row(Row::EasyMl, || {
        spring_easy_ml(&list, black_box(&inp), &mut grad)
    });

    let tape = reverse::Tape::new();
    spring_reverse(&tape, &inp, &mut grad);
    check("reverse", &grad, &want, AD_TOL);
    g.row(Row::Reverse, || {
        spring_reverse(&tape, black_box(&inp), &mut grad)
    });

    let p = Program::new("spring", args);
    program_rows(&mut g, &p, &[0, 1], true, value, &want);
    g.finish();
}

// --------------------------------------------------------------------- bs

fn bs(c: &mut Criterion, n: usize) {
    let inp = bs::inputs(n, 9);
    let o = inp.options();
    let mut want = vec![vec![0.0; n]; 3];
    let [wp, wd, wv] = &mut want[..] else {
        unreachable!()
    };
    bs::price_delta_vega(
        o,
        bs::Greeks {
            price: wp,
            delta: wd,
            vega: wv,
        },
    )
    .expect("sizes match");
    let (mut p, mut d, mut v) = (vec![0.0; n], vec![0.0; n], vec![0.0; n]);
    let mut g = Group::new(c, &format!("bs n={n}"));
    g.row(Row::HandPrimal, || bs::price(black_box(o), &mut p));
    g.row(Row::Hand, || {
        let out = bs::Greeks {
            price: &mut p,
            delta: &mut d,
            vega: &mut v,
        };
        bs::price_delta_vega(black_box(o), out)
    });

    let mut ws = taped::Workspace::new();
    for (row, per_option) in [(Row::Tape, false), (Row::TapePerOption, true)] {
        let run = |ws: &mut taped::Workspace, p: &mut [f64], d: &mut [f64], v: &mut [f64]| {
            let out = bs::Greeks {
                price: p,
                delta: d,
                vega: v,
            };
            if per_option {
                taped::bs_per_option(ws, black_box(o), out)
            } else {
                taped::bs(ws, black_box(o), out)
            }
        };
        run(&mut ws, &mut p, &mut d, &mut v).expect("sizes match");
        check(row.name(), &p, &want[0], AD_TOL);
        check(row.name(), &d, &want[1], AD_TOL);
        check(row.name(), &v, &want[2], AD_TOL);
        g.row(row, || run(&mut ws, &mut p, &mut d, &mut v));
    }

    // The interpreter primal, and its forward differences along all-ones
    // tangents on S and on σ (options are independent, so each option's
    // difference is its own delta or vega): four evaluations.
    let prog = Program::new(
        "bs",
        [&inp.s, &inp.k, &inp.t, &inp.r, &inp.sigma]
            .iter()
            .map(|a| common::t(&[n], a.to_vec()))
            .collect(),
    );
    let interp = prog.interp();
    check(
        "interp primal",
        &first_f64(&eval(&interp, &prog.entry, &prog.args)),
        &want[0],
        AD_TOL,
    );
    g.row(Row::InterpPrimal, || {
        eval(&interp, &prog.entry, black_box(&prog.args))
    });
    // Forward mode in one call: the jvp program with tangents on S and σ,
    // batched over the two seeds (ones on S; ones on σ).
    match greeks_program(&prog) {
        Ok((module, name)) => {
            let greeks_interp = Interpreter::new(&module);
            let ones = vec![1.0; n];
            let zeros = vec![0.0; n];
            let mut args = prog.args.clone();
            args.push(common::t(&[2, n], [&ones[..], &zeros].concat()));
            args.push(common::t(&[2, n], [&zeros[..], &ones].concat()));
            let out = eval(&greeks_interp, &name, &args);
            let (price, tangents) = (outputs_f64(&out[..1], 0), outputs_f64(&out, 1));
            check("interp price", &price[..n], &want[0], AD_TOL);
            check("interp delta", &tangents[..n], &want[1], AD_TOL);
            check("interp vega", &tangents[n..], &want[2], AD_TOL);
            g.row(Row::Interp, || {
                eval(&greeks_interp, &name, black_box(&args))
            });
            match Jitted::compile(&module, &name, &args) {
                Ok(mut j) => {
                    j.call();
                    let tangents = j.outputs(1);
                    check("jit price", &j.out[0][..n], &want[0], AD_TOL);
                    check("jit delta", &tangents[..n], &want[1], AD_TOL);
                    check("jit vega", &tangents[n..], &want[2], AD_TOL);
                    j.row(&mut g, Row::Jit);
                }
                Err(e) => g.skip(Row::Jit, &e),
            }
        }
        Err(e) => {
            g.skip(Row::Interp, &e);
            g.skip(Row::Jit, &e);
        }
    }

    let mut args = prog.args.clone();
    let fd = |args: &mut [Tensor], out: &mut [Vec<f64>]| {
        for (which, arg) in [(1, 0), (2, 4)] {
            let base = args[arg].as_f64().expect("f64").to_vec();
            let steps: Vec<f64> = base.iter().map(|&x| fd_step(x)).collect();
            let shifted = |sign: f64| -> Tensor {
                let data = base.iter().zip(&steps).map(|(x, h)| x + sign * h);
                common::t(&[n], data.collect())
            };
            args[arg] = shifted(1.0);
            let up = first_f64(&eval(&interp, &prog.entry, args));
            args[arg] = shifted(-1.0);
            let down = first_f64(&eval(&interp, &prog.entry, args));
            args[arg] = common::t(&[n], base);
            for (i, slot) in out[which].iter_mut().enumerate() {
                *slot = (up[i] - down[i]) / (2.0 * steps[i]);
            }
        }
    };
    let mut got = vec![vec![0.0; n]; 3];
    fd(&mut args, &mut got);
    check("fd interp delta", &got[1], &want[1], FD_TOL);
    check("fd interp vega", &got[2], &want[2], FD_TOL);
    g.row(Row::FdInterp, || fd(&mut args, &mut got));

    // The same four evaluations on the compiled primal.
    match Jitted::compile(&prog.module, &prog.entry, &prog.args) {
        Ok(mut j) => {
            j.call();
            check("jit primal", &j.out[0], &want[0], AD_TOL);
            j.row(&mut g, Row::JitPrimal);
            let base = [j.args[0].clone(), j.args[4].clone()];
            let steps = base
                .clone()
                .map(|b| b.iter().map(|&x| fd_step(x)).collect::<Vec<f64>>());
            let mut up = vec![0.0; n];
            let mut fd = |j: &mut Jitted, out: &mut [Vec<f64>]| {
                for (k, (which, arg)) in [(1, 0), (2, 4)].into_iter().enumerate() {
                    let shift = |x: &mut [f64], sign: f64| {
                        for ((x, b), h) in x.iter_mut().zip(&base[k]).zip(&steps[k]) {
                            *x = b + sign * h;
                        }
                    };
                    shift(&mut j.args[arg], 1.0);
                    j.call();
                    up.copy_from_slice(&j.out[0]);
                    shift(&mut j.args[arg], -1.0);
                    j.call();
                    for (i, slot) in out[which].iter_mut().enumerate() {
                        *slot = (up[i] - j.out[0][i]) / (2.0 * steps[k][i]);
                    }
                    j.args[arg].copy_from_slice(&base[k]);
                }
            };
            let mut got = vec![vec![0.0; n]; 3];
            fd(&mut j, &mut got);
            check("fd jit delta", &got[1], &want[1], FD_TOL);
            check("fd jit vega", &got[2], &want[2], FD_TOL);
            g.row(Row::FdJit, || fd(&mut j, &mut got));
        }
        Err(e) => {
            g.skip(Row::JitPrimal, &e);
            g.skip(Row::FdJit, &e);
        }
    }
    g.finish();
}

/// `bs`'s forward-mode program: the jvp with respect to S and σ, batched
/// over a leading axis of two tangent seeds, optimised. It takes
/// (S, K, T, r, σ, Ṡ[2, n], σ̇[2, n]) and returns (C[2, n], Ċ[2, n]) (the price once per seed).
fn greeks_program(prog: &Program) -> Result<(Module, String), String> {
    let (module, name) = prog.derive(adjit::ad::jvp, &[0, 4])?;
    let (module, name) =
        adjit::ad::vmap(&module, &name, &[5, 6], Dim::from(2usize)).map_err(|e| e.to_string())?;
    let module = adjit::opt::optimize(&module, &name).map_err(|e| e.to_string())?;
    Ok((module, name))
}

// -------------------------------------------------------------------- hvp

fn hvp(c: &mut Criterion, n: usize) {
    let inp = rosen::inputs(n, 7);
    let mut want = vec![0.0; n];
    rosen::hvp(&inp.x, &inp.v, &mut want).expect("sizes match");
    let mut out = vec![0.0; n];
    let mut g = Group::new(c, &format!("hvp rosen n={n}"));
    g.row(Row::Hand, || {
        rosen::hvp(black_box(&inp.x), black_box(&inp.v), &mut out)
    });
    // (∇f(x + hv) − ∇f(x − hv))/2h, two hand-written gradients. (No tape
    // row: a first-order tape cannot differentiate its own sweep.)
    let (mut xp, mut gp, mut gm) = (vec![0.0; n], vec![0.0; n], vec![0.0; n]);
    let norm = inp.v.iter().map(|v| v * v).sum::<f64>().sqrt();
    let h = 6e-6 / norm.max(1e-300);
    let mut fd = |out: &mut [f64]| {
        for ((p, x), v) in xp.iter_mut().zip(&inp.x).zip(&inp.v) {
            *p = x + h * v;
        }
        rosen::value_and_grad(&xp, &mut gp).expect("sizes match");
        for ((p, x), v) in xp.iter_mut().zip(&inp.x).zip(&inp.v) {
            *p = x - h * v;
        }
        rosen::value_and_grad(&xp, &mut gm).expect("sizes match");
        for ((o, a), b) in out.iter_mut().zip(&gp).zip(&gm) {
            *o = (a - b) / (2.0 * h);
        }
    };
    fd(&mut out);
    check("fd hand", &out, &want, FD_TOL);
    g.row(Row::FdHand, || fd(&mut out));

    let prog = Program::new("rosen", vec![common::t(&[n], inp.x.clone())]);
    // The hvp program (jvp of grad) takes (x, v) and returns H(x)·v.
    match prog.derive(adjit::ad::hvp, &[0]) {
        Ok((module, name)) => {
            let hvp_interp = Interpreter::new(&module);
            let args = vec![
                common::t(&[n], inp.x.clone()),
                common::t(&[n], inp.v.clone()),
            ];
            check(
                "interp",
                &outputs_f64(&eval(&hvp_interp, &name, &args), 0),
                &want,
                AD_TOL,
            );
            g.row(Row::Interp, || eval(&hvp_interp, &name, black_box(&args)));
            match Jitted::compile(&module, &name, &args) {
                Ok(mut j) => {
                    j.call();
                    check("jit", &j.outputs(0), &want, AD_TOL);
                    j.row(&mut g, Row::Jit);
                }
                Err(e) => g.skip(Row::Jit, &e),
            }
        }
        Err(e) => {
            g.skip(Row::Interp, &e);
            g.skip(Row::Jit, &e);
        }
    }
    // Differences of the interpreted gradient program along v.
    match prog.derive(adjit::ad::grad, &[0]) {
        Ok((module, name)) => {
            let grad_interp = Interpreter::new(&module);
            let fd = |out: &mut [f64]| {
                let shifted = |sign: f64| {
                    let data = inp.x.iter().zip(&inp.v).map(|(x, v)| x + sign * h * v);
                    [common::t(&[n], data.collect())]
                };
                let up = outputs_f64(&eval(&grad_interp, &name, &shifted(1.0)), 1);
                let down = outputs_f64(&eval(&grad_interp, &name, &shifted(-1.0)), 1);
                for ((o, a), b) in out.iter_mut().zip(&up).zip(&down) {
                    *o = (a - b) / (2.0 * h);
                }
            };
            fd(&mut out);
            check("fd interp", &out, &want, FD_TOL);
            g.row(Row::FdInterp, || fd(&mut out));
            // The same differences of the compiled gradient program.
            match Jitted::compile(&module, &name, &prog.args) {
                Ok(mut j) => {
                    let mut up = vec![0.0; n];
                    let mut fd = |j: &mut Jitted, out: &mut [f64]| {
                        let shift = |x: &mut [f64], sign: f64| {
                            for ((x, base), v) in x.iter_mut().zip(&inp.x).zip(&inp.v) {
                                *x = base + sign * h * v;
                            }
                        };
                        shift(&mut j.args[0], 1.0);
                        j.call();
                        up.copy_from_slice(&j.out[1]);
                        shift(&mut j.args[0], -1.0);
                        j.call();
                        for ((o, a), b) in out.iter_mut().zip(&up).zip(&j.out[1]) {
                            *o = (a - b) / (2.0 * h);
                        }
                    };
                    fd(&mut j, &mut out);
                    check("fd jit", &out, &want, FD_TOL);
                    g.row(Row::FdJit, || fd(&mut j, &mut out));
                }
                Err(e) => g.skip(Row::FdJit, &e),
            }
        }
        Err(e) => {
            g.skip(Row::FdInterp, &e);
            g.skip(Row::FdJit, &e);
        }
    }
    g.finish();
}

// ------------------------------------------------------- compile time

/// A random DAG of `nodes` elementwise ops on f64[8] values (each op reads
/// one or two of the last 16 values), summed to a scalar: the input of the
/// compile-time rows.
fn random_graph(nodes: usize, seed: u64) -> Module {
    let mut rng = adjit_workloads::rng::SplitMix64::new(seed);
    let g = Graph::new("random");
    let x = g.param("x", Type::f64(&[8]));
    let y = g.param("y", Type::f64(&[8]));
    let mut values = vec![x, y];
    // Two nodes fewer: the final sum and its operand's count.
    for _ in 0..nodes.saturating_sub(1) {
        let pick = |rng: &mut adjit_workloads::rng::SplitMix64| {
            let back = (rng.below(16) as usize).min(values.len() - 1);
            values[values.len() - 1 - back]
        };
        let a = pick(&mut rng);
        let b = pick(&mut rng);
        let v = match rng.below(8) {
            0 => a + b,
            1 => a - b,
            2 => a * b,
            3 => a.sin(),
            4 => a.tanh(),
            5 => (a * 0.5).exp(),
            6 => a.max(b),
            _ => a * 0.9,
        };
        values.push(v);
    }
    let out = values[values.len() - 1].sum_all();
    let f = g.finish(&[out]).expect("well-typed by construction");
    let mut module = Module::new();
    module.add(f).expect("one function");
    module
}

/// Compile time against graph size: verification, interpreter planning
/// (what the interpreter does before its first evaluation), `jit compile`
/// (the graph to native code) and `jit compile grad` (the gradient program
/// built, optimised and compiled: what a user waits for before the first
/// gradient call), the last two for graphs of at most `compiled` nodes.
fn compile_time(c: &mut Criterion, sizes: &[usize], compiled: usize) {
    RunRecord::add_group("compile");
    let mut group = c.benchmark_group("compile");
    group.sample_size(10);
    // Compiling large graphs takes seconds: one compile per sample.
    group.sampling_mode(SamplingMode::Flat);
    for &n in sizes {
        let module = random_graph(n, n as u64);
        group.bench_function(BenchmarkId::new("verify", n), |b| {
            b.iter(|| verify_module(black_box(&module)))
        });
        group.bench_function(BenchmarkId::new("interp plan", n), |b| {
            b.iter(|| Interpreter::new(black_box(&module)))
        });
        if n > compiled {
            eprintln!("compile: no `jit compile` rows for {n} nodes (too slow for ten samples)");
            continue;
        }
        let compile = |m: &Module| match adjit::jit::compile(m, "random") {
            Ok(f) => f,
            Err(e) => panic!("random graph of {n} nodes: {e}"),
        };
        group.bench_function(BenchmarkId::new("jit compile", n), |b| {
            b.iter(|| compile(black_box(&module)))
        });
        let grad = || {
            let (m, name) = adjit::ad::grad(&module, "random", &[0, 1])
                .unwrap_or_else(|e| panic!("grad of {n} nodes: {e}"));
            let m = adjit::opt::optimize(&m, &name)
                .unwrap_or_else(|e| panic!("optimising the grad of {n} nodes: {e}"));
            match adjit::jit::compile(&m, &name) {
                Ok(f) => f,
                Err(e) => panic!("grad of {n} nodes: {e}"),
            }
        };
        group.bench_function(BenchmarkId::new("jit compile grad", n), |b| b.iter(grad));
    }
    group.finish();
}

// -------------------------------------------------------------------- run

fn benches(c: &mut Criterion) {
    RunRecord::start();
    let sizes = Sizes::new(quick());
    seed2(c);
    for n in sizes.rosen {
        rosen(c, n);
    }
    logreg(c, sizes.logreg);
    for (d, k) in [(2, 5), (10, 25), (64, 50)] {
        gmm(c, d, k, sizes.gmm_points);
    }
    mlp(c, sizes.mlp);
    spring(c);
    bs(c, sizes.bs);
    hvp(c, sizes.hvp);
    compile_time(c, sizes.graphs, sizes.compiled_graphs);
}

/// Warm-up and measurement time per row.
fn times() -> (Duration, Duration) {
    if quick() {
        (Duration::from_millis(100), Duration::from_millis(300))
    } else {
        (Duration::from_secs(1), Duration::from_secs(3))
    }
}

fn config() -> Criterion {
    let (warm_up, measurement) = times();
    // Criterion's per-benchmark plots take seconds each to draw; the tables
    // and charts come from scripts/bench_report.py instead.
    Criterion::default()
        .warm_up_time(warm_up)
        .measurement_time(measurement)
        .without_plots()
}

criterion_group! {
    name = workloads;
    config = config();
    targets = benches
}
criterion_main!(workloads);
