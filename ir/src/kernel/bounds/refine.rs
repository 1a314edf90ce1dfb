//! What a condition says: narrowing intervals in the branch where it holds.

use super::range::{Range, type_range};
use super::{Abs, Prover, State};
use crate::kernel::{BinaryOp, CompareOp, ElemType, Expr, UnaryOp};

impl Prover<'_> {
    /// `st` where `cond` is `truth`; `None` if it cannot be.
    pub(super) fn refine(&self, st: State, cond: &Expr, truth: bool) -> Option<State> {
        match cond {
            Expr::Unary(UnaryOp::Not, a) => self.refine(st, a, !truth),
            Expr::Binary(BinaryOp::And, a, b) if truth => {
                let st = self.refine(st, a, true)?;
                self.refine(st, b, true)
            }
            Expr::Binary(BinaryOp::Or, a, b) if !truth => {
                let st = self.refine(st, a, false)?;
                self.refine(st, b, false)
            }
            Expr::Compare(op, a, b) => {
                let op = if truth { *op } else { negate(*op) };
                let (Some(ra), Some(rb)) = (self.scalar_range(&st, a), self.scalar_range(&st, b))
                else {
                    return Some(st);
                };
                let below = |hi: i128| Range::new(i128::MIN, hi);
                let above = |lo: i128| Range::new(lo, i128::MAX);
                let (to_a, to_b) = match op {
                    CompareOp::Lt => (below(rb.hi - 1), above(ra.lo + 1)),
                    CompareOp::Le => (below(rb.hi), above(ra.lo)),
                    CompareOp::Gt => (above(rb.lo + 1), below(ra.hi - 1)),
                    CompareOp::Ge => (above(rb.lo), below(ra.hi)),
                    CompareOp::Eq => (rb, ra),
                    CompareOp::Ne => return Some(st),
                };
                let st = self.narrow(st, a, to_a)?;
                self.narrow(st, b, to_b)
            }
            _ => Some(st),
        }
    }

    /// The type and interval of `e`, ignoring accesses (they are checked where
    /// the expression is evaluated for real).
    pub(super) fn eval_quiet(&self, st: &State, e: &Expr) -> Option<Abs> {
        let quiet = Prover {
            kernel: self.kernel,
            report: false,
            enclosing: Vec::new(),
            stmt: None,
        };
        quiet.eval(st, e).ok()
    }

    /// The interval of a scalar integer expression; `None` for anything else.
    fn scalar_range(&self, st: &State, e: &Expr) -> Option<Range> {
        let abs = self.eval_quiet(st, e)?;
        if abs.ty.lanes == 1 { abs.range } else { None }
    }

    /// `st` where the scalar `e` lies in `bound`; `None` if it cannot.
    fn narrow(&self, mut st: State, e: &Expr, bound: Range) -> Option<State> {
        let Some(now) = self.scalar_range(&st, e) else {
            return Some(st);
        };
        let new = now.intersect(bound)?;
        if new == now {
            return Some(st);
        }
        match e {
            Expr::Var(v) => {
                st.vars[v.0 as usize] = Some(new);
                return Some(st);
            }
            Expr::Const(_) => return Some(st),
            _ => {}
        }
        match st.facts.iter_mut().find(|(f, _)| f == e) {
            Some((_, r)) => *r = new,
            None => st.facts.push((e.clone(), new)),
        }
        match self.operand_bound(&st, e, new) {
            Some((x, bound)) => self.narrow(st, x, bound),
            None => Some(st),
        }
    }

    /// For `e` = `x + c`, `x - c` or `x * c` (c > 0) in `bound`, where no value of
    /// `x` makes the operation wrap, or an integer conversion of `x` that keeps
    /// the values in `bound`: `x` and the interval it must lie in.
    fn operand_bound<'e>(
        &self,
        st: &State,
        e: &'e Expr,
        bound: Range,
    ) -> Option<(&'e Expr, Range)> {
        if let Expr::Convert(to, x) | Expr::Bitcast(to, x) = e {
            return self.conversion_bound(st, *to, x, bound);
        }
        let Expr::Binary(op, p, q) = e else {
            return None;
        };
        let whole = type_range(self.eval_quiet(st, e)?.ty.elem)?;
        let constant = |x: &Expr| self.scalar_range(st, x).and_then(Range::as_point);
        let (x, k) = match (op, constant(p), constant(q)) {
            (BinaryOp::Add | BinaryOp::Mul, Some(k), None) => (&**q, k),
            (BinaryOp::Add | BinaryOp::Sub | BinaryOp::Mul, None, Some(k)) => (&**p, k),
            _ => return None,
        };
        let rx = self.scalar_range(st, x)?;
        let (image, preimage) = match op {
            BinaryOp::Add => (
                Range::new(rx.lo + k, rx.hi + k),
                Range::new(bound.lo - k, bound.hi - k),
            ),
            BinaryOp::Sub => (
                Range::new(rx.lo - k, rx.hi - k),
                Range::new(bound.lo + k, bound.hi + k),
            ),
            BinaryOp::Mul if k > 0 => (
                Range::new(rx.lo.checked_mul(k)?, rx.hi.checked_mul(k)?),
                // x * k in [lo, hi]  <=>  x in [ceil(lo / k), floor(hi / k)]
                Range::new(-((-bound.lo).div_euclid(k)), bound.hi.div_euclid(k)),
            ),
            _ => return None,
        };
        whole.contains(image).then_some((x, preimage))
    }

    /// `x` converted (or bitcast) to the integer type `to` lies in `bound`: when
    /// the conversion is the identity on every value it could map into `bound`,
    /// `x` lies in `bound` too. That holds when `to` holds every value of `x`'s
    /// type, and for a same-size reinterpretation (`bitcast<u64>(i) < n`, the
    /// one-comparison range check) when `bound` is in both types' ranges.
    fn conversion_bound<'e>(
        &self,
        st: &State,
        to: ElemType,
        x: &'e Expr,
        bound: Range,
    ) -> Option<(&'e Expr, Range)> {
        let from = self.eval_quiet(st, x)?.ty.elem;
        if !from.is_int() || !to.is_int() {
            return None;
        }
        let (from_range, to_range) = (type_range(from)?, type_range(to)?);
        let identity = to_range.contains(from_range)
            || (from.size() == to.size() && from_range.intersect(to_range)?.contains(bound));
        identity.then_some((x, bound))
    }
}

pub(super) fn has_load(e: &Expr) -> bool {
    match e {
        Expr::Load { .. } => true,
        Expr::Const(_) | Expr::Var(_) => false,
        Expr::Unary(_, a)
        | Expr::Convert(_, a)
        | Expr::Bitcast(_, a)
        | Expr::Splat(_, a)
        | Expr::Extract(a, _)
        | Expr::Reduce(_, a) => has_load(a),
        Expr::Binary(_, a, b) | Expr::Compare(_, a, b) => has_load(a) || has_load(b),
        Expr::Fma(a, b, c) | Expr::Select(a, b, c) => has_load(a) || has_load(b) || has_load(c),
        Expr::Lanes(scalars) => scalars.iter().any(has_load),
    }
}

fn negate(op: CompareOp) -> CompareOp {
    match op {
        CompareOp::Eq => CompareOp::Ne,
        CompareOp::Ne => CompareOp::Eq,
        CompareOp::Lt => CompareOp::Ge,
        CompareOp::Le => CompareOp::Gt,
        CompareOp::Gt => CompareOp::Le,
        CompareOp::Ge => CompareOp::Lt,
    }
}
