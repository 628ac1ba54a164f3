//! Ahead-of-time code: the code generator emits into a relocatable object
//! the same functions it emits into the JIT, with every address a symbol.
//! (Linking and calling the object is the embedding's work; here the object
//! is read back with an object-file parser.)

mod common;

use adjit::ir::{Type, instantiate};
use adjit::jit::{self, CompileError, Options};
use object::{Object, ObjectSection, ObjectSymbol, SymbolKind};

fn rosen_gradient(n: usize) -> (adjit::ir::Module, String) {
    let (m, f) = common::program("rosen");
    let (g, gname) = adjit::ad::grad(&m, &f, &[0]).unwrap();
    let g = adjit::opt::optimize(&g, &gname).unwrap();
    instantiate(&g, &gname, &[Type::f64(&[n])]).unwrap()
}

#[test]
fn rosen_gradient_compiles_into_an_object_exporting_its_entry() {
    let (m, name) = rosen_gradient(1000);
    let code = jit::compile_object(&m, &name, "rosen_grad", &Options::default()).unwrap();
    assert_eq!(code.entry, "rosen_grad");
    let file = object::File::parse(&*code.bytes).unwrap();
    let entry = file
        .symbols()
        .find(|s| s.name() == Ok("rosen_grad") && s.kind() == SymbolKind::Text)
        .expect("the entry symbol is in the object");
    assert!(entry.is_definition() && entry.is_global());
    // Every runtime routine it calls is an undefined symbol for the linker.
    for import in &code.imports {
        assert!(
            file.symbols()
                .any(|s| s.name() == Ok(import.as_str()) && s.is_undefined()),
            "{import} is not an undefined symbol"
        );
    }
    // The same plan as the JIT's: the same workspace and signature.
    let compiled = jit::compile(&m, &name).unwrap();
    assert_eq!(code.workspace_size, compiled.workspace_size());
    assert_eq!(code.params, compiled.param_types());
    assert_eq!(code.outputs, compiled.output_types());
}

#[test]
fn constants_and_runtime_calls_are_relocations() {
    // A dense constant (a data object the code addresses through a
    // relocation) and a GEMM call (an imported runtime routine).
    let src = "func @f(%a: f64[32, 32], %b: f64[32, 32]) -> (f64[32, 32], f64) {
  %p: f64[32, 32] = matmul %a, %b
  %c: f64[2] = const [1.5, -2.0]
  %s: f64 = reduce_sum %c, axes=[0]
  return %p, %s
}";
    let (m, _) = adjit::ir::text::parse_module(src).unwrap();
    let code = jit::compile_object(&m, "f", "f_entry", &Options::default()).unwrap();
    let file = object::File::parse(&*code.bytes).unwrap();
    assert!(
        file.symbols()
            .any(|s| s.name() == Ok("f_entry") && s.kind() == SymbolKind::Text && s.is_global())
    );
    assert!(
        code.imports.iter().any(|i| i.contains("gemm")),
        "{:?}",
        code.imports
    );
    assert!(file.sections().any(|s| s.relocations().next().is_some()));
}

#[test]
fn a_reverse_sweep_is_not_emitted_into_an_object() {
    let (m, f) = common::program("spring");
    let (g, gname) = adjit::ad::grad(&m, &f, &[0]).unwrap();
    let (_, args) = common::spring_inputs(1);
    let types: Vec<Type> = args.iter().map(|t| t.ty()).collect();
    let (g, gname) = instantiate(&g, &gname, &types).unwrap();
    let err = jit::compile_object(&g, &gname, "spring_grad", &Options::default()).unwrap_err();
    assert!(matches!(err, CompileError::Unsupported { .. }), "{err}");
}
