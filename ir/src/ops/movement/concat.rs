//! Concat and Split: joining operands along one axis, and cutting one apart.
//!
//! Both are row copies: with `outer` the product of the dims before the axis, each
//! operand is `outer` contiguous chunks of `its axis length × inner` elements.

use bytes::Bytes;

use crate::{Fact, OpResult, Tensor, TensorType, op_ensure};

use super::super::Semantics;
use super::{at_most, required, type_of};

/// Operands: any number of tensors (at least one) joined along `axis`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Concat {
    pub axis: usize,
}

/// One output per entry of `sizes` along `axis`. Operand: data.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Split {
    pub axis: usize,
    pub sizes: Vec<usize>,
}

impl Concat {
    fn output_type(&self, operands: &[&TensorType]) -> OpResult<TensorType> {
        let Some(first) = operands.first() else {
            return Err("Concat needs at least one operand".into());
        };
        let axis = self.axis;
        op_ensure!(
            axis < first.rank(),
            "axis {axis} is out of range for rank {}",
            first.rank()
        );
        let mut shape = first.shape.clone();
        shape[axis] = 0;
        for (i, ty) in operands.iter().enumerate() {
            op_ensure!(
                ty.dtype == first.dtype,
                "operand {i} is {ty}, operand 0 is {first}: dtypes differ"
            );
            let same_except_axis = ty.rank() == first.rank()
                && (0..ty.rank()).all(|d| d == axis || ty.shape[d] == first.shape[d]);
            op_ensure!(
                same_except_axis,
                "operand {i} is {ty}, operand 0 is {first}: they differ outside axis {axis}"
            );
            shape[axis] += ty.shape[axis];
        }
        Ok(TensorType::new(first.dtype, shape))
    }
}

/// Every operand, all of which must be present.
fn all_present<T: Copy>(inputs: &[Option<T>]) -> OpResult<Vec<T>> {
    (0..inputs.len())
        .map(|i| required(inputs, i, "concatenated"))
        .collect()
}

impl Semantics for Concat {
    fn infer(&self, inputs: &[Option<Fact>], _num_outputs: usize) -> OpResult<Vec<TensorType>> {
        let types: Vec<&TensorType> = all_present(inputs)?.iter().map(|f| f.ty).collect();
        Ok(vec![self.output_type(&types)?])
    }

    fn eval(&self, inputs: &[Option<&Tensor>], _num_outputs: usize) -> OpResult<Vec<Tensor>> {
        let operands = all_present(inputs)?;
        let types: Vec<TensorType> = operands.iter().map(|t| type_of(t)).collect();
        let ty = self.output_type(&types.iter().collect::<Vec<_>>())?;
        let outer: usize = ty.shape[..self.axis].iter().product();
        // Bytes of one chunk of each operand.
        let chunks: Vec<usize> = operands
            .iter()
            .map(|t| t.shape()[self.axis..].iter().product::<usize>() * ty.dtype.size())
            .collect();
        let mut out = Vec::with_capacity(ty.bytes());
        for o in 0..outer {
            for (t, &chunk) in operands.iter().zip(&chunks) {
                out.extend_from_slice(&t.bytes()[o * chunk..(o + 1) * chunk]);
            }
        }
        Ok(vec![Tensor::from_bytes(
            ty.dtype,
            ty.shape,
            Bytes::from(out),
        )?])
    }
}

impl Split {
    /// ONNX Split's operands resolved for an operand of shape `dims`: the `split`
    /// sizes if given, else `num_outputs` parts of `ceil(len / num_outputs)` with the
    /// last one smaller when the axis does not divide evenly (opset 18).
    pub fn resolve(
        dims: &[usize],
        axis: i64,
        split: Option<&[i64]>,
        num_outputs: usize,
    ) -> OpResult<Split> {
        let axis = crate::shape::normalize_axis(axis, dims.len())?;
        let len = dims[axis];
        let sizes = match split {
            Some(split) => split
                .iter()
                .map(|&s| {
                    usize::try_from(s).map_err(|_| format!("split {split:?} has a negative size"))
                })
                .collect::<Result<Vec<usize>, String>>()?,
            None => {
                op_ensure!(num_outputs > 0, "Split needs at least one output");
                let part = len.div_ceil(num_outputs);
                let before_last = part * (num_outputs - 1);
                op_ensure!(
                    before_last <= len,
                    "cannot split {len} elements into {num_outputs} parts of {part}"
                );
                let mut sizes = vec![part; num_outputs - 1];
                sizes.push(len - before_last);
                sizes
            }
        };
        let split = Split { axis, sizes };
        split.check(dims, num_outputs)?;
        Ok(split)
    }

    fn check(&self, dims: &[usize], num_outputs: usize) -> OpResult<()> {
        op_ensure!(
            self.axis < dims.len(),
            "axis {} is out of range for rank {}",
            self.axis,
            dims.len()
        );
        op_ensure!(
            num_outputs == self.sizes.len(),
            "the node has {num_outputs} outputs for {} split sizes",
            self.sizes.len()
        );
        let total: usize = self.sizes.iter().sum();
        op_ensure!(
            total == dims[self.axis],
            "split sizes {:?} add up to {total}, axis {} of {dims:?} has {}",
            self.sizes,
            self.axis,
            dims[self.axis]
        );
        Ok(())
    }

    fn output_types(&self, input: &TensorType, num_outputs: usize) -> OpResult<Vec<TensorType>> {
        self.check(&input.shape, num_outputs)?;
        let part = |&size: &usize| {
            let mut shape = input.shape.clone();
            shape[self.axis] = size;
            TensorType::new(input.dtype, shape)
        };
        Ok(self.sizes.iter().map(part).collect())
    }
}

impl Semantics for Split {
    fn infer(&self, inputs: &[Option<Fact>], num_outputs: usize) -> OpResult<Vec<TensorType>> {
        at_most(inputs, 1)?;
        self.output_types(required(inputs, 0, "data")?.ty, num_outputs)
    }

    fn eval(&self, inputs: &[Option<&Tensor>], num_outputs: usize) -> OpResult<Vec<Tensor>> {
        at_most(inputs, 1)?;
        let data = required(inputs, 0, "data")?;
        let types = self.output_types(&type_of(data), num_outputs)?;
        let shape = data.shape();
        let outer: usize = shape[..self.axis].iter().product();
        // Bytes of one step along the axis, and of one whole row of the input.
        let step = shape[self.axis + 1..].iter().product::<usize>() * data.dtype().size();
        let row = shape[self.axis] * step;
        let mut start = 0;
        let mut outputs = Vec::with_capacity(types.len());
        for (ty, &size) in types.into_iter().zip(&self.sizes) {
            let chunk = size * step;
            let mut out = Vec::with_capacity(outer * chunk);
            for o in 0..outer {
                let at = o * row + start;
                out.extend_from_slice(&data.bytes()[at..at + chunk]);
            }
            start += chunk;
            outputs.push(Tensor::from_bytes(ty.dtype, ty.shape, Bytes::from(out))?);
        }
        Ok(outputs)
    }
}

#[cfg(test)]
mod tests {
    use crate::DType;

    use super::*;

    fn t(shape: &[usize], values: &[i32]) -> Tensor {
        Tensor::from_vec(shape.to_vec(), values.to_vec()).unwrap()
    }

    #[test]
    fn concat_along_each_axis() {
        let a = t(&[2, 2], &[1, 2, 3, 4]);
        let b = t(&[2, 1], &[5, 6]);
        let y = Concat { axis: 1 }
            .eval(&[Some(&a), Some(&b)], 1)
            .unwrap()
            .remove(0);
        assert_eq!(y.shape(), [2, 3]);
        assert_eq!(y.to_vec::<i32>().unwrap(), [1, 2, 5, 3, 4, 6]);
        let c = t(&[1, 2], &[7, 8]);
        let empty = t(&[0, 2], &[]);
        let y = Concat { axis: 0 }
            .eval(&[Some(&a), Some(&empty), Some(&c)], 1)
            .unwrap()
            .remove(0);
        assert_eq!(y.shape(), [3, 2]);
        assert_eq!(y.to_vec::<i32>().unwrap(), [1, 2, 3, 4, 7, 8]);
    }

    #[test]
    fn concat_refuses_mismatches() {
        let a = t(&[2, 2], &[1, 2, 3, 4]);
        let b = t(&[2, 1], &[5, 6]);
        let f = Tensor::zeros(DType::F32, vec![2, 2]).unwrap();
        assert!(Concat { axis: 0 }.eval(&[Some(&a), Some(&b)], 1).is_err());
        assert!(Concat { axis: 2 }.eval(&[Some(&a)], 1).is_err());
        assert!(Concat { axis: 0 }.eval(&[Some(&a), Some(&f)], 1).is_err());
        assert!(Concat { axis: 0 }.eval(&[Some(&a), None], 1).is_err());
        assert!(Concat { axis: 0 }.eval(&[], 1).is_err());
        let s = Tensor::scalar(1i32);
        assert!(Concat { axis: 0 }.eval(&[Some(&s)], 1).is_err());
    }

    #[test]
    fn split_resolution() {
        let sizes = |r: OpResult<Split>| r.unwrap().sizes;
        assert_eq!(sizes(Split::resolve(&[2, 6], 1, None, 3)), [2, 2, 2]);
        assert_eq!(sizes(Split::resolve(&[7], 0, None, 3)), [3, 3, 1]);
        assert_eq!(sizes(Split::resolve(&[4], -1, None, 3)), [2, 2, 0]);
        assert!(Split::resolve(&[5], 0, None, 4).is_err());
        assert_eq!(sizes(Split::resolve(&[6], 0, Some(&[1, 5]), 2)), [1, 5]);
        assert!(Split::resolve(&[6], 0, Some(&[1, 4]), 2).is_err());
        assert!(Split::resolve(&[6], 0, Some(&[1, 5]), 3).is_err());
        assert!(Split::resolve(&[6], 0, Some(&[-1, 7]), 2).is_err());
        assert!(Split::resolve(&[6], 1, None, 2).is_err());
    }

    #[test]
    fn split_cuts_rows() {
        let x = t(&[2, 5], &[0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
        let op = Split {
            axis: 1,
            sizes: vec![2, 0, 3],
        };
        let parts = op.eval(&[Some(&x)], 3).unwrap();
        assert_eq!(parts[0].to_vec::<i32>().unwrap(), [0, 1, 5, 6]);
        assert_eq!(parts[1].shape(), [2, 0]);
        assert_eq!(parts[2].to_vec::<i32>().unwrap(), [2, 3, 4, 7, 8, 9]);
        assert!(op.eval(&[Some(&x)], 2).is_err());
        let rows = Split {
            axis: 0,
            sizes: vec![1, 1],
        }
        .eval(&[Some(&x)], 2)
        .unwrap();
        assert_eq!(rows[1].to_vec::<i32>().unwrap(), [5, 6, 7, 8, 9]);
        // Concat undoes Split.
        let parts: Vec<Option<&Tensor>> = parts.iter().map(Some).collect();
        assert_eq!(Concat { axis: 1 }.eval(&parts, 1).unwrap()[0], x);
    }
}
