//! What must not compile, with the compiler's message (`tests/ui/*.stderr`).
//! The messages depend on the compiler: regenerate them with
//! `TRYBUILD=overwrite cargo test -p heapwise --test it compile_errors` after a
//! toolchain upgrade, and read the diff.

#[test]
#[cfg_attr(not(debug_assertions), ignore = "compiled once, in the debug test run")]
fn compile_errors() {
    trybuild::TestCases::new().compile_fail("tests/ui/*.rs");
}
