//! IR -> e-graph -> IR.
//!
//! Into the e-graph: every node becomes an op e-node over its operands' classes;
//! graph inputs and weights become leaves that name the source value. Out of it:
//! the chosen e-node of each needed class becomes a node again. Weight-producing
//! e-nodes that rules built (new kernels from BatchNorm statistics, padded and
//! summed branch kernels) are evaluated right there, once, into new weights.

use std::collections::HashMap;
use std::sync::Arc;

use egg::Id;
use nnc_ir::{Graph, IrError, Op, Tensor, ValueDef, ValueId};

use super::analysis::{ClassFacts, IrAnalysis, IrEGraph, SMALL_VALUE_LIMIT};
use super::extract::Choices;
use super::language::{Enode, OpKey, Operands};

/// A graph in e-graph form, with what is needed to turn it back.
pub struct Encoded {
    pub egraph: IrEGraph,
    /// The classes of the graph's outputs, in order.
    pub roots: Vec<Id>,
    /// Node and output names of the source nodes, by the class they were added as.
    origins: Vec<(Id, Origin)>,
}

#[derive(Clone)]
struct Origin {
    node: String,
    outputs: Vec<String>,
}

/// Builds the e-graph of `graph`.
pub fn to_egraph(graph: &Graph) -> Encoded {
    let mut analysis = IrAnalysis::default();
    for (id, value) in graph.values() {
        let facts = match &value.def {
            ValueDef::Input(_) => ClassFacts {
                types: vec![value.ty.clone()],
                constant: false,
                value: None,
            },
            ValueDef::Const(t) => ClassFacts {
                types: vec![value.ty.clone()],
                constant: true,
                value: (t.len() <= SMALL_VALUE_LIMIT).then(|| Arc::new(t.clone())),
            },
            ValueDef::Node(..) => continue,
        };
        analysis.leaves.insert(id, facts);
    }
    let mut egraph = IrEGraph::new(analysis);
    let mut classes: HashMap<ValueId, Id> = HashMap::new();
    for (id, value) in graph.values() {
        match value.def {
            ValueDef::Input(_) => {
                classes.insert(id, egraph.add(Enode::Input(id)));
            }
            ValueDef::Const(_) => {
                classes.insert(id, egraph.add(Enode::Weight(id)));
            }
            ValueDef::Node(..) => {}
        }
    }
    let absent = egraph.add(Enode::Absent);
    let mut origins = Vec::new();
    for (_, node) in graph.nodes() {
        let operands: Operands = node
            .inputs
            .iter()
            .map(|i| i.map_or(absent, |v| classes[&v]))
            .collect();
        let outputs = node.outputs.len();
        let class = egraph.add(Enode::Op(OpKey::new(node.op.clone(), outputs), operands));
        let names = node.outputs.iter().map(|&o| graph.value(o).name.clone());
        origins.push((
            class,
            Origin {
                node: node.name.clone(),
                outputs: names.collect(),
            },
        ));
        if outputs == 1 {
            classes.insert(node.outputs[0], class);
        } else {
            for (k, &out) in node.outputs.iter().enumerate() {
                classes.insert(out, egraph.add(Enode::Output(k, [class])));
            }
        }
    }
    let roots = graph.outputs().iter().map(|v| classes[v]).collect();
    egraph.rebuild();
    Encoded {
        egraph,
        roots,
        origins,
    }
}

/// Ops never evaluated into weights here even when their operands are constants:
/// quantized weights stay quantized, and shape-growing ops stay small.
fn keeps_as_node(op: &Op) -> bool {
    matches!(
        op,
        Op::Dequantize(_) | Op::ConstantOfShape(_) | Op::Expand(_) | Op::Tile(_) | Op::Range
    )
}

/// What a class became in the output graph.
#[derive(Clone)]
enum Built {
    Absent,
    Value(ValueId),
    Tuple(Vec<ValueId>),
}

struct Builder<'a> {
    source: &'a Graph,
    encoded: &'a Encoded,
    choices: &'a Choices,
    origins: HashMap<Id, Origin>,
    out: Graph,
    built: HashMap<Id, Built>,
    /// Classes being built: meeting one again means the choices form a cycle
    /// (possible when tree costs are so large that a step's cost is lost to
    /// rounding), which is reported rather than recursed into.
    building: std::collections::HashSet<Id>,
    weights: HashMap<ValueId, ValueId>,
}

/// Builds the graph of the chosen e-nodes; outputs keep their names.
pub fn to_graph(source: &Graph, encoded: &Encoded, choices: &Choices) -> Result<Graph, IrError> {
    let mut origins = HashMap::new();
    for (class, origin) in &encoded.origins {
        origins
            .entry(encoded.egraph.find(*class))
            .or_insert_with(|| origin.clone());
    }
    let mut out = Graph::new(source.name.clone());
    let mut built = HashMap::new();
    for &input in source.inputs() {
        let value = source.value(input);
        let id = out.add_input(value.name.clone(), value.ty.clone())?;
        built.insert(
            encoded.egraph.find(
                encoded
                    .egraph
                    .lookup(Enode::Input(input))
                    .expect("inputs are leaves"),
            ),
            Built::Value(id),
        );
    }
    let mut builder = Builder {
        source,
        encoded,
        choices,
        origins,
        out,
        built,
        building: Default::default(),
        weights: HashMap::new(),
    };
    // Source nodes first, in their order: the program keeps the source's schedule
    // where it can (a depth-first walk from the outputs would compute values
    // long before their use, and grow the arena).
    for (class, _) in &encoded.origins {
        let class = encoded.egraph.find(*class);
        if choices.nodes.contains_key(&class) {
            builder.build(class)?;
        }
    }
    let mut outputs = Vec::new();
    for (&root, &source_out) in encoded.roots.iter().zip(source.outputs()) {
        let value = match builder.build(root)? {
            Built::Value(v) => v,
            _ => {
                return Err(IrError::Graph(
                    "a graph output became a tuple or absent".into(),
                ));
            }
        };
        let named = builder.named_output(value, &source.value(source_out).name, &outputs)?;
        outputs.push(named);
    }
    builder.out.set_outputs(outputs);
    Ok(builder.out)
}

impl Builder<'_> {
    fn build(&mut self, class: Id) -> Result<Built, IrError> {
        let class = self.encoded.egraph.find(class);
        if let Some(b) = self.built.get(&class) {
            return Ok(b.clone());
        }
        if !self.building.insert(class) {
            return Err(IrError::Graph(format!(
                "the extracted program has a cycle through e-class {class}"
            )));
        }
        let node = self.choices.node(&self.encoded.egraph, class).clone();
        let built = match node {
            Enode::Input(v) => {
                return Err(IrError::Graph(format!("input {v:?} is not a graph input")));
            }
            Enode::Weight(v) => Built::Value(self.weight(v)?),
            // Names carry the class id: unique without searching (fresh_name's
            // search is linear in the names already taken from the same base).
            Enode::Literal(l) => {
                let name = self.out.fresh_name(&format!("egraph/literal/{class}"));
                Built::Value(self.out.add_const(name, l.tensor().clone())?)
            }
            Enode::IdentityKernel(k) => {
                let name = self
                    .out
                    .fresh_name(&format!("egraph/identity_kernel/{class}"));
                Built::Value(self.out.add_const(name, k.tensor())?)
            }
            Enode::Absent => Built::Absent,
            Enode::Output(k, [tuple]) => match self.build(tuple)? {
                Built::Tuple(values) => Built::Value(values[k]),
                _ => return Err(IrError::Graph("Output of a single-output node".into())),
            },
            Enode::Op(key, operands) => self.op(class, &key, &operands)?,
        };
        self.building.remove(&class);
        self.built.insert(class, built.clone());
        Ok(built)
    }

    fn weight(&mut self, v: ValueId) -> Result<ValueId, IrError> {
        if let Some(&id) = self.weights.get(&v) {
            return Ok(id);
        }
        let value = self.source.value(v);
        let ValueDef::Const(t) = &value.def else {
            return Err(IrError::Graph(format!("{} is not a constant", value.name)));
        };
        let id = self.out.add_const(value.name.clone(), t.clone())?;
        self.weights.insert(v, id);
        Ok(id)
    }

    fn op(&mut self, class: Id, key: &OpKey, operands: &[Id]) -> Result<Built, IrError> {
        let mut inputs = Vec::with_capacity(operands.len());
        for &c in operands {
            inputs.push(match self.build(c)? {
                Built::Absent => None,
                Built::Value(v) => Some(v),
                Built::Tuple(_) => return Err(IrError::Graph("a tuple used as an operand".into())),
            });
        }
        let origin = self.origins.get(&class).cloned();
        let op = key.op().clone();
        let base = origin.as_ref().map_or_else(
            || format!("egraph/{}/{class}", op.name()),
            |o| o.node.clone(),
        );
        let all_const = inputs.iter().flatten().all(|&v| self.out.is_const(v));
        if origin.is_none() && all_const && !keeps_as_node(&op) {
            // A weight-producing e-node: the new weight, computed once.
            let operands: Vec<Option<&Tensor>> = inputs
                .iter()
                .map(|i| i.and_then(|v| self.out.known_value(v)))
                .collect();
            let mut values = op
                .eval(&operands, 1)
                .map_err(|e| IrError::node(&base, op.name(), e.0))?;
            let name = self.out.fresh_name(&format!("{base}.weight"));
            let tensor = values
                .pop()
                .ok_or_else(|| IrError::node(&base, op.name(), "no output"))?;
            return Ok(Built::Value(self.out.add_const(name, tensor)?));
        }
        let node_name = base.clone();
        let output_names: Vec<String> = (0..key.outputs())
            .map(|k| {
                let wanted = origin
                    .as_ref()
                    .and_then(|o| o.outputs.get(k).cloned())
                    .unwrap_or_else(|| format!("{base}_output_{k}"));
                self.out.fresh_name(&wanted)
            })
            .collect();
        let outputs = self.out.add_node(node_name, op, inputs, output_names)?;
        Ok(if key.outputs() == 1 {
            Built::Value(outputs[0])
        } else {
            Built::Tuple(outputs)
        })
    }

    /// `value` under the output name `name`: renamed when it is a node's output not
    /// yet exposed, otherwise through an Identity (inputs keep their ABI names).
    fn named_output(
        &mut self,
        value: ValueId,
        name: &str,
        exposed: &[ValueId],
    ) -> Result<ValueId, IrError> {
        let v = self.out.value(value);
        if v.name == name && !exposed.contains(&value) {
            return Ok(value);
        }
        let is_node = matches!(v.def, ValueDef::Node(..));
        if is_node && self.out.value_by_name(name).is_none() && !exposed.contains(&value) {
            self.out.rename_value(value, name)?;
            return Ok(value);
        }
        let name = self.out.fresh_name(name);
        let node = self.out.fresh_name(&format!("{name}/Identity"));
        Ok(self
            .out
            .add_node(node, Op::Identity, vec![Some(value)], vec![name])?[0])
    }
}
