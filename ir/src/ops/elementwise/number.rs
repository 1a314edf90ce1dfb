//! Arithmetic on the numeric element types, with the semantics ONNX asks for:
//! integers wrap as C would, floats follow IEEE, float16 computes in f32 and rounds
//! back. Shared by the elementwise ops and the reductions.

use half::f16;

use crate::Element;

/// A numeric element type (every dtype but bool).
pub(crate) trait Number: Element {
    /// The smallest value (`-inf` for floats): the identity of `max`.
    const LOWEST: Self;
    /// The largest value (`+inf` for floats): the identity of `min`.
    const HIGHEST: Self;
    const ZERO: Self;

    fn add(self, rhs: Self) -> Self;
    fn sub(self, rhs: Self) -> Self;
    fn mul(self, rhs: Self) -> Self;
    /// Integers truncate toward zero; the caller rules out a zero divisor.
    fn div(self, rhs: Self) -> Self;
    /// `fmod = true`: C fmod (sign of the dividend); `false`: sign of the divisor.
    /// The caller rules out a zero integer divisor.
    fn rem(self, rhs: Self, fmod: bool) -> Self;
    /// NaN-propagating maximum (numpy `maximum`).
    fn max(self, rhs: Self) -> Self;
    /// NaN-propagating minimum (numpy `minimum`).
    fn min(self, rhs: Self) -> Self;
}

/// An integer element type: exact, wrapping arithmetic and bit operations.
pub(crate) trait Integer: Number + Ord {
    fn wrapping_abs(self) -> Self;
    fn wrapping_neg(self) -> Self;
    /// -1, 0 or 1.
    fn signum(self) -> Self;
    fn bit_not(self) -> Self;
    fn bit_and(self, rhs: Self) -> Self;
    fn bit_or(self, rhs: Self) -> Self;
    fn bit_xor(self, rhs: Self) -> Self;
    /// Shifts by a negative amount or the bit width or more give 0 (left) or the
    /// sign fill (right: -1 for a negative signed value, else 0), as ONNX BitShift.
    fn shift_left(self, by: Self) -> Self;
    fn shift_right(self, by: Self) -> Self;
    /// `self` to the power `exponent >= 0`, wrapping.
    fn wrapping_pow(self, exponent: u64) -> Self;
    /// Exact: i128 holds every value of every integer type.
    fn to_i128(self) -> i128;
    /// Keeps the low bits, as a C cast would (wrapping arithmetic done in i128 then
    /// narrowed gives the same result as done in `Self`).
    fn from_i128(value: i128) -> Self;
}

macro_rules! integer {
    ($t:ty) => {
        impl Number for $t {
            const LOWEST: Self = <$t>::MIN;
            const HIGHEST: Self = <$t>::MAX;
            const ZERO: Self = 0;
            fn add(self, rhs: Self) -> Self {
                self.wrapping_add(rhs)
            }
            fn sub(self, rhs: Self) -> Self {
                self.wrapping_sub(rhs)
            }
            fn mul(self, rhs: Self) -> Self {
                self.wrapping_mul(rhs)
            }
            fn div(self, rhs: Self) -> Self {
                self.checked_div(rhs).unwrap_or_else(|| {
                    // MIN / -1 overflows (wraps to MIN); x / 0 is excluded by the caller.
                    if rhs == 0 { 0 } else { self.wrapping_div(rhs) }
                })
            }
            fn rem(self, rhs: Self, fmod: bool) -> Self {
                if rhs == 0 {
                    return 0;
                }
                let r = self.wrapping_rem(rhs);
                #[allow(unused_comparisons)]
                let differ = (r < 0) != (rhs < 0);
                if !fmod && r != 0 && differ {
                    r.wrapping_add(rhs)
                } else {
                    r
                }
            }
            fn max(self, rhs: Self) -> Self {
                Ord::max(self, rhs)
            }
            fn min(self, rhs: Self) -> Self {
                Ord::min(self, rhs)
            }
        }

        impl Integer for $t {
            fn wrapping_abs(self) -> Self {
                #[allow(unused_comparisons)]
                if self < 0 { self.wrapping_neg() } else { self }
            }
            fn wrapping_neg(self) -> Self {
                <$t>::wrapping_neg(self)
            }
            fn signum(self) -> Self {
                #[allow(unused_comparisons)]
                match self {
                    0 => 0,
                    x if x < 0 => (0 as $t).wrapping_sub(1),
                    _ => 1,
                }
            }
            fn bit_not(self) -> Self {
                !self
            }
            fn bit_and(self, rhs: Self) -> Self {
                self & rhs
            }
            fn bit_or(self, rhs: Self) -> Self {
                self | rhs
            }
            fn bit_xor(self, rhs: Self) -> Self {
                self ^ rhs
            }
            fn shift_left(self, by: Self) -> Self {
                u32::try_from(by)
                    .ok()
                    .and_then(|by| self.checked_shl(by))
                    .unwrap_or(0)
            }
            fn shift_right(self, by: Self) -> Self {
                // Arithmetic for signed types: past the width only the sign fill is left.
                #[allow(unused_comparisons)]
                let fill = if self < 0 {
                    (0 as $t).wrapping_sub(1)
                } else {
                    0
                };
                u32::try_from(by)
                    .ok()
                    .and_then(|by| self.checked_shr(by))
                    .unwrap_or(fill)
            }
            fn wrapping_pow(self, exponent: u64) -> Self {
                let (mut base, mut exponent, mut acc) = (self, exponent, 1 as $t);
                while exponent > 0 {
                    if exponent & 1 == 1 {
                        acc = acc.wrapping_mul(base);
                    }
                    base = base.wrapping_mul(base);
                    exponent >>= 1;
                }
                acc
            }
            fn to_i128(self) -> i128 {
                self as i128
            }
            fn from_i128(value: i128) -> Self {
                value as $t
            }
        }
    };
}

integer!(i8);
integer!(i16);
integer!(i32);
integer!(i64);
integer!(u8);
integer!(u16);
integer!(u32);
integer!(u64);

/// Remainder with the sign of the divisor (numpy's `mod`) from C fmod's result `r`:
/// shifted by one divisor when the signs differ, and a zero takes the divisor's sign.
fn floored<F>(r: F, rhs: F, zero: F, copysign_zero: F) -> F
where
    F: Copy + PartialOrd + std::ops::Add<Output = F>,
{
    if r == zero {
        copysign_zero
    } else if (r < zero) != (rhs < zero) {
        r + rhs
    } else {
        r
    }
}

macro_rules! float {
    ($t:ty) => {
        impl Number for $t {
            const LOWEST: Self = <$t>::NEG_INFINITY;
            const HIGHEST: Self = <$t>::INFINITY;
            const ZERO: Self = 0.0;
            fn add(self, rhs: Self) -> Self {
                self + rhs
            }
            fn sub(self, rhs: Self) -> Self {
                self - rhs
            }
            fn mul(self, rhs: Self) -> Self {
                self * rhs
            }
            fn div(self, rhs: Self) -> Self {
                self / rhs
            }
            fn rem(self, rhs: Self, fmod: bool) -> Self {
                // Rust's `%` on floats is C fmod.
                let r = self % rhs;
                if fmod {
                    r
                } else {
                    floored(r, rhs, 0.0, (0.0 as $t).copysign(rhs))
                }
            }
            fn max(self, rhs: Self) -> Self {
                if self.is_nan() || rhs.is_nan() {
                    <$t>::NAN
                } else {
                    <$t>::max(self, rhs)
                }
            }
            fn min(self, rhs: Self) -> Self {
                if self.is_nan() || rhs.is_nan() {
                    <$t>::NAN
                } else {
                    <$t>::min(self, rhs)
                }
            }
        }
    };
}

float!(f32);
float!(f64);

/// float16 computes in f32 and rounds back once.
fn via_f32(a: f16, b: f16, op: impl Fn(f32, f32) -> f32) -> f16 {
    f16::from_f32(op(a.to_f32(), b.to_f32()))
}

impl Number for f16 {
    const LOWEST: Self = f16::NEG_INFINITY;
    const HIGHEST: Self = f16::INFINITY;
    const ZERO: Self = f16::ZERO;
    fn add(self, rhs: Self) -> Self {
        via_f32(self, rhs, |a, b| a + b)
    }
    fn sub(self, rhs: Self) -> Self {
        via_f32(self, rhs, |a, b| a - b)
    }
    fn mul(self, rhs: Self) -> Self {
        via_f32(self, rhs, |a, b| a * b)
    }
    fn div(self, rhs: Self) -> Self {
        via_f32(self, rhs, |a, b| a / b)
    }
    fn rem(self, rhs: Self, fmod: bool) -> Self {
        via_f32(self, rhs, |a, b| Number::rem(a, b, fmod))
    }
    fn max(self, rhs: Self) -> Self {
        via_f32(self, rhs, Number::max)
    }
    fn min(self, rhs: Self) -> Self {
        via_f32(self, rhs, Number::min)
    }
}

/// Runs `$body` with `$T` bound to the Rust type of an integer `$dtype`; other
/// dtypes take the `else` branch.
macro_rules! dispatch_integer {
    ($dtype:expr, $T:ident => $body:expr, else $other:expr) => {
        match $dtype {
            $crate::DType::I8 => {
                type $T = i8;
                $body
            }
            $crate::DType::U8 => {
                type $T = u8;
                $body
            }
            $crate::DType::I16 => {
                type $T = i16;
                $body
            }
            $crate::DType::U16 => {
                type $T = u16;
                $body
            }
            $crate::DType::I32 => {
                type $T = i32;
                $body
            }
            $crate::DType::U32 => {
                type $T = u32;
                $body
            }
            $crate::DType::I64 => {
                type $T = i64;
                $body
            }
            $crate::DType::U64 => {
                type $T = u64;
                $body
            }
            _ => $other,
        }
    };
}
pub(crate) use dispatch_integer;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integer_remainder_takes_the_sign_asked_for() {
        assert_eq!(Number::rem(-7i32, 3, false), 2);
        assert_eq!(Number::rem(7i32, -3, false), -2);
        assert_eq!(Number::rem(-7i32, 3, true), -1);
        assert_eq!(Number::rem(7i32, -3, true), 1);
        assert_eq!(Number::rem(7u8, 3, false), 1);
        assert_eq!(Number::rem(i32::MIN, -1, false), 0);
    }

    #[test]
    fn float_remainder_is_fmod_or_floored() {
        assert_eq!(Number::rem(-7.5f32, 2.0, true), -1.5);
        assert_eq!(Number::rem(-7.5f32, 2.0, false), 0.5);
        assert_eq!(
            Number::rem(4.0f64, -2.0, false).to_bits(),
            (-0.0f64).to_bits()
        );
        assert_eq!(Number::rem(-0.0f64, 3.0, false).to_bits(), 0.0f64.to_bits());
        assert_eq!(Number::rem(-1.0f64, f64::INFINITY, false), f64::INFINITY);
        assert_eq!(Number::rem(1.0f64, f64::INFINITY, false), 1.0);
        assert!(Number::rem(f64::INFINITY, 2.0, false).is_nan());
        assert!(Number::rem(1.0f32, 0.0, false).is_nan());
        assert_eq!(
            Number::rem(f16::from_f32(5.0), f16::from_f32(-3.0), true).to_f32(),
            2.0
        );
    }

    #[test]
    fn integer_division_truncates_and_wraps() {
        assert_eq!(Number::div(-7i32, 2), -3);
        assert_eq!(Number::div(i8::MIN, -1), i8::MIN);
    }

    #[test]
    fn max_and_min_propagate_nan() {
        assert!(Number::max(f32::NAN, 1.0).is_nan());
        assert!(Number::min(1.0f64, f64::NAN).is_nan());
        assert_eq!(Number::max(3i64, -4), 3);
    }

    #[test]
    fn shifts_and_powers() {
        assert_eq!(1u8.shift_left(8), 0);
        assert_eq!(0x80u8.shift_right(7), 1);
        assert_eq!((-8i8).shift_right(1), -4);
        assert_eq!((-8i8).shift_right(8), -1);
        assert_eq!((-8i8).shift_right(-1), -1);
        assert_eq!(8i8.shift_right(9), 0);
        assert_eq!(1i8.shift_left(7), i8::MIN);
        assert_eq!(1i8.shift_left(-1), 0);
        assert_eq!(3i32.wrapping_pow(4), 81);
        assert_eq!(2u8.wrapping_pow(9), 0);
        assert_eq!((-5i16).signum(), -1);
        assert_eq!(i8::MIN.wrapping_abs(), i8::MIN);
    }
}
