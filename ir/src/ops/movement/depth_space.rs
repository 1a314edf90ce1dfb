//! DepthToSpace and SpaceToDepth: transposes of a 6-D view of an NCHW tensor.

use crate::{Fact, OpResult, Tensor, TensorType, op_ensure};

use super::super::Semantics;
use super::{at_most, layout, required, transpose::permuted, type_of};

/// Operand: an NCHW tensor whose channels hold `blocksize²` spatial blocks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DepthToSpace {
    pub blocksize: usize,
    /// CRD mode (column, row, depth); false = DCR.
    pub crd: bool,
}

/// Operand: an NCHW tensor whose H and W are multiples of `blocksize`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SpaceToDepth {
    pub blocksize: usize,
}

/// N, C, H, W of a rank-4 operand.
fn nchw(ty: &TensorType, op: &str) -> OpResult<[usize; 4]> {
    match ty.shape[..] {
        [n, c, h, w] => Ok([n, c, h, w]),
        _ => Err(format!("{op} needs a rank-4 NCHW operand, got {ty}").into()),
    }
}

impl DepthToSpace {
    /// The input's 6-D view and the permutation that makes it the output.
    fn plan(&self, input: &TensorType) -> OpResult<(TensorType, Vec<usize>, Vec<usize>)> {
        let [n, c, h, w] = nchw(input, "DepthToSpace")?;
        let b = self.blocksize;
        op_ensure!(b > 0, "blocksize must be positive");
        op_ensure!(
            c % (b * b) == 0,
            "DepthToSpace: {c} channels are not a multiple of blocksize² = {}",
            b * b
        );
        let out_c = c / (b * b);
        let (view, perm) = if self.crd {
            (vec![n, out_c, b, b, h, w], vec![0, 1, 4, 2, 5, 3])
        } else {
            (vec![n, b, b, out_c, h, w], vec![0, 3, 4, 1, 5, 2])
        };
        let ty = TensorType::new(input.dtype, vec![n, out_c, h * b, w * b]);
        Ok((ty, view, perm))
    }
}

impl SpaceToDepth {
    fn plan(&self, input: &TensorType) -> OpResult<(TensorType, Vec<usize>, Vec<usize>)> {
        let [n, c, h, w] = nchw(input, "SpaceToDepth")?;
        let b = self.blocksize;
        op_ensure!(b > 0, "blocksize must be positive");
        op_ensure!(
            h % b == 0 && w % b == 0,
            "SpaceToDepth: H = {h} and W = {w} must be multiples of blocksize {b}"
        );
        let view = vec![n, c, h / b, b, w / b, b];
        let perm = vec![0, 3, 5, 1, 2, 4];
        let ty = TensorType::new(input.dtype, vec![n, c * b * b, h / b, w / b]);
        Ok((ty, view, perm))
    }
}

impl Semantics for DepthToSpace {
    fn infer(&self, inputs: &[Option<Fact>], _num_outputs: usize) -> OpResult<Vec<TensorType>> {
        at_most(inputs, 1)?;
        Ok(vec![self.plan(required(inputs, 0, "data")?.ty)?.0])
    }

    fn eval(&self, inputs: &[Option<&Tensor>], _num_outputs: usize) -> OpResult<Vec<Tensor>> {
        at_most(inputs, 1)?;
        let data = required(inputs, 0, "data")?;
        let (ty, view, perm) = self.plan(&type_of(data))?;
        Ok(vec![layout::gather(
            data,
            &permuted(&view, &perm),
            ty.shape,
        )?])
    }
}

impl Semantics for SpaceToDepth {
    fn infer(&self, inputs: &[Option<Fact>], _num_outputs: usize) -> OpResult<Vec<TensorType>> {
        at_most(inputs, 1)?;
        Ok(vec![self.plan(required(inputs, 0, "data")?.ty)?.0])
    }

    fn eval(&self, inputs: &[Option<&Tensor>], _num_outputs: usize) -> OpResult<Vec<Tensor>> {
        at_most(inputs, 1)?;
        let data = required(inputs, 0, "data")?;
        let (ty, view, perm) = self.plan(&type_of(data))?;
        Ok(vec![layout::gather(
            data,
            &permuted(&view, &perm),
            ty.shape,
        )?])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The ONNX spec's example input: channel c holds 9c + (3h + w).
    fn spec_input() -> Tensor {
        let values: Vec<f32> = (0..8)
            .flat_map(|c| (0..6).map(move |hw| (9 * c + hw / 3 * 3 + hw % 3) as f32))
            .collect();
        Tensor::from_vec(vec![1, 8, 2, 3], values).unwrap()
    }

    #[test]
    fn depth_to_space_dcr_spec_example() {
        let op = DepthToSpace {
            blocksize: 2,
            crd: false,
        };
        let y = op.eval(&[Some(&spec_input())], 1).unwrap().remove(0);
        assert_eq!(y.shape(), [1, 2, 4, 6]);
        #[rustfmt::skip]
        let expected = [
            0., 18., 1., 19., 2., 20.,
            36., 54., 37., 55., 38., 56.,
            3., 21., 4., 22., 5., 23.,
            39., 57., 40., 58., 41., 59.,
            9., 27., 10., 28., 11., 29.,
            45., 63., 46., 64., 47., 65.,
            12., 30., 13., 31., 14., 32.,
            48., 66., 49., 67., 50., 68.,
        ];
        assert_eq!(y.to_vec::<f32>().unwrap(), expected);
    }

    #[test]
    fn depth_to_space_crd_spec_example() {
        let op = DepthToSpace {
            blocksize: 2,
            crd: true,
        };
        let y = op.eval(&[Some(&spec_input())], 1).unwrap().remove(0);
        #[rustfmt::skip]
        let expected = [
            0., 9., 1., 10., 2., 11.,
            18., 27., 19., 28., 20., 29.,
            3., 12., 4., 13., 5., 14.,
            21., 30., 22., 31., 23., 32.,
            36., 45., 37., 46., 38., 47.,
            54., 63., 55., 64., 56., 65.,
            39., 48., 40., 49., 41., 50.,
            57., 66., 58., 67., 59., 68.,
        ];
        assert_eq!(y.to_vec::<f32>().unwrap(), expected);
    }

    #[test]
    fn space_to_depth_inverts_depth_to_space_dcr() {
        let x = spec_input();
        let d2s = DepthToSpace {
            blocksize: 2,
            crd: false,
        };
        let y = d2s.eval(&[Some(&x)], 1).unwrap().remove(0);
        let s2d = SpaceToDepth { blocksize: 2 };
        let back = s2d.eval(&[Some(&y)], 1).unwrap().remove(0);
        assert_eq!(back, x);
    }

    #[test]
    fn space_to_depth_spec_example() {
        #[rustfmt::skip]
        let x = vec![
            0, 6, 1, 7, 2, 8,
            12, 18, 13, 19, 14, 20,
            3, 9, 4, 10, 5, 11,
            15, 21, 16, 22, 17, 23i64,
        ];
        let x = Tensor::from_vec(vec![1, 1, 4, 6], x).unwrap();
        let y = SpaceToDepth { blocksize: 2 }
            .eval(&[Some(&x)], 1)
            .unwrap()
            .remove(0);
        assert_eq!(y.shape(), [1, 4, 2, 3]);
        assert_eq!(y.to_vec::<i64>().unwrap(), (0..24).collect::<Vec<i64>>());
    }

    #[test]
    fn bad_shapes_are_errors() {
        let x = Tensor::zeros(crate::DType::U8, vec![1, 3, 2, 2]).unwrap();
        assert!(
            DepthToSpace {
                blocksize: 2,
                crd: false
            }
            .eval(&[Some(&x)], 1)
            .is_err()
        );
        assert!(SpaceToDepth { blocksize: 3 }.eval(&[Some(&x)], 1).is_err());
        assert!(SpaceToDepth { blocksize: 0 }.eval(&[Some(&x)], 1).is_err());
        let flat = Tensor::zeros(crate::DType::U8, vec![4]).unwrap();
        assert!(
            SpaceToDepth { blocksize: 1 }
                .eval(&[Some(&flat)], 1)
                .is_err()
        );
    }
}
