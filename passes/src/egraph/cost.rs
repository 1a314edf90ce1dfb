//! The cost of an e-node on the target: a roofline plus a launch overhead.
//!
//! Every op that computes at run time becomes (at least) one kernel, which costs
//! `max(flops / peak, bytes moved / bandwidth) + launch`. So a fused or merged
//! program — fewer kernels, less memory traffic — is cheaper, which is what
//! extraction looks for. E-nodes computable from constants alone are folded at
//! compile time: they cost (almost) nothing at run time.

use egg::{CostFunction, Id};
use nnc_ir::{Op, Target};

use super::analysis::{ClassFacts, IrEGraph};
use super::language::Enode;

/// The machine facts the cost model needs.
#[derive(Clone, Copy, Debug)]
pub struct Roofline {
    /// f32 operations per second one core sustains in a good kernel.
    pub peak_flops: f64,
    /// Bytes per second between memory and the core.
    pub bandwidth: f64,
    /// Seconds one kernel costs regardless of its work (call, loop set-up, a pass
    /// over memory that a fused kernel would not need).
    pub launch: f64,
    /// f32 lanes of a vector: what a kernel that can only use scalars loses.
    pub lanes: f64,
}

/// What a compile-time (folded) e-node costs: not zero, so that among equal
/// programs the one with fewer weight-producing nodes wins.
const FOLDED: f64 = 1e-12;

impl Roofline {
    /// Estimates from the target description: vector lanes, FMA, and an assumed
    /// 2 GHz core with two vector issues per cycle and 10 GB/s of bandwidth (edge
    /// CPUs; only the ratios matter to extraction).
    pub fn for_target(target: &Target) -> Roofline {
        let lanes = f64::from(target.f32_lanes());
        let fma = if target.has_fma { 2.0 } else { 1.0 };
        Roofline {
            peak_flops: lanes * fma * 2.0 * 2e9,
            bandwidth: 10e9,
            launch: 1e-6,
            lanes,
        }
    }

    /// Seconds of one op, given its operands' and outputs' facts.
    pub fn op_seconds(&self, op: &Op, operands: &[&ClassFacts], outputs: &ClassFacts) -> f64 {
        let out_len: f64 = outputs.types.iter().map(|t| t.len() as f64).sum();
        let bytes: f64 = operands
            .iter()
            .flat_map(|d| &d.types)
            .chain(&outputs.types)
            .map(|t| t.bytes() as f64)
            .sum();
        let flops = 2.0 * macs(op, operands, out_len).unwrap_or(out_len / 2.0);
        let peak = if scalar_tiles(op) {
            self.peak_flops / self.lanes.max(1.0)
        } else {
            self.peak_flops
        };
        (flops / peak).max(bytes / self.bandwidth) + self.launch
    }
}

impl Default for Roofline {
    fn default() -> Self {
        Roofline {
            peak_flops: 32e9,
            bandwidth: 10e9,
            launch: 1e-6,
            lanes: 4.0,
        }
    }
}

/// Whether the backend computes `op` one scalar at a time: a convolution with a
/// stride above 1 along the row reads its inputs `stride` apart, and the kernel
/// IR has no gather, so its GEMM tiles are scalar (`lower::conv::tiled`; measured
/// 6 GFLOP/s for ViT's 16x16 patch embedding against 86 at the AVX2 peak).
fn scalar_tiles(op: &Op) -> bool {
    match op {
        Op::Conv(c) => c.strides.last().is_some_and(|&s| s > 1),
        Op::Fused(f) => scalar_tiles(&f.anchor),
        _ => false,
    }
}

/// Multiply-accumulates of the ops that do products.
fn macs(op: &Op, operands: &[&ClassFacts], out_len: f64) -> Option<f64> {
    let shape = |k: usize| operands.get(k).and_then(|d| d.ty()).map(|t| &t.shape);
    match op {
        Op::Conv(_) => {
            let w = shape(1)?;
            Some(out_len * w.iter().skip(1).product::<usize>() as f64)
        }
        Op::MatMul => Some(out_len * *shape(0)?.last()? as f64),
        // The anchor's products, and about one flop per element per step (so a
        // step folded into the anchor's weights instead is cheaper still).
        Op::Fused(f) => {
            let anchor = macs(&f.anchor, operands.get(..f.anchor_operands)?, out_len)?;
            Some(anchor + f.steps.len() as f64 * out_len / 2.0)
        }
        Op::Gemm(g) => {
            let a = shape(0)?;
            let k = if g.trans_a { a.first() } else { a.last() };
            Some(out_len * *k? as f64)
        }
        _ => None,
    }
}

/// The run-time cost of one e-node of class `class` on its own (not its operands).
pub fn local_seconds(egraph: &IrEGraph, roofline: Roofline, class: Id, enode: &Enode) -> f64 {
    match enode {
        Enode::Op(key, operands) => {
            let facts: Vec<&ClassFacts> = operands.iter().map(|&c| &egraph[c].data).collect();
            if facts.iter().all(|d| d.constant) {
                FOLDED
            } else {
                roofline.op_seconds(key.op(), &facts, &egraph[class].data)
            }
        }
        Enode::Output(..) => FOLDED,
        _ => 0.0,
    }
}

/// Tree cost of e-nodes over an e-graph (what greedy extraction minimises).
pub struct RooflineCost<'a> {
    pub egraph: &'a IrEGraph,
    pub roofline: Roofline,
}

impl CostFunction<Enode> for RooflineCost<'_> {
    type Cost = f64;

    fn cost<C>(&mut self, enode: &Enode, mut costs: C) -> f64
    where
        C: FnMut(Id) -> f64,
    {
        let children: f64 = egg::Language::children(enode)
            .iter()
            .map(|&c| costs(c))
            .sum();
        let local = match enode {
            Enode::Op(key, operands) => {
                let facts: Vec<&ClassFacts> =
                    operands.iter().map(|&c| &self.egraph[c].data).collect();
                if facts.iter().all(|d| d.constant) {
                    FOLDED
                } else {
                    let id = self.egraph.lookup(enode.clone());
                    match id {
                        Some(id) => {
                            self.roofline
                                .op_seconds(key.op(), &facts, &self.egraph[id].data)
                        }
                        None => f64::INFINITY,
                    }
                }
            }
            Enode::Output(..) => FOLDED,
            _ => 0.0,
        };
        local + children
    }
}
