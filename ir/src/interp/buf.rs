//! Values held by the interpreter, the memory meter that bounds them, and the
//! located-later faults that kernels report.
//!
//! Invariants:
//! - A [`Buf`]'s data length equals the product of its shape and never changes
//!   after creation (in-place kernels overwrite elements; reshape changes only
//!   the shape), so the bytes it adds to the [`Meter`] when created are exactly
//!   the bytes it gives back when dropped.
//! - Every allocation of element storage goes through [`Meter::alloc`], which
//!   checks the element and byte limits *before* allocating and turns an
//!   allocator refusal into an error instead of an abort.
//! - A kernel that takes a buffer out of an [`Operand`] ([`Operand::take_buf`])
//!   is its only holder (`Rc` count 1), so overwriting it in place is unobservable.

use super::Limits;
use crate::dim::DimEvalError;
use crate::op::Scalar;
use crate::tensor::{Data, Tensor};
use crate::types::Elem;
use std::cell::Cell;
use std::rc::Rc;

/// What went wrong inside a kernel; the frame adds the function and node.
#[derive(Debug)]
pub(super) enum Fault {
    /// The node's operands or attributes break its type rule.
    Malformed(String),
    /// A result shape's element count overflows or exceeds the limit.
    TooLarge { shape: Vec<usize>, limit: usize },
    /// The live-bytes limit (or the allocator) refused an allocation.
    OutOfMemory {
        requested: usize,
        live: usize,
        limit: usize,
    },
    /// A symbolic dimension could not be evaluated.
    Dim(DimEvalError),
    /// A slice range does not lie within its axis.
    SliceOutOfBounds {
        axis: usize,
        start: i64,
        stop: i64,
        size: usize,
    },
    /// `gather` from (or `scatter_add` into) an axis of size 0 with a
    /// non-empty result (or non-empty updates).
    EmptyAxis { axis: usize },
    /// A `call`, `scan` or `while` names a function the module lacks.
    UnknownFunction(String),
}

/// A [`Fault::Malformed`] with the given message.
pub(super) fn malformed(message: impl Into<String>) -> Fault {
    Fault::Malformed(message.into())
}

impl From<DimEvalError> for Fault {
    fn from(e: DimEvalError) -> Fault {
        Fault::Dim(e)
    }
}

/// Counts the bytes of live interpreter buffers against [`Limits`].
pub(super) struct Meter {
    live: Cell<usize>,
    limits: Limits,
}

impl Meter {
    /// A meter with nothing live.
    pub(super) fn new(limits: Limits) -> Rc<Meter> {
        Rc::new(Meter {
            live: Cell::new(0),
            limits,
        })
    }

    /// Bytes of live buffers.
    #[cfg(test)]
    pub(super) fn live(&self) -> usize {
        self.live.get()
    }

    /// The limits in force.
    pub(super) fn limits(&self) -> &Limits {
        &self.limits
    }

    /// The element count of `shape`, if it neither overflows nor exceeds the
    /// element limit.
    pub(super) fn count(&self, shape: &[usize]) -> Result<usize, Fault> {
        let limit = self.limits.max_elements;
        match shape.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d)) {
            Some(n) if n <= limit => Ok(n),
            _ => Err(Fault::TooLarge {
                shape: shape.to_vec(),
                limit,
            }),
        }
    }

    /// An empty vector with room for exactly `n` elements, after checking the
    /// element limit and that the live bytes stay within their limit.
    pub(super) fn alloc<T>(&self, n: usize) -> Result<Vec<T>, Fault> {
        if n > self.limits.max_elements {
            return Err(Fault::TooLarge {
                shape: vec![n],
                limit: self.limits.max_elements,
            });
        }
        let live = self.live.get();
        let limit = self.limits.max_live_bytes;
        let refused = |requested| Fault::OutOfMemory {
            requested,
            live,
            limit,
        };
        let bytes = n
            .checked_mul(std::mem::size_of::<T>())
            .ok_or_else(|| refused(usize::MAX))?;
        if bytes > limit.saturating_sub(live) {
            return Err(refused(bytes));
        }
        let mut v = Vec::new();
        v.try_reserve_exact(n).map_err(|_| refused(bytes))?;
        Ok(v)
    }

    /// `n` copies of `value`.
    pub(super) fn filled<T: Clone>(&self, n: usize, value: T) -> Result<Vec<T>, Fault> {
        let mut v = self.alloc(n)?;
        v.resize(n, value);
        Ok(v)
    }
}

/// Element storage owned by the interpreter, counted by a [`Meter`].
pub(super) struct Buf {
    pub(super) shape: Vec<usize>,
    pub(super) data: Data,
    bytes: usize,
    meter: Rc<Meter>,
}

impl Buf {
    /// Wraps data allocated with [`Meter::alloc`]; its length must equal the
    /// product of `shape` (kernels guarantee it; checked in debug builds).
    pub(super) fn new(meter: &Rc<Meter>, shape: Vec<usize>, data: Data) -> Buf {
        debug_assert_eq!(
            Some(data.len()),
            shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d))
        );
        let bytes = data.len().saturating_mul(data.elem().byte_size());
        meter.live.set(meter.live.get().saturating_add(bytes));
        Buf {
            shape,
            data,
            bytes,
            meter: meter.clone(),
        }
    }

    /// Moves the contents out into a [`Tensor`] (no longer counted).
    pub(super) fn into_tensor(mut self) -> Result<Tensor, Fault> {
        let data = std::mem::replace(&mut self.data, Data::F64(Vec::new()));
        let shape = std::mem::take(&mut self.shape);
        Tensor::new(shape, data).map_err(|e| malformed(e.to_string()))
    }
}

impl Drop for Buf {
    fn drop(&mut self) {
        let live = &self.meter.live;
        live.set(live.get().saturating_sub(self.bytes));
    }
}

/// A value during evaluation: a caller's input, borrowed, or a shared buffer.
pub(super) enum Val<'a> {
    /// One of the tensors passed to [`super::Interpreter::eval`].
    Input(&'a Tensor),
    /// A buffer made by the interpreter.
    Held(Rc<Buf>),
}

impl Clone for Val<'_> {
    fn clone(&self) -> Self {
        match self {
            Val::Input(t) => Val::Input(t),
            Val::Held(b) => Val::Held(b.clone()),
        }
    }
}

impl<'a> Val<'a> {
    /// A new buffer as a value.
    pub(super) fn held(buf: Buf) -> Val<'a> {
        Val::Held(Rc::new(buf))
    }

    /// The shape.
    pub(super) fn shape(&self) -> &[usize] {
        match self {
            Val::Input(t) => t.shape(),
            Val::Held(b) => &b.shape,
        }
    }

    /// The elements.
    pub(super) fn data(&self) -> &Data {
        match self {
            Val::Input(t) => t.data(),
            Val::Held(b) => &b.data,
        }
    }

    /// The element type.
    pub(super) fn elem(&self) -> Elem {
        self.data().elem()
    }

    /// A copy as a [`Tensor`], moving the buffer out when no one else holds it.
    pub(super) fn into_tensor(self) -> Result<Tensor, Fault> {
        match self {
            Val::Input(t) => Ok(t.clone()),
            Val::Held(rc) => match Rc::try_unwrap(rc) {
                Ok(buf) => buf.into_tensor(),
                Err(rc) => Tensor::new(rc.shape.clone(), rc.data.clone())
                    .map_err(|e| malformed(e.to_string())),
            },
        }
    }
}

/// Stands in for an operand whose buffer a kernel took.
static EMPTY: Data = Data::F64(Vec::new());

/// An operand of the node being evaluated. Operands still used later are
/// shared (`Rc` count above 1), so only a last use can yield its buffer.
pub(super) enum Operand<'a> {
    /// The value.
    Own(Val<'a>),
    /// Its buffer was taken.
    Gone,
}

impl<'a> Operand<'a> {
    /// The shape (empty once taken).
    pub(super) fn shape(&self) -> &[usize] {
        match self {
            Operand::Own(v) => v.shape(),
            Operand::Gone => &[],
        }
    }

    /// The elements (empty once taken).
    pub(super) fn data(&self) -> &Data {
        match self {
            Operand::Own(v) => v.data(),
            Operand::Gone => &EMPTY,
        }
    }

    /// The element type.
    pub(super) fn elem(&self) -> Elem {
        self.data().elem()
    }

    /// The buffer, if nothing else holds it.
    pub(super) fn take_buf(&mut self) -> Option<Buf> {
        match std::mem::replace(self, Operand::Gone) {
            Operand::Own(Val::Held(rc)) => match Rc::try_unwrap(rc) {
                Ok(buf) => Some(buf),
                Err(rc) => {
                    *self = Operand::Own(Val::Held(rc));
                    None
                }
            },
            other => {
                *self = other;
                None
            }
        }
    }

    /// The value itself (shared, not copied).
    pub(super) fn into_val(self) -> Option<Val<'a>> {
        match self {
            Operand::Own(v) => Some(v),
            Operand::Gone => None,
        }
    }
}

/// Element types as Rust types, for kernels generic over the element.
pub(super) trait Elt: Copy + Default + PartialEq + 'static {
    /// The element type.
    const ELEM: Elem;
    /// The elements, if `d` holds this type.
    fn slice(d: &Data) -> Option<&[Self]>;
    /// The elements, mutably, if `d` holds this type.
    fn slice_mut(d: &mut Data) -> Option<&mut [Self]>;
    /// Storage holding `v`.
    fn wrap(v: Vec<Self>) -> Data;
    /// The literal's value, if it has this type.
    fn from_scalar(s: Scalar) -> Option<Self>;
}

macro_rules! impl_elt {
    ($t:ty, $variant:ident) => {
        impl Elt for $t {
            const ELEM: Elem = Elem::$variant;
            fn slice(d: &Data) -> Option<&[Self]> {
                match d {
                    Data::$variant(v) => Some(v),
                    _ => None,
                }
            }
            fn slice_mut(d: &mut Data) -> Option<&mut [Self]> {
                match d {
                    Data::$variant(v) => Some(v),
                    _ => None,
                }
            }
            fn wrap(v: Vec<Self>) -> Data {
                Data::$variant(v)
            }
            fn from_scalar(s: Scalar) -> Option<Self> {
                match s {
                    Scalar::$variant(x) => Some(x),
                    _ => None,
                }
            }
        }
    };
}

impl_elt!(f64, F64);
impl_elt!(f32, F32);
impl_elt!(i64, I64);
impl_elt!(bool, Bool);

/// The elements of `d` as `T`, or a malformed-operand fault.
pub(super) fn typed<T: Elt>(d: &Data) -> Result<&[T], Fault> {
    T::slice(d).ok_or_else(|| {
        malformed(format!(
            "operand has element type {}, expected {}",
            d.elem(),
            T::ELEM
        ))
    })
}

/// Numeric element types: the arithmetic of sums, products and matmul
/// (IEEE for floats, wrapping for `i64`).
pub(super) trait Num: Elt {
    const ZERO: Self;
    fn add(self, other: Self) -> Self;
    fn mul(self, other: Self) -> Self;
}

impl Num for f64 {
    const ZERO: f64 = 0.0;
    fn add(self, o: f64) -> f64 {
        self + o
    }
    fn mul(self, o: f64) -> f64 {
        self * o
    }
}

impl Num for f32 {
    const ZERO: f32 = 0.0;
    fn add(self, o: f32) -> f32 {
        self + o
    }
    fn mul(self, o: f32) -> f32 {
        self * o
    }
}

impl Num for i64 {
    const ZERO: i64 = 0;
    fn add(self, o: i64) -> i64 {
        self.wrapping_add(o)
    }
    fn mul(self, o: i64) -> i64 {
        self.wrapping_mul(o)
    }
}

/// Runs `$body` with `$T` the Rust type of element type `$elem`.
macro_rules! for_elem {
    ($elem:expr, $T:ident => $body:expr) => {
        match $elem {
            $crate::types::Elem::F64 => {
                type $T = f64;
                $body
            }
            $crate::types::Elem::F32 => {
                type $T = f32;
                $body
            }
            $crate::types::Elem::I64 => {
                type $T = i64;
                $body
            }
            $crate::types::Elem::Bool => {
                type $T = bool;
                $body
            }
        }
    };
}

/// Like `for_elem!` for numeric types; `bool` is a malformed operand.
macro_rules! for_num {
    ($elem:expr, $T:ident => $body:expr) => {
        match $elem {
            $crate::types::Elem::F64 => {
                type $T = f64;
                $body
            }
            $crate::types::Elem::F32 => {
                type $T = f32;
                $body
            }
            $crate::types::Elem::I64 => {
                type $T = i64;
                $body
            }
            $crate::types::Elem::Bool => {
                return Err($crate::interp::buf::malformed("not defined for bool"))
            }
        }
    };
}

pub(super) use {for_elem, for_num};

/// Row-major strides of `shape`. Never overflows for a shape whose element
/// count fits `usize` (each stride is at most the count).
pub(super) fn strides(shape: &[usize]) -> Vec<usize> {
    let mut out = vec![0; shape.len()];
    let mut acc = 1usize;
    for (s, &d) in out.iter_mut().zip(shape).rev() {
        *s = acc;
        acc = acc.saturating_mul(d);
    }
    out
}

/// Calls `f` with `K` running offsets for every index of the `outer` axes, in
/// row-major order; offset `s` advances by `steps[s][k]` along axis `k`.
/// Nothing is visited if an axis is empty.
pub(super) fn for_each_row<const K: usize>(
    outer: &[usize],
    steps: [&[usize]; K],
    mut offsets: [usize; K],
    mut f: impl FnMut([usize; K]),
) {
    if outer.contains(&0) {
        return;
    }
    let mut idx = vec![0usize; outer.len()];
    loop {
        f(offsets);
        let mut k = outer.len();
        loop {
            if k == 0 {
                return;
            }
            k -= 1;
            idx[k] += 1;
            for s in 0..K {
                offsets[s] = offsets[s].wrapping_add(steps[s][k]);
            }
            if idx[k] < outer[k] {
                break;
            }
            for s in 0..K {
                offsets[s] = offsets[s].wrapping_sub(steps[s][k].wrapping_mul(outer[k]));
            }
            idx[k] = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_are_visited_in_row_major_order() {
        let mut seen = Vec::new();
        for_each_row(&[2, 3], [&[30, 10], &[1, 2]], [5, 0], |[a, b]| {
            seen.push((a, b))
        });
        let want: Vec<(usize, usize)> = (0..2)
            .flat_map(|i| (0..3).map(move |j| (5 + 30 * i + 10 * j, i + 2 * j)))
            .collect();
        assert_eq!(seen, want);
        let mut count = 0;
        for_each_row(&[], [&[]], [7], |[a]| {
            assert_eq!(a, 7);
            count += 1;
        });
        assert_eq!(count, 1, "no outer axes: one row");
        for_each_row(&[4, 0], [&[1, 1]], [0], |_| count += 1);
        assert_eq!(count, 1, "an empty axis: no rows");
    }

    #[test]
    fn strides_are_row_major() {
        assert_eq!(strides(&[2, 3, 4]), [12, 4, 1]);
        assert_eq!(strides(&[]), [0usize; 0]);
        assert_eq!(strides(&[0, 5]), [5, 1]);
    }

    #[test]
    fn buffers_give_back_their_bytes() {
        let m = Meter::new(Limits {
            max_live_bytes: 100,
            ..Limits::default()
        });
        let a = Buf::new(&m, vec![4], Data::F64(m.filled(4, 1.0).unwrap()));
        assert_eq!(m.live(), 32);
        let b = Buf::new(&m, vec![8], Data::F64(m.filled(8, 1.0).unwrap()));
        assert_eq!(m.live(), 96);
        assert!(matches!(
            m.alloc::<f64>(1),
            Err(Fault::OutOfMemory {
                requested: 8,
                live: 96,
                limit: 100
            })
        ));
        assert!(m.alloc::<bool>(4).is_ok());
        drop(a);
        let t = b.into_tensor().unwrap();
        assert_eq!(t.shape(), [8]);
        assert_eq!(m.live(), 0);
        assert!(matches!(
            m.count(&[1 << 40, 1 << 40]),
            Err(Fault::TooLarge { .. })
        ));
        assert!(matches!(
            m.alloc::<u8>(usize::MAX),
            Err(Fault::TooLarge { .. })
        ));
    }
}
