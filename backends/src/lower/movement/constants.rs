//! Shape, Size, ConstantOfShape and Range: outputs known at compile time
//! (canonicalization normally folds them away). The kernel writes the values:
//! runs of one value as fill loops, other elements one store each.

use nnc_ir::kernel::{Expr, KernelBuilder};
use nnc_ir::{Op, Tensor};

use super::super::copy_nest::{element_constant, fill};
use super::super::signature::Signature;
use super::super::{LowerCtx, LowerError};

/// Runs at least this long become fill loops rather than single stores.
const FILL_RUN: usize = 8;

pub(super) fn lower(
    ctx: &LowerCtx,
    k: &mut KernelBuilder,
    sig: &Signature,
) -> Result<(), LowerError> {
    let y = sig.output(ctx, 0)?;
    let value = known_output(ctx, sig)?;
    if value.dtype() != y.ty.dtype || value.len() != y.len() {
        return Err(ctx.unsupported("the computed value does not match the output type"));
    }
    let elem = y.elem();
    let size = value.dtype().size();
    let bytes = value.bytes();
    let element = |i: usize| &bytes[i * size..(i + 1) * size];
    let mut i = 0;
    while i < value.len() {
        let mut j = i + 1;
        while j < value.len() && element(j) == element(i) {
            j += 1;
        }
        let constant = element_constant(elem, element(i));
        if j - i >= FILL_RUN {
            fill(
                k,
                y.buf,
                elem,
                Expr::index(i as i64),
                j - i,
                constant,
                ctx.target.vector_bytes,
            );
        } else {
            for at in i..j {
                k.store(y.buf, Expr::index(at as i64), constant.clone());
            }
        }
        i = j;
    }
    Ok(())
}

/// The output's value, from operand types (Shape, Size, ConstantOfShape) or
/// operand values (Range).
fn known_output(ctx: &LowerCtx, sig: &Signature) -> Result<Tensor, LowerError> {
    let bad = |e: nnc_ir::OpError| ctx.unsupported(format!("cannot compute the value: {e}"));
    match &ctx.node.op {
        Op::Shape(shape) => {
            let dims = shape.dims_of(sig.input(ctx, 0)?.shape());
            Tensor::from_vec(vec![dims.len()], dims).map_err(bad)
        }
        Op::Size => Ok(Tensor::scalar(sig.input(ctx, 0)?.len() as i64)),
        Op::ConstantOfShape(c) => {
            let y = sig.output(ctx, 0)?;
            let bytes = c.value.bytes().repeat(y.len());
            Tensor::from_bytes(c.value.dtype(), y.shape().to_vec(), bytes.into()).map_err(bad)
        }
        op => {
            let mut values = Vec::new();
            for slot in &ctx.node.inputs {
                let value = slot
                    .and_then(|id| ctx.graph.known_value(id))
                    .ok_or_else(|| ctx.unsupported("operands must be known at compile time"))?;
                values.push(Some(value));
            }
            let mut out = op.eval(&values, 1).map_err(bad)?;
            if out.is_empty() {
                return Err(ctx.unsupported("no value"));
            }
            Ok(out.swap_remove(0))
        }
    }
}
