//! Suggestions: which packages of candidate repositories would close the
//! gaps. Strata only reports them; a new dependency stays a human decision.

use crate::report::{DepSuggestion, PackageRef, Suggestions};
use crate::sack::{skipped, PkgId, Sack};
use rustc_hash::FxHashSet;

fn pkg_ref(sack: &Sack<'_>, id: PkgId) -> PackageRef {
    PackageRef {
        package: sack.package(id).nevra().to_string(),
        repo: sack.repos[id.repo as usize].id.clone(),
    }
}

/// Picks the provider to propose: same arch as the requirer (or noarch),
/// then newest, then the shortest name (the least surprising package).
fn best(sack: &Sack<'_>, providers: &[PkgId], for_arch: &str) -> Option<PkgId> {
    providers.iter().copied().max_by(|&a, &b| {
        let (pa, pb) = (sack.package(a), sack.package(b));
        let arch_ok =
            |p: &strata_repodata::Package<'_>| p.arch() == for_arch || p.arch() == "noarch";
        arch_ok(&pa)
            .cmp(&arch_ok(&pb))
            .then_with(|| pb.name().len().cmp(&pa.name().len()))
            .then_with(|| pa.evr().cmp_full(&pb.evr()))
            .then_with(|| b.cmp(&a))
    })
}

/// Unresolved requirements of `id` given the available packages plus `added`.
fn open_deps(
    sack: &Sack<'_>,
    id: PkgId,
    available: &dyn Fn(PkgId) -> bool,
    added: &FxHashSet<PkgId>,
) -> Vec<String> {
    let keep = |p: PkgId| available(p) || added.contains(&p);
    sack.package(id)
        .requires()
        .filter(|d| !skipped(d.name()))
        .filter(|d| sack.dep_providers(d, &keep).is_empty())
        .map(|d| d.to_string())
        .collect()
}

/// Suggestions for the `unresolved` packages: for each of their open
/// requirements the `candidate` packages that provide it, and a small set
/// of candidates that closes them all.
pub(crate) fn suggest(
    sack: &Sack<'_>,
    unresolved: &[PkgId],
    available: &dyn Fn(PkgId) -> bool,
    candidate: &dyn Fn(PkgId) -> bool,
) -> Suggestions {
    let mut report = Suggestions::default();
    let mut seen_deps = FxHashSet::default();
    for &id in unresolved {
        for d in sack.package(id).requires() {
            if skipped(d.name()) || !sack.dep_providers(&d, available).is_empty() {
                continue;
            }
            let text = d.to_string();
            if seen_deps.insert(text.clone()) {
                let providers = sack.dep_providers(&d, candidate);
                report.deps.push(DepSuggestion {
                    dep: text,
                    providers: providers.iter().map(|&p| pkg_ref(sack, p)).collect(),
                });
            }
        }
    }

    // Greedy closure: propose a provider for each open requirement, then
    // the providers' own open requirements, until nothing is open.
    let mut added: Vec<PkgId> = Vec::new();
    let mut added_set: FxHashSet<PkgId> = FxHashSet::default();
    let mut unsatisfiable = FxHashSet::default();
    let mut queue: Vec<PkgId> = unresolved.to_vec();
    while let Some(id) = queue.pop() {
        let arch = sack.package(id).arch();
        for d in sack.package(id).requires() {
            if skipped(d.name()) {
                continue;
            }
            let keep = |p: PkgId| available(p) || added_set.contains(&p);
            if !sack.dep_providers(&d, &keep).is_empty() {
                continue;
            }
            let cands = sack.dep_providers(&d, candidate);
            match best(sack, &cands, arch) {
                Some(p) => {
                    added.push(p);
                    added_set.insert(p);
                    queue.push(p);
                }
                None => {
                    unsatisfiable.insert(d.to_string());
                }
            }
        }
    }

    // Drop any addition the rest make unnecessary, newest first.
    let mut i = added.len();
    while i > 0 {
        i -= 1;
        let p = added[i];
        added_set.remove(&p);
        let still_closed = unresolved
            .iter()
            .chain(added.iter().filter(|&&a| a != p))
            .all(|&id| {
                open_deps(sack, id, available, &added_set)
                    .iter()
                    .all(|d| unsatisfiable.contains(d))
            });
        if still_closed {
            added.remove(i);
        } else {
            added_set.insert(p);
        }
    }
    report.additions = added.iter().map(|&p| pkg_ref(sack, p)).collect();
    let mut u: Vec<String> = unsatisfiable.into_iter().collect();
    u.sort();
    report.unsatisfiable = u;
    report
}
