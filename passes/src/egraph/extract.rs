//! Extraction: one e-node chosen per e-class, which together form the program
//! turned back into IR. The strategy is a trait: [`Greedy`] is egg's tree-cost
//! extractor, [`DagGreedy`] (what the optimiser uses) counts a value shared by
//! several users once.

use std::collections::{BinaryHeap, HashMap};

use egg::Id;

use super::analysis::IrEGraph;
use super::cost::{Roofline, RooflineCost, local_seconds};
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

/// Extraction that counts a shared value once: the cost of a program is the sum of
/// its distinct e-nodes (a DAG), not of its expression tree.
///
/// Exact DAG extraction is NP-hard (an ILP); this is a fixed-point heuristic in
/// linear passes:
///
/// 1. Tree costs bottom-up (each class: its cheapest e-node, local cost plus its
///    operands' costs), by a worklist that revisits a class only when an operand
///    got cheaper.
/// 2. Then a few rounds that amortise: an operand already used by `k` other chosen
///    e-nodes of the previous round's program contributes `1 / (k + 1)` of its cost,
///    since it is computed anyway. That is what makes, e.g., keeping a value that
///    another consumer needs cheaper than recomputing it inside a fused kernel.
///
/// Every round's program is priced by its true DAG cost ([`unique_cost`]); the
/// cheapest wins, so the result is never worse than the tree extraction. A round
/// whose choices form a cycle (amortised costs can make one look cheap) is
/// discarded.
pub struct DagGreedy {
    pub roofline: Roofline,
    /// Amortising rounds after the tree round.
    pub rounds: usize,
}

impl DagGreedy {
    pub fn new(roofline: Roofline) -> DagGreedy {
        DagGreedy {
            roofline,
            rounds: 3,
        }
    }
}

impl Extraction for DagGreedy {
    fn choose(&self, egraph: &IrEGraph, roots: &[Id]) -> Choices {
        let table = CostTable::new(egraph, self.roofline);
        let roots: Vec<Id> = roots.iter().map(|&r| egraph.find(r)).collect();
        let mut previous = Previous::default();
        let mut best: Option<Choices> = None;
        for _ in 0..=self.rounds {
            let picks = table.pick(egraph, &previous);
            let Some(nodes) = reachable(egraph, &table, &picks, &roots) else {
                break;
            };
            let seconds = unique_cost(egraph, &nodes, self.roofline);
            let next = Previous::of(egraph, nodes.clone(), table.len());
            let stable = next.uses == previous.uses;
            if best.as_ref().is_none_or(|b| seconds < b.seconds) {
                best = Some(Choices { nodes, seconds });
            }
            if stable {
                break;
            }
            previous = next;
        }
        best.unwrap_or_else(|| {
            // A class reachable from a root with no e-node over settled operands
            // (an e-graph that cannot be extracted): egg's extractor, whose
            // choices the conversion checks again.
            Greedy {
                roofline: self.roofline,
            }
            .choose(egraph, &roots)
        })
    }
}

/// The local cost of every e-node, by canonical class id, computed once.
struct CostTable {
    local: Vec<Vec<f64>>,
}

impl CostTable {
    fn new(egraph: &IrEGraph, roofline: Roofline) -> CostTable {
        let mut local = vec![Vec::new(); egraph.nodes().len()];
        for class in egraph.classes() {
            local[usize::from(class.id)] = class
                .nodes
                .iter()
                .map(|n| local_seconds(egraph, roofline, class.id, n))
                .collect();
        }
        CostTable { local }
    }

    fn len(&self) -> usize {
        self.local.len()
    }

    /// The cheapest node index of every class, each operand weighted by
    /// `1 / (other users + 1)`: its users in the `previous` program (none: tree
    /// costs), not counting the class's own previous choice.
    ///
    /// Knuth's generalisation of Dijkstra's algorithm: a class is settled when its
    /// cheapest e-node whose operands are all settled comes off a heap, and each
    /// e-node is priced once, when its last operand settles. So each class and
    /// node is handled once (a worklist that re-prices on every improvement goes
    /// quadratic on deep models, where every block's cost includes the blocks
    /// before it), and a node is only chosen over settled operands: the choices
    /// can never form a cycle.
    fn pick(&self, egraph: &IrEGraph, previous: &Previous) -> Vec<Option<usize>> {
        let n = self.len();
        let mut cost = vec![f64::INFINITY; n];
        let mut pick: Vec<Option<usize>> = vec![None; n];
        let mut settled = vec![false; n];
        let mut pending: Vec<Vec<u32>> = vec![Vec::new(); n];
        let mut heap = BinaryHeap::new();
        for class in egraph.classes() {
            let ci = usize::from(class.id);
            pending[ci] = class
                .nodes
                .iter()
                .enumerate()
                .map(|(k, node)| {
                    let waiting = distinct_children(egraph, node).len() as u32;
                    if waiting == 0 {
                        heap.push(Candidate::new(self.local[ci][k], class.id, k));
                    }
                    waiting
                })
                .collect();
        }
        let mut parents = Vec::new();
        while let Some(Candidate {
            cost: c_cost,
            class,
            node,
        }) = heap.pop()
        {
            let ci = usize::from(class);
            if settled[ci] {
                continue;
            }
            settled[ci] = true;
            cost[ci] = c_cost;
            pick[ci] = Some(node);
            parents.clear();
            parents.extend(egraph[class].parents().map(|p| egraph.find(p)));
            parents.sort_unstable();
            parents.dedup();
            for &p in &parents {
                let pi = usize::from(p);
                if settled[pi] {
                    continue;
                }
                for (k, node) in egraph[p].nodes.iter().enumerate() {
                    let children = distinct_children(egraph, node);
                    if !children.contains(&class) {
                        continue;
                    }
                    pending[pi][k] -= 1;
                    if pending[pi][k] > 0 {
                        continue;
                    }
                    let mut total = self.local[pi][k];
                    for &child in egg::Language::children(node) {
                        let child = usize::from(egraph.find(child));
                        total += cost[child] / f64::from(previous.others(egraph, p, child) + 1);
                    }
                    heap.push(Candidate::new(total, p, k));
                }
            }
        }
        pick
    }
}

fn distinct_children(egraph: &IrEGraph, node: &Enode) -> Vec<Id> {
    let mut children: Vec<Id> = egg::Language::children(node)
        .iter()
        .map(|&c| egraph.find(c))
        .collect();
    children.sort_unstable();
    children.dedup();
    children
}

/// A priced e-node on the heap, cheapest first.
struct Candidate {
    cost: f64,
    class: Id,
    node: usize,
}

impl Candidate {
    fn new(cost: f64, class: Id, node: usize) -> Candidate {
        Candidate { cost, class, node }
    }
}

impl PartialEq for Candidate {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == std::cmp::Ordering::Equal
    }
}
impl Eq for Candidate {}
impl PartialOrd for Candidate {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Candidate {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        other
            .cost
            .total_cmp(&self.cost)
            .then_with(|| other.class.cmp(&self.class))
            .then_with(|| other.node.cmp(&self.node))
    }
}

/// The chosen nodes reachable from `roots`, or `None` if they form a cycle.
fn reachable(
    egraph: &IrEGraph,
    table: &CostTable,
    picks: &[Option<usize>],
    roots: &[Id],
) -> Option<HashMap<Id, Enode>> {
    // Iterative depth-first search with colours: 1 on the path, 2 done.
    let mut colour = vec![0u8; table.len()];
    let mut nodes = HashMap::new();
    for &root in roots {
        let mut stack: Vec<(Id, usize)> = vec![(root, 0)];
        while let Some((c, next)) = stack.pop() {
            let ci = usize::from(c);
            if next == 0 {
                match colour[ci] {
                    2 => continue,
                    1 => return None,
                    _ => colour[ci] = 1,
                }
            }
            let node = &egraph[c].nodes[picks[ci]?];
            let children = egg::Language::children(node);
            if let Some(&child) = children.get(next) {
                stack.push((c, next + 1));
                let child = egraph.find(child);
                match colour[usize::from(child)] {
                    1 => return None,
                    2 => {}
                    _ => stack.push((child, 0)),
                }
            } else {
                colour[ci] = 2;
                nodes.insert(c, node.clone());
            }
        }
    }
    Some(nodes)
}

/// The program of the previous round: its chosen e-nodes and how many of them
/// use each class.
#[derive(Default)]
struct Previous {
    nodes: HashMap<Id, Enode>,
    uses: Vec<u32>,
}

impl Previous {
    fn of(egraph: &IrEGraph, nodes: HashMap<Id, Enode>, len: usize) -> Previous {
        let mut uses = vec![0u32; len];
        for node in nodes.values() {
            for child in distinct_children(egraph, node) {
                uses[usize::from(child)] += 1;
            }
        }
        Previous { nodes, uses }
    }

    /// Users of `child` in the previous program other than `class`'s own choice.
    fn others(&self, egraph: &IrEGraph, class: Id, child: usize) -> u32 {
        let all = self.uses.get(child).copied().unwrap_or(0);
        let own = self.nodes.get(&class).is_some_and(|n| {
            egg::Language::children(n)
                .iter()
                .any(|&d| usize::from(egraph.find(d)) == child)
        });
        all - u32::from(own && all > 0)
    }
}
