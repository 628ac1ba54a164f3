//! Contractions: matrix products called in the GEMM library, one call per
//! batch element (inline products are kernel roots, see [`super::nest`]).

use super::*;

impl<'p> Emit<'_, '_, 'p> {
    pub(super) fn gemm(&mut self, g: &'p GemmStep) -> R<()> {
        let elem = self.flat.val(g.result).elem;
        let fref = match self.gemm_refs.get(&elem) {
            Some(&r) => r,
            None => {
                let id = match self.gemm_decls.get(&elem) {
                    Some(&id) => id,
                    None => {
                        let mut sig = Signature::new(self.math.call_conv);
                        for _ in 0..12 {
                            sig.params.push(AbiParam::new(types::I64));
                        }
                        let id = self
                            .math
                            .module
                            .declare_function(runtime::gemm_symbol(elem), Linkage::Import, &sig)
                            .map_err(cg)?;
                        self.gemm_decls.insert(elem, id);
                        id
                    }
                };
                let r = self.math.module.declare_func_in_func(id, self.fb.func);
                self.gemm_refs.insert(elem, r);
                r
            }
        };
        let shape = &self.flat.val(g.result).shape;
        let r = shape.len();
        let nb = r - 2;
        let sa = &self.flat.val(g.a).shape;
        let (m, n, k) = (shape[r - 2], shape[r - 1], sa[r - 1]);
        let es = elem.byte_size() as i64;
        let abase = self.base(Base::Val(g.a_view.0), None)?;
        let bbase = self.base(Base::Val(g.b_view.0), None)?;
        let cbase = self.base(Base::Val(g.result), None)?;
        let cst = crate::jit::kernel::strides(shape);
        let batch: Vec<usize> = shape[..nb].to_vec();
        let count: usize = batch.iter().product();
        let (aa, ba) = (&g.a_view.1, &g.b_view.1);
        let body = |em: &mut Self, bi: Value| -> R<()> {
            // Per-operand byte offsets of batch element `bi` (row-major over
            // the batch dims): decompose statically when possible.
            let mut offs = [aa.off * es, ba.off * es, 0i64];
            let mut dyn_parts: Vec<(usize, i64)> = Vec::new();
            let mut div = count as i64;
            for (d, &ext) in batch.iter().enumerate() {
                div /= ext as i64;
                let coefs = [aa.coef[d] * es, ba.coef[d] * es, cst[d] * es];
                // index_d = (bi / div) % ext
                for (o, c) in coefs.iter().enumerate() {
                    if *c != 0 {
                        dyn_parts.push((o * 1000 + d, *c));
                    }
                }
                let _ = div;
            }
            let mut ptrs = [abase, bbase, cbase];
            if !batch.is_empty() {
                let mut div = count as i64;
                for (d, &ext) in batch.iter().enumerate() {
                    div /= ext as i64;
                    let q = em.fb.ins().udiv_imm_u(bi, div);
                    let idx = em.fb.ins().urem_imm_u(q, ext as i64);
                    for (o, c) in [aa.coef[d] * es, ba.coef[d] * es, cst[d] * es]
                        .into_iter()
                        .enumerate()
                    {
                        if c != 0 {
                            let t = em.fb.ins().imul_imm_s(idx, c);
                            ptrs[o] = em.fb.ins().iadd(ptrs[o], t);
                        }
                    }
                }
            }
            for (o, off) in offs.iter_mut().enumerate() {
                if *off != 0 {
                    ptrs[o] = em.fb.ins().iadd_imm_s(ptrs[o], *off);
                }
            }
            let c = |em: &mut Self, x: i64| em.fb.ins().iconst(types::I64, x);
            let args = [
                c(em, m as i64),
                c(em, k as i64),
                c(em, n as i64),
                ptrs[0],
                c(em, aa.coef[nb]),
                c(em, aa.coef[nb + 1]),
                ptrs[1],
                c(em, ba.coef[nb]),
                c(em, ba.coef[nb + 1]),
                ptrs[2],
                c(em, n as i64),
                c(em, 1),
            ];
            em.fb.ins().call(fref, &args);
            Ok(())
        };
        if count == 0 {
            return Ok(());
        }
        if count == 1 {
            let zero = self.fb.ins().iconst(types::I64, 0);
            return body(self, zero);
        }
        self.counted_loop(0, count as i64, body)
    }
}
