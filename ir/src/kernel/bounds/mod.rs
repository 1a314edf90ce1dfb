//! Bounds proofs: every load and store of a kernel stays inside its buffer, for
//! every possible execution, proven by interval analysis over the static loop
//! bounds.
//!
//! The analysis walks the body in order with an interval for every integer
//! variable (flow-sensitive):
//! - a loop counter ranges over `[start, last]`; a loop whose body assigns
//!   variables is iterated to a fixpoint, widening what still grows after a few
//!   rounds to its type's whole range (so compute indices from loop counters, not
//!   by incrementing a variable);
//! - integer expressions get intervals (`+ - *`, `/ %`, `min`/`max` — how
//!   data-dependent indices are clamped: `x.max(0).min(len - 1)` —, shifts and
//!   masks, conversions); loaded integers and float-to-int conversions may be
//!   anything their type holds, and a result that may wrap is its whole type;
//! - an `If` (and a `Select`) refines what its condition says in each branch:
//!   comparisons of integer expressions, `And` of them in the then-branch, `Or` in
//!   the else-branch, `Not`. A compared variable is narrowed; a compared expression
//!   is remembered as a fact and used where the same expression (structurally)
//!   appears, until a variable in it is assigned (or, for an expression reading
//!   a buffer, until any store); `e + c`, `e - c` and `e * c` with constant `c`
//!   narrow `e` too, and so does an integer conversion that keeps the values
//!   (`bitcast<u64>(i) < n` proves `0 <= i < n`);
//! - after an `If` the two branches' intervals are joined; a branch that ends in
//!   `Fail` contributes nothing, so `if i < 0 || i >= n { fail } load(x, i)`
//!   proves. Code that never runs (an empty loop, a branch whose condition
//!   cannot hold, what follows a `Fail`) is not checked.

mod eval;
mod range;
mod refine;

use thiserror::Error;

use self::range::{Range, type_range};
use super::check::{self, CheckError};
use super::{Expr, Kernel, Stmt, Ty, VarId};

#[derive(Clone, Debug, PartialEq, Error)]
pub enum BoundsError {
    #[error("cannot prove the bounds of an invalid kernel: {0}")]
    Invalid(#[from] CheckError),
    #[error(transparent)]
    OutOfBounds(Box<UnprovenAccess>),
}

/// A load or store that may leave its buffer, with what was proven about it.
#[derive(Clone, Debug, PartialEq, Error)]
#[error(
    "kernel `{kernel}`: {access} `{expr}` may touch elements [{first}, {last}] of buffer \
     `{buffer}` of {len} elements (index in [{index_lo}, {index_hi}], {lanes} lane(s)){hint}; \
     in `{stmt}`{context}"
)]
pub struct UnprovenAccess {
    pub kernel: String,
    /// "load" or "store".
    pub access: &'static str,
    /// The load expression, or `buf[index]` for a store.
    pub expr: String,
    /// The statement holding the access.
    pub stmt: String,
    /// The enclosing loop and if headers, innermost first (", inside ...").
    pub context: String,
    pub buffer: String,
    /// The interval the index was proven to lie in.
    pub index_lo: i128,
    pub index_hi: i128,
    pub lanes: usize,
    /// The elements touched: `[index_lo, index_hi + lanes - 1]`.
    pub first: i128,
    pub last: i128,
    pub len: usize,
    /// Advice when the index is unbounded (empty otherwise).
    pub hint: &'static str,
}

/// Proves that every access of `kernel` is in bounds. The kernel must pass
/// [`check::check`] (this runs it first).
pub fn check(kernel: &Kernel) -> Result<(), BoundsError> {
    // A tile statement's footprint is its expansion's.
    let kernel = &*super::tile::expand_tiles(kernel);
    check::check(kernel)?;
    let mut prover = Prover {
        kernel,
        report: true,
        enclosing: Vec::new(),
        stmt: None,
    };
    let start = State {
        vars: vec![None; kernel.vars.len()],
        facts: Vec::new(),
    };
    prover.stmts(&kernel.body, Some(start))?;
    Ok(())
}

/// Rounds of a loop's fixpoint before growing intervals are widened.
const WIDEN_AFTER: usize = 4;

/// What holds at a program point (`None` where it is unreachable).
#[derive(Clone, Debug, PartialEq)]
struct State {
    /// Interval of each integer variable; `None` for floats and not yet assigned.
    vars: Vec<Option<Range>>,
    /// Intervals of compound expressions learnt from conditions.
    facts: Vec<(Expr, Range)>,
}

impl State {
    fn join(a: Option<State>, b: Option<State>) -> Option<State> {
        match (a, b) {
            (None, s) | (s, None) => s,
            (Some(a), Some(b)) => {
                let vars = a
                    .vars
                    .iter()
                    .zip(&b.vars)
                    .map(|(x, y)| match (x, y) {
                        (Some(x), Some(y)) => Some(x.union(*y)),
                        (x, y) => x.or(*y),
                    })
                    .collect();
                let facts = a
                    .facts
                    .iter()
                    .filter_map(|(e, r)| {
                        let (_, other) = b.facts.iter().find(|(f, _)| f == e)?;
                        Some((e.clone(), r.union(*other)))
                    })
                    .collect();
                Some(State { vars, facts })
            }
        }
    }

    /// Forgets facts about expressions that read any of `vars`, and about loaded
    /// values (a loop body may store).
    fn forget(&mut self, vars: &[bool]) {
        self.facts
            .retain(|(e, _)| !reads_any(e, vars) && !refine::has_load(e));
    }

    /// Forgets facts about loaded values: a store may have changed them (in its
    /// buffer, or in another sharing its memory).
    fn forget_loads(&mut self) {
        self.facts.retain(|(e, _)| !refine::has_load(e));
    }
}

/// The type and, for integers, the interval of an expression.
#[derive(Clone, Copy, Debug)]
struct Abs {
    ty: Ty,
    range: Option<Range>,
}

struct Prover<'k> {
    kernel: &'k Kernel,
    /// Whether accesses are checked (off while iterating a loop to its fixpoint).
    report: bool,
    enclosing: Vec<&'k Stmt>,
    stmt: Option<&'k Stmt>,
}

impl<'k> Prover<'k> {
    fn stmts(
        &mut self,
        stmts: &'k [Stmt],
        mut state: Option<State>,
    ) -> Result<Option<State>, BoundsError> {
        for stmt in stmts {
            let Some(st) = state else {
                // Unreachable (after a Fail on every path): never runs.
                return Ok(None);
            };
            self.stmt = Some(stmt);
            state = self.stmt(stmt, st)?;
        }
        Ok(state)
    }

    fn stmt(&mut self, stmt: &'k Stmt, mut st: State) -> Result<Option<State>, BoundsError> {
        match stmt {
            Stmt::Loop {
                var,
                start,
                end,
                step,
                body,
            } => {
                if start >= end {
                    return Ok(Some(st));
                }
                self.enclosing.push(stmt);
                let out = self.run_loop(*var, *start, *end, *step, body, st);
                self.enclosing.pop();
                out
            }
            Stmt::If {
                cond,
                then_body,
                else_body,
            } => {
                self.eval(&st, cond)?;
                let then_in = self.refine(st.clone(), cond, true);
                let else_in = self.refine(st, cond, false);
                self.enclosing.push(stmt);
                let then_out = self.stmts(then_body, then_in);
                let else_out = self.stmts(else_body, else_in);
                self.enclosing.pop();
                Ok(State::join(then_out?, else_out?))
            }
            Stmt::Assign { var, value } => {
                let value = self.eval(&st, value)?;
                let slot = var.0 as usize;
                st.vars[slot] = value.range;
                st.facts.retain(|(e, _)| !reads(e, *var));
                Ok(Some(st))
            }
            Stmt::Store { buf, index, value } => {
                let at = self.eval(&st, index)?;
                let stored = self.eval(&st, value)?;
                let access = || {
                    format!(
                        "{}[{}]",
                        self.kernel.buffer(*buf).name,
                        self.kernel.expr(index)
                    )
                };
                self.access("store", access, *buf, at, stored.ty.lanes)?;
                st.forget_loads();
                Ok(Some(st))
            }
            Stmt::Fail { .. } => Ok(None),
            // `check` expands tiles first (and `check::check` rejects any left).
            Stmt::Tile(_) => Ok(None),
        }
    }

    /// A non-empty loop: runs at least once, so the state after it is the state
    /// after its body at the fixpoint.
    fn run_loop(
        &mut self,
        var: VarId,
        start: i64,
        end: i64,
        step: i64,
        body: &'k [Stmt],
        mut entry: State,
    ) -> Result<Option<State>, BoundsError> {
        let (start, end, step) = (i128::from(start), i128::from(end), i128::from(step));
        let last = start + (end - 1 - start) / step * step;
        let counter = Range::new(start, last);
        let mut assigned = vec![false; self.kernel.vars.len()];
        assigned_in(body, &mut assigned);
        assigned[var.0 as usize] = true;
        entry.forget(&assigned);
        let enter = |mut st: State| {
            st.vars[var.0 as usize] = Some(counter);
            st
        };
        let loops = assigned.iter().filter(|&&a| a).count() > 1;
        if loops {
            // Iterate quietly to a fixpoint of the state at the top of the body.
            let report = std::mem::replace(&mut self.report, false);
            let mut round = 0;
            loop {
                let out = self.stmts(body, Some(enter(entry.clone())));
                let out = match out {
                    Ok(out) => out,
                    Err(e) => {
                        self.report = report;
                        return Err(e);
                    }
                };
                let Some(mut next) = State::join(Some(entry.clone()), out) else {
                    break;
                };
                next.forget(&assigned);
                if next == entry {
                    break;
                }
                round += 1;
                if round >= WIDEN_AFTER {
                    widen(self.kernel, &entry, &mut next);
                }
                entry = next;
            }
            self.report = report;
        }
        let mut out = self.stmts(body, Some(enter(entry)))?;
        if let Some(st) = &mut out {
            st.vars[var.0 as usize] = Some(counter);
        }
        Ok(out)
    }
}

/// Widens to their type's whole range the variables whose interval still grows.
fn widen(kernel: &Kernel, before: &State, next: &mut State) {
    for (i, (old, new)) in before.vars.iter().zip(next.vars.iter_mut()).enumerate() {
        if old != new {
            *new = kernel.vars.get(i).and_then(|v| type_range(v.ty.elem));
        }
    }
}

fn assigned_in(stmts: &[Stmt], assigned: &mut [bool]) {
    for stmt in stmts {
        match stmt {
            Stmt::Loop { var, body, .. } => {
                assigned[var.0 as usize] = true;
                assigned_in(body, assigned);
            }
            Stmt::If {
                then_body,
                else_body,
                ..
            } => {
                assigned_in(then_body, assigned);
                assigned_in(else_body, assigned);
            }
            Stmt::Assign { var, .. } => assigned[var.0 as usize] = true,
            Stmt::Store { .. } | Stmt::Fail { .. } | Stmt::Tile(_) => {}
        }
    }
}

fn reads(e: &Expr, var: VarId) -> bool {
    let mut hit = false;
    visit_vars(e, &mut |v| hit |= v == var);
    hit
}

fn reads_any(e: &Expr, vars: &[bool]) -> bool {
    let mut hit = false;
    visit_vars(e, &mut |v| {
        hit |= vars.get(v.0 as usize).copied().unwrap_or(true)
    });
    hit
}

fn visit_vars(e: &Expr, f: &mut impl FnMut(VarId)) {
    match e {
        Expr::Const(_) => {}
        Expr::Var(v) => f(*v),
        Expr::Load { index, .. } => visit_vars(index, f),
        Expr::Unary(_, a)
        | Expr::Convert(_, a)
        | Expr::Bitcast(_, a)
        | Expr::Splat(_, a)
        | Expr::Extract(a, _)
        | Expr::Reduce(_, a) => visit_vars(a, f),
        Expr::Binary(_, a, b) | Expr::Compare(_, a, b) => {
            visit_vars(a, f);
            visit_vars(b, f);
        }
        Expr::Fma(a, b, c) | Expr::Select(a, b, c) => {
            visit_vars(a, f);
            visit_vars(b, f);
            visit_vars(c, f);
        }
        Expr::Lanes(scalars) => scalars.iter().for_each(|s| visit_vars(s, f)),
    }
}

#[cfg(test)]
mod soundness;
#[cfg(test)]
mod tests;
