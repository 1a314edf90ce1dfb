//! Fused: a producing op (the *anchor*: Conv, MatMul or Gemm) followed by
//! elementwise steps applied to its output before it is stored, so that a conv
//! block writes its output once instead of once per activation or residual add.
//! The anchor may also be an elementwise op itself (an f32 Unary, or Add / Sub /
//! Mul / Div / Max / Min): a chain of elementwise ops as one kernel, whose extra
//! operands may broadcast in any ONNX way (the backend walks them all at once).
//!
//! Operands: the anchor's operand slots (`anchor_operands` of them, absent optional
//! ones `None`), then the *extra* operands the steps read (a residual, a
//! per-channel scale), each broadcasting to the anchor's output shape.
//!
//! The op is general on purpose: the e-graph optimiser's `fusion` rules produce
//! it, and the greedy `fuse-epilogues` pass (their fallback) the same op.
//! Its meaning is defined by [`Fused::eval`]: the anchor's evaluation, then each
//! step through the existing elementwise evaluation, exactly as the unfused chain.
//!
//! [`OperandForm`] names the ways an extra operand may spread over the output that
//! the fused kernels read directly (same shape, one value per channel, a scalar):
//! a producer of `Fused` should only fuse operands that have one.

use crate::{DType, Fact, OpResult, Tensor, TensorType, op_bail, op_ensure};

use super::{Binary, Op, Semantics, Unary};

/// An anchor op with elementwise steps applied to its output `v`.
#[derive(Clone, Debug, PartialEq)]
pub struct Fused {
    /// The producing op: Conv, MatMul, Gemm, or an elementwise op.
    pub anchor: Box<Op>,
    /// How many operand slots the anchor takes (its optional ones included).
    pub anchor_operands: usize,
    /// Applied in order to the anchor's output.
    pub steps: Vec<Step>,
}

/// One elementwise step on the running value `v`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Step {
    /// `f(v)`: an activation.
    Unary(Unary),
    /// `clip(v, min, max)` with bounds known at compile time (`None`: unbounded).
    Clip { min: Option<f32>, max: Option<f32> },
    /// `v op e` with `e` the extra operand number `operand` (0 = the first operand
    /// after the anchor's), or `e op v` when `swapped`.
    Binary {
        op: Binary,
        operand: usize,
        swapped: bool,
    },
    /// `v * f(v)`: SiLU / Swish when `f` is Sigmoid.
    Gate(Unary),
}

impl Step {
    /// Whether `u` can be a [`Step::Unary`]: the activations whose f32 epilogue
    /// lowering is a short expression (no step changes the type). The fusion
    /// rules of the e-graph and the greedy fallback pass both ask this.
    pub fn fusable_activation(u: Unary) -> bool {
        matches!(
            u,
            Unary::Relu
                | Unary::LeakyRelu { .. }
                | Unary::Sigmoid
                | Unary::Tanh
                | Unary::HardSwish
                | Unary::HardSigmoid { .. }
                | Unary::Gelu { .. }
                | Unary::Elu { .. }
                | Unary::Selu { .. }
                | Unary::Celu { .. }
                | Unary::Softplus
                | Unary::Mish
                | Unary::Abs
                | Unary::Neg
        )
    }
}

/// How an extra operand of a fused op spreads over the anchor's output.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OperandForm {
    /// The output's shape (after leading 1s): element `i` goes with output element `i`.
    Full,
    /// One value per channel: dim 1 of a Conv output, the last dim of a matrix
    /// product's.
    Channel,
    /// A single value.
    Scalar,
}

impl Fused {
    /// The anchor's operand slots then the extra operands, split.
    fn split<'a, T>(&self, inputs: &'a [T]) -> OpResult<(&'a [T], &'a [T])> {
        op_ensure!(
            inputs.len() >= self.anchor_operands,
            "Fused takes {} anchor operands, got {}",
            self.anchor_operands,
            inputs.len()
        );
        Ok(inputs.split_at(self.anchor_operands))
    }

    /// A name for reports: the anchor and its steps, e.g. `Conv+Add+Relu`.
    pub fn label(&self) -> String {
        let mut label = self.anchor.name().to_string();
        for step in &self.steps {
            label.push('+');
            label.push_str(&match step {
                Step::Unary(u) => u.name().to_string(),
                Step::Clip { .. } => "Clip".to_string(),
                Step::Binary { op, .. } => op.name().to_string(),
                Step::Gate(Unary::Sigmoid) => "SiLU".to_string(),
                Step::Gate(u) => format!("Gate{}", u.name()),
            });
        }
        label
    }

    /// The axis of the anchor's output that [`OperandForm::Channel`] runs along.
    pub fn channel_axis(anchor: &Op, output_rank: usize) -> Option<usize> {
        match anchor {
            Op::Conv(_) if output_rank >= 2 => Some(1),
            Op::MatMul | Op::Gemm(_) if output_rank >= 1 => Some(output_rank - 1),
            _ => None,
        }
    }

    /// How an operand of shape `operand` spreads over `anchor`'s `output` shape,
    /// when it is one of the forms fused kernels read.
    pub fn operand_form(anchor: &Op, output: &[usize], operand: &[usize]) -> Option<OperandForm> {
        if operand.len() > output.len() {
            return None;
        }
        let mut padded = vec![1; output.len() - operand.len()];
        padded.extend_from_slice(operand);
        if padded == output {
            return Some(OperandForm::Full);
        }
        if padded.iter().all(|&d| d == 1) {
            return Some(OperandForm::Scalar);
        }
        let axis = Fused::channel_axis(anchor, output.len())?;
        let per_channel = padded
            .iter()
            .enumerate()
            .all(|(d, &n)| if d == axis { n == output[d] } else { n == 1 });
        per_channel.then_some(OperandForm::Channel)
    }

    /// The operator a step applies, and its operands around the running value.
    fn step_op(step: &Step) -> Op {
        match *step {
            Step::Unary(u) | Step::Gate(u) => Op::Unary(u),
            Step::Clip { .. } => Op::Clip,
            Step::Binary { op, .. } => Op::Binary(op),
        }
    }
}

/// A scalar f32 clip bound as a tensor, for the reference Clip.
fn bound(b: Option<f32>) -> Option<Tensor> {
    b.map(Tensor::scalar)
}

impl Semantics for Fused {
    fn infer(&self, inputs: &[Option<Fact>], num_outputs: usize) -> OpResult<Vec<TensorType>> {
        op_ensure!(num_outputs == 1, "Fused has one output");
        let (anchor, extra) = self.split(inputs)?;
        let mut types = self.anchor.infer(anchor, 1)?;
        op_ensure!(types.len() == 1, "the anchor of Fused has one output");
        let out = types.remove(0);
        op_ensure!(
            out.dtype == DType::F32,
            "Fused computes f32, the anchor gives {}",
            out.dtype
        );
        for step in &self.steps {
            let v = Fact {
                ty: &out,
                value: None,
            };
            let step_types = match *step {
                Step::Binary {
                    op,
                    operand,
                    swapped,
                } => {
                    let Some(Some(e)) = extra.get(operand) else {
                        op_bail!("{} step reads extra operand {operand}, absent", op.name());
                    };
                    let e = Fact {
                        ty: e.ty,
                        value: None,
                    };
                    let pair = if swapped {
                        [Some(e), Some(v)]
                    } else {
                        [Some(v), Some(e)]
                    };
                    Op::Binary(op).infer(&pair, 1)?
                }
                Step::Clip { .. } => Op::Clip.infer(&[Some(v)], 1)?,
                Step::Unary(u) | Step::Gate(u) => Op::Unary(u).infer(&[Some(v)], 1)?,
            };
            op_ensure!(
                step_types.first() == Some(&out),
                "step {} changes the output type {out} to {:?}",
                Fused::step_op(step).name(),
                step_types.first()
            );
        }
        Ok(vec![out])
    }

    fn eval(&self, inputs: &[Option<&Tensor>], num_outputs: usize) -> OpResult<Vec<Tensor>> {
        op_ensure!(num_outputs == 1, "Fused has one output");
        let (anchor, extra) = self.split(inputs)?;
        let mut v = self.anchor.eval(anchor, 1)?.remove(0);
        for step in &self.steps {
            let op = Fused::step_op(step);
            v = match *step {
                Step::Unary(_) => op.eval(&[Some(&v)], 1)?,
                Step::Clip { min, max } => {
                    let (lo, hi) = (bound(min), bound(max));
                    op.eval(&[Some(&v), lo.as_ref(), hi.as_ref()], 1)?
                }
                Step::Binary {
                    operand, swapped, ..
                } => {
                    let Some(Some(e)) = extra.get(operand) else {
                        op_bail!("extra operand {operand} is absent");
                    };
                    let pair = if swapped {
                        [Some(*e), Some(&v)]
                    } else {
                        [Some(&v), Some(*e)]
                    };
                    op.eval(&pair, 1)?
                }
                Step::Gate(_) => {
                    let gate = op.eval(&[Some(&v)], 1)?.remove(0);
                    Op::Binary(Binary::Mul).eval(&[Some(&v), Some(&gate)], 1)?
                }
            }
            .remove(0);
        }
        Ok(vec![v])
    }
}

#[cfg(test)]
mod tests;
