//! Reading and writing buffer elements in the type a kernel computes in.
//!
//! Float kernels compute f16 and f32 in f32 and f64 in f64, as the reference
//! evaluator does. An f16 buffer is accessed as its raw `U16` bits, so reading one
//! widens the bits to f32 and writing one rounds an f32 to nearest-even bits, with
//! integer operations only (the kernel IR never converts `F16`).

use nnc_ir::kernel::{BinaryOp, BufId, CompareOp, ElemType, Expr, KernelBuilder, Ty};

/// The element type a kernel computes values of `elem` in: F32 for F16.
pub(super) fn compute_elem(elem: ElemType) -> ElemType {
    match elem {
        ElemType::F16 => ElemType::F32,
        other => other,
    }
}

/// The type of a load or store of `lanes` elements of a buffer of `elem`: f16 as
/// its bits.
pub(super) fn access_ty(elem: ElemType, lanes: u8) -> Ty {
    match elem {
        ElemType::F16 => Ty::vector(ElemType::U16, lanes),
        other => Ty::vector(other, lanes),
    }
}

/// Lanes of a 16-byte vector of `elem` as it is accessed, or 1 for bools (which
/// are only ever scalars).
pub(super) fn copy_lanes(elem: ElemType, vector_bytes: usize) -> u8 {
    match elem {
        ElemType::Bool => 1,
        other => (vector_bytes / other.size()).clamp(1, 16) as u8,
    }
}

/// Element `index` of `buf` (of `elem`) in its compute type. F16 is read as a
/// scalar; other types as `lanes` consecutive elements.
pub(super) fn load_value(
    k: &mut KernelBuilder,
    buf: BufId,
    elem: ElemType,
    index: Expr,
    lanes: u8,
) -> Expr {
    if elem == ElemType::F16 {
        assert_eq!(lanes, 1, "f16 values are converted one at a time");
        let bits = Expr::load(buf, index, Ty::scalar(ElemType::U16));
        return f16_bits_to_f32(k, bits);
    }
    Expr::load(buf, index, Ty::vector(elem, lanes))
}

/// Stores `value` (in the compute type of `elem`) at `index` of `buf`.
pub(super) fn store_value(
    k: &mut KernelBuilder,
    buf: BufId,
    elem: ElemType,
    index: Expr,
    value: Expr,
) {
    if elem == ElemType::F16 {
        let bits = f32_to_f16_bits(k, value);
        k.store(buf, index, bits);
    } else {
        k.store(buf, index, value);
    }
}

/// The value `v` (a float constant) as a constant of `elem`'s compute type, or of
/// the integer `elem` (Rust `as` semantics, as the reference's `from_f64`).
pub(super) fn constant(v: f64, elem: ElemType) -> Expr {
    match compute_elem(elem) {
        ElemType::F32 => Expr::f32(v as f32),
        ElemType::F64 => Expr::f64(v),
        ElemType::Bool => Expr::int((v != 0.0) as i64, ElemType::Bool),
        int => Expr::int(int_from_f64(v, int), int),
    }
}

/// `v as T` for the integer type `elem`, as an i64 holding the same bits.
fn int_from_f64(v: f64, elem: ElemType) -> i64 {
    match elem {
        ElemType::I8 => v as i8 as i64,
        ElemType::U8 => v as u8 as i64,
        ElemType::I16 => v as i16 as i64,
        ElemType::U16 => v as u16 as i64,
        ElemType::I32 => v as i32 as i64,
        ElemType::U32 => v as u32 as i64,
        ElemType::U64 => v as u64 as i64,
        _ => v as i64,
    }
}

fn u32c(v: u32) -> Expr {
    Expr::int(v as i64, ElemType::U32)
}

/// f16 bits (a scalar `U16`) as the f32 of the same value: the magnitude bits
/// shifted into f32 position and scaled by 2^112 rebias normals and subnormals
/// alike (a multiply by a power of two is exact); infinities and NaNs keep an
/// all-ones exponent.
pub(super) fn f16_bits_to_f32(k: &mut KernelBuilder, bits: Expr) -> Expr {
    let h = k.let_var("h", Ty::scalar(ElemType::U32), bits.convert(ElemType::U32));
    let h = Expr::var(h);
    let magnitude = h
        .clone()
        .binary(BinaryOp::And, u32c(0x7fff))
        .binary(BinaryOp::Shl, u32c(13));
    let scaled = magnitude
        .clone()
        .bitcast(ElemType::F32)
        .binary(BinaryOp::Mul, Expr::f32(f32::from_bits((112 + 127) << 23)))
        .bitcast(ElemType::U32);
    let special = magnitude.binary(BinaryOp::Or, u32c(0x7f80_0000));
    let is_special = h
        .clone()
        .binary(BinaryOp::And, u32c(0x7c00))
        .compare(CompareOp::Eq, u32c(0x7c00));
    let sign = h
        .binary(BinaryOp::And, u32c(0x8000))
        .binary(BinaryOp::Shl, u32c(16));
    is_special
        .select(special, scaled)
        .binary(BinaryOp::Or, sign)
        .bitcast(ElemType::F32)
}

/// A scalar f32 rounded to the nearest-even f16, as its `U16` bits (F. Giesen's
/// branch-free conversion): overflow to infinity, NaN to the quiet NaN, values
/// below the f16 normal range rounded by the FPU through an add of 0.5, normals
/// by adding half an ulp (plus the odd bit) before truncating.
pub(super) fn f32_to_f16_bits(k: &mut KernelBuilder, value: Expr) -> Expr {
    let u32t = Ty::scalar(ElemType::U32);
    let f = k.let_var("f", u32t, value.bitcast(ElemType::U32));
    let sign = k.let_var(
        "sign",
        u32t,
        Expr::var(f).binary(BinaryOp::And, u32c(0x8000_0000)),
    );
    let a = k.let_var(
        "a",
        u32t,
        Expr::var(f).binary(BinaryOp::Xor, Expr::var(sign)),
    );
    let a = Expr::var(a);
    let overflow = a
        .clone()
        .compare(CompareOp::Gt, u32c(0x7f80_0000))
        .select(u32c(0x7e00), u32c(0x7c00));
    let magic = 126u32 << 23;
    let small = a
        .clone()
        .bitcast(ElemType::F32)
        .binary(BinaryOp::Add, Expr::f32(f32::from_bits(magic)))
        .bitcast(ElemType::U32)
        .binary(BinaryOp::Sub, u32c(magic));
    let odd = a
        .clone()
        .binary(BinaryOp::Shr, u32c(13))
        .binary(BinaryOp::And, u32c(1));
    let normal = a
        .clone()
        .binary(
            BinaryOp::Add,
            u32c(((15u32.wrapping_sub(127)) << 23).wrapping_add(0xfff)),
        )
        .binary(BinaryOp::Add, odd)
        .binary(BinaryOp::Shr, u32c(13));
    let finite = a
        .clone()
        .compare(CompareOp::Lt, u32c(113 << 23))
        .select(small, normal);
    let bits = a
        .compare(CompareOp::Ge, u32c((127 + 16) << 23))
        .select(overflow, finite)
        .binary(
            BinaryOp::Or,
            Expr::var(sign).binary(BinaryOp::Shr, u32c(16)),
        );
    bits.convert(ElemType::U16)
}

#[cfg(test)]
mod tests {
    use nnc_ir::f16;
    use nnc_ir::kernel::{ElemType, Expr, KernelBuilder, Ty, interp};

    use super::{f16_bits_to_f32, f32_to_f16_bits};

    /// Every f16 widens to the f32 `half` gives.
    #[test]
    fn every_f16_widens_exactly() {
        let n = 1usize << 16;
        let mut k = KernelBuilder::new("widen");
        let x = k.buffer("x", ElemType::U16, n, false);
        let y = k.buffer("y", ElemType::F32, n, true);
        k.for_range("i", 0, n as i64, 1, |k, i| {
            let v = f16_bits_to_f32(k, Expr::load(x, i.clone(), Ty::scalar(ElemType::U16)));
            k.store(y, i, v);
        });
        let kernel = k.finish();
        let input: Vec<u8> = (0..n as u32)
            .flat_map(|b| (b as u16).to_le_bytes())
            .collect();
        let mut buffers = vec![input, vec![0; 4 * n]];
        assert_eq!(interp::run(&kernel, &mut buffers).unwrap(), 0);
        for b in 0..n {
            let got = f32::from_le_bytes(buffers[1][4 * b..4 * b + 4].try_into().unwrap());
            let want = f16::from_bits(b as u16).to_f32();
            assert!(
                got.to_bits() == want.to_bits() || (got.is_nan() && want.is_nan()),
                "{b:#x}: {got} vs {want}"
            );
        }
    }

    /// f32s around every f16 (and the edges of the ranges) round as `half` does.
    #[test]
    fn f32_rounds_to_nearest_even_f16() {
        let mut values: Vec<f32> = Vec::new();
        for b in 0..(1u32 << 16) {
            let v = f16::from_bits(b as u16).to_f32();
            let bits = v.to_bits();
            for d in [0u32, 1, 0xfff, 0x1000, 0x1001, 0x1fff] {
                values.push(f32::from_bits(bits.wrapping_add(d)));
                values.push(f32::from_bits(bits.wrapping_sub(d)));
            }
        }
        values.extend([
            65504.0,
            65519.0,
            65520.0,
            1e10,
            f32::INFINITY,
            f32::NAN,
            1e-8,
            2.9802322e-8,
            5.9604645e-8,
        ]);
        let n = values.len();
        let mut k = KernelBuilder::new("narrow");
        let x = k.buffer("x", ElemType::F32, n, false);
        let y = k.buffer("y", ElemType::U16, n, true);
        k.for_range("i", 0, n as i64, 1, |k, i| {
            let v = f32_to_f16_bits(k, Expr::load(x, i.clone(), Ty::F32));
            k.store(y, i, v);
        });
        let kernel = k.finish();
        let input: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        let mut buffers = vec![input, vec![0; 2 * n]];
        assert_eq!(interp::run(&kernel, &mut buffers).unwrap(), 0);
        for (i, &v) in values.iter().enumerate() {
            let got = f16::from_bits(u16::from_le_bytes(
                buffers[1][2 * i..2 * i + 2].try_into().unwrap(),
            ));
            let want = f16::from_f32(v);
            assert!(
                got.to_bits() == want.to_bits() || (got.is_nan() && want.is_nan()),
                "{v:e}: {got} vs {want}"
            );
        }
    }
}
