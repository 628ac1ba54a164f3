//! Accuracy and special-value tests of the inline math kernels
//! (`adjit::jit::math`), against std (glibc) and the `libm` crate.
//!
//! Each kernel is compiled by a tiny JIT into a loop over an input array, for
//! every lane type, and its results are compared with the oracle:
//! - over at least 10^6 points per function and lane type (log-uniform sweeps
//!   of magnitudes of both signs, uniform sweeps of the interesting ranges),
//!   asserting the documented maximum error in ulps;
//! - bit for bit on special values (NaN = any NaN).
//!
//! Both the host's features (FMA) and the baseline (no FMA, no SSE4.1) are
//! measured. `cargo test --release --test math_ulp -- --nocapture` prints the
//! table documented in `src/jit/math/mod.rs`.

use adjit::jit::math::{self, Features, InlineConsts, MathFn};
use cranelift_codegen::ir::{AbiParam, InstBuilder, MemFlagsData, Type, types};
use cranelift_codegen::settings::{self, Configurable};
use cranelift_codegen::{Context, isa::OwnedTargetIsa};
use cranelift_frontend::{FunctionBuilder, FunctionBuilderContext};
use cranelift_jit::{JITBuilder, JITModule};
use cranelift_module::{Linkage, Module};

// ---------------------------------------------------------------------------
// JIT harness

fn host_isa() -> OwnedTargetIsa {
    let mut flags = settings::builder();
    flags.set("opt_level", "speed").unwrap();
    flags.set("is_pic", "false").unwrap();
    let isa = cranelift_native::builder().expect("host ISA");
    isa.finish(settings::Flags::new(flags)).unwrap()
}

/// A compiled loop `out[i] = f(a[i], b[i])` over `n` elements (`n` a
/// multiple of the lane count), plus the vcode of the bare kernel.
struct Kernel {
    module: Option<JITModule>,
    func: unsafe extern "C" fn(*const u8, *const u8, *mut u8, u64),
    /// vcode of the loop.
    vcode: String,
}

impl Drop for Kernel {
    fn drop(&mut self) {
        if let Some(m) = self.module.take() {
            // SAFETY: no pointer into this module's code outlives the Kernel.
            unsafe { m.free_memory() };
        }
    }
}

fn elem_bytes(ty: Type) -> u64 {
    u64::from(ty.lane_type().bytes())
}

fn define(
    module: &mut JITModule,
    ctx: &mut Context,
    fbc: &mut FunctionBuilderContext,
    name: &str,
    f: MathFn,
    ty: Type,
    feats: Features,
) -> (cranelift_module::FuncId, String) {
    let ptr = module.target_config().pointer_type();
    ctx.func.signature.params = vec![AbiParam::new(ptr); 3];
    ctx.func.signature.params.push(AbiParam::new(types::I64));
    ctx.set_disasm(true);
    let mut b = FunctionBuilder::new(&mut ctx.func, fbc);
    let entry = b.create_block();
    b.append_block_params_for_function_params(entry);
    b.switch_to_block(entry);
    let p = b.block_params(entry).to_vec();
    let (pa, pb, po, n) = (p[0], p[1], p[2], p[3]);
    let flags = MemFlagsData::new().with_notrap();
    let step = i64::from(ty.lane_count());
    let shift = elem_bytes(ty).trailing_zeros() as i64;
    let body = |b: &mut FunctionBuilder, i| {
        let off = b.ins().ishl_imm_u(i, shift);
        let aa = b.ins().iadd(pa, off);
        let ab = b.ins().iadd(pb, off);
        let ao = b.ins().iadd(po, off);
        let x = b.ins().load(ty, flags, aa, 0);
        let y = b.ins().load(ty, flags, ab, 0);
        let args = if f.arity() == 2 { vec![x, y] } else { vec![x] };
        let r = math::emit(b, f, ty, &args, &mut InlineConsts, feats).unwrap();
        b.ins().store(flags, r, ao, 0);
    };
    let head = b.create_block();
    let blk = b.create_block();
    let exit = b.create_block();
    let zero = b.ins().iconst(types::I64, 0);
    b.ins().jump(head, &[zero.into()]);
    b.switch_to_block(head);
    let i = b.append_block_param(head, types::I64);
    let more = b.ins().icmp(
        cranelift_codegen::ir::condcodes::IntCC::UnsignedLessThan,
        i,
        n,
    );
    b.ins().brif(more, blk, &[], exit, &[]);
    b.switch_to_block(blk);
    body(&mut b, i);
    let next = b.ins().iadd_imm_s(i, step);
    b.ins().jump(head, &[next.into()]);
    b.switch_to_block(exit);
    b.ins().return_(&[]);
    b.seal_all_blocks();
    b.finalize(module.target_config());
    let id = module
        .declare_function(name, Linkage::Local, &ctx.func.signature)
        .unwrap();
    module.define_function(id, ctx).unwrap();
    let vcode = ctx
        .compiled_code()
        .and_then(|c| c.vcode.clone())
        .unwrap_or_default();
    module.clear_context(ctx);
    (id, vcode)
}

impl Kernel {
    fn new(f: MathFn, ty: Type, feats: Features) -> Kernel {
        let builder = JITBuilder::with_isa(host_isa(), cranelift_module::default_libcall_names());
        let mut module = JITModule::new(builder);
        let mut ctx = module.make_context();
        let mut fbc = FunctionBuilderContext::new();
        let (id, vcode) = define(&mut module, &mut ctx, &mut fbc, "l", f, ty, feats);
        module.finalize_definitions().unwrap();
        let code = module.get_finalized_function(id);
        // SAFETY: the function was defined with exactly this signature.
        let func = unsafe {
            std::mem::transmute::<*const u8, unsafe extern "C" fn(*const u8, *const u8, *mut u8, u64)>(
                code,
            )
        };
        Kernel {
            module: Some(module),
            func,
            vcode,
        }
    }

    /// Runs the loop; `a`, `b` have equal lengths, a multiple of the lane count.
    fn run<T: Copy + Default>(&self, a: &[T], b: &[T]) -> Vec<T> {
        assert_eq!(a.len(), b.len());
        let mut out = vec![T::default(); a.len()];
        // SAFETY: the loop reads a.len() elements of a and b and writes as
        // many to out; all three hold that many.
        unsafe {
            (self.func)(
                a.as_ptr().cast(),
                b.as_ptr().cast(),
                out.as_mut_ptr().cast(),
                a.len() as u64,
            )
        };
        out
    }
}

// ---------------------------------------------------------------------------
// Floats

trait Float: Copy + Default + PartialEq + std::fmt::Debug + 'static {
    fn to_f64(self) -> f64;
    fn from_f64(x: f64) -> Self;
    fn is_nan(self) -> bool;
    fn bits(self) -> u64;
    /// Position on the line of floats ordered by value (±0 both 0).
    fn ordinal(self) -> i64;
}

impl Float for f64 {
    fn to_f64(self) -> f64 {
        self
    }
    fn from_f64(x: f64) -> Self {
        x
    }
    fn is_nan(self) -> bool {
        f64::is_nan(self)
    }
    fn bits(self) -> u64 {
        self.to_bits()
    }
    fn ordinal(self) -> i64 {
        let b = self.to_bits() as i64;
        if b < 0 { -(b & i64::MAX) } else { b }
    }
}

impl Float for f32 {
    fn to_f64(self) -> f64 {
        f64::from(self)
    }
    fn from_f64(x: f64) -> Self {
        x as f32
    }
    fn is_nan(self) -> bool {
        f32::is_nan(self)
    }
    fn bits(self) -> u64 {
        u64::from(self.to_bits())
    }
    fn ordinal(self) -> i64 {
        let b = i64::from(self.to_bits() as i32);
        if b < 0 { -(b & i64::from(i32::MAX)) } else { b }
    }
}

/// Distance in ulps; NaN against NaN is 0, NaN against a number is huge.
fn ulps<T: Float>(got: T, want: T) -> u64 {
    match (got.is_nan(), want.is_nan()) {
        (true, true) => 0,
        (false, false) => got.ordinal().abs_diff(want.ordinal()),
        _ => u64::MAX,
    }
}

/// Bitwise equality, any NaN equal to any NaN.
fn same<T: Float>(got: T, want: T) -> bool {
    (got.is_nan() && want.is_nan()) || got.bits() == want.bits()
}

// ---------------------------------------------------------------------------
// Oracles

fn sigmoid_oracle(x: f64) -> f64 {
    // 1/(1 + e) or e/(1 + e) with e = exp(-|x|), the sum and quotient in
    // double-double, so only exp's error (< 1 ulp of e) remains.
    let e = (-x.abs()).exp();
    let (s, t) = two_sum(1.0, e);
    let num = if x < 0.0 { e } else { 1.0 };
    let q = num / s;
    let r = (-q).mul_add(s, num) - q * t;
    q + r / s
}

fn two_sum(a: f64, b: f64) -> (f64, f64) {
    let s = a + b;
    let bb = s - a;
    (s, (a - (s - bb)) + (b - bb))
}

fn sign_oracle(x: f64) -> f64 {
    if x == 0.0 || x.is_nan() {
        x
    } else {
        x.signum()
    }
}

fn min_oracle(x: f64, y: f64) -> f64 {
    if x.is_nan() || y.is_nan() {
        f64::NAN
    } else if x == 0.0 && y == 0.0 {
        if x.is_sign_negative() { x } else { y }
    } else {
        x.min(y)
    }
}

fn max_oracle(x: f64, y: f64) -> f64 {
    if x.is_nan() || y.is_nan() {
        f64::NAN
    } else if x == 0.0 && y == 0.0 {
        if x.is_sign_positive() { x } else { y }
    } else {
        x.max(y)
    }
}

/// The oracle in f64 (f32 lanes round it once: within 0.5 ulp of the f32
/// result except where f64's own error straddles a rounding boundary).
fn oracle(f: MathFn, x: f64, y: f64) -> f64 {
    match f {
        MathFn::Exp => x.exp(),
        MathFn::Log => x.ln(),
        MathFn::Log1p => x.ln_1p(),
        MathFn::Expm1 => x.exp_m1(),
        MathFn::Sin => x.sin(),
        MathFn::Cos => x.cos(),
        MathFn::Tan => x.tan(),
        MathFn::Tanh => x.tanh(),
        MathFn::Sigmoid => sigmoid_oracle(x),
        MathFn::Erf => libm::erf(x),
        MathFn::Pow => x.powf(y),
        MathFn::Atan2 => x.atan2(y),
        MathFn::Sqrt => x.sqrt(),
        MathFn::Floor => x.floor(),
        MathFn::Ceil => x.ceil(),
        MathFn::Round => x.round(),
        MathFn::Sign => sign_oracle(x),
        MathFn::Abs => x.abs(),
        MathFn::Recip => 1.0 / x,
        MathFn::Min => min_oracle(x, y),
        MathFn::Max => max_oracle(x, y),
    }
}

/// f32 oracle: the f64 one, rounded; for functions exact in f32 arithmetic
/// (recip, sqrt) the f32 operation itself.
fn oracle32(f: MathFn, x: f32, y: f32) -> f32 {
    match f {
        MathFn::Recip => 1.0 / x,
        MathFn::Sqrt => x.sqrt(),
        _ => oracle(f, f64::from(x), f64::from(y)) as f32,
    }
}

// ---------------------------------------------------------------------------
// Inputs

/// SplitMix64: a small deterministic generator.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 * (1.0 / 9_007_199_254_740_992.0)
    }
    fn uniform(&mut self, a: f64, b: f64) -> f64 {
        a + (b - a) * self.unit()
    }
    /// Log-uniform magnitude in [lo, hi], random sign if `signed`.
    fn log_uniform(&mut self, lo: f64, hi: f64, signed: bool) -> f64 {
        let m = (lo.ln() + (hi.ln() - lo.ln()) * self.unit()).exp();
        let m = m.clamp(lo, hi);
        if signed && self.next() & 1 == 1 {
            -m
        } else {
            m
        }
    }
}

/// A part of a sweep: a share of the points.
#[derive(Clone, Copy)]
enum Seg {
    /// Log-uniform magnitudes in [lo, hi], both signs if the flag is set.
    Log(f64, f64, bool),
    /// Uniform in [a, b].
    Uni(f64, f64),
    /// Random bit patterns (all finite floats, log-uniform over magnitude).
    Bits,
    /// Integers uniform in [a, b].
    Int(f64, f64),
}

fn sample(rng: &mut Rng, s: Seg, single: bool) -> f64 {
    match s {
        Seg::Log(lo, hi, signed) => rng.log_uniform(lo, hi, signed),
        Seg::Uni(a, b) => rng.uniform(a, b),
        Seg::Int(a, b) => rng.uniform(a, b + 1.0).floor().min(b),
        Seg::Bits => loop {
            let v = if single {
                f64::from(f32::from_bits(rng.next() as u32))
            } else {
                f64::from_bits(rng.next())
            };
            if v.is_finite() {
                break v;
            }
        },
    }
}

/// The sweep of a function: segments for x (and for y), lane precision aware.
fn domain(f: MathFn, single: bool) -> Vec<(Seg, Seg)> {
    use Seg::*;
    let any = (Bits, Bits);
    let (emax, emin) = if single {
        (88.8, -104.0)
    } else {
        (709.9, -745.2)
    };
    let tiny = if single { 1e-45 } else { 5e-324 };
    let big = if single { 3e38 } else { 1.7e308 };
    match f {
        MathFn::Exp | MathFn::Expm1 => vec![
            (Uni(emin, emax), Bits),
            (Log(tiny, emax, true), Bits),
            (Uni(-1.0, 1.0), Bits),
            any,
        ],
        MathFn::Sigmoid => vec![
            (Uni(emin, -emin), Bits),
            (Log(tiny, -emin, true), Bits),
            (Uni(-5.0, 5.0), Bits),
            any,
        ],
        MathFn::Tanh => vec![
            (Uni(-20.0, 20.0), Bits),
            (Log(tiny, 30.0, true), Bits),
            (Uni(-1.0, 1.0), Bits),
            any,
        ],
        MathFn::Erf => vec![
            (Uni(-6.0, 6.0), Bits),
            (Log(tiny, 7.0, true), Bits),
            (Uni(-1.5, 1.5), Bits),
            any,
        ],
        MathFn::Log => vec![
            (Log(tiny, big, false), Bits),
            (Uni(0.5, 2.0), Bits),
            (Uni(0.0, 100.0), Bits),
            any,
        ],
        MathFn::Log1p => vec![
            (Log(tiny, big, false), Bits),
            (Uni(-1.0, 1.0), Bits),
            (Log(tiny, 1.0, true), Bits),
            any,
        ],
        MathFn::Sin | MathFn::Cos | MathFn::Tan => vec![
            (Uni(-10.0, 10.0), Bits),
            (Log(tiny, 1e5, true), Bits),
            (Uni(-1e5, 1e5), Bits),
            (Log(1e5, TRIG_ACCURATE, true), Bits),
        ],
        MathFn::Atan2 => vec![
            (Bits, Bits),
            (Uni(-2.0, 2.0), Uni(-2.0, 2.0)),
            (Log(1e-5, 1e5, true), Log(1e-5, 1e5, true)),
            (Log(tiny, big, true), Log(tiny, big, true)),
        ],
        MathFn::Pow => vec![
            (Log(1e-3, 1e3, false), Uni(-100.0, 100.0)),
            (Log(tiny, big, false), Uni(-1.0, 1.0)),
            (Uni(0.5, 2.0), Log(1e-3, 1e3, true)),
            (Log(1e-2, 1e2, true), Int(-150.0, 150.0)),
        ],
        MathFn::Min | MathFn::Max => vec![any, (Uni(-1.0, 1.0), Uni(-1.0, 1.0))],
        MathFn::Sqrt | MathFn::Recip | MathFn::Abs | MathFn::Sign => {
            vec![any, (Uni(-10.0, 10.0), Bits)]
        }
        MathFn::Floor | MathFn::Ceil | MathFn::Round => vec![
            any,
            (Uni(-10.0, 10.0), Bits),
            (Int(-100.0, 100.0), Bits),
            (Log(1.0, 1e17, true), Bits),
        ],
    }
}

/// Where sin/cos/tan are within their documented bound.
const TRIG_ACCURATE: f64 = 1e8;

const POINTS: usize = 1 << 20;

fn inputs(f: MathFn, single: bool) -> (Vec<f64>, Vec<f64>) {
    let segs = domain(f, single);
    let mut rng = Rng(0x5eed ^ f as u64);
    let per = POINTS.div_ceil(segs.len());
    let mut xs = Vec::with_capacity(per * segs.len());
    let mut ys = Vec::with_capacity(per * segs.len());
    for &(sx, sy) in &segs {
        for _ in 0..per {
            let mut x = sample(&mut rng, sx, single);
            let mut y = sample(&mut rng, sy, single);
            if single {
                x = f64::from(x as f32);
                y = f64::from(y as f32);
            }
            xs.push(x);
            ys.push(y);
        }
    }
    (xs, ys)
}

// ---------------------------------------------------------------------------
// Measurement

struct Worst {
    ulps: u64,
    at: (f64, f64),
    got: f64,
    want: f64,
}

fn oracle_all<T: Float>(f: MathFn, xs: &[f64], ys: &[f64]) -> Vec<T> {
    let single = std::mem::size_of::<T>() == 4;
    xs.iter()
        .zip(ys)
        .map(|(&x, &y)| {
            if single {
                T::from_f64(f64::from(oracle32(f, x as f32, y as f32)))
            } else {
                T::from_f64(oracle(f, x, y))
            }
        })
        .collect()
}

fn measure<T: Float>(k: &Kernel, xs: &[f64], ys: &[f64], want: &[T]) -> Worst {
    let a: Vec<T> = xs.iter().map(|&x| T::from_f64(x)).collect();
    let b: Vec<T> = ys.iter().map(|&y| T::from_f64(y)).collect();
    let got = k.run(&a, &b);
    let mut w = Worst {
        ulps: 0,
        at: (0.0, 0.0),
        got: 0.0,
        want: 0.0,
    };
    for i in 0..a.len() {
        let u = ulps(got[i], want[i]);
        if u > w.ulps {
            w = Worst {
                ulps: u,
                at: (xs[i], ys[i]),
                got: got[i].to_f64(),
                want: want[i].to_f64(),
            };
        }
    }
    w
}

const LANE_TYPES: [Type; 4] = [types::F64, types::F64X2, types::F32, types::F32X4];

fn host() -> Features {
    Features::from_isa(&*host_isa())
}

/// Compiles `f` for every lane type with the host's features and with the
/// baseline; for each: checks the loop has no branch but its own and no
/// call, checks the special values bit for bit, and measures the error over
/// the sweep, asserting `bound64`/`bound32` ulps.
fn check(f: MathFn, bound64: u64, bound32: u64) {
    let start = std::time::Instant::now();
    let (x64, y64) = inputs(f, false);
    let (x32, y32) = inputs(f, true);
    let want64 = oracle_all::<f64>(f, &x64, &y64);
    let want32 = oracle_all::<f32>(f, &x32, &y32);
    let mut failures = Vec::new();
    for (fname, feats) in [("host", host()), ("baseline", Features::BASELINE)] {
        for ty in LANE_TYPES {
            let k = Kernel::new(f, ty, feats);
            assert_straight(&k.vcode, f, ty);
            failures.extend(check_specials(&k, f, ty, feats));
            let single = ty.lane_type() == types::F32;
            let (w, bound) = if single {
                (measure(&k, &x32, &y32, &want32), bound32)
            } else {
                (measure(&k, &x64, &y64, &want64), bound64)
            };
            println!(
                "ULP {f:?} {ty} {fname}: max {} ulp over {} points (at {:?}: got {:e}, want {:e})",
                w.ulps,
                x64.len(),
                w.at,
                w.got,
                w.want
            );
            if w.ulps > bound {
                failures.push(format!(
                    "{f:?} {ty} {fname}: {} ulp > {bound} at {:?}: got {:e}, want {:e}",
                    w.ulps, w.at, w.got, w.want
                ));
            }
        }
    }
    println!("TIME {f:?}: {:.2?}", start.elapsed());
    assert!(failures.is_empty(), "{failures:#?}");
}

/// The loop's machine code has its own two branches (the exit test and the
/// back edge) and nothing else: the kernel is one straight line, no calls.
fn assert_straight(vcode: &str, f: MathFn, ty: Type) {
    let mut branches = 0;
    for line in vcode.lines() {
        let op = line.split_whitespace().next().unwrap_or("");
        assert!(
            !(op.contains("call") || op.starts_with("cmov")),
            "{f:?} {ty}: `{}` in\n{vcode}",
            line.trim()
        );
        if op.starts_with('j') {
            branches += 1;
        }
    }
    assert!(
        branches == LOOP_BRANCHES,
        "{f:?} {ty}: {branches} branches in\n{vcode}"
    );
}

/// Branch instructions of the test loop itself (entry jump, exit test and
/// back edge, as the backend lays them out).
const LOOP_BRANCHES: usize = 3;

// ---------------------------------------------------------------------------
// Special values

fn special_inputs() -> Vec<f64> {
    vec![
        f64::NAN,
        -f64::NAN,
        f64::INFINITY,
        f64::NEG_INFINITY,
        0.0,
        -0.0,
        f64::from_bits(1),
        -f64::from_bits(1),
        f64::from_bits(0x000f_ffff_ffff_ffff),
        -f64::from_bits(0x000f_ffff_ffff_ffff),
        f64::MIN_POSITIVE,
        -f64::MIN_POSITIVE,
        f64::MAX,
        f64::MIN,
        1.0,
        -1.0,
        0.5,
        -0.5,
        2.0,
        -2.0,
    ]
}

/// Inputs where the result is exactly determined, per function.
fn exact_inputs(f: MathFn) -> Vec<(f64, f64)> {
    let s = special_inputs();
    let unary =
        |extra: &[f64]| -> Vec<(f64, f64)> { s.iter().chain(extra).map(|&x| (x, 0.0)).collect() };
    match f {
        MathFn::Exp => unary(&[
            709.782_712_893_384,
            709.782_712_893_384_1,
            -708.396_418_532_264_1,
            -745.133_219_101_941_1,
            -745.133_219_101_941_2,
            -744.440_071_921_381_3,
            // f32 overflow / underflow thresholds
            88.722_83,
            88.722_84,
            -87.336_55,
            -103.972_08,
            -103.972_09,
            1e-300,
            -1e-300,
            1e300,
            -1e300,
        ]),
        MathFn::Expm1 => unary(&[
            709.782_712_893_384,
            709.782_712_893_384_1,
            -40.0,
            -1e300,
            1e300,
            1e-300,
            -1e-300,
        ]),
        MathFn::Log | MathFn::Log1p => unary(&[-1e-300, 1e-300, -3.0, 1e300]),
        MathFn::Sigmoid | MathFn::Tanh | MathFn::Erf => unary(&[1e-300, -1e-300, 40.0, -40.0]),
        MathFn::Sin | MathFn::Cos | MathFn::Tan => unary(&[1e-300, -1e-300]),
        MathFn::Pow | MathFn::Atan2 | MathFn::Min | MathFn::Max => {
            let mut v = Vec::new();
            let mut s2 = s.clone();
            s2.extend([3.0, -3.0, 0.25, 1.5, -1.5, 1e300, -1e300]);
            for &x in &s2 {
                for &y in &s2 {
                    v.push((x, y));
                }
            }
            v
        }
        MathFn::Sqrt
        | MathFn::Floor
        | MathFn::Ceil
        | MathFn::Round
        | MathFn::Sign
        | MathFn::Abs
        | MathFn::Recip => unary(&[
            0.5,
            1.5,
            2.5,
            -2.5,
            -0.49999999999999994,
            4503599627370497.0,
        ]),
    }
}

/// Whether the oracle's value at (x, y) is exact (an exact special value),
/// so that our result must match it bit for bit.
fn is_exact_case(f: MathFn, x: f64, y: f64, want: f64) -> bool {
    match f {
        // finite non-trivial values of transcendentals are only checked for
        // accuracy; special values (NaN, inf, 0, ±1, ±π…) must be exact.
        MathFn::Pow => {
            !want.is_finite()
                || want == 0.0
                || want.abs() == 1.0
                || x.is_infinite()
                || y.is_infinite()
                || x == 0.0
                || (y.fract() == 0.0 && y.abs() <= 2.0 && x.abs() >= 0.25 && x.abs() <= 3.0)
        }
        MathFn::Atan2 => {
            x.is_nan() || y.is_nan() || x == 0.0 || y == 0.0 || x.is_infinite() || y.is_infinite()
        }
        _ => {
            !want.is_finite()
                || want == 0.0
                || want.abs() == 1.0
                || want.abs() == 0.5
                || want == x
                || want.is_subnormal()
                || want.abs() >= 1e300
        }
    }
}

fn check_specials(k: &Kernel, f: MathFn, ty: Type, feats: Features) -> Vec<String> {
    let cases = exact_inputs(f);
    let mut bad = Vec::new();
    let lanes = ty.lane_count() as usize;
    let mut xs: Vec<f64> = cases.iter().map(|c| c.0).collect();
    let mut ys: Vec<f64> = cases.iter().map(|c| c.1).collect();
    while !xs.len().is_multiple_of(lanes) {
        xs.push(0.0);
        ys.push(0.0);
    }
    if ty.lane_type() == types::F32 {
        let a: Vec<f32> = xs.iter().map(|&x| x as f32).collect();
        let b: Vec<f32> = ys.iter().map(|&x| x as f32).collect();
        let got = k.run(&a, &b);
        for i in 0..a.len() {
            let want = oracle32(f, a[i], b[i]);
            if is_exact_case(f, f64::from(a[i]), f64::from(b[i]), f64::from(want))
                && !same(got[i], want)
            {
                bad.push(format!(
                    "{f:?} {ty} {feats:?} ({:e}, {:e}): got {:e} want {:e}",
                    a[i], b[i], got[i], want
                ));
            }
        }
    } else {
        let got = k.run(&xs, &ys);
        for i in 0..xs.len() {
            let want = oracle(f, xs[i], ys[i]);
            if is_exact_case(f, xs[i], ys[i], want) && !same(got[i], want) {
                bad.push(format!(
                    "{f:?} {ty} {feats:?} ({:e}, {:e}): got {:e} want {:e}",
                    xs[i], ys[i], got[i], want
                ));
            }
        }
    }
    bad
}

// ---------------------------------------------------------------------------
// The tests

macro_rules! math_test {
    ($name:ident, $f:expr, $b64:expr, $b32:expr) => {
        #[test]
        fn $name() {
            check($f, $b64, $b32);
        }
    };
}

math_test!(exp, MathFn::Exp, 1, 1);
math_test!(expm1, MathFn::Expm1, 1, 1);
math_test!(log, MathFn::Log, 1, 1);
math_test!(log1p, MathFn::Log1p, 1, 1);
math_test!(sin, MathFn::Sin, 1, 1);
math_test!(cos, MathFn::Cos, 1, 1);
math_test!(tan, MathFn::Tan, 1, 1);
math_test!(pow, MathFn::Pow, 1, 1);
math_test!(atan2, MathFn::Atan2, 1, 1);
math_test!(erf, MathFn::Erf, 1, 1);
math_test!(tanh, MathFn::Tanh, 2, 1);
math_test!(sigmoid, MathFn::Sigmoid, 2, 1);
math_test!(sqrt, MathFn::Sqrt, 0, 0);
math_test!(floor, MathFn::Floor, 0, 0);
math_test!(ceil, MathFn::Ceil, 0, 0);
math_test!(round, MathFn::Round, 0, 0);
math_test!(sign, MathFn::Sign, 0, 0);
math_test!(abs, MathFn::Abs, 0, 0);
math_test!(recip, MathFn::Recip, 0, 0);
math_test!(min, MathFn::Min, 0, 0);
math_test!(max, MathFn::Max, 0, 0);

#[test]
fn emit_rejects_bad_requests() {
    let isa = host_isa();
    let builder = JITBuilder::with_isa(isa, cranelift_module::default_libcall_names());
    let module = JITModule::new(builder);
    let mut ctx = module.make_context();
    let mut fbc = FunctionBuilderContext::new();
    let mut b = FunctionBuilder::new(&mut ctx.func, &mut fbc);
    let blk = b.create_block();
    b.switch_to_block(blk);
    let x = b.ins().f64const(1.0);
    let i = b.ins().iconst(types::I64, 1);
    let feats = Features::BASELINE;
    let c = &mut InlineConsts;
    assert!(matches!(
        math::emit(&mut b, MathFn::Exp, types::I64, &[i], c, feats),
        Err(math::MathError::UnsupportedType { .. })
    ));
    assert!(matches!(
        math::emit(&mut b, MathFn::Pow, types::F64, &[x], c, feats),
        Err(math::MathError::Arity { .. })
    ));
    assert!(matches!(
        math::emit(&mut b, MathFn::Exp, types::F32, &[x], c, feats),
        Err(math::MathError::OperandType { .. })
    ));
}

/// Prints nanoseconds per element of every kernel and lane type (host
/// features), for the table in `src/jit/math/mod.rs`. Not a pass/fail test:
/// `cargo test --release --test math_ulp throughput -- --ignored --nocapture`.
#[test]
#[ignore]
fn throughput() {
    let n = 1 << 16;
    let mut rng = Rng(7);
    let xs: Vec<f64> = (0..n).map(|_| rng.uniform(0.1, 2.0)).collect();
    let ys: Vec<f64> = (0..n).map(|_| rng.uniform(0.1, 2.0)).collect();
    let x32: Vec<f32> = xs.iter().map(|&x| x as f32).collect();
    let y32: Vec<f32> = ys.iter().map(|&x| x as f32).collect();
    for f in MathFn::ALL {
        let mut line = format!("{f:?}:");
        for ty in LANE_TYPES {
            let k = Kernel::new(f, ty, host());
            let reps = 50;
            let t = std::time::Instant::now();
            for _ in 0..reps {
                if ty.lane_type() == types::F32 {
                    std::hint::black_box(k.run(&x32, &y32));
                } else {
                    std::hint::black_box(k.run(&xs, &ys));
                }
            }
            let ns = t.elapsed().as_secs_f64() * 1e9 / (reps * n) as f64;
            line += &format!(" {ty} {ns:.2} ns/elem;");
        }
        println!("THROUGHPUT {line}");
    }
}
