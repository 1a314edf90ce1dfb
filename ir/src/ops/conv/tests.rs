//! Conv and ConvTranspose against hand-checked values and naive loops over random
//! shapes, strides, dilations, pads and groups.

use rand::{Rng, SeedableRng, rngs::StdRng};

use super::*;
use crate::f16;

fn ty(t: &Tensor) -> TensorType {
    TensorType::new(t.dtype(), t.shape().to_vec())
}

/// Infers then evaluates, checking that both agree on the output type.
fn run(op: &dyn Semantics, inputs: &[Option<&Tensor>]) -> OpResult<Tensor> {
    let types: Vec<Option<TensorType>> = inputs.iter().map(|t| t.map(ty)).collect();
    let facts: Vec<Option<Fact>> = types
        .iter()
        .map(|t| t.as_ref().map(|ty| Fact { ty, value: None }))
        .collect();
    let inferred = op.infer(&facts, 1)?;
    let y = op.eval(inputs, 1)?.remove(0);
    assert_eq!(inferred[0], ty(&y));
    Ok(y)
}

fn tensor(shape: &[usize], values: Vec<f32>) -> Tensor {
    Tensor::from_vec(shape.to_vec(), values).unwrap()
}

fn conv(
    kernel: &[usize],
    strides: &[usize],
    pads: &[usize],
    dilations: &[usize],
    group: usize,
) -> Conv {
    Conv {
        kernel_shape: kernel.to_vec(),
        strides: strides.to_vec(),
        pads: pads.to_vec(),
        dilations: dilations.to_vec(),
        group,
    }
}

#[test]
fn conv_2d_by_hand() {
    // The ONNX conv_with_padding example: 5x5 ramp, 3x3 ones kernel, pad 1.
    let x = tensor(&[1, 1, 5, 5], (0..25).map(|v| v as f32).collect());
    let w = tensor(&[1, 1, 3, 3], vec![1.0; 9]);
    let y = run(
        &conv(&[3, 3], &[1, 1], &[1, 1, 1, 1], &[1, 1], 1),
        &[Some(&x), Some(&w)],
    )
    .unwrap();
    assert_eq!(y.shape(), &[1, 1, 5, 5]);
    #[rustfmt::skip]
    let want = vec![
        12., 21., 27., 33., 24., 33., 54., 63., 72., 51., 63., 99., 108., 117., 81.,
        93., 144., 153., 162., 111., 72., 111., 117., 123., 84.,
    ];
    assert_eq!(y.to_vec::<f32>().unwrap(), want);
    // Stride 2 without padding, and a bias.
    let b = tensor(&[1], vec![0.5]);
    let y = run(
        &conv(&[3, 3], &[2, 2], &[0, 0, 0, 0], &[1, 1], 1),
        &[Some(&x), Some(&w), Some(&b)],
    )
    .unwrap();
    assert_eq!(y.to_vec::<f32>().unwrap(), vec![54.5, 72.5, 144.5, 162.5]);
}

#[test]
fn conv_defaults_empty_attributes_and_refuses_bad_operands() {
    let x = tensor(&[1, 2, 4], vec![1.0; 8]);
    let w = tensor(&[3, 2, 2], vec![1.0; 12]);
    let y = run(&conv(&[], &[], &[], &[], 1), &[Some(&x), Some(&w)]).unwrap();
    assert_eq!(y.shape(), &[1, 3, 3]);
    assert!(y.to_vec::<f32>().unwrap().iter().all(|&v| v == 4.0));
    // Channels that do not match the group.
    assert!(run(&conv(&[], &[], &[], &[], 2), &[Some(&x), Some(&w)]).is_err());
    // Kernel larger than the input.
    let big = tensor(&[1, 2, 5], vec![0.0; 10]);
    assert!(run(&conv(&[], &[], &[], &[], 1), &[Some(&x), Some(&big)]).is_err());
    // Wrong bias length, integer operands, zero stride.
    let b = tensor(&[2], vec![0.0; 2]);
    assert!(
        run(
            &conv(&[], &[], &[], &[], 1),
            &[Some(&x), Some(&w), Some(&b)]
        )
        .is_err()
    );
    let xi = Tensor::from_vec(vec![1, 2, 4], vec![0i32; 8]).unwrap();
    assert!(run(&conv(&[], &[], &[], &[], 1), &[Some(&xi), Some(&w)]).is_err());
    assert!(run(&conv(&[2], &[0], &[], &[], 1), &[Some(&x), Some(&w)]).is_err());
    assert!(run(&conv(&[2], &[1], &[1], &[], 1), &[Some(&x), Some(&w)]).is_err());
    assert!(Conv::eval(&conv(&[], &[], &[], &[], 1), &[Some(&x)], 1).is_err());
}

#[test]
fn conv_f16_and_f64() {
    let x = Tensor::from_vec(
        vec![1, 1, 3],
        vec![f16::from_f32(1.0), f16::from_f32(2.0), f16::from_f32(3.0)],
    )
    .unwrap();
    let w = Tensor::from_vec(vec![1, 1, 2], vec![f16::from_f32(0.5), f16::from_f32(-1.0)]).unwrap();
    let y = run(&conv(&[2], &[1], &[0, 0], &[1], 1), &[Some(&x), Some(&w)]).unwrap();
    assert_eq!(
        y.to_vec::<f16>().unwrap(),
        vec![f16::from_f32(-1.5), f16::from_f32(-2.0)]
    );
    let x = Tensor::from_vec(vec![1, 1, 3], vec![1.0f64, 2.0, 3.0]).unwrap();
    let w = Tensor::from_vec(vec![1, 1, 2], vec![0.5f64, -1.0]).unwrap();
    let y = run(&conv(&[2], &[1], &[0, 0], &[1], 1), &[Some(&x), Some(&w)]).unwrap();
    assert_eq!(y.to_vec::<f64>().unwrap(), vec![-1.5, -2.0]);
}

/// Row-major offset of a multi-index.
fn offset(index: &[usize], shape: &[usize]) -> usize {
    index.iter().zip(shape).fold(0, |acc, (i, d)| acc * d + i)
}

/// Conv as its definition: for every output element, the sum over input channels of
/// its group and kernel positions whose input pixel lies inside the input.
fn naive_conv(
    x: &[f64],
    xs: &[usize],
    w: &[f64],
    ws: &[usize],
    b: Option<&[f64]>,
    c: &Conv,
    ys: &[usize],
) -> Vec<f64> {
    let spatial = xs.len() - 2;
    let (cg, mg) = (ws[1], ws[0] / c.group);
    let mut y = vec![0.0; ys.iter().product()];
    for oi in MultiIndex::new(ys) {
        let (n, m) = (oi[0], oi[1]);
        let g = m / mg;
        let mut acc = b.map_or(0.0, |b| b[m]);
        for ci in 0..cg {
            for ki in MultiIndex::new(&ws[2..]) {
                let mut xi = vec![n, g * cg + ci];
                let mut inside = true;
                for d in 0..spatial {
                    let pos = (oi[2 + d] * c.strides[d] + ki[d] * c.dilations[d]) as isize
                        - c.pads[d] as isize;
                    inside &= pos >= 0 && pos < xs[2 + d] as isize;
                    xi.push(pos.max(0) as usize);
                }
                if inside {
                    let mut wi = vec![m, ci];
                    wi.extend(&ki);
                    acc += x[offset(&xi, xs)] * w[offset(&wi, ws)];
                }
            }
        }
        y[offset(&oi, ys)] = acc;
    }
    y
}

/// A random convolution geometry: attributes, input spatial dims, and the group,
/// input channels per group and output channels per group.
struct Case {
    kernel: Vec<usize>,
    strides: Vec<usize>,
    dilations: Vec<usize>,
    pads: Vec<usize>,
    input: Vec<usize>,
    group: usize,
    cg: usize,
    mg: usize,
}

fn random_case(rng: &mut StdRng, spatial: usize) -> Case {
    let group = rng.random_range(1..=3);
    let cg = rng.random_range(1..=3);
    let mg = rng.random_range(1..=3);
    let kernel: Vec<usize> = (0..spatial).map(|_| rng.random_range(1..=3)).collect();
    let strides: Vec<usize> = (0..spatial).map(|_| rng.random_range(1..=3)).collect();
    let dilations: Vec<usize> = (0..spatial).map(|_| rng.random_range(1..=2)).collect();
    let pads: Vec<usize> = (0..2 * spatial).map(|_| rng.random_range(0..=2)).collect();
    let input: Vec<usize> = (0..spatial)
        .map(|d| (kernel[d] - 1) * dilations[d] + 1 + rng.random_range(0..5))
        .collect();
    Case {
        kernel,
        strides,
        dilations,
        pads,
        input,
        group,
        cg,
        mg,
    }
}

#[test]
fn conv_matches_naive_loops_on_random_cases() {
    let mut rng = StdRng::seed_from_u64(42);
    for case in 0..60 {
        let spatial = 1 + case % 3;
        let Case {
            kernel,
            strides,
            dilations,
            pads,
            input,
            group,
            cg,
            mg,
        } = random_case(&mut rng, spatial);
        let n = rng.random_range(1..=2);
        let mut xs = vec![n, group * cg];
        xs.extend(&input);
        let mut ws = vec![group * mg, cg];
        ws.extend(&kernel);
        let xv: Vec<f64> = (0..xs.iter().product())
            .map(|_| rng.random_range(-1.0..1.0))
            .collect();
        let wv: Vec<f64> = (0..ws.iter().product())
            .map(|_| rng.random_range(-1.0..1.0))
            .collect();
        let bv: Vec<f64> = (0..group * mg)
            .map(|_| rng.random_range(-1.0..1.0))
            .collect();
        let c = conv(&kernel, &strides, &pads, &dilations, group);
        let x = Tensor::from_vec(xs.clone(), xv.clone()).unwrap();
        let w = Tensor::from_vec(ws.clone(), wv.clone()).unwrap();
        let b = Tensor::from_vec(vec![group * mg], bv.clone()).unwrap();
        let with_bias = case % 2 == 0;
        let inputs = [Some(&x), Some(&w), with_bias.then_some(&b)];
        let y = run(&c, &inputs).unwrap();
        let want = naive_conv(
            &xv,
            &xs,
            &wv,
            &ws,
            with_bias.then_some(&bv[..]),
            &c,
            y.shape(),
        );
        let got = y.to_vec::<f64>().unwrap();
        for (g, w) in got.iter().zip(&want) {
            assert!(
                (g - w).abs() < 1e-9,
                "case {case}: {c:?} on {xs:?}: {g} vs {w}"
            );
        }
    }
}

/// ConvTranspose as its definition: every input pixel scatters `x * w` to the
/// output pixel `i * stride + k * dilation - pad_begin` when that is inside.
fn naive_conv_transpose(
    x: &[f64],
    xs: &[usize],
    w: &[f64],
    ws: &[usize],
    b: Option<&[f64]>,
    c: &ConvTranspose,
    ys: &[usize],
) -> Vec<f64> {
    let spatial = xs.len() - 2;
    let (cg, mg) = (xs[1] / c.group, ws[1]);
    let mut y = vec![0.0; ys.iter().product()];
    for oi in MultiIndex::new(ys) {
        y[offset(&oi, ys)] = b.map_or(0.0, |b| b[oi[1]]);
    }
    for xi in MultiIndex::new(xs) {
        let (n, ci) = (xi[0], xi[1]);
        let g = ci / cg;
        for om in 0..mg {
            for ki in MultiIndex::new(&ws[2..]) {
                let mut oi = vec![n, g * mg + om];
                let mut inside = true;
                for d in 0..spatial {
                    let pos = (xi[2 + d] * c.strides[d] + ki[d] * c.dilations[d]) as isize
                        - c.pads[d] as isize;
                    inside &= pos >= 0 && pos < ys[2 + d] as isize;
                    oi.push(pos.max(0) as usize);
                }
                if inside {
                    let mut wi = vec![ci, om];
                    wi.extend(&ki);
                    y[offset(&oi, ys)] += x[offset(&xi, xs)] * w[offset(&wi, ws)];
                }
            }
        }
    }
    y
}

#[test]
fn conv_transpose_matches_naive_loops_on_random_cases() {
    let mut rng = StdRng::seed_from_u64(43);
    for case in 0..60 {
        let spatial = 1 + case % 3;
        let Case {
            kernel,
            strides,
            dilations,
            pads,
            input,
            group,
            cg,
            mg,
        } = random_case(&mut rng, spatial);
        let output_padding: Vec<usize> = (0..spatial)
            .map(|d| rng.random_range(0..strides[d].max(dilations[d])))
            .collect();
        let n = rng.random_range(1..=2);
        let mut xs = vec![n, group * cg];
        xs.extend(&input);
        let mut ws = vec![group * cg, mg];
        ws.extend(&kernel);
        let xv: Vec<f64> = (0..xs.iter().product())
            .map(|_| rng.random_range(-1.0..1.0))
            .collect();
        let wv: Vec<f64> = (0..ws.iter().product())
            .map(|_| rng.random_range(-1.0..1.0))
            .collect();
        let bv: Vec<f64> = (0..group * mg)
            .map(|_| rng.random_range(-1.0..1.0))
            .collect();
        let c = ConvTranspose {
            kernel_shape: kernel.clone(),
            strides: strides.clone(),
            pads: pads.clone(),
            dilations: dilations.clone(),
            output_padding,
            group,
        };
        let x = Tensor::from_vec(xs.clone(), xv.clone()).unwrap();
        let w = Tensor::from_vec(ws.clone(), wv.clone()).unwrap();
        let b = Tensor::from_vec(vec![group * mg], bv.clone()).unwrap();
        let with_bias = case % 2 == 0;
        let inputs = [Some(&x), Some(&w), with_bias.then_some(&b)];
        let Ok(y) = run(&c, &inputs) else {
            // Pads may eat the whole output; that must be an error, not a panic.
            continue;
        };
        for d in 0..spatial {
            let want = strides[d] * (input[d] - 1)
                + c.output_padding[d]
                + (kernel[d] - 1) * dilations[d]
                + 1
                - pads[d]
                - pads[spatial + d];
            assert_eq!(y.shape()[2 + d], want);
        }
        let want = naive_conv_transpose(
            &xv,
            &xs,
            &wv,
            &ws,
            with_bias.then_some(&bv[..]),
            &c,
            y.shape(),
        );
        let got = y.to_vec::<f64>().unwrap();
        for (g, w) in got.iter().zip(&want) {
            assert!(
                (g - w).abs() < 1e-9,
                "case {case}: {c:?} on {xs:?}: {g} vs {w}"
            );
        }
    }
}

#[test]
fn conv_transpose_by_hand() {
    // The ONNX convtranspose example: 3x3 input, two 3x3 ones kernels, stride 1.
    let x = tensor(&[1, 1, 3, 3], (0..9).map(|v| v as f32).collect());
    let w = tensor(&[1, 2, 3, 3], vec![1.0; 18]);
    let c = ConvTranspose {
        kernel_shape: vec![],
        strides: vec![],
        pads: vec![],
        dilations: vec![],
        output_padding: vec![],
        group: 1,
    };
    let y = run(&c, &[Some(&x), Some(&w)]).unwrap();
    assert_eq!(y.shape(), &[1, 2, 5, 5]);
    #[rustfmt::skip]
    let plane = [
        0., 1., 3., 3., 2., 3., 8., 15., 12., 7., 9., 21., 36., 27., 15.,
        9., 20., 33., 24., 13., 6., 13., 21., 15., 8.,
    ];
    let got = y.to_vec::<f32>().unwrap();
    assert_eq!(&got[..25], &plane);
    assert_eq!(&got[25..], &plane);
}

#[test]
fn auto_pads_follow_the_spec() {
    // in 5, k 3, s 2: out 3, total = 2*2 + 3 - 5 = 2.
    assert_eq!(
        auto_pads(AutoPad::SameUpper, &[], &[5], &[3], &[2], &[1]),
        vec![1, 1]
    );
    // in 4, k 3, s 2: out 2, total 1: the odd pixel at the end (upper) or start.
    assert_eq!(
        auto_pads(AutoPad::SameUpper, &[], &[4], &[3], &[2], &[1]),
        vec![0, 1]
    );
    assert_eq!(
        auto_pads(AutoPad::SameLower, &[], &[4], &[3], &[2], &[1]),
        vec![1, 0]
    );
    // Dilation widens the kernel: in 4, k 3, d 2 (extent 5), s 1: total 4.
    assert_eq!(
        auto_pads(AutoPad::SameUpper, &[], &[4], &[3], &[1], &[2]),
        vec![2, 2]
    );
    assert_eq!(
        auto_pads(AutoPad::Valid, &[1, 1], &[4], &[3], &[1], &[1]),
        vec![0, 0]
    );
    assert_eq!(
        auto_pads(AutoPad::NotSet, &[1, 2], &[4], &[3], &[1], &[1]),
        vec![1, 2]
    );
    // Degenerate attributes do not panic.
    assert_eq!(
        auto_pads(AutoPad::SameUpper, &[], &[0], &[0], &[0], &[]).len(),
        2
    );
}

#[test]
fn conv_transpose_pads_resolve_output_shape() {
    // The ONNX convtranspose_output_shape example: in 3x3, k 3, s 3, out 10x8
    // and strides 3x2: totals 3*2 + 3 - 10 = -1 and 2*2 + 3 - 8 = -1, so no pads
    // and one extra output pixel at the end of each dim.
    let (pads, padding) = conv_transpose_pads_for_output_shape(
        AutoPad::NotSet,
        &[3, 3],
        &[10, 8],
        &[3, 3],
        &[3, 2],
        &[1, 1],
        &[],
    )
    .unwrap();
    assert_eq!(pads, vec![0, 0, 0, 0]);
    assert_eq!(padding, vec![1, 1]);
    // total 3 along one dim: SAME_UPPER puts the odd pixel at the end.
    let upper =
        conv_transpose_pads_for_output_shape(AutoPad::SameUpper, &[3], &[4], &[3], &[2], &[1], &[])
            .unwrap();
    assert_eq!(upper, (vec![1, 2], vec![0]));
    let lower =
        conv_transpose_pads_for_output_shape(AutoPad::NotSet, &[3], &[4], &[3], &[2], &[1], &[])
            .unwrap();
    assert_eq!(lower, (vec![2, 1], vec![0]));
    // auto_pad SAME without output_shape: out = in * stride.
    let same = conv_transpose_auto_pads(
        AutoPad::SameUpper,
        &[],
        &[3, 3],
        &[3, 3],
        &[2, 2],
        &[1, 1],
        &[],
    )
    .unwrap();
    assert_eq!(same, (vec![0, 0, 1, 1], vec![0, 0]));
    let valid =
        conv_transpose_auto_pads(AutoPad::Valid, &[1, 1], &[3], &[3], &[2], &[1], &[1]).unwrap();
    assert_eq!(valid, (vec![0, 0], vec![1]));
    assert!(
        conv_transpose_pads_for_output_shape(AutoPad::NotSet, &[3], &[4, 4], &[3], &[2], &[1], &[])
            .is_err()
    );
}
