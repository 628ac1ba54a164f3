//! The GradBench tool: the protocol on canned sessions, and every eval's
//! primal against an independent plain-Rust implementation written here.

use adjit_cli::gradbench::backend::{Backend, Interpreted};
use adjit_cli::gradbench::{GradbenchError, Tool, run, run_with, serve};
use adjit_workloads::gmm as wgmm;
use adjit_workloads::rng::SplitMix64;
use serde_json::{Value, json};

/// Runs a session of messages on the default backend and returns the
/// responses.
fn session(messages: &[Value]) -> Vec<Value> {
    let input: String = messages.iter().map(|m| format!("{m}\n")).collect();
    let mut out = Vec::new();
    run(input.as_bytes(), &mut out).expect("the session runs");
    responses(out)
}

/// Runs a session of messages on `backend` and returns the responses.
fn session_on(backend: &dyn Backend, messages: &[Value]) -> Vec<Value> {
    let input: String = messages.iter().map(|m| format!("{m}\n")).collect();
    let mut out = Vec::new();
    run_with(backend, input.as_bytes(), &mut out).expect("the session runs");
    responses(out)
}

fn responses(out: Vec<u8>) -> Vec<Value> {
    let text = String::from_utf8(out).expect("utf-8");
    text.lines()
        .map(|l| serde_json::from_str(l).expect("each response is JSON"))
        .collect()
}

/// Evaluates one function and returns the response.
fn evaluate(module: &str, function: &str, input: Value) -> Value {
    let r = session(&[
        json!({"id": 0, "kind": "define", "module": module}),
        json!({"id": 1, "kind": "evaluate", "module": module, "function": function, "input": input}),
    ]);
    assert_eq!(r[0], json!({"id": 0, "success": true}));
    r[1].clone()
}

/// The output of a successful evaluation.
fn output(module: &str, function: &str, input: Value) -> Value {
    let r = evaluate(module, function, input);
    assert_eq!(r["success"], json!(true), "{r}");
    r["output"].clone()
}

fn runs(mut input: Value) -> Value {
    input["min_runs"] = json!(1);
    input["min_seconds"] = json!(0);
    input
}

fn close(a: f64, b: f64, tol: f64) -> bool {
    (a - b).abs() <= tol * (1.0 + a.abs().max(b.abs()))
}

fn assert_close(got: &Value, want: f64, tol: f64) {
    let g = got
        .as_f64()
        .unwrap_or_else(|| panic!("{got} is not a number"));
    assert!(close(g, want, tol), "got {g}, want {want}");
}

fn as_vec(v: &Value) -> Vec<f64> {
    v.as_array()
        .expect("a list")
        .iter()
        .map(|x| x.as_f64().expect("a number"))
        .collect()
}

fn timings(r: &Value, name: &str) -> Vec<u64> {
    r["timings"]
        .as_array()
        .expect("timings")
        .iter()
        .filter(|t| t["name"] == name)
        .map(|t| t["nanoseconds"].as_u64().expect("nanoseconds"))
        .collect()
}

// ---------------------------------------------------------------- protocol

#[test]
fn a_session_answers_every_message_with_its_id() {
    let r = session(&[
        json!({"id": 0, "kind": "start", "eval": "hello"}),
        json!({"id": 1, "kind": "define", "module": "hello"}),
        json!({"id": 2, "kind": "evaluate", "module": "hello", "function": "square", "input": 3.0}),
        json!({"id": 3, "kind": "analysis", "of": 2, "valid": true}),
        json!({"id": 4, "kind": "evaluate", "module": "hello", "function": "square", "input": -1.5}),
        json!({"id": 5, "kind": "analysis", "of": 4, "valid": false, "error": "nope"}),
        json!({"id": 6, "kind": "a kind from the future", "whatever": [1, 2]}),
    ]);
    assert_eq!(r.len(), 7);
    for (i, resp) in r.iter().enumerate() {
        assert_eq!(resp["id"], json!(i));
    }
    assert_eq!(r[0]["tool"], json!("adjit"));
    assert!(r[0]["config"]["backend"].is_string());
    assert_eq!(r[1], json!({"id": 1, "success": true}));
    assert_eq!(r[2]["success"], json!(true));
    assert_eq!(r[2]["output"], json!(9.0));
    assert_eq!(r[4]["output"], json!(2.25));
    // Non-substantive messages get the bare id.
    assert_eq!(r[3], json!({"id": 3}));
    assert_eq!(r[5], json!({"id": 5}));
    assert_eq!(r[6], json!({"id": 6}));
}

#[test]
fn compilation_is_timed_once_per_size_and_apart_from_evaluation() {
    let x = |n: usize| json!({"x": vec![0.5; n], "min_runs": 1, "min_seconds": 0});
    let r = session(&[
        json!({"id": 0, "kind": "evaluate", "module": "lse", "function": "primal", "input": x(4)}),
        json!({"id": 1, "kind": "evaluate", "module": "lse", "function": "primal", "input": x(4)}),
        json!({"id": 2, "kind": "evaluate", "module": "lse", "function": "primal", "input": x(5)}),
    ]);
    for (resp, compiled) in r.iter().zip([true, false, true]) {
        assert_eq!(resp["success"], json!(true), "{resp}");
        assert_eq!(timings(resp, "evaluate").len(), 1);
        assert_eq!(timings(resp, "build").len(), usize::from(compiled));
        assert_eq!(timings(resp, "optimize").len(), usize::from(compiled));
        assert_eq!(timings(resp, "compile").len(), usize::from(compiled));
    }
}

#[test]
fn dumped_modules_parse_and_evaluate_like_the_tool() {
    let dir = std::env::temp_dir().join(format!("adjit-gradbench-dump-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let x = [0.25, -1.5, 3.0];
    let input = json!({"id": 0, "kind": "evaluate", "module": "lse", "function": "primal",
        "input": {"x": x, "min_runs": 1, "min_seconds": 0}});
    let mut out = Vec::new();
    let tool = Tool::new(&Interpreted).dump_to(&dir);
    serve(tool, format!("{input}\n").as_bytes(), &mut out).unwrap();
    assert_eq!(responses(out)[0]["success"], json!(true));
    let text = std::fs::read_to_string(dir.join("lse_primal_n=3.adj")).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    let (module, _) = adjit::ir::parse_module(&text).expect("the dump parses");
    let arg = adjit::ir::Tensor::new(vec![3], adjit::ir::Data::F64(x.to_vec())).unwrap();
    let got = adjit::ir::interp::eval(&module, "lse", &[arg]).unwrap();
    let want = x.iter().map(|v: &f64| v.exp()).sum::<f64>().ln();
    let got = match got[0].data() {
        adjit::ir::Data::F64(v) => v[0],
        other => panic!("{other:?}"),
    };
    assert!(close(got, want, 1e-14), "got {got}, want {want}");
}

#[test]
fn min_runs_and_min_seconds_are_honoured() {
    let input = json!({"x": [1.0, 2.0, 3.0], "min_runs": 7, "min_seconds": 0});
    assert_eq!(
        timings(&evaluate("lse", "primal", input), "evaluate").len(),
        7
    );
    let input = json!({"x": [1.0, 2.0, 3.0], "min_runs": 1, "min_seconds": 0.02});
    let r = evaluate("lse", "primal", input);
    let total: u64 = timings(&r, "evaluate").iter().sum();
    assert!(total >= 20_000_000, "ran for only {total} ns");
}

#[test]
fn unknown_modules_functions_and_bad_inputs_fail_softly() {
    let r = session(&[
        json!({"id": 0, "kind": "define", "module": "no-such-eval"}),
        json!({"id": 1, "kind": "evaluate", "module": "lse", "function": "tertiary", "input": {"x": [1.0]}}),
        json!({"id": 2, "kind": "evaluate", "module": "lse", "function": "primal", "input": {"y": [1.0]}}),
        json!({"id": 3, "kind": "evaluate", "module": "det", "function": "primal", "input": {"A": [1.0, 2.0], "ell": 2}}),
        json!({"id": 4, "kind": "evaluate", "module": "gmm", "function": "objective", "input": {"d": 2}}),
        json!({"id": 5, "kind": "evaluate", "module": "hello", "function": "square", "input": "three"}),
    ]);
    assert_eq!(r.len(), 6);
    for (i, resp) in r.iter().enumerate() {
        assert_eq!(resp["id"], json!(i));
        assert_eq!(resp["success"], json!(false), "{resp}");
        assert!(resp["error"].as_str().is_some_and(|e| !e.is_empty()));
        assert!(resp.get("output").is_none());
    }
}

#[test]
fn blank_lines_are_skipped_and_garbage_is_an_error() {
    let mut out = Vec::new();
    run(
        "\n{\"id\": 7, \"kind\": \"start\"}\n\n".as_bytes(),
        &mut out,
    )
    .unwrap();
    assert_eq!(
        String::from_utf8(out).unwrap(),
        "{\"id\":7,\"tool\":\"adjit\",\"config\":{\"backend\":\"jit\"}}\n"
    );
    let mut out = Vec::new();
    let err = run(
        "{\"id\": 0, \"kind\": \"start\"}\nnot json\n".as_bytes(),
        &mut out,
    )
    .unwrap_err();
    assert!(
        matches!(err, GradbenchError::Malformed { line: 2, .. }),
        "{err}"
    );
    assert_eq!(String::from_utf8(out).unwrap().lines().count(), 1);
}

// ---------------------------------------------------------------- evals

#[test]
fn lse_matches_a_direct_sum() {
    let mut rng = SplitMix64::new(1);
    for n in [1, 2, 17, 1000] {
        let x = rng.uniform_vec(n, -30.0, 30.0);
        let a = x.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let want = a + x.iter().map(|v| (v - a).exp()).sum::<f64>().ln();
        assert_close(&output("lse", "primal", runs(json!({"x": x}))), want, 1e-14);
    }
    // Large entries: the shift keeps it finite.
    let got = output("lse", "primal", runs(json!({"x": [1000.0, 1000.0]})));
    assert_close(&got, 1000.0 + 2f64.ln(), 1e-15);
}

#[test]
fn llsq_matches_the_formula() {
    let mut rng = SplitMix64::new(2);
    for (n, m) in [(2, 1), (16, 5), (33, 128), (1000, 7)] {
        let x = rng.uniform_vec(m, 0.0, 1.0);
        let mut want = 0.0;
        for i in 0..n {
            let t = -1.0 + 2.0 * i as f64 / (n as f64 - 1.0);
            let s = if t > 0.0 {
                1.0
            } else if t < 0.0 {
                -1.0
            } else {
                0.0
            };
            let poly: f64 = x
                .iter()
                .enumerate()
                .map(|(j, xj)| xj * t.powi(j as i32))
                .sum();
            want += (s - poly) * (s - poly);
        }
        want /= 2.0;
        assert_close(
            &output("llsq", "primal", runs(json!({"x": x, "n": n}))),
            want,
            1e-12,
        );
    }
}

/// Classical RK4 for the ODE of the `ode` eval, written from its definition.
fn ode_reference(x: &[f64], s: usize) -> Vec<f64> {
    let n = x.len();
    let f = |y: &[f64]| -> Vec<f64> {
        (0..n)
            .map(|i| if i == 0 { x[0] } else { x[i] * y[i - 1] })
            .collect()
    };
    let h = 2.0 / s as f64;
    let mut y = vec![0.0; n];
    for _ in 0..s {
        let k1 = f(&y);
        let y2: Vec<f64> = (0..n).map(|i| y[i] + 0.5 * h * k1[i]).collect();
        let k2 = f(&y2);
        let y3: Vec<f64> = (0..n).map(|i| y[i] + 0.5 * h * k2[i]).collect();
        let k3 = f(&y3);
        let y4: Vec<f64> = (0..n).map(|i| y[i] + h * k3[i]).collect();
        let k4 = f(&y4);
        for i in 0..n {
            y[i] += h / 6.0 * (k1[i] + 2.0 * k2[i] + 2.0 * k3[i] + k4[i]);
        }
    }
    y
}

#[test]
fn ode_matches_runge_kutta() {
    let mut rng = SplitMix64::new(3);
    for (n, s) in [(1, 1), (5, 3), (100, 10)] {
        let x = rng.uniform_vec(n, 0.0, 1.0);
        let got = as_vec(&output("ode", "primal", runs(json!({"x": x, "s": s}))));
        let want = ode_reference(&x, s);
        assert_eq!(got.len(), n);
        for (g, w) in got.iter().zip(&want) {
            assert!(close(*g, *w, 1e-13), "got {g}, want {w}");
        }
    }
    // With x = 1 the exact solution is y_i(t) = t^(i+1)/(i+1)!, which RK4
    // reproduces exactly for polynomials of degree up to 4.
    let got = as_vec(&output(
        "ode",
        "primal",
        runs(json!({"x": vec![1.0; 4], "s": 10})),
    ));
    for (i, g) in got.iter().enumerate() {
        let fact: f64 = (1..=i + 1).map(|k| k as f64).product();
        assert!(
            close(*g, 2f64.powi(i as i32 + 1) / fact, 1e-13),
            "y_{i} = {g}"
        );
    }
}

/// The determinant by recursive expansion along the first row.
fn det_reference(a: &[f64], ell: usize, rows: &[usize], cols: &[usize]) -> f64 {
    if rows.len() == 1 {
        return a[rows[0] * ell + cols[0]];
    }
    let mut total = 0.0;
    for (j, &c) in cols.iter().enumerate() {
        let rest: Vec<usize> = cols.iter().copied().filter(|&k| k != c).collect();
        let sign = if j % 2 == 0 { 1.0 } else { -1.0 };
        total += sign * a[rows[0] * ell + c] * det_reference(a, ell, &rows[1..], &rest);
    }
    total
}

#[test]
fn det_matches_the_recursive_expansion() {
    let mut rng = SplitMix64::new(4);
    for ell in 1..=7 {
        let a = rng.uniform_vec(ell * ell, 0.0, 1.0);
        let idx: Vec<usize> = (0..ell).collect();
        let want = det_reference(&a, ell, &idx, &idx);
        let got = output("det", "primal", runs(json!({"A": a, "ell": ell})));
        assert_close(&got, want, 1e-13);
    }
    // A triangular matrix: the product of its diagonal; a row swap flips the sign.
    let a = [2.0, 0.0, 0.0, 5.0, 3.0, 0.0, 7.0, 11.0, -4.0];
    assert_close(
        &output("det", "primal", runs(json!({"A": a, "ell": 3}))),
        -24.0,
        0.0,
    );
    let swapped = [5.0, 3.0, 0.0, 2.0, 0.0, 0.0, 7.0, 11.0, -4.0];
    assert_close(
        &output("det", "primal", runs(json!({"A": swapped, "ell": 3}))),
        24.0,
        0.0,
    );
}

#[test]
fn kmeans_cost_matches_nearest_centroid_distances() {
    let mut rng = SplitMix64::new(5);
    for (n, k, d) in [(1, 1, 1), (50, 3, 2), (200, 10, 8)] {
        let points: Vec<Vec<f64>> = (0..n).map(|_| rng.uniform_vec(d, 0.0, 1.0)).collect();
        let centroids: Vec<Vec<f64>> = points[n - k..].to_vec();
        let want: f64 = points
            .iter()
            .map(|p| {
                centroids
                    .iter()
                    .map(|c| p.iter().zip(c).map(|(a, b)| (a - b) * (a - b)).sum::<f64>())
                    .fold(f64::INFINITY, f64::min)
            })
            .sum();
        let input = json!({"points": points, "centroids": centroids});
        assert_close(&output("kmeans", "cost", runs(input)), want, 1e-12);
    }
}

#[test]
fn gmm_objective_matches_the_workload_reference() {
    let mut rng = SplitMix64::new(6);
    for (d, k, n, m, gamma) in [(1, 1, 1, 0, 1.0), (2, 3, 10, 0, 1.0), (5, 4, 30, 2, 0.7)] {
        let lsz = d * (d - 1) / 2;
        let alpha = rng.normal_vec(k, 0.0, 1.0);
        let mu: Vec<Vec<f64>> = (0..k).map(|_| rng.uniform_vec(d, 0.0, 1.0)).collect();
        let q: Vec<Vec<f64>> = (0..k).map(|_| rng.normal_vec(d, 0.0, 1.0)).collect();
        let l: Vec<Vec<f64>> = (0..k).map(|_| rng.normal_vec(lsz, 0.0, 1.0)).collect();
        let x: Vec<Vec<f64>> = (0..n).map(|_| rng.normal_vec(d, 0.0, 1.0)).collect();
        let input = json!({
            "d": d, "k": k, "n": n, "m": m, "gamma": gamma,
            "alpha": alpha, "mu": mu, "q": q, "l": l, "x": x,
        });
        let icf: Vec<f64> = (0..k)
            .flat_map(|i| q[i].iter().chain(&l[i]).copied())
            .collect();
        let means: Vec<f64> = mu.concat();
        let shape = wgmm::Shape { d, k, n };
        let mut ws = wgmm::Workspace::new(shape).unwrap();
        let params = wgmm::Params {
            alphas: &alpha,
            means: &means,
            icf: &icf,
        };
        let wishart = wgmm::Wishart { gamma, m: m as f64 };
        let want = wgmm::value(shape, params, &x.concat(), wishart, &mut ws).unwrap();
        assert_close(&output("gmm", "objective", runs(input)), want, 1e-12);
    }
}

/// One observation's reprojection error, written from ADBench's definition.
fn ba_reference(cam: &[f64], x: &[f64], w: f64, feat: &[f64]) -> [f64; 2] {
    let pt = [x[0] - cam[3], x[1] - cam[4], x[2] - cam[5]];
    let r = &cam[0..3];
    let cross = |a: &[f64], b: &[f64]| {
        [
            a[1] * b[2] - a[2] * b[1],
            a[2] * b[0] - a[0] * b[2],
            a[0] * b[1] - a[1] * b[0],
        ]
    };
    let theta2 = r.iter().map(|v| v * v).sum::<f64>();
    let xcam: Vec<f64> = if theta2 != 0.0 {
        let theta = theta2.sqrt();
        let k: Vec<f64> = r.iter().map(|v| v / theta).collect();
        let kxp = cross(&k, &pt);
        let kdotp: f64 = k.iter().zip(&pt).map(|(a, b)| a * b).sum();
        (0..3)
            .map(|i| {
                pt[i] * theta.cos() + kxp[i] * theta.sin() + k[i] * kdotp * (1.0 - theta.cos())
            })
            .collect()
    } else {
        let rxp = cross(r, &pt);
        (0..3).map(|i| pt[i] + rxp[i]).collect()
    };
    let p = [xcam[0] / xcam[2], xcam[1] / xcam[2]];
    let rsq = p[0] * p[0] + p[1] * p[1];
    let dist = 1.0 + cam[9] * rsq + cam[10] * rsq * rsq;
    [
        w * (p[0] * dist * cam[6] + cam[7] - feat[0]),
        w * (p[1] * dist * cam[6] + cam[8] - feat[1]),
    ]
}

#[test]
fn ba_objective_matches_the_projection() {
    let cams = [
        vec![
            0.1, -0.2, 0.3, 0.5, -0.4, -3.0, 400.0, 10.0, -5.0, 1e-3, -2e-4,
        ],
        // Zero rotation: the first-order branch.
        vec![
            0.0, 0.0, 0.0, 0.5, -0.4, -3.0, 400.0, 10.0, -5.0, 1e-3, -2e-4,
        ],
    ];
    for cam in cams {
        let (x, w, feat) = ([0.3, 0.7, 2.0], 0.8, [30.0, -12.0]);
        let input = json!({"n": 3, "m": 4, "p": 10, "cam": cam, "x": x, "w": w, "feat": feat});
        let got = output("ba", "objective", runs(input));
        let want = ba_reference(&cam, &x, w, &feat);
        assert_eq!(got["reproj_error"]["repeated"], json!(10));
        assert_eq!(got["w_err"]["repeated"], json!(10));
        let e = as_vec(&got["reproj_error"]["elements"]);
        assert!(
            close(e[0], want[0], 1e-13) && close(e[1], want[1], 1e-13),
            "{e:?} vs {want:?}"
        );
        assert_close(&got["w_err"]["element"], 1.0 - w * w, 1e-15);
    }
}

fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

/// ADBench's LSTM loss, written from its definition.
fn lstm_reference(
    main: &[Vec<f64>],
    extra: &[Vec<f64>],
    state: &[Vec<f64>],
    seq: &[Vec<f64>],
) -> f64 {
    let l = main.len() / 2;
    let b = main[0].len() / 4;
    let mut state = state.to_vec();
    let mut total = 0.0;
    for t in 0..seq.len() - 1 {
        let mut input: Vec<f64> = (0..b).map(|i| seq[t][i] * extra[0][i]).collect();
        for layer in 0..l {
            let (w, bias) = (&main[2 * layer], &main[2 * layer + 1]);
            for i in 0..b {
                let h = state[2 * layer][i];
                let forget = sigmoid(input[i] * w[i] + bias[i]);
                let ingate = sigmoid(h * w[b + i] + bias[b + i]);
                let outgate = sigmoid(input[i] * w[2 * b + i] + bias[2 * b + i]);
                let change = (h * w[3 * b + i] + bias[3 * b + i]).tanh();
                let cell = state[2 * layer + 1][i] * forget + ingate * change;
                state[2 * layer + 1][i] = cell;
                state[2 * layer][i] = outgate * cell.tanh();
            }
            input = state[2 * layer].clone();
        }
        let pred: Vec<f64> = (0..b)
            .map(|i| input[i] * extra[1][i] + extra[2][i])
            .collect();
        let lse = (pred.iter().map(|v| v.exp()).sum::<f64>() + 2.0).ln();
        total += (0..b).map(|i| seq[t + 1][i] * (pred[i] - lse)).sum::<f64>();
    }
    -total / ((seq.len() - 1) * b) as f64
}

#[test]
fn lstm_objective_matches_the_recurrence() {
    let mut rng = SplitMix64::new(7);
    for (l, b, c) in [(1, 1, 2), (2, 3, 5), (3, 7, 20)] {
        let mat = |r: usize, w: usize, rng: &mut SplitMix64| -> Vec<Vec<f64>> {
            (0..r).map(|_| rng.uniform_vec(w, 0.0, 1.0)).collect()
        };
        let main = mat(2 * l, 4 * b, &mut rng);
        let extra = mat(3, b, &mut rng);
        let state = mat(2 * l, b, &mut rng);
        let seq: Vec<Vec<f64>> = (0..c)
            .map(|_| (0..b).map(|_| rng.bernoulli(0.5)).collect())
            .collect();
        let want = lstm_reference(&main, &extra, &state, &seq);
        let input =
            json!({"main_params": main, "extra_params": extra, "state": state, "sequence": seq});
        assert_close(&output("lstm", "objective", runs(input)), want, 1e-13);
    }
}

/// The interpreter backend runs the same `scan` time loops as the JIT.
#[test]
fn the_interpreter_backend_runs_the_time_loops() {
    let mut rng = SplitMix64::new(11);
    let x = rng.uniform_vec(6, 0.0, 1.0);
    let input = runs(json!({"x": x, "s": 4}));
    let r = session_on(
        &Interpreted,
        &[
            json!({"id": 0, "kind": "evaluate", "module": "ode", "function": "primal", "input": input}),
        ],
    );
    assert_eq!(r[0]["success"], json!(true), "{}", r[0]);
    for (g, w) in as_vec(&r[0]["output"]).iter().zip(&ode_reference(&x, 4)) {
        assert!(close(*g, *w, 1e-13), "got {g}, want {w}");
    }

    let (l, b, c) = (2, 3, 6);
    let mat = |r: usize, w: usize, rng: &mut SplitMix64| -> Vec<Vec<f64>> {
        (0..r).map(|_| rng.uniform_vec(w, 0.0, 1.0)).collect()
    };
    let main = mat(2 * l, 4 * b, &mut rng);
    let extra = mat(3, b, &mut rng);
    let state = mat(2 * l, b, &mut rng);
    let seq: Vec<Vec<f64>> = (0..c)
        .map(|_| (0..b).map(|_| rng.bernoulli(0.5)).collect())
        .collect();
    let want = lstm_reference(&main, &extra, &state, &seq);
    let input =
        runs(json!({"main_params": main, "extra_params": extra, "state": state, "sequence": seq}));
    let r = session_on(
        &Interpreted,
        &[
            json!({"id": 0, "kind": "evaluate", "module": "lstm", "function": "objective", "input": input}),
        ],
    );
    assert_eq!(r[0]["success"], json!(true), "{}", r[0]);
    assert_close(&r[0]["output"], want, 1e-13);
}

// ---------------------------------------------------------------- derivatives

/// Central finite differences of `f` at `x`, one entry per coordinate.
fn fd_gradient(f: impl Fn(&[f64]) -> f64, x: &[f64], h: f64) -> Vec<f64> {
    (0..x.len())
        .map(|i| {
            let (mut up, mut down) = (x.to_vec(), x.to_vec());
            up[i] += h;
            down[i] -= h;
            (f(&up) - f(&down)) / (2.0 * h)
        })
        .collect()
}

fn assert_all_close(got: &[f64], want: &[f64], tol: f64) {
    assert_eq!(got.len(), want.len());
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(close(*g, *w, tol), "entry {i}: got {g}, want {w}");
    }
}

#[test]
fn hello_double_is_twice_the_input() {
    for x in [0.0, 1.5, -3.0] {
        assert_close(&output("hello", "double", json!(x)), 2.0 * x, 0.0);
    }
}

#[test]
fn lse_gradient_is_the_softmax() {
    let mut rng = SplitMix64::new(11);
    let x = rng.uniform_vec(50, -5.0, 5.0);
    let z: f64 = x.iter().map(|v| v.exp()).sum();
    let want: Vec<f64> = x.iter().map(|v| v.exp() / z).collect();
    let got = as_vec(&output("lse", "gradient", runs(json!({"x": x}))));
    assert_all_close(&got, &want, 1e-13);
}

#[test]
fn llsq_gradient_matches_finite_differences() {
    let mut rng = SplitMix64::new(12);
    let (n, m) = (40, 6);
    let x = rng.uniform_vec(m, 0.0, 1.0);
    let f = |x: &[f64]| -> f64 {
        (0..n)
            .map(|i| {
                let t = -1.0 + 2.0 * i as f64 / (n as f64 - 1.0);
                let s = if t > 0.0 {
                    1.0
                } else if t < 0.0 {
                    -1.0
                } else {
                    0.0
                };
                let r = s - x
                    .iter()
                    .enumerate()
                    .map(|(j, xj)| xj * t.powi(j as i32))
                    .sum::<f64>();
                r * r
            })
            .sum::<f64>()
            / 2.0
    };
    let got = as_vec(&output("llsq", "gradient", runs(json!({"x": x, "n": n}))));
    assert_all_close(&got, &fd_gradient(f, &x, 1e-6), 1e-7);
}

#[test]
fn det_gradient_is_the_cofactor_matrix() {
    let mut rng = SplitMix64::new(13);
    for ell in [1, 2, 4, 6] {
        let a = rng.uniform_vec(ell * ell, 0.0, 1.0);
        let idx: Vec<usize> = (0..ell).collect();
        let f = |a: &[f64]| det_reference(a, ell, &idx, &idx);
        // The determinant is affine in each entry, so central differences are exact
        // up to rounding.
        let got = as_vec(&output(
            "det",
            "gradient",
            runs(json!({"A": a, "ell": ell})),
        ));
        assert_all_close(&got, &fd_gradient(f, &a, 1e-3), 1e-9);
    }
}

#[test]
fn ode_gradient_matches_finite_differences() {
    let mut rng = SplitMix64::new(14);
    for (n, s) in [(1, 1), (6, 4), (30, 10)] {
        let x = rng.uniform_vec(n, 0.0, 1.0);
        let f = |x: &[f64]| *ode_reference(x, s).last().unwrap();
        let got = as_vec(&output("ode", "gradient", runs(json!({"x": x, "s": s}))));
        assert_all_close(&got, &fd_gradient(f, &x, 1e-6), 1e-7);
    }
}

#[test]
fn kmeans_dir_moves_each_centroid_to_its_points_mean() {
    // Newton's step on Σ min‖C−P‖²: J_j = 2 Σ (C_j − P_i), H_j = 2·count_j,
    // so J/H = C_j − mean of the points nearest to C_j.
    let mut rng = SplitMix64::new(15);
    let (n, k, d) = (60, 4, 3);
    let points: Vec<Vec<f64>> = (0..n).map(|_| rng.uniform_vec(d, 0.0, 1.0)).collect();
    let centroids: Vec<Vec<f64>> = points[n - k..].to_vec();
    let mut sums = vec![vec![0.0; d]; k];
    let mut counts = vec![0.0; k];
    for p in &points {
        let dist = |c: &Vec<f64>| p.iter().zip(c).map(|(a, b)| (a - b) * (a - b)).sum::<f64>();
        let j = (0..k)
            .min_by(|&a, &b| dist(&centroids[a]).total_cmp(&dist(&centroids[b])))
            .unwrap();
        counts[j] += 1.0;
        for (s, v) in sums[j].iter_mut().zip(p) {
            *s += v;
        }
    }
    let input = json!({"points": points, "centroids": centroids});
    let got = output("kmeans", "dir", runs(input));
    for j in 0..k {
        let want: Vec<f64> = (0..d)
            .map(|c| centroids[j][c] - sums[j][c] / counts[j])
            .collect();
        assert_all_close(&as_vec(&got[j]), &want, 1e-12);
    }
}

#[test]
fn gmm_jacobian_matches_the_hand_derived_gradient() {
    let mut rng = SplitMix64::new(16);
    let (d, k, n, m, gamma) = (4, 3, 25, 1, 0.9);
    let lsz = d * (d - 1) / 2;
    let alpha = rng.normal_vec(k, 0.0, 1.0);
    let mu: Vec<Vec<f64>> = (0..k).map(|_| rng.uniform_vec(d, 0.0, 1.0)).collect();
    let q: Vec<Vec<f64>> = (0..k).map(|_| rng.normal_vec(d, 0.0, 1.0)).collect();
    let l: Vec<Vec<f64>> = (0..k).map(|_| rng.normal_vec(lsz, 0.0, 1.0)).collect();
    let x: Vec<Vec<f64>> = (0..n).map(|_| rng.normal_vec(d, 0.0, 1.0)).collect();
    let input = json!({
        "d": d, "k": k, "n": n, "m": m, "gamma": gamma,
        "alpha": alpha, "mu": mu, "q": q, "l": l, "x": x,
    });
    let got = output("gmm", "jacobian", runs(input));

    let icf: Vec<f64> = (0..k)
        .flat_map(|i| q[i].iter().chain(&l[i]).copied())
        .collect();
    let means = mu.concat();
    let shape = wgmm::Shape { d, k, n };
    let mut ws = wgmm::Workspace::new(shape).unwrap();
    let (mut ga, mut gm, mut gi) = (vec![0.0; k], vec![0.0; k * d], vec![0.0; icf.len()]);
    let grads = wgmm::Grads {
        alphas: &mut ga,
        means: &mut gm,
        icf: &mut gi,
    };
    let params = wgmm::Params {
        alphas: &alpha,
        means: &means,
        icf: &icf,
    };
    let wishart = wgmm::Wishart { gamma, m: m as f64 };
    wgmm::value_and_grad(shape, params, &x.concat(), wishart, &mut ws, grads).unwrap();

    assert_all_close(&as_vec(&got["alpha"]), &ga, 1e-12);
    let row = d + lsz;
    for i in 0..k {
        assert_all_close(&as_vec(&got["mu"][i]), &gm[i * d..(i + 1) * d], 1e-12);
        assert_all_close(&as_vec(&got["q"][i]), &gi[i * row..i * row + d], 1e-12);
        assert_all_close(
            &as_vec(&got["l"][i]),
            &gi[i * row + d..(i + 1) * row],
            1e-12,
        );
    }
}

#[test]
fn lstm_jacobian_matches_finite_differences() {
    let mut rng = SplitMix64::new(17);
    let (l, b, c) = (2, 3, 6);
    let main: Vec<f64> = rng.uniform_vec(2 * l * 4 * b, 0.0, 1.0);
    let extra: Vec<f64> = rng.uniform_vec(3 * b, 0.0, 1.0);
    let state: Vec<Vec<f64>> = (0..2 * l).map(|_| rng.uniform_vec(b, 0.0, 1.0)).collect();
    let seq: Vec<Vec<f64>> = (0..c)
        .map(|_| (0..b).map(|_| rng.bernoulli(0.5)).collect())
        .collect();
    let split =
        |v: &[f64], w: usize| -> Vec<Vec<f64>> { v.chunks(w).map(<[f64]>::to_vec).collect() };
    let both: Vec<f64> = main.iter().chain(&extra).copied().collect();
    let f = |p: &[f64]| {
        let (mp, ep) = p.split_at(main.len());
        lstm_reference(&split(mp, 4 * b), &split(ep, b), &state, &seq)
    };
    let input = json!({
        "main_params": split(&main, 4 * b), "extra_params": split(&extra, b),
        "state": state, "sequence": seq,
    });
    let got = as_vec(&output("lstm", "jacobian", runs(input)));
    assert_all_close(&got, &fd_gradient(f, &both, 1e-6), 1e-8);
}

#[test]
fn ba_jacobian_has_the_reference_sparsity_and_values() {
    let cam = vec![
        0.1, -0.2, 0.3, 0.5, -0.4, -3.0, 400.0, 10.0, -5.0, 1e-3, -2e-4,
    ];
    let (x, w, feat) = (vec![0.3, 0.7, 2.0], 0.8, [30.0, -12.0]);
    let (n, m, p) = (3usize, 4usize, 20usize);
    let input = json!({"n": n, "m": m, "p": p, "cam": cam, "x": x, "w": w, "feat": feat});
    let got = output("ba", "jacobian", runs(input));
    // Compressed rows: 2p rows of 15 entries (camera, point, weight), then p rows of 1.
    let mut rows = vec![0u64];
    for i in 0..3 * p {
        let width = if i < 2 * p { 15 } else { 1 };
        rows.push(rows.last().unwrap() + width);
    }
    let want_rows: Vec<u64> = rows[..30].iter().chain(rows.last()).copied().collect();
    assert_eq!(got["rows"], json!(want_rows));
    let one_row: Vec<usize> = (0..11)
        .chain(11 * n..11 * n + 3)
        .chain([11 * n + 3 * m])
        .collect();
    let mut want_cols = [one_row.clone(), one_row].concat();
    want_cols.push(11 * n + 3 * m + p - 1);
    assert_eq!(got["cols"], json!(want_cols));
    // Values: observation 0's derivatives by finite differences of the
    // projection, then the last weight error's derivative −2w.
    let params: Vec<f64> = cam.iter().chain(&x).chain([&w]).copied().collect();
    let vals = as_vec(&got["vals"]);
    for r in 0..2 {
        let f = |v: &[f64]| ba_reference(&v[0..11], &v[11..14], v[14], &feat)[r];
        let h: Vec<f64> = params.iter().map(|v| 1e-6 * v.abs().max(1.0)).collect();
        let want: Vec<f64> = (0..15)
            .map(|i| {
                let (mut up, mut down) = (params.clone(), params.clone());
                up[i] += h[i];
                down[i] -= h[i];
                (f(&up) - f(&down)) / (2.0 * h[i])
            })
            .collect();
        assert_all_close(&vals[15 * r..15 * (r + 1)], &want, 1e-6);
    }
    assert_close(&json!(vals[30]), -2.0 * w, 1e-15);
}

// ---------------------------------------------------------- nested AD evals

/// GradBench's expected outputs (its `saddle` and `particle` evals compare
/// every tool against these constants).
const SADDLE_EXPECTED: f64 = 8.246324826140356e-06;
const PARTICLE_EXPECTED: f64 = 0.2071918746486116;

#[test]
fn saddle_matches_gradbench_in_every_mode() {
    for function in ["ff", "fr", "rf", "rr"] {
        let got = as_vec(&output(
            "saddle",
            function,
            runs(json!({"start": [1.0, 1.0]})),
        ));
        assert_eq!(got.len(), 4, "{function}");
        for g in got {
            assert!(
                (g - SADDLE_EXPECTED).abs() <= 1e-12,
                "{function}: got {g}, want {SADDLE_EXPECTED}"
            );
        }
    }
}

#[test]
fn particle_matches_gradbench_in_every_mode() {
    for function in ["ff", "fr", "rf", "rr"] {
        let got = output("particle", function, runs(json!({"w": 0.0})));
        let g = got.as_f64().expect("a number");
        assert!(
            (g - PARTICLE_EXPECTED).abs() <= 1e-12,
            "{function}: got {g}, want {PARTICLE_EXPECTED}"
        );
    }
}

#[test]
fn nested_evals_reject_unknown_modes_and_bad_starts() {
    for (module, function, input) in [
        ("saddle", "fx", json!({"start": [1.0, 1.0]})),
        ("saddle", "rrr", json!({"start": [1.0, 1.0]})),
        ("saddle", "rr", json!({"start": [1.0]})),
        ("particle", "r", json!({"w": 0.0})),
        ("particle", "rr", json!({"w": "zero"})),
    ] {
        let r = evaluate(module, function, runs(input));
        assert_eq!(r["success"], json!(false), "{module}/{function}: {r}");
    }
}

// ---------------------------------------------------------------------- ht

/// A random hand model in GradBench's input layout: `bones` bones (each
/// parent before its child), `m` vertices, `n` points, triangles when
/// `complicated`.
fn ht_input(rng: &mut SplitMix64, m: usize, n: usize, complicated: bool, mirrored: bool) -> Value {
    let bones = 22;
    let mat4 = |rng: &mut SplitMix64| -> Vec<Vec<f64>> {
        let mut rows: Vec<Vec<f64>> = (0..3).map(|_| rng.uniform_vec(4, -1.0, 1.0)).collect();
        rows.push(vec![0.0, 0.0, 0.0, 1.0]);
        rows
    };
    let parents: Vec<i64> = (0..bones)
        .map(|i| {
            if i == 0 {
                -1
            } else {
                rng.below(i as u64) as i64
            }
        })
        .collect();
    let base_relatives: Vec<_> = (0..bones).map(|_| mat4(rng)).collect();
    let inverse_base_absolutes: Vec<_> = (0..bones).map(|_| mat4(rng)).collect();
    let base_positions: Vec<Vec<f64>> = (0..m)
        .map(|_| {
            let mut p = rng.uniform_vec(3, -1.0, 1.0);
            p.push(1.0);
            p
        })
        .collect();
    let weights: Vec<Vec<f64>> = (0..m).map(|_| rng.uniform_vec(bones, 0.0, 0.2)).collect();
    let triangles: Vec<Vec<u64>> = (0..2 * m)
        .map(|_| (0..3).map(|_| rng.below(m as u64)).collect())
        .collect();
    let limit = if complicated { 2 * m } else { m };
    let correspondences: Vec<u64> = (0..n).map(|_| rng.below(limit as u64)).collect();
    let points: Vec<Vec<f64>> = (0..n).map(|_| rng.uniform_vec(3, -2.0, 2.0)).collect();
    let us: Vec<Vec<f64>> = if complicated {
        (0..n).map(|_| rng.uniform_vec(2, 0.0, 0.5)).collect()
    } else {
        vec![]
    };
    let theta = rng.uniform_vec(26, -0.5, 0.5);
    json!({
        "theta": theta, "us": us,
        "data": {
            "correspondences": correspondences, "points": points,
            "model": {
                "bone_count": bones,
                "bone_names": (0..bones).map(|i| format!("b{i}")).collect::<Vec<_>>(),
                "parents": parents, "base_relatives": base_relatives,
                "inverse_base_absolutes": inverse_base_absolutes,
                "base_positions": base_positions, "weights": weights,
                "triangles": triangles, "is_mirrored": mirrored,
            }
        }
    })
}

type M4 = [[f64; 4]; 4];

#[allow(clippy::needless_range_loop)]
fn mul4(a: &M4, b: &M4) -> M4 {
    let mut c = [[0.0; 4]; 4];
    for i in 0..4 {
        for j in 0..4 {
            c[i][j] = (0..4).map(|k| a[i][k] * b[k][j]).sum();
        }
    }
    c
}

fn m4(v: &Value) -> M4 {
    let mut m = [[0.0; 4]; 4];
    for (i, row) in v.as_array().unwrap().iter().enumerate() {
        for (j, x) in row.as_array().unwrap().iter().enumerate() {
            m[i][j] = x.as_f64().unwrap();
        }
    }
    m
}

/// ADBench's hand objective, written from its C++ reference: the errors,
/// point by point, for parameters `theta` and (complicated) `us`.
#[allow(clippy::needless_range_loop)]
fn ht_reference(input: &Value, theta: &[f64], us: &[f64]) -> Vec<f64> {
    let model = &input["data"]["model"];
    let bones = model["parents"].as_array().unwrap().len();
    // Pose parameters: (bones + 3) columns of three.
    let mut pose = vec![[0.0f64; 3]; bones + 3];
    pose[0] = [theta[0], theta[1], theta[2]];
    pose[1] = [1.0; 3];
    pose[2] = [theta[3], theta[4], theta[5]];
    let (mut t, mut r) = (6, 5);
    for _ in 0..5 {
        for joint in 2..=4 {
            pose[r][0] = theta[t];
            t += 1;
            if joint == 2 {
                pose[r][1] = theta[t];
                t += 1;
            }
            r += 1;
        }
        r += 1;
    }
    let euler = |xzy: [f64; 3]| -> M4 {
        let (tx, ty, tz) = (xzy[0], xzy[2], xzy[1]);
        let rx = [
            [1.0, 0.0, 0.0],
            [0.0, tx.cos(), -tx.sin()],
            [0.0, tx.sin(), tx.cos()],
        ];
        let ry = [
            [ty.cos(), 0.0, ty.sin()],
            [0.0, 1.0, 0.0],
            [-ty.sin(), 0.0, ty.cos()],
        ];
        let rz = [
            [tz.cos(), -tz.sin(), 0.0],
            [tz.sin(), tz.cos(), 0.0],
            [0.0, 0.0, 1.0],
        ];
        let mul3 = |a: [[f64; 3]; 3], b: [[f64; 3]; 3]| {
            let mut c = [[0.0; 3]; 3];
            for i in 0..3 {
                for j in 0..3 {
                    c[i][j] = (0..3).map(|k| a[i][k] * b[k][j]).sum();
                }
            }
            c
        };
        let rot = mul3(mul3(rz, ry), rx);
        let mut m = [[0.0; 4]; 4];
        for i in 0..3 {
            m[i][..3].copy_from_slice(&rot[i]);
        }
        m[3][3] = 1.0;
        m
    };
    let parents: Vec<i64> = model["parents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_i64().unwrap())
        .collect();
    let mut absolutes: Vec<M4> = Vec::new();
    for i in 0..bones {
        let rel = mul4(&m4(&model["base_relatives"][i]), &euler(pose[i + 3]));
        absolutes.push(if parents[i] < 0 {
            rel
        } else {
            mul4(&absolutes[parents[i] as usize], &rel)
        });
    }
    let base: Vec<Vec<f64>> = model["base_positions"]
        .as_array()
        .unwrap()
        .iter()
        .map(as_vec)
        .collect();
    let weights: Vec<Vec<f64>> = model["weights"]
        .as_array()
        .unwrap()
        .iter()
        .map(as_vec)
        .collect();
    let mut positions = vec![[0.0f64; 3]; base.len()];
    for (i, abs) in absolutes.iter().enumerate() {
        let tr = mul4(abs, &m4(&model["inverse_base_absolutes"][i]));
        for (v, p) in positions.iter_mut().enumerate() {
            for (row, pr) in p.iter_mut().enumerate() {
                let c: f64 = (0..4).map(|k| tr[row][k] * base[v][k]).sum();
                *pr += c * weights[v][i];
            }
        }
    }
    if model["is_mirrored"].as_bool().unwrap() {
        for p in &mut positions {
            p[0] = -p[0];
        }
    }
    // Global rotation (angle-axis), then translation.
    let w = pose[0];
    let norm = (w[0] * w[0] + w[1] * w[1] + w[2] * w[2]).sqrt();
    let rot = if norm < 1e-4 {
        [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]
    } else {
        let (x, y, z) = (w[0] / norm, w[1] / norm, w[2] / norm);
        let (s, c) = (norm.sin(), norm.cos());
        [
            [
                x * x + (1.0 - x * x) * c,
                x * y * (1.0 - c) - z * s,
                x * z * (1.0 - c) + y * s,
            ],
            [
                x * y * (1.0 - c) + z * s,
                y * y + (1.0 - y * y) * c,
                y * z * (1.0 - c) - x * s,
            ],
            [
                x * z * (1.0 - c) - y * s,
                z * y * (1.0 - c) + x * s,
                z * z + (1.0 - z * z) * c,
            ],
        ]
    };
    let placed: Vec<[f64; 3]> = positions
        .iter()
        .map(|p| {
            let mut q = [0.0; 3];
            for i in 0..3 {
                q[i] = (0..3).map(|k| rot[i][k] * p[k]).sum::<f64>() + pose[2][i];
            }
            q
        })
        .collect();
    let corr = input["data"]["correspondences"].as_array().unwrap();
    let points = input["data"]["points"].as_array().unwrap();
    let mut err = Vec::new();
    for (i, c) in corr.iter().enumerate() {
        let c = c.as_u64().unwrap() as usize;
        let hand = if us.is_empty() {
            placed[c]
        } else {
            let tri = as_vec(&model["triangles"][c]);
            let (u0, u1) = (us[2 * i], us[2 * i + 1]);
            let v = |k: usize| placed[tri[k] as usize];
            let mut h = [0.0; 3];
            for j in 0..3 {
                h[j] = u0 * v(0)[j] + u1 * v(1)[j] + (1.0 - u0 - u1) * v(2)[j];
            }
            h
        };
        let p = as_vec(&points[i]);
        for j in 0..3 {
            err.push(p[j] - hand[j]);
        }
    }
    err
}

#[test]
fn ht_objective_matches_the_reference() {
    let mut rng = SplitMix64::new(31);
    for (complicated, mirrored) in [(false, false), (false, true), (true, false), (true, true)] {
        let input = ht_input(&mut rng, 30, 12, complicated, mirrored);
        let theta = as_vec(&input["theta"]);
        let us: Vec<f64> = input["us"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(as_vec)
            .collect();
        let want = ht_reference(&input, &theta, &us);
        let got = as_vec(&output("ht", "objective", runs(input)));
        assert_all_close(&got, &want, 1e-12);
    }
}

#[test]
fn ht_jacobian_matches_finite_differences() {
    let mut rng = SplitMix64::new(32);
    for complicated in [false, true] {
        let input = ht_input(&mut rng, 25, 7, complicated, complicated);
        let theta = as_vec(&input["theta"]);
        let us: Vec<f64> = input["us"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(as_vec)
            .collect();
        let got = output("ht", "jacobian", runs(input.clone()));
        let rows: Vec<Vec<f64>> = got.as_array().unwrap().iter().map(as_vec).collect();
        let n_err = 3 * 7;
        assert_eq!(rows.len(), n_err);
        let first = if complicated { 2 } else { 0 };
        let h = 1e-6;
        let diff = |up: Vec<f64>, down: Vec<f64>| -> Vec<f64> {
            up.iter()
                .zip(&down)
                .map(|(a, b)| (a - b) / (2.0 * h))
                .collect()
        };
        for j in 0..26 {
            let (mut up, mut down) = (theta.clone(), theta.clone());
            up[j] += h;
            down[j] -= h;
            let want = diff(
                ht_reference(&input, &up, &us),
                ht_reference(&input, &down, &us),
            );
            let col: Vec<f64> = rows.iter().map(|r| r[first + j]).collect();
            assert_all_close(&col, &want, 1e-7);
        }
        if complicated {
            // Column c holds each error's derivative with respect to its own
            // point's u_c.
            for c in 0..2 {
                let want: Vec<f64> = (0..n_err)
                    .map(|e| {
                        let (mut up, mut down) = (us.clone(), us.clone());
                        up[2 * (e / 3) + c] += h;
                        down[2 * (e / 3) + c] -= h;
                        (ht_reference(&input, &theta, &up)[e]
                            - ht_reference(&input, &theta, &down)[e])
                            / (2.0 * h)
                    })
                    .collect();
                let col: Vec<f64> = rows.iter().map(|r| r[c]).collect();
                assert_all_close(&col, &want, 1e-7);
            }
        }
    }
}
