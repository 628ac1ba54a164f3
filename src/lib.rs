//! # adjit
//!
//! Compiles differentiable computation graphs to native code.
//! The graph language lives in [`ir`] (the `adjit-ir` crate).

#![deny(missing_docs)]

pub use adjit_ir as ir;

pub mod ad;
pub mod jit;
pub mod opt;
#[cfg(feature = "parallel")]
pub mod parallel;
pub mod tape;

pub use ad::{AdError, Mode, grad, hvp, jacobian, jvp, vjp, vmap};

/// The README's examples, compiled and run as doc tests.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
