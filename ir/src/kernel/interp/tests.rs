use super::{InterpError, run, run_with_budget};
use crate::kernel::{
    BinaryOp, CompareOp, ElemType, Expr, Kernel, KernelBuilder, ReduceOp, Ty, UnaryOp,
};

const F32X4: Ty = Ty::vector(ElemType::F32, 4);

/// A kernel storing `value` (built from no inputs) into `out[0]` of `elem`.
fn scalar_kernel(elem: ElemType, value: Expr) -> Kernel {
    let mut k = KernelBuilder::new("scalar");
    let out = k.buffer("out", elem, 1, true);
    k.store(out, Expr::index(0), value);
    k.finish()
}

/// Runs `value` and returns the stored bytes.
fn eval_bytes(elem: ElemType, value: Expr) -> Result<Vec<u8>, InterpError> {
    let kernel = scalar_kernel(elem, value);
    let mut buffers = vec![vec![0u8; elem.size()]];
    assert_eq!(run(&kernel, &mut buffers)?, 0);
    Ok(buffers.remove(0))
}

fn eval_i64(elem: ElemType, value: Expr) -> i64 {
    let bytes = eval_bytes(elem, value).unwrap();
    let mut raw = [0u8; 8];
    raw[..bytes.len()].copy_from_slice(&bytes);
    let v = u64::from_le_bytes(raw);
    let shift = 64 - 8 * bytes.len() as u32;
    if elem.is_signed() {
        ((v << shift) as i64) >> shift
    } else {
        v as i64
    }
}

fn eval_f32(value: Expr) -> f32 {
    let bytes = eval_bytes(ElemType::F32, value).unwrap();
    f32::from_le_bytes(bytes.try_into().unwrap())
}

fn int(v: i64, elem: ElemType) -> Expr {
    Expr::int(v, elem)
}

#[test]
fn relu_over_vectors() {
    let mut k = KernelBuilder::new("relu");
    let x = k.buffer("x", ElemType::F32, 8, false);
    let y = k.buffer("y", ElemType::F32, 8, true);
    k.for_range("i", 0, 8, 4, |k, i| {
        let v = Expr::load(x, i.clone(), F32X4);
        k.store(y, i, v.max(Expr::f32(0.0).splat(4)));
    });
    let kernel = k.finish();
    let input: Vec<f32> = vec![-1.0, 2.0, -3.5, 4.0, 0.0, -0.0, 7.25, -8.0];
    let mut buffers = vec![
        input.iter().flat_map(|v| v.to_le_bytes()).collect(),
        vec![0u8; 32],
    ];
    assert_eq!(run(&kernel, &mut buffers).unwrap(), 0);
    let out: Vec<f32> = buffers[1]
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
        .collect();
    assert_eq!(out, vec![0.0, 2.0, 0.0, 4.0, 0.0, 0.0, 7.25, 0.0]);
    assert!(out[5].is_sign_positive(), "max(-0, +0) is +0");
}

#[test]
fn integers_wrap_in_their_type() {
    use ElemType::*;
    assert_eq!(eval_i64(I8, int(127, I8) + int(1, I8)), -128);
    assert_eq!(eval_i64(U8, int(0, U8) - int(1, U8)), 255);
    assert_eq!(eval_i64(I32, int(0x10000, I32) * int(0x10000, I32)), 0);
    // (Built without `+`, which folds i64 constants.)
    let max_plus_one = int(i64::MAX, I64).binary(BinaryOp::Add, int(1, I64));
    assert_eq!(eval_i64(I64, max_plus_one), i64::MIN);
    assert_eq!(eval_i64(I16, -int(i16::MIN as i64, I16)), i16::MIN as i64);
    assert_eq!(
        eval_i64(I8, int(-128, I8).unary(UnaryOp::Abs)),
        -128,
        "abs wraps"
    );
    assert_eq!(eval_i64(U16, int(5, U16).unary(UnaryOp::Not)), 0xfffa);
}

#[test]
fn division_truncates_and_remainder_follows_the_dividend() {
    use ElemType::*;
    assert_eq!(eval_i64(I32, int(-7, I32) / int(2, I32)), -3);
    assert_eq!(eval_i64(I32, int(7, I32) / int(-2, I32)), -3);
    assert_eq!(eval_i64(I32, int(-7, I32) % int(2, I32)), -1);
    assert_eq!(eval_i64(I32, int(7, I32) % int(-2, I32)), 1);
    assert_eq!(eval_i64(U8, int(250, U8) / int(7, U8)), 35);
    assert_eq!(eval_i64(I8, int(-128, I8) % int(-1, I8)), 0);
    let err = eval_bytes(I32, int(1, I32) / int(0, I32)).unwrap_err();
    assert!(matches!(err, InterpError::DivisionByZero { .. }), "{err}");
    assert!(err.to_string().contains("(1i32 / 0i32)"), "{err}");
    let err = eval_bytes(I64, Expr::index(5) % Expr::index(0)).unwrap_err();
    assert!(matches!(err, InterpError::DivisionByZero { .. }), "{err}");
    let err = eval_bytes(I32, int(i32::MIN as i64, I32) / int(-1, I32)).unwrap_err();
    assert!(matches!(err, InterpError::DivisionOverflow { .. }), "{err}");
}

#[test]
fn shifts_mask_the_amount() {
    use ElemType::*;
    let shl = |a: Expr, b: Expr| a.binary(BinaryOp::Shl, b);
    let shr = |a: Expr, b: Expr| a.binary(BinaryOp::Shr, b);
    assert_eq!(eval_i64(I32, shl(int(1, I32), int(33, I32))), 2);
    assert_eq!(
        eval_i64(I32, shl(int(1, I32), int(-1, I32))),
        i32::MIN as i64
    );
    assert_eq!(eval_i64(I8, shr(int(-128, I8), int(1, I8))), -64);
    assert_eq!(eval_i64(U8, shr(int(128, U8), int(1, U8))), 64);
    assert_eq!(eval_i64(U8, shl(int(0x81, U8), int(9, U8))), 2);
    assert_eq!(eval_i64(I64, shr(Expr::index(-16), Expr::index(66))), -4);
}

#[test]
fn float_max_min_propagate_nan() {
    let nan = Expr::f32(f32::NAN);
    assert!(eval_f32(nan.clone().max(Expr::f32(1.0))).is_nan());
    assert!(eval_f32(Expr::f32(1.0).min(nan)).is_nan());
    assert_eq!(eval_f32(Expr::f32(-2.0).max(Expr::f32(3.0))), 3.0);
    let min_zero = eval_f32(Expr::f32(0.0).min(Expr::f32(-0.0)));
    assert!(min_zero == 0.0 && min_zero.is_sign_negative());
}

#[test]
fn rounding_is_half_to_even() {
    let round = |x: f32| eval_f32(Expr::f32(x).unary(UnaryOp::Round));
    assert_eq!(round(0.5), 0.0);
    assert_eq!(round(1.5), 2.0);
    assert_eq!(round(2.5), 2.0);
    assert_eq!(round(-2.5), -2.0);
    assert_eq!(round(-3.7), -4.0);
    assert!(round(-0.5).is_sign_negative());
    assert_eq!(eval_f32(Expr::f32(-2.5).unary(UnaryOp::Floor)), -3.0);
    assert_eq!(eval_f32(Expr::f32(-2.5).unary(UnaryOp::Ceil)), -2.0);
    assert_eq!(eval_f32(Expr::f32(-2.5).unary(UnaryOp::Trunc)), -2.0);
}

#[test]
fn conversions_saturate_wrap_and_extend() {
    use ElemType::*;
    let conv = |x: Expr, to| eval_i64(to, x.convert(to));
    assert_eq!(conv(Expr::f32(1e10), I32), i32::MAX as i64);
    assert_eq!(conv(Expr::f32(-1e10), I32), i32::MIN as i64);
    assert_eq!(conv(Expr::f32(f32::NAN), I32), 0);
    assert_eq!(conv(Expr::f32(-3.9), I32), -3);
    assert_eq!(conv(Expr::f32(-1.0), U8), 0);
    assert_eq!(conv(Expr::f32(300.7), U8), 255);
    assert_eq!(conv(Expr::f64(1e300), I64), i64::MAX);
    assert_eq!(conv(Expr::f32(f32::INFINITY), U64), -1, "u64::MAX");
    assert_eq!(conv(int(-1, I8), U32), 0xffff_ffff);
    assert_eq!(conv(int(255, U8), I8), -1);
    assert_eq!(conv(int(300, I32), I8), 44);
    assert_eq!(conv(int(255, U8), I64), 255);
    assert_eq!(conv(int(-2, I16), I64), -2);
    assert_eq!(conv(int(1, Bool), I32), 1);
    assert_eq!(eval_f32(int(1, Bool).convert(F32)), 1.0);
    assert_eq!(eval_f32(int(-1, U64).convert(F32)), 18446744073709551616.0);
    assert_eq!(eval_f32(int(-3, I64).convert(F32)), -3.0);
    let to_bool = |x: Expr| eval_bytes(Bool, x.convert(Bool)).unwrap()[0];
    assert_eq!(to_bool(Expr::f32(0.25)), 1);
    assert_eq!(to_bool(Expr::f32(-0.0)), 0);
    assert_eq!(to_bool(int(256, I32)), 1);
    assert_eq!(eval_i64(I32, Expr::f32(-0.0).bitcast(I32)), i32::MIN as i64);
}

#[test]
fn f32_rounds_after_every_operation_but_fma_is_fused() {
    // a * a = 1 + 2^-11 + 2^-24 exactly: the product rounds (to even) in f32.
    let a = 1.0 + f32::powi(2.0, -12);
    let c = -(1.0 + f32::powi(2.0, -11));
    let separate = eval_f32(Expr::f32(a) * Expr::f32(a) + Expr::f32(c));
    let fused = eval_f32(Expr::f32(a).fma(Expr::f32(a), Expr::f32(c)));
    assert_eq!(separate, 0.0);
    assert_eq!(fused, f32::powi(2.0, -24));
    // Division too: 1/3 in f32, not in f64.
    assert_eq!(eval_f32(Expr::f32(1.0) / Expr::f32(3.0)), 1.0f32 / 3.0);
    assert_eq!(eval_f32(Expr::f32(2.0).unary(UnaryOp::Sqrt)), 2.0f32.sqrt());
}

#[test]
fn reductions_add_halves() {
    let mut k = KernelBuilder::new("sum");
    let x = k.buffer("x", ElemType::F32, 4, false);
    let y = k.buffer("y", ElemType::F32, 3, true);
    let v = Expr::load(x, Expr::index(0), F32X4);
    k.store(y, Expr::index(0), v.clone().reduce(ReduceOp::Add));
    k.store(y, Expr::index(1), v.clone().reduce(ReduceOp::Max));
    k.store(y, Expr::index(2), v.reduce(ReduceOp::Min));
    let kernel = k.finish();
    let input = [1e8f32, 1.0, -1e8, 1.0];
    let mut buffers = vec![
        input.iter().flat_map(|v| v.to_le_bytes()).collect(),
        vec![0; 12],
    ];
    run(&kernel, &mut buffers).unwrap();
    let out: Vec<f32> = buffers[1]
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
        .collect();
    // (1e8 + -1e8) + (1 + 1); left to right would give 1.
    assert_eq!(out, vec![2.0, 1e8, -1e8]);
}

#[test]
fn vectors_selects_and_bool_buffers() {
    let mut k = KernelBuilder::new("vec");
    let x = k.buffer("x", ElemType::I32, 4, false);
    let flags = k.buffer("flags", ElemType::Bool, 4, true);
    let y = k.buffer("y", ElemType::I32, 4, true);
    let v = Expr::load(x, Expr::index(0), Ty::vector(ElemType::I32, 4));
    let zero = int(0, ElemType::I32).splat(4);
    let neg = v.clone().lt(zero.clone());
    k.store(y, Expr::index(0), neg.select(-v.clone(), v.clone()));
    k.for_range("i", 0, 4, 1, |k, i| {
        let lane = Expr::load(x, i.clone(), Ty::scalar(ElemType::I32));
        let odd = (lane % int(2, ElemType::I32)).compare(CompareOp::Ne, int(0, ElemType::I32));
        k.store(flags, i, odd);
    });
    let kernel = k.finish();
    let input = [-3i32, 4, -5, 0];
    let mut buffers = vec![
        input.iter().flat_map(|v| v.to_le_bytes()).collect(),
        vec![7; 4],
        vec![0; 16],
    ];
    run(&kernel, &mut buffers).unwrap();
    assert_eq!(buffers[1], vec![1, 0, 1, 0]);
    let out: Vec<i32> = buffers[2]
        .chunks_exact(4)
        .map(|c| i32::from_le_bytes(c.try_into().unwrap()))
        .collect();
    assert_eq!(out, vec![3, 4, 5, 0]);
}

#[test]
fn f16_buffers_move_as_bits() {
    let mut k = KernelBuilder::new("copy");
    let x = k.buffer("x", ElemType::F16, 8, false);
    let y = k.buffer("y", ElemType::F16, 8, true);
    let u16x8 = Ty::vector(ElemType::U16, 8);
    k.store(y, Expr::index(0), Expr::load(x, Expr::index(0), u16x8));
    let kernel = k.finish();
    let input: Vec<u8> = (0..16).collect();
    let mut buffers = vec![input.clone(), vec![0; 16]];
    run(&kernel, &mut buffers).unwrap();
    assert_eq!(buffers[1], input);
}

#[test]
fn fail_returns_its_code_from_inside_loops() {
    let mut k = KernelBuilder::new("gather");
    let idx = k.buffer("idx", ElemType::I64, 3, false);
    let out = k.buffer("out", ElemType::I64, 3, true);
    k.for_range("i", 0, 3, 1, |k, i| {
        let v = k.let_var("v", Ty::INDEX, Expr::load(idx, i.clone(), Ty::INDEX));
        k.if_then(Expr::var(v).ge(Expr::index(10)), |k| k.fail(2));
        k.store(out, i, Expr::var(v));
    });
    let kernel = k.finish();
    let bytes = |v: [i64; 3]| v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>();
    let mut buffers = vec![bytes([1, 2, 3]), vec![0; 24]];
    assert_eq!(run(&kernel, &mut buffers).unwrap(), 0);
    assert_eq!(buffers[1], bytes([1, 2, 3]));
    let mut buffers = vec![bytes([1, 20, 3]), vec![0; 24]];
    assert_eq!(run(&kernel, &mut buffers).unwrap(), 2);
    assert_eq!(buffers[1], bytes([1, 0, 0]));
}

#[test]
fn reports_bad_buffers_and_accesses() {
    let mut k = KernelBuilder::new("shift");
    let x = k.buffer("x", ElemType::F32, 4, false);
    let y = k.buffer("y", ElemType::F32, 4, true);
    k.for_range("i", 0, 4, 1, |k, i| {
        k.store(y, i.clone(), Expr::load(x, i + 1, Ty::F32));
    });
    let kernel = k.finish();
    let err = run(&kernel, &mut [vec![0; 16]]).unwrap_err();
    assert!(
        matches!(
            err,
            InterpError::BufferCount {
                expected: 2,
                given: 1,
                ..
            }
        ),
        "{err}"
    );
    let err = run(&kernel, &mut [vec![0; 16], vec![0; 12]]).unwrap_err();
    assert!(
        matches!(
            err,
            InterpError::BufferSize {
                expected: 16,
                given: 12,
                ..
            }
        ),
        "{err}"
    );
    let err = run(&kernel, &mut [vec![0; 16], vec![0; 16]]).unwrap_err();
    let text = err.to_string();
    assert!(
        matches!(
            err,
            InterpError::OutOfBounds {
                index: 4,
                len: 4,
                ..
            }
        ),
        "{text}"
    );
    assert!(
        text.contains("load `x[(i + 1)]`") && text.contains("buffer `x`"),
        "{text}"
    );
}

#[test]
fn gives_up_after_the_step_budget() {
    let mut k = KernelBuilder::new("long");
    let y = k.buffer("y", ElemType::F32, 1, true);
    k.for_range("i", 0, 1000, 1, |k, _| {
        k.store(y, Expr::index(0), Expr::f32(1.0))
    });
    let kernel = k.finish();
    let err = run_with_budget(&kernel, &mut [vec![0; 4]], 100).unwrap_err();
    assert!(
        matches!(err, InterpError::StepBudget { budget: 100, .. }),
        "{err}"
    );
    assert!(run_with_budget(&kernel, &mut [vec![0; 4]], 2001).is_ok());
    // An empty body cannot hang.
    let mut k = KernelBuilder::new("spin");
    k.for_range("i", 0, i64::MAX, 1, |_, _| {});
    let err = run_with_budget(&k.finish(), &mut [], 1000).unwrap_err();
    assert!(matches!(err, InterpError::StepBudget { .. }), "{err}");
}

#[test]
fn refuses_ill_typed_kernels() {
    let kernel = scalar_kernel(ElemType::F32, Expr::index(1));
    let err = run(&kernel, &mut [vec![0; 4]]).unwrap_err();
    assert!(matches!(err, InterpError::Invalid(_)), "{err}");
}

/// A 3x3 convolution with padding 1, `c` channels in and out, `h x w` pixels.
fn padded_conv(c: i64, h: i64, w: i64) -> Kernel {
    let mut k = KernelBuilder::new("conv");
    let x = k.buffer("x", ElemType::F32, (c * h * w) as usize, false);
    let wt = k.buffer("w", ElemType::F32, (c * c * 9) as usize, false);
    let y = k.buffer("y", ElemType::F32, (c * h * w) as usize, true);
    let inside = |v: &Expr, n: i64| {
        v.clone()
            .ge(Expr::index(0))
            .binary(BinaryOp::And, v.clone().lt(Expr::index(n)))
    };
    k.for_range("co", 0, c, 1, |k, co| {
        k.for_range("oh", 0, h, 1, |k, oh| {
            k.for_range("ow", 0, w, 1, |k, ow| {
                let acc = k.let_var("acc", Ty::F32, Expr::f32(0.0));
                k.for_range("ci", 0, c, 1, |k, ci| {
                    k.for_range("kh", 0, 3, 1, |k, kh| {
                        let ih = Expr::var(k.let_var("ih", Ty::INDEX, oh.clone() + kh.clone() - 1));
                        k.if_then(inside(&ih, h), |k| {
                            k.for_range("kw", 0, 3, 1, |k, kw| {
                                let iw = Expr::var(k.let_var(
                                    "iw",
                                    Ty::INDEX,
                                    ow.clone() + kw.clone() - 1,
                                ));
                                k.if_then(inside(&iw, w), |k| {
                                    let xi = (ci.clone() * h + ih.clone()) * w + iw;
                                    let wi =
                                        ((co.clone() * c + ci.clone()) * 3 + kh.clone()) * 3 + kw;
                                    let xv = Expr::load(x, xi, Ty::F32);
                                    let wv = Expr::load(wt, wi, Ty::F32);
                                    k.assign(acc, xv.fma(wv, Expr::var(acc)));
                                });
                            });
                        });
                    });
                });
                k.store(y, (co.clone() * h + oh) * w + ow, Expr::var(acc));
            });
        });
    });
    k.finish()
}

#[test]
fn a_padded_convolution_matches_a_direct_computation() {
    let (c, h, w) = (2usize, 5usize, 6usize);
    let kernel = padded_conv(c as i64, h as i64, w as i64);
    crate::kernel::bounds::check(&kernel).unwrap();
    let x: Vec<f32> = (0..c * h * w).map(|i| (i as f32 * 0.37).sin()).collect();
    let wt: Vec<f32> = (0..c * c * 9).map(|i| (i as f32 * 0.61).cos()).collect();
    let mut want = vec![0f32; c * h * w];
    for co in 0..c {
        for oh in 0..h {
            for ow in 0..w {
                let mut acc = 0f32;
                for ci in 0..c {
                    for kh in 0..3 {
                        for kw in 0..3 {
                            let (ih, iw) = ((oh + kh) as isize - 1, (ow + kw) as isize - 1);
                            if ih < 0 || ih >= h as isize || iw < 0 || iw >= w as isize {
                                continue;
                            }
                            let xv = x[(ci * h + ih as usize) * w + iw as usize];
                            acc = xv.mul_add(wt[((co * c + ci) * 3 + kh) * 3 + kw], acc);
                        }
                    }
                }
                want[(co * h + oh) * w + ow] = acc;
            }
        }
    }
    let bytes = |v: &[f32]| v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>();
    let mut buffers = vec![bytes(&x), bytes(&wt), vec![0; c * h * w * 4]];
    assert_eq!(run(&kernel, &mut buffers).unwrap(), 0);
    assert_eq!(
        buffers[2],
        bytes(&want),
        "bit-exact with fused multiply-adds"
    );
}

/// Runs `f` on a vector of `elem` loaded from `input` and returns the stored bytes.
fn vector_op(
    elem: ElemType,
    out_elem: ElemType,
    input: &[u8],
    f: impl FnOnce(Expr) -> Expr,
) -> Vec<u8> {
    let lanes = (16 / elem.size()) as u8;
    let mut k = KernelBuilder::new("lanes");
    let x = k.buffer("x", elem, lanes as usize, false);
    let y = k.buffer("y", out_elem, lanes as usize, true);
    let v = Expr::load(x, Expr::index(0), Ty::vector(elem, lanes));
    k.store(y, Expr::index(0), f(v));
    let kernel = k.finish();
    let mut buffers = vec![input.to_vec(), vec![0; lanes as usize * out_elem.size()]];
    run(&kernel, &mut buffers).unwrap();
    buffers.remove(1)
}

#[test]
fn every_lane_of_a_packed_vector_computes() {
    let bytes: Vec<u8> = (0..16u8)
        .map(|i| i.wrapping_mul(37).wrapping_add(100))
        .collect();
    // i8x16: wrapping add, arithmetic shift, compare + select.
    let got = vector_op(ElemType::I8, ElemType::I8, &bytes, |v| {
        let sum = v.clone() + v.clone();
        let shifted = sum.binary(BinaryOp::Shr, int(1, ElemType::I8).splat(16));
        let neg = v.clone().lt(int(0, ElemType::I8).splat(16));
        neg.select(shifted, v)
    });
    let want: Vec<u8> = bytes
        .iter()
        .map(|&b| {
            let v = b as i8;
            if v < 0 {
                (v.wrapping_add(v) >> 1) as u8
            } else {
                b
            }
        })
        .collect();
    assert_eq!(got, want);
    // u16x8 logical shift and i64x2 multiply.
    let got = vector_op(ElemType::U16, ElemType::U16, &bytes, |v| {
        v.binary(BinaryOp::Shr, int(3, ElemType::U16).splat(8))
    });
    let want: Vec<u8> = bytes
        .chunks_exact(2)
        .flat_map(|c| (u16::from_le_bytes([c[0], c[1]]) >> 3).to_le_bytes())
        .collect();
    assert_eq!(got, want);
    let got = vector_op(ElemType::I64, ElemType::I64, &bytes, |v| v.clone() * v);
    let want: Vec<u8> = bytes
        .chunks_exact(8)
        .flat_map(|c| {
            let v = i64::from_le_bytes(c.try_into().unwrap());
            v.wrapping_mul(v).to_le_bytes()
        })
        .collect();
    assert_eq!(got, want);
    // f32x4 -> i32x4 conversion and a bitcast back.
    let floats: Vec<u8> = [1.5f32, -2.5, f32::NAN, 3e9]
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect();
    let got = vector_op(ElemType::F32, ElemType::I32, &floats, |v| {
        v.convert(ElemType::I32)
    });
    let want: Vec<u8> = [1i32, -2, 0, i32::MAX]
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect();
    assert_eq!(got, want);
    let got = vector_op(ElemType::F32, ElemType::U32, &floats, |v| {
        v.bitcast(ElemType::U32)
    });
    assert_eq!(got, floats);
    // f64x2 lanes and an extract.
    let doubles: Vec<u8> = [0.1f64, -7.0]
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect();
    let got = vector_op(ElemType::F64, ElemType::F64, &doubles, |v| {
        let second = v.clone().extract(1).splat(2);
        v.fma(second.clone(), second)
    });
    let want: Vec<u8> = [0.1f64.mul_add(-7.0, -7.0), (-7.0f64).mul_add(-7.0, -7.0)]
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect();
    assert_eq!(got, want);
}

/// Vector lanes compute exactly what scalars do, for every integer type and op.
#[test]
fn vector_lanes_match_scalars() {
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};
    let mut rng = StdRng::seed_from_u64(11);
    let elems = [
        ElemType::I8,
        ElemType::U8,
        ElemType::I16,
        ElemType::U16,
        ElemType::I32,
        ElemType::U32,
        ElemType::I64,
        ElemType::U64,
    ];
    let ops = [
        BinaryOp::Add,
        BinaryOp::Sub,
        BinaryOp::Mul,
        BinaryOp::Div,
        BinaryOp::Rem,
        BinaryOp::Max,
        BinaryOp::Min,
        BinaryOp::And,
        BinaryOp::Or,
        BinaryOp::Xor,
        BinaryOp::Shl,
        BinaryOp::Shr,
    ];
    for elem in elems {
        let size = elem.size();
        let lanes = (16 / size) as u8;
        for op in ops {
            let mut k = KernelBuilder::new("lanes");
            let a = k.buffer("a", elem, lanes as usize, false);
            let b = k.buffer("b", elem, lanes as usize, false);
            let v = k.buffer("v", elem, lanes as usize, true);
            let s = k.buffer("s", ElemType::Bool, lanes as usize, true);
            let vt = Ty::vector(elem, lanes);
            let va = Expr::load(a, Expr::index(0), vt);
            let vb = Expr::load(b, Expr::index(0), vt);
            k.store(v, Expr::index(0), va.binary(op, vb));
            // The scalar result, compared lane by lane with the vector's.
            k.for_range("i", 0, lanes as i64, 1, |k, i| {
                let sa = Expr::load(a, i.clone(), Ty::scalar(elem));
                let sb = Expr::load(b, i.clone(), Ty::scalar(elem));
                let got = Expr::load(v, i.clone(), Ty::scalar(elem));
                k.store(s, i, sa.binary(op, sb).compare(CompareOp::Eq, got));
            });
            let kernel = k.finish();
            for _ in 0..20 {
                let a_bytes: Vec<u8> = (0..16).map(|_| rng.random()).collect();
                let mut b_bytes: Vec<u8> = (0..16).map(|_| rng.random()).collect();
                // Positive, odd divisors: no division by zero or overflow.
                for lane in b_bytes.chunks_exact_mut(size) {
                    lane[0] |= 1;
                    lane[size - 1] &= 0x7f;
                }
                let mut buffers = vec![a_bytes, b_bytes, vec![0; 16], vec![0; lanes as usize]];
                run(&kernel, &mut buffers).unwrap();
                assert!(
                    buffers[3].iter().all(|&x| x == 1),
                    "{op:?} on {elem:?}: {:?}",
                    buffers[3]
                );
            }
        }
    }
}
