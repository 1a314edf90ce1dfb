//! Every wide microkernel against the kernel interpreter: one program of many
//! kernels, each a single GEMM tile statement of a random shape — every row
//! count, column tails (narrower than one vector too), K = 1, one to three
//! reduction dims, accumulate and overwrite, AVX-512 tiles of at most 8
//! columns up to 12 rows tall (their AVX2 form), one to four column blocks (a
//! convolution's several output rows per tile), odd strides and offsets, gathered
//! (strided) B columns for AVX-512, columns two apart for AVX2, rows reading
//! their own B (depthwise tiles), random epilogues (per-row and per-column
//! biases, residuals shaped like Y, Clip / ReLU bounds, the exact GELU) — compiled
//! once per instruction set, run natively where the CPU has it, and compared with
//! the interpreter running the tiles' portable expansion.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use nnc_ir::Microkernel;
use nnc_ir::kernel::{
    ColumnBlocks, Expr, GemmTile, Program, ReductionDim, TileAddend, TileOperand, TileStep,
};

use super::tile_programs::{Lens, one_kernel_per_tile, run_natively};
use crate::cranelift::compile_program;
use crate::target::parse_target;

/// The buffers' elements: A, B, and each of the two epilogue addends.
const LENS: Lens = Lens {
    a: 6000,
    b: 48000,
    e: 8000,
};

/// (rows, vectors of lanes, lanes, accumulators, B vectors) each level's tiles
/// may take: a tile of `rows` rows has at most `min(B vectors, accumulators /
/// rows)` vectors per row, over all its column blocks.
fn limits(level: Microkernel) -> (usize, usize, usize, usize, usize) {
    match level {
        Microkernel::Avx512 => (8, 3, 16, 24, 4),
        Microkernel::Avx2 => (6, 2, 8, 12, 2),
        Microkernel::Portable => (4, 2, 4, 8, 2),
    }
}

/// A random tile within the level's limits, writing Y from `y_offset`; returns
/// it and the Y elements it spans.
fn random_tile(
    rng: &mut StdRng,
    level: Microkernel,
    rows: usize,
    y_offset: usize,
) -> (GemmTile, usize) {
    let (max_rows, vectors, lanes, accumulators, b_vectors) = limits(level);
    // Taller than the level's tiles: an AVX-512 tile of at most 8 columns, which
    // takes the AVX2 form (up to 12 rows of one ymm).
    let narrow = rows > max_rows;
    // Half the tiles in several column blocks, each of fewer vectors.
    let most = b_vectors.min(accumulators / rows);
    let blocks = if most > 1 && !narrow && rng.random_bool(0.5) {
        rng.random_range(2..=most)
    } else {
        1
    };
    let vectors = if blocks > 1 { most / blocks } else { vectors };
    let width = vectors * lanes;
    let cols = match rng.random_range(0..6) {
        0 => rng.random_range(1..lanes),
        1 => lanes,
        2 => width,
        3 => width - rng.random_range(1..lanes),
        _ => rng.random_range(1..=width),
    };
    let cols = if narrow {
        rng.random_range(1..=8)
    } else {
        cols
    };
    let dims = rng.random_range(1..=3);
    let counts: Vec<usize> = (0..dims)
        .map(|_| {
            if rng.random_bool(0.25) {
                1
            } else {
                rng.random_range(1..=5)
            }
        })
        .collect();
    // A: rows of the reduction laid out innermost dim fastest, plus slack.
    let k: usize = counts.iter().product();
    let mut a_steps = vec![0i64; dims];
    let mut step = 1i64;
    for d in (0..dims).rev() {
        a_steps[d] = step;
        step *= counts[d] as i64;
    }
    let a_stride = k as i64 + rng.random_range(0..4);
    // B: columns `b_col` apart (gathered: AVX-512 only; 2: AVX2 too), one row of them (plus
    // slack) per innermost step.
    let b_col = match level {
        Microkernel::Avx512 if narrow => [1, 2][rng.random_range(0..2)],
        Microkernel::Avx512 => [1, 1, 2, 3, 16][rng.random_range(0..5)],
        Microkernel::Avx2 => [1, 2][rng.random_range(0..2)],
        Microkernel::Portable => 1,
    };
    let b_row = (cols as i64 - 1) * b_col + 1 + rng.random_range(0..5);
    let mut b_steps = vec![0i64; dims];
    let mut step = b_row;
    for d in (0..dims).rev() {
        b_steps[d] = step;
        step *= counts[d] as i64 + rng.random_range(0..2);
    }
    // Y: the blocks of a row side by side (with slack), then the next row.
    let block_y = cols as i64 + rng.random_range(0..3);
    let y_stride = blocks as i64 * block_y + rng.random_range(0..3);
    // A third of the one-block tiles with B columns at most two apart read their
    // own B per row (depthwise tiles), half of those with A's rows shared
    // (stride 0).
    let own_b = blocks == 1 && b_col <= 2 && rng.random_bool(0.33);
    let own_b_row = if own_b {
        cols as i64 * b_col + rng.random_range(0..9)
    } else {
        0
    };
    let a_stride = if own_b && rng.random_bool(0.5) {
        0
    } else {
        a_stride
    };
    let a_span = (rows as i64 - 1) * a_stride + k as i64;
    let block_span = (0..dims)
        .map(|d| (counts[d] as i64 - 1) * b_steps[d])
        .sum::<i64>()
        + (cols as i64 - 1) * b_col
        + (rows as i64 - 1) * own_b_row
        + 1;
    // B: each block's part one after the other (they may overlap: only read).
    let block_b = rng.random_range(1..=block_span);
    let b_span = (blocks as i64 - 1) * block_b + block_span;
    if b_span > LENS.b as i64 {
        // Too long for B (many wide strided steps): draw again.
        return random_tile(rng, level, rows, y_offset);
    }
    // Half the tiles not reading their own B end with a random epilogue.
    let epilogue = if own_b || rng.random_bool(0.5) {
        Vec::new()
    } else {
        random_epilogue(rng, rows, cols, blocks, y_stride, block_y)
    };
    let a_offset = rng.random_range(0..=(LENS.a as i64 - a_span));
    let b_offset = rng.random_range(0..=(LENS.b as i64 - b_span));
    let tile = GemmTile {
        rows,
        cols,
        a: TileOperand {
            buf: nnc_ir::kernel::BufId(0),
            offset: Expr::index(a_offset),
            stride: a_stride,
        },
        b: TileOperand {
            buf: nnc_ir::kernel::BufId(1),
            offset: Expr::index(b_offset),
            stride: b_col,
        },
        b_row: own_b_row,
        y: TileOperand {
            buf: nnc_ir::kernel::BufId(2),
            offset: Expr::index(y_offset as i64),
            stride: y_stride,
        },
        reduction: (0..dims)
            .map(|d| ReductionDim {
                count: counts[d],
                a: a_steps[d],
                b: b_steps[d],
            })
            .collect(),
        accumulate: rng.random_bool(0.5),
        lanes: 4,
        blocks: ColumnBlocks {
            count: blocks,
            b: block_b,
            y: block_y,
        },
        epilogue,
    };
    let span = (rows - 1) * y_stride as usize + (blocks - 1) * block_y as usize + cols;
    (tile, span)
}

/// Up to two addends (buffers 3 and 4: a per-row bias, a per-column bias or a
/// residual laid out like Y) and Clip bounds, in a random order.
fn random_epilogue(
    rng: &mut StdRng,
    rows: usize,
    cols: usize,
    blocks: usize,
    y_stride: i64,
    block_y: i64,
) -> Vec<TileStep> {
    let mut steps = Vec::new();
    for buf in [3u32, 4] {
        if rng.random_bool(0.3) {
            continue;
        }
        let (row, col, block) = match rng.random_range(0..3) {
            0 => (rng.random_range(1..=2), 0, rng.random_range(0..=1)),
            1 => (0, 1, cols as i64),
            _ => (y_stride, 1, block_y),
        };
        let span = (rows as i64 - 1) * row + (blocks as i64 - 1) * block + (cols as i64 - 1) * col;
        steps.push(TileStep::Add(TileAddend {
            buf: nnc_ir::kernel::BufId(buf),
            offset: Expr::index(rng.random_range(0..LENS.e as i64 - span)),
            row,
            col,
            block,
        }));
    }
    if rng.random_bool(0.7) {
        let min = [None, Some(0.0), Some(-0.5)][rng.random_range(0..3)];
        let max = [None, Some(6.0), Some(0.25)][rng.random_range(0..3)];
        let at = rng.random_range(0..=steps.len());
        steps.insert(at, TileStep::Clip { min, max });
    }
    steps
}

/// A program of one kernel per tile (each of every row count, several times).
fn tiles_program(level: Microkernel, seed: u64) -> Program {
    let mut rng = StdRng::seed_from_u64(seed);
    let (max_rows, ..) = limits(level);
    let mut tiles = Vec::new();
    let mut y_len = 0;
    // AVX-512 narrow tiles as tall as their AVX2 form takes.
    let tallest = match level {
        Microkernel::Avx512 => 12,
        _ => max_rows,
    };
    for round in 0..10 {
        for rows in 1..=tallest {
            let _ = round;
            let (tile, span) = random_tile(&mut rng, level, rows, y_len);
            y_len += span;
            tiles.push(tile);
        }
    }
    // Half the tiles with an epilogue apply GELU somewhere in it.
    one_kernel_per_tile(
        (format!("tiles_{}", level.name()), "tile"),
        tiles,
        (LENS, y_len),
        &mut rng,
        |tile, rng| tile.b_row == 0 && rng.random_bool(0.5),
    )
}

/// Compiles the tiles for `cpu`, checks every tile took `level`'s microkernel,
/// and runs them when the host has `features`.
fn check_level(cpu: &[&str], level: Microkernel, runs_here: bool) {
    let program = tiles_program(level, 7 + level as u64);
    let cpu: Vec<String> = cpu.iter().map(|s| s.to_string()).collect();
    let target = parse_target("x86_64", &cpu).expect("x86_64 parses");
    assert_eq!(target.microkernel(), level);
    let object = compile_program(&program, &target).unwrap_or_else(|e| panic!("{e}"));
    assert!(
        object.microkernels.iter().all(|&m| m == level),
        "{:?}",
        object.microkernels
    );
    if !runs_here || !cfg!(target_arch = "x86_64") {
        eprintln!(
            "note: the host cannot run {} tiles; compiled only",
            level.name()
        );
        return;
    }
    run_natively(&program, &object.bytes, LENS, 3, level.name());
}

#[cfg(target_arch = "x86_64")]
#[test]
fn avx512_tiles_match_the_interpreter() {
    let here = std::arch::is_x86_feature_detected!("avx512f");
    check_level(&["avx512f"], Microkernel::Avx512, here);
}

#[cfg(target_arch = "x86_64")]
#[test]
fn avx2_tiles_match_the_interpreter() {
    let here =
        std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma");
    check_level(&["avx2", "fma"], Microkernel::Avx2, here);
}
