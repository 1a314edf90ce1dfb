//! Lowering of data movement: every op here moves elements without computing on
//! them, so all dtypes share one path (f16 as its bits, bool as bytes).
//!
//! Most ops are a gather through an affine view of the output ([`ViewDim`]s):
//! Reshape, Transpose, Slice, Expand, Tile, Concat, Split, Pad and the
//! depth/space shuffles. Gather and GatherElements read indices from data
//! ([`gather`]); Shape, Size, ConstantOfShape and Range write values known at
//! compile time ([`constants`]).

mod constants;
mod gather;
#[cfg(test)]
mod tests;

use nnc_ir::Op;
use nnc_ir::kernel::{BufId, ElemType, Expr, Kernel, KernelBuilder};
use nnc_ir::ops::{DepthToSpace, Pad, PadMode, SpaceToDepth};

use super::copy_nest::{self, CopyNest, ViewDim, strides, view_nests};
use super::element_io::access_ty;
use super::signature::{Signature, kernel_name};
use super::{LowerCtx, LowerError};

pub(super) fn lower(ctx: &LowerCtx) -> Result<Kernel, LowerError> {
    let mut k = KernelBuilder::new(kernel_name(ctx));
    let sig = Signature::declare(ctx, &mut k);
    let mover = Mover {
        ctx,
        vector_bytes: ctx.target.vector_bytes,
    };
    match &ctx.node.op {
        Op::Reshape(_) => mover.reshape(&mut k, &sig)?,
        Op::Transpose(t) => mover.transpose(&mut k, &sig, &t.perm)?,
        Op::Concat(c) => mover.concat(&mut k, &sig, c.axis)?,
        Op::Split(s) => mover.split(&mut k, &sig, s.axis)?,
        Op::Slice(s) => mover.slice(&mut k, &sig, &s.ranges)?,
        Op::Expand(_) => mover.expand(&mut k, &sig)?,
        Op::Tile(t) => mover.tile(&mut k, &sig, &t.repeats)?,
        Op::Pad(p) => mover.pad(&mut k, &sig, p)?,
        Op::DepthToSpace(d) => mover.depth_to_space(&mut k, &sig, d)?,
        Op::SpaceToDepth(s) => mover.space_to_depth(&mut k, &sig, s)?,
        Op::Gather(g) => gather::gather(ctx, &mut k, &sig, g.axis)?,
        Op::GatherElements(g) => gather::gather_elements(ctx, &mut k, &sig, g.axis)?,
        Op::Shape(_) | Op::Size | Op::ConstantOfShape(_) | Op::Range => {
            constants::lower(ctx, &mut k, &sig)?
        }
        other => return Err(ctx.unsupported(format!("{} is not a movement op", other.name()))),
    }
    Ok(k.finish())
}

/// Emits view copies for one node.
struct Mover<'a> {
    ctx: &'a LowerCtx<'a>,
    vector_bytes: usize,
}

impl Mover<'_> {
    /// Copies `view` of `src` (from `src_base`) into `dst` (from `dst_base`).
    fn copy_view(
        &self,
        k: &mut KernelBuilder,
        view: &[ViewDim],
        (src, src_base): (BufId, i64),
        (dst, dst_base): (BufId, i64),
        elem: ElemType,
    ) -> Result<(), LowerError> {
        let nests = view_nests(view, src_base, dst_base).ok_or_else(|| {
            self.ctx.unsupported(format!(
                "the copy needs more than {} loop nests",
                copy_nest::MAX_NESTS
            ))
        })?;
        for nest in nests {
            nest.emit(k, src, dst, elem, self.vector_bytes);
        }
        Ok(())
    }

    fn reshape(&self, k: &mut KernelBuilder, sig: &Signature) -> Result<(), LowerError> {
        let (x, y) = (sig.input(self.ctx, 0)?, sig.output(self.ctx, 0)?);
        CopyNest::contiguous(Expr::index(0), Expr::index(0), y.len()).emit(
            k,
            x.buf,
            y.buf,
            x.elem(),
            self.vector_bytes,
        );
        Ok(())
    }

    fn transpose(
        &self,
        k: &mut KernelBuilder,
        sig: &Signature,
        perm: &[usize],
    ) -> Result<(), LowerError> {
        let (x, y) = (sig.input(self.ctx, 0)?, sig.output(self.ctx, 0)?);
        let (xs, ys) = (strides(x.shape()), strides(y.shape()));
        let view: Vec<ViewDim> = perm
            .iter()
            .zip(&ys)
            .map(|(&p, &dst)| ViewDim::affine(x.shape()[p], 0, xs[p], dst))
            .collect();
        self.copy_view(k, &view, (x.buf, 0), (y.buf, 0), x.elem())
    }

    fn concat(
        &self,
        k: &mut KernelBuilder,
        sig: &Signature,
        axis: usize,
    ) -> Result<(), LowerError> {
        let y = sig.output(self.ctx, 0)?;
        let ys = strides(y.shape());
        let mut offset = 0i64;
        for x in sig.inputs.iter().flatten() {
            let xs = strides(x.shape());
            let view: Vec<ViewDim> = (0..x.shape().len())
                .map(|d| ViewDim::affine(x.shape()[d], 0, xs[d], ys[d]))
                .collect();
            self.copy_view(k, &view, (x.buf, 0), (y.buf, offset * ys[axis]), x.elem())?;
            offset += x.shape()[axis] as i64;
        }
        Ok(())
    }

    fn split(&self, k: &mut KernelBuilder, sig: &Signature, axis: usize) -> Result<(), LowerError> {
        let x = sig.input(self.ctx, 0)?;
        let xs = strides(x.shape());
        let mut offset = 0i64;
        for y in &sig.outputs {
            let ys = strides(y.shape());
            let view: Vec<ViewDim> = (0..y.shape().len())
                .map(|d| ViewDim::affine(y.shape()[d], 0, xs[d], ys[d]))
                .collect();
            self.copy_view(k, &view, (x.buf, offset * xs[axis]), (y.buf, 0), x.elem())?;
            offset += y.shape()[axis] as i64;
        }
        Ok(())
    }

    fn slice(
        &self,
        k: &mut KernelBuilder,
        sig: &Signature,
        ranges: &[nnc_ir::ops::SliceRange],
    ) -> Result<(), LowerError> {
        let (x, y) = (sig.input(self.ctx, 0)?, sig.output(self.ctx, 0)?);
        let (xs, ys) = (strides(x.shape()), strides(y.shape()));
        let view: Vec<ViewDim> = ranges
            .iter()
            .enumerate()
            .map(|(d, r)| ViewDim::affine(r.len(), r.start * xs[d], r.step * xs[d], ys[d]))
            .collect();
        self.copy_view(k, &view, (x.buf, 0), (y.buf, 0), x.elem())
    }

    fn expand(&self, k: &mut KernelBuilder, sig: &Signature) -> Result<(), LowerError> {
        let (x, y) = (sig.input(self.ctx, 0)?, sig.output(self.ctx, 0)?);
        let (xs, ys) = (strides(x.shape()), strides(y.shape()));
        let lead = y.shape().len() - x.shape().len();
        let view: Vec<ViewDim> = y
            .shape()
            .iter()
            .enumerate()
            .map(|(d, &n)| {
                let step = match d.checked_sub(lead) {
                    Some(i) if x.shape()[i] != 1 => xs[i],
                    _ => 0,
                };
                ViewDim::affine(n, 0, step, ys[d])
            })
            .collect();
        self.copy_view(k, &view, (x.buf, 0), (y.buf, 0), x.elem())
    }

    /// Each output dim is (repeat, coordinate): the repeat moves the destination
    /// by a whole input dim and the source not at all.
    fn tile(
        &self,
        k: &mut KernelBuilder,
        sig: &Signature,
        repeats: &[usize],
    ) -> Result<(), LowerError> {
        let (x, y) = (sig.input(self.ctx, 0)?, sig.output(self.ctx, 0)?);
        let (xs, ys) = (strides(x.shape()), strides(y.shape()));
        let mut view = Vec::new();
        for (d, &r) in repeats.iter().enumerate() {
            let m = x.shape()[d];
            view.push(ViewDim::affine(r, 0, 0, m as i64 * ys[d]));
            view.push(ViewDim::affine(m, 0, xs[d], ys[d]));
        }
        self.copy_view(k, &view, (x.buf, 0), (y.buf, 0), x.elem())
    }

    fn pad(&self, k: &mut KernelBuilder, sig: &Signature, pad: &Pad) -> Result<(), LowerError> {
        let (x, y) = (sig.input(self.ctx, 0)?, sig.output(self.ctx, 0)?);
        let (xs, ys) = (strides(x.shape()), strides(y.shape()));
        let rank = x.shape().len();
        if pad.pads.len() != 2 * rank {
            return Err(self.ctx.unsupported("pads do not match the operand's rank"));
        }
        let dims: Vec<DimPad> = (0..rank)
            .map(|d| DimPad::new(x.shape()[d], pad.pads[d], pad.pads[rank + d]))
            .collect::<Option<_>>()
            .ok_or_else(|| self.ctx.unsupported("pads crop more than the operand"))?;
        if pad.mode != PadMode::Constant {
            if dims.iter().any(|p| p.kept() == 0) && y.len() > 0 {
                return Err(self.ctx.unsupported("cannot pad an empty dim in this mode"));
            }
            let view: Vec<ViewDim> = dims
                .iter()
                .enumerate()
                .map(|(d, p)| ViewDim {
                    src: (0..y.shape()[d])
                        .map(|o| p.source(pad.mode, o) as i64 * xs[d])
                        .collect(),
                    dst_stride: ys[d],
                })
                .collect();
            return self.copy_view(k, &view, (x.buf, 0), (y.buf, 0), x.elem());
        }
        let elem = x.elem();
        let value = match sig.optional(1) {
            Some(v) => Expr::load(v.buf, Expr::index(0), access_ty(elem, 1)),
            None => copy_nest::element_constant(elem, &[0; 8]),
        };
        copy_nest::fill(
            k,
            y.buf,
            elem,
            Expr::index(0),
            y.len(),
            value,
            self.vector_bytes,
        );
        let view: Vec<ViewDim> = dims
            .iter()
            .enumerate()
            .map(|(d, p)| ViewDim::affine(p.kept(), p.lo as i64 * xs[d], xs[d], ys[d]))
            .collect();
        let dst_base: i64 = dims
            .iter()
            .zip(&ys)
            .map(|(p, &s)| p.before as i64 * s)
            .sum();
        self.copy_view(k, &view, (x.buf, 0), (y.buf, dst_base), elem)
    }

    fn depth_to_space(
        &self,
        k: &mut KernelBuilder,
        sig: &Signature,
        op: &DepthToSpace,
    ) -> Result<(), LowerError> {
        let x = sig.input(self.ctx, 0)?;
        let [n, c, h, w] = nchw(self.ctx, x.shape())?;
        let b = op.blocksize;
        let oc = c / (b * b).max(1);
        let (view, perm) = if op.crd {
            ([n, oc, b, b, h, w], [0, 1, 4, 2, 5, 3])
        } else {
            ([n, b, b, oc, h, w], [0, 3, 4, 1, 5, 2])
        };
        self.shuffle(k, sig, &view, &perm)
    }

    fn space_to_depth(
        &self,
        k: &mut KernelBuilder,
        sig: &Signature,
        op: &SpaceToDepth,
    ) -> Result<(), LowerError> {
        let x = sig.input(self.ctx, 0)?;
        let [n, c, h, w] = nchw(self.ctx, x.shape())?;
        let b = op.blocksize.max(1);
        self.shuffle(k, sig, &[n, c, h / b, b, w / b, b], &[0, 3, 5, 1, 2, 4])
    }

    /// The output as the input's `view` with dims permuted by `perm`.
    fn shuffle(
        &self,
        k: &mut KernelBuilder,
        sig: &Signature,
        view: &[usize],
        perm: &[usize],
    ) -> Result<(), LowerError> {
        let (x, y) = (sig.input(self.ctx, 0)?, sig.output(self.ctx, 0)?);
        let vs = strides(view);
        let out_view: Vec<usize> = perm.iter().map(|&p| view[p]).collect();
        let os = strides(&out_view);
        let dims: Vec<ViewDim> = perm
            .iter()
            .zip(&os)
            .map(|(&p, &dst)| ViewDim::affine(view[p], 0, vs[p], dst))
            .collect();
        self.copy_view(k, &dims, (x.buf, 0), (y.buf, 0), x.elem())
    }
}

fn nchw(ctx: &LowerCtx, shape: &[usize]) -> Result<[usize; 4], LowerError> {
    match *shape {
        [n, c, h, w] => Ok([n, c, h, w]),
        _ => Err(ctx.unsupported(format!("needs a rank-4 operand, got {shape:?}"))),
    }
}

/// How Pad treats one dim (as the reference does): crop to `[lo, hi)`, then
/// `before` new coordinates (the output's length says how many come after).
struct DimPad {
    lo: usize,
    hi: usize,
    before: usize,
}

impl DimPad {
    fn new(dim: usize, begin: i64, end: i64) -> Option<DimPad> {
        let crop = |p: i64| usize::try_from(p.min(0).unsigned_abs()).ok();
        let lo = crop(begin)?;
        let hi = dim.checked_sub(crop(end)?).filter(|&hi| hi >= lo)?;
        Some(DimPad {
            lo,
            hi,
            before: usize::try_from(begin.max(0)).ok()?,
        })
    }

    fn kept(&self) -> usize {
        self.hi - self.lo
    }

    /// The input coordinate output coordinate `o` reads in a border mode.
    fn source(&self, mode: PadMode, o: usize) -> usize {
        let m = self.kept() as i64;
        let rel = o as i64 - self.before as i64;
        let inside = match mode {
            PadMode::Constant | PadMode::Edge => rel.clamp(0, m - 1),
            PadMode::Wrap => rel.rem_euclid(m),
            PadMode::Reflect if m == 1 => 0,
            PadMode::Reflect => {
                let period = 2 * (m - 1);
                let r = rel.rem_euclid(period);
                if r < m { r } else { period - r }
            }
        };
        self.lo + inside as usize
    }
}
