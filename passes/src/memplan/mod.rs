//! Static memory planning: every intermediate tensor gets a fixed byte offset in one
//! arena, sized at compile time, so the generated code never allocates.
//!
//! - [`liveness`]: which values live in the arena and for which nodes. Node outputs
//!   that are not graph outputs do (graph outputs are written straight into the
//!   caller's buffers, graph inputs are the caller's, constants are weights), plus
//!   any value a later stage asks a slot for ([`PlanOptions::extra_values`]).
//! - [`inplace`]: an elementwise node may write its output over an operand that dies
//!   at that node; such chains share one slot.
//! - [`placement`]: offsets by several greedy orders; the smallest arena wins,
//!   then [`search`] improves it when it misses the lower bound.
//!
//! The plan also reports a lower bound (the most bytes live at any one node) so that
//! its quality can be judged: no placement of the same slots can be smaller.

mod inplace;
mod liveness;
mod placement;
mod search;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use nnc_ir::{Graph, ValueId};

pub use inplace::inplace_operands;

/// What the planner is asked for.
#[derive(Clone, Debug)]
pub struct PlanOptions {
    /// Every offset (and the arena size) is a multiple of this many bytes: 64 keeps
    /// vector loads aligned and tensors on their own cache lines.
    pub alignment: usize,
    /// Let elementwise outputs take over the storage of an operand dying there.
    pub inplace: bool,
    /// Values that need an arena slot although they would not get one otherwise
    /// (e.g. a graph input a later stage copies so it can be written). A graph input
    /// or constant is live from the first node, a graph output until the last.
    pub extra_values: BTreeSet<ValueId>,
}

impl Default for PlanOptions {
    fn default() -> Self {
        PlanOptions {
            alignment: 64,
            inplace: true,
            extra_values: BTreeSet::new(),
        }
    }
}

/// Where every arena value lives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ArenaPlan {
    /// Byte offset of every arena value; values sharing storage in place share it.
    pub offsets: BTreeMap<ValueId, usize>,
    /// Total bytes, a multiple of `alignment`; 0 when no value lives in the arena.
    pub size: usize,
    pub alignment: usize,
    /// The most bytes (aligned slot sizes, in-place chains counted once) live at any
    /// one node: no placement of these slots fits in less.
    pub lower_bound: usize,
    /// `(output, operand)`: the output was given the operand's storage.
    pub inplace: Vec<(ValueId, ValueId)>,
    /// The placement order that gave the smallest arena.
    pub strategy: &'static str,
}

impl ArenaPlan {
    /// The byte offset of `value` if it lives in the arena.
    pub fn offset(&self, value: ValueId) -> Option<usize> {
        self.offsets.get(&value).copied()
    }

    /// `size / lower_bound` (1.0 for an empty arena): how close to optimal.
    pub fn ratio(&self) -> f64 {
        if self.lower_bound == 0 {
            1.0
        } else {
            self.size as f64 / self.lower_bound as f64
        }
    }

    /// One line for reports: size, bound, slot count, in-place count, strategy.
    pub fn summary(&self) -> String {
        format!(
            "arena {} bytes ({} values, {} in place, align {}); lower bound {} bytes \
             (x{:.3}); placed {}",
            self.size,
            self.offsets.len(),
            self.inplace.len(),
            self.alignment,
            self.lower_bound,
            self.ratio(),
            self.strategy,
        )
    }
}

impl fmt::Display for ArenaPlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.summary())
    }
}

/// Plans the arena of `graph`, whose nodes are in execution order.
pub fn plan_memory(graph: &Graph, options: &PlanOptions) -> ArenaPlan {
    let alignment = options.alignment.max(1);
    let lifetimes = liveness::arena_lifetimes(graph, &options.extra_values);
    let inplace = if options.inplace {
        inplace::find_inplace(graph, &lifetimes)
    } else {
        Vec::new()
    };
    let slots = liveness::slots(graph, &lifetimes, &inplace, alignment);
    let lower_bound = placement::lower_bound(&slots, graph.node_count());
    let placed = placement::place(&slots, lower_bound);
    let mut offsets = BTreeMap::new();
    for (slot, &offset) in slots.iter().zip(&placed.offsets) {
        for &value in &slot.values {
            offsets.insert(value, offset);
        }
    }
    ArenaPlan {
        offsets,
        size: placed.size,
        alignment,
        lower_bound,
        inplace,
        strategy: placed.strategy,
    }
}
