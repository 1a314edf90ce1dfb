//! Equality saturation with bounds, so that compile time stays predictable on
//! large models: it stops at a node limit, an iteration limit or a time limit,
//! whichever comes first, and says which.
//!
//! The loop is ours rather than `egg::Runner`'s, so that its work stays
//! proportional to the model and the rewrites it does:
//!
//! - **Class-major order.** egg's runner searches rule by rule, each rule sweeping
//!   every e-class; once the e-graph outgrows the cache every sweep misses it.
//!   Here each class is visited once per iteration, and only the rules whose head
//!   op it holds are tried on it.
//! - **Only where something changed.** After the first iteration a rule can only
//!   match anew at or above an e-class that changed (new, grown by a union, or
//!   merged). Rules look a bounded number of levels below their head
//!   ([`REACH`]), so the next iteration visits the changed classes and their
//!   ancestors up to that many levels, not the whole e-graph. A rule that looks
//!   deeper must raise [`REACH`] (the `incremental_visits_*` test compares with
//!   full sweeps).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use egg::{Id, Rewrite};

use super::analysis::{IrAnalysis, IrEGraph};
use super::language::Enode;

/// How many levels below its head e-node a rule may look (operand classes, their
/// nodes' operands, ...). The decomposed LayerNorm is the deepest pattern today
/// (Div -> Sub/Sqrt -> Add -> ReduceMean -> Pow -> Sub -> ReduceMean: 6 levels).
pub const REACH: usize = 8;

/// The bounds of one saturation run.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub nodes: usize,
    pub iterations: usize,
    pub time: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            nodes: 200_000,
            iterations: 30,
            time: Duration::from_secs(5),
        }
    }
}

/// What saturation did.
#[derive(Clone, Debug, Default)]
pub struct Saturation {
    /// Why it stopped: `saturated`, or the limit that was hit.
    pub stop: String,
    pub iterations: usize,
    pub nodes: usize,
    pub classes: usize,
    /// Rule name -> times it added something new.
    pub applied: BTreeMap<String, usize>,
    /// E-classes visited per iteration (all of them on the first).
    pub visited: Vec<usize>,
    /// Where the time went.
    pub phases: Phases,
}

/// Wall time of saturation's phases, in ms: searching the visited classes,
/// applying the matches, egg's `rebuild`, and finding what changed (the classes
/// to visit next).
#[derive(Clone, Copy, Debug, Default)]
pub struct Phases {
    pub search: f64,
    pub apply: f64,
    pub rebuild: f64,
    pub track: f64,
}

impl Phases {
    fn add(self, other: Phases) -> Phases {
        Phases {
            search: self.search + other.search,
            apply: self.apply + other.apply,
            rebuild: self.rebuild + other.rebuild,
            track: self.track + other.track,
        }
    }
}

/// Milliseconds since `t`.
fn millis(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1e3
}

impl Saturation {
    /// This run followed by `next` (a later phase over the same e-graph).
    pub fn then(mut self, next: Saturation) -> Saturation {
        self.visited.extend(next.visited);
        for (rule, n) in next.applied {
            *self.applied.entry(rule).or_default() += n;
        }
        Saturation {
            stop: if self.stop == "saturated" {
                next.stop
            } else {
                self.stop
            },
            iterations: self.iterations + next.iterations,
            nodes: next.nodes,
            classes: next.classes,
            applied: self.applied,
            visited: self.visited,
            phases: self.phases.add(next.phases),
        }
    }
}

/// Runs `rewrites` over `egraph` within `limits`.
pub fn saturate(
    egraph: IrEGraph,
    rewrites: &[Rewrite<Enode, IrAnalysis>],
    limits: Limits,
) -> (IrEGraph, Saturation) {
    saturate_visiting(egraph, rewrites, limits, Some(REACH))
}

/// [`saturate`], visiting after the first iteration only the changed classes and
/// their ancestors up to `reach` levels, or every class when `reach` is `None`
/// (what the tests compare against).
pub fn saturate_visiting(
    mut egraph: IrEGraph,
    rewrites: &[Rewrite<Enode, IrAnalysis>],
    limits: Limits,
    reach: Option<usize>,
) -> (IrEGraph, Saturation) {
    let start = Instant::now();
    let mut saturation = Saturation::default();
    // egg's rebuild sweeps every class even when there is nothing to do; the
    // e-graph handed over is usually rebuilt already.
    if !egraph.clean {
        egraph.rebuild();
    }
    saturation.phases.rebuild += millis(start);
    let heads = rule_heads(rewrites);
    let t = Instant::now();
    let mut sizes = ClassSizes::default();
    sizes.snapshot(&egraph);
    // The first iteration visits every class, in the order they were added
    // (operands before users, roughly model order: good locality).
    let mut visit: Vec<Id> = egraph.classes().map(|c| c.id).collect();
    visit.sort_unstable();
    saturation.phases.track += millis(t);
    let stop = loop {
        if visit.is_empty() {
            break "saturated".to_string();
        }
        if saturation.iterations >= limits.iterations {
            break format!("iteration limit ({})", limits.iterations);
        }
        saturation.iterations += 1;
        saturation.visited.push(visit.len());
        let before = (egraph.nodes().len(), egraph.number_of_classes());
        let hit = iterate(
            &mut egraph,
            rewrites,
            &heads,
            &visit,
            &mut saturation.applied,
            &mut saturation.phases,
            |eg| {
                if eg.total_size() > limits.nodes {
                    Some(format!("node limit ({})", limits.nodes))
                } else if start.elapsed() > limits.time {
                    Some(format!("time limit ({:.1} s)", limits.time.as_secs_f64()))
                } else {
                    None
                }
            },
        );
        // No class made (the union-find did not grow) and none merged (so the
        // count did not drop): the rules only found what is there. The e-graph
        // is as rebuilt, and a rebuild, a sweep over every class, is skipped.
        let unchanged = before == (egraph.nodes().len(), egraph.number_of_classes());
        let t = Instant::now();
        if unchanged {
            egraph.clean = true;
        } else {
            egraph.rebuild();
        }
        saturation.phases.rebuild += millis(t);
        if let Some(why) = hit {
            break why;
        }
        if unchanged {
            break "saturated".to_string();
        }
        let t = Instant::now();
        let (fresh, grown) = sizes.changed(&egraph);
        visit = match reach {
            Some(levels) => ancestors(&egraph, fresh, grown, levels),
            None if fresh.is_empty() && grown.is_empty() => vec![],
            None => egraph.classes().map(|c| c.id).collect(),
        };
        saturation.phases.track += millis(t);
    };
    saturation.stop = stop;
    saturation.nodes = egraph.total_number_of_nodes();
    saturation.classes = egraph.number_of_classes();
    (egraph, saturation)
}

/// The head op of each rule that is a table rule: such a rule is only searched
/// in classes holding that op (one look at the class instead of one per rule).
fn rule_heads(rewrites: &[Rewrite<Enode, IrAnalysis>]) -> Vec<Option<&'static str>> {
    let table = super::rules::all_rules();
    rewrites
        .iter()
        .map(|r| {
            let name = r.name.as_str();
            table.iter().find(|t| t.name == name).map(|t| t.head)
        })
        .collect()
}

/// The rules to try on a class, by the op names it holds: table rules by their
/// head, the others (`headless`) on every class.
struct RulesByHead<'a> {
    rules: std::collections::HashMap<&'a str, Vec<usize>>,
    headless: Vec<usize>,
}

impl<'a> RulesByHead<'a> {
    fn new(heads: &[Option<&'a str>]) -> Self {
        let mut by_head = RulesByHead {
            rules: Default::default(),
            headless: vec![],
        };
        for (k, head) in heads.iter().enumerate() {
            match head {
                Some(h) => by_head.rules.entry(*h).or_default().push(k),
                None => by_head.headless.push(k),
            }
        }
        by_head
    }
}

/// One iteration: every rule tried on every class of `visit` (searching all
/// first, then applying, as egg's runner does, so rules see the e-graph as it was
/// at the start of the iteration). Returns why it stopped early, if it did.
#[allow(clippy::too_many_arguments)]
fn iterate(
    egraph: &mut IrEGraph,
    rewrites: &[Rewrite<Enode, IrAnalysis>],
    heads: &[Option<&'static str>],
    visit: &[Id],
    applied: &mut BTreeMap<String, usize>,
    phases: &mut Phases,
    over_limit: impl Fn(&IrEGraph) -> Option<String>,
) -> Option<String> {
    let t = Instant::now();
    let by_head = RulesByHead::new(heads);
    let mut matches = Vec::new();
    let mut tried: Vec<usize> = Vec::new();
    for &class in visit {
        let class = egraph.find(class);
        tried.clear();
        tried.extend_from_slice(&by_head.headless);
        for name in egraph[class].nodes.iter().filter_map(Enode::op_name) {
            if let Some(rules) = by_head.rules.get(name) {
                tried.extend_from_slice(rules);
            }
        }
        // Rule order, as a sweep over all rules would find them.
        tried.sort_unstable();
        tried.dedup();
        for &k in &tried {
            let found = if heads[k].is_some() {
                // A table rule matches every class holding its head op, which
                // this class does: no need to look again.
                Some(egg::SearchMatches {
                    eclass: class,
                    substs: vec![egg::Subst::default()],
                    ast: None,
                })
            } else {
                rewrites[k]
                    .searcher
                    .search_eclass_with_limit(egraph, class, usize::MAX)
            };
            if let Some(m) = found {
                matches.push((k, m));
            }
        }
    }
    phases.search += millis(t);
    let t = Instant::now();
    let hit = apply(egraph, rewrites, &matches, applied, over_limit);
    phases.apply += millis(t);
    hit
}

/// Applies the `matches` (index of the rewrite, what it matched) in order.
fn apply(
    egraph: &mut IrEGraph,
    rewrites: &[Rewrite<Enode, IrAnalysis>],
    matches: &[(usize, egg::SearchMatches<'_, Enode>)],
    applied: &mut BTreeMap<String, usize>,
    over_limit: impl Fn(&IrEGraph) -> Option<String>,
) -> Option<String> {
    // Checked every so many matches: often enough to stop near the limit, rarely
    // enough that the check costs nothing.
    for (n, (k, m)) in matches.iter().enumerate() {
        let rewrite = &rewrites[*k];
        let changed = rewrite
            .applier
            .apply_matches(egraph, std::slice::from_ref(m), rewrite.name);
        if !changed.is_empty() {
            *applied.entry(rewrite.name.to_string()).or_default() += changed.len();
        }
        if n % 64 == 63
            && let Some(why) = over_limit(egraph)
        {
            return Some(why);
        }
    }
    over_limit(egraph)
}

/// The node count of every class at the end of the previous iteration, by id.
#[derive(Default)]
struct ClassSizes(Vec<u32>);

impl ClassSizes {
    fn snapshot(&mut self, egraph: &IrEGraph) {
        self.0.clear();
        self.0.resize(egraph.nodes().len(), 0);
        for class in egraph.classes() {
            self.0[usize::from(class.id)] = class.nodes.len() as u32;
        }
    }

    /// What changed since the last snapshot, then snapshots: classes made by
    /// this iteration's rules that hold only their first node (`fresh`), and the
    /// others that are new or whose nodes changed (`grown`: a union or a
    /// congruence merge added nodes; a merged-away class disappears and its
    /// survivor shows the change).
    fn changed(&mut self, egraph: &IrEGraph) -> (Vec<Id>, Vec<Id>) {
        let old = std::mem::take(&mut self.0);
        self.snapshot(egraph);
        let (mut fresh, mut grown) = (vec![], vec![]);
        for class in egraph.classes() {
            let id = usize::from(class.id);
            match old.get(id) {
                None if class.nodes.len() == 1 => fresh.push(class.id),
                Some(&n) if n == self.0[id] => {}
                _ => grown.push(class.id),
            }
        }
        (fresh, grown)
    }
}

/// The classes to visit next: `fresh` ones, and `grown` ones with their
/// ancestors up to `levels` levels up; canonical, sorted.
///
/// A fresh class needs no ancestors of its own: nothing older can point at it, so
/// its users are fresh too, or the class a rule unioned them into, which has grown.
fn ancestors(egraph: &IrEGraph, fresh: Vec<Id>, grown: Vec<Id>, levels: usize) -> Vec<Id> {
    let mut seen = vec![false; egraph.nodes().len()];
    let mut out = Vec::new();
    for c in fresh {
        let c = egraph.find(c);
        if !std::mem::replace(&mut seen[usize::from(c)], true) {
            out.push(c);
        }
    }
    let mut frontier = Vec::new();
    for c in grown {
        let c = egraph.find(c);
        // A grown class may have been seen as fresh; its ancestors are due anyway.
        if !std::mem::replace(&mut seen[usize::from(c)], true) {
            out.push(c);
        }
        frontier.push(c);
    }
    for _ in 0..levels {
        let mut next = Vec::new();
        for c in frontier {
            for p in egraph[c].parents() {
                let p = egraph.find(p);
                if !std::mem::replace(&mut seen[usize::from(p)], true) {
                    out.push(p);
                    next.push(p);
                }
            }
        }
        if next.is_empty() {
            break;
        }
        frontier = next;
    }
    out.sort_unstable();
    out
}
