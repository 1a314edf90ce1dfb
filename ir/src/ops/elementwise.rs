//! Elementwise ops: unary functions and activations, binary arithmetic, logic and
//! comparison with ONNX multidirectional broadcasting, Clip, Where, Cast, Identity.

mod binary;
mod broadcast;
mod cast;
mod math;
pub(crate) mod number;
pub(crate) mod operands;
mod select;
mod unary;

pub(crate) use broadcast::Broadcast;
pub(crate) use cast::round_from_f64;

use crate::DType;

use super::Semantics;

/// A function of one operand, applied to every element. Parameters are those of the
/// ONNX op of the same name.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Unary {
    Abs,
    Neg,
    Exp,
    Log,
    Sqrt,
    Reciprocal,
    Floor,
    Ceil,
    /// Round half to even.
    Round,
    Sign,
    Sin,
    Cos,
    Tan,
    Asin,
    Acos,
    Atan,
    Sinh,
    Cosh,
    Asinh,
    Acosh,
    Atanh,
    Erf,
    /// Logical not (bool).
    Not,
    BitwiseNot,
    Relu,
    Sigmoid,
    Tanh,
    Softplus,
    Softsign,
    Mish,
    HardSwish,
    LeakyRelu {
        alpha: f32,
    },
    Elu {
        alpha: f32,
    },
    Selu {
        alpha: f32,
        gamma: f32,
    },
    Celu {
        alpha: f32,
    },
    HardSigmoid {
        alpha: f32,
        beta: f32,
    },
    ThresholdedRelu {
        alpha: f32,
    },
    Shrink {
        bias: f32,
        lambd: f32,
    },
    /// GELU, exact (Erf) or with the tanh approximation.
    Gelu {
        tanh_approximation: bool,
    },
    /// Output bool.
    IsNaN,
    /// Output bool.
    IsInf {
        detect_negative: bool,
        detect_positive: bool,
    },
}

/// A function of two operands with multidirectional broadcasting.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Binary {
    Add,
    Sub,
    Mul,
    /// Integer division truncates toward zero (as onnxruntime does).
    Div,
    Pow,
    /// `fmod = false`: result has the sign of the divisor;
    /// `fmod = true`: C fmod, sign of the dividend.
    Mod {
        fmod: bool,
    },
    Max,
    Min,
    And,
    Or,
    Xor,
    BitwiseAnd,
    BitwiseOr,
    BitwiseXor,
    /// Shift of the first operand by the second (any integer type since opset 28;
    /// right shifts of signed types are arithmetic).
    BitShiftLeft,
    BitShiftRight,
    Equal,
    Less,
    LessOrEqual,
    Greater,
    GreaterOrEqual,
    /// x < 0 ? slope * x : x, slope broadcast to x.
    PRelu,
}

/// Conversion to another element type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cast {
    pub to: DType,
    /// Only meaningful for float8 targets, which the IR does not have; kept for fidelity.
    pub saturate: bool,
}

pub(super) struct IdentityOp;
pub(super) static IDENTITY: IdentityOp = IdentityOp;
pub(super) struct ClipOp;
pub(super) static CLIP: ClipOp = ClipOp;
pub(super) struct WhereOp;
pub(super) static WHERE: WhereOp = WhereOp;

impl Unary {
    pub fn name(&self) -> &'static str {
        match self {
            Unary::Abs => "Abs",
            Unary::Neg => "Neg",
            Unary::Exp => "Exp",
            Unary::Log => "Log",
            Unary::Sqrt => "Sqrt",
            Unary::Reciprocal => "Reciprocal",
            Unary::Floor => "Floor",
            Unary::Ceil => "Ceil",
            Unary::Round => "Round",
            Unary::Sign => "Sign",
            Unary::Sin => "Sin",
            Unary::Cos => "Cos",
            Unary::Tan => "Tan",
            Unary::Asin => "Asin",
            Unary::Acos => "Acos",
            Unary::Atan => "Atan",
            Unary::Sinh => "Sinh",
            Unary::Cosh => "Cosh",
            Unary::Asinh => "Asinh",
            Unary::Acosh => "Acosh",
            Unary::Atanh => "Atanh",
            Unary::Erf => "Erf",
            Unary::Not => "Not",
            Unary::BitwiseNot => "BitwiseNot",
            Unary::Relu => "Relu",
            Unary::Sigmoid => "Sigmoid",
            Unary::Tanh => "Tanh",
            Unary::Softplus => "Softplus",
            Unary::Softsign => "Softsign",
            Unary::Mish => "Mish",
            Unary::HardSwish => "HardSwish",
            Unary::LeakyRelu { .. } => "LeakyRelu",
            Unary::Elu { .. } => "Elu",
            Unary::Selu { .. } => "Selu",
            Unary::Celu { .. } => "Celu",
            Unary::HardSigmoid { .. } => "HardSigmoid",
            Unary::ThresholdedRelu { .. } => "ThresholdedRelu",
            Unary::Shrink { .. } => "Shrink",
            Unary::Gelu { .. } => "Gelu",
            Unary::IsNaN => "IsNaN",
            Unary::IsInf { .. } => "IsInf",
        }
    }
}

impl Binary {
    pub fn name(&self) -> &'static str {
        match self {
            Binary::Add => "Add",
            Binary::Sub => "Sub",
            Binary::Mul => "Mul",
            Binary::Div => "Div",
            Binary::Pow => "Pow",
            Binary::Mod { .. } => "Mod",
            Binary::Max => "Max",
            Binary::Min => "Min",
            Binary::And => "And",
            Binary::Or => "Or",
            Binary::Xor => "Xor",
            Binary::BitwiseAnd => "BitwiseAnd",
            Binary::BitwiseOr => "BitwiseOr",
            Binary::BitwiseXor => "BitwiseXor",
            Binary::BitShiftLeft | Binary::BitShiftRight => "BitShift",
            Binary::Equal => "Equal",
            Binary::Less => "Less",
            Binary::LessOrEqual => "LessOrEqual",
            Binary::Greater => "Greater",
            Binary::GreaterOrEqual => "GreaterOrEqual",
            Binary::PRelu => "PRelu",
        }
    }
}
