//! Every AD transform of every op of the catalogue verifies, for `f64` and
//! `f32`, on symbolic shapes.

mod ad_support;

use ad_support::catalogue;
use adjit::ad::{self, Mode};
use adjit::ir::{Dim, Elem, verify_module};

#[test]
fn every_transform_of_every_op_verifies() {
    for elem in [Elem::F64, Elem::F32] {
        for case in catalogue(elem) {
            let m = &case.module;
            let name = case.name.as_str();
            let check = |what: &str, r: Result<(adjit::ir::Module, String), ad::AdError>| {
                let (out, f) = r.unwrap_or_else(|e| panic!("{what}({name}, {elem}): {e}"));
                verify_module(&out).unwrap_or_else(|e| panic!("{what}({name}, {elem}): {e}"));
                assert!(out.get(&f).is_some());
            };
            check("jvp", ad::jvp(m, name, &case.wrt));
            check("vjp", ad::vjp(m, name, &case.wrt));
            check("jacfwd", ad::jacobian(m, name, &case.wrt, Mode::Forward));
            check("jacrev", ad::jacobian(m, name, &case.wrt, Mode::Reverse));
            let batched: Vec<usize> = (0..case.params.len()).collect();
            check("vmap", ad::vmap(m, name, &batched, Dim::var("b")));
            check("vmap", ad::vmap(m, name, &case.wrt, Dim::Known(3)));
        }
    }
}
