//! The frame machine: evaluates a function's nodes in definition order, with
//! calls, scan steps and while trips run as frames on an explicit stack.
//!
//! Invariants:
//! - Nothing recurses: one loop drives every frame, so deep graphs and deep
//!   call chains use heap, not native stack. The number of frames is bounded
//!   by [`super::Limits::max_call_depth`].
//! - A frame's slot for a value is filled when the value is defined and
//!   cleared after its last use (per the function's [`Plan`]); outputs stay.
//! - Size variables are bound per frame from that frame's arguments, so a
//!   callee's sizes are its own.

use super::buf::{Buf, Elt, Fault, Meter, Operand, Val, for_elem, malformed};
use super::loops::{AdjointOperands, AdjointState, ScanState, Wait, WhileState};
use super::plan::Plan;
use super::shape_ops::Range;
use super::{EvalError, Interpreter, elementwise as ew, shape_ops as so};
use crate::dim::{Dim, SizeVar};
use crate::function::{Function, Node, NodeId};
use crate::op::Op;
use crate::tensor::Data;
use crate::types::Shape;
use std::rc::Rc;

/// One function being evaluated.
struct Frame<'i, 'a> {
    func: &'i Function,
    plan: &'i Plan,
    env: Vec<(SizeVar, i64)>,
    slots: Vec<Option<Val<'a>>>,
    /// The node being evaluated.
    pc: usize,
    /// The state of node `pc` while a callee of it runs.
    wait: Option<Wait<'a>>,
}

/// What a step of the machine asks for.
enum Next<'a> {
    /// Node `pc` is done; its results are stored.
    Done,
    /// Run this function with these arguments, then resume node `pc`.
    Push(usize, Vec<Val<'a>>),
}

/// What a node's kernel produced.
enum Outcome<'a> {
    One(Val<'a>),
    Values(Vec<Val<'a>>),
    Start(Wait<'a>, usize, Vec<Val<'a>>),
}

impl Frame<'_, '_> {
    fn node(&self) -> Option<&Node> {
        self.func.nodes().get(self.pc)
    }

    /// Attaches this frame's function and node to a fault.
    fn locate(&self, fault: Fault) -> EvalError {
        let node = self.node();
        let id = node.map(|_| NodeId(self.pc as u32));
        let op = node.map_or("return", |n| n.op.name());
        locate(self.func.name(), id, op, fault)
    }

    /// Stores a node's results.
    fn store<'a>(
        slots: &mut [Option<Val<'a>>],
        node: &Node,
        vals: Vec<Val<'a>>,
    ) -> Result<(), Fault> {
        if vals.len() != node.results.len() {
            return Err(malformed(format!(
                "produced {} results, the node declares {}",
                vals.len(),
                node.results.len()
            )));
        }
        for (r, v) in node.results.iter().zip(vals) {
            slots[r.index()] = Some(v);
        }
        Ok(())
    }

    /// Frees the values that die at node `pc` and moves on.
    fn advance(&mut self) {
        if let Some(free) = self.plan.free_after.get(self.pc) {
            for &v in free {
                self.slots[v] = None;
            }
        }
        self.pc += 1;
    }
}

/// An [`EvalError`] for a fault at `node` (an op named `op`) of `func`.
pub(super) fn locate(func: &str, node: Option<NodeId>, op: &str, fault: Fault) -> EvalError {
    let func = func.to_string();
    match fault {
        Fault::Malformed(message) => EvalError::Malformed {
            func,
            node,
            message: format!("`{op}`: {message}"),
        },
        Fault::TooLarge { shape, limit } => EvalError::TooLarge {
            func,
            node,
            shape,
            limit,
        },
        Fault::OutOfMemory {
            requested,
            live,
            limit,
        } => EvalError::OutOfMemory {
            func,
            node,
            requested,
            live,
            limit,
        },
        Fault::Dim(error) => EvalError::Dim { func, node, error },
        Fault::SliceOutOfBounds {
            axis,
            start,
            stop,
            size,
        } => EvalError::SliceOutOfBounds {
            func,
            node,
            axis,
            start,
            stop,
            size,
        },
        Fault::EmptyAxis { axis } => EvalError::EmptyAxis {
            func,
            node,
            op: op.to_string(),
            axis,
        },
        Fault::UnknownFunction(name) => EvalError::UnknownFunction { name },
    }
}

/// Looks a size variable up in a frame's bindings.
fn lookup(env: &[(SizeVar, i64)]) -> impl Fn(&str) -> Option<i64> + '_ {
    move |name| env.iter().find(|(v, _)| &**v == name).map(|&(_, x)| x)
}

fn size(env: &[(SizeVar, i64)], d: &Dim) -> Result<usize, Fault> {
    Ok(d.eval(&lookup(env))?)
}

fn signed(env: &[(SizeVar, i64)], d: &Dim) -> Result<i64, Fault> {
    Ok(d.eval_signed(&lookup(env))?)
}

fn shape(env: &[(SizeVar, i64)], s: &Shape) -> Result<Vec<usize>, Fault> {
    s.dims().iter().map(|d| size(env, d)).collect()
}

/// The only operand of a unary-shaped op.
fn single<'x, 'a>(ops: &'x mut [Operand<'a>]) -> Result<&'x mut Operand<'a>, Fault> {
    let n = ops.len();
    match ops {
        [x] => Ok(x),
        _ => Err(malformed(format!("takes 1 operand, got {n}"))),
    }
}

impl Interpreter<'_> {
    /// Evaluates function `fi` on `args` to its outputs.
    pub(super) fn run<'a>(
        &self,
        fi: usize,
        args: Vec<Val<'a>>,
        m: &Rc<Meter>,
    ) -> Result<Vec<Val<'a>>, EvalError> {
        // Reused across nodes and frames, so a node costs no bookkeeping
        // allocations: the operand list, and the slot tables of popped frames.
        let mut ops: Vec<Operand<'a>> = Vec::new();
        let mut pool: Vec<Vec<Option<Val<'a>>>> = Vec::new();
        let mut stack = vec![self.enter(fi, args, &mut pool)?];
        let mut returned: Option<Vec<Val<'a>>> = None;
        loop {
            let Some(top) = stack.last_mut() else {
                return Err(EvalError::Malformed {
                    func: String::new(),
                    node: None,
                    message: "evaluation stack emptied early".into(),
                });
            };
            let next = if let Some(outs) = returned.take() {
                self.resume(top, outs, m).map_err(|f| top.locate(f))?
            } else if top.pc >= top.func.nodes().len() {
                let outs = top
                    .func
                    .outputs()
                    .iter()
                    .map(|o| top.slots[o.index()].clone())
                    .collect::<Option<Vec<_>>>()
                    .ok_or_else(|| top.locate(malformed("an output has no value")))?;
                if let Some(frame) = stack.pop() {
                    let mut slots = frame.slots;
                    slots.clear();
                    pool.push(slots);
                }
                if stack.is_empty() {
                    return Ok(outs);
                }
                returned = Some(outs);
                continue;
            } else {
                let next = self.step(top, &mut ops, m);
                ops.clear();
                next.map_err(|f| top.locate(f))?
            };
            match next {
                Next::Done => top.advance(),
                Next::Push(callee, args) => {
                    if stack.len() >= self.limits.max_call_depth {
                        return Err(EvalError::CallDepth {
                            func: self.module.functions()[callee].name().to_string(),
                            limit: self.limits.max_call_depth,
                        });
                    }
                    let frame = self.enter(callee, args, &mut pool)?;
                    stack.push(frame);
                }
            }
        }
    }

    /// A frame for function `fi` with its size variables bound from `args`.
    fn enter<'a>(
        &self,
        fi: usize,
        args: Vec<Val<'a>>,
        pool: &mut Vec<Vec<Option<Val<'a>>>>,
    ) -> Result<Frame<'_, 'a>, EvalError> {
        let func = &self.module.functions()[fi];
        let plan = &self.plans[fi];
        if let Some((node, message)) = &plan.broken {
            return Err(EvalError::Malformed {
                func: func.name().to_string(),
                node: *node,
                message: message.clone(),
            });
        }
        if args.len() != func.params().len() {
            return Err(EvalError::InputCount {
                func: func.name().to_string(),
                expected: func.params().len(),
                found: args.len(),
            });
        }
        let env = bind(func, &args)?;
        let mut slots = pool.pop().unwrap_or_default();
        slots.resize_with(func.value_count(), || None);
        for (p, a) in func.params().iter().zip(args) {
            slots[p.index()] = Some(a);
        }
        Ok(Frame {
            func,
            plan,
            env,
            slots,
            pc: 0,
            wait: None,
        })
    }

    /// Evaluates node `pc` of the frame, or starts its callee. `ops` is an
    /// empty scratch list.
    fn step<'a>(
        &self,
        frame: &mut Frame<'_, 'a>,
        ops: &mut Vec<Operand<'a>>,
        m: &Rc<Meter>,
    ) -> Result<Next<'a>, Fault> {
        let Frame {
            func,
            plan,
            env,
            slots,
            pc,
            wait,
        } = frame;
        let node = &func.nodes()[*pc];
        // An operand that dies here is moved out of its slot, so its buffer
        // may be reused; the others are shared.
        for (a, &dies) in node.args.iter().zip(&plan.movable[*pc]) {
            let slot = &mut slots[a.index()];
            let v = if dies { slot.take() } else { slot.clone() };
            match v {
                Some(v) => ops.push(Operand::Own(v)),
                None => return Err(malformed(format!("operand {a:?} has no value"))),
            }
        }
        match self.apply(func, node, ops, env, m)? {
            Outcome::One(v) => {
                match node.results.as_slice() {
                    [r] => slots[r.index()] = Some(v),
                    rs => {
                        return Err(malformed(format!(
                            "produced 1 result, the node declares {}",
                            rs.len()
                        )));
                    }
                }
                Ok(Next::Done)
            }
            Outcome::Values(vals) => {
                Frame::store(slots, node, vals)?;
                Ok(Next::Done)
            }
            Outcome::Start(w, callee, args) => {
                *wait = Some(w);
                Ok(Next::Push(callee, args))
            }
        }
    }

    /// Hands a callee's outputs to the node waiting for them.
    fn resume<'a>(
        &self,
        frame: &mut Frame<'_, 'a>,
        outs: Vec<Val<'a>>,
        m: &Rc<Meter>,
    ) -> Result<Next<'a>, Fault> {
        let node = &frame.func.nodes()[frame.pc];
        let results = match frame.wait.take() {
            None => return Err(malformed("a callee returned to a node not waiting for one")),
            Some(Wait::Call) => outs,
            Some(Wait::Scan(mut s)) => {
                s.absorb(m, outs)?;
                if !s.finished() {
                    let args = s.step_args(m)?;
                    let body = s.body;
                    frame.wait = Some(Wait::Scan(s));
                    return Ok(Next::Push(body, args));
                }
                s.finish()
            }
            Some(Wait::While(mut w)) => match w.resume(outs)? {
                Some((callee, args)) => {
                    frame.wait = Some(Wait::While(w));
                    return Ok(Next::Push(callee, args));
                }
                None => w.finish(m)?,
            },
            Some(Wait::Adjoint(mut a)) => {
                a.absorb(outs)?;
                match a.next_call(m)? {
                    Some((callee, args)) => {
                        frame.wait = Some(Wait::Adjoint(a));
                        return Ok(Next::Push(callee, args));
                    }
                    None => a.finish(),
                }
            }
        };
        Frame::store(&mut frame.slots, node, results)?;
        Ok(Next::Done)
    }

    fn callee(&self, name: &str) -> Result<usize, Fault> {
        self.index
            .get(name)
            .copied()
            .ok_or_else(|| Fault::UnknownFunction(name.to_string()))
    }

    /// Runs one node's kernel.
    fn apply<'a>(
        &self,
        func: &Function,
        node: &Node,
        ops: &mut [Operand<'a>],
        env: &[(SizeVar, i64)],
        m: &Rc<Meter>,
    ) -> Result<Outcome<'a>, Fault> {
        let nullary = |ops: &[Operand<'a>]| {
            if ops.is_empty() {
                Ok(())
            } else {
                Err(malformed(format!("takes no operands, got {}", ops.len())))
            }
        };
        let buf = match &node.op {
            Op::Const { ty, data } => {
                nullary(ops)?;
                ew::constant(m, ty.elem, shape(env, &ty.shape)?, data)?
            }
            Op::Iota { ty, axis } => {
                nullary(ops)?;
                ew::iota(m, ty.elem, shape(env, &ty.shape)?, *axis)?
            }
            Op::Size { dim, elem } => {
                nullary(ops)?;
                ew::size(m, *elem, signed(env, dim)?)?
            }
            Op::Unary(u) => ew::unary(m, *u, single(ops)?)?,
            Op::Binary(b) => ew::binary(m, *b, ops)?,
            Op::Compare(c) => ew::compare(m, *c, ops)?,
            Op::Select => ew::select(m, ops)?,
            Op::Convert { elem } => ew::convert(m, *elem, single(ops)?)?,
            Op::Broadcast { shape: s, dims } => {
                so::broadcast(m, single(ops)?, shape(env, s)?, dims)?
            }
            Op::Reduce { op, axes } => so::reduce(m, *op, single(ops)?, axes)?,
            Op::Reshape { shape: s } => so::reshape(m, single(ops)?, shape(env, s)?)?,
            Op::Transpose { perm } => so::transpose(m, single(ops)?, perm)?,
            Op::Slice { ranges } => {
                let ranges = ranges
                    .iter()
                    .map(|r| {
                        Ok(Range {
                            start: signed(env, &r.start)?,
                            stop: signed(env, &r.stop)?,
                            step: r.step,
                        })
                    })
                    .collect::<Result<Vec<_>, Fault>>()?;
                so::slice(m, single(ops)?, &ranges)?
            }
            Op::Concat { axis } => so::concat(m, ops, *axis)?,
            Op::Pad {
                lo,
                hi,
                interior,
                value,
            } => {
                let lo = lo
                    .iter()
                    .map(|d| size(env, d))
                    .collect::<Result<Vec<_>, _>>()?;
                let hi = hi
                    .iter()
                    .map(|d| size(env, d))
                    .collect::<Result<Vec<_>, _>>()?;
                so::pad(m, single(ops)?, &lo, &hi, interior, *value)?
            }
            Op::Gather { axis } => so::gather(m, ops, *axis)?,
            Op::ScatterAdd { axis, size: s } => so::scatter_add(m, ops, *axis, size(env, s)?)?,
            Op::Matmul => so::matmul(m, ops)?,
            Op::Call { func: callee } => {
                let callee = self.callee(callee)?;
                return Ok(Outcome::Start(Wait::Call, callee, vals(ops)?));
            }
            Op::Scan {
                body,
                length,
                reverse,
                n_consts,
                n_carry,
                checkpoint: _,
            } => {
                let body = self.callee(body)?;
                let length = size(env, length)?;
                // A scan runs at most as many steps as a tensor may have rows.
                if length > m.limits().max_elements {
                    return Err(Fault::TooLarge {
                        shape: vec![length],
                        limit: m.limits().max_elements,
                    });
                }
                let counts = (*n_consts, *n_carry, node.results.len());
                if length == 0 {
                    return empty_scan(m, func, node, env, counts, vals(ops)?);
                }
                let mut s = ScanState::new(body, length, *reverse, counts, vals(ops)?)?;
                let args = s.step_args(m)?;
                return Ok(Outcome::Start(Wait::Scan(Box::new(s)), body, args));
            }
            Op::While {
                cond,
                body,
                max_trips,
                n_consts,
                checkpoint: _,
            } => {
                let callees = (self.callee(cond)?, self.callee(body)?);
                let max_trips = size(env, max_trips)?;
                let mut w = WhileState::new(callees, max_trips, *n_consts, vals(ops)?)?;
                return Ok(match w.next_cond() {
                    Some((callee, args)) => Outcome::Start(Wait::While(Box::new(w)), callee, args),
                    None => Outcome::Values(w.finish(m)?),
                });
            }
            Op::ScanAdjoint {
                body,
                adjoint,
                length,
                reverse,
                checkpoint,
                n_consts,
                n_carry,
                n_xs,
                n_acarry,
                trips,
            } => {
                let callees = (self.callee(body)?, self.callee(adjoint)?);
                let length = size(env, length)?;
                // Without a trip count the sweep runs `length` steps: as for
                // `scan`, at most as many as a tensor may have rows.
                if !*trips && length > m.limits().max_elements {
                    return Err(Fault::TooLarge {
                        shape: vec![length],
                        limit: m.limits().max_elements,
                    });
                }
                let mut vals = vals(ops)?;
                let n = if *trips {
                    let t = vals
                        .pop()
                        .ok_or_else(|| malformed("the trip count operand is missing"))?;
                    match t.data() {
                        Data::I64(v) if t.shape().is_empty() && v.len() == 1 => {
                            // Clamped into [0, length], as documented.
                            usize::try_from(v[0].max(0))
                                .unwrap_or(usize::MAX)
                                .min(length)
                        }
                        _ => return Err(malformed("the trip count must be an i64 scalar")),
                    }
                } else {
                    length
                };
                let (nc, nk, nx, na) = (*n_consts, *n_carry, *n_xs, *n_acarry);
                if [nc, nk, nx, na]
                    .iter()
                    .try_fold(0usize, |a, &b| a.checked_add(b))
                    .is_none_or(|k| k > vals.len())
                    || node.results.len() < na
                {
                    return Err(malformed(format!(
                        "{nc} consts, {nk} carries, {nx} xs and {na} adjoint carries with {} operands and {} results",
                        vals.len(),
                        node.results.len()
                    )));
                }
                let axs = vals.split_off(nc + nk + nx + na);
                let ainit = vals.split_off(nc + nk + nx);
                let xs = vals.split_off(nc + nk);
                let init = vals.split_off(nc);
                let ays = zero_stacks(m, func, &node.results[na..], env)?;
                let ops = AdjointOperands {
                    consts: vals,
                    init,
                    xs,
                    ainit,
                    axs,
                };
                // The default policy from the budget and the actual trip
                // count: every state when they fit, binomial otherwise.
                let state_bytes = ops.init.iter().fold(0usize, |a, v| {
                    let count = v.shape().iter().fold(1usize, |c, &d| c.saturating_mul(d));
                    a.saturating_add(count.saturating_mul(v.elem().byte_size()))
                });
                let policy = m.limits().loop_policy(*checkpoint, n, state_bytes);
                let mut a = AdjointState::new(callees, (length, n, *reverse), policy, ops, ays)?;
                return Ok(match a.next_call(m)? {
                    Some((callee, args)) => {
                        Outcome::Start(Wait::Adjoint(Box::new(a)), callee, args)
                    }
                    None => Outcome::Values(a.finish()),
                });
            }
        };
        Ok(Outcome::One(Val::held(buf)))
    }
}

/// The operands as values, for a callee.
fn vals<'a>(ops: &mut [Operand<'a>]) -> Result<Vec<Val<'a>>, Fault> {
    ops.iter_mut()
        .map(|o| {
            std::mem::replace(o, Operand::Gone)
                .into_val()
                .ok_or_else(|| malformed("an operand was consumed"))
        })
        .collect()
}

/// A `scan` of length 0: the initial carry, and empty stacks whose row shapes
/// come from the node's declared result types.
fn empty_scan<'a>(
    m: &Rc<Meter>,
    func: &Function,
    node: &Node,
    env: &[(SizeVar, i64)],
    (n_consts, n_carry, n_results): (usize, usize, usize),
    mut vals: Vec<Val<'a>>,
) -> Result<Outcome<'a>, Fault> {
    if n_consts.checked_add(n_carry).is_none_or(|k| k > vals.len()) || n_results < n_carry {
        return Err(malformed(format!(
            "{n_consts} consts and {n_carry} carries with {} operands and {n_results} results",
            vals.len()
        )));
    }
    vals.truncate(n_consts + n_carry);
    let mut out = vals.split_off(n_consts);
    for r in &node.results[n_carry..] {
        let ty = func.ty(*r);
        let Some((_, rest)) = ty.shape.dims().split_first() else {
            return Err(malformed(format!("per-step output stack has type {ty}")));
        };
        let mut dims = vec![0];
        for d in rest {
            dims.push(size(env, d)?);
        }
        if m.count(&dims)? != 0 {
            return Err(malformed("an empty stack has elements"));
        }
        out.push(Val::held(so::empty(m, ty.elem, dims)));
    }
    Ok(Outcome::Values(out))
}

/// Zero-filled buffers of the declared types of `results`.
fn zero_stacks(
    m: &Rc<Meter>,
    func: &Function,
    results: &[crate::function::Value],
    env: &[(SizeVar, i64)],
) -> Result<Vec<Buf>, Fault> {
    results
        .iter()
        .map(|&r| {
            let ty = func.ty(r);
            let dims = shape(env, &ty.shape)?;
            let n = m.count(&dims)?;
            let data = for_elem!(ty.elem, T => T::wrap(m.filled(n, T::default())?));
            Ok(Buf::new(m, dims, data))
        })
        .collect()
}

/// Binds `func`'s size variables from its arguments' shapes and checks every
/// argument against its parameter type at those sizes.
fn bind(func: &Function, args: &[Val<'_>]) -> Result<Vec<(SizeVar, i64)>, EvalError> {
    let mut env: Vec<(SizeVar, i64)> = Vec::new();
    let params = func.params();
    let mismatch = |i: usize, env: &[(SizeVar, i64)]| {
        let p = params[i];
        let ty = func.ty(p);
        let mut expected = ty.to_string();
        let vars = ty.shape.vars();
        let bound: Vec<String> = vars
            .iter()
            .filter_map(|v| lookup(env)(v).map(|x| format!("{v} = {x}")))
            .collect();
        if !bound.is_empty() {
            expected = format!("{expected} with {}", bound.join(", "));
        }
        let a = &args[i];
        EvalError::InputMismatch {
            func: func.name().to_string(),
            index: i,
            param: func.value_name(p).to_string(),
            expected,
            found: format!("{}{:?}", a.elem(), a.shape()),
        }
    };
    for (i, (&p, a)) in params.iter().zip(args).enumerate() {
        let ty = func.ty(p);
        if ty.elem != a.elem() || ty.rank() != a.shape().len() {
            return Err(mismatch(i, &env));
        }
        for (d, &s) in ty.shape.dims().iter().zip(a.shape()) {
            if let Some(v) = d.as_var()
                && !env.iter().any(|(n, _)| n == v)
            {
                env.push((v.clone(), i64::try_from(s).unwrap_or(i64::MAX)));
            }
        }
    }
    for (i, (&p, a)) in params.iter().zip(args).enumerate() {
        for (d, &s) in func.ty(p).shape.dims().iter().zip(a.shape()) {
            let value = d
                .eval_signed(&lookup(&env))
                .map_err(|error| EvalError::Dim {
                    func: func.name().to_string(),
                    node: None,
                    error,
                })?;
            if usize::try_from(value).ok() != Some(s) {
                return Err(mismatch(i, &env));
            }
        }
    }
    Ok(env)
}
