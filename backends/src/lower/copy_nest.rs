//! Data movement as loop nests of affine copies: the one primitive behind
//! Reshape, Transpose, Slice, Concat, Split, Expand, Tile, Pad and the
//! depth/space shuffles.
//!
//! An op describes its output as a (possibly finer) view: per view dim, the
//! source offset each coordinate reads and the destination stride. Each dim's
//! table is cut into runs of constant step, the runs of all dims are combined
//! into nests, and each nest is emitted as loops whose innermost contiguous run
//! moves 16-byte vectors of the element's (integer or float) type, then a scalar
//! tail. Values are never computed on, so every dtype moves the same way.

use nnc_ir::kernel::{BufId, ElemType, Expr, KernelBuilder};

use super::element_io::{access_ty, copy_lanes};

/// Nests a single op may expand into before its lowering gives up (each is a
/// loop nest in the code).
pub(super) const MAX_NESTS: usize = 4096;

/// One loop of a copy: `extent` iterations stepping the source by `src` and the
/// destination by `dst` elements.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Axis {
    pub extent: usize,
    pub src: i64,
    pub dst: i64,
}

/// An affine copy: for every point of the axes, `dst[dst_base + Σ i·dst] =
/// src[src_base + Σ i·src]`.
#[derive(Clone, Debug)]
pub(super) struct CopyNest {
    pub src_base: Expr,
    pub dst_base: Expr,
    pub axes: Vec<Axis>,
}

/// One dim of an output view: the source offset of each coordinate, and the
/// destination stride of the dim.
#[derive(Clone, Debug)]
pub(super) struct ViewDim {
    pub src: Vec<i64>,
    pub dst_stride: i64,
}

impl ViewDim {
    /// `extent` coordinates reading `start, start + step, ..`.
    pub fn affine(extent: usize, start: i64, step: i64, dst_stride: i64) -> ViewDim {
        ViewDim {
            src: (0..extent as i64).map(|i| start + i * step).collect(),
            dst_stride,
        }
    }
}

/// A run of a dim: `len` coordinates from `first`, reading `src_start + i·step`.
struct Run {
    first: usize,
    len: usize,
    src_start: i64,
    step: i64,
}

/// Cuts a table of source offsets into maximal runs of constant step.
fn runs(table: &[i64]) -> Vec<Run> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < table.len() {
        let step = if i + 1 < table.len() {
            table[i + 1] - table[i]
        } else {
            0
        };
        let mut j = i + 1;
        while j < table.len() && table[j] - table[j - 1] == step {
            j += 1;
        }
        out.push(Run {
            first: i,
            len: j - i,
            src_start: table[i],
            step,
        });
        i = j;
    }
    out
}

/// The nests copying `view` (dims outermost first) from `src_base` to
/// `dst_base`, or `None` when they would be more than [`MAX_NESTS`].
pub(super) fn view_nests(view: &[ViewDim], src_base: i64, dst_base: i64) -> Option<Vec<CopyNest>> {
    if view.iter().any(|d| d.src.is_empty()) {
        return Some(Vec::new());
    }
    let mut nests = vec![(src_base, dst_base, Vec::new())];
    for dim in view {
        let dim_runs = runs(&dim.src);
        if nests.len() * dim_runs.len() > MAX_NESTS {
            return None;
        }
        let mut next = Vec::with_capacity(nests.len() * dim_runs.len());
        for (s, d, axes) in &nests {
            for run in &dim_runs {
                let mut axes: Vec<Axis> = axes.clone();
                axes.push(Axis {
                    extent: run.len,
                    src: run.step,
                    dst: dim.dst_stride,
                });
                next.push((
                    s + run.src_start,
                    d + run.first as i64 * dim.dst_stride,
                    axes,
                ));
            }
        }
        nests = next;
    }
    Some(
        nests
            .into_iter()
            .map(|(s, d, axes)| CopyNest {
                src_base: Expr::index(s),
                dst_base: Expr::index(d),
                axes,
            })
            .collect(),
    )
}

/// Row-major strides of `shape`, as i64.
pub(super) fn strides(shape: &[usize]) -> Vec<i64> {
    let mut out = vec![1i64; shape.len()];
    for d in (0..shape.len().saturating_sub(1)).rev() {
        out[d] = out[d + 1] * shape[d + 1] as i64;
    }
    out
}

impl CopyNest {
    /// A contiguous copy of `len` elements.
    pub fn contiguous(src_base: Expr, dst_base: Expr, len: usize) -> CopyNest {
        CopyNest {
            src_base,
            dst_base,
            axes: vec![Axis {
                extent: len,
                src: 1,
                dst: 1,
            }],
        }
    }

    /// Drops single-iteration axes and merges neighbours that walk both buffers
    /// as one longer axis, so that contiguous rows become as long as they can.
    fn simplified(&self) -> Vec<Axis> {
        let mut out: Vec<Axis> = Vec::new();
        for &axis in self.axes.iter().filter(|a| a.extent != 1) {
            if let Some(last) = out.last_mut()
                && last.src == axis.src * axis.extent as i64
                && last.dst == axis.dst * axis.extent as i64
            {
                last.extent *= axis.extent;
                last.src = axis.src;
                last.dst = axis.dst;
                continue;
            }
            out.push(axis);
        }
        out
    }

    /// Emits the copy from `src` to `dst`, both of element type `elem`.
    pub fn emit(
        &self,
        k: &mut KernelBuilder,
        src: BufId,
        dst: BufId,
        elem: ElemType,
        vector_bytes: usize,
    ) {
        let axes = self.simplified();
        if axes.iter().any(|a| a.extent == 0) {
            return;
        }
        let lanes = copy_lanes(elem, vector_bytes);
        let copy = |k: &mut KernelBuilder, s, d, n| {
            k.store(dst, d, Expr::load(src, s, access_ty(elem, n)));
        };
        if let Some((outer, pair)) = transposed_pair(&axes, lanes) {
            emit_outer(
                k,
                outer,
                self.src_base.clone(),
                self.dst_base.clone(),
                &|k, s, d| {
                    emit_transposed(k, pair, (src, s), (dst, d), elem, &copy);
                },
            );
            return;
        }
        emit_axes(
            k,
            &axes,
            self.src_base.clone(),
            self.dst_base.clone(),
            &copy,
            lanes,
        );
    }
}

/// Lanes of the blocks a transposed pair of axes moves in (4 x 4, through
/// two rounds of two-vector shuffles).
const BLOCK: usize = 4;

/// The axes around and the last two axes, when those two transpose the
/// buffers (the last walks the destination, the one before the source, each
/// at unit step) over at least a [`BLOCK`] each, with vectors of [`BLOCK`]
/// lanes: the copy then moves blocks of vectors, where it would otherwise
/// move one element at a time (ConvNeXt's patch products back to NCHW).
fn transposed_pair(axes: &[Axis], lanes: u8) -> Option<(&[Axis], [Axis; 2])> {
    let [outer @ .., a, b] = axes else {
        return None;
    };
    (lanes as usize == BLOCK
        && a.src == 1
        && b.dst == 1
        && a.dst != 1
        && b.src != 1
        && a.extent >= BLOCK
        && b.extent >= BLOCK)
        .then_some((outer, [*a, *b]))
}

/// Loops over `axes` around `body(k, src_index, dst_index)`.
fn emit_outer(
    k: &mut KernelBuilder,
    axes: &[Axis],
    src: Expr,
    dst: Expr,
    body: &dyn Fn(&mut KernelBuilder, Expr, Expr),
) {
    let Some((axis, rest)) = axes.split_first() else {
        body(k, src, dst);
        return;
    };
    k.for_range("i", 0, axis.extent as i64, 1, |k, i| {
        let (s, d) = (
            src.clone() + i.clone() * axis.src,
            dst.clone() + i * axis.dst,
        );
        emit_outer(k, rest, s, d, body);
    });
}

/// The transposed pair `[a, b]` (see [`transposed_pair`]) from `src` to `dst`:
/// blocks of [`BLOCK`] x [`BLOCK`], a vector of the source per `b` index
/// transposed into a vector of the destination per `a` index, then the
/// edges element by element (`copy(k, src_index, dst_index, 1)`).
fn emit_transposed(
    k: &mut KernelBuilder,
    [a, b]: [Axis; 2],
    (src, s): (BufId, Expr),
    (dst, d): (BufId, Expr),
    elem: ElemType,
    copy: &dyn Fn(&mut KernelBuilder, Expr, Expr, u8),
) {
    let n = BLOCK as i64;
    let ty = access_ty(elem, BLOCK as u8);
    let (a_main, b_main) = (a.extent as i64 / n * n, b.extent as i64 / n * n);
    k.for_range("ta", 0, a_main, n, |k, i| {
        k.for_range("tb", 0, b_main, n, |k, j| {
            let at = s.clone() + i.clone() + j.clone() * b.src;
            let rows: Vec<Expr> = (0..n)
                .map(|r| {
                    Expr::var(k.let_var("row", ty, Expr::load(src, at.clone() + r * b.src, ty)))
                })
                .collect();
            // Lanes `l0, l0 + 1` of `x` and `y`, interleaved or as halves.
            let mut pick = |x: &Expr, y: &Expr, picks: [(bool, u8); 4]| {
                let lanes = picks
                    .iter()
                    .map(|&(second, l)| if second { y } else { x }.clone().extract(l))
                    .collect();
                Expr::var(k.let_var("half", ty, Expr::lanes(lanes)))
            };
            let interleave = |l: u8| [(false, l), (true, l), (false, l + 1), (true, l + 1)];
            let (lo01, hi01) = (
                pick(&rows[0], &rows[1], interleave(0)),
                pick(&rows[0], &rows[1], interleave(2)),
            );
            let (lo23, hi23) = (
                pick(&rows[2], &rows[3], interleave(0)),
                pick(&rows[2], &rows[3], interleave(2)),
            );
            let halves = |l: u8| [(false, l), (false, l + 1), (true, l), (true, l + 1)];
            let columns = [
                pick(&lo01, &lo23, halves(0)),
                pick(&lo01, &lo23, halves(2)),
                pick(&hi01, &hi23, halves(0)),
                pick(&hi01, &hi23, halves(2)),
            ];
            let to = d.clone() + i * a.dst + j;
            for (c, column) in columns.into_iter().enumerate() {
                k.store(dst, to.clone() + c as i64 * a.dst, column);
            }
        });
    });
    // The edges: the last `b` indices of the blocked `a` ones, then the last
    // `a` indices whole.
    let edges = [
        (0, a_main as usize, b_main, b.extent - b_main as usize),
        (a_main, a.extent - a_main as usize, 0, b.extent),
    ];
    for (a0, a_len, b0, b_len) in edges {
        let axes = [Axis { extent: a_len, ..a }, Axis { extent: b_len, ..b }];
        if a_len > 0 && b_len > 0 {
            let (s0, d0) = (s.clone() + a0 + b0 * b.src, d.clone() + a0 * a.dst + b0);
            emit_axes(k, &axes, s0, d0, copy, 1);
        }
    }
}

/// Emits loops over `axes` (outermost first); the innermost axis, when it has
/// unit steps on both sides, moves `lanes` elements at a time then a scalar
/// tail. `body(k, src_index, dst_index, lanes)` writes one access.
pub(super) fn emit_axes(
    k: &mut KernelBuilder,
    axes: &[Axis],
    src: Expr,
    dst: Expr,
    body: &dyn Fn(&mut KernelBuilder, Expr, Expr, u8),
    lanes: u8,
) {
    let Some((axis, rest)) = axes.split_first() else {
        body(k, src, dst, 1);
        return;
    };
    if rest.is_empty() && axis.src == 1 && axis.dst == 1 && lanes > 1 {
        let n = axis.extent as i64;
        let l = lanes as i64;
        let main = n - n % l;
        // Runs of a few accesses are written out: a patch-splitting
        // Transpose (ConvNeXt's 2 x 2 downsampling) copies runs of two
        // elements, where a loop around them cost more than the copies.
        if main / l + (n - main) <= SHORT_RUN {
            for i in (0..main).step_by(lanes as usize) {
                body(k, src.clone() + i, dst.clone() + i, lanes);
            }
            for i in main..n {
                body(k, src.clone() + i, dst.clone() + i, 1);
            }
            return;
        }
        k.for_range("v", 0, main, l, |k, i| {
            body(k, src.clone() + i.clone(), dst.clone() + i, lanes);
        });
        k.for_range("t", main, n, 1, |k, i| {
            body(k, src.clone() + i.clone(), dst.clone() + i, 1);
        });
        return;
    }
    k.for_range("i", 0, axis.extent as i64, 1, |k, i| {
        emit_axes(
            k,
            rest,
            src.clone() + i.clone() * axis.src,
            dst.clone() + i * axis.dst,
            body,
            lanes,
        );
    });
}

/// Accesses of a contiguous run written out rather than looped over.
const SHORT_RUN: i64 = 4;

/// Stores `value` (a scalar of the access type of `elem`, evaluated once into a
/// local) into `len` elements of `dst` from `base`, vectors first.
pub(super) fn fill(
    k: &mut KernelBuilder,
    dst: BufId,
    elem: ElemType,
    base: Expr,
    len: usize,
    value: Expr,
    vector_bytes: usize,
) {
    if len == 0 {
        return;
    }
    let scalar_ty = access_ty(elem, 1);
    let v = k.let_var("fill", scalar_ty, value);
    let lanes = copy_lanes(elem, vector_bytes);
    let axes = [Axis {
        extent: len,
        src: 1,
        dst: 1,
    }];
    let vector = if lanes > 1 {
        Some(k.let_var("fillv", access_ty(elem, lanes), Expr::var(v).splat(lanes)))
    } else {
        None
    };
    emit_axes(
        k,
        &axes,
        Expr::index(0),
        base,
        &|k, _, d, n| {
            let value = match (n, vector) {
                (1, _) | (_, None) => Expr::var(v),
                (_, Some(vec)) => Expr::var(vec),
            };
            k.store(dst, d, value);
        },
        lanes,
    );
}

/// A scalar constant of the access type of `elem` holding the little-endian
/// `bytes` of one element.
pub(super) fn element_constant(elem: ElemType, bytes: &[u8]) -> Expr {
    let mut raw = [0u8; 8];
    raw[..bytes.len().min(8)].copy_from_slice(&bytes[..bytes.len().min(8)]);
    let bits = u64::from_le_bytes(raw);
    match elem {
        ElemType::F32 => Expr::f32(f32::from_bits(bits as u32)),
        ElemType::F64 => Expr::f64(f64::from_bits(bits)),
        ElemType::F16 => Expr::int(bits as u16 as i64, ElemType::U16),
        ElemType::Bool => Expr::int((bits & 0xff != 0) as i64, ElemType::Bool),
        ElemType::I8 => Expr::int(bits as u8 as i8 as i64, elem),
        ElemType::I16 => Expr::int(bits as u16 as i16 as i64, elem),
        ElemType::I32 => Expr::int(bits as u32 as i32 as i64, elem),
        ElemType::U8 | ElemType::U16 | ElemType::U32 => Expr::int(bits as i64, elem),
        ElemType::I64 | ElemType::U64 => Expr::int(bits as i64, elem),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_follow_constant_steps() {
        let r = runs(&[0, 1, 2, 5, 4, 3, 3]);
        let got: Vec<(usize, usize, i64, i64)> = r
            .iter()
            .map(|r| (r.first, r.len, r.src_start, r.step))
            .collect();
        assert_eq!(got, vec![(0, 3, 0, 1), (3, 3, 5, -1), (6, 1, 3, 0)]);
    }

    #[test]
    fn contiguous_axes_merge() {
        let nest = CopyNest {
            src_base: Expr::index(0),
            dst_base: Expr::index(0),
            axes: vec![
                Axis {
                    extent: 2,
                    src: 12,
                    dst: 12,
                },
                Axis {
                    extent: 1,
                    src: 4,
                    dst: 4,
                },
                Axis {
                    extent: 3,
                    src: 4,
                    dst: 4,
                },
                Axis {
                    extent: 4,
                    src: 1,
                    dst: 1,
                },
            ],
        };
        assert_eq!(
            nest.simplified(),
            vec![Axis {
                extent: 24,
                src: 1,
                dst: 1
            }]
        );
    }
}
