//! Concrete arrays: the inputs and outputs of evaluation.
//!
//! A [`Tensor`] owns row-major data of one element type and a concrete shape.
//! Invariant: the data length equals the product of the shape (checked by
//! every constructor, with checked arithmetic).

use crate::op::Scalar;
use crate::types::{Elem, Shape, Type};
use std::fmt;

/// Row-major element storage of one element type.
#[derive(Clone, PartialEq, Debug)]
pub enum Data {
    /// `f64` elements.
    F64(Vec<f64>),
    /// `f32` elements.
    F32(Vec<f32>),
    /// `i64` elements.
    I64(Vec<i64>),
    /// `bool` elements.
    Bool(Vec<bool>),
}

impl Data {
    /// Number of elements.
    pub fn len(&self) -> usize {
        match self {
            Data::F64(v) => v.len(),
            Data::F32(v) => v.len(),
            Data::I64(v) => v.len(),
            Data::Bool(v) => v.len(),
        }
    }

    /// Whether there are no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The element type.
    pub fn elem(&self) -> Elem {
        match self {
            Data::F64(_) => Elem::F64,
            Data::F32(_) => Elem::F32,
            Data::I64(_) => Elem::I64,
            Data::Bool(_) => Elem::Bool,
        }
    }

    /// Element `i` as a literal.
    pub fn get(&self, i: usize) -> Option<Scalar> {
        match self {
            Data::F64(v) => v.get(i).map(|&x| Scalar::F64(x)),
            Data::F32(v) => v.get(i).map(|&x| Scalar::F32(x)),
            Data::I64(v) => v.get(i).map(|&x| Scalar::I64(x)),
            Data::Bool(v) => v.get(i).map(|&x| Scalar::Bool(x)),
        }
    }

    /// `n` copies of a literal.
    pub fn splat(s: Scalar, n: usize) -> Data {
        match s {
            Scalar::F64(x) => Data::F64(vec![x; n]),
            Scalar::F32(x) => Data::F32(vec![x; n]),
            Scalar::I64(x) => Data::I64(vec![x; n]),
            Scalar::Bool(x) => Data::Bool(vec![x; n]),
        }
    }
}

/// The shape and data lengths disagree, or the shape is too large.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TensorError {
    /// The data length differs from the shape's element count.
    #[error("shape {shape:?} has {expected} elements but the data has {found}")]
    LengthMismatch {
        /// The shape.
        shape: Vec<usize>,
        /// Its element count.
        expected: usize,
        /// The data length.
        found: usize,
    },
    /// The element count overflows `usize`.
    #[error("shape {0:?} has too many elements")]
    TooLarge(Vec<usize>),
}

/// A concrete array: element data and a shape.
#[derive(Clone, PartialEq, Debug)]
pub struct Tensor {
    shape: Vec<usize>,
    data: Data,
}

impl Tensor {
    /// A tensor from data and a shape; the lengths must agree.
    pub fn new(shape: Vec<usize>, data: Data) -> Result<Tensor, TensorError> {
        let expected = shape
            .iter()
            .try_fold(1usize, |a, &d| a.checked_mul(d))
            .ok_or_else(|| TensorError::TooLarge(shape.clone()))?;
        if expected != data.len() {
            return Err(TensorError::LengthMismatch {
                shape,
                expected,
                found: data.len(),
            });
        }
        Ok(Tensor { shape, data })
    }

    /// An `f64` tensor.
    pub fn f64(shape: &[usize], data: Vec<f64>) -> Result<Tensor, TensorError> {
        Tensor::new(shape.to_vec(), Data::F64(data))
    }

    /// An `f32` tensor.
    pub fn f32(shape: &[usize], data: Vec<f32>) -> Result<Tensor, TensorError> {
        Tensor::new(shape.to_vec(), Data::F32(data))
    }

    /// An `i64` tensor.
    pub fn i64(shape: &[usize], data: Vec<i64>) -> Result<Tensor, TensorError> {
        Tensor::new(shape.to_vec(), Data::I64(data))
    }

    /// A `bool` tensor.
    pub fn bool(shape: &[usize], data: Vec<bool>) -> Result<Tensor, TensorError> {
        Tensor::new(shape.to_vec(), Data::Bool(data))
    }

    /// A scalar tensor.
    pub fn scalar(s: Scalar) -> Tensor {
        Tensor {
            shape: Vec::new(),
            data: Data::splat(s, 1),
        }
    }

    /// An `f64` scalar.
    pub fn from_f64(x: f64) -> Tensor {
        Tensor::scalar(Scalar::F64(x))
    }

    /// The shape.
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    /// The data.
    pub fn data(&self) -> &Data {
        &self.data
    }

    /// Takes the data out.
    pub fn into_data(self) -> Data {
        self.data
    }

    /// The element type.
    pub fn elem(&self) -> Elem {
        self.data.elem()
    }

    /// The number of elements.
    pub fn len(&self) -> usize {
        self.data.len()
    }

    /// Whether there are no elements.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// The IR type of this tensor.
    pub fn ty(&self) -> Type {
        Type::new(self.elem(), Shape::known(&self.shape))
    }

    /// The `f64` elements, if that is the element type.
    pub fn as_f64(&self) -> Option<&[f64]> {
        match &self.data {
            Data::F64(v) => Some(v),
            _ => None,
        }
    }

    /// The `f32` elements, if that is the element type.
    pub fn as_f32(&self) -> Option<&[f32]> {
        match &self.data {
            Data::F32(v) => Some(v),
            _ => None,
        }
    }

    /// The `i64` elements, if that is the element type.
    pub fn as_i64(&self) -> Option<&[i64]> {
        match &self.data {
            Data::I64(v) => Some(v),
            _ => None,
        }
    }

    /// The `bool` elements, if that is the element type.
    pub fn as_bool(&self) -> Option<&[bool]> {
        match &self.data {
            Data::Bool(v) => Some(v),
            _ => None,
        }
    }

    /// The single element of a one-element tensor as a literal.
    pub fn to_scalar(&self) -> Option<Scalar> {
        (self.len() == 1).then(|| self.data.get(0)).flatten()
    }

    /// Every element converted to `f64` (for comparisons and summaries).
    pub fn to_f64_vec(&self) -> Vec<f64> {
        match &self.data {
            Data::F64(v) => v.clone(),
            Data::F32(v) => v.iter().map(|&x| f64::from(x)).collect(),
            Data::I64(v) => v.iter().map(|&x| x as f64).collect(),
            Data::Bool(v) => v.iter().map(|&x| f64::from(u8::from(x))).collect(),
        }
    }
}

impl fmt::Display for Tensor {
    /// Scalars print their value; arrays print type and a short summary.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.shape.is_empty()
            && let Some(s) = self.data.get(0)
        {
            return write!(f, "{s}");
        }
        write!(f, "{}", self.ty())?;
        let n = self.len();
        let show = |f: &mut fmt::Formatter<'_>, range: std::ops::Range<usize>| -> fmt::Result {
            for i in range {
                if let Some(s) = self.data.get(i) {
                    write!(f, " {s}")?;
                }
            }
            Ok(())
        };
        f.write_str(" [")?;
        if n <= 6 {
            show(f, 0..n)?;
        } else {
            show(f, 0..3)?;
            f.write_str(" …")?;
            show(f, n - 3..n)?;
        }
        f.write_str(" ]")
    }
}
