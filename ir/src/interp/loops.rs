//! The state of a `call`, `scan`, `while` or `scan_adjoint` node waiting for
//! a callee.
//!
//! Loops never recurse: the frame machine in [`super::machine`] runs each
//! callee as a frame on its own stack and hands the callee's outputs back to
//! the waiting node's state here, which says which callee to run next or that
//! the node is done. Loop-invariant operands are shared (reference-counted),
//! never copied per step; carried state is moved into each step, so a body can
//! overwrite its carry in place.
//!
//! A `scan_adjoint` executes its [`Schedule`] action by action: a snapshot
//! shares the current state's buffers (no copy), a restore shares them back,
//! and a snapshot is dropped as soon as the reverse sweep has passed it, so
//! the states alive at once are exactly those the schedule holds plus the
//! current one — which the memory meter observes.

use super::buf::{Buf, Elt, Fault, Meter, Val, for_elem, malformed, typed};
use crate::checkpoint::{Action, Checkpoint, Schedule};
use crate::tensor::Data;
use std::rc::Rc;

/// What a node is waiting for.
pub(super) enum Wait<'a> {
    /// A `call`: the callee's outputs are the node's results.
    Call,
    /// A `scan` between steps.
    Scan(Box<ScanState<'a>>),
    /// A `while` between a condition and a body.
    While(Box<WhileState<'a>>),
    /// A `scan_adjoint` between steps.
    Adjoint(Box<AdjointState<'a>>),
}

/// A running `scan`.
pub(super) struct ScanState<'a> {
    /// The body's function index.
    pub(super) body: usize,
    length: usize,
    reverse: bool,
    /// Steps finished.
    done: usize,
    consts: Vec<Val<'a>>,
    carry: Vec<Val<'a>>,
    n_carry: usize,
    xs: Vec<Val<'a>>,
    n_ys: usize,
    /// The stacked per-step outputs, allocated when the first step returns.
    ys: Option<Vec<Buf>>,
}

impl<'a> ScanState<'a> {
    /// Splits the operands; `n_results` is the node's result count.
    pub(super) fn new(
        body: usize,
        length: usize,
        reverse: bool,
        (n_consts, n_carry, n_results): (usize, usize, usize),
        mut vals: Vec<Val<'a>>,
    ) -> Result<ScanState<'a>, Fault> {
        if n_consts.checked_add(n_carry).is_none_or(|k| k > vals.len()) || n_results < n_carry {
            return Err(malformed(format!(
                "{n_consts} consts and {n_carry} carries with {} operands and {n_results} results",
                vals.len()
            )));
        }
        let xs = vals.split_off(n_consts + n_carry);
        let carry = vals.split_off(n_consts);
        for (i, x) in xs.iter().enumerate() {
            if x.shape().first() != Some(&length) {
                return Err(malformed(format!(
                    "xs operand {i} of shape {:?} must have leading axis of size {length}",
                    x.shape()
                )));
            }
        }
        Ok(ScanState {
            body,
            length,
            reverse,
            done: 0,
            consts: vals,
            carry,
            n_carry,
            xs,
            n_ys: n_results - n_carry,
            ys: None,
        })
    }

    /// Whether every step has run.
    pub(super) fn finished(&self) -> bool {
        self.done >= self.length
    }

    /// The index of the step about to run (or that just ran).
    fn t(&self) -> usize {
        if self.reverse {
            self.length - 1 - self.done
        } else {
            self.done
        }
    }

    /// The body's arguments for the next step: consts, carry, then `x_t`.
    pub(super) fn step_args(&mut self, m: &Rc<Meter>) -> Result<Vec<Val<'a>>, Fault> {
        let t = self.t();
        let mut args = self.consts.clone();
        args.append(&mut self.carry);
        for x in &self.xs {
            args.push(Val::held(row(m, x, t)?));
        }
        Ok(args)
    }

    /// Takes one step's outputs: the new carry, and `y_t` stored at index `t`.
    pub(super) fn absorb(&mut self, m: &Rc<Meter>, outs: Vec<Val<'a>>) -> Result<(), Fault> {
        if outs.len() != self.n_carry + self.n_ys {
            return Err(malformed(format!(
                "body returned {} values, expected {} carries and {} per-step outputs",
                outs.len(),
                self.n_carry,
                self.n_ys
            )));
        }
        let t = self.t();
        let mut outs = outs;
        let ys_now = outs.split_off(self.n_carry);
        self.carry = outs;
        if self.ys.is_none() {
            let mut bufs = Vec::with_capacity(ys_now.len());
            for y in &ys_now {
                let mut shape = vec![self.length];
                shape.extend_from_slice(y.shape());
                let n = m.count(&shape)?;
                let data = for_elem!(y.elem(), T => T::wrap(m.filled(n, T::default())?));
                bufs.push(Buf::new(m, shape, data));
            }
            self.ys = Some(bufs);
        }
        for (buf, y) in self.ys.iter_mut().flatten().zip(&ys_now) {
            if buf.shape[1..] != *y.shape() || buf.data.elem() != y.elem() {
                return Err(malformed(format!(
                    "per-step output changes type between steps: {}{:?}, then {}{:?}",
                    buf.data.elem(),
                    &buf.shape[1..],
                    y.elem(),
                    y.shape()
                )));
            }
            write_row(&mut buf.data, t, y.data())?;
        }
        self.done += 1;
        Ok(())
    }

    /// The node's results: final carry, then the stacked outputs.
    pub(super) fn finish(self) -> Vec<Val<'a>> {
        let mut out = self.carry;
        out.extend(self.ys.into_iter().flatten().map(Val::held));
        out
    }
}

/// Row `t` (along axis 0) of `x`, as a new buffer.
fn row(m: &Rc<Meter>, x: &Val<'_>, t: usize) -> Result<Buf, Fault> {
    let shape = x.shape()[1..].to_vec();
    let len = m.count(&shape)?;
    let data = for_elem!(x.elem(), T => {
        let src = typed::<T>(x.data())?;
        let start = t.checked_mul(len).filter(|s| s + len <= src.len());
        let Some(start) = start else {
            return Err(malformed("scan row outside its operand"));
        };
        let mut out = m.alloc(len)?;
        out.extend_from_slice(&src[start..start + len]);
        T::wrap(out)
    });
    Ok(Buf::new(m, shape, data))
}

/// Copies `src` over row `t` of `dst` (rows of `src.len()` elements).
fn write_row(dst: &mut Data, t: usize, src: &Data) -> Result<(), Fault> {
    for_elem!(src.elem(), T => {
        let src = typed::<T>(src)?;
        let len = src.len();
        let dst = T::slice_mut(dst).ok_or_else(|| malformed("per-step output changes type"))?;
        let slot = t
            .checked_mul(len)
            .and_then(|s| dst.get_mut(s..s.checked_add(len)?))
            .ok_or_else(|| malformed("per-step output outside its stack"))?;
        slot.copy_from_slice(src);
    });
    Ok(())
}

/// A running `while`.
pub(super) struct WhileState<'a> {
    cond: usize,
    body: usize,
    max_trips: usize,
    trips: usize,
    consts: Vec<Val<'a>>,
    state: Vec<Val<'a>>,
    n_state: usize,
    in_body: bool,
}

/// The callee to run next, with its arguments.
pub(super) type Callee<'a> = (usize, Vec<Val<'a>>);

impl<'a> WhileState<'a> {
    /// Splits the operands into consts and initial state.
    pub(super) fn new(
        (cond, body): (usize, usize),
        max_trips: usize,
        n_consts: usize,
        mut vals: Vec<Val<'a>>,
    ) -> Result<WhileState<'a>, Fault> {
        if n_consts > vals.len() {
            return Err(malformed(format!(
                "{n_consts} consts but only {} operands",
                vals.len()
            )));
        }
        let state = vals.split_off(n_consts);
        Ok(WhileState {
            cond,
            body,
            max_trips,
            trips: 0,
            consts: vals,
            n_state: state.len(),
            state,
            in_body: false,
        })
    }

    /// The condition, unless `max_trips` steps have run.
    pub(super) fn next_cond(&mut self) -> Option<Callee<'a>> {
        if self.trips >= self.max_trips {
            return None;
        }
        let mut args = self.consts.clone();
        args.extend(self.state.iter().cloned());
        self.in_body = false;
        Some((self.cond, args))
    }

    /// Takes a callee's outputs; returns the next callee, or `None` when done.
    pub(super) fn resume(&mut self, mut outs: Vec<Val<'a>>) -> Result<Option<Callee<'a>>, Fault> {
        if self.in_body {
            if outs.len() != self.n_state {
                return Err(malformed(format!(
                    "body returned {} values for a state of {}",
                    outs.len(),
                    self.n_state
                )));
            }
            self.state = outs;
            self.trips += 1;
            return Ok(self.next_cond());
        }
        let go = match (outs.pop(), outs.is_empty()) {
            (Some(v), true) if v.shape().is_empty() => match v.data() {
                Data::Bool(b) => b.first().copied(),
                _ => None,
            },
            _ => None,
        };
        let Some(go) = go else {
            return Err(malformed("condition must return one bool scalar"));
        };
        if !go {
            return Ok(None);
        }
        let mut args = self.consts.clone();
        args.append(&mut self.state);
        self.in_body = true;
        Ok(Some((self.body, args)))
    }

    /// The node's results: the final state, then the trip count.
    pub(super) fn finish(self, m: &Rc<Meter>) -> Result<Vec<Val<'a>>, Fault> {
        let trips = i64::try_from(self.trips).unwrap_or(i64::MAX);
        let mut out = self.state;
        out.push(Val::held(Buf::new(
            m,
            Vec::new(),
            Data::I64(m.filled(1, trips)?),
        )));
        Ok(out)
    }
}

/// Which callee a `scan_adjoint` is waiting for.
#[derive(Clone, Copy)]
enum Running {
    /// Nothing yet.
    Idle,
    /// A forward step.
    Body,
    /// The reverse step that writes row `t`.
    Adjoint(usize),
}

/// The operands of a `scan_adjoint`, split by role.
pub(super) struct AdjointOperands<'a> {
    /// Loop-invariant operands.
    pub(super) consts: Vec<Val<'a>>,
    /// The forward carry's initial value.
    pub(super) init: Vec<Val<'a>>,
    /// The forward scanned inputs.
    pub(super) xs: Vec<Val<'a>>,
    /// The reverse sweep's initial carry.
    pub(super) ainit: Vec<Val<'a>>,
    /// The reverse sweep's scanned inputs.
    pub(super) axs: Vec<Val<'a>>,
}

/// A running `scan_adjoint`.
pub(super) struct AdjointState<'a> {
    body: usize,
    adjoint: usize,
    length: usize,
    reverse: bool,
    schedule: Schedule,
    consts: Vec<Val<'a>>,
    xs: Vec<Val<'a>>,
    axs: Vec<Val<'a>>,
    n_carry: usize,
    /// Snapshots held, by slot, with the positions of their states.
    slots: Vec<(usize, Vec<Val<'a>>)>,
    /// The current state and its position, if there is one.
    current: Option<(usize, Vec<Val<'a>>)>,
    /// Forward steps left of the advance under way.
    advancing: usize,
    /// The reverse sweep's carry (moved out while a reverse step runs).
    acarry: Vec<Val<'a>>,
    n_acarry: usize,
    /// The stacked per-step outputs of the reverse steps (zero where no step
    /// writes).
    ays: Vec<Buf>,
    running: Running,
}

impl<'a> AdjointState<'a> {
    /// A reverse sweep of `n ≤ length` steps; `ays` are the zero stacks of
    /// the per-step outputs.
    pub(super) fn new(
        (body, adjoint): (usize, usize),
        (length, n, reverse): (usize, usize, bool),
        checkpoint: Checkpoint,
        ops: AdjointOperands<'a>,
        ays: Vec<Buf>,
    ) -> Result<AdjointState<'a>, Fault> {
        for (i, x) in ops.xs.iter().chain(&ops.axs).enumerate() {
            if x.shape().first() != Some(&length) {
                return Err(malformed(format!(
                    "scanned operand {i} of shape {:?} must have leading axis of size {length}",
                    x.shape()
                )));
            }
        }
        let schedule = Schedule::new(n.min(length), checkpoint).map_err(|e| malformed(e.0))?;
        Ok(AdjointState {
            body,
            adjoint,
            length,
            reverse,
            schedule,
            consts: ops.consts,
            xs: ops.xs,
            axs: ops.axs,
            n_carry: ops.init.len(),
            slots: Vec::new(),
            current: Some((0, ops.init)),
            advancing: 0,
            n_acarry: ops.ainit.len(),
            acarry: ops.ainit,
            ays,
            running: Running::Idle,
        })
    }

    /// The row of the scanned operands that step `s` uses.
    fn index(&self, s: usize) -> usize {
        if self.reverse { self.length - 1 - s } else { s }
    }

    /// Carries out the schedule up to the next callee to run, or `None` when
    /// the sweep is done.
    pub(super) fn next_call(&mut self, m: &Rc<Meter>) -> Result<Option<Callee<'a>>, Fault> {
        let lost = || malformed("the schedule lost the current state");
        loop {
            if self.advancing > 0 {
                let (s, state) = self.current.take().ok_or_else(lost)?;
                let t = self.index(s);
                let mut args = self.consts.clone();
                args.extend(state);
                for x in &self.xs {
                    args.push(Val::held(row(m, x, t)?));
                }
                self.current = Some((s, Vec::new()));
                self.running = Running::Body;
                return Ok(Some((self.body, args)));
            }
            let Some(action) = self.schedule.next() else {
                return Ok(None);
            };
            match action {
                Action::Snapshot { slot, position } => {
                    let state = match &self.current {
                        Some((p, state)) if *p == position => state.clone(),
                        _ => return Err(lost()),
                    };
                    self.slots.truncate(slot);
                    self.slots.push((position, state));
                }
                Action::Restore { slot, position } => {
                    let state = match self.slots.get(slot) {
                        Some((p, state)) if *p == position => state.clone(),
                        _ => return Err(malformed("the schedule restores an empty slot")),
                    };
                    self.slots.truncate(slot + 1);
                    self.current = Some((position, state));
                }
                Action::Advance { steps, .. } => self.advancing = steps,
                Action::Reverse { step } => {
                    let state = match self.current.take() {
                        Some((p, state)) if p == step => state,
                        _ => return Err(lost()),
                    };
                    // Snapshots at or past this step are never needed again.
                    while self.slots.last().is_some_and(|(p, _)| *p >= step) {
                        self.slots.pop();
                    }
                    let t = self.index(step);
                    let mut args = self.consts.clone();
                    args.append(&mut self.acarry);
                    args.extend(state);
                    for x in self.xs.iter().chain(&self.axs) {
                        args.push(Val::held(row(m, x, t)?));
                    }
                    self.running = Running::Adjoint(t);
                    return Ok(Some((self.adjoint, args)));
                }
            }
        }
    }

    /// Takes a callee's outputs.
    pub(super) fn absorb(&mut self, outs: Vec<Val<'a>>) -> Result<(), Fault> {
        match std::mem::replace(&mut self.running, Running::Idle) {
            Running::Idle => Err(malformed("a callee returned to an idle scan_adjoint")),
            Running::Body => {
                let mut outs = outs;
                if outs.len() < self.n_carry {
                    return Err(malformed(format!(
                        "body returned {} values for a carry of {}",
                        outs.len(),
                        self.n_carry
                    )));
                }
                outs.truncate(self.n_carry);
                let s = self.current.as_ref().map_or(0, |(s, _)| *s);
                self.current = Some((s + 1, outs));
                self.advancing -= 1;
                Ok(())
            }
            Running::Adjoint(t) => {
                let n_acarry = self.n_acarry;
                if outs.len() != n_acarry + self.ays.len() {
                    return Err(malformed(format!(
                        "adjoint returned {} values, expected {} carries and {} per-step outputs",
                        outs.len(),
                        n_acarry,
                        self.ays.len()
                    )));
                }
                let mut outs = outs;
                let ays_now = outs.split_off(n_acarry);
                self.acarry = outs;
                for (buf, y) in self.ays.iter_mut().zip(&ays_now) {
                    if buf.shape[1..] != *y.shape() || buf.data.elem() != y.elem() {
                        return Err(malformed(format!(
                            "adjoint per-step output is {}{:?}, its stack {}{:?}",
                            y.elem(),
                            y.shape(),
                            buf.data.elem(),
                            buf.shape
                        )));
                    }
                    write_row(&mut buf.data, t, y.data())?;
                }
                Ok(())
            }
        }
    }

    /// The node's results: the final reverse carry, then the stacks.
    pub(super) fn finish(self) -> Vec<Val<'a>> {
        let mut out = self.acarry;
        out.extend(self.ays.into_iter().map(Val::held));
        out
    }
}
