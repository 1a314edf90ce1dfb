//! Values while a kernel runs: a scalar in the canonical lane encoding of
//! [`lanes`](super::lanes), or a 128-bit vector packed as in memory (lane `i` in
//! bits `[i * w, (i + 1) * w)`, `w = 128 / lanes`). Small and `Copy`, so that
//! evaluation moves no more than a couple of words per operation.

use super::Fault;
use super::lanes::wrap;
use crate::kernel::{ElemType, Ty};

#[derive(Clone, Copy, Debug)]
pub struct Value {
    pub ty: Ty,
    /// Low word first. (Two words rather than a `u128`: scalars write one word,
    /// and a 128-bit reload of two 64-bit stores stalls.)
    words: [u64; 2],
}

impl Value {
    pub fn scalar(elem: ElemType, canonical: u64) -> Value {
        Value {
            ty: Ty::scalar(elem),
            words: [canonical, 0],
        }
    }

    /// A vector from its 16 bytes in memory order.
    pub fn vector_from_bytes(ty: Ty, bytes: [u8; 16]) -> Value {
        Value::packed(ty, u128::from_le_bytes(bytes))
    }

    /// The value's bytes in memory order (the low bytes of a scalar).
    pub fn to_le_bytes(self) -> [u8; 16] {
        self.bits().to_le_bytes()
    }

    fn packed(ty: Ty, bits: u128) -> Value {
        Value {
            ty,
            words: [bits as u64, (bits >> 64) as u64],
        }
    }

    fn bits(&self) -> u128 {
        u128::from(self.words[0]) | (u128::from(self.words[1]) << 64)
    }

    pub fn count(&self) -> usize {
        usize::from(self.ty.lanes.clamp(1, 16))
    }

    fn lane_width(lanes: usize) -> usize {
        if lanes <= 1 { 128 } else { 128 / lanes }
    }

    /// Lane `i` in the canonical encoding (`i` beyond the lanes reads 0).
    #[inline]
    pub fn lane(&self, i: usize) -> u64 {
        let n = self.count();
        if n == 1 {
            return self.words[0];
        }
        let w = Self::lane_width(n);
        let raw = (self.bits().checked_shr((i * w) as u32).unwrap_or(0)) & ((1u128 << w) - 1);
        wrap(self.ty.elem, raw as u64)
    }

    /// A value of `ty` whose lane `i` is `f(i)` (canonical).
    pub fn build(ty: Ty, mut f: impl FnMut(usize) -> Result<u64, Fault>) -> Result<Value, Fault> {
        let n = usize::from(ty.lanes.clamp(1, 16));
        if n == 1 {
            return Ok(Value {
                ty,
                words: [f(0)?, 0],
            });
        }
        let w = Self::lane_width(n);
        let mask = (1u128 << w) - 1;
        let mut bits = 0u128;
        for i in 0..n {
            bits |= (u128::from(f(i)?) & mask) << (i * w);
        }
        Ok(Value::packed(ty, bits))
    }

    /// Lane-wise `f`, giving elements of `elem`.
    pub fn map(
        &self,
        elem: ElemType,
        mut f: impl FnMut(u64) -> Result<u64, Fault>,
    ) -> Result<Value, Fault> {
        Value::build(Ty::vector(elem, self.ty.lanes), |i| f(self.lane(i)))
    }

    /// Lane-wise `f` of two values of one lane count, giving elements of `elem`.
    pub fn zip(
        &self,
        other: &Value,
        elem: ElemType,
        mut f: impl FnMut(u64, u64) -> Result<u64, Fault>,
    ) -> Result<Value, Fault> {
        if self.ty.lanes != other.ty.lanes {
            return Err(Fault::Type(format!(
                "operands of types `{}` and `{}`",
                self.ty, other.ty
            )));
        }
        Value::build(Ty::vector(elem, self.ty.lanes), |i| {
            f(self.lane(i), other.lane(i))
        })
    }
}
