//! Canonicalisation on real models: outputs unchanged (within float reassociation),
//! and no shape computation left.

use nnc_frontend::{ImportOptions, load, read_tensor_file};
use nnc_ir::{Graph, Op, Tensor, eval};
use nnc_passes::canonicalize;
use nnc_testsuite::zoo_models;

fn reference_inputs(model_dir: &std::path::Path, graph: &Graph) -> Vec<Tensor> {
    (0..graph.inputs().len())
        .map(|k| {
            let path = model_dir.join(format!("test_data_set_0/input_{k}.pb"));
            read_tensor_file(&path).expect("zoo input reads").1
        })
        .collect()
}

fn max_abs_difference(a: &Tensor, b: &Tensor) -> f64 {
    assert_eq!(a.shape(), b.shape());
    a.to_f64_vec()
        .iter()
        .zip(b.to_f64_vec())
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f64::max)
}

#[test]
fn canonicalize_preserves_zoo_outputs_and_folds_shape_ops() {
    let models = zoo_models();
    if models.is_empty() {
        eprintln!("no model zoo on this machine: skipped");
        return;
    }
    for dir in models {
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        let imported = load(&dir.join("model.onnx"), &ImportOptions::default())
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let before = imported.graph;
        let after = canonicalize(&before).unwrap_or_else(|e| panic!("{name}: {e}"));
        nnc_ir::verify(&after).unwrap_or_else(|e| panic!("{name}: {e}"));

        for (_, node) in after.nodes() {
            let shape_op = matches!(
                node.op,
                Op::Shape(_) | Op::Size | Op::ConstantOfShape(_) | Op::Range
            );
            assert!(
                !shape_op,
                "{name}: shape op {} left after canonicalize",
                node.name
            );
            let all_const = node.inputs.iter().flatten().all(|&i| after.is_const(i));
            let keeps_quantized_weight = matches!(node.op, Op::Dequantize(_));
            assert!(
                !all_const || keeps_quantized_weight,
                "{name}: node {} has only constant operands after canonicalize",
                node.name
            );
        }
        assert!(after.node_count() <= before.node_count());

        let inputs = reference_inputs(&dir, &before);
        let expected = eval::run(&before, &inputs).unwrap_or_else(|e| panic!("{name}: {e}"));
        let actual = eval::run(&after, &inputs).unwrap_or_else(|e| panic!("{name}: {e}"));
        for (a, e) in actual.iter().zip(&expected) {
            let diff = max_abs_difference(a, e);
            assert!(
                diff <= 1e-4,
                "{name}: canonicalize changed the output by {diff}"
            );
        }
        eprintln!(
            "{name}: {} -> {} nodes",
            before.node_count(),
            after.node_count()
        );
    }
}
