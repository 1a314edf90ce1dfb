//! The e-graph optimiser on real models: outputs unchanged (within float
//! reassociation), and the training-form reparameterizable models reduced to
//! their deployed form.

use nnc_frontend::{ImportOptions, load, read_tensor_file};
use nnc_ir::{Graph, Tensor, eval};
use nnc_passes::canonicalize;
use nnc_passes::egraph::{EgraphOptions, optimize};
use nnc_testsuite::zoo_models;

/// How many times `op` is computed: as a node, or fused (the anchor or a step of
/// a `Fused` node).
fn count(graph: &Graph, op: &str) -> usize {
    graph
        .nodes()
        .map(|(_, n)| match &n.op {
            nnc_ir::Op::Fused(f) => f.label().split('+').filter(|part| *part == op).count(),
            other => usize::from(other.name() == op),
        })
        .sum()
}

fn reference_inputs(model_dir: &std::path::Path, graph: &Graph) -> Vec<Tensor> {
    (0..graph.inputs().len())
        .map(|k| {
            let path = model_dir.join(format!("test_data_set_0/input_{k}.pb"));
            read_tensor_file(&path).expect("zoo input reads").1
        })
        .collect()
}

/// (model, Conv after, a recognised op and how many of it) the optimiser must reach.
/// (ViT's patch embedding becomes a matrix product, `conv-as-patch-matmul`;
/// ConvNeXt's stem and downsampling convolutions, whose outputs stay
/// channels-first, pointwise convolutions over the rearranged patches,
/// `conv-as-patch-pointwise`: 4 of its 40 convolutions.)
const EXPECTED: &[(&str, usize, &str, usize)] = &[
    ("repvgg_a0", 22, "Relu", 22),
    ("mobileone_s0", 43, "Relu", 43),
    ("vit_tiny_patch16_224", 0, "Gelu", 12),
    ("convnext_atto", 40, "Gelu", 12),
];

#[test]
fn egraph_preserves_zoo_outputs_and_reaches_deployed_forms() {
    let models = zoo_models();
    if models.is_empty() {
        eprintln!("no model zoo on this machine: skipped");
        return;
    }
    for dir in models {
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        let imported = load(&dir.join("model.onnx"), &ImportOptions::default())
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let before = canonicalize(&imported.graph).unwrap_or_else(|e| panic!("{name}: {e}"));
        let (after, report) =
            optimize(&before, &EgraphOptions::default()).unwrap_or_else(|e| panic!("{name}: {e}"));
        let after = canonicalize(&after).unwrap_or_else(|e| panic!("{name}: {e}"));
        nnc_ir::verify(&after).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(report.rebuild_error.is_none(), "{name}: {report}");

        if let Some(&(_, convs, op, n)) = EXPECTED.iter().find(|e| e.0 == name) {
            assert_eq!(count(&after, "Conv"), convs, "{name}: {report}");
            assert_eq!(count(&after, op), n, "{name}");
            assert_eq!(count(&after, "BatchNormalization"), 0, "{name}");
        }
        if name == "repvgg_a0" || name == "mobileone_s0" {
            assert_eq!(count(&after, "Add"), 0, "{name}: branch additions left");
        }

        let inputs = reference_inputs(&dir, &before);
        let expected = eval::run(&before, &inputs).unwrap_or_else(|e| panic!("{name}: {e}"));
        let actual = eval::run(&after, &inputs).unwrap_or_else(|e| panic!("{name}: {e}"));
        for (a, e) in actual.iter().zip(&expected) {
            for (x, y) in a.to_f64_vec().iter().zip(e.to_f64_vec()) {
                assert!(
                    (x - y).abs() <= 1e-4 + 1e-3 * y.abs(),
                    "{name}: the optimiser changed an output from {y} to {x}"
                );
            }
        }
        eprintln!(
            "{name}: run-time nodes {} -> {}, {} e-nodes, {:.0} ms, {}",
            report.kernels_before,
            report.kernels_after,
            report.egraph_nodes,
            report.millis,
            report.stop
        );
    }
}
