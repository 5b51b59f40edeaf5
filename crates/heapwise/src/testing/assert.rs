//! `assert_allocs!`: exact counts of one expression.

/// Runs a closure in a fresh scope and asserts on what it did, by the
/// fields of [`Usage`](crate::Usage) (`bytes`, `allocs`, `frees`,
/// `freed_bytes`, `reallocs`, `calls`, `live_bytes`, `peak_bytes`), each
/// compared with `==`, `!=`, `<`, `<=`, `>` or `>=`; evaluates to the
/// closure's result. A failure shows every figure.
///
/// ```
/// # #[global_allocator]
/// # static ALLOC: heapwise::Alloc = heapwise::Alloc::system();
/// use heapwise::{assert_allocs, KIB};
///
/// let v = assert_allocs!(|| vec![0u8; 1000], bytes <= 4 * KIB, allocs == 1, frees == 0);
/// assert_eq!(v.len(), 1000);
/// ```
#[macro_export]
macro_rules! assert_allocs {
    ($f:expr, $($field:ident $op:tt $value:expr),+ $(,)?) => {{
        let (result, usage) = $crate::testing::measure($f);
        $(
            let actual: u64 = usage.$field;
            let expected: u64 = $value;
            if !(actual $op expected) {
                panic!(
                    "assert_allocs!: {} {} {} failed: it was {}\n  {:?}",
                    stringify!($field),
                    stringify!($op),
                    expected,
                    actual,
                    usage
                );
            }
        )+
        result
    }};
}
