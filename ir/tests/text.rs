use adjit_ir::text::*;

#[test]
fn smoke() {
    let src = "// c\nfunc @rosen(%x: f64[n]) -> f64 {\n  %x0: f64[n-1] = slice %x, [0:n-1]\n  %x1 = slice %x, [1:n]\n  %sq = mul %x0, %x0\n  %d = sub %x1, %sq\n  %c100: f64[n-1] = const 100.0\n  %t = mul %c100, %d\n  %f = reduce_sum %t, axes=[0]\n  return %f\n}\n";
    let (m, _) = parse_module(src).unwrap_or_else(|e| panic!("{}", e.render("r.adj", src)));
    let p = print_module(&m);
    println!("{p}");
    let (m2, _) = parse_module(&p).unwrap();
    assert_eq!(m, m2);
    assert_eq!(print_module(&m2), p);
    let bad = "func @rosen(%x: f64[n]) -> f64 {\n  %sq: f64[n-1] = mull %x0, %x0\n  %q = add %x\n  %r = add %x, %zz\n  return %r\n}\n";
    let e = parse_module(bad).unwrap_err();
    print!("{}", e.render("rosen.adj", bad));
}
