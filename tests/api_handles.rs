//! The function handles on the programs a new user writes first: loops
//! through `scan` (RK4) and nested differentiation through `while` (a
//! saddle point), each against an independent oracle — a closed form of the
//! discrete scheme, or central differences of the compiled primal.

use adjit::ir::{Graph, Type, Var};
use adjit::{Builder, Error, Func};

fn scalar() -> Type {
    Type::f64(&[])
}

/// RK4 on `y' = −k·y`: one step multiplies by
/// `R(z) = 1 − z + z²/2 − z³/6 + z⁴/24` with `z = h·k`, so `n` steps give
/// `y_n = Rⁿ·y₀` and `∂y_n/∂k = n·Rⁿ⁻¹·R'(z)·h·y₀`, `∂y_n/∂y₀ = Rⁿ`.
#[test]
fn rk4_through_scan_matches_the_closed_form_of_the_scheme() -> Result<(), Error> {
    let b = Builder::new("rk4_step");
    let (k, h, y) = (
        b.param("k", scalar()),
        b.param("h", scalar()),
        b.param("y", scalar()),
    );
    let f = |y| -k * y;
    let k1 = f(y);
    let k2 = f(y + h * 0.5 * k1);
    let k3 = f(y + h * 0.5 * k2);
    let k4 = f(y + h * k3);
    let step = b.finish(&[y + h / 6.0 * (k1 + 2.0 * k2 + 2.0 * k3 + k4)])?;

    let n = 200;
    let b = step.builder("decay");
    let (k, y0) = (b.param("k", scalar()), b.param("y0", scalar()));
    let h = b.scalar(0.01);
    let [y_n] = b.scan_n("rk4_step", n, &[k, h], &[y0], &[]);
    let decay = b.finish(&[y_n])?;

    let (kv, y0v, hv) = (1.7f64, 2.5f64, 0.01f64);
    let z = hv * kv;
    let r = 1.0 - z + z * z / 2.0 - z.powi(3) / 6.0 + z.powi(4) / 24.0;
    let dr = -1.0 + z - z * z / 2.0 + z.powi(3) / 6.0;
    let nf = n as f64;
    let want_y = r.powi(n) * y0v;
    let want_dk = nf * r.powi(n - 1) * dr * hv * y0v;
    let want_dy0 = r.powi(n);

    let value = decay.compile()?.call((kv, y0v))?.scalar(0)?;
    assert!(
        (value - want_y).abs() <= 1e-12 * want_y.abs(),
        "{value} {want_y}"
    );
    let out = decay.value_and_grad()?.compile()?.call((kv, y0v))?;
    let [v, dk, dy0] = [
        out.scalar(0)?,
        out.scalar("grad_k")?,
        out.scalar("grad_y0")?,
    ];
    assert!((v - want_y).abs() <= 1e-12 * want_y.abs());
    assert!(
        (dk - want_dk).abs() <= 1e-11 * want_dk.abs(),
        "{dk} {want_dk}"
    );
    assert!(
        (dy0 - want_dy0).abs() <= 1e-12 * want_dy0.abs(),
        "{dy0} {want_dy0}"
    );
    // wrt by name, one parameter: the same number.
    let only_k = decay.wrt(["k"])?.grad()?.compile()?;
    assert_eq!(only_k.call((kv, y0v))?.scalars()?, [dk]);
    Ok(())
}

/// RK4 on Lotka–Volterra (`x' = αx − βxy`, `y' = δxy − γy`), the state a
/// `[2]` vector built with `stack`; the gradient of the final prey count
/// with respect to the four rates, against central differences of the
/// compiled primal.
#[test]
fn rk4_lotka_volterra_gradient_matches_central_differences() -> Result<(), Error> {
    let b = Builder::new("lv_step");
    let p = b.param("p", Type::f64(&[4]));
    let s = b.param("s", Type::f64(&[2]));
    let h = 0.01;
    // The right-hand side as a function of the step's values (a closure
    // taking a `Var` would be generic over its lifetime).
    fn rhs<'g>(g: &'g Graph, p: Var<'g>, s: Var<'g>) -> Var<'g> {
        let (x, y) = (s.at(0), s.at(1));
        let (alpha, beta, gamma, delta) = (p.at(0), p.at(1), p.at(2), p.at(3));
        g.stack(&[alpha * x - beta * x * y, delta * x * y - gamma * y], 0)
    }
    let rhs = |s| rhs(&b, p, s);
    let k1 = rhs(s);
    let k2 = rhs(s + k1 * (h / 2.0));
    let k3 = rhs(s + k2 * (h / 2.0));
    let k4 = rhs(s + k3 * h);
    let step = b.finish(&[s + (k1 + k2 * 2.0 + k3 * 2.0 + k4) * (h / 6.0)])?;

    let b = step.builder("lv");
    let p = b.param("p", Type::f64(&[4]));
    let s0 = b.param("s0", Type::f64(&[2]));
    let [s_n] = b.scan_n("lv_step", 300, &[p], &[s0], &[]);
    let lv = b.finish(&[s_n.at(0)])?;

    let rates = [1.1, 0.4, 0.4, 0.1];
    let start = [10.0, 10.0];
    let primal = lv.compile()?;
    let grad = lv.wrt(["p"])?.grad()?.compile()?;
    let g = grad.call((&rates, &start))?.to_vec("grad_p")?;
    for i in 0..4 {
        let eps = 1e-6 * rates[i];
        let (mut up, mut down) = (rates, rates);
        up[i] += eps;
        down[i] -= eps;
        let fd = (primal.call((&up, &start))?.scalar(0)?
            - primal.call((&down, &start))?.scalar(0)?)
            / (2.0 * eps);
        assert!(
            (g[i] - fd).abs() <= 1e-6 * fd.abs().max(1.0),
            "rate {i}: {} against {fd}",
            g[i]
        );
    }
    Ok(())
}

/// Nested differentiation through `while`: the inner problem maximises
/// `f(x, y) = x·y − y²/2` over `y` by gradient ascent, its step calling the
/// generated gradient `∂f/∂y`; the outer function is `f(x, y*(x))` at the
/// `y*` the loop reaches, differentiated with respect to `x` through the
/// loop. From `y₀ = 0` with step `η`, after `n` trips `y_n = c·x` with
/// `c = 1 − (1 − η)ⁿ`, so the outer value is `x²(c − c²/2)` and its
/// derivative `2x(c − c²/2)`; `n` is counted by running the loop in Rust.
#[test]
fn nested_gradient_through_a_while_loop_matches_the_closed_form() -> Result<(), Error> {
    let b = Builder::new("f");
    let (x, y) = (b.param("x", scalar()), b.param("y", scalar()));
    let f = b.finish(&[x * y - y * y * 0.5])?;
    let df_dy = f.wrt(["y"])?.grad()?; // (x, y) -> ∂f/∂y, a function of the module

    let eta = 0.3;
    let tol = 1e-6;
    let b = df_dy.builder("ascend");
    let (x, y) = (b.param("x", scalar()), b.param("y", scalar()));
    let [g] = b.call_n(df_dy.name(), &[x, y]);
    let ascend = b.finish(&[y + g * eta])?;

    let b = ascend.builder("far");
    let (x, y) = (b.param("x", scalar()), b.param("y", scalar()));
    let [g] = b.call_n(df_dy.name(), &[x, y]);
    let far = b.finish(&[g.abs().gt(tol)])?;

    let b = far.builder("saddle");
    let x = b.param("x", scalar());
    let (state, trips) = b.while_loop("far", "ascend", 1000, &[x], &[b.scalar(0.0)]);
    let y_star = state[0]; // a while returns as many state values as it was given
    let [value] = b.call_n("f", &[x, y_star]);
    let saddle = b.finish(&[trips, value])?;

    let xv = 1.5;
    let (mut yv, mut n) = (0.0f64, 0i32);
    while (xv - yv).abs() > tol && n < 1000 {
        yv += eta * (xv - yv);
        n += 1;
    }
    let c = 1.0 - (1.0 - eta).powi(n);
    let want = xv * xv * (c - c * c / 2.0);
    let want_d = 2.0 * xv * (c - c * c / 2.0);

    let primal = saddle.compile()?.call((xv,))?;
    assert_eq!(primal.tensor(0)?.as_i64(), Some(&[i64::from(n)][..]));
    assert!(
        (primal.scalar(1)? - want).abs() <= 1e-13,
        "{}",
        primal.scalar(1)?
    );
    // value_and_grad differentiates the last output (the trip count, an
    // integer, is not differentiated).
    let out = saddle.value_and_grad()?.compile()?.call((xv,))?;
    assert_eq!(out.len(), 2);
    assert!((out.scalar(0)? - want).abs() <= 1e-13);
    let d = out.scalar("grad_x")?;
    assert!((d - want_d).abs() <= 1e-12, "{d} against {want_d}");
    Ok(())
}

/// The handles' errors are values: an unknown parameter, an output of
/// another type, a wrong argument.
#[test]
fn handle_errors_are_values() -> Result<(), Error> {
    let b = Builder::new("f");
    let x = b.param("x", Type::f64(&[2]));
    let f = b.finish(&[x.sum_all().named("s"), x])?;
    let err = f.wrt(["z"]).unwrap_err();
    assert!(
        err.to_string()
            .contains("@f has no parameter %z (it has %x)"),
        "{err}"
    );
    let c = f.compile()?;
    let out = c.call(([1.0, 2.0],))?;
    assert!(matches!(out.scalar(1), Err(Error::OutputType { .. })));
    assert!(matches!(out.f64("t"), Err(Error::NoSuch { .. })));
    assert!(matches!(c.call((1.0,)), Err(Error::Call(_))));
    assert!(matches!(c.call(([1.0f32, 2.0],)), Err(Error::Call(_))));
    // grad of a non-scalar last output is AD's error, converted.
    assert!(matches!(
        Func::new(adjit::ir::parse_function(
            "func @v(%x: f64[2]) -> f64[2] {\n  return %x\n}"
        )?)?
        .grad(),
        Err(Error::Ad(_))
    ));
    Ok(())
}

/// GradBench's `particle` (Siskind and Pearlmutter's nested-AD benchmark),
/// its inner problem: a particle starting at (0, 8) with velocity
/// (0.75, 0) moves by Euler steps under the force `−∇p` of two charges at
/// (10, 10 − w) and (10, 0), `p(x) = Σ 1/‖x − cᵢ‖`, until its next step
/// would cross the ground; the loss is the square of where it lands, its
/// path extended in a straight line. The force is the generated gradient
/// of `p`, called inside the `while` body; the loss is differentiated with
/// respect to `w` through the loop. Oracles: the same simulation in plain
/// Rust with the hand-derived force, and central differences of it.
#[test]
fn particle_nested_gradient_through_while_matches_a_plain_rust_simulation() -> Result<(), Error> {
    let dt = 0.1;
    let b = Builder::new("p");
    let (x, w) = (b.param("x", Type::f64(&[2])), b.param("w", scalar()));
    let c1 = b.stack(&[b.scalar(10.0), 10.0 - w], 0);
    let c2 = b.constant(&[10.0, 0.0], &[2][..]);
    let inv = |c| ((x - c) * (x - c)).sum_all().sqrt().recip();
    let p = b.finish(&[inv(c1) + inv(c2)])?;
    let dp = p.wrt(["x"])?.grad()?; // (x, w) -> ∇ₓp

    let b = dp.builder("step");
    let w = b.param("w", scalar());
    let (x, v) = (b.param("x", Type::f64(&[2])), b.param("v", Type::f64(&[2])));
    let [force] = b.call_n(dp.name(), &[x, w]);
    let step = b.finish(&[x + v * dt, v - force * dt])?;

    let b = step.builder("above");
    let _w = b.param("w", scalar());
    let (x, v) = (b.param("x", Type::f64(&[2])), b.param("v", Type::f64(&[2])));
    let above = b.finish(&[(x + v * dt).at(1).gt(0.0)])?;

    let b = above.builder("particle");
    let w = b.param("w", scalar());
    let x0 = b.constant(&[0.0, 8.0], &[2][..]);
    let v0 = b.constant(&[0.75, 0.0], &[2][..]);
    let (state, _trips) = b.while_loop("above", "step", 10_000, &[w], &[x0, v0]);
    let (x, v) = (state[0], state[1]);
    let landing = x + v * (-x.at(1) / v.at(1));
    let particle = b.finish(&[landing.at(0).square()])?;

    fn simulate(w: f64) -> f64 {
        let dt = 0.1;
        let charges = [[10.0, 10.0 - w], [10.0, 0.0]];
        let (mut x, mut v) = ([0.0f64, 8.0], [0.75f64, 0.0]);
        for _ in 0..10_000 {
            if x[1] + dt * v[1] <= 0.0 {
                break;
            }
            // ∇ₓ 1/‖x − c‖ = −(x − c)/‖x − c‖³
            let mut grad = [0.0; 2];
            for c in charges {
                let d = [x[0] - c[0], x[1] - c[1]];
                let r = (d[0] * d[0] + d[1] * d[1]).sqrt();
                for k in 0..2 {
                    grad[k] -= d[k] / (r * r * r);
                }
            }
            x = [x[0] + dt * v[0], x[1] + dt * v[1]];
            v = [v[0] - dt * grad[0], v[1] - dt * grad[1]];
        }
        let t = -x[1] / v[1];
        (x[0] + t * v[0]).powi(2)
    }

    let primal = particle.compile()?;
    let grad = particle.value_and_grad()?.compile()?;
    for w in [0.0, 0.3] {
        let want = simulate(w);
        let got = primal.call((w,))?.scalar(0)?;
        assert!(
            (got - want).abs() <= 1e-10 * want,
            "w={w}: {got} against {want}"
        );
        let eps = 1e-6;
        let fd = (simulate(w + eps) - simulate(w - eps)) / (2.0 * eps);
        let out = grad.call((w,))?;
        assert!((out.scalar(0)? - want).abs() <= 1e-10 * want);
        let d = out.scalar("grad_w")?;
        assert!(
            (d - fd).abs() <= 1e-6 * fd.abs().max(1.0),
            "w={w}: {d} against {fd}"
        );
    }
    Ok(())
}

/// A function generic in its sizes compiles only for given sizes; without
/// them, `compile` is an error that says so (not a panic).
#[test]
fn compiling_a_symbolic_function_needs_its_sizes() -> Result<(), Error> {
    let f = Func::parse(
        "func @sum(%x: f64[n]) -> f64 {\n  %s: f64 = reduce_sum %x, axes=[0]\n  return %s\n}",
    )?;
    let err = f.compile().unwrap_err();
    println!("{err}");
    assert!(
        matches!(err, Error::Compile(_) | Error::Instantiate(_)),
        "{err}"
    );
    let c = f.grad()?.compile_for(&[Type::f64(&[3])])?;
    assert_eq!(c.call(([1.0, 2.0, 3.0],))?.f64("grad_x")?, [1.0, 1.0, 1.0]);
    Ok(())
}
