//! Step 4 of a compose: the repoclosure gate. Every requirement of every
//! package of the module, and of every package of the stack below it,
//! must be met by the module, the stack and the platform, as dnf sees
//! them (modular filtering included). A failed gate is reported per arch
//! with suggestions from the sources; [`GateReport`] is that report and
//! its one rendering, which every front end shows.

use crate::error::{ComposeError, Result};
use crate::inputs::{ArchInputs, LayerRepo};
use crate::select::{subset, Pick};
use rustc_hash::FxHashSet;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use strata_model::ModuleDefinition;
use strata_repodata::{name_key, LoadOptions, Repo};
use strata_solve::{repoclosure, ClosureOptions, ClosureReport};

/// The gate's findings: a closure report per arch.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct GateReport {
    /// arch → its closure report.
    pub arches: BTreeMap<String, ClosureReport>,
}

/// What the gate found on one arch that failed, as front ends show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GateSection {
    pub arch: String,
    /// `# <arch>`, then the unresolved dependencies in `dnf repoclosure`'s
    /// format (what scripts parse; the CLI prints it on stdout).
    pub report: String,
    /// What dnf has no format for: installation problems, suggestions, and
    /// a hint per suggested addition naming the manifest to add it to (the
    /// CLI prints these on stderr).
    pub notes: String,
}

impl GateReport {
    /// Closed on every arch.
    pub fn ok(&self) -> bool {
        self.arches.values().all(ClosureReport::ok)
    }

    /// One line for the record's error: `repoclosure failed (x86_64: 1
    /// unresolved dependencies across 1 packages)`.
    pub fn summary(&self) -> String {
        let failed: Vec<String> = self
            .arches
            .iter()
            .filter(|(_, r)| !r.ok())
            .map(|(a, r)| {
                format!(
                    "{a}: {} unresolved dependencies across {} packages",
                    r.unresolved_pairs(),
                    r.unresolved.len()
                )
            })
            .collect();
        format!("repoclosure failed ({})", failed.join("; "))
    }

    /// The arches that failed, each as it is shown.
    pub fn sections(&self) -> Vec<GateSection> {
        self.arches
            .iter()
            .filter(|(_, r)| !r.ok())
            .map(|(arch, r)| GateSection {
                arch: arch.clone(),
                report: format!("# {arch}\n{}", r.to_text()),
                notes: r.extras_text() + &hints(r),
            })
            .collect()
    }

    /// The whole report as text: each failed arch's section, its notes
    /// after it. Empty when the gate passed.
    pub fn to_text(&self) -> String {
        self.sections()
            .into_iter()
            .map(|s| s.report + &s.notes)
            .collect()
    }

    /// The per-arch reports as JSON, the shape the compose record keeps.
    pub fn to_value(&self) -> Result<serde_json::Value> {
        serde_json::to_value(self).map_err(|source| ComposeError::GateReport { source })
    }

    /// The report a compose record keeps ([`GateReport::to_value`]) read
    /// back, to be shown as the compose showed it; `None` when the record
    /// holds something else (a report the registry cut to its size cap).
    pub fn from_value(value: &serde_json::Value) -> Option<GateReport> {
        GateReport::deserialize(value).ok()
    }

    /// [`GateReport::to_value`], pretty-printed.
    pub fn to_json(&self) -> Result<String> {
        serde_json::to_string_pretty(self).map_err(|source| ComposeError::GateReport { source })
    }
}

/// A hint per suggested addition: which manifest to add the package to.
/// A lower module's source is named `name:stream/<source>`, and the
/// package belongs in that module's manifest.
fn hints(r: &ClosureReport) -> String {
    let mut out = String::new();
    for u in r.suggestions.iter().flat_map(|s| &s.additions) {
        match u.repo.split_once('/') {
            Some((lower, _)) => out.push_str(&format!(
                "hint: `{}` from {} would close the gap; add it to the manifest of {lower} with \
                 a reason, and compose {lower} again\n",
                u.package, u.repo
            )),
            None => out.push_str(&format!(
                "hint: `{}` from {} would close the gap; add it to the manifest with a reason\n",
                u.package, u.repo
            )),
        }
    }
    out
}

/// The closure gate for one arch: every requirement of the module's
/// packages, and of every package of the stack below it, must be met by
/// the module, the stack and the platform. Only when that fails are the
/// rest of the source and the stack's own sources read, for suggestions.
pub(crate) fn gate(
    def: &ModuleDefinition,
    inputs: &ArchInputs,
    picks: &[Pick],
    opts: &LoadOptions,
) -> Result<ClosureReport> {
    let module_id = def.name.clone();
    let mut by_repo: BTreeMap<usize, Vec<u32>> = BTreeMap::new();
    for p in picks {
        by_repo.entry(p.repo).or_default().push(p.index);
    }
    let module_repos: Vec<Repo> = by_repo
        .iter()
        .map(|(&r, idx)| {
            let id = if by_repo.len() == 1 {
                module_id.clone()
            } else {
                format!("{module_id}#{r}")
            };
            subset(&id, &inputs.sources[r], idx)
        })
        .collect();
    let hidden = modular_filter(&module_repos, &inputs.layers, &inputs.platform);
    // Layers their own gates checked against this same pool need not be
    // checked again, unless the stack hides a platform package from them
    // that their gates saw. Only a pass is taken from the shorter check:
    // a failure is reported by the whole one, as it always was.
    let skip = already_gated(&module_repos, inputs, &hidden);
    let mut pool = LayerPool::new(inputs);
    if skip.iter().any(|&s| s) {
        if let Some(report) = short_check(&module_repos, inputs, &mut pool, &skip, &hidden, opts)? {
            return Ok(report);
        }
    }
    // The whole check reads every layer (those the shorter check loaded
    // are not read again).
    let layers = pool.every(opts)?;
    let mut repos: Vec<&Repo> = module_repos.iter().collect();
    repos.extend(layers.iter().copied());
    repos.extend(inputs.platform.iter());
    let mut opts_closure = closure_options(
        inputs,
        module_repos
            .iter()
            .chain(layers.iter().copied())
            .map(|r| r.id.clone())
            .collect(),
        hidden,
    );
    let report = repoclosure(&repos, &opts_closure, &|_, _, _| {})?;
    if report.ok() {
        return Ok(report);
    }
    // Only a failed gate needs the rest of the sources: for suggestions.
    // A lower module's source that cannot be read any more only costs its
    // suggestions.
    let lower: Vec<Repo> = inputs
        .layer_sources
        .iter()
        .filter_map(
            |(id, loc)| match strata_repodata::load_repo(id, loc, opts) {
                Ok(r) => Some(r),
                Err(e) => {
                    tracing::warn!("no suggestions from {id}: {e}");
                    None
                }
            },
        )
        .collect();
    repos.extend(inputs.sources.iter());
    repos.extend(lower.iter());
    opts_closure.suggest_from = inputs
        .sources
        .iter()
        .chain(lower.iter())
        .map(|r| r.id.clone())
        .collect();
    Ok(repoclosure(&repos, &opts_closure, &|_, _, _| {})?)
}

/// The layers' repositories as the gate has them: those the load step
/// loaded, and the deferred ones the gate has loaded since (each at most
/// once, whichever check asks first). Dropped, it hands those to the
/// inputs ([`ArchInputs::gate_loaded`]), to be released with them.
struct LayerPool<'a> {
    layers: &'a [LayerRepo],
    own: Vec<Option<Repo>>,
    kept: &'a std::sync::Mutex<Vec<Repo>>,
}

impl Drop for LayerPool<'_> {
    fn drop(&mut self) {
        // A poisoned lock only means another gate panicked while handing
        // over its layers; these are kept all the same.
        let mut kept = self.kept.lock().unwrap_or_else(|p| p.into_inner());
        kept.extend(self.own.drain(..).flatten());
    }
}

impl<'a> LayerPool<'a> {
    fn new(inputs: &'a ArchInputs) -> Self {
        LayerPool {
            layers: &inputs.layers,
            own: inputs.layers.iter().map(|_| None).collect(),
            kept: &inputs.gate_loaded,
        }
    }

    /// Layer `i`'s repository, if it is loaded.
    fn get(&self, i: usize) -> Option<&Repo> {
        self.layers[i].loaded().or(self.own[i].as_ref())
    }

    /// Loads layer `i`, unless it is loaded.
    fn load(&mut self, i: usize, opts: &LoadOptions) -> Result<()> {
        if self.get(i).is_none() {
            self.own[i] = self.layers[i].load(opts).map_err(ComposeError::from)?;
        }
        Ok(())
    }

    /// Every layer's repository, loading those not loaded yet.
    fn every(&mut self, opts: &LoadOptions) -> Result<Vec<&Repo>> {
        for i in 0..self.layers.len() {
            self.load(i, opts)?;
        }
        let this = &*self;
        Ok((0..this.layers.len()).filter_map(|i| this.get(i)).collect())
    }
}

/// The gate's repoclosure of the repositories `check` on `inputs`' arch,
/// `hidden` hidden: dnf's view, every arch of the pool, no suggestions.
fn closure_options(
    inputs: &ArchInputs,
    check: Vec<String>,
    hidden: Vec<(String, Vec<u32>)>,
) -> ClosureOptions {
    ClosureOptions {
        check,
        arches: Vec::new(),
        newest: false,
        base_arch: Some(inputs.arch.clone()),
        installable: false,
        suggest_from: Vec::new(),
        hidden,
    }
}

/// The check of the module and of the layers no entry of `skip` covers,
/// when it passes; `None` when it does not (the whole check then tells
/// what is wrong).
///
/// Its pool is the module, the platform (less what `hidden` hides) and
/// the layers that may matter: those checked, and those that may provide
/// a name a checked package requires (by each deferred layer's index; a
/// loaded layer is in the pool anyway). A layer providing none of those
/// names cannot resolve anything the check looks up, so the answer is the
/// one the whole stack's pool gives; the report is made to read as that
/// pool's (every layer listed and counted as checked).
fn short_check(
    module: &[Repo],
    inputs: &ArchInputs,
    pool: &mut LayerPool<'_>,
    skip: &[bool],
    hidden: &[(String, Vec<u32>)],
    opts: &LoadOptions,
) -> Result<Option<ClosureReport>> {
    // What is checked must be loaded.
    for (i, _) in skip.iter().enumerate().filter(|(_, &s)| !s) {
        pool.load(i, opts)?;
    }
    let checked: Vec<&Repo> = module
        .iter()
        .chain(
            skip.iter()
                .enumerate()
                .filter(|(_, &s)| !s)
                .filter_map(|(i, _)| pool.get(i)),
        )
        .collect();
    let wanted: rustc_hash::FxHashSet<u64> = strata_solve::names_required_by(&checked)
        .iter()
        .map(|n| strata_repodata::name_hash(n))
        .collect();
    drop(checked);
    let mut deferred = 0usize;
    for (i, l) in inputs.layers.iter().enumerate() {
        if let LayerRepo::Deferred { recalled, .. } = l {
            if pool.get(i).is_none() {
                if recalled.index.provides().iter().any(|h| wanted.contains(h)) {
                    pool.load(i, opts)?;
                } else {
                    deferred += 1;
                }
            }
        }
    }
    let pool = &*pool;
    let in_pool: Vec<Option<&Repo>> = (0..inputs.layers.len()).map(|i| pool.get(i)).collect();
    let mut repos: Vec<&Repo> = module.iter().collect();
    repos.extend(in_pool.iter().flatten().copied());
    repos.extend(inputs.platform.iter());
    let short = closure_options(
        inputs,
        module
            .iter()
            .map(|r| r.id.clone())
            .chain(
                inputs
                    .layers
                    .iter()
                    .zip(skip)
                    .filter(|(_, &s)| !s)
                    .map(|(l, _)| l.id().to_owned()),
            )
            .collect(),
        hidden.to_vec(),
    );
    let mut report = repoclosure(&repos, &short, &|_, _, _| {})?;
    if !report.ok() {
        tracing::info!(
            left_unloaded = deferred,
            "the check of the stack's new packages did not pass: checking the whole stack"
        );
        return Ok(None);
    }
    // As the whole check counts: every package of a layer is checked
    // (layers are never hidden), and every layer is in the pool.
    report.checked += inputs
        .layers
        .iter()
        .zip(skip)
        .filter(|(_, &s)| s)
        .map(|(l, _)| l.len())
        .sum::<usize>();
    let mut listed = report.repos.into_iter();
    let mut take = |n: usize| listed.by_ref().take(n).collect::<Vec<_>>();
    let mut all = take(module.len());
    for (l, r) in inputs.layers.iter().zip(&in_pool) {
        match (l, r) {
            (_, Some(_)) => all.extend(take(1)),
            (
                LayerRepo::Deferred {
                    id,
                    location,
                    recalled,
                },
                None,
            ) => all.push(strata_solve::RepoInfo {
                id: id.clone(),
                location: strata_model::redact_credentials(location).into_owned(),
                packages: recalled.index.packages,
                checksum: recalled.checksum.clone(),
            }),
            (LayerRepo::Loaded(_), None) => unreachable!("a loaded layer is in the pool"),
        }
    }
    all.extend(listed);
    report.repos = all;
    tracing::info!(
        layers = skip.iter().filter(|&&s| s).count(),
        left_unloaded = deferred,
        "stack layers checked by their own gates"
    );
    Ok(Some(report))
}

/// Which layers need no check (by index into `inputs.layers`): those an
/// entry of `inputs.gated` covers, where every platform package `hidden`
/// hides now was hidden from that entry's own gate too, i.e. some layer
/// the entry covers is named like it or like what it provides (the new
/// module, never covered, hides what no layer's gate hid).
fn already_gated(module: &[Repo], inputs: &ArchInputs, hidden: &[(String, Vec<u32>)]) -> Vec<bool> {
    let mut skip = vec![false; inputs.layers.len()];
    if inputs.gated.is_empty() {
        return skip;
    }
    // Each name a hidden package hides by → who has a package of that
    // name: a layer's index, or None for the new module.
    let hidden_pkgs: Vec<strata_repodata::Package<'_>> = hidden
        .iter()
        .filter_map(|(id, idx)| {
            inputs
                .platform
                .iter()
                .find(|r| &r.id == id)
                .map(|r| (r, idx))
        })
        .flat_map(|(r, idx)| idx.iter().map(move |&i| r.package(i)))
        .collect();
    let mut hiders: rustc_hash::FxHashMap<&str, Vec<Option<usize>>> = hidden_pkgs
        .iter()
        .flat_map(|p| std::iter::once(p.name()).chain(p.provides().map(|d| d.name())))
        .map(|n| (n, Vec::new()))
        .collect();
    if !hiders.is_empty() {
        let names = module
            .iter()
            .map(|r| {
                (
                    None,
                    Box::new(r.iter().map(|p| p.name())) as Box<dyn Iterator<Item = &str>>,
                )
            })
            .chain(
                inputs
                    .layers
                    .iter()
                    .enumerate()
                    .map(|(i, l)| (Some(i), l.names())),
            );
        for (who, names) in names {
            for name in names {
                if let Some(v) = hiders.get_mut(name) {
                    if v.last() != Some(&who) {
                        v.push(who);
                    }
                }
            }
        }
    }
    for cover in &inputs.gated {
        let mut mask = vec![false; inputs.layers.len()];
        for &j in cover {
            mask[j] = true;
        }
        let saw_it_hidden = |p: &strata_repodata::Package<'_>| {
            std::iter::once(p.name())
                .chain(p.provides().map(|d| d.name()))
                .any(|n| hiders[n].iter().any(|w| w.is_some_and(|j| mask[j])))
        };
        if hidden_pkgs.iter().all(saw_it_hidden) {
            for &j in cover {
                skip[j] = true;
            }
        }
    }
    skip
}

/// What dnf hides from the platform while the stack's streams are active
/// (libdnf's modular filtering): every non-modular package named like a
/// binary package of an active stream, or providing such a name. The gate
/// must not count on them, or a module that passes it would not install.
///
/// By [`name_key`] first: a deep stack has tens of thousands of names, and
/// a layer taken on its memo's word brings their keys, computed while the
/// layers loaded; putting its names (split out of the memo and hashed)
/// into a set was most of this filter's cost on the gate's thread. The few
/// platform packages whose name or a provide has a stack name's key are
/// then checked by name, so a key two names share hides nothing.
fn modular_filter(
    module: &[Repo],
    layers: &[LayerRepo],
    platform: &[Repo],
) -> Vec<(String, Vec<u32>)> {
    // Sized at once: a deep stack's is tens of thousands of names.
    let mut keys: FxHashSet<u64> = FxHashSet::with_capacity_and_hasher(
        module.iter().map(Repo::len).sum::<usize>()
            + layers.iter().map(LayerRepo::len).sum::<usize>(),
        Default::default(),
    );
    keys.extend(
        module
            .iter()
            .flat_map(|r| r.iter().map(|p| name_key(p.name()))),
    );
    for layer in layers {
        match layer.name_keys() {
            Some(k) => keys.extend(k.iter().copied()),
            None => keys.extend(layer.names().map(name_key)),
        }
    }
    // The platform's names that have a stack name's key, and its packages
    // with such a name.
    let mut named: FxHashSet<&str> = FxHashSet::default();
    let mut maybe: Vec<Vec<u32>> = Vec::with_capacity(platform.len());
    for repo in platform {
        let mut idx = Vec::new();
        for p in repo.iter() {
            let mut hit = false;
            for n in std::iter::once(p.name()).chain(p.provides().map(|d| d.name())) {
                if keys.contains(&name_key(n)) {
                    named.insert(n);
                    hit = true;
                }
            }
            if hit {
                idx.push(p.index);
            }
        }
        maybe.push(idx);
    }
    if named.is_empty() {
        return Vec::new();
    }
    let names = stack_names_among(module, layers, &named);
    let mut hidden = Vec::new();
    for (repo, idx) in platform.iter().zip(maybe) {
        let idx: Vec<u32> = idx
            .into_iter()
            .filter(|&i| {
                let p = repo.package(i);
                names.contains(p.name()) || p.provides().any(|d| names.contains(d.name()))
            })
            .collect();
        if !idx.is_empty() {
            tracing::info!(
                repo = repo.id,
                hidden = idx.len(),
                "platform packages hidden by the stack's module streams"
            );
            hidden.push((repo.id.clone(), idx));
        }
    }
    hidden
}

/// Which of `named` are names of packages of the module or its stack,
/// compared as names: only the layers holding a name with one of their
/// keys are split into names.
fn stack_names_among<'n>(
    module: &[Repo],
    layers: &[LayerRepo],
    named: &FxHashSet<&'n str>,
) -> FxHashSet<&'n str> {
    let wanted: FxHashSet<u64> = named.iter().map(|n| name_key(n)).collect();
    let mut found = FxHashSet::default();
    let mut take = |n: &str| {
        if let Some(&n) = named.get(n) {
            found.insert(n);
        }
    };
    module
        .iter()
        .flat_map(|r| r.iter().map(|p| p.name()))
        .for_each(&mut take);
    for layer in layers {
        match layer.name_keys() {
            Some(k) if !k.iter().any(|k| wanted.contains(k)) => {}
            _ => layer.names().for_each(&mut take),
        }
    }
    found
}

/// [`modular_filter`] as it was, every name in one set: what the one by
/// keys must agree with.
#[cfg(test)]
fn modular_filter_by_names(
    module: &[Repo],
    layers: &[LayerRepo],
    platform: &[Repo],
) -> Vec<(String, Vec<u32>)> {
    let mut names: FxHashSet<&str> = FxHashSet::default();
    names.extend(module.iter().flat_map(|r| r.iter().map(|p| p.name())));
    names.extend(layers.iter().flat_map(LayerRepo::names));
    platform
        .iter()
        .map(|repo| {
            let idx: Vec<u32> = repo
                .iter()
                .filter(|p| {
                    names.contains(p.name()) || p.provides().any(|d| names.contains(d.name()))
                })
                .map(|p| p.index)
                .collect();
            (repo.id.clone(), idx)
        })
        .filter(|(_, idx)| !idx.is_empty())
        .collect()
}

#[cfg(test)]
mod test {
    use super::*;
    use strata_solve::{PackageRef, Suggestions, Unresolved};

    fn failed(repo: &str) -> ClosureReport {
        ClosureReport {
            checked: 2,
            repos: vec![],
            unresolved: vec![Unresolved {
                package: "mod_lua-2.4.58-1.noarch".into(),
                repo: "apache-lua".into(),
                deps: vec!["lua-libs >= 5.4".into()],
            }],
            installable: None,
            suggestions: Some(Suggestions {
                deps: vec![],
                additions: vec![PackageRef {
                    package: "lua-libs-5.4.6-1.noarch".into(),
                    repo: repo.into(),
                }],
                unsatisfiable: vec![],
            }),
        }
    }

    /// A repository `id` of packages `(name, provides)`.
    fn repo(id: &str, packages: &[(String, Vec<String>)]) -> Repo {
        let mut xml = String::from(
            "<metadata xmlns=\"http://linux.duke.edu/metadata/common\" \
             xmlns:rpm=\"http://linux.duke.edu/metadata/rpm\">",
        );
        for (i, (name, provides)) in packages.iter().enumerate() {
            xml.push_str(&format!(
                "<package type=\"rpm\"><name>{name}</name><arch>noarch</arch>\
                 <version epoch=\"0\" ver=\"1\" rel=\"{i}\"/>\
                 <checksum type=\"sha256\" pkgid=\"YES\">00</checksum>\
                 <location href=\"{name}-{i}.rpm\"/><format><rpm:provides>"
            ));
            for p in provides {
                xml.push_str(&format!("<rpm:entry name=\"{p}\"/>"));
            }
            xml.push_str("</rpm:provides></format></package>");
        }
        xml.push_str("</metadata>");
        let mut repo = Repo::empty(id, "/srv/x", "sha256:00");
        strata_repodata::parse_primary(&mut xml.as_bytes(), "primary.xml", &mut repo).unwrap();
        repo
    }

    /// A seeded generator: the same rounds every run.
    struct Lcg(u64);

    impl Lcg {
        fn next(&mut self, n: u64) -> u64 {
            self.0 = self
                .0
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (self.0 >> 33) % n
        }

        /// `n` packages named from a small pool (`prefix` and a number),
        /// so that the stack and the platform share some names; provides
        /// from the pool of `p` names.
        fn packages(&mut self, n: u64, prefix: &str) -> Vec<(String, Vec<String>)> {
            (0..n)
                .map(|_| {
                    let name = format!("{prefix}{}", self.next(40));
                    let provides = (0..self.next(4))
                        .map(|_| format!("p{}", self.next(40)))
                        .collect();
                    (name, provides)
                })
                .collect()
        }
    }

    #[test]
    fn the_filter_by_keys_hides_what_the_filter_by_names_hides() {
        let mut rng = Lcg(20261207);
        let mut hid = 0;
        for round in 0..200 {
            let module = [repo("m", &rng.packages(3, "p"))];
            let layers: Vec<LayerRepo> = (0..1 + rng.next(4))
                .map(|i| LayerRepo::Loaded(repo(&format!("l{i}"), &rng.packages(4, "p"))))
                .collect();
            let platform: Vec<Repo> = (0..1 + rng.next(3))
                .map(|i| {
                    let prefix = if i == 0 { "p" } else { "q" };
                    repo(&format!("f{i}"), &rng.packages(30, prefix))
                })
                .collect();
            let by_keys = modular_filter(&module, &layers, &platform);
            assert_eq!(
                by_keys,
                modular_filter_by_names(&module, &layers, &platform),
                "round {round}"
            );
            hid += by_keys.iter().map(|(_, i)| i.len()).sum::<usize>();
        }
        assert!(hid > 100, "the rounds hide something: {hid}");
        // Without a stack name on the platform, nothing.
        let module = [repo("m", &[("a".into(), vec![])])];
        let platform = [repo("f", &[("b".into(), vec!["c".into()])])];
        assert!(modular_filter(&module, &[], &platform).is_empty());
        // A provide named like a layer's package hides its package.
        let layers = [LayerRepo::Loaded(repo("l", &[("c".into(), vec![])]))];
        assert_eq!(
            modular_filter(&module, &layers, &platform),
            [("f".to_string(), vec![0])]
        );
    }

    fn passed() -> ClosureReport {
        ClosureReport {
            checked: 2,
            repos: vec![],
            unresolved: vec![],
            installable: None,
            suggestions: None,
        }
    }

    #[test]
    fn the_layers_the_gate_loaded_outlive_it_in_the_inputs() {
        let kept = std::sync::Mutex::new(vec![repo("earlier", &[])]);
        let one = |n: &str| vec![(n.to_string(), vec![])];
        let pool = LayerPool {
            layers: &[],
            own: vec![Some(repo("a", &one("x"))), None, Some(repo("b", &one("y")))],
            kept: &kept,
        };
        drop(pool);
        // Handed over, after what an earlier check handed over; not dropped.
        let kept = kept.into_inner().unwrap();
        let ids: Vec<&str> = kept.iter().map(|r| r.id.as_str()).collect();
        assert_eq!(ids, ["earlier", "a", "b"]);
        assert_eq!(kept[1].len(), 1);
    }

    #[test]
    fn the_report_names_the_manifest_to_add_to() {
        let gate = GateReport {
            arches: BTreeMap::from([
                ("aarch64".to_string(), passed()),
                ("x86_64".to_string(), failed("base:f40/source")),
            ]),
        };
        assert!(!gate.ok());
        let sections = gate.sections();
        assert_eq!(sections.len(), 1, "only the failed arch");
        assert_eq!(
            sections[0].report,
            "# x86_64\npackage: mod_lua-2.4.58-1.noarch from apache-lua\n  unresolved deps (1):\n    \
             lua-libs >= 5.4\n"
        );
        assert!(
            sections[0].notes.ends_with(
                "hint: `lua-libs-5.4.6-1.noarch` from base:f40/source would close the gap; add it \
                 to the manifest of base:f40 with a reason, and compose base:f40 again\n"
            ),
            "{}",
            sections[0].notes
        );
        let text = gate.to_text();
        assert!(
            text.starts_with("# x86_64\n") && text.contains("suggested additions"),
            "{text}"
        );
        assert_eq!(
            gate.summary(),
            "repoclosure failed (x86_64: 1 unresolved dependencies across 1 packages)"
        );
        let own = GateReport {
            arches: BTreeMap::from([("x86_64".to_string(), failed("source-2"))]),
        };
        assert!(own.to_text().contains(
            "hint: `lua-libs-5.4.6-1.noarch` from source-2 would close the gap; add it to the \
             manifest with a reason\n"
        ));
        // The JSON is the reports by arch, as records keep them.
        let v = gate.to_value().unwrap();
        assert_eq!(v["x86_64"]["unresolved"][0]["deps"][0], "lua-libs >= 5.4");
        assert_eq!(v["aarch64"]["checked"], 2);
        let passed_gate = GateReport {
            arches: BTreeMap::from([("x86_64".to_string(), passed())]),
        };
        assert!(passed_gate.ok() && passed_gate.to_text().is_empty());
    }
}
