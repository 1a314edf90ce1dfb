//! Intervals of expressions, and the check of the accesses in them.

use super::range::{self, Range, fit, type_range};
use super::{Abs, BoundsError, Prover, State, UnprovenAccess};
use crate::kernel::check::stmt_line;
use crate::kernel::{BufId, ElemType, Expr, ReduceOp, Scalar, Ty};

impl Prover<'_> {
    /// Checks one access of `lanes` elements at `index`.
    pub(super) fn access(
        &self,
        kind: &'static str,
        expr: impl FnOnce() -> String,
        buf: BufId,
        index: Abs,
        lanes: u8,
    ) -> Result<(), BoundsError> {
        if !self.report {
            return Ok(());
        }
        let buffer = self.kernel.buffer(buf);
        let index = index
            .range
            .or(type_range(ElemType::I64))
            .unwrap_or(Range::point(-1));
        let lanes = i128::from(lanes);
        let last = index.hi + lanes - 1;
        if index.lo >= 0 && last < buffer.len as i128 {
            return Ok(());
        }
        let context: Vec<String> = self
            .enclosing
            .iter()
            .rev()
            .map(|s| stmt_line(self.kernel, s))
            .collect();
        let context = if context.is_empty() {
            String::new()
        } else {
            format!(", inside `{}`", context.join("` inside `"))
        };
        // Wider than any buffer: nothing bounds it.
        let unbounded = index.hi - index.lo >= 1 << 31;
        Err(BoundsError::OutOfBounds(Box::new(UnprovenAccess {
            kernel: self.kernel.name.clone(),
            access: kind,
            expr: expr(),
            stmt: self
                .stmt
                .map(|s| stmt_line(self.kernel, s))
                .unwrap_or_default(),
            context,
            buffer: buffer.name.clone(),
            index_lo: index.lo,
            index_hi: index.hi,
            lanes: lanes as usize,
            first: index.lo,
            last,
            len: buffer.len,
            hint: if unbounded {
                " — unbounded: clamp indices that come from data (Expr::clamp_index) \
                 and compute indices from loop counters"
            } else {
                ""
            },
        })))
    }

    /// The type and interval of `e` in `st`, checking the loads in it.
    pub(super) fn eval(&self, st: &State, e: &Expr) -> Result<Abs, BoundsError> {
        let abs = self.eval_plain(st, e)?;
        if st.facts.is_empty() || matches!(e, Expr::Const(_) | Expr::Var(_)) {
            return Ok(abs);
        }
        // A condition may have narrowed this very expression.
        let known = st.facts.iter().find(|(f, _)| f == e).map(|(_, r)| *r);
        let range = match (abs.range, known) {
            (Some(r), Some(k)) => r.intersect(k).or(Some(r)),
            (r, _) => r,
        };
        Ok(Abs { ty: abs.ty, range })
    }

    fn eval_plain(&self, st: &State, e: &Expr) -> Result<Abs, BoundsError> {
        let scalar = |elem, range| Abs {
            ty: Ty::scalar(elem),
            range,
        };
        Ok(match e {
            Expr::Const(Scalar::F32(_)) => scalar(ElemType::F32, None),
            Expr::Const(Scalar::F64(_)) => scalar(ElemType::F64, None),
            Expr::Const(Scalar::Int(v, elem)) => {
                let v = if *elem == ElemType::U64 {
                    i128::from(*v as u64)
                } else {
                    i128::from(*v)
                };
                scalar(*elem, fit(*elem, Some(Range::point(v))))
            }
            Expr::Var(v) => {
                let ty = self.kernel.var(*v).ty;
                let range = st.vars[v.0 as usize].or_else(|| type_range(ty.elem));
                Abs { ty, range }
            }
            Expr::Load { buf, index, ty } => {
                let at = self.eval(st, index)?;
                self.access("load", || self.kernel.expr(e), *buf, at, ty.lanes)?;
                Abs {
                    ty: *ty,
                    range: type_range(ty.elem),
                }
            }
            Expr::Unary(op, a) => {
                let a = self.eval(st, a)?;
                let range = a.range.and_then(|r| range::unary(*op, a.ty.elem, r));
                Abs { ty: a.ty, range }
            }
            Expr::Binary(op, a, b) => {
                let (a, b) = (self.eval(st, a)?, self.eval(st, b)?);
                let range = match (a.range, b.range) {
                    (Some(x), Some(y)) => range::binary(*op, a.ty.elem, x, y),
                    _ => type_range(a.ty.elem),
                };
                Abs { ty: a.ty, range }
            }
            Expr::Fma(a, b, c) => {
                let a = self.eval(st, a)?;
                self.eval(st, b)?;
                self.eval(st, c)?;
                Abs {
                    ty: a.ty,
                    range: None,
                }
            }
            Expr::Compare(_, a, b) => {
                let a = self.eval(st, a)?;
                self.eval(st, b)?;
                Abs {
                    ty: Ty::vector(ElemType::Bool, a.ty.lanes),
                    range: type_range(ElemType::Bool),
                }
            }
            Expr::Select(c, a, b) => {
                self.eval(st, c)?;
                let (x, y) = (self.eval(st, a)?, self.eval(st, b)?);
                let range = match (x.range, y.range) {
                    (Some(_), Some(_)) if x.ty.lanes == 1 => {
                        // Each side under what the condition says about it (the
                        // accesses were checked above: both sides always run).
                        let side = |branch: &Expr, truth| {
                            self.refine(st.clone(), c, truth).map(|narrow| {
                                self.eval_quiet(&narrow, branch).and_then(|v| v.range)
                            })
                        };
                        match (side(a, true), side(b, false)) {
                            (Some(Some(p)), Some(Some(q))) => Some(p.union(q)),
                            // One side never runs.
                            (None, Some(Some(q))) => Some(q),
                            (Some(Some(p)), None) => Some(p),
                            _ => x.range.zip(y.range).map(|(p, q)| p.union(q)),
                        }
                    }
                    (Some(p), Some(q)) => Some(p.union(q)),
                    _ => None,
                };
                Abs { ty: x.ty, range }
            }
            Expr::Convert(to, a) => {
                let a = self.eval(st, a)?;
                let range = match a.range {
                    _ if to.is_float() => None,
                    Some(r) if !a.ty.elem.is_float() && *to != ElemType::Bool => fit(*to, Some(r)),
                    _ => type_range(*to),
                };
                Abs {
                    ty: Ty::vector(*to, a.ty.lanes),
                    range,
                }
            }
            Expr::Bitcast(to, a) => {
                let a = self.eval(st, a)?;
                Abs {
                    ty: Ty::vector(*to, a.ty.lanes),
                    range: type_range(*to),
                }
            }
            Expr::Splat(lanes, a) => {
                let a = self.eval(st, a)?;
                Abs {
                    ty: Ty::vector(a.ty.elem, *lanes),
                    range: a.range,
                }
            }
            Expr::Extract(a, _) => {
                let a = self.eval(st, a)?;
                scalar(a.ty.elem, a.range)
            }
            Expr::Lanes(scalars) => {
                // The type checker ran first: there are lanes, all of one type.
                let mut elem = ElemType::F32;
                let mut range: Option<Range> = None;
                for (i, s) in scalars.iter().enumerate() {
                    let lane = self.eval(st, s)?;
                    elem = lane.ty.elem;
                    range = match (i, range, lane.range) {
                        (0, _, r) => r,
                        (_, Some(a), Some(b)) => Some(a.union(b)),
                        _ => None,
                    };
                }
                Abs {
                    ty: Ty::vector(elem, scalars.len() as u8),
                    range,
                }
            }
            Expr::Reduce(op, a) => {
                let a = self.eval(st, a)?;
                let elem = a.ty.elem;
                let range = match op {
                    ReduceOp::Add => {
                        let n = i128::from(a.ty.lanes);
                        let sum = a.range.map(|r| Range::new(r.lo * n, r.hi * n));
                        fit(elem, sum)
                    }
                    ReduceOp::Max | ReduceOp::Min => a.range,
                };
                scalar(elem, range)
            }
        })
    }
}
