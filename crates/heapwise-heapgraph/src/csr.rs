//! Compressed rows (CSR) built from `(row, item)` pairs with no cursor
//! array: the pairs are read twice, once to count each row and once to
//! fill it from its end, so the row starts double as the fill cursors.

/// The rows of `n` lists holding the items that `pairs` yields as
/// `(row, item)`, calling its argument once per pair; `pairs` runs twice
/// and must yield the same pairs both times. Returns `(start, items)`:
/// row `r` is `items[start[r]..start[r + 1]]`, in the reverse of the
/// order its pairs came in. Memory: 4 bytes per row and per item.
pub(crate) fn rows(n: usize, pairs: impl Fn(&mut dyn FnMut(u32, u32))) -> (Vec<u32>, Vec<u32>) {
    // Counts, then (inclusive prefix sums) ends, then (filled downwards)
    // starts; `start[n]` ends as the number of items.
    let mut start = vec![0u32; n + 1];
    pairs(&mut |row, _| start[row as usize] += 1);
    let mut sum = 0u32;
    for s in &mut start {
        sum += *s;
        *s = sum;
    }
    let mut items = vec![0u32; sum as usize];
    pairs(&mut |row, item| {
        start[row as usize] -= 1;
        items[start[row as usize] as usize] = item;
    });
    debug_assert_eq!(start[0], 0, "the pairs came the same both times");
    (start, items)
}

#[cfg(test)]
mod tests {
    #[test]
    fn rows_hold_their_items_in_reverse_order() {
        let pairs = [(2, 10), (0, 11), (2, 12), (3, 13)];
        let (start, items) = super::rows(4, |f| pairs.iter().for_each(|&(r, i)| f(r, i)));
        assert_eq!(start, [0, 1, 1, 3, 4]);
        assert_eq!(items, [11, 12, 10, 13]);
    }
}
