//! Lowering of pooling: MaxPool (with its Indices output), AveragePool, LpPool
//! over windows, and the global pools.
//!
//! 2-D f32 MaxPool (without Indices) and AveragePool run in register tiles
//! along output rows (`rows`). Other windowed pools compute each output pixel
//! in locals, walking the window's taps in the reference's order (row-major,
//! positions outside the image skipped by `0 <= pos < len` guards), so sums
//! round exactly as the reference.
//! The divisor that counts padding is the product over dims of the window
//! positions inside input plus pads (the last `ceil_mode` window may reach past
//! the end padding; those positions never count). Global pools: `global`.

use nnc_ir::Op;
use nnc_ir::kernel::{
    BinaryOp, CompareOp, ElemType, Expr, Kernel, KernelBuilder, Ty, UnaryOp, VarId,
};
use nnc_ir::ops::{GlobalPool, Pool, PoolKind};

mod global;
mod rows;

use super::conv::nest;
use super::copy_nest::strides;
use super::depthwise::Tile;
use super::element_io::{compute_elem, constant, load_value, store_value};
use super::math::FloatMath;
use super::signature::{Signature, kernel_name};
use super::{LowerCtx, LowerError};

pub(super) fn lower(ctx: &LowerCtx) -> Result<Kernel, LowerError> {
    let mut k = KernelBuilder::new(kernel_name(ctx));
    let sig = Signature::declare(ctx, &mut k);
    let x = sig.input(ctx, 0)?;
    let elem = x.elem();
    let ok = match &ctx.node.op {
        Op::Pool(Pool {
            kind: PoolKind::Max { .. },
            ..
        })
        | Op::GlobalPool(GlobalPool::Max) => {
            elem.is_float() || matches!(elem, ElemType::I8 | ElemType::U8)
        }
        _ => elem.is_float(),
    };
    if !ok || x.shape().len() < 2 {
        return Err(ctx.unsupported(format!("no pooling of {} {:?}", elem.name(), x.shape())));
    }
    match &ctx.node.op {
        Op::Pool(pool) => windowed(ctx, &mut k, &sig, pool)?,
        Op::GlobalPool(pool) => global::global(ctx, &mut k, x, sig.output(ctx, 0)?, *pool),
        other => return Err(ctx.unsupported(format!("{} is not a pool", other.name()))),
    }
    Ok(k.finish())
}

/// One spatial dim of a pool window.
struct Dim {
    input: i64,
    kernel: i64,
    stride: i64,
    dilation: i64,
    pad_begin: i64,
    pad_end: i64,
}

/// What a window walk accumulates, per output pixel.
enum State {
    Max { best: VarId, index: VarId },
    Average { sum: VarId, taps: VarId },
    Lp { sum: VarId },
}

fn windowed(
    ctx: &LowerCtx,
    k: &mut KernelBuilder,
    sig: &Signature,
    pool: &Pool,
) -> Result<(), LowerError> {
    let (x, y) = (sig.input(ctx, 0)?, sig.output(ctx, 0)?);
    if let Some(tiled) = rows::RowPool::new(x, y, sig.outputs.len(), pool) {
        // The 2 x 2 of convolutions where x86_64 unrolls the taps: their loads
        // are all live at once, as there.
        tiled.emit(k, Tile::for_conv(ctx.target), ctx.target.f32_lanes());
        return Ok(());
    }
    let indices = sig.outputs.get(1);
    let xshape = x.shape();
    let r = xshape.len() - 2;
    if pool.kernel_shape.len() != r || !(pool.pads.is_empty() || pool.pads.len() == 2 * r) {
        return Err(ctx.unsupported("attributes do not match the spatial dims"));
    }
    let dims: Vec<Dim> = (0..r)
        .map(|d| Dim {
            input: xshape[2 + d] as i64,
            kernel: pool.kernel_shape[d] as i64,
            stride: pool.strides.get(d).copied().unwrap_or(1) as i64,
            dilation: pool.dilations.get(d).copied().unwrap_or(1) as i64,
            pad_begin: pool.pads.get(d).copied().unwrap_or(0) as i64,
            pad_end: pool.pads.get(r + d).copied().unwrap_or(0) as i64,
        })
        .collect();
    let elem = x.elem();
    let ce = compute_elem(elem);
    let plane: usize = xshape[2..].iter().product();
    let out_shape = &y.shape()[2..];
    let out_plane: usize = out_shape.iter().product();
    let planes = xshape[0] * xshape[1];
    let row_strides = strides(&xshape[2..]);
    // Column-major numbering of a spatial position, for storage_order 1.
    let mut col_strides = vec![1i64; r];
    for d in 1..r {
        col_strides[d] = col_strides[d - 1] * xshape[1 + d] as i64;
    }
    k.for_range("p", 0, planes as i64, 1, |k, p| {
        let x_plane = Expr::var(k.let_var("xp", Ty::INDEX, p.clone() * plane as i64));
        nest(k, out_shape, &mut Vec::new(), &mut |k, out| {
            let state = match pool.kind {
                PoolKind::Max { .. } => State::Max {
                    best: k.let_var("best", Ty::scalar(ce), constant(f64::NEG_INFINITY, elem)),
                    index: k.let_var("bi", Ty::INDEX, Expr::index(-1)),
                },
                PoolKind::Average { .. } => State::Average {
                    sum: k.let_var("sum", Ty::scalar(ce), constant(0.0, elem)),
                    taps: k.let_var("taps", Ty::INDEX, Expr::index(0)),
                },
                PoolKind::Lp { .. } => State::Lp {
                    sum: k.let_var("sum", Ty::scalar(ce), constant(0.0, elem)),
                },
            };
            let numbering = match pool.kind {
                PoolKind::Max { storage_order: 1 } => &col_strides,
                _ => &row_strides,
            };
            walk(
                k,
                &dims,
                out,
                0,
                x_plane.clone(),
                Expr::index(0),
                &row_strides,
                numbering,
                &mut |k, at, number| {
                    let v = load_value(k, x.buf, elem, at, 1);
                    let v = Expr::var(k.let_var("v", Ty::scalar(ce), v));
                    match state {
                        State::Max { best, index } => {
                            let first = Expr::var(index).lt(Expr::index(0));
                            let better = v.clone().compare(CompareOp::Gt, Expr::var(best));
                            k.if_then(first.binary(BinaryOp::Or, better), |k| {
                                k.assign(best, v.clone());
                                k.assign(index, p.clone() * plane as i64 + number);
                            });
                        }
                        State::Average { sum, taps } => {
                            k.assign(sum, Expr::var(sum).binary(BinaryOp::Add, v));
                            k.assign(taps, Expr::var(taps) + 1);
                        }
                        State::Lp { sum } => {
                            let power = lp_power(k, ce, v.unary(UnaryOp::Abs), pool_p(pool));
                            k.assign(sum, Expr::var(sum).binary(BinaryOp::Add, power));
                        }
                    }
                },
            );
            let y_at = (0..r).fold(p.clone() * out_plane as i64, |a, d| {
                a + out[d].clone() * strides(out_shape)[d]
            });
            let value = match state {
                State::Max { best, index } => {
                    if let Some(ind) = indices {
                        k.store(ind.buf, y_at.clone(), Expr::var(index));
                    }
                    Expr::var(best)
                }
                State::Average { sum, taps } => {
                    let count = match pool.kind {
                        PoolKind::Average {
                            count_include_pad: true,
                        } => padded_count(k, &dims, out),
                        _ => Expr::var(taps),
                    };
                    Expr::var(sum).binary(BinaryOp::Div, count.convert(ce))
                }
                State::Lp { sum } => lp_root(k, ce, Expr::var(sum), pool_p(pool)),
            };
            store_value(k, y.buf, elem, y_at, value);
        });
    });
    Ok(())
}

fn pool_p(pool: &Pool) -> f64 {
    match pool.kind {
        PoolKind::Lp { p } => p as f64,
        _ => 1.0,
    }
}

/// `|v|^p` (with `|v|` given): exact products for p = 1 and 2, else `pow`.
fn lp_power(k: &mut KernelBuilder, ce: ElemType, abs: Expr, p: f64) -> Expr {
    if p == 1.0 {
        abs
    } else if p == 2.0 {
        let a = Expr::var(k.let_var("abs", Ty::scalar(ce), abs));
        a.clone().binary(BinaryOp::Mul, a)
    } else {
        FloatMath::new(k, Ty::scalar(ce)).pow(abs, Expr::float(p, ce))
    }
}

/// `sum^(1/p)`: the sum itself for p = 1, a square root for p = 2, else `pow`.
fn lp_root(k: &mut KernelBuilder, ce: ElemType, sum: Expr, p: f64) -> Expr {
    if p == 1.0 {
        sum
    } else if p == 2.0 {
        sum.unary(UnaryOp::Sqrt)
    } else {
        let inv = match ce {
            ElemType::F64 => 1.0 / p,
            _ => (1.0f32 / p as f32) as f64,
        };
        FloatMath::new(k, Ty::scalar(ce)).pow(sum, Expr::float(inv, ce))
    }
}

/// The window positions inside input plus pads, as a product over dims of the
/// count along each (`pos < input + pad_end`; positions before the image are
/// always inside the leading padding).
fn padded_count(k: &mut KernelBuilder, dims: &[Dim], out: &[Expr]) -> Expr {
    let mut total = Expr::index(1);
    for (d, dim) in dims.iter().enumerate() {
        let count = k.let_var("count", Ty::INDEX, Expr::index(0));
        k.for_range("kc", 0, dim.kernel, 1, |k, kd| {
            let pos = out[d].clone() * dim.stride + kd * dim.dilation - dim.pad_begin;
            k.if_then(pos.lt(Expr::index(dim.input + dim.pad_end)), |k| {
                k.assign(count, Expr::var(count) + 1);
            });
        });
        total = total * Expr::var(count);
    }
    total
}

/// Walks the window taps of dims from `d` inside the image, row-major;
/// `body(k, x_index, spatial_number)`.
#[allow(clippy::too_many_arguments)]
fn walk(
    k: &mut KernelBuilder,
    dims: &[Dim],
    out: &[Expr],
    d: usize,
    at: Expr,
    number: Expr,
    row_strides: &[i64],
    numbering: &[i64],
    body: &mut dyn FnMut(&mut KernelBuilder, Expr, Expr),
) {
    if d == dims.len() {
        body(k, at, number);
        return;
    }
    let dim = &dims[d];
    k.for_range("kp", 0, dim.kernel, 1, |k, kd| {
        let pos = out[d].clone() * dim.stride + kd * dim.dilation - dim.pad_begin;
        let pos = Expr::var(k.let_var("pos", Ty::INDEX, pos));
        let inside = pos
            .clone()
            .ge(Expr::index(0))
            .binary(BinaryOp::And, pos.clone().lt(Expr::index(dim.input)));
        k.if_then(inside, |k| {
            walk(
                k,
                dims,
                out,
                d + 1,
                at.clone() + pos.clone() * row_strides[d],
                number.clone() + pos * numbering[d],
                row_strides,
                numbering,
                body,
            );
        });
    });
}

#[cfg(test)]
mod tests {
    use nnc_ir::ops::{GlobalPool, Pool, PoolKind};
    use nnc_ir::{DType, Op, Tensor};
    use rand::Rng;

    use super::super::random_tensors::{random_small as random, rng};
    use super::super::testing::check_op;

    fn tolerance(dtype: DType) -> f64 {
        match dtype {
            DType::F16 => 1e-2,
            DType::F32 => 1e-5,
            _ => 1e-10,
        }
    }

    fn check(op: Op, x: &Tensor, outputs: usize) {
        let tol = tolerance(x.dtype());
        check_op(op, &[Some(x)], &[], outputs, tol, tol);
    }

    #[test]
    fn windowed_pools_every_mode() {
        let mut rng = rng(31);
        let kinds = [
            PoolKind::Max { storage_order: 0 },
            PoolKind::Max { storage_order: 1 },
            PoolKind::Average {
                count_include_pad: false,
            },
            PoolKind::Average {
                count_include_pad: true,
            },
            PoolKind::Lp { p: 2.0 },
            PoolKind::Lp { p: 1.0 },
            PoolKind::Lp { p: 3.0 },
        ];
        for round in 0..84 {
            let kind = kinds[round % kinds.len()];
            let dtype = match (kind, round % 4) {
                (PoolKind::Max { .. }, 1) => DType::U8,
                (PoolKind::Max { .. }, 3) => DType::I8,
                (_, 0) => DType::F16,
                (_, 2) => DType::F64,
                _ => DType::F32,
            };
            let r = 1 + round % 3;
            let kernel: Vec<usize> = (0..r).map(|_| rng.random_range(1..=3)).collect();
            let strides: Vec<usize> = (0..r).map(|_| rng.random_range(1..=3)).collect();
            let dilations: Vec<usize> = (0..r).map(|_| rng.random_range(1..=2)).collect();
            // Pads smaller than the kernel, as ONNX asks.
            let pads: Vec<usize> = (0..2 * r)
                .map(|i| rng.random_range(0..kernel[i % r]))
                .collect();
            let mut shape = vec![rng.random_range(1..=2), rng.random_range(1..=3)];
            for d in 0..r {
                let extent = (kernel[d] - 1) * dilations[d] + 1;
                let min = extent.saturating_sub(pads[d] + pads[r + d]).max(1);
                shape.push(rng.random_range(min..=min.max(if r == 3 { 5 } else { 8 })));
            }
            let x = random(&mut rng, dtype, &shape);
            let pool = Pool {
                kind,
                kernel_shape: kernel,
                strides,
                pads,
                dilations,
                ceil_mode: round % 5 < 2,
            };
            let outputs = if matches!(kind, PoolKind::Max { .. }) {
                2
            } else {
                1
            };
            check(Op::Pool(pool.clone()), &x, outputs);
            if outputs == 2 {
                check(Op::Pool(pool), &x, 1);
            }
        }
    }

    /// ceil_mode windows that start in the end padding are dropped, and those
    /// that reach past it count only positions inside input plus pads.
    #[test]
    fn ceil_mode_edges() {
        let mut rng = rng(32);
        for (input, kernel, stride, pads) in [
            (5, 2, 2, [0, 0]),
            (6, 3, 2, [1, 1]),
            (7, 3, 3, [0, 1]),
            (4, 2, 3, [1, 0]),
        ] {
            let x = random(&mut rng, DType::F32, &[1, 2, input]);
            for kind in [
                PoolKind::Average {
                    count_include_pad: true,
                },
                PoolKind::Average {
                    count_include_pad: false,
                },
                PoolKind::Max { storage_order: 0 },
            ] {
                let pool = Pool {
                    kind,
                    kernel_shape: vec![kernel],
                    strides: vec![stride],
                    pads: pads.to_vec(),
                    dilations: vec![],
                    ceil_mode: true,
                };
                check(Op::Pool(pool), &x, 1);
            }
        }
    }

    /// The tiled 2-D f32 max and average pools: kernels 1..=7, strides 1 and
    /// 2, pads, ceil_mode, odd widths, so every tile, tail and border runs.
    #[test]
    fn tiled_pools_random_geometry() {
        let mut rng = rng(34);
        for round in 0..84 {
            let kind = [
                PoolKind::Max { storage_order: 0 },
                PoolKind::Average {
                    count_include_pad: false,
                },
                PoolKind::Average {
                    count_include_pad: true,
                },
            ][round % 3];
            let kh = 1 + round % 7;
            let kernel = [
                kh,
                if round % 2 == 0 {
                    kh
                } else {
                    rng.random_range(1..=7)
                },
            ];
            let strides: Vec<usize> = (0..2).map(|_| rng.random_range(1..=2)).collect();
            let dilations: Vec<usize> =
                (0..2).map(|_| if round % 9 == 8 { 2 } else { 1 }).collect();
            let pads: Vec<usize> = (0..4).map(|d| rng.random_range(0..kernel[d % 2])).collect();
            let mut shape = vec![rng.random_range(1..=2), rng.random_range(1..=3)];
            for d in 0..2 {
                let extent = (kernel[d] - 1) * dilations[d] + 1;
                let min = extent.saturating_sub(pads[d] + pads[2 + d]).max(1);
                shape.push(rng.random_range(min..=min + 19));
            }
            let x = random(&mut rng, DType::F32, &shape);
            let pool = Pool {
                kind,
                kernel_shape: kernel.to_vec(),
                strides,
                pads,
                dilations,
                ceil_mode: round % 4 == 1,
            };
            check(Op::Pool(pool), &x, 1);
        }
    }

    /// Tiled max pools on inputs with NaNs: vector lanes and the scalar
    /// border columns (splatted vectors) keep the reference's `v > best ? v :
    /// best` rule, at 128 bits and at the wide levels' settings.
    #[test]
    fn tiled_max_pools_with_nans() {
        use super::super::testing::{check_lowering_for, single_node_graph, test_target};
        use nnc_ir::Target;
        let mut rng = rng(35);
        let wide = Target {
            cpu_features: vec!["avx512f".into(), "fma".into()],
            ..test_target()
        };
        for round in 0..12 {
            let kernel = [2 + round % 2, 3];
            let stride = 1 + round % 3 / 2;
            let pads = vec![round % 2, 1, 0, round % 3 / 2];
            let shape = [1, 2, rng.random_range(4..=12), rng.random_range(4..=21)];
            let values: Vec<f64> = (0..shape.iter().product::<usize>())
                .map(|_| match rng.random_range(0..8) {
                    0 => f64::NAN,
                    _ => rng.random_range(-4.0..4.0),
                })
                .collect();
            let x = Tensor::from_f64_values(DType::F32, shape.to_vec(), &values).unwrap();
            let pool = Pool {
                kind: PoolKind::Max { storage_order: 0 },
                kernel_shape: kernel.to_vec(),
                strides: vec![stride; 2],
                pads,
                dilations: vec![1, 1],
                ceil_mode: round % 4 == 3,
            };
            let graph = single_node_graph(Op::Pool(pool), &[Some(&x)], &[], 1);
            check_lowering_for(&graph, &[Some(&x)], 0.0, 0.0, &test_target());
            check_lowering_for(&graph, &[Some(&x)], 0.0, 0.0, &wide);
        }
    }

    #[test]
    fn global_pools() {
        let mut rng = rng(33);
        for dtype in [DType::F32, DType::F64, DType::F16] {
            for shape in [&[2, 3, 5, 7][..], &[1, 4, 9], &[1, 2, 2, 3, 2], &[3, 2]] {
                let x = random(&mut rng, dtype, shape);
                for pool in [
                    GlobalPool::Average,
                    GlobalPool::Max,
                    GlobalPool::Lp { p: 2.0 },
                    GlobalPool::Lp { p: 3.0 },
                ] {
                    check(Op::GlobalPool(pool), &x, 1);
                }
            }
        }
        for dtype in [DType::U8, DType::I8] {
            let x = random(&mut rng, dtype, &[2, 3, 4, 5]);
            check(Op::GlobalPool(GlobalPool::Max), &x, 1);
        }
    }
}
