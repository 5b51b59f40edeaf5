//! The heapwise tests that need no `#[global_allocator]` of their own, in
//! one binary. (A test that installs heapwise as the global allocator is a
//! file of its own in `tests/`: one process per scenario.)

mod compile_errors;
