//! A convolution whose windows tile the image without overlap (stride equal to
//! the kernel, no padding: ViT's patch embedding, ConvNeXt's stem and
//! downsampling layers) written as the matrix product it is.
//!
//! Rearranging the input into one row per patch is a reshape and a transpose; the
//! weight becomes a `[C*kh*kw, M]` matrix at compile time. The direct
//! convolution of such a layer steps through its input `stride` apart along the
//! row, which the backend's tiles can only do one scalar at a time (see the cost
//! model); the matrix product runs vector-wide. Extraction decides.
//!
//! | rule | from | to | condition |
//! |---|---|---|---|
//! | `conv-as-patch-matmul` | `Conv(x, W, b)` | `Transpose(Reshape(MatMul(Patches(x), W') + b))` | `non_overlapping_patches` |
//! | `conv-as-patch-pointwise` | `Conv(x, W, b)` | `Conv1x1(Reshape(Transpose(Reshape(x))), W'', b)` | `non_overlapping_patches` |
//!
//! The two forms differ in where the patches' taps go. The matrix product
//! makes one row per patch and its output one row per patch (channels last),
//! which a transformer's tokens want as they are (ViT: the transpose back to
//! NCHW cancels against the model's own). The pointwise form moves each
//! patch's taps to the channel axis (a space-to-depth rearrangement) and keeps
//! the image channels-first, so a CNN (ConvNeXt's downsampling layers) needs no
//! transpose after it, and the product runs as a pointwise convolution.

use egg::Id;
use nnc_ir::ops::{Binary, Conv, Transpose};
use nnc_ir::{DType, Op};

use super::super::analysis::IrEGraph;
use super::{NodeRule, add_op, binary, is_absent, is_constant, reshape, ty};

pub const RULES: &[NodeRule] = &[
    NodeRule {
        name: "conv-as-patch-matmul",
        head: "Conv",
        apply: conv_as_patch_matmul,
    },
    NodeRule {
        name: "conv-as-patch-pointwise",
        head: "Conv",
        apply: conv_as_patch_pointwise,
    },
];

/// The sizes a patch product needs: batch, channels, patch grid, kernel, outputs.
struct Patches {
    n: usize,
    c: usize,
    grid: [usize; 2],
    kernel: [usize; 2],
    m: usize,
}

/// Condition `non_overlapping_patches`: a 2-D f32 convolution, one group, no
/// padding or dilation, stride equal to the kernel along both axes (larger than
/// 1x1, which the pointwise path already handles), the image an exact number of
/// patches, a constant weight and a constant or absent bias.
fn non_overlapping_patches(eg: &IrEGraph, conv: &Conv, operands: &[Id]) -> Option<Patches> {
    let (x, w) = (*operands.first()?, *operands.get(1)?);
    let xt = ty(eg, x)?;
    let wt = ty(eg, w)?;
    let [n, c, h, width] = *xt.shape.as_slice() else {
        return None;
    };
    let [kh, kw] = *conv.kernel_shape.as_slice() else {
        return None;
    };
    let bias_ok = match operands.get(2) {
        None => true,
        Some(&b) => is_absent(eg, b) || is_constant(eg, b),
    };
    let ok = xt.dtype == DType::F32
        && conv.group == 1
        && conv.strides == [kh, kw]
        && conv.pads.iter().all(|&p| p == 0)
        && conv.dilations.iter().all(|&d| d == 1)
        && kh * kw > 1
        && kh > 0
        && kw > 0
        && h % kh == 0
        && width % kw == 0
        && is_constant(eg, w)
        && wt.rank() == 4
        && wt.shape[1..] == [c, kh, kw]
        && bias_ok;
    ok.then(|| Patches {
        n,
        c,
        grid: [h / kh, width / kw],
        kernel: [kh, kw],
        m: wt.shape[0],
    })
}

fn transpose(eg: &mut IrEGraph, x: Id, perm: Vec<usize>) -> Id {
    add_op(eg, Op::Transpose(Transpose { perm }), vec![x])
}

fn conv_as_patch_matmul(eg: &mut IrEGraph, _class: Id, op: &Op, operands: &[Id]) -> Option<Id> {
    let Op::Conv(conv) = op else { return None };
    let p = non_overlapping_patches(eg, conv, operands)?;
    let ([gh, gw], [kh, kw]) = (p.grid, p.kernel);
    let taps = p.c * kh * kw;
    // x[n, c, gh*kh, gw*kw] -> one row per patch, its taps in the weight's order.
    let split = reshape(eg, operands[0], vec![p.n, p.c, gh, kh, gw, kw]);
    let patches = transpose(eg, split, vec![0, 2, 4, 1, 3, 5]);
    let rows = reshape(eg, patches, vec![p.n * gh * gw, taps]);
    let w = reshape(eg, operands[1], vec![p.m, taps]);
    let w = transpose(eg, w, vec![1, 0]);
    let mut y = add_op(eg, Op::MatMul, vec![rows, w]);
    if let Some(&b) = operands.get(2).filter(|&&b| !is_absent(eg, b)) {
        let b = reshape(eg, b, vec![p.m]);
        y = binary(eg, Binary::Add, y, b);
    }
    let y = reshape(eg, y, vec![p.n, gh, gw, p.m]);
    Some(transpose(eg, y, vec![0, 3, 1, 2]))
}

fn conv_as_patch_pointwise(eg: &mut IrEGraph, _class: Id, op: &Op, operands: &[Id]) -> Option<Id> {
    let Op::Conv(conv) = op else { return None };
    let p = non_overlapping_patches(eg, conv, operands)?;
    let ([gh, gw], [kh, kw]) = (p.grid, p.kernel);
    let taps = p.c * kh * kw;
    // x[n, c, gh*kh, gw*kw] -> x'[n, (c, kh, kw), gh, gw], the taps in the
    // weight's order.
    let split = reshape(eg, operands[0], vec![p.n, p.c, gh, kh, gw, kw]);
    let taps_first = transpose(eg, split, vec![0, 1, 3, 5, 2, 4]);
    let x = reshape(eg, taps_first, vec![p.n, taps, gh, gw]);
    let w = reshape(eg, operands[1], vec![p.m, taps, 1, 1]);
    let pointwise = Op::Conv(Conv {
        kernel_shape: vec![1, 1],
        strides: vec![1, 1],
        pads: vec![0; 4],
        dilations: vec![1, 1],
        group: 1,
    });
    let mut inputs = vec![x, w];
    inputs.extend(operands.get(2).copied());
    Some(add_op(eg, pointwise, inputs))
}
