//! Strata's data model, free of I/O: versions and how RPM compares them,
//! package identities, dependencies including rich (boolean) ones, module
//! definitions, the naming rules every output format shares, and locations
//! as they may be shown (without passwords).

pub mod definition;
pub mod dep;
pub mod evr;
pub mod nevra;
pub mod rules;
pub mod text;
pub mod url;

pub use definition::{DefinitionError, ModuleDefinition, Problem, Source};
pub use dep::{is_rich, RichDep, RichDepError, RichOp};
pub use evr::{ranges_intersect, rpmvercmp, Evr, RelFlags};
pub use nevra::{is_valid_rpm_name, Nevra};
pub use url::redact_credentials;
