//! Canonicalisation: the graph every later pass can rely on.
//!
//! - Constant folding: a node whose operands are all compile-time constants is
//!   evaluated with its reference implementation and replaced by constants. Shape
//!   computations (Shape -> Gather -> Unsqueeze -> Concat -> ... as PyTorch exports
//!   them) fold this way, because a Shape's output is known from static types alone.
//! - Identity removal: Identity, and ops that do nothing for these operands (Reshape
//!   to the same shape, Cast to the same dtype, Transpose by the identity, ...),
//!   forward their operand.
//! - Dead code: nodes whose outputs no graph output needs are dropped.
//!
//! Graph inputs are always kept (they are the ABI), and graph outputs keep their
//! names. The pass builds a new graph, so every type is inferred again on the way.

use std::collections::HashMap;

use nnc_ir::{Graph, IrError, Node, Op, Tensor, ValueDef, ValueId};

/// What becomes of one node.
enum Fate {
    /// Outputs replaced by these constants.
    Fold(Vec<Tensor>),
    /// Output 0 is operand `k` itself.
    Forward(usize),
    Keep,
}

/// Canonicalises `graph`; see the module documentation.
pub fn canonicalize(graph: &Graph) -> Result<Graph, IrError> {
    let fates = decide_fates(graph)?;
    let live = live_nodes(graph, &fates);
    rebuild(graph, &fates, &live)
}

/// Folding ops whose result grows the model beyond this is not worth it (e.g. a
/// ConstantOfShape producing a large zero tensor): the op stays.
const FOLD_GROWTH_LIMIT_BYTES: usize = 1 << 16;

fn decide_fates(graph: &Graph) -> Result<Vec<Fate>, IrError> {
    // Values known so far: the graph's constants and known values, plus everything
    // folded by this pass.
    let mut folded: HashMap<ValueId, Tensor> = HashMap::new();
    let mut fates = Vec::with_capacity(graph.node_count());
    for (_, node) in graph.nodes() {
        let fate = {
            let known = |id: ValueId| folded.get(&id).or_else(|| graph.known_value(id));
            if let Some(k) = forwarded_operand(graph, node) {
                Fate::Forward(k)
            } else if let Some(values) = fold(graph, node, &known)? {
                Fate::Fold(values)
            } else {
                Fate::Keep
            }
        };
        match &fate {
            Fate::Fold(values) => {
                for (&out, value) in node.outputs.iter().zip(values) {
                    folded.insert(out, value.clone());
                }
            }
            // A forwarded value is known iff its operand is.
            Fate::Forward(k) => {
                let operand = node.inputs[*k];
                let value =
                    operand.and_then(|id| folded.get(&id).or_else(|| graph.known_value(id)));
                if let Some(t) = value.cloned() {
                    folded.insert(node.outputs[0], t);
                }
            }
            Fate::Keep => {}
        }
        fates.push(fate);
    }
    Ok(fates)
}

/// The constants a node folds to, when every operand is known and folding pays.
fn fold<'a>(
    graph: &Graph,
    node: &Node,
    known: &impl Fn(ValueId) -> Option<&'a Tensor>,
) -> Result<Option<Vec<Tensor>>, IrError> {
    // Quantized weights stay quantized: an int8 backend wants the int8 tensor and
    // its scale, not a dequantized f32 copy.
    if matches!(node.op, Op::Dequantize(_)) {
        return Ok(None);
    }
    // Outputs known without their operands (Shape, Size) fold directly.
    if let Some(values) = node
        .outputs
        .iter()
        .map(|&o| graph.value(o).known.clone())
        .collect::<Option<Vec<_>>>()
    {
        return Ok(Some(values));
    }
    let mut operands = Vec::with_capacity(node.inputs.len());
    for input in &node.inputs {
        match input {
            None => operands.push(None),
            Some(id) => match known(*id) {
                Some(t) => operands.push(Some(t)),
                None => return Ok(None),
            },
        }
    }
    let input_bytes: usize = operands.iter().flatten().map(|t| t.bytes().len()).sum();
    let output_bytes: usize = node
        .outputs
        .iter()
        .map(|&o| graph.value(o).ty.bytes())
        .sum();
    if output_bytes > input_bytes.max(FOLD_GROWTH_LIMIT_BYTES) {
        return Ok(None);
    }
    let values = node
        .op
        .eval(&operands, node.outputs.len())
        .map_err(|e| IrError::node(&node.name, node.op.name(), e.0))?;
    Ok(Some(values))
}

/// The operand a node passes through unchanged, if it is an identity for its operands.
fn forwarded_operand(graph: &Graph, node: &Node) -> Option<usize> {
    let ty = |k: usize| {
        node.inputs
            .get(k)
            .copied()
            .flatten()
            .map(|id| &graph.value(id).ty)
    };
    let out = node.outputs.first().map(|&id| &graph.value(id).ty)?;
    let same_as_input = ty(0) == Some(out) && node.outputs.len() == 1;
    let is_noop = match &node.op {
        Op::Identity => true,
        Op::Reshape(_) | Op::Expand(_) | Op::Tile(_) | Op::Slice(_) => same_as_input,
        Op::Cast(_) => same_as_input,
        Op::Transpose(t) => t.perm.iter().enumerate().all(|(i, &p)| i == p),
        Op::Pad(p) => p.pads.iter().all(|&x| x == 0),
        Op::Concat(_) => node.inputs.len() == 1,
        Op::Split(s) => s.sizes.len() == 1,
        _ => false,
    };
    (is_noop && same_as_input).then_some(0)
}

/// Which nodes some graph output needs, following forwarded operands.
fn live_nodes(graph: &Graph, fates: &[Fate]) -> Vec<bool> {
    let mut needed = vec![false; graph.value_count()];
    for &out in graph.outputs() {
        needed[out.index()] = true;
    }
    let mut live = vec![false; graph.node_count()];
    for (id, node) in graph.nodes().collect::<Vec<_>>().into_iter().rev() {
        if !node.outputs.iter().any(|o| needed[o.index()]) {
            continue;
        }
        match &fates[id.index()] {
            Fate::Fold(_) => {}
            Fate::Forward(k) => {
                if let Some(input) = node.inputs[*k] {
                    needed[input.index()] = true;
                }
            }
            Fate::Keep => {
                live[id.index()] = true;
                for input in node.inputs.iter().flatten() {
                    needed[input.index()] = true;
                }
            }
        }
    }
    live
}

fn rebuild(graph: &Graph, fates: &[Fate], live: &[bool]) -> Result<Graph, IrError> {
    let mut rebuilt = Rebuilt {
        source: graph,
        graph: Graph::new(graph.name.clone()),
        map: HashMap::new(),
        forwarded: HashMap::new(),
        folded: HashMap::new(),
    };
    for &input in graph.inputs() {
        let v = graph.value(input);
        let new = rebuilt.graph.add_input(v.name.clone(), v.ty.clone())?;
        rebuilt.map.insert(input, new);
    }
    for (id, node) in graph.nodes() {
        match &fates[id.index()] {
            Fate::Fold(values) => {
                for (&o, value) in node.outputs.iter().zip(values) {
                    rebuilt.folded.insert(o, value.clone());
                }
            }
            Fate::Forward(k) => {
                if let Some(input) = node.inputs[*k] {
                    rebuilt.forwarded.insert(node.outputs[0], input);
                }
            }
            Fate::Keep if live[id.index()] => {
                let inputs = node
                    .inputs
                    .iter()
                    .map(|i| i.map(|id| rebuilt.operand(id)).transpose())
                    .collect::<Result<Vec<_>, _>>()?;
                let names = node
                    .outputs
                    .iter()
                    .map(|&o| graph.value(o).name.clone())
                    .collect();
                let new =
                    rebuilt
                        .graph
                        .add_node(node.name.clone(), node.op.clone(), inputs, names)?;
                for (&o, n) in node.outputs.iter().zip(new) {
                    rebuilt.map.insert(o, n);
                }
            }
            Fate::Keep => {}
        }
    }
    let mut outputs = Vec::new();
    for &o in graph.outputs() {
        let new = rebuilt.operand(o)?;
        let named = keep_output_name(&mut rebuilt.graph, new, &graph.value(o).name, &outputs)?;
        outputs.push(named);
    }
    rebuilt.graph.set_outputs(outputs);
    Ok(rebuilt.graph)
}

/// The graph being rebuilt and how the source graph's values map into it.
struct Rebuilt<'a> {
    source: &'a Graph,
    graph: Graph,
    /// Source value -> rebuilt value.
    map: HashMap<ValueId, ValueId>,
    /// Source value -> the source value it is an alias of.
    forwarded: HashMap<ValueId, ValueId>,
    /// Source values folded to constants, added to the graph on first use (so that
    /// intermediate shape values and unused weights disappear).
    folded: HashMap<ValueId, Tensor>,
}

impl Rebuilt<'_> {
    fn operand(&mut self, mut id: ValueId) -> Result<ValueId, IrError> {
        while let Some(&alias) = self.forwarded.get(&id) {
            id = alias;
        }
        if let Some(&new) = self.map.get(&id) {
            return Ok(new);
        }
        let v = self.source.value(id);
        let tensor = match (&v.def, self.folded.get(&id)) {
            (_, Some(t)) | (ValueDef::Const(t), None) => t.clone(),
            _ => {
                return Err(IrError::Value {
                    value: v.name.clone(),
                    message: "canonicalize: operand used before it was rebuilt".into(),
                });
            }
        };
        let new = self.graph.add_const(v.name.clone(), tensor)?;
        self.map.insert(id, new);
        Ok(new)
    }
}

/// Makes the graph output `value` carry its original `name`: renames the value when
/// it is an intermediate nobody else exposes, otherwise adds an Identity.
fn keep_output_name(
    graph: &mut Graph,
    value: ValueId,
    name: &str,
    earlier_outputs: &[ValueId],
) -> Result<ValueId, IrError> {
    if graph.value(value).name == name {
        return Ok(value);
    }
    let renamable = matches!(graph.value(value).def, ValueDef::Node(..))
        && !earlier_outputs.contains(&value)
        && graph.value_by_name(name).is_none();
    if renamable {
        graph.rename_value(value, name)?;
        return Ok(value);
    }
    let node_name = graph.fresh_name(&format!("{name}.identity"));
    let outs = graph.add_node(
        node_name,
        Op::Identity,
        vec![Some(value)],
        vec![name.to_string()],
    )?;
    Ok(outs[0])
}

#[cfg(test)]
mod tests {
    use nnc_ir::ops::{Binary, Concat, Gather, Reshape, Shape, Unary};
    use nnc_ir::{DType, TensorType, eval};

    use super::*;

    fn input(graph: &mut Graph, name: &str, shape: &[usize]) -> ValueId {
        graph
            .add_input(name, TensorType::new(DType::F32, shape.to_vec()))
            .unwrap()
    }

    fn node(graph: &mut Graph, name: &str, op: Op, inputs: &[ValueId]) -> ValueId {
        let inputs = inputs.iter().map(|&i| Some(i)).collect();
        graph
            .add_node(name, op, inputs, vec![format!("{name}.out")])
            .unwrap()[0]
    }

    fn ramp(shape: &[usize]) -> Tensor {
        let n: usize = shape.iter().product();
        Tensor::from_vec(
            shape.to_vec(),
            (0..n).map(|i| i as f32 * 0.25 - 1.0).collect(),
        )
        .unwrap()
    }

    fn same_outputs(before: &Graph, after: &Graph, inputs: &[Tensor]) {
        let a = eval::run(before, inputs).unwrap();
        let b = eval::run(after, inputs).unwrap();
        assert_eq!(a, b);
    }

    /// The chain PyTorch exports for `x.view(x.size(0), -1)` leaves no trace.
    #[test]
    fn shape_chain_folds_away() {
        let mut g = Graph::new("flatten");
        let x = input(&mut g, "x", &[2, 3, 4]);
        let shape = node(
            &mut g,
            "shape",
            Op::Shape(Shape {
                start: 0,
                end: None,
            }),
            &[x],
        );
        let zero = g.add_const("zero", Tensor::scalar(0i64)).unwrap();
        let batch = node(
            &mut g,
            "gather",
            Op::Gather(Gather { axis: 0 }),
            &[shape, zero],
        );
        let batch = node(
            &mut g,
            "unsqueeze",
            Op::Reshape(Reshape { shape: vec![1] }),
            &[batch],
        );
        let minus_one = g
            .add_const("minus_one", Tensor::from_vec(vec![1], vec![-1i64]).unwrap())
            .unwrap();
        let target = node(
            &mut g,
            "concat",
            Op::Concat(Concat { axis: 0 }),
            &[batch, minus_one],
        );
        assert_eq!(g.known_value(target).unwrap().to_i64_vec(), vec![2, -1]);
        let y = node(
            &mut g,
            "reshape",
            Op::Reshape(Reshape { shape: vec![2, 12] }),
            &[x],
        );
        g.set_outputs(vec![y]);

        let after = canonicalize(&g).unwrap();
        nnc_ir::verify(&after).unwrap();
        let ops: Vec<&str> = after.nodes().map(|(_, n)| n.op.name()).collect();
        assert_eq!(ops, ["Reshape"]);
        same_outputs(&g, &after, &[ramp(&[2, 3, 4])]);
    }

    #[test]
    fn constant_subexpressions_fold_and_unused_weights_go() {
        let mut g = Graph::new("fold");
        let x = input(&mut g, "x", &[4]);
        let a = g.add_const("a", ramp(&[4])).unwrap();
        let b = g.add_const("b", ramp(&[4])).unwrap();
        g.add_const("unused", ramp(&[16])).unwrap();
        let ab = node(&mut g, "ab", Op::Binary(Binary::Add), &[a, b]);
        let exp = node(&mut g, "exp", Op::Unary(Unary::Exp), &[ab]);
        let y = node(&mut g, "mul", Op::Binary(Binary::Mul), &[x, exp]);
        g.set_outputs(vec![y]);

        let after = canonicalize(&g).unwrap();
        assert_eq!(after.node_count(), 1);
        let consts = after.values().filter(|(id, _)| after.is_const(*id)).count();
        assert_eq!(consts, 1, "one folded constant, no unused weights");
        same_outputs(&g, &after, &[ramp(&[4])]);
    }

    #[test]
    fn identities_go_and_outputs_keep_their_names() {
        let mut g = Graph::new("identity");
        let x = input(&mut g, "x", &[2, 2]);
        let r = node(&mut g, "relu", Op::Unary(Unary::Relu), &[x]);
        let same = node(
            &mut g,
            "reshape",
            Op::Reshape(Reshape { shape: vec![2, 2] }),
            &[r],
        );
        let y = node(&mut g, "identity", Op::Identity, &[same]);
        // An output that is directly the graph input needs an Identity to keep its name.
        let z = node(&mut g, "passthrough", Op::Identity, &[x]);
        g.set_outputs(vec![y, z]);

        let after = canonicalize(&g).unwrap();
        nnc_ir::verify(&after).unwrap();
        let ops: Vec<&str> = after.nodes().map(|(_, n)| n.op.name()).collect();
        assert_eq!(ops, ["Relu", "Identity"]);
        let names: Vec<&str> = after
            .outputs()
            .iter()
            .map(|&o| after.value(o).name.as_str())
            .collect();
        assert_eq!(names, ["identity.out", "passthrough.out"]);
        same_outputs(&g, &after, &[ramp(&[2, 2])]);
    }
}
