//! Native code generation with Cranelift.
//!
//! Only the elementwise math kernels live here so far; see [`math`].

pub mod math;
