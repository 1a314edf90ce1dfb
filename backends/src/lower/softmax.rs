//! Lowering of Softmax, LogSoftmax and Hardmax along one axis.
//!
//! The tensor is `outer × n × inner` around the axis. Softmax takes three passes
//! over each line of `n` elements: the maximum, then the sum of e^(x - max) (f32 and
//! f64 outputs keep each exponential in the output buffer to avoid computing it
//! twice; f16 outputs would lose precision there and recompute it), then the
//! normalisation. Lines are vectorized across `inner` (4 neighbouring lines at a
//! time) or, when the axis is the innermost one, along the line itself with
//! horizontal reductions.

use nnc_ir::Op;
use nnc_ir::kernel::{CompareOp, ElemType, Expr, Kernel, KernelBuilder, ReduceOp, Ty};
use nnc_ir::ops::SoftmaxKind;

use super::element_io::{compute_elem, load_value, store_value};
use super::elementwise::kernel_name;
use super::math::FloatMath;
use super::signature::{Operand, Signature};
use super::{LowerCtx, LowerError};

pub(super) fn lower(ctx: &LowerCtx) -> Result<Kernel, LowerError> {
    let Op::Softmax(op) = &ctx.node.op else {
        return Err(ctx.unsupported("not a softmax"));
    };
    let mut k = KernelBuilder::new(kernel_name(ctx));
    let sig = Signature::declare(ctx, &mut k);
    let (x, y) = (sig.input(ctx, 0)?, sig.output(ctx, 0)?);
    if !x.elem().is_float() || op.axis >= x.shape().len() {
        return Err(ctx.unsupported("Softmax needs a float operand and an axis in range"));
    }
    let shape = x.shape();
    let n = shape[op.axis];
    let inner: usize = shape[op.axis + 1..].iter().product();
    let outer: usize = shape[..op.axis].iter().product();
    if x.len() == 0 {
        return Ok(k.finish());
    }
    let plan = Plan {
        x,
        y,
        n,
        inner,
        kind: op.kind,
    };
    let lanes = if compute_elem(x.elem()) == ElemType::F32 && x.elem() == ElemType::F32 {
        ctx.target.f32_lanes()
    } else {
        1
    };
    k.for_range("o", 0, outer as i64, 1, |k, o| {
        let block = o * (n * inner) as i64;
        if inner == 1 {
            plan.row(k, block, lanes);
            return;
        }
        let lanes = if plan.kind == SoftmaxKind::Hardmax {
            1
        } else {
            lanes
        };
        let main = (inner - inner % lanes as usize) as i64;
        if lanes > 1 {
            k.for_range("i", 0, main, lanes as i64, |k, i| {
                plan.columns(k, block.clone() + i, lanes);
            });
        }
        let start = if lanes > 1 { main } else { 0 };
        k.for_range("i", start, inner as i64, 1, |k, i| {
            plan.columns(k, block.clone() + i, 1);
        });
    });
    Ok(k.finish())
}

/// Runs a per-element body `(k, index, lanes)` over one line's elements.
type LineWalk<'a> = dyn Fn(&mut KernelBuilder, &dyn Fn(&mut KernelBuilder, Expr, u8)) + 'a;

struct Plan<'a> {
    x: &'a Operand,
    y: &'a Operand,
    n: usize,
    inner: usize,
    kind: SoftmaxKind,
}

impl Plan<'_> {
    fn compute_ty(&self, lanes: u8) -> Ty {
        Ty::vector(compute_elem(self.x.elem()), lanes)
    }

    /// Whether the output can hold the exponentials between passes.
    fn keeps_exponentials(&self) -> bool {
        self.y.elem() != ElemType::F16
    }

    fn c(&self, v: f64, lanes: u8) -> Expr {
        Expr::float(v, compute_elem(self.x.elem())).splat(lanes)
    }

    /// `lanes` neighbouring lines from `base` (element k of the lines at
    /// `base + k·inner`).
    fn columns(&self, k: &mut KernelBuilder, base: Expr, lanes: u8) {
        let ty = self.compute_ty(lanes);
        let (n, stride) = (self.n as i64, self.inner as i64);
        let at = |kk: &Expr| base.clone() + kk.clone() * stride;
        if self.kind == SoftmaxKind::Hardmax {
            self.hardmax(k, &at);
            return;
        }
        let (xb, xe) = (self.x.buf, self.x.elem());
        let max = k.let_var("max", ty, self.c(f64::NEG_INFINITY, lanes));
        k.for_range("k", 0, n, 1, |k, kk| {
            let v = load_value(k, xb, xe, at(&kk), lanes);
            k.assign(max, Expr::var(max).max(v));
        });
        let sum = k.let_var("sum", ty, self.c(0.0, lanes));
        k.for_range("k", 0, n, 1, |k, kk| {
            let v = load_value(k, xb, xe, at(&kk), lanes);
            let e = FloatMath::new(k, ty).exp(v - Expr::var(max));
            if self.keeps_exponentials() {
                store_value(k, self.y.buf, self.y.elem(), at(&kk), e.clone());
            }
            k.assign(sum, Expr::var(sum) + e);
        });
        self.normalize(k, Expr::var(max), Expr::var(sum), lanes, &|k, body| {
            k.for_range("k", 0, n, 1, |k, kk| body(k, at(&kk), lanes));
        });
    }

    /// The last pass: `y = e / sum` (Softmax) or `x - max - ln sum` (LogSoftmax).
    /// `max` and `sum` have `lanes` lanes (one per line side by side, or one
    /// scalar for a row); `each(k, body)` runs `body(k, index, lanes)` over the
    /// line's elements.
    fn normalize(&self, k: &mut KernelBuilder, max: Expr, sum: Expr, lanes: u8, each: &LineWalk) {
        let ty = self.compute_ty(1);
        let (xb, xe, yb, ye) = (self.x.buf, self.x.elem(), self.y.buf, self.y.elem());
        let keeps = self.keeps_exponentials();
        match self.kind {
            SoftmaxKind::LogSoftmax => {
                // ln(sum) once per line (sum is a scalar or a vector of lines).
                let sum_ty = Ty::vector(ty.elem, lanes);
                let log_sum = FloatMath::new(k, sum_ty).log(sum);
                let log_sum = k.let_var("log_sum", sum_ty, log_sum);
                let max = k.let_var("max_line", sum_ty, max);
                each(k, &|k, index, l| {
                    // (x - max) - ln(sum), as the reference: max + ln(sum) would round
                    // away the small part next to a large max.
                    let v = load_value(k, xb, xe, index.clone(), l);
                    let m = widen(Expr::var(max), sum_ty.lanes, l);
                    let s = widen(Expr::var(log_sum), sum_ty.lanes, l);
                    store_value(k, yb, ye, index, (v - m) - s);
                });
            }
            _ => {
                let sum_ty = Ty::vector(ty.elem, lanes);
                // One division per line, then a multiply per element: a vector
                // division costs several multiplies' throughput, and the extra
                // rounding is within an ulp.
                let one = Expr::float(1.0, ty.elem).splat(lanes);
                let inverse = k.let_var("inverse_total", sum_ty, one / sum);
                let max_v = k.let_var("max_line", sum_ty, max);
                each(k, &|k, index, l| {
                    let e = if keeps {
                        load_value(k, yb, ye, index.clone(), l)
                    } else {
                        let v = load_value(k, xb, xe, index.clone(), l);
                        let m = widen(Expr::var(max_v), sum_ty.lanes, l);
                        FloatMath::new(k, Ty::vector(ty.elem, l)).exp(v - m)
                    };
                    let inverse = widen(Expr::var(inverse), sum_ty.lanes, l);
                    store_value(k, yb, ye, index, e * inverse);
                });
            }
        }
    }

    /// One line along the innermost axis from `base`: vectors along the line,
    /// reduced horizontally, then a scalar tail.
    fn row(&self, k: &mut KernelBuilder, base: Expr, lanes: u8) {
        let n = self.n as i64;
        let at = |kk: &Expr| base.clone() + kk.clone();
        if self.kind == SoftmaxKind::Hardmax {
            self.hardmax(k, &at);
            return;
        }
        let main = if lanes > 1 { n - n % lanes as i64 } else { 0 };
        let (xb, xe) = (self.x.buf, self.x.elem());
        let ty1 = self.compute_ty(1);
        let tyv = self.compute_ty(lanes);
        let max = k.let_var("max", ty1, self.c(f64::NEG_INFINITY, 1));
        if main > 0 {
            let mv = k.let_var("max_v", tyv, self.c(f64::NEG_INFINITY, lanes));
            k.for_range("k", 0, main, lanes as i64, |k, kk| {
                let v = load_value(k, xb, xe, at(&kk), lanes);
                k.assign(mv, Expr::var(mv).max(v));
            });
            k.assign(max, Expr::var(mv).reduce(ReduceOp::Max));
        }
        k.for_range("k", main, n, 1, |k, kk| {
            let v = load_value(k, xb, xe, at(&kk), 1);
            k.assign(max, Expr::var(max).max(v));
        });
        let sum = k.let_var("sum", ty1, self.c(0.0, 1));
        let exp_pass = |k: &mut KernelBuilder, kk: Expr, l: u8, acc: nnc_ir::kernel::VarId| {
            let v = load_value(k, xb, xe, at(&kk), l);
            let e = FloatMath::new(k, self.compute_ty(l)).exp(v - Expr::var(max).splat(l));
            if self.keeps_exponentials() {
                store_value(k, self.y.buf, self.y.elem(), at(&kk), e.clone());
            }
            k.assign(acc, Expr::var(acc) + e);
        };
        if main > 0 {
            let sv = k.let_var("sum_v", tyv, self.c(0.0, lanes));
            k.for_range("k", 0, main, lanes as i64, |k, kk| {
                exp_pass(k, kk, lanes, sv)
            });
            k.assign(sum, Expr::var(sv).reduce(ReduceOp::Add));
        }
        k.for_range("k", main, n, 1, |k, kk| exp_pass(k, kk, 1, sum));
        self.normalize(k, Expr::var(max), Expr::var(sum), 1, &|k, body| {
            if main > 0 {
                k.for_range("k", 0, main, lanes as i64, |k, kk| body(k, at(&kk), lanes));
            }
            k.for_range("k", main, n, 1, |k, kk| body(k, at(&kk), 1));
        });
    }

    /// 1 at the first maximum of the line, 0 elsewhere (scalar; a NaN first
    /// element stays the maximum, as in the reference).
    fn hardmax(&self, k: &mut KernelBuilder, at: &dyn Fn(&Expr) -> Expr) {
        let ty = self.compute_ty(1);
        let (xb, xe) = (self.x.buf, self.x.elem());
        let first = load_value(k, xb, xe, at(&Expr::index(0)), 1);
        let best = k.let_var("best", ty, first);
        let arg = k.let_var("arg", Ty::INDEX, Expr::index(0));
        k.for_range("k", 1, self.n as i64, 1, |k, kk| {
            let v = load_value(k, xb, xe, at(&kk), 1);
            let v = k.let_var("v", ty, v);
            k.if_then(Expr::var(v).compare(CompareOp::Gt, Expr::var(best)), |k| {
                k.assign(best, Expr::var(v));
                k.assign(arg, kk.clone());
            });
        });
        k.for_range("k", 0, self.n as i64, 1, |k, kk| {
            let one = kk.clone().compare(CompareOp::Eq, Expr::var(arg));
            let v = one.select(self.c(1.0, 1), self.c(0.0, 1));
            store_value(k, self.y.buf, self.y.elem(), at(&kk), v);
        });
    }
}

/// A per-line statistic of `have` lanes used on values of `want` lanes: a scalar
/// statistic is splat over a vector along the line.
fn widen(stat: Expr, have: u8, want: u8) -> Expr {
    if have == want { stat } else { stat.splat(want) }
}

#[cfg(test)]
mod tests {
    use nnc_ir::Op;
    use nnc_ir::ops::{Softmax, SoftmaxKind};

    use super::super::random_tensors::{FLOAT_DTYPES, random, rng, tolerance};
    use super::super::testing::check_op;

    #[test]
    fn every_kind_along_every_axis() {
        let mut r = rng(11);
        let shapes: [&[usize]; 6] = [&[7], &[3, 9], &[2, 5, 4], &[2, 3, 13], &[1, 16], &[4, 0, 3]];
        for kind in [
            SoftmaxKind::Softmax,
            SoftmaxKind::LogSoftmax,
            SoftmaxKind::Hardmax,
        ] {
            for dtype in FLOAT_DTYPES {
                for shape in shapes {
                    for axis in 0..shape.len() {
                        let x = random(&mut r, dtype, shape, -20.0, 20.0, false);
                        let (rtol, atol) = tolerance(dtype);
                        let op = Op::Softmax(Softmax { kind, axis });
                        check_op(op, &[Some(&x)], &[], 1, rtol * 4.0, atol);
                    }
                }
            }
        }
    }

    #[test]
    fn large_and_infinite_inputs() {
        let x = nnc_ir::Tensor::from_vec(
            vec![2, 5],
            vec![
                1000.0f32,
                1000.0,
                -1000.0,
                3.0,
                f32::NEG_INFINITY,
                1.0,
                2.0,
                3.0,
                4.0,
                5.0,
            ],
        )
        .unwrap();
        for kind in [
            SoftmaxKind::Softmax,
            SoftmaxKind::LogSoftmax,
            SoftmaxKind::Hardmax,
        ] {
            check_op(
                Op::Softmax(Softmax { kind, axis: 1 }),
                &[Some(&x)],
                &[],
                1,
                1e-6,
                1e-7,
            );
        }
    }
}
