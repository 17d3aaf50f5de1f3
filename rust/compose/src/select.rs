//! Step 3 of a compose: picking one build of every manifest package from
//! the source: the newest for the arch (or the pinned one), never anything
//! the manifest does not name. Also builds the module's own `Repo` out of
//! the picks, for the closure gate.

use crate::error::{ComposeError, Result};
use crate::ids::build_nvr;
use rustc_hash::FxHashMap;
use std::cmp::Ordering;
use strata_model::{Evr, ModuleDefinition};
use strata_repodata::{DepRec, PkgRec, Repo, StringPool};

/// One chosen package: `sources[repo].package(index)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Pick {
    pub repo: usize,
    pub index: u32,
}

/// Whether a pin (`[epoch:]version[-release]`) names this EVR. A pin
/// without an epoch or a release matches any, as dnf's NEVRA matching does.
pub(crate) fn pin_matches(pin: &str, evr: &Evr<'_>) -> bool {
    let p = Evr::parse(pin);
    let epoch = |e: Option<&str>| e.filter(|e| !e.is_empty()).unwrap_or("0").to_string();
    (p.epoch.is_none() || epoch(p.epoch) == epoch(evr.epoch))
        && p.version == evr.version
        && p.release.is_none_or(|r| Some(r) == evr.release)
}

/// Chooses one package per manifest name for `arch` (`arch` or `noarch`).
/// `allowed` restricts candidates further: a Koji tag's latest builds, by
/// the `name-version-release` of the build (its source RPM).
pub(crate) fn select(
    def: &ModuleDefinition,
    sources: &[Repo],
    arch: &str,
    allowed: Option<&rustc_hash::FxHashSet<String>>,
) -> Result<Vec<Pick>> {
    let all = sources
        .iter()
        .enumerate()
        .flat_map(|(ri, repo)| repo.iter().map(move |p| (ri, p)));
    select_among(def, sources, arch, allowed, all)
}

/// Every package of `sources` by name, in source then package order:
/// [`select_indexed`] then looks at the manifest's names only, which
/// matters when hundreds of modules select from one large source.
pub(crate) type NameIndex = FxHashMap<String, Vec<(usize, u32)>>;

pub(crate) fn name_index(sources: &[Repo]) -> NameIndex {
    let mut index = NameIndex::default();
    for (ri, repo) in sources.iter().enumerate() {
        for p in repo.iter() {
            index
                .entry(p.name().to_owned())
                .or_default()
                .push((ri, p.index));
        }
    }
    index
}

/// [`select`] through an index of `sources` ([`name_index`]): the same
/// picks, looking at the manifest's packages only.
pub(crate) fn select_indexed(
    def: &ModuleDefinition,
    sources: &[Repo],
    index: &NameIndex,
    arch: &str,
    allowed: Option<&rustc_hash::FxHashSet<String>>,
) -> Result<Vec<Pick>> {
    let mut candidates: Vec<(usize, u32)> = def
        .packages
        .keys()
        .filter_map(|n| index.get(n.as_str()))
        .flatten()
        .copied()
        .collect();
    // Source order, then package order: ties go as in `select`.
    candidates.sort_unstable();
    let packages = candidates
        .into_iter()
        .map(|(ri, i)| (ri, sources[ri].package(i)));
    select_among(def, sources, arch, allowed, packages)
}

fn select_among<'a>(
    def: &ModuleDefinition,
    sources: &'a [Repo],
    arch: &str,
    allowed: Option<&rustc_hash::FxHashSet<String>>,
    packages: impl Iterator<Item = (usize, strata_repodata::Package<'a>)>,
) -> Result<Vec<Pick>> {
    let wanted: FxHashMap<&str, Option<&str>> = def
        .packages
        .keys()
        .map(|n| (n.as_str(), def.pins.get(n).map(String::as_str)))
        .collect();
    let mut best: FxHashMap<&str, Pick> = FxHashMap::default();
    let mut seen_any: FxHashMap<&str, Vec<String>> = FxHashMap::default();
    {
        for (ri, p) in packages {
            let Some((&name, &pin)) = wanted.get_key_value(p.name()) else {
                continue;
            };
            if p.arch() != arch && p.arch() != "noarch" {
                continue;
            }
            if let Some(allowed) = allowed {
                if !allowed.contains(&build_nvr(&p)) {
                    continue;
                }
            }
            if let Some(pin) = pin {
                if !pin_matches(pin, &p.evr()) {
                    seen_any.entry(name).or_default().push(p.evr().to_string());
                    continue;
                }
            }
            let pick = Pick {
                repo: ri,
                index: p.index,
            };
            match best.get(name) {
                None => {
                    best.insert(name, pick);
                }
                Some(cur) => {
                    let c = sources[cur.repo].package(cur.index);
                    let better = match p.evr().cmp_full(&c.evr()) {
                        Ordering::Greater => true,
                        // Same version: the arch-specific build wins over
                        // noarch; otherwise the first repository listed.
                        Ordering::Equal => p.arch() == arch && c.arch() == "noarch",
                        Ordering::Less => false,
                    };
                    if better {
                        best.insert(name, pick);
                    }
                }
            }
        }
    }
    let mut missing = Vec::new();
    for (&name, &pin) in &wanted {
        if best.contains_key(name) {
            continue;
        }
        if let (Some(pin), Some(avail)) = (pin, seen_any.get(name)) {
            let mut avail = avail.clone();
            avail.sort();
            avail.dedup();
            return Err(ComposeError::PinNotFound {
                module: def.nsv(),
                name: name.to_string(),
                pin: pin.to_string(),
                arch: arch.to_string(),
                available: avail.join(", "),
            });
        }
        missing.push(name.to_string());
    }
    if !missing.is_empty() {
        missing.sort();
        return Err(ComposeError::MissingPackages {
            module: def.nsv(),
            arch: arch.to_string(),
            names: missing,
        });
    }
    let mut picks: Vec<Pick> = best.into_values().collect();
    picks.sort_by(|a, b| {
        let (pa, pb) = (
            sources[a.repo].package(a.index),
            sources[b.repo].package(b.index),
        );
        (pa.name(), pa.arch()).cmp(&(pb.name(), pb.arch()))
    });
    Ok(picks)
}

/// A repository holding only `picks`, all from `source`, under `id`. It
/// keeps the source's location and checksum so that file lookups in the
/// source's filelists still find its packages (they match by pkgid).
pub(crate) fn subset(id: &str, source: &Repo, picks: &[u32]) -> Repo {
    let mut out = Repo::empty(id, &source.location, &source.checksum);
    let mut strings = StringPool::new();
    let mut s = |x: u32| strings.intern(source.str(x));
    for &i in picks {
        let r = &source.packages[i as usize];
        let start = out.deps.len() as u32;
        let deps = &source.deps[r.deps_start as usize..][..r.deps_ends[3] as usize];
        for d in deps {
            out.deps.push(DepRec {
                name: s(d.name),
                epoch: s(d.epoch),
                version: s(d.version),
                release: s(d.release),
                ..*d
            });
        }
        let files_start = out.files.len() as u32;
        for &f in &source.files[r.files_start as usize..][..r.files_len as usize] {
            out.files.push(s(f));
        }
        out.packages.push(PkgRec {
            name: s(r.name),
            arch: s(r.arch),
            epoch: s(r.epoch),
            version: s(r.version),
            release: s(r.release),
            location: s(r.location),
            checksum: s(r.checksum),
            sourcerpm: s(r.sourcerpm),
            deps_start: start,
            deps_ends: r.deps_ends,
            files_start,
            files_len: r.files_len,
        });
    }
    out.strings = strings;
    out
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn pins() {
        let evr = Evr::parse("1:2.4.58-1.fc40");
        assert!(pin_matches("2.4.58-1.fc40", &evr));
        assert!(pin_matches("1:2.4.58-1.fc40", &evr));
        assert!(pin_matches("2.4.58", &evr));
        assert!(!pin_matches("0:2.4.58", &evr));
        assert!(!pin_matches("2.4.58-2.fc40", &evr));
        assert!(!pin_matches("2.4.5", &evr));
        assert!(pin_matches("0:1.0-1", &Evr::parse("1.0-1")));
    }
}
