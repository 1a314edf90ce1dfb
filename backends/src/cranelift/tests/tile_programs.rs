//! What the microkernel tests share: a program of one kernel per random tile
//! over the same five buffers (A, B, Y and two epilogue addends), its random
//! inputs, and its native run compared with the interpreter's. The tile
//! generators differ (every GEMM tile form, the run form); the harness around
//! them is one.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use nnc_ir::DType;
use nnc_ir::kernel::{BufferRef, ElemType, GemmTile, KernelBuilder, Program, TileFn, TileStep};
use nnc_ir::ops::Unary;

use super::{HOST, Scratch, assert_same, bytes_of, call, driver, io, reference};

/// Elements of a tile program's A, B, and each of its two addend buffers.
#[derive(Clone, Copy)]
pub(super) struct Lens {
    pub a: usize,
    pub b: usize,
    pub e: usize,
}

/// A program `name` of one kernel per tile (kernel `i` named `{prefix}{i}`),
/// each over buffers a, b, y (of `y_len`), e0, e1: the program's inputs 0, 1,
/// its output, inputs 2, 3. Where `wants_gelu` says so, the exact GELU goes
/// at a random place of the tile's epilogue.
pub(super) fn one_kernel_per_tile(
    (name, prefix): (String, &str),
    tiles: Vec<GemmTile>,
    (lens, y_len): (Lens, usize),
    rng: &mut StdRng,
    wants_gelu: impl Fn(&GemmTile, &mut StdRng) -> bool,
) -> Program {
    let kernels: Vec<_> = tiles
        .into_iter()
        .enumerate()
        .map(|(i, mut tile)| {
            let mut kb = KernelBuilder::new(format!("{prefix}{i}"));
            kb.buffer("a", ElemType::F32, lens.a, false);
            kb.buffer("b", ElemType::F32, lens.b, false);
            kb.buffer("y", ElemType::F32, y_len, true);
            kb.buffer("e0", ElemType::F32, lens.e, false);
            kb.buffer("e1", ElemType::F32, lens.e, false);
            if wants_gelu(&tile, rng) {
                let gelu = Unary::Gelu {
                    tanh_approximation: false,
                };
                let map = crate::lower::tile_map(&mut kb, TileFn::Gelu, gelu, tile.lanes);
                let at = rng.random_range(0..=tile.epilogue.len());
                tile.epilogue.insert(at, TileStep::Map(map));
            }
            kb.tile(tile);
            kb.finish()
        })
        .collect();
    let args = [
        BufferRef::Input(0),
        BufferRef::Input(1),
        BufferRef::Output(0),
        BufferRef::Input(2),
        BufferRef::Input(3),
    ];
    Program {
        name,
        inputs: vec![
            io("a", DType::F32, &[lens.a]),
            io("b", DType::F32, &[lens.b]),
            io("e0", DType::F32, &[lens.e]),
            io("e1", DType::F32, &[lens.e]),
        ],
        outputs: vec![io("y", DType::F32, &[y_len])],
        arena_bytes: 0,
        arena_align: 16,
        weights: vec![],
        calls: (0..kernels.len()).map(|k| call(k, &args)).collect(),
        kernels,
    }
}

/// Random values in [-1, 1) for a tile program's inputs (A, B, e0, e1).
fn random_inputs(seed: u64, lens: Lens) -> Vec<Vec<u8>> {
    let mut rng = StdRng::seed_from_u64(seed);
    [lens.a, lens.b, lens.e, lens.e]
        .iter()
        .map(|&n| {
            let v: Vec<f32> = (0..n).map(|_| rng.random_range(-1.0f32..1.0)).collect();
            bytes_of(&v)
        })
        .collect()
}

/// Links `object` (`program` compiled for the host) with a driver, runs it
/// natively on the random inputs of `seed`, and asserts its outputs are the
/// interpreter's; `label` names the run in messages and its scratch folder.
pub(super) fn run_natively(program: &Program, object: &[u8], lens: Lens, seed: u64, label: &str) {
    let inputs = random_inputs(seed, lens);
    let want = reference(program, &inputs);
    let scratch = Scratch::new(&program.name, label);
    let report = HOST.link_and_run(&scratch.0, object, &driver::c_driver(program, &inputs));
    let got = driver::parse_outcome(&report, program.outputs.len());
    assert_same(program, label, &got, &want);
}
