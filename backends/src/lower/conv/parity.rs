//! Input rows split into their even and odd columns ("parities") in scratch
//! memory: a stride-2 read of a row becomes a stride-1 read of one half. The
//! Winograd transform reads its tiles' columns two apart this way, the
//! polyphase form its stride-2 taps.

use nnc_ir::kernel::{BufId, Expr, KernelBuilder, Ty};

use super::row_loop;

/// Copies the `w` columns of the input row at `from` (in `x`) into the
/// scratch row at `to` as its even columns (`half` elements) then its odd
/// ones: staged column `2q + parity` is input column `2q + parity - pad`.
/// Staged columns outside the input are not written (they keep their zeros).
/// The inputs are gathered lane by lane: the one place they are read two apart.
#[allow(clippy::too_many_arguments)]
pub(super) fn stage_row(
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
    for parity in 0..2 {
        let shift = parity - pad;
        let (q0, q1) = parity_range(half, w, shift);
        let row = to.clone() + parity * half;
        row_loop(k, q0, q1, lanes, &mut |k, q, n| {
            let column = |l: i64| from.clone() + (q.clone() + l) * 2 + shift;
            let value = if n == 1 {
                Expr::load(x, column(0), Ty::F32)
            } else {
                let lanes = (0..n as i64)
                    .map(|l| Expr::load(x, column(l), Ty::F32))
                    .collect();
                Expr::lanes(lanes)
            };
            k.store(scratch, q + row.clone(), value);
        });
    }
}

/// The elements `q` in `[0, half)` of a staged row's even or odd columns whose
/// input column `2q + shift` lies in `[0, w)` (empty as `(0, 0)`).
pub(super) fn parity_range(half: i64, w: i64, shift: i64) -> (i64, i64) {
    let q0 = ((-shift).max(0) + 1) / 2;
    let q1 = ((w - 1 - shift).div_euclid(2) + 1).min(half);
    if q0 < q1 { (q0, q1) } else { (0, 0) }
}
