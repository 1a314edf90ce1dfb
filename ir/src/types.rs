//! Static tensor types and what shape inference knows about an operand.

use std::fmt;

use crate::{DType, Tensor};

/// The static type of a value: element type and shape. Every dimension is known.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct TensorType {
    pub dtype: DType,
    pub shape: Vec<usize>,
}

impl TensorType {
    pub fn new(dtype: DType, shape: Vec<usize>) -> Self {
        TensorType { dtype, shape }
    }

    pub fn rank(&self) -> usize {
        self.shape.len()
    }

    pub fn len(&self) -> usize {
        self.shape.iter().product()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn bytes(&self) -> usize {
        self.len() * self.dtype.size()
    }
}

impl fmt::Display for TensorType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let dims: Vec<String> = self.shape.iter().map(|d| d.to_string()).collect();
        write!(f, "{}[{}]", self.dtype, dims.join("x"))
    }
}

/// What shape inference knows about one operand: its type, and its value when the
/// value is known at compile time (a weight, or a small computed shape tensor).
#[derive(Clone, Copy, Debug)]
pub struct Fact<'a> {
    pub ty: &'a TensorType,
    pub value: Option<&'a Tensor>,
}
