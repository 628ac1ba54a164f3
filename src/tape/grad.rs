//! Gradients of whole functions: [`grad`] for one-off use and
//! [`Tape::grad_into`], which reuses the tape's storage and the caller's
//! output buffer so that repeated calls allocate nothing after the first.
//!
//! Invariant: between calls, `Tape::inputs` is empty; only its allocation is
//! kept, as a vector of [`ParkedVar`] (a type with the size and alignment of
//! [`Var`] but no lifetime, so the tape stays `Send`).

use std::mem::{align_of, size_of};

use super::{Tape, TapeError, Var};

/// Placeholder element type for the parked input-handle storage: the layout
/// of [`Var`] (a reference, a `u32` and an `f64`) without its lifetime.
pub(super) type ParkedVar = (usize, u32, f64);

const _: () = assert!(size_of::<ParkedVar>() == size_of::<Var<'_>>());
const _: () = assert!(align_of::<ParkedVar>() == align_of::<Var<'_>>());

/// Empties `vec` and reuses its allocation for another element type of the
/// same size and alignment. Collecting a `Vec`'s own `IntoIter` reuses its
/// buffer in place in that case, and the closure is never called because
/// the vector is empty.
fn recycle<T, U>(mut vec: Vec<T>) -> Vec<U> {
    vec.clear();
    vec.into_iter().filter_map(|_| None).collect()
}

/// The value of `f` at `x` and its gradient, on a fresh tape.
///
/// `f` receives one input handle per element of `x`. Use
/// [`Tape::grad_into`] in a loop to reuse storage between calls.
///
/// ```
/// let (value, gradient) = adjit::tape::grad(|x| x[0] * x[0] + x[0] * x[1] + 2.0, &[3.0, 4.0]);
/// assert_eq!(value, 23.0);
/// assert_eq!(gradient, [10.0, 3.0]);
/// ```
pub fn grad<F>(f: F, x: &[f64]) -> (f64, Vec<f64>)
where
    F: for<'t> FnOnce(&[Var<'t>]) -> Var<'t>,
{
    let mut tape = Tape::with_capacity(x.len());
    let mut gradient = vec![0.0; x.len()];
    match tape.grad_into(f, x, &mut gradient) {
        Ok(value) => (value, gradient),
        Err(error) => unreachable!("the buffer was sized from x: {error}"),
    }
}

impl Tape {
    /// Records `f` at `x` on this tape, writes ∂f/∂xᵢ into `gradient[i]`,
    /// clears the tape again and returns the value of `f`. After the first
    /// call with a given `f` and size, further calls allocate nothing.
    ///
    /// `f` receives one input handle per element of `x`. If it returns a
    /// handle of another tape, the result cannot depend on the inputs and
    /// the gradient is 0.
    ///
    /// `f` must work for handles of any tape (`for<'t>`): a closure written
    /// inline in the call is inferred that way, and so is a generic `fn`
    /// like `rosen` below (a closure stored in a variable first is not).
    ///
    /// ```
    /// use adjit::tape::{Tape, Var};
    ///
    /// fn rosen<'t>(x: &[Var<'t>]) -> Var<'t> {
    ///     let term = |w: &[Var<'t>]| 100.0 * (w[1] - w[0] * w[0]).powi(2) + (1.0 - w[0]).powi(2);
    ///     let terms: Vec<Var<'t>> = x.windows(2).map(term).collect();
    ///     x[0].tape().sum(&terms)
    /// }
    ///
    /// let mut tape = Tape::new();
    /// let mut gradient = [0.0; 3];
    /// for x in [[1.0, 1.0, 1.0], [0.0, 0.0, 0.0]] {
    ///     let value = tape.grad_into(rosen, &x, &mut gradient).unwrap();
    ///     assert_eq!((value, gradient), if x[0] == 1.0 {
    ///         (0.0, [0.0, 0.0, 0.0])
    ///     } else {
    ///         (2.0, [-2.0, -2.0, 0.0])
    ///     });
    /// }
    /// ```
    pub fn grad_into<F>(&mut self, f: F, x: &[f64], gradient: &mut [f64]) -> Result<f64, TapeError>
    where
        F: for<'t> FnOnce(&[Var<'t>]) -> Var<'t>,
    {
        if gradient.len() != x.len() {
            return Err(TapeError::LengthMismatch {
                what: "gradient buffer",
                expected: x.len(),
                found: gradient.len(),
            });
        }
        self.clear();
        let mut inputs: Vec<Var<'_>> = recycle(std::mem::take(&mut self.inputs));
        let tape: &Tape = self;
        let first = tape.len.get();
        inputs.extend(x.iter().map(|&value| tape.var(value)));
        let output = f(&inputs);
        let value = output.value();
        if tape.owns(output) {
            let mut adjoints = tape.adjoints.take();
            tape.sweep(output.index(), &mut adjoints);
            // The inputs are the nodes first..first + n; those after the
            // output do not influence it.
            let known = adjoints.get(first..).unwrap_or(&[]);
            let known = &known[..known.len().min(gradient.len())];
            gradient[..known.len()].copy_from_slice(known);
            gradient[known.len()..].fill(0.0);
            tape.park_adjoints(adjoints);
        } else {
            gradient.fill(0.0);
        }
        self.inputs = recycle(inputs);
        // Clearing now rather than at the next call moves a first, spilled
        // recording into the slots, so that already the second call
        // allocates nothing.
        self.clear();
        Ok(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recycling_keeps_the_allocation() {
        let mut parked: Vec<ParkedVar> = Vec::with_capacity(64);
        let pointer = parked.as_ptr() as usize;
        let tape = Tape::new();
        let mut live: Vec<Var<'_>> = recycle(std::mem::take(&mut parked));
        assert_eq!(live.capacity(), 64);
        assert_eq!(live.as_ptr() as usize, pointer);
        live.push(tape.var(1.0));
        parked = recycle(live);
        assert!(parked.is_empty());
        assert_eq!(parked.capacity(), 64);
        assert_eq!(parked.as_ptr() as usize, pointer);
    }

    /// The address and capacity of every buffer the tape owns.
    fn buffers(tape: &Tape) -> [(usize, usize); 3] {
        let adjoints = tape.adjoints.take();
        let buffers = [
            (tape.slots.as_ptr() as usize, tape.capacity()),
            (tape.inputs.as_ptr() as usize, tape.inputs.capacity()),
            (adjoints.as_ptr() as usize, adjoints.capacity()),
        ];
        tape.adjoints.set(adjoints);
        buffers
    }

    #[test]
    fn repeated_calls_allocate_nothing_after_the_first() {
        fn f<'t>(x: &[Var<'t>]) -> Var<'t> {
            let mut s = x[0] * x[1];
            for &v in &x[2..] {
                s += v.sin() * v;
            }
            s
        }
        let x: Vec<f64> = (0..50).map(|i| f64::from(i) * 0.1).collect();
        let mut gradient = vec![0.0; x.len()];
        let mut tape = Tape::new();
        tape.grad_into(f, &x, &mut gradient).unwrap();
        let warm = buffers(&tape);
        assert!(warm.iter().all(|&(_, capacity)| capacity > 0));
        for _ in 0..5 {
            tape.grad_into(f, &x, &mut gradient).unwrap();
            assert_eq!(buffers(&tape), warm);
        }
    }

    #[test]
    fn a_foreign_output_has_zero_gradient() {
        let other: &'static Tape = Box::leak(Box::new(Tape::new()));
        let constant = other.var(7.0);
        let mut tape = Tape::new();
        let mut gradient = [1.0, 1.0];
        let value = tape
            .grad_into(|_| constant, &[1.0, 2.0], &mut gradient)
            .unwrap();
        assert_eq!((value, gradient), (7.0, [0.0, 0.0]));
    }

    #[test]
    fn a_wrong_buffer_length_is_an_error() {
        let mut tape = Tape::new();
        let error = tape.grad_into(|x| x[0], &[1.0, 2.0], &mut [0.0; 3]);
        assert_eq!(
            error,
            Err(TapeError::LengthMismatch {
                what: "gradient buffer",
                expected: 2,
                found: 3
            })
        );
    }
}
