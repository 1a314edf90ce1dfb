//! Resize against the ONNX node-test examples and the shape rules of the spec.
#![allow(
    clippy::excessive_precision,
    reason = "expected values are copied digit for digit from the ONNX node tests"
)]

use super::*;

fn resize(
    mode: ResizeMode,
    coord: CoordTransform,
    scales: &[f32],
    output_shape: &[usize],
) -> Resize {
    Resize {
        mode,
        coord,
        nearest_mode: NearestMode::RoundPreferFloor,
        cubic_coeff_a: -0.75,
        exclude_outside: false,
        extrapolation_value: 0.0,
        antialias: false,
        scales: scales.to_vec(),
        output_shape: output_shape.to_vec(),
        roi: vec![],
    }
}

fn run(op: &Resize, x: &Tensor) -> OpResult<Vec<f32>> {
    let ty = TensorType::new(x.dtype(), x.shape().to_vec());
    let inferred = op.infer(
        &[Some(Fact {
            ty: &ty,
            value: None,
        })],
        1,
    )?;
    let y = op.eval(&[Some(x)], 1)?.remove(0);
    assert_eq!(inferred[0].shape, y.shape());
    y.to_vec::<f32>()
}

fn ramp(shape: &[usize]) -> Tensor {
    let len: usize = shape.iter().product();
    Tensor::from_vec(shape.to_vec(), (1..=len).map(|v| v as f32).collect()).unwrap()
}

fn close(got: &[f32], want: &[f32]) {
    assert_eq!(got.len(), want.len(), "{got:?} vs {want:?}");
    for (g, w) in got.iter().zip(want) {
        assert!((g - w).abs() <= 1e-4, "{got:?} vs {want:?}");
    }
}

#[test]
fn nearest_upsample() {
    let op = resize(
        ResizeMode::Nearest,
        CoordTransform::HalfPixel,
        &[1., 1., 2., 3.],
        &[1, 1, 4, 6],
    );
    let y = run(&op, &ramp(&[1, 1, 2, 2])).unwrap();
    #[rustfmt::skip]
    let want = [1., 1., 1., 2., 2., 2., 1., 1., 1., 2., 2., 2.,
        3., 3., 3., 4., 4., 4., 3., 3., 3., 4., 4., 4.];
    assert_eq!(y, want);
}

#[test]
fn nearest_modes_on_half_pixel() {
    // resize_upsample_sizes_nearest_ceil_half_pixel, first row: 4 -> 8.
    let mut op = resize(ResizeMode::Nearest, CoordTransform::HalfPixel, &[2.], &[8]);
    op.nearest_mode = NearestMode::Ceil;
    assert_eq!(
        run(&op, &ramp(&[4])).unwrap(),
        [1., 2., 2., 3., 3., 4., 4., 4.]
    );
    op.nearest_mode = NearestMode::Floor;
    assert_eq!(
        run(&op, &ramp(&[4])).unwrap(),
        [1., 1., 1., 2., 2., 3., 3., 4.]
    );
    // Half-pixel doubling never lands on a half: both roundings agree.
    op.nearest_mode = NearestMode::RoundPreferCeil;
    assert_eq!(
        run(&op, &ramp(&[4])).unwrap(),
        [1., 1., 2., 2., 3., 3., 4., 4.]
    );
    op.nearest_mode = NearestMode::RoundPreferFloor;
    assert_eq!(
        run(&op, &ramp(&[4])).unwrap(),
        [1., 1., 2., 2., 3., 3., 4., 4.]
    );
}

#[test]
fn linear_downsample_and_align_corners() {
    // resize_downsample_scales_linear: [[1,2,3,4],[5,6,7,8]] by 0.6.
    let op = resize(
        ResizeMode::Linear,
        CoordTransform::HalfPixel,
        &[1., 1., 0.6, 0.6],
        &[1, 1, 1, 2],
    );
    close(
        &run(&op, &ramp(&[1, 1, 2, 4])).unwrap(),
        &[2.6666665, 4.3333331],
    );
    // resize_downsample_scales_linear_align_corners.
    let op = resize(
        ResizeMode::Linear,
        CoordTransform::AlignCorners,
        &[1., 1., 0.6, 0.6],
        &[1, 1, 1, 2],
    );
    close(&run(&op, &ramp(&[1, 1, 2, 4])).unwrap(), &[1.0, 3.142857]);
    // resize_upsample_scales_linear: 2x2 -> 4x4.
    let op = resize(
        ResizeMode::Linear,
        CoordTransform::HalfPixel,
        &[1., 1., 2., 2.],
        &[1, 1, 4, 4],
    );
    #[rustfmt::skip]
    let want = [1., 1.25, 1.75, 2., 1.5, 1.75, 2.25, 2.5, 2.5, 2.75, 3.25, 3.5, 3., 3.25, 3.75, 4.];
    close(&run(&op, &ramp(&[1, 1, 2, 2])).unwrap(), &want);
}

#[test]
fn cubic_upsample() {
    // resize_upsample_scales_cubic, first row of the 4x4 ramp scaled by 2.
    let op = resize(
        ResizeMode::Cubic,
        CoordTransform::HalfPixel,
        &[1., 1., 2., 2.],
        &[1, 1, 8, 8],
    );
    let y = run(&op, &ramp(&[1, 1, 4, 4])).unwrap();
    close(
        &y[..8],
        &[
            0.47265625, 0.76953125, 1.24609375, 1.875, 2.28125, 2.91015625, 3.38671875, 3.68359375,
        ],
    );
    // resize_upsample_scales_cubic_A_n0p5_exclude_outside, first row.
    let mut op = op;
    op.cubic_coeff_a = -0.5;
    op.exclude_outside = true;
    let y = run(&op, &ramp(&[1, 1, 4, 4])).unwrap();
    close(
        &y[..8],
        &[
            0.55882353, 0.81494204, 1.35698249, 1.89705882, 2.39705882, 2.93713516, 3.47917561,
            3.73529412,
        ],
    );
}

#[test]
fn tf_crop_and_resize_extrapolates() {
    // resize_tf_crop_and_resize_extrapolation_value: roi [0,0,0.4,0.6,1,1,1.2,1.7].
    let mut op = resize(
        ResizeMode::Linear,
        CoordTransform::TfCropAndResize,
        &[1., 1., 0.75, 0.75],
        &[1, 1, 3, 3],
    );
    op.roi = vec![0., 0., 0.4, 0.6, 1., 1., 1.2, 1.7];
    op.extrapolation_value = 10.0;
    let y = run(&op, &ramp(&[1, 1, 4, 4])).unwrap();
    close(
        &y,
        &[7.6000004, 10., 10., 12.400001, 10., 10., 10., 10., 10.],
    );
}

#[test]
fn antialias_downsample() {
    // resize_downsample_scales_linear_antialias: 4x4 ramp by 0.6 -> 2x2.
    let mut op = resize(
        ResizeMode::Linear,
        CoordTransform::HalfPixel,
        &[1., 1., 0.6, 0.6],
        &[1, 1, 2, 2],
    );
    op.antialias = true;
    close(
        &run(&op, &ramp(&[1, 1, 4, 4])).unwrap(),
        &[2.875, 4.5, 9.375, 11.0],
    );
}

#[test]
fn integer_and_identity_resizes() {
    let x = Tensor::from_vec(vec![1, 2], vec![10u8, 20]).unwrap();
    let op = resize(
        ResizeMode::Nearest,
        CoordTransform::Asymmetric,
        &[1., 2.],
        &[1, 4],
    );
    let y = op.eval(&[Some(&x)], 1).unwrap().remove(0);
    assert_eq!(y.to_vec::<u8>().unwrap(), [10, 10, 20, 20]);
    let op = resize(
        ResizeMode::Cubic,
        CoordTransform::HalfPixel,
        &[1., 1.],
        &[1, 2],
    );
    assert_eq!(op.eval(&[Some(&x)], 1).unwrap().remove(0), x);
    let bad = resize(ResizeMode::Nearest, CoordTransform::Asymmetric, &[2.], &[4]);
    assert!(bad.eval(&[Some(&x)], 1).is_err());
}

#[test]
fn shapes_resolve_from_scales_and_sizes() {
    let stretch = KeepAspectRatio::Stretch;
    let (scales, out) = resolve_resize_shape(
        &[1, 3, 5, 5],
        Some(&[1., 1., 0.6, 2.5]),
        None,
        None,
        stretch,
    )
    .unwrap();
    assert_eq!(out, [1, 3, 3, 12]);
    assert_eq!(scales, [1., 1., 0.6, 2.5]);
    let (scales, out) =
        resolve_resize_shape(&[1, 1, 2, 4], None, Some(&[3, 2]), Some(&[2, 3]), stretch).unwrap();
    assert_eq!(out, [1, 1, 3, 2]);
    assert_eq!(scales, [1., 1., 1.5, 0.5]);
    // resize_downsample_sizes_nearest_not_larger: 4x4 -> sizes 1x3 (scale 0.25... min).
    let (scales, out) = resolve_resize_shape(
        &[1, 1, 2, 4],
        None,
        Some(&[1, 3]),
        Some(&[2, 3]),
        KeepAspectRatio::NotLarger,
    )
    .unwrap();
    assert_eq!(out, [1, 1, 1, 2]);
    assert_eq!(scales, [1., 1., 0.5, 0.5]);
    let (_, out) = resolve_resize_shape(
        &[1, 1, 2, 4],
        None,
        Some(&[1, 3]),
        Some(&[2, 3]),
        KeepAspectRatio::NotSmaller,
    )
    .unwrap();
    assert_eq!(out, [1, 1, 2, 3]);
    assert!(resolve_resize_shape(&[2, 2], None, None, None, stretch).is_err());
    assert!(resolve_resize_shape(&[2, 2], Some(&[1.]), None, None, stretch).is_err());
    assert!(resolve_resize_shape(&[2, 2], Some(&[1.]), None, Some(&[2]), stretch).is_err());
}
