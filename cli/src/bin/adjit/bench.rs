//! `adjit bench`: how long each stage of compiling a program takes, and how
//! fast the result runs against the interpreter and finite differences.
//!
//! Compile stages are timed once each (parse and verify; AD; optimisation;
//! code generation, split into planning and Cranelift). Calls are timed in
//! samples of many calls each for about `--time` seconds per row, and the
//! median per-call time is reported: medians resist the outliers of a
//! shared machine. Every row runs on the same inputs, given with `--in` or
//! generated deterministically (see [`crate::generate`]).

use crate::derive::{self, DeriveArgs, Kind};
use crate::error::CliError;
use crate::{generate, inputs, program};
use adjit::ir::interp::Interpreter;
use adjit::ir::{Data, Function, Limits, Module, Tensor, Type};
use adjit::jit::{ArgMut, ArgRef, CompiledFn};
use std::path::Path;
use std::time::{Duration, Instant};

/// What `adjit bench` was asked to do.
pub struct Request<'a> {
    /// The program file.
    pub file: &'a Path,
    /// The function (`None`: the last of the file).
    pub func: Option<&'a str>,
    /// `--in` options.
    pub inputs: &'a [String],
    /// `--size` options.
    pub sizes: &'a [String],
    /// The derivative to take.
    pub derive: &'a DeriveArgs,
    /// Seconds of timing per row.
    pub seconds: f64,
    /// Print JSON instead of text.
    pub json: bool,
    /// The limits for generated inputs, the interpreter and the JIT.
    pub limits: Limits,
}

/// A finite-difference row is skipped when one gradient would take longer
/// than this many times the per-row budget.
const FD_BUDGET_FACTOR: f64 = 10.0;

/// The per-call times of one row.
#[derive(Clone, Copy, Debug)]
pub struct Timing {
    /// Median seconds per call.
    pub median: f64,
    /// Samples taken.
    pub samples: usize,
    /// Calls per sample.
    pub batch: u64,
}

/// Times `f`: one call to size the batches, then samples of `batch` calls
/// each until `budget` is spent (at least one sample, at most 200).
pub fn measure(budget: Duration, mut f: impl FnMut()) -> Timing {
    let start = Instant::now();
    f();
    let once = start.elapsed().as_secs_f64().max(1e-9);
    let per_sample = budget.as_secs_f64() / 30.0;
    let batch = ((per_sample / once) as u64).max(1);
    let mut samples = Vec::new();
    let start = Instant::now();
    while samples.is_empty() || (start.elapsed() < budget && samples.len() < 200) {
        let t = Instant::now();
        for _ in 0..batch {
            f();
        }
        samples.push(t.elapsed().as_secs_f64() / batch as f64);
    }
    samples.sort_by(f64::total_cmp);
    let mid = samples.len() / 2;
    let median = if samples.len() % 2 == 1 {
        samples[mid]
    } else {
        (samples[mid - 1] + samples[mid]) / 2.0
    };
    Timing {
        median,
        samples: samples.len(),
        batch,
    }
}

/// A row of the report: a timing, or why there is none.
struct Row {
    name: &'static str,
    what: String,
    result: Result<Timing, String>,
}

/// Runs `adjit bench`.
pub fn run(req: &Request<'_>) -> Result<(), CliError> {
    if !(req.seconds.is_finite() && req.seconds > 0.0 && req.seconds < 1e6) {
        return Err(CliError::Input(format!(
            "--time {}: expected a positive number of seconds",
            req.seconds
        )));
    }
    let start = Instant::now();
    let p = program::load(req.file)?;
    let parse = start.elapsed();
    let primal = p.function(req.func)?;

    // AD without the optimiser, then the optimiser, timed apart.
    let kind = req.derive.kind();
    let unoptimised = DeriveArgs {
        no_opt: true,
        ..req.derive.clone()
    };
    let start = Instant::now();
    let mut d = derive::derive(&p.module, primal, &unoptimised)?;
    let ad = (kind != Kind::Primal).then(|| start.elapsed());
    let mut optimise = None;
    if kind != Kind::Primal && !req.derive.no_opt {
        let start = Instant::now();
        let module = std::mem::replace(&mut d.module, Module::new());
        (d.module, d.name) = derive::optimise(module, std::mem::take(&mut d.name))?;
        optimise = Some(start.elapsed());
    }
    let f = d.function();

    let assignments = inputs::parse_assignments(req.inputs)?;
    let sizes = inputs::parse_sizes(req.sizes)?;
    let (given, types) = inputs::given_and_types(f, &assignments, &sizes)?;
    let names: Vec<&str> = f.params().iter().map(|&q| f.value_name(q)).collect();
    let missing: Vec<usize> = (0..types.len()).filter(|&i| given[i].is_none()).collect();
    generate::check(
        &missing.iter().map(|&i| names[i]).collect::<Vec<_>>(),
        &missing
            .iter()
            .map(|&i| types[i].clone())
            .collect::<Vec<_>>(),
        &req.limits,
    )
    .map_err(|e| CliError::Input(format!("cannot generate the inputs: {e}")))?;
    let generated = generate::inputs(primal.name(), &types);
    let args: Vec<Tensor> = given
        .iter()
        .zip(generated)
        .map(|(g, gen_)| g.clone().unwrap_or(gen_))
        .collect();

    let start = Instant::now();
    let opts = adjit::jit::Options {
        limits: req.limits,
        ..adjit::jit::Options::default()
    };
    let compiled = adjit::jit::compile_for_with(&d.module, f.name(), &types, &opts)
        .map_err(|e| CliError::Eval(format!("cannot compile @{}: {e}", f.name())))?;
    crate::limits::check_workspace(&req.limits, f.name(), compiled.workspace_size())?;
    let compile_total = start.elapsed();
    let stats = compiled.stats().clone();

    let budget = Duration::from_secs_f64(req.seconds);
    let mut rows = Vec::new();
    let jit = time_jit(&compiled, &args, budget)?;
    rows.push(Row {
        name: "jit",
        what: format!("@{} compiled", f.name()),
        result: Ok(jit),
    });
    let interp = Interpreter::with_limits(&d.module, req.limits);
    let reference = interp
        .eval(f.name(), &args)
        .map_err(|e| CliError::Eval(e.to_string()))?;
    let refs: Vec<&Tensor> = args.iter().collect();
    let native = compiled
        .call(&refs)
        .map_err(|e| CliError::Eval(e.to_string()))?;
    let difference = max_relative_difference(&native, &reference);
    rows.push(Row {
        name: "interp",
        what: format!("@{} in the interpreter", f.name()),
        result: Ok(measure(budget, || {
            std::hint::black_box(interp.eval(f.name(), std::hint::black_box(&args)).ok());
        })),
    });
    if kind == Kind::Grad {
        let n_primal = primal.params().len();
        let primal_types = &types[..n_primal];
        match adjit::jit::compile_for(&p.module, primal.name(), primal_types) {
            Ok(cp) => {
                let primal_jit = time_jit(&cp, &args[..n_primal], budget)?;
                rows.push(Row {
                    name: "jit primal",
                    what: format!("@{} compiled", primal.name()),
                    result: Ok(primal_jit),
                });
                let elements: usize = d.wrt.iter().map(|&i| args[i].len()).sum();
                let calls = 2 * elements;
                let estimate = primal_jit.median * calls as f64;
                let result = if estimate > FD_BUDGET_FACTOR * req.seconds.max(1.0) {
                    Err(format!(
                        "skipped: {calls} primal calls would take about {}",
                        fmt_secs(estimate)
                    ))
                } else {
                    time_fd(&cp, primal, &args[..n_primal], &d.wrt, budget)
                };
                rows.push(Row {
                    name: "fd jit",
                    what: format!("central differences, {calls} calls of the compiled primal"),
                    result,
                });
            }
            Err(e) => rows.push(Row {
                name: "jit primal",
                what: format!("@{} compiled", primal.name()),
                result: Err(format!("cannot compile: {e}")),
            }),
        }
    }

    let report = Report {
        file: req.file.display().to_string(),
        function: primal.name().to_string(),
        program: f.name().to_string(),
        kind,
        inputs: f
            .params()
            .iter()
            .zip(&args)
            .zip(&given)
            .map(|((&q, a), g)| (f.value_name(q).to_string(), a.ty(), g.is_none()))
            .collect(),
        stages: vec![
            ("parse", Some(parse)),
            ("ad", ad),
            ("optimise", optimise),
            ("codegen", Some(compile_total)),
            ("codegen: plan", Some(stats.plan_time)),
            ("codegen: cranelift", Some(stats.codegen_time)),
        ],
        workspace_bytes: compiled.workspace_size(),
        difference,
        rows,
    };
    if req.json {
        println!("{}", report.json());
    } else {
        print!("{}", report.text());
    }
    Ok(())
}

/// Input slices borrowed from tensors, for `call_into`.
fn arg_refs(args: &[Tensor]) -> Vec<ArgRef<'_>> {
    args.iter()
        .map(|t| match t.data() {
            Data::F64(v) => ArgRef::F64(v),
            Data::F32(v) => ArgRef::F32(v),
            Data::I64(v) => ArgRef::I64(v),
            Data::Bool(v) => ArgRef::Bool(v),
        })
        .collect()
}

/// Zeroed output buffers of a compiled function's output types.
fn output_buffers(f: &CompiledFn) -> Vec<Data> {
    f.output_types()
        .iter()
        .map(|t| {
            let n: usize = t.shape.as_known().unwrap_or_default().iter().product();
            match t.elem {
                adjit::ir::Elem::F64 => Data::F64(vec![0.0; n]),
                adjit::ir::Elem::F32 => Data::F32(vec![0.0; n]),
                adjit::ir::Elem::I64 => Data::I64(vec![0; n]),
                adjit::ir::Elem::Bool => Data::Bool(vec![false; n]),
            }
        })
        .collect()
}

fn arg_muts(bufs: &mut [Data]) -> Vec<ArgMut<'_>> {
    bufs.iter_mut()
        .map(|d| match d {
            Data::F64(v) => ArgMut::F64(v),
            Data::F32(v) => ArgMut::F32(v),
            Data::I64(v) => ArgMut::I64(v),
            Data::Bool(v) => ArgMut::Bool(v),
        })
        .collect()
}

/// Times calls of compiled code through `call_into` with a reused
/// workspace (no allocation per call).
fn time_jit(f: &CompiledFn, args: &[Tensor], budget: Duration) -> Result<Timing, CliError> {
    let ins = arg_refs(args);
    let mut bufs = output_buffers(f);
    let mut outs = arg_muts(&mut bufs);
    let mut ws = f.workspace();
    f.call_into(&ins, &mut outs, &mut ws)
        .map_err(|e| CliError::Eval(e.to_string()))?;
    Ok(measure(budget, || {
        // Checked by the call above: the same slices every time.
        let _ = f.call_into(std::hint::black_box(&ins), &mut outs, &mut ws);
    }))
}

/// Times one gradient by central differences over the compiled primal `f`,
/// with respect to the parameters `wrt` (f64 only).
fn time_fd(
    f: &CompiledFn,
    primal: &Function,
    args: &[Tensor],
    wrt: &[usize],
    budget: Duration,
) -> Result<Timing, String> {
    if f.output_types().last().is_none_or(|t| t.rank() != 0) {
        return Err(format!("@{} does not return a scalar", primal.name()));
    }
    let mut flat: Vec<Data> = args.iter().map(|t| t.data().clone()).collect();
    for &i in wrt {
        if !matches!(flat[i], Data::F64(_)) {
            return Err("finite differences are for f64 parameters".into());
        }
    }
    let mut bufs = output_buffers(f);
    let mut ws = f.workspace();
    let last = bufs.len() - 1;
    let mut value = |flat: &[Data], bufs: &mut [Data]| -> f64 {
        let ins: Vec<ArgRef<'_>> = flat
            .iter()
            .map(|d| match d {
                Data::F64(v) => ArgRef::F64(v),
                Data::F32(v) => ArgRef::F32(v),
                Data::I64(v) => ArgRef::I64(v),
                Data::Bool(v) => ArgRef::Bool(v),
            })
            .collect();
        let mut outs = arg_muts(bufs);
        // The signature was checked by the timed JIT row.
        let _ = f.call_into(&ins, &mut outs, &mut ws);
        match &bufs[last] {
            Data::F64(v) => v[0],
            Data::F32(v) => f64::from(v[0]),
            _ => f64::NAN,
        }
    };
    let mut grad = Vec::new();
    Ok(measure(budget, || {
        grad.clear();
        for &i in wrt {
            for j in 0..flat[i].len() {
                let Data::F64(v) = &mut flat[i] else {
                    unreachable!("checked above")
                };
                let x = v[j];
                let h = 6e-6 * x.abs().max(1.0);
                v[j] = x + h;
                let up = value(&flat, &mut bufs);
                let Data::F64(v) = &mut flat[i] else {
                    unreachable!("checked above")
                };
                v[j] = x - h;
                let down = value(&flat, &mut bufs);
                let Data::F64(v) = &mut flat[i] else {
                    unreachable!("checked above")
                };
                v[j] = x;
                grad.push((up - down) / (2.0 * h));
            }
        }
        std::hint::black_box(&grad);
    }))
}

/// Everything `adjit bench` reports.
struct Report {
    file: String,
    function: String,
    program: String,
    kind: Kind,
    /// Name, type, generated (not given).
    inputs: Vec<(String, Type, bool)>,
    /// Compile stages and their times (`None`: not run).
    stages: Vec<(&'static str, Option<Duration>)>,
    workspace_bytes: usize,
    /// The largest difference between the JIT's and the interpreter's
    /// outputs, relative to the largest interpreter output of its tensor.
    difference: f64,
    rows: Vec<Row>,
}

fn kind_name(kind: Kind) -> &'static str {
    match kind {
        Kind::Primal => "primal",
        Kind::Grad => "grad",
        Kind::Jvp => "jvp",
        Kind::Vjp => "vjp",
        Kind::Hvp => "hvp",
    }
}

impl Report {
    fn timing(&self, name: &str) -> Option<Timing> {
        self.rows
            .iter()
            .find(|r| r.name == name)
            .and_then(|r| r.result.as_ref().ok().copied())
    }

    /// `(label, value)`: each row against the JIT, and the gradient against
    /// the primal (the cheap-gradient ratio).
    fn ratios(&self) -> Vec<(String, f64)> {
        let mut out = Vec::new();
        let Some(jit) = self.timing("jit") else {
            return out;
        };
        for r in &self.rows {
            if let (Ok(t), true) = (&r.result, r.name != "jit" && r.name != "jit primal") {
                out.push((format!("{} / jit", r.name), t.median / jit.median));
            }
        }
        if let Some(p) = self.timing("jit primal") {
            out.push(("jit / jit primal".into(), jit.median / p.median));
        }
        out
    }

    fn text(&self) -> String {
        let mut s = format!(
            "{}: @{} ({})\ninputs:",
            self.file,
            self.program,
            kind_name(self.kind)
        );
        for (name, ty, generated) in &self.inputs {
            let how = if *generated { "generated" } else { "given" };
            s.push_str(&format!(" %{name}: {ty} ({how});"));
        }
        s.pop();
        s.push_str("\n\ncompile (once each):\n");
        for (name, t) in &self.stages {
            if let Some(t) = t {
                s.push_str(&format!("  {name:<20} {:>10}\n", fmt_secs(t.as_secs_f64())));
            }
        }
        s.push_str(&format!(
            "  workspace            {:>10}\n\noutputs of the JIT and the interpreter differ by at most {:.1e} \
             (relative)\n\nper call (median):\n",
            format!("{} B", self.workspace_bytes),
            self.difference
        ));
        for r in &self.rows {
            match &r.result {
                Ok(t) => s.push_str(&format!(
                    "  {:<12} {:>10}   {} ({} samples of {} calls)\n",
                    r.name,
                    fmt_secs(t.median),
                    r.what,
                    t.samples,
                    t.batch
                )),
                Err(why) => s.push_str(&format!("  {:<12} {:>10}   {why}\n", r.name, "—")),
            }
        }
        let ratios = self.ratios();
        if !ratios.is_empty() {
            s.push_str("\nratios:\n");
            for (label, x) in ratios {
                s.push_str(&format!("  {label:<20} {x:>10.2}\n"));
            }
        }
        s
    }

    fn json(&self) -> String {
        let inputs: Vec<String> = self
            .inputs
            .iter()
            .map(|(name, ty, generated)| {
                format!(
                    "{{\"name\": {}, \"type\": {}, \"generated\": {generated}}}",
                    json_str(name),
                    json_str(&ty.to_string())
                )
            })
            .collect();
        let stages: Vec<String> = self
            .stages
            .iter()
            .map(|(name, t)| {
                let v = t.map_or("null".to_string(), |t| json_num(t.as_secs_f64() * 1e9));
                format!("{}: {v}", json_str(name))
            })
            .collect();
        let rows: Vec<String> = self
            .rows
            .iter()
            .map(|r| match &r.result {
                Ok(t) => format!(
                    "{}: {{\"median_ns\": {}, \"samples\": {}, \"calls_per_sample\": {}, \"what\": {}}}",
                    json_str(r.name),
                    json_num(t.median * 1e9),
                    t.samples,
                    t.batch,
                    json_str(&r.what)
                ),
                Err(why) => format!(
                    "{}: {{\"median_ns\": null, \"skipped\": {}, \"what\": {}}}",
                    json_str(r.name),
                    json_str(why),
                    json_str(&r.what)
                ),
            })
            .collect();
        let ratios: Vec<String> = self
            .ratios()
            .iter()
            .map(|(label, x)| format!("{}: {}", json_str(label), json_num(*x)))
            .collect();
        format!(
            "{{\"file\": {}, \"function\": {}, \"program\": {}, \"kind\": {}, \"inputs\": [{}], \
             \"compile_ns\": {{{}}}, \"workspace_bytes\": {}, \"jit_interp_difference\": {}, \
             \"timings\": {{{}}}, \"ratios\": {{{}}}}}",
            json_str(&self.file),
            json_str(&self.function),
            json_str(&self.program),
            json_str(kind_name(self.kind)),
            inputs.join(", "),
            stages.join(", "),
            self.workspace_bytes,
            json_num(self.difference),
            rows.join(", "),
            ratios.join(", ")
        )
    }
}

/// max |a − b| / max |b| over the elements of each output pair, the largest
/// over the outputs (NaN where the two disagree on NaN, which stays the
/// maximum).
fn max_relative_difference(a: &[Tensor], b: &[Tensor]) -> f64 {
    let mut worst: f64 = 0.0;
    for (x, y) in a.iter().zip(b) {
        let (x, y) = (x.to_f64_vec(), y.to_f64_vec());
        let scale = y.iter().fold(f64::MIN_POSITIVE, |m, v| m.max(v.abs()));
        for (p, q) in x.iter().zip(&y) {
            let d = if p == q || (p.is_nan() && q.is_nan()) {
                0.0
            } else {
                (p - q).abs() / scale
            };
            if d.is_nan() || d > worst {
                worst = d;
            }
            if worst.is_nan() {
                return worst;
            }
        }
    }
    worst
}

/// A JSON string literal.
fn json_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A JSON number (`null` for values JSON cannot represent).
fn json_num(x: f64) -> String {
    if x.is_finite() {
        format!("{x}")
    } else {
        "null".into()
    }
}

/// Seconds with a unit that keeps three or four significant digits.
pub fn fmt_secs(t: f64) -> String {
    if t >= 1.0 {
        format!("{t:.2} s")
    } else if t >= 1e-3 {
        format!("{:.2} ms", t * 1e3)
    } else if t >= 1e-6 {
        format!("{:.2} µs", t * 1e6)
    } else {
        format!("{:.2} ns", t * 1e9)
    }
}
