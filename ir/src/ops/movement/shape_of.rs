//! Ops about shapes rather than values: Shape, Size and ConstantOfShape.

use bytes::Bytes;

use crate::{DType, Fact, OpResult, Tensor, TensorType, op_ensure};

use super::super::Semantics;
use super::{SizeOp, at_most, required};

/// The operand's dims `[start, end)` as an i64 vector (ONNX clamping rules).
/// Operand: data (only its type is read).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shape {
    pub start: i64,
    pub end: Option<i64>,
}

/// A tensor of the operand's shape filled with `value` (a one-element tensor).
/// Operand: the shape, an i64 vector whose value must be known at compile time.
#[derive(Clone, Debug, PartialEq)]
pub struct ConstantOfShape {
    pub value: Tensor,
}

impl Shape {
    /// The dims this op reports for an operand of shape `dims`: `[start, end)` with
    /// negative bounds counted from the end and both clamped to `[0, rank]`.
    pub fn dims_of(&self, dims: &[usize]) -> Vec<i64> {
        let rank = dims.len() as i64;
        let clamp = |i: i64| {
            if i < 0 {
                (i + rank).max(0)
            } else {
                i.min(rank)
            }
        };
        let start = clamp(self.start) as usize;
        let end = clamp(self.end.unwrap_or(rank)) as usize;
        dims[start..end.max(start)]
            .iter()
            .map(|&d| d as i64)
            .collect()
    }
}

impl Semantics for Shape {
    fn infer(&self, inputs: &[Option<Fact>], _num_outputs: usize) -> OpResult<Vec<TensorType>> {
        at_most(inputs, 1)?;
        let n = self.dims_of(&required(inputs, 0, "data")?.ty.shape).len();
        Ok(vec![TensorType::new(DType::I64, vec![n])])
    }

    fn eval(&self, inputs: &[Option<&Tensor>], _num_outputs: usize) -> OpResult<Vec<Tensor>> {
        at_most(inputs, 1)?;
        let dims = self.dims_of(required(inputs, 0, "data")?.shape());
        Ok(vec![Tensor::from_vec(vec![dims.len()], dims)?])
    }
}

impl Semantics for SizeOp {
    fn infer(&self, inputs: &[Option<Fact>], _num_outputs: usize) -> OpResult<Vec<TensorType>> {
        at_most(inputs, 1)?;
        required(inputs, 0, "data")?;
        Ok(vec![TensorType::new(DType::I64, vec![])])
    }

    fn eval(&self, inputs: &[Option<&Tensor>], _num_outputs: usize) -> OpResult<Vec<Tensor>> {
        at_most(inputs, 1)?;
        let n = required(inputs, 0, "data")?.len();
        Ok(vec![Tensor::scalar(n as i64)])
    }
}

impl ConstantOfShape {
    /// ONNX ConstantOfShape's `value` attribute: a one-element tensor, f32 0 when
    /// absent.
    pub fn new(value: Option<Tensor>) -> OpResult<ConstantOfShape> {
        let value = value.unwrap_or_else(|| Tensor::scalar(0.0f32));
        op_ensure!(
            value.len() == 1,
            "ConstantOfShape value must have one element, has shape {:?}",
            value.shape()
        );
        Ok(ConstantOfShape { value })
    }

    fn output_type(&self, shape: &Tensor) -> OpResult<TensorType> {
        op_ensure!(
            self.value.len() == 1,
            "the value must have one element, has shape {:?}",
            self.value.shape()
        );
        op_ensure!(
            shape.dtype() == DType::I64 && shape.rank() == 1,
            "the shape operand must be an i64 vector, got {}{:?}",
            shape.dtype(),
            shape.shape()
        );
        let dims = shape
            .to_vec::<i64>()?
            .into_iter()
            .map(|d| usize::try_from(d).map_err(|_| format!("negative dim {d} in the shape")))
            .collect::<Result<Vec<usize>, String>>()?;
        dims.iter()
            .try_fold(1usize, |acc, &d| acc.checked_mul(d))
            .ok_or_else(|| format!("shape {dims:?} has too many elements"))?;
        Ok(TensorType::new(self.value.dtype(), dims))
    }
}

impl Semantics for ConstantOfShape {
    fn infer(&self, inputs: &[Option<Fact>], _num_outputs: usize) -> OpResult<Vec<TensorType>> {
        at_most(inputs, 1)?;
        let shape = required(inputs, 0, "shape")?;
        let value = shape
            .value
            .ok_or("the shape operand must be known at compile time")?;
        Ok(vec![self.output_type(value)?])
    }

    fn eval(&self, inputs: &[Option<&Tensor>], _num_outputs: usize) -> OpResult<Vec<Tensor>> {
        at_most(inputs, 1)?;
        let ty = self.output_type(required(inputs, 0, "shape")?)?;
        let bytes = self.value.bytes().repeat(ty.len());
        Ok(vec![Tensor::from_bytes(
            ty.dtype,
            ty.shape,
            Bytes::from(bytes),
        )?])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fact(t: &Tensor) -> (TensorType, Tensor) {
        (TensorType::new(t.dtype(), t.shape().to_vec()), t.clone())
    }

    #[test]
    fn shape_and_size() {
        let x = Tensor::zeros(DType::F16, vec![2, 3, 4]).unwrap();
        let whole = Shape {
            start: 0,
            end: None,
        };
        assert_eq!(
            whole.eval(&[Some(&x)], 1).unwrap()[0]
                .to_vec::<i64>()
                .unwrap(),
            [2, 3, 4]
        );
        let tail = Shape {
            start: -2,
            end: Some(10),
        };
        let y = tail.eval(&[Some(&x)], 1).unwrap().remove(0);
        assert_eq!(y.to_vec::<i64>().unwrap(), [3, 4]);
        let (ty, _) = fact(&x);
        let inferred = tail
            .infer(
                &[Some(Fact {
                    ty: &ty,
                    value: None,
                })],
                1,
            )
            .unwrap();
        assert_eq!(inferred, [TensorType::new(DType::I64, vec![2])]);
        let none = Shape {
            start: 2,
            end: Some(1),
        };
        assert_eq!(none.eval(&[Some(&x)], 1).unwrap()[0].shape(), [0]);
        let size = SizeOp.eval(&[Some(&x)], 1).unwrap().remove(0);
        assert_eq!(size, Tensor::scalar(24i64));
        assert!(SizeOp.eval(&[None], 1).is_err());
    }

    #[test]
    fn constant_of_shape() {
        let op =
            ConstantOfShape::new(Some(Tensor::from_vec(vec![1], vec![3i32]).unwrap())).unwrap();
        let shape = Tensor::from_vec(vec![2], vec![2i64, 3]).unwrap();
        let (ty, value) = fact(&shape);
        let known = Fact {
            ty: &ty,
            value: Some(&value),
        };
        assert_eq!(
            op.infer(&[Some(known)], 1).unwrap(),
            [TensorType::new(DType::I32, vec![2, 3])]
        );
        let unknown = Fact {
            ty: &ty,
            value: None,
        };
        assert!(op.infer(&[Some(unknown)], 1).is_err());
        let y = op.eval(&[Some(&shape)], 1).unwrap().remove(0);
        assert_eq!(y.to_vec::<i32>().unwrap(), [3; 6]);
        // An empty shape vector makes a scalar; the default value is f32 0.
        let scalar_shape = Tensor::from_vec(vec![0], Vec::<i64>::new()).unwrap();
        let y = ConstantOfShape::new(None)
            .unwrap()
            .eval(&[Some(&scalar_shape)], 1)
            .unwrap();
        assert_eq!(y[0], Tensor::scalar(0.0f32));
        let negative = Tensor::from_vec(vec![1], vec![-1i64]).unwrap();
        assert!(op.eval(&[Some(&negative)], 1).is_err());
        let wrong_dtype = Tensor::from_vec(vec![1], vec![2i32]).unwrap();
        assert!(op.eval(&[Some(&wrong_dtype)], 1).is_err());
        assert!(ConstantOfShape::new(Some(Tensor::zeros(DType::F32, vec![2]).unwrap())).is_err());
    }
}
