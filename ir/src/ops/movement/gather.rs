//! Gather (whole slices picked by an index tensor) and GatherElements (one element
//! per index, along one axis).

use crate::{DType, Fact, OpResult, Tensor, TensorType, op_ensure};

use super::super::Semantics;
use super::layout::{self, Tables};
use super::{at_most, required, type_of};

/// Operands: data, indices (i32/i64 of any rank, negative counting from the end).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Gather {
    pub axis: usize,
}

/// Operands: data, indices (i32/i64, same rank as data). The output has the shape
/// of indices.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GatherElements {
    pub axis: usize,
}

fn check_index_dtype(indices: &TensorType) -> OpResult<()> {
    op_ensure!(
        matches!(indices.dtype, DType::I32 | DType::I64),
        "indices must be i32 or i64, got {}",
        indices.dtype
    );
    Ok(())
}

/// The index values, negative ones wrapped, each checked against `len`.
fn resolved_indices(indices: &Tensor, len: usize) -> OpResult<Vec<usize>> {
    indices
        .to_i64_vec()
        .into_iter()
        .map(|i| {
            let wrapped = if i < 0 { i + len as i64 } else { i };
            usize::try_from(wrapped)
                .ok()
                .filter(|&w| w < len)
                .ok_or_else(|| format!("index {i} is out of range for an axis of {len}").into())
        })
        .collect()
}

impl Gather {
    fn output_type(&self, data: &TensorType, indices: &TensorType) -> OpResult<TensorType> {
        check_index_dtype(indices)?;
        op_ensure!(
            self.axis < data.rank(),
            "axis {} is out of range for data {data}",
            self.axis
        );
        let mut shape = data.shape[..self.axis].to_vec();
        shape.extend_from_slice(&indices.shape);
        shape.extend_from_slice(&data.shape[self.axis + 1..]);
        Ok(TensorType::new(data.dtype, shape))
    }
}

impl Semantics for Gather {
    fn infer(&self, inputs: &[Option<Fact>], _num_outputs: usize) -> OpResult<Vec<TensorType>> {
        at_most(inputs, 2)?;
        let data = required(inputs, 0, "data")?;
        let indices = required(inputs, 1, "indices")?;
        Ok(vec![self.output_type(data.ty, indices.ty)?])
    }

    fn eval(&self, inputs: &[Option<&Tensor>], _num_outputs: usize) -> OpResult<Vec<Tensor>> {
        at_most(inputs, 2)?;
        let data = required(inputs, 0, "data")?;
        let indices = required(inputs, 1, "indices")?;
        let ty = self.output_type(&type_of(data), &type_of(indices))?;
        let shape = data.shape();
        let strides = crate::shape::strides(shape);
        // The output seen as [dims before axis, all indices flattened, dims after].
        let picked = resolved_indices(indices, shape[self.axis])?;
        let mut tables: Tables = (0..self.axis)
            .map(|d| layout::strided(shape[d], strides[d]))
            .collect();
        tables.push(picked.iter().map(|&i| i * strides[self.axis]).collect());
        tables.extend((self.axis + 1..shape.len()).map(|d| layout::strided(shape[d], strides[d])));
        Ok(vec![layout::gather(data, &tables, ty.shape)?])
    }
}

impl GatherElements {
    fn output_type(&self, data: &TensorType, indices: &TensorType) -> OpResult<TensorType> {
        check_index_dtype(indices)?;
        op_ensure!(
            self.axis < data.rank(),
            "axis {} is out of range for data {data}",
            self.axis
        );
        let fits = indices.rank() == data.rank()
            && (0..data.rank()).all(|d| d == self.axis || indices.shape[d] <= data.shape[d]);
        op_ensure!(
            fits,
            "indices {indices} do not fit data {data} outside axis {}",
            self.axis
        );
        Ok(TensorType::new(data.dtype, indices.shape.clone()))
    }
}

impl Semantics for GatherElements {
    fn infer(&self, inputs: &[Option<Fact>], _num_outputs: usize) -> OpResult<Vec<TensorType>> {
        at_most(inputs, 2)?;
        let data = required(inputs, 0, "data")?;
        let indices = required(inputs, 1, "indices")?;
        Ok(vec![self.output_type(data.ty, indices.ty)?])
    }

    fn eval(&self, inputs: &[Option<&Tensor>], _num_outputs: usize) -> OpResult<Vec<Tensor>> {
        at_most(inputs, 2)?;
        let data = required(inputs, 0, "data")?;
        let indices = required(inputs, 1, "indices")?;
        let ty = self.output_type(&type_of(data), &type_of(indices))?;
        let picked = resolved_indices(indices, data.shape()[self.axis])?;
        let strides = crate::shape::strides(data.shape());
        let out_strides = crate::shape::strides(&ty.shape);
        let size = data.dtype().size();
        let mut out = Vec::with_capacity(ty.bytes());
        for (flat, &index) in picked.iter().enumerate() {
            // The output coordinate, with the axis coordinate replaced by the index.
            let offset: usize = (0..ty.rank())
                .map(|d| {
                    let coord = if d == self.axis {
                        index
                    } else {
                        flat / out_strides[d] % ty.shape[d]
                    };
                    coord * strides[d]
                })
                .sum();
            out.extend_from_slice(&data.bytes()[offset * size..(offset + 1) * size]);
        }
        Ok(vec![Tensor::from_bytes(ty.dtype, ty.shape, out.into())?])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gather(axis: usize, data: &Tensor, indices: &Tensor) -> OpResult<Tensor> {
        Ok(Gather { axis }
            .eval(&[Some(data), Some(indices)], 1)?
            .remove(0))
    }

    #[test]
    fn gather_spec_examples() {
        let data = Tensor::from_vec(vec![3, 2], vec![1.0f32, 1.2, 2.3, 3.4, 4.5, 5.7]).unwrap();
        let idx = Tensor::from_vec(vec![2, 2], vec![0i64, 1, 1, 2]).unwrap();
        let y = gather(0, &data, &idx).unwrap();
        assert_eq!(y.shape(), [2, 2, 2]);
        assert_eq!(
            y.to_vec::<f32>().unwrap(),
            [1.0, 1.2, 2.3, 3.4, 2.3, 3.4, 4.5, 5.7]
        );
        let data = Tensor::from_vec(
            vec![3, 3],
            vec![1.0f32, 1.2, 1.9, 2.3, 3.4, 3.9, 4.5, 5.7, 5.9],
        )
        .unwrap();
        let idx = Tensor::from_vec(vec![1, 2], vec![0i32, 2]).unwrap();
        let y = gather(1, &data, &idx).unwrap();
        assert_eq!(y.shape(), [3, 1, 2]);
        assert_eq!(y.to_vec::<f32>().unwrap(), [1.0, 1.9, 2.3, 3.9, 4.5, 5.9]);
    }

    #[test]
    fn gather_scalar_and_negative_indices() {
        let data = Tensor::from_vec(vec![2, 3], vec![1u8, 2, 3, 4, 5, 6]).unwrap();
        let y = gather(1, &data, &Tensor::scalar(-1i64)).unwrap();
        assert_eq!(y.shape(), [2]);
        assert_eq!(y.to_vec::<u8>().unwrap(), [3, 6]);
        let empty = Tensor::from_vec(vec![0], Vec::<i32>::new()).unwrap();
        assert_eq!(gather(0, &data, &empty).unwrap().shape(), [0, 3]);
        assert!(gather(1, &data, &Tensor::scalar(3i64)).is_err());
        assert!(gather(1, &data, &Tensor::scalar(-4i64)).is_err());
        assert!(gather(2, &data, &Tensor::scalar(0i64)).is_err());
        assert!(gather(0, &data, &Tensor::scalar(0.0f32)).is_err());
    }

    #[test]
    fn gather_elements_spec_examples() {
        let op = GatherElements { axis: 1 };
        let data = Tensor::from_vec(vec![2, 2], vec![1i32, 2, 3, 4]).unwrap();
        let idx = Tensor::from_vec(vec![2, 2], vec![0i64, 0, 1, 0]).unwrap();
        let y = op.eval(&[Some(&data), Some(&idx)], 1).unwrap().remove(0);
        assert_eq!(y.to_vec::<i32>().unwrap(), [1, 1, 4, 3]);
        let op = GatherElements { axis: 0 };
        let data = Tensor::from_vec(vec![3, 3], (1..=9).collect::<Vec<i32>>()).unwrap();
        let idx = Tensor::from_vec(vec![2, 3], vec![1i32, 2, 0, 2, 0, -3]).unwrap();
        let y = op.eval(&[Some(&data), Some(&idx)], 1).unwrap().remove(0);
        assert_eq!(y.shape(), [2, 3]);
        assert_eq!(y.to_vec::<i32>().unwrap(), [4, 8, 3, 7, 2, 3]);
        let bad = Tensor::from_vec(vec![1, 1], vec![3i64]).unwrap();
        assert!(op.eval(&[Some(&data), Some(&bad)], 1).is_err());
        let wide = Tensor::from_vec(vec![1, 4], vec![0i64; 4]).unwrap();
        assert!(op.eval(&[Some(&data), Some(&wide)], 1).is_err());
    }
}
