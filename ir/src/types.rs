//! Element types, shapes and value types.
//!
//! A [`Type`] is an element type and a static [`Shape`]; `[]` is a scalar.
//! Shapes are lists of [`Dim`]s, which may mention size variables.

use crate::dim::{Dim, DimOverflow, SizeVar};
use std::fmt;

/// The element type of a value.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
pub enum Elem {
    /// IEEE-754 binary64.
    F64,
    /// IEEE-754 binary32.
    F32,
    /// 64-bit two's-complement integer (indices, counts).
    I64,
    /// Boolean (results of comparisons, `select` conditions).
    Bool,
}

impl Elem {
    /// All element types, in text order.
    pub const ALL: [Elem; 4] = [Elem::F64, Elem::F32, Elem::I64, Elem::Bool];

    /// Whether this is `f64` or `f32`.
    pub fn is_float(self) -> bool {
        matches!(self, Elem::F64 | Elem::F32)
    }

    /// Whether arithmetic is defined (floats and `i64`).
    pub fn is_numeric(self) -> bool {
        !matches!(self, Elem::Bool)
    }

    /// The name used in the text format.
    pub fn name(self) -> &'static str {
        match self {
            Elem::F64 => "f64",
            Elem::F32 => "f32",
            Elem::I64 => "i64",
            Elem::Bool => "bool",
        }
    }

    /// Parses a text-format name.
    pub fn from_name(s: &str) -> Option<Elem> {
        Elem::ALL.into_iter().find(|e| e.name() == s)
    }

    /// Size of one element in bytes, as stored in buffers (bool is one byte).
    pub fn byte_size(self) -> usize {
        match self {
            Elem::F64 | Elem::I64 => 8,
            Elem::F32 => 4,
            Elem::Bool => 1,
        }
    }
}

impl fmt::Display for Elem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A static shape: one [`Dim`] per axis, outermost first (row-major).
#[derive(Clone, PartialEq, Eq, Hash, Default, PartialOrd, Ord)]
pub struct Shape(pub Vec<Dim>);

impl Shape {
    /// The scalar shape `[]`.
    pub fn scalar() -> Shape {
        Shape(Vec::new())
    }

    /// A shape of known sizes.
    pub fn known(dims: &[usize]) -> Shape {
        Shape(dims.iter().map(|&d| Dim::from(d)).collect())
    }

    /// Number of axes.
    pub fn rank(&self) -> usize {
        self.0.len()
    }

    /// The dimensions.
    pub fn dims(&self) -> &[Dim] {
        &self.0
    }

    /// Whether this is the scalar shape.
    pub fn is_scalar(&self) -> bool {
        self.0.is_empty()
    }

    /// The number of elements, as a dimension.
    pub fn element_count(&self) -> Result<Dim, DimOverflow> {
        Dim::product(&self.0)
    }

    /// All sizes if known.
    pub fn as_known(&self) -> Option<Vec<usize>> {
        self.0
            .iter()
            .map(|d| d.known().and_then(|k| usize::try_from(k).ok()))
            .collect()
    }

    /// The size variables mentioned, each once, sorted.
    pub fn vars(&self) -> Vec<SizeVar> {
        let mut out: Vec<SizeVar> = self.0.iter().flat_map(Dim::vars).collect();
        out.sort();
        out.dedup();
        out
    }
}

impl From<Vec<Dim>> for Shape {
    fn from(v: Vec<Dim>) -> Shape {
        Shape(v)
    }
}

impl From<&[usize]> for Shape {
    fn from(v: &[usize]) -> Shape {
        Shape::known(v)
    }
}

impl<const N: usize> From<[usize; N]> for Shape {
    fn from(v: [usize; N]) -> Shape {
        Shape::known(&v)
    }
}

impl fmt::Display for Shape {
    /// `[n, 3]`; the scalar shape prints as `[]`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[")?;
        for (i, d) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{d}")?;
        }
        f.write_str("]")
    }
}

impl fmt::Debug for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// The type of a value: element type and shape.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Type {
    /// Element type.
    pub elem: Elem,
    /// Shape (`[]` for scalars).
    pub shape: Shape,
}

impl Type {
    /// A type from an element type and a shape.
    pub fn new(elem: Elem, shape: impl Into<Shape>) -> Type {
        Type {
            elem,
            shape: shape.into(),
        }
    }

    /// A scalar of the given element type.
    pub fn scalar(elem: Elem) -> Type {
        Type::new(elem, Shape::scalar())
    }

    /// `f64[dims]`.
    pub fn f64(dims: &[usize]) -> Type {
        Type::new(Elem::F64, Shape::known(dims))
    }

    /// `f32[dims]`.
    pub fn f32(dims: &[usize]) -> Type {
        Type::new(Elem::F32, Shape::known(dims))
    }

    /// The same shape with another element type.
    pub fn with_elem(&self, elem: Elem) -> Type {
        Type {
            elem,
            shape: self.shape.clone(),
        }
    }

    /// Whether the shape is `[]`.
    pub fn is_scalar(&self) -> bool {
        self.shape.is_scalar()
    }

    /// Number of axes.
    pub fn rank(&self) -> usize {
        self.shape.rank()
    }
}

impl fmt::Display for Type {
    /// `f64` for scalars, `f64[n, 3]` otherwise.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.shape.is_scalar() {
            write!(f, "{}", self.elem)
        } else {
            write!(f, "{}{}", self.elem, self.shape)
        }
    }
}

impl fmt::Debug for Type {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}
