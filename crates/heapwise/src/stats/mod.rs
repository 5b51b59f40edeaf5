//! Layer `stats`: what reads the figures of the layers below for the user at
//! run time: the periodic stats line (`HEAPWISE_TRACE`) and the settings read
//! from the environment at start.

pub(crate) mod line;
pub(crate) mod settings;
