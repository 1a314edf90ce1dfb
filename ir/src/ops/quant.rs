//! Linear quantization: QuantizeLinear and DequantizeLinear (per tensor, per axis,
//! blocked).

use crate::{
    DType, Element, Fact, OpResult, Tensor, TensorType, dispatch_float, op_bail, op_ensure,
};

use super::Semantics;
use super::elementwise::operands::{check_counts, optional, required};
use super::elementwise::round_from_f64;

/// y = saturate(round_half_even(x / scale) + zero_point) in `to`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Quantize {
    /// The axis of a per-axis (or blocked) scale, resolved non-negative.
    pub axis: usize,
    /// 0 = not blocked.
    pub block_size: usize,
    /// Output element type (from the zero point, or `output_dtype`; default u8).
    pub to: DType,
}

/// y = (x - zero_point) * scale, in the scale's float type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Dequantize {
    pub axis: usize,
    pub block_size: usize,
}

/// How a scale (and its zero point) maps onto the elements of x.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Granularity {
    /// One scale for the whole tensor.
    PerTensor,
    /// One scale per index along `axis`.
    PerAxis { axis: usize },
    /// One scale per `block` consecutive indices along `axis`, per position of the
    /// other dims: the scale has x's shape with `ceil(dim / block)` along `axis`.
    Blocked { axis: usize, block: usize },
}

/// Works out the granularity from the scale's and zero point's shapes.
fn granularity(
    x: &[usize],
    scale: &TensorType,
    zero_point: Option<&TensorType>,
    axis: usize,
    block_size: usize,
) -> OpResult<Granularity> {
    op_ensure!(
        scale.dtype.is_float(),
        "the scale must be a float tensor, got {}",
        scale.dtype
    );
    if let Some(zp) = zero_point {
        op_ensure!(
            zp.shape == scale.shape,
            "the zero point's shape {:?} differs from the scale's {:?}",
            zp.shape,
            scale.shape
        );
    }
    if scale.len() == 1 {
        return Ok(Granularity::PerTensor);
    }
    op_ensure!(
        axis < x.len(),
        "axis {axis} is out of range for rank {}",
        x.len()
    );
    if block_size == 0 {
        op_ensure!(
            scale.shape == [x[axis]],
            "a per-axis scale must have shape [{}] (dim {axis} of {x:?}), got {:?}",
            x[axis],
            scale.shape
        );
        return Ok(Granularity::PerAxis { axis });
    }
    let mut expected = x.to_vec();
    expected[axis] = x[axis].div_ceil(block_size);
    op_ensure!(
        scale.shape == expected,
        "a blocked scale (block size {block_size} along axis {axis}) must have shape \
         {expected:?}, got {:?}",
        scale.shape
    );
    Ok(Granularity::Blocked {
        axis,
        block: block_size,
    })
}

/// For every element of x (row-major), the index of its scale and zero point.
fn parameter_indices(x: &[usize], granularity: Granularity) -> Vec<usize> {
    let len: usize = x.iter().product();
    let (axis, block, per_position) = match granularity {
        Granularity::PerTensor => return vec![0; len],
        Granularity::PerAxis { axis } => (axis, 1, false),
        Granularity::Blocked { axis, block } => (axis, block, true),
    };
    let outer: usize = x[..axis].iter().product();
    let inner: usize = x[axis + 1..].iter().product();
    let blocks = x[axis].div_ceil(block);
    let mut indices = Vec::with_capacity(len);
    for o in 0..outer {
        for k in 0..x[axis] {
            for i in 0..inner {
                indices.push(if per_position {
                    (o * blocks + k / block) * inner + i
                } else {
                    k
                });
            }
        }
    }
    indices
}

fn type_of(t: &Tensor) -> TensorType {
    TensorType::new(t.dtype(), t.shape().to_vec())
}

/// The integer range of a quantized type.
fn quantized_range(dtype: DType) -> OpResult<(f64, f64)> {
    Ok(match dtype {
        DType::U8 => (0.0, u8::MAX as f64),
        DType::I8 => (i8::MIN as f64, i8::MAX as f64),
        DType::U16 => (0.0, u16::MAX as f64),
        DType::I16 => (i16::MIN as f64, i16::MAX as f64),
        DType::U32 => (0.0, u32::MAX as f64),
        DType::I32 => (i32::MIN as f64, i32::MAX as f64),
        other => op_bail!("cannot quantize to {other}"),
    })
}

impl Quantize {
    fn check(
        &self,
        x: &TensorType,
        scale: &TensorType,
        zero_point: Option<&TensorType>,
    ) -> OpResult<Granularity> {
        op_ensure!(
            x.dtype.is_float() || x.dtype == DType::I32,
            "QuantizeLinear is not defined on {} tensors",
            x.dtype
        );
        quantized_range(self.to)?;
        if let Some(zp) = zero_point {
            op_ensure!(
                zp.dtype == self.to,
                "the zero point is {} but the output is {}",
                zp.dtype,
                self.to
            );
        }
        granularity(&x.shape, scale, zero_point, self.axis, self.block_size)
    }
}

impl Semantics for Quantize {
    fn infer(&self, inputs: &[Option<Fact>], num_outputs: usize) -> OpResult<Vec<TensorType>> {
        check_counts(inputs, 2, 3, num_outputs, 1)?;
        let (x, scale) = (required(inputs, 0, "x")?, required(inputs, 1, "y_scale")?);
        self.check(x.ty, scale.ty, optional(inputs, 2).map(|f| f.ty))?;
        Ok(vec![TensorType::new(self.to, x.ty.shape.clone())])
    }

    fn eval(&self, inputs: &[Option<&Tensor>], num_outputs: usize) -> OpResult<Vec<Tensor>> {
        check_counts(inputs, 2, 3, num_outputs, 1)?;
        let (x, scale) = (required(inputs, 0, "x")?, required(inputs, 1, "y_scale")?);
        let zero_point = optional(inputs, 2);
        let granularity = self.check(
            &type_of(x),
            &type_of(scale),
            zero_point.map(type_of).as_ref(),
        )?;
        let (lo, hi) = quantized_range(self.to)?;
        let (xs, scales) = (x.to_f64_vec(), scale.to_f64_vec());
        let zps = zero_point
            .map(Tensor::to_f64_vec)
            .unwrap_or_else(|| vec![0.0; scales.len()]);
        // x / scale in the precision of the operands, as ONNX implementations do:
        // rounding to even right after must see the same quotient.
        let single = matches!(x.dtype(), DType::F32 | DType::F16) && scale.dtype() != DType::F64;
        let indices = parameter_indices(x.shape(), granularity);
        let quantized: Vec<f64> = xs
            .iter()
            .zip(&indices)
            .map(|(&v, &p)| {
                let quotient = if single {
                    (v as f32 / scales[p] as f32) as f64
                } else {
                    v / scales[p]
                };
                (quotient.round_ties_even() + zps[p]).clamp(lo, hi)
            })
            .collect();
        Ok(vec![Tensor::from_f64_values(
            self.to,
            x.shape().to_vec(),
            &quantized,
        )?])
    }
}

impl Dequantize {
    fn check(
        &self,
        x: &TensorType,
        scale: &TensorType,
        zero_point: Option<&TensorType>,
    ) -> OpResult<Granularity> {
        op_ensure!(
            x.dtype.is_int() && x.dtype.size() <= 4,
            "DequantizeLinear is not defined on {} tensors",
            x.dtype
        );
        if let Some(zp) = zero_point {
            op_ensure!(
                zp.dtype == x.dtype,
                "the zero point is {} but x is {}",
                zp.dtype,
                x.dtype
            );
        }
        granularity(&x.shape, scale, zero_point, self.axis, self.block_size)
    }
}

fn dequantize<T: Element>(
    xs: &[i64],
    scales: &[f64],
    zps: &[i64],
    indices: &[usize],
    shape: &[usize],
) -> OpResult<Tensor> {
    let values: Vec<T> = xs
        .iter()
        .zip(indices)
        .map(|(&v, &p)| round_from_f64::<T>((v - zps[p]) as f64 * scales[p]))
        .collect();
    Tensor::from_vec(shape.to_vec(), values)
}

impl Semantics for Dequantize {
    fn infer(&self, inputs: &[Option<Fact>], num_outputs: usize) -> OpResult<Vec<TensorType>> {
        check_counts(inputs, 2, 3, num_outputs, 1)?;
        let (x, scale) = (required(inputs, 0, "x")?, required(inputs, 1, "x_scale")?);
        self.check(x.ty, scale.ty, optional(inputs, 2).map(|f| f.ty))?;
        Ok(vec![TensorType::new(scale.ty.dtype, x.ty.shape.clone())])
    }

    fn eval(&self, inputs: &[Option<&Tensor>], num_outputs: usize) -> OpResult<Vec<Tensor>> {
        check_counts(inputs, 2, 3, num_outputs, 1)?;
        let (x, scale) = (required(inputs, 0, "x")?, required(inputs, 1, "x_scale")?);
        let zero_point = optional(inputs, 2);
        let granularity = self.check(
            &type_of(x),
            &type_of(scale),
            zero_point.map(type_of).as_ref(),
        )?;
        let (xs, scales) = (x.to_i64_vec(), scale.to_f64_vec());
        let zps = zero_point
            .map(Tensor::to_i64_vec)
            .unwrap_or_else(|| vec![0; scales.len()]);
        let indices = parameter_indices(x.shape(), granularity);
        let y = dispatch_float!(scale.dtype(), T => dequantize::<T>(&xs, &scales, &zps, &indices, x.shape())?,
            else op_bail!("the scale must be a float tensor, got {}", scale.dtype()));
        Ok(vec![y])
    }
}

#[cfg(test)]
mod tests {
    use half::f16;

    use super::*;

    fn quantize(op: Quantize, x: &Tensor, scale: &Tensor, zp: Option<&Tensor>) -> OpResult<Tensor> {
        Ok(op.eval(&[Some(x), Some(scale), zp], 1)?.remove(0))
    }

    fn dequantize(
        op: Dequantize,
        x: &Tensor,
        scale: &Tensor,
        zp: Option<&Tensor>,
    ) -> OpResult<Tensor> {
        Ok(op.eval(&[Some(x), Some(scale), zp], 1)?.remove(0))
    }

    #[test]
    fn per_tensor_rounds_half_to_even_and_saturates() {
        let x = Tensor::from_vec(vec![6], vec![0.0f32, 2.0, 3.0, 5.0, -300.0, 1000.0]).unwrap();
        let scale = Tensor::scalar(2.0f32);
        let zp = Tensor::scalar(128u8);
        let op = Quantize {
            axis: 0,
            block_size: 0,
            to: DType::U8,
        };
        let y = quantize(op, &x, &scale, Some(&zp)).unwrap();
        // 1 -> 1, 1.5 -> 2, 2.5 -> 2; then + 128 and clamp.
        assert_eq!(y.to_vec::<u8>().unwrap(), vec![128, 129, 130, 130, 0, 255]);
        let i8op = Quantize {
            to: DType::I8,
            ..op
        };
        let y = quantize(i8op, &x, &scale, None).unwrap();
        assert_eq!(y.to_vec::<i8>().unwrap(), vec![0, 1, 2, 2, -128, 127]);
    }

    #[test]
    fn per_axis_and_blocked_scales() {
        let x = Tensor::from_vec(
            vec![2, 4],
            vec![1.0f32, 2.0, 3.0, 4.0, 10.0, 20.0, 30.0, 40.0],
        )
        .unwrap();
        let per_row = Tensor::from_vec(vec![2], vec![1.0f32, 10.0]).unwrap();
        let op = Quantize {
            axis: 0,
            block_size: 0,
            to: DType::I16,
        };
        let y = quantize(op, &x, &per_row, None).unwrap();
        assert_eq!(y.to_vec::<i16>().unwrap(), vec![1, 2, 3, 4, 1, 2, 3, 4]);
        // Blocks of 3 along axis 1: columns {0, 1, 2} and {3}.
        let blocked = Tensor::from_vec(vec![2, 2], vec![1.0f32, 4.0, 10.0, 40.0]).unwrap();
        let op = Quantize {
            axis: 1,
            block_size: 3,
            to: DType::I16,
        };
        let y = quantize(op, &x, &blocked, None).unwrap();
        assert_eq!(y.to_vec::<i16>().unwrap(), vec![1, 2, 3, 1, 1, 2, 3, 1]);
        let wrong = Tensor::from_vec(vec![3], vec![1.0f32; 3]).unwrap();
        assert!(
            quantize(
                Quantize {
                    axis: 0,
                    block_size: 0,
                    to: DType::U8
                },
                &x,
                &wrong,
                None
            )
            .is_err()
        );
        let back = Dequantize {
            axis: 1,
            block_size: 3,
        };
        let ints = Tensor::from_vec(vec![2, 4], vec![1i16, 2, 3, 1, 1, 2, 3, 1]).unwrap();
        let y = dequantize(back, &ints, &blocked, None).unwrap();
        assert_eq!(y.to_vec::<f32>().unwrap(), x.to_vec::<f32>().unwrap());
    }

    #[test]
    fn dequantize_takes_the_scale_type() {
        let x = Tensor::from_vec(vec![3], vec![0u8, 128, 255]).unwrap();
        let scale = Tensor::scalar(f16::from_f32(0.5));
        let zp = Tensor::scalar(128u8);
        let op = Dequantize {
            axis: 0,
            block_size: 0,
        };
        let y = dequantize(op, &x, &scale, Some(&zp)).unwrap();
        assert_eq!(y.dtype(), DType::F16);
        assert_eq!(
            y.to_vec::<f16>().unwrap(),
            vec![f16::from_f32(-64.0), f16::ZERO, f16::from_f32(63.5)]
        );
        let wide = Tensor::from_vec(vec![2], vec![-100000i32, 7]).unwrap();
        let y = dequantize(op, &wide, &Tensor::scalar(0.5f32), None).unwrap();
        assert_eq!(y.to_vec::<f32>().unwrap(), vec![-50000.0, 3.5]);
        let mismatched = Tensor::scalar(0i8);
        assert!(dequantize(op, &x, &scale, Some(&mismatched)).is_err());
        let floats = Tensor::from_vec(vec![1], vec![1.0f32]).unwrap();
        assert!(dequantize(op, &floats, &scale, None).is_err());
    }

    #[test]
    fn infer_gives_output_types() {
        let x = TensorType::new(DType::F32, vec![1, 3, 2]);
        let scale = TensorType::new(DType::F32, vec![3]);
        let zp = TensorType::new(DType::I8, vec![3]);
        let fact = |ty| Some(Fact { ty, value: None });
        let q = Quantize {
            axis: 1,
            block_size: 0,
            to: DType::I8,
        };
        assert_eq!(
            q.infer(&[fact(&x), fact(&scale), fact(&zp)], 1).unwrap(),
            vec![TensorType::new(DType::I8, vec![1, 3, 2])]
        );
        assert!(
            Quantize { to: DType::U8, ..q }
                .infer(&[fact(&x), fact(&scale), fact(&zp)], 1)
                .is_err()
        );
        assert!(
            Quantize {
                to: DType::F32,
                ..q
            }
            .infer(&[fact(&x), fact(&scale)], 1)
            .is_err()
        );
        assert!(
            Quantize { axis: 2, ..q }
                .infer(&[fact(&x), fact(&scale)], 1)
                .is_err()
        );
        let d = Dequantize {
            axis: 0,
            block_size: 0,
        };
        assert_eq!(
            d.infer(&[fact(&zp.clone()), fact(&scale), None], 1)
                .unwrap(),
            vec![TensorType::new(DType::F32, vec![3])]
        );
    }
}
