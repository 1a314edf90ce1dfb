//! Vector arithmetic on `v128` with SIMD128.
//!
//! Each kernel vector type has a wasm lane shape (`f32x4`, `i16x8`, ...; `F16`
//! vectors are their `u16` bits, lane masks the integer shape of their lane
//! count). Where SIMD128 has the operation it is one instruction; where it has
//! none (integer division, per-lane shifts, `i8x16` multiply, most conversions)
//! the operation is applied lane by lane with `extract_lane` / `replace_lane`
//! and the scalar code, so its semantics are the scalar ones exactly. Gaps that
//! a few instructions fill: `i64x2` min/max by compare and `bitselect`,
//! unsigned `i64x2` comparisons by flipping the sign bits.

use nnc_ir::kernel::{BinaryOp, CompareOp, ElemType, ReduceOp, Ty, UnaryOp};
use wasm_encoder::ValType;

use super::kernel::{FnEmitter, Res};

/// The lane shape of a `v128`.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum Shape {
    I8x16,
    I16x8,
    I32x4,
    I64x2,
    F32x4,
    F64x2,
}

pub(super) fn shape(ty: Ty) -> Shape {
    match ty.elem {
        ElemType::F32 => Shape::F32x4,
        ElemType::F64 => Shape::F64x2,
        ElemType::I64 | ElemType::U64 => Shape::I64x2,
        ElemType::I32 | ElemType::U32 => Shape::I32x4,
        ElemType::I16 | ElemType::U16 | ElemType::F16 => Shape::I16x8,
        ElemType::I8 | ElemType::U8 => Shape::I8x16,
        ElemType::Bool => match ty.lanes {
            16 => Shape::I8x16,
            8 => Shape::I16x8,
            4 => Shape::I32x4,
            _ => Shape::I64x2,
        },
    }
}

/// The sign bit of every `i64x2` lane.
const I64X2_SIGN_BITS: i128 = (1i128 << 63) | (1i128 << 127);

impl FnEmitter<'_> {
    pub(super) fn vector_unary(&mut self, op: UnaryOp, ty: Ty) -> Res<()> {
        let sh = shape(ty);
        let signed = ty.elem.is_signed();
        let mut s = self.sink();
        match (op, sh) {
            (UnaryOp::Not, _) if !ty.elem.is_float() => s.v128_not(),
            (UnaryOp::Neg, Shape::F32x4) => s.f32x4_neg(),
            (UnaryOp::Abs, Shape::F32x4) => s.f32x4_abs(),
            (UnaryOp::Sqrt, Shape::F32x4) => s.f32x4_sqrt(),
            (UnaryOp::Floor, Shape::F32x4) => s.f32x4_floor(),
            (UnaryOp::Ceil, Shape::F32x4) => s.f32x4_ceil(),
            (UnaryOp::Round, Shape::F32x4) => s.f32x4_nearest(),
            (UnaryOp::Trunc, Shape::F32x4) => s.f32x4_trunc(),
            (UnaryOp::Neg, Shape::F64x2) => s.f64x2_neg(),
            (UnaryOp::Abs, Shape::F64x2) => s.f64x2_abs(),
            (UnaryOp::Sqrt, Shape::F64x2) => s.f64x2_sqrt(),
            (UnaryOp::Floor, Shape::F64x2) => s.f64x2_floor(),
            (UnaryOp::Ceil, Shape::F64x2) => s.f64x2_ceil(),
            (UnaryOp::Round, Shape::F64x2) => s.f64x2_nearest(),
            (UnaryOp::Trunc, Shape::F64x2) => s.f64x2_trunc(),
            (UnaryOp::Neg, Shape::I8x16) if ty.elem != ElemType::Bool => s.i8x16_neg(),
            (UnaryOp::Neg, Shape::I16x8) if ty.elem != ElemType::Bool => s.i16x8_neg(),
            (UnaryOp::Neg, Shape::I32x4) if ty.elem != ElemType::Bool => s.i32x4_neg(),
            (UnaryOp::Neg, Shape::I64x2) if ty.elem != ElemType::Bool => s.i64x2_neg(),
            (UnaryOp::Abs, Shape::I8x16) if signed => s.i8x16_abs(),
            (UnaryOp::Abs, Shape::I16x8) if signed => s.i16x8_abs(),
            (UnaryOp::Abs, Shape::I32x4) if signed => s.i32x4_abs(),
            (UnaryOp::Abs, Shape::I64x2) if signed => s.i64x2_abs(),
            // The absolute value of an unsigned integer is itself.
            (UnaryOp::Abs, _) if ty.elem.is_int() => return Ok(()),
            _ => return Err(self.unsupported(format!("{op:?} on {ty}"))),
        };
        Ok(())
    }

    /// `a op b` with `a`, `b` on the stack.
    pub(super) fn vector_binary(&mut self, op: BinaryOp, ty: Ty) -> Res<()> {
        let sh = shape(ty);
        let signed = ty.elem.is_signed();
        let bitwise = matches!(op, BinaryOp::And | BinaryOp::Or | BinaryOp::Xor);
        if ty.elem == ElemType::Bool && !bitwise {
            return Err(self.unsupported(format!("{op:?} on {ty}")));
        }
        let mut s = self.sink();
        match (op, sh) {
            (BinaryOp::And, _) => s.v128_and(),
            (BinaryOp::Or, _) => s.v128_or(),
            (BinaryOp::Xor, _) => s.v128_xor(),
            (BinaryOp::Add, Shape::F32x4) => s.f32x4_add(),
            (BinaryOp::Sub, Shape::F32x4) => s.f32x4_sub(),
            (BinaryOp::Mul, Shape::F32x4) => s.f32x4_mul(),
            (BinaryOp::Div, Shape::F32x4) => s.f32x4_div(),
            (BinaryOp::Max, Shape::F32x4) => s.f32x4_max(),
            (BinaryOp::Min, Shape::F32x4) => s.f32x4_min(),
            (BinaryOp::Add, Shape::F64x2) => s.f64x2_add(),
            (BinaryOp::Sub, Shape::F64x2) => s.f64x2_sub(),
            (BinaryOp::Mul, Shape::F64x2) => s.f64x2_mul(),
            (BinaryOp::Div, Shape::F64x2) => s.f64x2_div(),
            (BinaryOp::Max, Shape::F64x2) => s.f64x2_max(),
            (BinaryOp::Min, Shape::F64x2) => s.f64x2_min(),
            (_, Shape::F32x4 | Shape::F64x2) => {
                return Err(self.unsupported(format!("{op:?} on {ty}")));
            }
            (BinaryOp::Add, Shape::I8x16) => s.i8x16_add(),
            (BinaryOp::Sub, Shape::I8x16) => s.i8x16_sub(),
            (BinaryOp::Add, Shape::I16x8) => s.i16x8_add(),
            (BinaryOp::Sub, Shape::I16x8) => s.i16x8_sub(),
            (BinaryOp::Mul, Shape::I16x8) => s.i16x8_mul(),
            (BinaryOp::Add, Shape::I32x4) => s.i32x4_add(),
            (BinaryOp::Sub, Shape::I32x4) => s.i32x4_sub(),
            (BinaryOp::Mul, Shape::I32x4) => s.i32x4_mul(),
            (BinaryOp::Add, Shape::I64x2) => s.i64x2_add(),
            (BinaryOp::Sub, Shape::I64x2) => s.i64x2_sub(),
            (BinaryOp::Mul, Shape::I64x2) => s.i64x2_mul(),
            (BinaryOp::Max, Shape::I8x16) if signed => s.i8x16_max_s(),
            (BinaryOp::Max, Shape::I8x16) => s.i8x16_max_u(),
            (BinaryOp::Min, Shape::I8x16) if signed => s.i8x16_min_s(),
            (BinaryOp::Min, Shape::I8x16) => s.i8x16_min_u(),
            (BinaryOp::Max, Shape::I16x8) if signed => s.i16x8_max_s(),
            (BinaryOp::Max, Shape::I16x8) => s.i16x8_max_u(),
            (BinaryOp::Min, Shape::I16x8) if signed => s.i16x8_min_s(),
            (BinaryOp::Min, Shape::I16x8) => s.i16x8_min_u(),
            (BinaryOp::Max, Shape::I32x4) if signed => s.i32x4_max_s(),
            (BinaryOp::Max, Shape::I32x4) => s.i32x4_max_u(),
            (BinaryOp::Min, Shape::I32x4) if signed => s.i32x4_min_s(),
            (BinaryOp::Min, Shape::I32x4) => s.i32x4_min_u(),
            (BinaryOp::Max | BinaryOp::Min, Shape::I64x2) => {
                // a > b (or a < b) picks a: bitselect(a, b, mask).
                let b = self.stash(ValType::V128);
                let a = self.stash(ValType::V128);
                self.sink()
                    .local_get(a)
                    .local_get(b)
                    .local_get(a)
                    .local_get(b);
                let cmp = if op == BinaryOp::Max {
                    CompareOp::Gt
                } else {
                    CompareOp::Lt
                };
                self.vector_compare(cmp, ty)?;
                self.sink().v128_bitselect();
                self.release(ValType::V128, a);
                self.release(ValType::V128, b);
                return Ok(());
            }
            // Mul of bytes, division, and per-lane shift amounts: lane by lane.
            _ => return self.lanewise_binary(op, ty),
        };
        Ok(())
    }

    /// `a op b` one lane at a time with the scalar code.
    fn lanewise_binary(&mut self, op: BinaryOp, ty: Ty) -> Res<()> {
        let b = self.stash(ValType::V128);
        let a = self.stash(ValType::V128);
        self.sink().local_get(a);
        for lane in 0..ty.lanes {
            self.sink().local_get(a);
            self.extract_lane(ty, lane)?;
            self.sink().local_get(b);
            self.extract_lane(ty, lane)?;
            self.scalar_binary(op, ty.elem)?;
            self.replace_lane(ty, lane);
        }
        self.release(ValType::V128, a);
        self.release(ValType::V128, b);
        Ok(())
    }

    /// `a * b + c`: fused with relaxed SIMD when asked for, else multiply then add.
    pub(super) fn vector_fma(&mut self, ty: Ty) -> Res<()> {
        let sh = shape(ty);
        if self.relaxed {
            let mut s = self.sink();
            match sh {
                Shape::F32x4 => s.f32x4_relaxed_madd(),
                Shape::F64x2 => s.f64x2_relaxed_madd(),
                _ => return Err(self.unsupported(format!("Fma on {ty}"))),
            };
            return Ok(());
        }
        let c = self.stash(ValType::V128);
        self.vector_binary(BinaryOp::Mul, ty)?;
        self.sink().local_get(c);
        self.release(ValType::V128, c);
        self.vector_binary(BinaryOp::Add, ty)
    }

    /// `a op b` -> a lane mask of the operands' shape.
    pub(super) fn vector_compare(&mut self, op: CompareOp, ty: Ty) -> Res<()> {
        let sh = shape(ty);
        let signed = ty.elem.is_signed();
        if sh == Shape::I64x2 && !signed && !matches!(op, CompareOp::Eq | CompareOp::Ne) {
            // Unsigned order is signed order with the sign bits flipped.
            let b = self.stash(ValType::V128);
            self.sink()
                .v128_const(I64X2_SIGN_BITS)
                .v128_xor()
                .local_get(b)
                .v128_const(I64X2_SIGN_BITS)
                .v128_xor();
            self.release(ValType::V128, b);
            return self.vector_compare(op, Ty::vector(ElemType::I64, ty.lanes));
        }
        macro_rules! int_cmp {
            ($s:expr, $eq:ident, $ne:ident, $lts:ident, $ltu:ident, $les:ident, $leu:ident,
             $gts:ident, $gtu:ident, $ges:ident, $geu:ident) => {
                match (op, signed) {
                    (CompareOp::Eq, _) => $s.$eq(),
                    (CompareOp::Ne, _) => $s.$ne(),
                    (CompareOp::Lt, true) => $s.$lts(),
                    (CompareOp::Lt, false) => $s.$ltu(),
                    (CompareOp::Le, true) => $s.$les(),
                    (CompareOp::Le, false) => $s.$leu(),
                    (CompareOp::Gt, true) => $s.$gts(),
                    (CompareOp::Gt, false) => $s.$gtu(),
                    (CompareOp::Ge, true) => $s.$ges(),
                    (CompareOp::Ge, false) => $s.$geu(),
                }
            };
        }
        let mut s = self.sink();
        match sh {
            Shape::F32x4 => match op {
                CompareOp::Eq => s.f32x4_eq(),
                CompareOp::Ne => s.f32x4_ne(),
                CompareOp::Lt => s.f32x4_lt(),
                CompareOp::Le => s.f32x4_le(),
                CompareOp::Gt => s.f32x4_gt(),
                CompareOp::Ge => s.f32x4_ge(),
            },
            Shape::F64x2 => match op {
                CompareOp::Eq => s.f64x2_eq(),
                CompareOp::Ne => s.f64x2_ne(),
                CompareOp::Lt => s.f64x2_lt(),
                CompareOp::Le => s.f64x2_le(),
                CompareOp::Gt => s.f64x2_gt(),
                CompareOp::Ge => s.f64x2_ge(),
            },
            Shape::I64x2 => match op {
                CompareOp::Eq => s.i64x2_eq(),
                CompareOp::Ne => s.i64x2_ne(),
                CompareOp::Lt => s.i64x2_lt_s(),
                CompareOp::Le => s.i64x2_le_s(),
                CompareOp::Gt => s.i64x2_gt_s(),
                CompareOp::Ge => s.i64x2_ge_s(),
            },
            Shape::I32x4 => int_cmp!(
                s, i32x4_eq, i32x4_ne, i32x4_lt_s, i32x4_lt_u, i32x4_le_s, i32x4_le_u, i32x4_gt_s,
                i32x4_gt_u, i32x4_ge_s, i32x4_ge_u
            ),
            Shape::I16x8 => int_cmp!(
                s, i16x8_eq, i16x8_ne, i16x8_lt_s, i16x8_lt_u, i16x8_le_s, i16x8_le_u, i16x8_gt_s,
                i16x8_gt_u, i16x8_ge_s, i16x8_ge_u
            ),
            Shape::I8x16 => int_cmp!(
                s, i8x16_eq, i8x16_ne, i8x16_lt_s, i8x16_lt_u, i8x16_le_s, i8x16_le_u, i8x16_gt_s,
                i8x16_gt_u, i8x16_ge_s, i8x16_ge_u
            ),
        };
        Ok(())
    }

    /// A vector of type `ty` with the scalar on the stack in every lane.
    pub(super) fn splat(&mut self, ty: Ty) -> Res<()> {
        if ty.elem == ElemType::Bool {
            return Err(self.unsupported(format!("splat to a lane mask {ty}")));
        }
        let mut s = self.sink();
        match shape(ty) {
            Shape::I8x16 => s.i8x16_splat(),
            Shape::I16x8 => s.i16x8_splat(),
            Shape::I32x4 => s.i32x4_splat(),
            Shape::I64x2 => s.i64x2_splat(),
            Shape::F32x4 => s.f32x4_splat(),
            Shape::F64x2 => s.f64x2_splat(),
        };
        Ok(())
    }

    /// Lane `lane` of the vector on the stack, as a canonical scalar.
    pub(super) fn extract_lane(&mut self, ty: Ty, lane: u8) -> Res<()> {
        if ty.elem == ElemType::Bool {
            return Err(self.unsupported(format!("lane {lane} of a lane mask {ty}")));
        }
        let signed = ty.elem.is_signed();
        let mut s = self.sink();
        match shape(ty) {
            Shape::I8x16 if signed => s.i8x16_extract_lane_s(lane),
            Shape::I8x16 => s.i8x16_extract_lane_u(lane),
            Shape::I16x8 if signed => s.i16x8_extract_lane_s(lane),
            Shape::I16x8 => s.i16x8_extract_lane_u(lane),
            Shape::I32x4 => s.i32x4_extract_lane(lane),
            Shape::I64x2 => s.i64x2_extract_lane(lane),
            Shape::F32x4 => s.f32x4_extract_lane(lane),
            Shape::F64x2 => s.f64x2_extract_lane(lane),
        };
        Ok(())
    }

    /// Replaces lane `lane` of the vector under the scalar on the stack.
    pub(super) fn replace_lane(&mut self, ty: Ty, lane: u8) {
        let mut s = self.sink();
        match shape(ty) {
            Shape::I8x16 => s.i8x16_replace_lane(lane),
            Shape::I16x8 => s.i16x8_replace_lane(lane),
            Shape::I32x4 => s.i32x4_replace_lane(lane),
            Shape::I64x2 => s.i64x2_replace_lane(lane),
            Shape::F32x4 => s.f32x4_replace_lane(lane),
            Shape::F64x2 => s.f64x2_replace_lane(lane),
        };
    }

    /// Lanes combined by halves, as the interpreter does: lane `i` with lane
    /// `i + n/2` until one is left (`f32x4` sums `(l0 + l2) + (l1 + l3)`). Each
    /// step shuffles the upper half down and applies the vector operation.
    pub(super) fn reduce(&mut self, op: ReduceOp, ty: Ty) -> Res<()> {
        if ty.lanes < 2 || ty.elem == ElemType::Bool {
            return Err(self.unsupported(format!("reduction of a {ty}")));
        }
        let binop = match op {
            ReduceOp::Add => BinaryOp::Add,
            ReduceOp::Max => BinaryOp::Max,
            ReduceOp::Min => BinaryOp::Min,
        };
        let lane_bytes = 16 / usize::from(ty.lanes);
        let mut n = usize::from(ty.lanes);
        while n > 1 {
            let half = n / 2;
            let v = self.stash(ValType::V128);
            // Byte k of the result is byte k + half * lane_bytes of v (mod 16).
            let mut lanes = [0u8; 16];
            for (k, byte) in lanes.iter_mut().enumerate() {
                *byte = ((k + half * lane_bytes) % 16) as u8;
            }
            self.sink()
                .local_get(v)
                .local_get(v)
                .local_get(v)
                .i8x16_shuffle(lanes);
            self.release(ValType::V128, v);
            self.vector_binary(binop, ty)?;
            n = half;
        }
        self.extract_lane(ty, 0)
    }
}
