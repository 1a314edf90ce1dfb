//! Chains of elementwise ops as one kernel: `f(g(x, y), e)`... becomes a `Fused`
//! e-node whose *anchor* is the first elementwise op and whose steps are the rest,
//! which the backend lowers as one broadcast walk reading every input once and
//! writing the output once (`lower::fused_elementwise`). The unfused chain stores
//! and reloads every intermediate tensor, and pays a launch per op.
//!
//! Each rule starts from a step op and looks, in its running operand's class, for
//! an elementwise producer: an elementwise-anchored `Fused` (the longest there, so
//! a chain grows one step per iteration without building every sub-chain) or a
//! bare elementwise op (a chain may also start there). A chain does not pass
//! through a value other e-nodes read; one also needed as a graph output is left
//! to extraction's repair ([`super::fusion::unfuse_shared`]), as for the conv
//! epilogues.
//!
//! | rule | from | to | condition |
//! |---|---|---|---|
//! | `ew-<unary>` | `f(P)` | `Fused(P.., f)` | `elementwise_producer`, `sole_user`, `keeps_f32` |
//! | `ew-clip` | `Clip(P, lo, hi)` | `Fused(P.., Clip)` | `elementwise_producer`, `sole_user`, `constant_bounds` |
//! | `ew-<binary>` | `P op e`, `e op P` | `Fused(P.., op e)` | `elementwise_producer`, `sole_user`, `broadcasts_into`, `reads_no_own_value` |
//! | `ew-silu` | `P * Sigmoid(P)` | `Fused(P.., Gate)` | `elementwise_producer`, `sole_user` |
//!
//! `--disable-rules elementwise` turns all of them off (see [`GROUP`]).

use egg::Id;
use nnc_ir::ops::{Binary, Step, Unary};
use nnc_ir::{DType, Op};

use super::super::analysis::IrEGraph;
use super::super::language::Enode;
use super::fusion::{self, shared_prefixes};
use super::{NodeRule, both_orders, is_absent, is_constant, ops_in, same, scalar, ty};

/// The name that disables every rule of this module; their names start with it.
pub const GROUP: &str = "elementwise";
const PREFIX: &str = "ew-";

/// Whether rule `name` belongs to this module's group.
pub fn in_group(name: &str) -> bool {
    name.starts_with(PREFIX)
}

pub const RULES: &[NodeRule] = step_rules![
    "ew-relu" => "Relu" by chain_step,
    "ew-leaky-relu" => "LeakyRelu" by chain_step,
    "ew-sigmoid" => "Sigmoid" by chain_step,
    "ew-tanh" => "Tanh" by chain_step,
    "ew-hard-swish" => "HardSwish" by chain_step,
    "ew-hard-sigmoid" => "HardSigmoid" by chain_step,
    "ew-gelu" => "Gelu" by chain_step,
    "ew-elu" => "Elu" by chain_step,
    "ew-softplus" => "Softplus" by chain_step,
    "ew-mish" => "Mish" by chain_step,
    "ew-abs" => "Abs" by chain_step,
    "ew-neg" => "Neg" by chain_step,
    "ew-exp" => "Exp" by chain_step,
    "ew-log" => "Log" by chain_step,
    "ew-sqrt" => "Sqrt" by chain_step,
    "ew-reciprocal" => "Reciprocal" by chain_step,
    "ew-erf" => "Erf" by chain_step,
    "ew-clip" => "Clip" by chain_step,
    "ew-add" => "Add" by chain_step,
    "ew-sub" => "Sub" by chain_step,
    "ew-mul" => "Mul" by chain_step,
    "ew-div" => "Div" by chain_step,
    "ew-max" => "Max" by chain_step,
    "ew-min" => "Min" by chain_step,
    "ew-silu" => "Mul" by chain_silu,
];

/// Condition `keeps_f32`: a unary op defined on f32 that gives f32.
fn keeps_f32(u: Unary) -> bool {
    u.accepts(DType::F32) && u.output_dtype(DType::F32) == DType::F32
}

/// The binary ops a fused elementwise kernel computes as vector expressions.
fn fusable_binary(b: Binary) -> bool {
    matches!(
        b,
        Binary::Add | Binary::Sub | Binary::Mul | Binary::Div | Binary::Max | Binary::Min
    )
}

/// An elementwise producer found in a class, with the values it computes.
struct Producer {
    chain: fusion::Producer,
    /// The classes the chain computes on the way (its bare anchor, its shorter
    /// forms) and its own: a step reading one of them would need it stored.
    inside: Vec<Id>,
}

impl Producer {
    /// Condition `reads_no_own_value`: `e` is not a value the chain computes.
    fn may_read(&self, eg: &IrEGraph, e: Id) -> bool {
        !self.inside.iter().any(|&c| same(eg, c, e))
    }

    fn with(self, eg: &mut IrEGraph, step: Step, extra: Option<Id>) -> Id {
        self.chain.with(eg, step, extra)
    }
}

/// Whether `op` over operand classes `operands` can anchor a fused elementwise
/// kernel: an f32 unary or fusable binary op, every operand f32.
fn elementwise_anchor(eg: &IrEGraph, op: &Op, operands: &[Id]) -> bool {
    let f32_operands = operands
        .iter()
        .all(|&o| ty(eg, o).is_some_and(|t| t.dtype == DType::F32));
    f32_operands
        && match op {
            Op::Unary(u) => operands.len() == 1 && keeps_f32(*u),
            Op::Binary(b) => operands.len() == 2 && fusable_binary(*b),
            _ => false,
        }
}

/// Condition `elementwise_producer`: the f32, run-time class `id` is computed by
/// an elementwise-anchored `Fused` or a bare elementwise op.
fn producers(eg: &IrEGraph, id: Id) -> Vec<Producer> {
    let f32_out = ty(eg, id).is_some_and(|t| t.dtype == DType::F32);
    if !f32_out || is_constant(eg, id) {
        return Vec::new();
    }
    let mut fused = Vec::new();
    let mut bare = Vec::new();
    for (op, operands) in ops_in(eg, id, |op| {
        matches!(op, Op::Fused(_) | Op::Unary(_) | Op::Binary(_))
    }) {
        match op {
            Op::Fused(f) if f.anchor_operands <= operands.len() => {
                let (anchor, extras) = operands.split_at(f.anchor_operands);
                if elementwise_anchor(eg, &f.anchor, anchor) {
                    let node = Enode::op(Op::Fused(f.clone()), operands.clone());
                    let mut inside = shared_prefixes(eg, &node);
                    inside.push(id);
                    fused.push(Producer {
                        chain: fusion::Producer {
                            anchor: *f.anchor,
                            anchor_operands: anchor.to_vec(),
                            steps: f.steps,
                            extras: extras.to_vec(),
                        },
                        inside,
                    });
                }
            }
            Op::Fused(_) => {}
            op if elementwise_anchor(eg, &op, &operands) => bare.push(Producer {
                chain: fusion::Producer {
                    anchor: op,
                    anchor_operands: operands,
                    steps: Vec::new(),
                    extras: Vec::new(),
                },
                inside: vec![id],
            }),
            _ => {}
        }
    }
    // Condition `longest_form`: of the fused forms, only the longest grow (a
    // chain is one kernel when nothing else reads its middle); the bare op starts
    // a new chain (for when something does, and the longest cannot be used).
    let most = fused.iter().map(|p| p.chain.steps.len()).max().unwrap_or(0);
    fused.retain(|p| p.chain.steps.len() == most);
    fused.extend(bare);
    fused
}

/// Condition `broadcasts_into`: `e` is f32, is not the running value `v`, and
/// broadcasts into the output of `class` without changing it (which is `v`'s type).
fn broadcasts_into(eg: &IrEGraph, class: Id, v: Id, e: Id) -> bool {
    let (Some(vt), Some(et), Some(ct)) = (ty(eg, v), ty(eg, e), ty(eg, class)) else {
        return false;
    };
    if same(eg, v, e) || et.dtype != DType::F32 || vt != ct || et.rank() > ct.rank() {
        return false;
    }
    let offset = ct.rank() - et.rank();
    et.shape
        .iter()
        .enumerate()
        .all(|(k, &d)| d == 1 || d == ct.shape[offset + k])
}

/// Condition `sole_user`: every e-node reading `v` is in one of the classes
/// `users` (the head's, and for a gate the Sigmoid's). A value read elsewhere
/// would have to be stored anyway, so a chain through it only duplicates work
/// (extraction would undo it); and chains through shared values, e.g. a residual
/// stream, would grow with the depth of the network.
fn sole_user(eg: &IrEGraph, v: Id, users: &[Id]) -> bool {
    eg[v]
        .parents()
        .all(|p| users.iter().any(|&u| same(eg, p, u)))
}

/// Condition `constant_bounds`: Clip's bounds are absent or known f32 scalars.
fn clip_step(eg: &IrEGraph, operands: &[Id]) -> Option<Step> {
    let bound = |k: usize| -> Option<Option<f32>> {
        match operands.get(k) {
            None => Some(None),
            Some(&b) if is_absent(eg, b) => Some(None),
            Some(&b) => scalar(eg, b).map(Some),
        }
    };
    Some(Step::Clip {
        min: bound(1)?,
        max: bound(2)?,
    })
}

/// Whether the step keeps the running value's type (unary ops and Clip do when
/// the class has the operand's type).
fn same_type(eg: &IrEGraph, class: Id, v: Id) -> bool {
    matches!((ty(eg, class), ty(eg, v)), (Some(c), Some(t)) if c == t)
}

fn chain_step(eg: &mut IrEGraph, class: Id, op: &Op, operands: &[Id]) -> Option<Id> {
    let mut added = Vec::new();
    match op {
        Op::Unary(_) | Op::Clip if !sole_user(eg, operands[0], &[class]) => {}
        Op::Unary(u) if keeps_f32(*u) && same_type(eg, class, operands[0]) => {
            for p in producers(eg, operands[0]) {
                added.push(p.with(eg, Step::Unary(*u), None));
            }
        }
        Op::Clip if same_type(eg, class, operands[0]) => {
            let step = clip_step(eg, operands)?;
            for p in producers(eg, operands[0]) {
                added.push(p.with(eg, step, None));
            }
        }
        Op::Binary(b) if fusable_binary(*b) => {
            for (swapped, (v, e)) in both_orders(operands).into_iter().enumerate() {
                if !broadcasts_into(eg, class, v, e) || !sole_user(eg, v, &[class]) {
                    continue;
                }
                for p in producers(eg, v) {
                    if !p.may_read(eg, e) {
                        continue;
                    }
                    let step = Step::Binary {
                        op: *b,
                        operand: 0,
                        swapped: swapped == 1,
                    };
                    added.push(p.with(eg, step, Some(e)));
                }
            }
        }
        _ => {}
    }
    unioned(eg, class, added)
}

/// `v * Sigmoid(v)` (either order) with `v` from an elementwise producer.
fn chain_silu(eg: &mut IrEGraph, class: Id, _op: &Op, operands: &[Id]) -> Option<Id> {
    let mut added = Vec::new();
    for (v, s) in both_orders(operands) {
        let gates = ops_in(eg, s, |op| *op == Op::Unary(Unary::Sigmoid));
        if !gates.iter().any(|(_, o)| same(eg, o[0], v))
            || !same_type(eg, class, v)
            || !sole_user(eg, v, &[class, s])
            || !sole_user(eg, s, &[class])
        {
            continue;
        }
        for p in producers(eg, v) {
            added.push(p.with(eg, Step::Gate(Unary::Sigmoid), None));
        }
    }
    unioned(eg, class, added)
}

/// Unions every added form but the first with `class` here and returns the first
/// (egg's applier unions the one a rule returns).
fn unioned(eg: &mut IrEGraph, class: Id, added: Vec<Id>) -> Option<Id> {
    for &other in added.iter().skip(1) {
        eg.union(class, other);
    }
    added.first().copied()
}
