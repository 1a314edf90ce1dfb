use super::{BoundsError, check};
use crate::kernel::{BinaryOp, ElemType, Expr, Kernel, KernelBuilder, Ty};

const F32X4: Ty = Ty::vector(ElemType::F32, 4);

fn relu(len: usize, end: i64) -> Kernel {
    let mut k = KernelBuilder::new("relu");
    let x = k.buffer("x", ElemType::F32, len, false);
    let y = k.buffer("y", ElemType::F32, len, true);
    k.for_range("i", 0, end, 4, |k, i| {
        let v = Expr::load(x, i.clone(), F32X4);
        k.store(y, i, v.max(Expr::f32(0.0).splat(4)));
    });
    k.finish()
}

fn fails_with(kernel: &Kernel, needles: &[&str]) {
    let err = check(kernel).expect_err("bounds must not prove");
    let text = err.to_string();
    assert!(matches!(err, BoundsError::OutOfBounds { .. }), "{text}");
    for needle in needles {
        assert!(text.contains(needle), "`{needle}` not in: {text}");
    }
}

#[test]
fn relu_proves() {
    check(&relu(64, 64)).unwrap();
}

#[test]
fn a_partial_last_vector_fails() {
    // 0..62 step 4 reaches i = 60: elements 60..63 of 62.
    fails_with(
        &relu(62, 62),
        &[
            "load `x[i x4]`",
            "elements [0, 63]",
            "index in [0, 60], 4 lane(s)",
            "`x` of 62 elements",
            "inside `for i in 0..62 step 4`",
        ],
    );
}

#[test]
fn an_off_by_one_store_fails() {
    let mut k = KernelBuilder::new("copy");
    let x = k.buffer("x", ElemType::F32, 16, false);
    let y = k.buffer("y", ElemType::F32, 16, true);
    k.for_range("i", 0, 16, 1, |k, i| {
        k.store(y, i.clone() + 1, Expr::load(x, i, Ty::F32));
    });
    fails_with(
        &k.finish(),
        &[
            "store `y[(i + 1)]`",
            "elements [1, 16]",
            "`y` of 16 elements",
        ],
    );
}

fn gather(clamp: bool) -> Kernel {
    let mut k = KernelBuilder::new("gather");
    let data = k.buffer("data", ElemType::F32, 10, false);
    let idx = k.buffer("idx", ElemType::I32, 5, false);
    let out = k.buffer("out", ElemType::F32, 5, true);
    k.for_range("i", 0, 5, 1, |k, i| {
        let raw = Expr::load(idx, i.clone(), Ty::scalar(ElemType::I32)).convert(ElemType::I64);
        // Negative indices count from the end.
        let wrapped = raw.clone().lt(Expr::index(0)).select(raw.clone() + 10, raw);
        let at = if clamp {
            wrapped.clamp_index(10)
        } else {
            wrapped
        };
        let j = k.let_var("j", Ty::INDEX, at);
        k.store(out, i, Expr::load(data, Expr::var(j), Ty::F32));
    });
    k.finish()
}

#[test]
fn a_clamped_gather_proves_and_an_unclamped_one_fails() {
    check(&gather(true)).unwrap();
    fails_with(
        &gather(false),
        &[
            "load `data[j]`",
            "index in [-2147483638, 2147483647]",
            "`data` of 10 elements",
        ],
    );
}

#[test]
fn a_gather_that_fails_on_bad_indices_proves() {
    let mut k = KernelBuilder::new("gather");
    let data = k.buffer("data", ElemType::F32, 10, false);
    let idx = k.buffer("idx", ElemType::I64, 5, false);
    let out = k.buffer("out", ElemType::F32, 5, true);
    k.for_range("i", 0, 5, 1, |k, i| {
        let j = k.let_var("j", Ty::INDEX, Expr::load(idx, i.clone(), Ty::INDEX));
        let bad = Expr::var(j)
            .lt(Expr::index(0))
            .binary(BinaryOp::Or, Expr::var(j).ge(Expr::index(10)));
        k.if_then(bad, |k| k.fail(2));
        k.store(out, i, Expr::load(data, Expr::var(j), Ty::F32));
    });
    check(&k.finish()).unwrap();
}

/// A 3x3 convolution of one `h x w` channel with padding 1, stride 1; the row
/// guard is on a variable or on the expression itself.
fn padded_conv(h: i64, w: i64, guard_var: bool, guard: bool) -> Kernel {
    let mut k = KernelBuilder::new("conv");
    let x = k.buffer("x", ElemType::F32, (h * w) as usize, false);
    let wt = k.buffer("w", ElemType::F32, 9, false);
    let y = k.buffer("y", ElemType::F32, (h * w) as usize, true);
    k.for_range("oh", 0, h, 1, |k, oh| {
        k.for_range("ow", 0, w, 1, |k, ow| {
            let acc = k.let_var("acc", Ty::F32, Expr::f32(0.0));
            k.for_range("kh", 0, 3, 1, |k, kh| {
                k.for_range("kw", 0, 3, 1, |k, kw| {
                    let ih_expr = oh.clone() + kh.clone() - 1;
                    let ih = if guard_var {
                        Expr::var(k.let_var("ih", Ty::INDEX, ih_expr))
                    } else {
                        ih_expr
                    };
                    let iw = k.let_var("iw", Ty::INDEX, ow.clone() + kw.clone() - 1);
                    let iw = Expr::var(iw);
                    let inside = ih
                        .clone()
                        .ge(Expr::index(0))
                        .binary(BinaryOp::And, ih.clone().lt(Expr::index(h)))
                        .binary(BinaryOp::And, iw.clone().ge(Expr::index(0)))
                        .binary(BinaryOp::And, iw.clone().lt(Expr::index(w)));
                    let inside = if guard {
                        inside
                    } else {
                        iw.clone().ge(Expr::index(0))
                    };
                    k.if_then(inside, |k| {
                        let v = Expr::load(x, ih * w + iw, Ty::F32);
                        let wv = Expr::load(wt, kh.clone() * 3 + kw.clone(), Ty::F32);
                        k.assign(acc, v.fma(wv, Expr::var(acc)));
                    });
                });
            });
            k.store(y, oh.clone() * w + ow.clone(), Expr::var(acc));
        });
    });
    k.finish()
}

#[test]
fn a_padded_convolution_proves_under_its_guard() {
    check(&padded_conv(5, 7, true, true)).unwrap();
    check(&padded_conv(5, 7, false, true)).unwrap();
    fails_with(
        &padded_conv(5, 7, true, false),
        &["load `x[((ih * 7) + iw)]`"],
    );
}

#[test]
fn indices_computed_from_counters_prove() {
    let mut k = KernelBuilder::new("pairs");
    let x = k.buffer("x", ElemType::F32, 8, false);
    let y = k.buffer("y", ElemType::F32, 16, true);
    k.for_range("i", 0, 16, 1, |k, i| {
        let half = k.let_var("half", Ty::INDEX, i.clone() / 2);
        let v = Expr::load(x, Expr::var(half), Ty::F32);
        let w = Expr::load(x, (i.clone() + 3) % 8, Ty::F32);
        let z = Expr::load(
            x,
            i.clone()
                .lt(Expr::index(8))
                .select(i.clone(), Expr::index(7)),
            Ty::F32,
        );
        k.store(y, i, v + w + z);
    });
    check(&k.finish()).unwrap();
}

#[test]
fn a_guard_on_a_shifted_counter_narrows_the_counter() {
    // Vector body while i + 4 <= 10, scalar tail otherwise.
    let mut k = KernelBuilder::new("tail");
    let x = k.buffer("x", ElemType::F32, 10, false);
    let y = k.buffer("y", ElemType::F32, 10, true);
    k.for_range("i", 0, 10, 4, |k, i| {
        k.if_else(
            (i.clone() + 4).compare(crate::kernel::CompareOp::Le, Expr::index(10)),
            |k| k.store(y, i.clone(), Expr::load(x, i.clone(), F32X4)),
            |k| {
                k.for_range("t", 0, 4, 1, |k, t| {
                    let at = i.clone() + t;
                    k.if_then(at.clone().lt(Expr::index(10)), |k| {
                        k.store(y, at.clone(), Expr::load(x, at.clone(), Ty::F32));
                    });
                });
            },
        );
    });
    check(&k.finish()).unwrap();
}

#[test]
fn running_counters_are_widened() {
    let mut k = KernelBuilder::new("counter");
    let y = k.buffer("y", ElemType::F32, 8, true);
    let n = k.let_var("n", Ty::INDEX, Expr::index(0));
    k.for_range("i", 0, 8, 1, |k, _| {
        k.store(y, Expr::var(n), Expr::f32(1.0));
        k.assign(n, Expr::var(n) + 1);
    });
    fails_with(&k.finish(), &["store `y[n]`", "`y` of 8 elements"]);
}

#[test]
fn loop_carried_values_reach_a_fixpoint() {
    // `j` alternates between two values; both stay in bounds.
    let mut k = KernelBuilder::new("toggle");
    let y = k.buffer("y", ElemType::F32, 2, true);
    let j = k.let_var("j", Ty::INDEX, Expr::index(0));
    k.for_range("i", 0, 100, 1, |k, _| {
        k.store(y, Expr::var(j), Expr::f32(1.0));
        k.assign(j, Expr::index(1) - Expr::var(j));
    });
    check(&k.finish()).unwrap();
}

#[test]
fn code_that_never_runs_is_not_checked() {
    let mut k = KernelBuilder::new("dead");
    let y = k.buffer("y", ElemType::F32, 4, true);
    k.for_range("i", 0, 4, 1, |k, i| {
        k.if_then(i.clone().ge(Expr::index(4)), |k| {
            k.store(y, i.clone(), Expr::f32(0.0))
        });
        k.if_then(i.clone().lt(Expr::index(4)), |k| {
            k.store(y, i.clone(), Expr::f32(0.0))
        });
    });
    k.fail(1);
    k.store(y, Expr::index(100), Expr::f32(0.0));
    check(&k.finish()).unwrap();
}

#[test]
fn wrapping_index_arithmetic_does_not_prove() {
    // i32 arithmetic that may wrap is the whole i32 range.
    let mut k = KernelBuilder::new("wrap");
    let x = k.buffer("x", ElemType::F32, 4, false);
    let y = k.buffer("y", ElemType::F32, 1, true);
    let big = Expr::int(i32::MAX as i64, ElemType::I32);
    let at = (big + Expr::int(1, ElemType::I32)).convert(ElemType::I64) + 0;
    k.store(
        y,
        Expr::index(0),
        Expr::load(x, at.min(Expr::index(3)), Ty::F32),
    );
    fails_with(&k.finish(), &["index in [-2147483648, 3]"]);
}

#[test]
fn invalid_kernels_are_refused() {
    let mut k = KernelBuilder::new("bad");
    let y = k.buffer("y", ElemType::F32, 4, false);
    k.store(y, Expr::index(0), Expr::f32(0.0));
    assert!(matches!(check(&k.finish()), Err(BoundsError::Invalid(_))));
}

#[test]
fn a_one_comparison_range_check_proves() {
    // `(i - 1) as u64 < 8` holds exactly when 0 <= i - 1 < 8.
    let mut k = KernelBuilder::new("shifted");
    let x = k.buffer("x", ElemType::F32, 8, false);
    let y = k.buffer("y", ElemType::F32, 10, true);
    k.for_range("i", 0, 10, 1, |k, i| {
        let j = Expr::var(k.let_var("j", Ty::INDEX, i.clone() - 1));
        let inside = j
            .clone()
            .bitcast(ElemType::U64)
            .lt(Expr::int(8, ElemType::U64));
        k.if_else(
            inside,
            |k| k.store(y, i.clone(), Expr::load(x, j.clone(), Ty::F32)),
            |k| k.store(y, i.clone(), Expr::f32(0.0)),
        );
    });
    check(&k.finish()).unwrap();
}

#[test]
fn what_a_condition_says_about_a_load_does_not_outlive_a_store() {
    let mut k = KernelBuilder::new("stale");
    let data = k.buffer("data", ElemType::F32, 10, false);
    let idx = k.buffer("idx", ElemType::I64, 1, true);
    let out = k.buffer("out", ElemType::F32, 1, true);
    let first = || Expr::load(idx, Expr::index(0), Ty::INDEX);
    let guard = first()
        .ge(Expr::index(0))
        .binary(BinaryOp::And, first().lt(Expr::index(10)));
    k.if_then(guard, |k| {
        k.store(idx, Expr::index(0), Expr::index(100));
        k.store(out, Expr::index(0), Expr::load(data, first(), Ty::F32));
    });
    fails_with(&k.finish(), &["load `data[idx[0]]`"]);
}

/// Each lane of a strided vector is its own access: the last one out of range
/// fails, and the vector's value range is the union of its lanes'.
#[test]
fn strided_lanes_are_checked_lane_by_lane() {
    let strided = |stride: i64| {
        let mut k = KernelBuilder::new("strided");
        let x = k.buffer("x", ElemType::F32, 32, false);
        let y = k.buffer("y", ElemType::F32, 32, true);
        k.for_range("j", 0, 8, 1, |k, j| {
            let lanes = (0..4)
                .map(|l| Expr::load(x, j.clone() + l * stride, Ty::scalar(ElemType::F32)))
                .collect();
            k.store(y, j * 4, Expr::lanes(lanes));
        });
        k.finish()
    };
    check(&strided(8)).unwrap();
    fails_with(&strided(9), &["`x` of 32 elements", "index in [27, 34]"]);
}
