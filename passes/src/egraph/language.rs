//! The e-graph's language: one e-node kind per way a tensor can come about.
//!
//! Ops carry their parsed attributes (an [`OpKey`]); weights and graph inputs are
//! referred to by their [`ValueId`] in the source graph, never copied in. Rules may
//! add small literal tensors (an epsilon, a zero bias) and identity kernels; both
//! become ordinary constants when the chosen program is turned back into IR.
//!
//! A later IR op (e.g. a fused kernel) needs no new variant: it is an `Op` like any
//! other, because the key is the op itself.

use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use egg::{Id, Language};
use nnc_ir::{DType, Op, Tensor, ValueId};

/// An IR op with its attributes and output count, compared by a canonical key (the
/// op's `Debug` form: attributes are plain data, and `f32` prints round-trip exact).
#[derive(Clone)]
pub struct OpKey(Arc<KeyedOp>);

struct KeyedOp {
    op: Op,
    outputs: usize,
    key: String,
}

impl OpKey {
    pub fn new(op: Op, outputs: usize) -> OpKey {
        let key = format!("{op:?}");
        OpKey(Arc::new(KeyedOp { op, outputs, key }))
    }

    pub fn op(&self) -> &Op {
        &self.0.op
    }

    pub fn outputs(&self) -> usize {
        self.0.outputs
    }
}

impl PartialEq for OpKey {
    fn eq(&self, other: &Self) -> bool {
        self.0.outputs == other.0.outputs && self.0.key == other.0.key
    }
}
impl Eq for OpKey {}
impl PartialOrd for OpKey {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for OpKey {
    fn cmp(&self, other: &Self) -> Ordering {
        (&self.0.key, self.0.outputs).cmp(&(&other.0.key, other.0.outputs))
    }
}
impl Hash for OpKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.0.key.hash(state);
        self.0.outputs.hash(state);
    }
}
impl fmt::Debug for OpKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.key)
    }
}

/// A small tensor a rule introduces (epsilon, a zero bias), compared by its bytes.
#[derive(Clone)]
pub struct Literal(Arc<Tensor>);

impl Literal {
    pub fn new(tensor: Tensor) -> Literal {
        Literal(Arc::new(tensor))
    }

    pub fn f32_scalar(value: f32) -> Literal {
        Literal::new(Tensor::scalar(value))
    }

    pub fn tensor(&self) -> &Tensor {
        &self.0
    }

    fn key(&self) -> (DType, &[usize], &[u8]) {
        (self.0.dtype(), self.0.shape(), self.0.bytes())
    }
}

impl PartialEq for Literal {
    fn eq(&self, other: &Self) -> bool {
        self.key() == other.key()
    }
}
impl Eq for Literal {}
impl PartialOrd for Literal {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Literal {
    fn cmp(&self, other: &Self) -> Ordering {
        self.key().cmp(&other.key())
    }
}
impl Hash for Literal {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.key().hash(state);
    }
}
impl fmt::Debug for Literal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "literal {:?} {:?}", self.0.dtype(), self.0.shape())
    }
}

/// The f32 weight of a convolution that copies input channel to output channel:
/// shape `[channels, channels / group, kernel..]`, one 1 per output channel at
/// spatial position `tap`, zero elsewhere. Built when the program is turned back
/// into IR, so a C x C kernel never sits in the e-graph.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct IdentityKernel {
    pub channels: usize,
    pub group: usize,
    pub kernel: Vec<usize>,
    pub tap: Vec<usize>,
}

impl IdentityKernel {
    pub fn shape(&self) -> Vec<usize> {
        let mut shape = vec![self.channels, self.channels / self.group];
        shape.extend(&self.kernel);
        shape
    }

    pub fn tensor(&self) -> Tensor {
        let shape = self.shape();
        let per_group = self.channels / self.group;
        let taps: usize = self.kernel.iter().product();
        let mut tap_index = 0;
        for (&t, &k) in self.tap.iter().zip(&self.kernel) {
            tap_index = tap_index * k + t;
        }
        let mut values = vec![0f32; shape.iter().product()];
        for o in 0..self.channels {
            let i = o % per_group;
            values[(o * per_group + i) * taps + tap_index] = 1.0;
        }
        Tensor::from_vec(shape, values).expect("the shape matches its element count")
    }
}

/// An e-node.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Enode {
    /// The source graph's input with this id.
    Input(ValueId),
    /// The source graph's constant with this id.
    Weight(ValueId),
    Literal(Literal),
    IdentityKernel(IdentityKernel),
    /// An absent optional operand.
    Absent,
    /// An op applied to operands (in op order). With several outputs, the class
    /// stands for the tuple and [`Enode::Output`] picks one.
    Op(OpKey, Vec<Id>),
    /// Output `k` of a multi-output op.
    Output(usize, [Id; 1]),
}

/// What the e-graph search uses to skip e-nodes that cannot match.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Discriminant {
    Input(ValueId),
    Weight(ValueId),
    Literal(Literal),
    IdentityKernel(IdentityKernel),
    Absent,
    Op(OpKey, usize),
    Output(usize),
}

impl Enode {
    pub fn op(op: Op, operands: Vec<Id>) -> Enode {
        Enode::Op(OpKey::new(op, 1), operands)
    }

    /// The op and operands when this is a single-output op e-node.
    pub fn as_op(&self) -> Option<(&Op, &[Id])> {
        match self {
            Enode::Op(key, operands) if key.outputs() == 1 => Some((key.op(), operands)),
            _ => None,
        }
    }
}

impl Language for Enode {
    type Discriminant = Discriminant;

    fn discriminant(&self) -> Discriminant {
        match self {
            Enode::Input(v) => Discriminant::Input(*v),
            Enode::Weight(v) => Discriminant::Weight(*v),
            Enode::Literal(l) => Discriminant::Literal(l.clone()),
            Enode::IdentityKernel(k) => Discriminant::IdentityKernel(k.clone()),
            Enode::Absent => Discriminant::Absent,
            Enode::Op(key, operands) => Discriminant::Op(key.clone(), operands.len()),
            Enode::Output(k, _) => Discriminant::Output(*k),
        }
    }

    fn matches(&self, other: &Self) -> bool {
        self.discriminant() == other.discriminant()
    }

    fn children(&self) -> &[Id] {
        match self {
            Enode::Op(_, operands) => operands,
            Enode::Output(_, tuple) => tuple,
            _ => &[],
        }
    }

    fn children_mut(&mut self) -> &mut [Id] {
        match self {
            Enode::Op(_, operands) => operands,
            Enode::Output(_, tuple) => tuple,
            _ => &mut [],
        }
    }
}
