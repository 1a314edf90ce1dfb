//! A vector made of lanes of at most two other vectors (`Expr::Lanes` of
//! `Expr::Extract`s: the even or odd lanes of a row read as two vectors) is one
//! shuffle: CLIF's `shuffle`, which Cranelift lowers to a single instruction
//! for the common patterns (`shufps` on x86_64, `uzp1`/`uzp2` on aarch64), and
//! WebAssembly's `i8x16.shuffle`, instead of an extract and an insert per lane.

use nnc_ir::kernel::Expr;

/// The distinct vectors a `Lanes` takes its lanes from (one or two, in order
/// of first use), and for each result lane its source and lane.
pub(crate) struct LanePicks<'a> {
    pub sources: Vec<&'a Expr>,
    pub picks: Vec<(usize, u8)>,
}

/// The picks of `scalars` when every one is a lane of one of at most two
/// vectors.
pub(crate) fn lane_picks(scalars: &[Expr]) -> Option<LanePicks<'_>> {
    let mut sources: Vec<&Expr> = Vec::new();
    let mut picks = Vec::with_capacity(scalars.len());
    for s in scalars {
        let Expr::Extract(source, lane) = s else {
            return None;
        };
        let index = match sources.iter().position(|&known| known == &**source) {
            Some(index) => index,
            None if sources.len() < 2 => {
                sources.push(source);
                sources.len() - 1
            }
            None => return None,
        };
        picks.push((index, *lane));
    }
    Some(LanePicks { sources, picks })
}

/// The byte mask of CLIF's `shuffle` (two 16-byte operands, byte `i` of the
/// result from byte `mask[i]` of their concatenation) taking result lane `i`
/// from lane `picks[i].1` of source `picks[i].0`, for whole 16-byte vectors of
/// `lanes` lanes of `lane_bytes`.
pub(crate) fn shuffle_mask(
    picks: &[(usize, u8)],
    lanes: u8,
    lane_bytes: usize,
) -> Option<[u8; 16]> {
    if lanes as usize * lane_bytes != 16 || picks.len() != lanes as usize {
        return None;
    }
    let mut mask = [0u8; 16];
    for (i, &(source, lane)) in picks.iter().enumerate() {
        if lane >= lanes || source > 1 {
            return None;
        }
        for b in 0..lane_bytes {
            mask[i * lane_bytes + b] = (source * 16 + lane as usize * lane_bytes + b) as u8;
        }
    }
    Some(mask)
}

#[cfg(test)]
mod tests {
    use nnc_ir::kernel::{BufId, Expr, Ty};

    use super::{lane_picks, shuffle_mask};

    #[test]
    fn even_lanes_of_two_vectors_are_one_shuffle() {
        let a = Expr::load(
            BufId(0),
            Expr::index(0),
            Ty::vector(nnc_ir::kernel::ElemType::F32, 4),
        );
        let b = Expr::load(
            BufId(0),
            Expr::index(4),
            Ty::vector(nnc_ir::kernel::ElemType::F32, 4),
        );
        let evens = [
            a.clone().extract(0),
            a.extract(2),
            b.clone().extract(0),
            b.extract(2),
        ];
        let picks = lane_picks(&evens).expect("two sources");
        assert_eq!(picks.sources.len(), 2);
        assert_eq!(picks.picks, [(0, 0), (0, 2), (1, 0), (1, 2)]);
        let mask = shuffle_mask(&picks.picks, 4, 4).expect("a 16-byte vector");
        assert_eq!(
            mask,
            [0, 1, 2, 3, 8, 9, 10, 11, 16, 17, 18, 19, 24, 25, 26, 27]
        );
        // A third source, or a scalar that is not a lane, is no shuffle.
        let c = Expr::f32(1.0).splat(4);
        let three = [
            evens[0].clone(),
            evens[2].clone(),
            c.extract(1),
            evens[1].clone(),
        ];
        assert!(lane_picks(&three).is_none());
        assert!(lane_picks(&[Expr::f32(0.0), evens[0].clone()]).is_none());
    }
}
