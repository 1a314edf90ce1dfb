//! Reshape, and the ONNX ops that are reshapes once their operands are known:
//! Flatten, Squeeze, Unsqueeze.

use crate::{Fact, OpResult, Tensor, TensorType, op_bail, op_ensure};

use super::super::Semantics;
use super::{at_most, required, type_of};

/// Reshape (also Flatten, Squeeze, Unsqueeze) to a fully resolved shape.
/// Operand: data.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reshape {
    pub shape: Vec<usize>,
}

impl Reshape {
    /// ONNX Reshape's `shape` operand resolved against the input dims: 0 copies the
    /// input dim at the same position (unless `allowzero`, where it is a real 0), one
    /// -1 takes whatever is left.
    pub fn resolve(input: &[usize], shape: &[i64], allowzero: bool) -> OpResult<Reshape> {
        let mut dims = Vec::with_capacity(shape.len());
        let mut inferred = None;
        for (i, &d) in shape.iter().enumerate() {
            dims.push(match d {
                -1 => {
                    op_ensure!(inferred.is_none(), "shape {shape:?} has more than one -1");
                    inferred = Some(i);
                    1
                }
                0 if !allowzero => match input.get(i) {
                    Some(&n) => n,
                    None => op_bail!(
                        "shape {shape:?} copies dim {i} (a 0) but the input {input:?} has rank {}",
                        input.len()
                    ),
                },
                d if d < 0 => op_bail!("shape {shape:?} has a negative dim {d}"),
                d => usize::try_from(d).map_err(|_| format!("dim {d} is too large"))?,
            });
        }
        let len: usize = input.iter().product();
        if let Some(i) = inferred {
            op_ensure!(
                !(allowzero && shape.contains(&0)),
                "shape {shape:?} has both 0 and -1 with allowzero"
            );
            let known = checked_product(&dims)?;
            op_ensure!(
                known != 0 && len.is_multiple_of(known),
                "cannot infer the -1 of shape {shape:?} for input {input:?}"
            );
            dims[i] = len / known;
        }
        op_ensure!(
            checked_product(&dims)? == len,
            "cannot reshape {input:?} ({len} elements) to {shape:?}"
        );
        Ok(Reshape { shape: dims })
    }

    /// ONNX Flatten: the dims before `axis` and those from `axis` on, each collapsed
    /// into one. `axis` is in `[-rank, rank]`.
    pub fn flatten(input: &[usize], axis: i64) -> OpResult<Reshape> {
        let rank = input.len() as i64;
        op_ensure!(
            (-rank..=rank).contains(&axis),
            "Flatten axis {axis} is out of range for rank {rank}"
        );
        let axis = if axis < 0 { axis + rank } else { axis } as usize;
        let outer = input[..axis].iter().product();
        let inner = input[axis..].iter().product();
        Ok(Reshape {
            shape: vec![outer, inner],
        })
    }

    /// ONNX Squeeze: removes the listed dims, which must be 1, or every dim of 1 when
    /// `axes` is `None`.
    pub fn squeeze(input: &[usize], axes: Option<&[i64]>) -> OpResult<Reshape> {
        let Some(axes) = axes else {
            let shape = input.iter().copied().filter(|&d| d != 1).collect();
            return Ok(Reshape { shape });
        };
        let removed = axis_set(axes, input.len())?;
        for (axis, &remove) in removed.iter().enumerate() {
            op_ensure!(
                !remove || input[axis] == 1,
                "cannot squeeze dim {axis} of {input:?}: it is not 1"
            );
        }
        let shape = input
            .iter()
            .zip(&removed)
            .filter(|&(_, &remove)| !remove)
            .map(|(&d, _)| d)
            .collect();
        Ok(Reshape { shape })
    }

    /// ONNX Unsqueeze: inserts dims of 1 at `axes`, which count in the output's rank.
    pub fn unsqueeze(input: &[usize], axes: &[i64]) -> OpResult<Reshape> {
        let inserted = axis_set(axes, input.len() + axes.len())?;
        let mut dims = input.iter();
        let shape = inserted
            .iter()
            .map(|&insert| {
                if insert {
                    Some(1)
                } else {
                    dims.next().copied()
                }
            })
            .collect::<Option<Vec<usize>>>()
            .ok_or("Unsqueeze: inconsistent axes")?;
        Ok(Reshape { shape })
    }

    fn output_type(&self, input: &TensorType) -> OpResult<TensorType> {
        let len = checked_product(&self.shape)?;
        op_ensure!(
            len == input.len(),
            "cannot reshape {input} to {:?}: element counts differ",
            self.shape
        );
        Ok(TensorType::new(input.dtype, self.shape.clone()))
    }
}

/// Which of `rank` dims the (possibly negative, unique) `axes` name.
fn axis_set(axes: &[i64], rank: usize) -> OpResult<Vec<bool>> {
    let mut set = vec![false; rank];
    for &axis in axes {
        let a = crate::shape::normalize_axis(axis, rank)?;
        op_ensure!(!set[a], "axis {axis} is listed twice in {axes:?}");
        set[a] = true;
    }
    Ok(set)
}

fn checked_product(dims: &[usize]) -> OpResult<usize> {
    dims.iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .ok_or_else(|| format!("shape {dims:?} has too many elements").into())
}

impl Semantics for Reshape {
    fn infer(&self, inputs: &[Option<Fact>], _num_outputs: usize) -> OpResult<Vec<TensorType>> {
        at_most(inputs, 1)?;
        let data = required(inputs, 0, "data")?;
        Ok(vec![self.output_type(data.ty)?])
    }

    fn eval(&self, inputs: &[Option<&Tensor>], _num_outputs: usize) -> OpResult<Vec<Tensor>> {
        at_most(inputs, 1)?;
        let data = required(inputs, 0, "data")?;
        let ty = self.output_type(&type_of(data))?;
        Ok(vec![data.reshaped(ty.shape)?])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape(r: OpResult<Reshape>) -> Vec<usize> {
        r.unwrap().shape
    }

    #[test]
    fn resolve_copies_zeros_and_infers_minus_one() {
        assert_eq!(
            shape(Reshape::resolve(&[2, 3, 4], &[0, -1], false)),
            [2, 12]
        );
        assert_eq!(
            shape(Reshape::resolve(&[2, 3, 4], &[4, 0, 2], false)),
            [4, 3, 2]
        );
        assert_eq!(shape(Reshape::resolve(&[0, 3], &[3, 0], true)), [3, 0]);
        assert!(Reshape::resolve(&[2, 3], &[], false).is_err());
        assert_eq!(
            shape(Reshape::resolve(&[1], &[], false)),
            Vec::<usize>::new()
        );
        assert!(Reshape::resolve(&[2, 3, 4], &[-1, -1], false).is_err());
        assert!(Reshape::resolve(&[2, 3, 4], &[5, -1], false).is_err());
        assert!(Reshape::resolve(&[2, 3, 4], &[0, 0, 0, 0], false).is_err());
        assert!(Reshape::resolve(&[0, 3], &[0, -1], true).is_err());
        assert!(Reshape::resolve(&[2, 3], &[-2, 3], false).is_err());
    }

    #[test]
    fn flatten_squeeze_unsqueeze() {
        assert_eq!(shape(Reshape::flatten(&[2, 3, 4], 1)), [2, 12]);
        assert_eq!(shape(Reshape::flatten(&[2, 3, 4], 0)), [1, 24]);
        assert_eq!(shape(Reshape::flatten(&[2, 3, 4], 3)), [24, 1]);
        assert_eq!(shape(Reshape::flatten(&[2, 3, 4], -1)), [6, 4]);
        assert!(Reshape::flatten(&[2, 3, 4], 4).is_err());
        assert_eq!(shape(Reshape::squeeze(&[1, 3, 1, 5], None)), [3, 5]);
        assert_eq!(
            shape(Reshape::squeeze(&[1, 3, 1, 5], Some(&[-2]))),
            [1, 3, 5]
        );
        assert!(Reshape::squeeze(&[1, 3, 1, 5], Some(&[1])).is_err());
        assert!(Reshape::squeeze(&[1, 3], Some(&[0, -2])).is_err());
        assert_eq!(
            shape(Reshape::unsqueeze(&[3, 4, 5], &[0, 4])),
            [1, 3, 4, 5, 1]
        );
        assert_eq!(
            shape(Reshape::unsqueeze(&[3, 4, 5], &[2, -1])),
            [3, 4, 1, 5, 1]
        );
        assert_eq!(shape(Reshape::unsqueeze(&[], &[0])), [1]);
        assert!(Reshape::unsqueeze(&[3], &[0, 0]).is_err());
        assert!(Reshape::unsqueeze(&[3], &[2]).is_err());
    }

    #[test]
    fn reshape_keeps_the_bytes() {
        let x = Tensor::from_vec(vec![2, 3], (0..6).collect::<Vec<i32>>()).unwrap();
        let op = Reshape {
            shape: vec![3, 1, 2],
        };
        let y = op.eval(&[Some(&x)], 1).unwrap().remove(0);
        assert_eq!(y.shape(), [3, 1, 2]);
        assert_eq!(y.to_vec::<i32>().unwrap(), (0..6).collect::<Vec<i32>>());
        assert!(Reshape { shape: vec![4] }.eval(&[Some(&x)], 1).is_err());
    }
}
