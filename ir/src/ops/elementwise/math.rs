//! The real functions behind the float unary ops, evaluated in f64 and rounded once
//! to the operand's type by the caller. Formulas are those of the ONNX operator pages.

use std::f64::consts::{FRAC_2_SQRT_PI, PI, SQRT_2};

use super::Unary;

/// `op` applied to `x`. Only called for the ops [`Unary::is_real_function`] accepts.
pub(super) fn apply(op: Unary, x: f64) -> f64 {
    match op {
        Unary::Abs => x.abs(),
        Unary::Neg => -x,
        Unary::Exp => x.exp(),
        Unary::Log => x.ln(),
        Unary::Sqrt => x.sqrt(),
        Unary::Reciprocal => 1.0 / x,
        Unary::Floor => x.floor(),
        Unary::Ceil => x.ceil(),
        Unary::Round => x.round_ties_even(),
        Unary::Sign => {
            if x > 0.0 {
                1.0
            } else if x < 0.0 {
                -1.0
            } else {
                x // 0, -0 and NaN map to themselves
            }
        }
        Unary::Sin => x.sin(),
        Unary::Cos => x.cos(),
        Unary::Tan => x.tan(),
        Unary::Asin => x.asin(),
        Unary::Acos => x.acos(),
        Unary::Atan => x.atan(),
        Unary::Sinh => x.sinh(),
        Unary::Cosh => x.cosh(),
        Unary::Asinh => x.asinh(),
        Unary::Acosh => x.acosh(),
        Unary::Atanh => x.atanh(),
        Unary::Erf => erf(x),
        Unary::Relu => {
            if x < 0.0 {
                0.0
            } else {
                x
            }
        }
        Unary::Sigmoid => sigmoid(x),
        Unary::Tanh => x.tanh(),
        Unary::Softplus => softplus(x),
        Unary::Softsign => x / (1.0 + x.abs()),
        Unary::Mish => x * softplus(x).tanh(),
        Unary::HardSwish => x * (x / 6.0 + 0.5).clamp(0.0, 1.0),
        Unary::LeakyRelu { alpha } => {
            if x < 0.0 {
                f64::from(alpha) * x
            } else {
                x
            }
        }
        Unary::Elu { alpha } => {
            if x < 0.0 {
                f64::from(alpha) * x.exp_m1()
            } else {
                x
            }
        }
        Unary::Selu { alpha, gamma } => {
            let (alpha, gamma) = (f64::from(alpha), f64::from(gamma));
            if x > 0.0 {
                gamma * x
            } else {
                gamma * alpha * x.exp_m1()
            }
        }
        Unary::Celu { alpha } => {
            let alpha = f64::from(alpha);
            x.max(0.0) + (alpha * (x / alpha).exp_m1()).min(0.0)
        }
        Unary::HardSigmoid { alpha, beta } => {
            (f64::from(alpha) * x + f64::from(beta)).clamp(0.0, 1.0)
        }
        Unary::ThresholdedRelu { alpha } => {
            if x > f64::from(alpha) {
                x
            } else {
                0.0
            }
        }
        Unary::Shrink { bias, lambd } => {
            let (bias, lambd) = (f64::from(bias), f64::from(lambd));
            if x < -lambd {
                x + bias
            } else if x > lambd {
                x - bias
            } else {
                0.0
            }
        }
        Unary::Gelu {
            tanh_approximation: false,
        } => 0.5 * x * (1.0 + erf(x / SQRT_2)),
        Unary::Gelu {
            tanh_approximation: true,
        } => {
            let inner = (2.0 / PI).sqrt() * (x + 0.044715 * x * x * x);
            0.5 * x * (1.0 + inner.tanh())
        }
        Unary::Not | Unary::BitwiseNot | Unary::IsNaN | Unary::IsInf { .. } => f64::NAN,
    }
}

/// 1 / (1 + e^-x) without overflow for large |x|.
fn sigmoid(x: f64) -> f64 {
    if x >= 0.0 {
        1.0 / (1.0 + (-x).exp())
    } else {
        let e = x.exp();
        e / (1.0 + e)
    }
}

/// ln(1 + e^x) without overflow for large x.
fn softplus(x: f64) -> f64 {
    if x.is_nan() {
        return x;
    }
    x.max(0.0) + (-x.abs()).exp().ln_1p()
}

/// The error function (the standard library's is not stable yet).
///
/// For |x| < 3 the series erf(x) = 2/√π · e^(-x²) · Σ (2x²)^n x / (1·3·…·(2n+1)),
/// whose terms are all positive (no cancellation); beyond, 1 - erfc(x) with erfc
/// from its continued fraction, which converges fast there. Both are accurate to a
/// few ulps of f64, far below what the f32 and f16 results keep.
pub(crate) fn erf(x: f64) -> f64 {
    if x.is_nan() {
        return x;
    }
    let a = x.abs();
    let magnitude = if a < 3.0 {
        let two_x2 = 2.0 * a * a;
        let (mut term, mut sum) = (a, a);
        let mut n = 0.0;
        while term > sum * 1e-17 {
            n += 1.0;
            term *= two_x2 / (2.0 * n + 1.0);
            sum += term;
        }
        FRAC_2_SQRT_PI * (-a * a).exp() * sum
    } else if a < 6.0 {
        1.0 - erfc_continued_fraction(a)
    } else {
        1.0 // erfc(6) ≈ 2e-17 is below half an ulp of 1
    };
    magnitude.copysign(x)
}

/// erfc(x) for x ≥ 3: e^(-x²)/√π · 1/(x + (1/2)/(x + 1/(x + (3/2)/(x + 2/(x + …))))),
/// evaluated from the tail; 60 levels are plenty at x ≥ 3.
fn erfc_continued_fraction(x: f64) -> f64 {
    let mut tail = x;
    for k in (1..=60).rev() {
        tail = x + (k as f64 / 2.0) / tail;
    }
    (-x * x).exp() / (PI.sqrt() * tail)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn erf_matches_tabulated_values() {
        let table = [
            (0.0, 0.0),
            (0.1, 0.1124629160182849),
            (0.5, 0.5204998778130465),
            (1.0, 0.8427007929497149),
            (2.0, 0.9953222650189527),
            (2.9, 0.9999589021219005),
            (3.0, 0.9999779095030014),
            (3.5, 0.9999992569016276),
            (4.5, 0.9999999998033839),
            (-1.5, -0.9661051464753108),
        ];
        for (x, want) in table {
            let got = erf(x);
            assert!(
                (got - want).abs() <= 4.0 * f64::EPSILON,
                "erf({x}) = {got}, want {want}"
            );
        }
        assert_eq!(erf(10.0), 1.0);
        assert_eq!(erf(-f64::INFINITY), -1.0);
    }

    #[test]
    fn activations_match_hand_values() {
        assert_eq!(apply(Unary::Relu, -2.0), 0.0);
        assert_eq!(apply(Unary::LeakyRelu { alpha: 0.5 }, -2.0), -1.0);
        assert_eq!(apply(Unary::HardSwish, 1.0), 1.0 * (1.0 / 6.0 + 0.5));
        assert_eq!(apply(Unary::HardSwish, 4.0), 4.0);
        assert_eq!(apply(Unary::Round, 2.5), 2.0);
        assert_eq!(apply(Unary::Round, -3.5), -4.0);
        assert_eq!(apply(Unary::Sign, -0.0), 0.0);
        assert!((apply(Unary::Sigmoid, -800.0)).abs() < 1e-300);
        assert_eq!(apply(Unary::Softplus, 800.0), 800.0);
        assert!((apply(Unary::Softplus, 0.0) - 2f64.ln()).abs() < 1e-15);
        assert_eq!(
            apply(
                Unary::Shrink {
                    bias: 1.0,
                    lambd: 1.5
                },
                -2.0
            ),
            -1.0
        );
        assert!(
            (apply(
                Unary::Gelu {
                    tanh_approximation: false
                },
                1.0
            ) - 0.8413447460685429)
                .abs()
                < 1e-15
        );
        assert!(
            (apply(
                Unary::Gelu {
                    tanh_approximation: true
                },
                1.0
            ) - 0.8411919906082768)
                .abs()
                < 1e-12
        );
        let selu = apply(
            Unary::Selu {
                alpha: 2.0,
                gamma: 3.0,
            },
            -1.0,
        );
        assert!((selu - 3.0 * 2.0 * ((-1f64).exp() - 1.0)).abs() < 1e-15);
    }
}
