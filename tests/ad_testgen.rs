//! The project's random module generator (`adjit_ir::testgen`) against the
//! transforms: every op on every element type, symbolic sizes, calls, edge
//! literals, loops. Every transform succeeds with a module that verifies;
//! where the numbers are finite, the JVP and VJP pass the dot-product test.

mod ad_support;

use ad_support::{Rng, dot, tensor};
use adjit::ad::{self, AdError, Mode};
use adjit::ir::interp;
use adjit::ir::testgen::{GenConfig, random_module};
use adjit::ir::{Dim, Elem, Function, Module, Tensor, verify_module};

/// Succeeds with a verified module; an error fails the test.
fn accepted(what: &str, r: Result<(Module, String), AdError>) -> Option<(Module, String)> {
    match r {
        Ok((m, f)) => {
            verify_module(&m).unwrap_or_else(|e| panic!("{what}: output does not verify: {e}"));
            Some((m, f))
        }
        Err(e) => panic!("{what}: {e}"),
    }
}

fn inputs(f: &Function, rng: &mut Rng) -> Vec<Tensor> {
    let env = |v: &str| Some(if v == "n" { 2 } else { 3 });
    f.params()
        .iter()
        .map(|&p| {
            let t = f.ty(p);
            let shape: Vec<usize> = t
                .shape
                .dims()
                .iter()
                .map(|d| d.eval(&env).unwrap())
                .collect();
            let len = shape.iter().product();
            let values = (0..len)
                .map(|_| match t.elem {
                    Elem::I64 => rng.below(7) as f64 - 3.0,
                    Elem::Bool => rng.below(2) as f64,
                    _ => rng.uniform(-2.0, 2.0),
                })
                .collect();
            tensor(t.elem, &shape, values)
        })
        .collect()
}

fn all_finite(ts: &[Tensor]) -> bool {
    ts.iter()
        .all(|t| t.to_f64_vec().iter().all(|x| x.is_finite()))
}

/// `<J·v, w> = <v, Jᵀ·w>` at random data, when every number is finite.
/// Returns whether the test compared non-zero numbers.
fn dot_product_test(
    m: &Module,
    f: &Function,
    wrt: &[usize],
    jvp: &(Module, String),
    vjp: &(Module, String),
    seed: u64,
) -> bool {
    let mut rng = Rng(seed);
    let x = inputs(f, &mut rng);
    let Ok(y) = interp::eval(m, f.name(), &x) else {
        return false;
    };
    let v: Vec<Tensor> = wrt
        .iter()
        .map(|&j| ad_support::random_like(&x[j], &mut rng))
        .collect();
    let float_outs: Vec<usize> = (0..y.len()).filter(|&i| y[i].elem().is_float()).collect();
    let w: Vec<Tensor> = float_outs
        .iter()
        .map(|&i| ad_support::random_like(&y[i], &mut rng))
        .collect();
    let jv = interp::eval(&jvp.0, &jvp.1, &[x.clone(), v.clone()].concat()).unwrap();
    let jtw = interp::eval(&vjp.0, &vjp.1, &[x.clone(), w.clone()].concat()).unwrap();
    if !all_finite(&y) || !all_finite(&jv) || !all_finite(&jtw) {
        return false;
    }
    let (mut lhs, mut rhs, mut mag) = (0.0, 0.0, 0.0);
    for (k, wk) in w.iter().enumerate() {
        let (s, a) = dot(&jv[y.len() + k], wk);
        lhs += s;
        mag += a;
    }
    for (k, vk) in v.iter().enumerate() {
        let (s, a) = dot(vk, &jtw[y.len() + k]);
        rhs += s;
        mag += a;
    }
    let uses_f32 = [m, &jvp.0, &vjp.0]
        .iter()
        .flat_map(|m| m.functions())
        .any(|g| g.values().any(|v| g.ty(v).elem == Elem::F32));
    let rtol = if uses_f32 { 1e-5 } else { 1e-12 };
    // Relative to the size of the terms; where the derivative cancels to
    // rounding noise (`d(p/p)`), relative to the seeds' sizes instead.
    let seeds: f64 = v.iter().map(|t| dot(t, t).0).sum::<f64>().sqrt()
        * w.iter().map(|t| dot(t, t).0).sum::<f64>().sqrt();
    assert!(
        (lhs - rhs).abs() <= rtol * mag.max(seeds),
        "seed {seed}: <Jv, w> = {lhs}, <v, Jᵀw> = {rhs}"
    );
    mag > 0.0
}

#[test]
fn random_modules_transform_verify_and_pass_the_dot_product_test() {
    let cfg = GenConfig {
        nodes: 16,
        ..GenConfig::default()
    };
    let mut compared = 0;
    for seed in 0..1500u64 {
        let m = random_module(seed, &cfg);
        let f = m.last().unwrap().clone();
        let name = f.name().to_string();
        let what = |t: &str| format!("{t} of seed {seed}");
        let wrt: Vec<usize> = (0..f.params().len())
            .filter(|&i| f.ty(f.params()[i]).elem.is_float())
            .collect();
        let jvp = accepted(&what("jvp"), ad::jvp(&m, &name, &wrt));
        let vjp = accepted(&what("vjp"), ad::vjp(&m, &name, &wrt));
        accepted(
            &what("jacfwd"),
            ad::jacobian(&m, &name, &wrt, Mode::Forward),
        );
        accepted(
            &what("jacrev"),
            ad::jacobian(&m, &name, &wrt, Mode::Reverse),
        );
        let all: Vec<usize> = (0..f.params().len()).collect();
        accepted(&what("vmap"), ad::vmap(&m, &name, &all, Dim::var("b")));
        let last = f.ty(*f.outputs().last().unwrap());
        if last.is_scalar() && last.elem.is_float() {
            accepted(&what("grad"), ad::grad(&m, &name, &wrt));
            accepted(&what("hvp"), ad::hvp(&m, &name, &wrt));
        }
        if let (Some(j), Some(v)) = (&jvp, &vjp)
            && dot_product_test(&m, &f, &wrt, j, v, seed)
        {
            compared += 1;
        }
    }
    // Many random modules compute on integers or ignore their float
    // parameters; enough must exercise real derivatives.
    assert!(
        compared >= 75,
        "only {compared} modules had non-zero derivatives"
    );
}
