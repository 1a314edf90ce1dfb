//! Which values live in the arena, from which node to which, and the slots they form
//! once in-place chains are merged.

use std::collections::{BTreeMap, BTreeSet};

use nnc_ir::{Graph, ValueDef, ValueId};

/// The nodes (by execution index, inclusive) during which a value's storage is live:
/// from the node that produces it to the last node that reads it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Lifetime {
    pub first: usize,
    pub last: usize,
}

/// The lifetime of every arena value: node outputs that are not graph outputs, and
/// the `extra` values. A value nobody reads still holds its slot while produced.
pub(super) fn arena_lifetimes(
    graph: &Graph,
    extra: &BTreeSet<ValueId>,
) -> BTreeMap<ValueId, Lifetime> {
    let mut last_read = vec![None; graph.value_count()];
    for (id, node) in graph.nodes() {
        for operand in node.inputs.iter().flatten() {
            if let Some(slot) = last_read.get_mut(operand.index()) {
                *slot = Some(id.index());
            }
        }
    }
    let outputs: BTreeSet<ValueId> = graph.outputs().iter().copied().collect();
    let end = graph.node_count().saturating_sub(1);
    let mut lifetimes = BTreeMap::new();
    for (id, value) in graph.values() {
        let is_output = outputs.contains(&id);
        let first = match value.def {
            ValueDef::Node(node, _) if !is_output => node.index(),
            _ if !extra.contains(&id) => continue,
            ValueDef::Node(node, _) => node.index(),
            ValueDef::Input(_) | ValueDef::Const(_) => 0,
        };
        let read = last_read[id.index()].unwrap_or(first).max(first);
        let last = if is_output { end.max(first) } else { read };
        lifetimes.insert(id, Lifetime { first, last });
    }
    lifetimes
}

/// Storage shared by one value or by an in-place chain: the union of its values'
/// lifetimes (contiguous, since each link is born where the previous one dies).
#[derive(Clone, Debug)]
pub(super) struct Slot {
    pub values: Vec<ValueId>,
    pub lifetime: Lifetime,
    /// The largest member's byte size, rounded up to the alignment.
    pub bytes: usize,
}

/// Merges in-place chains (`(output, operand)` pairs) into slots, one per chain, in
/// order of their first value.
pub(super) fn slots(
    graph: &Graph,
    lifetimes: &BTreeMap<ValueId, Lifetime>,
    inplace: &[(ValueId, ValueId)],
    alignment: usize,
) -> Vec<Slot> {
    let storage_of: BTreeMap<ValueId, ValueId> = inplace.iter().copied().collect();
    let root = |mut value: ValueId| {
        // Each link goes to an earlier value, so this ends.
        while let Some(&operand) = storage_of.get(&value) {
            value = operand;
        }
        value
    };
    let mut by_root: BTreeMap<ValueId, Slot> = BTreeMap::new();
    for (&value, &lifetime) in lifetimes {
        let bytes = graph.value(value).ty.bytes().div_ceil(alignment) * alignment;
        let slot = by_root.entry(root(value)).or_insert(Slot {
            values: Vec::new(),
            lifetime,
            bytes,
        });
        slot.values.push(value);
        slot.lifetime.first = slot.lifetime.first.min(lifetime.first);
        slot.lifetime.last = slot.lifetime.last.max(lifetime.last);
        slot.bytes = slot.bytes.max(bytes);
    }
    by_root.into_values().collect()
}
