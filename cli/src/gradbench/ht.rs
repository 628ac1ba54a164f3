//! `ht`: ADBench's hand tracking. `objective` returns the `3N` errors
//! between the `N` measured points and the skinned hand model; `jacobian`
//! their Jacobian, one row per error, with respect to the 26 pose
//! parameters `theta` and, in the "complicated" variant (a non-empty `us`),
//! first two columns for each point's barycentric coordinates `u`.
//!
//! The model: bone `i`'s relative transform is `base_relatives[i]` times
//! the Euler rotation (angles `x, z, y`) of its pose parameters; absolute
//! transforms follow the `parents` chain; the skinned vertices are
//! `Σ_bones weights ⊙ (absolute · inverse_base_absolute)[0..3] ·
//! base_positions`, mirrored in `x` if `is_mirrored`, then rotated by the
//! angle-axis `theta[0..3]` (the identity when its norm is below 10⁻⁴) and
//! translated by `theta[3..6]`. A point's model position is its
//! corresponding vertex ("simple"), or the barycentric combination
//! `u₀·v₀ + u₁·v₁ + (1 − u₀ − u₁)·v₂` of its triangle's vertices
//! ("complicated").
//!
//! The graph works on all bones at once (batched 4×4 products for the
//! relative transforms and the transforms, one `[3·bones, 4] × [4, M]`
//! product for the skinning) except for the parent chain, written out bone
//! by bone (it depends on `parents`, which is part of the cache key with
//! `is_mirrored`). Correspondences and triangles are gathered with `i64`
//! indices made when the input is read. Matrices arrive as GradBench sends
//! them: 4×4 transforms row by row, `base_positions` as `[M, 4]`, `weights`
//! as `[M, bones]`, `points` as `[N, 3]`, `us` as `[N, 2]`.
//!
//! `jacobian` is forward mode: the `jvp` of the objective, batched with
//! `vmap` over the 26 unit tangents of `theta` (and, in the complicated
//! variant, two tangents of `us`, ones in the first and in the second
//! coordinate of every point: since error `i` depends only on point `i`'s
//! `u`, these give each row's two `u` derivatives in one sweep each).

use super::backend::Hints;
use super::input::{field, result, rows, tensor, vector};
use super::{GradbenchError, Job, ad_error, unknown_function};
use adjit::ir::{Elem, Graph, Module, Shape, Tensor, Type, Var};
use serde_json::Value;

/// Pose parameters.
const THETA: usize = 26;

fn bad(msg: String) -> GradbenchError {
    GradbenchError::Input(msg)
}

/// The sizes and structure a graph depends on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Shape3 {
    /// Bones.
    pub(crate) bones: usize,
    /// Model vertices.
    pub(crate) vertices: usize,
    /// Points (correspondences).
    pub(crate) points: usize,
    /// Each bone's parent, or `None` for a root; a parent comes before its
    /// children.
    pub(crate) parents: Vec<Option<usize>>,
    /// Whether the model is mirrored in `x`.
    pub(crate) mirrored: bool,
    /// Whether points lie on triangles (`us` given).
    pub(crate) complicated: bool,
}

/// Where each pose parameter comes from: `theta[k]`, or a constant.
#[derive(Clone, Copy)]
enum Source {
    Theta(usize),
    Zero,
    One,
}

/// The `(bones + 3) × 3` pose parameters as sources, as ADBench's
/// `to_pose_params`: global rotation, scale (ones), translation, then per
/// finger (from row 5, four rows apart) two angles of the first joint and
/// one of the next two.
fn pose_sources(bones: usize) -> Vec<[Source; 3]> {
    let mut pose = vec![[Source::Zero; 3]; bones + 3];
    let mut set = |r: usize, c: usize, s: Source| {
        if let Some(row) = pose.get_mut(r) {
            row[c] = s;
        }
    };
    for c in 0..3 {
        set(0, c, Source::Theta(c));
        set(1, c, Source::One);
        set(2, c, Source::Theta(3 + c));
    }
    let (mut t, mut r) = (6, 5);
    for _finger in 0..5 {
        for joint in 2..=4 {
            set(r, 0, Source::Theta(t));
            t += 1;
            if joint == 2 {
                set(r, 1, Source::Theta(t));
                t += 1;
            }
            r += 1;
        }
        r += 1;
    }
    pose
}

/// A 3×3 or 4×4 matrix from its entries, row by row, each of shape `s`,
/// with the matrix axes appended: `[s.., rows, cols]`.
fn assemble<'g>(g: &'g Graph, entries: &[Var<'g>], lead: &[usize], n: usize) -> Var<'g> {
    let mut one = lead.to_vec();
    one.push(1);
    let parts: Vec<Var<'g>> = entries.iter().map(|e| e.reshape(one.as_slice())).collect();
    let mut full = lead.to_vec();
    full.extend([n, n]);
    g.concat(&parts, lead.len()).reshape(full.as_slice())
}

/// The Euler rotation `Rz(t_z) · Ry(t_y) · Rx(t_x)` with angles given as
/// `(x, z, y)`, each of shape `lead`, as a `[lead.., 4, 4]` transform with
/// no translation.
fn euler<'g>(g: &'g Graph, xzy: [Var<'g>; 3], lead: &[usize]) -> Var<'g> {
    let (tx, tz, ty) = (xzy[0], xzy[1], xzy[2]);
    let (cx, sx) = (tx.cos(), tx.sin());
    let (cy, sy) = (ty.cos(), ty.sin());
    let (cz, sz) = (tz.cos(), tz.sin());
    let zero = g.zeros(Type::f64(lead));
    let one = g.full(adjit::ir::Scalar::F64(1.0), lead);
    let entries = [
        cy * cz,
        -cx * sz + sx * sy * cz,
        sx * sz + cx * sy * cz,
        zero,
        cy * sz,
        cx * cz + sx * sy * sz,
        -sx * cz + cx * sy * sz,
        zero,
        -sy,
        sx * cy,
        cx * cy,
        zero,
        zero,
        zero,
        zero,
        one,
    ];
    assemble(g, &entries, lead, 4)
}

/// The rotation of angle-axis `w` (three scalars), or the identity when
/// `‖w‖ < 10⁻⁴`, as `[3, 3]`.
fn angle_axis<'g>(g: &'g Graph, w: [Var<'g>; 3]) -> Var<'g> {
    let norm = (w[0] * w[0] + w[1] * w[1] + w[2] * w[2]).sqrt();
    let (x, y, z) = (w[0] / norm, w[1] / norm, w[2] / norm);
    let (s, c) = (norm.sin(), norm.cos());
    let entries = [
        x * x + (1.0 - x * x) * c,
        x * y * (1.0 - c) - z * s,
        x * z * (1.0 - c) + y * s,
        x * y * (1.0 - c) + z * s,
        y * y + (1.0 - y * y) * c,
        y * z * (1.0 - c) - x * s,
        x * z * (1.0 - c) - y * s,
        z * y * (1.0 - c) + x * s,
        z * z + (1.0 - z * z) * c,
    ];
    let rotation = assemble(g, &entries, &[], 3);
    let identity = g.constant(&[1., 0., 0., 0., 1., 0., 0., 0., 1.], [3, 3]);
    g.select(norm.lt(1e-4), identity, rotation)
}

/// Scalar `k` of a vector.
fn at(v: Var<'_>, k: usize) -> Var<'_> {
    v.slice_axis(0, k, k + 1).reshape(Shape::scalar())
}

/// The objective's module. Entry parameters: `theta [26]`, `us [N, 2]`
/// (complicated only), `points [N, 3]`, `base_relatives [B, 4, 4]`,
/// `inverse_base_absolutes [B, 4, 4]`, `base_positions [M, 4]`, `weights
/// [M, B]`, then the vertex indices: `[N]` (simple) or three `[N]`
/// (complicated), `i64`. Returns the errors as `[N, 3]`.
pub(crate) fn objective(s: &Shape3) -> Result<(Module, String), GradbenchError> {
    let (b, m, n) = (s.bones, s.vertices, s.points);
    if b == 0 || m == 0 || s.parents.len() != b {
        return Err(bad(
            "the model needs bones, one parent each, and vertices".into()
        ));
    }
    let g = Graph::new("ht");
    let theta = g.param("theta", Type::f64(&[THETA]));
    let us = s.complicated.then(|| g.param("us", Type::f64(&[n, 2])));
    let points = g.param("points", Type::f64(&[n, 3]));
    let base_rel = g.param("base_relatives", Type::f64(&[b, 4, 4]));
    let inv_abs = g.param("inverse_base_absolutes", Type::f64(&[b, 4, 4]));
    let base_pos = g.param("base_positions", Type::f64(&[m, 4]));
    let weights = g.param("weights", Type::f64(&[m, b]));
    let n_idx = if s.complicated { 3 } else { 1 };
    let idx: Vec<Var<'_>> = (0..n_idx)
        .map(|k| {
            g.param(
                &format!("vertex{k}"),
                Type::new(Elem::I64, Shape::from([n])),
            )
        })
        .collect();

    // The bones' Euler angles, [B] each, gathered from theta (and a zero).
    let pose = pose_sources(b);
    let padded = g.concat(&[theta, g.constant(&[0.0, 1.0], [2])], 0);
    let angle = |c: usize| {
        let ix: Vec<i64> = (0..b)
            .map(|i| match pose[i + 3][c] {
                Source::Theta(k) => k as i64,
                Source::Zero => THETA as i64,
                Source::One => THETA as i64 + 1,
            })
            .collect();
        padded.gather(g.constant_i64(&ix, [b]), 0)
    };
    let rotations = euler(&g, [angle(0), angle(1), angle(2)], &[b]);
    let relatives = base_rel.matmul(rotations);

    // Absolute transforms along the parent chain.
    let mut absolutes: Vec<Var<'_>> = Vec::with_capacity(b);
    for i in 0..b {
        let rel = relatives.slice_axis(0, i, i + 1).reshape([4, 4]);
        let abs = match s.parents[i] {
            None => rel,
            Some(p) => match absolutes.get(p) {
                Some(parent) if p < i => parent.matmul(rel),
                _ => {
                    return Err(bad(format!(
                        "bone {i}'s parent {p} does not come before it"
                    )));
                }
            },
        };
        absolutes.push(abs.reshape([1, 4, 4]));
    }
    let absolutes = g.concat(&absolutes, 0);
    let transforms = absolutes.matmul(inv_abs).slice_axis(1, 0usize, 3usize);

    // Skinning: Σ_bones weights ⊙ (transform · base positions), [3, M].
    let posed = transforms
        .reshape([3 * b, 4])
        .matmul(base_pos.t())
        .reshape([b, 3, m]);
    let mut positions = (posed * weights.t().reshape([b, 1, m])).sum(&[0]);
    if s.mirrored {
        positions = positions * g.constant(&[-1.0, 1.0, 1.0], [3, 1]);
    }
    let global = angle_axis(&g, [at(theta, 0), at(theta, 1), at(theta, 2)]);
    let translation = theta.slice_axis(0, 3usize, 6usize).reshape([3, 1]);
    let positions = global.matmul(positions) + translation;

    // Each point's model position, [N, 3].
    let vertices = positions.t();
    let corner = |k: usize| vertices.gather(idx[k], 0);
    let model = match us {
        None => corner(0),
        Some(us) => {
            let (u0, u1) = (
                us.slice_axis(1, 0usize, 1usize),
                us.slice_axis(1, 1usize, 2usize),
            );
            u0 * corner(0) + u1 * corner(1) + (1.0 - u0 - u1) * corner(2)
        }
    };
    let errors = points - model;
    let f = g
        .finish(&[errors])
        .map_err(|e| GradbenchError::Graph(e.to_string()))?;
    let mut module = Module::new();
    module
        .add(f)
        .map_err(|e| GradbenchError::Graph(e.to_string()))?;
    Ok((module, "ht".into()))
}

/// The Jacobian's module: the objective's `jvp` batched over the tangent
/// directions (see the module doc). Same parameters as [`objective`];
/// returns `[N, 3, K]`, `K = 26` (simple) or 28 (the two `u` columns
/// first).
pub(crate) fn jacobian(s: &Shape3) -> Result<(Module, String), GradbenchError> {
    let (module, f) = objective(s)?;
    let graph_err = |e: &dyn std::fmt::Display| GradbenchError::Graph(e.to_string());
    let n_params = module
        .get(&f)
        .ok_or_else(|| GradbenchError::Graph(format!("no function @{f}")))?
        .param_types();
    let wrt: Vec<usize> = if s.complicated { vec![0, 1] } else { vec![0] };
    let (module, tangent) = adjit::ad::jvp(&module, &f, &wrt).map_err(ad_error)?;
    let k = if s.complicated { THETA + 2 } else { THETA };
    let batched: Vec<usize> = (n_params.len()..n_params.len() + wrt.len()).collect();
    let (mut module, batch) =
        adjit::ad::vmap(&module, &tangent, &batched, adjit::ir::Dim::Known(k as i64))
            .map_err(ad_error)?;

    let name = module.fresh_name("ht_jacobian");
    let g = Graph::with_module(&name, &module);
    let args: Vec<Var<'_>> = n_params
        .iter()
        .enumerate()
        .map(|(i, t)| g.param(&format!("p{i}"), t.clone()))
        .collect();
    let first = k - THETA;
    // theta's tangents: row `first + j` is the unit vector j.
    let mut eye = vec![0.0; k * THETA];
    for j in 0..THETA {
        eye[(first + j) * THETA + j] = 1.0;
    }
    let mut call = args.clone();
    call.push(g.constant(&eye, [k, THETA]));
    if s.complicated {
        // us's tangents: direction c ∈ {0, 1} is one in coordinate c of
        // every point.
        let mut unit = vec![0.0; k * 2];
        unit[0] = 1.0;
        unit[3] = 1.0;
        let unit = g.constant(&unit, [k, 1, 2]);
        call.push(unit.broadcast_to([k, s.points, 2]));
    }
    let outs = g.call(&batch, &call);
    let d = *outs
        .get(1)
        .ok_or_else(|| GradbenchError::Graph("the jvp has no tangent output".into()))?;
    let f = g
        .finish(&[d.transpose(&[1, 2, 0])])
        .map_err(|e| graph_err(&e))?;
    module.add(f).map_err(|e| graph_err(&e))?;
    Ok((module, name))
}

/// A list of non-negative integers, each below `limit`.
fn indices(v: &Value, name: &str, limit: usize) -> Result<Vec<i64>, GradbenchError> {
    let list = v
        .as_array()
        .ok_or_else(|| bad(format!("`{name}` must be a list of integers")))?;
    list.iter()
        .map(|x| {
            x.as_u64()
                .and_then(|k| usize::try_from(k).ok())
                .filter(|&k| k < limit)
                .and_then(|k| i64::try_from(k).ok())
                .ok_or_else(|| bad(format!("`{name}` entries must be integers below {limit}")))
        })
        .collect()
}

/// A list of equally long lists of numbers, flattened: (rows, data).
fn table(v: &Value, name: &str, width: usize) -> Result<(usize, Vec<f64>), GradbenchError> {
    let list = v
        .as_array()
        .ok_or_else(|| bad(format!("`{name}` must be a list of lists")))?;
    let mut data = Vec::with_capacity(list.len().saturating_mul(width));
    for row in list {
        let r = super::input::vector_of(row, name)?;
        if r.len() != width {
            return Err(bad(format!("`{name}` rows must have {width} entries")));
        }
        data.extend(r);
    }
    Ok((list.len(), data))
}

/// A list of 4×4 matrices (lists of rows), flattened.
fn transforms(v: &Value, name: &str) -> Result<(usize, Vec<f64>), GradbenchError> {
    let list = v
        .as_array()
        .ok_or_else(|| bad(format!("`{name}` must be a list of 4×4 matrices")))?;
    let mut data = Vec::with_capacity(list.len().saturating_mul(16));
    for m in list {
        let (r, d) = table(m, name, 4)?;
        if r != 4 {
            return Err(bad(format!("`{name}` must hold 4×4 matrices")));
        }
        data.extend(d);
    }
    Ok((list.len(), data))
}

pub(crate) fn job(function: &str, input: &Value) -> Result<Job, GradbenchError> {
    if !matches!(function, "objective" | "jacobian") {
        return Err(unknown_function("ht", function));
    }
    let theta = vector(input, "theta")?;
    if theta.len() != THETA {
        return Err(bad(format!("`theta` must have {THETA} entries")));
    }
    let data = field(input, "data")?;
    let model = field(data, "model")?;
    let (b, base_rel) = transforms(field(model, "base_relatives")?, "base_relatives")?;
    let (b2, inv_abs) = transforms(
        field(model, "inverse_base_absolutes")?,
        "inverse_base_absolutes",
    )?;
    let (m, base_pos) = table(field(model, "base_positions")?, "base_positions", 4)?;
    let (m2, weights) = table(field(model, "weights")?, "weights", b)?;
    let parents: Vec<Option<usize>> = field(model, "parents")?
        .as_array()
        .ok_or_else(|| bad("`parents` must be a list of integers".into()))?
        .iter()
        .map(|p| match p.as_i64() {
            Some(-1) => Ok(None),
            Some(k) => usize::try_from(k)
                .ok()
                .filter(|&k| k < b)
                .map(Some)
                .ok_or_else(|| bad(format!("parent {k} is not a bone"))),
            None => Err(bad("`parents` must be a list of integers".into())),
        })
        .collect::<Result<_, _>>()?;
    let mirrored = field(model, "is_mirrored")?
        .as_bool()
        .ok_or_else(|| bad("`is_mirrored` must be a boolean".into()))?;
    let corr = indices(
        field(data, "correspondences")?,
        "correspondences",
        usize::MAX,
    )?;
    let n = corr.len();
    let (n2, points) = table(field(data, "points")?, "points", 3)?;
    let us_rows = field(input, "us")?;
    let (n3, us) = table(us_rows, "us", 2)?;
    let complicated = n3 != 0;
    if b2 != b || m2 != m || n2 != n || (complicated && n3 != n) || parents.len() != b {
        return Err(bad(
            "the model's and the data's sizes do not agree".to_string()
        ));
    }

    let mut inputs = vec![tensor(&[THETA], theta)?];
    if complicated {
        inputs.push(tensor(&[n, 2], us)?);
    }
    inputs.push(tensor(&[n, 3], points)?);
    inputs.push(tensor(&[b, 4, 4], base_rel)?);
    inputs.push(tensor(&[b, 4, 4], inv_abs)?);
    inputs.push(tensor(&[m, 4], base_pos)?);
    inputs.push(tensor(&[m, b], weights)?);
    let i64s = |v: Vec<i64>| Tensor::i64(&[n], v).map_err(|e| bad(e.to_string()));
    if complicated {
        let triangles = field(model, "triangles")?
            .as_array()
            .ok_or_else(|| bad("`triangles` must be a list of triples".into()))?;
        let tri: Vec<Vec<i64>> = triangles
            .iter()
            .map(|t| {
                let t = indices(t, "triangles", m)?;
                if t.len() == 3 {
                    Ok(t)
                } else {
                    Err(bad("`triangles` must be a list of triples".into()))
                }
            })
            .collect::<Result<_, _>>()?;
        for k in 0..3 {
            let col = corr
                .iter()
                .map(|&c| {
                    usize::try_from(c)
                        .ok()
                        .and_then(|c| tri.get(c))
                        .map(|t| t[k])
                        .ok_or_else(|| bad(format!("correspondence {c} is not a triangle")))
                })
                .collect::<Result<Vec<i64>, _>>()?;
            inputs.push(i64s(col)?);
        }
    } else {
        if let Some(c) = corr.iter().find(|&&c| c as u64 >= m as u64) {
            return Err(bad(format!("correspondence {c} is not a vertex")));
        }
        inputs.push(i64s(corr)?);
    }

    let shape = Shape3 {
        bones: b,
        vertices: m,
        points: n,
        parents,
        mirrored,
        complicated,
    };
    let key = format!(
        "ht/{function}/b={b},m={m},n={n},complicated={complicated},mirrored={mirrored},parents={:?}",
        shape.parents
    );
    let k = if complicated { THETA + 2 } else { THETA };
    match function {
        "objective" => Ok(Job {
            key,
            hints: Hints::default(),
            build: Box::new(move || objective(&shape)),
            inputs,
            output: Box::new(|outs| Ok(super::input::list(result(&outs, 0)?))),
        }),
        _ => Ok(Job {
            key,
            hints: Hints::default(),
            build: Box::new(move || jacobian(&shape)),
            inputs,
            output: Box::new(move |outs| Ok(rows(result(&outs, 0)?, 3 * n, k))),
        }),
    }
}
