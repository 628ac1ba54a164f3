//! The messages of the GradBench protocol and the tool's responses, as serde
//! types.
//!
//! One message and one response per line of JSON. Every message has an `id`
//! and a `kind`; the tool answers every message with a response carrying the
//! same `id`, and only `define` and `evaluate` get substantive answers. Kinds
//! this module does not know are still answered (with the bare `id`), as the
//! protocol requires. The `id` is echoed back exactly as it was received.

use serde::{Deserialize, Serialize};
use serde_json::{Number, Value};

/// A message from the eval. Fields that only some kinds carry are optional.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Message {
    /// The message's identifier, echoed in the response.
    pub id: Number,
    /// `start`, `define`, `evaluate`, `analysis`, or a kind added later.
    pub kind: String,
    /// The module (`define`, `evaluate`).
    #[serde(default)]
    pub module: Option<String>,
    /// The function of the module (`evaluate`).
    #[serde(default)]
    pub function: Option<String>,
    /// The function's input (`evaluate`); its form depends on the eval.
    #[serde(default)]
    pub input: Option<Value>,
}

/// A named duration: one subtask of answering a message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Timing {
    /// What was timed: `evaluate` for one run of the function, `build` for
    /// making (and differentiating) its graph, `optimize` for simplifying it,
    /// `compile` for preparing it to run.
    pub name: String,
    /// How long it took.
    pub nanoseconds: u128,
}

/// The tool's answer to one message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Response {
    /// The `id` of the message answered.
    pub id: Number,
    /// The tool's name (answers to `start` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool: Option<String>,
    /// How the tool is configured (answers to `start` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<Value>,
    /// Whether the module is known or the function was evaluated (answers to
    /// `define` and `evaluate` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub success: Option<bool>,
    /// The function's result (successful `evaluate` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<Value>,
    /// Subtask timings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timings: Option<Vec<Timing>>,
    /// Why the module or the evaluation failed (unsuccessful answers only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl Response {
    /// The bare acknowledgement of a message.
    pub fn ack(id: Number) -> Response {
        Response {
            id,
            tool: None,
            config: None,
            success: None,
            output: None,
            timings: None,
            error: None,
        }
    }

    /// A failed `define` or `evaluate`, with the reason.
    pub fn failure(id: Number, error: String) -> Response {
        Response {
            success: Some(false),
            error: Some(error),
            ..Response::ack(id)
        }
    }
}

/// How often to repeat an evaluation: at least `min_runs` times, and until
/// the runs took at least `min_seconds` in total. Inputs without these fields
/// (`hello`) are run once.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Runs {
    /// The fewest runs.
    pub min_runs: u64,
    /// The least total evaluation time, in seconds.
    pub min_seconds: f64,
}

impl Default for Runs {
    fn default() -> Runs {
        Runs {
            min_runs: 1,
            min_seconds: 0.0,
        }
    }
}

impl Runs {
    /// The repetition fields of an input (defaults if absent or not an object).
    pub fn of(input: &Value) -> Runs {
        let d = Runs::default();
        Runs {
            min_runs: input
                .get("min_runs")
                .and_then(Value::as_u64)
                .unwrap_or(d.min_runs),
            min_seconds: input
                .get("min_seconds")
                .and_then(Value::as_f64)
                .unwrap_or(d.min_seconds),
        }
    }

    /// Whether another run is due after `done` runs that took `elapsed`
    /// seconds in all. At least one run is always made.
    pub fn more(&self, done: u64, elapsed: f64) -> bool {
        done == 0 || done < self.min_runs || elapsed < self.min_seconds
    }
}
