//! The epilogue of a fused op (`Op::Fused`): the elementwise steps a Conv, MatMul
//! or Gemm kernel applies to an output vector right before storing it.
//!
//! A kernel generator builds one [`Epilogue`] per kernel and, at every store of
//! the anchor's output, calls [`Epilogue::apply`] with the value, the output
//! element index it is stored at, the output channel and the lanes; it gets the
//! finished value back. For a plain (unfused) anchor the epilogue is empty and
//! `apply` returns the value unchanged.
//!
//! Steps are built with the standalone elementwise lowerings' expression builders
//! (`float_unary`, `binary_value`, Clip's compare-and-select), so a fused kernel
//! computes what the unfused chain computes, bit for bit up to FMA contraction in
//! the anchor.

use nnc_ir::kernel::{
    BufId, CompareOp, ElemType, Expr, KernelBuilder, TileAddend, TileFn, TileMap, TileStep, Ty,
};
use nnc_ir::ops::{Binary, Fused, OperandForm, Step, Unary};
use nnc_ir::{DType, Op};

use super::elementwise::{binary_value, float_unary};
use super::signature::Signature;
use super::{LowerCtx, LowerError};

/// The steps of a fused op, with the buffers of their extra operands.
pub(super) struct Epilogue {
    steps: Vec<Resolved>,
    /// Whether consecutive lanes of an output vector are consecutive channels
    /// (a matrix product's columns) rather than one channel (a convolution's
    /// pixels).
    channel_in_lanes: bool,
}

/// A step with its extra operand located.
enum Resolved {
    Unary(Unary),
    Clip {
        min: Option<f32>,
        max: Option<f32>,
    },
    Binary {
        op: Binary,
        extra: Extra,
        swapped: bool,
    },
    Gate(Unary),
}

/// An extra operand: its buffer and how it spreads over the output.
#[derive(Clone, Copy)]
struct Extra {
    buf: BufId,
    form: OperandForm,
}

impl Epilogue {
    /// The epilogue of the node being lowered: empty unless it is `Op::Fused`.
    pub fn of(ctx: &LowerCtx, sig: &Signature) -> Result<Epilogue, LowerError> {
        let Op::Fused(fused) = &ctx.node.op else {
            return Ok(Epilogue {
                steps: Vec::new(),
                channel_in_lanes: false,
            });
        };
        let out = sig.output(ctx, 0)?;
        if out.ty.dtype != DType::F32 {
            return Err(ctx.unsupported("fused epilogues compute f32 only"));
        }
        let mut steps = Vec::with_capacity(fused.steps.len());
        for step in &fused.steps {
            steps.push(match *step {
                Step::Unary(u) => Resolved::Unary(u),
                Step::Gate(u) => Resolved::Gate(u),
                Step::Clip { min, max } => Resolved::Clip { min, max },
                Step::Binary {
                    op,
                    operand,
                    swapped,
                } => {
                    if !matches!(
                        op,
                        Binary::Add
                            | Binary::Sub
                            | Binary::Mul
                            | Binary::Div
                            | Binary::Max
                            | Binary::Min
                    ) {
                        return Err(ctx.unsupported(format!("no fused {} step", op.name())));
                    }
                    let e = sig.input(ctx, fused.anchor_operands + operand)?;
                    let form = Fused::operand_form(&fused.anchor, out.shape(), e.shape())
                        .filter(|_| e.ty.dtype == DType::F32)
                        .ok_or_else(|| {
                            ctx.unsupported(format!(
                                "extra operand {operand} of shape {:?} is not full, per channel \
                                 or scalar f32 over the output {:?}",
                                e.shape(),
                                out.shape()
                            ))
                        })?;
                    // A matrix product's kernels give the column of B as the
                    // channel, which is the output's last dim only when B is a
                    // matrix (a 1-D B drops that dim).
                    let b_vector = sig.optional(1).is_some_and(|b| b.shape().len() < 2);
                    if form == OperandForm::Channel && *fused.anchor == Op::MatMul && b_vector {
                        return Err(
                            ctx.unsupported("a per-channel step after a matrix-vector MatMul")
                        );
                    }
                    Resolved::Binary {
                        op,
                        extra: Extra { buf: e.buf, form },
                        swapped,
                    }
                }
            });
        }
        Ok(Epilogue {
            steps,
            channel_in_lanes: !matches!(*fused.anchor, Op::Conv(_)),
        })
    }

    pub fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }

    /// Whether a step expands to a long polynomial (exp, erf, tanh...): a kernel
    /// should then emit `apply` once in a loop rather than once per register.
    pub fn is_long(&self) -> bool {
        self.steps.iter().any(|s| match s {
            Resolved::Unary(u) => !matches!(
                u,
                Unary::Relu
                    | Unary::LeakyRelu { .. }
                    | Unary::Abs
                    | Unary::Neg
                    | Unary::HardSwish
                    | Unary::HardSigmoid { .. }
            ),
            Resolved::Gate(_) => true,
            Resolved::Clip { .. } | Resolved::Binary { .. } => false,
        })
    }

    /// The finished value of output elements `index..index + lanes` (of channel
    /// `channel`, or channels `channel..channel + lanes` for a matrix product)
    /// from the anchor's f32 `value`.
    pub fn apply(
        &self,
        k: &mut KernelBuilder,
        value: Expr,
        index: Expr,
        channel: Expr,
        lanes: u8,
    ) -> Expr {
        let ty = Ty::vector(ElemType::F32, lanes);
        let mut v = value;
        for step in &self.steps {
            // Held in a variable: the builders use their operand more than once.
            let x = Expr::var(k.let_var("epi", ty, v));
            v = match *step {
                Resolved::Unary(u) => float_unary(k, u, x, ty),
                Resolved::Gate(u) => {
                    let gate = float_unary(k, u, x.clone(), ty);
                    x * gate
                }
                Resolved::Clip { min, max } => clip(k, x, min, max, ty),
                Resolved::Binary { op, extra, swapped } => {
                    let e = self.load(extra, index.clone(), channel.clone(), lanes);
                    let e = Expr::var(k.let_var("extra", ty, e));
                    let (a, b) = if swapped { (e, x) } else { (x, e) };
                    binary_value(k, op, a, b, ty)
                }
            };
        }
        v
    }

    /// The activations among the steps that a tile carries as [`TileStep::Map`]
    /// (the exact GELU), built once per kernel for tiles of `lanes` (their
    /// variables are shared by every tile): one entry per step, `None` for the
    /// others.
    pub fn tile_maps(&self, k: &mut KernelBuilder, lanes: u8) -> Vec<Option<TileMap>> {
        self.steps
            .iter()
            .map(|step| match *step {
                Resolved::Unary(
                    u @ Unary::Gelu {
                        tanh_approximation: false,
                    },
                ) => Some(tile_map(k, TileFn::Gelu, u, lanes)),
                _ => None,
            })
            .collect()
    }

    /// The steps as a GEMM tile's epilogue for the tile whose first row is
    /// channel `channel` (a convolution's) or whose first column is (a matrix
    /// product's), first output element at `index`, Y's rows `y_row` apart
    /// and its column blocks (`ColumnBlocks`) `y_block` apart:
    /// `None` unless every step is one a tile applies exactly as
    /// [`Epilogue::apply`] does (ReLU, Clip, adding an operand, the
    /// activations of `maps` from [`Epilogue::tile_maps`]).
    pub fn tile_steps(
        &self,
        maps: &[Option<TileMap>],
        channel: Expr,
        index: Expr,
        (y_row, y_block): (i64, i64),
    ) -> Option<Vec<TileStep>> {
        self.steps
            .iter()
            .enumerate()
            .map(|(n, step)| match *step {
                Resolved::Unary(_) if maps.get(n).is_some_and(Option::is_some) => {
                    maps[n].clone().map(TileStep::Map)
                }
                // `x < 0 ? 0 : x`, Clip's select with a min of 0.
                Resolved::Unary(Unary::Relu) => Some(TileStep::Clip {
                    min: Some(0.0),
                    max: None,
                }),
                Resolved::Clip { min, max } => Some(TileStep::Clip { min, max }),
                // Addition commutes exactly: `swapped` does not matter.
                Resolved::Binary {
                    op: Binary::Add,
                    extra,
                    ..
                } => {
                    let (offset, row, col, block) = match extra.form {
                        OperandForm::Full => (index.clone(), y_row, 1, y_block),
                        OperandForm::Channel if self.channel_in_lanes => (channel.clone(), 0, 1, 0),
                        OperandForm::Channel => (channel.clone(), 1, 0, 0),
                        OperandForm::Scalar => (Expr::index(0), 0, 0, 0),
                    };
                    Some(TileStep::Add(TileAddend {
                        buf: extra.buf,
                        offset,
                        row,
                        col,
                        block,
                    }))
                }
                _ => None,
            })
            .collect()
    }

    /// The extra operand's values for the output vector at `index` / `channel`.
    fn load(&self, e: Extra, index: Expr, channel: Expr, lanes: u8) -> Expr {
        match e.form {
            OperandForm::Full => Expr::load(e.buf, index, Ty::vector(ElemType::F32, lanes)),
            OperandForm::Channel if self.channel_in_lanes => {
                Expr::load(e.buf, channel, Ty::vector(ElemType::F32, lanes))
            }
            OperandForm::Channel => Expr::load(e.buf, channel, Ty::F32).splat(lanes),
            OperandForm::Scalar => Expr::load(e.buf, Expr::index(0), Ty::F32).splat(lanes),
        }
    }
}

/// `func`, the standalone lowering of `u`, as a tile's map over f32 vectors
/// of `lanes` and scalars.
pub(crate) fn tile_map(k: &mut KernelBuilder, func: TileFn, u: Unary, lanes: u8) -> TileMap {
    let mut lambda = |ty: Ty| k.tile_lambda(ty, |k, x| float_unary(k, u, x, ty));
    TileMap {
        func,
        vector: lambda(Ty::vector(ElemType::F32, lanes)),
        scalar: lambda(Ty::F32),
    }
}

/// numpy's clip as the standalone Clip lowers it: compares, so that NaN stays NaN
/// and `max` wins when `min > max`.
pub(super) fn clip(
    k: &mut KernelBuilder,
    x: Expr,
    min: Option<f32>,
    max: Option<f32>,
    ty: Ty,
) -> Expr {
    let mut v = x;
    if let Some(lo) = min {
        let lo = Expr::f32(lo).splat(ty.lanes);
        let clipped = v.clone().compare(CompareOp::Lt, lo.clone()).select(lo, v);
        v = Expr::var(k.let_var("clip", ty, clipped));
    }
    if let Some(hi) = max {
        let hi = Expr::f32(hi).splat(ty.lanes);
        v = v.clone().compare(CompareOp::Gt, hi.clone()).select(hi, v);
    }
    v
}

#[cfg(test)]
mod tests;
