//! adjit as a GradBench tool: the JSON-lines protocol on a reader and a
//! writer, and the evals, each building its graph with the [`Graph`] builder
//! at the sizes its input gives.
//!
//! [`run`] answers messages until end of input. For every `evaluate`, the eval
//! turns the input into tensors and a cache key naming the module, the
//! function and every size the graph depends on. The first time a key is
//! seen, the graph is built and differentiated (`build` timing), simplified
//! by [`adjit::opt`] (`optimize` timing; exact rewrites only, so results are
//! unchanged), prepared by the [`Backend`] (`compile` timing) and called
//! once, untimed as a run, to bring the new code and its workspace into
//! memory (`warmup` timing); later messages with the same key reuse the
//! prepared function and report none of these. The function is then run at
//! least `min_runs` times and until the runs took `min_seconds`, each run
//! reported as one `evaluate` timing. Converting JSON to tensors and back is
//! not timed.
//!
//! Invariants: every message gets exactly one response line, with its `id`;
//! a bad input or a failed evaluation is a `"success": false` response, never
//! a panic or an early exit. Only unreadable input (not a JSON message) or a
//! broken output stream ends [`run`] with an error.
//!
//! Derivatives are made from the primal graph by adjit's AD transforms
//! ([`adjit::ad`]); where a transform refuses a graph, the function answers
//! `"success": false` with the reason.
//!
//! [`Graph`]: adjit::ir::Graph

mod ba;
pub mod backend;
mod det;
mod gmm;
mod hello;
mod ht;
mod input;
mod kmeans;
mod llsq;
mod lse;
mod lstm;
mod nested;
mod ode;
mod particle;
pub mod protocol;
mod saddle;

use adjit::ir::{Graph, Module, Tensor};
use backend::{Backend, Compiled, Executable, Hints};
use protocol::{Message, Response, Runs, Timing};
use serde_json::{Number, Value};
use std::collections::HashMap;
use std::io::{BufRead, Write};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// The modules (evals) this tool implements.
pub const MODULES: [&str; 12] = [
    "hello", "lse", "llsq", "gmm", "ode", "ba", "lstm", "kmeans", "det", "ht", "particle", "saddle",
];

/// Why a message could not be answered or a function not evaluated.
#[derive(Debug, thiserror::Error)]
pub enum GradbenchError {
    /// Reading a message or writing a response failed.
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    /// A line is not a GradBench message (there is no `id` to answer).
    #[error("line {line}: not a GradBench message: {message}")]
    Malformed {
        /// The 1-based line number.
        line: usize,
        /// What is wrong with it.
        message: String,
    },
    /// An `evaluate` input lacks a field or has one of the wrong form.
    #[error("bad input: {0}")]
    Input(String),
    /// The eval's graph could not be built, differentiated or compiled.
    #[error("graph: {0}")]
    Graph(String),
    /// Running the function failed.
    #[error("evaluation: {0}")]
    Eval(String),
    /// The module or function is not implemented (by this eval or this build).
    #[error("{0}")]
    Unsupported(String),
}

/// Builds an eval's module and names its entry function.
pub(crate) type Build = Box<dyn FnOnce() -> Result<(Module, String), GradbenchError>>;

/// What an eval makes of one `evaluate` message.
pub(crate) struct Job {
    /// Names the graph: the module, the function and every size it depends on.
    key: String,
    /// Builds the module and names its entry function.
    build: Build,
    /// What the backend may want to know about the graph.
    hints: Hints,
    /// The entry function's arguments.
    inputs: Vec<Tensor>,
    /// Turns the entry function's results into the protocol's output.
    output: Box<dyn FnOnce(Vec<Tensor>) -> Result<Value, GradbenchError>>,
}

fn job(module: &str, function: &str, input: &Value) -> Result<Job, GradbenchError> {
    match module {
        "hello" => hello::job(function, input),
        "lse" => lse::job(function, input),
        "llsq" => llsq::job(function, input),
        "gmm" => gmm::job(function, input),
        "ode" => ode::job(function, input),
        "ba" => ba::job(function, input),
        "lstm" => lstm::job(function, input),
        "kmeans" => kmeans::job(function, input),
        "det" => det::job(function, input),
        "ht" => ht::job(function, input),
        "particle" => particle::job(function, input),
        "saddle" => saddle::job(function, input),
        _ => Err(GradbenchError::Unsupported(format!(
            "adjit has no module {module:?}"
        ))),
    }
}

/// The gradient of scalar function `func` of `module` with respect to the
/// parameters `wrt`: a new module and the name of its entry, which takes
/// `func`'s parameters and returns only the gradients, in `wrt` order.
pub(crate) fn gradient(
    module: Module,
    func: &str,
    wrt: &[usize],
) -> Result<(Module, String), GradbenchError> {
    let (mut module, grad) = adjit::ad::grad(&module, func, wrt).map_err(ad_error)?;
    let params = module
        .get(func)
        .ok_or_else(|| GradbenchError::Graph(format!("no function @{func}")))?
        .param_types();
    let name = module.fresh_name(&format!("{func}_gradient"));
    let g = Graph::with_module(&name, &module);
    let args: Vec<_> = params
        .into_iter()
        .enumerate()
        .map(|(i, t)| g.param(&format!("p{i}"), t))
        .collect();
    let outs = g.call(&grad, &args);
    let f = g
        .finish(outs.get(1..).unwrap_or(&[]))
        .map_err(|e| GradbenchError::Graph(e.to_string()))?;
    module
        .add(f)
        .map_err(|e| GradbenchError::Graph(e.to_string()))?;
    Ok((module, name))
}

/// An AD transform's refusal, as the protocol's error text.
pub(crate) fn ad_error(e: adjit::ad::AdError) -> GradbenchError {
    GradbenchError::Graph(format!("differentiation: {e}"))
}

/// An unknown function of a known module.
pub(crate) fn unknown_function(module: &str, function: &str) -> GradbenchError {
    GradbenchError::Unsupported(format!("module {module:?} has no function {function:?}"))
}

/// A protocol session: the backend and the functions prepared so far.
pub struct Tool<'b> {
    backend: &'b dyn Backend,
    prepared: HashMap<String, Box<dyn Executable>>,
    dump: Option<PathBuf>,
}

impl<'b> Tool<'b> {
    /// A session that prepares functions with `backend`.
    pub fn new(backend: &'b dyn Backend) -> Tool<'b> {
        Tool {
            backend,
            prepared: HashMap::new(),
            dump: None,
        }
    }

    /// Also writes every module it prepares, after simplification, in
    /// adjit's text form to `dir`, one file per cache key (`/` and `,`
    /// become `_`, with `.adj` appended), for `adjit print`, `adjit asm` and
    /// the like.
    pub fn dump_to(self, dir: impl Into<PathBuf>) -> Tool<'b> {
        Tool {
            dump: Some(dir.into()),
            ..self
        }
    }

    /// The response to one message.
    pub fn respond(&mut self, message: Message) -> Response {
        let id = message.id.clone();
        match message.kind.as_str() {
            "start" => Response {
                tool: Some("adjit".into()),
                config: Some(serde_json::json!({ "backend": self.backend.name() })),
                ..Response::ack(id)
            },
            "define" => match message.module.as_deref() {
                Some(m) if MODULES.contains(&m) => Response {
                    success: Some(true),
                    ..Response::ack(id)
                },
                Some(m) => Response::failure(id, format!("adjit has no module {m:?}")),
                None => Response::failure(id, "`define` without a `module`".into()),
            },
            "evaluate" => match self.evaluate(&message) {
                Ok((output, timings)) => Response {
                    success: Some(true),
                    output: Some(output),
                    timings: Some(timings),
                    ..Response::ack(id)
                },
                Err(e) => Response::failure(id, e.to_string()),
            },
            _ => Response::ack(id),
        }
    }

    fn evaluate(&mut self, message: &Message) -> Result<(Value, Vec<Timing>), GradbenchError> {
        let missing = |what: &str| GradbenchError::Input(format!("`evaluate` without `{what}`"));
        let module = message.module.as_deref().ok_or_else(|| missing("module"))?;
        let function = message
            .function
            .as_deref()
            .ok_or_else(|| missing("function"))?;
        let input = message.input.as_ref().ok_or_else(|| missing("input"))?;
        let runs = Runs::of(input);
        let job = job(module, function, input)?;
        let mut timings = Vec::new();
        if !self.prepared.contains_key(&job.key) {
            let start = Instant::now();
            let (built, entry) = (job.build)()?;
            let built_at = Instant::now();
            let optimized = adjit::opt::optimize(&built, &entry)
                .map_err(|e| GradbenchError::Graph(format!("optimisation: {e}")))?;
            drop(built);
            let optimized_at = Instant::now();
            if let Some(dir) = &self.dump {
                let file: String = job
                    .key
                    .chars()
                    .map(|c| if matches!(c, '/' | ',') { '_' } else { c })
                    .collect();
                std::fs::write(dir.join(file + ".adj"), optimized.to_string())?;
            }
            let optimized_at_end = Instant::now();
            let exe = self.backend.compile(optimized, &entry, job.hints)?;
            timings.push(timing("build", built_at - start));
            timings.push(timing("optimize", optimized_at - built_at));
            timings.push(timing("compile", optimized_at_end.elapsed()));
            // One call brings the freshly made code and workspace into
            // memory and the caches, reported apart from the runs.
            let warm_start = Instant::now();
            exe.runner(&job.inputs)?.call()?;
            timings.push(timing("warmup", warm_start.elapsed()));
            self.prepared.insert(job.key.clone(), exe);
        }
        let exe = self
            .prepared
            .get(&job.key)
            .ok_or_else(|| GradbenchError::Graph("the prepared function vanished".into()))?;
        let mut runner = exe.runner(&job.inputs)?;
        let (mut done, mut elapsed) = (0u64, 0.0f64);
        while runs.more(done, elapsed) {
            let start = Instant::now();
            runner.call()?;
            let took = start.elapsed();
            timings.push(timing("evaluate", took));
            done += 1;
            elapsed += took.as_secs_f64();
        }
        let outputs = runner.outputs()?;
        drop(runner);
        Ok(((job.output)(outputs)?, timings))
    }
}

fn timing(name: &str, d: Duration) -> Timing {
    Timing {
        name: name.into(),
        nanoseconds: d.as_nanos(),
    }
}

/// Speaks the protocol with the default backend, the JIT, until `input`
/// ends.
pub fn run(input: impl BufRead, output: impl Write) -> Result<(), GradbenchError> {
    run_with(&Compiled, input, output)
}

/// Speaks the protocol with `backend` until `input` ends. Blank lines are
/// skipped; each message is answered with one line, flushed at once.
pub fn run_with(
    backend: &dyn Backend,
    input: impl BufRead,
    output: impl Write,
) -> Result<(), GradbenchError> {
    serve(Tool::new(backend), input, output)
}

/// Speaks the protocol as `tool` until `input` ends.
pub fn serve(
    mut tool: Tool<'_>,
    input: impl BufRead,
    mut output: impl Write,
) -> Result<(), GradbenchError> {
    for (i, line) in input.lines().enumerate() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        let message: Message =
            serde_json::from_str(&line).map_err(|e| GradbenchError::Malformed {
                line: i + 1,
                message: e.to_string(),
            })?;
        let response = tool.respond(message);
        serde_json::to_writer(&mut output, &response).map_err(|e| GradbenchError::Io(e.into()))?;
        output.write_all(b"\n")?;
        output.flush()?;
    }
    Ok(())
}

/// A JSON number for an `f64` (JSON has no NaN or infinity: those become
/// `null`).
pub(crate) fn number(x: f64) -> Value {
    Number::from_f64(x).map_or(Value::Null, Value::Number)
}
