//! The harness compiled with the host's `cc` against a fake model written in C
//! (packaged by [`static_library`]), run through every exit path.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use nnc_ir::DType;
use nnc_ir::kernel::Program;

use super::c_harness;
use crate::artifact::testing::{compile_c, have, io, run_tool, scratch_dir};
use crate::artifact::{c_header, static_library};

/// `y = x * n` over f32[4] (n: an i64 scalar), staged through the arena; fails
/// with INDEX_OUT_OF_RANGE when n < 0 and with 99 if the arena is misaligned.
const FAKE_MODEL: &str = r#"
#include <stdint.h>
#include <string.h>
#include "fake.h"

static const uint64_t x_shape[] = FAKE_INPUT_0_SHAPE;
static const uint64_t y_shape[] = FAKE_OUTPUT_0_SHAPE;
static const nnc_tensor_desc fake_inputs[] = {
    { FAKE_INPUT_0_NAME, FAKE_INPUT_0_DTYPE, FAKE_INPUT_0_RANK, x_shape, FAKE_INPUT_0_BYTES },
    { FAKE_INPUT_1_NAME, FAKE_INPUT_1_DTYPE, FAKE_INPUT_1_RANK, 0, FAKE_INPUT_1_BYTES },
};
static const nnc_tensor_desc fake_outputs[] = {
    { FAKE_OUTPUT_0_NAME, FAKE_OUTPUT_0_DTYPE, FAKE_OUTPUT_0_RANK, y_shape, FAKE_OUTPUT_0_BYTES },
};
const nnc_model_desc fake_descriptor = {
    NNC_ABI_VERSION, FAKE_NUM_INPUTS, FAKE_NUM_OUTPUTS, 0, fake_inputs, fake_outputs,
    FAKE_ARENA_SIZE, FAKE_ARENA_ALIGN,
};

int fake_run(const void *const *inputs, void *const *outputs, void *arena) {
    const float *x;
    int64_t n;
    float *y, *scratch;
    int i;
    if (!inputs || !outputs || !arena || !inputs[0] || !inputs[1] || !outputs[0])
        return NNC_INVALID_ARGUMENT;
    if ((uintptr_t)arena % FAKE_ARENA_ALIGN != 0) return 99;
    x = (const float *)inputs[0];
    memcpy(&n, inputs[1], sizeof n);
    y = (float *)outputs[0];
    scratch = (float *)arena;
    if (n < 0) return NNC_INDEX_OUT_OF_RANGE;
    for (i = 0; i < 4; i++) scratch[i] = x[i] * (float)n;
    memcpy(y, scratch, FAKE_OUTPUT_0_BYTES);
    return NNC_OK;
}
"#;

fn fake_program() -> Program {
    Program {
        name: "fake".into(),
        inputs: vec![io("x", DType::F32, &[4]), io("n", DType::I64, &[])],
        outputs: vec![io("y", DType::F32, &[4])],
        arena_bytes: 16,
        arena_align: 64,
        weights: vec![],
        kernels: vec![],
        calls: vec![],
    }
}

/// Writes the header, the harness and `libfake.a`, and links `harness`.
fn build(dir: &Path) -> PathBuf {
    let program = fake_program();
    std::fs::write(dir.join("fake.h"), c_header(&program)).unwrap();
    std::fs::write(dir.join("fake.c"), FAKE_MODEL).unwrap();
    std::fs::write(dir.join("harness.c"), c_harness(&program)).unwrap();
    compile_c(
        dir,
        &["-std=c99", "-pedantic", "-c", "fake.c", "-o", "fake.o"],
    );
    let object = std::fs::read(dir.join("fake.o")).unwrap();
    let target = crate::artifact::testing::host_target();
    let lib = static_library("fake.o", &object, &target).unwrap();
    std::fs::write(dir.join("libfake.a"), lib).unwrap();
    let flags = ["-std=c11", "-pedantic", "harness.c", "-I.", "-L.", "-lfake"];
    compile_c(dir, &[&flags[..], &["-o", "harness"]].concat());
    dir.join("harness")
}

fn f32s(values: &[f32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

fn run(harness: &Path, dir: &Path, args: &[&str]) -> Output {
    Command::new(harness)
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn runs_the_model_and_reports_every_failure() {
    if !cfg!(unix) || !have("cc") {
        return;
    }
    let dir = scratch_dir("harness");
    let harness = build(&dir);
    std::fs::write(dir.join("x.bin"), f32s(&[1.0, 2.0, -3.0, 0.5])).unwrap();
    std::fs::write(dir.join("n.bin"), 3i64.to_le_bytes()).unwrap();
    std::fs::write(dir.join("neg.bin"), (-1i64).to_le_bytes()).unwrap();
    std::fs::write(dir.join("short.bin"), [0u8; 7]).unwrap();

    let ok = run(&harness, &dir, &["x.bin", "n.bin", "y.bin"]);
    assert_eq!(ok.status.code(), Some(0), "{}", text(&ok.stderr));
    assert!(text(&ok.stdout).contains("status: 0 (OK)"));
    let y = std::fs::read(dir.join("y.bin")).unwrap();
    assert_eq!(y, f32s(&[3.0, 6.0, -9.0, 1.5]));

    let short = run(&harness, &dir, &["x.bin", "short.bin", "y2.bin"]);
    assert_eq!(short.status.code(), Some(2));
    let err = text(&short.stderr);
    assert!(
        err.contains("input 1 ('n'): short.bin has 7 bytes, the model takes 8"),
        "{err}"
    );
    assert!(!dir.join("y2.bin").exists());

    let long = run(&harness, &dir, &["n.bin", "x.bin", "y2.bin"]);
    assert_eq!(long.status.code(), Some(2));
    assert!(text(&long.stderr).contains("n.bin has 8 bytes, the model takes 16"));

    let failed = run(&harness, &dir, &["x.bin", "neg.bin", "y2.bin"]);
    assert_eq!(failed.status.code(), Some(3));
    assert!(text(&failed.stdout).contains("status: 2 (INDEX_OUT_OF_RANGE)"));
    assert!(text(&failed.stderr).contains("fake_run returned status 2"));
    assert!(!dir.join("y2.bin").exists());

    let missing = run(&harness, &dir, &["x.bin", "nope.bin", "y2.bin"]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(text(&missing.stderr).contains("cannot open nope.bin"));

    let usage = run(&harness, &dir, &["x.bin", "n.bin"]);
    assert_eq!(usage.status.code(), Some(2));
    let err = text(&usage.stderr);
    assert!(
        err.contains("usage:") && err.contains("IN_1:  'n', 8 bytes"),
        "{err}"
    );

    let bad_repeat = run(
        &harness,
        &dir,
        &["--repeat", "0", "x.bin", "n.bin", "y.bin"],
    );
    assert_eq!(bad_repeat.status.code(), Some(2));

    let timed = run(
        &harness,
        &dir,
        &["--repeat", "3", "x.bin", "n.bin", "y3.bin"],
    );
    assert_eq!(timed.status.code(), Some(0), "{}", text(&timed.stderr));
    let out = text(&timed.stdout);
    assert_eq!(
        out.lines().filter(|l| l.starts_with("run ")).count(),
        3,
        "{out}"
    );
    assert!(out.contains("best: "), "{out}");
    assert_eq!(std::fs::read(dir.join("y3.bin")).unwrap(), y);
}

#[test]
fn compiles_for_models_without_inputs_or_arena() {
    if !have("cc") {
        return;
    }
    let dir = scratch_dir("harness-edge");
    let program = Program {
        name: "edge".into(),
        inputs: vec![],
        outputs: vec![io("empty", DType::U8, &[0]), io("s", DType::Bool, &[])],
        arena_bytes: 0,
        arena_align: 1,
        weights: vec![],
        kernels: vec![],
        calls: vec![],
    };
    std::fs::write(dir.join("edge.h"), c_header(&program)).unwrap();
    std::fs::write(dir.join("harness.c"), c_harness(&program)).unwrap();
    compile_c(&dir, &["-std=c11", "-pedantic", "-c", "harness.c"]);
}

#[test]
fn compiles_with_the_cross_compilers() {
    let dir = scratch_dir("harness-cross");
    let program = fake_program();
    std::fs::write(dir.join("fake.h"), c_header(&program)).unwrap();
    std::fs::write(dir.join("harness.c"), c_harness(&program)).unwrap();
    for cc in ["aarch64-linux-gnu-gcc", "riscv64-linux-gnu-gcc"] {
        if have(cc) {
            run_tool(
                cc,
                &dir,
                &["-std=c11", "-Wall", "-Werror", "-c", "harness.c"],
            );
        }
    }
}
