//! The C API of adjit (`include/adjit.h`): load a program from text, take
//! its gradient, JVP, VJP or Hessian-vector product, compile it, query its
//! shapes and workspace size, and call it with caller-owned buffers, one
//! sample at a time or a batch across cores. Built as a shared library
//! (`libadjit_capi.so`, for C, C++, Fortran `bind(C)` and Python `ctypes`)
//! and a static archive (`libadjit_capi.a`).
//!
//! Invariants of every entry point:
//! - It never unwinds into the caller and never aborts on bad input: the
//!   body runs under `catch_unwind`, and a panic (a bug of adjit) becomes
//!   [`ADJIT_ERR_INTERNAL`] with its message.
//! - It returns a status code ([`ADJIT_OK`] or an `ADJIT_ERR_*` code), and
//!   on failure sets the calling thread's last error message
//!   ([`adjit_last_error`]); on success the message is empty. Entry points
//!   that return a count or size instead return 0 for a null handle.
//! - Null pointers are checked wherever the header says a pointer is
//!   required; what cannot be checked (the length of a buffer behind a
//!   pointer, a handle that was already freed) is the caller's contract,
//!   stated in the header.
//! - Handles are owned by the caller and freed with the matching `_free`
//!   (which accepts null). A compiled function does not borrow the module
//!   it came from, and may be called from many threads at once, each with
//!   its own workspace.
//!
//! The Rust side of preparation (parse, differentiate, bind sizes) is in
//! [`prepare`], shared with the command-line tool.

pub mod prepare;

use adjit::ir::{Elem, Module, Type};
use adjit::jit::{self, ArgMut, ArgRef, CompiledFn};
use adjit::parallel::{BatchArg, Pool};
use prepare::{Kind, PrepError};
use std::cell::RefCell;
use std::ffi::{CStr, CString, c_char, c_int, c_void};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Mutex;

/// Success.
pub const ADJIT_OK: c_int = 0;
/// A required pointer was null.
pub const ADJIT_ERR_NULL: c_int = 1;
/// The program text does not parse or verify (or is not UTF-8).
pub const ADJIT_ERR_PARSE: c_int = 2;
/// A function, parameter or size variable named by the caller does not exist.
pub const ADJIT_ERR_NOT_FOUND: c_int = 3;
/// The derivative could not be taken (or optimised).
pub const ADJIT_ERR_DERIVE: c_int = 4;
/// A size is missing or invalid.
pub const ADJIT_ERR_SIZE: c_int = 5;
/// The JIT could not compile the function.
pub const ADJIT_ERR_COMPILE: c_int = 6;
/// An argument does not fit: an index out of range, an unknown kind or
/// element type, a misaligned workspace, a batch too large.
pub const ADJIT_ERR_ARGUMENT: c_int = 7;
/// A bug of adjit, caught at the boundary (a panic).
pub const ADJIT_ERR_INTERNAL: c_int = 8;

/// `f64` elements.
pub const ADJIT_F64: c_int = 0;
/// `f32` elements.
pub const ADJIT_F32: c_int = 1;
/// `i64` elements.
pub const ADJIT_I64: c_int = 2;
/// `bool` elements (one byte, 0 or 1).
pub const ADJIT_BOOL: c_int = 3;

/// The function itself.
pub const ADJIT_PRIMAL: c_int = 0;
/// `x → ∇f(x)` per differentiated parameter (without `f(x)`).
pub const ADJIT_GRAD: c_int = 1;
/// `(x, ẋ) → (y, ẏ)`.
pub const ADJIT_JVP: c_int = 2;
/// `(x, ȳ) → (y, x̄)`.
pub const ADJIT_VJP: c_int = 3;
/// `(x, v) → ∇²f(x)·v` per differentiated parameter.
pub const ADJIT_HVP: c_int = 4;

/// Alignment the workspace of a call must have, in bytes.
pub const ADJIT_WORKSPACE_ALIGN: usize = CompiledFn::WORKSPACE_ALIGN;

thread_local! {
    /// The calling thread's last error message (`None` after a success, so
    /// that a successful call allocates nothing).
    static LAST_ERROR: RefCell<Option<CString>> = const { RefCell::new(None) };
}

fn set_last_error(message: Option<&str>) {
    // A message with an interior NUL is cut there (C strings end at NUL).
    let c = message.map(|m| {
        let text = m.split('\0').next().unwrap_or_default();
        CString::new(text).unwrap_or_default()
    });
    let _ = LAST_ERROR.try_with(|e| {
        if let Ok(mut slot) = e.try_borrow_mut() {
            *slot = c;
        }
    });
}

/// An error at the boundary: a status code and a message.
struct Failure {
    code: c_int,
    message: String,
}

fn fail(code: c_int, message: impl Into<String>) -> Failure {
    Failure {
        code,
        message: message.into(),
    }
}

impl From<PrepError> for Failure {
    fn from(e: PrepError) -> Failure {
        let code = match e {
            PrepError::Parse(_) => ADJIT_ERR_PARSE,
            PrepError::NotFound(_) => ADJIT_ERR_NOT_FOUND,
            PrepError::Derive(_) => ADJIT_ERR_DERIVE,
            PrepError::Size(_) => ADJIT_ERR_SIZE,
        };
        fail(code, e.to_string())
    }
}

/// Runs an entry point's body: catches panics, records the message, and
/// returns the status code.
fn guard(body: impl FnOnce() -> Result<(), Failure>) -> c_int {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(())) => {
            set_last_error(None);
            ADJIT_OK
        }
        Ok(Err(f)) => {
            set_last_error(Some(&f.message));
            f.code
        }
        Err(payload) => {
            let what = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "a panic".to_string());
            set_last_error(Some(&format!("internal error in adjit: {what}")));
            ADJIT_ERR_INTERNAL
        }
    }
}

/// Like [`guard`] for entry points that return a value (0 on a panic).
fn guard_value<T: Default>(body: impl FnOnce() -> T) -> T {
    catch_unwind(AssertUnwindSafe(body)).unwrap_or_default()
}

/// A C string argument; `None` for null.
///
/// # Safety
/// `p` is null or points to a NUL-terminated string.
unsafe fn opt_str<'a>(p: *const c_char, what: &str) -> Result<Option<&'a str>, Failure> {
    if p.is_null() {
        return Ok(None);
    }
    // SAFETY: the caller passes a NUL-terminated string (the header's
    // contract) that outlives this call.
    let c = unsafe { CStr::from_ptr(p) };
    c.to_str()
        .map(Some)
        .map_err(|_| fail(ADJIT_ERR_ARGUMENT, format!("{what} is not UTF-8")))
}

/// A loaded program: a module and its default function.
pub struct AdjitModule {
    module: Module,
    entry: String,
}

/// One parameter or output of a compiled function, as the header's
/// `adjit_arg_info` exposes it.
struct ArgInfo {
    name: CString,
    ty: Type,
    dims: Vec<usize>,
    count: usize,
}

impl ArgInfo {
    fn new(name: &str, ty: &Type) -> ArgInfo {
        let dims = ty.shape.as_known().unwrap_or_default();
        ArgInfo {
            name: CString::new(name.replace('\0', "")).unwrap_or_default(),
            count: dims.iter().product(),
            ty: ty.clone(),
            dims,
        }
    }
}

/// A compiled function with its argument descriptions.
pub struct AdjitFn {
    f: CompiledFn,
    inputs: Vec<ArgInfo>,
    outputs: Vec<ArgInfo>,
}

/// A thread pool for batch calls.
pub struct AdjitPool {
    pool: Mutex<Pool>,
}

/// Description of one parameter or output (the header's `adjit_arg_info`).
/// `name` and `dims` point into the function and live as long as it.
#[repr(C)]
pub struct AdjitArgInfo {
    /// The parameter's or output's name, NUL-terminated.
    pub name: *const c_char,
    /// The element type (`ADJIT_F64`, …).
    pub elem: c_int,
    /// The rank (0 for a scalar).
    pub rank: usize,
    /// `rank` dimensions, row-major.
    pub dims: *const usize,
    /// The element count (1 for a scalar).
    pub count: usize,
}

fn elem_code(e: Elem) -> c_int {
    match e {
        Elem::F64 => ADJIT_F64,
        Elem::F32 => ADJIT_F32,
        Elem::I64 => ADJIT_I64,
        Elem::Bool => ADJIT_BOOL,
    }
}

/// The message of the last failed call on this thread ("" after a
/// successful one). Valid until the next adjit call on the same thread.
#[unsafe(no_mangle)]
pub extern "C" fn adjit_last_error() -> *const c_char {
    guard_value(|| {
        LAST_ERROR
            .try_with(|e| {
                e.try_borrow()
                    .ok()
                    .and_then(|m| m.as_ref().map(|c| c.as_ptr()))
            })
            .ok()
            .flatten()
    })
    .unwrap_or(c"".as_ptr())
}

/// The library's version, a static NUL-terminated string.
#[unsafe(no_mangle)]
pub extern "C" fn adjit_version() -> *const c_char {
    static VERSION: &CStr =
        match CStr::from_bytes_with_nul(concat!(env!("CARGO_PKG_VERSION"), "\0").as_bytes()) {
            Ok(v) => v,
            Err(_) => c"",
        };
    VERSION.as_ptr()
}

/// Parses and verifies program text (NUL-terminated UTF-8) into a module.
///
/// # Safety
/// `text` is null or a NUL-terminated string; `out` is null or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn adjit_module_parse(
    text: *const c_char,
    out: *mut *mut AdjitModule,
) -> c_int {
    guard(|| {
        if out.is_null() {
            return Err(fail(ADJIT_ERR_NULL, "out is null"));
        }
        // SAFETY: `out` is non-null and writable (the contract).
        unsafe { *out = std::ptr::null_mut() };
        // SAFETY: the contract on `text`.
        let text = unsafe { opt_str(text, "the program text") }?
            .ok_or_else(|| fail(ADJIT_ERR_NULL, "the program text is null"))?;
        let (module, entry) = prepare::parse("<text>", text)?;
        let m = Box::new(AdjitModule { module, entry });
        // SAFETY: as above.
        unsafe { *out = Box::into_raw(m) };
        Ok(())
    })
}

/// Frees a module (null is allowed).
///
/// # Safety
/// `m` is null or a module from this library not yet freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn adjit_module_free(m: *mut AdjitModule) {
    let _ = guard(|| {
        if !m.is_null() {
            // SAFETY: `m` came from `Box::into_raw` and is freed once (the
            // contract).
            drop(unsafe { Box::from_raw(m) });
        }
        Ok(())
    });
}

/// Takes a derivative: a new module whose default function is the `kind`
/// program of `func` (null: the module's default function) with respect to
/// the comma-separated parameter names `wrt` (null or "": every float
/// parameter), optimised.
///
/// # Safety
/// `m` is null or a live module; `func` and `wrt` are null or
/// NUL-terminated; `out` is null or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn adjit_derive(
    m: *const AdjitModule,
    func: *const c_char,
    kind: c_int,
    wrt: *const c_char,
    out: *mut *mut AdjitModule,
) -> c_int {
    guard(|| {
        if out.is_null() {
            return Err(fail(ADJIT_ERR_NULL, "out is null"));
        }
        // SAFETY: `out` is non-null and writable.
        unsafe { *out = std::ptr::null_mut() };
        // SAFETY: a live module (the contract).
        let m = unsafe { m.as_ref() }.ok_or_else(|| fail(ADJIT_ERR_NULL, "module is null"))?;
        // SAFETY: the contract on `func` and `wrt`.
        let func = unsafe { opt_str(func, "func") }?.unwrap_or(&m.entry);
        // SAFETY: as above.
        let wrt = unsafe { opt_str(wrt, "wrt") }?.unwrap_or("");
        let kind = match kind {
            ADJIT_PRIMAL => Kind::Primal,
            ADJIT_GRAD => Kind::Grad,
            ADJIT_JVP => Kind::Jvp,
            ADJIT_VJP => Kind::Vjp,
            ADJIT_HVP => Kind::Hvp,
            k => {
                return Err(fail(
                    ADJIT_ERR_ARGUMENT,
                    format!("unknown derivative kind {k}"),
                ));
            }
        };
        let names: Vec<&str> = wrt
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .collect();
        let (module, entry) = prepare::derive(&m.module, func, kind, &names)?;
        // SAFETY: as above.
        unsafe { *out = Box::into_raw(Box::new(AdjitModule { module, entry })) };
        Ok(())
    })
}

/// Compiles `func` (null: the module's default function) with its size
/// variables bound by `sizes` ("n=32,m=4"; null or "" when it has none).
///
/// # Safety
/// `m` is null or a live module; `func`, `sizes` null or NUL-terminated;
/// `out` null or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn adjit_compile(
    m: *const AdjitModule,
    func: *const c_char,
    sizes: *const c_char,
    out: *mut *mut AdjitFn,
) -> c_int {
    guard(|| {
        if out.is_null() {
            return Err(fail(ADJIT_ERR_NULL, "out is null"));
        }
        // SAFETY: `out` is non-null and writable.
        unsafe { *out = std::ptr::null_mut() };
        // SAFETY: a live module.
        let m = unsafe { m.as_ref() }.ok_or_else(|| fail(ADJIT_ERR_NULL, "module is null"))?;
        // SAFETY: the contract on the strings.
        let func = unsafe { opt_str(func, "func") }?.unwrap_or(&m.entry);
        // SAFETY: as above.
        let sizes = prepare::parse_sizes(unsafe { opt_str(sizes, "sizes") }?.unwrap_or(""))?;
        let f = prepare::function(&m.module, func)?;
        let types = prepare::concrete_types(f, &sizes)?;
        let compiled = jit::compile_for(&m.module, f.name(), &types)
            .map_err(|e| fail(ADJIT_ERR_COMPILE, e.to_string()))?;
        let inputs = f
            .params()
            .iter()
            .zip(compiled.param_types())
            .map(|(&p, t)| ArgInfo::new(f.value_name(p), t))
            .collect();
        let outputs = f
            .outputs()
            .iter()
            .zip(compiled.output_types())
            .map(|(&o, t)| ArgInfo::new(f.value_name(o), t))
            .collect();
        let handle = Box::new(AdjitFn {
            f: compiled,
            inputs,
            outputs,
        });
        // SAFETY: as above.
        unsafe { *out = Box::into_raw(handle) };
        Ok(())
    })
}

/// Frees a compiled function (null is allowed).
///
/// # Safety
/// `f` is null or a function from this library not yet freed, and no call
/// of it is running.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn adjit_fn_free(f: *mut AdjitFn) {
    let _ = guard(|| {
        if !f.is_null() {
            // SAFETY: `f` came from `Box::into_raw`, freed once, unused.
            drop(unsafe { Box::from_raw(f) });
        }
        Ok(())
    });
}

/// The number of inputs (parameters); 0 for null.
///
/// # Safety
/// `f` is null or a live function.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn adjit_fn_num_inputs(f: *const AdjitFn) -> usize {
    // SAFETY: the contract.
    guard_value(|| unsafe { f.as_ref() }.map_or(0, |f| f.inputs.len()))
}

/// The number of outputs; 0 for null.
///
/// # Safety
/// `f` is null or a live function.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn adjit_fn_num_outputs(f: *const AdjitFn) -> usize {
    // SAFETY: the contract.
    guard_value(|| unsafe { f.as_ref() }.map_or(0, |f| f.outputs.len()))
}

/// Bytes of workspace a call needs (aligned to `ADJIT_WORKSPACE_ALIGN`);
/// 0 for null.
///
/// # Safety
/// `f` is null or a live function.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn adjit_fn_workspace_size(f: *const AdjitFn) -> usize {
    // SAFETY: the contract.
    guard_value(|| unsafe { f.as_ref() }.map_or(0, |f| f.f.workspace_size()))
}

fn describe(list: &[ArgInfo], i: usize, what: &str, out: *mut AdjitArgInfo) -> Result<(), Failure> {
    if out.is_null() {
        return Err(fail(ADJIT_ERR_NULL, "info is null"));
    }
    let a = list.get(i).ok_or_else(|| {
        fail(
            ADJIT_ERR_ARGUMENT,
            format!("{what} {i} out of range (the function has {})", list.len()),
        )
    })?;
    let info = AdjitArgInfo {
        name: a.name.as_ptr(),
        elem: elem_code(a.ty.elem),
        rank: a.dims.len(),
        dims: a.dims.as_ptr(),
        count: a.count,
    };
    // SAFETY: `out` is non-null and writable (the contract).
    unsafe { out.write(info) };
    Ok(())
}

/// Describes input `i`.
///
/// # Safety
/// `f` is null or a live function; `info` null or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn adjit_fn_input(
    f: *const AdjitFn,
    i: usize,
    info: *mut AdjitArgInfo,
) -> c_int {
    guard(|| {
        // SAFETY: the contract.
        let f = unsafe { f.as_ref() }.ok_or_else(|| fail(ADJIT_ERR_NULL, "function is null"))?;
        describe(&f.inputs, i, "input", info)
    })
}

/// Describes output `i`.
///
/// # Safety
/// `f` is null or a live function; `info` null or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn adjit_fn_output(
    f: *const AdjitFn,
    i: usize,
    info: *mut AdjitArgInfo,
) -> c_int {
    guard(|| {
        // SAFETY: the contract.
        let f = unsafe { f.as_ref() }.ok_or_else(|| fail(ADJIT_ERR_NULL, "function is null"))?;
        describe(&f.outputs, i, "output", info)
    })
}

/// Checks the pointer tables of a call: non-null tables, a non-null pointer
/// for every non-empty argument.
fn check_tables(
    f: &AdjitFn,
    inputs: *const *const c_void,
    outputs: *const *mut c_void,
) -> Result<(), Failure> {
    if !f.inputs.is_empty() && inputs.is_null() {
        return Err(fail(ADJIT_ERR_NULL, "inputs is null"));
    }
    if !f.outputs.is_empty() && outputs.is_null() {
        return Err(fail(ADJIT_ERR_NULL, "outputs is null"));
    }
    for (i, a) in f.inputs.iter().enumerate() {
        // SAFETY: the table has one pointer per input (the contract).
        if a.count > 0 && unsafe { *inputs.add(i) }.is_null() {
            return Err(fail(ADJIT_ERR_NULL, format!("input {i} is null")));
        }
    }
    for (i, a) in f.outputs.iter().enumerate() {
        // SAFETY: the table has one pointer per output (the contract).
        if a.count > 0 && unsafe { *outputs.add(i) }.is_null() {
            return Err(fail(ADJIT_ERR_NULL, format!("output {i} is null")));
        }
    }
    Ok(())
}

/// Calls the function: `inputs[i]` points to input `i`'s elements,
/// `outputs[i]` to room for output `i`'s, row-major; `workspace` to
/// `adjit_fn_workspace_size` bytes aligned to `ADJIT_WORKSPACE_ALIGN`
/// (null: the call allocates one, which costs an allocation per call).
///
/// # Safety
/// `f` is null or a live function; `inputs` and `outputs` hold one pointer
/// per input and output, each to at least the element count of its type
/// (`adjit_fn_input`); outputs do not overlap each other, the inputs or
/// the workspace; `workspace` is null or as above.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn adjit_fn_call(
    f: *const AdjitFn,
    inputs: *const *const c_void,
    outputs: *const *mut c_void,
    workspace: *mut c_void,
) -> c_int {
    guard(|| {
        // SAFETY: the contract.
        let f = unsafe { f.as_ref() }.ok_or_else(|| fail(ADJIT_ERR_NULL, "function is null"))?;
        check_tables(f, inputs, outputs)?;
        let mut own = None;
        let ws: *mut u8 = if workspace.is_null() {
            own.insert(f.f.workspace()).as_mut_ptr()
        } else {
            if !(workspace as usize).is_multiple_of(ADJIT_WORKSPACE_ALIGN) {
                return Err(fail(
                    ADJIT_ERR_ARGUMENT,
                    format!("the workspace is not aligned to {ADJIT_WORKSPACE_ALIGN} bytes"),
                ));
            }
            workspace.cast()
        };
        // SAFETY: the tables were checked non-null and hold one pointer per
        // argument, each to enough elements (the contract); the workspace
        // is ours or the caller's, aligned and large enough.
        unsafe { f.f.raw().call(inputs.cast(), outputs.cast(), ws) };
        Ok(())
    })
}

/// Starts a pool of `threads` worker threads for batch calls (0: one per
/// core).
///
/// # Safety
/// `out` is null or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn adjit_pool_new(threads: usize, out: *mut *mut AdjitPool) -> c_int {
    guard(|| {
        if out.is_null() {
            return Err(fail(ADJIT_ERR_NULL, "out is null"));
        }
        // SAFETY: `out` is non-null and writable.
        unsafe { *out = std::ptr::null_mut() };
        let pool = Pool::new(threads).map_err(|e| fail(ADJIT_ERR_ARGUMENT, e.to_string()))?;
        let handle = Box::new(AdjitPool {
            pool: Mutex::new(pool),
        });
        // SAFETY: as above.
        unsafe { *out = Box::into_raw(handle) };
        Ok(())
    })
}

/// The number of worker threads of a pool; 0 for null.
///
/// # Safety
/// `p` is null or a live pool.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn adjit_pool_threads(p: *const AdjitPool) -> usize {
    guard_value(|| {
        // SAFETY: the contract.
        unsafe { p.as_ref() }.map_or(0, |p| match p.pool.lock() {
            Ok(pool) => pool.threads(),
            Err(poisoned) => poisoned.into_inner().threads(),
        })
    })
}

/// Frees a pool (null is allowed).
///
/// # Safety
/// `p` is null or a pool from this library not yet freed, with no batch
/// running.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn adjit_pool_free(p: *mut AdjitPool) {
    let _ = guard(|| {
        if !p.is_null() {
            // SAFETY: `p` came from `Box::into_raw`, freed once, unused.
            drop(unsafe { Box::from_raw(p) });
        }
        Ok(())
    });
}

/// Checks a buffer of `len` elements of `elem` at `ptr` for null and
/// alignment (an empty one may be anything).
fn check_ptr(ptr: *const c_void, elem: Elem, len: usize, what: &str) -> Result<(), Failure> {
    if len > 0 && ptr.is_null() {
        return Err(fail(ADJIT_ERR_NULL, format!("{what} is null")));
    }
    if len > 0 && !(ptr as usize).is_multiple_of(elem.byte_size()) {
        return Err(fail(
            ADJIT_ERR_ARGUMENT,
            format!("{what} is not aligned to its elements"),
        ));
    }
    Ok(())
}

/// A slice of `len` elements of `elem` at `ptr`, checked for null and
/// alignment.
///
/// # Safety
/// `ptr` points to `len` elements of `elem`, valid for `'a`, and (for
/// `bool`) each byte is 0 or 1.
unsafe fn arg_ref<'a>(
    ptr: *const c_void,
    elem: Elem,
    len: usize,
    what: &str,
) -> Result<ArgRef<'a>, Failure> {
    check_ptr(ptr, elem, len, what)?;
    if len == 0 {
        return Ok(match elem {
            Elem::F64 => ArgRef::F64(&[]),
            Elem::F32 => ArgRef::F32(&[]),
            Elem::I64 => ArgRef::I64(&[]),
            Elem::Bool => ArgRef::Bool(&[]),
        });
    }
    // SAFETY: non-null and aligned (checked), `len` elements long and live
    // for 'a (the contract).
    unsafe {
        Ok(match elem {
            Elem::F64 => ArgRef::F64(std::slice::from_raw_parts(ptr.cast(), len)),
            Elem::F32 => ArgRef::F32(std::slice::from_raw_parts(ptr.cast(), len)),
            Elem::I64 => ArgRef::I64(std::slice::from_raw_parts(ptr.cast(), len)),
            Elem::Bool => ArgRef::Bool(std::slice::from_raw_parts(ptr.cast(), len)),
        })
    }
}

/// The mutable counterpart of [`arg_ref`].
///
/// # Safety
/// As [`arg_ref`], and the memory is not otherwise accessed during `'a`.
unsafe fn arg_mut<'a>(
    ptr: *mut c_void,
    elem: Elem,
    len: usize,
    what: &str,
) -> Result<ArgMut<'a>, Failure> {
    check_ptr(ptr, elem, len, what)?;
    if len == 0 {
        return Ok(match elem {
            Elem::F64 => ArgMut::F64(&mut []),
            Elem::F32 => ArgMut::F32(&mut []),
            Elem::I64 => ArgMut::I64(&mut []),
            Elem::Bool => ArgMut::Bool(&mut []),
        });
    }
    // SAFETY: non-null and aligned (checked), `len` elements long, live and
    // exclusively ours for 'a (the contract).
    unsafe {
        Ok(match elem {
            Elem::F64 => ArgMut::F64(std::slice::from_raw_parts_mut(ptr.cast(), len)),
            Elem::F32 => ArgMut::F32(std::slice::from_raw_parts_mut(ptr.cast(), len)),
            Elem::I64 => ArgMut::I64(std::slice::from_raw_parts_mut(ptr.cast(), len)),
            Elem::Bool => ArgMut::Bool(std::slice::from_raw_parts_mut(ptr.cast(), len)),
        })
    }
}

/// Calls the function on `batch` samples across the pool's threads.
/// `inputs[i]` holds input `i` stacked (`batch` samples one after the other,
/// sample `b` at `b × count`) if `stacked[i]` is non-zero (or `stacked` is
/// null), else once for every sample; `outputs[i]` has room for `batch ×
/// count` elements and receives them stacked. Each worker thread has its
/// own workspace; the results do not depend on the number of threads.
///
/// # Safety
/// `f` and `pool` are null or live; `inputs`, `outputs` and `stacked` (if
/// non-null) have one entry per input or output; each pointer holds the
/// element count above; outputs do not overlap each other or the inputs.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn adjit_fn_call_batch(
    f: *const AdjitFn,
    pool: *const AdjitPool,
    batch: usize,
    inputs: *const *const c_void,
    stacked: *const c_int,
    outputs: *const *mut c_void,
) -> c_int {
    guard(|| {
        // SAFETY: the contract.
        let f = unsafe { f.as_ref() }.ok_or_else(|| fail(ADJIT_ERR_NULL, "function is null"))?;
        // SAFETY: the contract.
        let pool = unsafe { pool.as_ref() }.ok_or_else(|| fail(ADJIT_ERR_NULL, "pool is null"))?;
        check_tables(f, inputs, outputs)?;
        let too_large = || {
            fail(
                ADJIT_ERR_ARGUMENT,
                format!("a batch of {batch} is too large"),
            )
        };
        let mut ins = Vec::with_capacity(f.inputs.len());
        for (i, a) in f.inputs.iter().enumerate() {
            // SAFETY: one entry per input (the contract).
            let s = stacked.is_null() || unsafe { *stacked.add(i) } != 0;
            let len = if s {
                a.count.checked_mul(batch).ok_or_else(too_large)?
            } else {
                a.count
            };
            // SAFETY: one pointer per input, to `len` elements (the contract).
            let p = unsafe { *inputs.add(i) };
            // SAFETY: as above.
            let r = unsafe { arg_ref(p, a.ty.elem, len, &format!("input {i}")) }?;
            ins.push(if s {
                BatchArg::Stacked(r)
            } else {
                BatchArg::Shared(r)
            });
        }
        let mut outs = Vec::with_capacity(f.outputs.len());
        for (i, a) in f.outputs.iter().enumerate() {
            let len = a.count.checked_mul(batch).ok_or_else(too_large)?;
            // SAFETY: one pointer per output (the contract).
            let p = unsafe { *outputs.add(i) };
            // SAFETY: as above; outputs are disjoint from everything else.
            outs.push(unsafe { arg_mut(p, a.ty.elem, len, &format!("output {i}")) }?);
        }
        let mut pool = match pool.pool.lock() {
            Ok(p) => p,
            Err(poisoned) => poisoned.into_inner(),
        };
        pool.call_batch(&f.f, batch, &ins, &mut outs)
            .map_err(|e| fail(ADJIT_ERR_ARGUMENT, e.to_string()))
    })
}
