//! Elementwise ops: unary math and activations, binary arithmetic / logic /
//! comparison, the variadic Sum / Mean / Max / Min, Clip, Where, Cast, CastLike,
//! Identity and Dropout (an identity at inference).

use nnc_ir::ops::{Binary, Cast, Unary};
use nnc_ir::{DType, Op, Tensor};

use super::{Converter, at};
use crate::import::{ConvResult, NodeCtx, bail, refuse};
use crate::tensor::dtype_of;

pub(super) static CONVERTERS: &[Converter] = &[
    at("Abs", 1, |c| unary(c, Unary::Abs)),
    at("Neg", 1, |c| unary(c, Unary::Neg)),
    at("Exp", 1, |c| unary(c, Unary::Exp)),
    at("Log", 1, |c| unary(c, Unary::Log)),
    at("Sqrt", 1, |c| unary(c, Unary::Sqrt)),
    at("Reciprocal", 1, |c| unary(c, Unary::Reciprocal)),
    at("Floor", 1, |c| unary(c, Unary::Floor)),
    at("Ceil", 1, |c| unary(c, Unary::Ceil)),
    at("Round", 11, |c| unary(c, Unary::Round)),
    at("Sign", 9, |c| unary(c, Unary::Sign)),
    at("Sin", 7, |c| unary(c, Unary::Sin)),
    at("Cos", 7, |c| unary(c, Unary::Cos)),
    at("Tan", 7, |c| unary(c, Unary::Tan)),
    at("Asin", 7, |c| unary(c, Unary::Asin)),
    at("Acos", 7, |c| unary(c, Unary::Acos)),
    at("Atan", 7, |c| unary(c, Unary::Atan)),
    at("Sinh", 9, |c| unary(c, Unary::Sinh)),
    at("Cosh", 9, |c| unary(c, Unary::Cosh)),
    at("Asinh", 9, |c| unary(c, Unary::Asinh)),
    at("Acosh", 9, |c| unary(c, Unary::Acosh)),
    at("Atanh", 9, |c| unary(c, Unary::Atanh)),
    at("Erf", 9, |c| unary(c, Unary::Erf)),
    at("Not", 1, |c| unary(c, Unary::Not)),
    at("BitwiseNot", 18, |c| unary(c, Unary::BitwiseNot)),
    at("IsNaN", 9, |c| unary(c, Unary::IsNaN)),
    at("IsInf", 10, is_inf),
    at("Relu", 1, |c| unary(c, Unary::Relu)),
    at("Sigmoid", 1, |c| unary(c, Unary::Sigmoid)),
    at("Tanh", 1, |c| unary(c, Unary::Tanh)),
    at("Softplus", 1, |c| unary(c, Unary::Softplus)),
    at("Softsign", 1, |c| unary(c, Unary::Softsign)),
    at("Mish", 18, |c| unary(c, Unary::Mish)),
    at("HardSwish", 14, |c| unary(c, Unary::HardSwish)),
    at("LeakyRelu", 1, leaky_relu),
    at("Elu", 1, elu),
    at("Selu", 1, selu),
    at("Celu", 12, celu),
    at("HardSigmoid", 1, hard_sigmoid),
    at("ThresholdedRelu", 10, thresholded_relu),
    at("Shrink", 9, shrink),
    at("Gelu", 20, gelu),
    at("Swish", 24, swish),
    at("Add", 7, |c| binary(c, Binary::Add)),
    at("Sub", 7, |c| binary(c, Binary::Sub)),
    at("Mul", 7, |c| binary(c, Binary::Mul)),
    at("Div", 7, |c| binary(c, Binary::Div)),
    at("Pow", 7, |c| binary(c, Binary::Pow)),
    at("Mod", 10, modulo),
    at("And", 7, |c| binary(c, Binary::And)),
    at("Or", 7, |c| binary(c, Binary::Or)),
    at("Xor", 7, |c| binary(c, Binary::Xor)),
    at("BitwiseAnd", 18, |c| binary(c, Binary::BitwiseAnd)),
    at("BitwiseOr", 18, |c| binary(c, Binary::BitwiseOr)),
    at("BitwiseXor", 18, |c| binary(c, Binary::BitwiseXor)),
    at("BitShift", 11, bit_shift),
    at("Equal", 7, |c| binary(c, Binary::Equal)),
    at("Less", 7, |c| binary(c, Binary::Less)),
    at("LessOrEqual", 12, |c| binary(c, Binary::LessOrEqual)),
    at("Greater", 7, |c| binary(c, Binary::Greater)),
    at("GreaterOrEqual", 12, |c| binary(c, Binary::GreaterOrEqual)),
    at("PRelu", 7, |c| binary(c, Binary::PRelu)),
    at("Sum", 1, |c| variadic(c, Binary::Add)),
    at("Max", 1, |c| variadic(c, Binary::Max)),
    at("Min", 1, |c| variadic(c, Binary::Min)),
    at("Mean", 1, mean),
    at("Clip", 1, clip_attributes),
    at("Clip", 11, clip_inputs),
    at("Where", 9, where_),
    at("Cast", 1, cast),
    at("CastLike", 15, cast_like),
    at("Identity", 1, identity),
    at("Dropout", 1, dropout),
];

fn unary(ctx: &mut NodeCtx, op: Unary) -> ConvResult<()> {
    let x = ctx.input(0)?;
    ctx.add(Op::Unary(op), vec![Some(x)])?;
    Ok(())
}

fn leaky_relu(ctx: &mut NodeCtx) -> ConvResult<()> {
    let alpha = ctx.attrs.float("alpha", 0.01)?;
    unary(ctx, Unary::LeakyRelu { alpha })
}

fn elu(ctx: &mut NodeCtx) -> ConvResult<()> {
    let alpha = ctx.attrs.float("alpha", 1.0)?;
    unary(ctx, Unary::Elu { alpha })
}

fn selu(ctx: &mut NodeCtx) -> ConvResult<()> {
    let alpha = ctx.attrs.float("alpha", 1.673_263_2)?;
    let gamma = ctx.attrs.float("gamma", 1.050_701)?;
    unary(ctx, Unary::Selu { alpha, gamma })
}

fn celu(ctx: &mut NodeCtx) -> ConvResult<()> {
    let alpha = ctx.attrs.float("alpha", 1.0)?;
    unary(ctx, Unary::Celu { alpha })
}

fn hard_sigmoid(ctx: &mut NodeCtx) -> ConvResult<()> {
    let alpha = ctx.attrs.float("alpha", 0.2)?;
    let beta = ctx.attrs.float("beta", 0.5)?;
    unary(ctx, Unary::HardSigmoid { alpha, beta })
}

fn thresholded_relu(ctx: &mut NodeCtx) -> ConvResult<()> {
    let alpha = ctx.attrs.float("alpha", 1.0)?;
    unary(ctx, Unary::ThresholdedRelu { alpha })
}

fn shrink(ctx: &mut NodeCtx) -> ConvResult<()> {
    let bias = ctx.attrs.float("bias", 0.0)?;
    let lambd = ctx.attrs.float("lambd", 0.5)?;
    unary(ctx, Unary::Shrink { bias, lambd })
}

fn gelu(ctx: &mut NodeCtx) -> ConvResult<()> {
    let tanh_approximation = match ctx.attrs.string("approximate", "none")? {
        "none" => false,
        "tanh" => true,
        other => bail!("attribute 'approximate' must be \"none\" or \"tanh\", is \"{other}\""),
    };
    unary(ctx, Unary::Gelu { tanh_approximation })
}

/// Swish: x * sigmoid(alpha * x), as IR Mul, Sigmoid and Mul.
fn swish(ctx: &mut NodeCtx) -> ConvResult<()> {
    let alpha = ctx.attrs.float("alpha", 1.0)?;
    let x = ctx.input(0)?;
    let scaled = if alpha == 1.0 {
        x
    } else {
        let alpha = ctx.scalar(ctx.ty(x).dtype, f64::from(alpha))?;
        ctx.add_internal(Op::Binary(Binary::Mul), vec![Some(x), Some(alpha)])?
    };
    let gate = ctx.add_internal(Op::Unary(Unary::Sigmoid), vec![Some(scaled)])?;
    ctx.add(Op::Binary(Binary::Mul), vec![Some(x), Some(gate)])?;
    Ok(())
}

fn is_inf(ctx: &mut NodeCtx) -> ConvResult<()> {
    let detect_negative = ctx.attrs.flag("detect_negative", true)?;
    let detect_positive = ctx.attrs.flag("detect_positive", true)?;
    unary(
        ctx,
        Unary::IsInf {
            detect_negative,
            detect_positive,
        },
    )
}

fn binary(ctx: &mut NodeCtx, op: Binary) -> ConvResult<()> {
    let a = ctx.input(0)?;
    let b = ctx.input(1)?;
    ctx.add(Op::Binary(op), vec![Some(a), Some(b)])?;
    Ok(())
}

fn modulo(ctx: &mut NodeCtx) -> ConvResult<()> {
    let fmod = ctx.attrs.flag("fmod", false)?;
    binary(ctx, Binary::Mod { fmod })
}

fn bit_shift(ctx: &mut NodeCtx) -> ConvResult<()> {
    let op = match ctx.attrs.opt_string("direction")? {
        Some("LEFT") => Binary::BitShiftLeft,
        Some("RIGHT") => Binary::BitShiftRight,
        Some(other) => bail!("attribute 'direction' must be \"LEFT\" or \"RIGHT\", is \"{other}\""),
        None => bail!("BitShift requires attribute 'direction'"),
    };
    binary(ctx, op)
}

/// Sum, Max, Min of any number of operands: a chain of binary ops (one operand is
/// an Identity).
fn variadic(ctx: &mut NodeCtx, op: Binary) -> ConvResult<()> {
    let operands = required_operands(ctx)?;
    let Some((last, rest)) = operands.split_last() else {
        bail!("{} needs at least one input", ctx.op_type());
    };
    let Some((&first, middle)) = rest.split_first() else {
        ctx.add(Op::Identity, vec![Some(*last)])?;
        return Ok(());
    };
    let mut acc = first;
    for &x in middle {
        acc = ctx.add_internal(Op::Binary(op), vec![Some(acc), Some(x)])?;
    }
    ctx.add(Op::Binary(op), vec![Some(acc), Some(*last)])?;
    Ok(())
}

/// Mean = the Sum chain divided by the operand count.
fn mean(ctx: &mut NodeCtx) -> ConvResult<()> {
    let operands = required_operands(ctx)?;
    let Some((&first, rest)) = operands.split_first() else {
        bail!("Mean needs at least one input");
    };
    let dtype = ctx.ty(first).dtype;
    if !dtype.is_float() {
        bail!("Mean is defined for float tensors, not {dtype}");
    }
    let mut sum = first;
    for &x in rest {
        sum = ctx.add_internal(Op::Binary(Binary::Add), vec![Some(sum), Some(x)])?;
    }
    let n = ctx.scalar(dtype, operands.len() as f64)?;
    ctx.add(Op::Binary(Binary::Div), vec![Some(sum), Some(n)])?;
    Ok(())
}

fn required_operands(ctx: &NodeCtx) -> ConvResult<Vec<nnc_ir::ValueId>> {
    (0..ctx.input_count()).map(|i| ctx.input(i)).collect()
}

/// Clip before opset 11: bounds are float attributes (absent = unbounded).
fn clip_attributes(ctx: &mut NodeCtx) -> ConvResult<()> {
    let x = ctx.input(0)?;
    let dtype = ctx.ty(x).dtype;
    let min = ctx.attrs.opt_float("min")?;
    let max = ctx.attrs.opt_float("max")?;
    let min = min.map(|v| ctx.scalar(dtype, f64::from(v))).transpose()?;
    let max = max.map(|v| ctx.scalar(dtype, f64::from(v))).transpose()?;
    ctx.add(Op::Clip, vec![Some(x), min, max])?;
    Ok(())
}

/// Clip from opset 11: bounds are optional scalar operands.
fn clip_inputs(ctx: &mut NodeCtx) -> ConvResult<()> {
    let x = ctx.input(0)?;
    let min = ctx.opt_input(1)?;
    let max = ctx.opt_input(2)?;
    ctx.add(Op::Clip, vec![Some(x), min, max])?;
    Ok(())
}

fn where_(ctx: &mut NodeCtx) -> ConvResult<()> {
    let inputs = vec![
        Some(ctx.input(0)?),
        Some(ctx.input(1)?),
        Some(ctx.input(2)?),
    ];
    ctx.add(Op::Where, inputs)?;
    Ok(())
}

fn cast(ctx: &mut NodeCtx) -> ConvResult<()> {
    let Some(to) = ctx.attrs.opt_int("to")? else {
        bail!("Cast requires attribute 'to'");
    };
    let Ok(code) = i32::try_from(to) else {
        bail!("attribute 'to' is not a data type ({to})");
    };
    let to = dtype_of(code).map_err(|e| e.within("attribute 'to'"))?;
    let saturate = ctx.attrs.flag("saturate", true)?;
    let x = ctx.input(0)?;
    ctx.add(Op::Cast(Cast { to, saturate }), vec![Some(x)])?;
    Ok(())
}

fn cast_like(ctx: &mut NodeCtx) -> ConvResult<()> {
    let x = ctx.input(0)?;
    let to = ctx.input_type(1)?.dtype;
    let saturate = ctx.attrs.flag("saturate", true)?;
    ctx.add(Op::Cast(Cast { to, saturate }), vec![Some(x)])?;
    Ok(())
}

fn identity(ctx: &mut NodeCtx) -> ConvResult<()> {
    let x = ctx.input(0)?;
    ctx.add(Op::Identity, vec![Some(x)])?;
    Ok(())
}

/// Dropout at inference: the output is the input, the mask all true (all ones of
/// the input's dtype before opset 10). Training mode cannot be compiled.
fn dropout(ctx: &mut NodeCtx) -> ConvResult<()> {
    if ctx.opset >= 12
        && let Some(training) = ctx.opt_known(2, "training_mode")?
        && training.to_f64_vec().first().is_some_and(|&t| t != 0.0)
    {
        refuse!("Dropout in training mode is not supported (nnc compiles inference graphs)");
    }
    if ctx.opset < 7 && ctx.attrs.int("is_test", 0)? == 0 {
        refuse!("Dropout in training mode (is_test = 0) is not supported");
    }
    let x = ctx.input(0)?;
    ctx.add_output(0, Op::Identity, vec![Some(x)])?;
    if ctx.wants_output(1) {
        let ty = ctx.ty(x).clone();
        let mask = if ctx.opset >= 10 {
            Tensor::from_bytes(DType::Bool, ty.shape.clone(), vec![1u8; ty.len()].into())?
        } else {
            Tensor::from_f64_values(ty.dtype, ty.shape.clone(), &vec![1.0; ty.len()])?
        };
        ctx.const_output(1, mask)?;
    }
    Ok(())
}
