//! `spring`: a 1-D chain of unit masses joined by springs, integrated with
//! symplectic Euler; the loss is the squared distance of the final positions
//! to a target. Value and hand-written adjoint (reverse sweep over the stored
//! trajectory).
//!
//! # Dynamics
//!
//! N unit masses at positions x ∈ Rᴺ with velocities v; spring i joins masses
//! i and i+1 (i < N−1) with stiffness k_i and rest length 1:
//!
//! ```text
//! f_i = k_i (x_{i+1} − x_i − 1)               (tension of spring i)
//! F_j = f_j − f_{j−1}, with f_{−1} = f_{N−1} = 0  (free ends)
//! v_{t+1} = v_t + dt·F(x_t)
//! x_{t+1} = x_t + dt·v_{t+1}
//! loss = Σ_j (x_{T,j} − target_j)²
//! ```
//!
//! # Adjoint
//!
//! Starting from x̄_T = 2(x_T − target), v̄_T = 0, each step backwards does
//!
//! ```text
//! v̄ ← v̄ + dt·x̄                      (v_{t+1} feeds x_{t+1})
//! ū_i = dt·(v̄_i − v̄_{i+1})          (f_i enters F_i with +, F_{i+1} with −)
//! k̄_i += ū_i·(x_{t,i+1} − x_{t,i} − 1)
//! x̄_{i+1} += k_i ū_i,  x̄_i −= k_i ū_i
//! ```
//!
//! and at the end x̄ = ∂loss/∂x0, v̄ = ∂loss/∂v0, k̄ = ∂loss/∂k.
//!
//! Invariants: k has N−1 entries (none when N ≤ 1); the [`Workspace`] holds
//! the (T+1)×N positions so that the reverse sweep reads x_t exactly as the
//! forward sweep computed it (no recomputation, no reversibility error).

use super::rng::SplitMix64;
use super::{WorkloadError, check_len, checked_size};

/// Sizes and step of a `spring` instance.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Config {
    /// Number of masses N.
    pub masses: usize,
    /// Number of time steps T.
    pub steps: usize,
    /// The time step dt.
    pub dt: f64,
}

/// The benchmark's configuration: N = 32, T = 1000, dt = 0.01.
pub const BENCH: Config = Config {
    masses: 32,
    steps: 1000,
    dt: 0.01,
};

impl Config {
    /// Number of springs, N − 1 (0 when N = 0).
    pub fn springs(&self) -> usize {
        self.masses.saturating_sub(1)
    }

    /// Entries of the stored trajectory, (T+1)·N.
    fn trajectory_len(&self) -> Result<usize, WorkloadError> {
        let states = self
            .steps
            .checked_add(1)
            .ok_or(WorkloadError::Overflow { what: "trajectory" })?;
        checked_size("trajectory", states, self.masses)
    }
}

/// The inputs of the simulation, borrowed.
#[derive(Debug, Clone, Copy)]
pub struct Args<'a> {
    /// Spring stiffnesses, N−1.
    pub k: &'a [f64],
    /// Initial positions, N.
    pub x0: &'a [f64],
    /// Initial velocities, N.
    pub v0: &'a [f64],
    /// Target final positions, N.
    pub target: &'a [f64],
}

/// Output buffers for the gradient.
#[derive(Debug)]
pub struct Grads<'a> {
    /// ∂loss/∂k, N−1.
    pub k: &'a mut [f64],
    /// ∂loss/∂x0, N.
    pub x0: &'a mut [f64],
    /// ∂loss/∂v0, N.
    pub v0: &'a mut [f64],
}

/// Scratch space for one configuration, reused across calls.
#[derive(Debug, Clone)]
pub struct Workspace {
    /// The configuration this workspace was built for.
    config: Config,
    /// Positions x_0..x_T, (T+1)×N.
    trajectory: Vec<f64>,
    /// The current velocity (forward) or its adjoint (reverse), N.
    velocity: Vec<f64>,
    /// The position adjoint, N.
    position_adjoint: Vec<f64>,
}

impl Workspace {
    /// Scratch space for `config`.
    pub fn new(config: Config) -> Result<Workspace, WorkloadError> {
        Ok(Workspace {
            config,
            trajectory: vec![0.0; config.trajectory_len()?],
            velocity: vec![0.0; config.masses],
            position_adjoint: vec![0.0; config.masses],
        })
    }
}

fn check(config: Config, args: Args<'_>, ws: &Workspace) -> Result<(), WorkloadError> {
    if ws.config != config {
        return Err(WorkloadError::Invalid {
            what: "workspace",
            why: "built for a different configuration",
        });
    }
    let n = config.masses;
    check_len("k", args.k.len(), config.springs())?;
    check_len("x0", args.x0.len(), n)?;
    check_len("v0", args.v0.len(), n)?;
    check_len("target", args.target.len(), n)
}

/// One symplectic Euler step: v += dt·F(x), then next = x + dt·v.
#[inline]
fn step(k: &[f64], dt: f64, x: &[f64], v: &mut [f64], next: &mut [f64]) {
    let n = x.len();
    if n >= 2 {
        // F_j = f_j − f_{j−1}, carrying f_{j−1} from the previous iteration;
        // f_{−1} = 0 and the last mass sees only f_{N−2}.
        let mut previous = 0.0;
        for (((vj, kj), xj), xj1) in v.iter_mut().zip(k).zip(x).zip(&x[1..]) {
            let tension = kj * (xj1 - xj - 1.0);
            *vj += dt * (tension - previous);
            previous = tension;
        }
        v[n - 1] -= dt * previous;
    }
    for ((nj, xj), vj) in next.iter_mut().zip(x).zip(v.iter()) {
        *nj = xj + dt * vj;
    }
}

/// Runs the simulation from (x0, v0), storing every state's positions in
/// `ws.trajectory`; returns the loss.
fn forward(config: Config, args: Args<'_>, ws: &mut Workspace) -> f64 {
    let n = config.masses;
    ws.trajectory[..n].copy_from_slice(args.x0);
    ws.velocity.copy_from_slice(args.v0);
    for t in 0..config.steps {
        let (done, rest) = ws.trajectory.split_at_mut((t + 1) * n);
        let x = &done[t * n..];
        step(args.k, config.dt, x, &mut ws.velocity, &mut rest[..n]);
    }
    let last = &ws.trajectory[config.steps * n..];
    last.iter()
        .zip(args.target)
        .map(|(x, tg)| (x - tg) * (x - tg))
        .sum()
}

/// The loss Σ(x_T − target)².
pub fn value(config: Config, args: Args<'_>, ws: &mut Workspace) -> Result<f64, WorkloadError> {
    check(config, args, ws)?;
    Ok(forward(config, args, ws))
}

/// Writes ∂loss/∂k, ∂loss/∂x0 and ∂loss/∂v0 into `grads` and returns the loss.
pub fn value_and_grad(
    config: Config,
    args: Args<'_>,
    ws: &mut Workspace,
    grads: Grads<'_>,
) -> Result<f64, WorkloadError> {
    check(config, args, ws)?;
    check_len("grads.k", grads.k.len(), config.springs())?;
    check_len("grads.x0", grads.x0.len(), config.masses)?;
    check_len("grads.v0", grads.v0.len(), config.masses)?;
    let loss = forward(config, args, ws);
    let (n, dt) = (config.masses, config.dt);

    let x_bar = &mut ws.position_adjoint;
    let v_bar = &mut ws.velocity;
    let last = &ws.trajectory[config.steps * n..];
    for ((xb, x), tg) in x_bar.iter_mut().zip(last).zip(args.target) {
        *xb = 2.0 * (x - tg);
    }
    v_bar.fill(0.0);
    grads.k.fill(0.0);
    for t in (0..config.steps).rev() {
        for (vb, xb) in v_bar.iter_mut().zip(x_bar.iter()) {
            *vb += dt * xb;
        }
        let x = &ws.trajectory[t * n..(t + 1) * n];
        for i in 0..config.springs() {
            let u = dt * (v_bar[i] - v_bar[i + 1]);
            grads.k[i] += u * (x[i + 1] - x[i] - 1.0);
            let ku = args.k[i] * u;
            x_bar[i + 1] += ku;
            x_bar[i] -= ku;
        }
    }
    grads.x0.copy_from_slice(x_bar);
    grads.v0.copy_from_slice(v_bar);
    Ok(loss)
}

/// Inputs for `spring`.
#[derive(Debug, Clone, PartialEq)]
pub struct SpringInputs {
    /// The configuration.
    pub config: Config,
    /// Stiffnesses, uniform in [0.5, 2).
    pub k: Vec<f64>,
    /// Initial positions: mass j at j + u, u uniform in [−0.1, 0.1).
    pub x0: Vec<f64>,
    /// Initial velocities, uniform in [−0.5, 0.5).
    pub v0: Vec<f64>,
    /// Targets: mass j at j + u, u uniform in [−0.5, 0.5).
    pub target: Vec<f64>,
}

impl SpringInputs {
    /// The inputs, borrowed.
    pub fn args(&self) -> Args<'_> {
        Args {
            k: &self.k,
            x0: &self.x0,
            v0: &self.v0,
            target: &self.target,
        }
    }
}

/// Deterministic inputs for `config` from `seed` (drawn in the order k, x0,
/// v0, target). Stable for dt up to about 0.7 (the chain's highest angular
/// frequency is below 2√2 for k < 2).
pub fn inputs(config: Config, seed: u64) -> SpringInputs {
    let mut rng = SplitMix64::new(seed);
    let n = config.masses;
    let k = rng.uniform_vec(config.springs(), 0.5, 2.0);
    let x0 = (0..n).map(|j| j as f64 + rng.uniform(-0.1, 0.1)).collect();
    let v0 = rng.uniform_vec(n, -0.5, 0.5);
    let target = (0..n).map(|j| j as f64 + rng.uniform(-0.5, 0.5)).collect();
    SpringInputs {
        config,
        k,
        x0,
        v0,
        target,
    }
}
