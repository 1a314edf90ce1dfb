//! Every model of the shared zoo loads into a graph that passes the verifier.

use std::path::Path;

use nnc_frontend::{ImportOptions, load, read_tensor_file};

const ZOO: &str = "/work/shared/zoo";

#[test]
fn every_zoo_model_loads_and_verifies() {
    let Ok(entries) = std::fs::read_dir(ZOO) else {
        println!("note: {ZOO} is absent; zoo test skipped");
        return;
    };
    let mut models: Vec<_> = entries
        .filter_map(Result::ok)
        .map(|e| e.path().join("model.onnx"))
        .filter(|p| p.exists())
        .collect();
    models.sort();
    let mut failures = Vec::new();
    for path in &models {
        match load_and_verify(path) {
            Ok(nodes) => println!("{}: {nodes} IR nodes", path.display()),
            Err(e) => failures.push(e),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The small zoo models also run through the reference evaluator, against
/// onnxruntime's outputs: this checks the converters' semantics, not only types.
#[test]
fn small_zoo_models_match_onnxruntime() {
    for name in ["kws_dscnn", "mlp_784_256_256_10"] {
        let dir = Path::new(ZOO).join(name);
        if !dir.exists() {
            println!("note: {} is absent; skipped", dir.display());
            continue;
        }
        let model = load(&dir.join("model.onnx"), &ImportOptions::default()).unwrap();
        let data = dir.join("test_data_set_0");
        let (_, input) = read_tensor_file(&data.join("input_0.pb")).unwrap();
        let (_, expected) = read_tensor_file(&data.join("output_0.pb")).unwrap();
        let outputs = nnc_ir::eval::run(&model.graph, &[input]).unwrap();
        let got = outputs[0].to_vec::<f32>().unwrap();
        let want = expected.to_vec::<f32>().unwrap();
        assert_eq!(got.len(), want.len(), "{name}");
        for (i, (g, w)) in got.iter().zip(&want).enumerate() {
            assert!(
                (g - w).abs() <= 1e-4 + 1e-3 * w.abs(),
                "{name}: output {i} is {g}, onnxruntime says {w}"
            );
        }
    }
}

fn load_and_verify(path: &Path) -> Result<usize, String> {
    let model = load(path, &ImportOptions::default()).map_err(|e| e.to_string())?;
    nnc_ir::verify(&model.graph).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(model.graph.node_count())
}
