//! The rewrite rules, as tables of [`NodeRule`]s.
//!
//! A rule starts from an e-node with a given op (its *head*), checks named
//! conditions on the classes around it (types, constness, attributes) and builds an
//! equivalent expression, which is unioned with the head's class. Rules only add:
//! extraction decides whether the new form pays.
//!
//! - [`reparam`]: BatchNorm and per-channel affine folding into convolutions,
//!   parallel branches merged into one convolution (RepVGG, MobileOne, ACNet),
//!   identity branches as identity kernels, Pad folded into Conv.
//! - [`chain`]: a pointwise conv after a conv merged into one, when it pays.
//! - [`linear`]: per-column scales and shifts folded into MatMul and Gemm.
//! - [`norm`]: decomposed LayerNorm recognised; the affine after it folded in.
//! - [`patterns`]: decomposed exporter patterns recognised (GELU), transpose and
//!   reshape chains collapsed.
//! - [`movement`]: Reshape / Transpose chains that leave every element in place
//!   collapsed to one Reshape.
//! - [`patchify`]: a convolution over non-overlapping patches as a matrix
//!   product.
//! - [`follow`]: per-channel scales and shifts folded into the conv / MatMul after.
//! - [`pool`]: Pad folded into pools; an average pool as a depthwise conv.
//! - [`dense_branch`]: a depthwise branch (DBB's average pool) written densely
//!   beside a dense sibling conv, so the two merge.
//! - [`activations`]: GELU (tanh form), HardSwish and Softmax written out op by
//!   op, recognised.
//! - [`algebra`]: scalar factors moved out of matrix products (into reach of
//!   fusion).
//! - [`fusion`]: an anchor (Conv, MatMul, Gemm) and the elementwise ops after it
//!   as one fused kernel (`--disable-rules fusion` turns the group off).
//! - [`elementwise`]: a chain of elementwise ops as one fused kernel anchored on
//!   its first op (`--disable-rules elementwise`).

/// A table of [`NodeRule`]s, one a line: `"name" => "HeadOp" by apply_fn`
/// (defined before the modules so that each rule module can use it).
macro_rules! step_rules {
    ($($name:literal => $head:literal by $apply:ident),* $(,)?) => {
        &[$(NodeRule { name: $name, head: $head, apply: $apply }),*]
    };
}

pub mod activations;
pub mod algebra;
mod build;
pub mod chain;
pub mod dense_branch;
pub mod elementwise;
pub mod follow;
pub mod fusion;
pub mod linear;
pub mod movement;
pub mod norm;
pub mod patchify;
pub mod patterns;
pub mod pool;
pub mod reparam;

use egg::{Applier, Id, PatternAst, Rewrite, SearchMatches, Searcher, Subst, Symbol, Var};
use nnc_ir::Op;

use super::analysis::{IrAnalysis, IrEGraph};
use super::language::{Enode, OpKey};

pub use build::*;

/// One rewrite: where it starts and what it builds (`None` when a condition fails).
#[derive(Clone, Copy)]
pub struct NodeRule {
    pub name: &'static str,
    /// The op name (as [`Op::name`]) of the e-node the rule starts from.
    pub head: &'static str,
    /// Arguments: the e-graph, the head's class, the head's op and operands.
    pub apply: fn(&mut IrEGraph, Id, &Op, &[Id]) -> Option<Id>,
}

/// Every rule, in a stable order.
pub fn all_rules() -> Vec<NodeRule> {
    let mut rules = reparam::RULES.to_vec();
    rules.extend_from_slice(chain::RULES);
    rules.extend_from_slice(linear::RULES);
    rules.extend_from_slice(norm::RULES);
    rules.extend_from_slice(patterns::RULES);
    rules.extend_from_slice(movement::RULES);
    rules.extend_from_slice(patchify::RULES);
    rules.extend_from_slice(follow::RULES);
    rules.extend_from_slice(pool::RULES);
    rules.extend_from_slice(dense_branch::RULES);
    rules.extend_from_slice(activations::RULES);
    rules.extend_from_slice(algebra::RULES);
    rules.extend_from_slice(fusion::RULES);
    rules.extend_from_slice(elementwise::RULES);
    rules
}

/// The rules as egg rewrites, without those named in `disabled`.
pub fn rewrites(disabled: &[String]) -> Vec<Rewrite<Enode, IrAnalysis>> {
    all_rules()
        .into_iter()
        .filter(|r| !disabled.iter().any(|d| d == r.name || in_group(d, r.name)))
        .map(|r| {
            Rewrite::new(r.name, HeadSearcher(r.head), RuleApplier(r))
                .expect("a rule without pattern variables is well formed")
        })
        .collect()
}

/// Whether `group` names a family of rules that `name` belongs to.
fn in_group(group: &str, name: &str) -> bool {
    (group == fusion::GROUP && fusion::in_group(name))
        || (group == elementwise::GROUP && elementwise::in_group(name))
}

/// Matches every class holding an e-node with the head op.
struct HeadSearcher(&'static str);

impl Searcher<Enode, IrAnalysis> for HeadSearcher {
    fn search_eclass_with_limit(
        &self,
        egraph: &IrEGraph,
        eclass: Id,
        limit: usize,
    ) -> Option<SearchMatches<'_, Enode>> {
        let has_head = egraph[eclass]
            .nodes
            .iter()
            .any(|n| n.op_name() == Some(self.0));
        (has_head && limit > 0).then(|| SearchMatches {
            eclass,
            substs: vec![Subst::default()],
            ast: None,
        })
    }

    fn vars(&self) -> Vec<Var> {
        vec![]
    }
}

struct RuleApplier(NodeRule);

impl Applier<Enode, IrAnalysis> for RuleApplier {
    fn apply_one(
        &self,
        egraph: &mut IrEGraph,
        eclass: Id,
        _subst: &Subst,
        _ast: Option<&PatternAst<Enode>>,
        _rule: Symbol,
    ) -> Vec<Id> {
        // The shared op, not a copy of it: ops carry attribute vectors.
        let heads: Vec<(OpKey, Vec<Id>)> = egraph[eclass]
            .nodes
            .iter()
            .filter(|n| n.op_name() == Some(self.0.head))
            .filter_map(|n| match n {
                Enode::Op(key, operands) => Some((key.clone(), operands.to_vec())),
                _ => None,
            })
            .collect();
        let mut changed = Vec::new();
        for (key, operands) in heads {
            if let Some(new) = (self.0.apply)(egraph, eclass, key.op(), &operands)
                && egraph.union(eclass, new)
            {
                changed.push(eclass);
            }
        }
        changed
    }
}
