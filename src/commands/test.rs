//! `nnc test`: run cases in the ONNX backend-test layout and compare outputs.
//!
//! One line per case — `PASS`, `FAIL` (with the worst error or the failure) or
//! `SKIP` (the model was refused as unsupported) — then `N passed, N failed` and
//! `, N skipped` when any were. Exit code 1 when any case failed.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crate::cli::{CompileArgs, Engine, TargetArgs};
use crate::commands::resolve_target;
use crate::compare::{Deviation, Tolerance, compare};
use crate::compile::compile_for;
use crate::error::{Error, Result};
use crate::executor::Executor;
use crate::tensor_io::read_tensor;

enum Outcome {
    Pass(String),
    Fail(String),
    Skip(String),
}

pub fn test(
    cases: &[PathBuf],
    engine: Engine,
    target: &TargetArgs,
    tolerance: Tolerance,
    args: &CompileArgs,
) -> Result<ExitCode> {
    let (mut passed, mut failed, mut skipped) = (0, 0, 0);
    for case in cases {
        // One broken case must not take the others down: a panic (a bug) fails it.
        let outcome = std::panic::catch_unwind(|| run_case(case, engine, target, tolerance, args))
            .unwrap_or_else(|_| Outcome::Fail("internal error: nnc panicked (a bug)".into()));
        let name = case.display();
        match outcome {
            Outcome::Pass(detail) => {
                passed += 1;
                println!("PASS {name} {detail}");
            }
            Outcome::Fail(detail) => {
                failed += 1;
                println!("FAIL {name} {detail}");
            }
            Outcome::Skip(reason) => {
                skipped += 1;
                println!("SKIP {name} {reason}");
            }
        }
    }
    if skipped > 0 {
        println!("{passed} passed, {failed} failed, {skipped} skipped");
    } else {
        println!("{passed} passed, {failed} failed");
    }
    Ok(if failed > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

fn run_case(
    case: &Path,
    engine: Engine,
    target: &TargetArgs,
    tolerance: Tolerance,
    args: &CompileArgs,
) -> Outcome {
    // Native code is costed on its target (an unknown one fails below, in
    // prepare, with its own message); the evaluator has none.
    let spec = match engine {
        Engine::Native => resolve_target(target).ok(),
        Engine::Eval => None,
    };
    let compiled = match compile_for(&case.join("model.onnx"), args, spec.as_ref()) {
        Ok(c) => c,
        Err(e) if e.is_unsupported() => return Outcome::Skip(e.to_string()),
        Err(e) => return Outcome::Fail(e.to_string()),
    };
    let executor = match Executor::prepare(&compiled, engine, target) {
        Ok(e) => e,
        Err(e) if e.is_unsupported() => return Outcome::Skip(e.to_string()),
        Err(e) => return Outcome::Fail(e.to_string()),
    };
    let data_sets = match numbered_entries(case, "test_data_set_", "") {
        Ok(sets) if !sets.is_empty() => sets,
        Ok(_) => return Outcome::Fail("no test_data_set_N folder".into()),
        Err(e) => return Outcome::Fail(e.to_string()),
    };
    let mut worst = Deviation::default();
    for set in &data_sets {
        match check_data_set(&executor, set, tolerance) {
            Ok(deviation) => {
                if !deviation.passed() {
                    let set_name = set
                        .file_name()
                        .unwrap_or_default()
                        .to_string_lossy()
                        .into_owned();
                    return Outcome::Fail(format!("{set_name}: {}", describe(&deviation)));
                }
                worst.max_abs = worst.max_abs.max(deviation.max_abs);
            }
            Err(e) => return Outcome::Fail(e.to_string()),
        }
    }
    Outcome::Pass(format!("max_abs_err={:.3e}", worst.max_abs))
}

fn describe(deviation: &Deviation) -> String {
    match &deviation.problem {
        Some(problem) => problem.clone(),
        None => format!(
            "{} elements out of tolerance, max_abs_err={:.3e}, max_rel_err={:.3e}",
            deviation.mismatches, deviation.max_abs, deviation.max_rel
        ),
    }
}

/// Runs one data set and returns the worst deviation over its outputs.
fn check_data_set(executor: &Executor, set: &Path, tolerance: Tolerance) -> Result<Deviation> {
    let inputs = numbered_entries(set, "input_", ".pb")?
        .iter()
        .map(|p| read_tensor(p))
        .collect::<Result<Vec<_>>>()?;
    let expected = numbered_entries(set, "output_", ".pb")?
        .iter()
        .map(|p| read_tensor(p))
        .collect::<Result<Vec<_>>>()?;
    let actual = executor.run(&inputs)?;
    if actual.len() != expected.len() {
        return Err(Error::file(
            set,
            format!(
                "the model gives {} outputs, the data set expects {}",
                actual.len(),
                expected.len()
            ),
        ));
    }
    let mut worst = Deviation::default();
    for (k, (a, e)) in actual.iter().zip(&expected).enumerate() {
        let mut d = compare(a, e, tolerance);
        if let Some(problem) = d.problem.take() {
            d.problem = Some(format!("output {k}: {problem}"));
            return Ok(d);
        }
        worst.max_abs = worst.max_abs.max(d.max_abs);
        worst.max_rel = worst.max_rel.max(d.max_rel);
        worst.mismatches += d.mismatches;
    }
    Ok(worst)
}

/// Entries of `dir` named `{prefix}{N}{suffix}`, ordered by N.
fn numbered_entries(dir: &Path, prefix: &str, suffix: &str) -> Result<Vec<PathBuf>> {
    let entries = fs::read_dir(dir).map_err(|e| Error::file(dir, e))?;
    let mut numbered: Vec<(u64, PathBuf)> = entries
        .filter_map(|entry| entry.ok())
        .filter_map(|entry| {
            let name = entry.file_name().to_string_lossy().into_owned();
            let n = name
                .strip_prefix(prefix)?
                .strip_suffix(suffix)?
                .parse()
                .ok()?;
            Some((n, entry.path()))
        })
        .collect();
    numbered.sort();
    Ok(numbered.into_iter().map(|(_, p)| p).collect())
}
