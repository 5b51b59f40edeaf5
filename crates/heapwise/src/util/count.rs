//! Counts in messages: `1 block`, `2 blocks`.

use std::fmt;

/// `n` and `word`, plural unless `n` is 1: `Count(1, "block")` prints
/// `1 block`, `Count(40, "block")` prints `40 blocks`.
pub(crate) struct Count<'a>(pub(crate) u64, pub(crate) &'a str);

impl fmt::Display for Count<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Count(n, word) = *self;
        write!(f, "{n} {word}{}", if n == 1 { "" } else { "s" })
    }
}

#[cfg(test)]
mod tests {
    use super::Count;

    #[test]
    fn one_is_singular_and_the_rest_plural() {
        assert_eq!(Count(0, "block").to_string(), "0 blocks");
        assert_eq!(Count(1, "block").to_string(), "1 block");
        assert_eq!(Count(2, "byte").to_string(), "2 bytes");
    }
}
