//! Pad: grows (or, with negative pads, crops) every dim, filling the new border with
//! a constant or with elements mirrored, repeated or wrapped from the inside.
//!
//! Negative pads crop first, as onnxruntime does; the border is then taken from the
//! cropped tensor. Reflect and wrap borders wider than the tensor repeat periodically,
//! as numpy's `pad` (the ONNX reference) does.

use bytes::Bytes;

use crate::{Fact, OpResult, Tensor, TensorType, op_bail, op_ensure};

use super::super::Semantics;
use super::layout::{self, Tables};
use super::{at_most, required, type_of};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PadMode {
    Constant,
    Reflect,
    Edge,
    Wrap,
}

/// `pads` is `[begin_0, .., begin_n, end_0, .., end_n]` over every dim; negative
/// pads crop. Operands: data, constant_value? (a one-element tensor of data's dtype,
/// used in constant mode; 0 when absent).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pad {
    pub mode: PadMode,
    pub pads: Vec<i64>,
}

impl PadMode {
    /// The ONNX `mode` attribute.
    pub fn from_name(name: &str) -> OpResult<PadMode> {
        Ok(match name {
            "constant" => PadMode::Constant,
            "reflect" => PadMode::Reflect,
            "edge" => PadMode::Edge,
            "wrap" => PadMode::Wrap,
            _ => op_bail!("unknown Pad mode '{name}'"),
        })
    }
}

/// How one dim is padded: the kept input range `[lo, hi)` and the border widths.
struct DimPad {
    lo: usize,
    hi: usize,
    before: usize,
    after: usize,
}

impl DimPad {
    fn new(dim: usize, begin: i64, end: i64) -> OpResult<DimPad> {
        let crop = |p: i64| usize::try_from(p.min(0).unsigned_abs()).unwrap_or(usize::MAX);
        let grow = |p: i64| usize::try_from(p.max(0)).unwrap_or(usize::MAX);
        let lo = crop(begin);
        let hi = dim
            .checked_sub(crop(end))
            .filter(|&hi| hi >= lo)
            .ok_or_else(|| format!("pads {begin} and {end} crop more than a dim of {dim}"))?;
        Ok(DimPad {
            lo,
            hi,
            before: grow(begin),
            after: grow(end),
        })
    }

    fn kept(&self) -> usize {
        self.hi - self.lo
    }

    fn out_len(&self) -> OpResult<usize> {
        self.kept()
            .checked_add(self.before)
            .and_then(|n| n.checked_add(self.after))
            .ok_or_else(|| "padded dim is too large".into())
    }

    /// The input coordinate that output coordinate `o` reads, in a non-constant mode.
    fn source(&self, mode: PadMode, o: usize) -> usize {
        let m = self.kept() as i64;
        let rel = o as i64 - self.before as i64;
        let inside = match mode {
            PadMode::Constant | PadMode::Edge => rel.clamp(0, m - 1),
            PadMode::Wrap => rel.rem_euclid(m),
            PadMode::Reflect if m == 1 => 0,
            PadMode::Reflect => {
                let period = 2 * (m - 1);
                let r = rel.rem_euclid(period);
                if r < m { r } else { period - r }
            }
        };
        self.lo + inside as usize
    }
}

impl Pad {
    /// ONNX Pad's operands resolved for an operand of rank `rank`: `pads` holds the
    /// begins then the ends of the dims `axes` names (every dim when absent; negative
    /// axes count from the end).
    pub fn resolve(
        rank: usize,
        pads: &[i64],
        axes: Option<&[i64]>,
        mode: PadMode,
    ) -> OpResult<Pad> {
        let all: Vec<i64> = (0..rank as i64).collect();
        let axes = axes.unwrap_or(&all);
        op_ensure!(
            pads.len() == 2 * axes.len(),
            "{} pads for {} axes",
            pads.len(),
            axes.len()
        );
        let mut full = vec![0; 2 * rank];
        let mut seen = vec![false; rank];
        for (i, &axis) in axes.iter().enumerate() {
            let a = crate::shape::normalize_axis(axis, rank)?;
            op_ensure!(!seen[a], "Pad axis {axis} is listed twice");
            seen[a] = true;
            full[a] = pads[i];
            full[rank + a] = pads[axes.len() + i];
        }
        Ok(Pad { mode, pads: full })
    }

    fn plan(&self, input: &TensorType) -> OpResult<Vec<DimPad>> {
        let rank = input.rank();
        op_ensure!(
            self.pads.len() == 2 * rank,
            "{} pads for an operand of rank {rank}",
            self.pads.len()
        );
        let dims: Vec<DimPad> = (0..rank)
            .map(|d| DimPad::new(input.shape[d], self.pads[d], self.pads[rank + d]))
            .collect::<OpResult<_>>()?;
        if self.mode != PadMode::Constant {
            for (d, p) in dims.iter().enumerate() {
                op_ensure!(
                    p.kept() > 0 || p.before + p.after == 0,
                    "cannot pad dim {d} of {input} in {:?} mode: it has no elements",
                    self.mode
                );
            }
        }
        Ok(dims)
    }

    fn output_type(&self, input: &TensorType, value: Option<&TensorType>) -> OpResult<TensorType> {
        if let Some(value) = value {
            op_ensure!(
                value.dtype == input.dtype && value.len() == 1,
                "constant_value must be one {} element, got {value}",
                input.dtype
            );
        }
        let shape = self
            .plan(input)?
            .iter()
            .map(DimPad::out_len)
            .collect::<OpResult<_>>()?;
        Ok(TensorType::new(input.dtype, shape))
    }
}

impl Semantics for Pad {
    fn infer(&self, inputs: &[Option<Fact>], _num_outputs: usize) -> OpResult<Vec<TensorType>> {
        at_most(inputs, 2)?;
        let data = required(inputs, 0, "data")?;
        let value = inputs.get(1).copied().flatten().map(|f| f.ty);
        Ok(vec![self.output_type(data.ty, value)?])
    }

    fn eval(&self, inputs: &[Option<&Tensor>], _num_outputs: usize) -> OpResult<Vec<Tensor>> {
        at_most(inputs, 2)?;
        let data = required(inputs, 0, "data")?;
        let value = inputs.get(1).copied().flatten();
        let ty = self.output_type(&type_of(data), value.map(type_of).as_ref())?;
        let dims = self.plan(&type_of(data))?;
        let strides = crate::shape::strides(data.shape());
        if self.mode != PadMode::Constant {
            let tables: Tables = dims
                .iter()
                .zip(&ty.shape)
                .zip(&strides)
                .map(|((p, &n), &stride)| (0..n).map(|o| p.source(self.mode, o) * stride).collect())
                .collect();
            return Ok(vec![layout::gather(data, &tables, ty.shape)?]);
        }
        // Constant: fill everything, then copy the kept input box to its place.
        let fill = match value {
            Some(v) => v.bytes().to_vec(),
            None => vec![0u8; ty.dtype.size()],
        };
        let mut out = fill.repeat(ty.len());
        let out_strides = crate::shape::strides(&ty.shape);
        let src: Tables = dims
            .iter()
            .zip(&strides)
            .map(|(p, &s)| (p.lo..p.hi).map(|i| i * s).collect())
            .collect();
        let dst: Tables = dims
            .iter()
            .zip(&out_strides)
            .map(|(p, &s)| (p.before..p.before + p.kept()).map(|o| o * s).collect())
            .collect();
        layout::copy(ty.dtype, data.bytes(), &src, &mut out, &dst);
        Ok(vec![Tensor::from_bytes(
            ty.dtype,
            ty.shape,
            Bytes::from(out),
        )?])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The ONNX spec's Pad input.
    fn spec_input() -> Tensor {
        Tensor::from_vec(vec![3, 2], vec![1.0f32, 1.2, 2.3, 3.4, 4.5, 5.7]).unwrap()
    }

    fn pad(x: &Tensor, pads: &[i64], mode: PadMode, value: Option<&Tensor>) -> OpResult<Tensor> {
        let op = Pad::resolve(x.rank(), pads, None, mode)?;
        Ok(op.eval(&[Some(x), value], 1)?.remove(0))
    }

    #[test]
    fn spec_constant_reflect_edge() {
        let x = spec_input();
        let zero = Tensor::scalar(0.0f32);
        let y = pad(&x, &[0, 2, 0, 0], PadMode::Constant, Some(&zero)).unwrap();
        assert_eq!(y.shape(), [3, 4]);
        #[rustfmt::skip]
        assert_eq!(y.to_vec::<f32>().unwrap(), [
            0.0, 0.0, 1.0, 1.2,
            0.0, 0.0, 2.3, 3.4,
            0.0, 0.0, 4.5, 5.7,
        ]);
        let y = pad(&x, &[0, 2, 0, 0], PadMode::Reflect, None).unwrap();
        #[rustfmt::skip]
        assert_eq!(y.to_vec::<f32>().unwrap(), [
            1.0, 1.2, 1.0, 1.2,
            2.3, 3.4, 2.3, 3.4,
            4.5, 5.7, 4.5, 5.7,
        ]);
        let y = pad(&x, &[0, 2, 0, 0], PadMode::Edge, None).unwrap();
        #[rustfmt::skip]
        assert_eq!(y.to_vec::<f32>().unwrap(), [
            1.0, 1.0, 1.0, 1.2,
            2.3, 2.3, 2.3, 3.4,
            4.5, 4.5, 4.5, 5.7,
        ]);
    }

    #[test]
    fn spec_wrap() {
        let y = pad(&spec_input(), &[2, 1, 1, 1], PadMode::Wrap, None).unwrap();
        assert_eq!(y.shape(), [6, 4]);
        #[rustfmt::skip]
        assert_eq!(y.to_vec::<f32>().unwrap(), [
            3.4, 2.3, 3.4, 2.3,
            5.7, 4.5, 5.7, 4.5,
            1.2, 1.0, 1.2, 1.0,
            3.4, 2.3, 3.4, 2.3,
            5.7, 4.5, 5.7, 4.5,
            1.2, 1.0, 1.2, 1.0,
        ]);
    }

    #[test]
    fn wide_borders_repeat_like_numpy() {
        let x = Tensor::from_vec(vec![3], vec![1i32, 2, 3]).unwrap();
        let values =
            |mode, pads: &[i64]| pad(&x, pads, mode, None).unwrap().to_vec::<i32>().unwrap();
        // np.pad([1, 2, 3], (5, 4), 'reflect')
        assert_eq!(
            values(PadMode::Reflect, &[5, 4]),
            [2, 1, 2, 3, 2, 1, 2, 3, 2, 1, 2, 3]
        );
        // np.pad([1, 2, 3], (4, 2), 'wrap')
        assert_eq!(values(PadMode::Wrap, &[4, 2]), [3, 1, 2, 3, 1, 2, 3, 1, 2]);
        assert_eq!(values(PadMode::Edge, &[2, 1]), [1, 1, 1, 2, 3, 3]);
        let one = Tensor::from_vec(vec![1], vec![7i32]).unwrap();
        let y = pad(&one, &[2, 1], PadMode::Reflect, None).unwrap();
        assert_eq!(y.to_vec::<i32>().unwrap(), [7, 7, 7, 7]);
    }

    #[test]
    fn negative_pads_crop_first() {
        let x = Tensor::from_vec(vec![2, 3], vec![1u8, 2, 3, 4, 5, 6]).unwrap();
        let v = Tensor::scalar(9u8);
        let y = pad(&x, &[0, -1, 1, 0], PadMode::Constant, Some(&v)).unwrap();
        assert_eq!(y.shape(), [3, 2]);
        assert_eq!(y.to_vec::<u8>().unwrap(), [2, 3, 5, 6, 9, 9]);
        let y = pad(&x, &[0, -1, 0, 2], PadMode::Edge, None).unwrap();
        assert_eq!(y.to_vec::<u8>().unwrap(), [2, 3, 3, 3, 5, 6, 6, 6]);
        let y = pad(&x, &[0, 1, 0, -2], PadMode::Reflect, None).unwrap();
        assert_eq!(y.to_vec::<u8>().unwrap(), [1, 1, 4, 4]);
        assert!(pad(&x, &[0, -2, 0, -2], PadMode::Constant, None).is_err());
    }

    #[test]
    fn resolution_and_bad_operands() {
        let op = Pad::resolve(3, &[1, 2, 3, 4], Some(&[-1, 0]), PadMode::Constant).unwrap();
        assert_eq!(op.pads, [2, 0, 1, 4, 0, 3]);
        assert!(Pad::resolve(2, &[1, 2, 3], None, PadMode::Edge).is_err());
        assert!(Pad::resolve(2, &[1, 2, 3, 4], Some(&[0, -2]), PadMode::Edge).is_err());
        assert_eq!(PadMode::from_name("wrap").unwrap(), PadMode::Wrap);
        assert!(PadMode::from_name("mirror").is_err());
        let x = spec_input();
        assert!(
            pad(
                &x,
                &[0, 1, 0, 0],
                PadMode::Constant,
                Some(&Tensor::scalar(1i32))
            )
            .is_err()
        );
        let empty = Tensor::from_vec(vec![0], Vec::<f32>::new()).unwrap();
        assert!(pad(&empty, &[1, 0], PadMode::Edge, None).is_err());
        let y = pad(&empty, &[1, 1], PadMode::Constant, None).unwrap();
        assert_eq!(y.to_vec::<f32>().unwrap(), [0.0, 0.0]);
    }
}
