//! Functions the generated code calls, registered as JIT symbols: the GEMM
//! entry points (matrixmultiply) and the scalar transcendental functions
//! used by [`super::transcend`].

use super::math::MathFn;
use adjit_ir::Elem;

/// The symbol name of a scalar math function.
pub(crate) fn math_symbol(f: MathFn, elem: Elem) -> String {
    format!("adjit_math_{}_{}", f.name(), elem.name())
}

/// `1 / (1 + e^-x)`, without overflow for large negative `x`.
fn sigmoid64(x: f64) -> f64 {
    if x >= 0.0 {
        1.0 / (1.0 + (-x).exp())
    } else {
        let e = x.exp();
        e / (1.0 + e)
    }
}

fn sigmoid32(x: f32) -> f32 {
    if x >= 0.0 {
        1.0 / (1.0 + (-x).exp())
    } else {
        let e = x.exp();
        e / (1.0 + e)
    }
}

macro_rules! unary {
    ($name:ident, $t:ty, $body:expr) => {
        extern "C" fn $name(x: $t) -> $t {
            let f: fn($t) -> $t = $body;
            f(x)
        }
    };
}

macro_rules! binary {
    ($name:ident, $t:ty, $body:expr) => {
        extern "C" fn $name(x: $t, y: $t) -> $t {
            let f: fn($t, $t) -> $t = $body;
            f(x, y)
        }
    };
}

unary!(exp64, f64, f64::exp);
unary!(log64, f64, f64::ln);
unary!(log1p64, f64, f64::ln_1p);
unary!(expm164, f64, f64::exp_m1);
unary!(sin64, f64, f64::sin);
unary!(cos64, f64, f64::cos);
unary!(tan64, f64, f64::tan);
unary!(tanh64, f64, f64::tanh);
unary!(sigm64, f64, sigmoid64);
unary!(erf64, f64, libm::erf);
binary!(pow64, f64, f64::powf);
binary!(atan264, f64, f64::atan2);
unary!(exp32, f32, f32::exp);
unary!(log32, f32, f32::ln);
unary!(log1p32, f32, f32::ln_1p);
unary!(expm132, f32, f32::exp_m1);
unary!(sin32, f32, f32::sin);
unary!(cos32, f32, f32::cos);
unary!(tan32, f32, f32::tan);
unary!(tanh32, f32, f32::tanh);
unary!(sigm32, f32, sigmoid32);
unary!(erf32, f32, libm::erff);
binary!(pow32, f32, f32::powf);
binary!(atan232, f32, f32::atan2);

/// `c = a · b` for an `m×k` by `k×n` product with arbitrary element strides.
///
/// # Safety
/// The pointers and strides must describe valid, non-overlapping (for `c`)
/// matrices of those sizes; generated code passes buffers it owns or was
/// given, whose sizes were checked at compile time and call time.
unsafe extern "C" fn gemm_f64(
    m: usize,
    k: usize,
    n: usize,
    a: *const f64,
    rsa: isize,
    csa: isize,
    b: *const f64,
    rsb: isize,
    csb: isize,
    c: *mut f64,
    rsc: isize,
    csc: isize,
) {
    // SAFETY: the caller's contract above is matrixmultiply's.
    unsafe { matrixmultiply::dgemm(m, k, n, 1.0, a, rsa, csa, b, rsb, csb, 0.0, c, rsc, csc) }
}

/// As [`gemm_f64`], for `f32`.
///
/// # Safety
/// As [`gemm_f64`].
unsafe extern "C" fn gemm_f32(
    m: usize,
    k: usize,
    n: usize,
    a: *const f32,
    rsa: isize,
    csa: isize,
    b: *const f32,
    rsb: isize,
    csb: isize,
    c: *mut f32,
    rsc: isize,
    csc: isize,
) {
    // SAFETY: the caller's contract above is matrixmultiply's.
    unsafe { matrixmultiply::sgemm(m, k, n, 1.0, a, rsa, csa, b, rsb, csb, 0.0, c, rsc, csc) }
}

/// The symbol of [`copy_bytes`].
pub(crate) const COPY_SYMBOL: &str = "adjit_copy_bytes";

/// Copies `n` bytes from `src` to `dst`.
///
/// # Safety
/// `src` and `dst` must be valid for `n` bytes and must not overlap; the
/// generated code passes distinct buffers of that size (a loop's final
/// state and its result's storage).
unsafe extern "C" fn copy_bytes(dst: *mut u8, src: *const u8, n: usize) {
    // SAFETY: the caller's contract above.
    unsafe { std::ptr::copy_nonoverlapping(src, dst, n) }
}

/// The GEMM symbol for an element type.
pub(crate) fn gemm_symbol(elem: Elem) -> &'static str {
    match elem {
        Elem::F32 => "adjit_gemm_f32",
        Elem::F64 | Elem::I64 | Elem::Bool => "adjit_gemm_f64",
    }
}

/// Every symbol the generated code may import.
pub(crate) fn symbols() -> Vec<(String, *const u8)> {
    let mut out: Vec<(String, *const u8)> = vec![
        ("adjit_gemm_f64".into(), gemm_f64 as *const u8),
        ("adjit_gemm_f32".into(), gemm_f32 as *const u8),
        (COPY_SYMBOL.into(), copy_bytes as *const u8),
        (
            super::adjoint::SYMBOL.into(),
            super::adjoint::scan_adjoint as *const u8,
        ),
    ];
    let f64s: [(MathFn, extern "C" fn(f64) -> f64); 10] = [
        (MathFn::Exp, exp64),
        (MathFn::Log, log64),
        (MathFn::Log1p, log1p64),
        (MathFn::Expm1, expm164),
        (MathFn::Sin, sin64),
        (MathFn::Cos, cos64),
        (MathFn::Tan, tan64),
        (MathFn::Tanh, tanh64),
        (MathFn::Sigmoid, sigm64),
        (MathFn::Erf, erf64),
    ];
    let f32s: [(MathFn, extern "C" fn(f32) -> f32); 10] = [
        (MathFn::Exp, exp32),
        (MathFn::Log, log32),
        (MathFn::Log1p, log1p32),
        (MathFn::Expm1, expm132),
        (MathFn::Sin, sin32),
        (MathFn::Cos, cos32),
        (MathFn::Tan, tan32),
        (MathFn::Tanh, tanh32),
        (MathFn::Sigmoid, sigm32),
        (MathFn::Erf, erf32),
    ];
    for (f, p) in f64s {
        out.push((math_symbol(f, Elem::F64), p as *const u8));
    }
    for (f, p) in f32s {
        out.push((math_symbol(f, Elem::F32), p as *const u8));
    }
    out.push((math_symbol(MathFn::Pow, Elem::F64), pow64 as *const u8));
    out.push((math_symbol(MathFn::Atan2, Elem::F64), atan264 as *const u8));
    out.push((math_symbol(MathFn::Pow, Elem::F32), pow32 as *const u8));
    out.push((math_symbol(MathFn::Atan2, Elem::F32), atan232 as *const u8));
    out
}
