//! The e-graph's language: one e-node kind per way a tensor can come about.
//!
//! Ops carry their parsed attributes (an [`OpKey`]); weights and graph inputs are
//! referred to by their [`ValueId`] in the source graph, never copied in. Rules may
//! add small literal tensors (an epsilon, a zero bias) and identity kernels; both
//! become ordinary constants when the chosen program is turned back into IR.
//!
//! A later IR op (e.g. a fused kernel) needs no new variant: it is an `Op` like any
//! other, because the key is the op itself.

use std::cell::RefCell;
use std::cmp::Ordering;
use std::collections::HashMap;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Weak};

use egg::{Id, Language};
use nnc_ir::{DType, Op, Tensor, ValueId};
use smallvec::SmallVec;

/// An IR op with its attributes and output count, compared by a canonical key (the
/// op's `Debug` form: attributes are plain data, and `f32` prints round-trip exact).
///
/// The op's name and the key's hash sit beside the pointer: searches ask every
/// e-node its op name and egg's hashcons hashes every e-node it adds or looks up,
/// and reading them here spares a cache miss on the shared op each time (one per
/// e-node touched, which is what made time per e-node grow with the e-graph).
#[derive(Clone)]
pub struct OpKey {
    name: &'static str,
    outputs: usize,
    hash: u64,
    keyed: Arc<KeyedOp>,
}

struct KeyedOp {
    op: Op,
    key: String,
}

impl OpKey {
    pub fn new(op: Op, outputs: usize) -> OpKey {
        let key = format!("{op:?}");
        // A fixed hasher: the same key hashes the same in every run and thread.
        let mut hasher = std::hash::DefaultHasher::new();
        key.hash(&mut hasher);
        let op_hash = hasher.finish();
        outputs.hash(&mut hasher);
        OpKey {
            name: op.name(),
            outputs,
            hash: hasher.finish(),
            keyed: KEYED_OPS.with_borrow_mut(|ops| ops.intern(op_hash, op, key)),
        }
    }

    pub fn op(&self) -> &Op {
        &self.keyed.op
    }

    /// The op's name, as [`Op::name`].
    pub fn name(&self) -> &'static str {
        self.name
    }

    pub fn outputs(&self) -> usize {
        self.outputs
    }
}

thread_local! {
    static KEYED_OPS: RefCell<KeyedOps> = RefCell::default();
}

/// The ops alive on this thread, by the hash of their key, so that equal ops
/// share one [`KeyedOp`]: rules rebuild the same ops over and over (a Mul per
/// folded BatchNorm, the same fused kernel in every block), and sharing keeps the
/// e-graph small and makes most key comparisons a pointer comparison.
#[derive(Default)]
struct KeyedOps {
    by_hash: HashMap<u64, Vec<Weak<KeyedOp>>>,
    /// Entries, live or dead, and how many trigger dropping the dead ones.
    entries: usize,
    prune_at: usize,
}

impl KeyedOps {
    fn intern(&mut self, hash: u64, op: Op, key: String) -> Arc<KeyedOp> {
        let bucket = self.by_hash.entry(hash).or_default();
        if let Some(shared) = bucket
            .iter()
            .filter_map(Weak::upgrade)
            .find(|k| k.key == key)
        {
            return shared;
        }
        let keyed = Arc::new(KeyedOp { op, key });
        bucket.push(Arc::downgrade(&keyed));
        self.entries += 1;
        // Dead entries are dropped once they could make up half the table, so it
        // stays proportional to the ops alive (amortised O(1) per op).
        if self.entries > self.prune_at {
            self.by_hash.retain(|_, bucket| {
                bucket.retain(|k| k.strong_count() > 0);
                !bucket.is_empty()
            });
            self.entries = self.by_hash.values().map(Vec::len).sum();
            self.prune_at = (2 * self.entries).max(1024);
        }
        keyed
    }
}

impl PartialEq for OpKey {
    fn eq(&self, other: &Self) -> bool {
        self.hash == other.hash
            && self.outputs == other.outputs
            && (Arc::ptr_eq(&self.keyed, &other.keyed) || self.keyed.key == other.keyed.key)
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
        if Arc::ptr_eq(&self.keyed, &other.keyed) {
            return Ordering::Equal;
        }
        (&self.keyed.key, self.outputs).cmp(&(&other.keyed.key, other.outputs))
    }
}
impl Hash for OpKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(self.hash);
    }
}
impl fmt::Debug for OpKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.keyed.key)
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

/// The operand classes of an op e-node, inline up to four (every op but the
/// widest fused kernels): egg's rebuild visits each e-node's operands on every
/// iteration, and a separate allocation per e-node made that a cache miss each.
pub type Operands = SmallVec<[Id; 4]>;

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
    Op(OpKey, Operands),
    /// Output `k` of a multi-output op.
    Output(usize, [Id; 1]),
}

/// The bucket egg files each class under, by the kinds of e-node it holds (egg
/// rebuilds these buckets on every `rebuild`, for its pattern search, which the
/// rules do not use). Coarse on purpose: an op by its name and operand count, a
/// leaf by its kind. A fine one (each weight, each attribute set its own bucket)
/// made every rebuild hash each class's whole key into a table that grows with
/// the model. [`Language::matches`] stays exact.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Discriminant {
    Input,
    Weight,
    Literal,
    IdentityKernel,
    Absent,
    Op(&'static str, usize),
    Output(usize),
}

impl Enode {
    pub fn op(op: Op, operands: Vec<Id>) -> Enode {
        Enode::Op(OpKey::new(op, 1), Operands::from_slice(&operands))
    }

    /// The op and operands when this is a single-output op e-node.
    pub fn as_op(&self) -> Option<(&Op, &[Id])> {
        match self {
            Enode::Op(key, operands) if key.outputs() == 1 => Some((key.op(), operands)),
            _ => None,
        }
    }

    /// The op's name when this is a single-output op e-node, read without
    /// touching the op itself.
    pub fn op_name(&self) -> Option<&'static str> {
        match self {
            Enode::Op(key, _) if key.outputs() == 1 => Some(key.name()),
            _ => None,
        }
    }
}

impl Language for Enode {
    type Discriminant = Discriminant;

    fn discriminant(&self) -> Discriminant {
        match self {
            Enode::Input(_) => Discriminant::Input,
            Enode::Weight(_) => Discriminant::Weight,
            Enode::Literal(_) => Discriminant::Literal,
            Enode::IdentityKernel(_) => Discriminant::IdentityKernel,
            Enode::Absent => Discriminant::Absent,
            Enode::Op(key, operands) => Discriminant::Op(key.name(), operands.len()),
            Enode::Output(k, _) => Discriminant::Output(*k),
        }
    }

    /// The same e-node but for its operands (compared in place: nothing cloned).
    fn matches(&self, other: &Self) -> bool {
        match (self, other) {
            (Enode::Input(a), Enode::Input(b)) | (Enode::Weight(a), Enode::Weight(b)) => a == b,
            (Enode::Literal(a), Enode::Literal(b)) => a == b,
            (Enode::IdentityKernel(a), Enode::IdentityKernel(b)) => a == b,
            (Enode::Absent, Enode::Absent) => true,
            (Enode::Op(a, x), Enode::Op(b, y)) => x.len() == y.len() && a == b,
            (Enode::Output(a, _), Enode::Output(b, _)) => a == b,
            _ => false,
        }
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
