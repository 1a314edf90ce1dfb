//! The kernel IR's expressions -> wasm instructions that push their value.
//!
//! Each expression is emitted operands first (the IR has no side effects in
//! expressions, so the order is free); the result is left on the stack in the
//! representation [`super::kernel`] describes. Scalars go to [`super::scalar`],
//! vectors to [`super::vector`], conversions to [`super::convert`].

use nnc_ir::kernel::{ElemType, Expr, Scalar, Ty};
use wasm_encoder::{Ieee32, Ieee64, ValType};

use super::kernel::{FnEmitter, Res};
use crate::lane_picks::{lane_picks, shuffle_mask};

impl FnEmitter<'_> {
    /// Pushes the value of `e`; returns its kernel type.
    pub(super) fn expr(&mut self, e: &Expr) -> Res<Ty> {
        Ok(match e {
            Expr::Const(c) => self.constant(*c),
            Expr::Var(var) => self.use_var(var.0)?,
            Expr::Load { buf, index, ty } => {
                self.load(*buf, index, *ty)?;
                *ty
            }
            Expr::Unary(op, x) => {
                let ty = self.expr(x)?;
                if ty.lanes > 1 {
                    self.vector_unary(*op, ty)?;
                } else {
                    self.scalar_unary(*op, ty.elem)?;
                }
                ty
            }
            Expr::Binary(op, a, b) => {
                let ty = self.expr(a)?;
                self.expr(b)?;
                if ty.lanes > 1 {
                    self.vector_binary(*op, ty)?;
                } else {
                    self.scalar_binary(*op, ty.elem)?;
                }
                ty
            }
            Expr::Fma(a, b, c) => {
                let ty = self.expr(a)?;
                self.expr(b)?;
                if ty.lanes > 1 {
                    self.expr(c)?;
                    self.vector_fma(ty)?;
                } else {
                    // No scalar fused multiply-add in wasm: multiply, then add.
                    self.scalar_binary(nnc_ir::kernel::BinaryOp::Mul, ty.elem)?;
                    self.expr(c)?;
                    self.scalar_binary(nnc_ir::kernel::BinaryOp::Add, ty.elem)?;
                }
                ty
            }
            Expr::Compare(op, a, b) => {
                let ty = self.expr(a)?;
                self.expr(b)?;
                if ty.lanes > 1 {
                    self.vector_compare(*op, ty)?;
                } else {
                    self.scalar_compare(*op, ty.elem)?;
                }
                Ty::vector(ElemType::Bool, ty.lanes)
            }
            Expr::Select(c, a, b) => {
                let ty = self.expr(a)?;
                self.expr(b)?;
                let cty = self.expr(c)?;
                if cty.lanes != ty.lanes {
                    return Err(self.unsupported(format!("select of {ty} by a {cty} condition")));
                }
                if ty.lanes > 1 {
                    self.sink().v128_bitselect();
                } else {
                    self.sink().select();
                }
                ty
            }
            Expr::Convert(to, x) => {
                let from = self.expr(x)?;
                let to = Ty::vector(*to, from.lanes);
                self.convert(from, to)?;
                to
            }
            Expr::Bitcast(to, x) => {
                let from = self.expr(x)?;
                let to = Ty::vector(*to, from.lanes);
                if from.lanes == 1 {
                    self.scalar_bitcast(from.elem, to.elem)?;
                }
                // Vectors are v128 whatever their lanes: nothing to do.
                to
            }
            Expr::Splat(lanes, x) => {
                let ty = self.expr(x)?;
                let to = Ty::vector(ty.elem, *lanes);
                self.splat(to)?;
                to
            }
            Expr::Lanes(scalars) if lane_picks(scalars).is_some() => self.shuffle(scalars)?,
            Expr::Lanes(scalars) => self.lanes_one_by_one(scalars)?,
            Expr::Extract(x, lane) => {
                let ty = self.expr(x)?;
                if *lane >= ty.lanes {
                    return Err(self.unsupported(format!("lane {lane} of a {ty}")));
                }
                self.extract_lane(ty, *lane)?;
                Ty::scalar(ty.elem)
            }
            Expr::Reduce(op, x) => {
                let ty = self.expr(x)?;
                self.reduce(*op, ty)?;
                Ty::scalar(ty.elem)
            }
        })
    }

    /// A vector of scalars: the first splatted, the others replaced in.
    fn lanes_one_by_one(&mut self, scalars: &[Expr]) -> Res<Ty> {
        let Some(first) = scalars.first() else {
            return Err(self.unsupported("a vector of no lanes"));
        };
        let scalar = self.expr(first)?;
        let ty = Ty::vector(scalar.elem, scalars.len() as u8);
        self.splat(ty)?;
        for (lane, s) in scalars.iter().enumerate().skip(1) {
            self.expr(s)?;
            self.replace_lane(ty, lane as u8);
        }
        Ok(ty)
    }

    /// Lanes of at most two vectors as one `i8x16.shuffle` (see
    /// `lane_picks`) when the sources are vectors of the result's type;
    /// otherwise (dropping what was pushed) lane by lane.
    fn shuffle(&mut self, scalars: &[Expr]) -> Res<Ty> {
        let picks = lane_picks(scalars).expect("the caller matched lane picks");
        let ty = self.expr(picks.sources[0])?;
        let second = match picks.sources.get(1) {
            Some(source) => Some(self.expr(source)?),
            None => None,
        };
        let mask = shuffle_mask(&picks.picks, ty.lanes, ty.elem.size());
        match (
            mask,
            second.is_none_or(|b| b == ty) && ty.elem != ElemType::Bool,
        ) {
            (Some(mask), true) => {
                if second.is_none() {
                    // Both operands are the one source.
                    let local = self.stash(ValType::V128);
                    self.sink().local_get(local).local_get(local);
                    self.release(ValType::V128, local);
                }
                self.sink().i8x16_shuffle(mask);
                Ok(ty)
            }
            _ => {
                let mut s = self.sink();
                s.drop();
                if second.is_some() {
                    s.drop();
                }
                self.lanes_one_by_one(scalars)
            }
        }
    }

    fn constant(&mut self, c: Scalar) -> Ty {
        let mut s = self.sink();
        match c {
            Scalar::F32(v) => {
                s.f32_const(Ieee32::from(v));
                Ty::F32
            }
            Scalar::F64(v) => {
                s.f64_const(Ieee64::from(v));
                Ty::scalar(ElemType::F64)
            }
            Scalar::Int(v, ElemType::F64) => {
                s.f64_const(Ieee64::from(v as f64));
                Ty::scalar(ElemType::F64)
            }
            Scalar::Int(v, elem) if elem.is_float() => {
                s.f32_const(Ieee32::from(v as f32));
                Ty::F32
            }
            Scalar::Int(v, elem @ (ElemType::I64 | ElemType::U64)) => {
                s.i64_const(v);
                Ty::scalar(elem)
            }
            Scalar::Int(v, elem) => {
                s.i32_const(canonical_i32(elem, v));
                Ty::scalar(elem)
            }
        }
    }
}

/// `v` wrapped into `elem` (at most 32 bits) in the canonical `i32` encoding.
pub(super) fn canonical_i32(elem: ElemType, v: i64) -> i32 {
    match elem {
        ElemType::I8 => v as i8 as i32,
        ElemType::U8 => v as u8 as i32,
        ElemType::I16 => v as i16 as i32,
        ElemType::U16 | ElemType::F16 => v as u16 as i32,
        ElemType::Bool => i32::from(v as u8 != 0),
        _ => v as i32,
    }
}
