//! Arithmetic on single lanes, exactly as native code computes it.
//!
//! Every lane is held in a `u64` in a canonical encoding: signed integers
//! sign-extended, unsigned integers zero-extended, `Bool` as 0 or 1, `F32` as its
//! bits in the low half, `F64` as its bits. Integer results are wrapped back into
//! their type with [`wrap`]; `F32` arithmetic is done in `f32`, so it rounds after
//! every operation like native code does.

use super::Fault;
use crate::kernel::{BinaryOp, CompareOp, ElemType, UnaryOp};

/// Bits of the element type (`Bool` has 8 in memory, 1 in value).
pub fn bits(elem: ElemType) -> u32 {
    elem.size() as u32 * 8
}

/// `raw`'s low bits of the width of `elem`, in the canonical encoding.
pub fn wrap(elem: ElemType, raw: u64) -> u64 {
    match elem {
        ElemType::I8 => raw as i8 as i64 as u64,
        ElemType::I16 => raw as i16 as i64 as u64,
        ElemType::I32 => raw as i32 as i64 as u64,
        ElemType::U8 => raw as u8 as u64,
        ElemType::U16 | ElemType::F16 => raw as u16 as u64,
        ElemType::U32 | ElemType::F32 => raw as u32 as u64,
        ElemType::I64 | ElemType::U64 | ElemType::F64 => raw,
        ElemType::Bool => (raw as u8 != 0) as u64,
    }
}

fn f32_of(v: u64) -> f32 {
    f32::from_bits(v as u32)
}

fn of_f32(x: f32) -> u64 {
    x.to_bits() as u64
}

fn f64_of(v: u64) -> f64 {
    f64::from_bits(v)
}

fn of_f64(x: f64) -> u64 {
    x.to_bits()
}

fn type_fault(what: &str, elem: ElemType) -> Fault {
    Fault::Type(format!("{what} is not defined on {}", elem.name()))
}

pub fn unary(op: UnaryOp, elem: ElemType, a: u64) -> Result<u64, Fault> {
    match elem {
        ElemType::F32 => {
            let x = f32_of(a);
            Ok(of_f32(match op {
                UnaryOp::Neg => -x,
                UnaryOp::Abs => x.abs(),
                UnaryOp::Sqrt => x.sqrt(),
                UnaryOp::Floor => x.floor(),
                UnaryOp::Ceil => x.ceil(),
                UnaryOp::Round => x.round_ties_even(),
                UnaryOp::Trunc => x.trunc(),
                UnaryOp::Not => return Err(type_fault("not", elem)),
            }))
        }
        ElemType::F64 => {
            let x = f64_of(a);
            Ok(of_f64(match op {
                UnaryOp::Neg => -x,
                UnaryOp::Abs => x.abs(),
                UnaryOp::Sqrt => x.sqrt(),
                UnaryOp::Floor => x.floor(),
                UnaryOp::Ceil => x.ceil(),
                UnaryOp::Round => x.round_ties_even(),
                UnaryOp::Trunc => x.trunc(),
                UnaryOp::Not => return Err(type_fault("not", elem)),
            }))
        }
        ElemType::Bool => match op {
            UnaryOp::Not => Ok(a ^ 1),
            _ => Err(type_fault(&format!("{op:?}"), elem)),
        },
        ElemType::F16 => Err(type_fault(&format!("{op:?}"), elem)),
        _ => match op {
            UnaryOp::Neg => Ok(wrap(elem, a.wrapping_neg())),
            UnaryOp::Abs if elem.is_signed() => Ok(wrap(elem, (a as i64).wrapping_abs() as u64)),
            UnaryOp::Abs => Ok(a),
            UnaryOp::Not => Ok(wrap(elem, !a)),
            _ => Err(type_fault(&format!("{op:?}"), elem)),
        },
    }
}

/// Float `Max`/`Min`: NaN if either is NaN; `max(-0, +0) = +0`, `min(-0, +0) = -0`.
macro_rules! float_extremum {
    ($a:expr, $b:expr, $max:expr, $t:ty, $nan:expr) => {{
        let (a, b): ($t, $t) = ($a, $b);
        if a.is_nan() || b.is_nan() {
            $nan
        } else if a == b {
            // Equal but maybe zeros of different signs: pick by sign bit.
            let bits = if $max {
                a.to_bits() & b.to_bits()
            } else {
                a.to_bits() | b.to_bits()
            };
            <$t>::from_bits(bits)
        } else if $max {
            a.max(b)
        } else {
            a.min(b)
        }
    }};
}

pub fn binary(op: BinaryOp, elem: ElemType, a: u64, b: u64) -> Result<u64, Fault> {
    match elem {
        ElemType::F32 => {
            let (x, y) = (f32_of(a), f32_of(b));
            Ok(of_f32(match op {
                BinaryOp::Add => x + y,
                BinaryOp::Sub => x - y,
                BinaryOp::Mul => x * y,
                BinaryOp::Div => x / y,
                BinaryOp::Max => float_extremum!(x, y, true, f32, f32::NAN),
                BinaryOp::Min => float_extremum!(x, y, false, f32, f32::NAN),
                _ => return Err(type_fault(&format!("{op:?}"), elem)),
            }))
        }
        ElemType::F64 => {
            let (x, y) = (f64_of(a), f64_of(b));
            Ok(of_f64(match op {
                BinaryOp::Add => x + y,
                BinaryOp::Sub => x - y,
                BinaryOp::Mul => x * y,
                BinaryOp::Div => x / y,
                BinaryOp::Max => float_extremum!(x, y, true, f64, f64::NAN),
                BinaryOp::Min => float_extremum!(x, y, false, f64, f64::NAN),
                _ => return Err(type_fault(&format!("{op:?}"), elem)),
            }))
        }
        ElemType::Bool => match op {
            BinaryOp::And => Ok(a & b),
            BinaryOp::Or => Ok(a | b),
            BinaryOp::Xor => Ok(a ^ b),
            _ => Err(type_fault(&format!("{op:?}"), elem)),
        },
        ElemType::F16 => Err(type_fault(&format!("{op:?}"), elem)),
        _ => int_binary(op, elem, a, b),
    }
}

/// Integer arithmetic. Shift amounts are taken modulo the bit width (the low bits
/// of the amount), as Cranelift and WebAssembly do.
fn int_binary(op: BinaryOp, elem: ElemType, a: u64, b: u64) -> Result<u64, Fault> {
    let signed = elem.is_signed();
    let (sa, sb) = (a as i64, b as i64);
    let r = match op {
        BinaryOp::Add => a.wrapping_add(b),
        BinaryOp::Sub => a.wrapping_sub(b),
        BinaryOp::Mul => a.wrapping_mul(b),
        BinaryOp::Div | BinaryOp::Rem if b == 0 => return Err(Fault::DivisionByZero),
        BinaryOp::Div if signed => {
            if sb == -1 && a == wrap(elem, 1u64 << (bits(elem) - 1)) {
                // MIN / -1 overflows; native code traps on it like on zero.
                return Err(Fault::DivisionOverflow);
            }
            (sa / sb) as u64
        }
        BinaryOp::Div => a / b,
        // MIN % -1 is 0, as Cranelift and WebAssembly define it.
        BinaryOp::Rem if signed => sa.wrapping_rem(sb) as u64,
        BinaryOp::Rem => a % b,
        BinaryOp::Max if signed => sa.max(sb) as u64,
        BinaryOp::Max => a.max(b),
        BinaryOp::Min if signed => sa.min(sb) as u64,
        BinaryOp::Min => a.min(b),
        BinaryOp::And => a & b,
        BinaryOp::Or => a | b,
        BinaryOp::Xor => a ^ b,
        BinaryOp::Shl => a << (b & (bits(elem) as u64 - 1)),
        BinaryOp::Shr if signed => (sa >> (b & (bits(elem) as u64 - 1))) as u64,
        BinaryOp::Shr => a >> (b & (bits(elem) as u64 - 1)),
    };
    Ok(wrap(elem, r))
}

pub fn fma(elem: ElemType, a: u64, b: u64, c: u64) -> Result<u64, Fault> {
    match elem {
        ElemType::F32 => Ok(of_f32(f32_of(a).mul_add(f32_of(b), f32_of(c)))),
        ElemType::F64 => Ok(of_f64(f64_of(a).mul_add(f64_of(b), f64_of(c)))),
        _ => Err(type_fault("fma", elem)),
    }
}

pub fn compare(op: CompareOp, elem: ElemType, a: u64, b: u64) -> Result<bool, Fault> {
    use std::cmp::Ordering;
    let ord = match elem {
        ElemType::F32 => f32_of(a).partial_cmp(&f32_of(b)),
        ElemType::F64 => f64_of(a).partial_cmp(&f64_of(b)),
        ElemType::F16 => return Err(type_fault("comparison", elem)),
        e if e.is_signed() => Some((a as i64).cmp(&(b as i64))),
        _ => Some(a.cmp(&b)),
    };
    // Unordered (NaN) compares false, except `Ne`.
    Ok(match (op, ord) {
        (CompareOp::Ne, None) => true,
        (_, None) => false,
        (CompareOp::Eq, Some(o)) => o == Ordering::Equal,
        (CompareOp::Ne, Some(o)) => o != Ordering::Equal,
        (CompareOp::Lt, Some(o)) => o == Ordering::Less,
        (CompareOp::Le, Some(o)) => o != Ordering::Greater,
        (CompareOp::Gt, Some(o)) => o == Ordering::Greater,
        (CompareOp::Ge, Some(o)) => o != Ordering::Less,
    })
}

/// Numeric conversion of one lane: float -> int truncates and saturates (NaN ->
/// 0); int -> int wraps; bool <-> number as 0/1 (number -> bool is `!= 0`).
pub fn convert(from: ElemType, to: ElemType, a: u64) -> Result<u64, Fault> {
    if from == ElemType::F16 || to == ElemType::F16 {
        return Err(Fault::Type("f16 values are never converted".into()));
    }
    if from.is_float() {
        let x = if from == ElemType::F32 {
            f32_of(a) as f64
        } else {
            f64_of(a)
        };
        // f32 -> f64 is exact, so converting through f64 gives the same integer.
        return Ok(match to {
            ElemType::F32 => of_f32(if from == ElemType::F32 {
                f32_of(a)
            } else {
                x as f32
            }),
            ElemType::F64 => of_f64(x),
            ElemType::Bool => (x != 0.0) as u64,
            ElemType::I8 => x as i8 as i64 as u64,
            ElemType::I16 => x as i16 as i64 as u64,
            ElemType::I32 => x as i32 as i64 as u64,
            ElemType::I64 => x as i64 as u64,
            ElemType::U8 => x as u8 as u64,
            ElemType::U16 => x as u16 as u64,
            ElemType::U32 => x as u32 as u64,
            ElemType::U64 => x as u64,
            ElemType::F16 => return Err(Fault::Type("f16 values are never converted".into())),
        });
    }
    // Integers and bools: `a` is already extended by the source's signedness.
    Ok(match to {
        ElemType::F32 if from.is_signed() => of_f32(a as i64 as f32),
        ElemType::F32 => of_f32(a as f32),
        ElemType::F64 if from.is_signed() => of_f64(a as i64 as f64),
        ElemType::F64 => of_f64(a as f64),
        ElemType::Bool => (a != 0) as u64,
        _ => wrap(to, a),
    })
}

/// Reinterprets one lane's bits as another type of the same width.
pub fn bitcast(from: ElemType, to: ElemType, a: u64) -> u64 {
    let width = bits(from);
    let raw = if width == 64 {
        a
    } else {
        a & ((1u64 << width) - 1)
    };
    wrap(to, raw)
}
