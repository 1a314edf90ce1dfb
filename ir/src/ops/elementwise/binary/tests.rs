use half::f16;
use rand::Rng;

use super::*;
use crate::shape::strides;

fn run(op: Binary, a: &Tensor, b: &Tensor) -> OpResult<Tensor> {
    Ok(op.eval(&[Some(a), Some(b)], 1)?.remove(0))
}

fn vec1<T: Element>(values: &[T]) -> Tensor {
    Tensor::from_vec(vec![values.len()], values.to_vec()).unwrap()
}

#[test]
fn arithmetic_broadcasts() {
    let a = Tensor::from_vec(vec![2, 3], vec![1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0]).unwrap();
    let b = vec1(&[10.0f32, 20.0, 30.0]);
    let sum = run(Binary::Add, &a, &b).unwrap();
    assert_eq!(sum.shape(), &[2, 3]);
    assert_eq!(
        sum.to_vec::<f32>().unwrap(),
        vec![11.0, 22.0, 33.0, 14.0, 25.0, 36.0]
    );
    let col = Tensor::from_vec(vec![2, 1], vec![2.0f32, 4.0]).unwrap();
    let quotient = run(Binary::Div, &a, &col).unwrap();
    assert_eq!(
        quotient.to_vec::<f32>().unwrap(),
        vec![0.5, 1.0, 1.5, 1.0, 1.25, 1.5]
    );
    let outer = run(Binary::Mul, &col, &b).unwrap();
    assert_eq!(outer.shape(), &[2, 3]);
    assert_eq!(
        outer.to_vec::<f32>().unwrap(),
        vec![20.0, 40.0, 60.0, 40.0, 80.0, 120.0]
    );
}

#[test]
fn integer_division_truncates_and_refuses_zero() {
    let a = vec1(&[7i32, -7, 7, -7]);
    let b = vec1(&[2i32, 2, -2, -2]);
    assert_eq!(
        run(Binary::Div, &a, &b).unwrap().to_vec::<i32>().unwrap(),
        vec![3, -3, -3, 3]
    );
    let zero = vec1(&[1i32, 0, 1, 1]);
    assert!(run(Binary::Div, &a, &zero).is_err());
    assert!(run(Binary::Mod { fmod: false }, &a, &zero).is_err());
}

#[test]
fn modulo_follows_onnx() {
    let a = vec1(&[-4i64, 7, 5, -9]);
    let b = vec1(&[3i64, -3, 3, -2]);
    let floored = run(Binary::Mod { fmod: false }, &a, &b).unwrap();
    assert_eq!(floored.to_vec::<i64>().unwrap(), vec![2, -2, 2, -1]);
    let truncated = run(Binary::Mod { fmod: true }, &a, &b).unwrap();
    assert_eq!(truncated.to_vec::<i64>().unwrap(), vec![-1, 1, 2, -1]);
    let x = vec1(&[-4.5f64, 7.0]);
    let y = vec1(&[2.0f64, -3.0]);
    assert_eq!(
        run(Binary::Mod { fmod: true }, &x, &y)
            .unwrap()
            .to_vec::<f64>()
            .unwrap(),
        vec![-0.5, 1.0]
    );
    assert_eq!(
        run(Binary::Mod { fmod: false }, &x, &y)
            .unwrap()
            .to_vec::<f64>()
            .unwrap(),
        vec![1.5, -2.0]
    );
}

#[test]
fn pow_keeps_the_base_type() {
    let base = vec1(&[2.0f32, 3.0, 4.0]);
    let exponent = vec1(&[3i64, 2, -1]);
    let y = run(Binary::Pow, &base, &exponent).unwrap();
    assert_eq!(y.to_vec::<f32>().unwrap(), vec![8.0, 9.0, 0.25]);
    let ints = vec1(&[2i32, 3, 2]);
    let y = run(Binary::Pow, &ints, &exponent).unwrap();
    assert_eq!(y.to_vec::<i32>().unwrap(), vec![8, 9, 0]);
    let halves = vec1(&[0.5f32]);
    let y = run(Binary::Pow, &vec1(&[9i64, 16]), &halves).unwrap();
    assert_eq!(y.to_vec::<i64>().unwrap(), vec![3, 4]);
    let bool_exponent = vec1(&[true]);
    assert!(run(Binary::Pow, &base, &bool_exponent).is_err());
}

#[test]
fn comparisons_and_logic_output_bool() {
    let a = vec1(&[1u8, 5, 3]);
    let b = vec1(&[3u8, 5, 1]);
    let cases = [
        (Binary::Equal, [false, true, false]),
        (Binary::Less, [true, false, false]),
        (Binary::LessOrEqual, [true, true, false]),
        (Binary::Greater, [false, false, true]),
        (Binary::GreaterOrEqual, [false, true, true]),
    ];
    for (op, want) in cases {
        assert_eq!(
            run(op, &a, &b).unwrap().to_vec::<bool>().unwrap(),
            want,
            "{op:?}"
        );
    }
    let p = vec1(&[true, true, false, false]);
    let q = vec1(&[true, false, true, false]);
    assert_eq!(
        run(Binary::And, &p, &q).unwrap().to_vec::<bool>().unwrap(),
        [true, false, false, false]
    );
    assert_eq!(
        run(Binary::Or, &p, &q).unwrap().to_vec::<bool>().unwrap(),
        [true, true, true, false]
    );
    assert_eq!(
        run(Binary::Xor, &p, &q).unwrap().to_vec::<bool>().unwrap(),
        [false, true, true, false]
    );
    assert_eq!(
        run(Binary::Equal, &p, &q)
            .unwrap()
            .to_vec::<bool>()
            .unwrap(),
        [true, false, false, true]
    );
    assert!(run(Binary::And, &a, &b).is_err());
    assert!(run(Binary::Less, &p, &q).is_err());
    let nan = vec1(&[f32::NAN]);
    assert_eq!(
        run(Binary::Equal, &nan, &nan)
            .unwrap()
            .to_vec::<bool>()
            .unwrap(),
        [false]
    );
}

#[test]
fn bit_ops_on_integers() {
    let a = vec1(&[0b1100u16, 1, 0xffff]);
    let b = vec1(&[0b1010u16, 15, 16]);
    assert_eq!(
        run(Binary::BitwiseAnd, &a, &b)
            .unwrap()
            .to_vec::<u16>()
            .unwrap(),
        [0b1000, 1, 16]
    );
    assert_eq!(
        run(Binary::BitwiseOr, &a, &b)
            .unwrap()
            .to_vec::<u16>()
            .unwrap(),
        [0b1110, 15, 0xffff]
    );
    assert_eq!(
        run(Binary::BitwiseXor, &a, &b)
            .unwrap()
            .to_vec::<u16>()
            .unwrap(),
        [0b0110, 14, 0xffef]
    );
    assert_eq!(
        run(Binary::BitShiftLeft, &a, &b)
            .unwrap()
            .to_vec::<u16>()
            .unwrap(),
        [0x3000, 0x8000, 0]
    );
    assert_eq!(
        run(Binary::BitShiftRight, &a, &b)
            .unwrap()
            .to_vec::<u16>()
            .unwrap(),
        [0, 0, 0]
    );
    let signed = vec1(&[-16i32, 16]);
    let by = vec1(&[2i32, 40]);
    assert_eq!(
        run(Binary::BitShiftRight, &signed, &by)
            .unwrap()
            .to_vec::<i32>()
            .unwrap(),
        [-4, 0]
    );
    assert!(run(Binary::BitwiseAnd, &vec1(&[1.0f32]), &vec1(&[1.0f32])).is_err());
}

#[test]
fn prelu_broadcasts_the_slope_only() {
    let x = Tensor::from_vec(vec![2, 2], vec![-1.0f32, 2.0, -3.0, 4.0]).unwrap();
    let slope = Tensor::from_vec(vec![2, 1], vec![0.5f32, 0.25]).unwrap();
    let y = run(Binary::PRelu, &x, &slope).unwrap();
    assert_eq!(y.to_vec::<f32>().unwrap(), vec![-0.5, 2.0, -0.75, 4.0]);
    let wide = Tensor::from_vec(vec![3, 2, 2], vec![0.5f32; 12]).unwrap();
    assert!(run(Binary::PRelu, &x, &wide).is_err());
}

#[test]
fn max_min_propagate_nan_and_f16_rounds() {
    let a = vec1(&[1.0f32, f32::NAN]);
    let b = vec1(&[2.0f32, 0.0]);
    let max = run(Binary::Max, &a, &b).unwrap().to_vec::<f32>().unwrap();
    assert_eq!(max[0], 2.0);
    assert!(max[1].is_nan());
    let h = vec1(&[f16::from_f32(1.0)]);
    let tiny = vec1(&[f16::from_f32(0.0004)]);
    // 1 + 0.0004 is not representable in f16: rounds back to 1.
    assert_eq!(
        run(Binary::Add, &h, &tiny)
            .unwrap()
            .to_vec::<f16>()
            .unwrap(),
        vec![f16::ONE]
    );
}

#[test]
fn infer_refuses_mismatches() {
    let f = TensorType::new(DType::F32, vec![2, 3]);
    let i = TensorType::new(DType::I32, vec![3]);
    let bad = TensorType::new(DType::F32, vec![4]);
    let fact = |ty| Some(Fact { ty, value: None });
    assert!(Binary::Add.infer(&[fact(&f), fact(&i)], 1).is_err());
    assert!(Binary::Add.infer(&[fact(&f), fact(&bad)], 1).is_err());
    assert!(Binary::Add.infer(&[fact(&f), None], 1).is_err());
    assert!(Binary::Add.infer(&[fact(&f)], 1).is_err());
    assert_eq!(
        Binary::Pow.infer(&[fact(&f), fact(&i)], 1).unwrap(),
        vec![TensorType::new(DType::F32, vec![2, 3])]
    );
    assert_eq!(
        Binary::Less.infer(&[fact(&i), fact(&i)], 1).unwrap(),
        vec![TensorType::new(DType::Bool, vec![3])]
    );
}

/// Naive broadcasting: each output element's multi-index mapped into both operands.
fn naive<T: Copy>(
    out: &[usize],
    a: &[usize],
    av: &[T],
    b: &[usize],
    bv: &[T],
    f: impl Fn(T, T) -> T,
) -> Vec<T> {
    let at = |shape: &[usize], index: &[usize]| -> usize {
        let skip = index.len() - shape.len();
        let s = strides(shape);
        (0..shape.len())
            .map(|i| {
                if shape[i] == 1 {
                    0
                } else {
                    index[skip + i] * s[i]
                }
            })
            .sum()
    };
    let s = strides(out);
    (0..out.iter().product())
        .map(|flat: usize| {
            let index: Vec<usize> = s.iter().zip(out).map(|(&st, &d)| flat / st % d).collect();
            f(av[at(a, &index)], bv[at(b, &index)])
        })
        .collect()
}

#[test]
fn random_broadcasts_match_naive_indexing() {
    let mut rng = rand::rng();
    for _ in 0..200 {
        let rank = rng.random_range(0..5);
        let out: Vec<usize> = (0..rank).map(|_| rng.random_range(0..4)).collect();
        let mut pick = || -> Vec<usize> {
            let r = rng.random_range(0..=rank);
            out[rank - r..]
                .iter()
                .map(|&d| if rng.random_bool(0.3) { 1 } else { d })
                .collect()
        };
        let (a, b) = (pick(), pick());
        let full = broadcast(&a, &b).unwrap();
        let mut rng = rand::rng();
        let av: Vec<i32> = (0..a.iter().product())
            .map(|_| rng.random_range(-100..100))
            .collect();
        let bv: Vec<i32> = (0..b.iter().product())
            .map(|_| rng.random_range(-100..100))
            .collect();
        let at = Tensor::from_vec(a.clone(), av.clone()).unwrap();
        let bt = Tensor::from_vec(b.clone(), bv.clone()).unwrap();
        let got = run(Binary::Sub, &at, &bt).unwrap();
        assert_eq!(got.shape(), &full[..]);
        assert_eq!(
            got.to_vec::<i32>().unwrap(),
            naive(&full, &a, &av, &b, &bv, |x, y| x - y),
            "{a:?} {b:?}"
        );
    }
}
