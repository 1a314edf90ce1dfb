//! Integer intervals and the transfer functions of the operations on them.
//!
//! Bounds are `i128`, so that the exact result of an `i64`/`u64` operation is
//! representable before it is compared with the type's range; a result that may
//! leave its type's range may wrap anywhere, so it becomes the whole range.

use crate::kernel::{BinaryOp, ElemType, UnaryOp};

/// A non-empty inclusive interval `[lo, hi]` of canonical values (signed types as
/// their value, unsigned as theirs, `Bool` 0/1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Range {
    pub lo: i128,
    pub hi: i128,
}

impl Range {
    pub fn new(lo: i128, hi: i128) -> Range {
        Range { lo, hi }
    }

    pub fn point(v: i128) -> Range {
        Range { lo: v, hi: v }
    }

    pub fn union(self, other: Range) -> Range {
        Range::new(self.lo.min(other.lo), self.hi.max(other.hi))
    }

    /// The common part, `None` if there is none.
    pub fn intersect(self, other: Range) -> Option<Range> {
        let r = Range::new(self.lo.max(other.lo), self.hi.min(other.hi));
        (r.lo <= r.hi).then_some(r)
    }

    pub fn contains(self, other: Range) -> bool {
        self.lo <= other.lo && other.hi <= self.hi
    }

    pub fn as_point(self) -> Option<i128> {
        (self.lo == self.hi).then_some(self.lo)
    }

    /// The smallest interval holding the results of `f` on every corner pair, or
    /// `None` if one overflows `i128`.
    fn corners(a: Range, b: Range, f: impl Fn(i128, i128) -> Option<i128>) -> Option<Range> {
        let values = [
            f(a.lo, b.lo)?,
            f(a.lo, b.hi)?,
            f(a.hi, b.lo)?,
            f(a.hi, b.hi)?,
        ];
        let lo = values.iter().copied().min()?;
        let hi = values.iter().copied().max()?;
        Some(Range::new(lo, hi))
    }
}

/// Every value of an integer or bool type; `None` for floats.
pub fn type_range(elem: ElemType) -> Option<Range> {
    let (lo, hi): (i128, i128) = match elem {
        ElemType::F32 | ElemType::F64 | ElemType::F16 => return None,
        ElemType::Bool => (0, 1),
        ElemType::I8 => (i8::MIN.into(), i8::MAX.into()),
        ElemType::U8 => (0, u8::MAX.into()),
        ElemType::I16 => (i16::MIN.into(), i16::MAX.into()),
        ElemType::U16 => (0, u16::MAX.into()),
        ElemType::I32 => (i32::MIN.into(), i32::MAX.into()),
        ElemType::U32 => (0, u32::MAX.into()),
        ElemType::I64 => (i64::MIN.into(), i64::MAX.into()),
        ElemType::U64 => (0, u64::MAX.into()),
    };
    Some(Range::new(lo, hi))
}

/// `r` if no value of it wraps in `elem`, else the whole range of `elem`.
pub fn fit(elem: ElemType, r: Option<Range>) -> Option<Range> {
    let full = type_range(elem)?;
    match r {
        Some(r) if full.contains(r) => Some(r),
        _ => Some(full),
    }
}

pub fn unary(op: UnaryOp, elem: ElemType, a: Range) -> Option<Range> {
    if elem.is_float() {
        return None;
    }
    if elem == ElemType::Bool {
        return type_range(elem);
    }
    let r = match op {
        UnaryOp::Neg => Some(Range::new(-a.hi, -a.lo)),
        UnaryOp::Abs if a.lo >= 0 => Some(a),
        UnaryOp::Abs if a.hi <= 0 => Some(Range::new(-a.hi, -a.lo)),
        UnaryOp::Abs => Some(Range::new(0, (-a.lo).max(a.hi))),
        UnaryOp::Not if elem.is_signed() => Some(Range::new(-a.hi - 1, -a.lo - 1)),
        UnaryOp::Not => type_range(elem).map(|t| Range::new(t.hi - a.hi, t.hi - a.lo)),
        _ => None,
    };
    fit(elem, r)
}

pub fn binary(op: BinaryOp, elem: ElemType, a: Range, b: Range) -> Option<Range> {
    if elem.is_float() {
        return None;
    }
    if elem == ElemType::Bool {
        return type_range(elem);
    }
    let bits = elem.size() as i128 * 8;
    let r = match op {
        BinaryOp::Add => Range::corners(a, b, i128::checked_add),
        BinaryOp::Sub => Range::corners(a, b, i128::checked_sub),
        BinaryOp::Mul => Range::corners(a, b, i128::checked_mul),
        BinaryOp::Div => div(a, b),
        BinaryOp::Rem => rem(a, b),
        BinaryOp::Max => Some(Range::new(a.lo.max(b.lo), a.hi.max(b.hi))),
        BinaryOp::Min => Some(Range::new(a.lo.min(b.lo), a.hi.min(b.hi))),
        BinaryOp::And => match (a.lo >= 0, b.lo >= 0) {
            (true, true) => Some(Range::new(0, a.hi.min(b.hi))),
            (true, false) => Some(Range::new(0, a.hi)),
            (false, true) => Some(Range::new(0, b.hi)),
            (false, false) => None,
        },
        BinaryOp::Or | BinaryOp::Xor if a.lo >= 0 && b.lo >= 0 => {
            let top = a.hi.max(b.hi);
            let width = 128 - top.leading_zeros();
            Some(Range::new(0, (1i128 << width) - 1))
        }
        BinaryOp::Or | BinaryOp::Xor => None,
        // Shift amounts are taken modulo the width, as the interpreter does.
        BinaryOp::Shl => b.as_point().and_then(|s| {
            Range::corners(
                a,
                Range::point(1i128 << (s & (bits - 1))),
                i128::checked_mul,
            )
        }),
        BinaryOp::Shr => match b.as_point() {
            Some(s) => {
                let s = s & (bits - 1);
                Some(Range::new(a.lo >> s, a.hi >> s))
            }
            None => Some(Range::new(a.lo.min(0), a.hi.max(0))),
        },
    };
    fit(elem, r)
}

/// Truncating division; a divisor range holding 0 is split around it (dividing by
/// 0 is an error of the kernel, not a value).
fn div(a: Range, b: Range) -> Option<Range> {
    let quotient = |x: i128, y: i128| x.checked_div(y);
    let negative = (b.lo < 0).then(|| Range::new(b.lo, b.hi.min(-1)));
    let positive = (b.hi > 0).then(|| Range::new(b.lo.max(1), b.hi));
    match (negative, positive) {
        (Some(n), Some(p)) => {
            Some(Range::corners(a, n, quotient)?.union(Range::corners(a, p, quotient)?))
        }
        (Some(part), None) | (None, Some(part)) => Range::corners(a, part, quotient),
        (None, None) => None,
    }
}

/// Remainder with the dividend's sign, smaller in magnitude than the divisor.
fn rem(a: Range, b: Range) -> Option<Range> {
    let m = b.lo.unsigned_abs().max(b.hi.unsigned_abs());
    if m == 0 {
        return None;
    }
    let bound = i128::try_from(m - 1).ok()?;
    let lo = if a.lo >= 0 { 0 } else { a.lo.max(-bound) };
    let hi = if a.hi <= 0 { 0 } else { a.hi.min(bound) };
    Some(Range::new(lo, hi))
}
