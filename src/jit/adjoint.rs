//! The native reverse sweep of a loop (`scan_adjoint`): a small driver in
//! Rust, called by the generated code, that carries out the checkpoint
//! schedule and calls the compiled body (forward steps) and adjoint
//! (reverse steps) through their entries.
//!
//! The schedule is the IR's, run by [`ScheduleOn`] on a stack of snapshot
//! positions that is a slice of the workspace: a call allocates nothing.
//!
//! ## Memory
//! Everything lives in the loop's scratch region, laid out at compile time
//! by [`AdjointDesc::new`] from the *maximum* trip count, so the workspace
//! size is fixed whatever the trip count of a call:
//! - `records`: [`snapshot_bound`] + 2 *state records* of the forward
//!   carry. Record `i < bound` holds snapshot slot `i`; an advance writes
//!   its states alternately into the record of the next free slot and the
//!   last record, ending in the former, so the `Snapshot` that usually
//!   follows costs no copy. When every state fits (always under `all`),
//!   the schedule is known to keep them all and is run directly: state
//!   `s ≥ 1` in record `s − 1`, no bookkeeping, no copy;
//! - two records of the reverse carry (double-buffered, copied into the
//!   result once at the end);
//! - one row per per-step output nobody reads (the body's, and dead ones);
//! - the pointer tables passed to the callees, the schedule's stack, and
//!   the callees' own workspace.
//!
//! Invariants the driver relies on (checked when the descriptor is built):
//! offsets and sizes fit the region, each record and row is aligned to
//! [`ALIGN`], and tables have one entry per callee parameter or output.

use super::compiled::RawFn;
use super::plan::ALIGN;
use adjit_ir::checkpoint::{Action, Checkpoint, ScheduleOn, snapshot_bound};

/// Everything static about one `scan_adjoint`: counts, sizes, the policy
/// and the layout of its scratch region. Built at compile time, owned by
/// the compiled function, read by [`scan_adjoint`].
#[derive(Clone, Debug, Default)]
pub(crate) struct AdjointDesc {
    pub length: usize,
    pub reverse: bool,
    pub policy: Checkpoint,
    pub trips: bool,
    /// The states are in their records before the call (written there by
    /// the forward `scan` computing the same recurrence, see
    /// [`super::plan`]): the store-all sweep only reverses.
    pub precomputed: bool,
    pub n_consts: usize,
    /// Bytes of each forward carry.
    pub carry: Vec<usize>,
    /// Row bytes of each forward scanned input.
    pub xs: Vec<usize>,
    /// Bytes of each reverse carry.
    pub acarry: Vec<usize>,
    /// Row bytes of each reverse scanned input.
    pub axs: Vec<usize>,
    /// Row bytes of each stacked result.
    pub ays: Vec<usize>,
    /// Offsets (in the scratch region) of each carry within a state record.
    pub carry_off: Vec<usize>,
    /// Bytes of a state record.
    pub record: usize,
    /// Offsets of each reverse carry within a reverse record.
    pub acarry_off: Vec<usize>,
    /// Bytes of a reverse record.
    pub arecord: usize,
    /// Snapshot slots available (records: `slots + 2`).
    pub slots: usize,
    /// The node's pointer table (operands, then results), filled by the
    /// generated code.
    pub ptrs: usize,
    pub body_in: usize,
    pub body_out: usize,
    pub adj_in: usize,
    pub adj_out: usize,
    pub stack: usize,
    pub records: usize,
    pub arecords: usize,
    /// A row per per-step output of the body (ignored).
    pub rows: Vec<usize>,
    /// A row per stacked result (written only when the result is dead).
    pub ays_rows: Vec<usize>,
    pub callee_ws: usize,
    /// Total bytes of the scratch region.
    pub size: usize,
}

/// Sizes of the operands and results of a `scan_adjoint` node.
pub(crate) struct AdjointShape {
    pub length: usize,
    pub reverse: bool,
    pub policy: Checkpoint,
    pub trips: bool,
    pub n_consts: usize,
    pub carry: Vec<usize>,
    pub xs: Vec<usize>,
    pub acarry: Vec<usize>,
    pub axs: Vec<usize>,
    pub ays: Vec<usize>,
    pub body_ys: Vec<usize>,
    pub callee_ws: usize,
}

impl AdjointDesc {
    /// Lays out the scratch region (`None` on overflow).
    pub(crate) fn new(s: AdjointShape) -> Option<AdjointDesc> {
        let mut at = 0usize;
        let mut take = |bytes: usize, align: usize| -> Option<usize> {
            let off = at.checked_add(align - 1)? / align * align;
            at = off.checked_add(bytes)?;
            Some(off)
        };
        let table = |n: usize| n.checked_mul(8);
        let record_of = |sizes: &[usize]| -> Option<(Vec<usize>, usize)> {
            let mut offs = Vec::with_capacity(sizes.len());
            let mut r = 0usize;
            for &b in sizes {
                offs.push(r);
                r = r.checked_add(b.checked_add(ALIGN - 1)? / ALIGN * ALIGN)?;
            }
            Some((offs, r.max(ALIGN)))
        };
        let (carry_off, record) = record_of(&s.carry)?;
        let (acarry_off, arecord) = record_of(&s.acarry)?;
        let slots = snapshot_bound(s.policy, s.length);
        let nc = s.n_consts;
        let n_args = nc
            .checked_add(s.carry.len())?
            .checked_add(s.xs.len())?
            .checked_add(s.acarry.len())?
            .checked_add(s.axs.len())?
            .checked_add(usize::from(s.trips))?;
        let ptrs = take(table(n_args.checked_add(s.acarry.len() + s.ays.len())?)?, 8)?;
        let body_in = take(table(nc + s.carry.len() + s.xs.len())?, 8)?;
        let body_out = take(table(s.carry.len() + s.body_ys.len())?, 8)?;
        let adj_in = take(
            table(nc + s.acarry.len() + s.carry.len() + s.xs.len() + s.axs.len())?,
            8,
        )?;
        let adj_out = take(table(s.acarry.len() + s.ays.len())?, 8)?;
        let stack = take(table(slots.checked_add(1)?)?, 8)?;
        let records = take(record.checked_mul(slots.checked_add(2)?)?, ALIGN)?;
        let arecords = take(arecord.checked_mul(2)?, ALIGN)?;
        let mut rows = Vec::with_capacity(s.body_ys.len());
        for &b in &s.body_ys {
            rows.push(take(b.max(8), ALIGN)?);
        }
        let mut ays_rows = Vec::with_capacity(s.ays.len());
        for &b in &s.ays {
            ays_rows.push(take(b.max(8), ALIGN)?);
        }
        let callee_ws = take(s.callee_ws, ALIGN)?;
        Some(AdjointDesc {
            length: s.length,
            reverse: s.reverse,
            policy: s.policy,
            trips: s.trips,
            precomputed: false,
            n_consts: nc,
            carry: s.carry,
            xs: s.xs,
            acarry: s.acarry,
            axs: s.axs,
            ays: s.ays,
            carry_off,
            record,
            acarry_off,
            arecord,
            slots,
            ptrs,
            body_in,
            body_out,
            adj_in,
            adj_out,
            stack,
            records,
            arecords,
            rows,
            ays_rows,
            callee_ws,
            size: at,
        })
    }

    /// Operands of the node: consts, init, xs, ainit, axs, [trips].
    fn n_args(&self) -> usize {
        self.n_consts
            + self.carry.len()
            + self.xs.len()
            + self.acarry.len()
            + self.axs.len()
            + usize::from(self.trips)
    }
}

/// Where the current forward state is.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Loc {
    /// The loop's initial value (operands).
    Init,
    /// State record `i`.
    Record(usize),
}

/// The symbol of [`scan_adjoint`].
pub(crate) const SYMBOL: &str = "adjit_scan_adjoint";

/// Runs one `scan_adjoint`.
///
/// `ptrs` holds one pointer per operand of the node, then one per result
/// (null for a result nobody reads); `scratch` is the node's scratch region.
///
/// # Safety
/// `desc` must be the descriptor the calling code was generated with,
/// `ptrs` its pointer table (every pointer valid for its value's size),
/// `scratch` the region of `desc.size` bytes aligned to [`ALIGN`], and
/// `body`, `adjoint` the compiled entries of the node's callees (whose
/// workspace is inside the region).
pub(crate) unsafe extern "C" fn scan_adjoint(
    desc: *const AdjointDesc,
    ptrs: *const *mut u8,
    scratch: *mut u8,
    body: RawFn,
    adjoint: RawFn,
) {
    // SAFETY: the caller's contract: `desc` is alive (owned by the compiled
    // function being run) and `ptrs` has `n_args + results` entries.
    let d = unsafe { &*desc };
    let n_args = d.n_args();
    let n_results = d.acarry.len() + d.ays.len();
    // SAFETY: as above.
    let ptrs = unsafe { std::slice::from_raw_parts(ptrs, n_args + n_results) };
    let (args, results) = ptrs.split_at(n_args);
    // SAFETY: the caller's contract (the region is `d.size` bytes; every
    // offset below was laid out inside it by `AdjointDesc::new`).
    unsafe { run(d, args, results, scratch, body, adjoint) }
}

/// The body of [`scan_adjoint`].
///
/// # Safety
/// As [`scan_adjoint`].
unsafe fn run(
    d: &AdjointDesc,
    args: &[*mut u8],
    results: &[*mut u8],
    scratch: *mut u8,
    body: RawFn,
    adjoint: RawFn,
) {
    let (nc, nk, nx, na) = (d.n_consts, d.carry.len(), d.xs.len(), d.acarry.len());
    let consts = &args[..nc];
    let init = &args[nc..nc + nk];
    let xs = &args[nc + nk..nc + nk + nx];
    let ainit = &args[nc + nk + nx..nc + nk + nx + na];
    let axs = &args[nc + nk + nx + na..nc + nk + nx + na + d.axs.len()];
    let n = if d.trips {
        // SAFETY: the trip count operand is an i64 scalar.
        let t = unsafe { *(args[args.len() - 1] as *const i64) };
        usize::try_from(t.max(0))
            .unwrap_or(usize::MAX)
            .min(d.length)
    } else {
        d.length
    };
    // SAFETY (for every `at` below): offsets are inside the region.
    let at = |off: usize| unsafe { scratch.add(off) };
    let table = |off: usize| at(off).cast::<*mut u8>();
    let set = |tab: *mut *mut u8, i: usize, p: *mut u8| {
        // SAFETY: `i` is below the table's entry count (laid out for it).
        unsafe { tab.add(i).write(p) }
    };
    let (body_in, body_out) = (table(d.body_in), table(d.body_out));
    let (adj_in, adj_out) = (table(d.adj_in), table(d.adj_out));
    let cws = at(d.callee_ws);
    for (i, &c) in consts.iter().enumerate() {
        set(body_in, i, c);
        set(adj_in, i, c);
    }
    for (j, &off) in d.rows.iter().enumerate() {
        set(body_out, nk + j, at(off));
    }
    // Rows no reverse step writes are zero.
    for (j, &r) in results[na..].iter().enumerate() {
        if !r.is_null() {
            // SAFETY: a stacked result has `length` rows of `ays[j]` bytes.
            unsafe { std::ptr::write_bytes(r, 0, d.ays[j] * d.length) };
        }
    }
    let record = |i: usize, c: usize| at(d.records + i * d.record + d.carry_off[c]);
    let state = |loc: Loc, c: usize| match loc {
        Loc::Init => init[c],
        Loc::Record(i) => record(i, c),
    };
    let arecord = |i: usize, c: usize| at(d.arecords + i * d.arecord + d.acarry_off[c]);
    let row = |x: &[*mut u8], sizes: &[usize], j: usize, t: usize| {
        // SAFETY: `t < length` and the operand has `length` rows.
        unsafe { x[j].add(t * sizes[j]) }
    };
    let index = |s: usize| if d.reverse { d.length - 1 - s } else { s };
    // SAFETY: the stack holds `slots + 1` entries.
    let stack =
        unsafe { std::slice::from_raw_parts_mut(table(d.stack).cast::<usize>(), d.slots + 1) };
    // One forward step `s` from state `from` into `to`.
    let advance = |s: usize, from: Loc, to: Loc| {
        let t = index(s);
        for c in 0..nk {
            set(body_in, nc + c, state(from, c));
            set(body_out, c, state(to, c));
        }
        for j in 0..nx {
            set(body_in, nc + nk + j, row(xs, &d.xs, j, t));
        }
        // SAFETY: the tables, buffers and workspace follow the body's ABI;
        // outputs never alias its inputs.
        unsafe { body(body_in.cast_const().cast(), body_out.cast_const(), cws) };
    };
    // The reverse step `step` from the forward state at `from`; `acur` is
    // the reverse record holding the reverse carry (`None`: the initial one).
    let reverse = |step: usize, from: Loc, acur: &mut Option<usize>| {
        let t = index(step);
        let next = acur.map_or(0, |i| 1 - i);
        for (c, &first) in ainit.iter().enumerate() {
            let a = match *acur {
                Some(i) => arecord(i, c),
                None => first,
            };
            set(adj_in, nc + c, a);
            set(adj_out, c, arecord(next, c));
        }
        for c in 0..nk {
            set(adj_in, nc + na + c, state(from, c));
        }
        for j in 0..nx {
            set(adj_in, nc + na + nk + j, row(xs, &d.xs, j, t));
        }
        for j in 0..d.axs.len() {
            set(adj_in, nc + na + nk + nx + j, row(axs, &d.axs, j, t));
        }
        for (j, &r) in results[na..].iter().enumerate() {
            let p = if r.is_null() {
                at(d.ays_rows[j])
            } else {
                row(&results[na..], &d.ays, j, t)
            };
            set(adj_out, na + j, p);
        }
        // SAFETY: as for the body.
        unsafe { adjoint(adj_in.cast_const().cast(), adj_out.cast_const(), cws) };
        *acur = Some(next);
    };
    let mut acur: Option<usize> = None;
    if n <= d.slots + 1 {
        // Every state fits (always so under `all`): the schedule would keep
        // them all, so run it directly, state `s ≥ 1` in record `s − 1`.
        // The same body calls on the same states: the same results.
        let at_position = |s: usize| {
            if s == 0 {
                Loc::Init
            } else {
                Loc::Record(s - 1)
            }
        };
        if !d.precomputed {
            for s in 0..n.saturating_sub(1) {
                advance(s, at_position(s), at_position(s + 1));
            }
        }
        for s in (0..n).rev() {
            reverse(s, at_position(s), &mut acur);
        }
    } else {
        let mut sched = ScheduleOn::new(n, d.policy, &mut stack[..d.slots]);
        let spare = d.slots + 1;
        let mut current = Loc::Init;
        while let Some(action) = sched.next() {
            match action {
                Action::Snapshot { slot, .. } => {
                    if current != Loc::Record(slot) {
                        for (c, &bytes) in d.carry.iter().enumerate() {
                            // SAFETY: distinct records (or the initial
                            // value) of `bytes` bytes.
                            unsafe {
                                std::ptr::copy_nonoverlapping(
                                    state(current, c),
                                    record(slot, c),
                                    bytes,
                                )
                            };
                        }
                    }
                    current = Loc::Record(slot);
                }
                Action::Restore { slot, .. } => current = Loc::Record(slot),
                Action::Advance { from, steps } => {
                    // States go alternately to the next free slot's record
                    // (`held()` slots are in use) and the spare one, the last
                    // into the former: the usual next action snapshots it
                    // there.
                    let free = sched.held();
                    for k in 0..steps {
                        let out = if (steps - 1 - k).is_multiple_of(2) {
                            Loc::Record(free)
                        } else {
                            Loc::Record(spare)
                        };
                        advance(from + k, current, out);
                        current = out;
                    }
                }
                Action::Reverse { step } => reverse(step, current, &mut acur),
            }
        }
    }
    for (c, &r) in results[..na].iter().enumerate() {
        if r.is_null() {
            continue;
        }
        let src = match acur {
            Some(i) => arecord(i, c),
            None => ainit[c],
        };
        // SAFETY: the result and the final reverse carry are distinct
        // buffers of `acarry[c]` bytes.
        unsafe { std::ptr::copy_nonoverlapping(src, r, d.acarry[c]) };
    }
}
