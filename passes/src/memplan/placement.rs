//! Offsets for slots with known lifetimes and sizes: greedy placement in several
//! orders, keeping the smallest arena.
//!
//! Each strategy takes slots in some order and puts each one into a gap between the
//! already-placed slots whose lifetimes overlap it: the lowest gap that fits
//! ("first fit", TFLite's greedy-by-size offset calculation) or the tightest one
//! ("best fit"). Orders: by size (big tensors first leave small holes), by breadth
//! (the nodes with most live bytes first, as in Pisarchyk & Lee, "Efficient Memory
//! Management for Deep Neural Net Inference"), by lifetime length, by area, by birth.
//! The best of them then seeds a local search over first-fit orders ([`search`]).
//! Every slot size is a multiple of the alignment and gaps start at slot ends, so
//! every offset is aligned.
//!
//! [`search`]: super::search

use std::cmp::Reverse;

use super::liveness::Slot;
use super::search;

/// Offsets of the slots (same order as given) and the arena size.
pub(super) struct Placement {
    pub offsets: Vec<usize>,
    pub size: usize,
    pub strategy: &'static str,
}

#[derive(Clone, Copy)]
pub(super) enum Fit {
    /// The lowest gap that is big enough.
    First,
    /// The smallest gap that is big enough (ties: the lowest); else the top.
    Best,
}

struct Strategy {
    name: &'static str,
    order: fn(&[Slot]) -> Vec<usize>,
    fit: Fit,
}

const STRATEGIES: &[Strategy] = &[
    Strategy {
        name: "size, first fit",
        order: by_size,
        fit: Fit::First,
    },
    Strategy {
        name: "size, best fit",
        order: by_size,
        fit: Fit::Best,
    },
    Strategy {
        name: "breadth, first fit",
        order: by_breadth,
        fit: Fit::First,
    },
    Strategy {
        name: "breadth, best fit",
        order: by_breadth,
        fit: Fit::Best,
    },
    Strategy {
        name: "area, first fit",
        order: by_area,
        fit: Fit::First,
    },
    Strategy {
        name: "duration, first fit",
        order: by_duration,
        fit: Fit::First,
    },
    Strategy {
        name: "birth, best fit",
        order: by_birth,
        fit: Fit::Best,
    },
];

/// The most bytes live at any one node: every placement needs at least this.
pub(super) fn lower_bound(slots: &[Slot], node_count: usize) -> usize {
    let steps = slots
        .iter()
        .map(|s| s.lifetime.last + 1)
        .max()
        .unwrap_or(0)
        .max(node_count);
    live_bytes(slots, steps).into_iter().max().unwrap_or(0)
}

/// Bytes live at each of `steps` nodes.
fn live_bytes(slots: &[Slot], steps: usize) -> Vec<usize> {
    let mut delta = vec![0isize; steps + 1];
    for slot in slots {
        delta[slot.lifetime.first] += slot.bytes as isize;
        delta[slot.lifetime.last + 1] -= slot.bytes as isize;
    }
    let mut live = 0isize;
    delta[..steps]
        .iter()
        .map(|d| {
            live += d;
            live as usize
        })
        .collect()
}

/// The smallest of the strategies' placements (the first such, in table order),
/// improved by local search unless it already meets the lower bound.
pub(super) fn place(slots: &[Slot], lower_bound: usize) -> Placement {
    let conflicts = Conflicts::new(slots);
    let best = STRATEGIES
        .iter()
        .map(|strategy| {
            let order = (strategy.order)(slots);
            let offsets = conflicts.place_in_order(slots, &order, strategy.fit);
            Placement {
                size: arena_size(slots, &offsets),
                offsets,
                strategy: strategy.name,
            }
        })
        .min_by_key(|p| p.size)
        .expect("the strategy table is not empty");
    if best.size <= lower_bound {
        return best;
    }
    // First fit in order of these offsets gives every slot an offset no higher, so
    // the search starts from a placement at least this good.
    let mut order: Vec<usize> = (0..slots.len()).collect();
    order.sort_by_key(|&i| (best.offsets[i], Reverse(slots[i].bytes)));
    let offsets = search::improve(slots, &conflicts, order, lower_bound);
    let size = arena_size(slots, &offsets);
    if size < best.size {
        Placement {
            offsets,
            size,
            strategy: "local search",
        }
    } else {
        best
    }
}

/// The end of the highest slot.
pub(super) fn arena_size(slots: &[Slot], offsets: &[usize]) -> usize {
    slots
        .iter()
        .zip(offsets)
        .map(|(s, o)| o + s.bytes)
        .max()
        .unwrap_or(0)
}

/// For every slot, the slots whose lifetimes overlap its own: the only ones it
/// must not share bytes with.
pub(super) struct Conflicts(Vec<Vec<usize>>);

impl Conflicts {
    pub fn new(slots: &[Slot]) -> Self {
        let by_birth = by_birth(slots);
        let mut conflicts = vec![Vec::new(); slots.len()];
        for (k, &i) in by_birth.iter().enumerate() {
            let life = slots[i].lifetime;
            for &j in &by_birth[k + 1..] {
                if slots[j].lifetime.first > life.last {
                    break;
                }
                conflicts[i].push(j);
                conflicts[j].push(i);
            }
        }
        Conflicts(conflicts)
    }

    /// Entries visited by one placement: its cost.
    pub fn work(&self) -> usize {
        self.0.iter().map(|c| c.len() + 1).sum()
    }

    /// Places the slots one by one in `order`.
    pub fn place_in_order(&self, slots: &[Slot], order: &[usize], fit: Fit) -> Vec<usize> {
        let mut offsets: Vec<Option<usize>> = vec![None; slots.len()];
        let mut busy: Vec<(usize, usize)> = Vec::new();
        for &i in order {
            busy.clear();
            busy.extend(
                self.0[i]
                    .iter()
                    .filter_map(|&j| offsets[j].map(|o| (o, o + slots[j].bytes))),
            );
            busy.sort_unstable();
            offsets[i] = Some(find_gap(&busy, slots[i].bytes, fit));
        }
        offsets.into_iter().map(|o| o.unwrap_or(0)).collect()
    }
}

/// An offset for `bytes` among the `busy` byte ranges (sorted by start).
fn find_gap(busy: &[(usize, usize)], bytes: usize, fit: Fit) -> usize {
    let mut end = 0;
    let mut best: Option<(usize, usize)> = None;
    for &(start, stop) in busy {
        if start >= end + bytes {
            let gap = start - end;
            match fit {
                Fit::First => return end,
                Fit::Best => {
                    if best.is_none_or(|(g, _)| gap < g) {
                        best = Some((gap, end));
                    }
                }
            }
        }
        end = end.max(stop);
    }
    best.map_or(end, |(_, offset)| offset)
}

fn by_size(slots: &[Slot]) -> Vec<usize> {
    sorted(slots, |s| {
        (
            Reverse(s.bytes),
            Reverse(s.lifetime.last - s.lifetime.first),
            s.lifetime.first,
        )
    })
}

fn by_area(slots: &[Slot]) -> Vec<usize> {
    sorted(slots, |s| {
        let duration = s.lifetime.last - s.lifetime.first + 1;
        (Reverse(s.bytes * duration), Reverse(s.bytes))
    })
}

fn by_duration(slots: &[Slot]) -> Vec<usize> {
    sorted(slots, |s| {
        (
            Reverse(s.lifetime.last - s.lifetime.first),
            Reverse(s.bytes),
        )
    })
}

fn by_birth(slots: &[Slot]) -> Vec<usize> {
    sorted(slots, |s| (s.lifetime.first, Reverse(s.bytes)))
}

/// Nodes with the most live bytes first; at each, its not yet placed slots by size.
fn by_breadth(slots: &[Slot]) -> Vec<usize> {
    let steps = slots.iter().map(|s| s.lifetime.last + 1).max().unwrap_or(0);
    let live = live_bytes(slots, steps);
    let mut nodes: Vec<usize> = (0..steps).collect();
    nodes.sort_by_key(|&t| (Reverse(live[t]), t));
    let by_size = by_size(slots);
    let mut taken = vec![false; slots.len()];
    let mut order = Vec::with_capacity(slots.len());
    for t in nodes {
        for &i in &by_size {
            let l = slots[i].lifetime;
            if !taken[i] && l.first <= t && t <= l.last {
                taken[i] = true;
                order.push(i);
            }
        }
    }
    order
}

fn sorted<K: Ord>(slots: &[Slot], key: impl Fn(&Slot) -> K) -> Vec<usize> {
    let mut order: Vec<usize> = (0..slots.len()).collect();
    order.sort_by_key(|&i| key(&slots[i]));
    order
}
