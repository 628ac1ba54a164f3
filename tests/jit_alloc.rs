//! `call_into` allocates nothing: a counting global allocator watches the
//! calling thread while it makes many calls.

use adjit::ir::{Graph, Module, Type};
use adjit::jit::{self, ArgMut, ArgRef};
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

struct Counting;

thread_local! {
    static ALLOCS: Cell<usize> = const { Cell::new(0) };
}

// SAFETY: forwards to the system allocator; the counter is a const-initialised
// thread-local `Cell`, which never allocates.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = ALLOCS.try_with(|c| c.set(c.get() + 1));
        // SAFETY: the caller's contract is `System`'s.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let _ = ALLOCS.try_with(|c| c.set(c.get() + 1));
        // SAFETY: as above.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocations() -> usize {
    ALLOCS.with(|c| c.get())
}

#[test]
fn call_into_does_not_allocate() {
    // A function with a materialised intermediate (workspace), a reduction
    // and several outputs.
    let n = 1000;
    let g = Graph::new("f");
    let x = g.param("x", Type::f64(&[n]));
    let s = g.param("s", Type::f64(&[]));
    let e = (x * s).exp();
    let y = e * e.sin() + e;
    let total = y.sum_all();
    let mut m = Module::new();
    m.add(g.finish(&[y, total]).unwrap()).unwrap();
    let c = jit::compile(&m, "f").unwrap();
    assert!(c.workspace_size() > 0, "the test wants a workspace");
    let mut ws = c.workspace();
    let xs: Vec<f64> = (0..n).map(|i| i as f64 * 1e-3).collect();
    let mut out = vec![0.0; n];
    let mut sum = [0.0];
    let before = allocations();
    for k in 0..1000 {
        let scale = [k as f64 * 1e-3];
        c.call_into(
            &[ArgRef::F64(&xs), ArgRef::F64(&scale)],
            &mut [ArgMut::F64(&mut out), ArgMut::F64(&mut sum)],
            &mut ws,
        )
        .unwrap();
    }
    let after = allocations();
    assert_eq!(after - before, 0, "allocations during 1000 calls");
    let want: f64 = out.iter().sum();
    assert!((sum[0] - want).abs() <= 1e-9 * want.abs());
}
