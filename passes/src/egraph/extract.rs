//! Extraction: one e-node chosen per e-class, which together form the program
//! turned back into IR. The strategy is a trait: [`Greedy`] is egg's tree-cost
//! extractor, [`DagGreedy`](super::dag_extract::DagGreedy) (what the optimiser
//! uses) counts a value shared by several users once.

use std::collections::HashMap;

use egg::Id;

use super::analysis::IrEGraph;
use super::cost::{Roofline, RooflineCost};
use super::language::Enode;

/// Chooses an e-node for every e-class reachable from `roots`.
pub trait Extraction {
    fn choose(&self, egraph: &IrEGraph, roots: &[Id]) -> Choices;
}

/// The chosen e-node per canonical e-class id, and the total estimated cost.
pub struct Choices {
    pub nodes: HashMap<Id, Enode>,
    pub seconds: f64,
}

impl Choices {
    pub fn node(&self, egraph: &IrEGraph, id: Id) -> &Enode {
        &self.nodes[&egraph.find(id)]
    }
}

/// egg's bottom-up extractor: each class takes its node of least tree cost
/// (a shared operand is counted once per use, which favours fewer uses of a value:
/// the right bias for merging branches).
pub struct Greedy {
    pub roofline: Roofline,
}

impl Extraction for Greedy {
    fn choose(&self, egraph: &IrEGraph, roots: &[Id]) -> Choices {
        let cost = RooflineCost {
            egraph,
            roofline: self.roofline,
        };
        let extractor = egg::Extractor::new(egraph, cost);
        let mut nodes = HashMap::new();
        let mut stack: Vec<Id> = roots.iter().map(|&r| egraph.find(r)).collect();
        while let Some(id) = stack.pop() {
            if nodes.contains_key(&id) {
                continue;
            }
            let node = extractor.find_best_node(id).clone();
            stack.extend(
                egg::Language::children(&node)
                    .iter()
                    .map(|&c| egraph.find(c)),
            );
            nodes.insert(id, node);
        }
        let best = |id: Id| extractor.find_best_node(id).clone();
        let tree_cost = |node: &Enode| {
            let mut local = RooflineCost {
                egraph,
                roofline: self.roofline,
            };
            egg::CostFunction::cost(&mut local, node, |c| extractor.find_best_cost(c))
        };
        super::rules::fusion::unfuse_shared(egraph, roots, &mut nodes, &best, &tree_cost);
        let seconds = unique_cost(egraph, &nodes, self.roofline);
        Choices { nodes, seconds }
    }
}

/// The run-time cost of the chosen program, each chosen e-node counted once.
pub fn unique_cost(egraph: &IrEGraph, nodes: &HashMap<Id, Enode>, roofline: Roofline) -> f64 {
    nodes
        .iter()
        .map(|(&id, node)| match node {
            Enode::Op(key, operands) => {
                let facts: Vec<_> = operands.iter().map(|&c| &egraph[c].data).collect();
                if facts.iter().all(|d| d.constant) {
                    0.0
                } else {
                    roofline.op_seconds(key.op(), &facts, &egraph[id].data)
                }
            }
            _ => 0.0,
        })
        .sum()
}
