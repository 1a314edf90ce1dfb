//! Pooling folded into its neighbours: an explicit Pad absorbed by the pool that
//! follows it, and an average pool written as the depthwise convolution it is (so
//! that it can merge with sibling convolution branches, as in DBB).
//!
//! | rule | from | to | condition |
//! |---|---|---|---|
//! | `pad-into-maxpool` | `MaxPool(Pad(x, -inf))` | `MaxPool(x)` with pads | `spatial_pad_of(-inf)`, `plain_windows` |
//! | `pad-into-avgpool` | `AveragePool(Pad(x, 0))` | `AveragePool(x)` with pads, counting them | `spatial_pad_of(0)`, `plain_windows`, `divides_by_window` |
//! | `avgpool-as-conv` | `AveragePool(x)` | `Conv(x, 1/K, group = C)` | `plain_windows`, `divides_by_window` |

use egg::Id;
use nnc_ir::ops::{Conv, Pad, PadMode, Pool, PoolKind};
use nnc_ir::{DType, Op, Tensor};

use super::super::analysis::IrEGraph;
use super::{NodeRule, absent, add_op, is_absent, literal, ops_in, scalar, ty};

pub const RULES: &[NodeRule] = &[
    NodeRule {
        name: "pad-into-maxpool",
        head: "MaxPool",
        apply: pad_into_pool,
    },
    NodeRule {
        name: "pad-into-avgpool",
        head: "AveragePool",
        apply: pad_into_pool,
    },
    NodeRule {
        name: "avgpool-as-conv",
        head: "AveragePool",
        apply: avgpool_as_conv,
    },
];

/// Condition `spatial_pad_of(v)`: constant-mode padding with value `v` (absent
/// means 0), on spatial dims only, nothing negative. Returns the spatial pads as
/// `[begins.., ends..]`.
fn spatial_pad_of(eg: &IrEGraph, pad: &Pad, operands: &[Id], v: f32) -> Option<Vec<usize>> {
    let value = match operands {
        [_] => 0.0,
        [_, c] if is_absent(eg, *c) => 0.0,
        [_, c] => scalar(eg, *c)?,
        _ => return None,
    };
    let n = pad.pads.len() / 2;
    let same =
        value == v || (value.is_infinite() && v.is_infinite() && value.signum() == v.signum());
    let ok = pad.mode == PadMode::Constant
        && same
        && n >= 3
        && pad.pads.iter().all(|&p| p >= 0)
        && pad.pads[0] == 0
        && pad.pads[1] == 0
        && pad.pads[n] == 0
        && pad.pads[n + 1] == 0;
    ok.then(|| {
        pad.pads[2..n]
            .iter()
            .chain(&pad.pads[n + 2..])
            .map(|&p| p as usize)
            .collect()
    })
}

/// Condition `plain_windows`: floor-mode output size, every pad smaller than its
/// window (so no window lies wholly in padding), pads given per spatial dim.
fn plain_windows(pool: &Pool, extra: &[usize]) -> bool {
    let spatial = pool.kernel_shape.len();
    let dilated =
        |d: usize| (pool.kernel_shape[d] - 1) * pool.dilations.get(d).copied().unwrap_or(1) + 1;
    !pool.ceil_mode
        && pool.pads.len() == 2 * spatial
        && extra.len() == 2 * spatial
        && (0..spatial).all(|d| {
            pool.pads[d] + extra[d] < dilated(d)
                && pool.pads[spatial + d] + extra[spatial + d] < dilated(d)
        })
}

/// Condition `divides_by_window`: the average divides by the whole window
/// everywhere: padding counted, or no padding to count.
fn divides_by_window(pool: &Pool) -> bool {
    match pool.kind {
        PoolKind::Average { count_include_pad } => {
            count_include_pad || pool.pads.iter().all(|&p| p == 0)
        }
        _ => false,
    }
}

fn pad_into_pool(eg: &mut IrEGraph, _class: Id, op: &Op, operands: &[Id]) -> Option<Id> {
    let Op::Pool(pool) = op else { return None };
    let [x] = *operands else { return None };
    let pad_value = match pool.kind {
        PoolKind::Max { .. } => f32::NEG_INFINITY,
        PoolKind::Average { .. } if divides_by_window(pool) => 0.0,
        _ => return None,
    };
    for (pad_op, pad_operands) in ops_in(eg, x, |op| matches!(op, Op::Pad(_))) {
        let Op::Pad(pad) = pad_op else { continue };
        let Some(extra) = spatial_pad_of(eg, &pad, &pad_operands, pad_value) else {
            continue;
        };
        if !plain_windows(pool, &extra) {
            continue;
        }
        let pads = pool.pads.iter().zip(&extra).map(|(a, b)| a + b).collect();
        let kind = match pool.kind {
            PoolKind::Average { .. } => PoolKind::Average {
                count_include_pad: true,
            },
            kind => kind,
        };
        let new = Pool {
            kind,
            pads,
            ..pool.clone()
        };
        return Some(add_op(eg, Op::Pool(new), vec![pad_operands[0]]));
    }
    None
}

fn avgpool_as_conv(eg: &mut IrEGraph, _class: Id, op: &Op, operands: &[Id]) -> Option<Id> {
    let Op::Pool(pool) = op else { return None };
    let [x] = *operands else { return None };
    let spatial = pool.kernel_shape.len();
    if !divides_by_window(pool) || !plain_windows(pool, &vec![0; 2 * spatial]) {
        return None;
    }
    let xt = ty(eg, x)?;
    if xt.dtype != DType::F32 || xt.rank() != spatial + 2 {
        return None;
    }
    let channels = xt.shape[1];
    let taps: usize = pool.kernel_shape.iter().product();
    // One 1/K tap per window position and channel: C * K values, a small tensor.
    let mut shape = vec![channels, 1];
    shape.extend(&pool.kernel_shape);
    let w = Tensor::from_vec(shape, vec![1.0 / taps as f32; channels * taps]).ok()?;
    let w = literal(eg, w);
    let no_bias = absent(eg);
    let conv = Conv {
        kernel_shape: pool.kernel_shape.clone(),
        strides: pool.strides.clone(),
        pads: pool.pads.clone(),
        dilations: if pool.dilations.is_empty() {
            vec![1; spatial]
        } else {
            pool.dilations.clone()
        },
        group: channels,
    };
    Some(add_op(eg, Op::Conv(conv), vec![x, w, no_bias]))
}
