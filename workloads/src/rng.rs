//! A small deterministic random number generator for the workload inputs.
//!
//! [`SplitMix64`] (Steele, Lea and Flood, "Fast splittable pseudorandom number
//! generators", 2014) passes BigCrush, needs eight bytes of state and is a few
//! lines long, which is all input generation needs.
//!
//! Invariants:
//! - The stream depends only on the seed: the transcendental functions used
//!   for normal deviates come from the pure-Rust `libm` crate rather than the
//!   platform's C library, so every platform draws the same numbers.
//! - `next_f64` is in `[0, 1)`, with 53 random bits.

/// The SplitMix64 generator.
#[derive(Debug, Clone)]
pub struct SplitMix64 {
    /// The state: advanced by the golden-ratio increment on every draw.
    state: u64,
    /// The second deviate of the last Box–Muller pair, not yet returned.
    spare_normal: Option<f64>,
}

impl SplitMix64 {
    /// A generator whose stream is determined by `seed`.
    pub fn new(seed: u64) -> SplitMix64 {
        SplitMix64 {
            state: seed,
            spare_normal: None,
        }
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A uniform deviate in `[0, 1)`.
    pub fn next_f64(&mut self) -> f64 {
        // The top 53 bits fill the mantissa exactly; 2^-53 scales them to [0, 1).
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// A uniform deviate in `[lo, hi)`.
    pub fn uniform(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.next_f64()
    }

    /// A uniform integer in `0..n` (`n > 0`; `0` for `n == 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            return 0;
        }
        // Lemire's multiply-shift; the bias is below 2^-64 * n, irrelevant here.
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// A standard normal deviate (Box–Muller; pairs are used in full).
    pub fn normal(&mut self) -> f64 {
        if let Some(z) = self.spare_normal.take() {
            return z;
        }
        // 1 - u is in (0, 1], so the logarithm is finite.
        let u1 = 1.0 - self.next_f64();
        let u2 = self.next_f64();
        let radius = libm::sqrt(-2.0 * libm::log(u1));
        let angle = 2.0 * std::f64::consts::PI * u2;
        self.spare_normal = Some(radius * libm::sin(angle));
        radius * libm::cos(angle)
    }

    /// `1.0` with probability `p`, else `0.0`.
    pub fn bernoulli(&mut self, p: f64) -> f64 {
        if self.next_f64() < p { 1.0 } else { 0.0 }
    }

    /// A vector of `n` uniform deviates in `[lo, hi)`.
    pub fn uniform_vec(&mut self, n: usize, lo: f64, hi: f64) -> Vec<f64> {
        (0..n).map(|_| self.uniform(lo, hi)).collect()
    }

    /// A vector of `n` normal deviates with the given mean and standard deviation.
    pub fn normal_vec(&mut self, n: usize, mean: f64, std_dev: f64) -> Vec<f64> {
        (0..n).map(|_| mean + std_dev * self.normal()).collect()
    }
}
