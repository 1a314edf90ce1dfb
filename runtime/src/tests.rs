//! Fake models written in Rust (an `extern "C"` entry point and a descriptor in
//! statics) driving every check and error path of [`Model`].

use core::ffi::{CStr, c_void};
use std::boxed::Box;
use std::string::ToString;
use std::vec;
use std::vec::Vec;

use crate::*;

// --- A model `sum`: out = a + b over f32[2,3], staging `a` in a 16-aligned arena.

static SHAPE_2X3: [u64; 2] = [2, 3];
static SUM_INPUTS: [TensorDesc; 2] = [
    TensorDesc {
        name: c"a".as_ptr(),
        dtype: dtype::F32,
        rank: 2,
        shape: SHAPE_2X3.as_ptr(),
        bytes: 24,
    },
    TensorDesc {
        name: c"b".as_ptr(),
        dtype: dtype::F32,
        rank: 2,
        shape: SHAPE_2X3.as_ptr(),
        bytes: 24,
    },
];
static SUM_OUTPUTS: [TensorDesc; 1] = [TensorDesc {
    name: c"sum".as_ptr(),
    dtype: dtype::F32,
    rank: 2,
    shape: SHAPE_2X3.as_ptr(),
    bytes: 24,
}];

#[unsafe(no_mangle)]
#[allow(non_upper_case_globals)]
static nnc_test_sum_descriptor: ModelDesc = ModelDesc {
    abi_version: ABI_VERSION,
    num_inputs: 2,
    num_outputs: 1,
    reserved: 0,
    inputs: SUM_INPUTS.as_ptr(),
    outputs: SUM_OUTPUTS.as_ptr(),
    arena_size: 24,
    arena_align: 16,
};

/// Fails with INDEX_OUT_OF_RANGE when `a` holds a negative number and with 42
/// when `a[0] == 42`, as generated code reports data errors.
#[unsafe(no_mangle)]
unsafe extern "C" fn nnc_test_sum_run(
    inputs: *const *const c_void,
    outputs: *const *mut c_void,
    arena: *mut c_void,
) -> i32 {
    if inputs.is_null() || outputs.is_null() || arena.is_null() {
        return status::INVALID_ARGUMENT;
    }
    // SAFETY: the descriptor's sizes, which `Model::run` checked.
    unsafe {
        let a = core::slice::from_raw_parts(*inputs as *const f32, 6);
        let b = core::slice::from_raw_parts(*inputs.add(1) as *const f32, 6);
        let out = core::slice::from_raw_parts_mut(*outputs as *mut f32, 6);
        if !(arena as usize).is_multiple_of(16) {
            return 99;
        }
        let scratch = core::slice::from_raw_parts_mut(arena as *mut f32, 6);
        if a[0] == 42.0 {
            return 42;
        }
        if a.iter().any(|&x| x < 0.0) {
            return status::INDEX_OUT_OF_RANGE;
        }
        scratch.copy_from_slice(a);
        for ((o, s), y) in out.iter_mut().zip(scratch.iter()).zip(b) {
            *o = s + y;
        }
    }
    status::OK
}

crate::declare_model!(nnc_test_sum);

// --- A model `narrow`: y: u8[3] = x: i64[3] truncated; no arena.

static SHAPE_3: [u64; 1] = [3];
static NARROW_INPUTS: [TensorDesc; 1] = [TensorDesc {
    name: c"x".as_ptr(),
    dtype: dtype::I64,
    rank: 1,
    shape: SHAPE_3.as_ptr(),
    bytes: 24,
}];
static NARROW_OUTPUTS: [TensorDesc; 1] = [TensorDesc {
    name: c"y".as_ptr(),
    dtype: dtype::U8,
    rank: 1,
    shape: SHAPE_3.as_ptr(),
    bytes: 3,
}];
static NARROW_DESC: ModelDesc = ModelDesc {
    abi_version: ABI_VERSION,
    num_inputs: 1,
    num_outputs: 1,
    reserved: 0,
    inputs: NARROW_INPUTS.as_ptr(),
    outputs: NARROW_OUTPUTS.as_ptr(),
    arena_size: 0,
    arena_align: 8,
};

unsafe extern "C" fn narrow_run(
    inputs: *const *const c_void,
    outputs: *const *mut c_void,
    _arena: *mut c_void,
) -> i32 {
    // SAFETY: the descriptor's sizes, which `Model::run` checked.
    unsafe {
        let x = core::slice::from_raw_parts(*inputs as *const i64, 3);
        let y = core::slice::from_raw_parts_mut(*outputs as *mut u8, 3);
        for (y, x) in y.iter_mut().zip(x) {
            *y = *x as u8;
        }
    }
    status::OK
}

/// An entry point the checks must keep from running: a failed check shows as
/// the check's error, a missed one as `Status(77)`.
unsafe extern "C" fn refuse(_: *const *const c_void, _: *const *mut c_void, _: *mut c_void) -> i32 {
    77
}

fn narrow() -> Model {
    // SAFETY: the descriptor matches `narrow_run`.
    unsafe { Model::new(&NARROW_DESC, narrow_run) }
}

/// `desc` with every check-relevant field copied, then edited by `edit`.
fn variant(desc: &ModelDesc, edit: impl FnOnce(&mut ModelDesc)) -> Model {
    let mut copy = ModelDesc {
        abi_version: desc.abi_version,
        num_inputs: desc.num_inputs,
        num_outputs: desc.num_outputs,
        reserved: 0,
        inputs: desc.inputs,
        outputs: desc.outputs,
        arena_size: desc.arena_size,
        arena_align: desc.arena_align,
    };
    edit(&mut copy);
    // SAFETY: test descriptors point to statics or leaked boxes.
    unsafe { Model::new(Box::leak(Box::new(copy)), refuse) }
}

#[repr(C, align(16))]
struct Aligned<const N: usize>([u8; N]);

fn f32_bytes(values: &[f32]) -> Aligned<24> {
    let mut out = Aligned([0; 24]);
    for (chunk, v) in out.0.chunks_exact_mut(4).zip(values) {
        chunk.copy_from_slice(&v.to_le_bytes());
    }
    out
}

const A: [f32; 6] = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
const B: [f32; 6] = [0.5, 0.25, -1.0, 10.0, 0.0, -6.0];
const SUM: [f32; 6] = [1.5, 2.25, 2.0, 14.0, 5.0, 0.0];

#[test]
fn describes_inputs_outputs_and_arena() {
    let model = nnc_test_sum();
    assert_eq!(model.check_abi(), Ok(()));
    assert_eq!(model.inputs().len(), 2);
    let names: Vec<&str> = model.inputs().map(|t| t.name).collect();
    assert_eq!(names, ["a", "b"]);
    let b = model.input(1).unwrap();
    assert_eq!(b.c_name, c"b");
    assert_eq!(b.dtype, DType::F32);
    assert_eq!(b.shape, &[2, 3]);
    assert_eq!(b.bytes, 24);
    assert_eq!(b.elements(), 6);
    assert_eq!(model.input(2), None);
    assert_eq!(model.inputs().next_back().unwrap().name, "b");
    let out = model.output(0).unwrap();
    assert_eq!((out.name, out.dtype), ("sum", DType::F32));
    assert_eq!(model.output(1), None);
    assert_eq!(model.arena_size(), 24);
    assert_eq!(model.arena_align(), 16);
    let narrow = narrow();
    assert_eq!(narrow.input(0).unwrap().dtype, DType::I64);
    assert_eq!(narrow.output(0).unwrap().dtype, DType::U8);
    assert_eq!(narrow.arena_size(), 0);
}

#[test]
fn null_names_and_shapes_read_as_empty() {
    let scalar: &'static [TensorDesc] = Box::leak(Box::new([TensorDesc {
        name: core::ptr::null(),
        dtype: dtype::F32,
        rank: 0,
        shape: core::ptr::null(),
        bytes: 4,
    }]));
    let model = variant(&NARROW_DESC, |d| d.inputs = scalar.as_ptr());
    let info = model.input(0).unwrap();
    assert_eq!((info.name, info.shape, info.elements()), ("", &[][..], 1));
    let none = variant(&NARROW_DESC, |d| d.outputs = core::ptr::null());
    assert_eq!(none.outputs().len(), 0);
}

#[test]
fn runs_f32() {
    let model = nnc_test_sum();
    let mut out = [0f32; 6];
    let mut arena = Aligned([0u8; 32]);
    model
        .run_f32(&[&A, &B], &mut [&mut out], &mut arena.0)
        .unwrap();
    assert_eq!(out, SUM);
}

#[test]
fn runs_bytes_with_a_larger_arena() {
    let model = nnc_test_sum();
    let (a, b) = (f32_bytes(&A), f32_bytes(&B));
    let mut out = Aligned([0u8; 24]);
    let mut arena = Aligned([0u8; 64]);
    model
        .run(&[&a.0, &b.0], &mut [&mut out.0], &mut arena.0)
        .unwrap();
    assert_eq!(out.0, f32_bytes(&SUM).0);

    let x: Vec<u8> = [257i64, -1, 7]
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect();
    let x = Aligned::<24>(x.try_into().unwrap());
    let mut y = [0u8; 3];
    narrow().run(&[&x.0], &mut [&mut y], &mut []).unwrap();
    assert_eq!(y, [1, 255, 7]);
}

#[test]
fn runs_typed_with_an_empty_arena() {
    // An empty arena's dangling address need not be aligned when none is needed.
    let model = variant(&NARROW_DESC, |d| d.outputs = NARROW_INPUTS.as_ptr());
    let mut y = [0i64; 3];
    assert_eq!(
        model.run_typed::<i64>(&[&[1, 2, 3]], &mut [&mut y], &mut []),
        Err(Error::Status(77))
    );
}

#[test]
fn refuses_another_abi_version() {
    let model = variant(&nnc_test_sum_descriptor, |d| {
        d.abi_version = ABI_VERSION + 1
    });
    let expected = Error::AbiVersion {
        expected: ABI_VERSION,
        found: ABI_VERSION + 1,
    };
    assert_eq!(model.check_abi(), Err(expected));
    let mut out = [0f32; 6];
    let mut arena = Aligned([0u8; 32]);
    let err = model.run_f32(&[&A, &B], &mut [&mut out], &mut arena.0);
    assert_eq!(err, Err(expected));
}

#[test]
fn refuses_wrong_counts() {
    let model = variant(&nnc_test_sum_descriptor, |_| {});
    let mut out = [0f32; 6];
    let mut arena = Aligned([0u8; 32]);
    assert_eq!(
        model.run_f32(&[&A], &mut [&mut out], &mut arena.0),
        Err(Error::Count {
            io: Io::Input,
            expected: 2,
            found: 1
        })
    );
    let mut out2 = [0f32; 6];
    assert_eq!(
        model.run_f32(&[&A, &B], &mut [&mut out, &mut out2], &mut arena.0),
        Err(Error::Count {
            io: Io::Output,
            expected: 1,
            found: 2
        })
    );
    assert_eq!(
        model.run_f32(&[&A, &B], &mut [], &mut arena.0),
        Err(Error::Count {
            io: Io::Output,
            expected: 1,
            found: 0
        })
    );
}

#[test]
fn refuses_more_tensors_than_the_stack_arrays_hold() {
    let many: &'static [TensorDesc] = Box::leak(
        (0..MAX_TENSORS + 1)
            .map(|_| TensorDesc {
                name: c"t".as_ptr(),
                dtype: dtype::U8,
                rank: 0,
                shape: core::ptr::null(),
                bytes: 1,
            })
            .collect::<Vec<_>>()
            .into_boxed_slice(),
    );
    let model = variant(&NARROW_DESC, |d| {
        d.inputs = many.as_ptr();
        d.num_inputs = many.len() as u32;
    });
    let byte = [0u8; 1];
    let inputs = vec![&byte[..]; MAX_TENSORS + 1];
    let mut y = [0u8; 3];
    assert_eq!(
        model.run(&inputs, &mut [&mut y], &mut []),
        Err(Error::TooManyTensors {
            io: Io::Input,
            count: MAX_TENSORS + 1,
            max: MAX_TENSORS
        })
    );
}

#[test]
fn refuses_wrong_sizes() {
    let model = variant(&nnc_test_sum_descriptor, |_| {});
    let mut out = [0f32; 6];
    let mut arena = Aligned([0u8; 32]);
    assert_eq!(
        model.run_f32(&[&A, &B[..5]], &mut [&mut out], &mut arena.0),
        Err(Error::Size {
            io: Io::Input,
            index: 1,
            name: "b",
            expected: 24,
            found: 20
        })
    );
    let mut long = [0f32; 7];
    assert_eq!(
        model.run_f32(&[&A, &B], &mut [&mut long], &mut arena.0),
        Err(Error::Size {
            io: Io::Output,
            index: 0,
            name: "sum",
            expected: 24,
            found: 28
        })
    );
}

#[test]
fn refuses_buffers_misaligned_for_their_elements() {
    let model = variant(&NARROW_DESC, |_| {});
    let x = Aligned([0u8; 32]);
    let mut y = [0u8; 3];
    assert_eq!(
        model.run(&[&x.0[1..25]], &mut [&mut y], &mut []),
        Err(Error::Misaligned {
            io: Io::Input,
            index: 0,
            name: "x",
            align: 8
        })
    );
    // u8 outputs need no alignment: the call reaches the entry point.
    let mut y = Aligned([0u8; 4]);
    assert_eq!(
        model.run(&[&x.0[8..32]], &mut [&mut y.0[1..]], &mut []),
        Err(Error::Status(77))
    );

    let sum = variant(&nnc_test_sum_descriptor, |_| {});
    let (a, b) = (f32_bytes(&A), f32_bytes(&B));
    let mut out = Aligned([0u8; 32]);
    let mut arena = Aligned([0u8; 32]);
    assert_eq!(
        sum.run(&[&a.0, &b.0], &mut [&mut out.0[2..26]], &mut arena.0),
        Err(Error::Misaligned {
            io: Io::Output,
            index: 0,
            name: "sum",
            align: 4
        })
    );
}

#[test]
fn refuses_a_small_or_misaligned_arena() {
    let model = variant(&nnc_test_sum_descriptor, |_| {});
    let mut out = [0f32; 6];
    let mut arena = Aligned([0u8; 48]);
    assert_eq!(
        model.run_f32(&[&A, &B], &mut [&mut out], &mut arena.0[..23]),
        Err(Error::ArenaTooSmall {
            needed: 24,
            found: 23
        })
    );
    assert_eq!(
        model.run_f32(&[&A, &B], &mut [&mut out], &mut arena.0[8..]),
        Err(Error::ArenaMisaligned { align: 16 })
    );
    // Exactly the size, aligned: reaches the entry point.
    assert_eq!(
        model.run_f32(&[&A, &B], &mut [&mut out], &mut arena.0[16..40]),
        Err(Error::Status(77))
    );
}

#[test]
fn refuses_unknown_and_mismatched_dtypes() {
    let odd: &'static [TensorDesc] = Box::leak(Box::new([TensorDesc {
        name: c"z".as_ptr(),
        dtype: 16, // bfloat16: not in the ABI
        rank: 1,
        shape: SHAPE_3.as_ptr(),
        bytes: 6,
    }]));
    let model = variant(&NARROW_DESC, |d| d.outputs = odd.as_ptr());
    assert_eq!(model.output(0).unwrap().dtype, DType::Unknown(16));
    let x = Aligned([0u8; 24]);
    let mut z = [0u8; 6];
    assert_eq!(
        model.run(&[&x.0], &mut [&mut z], &mut []),
        Err(Error::UnknownDType {
            io: Io::Output,
            index: 0,
            name: "z",
            code: 16
        })
    );

    let model = variant(&NARROW_DESC, |_| {});
    let mut y = [0f32; 3];
    assert_eq!(
        model.run_f32(&[&[0.0; 3]], &mut [&mut y], &mut []),
        Err(Error::DType {
            io: Io::Input,
            index: 0,
            name: "x",
            expected: DType::F32,
            found: DType::I64
        })
    );
    let mut y = [0i64; 3];
    assert_eq!(
        model.run_typed::<i64>(&[&[0; 3]], &mut [&mut y], &mut []),
        Err(Error::DType {
            io: Io::Output,
            index: 0,
            name: "y",
            expected: DType::I64,
            found: DType::U8
        })
    );
}

#[test]
fn reports_the_models_status() {
    let model = nnc_test_sum();
    let mut out = [0f32; 6];
    let mut arena = Aligned([0u8; 32]);
    let negative = [1.0, -2.0, 3.0, 4.0, 5.0, 6.0];
    let err = model
        .run_f32(&[&negative, &B], &mut [&mut out], &mut arena.0)
        .unwrap_err();
    assert_eq!(err, Error::Status(status::INDEX_OUT_OF_RANGE));
    assert!(err.to_string().contains("INDEX_OUT_OF_RANGE"), "{err}");

    let err = model
        .run_f32(&[&[42.0; 6], &B], &mut [&mut out], &mut arena.0)
        .unwrap_err();
    assert_eq!(err, Error::Status(42));
    assert_eq!(err.to_string(), "the model failed with status 42");
}

#[test]
fn names_the_known_status_codes() {
    assert_eq!(status_name(status::OK).unwrap().0, "OK");
    assert_eq!(
        status_name(status::INVALID_ARGUMENT).unwrap().0,
        "INVALID_ARGUMENT"
    );
    assert_eq!(
        status_name(status::INDEX_OUT_OF_RANGE).unwrap().0,
        "INDEX_OUT_OF_RANGE"
    );
    assert_eq!(
        status_name(status::DIVISION_BY_ZERO).unwrap().0,
        "DIVISION_BY_ZERO"
    );
    assert_eq!(status_name(99), None);
}

#[test]
fn errors_display_what_and_where() {
    let cases = [
        (
            Error::AbiVersion {
                expected: 1,
                found: 2,
            },
            "ABI version 2",
        ),
        (
            Error::Count {
                io: Io::Input,
                expected: 2,
                found: 1,
            },
            "2 inputs, 1 given",
        ),
        (
            Error::TooManyTensors {
                io: Io::Output,
                count: 70,
                max: 64,
            },
            "70 outputs",
        ),
        (
            Error::Size {
                io: Io::Input,
                index: 1,
                name: "b",
                expected: 24,
                found: 20,
            },
            "input 1 ('b') must be 24 bytes, the buffer has 20",
        ),
        (
            Error::Misaligned {
                io: Io::Output,
                index: 0,
                name: "y",
                align: 8,
            },
            "output 0 ('y') must be aligned to 8 bytes",
        ),
        (
            Error::UnknownDType {
                io: Io::Input,
                index: 0,
                name: "z",
                code: 16,
            },
            "code 16",
        ),
        (
            Error::DType {
                io: Io::Input,
                index: 0,
                name: "x",
                expected: DType::F32,
                found: DType::I64,
            },
            "input 0 ('x') is i64, the call passes f32",
        ),
        (
            Error::ArenaTooSmall {
                needed: 24,
                found: 23,
            },
            "arena of 24 bytes, the buffer has 23",
        ),
        (Error::ArenaMisaligned { align: 16 }, "aligned to 16 bytes"),
        (
            Error::Status(status::INVALID_ARGUMENT),
            "status 1 (INVALID_ARGUMENT: a null pointer among the arguments)",
        ),
    ];
    for (err, text) in cases {
        let shown = err.to_string();
        assert!(shown.contains(text), "{shown:?} lacks {text:?}");
    }
}

#[test]
fn dtype_codes_round_trip() {
    for code in 0..20 {
        let d = DType::from_code(code);
        assert_eq!(d.code(), code);
        assert_eq!(d.size().is_some(), !matches!(d, DType::Unknown(_)));
    }
    assert_eq!(DType::from_code(dtype::F16).size(), Some(2));
    assert_eq!(DType::Bool.to_string(), "bool");
    assert_eq!(DType::Unknown(16).to_string(), "unknown dtype 16");
}

#[test]
fn declared_models_and_their_statics_agree() {
    let model = nnc_test_sum();
    assert!(core::ptr::eq(
        model.descriptor(),
        &raw const nnc_test_sum_descriptor
    ));
    let name: &CStr = model.output(0).unwrap().c_name;
    assert_eq!(name.to_bytes(), b"sum");
}
