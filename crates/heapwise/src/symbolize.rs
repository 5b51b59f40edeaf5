//! Symbolization at export time (filled in by the symbolization work).
