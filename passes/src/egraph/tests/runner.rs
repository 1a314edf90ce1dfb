use std::time::Duration;

use nnc_ir::ops::Binary;

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
#[test]
#[ignore]
fn depth_scaling() {
    for depth in [8, 16, 32, 64, 128] {
        let b = stack(depth);
        let start = std::time::Instant::now();
        let (_, report) = crate::egraph::optimize(&b.g, &EgraphOptions::default()).unwrap();
        println!(
            "depth {depth:4}: {:6} e-nodes, {:7.1} ms (saturation {:.1}, extraction {:.1}, rebuild {:.1} ms), {}",
            report.egraph_nodes,
            start.elapsed().as_secs_f64() * 1e3,
            report.saturate_millis,
            report.extract_millis,
            report.rebuild_millis,
            report.stop
        );
    }
}
