//! A pointwise convolution's constant weights packed at compile time for the
//! portable column tile (`gemm::pack_a`): each tile of output channels reads
//! its weights as one contiguous `[input channel][row]` block instead of rows
//! `4 * channels` bytes apart, which at 1 KB multiples (mobilenet_v2's 256..960
//! channels) fell into few L1 sets. The packed copy replaces the weight in the
//! artifact: same size, so the weights do not grow.

use nnc_ir::kernel::{BufId, ElemType, KernelBuilder};
use nnc_ir::{DType, Tensor};

use super::super::gemm;
use super::super::{ExtraBuffer, LowerCtx};
use super::Convolution;

impl Convolution<'_> {
    /// The packed weight's buffer, declared and recorded as a derived weight,
    /// when the weight is a constant f32 and `tile` reads packed weights.
    pub(super) fn packed_pointwise_weight(
        &self,
        k: &mut KernelBuilder,
        ctx: &LowerCtx,
        tile: gemm::Tile,
    ) -> Option<BufId> {
        if !gemm::packs_a(tile) || self.x.elem() != ElemType::F32 {
            return None;
        }
        let w = ctx.node.inputs.get(1).copied().flatten()?;
        let weight = ctx.graph.known_value(w)?;
        if weight.dtype() != DType::F32 {
            return None;
        }
        let values = weight.to_vec::<f32>().ok()?;
        let (c, m) = (self.x.shape()[1], self.y.shape()[1]);
        let (cg, mg) = (c / self.group, m / self.group);
        if values.len() != m * cg {
            return None;
        }
        let packed: Vec<f32> = values
            .chunks(mg * cg)
            .flat_map(|group| gemm::pack_a(group, mg, cg, tile, self.fusion.is_long()))
            .collect();
        let tensor = Tensor::from_vec(weight.shape().to_vec(), packed).ok()?;
        let buf = k.buffer("packed_w", ElemType::F32, tensor.len(), false);
        ctx.add_extra(ExtraBuffer::Weight(tensor));
        // The packed copy is all the kernel reads of W.
        ctx.set_unread(1);
        Some(buf)
    }

    /// Scratch for one column panel of the activations (`gemm::b_panel_len`),
    /// which the packed tiles copy each panel to before reading it.
    pub(super) fn b_panel_scratch(&self, k: &mut KernelBuilder, ctx: &LowerCtx) -> Option<BufId> {
        let cg = self.x.shape()[1] / self.group;
        let mg = self.y.shape()[1] / self.group;
        let pixels: usize = self.x.shape()[2..].iter().product();
        // Narrower than a vector, the tiles have no vector panel to copy.
        if pixels < self.lanes as usize || !gemm::b_panels_pay(cg, mg, pixels) {
            return None;
        }
        let len = gemm::b_panel_len(cg, self.lanes);
        let buf = k.buffer("b_panel", ElemType::F32, len, true);
        ctx.add_extra(ExtraBuffer::Scratch { bytes: 4 * len });
        Some(buf)
    }
}

#[cfg(test)]
mod tests {
    use nnc_ir::kernel::{bounds, check, interp};
    use nnc_ir::ops::Conv;
    use nnc_ir::{DType, Op, Target, Tensor};

    use super::super::super::ExtraBuffer;
    use super::super::super::random_tensors::{random_small as random, rng};
    use super::super::super::testing::{assert_close, single_node_graph, test_target};

    fn pointwise(group: usize) -> Op {
        Op::Conv(Conv {
            kernel_shape: vec![],
            strides: vec![],
            pads: vec![],
            dilations: vec![],
            group,
        })
    }

    /// Lowers the pointwise Conv for `target`, runs it with W's own buffer
    /// filled with NaN (the kernel must read only the packed copy when it
    /// packs) and compares with the reference; returns whether it packed W
    /// and whether it copied panels of X to scratch.
    fn run_packing(
        target: &Target,
        x: &Tensor,
        w: &Tensor,
        b: Option<&Tensor>,
        group: usize,
    ) -> (bool, bool) {
        let inputs = [Some(x), Some(w), b];
        let graph = single_node_graph(pointwise(group), &inputs, &[1, 2], 1);
        let (_, node) = graph.nodes().next().expect("one node");
        let lowered = super::super::super::lower_node_full(&graph, node, target)
            .unwrap_or_else(|e| panic!("{e}"));
        let kernel = &lowered.kernel;
        check::check(kernel).unwrap_or_else(|e| panic!("type check: {e}"));
        bounds::check(kernel).unwrap_or_else(|e| panic!("bounds: {e}"));
        let packed = lowered.unread == [1];
        let want = node.op.eval(&inputs, 1).expect("reference evaluates");
        let panels = lowered
            .extras
            .iter()
            .any(|e| matches!(e, ExtraBuffer::Scratch { .. }));
        let mut buffers: Vec<Vec<u8>> = inputs
            .iter()
            .flatten()
            .map(|t| t.bytes().to_vec())
            .collect();
        if packed {
            buffers[1] = f32::NAN.to_le_bytes().repeat(w.len());
        }
        buffers.push(vec![0xA5; want[0].bytes().len()]);
        for extra in &lowered.extras {
            match extra {
                ExtraBuffer::Weight(t) => {
                    assert_eq!(t.len(), w.len(), "the packed copy is W's size");
                    buffers.push(t.bytes().to_vec());
                }
                ExtraBuffer::Scratch { bytes } => buffers.push(vec![0x5A; *bytes]),
            }
        }
        let status = interp::run(kernel, &mut buffers).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(status, 0);
        let out = inputs.iter().flatten().count();
        let bytes = buffers[out].clone().into();
        let got = Tensor::from_bytes(DType::F32, want[0].shape().to_vec(), bytes).expect("size");
        let what = format!("pointwise {:?} x {:?}, group {group}", x.shape(), w.shape());
        assert_close(&got, &want[0], 1e-5, 1e-4, &what);
        (packed, panels)
    }

    fn run(target: &Target, x: &Tensor, w: &Tensor, b: Option<&Tensor>, group: usize) -> bool {
        run_packing(target, x, w, b, group).0
    }

    /// Panels of X copied to scratch where its rows crowd L1 sets (1 KB and
    /// 4 KB apart, or many short rows): full vectors, an overlapping last
    /// vector, a last row tile under 12 rows, rows in several L2 blocks (A
    /// past 256 KB) and groups; beside them shapes that read X in place.
    #[test]
    fn activation_panels_are_copied_where_they_pay() {
        let target = test_target();
        let mut rng = rng(43);
        let cases = [
            // (output channels, input channels, pixels, group, copies panels)
            (40, 24, 256, 1, true),
            (45, 40, 1027, 1, true),
            (64, 1100, 16, 1, true),
            (96, 10, 1024, 2, true),
            (24, 96, 256, 1, false),
            (64, 64, 25, 1, false),
        ];
        for (m, c, pixels, group, copies) in cases {
            let x = random(&mut rng, DType::F32, &[1, c, pixels]);
            let w = random(&mut rng, DType::F32, &[m, c / group, 1]);
            let b = random(&mut rng, DType::F32, &[m]);
            let (packed, panels) = run_packing(&target, &x, &w, Some(&b), group);
            assert!(packed, "packs W on {m} x {c}");
            assert_eq!(panels, copies, "copies X's panels on {m} x {c} x {pixels}");
        }
    }

    /// Output channels with every remainder tile height (none, 1, 3, 7, and
    /// tiles lower than 12), reductions of 1, odd, and the 1 KB-multiple
    /// spacings packing is for (256, 384, 512), pixels with full vectors, an
    /// overlapping last vector and scalars only; groups packed each on its own.
    #[test]
    fn packed_pointwise_convs_match_the_reference() {
        let target = test_target();
        let mut rng = rng(41);
        let cases = [
            // (output channels, input channels, pixels, group)
            (24, 256, 9, 1),
            (13, 384, 4, 1),
            (19, 512, 6, 1),
            (64, 64, 25, 1),
            (37, 3, 7, 1),
            (12, 1, 5, 1),
            (5, 7, 3, 1),
            (1, 16, 11, 1),
            (20, 12, 10, 2),
            (27, 9, 6, 3),
        ];
        for (m, c, pixels, group) in cases {
            let x = random(&mut rng, DType::F32, &[1, c, pixels]);
            let w = random(&mut rng, DType::F32, &[m, c / group, 1]);
            let b = random(&mut rng, DType::F32, &[m]);
            assert!(run(&target, &x, &w, Some(&b), group), "packs on {m} x {c}");
            assert!(run(&target, &x, &w, None, group), "packs on {m} x {c}");
        }
    }

    /// The 32-register tile and the wide tiles read W as it is.
    #[test]
    fn other_tiles_read_the_weight_unpacked() {
        let mut rng = rng(42);
        let x = random(&mut rng, DType::F32, &[1, 32, 9]);
        let w = random(&mut rng, DType::F32, &[24, 32, 1]);
        let aarch64 = Target {
            vector_registers: 32,
            ..test_target()
        };
        let avx512 = Target {
            cpu_features: ["avx", "avx2", "fma", "avx512f"].map(String::from).to_vec(),
            ..test_target()
        };
        for target in [aarch64, avx512] {
            assert!(!run(&target, &x, &w, None, 1));
        }
    }
}
