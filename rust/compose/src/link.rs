//! Putting packages into a repository being written: where each goes
//! (`Packages/<l>/<name>-<version>-<release>.<arch>.rpm`, named from the
//! package, as Pungi lays packages out), which checksums are trusted, and
//! linking the payload from its source: checked against the source
//! metadata, then hardlinked, else reflinked, else copied.

use crate::error::{io, ComposeError, Result};
use std::path::{Path, PathBuf};
use strata_repodata::payload::{self, PlaceError};
use strata_repodata::{ChecksumTrust, Location, Package, Payload, Payloads, Repo};

/// Where a package goes inside its repo:
/// `Packages/<first letter>/<name>-<version>-<release>.<arch>.rpm`, as
/// Pungi lays packages out and Koji names them. The name comes from the
/// package, not from the source's href, whose last component two packages
/// may share (`a/x.rpm`, `b/x.rpm`); within one repository a name and an
/// arch are picked once, so two packages meet here only in a stack, where
/// the same file name with another checksum is refused.
fn package_href(pkg: &Package<'_>) -> std::result::Result<String, String> {
    let e = pkg.evr();
    let parts = [
        ("name", pkg.name()),
        ("version", e.version),
        ("release", e.release.unwrap_or_default()),
        ("arch", pkg.arch()),
    ];
    for (what, v) in parts {
        if v.is_empty() || v.contains('/') || v.chars().any(char::is_control) {
            return Err(format!(
                "its {what} {v:?} cannot be part of a file name (empty, a `/` or a control character)"
            ));
        }
    }
    let file = format!(
        "{}-{}-{}.{}.rpm",
        pkg.name(),
        e.version,
        e.release.unwrap_or_default(),
        pkg.arch()
    );
    let first = file
        .chars()
        .next()
        .map(|c| c.to_ascii_lowercase())
        .unwrap_or('_');
    Ok(format!("Packages/{first}/{file}"))
}

/// `package_href`, failing as a payload error naming the package.
pub(crate) fn published_href(repo: &Repo, pkg: &Package<'_>) -> Result<String> {
    package_href(pkg).map_err(|problem| ComposeError::Payload {
        nevra: pkg.nevra().to_string(),
        path: Location::parse(&repo.location).display(pkg.location()),
        problem,
    })
}

/// Checksum types of the packages a compose publishes: md5 is refused
/// (naming the package), sha1 accepted with one warning per repository
/// (see `ChecksumTrust`).
#[derive(Default)]
pub(crate) struct WeakChecksums {
    warned: rustc_hash::FxHashSet<String>,
}

impl WeakChecksums {
    pub(crate) fn check(&mut self, repo: &Repo, pkg: &Package<'_>) -> Result<()> {
        let kind = pkg.checksum().split_once(':').map_or("", |(k, _)| k);
        match ChecksumTrust::of(kind) {
            ChecksumTrust::Trusted => Ok(()),
            ChecksumTrust::Deprecated => {
                if self.warned.insert(repo.id.clone()) {
                    tracing::warn!(
                        "`{}` ({}) verifies its packages by {kind}, which createrepo_c no longer \
                         writes by default and collisions can defeat; accepted as dnf does, and \
                         published as it is (regenerate it with `createrepo_c --checksum sha256`)",
                        repo.id,
                        strata_model::redact_credentials(&repo.location)
                    );
                }
                Ok(())
            }
            ChecksumTrust::Refused | ChecksumTrust::Unknown => Err(ComposeError::Payload {
                nevra: pkg.nevra().to_string(),
                path: Location::parse(&repo.location).display(pkg.location()),
                problem: format!(
                    "its checksum in the source metadata is {kind}, which Strata does not accept{} \
                     (regenerate the source with `createrepo_c --checksum sha256`)",
                    if kind.eq_ignore_ascii_case("md5") {
                        ": md5 collisions are made in seconds"
                    } else {
                        ""
                    }
                ),
            }),
        }
    }
}

/// Puts packages into the repositories being published.
pub(crate) struct Linker {
    pub verify: bool,
    pub weak: WeakChecksums,
    /// Directories made so far (`Packages/<l>/`), so that each is made once.
    made: rustc_hash::FxHashSet<PathBuf>,
}

impl Linker {
    pub(crate) fn new(verify: bool) -> Linker {
        Linker {
            verify,
            weak: WeakChecksums::default(),
            made: Default::default(),
        }
    }

    /// Puts one RPM at `dest`, which is created new (never written
    /// through): see [`Linker::place`]. `size` is the package size the
    /// source metadata gives.
    pub(crate) fn link(
        &mut self,
        from: &Payloads,
        pkg: &Package<'_>,
        size: Option<u64>,
        dest: &Path,
    ) -> Result<()> {
        let nevra = pkg.nevra().to_string();
        let verify = self.verify;
        self.place(
            from,
            &nevra,
            pkg.location(),
            pkg.checksum(),
            size,
            verify,
            dest,
        )
    }

    /// The source's file is opened inside its repository (no symlink, only
    /// a regular file: see `strata_repodata::confined`), its size checked
    /// against `size` (and its checksum when `verify`), then it
    /// is hardlinked, else reflinked, else copied and checksummed. A
    /// download is streamed to `dest` through the hasher, cut off past the
    /// size the metadata gives.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn place(
        &mut self,
        from: &Payloads,
        nevra: &str,
        href: &str,
        checksum: &str,
        size: Option<u64>,
        verify: bool,
        dest: &Path,
    ) -> Result<()> {
        if let Some(parent) = dest.parent() {
            if !self.made.contains(parent) {
                std::fs::create_dir_all(parent).map_err(io(parent))?;
                self.made.insert(parent.to_path_buf());
            }
        }
        let placing = |e: PlaceError| ComposeError::PayloadPlacing {
            nevra: nevra.to_string(),
            path: from.display(href),
            source: Box::new(e),
        };
        let opened = from.open(href).map_err(|e| ComposeError::PayloadSource {
            nevra: nevra.to_string(),
            source: Box::new(e),
        })?;
        match opened {
            Payload::Local(f) => {
                if let Some(size) = size.filter(|&s| s != f.len()) {
                    return Err(placing(PlaceError::Size {
                        expected: size,
                        actual: f.len(),
                    }));
                }
                if verify {
                    payload::verify(f.file(), checksum).map_err(placing)?;
                }
                payload::place_local(&f, dest, checksum).map_err(placing)?;
            }
            Payload::Remote(mut r) => {
                let size = size.ok_or_else(|| ComposeError::Payload {
                    nevra: nevra.to_string(),
                    path: from.display(href),
                    problem: "the source metadata gives no size for it, so its download cannot \
                              be bounded"
                        .into(),
                })?;
                payload::download(&mut r, size, dest, checksum).map_err(placing)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod test {
    use super::*;

    fn repo(packages: &[(&str, &str, &str, &str, &str)]) -> Repo {
        let mut xml = String::from("<metadata>");
        for (name, ver, rel, arch, href) in packages {
            xml.push_str(&format!(
                "<package type=\"rpm\"><name>{name}</name><arch>{arch}</arch>\
                 <version epoch=\"1\" ver=\"{ver}\" rel=\"{rel}\"/>\
                 <checksum type=\"sha256\" pkgid=\"YES\">00</checksum>\
                 <location href=\"{href}\"/></package>"
            ));
        }
        xml.push_str("</metadata>");
        let mut repo = Repo::empty("src", "/srv/src", "sha256:00");
        strata_repodata::parse_primary(&mut xml.as_bytes(), "primary.xml", &mut repo).unwrap();
        repo
    }

    #[test]
    fn published_names_come_from_the_package() {
        let r = repo(&[
            (
                "httpd",
                "2.4",
                "1",
                "x86_64",
                "toplink/packages/httpd/2.4/1/x86_64/httpd-2.4-1.x86_64.rpm",
            ),
            ("Zlib", "1", "1", "noarch", "Packages/a/x.rpm"),
            ("foo", "1", "1", "noarch", "Packages/b/x.rpm"),
        ]);
        let hrefs: Vec<String> = r.iter().map(|p| package_href(&p).unwrap()).collect();
        assert_eq!(
            hrefs,
            [
                "Packages/h/httpd-2.4-1.x86_64.rpm",
                "Packages/z/Zlib-1-1.noarch.rpm",
                "Packages/f/foo-1-1.noarch.rpm"
            ]
        );
    }

    #[test]
    fn a_package_that_cannot_name_a_file_is_refused() {
        let r = repo(&[("foo", "1/../../x", "1", "noarch", "foo.rpm")]);
        let e = package_href(&r.package(0)).unwrap_err();
        assert!(e.contains("version") && e.contains("`/`"), "{e}");
        let e = published_href(&r, &r.package(0)).unwrap_err().to_string();
        assert!(
            e.contains("foo-1:1/../../x-1.noarch") && e.contains("/srv/src/foo.rpm"),
            "{e}"
        );
    }
}
