use std::time::Duration;

use egg::Language;
use nnc_ir::ops::{Binary, Reduce, ReduceKind, Unary};
use nnc_ir::{Graph, Op};

use super::{Builder, count, optimise_checked};
use crate::egraph::extract::Extraction;
use crate::egraph::{EgraphOptions, Limits, convert, extract};

/// A RepVGG-like stack of `depth` blocks.
fn stack(depth: usize) -> Builder {
    let mut b = Builder::new(depth as u64);
    let mut x = b.input(&[1, 4, 5, 5]);
    for _ in 0..depth {
        let k3 = b.conv(x, 4, [3, 3], [1, 1, 1, 1], 1, 1, false);
        let k3 = b.bn(k3);
        let k1 = b.conv(x, 4, [1, 1], [0, 0, 0, 0], 1, 1, false);
        let k1 = b.bn(k1);
        let id = b.bn(x);
        let s = b.binary(Binary::Add, k3, k1);
        let s = b.binary(Binary::Add, s, id);
        x = b.node(nnc_ir::Op::Unary(nnc_ir::ops::Unary::Relu), &[Some(s)]);
    }
    b.g.set_outputs(vec![x]);
    b
}

/// A node limit stops saturation early, the report says so, and the graph is
/// still right.
#[test]
fn the_node_limit_stops_saturation_and_is_reported() {
    let b = stack(3);
    let (g, mut rng) = (b.g, b.rng);
    let options = EgraphOptions {
        limits: Limits {
            nodes: 40,
            iterations: 30,
            time: Duration::from_secs(5),
        },
        ..EgraphOptions::default()
    };
    let (_, report) = optimise_checked(&g, &mut rng, &options);
    assert!(report.stop.starts_with("node limit"), "{}", report.stop);
    let (out, report) = optimise_checked(&g, &mut rng, &EgraphOptions::default());
    assert_eq!(report.stop, "saturated");
    assert_eq!(count(&out, "Conv"), 3);
}

/// The e-graph grows linearly with depth: blocks do not interact.
#[test]
fn egraph_size_grows_linearly_with_depth() {
    let size = |depth: usize| {
        let b = stack(depth);
        let (g, mut rng) = (b.g, b.rng);
        optimise_checked(&g, &mut rng, &EgraphOptions::default())
            .1
            .egraph_nodes
    };
    let (s4, s8) = (size(4), size(8));
    assert!(s8 <= 2 * s4 + 8, "4 blocks: {s4} e-nodes, 8 blocks: {s8}");
}

/// Saturation's work grows linearly with depth: each added block adds the same
/// e-nodes, classes, class visits and rule applications. Counts, not times, so
/// that a loaded machine cannot make it fail; `depth_scaling` measures the times.
#[test]
fn work_per_block_is_the_same_at_every_depth() {
    let work = |depth: usize| {
        let b = stack(depth);
        let report = crate::egraph::optimize(&b.g, &EgraphOptions::default())
            .unwrap()
            .1;
        assert_eq!(report.stop, "saturated");
        [
            report.egraph_nodes,
            report.egraph_classes,
            report.class_visits,
            report.rewrites.values().sum(),
            report.iterations,
        ]
    };
    let (w8, w16, w32) = (work(8), work(16), work(32));
    for (k, what) in [
        "e-nodes",
        "classes",
        "class visits",
        "rewrites",
        "iterations",
    ]
    .iter()
    .enumerate()
    {
        let (a, b, c) = (w8[k], w16[k], w32[k]);
        assert!(
            b >= a && c >= b,
            "{what}: {a}, {b}, {c} at 8, 16, 32 blocks"
        );
        assert_eq!(
            c - b,
            2 * (b - a),
            "{what}: {a}, {b}, {c} at 8, 16, 32 blocks: not the same per block"
        );
    }
    assert!(w32[2] > w8[2], "saturation visited something");
}

/// Without rules, IR -> e-graph -> IR gives back the same program.
#[test]
fn conversion_round_trips() {
    let b = stack(2);
    let g = b.g;
    let encoded = convert::to_egraph(&g);
    let greedy = extract::Greedy {
        roofline: Default::default(),
    };
    let choices = greedy.choose(&encoded.egraph, &encoded.roots);
    let out = convert::to_graph(&g, &encoded, &choices).unwrap();
    assert_eq!(out.node_count(), g.node_count());
    for op in ["Conv", "BatchNormalization", "Add", "Relu"] {
        assert_eq!(count(&out, op), count(&g, op), "{op}");
    }
    let x = nnc_ir::Tensor::from_vec(
        vec![1, 4, 5, 5],
        (0..100).map(|i| i as f32 / 50.0).collect(),
    )
    .unwrap();
    let want = nnc_ir::eval::run(&g, std::slice::from_ref(&x)).unwrap();
    let got = nnc_ir::eval::run(&out, &[x]).unwrap();
    assert_eq!(want, got);
}

/// Optimiser time and e-graph size against depth (`cargo test --release -p
/// nnc-passes depth_scaling -- --ignored --nocapture`): a measurement, not a check.
/// Per block, both should stay roughly constant as the stack deepens. Times are µs
/// per block. The total is this thread's CPU time (waiting for a core on a shared
/// machine does not count), the median of 5 batches of runs, each batch long
/// enough (~0.25 s) to be well above the clock's 4 ms tick. The phases are the
/// median wall time over all runs: IR -> e-graph, saturation's search / apply /
/// egg's rebuild / tracking what changed, both extractions, e-graph -> IR with
/// new weights, freeing the e-graph (on a loaded machine they include waiting for
/// a core). `NNC_DEPTH=N` measures one depth only.
#[test]
#[ignore]
fn depth_scaling() {
    let only: Option<usize> = std::env::var("NNC_DEPTH").ok().and_then(|d| d.parse().ok());
    println!(
        "blocks  e-nodes  /block  iters  runs |  cpu µs/block | convert  search   apply rebuild   track extract  to-IR    drop  (wall µs/block)"
    );
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    for depth in [8, 16, 32, 64, 128, 256] {
        if only.is_some_and(|d| d != depth) {
            continue;
        }
        let b = stack(depth);
        let per_batch = (512 / depth).max(1);
        let options = EgraphOptions::default();
        let mut phases: Vec<[f64; 8]> = Vec::new();
        let mut batches = Vec::new();
        let mut last = None;
        for _ in 0..5 {
            let start = std::time::Instant::now();
            let cpu = thread_cpu_ms();
            for _ in 0..per_batch {
                let report = crate::egraph::optimize(&b.g, &options).unwrap().1;
                let p = report.phases;
                phases.push([
                    report.convert_millis,
                    p.search,
                    p.apply,
                    p.rebuild,
                    p.track,
                    report.extract_millis,
                    report.rebuild_millis,
                    report.drop_millis,
                ]);
                last = Some(report);
            }
            let wall = start.elapsed().as_secs_f64() * 1e3;
            let total = match (cpu, thread_cpu_ms()) {
                (Some(a), Some(b)) => b - a,
                _ => wall,
            };
            batches.push(total * 1e3 / (per_batch * depth) as f64);
        }
        let report = last.expect("at least one run");
        print!(
            "{depth:6}  {:7}  {:6.1}  {:5}  {:4} | {:13.0} |",
            report.egraph_nodes,
            report.egraph_nodes as f64 / depth as f64,
            report.iterations,
            phases.len(),
            median(batches),
        );
        for k in 0..8 {
            let column = phases.iter().map(|r| r[k] * 1e3 / depth as f64).collect();
            print!(" {:7.0}", median(column));
        }
        println!("  {}", report.stop);
    }
}

/// This thread's CPU time in ms (Linux), so that time spent waiting for a core on
/// a shared machine does not count.
fn thread_cpu_ms() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let ns: f64 = stat.split_whitespace().next()?.parse().ok()?;
    Some(ns / 1e6)
}

/// Visiting only what changed (and its ancestors up to `REACH` levels) reaches the
/// same e-graph as visiting every class on every iteration.
#[test]
fn incremental_visits_reach_the_full_sweeps_egraph() {
    let rewrites = crate::egraph::rules::rewrites(&[]);
    let graphs = [stack(6).g, layernorm_gelu(3)];
    for g in graphs {
        let sizes = |reach| {
            let encoded = convert::to_egraph(&g);
            let (_, s) = crate::egraph::runner::saturate_visiting(
                encoded.egraph,
                &rewrites,
                Limits::default(),
                reach,
            );
            (s.nodes, s.classes, s.applied, s.stop)
        };
        let full = sizes(None);
        let incremental = sizes(Some(crate::egraph::runner::REACH));
        assert_eq!(full, incremental);
        assert_eq!(full.3, "saturated");
        assert!(full.2.len() >= 2, "rules fired: {:?}", full.2);
    }
}

/// `depth` blocks of a decomposed LayerNorm with affine, a MatMul and an Erf GELU:
/// the deepest patterns the rules know.
fn layernorm_gelu(depth: usize) -> Graph {
    let mut b = Builder::new(7);
    let mut x = b.input(&[2, 3, 8]);
    for _ in 0..depth {
        let mean = |b: &mut Builder, v| {
            let r = Reduce {
                kind: ReduceKind::Mean,
                axes: vec![2],
                keepdims: true,
            };
            b.node(Op::Reduce(r), &[Some(v)])
        };
        let m = mean(&mut b, x);
        let d = b.binary(Binary::Sub, x, m);
        let two = b.scalar(2.0);
        let sq = b.binary(Binary::Pow, d, two);
        let v = mean(&mut b, sq);
        let eps = b.scalar(1e-5);
        let ve = b.binary(Binary::Add, v, eps);
        let sd = b.node(Op::Unary(Unary::Sqrt), &[Some(ve)]);
        let n = b.binary(Binary::Div, d, sd);
        let gamma = b.weight(&[8], 0.5, 1.5);
        let beta = b.weight(&[8], -1.0, 1.0);
        let y = b.binary(Binary::Mul, n, gamma);
        let y = b.binary(Binary::Add, y, beta);
        let w = b.weight(&[8, 8], -1.0, 1.0);
        let y = b.node(Op::MatMul, &[Some(y), Some(w)]);
        let sqrt2 = b.scalar(std::f32::consts::SQRT_2);
        let one = b.scalar(1.0);
        let half = b.scalar(0.5);
        let e = b.binary(Binary::Div, y, sqrt2);
        let e = b.node(Op::Unary(Unary::Erf), &[Some(e)]);
        let e = b.binary(Binary::Add, e, one);
        let h = b.binary(Binary::Mul, half, e);
        x = b.binary(Binary::Mul, y, h);
    }
    b.g.set_outputs(vec![x]);
    b.g
}

/// A value with two users, one of which has a fused alternative that recomputes
/// the value: tree cost counts the shared conv twice and takes the fused form
/// (two convolutions in the program); the DAG extraction keeps one convolution.
#[test]
fn dag_extraction_counts_a_shared_value_once() {
    use crate::egraph::language::Enode;
    let mut b = Builder::new(11);
    let x = b.input(&[1, 8, 16, 16]);
    let c = b.conv(x, 8, [3, 3], [1, 1, 1, 1], 1, 1, false);
    let r = b.node(Op::Unary(Unary::Relu), &[Some(c)]);
    let s = b.node(Op::Unary(Unary::Sigmoid), &[Some(c)]);
    let g = b.finish(vec![r, s]).0;
    let mut encoded = convert::to_egraph(&g);
    // A stand-in for a fused Relu(Conv(x)) kernel: the same conv with an explicit
    // zero bias, a distinct e-node of the same type and about the same cost,
    // unioned into the Relu's class. Only priced here, never turned back into IR.
    let eg = &mut encoded.egraph;
    let relu_class = eg.find(encoded.roots[0]);
    let conv_class = eg[relu_class].nodes[0].children()[0];
    let Some((op, operands)) = eg[conv_class].nodes[0].as_op() else {
        panic!("a conv")
    };
    let (op, x, w) = (op.clone(), operands[0], operands[1]);
    let zero = eg.add(Enode::Literal(crate::egraph::language::Literal::new(
        nnc_ir::Tensor::from_vec(vec![8], vec![0f32; 8]).unwrap(),
    )));
    let fused = eg.add(Enode::op(op, vec![x, w, zero]));
    eg.union(relu_class, fused);
    eg.rebuild();
    let roofline = Default::default();
    let tree = extract::Greedy { roofline }.choose(&encoded.egraph, &encoded.roots);
    let dag = crate::egraph::DagGreedy::new(roofline).choose(&encoded.egraph, &encoded.roots);
    let convs = |c: &extract::Choices| {
        c.nodes
            .values()
            .filter(|n| matches!(n, Enode::Op(k, _) if k.op().name() == "Conv"))
            .count()
    };
    assert_eq!(convs(&tree), 2, "tree extraction recomputes the conv");
    assert_eq!(convs(&dag), 1, "DAG extraction shares it");
    assert!(dag.seconds < tree.seconds);
}
