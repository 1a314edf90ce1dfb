//! Epilogue fusion as rewrites: a Conv, MatMul or Gemm (the *anchor*) and the
//! elementwise ops after it become one `Fused` e-node, the op the backend lowers as
//! one kernel that applies the steps before its single store.
//!
//! Each rule starts from the step op and looks for an anchor (or an already fused
//! anchor) in its running operand's class; it adds the longer fused form to the
//! step's class. Whether it pays is extraction's call: a fused step adds no kernel
//! and no intermediate tensor, so the roofline prefers it — unless the unfused
//! value is needed elsewhere too, which [`shared_prefixes`] detects so that the
//! extraction does not compute the anchor twice.
//!
//! | rule | from | to | condition |
//! |---|---|---|---|
//! | `fuse-<activation>` | `f(A(..))` | `Fused(A, [.., f])` | `anchor`, `activation` |
//! | `fuse-clip` | `Clip(A(..), lo, hi)` | `Fused(A, [.., Clip])` | `anchor`, `constant_bounds` |
//! | `fuse-<binary>` | `A(..) op e`, `e op A(..)` | `Fused(A, [.., op e])` | `anchor`, `readable_operand` |
//!
//! `--disable-rules fusion` turns all of them off (see [`GROUP`]).

use std::collections::{HashMap, HashSet};

use egg::Id;
use nnc_ir::ops::{Binary, Fused, Step, Unary};
use nnc_ir::{DType, Op};

use super::super::analysis::IrEGraph;
use super::super::language::Enode;
use super::{NodeRule, absent, add_op, both_orders, is_absent, ops_in, same, scalar, ty};

/// The name that disables every rule of this module; their names start with it.
pub const GROUP: &str = "fusion";
const PREFIX: &str = "fuse-";

/// Whether rule `name` belongs to this module's group.
pub fn in_group(name: &str) -> bool {
    name.starts_with(PREFIX)
}

pub const RULES: &[NodeRule] = step_rules![
    "fuse-relu" => "Relu" by fuse_step,
    "fuse-leaky-relu" => "LeakyRelu" by fuse_step,
    "fuse-sigmoid" => "Sigmoid" by fuse_step,
    "fuse-tanh" => "Tanh" by fuse_step,
    "fuse-hard-swish" => "HardSwish" by fuse_step,
    "fuse-hard-sigmoid" => "HardSigmoid" by fuse_step,
    "fuse-gelu" => "Gelu" by fuse_step,
    "fuse-elu" => "Elu" by fuse_step,
    "fuse-selu" => "Selu" by fuse_step,
    "fuse-celu" => "Celu" by fuse_step,
    "fuse-softplus" => "Softplus" by fuse_step,
    "fuse-mish" => "Mish" by fuse_step,
    "fuse-abs" => "Abs" by fuse_step,
    "fuse-neg" => "Neg" by fuse_step,
    "fuse-clip" => "Clip" by fuse_step,
    "fuse-add" => "Add" by fuse_step,
    "fuse-sub" => "Sub" by fuse_step,
    "fuse-mul" => "Mul" by fuse_step,
    "fuse-div" => "Div" by fuse_step,
    "fuse-max" => "Max" by fuse_step,
    "fuse-min" => "Min" by fuse_step,
    "fuse-silu" => "Mul" by fuse_silu,
];

/// Condition `activation`: the unary ops whose f32 lowering the epilogue has.
fn activation(u: Unary) -> bool {
    Step::fusable_activation(u)
}

/// A fusable producer found in a class: the anchor op, its operand slots, the
/// steps and extra operands so far (also the elementwise chains' producer).
pub(super) struct Producer {
    pub anchor: Op,
    pub anchor_operands: Vec<Id>,
    pub steps: Vec<Step>,
    pub extras: Vec<Id>,
}

impl Producer {
    /// The `Fused` e-node of this producer followed by `step` (a binary step
    /// reads `extra`).
    pub(super) fn with(mut self, eg: &mut IrEGraph, step: Step, extra: Option<Id>) -> Id {
        let step = match (step, extra) {
            (Step::Binary { op, swapped, .. }, Some(e)) => {
                self.extras.push(e);
                Step::Binary {
                    op,
                    operand: self.extras.len() - 1,
                    swapped,
                }
            }
            (step, _) => step,
        };
        self.steps.push(step);
        let fused = Fused {
            anchor: Box::new(self.anchor),
            anchor_operands: self.anchor_operands.len(),
            steps: self.steps,
        };
        let mut operands = self.anchor_operands;
        operands.extend(self.extras);
        add_op(eg, Op::Fused(fused), operands)
    }
}

/// Condition `anchor`: Conv, MatMul of matrices (so the last output dim is B's
/// columns) or Gemm computing f32 — or a `Fused` of one — in class `id`.
fn producers(eg: &mut IrEGraph, id: Id) -> Vec<Producer> {
    let f32_out = ty(eg, id).is_some_and(|t| t.dtype == DType::F32);
    if !f32_out {
        return Vec::new();
    }
    let found = ops_in(eg, id, |op| {
        matches!(op, Op::Conv(_) | Op::Gemm(_) | Op::MatMul | Op::Fused(_))
    });
    let mut out = Vec::new();
    for (op, operands) in found {
        let rank = |k: usize| {
            operands
                .get(k)
                .and_then(|&o| ty(eg, o))
                .map_or(0, |t| t.rank())
        };
        match op {
            // Elementwise-anchored chains are `elementwise`'s to extend.
            Op::Fused(f) if !matches!(*f.anchor, Op::Conv(_) | Op::Gemm(_) | Op::MatMul) => {}
            Op::Fused(f) => {
                let (anchor, extras) = operands.split_at(f.anchor_operands);
                out.push(Producer {
                    anchor: *f.anchor,
                    anchor_operands: anchor.to_vec(),
                    steps: f.steps,
                    extras: extras.to_vec(),
                });
            }
            Op::MatMul if rank(0) < 2 || rank(1) < 2 => {}
            anchor => {
                let slots = if anchor == Op::MatMul { 2 } else { 3 };
                let mut anchor_operands = operands.clone();
                while anchor_operands.len() < slots {
                    anchor_operands.push(absent(eg));
                }
                out.push(Producer {
                    anchor,
                    anchor_operands,
                    steps: Vec::new(),
                    extras: Vec::new(),
                });
            }
        }
    }
    // Condition `shortest_form`: a class that an anchor computes alone is fused
    // from its bare anchors only, otherwise from its fused forms with fewest
    // steps. A longer equivalent form only builds a worse kernel; and since the
    // other rules give a class many equivalent forms (bias folded or not, scale
    // before or after), extending all of them grows the e-graph exponentially
    // with the length of a chain.
    let fewest = out.iter().map(|p| p.steps.len()).min().unwrap_or(0);
    out.retain(|p| p.steps.len() == fewest);
    out
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

/// Condition `readable_operand`: `e` is f32, is not the running value itself and
/// spreads over the anchor's output in a form the fused kernels read (full, per
/// channel, scalar), and the step keeps the output's type.
fn readable_operand(eg: &IrEGraph, class: Id, anchor: &Op, v: Id, e: Id) -> bool {
    let (Some(vt), Some(et), Some(ct)) = (ty(eg, v), ty(eg, e), ty(eg, class)) else {
        return false;
    };
    !same(eg, v, e)
        && et.dtype == DType::F32
        && vt == ct
        && Fused::operand_form(anchor, &vt.shape, &et.shape).is_some()
}

fn fuse_step(eg: &mut IrEGraph, class: Id, op: &Op, operands: &[Id]) -> Option<Id> {
    let mut added = Vec::new();
    match op {
        Op::Unary(u) if activation(*u) => {
            let step = Step::Unary(*u);
            for p in producers(eg, operands[0]) {
                added.push(p.with(eg, step, None));
            }
        }
        Op::Clip => {
            let step = clip_step(eg, operands)?;
            for p in producers(eg, operands[0]) {
                added.push(p.with(eg, step, None));
            }
        }
        Op::Binary(
            b @ (Binary::Add | Binary::Sub | Binary::Mul | Binary::Div | Binary::Max | Binary::Min),
        ) => {
            for (swapped, (v, e)) in both_orders(operands).into_iter().enumerate() {
                let swapped = swapped == 1;
                for p in producers(eg, v) {
                    if readable_operand(eg, class, &p.anchor, v, e) {
                        let step = Step::Binary {
                            op: *b,
                            operand: 0,
                            swapped,
                        };
                        added.push(p.with(eg, step, Some(e)));
                    }
                }
            }
        }
        _ => {}
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

/// `v * Sigmoid(v)` (either order) with `v` from an anchor: one SiLU gate step.
fn fuse_silu(eg: &mut IrEGraph, class: Id, _op: &Op, operands: &[Id]) -> Option<Id> {
    let mut added = Vec::new();
    for (v, s) in both_orders(operands) {
        let gates = ops_in(eg, s, |op| *op == Op::Unary(Unary::Sigmoid));
        if !gates.iter().any(|(_, o)| same(eg, o[0], v)) {
            continue;
        }
        for p in producers(eg, v) {
            added.push(p.with(eg, Step::Gate(Unary::Sigmoid), None));
        }
    }
    unioned(eg, class, added)
}

/// For a chosen `Fused` e-node, the classes of its shorter forms: the bare anchor,
/// then the anchor with each proper prefix of its steps. When one of them is also
/// part of the chosen program, the fused node recomputes the anchor.
pub fn shared_prefixes(eg: &IrEGraph, node: &Enode) -> Vec<Id> {
    let Some((Op::Fused(f), operands)) = node.as_op() else {
        return Vec::new();
    };
    let (anchor_operands, extras) = operands.split_at(f.anchor_operands.min(operands.len()));
    let mut prefixes = Vec::new();
    // The bare anchor, with or without the trailing absent slots fusion added.
    let mut bare = anchor_operands.to_vec();
    loop {
        if let Some(id) = eg.lookup(Enode::op((*f.anchor).clone(), bare.clone())) {
            prefixes.push(id);
        }
        match bare.last() {
            Some(&last) if is_absent(eg, last) => {
                bare.pop();
            }
            _ => break,
        }
    }
    for k in 1..f.steps.len() {
        let steps = f.steps[..k].to_vec();
        let used = steps
            .iter()
            .filter(|s| matches!(s, Step::Binary { .. }))
            .count();
        let mut ops = anchor_operands.to_vec();
        ops.extend_from_slice(&extras[..used.min(extras.len())]);
        let shorter = Fused {
            anchor: f.anchor.clone(),
            anchor_operands: f.anchor_operands,
            steps,
        };
        if let Some(id) = eg.lookup(Enode::op(Op::Fused(shorter), ops)) {
            prefixes.push(id);
        }
    }
    prefixes
}

/// Repairs a chosen program in which a `Fused` e-node's anchor (or a shorter fused
/// form of it) is computed elsewhere too — as a value of its own, or inside
/// another fused node. That fused node is banned and its class takes its next
/// cheapest e-node (`cost`: tree cost over the classes' best choices), e.g. the
/// unfused last step over the shared form, or a form fused from another operand.
/// Repeats until no fused node duplicates work; `best` gives the choice of a
/// class the repair newly needs.
pub fn unfuse_shared(
    eg: &IrEGraph,
    roots: &[Id],
    nodes: &mut HashMap<Id, Enode>,
    best: &dyn Fn(Id) -> Enode,
    cost: &dyn Fn(&Enode) -> f64,
) {
    let mut banned: HashSet<(Id, Enode)> = HashSet::new();
    for _ in 0..4 * nodes.len().max(1) {
        let reachable = reachable(eg, roots, nodes);
        // How many chosen fused nodes contain each shorter form.
        let mut inside: HashMap<Id, usize> = HashMap::new();
        let mut fused = Vec::new();
        for &class in &reachable {
            let prefixes: Vec<Id> = shared_prefixes(eg, &nodes[&class])
                .into_iter()
                .map(|p| eg.find(p))
                .collect();
            for &p in &prefixes {
                *inside.entry(p).or_default() += 1;
            }
            if !prefixes.is_empty() {
                fused.push((class, prefixes));
            }
        }
        // A fused node whose shorter form the program computes anyway is the one
        // to give up first; of two fused nodes sharing a shorter form, either.
        let computed = |p: &Id| reachable.contains(p);
        let twice = |p: &Id| inside[p] > 1;
        // Of two sharing, the longer (the chain extended past the other's end).
        // Sorted, so that the result does not depend on hash order.
        fused.sort_by_key(|(class, p)| (std::cmp::Reverse(p.len()), *class));
        let offender = fused
            .iter()
            .find(|(_, p)| p.iter().any(computed))
            .or_else(|| fused.iter().find(|(_, p)| p.iter().any(twice)));
        let Some(&(class, _)) = offender else {
            break;
        };
        banned.insert((class, nodes[&class].clone()));
        let next = eg[class]
            .nodes
            .iter()
            .filter(|n| !banned.contains(&(class, (*n).clone())))
            .map(|n| (cost(n), n))
            .filter(|(c, _)| c.is_finite())
            .min_by(|a, b| a.0.total_cmp(&b.0));
        let Some((_, next)) = next else {
            break;
        };
        let next = next.clone();
        for &c in egg::Language::children(&next) {
            add_choices(eg, c, nodes, best);
        }
        nodes.insert(class, next);
    }
    // Classes only the replaced choices read are no longer part of the program
    // (and must not count in its cost).
    let reachable = reachable(eg, roots, nodes);
    nodes.retain(|c, _| reachable.contains(c));
}

/// Gives `class` and the classes under it a choice (`best`) where they have none
/// (a class reached only through a repaired node).
fn add_choices(
    eg: &IrEGraph,
    class: Id,
    nodes: &mut HashMap<Id, Enode>,
    best: &dyn Fn(Id) -> Enode,
) {
    let mut stack = vec![eg.find(class)];
    while let Some(c) = stack.pop() {
        if nodes.contains_key(&c) {
            continue;
        }
        let node = best(c);
        stack.extend(egg::Language::children(&node).iter().map(|&k| eg.find(k)));
        nodes.insert(c, node);
    }
}

fn reachable(eg: &IrEGraph, roots: &[Id], nodes: &HashMap<Id, Enode>) -> HashSet<Id> {
    let mut seen = HashSet::new();
    let mut stack: Vec<Id> = roots.iter().map(|&r| eg.find(r)).collect();
    while let Some(id) = stack.pop() {
        if !seen.insert(id) {
            continue;
        }
        if let Some(n) = nodes.get(&id) {
            stack.extend(egg::Language::children(n).iter().map(|&c| eg.find(c)));
        }
    }
    seen
}
