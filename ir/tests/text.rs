//! The text format: canonical round trips, accepted variants, located errors,
//! and print/parse round trips of random well-typed modules.

use adjit_ir::testgen::{GenConfig, random_module};
use adjit_ir::text::{ParseError, parse_function, parse_module, print_function, print_module};
use adjit_ir::typing::infer;
use adjit_ir::{
    BinaryOp, CmpOp, ConstData, Dim, Elem, Function, Graph, Module, NodeId, Op, ReduceOp, Scalar,
    Shape, Type, UnaryOp,
};
use proptest::prelude::*;

const EVERY_OP: &str = include_str!("text/every_op.adj");

fn parse_ok(src: &str) -> Module {
    match parse_module(src) {
        Ok((m, _)) => m,
        Err(e) => panic!("parse failed:\n{}", e.render("test.adj", src)),
    }
}

fn parse_errors(src: &str) -> Vec<ParseError> {
    match parse_module(src) {
        Ok(_) => panic!("expected errors for:\n{src}"),
        Err(e) => e.0,
    }
}

/// Asserts exactly one error, at `line:col`, whose message contains `needle`.
#[track_caller]
fn assert_error(src: &str, line: u32, col: u32, needle: &str) {
    let errors = parse_errors(src);
    assert_eq!(errors.len(), 1, "expected one error, got {errors:#?}");
    let e = &errors[0];
    assert_eq!((e.line, e.col), (line, col), "wrong location for {e:?}");
    assert!(
        e.message.contains(needle),
        "message {:?} lacks {needle:?}",
        e.message
    );
}

/// Every node's stored result types are what the type rules give: the text
/// above is self-consistent, so the parser built the ops it describes.
fn assert_well_typed(m: &Module) {
    for f in m.functions() {
        for (i, node) in f.nodes().iter().enumerate() {
            let args: Vec<&Type> = node.args.iter().map(|&a| f.ty(a)).collect();
            let expected =
                infer(&node.op, &args, m).unwrap_or_else(|e| panic!("@{} node {i}: {e}", f.name()));
            let stored: Vec<Type> = node.results.iter().map(|&r| f.ty(r).clone()).collect();
            assert_eq!(
                stored,
                expected,
                "@{} node {i} ({})",
                f.name(),
                node.op.name()
            );
        }
    }
}

fn main_fn(m: &Module) -> &Function {
    m.get("main").expect("@main")
}

fn const_of(f: &Function, name: &str) -> ConstData {
    let v = f.value_by_name(name).expect("value");
    let n = f.defining_node(v).expect("a node");
    match &f.node(n).op {
        Op::Const { data, .. } => data.clone(),
        op => panic!("%{name} is {op:?}"),
    }
}

fn splat(f: &Function, name: &str) -> Scalar {
    match const_of(f, name) {
        ConstData::Splat(s) => s,
        d => panic!("%{name} is {d:?}"),
    }
}

// ---- round trips of hand-written text ------------------------------------

#[test]
fn every_op_text_is_canonical_and_well_typed() {
    let m = parse_ok(EVERY_OP);
    assert_well_typed(&m);
    assert_eq!(print_module(&m), EVERY_OP);
    assert_eq!(m.to_string(), EVERY_OP);
    let (again, _) = parse_module(&print_module(&m)).unwrap();
    assert_eq!(again, m);
}

#[test]
fn every_op_text_covers_every_op() {
    let m = parse_ok(EVERY_OP);
    let names: Vec<&str> = m
        .functions()
        .iter()
        .flat_map(|f| f.nodes().iter().map(|n| n.op.name()))
        .collect();
    let mut wanted = vec![
        "const",
        "iota",
        "size",
        "select",
        "broadcast",
        "reshape",
        "transpose",
        "slice",
        "concat",
        "pad",
        "gather",
        "scatter_add",
        "matmul",
        "convert",
        "call",
        "scan",
        "while",
    ];
    wanted.extend(UnaryOp::ALL.iter().map(|u| u.name()));
    wanted.extend(BinaryOp::ALL.iter().map(|b| b.name()));
    wanted.extend(CmpOp::ALL.iter().map(|c| c.name()));
    wanted.extend(ReduceOp::ALL.iter().map(|r| r.name()));
    for w in wanted {
        assert!(names.contains(&w), "no `{w}` in every_op.adj");
    }
}

#[test]
fn attributes_come_from_the_text() {
    let m = parse_ok(EVERY_OP);
    let f = main_fn(&m);
    let op_of = |name: &str| {
        let v = f.value_by_name(name).unwrap();
        f.node(f.defining_node(v).unwrap()).op.clone()
    };
    let n = Dim::var("n");
    assert_eq!(
        op_of("sa0"),
        Op::ScatterAdd {
            axis: 0,
            size: n.clone()
        }
    );
    assert_eq!(
        op_of("sa1"),
        Op::ScatterAdd {
            axis: 1,
            size: Dim::Known(5)
        }
    );
    assert_eq!(
        op_of("s1"),
        Op::Size {
            dim: n
                .checked_mul(&n)
                .unwrap()
                .checked_sub(&Dim::var("T"))
                .unwrap(),
            elem: Elem::I64
        }
    );
    assert_eq!(op_of("cv0"), Op::Convert { elem: Elem::F32 });
    assert_eq!(
        op_of("bc1"),
        Op::Broadcast {
            shape: Shape(vec![Dim::Known(2), n.clone(), Dim::Known(3)]),
            dims: vec![1, 2]
        }
    );
    match op_of("pd1") {
        Op::Pad {
            lo,
            hi,
            interior,
            value,
        } => {
            assert_eq!(lo, vec![Dim::ONE, Dim::ZERO]);
            assert_eq!(hi, vec![Dim::ONE, Dim::ZERO]);
            assert_eq!(interior, vec![0, 2]);
            assert_eq!(value, Scalar::F64(-1.5));
        }
        op => panic!("{op:?}"),
    }
    match op_of("sc0") {
        Op::Scan {
            body,
            length,
            reverse,
            n_consts,
            n_carry,
            checkpoint,
        } => {
            assert_eq!(checkpoint, adjit_ir::Checkpoint::All);
            assert_eq!(&*body, "step");
            assert_eq!(length, Dim::var("T"));
            assert!(reverse);
            assert_eq!((n_consts, n_carry), (1, 1));
        }
        op => panic!("{op:?}"),
    }
    match op_of("w3") {
        Op::While {
            cond,
            body,
            max_trips,
            n_consts,
            checkpoint,
        } => {
            assert_eq!(checkpoint, adjit_ir::Checkpoint::All);
            assert_eq!((&*cond, &*body), ("cond", "body"));
            assert_eq!(max_trips.to_string(), "2*n");
            assert_eq!(n_consts, 1);
        }
        op => panic!("{op:?}"),
    }
    // The call with no results is a node of its own.
    assert!(f.nodes().iter().any(|n| n.results.is_empty()
        && n.op
            == Op::Call {
                func: "nothing".into()
            }));
}

#[test]
fn literals_keep_their_bits() {
    let m = parse_ok(EVERY_OP);
    let f = main_fn(&m);
    assert_eq!(splat(f, "c1"), Scalar::F64(-0.0));
    assert_eq!(splat(f, "c2"), Scalar::F64(f64::INFINITY));
    assert_eq!(splat(f, "c3"), Scalar::F64(f64::NEG_INFINITY));
    assert_eq!(splat(f, "c4"), Scalar::F64(f64::NAN));
    assert_eq!(
        splat(f, "c5"),
        Scalar::F64(f64::from_bits(0x7ff0_0000_0000_0001))
    );
    assert_eq!(splat(f, "c6"), Scalar::F64(1e-300));
    assert_eq!(splat(f, "c7"), Scalar::F64(f64::from_bits(1)));
    assert_eq!(splat(f, "c10"), Scalar::F32(f32::from_bits(0xffc0_0001)));
    assert_eq!(splat(f, "c13"), Scalar::I64(-2));
    assert_eq!(splat(f, "c16"), Scalar::F64(f64::MAX));
    assert_eq!(splat(f, "c17"), Scalar::F32(f32::MIN_POSITIVE));
    let dense = |name| match const_of(f, name) {
        ConstData::Dense(items) => items.to_vec(),
        d => panic!("{d:?}"),
    };
    assert_eq!(
        dense("c9"),
        vec![
            Scalar::F32(f32::from_bits(1)),
            Scalar::F32(-0.0),
            Scalar::F32(f32::MAX),
            Scalar::F32(0.1),
        ]
    );
    assert_eq!(
        dense("c11"),
        vec![Scalar::I64(i64::MIN), Scalar::I64(i64::MAX)]
    );
    assert_eq!(dense("c12"), vec![Scalar::Bool(true), Scalar::Bool(false)]);
    assert_eq!(dense("c14"), vec![]);
}

#[test]
fn f32_literals_are_read_as_f32_directly() {
    // Just above the midpoint between 1 and the next f32: read as f64 first
    // it would round to the midpoint, and then (ties to even) down to 1.
    let src = "func @f() -> f32 {\n  %c: f32 = const 1.0000000596046448\n  return %c\n}\n";
    let f = parse_function(src).unwrap();
    let expected: f32 = "1.0000000596046448".parse().unwrap();
    assert_eq!(expected, f32::from_bits(1.0f32.to_bits() + 1));
    assert_eq!(splat(&f, "c"), Scalar::F32(expected));
    // Integer-looking literals are fine for floats.
    let src = "func @f() -> f64 {\n  %c: f64 = const 100\n  return %c\n}\n";
    assert_eq!(
        splat(&parse_function(src).unwrap(), "c"),
        Scalar::F64(100.0)
    );
}

#[test]
fn the_language_reference_examples_are_canonical() {
    let doc = include_str!("../../docs/text-format.md");
    let mut blocks = 0;
    let mut rest = doc;
    while let Some(start) = rest.find("```adj\n") {
        let body = &rest[start + 7..];
        let end = body.find("```\n").expect("closed block");
        let block = &body[..end];
        let m = parse_ok(block);
        assert_well_typed(&m);
        // What the reference shows is what `adjit check` accepts.
        if let Err(e) = adjit_ir::verify_module(&m) {
            panic!("{block}\n{e}");
        }
        assert_eq!(print_module(&m), block);
        blocks += 1;
        rest = &body[end..];
    }
    assert!(blocks >= 21, "only {blocks} examples");
}

// ---- functions built with the Graph API ----------------------------------

fn rosen() -> Function {
    let n = Dim::var("n");
    let g = Graph::new("rosen");
    let x = g.param("x", Type::new(Elem::F64, Shape(vec![n.clone()])));
    let n1 = n.checked_sub(&Dim::ONE).unwrap();
    let x0 = x.slice_axis(0, 0i64, n1.clone()).named("x0");
    let x1 = x.slice_axis(0, 1i64, n.clone()).named("x1");
    let d = (x1 - x0 * x0).named("d");
    let t = (100.0 * d * d + (1.0 - x0) * (1.0 - x0)).named("t");
    let f = t.sum_all().named("f");
    g.finish(&[f]).unwrap()
}

#[test]
fn graph_functions_round_trip() {
    let f = rosen();
    let text = print_function(&f);
    assert!(
        text.starts_with("func @rosen(%x: f64[n]) -> f64 {\n  %x0: f64[n-1] = slice %x, [0:n-1]\n")
    );
    assert_eq!(parse_function(&text).unwrap(), f);
    assert_eq!(f.to_string(), text);

    // Control flow: a module with a scan body, a while loop and a call.
    let mut m = Module::new();
    let b = Graph::new("step");
    let c = b.param("c", Type::scalar(Elem::F64));
    let h = b.param("h", Type::f64(&[3]));
    let xt = b.param("x", Type::f64(&[3]));
    let y = (h * c + xt).sin();
    let s = y.sum_all();
    m.add(b.finish(&[y, s]).unwrap()).unwrap();
    let cond = Graph::new("cond");
    let i = cond.param("i", Type::scalar(Elem::I64));
    let lim = cond.size(Dim::Known(10), Elem::I64);
    let r = i.lt(lim);
    m.add(cond.finish(&[r]).unwrap()).unwrap();
    let body = Graph::new("body");
    let i = body.param("i", Type::scalar(Elem::I64));
    let one = body.constant_i64(&[1], Shape::scalar());
    m.add(body.finish(&[i + one]).unwrap()).unwrap();
    let g = Graph::with_module("main", &m);
    let xs = g.param(
        "xs",
        Type::new(Elem::F64, Shape(vec![Dim::var("T"), Dim::Known(3)])),
    );
    let c = g.scalar(0.5);
    let h0 = g.constant(&[1.0, -0.0, f64::NAN], [3]);
    let out = g.scan("step", Dim::var("T"), &[c], &[h0], &[xs], true);
    let start = g.constant_i64(&[0], Shape::scalar());
    let (state, trips) = g.while_loop("cond", "body", 100usize, &[], &[start]);
    let called = g.call("step", &[c, h0, h0]);
    let total =
        out[1].sum_all() + called[1] + state[0].convert(Elem::F64) + trips.convert(Elem::F64);
    m.add(g.finish(&[total]).unwrap()).unwrap();
    let text = print_module(&m);
    let (back, _) = parse_module(&text).unwrap();
    assert_eq!(back, m);
    assert_eq!(print_module(&back), text);
}

#[test]
fn names_the_builder_makes_round_trip() {
    // Graph names values `v<index>` and deduplicates names with suffixes;
    // a written name may be one the builder would have chosen.
    let g = Graph::new("f");
    let x = g.param("v2", Type::scalar(Elem::F64));
    let a = (-x).named("v3");
    let b = (-a).named("v1");
    let c = (-b).named("v1");
    let d = (-c).named("a b");
    let f = g.finish(&[d]).unwrap();
    let text = print_function(&f);
    assert!(text.contains("%v1_1: f64 = neg %v1"), "{text}");
    assert!(text.contains("%\"a b\": f64"), "{text}");
    assert_eq!(parse_function(&text).unwrap(), f);
}

// ---- accepted variants -----------------------------------------------------

#[test]
fn variants_print_canonically() {
    let src = "\u{feff}// a comment\n\
        func @f(%x: f64[], %y: f64[n , 2 * 3]) -> (f64) { // trailing\r\n\
        \t%a = neg %x   // inferred\r\n\
        %b: f64[n,6] = add %y,%y\n\
        %c = reduce_sum %b, axes=[ 0 ,1 ]\n\
        %z: f32[n] = const 1\n\
        %p = pad %z, lo=[0], hi=[1], value=2, interior=[0]\n\
        %s = scan @g, length=n, consts=(), carry=(%a), xs=(%z)\n\
        %w: f64 = add %c, %s\n\
          return %w }\n\
        // the callee is defined after its caller\n\
        func @g(%c: f64, %x: f32) -> f64 { return %c }";
    let canonical = "func @f(%x: f64, %y: f64[n, 6]) -> f64 {\n  \
        %a: f64 = neg %x\n  \
        %b: f64[n, 6] = add %y, %y\n  \
        %c: f64 = reduce_sum %b, axes=[0, 1]\n  \
        %z: f32[n] = const 1.0\n  \
        %p: f32[n+1] = pad %z, lo=[0], hi=[1], value=2.0\n  \
        %s: f64 = scan @g, length=n, consts=(), carry=(%a), xs=(%z)\n  \
        %w: f64 = add %c, %s\n  \
        return %w\n}\n\n\
        func @g(%c: f64, %x: f32) -> f64 {\n  return %c\n}\n";
    let m = parse_ok(src);
    assert_eq!(print_module(&m), canonical);
    assert_eq!(parse_ok(canonical), m);
}

#[test]
fn size_variables_in_signatures() {
    let f = parse_function(&print_function(&rosen())).unwrap();
    assert_eq!(f.size_vars(), vec!["n".into()]);
    assert_eq!(
        f.param_types()[0].shape.dims()[0].as_var().map(|v| &**v),
        Some("n")
    );
    // A size variable a function binds is its own: the callee's `k` is bound
    // to the caller's `n` when inferring a call's result.
    let m = parse_ok(EVERY_OP);
    let main = main_fn(&m);
    assert_eq!(
        main.ty(main.value_by_name("h2").unwrap()).to_string(),
        "f64[n]"
    );
}

#[test]
fn source_map_points_at_statements() {
    let (m, map) = parse_module(EVERY_OP).unwrap();
    let line_of = |needle: &str| -> u32 {
        let i = EVERY_OP
            .lines()
            .position(|l| l.starts_with(needle))
            .unwrap_or_else(|| panic!("{needle}"));
        i as u32 + 1
    };
    let main = map.function("main").unwrap();
    assert_eq!(main.location.line, line_of("func @main("));
    assert_eq!(main.location.col, 6);
    assert_eq!(main.params.len(), 6);
    assert_eq!(main.params[1].col, 24);
    assert_eq!(main.nodes.len(), main_fn(&m).nodes().len());
    let node = map.node("main", NodeId(0)).unwrap();
    assert_eq!((node.line, node.col), (line_of("  %c0:"), 3));
    let last = map
        .node("main", NodeId(main.nodes.len() as u32 - 1))
        .unwrap();
    assert_eq!(last.line, line_of("  %f: f64 = add"));
    assert_eq!(main.ret.line, line_of("  return %f, %sa0"));
    assert_eq!(map.param("step", 2).unwrap().col, 33);
    assert_eq!(map.functions().len(), m.functions().len());
}

// ---- errors ----------------------------------------------------------------

#[test]
fn unknown_op() {
    let src = "func @f(%x: f64[n]) -> f64[n] {\n  %y: f64[n] = mull %x, %x\n  return %y\n}\n";
    assert_error(src, 2, 16, "unknown op `mull` (did you mean `mul`?)");
}

#[test]
fn unknown_value() {
    let src = "func @f(%x: f64[n]) -> f64[n] {\n  %y: f64[n] = mul %x, %w\n  return %y\n}\n";
    assert_error(src, 2, 24, "unknown value %w");
}

#[test]
fn value_used_before_definition() {
    let src = "func @f(%x: f64) -> f64 {\n  %a: f64 = neg %b\n  %b: f64 = neg %x\n  return %a\n}\n";
    assert_error(
        src,
        2,
        17,
        "value %b is used before its definition (at 3:3)",
    );
}

#[test]
fn duplicate_value_names() {
    let src = "func @f(%x: f64) -> f64 {\n  %a: f64 = neg %x\n  %a: f64 = abs %x\n  return %a\n}\n";
    assert_error(src, 3, 3, "duplicate value name %a (first defined at 2:3)");
    let src = "func @f(%x: f64, %x: f64) -> f64 {\n  return %x\n}\n";
    assert_error(src, 1, 18, "duplicate value name %x (first defined at 1:9)");
}

#[test]
fn duplicate_function() {
    let f = "func @f(%x: f64) -> f64 {\n  return %x\n}\n";
    assert_error(
        &format!("{f}\n{f}"),
        5,
        6,
        "duplicate function @f (first defined at 1:6)",
    );
}

#[test]
fn wrong_number_of_results() {
    let src = "func @f(%x: f64) -> f64 {\n  %a: f64, %b: f64 = neg %x\n  return %a\n}\n";
    assert_error(
        src,
        2,
        3,
        "wrong number of results: `neg` defines 1 value, but 2 names are given",
    );
    let src = "func @g(%x: f64) -> (f64, f64) {\n  return %x, %x\n}\n\n\
               func @f(%x: f64) -> f64 {\n  %a = call @g(%x)\n  return %a\n}\n";
    assert_error(
        src,
        6,
        3,
        "wrong number of results: @g returns 2 values, but 1 name is given",
    );
}

#[test]
fn malformed_literals() {
    let wrap = |stmt: &str| format!("func @f(%x: f64) -> f64 {{\n  {stmt}\n  return %x\n}}\n");
    assert_error(
        &wrap("%a: i64 = const 1.5"),
        2,
        19,
        "malformed literal: expected an i64 literal (an integer), found `1.5`",
    );
    assert_error(
        &wrap("%a: f32 = const 1e39"),
        2,
        19,
        "literal `1e39` is out of range for f32",
    );
    assert_error(
        &wrap("%a: i64 = const 9223372036854775808"),
        2,
        19,
        "out of range for i64",
    );
    assert_error(
        &wrap("%a: bool = const 1"),
        2,
        20,
        "expected `true` or `false`, found `1`",
    );
    assert_error(
        &wrap("%a: f64 = const nan(0x1)"),
        2,
        19,
        "the bits are not those of an f64 NaN",
    );
    assert_error(
        &wrap("%a: f64 = const -nan(0x7ff8000000000001)"),
        2,
        19,
        "takes no sign",
    );
    assert_error(
        &wrap("%a: f64[2] = const [1.0, true]"),
        2,
        28,
        "expected an f64 number, found `true`",
    );
    assert_error(
        &wrap("%a: f64 = pad %x, lo=[], hi=[], value=false"),
        2,
        41,
        "expected an f64 number, found `false`",
    );
    assert_error(
        &wrap("%a: f64 = const 1.5.2"),
        2,
        19,
        "malformed number `1.5.2`",
    );
    assert_error(&wrap("%a: f64 = const -true"), 2, 20, "expected a literal");
}

#[test]
fn malformed_types() {
    assert_error(
        "func @f(%x: f65) -> f64 {\n  return %x\n}\n",
        1,
        13,
        "unknown element type `f65`",
    );
    assert_error(
        "func @f(%x: f64[n) -> f64 {\n  return %x\n}\n",
        1,
        18,
        "expected `,` or `]` in the shape, found `)`",
    );
    assert_error(
        "func @f(%x: f64[n+]) -> f64 {\n  return %x\n}\n",
        1,
        19,
        "expected a dimension",
    );
    assert_error(
        "func @f(%x: f64[99999999999999999999]) -> f64 {\n  return %x\n}\n",
        1,
        17,
        "dimension `99999999999999999999` is out of range",
    );
    assert_error(
        "func @f(%x: f64[9223372036854775807+1]) -> f64 {\n  return %x\n}\n",
        1,
        36,
        "dimension arithmetic overflows",
    );
    assert_error(
        "func @f(%x: f64) -> f64 {\n  %a: f64[3n] = neg %x\n  return %x\n}\n",
        2,
        11,
        "malformed number `3n`",
    );
}

#[test]
fn unexpected_end_of_file() {
    let errors = parse_errors("func @f(%x: f64) -> f64 {\n  %a: f64 = neg %x\n");
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!((errors[0].line, errors[0].col), (2, 19));
    assert!(errors[0].message.starts_with("unexpected end of file"));

    let errors = parse_errors("func @f(%x: f64) -> f64 {\n  %a: f64 = neg");
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert_eq!((errors[0].line, errors[0].col), (2, 16));
    assert!(errors[0].message.contains("missing operand"));
    assert!(errors[0].message.contains("found end of file"));
    assert!(errors[1].message.starts_with("unexpected end of file"));

    assert_error("func @f(%x: f64", 1, 16, "found end of file");
    assert_error("func", 1, 5, "expected a function name");
}

#[test]
fn stray_characters() {
    let src = "func @f(%x: f64) -> f64 {\n  %a: f64 = neg $x\n  return %a\n}\n";
    assert_error(src, 2, 17, "unexpected character '$'");
    assert_error("fun @f", 1, 1, "expected `func`, found `fun`");
    assert_error(
        "func @f(%x: f64) -> f64 {\n  %a: f64 = neg %x\n  return %a\n} }\n",
        4,
        3,
        "expected `func`, found `}`",
    );
    assert_error(
        "func @f(%x: f64) -> f64 {\n  %a: f64 = neg %x extra\n  return %a\n}\n",
        2,
        20,
        "expected end of line, found `extra`",
    );
    assert_error(
        "func @f(%x: f64) -> f64 {\n  %\"a = neg %x\n  return %x\n}\n",
        2,
        3,
        "unterminated quoted name",
    );
}

#[test]
fn missing_operand() {
    let src = "func @f(%x: f64) -> f64 {\n  %a: f64 = add %x\n  return %a\n}\n";
    assert_error(
        src,
        2,
        19,
        "missing operand: `add` takes 2 operands, expected `,`, found end of line",
    );
    let src = "func @f(%x: f64) -> f64 {\n  %a: f64 = neg\n  return %a\n}\n";
    assert_error(
        src,
        2,
        16,
        "missing operand: `neg` takes 1 operand, found end of line",
    );
}

#[test]
fn shape_mismatch_when_inferring() {
    let src = "func @f(%x: f64[n], %y: f64[3]) -> f64[n] {\n  %a = add %x, %y\n  return %a\n}\n";
    assert_error(
        src,
        2,
        8,
        "cannot infer the result type: `add`: operand types differ: f64[n] and f64[3] (operand types: f64[n], f64[3])",
    );
    // Annotated, the node is kept as written: the verifier reports it.
    let src =
        "func @f(%x: f64[n], %y: f64[3]) -> f64[n] {\n  %a: f64[n] = add %x, %y\n  return %a\n}\n";
    assert!(parse_module(src).is_ok());
}

#[test]
fn callee_and_annotation_errors() {
    assert_error(
        "func @f(%x: f64) -> f64 {\n  %a: f64 = call @g(%x)\n  return %a\n}\n",
        2,
        18,
        "unknown function @g",
    );
    assert_error(
        "func @f(%x: f64) -> f64 {\n  %a = const 1.0\n  return %a\n}\n",
        2,
        8,
        "`const` needs its result type written",
    );
    assert_error(
        "func @f(%x: f64[3], %i: i64[2]) -> f64[5] {\n  %a: f64[5] = scatter_add %x, %i, axis=1\n  return %a\n}\n",
        2,
        41,
        "axis 1 is out of range for the result type f64[5]",
    );
}

#[test]
fn return_errors() {
    assert_error(
        "func @f(%x: f64[n]) -> f64 {\n  return %x\n}\n",
        2,
        10,
        "returned value %x has type f64[n], but result 0 of @f is declared f64",
    );
    assert_error(
        "func @f(%x: f64) -> (f64, f64) {\n  return %x\n}\n",
        2,
        3,
        "@f declares 2 results, but the return statement gives 1",
    );
    assert_error(
        "func @f(%x: f64) -> f64 {\n}\n",
        2,
        1,
        "expected `return` before `}`",
    );
    assert_error(
        "func @f(%x: f64) -> f64 {\n  return %x\n  %a: f64 = neg %x\n}\n",
        3,
        3,
        "expected `}` to close @f after its return statement",
    );
}

#[test]
fn deep_nesting_is_refused() {
    let open = "(".repeat(5000);
    let close = ")".repeat(5000);
    let src = format!("func @f(%x: f64[{open}n{close}]) -> f64 {{\n  return %x\n}}\n");
    // `func @f(%x: f64[` is 16 characters; the 65th parenthesis is refused.
    assert_error(&src, 1, 17 + 64, "nested too deeply");
    let src =
        format!("func @f(%x: f64) -> f64 {{\n  %s: f64 = size {open}n{close}\n  return %x\n}}\n");
    assert_error(&src, 2, 18 + 64, "nested too deeply");
}

#[test]
fn huge_polynomials_are_refused() {
    let factor = "(a+b+c+d+e+f+g+h+1)";
    let product = vec![factor; 40].join("*");
    let src = format!("func @f(%x: f64) -> f64 {{\n  %s: f64 = size {product}\n  return %x\n}}\n");
    let errors = parse_errors(&src);
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(errors[0].message.contains("dimension expression too large"));
}

#[test]
fn declared_sizes_allocate_nothing() {
    // The element count of a dense constant is that of its literal list; the
    // mismatch with the type is the verifier's to report.
    let src = "func @f() -> f64[1000000000000] {\n  %c: f64[1000000000000] = const [1.0, 2.0, 3.0]\n  return %c\n}\n";
    let f = parse_function(src).unwrap();
    assert_eq!(
        const_of(&f, "c"),
        ConstData::Dense(vec![Scalar::F64(1.0), Scalar::F64(2.0), Scalar::F64(3.0)].into())
    );
    let src = "func @f() -> i64[1000000000000, 1000000000000] {\n  %c: i64[1000000000000, 1000000000000] = iota axis=1\n  return %c\n}\n";
    assert!(parse_function(src).is_ok());
    let src = "func @f(%x: f64[3]) -> f64 {\n  %a: f64 = reduce_sum %x, axes=[18446744073709551615]\n  %b: f64[3] = pad %x, lo=[0], hi=[0], value=0.0, interior=[18446744073709551615]\n  return %a\n}\n";
    assert!(parse_function(src).is_ok());
    // Unannotated, the type rule must compute the size, and says it overflows.
    let src = "func @f(%x: f64[3]) -> f64[3] {\n  %b = pad %x, lo=[0], hi=[0], value=0.0, interior=[18446744073709551615]\n  return %b\n}\n";
    assert_error(src, 2, 8, "dimension arithmetic overflows");
}

#[test]
fn hostile_sizes_give_errors_not_hangs() {
    // Inferring the call's result substitutes an 8-term sum for `k` in
    // `k*k*...*k`: refused by the bounds on polynomial products.
    let kk = ["k"; 12].join("*");
    let src = format!(
        "func @g(%x: f64[k]) -> f64[{kk}] {{\n  %y: f64[{kk}] = const 0.0\n  return %y\n}}\n\n\
         func @f(%x: f64[a+b+c+d+e+f+g+h]) -> () {{\n  %r = call @g(%x)\n  return\n}}\n"
    );
    assert_error(&src, 7, 8, "dimension arithmetic overflows");
    // Squaring through a chain of calls stops at the degree bound.
    let mut src = String::from(
        "func @sq(%x: f64[k]) -> f64[k*k] {\n  %y: f64[k*k] = const 0.0\n  return %y\n}\n\n\
         func @f(%x0: f64[n]) -> () {\n",
    );
    for i in 0..40 {
        src.push_str(&format!("  %x{} = call @sq(%x{i})\n", i + 1));
    }
    src.push_str("  return\n}\n");
    let errors = parse_errors(&src);
    assert_eq!(errors.len(), 1, "{errors:?}");
    // n^64 is the largest degree: the seventh squaring fails.
    assert_eq!((errors[0].line, errors[0].col), (13, 9));
    // A size of -2^63 padded in the interior.
    let src = "func @f(%x: f64[-9223372036854775808]) -> f64 {\n  %p = pad %x, lo=[0], hi=[0], value=0.0, interior=[1]\n  return %p\n}\n";
    assert!(parse_module(src).is_err());
}

#[test]
fn several_errors_at_once() {
    let src = "func @f(%x: f64[n]) -> f64[n] {\n\
               \x20 %a: f64[n] = mull %x, %x\n\
               \x20 %b: f64[n] = add %x\n\
               \x20 %c: f64[n] = add %x, %zz\n\
               \x20 %d: f64[n] = add %x, %a\n\
               \x20 return %d\n\
               }\n\
               func @g(%x: f64 -> f64 {\n\
               \x20 return %x\n\
               }\n\
               func @h(%x: f64) -> f64 {\n\
               \x20 %a = bogus\n\
               \x20 return %q\n\
               }\n";
    let errors = parse_errors(src);
    let got: Vec<(u32, u32)> = errors.iter().map(|e| (e.line, e.col)).collect();
    assert_eq!(
        got,
        vec![(2, 16), (3, 22), (4, 24), (8, 17), (12, 8), (13, 10)],
        "{errors:#?}"
    );
    assert!(
        errors[3]
            .message
            .contains("expected `,` or `)` after a parameter")
    );
    assert!(errors[4].message.contains("unknown op `bogus`"));
    assert!(errors[5].message.contains("unknown value %q"));
}

#[test]
fn errors_render_with_the_line_and_a_caret() {
    let src = "func @rosen(%x: f64[n]) -> f64 {\n  %x0: f64[n-1] = slice %x, [0:n-1]\n  %sq: f64[n-1] = mull %x0, %x0\n  %f: f64 = reduce_sum %sq, axes=[0]\n  return %f\n}\n";
    let e = parse_module(src).unwrap_err();
    assert_eq!(
        e.render("rosen.adj", src),
        "rosen.adj:3:19: error: unknown op `mull` (did you mean `mul`?)\n  %sq: f64[n-1] = mull %x0, %x0\n                  ^\n"
    );
    // Tabs before the column stay tabs, so the caret lines up.
    let src = "func @f(%x: f64) -> f64 {\n\t%a: f64 = neg $x\n\treturn %a\n}\n";
    let e = parse_module(src).unwrap_err();
    assert_eq!(
        e.render("f.adj", src),
        "f.adj:2:16: error: unexpected character '$'\n\t%a: f64 = neg $x\n\t              ^\n"
    );
    assert_eq!(e.to_string(), "2:16: unexpected character '$'");
}

#[test]
fn garbage_gives_located_errors() {
    let bytes: Vec<u8> = (0..2000u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    let text = String::from_utf8_lossy(&bytes);
    let errors = parse_errors(&text);
    assert!(!errors.is_empty() && errors.len() <= 100);
    assert!(errors.iter().all(|e| e.line >= 1 && e.col >= 1));
    assert!(parse_module("").unwrap().0.functions().is_empty());
    assert!(
        parse_module("// only a comment")
            .unwrap()
            .0
            .functions()
            .is_empty()
    );
}

// ---- random modules ----------------------------------------------------------

fn check_round_trip(m: &Module) -> Result<(), TestCaseError> {
    let text = print_module(m);
    let (back, map) = match parse_module(&text) {
        Ok(r) => r,
        Err(e) => {
            return Err(TestCaseError::fail(format!(
                "{}\n{text}",
                e.render("random.adj", &text)
            )));
        }
    };
    prop_assert_eq!(&back, m, "\n{}", text);
    prop_assert_eq!(print_module(&back), text);
    for f in back.functions() {
        prop_assert_eq!(map.function(f.name()).unwrap().nodes.len(), f.nodes().len());
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn random_modules_round_trip(
        seed in any::<u64>(),
        nodes in 0usize..40,
        symbolic in any::<bool>(),
        control_flow in any::<bool>(),
        odd_names in any::<bool>(),
    ) {
        let cfg = GenConfig { nodes, symbolic, control_flow, odd_names };
        check_round_trip(&random_module(seed, &cfg))?;
    }
}
