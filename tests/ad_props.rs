//! Property tests: random well-typed graphs (elementwise, reductions,
//! structural ops, matmul, select, gather; concrete and symbolic shapes)
//! pass the verifier after every transform, and their JVP and VJP pass the
//! dot-product test `<J·v, w> = <v, Jᵀ·w>`.

mod ad_support;

use ad_support::{Case, Domain, Rng, dot, eval, loss_module, random_like, sample_inputs};
use adjit::ad::{self, Mode};
use adjit::ir::graph::broadcast_shapes;
use adjit::ir::{Dim, Elem, Graph, Module, Shape, Tensor, Type, Var, verify_module};
use proptest::prelude::*;

const SHAPES: [&[&str]; 5] = [&[], &["3"], &["2", "3"], &["n"], &["2", "n"]];

fn shape_of(dims: &[&str]) -> Shape {
    Shape(
        dims.iter()
            .map(|s| s.parse::<i64>().map_or_else(|_| Dim::var(s), Dim::Known))
            .collect(),
    )
}

fn compatible(a: &Shape, b: &Shape) -> bool {
    broadcast_shapes(&[a.clone(), b.clone()]).is_ok()
}

/// Applies op `code` to pool entries picked by `i`, `j`; `None` if the
/// operands do not fit the op.
fn apply<'g>(g: &'g Graph, code: u8, a: Var<'g>, b: Var<'g>) -> Option<Var<'g>> {
    let (sa, sb) = (a.shape(), b.shape());
    let rank = sa.rank();
    let first = sa.dims().first().cloned();
    Some(match code {
        0 => a.sin(),
        1 => a.tanh(),
        2 if compatible(&sa, &sb) => a * b,
        3 if compatible(&sa, &sb) => a + b,
        4 if compatible(&sa, &sb) => a - b,
        5 if compatible(&sa, &sb) => a / (b * b + 1.0),
        6 => a.tanh().exp(),
        7 => a.sigmoid(),
        8 if rank > 0 => a.sum(&[rank - 1]),
        9 if rank > 0 => a.reduce_max(&[0]),
        10 if rank > 0 => a.reduce_prod(&[rank - 1]),
        11 if rank == 2 => a.t(),
        12 if rank > 0 => {
            let n = sa.element_count().ok()?;
            a.reshape(Shape(vec![n]))
        }
        // Only from known sizes of at least 2, so no axis becomes empty.
        13 if first.as_ref().and_then(Dim::known).is_some_and(|k| k >= 2) => {
            a.slice_axis(0, 1usize, first?)
        }
        14 if rank > 0 => {
            let lo = vec![1; rank];
            let hi = vec![2; rank];
            a.pad(&lo, &hi, 0.5)
        }
        15 if rank > 0 && sa.rank() == sb.rank() && sa.dims()[1..] == sb.dims()[1..] => {
            g.concat(&[a, b], 0)
        }
        16 => {
            let mut dims = vec![Dim::Known(2)];
            dims.extend_from_slice(sa.dims());
            a.broadcast_to(Shape(dims))
        }
        17 if rank == 2 && sb.rank() == 2 && sa.dims()[1] == sb.dims()[0] => a.matmul(b),
        18 if rank == 2 => a.matmul(a.t()),
        19 if sa == sb => g.select(a.gt(b), a * b, b.cos()),
        20 if rank > 0 && first.as_ref().and_then(Dim::known) != Some(0) => {
            let idx = g.constant_i64(&[1, 0, 1], [3]);
            a.gather(idx, 0)
        }
        21 => (a * a + 1.0).sqrt(),
        22 => (a * a + 1.0).log(),
        23 if sa == sb => a.max(b),
        24 if sa == sb => (a * a + 1.0).pow(b.tanh()),
        25 => a.erf(),
        26 => (a * a + 0.5).recip(),
        _ => return None,
    })
}

const OPS: u8 = 27;

/// A random function `@f` from a program of (op, operand, operand) picks.
fn random_case(params: &[usize], program: &[(u8, u16, u16)], outs: &[u16]) -> Option<Case> {
    let types: Vec<Type> = params
        .iter()
        .map(|&k| Type::new(Elem::F64, shape_of(SHAPES[k % SHAPES.len()])))
        .collect();
    // Every symbolic shape here has `n` as a whole dimension, so whichever
    // parameter mentions `n` binds it.
    let g = Graph::new("f");
    let mut pool: Vec<Var<'_>> = types
        .iter()
        .enumerate()
        .map(|(i, t)| g.param(&format!("p{i}"), t.clone()))
        .collect();
    for &(code, i, j) in program {
        let a = pool[i as usize % pool.len()];
        let b = pool[j as usize % pool.len()];
        if let Some(v) = apply(&g, code % OPS, a, b) {
            pool.push(v);
        }
    }
    let n = pool.len();
    let outputs: Vec<Var<'_>> = outs.iter().map(|&k| pool[n - 1 - k as usize % n]).collect();
    let f = g.finish(&outputs).ok()?;
    let mut module = Module::new();
    module.add(f).ok()?;
    Some(Case {
        name: "f".into(),
        domains: vec![Domain::Any; types.len()],
        wrt: (0..types.len()).collect(),
        params: types,
        module,
    })
}

fn check_case(case: &Case, seed: u64) {
    let text_of = |e: &dyn std::fmt::Display| format!("{e}");
    for res in [
        ad::jvp(&case.module, "f", &case.wrt),
        ad::vjp(&case.module, "f", &case.wrt),
        ad::jacobian(&case.module, "f", &case.wrt, Mode::Forward),
        ad::jacobian(&case.module, "f", &case.wrt, Mode::Reverse),
        ad::grad(&loss_module(case), "loss", &case.wrt),
        ad::hvp(&loss_module(case), "loss", &case.wrt),
    ] {
        let (m, _) = res.unwrap_or_else(|e| panic!("{}", text_of(&e)));
        verify_module(&m).unwrap_or_else(|e| panic!("{}", text_of(&e)));
    }
    let (jm, jf) = ad::jvp(&case.module, "f", &case.wrt).unwrap();
    let (vm, vf) = ad::vjp(&case.module, "f", &case.wrt).unwrap();
    let mut rng = Rng(seed);
    for n in [1i64, 4] {
        let sizes = [("n", n)];
        let x = sample_inputs(case, &sizes, &mut rng);
        let y = eval(&case.module, "f", &x);
        let v: Vec<Tensor> = x.iter().map(|t| random_like(t, &mut rng)).collect();
        let w: Vec<Tensor> = y.iter().map(|t| random_like(t, &mut rng)).collect();
        let jv = eval(&jm, &jf, &[x.clone(), v.clone()].concat());
        let jtw = eval(&vm, &vf, &[x.clone(), w.clone()].concat());
        let (mut lhs, mut mag) = (0.0, 0.0);
        for (k, wk) in w.iter().enumerate() {
            let (s, m) = dot(&jv[y.len() + k], wk);
            lhs += s;
            mag += m;
        }
        let mut rhs = 0.0;
        for (k, vk) in v.iter().enumerate() {
            let (s, m) = dot(vk, &jtw[y.len() + k]);
            rhs += s;
            mag += m;
        }
        assert!(
            (lhs - rhs).abs() <= 1e-12 * mag.max(f64::MIN_POSITIVE),
            "n = {n}: <Jv, w> = {lhs}, <v, Jᵀw> = {rhs}"
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn random_graphs_verify_and_pass_the_dot_product_test(
        params in prop::collection::vec(0usize..SHAPES.len(), 1..4),
        program in prop::collection::vec((0u8..OPS, any::<u16>(), any::<u16>()), 1..14),
        outs in prop::collection::vec(any::<u16>(), 1..3),
        seed in any::<u64>(),
    ) {
        if let Some(case) = random_case(&params, &program, &outs) {
            check_case(&case, seed);
        }
    }
}
