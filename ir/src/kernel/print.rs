//! A readable text form of kernels, for `--dump-kernels` and test expectations.

use std::fmt::{self, Write};

use super::{BinaryOp, Expr, Kernel, Scalar, Stmt, TileStep};

impl fmt::Display for Kernel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let params: Vec<String> = self
            .buffers
            .iter()
            .map(|b| {
                let access = if b.writable { "mut " } else { "" };
                format!("{}: &{access}[{}; {}]", b.name, b.elem.name(), b.len)
            })
            .collect();
        writeln!(f, "kernel {}({}) {{", self.name, params.join(", "))?;
        let mut out = String::new();
        for stmt in &self.body {
            self.write_stmt(&mut out, stmt, 1)?;
        }
        f.write_str(&out)?;
        writeln!(f, "}}")
    }
}

impl Kernel {
    fn write_stmt(&self, out: &mut String, stmt: &Stmt, depth: usize) -> fmt::Result {
        let pad = "    ".repeat(depth);
        match stmt {
            Stmt::Loop {
                var,
                start,
                end,
                step,
                body,
            } => {
                let step = if *step == 1 {
                    String::new()
                } else {
                    format!(" step {step}")
                };
                writeln!(
                    out,
                    "{pad}for {} in {start}..{end}{step} {{",
                    self.var(*var).name
                )?;
                for s in body {
                    self.write_stmt(out, s, depth + 1)?;
                }
                writeln!(out, "{pad}}}")
            }
            Stmt::If {
                cond,
                then_body,
                else_body,
            } => {
                writeln!(out, "{pad}if {} {{", self.expr(cond))?;
                for s in then_body {
                    self.write_stmt(out, s, depth + 1)?;
                }
                if !else_body.is_empty() {
                    writeln!(out, "{pad}}} else {{")?;
                    for s in else_body {
                        self.write_stmt(out, s, depth + 1)?;
                    }
                }
                writeln!(out, "{pad}}}")
            }
            Stmt::Assign { var, value } => {
                let v = self.var(*var);
                writeln!(out, "{pad}{}: {} = {}", v.name, v.ty, self.expr(value))
            }
            Stmt::Store { buf, index, value } => {
                writeln!(
                    out,
                    "{pad}{}[{}] = {}",
                    self.buffer(*buf).name,
                    self.expr(index),
                    self.expr(value)
                )
            }
            Stmt::Fail { code } => writeln!(out, "{pad}fail {code}"),
            Stmt::Tile(t) => {
                let dims: Vec<String> = t
                    .reduction
                    .iter()
                    .map(|d| format!("{} (a {:+}, b {:+})", d.count, d.a, d.b))
                    .collect();
                writeln!(
                    out,
                    "{pad}tile {}x{}: {}[{} + r*{} + c] {} {}[{} + r*{}] * {}[{} + c*{}{}] over {}",
                    t.rows,
                    t.cols,
                    self.buffer(t.y.buf).name,
                    self.expr(&t.y.offset),
                    t.y.stride,
                    if t.accumulate { "+=" } else { "=" },
                    self.buffer(t.a.buf).name,
                    self.expr(&t.a.offset),
                    t.a.stride,
                    self.buffer(t.b.buf).name,
                    self.expr(&t.b.offset),
                    t.b.stride,
                    // Rows reading their own B (depthwise tiles) only.
                    match t.b_row {
                        0 => String::new(),
                        step => format!(" + r*{step}"),
                    },
                    dims.join(" x ")
                )?;
                if t.blocks.count > 1 {
                    writeln!(
                        out,
                        "{pad}  in {} column blocks (b {:+}, y {:+})",
                        t.blocks.count, t.blocks.b, t.blocks.y
                    )?;
                }
                for step in &t.epilogue {
                    match step {
                        TileStep::Add(e) => writeln!(
                            out,
                            "{pad}  then + {}[{} + r*{} + c*{} + q*{}]",
                            self.buffer(e.buf).name,
                            self.expr(&e.offset),
                            e.row,
                            e.col,
                            e.block
                        )?,
                        TileStep::Clip { min, max } => {
                            writeln!(out, "{pad}  then clip {min:?} {max:?}")?
                        }
                        TileStep::Map(m) => writeln!(out, "{pad}  then {:?}", m.func)?,
                    }
                }
                Ok(())
            }
        }
    }

    /// An expression in a compact prefix-or-infix form.
    pub fn expr(&self, e: &Expr) -> String {
        match e {
            Expr::Const(Scalar::F32(v)) => format!("{v:?}"),
            Expr::Const(Scalar::F64(v)) => format!("{v:?}f64"),
            Expr::Const(Scalar::Int(v, elem)) => match elem {
                super::ElemType::I64 => v.to_string(),
                _ => format!("{v}{}", elem.name()),
            },
            Expr::Var(v) => self.var(*v).name.clone(),
            Expr::Load { buf, index, ty } => {
                let lanes = if ty.lanes > 1 {
                    format!(" x{}", ty.lanes)
                } else {
                    String::new()
                };
                format!("{}[{}{lanes}]", self.buffer(*buf).name, self.expr(index))
            }
            Expr::Binary(op, a, b) => {
                let infix = match op {
                    BinaryOp::Add => Some("+"),
                    BinaryOp::Sub => Some("-"),
                    BinaryOp::Mul => Some("*"),
                    BinaryOp::Div => Some("/"),
                    BinaryOp::Rem => Some("%"),
                    _ => None,
                };
                match infix {
                    Some(sym) => format!("({} {sym} {})", self.expr(a), self.expr(b)),
                    None => format!("{op:?}({}, {})", self.expr(a), self.expr(b)).to_lowercase(),
                }
            }
            Expr::Unary(op, a) => format!("{}({})", format!("{op:?}").to_lowercase(), self.expr(a)),
            Expr::Fma(a, b, c) => {
                format!("fma({}, {}, {})", self.expr(a), self.expr(b), self.expr(c))
            }
            Expr::Compare(op, a, b) => {
                format!(
                    "{}({}, {})",
                    format!("{op:?}").to_lowercase(),
                    self.expr(a),
                    self.expr(b)
                )
            }
            Expr::Select(c, a, b) => format!(
                "select({}, {}, {})",
                self.expr(c),
                self.expr(a),
                self.expr(b)
            ),
            Expr::Convert(elem, a) => format!("{}({})", elem.name(), self.expr(a)),
            Expr::Bitcast(elem, a) => format!("bitcast<{}>({})", elem.name(), self.expr(a)),
            Expr::Splat(lanes, a) => format!("splat{lanes}({})", self.expr(a)),
            Expr::Extract(a, lane) => format!("{}.{lane}", self.expr(a)),
            Expr::Lanes(scalars) => {
                let scalars: Vec<String> = scalars.iter().map(|s| self.expr(s)).collect();
                format!("lanes({})", scalars.join(", "))
            }
            Expr::Reduce(op, a) => format!(
                "reduce_{}({})",
                format!("{op:?}").to_lowercase(),
                self.expr(a)
            ),
        }
    }
}
