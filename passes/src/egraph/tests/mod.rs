//! Every rule checked the way the design asks: random shapes and weights, the
//! graph evaluated with `ir::eval` before and after the optimiser.

mod activations;
mod chain;
mod elementwise;
mod follow;
mod fusion;
mod linear;
mod movement;
mod norm;
mod patchify;
mod patterns;
mod pool;
mod reparam;
mod runner;

use nnc_ir::ops::{BatchNorm, Binary, Conv};
use nnc_ir::{DType, Graph, Op, Tensor, TensorType, ValueId};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::{EgraphOptions, EgraphReport, optimize};

pub struct Builder {
    pub g: Graph,
    pub rng: StdRng,
    count: usize,
}

impl Builder {
    /// `0.5 * x * e` (`half` the constant 0.5) in one of the three orders
    /// exporters write GELU's last products in (`form % 3`).
    pub fn half_product(&mut self, x: ValueId, half: ValueId, e: ValueId, form: u64) -> ValueId {
        match form % 3 {
            0 => {
                let h = self.binary(Binary::Mul, half, e);
                self.binary(Binary::Mul, x, h)
            }
            1 => {
                let xe = self.binary(Binary::Mul, x, e);
                self.binary(Binary::Mul, xe, half)
            }
            _ => {
                let xh = self.binary(Binary::Mul, x, half);
                self.binary(Binary::Mul, e, xh)
            }
        }
    }

    pub fn new(seed: u64) -> Builder {
        Builder {
            g: Graph::new("test"),
            rng: StdRng::seed_from_u64(seed),
            count: 0,
        }
    }

    fn name(&mut self, base: &str) -> String {
        self.count += 1;
        format!("{base}{}", self.count)
    }

    pub fn input(&mut self, shape: &[usize]) -> ValueId {
        let name = self.name("x");
        self.g
            .add_input(name, TensorType::new(DType::F32, shape.to_vec()))
            .unwrap()
    }

    /// A constant of uniform values in `[lo, hi)`.
    pub fn weight(&mut self, shape: &[usize], lo: f32, hi: f32) -> ValueId {
        let n = shape.iter().product();
        let values: Vec<f32> = (0..n).map(|_| self.rng.random_range(lo..hi)).collect();
        let name = self.name("w");
        self.g
            .add_const(name, Tensor::from_vec(shape.to_vec(), values).unwrap())
            .unwrap()
    }

    pub fn scalar(&mut self, value: f32) -> ValueId {
        let name = self.name("c");
        self.g.add_const(name, Tensor::scalar(value)).unwrap()
    }

    pub fn node(&mut self, op: Op, inputs: &[Option<ValueId>]) -> ValueId {
        let name = self.name("n");
        let out = format!("{name}.out");
        self.g
            .add_node(name, op, inputs.to_vec(), vec![out])
            .unwrap()[0]
    }

    pub fn binary(&mut self, b: Binary, x: ValueId, y: ValueId) -> ValueId {
        self.node(Op::Binary(b), &[Some(x), Some(y)])
    }

    /// A conv of `x` (NCHW) with random weights: `kernel`, `pads` as
    /// `[top, left, bottom, right]`, `stride`, `group`, optional bias. (Every
    /// attribute at the call site reads better than a spec struct in tests.)
    #[allow(clippy::too_many_arguments)]
    pub fn conv(
        &mut self,
        x: ValueId,
        out: usize,
        k: [usize; 2],
        pads: [usize; 4],
        stride: usize,
        group: usize,
        bias: bool,
    ) -> ValueId {
        let cin = self.g.value(x).ty.shape[1];
        let w = self.weight(&[out, cin / group, k[0], k[1]], -1.0, 1.0);
        let b = bias.then(|| self.weight(&[out], -1.0, 1.0));
        let attrs = Conv {
            kernel_shape: k.to_vec(),
            strides: vec![stride; 2],
            pads: pads.to_vec(),
            dilations: vec![1; 2],
            group,
        };
        self.node(Op::Conv(attrs), &[Some(x), Some(w), b])
    }

    /// Inference BatchNorm with random statistics.
    pub fn bn(&mut self, x: ValueId) -> ValueId {
        let c = self.g.value(x).ty.shape[1];
        let scale = self.weight(&[c], 0.5, 1.5);
        let bias = self.weight(&[c], -1.0, 1.0);
        let mean = self.weight(&[c], -0.5, 0.5);
        let var = self.weight(&[c], 0.2, 2.0);
        let op = Op::BatchNorm(BatchNorm { epsilon: 1e-3 });
        self.node(
            op,
            &[Some(x), Some(scale), Some(bias), Some(mean), Some(var)],
        )
    }

    pub fn finish(mut self, outputs: Vec<ValueId>) -> (Graph, StdRng) {
        self.g.set_outputs(outputs);
        (self.g, self.rng)
    }
}

/// How many times `op` is computed: as a node, or fused (as the anchor or a step
/// of a `Fused` node), so that fusion does not hide what other rules did.
pub fn count(graph: &Graph, op: &str) -> usize {
    graph
        .nodes()
        .map(|(_, n)| match &n.op {
            Op::Fused(f) => {
                let label = f.label();
                label.split('+').filter(|part| *part == op).count()
            }
            other => usize::from(other.name() == op),
        })
        .sum()
}

/// Optimises `graph` with `options`, checks the result against `ir::eval` of the
/// original on random inputs, and returns it with the report.
pub fn optimise_checked(
    graph: &Graph,
    rng: &mut StdRng,
    options: &EgraphOptions,
) -> (Graph, EgraphReport) {
    let (out, report) = optimize(graph, options).expect("the optimiser succeeds");
    nnc_ir::verify(&out).expect("the optimised graph verifies");
    for _ in 0..2 {
        let inputs: Vec<Tensor> = graph
            .inputs()
            .iter()
            .map(|&i| {
                let ty = &graph.value(i).ty;
                let values: Vec<f32> = (0..ty.len()).map(|_| rng.random_range(-2.0..2.0)).collect();
                Tensor::from_vec(ty.shape.clone(), values).unwrap()
            })
            .collect();
        let want = nnc_ir::eval::run(graph, &inputs).unwrap();
        let got = nnc_ir::eval::run(&out, &inputs).unwrap();
        assert_eq!(want.len(), got.len());
        for (w, g) in want.iter().zip(&got) {
            assert_eq!(w.shape(), g.shape());
            let (w, g) = (w.to_f64_vec(), g.to_f64_vec());
            // Rounding differs in the order of sums; deep stacks scale it with the
            // output's magnitude.
            let scale = w.iter().fold(0f64, |m, v| m.max(v.abs()));
            for (i, (a, b)) in w.iter().zip(&g).enumerate() {
                assert!(
                    (a - b).abs() <= 1e-5 + 1e-4 * scale,
                    "element {i}: before {a}, after {b}\n{out}"
                );
            }
        }
    }
    (out, report)
}

/// [`optimise_checked`] with the default options.
pub fn optimise(graph: &Graph, rng: &mut StdRng) -> (Graph, EgraphReport) {
    optimise_checked(graph, rng, &EgraphOptions::default())
}

/// The labels of the graph's fused kernels (anchor and steps), in node order.
pub(super) fn fused_labels(graph: &Graph) -> Vec<String> {
    graph
        .nodes()
        .filter_map(|(_, n)| match &n.op {
            Op::Fused(f) => Some(f.label()),
            _ => None,
        })
        .collect()
}
