//! Lowering of QuantizeLinear and DequantizeLinear (per tensor, per axis,
//! blocked), with the reference's arithmetic: the quotient x / scale in the
//! operands' precision (f32 when both are f32/f16, else f64), rounded half to
//! even, the zero point added and the sum saturated in f64; dequantization in f64
//! rounded once to the scale's type.

use nnc_ir::kernel::{ElemType, Expr, Kernel, KernelBuilder, Ty, UnaryOp};
use nnc_ir::{DType, Op};

use super::element_io::{compute_elem, load_value, store_value};
use super::elementwise::{convert, kernel_name};
use super::signature::{Operand, Signature};
use super::{LowerCtx, LowerError};

pub(super) fn lower(ctx: &LowerCtx) -> Result<Kernel, LowerError> {
    let mut k = KernelBuilder::new(kernel_name(ctx));
    let sig = Signature::declare(ctx, &mut k);
    let (x, scale) = (sig.input(ctx, 0)?, sig.input(ctx, 1)?);
    let zero_point = sig.optional(2);
    let y = sig.output(ctx, 0)?;
    let (axis, block) = match &ctx.node.op {
        Op::Quantize(q) => (q.axis, q.block_size),
        Op::Dequantize(d) => (d.axis, d.block_size),
        other => return Err(ctx.unsupported(format!("{} is not a quantization", other.name()))),
    };
    if !scale.elem().is_float() {
        return Err(ctx.unsupported("the scale must be a float tensor"));
    }
    let layout = Layout::of(ctx, x.shape(), scale.shape(), axis, block)?;
    let quantize = matches!(ctx.node.op, Op::Quantize(_));
    let range = if quantize {
        Some(
            quantized_range(y.ty.dtype)
                .ok_or_else(|| ctx.unsupported(format!("cannot quantize to {}", y.ty.dtype)))?,
        )
    } else {
        if !(x.elem().is_int() && x.elem().size() <= 4) {
            return Err(ctx.unsupported(format!("DequantizeLinear of {}", x.ty.dtype)));
        }
        None
    };
    layout.emit(&mut k, &mut |k, index, param| {
        let s = load_value(k, scale.buf, scale.elem(), param.clone(), 1);
        let value = match range {
            Some((lo, hi)) => {
                let v = load_value(k, x.buf, x.elem(), index.clone(), 1);
                quantize_value(k, v, x, s, scale, zero_point, param, (lo, hi), y.elem())
            }
            None => dequantize_value(k, x, index.clone(), s, scale, zero_point, param, y),
        };
        store_value(k, y.buf, y.elem(), index, value);
    });
    Ok(k.finish())
}

/// The integer range of a quantized type.
fn quantized_range(dtype: DType) -> Option<(f64, f64)> {
    Some(match dtype {
        DType::U8 => (0.0, u8::MAX as f64),
        DType::I8 => (i8::MIN as f64, i8::MAX as f64),
        DType::U16 => (0.0, u16::MAX as f64),
        DType::I16 => (i16::MIN as f64, i16::MAX as f64),
        DType::U32 => (0.0, u32::MAX as f64),
        DType::I32 => (i32::MIN as f64, i32::MAX as f64),
        _ => return None,
    })
}

/// A float value in f64.
fn widen(v: Expr, elem: ElemType) -> Expr {
    if compute_elem(elem) == ElemType::F64 {
        v
    } else {
        v.convert(ElemType::F64)
    }
}

#[allow(clippy::too_many_arguments)]
fn quantize_value(
    k: &mut KernelBuilder,
    v: Expr,
    x: &Operand,
    s: Expr,
    scale: &Operand,
    zero_point: Option<&Operand>,
    param: Expr,
    (lo, hi): (f64, f64),
    to: ElemType,
) -> Expr {
    let single = matches!(x.elem(), ElemType::F32 | ElemType::F16) && scale.elem() != ElemType::F64;
    let quotient = if single {
        (v / s).convert(ElemType::F64)
    } else {
        widen(v, x.elem()) / widen(s, scale.elem())
    };
    let q = Expr::var(k.let_var(
        "q",
        Ty::scalar(ElemType::F64),
        quotient.unary(UnaryOp::Round),
    ));
    let q = match zero_point {
        Some(zp) => {
            let z = load_value(k, zp.buf, zp.elem(), param, 1);
            q + z.convert(ElemType::F64)
        }
        None => q,
    };
    // NaN survives the clamp and converts to 0, as `as` does.
    q.max(Expr::f64(lo)).min(Expr::f64(hi)).convert(to)
}

#[allow(clippy::too_many_arguments)]
fn dequantize_value(
    k: &mut KernelBuilder,
    x: &Operand,
    index: Expr,
    s: Expr,
    scale: &Operand,
    zero_point: Option<&Operand>,
    param: Expr,
    y: &Operand,
) -> Expr {
    let v = load_value(k, x.buf, x.elem(), index, 1).convert(ElemType::I64);
    let v = match zero_point {
        Some(zp) => v - load_value(k, zp.buf, zp.elem(), param, 1).convert(ElemType::I64),
        None => v,
    };
    let product = v.convert(ElemType::F64) * widen(s, scale.elem());
    let product = Expr::var(k.let_var("dq", Ty::scalar(ElemType::F64), product));
    convert(k, product, ElemType::F64, y.elem())
}

/// How the elements of x map to their scale: `outer × dim × inner` around the
/// axis, and the scale index of each element.
struct Layout {
    outer: usize,
    dim: usize,
    inner: usize,
    kind: Granularity,
}

#[derive(Clone, Copy)]
enum Granularity {
    PerTensor,
    PerAxis,
    /// Blocks of `block` along the axis, per position of the other dims.
    Blocked {
        block: usize,
    },
}

impl Layout {
    fn of(
        ctx: &LowerCtx,
        x: &[usize],
        scale: &[usize],
        axis: usize,
        block: usize,
    ) -> Result<Layout, LowerError> {
        let len: usize = x.iter().product();
        let scale_len: usize = scale.iter().product();
        if scale_len == 1 {
            return Ok(Layout {
                outer: 1,
                dim: 1,
                inner: len,
                kind: Granularity::PerTensor,
            });
        }
        if axis >= x.len() {
            return Err(ctx.unsupported("quantization axis out of range"));
        }
        let outer = x[..axis].iter().product();
        let inner = x[axis + 1..].iter().product();
        let kind = if block == 0 {
            if scale != [x[axis]] {
                return Err(ctx.unsupported("per-axis scale shape mismatch"));
            }
            Granularity::PerAxis
        } else {
            let mut expected = x.to_vec();
            expected[axis] = x[axis].div_ceil(block);
            if scale != expected {
                return Err(ctx.unsupported("blocked scale shape mismatch"));
            }
            Granularity::Blocked { block }
        };
        Ok(Layout {
            outer,
            dim: x[axis],
            inner,
            kind,
        })
    }

    /// Runs `body(k, element index, scale index)` over every element.
    fn emit(&self, k: &mut KernelBuilder, body: &mut dyn FnMut(&mut KernelBuilder, Expr, Expr)) {
        let (dim, inner) = (self.dim as i64, self.inner as i64);
        let kind = self.kind;
        k.for_range("o", 0, self.outer as i64, 1, |k, o| {
            match kind {
                Granularity::Blocked { block } => {
                    // Blocks in a loop (the last may be partial) so that the scale
                    // index is affine.
                    let blocks = self.dim.div_ceil(block);
                    let full = self.dim / block;
                    let each_block = |k: &mut KernelBuilder, b: Expr, len: usize, body: &mut dyn FnMut(&mut KernelBuilder, Expr, Expr)| {
                        k.for_range("j", 0, len as i64, 1, |k, j| {
                            k.for_range("i", 0, inner, 1, |k, i| {
                                let along = b.clone() * block as i64 + j;
                                let index = (o.clone() * dim + along) * inner + i.clone();
                                let param = (o.clone() * blocks as i64 + b.clone()) * inner + i;
                                body(k, index, param);
                            });
                        });
                    };
                    k.for_range("b", 0, full as i64, 1, |k, b| each_block(k, b, block, body));
                    if !self.dim.is_multiple_of(block) {
                        each_block(k, Expr::index(full as i64), self.dim % block, body);
                    }
                }
                _ => k.for_range("a", 0, dim, 1, |k, a| {
                    k.for_range("i", 0, inner, 1, |k, i| {
                        let index = (o.clone() * dim + a.clone()) * inner + i;
                        let param = match kind {
                            Granularity::PerAxis => a.clone(),
                            _ => Expr::index(0),
                        };
                        body(k, index, param);
                    });
                }),
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use nnc_ir::ops::{Dequantize, Quantize};
    use nnc_ir::{DType, Op, Tensor};

    use super::super::random_tensors::{random, rng};
    use super::super::testing::check_op;

    const QUANTIZED: [DType; 6] = [
        DType::U8,
        DType::I8,
        DType::U16,
        DType::I16,
        DType::U32,
        DType::I32,
    ];

    #[test]
    fn quantize_every_granularity() {
        let mut r = rng(41);
        let x_shape = [2, 5, 3];
        for to in QUANTIZED {
            for x_dtype in [DType::F32, DType::F16, DType::F64, DType::I32] {
                for scale_dtype in [DType::F32, DType::F64] {
                    // (axis, block, scale shape)
                    let layouts: [(usize, usize, Vec<usize>); 4] = [
                        (1, 0, vec![]),
                        (1, 0, vec![5]),
                        (1, 2, vec![2, 3, 3]),
                        (2, 2, vec![2, 5, 2]),
                    ];
                    for (axis, block, scale_shape) in layouts {
                        let x = random(&mut r, x_dtype, &x_shape, -300.0, 300.0, true);
                        let s = random(&mut r, scale_dtype, &scale_shape, 0.5, 4.0, false);
                        let zp = random(&mut r, to, &scale_shape, 0.0, 100.0, true);
                        let op = Op::Quantize(Quantize {
                            axis,
                            block_size: block,
                            to,
                        });
                        check_op(
                            op.clone(),
                            &[Some(&x), Some(&s), Some(&zp)],
                            &[1, 2],
                            1,
                            0.0,
                            0.0,
                        );
                        check_op(op, &[Some(&x), Some(&s), None], &[], 1, 0.0, 0.0);
                    }
                }
            }
        }
        // Ties round to even; NaN and infinities saturate as a cast does.
        let x = Tensor::from_vec(
            vec![6],
            vec![0.5f32, 1.5, 2.5, -0.5, f32::NAN, f32::INFINITY],
        )
        .unwrap();
        let s = Tensor::scalar(1.0f32);
        let op = Op::Quantize(Quantize {
            axis: 0,
            block_size: 0,
            to: DType::I8,
        });
        check_op(op, &[Some(&x), Some(&s)], &[], 1, 0.0, 0.0);
    }

    #[test]
    fn dequantize_every_granularity() {
        let mut r = rng(42);
        for from in [
            DType::U8,
            DType::I8,
            DType::U16,
            DType::I16,
            DType::I32,
            DType::U32,
        ] {
            for scale_dtype in [DType::F32, DType::F16, DType::F64] {
                for (axis, block, scale_shape) in
                    [(0, 0, vec![1]), (0, 0, vec![4]), (1, 3, vec![4, 2])]
                {
                    let x = random(&mut r, from, &[4, 5], 0.0, 0.0, false);
                    let s = random(&mut r, scale_dtype, &scale_shape, 0.01, 2.0, false);
                    let zp = random(&mut r, from, &scale_shape, 0.0, 0.0, false);
                    let op = Op::Dequantize(Dequantize {
                        axis,
                        block_size: block,
                    });
                    check_op(
                        op.clone(),
                        &[Some(&x), Some(&s), Some(&zp)],
                        &[],
                        1,
                        0.0,
                        0.0,
                    );
                    check_op(op, &[Some(&x), Some(&s), None], &[1], 1, 0.0, 0.0);
                }
            }
        }
    }
}
