//! Local search over placement orders, for when no greedy order meets the lower
//! bound.
//!
//! Any placement can be reproduced (or bettered) by first fit in order of its
//! offsets, so searching over first-fit orders loses nothing. A move takes a slot
//! that reaches the top of the arena and places it earlier in the order (it then
//! tends to go lower and others around it), or moves a random slot; a move is kept
//! unless it makes the arena bigger or puts more slots at its top. The search is
//! deterministic (fixed seed) and its work is bounded.

use super::liveness::Slot;
use super::placement::{Conflicts, Fit, arena_size};

/// Conflict-list entries visited in all, across the whole search: a few hundred
/// milliseconds at most.
const WORK_BUDGET: usize = 40_000_000;
const MAX_ROUNDS: usize = 4000;
/// Rounds without a better score after which the search gives up.
const PATIENCE: usize = 1500;

/// Offsets no worse than first fit in `order`, and usually better.
pub(super) fn improve(
    slots: &[Slot],
    conflicts: &Conflicts,
    mut order: Vec<usize>,
    lower_bound: usize,
) -> Vec<usize> {
    let mut offsets = conflicts.place_in_order(slots, &order, Fit::First);
    if slots.len() < 2 {
        return offsets;
    }
    let mut current = score(slots, &offsets);
    let rounds = (WORK_BUDGET / conflicts.work().max(1)).clamp(1, MAX_ROUNDS);
    let mut rng = SplitMix(0x6e6e_635f_6d65_6d70);
    let mut stale = 0;
    for _ in 0..rounds {
        if current.0 <= lower_bound || stale >= PATIENCE {
            break;
        }
        let mut candidate = order.clone();
        let n = candidate.len();
        if rng.below(10) < 7 {
            // A slot at the top, moved earlier.
            let tops: Vec<usize> = (0..n)
                .filter(|&k| offsets[candidate[k]] + slots[candidate[k]].bytes == current.0)
                .collect();
            let from = tops[rng.below(tops.len())];
            let to = rng.below(from.max(1));
            let slot = candidate.remove(from);
            candidate.insert(to, slot);
        } else {
            let slot = candidate.remove(rng.below(n));
            candidate.insert(rng.below(n), slot);
        }
        let placed = conflicts.place_in_order(slots, &candidate, Fit::First);
        let next = score(slots, &placed);
        stale = if next < current { 0 } else { stale + 1 };
        if next <= current {
            order = candidate;
            offsets = placed;
            current = next;
        }
    }
    offsets
}

/// Arena size, then how many slots reach its top.
fn score(slots: &[Slot], offsets: &[usize]) -> (usize, usize) {
    let size = arena_size(slots, offsets);
    let tops = slots
        .iter()
        .zip(offsets)
        .filter(|(s, o)| *o + s.bytes == size)
        .count();
    (size, tops)
}

/// A small deterministic generator (SplitMix64): the plan must not change from one
/// build to the next.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0), near enough for a search.
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}
