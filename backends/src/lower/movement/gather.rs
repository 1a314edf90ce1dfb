//! Gather and GatherElements: indices are runtime data, so each is checked
//! before any element moves (an index outside `[-len, len)` fails the kernel
//! with `INDEX_OUT_OF_RANGE`, where the reference evaluator reports an error),
//! then wrapped and clamped so that the bounds prover sees every load inside.

use nnc_ir::kernel::{BinaryOp, BufId, ElemType, Expr, KernelBuilder, Ty};

use super::super::copy_nest::{CopyNest, strides};
use super::super::element_io::access_ty;
use super::super::signature::{Operand, Signature};
use super::super::{LowerCtx, LowerError};

/// The status a kernel returns for an index outside its axis
/// (`nnc_runtime::status::INDEX_OUT_OF_RANGE`).
pub(in crate::lower) const INDEX_OUT_OF_RANGE: i32 = nnc_runtime::status::INDEX_OUT_OF_RANGE;

/// Fails the kernel unless every index of `indices` lies in `[-len, len)`.
fn check_indices(k: &mut KernelBuilder, indices: &Operand, len: usize) {
    let n = indices.len() as i64;
    let buf = indices.buf;
    let elem = indices.elem();
    k.for_range("j", 0, n, 1, |k, j| {
        let index = k.let_var("index", Ty::INDEX, read_index(buf, elem, j));
        let index = Expr::var(index);
        let below = index.clone().lt(Expr::index(-(len as i64)));
        let above = index.ge(Expr::index(len as i64));
        k.if_then(below.binary(BinaryOp::Or, above), |k| {
            k.fail(INDEX_OUT_OF_RANGE)
        });
    });
}

/// Index `at` of an i32 or i64 indices buffer, as an i64.
fn read_index(buf: BufId, elem: ElemType, at: Expr) -> Expr {
    let raw = Expr::load(buf, at, Ty::scalar(elem));
    if elem == ElemType::I64 {
        raw
    } else {
        raw.convert(ElemType::I64)
    }
}

/// A checked index wrapped from the end and clamped into `[0, len)`, in a local.
fn resolved_index(k: &mut KernelBuilder, buf: BufId, elem: ElemType, at: Expr, len: usize) -> Expr {
    let raw = k.let_var("raw", Ty::INDEX, read_index(buf, elem, at));
    let raw = Expr::var(raw);
    let wrapped = raw
        .clone()
        .lt(Expr::index(0))
        .select(raw.clone() + len as i64, raw);
    Expr::var(k.let_var("index", Ty::INDEX, wrapped.clamp_index(len)))
}

fn check_index_dtype(ctx: &LowerCtx, indices: &Operand) -> Result<(), LowerError> {
    if matches!(indices.elem(), ElemType::I32 | ElemType::I64) {
        Ok(())
    } else {
        Err(ctx.unsupported("indices must be i32 or i64"))
    }
}

/// Per outer block and index, one contiguous copy of the inner block.
pub(super) fn gather(
    ctx: &LowerCtx,
    k: &mut KernelBuilder,
    sig: &Signature,
    axis: usize,
) -> Result<(), LowerError> {
    let (data, indices, y) = (sig.input(ctx, 0)?, sig.input(ctx, 1)?, sig.output(ctx, 0)?);
    check_index_dtype(ctx, indices)?;
    let shape = data.shape();
    if axis >= shape.len() {
        return Err(ctx.unsupported("axis out of range"));
    }
    let outer: usize = shape[..axis].iter().product();
    let len = shape[axis];
    let inner: usize = shape[axis + 1..].iter().product();
    let n = indices.len();
    check_indices(k, indices, len);
    if len == 0 || outer * inner * n == 0 {
        return Ok(());
    }
    let (elem, vector_bytes) = (data.elem(), ctx.target.vector_bytes);
    let (src, dst, ibuf, ielem) = (data.buf, y.buf, indices.buf, indices.elem());
    k.for_range("o", 0, outer as i64, 1, |k, o| {
        k.for_range("j", 0, n as i64, 1, |k, j| {
            let index = resolved_index(k, ibuf, ielem, j.clone(), len);
            let src_base = (o.clone() * len as i64 + index) * inner as i64;
            let dst_base = (o.clone() * n as i64 + j) * inner as i64;
            CopyNest::contiguous(src_base, dst_base, inner).emit(k, src, dst, elem, vector_bytes);
        });
    });
    Ok(())
}

/// Per output element, the data element at the same coordinates except along
/// `axis`, where the index says.
pub(super) fn gather_elements(
    ctx: &LowerCtx,
    k: &mut KernelBuilder,
    sig: &Signature,
    axis: usize,
) -> Result<(), LowerError> {
    let (data, indices, y) = (sig.input(ctx, 0)?, sig.input(ctx, 1)?, sig.output(ctx, 0)?);
    check_index_dtype(ctx, indices)?;
    let shape = data.shape().to_vec();
    let out_shape = y.shape().to_vec();
    if axis >= shape.len() || out_shape.len() != shape.len() {
        return Err(ctx.unsupported("indices do not fit the data"));
    }
    let len = shape[axis];
    check_indices(k, indices, len);
    if len == 0 || y.len() == 0 {
        return Ok(());
    }
    let (ds, os) = (strides(&shape), strides(&out_shape));
    let access = access_ty(data.elem(), 1);
    let (src, dst, ibuf, ielem) = (data.buf, y.buf, indices.buf, indices.elem());
    // Data strides of every dim but the gathered one, whose coordinate is read.
    let masked: Vec<i64> = (0..shape.len())
        .map(|d| if d == axis { 0 } else { ds[d] })
        .collect();
    let walk = Walk {
        shape: &out_shape,
        data_strides: &masked,
        out_strides: &os,
    };
    walk.nest(
        k,
        0,
        Expr::index(0),
        Expr::index(0),
        &mut |k, flat, base| {
            let index = resolved_index(k, ibuf, ielem, flat.clone(), len);
            let at = base + index * ds[axis];
            k.store(dst, flat, Expr::load(src, at, access));
        },
    );
    Ok(())
}

/// Loops over an output shape, tracking the flat output offset and the data
/// offset of every dim but the gathered one.
struct Walk<'a> {
    shape: &'a [usize],
    data_strides: &'a [i64],
    out_strides: &'a [i64],
}

impl Walk<'_> {
    fn nest(
        &self,
        k: &mut KernelBuilder,
        d: usize,
        flat: Expr,
        base: Expr,
        body: &mut dyn FnMut(&mut KernelBuilder, Expr, Expr),
    ) {
        if d == self.shape.len() {
            body(k, flat, base);
            return;
        }
        k.for_range("i", 0, self.shape[d] as i64, 1, |k, i| {
            self.nest(
                k,
                d + 1,
                flat + i.clone() * self.out_strides[d],
                base + i * self.data_strides[d],
                body,
            );
        });
    }
}
