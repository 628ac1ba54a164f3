//! The C entry points called from Rust: every bad argument is a status
//! code and a message (never a panic or an abort), and the message is
//! cleared by the next successful call.

use adjit_capi::*;
use std::ffi::{CStr, c_void};
use std::ptr::{null, null_mut};

fn last_error() -> String {
    // SAFETY: adjit_last_error returns a valid NUL-terminated string.
    unsafe { CStr::from_ptr(adjit_last_error()) }
        .to_string_lossy()
        .into_owned()
}

const ROSEN: &std::ffi::CStr = c"func @rosen(%x: f64[n]) -> f64 {
  %x0: f64[n-1] = slice %x, [0:n-1]
  %x1: f64[n-1] = slice %x, [1:n]
  %sq: f64[n-1] = mul %x0, %x0
  %d: f64[n-1] = sub %x1, %sq
  %dd: f64[n-1] = mul %d, %d
  %c100: f64[n-1] = const 100.0
  %a: f64[n-1] = mul %c100, %dd
  %one: f64[n-1] = const 1.0
  %e: f64[n-1] = sub %one, %x0
  %ee: f64[n-1] = mul %e, %e
  %t: f64[n-1] = add %a, %ee
  %f: f64 = reduce_sum %t, axes=[0]
  return %f
}
";

#[test]
fn bad_arguments_are_codes_and_messages() {
    // SAFETY: every pointer passed is null, a live handle, or a C string.
    unsafe {
        let mut m: *mut AdjitModule = null_mut();
        assert_eq!(adjit_module_parse(null(), &mut m), ADJIT_ERR_NULL);
        assert!(m.is_null());
        assert!(last_error().contains("null"), "{}", last_error());

        assert_eq!(
            adjit_module_parse(c"func @f(%x: f64) -> f64 { %y = ".as_ptr(), &mut m),
            ADJIT_ERR_PARSE
        );
        assert!(m.is_null());
        assert!(!last_error().is_empty());
        // Does not verify: the declared type is wrong.
        assert_eq!(
            adjit_module_parse(
                c"func @f(%x: f64[3]) -> f64 {\n  %y: f64 = neg %x\n  return %y\n}\n".as_ptr(),
                &mut m
            ),
            ADJIT_ERR_PARSE
        );
        assert!(m.is_null());

        assert_eq!(adjit_module_parse(ROSEN.as_ptr(), &mut m), ADJIT_OK);
        assert!(!m.is_null());
        assert_eq!(last_error(), "");

        let mut g: *mut AdjitModule = null_mut();
        assert_eq!(
            adjit_derive(m, null(), 99, null(), &mut g),
            ADJIT_ERR_ARGUMENT
        );
        assert_eq!(
            adjit_derive(m, c"nope".as_ptr(), ADJIT_GRAD, null(), &mut g),
            ADJIT_ERR_NOT_FOUND
        );
        assert!(last_error().contains("@rosen"), "{}", last_error());
        assert_eq!(
            adjit_derive(m, null(), ADJIT_GRAD, c"y".as_ptr(), &mut g),
            ADJIT_ERR_NOT_FOUND
        );
        assert!(last_error().contains("%x"), "{}", last_error());
        assert_eq!(
            adjit_derive(m, null(), ADJIT_GRAD, null(), &mut g),
            ADJIT_OK
        );

        let mut f: *mut AdjitFn = null_mut();
        assert_eq!(adjit_compile(g, null(), null(), &mut f), ADJIT_ERR_SIZE);
        assert!(f.is_null());
        assert!(last_error().contains("n=N"), "{}", last_error());
        assert_eq!(
            adjit_compile(g, null(), c"n=3,m=2".as_ptr(), &mut f),
            ADJIT_ERR_NOT_FOUND
        );
        assert_eq!(
            adjit_compile(g, null(), c"n=-1".as_ptr(), &mut f),
            ADJIT_ERR_SIZE
        );
        assert_eq!(adjit_compile(g, null(), c"n=3".as_ptr(), &mut f), ADJIT_OK);

        // Shapes: the gradient alone, x -> dx.
        assert_eq!(adjit_fn_num_inputs(f), 1);
        assert_eq!(adjit_fn_num_outputs(f), 1);
        let mut info = std::mem::zeroed::<AdjitArgInfo>();
        assert_eq!(adjit_fn_input(f, 0, &mut info), ADJIT_OK);
        assert_eq!((info.elem, info.rank, info.count), (ADJIT_F64, 1, 3));
        assert_eq!(*info.dims, 3);
        assert_eq!(CStr::from_ptr(info.name).to_str().unwrap(), "x");
        assert_eq!(adjit_fn_input(f, 1, &mut info), ADJIT_ERR_ARGUMENT);
        assert_eq!(adjit_fn_output(f, 0, null_mut()), ADJIT_ERR_NULL);

        // Calls: null tables, a misaligned workspace, then a good call.
        let x = [1.5f64, -0.5, 2.0];
        let mut dx = [0.0f64; 3];
        let ins = [x.as_ptr().cast::<c_void>()];
        let outs = [dx.as_mut_ptr().cast::<c_void>()];
        assert_eq!(
            adjit_fn_call(f, null(), outs.as_ptr(), null_mut()),
            ADJIT_ERR_NULL
        );
        let nulls = [null::<c_void>()];
        assert_eq!(
            adjit_fn_call(f, nulls.as_ptr(), outs.as_ptr(), null_mut()),
            ADJIT_ERR_NULL
        );
        if adjit_fn_workspace_size(f) > 0 {
            let mut mem = vec![0u8; adjit_fn_workspace_size(f) + 128];
            let p = mem.as_mut_ptr();
            let off = (64 - p as usize % 64) % 64 + 1;
            assert_eq!(
                adjit_fn_call(f, ins.as_ptr(), outs.as_ptr(), p.add(off).cast()),
                ADJIT_ERR_ARGUMENT
            );
        }
        assert_eq!(
            adjit_fn_call(f, ins.as_ptr(), outs.as_ptr(), null_mut()),
            ADJIT_OK
        );
        // The hand-derived gradient of the Rosenbrock function.
        let mut want = [0.0; 3];
        for i in 0..2 {
            let d = x[i + 1] - x[i] * x[i];
            want[i] += -400.0 * x[i] * d - 2.0 * (1.0 - x[i]);
            want[i + 1] += 200.0 * d;
        }
        for i in 0..3 {
            assert!(
                (dx[i] - want[i]).abs() <= 1e-12 * want[i].abs(),
                "{dx:?} {want:?}"
            );
        }

        // Batch calls: a null pool, then one shared input over 2 samples.
        let mut pool: *mut AdjitPool = null_mut();
        assert_eq!(adjit_pool_new(2, &mut pool), ADJIT_OK);
        assert_eq!(adjit_pool_threads(pool), 2);
        let mut dx2 = [0.0f64; 6];
        let outs2 = [dx2.as_mut_ptr().cast::<c_void>()];
        let shared = [0i32];
        assert_eq!(
            adjit_fn_call_batch(f, null(), 2, ins.as_ptr(), shared.as_ptr(), outs2.as_ptr()),
            ADJIT_ERR_NULL
        );
        assert_eq!(
            adjit_fn_call_batch(f, pool, usize::MAX, ins.as_ptr(), null(), outs2.as_ptr()),
            ADJIT_ERR_ARGUMENT
        );
        assert_eq!(
            adjit_fn_call_batch(f, pool, 2, ins.as_ptr(), shared.as_ptr(), outs2.as_ptr()),
            ADJIT_OK
        );
        assert_eq!(&dx2[..3], &dx[..]);
        assert_eq!(&dx2[3..], &dx[..]);

        // Null handles: counts are 0, frees are no-ops.
        assert_eq!(adjit_fn_num_inputs(null()), 0);
        assert_eq!(adjit_fn_workspace_size(null()), 0);
        adjit_pool_free(null_mut());
        adjit_fn_free(null_mut());
        adjit_module_free(null_mut());

        adjit_pool_free(pool);
        adjit_fn_free(f);
        adjit_module_free(g);
        adjit_module_free(m);
    }
}

#[test]
fn derivatives_have_the_documented_signatures() {
    // SAFETY: as above.
    unsafe {
        let mut m: *mut AdjitModule = null_mut();
        assert_eq!(adjit_module_parse(ROSEN.as_ptr(), &mut m), ADJIT_OK);
        // (kind, inputs, outputs) for f: x -> f.
        for (kind, ins, outs) in [
            (ADJIT_PRIMAL, 1, 1),
            (ADJIT_GRAD, 1, 1),
            (ADJIT_JVP, 2, 2),
            (ADJIT_VJP, 2, 2),
            (ADJIT_HVP, 2, 1),
        ] {
            let mut g: *mut AdjitModule = null_mut();
            assert_eq!(
                adjit_derive(m, null(), kind, null(), &mut g),
                ADJIT_OK,
                "{}",
                last_error()
            );
            let mut f: *mut AdjitFn = null_mut();
            assert_eq!(adjit_compile(g, null(), c"n=5".as_ptr(), &mut f), ADJIT_OK);
            assert_eq!(adjit_fn_num_inputs(f), ins, "kind {kind}");
            assert_eq!(adjit_fn_num_outputs(f), outs, "kind {kind}");
            adjit_fn_free(f);
            adjit_module_free(g);
        }
        adjit_module_free(m);
    }
}
