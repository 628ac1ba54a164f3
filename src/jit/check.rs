//! The checker of the JIT's own structures, run after planning in debug
//! builds and tests (and whenever [`Options::verify`](super::Options) is
//! on), as Cranelift runs its verifier: a failure is a bug of the JIT,
//! reported as [`CompileError::Internal`] instead of becoming wrong code.
//!
//! It re-derives liveness from the finished plan, independently of how the
//! planner placed things, and checks:
//! - **Order.** Every value a step reads is a parameter, a constant, or
//!   written by an earlier step; no value is written twice.
//! - **Storage.** Every materialised tensor a step touches has storage;
//!   workspace buffers, loop scratch regions and scalar slots lie inside
//!   the workspace, buffers and scratch regions aligned to
//!   [`ALIGN`](super::plan::ALIGN).
//! - **No overlap.** Workspace buffers and loop scratch regions live at the
//!   same time (inclusive step intervals, so a step's results never share
//!   memory with its operands) occupy disjoint bytes; so do scalar slots
//!   live at the same time, and slots never overlap a buffer or a region.
//!   The records a forward `scan` writes for a later reverse sweep lie in
//!   that sweep's region, which is live from the scan on.
//! - **Chunks.** The chunks cover the steps in order, without gaps; a
//!   rank-0 value read in another chunk than the one computing it has a
//!   slot.

use super::error::CompileError;
use super::flat::{Def, Flat};
use super::fusion::{Class, Fusion};
use super::plan::{ALIGN, Plan, Step, Storage};

fn bug(msg: String) -> CompileError {
    CompileError::Internal(format!("plan check: {msg}"))
}

/// A byte range of the workspace and the steps it is live in.
struct Region {
    what: String,
    start: usize,
    end: usize,
    first: usize,
    last: usize,
}

/// Checks the plan of one program (see the module docs).
pub(crate) fn check_plan(flat: &Flat, fusion: &Fusion, plan: &Plan) -> Result<(), CompileError> {
    let n = flat.vals.len();
    let nsteps = plan.steps.len();

    // Chunks cover the steps in order.
    let mut at = 0;
    for c in &plan.chunks {
        if c.start != at || c.end < c.start {
            return Err(bug(format!("chunk {c:?} does not start at step {at}")));
        }
        at = c.end;
    }
    if at != nsteps {
        return Err(bug(format!("chunks end at {at}, not at step {nsteps}")));
    }
    let mut chunk_of = vec![0usize; nsteps];
    for (ci, c) in plan.chunks.iter().enumerate() {
        for s in c.clone() {
            chunk_of[s] = ci;
        }
    }

    // Writes first, then reads after them.
    let mut def: Vec<Option<usize>> = vec![None; n];
    let mut last: Vec<Option<usize>> = vec![None; n];
    for &p in &flat.params {
        def[p as usize] = Some(0);
    }
    for (si, step) in plan.steps.iter().enumerate() {
        for v in step.reads(flat) {
            let vi = v as usize;
            let from_param = matches!(flat.vals[vi].def, Def::Param(_));
            let is_const = matches!(plan.storage[vi], Storage::Const(_));
            let written_before = def[vi].is_some_and(|d| d < si);
            if !(written_before || from_param || is_const) {
                return Err(bug(format!("step {si} reads v{v} before it is written")));
            }
            if flat.vals[vi].rank() > 0 && plan.storage[vi] == Storage::None {
                return Err(bug(format!("step {si} reads v{v}, which has no storage")));
            }
            if flat.vals[vi].rank() == 0
                && !from_param
                && let Some(d) = def[vi]
                && chunk_of[d] != chunk_of[si]
                && !plan.slot.contains_key(&v)
            {
                return Err(bug(format!(
                    "step {si} reads v{v} from another function without a slot"
                )));
            }
            last[vi] = Some(last[vi].map_or(si, |l| l.max(si)));
        }
        for v in step.writes(flat, fusion) {
            let vi = v as usize;
            if def[vi].is_some() {
                return Err(bug(format!("step {si} writes v{v} a second time")));
            }
            if flat.vals[vi].rank() > 0 && plan.storage[vi] == Storage::None {
                return Err(bug(format!("step {si} writes v{v}, which has no storage")));
            }
            def[vi] = Some(si);
        }
    }

    // Workspace regions: buffers and loop scratch.
    let mut regions = Vec::new();
    for v in 0..n {
        let Storage::Workspace(off) = plan.storage[v] else {
            continue;
        };
        let Some(first) = def[v] else {
            return Err(bug(format!("workspace buffer v{v} is never written")));
        };
        if off % ALIGN != 0 {
            return Err(bug(format!(
                "workspace buffer v{v} at {off} is not aligned"
            )));
        }
        let bytes = flat.vals[v].len * flat.vals[v].elem.byte_size();
        regions.push(Region {
            what: format!("buffer v{v}"),
            start: off,
            end: off + bytes,
            first,
            last: last[v].unwrap_or(first).max(first),
        });
    }
    let mut scratch_of: Vec<Option<usize>> = vec![None; nsteps];
    for (si, step) in plan.steps.iter().enumerate() {
        if let Step::Loop(l) = step {
            if l.scratch % ALIGN != 0 {
                return Err(bug(format!("scratch of step {si} is not aligned")));
            }
            scratch_of[si] = Some(regions.len());
            regions.push(Region {
                what: format!("scratch of step {si}"),
                start: l.scratch,
                end: l.scratch + l.layout.size,
                first: si,
                last: si,
            });
        }
    }
    // Records written ahead for a later reverse sweep: inside its region,
    // which is then live from the writing step on.
    for (si, step) in plan.steps.iter().enumerate() {
        let Step::Loop(l) = step else { continue };
        let Some(r) = &l.record_into else { continue };
        let owner = (si + 1..nsteps).find(|&ai| {
            scratch_of[ai].is_some_and(|ri| {
                let reg = &regions[ri];
                reg.start <= r.base && r.base < reg.end.max(reg.start + 1)
            })
        });
        let Some(ai) = owner else {
            return Err(bug(format!(
                "step {si} records states outside any later loop's scratch"
            )));
        };
        if let Some(ri) = scratch_of[ai] {
            regions[ri].first = regions[ri].first.min(si);
        }
    }
    for r in &regions {
        if r.end > plan.workspace_size {
            return Err(bug(format!(
                "{} ends at {}, past the workspace ({} bytes)",
                r.what, r.end, plan.workspace_size
            )));
        }
    }
    overlaps(&regions)?;

    // Scalar slots: after every region, inside the workspace, disjoint
    // while live.
    let top = regions.iter().map(|r| r.end).max().unwrap_or(0);
    let mut slots = Vec::new();
    for (&v, &off) in &plan.slot {
        let vi = v as usize;
        if fusion.class[vi] != Class::Scalar {
            return Err(bug(format!("v{v} has a scalar slot but is not a scalar")));
        }
        if off < top || off + 8 > plan.workspace_size || off % 8 != 0 {
            return Err(bug(format!("the slot of v{v} at {off} is misplaced")));
        }
        let first = def[vi].unwrap_or(0);
        slots.push(Region {
            what: format!("slot of v{v}"),
            start: off,
            end: off + 8,
            first,
            last: last[vi].unwrap_or(first).max(first),
        });
    }
    overlaps(&slots)
}

/// Fails if two regions live at the same time share a byte.
fn overlaps(regions: &[Region]) -> Result<(), CompileError> {
    let mut order: Vec<&Region> = regions.iter().filter(|r| r.end > r.start).collect();
    order.sort_by_key(|r| (r.first, r.start));
    for (i, a) in order.iter().enumerate() {
        for b in &order[i + 1..] {
            if b.first > a.last {
                break;
            }
            if a.start < b.end && b.start < a.end {
                return Err(bug(format!(
                    "{} [{}, {}) and {} [{}, {}) overlap while both are live",
                    a.what, a.start, a.end, b.what, b.start, b.end
                )));
            }
        }
    }
    Ok(())
}
