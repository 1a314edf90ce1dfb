//! Machine code of one GEMM tile shape, assembled with `iced-x86`: the same
//! computation as the tile's portable expansion (`nnc_ir::kernel::tile::expand`),
//! with every multiply-add fused and the accumulators in 256- or 512-bit registers.
//!
//! The function is `extern "sysv64" fn(a: *const f32, b: *const f32, y: *mut f32)`,
//! the pointers at the tile's origin in A, B and Y. Strides, reduction counts and
//! the column tail are constants of the code. Per reduction step it loads the
//! tile's B row (`V` vectors), broadcasts each row's A value once and issues
//! `V` FMAs with it; nested reduction dims are nested counted loops whose pointer
//! steps are immediates. The last vector of a row is masked when `cols` is not a
//! multiple of the vector width: masked-off lanes are neither loaded nor stored
//! (AVX-512 `{k1}{z}`, AVX2 `vmaskmovps`; neither faults on masked-off lanes), so
//! the code touches exactly the tile's footprint. AVX-512 tiles also take B with
//! strided columns (a strided convolution's input rows): with stride 2 each B
//! vector is the even elements of two (masked) loads, picked by `vpermt2ps`;
//! with a larger stride a masked `vgatherdps` of the columns' elements. AVX2
//! tiles take stride 2 the same way: two `vmaskmovps` loads, their even elements
//! picked by `vshufps` and put in column order by `vpermpd`.

use iced_x86::IcedError;
use iced_x86::code_asm::*;

use super::activation::{self, Pool};
use super::{ShapeStep, TileShape};

/// The vector width in f32 lanes of each instruction set.
pub(super) const AVX512_LANES: usize = 16;
pub(super) const AVX2_LANES: usize = 8;

pub(super) const ZMM: [AsmRegisterZmm; 32] = [
    zmm0, zmm1, zmm2, zmm3, zmm4, zmm5, zmm6, zmm7, zmm8, zmm9, zmm10, zmm11, zmm12, zmm13, zmm14,
    zmm15, zmm16, zmm17, zmm18, zmm19, zmm20, zmm21, zmm22, zmm23, zmm24, zmm25, zmm26, zmm27,
    zmm28, zmm29, zmm30, zmm31,
];
pub(super) const YMM: [AsmRegisterYmm; 16] = [
    ymm0, ymm1, ymm2, ymm3, ymm4, ymm5, ymm6, ymm7, ymm8, ymm9, ymm10, ymm11, ymm12, ymm13, ymm14,
    ymm15,
];
/// Counters of the reduction dims, outermost first.
const COUNTERS: [AsmRegister64; 3] = [r8, r9, r10];
/// The epilogue's addend pointers: the fourth argument stays in rcx, the fifth
/// moves from r8 (a counter) to r11 on entry.
const ADDENDS: [AsmRegister64; 2] = [rcx, r11];

/// Registers of the AVX-512 tile: accumulators `0..24`, B vectors `24..28`, the
/// broadcast A values `28..31`, the gather indices of strided B `31`.
pub(super) const AVX512_ACCUMULATORS: usize = 24;
pub(super) const AVX512_B_VECTORS: usize = 4;
/// Registers of the AVX2 tile: accumulators `0..12`, B vectors `12..14`, the A
/// value `14`, the tail mask `15`.
pub(super) const AVX2_ACCUMULATORS: usize = 12;
pub(super) const AVX2_B_VECTORS: usize = 2;

/// `reg += value` (through rax when the value does not fit an immediate).
pub(super) fn add_imm(
    a: &mut CodeAssembler,
    reg: AsmRegister64,
    value: i64,
) -> Result<(), IcedError> {
    match i32::try_from(value) {
        Ok(0) => Ok(()),
        Ok(v) => a.add(reg, v),
        Err(_) => {
            a.mov(rax, value)?;
            a.add(reg, rax)
        }
    }
}

/// Element offset -> byte displacement (the shape's eligibility guarantees it fits).
pub(super) fn disp(elements: i64) -> i32 {
    (elements * 4) as i32
}

/// The nested reduction loops around `body`, with pointer steps between steps.
pub(super) fn reduction_loops(
    a: &mut CodeAssembler,
    shape: &TileShape,
    body: &mut dyn FnMut(&mut CodeAssembler) -> Result<(), IcedError>,
) -> Result<(), IcedError> {
    let dims = &shape.reduction;
    let mut labels = Vec::with_capacity(dims.len());
    for (d, dim) in dims.iter().enumerate() {
        a.mov(COUNTERS[d], dim.count as u64)?;
        let mut label = a.create_label();
        a.set_label(&mut label)?;
        labels.push(label);
    }
    body(a)?;
    let last = dims.len() - 1;
    add_imm(a, rdi, dims[last].a * 4)?;
    add_imm(a, rsi, dims[last].b * 4)?;
    for d in (0..dims.len()).rev() {
        a.dec(COUNTERS[d])?;
        a.jnz(labels[d])?;
        if d > 0 {
            // Dim d has moved the pointers count * step; the outer step starts
            // one outer stride from where dim d started.
            let (outer, inner) = (dims[d - 1], dims[d]);
            add_imm(a, rdi, (outer.a - inner.count as i64 * inner.a) * 4)?;
            add_imm(a, rsi, (outer.b - inner.count as i64 * inner.b) * 4)?;
        }
    }
    Ok(())
}

/// Moves the second addend pointer out of r8, the outer reduction counter.
fn keep_addends(a: &mut CodeAssembler, shape: &TileShape) -> Result<(), IcedError> {
    if shape.addends() > 1 {
        a.mov(r11, r8)?;
    }
    Ok(())
}

/// Where the tile's vectors are: vector `v` of a row is vector `v % per_block`
/// of column block `v / per_block`; only a block's last vector may be short.
struct VectorAt<'a> {
    shape: &'a TileShape,
    lanes: usize,
    per_block: usize,
}

impl<'a> VectorAt<'a> {
    fn new(shape: &'a TileShape, lanes: usize) -> Self {
        let per_block = shape.cols.div_ceil(lanes);
        VectorAt {
            shape,
            lanes,
            per_block,
        }
    }

    /// Columns of vector `v` (all lanes but in a block's short last vector).
    fn cols(&self, v: usize) -> usize {
        let u = v % self.per_block;
        (self.shape.cols - u * self.lanes).min(self.lanes)
    }

    /// Whether vector `v` is masked (short).
    fn masked(&self, v: usize) -> bool {
        self.cols(v) < self.lanes
    }

    /// B element of vector `v`'s first column, from the tile's B origin.
    fn b(&self, v: usize) -> i64 {
        let (q, u) = (v / self.per_block, v % self.per_block);
        q as i64 * self.shape.blocks.b + (u * self.lanes) as i64 * self.shape.b_stride
    }

    /// Addend element of row `r`'s vector `v` (its first column), from the
    /// addend's origin, for element steps `row`, `col`, `block`.
    fn addend(&self, r: usize, v: usize, (row, col, block): (i64, i64, i64)) -> i64 {
        let (q, u) = (v / self.per_block, v % self.per_block);
        r as i64 * row + q as i64 * block + (u * self.lanes) as i64 * col
    }

    /// Y element of row `r`'s vector `v`, from the tile's Y origin.
    fn y(&self, r: usize, v: usize) -> i64 {
        let (q, u) = (v / self.per_block, v % self.per_block);
        r as i64 * self.shape.y_stride + q as i64 * self.shape.blocks.y + (u * self.lanes) as i64
    }
}

/// The AVX-512F tile: `rows x vectors` zmm accumulators.
pub(super) fn avx512(shape: &TileShape) -> Result<Vec<u8>, IcedError> {
    let mut a = CodeAssembler::new(64)?;
    let per_block = shape.cols.div_ceil(AVX512_LANES);
    let vectors = per_block * shape.blocks.count;
    let tail = shape.cols % AVX512_LANES;
    let at = VectorAt::new(shape, AVX512_LANES);
    keep_addends(&mut a, shape)?;
    if tail != 0 {
        a.mov(eax, (1u32 << tail) - 1)?;
        a.kmovw(k1, eax)?;
    }
    // Columns two apart: two loads and a permute of their even elements;
    // further apart: a gather. Both use the element index of each lane.
    let pairs = shape.b_stride == 2;
    let gather = shape.b_stride != 1;
    let indices = zmm31;
    let high = zmm30;
    let vector_span = |v: usize| 2 * at.cols(v) - 1;
    if pairs {
        pair_masks_avx512(&mut a, vector_span(vectors - 1))?;
    }
    if gather {
        // Lane i reads column i: element i * stride.
        a.sub(rsp, 64)?;
        for lane in 0..AVX512_LANES {
            let at = dword_ptr(rsp + (lane * 4) as i32);
            a.mov(at, (lane as i64 * shape.b_stride) as i32)?;
        }
        a.vmovdqu32(indices, zmmword_ptr(rsp))?;
        a.add(rsp, 64)?;
    }
    let acc = |r: usize, v: usize| ZMM[r * vectors + v];
    let masked = |v: usize| at.masked(v);
    let y_at = |r: usize, v: usize| rdx + disp(at.y(r, v));
    for r in 0..shape.rows {
        for v in 0..vectors {
            match (shape.accumulate, masked(v)) {
                (true, true) => a.vmovups(acc(r, v).k1().z(), zmmword_ptr(y_at(r, v)))?,
                (true, false) => a.vmovups(acc(r, v), zmmword_ptr(y_at(r, v)))?,
                (false, _) => a.vpxord(acc(r, v), acc(r, v), acc(r, v))?,
            }
        }
    }
    reduction_loops(&mut a, shape, &mut |a| {
        for v in 0..vectors {
            let b = ZMM[AVX512_ACCUMULATORS + v];
            if pairs {
                let span = vector_span(v);
                let low = zmmword_ptr(rsi + disp(at.b(v)));
                let high_at = zmmword_ptr(rsi + disp(at.b(v) + AVX512_LANES as i64));
                if span >= AVX512_LANES {
                    a.vmovups(b, low)?;
                } else {
                    a.vmovups(b.k3().z(), low)?;
                }
                if span > AVX512_LANES {
                    let k = if span == 2 * AVX512_LANES - 1 {
                        high.k2()
                    } else {
                        high.k4()
                    };
                    a.vmovups(k.z(), high_at)?;
                    a.vpermt2ps(b, indices, high)?;
                } else {
                    a.vpermt2ps(b, indices, b)?;
                }
                continue;
            }
            if gather {
                // The gather clears its mask as it completes: set it each time.
                let lanes = if masked(v) { tail } else { AVX512_LANES };
                a.mov(eax, ((1u32 << lanes) - 1) as i32)?;
                a.kmovw(k2, eax)?;
                let first = disp(at.b(v));
                a.vgatherdps(b.k2(), zmmword_ptr(rsi + indices * 4 + first))?;
                continue;
            }
            let from = zmmword_ptr(rsi + disp(at.b(v)));
            if masked(v) {
                a.vmovups(b.k1().z(), from)?;
            } else {
                a.vmovups(b, from)?;
            }
        }
        for r in 0..shape.rows {
            // zmm28..30 (zmm30 holds the high halves of pairs).
            let av = ZMM[AVX512_ACCUMULATORS + AVX512_B_VECTORS + r % if pairs { 2 } else { 3 }];
            a.vbroadcastss(av, dword_ptr(rdi + disp(r as i64 * shape.a_stride)))?;
            for v in 0..vectors {
                a.vfmadd231ps(acc(r, v), ZMM[AVX512_ACCUMULATORS + v], av)?;
            }
        }
        Ok(())
    })?;
    // The epilogue: zmm24.. are free once the products are summed.
    let mut pool = Pool::new(1);
    let mut addend = 0;
    for step in &shape.epilogue {
        match *step {
            ShapeStep::Add { row, col, block } => {
                let base = ADDENDS[addend];
                addend += 1;
                let e = zmm26;
                for r in 0..shape.rows {
                    for v in 0..vectors {
                        let from = base + disp(at.addend(r, v, (row, col, block)));
                        match (col, masked(v)) {
                            (0, _) => a.vbroadcastss(e, dword_ptr(from))?,
                            (_, true) => a.vmovups(e.k1().z(), zmmword_ptr(from))?,
                            (_, false) => a.vmovups(e, zmmword_ptr(from))?,
                        }
                        a.vaddps(acc(r, v), acc(r, v), e)?;
                    }
                }
            }
            ShapeStep::Clip { min, max } => {
                // `bound OP y` returns y when it is NaN (the second operand),
                // as the compare-and-select does; y < min picks min.
                for (bound, is_min) in [(min, true), (max, false)] {
                    let Some(bits) = bound else { continue };
                    a.mov(eax, bits)?;
                    a.vpbroadcastd(zmm24, eax)?;
                    for r in 0..shape.rows {
                        for v in 0..vectors {
                            if is_min {
                                a.vmaxps(acc(r, v), zmm24, acc(r, v))?;
                            } else {
                                a.vminps(acc(r, v), zmm24, acc(r, v))?;
                            }
                        }
                    }
                }
            }
            ShapeStep::Map(f) => {
                for r in 0..shape.rows {
                    for v in 0..vectors {
                        activation::zmm(&mut a, &mut pool, f, acc(r, v))?;
                    }
                }
            }
        }
    }
    store_zmm(&mut a, shape.rows, vectors, acc, y_at, masked)?;
    a.vzeroupper()?;
    a.ret()?;
    pool.emit(&mut a)?;
    a.assemble(0)
}

/// The AVX2+FMA tile: `rows x vectors` ymm accumulators; the tail mask (lanes
/// all ones where a column exists) is built on the stack, below a lowered rsp.
/// With B's columns two apart, the masks of the pair loads stay on the stack
/// (no register is left for them) for the whole function.
pub(super) fn avx2(shape: &TileShape) -> Result<Vec<u8>, IcedError> {
    let mut a = CodeAssembler::new(64)?;
    let vectors = shape.cols.div_ceil(AVX2_LANES) * shape.blocks.count;
    let tail = shape.cols % AVX2_LANES;
    let at = VectorAt::new(shape, AVX2_LANES);
    keep_addends(&mut a, shape)?;
    let pairs = shape.b_stride == 2;
    let mask = ymm15;
    // Lanes `0..n` all ones, the others zero, at `[rsp + at]`.
    // The elements of B a pair vector spans (columns two apart): the low load
    // takes the first `min(span, 8)`, the high load the rest.
    let span = |v: usize| 2 * at.cols(v) - 1;
    avx2_masks(&mut a, pairs.then(|| span(vectors - 1)), tail, mask)?;
    let acc = |r: usize, v: usize| YMM[r * vectors + v];
    let masked = |v: usize| at.masked(v);
    let y_at = |r: usize, v: usize| rdx + disp(at.y(r, v));
    for r in 0..shape.rows {
        for v in 0..vectors {
            let from = ymmword_ptr(y_at(r, v));
            match (shape.accumulate, masked(v)) {
                (true, true) => a.vmaskmovps(acc(r, v), mask, from)?,
                (true, false) => a.vmovups(acc(r, v), from)?,
                (false, _) => a.vxorps(acc(r, v), acc(r, v), acc(r, v))?,
            }
        }
    }
    let av = ymm14;
    reduction_loops(&mut a, shape, &mut |a| {
        for v in 0..vectors {
            let b = YMM[AVX2_ACCUMULATORS + v];
            if pairs {
                // Elements 0..16 of the pair in `b` (low) and ymm14 (high),
                // masked to the span; ymm14 is free until the broadcasts.
                let low = ymmword_ptr(rsi + disp(at.b(v)));
                let high = ymmword_ptr(rsi + disp(at.b(v) + AVX2_LANES as i64));
                let part = ymmword_ptr(rsp + LAST_PART);
                let span = span(v);
                if span >= AVX2_LANES {
                    a.vmovups(b, low)?;
                } else {
                    a.vmovdqu(av, part)?;
                    a.vmaskmovps(b, av, low)?;
                }
                if span > AVX2_LANES {
                    let high_mask = if span == 2 * AVX2_LANES - 1 {
                        ymmword_ptr(rsp + FULL_HIGH)
                    } else {
                        part
                    };
                    a.vmovdqu(av, high_mask)?;
                    a.vmaskmovps(av, av, high)?;
                } else {
                    a.vxorps(av, av, av)?;
                }
                // Per 128-bit half, elements 0, 2 of low then of high: quads
                // (0 2)(8 10)(4 6)(12 14); vpermpd swaps the middle two.
                a.vshufps(b, b, av, 0x88)?;
                a.vpermpd(b, b, 0xD8)?;
                continue;
            }
            let from = ymmword_ptr(rsi + disp(at.b(v)));
            if masked(v) {
                a.vmaskmovps(b, mask, from)?;
            } else {
                a.vmovups(b, from)?;
            }
        }
        for r in 0..shape.rows {
            a.vbroadcastss(av, dword_ptr(rdi + disp(r as i64 * shape.a_stride)))?;
            for v in 0..vectors {
                a.vfmadd231ps(acc(r, v), YMM[AVX2_ACCUMULATORS + v], av)?;
            }
        }
        Ok(())
    })?;
    let mut pool = Pool::new(AVX2_LANES);
    if shape
        .epilogue
        .iter()
        .any(|s| matches!(s, ShapeStep::Map(_)))
    {
        finish_one_by_one(&mut a, shape, &mut pool, (acc, masked, mask))?;
        if pairs {
            a.add(rsp, 64)?;
        }
        a.vzeroupper()?;
        a.ret()?;
        pool.emit(&mut a)?;
        return a.assemble(0);
    }
    // The epilogue: ymm12..15 but the tail mask are free once the products
    // are summed.
    let mut addend = 0;
    for step in &shape.epilogue {
        match *step {
            ShapeStep::Add { row, col, block } => {
                let base = ADDENDS[addend];
                addend += 1;
                let e = ymm12;
                for r in 0..shape.rows {
                    for v in 0..vectors {
                        let from = base + disp(at.addend(r, v, (row, col, block)));
                        match (col, masked(v)) {
                            (0, _) => a.vbroadcastss(e, dword_ptr(from))?,
                            (_, true) => a.vmaskmovps(e, mask, ymmword_ptr(from))?,
                            (_, false) => a.vmovups(e, ymmword_ptr(from))?,
                        }
                        a.vaddps(acc(r, v), acc(r, v), e)?;
                    }
                }
            }
            ShapeStep::Clip { min, max } => {
                // As in the AVX-512 tile: NaN passes, y < min picks min.
                for (bound, is_min) in [(min, true), (max, false)] {
                    let Some(bits) = bound else { continue };
                    a.mov(eax, bits)?;
                    a.vmovd(xmm13, eax)?;
                    a.vbroadcastss(ymm13, xmm13)?;
                    for r in 0..shape.rows {
                        for v in 0..vectors {
                            if is_min {
                                a.vmaxps(acc(r, v), ymm13, acc(r, v))?;
                            } else {
                                a.vminps(acc(r, v), ymm13, acc(r, v))?;
                            }
                        }
                    }
                }
            }
            ShapeStep::Map(_) => unreachable!("activations take `finish_one_by_one`"),
        }
    }
    store_ymm(&mut a, (shape.rows, vectors), acc, y_at, (masked, mask))?;
    if pairs {
        a.add(rsp, 64)?;
    }
    a.vzeroupper()?;
    a.ret()?;
    a.assemble(0)
}

/// The AVX2 epilogue and stores when a step is an activation, which needs more
/// registers than the accumulators leave: the accumulators go to the stack,
/// then each in turn comes back to ymm0, takes every step and is stored.
fn finish_one_by_one(
    a: &mut CodeAssembler,
    shape: &TileShape,
    pool: &mut Pool,
    (acc, masked, mask): (
        impl Fn(usize, usize) -> AsmRegisterYmm,
        impl Fn(usize) -> bool,
        AsmRegisterYmm,
    ),
) -> Result<(), IcedError> {
    let at = VectorAt::new(shape, AVX2_LANES);
    let vectors = at.per_block * shape.blocks.count;
    let spill = |r: usize, v: usize| ymmword_ptr(rsp + ((r * vectors + v) * 32) as i32);
    let bytes = (shape.rows * vectors * 32) as i32;
    a.sub(rsp, bytes)?;
    for r in 0..shape.rows {
        for v in 0..vectors {
            a.vmovups(spill(r, v), acc(r, v))?;
        }
    }
    let (x, e) = (ymm0, ymm12);
    for r in 0..shape.rows {
        for v in 0..vectors {
            a.vmovups(x, spill(r, v))?;
            let mut addend = 0;
            for step in &shape.epilogue {
                match *step {
                    ShapeStep::Add { row, col, block } => {
                        let from = ADDENDS[addend] + disp(at.addend(r, v, (row, col, block)));
                        addend += 1;
                        match (col, masked(v)) {
                            (0, _) => a.vbroadcastss(e, dword_ptr(from))?,
                            (_, true) => a.vmaskmovps(e, mask, ymmword_ptr(from))?,
                            (_, false) => a.vmovups(e, ymmword_ptr(from))?,
                        }
                        a.vaddps(x, x, e)?;
                    }
                    ShapeStep::Clip { min, max } => {
                        for (bound, is_min) in [(min, true), (max, false)] {
                            let Some(bits) = bound else { continue };
                            a.mov(eax, bits)?;
                            a.vmovd(xmm12, eax)?;
                            a.vbroadcastss(e, xmm12)?;
                            if is_min {
                                a.vmaxps(x, e, x)?;
                            } else {
                                a.vminps(x, e, x)?;
                            }
                        }
                    }
                    ShapeStep::Map(f) => activation::ymm(a, pool, f, x)?,
                }
            }
            let to = ymmword_ptr(rdx + disp(at.y(r, v)));
            if masked(v) {
                a.vmaskmovps(to, mask, x)?;
            } else {
                a.vmovups(to, x)?;
            }
        }
    }
    a.add(rsp, bytes)
}

/// Stores the `rows x vectors` zmm accumulators `acc(r, v)` to `y_at(r, v)`,
/// the `masked` vectors under k1 (the column tail).
pub(super) fn store_zmm(
    a: &mut CodeAssembler,
    rows: usize,
    vectors: usize,
    acc: impl Fn(usize, usize) -> AsmRegisterZmm,
    y_at: impl Fn(usize, usize) -> AsmMemoryOperand,
    masked: impl Fn(usize) -> bool,
) -> Result<(), IcedError> {
    for r in 0..rows {
        for v in 0..vectors {
            let to = zmmword_ptr(y_at(r, v));
            if masked(v) {
                a.vmovups(to.k1(), acc(r, v))?;
            } else {
                a.vmovups(to, acc(r, v))?;
            }
        }
    }
    Ok(())
}

/// Stores the `rows x vectors` ymm accumulators `acc(r, v)` to `y_at(r, v)`,
/// the `masked` vectors through `vmaskmovps` with the lane mask in `mask`.
pub(super) fn store_ymm(
    a: &mut CodeAssembler,
    (rows, vectors): (usize, usize),
    acc: impl Fn(usize, usize) -> AsmRegisterYmm,
    y_at: impl Fn(usize, usize) -> AsmMemoryOperand,
    (masked, mask): (impl Fn(usize) -> bool, AsmRegisterYmm),
) -> Result<(), IcedError> {
    for r in 0..rows {
        for v in 0..vectors {
            let to = ymmword_ptr(y_at(r, v));
            if masked(v) {
                a.vmaskmovps(to, mask, acc(r, v))?;
            } else {
                a.vmovups(to, acc(r, v))?;
            }
        }
    }
    Ok(())
}

/// Sets the AVX-512 masks of B pairs (columns two apart) whose last vector's
/// pair spans `last_span` elements: k2 the high half of a full pair (15
/// elements); k3 / k4 the low / high half of the last pair when it is shorter.
pub(super) fn pair_masks_avx512(a: &mut CodeAssembler, last_span: usize) -> Result<(), IcedError> {
    let mut mask = |k: AsmRegisterK, bits: usize| {
        a.mov(eax, ((1u32 << bits) - 1) as i32)?;
        a.kmovw(k, eax)
    };
    mask(k2, AVX512_LANES - 1)?;
    if last_span < AVX512_LANES {
        mask(k3, last_span)
    } else {
        mask(k4, last_span - AVX512_LANES)
    }
}

/// Stack offsets of the AVX2 pair masks (below a lowered rsp, kept for the whole
/// function): the high half of a full pair (7 lanes), and the masked half of
/// the last vector's pair when it is shorter.
pub(super) const FULL_HIGH: i32 = 0;
pub(super) const LAST_PART: i32 = 32;

/// Builds the AVX2 lane masks: with B pairs whose last pair spans `last_span`
/// elements, the two pair masks at [`FULL_HIGH`] / [`LAST_PART`] on the stack
/// (rsp lowered by 64 until the function's end); with a column tail, the tail
/// mask (lanes `0..tail` all ones) in `mask`.
pub(super) fn avx2_masks(
    a: &mut CodeAssembler,
    last_span: Option<usize>,
    tail: usize,
    mask: AsmRegisterYmm,
) -> Result<(), IcedError> {
    let lane_mask = |a: &mut CodeAssembler, at: i32, n: usize| -> Result<(), IcedError> {
        for lane in 0..AVX2_LANES {
            let bits: i32 = if lane < n { -1 } else { 0 };
            a.mov(dword_ptr(rsp + at + (lane * 4) as i32), bits)?;
        }
        Ok(())
    };
    if let Some(last) = last_span {
        a.sub(rsp, 64)?;
        lane_mask(a, FULL_HIGH, AVX2_LANES - 1)?;
        let part = if last < AVX2_LANES {
            last
        } else {
            last - AVX2_LANES
        };
        lane_mask(a, LAST_PART, part)?;
    }
    if tail != 0 {
        a.sub(rsp, 32)?;
        lane_mask(a, 0, tail)?;
        a.vmovdqu(mask, ymmword_ptr(rsp))?;
        a.add(rsp, 32)?;
    }
    Ok(())
}
