//! Extraction that counts a shared value once: the cost of a program is the sum of
//! its distinct e-nodes (a DAG), not of its expression tree.
//!
//! Exact DAG extraction is NP-hard (an ILP); this is a fixed-point heuristic of a
//! few linear rounds:
//!
//! 1. Tree costs bottom-up: each class takes its cheapest e-node, local cost plus
//!    its operands' costs.
//! 2. Then rounds that amortise: an operand used by `k` other chosen e-nodes of the
//!    previous round's program contributes `1 / (k + 1)` of its cost, since it is
//!    computed anyway. That is what makes, e.g., keeping a value that another
//!    consumer needs cheaper than recomputing it inside a fused kernel.
//!
//! Every round's program is priced by its true DAG cost (each chosen e-node once);
//! the cheapest wins, so the result is never worse than the tree extraction.
//!
//! Each round is Knuth's generalisation of Dijkstra's algorithm: a class is settled
//! when its cheapest e-node whose operands are all settled comes off a heap, and
//! an e-node is priced once, when its last operand settles. So every class and
//! node is handled once per round (a worklist that re-prices on every improvement
//! goes quadratic on deep models, where each block's cost includes the blocks
//! before it), and a node is only ever chosen over settled operands: the choices
//! cannot form a cycle. The rounds run over a flat copy of the e-graph (arrays
//! indexed by class and node), made in one pass: egg's hash-indexed classes miss
//! the cache on every lookup once the e-graph outgrows it.

use std::collections::{BinaryHeap, HashMap};

use egg::Id;

use super::analysis::IrEGraph;
use super::cost::{Roofline, local_seconds};
use super::extract::{Choices, Extraction, Greedy, unique_cost};
use super::language::Enode;

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
    fn choose(&self, egraph: &IrEGraph, root_ids: &[Id]) -> Choices {
        let greedy = || {
            // A root class with no e-node over settled operands (an e-graph that
            // cannot be extracted): egg's extractor, whose choices the conversion
            // checks again.
            Greedy {
                roofline: self.roofline,
            }
            .choose(egraph, root_ids)
        };
        let flat = Flat::new(egraph, self.roofline);
        let Some(roots) = root_ids
            .iter()
            .map(|&r| flat.class_index(egraph.find(r)))
            .collect::<Option<Vec<u32>>>()
        else {
            return greedy();
        };
        let mut previous = Program::default();
        let mut best: Option<Program> = None;
        let (tree_picks, tree_costs) = flat.pick(&previous);
        for round in 0..=self.rounds {
            let picks = if round == 0 {
                tree_picks.clone()
            } else {
                flat.pick(&previous).0
            };
            let Some(program) = flat.program(&picks, &roots) else {
                break;
            };
            let stable = program.uses == previous.uses;
            if best.as_ref().is_none_or(|b| program.seconds < b.seconds) {
                best = Some(program.clone());
            }
            if stable {
                break;
            }
            previous = program;
        }
        let Some(best) = best else {
            return greedy();
        };
        let mut nodes = HashMap::with_capacity(best.classes.len());
        for &c in &best.classes {
            let node = best.picks[c as usize].expect("a program's classes are picked");
            nodes.insert(flat.classes[c as usize], flat.enode(egraph, node).clone());
        }
        // The amortised rounds can still choose a fused kernel whose anchor the
        // program computes anyway; the fusion repair gives those up, falling back
        // on tree costs for what it has to choose anew.
        let tree_best = |id: Id| {
            let class = flat.class_index(egraph.find(id)).expect("canonical class");
            let node = tree_picks[class as usize].expect("a reachable class has a pick");
            flat.enode(egraph, node).clone()
        };
        let tree_cost = |node: &Enode| {
            let Some(class) = egraph.lookup(node.clone()) else {
                return f64::INFINITY;
            };
            let operands: f64 = egg::Language::children(node)
                .iter()
                .map(|&c| {
                    flat.class_index(egraph.find(c))
                        .map_or(f64::INFINITY, |k| tree_costs[k as usize])
                })
                .sum();
            local_seconds(egraph, self.roofline, class, node) + operands
        };
        super::rules::fusion::unfuse_shared(egraph, root_ids, &mut nodes, &tree_best, &tree_cost);
        let seconds = unique_cost(egraph, &nodes, self.roofline);
        Choices { nodes, seconds }
    }
}

/// The e-graph as arrays: classes `0..n` and nodes `0..m`, children and parents as
/// compressed rows of indices.
struct Flat {
    /// Canonical class id per class index, and the index per id (`u32::MAX` for a
    /// non-canonical id).
    classes: Vec<Id>,
    index: Vec<u32>,
    /// Class `c`'s nodes are `node_start[c]..node_start[c + 1]`.
    node_start: Vec<u32>,
    node_class: Vec<u32>,
    /// Cost of the node alone (what extraction minimises), and what it adds to the
    /// run time when chosen (zero for what folds at compile time).
    local: Vec<f64>,
    runtime: Vec<f64>,
    /// Node `n`'s operand classes (with repeats) are `children[child_start[n]..]`;
    /// `distinct[n]` counts them without repeats.
    child_start: Vec<u32>,
    children: Vec<u32>,
    distinct: Vec<u32>,
    /// The nodes that have class `c` among their operands (each once).
    parent_start: Vec<u32>,
    parents: Vec<u32>,
}

impl Flat {
    fn new(egraph: &IrEGraph, roofline: Roofline) -> Flat {
        let mut classes: Vec<Id> = egraph.classes().map(|c| c.id).collect();
        classes.sort_unstable();
        let mut index = vec![u32::MAX; egraph.nodes().len()];
        for (k, &c) in classes.iter().enumerate() {
            index[usize::from(c)] = k as u32;
        }
        let mut flat = Flat {
            index,
            node_start: vec![0],
            node_class: vec![],
            local: vec![],
            runtime: vec![],
            child_start: vec![0],
            children: vec![],
            distinct: vec![],
            parent_start: vec![],
            parents: vec![],
            classes: vec![],
        };
        let mut operands = Vec::new();
        for (k, &id) in classes.iter().enumerate() {
            let class = &egraph[id];
            for node in &class.nodes {
                operands.clear();
                for &child in egg::Language::children(node) {
                    let child = flat.index[usize::from(egraph.find(child))];
                    flat.children.push(child);
                    operands.push(child);
                }
                operands.sort_unstable();
                operands.dedup();
                flat.distinct.push(operands.len() as u32);
                flat.child_start.push(flat.children.len() as u32);
                flat.node_class.push(k as u32);
                let local = local_seconds(egraph, roofline, id, node);
                let folded = match node {
                    Enode::Op(_, ops) => ops.iter().all(|&c| egraph[c].data.constant),
                    _ => true,
                };
                flat.local.push(local);
                flat.runtime.push(if folded { 0.0 } else { local });
            }
            flat.node_start.push(flat.node_class.len() as u32);
        }
        flat.classes = classes;
        flat.link_parents();
        flat
    }

    /// Builds the parent rows from the children rows (counting sort by class).
    fn link_parents(&mut self) {
        let n = self.classes.len();
        let mut count = vec![0u32; n + 1];
        let mut seen: Vec<u32> = Vec::new();
        let mut pairs: Vec<(u32, u32)> = Vec::new();
        for node in 0..self.node_class.len() {
            seen.clear();
            seen.extend_from_slice(self.operands(node as u32));
            seen.sort_unstable();
            seen.dedup();
            for &c in &seen {
                count[c as usize + 1] += 1;
                pairs.push((c, node as u32));
            }
        }
        for c in 0..n {
            count[c + 1] += count[c];
        }
        self.parents = vec![0; pairs.len()];
        let mut fill = count.clone();
        for (c, node) in pairs {
            self.parents[fill[c as usize] as usize] = node;
            fill[c as usize] += 1;
        }
        self.parent_start = count;
    }

    fn class_index(&self, id: Id) -> Option<u32> {
        self.index
            .get(usize::from(id))
            .copied()
            .filter(|&k| k != u32::MAX)
    }

    fn operands(&self, node: u32) -> &[u32] {
        let n = node as usize;
        &self.children[self.child_start[n] as usize..self.child_start[n + 1] as usize]
    }

    fn enode<'a>(&self, egraph: &'a IrEGraph, node: u32) -> &'a Enode {
        let class = self.node_class[node as usize] as usize;
        let k = node - self.node_start[class];
        &egraph[self.classes[class]].nodes[k as usize]
    }

    /// The cheapest node of every class, each operand weighted by
    /// `1 / (other users + 1)`: its users in the `previous` program (none: tree
    /// costs), not counting the class's own previous choice; and each class's cost.
    fn pick(&self, previous: &Program) -> (Vec<Option<u32>>, Vec<f64>) {
        let n = self.classes.len();
        let mut round = Round {
            cost: vec![f64::INFINITY; n],
            pick: vec![None; n],
            pending: self.distinct.clone(),
            heap: BinaryHeap::new(),
        };
        // A class of leaves only (weights, inputs, literals: about a third of
        // them) settles at once on its cheapest leaf, as it would off the heap:
        // its cost depends on nothing else. Only the rest goes through the heap,
        // which keeps it small.
        let mut leaves = Vec::new();
        for class in 0..n {
            let nodes = self.node_start[class]..self.node_start[class + 1];
            if nodes.clone().all(|k| self.distinct[k as usize] == 0) {
                let cheapest = nodes.min_by(|&a, &b| {
                    let (ca, cb) = (self.local[a as usize], self.local[b as usize]);
                    ca.total_cmp(&cb).then(a.cmp(&b))
                });
                leaves.extend(cheapest.map(|node| Candidate {
                    cost: self.local[node as usize],
                    node,
                }));
            } else {
                for node in nodes.filter(|&k| self.distinct[k as usize] == 0) {
                    round.heap.push(Candidate {
                        cost: self.local[node as usize],
                        node,
                    });
                }
            }
        }
        for leaf in leaves {
            self.settle(&mut round, leaf, previous);
        }
        while let Some(candidate) = round.heap.pop() {
            self.settle(&mut round, candidate, previous);
        }
        (round.pick, round.cost)
    }

    /// Settles the candidate's class on it unless the class is settled already;
    /// prices the users that were waiting only for this class.
    fn settle(&self, round: &mut Round, candidate: Candidate, previous: &Program) {
        let Candidate { cost: c_cost, node } = candidate;
        let class = self.node_class[node as usize] as usize;
        if round.pick[class].is_some() {
            return;
        }
        round.cost[class] = c_cost;
        round.pick[class] = Some(node);
        let users = self.parent_start[class] as usize..self.parent_start[class + 1] as usize;
        for &parent in &self.parents[users] {
            let p = parent as usize;
            let p_class = self.node_class[p] as usize;
            if round.pick[p_class].is_some() {
                continue;
            }
            round.pending[p] -= 1;
            if round.pending[p] > 0 {
                continue;
            }
            let mut total = self.local[p];
            for &child in self.operands(parent) {
                let others = previous.others(self, p_class, child);
                total += round.cost[child as usize] / f64::from(others + 1);
            }
            round.heap.push(Candidate {
                cost: total,
                node: parent,
            });
        }
    }

    /// The program the picks make from `roots`: its classes (operands first), the
    /// uses of each class, and its run time. `None` if a needed class has no pick.
    fn program(&self, picks: &[Option<u32>], roots: &[u32]) -> Option<Program> {
        let n = self.classes.len();
        let mut visited = vec![false; n];
        let mut classes = Vec::new();
        let mut uses = vec![0u32; n];
        let mut seconds = 0.0;
        let mut stack: Vec<u32> = roots.to_vec();
        while let Some(c) = stack.pop() {
            if std::mem::replace(&mut visited[c as usize], true) {
                continue;
            }
            let node = picks[c as usize]?;
            seconds += self.runtime[node as usize];
            classes.push(c);
            let mut operands = self.operands(node).to_vec();
            operands.sort_unstable();
            operands.dedup();
            for child in operands {
                uses[child as usize] += 1;
                stack.push(child);
            }
        }
        Some(Program {
            picks: picks.to_vec(),
            classes,
            uses,
            seconds,
        })
    }
}

/// The state of one [`Flat::pick`]: each class's cost and choice (once settled),
/// the operands each node still waits for, the priced nodes not yet settled.
struct Round {
    cost: Vec<f64>,
    pick: Vec<Option<u32>>,
    pending: Vec<u32>,
    heap: BinaryHeap<Candidate>,
}

/// One round's extracted program.
#[derive(Clone, Default)]
struct Program {
    picks: Vec<Option<u32>>,
    classes: Vec<u32>,
    uses: Vec<u32>,
    seconds: f64,
}

impl Program {
    /// Users of `child` in this program other than `class`'s own choice.
    fn others(&self, flat: &Flat, class: usize, child: u32) -> u32 {
        let all = self.uses.get(child as usize).copied().unwrap_or(0);
        let own = self
            .picks
            .get(class)
            .copied()
            .flatten()
            .is_some_and(|node| flat.operands(node).contains(&child));
        all - u32::from(own && all > 0)
    }
}

/// A priced node on the heap, cheapest first (ties: lower node index).
struct Candidate {
    cost: f64,
    node: u32,
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
            .then_with(|| other.node.cmp(&self.node))
    }
}
