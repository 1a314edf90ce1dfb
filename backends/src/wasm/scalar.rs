//! Scalar arithmetic, comparisons and the canonical form of narrow integers.
//!
//! Integers narrower than 32 bits live in an `i32` sign- or zero-extended; after
//! an operation that can leave the range (add, sub, mul, neg, abs, not, shl,
//! division of `MIN` by -1) the result is wrapped back with [`normalize`].
//! Semantics follow the interpreter:
//! - integer division never traps: a zero divisor is replaced by 1 (the lowerings
//!   rule division by zero out; any result will do, but the machine must not
//!   fault) and `MIN / -1` wraps to `MIN`; `MIN % -1` is 0;
//! - shift amounts are taken modulo the element's bit width;
//! - `f32.min`/`f32.max` propagate NaN and order `-0 < +0`, which is the IR's
//!   `Min`/`Max`.
//!
//! [`normalize`]: FnEmitter::normalize

use nnc_ir::kernel::{BinaryOp, CompareOp, ElemType, UnaryOp};
use wasm_encoder::ValType;

use super::kernel::{FnEmitter, Res};

/// How a scalar of an element type is held.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Class {
    F32,
    F64,
    /// `I64`, `U64`.
    I64,
    /// Every narrower integer and `Bool`.
    I32,
}

pub(super) fn class(elem: ElemType) -> Class {
    match elem {
        ElemType::F32 => Class::F32,
        ElemType::F64 => Class::F64,
        ElemType::I64 | ElemType::U64 => Class::I64,
        _ => Class::I32,
    }
}

fn bits(elem: ElemType) -> u32 {
    elem.size() as u32 * 8
}

impl FnEmitter<'_> {
    /// Wraps the `i32` on the stack into `elem`'s canonical form.
    pub(super) fn normalize(&mut self, elem: ElemType) {
        let mut s = self.sink();
        match elem {
            ElemType::I8 => {
                s.i32_extend8_s();
            }
            ElemType::I16 => {
                s.i32_extend16_s();
            }
            ElemType::U8 => {
                s.i32_const(0xff).i32_and();
            }
            ElemType::U16 | ElemType::F16 => {
                s.i32_const(0xffff).i32_and();
            }
            _ => {}
        }
    }

    pub(super) fn scalar_unary(&mut self, op: UnaryOp, elem: ElemType) -> Res<()> {
        let unsupported = || format!("{op:?} on {}", elem.name());
        match class(elem) {
            Class::F32 => {
                let mut s = self.sink();
                match op {
                    UnaryOp::Neg => s.f32_neg(),
                    UnaryOp::Abs => s.f32_abs(),
                    UnaryOp::Sqrt => s.f32_sqrt(),
                    UnaryOp::Floor => s.f32_floor(),
                    UnaryOp::Ceil => s.f32_ceil(),
                    UnaryOp::Round => s.f32_nearest(),
                    UnaryOp::Trunc => s.f32_trunc(),
                    UnaryOp::Not => return Err(self.unsupported(unsupported())),
                };
            }
            Class::F64 => {
                let mut s = self.sink();
                match op {
                    UnaryOp::Neg => s.f64_neg(),
                    UnaryOp::Abs => s.f64_abs(),
                    UnaryOp::Sqrt => s.f64_sqrt(),
                    UnaryOp::Floor => s.f64_floor(),
                    UnaryOp::Ceil => s.f64_ceil(),
                    UnaryOp::Round => s.f64_nearest(),
                    UnaryOp::Trunc => s.f64_trunc(),
                    UnaryOp::Not => return Err(self.unsupported(unsupported())),
                };
            }
            Class::I64 => match op {
                UnaryOp::Neg => {
                    self.sink().i64_const(-1).i64_mul();
                }
                UnaryOp::Abs if elem.is_signed() => {
                    let x = self.stash(ValType::I64);
                    self.sink()
                        .i64_const(0)
                        .local_get(x)
                        .i64_sub()
                        .local_get(x)
                        .local_get(x)
                        .i64_const(0)
                        .i64_lt_s()
                        .select();
                    self.release(ValType::I64, x);
                }
                UnaryOp::Abs => {}
                UnaryOp::Not => {
                    self.sink().i64_const(-1).i64_xor();
                }
                _ => return Err(self.unsupported(unsupported())),
            },
            Class::I32 if elem == ElemType::Bool => match op {
                UnaryOp::Not => {
                    self.sink().i32_const(1).i32_xor();
                }
                _ => return Err(self.unsupported(unsupported())),
            },
            Class::I32 => {
                match op {
                    UnaryOp::Neg => {
                        self.sink().i32_const(-1).i32_mul();
                    }
                    UnaryOp::Abs if elem.is_signed() => {
                        let x = self.stash(ValType::I32);
                        self.sink()
                            .i32_const(0)
                            .local_get(x)
                            .i32_sub()
                            .local_get(x)
                            .local_get(x)
                            .i32_const(0)
                            .i32_lt_s()
                            .select();
                        self.release(ValType::I32, x);
                    }
                    UnaryOp::Abs => {}
                    UnaryOp::Not => {
                        self.sink().i32_const(-1).i32_xor();
                    }
                    _ => return Err(self.unsupported(unsupported())),
                }
                self.normalize(elem);
            }
        }
        Ok(())
    }

    /// `a op b` with `a`, `b` on the stack.
    pub(super) fn scalar_binary(&mut self, op: BinaryOp, elem: ElemType) -> Res<()> {
        let unsupported = || format!("{op:?} on {}", elem.name());
        match class(elem) {
            Class::F32 => {
                let mut s = self.sink();
                match op {
                    BinaryOp::Add => s.f32_add(),
                    BinaryOp::Sub => s.f32_sub(),
                    BinaryOp::Mul => s.f32_mul(),
                    BinaryOp::Div => s.f32_div(),
                    BinaryOp::Max => s.f32_max(),
                    BinaryOp::Min => s.f32_min(),
                    _ => return Err(self.unsupported(unsupported())),
                };
            }
            Class::F64 => {
                let mut s = self.sink();
                match op {
                    BinaryOp::Add => s.f64_add(),
                    BinaryOp::Sub => s.f64_sub(),
                    BinaryOp::Mul => s.f64_mul(),
                    BinaryOp::Div => s.f64_div(),
                    BinaryOp::Max => s.f64_max(),
                    BinaryOp::Min => s.f64_min(),
                    _ => return Err(self.unsupported(unsupported())),
                };
            }
            Class::I64 => self.i64_binary(op, elem.is_signed()),
            Class::I32 if elem == ElemType::Bool => {
                let mut s = self.sink();
                match op {
                    BinaryOp::And => s.i32_and(),
                    BinaryOp::Or => s.i32_or(),
                    BinaryOp::Xor => s.i32_xor(),
                    _ => return Err(self.unsupported(unsupported())),
                };
            }
            Class::I32 => self.i32_binary(op, elem),
        }
        Ok(())
    }

    fn i64_binary(&mut self, op: BinaryOp, signed: bool) {
        let mut s = self.sink();
        match op {
            BinaryOp::Add => {
                s.i64_add();
            }
            BinaryOp::Sub => {
                s.i64_sub();
            }
            BinaryOp::Mul => {
                s.i64_mul();
            }
            BinaryOp::And => {
                s.i64_and();
            }
            BinaryOp::Or => {
                s.i64_or();
            }
            BinaryOp::Xor => {
                s.i64_xor();
            }
            // wasm takes the amount modulo 64 already.
            BinaryOp::Shl => {
                s.i64_shl();
            }
            BinaryOp::Shr if signed => {
                s.i64_shr_s();
            }
            BinaryOp::Shr => {
                s.i64_shr_u();
            }
            BinaryOp::Max | BinaryOp::Min => {
                let b = self.stash(ValType::I64);
                let a = self.stash(ValType::I64);
                let mut s = self.sink();
                s.local_get(a).local_get(b).local_get(a).local_get(b);
                match (op == BinaryOp::Max, signed) {
                    (true, true) => s.i64_gt_s(),
                    (true, false) => s.i64_gt_u(),
                    (false, true) => s.i64_lt_s(),
                    (false, false) => s.i64_lt_u(),
                };
                s.select();
                self.release(ValType::I64, a);
                self.release(ValType::I64, b);
            }
            BinaryOp::Div | BinaryOp::Rem => self.division(op, signed, ValType::I64),
        }
    }

    fn i32_binary(&mut self, op: BinaryOp, elem: ElemType) {
        let signed = elem.is_signed();
        let narrow = bits(elem) < 32;
        match op {
            BinaryOp::Add => {
                self.sink().i32_add();
            }
            BinaryOp::Sub => {
                self.sink().i32_sub();
            }
            BinaryOp::Mul => {
                self.sink().i32_mul();
            }
            BinaryOp::And => {
                self.sink().i32_and();
            }
            BinaryOp::Or => {
                self.sink().i32_or();
            }
            BinaryOp::Xor => {
                self.sink().i32_xor();
            }
            BinaryOp::Shl | BinaryOp::Shr => {
                if narrow {
                    // The amount modulo the element's width (wasm takes it
                    // modulo 32).
                    self.sink().i32_const(bits(elem) as i32 - 1).i32_and();
                }
                let mut s = self.sink();
                match (op, signed) {
                    (BinaryOp::Shl, _) => s.i32_shl(),
                    (_, true) => s.i32_shr_s(),
                    (_, false) => s.i32_shr_u(),
                };
            }
            BinaryOp::Max | BinaryOp::Min => {
                let b = self.stash(ValType::I32);
                let a = self.stash(ValType::I32);
                let mut s = self.sink();
                s.local_get(a).local_get(b).local_get(a).local_get(b);
                match (op == BinaryOp::Max, signed) {
                    (true, true) => s.i32_gt_s(),
                    (true, false) => s.i32_gt_u(),
                    (false, true) => s.i32_lt_s(),
                    (false, false) => s.i32_lt_u(),
                };
                s.select();
                self.release(ValType::I32, a);
                self.release(ValType::I32, b);
            }
            BinaryOp::Div | BinaryOp::Rem => self.division(op, signed, ValType::I32),
        }
        self.normalize(elem);
    }

    /// `a / b` or `a % b` (on the stack) that never traps; see the module doc.
    fn division(&mut self, op: BinaryOp, signed: bool, vt: ValType) {
        let wide = vt == ValType::I64;
        let b = self.stash(vt);
        let a = self.stash(vt);
        let mut s = self.sink();
        let konst = |s: &mut wasm_encoder::InstructionSink<'_>, v: i64| {
            if wide {
                s.i64_const(v);
            } else {
                s.i32_const(v as i32);
            }
        };
        // `b == v` as an i32.
        let b_is = |s: &mut wasm_encoder::InstructionSink<'_>, v: i64| {
            s.local_get(b);
            konst(s, v);
            if wide {
                s.i64_eq();
            } else {
                s.i32_eq();
            }
        };
        let negated_quotient = signed && op == BinaryOp::Div;
        if negated_quotient {
            // -a, the quotient when b == -1 (wrapping: MIN / -1 = MIN).
            konst(&mut s, 0);
            s.local_get(a);
            if wide {
                s.i64_sub();
            } else {
                s.i32_sub();
            }
        }
        // a op d, d = (b == 0 || (signed && b == -1)) ? 1 : b
        s.local_get(a);
        konst(&mut s, 1);
        s.local_get(b);
        b_is(&mut s, 0);
        if signed {
            b_is(&mut s, -1);
            s.i32_or();
        }
        s.select();
        match (op, signed, wide) {
            (BinaryOp::Div, true, true) => s.i64_div_s(),
            (BinaryOp::Div, true, false) => s.i32_div_s(),
            (BinaryOp::Div, false, true) => s.i64_div_u(),
            (BinaryOp::Div, false, false) => s.i32_div_u(),
            (_, true, true) => s.i64_rem_s(),
            (_, true, false) => s.i32_rem_s(),
            (_, false, true) => s.i64_rem_u(),
            (_, false, false) => s.i32_rem_u(),
        };
        if negated_quotient {
            b_is(&mut s, -1);
            s.select();
        }
        self.release(vt, a);
        self.release(vt, b);
    }

    /// `a op b` -> `i32` 0/1.
    pub(super) fn scalar_compare(&mut self, op: CompareOp, elem: ElemType) -> Res<()> {
        let signed = elem.is_signed();
        let mut s = self.sink();
        match class(elem) {
            Class::F32 => match op {
                CompareOp::Eq => s.f32_eq(),
                CompareOp::Ne => s.f32_ne(),
                CompareOp::Lt => s.f32_lt(),
                CompareOp::Le => s.f32_le(),
                CompareOp::Gt => s.f32_gt(),
                CompareOp::Ge => s.f32_ge(),
            },
            Class::F64 => match op {
                CompareOp::Eq => s.f64_eq(),
                CompareOp::Ne => s.f64_ne(),
                CompareOp::Lt => s.f64_lt(),
                CompareOp::Le => s.f64_le(),
                CompareOp::Gt => s.f64_gt(),
                CompareOp::Ge => s.f64_ge(),
            },
            Class::I64 => match (op, signed) {
                (CompareOp::Eq, _) => s.i64_eq(),
                (CompareOp::Ne, _) => s.i64_ne(),
                (CompareOp::Lt, true) => s.i64_lt_s(),
                (CompareOp::Le, true) => s.i64_le_s(),
                (CompareOp::Gt, true) => s.i64_gt_s(),
                (CompareOp::Ge, true) => s.i64_ge_s(),
                (CompareOp::Lt, false) => s.i64_lt_u(),
                (CompareOp::Le, false) => s.i64_le_u(),
                (CompareOp::Gt, false) => s.i64_gt_u(),
                (CompareOp::Ge, false) => s.i64_ge_u(),
            },
            Class::I32 => match (op, signed) {
                (CompareOp::Eq, _) => s.i32_eq(),
                (CompareOp::Ne, _) => s.i32_ne(),
                (CompareOp::Lt, true) => s.i32_lt_s(),
                (CompareOp::Le, true) => s.i32_le_s(),
                (CompareOp::Gt, true) => s.i32_gt_s(),
                (CompareOp::Ge, true) => s.i32_ge_s(),
                (CompareOp::Lt, false) => s.i32_lt_u(),
                (CompareOp::Le, false) => s.i32_le_u(),
                (CompareOp::Gt, false) => s.i32_gt_u(),
                (CompareOp::Ge, false) => s.i32_ge_u(),
            },
        };
        Ok(())
    }
}
