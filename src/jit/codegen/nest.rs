//! Loop nests: a kernel's loops, evaluated expressions and roots as CLIF.
//!
//! A kernel's loops are *rotated* (the test is at the bottom: one conditional
//! branch per iteration) and have static trip counts, so a loop of zero trips
//! is simply not emitted. The innermost loop runs `unroll` vectors of
//! `width` lanes per iteration, then at most `unroll − 1` remaining vectors
//! and `width − 1` scalar elements straight-line, at static offsets.
//!
//! Values are evaluated lazily and memoised per `(value, index map)`. Each
//! value has a *level*: the innermost loop it depends on. Its instructions are
//! inserted at the *anchor* of that level — the first block of that loop's
//! body (or the kernel's entry block for loop-invariant values), before its
//! terminator if it is already closed. So constants, broadcast scalars and
//! row-invariant loads are hoisted out of the loops they do not depend on,
//! by construction rather than by hoping for the optimiser.
//!
//! Reductions whose innermost loops are all reduced accumulate in registers
//! (`unroll` vector accumulators and a scalar one for the tail, combined
//! pairwise then across lanes at the end); others accumulate into their
//! buffer, which is filled with the identity first.

use super::*;

impl<'p> Emit<'_, '_, 'p> {
    pub(super) fn kernel(&mut self, k: &'p Kernel) -> R<()> {
        let nloops = k.sched.loops.len();
        self.ks = KState {
            nloops,
            idx: vec![None; nloops],
            seg: k.space.iter().map(|&e| (0, e as i64)).collect(),
            ..KState::default()
        };
        let empty = k.space.contains(&0);

        // Fills requested by the roots.
        for &(dest, value) in &k.fills {
            let len = self.flat.val(dest).len;
            let p = self.base(Base::Val(dest), None)?;
            let flags = self.region(Base::Val(dest));
            self.fill(p, len, value, flags)?;
        }
        // Reduction strategies and identity fills.
        let mut reds = Vec::with_capacity(k.roots.len());
        for root in &k.roots {
            let (op, result, reduced) = match root {
                Root::Reduce {
                    op,
                    result,
                    reduced,
                    ..
                } => (*op, *result, *reduced),
                Root::Matmul {
                    result, reduced, ..
                } => (ReduceOp::Sum, *result, *reduced),
                Root::Store { .. } | Root::Point { .. } | Root::Scatter { .. } => {
                    reds.push(None);
                    continue;
                }
            };
            let elem = self.flat.val(result).elem;
            let loop_reduced =
                |l: usize| k.sched.loops[l].axes.iter().all(|&a| reduced >> a & 1 == 1);
            let mut b = nloops;
            while b > 0 && loop_reduced(b - 1) {
                b -= 1;
            }
            let mut block = if nloops == 0 || b < nloops {
                Some(b)
            } else {
                None
            };
            let is_buffer = self.fusion.class[result as usize] == Class::Buffer;
            let outer_reduced = (0..block.unwrap_or(nloops)).any(loop_reduced);
            if k.sched.strict && outer_reduced {
                // Partial results combined into the buffer would reassociate.
                block = None;
            }
            let fill = is_buffer && (block.is_none() || outer_reduced || empty);
            if fill {
                let len = self.flat.val(result).len;
                let p = self.base(Base::Val(result), None)?;
                let flags = self.region(Base::Val(result));
                self.fill(p, len, identity(op, elem), flags)?;
            }
            reds.push(Some(Red {
                op,
                elem,
                block,
                fill,
                accs: Vec::new(),
                tail: None,
            }));
        }
        self.ks.reds = reds;
        if empty {
            for root in &k.roots {
                if let Some(op) = root.reduce_op() {
                    let result = root.produces();
                    if self.fusion.class[result as usize] == Class::Scalar {
                        let elem = self.flat.val(result).elem;
                        let x = constant(&mut self.fb.cursor(), identity(op, elem), 1);
                        self.define_scalar(result, x);
                    }
                }
            }
            return Ok(());
        }
        let cur = self
            .fb
            .current_block()
            .ok_or_else(|| internal("no current block"))?;
        self.ks.anchors = vec![cur; nloops + 1];
        self.math.consts.reset(Some(cur));
        let r = self.level(k, 0);
        self.math.consts.reset(None);
        r
    }

    fn inner_level(&self) -> i32 {
        self.ks.nloops as i32 - 1
    }

    /// The anchor at which values of `level` are inserted (`None`: here).
    fn anchor(&self, level: i32) -> Option<Block> {
        if level >= self.inner_level() {
            None
        } else {
            Some(self.ks.anchors[(level + 1) as usize])
        }
    }

    fn clear_from(&mut self, level: i32) {
        self.ks.memo.retain(|_, e| e.1 < level);
        self.ks.splats.retain(|_, e| e.1 < level);
        self.ks.dynv.retain(|_, e| e.1 < level);
        self.ks.ptrs.retain(|key, _| key.1 < level);
    }

    fn level(&mut self, k: &'p Kernel, l: usize) -> R<()> {
        let nloops = self.ks.nloops;
        self.init_accumulators(k, l)?;
        if nloops == 0 {
            self.point(k, 1, None, 0, TAIL)?;
        } else if l == nloops - 1 {
            let spec = &k.sched.loops[l];
            for &(a, b) in &spec.segments {
                if spec.axes.len() == 1 {
                    self.ks.seg[spec.axes[0]] = (a as i64, b as i64);
                }
                self.inner(k, a as i64, b as i64)?;
            }
        } else {
            let spec = &k.sched.loops[l];
            for &(a, b) in &spec.segments {
                if spec.axes.len() == 1 {
                    self.ks.seg[spec.axes[0]] = (a as i64, b as i64);
                }
                let var = self.fb.declare_var(types::I64);
                let s = self.fb.ins().iconst(types::I64, a as i64);
                self.fb.def_var(var, s);
                let body = self.fb.create_block();
                let exit = self.fb.create_block();
                self.fb.ins().jump(body, &[]);
                self.fb.switch_to_block(body);
                let i = self.fb.use_var(var);
                self.ks.idx[l] = Some(i);
                self.ks.anchors[l + 1] = body;
                self.level(k, l + 1)?;
                self.clear_from(l as i32);
                let i1 = self.fb.ins().iadd_imm_s(i, 1);
                self.fb.def_var(var, i1);
                let c = self.fb.ins().icmp_imm_s(IntCC::NotEqual, i1, b as i64);
                self.fb.ins().brif(c, body, &[], exit, &[]);
                self.fb.seal_block(body);
                self.fb.switch_to_block(exit);
                self.fb.seal_block(exit);
            }
        }
        self.finish_accumulators(k, l)
    }

    fn inner(&mut self, k: &'p Kernel, a: i64, b: i64) -> R<()> {
        let w = k.sched.width as i64;
        let u = k.sched.unroll as i64;
        let len = b - a;
        let nvec = len / w;
        let tail = len % w;
        let main = nvec / u;
        let remv = nvec % u;
        let inner = self.inner_level();
        if main > 0 {
            // The counter runs from −(elements) up to 0 and the index is
            // `end + counter`: the back edge tests the incremented counter
            // itself, so no compare keeps the old value alive and the
            // counter stays in one register.
            let end = a + main * u * w;
            let var = self.fb.declare_var(types::I64);
            let s = self.fb.ins().iconst(types::I64, a - end);
            self.fb.def_var(var, s);
            let body = self.fb.create_block();
            let exit = self.fb.create_block();
            self.fb.ins().jump(body, &[]);
            self.fb.switch_to_block(body);
            // The increment comes first and the body addresses from the new
            // value: the old one dies at once and shares its register.
            let j = self.fb.use_var(var);
            let j1 = self.fb.ins().iadd_imm_s(j, u * w);
            for ui in 0..u {
                let off = end + ui * w - u * w;
                self.point(k, w as usize, Some(j1), off, ui as usize)?;
                self.clear_from(inner);
            }
            self.fb.def_var(var, j1);
            let c = j1;
            self.fb.ins().brif(c, body, &[], exit, &[]);
            self.fb.seal_block(body);
            self.fb.switch_to_block(exit);
            self.fb.seal_block(exit);
        }
        let base = a + main * u * w;
        for r in 0..remv {
            self.point(k, w as usize, None, base + r * w, r as usize)?;
            self.clear_from(inner);
        }
        let base = a + nvec * w;
        for t in 0..tail {
            self.point(k, 1, None, base + t, TAIL)?;
            self.clear_from(inner);
        }
        Ok(())
    }

    fn init_accumulators(&mut self, k: &'p Kernel, l: usize) -> R<()> {
        let w = k.sched.width;
        let u = k.sched.unroll;
        for ri in 0..k.roots.len() {
            let Some(red) = self.ks.reds[ri].clone() else {
                continue;
            };
            if red.block != Some(l) {
                continue;
            }
            let id = identity(red.op, red.elem);
            let vec_ty = lane_ty(red.elem, w);
            let mut accs = Vec::with_capacity(u);
            let vinit = constant(&mut self.fb.cursor(), id, w);
            for _ in 0..u {
                let var = self.fb.declare_var(vec_ty);
                self.fb.def_var(var, vinit);
                accs.push(var);
            }
            let sinit = constant(&mut self.fb.cursor(), id, 1);
            let tail = self.fb.declare_var(scalar_ty(red.elem));
            self.fb.def_var(tail, sinit);
            let r = self.ks.reds[ri].as_mut().expect("present");
            r.accs = accs;
            r.tail = Some(tail);
        }
        Ok(())
    }

    fn finish_accumulators(&mut self, k: &'p Kernel, l: usize) -> R<()> {
        let w = k.sched.width;
        for (ri, root) in k.roots.iter().enumerate() {
            let Some(red) = self.ks.reds[ri].clone() else {
                continue;
            };
            if red.block != Some(l) {
                continue;
            }
            let mut parts: Vec<Value> = red.accs.iter().map(|&v| self.fb.use_var(v)).collect();
            let tail = self.fb.use_var(red.tail.expect("initialised"));
            let mut pos = self.fb.cursor();
            while parts.len() > 1 {
                let half = parts.len().div_ceil(2);
                let mut next = Vec::with_capacity(half);
                for i in 0..half {
                    if i + half < parts.len() {
                        next.push(lower::combine(
                            &mut pos,
                            red.op,
                            red.elem,
                            parts[i],
                            parts[i + half],
                        ));
                    } else {
                        next.push(parts[i]);
                    }
                }
                parts = next;
            }
            let h = lower::horizontal(&mut pos, red.op, red.elem, w, parts[0]);
            let total = lower::combine(&mut pos, red.op, red.elem, h, tail);
            let result = root.produces();
            if self.fusion.class[result as usize] == Class::Scalar {
                self.define_scalar(result, total);
            } else {
                let addr = match root {
                    Root::Reduce { addr, .. } | Root::Matmul { addr, .. } => addr.clone(),
                    Root::Store { .. } | Root::Point { .. } | Root::Scatter { .. } => {
                        return Err(internal("not a reduction"));
                    }
                };
                let ai = self.addr_id(Base::Val(result), addr);
                let p = self.ptr(k, ai, l as i32 - 1)?;
                let ty = scalar_ty(red.elem);
                let flags = self.region(Base::Val(result));
                let total = if red.fill {
                    let old = self.fb.ins().load(ty, flags, p, 0);
                    let mut pos = self.fb.cursor();
                    lower::combine(&mut pos, red.op, red.elem, old, total)
                } else {
                    total
                };
                self.fb.ins().store(flags, total, p, 0);
            }
        }
        Ok(())
    }

    fn addr_id(&mut self, base: Base, addr: Addr) -> usize {
        let key = (base, addr);
        if let Some(&i) = self.ks.addr_ids.get(&key) {
            return i;
        }
        let i = self.ks.addrs.len();
        self.ks.addrs.push(key.clone());
        self.ks.addr_ids.insert(key, i);
        i
    }

    fn elem_of(&self, base: Base) -> Elem {
        match base {
            Base::Val(v) => self.flat.val(v).elem,
            Base::Out(i) => self.flat.val(self.flat.outputs[i]).elem,
        }
    }

    /// The coefficient (in elements) of loop `l` in an address.
    fn loop_coef(k: &Kernel, addr: &Addr, l: usize) -> i64 {
        let axis = *k.sched.loops[l].axes.last().expect("non-empty loop");
        addr.coef[axis]
    }

    /// The address with the contributions of loops `0..=level` (and the
    /// static offset), computed at the anchor of `level`.
    fn ptr(&mut self, k: &'p Kernel, ai: usize, level: i32) -> R<Value> {
        if let Some(&p) = self.ks.ptrs.get(&(ai, level)) {
            return Ok(p);
        }
        let (base, addr) = self.ks.addrs[ai].clone();
        let es = self.elem_of(base).byte_size() as i64;
        let p = if level < 0 {
            let anchor = self.anchor(-1);
            let b = self.base(base, anchor)?;
            if addr.off != 0 {
                let mut pos = cursor(&mut self.fb, anchor);
                pos.ins().iadd_imm_s(b, addr.off * es)
            } else {
                b
            }
        } else {
            let prev = self.ptr(k, ai, level - 1)?;
            let c = Self::loop_coef(k, &addr, level as usize) * es;
            if c == 0 {
                prev
            } else {
                let i = self.ks.idx[level as usize].ok_or_else(|| internal("loop index"))?;
                let anchor = self.anchor(level);
                let mut pos = cursor(&mut self.fb, anchor);
                let t = pos.ins().imul_imm_s(i, c);
                pos.ins().iadd(prev, t)
            }
        };
        self.ks.ptrs.insert((ai, level), p);
        Ok(p)
    }

    /// The address of an access at `level`: pointer and immediate offset.
    fn access(&mut self, k: &'p Kernel, ai: usize, level: i32) -> R<(Value, i32)> {
        let (base, addr) = self.ks.addrs[ai].clone();
        let es = self.elem_of(base).byte_size() as i64;
        let inner = self.inner_level();
        let (mut p, mut off) = if level < inner || self.ks.nloops == 0 {
            (self.ptr(k, ai, level.min(inner))?, 0i64)
        } else {
            let p = self.ptr(k, ai, inner - 1)?;
            let c = Self::loop_coef(k, &addr, inner as usize) * es;
            let pt = self.ks.point;
            let p = match (pt.j, c) {
                (Some(j), c) if c != 0 => {
                    let t = if c > 0 && (c as u64).is_power_of_two() {
                        self.fb.ins().ishl_imm_s(j, c.trailing_zeros() as i64)
                    } else {
                        self.fb.ins().imul_imm_s(j, c)
                    };
                    self.fb.ins().iadd(p, t)
                }
                _ => p,
            };
            (p, pt.off * c)
        };
        for &(id, scale) in &addr.dyns {
            let (d, _) = self.dyn_index(k, id)?;
            let anchor = self.anchor(level);
            let mut pos = cursor(&mut self.fb, anchor);
            let t = pos.ins().imul_imm_s(d, scale * es);
            p = pos.ins().iadd(p, t);
        }
        if off > i32::MAX as i64 || off < i32::MIN as i64 {
            let anchor = self.anchor(level);
            let mut pos = cursor(&mut self.fb, anchor);
            p = pos.ins().iadd_imm_s(p, off);
            off = 0;
        }
        Ok((p, off as i32))
    }

    /// The clamped value of dynamic index `id`.
    fn dyn_index(&mut self, k: &'p Kernel, id: u32) -> R<(Value, i32)> {
        if let Some(&e) = self.ks.dynv.get(&id) {
            return Ok(e);
        }
        let d = &k.dyns[id as usize];
        let (x, lvl) = self.eval(k, d.idx, d.map, false, 1)?;
        let anchor = self.anchor(lvl);
        let mut pos = cursor(&mut self.fb, anchor);
        let zero = pos.ins().iconst(types::I64, 0);
        let hi = pos
            .ins()
            .iconst(types::I64, d.bound.saturating_sub(1) as i64);
        let c = pos.ins().smax(x, zero);
        let c = pos.ins().smin(c, hi);
        self.ks.dynv.insert(id, (c, lvl));
        Ok((c, lvl))
    }

    /// Evaluates every root at the current innermost point.
    fn point(
        &mut self,
        k: &'p Kernel,
        lanes: usize,
        j: Option<Value>,
        off: i64,
        acc: usize,
    ) -> R<()> {
        self.ks.point = Point { j, off };
        let id = k
            .maps
            .identity_id(k.space.len())
            .ok_or_else(|| internal("identity map not interned"))?;
        let inner = self.inner_level();
        for (ri, root) in k.roots.iter().enumerate() {
            match root {
                Root::Store {
                    value,
                    own,
                    dest,
                    output,
                    addr,
                } => {
                    let x = self.operand(k, *value, id, *own, lanes)?;
                    let base = match output {
                        Some(i) => Base::Out(*i),
                        None => Base::Val(*dest),
                    };
                    let ai = self.addr_id(base, addr.clone());
                    let (p, o) = self.access(k, ai, inner)?;
                    let flags = self.region(base);
                    self.fb.ins().store(flags, x, p, o);
                }
                Root::Point { value } => {
                    let (x, _) = self.eval(k, *value, id, true, 1)?;
                    self.define_scalar(*value, x);
                }
                Root::Reduce { operand, .. } => {
                    let x = self.operand(k, *operand, id, false, lanes)?;
                    self.accumulate(k, ri, root, x, lanes, acc)?;
                }
                Root::Matmul { a, b, .. } => {
                    let (am, bm) = k.matmul_ids.ok_or_else(|| internal("matmul maps"))?;
                    let xa = self.operand(k, *a, am, false, lanes)?;
                    let xb = self.operand(k, *b, bm, false, lanes)?;
                    let elem = self.flat.val(*a).elem;
                    let mut pos = self.fb.cursor();
                    let x = if elem.is_float() {
                        pos.ins().fmul(xa, xb)
                    } else {
                        pos.ins().imul(xa, xb)
                    };
                    self.accumulate(k, ri, root, x, lanes, acc)?;
                }
                Root::Scatter {
                    updates,
                    indices,
                    axis,
                    result,
                } => {
                    let x = self.operand(k, *updates, id, false, 1)?;
                    let bound = self.flat.val(*result).shape[*axis];
                    if bound == 0 {
                        continue;
                    }
                    let im = k.scatter_ids.ok_or_else(|| internal("scatter map"))?;
                    let (iv, _) = self.eval(k, *indices, im, false, 1)?;
                    let elem = self.flat.val(*result).elem;
                    let mut pos = self.fb.cursor();
                    let zero = pos.ins().iconst(types::I64, 0);
                    let hi = pos.ins().iconst(types::I64, bound as i64 - 1);
                    let c = pos.ins().smax(iv, zero);
                    let c = pos.ins().smin(c, hi);
                    let addr = k.scatter_addr(self.flat, root);
                    let ai = self.addr_id(Base::Val(*result), addr.0);
                    let (p, o) = self.access(k, ai, inner)?;
                    let es = elem.byte_size() as i64;
                    let flags = self.region(Base::Val(*result));
                    let mut pos = self.fb.cursor();
                    let t = pos.ins().imul_imm_s(c, addr.1 * es);
                    let p = pos.ins().iadd(p, t);
                    let ty = scalar_ty(elem);
                    let old = pos.ins().load(ty, flags, p, o);
                    let new = lower::combine(&mut pos, ReduceOp::Sum, elem, old, x);
                    pos.ins().store(flags, new, p, o);
                }
            }
        }
        Ok(())
    }

    fn accumulate(
        &mut self,
        k: &'p Kernel,
        ri: usize,
        root: &Root,
        x: Value,
        lanes: usize,
        acc: usize,
    ) -> R<()> {
        let red = self.ks.reds[ri]
            .clone()
            .ok_or_else(|| internal("reduction state"))?;
        if red.block.is_some() {
            let var = if acc == TAIL || lanes == 1 && k.sched.width > 1 {
                red.tail.ok_or_else(|| internal("accumulator"))?
            } else {
                red.accs[acc]
            };
            let cur = self.fb.use_var(var);
            let mut pos = self.fb.cursor();
            let new = lower::combine(&mut pos, red.op, red.elem, cur, x);
            self.fb.def_var(var, new);
            return Ok(());
        }
        let addr = match root {
            Root::Reduce { addr, result, .. } | Root::Matmul { addr, result, .. } => {
                (addr.clone(), *result)
            }
            Root::Store { .. } | Root::Point { .. } | Root::Scatter { .. } => {
                return Err(internal("not a reduction"));
            }
        };
        let ai = self.addr_id(Base::Val(addr.1), addr.0);
        let inner = self.inner_level();
        let (p, o) = self.access(k, ai, inner)?;
        let ty = lane_ty(red.elem, lanes);
        let flags = self.region(Base::Val(addr.1));
        let mut pos = self.fb.cursor();
        let old = pos.ins().load(ty, flags, p, o);
        let new = lower::combine(&mut pos, red.op, red.elem, old, x);
        pos.ins().store(flags, new, p, o);
        Ok(())
    }

    /// `v` at `map` on `lanes` lanes (splatting loop-invariant values).
    fn operand(&mut self, k: &'p Kernel, v: Vid, map: MapId, own: bool, lanes: usize) -> R<Value> {
        let (x, lvl) = self.eval(k, v, map, own, lanes)?;
        if lanes == 1 || lvl >= self.inner_level() {
            return Ok(x);
        }
        if let Some(&(s, _)) = self.ks.splats.get(&(v, map)) {
            return Ok(s);
        }
        let elem = self.flat.val(v).elem;
        let anchor = self.anchor(lvl);
        let mut pos = cursor(&mut self.fb, anchor);
        let s = lower::splat(&mut pos, elem, lanes, x);
        self.ks.splats.insert((v, map), (s, lvl));
        Ok(s)
    }

    /// Evaluates `v` at `map`: its value and level. Values of the innermost
    /// level have `lanes` lanes; others are scalars.
    fn eval(
        &mut self,
        k: &'p Kernel,
        v: Vid,
        map: MapId,
        own: bool,
        lanes: usize,
    ) -> R<(Value, i32)> {
        if !own && let Some(&e) = self.ks.memo.get(&(v, map)) {
            return Ok(e);
        }
        let facts = *k
            .facts
            .get(&(v, map))
            .ok_or_else(|| internal("expression not analysed"))?;
        let inner = self.inner_level();
        let lvl = k.level(facts.deps);
        let lanes = if lvl >= inner && self.ks.nloops > 0 {
            lanes
        } else {
            1
        };
        let plan = k
            .plans
            .get(&(v, map, own))
            .ok_or_else(|| internal("no plan"))?;
        let elem = facts.elem;
        let anchor = self.anchor(lvl);
        let x = match plan {
            EPlan::Args(args) => {
                let mut xs = Vec::with_capacity(args.len());
                for &(a, m) in args {
                    xs.push(self.operand(k, a, m, false, lanes)?);
                }
                let arg_elem = self.flat.val(args[0].0).elem;
                let op = &self.flat.node_of(v).ok_or_else(|| internal("node"))?.op;
                let Emit { fb, math, .. } = self;
                if let Some(f) = lowering(op).math() {
                    let x = transcend::emit(fb, anchor, math, f, elem, lanes, &xs)?;
                    self.ks.memo.insert((v, map), (x, lvl));
                    return Ok((x, lvl));
                }
                let mut pos = cursor(fb, anchor);
                match op {
                    Op::Unary(u) => lower::unary(&mut pos, *u, elem, lanes, xs[0])?,
                    Op::Binary(b) => lower::binary(&mut pos, *b, elem, xs[0], xs[1])?,
                    Op::Compare(c) => lower::compare(&mut pos, *c, arg_elem, lanes, xs[0], xs[1]),
                    Op::Select => lower::select(&mut pos, elem, lanes, xs[0], xs[1], xs[2]),
                    Op::Convert { elem: to } => {
                        lower::convert(&mut pos, arg_elem, *to, lanes, xs[0])
                    }
                    Op::Const { .. }
                    | Op::Iota { .. }
                    | Op::Size { .. }
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
                    | Op::Call { .. }
                    | Op::Scan { .. }
                    | Op::While { .. }
                    | Op::ScanAdjoint { .. } => {
                        return Err(internal("not an elementwise op"));
                    }
                }
            }
            EPlan::View(x, m) => self.operand(k, *x, *m, false, lanes)?,
            EPlan::Load(b, addr) => {
                let ai = self.addr_id(Base::Val(*b), addr.clone());
                let (p, o) = self.access(k, ai, lvl)?;
                let ty = lane_ty(elem, lanes);
                let mut flags = self.region(Base::Val(*b));
                if self.plan.stable[*b as usize] {
                    flags = flags.with_readonly().with_can_move();
                }
                let mut pos = cursor(&mut self.fb, anchor);
                pos.ins().load(ty, flags, p, o)
            }
            EPlan::Register(s) => self.scalar(*s, Some(self.ks.anchors[0]))?,
            EPlan::Pad(cond, x, m, value) => {
                if self.holds(cond)? {
                    self.operand(k, *x, *m, false, lanes)?
                } else {
                    constant(&mut cursor(&mut self.fb, anchor), *value, lanes)
                }
            }
            EPlan::Concat(parts) => {
                let mut found = None;
                for (cond, x, m) in parts {
                    if self.holds(cond)? {
                        found = Some((*x, *m));
                        break;
                    }
                }
                let (x, m) = found.ok_or_else(|| internal("no concat operand in range"))?;
                self.operand(k, x, m, false, lanes)?
            }
            EPlan::Iota(ax) => self.iota(k, *ax, elem, lanes, anchor)?,
            EPlan::Splat(s) => constant(&mut cursor(&mut self.fb, anchor), *s, lanes),
            EPlan::Gather { dyn_id, x, xmap } => {
                if k.dyns[*dyn_id as usize].bound == 0 {
                    constant(
                        &mut cursor(&mut self.fb, anchor),
                        Scalar::from_f64(elem, 0.0),
                        lanes,
                    )
                } else {
                    self.operand(k, *x, *xmap, false, lanes)?
                }
            }
        };
        self.ks.memo.insert((v, map), (x, lvl));
        Ok((x, lvl))
    }

    /// Whether a condition holds in the current segment.
    fn holds(&self, cond: &crate::jit::kernel::Cond) -> R<bool> {
        let Some(terms) = cond else { return Ok(false) };
        for &(axis, a, b) in terms {
            let (lo, hi) = self.ks.seg[axis as usize];
            if lo >= a && hi <= b {
                continue;
            }
            if hi <= a || lo >= b {
                return Ok(false);
            }
            return Err(internal("a condition straddles a segment"));
        }
        Ok(true)
    }

    /// The value of an `iota` index on `lanes` lanes.
    fn iota(
        &mut self,
        k: &'p Kernel,
        ax: Ax,
        elem: Elem,
        lanes: usize,
        anchor: Option<Block>,
    ) -> R<Value> {
        let inner = self.inner_level();
        let (axis, start, step) = match ax {
            Ax::Const(c) => {
                return Ok(constant(
                    &mut cursor(&mut self.fb, anchor),
                    Scalar::from_f64(elem, c as f64),
                    lanes,
                ));
            }
            Ax::Lin { axis, start, step } => (axis as usize, start, step),
            Ax::Dyn { .. } => return Err(internal("iota of a dynamic index")),
        };
        let (ix, stat) = match k.sched.axis_loop[axis] {
            None => (None, 0i64),
            Some(l) if l as i32 == inner => (self.ks.point.j, self.ks.point.off),
            Some(l) => (self.ks.idx[l], 0),
        };
        let mut pos = cursor(&mut self.fb, anchor);
        let lane_value = |pos: &mut FuncCursor, lane: i64| -> Value {
            let c = start + step * (stat + lane);
            let i = match ix {
                Some(i) => {
                    let t = pos.ins().imul_imm_s(i, step);
                    pos.ins().iadd_imm_s(t, c)
                }
                None => pos.ins().iconst(types::I64, c),
            };
            lower::convert(pos, Elem::I64, elem, 1, i)
        };
        if lanes == 1 {
            return Ok(lane_value(&mut pos, 0));
        }
        let first = lane_value(&mut pos, 0);
        let mut v = pos.ins().splat(lane_ty(elem, lanes), first);
        for lane in 1..lanes {
            let x = lane_value(&mut pos, lane as i64);
            v = pos.ins().insertlane(v, x, lane as u8);
        }
        Ok(v)
    }
}
