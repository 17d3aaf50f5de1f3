//! Staleness, content-addressed: a module is recomposed only when what it
//! would use now differs from what its last good compose recorded.
//!
//! A [`Fingerprint`] is that "what it uses": the definition's digest, the
//! NEVRAs selected per arch, and the inputs that name exact content
//! (compose IDs of the modules below, repomd checksums of platform
//! repositories). The sources' identities (Koji repo IDs, source repomd
//! checksums) are left out: the same selection from a newer repo makes the
//! same compose, and the selection says whether the builds changed.

use crate::graph::{NevraChange, Why};
use std::collections::{BTreeMap, BTreeSet};
pub use strata_compose::Fingerprint;
use strata_registry::{InputKind, PackagesByArch};

/// `name` and `arch` of `name-[epoch:]version-release.arch`: the package a
/// NEVRA is a version of.
fn package_of(nevra: &str) -> (&str, &str) {
    let (rest, arch) = nevra.rsplit_once('.').unwrap_or((nevra, ""));
    let name = rest
        .rsplit_once('-')
        .and_then(|(nv, _release)| nv.rsplit_once('-'))
        .map_or(rest, |(name, _version)| name);
    (name, arch)
}

/// A package (name, arch) → the NEVRA it was and the NEVRA it is.
type Pairs<'a> = BTreeMap<(&'a str, &'a str), (Option<&'a String>, Option<&'a String>)>;

/// Which NEVRA replaces which, per compose arch, paired by package name
/// and package arch.
fn selection_changes(old: &PackagesByArch, new: &PackagesByArch) -> Vec<NevraChange> {
    let empty = BTreeSet::new();
    let arches: BTreeSet<&String> = old.keys().chain(new.keys()).collect();
    let mut changes = Vec::new();
    for arch in arches {
        let was = old.get(arch).unwrap_or(&empty);
        let is = new.get(arch).unwrap_or(&empty);
        if was == is {
            continue;
        }
        let mut by_package = Pairs::new();
        for n in was.difference(is) {
            by_package.entry(package_of(n)).or_default().0 = Some(n);
        }
        for n in is.difference(was) {
            by_package.entry(package_of(n)).or_default().1 = Some(n);
        }
        for (old, new) in by_package.into_values() {
            changes.push(NevraChange {
                arch: arch.clone(),
                old: old.cloned(),
                new: new.cloned(),
            });
        }
    }
    changes
}

/// Why a module whose last good compose used `last` is stale now that it
/// would use `now`; empty when it is up to date (its compose is reused).
pub fn stale_reasons(last: Option<&Fingerprint>, now: &Fingerprint) -> Vec<Why> {
    let Some(last) = last else {
        return vec![Why::NeverComposed];
    };
    let mut why = Vec::new();
    if last.definition_digest != now.definition_digest {
        why.push(Why::Definition {
            digest: now.definition_digest.clone(),
        });
    }
    let changes = selection_changes(&last.packages, &now.packages);
    if !changes.is_empty() {
        why.push(Why::Selection { changes });
    }
    let keys: BTreeSet<&(InputKind, String)> =
        last.inputs.keys().chain(now.inputs.keys()).collect();
    for key in keys {
        if last.inputs.get(key) == now.inputs.get(key) {
            continue;
        }
        let (kind, name) = key;
        why.push(match kind {
            InputKind::Compose | InputKind::StackCompose => Why::InputCompose {
                module: name.clone(),
            },
            InputKind::Platform => Why::Platform { repo: name.clone() },
            InputKind::SourceRepo | InputKind::KojiRepo => Why::Source { repo: name.clone() },
        });
    }
    why
}

#[cfg(test)]
mod test {
    use super::*;
    use strata_registry::Input;

    fn print(digest: &str, nevras: &[&str], base: &str) -> Fingerprint {
        let packages = PackagesByArch::from([(
            "x86_64".to_string(),
            nevras.iter().map(|n| n.to_string()).collect(),
        )]);
        let inputs = [
            Input {
                kind: InputKind::Compose,
                name: "base:1".into(),
                ident: base.into(),
                location: "/srv/composes/x".into(),
            },
            Input {
                kind: InputKind::KojiRepo,
                name: "f40-build".into(),
                // A new repo ID alone changes nothing.
                ident: format!("{}", digest.len() * 7 + nevras.len()),
                location: "https://kojipkgs.example/repos/f40-build".into(),
            },
        ];
        Fingerprint::new(digest, &packages, &inputs)
    }

    #[test]
    fn identical_inputs_are_up_to_date() {
        let a = print(
            "d1",
            &["httpd-0:2.4.58-1.fc40.x86_64"],
            "base-1-20261125.n.0",
        );
        // The same selection from a newer Koji repo of the tag.
        let repo = |id: &str| Input {
            kind: InputKind::KojiRepo,
            name: "f40-build".into(),
            ident: id.into(),
            location: "https://kojipkgs.example/repos/f40-build".into(),
        };
        let b = Fingerprint::new("d1", &a.packages, &[repo("6034452")]);
        let c = Fingerprint::new("d1", &a.packages, &[repo("6034453")]);
        assert_eq!(stale_reasons(Some(&a), &a), Vec::<Why>::new());
        assert_eq!(stale_reasons(Some(&b), &c), Vec::<Why>::new());
        // A source repository that changed elsewhere, same selection: the
        // same compose. A changed platform repository is not.
        let input = |kind, ident: &str| Input {
            kind,
            name: "f40".into(),
            ident: ident.into(),
            location: "/srv/repos/f40".into(),
        };
        let src = |sum| Fingerprint::new("d1", &a.packages, &[input(InputKind::SourceRepo, sum)]);
        assert_eq!(
            stale_reasons(Some(&src("aa")), &src("bb")),
            Vec::<Why>::new()
        );
        let platform =
            |sum| Fingerprint::new("d1", &a.packages, &[input(InputKind::Platform, sum)]);
        assert_eq!(
            stale_reasons(Some(&platform("aa")), &platform("bb")),
            [Why::Platform { repo: "f40".into() }]
        );
        assert_eq!(stale_reasons(None, &a), [Why::NeverComposed]);
    }

    #[test]
    fn every_difference_is_named() {
        let a = print(
            "d1",
            &[
                "httpd-0:2.4.58-1.fc40.x86_64",
                "mod_ssl-1:2.4.58-1.fc40.x86_64",
            ],
            "base-1-20261125.n.0",
        );
        let b = print(
            "d2",
            &[
                "httpd-0:2.4.58-2.fc40.x86_64",
                "mod_ssl-1:2.4.58-1.fc40.x86_64",
                "new-0:1-1.noarch",
            ],
            "base-1-20261126.n.0",
        );
        assert_eq!(
            stale_reasons(Some(&a), &b),
            [
                Why::Definition {
                    digest: "d2".into()
                },
                Why::Selection {
                    changes: vec![
                        NevraChange {
                            arch: "x86_64".into(),
                            old: Some("httpd-0:2.4.58-1.fc40.x86_64".into()),
                            new: Some("httpd-0:2.4.58-2.fc40.x86_64".into()),
                        },
                        NevraChange {
                            arch: "x86_64".into(),
                            old: None,
                            new: Some("new-0:1-1.noarch".into()),
                        },
                    ]
                },
                Why::InputCompose {
                    module: "base:1".into()
                },
            ]
        );
    }

    #[test]
    fn packages_are_named_by_name_and_arch() {
        assert_eq!(
            package_of("httpd-0:2.4.58-1.fc40.x86_64"),
            ("httpd", "x86_64")
        );
        assert_eq!(
            package_of("python3-foo-bar-1.0-1.noarch"),
            ("python3-foo-bar", "noarch")
        );
    }
}
