//! Normalisations: batch (inference form), instance, layer, group, local response.

#[cfg(test)]
mod tests;

use crate::{DType, Fact, OpResult, Tensor, TensorType, op_bail, op_ensure, shape};

use super::Semantics;
use super::linalg::arith::{Real, dispatch_real, operand, operand_type, optional, optional_type};

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BatchNorm {
    pub epsilon: f32,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct InstanceNorm {
    pub epsilon: f32,
}

/// Normalises over the dims from `axis` (resolved, non-negative) to the last,
/// except the last `inner_axes`: each position along those is normalised on its
/// own. ONNX's LayerNormalization has `inner_axes == 0`; the optimiser makes
/// `inner_axes > 0` from a LayerNorm between two transposes (a channel norm in
/// NCHW order, as ConvNeXt does it), which saves moving the tensor twice.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LayerNorm {
    pub axis: usize,
    pub epsilon: f32,
    pub inner_axes: usize,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GroupNorm {
    pub num_groups: usize,
    pub epsilon: f32,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Lrn {
    pub size: usize,
    pub alpha: f32,
    pub beta: f32,
    pub bias: f32,
}

/// Checks that X is a float tensor of rank >= `min_rank`.
fn check_input(op: &str, x: &TensorType, min_rank: usize) -> OpResult<()> {
    op_ensure!(
        x.dtype.is_float(),
        "{op} does not support {} operands",
        x.dtype
    );
    op_ensure!(
        x.rank() >= min_rank,
        "{op} needs an input of rank >= {min_rank}, got {:?}",
        x.shape
    );
    Ok(())
}

/// Checks a float parameter operand of exactly `shape`.
fn check_param(op: &str, what: &str, t: &TensorType, shape: &[usize]) -> OpResult<()> {
    op_ensure!(
        t.dtype.is_float(),
        "{op} {what} must be a float tensor, got {}",
        t.dtype
    );
    op_ensure!(
        t.shape == shape,
        "{op} {what} has shape {:?}, expected {shape:?}",
        t.shape
    );
    Ok(())
}

fn type_of(t: &Tensor) -> TensorType {
    TensorType::new(t.dtype(), t.shape().to_vec())
}

/// Mean and 1 / sqrt(variance + epsilon) of a run of values (population variance).
fn moments<R: Real>(values: &[R], epsilon: R) -> (R, R) {
    let n = R::of(values.len().max(1) as f64);
    let mean = values.iter().fold(R::ZERO, |acc, &v| acc + v) / n;
    let var = values
        .iter()
        .fold(R::ZERO, |acc, &v| acc + (v - mean) * (v - mean))
        / n;
    (mean, R::ONE / (var + epsilon).sqrt())
}

/// Runs `$body` with `$R` the compute type of `$x`, failing for non-float inputs.
macro_rules! float_op {
    ($op:expr, $x:expr, $R:ident => $body:expr) => {
        dispatch_real!($x.dtype(), $R => $body, else op_bail!("{} does not support {} operands", $op, $x.dtype()))
    };
}

impl BatchNorm {
    fn output(&self, inputs: &[Option<Fact>], num_outputs: usize) -> OpResult<TensorType> {
        op_ensure!(
            num_outputs == 1,
            "BatchNormalization in training mode (several outputs) is not supported"
        );
        let x = operand_type(inputs, 0, "X")?;
        check_input("BatchNormalization", x, 2)?;
        for (i, what) in [(1, "scale"), (2, "B"), (3, "mean"), (4, "var")] {
            check_param(
                "BatchNormalization",
                what,
                operand_type(inputs, i, what)?,
                &x.shape[1..2],
            )?;
        }
        Ok(x.clone())
    }

    fn compute<R: Real>(&self, x: &Tensor, params: [&Tensor; 4]) -> OpResult<Tensor> {
        let values = R::load(x)?;
        let [scale, bias, mean, var] = params.map(R::load);
        let (scale, bias, mean, var) = (scale?, bias?, mean?, var?);
        let channels = x.shape()[1];
        let plane: usize = x.shape()[2..].iter().product();
        let epsilon = R::of(self.epsilon as f64);
        let mut y = values;
        for (i, plane_values) in y.chunks_exact_mut(plane.max(1)).enumerate() {
            let c = i % channels;
            let factor = scale[c] / (var[c] + epsilon).sqrt();
            let shift = bias[c] - mean[c] * factor;
            plane_values
                .iter_mut()
                .for_each(|v| *v = *v * factor + shift);
        }
        R::store(x.dtype(), x.shape().to_vec(), y)
    }
}

impl Semantics for BatchNorm {
    fn infer(&self, inputs: &[Option<Fact>], num_outputs: usize) -> OpResult<Vec<TensorType>> {
        Ok(vec![self.output(inputs, num_outputs)?])
    }

    fn eval(&self, inputs: &[Option<&Tensor>], num_outputs: usize) -> OpResult<Vec<Tensor>> {
        let x = operand(inputs, 0, "X")?;
        let params = [
            operand(inputs, 1, "scale")?,
            operand(inputs, 2, "B")?,
            operand(inputs, 3, "mean")?,
            operand(inputs, 4, "var")?,
        ];
        let types: Vec<TensorType> = [x].into_iter().chain(params).map(type_of).collect();
        let facts: Vec<Option<Fact>> = types
            .iter()
            .map(|ty| Some(Fact { ty, value: None }))
            .collect();
        self.output(&facts, num_outputs)?;
        Ok(vec![
            float_op!("BatchNormalization", x, R => self.compute::<R>(x, params)?),
        ])
    }
}

impl InstanceNorm {
    fn output(
        &self,
        x: &TensorType,
        scale: &TensorType,
        bias: &TensorType,
    ) -> OpResult<TensorType> {
        check_input("InstanceNormalization", x, 3)?;
        check_param("InstanceNormalization", "scale", scale, &x.shape[1..2])?;
        check_param("InstanceNormalization", "B", bias, &x.shape[1..2])?;
        Ok(x.clone())
    }

    fn compute<R: Real>(&self, x: &Tensor, scale: &Tensor, bias: &Tensor) -> OpResult<Tensor> {
        let (mut y, scale, bias) = (R::load(x)?, R::load(scale)?, R::load(bias)?);
        let channels = x.shape()[1];
        let plane: usize = x.shape()[2..].iter().product();
        let epsilon = R::of(self.epsilon as f64);
        for (i, values) in y.chunks_exact_mut(plane.max(1)).enumerate() {
            let c = i % channels;
            let (mean, inv_std) = moments(values, epsilon);
            values
                .iter_mut()
                .for_each(|v| *v = (*v - mean) * inv_std * scale[c] + bias[c]);
        }
        R::store(x.dtype(), x.shape().to_vec(), y)
    }
}

impl Semantics for InstanceNorm {
    fn infer(&self, inputs: &[Option<Fact>], _num_outputs: usize) -> OpResult<Vec<TensorType>> {
        let x = operand_type(inputs, 0, "X")?;
        let scale = operand_type(inputs, 1, "scale")?;
        let bias = operand_type(inputs, 2, "B")?;
        Ok(vec![self.output(x, scale, bias)?])
    }

    fn eval(&self, inputs: &[Option<&Tensor>], _num_outputs: usize) -> OpResult<Vec<Tensor>> {
        let x = operand(inputs, 0, "X")?;
        let scale = operand(inputs, 1, "scale")?;
        let bias = operand(inputs, 2, "B")?;
        self.output(&type_of(x), &type_of(scale), &type_of(bias))?;
        Ok(vec![
            float_op!("InstanceNormalization", x, R => self.compute::<R>(x, scale, bias)?),
        ])
    }
}

/// For every element of `normalized`, the index into a parameter of shape `param`
/// broadcast (numpy rules, one way) to it.
fn broadcast_index(param: &[usize], normalized: &[usize]) -> OpResult<Vec<usize>> {
    op_ensure!(
        shape::broadcast(param, normalized)? == normalized,
        "LayerNormalization parameter of shape {param:?} does not broadcast to {normalized:?}"
    );
    let strides = shape::strides(param);
    let lead = normalized.len() - param.len();
    let mut index = Vec::with_capacity(normalized.iter().product());
    for i in super::conv::MultiIndex::new(normalized) {
        index.push(
            (0..param.len())
                .filter(|&d| param[d] != 1)
                .map(|d| i[lead + d] * strides[d])
                .sum(),
        );
    }
    Ok(index)
}

impl LayerNorm {
    /// The normalised dims of a tensor of shape `shape`.
    pub fn normalized<'s>(&self, shape: &'s [usize]) -> &'s [usize] {
        &shape[self.axis..shape.len() - self.inner_axes]
    }

    fn outputs(
        &self,
        x: &TensorType,
        scale: &TensorType,
        bias: Option<&TensorType>,
        num_outputs: usize,
    ) -> OpResult<Vec<TensorType>> {
        op_ensure!(
            x.dtype.is_float(),
            "LayerNormalization does not support {} operands",
            x.dtype
        );
        op_ensure!(
            self.axis + self.inner_axes < x.rank(),
            "LayerNormalization axis {} (with {} inner axes) is out of range for rank {}",
            self.axis,
            self.inner_axes,
            x.rank()
        );
        op_ensure!(
            (1..=3).contains(&num_outputs),
            "LayerNormalization has at most 3 outputs"
        );
        let normalized = self.normalized(&x.shape);
        for (what, t) in [("scale", Some(scale)), ("B", bias)] {
            if let Some(t) = t {
                op_ensure!(
                    t.dtype == x.dtype,
                    "LayerNormalization {what} is {}, X is {}",
                    t.dtype,
                    x.dtype
                );
                broadcast_index(&t.shape, normalized)?;
            }
        }
        let mut stats = x.shape.clone();
        stats[self.axis..x.rank() - self.inner_axes].fill(1);
        let mut types = vec![x.clone()];
        // Mean and InvStdDev are of the stash type, float32 by default.
        types.extend((1..num_outputs).map(|_| TensorType::new(DType::F32, stats.clone())));
        Ok(types)
    }

    fn compute<R: Real>(
        &self,
        x: &Tensor,
        scale: &Tensor,
        bias: Option<&Tensor>,
        types: &[TensorType],
    ) -> OpResult<Vec<Tensor>> {
        let mut y = R::load(x)?;
        let normalized = self.normalized(x.shape());
        let size: usize = normalized.iter().product();
        let inner: usize = x.shape()[x.shape().len() - self.inner_axes..]
            .iter()
            .product();
        let scale_index = broadcast_index(scale.shape(), normalized)?;
        let scale = R::load(scale)?;
        let bias = match bias {
            Some(b) => Some((R::load(b)?, broadcast_index(b.shape(), normalized)?)),
            None => None,
        };
        let epsilon = R::of(self.epsilon as f64);
        let mut means = Vec::new();
        let mut inv_stds = Vec::new();
        // Each block is `size` normalised elements by `inner` independent lines.
        for block in y.chunks_exact_mut((size * inner).max(1)) {
            for line in 0..inner {
                let at = |i: usize| i * inner + line;
                let values: Vec<R> = (0..size).map(|i| block[at(i)]).collect();
                let (mean, inv_std) = moments(&values, epsilon);
                for (i, &v) in values.iter().enumerate() {
                    let mut out = (v - mean) * inv_std * scale[scale_index[i]];
                    if let Some((b, index)) = &bias {
                        out = out + b[index[i]];
                    }
                    block[at(i)] = out;
                }
                means.push(mean.to_f64());
                inv_stds.push(inv_std.to_f64());
            }
        }
        let mut outputs = vec![R::store(x.dtype(), x.shape().to_vec(), y)?];
        for (ty, stats) in types[1..].iter().zip([means, inv_stds]) {
            outputs.push(Tensor::from_f64_values(ty.dtype, ty.shape.clone(), &stats)?);
        }
        Ok(outputs)
    }
}

impl Semantics for LayerNorm {
    fn infer(&self, inputs: &[Option<Fact>], num_outputs: usize) -> OpResult<Vec<TensorType>> {
        let x = operand_type(inputs, 0, "X")?;
        let scale = operand_type(inputs, 1, "scale")?;
        self.outputs(x, scale, optional_type(inputs, 2), num_outputs)
    }

    fn eval(&self, inputs: &[Option<&Tensor>], num_outputs: usize) -> OpResult<Vec<Tensor>> {
        let x = operand(inputs, 0, "X")?;
        let scale = operand(inputs, 1, "scale")?;
        let bias = optional(inputs, 2);
        let types = self.outputs(
            &type_of(x),
            &type_of(scale),
            bias.map(type_of).as_ref(),
            num_outputs,
        )?;
        float_op!("LayerNormalization", x, R => self.compute::<R>(x, scale, bias, &types))
    }
}

impl GroupNorm {
    fn output(
        &self,
        x: &TensorType,
        scale: &TensorType,
        bias: &TensorType,
    ) -> OpResult<TensorType> {
        check_input("GroupNormalization", x, 2)?;
        let channels = x.shape[1];
        op_ensure!(
            self.num_groups >= 1 && channels.is_multiple_of(self.num_groups),
            "GroupNormalization cannot split {channels} channels into {} groups",
            self.num_groups
        );
        for (what, t) in [("scale", scale), ("bias", bias)] {
            let ok = t.shape == [channels] || t.shape == [self.num_groups];
            op_ensure!(
                ok && t.dtype.is_float(),
                "GroupNormalization {what} must be a float vector of {channels} channels or {} groups, got {t}",
                self.num_groups
            );
        }
        Ok(x.clone())
    }

    fn compute<R: Real>(&self, x: &Tensor, scale: &Tensor, bias: &Tensor) -> OpResult<Tensor> {
        let channels = x.shape()[1];
        let per_group = channels / self.num_groups;
        let plane: usize = x.shape()[2..].iter().product();
        // A parameter per group is spread over the group's channels.
        let per_channel = |t: &Tensor| -> OpResult<Vec<R>> {
            let values = R::load(t)?;
            Ok(if values.len() == channels {
                values
            } else {
                (0..channels).map(|c| values[c / per_group]).collect()
            })
        };
        let (scale, bias) = (per_channel(scale)?, per_channel(bias)?);
        let mut y = R::load(x)?;
        let epsilon = R::of(self.epsilon as f64);
        let group_len = per_group * plane;
        for (i, group) in y.chunks_exact_mut(group_len.max(1)).enumerate() {
            let first_channel = (i % self.num_groups) * per_group;
            let (mean, inv_std) = moments(group, epsilon);
            for (j, v) in group.iter_mut().enumerate() {
                let c = first_channel + j / plane.max(1);
                *v = (*v - mean) * inv_std * scale[c] + bias[c];
            }
        }
        R::store(x.dtype(), x.shape().to_vec(), y)
    }
}

impl Semantics for GroupNorm {
    fn infer(&self, inputs: &[Option<Fact>], _num_outputs: usize) -> OpResult<Vec<TensorType>> {
        let x = operand_type(inputs, 0, "X")?;
        let scale = operand_type(inputs, 1, "scale")?;
        let bias = operand_type(inputs, 2, "bias")?;
        Ok(vec![self.output(x, scale, bias)?])
    }

    fn eval(&self, inputs: &[Option<&Tensor>], _num_outputs: usize) -> OpResult<Vec<Tensor>> {
        let x = operand(inputs, 0, "X")?;
        let scale = operand(inputs, 1, "scale")?;
        let bias = operand(inputs, 2, "bias")?;
        self.output(&type_of(x), &type_of(scale), &type_of(bias))?;
        Ok(vec![
            float_op!("GroupNormalization", x, R => self.compute::<R>(x, scale, bias)?),
        ])
    }
}

impl Lrn {
    fn output(&self, x: &TensorType) -> OpResult<TensorType> {
        check_input("LRN", x, 2)?;
        op_ensure!(self.size >= 1, "LRN size must be >= 1");
        Ok(x.clone())
    }

    /// y = x / (bias + alpha / size * sum of x² over the channels
    /// c - floor((size-1)/2) ..= c + ceil((size-1)/2))^beta.
    fn compute<R: Real>(&self, x: &Tensor) -> OpResult<Tensor> {
        let values = R::load(x)?;
        let channels = x.shape()[1];
        let plane: usize = x.shape()[2..].iter().product();
        let before = (self.size - 1) / 2;
        let after = self.size / 2;
        let (alpha, beta, bias) = (
            R::of(self.alpha as f64),
            R::of(self.beta as f64),
            R::of(self.bias as f64),
        );
        let size = R::of(self.size as f64);
        let mut y = vec![R::ZERO; values.len()];
        for (image, out) in y.chunks_exact_mut((channels * plane).max(1)).enumerate() {
            let input = &values[image * channels * plane..][..channels * plane];
            for c in 0..channels {
                let lo = c.saturating_sub(before);
                let hi = (c + after).min(channels - 1);
                for p in 0..plane {
                    let sum = (lo..=hi).fold(R::ZERO, |acc, k| {
                        acc + input[k * plane + p] * input[k * plane + p]
                    });
                    out[c * plane + p] =
                        input[c * plane + p] / (bias + alpha / size * sum).powf(beta);
                }
            }
        }
        R::store(x.dtype(), x.shape().to_vec(), y)
    }
}

impl Semantics for Lrn {
    fn infer(&self, inputs: &[Option<Fact>], _num_outputs: usize) -> OpResult<Vec<TensorType>> {
        Ok(vec![self.output(operand_type(inputs, 0, "X")?)?])
    }

    fn eval(&self, inputs: &[Option<&Tensor>], _num_outputs: usize) -> OpResult<Vec<Tensor>> {
        let x = operand(inputs, 0, "X")?;
        self.output(&type_of(x))?;
        Ok(vec![float_op!("LRN", x, R => self.compute::<R>(x)?)])
    }
}
