//! # adjit
//!
//! Compiles differentiable computation graphs to native code.
//! The graph language lives in [`ir`] (the `adjit-ir` crate).
//!
//! Start with the handles of [`func`]: build a function with a [`Builder`],
//! transform the [`Func`] it returns ([`Func::grad`], [`Func::jvp`],
//! [`Func::vmap`], …), [`Func::compile`] it and call the [`Compiled`]
//! function on plain slices. Underneath are the parts they tie together,
//! each usable alone on a module and a function name: [`ad`] (the
//! transforms), [`opt`] (simplification), [`jit`] (compilation) and the
//! interpreter [`ir::interp`]. Every error converts into [`Error`].
//!
//! ```
//! use adjit::{Builder, ir::Type};
//!
//! let g = Builder::new("f");
//! let (x, y) = (g.param("x", Type::f64(&[])), g.param("y", Type::f64(&[])));
//! let f = g.finish(&[(x + y) * (x - y)])?;
//! let df = f.grad()?.compile()?;
//! assert_eq!(df.call((3.0, 2.0))?.scalars()?, [6.0, -4.0]);
//! # Ok::<(), adjit::Error>(())
//! ```

#![deny(missing_docs)]

pub use adjit_ir as ir;

pub mod ad;
mod error;
pub mod func;
pub mod jit;
pub mod opt;
#[cfg(feature = "parallel")]
pub mod parallel;
pub mod tape;

pub use ad::{AdError, Mode, grad, hvp, jacobian, jvp, vjp, vmap};
pub use error::Error;
pub use func::{Arg, Args, Builder, CompileOptions, Compiled, Func, Key, Outputs};

/// The README's examples, compiled and run as doc tests.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;

/// The examples of the guide to loops, compiled and run as doc tests.
#[doc = include_str!("../docs/loops.md")]
#[cfg(doctest)]
pub struct LoopsDoctests;
