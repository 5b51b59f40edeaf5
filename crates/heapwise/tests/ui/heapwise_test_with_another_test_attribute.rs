// `#[heapwise::test]` adds the `#[test]` itself: a second one would run the
// test twice.
#[heapwise::test(limit_leaks = 0)]
#[test]
fn twice() {}

#[heapwise::test]
fn without_a_limit() {}

fn main() {}
