//! The API a converter sees: one ONNX node's operands, attributes and outputs, and
//! the IR graph it adds nodes to.

use std::collections::{HashMap, HashSet};

use nnc_ir::{DType, Graph, IrError, Op, Tensor, TensorType, ValueDef, ValueId};

use super::attrs::Attrs;
use crate::proto::{NodeProto, TensorProto};
use crate::tensor::{ExternalData, decode_tensor};

pub use crate::error::ConvertError;
pub(crate) use crate::error::{bail, refuse};

pub type ConvResult<T> = Result<T, ConvertError>;

/// The state shared by all nodes of one import.
pub(crate) struct ImportState<'m> {
    pub graph: Graph,
    /// ONNX value name -> IR value.
    pub env: HashMap<String, ValueId>,
    /// Every name the ONNX graph uses, so that internal names never collide with
    /// a name defined later.
    pub onnx_names: HashSet<&'m str>,
    pub external: &'m ExternalData,
}

/// One ONNX node being converted.
pub struct NodeCtx<'a, 'm> {
    state: &'a mut ImportState<'m>,
    node: &'m NodeProto,
    /// The node's name for IR nodes and messages (its ONNX name, or one made up).
    pub label: &'a str,
    /// The opset version of the node's domain.
    pub opset: i64,
    pub attrs: Attrs<'m>,
}

impl<'a, 'm> NodeCtx<'a, 'm> {
    pub(crate) fn new(
        state: &'a mut ImportState<'m>,
        node: &'m NodeProto,
        label: &'a str,
        opset: i64,
    ) -> Self {
        NodeCtx {
            state,
            node,
            label,
            opset,
            attrs: Attrs::new(&node.attribute),
        }
    }

    pub fn op_type(&self) -> &str {
        &self.node.op_type
    }

    /// Number of operands the node lists (absent optional ones included).
    pub fn input_count(&self) -> usize {
        self.node.input.len()
    }

    /// Operand `i`, or `None` if the node omits it (missing or empty name).
    pub fn opt_input(&self, i: usize) -> ConvResult<Option<ValueId>> {
        match self.node.input.get(i).map(String::as_str) {
            None | Some("") => Ok(None),
            Some(name) => match self.state.env.get(name) {
                Some(&id) => Ok(Some(id)),
                None => bail!("input '{name}' is not defined"),
            },
        }
    }

    /// Operand `i`, which the op requires.
    pub fn input(&self, i: usize) -> ConvResult<ValueId> {
        match self.opt_input(i)? {
            Some(id) => Ok(id),
            None => bail!("{} requires input {i}, which is missing", self.op_type()),
        }
    }

    pub fn ty(&self, id: ValueId) -> &TensorType {
        &self.state.graph.value(id).ty
    }

    /// The type of operand `i` (required).
    pub fn input_type(&self, i: usize) -> ConvResult<TensorType> {
        let id = self.input(i)?;
        Ok(self.ty(id).clone())
    }

    /// The value of operand `i`, which must be known at compile time; `what` names
    /// the operand as the ONNX spec does ("shape").
    pub fn known(&self, i: usize, what: &str) -> ConvResult<Tensor> {
        match self.opt_known(i, what)? {
            Some(t) => Ok(t),
            None => bail!(
                "{} requires input '{what}', which is missing",
                self.op_type()
            ),
        }
    }

    /// Like [`NodeCtx::known`] for an optional operand: `None` when absent.
    pub fn opt_known(&self, i: usize, what: &str) -> ConvResult<Option<Tensor>> {
        let Some(id) = self.opt_input(i)? else {
            return Ok(None);
        };
        match self.state.graph.known_value(id) {
            Some(t) => Ok(Some(t.clone())),
            None => {
                let value = self.state.graph.value(id);
                let source = match value.def {
                    ValueDef::Input(_) => "is a graph input",
                    _ => "is computed at run time from the graph's inputs",
                };
                refuse!(
                    "input '{what}' of {} must be known at compile time, but '{}' {source}",
                    self.op_type(),
                    value.name
                )
            }
        }
    }

    /// A known integer operand as i64s, which the op requires.
    pub fn known_ints(&self, i: usize, what: &str) -> ConvResult<Vec<i64>> {
        match self.opt_known_ints(i, what)? {
            Some(v) => Ok(v),
            None => bail!(
                "{} requires input '{what}', which is missing",
                self.op_type()
            ),
        }
    }

    /// A known integer operand as i64s (`None` when absent).
    pub fn opt_known_ints(&self, i: usize, what: &str) -> ConvResult<Option<Vec<i64>>> {
        let Some(t) = self.opt_known(i, what)? else {
            return Ok(None);
        };
        if !t.dtype().is_int() {
            bail!("input '{what}' must be an integer tensor, is {}", t.dtype());
        }
        Ok(Some(t.to_i64_vec()))
    }

    /// A known float operand as f64s (`None` when absent).
    pub fn opt_known_floats(&self, i: usize, what: &str) -> ConvResult<Option<Vec<f64>>> {
        let Some(t) = self.opt_known(i, what)? else {
            return Ok(None);
        };
        if !t.dtype().is_float() {
            bail!("input '{what}' must be a float tensor, is {}", t.dtype());
        }
        Ok(Some(t.to_f64_vec()))
    }

    /// A known one-element operand, which the op requires.
    pub fn known_scalar(&self, i: usize, what: &str) -> ConvResult<Tensor> {
        let t = self.known(i, what)?;
        if t.len() != 1 {
            bail!(
                "input '{what}' must hold one element, has shape {:?}",
                t.shape()
            );
        }
        Ok(t)
    }

    /// Number of outputs the node asks for, up to the last non-empty name.
    pub fn output_count(&self) -> usize {
        self.node
            .output
            .iter()
            .rposition(|o| !o.is_empty())
            .map_or(0, |i| i + 1)
    }

    /// Number of outputs the node lists, empty names included.
    pub fn listed_outputs(&self) -> usize {
        self.node.output.len()
    }

    /// Whether output `k` is asked for (listed with a non-empty name).
    pub fn wants_output(&self, k: usize) -> bool {
        self.node.output.get(k).is_some_and(|o| !o.is_empty())
    }

    /// Decodes a tensor found in an attribute.
    pub fn attr_tensor(&self, name: &str, proto: &TensorProto) -> ConvResult<Tensor> {
        decode_tensor(proto, self.state.external)
            .map_err(|e| e.within(&format!("attribute '{name}'")))
    }

    /// Adds `op` as the node producing all of this ONNX node's outputs.
    pub fn add(&mut self, op: Op, inputs: Vec<Option<ValueId>>) -> ConvResult<Vec<ValueId>> {
        self.add_with(op, inputs, self.output_count())
    }

    /// Like [`NodeCtx::add`] for an op whose output count is not told by the
    /// names alone (Split): `count` outputs, unnamed ones internal.
    pub fn add_with(
        &mut self,
        op: Op,
        inputs: Vec<Option<ValueId>>,
        count: usize,
    ) -> ConvResult<Vec<ValueId>> {
        if count == 0 {
            bail!("the node has no outputs");
        }
        let names: Vec<String> = (0..count).map(|k| self.output_name(k)).collect();
        let ids = self.add_ir(op, inputs, names, true)?;
        self.bind_outputs(&ids);
        Ok(ids)
    }

    /// Adds a one-output IR node that produces ONNX output `k`.
    pub fn add_output(
        &mut self,
        k: usize,
        op: Op,
        inputs: Vec<Option<ValueId>>,
    ) -> ConvResult<ValueId> {
        let name = self.output_name(k);
        let id = self.add_one(op, inputs, name, true)?;
        if self.wants_output(k) {
            self.state.env.insert(self.node.output[k].clone(), id);
        }
        Ok(id)
    }

    /// Adds a one-output IR node whose result is internal to this conversion.
    pub fn add_internal(&mut self, op: Op, inputs: Vec<Option<ValueId>>) -> ConvResult<ValueId> {
        let name = self.internal_name(op.name());
        self.add_one(op, inputs, name, false)
    }

    /// Adds a constant internal to this conversion.
    pub fn constant(&mut self, tensor: Tensor) -> ConvResult<ValueId> {
        let name = self.internal_name("const");
        self.state
            .graph
            .add_const(name, tensor)
            .map_err(|e| ir_error(e, "constant", false))
    }

    /// Adds a scalar constant of `dtype` holding `value`.
    pub fn scalar(&mut self, dtype: DType, value: f64) -> ConvResult<ValueId> {
        self.constant(Tensor::from_f64_values(dtype, vec![], &[value])?)
    }

    /// Makes ONNX output `k` a constant.
    pub fn const_output(&mut self, k: usize, tensor: Tensor) -> ConvResult<ValueId> {
        let name = self.output_name(k);
        let id = self
            .state
            .graph
            .add_const(name, tensor)
            .map_err(|e| ir_error(e, "constant", true))?;
        if self.wants_output(k) {
            self.state.env.insert(self.node.output[k].clone(), id);
        }
        Ok(id)
    }

    fn add_one(
        &mut self,
        op: Op,
        inputs: Vec<Option<ValueId>>,
        name: String,
        main: bool,
    ) -> ConvResult<ValueId> {
        let ids = self.add_ir(op, inputs, vec![name], main)?;
        match ids.as_slice() {
            [id] => Ok(*id),
            _ => bail!("internal error: expected one output"),
        }
    }

    fn add_ir(
        &mut self,
        op: Op,
        inputs: Vec<Option<ValueId>>,
        names: Vec<String>,
        main: bool,
    ) -> ConvResult<Vec<ValueId>> {
        let op_name = op.name();
        self.state
            .graph
            .add_node(self.label, op, inputs, names)
            .map_err(|e| ir_error(e, op_name, main))
    }

    fn bind_outputs(&mut self, ids: &[ValueId]) {
        for (k, &id) in ids.iter().enumerate() {
            if self.wants_output(k) {
                self.state.env.insert(self.node.output[k].clone(), id);
            }
        }
    }

    /// The IR name of output `k`: its ONNX name, or an internal one if unnamed.
    fn output_name(&self, k: usize) -> String {
        if self.wants_output(k) {
            self.node.output[k].clone()
        } else {
            self.internal_name(&format!("unused{k}"))
        }
    }

    /// A value name used neither by the ONNX graph nor by the IR graph so far.
    fn internal_name(&self, what: &str) -> String {
        let base = format!("{}/{what}", self.label);
        let free = |n: &str| {
            !self.state.onnx_names.contains(n) && self.state.graph.value_by_name(n).is_none()
        };
        if free(&base) {
            return base;
        }
        (1..)
            .map(|i| format!("{base}.{i}"))
            .find(|n| free(n))
            .unwrap_or(base)
    }
}

/// An IR error as a message about the node being converted; errors of helper
/// nodes say which IR op raised them.
fn ir_error(e: IrError, op: &str, main: bool) -> ConvertError {
    let message = match e {
        IrError::Node { message, .. } => message,
        IrError::Value { value, message } => format!("value '{value}' {message}"),
        IrError::Graph(message) => message,
    };
    // Shape inference refusing the operands is the model's fault as far as the
    // IR can tell (OpError has no kind), so these stay malformed.
    if main {
        ConvertError::malformed(message)
    } else {
        ConvertError::malformed(format!("{op}: {message}"))
    }
}
