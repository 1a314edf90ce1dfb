//! The primitive the data-movement ops are built on: copy the elements picked by
//! per-dimension offset tables. Movement never looks at values, so an element is an
//! opaque group of `dtype.size()` bytes and one implementation serves every dtype.

use bytes::Bytes;

use crate::{DType, OpResult, Tensor};

/// Offsets (in elements) of the coordinates along each dim of a box: the element at
/// coordinate `o` is at `Σ tables[d][o[d]]`. The box's extent along `d` is
/// `tables[d].len()`.
pub(super) type Tables = Vec<Vec<usize>>;

/// Offsets of `len` consecutive coordinates along a dim of stride `stride`.
pub(super) fn strided(len: usize, stride: usize) -> Vec<usize> {
    (0..len).map(|o| o * stride).collect()
}

/// Tables of a row-major contiguous box of `shape`.
pub(super) fn contiguous(shape: &[usize]) -> Tables {
    let strides = crate::shape::strides(shape);
    shape
        .iter()
        .zip(strides)
        .map(|(&n, s)| strided(n, s))
        .collect()
}

/// A new tensor of `shape` whose elements, in row-major order of the box `tables`
/// describes, are `src`'s elements at those offsets. The box and `shape` must hold
/// the same number of elements (they may differ in rank, as in Gather).
pub(super) fn gather(src: &Tensor, tables: &[Vec<usize>], shape: Vec<usize>) -> OpResult<Tensor> {
    let extents: Vec<usize> = tables.iter().map(Vec::len).collect();
    let mut out = vec![0u8; extents.iter().product::<usize>() * src.dtype().size()];
    copy(
        src.dtype(),
        src.bytes(),
        tables,
        &mut out,
        &contiguous(&extents),
    );
    Tensor::from_bytes(src.dtype(), shape, Bytes::from(out))
}

/// For every coordinate of the box, copies the element of `src` at the offset
/// `src_tables` give to the offset `dst_tables` give in `dst`. Both tables describe
/// the same box; `src` and `dst` are element bytes of `dtype`.
pub(super) fn copy(
    dtype: DType,
    src: &[u8],
    src_tables: &[Vec<usize>],
    dst: &mut [u8],
    dst_tables: &[Vec<usize>],
) {
    // Byte arrays have alignment 1, so the casts cannot fail on alignment; the
    // lengths are whole elements because both buffers hold whole tensors.
    macro_rules! copy_as {
        ($n:literal) => {
            copy_elements::<[u8; $n]>(
                bytemuck::cast_slice(src),
                src_tables,
                bytemuck::cast_slice_mut(dst),
                dst_tables,
            )
        };
    }
    match dtype {
        DType::I8 | DType::U8 | DType::Bool => copy_as!(1),
        DType::F16 | DType::I16 | DType::U16 => copy_as!(2),
        DType::F32 | DType::I32 | DType::U32 => copy_as!(4),
        DType::F64 | DType::I64 | DType::U64 => copy_as!(8),
    }
}

fn copy_elements<W: Copy>(
    src: &[W],
    src_tables: &[Vec<usize>],
    dst: &mut [W],
    dst_tables: &[Vec<usize>],
) {
    debug_assert_eq!(src_tables.len(), dst_tables.len());
    if src_tables.iter().any(Vec::is_empty) {
        return;
    }
    let (Some((src_row, src_outer)), Some((dst_row, dst_outer))) =
        (src_tables.split_last(), dst_tables.split_last())
    else {
        // A scalar: the box is one element at offset 0.
        dst[0] = src[0];
        return;
    };
    let run = src_row.len();
    // Rows of consecutive elements on both sides are one memcpy each.
    let consecutive = |t: &[usize]| t.windows(2).all(|w| w[1] == w[0] + 1);
    let memcpy = consecutive(src_row) && consecutive(dst_row);
    let mut coord = vec![0usize; src_outer.len()];
    loop {
        let base = |tables: &[Vec<usize>]| -> usize {
            tables.iter().zip(&coord).map(|(t, &c)| t[c]).sum()
        };
        let (src_base, dst_base) = (base(src_outer), base(dst_outer));
        if memcpy {
            let (s, d) = (src_base + src_row[0], dst_base + dst_row[0]);
            dst[d..d + run].copy_from_slice(&src[s..s + run]);
        } else {
            for (&s, &d) in src_row.iter().zip(dst_row) {
                dst[dst_base + d] = src[src_base + s];
            }
        }
        // Next row: an odometer over the outer dims.
        let mut dim = coord.len();
        loop {
            if dim == 0 {
                return;
            }
            dim -= 1;
            coord[dim] += 1;
            if coord[dim] < src_outer[dim].len() {
                break;
            }
            coord[dim] = 0;
        }
    }
}
