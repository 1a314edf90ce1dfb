//! Kernel IR: the target-neutral program a kernel is, between the graph and the
//! code generators.
//!
//! A [`Kernel`] is a function over buffers (pointers to arrays of one element type)
//! whose body is a structured program: counted loops with static bounds, ifs,
//! assignments to typed local variables, loads and stores at integer element
//! indices, and arithmetic on scalars or fixed-width vectors. It is deliberately
//! close to what both emitters consume: Cranelift builds SSA from the locals, and
//! WebAssembly has locals and structured control flow of the same shape.
//!
//! Safety is checked, not hoped for: [`bounds::check`] proves by interval analysis
//! over the static loop bounds that every load and store stays inside its buffer,
//! so the generated code never touches memory outside what it is given. Indices
//! that depend on data (Gather) must be clamped explicitly for the proof to go
//! through. [`interp`] runs a kernel directly; it is the reference the emitters are
//! tested against.
//!
//! # Typing rules (checked by [`check`])
//! - Values are scalars (`lanes == 1`) or 128-bit vectors (`f32x4`, `i32x4`,
//!   `f64x2`, `i64x2`, `i16x8`, `u8x16`, ...). Loop counters and load/store indices
//!   are scalar `I64`.
//! - A load's element type is its buffer's, and so is a stored value's — except that
//!   `F16` buffers are read and written as their raw `U16` bits (kernels convert to
//!   and from `F32` with integer and float operations) and `Bool` buffers hold one
//!   byte 0/1 and are accessed as scalar `Bool` only.
//! - `Binary` and `Fma` operands have the same type (`Fma` only for floats);
//!   `Compare` operands have the same type and give `Bool` of the same lane count;
//!   `Select` takes such a `Bool` condition and two operands of one type with that
//!   lane count. Vector `Bool`s (lane masks) exist only as operands of `Select` and
//!   of `And`/`Or`/`Xor`/`Not`: they cannot be loaded, stored or converted.
//! - `Convert` keeps the lane count; float -> int truncates toward zero and
//!   saturates (NaN -> 0); int -> int wraps or extends by the source's signedness;
//!   scalar `Bool` converts to and from numbers as 0/1. `F16` is never converted.
//! - `Bitcast` keeps the lane count and the element size.
//! - Integer `Div`/`Rem` by zero is an error of the kernel; lowerings rule it out.
//! - `If` conditions are scalar `Bool`; `Assign` values have the variable's type.
//! - A `Tile` statement (a GEMM block, [`tile`]) is checked, bounds-proven and
//!   interpreted as its expansion into the statements above.

pub mod bounds;
mod builder;
pub mod check;
pub mod interp;
mod print;
mod program;
pub mod tile;
mod types;

pub use builder::KernelBuilder;
pub use program::{BufferRef, IoSpec, KernelCall, Program, Weight};
pub use tile::{
    ColumnBlocks, GemmTile, ReductionDim, TileAddend, TileFn, TileLambda, TileMap, TileOperand,
    TileStep,
};
pub use types::{ElemType, Ty};

/// Handle of a buffer parameter of a kernel.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BufId(pub u32);

/// Handle of a local variable of a kernel.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct VarId(pub u32);

/// A kernel: a function `(buffers...) -> status` with a structured body.
#[derive(Clone, Debug, PartialEq)]
pub struct Kernel {
    pub name: String,
    /// Parameters, in call order: each a pointer to `len` elements.
    pub buffers: Vec<Buffer>,
    /// Local variables (loop counters included), each with a fixed type.
    pub vars: Vec<Var>,
    pub body: Vec<Stmt>,
}

/// A buffer parameter: `len` elements of `elem`, read-only unless `writable`.
#[derive(Clone, Debug, PartialEq)]
pub struct Buffer {
    pub name: String,
    pub elem: ElemType,
    pub len: usize,
    pub writable: bool,
    /// Nothing changes the buffer while the kernel runs (no store of the
    /// kernel reaches it through another buffer either): an emitter may treat
    /// its loads as pure, move them to their uses, out of loops and merge
    /// equal ones. Set by lowerings that know their operands are distinct
    /// ([`crate::kernel::KernelBuilder::mark_unchanging`]).
    pub unchanging: bool,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Var {
    pub name: String,
    pub ty: Ty,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Stmt {
    /// `for var in (start..end).step_by(step)`; `var` is an index (i64) variable.
    /// Bounds are static so that sizes, unrolling and bounds proofs are exact.
    Loop {
        var: VarId,
        start: i64,
        end: i64,
        step: i64,
        body: Vec<Stmt>,
    },
    If {
        /// A scalar bool (a comparison, or `And`/`Or` of comparisons).
        cond: Expr,
        then_body: Vec<Stmt>,
        else_body: Vec<Stmt>,
    },
    /// `var = value`; the value's type must be the variable's.
    Assign { var: VarId, value: Expr },
    /// Writes `value` (scalar, or a vector of consecutive elements) at element
    /// `index` of a writable buffer.
    Store {
        buf: BufId,
        index: Expr,
        value: Expr,
    },
    /// Leaves the kernel with a non-zero status (e.g. an index out of range in
    /// data); the model's entry point returns it.
    Fail { code: i32 },
    /// A block of a matrix product (see [`tile`]): defined by its expansion into
    /// the statements above, which a backend may replace by a microkernel.
    Tile(Box<GemmTile>),
}

/// A scalar constant.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Scalar {
    F32(f32),
    F64(f64),
    /// Any integer type (and bool as 0/1), with its type.
    Int(i64, ElemType),
}

#[derive(Clone, Debug, PartialEq)]
pub enum Expr {
    Const(Scalar),
    Var(VarId),
    /// `ty.lanes` consecutive elements of `buf` from element `index` (an index
    /// expression); `ty.elem` must be the buffer's element type.
    Load {
        buf: BufId,
        index: Box<Expr>,
        ty: Ty,
    },
    Unary(UnaryOp, Box<Expr>),
    Binary(BinaryOp, Box<Expr>, Box<Expr>),
    /// `a * b + c` (fused where the target has FMA, else multiply then add).
    Fma(Box<Expr>, Box<Expr>, Box<Expr>),
    /// Lane-wise comparison; the result is a bool of the operands' lane count.
    Compare(CompareOp, Box<Expr>, Box<Expr>),
    /// Lane-wise `cond ? a : b`.
    Select(Box<Expr>, Box<Expr>, Box<Expr>),
    /// Numeric conversion to another element type, lane-wise (float -> int
    /// truncates toward zero and saturates; int -> int wraps).
    Convert(ElemType, Box<Expr>),
    /// Reinterprets the bits as another element type of the same width.
    Bitcast(ElemType, Box<Expr>),
    /// A vector with the scalar in every lane.
    Splat(u8, Box<Expr>),
    /// One lane of a vector.
    Extract(Box<Expr>, u8),
    /// A vector whose lane `i` is the scalar `lanes[i]` (all of one non-bool
    /// type; 2 or more of them, a valid vector): how strided data (a strided
    /// convolution's input) becomes a vector.
    Lanes(Vec<Expr>),
    /// Horizontal reduction of a vector to a scalar.
    Reduce(ReduceOp, Box<Expr>),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum UnaryOp {
    Neg,
    Abs,
    Sqrt,
    Floor,
    Ceil,
    /// Round half to even.
    Round,
    Trunc,
    /// Bitwise not for integers, logical not for bools.
    Not,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BinaryOp {
    Add,
    Sub,
    Mul,
    /// Float division; integer division truncating toward zero (the lowering must
    /// rule out division by zero).
    Div,
    /// Integer remainder with the sign of the dividend (the lowering must rule out
    /// division by zero).
    Rem,
    /// For floats: NaN if either operand is NaN (ONNX Max/Min semantics).
    Max,
    Min,
    And,
    Or,
    Xor,
    Shl,
    /// Arithmetic for signed, logical for unsigned element types.
    Shr,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CompareOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ReduceOp {
    Add,
    Max,
    Min,
}

impl Kernel {
    pub fn buffer(&self, id: BufId) -> &Buffer {
        &self.buffers[id.0 as usize]
    }

    pub fn var(&self, id: VarId) -> &Var {
        &self.vars[id.0 as usize]
    }
}
