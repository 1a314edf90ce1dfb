//! Lowering of Conv and ConvTranspose (any number of spatial dims, groups,
//! strides, dilations, explicit pads, optional bias) as direct convolutions.
//!
//! Conv, f32, 3x3 with unit stride and dilation, one group and enough channels:
//! Winograd F(2x2, 3x3), see `winograd`.
//!
//! Conv, f32, 2-D, a short reduction (a stem's few input channels) and
//! narrow output rows: on wide targets one GEMM over all of an image's pixels,
//! the input staged as tap planes, see `tap_planes`; elsewhere output channels
//! in the vector lanes, see `channels`.
//!
//! Conv, f32, 2-D depthwise (one input channel per group): register tiles
//! along the output rows, see `depthwise`.
//!
//! Conv, f32, 2-D, stride 2 along the row: rows staged as their even and odd
//! columns so that the wide tiles read stride 1, see `polyphase`; at the
//! portable level with a short reduction (an image stem), unfolded per output
//! row into a dense GEMM, see `unfolded`.
//!
//! Conv, f32, with at least one output column whose every tap reads inside the
//! image (most layers, pointwise and strided ones included): the GEMM
//! microkernel, see `tiled`.
//!
//! Other Conv, f32 and f64: each output row (the last spatial dim) is set to the bias,
//! then every (input channel, kernel position) adds `w * x[row]` to it. The last
//! kernel dim is unrolled, so the output columns whose input lies inside the
//! image are a range known at compile time: no padding test in the inner loop,
//! and with unit stride the row is updated a vector at a time. The outer
//! spatial dims are guarded (`if 0 <= ih && ih < H`). f16 (and any other
//! float) takes the scalar form below, accumulating in f32.
//!
//! ConvTranspose gathers instead of scattering: output pixel `o` receives input
//! `i` through kernel tap `k` when `o + pad - k * dilation == i * stride`, so
//! each output is one accumulation in a local, guarded by that divisibility.

mod channels;
mod packed;
pub(super) mod parity;
mod polyphase;
#[cfg(test)]
mod polyphase_tests;
mod tap_planes;
#[cfg(test)]
mod tests;
mod tiled;
mod unfolded;
mod wide;
mod winograd;

use nnc_ir::Op;
use nnc_ir::kernel::{
    BinaryOp, BufId, CompareOp, ElemType, Expr, Kernel, KernelBuilder, Ty, VarId,
};

use super::element_io::{compute_elem, constant, load_value, store_value};
use super::epilogue::Epilogue;
use super::signature::{Operand, Signature, kernel_name};
use super::{ExtraBuffer, LowerCtx, LowerError};
use super::{depthwise, gemm};

pub(super) fn lower(ctx: &LowerCtx) -> Result<Kernel, LowerError> {
    let mut k = KernelBuilder::new(kernel_name(ctx));
    let sig = Signature::declare(ctx, &mut k);
    let (x, w, y) = (sig.input(ctx, 0)?, sig.input(ctx, 1)?, sig.output(ctx, 0)?);
    let bias = sig.optional(2).map(|b| b.buf);
    if !x.elem().is_float() {
        return Err(ctx.unsupported(format!("no convolution of {}", x.elem().name())));
    }
    // A fused Conv applies its steps at every store of the output.
    let fusion = Epilogue::of(ctx, &sig)?;
    let op = match &ctx.node.op {
        Op::Fused(f) => &*f.anchor,
        op => op,
    };
    let convolution = |geo, group: usize, lanes| Convolution {
        x,
        w,
        y,
        bias,
        geo,
        group: group.max(1),
        lanes,
        fusion: &fusion,
    };
    match op {
        Op::Conv(c) => {
            let geo = Geometry::new(
                ctx,
                x,
                w,
                &c.kernel_shape,
                &c.strides,
                &c.pads,
                &c.dilations,
            )?;
            let conv = convolution(geo, c.group, ctx.target.lanes(x.elem().size()));
            conv.check(ctx)?;
            if conv.winograd_applies(ctx) {
                conv.emit_winograd(&mut k, ctx)?;
            } else if conv.channel_vectors_apply() {
                let level = gemm::Tile::for_target(ctx.target).wide;
                if conv.tap_planes_apply() {
                    conv.emit_tap_planes(&mut k, ctx, level);
                } else {
                    conv.emit_channel_vectors(&mut k);
                }
            } else if depthwise::applies(x, w, y, conv.group) {
                conv.emit_depthwise(&mut k, ctx);
            } else if conv.unfolded_applies(ctx.target.microkernel()) {
                conv.emit_unfolded(&mut k, ctx, gemm::Tile::for_target(ctx.target));
            } else if conv.is_pointwise() {
                let tile = gemm::Tile::for_target(ctx.target);
                let packed = conv.packed_pointwise_weight(&mut k, ctx, tile);
                let panels = packed.and_then(|_| conv.b_panel_scratch(&mut k, ctx));
                conv.emit_pointwise_with(&mut k, tile, packed, panels);
            } else if let Some(interior) = conv.tiled_interior() {
                let tile = gemm::Tile::for_target(ctx.target);
                if conv.polyphase_applies(tile.wide) {
                    conv.emit_polyphase(&mut k, ctx, tile.wide);
                } else if conv.wide_applies(tile.wide) {
                    conv.emit_tiled_wide(&mut k, tile.wide, interior);
                } else {
                    conv.emit_tiled(&mut k, tile, interior);
                }
            } else if matches!(x.elem(), ElemType::F32 | ElemType::F64) {
                conv.emit_rows(&mut k);
            } else {
                conv.emit_scalar(&mut k);
            }
        }
        Op::ConvTranspose(c) => {
            let geo = Geometry::new(
                ctx,
                x,
                w,
                &c.kernel_shape,
                &c.strides,
                &c.pads,
                &c.dilations,
            )?;
            let conv = convolution(geo, c.group, 1);
            conv.emit_transposed(ctx, &mut k)?;
        }
        other => return Err(ctx.unsupported(format!("{} is not a convolution", other.name()))),
    }
    Ok(k.finish())
}

/// Spatial attributes, one entry per spatial dim, defaults filled in.
struct Geometry {
    kernel: Vec<usize>,
    strides: Vec<i64>,
    dilations: Vec<i64>,
    pads: Vec<i64>,
}

impl Geometry {
    fn new(
        ctx: &LowerCtx,
        x: &Operand,
        w: &Operand,
        kernel: &[usize],
        strides: &[usize],
        pads: &[usize],
        dilations: &[usize],
    ) -> Result<Geometry, LowerError> {
        let r = x.shape().len().saturating_sub(2);
        if r == 0 || w.shape().len() != r + 2 {
            return Err(ctx.unsupported("X and W must have equal rank >= 3"));
        }
        let weight_kernel = &w.shape()[2..];
        if !kernel.is_empty() && kernel != weight_kernel {
            return Err(ctx.unsupported("kernel_shape differs from the weight"));
        }
        let per_dim = |v: &[usize], default: i64| -> Result<Vec<i64>, LowerError> {
            match v.len() {
                0 => Ok(vec![default; r]),
                n if n == r => Ok(v.iter().map(|&s| s as i64).collect()),
                _ => Err(ctx.unsupported("an attribute does not have one entry per spatial dim")),
            }
        };
        let pads = match pads.len() {
            0 => vec![0; r],
            n if n == 2 * r => pads[..r].iter().map(|&p| p as i64).collect(),
            _ => return Err(ctx.unsupported("pads must have two entries per spatial dim")),
        };
        Ok(Geometry {
            kernel: weight_kernel.to_vec(),
            strides: per_dim(strides, 1)?,
            dilations: per_dim(dilations, 1)?,
            pads,
        })
    }
}

struct Convolution<'a> {
    x: &'a Operand,
    w: &'a Operand,
    y: &'a Operand,
    bias: Option<BufId>,
    geo: Geometry,
    group: usize,
    lanes: u8,
    /// The fused steps applied before each store (empty for a plain Conv).
    fusion: &'a Epilogue,
}
/// Runs `block(k, first, count)` over `total` output channels, `chunk` at a time
/// (whole chunks in a loop, then the rest): the chunk's weights stay in L2 while
/// every output row passes by.
fn for_channel_chunks(
    k: &mut KernelBuilder,
    total: usize,
    chunk: usize,
    block: &dyn Fn(&mut KernelBuilder, Expr, usize),
) {
    let chunked = total - total % chunk;
    if chunked > chunk {
        k.for_range("mc", 0, chunked as i64, chunk as i64, |k, m0| {
            block(k, m0, chunk)
        });
    } else if chunked > 0 {
        block(k, Expr::index(0), chunked);
    }
    if total > chunked {
        block(k, Expr::index(chunked as i64), total - chunked);
    }
}

/// Row-major strides of `shape` as i64.
fn strides(shape: &[usize]) -> Vec<i64> {
    super::copy_nest::strides(shape)
}

/// One spatial dim of a window walk: output coordinate, geometry, and the
/// strides of the input and weight along it.
struct WindowDim {
    out: Expr,
    stride: i64,
    dilation: i64,
    pad: i64,
    input: usize,
    kernel: usize,
    x_stride: i64,
    w_stride: i64,
}

/// Walks kernel positions of `dims` (outermost first), guarding each input
/// coordinate into the image; `body(k, x_offset, w_offset)` sees the offsets of
/// the positions inside.
fn walk_window(
    k: &mut KernelBuilder,
    dims: &[WindowDim],
    x_offset: Expr,
    w_offset: Expr,
    body: &mut dyn FnMut(&mut KernelBuilder, Expr, Expr),
) {
    let Some((dim, rest)) = dims.split_first() else {
        body(k, x_offset, w_offset);
        return;
    };
    k.for_range("kw", 0, dim.kernel as i64, 1, |k, kd| {
        let at = dim.out.clone() * dim.stride + kd.clone() * dim.dilation - dim.pad;
        let i = Expr::var(k.let_var("ix", Ty::INDEX, at));
        let inside = i
            .clone()
            .ge(Expr::index(0))
            .binary(BinaryOp::And, i.clone().lt(Expr::index(dim.input as i64)));
        k.if_then(inside, |k| {
            walk_window(
                k,
                rest,
                x_offset + i * dim.x_stride,
                w_offset + kd * dim.w_stride,
                body,
            );
        });
    });
}

/// Loops over `extents` (outermost first), giving `body` the coordinates.
pub(super) fn nest(
    k: &mut KernelBuilder,
    extents: &[usize],
    coords: &mut Vec<Expr>,
    body: &mut dyn FnMut(&mut KernelBuilder, &[Expr]),
) {
    let Some((&n, rest)) = extents.split_first() else {
        body(k, coords);
        return;
    };
    k.for_range("o", 0, n as i64, 1, |k, o| {
        coords.push(o);
        nest(k, rest, coords, body);
        coords.pop();
    });
}

impl Convolution<'_> {
    /// The window walk of every spatial dim but the last (whose taps the kernels
    /// loop over themselves), at output coordinates `outer`.
    fn window_dims(&self, outer: &[Expr]) -> Vec<WindowDim> {
        let (xshape, wshape) = (self.x.shape(), self.w.shape());
        let (xs, ws) = (strides(xshape), strides(wshape));
        outer
            .iter()
            .enumerate()
            .map(|(d, out)| WindowDim {
                out: out.clone(),
                stride: self.geo.strides[d],
                dilation: self.geo.dilations[d],
                pad: self.geo.pads[d],
                input: xshape[2 + d],
                kernel: self.geo.kernel[d],
                x_stride: xs[2 + d],
                w_stride: ws[2 + d],
            })
            .collect()
    }

    fn rank(&self) -> usize {
        self.geo.kernel.len()
    }

    fn check(&self, ctx: &LowerCtx) -> Result<(), LowerError> {
        let (c, m) = (self.x.shape()[1], self.w.shape()[0]);
        if c != self.w.shape()[1] * self.group || m % self.group != 0 {
            return Err(ctx.unsupported("channels do not match the groups"));
        }
        Ok(())
    }

    /// The bias of output channel `oc`, or 0, in the compute type.
    fn initial(&self, k: &mut KernelBuilder, oc: Expr) -> Expr {
        let elem = self.x.elem();
        match self.bias {
            Some(b) => load_value(k, b, elem, oc, 1),
            None => constant(0.0, elem),
        }
    }

    /// Loops over image, group, output channel in group; `body(k, n, g, oc,
    /// oc_in_group)`.
    fn channels(
        &self,
        k: &mut KernelBuilder,
        mg: usize,
        body: &mut dyn FnMut(&mut KernelBuilder, Expr, Expr, Expr, Expr),
    ) {
        let n = self.x.shape()[0];
        k.for_range("n", 0, n as i64, 1, |k, image| {
            k.for_range("g", 0, self.group as i64, 1, |k, g| {
                k.for_range("m", 0, mg as i64, 1, |k, ocg| {
                    let oc = g.clone() * mg as i64 + ocg.clone();
                    body(k, image.clone(), g.clone(), oc, ocg);
                });
            });
        });
    }

    /// A 2-D f32 depthwise convolution (see `depthwise`), the bias and the fused
    /// steps applied as the tiles are stored.
    fn emit_depthwise(&self, k: &mut KernelBuilder, ctx: &LowerCtx) {
        let pair = |v: &[i64]| [v[0], v[1]];
        let dw = depthwise::Depthwise {
            x: self.x,
            w: self.w,
            y: self.y,
            kernel: [self.geo.kernel[0] as i64, self.geo.kernel[1] as i64],
            strides: pair(&self.geo.strides),
            dilations: pair(&self.geo.dilations),
            pads: pair(&self.geo.pads),
        };
        let epilogue = |k: &mut KernelBuilder, acc: Expr, oc: Expr, at: Expr, lanes: u8| {
            self.finish(k, acc, oc, at, lanes)
        };
        let tile = depthwise::Tile::for_depthwise(ctx.target, &dw);
        if let Some(frame) = dw.frame(tile.wide, self.lanes) {
            let scratch = k.buffer("frames", ElemType::F32, frame.elements(), true);
            ctx.add_extra(ExtraBuffer::Scratch {
                bytes: 4 * frame.elements(),
            });
            ctx.set_form("framed");
            let steps = |k: &mut KernelBuilder, acc: Expr, oc: Expr, at: Expr, lanes: u8| {
                if self.fusion.is_empty() {
                    acc
                } else {
                    self.fusion.apply(k, acc, at, oc, lanes)
                }
            };
            dw.emit_framed(k, scratch, frame, self.lanes, (self.bias, &steps));
            return;
        }
        let in_tiles = dw
            .padded_plane(tile.wide)
            .and_then(|padded| Some((padded, dw.run_tile_rows(padded, tile.wide)?)))
            .filter(|_| {
                self.plane_finish(&[], Expr::index(0), Expr::index(0))
                    .is_some()
            });
        if let Some((padded, rows)) = in_tiles {
            let padded = padded.without_run();
            let scratch = k.buffer("scratch", ElemType::F32, padded.elements(), true);
            ctx.add_extra(ExtraBuffer::Scratch {
                bytes: 4 * padded.elements(),
            });
            let maps = self.fusion.tile_maps(k, self.lanes);
            let steps = |oc: Expr, at: Expr| {
                self.plane_finish(&maps, oc, at)
                    .expect("the plane's steps were checked above")
            };
            dw.emit_padded_in_tiles(k, scratch, (padded, rows), self.lanes, &steps);
            return;
        }
        if let Some(framed) = dw.framed_plane(tile.wide, self.lanes) {
            let scratch = k.buffer("scratch", ElemType::F32, framed.elements(), true);
            ctx.add_extra(ExtraBuffer::Scratch {
                bytes: 4 * framed.elements(),
            });
            let shape = (ctx.target.vector_registers, self.lanes);
            dw.emit_framed_tiles(k, scratch, framed, shape, &epilogue);
            return;
        }
        match dw.padded_plane(tile.wide) {
            Some(padded) => {
                let scratch = k.buffer("scratch", ElemType::F32, padded.elements(), true);
                ctx.add_extra(ExtraBuffer::Scratch {
                    bytes: 4 * padded.elements(),
                });
                dw.emit_padded(k, scratch, padded, self.lanes, &epilogue);
            }
            None => match dw.staged_halves(tile.wide, self.lanes) {
                Some(staged) => {
                    let scratch = k.buffer("scratch", ElemType::F32, staged.elements(), true);
                    ctx.add_extra(ExtraBuffer::Scratch {
                        bytes: 4 * staged.elements(),
                    });
                    dw.emit_halves(k, scratch, staged, tile, self.lanes, &epilogue);
                }
                None => {
                    if dw.unrolls_kernel(tile) {
                        // Read-only and never the output: its loads may move
                        // out of the plane's loops with the weights'.
                        if let Some(bias) = self.bias {
                            k.mark_unchanging(bias);
                        }
                    }
                    dw.emit(k, tile, self.lanes, &epilogue)
                }
            },
        }
    }

    /// [`Convolution::finish`] as the epilogue of a depthwise tile whose every
    /// output is of channel `oc` (first output at `at`): the bias and the
    /// steps' per-channel and scalar addends one value for the whole tile;
    /// `None` when a step is not one a tile applies or adds a tensor shaped
    /// like Y.
    fn plane_finish(
        &self,
        maps: &[Option<nnc_ir::kernel::TileMap>],
        oc: Expr,
        at: Expr,
    ) -> Option<Vec<nnc_ir::kernel::TileStep>> {
        use nnc_ir::kernel::{TileAddend, TileStep};
        let ow = self.y.shape()[3] as i64;
        let bias = self.bias.map(|buf| {
            TileStep::Add(TileAddend {
                buf,
                offset: oc.clone(),
                row: 0,
                col: 0,
                block: 0,
            })
        });
        let fused = self.fusion.tile_steps(maps, oc, at, (ow, 0))?;
        let steps = bias
            .into_iter()
            .chain(fused)
            .map(|step| match step {
                TileStep::Add(e) if e.col == 0 => Some(TileStep::Add(TileAddend { row: 0, ..e })),
                TileStep::Add(_) => None,
                other => Some(other),
            })
            .collect::<Option<Vec<_>>>()?;
        let addends = steps
            .iter()
            .filter(|s| matches!(s, TileStep::Add(_)))
            .count();
        (addends <= super::gemm_tiles::MAX_TILE_ADDENDS).then_some(steps)
    }

    /// Row-accumulating direct convolution (f32, f64).
    fn emit_rows(&self, k: &mut KernelBuilder) {
        let r = self.rank();
        let elem = self.x.elem();
        let (xshape, yshape) = (self.x.shape(), self.y.shape());
        let (c, m) = (xshape[1], yshape[1]);
        let (cg, mg) = (c / self.group, m / self.group);
        let (xs, ys, ws) = (strides(xshape), strides(yshape), strides(self.w.shape()));
        let last = r - 1;
        let (in_w, out_w) = (xshape[2 + last], yshape[2 + last]);
        let (stride_w, dil_w, pad_w) = (
            self.geo.strides[last],
            self.geo.dilations[last],
            self.geo.pads[last],
        );
        let lanes = if stride_w == 1 { self.lanes } else { 1 };
        let ty = |n: u8| Ty::vector(elem, n);
        self.channels(k, mg, &mut |k, image, g, oc, _| {
            nest(k, &yshape[2..2 + last], &mut Vec::new(), &mut |k, outer| {
                let y_row = (0..last).fold(image.clone() * ys[0] + oc.clone() * ys[1], |acc, d| {
                    acc + outer[d].clone() * ys[2 + d]
                });
                let y_row = Expr::var(k.let_var("yrow", Ty::INDEX, y_row));
                let init = self.initial(k, oc.clone());
                let init = k.let_var("init", ty(1), init);
                row_loop(k, 0, out_w as i64, lanes, &mut |k, ow, n| {
                    k.store(self.y.buf, y_row.clone() + ow, Expr::var(init).splat(n));
                });
                k.for_range("c", 0, cg as i64, 1, |k, ic| {
                    let x_chan =
                        image.clone() * xs[0] + (g.clone() * cg as i64 + ic.clone()) * xs[1];
                    let w_chan = oc.clone() * ws[0] + ic * ws[1];
                    let dims = self.window_dims(&outer[..last]);
                    walk_window(k, &dims, x_chan, w_chan, &mut |k, x_row, w_row| {
                        let x_row = Expr::var(k.let_var("xrow", Ty::INDEX, x_row));
                        let w_row = Expr::var(k.let_var("wrow", Ty::INDEX, w_row));
                        for kw in 0..self.geo.kernel[last] as i64 {
                            // Output columns whose input column lies in the image.
                            let shift = kw * dil_w - pad_w;
                            let lo = (-shift).max(0).div_ceil_pos(stride_w);
                            let hi = ((in_w as i64 - 1 - shift).div_floor_pos(stride_w) + 1)
                                .min(out_w as i64);
                            if lo >= hi {
                                continue;
                            }
                            let wv = Expr::load(self.w.buf, w_row.clone() + kw, ty(1));
                            let wv = k.let_var("w", ty(1), wv);
                            row_loop(k, lo, hi, lanes, &mut |k, ow, n| {
                                let at = y_row.clone() + ow.clone();
                                let xv = Expr::load(
                                    self.x.buf,
                                    x_row.clone() + ow * stride_w + shift,
                                    ty(n),
                                );
                                let yv = Expr::load(self.y.buf, at.clone(), ty(n));
                                k.store(self.y.buf, at, Expr::var(wv).splat(n).fma(xv, yv));
                            });
                        }
                    });
                });
                // The row accumulates in Y: the fused steps run once it is
                // complete, while it is still in cache.
                if !self.fusion.is_empty() {
                    row_loop(k, 0, out_w as i64, self.lanes, &mut |k, ow, n| {
                        let at = y_row.clone() + ow;
                        let yv = Expr::load(self.y.buf, at.clone(), ty(n));
                        let done = self.fusion.apply(k, yv, at.clone(), oc.clone(), n);
                        k.store(self.y.buf, at, done);
                    });
                }
            });
        });
    }

    /// Per output element, one accumulation in a local (any float type).
    fn emit_scalar(&self, k: &mut KernelBuilder) {
        let r = self.rank();
        let elem = self.x.elem();
        let (xshape, yshape) = (self.x.shape(), self.y.shape());
        let (c, m) = (xshape[1], yshape[1]);
        let (cg, mg) = (c / self.group, m / self.group);
        let (xs, ys, ws) = (strides(xshape), strides(yshape), strides(self.w.shape()));
        self.channels(k, mg, &mut |k, image, g, oc, _| {
            nest(k, &yshape[2..], &mut Vec::new(), &mut |k, out| {
                let init = self.initial(k, oc.clone());
                let acc = k.let_var("acc", Ty::scalar(compute_elem(elem)), init);
                k.for_range("c", 0, cg as i64, 1, |k, ic| {
                    let x_chan =
                        image.clone() * xs[0] + (g.clone() * cg as i64 + ic.clone()) * xs[1];
                    let w_chan = oc.clone() * ws[0] + ic * ws[1];
                    let dims: Vec<WindowDim> = (0..r)
                        .map(|d| WindowDim {
                            out: out[d].clone(),
                            stride: self.geo.strides[d],
                            dilation: self.geo.dilations[d],
                            pad: self.geo.pads[d],
                            input: xshape[2 + d],
                            kernel: self.geo.kernel[d],
                            x_stride: xs[2 + d],
                            w_stride: ws[2 + d],
                        })
                        .collect();
                    walk_window(k, &dims, x_chan, w_chan, &mut |k, xi, wi| {
                        accumulate(k, acc, (self.x.buf, xi), (self.w.buf, wi), elem);
                    });
                });
                let at = (0..r).fold(image.clone() * ys[0] + oc.clone() * ys[1], |a, d| {
                    a + out[d].clone() * ys[2 + d]
                });
                let mut value = Expr::var(acc);
                if !self.fusion.is_empty() {
                    value = self.fusion.apply(k, value, at.clone(), oc.clone(), 1);
                }
                store_value(k, self.y.buf, elem, at, value);
            });
        });
    }

    /// ConvTranspose, gathering each output pixel's contributions.
    fn emit_transposed(&self, ctx: &LowerCtx, k: &mut KernelBuilder) -> Result<(), LowerError> {
        let r = self.rank();
        let elem = self.x.elem();
        let (xshape, yshape, wshape) = (self.x.shape(), self.y.shape(), self.w.shape());
        let (c, m) = (xshape[1], yshape[1]);
        if c != wshape[0] || c % self.group != 0 || wshape[1] * self.group != m {
            return Err(ctx.unsupported("channels do not match the groups"));
        }
        let (cg, mg) = (c / self.group, m / self.group);
        let (xs, ys, ws) = (strides(xshape), strides(yshape), strides(wshape));
        self.channels(k, mg, &mut |k, image, g, oc, ocg| {
            nest(k, &yshape[2..], &mut Vec::new(), &mut |k, out| {
                let init = self.initial(k, oc.clone());
                let acc = k.let_var("acc", Ty::scalar(compute_elem(elem)), init);
                k.for_range("c", 0, cg as i64, 1, |k, ic| {
                    let channel = g.clone() * cg as i64 + ic;
                    let x_chan = image.clone() * xs[0] + channel.clone() * xs[1];
                    let w_chan = channel * ws[0] + ocg.clone() * ws[1];
                    self.transposed_taps(k, 0, out, x_chan, w_chan, &(xs.clone(), ws.clone()), acc);
                });
                let at = (0..r).fold(image.clone() * ys[0] + oc.clone() * ys[1], |a, d| {
                    a + out[d].clone() * ys[2 + d]
                });
                store_value(k, self.y.buf, elem, at, Expr::var(acc));
            });
        });
        Ok(())
    }

    /// Kernel taps of dim `d` and inner ones that reach output `out`: input
    /// coordinate `(o + pad - k * dilation) / stride` when that divides exactly
    /// and lies in the input.
    #[allow(clippy::too_many_arguments)]
    fn transposed_taps(
        &self,
        k: &mut KernelBuilder,
        d: usize,
        out: &[Expr],
        x_offset: Expr,
        w_offset: Expr,
        strides: &(Vec<i64>, Vec<i64>),
        acc: VarId,
    ) {
        if d == self.rank() {
            accumulate(
                k,
                acc,
                (self.x.buf, x_offset),
                (self.w.buf, w_offset),
                self.x.elem(),
            );
            return;
        }
        let (xs, ws) = strides;
        let (s, dil, pad) = (self.geo.strides[d], self.geo.dilations[d], self.geo.pads[d]);
        let input = self.x.shape()[2 + d] as i64;
        k.for_range("kt", 0, self.geo.kernel[d] as i64, 1, |k, kd| {
            let t = out[d].clone() + pad - kd.clone() * dil;
            let t = Expr::var(k.let_var("t", Ty::INDEX, t));
            let reachable = t
                .clone()
                .ge(Expr::index(0))
                .binary(BinaryOp::And, t.clone().lt(Expr::index(input * s)));
            k.if_then(reachable, |k| {
                let inner = |k: &mut KernelBuilder| {
                    let i = Expr::var(k.let_var("ix", Ty::INDEX, t.clone() / s));
                    self.transposed_taps(
                        k,
                        d + 1,
                        out,
                        x_offset.clone() + i * xs[2 + d],
                        w_offset.clone() + kd.clone() * ws[2 + d],
                        strides,
                        acc,
                    );
                };
                if s == 1 {
                    inner(k);
                } else {
                    let divides = (t.clone() % s).compare(CompareOp::Eq, Expr::index(0));
                    k.if_then(divides, inner);
                }
            });
        });
    }
}

/// `acc += x[xi] * w[wi]` in the compute type.
fn accumulate(
    k: &mut KernelBuilder,
    acc: VarId,
    (x, xi): (BufId, Expr),
    (w, wi): (BufId, Expr),
    elem: ElemType,
) {
    let xv = load_value(k, x, elem, xi, 1);
    let xv = Expr::var(k.let_var("x", Ty::scalar(compute_elem(elem)), xv));
    let wv = load_value(k, w, elem, wi, 1);
    k.assign(acc, xv.fma(wv, Expr::var(acc)));
}

/// `for ow in lo..hi`, `lanes` at a time then one at a time:
/// `body(k, ow, lanes)`.
fn row_loop(
    k: &mut KernelBuilder,
    lo: i64,
    hi: i64,
    lanes: u8,
    body: &mut dyn FnMut(&mut KernelBuilder, Expr, u8),
) {
    let main = lo + (hi - lo) / lanes as i64 * lanes as i64;
    if lanes > 1 {
        k.for_range("ow", lo, main, lanes as i64, |k, ow| body(k, ow, lanes));
    }
    let start = if lanes > 1 { main } else { lo };
    k.for_range("ow", start, hi, 1, |k, ow| body(k, ow, 1));
}

/// Integer division rounding toward -inf / +inf by a positive divisor.
trait PositiveDiv {
    fn div_floor_pos(self, d: i64) -> i64;
    fn div_ceil_pos(self, d: i64) -> i64;
}

impl PositiveDiv for i64 {
    fn div_floor_pos(self, d: i64) -> i64 {
        self.div_euclid(d)
    }
    fn div_ceil_pos(self, d: i64) -> i64 {
        -(-self).div_euclid(d)
    }
}
