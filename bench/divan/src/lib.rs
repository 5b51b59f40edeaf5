//! Empty: the benchmark is benches/format.rs.
