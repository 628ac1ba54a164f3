//! Every op of the catalogue, in `f64` and `f32`, at several concrete sizes
//! of its symbolic shapes:
//! - JVP against central finite differences of the primal (interpreted);
//! - VJP by the dot-product test `<J·v, w> = <v, Jᵀ·w>`;
//! - `grad` of a weighted sum against the VJP, and `hvp` against central
//!   differences of `grad`;
//! - forward and reverse Jacobians against each other and against finite
//!   differences along each coordinate;
//! - `vmap` against the function applied slice by slice.
//!
//! Every AD output is verified.

mod ad_support;

use ad_support::*;
use adjit::ad::{self, Mode};
use adjit::ir::{Dim, Elem, Module, Tensor, verify_module};

/// `(n, m)` bindings the symbolic shapes are evaluated at.
const SIZES: [[(&str, i64); 2]; 3] = [
    [("n", 1), ("m", 3)],
    [("n", 2), ("m", 1)],
    [("n", 4), ("m", 2)],
];

fn transformed(r: Result<(Module, String), ad::AdError>, what: &str) -> (Module, String) {
    let (m, f) = r.unwrap_or_else(|e| panic!("{what}: {e}"));
    verify_module(&m).unwrap_or_else(|e| panic!("{what}: {e}"));
    (m, f)
}

fn float_outputs(case: &Case) -> Vec<usize> {
    let f = case.module.get(&case.name).unwrap();
    (0..f.outputs().len())
        .filter(|&i| f.ty(f.outputs()[i]).elem.is_float())
        .collect()
}

/// Runs `check` on every case and size, with a deterministic generator.
fn for_all(elem: Elem, check: impl Fn(&Case, &[(&str, i64)], &mut Rng)) {
    let mut rng = Rng(0x5eed_0000 + elem as u64);
    for case in catalogue(elem) {
        for sizes in &SIZES {
            check(&case, sizes, &mut rng);
        }
    }
}

fn check_jvp_and_vjp(case: &Case, sizes: &[(&str, i64)], rng: &mut Rng) {
    let elem = case.params[case.wrt[0]].elem;
    let t = case_tol(case);
    let what = format!("{} ({elem}) at {sizes:?}", case.name);
    let x = sample_inputs(case, sizes, rng);
    let v: Vec<Tensor> = case.wrt.iter().map(|&j| random_like(&x[j], rng)).collect();
    let y = eval(&case.module, &case.name, &x);
    let outs = float_outputs(case);

    // JVP: the primal unchanged, the tangents equal to finite differences.
    let (jm, jf) = transformed(ad::jvp(&case.module, &case.name, &case.wrt), &what);
    let args: Vec<Tensor> = x.iter().chain(&v).cloned().collect();
    let jy = eval(&jm, &jf, &args);
    assert_eq!(jy.len(), y.len() + outs.len(), "{what}: jvp outputs");
    assert_eq!(&jy[..y.len()], &y[..], "{what}: jvp primal");
    let fd = central_difference(&case.module, &case.name, &x, &case.wrt, &v, t.h);
    for (k, &i) in outs.iter().enumerate() {
        let tangent = &jy[y.len() + k];
        assert_eq!(tangent.shape(), y[i].shape(), "{what}: tangent shape");
        assert_close(
            &tangent.to_f64_vec(),
            &fd[i],
            t.fd,
            &format!("{what}: jvp output {i}"),
        );
    }

    // VJP: the dot-product test against the (checked) JVP.
    let (rm, rf) = transformed(ad::vjp(&case.module, &case.name, &case.wrt), &what);
    let w: Vec<Tensor> = outs.iter().map(|&i| random_like(&y[i], rng)).collect();
    let args: Vec<Tensor> = x.iter().chain(&w).cloned().collect();
    let ry = eval(&rm, &rf, &args);
    assert_eq!(ry.len(), y.len() + case.wrt.len(), "{what}: vjp outputs");
    assert_eq!(&ry[..y.len()], &y[..], "{what}: vjp primal");
    let (mut lhs, mut lhs_mag) = (0.0, 0.0);
    for (k, wk) in w.iter().enumerate() {
        let (s, m) = dot(&jy[y.len() + k], wk);
        lhs += s;
        lhs_mag += m;
    }
    let (mut rhs, mut rhs_mag) = (0.0, 0.0);
    for (k, vk) in v.iter().enumerate() {
        let xbar = &ry[y.len() + k];
        assert_eq!(xbar.shape(), vk.shape(), "{what}: cotangent shape");
        let (s, m) = dot(vk, xbar);
        rhs += s;
        rhs_mag += m;
    }
    let bound = t.exact * (lhs_mag + rhs_mag).max(f64::MIN_POSITIVE);
    assert!(
        (lhs - rhs).abs() <= bound,
        "{what}: <Jv, w> = {lhs} but <v, Jᵀw> = {rhs} (bound {bound})"
    );
}

#[test]
fn jvp_and_vjp_of_every_op_f64() {
    for_all(Elem::F64, check_jvp_and_vjp);
}

#[test]
fn jvp_and_vjp_of_every_op_f32() {
    for_all(Elem::F32, check_jvp_and_vjp);
}

fn check_grad_and_hvp(case: &Case, sizes: &[(&str, i64)], rng: &mut Rng) {
    let elem = case.params[case.wrt[0]].elem;
    let t = case_tol(case);
    let what = format!("{} ({elem}) at {sizes:?}", case.name);
    let module = loss_module(case);
    let x = sample_inputs(case, sizes, rng);
    let y = eval(&case.module, &case.name, &x);
    let w: Vec<Tensor> = float_outputs(case)
        .iter()
        .map(|&i| random_like(&y[i], rng))
        .collect();
    let xw: Vec<Tensor> = x.iter().chain(&w).cloned().collect();
    let v: Vec<Tensor> = case.wrt.iter().map(|&j| random_like(&x[j], rng)).collect();

    // grad of the weighted sum is Jᵀw, as the VJP of the function computes it.
    let (gm, gf) = transformed(ad::grad(&module, "loss", &case.wrt), &what);
    let g = eval(&gm, &gf, &xw);
    let (rm, rf) = transformed(ad::vjp(&case.module, &case.name, &case.wrt), &what);
    let r = eval(&rm, &rf, &xw);
    for k in 0..case.wrt.len() {
        assert_close(
            &g[1 + k].to_f64_vec(),
            &r[y.len() + k].to_f64_vec(),
            t.exact.sqrt(),
            &format!("{what}: grad {k} vs vjp"),
        );
    }

    // hvp against central differences of grad.
    let (hm, hf) = transformed(ad::hvp(&module, "loss", &case.wrt), &what);
    let args: Vec<Tensor> = xw.iter().chain(&v).cloned().collect();
    let hv = eval(&hm, &hf, &args);
    assert_eq!(hv.len(), case.wrt.len(), "{what}: hvp outputs");
    let fd = central_difference(&gm, &gf, &xw, &case.wrt, &v, t.h);
    for k in 0..case.wrt.len() {
        assert_close(
            &hv[k].to_f64_vec(),
            &fd[1 + k],
            t.fd,
            &format!("{what}: hvp {k}"),
        );
    }
}

#[test]
fn grad_and_hvp_of_every_op_f64() {
    for_all(Elem::F64, check_grad_and_hvp);
}

#[test]
fn grad_and_hvp_of_every_op_f32() {
    for_all(Elem::F32, check_grad_and_hvp);
}

/// `J[i][j]` of the case as nested data, by central differences along each
/// coordinate of each differentiated parameter: `[i][j][a * len_j + b]`.
fn jacobian_by_differences(case: &Case, x: &[Tensor], h: f64) -> Vec<Vec<Vec<f64>>> {
    let outs = float_outputs(case);
    let mut jac: Vec<Vec<Vec<f64>>> = vec![Vec::new(); outs.len()];
    for &j in &case.wrt {
        let len_j = x[j].len();
        // columns[b][i] = ∂y_i/∂x_j[b]
        let columns: Vec<Vec<Vec<f64>>> = (0..len_j)
            .map(|b| {
                let mut e = vec![0.0; len_j];
                e[b] = 1.0;
                let dir = tensor(x[j].elem(), x[j].shape(), e);
                central_difference(&case.module, &case.name, x, &[j], &[dir], h)
            })
            .collect();
        for (k, &i) in outs.iter().enumerate() {
            let len_i = columns.first().map_or(0, |c| c[i].len());
            let mut block = vec![0.0; len_i * len_j];
            for (b, col) in columns.iter().enumerate() {
                for a in 0..len_i {
                    block[a * len_j + b] = col[i][a];
                }
            }
            jac[k].push(block);
        }
    }
    jac
}

fn check_jacobians(case: &Case, sizes: &[(&str, i64)], rng: &mut Rng) {
    let elem = case.params[case.wrt[0]].elem;
    let t = case_tol(case);
    let what = format!("{} ({elem}) at {sizes:?}", case.name);
    let x = sample_inputs(case, sizes, rng);
    let y = eval(&case.module, &case.name, &x);
    let outs = float_outputs(case);
    let (fm, ff) = transformed(
        ad::jacobian(&case.module, &case.name, &case.wrt, Mode::Forward),
        &what,
    );
    let (rm, rf) = transformed(
        ad::jacobian(&case.module, &case.name, &case.wrt, Mode::Reverse),
        &what,
    );
    let jf = eval(&fm, &ff, &x);
    let jr = eval(&rm, &rf, &x);
    assert_eq!(jf.len(), outs.len() * case.wrt.len(), "{what}: blocks");
    assert_eq!(jr.len(), jf.len(), "{what}: blocks");
    let fd = jacobian_by_differences(case, &x, t.h);
    for (k, &i) in outs.iter().enumerate() {
        for (l, &j) in case.wrt.iter().enumerate() {
            let (a, b) = (&jf[k * case.wrt.len() + l], &jr[k * case.wrt.len() + l]);
            let shape: Vec<usize> = y[i].shape().iter().chain(x[j].shape()).copied().collect();
            assert_eq!(a.shape(), &shape[..], "{what}: forward block shape");
            assert_eq!(b.shape(), &shape[..], "{what}: reverse block shape");
            let label = format!("{what}: J[{i}][{j}]");
            assert_close(&a.to_f64_vec(), &b.to_f64_vec(), t.exact.sqrt(), &label);
            assert_close(&a.to_f64_vec(), &fd[k][l], t.fd, &label);
        }
    }
}

#[test]
fn jacobians_of_every_op_f64() {
    for_all(Elem::F64, check_jacobians);
}

#[test]
fn jacobians_of_every_op_f32() {
    for_all(Elem::F32, check_jacobians);
}

/// Slice `b` of a tensor along axis 0.
fn slice0(t: &Tensor, b: usize) -> Tensor {
    let rest: Vec<usize> = t.shape()[1..].to_vec();
    let len: usize = rest.iter().product();
    let v = t.to_f64_vec()[b * len..(b + 1) * len].to_vec();
    tensor(t.elem(), &rest, v)
}

fn check_vmap(case: &Case, sizes: &[(&str, i64)], rng: &mut Rng) {
    let what = format!("{} at {sizes:?}", case.name);
    let batch = 3usize;
    // Batch every parameter, then only the float ones (indices unbatched).
    let all: Vec<usize> = (0..case.params.len()).collect();
    for batched in [all, case.wrt.clone()] {
        let (bm, bf) = transformed(
            ad::vmap(&case.module, &case.name, &batched, Dim::var("b")),
            &what,
        );
        let per_slice: Vec<Vec<Tensor>> = (0..batch)
            .map(|_| sample_inputs(case, sizes, rng))
            .collect();
        let first = &per_slice[0];
        let args: Vec<Tensor> = (0..case.params.len())
            .map(|j| {
                if batched.contains(&j) {
                    let mut shape = vec![batch];
                    shape.extend_from_slice(first[j].shape());
                    let values = per_slice.iter().flat_map(|s| s[j].to_f64_vec()).collect();
                    tensor(first[j].elem(), &shape, values)
                } else {
                    first[j].clone()
                }
            })
            .collect();
        let out = eval(&bm, &bf, &args);
        for (b, slice) in per_slice.iter().enumerate() {
            let inputs: Vec<Tensor> = (0..case.params.len())
                .map(|j| {
                    if batched.contains(&j) {
                        slice[j].clone()
                    } else {
                        first[j].clone()
                    }
                })
                .collect();
            let want = eval(&case.module, &case.name, &inputs);
            for (i, wi) in want.iter().enumerate() {
                let got = slice0(&out[i], b);
                assert_eq!(got.shape(), wi.shape(), "{what}: vmap output {i}");
                assert_close(
                    &got.to_f64_vec(),
                    &wi.to_f64_vec(),
                    1e-12,
                    &format!("{what}: vmap output {i}, slice {b} of {batched:?}"),
                );
            }
        }
    }
}

#[test]
fn vmap_of_every_op_matches_slices() {
    for elem in [Elem::F64, Elem::F32] {
        let mut rng = Rng(0xba7c4);
        for case in catalogue(elem) {
            for sizes in &SIZES {
                check_vmap(&case, sizes, &mut rng);
            }
        }
    }
}
