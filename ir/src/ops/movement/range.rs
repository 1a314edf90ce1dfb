//! Range: `start, start + delta, ..` up to (not including) `limit`.
//!
//! The operands decide the output's length, so their values must be known at
//! compile time. As the ONNX reference (numpy `arange` on Python scalars) does,
//! floats are computed in f64 and rounded to the dtype; integers are exact.

use crate::{DType, Fact, OpResult, Tensor, TensorType, op_bail, op_ensure};

use super::super::Semantics;
use super::{RangeOp, at_most, required};

/// The three operands' values, checked: numeric scalars of one dtype.
struct Bounds<'a> {
    dtype: DType,
    start: &'a Tensor,
    limit: &'a Tensor,
    delta: &'a Tensor,
}

impl<'a> Bounds<'a> {
    fn new(start: &'a Tensor, limit: &'a Tensor, delta: &'a Tensor) -> OpResult<Bounds<'a>> {
        let dtype = start.dtype();
        for (name, t) in [("start", start), ("limit", limit), ("delta", delta)] {
            op_ensure!(
                t.dtype() == dtype,
                "{name} is {}, start is {dtype}: dtypes differ",
                t.dtype()
            );
            op_ensure!(
                t.len() == 1,
                "{name} must be a scalar, has shape {:?}",
                t.shape()
            );
        }
        op_ensure!(dtype != DType::Bool, "Range does not take bool operands");
        Ok(Bounds {
            dtype,
            start,
            limit,
            delta,
        })
    }

    fn ints(&self) -> [i128; 3] {
        [self.start, self.limit, self.delta].map(|t| t.to_i64_vec()[0] as i128)
    }

    fn floats(&self) -> [f64; 3] {
        [self.start, self.limit, self.delta].map(|t| t.to_f64_vec()[0])
    }

    /// `max(ceil((limit - start) / delta), 0)`.
    fn len(&self) -> OpResult<usize> {
        let n = if self.dtype.is_float() {
            let [start, limit, delta] = self.floats();
            op_ensure!(delta != 0.0, "delta must not be 0");
            let n = ((limit - start) / delta).ceil().max(0.0);
            op_ensure!(
                n.is_finite(),
                "Range from {start} to {limit} by {delta} has no end"
            );
            n as i128
        } else {
            let [start, limit, delta] = self.ints();
            op_ensure!(delta != 0, "delta must not be 0");
            let (span, step) = if delta > 0 {
                (limit - start, delta)
            } else {
                (start - limit, -delta)
            };
            if span <= 0 {
                0
            } else {
                (span + step - 1) / step
            }
        };
        usize::try_from(n).map_err(|_| format!("Range would have {n} elements").into())
    }

    fn values(&self) -> OpResult<Tensor> {
        let n = self.len()?;
        if self.dtype.is_float() {
            let [start, _, delta] = self.floats();
            let values: Vec<f64> = (0..n).map(|i| start + i as f64 * delta).collect();
            Tensor::from_f64_values(self.dtype, vec![n], &values)
        } else {
            let [start, _, delta] = self.ints();
            // Every value lies between start and limit, so it fits the dtype.
            let values: Vec<i64> = (0..n).map(|i| (start + i as i128 * delta) as i64).collect();
            Tensor::from_i64_values(self.dtype, vec![n], &values)
        }
    }
}

fn operands<T: Copy>(inputs: &[Option<T>]) -> OpResult<[T; 3]> {
    at_most(inputs, 3)?;
    Ok([
        required(inputs, 0, "start")?,
        required(inputs, 1, "limit")?,
        required(inputs, 2, "delta")?,
    ])
}

impl Semantics for RangeOp {
    fn infer(&self, inputs: &[Option<Fact>], _num_outputs: usize) -> OpResult<Vec<TensorType>> {
        let facts = operands(inputs)?;
        let [Some(start), Some(limit), Some(delta)] = facts.map(|f| f.value) else {
            op_bail!("start, limit and delta must be known at compile time");
        };
        let bounds = Bounds::new(start, limit, delta)?;
        Ok(vec![TensorType::new(bounds.dtype, vec![bounds.len()?])])
    }

    fn eval(&self, inputs: &[Option<&Tensor>], _num_outputs: usize) -> OpResult<Vec<Tensor>> {
        let [start, limit, delta] = operands(inputs)?;
        Ok(vec![Bounds::new(start, limit, delta)?.values()?])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn range<T: crate::Element>(start: T, limit: T, delta: T) -> OpResult<Tensor> {
        let [s, l, d] = [start, limit, delta].map(Tensor::scalar);
        Ok(RangeOp.eval(&[Some(&s), Some(&l), Some(&d)], 1)?.remove(0))
    }

    #[test]
    fn spec_examples() {
        assert_eq!(range(3i32, 9, 3).unwrap().to_vec::<i32>().unwrap(), [3, 6]);
        let y = range(10.0f32, 4.0, -3.0).unwrap();
        assert_eq!(y.to_vec::<f32>().unwrap(), [10.0, 7.0]);
    }

    #[test]
    fn lengths_and_edges() {
        assert_eq!(
            range(0i64, 10, 3).unwrap().to_vec::<i64>().unwrap(),
            [0, 3, 6, 9]
        );
        assert_eq!(range(5i16, 5, 1).unwrap().shape(), [0]);
        assert_eq!(range(5i16, 0, 1).unwrap().shape(), [0]);
        assert_eq!(
            range(-1i64, -7, -2).unwrap().to_vec::<i64>().unwrap(),
            [-1, -3, -5]
        );
        // Exact near the top of the type.
        let top = range(i64::MAX - 2, i64::MAX, 1).unwrap();
        assert_eq!(top.to_vec::<i64>().unwrap(), [i64::MAX - 2, i64::MAX - 1]);
        let y = range(0.0f64, 1.0, 0.25).unwrap();
        assert_eq!(y.to_vec::<f64>().unwrap(), [0.0, 0.25, 0.5, 0.75]);
        let y = range(
            crate::f16::from_f32(0.0),
            crate::f16::from_f32(1.5),
            crate::f16::from_f32(0.5),
        )
        .unwrap();
        assert_eq!(y.dtype(), DType::F16);
        assert_eq!(y.len(), 3);
        assert!(range(0i32, 4, 0).is_err());
        assert!(range(0.0f32, 4.0, 0.0).is_err());
        assert!(range(0.0f32, f32::INFINITY, 1.0).is_err());
        assert!(range(true, true, true).is_err());
    }

    #[test]
    fn infer_needs_known_operands() {
        let [s, l, d] = [0i32, 5, 2].map(Tensor::scalar);
        let ty = TensorType::new(DType::I32, vec![]);
        let known = |t| {
            Some(Fact {
                ty: &ty,
                value: Some(t),
            })
        };
        let types = RangeOp
            .infer(&[known(&s), known(&l), known(&d)], 1)
            .unwrap();
        assert_eq!(types, [TensorType::new(DType::I32, vec![3])]);
        let unknown = Some(Fact {
            ty: &ty,
            value: None,
        });
        assert!(RangeOp.infer(&[known(&s), unknown, known(&d)], 1).is_err());
        let mixed = Tensor::scalar(2i64);
        assert!(
            RangeOp
                .eval(&[Some(&s), Some(&l), Some(&mixed)], 1)
                .is_err()
        );
    }
}
