//! Wide x86_64 microkernels for GEMM tile statements: where the target has
//! AVX-512F (or AVX2 with FMA), an eligible tile becomes a call to a function of
//! machine code assembled for its shape ([`asm`]), placed as a local function in
//! the same object as the Cranelift code. Cranelift itself lowers only 128-bit
//! vectors; the portable expansion of the tile stays the reference and the
//! fallback (other targets, `--kernels portable`, ineligible tiles).
//!
//! One function per distinct [`TileShape`] (strides, counts and the column tail
//! are baked in), shared by every kernel of the object.

mod activation;
mod asm;
mod depthwise;
mod run;

use std::collections::HashMap;

use cranelift_codegen::ir::{AbiParam, Signature, types};
use cranelift_codegen::isa::CallConv;
use cranelift_module::{FuncId, Linkage, Module};
use cranelift_object::ObjectModule;
use nnc_ir::Microkernel;
use nnc_ir::kernel::{ColumnBlocks, ElemType, GemmTile, Kernel, ReductionDim, TileFn, TileStep};

use super::CodegenError;

/// The largest column stride of B an AVX-512 tile gathers (a convolution's
/// stride; wider ones stay portable).
pub(crate) const MAX_GATHER_STRIDE: i64 = 16;

/// What a tile's machine code depends on: everything but where its operands are.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct TileShape {
    pub level: Microkernel,
    pub rows: usize,
    pub cols: usize,
    /// Elements between A's rows, B's columns and Y's rows.
    pub a_stride: i64,
    pub b_stride: i64,
    pub y_stride: i64,
    /// Elements between the B origins of consecutive rows (`GemmTile::b_row`).
    pub b_row: i64,
    pub reduction: Vec<ReductionDim>,
    pub accumulate: bool,
    /// Column blocks: each its own B and Y vectors, all sharing the A broadcasts.
    pub blocks: ColumnBlocks,
    /// The tile's epilogue, applied in registers before the stores.
    pub epilogue: Vec<ShapeStep>,
}

/// A step of a tile's epilogue without its operand's location: an addend's
/// pointer is an argument of the function (the `n`th `Add`, argument `3 + n`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) enum ShapeStep {
    /// Element steps of the addend (`TileAddend`) per row, column and block.
    Add { row: i64, col: i64, block: i64 },
    /// The bounds' bit patterns (f32 is not `Eq`).
    Clip { min: Option<u32>, max: Option<u32> },
    /// An activation, computed by the microkernel's own instructions.
    Map(TileFn),
}

/// The most `Add` steps a microkernel takes (argument registers left).
pub(crate) const MAX_ADDENDS: usize = 2;

impl TileShape {
    /// The shape of `tile` of `kernel` when `level` has a microkernel for it: f32
    /// operands, B's columns contiguous or two apart (AVX-512 also gathers
    /// columns up to [`MAX_GATHER_STRIDE`] apart), 1 to 3 non-empty reduction dims, the
    /// accumulators and B vectors of every column block fitting the registers
    /// and every displacement an i32.
    pub(crate) fn of(kernel: &Kernel, tile: &GemmTile, level: Microkernel) -> Option<TileShape> {
        // A plane's rows end to end ([`run`]): one run of zmm vectors.
        if level == Microkernel::Avx512
            && let Some(shape) = run::shape_of(kernel, tile)
        {
            return Some(shape);
        }
        // A tile at most 8 columns wide wastes half a zmm register or more: its
        // AVX2 form (every AVX-512F core has AVX2 and FMA) does the same work in
        // ymm registers, at twice the rate where 512-bit FMAs are split in two
        // 256-bit halves (AMD Zen 4), at the same rate elsewhere.
        let level = match level {
            Microkernel::Avx512
                if tile.cols <= asm::AVX2_LANES
                    && (1..=2).contains(&tile.b.stride)
                    && tile.blocks.count <= asm::AVX2_B_VECTORS
                    && tile.rows * tile.blocks.count <= asm::AVX2_ACCUMULATORS =>
            {
                Microkernel::Avx2
            }
            other => other,
        };
        let (lanes, accumulators, b_vectors) = match level {
            Microkernel::Portable => return None,
            Microkernel::Avx512 => (
                asm::AVX512_LANES,
                asm::AVX512_ACCUMULATORS,
                asm::AVX512_B_VECTORS,
            ),
            Microkernel::Avx2 => (asm::AVX2_LANES, asm::AVX2_ACCUMULATORS, asm::AVX2_B_VECTORS),
        };
        let f32_buffer = |b| kernel.buffers.get(b as usize).map(|b| b.elem) == Some(ElemType::F32);
        let vectors = tile.cols.div_ceil(lanes) * tile.blocks.count;
        let fits = |elements: i64| {
            elements
                .checked_mul(4)
                .and_then(|b| i32::try_from(b).ok())
                .is_some()
        };
        let eligible = [tile.a.buf.0, tile.b.buf.0, tile.y.buf.0]
            .into_iter()
            .all(f32_buffer)
            && (tile.b.stride == 1
                || (level == Microkernel::Avx2 && tile.b.stride == 2)
                || (level == Microkernel::Avx512
                    && (2..=MAX_GATHER_STRIDE).contains(&tile.b.stride)))
            && tile.rows >= 1
            && tile.cols >= 1
            && vectors <= b_vectors
            && tile.rows * vectors <= accumulators
            && (1..=3).contains(&tile.reduction.len())
            && tile
                .reduction
                .iter()
                .all(|d| d.count >= 1 && fits(d.a) && fits(d.b))
            && fits(tile.rows as i64 * tile.a.stride.abs())
            && fits(tile.rows as i64 * tile.y.stride.abs() + tile.cols as i64)
            && fits(tile.cols as i64 * tile.b.stride)
            && tile.blocks.count >= 1
            && fits(
                tile.blocks.count as i64 * tile.blocks.b.abs() + tile.cols as i64 * tile.b.stride,
            )
            && fits(
                tile.rows as i64 * tile.y.stride.abs()
                    + tile.blocks.count as i64 * tile.blocks.y.abs()
                    + tile.cols as i64,
            );
        // Rows reading their own B ([`depthwise`]): one column block, columns
        // contiguous or two apart.
        let eligible = eligible
            && (tile.b_row == 0
                || (tile.blocks.count == 1
                    && (1..=2).contains(&tile.b.stride)
                    && fits(tile.rows as i64 * tile.b_row.abs() + tile.cols as i64 * 2)));
        // The epilogue: addends of f32 with contiguous or shared columns, not
        // on rows reading their own B (the depthwise tiles have no epilogue).
        let addends = tile
            .epilogue
            .iter()
            .filter(|s| matches!(s, TileStep::Add(_)))
            .count();
        let eligible = eligible
            && (tile.epilogue.is_empty() || tile.b_row == 0)
            && addends <= MAX_ADDENDS
            && tile.epilogue.iter().all(|s| match s {
                TileStep::Add(e) => {
                    f32_buffer(e.buf.0)
                        && (0..=1).contains(&e.col)
                        && fits(
                            tile.rows as i64 * e.row.abs()
                                + tile.blocks.count as i64 * e.block.abs()
                                + tile.cols as i64,
                        )
                }
                TileStep::Clip { .. } | TileStep::Map(_) => true,
            });
        let epilogue = tile
            .epilogue
            .iter()
            .map(|s| match s {
                TileStep::Add(e) => ShapeStep::Add {
                    row: e.row,
                    col: e.col,
                    block: e.block,
                },
                TileStep::Clip { min, max } => ShapeStep::Clip {
                    min: min.map(f32::to_bits),
                    max: max.map(f32::to_bits),
                },
                TileStep::Map(m) => ShapeStep::Map(m.func),
            })
            .collect();
        eligible.then(|| TileShape::with_epilogue(level, tile, epilogue))
    }

    /// `tile`'s shape at `level`, its epilogue already translated: the fields
    /// every form (the general tiles and the [`run`] form) copies from the tile
    /// alike, whatever each asks of them.
    fn with_epilogue(level: Microkernel, tile: &GemmTile, epilogue: Vec<ShapeStep>) -> TileShape {
        TileShape {
            level,
            rows: tile.rows,
            cols: tile.cols,
            a_stride: tile.a.stride,
            b_stride: tile.b.stride,
            y_stride: tile.y.stride,
            b_row: tile.b_row,
            reduction: tile.reduction.clone(),
            accumulate: tile.accumulate,
            blocks: tile.blocks,
            epilogue,
        }
    }

    /// Whether this shape takes the run form ([`run`]).
    pub(crate) fn is_run(&self) -> bool {
        self.level == Microkernel::Avx512 && self.b_row != 0 && run::applies(self)
    }

    /// How many addend pointers the function takes after `(a, b, y)`.
    pub(crate) fn addends(&self) -> usize {
        self.epilogue
            .iter()
            .filter(|s| matches!(s, ShapeStep::Add { .. }))
            .count()
    }

    /// The machine code of this shape.
    pub(crate) fn assemble(&self) -> Result<Vec<u8>, String> {
        let code = match self.level {
            Microkernel::Avx512 if self.is_run() => run::avx512(self),
            Microkernel::Avx512 if self.b_row != 0 => depthwise::avx512(self),
            Microkernel::Avx2 if self.b_row != 0 => depthwise::avx2(self),
            Microkernel::Avx512 => asm::avx512(self),
            Microkernel::Avx2 => asm::avx2(self),
            Microkernel::Portable => return Err("the portable path has no microkernel".into()),
        };
        code.map_err(|e| format!("assembling a {}x{} tile: {e}", self.rows, self.cols))
    }
}

/// The signature of a microkernel: `(a, b, y)` pointers, then one per addend of
/// its epilogue, System V.
pub(crate) fn signature(addends: usize) -> Signature {
    let mut sig = Signature::new(CallConv::SystemV);
    sig.params
        .extend(std::iter::repeat_n(AbiParam::new(types::I64), 3 + addends));
    sig
}

/// The microkernels of one object: declared and defined on first use.
pub(crate) struct Microkernels {
    pub level: Microkernel,
    prefix: String,
    defined: HashMap<TileShape, FuncId>,
}

impl Microkernels {
    pub(crate) fn new(level: Microkernel, prefix: &str) -> Self {
        Microkernels {
            level,
            prefix: prefix.to_string(),
            defined: HashMap::new(),
        }
    }

    /// The function computing `shape`, assembled and placed in `module` the first
    /// time it is asked for.
    pub(crate) fn function(
        &mut self,
        module: &mut ObjectModule,
        shape: &TileShape,
        code_bytes: &mut usize,
    ) -> Result<FuncId, CodegenError> {
        if let Some(&id) = self.defined.get(shape) {
            return Ok(id);
        }
        let name = format!(
            "{}_{}_tile{}",
            self.prefix,
            shape.level.name(),
            self.defined.len()
        );
        let fail = |message: String| CodegenError::Compile {
            function: name.clone(),
            message,
        };
        let code = shape.assemble().map_err(fail)?;
        let id = module
            .declare_function(&name, Linkage::Local, &signature(shape.addends()))
            .map_err(|e| fail(e.to_string()))?;
        module
            .define_function_bytes(id, 64, &code, &[])
            .map_err(|e| fail(e.to_string()))?;
        *code_bytes += code.len();
        self.defined.insert(shape.clone(), id);
        Ok(id)
    }
}
