//! Transpose: output dim `i` is input dim `perm[i]`.

use crate::{Fact, OpResult, Tensor, TensorType, op_ensure};

use super::super::Semantics;
use super::layout::{self, Tables};
use super::{at_most, required, type_of};

/// Operand: data.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transpose {
    pub perm: Vec<usize>,
}

impl Transpose {
    /// ONNX Transpose's `perm` attribute for an operand of `rank`; absent means the
    /// dims reversed.
    pub fn resolve(rank: usize, perm: Option<&[i64]>) -> OpResult<Transpose> {
        let perm = match perm {
            None => (0..rank).rev().collect(),
            Some(p) => p
                .iter()
                .map(|&a| usize::try_from(a).map_err(|_| format!("perm {p:?} has a negative axis")))
                .collect::<Result<Vec<usize>, String>>()?,
        };
        check_permutation(&perm, rank)?;
        Ok(Transpose { perm })
    }

    fn output_type(&self, input: &TensorType) -> OpResult<TensorType> {
        check_permutation(&self.perm, input.rank())?;
        let shape = self.perm.iter().map(|&p| input.shape[p]).collect();
        Ok(TensorType::new(input.dtype, shape))
    }
}

fn check_permutation(perm: &[usize], rank: usize) -> OpResult<()> {
    let mut seen = vec![false; rank];
    op_ensure!(perm.len() == rank, "perm {perm:?} does not fit rank {rank}");
    for &p in perm {
        op_ensure!(
            p < rank && !seen[p],
            "perm {perm:?} is not a permutation of 0..{rank}"
        );
        seen[p] = true;
    }
    Ok(())
}

/// Tables reading `view` (a row-major shape of the source's elements) with its dims
/// permuted by `perm`, which must be a permutation of the view's dims.
pub(super) fn permuted(view: &[usize], perm: &[usize]) -> Tables {
    let strides = crate::shape::strides(view);
    perm.iter()
        .map(|&p| layout::strided(view[p], strides[p]))
        .collect()
}

impl Semantics for Transpose {
    fn infer(&self, inputs: &[Option<Fact>], _num_outputs: usize) -> OpResult<Vec<TensorType>> {
        at_most(inputs, 1)?;
        Ok(vec![self.output_type(required(inputs, 0, "data")?.ty)?])
    }

    fn eval(&self, inputs: &[Option<&Tensor>], _num_outputs: usize) -> OpResult<Vec<Tensor>> {
        at_most(inputs, 1)?;
        let data = required(inputs, 0, "data")?;
        let ty = self.output_type(&type_of(data))?;
        let tables = permuted(data.shape(), &self.perm);
        Ok(vec![layout::gather(data, &tables, ty.shape)?])
    }
}

#[cfg(test)]
mod tests {
    use rand::Rng;

    use super::*;

    fn transpose(x: &Tensor, perm: &[usize]) -> Tensor {
        let op = Transpose {
            perm: perm.to_vec(),
        };
        op.eval(&[Some(x)], 1).unwrap().remove(0)
    }

    #[test]
    fn matrix_and_3d() {
        let x = Tensor::from_vec(vec![2, 3], vec![1i16, 2, 3, 4, 5, 6]).unwrap();
        let y = transpose(&x, &[1, 0]);
        assert_eq!(y.shape(), [3, 2]);
        assert_eq!(y.to_vec::<i16>().unwrap(), [1, 4, 2, 5, 3, 6]);
        let x = Tensor::from_vec(vec![2, 1, 2], vec![true, false, false, true]).unwrap();
        let y = transpose(&x, &[2, 0, 1]);
        assert_eq!(y.shape(), [2, 2, 1]);
        assert_eq!(y.to_vec::<bool>().unwrap(), [true, false, false, true]);
        let s = Tensor::scalar(7.5f64);
        assert_eq!(transpose(&s, &[]), s);
    }

    #[test]
    fn bad_perms_are_errors() {
        assert!(Transpose::resolve(3, Some(&[0, 0, 1])).is_err());
        assert!(Transpose::resolve(3, Some(&[0, 1])).is_err());
        assert!(Transpose::resolve(2, Some(&[-1, 0])).is_err());
        assert_eq!(Transpose::resolve(3, None).unwrap().perm, [2, 1, 0]);
        let x = Tensor::zeros(crate::DType::F32, vec![2, 2]).unwrap();
        let op = Transpose { perm: vec![0, 2] };
        assert!(op.eval(&[Some(&x)], 1).is_err());
    }

    /// Against a per-element multi-index computation, on random shapes and perms.
    #[test]
    fn matches_naive_transpose() {
        let mut rng = rand::rng();
        for _ in 0..200 {
            let rank = rng.random_range(0..5);
            let shape: Vec<usize> = (0..rank).map(|_| rng.random_range(0..4)).collect();
            let mut perm: Vec<usize> = (0..rank).collect();
            for i in (1..rank).rev() {
                perm.swap(i, rng.random_range(0..=i));
            }
            let len = shape.iter().product::<usize>();
            let x = Tensor::from_vec(shape.clone(), (0..len as i32).collect()).unwrap();
            let y = transpose(&x, &perm);
            let out_shape: Vec<usize> = perm.iter().map(|&p| shape[p]).collect();
            assert_eq!(y.shape(), out_shape.as_slice());
            let in_strides = crate::shape::strides(&shape);
            let out_strides = crate::shape::strides(&out_shape);
            let values = y.to_vec::<i32>().unwrap();
            for (flat, &v) in values.iter().enumerate() {
                let src: usize = (0..rank)
                    .map(|i| (flat / out_strides[i]) % out_shape[i] * in_strides[perm[i]])
                    .sum();
                assert_eq!(v as usize, src, "shape {shape:?} perm {perm:?}");
            }
        }
    }
}
