//! A loaded repository: packages and their dependencies in flat arrays over
//! one string pool, so that 70k packages load, cache and scan cheaply.

use crate::pods::Pods;
use crate::strings::{StrId, StringPool, EMPTY};
use bytemuck::{Pod, Zeroable};
use strata_model::{Evr, Nevra, RelFlags};

/// One dependency entry (`<rpm:entry>`). A rich dependency keeps its whole
/// text in `name` and has no flags.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, Pod, Zeroable, PartialEq, Eq)]
pub struct DepRec {
    pub name: StrId,
    pub epoch: StrId,
    pub version: StrId,
    pub release: StrId,
    pub flags: u8,
    pub pre: u8,
    pub _pad: [u8; 2],
}

/// What makes two dependency records of one repository the same
/// dependency: name, flags and EVR string ids.
pub type DepKey = (StrId, u8, StrId, StrId, StrId);

impl DepRec {
    pub fn key(&self) -> DepKey {
        (
            self.name,
            self.flags,
            self.epoch,
            self.version,
            self.release,
        )
    }
}

/// Kinds of dependency lists a package carries, in storage order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DepKind {
    Provides = 0,
    Requires = 1,
    Conflicts = 2,
    Obsoletes = 3,
}

#[repr(C)]
#[derive(Clone, Copy, Debug, Default, Pod, Zeroable)]
pub struct PkgRec {
    pub name: StrId,
    pub arch: StrId,
    pub epoch: StrId,
    pub version: StrId,
    pub release: StrId,
    pub location: StrId,
    /// `type:hex` of the package checksum (pkgid).
    pub checksum: StrId,
    pub sourcerpm: StrId,
    /// First dependency in `Repo::deps`; the four lists follow each other.
    pub deps_start: u32,
    /// Ends (relative to `deps_start`) of provides, requires, conflicts, obsoletes.
    pub deps_ends: [u32; 4],
    pub files_start: u32,
    pub files_len: u32,
}

/// A parsed repository.
#[derive(Debug, Clone)]
pub struct Repo {
    /// The name the user gave it (`--repo ID=...`).
    pub id: String,
    /// Where it was loaded from, as given.
    pub location: String,
    /// `type:hex` of primary.xml as repomd.xml declares it: the identity of
    /// this content, and the cache key.
    pub checksum: String,
    pub strings: StringPool,
    pub packages: Pods<PkgRec>,
    pub deps: Pods<DepRec>,
    /// File paths listed in primary (createrepo_c's subset: /etc, *bin/ ...).
    pub files: Pods<StrId>,
}

/// A view of one package.
#[derive(Clone, Copy)]
pub struct Package<'r> {
    pub repo: &'r Repo,
    pub index: u32,
    rec: &'r PkgRec,
}

/// A view of one dependency.
#[derive(Clone, Copy)]
pub struct Dep<'r> {
    strings: &'r StringPool,
    pub rec: &'r DepRec,
}

impl Repo {
    /// A repository with no packages yet, for a parser to fill.
    pub fn empty(id: &str, location: &str, checksum: &str) -> Repo {
        Repo {
            id: id.to_string(),
            location: location.to_string(),
            checksum: checksum.to_string(),
            strings: StringPool::new(),
            packages: Pods::new(),
            deps: Pods::new(),
            files: Pods::new(),
        }
    }

    pub fn len(&self) -> usize {
        self.packages.len()
    }

    pub fn is_empty(&self) -> bool {
        self.packages.is_empty()
    }

    pub fn package(&self, index: u32) -> Package<'_> {
        Package {
            repo: self,
            index,
            rec: &self.packages[index as usize],
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = Package<'_>> + '_ {
        (0..self.packages.len() as u32).map(move |i| self.package(i))
    }

    pub fn str(&self, id: StrId) -> &str {
        self.strings.get(id)
    }
}

impl<'r> Package<'r> {
    pub fn rec(&self) -> &'r PkgRec {
        self.rec
    }
    pub fn name(&self) -> &'r str {
        self.repo.strings.get(self.rec.name)
    }
    pub fn arch(&self) -> &'r str {
        self.repo.strings.get(self.rec.arch)
    }
    pub fn evr(&self) -> Evr<'r> {
        let s = &self.repo.strings;
        Evr::new(
            Some(s.get(self.rec.epoch)),
            s.get(self.rec.version),
            Some(s.get(self.rec.release)),
        )
    }
    /// `name-epoch:version-release.arch` with the epoch always present
    /// (`0` when the package has none), as modulemd artifacts, productmd
    /// and the registry's package lists name packages.
    pub fn nevra_with_epoch(&self) -> String {
        let e = self.evr();
        format!(
            "{}-{}:{}-{}.{}",
            self.name(),
            e.epoch.filter(|e| !e.is_empty()).unwrap_or("0"),
            e.version,
            e.release.unwrap_or_default(),
            self.arch()
        )
    }
    pub fn nevra(&self) -> Nevra<'r> {
        Nevra {
            name: self.name(),
            evr: self.evr(),
            arch: self.arch(),
        }
    }
    pub fn location(&self) -> &'r str {
        self.repo.strings.get(self.rec.location)
    }
    pub fn checksum(&self) -> &'r str {
        self.repo.strings.get(self.rec.checksum)
    }
    pub fn sourcerpm(&self) -> &'r str {
        self.repo.strings.get(self.rec.sourcerpm)
    }

    pub fn deps(&self, kind: DepKind) -> impl Iterator<Item = Dep<'r>> + 'r {
        let k = kind as usize;
        let start = self.rec.deps_start as usize
            + if k == 0 {
                0
            } else {
                self.rec.deps_ends[k - 1] as usize
            };
        let end = self.rec.deps_start as usize + self.rec.deps_ends[k] as usize;
        let strings = &self.repo.strings;
        self.repo.deps[start..end]
            .iter()
            .map(move |rec| Dep { strings, rec })
    }

    pub fn provides(&self) -> impl Iterator<Item = Dep<'r>> + 'r {
        self.deps(DepKind::Provides)
    }
    pub fn requires(&self) -> impl Iterator<Item = Dep<'r>> + 'r {
        self.deps(DepKind::Requires)
    }
    pub fn conflicts(&self) -> impl Iterator<Item = Dep<'r>> + 'r {
        self.deps(DepKind::Conflicts)
    }
    pub fn obsoletes(&self) -> impl Iterator<Item = Dep<'r>> + 'r {
        self.deps(DepKind::Obsoletes)
    }

    pub fn files(&self) -> impl Iterator<Item = &'r str> + 'r {
        let s = self.rec.files_start as usize;
        let strings = &self.repo.strings;
        self.repo.files[s..s + self.rec.files_len as usize]
            .iter()
            .map(move |&id| strings.get(id))
    }
}

impl<'r> Dep<'r> {
    pub fn name(&self) -> &'r str {
        self.strings.get(self.rec.name)
    }
    pub fn flags(&self) -> RelFlags {
        RelFlags(self.rec.flags)
    }
    pub fn is_pre(&self) -> bool {
        self.rec.pre != 0
    }
    pub fn evr(&self) -> Option<Evr<'r>> {
        if !self.flags().is_versioned() {
            return None;
        }
        let s = self.strings;
        let epoch = (self.rec.epoch != EMPTY).then(|| s.get(self.rec.epoch));
        let release = (self.rec.release != EMPTY).then(|| s.get(self.rec.release));
        Some(Evr::new(epoch, s.get(self.rec.version), release))
    }
}

impl std::fmt::Display for Dep<'_> {
    /// The form dnf and libsolv print: `name`, `name >= [epoch:]ver[-rel]`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if strata_model::is_rich(self.name()) {
            // Normalized as libsolv prints it, so reports compare with dnf's.
            return match strata_model::RichDep::parse(self.name()) {
                Ok(rich) => write!(f, "{rich}"),
                Err(_) => f.write_str(self.name()),
            };
        }
        f.write_str(self.name())?;
        if let Some(evr) = self.evr() {
            write!(f, " {} {}", self.flags().op(), evr)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod test {
    use super::*;

    fn package(repo: &mut Repo, name: &str, epoch: &str, version: &str, release: &str) {
        let mut s = |x: &str| repo.strings.intern(x);
        let rec = PkgRec {
            name: s(name),
            arch: s("x86_64"),
            epoch: s(epoch),
            version: s(version),
            release: s(release),
            location: s("x.rpm"),
            checksum: s("sha256:00"),
            sourcerpm: s("x.src.rpm"),
            deps_start: 0,
            deps_ends: [0; 4],
            files_start: 0,
            files_len: 0,
        };
        repo.packages.push(rec);
    }

    #[test]
    fn nevra_with_epoch_always_names_the_epoch() {
        let mut repo = Repo::empty("r", "/r", "sha256:00");
        package(&mut repo, "httpd", "", "2.4.58", "1.fc40");
        package(&mut repo, "mod_ssl", "1", "2.4.58", "1.fc40");
        let nevras: Vec<String> = repo.iter().map(|p| p.nevra_with_epoch()).collect();
        assert_eq!(
            nevras,
            [
                "httpd-0:2.4.58-1.fc40.x86_64",
                "mod_ssl-1:2.4.58-1.fc40.x86_64"
            ]
        );
    }
}
