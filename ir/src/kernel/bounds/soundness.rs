//! The proof is sound: random kernels that it accepts never leave their buffers
//! when interpreted on random data. (And it accepts enough of them to matter.)

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::check;
use crate::kernel::interp::{InterpError, run_with_budget};
use crate::kernel::{BinaryOp, BufId, CompareOp, ElemType, Expr, KernelBuilder, Ty};

struct Gen {
    rng: StdRng,
    /// Index expressions available as leaves (loop counters, variables).
    leaves: Vec<Expr>,
    /// An i8 buffer readable at `leaves[0]`, for data-dependent values.
    data: BufId,
}

impl Gen {
    fn index(&mut self, depth: u32) -> Expr {
        let rng = &mut self.rng;
        if depth == 0 || rng.random_range(0..4) == 0 {
            return match rng.random_range(0..4) {
                0 => Expr::index(rng.random_range(-6..24)),
                1 => Expr::load(self.data, self.leaves[0].clone(), Ty::scalar(ElemType::I8))
                    .convert(ElemType::I64),
                _ => self.leaves[rng.random_range(0..self.leaves.len())].clone(),
            };
        }
        let k = Expr::index(rng.random_range(1..6) * if rng.random() { 1 } else { -1 });
        match self.rng.random_range(0..9) {
            0 => self.index(depth - 1) + self.index(depth - 1),
            1 => self.index(depth - 1) - self.index(depth - 1),
            2 => self.index(depth - 1).binary(BinaryOp::Mul, k),
            3 => self.index(depth - 1).binary(BinaryOp::Div, k),
            4 => self.index(depth - 1).binary(BinaryOp::Rem, k),
            5 => self.index(depth - 1).min(self.index(depth - 1)),
            6 => self.index(depth - 1).max(self.index(depth - 1)),
            7 => {
                let c = self.cond(depth - 1);
                c.select(self.index(depth - 1), self.index(depth - 1))
            }
            _ => self
                .index(depth - 1)
                .binary(BinaryOp::Add, Expr::index(self.rng.random_range(-3..4))),
        }
    }

    fn cond(&mut self, depth: u32) -> Expr {
        let ops = [
            CompareOp::Lt,
            CompareOp::Le,
            CompareOp::Gt,
            CompareOp::Ge,
            CompareOp::Eq,
            CompareOp::Ne,
        ];
        let op = ops[self.rng.random_range(0..ops.len())];
        let a = self.index(depth);
        let b = if self.rng.random() {
            Expr::index(self.rng.random_range(-2..20))
        } else {
            self.index(depth)
        };
        let c = a.compare(op, b);
        match self.rng.random_range(0..4) {
            0 => c.binary(BinaryOp::And, self.cond(depth.saturating_sub(1))),
            1 => c.binary(BinaryOp::Or, self.cond(depth.saturating_sub(1))),
            _ => c,
        }
    }
}

#[test]
fn accepted_kernels_stay_in_bounds() {
    let mut rng = StdRng::seed_from_u64(7);
    let (mut proven, mut total) = (0, 0);
    for round in 0..3000 {
        let seed = rng.random();
        let mut k = KernelBuilder::new(format!("random{round}"));
        let (ni, nj) = (rng.random_range(1..9), rng.random_range(1..6));
        let step = rng.random_range(1..4);
        let x_len = rng.random_range(1..40);
        let y_len = rng.random_range(1..40);
        let data = k.buffer("d", ElemType::I8, ni as usize, false);
        let x = k.buffer("x", ElemType::F32, x_len, false);
        let y = k.buffer("y", ElemType::F32, y_len, true);
        let depth = rng.random_range(1..4);
        let lanes = if rng.random_range(0..4) == 0 { 4 } else { 1 };
        // A value carried from one iteration to the next.
        let carried = k.let_var("r", Ty::INDEX, Expr::index(rng.random_range(0..5)));
        k.for_range("i", 0, ni, step, |k, i| {
            k.for_range("j", 0, nj, 1, |k, j| {
                let mut g = Gen {
                    rng: StdRng::seed_from_u64(seed),
                    leaves: vec![i.clone(), j.clone(), Expr::var(carried)],
                    data,
                };
                let v = g.index(depth);
                let v = k.let_var("v", Ty::INDEX, v);
                g.leaves.push(Expr::var(v));
                if g.rng.random() {
                    let next = g.index(depth);
                    k.assign(carried, next);
                }
                let guard = g.cond(depth);
                let (to, from) = (g.index(depth), g.index(depth));
                let store = move |k: &mut KernelBuilder| {
                    let value = Expr::load(x, from, Ty::vector(ElemType::F32, lanes));
                    k.store(y, to, value);
                };
                match g.rng.random_range(0..3) {
                    0 => store(k),
                    1 => k.if_then(guard, store),
                    _ => k.if_else(guard, |k| k.fail(3), store),
                }
            });
        });
        let kernel = k.finish();
        total += 1;
        if check(&kernel).is_err() {
            continue;
        }
        proven += 1;
        for _ in 0..4 {
            let d: Vec<u8> = (0..ni).map(|_| rng.random()).collect();
            let mut buffers = vec![d, vec![0; x_len * 4], vec![0; y_len * 4]];
            match run_with_budget(&kernel, &mut buffers, 1 << 20) {
                Ok(_) => {}
                Err(e @ InterpError::OutOfBounds { .. }) => {
                    panic!("proven but out of bounds: {e}\n{kernel}")
                }
                Err(e) => panic!("{e}\n{kernel}"),
            }
        }
    }
    assert!(proven * 5 > total, "only {proven} of {total} proven");
}
