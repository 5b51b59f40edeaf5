#[inline(never)]
fn make_strings(n: usize) -> Vec<String> { (0..n).map(|i| i.to_string()).collect() }
#[inline(never)]
fn make_boxes(n: usize) -> Vec<Box<u64>> { (0..n).map(|i| Box::new(i as u64)).collect() }
fn main() { let a = make_strings(1000); let b = make_boxes(500); drop(a); std::hint::black_box(b); }
