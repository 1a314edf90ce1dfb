//! Reductions (ReduceSum, ReduceMean, ..) and ArgMax / ArgMin. The reduced axes
//! are an attribute until ReduceSum-13 / the other Reduce*-18, an operand after.

use nnc_ir::Op;
use nnc_ir::ops::{ArgReduce, ArgReduceKind, Reduce, ReduceKind};
use nnc_ir::shape::normalize_axis;

use super::{Converter, at};
use crate::import::{ConvResult, NodeCtx, bail};

pub(super) static CONVERTERS: &[Converter] = &[
    at("ReduceSum", 1, |c| reduce(c, ReduceKind::Sum, 13)),
    at("ReduceMean", 1, |c| reduce(c, ReduceKind::Mean, 18)),
    at("ReduceMax", 1, |c| reduce(c, ReduceKind::Max, 18)),
    at("ReduceMin", 1, |c| reduce(c, ReduceKind::Min, 18)),
    at("ReduceProd", 1, |c| reduce(c, ReduceKind::Prod, 18)),
    at("ReduceL1", 1, |c| reduce(c, ReduceKind::L1, 18)),
    at("ReduceL2", 1, |c| reduce(c, ReduceKind::L2, 18)),
    at("ReduceLogSum", 1, |c| reduce(c, ReduceKind::LogSum, 18)),
    at("ReduceLogSumExp", 1, |c| {
        reduce(c, ReduceKind::LogSumExp, 18)
    }),
    at("ReduceSumSquare", 1, |c| {
        reduce(c, ReduceKind::SumSquare, 18)
    }),
    at("ArgMax", 1, |c| arg_reduce(c, ArgReduceKind::Max)),
    at("ArgMin", 1, |c| arg_reduce(c, ArgReduceKind::Min)),
];

/// `axes_operand_from`: the opset from which axes are an operand.
fn reduce(ctx: &mut NodeCtx, kind: ReduceKind, axes_operand_from: i64) -> ConvResult<()> {
    let x = ctx.input(0)?;
    let rank = ctx.ty(x).rank();
    let (axes, noop_with_empty_axes) = if ctx.opset >= axes_operand_from {
        (
            ctx.opt_known_ints(1, "axes")?,
            ctx.attrs.flag("noop_with_empty_axes", false)?,
        )
    } else {
        (ctx.attrs.opt_ints("axes")?.map(<[i64]>::to_vec), false)
    };
    let keepdims = ctx.attrs.flag("keepdims", true)?;
    let axes = match axes {
        Some(axes) if !axes.is_empty() => {
            let mut resolved = axes
                .iter()
                .map(|&a| normalize_axis(a, rank))
                .collect::<Result<Vec<usize>, _>>()?;
            resolved.sort_unstable();
            let before = resolved.len();
            resolved.dedup();
            if resolved.len() != before {
                bail!("axes {axes:?} name a dim twice");
            }
            resolved
        }
        _ if noop_with_empty_axes => {
            ctx.add(Op::Identity, vec![Some(x)])?;
            return Ok(());
        }
        _ => (0..rank).collect(),
    };
    ctx.add(
        Op::Reduce(Reduce {
            kind,
            axes,
            keepdims,
        }),
        vec![Some(x)],
    )?;
    Ok(())
}

fn arg_reduce(ctx: &mut NodeCtx, kind: ArgReduceKind) -> ConvResult<()> {
    let x = ctx.input(0)?;
    let axis = normalize_axis(ctx.attrs.int("axis", 0)?, ctx.ty(x).rank())?;
    let op = ArgReduce {
        kind,
        axis,
        keepdims: ctx.attrs.flag("keepdims", true)?,
        select_last_index: ctx.attrs.flag("select_last_index", false)?,
    };
    ctx.add(Op::ArgReduce(op), vec![Some(x)])?;
    Ok(())
}
