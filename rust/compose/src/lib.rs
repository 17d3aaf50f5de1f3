//! The module compose pipeline: resolve the manifest against the source,
//! gate on repoclosure, publish atomically, record in the registry. Also
//! the productmd metadata a published compose carries.

pub mod config;
mod definition_file;
pub mod error;
pub mod interrupt;
pub mod koji;
pub mod module;
pub mod modulemd;
pub mod productmd;
pub mod publish;
pub mod select;
pub mod stack;
mod staging;

pub use error::{ComposeError, Result};
pub use interrupt::Interrupt;
pub use module::{compose_module, ComposeOutcome, ComposeRequest, Progress, Quiet};
