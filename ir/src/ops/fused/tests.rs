//! `Fused::eval` against the anchor followed by the steps written out as plain
//! loops, on random shapes; and the forms of extra operands.

use rand::{Rng, SeedableRng, rngs::StdRng};

use super::*;
use crate::ops::{Conv, Gemm};

fn random(rng: &mut StdRng, shape: &[usize]) -> Tensor {
    let n: usize = shape.iter().product();
    let v: Vec<f32> = (0..n).map(|_| rng.random_range(-3.0f32..3.0)).collect();
    Tensor::from_vec(shape.to_vec(), v).unwrap()
}

fn values(t: &Tensor) -> Vec<f64> {
    t.to_f64_vec()
}

/// An anchor with its operands and output shape.
struct Case {
    anchor: Op,
    operands: Vec<Option<Tensor>>,
    /// The output dim a per-channel operand runs along.
    channel_axis: usize,
}

fn random_anchor(rng: &mut StdRng, round: usize) -> Case {
    match round % 3 {
        0 => {
            let (n, c, m) = (
                rng.random_range(1..3),
                rng.random_range(1..5),
                rng.random_range(1..6),
            );
            let (h, w) = (rng.random_range(3..7), rng.random_range(3..7));
            let k = rng.random_range(1..4);
            let conv = Conv {
                kernel_shape: vec![k, k],
                strides: vec![1, rng.random_range(1..3)],
                pads: vec![1, 1, 1, 1],
                dilations: vec![],
                group: 1,
            };
            Case {
                anchor: Op::Conv(conv),
                operands: vec![
                    Some(random(rng, &[n, c, h, w])),
                    Some(random(rng, &[m, c, k, k])),
                    round.is_multiple_of(2).then(|| random(rng, &[m])),
                ],
                channel_axis: 1,
            }
        }
        1 => {
            let (b, m, k, n) = (
                rng.random_range(1..3),
                rng.random_range(1..6),
                rng.random_range(1..7),
                rng.random_range(1..9),
            );
            Case {
                anchor: Op::MatMul,
                operands: vec![Some(random(rng, &[b, m, k])), Some(random(rng, &[k, n]))],
                channel_axis: 2,
            }
        }
        _ => {
            let (m, k, n) = (
                rng.random_range(1..6),
                rng.random_range(1..7),
                rng.random_range(1..9),
            );
            let gemm = Gemm {
                alpha: 0.5,
                beta: 2.0,
                trans_a: false,
                trans_b: true,
            };
            Case {
                anchor: Op::Gemm(gemm),
                operands: vec![
                    Some(random(rng, &[m, k])),
                    Some(random(rng, &[n, k])),
                    Some(random(rng, &[n])),
                ],
                channel_axis: 1,
            }
        }
    }
}

fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

#[test]
fn fused_eval_is_the_anchor_then_each_step() {
    let mut rng = StdRng::seed_from_u64(7);
    for round in 0..30 {
        let case = random_anchor(&mut rng, round);
        let refs: Vec<Option<&Tensor>> = case.operands.iter().map(Option::as_ref).collect();
        let y = case.anchor.eval(&refs, 1).unwrap().remove(0);
        let shape = y.shape().to_vec();
        let residual = random(&mut rng, &shape);
        let mut channel_shape = vec![1; shape.len()];
        channel_shape[case.channel_axis] = shape[case.channel_axis];
        let scale = random(&mut rng, &channel_shape[case.channel_axis..]);
        let scalar = random(&mut rng, &[1]);
        let steps = vec![
            Step::Binary {
                op: Binary::Add,
                operand: 0,
                swapped: false,
            },
            Step::Unary(Unary::Relu),
            Step::Binary {
                op: Binary::Mul,
                operand: 1,
                swapped: true,
            },
            Step::Clip {
                min: Some(-1.0),
                max: Some(6.0),
            },
            Step::Gate(Unary::Sigmoid),
            Step::Binary {
                op: Binary::Sub,
                operand: 2,
                swapped: true,
            },
            Step::Unary(Unary::HardSwish),
        ];
        let fused = Fused {
            anchor: Box::new(case.anchor.clone()),
            anchor_operands: refs.len(),
            steps,
        };
        let mut inputs = refs.clone();
        inputs.extend([Some(&residual), Some(&scale), Some(&scalar)]);
        let got = values(&fused.eval(&inputs, 1).unwrap()[0]);

        // The same by hand.
        let (r, s, c) = (values(&residual), values(&scale), values(&scalar)[0]);
        let inner: usize = shape[case.channel_axis + 1..].iter().product();
        let channels = shape[case.channel_axis];
        for (i, (&y, &g)) in values(&y).iter().zip(&got).enumerate() {
            let ch = i / inner % channels;
            let mut v = (y as f32 + r[i] as f32) as f64;
            v = v.max(0.0);
            v = (s[ch] as f32 * v as f32) as f64;
            v = v.clamp(-1.0, 6.0);
            v *= sigmoid(v);
            v = c - v;
            v *= ((v / 6.0 + 0.5).clamp(0.0, 1.0)) as f32 as f64;
            assert!(
                (v - g).abs() <= 1e-4 * (1.0 + v.abs()),
                "round {round} element {i}: {g} vs {v}"
            );
        }

        // Shape inference is the anchor's.
        let types: Vec<TensorType> = inputs
            .iter()
            .map(|t| {
                t.map_or(TensorType::new(DType::F32, vec![]), |t| {
                    TensorType::new(t.dtype(), t.shape().to_vec())
                })
            })
            .collect();
        let facts: Vec<Option<Fact>> = inputs
            .iter()
            .zip(&types)
            .map(|(t, ty)| t.map(|_| Fact { ty, value: None }))
            .collect();
        let inferred = fused.infer(&facts, 1).unwrap();
        assert_eq!(inferred[0].shape, shape);
    }
}

#[test]
fn a_step_that_changes_the_shape_is_refused() {
    let a = TensorType::new(DType::F32, vec![2, 3]);
    let b = TensorType::new(DType::F32, vec![3, 4]);
    let wide = TensorType::new(DType::F32, vec![5, 2, 4]);
    let fused = Fused {
        anchor: Box::new(Op::MatMul),
        anchor_operands: 2,
        steps: vec![Step::Binary {
            op: Binary::Add,
            operand: 0,
            swapped: false,
        }],
    };
    let fact = |ty| Some(Fact { ty, value: None });
    let err = fused
        .infer(&[fact(&a), fact(&b), fact(&wide)], 1)
        .unwrap_err();
    assert!(err.0.contains("changes the output type"), "{}", err.0);
    assert!(
        fused.infer(&[fact(&a), fact(&b)], 1).is_err(),
        "missing extra operand"
    );
}

#[test]
fn operand_forms() {
    let conv = Op::Conv(Conv {
        kernel_shape: vec![],
        strides: vec![],
        pads: vec![],
        dilations: vec![],
        group: 1,
    });
    let out = [2, 8, 5, 5];
    let form =
        |anchor: &Op, out: &[usize], shape: &[usize]| Fused::operand_form(anchor, out, shape);
    assert_eq!(form(&conv, &out, &[2, 8, 5, 5]), Some(OperandForm::Full));
    assert_eq!(
        form(&conv, &[1, 8, 5, 5], &[8, 5, 5]),
        Some(OperandForm::Full)
    );
    assert_eq!(form(&conv, &out, &[1, 8, 1, 1]), Some(OperandForm::Channel));
    assert_eq!(form(&conv, &out, &[8, 1, 1]), Some(OperandForm::Channel));
    assert_eq!(form(&conv, &out, &[1]), Some(OperandForm::Scalar));
    assert_eq!(form(&conv, &out, &[]), Some(OperandForm::Scalar));
    // Along the width, or broadcasting over the batch only: not readable.
    assert_eq!(form(&conv, &out, &[5]), None);
    assert_eq!(form(&conv, &out, &[1, 8, 5, 5]), None);
    assert_eq!(form(&Op::MatMul, &[3, 7], &[7]), Some(OperandForm::Channel));
    assert_eq!(form(&Op::MatMul, &[3, 7], &[3, 1]), None);
    assert_eq!(form(&Op::MatMul, &[3, 7], &[2, 3, 7]), None);
}
