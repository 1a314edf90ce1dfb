//! x86_64's unit-stride 3 x 3 depthwise tiles with every tap unrolled, the
//! kernel rows too (`Depthwise::unrolls_kernel`).
//!
//! The input and weights are marked unchanging, so their loads are pure:
//! Cranelift issues each input load next to its FMA instead of all of a
//! body's loads first (which made an unrolled kernel spill), and hoists the
//! nine splatted weights out of the plane's loops. Each output vector sums
//! one short FMA chain per kernel row: Cranelift emits an output's whole
//! computation at once, so one 9-deep chain per output would be a latency
//! chain the next outputs wait behind; three 3-deep chains and two adds
//! overlap.

use nnc_ir::kernel::{ElemType, Expr, KernelBuilder, Ty};

use super::super::gemm::Epilogue;
use super::{Depthwise, Plane, Span};

/// Lanes of the splatted weights: f32x4, the vectors of 128-bit targets.
const WEIGHT_LANES: u8 = 4;

impl Depthwise<'_> {
    /// `rows` output rows from `row` by the vectors of `span` (unit stride,
    /// `span.keep == 1`), over kernel rows `taps.0` and columns `taps.1`,
    /// every tap inside the image.
    pub(super) fn emit_unrolled_tile(
        &self,
        k: &mut KernelBuilder,
        p: &Plane,
        (row, rows): (Expr, usize),
        span: Span,
        ((kh0, kh1), (kw0, kw1)): ((i64, i64), (i64, i64)),
        epi: Epilogue,
    ) {
        let (_, w, _, ow) = self.dims();
        let [dh, dw] = self.dilations;
        let [ph, pw] = self.pads;
        let kernel_w = self.kernel[1];
        let Span {
            col,
            vectors,
            lanes,
            ..
        } = span;
        let ty = Ty::vector(ElemType::F32, lanes);
        for r in 0..rows as i64 {
            let top = p.x.clone() + (row.clone() + r - ph) * w + col.clone() - pw;
            let top = Expr::var(k.let_var("xtop", Ty::INDEX, top));
            let mut sums: Vec<Option<Expr>> = vec![None; vectors];
            for th in kh0..kh1 {
                for (v, sum) in sums.iter_mut().enumerate() {
                    let mut part: Option<Expr> = None;
                    for tw in kw0..kw1 {
                        let at = p.w.clone() + (th * kernel_w + tw);
                        let wv = Expr::load(self.w.buf, at, Ty::F32);
                        // A scalar column (a border's) takes lane 0 of the
                        // vector tiles' splat, free on x86_64, where its own
                        // scalar weight would keep nine more registers live.
                        let wv = match lanes {
                            1 => wv.splat(WEIGHT_LANES).extract(0),
                            _ => wv.splat(lanes),
                        };
                        let at = top.clone() + (th * dh * w + tw * dw + v as i64 * lanes as i64);
                        let xv = Expr::load(self.x.buf, at, ty);
                        // The loaded input first: x86_64's FMA overwrites its
                        // first multiplicand, a fresh register here.
                        part = Some(match part {
                            None => xv * wv,
                            Some(s) => xv.fma(wv, s),
                        });
                    }
                    *sum = match (sum.take(), part) {
                        (Some(s), Some(part)) => Some(s + part),
                        (s, part) => s.or(part),
                    };
                }
            }
            let y_row = p.y.clone() + (row.clone() + r) * ow + col.clone();
            for (v, sum) in sums.into_iter().enumerate() {
                let sum = sum.unwrap_or_else(|| Expr::f32(0.0).splat(lanes));
                let sum = k.let_var("sum", ty, sum);
                let at = y_row.clone() + v as i64 * lanes as i64;
                let value = epi(k, Expr::var(sum), p.channel.clone(), at.clone(), lanes);
                k.store(self.y.buf, at, value);
            }
        }
    }
}
