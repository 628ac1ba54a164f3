//! The JIT against the interpreter, op by op: every op and element type over
//! the shapes that exercise vector bodies, remainders and scalar tails
//! (scalar, 0, 1, 2, 3, 7, 8, 33, 1023), with NaN, ±inf, ±0, subnormals and
//! huge values in the data, under the default options and with fusion and
//! vectorisation off.
//!
//! Tolerances: exact (bit for bit, any NaN matching any NaN) for arithmetic,
//! comparisons, `select`, conversions, data movement, `max`/`min`
//! reductions and `scatter_add`; [`TRANSCENDENTAL_ULPS`] for transcendental
//! functions; for reassociated sums and matrix products
//! `|jit − interp| ≤ 4·n·ε·Σ|terms|` with `n` the number of terms, and for
//! products `4·n·ε·|interp|` (the standard bounds for any summation order).

#[path = "jit_support/mod.rs"]
mod support;

use adjit::ir::{
    BinaryOp, CmpOp, ConstData, Dim, Elem, Op, ReduceOp, Scalar, Shape, SliceRange, Tensor, Type,
    UnaryOp, interp,
};
use adjit::jit::{self, Options};
use std::sync::Arc;
use support::*;

/// The largest error of a transcendental function against the interpreter,
/// in ulps of the result (the math kernels' bound is 1–2 ulps against the
/// standard library, which the interpreter calls; 4 leaves room for the
/// library's own error).
const TRANSCENDENTAL_ULPS: u64 = 4;

fn is_transcendental(u: UnaryOp) -> bool {
    matches!(
        u,
        UnaryOp::Exp
            | UnaryOp::Log
            | UnaryOp::Log1p
            | UnaryOp::Expm1
            | UnaryOp::Sin
            | UnaryOp::Cos
            | UnaryOp::Tan
            | UnaryOp::Tanh
            | UnaryOp::Sigmoid
            | UnaryOp::Erf
    )
}

#[test]
fn unary_ops_every_elem_and_shape() {
    for u in UnaryOp::ALL {
        for elem in Elem::ALL {
            if !u.accepts(elem) {
                continue;
            }
            for (si, dims) in SHAPES.iter().enumerate() {
                let t = ty(elem, dims);
                let m = one_op(Op::Unary(u), std::slice::from_ref(&t));
                let x = tensor(&t, 17 + si as u64, Values::Full);
                let tol = if is_transcendental(u) {
                    Tol::Ulps(TRANSCENDENTAL_ULPS)
                } else {
                    Tol::Exact
                };
                check(&m, &[x], &tol, &format!("{} {t}", u.name()));
            }
        }
    }
}

#[test]
fn binary_ops_every_elem_and_shape() {
    for b in BinaryOp::ALL {
        for elem in Elem::ALL {
            if !b.accepts(elem) {
                continue;
            }
            for (si, dims) in SHAPES.iter().enumerate() {
                let t = ty(elem, dims);
                let m = one_op(Op::Binary(b), &[t.clone(), t.clone()]);
                let x = tensor(&t, 100 + si as u64, Values::Full);
                let y = tensor(&t, 200 + si as u64, Values::Full);
                let tol = if matches!(b, BinaryOp::Pow | BinaryOp::Atan2) {
                    Tol::Ulps(TRANSCENDENTAL_ULPS)
                } else {
                    Tol::Exact
                };
                check(&m, &[x, y], &tol, &format!("{} {t}", b.name()));
            }
        }
    }
}

#[test]
fn integer_division_edge_cases() {
    let t = ty(Elem::I64, &[8]);
    let m = one_op(Op::Binary(BinaryOp::Div), &[t.clone(), t.clone()]);
    let x = Tensor::i64(&[8], vec![7, -7, i64::MIN, i64::MIN, 5, 0, i64::MAX, -1]).unwrap();
    let y = Tensor::i64(&[8], vec![2, 2, -1, 1, 0, 0, -1, -1]).unwrap();
    check(&m, &[x, y], &Tol::Exact, "i64 div");
}

#[test]
fn comparisons_every_elem_and_shape() {
    for c in CmpOp::ALL {
        for elem in Elem::ALL {
            if elem == Elem::Bool && !matches!(c, CmpOp::Eq | CmpOp::Ne) {
                continue;
            }
            for (si, dims) in SHAPES.iter().enumerate() {
                let t = ty(elem, dims);
                let m = one_op(Op::Compare(c), &[t.clone(), t.clone()]);
                let x = tensor(&t, 300 + si as u64, Values::Full);
                // Equal elements at some positions, so `eq` is not always false.
                let y = match (
                    x.data(),
                    tensor(&t, 400 + si as u64, Values::Full).into_data(),
                ) {
                    (adjit::ir::Data::F64(a), adjit::ir::Data::F64(mut b)) => {
                        for i in (0..b.len()).step_by(3) {
                            b[i] = a[i];
                        }
                        Tensor::f64(dims, b).unwrap()
                    }
                    (_, d) => Tensor::new(dims.to_vec(), d).unwrap(),
                };
                check(&m, &[x, y], &Tol::Exact, &format!("{} {t}", c.name()));
            }
        }
    }
}

#[test]
fn select_every_elem_and_shape() {
    for elem in Elem::ALL {
        for (si, dims) in SHAPES.iter().enumerate() {
            let t = ty(elem, dims);
            let c = ty(Elem::Bool, dims);
            let m = one_op(Op::Select, &[c.clone(), t.clone(), t.clone()]);
            let inputs = [
                tensor(&c, 500 + si as u64, Values::Full),
                tensor(&t, 600 + si as u64, Values::Full),
                tensor(&t, 700 + si as u64, Values::Full),
            ];
            check(&m, &inputs, &Tol::Exact, &format!("select {t}"));
        }
    }
}

#[test]
fn convert_every_pair() {
    for from in Elem::ALL {
        for to in Elem::ALL {
            for (si, dims) in SHAPES.iter().enumerate() {
                let t = ty(from, dims);
                let m = one_op(Op::Convert { elem: to }, std::slice::from_ref(&t));
                let x = tensor(&t, 800 + si as u64, Values::Full);
                check(&m, &[x], &Tol::Exact, &format!("convert {t} to {to}"));
            }
        }
    }
}

/// The summation bound `4·n·ε·Σ|x|` for a sum reduction, from the
/// interpreter's sum of absolute values.
fn sum_bound(x: &Tensor, axes: &[usize]) -> Vec<f64> {
    let t = x.ty();
    let m = build(std::slice::from_ref(&t), |b, p| {
        let a = push(b, Op::Unary(UnaryOp::Abs), &[p[0]]);
        vec![push(
            b,
            Op::Reduce {
                op: ReduceOp::Sum,
                axes: axes.to_vec(),
            },
            &[a],
        )]
    });
    let abs = interp::eval(&m, "f", std::slice::from_ref(x)).unwrap();
    let n: usize = axes.iter().map(|&a| x.shape()[a]).product();
    let eps = eps(x.elem());
    abs[0]
        .to_f64_vec()
        .iter()
        .map(|s| 4.0 * n as f64 * eps * s)
        .collect()
}

const SHAPES_ND: [&[usize]; 8] = [
    &[0, 3],
    &[1, 1],
    &[2, 3],
    &[3, 7],
    &[8, 8],
    &[33, 5],
    &[5, 33],
    &[3, 4, 5],
];

fn axis_subsets(rank: usize) -> Vec<Vec<usize>> {
    (0..1u32 << rank)
        .map(|mask| (0..rank).filter(|a| mask >> a & 1 == 1).collect())
        .collect()
}

#[test]
fn reductions_every_op_elem_and_axes() {
    for op in ReduceOp::ALL {
        for elem in [Elem::F64, Elem::F32, Elem::I64] {
            let shapes: Vec<&[usize]> = SHAPES.iter().chain(SHAPES_ND.iter()).copied().collect();
            for (si, dims) in shapes.iter().enumerate() {
                for axes in axis_subsets(dims.len()) {
                    let t = ty(elem, dims);
                    let m = one_op(
                        Op::Reduce {
                            op,
                            axes: axes.clone(),
                        },
                        std::slice::from_ref(&t),
                    );
                    let values = match op {
                        ReduceOp::Max | ReduceOp::Min => Values::Full,
                        ReduceOp::Sum => Values::Tame,
                        ReduceOp::Prod => Values::Unitish,
                    };
                    let x = tensor(&t, 900 + si as u64, values);
                    let n: usize = axes.iter().map(|&a| dims[a]).product();
                    let tol = match (op, elem) {
                        (_, Elem::I64) | (ReduceOp::Max | ReduceOp::Min, _) => Tol::Exact,
                        (ReduceOp::Sum, _) => Tol::Abs(sum_bound(&x, &axes)),
                        (ReduceOp::Prod, _) => Tol::Rel(4.0 * n.max(1) as f64 * eps(elem), 0.0),
                    };
                    check(&m, &[x], &tol, &format!("{} {axes:?} of {t}", op.name()));
                }
            }
        }
    }
}

#[test]
fn sums_with_special_values() {
    // NaN and infinities propagate whatever the summation order.
    for dims in [&[7usize][..], &[33], &[1023], &[8, 8]] {
        let t = ty(Elem::F64, dims);
        let n: usize = dims.iter().product();
        let mut v: Vec<f64> = (0..n).map(|i| i as f64 * 0.25).collect();
        let axes: Vec<usize> = (0..dims.len()).collect();
        let m = one_op(
            Op::Reduce {
                op: ReduceOp::Sum,
                axes,
            },
            std::slice::from_ref(&t),
        );
        for special in [
            &[f64::NAN][..],
            &[f64::INFINITY],
            &[f64::INFINITY, f64::NEG_INFINITY],
            &[-0.0],
        ] {
            let mut w = v.clone();
            for (i, s) in special.iter().enumerate() {
                w[(i * 5 + 3) % n] = *s;
            }
            let x = Tensor::f64(dims, w).unwrap();
            check(
                &m,
                &[x],
                &Tol::Rel(1e-12, 1.0),
                &format!("sum of {special:?}"),
            );
        }
        v.iter_mut().for_each(|x| *x = -0.0);
        check(
            &m,
            &[Tensor::f64(dims, v).unwrap()],
            &Tol::Exact,
            "sum of -0",
        );
    }
}

#[test]
fn broadcasts() {
    let cases: &[(&[usize], &[usize], &[usize])] = &[
        (&[], &[7], &[]),
        (&[], &[3, 4], &[]),
        (&[5], &[3, 5], &[1]),
        (&[3], &[3, 5], &[0]),
        (&[1], &[33], &[0]),
        (&[3, 1], &[3, 8], &[0, 1]),
        (&[1, 8], &[3, 8], &[0, 1]),
        (&[4], &[2, 4, 3], &[1]),
        (&[2, 3], &[2, 5, 3], &[0, 2]),
        (&[0], &[4, 0], &[1]),
    ];
    for elem in Elem::ALL {
        for (ci, (from, to, dims)) in cases.iter().enumerate() {
            let t = ty(elem, from);
            let m = one_op(
                Op::Broadcast {
                    shape: Shape::known(to),
                    dims: dims.to_vec(),
                },
                std::slice::from_ref(&t),
            );
            check(
                &m,
                &[tensor(&t, ci as u64, Values::Full)],
                &Tol::Exact,
                &format!("broadcast {t} to {to:?}"),
            );
        }
    }
}

#[test]
fn transposes() {
    let cases: &[(&[usize], &[usize])] = &[
        (&[3, 5], &[1, 0]),
        (&[33, 2], &[1, 0]),
        (&[2, 3, 4], &[2, 0, 1]),
        (&[2, 3, 4], &[1, 2, 0]),
        (&[2, 3, 4], &[0, 2, 1]),
        (&[0, 3], &[1, 0]),
        (&[7], &[0]),
    ];
    for elem in Elem::ALL {
        for (ci, (shape, perm)) in cases.iter().enumerate() {
            let t = ty(elem, shape);
            let m = one_op(
                Op::Transpose {
                    perm: perm.to_vec(),
                },
                std::slice::from_ref(&t),
            );
            check(
                &m,
                &[tensor(&t, ci as u64, Values::Full)],
                &Tol::Exact,
                &format!("transpose {t} {perm:?}"),
            );
        }
    }
}

fn range(start: usize, stop: usize, step: u64) -> SliceRange {
    SliceRange {
        start: Dim::from(start),
        stop: Dim::from(stop),
        step,
    }
}

#[test]
fn slices() {
    let cases: Vec<(&[usize], Vec<SliceRange>)> = vec![
        (&[33], vec![range(1, 33, 1)]),
        (&[33], vec![range(0, 32, 1)]),
        (&[33], vec![range(3, 30, 4)]),
        (&[1023], vec![range(1, 1022, 2)]),
        (&[7], vec![range(2, 2, 1)]),
        (&[5, 8], vec![range(1, 4, 1), range(0, 8, 3)]),
        (&[5, 8], vec![range(0, 5, 2), range(1, 7, 1)]),
        (
            &[3, 4, 5],
            vec![range(1, 3, 1), range(0, 4, 2), range(2, 5, 1)],
        ),
    ];
    for elem in Elem::ALL {
        for (ci, (shape, ranges)) in cases.iter().enumerate() {
            let t = ty(elem, shape);
            let m = one_op(
                Op::Slice {
                    ranges: ranges.clone(),
                },
                std::slice::from_ref(&t),
            );
            check(
                &m,
                &[tensor(&t, ci as u64, Values::Full)],
                &Tol::Exact,
                &format!("slice {t} {ranges:?}"),
            );
        }
    }
}

#[test]
fn reshapes() {
    let cases: &[(&[usize], &[usize])] = &[
        (&[6], &[2, 3]),
        (&[2, 3], &[6]),
        (&[2, 3], &[3, 2]),
        (&[7], &[7, 1]),
        (&[1, 7], &[7]),
        (&[1], &[]),
        (&[], &[1, 1]),
        (&[4, 6], &[2, 12]),
        (&[2, 3, 4], &[4, 3, 2]),
        (&[0, 3], &[3, 0]),
    ];
    for elem in Elem::ALL {
        for (ci, (from, to)) in cases.iter().enumerate() {
            let t = ty(elem, from);
            let m = one_op(
                Op::Reshape {
                    shape: Shape::known(to),
                },
                std::slice::from_ref(&t),
            );
            check(
                &m,
                &[tensor(&t, ci as u64, Values::Full)],
                &Tol::Exact,
                &format!("reshape {t} to {to:?}"),
            );
        }
    }
}

#[test]
fn concats() {
    let cases: &[(&[&[usize]], usize)] = &[
        (&[&[3], &[4]], 0),
        (&[&[1], &[33], &[2]], 0),
        (&[&[0], &[5]], 0),
        (&[&[2, 3], &[2, 5]], 1),
        (&[&[2, 3], &[4, 3]], 0),
        (&[&[3, 1], &[3, 8], &[3, 2]], 1),
    ];
    for elem in Elem::ALL {
        for (ci, (parts, axis)) in cases.iter().enumerate() {
            let ts: Vec<Type> = parts.iter().map(|d| ty(elem, d)).collect();
            let m = one_op(Op::Concat { axis: *axis }, &ts);
            let xs: Vec<Tensor> = ts
                .iter()
                .enumerate()
                .map(|(i, t)| tensor(t, (ci * 10 + i) as u64, Values::Full))
                .collect();
            check(&m, &xs, &Tol::Exact, &format!("concat {ts:?} along {axis}"));
        }
    }
}

#[test]
fn pads() {
    type PadCase<'a> = (&'a [usize], &'a [usize], &'a [usize], &'a [u64]);
    let cases: &[PadCase] = &[
        (&[7], &[1], &[0], &[0]),
        (&[7], &[0], &[1], &[0]),
        (&[33], &[2], &[3], &[0]),
        (&[1023], &[1], &[1], &[0]),
        (&[0], &[2], &[1], &[0]),
        (&[3, 4], &[1, 0], &[0, 2], &[0, 0]),
        (&[5], &[1], &[1], &[2]),
        (&[3, 3], &[0, 1], &[1, 0], &[1, 1]),
    ];
    for elem in Elem::ALL {
        for (ci, (shape, lo, hi, interior)) in cases.iter().enumerate() {
            let t = ty(elem, shape);
            let value = Scalar::from_f64(elem, 3.0);
            let m = one_op(
                Op::Pad {
                    lo: lo.iter().map(|&d| Dim::from(d)).collect(),
                    hi: hi.iter().map(|&d| Dim::from(d)).collect(),
                    interior: interior.to_vec(),
                    value,
                },
                std::slice::from_ref(&t),
            );
            check(
                &m,
                &[tensor(&t, ci as u64, Values::Full)],
                &Tol::Exact,
                &format!("pad {t} {lo:?} {hi:?} {interior:?}"),
            );
        }
    }
}

#[test]
fn gathers_with_clamped_indices() {
    let cases: &[(&[usize], &[usize], usize)] = &[
        (&[7], &[5], 0),
        (&[7], &[], 0),
        (&[4, 3], &[6], 0),
        (&[4, 3], &[2, 2], 1),
        (&[5, 33], &[3], 0),
        (&[3, 4, 5], &[7], 2),
        (&[0, 3], &[0], 0),
    ];
    for elem in Elem::ALL {
        for (ci, (shape, ishape, axis)) in cases.iter().enumerate() {
            let t = ty(elem, shape);
            let it = ty(Elem::I64, ishape);
            let m = one_op(Op::Gather { axis: *axis }, &[t.clone(), it.clone()]);
            let d = shape[*axis] as i64;
            let mut rng = Rng::new(ci as u64);
            let n: usize = ishape.iter().product();
            let idx: Vec<i64> = (0..n).map(|_| rng.below(d as u64 + 6) as i64 - 3).collect();
            let inputs = [
                tensor(&t, ci as u64, Values::Full),
                Tensor::i64(ishape, idx).unwrap(),
            ];
            check(
                &m,
                &inputs,
                &Tol::Exact,
                &format!("gather {t} by {it} along {axis}"),
            );
        }
    }
}

#[test]
fn gather_from_empty_axis_is_a_compile_error() {
    let m = one_op(
        Op::Gather { axis: 0 },
        &[ty(Elem::F64, &[0]), ty(Elem::I64, &[2])],
    );
    let err = jit::compile(&m, "f").err().expect("rejected");
    assert!(matches!(err, jit::CompileError::Invalid { .. }), "{err}");
}

#[test]
fn scatter_adds_in_index_order() {
    let cases: &[(&[usize], &[usize], usize, usize)] = &[
        (&[5], &[5], 0, 3),
        (&[33], &[33], 0, 7),
        (&[4, 3], &[4], 0, 2),
        (&[2, 6], &[6], 1, 4),
        (&[2, 3, 4], &[3], 1, 5),
    ];
    for elem in [Elem::F64, Elem::F32, Elem::I64] {
        for (ci, (ushape, ishape, axis, size)) in cases.iter().enumerate() {
            let ut = ty(elem, ushape);
            let it = ty(Elem::I64, ishape);
            let m = one_op(
                Op::ScatterAdd {
                    axis: *axis,
                    size: Dim::from(*size),
                },
                &[ut.clone(), it.clone()],
            );
            let mut rng = Rng::new(ci as u64 + 50);
            let n: usize = ishape.iter().product();
            let idx: Vec<i64> = (0..n)
                .map(|_| rng.below(*size as u64 + 4) as i64 - 2)
                .collect();
            let inputs = [
                tensor(&ut, ci as u64, Values::Tame),
                Tensor::i64(ishape, idx).unwrap(),
            ];
            check(
                &m,
                &inputs,
                &Tol::Exact,
                &format!("scatter_add {ut} by {it} along {axis}"),
            );
        }
    }
}

#[test]
fn iotas_and_constants() {
    for elem in [Elem::F64, Elem::F32, Elem::I64] {
        for (dims, axis) in [
            (&[7usize][..], 0usize),
            (&[33], 0),
            (&[3, 5], 0),
            (&[3, 5], 1),
            (&[2, 3, 4], 2),
        ] {
            let m = one_op(
                Op::Iota {
                    ty: ty(elem, dims),
                    axis,
                },
                &[],
            );
            check(&m, &[], &Tol::Exact, &format!("iota {elem}{dims:?} {axis}"));
            // And iota fused into arithmetic, vectorised along the axis.
            let t = ty(elem, dims);
            let m = build(std::slice::from_ref(&t), |b, p| {
                let i = push(
                    b,
                    Op::Iota {
                        ty: t.clone(),
                        axis,
                    },
                    &[],
                );
                vec![push(b, Op::Binary(BinaryOp::Mul), &[i, p[0]])]
            });
            check(
                &m,
                &[tensor(&t, 3, Values::Tame)],
                &Tol::Exact,
                &format!("iota·x {t}"),
            );
        }
    }
    for elem in Elem::ALL {
        let t = ty(elem, &[2, 3]);
        let items: Vec<Scalar> = (0..6)
            .map(|i| Scalar::from_f64(elem, i as f64 - 2.5))
            .collect();
        let dense = Op::Const {
            ty: t.clone(),
            data: ConstData::Dense(Arc::from(items)),
        };
        check(&one_op(dense, &[]), &[], &Tol::Exact, &format!("dense {t}"));
        let splat = Op::Const {
            ty: ty(elem, &[33]),
            data: ConstData::Splat(Scalar::from_f64(elem, -1.5)),
        };
        check(
            &one_op(splat, &[]),
            &[],
            &Tol::Exact,
            &format!("splat {elem}"),
        );
    }
}

/// The bound for a matrix product: `4·k·ε·(|a|·|b|)`.
fn matmul_bound(a: &Tensor, b: &Tensor) -> Vec<f64> {
    let m = build(&[a.ty(), b.ty()], |bld, p| {
        let x = push(bld, Op::Unary(UnaryOp::Abs), &[p[0]]);
        let y = push(bld, Op::Unary(UnaryOp::Abs), &[p[1]]);
        vec![push(bld, Op::Matmul, &[x, y])]
    });
    let abs = interp::eval(&m, "f", &[a.clone(), b.clone()]).unwrap();
    let k = a.shape()[a.shape().len() - 1] as f64;
    abs[0]
        .to_f64_vec()
        .iter()
        .map(|s| 4.0 * k * eps(a.elem()) * s + 1e-300)
        .collect()
}

#[test]
fn matmuls_inline_gemm_matvec_and_batched() {
    let cases: &[(&[usize], &[usize])] = &[
        (&[1, 1], &[1, 1]),
        (&[1, 5], &[5, 1]),
        (&[3, 4], &[4, 5]),
        (&[7, 1], &[1, 9]),
        (&[2, 0], &[0, 3]),
        (&[33, 17], &[17, 8]),
        (&[100, 3], &[3, 1]),
        (&[1, 100], &[100, 50]),
        (&[64, 64], &[64, 64]),
        (&[40, 30], &[30, 20]),
        (&[2, 3, 4], &[2, 4, 5]),
        (&[3, 20, 20], &[3, 20, 20]),
    ];
    for elem in [Elem::F64, Elem::F32, Elem::I64] {
        for (ci, (sa, sb)) in cases.iter().enumerate() {
            let (ta, tb) = (ty(elem, sa), ty(elem, sb));
            let m = one_op(Op::Matmul, &[ta.clone(), tb.clone()]);
            let a = tensor(&ta, ci as u64, Values::Tame);
            let b = tensor(&tb, ci as u64 + 99, Values::Tame);
            let tol = if elem == Elem::I64 {
                Tol::Exact
            } else {
                Tol::Abs(matmul_bound(&a, &b))
            };
            check(&m, &[a, b], &tol, &format!("matmul {ta} {tb}"));
        }
    }
}

#[test]
fn matmul_of_transposed_operands() {
    // a·bᵀ, aᵀ·b and aᵀ·bᵀ: strides, not copies, for the GEMM library.
    for (m_, k, n) in [
        (3usize, 4usize, 5usize),
        (40, 30, 20),
        (100, 10, 1),
        (1, 50, 60),
    ] {
        for (ta_, tb_) in [(false, true), (true, false), (true, true)] {
            let sa = if ta_ { [k, m_] } else { [m_, k] };
            let sb = if tb_ { [n, k] } else { [k, n] };
            let (ta, tb) = (ty(Elem::F64, &sa), ty(Elem::F64, &sb));
            let mm = build(&[ta.clone(), tb.clone()], |b, p| {
                let x = if ta_ {
                    push(b, Op::Transpose { perm: vec![1, 0] }, &[p[0]])
                } else {
                    p[0]
                };
                let y = if tb_ {
                    push(b, Op::Transpose { perm: vec![1, 0] }, &[p[1]])
                } else {
                    p[1]
                };
                vec![push(b, Op::Matmul, &[x, y])]
            });
            let a = tensor(&ta, 1, Values::Tame);
            let b = tensor(&tb, 2, Values::Tame);
            let at = if ta_ { transpose2(&a) } else { a.clone() };
            let bt = if tb_ { transpose2(&b) } else { b.clone() };
            let tol = Tol::Abs(matmul_bound(&at, &bt));
            check(
                &mm,
                &[a, b],
                &tol,
                &format!("matmul {ta}ᵀ? {ta_} {tb}ᵀ? {tb_}"),
            );
        }
    }
}

fn transpose2(x: &Tensor) -> Tensor {
    let (r, c) = (x.shape()[0], x.shape()[1]);
    let v = x.to_f64_vec();
    let t: Vec<f64> = (0..c * r).map(|i| v[(i % r) * c + i / r]).collect();
    Tensor::f64(&[c, r], t).unwrap()
}

#[test]
fn strict_order_reductions_are_bit_identical() {
    let opts = Options {
        strict_order: true,
        ..Options::default()
    };
    for dims in [&[1023usize][..], &[33, 5], &[5, 33], &[3, 4, 5]] {
        for axes in axis_subsets(dims.len()) {
            let t = ty(Elem::F64, dims);
            let m = one_op(
                Op::Reduce {
                    op: ReduceOp::Sum,
                    axes: axes.clone(),
                },
                std::slice::from_ref(&t),
            );
            check_with(
                &m,
                &[tensor(&t, 5, Values::Tame)],
                &Tol::Exact,
                &opts,
                &format!("strict sum {axes:?} {t}"),
            );
        }
    }
    let (ta, tb) = (ty(Elem::F64, &[40, 30]), ty(Elem::F64, &[30, 20]));
    let m = one_op(Op::Matmul, &[ta.clone(), tb.clone()]);
    let inputs = [tensor(&ta, 1, Values::Tame), tensor(&tb, 2, Values::Tame)];
    check_with(&m, &inputs, &Tol::Exact, &opts, "strict matmul");
}

#[test]
fn calls_are_inlined() {
    use adjit::ir::{Graph, Module};
    let mut module = Module::new();
    let g = Graph::new("sq");
    let x = g.param("x", Type::f64(&[5]));
    let y = (x * x).sum_all();
    module.add(g.finish(&[y]).unwrap()).unwrap();
    let g = Graph::with_module("f", &module);
    let x = g.param("x", Type::f64(&[5]));
    let a = g.call("sq", &[x])[0];
    let b = g.call("sq", &[x.exp()])[0];
    let out = a + b;
    module.add(g.finish(&[out]).unwrap()).unwrap();
    let x = tensor(&Type::f64(&[5]), 3, Values::Tame);
    check(&module, &[x], &Tol::Rel(1e-14, 1.0), "calls");
}

#[test]
fn outputs_that_are_inputs_or_repeated() {
    let t = ty(Elem::F64, &[7]);
    let m = build(&[t.clone(), ty(Elem::F64, &[])], |b, p| {
        let y = push(b, Op::Unary(UnaryOp::Neg), &[p[0]]);
        vec![p[0], y, y, p[1], p[1]]
    });
    let inputs = [tensor(&t, 1, Values::Full), Tensor::from_f64(2.5)];
    check(&m, &inputs, &Tol::Exact, "outputs");
}

#[test]
fn symbolic_unverified_and_loop_functions_are_errors() {
    use adjit::ir::{Graph, Module};
    // Symbolic sizes.
    let g = Graph::new("f");
    let x = g.param("x", Type::new(Elem::F64, Shape(vec![Dim::var("n")])));
    let y = x.exp();
    let mut m = Module::new();
    m.add(g.finish(&[y]).unwrap()).unwrap();
    let err = jit::compile(&m, "f").err().expect("symbolic");
    assert!(
        matches!(err, jit::CompileError::NotMonomorphic { .. }),
        "{err}"
    );
    // ... but compile_for instantiates it.
    let c = jit::compile_for(&m, "f", &[Type::f64(&[3])]).unwrap();
    let r = c
        .call(&[&Tensor::f64(&[3], vec![0.0, 1.0, 2.0]).unwrap()])
        .unwrap();
    assert_eq!(r[0].as_f64().unwrap(), &[1.0, 1f64.exp(), 2f64.exp()]);
    // Unknown function.
    assert!(matches!(
        jit::compile(&m, "nope"),
        Err(jit::CompileError::UnknownFunction(_))
    ));
}
