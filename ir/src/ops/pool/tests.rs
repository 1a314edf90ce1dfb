//! Pools against the ONNX node-test examples, worked by hand.

use super::*;

fn ty(t: &Tensor) -> TensorType {
    TensorType::new(t.dtype(), t.shape().to_vec())
}

/// Infers then evaluates, checking that both agree on the output types.
fn run(op: &dyn Semantics, x: &Tensor, num_outputs: usize) -> OpResult<Vec<Tensor>> {
    let t = ty(x);
    let inferred = op.infer(
        &[Some(Fact {
            ty: &t,
            value: None,
        })],
        num_outputs,
    )?;
    let outputs = op.eval(&[Some(x)], num_outputs)?;
    let got: Vec<TensorType> = outputs.iter().map(ty).collect();
    assert_eq!(inferred, got);
    Ok(outputs)
}

fn ramp(shape: &[usize]) -> Tensor {
    let len: usize = shape.iter().product();
    Tensor::from_vec(shape.to_vec(), (1..=len).map(|v| v as f32).collect()).unwrap()
}

fn pool(
    kind: PoolKind,
    kernel: &[usize],
    strides: &[usize],
    pads: &[usize],
    ceil_mode: bool,
) -> Pool {
    Pool {
        kind,
        kernel_shape: kernel.to_vec(),
        strides: strides.to_vec(),
        pads: pads.to_vec(),
        dilations: vec![],
        ceil_mode,
    }
}

const MAX: PoolKind = PoolKind::Max { storage_order: 0 };

fn close(got: &[f32], want: &[f32], tolerance: f32) {
    assert_eq!(got.len(), want.len());
    for (g, w) in got.iter().zip(want) {
        assert!((g - w).abs() <= tolerance, "{got:?} vs {want:?}");
    }
}

#[test]
fn max_pool_with_pads_and_indices() {
    let x = ramp(&[1, 1, 5, 5]);
    let out = run(&pool(MAX, &[5, 5], &[1, 1], &[2, 2, 2, 2], false), &x, 2).unwrap();
    #[rustfmt::skip]
    let want = [13., 14., 15., 15., 15., 18., 19., 20., 20., 20., 23., 24., 25., 25., 25.,
        23., 24., 25., 25., 25., 23., 24., 25., 25., 25.];
    assert_eq!(out[0].to_vec::<f32>().unwrap(), want);
    let indices: Vec<i64> = want.iter().map(|&v| v as i64 - 1).collect();
    assert_eq!(out[1].to_vec::<i64>().unwrap(), indices);
}

#[test]
fn max_pool_indices_in_column_major_order() {
    let x = ramp(&[1, 2, 5, 5]);
    let kind = PoolKind::Max { storage_order: 1 };
    let out = run(&pool(kind, &[2, 2], &[2, 2], &[], false), &x, 2).unwrap();
    assert_eq!(
        out[0].to_vec::<f32>().unwrap(),
        [7., 9., 17., 19., 32., 34., 42., 44.]
    );
    // The second channel's indices start after the first plane.
    assert_eq!(
        out[1].to_vec::<i64>().unwrap(),
        [6, 16, 8, 18, 31, 41, 33, 43]
    );
}

#[test]
fn max_pool_ceil_mode_and_dilations() {
    let x = ramp(&[1, 1, 4, 4]);
    let y = run(&pool(MAX, &[3, 3], &[2, 2], &[], true), &x, 1).unwrap();
    assert_eq!(y[0].to_vec::<f32>().unwrap(), [11., 12., 15., 16.]);
    // The last window would start past the input: dropped.
    let small = ramp(&[1, 1, 2, 2]);
    let y = run(&pool(MAX, &[1, 1], &[2, 2], &[], true), &small, 1).unwrap();
    assert_eq!(y[0].to_vec::<f32>().unwrap(), [1.]);
    let mut dilated = pool(MAX, &[2, 2], &[1, 1], &[], false);
    dilated.dilations = vec![2, 2];
    let y = run(&dilated, &x, 1).unwrap();
    assert_eq!(y[0].to_vec::<f32>().unwrap(), [11., 12., 15., 16.]);
}

#[test]
fn max_pool_on_bytes_and_in_one_and_three_dims() {
    let x = Tensor::from_vec(vec![1, 1, 4], vec![3u8, 250, 7, 9]).unwrap();
    let y = run(&pool(MAX, &[2], &[2], &[], false), &x, 1).unwrap();
    assert_eq!(y[0].to_vec::<u8>().unwrap(), [250, 9]);
    let x = ramp(&[1, 1, 2, 2, 2]);
    let y = run(&pool(MAX, &[2, 2, 2], &[], &[], false), &x, 1).unwrap();
    assert_eq!(y[0].shape(), &[1, 1, 1, 1, 1]);
    assert_eq!(y[0].to_vec::<f32>().unwrap(), [8.]);
}

#[test]
fn average_pool_count_include_pad() {
    let x = ramp(&[1, 1, 5, 5]);
    let kind = PoolKind::Average {
        count_include_pad: true,
    };
    let y = run(&pool(kind, &[5, 5], &[1, 1], &[2, 2, 2, 2], false), &x, 1).unwrap();
    #[rustfmt::skip]
    let want = [2.52, 3.6, 4.8, 4.08, 3.24, 4.56, 6.4, 8.4, 7.04, 5.52, 7.2, 10., 13., 10.8, 8.4,
        6.96, 9.6, 12.4, 10.24, 7.92, 6.12, 8.4, 10.8, 8.88, 6.84];
    close(&y[0].to_vec::<f32>().unwrap(), &want, 1e-5);
    let kind = PoolKind::Average {
        count_include_pad: false,
    };
    let y = run(&pool(kind, &[5, 5], &[1, 1], &[2, 2, 2, 2], false), &x, 1).unwrap();
    // The corner window covers rows and columns 0..3 only.
    assert_eq!(y[0].to_vec::<f32>().unwrap()[0], 7.0);
}

#[test]
fn average_pool_ceil_mode_clips_the_last_window() {
    let x = ramp(&[1, 1, 4, 4]);
    let kind = PoolKind::Average {
        count_include_pad: false,
    };
    let y = run(&pool(kind, &[3, 3], &[2, 2], &[], true), &x, 1).unwrap();
    assert_eq!(y[0].to_vec::<f32>().unwrap(), [6., 7.5, 12., 13.5]);
    // averagepool_2d_ceil_last_window_starts_on_pad: the one window covers the
    // input and its pads, all nine positions count.
    #[rustfmt::skip]
    let x = Tensor::from_vec(vec![1, 3, 2, 2], vec![
        0.8580f32, 0.0786, 0.2692, 0.1537, 0.8816, 0.4353, 0.5772, 0.6623,
        0.9067, 0.9483, 0.5970, 0.7630,
    ]).unwrap();
    let kind = PoolKind::Average {
        count_include_pad: true,
    };
    let y = run(&pool(kind, &[3, 3], &[3, 3], &[1, 1, 1, 1], true), &x, 1).unwrap();
    assert_eq!(y[0].shape(), &[1, 3, 1, 1]);
    close(
        &y[0].to_vec::<f32>().unwrap(),
        &[0.1511, 0.2841, 0.3572],
        1e-4,
    );
    // With ceil_mode the last window may reach past the end padding: only the
    // positions inside input plus pads count. in 4, k 3, s 2, pads 1/0 -> out 3
    // (span 2, ceil(2/2)+1 = 2... with pad begin 1: span 5-3 = 2 -> 2 windows).
    let x = Tensor::from_vec(vec![1, 1, 5], vec![1.0f32, 2.0, 3.0, 4.0, 5.0]).unwrap();
    let y = run(&pool(kind, &[3], &[2], &[1, 0], true), &x, 1).unwrap();
    // Windows start at -1, 1, 3; the last covers 3, 4 and 5 (past the end): / 2.
    assert_eq!(y[0].to_vec::<f32>().unwrap(), [1.0, 3.0, 4.5]);
}

#[test]
fn lp_pool() {
    let x = Tensor::from_vec(vec![1, 1, 2, 2], vec![3.0f32, -4.0, 0.0, 0.0]).unwrap();
    let y = run(
        &pool(PoolKind::Lp { p: 2.0 }, &[2, 2], &[], &[], false),
        &x,
        1,
    )
    .unwrap();
    assert_eq!(y[0].to_vec::<f32>().unwrap(), [5.0]);
    let y = run(
        &pool(PoolKind::Lp { p: 1.0 }, &[1, 2], &[], &[0, 1, 0, 0], false),
        &x,
        1,
    )
    .unwrap();
    assert_eq!(y[0].to_vec::<f32>().unwrap(), [3.0, 7.0, 0.0, 0.0]);
}

#[test]
fn pools_refuse_bad_input() {
    let x = ramp(&[1, 1, 4, 4]);
    let avg = PoolKind::Average {
        count_include_pad: false,
    };
    assert!(run(&pool(avg, &[3, 3], &[], &[], false), &x, 2).is_err());
    assert!(run(&pool(MAX, &[5, 5], &[], &[], false), &x, 1).is_err());
    assert!(run(&pool(MAX, &[3], &[], &[], false), &x, 1).is_err());
    assert!(run(&pool(MAX, &[3, 3], &[0, 1], &[], false), &x, 1).is_err());
    assert!(run(&pool(MAX, &[3, 3], &[], &[1], false), &x, 1).is_err());
    let bytes = Tensor::from_vec(vec![1, 1, 4], vec![0u8; 4]).unwrap();
    assert!(run(&pool(avg, &[2], &[], &[], false), &bytes, 1).is_err());
    assert!(run(&pool(MAX, &[2], &[], &[], false), &ramp(&[4]), 1).is_err());
}

#[test]
fn global_pools() {
    let x = Tensor::from_vec(
        vec![1, 2, 2, 2],
        vec![1.0f32, 2.0, 3.0, 4.0, -3.0, 4.0, 0.0, 0.0],
    )
    .unwrap();
    let y = run(&GlobalPool::Average, &x, 1).unwrap();
    assert_eq!(y[0].shape(), &[1, 2, 1, 1]);
    assert_eq!(y[0].to_vec::<f32>().unwrap(), [2.5, 0.25]);
    let y = run(&GlobalPool::Max, &x, 1).unwrap();
    assert_eq!(y[0].to_vec::<f32>().unwrap(), [4.0, 4.0]);
    let y = run(&GlobalPool::Lp { p: 2.0 }, &x, 1).unwrap();
    close(&y[0].to_vec::<f32>().unwrap(), &[30f32.sqrt(), 5.0], 1e-6);
    let ints = Tensor::from_vec(vec![1, 1, 2], vec![1i32, 2]).unwrap();
    assert!(run(&GlobalPool::Average, &ints, 1).is_err());
    assert!(run(&GlobalPool::Average, &ramp(&[3]), 1).is_err());
}
