//! Dimensions: integer polynomials over named size variables.
//!
//! A [`Dim`] is either a known integer or a polynomial such as `n-1` or
//! `2*n*m+3`, so one function can serve every size (`func @rosen(%x: f64[n])`).
//! Size variables are bound from the shapes of a function's inputs when it is
//! evaluated or instantiated.
//!
//! Invariants:
//! - A `Dim` is always in normal form: terms sorted (higher degree first, then by
//!   variable names), no zero coefficients, no repeated monomials, and a
//!   polynomial with no variable is stored as [`Dim::Known`]. Hence structural
//!   equality is polynomial equality.
//! - Arithmetic is checked: an overflowing coefficient is an error, never a wrap.
//!   So is a product past the size bounds [`MAX_DEGREE`] and [`MAX_TERM_PRODUCTS`],
//!   which keep the work and memory of every operation small whatever the input
//!   (repeated substitution could otherwise square a polynomial at each step).
//! - A `Dim` may be negative while symbolic (`n-1` with `n = 0`); evaluation
//!   reports a negative size as an error.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::Arc;

/// The largest total degree of a term (`n*n*m` has degree 3).
pub const MAX_DEGREE: u32 = 64;

/// The most term-by-term products one multiplication may form.
pub const MAX_TERM_PRODUCTS: usize = 4096;

/// A size variable's name (an identifier such as `n`).
pub type SizeVar = Arc<str>;

/// A dimension: a known integer or an integer polynomial over size variables.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Dim {
    /// A known size (or offset, for slice bounds).
    Known(i64),
    /// A polynomial with at least one variable term.
    Poly(Arc<Poly>),
}

/// A normalised polynomial with at least one variable term.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct Poly {
    /// `(monomial, coefficient)`, sorted, coefficients non-zero, no duplicates.
    terms: Vec<(Monomial, i64)>,
}

/// A product of variables with positive powers, sorted by name.
/// The empty monomial is the constant term.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
struct Monomial(Vec<(SizeVar, u32)>);

impl Monomial {
    fn degree(&self) -> u32 {
        self.0.iter().map(|(_, p)| p).sum()
    }
    /// The product, or `None` past [`MAX_DEGREE`].
    fn mul(&self, other: &Monomial) -> Option<Monomial> {
        if self.degree().checked_add(other.degree())? > MAX_DEGREE {
            return None;
        }
        let mut map: BTreeMap<SizeVar, u32> = BTreeMap::new();
        for (v, p) in self.0.iter().chain(other.0.iter()) {
            *map.entry(v.clone()).or_insert(0) += p;
        }
        Some(Monomial(map.into_iter().collect()))
    }
}

/// Arithmetic on dimensions overflowed `i64`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("dimension arithmetic overflows")]
pub struct DimOverflow;

/// Why a dimension could not be evaluated to a size.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DimEvalError {
    /// A size variable has no binding.
    #[error("size variable `{0}` is not bound")]
    Unbound(String),
    /// Evaluation overflowed.
    #[error("dimension `{0}` overflows when evaluated")]
    Overflow(String),
    /// The dimension evaluated to a negative number.
    #[error("dimension `{dim}` evaluates to {value}, which is negative")]
    Negative {
        /// The dimension as written.
        dim: String,
        /// Its value.
        value: i64,
    },
}

impl Dim {
    /// The dimension `0`.
    pub const ZERO: Dim = Dim::Known(0);
    /// The dimension `1`.
    pub const ONE: Dim = Dim::Known(1);

    /// A size variable.
    pub fn var(name: &str) -> Dim {
        Dim::Poly(Arc::new(Poly {
            terms: vec![(Monomial(vec![(Arc::from(name), 1)]), 1)],
        }))
    }

    /// The known value, if the dimension has no variables.
    pub fn known(&self) -> Option<i64> {
        match self {
            Dim::Known(k) => Some(*k),
            Dim::Poly(_) => None,
        }
    }

    /// Whether this is exactly the known value `k`.
    pub fn is(&self, k: i64) -> bool {
        self.known() == Some(k)
    }

    /// If this dimension is a bare variable (`n`), its name.
    pub fn as_var(&self) -> Option<&SizeVar> {
        match self {
            Dim::Poly(p) if p.terms.len() == 1 => {
                let (m, c) = &p.terms[0];
                (*c == 1 && m.0.len() == 1 && m.0[0].1 == 1).then(|| &m.0[0].0)
            }
            _ => None,
        }
    }

    /// The size variables this dimension mentions, in name order, each once.
    pub fn vars(&self) -> Vec<SizeVar> {
        let mut out: Vec<SizeVar> = Vec::new();
        if let Dim::Poly(p) = self {
            for (m, _) in &p.terms {
                for (v, _) in &m.0 {
                    if !out.contains(v) {
                        out.push(v.clone());
                    }
                }
            }
        }
        out.sort();
        out
    }

    fn terms(&self) -> Vec<(Monomial, i64)> {
        match self {
            Dim::Known(0) => vec![],
            Dim::Known(k) => vec![(Monomial(vec![]), *k)],
            Dim::Poly(p) => p.terms.clone(),
        }
    }

    fn from_terms(terms: impl IntoIterator<Item = (Monomial, i64)>) -> Result<Dim, DimOverflow> {
        let mut map: BTreeMap<Monomial, i64> = BTreeMap::new();
        for (m, c) in terms {
            let e = map.entry(m).or_insert(0);
            *e = e.checked_add(c).ok_or(DimOverflow)?;
        }
        let mut terms: Vec<(Monomial, i64)> = map.into_iter().filter(|(_, c)| *c != 0).collect();
        // Higher degree first, then by variables; the constant term sorts last.
        terms.sort_by(|(a, _), (b, _)| b.degree().cmp(&a.degree()).then_with(|| a.cmp(b)));
        match terms.as_slice() {
            [] => Ok(Dim::Known(0)),
            [(m, c)] if m.0.is_empty() => Ok(Dim::Known(*c)),
            _ => Ok(Dim::Poly(Arc::new(Poly { terms }))),
        }
    }

    /// `self + other`.
    pub fn checked_add(&self, other: &Dim) -> Result<Dim, DimOverflow> {
        if let (Some(a), Some(b)) = (self.known(), other.known()) {
            return a.checked_add(b).map(Dim::Known).ok_or(DimOverflow);
        }
        Dim::from_terms(self.terms().into_iter().chain(other.terms()))
    }

    /// `self - other`.
    pub fn checked_sub(&self, other: &Dim) -> Result<Dim, DimOverflow> {
        other
            .checked_mul(&Dim::Known(-1))
            .and_then(|neg| self.checked_add(&neg))
    }

    /// `self * other`.
    pub fn checked_mul(&self, other: &Dim) -> Result<Dim, DimOverflow> {
        if let (Some(a), Some(b)) = (self.known(), other.known()) {
            return a.checked_mul(b).map(Dim::Known).ok_or(DimOverflow);
        }
        let (ta, tb) = (self.terms(), other.terms());
        if ta.len().saturating_mul(tb.len()) > MAX_TERM_PRODUCTS {
            return Err(DimOverflow);
        }
        let mut out = Vec::new();
        for (ma, ca) in &ta {
            for (mb, cb) in &tb {
                let m = ma.mul(mb).ok_or(DimOverflow)?;
                out.push((m, ca.checked_mul(*cb).ok_or(DimOverflow)?));
            }
        }
        Dim::from_terms(out)
    }

    /// The product of several dimensions (1 for none).
    pub fn product<'a>(dims: impl IntoIterator<Item = &'a Dim>) -> Result<Dim, DimOverflow> {
        dims.into_iter()
            .try_fold(Dim::ONE, |acc, d| acc.checked_mul(d))
    }

    /// The number of elements of a strided range `start:stop:step`, that is
    /// `ceil((stop - start) / step)`. Symbolic only when `step == 1`.
    pub fn range_len(start: &Dim, stop: &Dim, step: u64) -> Result<Option<Dim>, DimOverflow> {
        let len = stop.checked_sub(start)?;
        if step == 1 {
            return Ok(Some(len));
        }
        let step = i64::try_from(step).map_err(|_| DimOverflow)?;
        Ok(len.known().map(|l| {
            if l <= 0 {
                Dim::ZERO
            } else {
                Dim::Known((l - 1) / step + 1)
            }
        }))
    }

    /// Replaces size variables by dimensions; unmapped variables stay.
    pub fn substitute(&self, map: &HashMap<SizeVar, Dim>) -> Result<Dim, DimOverflow> {
        let Dim::Poly(p) = self else {
            return Ok(self.clone());
        };
        let mut acc = Dim::ZERO;
        for (m, c) in &p.terms {
            let mut term = Dim::Known(*c);
            for (v, pow) in &m.0 {
                let base = map.get(v).cloned().unwrap_or_else(|| Dim::var(v));
                for _ in 0..*pow {
                    term = term.checked_mul(&base)?;
                }
            }
            acc = acc.checked_add(&term)?;
        }
        Ok(acc)
    }

    /// Evaluates with the given bindings to a signed integer.
    pub fn eval_signed(&self, env: &dyn Fn(&str) -> Option<i64>) -> Result<i64, DimEvalError> {
        let Dim::Poly(p) = self else {
            return Ok(self.known().unwrap_or(0));
        };
        let overflow = || DimEvalError::Overflow(self.to_string());
        let mut acc: i64 = 0;
        for (m, c) in &p.terms {
            let mut term = *c;
            for (v, pow) in &m.0 {
                let x = env(v).ok_or_else(|| DimEvalError::Unbound(v.to_string()))?;
                for _ in 0..*pow {
                    term = term.checked_mul(x).ok_or_else(overflow)?;
                }
            }
            acc = acc.checked_add(term).ok_or_else(overflow)?;
        }
        Ok(acc)
    }

    /// Evaluates with the given bindings to a size (non-negative).
    pub fn eval(&self, env: &dyn Fn(&str) -> Option<i64>) -> Result<usize, DimEvalError> {
        let value = self.eval_signed(env)?;
        usize::try_from(value).map_err(|_| DimEvalError::Negative {
            dim: self.to_string(),
            value,
        })
    }
}

impl From<usize> for Dim {
    /// Sizes above `i64::MAX` saturate; shape checks then reject them as too large.
    fn from(k: usize) -> Dim {
        Dim::Known(i64::try_from(k).unwrap_or(i64::MAX))
    }
}

impl From<i64> for Dim {
    fn from(k: i64) -> Dim {
        Dim::Known(k)
    }
}

/// So that integer literals (`i32` by default) are accepted where a `Dim` is.
impl From<i32> for Dim {
    fn from(k: i32) -> Dim {
        Dim::Known(i64::from(k))
    }
}

impl fmt::Display for Dim {
    /// Canonical text: `2*n*m+n-1`, no spaces, powers as repeated factors.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let p = match self {
            Dim::Known(k) => return write!(f, "{k}"),
            Dim::Poly(p) => p,
        };
        for (i, (m, c)) in p.terms.iter().enumerate() {
            let mag = c.unsigned_abs();
            if *c < 0 {
                f.write_str("-")?;
            } else if i > 0 {
                f.write_str("+")?;
            }
            let mut first = true;
            if mag != 1 || m.0.is_empty() {
                write!(f, "{mag}")?;
                first = false;
            }
            for (v, pow) in &m.0 {
                for _ in 0..*pow {
                    if !first {
                        f.write_str("*")?;
                    }
                    f.write_str(v)?;
                    first = false;
                }
            }
        }
        Ok(())
    }
}

impl fmt::Debug for Dim {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n() -> Dim {
        Dim::var("n")
    }
    fn m() -> Dim {
        Dim::var("m")
    }
    fn k(x: i64) -> Dim {
        Dim::Known(x)
    }

    #[test]
    fn normal_form_makes_equal_polynomials_equal() {
        let a = n().checked_add(&k(1)).unwrap().checked_mul(&m()).unwrap();
        let b = m().checked_add(&m().checked_mul(&n()).unwrap()).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.to_string(), "m*n+m");
        assert_eq!(n().checked_sub(&n()).unwrap(), Dim::ZERO);
    }

    #[test]
    fn display_forms() {
        assert_eq!(n().checked_sub(&k(1)).unwrap().to_string(), "n-1");
        assert_eq!(k(5).checked_sub(&n()).unwrap().to_string(), "-n+5");
        let sq = n().checked_mul(&n()).unwrap().checked_mul(&k(2)).unwrap();
        assert_eq!(sq.to_string(), "2*n*n");
        assert_eq!(k(-3).to_string(), "-3");
    }

    #[test]
    fn eval_and_substitute() {
        let d = n().checked_mul(&m()).unwrap().checked_sub(&k(1)).unwrap();
        let env = |v: &str| match v {
            "n" => Some(3),
            "m" => Some(4),
            _ => None,
        };
        assert_eq!(d.eval(&env), Ok(11));
        let mut map = HashMap::new();
        map.insert(SizeVar::from("n"), k(2));
        assert_eq!(d.substitute(&map).unwrap().to_string(), "2*m-1");
        assert!(matches!(
            n().checked_sub(&k(1)).unwrap().eval(&|_| Some(0)),
            Err(DimEvalError::Negative { value: -1, .. })
        ));
        assert!(matches!(n().eval(&|_| None), Err(DimEvalError::Unbound(_))));
    }

    #[test]
    fn overflow_is_an_error() {
        assert_eq!(k(i64::MAX).checked_add(&k(1)), Err(DimOverflow));
        let big = n().checked_mul(&k(i64::MAX)).unwrap();
        assert_eq!(big.checked_mul(&k(2)), Err(DimOverflow));
        assert!(matches!(
            big.eval(&|_| Some(3)),
            Err(DimEvalError::Overflow(_))
        ));
    }

    #[test]
    fn products_are_bounded() {
        let mut d = n();
        for _ in 0..MAX_DEGREE - 1 {
            d = d.checked_mul(&n()).unwrap();
        }
        assert_eq!(d.checked_mul(&n()), Err(DimOverflow));
        // Squaring by substitution stops at the degree bound.
        let mut map = HashMap::new();
        map.insert(SizeVar::from("n"), n().checked_mul(&n()).unwrap());
        let mut e = n();
        let mut steps = 0;
        while let Ok(next) = e.substitute(&map) {
            e = next;
            steps += 1;
        }
        assert_eq!(steps, 6);
        // Many-term products are refused before they are formed.
        let vars = ["a", "b", "c", "d", "e", "f", "g", "h"];
        let sum = vars
            .iter()
            .try_fold(Dim::ONE, |acc, v| acc.checked_add(&Dim::var(v)))
            .unwrap();
        let mut p = sum.clone();
        let mut ok = 0;
        while let Ok(next) = p.checked_mul(&sum) {
            p = next;
            ok += 1;
        }
        assert!((1..10).contains(&ok), "{ok}");
    }

    #[test]
    fn strided_range_lengths() {
        assert_eq!(Dim::range_len(&k(0), &k(7), 2).unwrap(), Some(k(4)));
        assert_eq!(Dim::range_len(&k(5), &k(3), 2).unwrap(), Some(k(0)));
        assert_eq!(
            Dim::range_len(&k(1), &n(), 1).unwrap().unwrap().to_string(),
            "n-1"
        );
        assert_eq!(Dim::range_len(&k(0), &n(), 2).unwrap(), None);
    }
}
