//! Numeric conversions and bitcasts, with the kernel IR's rules: float -> int
//! truncates and saturates (NaN -> 0; wasm's `trunc_sat` does exactly that for 32
//! and 64 bits, narrower targets are clamped after), int -> int wraps or extends
//! by the source's signedness, bool <-> number is 0/1 (number -> bool is `!= 0`).
//! `F16` is never converted (kernels convert its bits with integer code).

use nnc_ir::kernel::{ElemType, Ty};
use wasm_encoder::ValType;

use super::kernel::{FnEmitter, Res};
use super::scalar::{Class, class};
use super::vector::shape;

impl FnEmitter<'_> {
    /// Converts the value on the stack from `from` to `to` (same lane count).
    pub(super) fn convert(&mut self, from: Ty, to: Ty) -> Res<()> {
        if from.elem == ElemType::F16 || to.elem == ElemType::F16 {
            return Err(self.unsupported("conversion of f16 (convert its u16 bits)"));
        }
        if from.lanes <= 1 {
            return self.convert_scalar(from.elem, to.elem);
        }
        if from.elem == to.elem {
            return Ok(());
        }
        use ElemType::*;
        let done = {
            let mut s = self.sink();
            match (from.elem, to.elem) {
                // Same bits in every lane (e.g. i32x4 <-> u32x4).
                _ if !from.elem.is_float()
                    && !to.elem.is_float()
                    && from.elem != Bool
                    && to.elem != Bool
                    && from.elem.size() == to.elem.size() =>
                {
                    true
                }
                (I32, F32) => {
                    s.f32x4_convert_i32x4_s();
                    true
                }
                (U32, F32) => {
                    s.f32x4_convert_i32x4_u();
                    true
                }
                (F32, I32) => {
                    s.i32x4_trunc_sat_f32x4_s();
                    true
                }
                (F32, U32) => {
                    s.i32x4_trunc_sat_f32x4_u();
                    true
                }
                _ => false,
            }
        };
        if done {
            return Ok(());
        }
        // Lane by lane into a zero vector of the result's shape.
        if shape(from) == shape(to) && from.elem.size() != to.elem.size() {
            return Err(self.unsupported(format!("conversion from {from} to {to}")));
        }
        let x = self.stash(ValType::V128);
        self.sink().v128_const(0);
        for lane in 0..from.lanes {
            self.sink().local_get(x);
            self.extract_lane(from, lane)?;
            self.convert_scalar(from.elem, to.elem)?;
            self.replace_lane(to, lane);
        }
        self.release(ValType::V128, x);
        Ok(())
    }

    /// Converts the canonical scalar on the stack from `from` to `to`.
    pub(super) fn convert_scalar(&mut self, from: ElemType, to: ElemType) -> Res<()> {
        use ElemType::*;
        if from == F16 || to == F16 {
            return Err(self.unsupported("conversion of f16 (convert its u16 bits)"));
        }
        if from == to {
            return Ok(());
        }
        let (fc, tc) = (class(from), class(to));
        let from_signed = from.is_signed();
        if to == Bool {
            let mut s = self.sink();
            match fc {
                Class::F32 => s.f32_const(0.0f32.into()).f32_ne(),
                Class::F64 => s.f64_const(0.0f64.into()).f64_ne(),
                Class::I64 => s.i64_const(0).i64_ne(),
                Class::I32 => s.i32_const(0).i32_ne(),
            };
            return Ok(());
        }
        let mut s = self.sink();
        match (fc, tc) {
            (Class::F32, Class::F64) => {
                s.f64_promote_f32();
            }
            (Class::F64, Class::F32) => {
                s.f32_demote_f64();
            }
            (Class::F32 | Class::F64, Class::F32 | Class::F64) => {}
            // int -> float; narrow ints are canonical, so exact as i32.
            (Class::I32, Class::F32) if from == U32 => {
                s.f32_convert_i32_u();
            }
            (Class::I32, Class::F32) => {
                s.f32_convert_i32_s();
            }
            (Class::I32, Class::F64) if from == U32 => {
                s.f64_convert_i32_u();
            }
            (Class::I32, Class::F64) => {
                s.f64_convert_i32_s();
            }
            (Class::I64, Class::F32) if from_signed => {
                s.f32_convert_i64_s();
            }
            (Class::I64, Class::F32) => {
                s.f32_convert_i64_u();
            }
            (Class::I64, Class::F64) if from_signed => {
                s.f64_convert_i64_s();
            }
            (Class::I64, Class::F64) => {
                s.f64_convert_i64_u();
            }
            // float -> int, saturating.
            (Class::F32 | Class::F64, Class::I64) => {
                match (fc == Class::F32, to.is_signed()) {
                    (true, true) => s.i64_trunc_sat_f32_s(),
                    (true, false) => s.i64_trunc_sat_f32_u(),
                    (false, true) => s.i64_trunc_sat_f64_s(),
                    (false, false) => s.i64_trunc_sat_f64_u(),
                };
            }
            (Class::F32 | Class::F64, Class::I32) => {
                let signed = to.is_signed();
                match (fc == Class::F32, signed) {
                    (true, true) => s.i32_trunc_sat_f32_s(),
                    (true, false) => s.i32_trunc_sat_f32_u(),
                    (false, true) => s.i32_trunc_sat_f64_s(),
                    (false, false) => s.i32_trunc_sat_f64_u(),
                };
                let bits = to.size() as u32 * 8;
                if bits < 32 {
                    if signed {
                        self.clamp_i32(-(1i32 << (bits - 1)), (1i32 << (bits - 1)) - 1);
                    } else {
                        self.clamp_u32_max((1i32 << bits) - 1);
                    }
                }
            }
            // int -> int.
            (Class::I32, Class::I64) if from_signed => {
                s.i64_extend_i32_s();
            }
            (Class::I32, Class::I64) => {
                s.i64_extend_i32_u();
            }
            (Class::I64, Class::I32) => {
                s.i32_wrap_i64();
                self.normalize(to);
            }
            (Class::I32, Class::I32) => self.normalize(to),
            (Class::I64, Class::I64) => {}
        }
        Ok(())
    }

    /// `min(max(x, lo), hi)`, signed, of the `i32` on the stack.
    fn clamp_i32(&mut self, lo: i32, hi: i32) {
        let x = self.stash(ValType::I32);
        self.sink()
            .local_get(x)
            .i32_const(lo)
            .local_get(x)
            .i32_const(lo)
            .i32_gt_s()
            .select()
            .local_tee(x)
            .i32_const(hi)
            .local_get(x)
            .i32_const(hi)
            .i32_lt_s()
            .select();
        self.release(ValType::I32, x);
    }

    /// `min(x, hi)`, unsigned, of the `i32` on the stack.
    fn clamp_u32_max(&mut self, hi: i32) {
        let x = self.stash(ValType::I32);
        self.sink()
            .local_get(x)
            .i32_const(hi)
            .local_get(x)
            .i32_const(hi)
            .i32_lt_u()
            .select();
        self.release(ValType::I32, x);
    }

    /// Reinterprets the scalar on the stack as `to` (same width).
    pub(super) fn scalar_bitcast(&mut self, from: ElemType, to: ElemType) -> Res<()> {
        if from.size() != to.size() || from == ElemType::Bool || to == ElemType::Bool {
            return Err(self.unsupported(format!("bitcast from {} to {}", from.name(), to.name())));
        }
        let mut s = self.sink();
        match (class(from), class(to)) {
            (Class::F32, Class::I32) => {
                s.i32_reinterpret_f32();
            }
            (Class::I32, Class::F32) => {
                s.f32_reinterpret_i32();
            }
            (Class::F64, Class::I64) => {
                s.i64_reinterpret_f64();
            }
            (Class::I64, Class::F64) => {
                s.f64_reinterpret_i64();
            }
            (Class::I32, Class::I32) => self.normalize(to),
            _ => {}
        }
        Ok(())
    }
}
