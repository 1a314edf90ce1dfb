//! The kernel IR's expressions -> CLIF values.
//!
//! Each kernel operation maps to the CLIF instruction of the same meaning, chosen by
//! element type (float / signed / unsigned / bool). Where Cranelift has no vector
//! form that lowers on every backend (integer division, per-lane shifts, most
//! conversions), the operation is applied lane by lane with `extractlane` /
//! `insertlane`. Semantics that differ from CLIF's are fixed up here:
//! - integer division never traps: a zero divisor is replaced by 1 (division by zero
//!   is a kernel error the lowerings rule out, so any result will do — but the
//!   machine must not fault), and `MIN / -1` wraps to `MIN` as in the interpreter;
//! - float -> narrow int saturates to the narrow type's range (CLIF saturates to
//!   32 bits at least);
//! - `fmin`/`fmax` already propagate NaN and order zeros (`max(-0, +0) = +0`),
//!   which is the kernel IR's `Min`/`Max`.

use cranelift_codegen::ir::{ConstantData, Endianness};
use cranelift_codegen::ir::{
    InstBuilder, MemFlagsData, Type, Value,
    condcodes::{FloatCC, IntCC},
    types,
};
use nnc_ir::kernel::{BinaryOp, CompareOp, ElemType, Expr, ReduceOp, Scalar, Ty, UnaryOp};

use super::CodegenError;
use super::kernel::{Emitter, clif_type};
use crate::lane_picks::{lane_picks, shuffle_mask};

type Res<T> = Result<T, CodegenError>;

/// Flags of a vector-to-vector bitcast between lane types (CLIF wants the lane
/// order stated; every target here is little-endian).
fn lane_bitcast_flags() -> MemFlagsData {
    MemFlagsData::new().with_endianness(Endianness::Little)
}

impl Emitter<'_, '_> {
    /// The value of `e` and its kernel type.
    pub(super) fn expr(&mut self, e: &Expr) -> Res<(Value, Ty)> {
        Ok(match e {
            Expr::Const(c) => self.constant(*c),
            Expr::Var(var) => {
                let ty = self.kernel.var(*var).ty;
                (self.use_var(var.0)?, ty)
            }
            Expr::Load { buf, index, ty } => (self.load(*buf, index, *ty)?, *ty),
            Expr::Unary(op, x) => {
                let (x, ty) = self.expr(x)?;
                (self.unary(*op, x, ty)?, ty)
            }
            Expr::Binary(op @ (BinaryOp::Shl | BinaryOp::Shr), a, b)
                if matches!(**b, Expr::Splat(..)) =>
            {
                let (a, ty) = self.expr(a)?;
                let Expr::Splat(_, amount) = &**b else {
                    unreachable!("matched as a splat")
                };
                let (amount, _) = self.expr(amount)?;
                (self.uniform_shift(*op, a, amount, ty)?, ty)
            }
            Expr::Binary(op, a, b) => {
                let (a, ty) = self.expr(a)?;
                let (b, _) = self.expr(b)?;
                (self.binary(*op, a, b, ty)?, ty)
            }
            Expr::Fma(a, b, c) => {
                let (a, ty) = self.expr(a)?;
                let (b, _) = self.expr(b)?;
                let (c, _) = self.expr(c)?;
                let v = if self.has_fma {
                    self.b.ins().fma(a, b, c)
                } else {
                    let p = self.b.ins().fmul(a, b);
                    self.b.ins().fadd(p, c)
                };
                (v, ty)
            }
            Expr::Compare(op, a, b) => {
                let (a, ty) = self.expr(a)?;
                let (b, _) = self.expr(b)?;
                (
                    self.compare(*op, a, b, ty),
                    Ty::vector(ElemType::Bool, ty.lanes),
                )
            }
            Expr::Select(c, a, b) => {
                let (c, cty) = self.expr(c)?;
                let (a, ty) = self.expr(a)?;
                let (b, _) = self.expr(b)?;
                (self.select(c, cty, a, b, ty), ty)
            }
            Expr::Convert(to, x) => {
                let (x, from) = self.expr(x)?;
                let to = Ty::vector(*to, from.lanes);
                (self.convert(x, from, to)?, to)
            }
            Expr::Bitcast(to, x) => {
                let (x, from) = self.expr(x)?;
                let to = Ty::vector(*to, from.lanes);
                let (from_clif, to_clif) = (clif_type(from), clif_type(to));
                let v = if from_clif == to_clif {
                    x
                } else if from.lanes > 1 {
                    self.b.ins().bitcast(to_clif, lane_bitcast_flags(), x)
                } else {
                    self.b.ins().bitcast(to_clif, MemFlagsData::new(), x)
                };
                (v, to)
            }
            Expr::Splat(lanes, x) => {
                let (x, ty) = self.expr(x)?;
                let to = Ty::vector(ty.elem, *lanes);
                (self.b.ins().splat(clif_type(to), x), to)
            }
            Expr::Lanes(scalars) if const_lane_bytes(scalars).is_some() => {
                // A constant vector (a lane mask): one constant-pool load
                // that the loops can share, not a splat and inserts that
                // Cranelift rebuilds next to every use.
                let (bytes, elem) = const_lane_bytes(scalars).expect("checked");
                let to = Ty::vector(elem, scalars.len() as u8);
                let handle = self.b.func.dfg.constants.insert(ConstantData::from(bytes));
                (self.b.ins().vconst(clif_type(to), handle), to)
            }
            Expr::Lanes(scalars) => match self.shuffle(scalars)? {
                Some(shuffled) => shuffled,
                None => self.insert_lanes(scalars)?,
            },
            Expr::Extract(x, lane) => {
                let (x, ty) = self.expr(x)?;
                if *lane >= ty.lanes {
                    return Err(self.unsupported(format!("lane {lane} of a {ty}")));
                }
                (self.b.ins().extractlane(x, *lane), Ty::scalar(ty.elem))
            }
            Expr::Reduce(op, x) => {
                let (x, ty) = self.expr(x)?;
                (self.reduce(*op, x, ty)?, Ty::scalar(ty.elem))
            }
        })
    }

    /// A vector of scalars: the first splatted, the others inserted.
    fn insert_lanes(&mut self, scalars: &[Expr]) -> Res<(Value, Ty)> {
        let mut values = Vec::with_capacity(scalars.len());
        for s in scalars {
            values.push(self.expr(s)?);
        }
        let Some(&(first, scalar)) = values.first() else {
            return Err(self.unsupported("a vector of no lanes"));
        };
        let to = Ty::vector(scalar.elem, values.len() as u8);
        let mut v = self.b.ins().splat(clif_type(to), first);
        for (lane, &(x, _)) in values.iter().enumerate().skip(1) {
            v = self.b.ins().insertlane(v, x, lane as u8);
        }
        Ok((v, to))
    }

    /// Lanes of at most two vectors as one `shuffle` (see `lane_picks`), when
    /// the sources are whole 16-byte vectors of the result's type.
    fn shuffle(&mut self, scalars: &[Expr]) -> Res<Option<(Value, Ty)>> {
        let Some(picks) = lane_picks(scalars) else {
            return Ok(None);
        };
        let (a, ty) = self.expr(picks.sources[0])?;
        let (b, b_ty) = match picks.sources.get(1) {
            Some(source) => self.expr(source)?,
            None => (a, ty),
        };
        let mask = shuffle_mask(&picks.picks, ty.lanes, ty.elem.size());
        let (Some(mask), true) = (mask, b_ty == ty && ty.elem != ElemType::Bool) else {
            return Ok(None);
        };
        let bytes = types::I8X16;
        let clif = clif_type(ty);
        let as_bytes = |e: &mut Self, v: Value| {
            if clif == bytes {
                v
            } else {
                e.b.ins().bitcast(bytes, lane_bitcast_flags(), v)
            }
        };
        let (a, b) = (as_bytes(self, a), as_bytes(self, b));
        let mask = self
            .b
            .func
            .dfg
            .immediates
            .push(ConstantData::from(&mask[..]));
        let v = self.b.ins().shuffle(a, b, mask);
        let v = if clif == bytes {
            v
        } else {
            self.b.ins().bitcast(clif, lane_bitcast_flags(), v)
        };
        Ok(Some((v, ty)))
    }

    fn constant(&mut self, c: Scalar) -> (Value, Ty) {
        match c {
            Scalar::F32(v) => (self.b.ins().f32const(v), Ty::F32),
            Scalar::F64(v) => (self.b.ins().f64const(v), Ty::scalar(ElemType::F64)),
            Scalar::Int(v, ElemType::F64) => {
                (self.b.ins().f64const(v as f64), Ty::scalar(ElemType::F64))
            }
            Scalar::Int(v, elem) if elem.is_float() => (self.b.ins().f32const(v as f32), Ty::F32),
            Scalar::Int(v, elem) => {
                let ty = Ty::scalar(elem);
                (self.int_const(clif_type(ty), v), ty)
            }
        }
    }

    /// `iconst` wants the value's bits zero-extended to 64.
    fn int_const(&mut self, ty: Type, v: i64) -> Value {
        let bits = ty.bits();
        let v = if bits >= 64 {
            v
        } else {
            ((v as u64) & ((1u64 << bits) - 1)) as i64
        };
        self.b.ins().iconst(ty, v)
    }

    fn unary(&mut self, op: UnaryOp, x: Value, ty: Ty) -> Res<Value> {
        let float = ty.elem.is_float();
        let ins = self.b.ins();
        Ok(match op {
            UnaryOp::Neg if float => ins.fneg(x),
            UnaryOp::Neg => ins.ineg(x),
            UnaryOp::Abs if float => ins.fabs(x),
            UnaryOp::Abs => ins.iabs(x),
            UnaryOp::Sqrt if float => ins.sqrt(x),
            UnaryOp::Floor if float => ins.floor(x),
            UnaryOp::Ceil if float => ins.ceil(x),
            UnaryOp::Round if float => ins.nearest(x),
            UnaryOp::Trunc if float => ins.trunc(x),
            // Scalar bools are 0/1: flip the low bit. Masks and integers: all bits.
            UnaryOp::Not if ty.elem == ElemType::Bool && ty.lanes == 1 => ins.bxor_imm_u(x, 1),
            UnaryOp::Not if !float => ins.bnot(x),
            _ => return Err(self.unsupported(format!("{op:?} on {ty}"))),
        })
    }

    fn binary(&mut self, op: BinaryOp, a: Value, b: Value, ty: Ty) -> Res<Value> {
        // Per-lane shift amounts and integer division have no vector CLIF form.
        let lanewise = ty.lanes > 1
            && matches!(
                op,
                BinaryOp::Div | BinaryOp::Rem | BinaryOp::Shl | BinaryOp::Shr
            )
            && !ty.elem.is_float();
        if lanewise {
            let lane_ty = Ty::scalar(ty.elem);
            let mut out = a;
            for lane in 0..ty.lanes {
                let x = self.b.ins().extractlane(a, lane);
                let y = self.b.ins().extractlane(b, lane);
                let r = self.binary(op, x, y, lane_ty)?;
                out = self.b.ins().insertlane(out, r, lane);
            }
            return Ok(out);
        }
        let elem = ty.elem;
        if elem.is_float() {
            let ins = self.b.ins();
            return Ok(match op {
                BinaryOp::Add => ins.fadd(a, b),
                BinaryOp::Sub => ins.fsub(a, b),
                BinaryOp::Mul => ins.fmul(a, b),
                BinaryOp::Div => ins.fdiv(a, b),
                BinaryOp::Max => ins.fmax(a, b),
                BinaryOp::Min => ins.fmin(a, b),
                _ => return Err(self.unsupported(format!("{op:?} on {ty}"))),
            });
        }
        let signed = elem.is_signed();
        Ok(match op {
            BinaryOp::Add => self.b.ins().iadd(a, b),
            BinaryOp::Sub => self.b.ins().isub(a, b),
            BinaryOp::Mul => self.b.ins().imul(a, b),
            BinaryOp::Div | BinaryOp::Rem => self.int_division(op, a, b, signed),
            BinaryOp::Max if signed => self.b.ins().smax(a, b),
            BinaryOp::Max => self.b.ins().umax(a, b),
            BinaryOp::Min if signed => self.b.ins().smin(a, b),
            BinaryOp::Min => self.b.ins().umin(a, b),
            BinaryOp::And => self.b.ins().band(a, b),
            BinaryOp::Or => self.b.ins().bor(a, b),
            BinaryOp::Xor => self.b.ins().bxor(a, b),
            BinaryOp::Shl => self.b.ins().ishl(a, b),
            BinaryOp::Shr if signed => self.b.ins().sshr(a, b),
            BinaryOp::Shr => self.b.ins().ushr(a, b),
        })
    }

    /// `a << amount` or `a >> amount` with one scalar amount for every lane: CLIF's
    /// vector shifts take a scalar amount (one `psrad`/`pslld` on x86_64), where
    /// a vector of amounts would go lane by lane (exp's `2^n` built in the
    /// exponent bits took 30 instructions per vector that way). Both forms take
    /// the amount modulo the lane width, so they agree.
    fn uniform_shift(&mut self, op: BinaryOp, a: Value, amount: Value, ty: Ty) -> Res<Value> {
        if ty.lanes == 1 || ty.elem.is_float() {
            return self.binary(op, a, amount, ty);
        }
        let ins = self.b.ins();
        Ok(match op {
            BinaryOp::Shl => ins.ishl(a, amount),
            BinaryOp::Shr if ty.elem.is_signed() => ins.sshr(a, amount),
            BinaryOp::Shr => ins.ushr(a, amount),
            _ => return Err(self.unsupported(format!("{op:?} is not a shift"))),
        })
    }

    /// Scalar integer `a / b` or `a % b` that never traps (see the module doc).
    fn int_division(&mut self, op: BinaryOp, a: Value, b: Value, signed: bool) -> Value {
        let ty = self.b.func.dfg.value_type(b);
        let one = self.b.ins().iconst(ty, 1);
        let zero = self.b.ins().icmp_imm_s(IntCC::Equal, b, 0);
        if !signed {
            let d = self.b.ins().select(zero, one, b);
            return match op {
                BinaryOp::Div => self.b.ins().udiv(a, d),
                _ => self.b.ins().urem(a, d),
            };
        }
        // `MIN / -1` overflows (x86 faults): divide by 1 instead and negate; the
        // remainder by -1 or by 1 is 0 either way.
        let minus_one = self.b.ins().icmp_imm_s(IntCC::Equal, b, -1);
        let bad = self.b.ins().bor(zero, minus_one);
        let d = self.b.ins().select(bad, one, b);
        match op {
            BinaryOp::Div => {
                let q = self.b.ins().sdiv(a, d);
                let neg = self.b.ins().ineg(a);
                self.b.ins().select(minus_one, neg, q)
            }
            _ => self.b.ins().srem(a, d),
        }
    }

    /// Scalar: `i8` 0/1. Vector: a lane mask of the operands' lane width.
    fn compare(&mut self, op: CompareOp, a: Value, b: Value, ty: Ty) -> Value {
        if ty.elem.is_float() {
            // Ordered comparisons (false with a NaN) except `!=` (true with a NaN),
            // as in C and numpy.
            // `a > b` as `b < a` (the same ordered test): x86_64 lowers a
            // vector select on `b < a` between `a` and `b` to one `maxps`
            // (`minps` for the mirror), where a `>` stays a compare and a
            // blend. Pools' running maxima and Clip's bounds are such selects.
            let (cc, a, b) = match op {
                CompareOp::Eq => (FloatCC::Equal, a, b),
                CompareOp::Ne => (FloatCC::NotEqual, a, b),
                CompareOp::Lt => (FloatCC::LessThan, a, b),
                CompareOp::Le => (FloatCC::LessThanOrEqual, a, b),
                CompareOp::Gt => (FloatCC::LessThan, b, a),
                CompareOp::Ge => (FloatCC::LessThanOrEqual, b, a),
            };
            return self.b.ins().fcmp(cc, a, b);
        }
        let signed = ty.elem.is_signed();
        let cc = match (op, signed) {
            (CompareOp::Eq, _) => IntCC::Equal,
            (CompareOp::Ne, _) => IntCC::NotEqual,
            (CompareOp::Lt, true) => IntCC::SignedLessThan,
            (CompareOp::Le, true) => IntCC::SignedLessThanOrEqual,
            (CompareOp::Gt, true) => IntCC::SignedGreaterThan,
            (CompareOp::Ge, true) => IntCC::SignedGreaterThanOrEqual,
            (CompareOp::Lt, false) => IntCC::UnsignedLessThan,
            (CompareOp::Le, false) => IntCC::UnsignedLessThanOrEqual,
            (CompareOp::Gt, false) => IntCC::UnsignedGreaterThan,
            (CompareOp::Ge, false) => IntCC::UnsignedGreaterThanOrEqual,
        };
        self.b.ins().icmp(cc, a, b)
    }

    fn select(&mut self, c: Value, cty: Ty, a: Value, b: Value, ty: Ty) -> Value {
        if cty.lanes <= 1 {
            return self.b.ins().select(c, a, b);
        }
        let want = clif_type(ty);
        let mask = if clif_type(cty) == want {
            c
        } else {
            self.b.ins().bitcast(want, lane_bitcast_flags(), c)
        };
        self.b.ins().bitselect(mask, a, b)
    }

    fn convert(&mut self, x: Value, from: Ty, to: Ty) -> Res<Value> {
        if from.lanes <= 1 {
            return self.convert_scalar(x, from.elem, to.elem);
        }
        if clif_type(from) == clif_type(to) {
            return Ok(x); // e.g. i32x4 <-> u32x4
        }
        // The vector conversions every backend lowers directly.
        use ElemType::*;
        let direct = match (from.elem, to.elem, from.lanes) {
            (I32, F32, 4) => Some(self.b.ins().fcvt_from_sint(types::F32X4, x)),
            (F32, I32, 4) => Some(self.b.ins().fcvt_to_sint_sat(types::I32X4, x)),
            _ => None,
        };
        if let Some(v) = direct {
            return Ok(v);
        }
        // Lane by lane; the result's lanes are filled into a zero vector.
        let to_clif = clif_type(to);
        let zero_lane = self.int_const(types::I8, 0);
        let zeros = self.b.ins().splat(types::I8X16, zero_lane);
        let mut out = if to_clif == types::I8X16 {
            zeros
        } else {
            self.b.ins().bitcast(to_clif, lane_bitcast_flags(), zeros)
        };
        for lane in 0..from.lanes {
            let v = self.b.ins().extractlane(x, lane);
            let r = self.convert_scalar(v, from.elem, to.elem)?;
            out = self.b.ins().insertlane(out, r, lane);
        }
        Ok(out)
    }

    /// Scalar conversion with the kernel IR's rules: float -> int truncates and
    /// saturates (NaN -> 0), int -> int wraps or extends by the source's
    /// signedness, bool <-> number is 0/1 (number -> bool is `!= 0`).
    fn convert_scalar(&mut self, x: Value, from: ElemType, to: ElemType) -> Res<Value> {
        use ElemType::*;
        let (from_ty, to_ty) = (clif_type(Ty::scalar(from)), clif_type(Ty::scalar(to)));
        if from == F16 || to == F16 {
            return Err(self.unsupported("conversion of f16 (convert its u16 bits)"));
        }
        if from == to {
            return Ok(x);
        }
        if to == Bool {
            return Ok(if from.is_float() {
                let zero = self.float_zero(from_ty);
                self.b.ins().fcmp(FloatCC::NotEqual, x, zero)
            } else {
                self.b.ins().icmp_imm_s(IntCC::NotEqual, x, 0)
            });
        }
        // Bool is an unsigned 0/1 from here on.
        let from_signed = from.is_signed();
        if from.is_float() && to.is_float() {
            return Ok(if to_ty.bits() > from_ty.bits() {
                self.b.ins().fpromote(to_ty, x)
            } else {
                self.b.ins().fdemote(to_ty, x)
            });
        }
        if !from.is_float() && !to.is_float() {
            return Ok(self.resize_int(x, from_ty, to_ty, from_signed));
        }
        if !from.is_float() {
            // int -> float: CLIF converts from 32 and 64 bits; widen narrow ones
            // first (exactly, by signedness).
            let (x, signed) = if from_ty.bits() < 32 {
                (self.resize_int(x, from_ty, types::I32, from_signed), true)
            } else {
                (x, from_signed)
            };
            return Ok(if signed {
                self.b.ins().fcvt_from_sint(to_ty, x)
            } else {
                self.b.ins().fcvt_from_uint(to_ty, x)
            });
        }
        // float -> int, saturating. CLIF saturates to 32 or 64 bits; narrower
        // targets saturate to i32 and are clamped to their own range.
        let to_signed = to.is_signed();
        if to_ty.bits() >= 32 {
            return Ok(if to_signed {
                self.b.ins().fcvt_to_sint_sat(to_ty, x)
            } else {
                self.b.ins().fcvt_to_uint_sat(to_ty, x)
            });
        }
        let bits = to_ty.bits();
        let wide = if to_signed {
            let v = self.b.ins().fcvt_to_sint_sat(types::I32, x);
            let lo = self.int_const(types::I32, -(1i64 << (bits - 1)));
            let hi = self.int_const(types::I32, (1i64 << (bits - 1)) - 1);
            let v = self.b.ins().smax(v, lo);
            self.b.ins().smin(v, hi)
        } else {
            let v = self.b.ins().fcvt_to_uint_sat(types::I32, x);
            let hi = self.b.ins().iconst(types::I32, (1i64 << bits) - 1);
            self.b.ins().umin(v, hi)
        };
        Ok(self.b.ins().ireduce(to_ty, wide))
    }

    /// An integer of type `from` as type `to`: extended by `signed`, or wrapped.
    fn resize_int(&mut self, x: Value, from: Type, to: Type, signed: bool) -> Value {
        use std::cmp::Ordering;
        match to.bits().cmp(&from.bits()) {
            Ordering::Equal => x,
            Ordering::Less => self.b.ins().ireduce(to, x),
            Ordering::Greater if signed => self.b.ins().sextend(to, x),
            Ordering::Greater => self.b.ins().uextend(to, x),
        }
    }

    fn float_zero(&mut self, ty: Type) -> Value {
        if ty == types::F64 {
            self.b.ins().f64const(0.0)
        } else {
            self.b.ins().f32const(0.0)
        }
    }

    /// Lanes combined by halves, as the interpreter does: lane `i` with lane
    /// `i + n/2` until one is left (`f32x4` sums `(l0 + l2) + (l1 + l3)`).
    fn reduce(&mut self, op: ReduceOp, x: Value, ty: Ty) -> Res<Value> {
        let binop = match op {
            ReduceOp::Add => BinaryOp::Add,
            ReduceOp::Max => BinaryOp::Max,
            ReduceOp::Min => BinaryOp::Min,
        };
        let lane_ty = Ty::scalar(ty.elem);
        let mut lanes: Vec<Value> = (0..ty.lanes)
            .map(|lane| self.b.ins().extractlane(x, lane))
            .collect();
        while lanes.len() > 1 {
            let half = lanes.len() / 2;
            let mut next = Vec::with_capacity(half);
            for i in 0..half {
                next.push(self.binary(binop, lanes[i], lanes[i + half], lane_ty)?);
            }
            lanes = next;
        }
        lanes
            .pop()
            .ok_or_else(|| self.unsupported(format!("reduction of a {ty}")))
    }
}

/// The little-endian bytes and lane type of a vector of constant lanes, when
/// every lane is a constant of one type and the vector is 128 bits (what
/// `vconst` takes on every target here); `None` otherwise.
fn const_lane_bytes(scalars: &[Expr]) -> Option<(Vec<u8>, ElemType)> {
    let mut bytes = Vec::new();
    let mut lane_elem = None;
    for s in scalars {
        let (lane, elem) = match s {
            Expr::Const(Scalar::F32(v)) => (v.to_le_bytes().to_vec(), ElemType::F32),
            Expr::Const(Scalar::F64(v)) => (v.to_le_bytes().to_vec(), ElemType::F64),
            Expr::Const(Scalar::Int(v, elem)) if !elem.is_float() && *elem != ElemType::Bool => {
                (v.to_le_bytes()[..elem.size()].to_vec(), *elem)
            }
            _ => return None,
        };
        if *lane_elem.get_or_insert(elem) != elem {
            return None;
        }
        bytes.extend(lane);
    }
    (bytes.len() == 16).then_some((bytes, lane_elem?))
}
