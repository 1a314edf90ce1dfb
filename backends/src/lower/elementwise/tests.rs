//! Elementwise lowerings against the reference evaluator on random operands:
//! every op kind and dtype, broadcasting patterns, vector tails, empty tensors
//! and scalars.

use nnc_ir::ops::{Binary, Cast, Unary};
use nnc_ir::{DType, Op, Tensor};

use super::super::random_tensors::{ALL_DTYPES, FLOAT_DTYPES, INT_DTYPES, random, rng, tolerance};
use super::super::testing::check_op;

const SHAPES: [&[usize]; 6] = [&[], &[0], &[7], &[2, 3, 5], &[4, 4], &[1, 13]];

/// The float ops with the input range their domain wants.
fn float_unaries() -> Vec<(Unary, f64, f64)> {
    let wide = (-6.0, 6.0);
    let mut ops: Vec<(Unary, f64, f64)> = [
        Unary::Abs,
        Unary::Neg,
        Unary::Exp,
        Unary::Sqrt,
        Unary::Reciprocal,
        Unary::Floor,
        Unary::Ceil,
        Unary::Round,
        Unary::Sign,
        Unary::Sin,
        Unary::Cos,
        Unary::Tan,
        Unary::Atan,
        Unary::Sinh,
        Unary::Cosh,
        Unary::Asinh,
        Unary::Erf,
        Unary::Relu,
        Unary::Sigmoid,
        Unary::Tanh,
        Unary::Softplus,
        Unary::Softsign,
        Unary::Mish,
        Unary::HardSwish,
        Unary::LeakyRelu { alpha: 0.1 },
        Unary::Elu { alpha: 1.3 },
        Unary::Selu {
            alpha: 1.67,
            gamma: 1.05,
        },
        Unary::Celu { alpha: 0.7 },
        Unary::HardSigmoid {
            alpha: 0.2,
            beta: 0.5,
        },
        Unary::ThresholdedRelu { alpha: 1.0 },
        Unary::Shrink {
            bias: 0.5,
            lambd: 1.0,
        },
        Unary::Gelu {
            tanh_approximation: false,
        },
        Unary::Gelu {
            tanh_approximation: true,
        },
        Unary::IsNaN,
        Unary::IsInf {
            detect_negative: true,
            detect_positive: false,
        },
        Unary::IsInf {
            detect_negative: true,
            detect_positive: true,
        },
    ]
    .into_iter()
    .map(|op| (op, wide.0, wide.1))
    .collect();
    ops.extend([
        (Unary::Log, 0.01, 50.0),
        (Unary::Asin, -1.0, 1.0),
        (Unary::Acos, -1.0, 1.0),
        (Unary::Acosh, 1.0, 40.0),
        (Unary::Atanh, -0.99, 0.99),
    ]);
    ops
}

#[test]
fn float_unary_ops_match_the_reference() {
    let mut r = rng(1);
    for (op, lo, hi) in float_unaries() {
        for dtype in FLOAT_DTYPES {
            for shape in SHAPES {
                let x = random(&mut r, dtype, shape, lo, hi, false);
                let (rtol, atol) = tolerance(dtype);
                check_op(Op::Unary(op), &[Some(&x)], &[], 1, rtol * 4.0, atol);
            }
        }
    }
}

#[test]
fn float_unary_special_values() {
    let specials = [
        0.0f32,
        -0.0,
        f32::INFINITY,
        f32::NEG_INFINITY,
        f32::NAN,
        1e-40,
        -1e-40,
        88.0,
        -88.0,
        100.0,
        -100.0,
    ];
    let x = Tensor::from_vec(vec![specials.len()], specials.to_vec()).unwrap();
    for (op, _, _) in float_unaries() {
        if matches!(op, Unary::Celu { .. }) {
            continue; // the reference's f64::max drops NaN here; numpy's (and ours) keeps it
        }
        check_op(Op::Unary(op), &[Some(&x)], &[], 1, 1e-5, 1e-30);
    }
}

#[test]
fn integer_and_bool_unary_ops_are_exact() {
    let mut r = rng(2);
    let ops = [
        Unary::Abs,
        Unary::Neg,
        Unary::Sign,
        Unary::BitwiseNot,
        Unary::Relu,
        Unary::Erf,
        Unary::Shrink {
            bias: 1.5,
            lambd: 2.0,
        },
    ];
    for dtype in INT_DTYPES {
        for op in ops {
            if !op.accepts(dtype) {
                continue;
            }
            for shape in SHAPES {
                let small = matches!(op, Unary::Erf | Unary::Shrink { .. });
                let x = random(
                    &mut r,
                    dtype,
                    shape,
                    if dtype.is_signed_int() { -9.0 } else { 0.0 },
                    9.0,
                    small,
                );
                check_op(Op::Unary(op), &[Some(&x)], &[], 1, 0.0, 0.0);
            }
        }
    }
    let b = random(&mut r, DType::Bool, &[9], 0.0, 1.0, false);
    check_op(Op::Unary(Unary::Not), &[Some(&b)], &[], 1, 0.0, 0.0);
}

const BROADCASTS: [(&[usize], &[usize]); 10] = [
    (&[2, 3, 4], &[2, 3, 4]),
    (&[2, 3, 4], &[4]),
    (&[2, 3, 4], &[3, 1]),
    (&[], &[5]),
    (&[1, 5], &[3, 1]),
    (&[0, 3], &[3]),
    (&[6, 7], &[6, 7]),
    (&[2, 1, 9], &[1, 4, 1]),
    (&[3, 8, 5], &[1, 8, 1]),
    (&[], &[]),
];

fn arithmetic() -> [Binary; 8] {
    [
        Binary::Add,
        Binary::Sub,
        Binary::Mul,
        Binary::Div,
        Binary::Max,
        Binary::Min,
        Binary::Mod { fmod: false },
        Binary::Mod { fmod: true },
    ]
}

#[test]
fn float_binary_ops_broadcast() {
    let mut r = rng(3);
    let mut ops = arithmetic().to_vec();
    ops.extend([
        Binary::Pow,
        Binary::Equal,
        Binary::Less,
        Binary::LessOrEqual,
        Binary::Greater,
        Binary::GreaterOrEqual,
    ]);
    for op in ops {
        for dtype in FLOAT_DTYPES {
            for (a, b) in BROADCASTS {
                let lo = if op == Binary::Pow { 0.1 } else { -5.0 };
                let x = random(&mut r, dtype, a, lo, 5.0, false);
                let y = random(&mut r, dtype, b, -5.0, 5.0, false);
                let (rtol, atol) = tolerance(dtype);
                check_op(Op::Binary(op), &[Some(&x), Some(&y)], &[], 1, rtol, atol);
                // The same with swapped operands (the broadcast on the other side).
                check_op(
                    Op::Binary(op),
                    &[Some(&y), Some(&x)],
                    &[],
                    1,
                    rtol,
                    atol.max(1e-6),
                );
            }
        }
    }
    // PRelu: the slope broadcasts to X.
    for dtype in FLOAT_DTYPES {
        let x = random(&mut r, dtype, &[2, 3, 5], -5.0, 5.0, false);
        let s = random(&mut r, dtype, &[3, 1], -1.0, 1.0, false);
        check_op(
            Op::Binary(Binary::PRelu),
            &[Some(&x), Some(&s)],
            &[1],
            1,
            1e-6,
            1e-6,
        );
    }
}

#[test]
fn pow_special_cases_and_mixed_types() {
    let bases = [
        2.0f32,
        -2.0,
        0.0,
        -0.0,
        1.0,
        -1.0,
        f32::INFINITY,
        f32::NEG_INFINITY,
        f32::NAN,
        0.5,
        -8.0,
        10.0,
    ];
    let exps = [
        0.0f32,
        1.0,
        2.0,
        3.0,
        -1.0,
        -2.0,
        0.5,
        f32::INFINITY,
        f32::NEG_INFINITY,
        f32::NAN,
        1.0 / 3.0,
        38.0,
    ];
    let a = Tensor::from_vec(vec![bases.len(), 1], bases.to_vec()).unwrap();
    let b = Tensor::from_vec(vec![exps.len()], exps.to_vec()).unwrap();
    check_op(
        Op::Binary(Binary::Pow),
        &[Some(&a), Some(&b)],
        &[],
        1,
        1e-6,
        0.0,
    );
    let mut r = rng(4);
    // Integer base, integer and float exponents; float base, integer exponent.
    for base in INT_DTYPES {
        let x = random(
            &mut r,
            base,
            &[4, 3],
            if base.is_signed_int() { -4.0 } else { 0.0 },
            5.0,
            true,
        );
        let e = random(&mut r, DType::I64, &[3], -2.0, 9.0, true);
        check_op(
            Op::Binary(Binary::Pow),
            &[Some(&x), Some(&e)],
            &[],
            1,
            0.0,
            0.0,
        );
        let f = random(&mut r, DType::F32, &[3], 0.0, 3.0, false);
        check_op(
            Op::Binary(Binary::Pow),
            &[Some(&x), Some(&f)],
            &[],
            1,
            0.0,
            0.0,
        );
    }
    let x = random(&mut r, DType::F16, &[5], -3.0, 3.0, false);
    let e = random(&mut r, DType::I32, &[5], -3.0, 4.0, true);
    check_op(
        Op::Binary(Binary::Pow),
        &[Some(&x), Some(&e)],
        &[],
        1,
        1e-3,
        1e-3,
    );
}

#[test]
fn integer_binary_ops_wrap_exactly() {
    let mut r = rng(5);
    let mut ops = arithmetic().to_vec();
    ops.extend([
        Binary::BitwiseAnd,
        Binary::BitwiseOr,
        Binary::BitwiseXor,
        Binary::BitShiftLeft,
        Binary::BitShiftRight,
        Binary::Equal,
        Binary::Less,
        Binary::GreaterOrEqual,
        Binary::PRelu,
    ]);
    for dtype in INT_DTYPES {
        for op in &ops {
            for (a, b) in BROADCASTS {
                let (a, b) = if *op == Binary::PRelu { (a, a) } else { (a, b) };
                let x = random(&mut r, dtype, a, 0.0, 0.0, false);
                let shift = matches!(op, Binary::BitShiftLeft | Binary::BitShiftRight);
                let width = (dtype.size() * 8) as f64;
                let y = if shift {
                    let lo = if dtype.is_signed_int() { -2.0 } else { 0.0 };
                    random(&mut r, dtype, b, lo, width + 2.0, true)
                } else if matches!(op, Binary::Div | Binary::Mod { .. }) {
                    // Nonzero divisors, -1 included (MIN / -1 wraps).
                    let t = random(&mut r, dtype, b, 0.0, 0.0, false);
                    let v: Vec<i64> = t
                        .to_i64_vec()
                        .iter()
                        .map(|&v| if v == 0 { 3 } else { v })
                        .collect();
                    let mut v = v;
                    if dtype.is_signed_int() && !v.is_empty() {
                        v[0] = -1;
                    }
                    Tensor::from_i64_values(dtype, b.to_vec(), &v).unwrap()
                } else {
                    random(&mut r, dtype, b, 0.0, 0.0, false)
                };
                check_op(Op::Binary(*op), &[Some(&x), Some(&y)], &[], 1, 0.0, 0.0);
            }
        }
    }
}

#[test]
fn logic_on_bools() {
    let mut r = rng(6);
    for op in [Binary::And, Binary::Or, Binary::Xor, Binary::Equal] {
        for (a, b) in BROADCASTS {
            let x = random(&mut r, DType::Bool, a, 0.0, 1.0, false);
            let y = random(&mut r, DType::Bool, b, 0.0, 1.0, false);
            check_op(Op::Binary(op), &[Some(&x), Some(&y)], &[], 1, 0.0, 0.0);
        }
    }
}

#[test]
fn clip_where_identity() {
    let mut r = rng(7);
    for dtype in ALL_DTYPES {
        let x = random(&mut r, dtype, &[3, 7], -5.0, 5.0, dtype.is_int());
        check_op(Op::Identity, &[Some(&x)], &[], 1, 0.0, 0.0);
        let c = random(&mut r, DType::Bool, &[3, 1], 0.0, 1.0, false);
        let y = random(&mut r, dtype, &[7], -5.0, 5.0, dtype.is_int());
        check_op(Op::Where, &[Some(&c), Some(&x), Some(&y)], &[], 1, 0.0, 0.0);
        if dtype == DType::Bool {
            continue;
        }
        let (lo_v, hi_v) = if dtype.is_signed_int() || dtype.is_float() {
            (-2.0, 3.0)
        } else {
            (1.0, 3.0)
        };
        let lo = Tensor::from_f64_values(dtype, vec![], &[lo_v]).unwrap();
        let hi = Tensor::from_f64_values(dtype, vec![1], &[hi_v]).unwrap();
        check_op(
            Op::Clip,
            &[Some(&x), Some(&lo), Some(&hi)],
            &[],
            1,
            0.0,
            0.0,
        );
        check_op(
            Op::Clip,
            &[Some(&x), Some(&lo), Some(&hi)],
            &[1, 2],
            1,
            0.0,
            0.0,
        );
        check_op(Op::Clip, &[Some(&x), None, Some(&hi)], &[], 1, 0.0, 0.0);
        check_op(Op::Clip, &[Some(&x), Some(&lo), None], &[], 1, 0.0, 0.0);
        check_op(
            Op::Clip,
            &[Some(&x), Some(&hi), Some(&lo)],
            &[],
            1,
            0.0,
            0.0,
        );
    }
}

#[test]
fn cast_between_every_pair() {
    let mut r = rng(8);
    let specials = [
        0.0,
        -0.0,
        1.5,
        2.5,
        -2.5,
        300.7,
        -300.7,
        65519.0,
        65520.0,
        1e10,
        -1e10,
        1e-6,
        6e-8,
        3e-8,
        f64::NAN,
        f64::INFINITY,
        f64::NEG_INFINITY,
        4.5e15,
    ];
    for from in ALL_DTYPES {
        for to in ALL_DTYPES {
            let x = if from.is_float() {
                let mut v = specials.to_vec();
                v.extend((0..30).map(|_| rand::Rng::random_range(&mut r, -1e5..1e5)));
                Tensor::from_f64_values(from, vec![v.len()], &v).unwrap()
            } else {
                random(&mut r, from, &[37], 0.0, 0.0, false)
            };
            let op = Op::Cast(Cast { to, saturate: true });
            check_op(op, &[Some(&x)], &[], 1, 0.0, 0.0);
        }
    }
    // f64 to f16 rounds once: halfway between two f16 plus a hair goes up.
    let below = 1.0f64; // an f16 value; the next one is 1 + 2^-10
    let x = Tensor::from_vec(vec![1], vec![below + 2f64.powi(-11) + 2f64.powi(-40)]).unwrap();
    check_op(
        Op::Cast(Cast {
            to: DType::F16,
            saturate: true,
        }),
        &[Some(&x)],
        &[],
        1,
        0.0,
        0.0,
    );
}
