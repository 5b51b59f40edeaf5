//! Platform code: loaded objects and their build IDs, thread stack bounds.
