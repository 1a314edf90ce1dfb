//! The tensor graph: values and nodes in arenas, addressed by small handles.
//!
//! Nodes are kept in topological order: a node is added after the producers of all
//! its operands, so a plain walk over `nodes` is an execution order. Passes build a
//! new graph with the same API, which re-infers every type on the way (and so checks
//! the pass's output). Every value has a static type; values whose contents are
//! known at compile time (weights, and small computed tensors such as shapes) carry
//! them, which is what lets shape-deciding operands be resolved while building.

use std::collections::HashMap;

use crate::{Fact, IrError, Op, Tensor, TensorType};

/// Handle of a value in a [`Graph`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ValueId(pub u32);

/// Handle of a node in a [`Graph`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId(pub u32);

impl ValueId {
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

impl NodeId {
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// Where a value comes from.
#[derive(Clone, Debug, PartialEq)]
pub enum ValueDef {
    /// The k-th graph input.
    Input(usize),
    /// A constant (weight or folded value).
    Const(Tensor),
    /// The k-th output of a node.
    Node(NodeId, usize),
}

#[derive(Clone, Debug)]
pub struct Value {
    pub name: String,
    pub ty: TensorType,
    pub def: ValueDef,
    /// The value's contents when known at compile time without being a constant
    /// (a small output of a node whose operands are all known).
    pub known: Option<Tensor>,
}

#[derive(Clone, Debug)]
pub struct Node {
    pub name: String,
    pub op: Op,
    /// Operands in op order; `None` for an absent optional operand.
    pub inputs: Vec<Option<ValueId>>,
    pub outputs: Vec<ValueId>,
}

/// Node outputs up to this many elements whose operands are all known are evaluated
/// while building, so that shape computations resolve. Larger ones are left to
/// constant folding.
pub const KNOWN_VALUE_LIMIT: usize = 1 << 16;

#[derive(Clone, Debug, Default)]
pub struct Graph {
    pub name: String,
    values: Vec<Value>,
    nodes: Vec<Node>,
    inputs: Vec<ValueId>,
    outputs: Vec<ValueId>,
    names: HashMap<String, ValueId>,
}

impl Graph {
    pub fn new(name: impl Into<String>) -> Self {
        Graph {
            name: name.into(),
            ..Graph::default()
        }
    }

    pub fn value(&self, id: ValueId) -> &Value {
        &self.values[id.index()]
    }

    pub fn node(&self, id: NodeId) -> &Node {
        &self.nodes[id.index()]
    }

    pub fn values(&self) -> impl Iterator<Item = (ValueId, &Value)> {
        self.values
            .iter()
            .enumerate()
            .map(|(i, v)| (ValueId(i as u32), v))
    }

    /// Nodes in topological order.
    pub fn nodes(&self) -> impl Iterator<Item = (NodeId, &Node)> {
        self.nodes
            .iter()
            .enumerate()
            .map(|(i, n)| (NodeId(i as u32), n))
    }

    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    pub fn value_count(&self) -> usize {
        self.values.len()
    }

    pub fn inputs(&self) -> &[ValueId] {
        &self.inputs
    }

    pub fn outputs(&self) -> &[ValueId] {
        &self.outputs
    }

    pub fn value_by_name(&self, name: &str) -> Option<ValueId> {
        self.names.get(name).copied()
    }

    /// The contents of a value if known at compile time (constant or computed).
    pub fn known_value(&self, id: ValueId) -> Option<&Tensor> {
        let value = self.value(id);
        match &value.def {
            ValueDef::Const(t) => Some(t),
            _ => value.known.as_ref(),
        }
    }

    pub fn is_const(&self, id: ValueId) -> bool {
        matches!(self.value(id).def, ValueDef::Const(_))
    }

    fn push_value(
        &mut self,
        name: String,
        ty: TensorType,
        def: ValueDef,
    ) -> Result<ValueId, IrError> {
        if self.names.contains_key(&name) {
            return Err(IrError::Value {
                value: name,
                message: "is defined twice".into(),
            });
        }
        let id = ValueId(self.values.len() as u32);
        self.names.insert(name.clone(), id);
        self.values.push(Value {
            name,
            ty,
            def,
            known: None,
        });
        Ok(id)
    }

    /// Adds a graph input.
    pub fn add_input(
        &mut self,
        name: impl Into<String>,
        ty: TensorType,
    ) -> Result<ValueId, IrError> {
        let k = self.inputs.len();
        let id = self.push_value(name.into(), ty, ValueDef::Input(k))?;
        self.inputs.push(id);
        Ok(id)
    }

    /// Adds a constant tensor.
    pub fn add_const(
        &mut self,
        name: impl Into<String>,
        tensor: Tensor,
    ) -> Result<ValueId, IrError> {
        let ty = TensorType::new(tensor.dtype(), tensor.shape().to_vec());
        self.push_value(name.into(), ty, ValueDef::Const(tensor))
    }

    /// A name not yet used by any value, built from `base`.
    pub fn fresh_name(&self, base: &str) -> String {
        if !self.names.contains_key(base) {
            return base.to_string();
        }
        (1..)
            .map(|i| format!("{base}.{i}"))
            .find(|n| !self.names.contains_key(n))
            .expect("an unused name exists")
    }

    /// Adds a node after inferring its output types (and, for small outputs of known
    /// operands, their values). Fails with an error naming the node.
    pub fn add_node(
        &mut self,
        name: impl Into<String>,
        op: Op,
        inputs: Vec<Option<ValueId>>,
        output_names: Vec<String>,
    ) -> Result<Vec<ValueId>, IrError> {
        let name = name.into();
        let node_error = |message: String| IrError::node(&name, op.name(), message);
        for id in inputs.iter().flatten() {
            if id.index() >= self.values.len() {
                return Err(node_error(format!("operand {id:?} does not exist")));
            }
        }
        let facts: Vec<Option<Fact>> = inputs
            .iter()
            .map(|i| {
                i.map(|id| Fact {
                    ty: &self.values[id.index()].ty,
                    value: self.known_value(id),
                })
            })
            .collect();
        let types = op
            .infer(&facts, output_names.len())
            .map_err(|e| node_error(e.0))?;
        if types.len() != output_names.len() {
            return Err(node_error(format!(
                "produces {} outputs, the node names {}",
                types.len(),
                output_names.len()
            )));
        }
        let known = self
            .evaluate_if_known(&op, &inputs, &types)
            .map_err(|e| node_error(e.0))?;
        let node_id = NodeId(self.nodes.len() as u32);
        let mut outputs = Vec::with_capacity(types.len());
        for (k, (out_name, ty)) in output_names.into_iter().zip(types).enumerate() {
            let id = self.push_value(out_name, ty, ValueDef::Node(node_id, k))?;
            outputs.push(id);
        }
        if let Some(values) = known {
            for (&id, value) in outputs.iter().zip(values) {
                self.values[id.index()].known = Some(value);
            }
        }
        self.nodes.push(Node {
            name,
            op,
            inputs,
            outputs: outputs.clone(),
        });
        Ok(outputs)
    }

    fn evaluate_if_known(
        &self,
        op: &Op,
        inputs: &[Option<ValueId>],
        types: &[TensorType],
    ) -> crate::OpResult<Option<Vec<Tensor>>> {
        // Shape and Size depend on the operand's type only, never on its contents.
        let operand_shape = || {
            inputs
                .first()
                .copied()
                .flatten()
                .map(|id| &self.value(id).ty.shape)
        };
        match (op, operand_shape()) {
            (Op::Shape(s), Some(dims)) => {
                let d = s.dims_of(dims);
                return Ok(Some(vec![Tensor::from_vec(vec![d.len()], d)?]));
            }
            (Op::Size, Some(dims)) => {
                let n = dims.iter().product::<usize>() as i64;
                return Ok(Some(vec![Tensor::scalar(n)]));
            }
            _ => {}
        }
        let small = types.iter().all(|t| t.len() <= KNOWN_VALUE_LIMIT);
        let operands: Option<Vec<Option<&Tensor>>> = inputs
            .iter()
            .map(|i| match i {
                None => Some(None),
                Some(id) => self.known_value(*id).map(Some),
            })
            .collect();
        let Some(operands) = operands.filter(|_| small) else {
            return Ok(None);
        };
        let values = op.eval(&operands, types.len())?;
        Ok(Some(values))
    }

    /// Gives a value another name (e.g. so that a graph output keeps its ABI name
    /// after the node that produced it was removed). Fails if the name is taken.
    pub fn rename_value(&mut self, id: ValueId, name: impl Into<String>) -> Result<(), IrError> {
        let name = name.into();
        if self.names.get(&name).is_some_and(|&other| other != id) {
            return Err(IrError::Value {
                value: name,
                message: "is defined twice".into(),
            });
        }
        let old = std::mem::replace(&mut self.values[id.index()].name, name.clone());
        self.names.remove(&old);
        self.names.insert(name, id);
        Ok(())
    }

    /// Marks values as the graph's outputs, in order.
    pub fn set_outputs(&mut self, outputs: Vec<ValueId>) {
        self.outputs = outputs;
    }
}
