//! Global pools: each plane reduced to one value. f32/f64 max and average
//! read a plane a vector at a time, several planes side by side.

use nnc_ir::kernel::{
    BinaryOp, BufId, CompareOp, ElemType, Expr, KernelBuilder, ReduceOp, Ty, UnaryOp, VarId,
};
use nnc_ir::ops::GlobalPool;

use super::super::LowerCtx;
use super::super::element_io::{compute_elem, constant, load_value, store_value};
use super::super::signature::Operand;
use super::{lp_power, lp_root};

/// Planes a global f32/f64 pool reduces at once: one plane's vector
/// accumulator is a chain of dependent operations; several planes' chains
/// overlap in the pipeline.
const PLANES_AT_ONCE: usize = 4;

/// Each plane reduced to one value; vectorised pools take `PLANES_AT_ONCE`
/// planes at a time.
pub(super) fn global(
    ctx: &LowerCtx,
    k: &mut KernelBuilder,
    x: &Operand,
    y: &Operand,
    pool: GlobalPool,
) {
    let elem = x.elem();
    let ce = compute_elem(elem);
    let plane: usize = x.shape()[2..].iter().product();
    let planes = x.shape()[0] * x.shape()[1];
    let lanes = match (elem, pool) {
        (_, GlobalPool::Lp { .. }) => 1,
        (ElemType::F32 | ElemType::F64, _) => ctx.target.lanes(elem.size()),
        _ => 1,
    };
    let main = (plane - plane % lanes as usize) as i64;
    let (xb, yb) = (x.buf, y.buf);
    let group = if lanes > 1 { PLANES_AT_ONCE } else { 1 };
    let grouped = (planes / group * group) as i64;
    let planes_from = |k: &mut KernelBuilder, p: Expr, count: usize| {
        let bases: Vec<Expr> = (0..count as i64)
            .map(|g| {
                let at = (p.clone() + g) * plane as i64;
                Expr::var(k.let_var("base", Ty::INDEX, at))
            })
            .collect();
        let results: Vec<Expr> = match pool {
            GlobalPool::Max => {
                let init = constant(f64::NEG_INFINITY, elem);
                let best = reduce(
                    k,
                    xb,
                    elem,
                    &bases,
                    (main, plane as i64),
                    lanes,
                    init,
                    &|_, v, acc| v.clone().compare(CompareOp::Gt, acc.clone()).select(v, acc),
                    ReduceOp::Max,
                );
                best.into_iter().map(Expr::var).collect()
            }
            GlobalPool::Average => {
                let sums = reduce(
                    k,
                    xb,
                    elem,
                    &bases,
                    (main, plane as i64),
                    lanes,
                    constant(0.0, elem),
                    &|_, v, acc| acc.binary(BinaryOp::Add, v),
                    ReduceOp::Add,
                );
                sums.into_iter()
                    .map(|sum| Expr::var(sum).binary(BinaryOp::Div, Expr::float(plane as f64, ce)))
                    .collect()
            }
            GlobalPool::Lp { p: norm } => {
                let norm = norm as f64;
                let sums = reduce(
                    k,
                    xb,
                    elem,
                    &bases,
                    (main, plane as i64),
                    1,
                    constant(0.0, elem),
                    &|k, v, acc| {
                        let power = lp_power(k, ce, v.unary(UnaryOp::Abs), norm);
                        acc.binary(BinaryOp::Add, power)
                    },
                    ReduceOp::Add,
                );
                sums.into_iter()
                    .map(|sum| lp_root(k, ce, Expr::var(sum), norm))
                    .collect()
            }
        };
        for (g, result) in results.into_iter().enumerate() {
            store_value(k, yb, elem, p.clone() + g as i64, result);
        }
    };
    k.for_range("p", 0, grouped, group as i64, |k, p| {
        planes_from(k, p, group)
    });
    k.for_range("p", grouped, planes as i64, 1, |k, p| planes_from(k, p, 1));
}

/// Folds `len` elements of `x` from each of `bases` with `step(k, value,
/// acc)`: vectors of `lanes` up to `main` (then a horizontal `horizontal`),
/// then scalars, the bases side by side in each step. Returns the scalar
/// accumulators, one per base.
#[allow(clippy::too_many_arguments)]
fn reduce(
    k: &mut KernelBuilder,
    x: BufId,
    elem: ElemType,
    bases: &[Expr],
    (main, len): (i64, i64),
    lanes: u8,
    init: Expr,
    step: &dyn Fn(&mut KernelBuilder, Expr, Expr) -> Expr,
    horizontal: ReduceOp,
) -> Vec<VarId> {
    let ce = compute_elem(elem);
    let (accs, from) = if lanes > 1 {
        let accv: Vec<VarId> = bases
            .iter()
            .map(|_| k.let_var("accv", Ty::vector(ce, lanes), init.clone().splat(lanes)))
            .collect();
        k.for_range("i", 0, main, lanes as i64, |k, i| {
            for (base, &acc) in bases.iter().zip(&accv) {
                let v = load_value(k, x, elem, base.clone() + i.clone(), lanes);
                let next = step(k, v, Expr::var(acc));
                k.assign(acc, next);
            }
        });
        let accs = accv
            .iter()
            .map(|&acc| k.let_var("acc", Ty::scalar(ce), Expr::var(acc).reduce(horizontal)))
            .collect();
        (accs, main)
    } else {
        let accs = bases
            .iter()
            .map(|_| k.let_var("acc", Ty::scalar(ce), init.clone()))
            .collect();
        (accs, 0)
    };
    let accs: Vec<VarId> = accs;
    k.for_range("i", from, len, 1, |k, i| {
        for (base, &acc) in bases.iter().zip(&accs) {
            let v = load_value(k, x, elem, base.clone() + i.clone(), 1);
            let v = Expr::var(k.let_var("v", Ty::scalar(ce), v));
            let next = step(k, v, Expr::var(acc));
            k.assign(acc, next);
        }
    });
    accs
}
