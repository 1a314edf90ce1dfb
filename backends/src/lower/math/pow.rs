//! x^y for floats, with C's (and Rust's `powf`) special cases.
//!
//! |x|^y = e^(y·ln|x|); the sign and the NaN of a negative base come from whether
//! y is an (odd) integer. The relative error grows with |y·ln|x||: lowerings of f32
//! and f16 Pow compute in f64 (far below an f32 ulp); f64 Pow is within
//! ~|y·ln|x||·2^-53 plus a few ulp.

use nnc_ir::kernel::{BinaryOp, CompareOp, Expr, UnaryOp};

use super::FloatMath;

impl FloatMath<'_> {
    pub fn pow(&mut self, x: Expr, y: Expr) -> Expr {
        let x = self.let_("pow_x", x);
        let y = self.let_("pow_y", y);
        let ax = self.abs(x.clone());
        let l = self.log(ax.clone());
        let r = self.exp(y.clone() * l);
        // y's kind: integer (±inf counts as an even one), odd integer.
        let integer = y
            .clone()
            .unary(UnaryOp::Floor)
            .compare(CompareOp::Eq, y.clone());
        let half = self.let_("pow_half", y.clone() * self.c(0.5));
        let odd = half
            .clone()
            .unary(UnaryOp::Floor)
            .compare(CompareOp::Ne, half)
            .binary(BinaryOp::And, integer.clone());
        let negative_base = self.sign_bit(x.clone());
        let signed = Self::sel(negative_base.binary(BinaryOp::And, odd), -r.clone(), r);
        // A finite negative base to a non-integer power has no real value.
        let finite_negative = x.clone().compare(CompareOp::Lt, self.c(0.0)).binary(
            BinaryOp::And,
            x.clone().compare(CompareOp::Gt, self.c(f64::NEG_INFINITY)),
        );
        let not_integer = integer.unary(UnaryOp::Not);
        let v = Self::sel(
            finite_negative.binary(BinaryOp::And, not_integer),
            self.nan(),
            signed,
        );
        // x^0 = 1, 1^y = 1 (even for NaN), (-1)^±inf = 1.
        let one = y
            .clone()
            .compare(CompareOp::Eq, self.c(0.0))
            .binary(BinaryOp::Or, x.clone().compare(CompareOp::Eq, self.c(1.0)))
            .binary(
                BinaryOp::Or,
                ax.compare(CompareOp::Eq, self.c(1.0)).binary(
                    BinaryOp::And,
                    self.abs(y).compare(CompareOp::Eq, self.c(f64::INFINITY)),
                ),
            );
        let v = Self::sel(one, self.c(1.0), v);
        self.let_("pow", v)
    }
}
