// Each test binary uses part of these.
#![allow(dead_code)]

pub mod conformance;
pub mod pgkit;
