//! Memory planning on real models: the arena stays within 10% of the lower bound
//! (the most bytes live at any one node).

use nnc_frontend::{ImportOptions, load};
use nnc_passes::pipeline::{PASSES, run_pipeline};
use nnc_passes::{PlanOptions, plan_memory};
use nnc_testsuite::zoo_models;

#[test]
fn zoo_arenas_are_within_ten_percent_of_the_lower_bound() {
    let models = zoo_models();
    if models.is_empty() {
        eprintln!("no model zoo on this machine: skipped");
        return;
    }
    let mut too_big = Vec::new();
    eprintln!(
        "{:<24} {:>12} {:>12} {:>6} {:>8} {:>8}  strategy",
        "model", "arena", "bound", "ratio", "inplace", "ms"
    );
    for dir in models {
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        let imported = load(&dir.join("model.onnx"), &ImportOptions::default())
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        // The graph the native build plans: after every pass of the pipeline.
        let (graph, _) = run_pipeline(imported.graph, PASSES, true, &[], &mut |_, _| {})
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let start = std::time::Instant::now();
        let plan = plan_memory(&graph, &PlanOptions::default());
        let millis = start.elapsed().as_secs_f64() * 1e3;
        eprintln!(
            "{:<24} {:>12} {:>12} {:>6.3} {:>8} {:>8.1}  {}",
            name,
            plan.size,
            plan.lower_bound,
            plan.ratio(),
            plan.inplace.len(),
            millis,
            plan.strategy
        );
        assert!(plan.size.is_multiple_of(plan.alignment));
        assert!(plan.size >= plan.lower_bound, "{name}: {plan}");
        if plan.size as f64 > 1.10 * plan.lower_bound as f64 {
            too_big.push(format!("{name}: {plan}"));
        }
    }
    assert!(
        too_big.is_empty(),
        "arenas past 1.10 x lower bound: {too_big:#?}"
    );
}
