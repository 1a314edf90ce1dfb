//! Expand and Tile: outputs that read input elements more than once. Both are a
//! gather whose offset tables revisit the input (stride 0 for a broadcast dim, a
//! coordinate taken modulo the dim for a tiled one).

use crate::{Fact, OpResult, Tensor, TensorType, op_ensure};

use super::super::Semantics;
use super::layout::{self, Tables};
use super::{at_most, required, type_of};

/// Broadcast of the operand with `shape` (ONNX Expand semantics: the output is the
/// numpy broadcast of both, so a 1 in `shape` keeps the operand's dim).
/// Operand: data.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Expand {
    pub shape: Vec<usize>,
}

/// Each dim repeated `repeats[d]` times. Operand: data.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tile {
    pub repeats: Vec<usize>,
}

fn non_negative(values: &[i64], what: &str) -> OpResult<Vec<usize>> {
    values
        .iter()
        .map(|&v| {
            usize::try_from(v).map_err(|_| format!("{what} {values:?} has a negative entry").into())
        })
        .collect()
}

impl Expand {
    /// ONNX Expand's `shape` operand.
    pub fn new(shape: &[i64]) -> OpResult<Expand> {
        Ok(Expand {
            shape: non_negative(shape, "Expand shape")?,
        })
    }

    fn output_type(&self, input: &TensorType) -> OpResult<TensorType> {
        let shape = crate::shape::broadcast(&input.shape, &self.shape)?;
        Ok(TensorType::new(input.dtype, shape))
    }
}

impl Semantics for Expand {
    fn infer(&self, inputs: &[Option<Fact>], _num_outputs: usize) -> OpResult<Vec<TensorType>> {
        at_most(inputs, 1)?;
        Ok(vec![self.output_type(required(inputs, 0, "data")?.ty)?])
    }

    fn eval(&self, inputs: &[Option<&Tensor>], _num_outputs: usize) -> OpResult<Vec<Tensor>> {
        at_most(inputs, 1)?;
        let data = required(inputs, 0, "data")?;
        let ty = self.output_type(&type_of(data))?;
        let shape = data.shape();
        let strides = crate::shape::strides(shape);
        // Input dims align with the output's last ones; leading and size-1 dims repeat.
        let lead = ty.rank() - shape.len();
        let tables: Tables = ty
            .shape
            .iter()
            .enumerate()
            .map(|(d, &n)| match d.checked_sub(lead) {
                Some(i) if shape[i] != 1 => layout::strided(n, strides[i]),
                _ => vec![0; n],
            })
            .collect();
        Ok(vec![layout::gather(data, &tables, ty.shape)?])
    }
}

impl Tile {
    /// ONNX Tile's `repeats` operand.
    pub fn resolve(repeats: &[i64]) -> OpResult<Tile> {
        Ok(Tile {
            repeats: non_negative(repeats, "Tile repeats")?,
        })
    }

    fn output_type(&self, input: &TensorType) -> OpResult<TensorType> {
        op_ensure!(
            self.repeats.len() == input.rank(),
            "{} repeats for an operand of rank {}",
            self.repeats.len(),
            input.rank()
        );
        let shape = input
            .shape
            .iter()
            .zip(&self.repeats)
            .map(|(&d, &r)| d.checked_mul(r).ok_or("tiled dim is too large"))
            .collect::<Result<_, _>>()?;
        Ok(TensorType::new(input.dtype, shape))
    }
}

impl Semantics for Tile {
    fn infer(&self, inputs: &[Option<Fact>], _num_outputs: usize) -> OpResult<Vec<TensorType>> {
        at_most(inputs, 1)?;
        Ok(vec![self.output_type(required(inputs, 0, "data")?.ty)?])
    }

    fn eval(&self, inputs: &[Option<&Tensor>], _num_outputs: usize) -> OpResult<Vec<Tensor>> {
        at_most(inputs, 1)?;
        let data = required(inputs, 0, "data")?;
        let ty = self.output_type(&type_of(data))?;
        let strides = crate::shape::strides(data.shape());
        // An output dim of n > 0 comes from an input dim of at least 1.
        let tables: Tables = data
            .shape()
            .iter()
            .zip(&ty.shape)
            .zip(strides)
            .map(|((&dim, &n), stride)| (0..n).map(|o| o % dim * stride).collect())
            .collect();
        Ok(vec![layout::gather(data, &tables, ty.shape)?])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expand_spec_examples() {
        // dim_changed: [3, 1] expanded with [2, 1, 6] -> [2, 3, 6].
        let x = Tensor::from_vec(vec![3, 1], vec![1.0f32, 2.0, 3.0]).unwrap();
        let y = Expand::new(&[2, 1, 6])
            .unwrap()
            .eval(&[Some(&x)], 1)
            .unwrap()
            .remove(0);
        assert_eq!(y.shape(), [2, 3, 6]);
        let v = y.to_vec::<f32>().unwrap();
        assert_eq!(
            &v[..12],
            [1.0; 6]
                .iter()
                .chain(&[2.0; 6])
                .copied()
                .collect::<Vec<_>>()
        );
        assert_eq!(&v[18..24], [1.0; 6]);
        // dim_unchanged: [3, 1] with [3, 4].
        let y = Expand::new(&[3, 4])
            .unwrap()
            .eval(&[Some(&x)], 1)
            .unwrap()
            .remove(0);
        assert_eq!(
            y.to_vec::<f32>().unwrap(),
            [1., 1., 1., 1., 2., 2., 2., 2., 3., 3., 3., 3.]
        );
        // A 1 in the shape keeps the operand's dim; a shorter shape is broadcast too.
        let x = Tensor::from_vec(vec![2, 2], vec![1i64, 2, 3, 4]).unwrap();
        let y = Expand::new(&[1])
            .unwrap()
            .eval(&[Some(&x)], 1)
            .unwrap()
            .remove(0);
        assert_eq!(y, x);
        assert!(Expand::new(&[3, 3]).unwrap().eval(&[Some(&x)], 1).is_err());
        assert!(Expand::new(&[-1]).is_err());
        let s = Tensor::scalar(true);
        let y = Expand::new(&[2, 0])
            .unwrap()
            .eval(&[Some(&s)], 1)
            .unwrap()
            .remove(0);
        assert_eq!(y.shape(), [2, 0]);
    }

    #[test]
    fn tile_repeats_each_dim() {
        let x = Tensor::from_vec(vec![2, 2], vec![0u16, 1, 2, 3]).unwrap();
        let y = Tile::resolve(&[2, 2])
            .unwrap()
            .eval(&[Some(&x)], 1)
            .unwrap()
            .remove(0);
        assert_eq!(y.shape(), [4, 4]);
        #[rustfmt::skip]
        assert_eq!(y.to_vec::<u16>().unwrap(), [
            0, 1, 0, 1,
            2, 3, 2, 3,
            0, 1, 0, 1,
            2, 3, 2, 3,
        ]);
        let y = Tile::resolve(&[1, 0])
            .unwrap()
            .eval(&[Some(&x)], 1)
            .unwrap()
            .remove(0);
        assert_eq!(y.shape(), [2, 0]);
        assert!(Tile::resolve(&[1, -1]).is_err());
        assert!(Tile::resolve(&[2]).unwrap().eval(&[Some(&x)], 1).is_err());
        let empty = Tensor::from_vec(vec![0, 2], Vec::<u16>::new()).unwrap();
        let y = Tile::resolve(&[3, 2])
            .unwrap()
            .eval(&[Some(&empty)], 1)
            .unwrap()
            .remove(0);
        assert_eq!(y.shape(), [0, 4]);
    }
}
