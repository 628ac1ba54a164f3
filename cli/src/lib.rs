//! # adjit-cli
//!
//! The command-line tools built on the `adjit` library: the `adjit` binary
//! (check, print, eval, dot, asm, bench and the demo) and `adjit-gradbench`,
//! which speaks the GradBench protocol. This library holds what the
//! GradBench tool is made of ([`gradbench`]), so that another command can
//! embed the protocol; the `adjit` binary's modules live beside its `main`.
//!
//! Architecture invariant: this package is where the tools' dependencies
//! (clap, indicatif, `.npy`, JSON) live; the `adjit` library needs none of
//! them.

#![deny(missing_docs)]

pub mod gradbench;
