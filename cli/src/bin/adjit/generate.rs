//! Deterministic inputs for `adjit bench` when the user gives none.
//!
//! A bundled workload (`examples/programs`: rosen, logreg, mlp, gmm, spring,
//! bs), recognised by its function name and parameter shapes, gets the data
//! of its generator in `adjit_workloads`, so that it runs in its intended
//! domain (positive prices and volatilities, a stable time step). Any other
//! parameter gets values uniform in [0.5, 1.5), in the domain of `log`,
//! `sqrt` and division alike. The same types always give the same data.
//! Sizes are checked against the [`Limits`] before anything is generated.

use adjit::ir::{Data, Elem, Limits, Tensor, Type};
use adjit_workloads::rng::SplitMix64;
use adjit_workloads::{bs, gmm, logreg, mlp, rosen, spring};

/// The seed of every generated input.
const SEED: u64 = 7;

/// Checks the types of the parameters to generate (`names`) against
/// `limits` (element counts and bytes, in total), so that a huge size is an
/// error naming the parameter, not an allocation failure; and that the
/// allocator can provide the bytes.
pub fn check(names: &[&str], types: &[Type], limits: &Limits) -> Result<(), String> {
    let mut total = 0usize;
    for (name, ty) in names.iter().zip(types) {
        let shape = ty
            .shape
            .as_known()
            .ok_or_else(|| format!("%{name}: the shape {} is not concrete", ty.shape))?;
        let count = limits.check_shape(&format!("%{name}"), &shape, ty.elem.byte_size())?;
        total = total.saturating_add(count.saturating_mul(ty.elem.byte_size()));
        limits.check_bytes("the generated inputs", total)?;
    }
    // A bundled workload's generator may build each array twice.
    crate::limits::probe(total.saturating_mul(2))
        .map_err(|()| format!("the generated inputs need {total} bytes, which cannot be allocated"))
}

/// Inputs for a function named `func` with parameters of the concrete
/// `types`, whose sizes [`check`] has accepted: a workload's data where
/// `func` and the leading types match a bundled workload, otherwise uniform
/// values.
pub fn inputs(func: &str, types: &[Type]) -> Vec<Tensor> {
    let mut out = workload(func, types).unwrap_or_default();
    for (i, ty) in types.iter().enumerate().skip(out.len()) {
        out.push(uniform(ty, SEED.wrapping_add(i as u64)));
    }
    out
}

/// Values uniform in [0.5, 1.5) (`true` for booleans, ones for integers),
/// for a type whose size [`inputs`] has checked.
fn uniform(ty: &Type, seed: u64) -> Tensor {
    let shape = ty.shape.as_known().unwrap_or_default();
    let count: usize = shape.iter().product();
    let mut rng = SplitMix64::new(seed);
    let data = match ty.elem {
        Elem::F64 => Data::F64(rng.uniform_vec(count, 0.5, 1.5)),
        Elem::F32 => Data::F32(
            rng.uniform_vec(count, 0.5, 1.5)
                .into_iter()
                .map(|x| x as f32)
                .collect(),
        ),
        Elem::I64 => Data::I64(vec![1; count]),
        Elem::Bool => Data::Bool(vec![true; count]),
    };
    Tensor::new(shape, data).expect("data of the shape's element count")
}

/// The f64 shapes of `types`, if all are f64 with known shapes.
fn shapes(types: &[Type]) -> Option<Vec<Vec<usize>>> {
    types
        .iter()
        .map(|t| (t.elem == Elem::F64).then(|| t.shape.as_known()).flatten())
        .collect()
}

fn t(shape: &[usize], data: Vec<f64>) -> Option<Tensor> {
    Tensor::f64(shape, data).ok()
}

/// A bundled workload's generated data for its parameters, in the
/// program's parameter order; `None` when `func` and `types` are not one.
fn workload(func: &str, types: &[Type]) -> Option<Vec<Tensor>> {
    let s = shapes(types.get(..arity(func)?)?)?;
    let dims: Vec<&[usize]> = s.iter().map(Vec::as_slice).collect();
    match (func, &dims[..]) {
        ("rosen", [[n]]) => Some(vec![t(&[*n], rosen::inputs(*n, SEED).x)?]),
        ("logreg", [[d], [n, d2], [n2]]) if d == d2 && n == n2 => {
            let inp = logreg::inputs(*n, *d, SEED).ok()?;
            Some(vec![
                t(&[*d], inp.w)?,
                t(&[*n, *d], inp.x)?,
                t(&[*n], inp.y)?,
            ])
        }
        ("mlp", [[i, h], [_], [_, o], [_], [b, _], [_, _]]) => {
            let shape = mlp::Shape {
                input: *i,
                hidden: *h,
                classes: *o,
                batch: *b,
            };
            let inp = mlp::inputs(shape, SEED).ok()?;
            Some(vec![
                t(&[*i, *h], inp.w1)?,
                t(&[*h], inp.b1)?,
                t(&[*h, *o], inp.w2)?,
                t(&[*o], inp.b2)?,
                t(&[*b, *i], inp.x)?,
                t(&[*b, *o], inp.y)?,
            ])
        }
        ("gmm", [[k], [_, d], [_, row], [n, _], [], []]) => {
            let shape = gmm::Shape {
                d: *d,
                k: *k,
                n: *n,
            };
            if shape.icf_row_len().ok()? != *row {
                return None;
            }
            let inp = gmm::inputs(shape, SEED).ok()?;
            Some(vec![
                t(&[*k], inp.alphas.clone())?,
                t(&[*k, *d], inp.means.clone())?,
                t(&[*k, *row], inp.icf.clone())?,
                t(&[*n, *d], inp.x.clone())?,
                Tensor::from_f64(inp.wishart.gamma),
                Tensor::from_f64(inp.wishart.m),
            ])
        }
        ("spring", [[_], [n], [_], [_], []]) => {
            let config = spring::Config {
                masses: *n,
                ..spring::BENCH
            };
            let inp = spring::inputs(config, SEED);
            Some(vec![
                t(&[config.springs()], inp.k)?,
                t(&[*n], inp.v0)?,
                t(&[*n], inp.x0)?,
                t(&[*n], inp.target)?,
                Tensor::from_f64(config.dt),
            ])
        }
        ("bs", [[n], _, _, _, _]) => {
            let inp = bs::inputs(*n, SEED);
            [inp.s, inp.k, inp.t, inp.r, inp.sigma]
                .into_iter()
                .map(|a| t(&[*n], a))
                .collect()
        }
        _ => None,
    }
}

/// The number of parameters of a bundled workload.
fn arity(func: &str) -> Option<usize> {
    Some(match func {
        "rosen" => 1,
        "logreg" => 3,
        "mlp" => 6,
        "gmm" => 6,
        "spring" => 5,
        "bs" => 5,
        _ => return None,
    })
}
