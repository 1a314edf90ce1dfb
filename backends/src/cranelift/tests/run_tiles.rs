//! The AVX-512 run microkernel (`microkernel::run`: a depthwise tile over a
//! padded plane whose rows lie end to end, outputs packed into a contiguous Y)
//! against the kernel interpreter: random plane heights and widths, row gaps
//! of 0 to 4 positions, one to three reduction dims (a kernel's rows and
//! columns, dilated), every run length modulo 16, epilogues of per-tile
//! addends, Clip bounds and the exact GELU, compiled and run natively.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use nnc_ir::Microkernel;
use nnc_ir::kernel::{
    BufId, ColumnBlocks, Expr, GemmTile, Program, ReductionDim, TileAddend, TileOperand, TileStep,
};

use super::tile_programs::{Lens, one_kernel_per_tile, run_natively};
use crate::cranelift::compile_program;
use crate::cranelift::microkernel::TileShape;
use crate::target::parse_target;

/// The buffers' elements: A, B, and each of the two epilogue addends.
const LENS: Lens = Lens {
    a: 64,
    b: 4000,
    e: 16,
};

/// A random run tile writing Y from `y_offset`, and the Y elements it spans.
fn random_run_tile(rng: &mut StdRng, y_offset: usize) -> (GemmTile, usize) {
    let cols = rng.random_range(1..=12usize);
    let gap = rng.random_range(0..=4i64);
    let b_row = cols as i64 + gap;
    let rows = rng.random_range(2..=(24 * 16 - cols) / b_row as usize + 1);
    // The run form takes planes whose run is fewer vectors than rows.
    if ((rows as i64 - 1) * b_row + cols as i64 + 15) / 16 >= rows as i64 {
        return random_run_tile(rng, y_offset);
    }
    let (kh, kw) = (rng.random_range(1..=4usize), rng.random_range(1..=4usize));
    let dilation = rng.random_range(1..=2i64);
    let dims = rng.random_range(1..=3);
    let mut reduction = vec![
        ReductionDim {
            count: kh,
            a: kw as i64,
            b: dilation * b_row,
        },
        ReductionDim {
            count: kw,
            a: 1,
            b: dilation,
        },
    ];
    if dims == 1 {
        reduction.remove(0);
    } else if dims == 3 {
        reduction.insert(
            0,
            ReductionDim {
                count: 2,
                a: (kh * kw) as i64,
                b: 7,
            },
        );
    }
    let reach: i64 = reduction.iter().map(|d| (d.count as i64 - 1) * d.b).sum();
    let span = (rows as i64 - 1) * b_row + cols as i64 + reach;
    let mut epilogue = Vec::new();
    for buf in [3u32, 4] {
        if rng.random_bool(0.5) {
            epilogue.push(TileStep::Add(TileAddend {
                buf: BufId(buf),
                offset: Expr::index(rng.random_range(0..LENS.e as i64)),
                row: 0,
                col: 0,
                block: 0,
            }));
        }
    }
    if rng.random_bool(0.7) {
        let min = [None, Some(0.0), Some(-0.5)][rng.random_range(0..3)];
        let max = [None, Some(6.0), Some(0.25)][rng.random_range(0..3)];
        let at = rng.random_range(0..=epilogue.len());
        epilogue.insert(at, TileStep::Clip { min, max });
    }
    let tile = GemmTile {
        rows,
        cols,
        a: TileOperand {
            buf: BufId(0),
            offset: Expr::index(rng.random_range(0..=LENS.a as i64 - 2 * (kh * kw) as i64)),
            stride: 0,
        },
        b: TileOperand {
            buf: BufId(1),
            offset: Expr::index(rng.random_range(0..=LENS.b as i64 - span)),
            stride: 1,
        },
        b_row,
        y: TileOperand {
            buf: BufId(2),
            offset: Expr::index(y_offset as i64),
            stride: cols as i64,
        },
        reduction,
        accumulate: false,
        lanes: 4,
        blocks: ColumnBlocks::ONE,
        epilogue,
    };
    (tile, rows * cols)
}

fn run_tiles_program(seed: u64) -> Program {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut tiles = Vec::new();
    let mut y_len = 0;
    while tiles.len() < 60 {
        let (tile, span) = random_run_tile(&mut rng, y_len);
        y_len += span;
        tiles.push(tile);
    }
    one_kernel_per_tile(
        ("run_tiles".into(), "run"),
        tiles,
        (LENS, y_len),
        &mut rng,
        |_, rng| rng.random_bool(0.3),
    )
}

#[cfg(target_arch = "x86_64")]
#[test]
fn run_tiles_match_the_interpreter() {
    let program = run_tiles_program(11);
    for kernel in &program.kernels {
        let nnc_ir::kernel::Stmt::Tile(tile) = &kernel.body[0] else {
            panic!("a tile kernel");
        };
        let shape = TileShape::of(kernel, tile, Microkernel::Avx512);
        assert!(
            shape.is_some_and(|s| s.is_run()),
            "{}: {}x{} b_row {}",
            kernel.name,
            tile.rows,
            tile.cols,
            tile.b_row
        );
    }
    let cpu = vec!["avx512f".to_string()];
    let target = parse_target("x86_64", &cpu).expect("x86_64 parses");
    let object = compile_program(&program, &target).unwrap_or_else(|e| panic!("{e}"));
    if !std::arch::is_x86_feature_detected!("avx512f") {
        eprintln!("note: the host cannot run avx512 tiles; compiled only");
        return;
    }
    run_natively(&program, &object.bytes, LENS, 5, "avx512");
}
