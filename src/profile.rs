//! `nnc bench --per-kernel`: where the time goes, kernel by kernel, and how far each
//! kernel is from what the machine could do (a roofline view).
//!
//! The model is built with a profiled entry point (`CodegenOptions::profile`) and the
//! profiling harness, which prints one line per call of the schedule with its time
//! in every run. Per call we know the work (2 FLOPs per MAC of the graph nodes it
//! computes) and the bytes it moves (every buffer it is given, read or written
//! once: a lower bound on its memory traffic), so the report gives GFLOP/s, GB/s,
//! arithmetic intensity, and the share of the machine's measured FMA peak.

use std::collections::HashMap;
use std::fmt::Write;

use nnc_ir::Graph;
use nnc_ir::kernel::{KernelCall, Program};

/// What one call of the schedule did and how long it took.
#[derive(Clone, Debug, PartialEq)]
pub struct CallProfile {
    pub index: usize,
    /// The kernel's kind (the op, or `Conv+Relu`, `copy`, ...).
    pub kind: String,
    /// The first graph node the call computes (for finding it in a dump).
    pub node: String,
    /// Median over the timed runs.
    pub millis: f64,
    pub flops: f64,
    /// Bytes of all buffers the call is given.
    pub bytes: f64,
}

impl CallProfile {
    pub fn gflops(&self) -> f64 {
        self.flops / (self.millis * 1e6)
    }

    pub fn gbytes_per_s(&self) -> f64 {
        self.bytes / (self.millis * 1e6)
    }

    /// FLOPs per byte moved.
    pub fn intensity(&self) -> f64 {
        if self.bytes > 0.0 {
            self.flops / self.bytes
        } else {
            0.0
        }
    }
}

/// The `call K: T1 T2 ...` lines of the profiling harness: per call, its times.
pub fn parse_call_times(stdout: &str, calls: usize) -> Result<Vec<Vec<f64>>, String> {
    let mut times = vec![Vec::new(); calls];
    for line in stdout.lines() {
        let Some(rest) = line.strip_prefix("call ") else {
            continue;
        };
        let (index, values) = rest
            .split_once(':')
            .ok_or_else(|| format!("malformed profile line '{line}'"))?;
        let index: usize = index
            .trim()
            .parse()
            .map_err(|_| format!("malformed profile line '{line}'"))?;
        let slot = times
            .get_mut(index)
            .ok_or_else(|| format!("profile line for call {index}, the schedule has {calls}"))?;
        *slot = values
            .split_whitespace()
            .map(|v| v.parse::<f64>())
            .collect::<Result<_, _>>()
            .map_err(|_| format!("malformed profile line '{line}'"))?;
    }
    Ok(times)
}

/// Per call: kind, work, bytes and the median of its times after `warmup` runs.
pub fn profile_calls(
    graph: &Graph,
    program: &Program,
    times: &[Vec<f64>],
    warmup: usize,
) -> Vec<CallProfile> {
    let macs_by_node: HashMap<&str, u64> = graph
        .nodes()
        .map(|(_, node)| (node.name.as_str(), nnc_ir::cost::node_macs(graph, node)))
        .collect();
    program
        .calls
        .iter()
        .zip(times)
        .enumerate()
        .map(|(index, (call, runs))| {
            let macs: u64 = call
                .nodes
                .iter()
                .filter_map(|n| macs_by_node.get(n.as_str()))
                .sum();
            CallProfile {
                index,
                kind: call.kind.clone(),
                node: call.nodes.first().cloned().unwrap_or_default(),
                millis: median(runs.get(warmup..).unwrap_or_default()),
                flops: 2.0 * macs as f64,
                bytes: call_bytes(program, call) as f64,
            }
        })
        .collect()
}

/// The median (the mean of the middle two for an even count; NaN when empty).
fn median(times: &[f64]) -> f64 {
    let mut sorted = times.to_vec();
    sorted.sort_by(f64::total_cmp);
    match sorted.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => sorted[n / 2],
        n => (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0,
    }
}

fn call_bytes(program: &Program, call: &KernelCall) -> usize {
    program.kernels[call.kernel]
        .buffers
        .iter()
        .map(|b| b.len * b.elem.size())
        .sum()
}

/// The report: totals by kind, then the `top` slowest calls.
pub fn render(profiles: &[CallProfile], peak_gflops: Option<f64>, top: usize) -> String {
    let mut out = String::new();
    let total: f64 = profiles.iter().map(|p| p.millis).sum();
    let share = |ms: f64| 100.0 * ms / total.max(f64::MIN_POSITIVE);
    let peak_share = |p: &CallProfile| match peak_gflops {
        Some(peak) if p.flops > 0.0 => format!("{:5.1}%", 100.0 * p.gflops() / peak),
        _ => "     -".into(),
    };

    let mut kinds: Vec<(String, CallProfile, usize)> = Vec::new();
    for p in profiles {
        match kinds.iter_mut().find(|(k, _, _)| *k == p.kind) {
            Some((_, sum, count)) => {
                sum.millis += p.millis;
                sum.flops += p.flops;
                sum.bytes += p.bytes;
                *count += 1;
            }
            None => kinds.push((p.kind.clone(), p.clone(), 1)),
        }
    }
    kinds.sort_by(|a, b| b.1.millis.total_cmp(&a.1.millis));
    let _ = writeln!(
        out,
        "per kernel kind (sum of per-call medians {total:.3} ms; peak = {}):",
        peak_gflops.map_or("not measured".into(), |p| format!("{p:.1} GFLOP/s"))
    );
    let _ = writeln!(
        out,
        "  {:<24} {:>5} {:>9} {:>6} {:>9} {:>8} {:>6}",
        "kind", "calls", "ms", "time", "GFLOP/s", "GB/s", "peak"
    );
    for (kind, sum, count) in &kinds {
        let _ = writeln!(
            out,
            "  {:<24} {:>5} {:>9.3} {:>5.1}% {:>9.2} {:>8.2} {}",
            kind,
            count,
            sum.millis,
            share(sum.millis),
            sum.gflops(),
            sum.gbytes_per_s(),
            peak_share(sum)
        );
    }

    let mut slowest: Vec<&CallProfile> = profiles.iter().collect();
    slowest.sort_by(|a, b| b.millis.total_cmp(&a.millis));
    let _ = writeln!(out, "\nslowest calls:");
    let _ = writeln!(
        out,
        "  {:>4} {:<24} {:<28} {:>8} {:>6} {:>8} {:>7} {:>8} {:>6}",
        "call", "kind", "node", "ms", "time", "GFLOP/s", "GB/s", "FLOP/B", "peak"
    );
    for p in slowest.into_iter().take(top) {
        let _ = writeln!(
            out,
            "  {:>4} {:<24} {:<28} {:>8.4} {:>5.1}% {:>8.2} {:>7.2} {:>8.2} {}",
            p.index,
            truncate(&p.kind, 24),
            truncate(&p.node, 28),
            p.millis,
            share(p.millis),
            p.gflops(),
            p.gbytes_per_s(),
            p.intensity(),
            peak_share(p)
        );
    }
    out
}

fn truncate(s: &str, width: usize) -> String {
    if s.chars().count() <= width {
        s.to_string()
    } else {
        let head: String = s.chars().take(width - 1).collect();
        format!("{head}~")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_call_lines_and_ignores_the_rest() {
        let out = "run 1: 1.000 ms\nstatus: 0 (OK)\ncall 0: 0.5 0.25\ncall 1: 0.125 0.125\n";
        let times = parse_call_times(out, 2).unwrap();
        assert_eq!(times, vec![vec![0.5, 0.25], vec![0.125, 0.125]]);
        assert!(parse_call_times("call 2: 1.0\n", 2).is_err());
        assert!(parse_call_times("call x: 1.0\n", 2).is_err());
        assert!(parse_call_times("call 0: 1.0 y\n", 2).is_err());
    }

    #[test]
    fn rates_follow_from_work_bytes_and_time() {
        let p = CallProfile {
            index: 0,
            kind: "Conv".into(),
            node: "conv1".into(),
            millis: 2.0,
            flops: 4e9,
            bytes: 1e6,
        };
        assert_eq!(p.gflops(), 2000.0);
        assert_eq!(p.gbytes_per_s(), 0.5);
        assert_eq!(p.intensity(), 4000.0);
        let report = render(&[p], Some(4000.0), 10);
        assert!(report.contains(" 50.0%"), "{report}");
    }
}
