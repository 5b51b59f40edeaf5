//! Chrome DevTools' heap snapshot format (`.heapsnapshot`), written and
//! read.
//!
//! The layout follows V8's `HeapSnapshotJSONSerializer` (the top-level
//! keys in its order: `snapshot`, `nodes`, `edges`,
//! `trace_function_infos`, `trace_tree`, `samples`, `locations`,
//! `strings`) and what DevTools' `HeapSnapshot.ts` and
//! `AllocationProfile.ts` and memlab read:
//!
//! | node | type | name | id | edges |
//! |---|---|---|---|---|
//! | 0 | synthetic | `` | first free id | `internal` to `(GC roots)` and `(leaked)` |
//! | `(GC roots)` | synthetic | `(GC roots)` | | `internal` to one node per root kind present |
//! | root kind | synthetic | `(globals)`, `(thread stacks)`, `(registers)`, `(tls)`, `(unknown memory)` | | `element` (index = ordinal) to its roots |
//! | root | synthetic | the root's name, else its kind | | `element` (index = byte offset) to blocks |
//! | `(leaked)` | synthetic | `(leaked)` | | `element` (index = ordinal) to the direct leaks (present only if there are leaks) |
//! | block | native | its site | its sequence number | `element` (index = byte offset) to blocks |
//!
//! Synthetic nodes take ids above the largest sequence number. Every node
//! is reachable from node 0 (leaked blocks through `(leaked)`), so DevTools
//! and memlab compute the same dominators and retained sizes as
//! [`Analysis`](crate::Analysis). Allocation stacks are a trie in
//! `trace_tree` (outermost frame first under a `(root)` function), each
//! block's `trace_node_id` naming the trie node of its stack (0: none).

mod json;
mod read;
mod write;

pub use read::ReadOptions;
