use super::check;
use crate::kernel::{
    BinaryOp, BufId, CompareOp, ElemType, Expr, Kernel, KernelBuilder, ReduceOp, Stmt, Ty, UnaryOp,
    VarId,
};

const F32X4: Ty = Ty::vector(ElemType::F32, 4);

fn relu() -> Kernel {
    let mut k = KernelBuilder::new("relu");
    let x = k.buffer("x", ElemType::F32, 64, false);
    let y = k.buffer("y", ElemType::F32, 64, true);
    k.for_range("i", 0, 64, 4, |k, i| {
        let v = Expr::load(x, i.clone(), F32X4);
        k.store(y, i, v.max(Expr::f32(0.0).splat(4)));
    });
    k.finish()
}

/// A kernel with buffers `x: f32[16]`, `y: mut f32[16]`, `b: bool[16]`,
/// `h: f16[16]` and a body made by `body`.
fn kernel(body: impl FnOnce(&mut KernelBuilder, [BufId; 4])) -> Kernel {
    let mut k = KernelBuilder::new("k");
    let x = k.buffer("x", ElemType::F32, 16, false);
    let y = k.buffer("y", ElemType::F32, 16, true);
    let b = k.buffer("b", ElemType::Bool, 16, true);
    let h = k.buffer("h", ElemType::F16, 16, true);
    body(&mut k, [x, y, b, h]);
    k.finish()
}

/// Checks that `kernel` is rejected with a message holding every `needle`.
fn rejects(kernel: Kernel, needles: &[&str]) {
    let err = check(&kernel).expect_err("kernel must be rejected");
    let text = err.to_string();
    assert!(text.contains("kernel `"), "names the kernel: {text}");
    for needle in needles {
        assert!(text.contains(needle), "`{needle}` not in: {text}");
    }
}

fn store_x0(k: &mut KernelBuilder, y: BufId, value: Expr) {
    k.store(y, Expr::index(0), value);
}

#[test]
fn accepts_well_typed_kernels() {
    check(&relu()).unwrap();
    let k = kernel(|k, [x, y, b, h]| {
        k.for_range("i", 0, 16, 1, |k, i| {
            let v = Expr::load(x, i.clone(), Ty::F32);
            let neg = v.clone().lt(Expr::f32(0.0));
            k.store(b, i.clone(), neg.clone());
            let bits = Expr::load(h, i.clone(), Ty::scalar(ElemType::U16));
            k.store(h, i.clone(), bits);
            let as_int = v.clone().convert(ElemType::I32);
            let back = as_int.convert(ElemType::F32);
            k.store(y, i.clone(), neg.select(back, v));
        });
        k.for_range("j", 0, 16, 4, |k, j| {
            let v = Expr::load(x, j.clone(), F32X4);
            let mask = v
                .clone()
                .ge(Expr::f32(1.0).splat(4))
                .binary(BinaryOp::And, v.clone().lt(Expr::f32(2.0).splat(4)));
            let picked = mask
                .unary(UnaryOp::Not)
                .select(v.clone(), v.clone().unary(UnaryOp::Sqrt));
            let sum = picked.clone().reduce(ReduceOp::Add);
            k.store(y, j.clone(), picked.fma(v.clone(), v.clone()));
            let bits = v.bitcast(ElemType::I32).extract(3);
            k.if_then(
                bits.compare(CompareOp::Eq, Expr::int(0, ElemType::I32)),
                |k| {
                    k.store(y, Expr::index(0), sum);
                },
            );
        });
    });
    check(&k).unwrap();
}

#[test]
fn rejects_ids_out_of_range() {
    let k = kernel(|k, [_, y, _, _]| store_x0(k, y, Expr::Var(VarId(7))));
    rejects(k, &["VarId(7)", "not a declared variable", "statement 0"]);
    let k = kernel(|k, [_, y, _, _]| store_x0(k, y, Expr::load(BufId(9), Expr::index(0), Ty::F32)));
    rejects(k, &["BufId(9)"]);
    let k = kernel(|k, _| store_x0(k, BufId(4), Expr::f32(1.0)));
    rejects(k, &["BufId(4)", "not a declared buffer"]);
}

#[test]
fn rejects_bad_accesses() {
    let k = kernel(|k, [x, _, _, _]| store_x0(k, x, Expr::f32(1.0)));
    rejects(k, &["`x` is read-only", "x[0] = 1.0"]);
    let k = kernel(|k, [x, y, _, _]| {
        store_x0(
            k,
            y,
            Expr::load(x, Expr::index(0), Ty::scalar(ElemType::I32)),
        )
    });
    rejects(k, &["load of type `i32` on buffer `x` of f32"]);
    let k = kernel(|k, [_, y, _, _]| store_x0(k, y, Expr::f64(1.0)));
    rejects(k, &["store of type `f64` on buffer `y`"]);
    let k = kernel(|k, [_, _, _, h]| {
        store_x0(
            k,
            h,
            Expr::load(h, Expr::index(0), Ty::scalar(ElemType::F16)),
        )
    });
    rejects(k, &["accessed as u16"]);
    let k = kernel(|k, [x, y, b, _]| {
        let mask = Expr::load(b, Expr::index(0), Ty::vector(ElemType::Bool, 4));
        let v = Expr::load(x, Expr::index(0), F32X4);
        k.store(y, Expr::index(0), mask.select(v.clone(), v));
    });
    rejects(k, &["bool buffers are accessed as scalars"]);
    let k = kernel(|k, [x, y, _, _]| {
        k.store(
            y,
            Expr::index(0),
            Expr::load(x, Expr::index(0), Ty::vector(ElemType::F32, 8)),
        )
    });
    rejects(k, &["`f32x8` is neither a scalar nor a 128-bit vector"]);
    let k = kernel(|k, [x, y, _, _]| {
        let i = Expr::int(0, ElemType::I32);
        k.store(y, Expr::index(0), Expr::load(x, i, Ty::F32));
    });
    rejects(k, &["index `0i32` has type `i32`, not i64"]);
}

#[test]
fn rejects_operand_mismatches() {
    let k = kernel(|k, [_, y, _, _]| store_x0(k, y, Expr::f32(1.0) + Expr::index(1)));
    rejects(k, &["`(1.0 + 1)`", "operands of types `f32` and `i64`"]);
    let k = kernel(|k, [_, y, _, _]| {
        let i = Expr::int(2, ElemType::I32);
        let v = i.clone().fma(i.clone(), i).convert(ElemType::F32);
        store_x0(k, y, v);
    });
    rejects(k, &["fma is for floats"]);
    let k = kernel(|k, [_, y, _, _]| {
        store_x0(k, y, Expr::f32(1.0).binary(BinaryOp::Rem, Expr::f32(2.0)))
    });
    rejects(k, &["Rem is not defined on `f32`"]);
    let k = kernel(|k, [_, y, _, _]| {
        let v = Expr::index(4).unary(UnaryOp::Sqrt).convert(ElemType::F32);
        store_x0(k, y, v);
    });
    rejects(k, &["Sqrt is not defined on `i64`"]);
    let k = kernel(|k, [_, _, b, _]| {
        let t = Expr::int(1, ElemType::Bool);
        store_x0(k, b, t.clone() + t);
    });
    rejects(k, &["Add is not defined on `bool`"]);
}

#[test]
fn rejects_misused_masks_and_selects() {
    let k = kernel(|k, [x, y, _, _]| {
        let v = Expr::load(x, Expr::index(0), F32X4);
        let scalar_cond = Expr::index(0).lt(Expr::index(1));
        k.store(y, Expr::index(0), scalar_cond.select(v.clone(), v));
    });
    rejects(
        k,
        &["condition of type `bool`", "needs bool with 4 lane(s)"],
    );
    let mut k = KernelBuilder::new("k");
    k.var("m", Ty::vector(ElemType::Bool, 4));
    rejects(k.finish(), &["variable `m`", "lane mask `boolx4`"]);
    let k = kernel(|k, [x, y, _, _]| {
        let v = Expr::load(x, Expr::index(0), F32X4);
        let mask = v.clone().lt(v);
        let n = mask.convert(ElemType::I32).bitcast(ElemType::F32);
        k.store(y, Expr::index(0), n);
    });
    rejects(k, &["a converted value cannot be a lane mask"]);
    let k = kernel(|k, [x, _, b, _]| {
        let v = Expr::load(x, Expr::index(0), F32X4);
        store_x0(k, b, v.clone().lt(v).extract(0));
    });
    rejects(k, &["the operand cannot be a lane mask"]);
    let k = kernel(|k, [_, y, _, _]| {
        let t = Expr::int(1, ElemType::Bool).splat(4);
        let v = Expr::f32(1.0).splat(4);
        k.store(y, Expr::index(0), t.select(v.clone(), v));
    });
    rejects(k, &["only a non-bool scalar is splatted"]);
}

#[test]
fn rejects_bad_conversions_and_lanes() {
    let k = kernel(|k, [x, y, _, _]| {
        let v = Expr::load(x, Expr::index(0), F32X4).convert(ElemType::F64);
        let back = v.convert(ElemType::F32);
        k.store(y, Expr::index(0), back);
    });
    rejects(k, &["`f64x4` is neither a scalar nor a 128-bit vector"]);
    let k = kernel(|k, [_, y, _, _]| store_x0(k, y, Expr::index(3).bitcast(ElemType::F32)));
    rejects(k, &["changes the element size"]);
    let k = kernel(|k, [_, _, _, h]| store_x0(k, h, Expr::f32(1.0).convert(ElemType::F16)));
    rejects(k, &["f16 exists only in memory"]);
    let k = kernel(|k, [x, y, _, _]| {
        let v = Expr::load(x, Expr::index(0), F32X4);
        store_x0(k, y, v.extract(4));
    });
    rejects(k, &["lane 4 of `f32x4`"]);
    let k = kernel(|k, [_, y, _, _]| store_x0(k, y, Expr::f32(1.0).reduce(ReduceOp::Max)));
    rejects(k, &["is not a vector"]);
    let k = kernel(|k, [_, y, _, _]| store_x0(k, y, Expr::Splat(1, Box::new(Expr::f32(1.0)))));
    rejects(k, &["splat to 1 lane"]);
}

#[test]
fn rejects_bad_lane_lists() {
    let one = || Expr::f32(1.0);
    let k = kernel(|k, [_, y, _, _]| store_x0(k, y, Expr::lanes(vec![])));
    rejects(k, &["a vector of no lanes"]);
    let k = kernel(|k, [_, y, _, _]| store_x0(k, y, Expr::lanes(vec![one()])));
    rejects(k, &["a vector of one lane"]);
    let k = kernel(|k, [_, y, _, _]| store_x0(k, y, Expr::lanes(vec![one(), Expr::index(2)])));
    rejects(k, &["all lanes have one type"]);
    let k = kernel(|k, [_, y, _, _]| store_x0(k, y, Expr::lanes(vec![one(); 8])));
    rejects(k, &["`f32x8` is neither a scalar nor a 128-bit vector"]);
    let k = kernel(|k, [x, y, _, _]| {
        let v = Expr::load(x, Expr::index(0), F32X4);
        store_x0(k, y, Expr::lanes(vec![v.clone(), v]));
    });
    rejects(k, &["a vector is made of non-bool scalars"]);
    let k = kernel(|k, [x, y, _, _]| {
        let lane = |i| Expr::load(x, Expr::index(i), Ty::scalar(ElemType::F32));
        k.store(
            y,
            Expr::index(0),
            Expr::lanes(vec![lane(0), lane(5), lane(10), lane(15)]),
        );
    });
    check(&k).expect("four strided lanes make an f32x4");
}

#[test]
fn rejects_bad_constants() {
    let k = kernel(|k, [_, y, _, _]| {
        store_x0(k, y, Expr::int(300, ElemType::U8).convert(ElemType::F32))
    });
    rejects(k, &["constant 300 is out of the range of u8"]);
    let k = kernel(|k, [_, y, _, _]| store_x0(k, y, Expr::int(1, ElemType::F32)));
    rejects(k, &["integer constant of float type f32"]);
    let k = kernel(|k, [_, _, b, _]| store_x0(k, b, Expr::int(2, ElemType::Bool)));
    rejects(k, &["constant 2 is out of the range of bool"]);
    // A u64 constant is a bit pattern.
    let k = kernel(|k, [_, y, _, _]| {
        store_x0(k, y, Expr::int(-1, ElemType::U64).convert(ElemType::F32))
    });
    check(&k).unwrap();
}

#[test]
fn rejects_bad_statements() {
    let k = kernel(|k, [_, _, _, _]| k.if_then(Expr::index(1), |k| k.fail(2)));
    rejects(k, &["condition has type `i64`, not a scalar bool"]);
    let k = kernel(|k, _| {
        let v = k.var("v", Ty::F32);
        k.assign(v, Expr::index(1));
    });
    rejects(k, &["value of type `i64` assigned to `v` of type `f32`"]);
    let k = kernel(|k, _| k.fail(0));
    rejects(k, &["fail with status 0"]);
}

fn with_loop(var_ty: Ty, step: i64, body: Vec<Stmt>) -> Kernel {
    let mut k = kernel(|_, _| {});
    k.vars.push(crate::kernel::Var {
        name: "i".into(),
        ty: var_ty,
    });
    k.body.push(Stmt::Loop {
        var: VarId(0),
        start: 0,
        end: 4,
        step,
        body,
    });
    k
}

#[test]
fn rejects_bad_loops() {
    rejects(
        with_loop(Ty::INDEX, 0, vec![]),
        &["loop step 0 is not positive"],
    );
    rejects(
        with_loop(Ty::scalar(ElemType::I32), 1, vec![]),
        &["loop counter has type `i32`"],
    );
    let assign = Stmt::Assign {
        var: VarId(0),
        value: Expr::index(3),
    };
    rejects(
        with_loop(Ty::INDEX, 1, vec![assign]),
        &["`i` is a loop counter", "statement body.0.body.0 `i = 3`"],
    );
    let nested = Stmt::Loop {
        var: VarId(0),
        start: 0,
        end: 2,
        step: 1,
        body: vec![],
    };
    rejects(
        with_loop(Ty::INDEX, 1, vec![nested]),
        &["counter of an enclosing loop is reused"],
    );
}

#[test]
fn checks_definite_assignment() {
    let read_after = |k: &mut KernelBuilder, y: BufId, v: VarId| {
        k.store(y, Expr::index(0), Expr::var(v));
    };
    // Assigned in one branch only.
    let k = kernel(|k, [_, y, _, _]| {
        let v = k.var("v", Ty::F32);
        k.if_then(Expr::index(0).lt(Expr::index(1)), |k| {
            k.assign(v, Expr::f32(1.0))
        });
        read_after(k, y, v);
    });
    rejects(k, &["`v` may be read before it is assigned", "y[0] = v"]);
    // In both branches, or in one when the other fails.
    let k = kernel(|k, [_, y, _, _]| {
        let v = k.var("v", Ty::F32);
        let w = k.var("w", Ty::F32);
        let c = Expr::index(0).lt(Expr::index(1));
        k.if_else(
            c.clone(),
            |k| k.assign(v, Expr::f32(1.0)),
            |k| k.assign(v, Expr::f32(2.0)),
        );
        k.if_else(c, |k| k.assign(w, Expr::f32(1.0)), |k| k.fail(3));
        read_after(k, y, v);
        read_after(k, y, w);
    });
    check(&k).unwrap();
    // Inside a loop only.
    let k = kernel(|k, [_, y, _, _]| {
        let v = k.var("v", Ty::F32);
        k.for_range("i", 0, 4, 1, |k, _| k.assign(v, Expr::f32(1.0)));
        read_after(k, y, v);
    });
    rejects(k, &["`v` may be read before it is assigned"]);
    // A loop counter after its loop.
    let k = kernel(|k, [_, y, _, _]| {
        let mut counter = None;
        k.for_range("i", 0, 4, 1, |_, i| counter = Some(i));
        let i = counter.unwrap();
        k.store(y, i, Expr::f32(0.0));
    });
    rejects(k, &["`i` may be read before it is assigned"]);
    // Read in its own initialiser.
    let k = kernel(|k, _| {
        let v = k.var("v", Ty::INDEX);
        k.assign(v, Expr::var(v) + 1);
    });
    rejects(k, &["`v` may be read before it is assigned"]);
}
