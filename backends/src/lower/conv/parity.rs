//! Input rows split into their even and odd columns ("parities") in scratch
//! memory: a stride-2 read of a row becomes a stride-1 read of one half. The
//! Winograd transform reads its tiles' columns two apart this way, the
//! polyphase form and the stride-2 depthwise and stem forms their stride-2
//! taps.

use nnc_ir::kernel::{BufId, ElemType, Expr, KernelBuilder, Ty};

/// Copies the `w` columns of the input row at `from` (in `x`) into the
/// scratch row at `to` as its even columns (`half` elements) then its odd
/// ones: staged column `2q + parity` is input column `2q + parity - pad`.
/// Staged columns outside the input are not written (they keep their zeros).
///
/// Where both input vectors lie inside the row, `lanes` elements of each half
/// come from two vector loads, as the even and the odd lanes of the pair: one
/// shuffle each (`Expr::Lanes` of `Expr::Extract`s, see
/// `cranelift::lane_picks`). The columns at the row's ends are copied one by
/// one.
#[allow(clippy::too_many_arguments)]
pub(in crate::lower) fn stage_row(
    k: &mut KernelBuilder,
    lanes: u8,
    x: BufId,
    from: &Expr,
    w: i64,
    pad: i64,
    scratch: BufId,
    to: &Expr,
    half: i64,
) {
    let l = lanes as i64;
    // A block at `q` reads input columns `[2q - pad, 2q - pad + 2l)`: the
    // first whose columns are all >= 0, the last whose are all < w.
    let first = pad.max(0).div_euclid(2) + pad.max(0).rem_euclid(2);
    let last = (w + pad - 2 * l).div_euclid(2).min(half - l);
    let blocks = if lanes > 1 && last >= first {
        (last - first) / l + 1
    } else {
        0
    };
    let vector = Ty::vector(ElemType::F32, lanes);
    let block = |k: &mut KernelBuilder, q: Expr| {
        let at = from.clone() + q.clone() * 2 - pad;
        let a = k.let_var("lo", vector, Expr::load(x, at.clone(), vector));
        let b = k.let_var("hi", vector, Expr::load(x, at + l, vector));
        for parity in 0..2 {
            let picks = (0..l)
                .map(|i| {
                    let lane = 2 * i + parity;
                    let source = if lane < l { a } else { b };
                    Expr::var(source).extract((lane % l) as u8)
                })
                .collect();
            k.store(
                scratch,
                to.clone() + parity * half + q.clone(),
                Expr::lanes(picks),
            );
        }
    };
    let end = first + blocks * l;
    if blocks > 1 {
        k.for_range("q", first, end, l, block);
    } else if blocks == 1 {
        block(k, Expr::index(first));
    }
    let (ends, rest) = if blocks > 0 {
        (first, end)
    } else {
        (half, half)
    };
    for q in (0..ends).chain(rest..half) {
        for parity in 0..2 {
            let column = 2 * q + parity - pad;
            if (0..w).contains(&column) {
                let value = Expr::load(x, from.clone() + column, Ty::F32);
                k.store(scratch, to.clone() + (parity * half + q), value);
            }
        }
    }
}

/// The elements `q` in `[0, half)` of a staged row's even or odd columns whose
/// input column `2q + shift` lies in `[0, w)` (empty as `(0, 0)`).
pub(super) fn parity_range(half: i64, w: i64, shift: i64) -> (i64, i64) {
    let q0 = ((-shift).max(0) + 1) / 2;
    let q1 = ((w - 1 - shift).div_euclid(2) + 1).min(half);
    if q0 < q1 { (q0, q1) } else { (0, 0) }
}
