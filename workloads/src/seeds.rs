//! The seed examples: small scalar functions whose derivatives every AD system
//! must get exactly right, with their hand-derived gradients.
//!
//! - `seed1`: f(x) = sin(eˣ·x) + log(x)·tanh(cos x), for x > 0 — x fans out
//!   into five paths.
//! - `seed2`: f(x, y) = (x + y)(x − y).
//! - `seed3`: z = x·x + x·y + 2.
//! - `select`: f(x) = x² if x > 1 else 2x − 1.
//!
//! Invariants: each `*_grad` is the exact derivative of its function, derived
//! by hand; at a branch boundary the derivative is that of the branch taken.

/// seed1: f(x) = sin(eˣ·x) + log(x)·tanh(cos x). Defined for x > 0
/// (NaN for x < 0, like `log`).
pub fn seed1(x: f64) -> f64 {
    (x.exp() * x).sin() + x.ln() * x.cos().tanh()
}

/// d seed1/dx = cos(eˣ·x)·eˣ(1 + x) + tanh(cos x)/x − log(x)·(1 − tanh²(cos x))·sin x.
pub fn seed1_grad(x: f64) -> f64 {
    let ex = x.exp();
    let th = x.cos().tanh();
    (ex * x).cos() * ex * (1.0 + x) + th / x - x.ln() * (1.0 - th * th) * x.sin()
}

/// seed2: f(x, y) = (x + y)(x − y). At (3, 2): f = 5.
pub fn seed2(x: f64, y: f64) -> f64 {
    (x + y) * (x - y)
}

/// ∇seed2 = ((x − y) + (x + y), (x − y) − (x + y)) = (2x, −2y). At (3, 2): (6, −4).
pub fn seed2_grad(x: f64, y: f64) -> [f64; 2] {
    [(x - y) + (x + y), (x - y) - (x + y)]
}

/// seed3: z = x·x + x·y + 2.
pub fn seed3(x: f64, y: f64) -> f64 {
    x * x + x * y + 2.0
}

/// ∇seed3 = (2x + y, x).
pub fn seed3_grad(x: f64, y: f64) -> [f64; 2] {
    [2.0 * x + y, x]
}

/// select: f(x) = x² if x > 1 else 2x − 1. Both branches give 1 at x = 1
/// and both slopes are 2 there; the second derivative jumps from 0 to 2.
pub fn select(x: f64) -> f64 {
    if x > 1.0 { x * x } else { 2.0 * x - 1.0 }
}

/// d select/dx = 2x if x > 1 else 2 (at x = 1 the `else` branch is taken: 2).
pub fn select_grad(x: f64) -> f64 {
    if x > 1.0 { 2.0 * x } else { 2.0 }
}
