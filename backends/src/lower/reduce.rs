//! Lowering of the reductions (every Reduce kind over any set of axes) and of
//! ArgMax / ArgMin.
//!
//! The operand's dims are classed as kept or reduced; size-1 dims are dropped and
//! neighbours of one class merged, so that "reduce the last two axes" is one
//! reduced dim. Loops over the kept dims enclose, per output element, loops over
//! the reduced dims that fold an accumulator. f32 runs 4 output elements side by
//! side when the innermost dim is kept, or folds a vector accumulator along the
//! innermost dim when it is reduced (then reduces it horizontally).
//!
//! Accumulators follow the reference: floats accumulate in their compute type
//! (the reference uses f64: long f32 sums differ by rounding), integers wrap in
//! their own type except Mean of types up to 32 bits (an exact i64 sum), and
//! L2 / LogSum / LogSumExp of integers are real (f64) then truncated.

use nnc_ir::Op;
use nnc_ir::kernel::{
    BinaryOp, CompareOp, ElemType, Expr, Kernel, KernelBuilder, ReduceOp, Ty, UnaryOp, VarId,
};
use nnc_ir::ops::{ArgReduce, ArgReduceKind, Reduce, ReduceKind};

use super::element_io::{compute_elem, load_value, store_value};
use super::elementwise::kernel_name;
use super::math::FloatMath;
use super::signature::{Operand, Signature};
use super::{LowerCtx, LowerError};

pub(super) fn lower(ctx: &LowerCtx) -> Result<Kernel, LowerError> {
    let mut k = KernelBuilder::new(kernel_name(ctx));
    let sig = Signature::declare(ctx, &mut k);
    let (x, y) = (sig.input(ctx, 0)?, sig.output(ctx, 0)?);
    match &ctx.node.op {
        Op::Reduce(op) => lower_reduce(ctx, &mut k, op, x, y)?,
        Op::ArgReduce(op) => lower_arg(ctx, &mut k, op, x, y)?,
        other => return Err(ctx.unsupported(format!("{} is not a reduction", other.name()))),
    }
    Ok(k.finish())
}

/// One coalesced dim: its size and its strides in the operand and the output
/// (`None` in the output for a reduced dim).
#[derive(Clone, Copy, Debug)]
struct Dim {
    size: usize,
    input: i64,
    output: Option<i64>,
}

/// Kept and reduced dims of `shape` (size-1 dims dropped, same-class neighbours
/// merged), outermost first.
fn coalesce(shape: &[usize], axes: &[usize]) -> (Vec<Dim>, Vec<Dim>) {
    let mut groups: Vec<(bool, usize)> = Vec::new();
    for (d, &size) in shape.iter().enumerate() {
        if size == 1 {
            continue;
        }
        let reduced = axes.contains(&d);
        match groups.last_mut() {
            Some((r, s)) if *r == reduced => *s *= size,
            _ => groups.push((reduced, size)),
        }
    }
    let mut input = 1i64;
    let mut output = 1i64;
    let mut dims: Vec<(bool, Dim)> = Vec::new();
    for &(reduced, size) in groups.iter().rev() {
        let dim = Dim {
            size,
            input,
            output: (!reduced).then_some(output),
        };
        input *= size as i64;
        if !reduced {
            output *= size as i64;
        }
        dims.push((reduced, dim));
    }
    dims.reverse();
    let kept = dims.iter().filter(|(r, _)| !r).map(|(_, d)| *d).collect();
    let reduced = dims.iter().filter(|(r, _)| *r).map(|(_, d)| *d).collect();
    (kept, reduced)
}

/// How a reduction folds: the accumulator's type, its start, what each element
/// contributes, how contributions combine.
struct Fold {
    acc: ElemType,
    init: Expr,
    combine: BinaryOp,
    /// A contribution from an element value (in the operand's compute type,
    /// already converted to the accumulator's type).
    contribution: fn(Expr) -> Expr,
}

fn identity(v: Expr) -> Expr {
    v
}
fn absolute(v: Expr) -> Expr {
    v.unary(UnaryOp::Abs)
}
fn square(v: Expr) -> Expr {
    v.clone() * v
}

/// The smallest / largest value of `elem` (infinities for floats).
fn extreme(elem: ElemType, largest: bool) -> Expr {
    if elem.is_float() {
        let v = if largest {
            f64::INFINITY
        } else {
            f64::NEG_INFINITY
        };
        return Expr::float(v, elem);
    }
    let bits = elem.size() as u32 * 8;
    let v = match (elem.is_signed(), largest) {
        (true, true) => i64::MAX >> (64 - bits),
        (true, false) => i64::MIN >> (64 - bits),
        // u64::MAX is the bit pattern -1.
        (false, true) => (u64::MAX >> (64 - bits)) as i64,
        (false, false) => 0,
    };
    Expr::int(v, elem)
}

fn constant(v: f64, elem: ElemType) -> Expr {
    if elem.is_float() {
        Expr::float(v, elem)
    } else {
        Expr::int(v as i64, elem)
    }
}

impl Fold {
    fn of(kind: ReduceKind, elem: ElemType) -> Fold {
        let compute = compute_elem(elem);
        let real_on_ints = matches!(
            kind,
            ReduceKind::L2 | ReduceKind::LogSum | ReduceKind::LogSumExp
        ) && !compute.is_float();
        let acc = if real_on_ints {
            ElemType::F64
        } else if kind == ReduceKind::Mean && compute.is_int() && compute.size() <= 4 {
            ElemType::I64
        } else {
            compute
        };
        let (init, combine, contribution): (Expr, BinaryOp, fn(Expr) -> Expr) = match kind {
            ReduceKind::Max if acc == ElemType::Bool => (Expr::int(0, acc), BinaryOp::Or, identity),
            ReduceKind::Min if acc == ElemType::Bool => {
                (Expr::int(1, acc), BinaryOp::And, identity)
            }
            ReduceKind::Max | ReduceKind::LogSumExp => {
                (extreme(acc, false), BinaryOp::Max, identity)
            }
            ReduceKind::Min => (extreme(acc, true), BinaryOp::Min, identity),
            ReduceKind::Prod => (constant(1.0, acc), BinaryOp::Mul, identity),
            ReduceKind::L1 if acc.is_signed() || acc.is_float() => {
                (constant(0.0, acc), BinaryOp::Add, absolute)
            }
            ReduceKind::L2 | ReduceKind::SumSquare => (constant(0.0, acc), BinaryOp::Add, square),
            _ => (constant(0.0, acc), BinaryOp::Add, identity),
        };
        Fold {
            acc,
            init,
            combine,
            contribution,
        }
    }

    fn step(&self, acc: Expr, v: Expr) -> Expr {
        match self.combine {
            BinaryOp::Max => acc.max(v),
            BinaryOp::Min => acc.min(v),
            op => acc.binary(op, v),
        }
    }

    /// The horizontal reduction of a vector accumulator, if the IR has one.
    fn horizontal(&self) -> Option<ReduceOp> {
        match self.combine {
            BinaryOp::Add => Some(ReduceOp::Add),
            BinaryOp::Max => Some(ReduceOp::Max),
            BinaryOp::Min => Some(ReduceOp::Min),
            _ => None,
        }
    }
}

/// An element of the operand (compute type) in the accumulator's type.
fn to_acc(v: Expr, from: ElemType, acc: ElemType) -> Expr {
    if compute_elem(from) == acc {
        v
    } else {
        v.convert(acc)
    }
}

fn lower_reduce(
    ctx: &LowerCtx,
    k: &mut KernelBuilder,
    op: &Reduce,
    x: &Operand,
    y: &Operand,
) -> Result<(), LowerError> {
    let elem = x.elem();
    if elem == ElemType::Bool && !matches!(op.kind, ReduceKind::Max | ReduceKind::Min) {
        return Err(ctx.unsupported(format!("{} on bool", op.name())));
    }
    if op.axes.iter().any(|&a| a >= x.shape().len()) {
        return Err(ctx.unsupported("reduction axis out of range"));
    }
    if y.len() == 0 {
        return Ok(());
    }
    let count: usize = op.axes.iter().map(|&a| x.shape()[a]).product();
    let (kept, reduced) = coalesce(x.shape(), &op.axes);
    let fold = Fold::of(op.kind, elem);
    let f32_lanes = ctx.target.f32_lanes();
    let vector_ok = elem == ElemType::F32 && fold.acc == ElemType::F32;
    // Side by side when the innermost dim is kept, horizontal when it is reduced.
    let columns = vector_ok && kept.last().is_some_and(|d| d.input == 1);
    let horizontal = vector_ok && !columns && reduced.last().is_some_and(|d| d.input == 1);
    let body = Body {
        op,
        x,
        y,
        fold: &fold,
        reduced: &reduced,
        count,
        lanes_h: if horizontal { f32_lanes } else { 1 },
    };
    emit_kept(
        k,
        &kept,
        Expr::index(0),
        Expr::index(0),
        if columns { f32_lanes } else { 1 },
        &body,
    );
    Ok(())
}

/// Loops over the kept dims; the innermost (contiguous) one `lanes` at a time.
fn emit_kept(k: &mut KernelBuilder, kept: &[Dim], inb: Expr, outb: Expr, lanes: u8, body: &Body) {
    let Some((dim, rest)) = kept.split_first() else {
        body.emit(k, inb, outb, 1);
        return;
    };
    let out_stride = dim.output.unwrap_or(0);
    if rest.is_empty() && lanes > 1 {
        let n = dim.size as i64;
        let main = n - n % lanes as i64;
        k.for_range("v", 0, main, lanes as i64, |k, i| {
            body.emit(k, inb.clone() + i.clone(), outb.clone() + i, lanes);
        });
        k.for_range("t", main, n, 1, |k, i| {
            body.emit(k, inb.clone() + i.clone(), outb.clone() + i, 1);
        });
        return;
    }
    k.for_range("o", 0, dim.size as i64, 1, |k, i| {
        emit_kept(
            k,
            rest,
            inb.clone() + i.clone() * dim.input,
            outb.clone() + i * out_stride,
            lanes,
            body,
        );
    });
}

struct Body<'a> {
    op: &'a Reduce,
    x: &'a Operand,
    y: &'a Operand,
    fold: &'a Fold,
    reduced: &'a [Dim],
    count: usize,
    /// Lanes of the horizontal fold along the innermost reduced dim (1: none).
    lanes_h: u8,
}

impl Body<'_> {
    /// One output element (or `lanes` consecutive ones) from operand base `inb`.
    fn emit(&self, k: &mut KernelBuilder, inb: Expr, outb: Expr, lanes: u8) {
        let acc_ty = Ty::vector(self.fold.acc, lanes);
        let (xb, xe) = (self.x.buf, self.x.elem());
        let value = |k: &mut KernelBuilder, index: Expr, l: u8| {
            let v = load_value(k, xb, xe, index, l);
            to_acc(v, xe, self.fold.acc)
        };
        let result = if self.op.kind == ReduceKind::LogSumExp {
            let max = self.fold_into(k, &inb, lanes, &|_, v, _| v, &value);
            let max = Expr::var(k.let_var("max", acc_ty, max));
            // An infinite (or empty: -inf) maximum shifts by 0: e^(x - 0) keeps ±inf
            // sums right instead of inf - inf.
            let inf = Expr::float(f64::INFINITY, self.fold.acc).splat(lanes);
            let shift = max
                .clone()
                .unary(UnaryOp::Abs)
                .compare(CompareOp::Eq, inf)
                .select(Expr::float(0.0, self.fold.acc).splat(lanes), max.clone());
            let shift = Expr::var(k.let_var("shift", acc_ty, shift));
            let sum_fold = Fold {
                acc: self.fold.acc,
                init: Expr::float(0.0, self.fold.acc),
                combine: BinaryOp::Add,
                contribution: identity,
            };
            let sum = Body {
                fold: &sum_fold,
                ..*self
            }
            .fold_into(
                k,
                &inb,
                lanes,
                &|k, v: Expr, l| {
                    // A scalar shift (one output) spreads over a horizontal vector.
                    let s = if l == lanes {
                        shift.clone()
                    } else {
                        shift.clone().splat(l)
                    };
                    FloatMath::new(k, Ty::vector(self.fold.acc, l)).exp(v - s)
                },
                &value,
            );
            let log = FloatMath::new(k, acc_ty).log(sum);
            max + log
        } else {
            let acc = self.fold_into(
                k,
                &inb,
                lanes,
                &|_, v, _| (self.fold.contribution)(v),
                &value,
            );
            let acc = Expr::var(k.let_var("acc", acc_ty, acc));
            self.finish(k, acc, lanes)
        };
        let out_elem = compute_elem(self.y.elem());
        let result = if self.fold.acc == out_elem {
            result
        } else {
            result.convert(out_elem)
        };
        store_value(k, self.y.buf, self.y.elem(), outb, result);
    }

    /// Folds every reduced element from `inb` (`lanes` side by side) into the
    /// accumulator; returns its final value (a variable).
    fn fold_into(
        &self,
        k: &mut KernelBuilder,
        inb: &Expr,
        lanes: u8,
        contribution: &dyn Fn(&mut KernelBuilder, Expr, u8) -> Expr,
        value: &dyn Fn(&mut KernelBuilder, Expr, u8) -> Expr,
    ) -> Expr {
        let acc_ty = Ty::vector(self.fold.acc, lanes);
        let acc = k.let_var("acc", acc_ty, self.fold.init.clone().splat(lanes));
        self.fold_dims(
            k,
            self.reduced,
            inb.clone(),
            lanes,
            acc,
            contribution,
            value,
        );
        Expr::var(acc)
    }

    #[allow(clippy::too_many_arguments)]
    fn fold_dims(
        &self,
        k: &mut KernelBuilder,
        dims: &[Dim],
        base: Expr,
        lanes: u8,
        acc: VarId,
        contribution: &dyn Fn(&mut KernelBuilder, Expr, u8) -> Expr,
        value: &dyn Fn(&mut KernelBuilder, Expr, u8) -> Expr,
    ) {
        let Some((dim, rest)) = dims.split_first() else {
            let v = value(k, base, lanes);
            let c = contribution(k, v, lanes);
            let next = self.fold.step(Expr::var(acc), c);
            k.assign(acc, next);
            return;
        };
        let horizontal = self.fold.horizontal();
        if rest.is_empty() && lanes == 1 && self.lanes_h > 1 && horizontal.is_some() {
            // A vector accumulator along the contiguous innermost dim.
            let l = self.lanes_h;
            let n = dim.size as i64;
            let main = n - n % l as i64;
            if main > 0 {
                let vty = Ty::vector(self.fold.acc, l);
                let vacc = k.let_var("acc_v", vty, self.fold.init.clone().splat(l));
                // Two accumulators over pairs of vectors: one would wait out
                // the add's latency at every vector (a 64 x 25 x 5 mean:
                // 1.2 us at AVX-512, one 128-bit add per 3 cycles).
                let pairs = main / (2 * l as i64) * (2 * l as i64);
                if pairs > 0 {
                    let other = k.let_var("acc_w", vty, self.fold.init.clone().splat(l));
                    k.for_range("r", 0, pairs, 2 * l as i64, |k, i| {
                        for (acc, at) in [(vacc, i.clone()), (other, i + l as i64)] {
                            let v = value(k, base.clone() + at, l);
                            let c = contribution(k, v, l);
                            let next = self.fold.step(Expr::var(acc), c);
                            k.assign(acc, next);
                        }
                    });
                    let both = self.fold.step(Expr::var(vacc), Expr::var(other));
                    k.assign(vacc, both);
                }
                k.for_range("r", pairs, main, l as i64, |k, i| {
                    let v = value(k, base.clone() + i, l);
                    let c = contribution(k, v, l);
                    let next = self.fold.step(Expr::var(vacc), c);
                    k.assign(vacc, next);
                });
                let h = Expr::var(vacc).reduce(horizontal.unwrap_or(ReduceOp::Add));
                let next = self.fold.step(Expr::var(acc), h);
                k.assign(acc, next);
            }
            k.for_range("r", main, n, 1, |k, i| {
                let v = value(k, base.clone() + i, 1);
                let c = contribution(k, v, 1);
                let next = self.fold.step(Expr::var(acc), c);
                k.assign(acc, next);
            });
            return;
        }
        k.for_range("r", 0, dim.size as i64, 1, |k, i| {
            self.fold_dims(
                k,
                rest,
                base.clone() + i * dim.input,
                lanes,
                acc,
                contribution,
                value,
            );
        });
    }

    /// The reduction's value from its accumulator.
    fn finish(&self, k: &mut KernelBuilder, acc: Expr, lanes: u8) -> Expr {
        let ty = Ty::vector(self.fold.acc, lanes);
        match self.op.kind {
            ReduceKind::Mean if self.fold.acc.is_float() => {
                acc / Expr::float(self.count as f64, self.fold.acc).splat(lanes)
            }
            ReduceKind::Mean if self.count == 0 => Expr::int(0, self.fold.acc),
            ReduceKind::Mean => acc / Expr::int(self.count as i64, self.fold.acc),
            ReduceKind::L2 => acc.unary(UnaryOp::Sqrt),
            ReduceKind::LogSum => FloatMath::new(k, ty).log(acc),
            _ => acc,
        }
    }
}

fn lower_arg(
    ctx: &LowerCtx,
    k: &mut KernelBuilder,
    op: &ArgReduce,
    x: &Operand,
    y: &Operand,
) -> Result<(), LowerError> {
    let elem = x.elem();
    if elem == ElemType::Bool || op.axis >= x.shape().len() {
        return Err(ctx.unsupported("ArgMax/ArgMin need a numeric operand and an axis in range"));
    }
    let shape = x.shape();
    let n = shape[op.axis];
    let inner: usize = shape[op.axis + 1..].iter().product();
    let outer: usize = shape[..op.axis].iter().product();
    if y.len() == 0 || n == 0 {
        return Ok(());
    }
    let ty = Ty::scalar(compute_elem(elem));
    let (xb, yb) = (x.buf, y.buf);
    let float = compute_elem(elem).is_float();
    k.for_range("o", 0, outer as i64, 1, |k, o| {
        k.for_range("i", 0, inner as i64, 1, |k, i| {
            let base = o.clone() * (n * inner) as i64 + i.clone();
            let first = load_value(k, xb, elem, base.clone(), 1);
            let best = k.let_var("best", ty, first);
            let at = k.let_var("at", Ty::INDEX, Expr::index(0));
            k.for_range("k", 1, n as i64, 1, |k, kk| {
                let v = load_value(k, xb, elem, base.clone() + kk.clone() * inner as i64, 1);
                let v = Expr::var(k.let_var("v", ty, v));
                let b = Expr::var(best);
                let cmp = match (op.kind, op.select_last_index) {
                    (ArgReduceKind::Max, false) => CompareOp::Gt,
                    (ArgReduceKind::Max, true) => CompareOp::Ge,
                    (ArgReduceKind::Min, false) => CompareOp::Lt,
                    (ArgReduceKind::Min, true) => CompareOp::Le,
                };
                let better = v.clone().compare(cmp, b.clone());
                // NaN is the extreme: it replaces a number, and a NaN is replaced
                // only by a later NaN with select_last_index.
                let replace = if float {
                    let v_nan = v.clone().compare(CompareOp::Ne, v.clone());
                    let b_num = b.clone().compare(CompareOp::Eq, b.clone());
                    let first =
                        b_num.binary(BinaryOp::And, v_nan.clone().binary(BinaryOp::Or, better));
                    if op.select_last_index {
                        first.binary(BinaryOp::Or, v_nan)
                    } else {
                        first
                    }
                } else {
                    better
                };
                k.if_then(replace, |k| {
                    k.assign(best, v);
                    k.assign(at, kk);
                });
            });
            k.store(yb, o * inner as i64 + i, Expr::var(at));
        });
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use nnc_ir::ops::{ArgReduce, ArgReduceKind, Reduce, ReduceKind};
    use nnc_ir::{DType, Op, Tensor};

    use super::super::random_tensors::{FLOAT_DTYPES, INT_DTYPES, random, rng, tolerance};
    use super::super::testing::check_op;

    const KINDS: [ReduceKind; 10] = [
        ReduceKind::Sum,
        ReduceKind::Mean,
        ReduceKind::Max,
        ReduceKind::Min,
        ReduceKind::Prod,
        ReduceKind::L1,
        ReduceKind::L2,
        ReduceKind::LogSum,
        ReduceKind::LogSumExp,
        ReduceKind::SumSquare,
    ];

    /// Every subset of the axes of `rank`.
    fn axis_sets(rank: usize) -> Vec<Vec<usize>> {
        (0..1u32 << rank)
            .map(|m| (0..rank).filter(|a| m & (1 << a) != 0).collect())
            .filter(|s: &Vec<usize>| !s.is_empty() || rank == 0)
            .collect()
    }

    #[test]
    fn every_kind_over_every_axis_set() {
        let mut r = rng(21);
        let shapes: [&[usize]; 5] = [&[], &[9], &[3, 4, 5], &[2, 1, 7], &[2, 0, 3]];
        for kind in KINDS {
            let mut dtypes = FLOAT_DTYPES.to_vec();
            dtypes.extend(INT_DTYPES);
            for dtype in dtypes {
                for shape in shapes {
                    for axes in axis_sets(shape.len()) {
                        for keepdims in [false, true] {
                            let positive = matches!(kind, ReduceKind::LogSum | ReduceKind::Prod);
                            let (lo, hi) = if positive { (0.5, 2.0) } else { (-3.0, 3.0) };
                            let int_lo = if dtype.is_signed_int() { -3.0 } else { 0.0 };
                            let x = if dtype.is_float() {
                                random(&mut r, dtype, shape, lo, hi, false)
                            } else {
                                random(
                                    &mut r,
                                    dtype,
                                    shape,
                                    if positive { 1.0 } else { int_lo },
                                    3.0,
                                    true,
                                )
                            };
                            let (rtol, atol) = tolerance(dtype);
                            let op = Op::Reduce(Reduce {
                                kind,
                                axes: axes.clone(),
                                keepdims,
                            });
                            check_op(op, &[Some(&x)], &[], 1, rtol * 8.0, atol * 8.0);
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn bools_and_wide_integers() {
        let mut r = rng(22);
        for kind in [ReduceKind::Max, ReduceKind::Min] {
            let x = random(&mut r, DType::Bool, &[3, 6], 0.0, 1.0, false);
            check_op(
                Op::Reduce(Reduce {
                    kind,
                    axes: vec![1],
                    keepdims: false,
                }),
                &[Some(&x)],
                &[],
                1,
                0.0,
                0.0,
            );
        }
        for dtype in INT_DTYPES {
            let x = random(&mut r, dtype, &[4, 9], 0.0, 0.0, false);
            for kind in [
                ReduceKind::Sum,
                ReduceKind::Mean,
                ReduceKind::Max,
                ReduceKind::Min,
                ReduceKind::Prod,
                ReduceKind::SumSquare,
                ReduceKind::L1,
            ] {
                if kind == ReduceKind::Mean && dtype.size() == 8 {
                    continue; // exact 128-bit sums in the reference; the kernel wraps in 64
                }
                check_op(
                    Op::Reduce(Reduce {
                        kind,
                        axes: vec![1],
                        keepdims: true,
                    }),
                    &[Some(&x)],
                    &[],
                    1,
                    0.0,
                    0.0,
                );
            }
        }
    }

    #[test]
    fn arg_max_and_min_with_nans_and_ties() {
        let mut r = rng(23);
        for dtype in FLOAT_DTYPES.into_iter().chain(INT_DTYPES) {
            for shape in [&[7][..], &[3, 4, 5], &[2, 1, 6]] {
                for axis in 0..shape.len() {
                    for kind in [ArgReduceKind::Max, ArgReduceKind::Min] {
                        for (keepdims, select_last_index) in [(false, false), (true, true)] {
                            let x = random(&mut r, dtype, shape, -2.0, 2.0, true);
                            let x = if dtype.is_float() {
                                // Few distinct values: ties.
                                let v: Vec<f64> =
                                    x.to_f64_vec().iter().map(|v| v.round()).collect();
                                Tensor::from_f64_values(dtype, shape.to_vec(), &v).unwrap()
                            } else {
                                x
                            };
                            let op = Op::ArgReduce(ArgReduce {
                                kind,
                                axis,
                                keepdims,
                                select_last_index,
                            });
                            check_op(op, &[Some(&x)], &[], 1, 0.0, 0.0);
                        }
                    }
                }
            }
        }
        let nans =
            Tensor::from_vec(vec![6], vec![1.0f32, f32::NAN, 3.0, f32::NAN, 3.0, -1.0]).unwrap();
        for kind in [ArgReduceKind::Max, ArgReduceKind::Min] {
            for select_last_index in [false, true] {
                let op = Op::ArgReduce(ArgReduce {
                    kind,
                    axis: 0,
                    keepdims: false,
                    select_last_index,
                });
                check_op(op, &[Some(&nans)], &[], 1, 0.0, 0.0);
            }
        }
    }
}
