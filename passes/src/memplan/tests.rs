use std::collections::BTreeSet;

use nnc_ir::ops::{Binary, Cast, Concat, Conv, Reshape, Transpose, Unary};
use nnc_ir::{DType, Graph, Op, Tensor, TensorType, ValueDef, ValueId};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::*;

fn input(graph: &mut Graph, name: &str, shape: &[usize]) -> ValueId {
    graph
        .add_input(name, TensorType::new(DType::F32, shape.to_vec()))
        .unwrap()
}

fn node(graph: &mut Graph, name: &str, op: Op, inputs: &[ValueId]) -> ValueId {
    let inputs = inputs.iter().map(|&i| Some(i)).collect();
    graph
        .add_node(name, op, inputs, vec![format!("{name}.out")])
        .unwrap()[0]
}

fn transpose() -> Op {
    Op::Transpose(Transpose { perm: vec![1, 0] })
}

fn relu() -> Op {
    Op::Unary(Unary::Relu)
}

fn plan(graph: &Graph) -> ArenaPlan {
    let plan = plan_memory(graph, &PlanOptions::default());
    check_plan(graph, &plan);
    plan
}

/// A chain of non-elementwise ops needs two slots, used in turn.
#[test]
fn chain_ping_pongs_between_two_slots() {
    let mut g = Graph::new("chain");
    let x = input(&mut g, "x", &[4, 4]);
    let t1 = node(&mut g, "t1", transpose(), &[x]);
    let t2 = node(&mut g, "t2", transpose(), &[t1]);
    let t3 = node(&mut g, "t3", transpose(), &[t2]);
    let t4 = node(&mut g, "t4", transpose(), &[t3]);
    let y = node(&mut g, "t5", transpose(), &[t4]);
    g.set_outputs(vec![y]);

    let plan = plan(&g);
    assert_eq!(plan.size, 128);
    assert_eq!(plan.lower_bound, 128);
    assert_eq!(
        plan.offsets.len(),
        4,
        "the graph output is not in the arena"
    );
    assert_eq!(plan.offset(y), None);
    assert_eq!(plan.offset(x), None);
    let distinct: BTreeSet<usize> = plan.offsets.values().copied().collect();
    assert_eq!(distinct.len(), 2);
    assert_ne!(plan.offset(t1), plan.offset(t2));
    assert_ne!(plan.offset(t2), plan.offset(t3));
    assert!(plan.inplace.is_empty());
}

/// The skip tensor of a residual block stays live (and is not overwritten in place)
/// until the Add reads it.
#[test]
fn residual_keeps_the_skip_tensor_alive() {
    let mut g = Graph::new("residual");
    let x = input(&mut g, "x", &[4, 4]);
    let skip = node(&mut g, "skip", transpose(), &[x]);
    let r = node(&mut g, "relu", relu(), &[skip]);
    let c = node(&mut g, "branch", transpose(), &[r]);
    let sum = node(&mut g, "add", Op::Binary(Binary::Add), &[c, skip]);
    let y = node(&mut g, "out", transpose(), &[sum]);
    g.set_outputs(vec![y]);

    let plan = plan(&g);
    assert!(!plan.inplace.contains(&(r, skip)), "skip is read later");
    assert_ne!(plan.offset(skip), plan.offset(r));
    assert_ne!(plan.offset(skip), plan.offset(c));
    assert_eq!(
        plan.inplace,
        vec![(sum, c)],
        "the sum overwrites the branch"
    );
    assert_eq!(plan.offset(sum), plan.offset(c));
    assert_eq!(plan.lower_bound, 3 * 64);
    assert_eq!(plan.size, 3 * 64);
}

#[test]
fn relu_after_conv_runs_in_place() {
    let mut g = Graph::new("conv_relu");
    let x = input(&mut g, "x", &[1, 1, 4, 4]);
    let w = g
        .add_const(
            "w",
            Tensor::from_vec(vec![1, 1, 3, 3], vec![0.5f32; 9]).unwrap(),
        )
        .unwrap();
    let conv = Op::Conv(Conv {
        kernel_shape: vec![3, 3],
        strides: vec![1, 1],
        pads: vec![1, 1, 1, 1],
        dilations: vec![1, 1],
        group: 1,
    });
    let c = node(&mut g, "conv", conv, &[x, w]);
    let r = node(&mut g, "relu", relu(), &[c]);
    let y = node(
        &mut g,
        "flat",
        Op::Reshape(Reshape { shape: vec![4, 4] }),
        &[r],
    );
    g.set_outputs(vec![y]);

    let plan = plan(&g);
    assert_eq!(plan.inplace, vec![(r, c)]);
    assert_eq!(plan.offset(r), plan.offset(c));
    assert_eq!(plan.size, 64);
    assert_eq!(plan.lower_bound, 64);
    assert_eq!(plan.offset(w), None, "weights are not in the arena");

    let separate = plan_memory(
        &g,
        &PlanOptions {
            inplace: false,
            ..PlanOptions::default()
        },
    );
    assert!(separate.inplace.is_empty());
    assert_eq!(separate.size, 128);
}

/// A broadcast operand, a graph input, a constant and a differently-sized Cast
/// never give their storage away.
#[test]
fn no_inplace_for_broadcast_inputs_constants_or_resizing_casts() {
    let mut g = Graph::new("no_inplace");
    let x = input(&mut g, "x", &[4, 4]);
    let col = input(&mut g, "col", &[1, 4]);
    let ones = g
        .add_const(
            "ones",
            Tensor::from_vec(vec![4, 4], vec![1.0f32; 16]).unwrap(),
        )
        .unwrap();
    let from_input = node(&mut g, "from_input", relu(), &[x]);
    let narrow = node(&mut g, "narrow", transpose(), &[col]);
    let wide = node(&mut g, "wide", Op::Binary(Binary::Mul), &[narrow, ones]);
    let widened = node(
        &mut g,
        "widen",
        Op::Cast(Cast {
            to: DType::F64,
            saturate: true,
        }),
        &[wide],
    );
    let from_const = node(&mut g, "from_const", Op::Unary(Unary::Exp), &[ones]);
    let back = node(
        &mut g,
        "back",
        Op::Cast(Cast {
            to: DType::F32,
            saturate: true,
        }),
        &[widened],
    );
    let sum = node(&mut g, "sum", Op::Binary(Binary::Add), &[from_input, back]);
    let y = node(&mut g, "y", Op::Binary(Binary::Add), &[sum, from_const]);
    g.set_outputs(vec![y]);

    let plan = plan(&g);
    let hosts: Vec<ValueId> = plan.inplace.iter().map(|&(_, operand)| operand).collect();
    for never in [x, col, ones, narrow, wide, widened] {
        assert!(
            !hosts.contains(&never),
            "{never:?} hosted an output: {plan:?}"
        );
    }
    assert_eq!(plan.inplace, vec![(sum, from_input)]);
}

/// A same-sized Cast and a Reshape reuse their operand; an unread value still gets
/// a slot while it is produced.
#[test]
fn same_size_cast_and_reshape_run_in_place_and_dead_values_get_slots() {
    let mut g = Graph::new("cast_reshape");
    let x = input(&mut g, "x", &[4, 4]);
    let t = node(&mut g, "t", transpose(), &[x]);
    let as_int = node(
        &mut g,
        "to_int",
        Op::Cast(Cast {
            to: DType::I32,
            saturate: true,
        }),
        &[t],
    );
    let flat = node(
        &mut g,
        "flat",
        Op::Reshape(Reshape { shape: vec![16] }),
        &[as_int],
    );
    let unused = node(&mut g, "unused", transpose(), &[x]);
    let y = node(&mut g, "neg", Op::Unary(Unary::Neg), &[flat]);
    g.set_outputs(vec![y]);

    let plan = plan(&g);
    assert_eq!(plan.inplace, vec![(as_int, t), (flat, as_int)]);
    assert!(plan.offset(unused).is_some());
    assert_eq!(
        plan.size, 128,
        "the unused value overlaps the chain: {plan}"
    );
}

#[test]
fn extra_values_and_empty_arena() {
    let mut g = Graph::new("extra");
    let x = input(&mut g, "x", &[4, 4]);
    let y = node(&mut g, "relu", relu(), &[x]);
    g.set_outputs(vec![y]);

    let empty = plan(&g);
    assert_eq!(empty.size, 0);
    assert_eq!(empty.lower_bound, 0);
    assert!(empty.offsets.is_empty());
    assert!(empty.summary().contains("arena 0 bytes"));

    let options = PlanOptions {
        extra_values: [x, y].into_iter().collect(),
        ..PlanOptions::default()
    };
    let forced = plan_memory(&g, &options);
    check_plan(&g, &forced);
    assert_eq!(forced.size, 128);
    assert!(forced.inplace.is_empty(), "inputs and outputs host nothing");
}

/// Random DAGs of elementwise, broadcast, concat, transpose, reshape and cast ops.
#[test]
fn random_graphs_never_overlap_live_values() {
    let mut rng = StdRng::seed_from_u64(0x6d656d);
    let (mut nodes, mut inplace) = (0, 0);
    for case in 0..300 {
        let g = random_graph(&mut rng, case);
        let alignment = [1, 4, 16, 64][rng.random_range(0..4)];
        let options = PlanOptions {
            alignment,
            inplace: rng.random_bool(0.8),
            extra_values: BTreeSet::new(),
        };
        let plan = plan_memory(&g, &options);
        check_plan(&g, &plan);
        assert_eq!(plan.alignment, alignment);
        nodes += g.node_count();
        inplace += plan.inplace.len();
    }
    // The generator must exercise the planner, not produce trivial graphs.
    assert!(
        nodes > 2000 && inplace > 200,
        "{nodes} nodes, {inplace} in place"
    );
}

fn random_graph(rng: &mut StdRng, case: usize) -> Graph {
    let mut g = Graph::new(format!("random{case}"));
    let (rows, cols) = (rng.random_range(1..5), rng.random_range(1..5));
    let shapes = [
        vec![rows, cols],
        vec![1, cols],
        vec![rows, 1],
        vec![cols, rows],
    ];
    let mut values = Vec::new();
    for k in 0..rng.random_range(1..4) {
        let shape = &shapes[rng.random_range(0..shapes.len())];
        values.push(input(&mut g, &format!("in{k}"), shape));
    }
    let weight: Vec<f32> = (0..rows * cols).map(|i| i as f32).collect();
    values.push(
        g.add_const("w", Tensor::from_vec(vec![rows, cols], weight).unwrap())
            .unwrap(),
    );
    let steps = rng.random_range(1..40);
    for step in 0..steps {
        let pick = |rng: &mut StdRng| values[rng.random_range(0..values.len())];
        let (op, operands) = match rng.random_range(0..9) {
            0 => (relu(), vec![pick(rng)]),
            1 => (Op::Unary(Unary::Exp), vec![pick(rng)]),
            2 => (Op::Binary(Binary::Add), vec![pick(rng), pick(rng)]),
            3 => (Op::Binary(Binary::Less), vec![pick(rng), pick(rng)]),
            4 => (Op::Where, vec![pick(rng), pick(rng), pick(rng)]),
            5 => (
                Op::Concat(Concat { axis: 0 }),
                vec![pick(rng), pick(rng), pick(rng)],
            ),
            6 => (transpose(), vec![pick(rng)]),
            7 => {
                let to = [DType::F32, DType::I32, DType::F64, DType::F16][rng.random_range(0..4)];
                (Op::Cast(Cast { to, saturate: true }), vec![pick(rng)])
            }
            _ => {
                let operand = pick(rng);
                let len = g.value(operand).ty.len();
                (Op::Reshape(Reshape { shape: vec![len] }), vec![operand])
            }
        };
        let inputs = operands.into_iter().map(Some).collect();
        // Ill-typed combinations are simply not added.
        if let Ok(outs) = g.add_node(format!("n{step}"), op, inputs, vec![format!("v{step}")]) {
            values.extend(outs);
        }
    }
    let produced: Vec<ValueId> = g.nodes().flat_map(|(_, n)| n.outputs.clone()).collect();
    let mut outputs: Vec<ValueId> = produced
        .iter()
        .copied()
        .filter(|_| rng.random_bool(0.2))
        .collect();
    outputs.extend(produced.last());
    outputs.dedup();
    g.set_outputs(outputs);
    g
}

/// Checks a plan against lifetimes computed here from scratch: every arena value
/// has an aligned slot inside the arena; values live at the same node never share
/// bytes unless linked by in-place pairs, each of which is legal.
fn check_plan(graph: &Graph, plan: &ArenaPlan) {
    let outputs: BTreeSet<ValueId> = graph.outputs().iter().copied().collect();
    let n = graph.node_count();
    let mut lifetimes = Vec::new();
    for (id, value) in graph.values() {
        let forced = plan.offsets.contains_key(&id);
        let first = match value.def {
            ValueDef::Node(node, _) if !outputs.contains(&id) => node.index(),
            _ if !forced => continue,
            ValueDef::Node(node, _) => node.index(),
            _ => 0,
        };
        let mut last = first;
        for (nid, node) in graph.nodes() {
            if node.inputs.contains(&Some(id)) {
                last = last.max(nid.index());
            }
        }
        if outputs.contains(&id) {
            last = n - 1;
        }
        lifetimes.push((id, first, last));
    }
    assert_eq!(plan.offsets.len(), lifetimes.len(), "{plan:?}");

    // In-place pairs: legal, and grouped into shared storage.
    let mut group: Vec<usize> = (0..graph.value_count()).collect();
    let find = |group: &Vec<usize>, mut v: usize| {
        while group[v] != v {
            v = group[v];
        }
        v
    };
    for &(out, operand) in &plan.inplace {
        let ValueDef::Node(producer, _) = graph.value(out).def else {
            panic!("in-place output {out:?} is not a node output");
        };
        let node = graph.node(producer);
        assert!(matches!(graph.value(operand).def, ValueDef::Node(..)));
        assert!(!outputs.contains(&out) && !outputs.contains(&operand));
        assert!(node.inputs.contains(&Some(operand)));
        let (_, _, last) = lifetimes.iter().find(|l| l.0 == operand).unwrap();
        assert_eq!(*last, producer.index(), "operand dies at the node");
        let (a, b) = (&graph.value(out).ty, &graph.value(operand).ty);
        assert_eq!(a.bytes(), b.bytes());
        if !matches!(node.op, Op::Reshape(_)) {
            assert_eq!(a.shape, b.shape);
        }
        assert_eq!(plan.offset(out), plan.offset(operand));
        let (ga, gb) = (find(&group, out.index()), find(&group, operand.index()));
        group[ga] = gb;
    }
    let hosts: BTreeSet<ValueId> = plan.inplace.iter().map(|p| p.1).collect();
    assert_eq!(
        hosts.len(),
        plan.inplace.len(),
        "an operand hosts one output"
    );

    let align = plan.alignment;
    assert!(align >= 1 && plan.size.is_multiple_of(align));
    assert!(plan.size >= plan.lower_bound, "{plan}");
    for &(id, first, last) in &lifetimes {
        let offset = plan.offset(id).expect("every arena value is placed");
        let bytes = graph.value(id).ty.bytes();
        assert!(offset.is_multiple_of(align));
        assert!(offset + bytes <= plan.size);
        for &(other, f2, l2) in &lifetimes {
            let same_storage = find(&group, id.index()) == find(&group, other.index());
            if other == id || same_storage || last < f2 || l2 < first {
                continue;
            }
            let (o2, b2) = (plan.offset(other).unwrap(), graph.value(other).ty.bytes());
            let disjoint = offset + bytes <= o2 || o2 + b2 <= offset;
            assert!(
                disjoint || bytes == 0 || b2 == 0,
                "{id:?} and {other:?} are live together and overlap: {plan:?}"
            );
        }
    }
}

/// ConvNeXt's blocks: a skip tensor around two 4x wider hidden tensors (GELU's
/// `h * erf(h / sqrt 2)`). Greedy orders leave the skip tensors in each other's way;
/// the local search finds the layout at the lower bound.
#[test]
fn convnext_like_blocks_reach_the_lower_bound() {
    let mut g = Graph::new("convnext_like");
    let x = input(&mut g, "x", &[4, 4]);
    let half = g.add_const("half", Tensor::scalar(0.5f32)).unwrap();
    let w = g
        .add_const(
            "w",
            Tensor::from_vec(vec![4, 16], vec![0.25f32; 64]).unwrap(),
        )
        .unwrap();
    let mut skip = node(&mut g, "stem", transpose(), &[x]);
    for b in 0..4 {
        let t = node(&mut g, &format!("b{b}.t"), transpose(), &[skip]);
        let wide = Op::Concat(Concat { axis: 0 });
        let h = node(&mut g, &format!("b{b}.h"), wide, &[t, t, t, t]);
        let a = node(
            &mut g,
            &format!("b{b}.a"),
            Op::Binary(Binary::Mul),
            &[h, half],
        );
        let e = node(&mut g, &format!("b{b}.erf"), Op::Unary(Unary::Erf), &[a]);
        let m = node(&mut g, &format!("b{b}.m"), Op::Binary(Binary::Mul), &[h, e]);
        let o = node(&mut g, &format!("b{b}.o"), Op::MatMul, &[w, m]);
        skip = node(
            &mut g,
            &format!("b{b}.add"),
            Op::Binary(Binary::Add),
            &[o, skip],
        );
    }
    let y = node(&mut g, "head", transpose(), &[skip]);
    g.set_outputs(vec![y]);

    let plan = plan(&g);
    assert_eq!(plan.lower_bound, 9 * 64);
    assert_eq!(plan.size, plan.lower_bound, "{plan}");
}
