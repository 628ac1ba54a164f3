//! Native loops and reverse sweeps: `scan` and `while` as rotated loops
//! calling their body's (and condition's) compiled entry, with
//! double-buffered carries; `scan_adjoint` as a call of the runtime driver
//! (see [`super::super::adjoint`]).

use super::*;

impl<'p> Emit<'_, '_, 'p> {
    /// A reference to program `p`'s entry in this function.
    fn program_ref(&mut self, p: usize) -> R<FuncRef> {
        if let Some(&r) = self.program_refs.get(&p) {
            return Ok(r);
        }
        let id = *self
            .programs
            .get(p)
            .ok_or_else(|| internal("a loop callee not generated before its caller"))?;
        let r = self.math.module.declare_func_in_func(id, self.fb.func);
        self.program_refs.insert(p, r);
        Ok(r)
    }

    /// The address of a loop operand or result: its buffer, its scalar
    /// slot, or (for a scalar parameter) the caller's pointer.
    fn value_ptr(&mut self, v: Vid) -> R<Value> {
        let val = self.flat.val(v);
        if val.rank() > 0 {
            return self.base(Base::Val(v), None);
        }
        match val.def {
            Def::Param(i) => {
                let inputs = self.inputs;
                Ok(self
                    .fb
                    .ins()
                    .load(types::I64, trusted(), inputs, (i * 8) as i32))
            }
            Def::Node(_) => {
                let slot = *self
                    .plan
                    .slot
                    .get(&v)
                    .ok_or_else(|| internal("a loop scalar without a slot"))?;
                let ws = self.ws;
                Ok(self.fb.ins().iadd_imm_s(ws, slot as i64))
            }
        }
    }

    /// `ws + off` for an offset in the workspace.
    fn ws_ptr(&mut self, off: usize) -> Value {
        let ws = self.ws;
        self.fb.ins().iadd_imm_s(ws, off as i64)
    }

    /// Byte size of a value's elements (8 for a scalar slot).
    fn value_bytes(&self, v: Vid) -> usize {
        let val = self.flat.val(v);
        val.len * val.elem.byte_size()
    }

    /// A reference to the runtime routine `name`, taking `params` pointer
    /// sized integers and returning nothing.
    fn runtime_ref(&mut self, name: &'static str, params: usize) -> R<FuncRef> {
        if let Some(&r) = self.rt_refs.get(name) {
            return Ok(r);
        }
        let id = match self.rt_decls.get(name) {
            Some(&id) => id,
            None => {
                let mut sig = Signature::new(self.math.call_conv);
                for _ in 0..params {
                    sig.params.push(AbiParam::new(types::I64));
                }
                let id = self
                    .math
                    .module
                    .declare_function(name, Linkage::Import, &sig)
                    .map_err(cg)?;
                self.rt_decls.insert(name, id);
                id
            }
        };
        let r = self.math.module.declare_func_in_func(id, self.fb.func);
        self.rt_refs.insert(name, r);
        Ok(r)
    }

    /// Copies `bytes` from `src` to `dst` (non-overlapping).
    fn copy_bytes(&mut self, dst: Value, src: Value, bytes: usize) -> R<()> {
        if bytes == 0 {
            return Ok(());
        }
        let r = self.runtime_ref(runtime::COPY_SYMBOL, 3)?;
        let n = self.fb.ins().iconst(types::I64, bytes as i64);
        self.fb.ins().call(r, &[dst, src, n]);
        Ok(())
    }

    /// A `scan_adjoint`: fills the node's pointer table and calls the
    /// runtime driver, which runs the checkpoint schedule (see
    /// [`super::adjoint`]).
    fn adjoint_step(
        &mut self,
        si: usize,
        l: &'p LoopStep,
        adjoint: usize,
        desc: &'p AdjointDesc,
    ) -> R<()> {
        let node = &self.flat.nodes[l.node];
        let body = self.program_ref(l.body)?;
        let adjoint = self.program_ref(adjoint)?;
        let scratch = self.plan.scratch[si];
        let ptrs = self.ws_ptr(scratch + desc.ptrs);
        let scratch = self.ws_ptr(scratch);
        for (i, &a) in node.args.iter().enumerate() {
            let p = self.value_ptr(a)?;
            self.fb.ins().store(trusted(), p, ptrs, (i * 8) as i32);
        }
        for (i, &r) in node.results.iter().enumerate() {
            let p = if self.fusion.class[r as usize] == Class::Dead {
                self.fb.ins().iconst(types::I64, 0)
            } else {
                self.value_ptr(r)?
            };
            let at = (node.args.len() + i) * 8;
            self.fb.ins().store(trusted(), p, ptrs, at as i32);
        }
        let body = self.fb.ins().func_addr(types::I64, body);
        let adjoint = self.fb.ins().func_addr(types::I64, adjoint);
        if self.relocatable {
            return Err(CompileError::Unsupported {
                func: self.flat.name.clone(),
                op: "scan_adjoint",
                reason: "a reverse sweep's descriptor cannot be written into an object yet".into(),
            });
        }
        let d = self
            .fb
            .ins()
            .iconst(types::I64, desc as *const AdjointDesc as i64);
        let driver = self.runtime_ref(crate::jit::adjoint::SYMBOL, 5)?;
        self.fb
            .ins()
            .call(driver, &[d, ptrs, scratch, body, adjoint]);
        Ok(())
    }

    /// A `scan` or `while`: a native loop calling the compiled body.
    ///
    /// Carries are double-buffered: step `s` reads the buffer step `s − 1`
    /// wrote (the initial value at `s = 0`) and writes the other one, so a
    /// body never writes memory it reads. For `scan` the trip count is
    /// static and the parity is chosen so that the last step writes the
    /// result's own storage; a `while` copies the final state there if it
    /// ended in the spare buffer.
    pub(super) fn loop_step(&mut self, si: usize, l: &'p LoopStep) -> R<()> {
        let cond = match &l.kind {
            LoopKind::Sweep { adjoint, desc } => return self.adjoint_step(si, l, *adjoint, desc),
            LoopKind::While { cond } => Some(*cond),
            LoopKind::Scan => None,
        };
        let node = &self.flat.nodes[l.node];
        let lay = &l.layout;
        let (n_consts, n_carry, scan) = match &node.op {
            Op::Scan {
                length,
                reverse,
                n_consts,
                n_carry,
                ..
            } => (
                *n_consts,
                *n_carry,
                Some((length.known().unwrap_or(0).max(0) as u64, *reverse)),
            ),
            Op::While { n_consts, .. } => (*n_consts, node.results.len() - 1, None),
            Op::Const { .. }
            | Op::Iota { .. }
            | Op::Size { .. }
            | Op::Unary(_)
            | Op::Binary(_)
            | Op::Compare(_)
            | Op::Select
            | Op::Broadcast { .. }
            | Op::Reduce { .. }
            | Op::Reshape { .. }
            | Op::Transpose { .. }
            | Op::Slice { .. }
            | Op::Concat { .. }
            | Op::Pad { .. }
            | Op::Gather { .. }
            | Op::ScatterAdd { .. }
            | Op::Matmul
            | Op::Convert { .. }
            | Op::Call { .. }
            | Op::ScanAdjoint { .. } => return Err(internal("not a scan or while")),
        };
        let body = self.program_ref(l.body)?;
        let cond = cond.map(|c| self.program_ref(c)).transpose()?;
        let scratch = self.plan.scratch[si];
        let in_tab = self.ws_ptr(scratch + lay.in_table);
        let out_tab = self.ws_ptr(scratch + lay.out_table);
        let cws = self.ws_ptr(scratch + lay.callee_ws);
        let flags = trusted();
        // Loop invariants: the consts' pointers.
        for (i, &a) in node.args[..n_consts].iter().enumerate() {
            let p = self.value_ptr(a)?;
            self.fb.ins().store(flags, p, in_tab, (i * 8) as i32);
        }
        // Carry buffers: `bufs[c][k]` is written by steps `k` mod 2 counted
        // from the last (scan) or from the first (while).
        let mut inits = Vec::with_capacity(n_carry);
        let mut bufs = Vec::with_capacity(n_carry);
        for c in 0..n_carry {
            inits.push(self.value_ptr(node.args[n_consts + c])?);
            let r = node.results[c];
            let mut pair = [in_tab; 2];
            for (k, slot) in lay.carry_bufs[c].iter().enumerate() {
                pair[k] = match slot {
                    Some(off) => self.ws_ptr(scratch + off),
                    None => self.value_ptr(r)?,
                };
            }
            bufs.push(pair);
        }
        let bytes: Vec<usize> = (0..n_carry)
            .map(|c| self.value_bytes(node.results[c]))
            .collect();
        let live: Vec<bool> = (0..n_carry)
            .map(|c| lay.carry_bufs[c][0].is_none())
            .collect();
        let Some((length, reverse)) = scan else {
            return self.while_loop(
                (l, scratch),
                node,
                cond,
                body,
                (in_tab, out_tab, cws),
                &inits,
                &bufs,
            );
        };
        if length == 0 {
            for c in 0..n_carry {
                if live[c] {
                    self.copy_bytes(bufs[c][0], inits[c], bytes[c])?;
                }
            }
            return Ok(());
        }
        // Scanned inputs and stacked outputs: base pointers and row sizes.
        let n_xs = node.args.len() - n_consts - n_carry;
        let mut xs = Vec::with_capacity(n_xs);
        for &x in &node.args[n_consts + n_carry..] {
            let val = self.flat.val(x);
            let row = val.len / (length as usize) * val.elem.byte_size();
            xs.push((self.value_ptr(x)?, row as i64));
        }
        let mut ys = Vec::new();
        for (j, &y) in node.results[n_carry..].iter().enumerate() {
            let val = self.flat.val(y);
            let row = val.len / (length as usize) * val.elem.byte_size();
            ys.push(match lay.ys_row[j] {
                Some(off) => (self.ws_ptr(scratch + off), 0i64),
                None => (self.value_ptr(y)?, row as i64),
            });
        }
        let parity = ((length - 1) % 2) as usize;
        let vars = self.carry_vars(&inits, &bufs, parity);
        // States kept for a later reverse sweep: state `s + 1` goes to
        // record `s`, the last one to the result.
        let records = self.plan.record_into[si]
            .as_ref()
            .map(|r| (self.ws_ptr(r.base), r));
        self.counted_loop(0, length as i64, |em, s| {
            let t = if reverse {
                let m = em.fb.ins().ineg(s);
                em.fb.ins().iadd_imm_s(m, length as i64 - 1)
            } else {
                s
            };
            if let Some((base, r)) = records {
                let first = em.fb.ins().icmp_imm_s(IntCC::Equal, s, 0);
                let last = em.fb.ins().icmp_imm_s(IntCC::Equal, s, length as i64 - 1);
                let off = em.fb.ins().imul_imm_s(s, r.record as i64);
                let out = em.fb.ins().iadd(base, off);
                let prev = em.fb.ins().iadd_imm_s(out, -(r.record as i64));
                for (c, &o) in r.offsets.iter().enumerate() {
                    let rec_out = em.fb.ins().iadd_imm_s(out, o as i64);
                    let rec_in = em.fb.ins().iadd_imm_s(prev, o as i64);
                    let i = em.fb.ins().select(first, inits[c], rec_in);
                    let w = em.fb.ins().select(last, bufs[c][0], rec_out);
                    em.fb
                        .ins()
                        .store(flags, i, in_tab, ((n_consts + c) * 8) as i32);
                    em.fb.ins().store(flags, w, out_tab, (c * 8) as i32);
                }
            } else {
                em.store_carries(&vars, 0, in_tab, n_consts);
                em.store_carries(&vars, 1, out_tab, 0);
            }
            for (j, &(base, row)) in xs.iter().enumerate() {
                let off = em.fb.ins().imul_imm_s(t, row);
                let p = em.fb.ins().iadd(base, off);
                let at = (n_consts + n_carry + j) * 8;
                em.fb.ins().store(flags, p, in_tab, at as i32);
            }
            for (j, &(base, row)) in ys.iter().enumerate() {
                let p = if row == 0 {
                    base
                } else {
                    let off = em.fb.ins().imul_imm_s(t, row);
                    em.fb.ins().iadd(base, off)
                };
                em.fb
                    .ins()
                    .store(flags, p, out_tab, ((n_carry + j) * 8) as i32);
            }
            em.fb.ins().call(body, &[in_tab, out_tab, cws]);
            em.rotate_carries(&vars);
            Ok(())
        })
    }

    /// Per carry, the variables `[read, write, spare]`: the buffer the next
    /// step reads, the one it writes and the other one. Initially the
    /// initial value, `bufs[c][first]` and `bufs[c][1 - first]`.
    fn carry_vars(
        &mut self,
        inits: &[Value],
        bufs: &[[Value; 2]],
        first: usize,
    ) -> Vec<[Variable; 3]> {
        inits
            .iter()
            .zip(bufs)
            .map(|(&init, pair)| {
                let vars = [(); 3].map(|_| self.fb.declare_var(types::I64));
                self.fb.def_var(vars[0], init);
                self.fb.def_var(vars[1], pair[first]);
                self.fb.def_var(vars[2], pair[1 - first]);
                vars
            })
            .collect()
    }

    /// Stores variable `which` of every carry in `table` from entry `at` on.
    fn store_carries(&mut self, vars: &[[Variable; 3]], which: usize, table: Value, at: usize) {
        for (c, v) in vars.iter().enumerate() {
            let p = self.fb.use_var(v[which]);
            self.fb
                .ins()
                .store(trusted(), p, table, ((at + c) * 8) as i32);
        }
    }

    /// After a step: it read `read` and wrote `write`; the next one reads
    /// what it wrote and writes the spare buffer.
    fn rotate_carries(&mut self, vars: &[[Variable; 3]]) {
        for v in vars {
            let w = self.fb.use_var(v[1]);
            let spare = self.fb.use_var(v[2]);
            self.fb.def_var(v[0], w);
            self.fb.def_var(v[1], spare);
            self.fb.def_var(v[2], w);
        }
    }

    /// The loop of a `while` (see [`Self::loop_step`]).
    #[allow(clippy::too_many_arguments)]
    fn while_loop(
        &mut self,
        (l, scratch): (&'p LoopStep, usize),
        node: &'p crate::jit::flat::FNode,
        cond: Option<FuncRef>,
        body: FuncRef,
        (in_tab, out_tab, cws): (Value, Value, Value),
        inits: &[Value],
        bufs: &[[Value; 2]],
    ) -> R<()> {
        let Op::While {
            max_trips,
            n_consts,
            ..
        } = &node.op
        else {
            return Err(internal("not a while"));
        };
        let cond = cond.ok_or_else(|| internal("a while without a condition"))?;
        let max = max_trips.known().unwrap_or(0).max(0);
        let n_state = inits.len();
        let lay = &l.layout;
        let flags = trusted();
        let cond_tab = self.ws_ptr(scratch + lay.cond_table);
        let cond_out = self.ws_ptr(scratch + lay.cond_out);
        self.fb.ins().store(flags, cond_out, cond_tab, 0);
        let vars = self.carry_vars(inits, bufs, 0);
        let trips = self.fb.declare_var(types::I64);
        let zero = self.fb.ins().iconst(types::I64, 0);
        self.fb.def_var(trips, zero);
        let header = self.fb.create_block();
        let test = self.fb.create_block();
        let step = self.fb.create_block();
        let exit = self.fb.create_block();
        self.fb.ins().jump(header, &[]);
        self.fb.switch_to_block(header);
        let n = self.fb.use_var(trips);
        let more = self.fb.ins().icmp_imm_s(IntCC::SignedLessThan, n, max);
        self.fb.ins().brif(more, test, &[], exit, &[]);
        self.fb.switch_to_block(test);
        self.fb.seal_block(test);
        self.store_carries(&vars, 0, in_tab, *n_consts);
        self.fb.ins().call(cond, &[in_tab, cond_tab, cws]);
        let go = self.fb.ins().load(types::I8, flags, cond_out, 0);
        self.fb.ins().brif(go, step, &[], exit, &[]);
        self.fb.switch_to_block(step);
        self.fb.seal_block(step);
        self.store_carries(&vars, 1, out_tab, 0);
        self.fb.ins().call(body, &[in_tab, out_tab, cws]);
        self.rotate_carries(&vars);
        let n1 = self.fb.ins().iadd_imm_s(n, 1);
        self.fb.def_var(trips, n1);
        self.fb.ins().jump(header, &[]);
        self.fb.seal_block(header);
        self.fb.switch_to_block(exit);
        self.fb.seal_block(exit);
        // The final state is where the last step wrote (or the initial one).
        for (c, v) in vars.iter().enumerate() {
            if lay.carry_bufs[c][0].is_some() {
                continue;
            }
            let last = self.fb.use_var(v[0]);
            let same = self.fb.ins().icmp(IntCC::Equal, last, bufs[c][0]);
            let copy = self.fb.create_block();
            let done = self.fb.create_block();
            self.fb.ins().brif(same, done, &[], copy, &[]);
            self.fb.switch_to_block(copy);
            self.fb.seal_block(copy);
            let bytes = self.value_bytes(node.results[c]);
            self.copy_bytes(bufs[c][0], last, bytes)?;
            self.fb.ins().jump(done, &[]);
            self.fb.switch_to_block(done);
            self.fb.seal_block(done);
        }
        let count = node.results[n_state];
        if self.fusion.class[count as usize] != Class::Dead {
            let p = self.value_ptr(count)?;
            let n = self.fb.use_var(trips);
            self.fb.ins().store(flags, n, p, 0);
        }
        Ok(())
    }
}
