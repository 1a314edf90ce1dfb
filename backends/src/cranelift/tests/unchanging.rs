//! Loads of unchanging buffers (`Buffer::unchanging`), which Cranelift may
//! move, hoist out of loops and merge: the results must not change.

use nnc_ir::DType;
use nnc_ir::kernel::{ElemType, Expr, KernelBuilder, Program, Ty};

use super::{bytes_of, check_program, full, io, single_kernel};

/// Rows of a 3-tap stencil, fully unrolled, with its taps' weights loaded at
/// every output (invariant: hoisted) and the input loaded twice at the same
/// address (merged): `y[r][i] = sum_t w[t] * x[r + t][i + t]`, then the same
/// rows again read back from `y` through ordinary loads.
fn stencil_program() -> Program {
    const ROWS: i64 = 4;
    const WIDTH: i64 = 16;
    let f32x4 = full(ElemType::F32);
    let mut k = KernelBuilder::new("stencil");
    let x = k.buffer(
        "x",
        ElemType::F32,
        ((ROWS + 2) * (WIDTH + 2)) as usize,
        false,
    );
    let w = k.buffer("w", ElemType::F32, 3, false);
    let y = k.buffer("y", ElemType::F32, (2 * ROWS * WIDTH) as usize, true);
    k.mark_unchanging(x);
    k.mark_unchanging(w);
    k.for_range("r", 0, ROWS, 1, |k, r| {
        k.for_range("i", 0, WIDTH, 4, |k, i| {
            let acc = k.let_var("acc", f32x4, Expr::f32(0.0).splat(4));
            for t in 0..3 {
                let at = (r.clone() + t) * (WIDTH + 2) + i.clone() + t;
                let wv = Expr::load(w, Expr::index(t), Ty::F32).splat(4);
                let xv = Expr::load(x, at.clone(), f32x4);
                let again = Expr::load(x, at, f32x4);
                k.assign(
                    acc,
                    xv.fma(wv, Expr::var(acc)) + again * Expr::f32(0.5).splat(4),
                );
            }
            k.store(y, r.clone() * WIDTH + i.clone(), Expr::var(acc));
        });
    });
    // The written rows read back (not unchanging): loads stay after stores.
    k.for_range("j", 0, ROWS * WIDTH, 4, |k, j| {
        let v = Expr::load(y, j.clone(), f32x4);
        k.store(y, j + ROWS * WIDTH, v * Expr::f32(2.0).splat(4));
    });
    single_kernel(
        "stencil",
        vec![
            io("x", DType::F32, &[((ROWS + 2) * (WIDTH + 2)) as usize]),
            io("w", DType::F32, &[3]),
        ],
        vec![io("y", DType::F32, &[(2 * ROWS * WIDTH) as usize])],
        k.finish(),
    )
}

#[test]
fn unchanging_loads_keep_their_values() {
    let x: Vec<f32> = (0..6 * 18).map(|i| (i % 23) as f32 * 0.25 - 2.0).collect();
    let w = [0.5f32, -1.25, 2.0];
    check_program(&stencil_program(), &[bytes_of(&x), bytes_of(&w)]);
}
