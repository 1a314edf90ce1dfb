//! Normalisations against values worked by hand and against their definitions.

use super::*;
use crate::f16;

fn tensor(shape: &[usize], values: &[f32]) -> Tensor {
    Tensor::from_vec(shape.to_vec(), values.to_vec()).unwrap()
}

/// Infers then evaluates, checking that both agree on the output types.
fn run(
    op: &dyn Semantics,
    inputs: &[Option<&Tensor>],
    num_outputs: usize,
) -> OpResult<Vec<Tensor>> {
    let types: Vec<Option<TensorType>> = inputs.iter().map(|t| t.map(type_of)).collect();
    let facts: Vec<Option<Fact>> = types
        .iter()
        .map(|t| t.as_ref().map(|ty| Fact { ty, value: None }))
        .collect();
    let inferred = op.infer(&facts, num_outputs)?;
    let outputs = op.eval(inputs, num_outputs)?;
    assert_eq!(inferred, outputs.iter().map(type_of).collect::<Vec<_>>());
    Ok(outputs)
}

fn close(got: &[f32], want: &[f32]) {
    assert_eq!(got.len(), want.len());
    for (g, w) in got.iter().zip(want) {
        assert!((g - w).abs() <= 1e-5, "{got:?} vs {want:?}");
    }
}

#[test]
fn batch_norm_per_channel() {
    let x = tensor(&[1, 2, 2], &[1., 2., 3., 4.]);
    let scale = tensor(&[2], &[2., 1.]);
    let bias = tensor(&[2], &[0., 10.]);
    let mean = tensor(&[2], &[1., 3.]);
    let var = tensor(&[2], &[4., 0.25]);
    let op = BatchNorm { epsilon: 0.0 };
    let y = run(
        &op,
        &[Some(&x), Some(&scale), Some(&bias), Some(&mean), Some(&var)],
        1,
    )
    .unwrap();
    close(&y[0].to_vec::<f32>().unwrap(), &[0., 1., 10., 12.]);
    let short = tensor(&[1], &[1.]);
    assert!(
        run(
            &op,
            &[Some(&x), Some(&short), Some(&bias), Some(&mean), Some(&var)],
            1
        )
        .is_err()
    );
    assert!(
        run(
            &op,
            &[Some(&x), Some(&scale), Some(&bias), Some(&mean), Some(&var)],
            3
        )
        .is_err()
    );
    assert!(run(&op, &[Some(&x), Some(&scale), Some(&bias), Some(&mean)], 1).is_err());
}

#[test]
fn instance_norm_per_image_and_channel() {
    let x = tensor(&[1, 2, 2], &[1., 3., 10., 10.]);
    let scale = tensor(&[2], &[1., 1.]);
    let bias = tensor(&[2], &[0., 5.]);
    let y = run(
        &InstanceNorm { epsilon: 0.0 },
        &[Some(&x), Some(&scale), Some(&bias)],
        1,
    )
    .unwrap();
    // Channel 1 has zero variance: 0 / sqrt(0) is NaN with epsilon 0, so use 1e-5.
    let y_eps = run(
        &InstanceNorm { epsilon: 1e-5 },
        &[Some(&x), Some(&scale), Some(&bias)],
        1,
    )
    .unwrap();
    let got = y[0].to_vec::<f32>().unwrap();
    close(&got[..2], &[-1., 1.]);
    close(&y_eps[0].to_vec::<f32>().unwrap()[2..], &[5., 5.]);
}

#[test]
fn layer_norm_with_statistics() {
    let x = tensor(&[2, 2], &[1., 3., -2., 2.]);
    let scale = tensor(&[2], &[1., 2.]);
    let bias = tensor(&[1], &[0.5]);
    let op = LayerNorm {
        axis: 1,
        epsilon: 0.0,
        inner_axes: 0,
    };
    let out = run(&op, &[Some(&x), Some(&scale), Some(&bias)], 3).unwrap();
    close(&out[0].to_vec::<f32>().unwrap(), &[-0.5, 2.5, -0.5, 2.5]);
    assert_eq!(out[1].shape(), &[2, 1]);
    close(&out[1].to_vec::<f32>().unwrap(), &[2., 0.]);
    close(&out[2].to_vec::<f32>().unwrap(), &[1., 0.5]);
    // Without bias, and over two dims with a scale broadcast along the first.
    let x = tensor(&[1, 2, 2], &[1., 3., 1., 3.]);
    let op = LayerNorm {
        axis: 1,
        epsilon: 0.0,
        inner_axes: 0,
    };
    let out = run(&op, &[Some(&x), Some(&scale), None], 1).unwrap();
    close(&out[0].to_vec::<f32>().unwrap(), &[-1., 2., -1., 2.]);
    let bad = tensor(&[3], &[1., 1., 1.]);
    assert!(run(&op, &[Some(&x), Some(&bad), None], 1).is_err());
    assert!(
        run(
            &LayerNorm {
                axis: 3,
                epsilon: 0.0,
                inner_axes: 0,
            },
            &[Some(&x), Some(&scale), None],
            1
        )
        .is_err()
    );
}

#[test]
fn layer_norm_with_inner_axes_is_the_transposed_layer_norm() {
    use crate::ops::Transpose;
    // NCHW [2, 3, 2, 2], normalised over C at each pixel, against
    // Transpose(NHWC) -> LayerNorm(last axis) -> Transpose(NCHW).
    let values: Vec<f32> = (0..24).map(|i| ((i * 7) % 11) as f32 - 4.5).collect();
    let x = tensor(&[2, 3, 2, 2], &values);
    let scale = tensor(&[3], &[1.0, -2.0, 0.5]);
    let bias = tensor(&[3], &[0.25, 0.0, -1.0]);
    let to_nhwc = Transpose {
        perm: vec![0, 2, 3, 1],
    };
    let to_nchw = Transpose {
        perm: vec![0, 3, 1, 2],
    };
    let last = LayerNorm {
        axis: 3,
        epsilon: 1e-5,
        inner_axes: 0,
    };
    let nhwc = run(&to_nhwc, &[Some(&x)], 1).unwrap();
    let normed = run(&last, &[Some(&nhwc[0]), Some(&scale), Some(&bias)], 1).unwrap();
    let want = run(&to_nchw, &[Some(&normed[0])], 1).unwrap();
    let across = LayerNorm {
        axis: 1,
        epsilon: 1e-5,
        inner_axes: 2,
    };
    let got = run(&across, &[Some(&x), Some(&scale), Some(&bias)], 3).unwrap();
    close(
        &got[0].to_vec::<f32>().unwrap(),
        &want[0].to_vec::<f32>().unwrap(),
    );
    // One statistic per (n, h, w).
    assert_eq!(got[1].shape(), &[2, 1, 2, 2]);
    // The normalised dims must leave the inner ones out.
    let too_many = LayerNorm {
        axis: 2,
        epsilon: 0.0,
        inner_axes: 2,
    };
    assert!(run(&too_many, &[Some(&x), Some(&scale), None], 1).is_err());
}

#[test]
fn layer_norm_on_f16_computes_in_f32() {
    let h = |v: &[f32]| v.iter().map(|&v| f16::from_f32(v)).collect::<Vec<_>>();
    let x = Tensor::from_vec(vec![1, 2], h(&[1000., 1002.])).unwrap();
    let scale = Tensor::from_vec(vec![2], h(&[1., 1.])).unwrap();
    let out = run(
        &LayerNorm {
            axis: 1,
            epsilon: 0.0,
            inner_axes: 0,
        },
        &[Some(&x), Some(&scale), None],
        2,
    )
    .unwrap();
    assert_eq!(out[0].to_vec::<f16>().unwrap(), h(&[-1., 1.]));
    assert_eq!(out[1].dtype(), DType::F32);
    assert_eq!(out[1].to_vec::<f32>().unwrap(), vec![1001.]);
}

#[test]
fn group_norm_per_group_and_per_channel_parameters() {
    // Two groups of two channels, one pixel each.
    let x = tensor(&[1, 4, 1], &[1., 3., 5., 5.]);
    let per_group = tensor(&[2], &[2., 1.]);
    let bias = tensor(&[2], &[0., 7.]);
    let op = GroupNorm {
        num_groups: 2,
        epsilon: 0.0,
    };
    let y = run(&op, &[Some(&x), Some(&per_group), Some(&bias)], 1).unwrap();
    let got = y[0].to_vec::<f32>().unwrap();
    close(&got[..2], &[-2., 2.]);
    assert!(got[2].is_nan());
    let per_channel = tensor(&[4], &[1., 3., 1., 1.]);
    let bias = tensor(&[4], &[0., 0., 0., 0.]);
    let op = GroupNorm {
        num_groups: 2,
        epsilon: 1e-5,
    };
    let y = run(&op, &[Some(&x), Some(&per_channel), Some(&bias)], 1).unwrap();
    close(
        &y[0].to_vec::<f32>().unwrap()[..2],
        &[-1. / 1.000005f32.sqrt(), 3. / 1.000005f32.sqrt()],
    );
    let bad = tensor(&[3], &[1., 1., 1.]);
    assert!(run(&op, &[Some(&x), Some(&bad), Some(&bias)], 1).is_err());
    let op = GroupNorm {
        num_groups: 3,
        epsilon: 0.0,
    };
    assert!(run(&op, &[Some(&x), Some(&per_channel), Some(&bias)], 1).is_err());
}

#[test]
fn lrn_sums_neighbouring_channels() {
    let x = tensor(&[1, 3, 1, 1], &[1., 2., 3.]);
    // size 2: channels c-0 ..= c+1.
    let op = Lrn {
        size: 2,
        alpha: 2.0,
        beta: 1.0,
        bias: 1.0,
    };
    let y = run(&op, &[Some(&x)], 1).unwrap();
    close(
        &y[0].to_vec::<f32>().unwrap(),
        &[1. / 6., 2. / 14., 3. / 10.],
    );
    // size 3: channels c-1 ..= c+1.
    let op = Lrn {
        size: 3,
        alpha: 3.0,
        beta: 0.5,
        bias: 0.0,
    };
    let y = run(&op, &[Some(&x)], 1).unwrap();
    close(
        &y[0].to_vec::<f32>().unwrap(),
        &[1. / 5f32.sqrt(), 2. / 14f32.sqrt(), 3. / 13f32.sqrt()],
    );
    let ints = Tensor::from_vec(vec![1, 1], vec![1i64]).unwrap();
    assert!(run(&op, &[Some(&ints)], 1).is_err());
}
