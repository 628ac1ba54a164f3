//! `ba`: bundle adjustment. `objective` returns the reprojection errors
//! (2 per observation) and the weight errors (1 per observation);
//! `jacobian` their sparse Jacobian in GradBench's abbreviated form, from
//! every observation's dense Jacobian block.
//!
//! The input gives one camera, one point, one weight and one feature, to be
//! repeated `n`, `m` and `p` times, with observation `i` pairing camera
//! `i mod n` with point `i mod m`. The repetition and the observation
//! indices are made when the input is read (not timed, as in the
//! reference); the graph computes every observation (it does not exploit
//! the repetition), gathering each observation's camera and point by index.
//!
//! Outputs are reported as GradBench's reference tool reports them: the
//! first observation's two reprojection errors and its weight error, each
//! with its repetition count.

use super::backend::Hints;
use super::input::{field, finish, float, result, size, tensor, vector_of};
use super::{GradbenchError, Job, ad_error, number, unknown_function};
use adjit::ir::{Graph, Module, Tensor, Type, Var};
use serde_json::{Value, json};

/// Camera parameters: rotation (3), centre (3), focal length, principal
/// point (2), radial distortion (2).
pub(crate) const CAM: usize = 11;

/// Column `c` of a `[p, w]` value, as `[p, 1]`.
fn col<'g>(v: Var<'g>, c: usize) -> Var<'g> {
    v.slice_axis(1, c, c + 1)
}

/// Row `r` of a `[w, p]` value, as `[p]`.
fn row<'g>(v: Var<'g>, r: usize, p: usize) -> Var<'g> {
    v.slice_axis(0, r, r + 1).reshape([p])
}

/// One observation's data, or a batch's, one value per scalar component
/// (all of one shape): camera (rotation 3, centre 3, focal length,
/// principal point 2, radial distortion 2), point, weight, feature.
struct Observation<'g> {
    cam: [Var<'g>; CAM],
    x: [Var<'g>; 3],
    w: Var<'g>,
    feat: [Var<'g>; 2],
}

/// The cross product, component by component.
fn cross<'g>(a: [Var<'g>; 3], b: [Var<'g>; 3]) -> [Var<'g>; 3] {
    [
        a[1] * b[2] - a[2] * b[1],
        a[2] * b[0] - a[0] * b[2],
        a[0] * b[1] - a[1] * b[0],
    ]
}

/// The reprojection errors (x, y) of an observation, component by component
/// (so a batch of observations is computed on contiguous vectors).
fn reprojection<'g>(g: &'g Graph, o: &Observation<'g>) -> [Var<'g>; 2] {
    let c = &o.cam;
    let rot = [c[0], c[1], c[2]];
    let pt = [o.x[0] - c[3], o.x[1] - c[4], o.x[2] - c[5]];
    let (focal, principal, k1, k2) = (c[6], [c[7], c[8]], c[9], c[10]);

    // Rodrigues' rotation; at zero angle, its first-order form. The angle
    // is replaced by 1 where it is zero so that the unused branch stays
    // finite (and so do its derivatives).
    let sqtheta = rot[0] * rot[0] + rot[1] * rot[1] + rot[2] * rot[2];
    let nonzero = sqtheta.not_equal(0.0);
    let theta = g.select(nonzero, sqtheta, 1.0).sqrt();
    let (costheta, sintheta) = (theta.cos(), theta.sin());
    let inv = 1.0 / theta;
    let axis = [rot[0] * inv, rot[1] * inv, rot[2] * inv];
    let tmp = (axis[0] * pt[0] + axis[1] * pt[1] + axis[2] * pt[2]) * (1.0 - costheta);
    let turned = cross(axis, pt);
    let linear = cross(rot, pt);
    let xcam: [Var<'g>; 3] = std::array::from_fn(|i| {
        let rotated = pt[i] * costheta + turned[i] * sintheta + axis[i] * tmp;
        let first_order = pt[i] + linear[i];
        g.select(nonzero, rotated, first_order)
    });

    let proj = [xcam[0] / xcam[2], xcam[1] / xcam[2]];
    let rsq = proj[0] * proj[0] + proj[1] * proj[1];
    let distortion = 1.0 + k1 * rsq + k2 * rsq * rsq;
    std::array::from_fn(|i| o.w * ((proj[i] * distortion * focal + principal[i]) - o.feat[i]))
}

/// The objective graph for `n` cameras, `m` points and `p` observations;
/// parameters `cams [n, 11], x [m, 3], w [p], feats [p, 2], cam_idx [p],
/// pt_idx [p]`; results `reproj_err [p, 2], w_err [p]`.
///
/// The cameras and points are transposed (small) and gathered along their
/// second axis, so each component of the `p` observations is a contiguous
/// vector and the arithmetic runs on whole vectors, not strided columns.
pub(crate) fn objective(n: usize, m: usize, p: usize) -> Result<(Module, String), GradbenchError> {
    let g = Graph::new("ba");
    let cams = g.param("cams", Type::f64(&[n, CAM]));
    let xs = g.param("x", Type::f64(&[m, 3]));
    let w = g.param("w", Type::f64(&[p]));
    let feats = g.param("feats", Type::f64(&[p, 2]));
    let cam_idx = g.param("cam_idx", Type::new(adjit::ir::Elem::I64, [p]));
    let pt_idx = g.param("pt_idx", Type::new(adjit::ir::Elem::I64, [p]));
    let cam = cams.t().gather(cam_idx, 1); // [11, p]
    let x = xs.t().gather(pt_idx, 1); // [3, p]
    let feat = feats.t(); // [2, p]
    let o = Observation {
        cam: std::array::from_fn(|i| row(cam, i, p)),
        x: std::array::from_fn(|i| row(x, i, p)),
        w,
        feat: std::array::from_fn(|i| row(feat, i, p)),
    };
    let [ex, ey] = reprojection(&g, &o);
    let reproj = g.concat(&[ex.reshape([p, 1]), ey.reshape([p, 1])], 1);
    let w_err = 1.0 - w * w;
    finish(&g, &[reproj, w_err])
}

/// The Jacobian graph: the same parameters as [`objective`]; results, per
/// observation, the reprojection errors' derivatives with respect to its
/// camera `[p, 2, 11]`, point `[p, 2, 3]` and weight `[p, 2]`, and the weight
/// error's derivative with respect to the weight `[p]`.
///
/// The blocks are the reverse-mode Jacobian of one observation's errors
/// (one reverse sweep per error, three, rather than one forward sweep per
/// parameter, fifteen), batched over the observations with `vmap`.
pub(crate) fn jacobian(n: usize, m: usize, p: usize) -> Result<(Module, String), GradbenchError> {
    let graph_err = |e: &dyn std::fmt::Display| GradbenchError::Graph(e.to_string());
    let one = Graph::new("observation");
    let cam = one.param("cam", Type::f64(&[1, CAM]));
    let x = one.param("x", Type::f64(&[1, 3]));
    let w = one.param("w", Type::f64(&[1, 1]));
    let feat = one.param("feat", Type::f64(&[1, 2]));
    let o = Observation {
        cam: std::array::from_fn(|i| col(cam, i)),
        x: std::array::from_fn(|i| col(x, i)),
        w,
        feat: std::array::from_fn(|i| col(feat, i)),
    };
    let [ex, ey] = reprojection(&one, &o);
    let reproj = one.concat(&[ex, ey], 1);
    let w_err = 1.0 - w * w;
    let (module, _) = finish(&one, &[reproj, w_err])?;
    let (module, jac) =
        adjit::ad::jacobian(&module, "observation", &[0, 1, 2], adjit::ad::Mode::Reverse)
            .map_err(ad_error)?;
    let (mut module, batched) =
        adjit::ad::vmap(&module, &jac, &[0, 1, 2, 3], p.into()).map_err(ad_error)?;

    let name = module.fresh_name("ba_jacobian");
    let g = Graph::with_module(&name, &module);
    let cams = g.param("cams", Type::f64(&[n, CAM]));
    let xs = g.param("x", Type::f64(&[m, 3]));
    let w = g.param("w", Type::f64(&[p]));
    let feats = g.param("feats", Type::f64(&[p, 2]));
    let cam_idx = g.param("cam_idx", Type::new(adjit::ir::Elem::I64, [p]));
    let pt_idx = g.param("pt_idx", Type::new(adjit::ir::Elem::I64, [p]));
    let cam = cams.gather(cam_idx, 0).reshape([p, 1, CAM]);
    let x = xs.gather(pt_idx, 0).reshape([p, 1, 3]);
    let blocks = g.call(
        &batched,
        &[cam, x, w.reshape([p, 1, 1]), feats.reshape([p, 1, 2])],
    );
    // Blocks in (output, parameter) order: errors by camera, point, weight;
    // weight error by camera, point, weight.
    if blocks.len() != 6 {
        return Err(GradbenchError::Graph(format!(
            "{} Jacobian blocks, expected 6",
            blocks.len()
        )));
    }
    let outs = [
        blocks[0].reshape([p, 2, CAM]),
        blocks[1].reshape([p, 2, 3]),
        blocks[2].reshape([p, 2]),
        blocks[5].reshape([p]),
    ];
    let f = g.finish(&outs).map_err(|e| graph_err(&e))?;
    module.add(f).map_err(|e| graph_err(&e))?;
    Ok((module, name))
}

/// GradBench's abbreviated sparse Jacobian: the first 30 and the last entry
/// of the compressed-row arrays of the `3p × (11n + 3m + p)` matrix whose
/// rows are observation 0's two reprojection errors, …, then the `p` weight
/// errors, each row's entries in column order.
fn sparse(n: usize, m: usize, p: usize, outs: &[Tensor]) -> Result<Value, GradbenchError> {
    let (jc, jx, jw, jww) = (
        result(outs, 0)?,
        result(outs, 1)?,
        result(outs, 2)?,
        result(outs, 3)?,
    );
    if jc.len() < 2 * CAM || jx.len() < 6 || jw.len() < 2 || jww.len() != p {
        return Err(GradbenchError::Eval(
            "Jacobian blocks of the wrong size".into(),
        ));
    }
    const BLOCK: usize = CAM + 3 + 1;
    let row_start = |i: usize| {
        if i <= 2 * p {
            BLOCK * i
        } else {
            BLOCK * 2 * p + (i - 2 * p)
        }
    };
    let mut rows: Vec<usize> = (0..30).map(row_start).collect();
    rows.push(row_start(3 * p));
    let (mut cols, mut vals) = (Vec::with_capacity(31), Vec::with_capacity(31));
    // Observation 0 pairs camera 0 with point 0.
    for r in 0..2 {
        for i in 0..CAM {
            cols.push(i);
            vals.push(number(jc[r * CAM + i]));
        }
        for i in 0..3 {
            cols.push(CAM * n + i);
            vals.push(number(jx[r * 3 + i]));
        }
        cols.push(CAM * n + 3 * m);
        vals.push(number(jw[r]));
    }
    cols.push(CAM * n + 3 * m + p - 1);
    vals.push(number(jww[p - 1]));
    Ok(json!({ "rows": rows, "cols": cols, "vals": vals }))
}

/// The inputs of the objective graph, repeated from one of each.
fn inputs(input: &Value) -> Result<(usize, usize, usize, Vec<Tensor>), GradbenchError> {
    let n = size(input, "n")?;
    let m = size(input, "m")?;
    let p = size(input, "p")?;
    if n == 0 || m == 0 || p == 0 {
        return Err(GradbenchError::Input(
            "`n`, `m` and `p` must be positive".into(),
        ));
    }
    let cam = vector_of(field(input, "cam")?, "cam")?;
    let x = vector_of(field(input, "x")?, "x")?;
    let w = float(input, "w")?;
    let feat = vector_of(field(input, "feat")?, "feat")?;
    if cam.len() != CAM || x.len() != 3 || feat.len() != 2 {
        return Err(GradbenchError::Input(
            "`cam`, `x` and `feat` must have 11, 3 and 2 entries".into(),
        ));
    }
    let repeat = |v: &[f64], times: usize| -> Vec<f64> {
        v.iter().copied().cycle().take(v.len() * times).collect()
    };
    let idx = |modulus: usize| -> Result<Tensor, GradbenchError> {
        let v = (0..p).map(|i| (i % modulus) as i64).collect();
        Tensor::i64(&[p], v).map_err(|e| GradbenchError::Input(e.to_string()))
    };
    let t = vec![
        tensor(&[n, CAM], repeat(&cam, n))?,
        tensor(&[m, 3], repeat(&x, m))?,
        tensor(&[p], vec![w; p])?,
        tensor(&[p, 2], repeat(&feat, p))?,
        idx(n)?,
        idx(m)?,
    ];
    Ok((n, m, p, t))
}

pub(crate) fn job(function: &str, input: &Value) -> Result<Job, GradbenchError> {
    let (n, m, p, inputs) = inputs(input)?;
    let key = format!("ba/{function}/n={n},m={m},p={p}");
    match function {
        "objective" => Ok(Job {
            key,
            hints: Hints::default(),
            build: Box::new(move || objective(n, m, p)),
            inputs,
            output: Box::new(move |outs| {
                let reproj = result(&outs, 0)?;
                let w_err = result(&outs, 1)?;
                if reproj.len() < 2 || w_err.is_empty() {
                    return Err(GradbenchError::Eval("empty results".into()));
                }
                Ok(json!({
                    "reproj_error": { "elements": [number(reproj[0]), number(reproj[1])], "repeated": p },
                    "w_err": { "element": number(w_err[0]), "repeated": p },
                }))
            }),
        }),
        "jacobian" => Ok(Job {
            key,
            hints: Hints::default(),
            build: Box::new(move || jacobian(n, m, p)),
            inputs,
            output: Box::new(move |outs| sparse(n, m, p, &outs)),
        }),
        _ => Err(unknown_function("ba", function)),
    }
}
