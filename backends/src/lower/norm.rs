//! Lowering of the normalisations: BatchNormalization (inference), Instance-,
//! Layer- and GroupNormalization, LRN.
//!
//! All compute in the reference's type (f32 for f16 and f32, f64 for f64), with
//! the statistics of a run of elements in two passes (mean, then the mean squared
//! deviation), as the reference does. Runs over contiguous elements are
//! vectorized for f32 (vector partial sums, reduced at the end of the run).

use nnc_ir::Op;
use nnc_ir::kernel::{
    BinaryOp, BufId, CompareOp, ElemType, Expr, Kernel, KernelBuilder, ReduceOp, Ty, UnaryOp,
};
use nnc_ir::ops::LayerNorm;

use super::broadcast::BroadcastWalk;
use super::element_io::{compute_elem, load_value, store_value};
use super::elementwise::kernel_name;
use super::math::FloatMath;
use super::signature::{Operand, Signature};
use super::{LowerCtx, LowerError};

pub(super) fn lower(ctx: &LowerCtx) -> Result<Kernel, LowerError> {
    let mut k = KernelBuilder::new(kernel_name(ctx));
    let sig = Signature::declare(ctx, &mut k);
    let x = sig.input(ctx, 0)?;
    if !x.elem().is_float() || x.shape().len() < 2 {
        return Err(ctx.unsupported("normalisations need a float operand of rank >= 2"));
    }
    let n = Norm {
        x,
        y: sig.output(ctx, 0)?,
        r: compute_elem(x.elem()),
        lanes: if x.elem() == ElemType::F32 {
            ctx.target.f32_lanes()
        } else {
            1
        },
    };
    if x.len() == 0 {
        return Ok(k.finish());
    }
    match &ctx.node.op {
        Op::BatchNorm(op) => {
            let params = [1, 2, 3, 4].map(|i| sig.input(ctx, i));
            let [scale, bias, mean, var] = params;
            n.batch(&mut k, [scale?, bias?, mean?, var?], op.epsilon);
        }
        Op::InstanceNorm(op) => {
            let (scale, bias) = (sig.input(ctx, 1)?, sig.input(ctx, 2)?);
            n.instance(&mut k, scale, bias, op.epsilon);
        }
        Op::LayerNorm(op) => {
            let scale = sig.input(ctx, 1)?;
            let stats: Vec<&Operand> = sig.outputs.iter().skip(1).collect();
            let params = LayerParams {
                scale,
                bias: sig.optional(2),
                stats: &stats,
            };
            if op.inner_axes == 0 {
                n.layer(ctx, &mut k, &params, op.axis, op.epsilon)?;
            } else {
                n.layer_across(ctx, &mut k, &params, op)?;
            }
        }
        Op::GroupNorm(op) => {
            let (scale, bias) = (sig.input(ctx, 1)?, sig.input(ctx, 2)?);
            let channels = x.shape()[1];
            if op.num_groups == 0 || !channels.is_multiple_of(op.num_groups) {
                return Err(ctx.unsupported("GroupNormalization groups do not divide the channels"));
            }
            n.group(&mut k, scale, bias, op.num_groups, op.epsilon);
        }
        Op::Lrn(op) => n.lrn(&mut k, op.size, op.alpha, op.beta, op.bias),
        other => return Err(ctx.unsupported(format!("{} is not a normalisation", other.name()))),
    }
    Ok(k.finish())
}

/// A LayerNorm's operands past X, and its statistics outputs.
struct LayerParams<'a> {
    scale: &'a Operand,
    bias: Option<&'a Operand>,
    stats: &'a [&'a Operand],
}

/// What a LayerNorm with inner axes needs for each group of lines.
struct Lines<'a> {
    size: usize,
    inner: usize,
    params: &'a LayerParams<'a>,
    epsilon: f32,
}

struct Norm<'a> {
    x: &'a Operand,
    y: &'a Operand,
    /// The compute type: f32 (for f16 and f32) or f64.
    r: ElemType,
    /// Vector lanes for contiguous runs (1 unless the operand is f32).
    lanes: u8,
}

impl Norm<'_> {
    fn c(&self, v: f64, lanes: u8) -> Expr {
        Expr::float(v, self.r).splat(lanes)
    }

    fn ty(&self, lanes: u8) -> Ty {
        Ty::vector(self.r, lanes)
    }

    /// Element `index` of a parameter operand, in the compute type, held in a
    /// variable.
    fn param(&self, k: &mut KernelBuilder, p: &Operand, index: Expr) -> Expr {
        let v = load_value(k, p.buf, p.elem(), index, 1);
        let v = if compute_elem(p.elem()) == self.r {
            v
        } else {
            v.convert(self.r)
        };
        Expr::var(k.let_var("param", self.ty(1), v))
    }

    /// Runs `body(k, index, lanes)` over `len` contiguous elements from `base`:
    /// vectors, then a scalar tail.
    fn each(
        &self,
        k: &mut KernelBuilder,
        base: &Expr,
        len: usize,
        body: &dyn Fn(&mut KernelBuilder, Expr, u8),
    ) {
        let l = self.lanes;
        let main = if l > 1 { len - len % l as usize } else { 0 } as i64;
        if main > 0 {
            k.for_range("v", 0, main, l as i64, |k, i| body(k, base.clone() + i, l));
        }
        k.for_range("t", main, len as i64, 1, |k, i| {
            body(k, base.clone() + i, 1)
        });
    }

    /// Σ f(x) over `len` contiguous elements from `base` (a scalar variable).
    fn sum(
        &self,
        k: &mut KernelBuilder,
        buf: BufId,
        base: &Expr,
        len: usize,
        f: &dyn Fn(Expr, u8) -> Expr,
    ) -> Expr {
        let l = self.lanes;
        let elem = self.x.elem();
        let total = k.let_var("sum", self.ty(1), self.c(0.0, 1));
        let main = if l > 1 { len - len % l as usize } else { 0 } as i64;
        if main > 0 {
            let acc = k.let_var("sum_v", self.ty(l), self.c(0.0, l));
            k.for_range("v", 0, main, l as i64, |k, i| {
                let v = load_value(k, buf, elem, base.clone() + i, l);
                k.assign(acc, Expr::var(acc) + f(v, l));
            });
            k.assign(total, Expr::var(acc).reduce(ReduceOp::Add));
        }
        k.for_range("t", main, len as i64, 1, |k, i| {
            let v = load_value(k, buf, elem, base.clone() + i, 1);
            k.assign(total, Expr::var(total) + f(v, 1));
        });
        Expr::var(total)
    }

    /// Mean and 1/√(variance + ε) of `len` contiguous elements from `base`.
    fn moments(
        &self,
        k: &mut KernelBuilder,
        base: &Expr,
        len: usize,
        epsilon: f32,
    ) -> (Expr, Expr) {
        let count = self.c(len.max(1) as f64, 1);
        let s = self.sum(k, self.x.buf, base, len, &|v, _| v);
        let mean = Expr::var(k.let_var("mean", self.ty(1), s / count.clone()));
        let m = mean.clone();
        let sq = self.sum(k, self.x.buf, base, len, &|v, l| {
            let d = v - m.clone().splat(l);
            d.clone() * d
        });
        let var = sq / count;
        let inv = self.c(1.0, 1) / (var + self.c(f64::from(epsilon), 1)).unary(UnaryOp::Sqrt);
        let inv_std = Expr::var(k.let_var("inv_std", self.ty(1), inv));
        (mean, inv_std)
    }

    /// y = ((x - mean)·inv_std)·scale + bias over a contiguous run.
    #[allow(clippy::too_many_arguments)]
    fn normalize_run(
        &self,
        k: &mut KernelBuilder,
        base: &Expr,
        len: usize,
        mean: &Expr,
        inv_std: &Expr,
        scale: &Expr,
        bias: &Expr,
    ) {
        let (xb, xe, yb, ye) = (self.x.buf, self.x.elem(), self.y.buf, self.y.elem());
        self.each(k, base, len, &|k, i, l| {
            let v = load_value(k, xb, xe, i.clone(), l);
            let out =
                (v - mean.clone().splat(l)) * inv_std.clone().splat(l) * scale.clone().splat(l)
                    + bias.clone().splat(l);
            store_value(k, yb, ye, i, out);
        });
    }

    fn batch(&self, k: &mut KernelBuilder, params: [&Operand; 4], epsilon: f32) {
        let shape = self.x.shape();
        let (n, channels) = (shape[0], shape[1]);
        let plane: usize = shape[2..].iter().product();
        let [scale, bias, mean, var] = params;
        let (xb, xe, yb, ye) = (self.x.buf, self.x.elem(), self.y.buf, self.y.elem());
        k.for_range("c", 0, channels as i64, 1, |k, c| {
            let s = self.param(k, scale, c.clone());
            let b = self.param(k, bias, c.clone());
            let m = self.param(k, mean, c.clone());
            let v = self.param(k, var, c.clone());
            let eps = self.c(f64::from(epsilon), 1);
            let factor =
                Expr::var(k.let_var("factor", self.ty(1), s / (v + eps).unary(UnaryOp::Sqrt)));
            let shift = Expr::var(k.let_var("shift", self.ty(1), b - m * factor.clone()));
            k.for_range("n", 0, n as i64, 1, |k, i| {
                let base = (i * channels as i64 + c.clone()) * plane as i64;
                self.each(k, &base, plane, &|k, idx, l| {
                    let v = load_value(k, xb, xe, idx.clone(), l);
                    store_value(
                        k,
                        yb,
                        ye,
                        idx,
                        v * factor.clone().splat(l) + shift.clone().splat(l),
                    );
                });
            });
        });
    }

    fn instance(&self, k: &mut KernelBuilder, scale: &Operand, bias: &Operand, epsilon: f32) {
        let shape = self.x.shape();
        let (n, channels) = (shape[0], shape[1]);
        let plane: usize = shape[2..].iter().product();
        k.for_range("n", 0, n as i64, 1, |k, i| {
            k.for_range("c", 0, channels as i64, 1, |k, c| {
                let base = (i.clone() * channels as i64 + c.clone()) * plane as i64;
                let base = Expr::var(k.let_var("base", Ty::INDEX, base));
                let (mean, inv_std) = self.moments(k, &base, plane, epsilon);
                let s = self.param(k, scale, c.clone());
                let b = self.param(k, bias, c);
                self.normalize_run(k, &base, plane, &mean, &inv_std, &s, &b);
            });
        });
    }

    fn group(
        &self,
        k: &mut KernelBuilder,
        scale: &Operand,
        bias: &Operand,
        groups: usize,
        epsilon: f32,
    ) {
        let shape = self.x.shape();
        let (n, channels) = (shape[0], shape[1]);
        let plane: usize = shape[2..].iter().product();
        let per_group = channels / groups;
        k.for_range("n", 0, n as i64, 1, |k, i| {
            k.for_range("g", 0, groups as i64, 1, |k, g| {
                let first = g.clone() * per_group as i64;
                let base = (i.clone() * channels as i64 + first.clone()) * plane as i64;
                let base = Expr::var(k.let_var("base", Ty::INDEX, base));
                let (mean, inv_std) = self.moments(k, &base, per_group * plane, epsilon);
                k.for_range("j", 0, per_group as i64, 1, |k, j| {
                    let c = first.clone() + j.clone();
                    // A parameter per group is shared by the group's channels.
                    let index = |p: &Operand| {
                        if p.len() == channels {
                            c.clone()
                        } else {
                            g.clone()
                        }
                    };
                    let s = self.param(k, scale, index(scale));
                    let b = self.param(k, bias, index(bias));
                    let run = base.clone() + j * plane as i64;
                    self.normalize_run(k, &run, plane, &mean, &inv_std, &s, &b);
                });
            });
        });
    }

    fn layer(
        &self,
        ctx: &LowerCtx,
        k: &mut KernelBuilder,
        params: &LayerParams,
        axis: usize,
        epsilon: f32,
    ) -> Result<(), LowerError> {
        let LayerParams { scale, bias, stats } = *params;
        let shape = self.x.shape();
        if axis >= shape.len() {
            return Err(ctx.unsupported("LayerNormalization axis out of range"));
        }
        let normalized = &shape[axis..];
        let size: usize = normalized.iter().product();
        let rows: usize = shape[..axis].iter().product();
        let mut params = vec![normalized, scale.shape()];
        if let Some(b) = bias {
            params.push(b.shape());
        }
        let walk = BroadcastWalk::new(normalized, &params)
            .ok_or_else(|| ctx.unsupported("LayerNormalization parameters do not broadcast"))?;
        let (yb, ye) = (self.y.buf, self.y.elem());
        let r = self.r;
        k.for_range("row", 0, rows as i64, 1, |k, row| {
            let base = Expr::var(k.let_var("base", Ty::INDEX, row.clone() * size as i64));
            let (mean, inv_std) = self.moments(k, &base, size, epsilon);
            for (stat, value) in stats.iter().zip([&mean, &inv_std]) {
                let v = if r == ElemType::F32 {
                    value.clone()
                } else {
                    value.clone().convert(ElemType::F32)
                };
                store_value(k, stat.buf, stat.elem(), row.clone(), v);
            }
            let lanes = if size > 0 { self.lanes } else { 1 };
            walk.emit(k, lanes, &mut |k, acc, at, l| {
                let load = |k: &mut KernelBuilder, p: &Operand, i: usize, base: Option<&Expr>| {
                    let index = match base {
                        Some(b) => b.clone() + acc[i].index.clone(),
                        None => acc[i].index.clone(),
                    };
                    let lanes = if acc[i].splat { 1 } else { l };
                    let v = load_value(k, p.buf, p.elem(), index, lanes);
                    let v = if compute_elem(p.elem()) == r {
                        v
                    } else {
                        v.convert(r)
                    };
                    if lanes < l { v.splat(l) } else { v }
                };
                let v = load(k, self.x, 0, Some(&base));
                let s = load(k, scale, 1, None);
                let mut out = (v - mean.clone().splat(l)) * inv_std.clone().splat(l) * s;
                if let Some(b) = bias {
                    out = out + load(k, b, 2, None);
                }
                store_value(k, yb, ye, base.clone() + at, out);
            });
        });
        Ok(())
    }

    /// LayerNorm with inner axes: `size` normalised elements `inner` apart, for
    /// each of the `inner` lines. Vectors run across neighbouring lines, so every
    /// load is contiguous, and several vectors go at once to hide the latency of
    /// the running sums.
    fn layer_across(
        &self,
        ctx: &LowerCtx,
        k: &mut KernelBuilder,
        params: &LayerParams,
        op: &LayerNorm,
    ) -> Result<(), LowerError> {
        let LayerParams { scale, bias, .. } = *params;
        let shape = self.x.shape();
        if op.axis + op.inner_axes >= shape.len() {
            return Err(ctx.unsupported("LayerNormalization axis out of range"));
        }
        let normalized = op.normalized(shape);
        let size: usize = normalized.iter().product();
        let inner: usize = shape[shape.len() - op.inner_axes..].iter().product();
        let outer: usize = shape[..op.axis].iter().product();
        // A parameter's dims (past leading 1s) must be the last normalised ones,
        // so that element j of the normalised run reads it at j mod its length.
        let trailing = |p: &Operand| {
            let trimmed = &p.shape()[p.shape().iter().take_while(|&&d| d == 1).count()..];
            normalized.ends_with(trimmed)
        };
        if !trailing(scale) || !bias.is_none_or(trailing) {
            return Err(ctx.unsupported(
                "LayerNormalization with inner axes needs parameters over the last normalised dims",
            ));
        }
        let lanes = self.lanes;
        let group = 4 * lanes as usize;
        let grouped = inner - inner % group;
        let vectors = inner - inner % lanes as usize;
        let lines = Lines {
            size,
            inner,
            params,
            epsilon: op.epsilon,
        };
        k.for_range("o", 0, outer as i64, 1, |k, o| {
            if grouped > 0 {
                k.for_range("i", 0, grouped as i64, group as i64, |k, i| {
                    self.normalize_lines(k, &lines, &o, i, 4, lanes);
                });
            }
            if vectors > grouped {
                k.for_range("i", grouped as i64, vectors as i64, lanes as i64, |k, i| {
                    self.normalize_lines(k, &lines, &o, i, 1, lanes);
                });
            }
            k.for_range("i", vectors as i64, inner as i64, 1, |k, i| {
                self.normalize_lines(k, &lines, &o, i, 1, 1);
            });
        });
        Ok(())
    }

    /// Normalises `count` vectors of `lanes` neighbouring lines from line `first`
    /// of block `outer`: the two-pass statistics of each line, then the scaled
    /// output, as the reference computes them.
    fn normalize_lines(
        &self,
        k: &mut KernelBuilder,
        lines: &Lines,
        outer: &Expr,
        first: Expr,
        count: usize,
        lanes: u8,
    ) {
        let (xb, xe, yb, ye) = (self.x.buf, self.x.elem(), self.y.buf, self.y.elem());
        let inner = lines.inner as i64;
        let ty = self.ty(lanes);
        let block = outer.clone() * (lines.size * lines.inner) as i64;
        let start = Expr::var(k.let_var("start", Ty::INDEX, block + first.clone()));
        let at =
            |j: &Expr, v: usize| start.clone() + j.clone() * inner + (v * lanes as usize) as i64;
        let count_c = self.c(lines.size.max(1) as f64, lanes);
        let sums: Vec<_> = (0..count)
            .map(|_| k.let_var("sum", ty, self.c(0.0, lanes)))
            .collect();
        k.for_range("j", 0, lines.size as i64, 1, |k, j| {
            for (v, &sum) in sums.iter().enumerate() {
                let x = load_value(k, xb, xe, at(&j, v), lanes);
                k.assign(sum, Expr::var(sum) + x);
            }
        });
        let means: Vec<_> = sums
            .iter()
            .map(|&sum| k.let_var("mean", ty, Expr::var(sum) / count_c.clone()))
            .collect();
        let squares: Vec<_> = (0..count)
            .map(|_| k.let_var("sq", ty, self.c(0.0, lanes)))
            .collect();
        k.for_range("j", 0, lines.size as i64, 1, |k, j| {
            for v in 0..count {
                let x = load_value(k, xb, xe, at(&j, v), lanes);
                let d = x - Expr::var(means[v]);
                k.assign(squares[v], Expr::var(squares[v]) + d.clone() * d);
            }
        });
        let eps = self.c(f64::from(lines.epsilon), lanes);
        let inv_stds: Vec<_> = squares
            .iter()
            .map(|&sq| {
                let var = Expr::var(sq) / count_c.clone();
                let inv = self.c(1.0, lanes) / (var + eps.clone()).unary(UnaryOp::Sqrt);
                k.let_var("inv_std", ty, inv)
            })
            .collect();
        // The statistics have one value per line, lines of a block contiguous.
        let line_of =
            |v: usize| outer.clone() * inner + first.clone() + (v * lanes as usize) as i64;
        for (stat, values) in lines.params.stats.iter().zip([&means, &inv_stds]) {
            for (v, &value) in values.iter().enumerate() {
                let value = if self.r == ElemType::F32 {
                    Expr::var(value)
                } else {
                    Expr::var(value).convert(ElemType::F32)
                };
                store_value(k, stat.buf, stat.elem(), line_of(v), value);
            }
        }
        k.for_range("j", 0, lines.size as i64, 1, |k, j| {
            let index = |p: &Operand| match p.len() {
                1 => Expr::index(0),
                len if len == lines.size => j.clone(),
                len => j.clone().binary(BinaryOp::Rem, Expr::index(len as i64)),
            };
            let s = self
                .param(k, lines.params.scale, index(lines.params.scale))
                .splat(lanes);
            let b = lines
                .params
                .bias
                .map(|b| self.param(k, b, index(b)).splat(lanes));
            for v in 0..count {
                let x = load_value(k, xb, xe, at(&j, v), lanes);
                let mut out = (x - Expr::var(means[v])) * Expr::var(inv_stds[v]) * s.clone();
                if let Some(b) = &b {
                    out = out + b.clone();
                }
                store_value(k, yb, ye, at(&j, v), out);
            }
        });
    }

    fn lrn(&self, k: &mut KernelBuilder, size: usize, alpha: f32, beta: f32, bias: f32) {
        let shape = self.x.shape();
        let (n, channels) = (shape[0], shape[1]);
        let plane: usize = shape[2..].iter().product();
        let before = (size.saturating_sub(1) / 2) as i64;
        let (xb, xe, yb, ye) = (self.x.buf, self.x.elem(), self.y.buf, self.y.elem());
        let r = self.r;
        k.for_range("n", 0, n as i64, 1, |k, i| {
            k.for_range("c", 0, channels as i64, 1, |k, c| {
                let image = i.clone() * (channels * plane) as i64;
                let base = image.clone() + c.clone() * plane as i64;
                self.each(k, &Expr::index(0), plane, &|k, p, l| {
                    let sum = k.let_var("sq", self.ty(l), self.c(0.0, l));
                    k.for_range("w", 0, size as i64, 1, |k, w| {
                        let ch = c.clone() + w - before;
                        let inside = ch.clone().compare(CompareOp::Ge, Expr::index(0)).binary(
                            BinaryOp::And,
                            ch.clone()
                                .compare(CompareOp::Lt, Expr::index(channels as i64)),
                        );
                        let weight = inside.select(self.c(1.0, 1), self.c(0.0, 1));
                        let index =
                            image.clone() + ch.clamp_index(channels) * plane as i64 + p.clone();
                        let v = load_value(k, xb, xe, index, l);
                        let v = Expr::var(k.let_var("v", self.ty(l), v));
                        k.assign(sum, Expr::var(sum) + weight.splat(l) * (v.clone() * v));
                    });
                    let scaled = self.c(f64::from(alpha) / size as f64, l);
                    let den = self.c(f64::from(bias), l) + scaled * Expr::var(sum);
                    let den =
                        FloatMath::new(k, Ty::vector(r, l)).pow(den, self.c(f64::from(beta), l));
                    let v = load_value(k, xb, xe, base.clone() + p.clone(), l);
                    store_value(k, yb, ye, base.clone() + p, v / den);
                });
            });
        });
    }
}

#[cfg(test)]
mod tests {
    use nnc_ir::ops::{BatchNorm, GroupNorm, InstanceNorm, LayerNorm, Lrn};
    use nnc_ir::{DType, Op, Tensor};

    use super::super::random_tensors::{FLOAT_DTYPES, random, rng, tolerance};
    use super::super::testing::check_op;

    #[test]
    fn batch_and_instance_norm() {
        let mut r = rng(31);
        for dtype in FLOAT_DTYPES {
            let (rtol, atol) = tolerance(dtype);
            for shape in [&[2, 3][..], &[2, 3, 7], &[1, 4, 3, 5], &[0, 3, 2]] {
                let c = [shape[1]];
                let x = random(&mut r, dtype, shape, -3.0, 3.0, false);
                let s = random(&mut r, dtype, &c, 0.5, 2.0, false);
                let b = random(&mut r, dtype, &c, -1.0, 1.0, false);
                let m = random(&mut r, dtype, &c, -1.0, 1.0, false);
                let v = random(&mut r, dtype, &c, 0.1, 2.0, false);
                let op = Op::BatchNorm(BatchNorm { epsilon: 1e-5 });
                check_op(
                    op,
                    &[Some(&x), Some(&s), Some(&b), Some(&m), Some(&v)],
                    &[1, 2, 3, 4],
                    1,
                    rtol * 4.0,
                    atol,
                );
                if shape.len() >= 3 {
                    let op = Op::InstanceNorm(InstanceNorm { epsilon: 1e-5 });
                    check_op(
                        op,
                        &[Some(&x), Some(&s), Some(&b)],
                        &[1, 2],
                        1,
                        rtol * 8.0,
                        atol * 4.0,
                    );
                }
            }
        }
    }

    /// A LayerNorm with and without its bias, against the reference.
    fn check_layer_norm(op: Op, [x, s, b]: [&Tensor; 3], outputs: usize, (rtol, atol): (f64, f64)) {
        let (rtol, atol) = (rtol * 8.0, atol * 4.0);
        check_op(
            op.clone(),
            &[Some(x), Some(s), Some(b)],
            &[1, 2],
            outputs,
            rtol,
            atol,
        );
        check_op(op, &[Some(x), Some(s), None], &[], outputs, rtol, atol);
    }

    #[test]
    fn layer_norm_with_statistics() {
        let mut r = rng(32);
        for dtype in FLOAT_DTYPES {
            let (rtol, atol) = tolerance(dtype);
            // (shape, axis, inner axes): ONNX's form, then lines side by side with
            // whole groups of vectors, lone vectors and scalar tails.
            for (shape, axis, inner_axes) in [
                (&[4, 10][..], 1, 0),
                (&[2, 3, 5], 1, 0),
                (&[2, 3, 5], 2, 0),
                (&[3, 17], 0, 0),
                (&[2, 5, 3, 7], 1, 2),
                (&[1, 40, 8, 8], 1, 2),
                (&[2, 3, 37], 1, 1),
                (&[3, 4, 2, 5], 1, 1),
            ] {
                let x = random(&mut r, dtype, shape, -3.0, 3.0, false);
                let normalized = &shape[axis..shape.len() - inner_axes];
                let last = &normalized[normalized.len() - 1..];
                for scale_shape in [normalized, last, &[1]] {
                    let s = random(&mut r, dtype, scale_shape, 0.5, 2.0, false);
                    let b = random(&mut r, dtype, scale_shape, -1.0, 1.0, false);
                    for outputs in 1..=3 {
                        let op = Op::LayerNorm(LayerNorm {
                            axis,
                            epsilon: 1e-5,
                            inner_axes,
                        });
                        check_layer_norm(op, [&x, &s, &b], outputs, (rtol, atol));
                    }
                }
            }
        }
    }

    #[test]
    fn group_norm_and_lrn() {
        let mut r = rng(33);
        for dtype in FLOAT_DTYPES {
            let (rtol, atol) = tolerance(dtype);
            let x = random(&mut r, dtype, &[2, 6, 3, 3], -3.0, 3.0, false);
            for (groups, param) in [(3, 6), (3, 3), (1, 6), (6, 6)] {
                let s = random(&mut r, dtype, &[param], 0.5, 2.0, false);
                let b = random(&mut r, dtype, &[param], -1.0, 1.0, false);
                let op = Op::GroupNorm(GroupNorm {
                    num_groups: groups,
                    epsilon: 1e-5,
                });
                check_op(
                    op,
                    &[Some(&x), Some(&s), Some(&b)],
                    &[],
                    1,
                    rtol * 8.0,
                    atol * 4.0,
                );
            }
            for size in [1, 2, 3, 5] {
                let op = Op::Lrn(Lrn {
                    size,
                    alpha: 1e-3,
                    beta: 0.75,
                    bias: 1.0,
                });
                check_op(op, &[Some(&x)], &[], 1, rtol * 8.0, atol);
            }
        }
        let _ = DType::F32;
    }
}
