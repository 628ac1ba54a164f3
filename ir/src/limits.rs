//! [`Limits`]: the one set of bounds on what evaluating a program may use —
//! element counts, bytes, call depth and workspace — shared by the
//! interpreter, the JIT, the verifier's call-depth rule and the tools that
//! build inputs (generated inputs, `.npy` and command-line readers).
//!
//! The defaults are what every entry point uses unless given others
//! ([`crate::interp::Interpreter::with_limits`], the JIT's `Options`, the
//! command line's `--max-bytes`, `--max-elements` and `--max-call-depth`).
//! Exceeding a limit is an error naming the value and its size, reported
//! before anything is allocated.
//!
//! The workspace budget also chooses checkpointing: a loop without an
//! explicit policy (`all` is the default) keeps every state when its trip
//! count times its state size fits [`Limits::max_workspace_bytes`], and
//! otherwise binomial checkpointing with as many snapshots as fit
//! ([`Limits::loop_policy`]). The JIT decides when it compiles the loop
//! (from a `scan`'s length or a `while`'s `max`: its workspace is fixed),
//! the interpreter from the trip count the loop actually ran; either way
//! the derivative is the same bit for bit.

use crate::checkpoint::Checkpoint;
use crate::function::Module;
use std::collections::HashMap;

/// Bounds on what one evaluation may allocate and how deeply it may call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// The most elements one tensor may have, and the most steps a `scan`
    /// may run (its stacked axis). Default 2³¹.
    pub max_elements: usize,
    /// The most bytes of buffers alive at once: the interpreter's own
    /// buffers, a compiled function's workspace, a generated or read input.
    /// Inputs given by a caller are not counted. Default 16 GiB.
    pub max_live_bytes: usize,
    /// The most functions active at once (the entry function counts as
    /// one), in every backend and in every transform; the verifier rejects
    /// deeper call graphs. Default 256.
    pub max_call_depth: usize,
    /// The most bytes a loop's reverse sweep keeps for its states before
    /// the default policy checkpoints binomially (see
    /// [`Limits::loop_policy`]). Default 256 MiB.
    pub max_workspace_bytes: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_elements: 1 << 31,
            max_live_bytes: 1 << 34,
            max_call_depth: 256,
            max_workspace_bytes: 1 << 28,
        }
    }
}

impl Limits {
    /// The checkpoint policy a loop's reverse sweep runs under: an explicit
    /// `every` or `binomial` as given; for `all` (the default), every state
    /// when `steps` states of `state_bytes` each fit the workspace budget,
    /// otherwise binomial checkpointing with as many snapshots as fit (at
    /// least one). With at least `steps − 1` snapshots binomial keeps every
    /// state, so a `while` whose `max` is huge but which runs few trips is
    /// reversed at store-all speed.
    pub fn loop_policy(&self, policy: Checkpoint, steps: usize, state_bytes: usize) -> Checkpoint {
        if policy != Checkpoint::All {
            return policy;
        }
        let state = state_bytes.max(1);
        let fits = self.max_workspace_bytes / state;
        if steps.saturating_sub(1) <= fits {
            Checkpoint::All
        } else {
            Checkpoint::Binomial(u64::try_from(fits.max(1)).unwrap_or(u64::MAX))
        }
    }

    /// Checks `bytes` against [`Limits::max_live_bytes`]; the error names
    /// `what`.
    pub fn check_bytes(&self, what: &str, bytes: usize) -> Result<(), String> {
        if bytes > self.max_live_bytes {
            Err(format!(
                "{what} needs {bytes} bytes, more than the limit of {}",
                self.max_live_bytes
            ))
        } else {
            Ok(())
        }
    }

    /// The element count of `shape` if it is within
    /// [`Limits::max_elements`] and its `elem_bytes`-byte elements within
    /// [`Limits::max_live_bytes`]; otherwise an error naming `what`.
    pub fn check_shape(
        &self,
        what: &str,
        shape: &[usize],
        elem_bytes: usize,
    ) -> Result<usize, String> {
        let count = shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d));
        match count {
            Some(n) if n <= self.max_elements => {
                let bytes = n.saturating_mul(elem_bytes);
                self.check_bytes(what, bytes)?;
                Ok(n)
            }
            _ => Err(format!(
                "{what} of shape {shape:?} has more than {} elements",
                self.max_elements
            )),
        }
    }
}

/// The deepest call nesting of each function of `module`: the number of
/// functions on the longest chain of calls (`call`, loop bodies and
/// conditions) starting at it, itself included. Computed without recursion;
/// a function on a cycle counts as `usize::MAX` (the verifier reports the
/// cycle).
pub fn call_depths(module: &Module) -> HashMap<&str, usize> {
    let funcs = module.functions();
    let index: HashMap<&str, usize> = funcs
        .iter()
        .enumerate()
        .map(|(i, f)| (f.name(), i))
        .collect();
    let edges: Vec<Vec<usize>> = funcs
        .iter()
        .map(|f| {
            f.nodes()
                .iter()
                .flat_map(|n| n.op.callees())
                .filter_map(|c| index.get(&**c).copied())
                .collect()
        })
        .collect();
    // 0: not visited; usize::MAX - 1: on the stack; otherwise depth.
    const OPEN: usize = usize::MAX - 1;
    let mut depth = vec![0usize; funcs.len()];
    for start in 0..funcs.len() {
        if depth[start] != 0 {
            continue;
        }
        let mut stack: Vec<(usize, usize)> = vec![(start, 0)];
        depth[start] = OPEN;
        while let Some(&mut (u, ref mut next)) = stack.last_mut() {
            if let Some(&w) = edges[u].get(*next) {
                *next += 1;
                if depth[w] == 0 {
                    depth[w] = OPEN;
                    stack.push((w, 0));
                }
                continue;
            }
            stack.pop();
            let mut d = 1usize;
            for &w in &edges[u] {
                d = d.max(match depth[w] {
                    OPEN | usize::MAX => usize::MAX,
                    k => k.saturating_add(1),
                });
            }
            depth[u] = d;
        }
    }
    funcs
        .iter()
        .zip(depth)
        .map(|(f, d)| (f.name(), if d == OPEN { usize::MAX } else { d }))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_policy_keeps_every_state_that_fits() {
        let l = Limits {
            max_workspace_bytes: 1000,
            ..Limits::default()
        };
        assert_eq!(l.loop_policy(Checkpoint::All, 11, 100), Checkpoint::All);
        assert_eq!(
            l.loop_policy(Checkpoint::All, 12, 100),
            Checkpoint::Binomial(10)
        );
        assert_eq!(
            l.loop_policy(Checkpoint::All, 1 << 40, 1 << 20),
            Checkpoint::Binomial(1)
        );
        assert_eq!(
            l.loop_policy(Checkpoint::Every(3), 1 << 40, 1 << 20),
            Checkpoint::Every(3)
        );
    }

    #[test]
    fn shapes_are_checked_without_overflow() {
        let l = Limits::default();
        assert!(l.check_shape("%x", &[usize::MAX, 2], 8).is_err());
        assert!(l.check_shape("%x", &[1 << 30, 4], 8).is_err());
        assert_eq!(l.check_shape("%x", &[3, 4], 8), Ok(12));
    }
}
