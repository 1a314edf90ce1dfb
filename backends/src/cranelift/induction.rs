//! Induction pointers: the addresses of an innermost loop, strength-reduced.
//!
//! An access `buf[base + var * stride + c]` inside the loop over `var`, with `base`
//! loop-invariant, becomes a pointer `buf + (base + start * stride) * size` set
//! before the loop and advanced by `step * stride * size` at its back edge; the
//! access reads it with the displacement `c * size`. Without this, every access
//! recomputes its whole index (on x86_64 the products of the outer indices by
//! their strides, `imul` after `imul`, at every step of a GEMM reduction: Cranelift
//! left them inside the loop), and the loop spends more instructions on addresses
//! than on FMAs. A pointer is a loop-carried variable, so nothing can sink it back.
//!
//! Only innermost loops take pointers (a few, [`MAX_POINTERS`], shared by every
//! access with the same base and stride), and only index arithmetic (`+`, `-`,
//! `*` by a constant, variables not assigned in the loop, constants) counts as
//! invariant, so moving it before the loop evaluates nothing new.

use std::collections::HashSet;

use cranelift_codegen::ir::{InstBuilder, Value};
use cranelift_frontend::Variable;
use nnc_ir::kernel::{BinaryOp, BufId, Expr, Scalar, Stmt, VarId};

use super::CodegenError;
use super::kernel::Emitter;

/// Most pointers per loop: each holds a general-purpose register across it.
const MAX_POINTERS: usize = 4;

/// The pointers of the loop being emitted.
pub(super) struct Pointers {
    var: VarId,
    /// Variables assigned in the loop (its counter included): not invariant.
    assigned: HashSet<VarId>,
    pointers: Vec<Pointer>,
}

/// One pointer: element `base + var * stride` of `buf`, in `slot`.
struct Pointer {
    buf: BufId,
    base: Option<Expr>,
    stride: i64,
    slot: Variable,
}

/// An index split as `base + var * stride + constant`.
#[derive(Clone, PartialEq)]
struct Affine {
    base: Option<Expr>,
    stride: i64,
    constant: i64,
}

impl Pointers {
    /// The pointer and displacement (in elements) for `buf[index]`, if a pointer
    /// of this loop covers it.
    fn lookup(&self, buf: BufId, index: &Expr) -> Option<(Variable, i64)> {
        let a = affine(index, self.var, &self.assigned)?;
        self.pointers
            .iter()
            .find(|p| p.buf == buf && p.stride == a.stride && p.base == a.base)
            .map(|p| (p.slot, a.constant))
    }
}

impl Emitter<'_, '_> {
    /// Sets up the pointers of the loop over `var` (from `start`) whose body is
    /// `body`, in the current block (the loop's preheader): None unless the loop
    /// is innermost and has strided accesses.
    pub(super) fn induction_pointers(
        &mut self,
        var: VarId,
        start: i64,
        body: &[Stmt],
    ) -> Result<Option<Pointers>, CodegenError> {
        let mut accesses = Vec::new();
        let mut assigned = HashSet::from([var]);
        if !collect(body, &mut accesses, &mut assigned) {
            return Ok(None);
        }
        // Candidates by number of accesses, most first (first seen on ties).
        let mut candidates: Vec<(BufId, Affine, usize)> = Vec::new();
        for (buf, index) in &accesses {
            let Some(a) = affine(index, var, &assigned) else {
                continue;
            };
            if a.stride == 0 {
                continue;
            }
            let key = Affine { constant: 0, ..a };
            match candidates
                .iter_mut()
                .find(|(b, k, _)| b == buf && *k == key)
            {
                Some((_, _, n)) => *n += 1,
                None => candidates.push((*buf, key, 1)),
            }
        }
        if candidates.is_empty() {
            return Ok(None);
        }
        candidates.sort_by_key(|&(_, _, n)| std::cmp::Reverse(n));
        candidates.truncate(MAX_POINTERS);
        let mut pointers = Vec::with_capacity(candidates.len());
        for (buf, key, _) in candidates {
            let Some(first) = start.checked_mul(key.stride) else {
                continue;
            };
            let origin = match &key.base {
                Some(b) => b.clone() + first,
                None => Expr::index(first),
            };
            let (addr, displacement) = self.plain_address(buf, &origin)?;
            let addr = self.b.ins().iadd_imm_s(addr, i64::from(displacement));
            let slot = self.b.declare_var(self.ptr);
            self.b.def_var(slot, addr);
            pointers.push(Pointer {
                buf,
                base: key.base,
                stride: key.stride,
                slot,
            });
        }
        Ok(Some(Pointers {
            var,
            assigned,
            pointers,
        }))
    }

    /// Advances the pointers by one step of the loop (`step` counter units), at
    /// the end of its body.
    pub(super) fn advance(&mut self, pointers: &Pointers, step: i64) {
        for p in &pointers.pointers {
            let bytes = self.kernel.buffer(p.buf).elem.size() as i64;
            let delta = p.stride.wrapping_mul(step).wrapping_mul(bytes);
            let at = self.b.use_var(p.slot);
            let next = self.b.ins().iadd_imm_s(at, delta);
            self.b.def_var(p.slot, next);
        }
    }

    /// `buf[index]` through a pointer of the loop being emitted, as `(pointer,
    /// displacement in bytes)`, when one covers it.
    pub(super) fn pointer_address(&mut self, buf: BufId, index: &Expr) -> Option<(Value, i32)> {
        let (slot, constant) = self.induction.as_ref()?.lookup(buf, index)?;
        let bytes = self.kernel.buffer(buf).elem.size() as i64;
        let displacement = i32::try_from(constant.checked_mul(bytes)?).ok()?;
        Some((self.b.use_var(slot), displacement))
    }
}

/// Gathers the accesses `(buf, index)` of `stmts` and the variables they assign;
/// false when they hold a loop or a tile (the loop is not innermost).
fn collect(
    stmts: &[Stmt],
    accesses: &mut Vec<(BufId, Expr)>,
    assigned: &mut HashSet<VarId>,
) -> bool {
    for s in stmts {
        match s {
            Stmt::Loop { .. } | Stmt::Tile(_) => return false,
            Stmt::If {
                cond,
                then_body,
                else_body,
            } => {
                loads(cond, accesses);
                if !collect(then_body, accesses, assigned)
                    || !collect(else_body, accesses, assigned)
                {
                    return false;
                }
            }
            Stmt::Assign { var, value } => {
                assigned.insert(*var);
                loads(value, accesses);
            }
            Stmt::Store { buf, index, value } => {
                accesses.push((*buf, index.clone()));
                loads(index, accesses);
                loads(value, accesses);
            }
            Stmt::Fail { .. } => {}
        }
    }
    true
}

/// The loads of `e` (and of their indices).
fn loads(e: &Expr, out: &mut Vec<(BufId, Expr)>) {
    match e {
        Expr::Const(_) | Expr::Var(_) => {}
        Expr::Load { buf, index, .. } => {
            out.push((*buf, (**index).clone()));
            loads(index, out);
        }
        Expr::Unary(_, a)
        | Expr::Convert(_, a)
        | Expr::Bitcast(_, a)
        | Expr::Splat(_, a)
        | Expr::Extract(a, _)
        | Expr::Reduce(_, a) => loads(a, out),
        Expr::Binary(_, a, b) | Expr::Compare(_, a, b) => {
            loads(a, out);
            loads(b, out);
        }
        Expr::Fma(a, b, c) | Expr::Select(a, b, c) => {
            loads(a, out);
            loads(b, out);
            loads(c, out);
        }
        Expr::Lanes(lanes) => lanes.iter().for_each(|l| loads(l, out)),
    }
}

/// `index` as `base + var * stride + constant` with `base` invariant index
/// arithmetic (no constant part), or None.
fn affine(index: &Expr, var: VarId, assigned: &HashSet<VarId>) -> Option<Affine> {
    match index {
        Expr::Var(v) if *v == var => Some(Affine {
            base: None,
            stride: 1,
            constant: 0,
        }),
        Expr::Var(v) if assigned.contains(v) => None,
        Expr::Var(_) => Some(Affine {
            base: Some(index.clone()),
            stride: 0,
            constant: 0,
        }),
        Expr::Const(Scalar::Int(c, _)) => Some(Affine {
            base: None,
            stride: 0,
            constant: *c,
        }),
        Expr::Binary(op @ (BinaryOp::Add | BinaryOp::Sub), a, b) => {
            let (a, b) = (affine(a, var, assigned)?, affine(b, var, assigned)?);
            let add = *op == BinaryOp::Add;
            let base = match (a.base, b.base) {
                (x, None) => x,
                (None, Some(y)) if add => Some(y),
                (None, Some(y)) => Some(Expr::index(0) - y),
                (Some(x), Some(y)) if add => Some(x + y),
                (Some(x), Some(y)) => Some(x - y),
            };
            let (stride, constant) = if add {
                (
                    a.stride.checked_add(b.stride)?,
                    a.constant.checked_add(b.constant)?,
                )
            } else {
                (
                    a.stride.checked_sub(b.stride)?,
                    a.constant.checked_sub(b.constant)?,
                )
            };
            Some(Affine {
                base,
                stride,
                constant,
            })
        }
        Expr::Binary(BinaryOp::Mul, a, b) => {
            let (term, k) = match (&**a, &**b) {
                (x, Expr::Const(Scalar::Int(k, _))) | (Expr::Const(Scalar::Int(k, _)), x) => {
                    (x, *k)
                }
                _ => return None,
            };
            let t = affine(term, var, assigned)?;
            Some(Affine {
                base: t.base.map(|b| b * k),
                stride: t.stride.checked_mul(k)?,
                constant: t.constant.checked_mul(k)?,
            })
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn var(i: u32) -> Expr {
        Expr::Var(VarId(i))
    }

    /// `b0 + p * 3136 + 8` over `p`, and `a0 + p + 40 * 3` with the row
    /// constant folded: the invariant base, the stride and the displacement.
    #[test]
    fn indices_split_into_base_stride_and_constant() {
        let p = VarId(0);
        let assigned = HashSet::from([p, VarId(9)]);
        let e = var(1) + var(0) * 3136 + 8;
        let a = affine(&e, p, &assigned).expect("affine");
        assert_eq!((a.base, a.stride, a.constant), (Some(var(1)), 3136, 8));
        // A difference scales the loop variable's coefficient by -1.
        let e = (var(1) + 5) * 4 - var(0) * 2;
        let a = affine(&e, p, &assigned).expect("affine");
        assert_eq!((a.base, a.stride, a.constant), (Some(var(1) * 4), -2, 20));
        // Without an invariant part the base is None.
        let a = affine(&(var(0) * 4 + 1), p, &assigned).expect("affine");
        assert_eq!((a.base, a.stride, a.constant), (None, 4, 1));
    }

    /// Variables the loop assigns, loads and products of two variables are
    /// not invariant index arithmetic.
    #[test]
    fn loop_variant_or_opaque_indices_are_refused() {
        let p = VarId(0);
        let assigned = HashSet::from([p, VarId(9)]);
        assert!(affine(&(var(9) + var(0)), p, &assigned).is_none());
        let load = Expr::load(BufId(0), var(1), nnc_ir::kernel::Ty::INDEX);
        assert!(affine(&(load + var(0)), p, &assigned).is_none());
        let product = Expr::Binary(BinaryOp::Mul, Box::new(var(1)), Box::new(var(0)));
        assert!(affine(&product, p, &assigned).is_none());
    }
}
