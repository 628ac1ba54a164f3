//! Common subexpression elimination by hash-consing.
//!
//! Every op is pure — calls, scans and whiles included, since the IR has no
//! effects — so two nodes with equal ops (attributes included) and equal
//! operands compute equal results, and the later one is replaced by the
//! earlier one. Constants are nodes like any other, so equal constants (same
//! type, bitwise-equal literals: [`adjit_ir::Scalar`]'s equality is bitwise)
//! are merged too.
//!
//! Operands of commutative ops (`add`, `mul`, `min`, `max`, `and`, `or`, `eq`,
//! `ne`) are put in a canonical order in the key, and `gt`/`ge` are keyed as
//! the swapped `lt`/`le`. IEEE addition and multiplication are commutative
//! bit for bit; `min`/`max` are specified symmetrically (`min(-0, +0) = -0`
//! either way, NaN if either operand is NaN). Only the payload of a NaN result
//! may differ when both operands are NaN. The nodes themselves keep their
//! operand order.

use super::rewrite::Rewriter;
use super::{OptError, Outcome, Pass, Rewritten, count};
use adjit_ir::{BinaryOp, CmpOp, Function, Module, Op, Value};
use std::collections::{BTreeMap, HashMap};
use std::hash::{BuildHasherDefault, Hash, Hasher};

/// `lt`, the key of a swapped `gt`.
static LT: Op = Op::Compare(CmpOp::Lt);
/// `le`, the key of a swapped `ge`.
static LE: Op = Op::Compare(CmpOp::Le);

/// The operands of a key: up to three inline (every commutative or swapped
/// op is binary), more on the heap.
#[derive(Clone, Debug)]
enum Args {
    Inline([Value; 3], u8),
    Heap(Vec<Value>),
}

impl Args {
    fn new(a: &[Value]) -> Args {
        match *a {
            [] => Args::Inline([Value(0); 3], 0),
            [x] => Args::Inline([x, Value(0), Value(0)], 1),
            [x, y] => Args::Inline([x, y, Value(0)], 2),
            [x, y, z] => Args::Inline([x, y, z], 3),
            _ => Args::Heap(a.to_vec()),
        }
    }

    fn as_slice(&self) -> &[Value] {
        match self {
            Args::Inline(v, n) => &v[..usize::from(*n)],
            Args::Heap(v) => v,
        }
    }
}

impl PartialEq for Args {
    fn eq(&self, other: &Args) -> bool {
        self.as_slice() == other.as_slice()
    }
}

impl Eq for Args {}

impl Hash for Args {
    fn hash<H: Hasher>(&self, h: &mut H) {
        self.as_slice().hash(h);
    }
}

/// The hash-consing key of a node: op (borrowed) and operands, canonicalised.
fn key<'a>(op: &'a Op, args: &[Value]) -> (&'a Op, Args) {
    match op {
        Op::Binary(
            BinaryOp::Add
            | BinaryOp::Mul
            | BinaryOp::Min
            | BinaryOp::Max
            | BinaryOp::And
            | BinaryOp::Or,
        )
        | Op::Compare(CmpOp::Eq | CmpOp::Ne) => {
            let mut k = Args::new(args);
            match &mut k {
                Args::Inline(v, n) => v[..usize::from(*n)].sort(),
                Args::Heap(v) => v.sort(),
            }
            (op, k)
        }
        Op::Compare(CmpOp::Gt) => (&LT, Args::new(&[args[1], args[0]])),
        Op::Compare(CmpOp::Ge) => (&LE, Args::new(&[args[1], args[0]])),
        _ => (op, Args::new(args)),
    }
}

/// A fast multiplicative hasher (keys are small and not adversarial: a
/// collision costs time, never a wrong merge, since keys are compared in full).
#[derive(Default)]
struct FastHasher(u64);

impl FastHasher {
    const K: u64 = 0xf135_7aea_2e62_a9c5;

    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(Self::K);
    }
}

impl Hasher for FastHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            self.add(u64::from_le_bytes(c.try_into().expect("8 bytes")));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut buf = [0u8; 8];
            buf[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(buf));
        }
    }

    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }

    fn write_u32(&mut self, i: u32) {
        self.add(u64::from(i));
    }

    fn write_u64(&mut self, i: u64) {
        self.add(i);
    }

    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

type Table<'a> = HashMap<(&'a Op, Args), Vec<Value>, BuildHasherDefault<FastHasher>>;

/// Merges nodes that compute the same thing. Counts rule `cse` once per merged node.
pub fn cse(module: &Module, f: &Function) -> Result<Rewritten, OptError> {
    run(module, f).map(|o| o.into_rewritten(f))
}

/// [`cse`] without copying `f` if nothing changes (the copy starts at the
/// first merge, so an unchanged function keeps its names).
pub(crate) fn run(module: &Module, f: &Function) -> Result<Outcome, OptError> {
    let mut rw = Rewriter::new(Pass::Cse, module, f);
    let mut table: Table<'_> = HashMap::default();
    table.reserve(f.nodes().len());
    let mut rules = BTreeMap::new();
    for node in f.nodes() {
        let args = rw.args(node);
        let k = key(&node.op, &args);
        if let Some(existing) = table.get(&k) {
            let existing = existing.clone();
            rw.bind_all(node, &existing)?;
            count(&mut rules, "cse");
        } else {
            let results = rw.copy(node, &args)?;
            table.insert(k, results);
        }
    }
    Ok(Outcome::new(rw.finish()?, rules))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_of_commutative_and_swapped_ops_agree() {
        let (a, b) = (Value(0), Value(1));
        let add = Op::Binary(BinaryOp::Add);
        assert_eq!(key(&add, &[a, b]), key(&add, &[b, a]));
        let sub = Op::Binary(BinaryOp::Sub);
        assert_ne!(key(&sub, &[a, b]), key(&sub, &[b, a]));
        let (lt, gt) = (Op::Compare(CmpOp::Lt), Op::Compare(CmpOp::Gt));
        assert_eq!(key(&lt, &[a, b]), key(&gt, &[b, a]));
        assert_ne!(key(&lt, &[a, b]), key(&gt, &[a, b]));
        let concat = Op::Concat { axis: 0 };
        let four = [a, b, a, b];
        assert_eq!(key(&concat, &four), key(&concat, &four));
        assert_ne!(key(&concat, &four), key(&concat, &four[..3]));
    }
}
