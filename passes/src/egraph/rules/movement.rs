//! Chains of Reshape and Transpose that put every element back where it was.
//!
//! Exporters write layout changes as several movement ops — ViT's patch
//! embedding goes `[196, 192] -> Reshape [1,14,14,192] -> Transpose (NHWC->NCHW)
//! -> Reshape [1,192,196] -> Transpose [0,2,1]`, which is `[1,196,192]` in the
//! very order it started in. Each Transpose is a copy kernel; the chain is one
//! Reshape, which the memory planner runs in place.
//!
//! The rule walks down from a movement op through the movement ops under it
//! (the first one of each class, at most [`MAX_CHAIN`] deep) and checks, by
//! running the chain on the element indices of its source (`Op::eval`, the
//! reference semantics), whether the composite is the identity in row-major
//! order. Pairs are already handled by `transpose-transpose` and
//! `reshape-reshape`; this catches the chains that mix them.
//!
//! | rule | from | to | condition |
//! |---|---|---|---|
//! | `movement-identity` | `M_k(..M_1(x))`, each `M` a Reshape or Transpose | `Reshape(x)` or `x` | `identity_order`, `small_enough` |

use egg::Id;
use nnc_ir::ops::Reshape;
use nnc_ir::{Op, Tensor};

use super::super::analysis::IrEGraph;
use super::{NodeRule, add_op, is_constant, ops_in, ty};

pub const RULES: &[NodeRule] = &[
    NodeRule {
        name: "movement-identity",
        head: "Transpose",
        apply: movement_identity,
    },
    NodeRule {
        name: "movement-identity",
        head: "Reshape",
        apply: movement_identity,
    },
];

/// How many movement ops below the head the rule looks (within the runner's
/// `REACH`).
pub const MAX_CHAIN: usize = 6;

/// Condition `small_enough`: tensors whose element indices are exact in f32 and
/// cheap to move at compile time.
const MAX_ELEMENTS: usize = 1 << 22;

fn is_movement(op: &Op) -> bool {
    matches!(op, Op::Reshape(_) | Op::Transpose(_))
}

fn movement_identity(eg: &mut IrEGraph, class: Id, op: &Op, operands: &[Id]) -> Option<Id> {
    let out_shape = ty(eg, class)?.shape.clone();
    if is_constant(eg, class) {
        return None;
    }
    // The ops from the head down: (op, its operand class).
    let mut chain = vec![(op.clone(), operands[0])];
    while chain.len() < MAX_CHAIN {
        let below = chain.last().map(|(_, x)| *x)?;
        let Some((next, next_operands)) = ops_in(eg, below, is_movement).into_iter().next() else {
            break;
        };
        chain.push((next, next_operands[0]));
    }
    // Shortest first: the longest identity chain is found through its parts
    // anyway, and a short one replaces the most.
    for depth in 3..=chain.len() {
        let source = chain[depth - 1].1;
        let Some(t) = ty(eg, source) else { continue };
        if t.len() > MAX_ELEMENTS || t.len() != out_shape.iter().product::<usize>() {
            continue;
        }
        if identity_order(&t.shape, &chain[..depth]) {
            let shape = t.shape.clone();
            if shape == out_shape {
                return Some(eg.find(source));
            }
            let reshape = Op::Reshape(Reshape { shape: out_shape });
            return Some(add_op(eg, reshape, vec![source]));
        }
    }
    None
}

/// Condition `identity_order`: running `chain` (head first) on the row-major
/// indices of a tensor of `shape` leaves every index where it was.
fn identity_order(shape: &[usize], chain: &[(Op, Id)]) -> bool {
    let n: usize = shape.iter().product();
    let iota: Vec<f32> = (0..n).map(|i| i as f32).collect();
    let Ok(mut v) = Tensor::from_vec(shape.to_vec(), iota) else {
        return false;
    };
    for (op, _) in chain.iter().rev() {
        // A Reshape takes its target shape as an attribute here (the shape
        // operand was folded when the graph was read).
        match op.eval(&[Some(&v)], 1) {
            Ok(mut out) if out.len() == 1 => v = out.remove(0),
            _ => return false,
        }
    }
    match v.to_vec::<f32>() {
        Ok(values) => values.iter().enumerate().all(|(i, &x)| x == i as f32),
        Err(_) => false,
    }
}
