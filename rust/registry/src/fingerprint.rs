//! The fingerprint digest of a compose: one SHA-256 over what it used that
//! counts for staleness (the definition digest, the selected NEVRAs per
//! arch, and the inputs naming exact content), stored with the compose
//! when it finishes (schema version 6). Deciding that a module is up to
//! date is then one comparison of digests, without reading its package
//! lists or loading its stack. Composes recorded before version 6 have
//! none; callers recompute it from the record.

use crate::record::{Input, InputKind, PackagesByArch};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

/// `(kind, name) → ident` of the inputs that count.
pub type CountedInputs = BTreeMap<(InputKind, String), String>;

/// The inputs that count for staleness.
///
/// The sources' identities are left out (a Koji repo ID, a source
/// repository's repomd checksum): a new repo of the same tag, or a source
/// repository that gained packages the manifest does not name, with the
/// same selected builds makes the same compose; the selection says
/// whether the builds changed. Platform checksums and input compose IDs
/// count.
pub fn counted_inputs<'a>(inputs: impl IntoIterator<Item = &'a Input>) -> CountedInputs {
    inputs
        .into_iter()
        .filter(|i| !matches!(i.kind, InputKind::KojiRepo | InputKind::SourceRepo))
        .map(|i| ((i.kind, i.name.clone()), i.ident.clone()))
        .collect()
}

/// `sha256:<hex>` of the definition digest, the packages and the counted
/// inputs. Each part is length-prefixed, so no two different fingerprints
/// hash the same bytes whatever their text holds.
pub fn fingerprint_digest(
    definition_digest: &str,
    packages: &PackagesByArch,
    inputs: &CountedInputs,
) -> String {
    digest_of_parts(|part| {
        part(b"strata-fingerprint-1", "");
        part(b"D", definition_digest);
        for (arch, nevras) in packages {
            part(b"A", arch);
            for n in nevras {
                part(b"N", n);
            }
        }
        for ((kind, name), ident) in inputs {
            part(b"I", kind.as_str());
            part(b"n", name);
            part(b"i", ident);
        }
    })
}

/// `sha256:<hex>` of the parts `parts` gives, each a tag and its text
/// prefixed by its length.
fn digest_of_parts(parts: impl FnOnce(&mut dyn FnMut(&[u8], &str))) -> String {
    let mut h = Sha256::new();
    parts(&mut |tag: &[u8], s: &str| {
        h.update(tag);
        h.update((s.len() as u64).to_le_bytes());
        h.update(s.as_bytes());
    });
    format!("sha256:{}", hex::encode(h.finalize()))
}

/// The digest of what a recorded compose used.
pub fn record_fingerprint(record: &crate::ComposeRecord) -> String {
    fingerprint_digest(
        &record.definition_digest,
        &record.packages,
        &counted_inputs(&record.inputs),
    )
}

/// `sha256:<hex>` of a stack: the `(name:stream, compose ID)` of every
/// compose in it, in any order (they are sorted here, each pair once).
/// Stored with a finished compose (schema version 12) for its stack, the
/// inputs of kind `compose` and `stack_compose`: a compose above it tells
/// whether its own stack under that layer is the one that layer's gate
/// saw by hashing what it holds, without reading the layer's inputs
/// (hundreds of rows a layer in a deep stack).
pub fn stack_digest<'a>(stack: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    let mut stack: Vec<(&str, &str)> = stack.into_iter().collect();
    stack.sort_unstable();
    stack.dedup();
    digest_of_parts(|part| {
        part(b"strata-stack-1", "");
        for (name, id) in stack {
            part(b"n", name);
            part(b"i", id);
        }
    })
}

/// The [`stack_digest`] of the stack a compose with `inputs` used.
pub fn inputs_stack_digest(inputs: &[Input]) -> String {
    stack_digest(
        inputs
            .iter()
            .filter(|i| matches!(i.kind, InputKind::Compose | InputKind::StackCompose))
            .map(|i| (i.name.as_str(), i.ident.as_str())),
    )
}

#[cfg(test)]
mod test {
    use super::*;

    fn input(kind: InputKind, name: &str, ident: &str) -> Input {
        Input {
            kind,
            name: name.into(),
            ident: ident.into(),
            location: "/x".into(),
        }
    }

    #[test]
    fn sources_do_not_count_and_everything_else_does() {
        let packages =
            PackagesByArch::from([("x86_64".to_string(), ["a-0:1-1.noarch".to_string()].into())]);
        let d = |inputs: &[Input]| fingerprint_digest("d1", &packages, &counted_inputs(inputs));
        let base = d(&[input(InputKind::Compose, "base:1", "base-1-1.n.0")]);
        assert_eq!(
            base,
            d(&[
                input(InputKind::Compose, "base:1", "base-1-1.n.0"),
                input(InputKind::SourceRepo, "source.x86_64", "sha256:aa"),
                input(InputKind::KojiRepo, "f40-build", "7"),
            ])
        );
        assert_ne!(
            base,
            d(&[input(InputKind::Compose, "base:1", "base-1-2.n.0")])
        );
        assert_ne!(
            base,
            d(&[
                input(InputKind::Compose, "base:1", "base-1-1.n.0"),
                input(InputKind::Platform, "f40.x86_64", "sha256:aa"),
            ])
        );
        assert_ne!(
            base,
            fingerprint_digest(
                "d2",
                &packages,
                &counted_inputs(&[input(InputKind::Compose, "base:1", "base-1-1.n.0")])
            )
        );
        // Moving text between parts changes the digest.
        let split = |a: &str, b: &str| {
            fingerprint_digest(
                "d",
                &PackagesByArch::from([(a.to_string(), [b.to_string()].into())]),
                &CountedInputs::new(),
            )
        };
        assert_ne!(split("x86_64", "ab"), split("x86_64a", "b"));
        assert!(base.starts_with("sha256:") && base.len() == 71);
    }

    #[test]
    fn a_stack_digest_is_of_the_pairs_whatever_their_order() {
        let d = |pairs: &[(&str, &str)]| stack_digest(pairs.iter().copied());
        let both = d(&[("base:1", "base-1-1.n.0"), ("ssl:3", "ssl-3-1.n.0")]);
        assert_eq!(
            both,
            d(&[
                ("ssl:3", "ssl-3-1.n.0"),
                ("base:1", "base-1-1.n.0"),
                ("ssl:3", "ssl-3-1.n.0"),
            ])
        );
        assert_ne!(both, d(&[("base:1", "base-1-1.n.0")]));
        assert_ne!(
            both,
            d(&[("base:1", "base-1-1.n.0"), ("ssl:3", "ssl-3-1.n.1")])
        );
        // Text moved between a name and its compose ID is another stack.
        assert_ne!(d(&[("a:1", "b")]), d(&[("a:", "1b")]));
        assert_ne!(d(&[]), d(&[("", "")]));
        // What counts of a record: its composes, whichever kind.
        let inputs = [
            input(InputKind::StackCompose, "base:1", "base-1-1.n.0"),
            input(InputKind::Platform, "f40.x86_64", "sha256:aa"),
            input(InputKind::Compose, "ssl:3", "ssl-3-1.n.0"),
            input(InputKind::SourceRepo, "source.x86_64", "sha256:bb"),
        ];
        assert_eq!(inputs_stack_digest(&inputs), both);
    }
}
