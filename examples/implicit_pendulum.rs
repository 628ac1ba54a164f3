//! A user's own simulation loop around JIT-compiled derivatives: a hanging
//! chain of four unit masses joined by stiff springs (a pendulum with
//! elastic rods), integrated by backward Euler.
//!
//! Each step solves `R(v) = v − v₀ − h·a(x₀ + h·v) = 0` for the new
//! velocities by Newton's method, calling the compiled residual `R` and its
//! compiled Jacobian `∂R/∂v` (from `adjit::ad::jacobian`) every iteration.
//! The springs are stiff (`hω ≈ 3`), where an explicit step blows up; the
//! implicit step is stable and damps the fast stretching modes, so the
//! energy decays, as backward Euler's does.
//!
//! The loop allocates nothing: the compiled functions are called with
//! `call_into` on fixed arrays and reused workspaces, and the 8×8 Newton
//! system is solved in place.
//!
//! `cargo run --release --example implicit_pendulum`

use adjit::ad::{self, Mode};
use adjit::ir::text::parse_module;
use adjit::jit::{self, ArgMut, ArgRef};

/// Masses, unknowns (x and y velocities), stiffness, rest length, gravity.
const N: usize = 4;
const D: usize = 2 * N;
const K: f64 = 1e5;
const L: f64 = 1.0;
const G: f64 = 9.81;

/// The residual of one backward Euler step for the velocities `v`, from
/// positions `x0` and velocities `u`. Segment `i` joins mass `i−1` (the
/// pin at the origin for `i = 0`) to mass `i`.
const RESIDUAL: &str = "
func @residual(%vx: f64[4], %vy: f64[4], %x0: f64[4], %y0: f64[4], %ux: f64[4], %uy: f64[4], %h: f64) -> (f64[4], f64[4]) {
  %hb: f64[4] = broadcast %h, dims=[]
  %hvx: f64[4] = mul %hb, %vx
  %hvy: f64[4] = mul %hb, %vy
  %x: f64[4] = add %x0, %hvx
  %y: f64[4] = add %y0, %hvy
  %xa: f64[3] = slice %x, [0:3]
  %ya: f64[3] = slice %y, [0:3]
  %px: f64[4] = pad %xa, lo=[1], hi=[0], value=0.0
  %py: f64[4] = pad %ya, lo=[1], hi=[0], value=0.0
  %sx: f64[4] = sub %x, %px
  %sy: f64[4] = sub %y, %py
  %sx2: f64[4] = mul %sx, %sx
  %sy2: f64[4] = mul %sy, %sy
  %len2: f64[4] = add %sx2, %sy2
  %len: f64[4] = sqrt %len2
  %rest: f64[4] = const 1.0
  %ext: f64[4] = sub %len, %rest
  %k: f64[4] = const 1.0e5
  %kext: f64[4] = mul %k, %ext
  %t: f64[4] = div %kext, %len
  %tx: f64[4] = mul %t, %sx
  %ty: f64[4] = mul %t, %sy
  %txb: f64[3] = slice %tx, [1:4]
  %tyb: f64[3] = slice %ty, [1:4]
  %nx: f64[4] = pad %txb, lo=[0], hi=[1], value=0.0
  %ny: f64[4] = pad %tyb, lo=[0], hi=[1], value=0.0
  %fx: f64[4] = sub %nx, %tx
  %fy0: f64[4] = sub %ny, %ty
  %g: f64[4] = const 9.81
  %fy: f64[4] = sub %fy0, %g
  %hfx: f64[4] = mul %hb, %fx
  %hfy: f64[4] = mul %hb, %fy
  %dvx: f64[4] = sub %vx, %ux
  %dvy: f64[4] = sub %vy, %uy
  %rx: f64[4] = sub %dvx, %hfx
  %ry: f64[4] = sub %dvy, %hfy
  return %rx, %ry
}
";

/// Solves `a·z = b` in place (`b` becomes `z`) by Gaussian elimination
/// with partial pivoting; `false` if `a` is singular.
fn solve(a: &mut [[f64; D]; D], b: &mut [f64; D]) -> bool {
    for c in 0..D {
        let p = (c..D)
            .max_by(|&i, &j| a[i][c].abs().total_cmp(&a[j][c].abs()))
            .unwrap_or(c);
        if a[p][c] == 0.0 {
            return false;
        }
        a.swap(c, p);
        b.swap(c, p);
        let (upper, lower) = a.split_at_mut(c + 1);
        let (pivot, bc) = (&upper[c], b[c]);
        for (row, br) in lower.iter_mut().zip(&mut b[c + 1..]) {
            let f = row[c] / pivot[c];
            for (x, p) in row[c..].iter_mut().zip(&pivot[c..]) {
                *x -= f * p;
            }
            *br -= f * bc;
        }
    }
    for c in (0..D).rev() {
        let s: f64 = (c + 1..D).map(|k| a[c][k] * b[k]).sum();
        b[c] = (b[c] - s) / a[c][c];
    }
    true
}

/// Kinetic + gravitational + spring energy.
fn energy(x: &[f64; N], y: &[f64; N], vx: &[f64; N], vy: &[f64; N]) -> f64 {
    let mut e = 0.0;
    for i in 0..N {
        let (px, py) = if i == 0 {
            (0.0, 0.0)
        } else {
            (x[i - 1], y[i - 1])
        };
        let ext = ((x[i] - px).powi(2) + (y[i] - py).powi(2)).sqrt() - L;
        e += 0.5 * (vx[i] * vx[i] + vy[i] * vy[i]) + G * y[i] + 0.5 * K * ext * ext;
    }
    e
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (module, _) = parse_module(RESIDUAL).map_err(|e| e.render("residual", RESIDUAL))?;
    let residual = jit::compile(&module, "residual")?;
    // Blocks ∂rx/∂vx, ∂rx/∂vy, ∂ry/∂vx, ∂ry/∂vy, each 4×4.
    let (jm, jname) = ad::jacobian(&module, "residual", &[0, 1], Mode::Forward)?;
    let jacobian = jit::compile(&jm, &jname)?;
    let (mut rws, mut jws) = (residual.workspace(), jacobian.workspace());

    // Released from rest, stretched out horizontally.
    let (mut x, mut y) = ([1.0, 2.0, 3.0, 4.0], [0.0; N]);
    let (mut vx, mut vy) = ([0.0; N], [0.0; N]);
    let h = [0.01];
    let (mut rx, mut ry) = ([0.0; N], [0.0; N]);
    let mut blocks = [[0.0; N * N]; 4];
    println!("    t   tip x    tip y    energy  newton");
    for step in 0..=500 {
        let (ux, uy) = (vx, vy);
        let mut iterations = 0;
        for _ in 0..20 {
            let inputs = [
                ArgRef::F64(&vx),
                ArgRef::F64(&vy),
                ArgRef::F64(&x),
                ArgRef::F64(&y),
                ArgRef::F64(&ux),
                ArgRef::F64(&uy),
                ArgRef::F64(&h),
            ];
            residual.call_into(
                &inputs,
                &mut [ArgMut::F64(&mut rx), ArgMut::F64(&mut ry)],
                &mut rws,
            )?;
            let norm = rx.iter().chain(&ry).fold(0.0f64, |m, r| m.max(r.abs()));
            if norm <= 1e-10 {
                break;
            }
            let [b0, b1, b2, b3] = &mut blocks;
            let mut outs = [
                ArgMut::F64(b0),
                ArgMut::F64(b1),
                ArgMut::F64(b2),
                ArgMut::F64(b3),
            ];
            jacobian.call_into(&inputs, &mut outs, &mut jws)?;
            let mut a = [[0.0; D]; D];
            let mut b = [0.0; D];
            for i in 0..N {
                for j in 0..N {
                    a[i][j] = blocks[0][i * N + j];
                    a[i][N + j] = blocks[1][i * N + j];
                    a[N + i][j] = blocks[2][i * N + j];
                    a[N + i][N + j] = blocks[3][i * N + j];
                }
                b[i] = rx[i];
                b[N + i] = ry[i];
            }
            if !solve(&mut a, &mut b) {
                return Err("singular Newton matrix".into());
            }
            for i in 0..N {
                vx[i] -= b[i];
                vy[i] -= b[N + i];
            }
            iterations += 1;
        }
        for i in 0..N {
            x[i] += h[0] * vx[i];
            y[i] += h[0] * vy[i];
        }
        if step % 50 == 0 {
            let t = (step + 1) as f64 * h[0];
            let e = energy(&x, &y, &vx, &vy);
            println!(
                "{t:5.2} {:8.4} {:8.4} {e:9.3} {iterations:7}",
                x[N - 1],
                y[N - 1]
            );
        }
    }
    Ok(())
}
