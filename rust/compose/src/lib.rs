//! The module compose pipeline.

pub mod productmd;
