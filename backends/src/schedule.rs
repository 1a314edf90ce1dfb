//! Scheduling: a graph, its memory plan and its lowered kernels become a
//! [`Program`] — kernel calls in execution order with every buffer bound to a model
//! input, output, arena slot or weight.
//!
//! The memory plan comes from `nnc_passes::memplan` as plain offsets (backends do
//! not depend on passes): every value that is neither a graph input, a graph
//! output nor a constant has an arena offset.
//!
//! A kernel's extra buffers (`lower::ExtraBuffer`) are bound here: derived
//! constants become weights; scratch memory is one region after the planned
//! values, as large as the largest kernel's, which every kernel may use since
//! calls run one after another and scratch is dead between them.

use std::collections::{BTreeMap, HashMap};

use nnc_ir::kernel::{
    BufferRef, ElemType, Expr, IoSpec, Kernel, KernelBuilder, KernelCall, Program, Ty, Weight,
};
use nnc_ir::{Graph, Op, Target, ValueDef, ValueId};

use crate::lower::{ExtraBuffer, LowerError, lower_node_full};

/// Where the memory plan put the arena values.
pub struct ArenaLayout<'a> {
    pub offsets: &'a BTreeMap<ValueId, usize>,
    pub bytes: usize,
    pub align: usize,
}

/// Lowers every node of `graph` and binds its buffers. Fails with every node that
/// has no lowering, at once.
pub fn build_program(
    graph: &Graph,
    arena: &ArenaLayout,
    target: &Target,
    name: &str,
) -> Result<Program, Vec<LowerError>> {
    let mut program = Program {
        name: name.to_string(),
        inputs: graph.inputs().iter().map(|&v| io_spec(graph, v)).collect(),
        outputs: graph.outputs().iter().map(|&v| io_spec(graph, v)).collect(),
        arena_bytes: arena.bytes,
        arena_align: arena.align,
        weights: Vec::new(),
        kernels: Vec::new(),
        calls: Vec::new(),
    };
    let mut binder = Binder::new(graph, arena);
    let mut kernels = KernelTable::default();
    let mut errors = Vec::new();
    // Scratch starts after the planned values, aligned as the arena is.
    let align = arena.align.max(1);
    let scratch = arena.bytes.div_ceil(align) * align;
    let mut scratch_bytes = 0;
    for (_, node) in graph.nodes() {
        let lowered = match lower_node_full(graph, node, target) {
            Ok(k) => k,
            Err(e) => {
                errors.push(e);
                continue;
            }
        };
        let kernel = lowered.kernel;
        // Operands the kernel never reads are bound once the derived weight
        // that replaces them is (`unread`: not kept in the artifact for this call).
        let mut unread = Vec::new();
        let mut args = Vec::new();
        for (slot, &v) in node.inputs.iter().enumerate() {
            let Some(v) = v else { continue };
            if lowered.unread.contains(&slot) {
                unread.push((args.len(), v));
                args.push(BufferRef::Input(0));
            } else {
                args.push(binder.bind(v));
            }
        }
        args.extend(node.outputs.iter().map(|&v| binder.bind(v)));
        let derived = match lowered.extras.first() {
            Some(ExtraBuffer::Weight(t)) => Some((binder.weights.len(), t.bytes().len())),
            _ => None,
        };
        for (k, extra) in lowered.extras.into_iter().enumerate() {
            args.push(match extra {
                ExtraBuffer::Weight(tensor) => {
                    binder.weights.push(Weight {
                        name: format!("{}_derived{k}", node.name),
                        tensor,
                    });
                    BufferRef::Weight(binder.weights.len() - 1)
                }
                ExtraBuffer::Scratch { bytes } => {
                    scratch_bytes = scratch_bytes.max(bytes);
                    BufferRef::Arena { offset: scratch }
                }
            });
        }
        // A copy onto itself (a Reshape or Identity the planner ran in place) is
        // nothing to do.
        let is_copy = matches!(node.op, Op::Reshape(_) | Op::Identity);
        if is_copy && args.len() == 2 && args[0] == args[1] {
            continue;
        }
        for (at, v) in unread {
            let bytes = graph.value(v).ty.bytes();
            args[at] = match derived {
                Some((k, len)) if len >= bytes => BufferRef::Weight(k),
                _ => binder.bind(v),
            };
        }
        let kind = match lowered.form {
            Some(form) => format!("{} {form}", node.op.label()),
            None => node.op.label(),
        };
        program.calls.push(KernelCall {
            kernel: kernels.intern(kernel),
            kind,
            args,
            nodes: vec![node.name.clone()],
        });
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    if scratch_bytes > 0 {
        program.arena_bytes = scratch + scratch_bytes;
    }
    // Outputs not written by a node (a constant, an input, or a value listed twice
    // as an output) are copied into place at the end.
    for (k, &out) in graph.outputs().iter().enumerate() {
        let source = binder.bind(out);
        if source != BufferRef::Output(k) {
            let spec = &program.outputs[k];
            let kernel = copy_kernel(spec);
            program.calls.push(KernelCall {
                kernel: kernels.intern(kernel),
                kind: "copy".into(),
                args: vec![source, BufferRef::Output(k)],
                nodes: vec![format!("output {}", spec.name)],
            });
        }
    }
    program.weights = binder.weights;
    program.kernels = kernels.kernels;
    Ok(program)
}

fn io_spec(graph: &Graph, v: ValueId) -> IoSpec {
    let value = graph.value(v);
    IoSpec {
        name: value.name.clone(),
        dtype: value.ty.dtype,
        shape: value.ty.shape.clone(),
    }
}

/// Decides the buffer of every value, collecting the weights on first use.
struct Binder<'a> {
    graph: &'a Graph,
    arena: &'a ArenaLayout<'a>,
    /// The first output index of each value that is a graph output.
    output_index: HashMap<ValueId, usize>,
    weight_index: HashMap<ValueId, usize>,
    weights: Vec<Weight>,
}

impl<'a> Binder<'a> {
    fn new(graph: &'a Graph, arena: &'a ArenaLayout<'a>) -> Self {
        let mut output_index = HashMap::new();
        for (k, &v) in graph.outputs().iter().enumerate() {
            output_index.entry(v).or_insert(k);
        }
        Binder {
            graph,
            arena,
            output_index,
            weight_index: HashMap::new(),
            weights: Vec::new(),
        }
    }

    fn bind(&mut self, v: ValueId) -> BufferRef {
        let value = self.graph.value(v);
        match &value.def {
            ValueDef::Input(k) => BufferRef::Input(*k),
            ValueDef::Const(tensor) => {
                let next = self.weights.len();
                let k = *self.weight_index.entry(v).or_insert(next);
                if k == next {
                    self.weights.push(Weight {
                        name: value.name.clone(),
                        tensor: tensor.clone(),
                    });
                }
                BufferRef::Weight(k)
            }
            ValueDef::Node(..) => match self.output_index.get(&v) {
                Some(&k) => BufferRef::Output(k),
                None => BufferRef::Arena {
                    // The planner gives every intermediate value an offset; a
                    // missing one is a bug in the planner, not in the model.
                    offset: *self.arena.offsets.get(&v).unwrap_or_else(|| {
                        panic!("memory plan has no offset for value '{}'", value.name)
                    }),
                },
            },
        }
    }
}

/// Distinct kernels: nodes with the same computation on the same shapes share one.
#[derive(Default)]
struct KernelTable {
    kernels: Vec<Kernel>,
    /// Kernel text without its name -> index.
    index: HashMap<String, usize>,
}

impl KernelTable {
    fn intern(&mut self, kernel: Kernel) -> usize {
        let key = {
            let mut unnamed = kernel.clone();
            unnamed.name.clear();
            unnamed.to_string()
        };
        if let Some(&k) = self.index.get(&key) {
            return k;
        }
        self.kernels.push(kernel);
        self.index.insert(key, self.kernels.len() - 1);
        self.kernels.len() - 1
    }
}

/// `dst = src` for a tensor of `spec`'s type, as raw bytes.
fn copy_kernel(spec: &IoSpec) -> Kernel {
    let bytes = spec.bytes();
    let mut k = KernelBuilder::new(format!("copy_{bytes}b"));
    let src = k.buffer("src", ElemType::U8, bytes, false);
    let dst = k.buffer("dst", ElemType::U8, bytes, true);
    k.for_range("i", 0, bytes as i64, 1, |k, i| {
        k.store(dst, i.clone(), Expr::load(src, i, Ty::scalar(ElemType::U8)));
    });
    k.finish()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use nnc_ir::kernel::BufferRef;
    use nnc_ir::ops::Conv;
    use nnc_ir::{DType, Op, Tensor};

    use super::{ArenaLayout, build_program};
    use crate::lower::testing::{single_node_graph, test_target};

    /// A Winograd convolution's call: its transformed filters replace the
    /// weight in the artifact, and its scratch lies after the planned values.
    #[test]
    fn winograd_binds_derived_weights_and_scratch() {
        let x = Tensor::zeros(DType::F32, vec![1, 16, 6, 6]).unwrap();
        let w = Tensor::zeros(DType::F32, vec![16, 16, 3, 3]).unwrap();
        let op = Op::Conv(Conv {
            kernel_shape: vec![3, 3],
            strides: vec![],
            pads: vec![1; 4],
            dilations: vec![],
            group: 1,
        });
        let graph = single_node_graph(op, &[Some(&x), Some(&w)], &[1], 1);
        let offsets = BTreeMap::new();
        let arena = ArenaLayout {
            offsets: &offsets,
            bytes: 100,
            align: 64,
        };
        let program = build_program(&graph, &arena, &test_target(), "m").unwrap();
        assert_eq!(program.calls.len(), 1);
        let call = &program.calls[0];
        assert_eq!(call.kind, "Conv winograd");
        // Only the transformed filters (16 per 3x3 filter) are kept, and the
        // weight operand points at them.
        assert_eq!(program.weights.len(), 1);
        assert_eq!(program.weights[0].tensor.shape(), &[16, 16, 16]);
        assert_eq!(call.args[1], BufferRef::Weight(0));
        assert_eq!(call.args[3], BufferRef::Weight(0));
        assert_eq!(call.args[4], BufferRef::Arena { offset: 128 });
        let scratch = program.kernels[call.kernel].buffers[4].len * 4;
        assert_eq!(program.arena_bytes, 128 + scratch);
    }
}
