//! Fused elementwise kernels against `Fused::eval` (the anchor's reference, then
//! each step's): Unary and Binary anchors, extras that broadcast per channel, per
//! row, as scalars or in full, vector bodies with scalar tails; and the anchors
//! and steps the kernel refuses.

use nnc_ir::ops::{Binary, Fused, Step, Unary};
use nnc_ir::{DType, Op, Tensor};

use super::super::random_tensors::{random_small as random, rng};
use super::super::testing::{check_op, single_node_graph, test_target};

fn bin(op: Binary, operand: usize, swapped: bool) -> Step {
    Step::Binary {
        op,
        operand,
        swapped,
    }
}

fn fused(anchor: Op, anchor_operands: usize, steps: Vec<Step>) -> Op {
    Op::Fused(Fused {
        anchor: Box::new(anchor),
        anchor_operands,
        steps,
    })
}

/// Step lists over extras 0 (full), 1 (per channel), 2 (scalar), 3 (per row).
fn step_lists() -> Vec<Vec<Step>> {
    vec![
        vec![Step::Unary(Unary::Sigmoid)],
        vec![bin(Binary::Mul, 1, false), bin(Binary::Add, 0, true)],
        vec![
            bin(Binary::Sub, 2, true),
            Step::Unary(Unary::Erf),
            bin(Binary::Div, 3, false),
            Step::Gate(Unary::Sigmoid),
            Step::Clip {
                min: Some(-0.5),
                max: None,
            },
            bin(Binary::Max, 1, true),
            bin(Binary::Min, 0, false),
            Step::Unary(Unary::Sqrt),
        ],
    ]
}

#[test]
fn chains_match_the_reference() {
    let mut rng = rng(7);
    for shape in [
        &[1, 3, 5, 7][..],
        &[2, 4, 1, 9],
        &[1, 1, 1, 1],
        &[1, 6, 2, 4],
    ] {
        let full = random(&mut rng, DType::F32, shape);
        let channel = random(&mut rng, DType::F32, &[shape[1], 1, 1]);
        let scalar = random(&mut rng, DType::F32, &[]);
        let row = random(&mut rng, DType::F32, &[shape[3]]);
        let x = random(&mut rng, DType::F32, shape);
        let y = random(&mut rng, DType::F32, &[shape[1], 1, shape[3]]);
        let anchors = [
            (Op::Unary(Unary::Tanh), vec![&x]),
            (Op::Binary(Binary::Add), vec![&x, &y]),
            (Op::Binary(Binary::Div), vec![&y, &x]),
        ];
        for (anchor, inputs) in anchors {
            for steps in step_lists() {
                let op = fused(anchor.clone(), inputs.len(), steps);
                let mut values: Vec<Option<&Tensor>> = inputs.iter().map(|t| Some(*t)).collect();
                values.extend([Some(&full), Some(&channel), Some(&scalar), Some(&row)]);
                let constants = [inputs.len() + 1, inputs.len() + 2];
                check_op(op, &values, &constants, 1, 1e-4, 1e-4);
            }
        }
    }
}

/// Anchors and steps outside the kernel's reach are errors naming the node, not
/// wrong code.
#[test]
fn refuses_what_it_cannot_compute() {
    let mut rng = rng(8);
    let x = random(&mut rng, DType::F32, &[2, 3]);
    let y = random(&mut rng, DType::F32, &[2, 3]);
    let target = test_target();
    let cases = [
        fused(Op::Binary(Binary::Pow), 2, vec![Step::Unary(Unary::Relu)]),
        fused(
            Op::Unary(Unary::Relu),
            1,
            vec![bin(Binary::Mod { fmod: true }, 0, false)],
        ),
    ];
    for op in cases {
        let inputs = [Some(&x), Some(&y)];
        let graph = single_node_graph(op, &inputs, &[], 1);
        let (_, node) = graph.nodes().next().expect("one node");
        let err = super::super::lower_node(&graph, node, &target).expect_err("refused");
        assert!(err.to_string().contains("node"), "{err}");
    }
}
