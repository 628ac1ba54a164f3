//! `bs`: Black–Scholes European call prices with delta and vega, in closed form.
//!
//! For each option (spot S, strike K, maturity T, rate r, volatility σ):
//!
//! ```text
//! d1 = (log(S/K) + (r + σ²/2)T) / (σ√T),   d2 = d1 − σ√T
//! N(z) = ½(1 + erf(z/√2)),                 φ(z) = e^{−z²/2}/√(2π)
//! C = S·N(d1) − K·e^{−rT}·N(d2)
//! delta = ∂C/∂S = N(d1),                   vega = ∂C/∂σ = S·φ(d1)·√T
//! ```
//!
//! The closed forms use S·φ(d1) = K·e^{−rT}·φ(d2), which makes the terms from
//! ∂d1 and ∂d2 cancel. The compiled workload computes delta and vega as forward
//! tangents of C with all-ones seeds on S and on σ; since options are
//! independent, those tangents are exactly these per-option derivatives.
//!
//! Invariants: all five input arrays and all outputs have the same length;
//! N(z) uses `libm::erf`, exactly the formula above.

use super::rng::SplitMix64;
use super::{WorkloadError, check_len};

/// The standard normal cumulative distribution N(z) = ½(1 + erf(z/√2)).
#[inline]
pub fn norm_cdf(z: f64) -> f64 {
    0.5 * (1.0 + libm::erf(z * std::f64::consts::FRAC_1_SQRT_2))
}

/// The standard normal density φ(z) = e^{−z²/2}/√(2π).
#[inline]
pub fn norm_pdf(z: f64) -> f64 {
    // 1/√(2π)
    const INV_SQRT_2PI: f64 = 0.398_942_280_401_432_7;
    INV_SQRT_2PI * (-0.5 * z * z).exp()
}

/// A batch of options, borrowed; all arrays have the same length.
#[derive(Debug, Clone, Copy)]
pub struct Options<'a> {
    /// Spot prices S.
    pub s: &'a [f64],
    /// Strikes K.
    pub k: &'a [f64],
    /// Maturities T (years, > 0).
    pub t: &'a [f64],
    /// Risk-free rates r.
    pub r: &'a [f64],
    /// Volatilities σ (> 0).
    pub sigma: &'a [f64],
}

impl Options<'_> {
    /// Checks that every array has the length of `s`; returns it.
    fn len(&self) -> Result<usize, WorkloadError> {
        let n = self.s.len();
        check_len("k", self.k.len(), n)?;
        check_len("t", self.t.len(), n)?;
        check_len("r", self.r.len(), n)?;
        check_len("sigma", self.sigma.len(), n)?;
        Ok(n)
    }
}

/// Output buffers for [`price_delta_vega`], one entry per option.
#[derive(Debug)]
pub struct Greeks<'a> {
    /// Call prices C.
    pub price: &'a mut [f64],
    /// ∂C/∂S.
    pub delta: &'a mut [f64],
    /// ∂C/∂σ.
    pub vega: &'a mut [f64],
}

/// (d1, σ√T, discounted strike K·e^{−rT}) for one option.
#[inline]
fn d1_terms(s: f64, k: f64, t: f64, r: f64, sigma: f64) -> (f64, f64, f64) {
    let sqrt_t = t.sqrt();
    let vol = sigma * sqrt_t;
    let d1 = ((s / k).ln() + (r + 0.5 * sigma * sigma) * t) / vol;
    (d1, vol, k * (-r * t).exp())
}

/// The call price of one option.
#[inline]
pub fn call_price(s: f64, k: f64, t: f64, r: f64, sigma: f64) -> f64 {
    let (d1, vol, discounted) = d1_terms(s, k, t, r, sigma);
    s * norm_cdf(d1) - discounted * norm_cdf(d1 - vol)
}

/// Writes each option's call price into `price`.
pub fn price(options: Options<'_>, price: &mut [f64]) -> Result<(), WorkloadError> {
    let n = options.len()?;
    check_len("price", price.len(), n)?;
    for (i, p) in price.iter_mut().enumerate() {
        *p = call_price(
            options.s[i],
            options.k[i],
            options.t[i],
            options.r[i],
            options.sigma[i],
        );
    }
    Ok(())
}

/// Writes each option's price, delta and vega into `out`.
pub fn price_delta_vega(options: Options<'_>, out: Greeks<'_>) -> Result<(), WorkloadError> {
    let n = options.len()?;
    check_len("price", out.price.len(), n)?;
    check_len("delta", out.delta.len(), n)?;
    check_len("vega", out.vega.len(), n)?;
    // Re-slicing to n lets the compiler drop the per-element bounds checks.
    let (ss, ks, ts, rs, sigmas) = (
        &options.s[..n],
        &options.k[..n],
        &options.t[..n],
        &options.r[..n],
        &options.sigma[..n],
    );
    let (prices, deltas, vegas) = (&mut out.price[..n], &mut out.delta[..n], &mut out.vega[..n]);
    for i in 0..n {
        let (s, t) = (ss[i], ts[i]);
        let (d1, vol, discounted) = d1_terms(s, ks[i], t, rs[i], sigmas[i]);
        let n_d1 = norm_cdf(d1);
        prices[i] = s * n_d1 - discounted * norm_cdf(d1 - vol);
        deltas[i] = n_d1;
        vegas[i] = s * norm_pdf(d1) * t.sqrt();
    }
    Ok(())
}

/// The sum of all call prices (a scalar summary whose gradient with respect
/// to S is the vector of deltas, and with respect to σ the vector of vegas).
pub fn sum_prices(options: Options<'_>) -> Result<f64, WorkloadError> {
    let n = options.len()?;
    Ok((0..n)
        .map(|i| {
            call_price(
                options.s[i],
                options.k[i],
                options.t[i],
                options.r[i],
                options.sigma[i],
            )
        })
        .sum())
}

/// Inputs for `bs`.
#[derive(Debug, Clone, PartialEq)]
pub struct BsInputs {
    /// Spot prices, uniform in [50, 150).
    pub s: Vec<f64>,
    /// Strikes, uniform in [50, 150).
    pub k: Vec<f64>,
    /// Maturities, uniform in [0.1, 2).
    pub t: Vec<f64>,
    /// Rates, uniform in [0, 0.05).
    pub r: Vec<f64>,
    /// Volatilities, uniform in [0.1, 0.5).
    pub sigma: Vec<f64>,
}

impl BsInputs {
    /// The options, borrowed.
    pub fn options(&self) -> Options<'_> {
        Options {
            s: &self.s,
            k: &self.k,
            t: &self.t,
            r: &self.r,
            sigma: &self.sigma,
        }
    }
}

/// Deterministic inputs for `n` options from `seed`
/// (drawn array by array: S, K, T, r, σ).
pub fn inputs(n: usize, seed: u64) -> BsInputs {
    let mut rng = SplitMix64::new(seed);
    BsInputs {
        s: rng.uniform_vec(n, 50.0, 150.0),
        k: rng.uniform_vec(n, 50.0, 150.0),
        t: rng.uniform_vec(n, 0.1, 2.0),
        r: rng.uniform_vec(n, 0.0, 0.05),
        sigma: rng.uniform_vec(n, 0.1, 0.5),
    }
}
