//! Strata's data model, free of I/O: versions and how RPM compares them,
//! package identities, dependencies including rich (boolean) ones, module
//! definitions, artifact definitions, chain policies and releases, the naming rules every output format shares, and locations
//! as they may be shown (without passwords).

mod artifact;
mod definition;
mod dep;
mod evr;
mod nevra;
mod policy;
mod release;
mod rules;
mod text;
mod url;

pub use artifact::{
    ArtifactContent, ArtifactDefinition, ArtifactKind, ContainerSettings, IsoSettings,
    OstreeSettings, UnknownArtifactKind, ARTIFACT_DOCUMENT, ARTIFACT_DOCUMENT_VERSION,
    MAX_VOLUME_ID_LEN,
};
pub use definition::{
    document_type, is_valid_arch, is_valid_module_name, is_valid_stream, DefinitionError,
    Lifecycle, ModuleDefinition, Problem, Source, StrataDocument, MAX_DEFINITION_BYTES,
    MAX_PROBLEMS, MODULE_DOCUMENT,
};
pub use dep::{is_rich, RichDep, RichDepError, RichOp};
pub use evr::{ranges_intersect, rpmvercmp, Evr, RelFlags};
pub use nevra::{is_valid_rpm_name, Nevra};
pub use policy::{
    EventKind, OnFailure, Policy, PolicyRule, PolicyTest, TestContext, Trigger, DEFAULT_PARALLEL,
    MAX_DEBOUNCE_SECS, MAX_PARALLEL, PLACEHOLDERS, POLICY_DOCUMENT, POLICY_DOCUMENT_VERSION,
};
pub use release::{
    ReleaseArtifact, ReleaseDefinition, ReleaseModule, ReleaseVariants, RELEASE_DOCUMENT,
    RELEASE_DOCUMENT_VERSION,
};
/// The naming rules every output format shares (RPM, modulemd, productmd,
/// compose IDs).
pub use rules::{
    compose_id_name_problem, compose_id_stream_problem, control_char, is_calendar_date,
    is_compose_arch, is_nsvcap_char, is_release_version, nsvcap_bad_char, NSVCAP_CHARS, RPM_ARCHES,
};
pub use text::{one_line, table};
pub use url::redact_credentials;
