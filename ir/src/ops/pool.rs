//! Pooling: windowed (max, average, Lp) and global.

#[cfg(test)]
mod tests;

use crate::{
    DType, Element, Fact, OpResult, Tensor, TensorType, dispatch_numeric, op_bail, op_ensure,
};

use super::Semantics;
use super::conv::MultiIndex;
use super::linalg::arith::{Real, dispatch_real, operand, operand_type};

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum PoolKind {
    /// `storage_order` 1 = column major indices (second output).
    Max {
        storage_order: u8,
    },
    Average {
        count_include_pad: bool,
    },
    Lp {
        p: f32,
    },
}

/// A windowed pool. `pads` is `[begins.., ends..]` over the spatial dims, resolved.
#[derive(Clone, Debug, PartialEq)]
pub struct Pool {
    pub kind: PoolKind,
    pub kernel_shape: Vec<usize>,
    pub strides: Vec<usize>,
    pub pads: Vec<usize>,
    pub dilations: Vec<usize>,
    pub ceil_mode: bool,
}

/// Pooling over all spatial dims at once; output spatial dims are 1.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum GlobalPool {
    Average,
    Max,
    Lp { p: f32 },
}

impl Pool {
    pub fn name(&self) -> &'static str {
        match self.kind {
            PoolKind::Max { .. } => "MaxPool",
            PoolKind::Average { .. } => "AveragePool",
            PoolKind::Lp { .. } => "LpPool",
        }
    }
}

impl GlobalPool {
    pub fn name(&self) -> &'static str {
        match self {
            GlobalPool::Average => "GlobalAveragePool",
            GlobalPool::Max => "GlobalMaxPool",
            GlobalPool::Lp { .. } => "GlobalLpPool",
        }
    }
}

/// The windows of a pool over one `[spatial..]` plane, shared by every (n, c).
struct Windows {
    /// For every output pixel, the row-major plane offsets of the input pixels its
    /// window covers (padding left out), in increasing order.
    taps: Vec<Vec<usize>>,
    /// For every output pixel, the window positions inside input plus pads: the
    /// divisor of an average that counts padding. With `ceil_mode` the last window
    /// may reach past the end padding; those positions never count.
    padded_counts: Vec<usize>,
    output: Vec<usize>,
}

impl Pool {
    fn output_dims(&self, x: &[usize]) -> OpResult<Vec<usize>> {
        op_ensure!(
            x.len() >= 3,
            "{} needs an input of rank >= 3, got {x:?}",
            self.name()
        );
        let spatial = x.len() - 2;
        self.check_attributes(spatial)?;
        let mut shape = x[..2].to_vec();
        for d in 0..spatial {
            let (input, begin, end) = (x[2 + d], self.pad(d, spatial).0, self.pad(d, spatial).1);
            let extent = (self.kernel_shape[d] - 1) * self.dilation(d) + 1;
            let padded = input + begin + end;
            op_ensure!(
                padded >= extent,
                "{} window (extent {extent}) is larger than the padded input ({padded}) along spatial dim {d}",
                self.name()
            );
            let stride = self.stride(d);
            let span = padded - extent;
            let mut out = if self.ceil_mode {
                span.div_ceil(stride) + 1
            } else {
                span / stride + 1
            };
            // The last window must start inside the input or the leading padding.
            if self.ceil_mode && (out - 1) * stride >= input + begin {
                out -= 1;
            }
            shape.push(out);
        }
        Ok(shape)
    }

    fn check_attributes(&self, spatial: usize) -> OpResult<()> {
        let name = self.name();
        op_ensure!(
            self.kernel_shape.len() == spatial && self.kernel_shape.iter().all(|&k| k >= 1),
            "{name} kernel_shape {:?} must have one positive entry per spatial dim ({spatial})",
            self.kernel_shape
        );
        for (what, values) in [("strides", &self.strides), ("dilations", &self.dilations)] {
            op_ensure!(
                values.is_empty() || (values.len() == spatial && values.iter().all(|&v| v >= 1)),
                "{name} {what} {values:?} must have one positive entry per spatial dim ({spatial})"
            );
        }
        op_ensure!(
            self.pads.is_empty() || self.pads.len() == 2 * spatial,
            "{name} pads {:?} must have two entries per spatial dim ({spatial})",
            self.pads
        );
        if let PoolKind::Lp { p } = self.kind {
            op_ensure!(
                p.is_finite() && p > 0.0,
                "LpPool p must be positive, got {p}"
            );
        }
        Ok(())
    }

    fn stride(&self, d: usize) -> usize {
        self.strides.get(d).copied().unwrap_or(1)
    }

    fn dilation(&self, d: usize) -> usize {
        self.dilations.get(d).copied().unwrap_or(1)
    }

    /// (begin, end) padding of spatial dim `d`.
    fn pad(&self, d: usize, spatial: usize) -> (usize, usize) {
        let begin = self.pads.get(d).copied().unwrap_or(0);
        let end = self.pads.get(spatial + d).copied().unwrap_or(0);
        (begin, end)
    }

    fn windows(&self, x: &[usize]) -> OpResult<Windows> {
        let output = self.output_dims(x)?;
        let input = &x[2..];
        let spatial = input.len();
        // Per dim and output index: the input positions inside the input, and how
        // many window positions fall inside input plus pads.
        let mut per_dim: Vec<Vec<(Vec<usize>, usize)>> = Vec::with_capacity(spatial);
        for d in 0..spatial {
            let (begin, end) = self.pad(d, spatial);
            let column = (0..output[2 + d])
                .map(|o| {
                    let mut inside = Vec::new();
                    let mut padded = 0;
                    for k in 0..self.kernel_shape[d] {
                        let pos =
                            (o * self.stride(d) + k * self.dilation(d)) as isize - begin as isize;
                        if pos < (input[d] + end) as isize {
                            padded += 1;
                            if pos >= 0 && pos < input[d] as isize {
                                inside.push(pos as usize);
                            }
                        }
                    }
                    (inside, padded)
                })
                .collect();
            per_dim.push(column);
        }
        let mut taps = Vec::new();
        let mut padded_counts = Vec::new();
        for o in MultiIndex::new(&output[2..]) {
            let lists: Vec<&Vec<usize>> = (0..spatial).map(|d| &per_dim[d][o[d]].0).collect();
            let window: Vec<usize> = lists.iter().map(|l| l.len()).collect();
            let offsets = MultiIndex::new(&window)
                .map(|w| (0..spatial).fold(0, |acc, d| acc * input[d] + lists[d][w[d]]))
                .collect();
            taps.push(offsets);
            padded_counts.push((0..spatial).map(|d| per_dim[d][o[d]].1).product());
        }
        Ok(Windows {
            taps,
            padded_counts,
            output,
        })
    }

    fn check_dtype(&self, dtype: DType) -> OpResult<()> {
        let ok = match self.kind {
            PoolKind::Max { .. } => dtype.is_float() || matches!(dtype, DType::I8 | DType::U8),
            _ => dtype.is_float(),
        };
        op_ensure!(ok, "{} does not support {dtype} operands", self.name());
        Ok(())
    }

    fn check_outputs(&self, num_outputs: usize) -> OpResult<()> {
        let allowed = if matches!(self.kind, PoolKind::Max { .. }) {
            2
        } else {
            1
        };
        op_ensure!(
            (1..=allowed).contains(&num_outputs),
            "{} has at most {allowed} outputs, {num_outputs} asked",
            self.name()
        );
        Ok(())
    }
}

/// Max over each window, and the index of the first maximum as ONNX numbers it:
/// flattened over the whole input, spatial dims row major (`storage_order` 0) or
/// column major (1).
fn max_pool<T: Element>(x: &Tensor, w: &Windows, storage_order: u8) -> OpResult<(Tensor, Tensor)> {
    let values = x.to_vec::<T>()?;
    let input = &x.shape()[2..];
    let plane: usize = input.iter().product();
    // Column-major spatial number of each row-major plane offset.
    let numbering: Vec<usize> = if storage_order == 1 {
        MultiIndex::new(input)
            .map(|i| {
                i.iter()
                    .rev()
                    .zip(input.iter().rev())
                    .fold(0, |acc, (&c, &d)| acc * d + c)
            })
            .collect()
    } else {
        (0..plane).collect()
    };
    let planes = x.shape()[0] * x.shape()[1];
    let mut y = Vec::with_capacity(planes * w.taps.len());
    let mut indices = Vec::with_capacity(planes * w.taps.len());
    for p in 0..planes {
        let plane_values = &values[p * plane..][..plane];
        for taps in &w.taps {
            let mut best = T::from_f64(f64::NEG_INFINITY);
            let mut best_index: i64 = -1;
            for &t in taps {
                if best_index < 0 || plane_values[t] > best {
                    best = plane_values[t];
                    best_index = (p * plane + numbering[t]) as i64;
                }
            }
            y.push(best);
            indices.push(best_index);
        }
    }
    Ok((
        Tensor::from_vec(w.output.clone(), y)?,
        Tensor::from_vec(w.output.clone(), indices)?,
    ))
}

/// Average (dividing by the taps, or by the window inside input plus pads) or
/// Lp norm of each window, computed in `R`.
fn smooth_pool<R: Real>(x: &Tensor, w: &Windows, kind: PoolKind) -> OpResult<Tensor> {
    let values = R::load(x)?;
    let plane: usize = x.shape()[2..].iter().product();
    let planes = x.shape()[0] * x.shape()[1];
    let mut y = Vec::with_capacity(planes * w.taps.len());
    for p in 0..planes {
        let plane_values = &values[p * plane..][..plane];
        for (taps, &padded) in w.taps.iter().zip(&w.padded_counts) {
            let value = match kind {
                PoolKind::Average { count_include_pad } => {
                    let sum = taps.iter().fold(R::ZERO, |acc, &t| acc + plane_values[t]);
                    let count = if count_include_pad {
                        padded
                    } else {
                        taps.len()
                    };
                    sum / R::of(count as f64)
                }
                PoolKind::Lp { p } => {
                    lp_norm(taps.iter().map(|&t| plane_values[t]), R::of(p as f64))
                }
                PoolKind::Max { .. } => op_bail!("max pooling is not a smooth pool"),
            };
            y.push(value);
        }
    }
    R::store(x.dtype(), w.output.clone(), y)
}

fn lp_norm<R: Real>(values: impl Iterator<Item = R>, p: R) -> R {
    values
        .fold(R::ZERO, |acc, v| acc + v.abs().powf(p))
        .powf(R::ONE / p)
}

impl Semantics for Pool {
    fn infer(&self, inputs: &[Option<Fact>], num_outputs: usize) -> OpResult<Vec<TensorType>> {
        let x = operand_type(inputs, 0, "X")?;
        self.check_dtype(x.dtype)?;
        self.check_outputs(num_outputs)?;
        let shape = self.output_dims(&x.shape)?;
        let mut types = vec![TensorType::new(x.dtype, shape.clone())];
        if num_outputs == 2 {
            types.push(TensorType::new(DType::I64, shape));
        }
        Ok(types)
    }

    fn eval(&self, inputs: &[Option<&Tensor>], num_outputs: usize) -> OpResult<Vec<Tensor>> {
        let x = operand(inputs, 0, "X")?;
        self.check_dtype(x.dtype())?;
        self.check_outputs(num_outputs)?;
        let windows = self.windows(x.shape())?;
        match self.kind {
            PoolKind::Max { storage_order } => {
                let (y, indices) = dispatch_numeric!(x.dtype(), T => max_pool::<T>(x, &windows, storage_order)?,
                    else op_bail!("MaxPool does not support bool operands"));
                Ok(if num_outputs == 2 {
                    vec![y, indices]
                } else {
                    vec![y]
                })
            }
            kind => {
                let y = dispatch_real!(x.dtype(), R => smooth_pool::<R>(x, &windows, kind)?,
                    else op_bail!("{} does not support {} operands", self.name(), x.dtype()));
                Ok(vec![y])
            }
        }
    }
}

impl GlobalPool {
    fn output(&self, x: &TensorType) -> OpResult<TensorType> {
        op_ensure!(
            x.rank() >= 2,
            "{} needs an input of rank >= 2, got {:?}",
            self.name(),
            x.shape
        );
        let ok = match self {
            GlobalPool::Max => x.dtype.is_float() || matches!(x.dtype, DType::I8 | DType::U8),
            _ => x.dtype.is_float(),
        };
        op_ensure!(ok, "{} does not support {} operands", self.name(), x.dtype);
        if let GlobalPool::Lp { p } = self {
            op_ensure!(
                p.is_finite() && *p > 0.0,
                "GlobalLpPool p must be positive, got {p}"
            );
        }
        let mut shape = x.shape[..2].to_vec();
        shape.resize(x.rank(), 1);
        Ok(TensorType::new(x.dtype, shape))
    }
}

fn global_max<T: Element>(x: &Tensor, out: Vec<usize>) -> OpResult<Tensor> {
    let values = x.to_vec::<T>()?;
    let plane: usize = x.shape()[2..].iter().product();
    let y: Vec<T> = values
        .chunks_exact(plane.max(1))
        .map(|p| {
            p.iter()
                .copied()
                .fold(T::from_f64(f64::NEG_INFINITY), |best, v| {
                    if v > best { v } else { best }
                })
        })
        .collect();
    Tensor::from_vec(out, y)
}

fn global_smooth<R: Real>(x: &Tensor, pool: GlobalPool, out: Vec<usize>) -> OpResult<Tensor> {
    let values = R::load(x)?;
    let plane: usize = x.shape()[2..].iter().product();
    let y: Vec<R> = values
        .chunks_exact(plane.max(1))
        .map(|p| match pool {
            GlobalPool::Lp { p: norm } => lp_norm(p.iter().copied(), R::of(norm as f64)),
            _ => p.iter().fold(R::ZERO, |acc, &v| acc + v) / R::of(plane as f64),
        })
        .collect();
    R::store(x.dtype(), out, y)
}

impl Semantics for GlobalPool {
    fn infer(&self, inputs: &[Option<Fact>], _num_outputs: usize) -> OpResult<Vec<TensorType>> {
        Ok(vec![self.output(operand_type(inputs, 0, "X")?)?])
    }

    fn eval(&self, inputs: &[Option<&Tensor>], _num_outputs: usize) -> OpResult<Vec<Tensor>> {
        let x = operand(inputs, 0, "X")?;
        let out = self.output(&TensorType::new(x.dtype(), x.shape().to_vec()))?;
        op_ensure!(
            x.shape()[2..].iter().all(|&d| d > 0),
            "{} of an empty plane",
            self.name()
        );
        let y = match self {
            GlobalPool::Max => dispatch_numeric!(x.dtype(), T => global_max::<T>(x, out.shape)?,
                else op_bail!("GlobalMaxPool does not support bool operands")),
            _ => dispatch_real!(x.dtype(), R => global_smooth::<R>(x, *self, out.shape)?,
                else op_bail!("{} does not support {} operands", self.name(), x.dtype())),
        };
        Ok(vec![y])
    }
}
