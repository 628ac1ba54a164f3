//! The state of a `call`, `scan` or `while` node waiting for a callee.
//!
//! Loops never recurse: the frame machine in [`super::machine`] runs each
//! callee as a frame on its own stack and hands the callee's outputs back to
//! the waiting node's state here, which says which callee to run next or that
//! the node is done. Loop-invariant operands are shared (reference-counted),
//! never copied per step; carried state is moved into each step, so a body can
//! overwrite its carry in place.

use super::buf::{Buf, Elt, Fault, Meter, Val, for_elem, malformed, typed};
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
