//! The compose, RPMs and modules the tests of this module describe.

use super::*;
use strata_registry::ComposeType;

pub(super) fn info() -> ComposeInfo {
    ComposeInfo {
        compose_id: "apache-2.4-20261125.n.0".into(),
        date: "20261125".into(),
        compose_type: ComposeType::Nightly,
        respin: 0,
        release_name: "apache".into(),
        release_short: "apache".into(),
        release_version: "2.4".into(),
        variants: vec![VariantInfo {
            uid: variant_uid("apache"),
            name: "Apache HTTP Server".into(),
            arches: vec!["x86_64".into(), "aarch64".into()],
        }],
    }
}

pub(super) fn rpm(arch: &str, nevra: &str) -> RpmEntry {
    RpmEntry {
        variant: "Apache".into(),
        arch: arch.into(),
        srpm_nevra: "httpd-0:2.4.58-1.fc40.src".into(),
        nevra: nevra.into(),
        path: format!("Apache/{arch}/os/Packages/h/{nevra}.rpm"),
        category: RpmCategory::Binary,
    }
}

pub(super) fn module(arch: &str) -> ModuleEntry {
    ModuleEntry {
        variant: "Apache".into(),
        arch: arch.into(),
        name: "apache".into(),
        stream: "2.4".into(),
        version: 20261125083000,
        context: "c0ffee43".into(),
        rpms: vec!["httpd-0:2.4.58-1.fc40.x86_64".into()],
        modulemd_path: format!("Apache/{arch}/os/repodata/abc-modules.yaml.gz"),
    }
}

/// A change that breaks an entry, and the field validation names.
pub(super) type Edit<T> = (fn(&mut T), &'static str);

pub(super) fn what(e: ProductmdError) -> String {
    match e {
        ProductmdError::Invalid { what, .. } => what,
        ProductmdError::Conflict { what } => what,
    }
}

/// `Apache` (x86_64, aarch64) and the stack's `ApacheStack` (x86_64).
pub(super) fn two_variants() -> ComposeInfo {
    let mut i = info();
    i.variants.push(VariantInfo {
        uid: "ApacheStack".into(),
        name: "Apache and its stack".into(),
        arches: vec!["x86_64".into()],
    });
    i
}

/// `rpm(arch, nevra)`, published in the stack's variant.
pub(super) fn stack_rpm(arch: &str, nevra: &str) -> RpmEntry {
    RpmEntry {
        variant: "ApacheStack".into(),
        path: format!("ApacheStack/{arch}/os/Packages/h/{nevra}.rpm"),
        ..rpm(arch, nevra)
    }
}

pub(super) fn stack_module(arch: &str) -> ModuleEntry {
    ModuleEntry {
        variant: "ApacheStack".into(),
        modulemd_path: format!("ApacheStack/{arch}/os/repodata/def-modules.yaml.gz"),
        ..module(arch)
    }
}
