//! The table of transform compositions (`docs/ad.md`) through the handles:
//! every composition, with and without a loop in the function, builds,
//! compiles and matches the closed-form derivatives of `f(x) = x·sin x`.

use adjit::ir::Type;
use adjit::{Builder, Error, Func, Mode};

/// `x·sin x`, straight or with `x` first rebuilt by a three-step `scan`
/// (`c ← c + x/3` from 0), so that every derivative passes through a loop.
fn f(through_loop: bool) -> Result<Func, Error> {
    let s = Type::f64(&[]);
    let b = Builder::new("third");
    let (x, c) = (b.param("x", s.clone()), b.param("c", s.clone()));
    let step = b.finish(&[c + x / 3.0])?;
    let b = step.builder("f");
    let x = b.param("x", s);
    let y = if through_loop {
        let [c] = b.scan_n("third", 3, &[x], &[b.scalar(0.0)], &[]);
        c
    } else {
        x
    };
    b.finish(&[y * y.sin()])
}

fn d1(x: f64) -> f64 {
    x.cos() * x + x.sin()
}
fn d2(x: f64) -> f64 {
    -x.sin() * x + 2.0 * x.cos()
}
fn d3(x: f64) -> f64 {
    -x.cos() * x - 3.0 * x.sin()
}

type Make = fn(&Func) -> Result<Func, Error>;
type Want = fn(f64) -> Vec<f64>;
type Case = (&'static str, Make, Vec<f64>, Want);

/// (name, transform, arguments after x, expected outputs at x).
fn cases() -> Vec<Case> {
    vec![
        ("grad", |f| f.grad(), vec![], |x| vec![d1(x)]),
        (
            "value_and_grad",
            |f| f.value_and_grad(),
            vec![],
            |x| vec![x * x.sin(), d1(x)],
        ),
        (
            "jvp",
            |f| f.jvp(),
            vec![2.0],
            |x| vec![x * x.sin(), 2.0 * d1(x)],
        ),
        (
            "vjp",
            |f| f.vjp(),
            vec![2.0],
            |x| vec![x * x.sin(), 2.0 * d1(x)],
        ),
        ("hvp", |f| f.hvp(), vec![2.0], |x| vec![2.0 * d2(x)]),
        (
            "jacobian (reverse)",
            |f| f.jacobian(),
            vec![],
            |x| vec![d1(x)],
        ),
        (
            "jacobian (forward)",
            |f| f.jacobian_with(Mode::Forward),
            vec![],
            |x| vec![d1(x)],
        ),
        ("grad ∘ grad", |f| f.grad()?.grad(), vec![], |x| vec![d2(x)]),
        (
            "grad ∘ grad ∘ grad",
            |f| f.grad()?.grad()?.grad(),
            vec![],
            |x| vec![d3(x)],
        ),
        (
            "jvp ∘ grad",
            |f| f.grad()?.jvp(),
            vec![2.0],
            |x| vec![d1(x), 2.0 * d2(x)],
        ),
        (
            "grad ∘ jvp",
            |f| f.jvp()?.wrt([0])?.grad(),
            vec![2.0],
            |x| vec![2.0 * d2(x)],
        ),
        (
            "jvp ∘ jvp",
            |f| f.jvp()?.wrt([0])?.jvp(),
            vec![2.0, 1.0],
            |x| vec![x * x.sin(), 2.0 * d1(x), d1(x), 2.0 * d2(x)],
        ),
        (
            "hvp ∘ grad",
            |f| f.grad()?.hvp(),
            vec![1.0],
            |x| vec![d3(x)],
        ),
        (
            "jvp ∘ jvp ∘ grad",
            |f| f.grad()?.jvp()?.wrt([0])?.jvp(),
            vec![2.0, 1.0],
            |x| vec![d1(x), 2.0 * d2(x), d2(x), 2.0 * d3(x)],
        ),
        (
            "jacobian ∘ grad",
            |f| f.grad()?.jacobian(),
            vec![],
            |x| vec![d2(x)],
        ),
        (
            "jacobian (forward) ∘ grad",
            |f| f.grad()?.jacobian_with(Mode::Forward),
            vec![],
            |x| vec![d2(x)],
        ),
    ]
}

#[test]
fn the_composition_table() -> Result<(), Error> {
    let x = 0.7;
    let mut checked = 0;
    for through_loop in [false, true] {
        let f = f(through_loop)?;
        for (name, make, rest, want) in cases() {
            let built = make(&f).and_then(|d| d.compile());
            let c = match built {
                Ok(c) => c,
                Err(e) => panic!("{name} (loop={through_loop}): {e}"),
            };
            let mut args = vec![x];
            args.extend(&rest);
            let refs: Vec<adjit::jit::ArgRef<'_>> = args
                .iter()
                .map(|a| adjit::jit::ArgRef::F64(std::slice::from_ref(a)))
                .collect();
            let got = c.call(&refs[..])?.scalars()?;
            let want = want(x);
            assert_eq!(got.len(), want.len(), "{name} (loop={through_loop})");
            for (g, w) in got.iter().zip(&want) {
                assert!(
                    (g - w).abs() <= 1e-14 * w.abs().max(1.0),
                    "{name} (loop={through_loop}): {g} {w}"
                );
            }
            checked += 1;
        }
    }
    assert_eq!(checked, 2 * cases().len());
    Ok(())
}

/// `vmap` of derivatives: each row is the derivative at that row's point.
#[test]
fn vmap_of_derivatives() -> Result<(), Error> {
    let xs = [0.3, 0.7, -1.2];
    for through_loop in [false, true] {
        let f = f(through_loop)?;
        let g = f.grad()?.vmap([0], 3)?.compile()?;
        let got = g.call((&xs,))?.to_vec(0)?;
        let h = f.hvp()?.vmap([0], 3)?.compile()?;
        let got_h = h.call((&xs, 2.0))?.to_vec(0)?;
        for (i, &x) in xs.iter().enumerate() {
            assert!((got[i] - d1(x)).abs() <= 1e-14, "loop={through_loop}");
            assert!(
                (got_h[i] - 2.0 * d2(x)).abs() <= 1e-14,
                "loop={through_loop}"
            );
        }
    }
    Ok(())
}
