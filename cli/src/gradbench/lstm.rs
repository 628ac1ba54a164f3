//! `lstm`: ADBench's LSTM with diagonal weights. `objective` is the mean
//! negative log-likelihood of each character of the sequence given the ones
//! before it; `jacobian` its gradient with respect to `main_params` and
//! `extra_params`, each flattened row by row, concatenated.
//!
//! Layouts (rows of the inputs): `main_params` `[2l, 4b]`, layer `i`'s
//! weights in row `2i` and biases in row `2i + 1`, each the forget, input,
//! output and change gates' `b` entries; `extra_params` `[3, b]`: input
//! weight, output weight, output bias; `state` `[2l, b]`: layer `i`'s hidden
//! state in row `2i`, cell in row `2i + 1`; `sequence` `[c, b]`.
//!
//! The time loop is a `scan` of `c − 1` steps whose body holds every layer
//! (written out, `l` is small); it carries the state and the running total.
//! `jacobian` is adjit's reverse mode of that graph, differentiated through
//! the loop (a `scan_adjoint` that keeps every step's state), so the graph's
//! size depends on `l` but not on `c`.
//!
//! As in ADBench, the input and change gates read the layer's previous
//! hidden state and the forget and output gates the layer's input, and the
//! log-sum-exp adds 2 to its sum.

use super::backend::Hints;
use super::input::{list, matrix, result, scalar_result, tensor};
use super::{GradbenchError, Job, gradient, unknown_function};
use adjit::ir::{Graph, Module, Type, Var};
use serde_json::Value;

/// Row `r` of a rank-2 value, as a vector.
fn row<'g>(v: Var<'g>, r: usize, width: usize) -> Var<'g> {
    v.slice_axis(0, r, r + 1).reshape([width])
}

/// Entries `[j·b, (j+1)·b)` of a vector.
fn part<'g>(v: Var<'g>, j: usize, b: usize) -> Var<'g> {
    v.slice_axis(0, j * b, (j + 1) * b)
}

/// One time step: the layers' states (hidden, cell per layer, each `[b]`)
/// after reading `x`, and the step's log-likelihood term for `gold`.
#[allow(clippy::too_many_arguments)]
fn step<'g>(
    main: Var<'g>,
    extra: Var<'g>,
    state: &[Var<'g>],
    x: Var<'g>,
    gold: Var<'g>,
    l: usize,
    b: usize,
) -> (Vec<Var<'g>>, Var<'g>) {
    let mut layer_input = x * row(extra, 0, b);
    let mut next = Vec::with_capacity(2 * l);
    for i in 0..l {
        let weight = row(main, 2 * i, 4 * b);
        let bias = row(main, 2 * i + 1, 4 * b);
        let (hidden, cell) = (state[2 * i], state[2 * i + 1]);
        let gate = |j: usize, v| v * part(weight, j, b) + part(bias, j, b);
        let forget = gate(0, layer_input).sigmoid();
        let ingate = gate(1, hidden).sigmoid();
        let outgate = gate(2, layer_input).sigmoid();
        let change = gate(3, hidden).tanh();
        let cell = cell * forget + ingate * change;
        let hidden = outgate * cell.tanh();
        next.push(hidden);
        next.push(cell);
        layer_input = hidden;
    }
    let ypred = layer_input * row(extra, 1, b) + row(extra, 2, b);
    let lse = (ypred.exp().sum(&[0]) + 2.0).log();
    (next, (gold * (ypred - lse)).sum(&[0]))
}

/// The module for `l` layers, `b` entries per character and `c` characters.
/// Entry parameters: `main_params, extra_params, state, sequence`.
pub(crate) fn objective(l: usize, b: usize, c: usize) -> Result<(Module, String), GradbenchError> {
    if l == 0 || b == 0 || c == 0 {
        return Err(GradbenchError::Input(
            "the LSTM needs a layer, a non-empty character encoding and a character".into(),
        ));
    }
    let graph_err = |e: &dyn std::fmt::Display| GradbenchError::Graph(e.to_string());
    let mut module = Module::new();
    let steps = c - 1;

    let body = Graph::new("lstm_step");
    let main = body.param("main_params", Type::f64(&[2 * l, 4 * b]));
    let extra = body.param("extra_params", Type::f64(&[3, b]));
    let state = body.param("state", Type::f64(&[2 * l, b]));
    let total = body.param("total", Type::f64(&[]));
    let x = body.param("x", Type::f64(&[b]));
    let gold = body.param("gold", Type::f64(&[b]));
    let rows_in: Vec<_> = (0..2 * l).map(|r| row(state, r, b)).collect();
    let (next, term) = step(main, extra, &rows_in, x, gold, l, b);
    let rows_out: Vec<_> = next.iter().map(|v| v.reshape([1, b])).collect();
    let f = body
        .finish(&[body.concat(&rows_out, 0), total + term])
        .map_err(|e| graph_err(&e))?;
    module.add(f).map_err(|e| graph_err(&e))?;

    let g = Graph::with_module("lstm", &module);
    let main = g.param("main_params", Type::f64(&[2 * l, 4 * b]));
    let extra = g.param("extra_params", Type::f64(&[3, b]));
    let state = g.param("state", Type::f64(&[2 * l, b]));
    let seq = g.param("sequence", Type::f64(&[c, b]));
    let total = g.scan(
        "lstm_step",
        steps,
        &[main, extra],
        &[state, g.zeros(Type::f64(&[]))],
        &[
            seq.slice_axis(0, 0usize, steps),
            seq.slice_axis(0, 1usize, c),
        ],
        false,
    )[1];
    let loss = -total / (steps * b) as f64;
    let f = g.finish(&[loss]).map_err(|e| graph_err(&e))?;
    module.add(f).map_err(|e| graph_err(&e))?;
    Ok((module, "lstm".into()))
}

pub(crate) fn job(function: &str, input: &Value) -> Result<Job, GradbenchError> {
    let (rows_main, cols_main, main) = matrix(input, "main_params")?;
    let (_, _, extra) = matrix(input, "extra_params")?;
    let (_, _, state) = matrix(input, "state")?;
    let (c, _, seq) = matrix(input, "sequence")?;
    let l = rows_main / 2;
    let b = cols_main / 4;
    let inputs = vec![
        tensor(&[2 * l, 4 * b], main)?,
        tensor(&[3, b], extra)?,
        tensor(&[2 * l, b], state)?,
        tensor(&[c, b], seq)?,
    ];
    let key = format!("lstm/{function}/l={l},b={b},c={c}");
    match function {
        "objective" => Ok(Job {
            key,
            hints: Hints::default(),
            build: Box::new(move || objective(l, b, c)),
            inputs,
            output: Box::new(|outs| scalar_result(&outs, 0)),
        }),
        "jacobian" => Ok(Job {
            key,
            hints: Hints::default(),
            build: Box::new(move || {
                let (m, f) = objective(l, b, c)?;
                gradient(m, &f, &[0, 1])
            }),
            inputs,
            output: Box::new(|outs| {
                let mut flat = result(&outs, 0)?.to_vec();
                flat.extend_from_slice(result(&outs, 1)?);
                Ok(list(&flat))
            }),
        }),
        _ => Err(unknown_function("lstm", function)),
    }
}
