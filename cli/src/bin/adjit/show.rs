//! How results are shown: scalars as `name = value` in shortest round-trip
//! form, arrays as their type and a short summary.

use adjit::ir::{Data, Tensor};

/// A float in the shortest text that reads back to the same value: plain
/// decimal when short (`5`, `-0.25`), scientific otherwise (`1e-300`), and
/// `nan`, `inf`, `-inf` as `--in` reads them.
pub fn float(x: f64) -> String {
    if x.is_nan() {
        return "nan".into();
    }
    let plain = format!("{x}");
    if plain.len() <= 18 {
        plain
    } else {
        format!("{x:e}")
    }
}

fn float32(x: f32) -> String {
    if x.is_nan() {
        return "nan".into();
    }
    let plain = format!("{x}");
    if plain.len() <= 12 {
        plain
    } else {
        format!("{x:e}")
    }
}

/// One element as text.
fn element(t: &Tensor, i: usize) -> String {
    match t.data() {
        Data::F64(v) => float(v[i]),
        Data::F32(v) => float32(v[i]),
        Data::I64(v) => v[i].to_string(),
        Data::Bool(v) => v[i].to_string(),
    }
}

/// `value` for a scalar, or `f64[3, 4] [a b c … x y z] min=… max=… mean=…`.
pub fn tensor(t: &Tensor) -> String {
    if t.shape().is_empty() {
        return element(t, 0);
    }
    let n = t.len();
    let shown: Vec<String> = if n <= 8 {
        (0..n).map(|i| element(t, i)).collect()
    } else {
        let mut v: Vec<String> = (0..3).map(|i| element(t, i)).collect();
        v.push("…".into());
        v.extend((n - 3..n).map(|i| element(t, i)));
        v
    };
    let mut s = format!("{} [{}]", t.ty(), shown.join(" "));
    if n > 0 && matches!(t.data(), Data::F64(_) | Data::F32(_)) {
        let xs = t.to_f64_vec();
        let (mut lo, mut hi, mut sum) = (f64::INFINITY, f64::NEG_INFINITY, 0.0);
        for &x in &xs {
            lo = lo.min(x);
            hi = hi.max(x);
            sum += x;
        }
        s.push_str(&format!(
            " min={} max={} mean={}",
            float(lo),
            float(hi),
            float(sum / n as f64)
        ));
    }
    s
}
