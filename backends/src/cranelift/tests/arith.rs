//! The kernel IR's arithmetic: integer and float operations, conversions, masks
//! and selects, reductions, bitcasts — on fixed edge cases and random inputs.

use nnc_ir::kernel::{
    BinaryOp, BufId, CompareOp, ElemType, Expr, KernelBuilder, Program, ReduceOp, Ty, UnaryOp,
};
use nnc_ir::{DType, f16};

use super::{bytes_of, check_program, full, io, single_kernel};

use ElemType::*;

/// Writes `f(a_i, b_i)` for each vector of `a`, `b` (both `len` elements of `elem`)
/// into `out` at `slot * len`.
fn elementwise(
    k: &mut KernelBuilder,
    (a, b, out): (BufId, BufId, BufId),
    ty: Ty,
    len: usize,
    slot: usize,
    f: impl Fn(Expr, Expr) -> Expr,
) {
    k.for_range("i", 0, len as i64, ty.lanes as i64, |k, i| {
        let x = Expr::load(a, i.clone(), ty);
        let y = Expr::load(b, i.clone(), ty);
        k.store(out, i + (slot * len) as i64, f(x, y));
    });
}

/// Integer arithmetic of every width and signedness, vector and scalar.
fn integer_program() -> Program {
    let mut k = KernelBuilder::new("ints");
    let a = k.buffer("a", I32, 8, false);
    let b = k.buffer("b", I32, 8, false);
    let c = k.buffer("c", I64, 4, false);
    let d = k.buffer("d", I64, 4, false);
    let e = k.buffer("e", U16, 8, false);
    let f = k.buffer("f", U16, 8, false);
    let g = k.buffer("g", I8, 16, false);
    let h = k.buffer("h", I8, 16, false);
    let o32 = k.buffer("o32", I32, 8 * 9, true);
    let o64 = k.buffer("o64", I64, 4 * 7, true);
    let o16 = k.buffer("o16", U16, 8 * 5, true);
    let o8 = k.buffer("o8", I8, 16 * 4, true);
    let bin = |op| move |x: Expr, y: Expr| x.binary(op, y);
    let (s32, v32) = (Ty::scalar(I32), full(I32));
    elementwise(&mut k, (a, b, o32), v32, 8, 0, bin(BinaryOp::Div));
    elementwise(&mut k, (a, b, o32), v32, 8, 1, bin(BinaryOp::Rem));
    elementwise(&mut k, (a, b, o32), v32, 8, 2, bin(BinaryOp::Shl));
    elementwise(&mut k, (a, b, o32), v32, 8, 3, bin(BinaryOp::Shr));
    elementwise(&mut k, (a, b, o32), v32, 8, 4, bin(BinaryOp::Min));
    elementwise(&mut k, (a, b, o32), v32, 8, 5, bin(BinaryOp::Max));
    elementwise(&mut k, (a, b, o32), s32, 8, 6, bin(BinaryOp::Div));
    elementwise(&mut k, (a, b, o32), v32, 8, 7, |x, y| {
        (x * y).unary(UnaryOp::Abs)
    });
    elementwise(&mut k, (a, b, o32), v32, 8, 8, |x, y| {
        (x.binary(BinaryOp::Xor, y.clone()) - y).unary(UnaryOp::Not)
    });
    let (s64, v64) = (Ty::scalar(I64), full(I64));
    elementwise(&mut k, (c, d, o64), s64, 4, 0, bin(BinaryOp::Div));
    elementwise(&mut k, (c, d, o64), s64, 4, 1, bin(BinaryOp::Rem));
    elementwise(&mut k, (c, d, o64), v64, 4, 2, bin(BinaryOp::Mul));
    elementwise(&mut k, (c, d, o64), v64, 4, 3, bin(BinaryOp::Min));
    elementwise(&mut k, (c, d, o64), v64, 4, 4, bin(BinaryOp::Max));
    elementwise(&mut k, (c, d, o64), v64, 4, 5, |x, _| x.unary(UnaryOp::Abs));
    elementwise(&mut k, (c, d, o64), v64, 4, 6, bin(BinaryOp::Div));
    let v16 = full(U16);
    elementwise(&mut k, (e, f, o16), v16, 8, 0, bin(BinaryOp::Div));
    elementwise(&mut k, (e, f, o16), v16, 8, 1, bin(BinaryOp::Rem));
    elementwise(&mut k, (e, f, o16), v16, 8, 2, bin(BinaryOp::Max));
    elementwise(&mut k, (e, f, o16), v16, 8, 3, bin(BinaryOp::Shr));
    elementwise(
        &mut k,
        (e, f, o16),
        Ty::scalar(U16),
        8,
        4,
        bin(BinaryOp::Rem),
    );
    let v8 = full(I8);
    elementwise(&mut k, (g, h, o8), v8, 16, 0, bin(BinaryOp::Div));
    elementwise(&mut k, (g, h, o8), v8, 16, 1, bin(BinaryOp::Add));
    elementwise(&mut k, (g, h, o8), v8, 16, 2, bin(BinaryOp::Min));
    elementwise(&mut k, (g, h, o8), Ty::scalar(I8), 16, 3, |x, y| {
        x.binary(BinaryOp::Rem, y) * Expr::int(3, I8)
    });
    let kernel = k.finish();
    single_kernel(
        "ints",
        vec![
            io("a", DType::I32, &[8]),
            io("b", DType::I32, &[8]),
            io("c", DType::I64, &[4]),
            io("d", DType::I64, &[4]),
            io("e", DType::U16, &[8]),
            io("f", DType::U16, &[8]),
            io("g", DType::I8, &[16]),
            io("h", DType::I8, &[16]),
        ],
        vec![
            io("o32", DType::I32, &[9, 8]),
            io("o64", DType::I64, &[7, 4]),
            io("o16", DType::U16, &[5, 8]),
            io("o8", DType::I8, &[4, 16]),
        ],
        kernel,
    )
}

#[test]
fn integer_arithmetic() {
    let program = integer_program();
    let inputs = [
        bytes_of(&[i32::MIN, 7, -7, 100, i32::MAX, -1, 0, 65536]),
        bytes_of(&[-2i32, 2, -1, 33, 3, 1, -5, 31]),
        bytes_of(&[i64::MIN + 1, -9, 1 << 40, 12345]),
        bytes_of(&[7i64, -4, 3, -1]),
        bytes_of(&[65535u16, 7, 100, 0, 9, 40000, 1, 2]),
        bytes_of(&[2u16, 3, 100, 5, 17, 3, 65535, 20]),
        bytes_of(&[
            -128i8, 127, -7, 7, 0, 1, -1, 50, 100, -100, 3, 9, 11, -11, 64, -64,
        ]),
        bytes_of(&[3i8, -3, 2, -2, 5, 1, 1, -7, 9, 9, -1, 2, 4, 4, 127, -128]),
    ];
    check_program(&program, &inputs);
}

/// Conversions between every kind of element type, vector and scalar.
fn conversions_program() -> Program {
    let mut k = KernelBuilder::new("conversions");
    let f = k.buffer("f", F32, 8, false);
    let i = k.buffer("i", I32, 8, false);
    let d = k.buffer("d", F64, 4, false);
    let u = k.buffer("u", U8, 8, false);
    let q = k.buffer("q", U64, 4, false);
    let of32 = k.buffer("of32", F32, 8 * 4, true);
    let oi32 = k.buffer("oi32", I32, 8 * 4, true);
    let ou32 = k.buffer("ou32", U32, 8, true);
    let ou8 = k.buffer("ou8", U8, 8 * 2, true);
    let oi8 = k.buffer("oi8", I8, 8, true);
    let oi16 = k.buffer("oi16", I16, 8 * 2, true);
    let of64 = k.buffer("of64", F64, 8 * 3, true);
    let oi64 = k.buffer("oi64", I64, 8 * 3 + 4, true);
    let ob = k.buffer("ob", Bool, 8 * 2, true);
    let ou64 = k.buffer("ou64", U64, 4, true);
    let (vf, vi) = (full(F32), full(I32));
    let (sf, si) = (Ty::scalar(F32), Ty::scalar(I32));
    k.for_range("v", 0, 8, 4, |k, n| {
        let x = Expr::load(f, n.clone(), vf);
        let y = Expr::load(i, n.clone(), vi);
        k.store(oi32, n.clone(), x.clone().convert(I32));
        k.store(ou32, n.clone(), x.convert(U32));
        k.store(of32, n.clone(), y.clone().convert(F32));
        k.store(of32, n.clone() + 8, y.clone().bitcast(U32).convert(F32));
        k.store(oi32, n.clone() + 8, y.clone().bitcast(U32).convert(I32));
    });
    k.for_range("s", 0, 8, 1, |k, n| {
        let x = Expr::load(f, n.clone(), sf);
        let y = Expr::load(i, n.clone(), si);
        k.store(ou8, n.clone(), x.clone().convert(U8));
        k.store(oi8, n.clone(), x.clone().convert(I8));
        k.store(oi16, n.clone(), x.clone().convert(I16));
        k.store(of64, n.clone(), x.clone().convert(F64));
        k.store(oi64, n.clone(), x.clone().convert(I64));
        k.store(ob, n.clone(), x.clone().convert(Bool));
        k.store(oi16, n.clone() + 8, y.clone().convert(I16));
        k.store(ou8, n.clone() + 8, y.clone().convert(U8));
        k.store(oi64, n.clone() + 8, y.clone().convert(I64));
        k.store(oi64, n.clone() + 16, y.clone().bitcast(U32).convert(I64));
        k.store(of64, n.clone() + 8, y.clone().convert(F64));
        k.store(ob, n.clone() + 8, y.clone().convert(Bool));
        k.store(oi32, n.clone() + 16, y.clone().convert(Bool).convert(I32));
        let b = Expr::load(u, n.clone(), Ty::scalar(U8));
        k.store(of32, n.clone() + 16, b.clone().convert(F32));
        k.store(oi32, n.clone() + 24, b.convert(I32));
        k.store(of32, n.clone() + 24, x.convert(Bool).convert(F32));
    });
    k.for_range("d", 0, 4, 2, |k, n| {
        let x = Expr::load(d, n.clone(), full(F64));
        // f64x2 -> i64x2 has no direct lowering everywhere: lane by lane.
        k.store(
            oi64,
            n.clone() + 24,
            x.clone().convert(I64).convert(F64).convert(I64),
        );
    });
    k.for_range("e", 0, 4, 1, |k, n| {
        let x = Expr::load(d, n.clone(), Ty::scalar(F64));
        k.store(of64, n.clone() + 16, x.clone().convert(F32).convert(F64));
        k.store(
            of64,
            n.clone() + 20,
            Expr::load(q, n.clone(), Ty::scalar(U64)).convert(F64),
        );
        k.store(ou64, n.clone(), x.convert(U64));
    });
    let kernel = k.finish();
    single_kernel(
        "conversions",
        vec![
            io("f", DType::F32, &[8]),
            io("i", DType::I32, &[8]),
            io("d", DType::F64, &[4]),
            io("u", DType::U8, &[8]),
            io("q", DType::U64, &[4]),
        ],
        vec![
            io("of32", DType::F32, &[32]),
            io("oi32", DType::I32, &[32]),
            io("ou32", DType::U32, &[8]),
            io("ou8", DType::U8, &[16]),
            io("oi8", DType::I8, &[8]),
            io("oi16", DType::I16, &[16]),
            io("of64", DType::F64, &[24]),
            io("oi64", DType::I64, &[28]),
            io("ob", DType::Bool, &[16]),
            io("ou64", DType::U64, &[4]),
        ],
        kernel,
    )
}

#[test]
fn conversions() {
    let program = conversions_program();
    let inputs = [
        bytes_of(&[
            1.5f32,
            -2.7,
            300.9,
            -300.2,
            f32::NAN,
            f32::INFINITY,
            f32::NEG_INFINITY,
            3e9,
        ]),
        bytes_of(&[-1i32, 0, 1, i32::MIN, i32::MAX, 70000, -70000, 255]),
        bytes_of(&[1e300f64, -2.5, 3.75, f64::NAN]),
        bytes_of(&[0u8, 1, 127, 128, 200, 255, 7, 9]),
        bytes_of(&[u64::MAX, 1 << 63, 12345, 0]),
    ];
    check_program(&program, &inputs);
}

/// The integer and conversion programs on random inputs (random bit patterns, so
/// NaNs, infinities and out-of-range floats included), against the interpreter.
#[test]
fn random_inputs_match_the_interpreter() {
    use rand::{Rng, SeedableRng, rngs::StdRng};
    let mut rng = StdRng::seed_from_u64(0x6e6e63);
    for _ in 0..3 {
        // Divisors are non-zero and `MIN / -1` is avoided: both are errors of the
        // interpreter (kernels rule them out).
        let a: Vec<i32> = (0..8).map(|_| rng.random()).collect();
        let b: Vec<i32> = a
            .iter()
            .map(|&x| match rng.random::<i32>() >> rng.random_range(0..31) {
                0 => 1,
                -1 if x == i32::MIN => 2,
                d => d,
            })
            .collect();
        let c: Vec<i64> = (0..4).map(|_| rng.random()).collect();
        let d: Vec<i64> = c
            .iter()
            .map(|&x| match rng.random::<i64>() >> rng.random_range(0..63) {
                0 => 3,
                -1 if x == i64::MIN => 5,
                d => d,
            })
            .collect();
        let e: Vec<u16> = (0..8).map(|_| rng.random()).collect();
        let f: Vec<u16> = (0..8).map(|_| rng.random::<u16>().max(1)).collect();
        let g: Vec<i8> = (0..16).map(|_| rng.random()).collect();
        let h: Vec<i8> = g
            .iter()
            .map(|&x| match rng.random::<i8>() {
                0 => 7,
                -1 if x == i8::MIN => 3,
                d => d,
            })
            .collect();
        let inputs = [
            bytes_of(&a),
            bytes_of(&b),
            bytes_of(&c),
            bytes_of(&d),
            bytes_of(&e),
            bytes_of(&f),
            bytes_of(&g),
            bytes_of(&h),
        ];
        check_program(&integer_program(), &inputs);

        let floats: Vec<f32> = (0..8)
            .map(|k| match k % 2 {
                0 => f32::from_bits(rng.random()),
                _ => rng.random_range(-1e10f32..1e10),
            })
            .collect();
        let doubles: Vec<f64> = (0..4)
            .map(|k| match k % 2 {
                0 => f64::from_bits(rng.random()),
                _ => rng.random_range(-1e20f64..1e20),
            })
            .collect();
        let inputs = [
            bytes_of(&floats),
            bytes_of(&(0..8).map(|_| rng.random()).collect::<Vec<i32>>()),
            bytes_of(&doubles),
            (0..8).map(|_| rng.random()).collect(),
            bytes_of(&(0..4).map(|_| rng.random()).collect::<Vec<u64>>()),
        ];
        check_program(&conversions_program(), &inputs);
    }
}

#[test]
fn selects_with_vector_masks() {
    let mut k = KernelBuilder::new("selects");
    let a = k.buffer("a", F32, 8, false);
    let b = k.buffer("b", F32, 8, false);
    let ia = k.buffer("ia", I32, 8, false);
    let ib = k.buffer("ib", I32, 8, false);
    let l = k.buffer("l", I64, 4, false);
    let m = k.buffer("m", I64, 4, false);
    let dd = k.buffer("dd", F64, 4, false);
    let bytes = k.buffer("bytes", U8, 16, false);
    let flags = k.buffer("flags", Bool, 8, false);
    let of = k.buffer("of", F32, 8 * 4, true);
    let oi = k.buffer("oi", I32, 8, true);
    let od = k.buffer("od", F64, 4, true);
    let ou = k.buffer("ou", U8, 16, true);
    let ob = k.buffer("ob", Bool, 8 * 2, true);
    let (vf, vi) = (full(F32), full(I32));
    k.for_range("i", 0, 8, 4, |k, i| {
        let (x, y) = (Expr::load(a, i.clone(), vf), Expr::load(b, i.clone(), vf));
        let (p, q) = (Expr::load(ia, i.clone(), vi), Expr::load(ib, i.clone(), vi));
        let gt = x.clone().compare(CompareOp::Gt, y.clone());
        k.store(of, i.clone(), gt.clone().select(x.clone(), y.clone()));
        k.store(
            oi,
            i.clone(),
            x.clone().lt(y.clone()).select(p.clone(), q.clone()),
        );
        let mask = p.clone().ge(q.clone()).binary(
            BinaryOp::And,
            x.clone()
                .compare(CompareOp::Eq, y.clone())
                .unary(UnaryOp::Not),
        );
        k.store(of, i.clone() + 8, mask.select(x.clone(), y.clone()));
        let either = gt
            .binary(BinaryOp::Or, p.clone().compare(CompareOp::Ne, q.clone()))
            .binary(BinaryOp::Xor, x.clone().compare(CompareOp::Le, y.clone()));
        k.store(of, i.clone() + 16, either.select(y.clone(), x.clone()));
        // The mask of an integer comparison selecting floats.
        k.store(of, i + 24, p.lt(q).select(x, y));
    });
    k.for_range("j", 0, 4, 2, |k, j| {
        let (x, y) = (
            Expr::load(l, j.clone(), full(I64)),
            Expr::load(m, j.clone(), full(I64)),
        );
        let z = Expr::load(dd, j.clone(), full(F64));
        k.store(od, j, x.lt(y).select(z, Expr::f64(-1.0).splat(2)));
    });
    k.for_range("k", 0, 16, 16, |k, n| {
        let x = Expr::load(bytes, n.clone(), full(U8));
        let y = Expr::int(128, U8).splat(16);
        k.store(
            ou,
            n,
            x.clone().compare(CompareOp::Gt, y.clone()).select(x, y),
        );
    });
    k.for_range("s", 0, 8, 1, |k, n| {
        let flag = Expr::load(flags, n.clone(), Ty::BOOL);
        let x = Expr::load(a, n.clone(), Ty::F32);
        let y = Expr::load(b, n.clone(), Ty::F32);
        let gt = x.compare(CompareOp::Gt, y);
        k.store(ob, n.clone(), flag.clone().binary(BinaryOp::Xor, gt));
        k.store(ob, n.clone() + 8, flag.unary(UnaryOp::Not));
    });
    let kernel = k.finish();
    let program = single_kernel(
        "selects",
        vec![
            io("a", DType::F32, &[8]),
            io("b", DType::F32, &[8]),
            io("ia", DType::I32, &[8]),
            io("ib", DType::I32, &[8]),
            io("l", DType::I64, &[4]),
            io("m", DType::I64, &[4]),
            io("dd", DType::F64, &[4]),
            io("bytes", DType::U8, &[16]),
            io("flags", DType::Bool, &[8]),
        ],
        vec![
            io("of", DType::F32, &[32]),
            io("oi", DType::I32, &[8]),
            io("od", DType::F64, &[4]),
            io("ou", DType::U8, &[16]),
            io("ob", DType::Bool, &[16]),
        ],
        kernel,
    );
    let flags: Vec<u8> = vec![0, 1, 7, 0, 255, 0, 1, 1];
    let inputs = [
        bytes_of(&[1.0f32, 5.0, -3.0, f32::NAN, 2.0, 2.0, -0.0, 9.0]),
        bytes_of(&[2.0f32, 4.0, -3.0, 1.0, f32::NAN, 2.0, 0.0, -9.0]),
        bytes_of(&[1i32, -5, 3, 3, i32::MIN, 0, 7, -7]),
        bytes_of(&[1i32, 5, -3, 4, i32::MAX, 0, 6, -6]),
        bytes_of(&[-1i64, 5, i64::MIN, 0]),
        bytes_of(&[0i64, 5, i64::MAX, -1]),
        bytes_of(&[1.5f64, 2.5, 3.5, 4.5]),
        (0..16).map(|i| (i * 17) as u8).collect(),
        flags,
    ];
    check_program(&program, &inputs);
}

#[test]
fn reductions_splats_and_extracts() {
    let mut k = KernelBuilder::new("reduce");
    let a = k.buffer("a", F32, 8, false);
    let w = k.buffer("w", U8, 16, false);
    let iv = k.buffer("iv", I32, 8, false);
    let l = k.buffer("l", F64, 4, false);
    let of = k.buffer("of", F32, 8, true);
    let oi = k.buffer("oi", I32, 4, true);
    let ou = k.buffer("ou", U8, 2, true);
    let od = k.buffer("od", F64, 2, true);
    let (lo, hi) = (
        Expr::load(a, Expr::index(0), full(F32)),
        Expr::load(a, Expr::index(4), full(F32)),
    );
    k.store(of, Expr::index(0), lo.clone().reduce(ReduceOp::Add));
    k.store(of, Expr::index(1), lo.clone().reduce(ReduceOp::Max));
    k.store(of, Expr::index(2), hi.clone().reduce(ReduceOp::Min));
    k.store(of, Expr::index(3), hi.clone().reduce(ReduceOp::Add));
    // Lanes moved around: extract, splat, store a vector.
    let s = lo.extract(3) + hi.clone().extract(1);
    k.store(of, Expr::index(4), s.splat(4) * hi);
    let (x, y) = (
        Expr::load(iv, Expr::index(0), full(I32)),
        Expr::load(iv, Expr::index(4), full(I32)),
    );
    k.store(oi, Expr::index(0), x.clone().reduce(ReduceOp::Max));
    k.store(oi, Expr::index(1), y.clone().reduce(ReduceOp::Add));
    k.store(oi, Expr::index(2), y.reduce(ReduceOp::Min));
    k.store(oi, Expr::index(3), x.extract(2));
    let bytes = Expr::load(w, Expr::index(0), full(U8));
    k.store(ou, Expr::index(0), bytes.clone().reduce(ReduceOp::Add));
    k.store(ou, Expr::index(1), bytes.reduce(ReduceOp::Max));
    let (p, q) = (
        Expr::load(l, Expr::index(0), full(F64)),
        Expr::load(l, Expr::index(2), full(F64)),
    );
    k.store(od, Expr::index(0), p.reduce(ReduceOp::Add));
    k.store(od, Expr::index(1), q.reduce(ReduceOp::Max));
    let program = single_kernel(
        "reduce",
        vec![
            io("a", DType::F32, &[8]),
            io("w", DType::U8, &[16]),
            io("iv", DType::I32, &[8]),
            io("l", DType::F64, &[4]),
        ],
        vec![
            io("of", DType::F32, &[8]),
            io("oi", DType::I32, &[4]),
            io("ou", DType::U8, &[2]),
            io("od", DType::F64, &[2]),
        ],
        k.finish(),
    );
    let inputs = [
        bytes_of(&[1e8f32, 1.0, -1e8, 1.0, 3.0, -0.0, 0.0, 2.5]),
        (0..16).map(|i| (i * 31) as u8).collect(),
        bytes_of(&[-5i32, 9, 2, -100, i32::MAX, 1, -3, 8]),
        bytes_of(&[0.1f64, 0.2, f64::NAN, 1.0]),
    ];
    check_program(&program, &inputs);
}

/// Vectors built lane by lane from strided scalars, of every lane count.
#[test]
fn vectors_from_strided_lanes() {
    let mut k = KernelBuilder::new("lanes");
    let a = k.buffer("a", F32, 16, false);
    let b = k.buffer("b", I16, 32, false);
    let c = k.buffer("c", F64, 4, false);
    let of = k.buffer("of", F32, 8, true);
    let oi = k.buffer("oi", I16, 8, true);
    let od = k.buffer("od", F64, 2, true);
    let gather = |buf, start: i64, stride: i64, n: i64, ty| {
        Expr::lanes(
            (0..n)
                .map(|l| Expr::load(buf, Expr::index(start + l * stride), Ty::scalar(ty)))
                .collect(),
        )
    };
    k.for_range("j", 0, 2, 1, |k, j| {
        // Every other element from j, and every fourth: a stride-2 / stride-4 input.
        let start = Expr::load(a, j.clone(), Ty::scalar(F32));
        let v = Expr::lanes(vec![
            start,
            Expr::load(a, j.clone() + 2, Ty::scalar(F32)),
            Expr::load(a, j.clone() + 4, Ty::scalar(F32)),
            Expr::load(a, j.clone() + 6, Ty::scalar(F32)),
        ]);
        k.store(of, j * 4, v + gather(a, 3, 4, 4, F32));
    });
    k.store(oi, Expr::index(0), gather(b, 1, 3, 8, I16));
    k.store(od, Expr::index(0), gather(c, 3, -2, 2, F64));
    let program = single_kernel(
        "lanes",
        vec![
            io("a", DType::F32, &[16]),
            io("b", DType::I16, &[32]),
            io("c", DType::F64, &[4]),
        ],
        vec![
            io("of", DType::F32, &[8]),
            io("oi", DType::I16, &[8]),
            io("od", DType::F64, &[2]),
        ],
        k.finish(),
    );
    let inputs = [
        bytes_of(&(0..16).map(|i| i as f32 * 1.5 - 4.0).collect::<Vec<_>>()),
        bytes_of(&(0..32).map(|i| (i * 977 - 9000) as i16).collect::<Vec<_>>()),
        bytes_of(&[0.25f64, -1.0, 3.5, f64::INFINITY]),
    ];
    check_program(&program, &inputs);
}

/// Vectors made of lanes of one or two vectors (`cranelift::lane_picks`: one
/// `shuffle`): the even and odd lanes of a row read as two vectors, lanes
/// reversed, repeated, of other lane types; and of three vectors (lane by lane).
#[test]
fn lanes_picked_from_two_vectors() {
    let mut k = KernelBuilder::new("picks");
    let a = k.buffer("a", F32, 12, false);
    let b = k.buffer("b", I16, 16, false);
    let of = k.buffer("of", F32, 20, true);
    let oi = k.buffer("oi", I16, 8, true);
    let f4 = Ty::vector(F32, 4);
    let v: Vec<_> = (0..3)
        .map(|i| k.let_var("v", f4, Expr::load(a, Expr::index(4 * i), f4)))
        .collect();
    let picks = |lanes: &[(usize, u8)]| {
        Expr::lanes(
            lanes
                .iter()
                .map(|&(s, l)| Expr::var(v[s]).extract(l))
                .collect(),
        )
    };
    k.store(of, Expr::index(0), picks(&[(0, 0), (0, 2), (1, 0), (1, 2)]));
    k.store(of, Expr::index(4), picks(&[(0, 1), (0, 3), (1, 1), (1, 3)]));
    k.store(of, Expr::index(8), picks(&[(1, 3), (1, 2), (1, 1), (1, 0)]));
    k.store(
        of,
        Expr::index(12),
        picks(&[(2, 1), (0, 1), (2, 1), (0, 3)]),
    );
    k.store(
        of,
        Expr::index(16),
        picks(&[(0, 0), (1, 1), (2, 2), (0, 3)]),
    );
    let i8 = Ty::vector(I16, 8);
    let (x, y) = (
        Expr::load(b, Expr::index(0), i8),
        Expr::load(b, Expr::index(8), i8),
    );
    let evens = (0..8u8)
        .map(|l| if l < 4 { x.clone() } else { y.clone() }.extract(2 * (l % 4)))
        .collect();
    k.store(oi, Expr::index(0), Expr::lanes(evens));
    let program = single_kernel(
        "picks",
        vec![io("a", DType::F32, &[12]), io("b", DType::I16, &[16])],
        vec![io("of", DType::F32, &[20]), io("oi", DType::I16, &[8])],
        k.finish(),
    );
    let inputs = [
        bytes_of(&(0..12).map(|i| i as f32 * 1.25 - 3.0).collect::<Vec<_>>()),
        bytes_of(&(0..16).map(|i| (i * 311 - 2000) as i16).collect::<Vec<_>>()),
    ];
    check_program(&program, &inputs);
}

#[test]
fn float_math_bitcasts_and_f16_bits() {
    let mut k = KernelBuilder::new("floats");
    let a = k.buffer("a", F32, 8, false);
    let h = k.buffer("h", F16, 8, false);
    let d = k.buffer("d", F64, 4, false);
    let of = k.buffer("of", F32, 8 * 10, true);
    let oh = k.buffer("oh", F16, 8, true);
    let od = k.buffer("od", F64, 4 * 3, true);
    let unary = [
        UnaryOp::Floor,
        UnaryOp::Ceil,
        UnaryOp::Round,
        UnaryOp::Trunc,
        UnaryOp::Neg,
        UnaryOp::Abs,
    ];
    k.for_range("i", 0, 8, 4, |k, i| {
        let x = Expr::load(a, i.clone(), full(F32));
        for (slot, op) in unary.into_iter().enumerate() {
            k.store(of, i.clone() + 8 * slot as i64, x.clone().unary(op));
        }
        k.store(
            of,
            i.clone() + 48,
            x.clone().unary(UnaryOp::Abs).unary(UnaryOp::Sqrt),
        );
        k.store(
            of,
            i.clone() + 56,
            x.clone().fma(x.clone(), Expr::f32(1.0).splat(4)),
        );
        // |x| through the bits.
        let bits = x
            .clone()
            .bitcast(I32)
            .binary(BinaryOp::And, Expr::int(0x7fff_ffff, I32).splat(4));
        k.store(of, i.clone() + 64, bits.bitcast(F32));
        let m = x.clone().min(Expr::f32(0.0).splat(4)) / Expr::f32(3.0).splat(4);
        k.store(of, i + 72, m - x);
    });
    // f16 bits pass through as u16, with the sign flipped.
    let hb = Expr::load(h, Expr::index(0), full(U16));
    k.store(
        oh,
        Expr::index(0),
        hb.binary(BinaryOp::Xor, Expr::int(0x8000, U16).splat(8)),
    );
    k.for_range("j", 0, 4, 1, |k, j| {
        let x = Expr::load(d, j.clone(), Ty::scalar(F64));
        k.store(od, j.clone(), x.clone().unary(UnaryOp::Round));
        k.store(
            od,
            j.clone() + 4,
            x.clone().fma(Expr::f64(2.0), Expr::f64(0.5)),
        );
        let bits = x.bitcast(U64).binary(BinaryOp::Shr, Expr::int(52, U64));
        k.store(od, j + 8, bits.convert(F64));
    });
    let program = single_kernel(
        "floats",
        vec![
            io("a", DType::F32, &[8]),
            io("h", DType::F16, &[8]),
            io("d", DType::F64, &[4]),
        ],
        vec![
            io("of", DType::F32, &[80]),
            io("oh", DType::F16, &[8]),
            io("od", DType::F64, &[12]),
        ],
        k.finish(),
    );
    let halves: Vec<f16> = [1.0f32, -2.0, 0.5, 65504.0, 0.0, -0.0, 3.25, 1e-3]
        .iter()
        .map(|&x| f16::from_f32(x))
        .collect();
    let inputs = [
        bytes_of(&[2.5f32, -2.5, 0.5, 1.5, -0.0, f32::NAN, 9.0, -3.7]),
        bytes_of(&halves),
        bytes_of(&[2.5f64, -3.5, 1e300, -0.1]),
    ];
    check_program(&program, &inputs);
}

/// Vector shifts by one amount for every lane (a splat: a constant, or a value
/// loaded at run time), which take CLIF's scalar-amount form: every lane width
/// and signedness, amounts past the width and negative ones (taken modulo the
/// width, as the lane-by-lane form does).
fn uniform_shifts_program() -> Program {
    let mut k = KernelBuilder::new("uniform_shifts");
    let cases = [
        (I32, 8),
        (U32, 8),
        (I64, 4),
        (U64, 4),
        (I16, 8),
        (U16, 8),
        (I8, 16),
        (U8, 16),
    ];
    // -1 is in range of the signed types only; the unsigned ones take 127.
    let amounts = [0i64, 1, 3, 7, 23, 31, 33, 63, 64, -1];
    let xs: Vec<BufId> = cases
        .iter()
        .enumerate()
        .map(|(c, &(elem, len))| k.buffer(format!("x{c}"), elem, len, false))
        .collect();
    let s = k.buffer("s", I64, 1, false);
    let outs: Vec<BufId> = cases
        .iter()
        .enumerate()
        .map(|(c, &(elem, len))| {
            k.buffer(format!("y{c}"), elem, len * (2 * amounts.len() + 2), true)
        })
        .collect();
    for (c, &(elem, len)) in cases.iter().enumerate() {
        let ty = full(elem);
        let mut slot = 0;
        let mut emit = |k: &mut KernelBuilder, f: &dyn Fn(Expr) -> Expr| {
            k.for_range("i", 0, len as i64, ty.lanes as i64, |k, i| {
                let x = Expr::load(xs[c], i.clone(), ty);
                k.store(outs[c], i + (slot * len) as i64, f(x));
            });
            slot += 1;
        };
        for &n in &amounts {
            let n = if n < 0 && !elem.is_signed() { 127 } else { n };
            let amount = Expr::int(n, elem).splat(ty.lanes);
            emit(&mut k, &|x| x.binary(BinaryOp::Shl, amount.clone()));
            emit(&mut k, &|x| x.binary(BinaryOp::Shr, amount.clone()));
        }
        let loaded = Expr::load(s, Expr::index(0), Ty::scalar(I64))
            .convert(elem)
            .splat(ty.lanes);
        emit(&mut k, &|x| x.binary(BinaryOp::Shl, loaded.clone()));
        emit(&mut k, &|x| x.binary(BinaryOp::Shr, loaded.clone()));
    }
    let kernel = k.finish();
    let mut inputs: Vec<_> = cases
        .iter()
        .enumerate()
        .map(|(c, &(elem, len))| io(&format!("x{c}"), DType::from(elem), &[len]))
        .collect();
    inputs.push(io("s", DType::I64, &[1]));
    let outputs = cases
        .iter()
        .enumerate()
        .map(|(c, &(elem, len))| {
            io(
                &format!("y{c}"),
                DType::from(elem),
                &[2 * amounts.len() + 2, len],
            )
        })
        .collect();
    single_kernel("uniform_shifts", inputs, outputs, kernel)
}

#[test]
fn uniform_vector_shifts() {
    let program = uniform_shifts_program();
    let inputs = [
        bytes_of(&[i32::MIN, 7, -7, 100, i32::MAX, -1, 0, 65536]),
        bytes_of(&[u32::MAX, 7, 1 << 31, 100, 3, 0x8000_0001, 0, 65536]),
        bytes_of(&[i64::MIN, -9, 1 << 40, i64::MAX]),
        bytes_of(&[u64::MAX, 9, 1 << 63, 12345]),
        bytes_of(&[i16::MIN, 7, -7, 100, i16::MAX, -1, 0, 256]),
        bytes_of(&[65535u16, 7, 100, 0, 9, 40000, 1, 2]),
        bytes_of(&[
            -128i8, 127, -7, 7, 0, 1, -1, 50, 100, -100, 3, 9, 11, -11, 64, -64,
        ]),
        bytes_of(&[
            255u8, 127, 128, 7, 0, 1, 200, 50, 100, 3, 9, 11, 64, 192, 17, 254,
        ]),
        bytes_of(&[37i64]),
    ];
    check_program(&program, &inputs);
}
