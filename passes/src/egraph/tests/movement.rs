//! Movement chains: Reshape / Transpose chains whose composite keeps row-major
//! order collapse to one Reshape (checked against `ir::eval`); chains that move
//! elements keep their Transpose.

use nnc_ir::ops::{Binary, Reshape, Transpose, Unary};
use nnc_ir::{Op, ValueId};
use rand::Rng;
use rand::seq::SliceRandom;

use super::{Builder, count, optimise};

fn reshape(b: &mut Builder, x: ValueId, shape: Vec<usize>) -> ValueId {
    b.node(Op::Reshape(Reshape { shape }), &[Some(x)])
}

fn transpose(b: &mut Builder, x: ValueId, perm: Vec<usize>) -> ValueId {
    b.node(Op::Transpose(Transpose { perm }), &[Some(x)])
}

/// A random factorisation of `n` into `parts` dims (some may be 1).
fn factors(b: &mut Builder, mut n: usize, parts: usize) -> Vec<usize> {
    let mut dims = vec![1; parts];
    let mut k = 2;
    while n > 1 {
        while !n.is_multiple_of(k) {
            k += 1;
        }
        n /= k;
        let at = b.rng.random_range(0..parts);
        dims[at] *= k;
    }
    dims
}

/// `Reshape -> Transpose p -> Reshape -> Transpose p^-1 -> Reshape` laid out so
/// that the composite is the identity (the ViT patch-embedding shape): no
/// Transpose is left.
#[test]
fn identity_chains_become_one_reshape() {
    for seed in 0..16 {
        let mut b = Builder::new(seed);
        let (h, w, c) = (
            b.rng.random_range(1..5),
            b.rng.random_range(1..5),
            b.rng.random_range(2..7),
        );
        let x = b.input(&[h * w, c]);
        // A producer, so the chain is not over a graph input alone.
        let x = b.node(Op::Unary(Unary::Relu), &[Some(x)]);
        let y = reshape(&mut b, x, vec![1, h, w, c]);
        let y = transpose(&mut b, y, vec![0, 3, 1, 2]);
        let y = reshape(&mut b, y, vec![1, c, h * w]);
        let y = transpose(&mut b, y, vec![0, 2, 1]);
        let e = b.input(&[1, h * w, c]);
        let z = b.binary(Binary::Add, y, e);
        let (g, mut rng) = b.finish(vec![z]);
        let (out, report) = optimise(&g, &mut rng);
        assert_eq!(count(&out, "Transpose"), 0, "seed {seed}\n{out}");
        assert!(report.rewrites.contains_key("movement-identity"), "{out}");
    }
}

/// Random chains: a random reshape and permutation, then their inverses, so the
/// composite is the identity; and the same chain without the last inverse (a
/// real permutation), which must keep a Transpose.
#[test]
fn random_round_trips_and_near_misses() {
    for seed in 0..24 {
        let mut b = Builder::new(100 + seed);
        let n = b.rng.random_range(2..4) * b.rng.random_range(1..5) * b.rng.random_range(2..4);
        let rank = b.rng.random_range(2..5);
        let dims = factors(&mut b, n, rank);
        let x = b.input(&[n]);
        let x = b.node(Op::Unary(Unary::Relu), &[Some(x)]);
        let mut perm: Vec<usize> = (0..rank).collect();
        perm.shuffle(&mut b.rng);
        let mut inverse = vec![0; rank];
        for (i, &p) in perm.iter().enumerate() {
            inverse[p] = i;
        }
        let y = reshape(&mut b, x, dims.clone());
        let y = transpose(&mut b, y, perm.clone());
        let permuted: Vec<usize> = perm.iter().map(|&p| dims[p]).collect();
        let flat = reshape(&mut b, y, vec![n]);
        let back = reshape(&mut b, flat, permuted);
        let near_miss = seed % 2 == 1;
        let y = if near_miss {
            back
        } else {
            transpose(&mut b, back, inverse)
        };
        let y = reshape(&mut b, y, vec![n]);
        let z = b.node(Op::Unary(Unary::Neg), &[Some(y)]);
        let (g, mut rng) = b.finish(vec![z]);
        let (out, _) = optimise(&g, &mut rng);
        let moves = perm
            .iter()
            .enumerate()
            .any(|(i, &p)| i != p && dims[p] > 1 && dims[i] > 1);
        if near_miss && moves {
            assert!(count(&out, "Transpose") >= 1, "seed {seed}\n{g}\n{out}");
        } else if !near_miss {
            assert_eq!(count(&out, "Transpose"), 0, "seed {seed}\n{g}\n{out}");
        }
    }
}
