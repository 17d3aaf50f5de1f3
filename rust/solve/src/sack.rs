//! The set of loaded repositories seen as one, with an index of who
//! provides what. Provider lookup follows libsolv's `whatprovides` (what dnf
//! uses) so that answers agree with `dnf repoclosure`; repoclosure,
//! suggestions and the installability check all ask here, so they cannot
//! disagree about who provides what.

use crate::arch::compatible_arches;
use crate::error::SolveError;
use rustc_hash::{FxHashMap, FxHashSet};
use std::borrow::Cow;
use strata_model::{ranges_intersect, Evr, RelFlags, RichDep, RichOp};
use strata_repodata::{Dep, Package, Repo};

/// A package in the sack: repository index and package index.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct PkgId {
    pub(crate) repo: u32,
    pub(crate) pkg: u32,
}

/// Adds the file paths `dep` names to `out`: the dependency itself when it
/// is a path, or the paths inside a rich dependency. Called for every
/// requirement, so the common case (neither) is kept to a byte test.
#[inline]
pub(crate) fn dep_paths<'r>(dep: &Dep<'r>, out: &mut Vec<Cow<'r, str>>) {
    let name = dep.name();
    match name.as_bytes().first() {
        Some(b'/') => out.push(Cow::Borrowed(name)),
        Some(b'(') => rich_paths(name, out),
        _ => {}
    }
}

fn rich_paths<'r>(name: &str, out: &mut Vec<Cow<'r, str>>) {
    fn walk<'r>(dep: RichDep, out: &mut Vec<Cow<'r, str>>) {
        match dep {
            RichDep::Simple { name, .. } if name.starts_with('/') => out.push(Cow::Owned(name)),
            RichDep::Simple { .. } => {}
            RichDep::Op { left, right, .. } => {
                walk(*left, out);
                walk(*right, out);
            }
        }
    }
    // Unparsable ones have no providers anyway.
    if name.contains('/') {
        if let Ok(rich) = RichDep::parse(name) {
            walk(rich, out);
        }
    }
}

/// Whether a requirement is one dnf repoclosure skips: rpm's own features
/// (`rpmlib(...)`) and libsolv's internal `solvable:` names are never
/// provided by packages.
pub(crate) fn skipped(name: &str) -> bool {
    name.starts_with("rpmlib(") || name.starts_with("solvable:")
}

/// How a package provides a name.
#[derive(Clone, Copy, Debug)]
enum How {
    /// Index of the provide in its repo's `deps`.
    Dep(u32),
    /// Listed file (primary or filelists).
    File,
}

#[derive(Clone, Copy, Debug)]
struct Provider {
    id: PkgId,
    how: How,
}

pub(crate) struct Sack<'r> {
    pub(crate) repos: Vec<&'r Repo>,
    /// Packages of an arch the base arch cannot install are not providers
    /// (libsolv leaves them out of whatprovides).
    installable: Vec<Vec<bool>>,
    /// Provided name -> slot; the providers of slot `s` are
    /// `providers[offsets[s]..offsets[s + 1]]` (one flat array, built in
    /// two passes, so 70k packages cost two allocations, not 300k).
    slots: FxHashMap<&'r str, u32>,
    offsets: Vec<u32>,
    providers: Vec<Provider>,
    /// Files found in filelists.xml, which primary.xml does not list.
    extra_files: FxHashMap<String, Vec<PkgId>>,
    pub(crate) base_arch: String,
}

/// A repo-local string that is not a provided name [`Sack::for_names`]
/// asks for.
const UNWANTED: u32 = u32::MAX - 1;

impl<'r> Sack<'r> {
    pub(crate) fn new(repos: &[&'r Repo], base_arch: &str) -> Sack<'r> {
        Self::build(repos, base_arch, None)
    }

    /// A sack that knows the providers of `names` only: every other name
    /// has none. For a check of a few packages against a large pool (a
    /// module on a deep stack), whose requirements are all it looks up:
    /// the index of every name the pool provides cost more than the check.
    pub(crate) fn for_names(
        repos: &[&'r Repo],
        base_arch: &str,
        names: &FxHashSet<Cow<'_, str>>,
    ) -> Sack<'r> {
        Self::build(repos, base_arch, Some(names))
    }

    fn build(
        repos: &[&'r Repo],
        base_arch: &str,
        wanted: Option<&FxHashSet<Cow<'_, str>>>,
    ) -> Sack<'r> {
        let arches: FxHashSet<&str> = compatible_arches(base_arch).into_iter().collect();
        let installable: Vec<Vec<bool>> = repos
            .iter()
            .map(|repo| {
                // Arch strings are few: decide once per distinct string.
                let mut memo: FxHashMap<u32, bool> = FxHashMap::default();
                repo.packages
                    .iter()
                    .map(|p| {
                        *memo
                            .entry(p.arch)
                            .or_insert_with(|| arches.contains(repo.str(p.arch)))
                    })
                    .collect()
            })
            .collect();
        // Every provide and listed file of an installable package, as
        // (repo-local string id, provider).
        let each = |ri: usize, f: &mut dyn FnMut(u32, Provider)| {
            let repo = repos[ri];
            for (pi, rec) in repo.packages.iter().enumerate() {
                if !installable[ri][pi] {
                    continue;
                }
                let id = PkgId {
                    repo: ri as u32,
                    pkg: pi as u32,
                };
                let start = rec.deps_start as usize;
                for d in start..start + rec.deps_ends[0] as usize {
                    f(
                        repo.deps[d].name,
                        Provider {
                            id,
                            how: How::Dep(d as u32),
                        },
                    );
                }
                let fs = rec.files_start as usize;
                for &name in &repo.files[fs..fs + rec.files_len as usize] {
                    f(name, Provider { id, how: How::File });
                }
            }
        };
        // Pass 1: a slot per distinct name, hashing each repo's strings once.
        let mut slots: FxHashMap<&'r str, u32> = FxHashMap::default();
        slots.reserve(match wanted {
            Some(w) => w.len(),
            None => repos.iter().map(|r| r.strings.len() / 2).sum(),
        });
        let mut counts: Vec<u32> = Vec::new();
        let mut local_slots: Vec<Vec<u32>> = Vec::with_capacity(repos.len());
        for (ri, &repo) in repos.iter().enumerate() {
            let mut local = vec![u32::MAX; repo.strings.len()];
            each(ri, &mut |name, _| {
                let slot = &mut local[name as usize];
                if *slot == u32::MAX {
                    let s = repo.str(name);
                    if wanted.is_some_and(|w| !w.contains(s)) {
                        *slot = UNWANTED;
                        return;
                    }
                    let next = slots.len() as u32;
                    *slot = *slots.entry(s).or_insert(next);
                    if *slot == next {
                        counts.push(0);
                    }
                } else if *slot == UNWANTED {
                    return;
                }
                counts[*slot as usize] += 1;
            });
            local_slots.push(local);
        }
        // Pass 2: fill the flat array.
        let mut offsets = Vec::with_capacity(counts.len() + 1);
        let mut total = 0u32;
        offsets.push(0);
        for c in &counts {
            total += c;
            offsets.push(total);
        }
        let mut fill: Vec<u32> = offsets[..counts.len()].to_vec();
        let placeholder = Provider {
            id: PkgId { repo: 0, pkg: 0 },
            how: How::File,
        };
        let mut providers = vec![placeholder; total as usize];
        for (ri, local) in local_slots.iter().enumerate() {
            each(ri, &mut |name, p| {
                let slot = local[name as usize];
                if slot == UNWANTED {
                    return;
                }
                let slot = slot as usize;
                providers[fill[slot] as usize] = p;
                fill[slot] += 1;
            });
        }
        Sack {
            repos: repos.to_vec(),
            installable,
            slots,
            offsets,
            providers,
            extra_files: FxHashMap::default(),
            base_arch: base_arch.to_string(),
        }
    }

    fn provider_list(&self, name: &str) -> &[Provider] {
        match self.slots.get(name) {
            Some(&s) => {
                &self.providers
                    [self.offsets[s as usize] as usize..self.offsets[s as usize + 1] as usize]
            }
            None => &[],
        }
    }

    /// Every package of every repository, in order.
    pub(crate) fn package_ids(&self) -> impl Iterator<Item = PkgId> + '_ {
        self.repos.iter().enumerate().flat_map(|(ri, r)| {
            (0..r.len() as u32).map(move |pkg| PkgId {
                repo: ri as u32,
                pkg,
            })
        })
    }

    pub(crate) fn package(&self, id: PkgId) -> Package<'r> {
        self.repos[id.repo as usize].package(id.pkg)
    }

    pub(crate) fn is_installable_arch(&self, id: PkgId) -> bool {
        self.installable[id.repo as usize][id.pkg as usize]
    }

    /// Reads filelists.xml for the paths the `packages` require (and, with
    /// `conflicts`, conflict with), plainly or inside a rich dependency,
    /// that primary.xml does not list, and records the packages listing
    /// them. primary.xml lists a path for every package or for none
    /// (createrepo_c puts /etc and bin/ paths there), so a path it lists
    /// needs no lookup; one a package merely provides by name does, as
    /// other packages may list the file. Nothing is read when no path is
    /// open; returns whether anything was.
    pub(crate) fn read_file_lists(
        &mut self,
        packages: &[PkgId],
        conflicts: bool,
    ) -> Result<bool, SolveError> {
        let mut paths = Vec::new();
        for &id in packages {
            let p = self.package(id);
            for d in p.requires() {
                dep_paths(&d, &mut paths);
            }
            if conflicts {
                for d in p.conflicts() {
                    dep_paths(&d, &mut paths);
                }
            }
        }
        let wanted: FxHashSet<&str> = paths
            .iter()
            .map(|p| p.as_ref())
            .filter(|p| !self.listed_in_primary(p))
            .collect();
        if wanted.is_empty() {
            return Ok(false);
        }
        tracing::info!(
            files = wanted.len(),
            "file requirements not in primary.xml: reading filelists"
        );
        let mut found = Vec::new();
        for (ri, &repo) in self.repos.iter().enumerate() {
            let hits = strata_repodata::find_files(repo, &wanted).map_err(|source| {
                SolveError::FileLists {
                    repo: repo.id.clone(),
                    source,
                }
            })?;
            found.push((ri as u32, hits));
        }
        for (repo, hits) in found {
            for (pkg, path) in hits {
                let id = PkgId { repo, pkg };
                if self.is_installable_arch(id) {
                    self.extra_files.entry(path).or_default().push(id);
                }
            }
        }
        Ok(true)
    }

    /// Paths found in filelists.xml and the packages listing them.
    pub(crate) fn extra_files(&self) -> impl Iterator<Item = (&str, &[PkgId])> + '_ {
        self.extra_files
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_slice()))
    }

    /// The order reports list packages in: name, EVR, arch, then position.
    pub(crate) fn cmp_packages(&self, a: PkgId, b: PkgId) -> std::cmp::Ordering {
        let (pa, pb) = (self.package(a), self.package(b));
        pa.name()
            .cmp(pb.name())
            .then_with(|| pa.evr().cmp_full(&pb.evr()))
            .then_with(|| pa.arch().cmp(pb.arch()))
            .then_with(|| a.cmp(&b))
    }

    /// Whether some package lists `path` in primary.xml.
    fn listed_in_primary(&self, path: &str) -> bool {
        self.provider_list(path)
            .iter()
            .any(|p| matches!(p.how, How::File))
    }

    /// Providers of a plain or versioned dependency, filtered by `keep`.
    pub(crate) fn providers_simple(
        &self,
        name: &str,
        flags: RelFlags,
        evr: Option<&Evr<'_>>,
        keep: &dyn Fn(PkgId) -> bool,
        out: &mut Vec<PkgId>,
    ) {
        for p in self.provider_list(name) {
            if !keep(p.id) {
                continue;
            }
            let matches = match (evr, p.how) {
                (None, _) | (_, How::File) => true,
                (Some(revr), How::Dep(d)) => {
                    let repo = &self.repos[p.id.repo as usize];
                    let rec = &repo.deps[d as usize];
                    if rec.flags == 0 {
                        // rpm: an unversioned provide satisfies any version.
                        true
                    } else {
                        let pevr = Evr::new(
                            Some(repo.str(rec.epoch)),
                            repo.str(rec.version),
                            Some(repo.str(rec.release)),
                        );
                        ranges_intersect(RelFlags(rec.flags), &pevr, flags, revr)
                    }
                }
            };
            if matches {
                out.push(p.id);
            }
        }
        if let Some(list) = self.extra_files.get(name) {
            out.extend(list.iter().copied().filter(|&id| keep(id)));
        }
        out.sort_unstable();
        out.dedup();
    }

    /// Providers of one dependency record among the packages `keep`
    /// accepts. An unparsable rich dependency has none.
    pub(crate) fn dep_providers(&self, dep: &Dep<'_>, keep: &dyn Fn(PkgId) -> bool) -> Vec<PkgId> {
        let name = dep.name();
        if strata_model::is_rich(name) {
            return match RichDep::parse(name) {
                Ok(rich) => self.providers_rich(&rich, keep),
                Err(_) => Vec::new(),
            };
        }
        let mut out = Vec::new();
        let evr: Option<Evr<'_>> = dep.evr();
        self.providers_simple(name, dep.flags(), evr.as_ref(), keep, &mut out);
        out
    }

    /// Providers of a rich dependency with libsolv's `whatprovides` rules:
    /// `and`/`or` take the union of both sides, `with` the intersection,
    /// `without` the difference, `if`/`unless` the providers of the left
    /// side plus those of an `else` branch (tests/ORACLE.md, section 3). This is provider existence, not satisfiability: that is what
    /// `--installable` checks.
    pub(crate) fn providers_rich(&self, dep: &RichDep, keep: &dyn Fn(PkgId) -> bool) -> Vec<PkgId> {
        match dep {
            RichDep::Simple { name, flags, evr } => {
                let evr = flags.is_versioned().then(|| Evr::parse(evr));
                let mut out = Vec::new();
                self.providers_simple(name, *flags, evr.as_ref(), keep, &mut out);
                out
            }
            RichDep::Op { op, left, right } => {
                let l = self.providers_rich(left, keep);
                match op {
                    RichOp::And | RichOp::Or => {
                        let mut r = self.providers_rich(right, keep);
                        r.extend(l);
                        r.sort_unstable();
                        r.dedup();
                        r
                    }
                    RichOp::With => {
                        let r: FxHashSet<PkgId> =
                            self.providers_rich(right, keep).into_iter().collect();
                        l.into_iter().filter(|p| r.contains(p)).collect()
                    }
                    RichOp::Without => {
                        let r: FxHashSet<PkgId> =
                            self.providers_rich(right, keep).into_iter().collect();
                        l.into_iter().filter(|p| !r.contains(p)).collect()
                    }
                    // The condition is ignored; an `else` branch adds its providers.
                    RichOp::If | RichOp::Unless => match right.as_ref() {
                        RichDep::Op {
                            op: RichOp::Else,
                            right: alt,
                            ..
                        } => {
                            let mut r = self.providers_rich(alt, keep);
                            r.extend(l);
                            r.sort_unstable();
                            r.dedup();
                            r
                        }
                        _ => l,
                    },
                    RichOp::Else => Vec::new(),
                }
            }
        }
    }
}
