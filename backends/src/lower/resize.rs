//! Lowering of Resize: nearest (every nearest mode), linear and cubic, with
//! every coordinate transformation, `exclude_outside` and tf_crop_and_resize's
//! extrapolation, and antialiased downscaling (a filter stretched by
//! `1 / scale`, with as many taps as that needs).
//!
//! Choice: source coordinates and weights are computed in the kernel, in f64
//! with the same operations in the same order as the reference evaluator, so
//! they are bit-identical to its tables at any output size (tables unrolled as
//! constants would grow the code with the output). Each resized axis computes
//! its taps once per output coordinate, in its own loop, before the inner
//! loops; the innermost value is the separable sum the reference computes (the
//! last axis outermost), in f64, rounded once to the output type.

use nnc_ir::Op;
use nnc_ir::kernel::{
    BinaryOp, CompareOp, ElemType, Expr, Kernel, KernelBuilder, Ty, UnaryOp, VarId,
};
use nnc_ir::ops::{CoordTransform, NearestMode, Resize, ResizeMode};

use super::copy_nest::strides;
use super::element_io::{load_value, store_value};
use super::signature::{Operand, Signature, kernel_name};
use super::{LowerCtx, LowerError};

const F64: Ty = Ty::scalar(ElemType::F64);

pub(super) fn lower(ctx: &LowerCtx) -> Result<Kernel, LowerError> {
    let Op::Resize(op) = &ctx.node.op else {
        return Err(ctx.unsupported("not a Resize"));
    };
    let mut k = KernelBuilder::new(kernel_name(ctx));
    let sig = Signature::declare(ctx, &mut k);
    let (x, y) = (sig.input(ctx, 0)?, sig.output(ctx, 0)?);
    if x.elem() == ElemType::Bool || op.output_shape.len() != x.shape().len() {
        return Err(ctx.unsupported("bad operand"));
    }
    let rank = x.shape().len();
    let mut axes = Vec::new();
    for a in 0..rank {
        let (input, output) = (x.shape()[a], y.shape()[a]);
        if is_identity(op, a, input, output) {
            continue;
        }
        if input == 0 {
            return Err(ctx.unsupported("cannot resize an empty dim"));
        }
        axes.push(a);
    }
    if y.len() == 0 {
        return Ok(k.finish());
    }
    let plan = Plan { op, x, y, axes };
    plan.emit(&mut k);
    Ok(k.finish())
}

/// `Resize::scale`: the attribute, read at f64 precision when it is the f32
/// rounding of `out / in`.
fn scale(op: &Resize, axis: usize, input: usize, output: usize) -> f64 {
    let ratio = output as f64 / input as f64;
    match op.scales.get(axis) {
        Some(&s) if s != ratio as f32 => s as f64,
        _ => ratio,
    }
}

fn is_identity(op: &Resize, axis: usize, input: usize, output: usize) -> bool {
    let roi_trivial = op.coord != CoordTransform::TfCropAndResize
        || op.roi.is_empty()
        || (op.roi[axis] == 0.0 && op.roi[axis + op.output_shape.len()] == 1.0);
    input == output && scale(op, axis, input, output) == 1.0 && roi_trivial
}

/// The taps of one resized axis at the current output coordinate.
struct Taps {
    /// Clamped input coordinates, one per tap.
    index: Vec<VarId>,
    /// f64 weights, one per tap (`None`: a single tap of weight 1).
    weight: Option<Vec<VarId>>,
    /// Whether tf_crop_and_resize maps the coordinate outside the input.
    outside: Option<VarId>,
}

struct Plan<'a> {
    op: &'a Resize,
    x: &'a Operand,
    y: &'a Operand,
    /// The resized axes, in order.
    axes: Vec<usize>,
}

fn f(v: f64) -> Expr {
    Expr::f64(v)
}

fn bin(a: Expr, op: BinaryOp, b: Expr) -> Expr {
    a.binary(op, b)
}

impl Plan<'_> {
    fn emit(&self, k: &mut KernelBuilder) {
        let rank = self.y.shape().len();
        let mut coords = Vec::with_capacity(rank);
        let mut taps: Vec<Option<Taps>> = Vec::with_capacity(rank);
        self.loops(k, 0, &mut coords, &mut taps);
    }

    fn loops(
        &self,
        k: &mut KernelBuilder,
        d: usize,
        coords: &mut Vec<Expr>,
        taps: &mut Vec<Option<Taps>>,
    ) {
        let rank = self.y.shape().len();
        if d == rank {
            let value = self.value(k, self.axes.len(), coords, taps, &mut vec![None; rank]);
            let ys = strides(self.y.shape());
            let at = (0..rank).fold(Expr::index(0), |a, i| a + coords[i].clone() * ys[i]);
            let out = match self.y.elem() {
                ElemType::F64 => value,
                ElemType::F16 | ElemType::F32 => value.convert(ElemType::F32),
                int => value.convert(int),
            };
            store_value(k, self.y.buf, self.y.elem(), at, out);
            return;
        }
        k.for_range("o", 0, self.y.shape()[d] as i64, 1, |k, o| {
            let t = self.axes.contains(&d).then(|| self.taps(k, d, o.clone()));
            coords.push(o);
            taps.push(t);
            self.loops(k, d + 1, coords, taps);
            taps.pop();
            coords.pop();
        });
    }

    /// The value of the resize after the first `j` resized axes, at the output
    /// coordinates with `chosen` input coordinates along resized axes.
    fn value(
        &self,
        k: &mut KernelBuilder,
        j: usize,
        coords: &[Expr],
        taps: &[Option<Taps>],
        chosen: &mut Vec<Option<Expr>>,
    ) -> Expr {
        if j == 0 {
            let xs = strides(self.x.shape());
            let at = (0..coords.len()).fold(Expr::index(0), |a, i| {
                let c = chosen[i].clone().unwrap_or_else(|| coords[i].clone());
                a + c * xs[i]
            });
            let v = load_value(k, self.x.buf, self.x.elem(), at, 1);
            return if self.x.elem() == ElemType::F64 {
                v
            } else {
                v.convert(ElemType::F64)
            };
        }
        let axis = self.axes[j - 1];
        let Some(t) = &taps[axis] else {
            unreachable!("resized axes have taps")
        };
        let mut sum: Option<Expr> = None;
        for (n, &index) in t.index.iter().enumerate() {
            chosen[axis] = Some(Expr::var(index));
            let inner = self.value(k, j - 1, coords, taps, chosen);
            let term = match &t.weight {
                Some(w) => bin(Expr::var(w[n]), BinaryOp::Mul, inner),
                None => inner,
            };
            sum = Some(match sum {
                None => term,
                Some(s) => bin(s, BinaryOp::Add, term),
            });
        }
        chosen[axis] = None;
        let sum = sum.unwrap_or_else(|| f(0.0));
        match t.outside {
            Some(outside) => Expr::var(outside).select(f(self.op.extrapolation_value as f64), sum),
            None => sum,
        }
    }

    /// Computes the taps of `axis` at output coordinate `o` into locals.
    fn taps(&self, k: &mut KernelBuilder, axis: usize, o: Expr) -> Taps {
        let op = self.op;
        let (input, output) = (self.x.shape()[axis], self.y.shape()[axis]);
        let scale = scale(op, axis, input, output);
        let (in_len, out_len) = (input as f64, output as f64);
        let scaled = scale * in_len;
        let yv = o.convert(ElemType::F64);
        let half = || {
            bin(
                bin(
                    bin(yv.clone(), BinaryOp::Add, f(0.5)),
                    BinaryOp::Div,
                    f(scale),
                ),
                BinaryOp::Sub,
                f(0.5),
            )
        };
        let mut outside = None;
        let source = match op.coord {
            CoordTransform::HalfPixel => half(),
            CoordTransform::HalfPixelSymmetric => {
                let adjustment = out_len / scaled;
                let offset = in_len / 2.0 * (1.0 - adjustment);
                let shifted = bin(
                    bin(yv.clone(), BinaryOp::Add, f(0.5)),
                    BinaryOp::Div,
                    f(scale),
                );
                bin(
                    bin(f(offset), BinaryOp::Add, shifted),
                    BinaryOp::Sub,
                    f(0.5),
                )
            }
            CoordTransform::PytorchHalfPixel => {
                if scaled != 1.0 {
                    half()
                } else {
                    f(-0.5)
                }
            }
            CoordTransform::AlignCorners => {
                if scaled != 1.0 {
                    bin(
                        bin(yv.clone(), BinaryOp::Mul, f(in_len - 1.0)),
                        BinaryOp::Div,
                        f(scaled - 1.0),
                    )
                } else {
                    f(0.0)
                }
            }
            CoordTransform::Asymmetric => bin(yv.clone(), BinaryOp::Div, f(scale)),
            CoordTransform::TfCropAndResize => {
                let rank = op.output_shape.len();
                let start = op.roi.get(axis).copied().unwrap_or(0.0) as f64;
                let end = op.roi.get(rank + axis).copied().unwrap_or(1.0) as f64;
                let base = start * (in_len - 1.0);
                let xv = if scaled != 1.0 {
                    let a = bin(yv.clone(), BinaryOp::Mul, f(end - start));
                    let a = bin(a, BinaryOp::Mul, f(in_len - 1.0));
                    bin(
                        bin(a, BinaryOp::Div, f(scaled - 1.0)),
                        BinaryOp::Add,
                        f(base),
                    )
                } else {
                    f((end - start) * (in_len - 1.0) / 2.0 + base)
                };
                let xv = Expr::var(k.let_var("x", F64, xv));
                let out = xv.clone().compare(CompareOp::Lt, f(0.0)).binary(
                    BinaryOp::Or,
                    xv.clone().compare(CompareOp::Gt, f(in_len - 1.0)),
                );
                outside = Some(k.let_var("outside", Ty::BOOL, out));
                xv
            }
        };
        let xv = Expr::var(k.let_var("x", F64, source));
        let floor = Expr::var(k.let_var("floor", F64, xv.clone().unary(UnaryOp::Floor)));
        let is_int = Expr::var(k.let_var(
            "isint",
            Ty::BOOL,
            xv.clone().compare(CompareOp::Eq, floor.clone()),
        ));
        let ratio = is_int
            .clone()
            .select(f(1.0), bin(xv.clone(), BinaryOp::Sub, floor.clone()));
        let ratio = Expr::var(k.let_var("ratio", F64, ratio));
        let weights: Vec<Expr> = match op.mode {
            ResizeMode::Nearest => {
                let ceil = match op.nearest_mode {
                    NearestMode::RoundPreferFloor => ratio.clone().compare(CompareOp::Gt, f(0.5)),
                    NearestMode::RoundPreferCeil => ratio.clone().compare(CompareOp::Ge, f(0.5)),
                    NearestMode::Floor => Expr::int(0, ElemType::Bool),
                    NearestMode::Ceil => Expr::int(1, ElemType::Bool),
                };
                let upper = Expr::var(k.let_var(
                    "upper",
                    Ty::BOOL,
                    is_int.clone().binary(BinaryOp::Or, ceil),
                ));
                vec![
                    upper.clone().select(f(0.0), f(1.0)),
                    upper.select(f(1.0), f(0.0)),
                ]
            }
            ResizeMode::Linear if op.antialias && scale < 1.0 => {
                // A triangle filter stretched by 1 / scale, normalised.
                let start = (-1.0 / scale).floor() as i64 + 1;
                let weights = (start..2 - start)
                    .map(|i| {
                        let d = bin(
                            bin(f(i as f64), BinaryOp::Sub, ratio.clone()),
                            BinaryOp::Mul,
                            f(scale),
                        );
                        bin(f(1.0), BinaryOp::Sub, d.unary(UnaryOp::Abs))
                            .max(f(0.0))
                            .min(f(1.0))
                    })
                    .collect();
                normalized(k, weights)
            }
            ResizeMode::Linear => vec![bin(f(1.0), BinaryOp::Sub, ratio.clone()), ratio.clone()],
            ResizeMode::Cubic if op.antialias && scale < 1.0 => {
                let a = op.cubic_coeff_a as f64;
                let start = (-2.0 / scale).floor() as i64 + 1;
                let weights = (start..2 - start)
                    .map(|i| {
                        let d = bin(
                            f(scale),
                            BinaryOp::Mul,
                            bin(f(i as f64), BinaryOp::Sub, ratio.clone()),
                        );
                        cubic_kernel(k, d, a)
                    })
                    .collect();
                normalized(k, weights)
            }
            ResizeMode::Cubic => {
                let a = op.cubic_coeff_a as f64;
                [
                    bin(ratio.clone(), BinaryOp::Add, f(1.0)),
                    ratio.clone(),
                    bin(f(1.0), BinaryOp::Sub, ratio.clone()),
                    bin(f(2.0), BinaryOp::Sub, ratio.clone()),
                ]
                .into_iter()
                .map(|d| cubic_kernel(k, d, a))
                .collect()
            }
        };
        let n = weights.len() as i64;
        let floor_i = floor.convert(ElemType::I64);
        let first = is_int.select(Expr::index(-(n / 2)), Expr::index(-(n / 2) + 1));
        let first = Expr::var(k.let_var("first", Ty::INDEX, floor_i + first));
        let mut w: Vec<VarId> = weights
            .into_iter()
            .map(|e| k.let_var("w", F64, e))
            .collect();
        if op.exclude_outside {
            for (t, &wt) in w.iter().enumerate() {
                let at = first.clone() + t as i64;
                let inside = at
                    .clone()
                    .ge(Expr::index(0))
                    .binary(BinaryOp::And, at.lt(Expr::index(input as i64)));
                k.assign(wt, inside.select(Expr::var(wt), f(0.0)));
            }
            let sum = w
                .iter()
                .fold(f(0.0), |s, &wt| bin(s, BinaryOp::Add, Expr::var(wt)));
            let sum = Expr::var(k.let_var("wsum", F64, sum));
            for &wt in &w {
                let divided = bin(Expr::var(wt), BinaryOp::Div, sum.clone());
                let value = sum
                    .clone()
                    .compare(CompareOp::Ne, f(0.0))
                    .select(divided, Expr::var(wt));
                k.assign(wt, value);
            }
        }
        let index =
            |k: &mut KernelBuilder, at: Expr| k.let_var("ix", Ty::INDEX, at.clamp_index(input));
        if op.mode == ResizeMode::Nearest && !op.exclude_outside {
            // One tap of weight 1: the reference adds 0 + 1 * x.
            let upper = Expr::var(w[1]).compare(CompareOp::Eq, f(1.0));
            let at = upper.select(first.clone() + 1, first);
            let ix = index(k, at);
            w.clear();
            return Taps {
                index: vec![ix],
                weight: None,
                outside,
            };
        }
        let index = (0..n).map(|t| index(k, first.clone() + t)).collect();
        Taps {
            index,
            weight: Some(w),
            outside,
        }
    }
}

/// `weights` divided by their sum (in order) unless it is 0, in locals.
fn normalized(k: &mut KernelBuilder, weights: Vec<Expr>) -> Vec<Expr> {
    let w: Vec<VarId> = weights
        .into_iter()
        .map(|e| k.let_var("aw", F64, e))
        .collect();
    let sum = w
        .iter()
        .fold(f(0.0), |s, &wt| bin(s, BinaryOp::Add, Expr::var(wt)));
    let sum = Expr::var(k.let_var("awsum", F64, sum));
    w.iter()
        .map(|&wt| {
            let divided = bin(Expr::var(wt), BinaryOp::Div, sum.clone());
            sum.clone()
                .compare(CompareOp::Ne, f(0.0))
                .select(divided, Expr::var(wt))
        })
        .collect()
}

/// The cubic convolution kernel with coefficient `a` at distance `d`, as the
/// reference evaluates it.
fn cubic_kernel(k: &mut KernelBuilder, d: Expr, a: f64) -> Expr {
    let x = Expr::var(k.let_var("cx", F64, d.unary(UnaryOp::Abs)));
    let near = bin(
        bin(
            bin(
                bin(f(a + 2.0), BinaryOp::Mul, x.clone()),
                BinaryOp::Sub,
                f(a + 3.0),
            ),
            BinaryOp::Mul,
            x.clone(),
        ),
        BinaryOp::Mul,
        x.clone(),
    );
    let near = bin(near, BinaryOp::Add, f(1.0));
    let far = bin(
        bin(f(a), BinaryOp::Mul, x.clone()),
        BinaryOp::Sub,
        f(5.0 * a),
    );
    let far = bin(
        bin(far, BinaryOp::Mul, x.clone()),
        BinaryOp::Add,
        f(8.0 * a),
    );
    let far = bin(
        bin(far, BinaryOp::Mul, x.clone()),
        BinaryOp::Sub,
        f(4.0 * a),
    );
    x.clone()
        .compare(CompareOp::Le, f(1.0))
        .select(near, x.compare(CompareOp::Lt, f(2.0)).select(far, f(0.0)))
}

#[cfg(test)]
mod tests {
    use nnc_ir::ops::{
        CoordTransform, KeepAspectRatio, NearestMode, Resize, ResizeMode, resolve_resize_shape,
    };
    use nnc_ir::{DType, Op};
    use rand::Rng;

    use super::super::random_tensors::{random_small as random, rng};
    use super::super::testing::check_op;

    const COORDS: [CoordTransform; 6] = [
        CoordTransform::HalfPixel,
        CoordTransform::HalfPixelSymmetric,
        CoordTransform::PytorchHalfPixel,
        CoordTransform::AlignCorners,
        CoordTransform::Asymmetric,
        CoordTransform::TfCropAndResize,
    ];
    const NEAREST: [NearestMode; 4] = [
        NearestMode::RoundPreferFloor,
        NearestMode::RoundPreferCeil,
        NearestMode::Floor,
        NearestMode::Ceil,
    ];

    #[test]
    fn every_mode_and_coordinate_transform() {
        let mut rng = rng(41);
        for round in 0..144 {
            let mode = [ResizeMode::Nearest, ResizeMode::Linear, ResizeMode::Cubic][round % 3];
            let coord = COORDS[round / 3 % 6];
            let dtype = [
                DType::F32,
                DType::F32,
                DType::U8,
                DType::F16,
                DType::F64,
                DType::I32,
            ][round % 6];
            let shape = vec![
                1,
                rng.random_range(1..3),
                rng.random_range(1..6),
                rng.random_range(1..6),
            ];
            let by_sizes = round % 2 == 0;
            let (scales, output) = if by_sizes {
                let sizes = [rng.random_range(1..9), rng.random_range(1..9)];
                resolve_resize_shape(
                    &shape,
                    None,
                    Some(&sizes),
                    Some(&[2, 3]),
                    KeepAspectRatio::Stretch,
                )
                .unwrap()
            } else {
                let pick = [0.5f32, 0.75, 1.0, 1.5, 2.0, 3.0, 0.6];
                let scales = [pick[rng.random_range(0..7)], pick[rng.random_range(0..7)]];
                resolve_resize_shape(
                    &shape,
                    Some(&scales),
                    None,
                    Some(&[2, 3]),
                    KeepAspectRatio::Stretch,
                )
                .unwrap()
            };
            if output.contains(&0) {
                continue;
            }
            let roi = if coord == CoordTransform::TfCropAndResize {
                vec![0.0, 0.0, 0.2, -0.1, 1.0, 1.0, 0.9, 1.2]
            } else {
                vec![]
            };
            let op = Resize {
                mode,
                coord,
                nearest_mode: NEAREST[round % 4],
                cubic_coeff_a: if round % 2 == 0 { -0.75 } else { -0.5 },
                exclude_outside: round % 5 == 1,
                extrapolation_value: 2.5,
                antialias: round % 4 == 3,
                scales,
                output_shape: output,
                roi,
            };
            let x = random(&mut rng, dtype, &shape);
            let tol = if dtype == DType::F16 { 1e-2 } else { 1e-5 };
            check_op(Op::Resize(op), &[Some(&x)], &[], 1, tol, tol);
        }
    }
}
