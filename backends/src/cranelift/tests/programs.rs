//! Whole programs: the entry point (argument checks, call order, failing kernels),
//! the arena, weights and descriptor, object formats, and malformed programs.

use nnc_ir::kernel::{BufferRef, ElemType, Expr, KernelBuilder, Program, Ty, Weight};
use nnc_ir::{DType, Tensor};

use super::{bytes_of, call, check_program, full, io, single_kernel};
use crate::cranelift::{CodegenError, compile_program};
use crate::target::parse_target;

use ElemType::*;

#[test]
fn vector_relu_and_descriptor() {
    let mut k = KernelBuilder::new("relu");
    let x = k.buffer("x", F32, 64, false);
    let y = k.buffer("y", F32, 64, true);
    k.for_range("i", 0, 64, 4, |k, i| {
        let v = Expr::load(x, i.clone(), Ty::vector(F32, 4));
        k.store(y, i, v.max(Expr::f32(0.0).splat(4)));
    });
    let program = single_kernel(
        "relu",
        vec![io("x", DType::F32, &[8, 8])],
        vec![io("y", DType::F32, &[8, 8])],
        k.finish(),
    );
    let mut xs: Vec<f32> = (0..64).map(|i| (i as f32 - 32.0) * 0.5).collect();
    xs[5] = f32::NAN;
    xs[6] = -0.0;
    let report = check_program(&program, &[bytes_of(&xs)]);
    for line in [
        "abi 1 inputs 1 outputs 1 reserved 0 arena 0 align 16",
        "input x dtype 1 rank 2 shape 8 8 bytes 256",
        "output y dtype 1 rank 2 shape 8 8 bytes 256",
        "null inputs 1",
        "null input 1",
        "null outputs 1",
    ] {
        assert!(
            report.lines().any(|l| l == line),
            "missing '{line}' in:\n{report}"
        );
    }
}

/// `y = x * 2 + w` through an arena intermediate, with vector loops of step 4 and
/// scalar tails, and a second weight to check weight offsets.
#[test]
fn arena_weights_and_tails() {
    const N: usize = 22;
    let vector_then_tail = |k: &mut KernelBuilder, body: &dyn Fn(&mut KernelBuilder, Expr, u8)| {
        k.for_range("i", 0, 20, 4, |k, i| body(k, i, 4));
        k.for_range("j", 20, N as i64, 1, |k, j| body(k, j, 1));
    };
    let mut k = KernelBuilder::new("scale");
    let x = k.buffer("x", F32, N, false);
    let t = k.buffer("t", F32, N, true);
    vector_then_tail(&mut k, &|k, i, lanes| {
        let v = Expr::load(x, i.clone(), Ty::vector(F32, lanes));
        k.store(t, i, v * Expr::f32(2.0).splat(lanes));
    });
    let scale = k.finish();

    let mut k = KernelBuilder::new("add weight");
    let t = k.buffer("t", F32, N, false);
    let w = k.buffer("w", F32, N, false);
    let y = k.buffer("y", F32, N, true);
    vector_then_tail(&mut k, &|k, i, lanes| {
        let ty = Ty::vector(F32, lanes);
        let a = Expr::load(t, i.clone(), ty);
        let b = Expr::load(w, i.clone(), ty);
        k.store(y, i, a.fma(Expr::f32(1.0).splat(lanes), b));
    });
    let add = k.finish();

    let ws: Vec<f32> = (0..N).map(|i| 100.0 + i as f32).collect();
    let program = Program {
        name: "axpb".into(),
        inputs: vec![io("x", DType::F32, &[N])],
        outputs: vec![io("y", DType::F32, &[N])],
        arena_bytes: 64 + 4 * N,
        arena_align: 64,
        weights: vec![
            Weight {
                name: "pad".into(),
                tensor: Tensor::from_vec(vec![3], vec![1u8, 2, 3]).unwrap(),
            },
            Weight {
                name: "w".into(),
                tensor: Tensor::from_vec(vec![N], ws).unwrap(),
            },
        ],
        kernels: vec![scale, add],
        calls: vec![
            call(0, &[BufferRef::Input(0), BufferRef::Arena { offset: 64 }]),
            call(
                1,
                &[
                    BufferRef::Arena { offset: 64 },
                    BufferRef::Weight(1),
                    BufferRef::Output(0),
                ],
            ),
        ],
    };
    let xs: Vec<f32> = (0..N).map(|i| i as f32 * 0.25 - 1.0).collect();
    let report = check_program(&program, &[bytes_of(&xs)]);
    assert!(report.contains("status 0"), "{report}");
    assert!(report.contains("arena 152 align 64"), "{report}");
    assert!(report.contains("null arena 1"), "{report}");
    // y[0] = -1 * 2 + 100 = 98.
    let first = report.lines().find(|l| l.starts_with("out 0")).unwrap();
    assert!(first.starts_with("out 0 00 00 c4 42"), "{first}");
}

/// A kernel that fails with code 2 on a negative element; the kernel after it must
/// not run.
#[test]
fn fail_stops_the_program() {
    let mut k = KernelBuilder::new("check");
    let x = k.buffer("x", I32, 8, false);
    let y = k.buffer("y", I32, 8, true);
    k.for_range("i", 0, 8, 1, |k, i| {
        let v = Expr::load(x, i.clone(), Ty::scalar(I32));
        k.if_else(
            v.clone().lt(Expr::int(0, I32)),
            |k| k.fail(2),
            |k| k.store(y, i.clone(), v.clone()),
        );
    });
    let check = k.finish();
    let mut k = KernelBuilder::new("negate");
    let x = k.buffer("x", I32, 8, false);
    let y = k.buffer("y", I32, 8, true);
    k.for_range("i", 0, 8, 4, |k, i| {
        let v = Expr::load(x, i.clone(), full(I32));
        k.store(y, i, -v);
    });
    let negate = k.finish();
    let program = Program {
        name: "failing".into(),
        inputs: vec![io("x", DType::I32, &[8])],
        outputs: vec![io("y", DType::I32, &[8]), io("z", DType::I32, &[8])],
        arena_bytes: 0,
        arena_align: 16,
        weights: vec![],
        kernels: vec![check, negate],
        calls: vec![
            call(0, &[BufferRef::Input(0), BufferRef::Output(0)]),
            call(1, &[BufferRef::Input(0), BufferRef::Output(1)]),
        ],
    };
    let report = check_program(&program, &[bytes_of(&[1i32, 2, 3, 4, 5, 6, 7, 8])]);
    assert!(report.contains("status 0"), "{report}");
    let report = check_program(&program, &[bytes_of(&[1i32, 2, 3, -4, 5, 6, 7, 8])]);
    assert!(report.contains("status 2"), "{report}");
}

/// A bare-metal target: ELF for aarch64, no undefined symbols, the two exports.
#[test]
fn bare_metal_object_is_self_contained() {
    use cranelift_object::object::{self, Object, ObjectSymbol};
    let mut k = KernelBuilder::new("k");
    let x = k.buffer("x", F32, 8, false);
    let y = k.buffer("y", F32, 8, true);
    k.for_range("i", 0, 8, 4, |k, i| {
        let v = Expr::load(x, i.clone(), full(F32));
        k.store(y, i, v.clone().fma(v, Expr::f32(1.0).splat(4)));
    });
    let program = single_kernel(
        "bare",
        vec![io("x", DType::F32, &[8])],
        vec![io("y", DType::F32, &[8])],
        k.finish(),
    );
    for name in [
        "aarch64-unknown-none",
        "riscv64gc-unknown-none-elf",
        "x86_64-unknown-none",
    ] {
        let target = parse_target(name, &[]).unwrap();
        let compiled = compile_program(&program, &target).unwrap();
        let file = object::File::parse(&*compiled.bytes).unwrap();
        assert_eq!(file.format(), object::BinaryFormat::Elf, "{name}");
        let names: Vec<&str> = file
            .symbols()
            .filter(|s| s.is_global() && s.is_definition())
            .map(|s| s.name().unwrap())
            .collect();
        assert!(
            names.contains(&"bare_run") && names.contains(&"bare_descriptor"),
            "{name}: {names:?}"
        );
        assert!(
            file.symbols()
                .all(|s| !s.is_undefined() || s.name() == Ok("")),
            "{name}"
        );
        assert_eq!(compiled.symbols, ["bare_run", "bare_descriptor"]);
    }
    // Other object formats.
    for (name, format) in [
        ("aarch64-apple-darwin", object::BinaryFormat::MachO),
        ("x86_64-pc-windows-msvc", object::BinaryFormat::Coff),
    ] {
        let compiled = compile_program(&program, &parse_target(name, &[]).unwrap()).unwrap();
        let file = object::File::parse(&*compiled.bytes).unwrap();
        assert_eq!(file.format(), format, "{name}");
    }
}

#[test]
fn malformed_programs_are_errors() {
    let mut k = KernelBuilder::new("copy");
    let x = k.buffer("x", F32, 8, false);
    let y = k.buffer("y", F32, 8, true);
    k.for_range("i", 0, 8, 4, |k, i| {
        k.store(y, i.clone(), Expr::load(x, i, full(F32)));
    });
    let good = single_kernel(
        "copy",
        vec![io("x", DType::F32, &[8])],
        vec![io("y", DType::F32, &[8])],
        k.finish(),
    );
    let target = parse_target("x86_64", &[]).unwrap();
    compile_program(&good, &target).unwrap();

    let invalid = |p: &Program| {
        let e = compile_program(p, &target).unwrap_err();
        assert!(matches!(e, CodegenError::InvalidProgram { .. }), "{e}");
        e.to_string()
    };
    let mut p = good.clone();
    p.outputs[0].shape = vec![4];
    assert!(invalid(&p).contains("needs 32 bytes"));
    let mut p = good.clone();
    p.calls[0].args = vec![BufferRef::Input(0), BufferRef::Input(0)];
    assert!(invalid(&p).contains("read-only"));
    let mut p = good.clone();
    p.calls[0].args = vec![BufferRef::Input(0), BufferRef::Arena { offset: 8 }];
    p.arena_bytes = 16;
    assert!(invalid(&p).contains("exceeds the arena"));
    let mut p = good.clone();
    p.name = "not a name".into();
    invalid(&p);
    let mut p = good.clone();
    p.calls[0].kernel = 3;
    invalid(&p);

    // A kernel whose access cannot be proven in bounds.
    let mut p = good.clone();
    p.kernels[0].body.push(nnc_ir::kernel::Stmt::Store {
        buf: nnc_ir::kernel::BufId(1),
        index: Expr::index(6),
        value: Expr::load(nnc_ir::kernel::BufId(0), Expr::index(0), full(F32)),
    });
    let e = compile_program(&p, &target).unwrap_err();
    assert!(
        matches!(
            e,
            CodegenError::Kernel(ref b) if matches!(**b, nnc_ir::kernel::bounds::BoundsError::OutOfBounds { .. })
        ),
        "{e}"
    );

    // A kernel breaking the typing rules.
    let mut p = good;
    p.kernels[0].body.push(nnc_ir::kernel::Stmt::Store {
        buf: nnc_ir::kernel::BufId(1),
        index: Expr::index(0),
        value: Expr::int(1, I32),
    });
    let e = compile_program(&p, &target).unwrap_err();
    assert!(matches!(e, CodegenError::Kernel(_)), "{e}");
}

/// No inputs, no arena: an output computed from a weight alone.
#[test]
fn weights_only_program() {
    let mut k = KernelBuilder::new("from weight");
    let w = k.buffer("w", I64, 4, false);
    let y = k.buffer("y", I64, 4, true);
    k.for_range("i", 0, 4, 2, |k, i| {
        let x = Expr::load(w, i.clone(), full(I64));
        k.store(y, i, x.clone() * x);
    });
    let program = Program {
        name: "constant".into(),
        inputs: vec![],
        outputs: vec![io("y", DType::I64, &[2, 2])],
        arena_bytes: 0,
        arena_align: 8,
        weights: vec![Weight {
            name: "w".into(),
            tensor: Tensor::from_vec(vec![4], vec![3i64, -4, 1 << 31, 7]).unwrap(),
        }],
        kernels: vec![k.finish()],
        calls: vec![call(0, &[BufferRef::Weight(0), BufferRef::Output(0)])],
    };
    let report = check_program(&program, &[]);
    assert!(report.contains("abi 1 inputs 0 outputs 1"), "{report}");
}
