//! Publishing a compose: everything is written into a staging directory
//! beside the destination (see staging.rs: locked, named for its host and
//! PID) and renamed into place in one step, so a reader (or a compose
//! killed half-way) never sees half a repository. The steps after staging
//! (put in place, mark finished, point `latest-*`) are called by
//! `module::compose_module`, in the order that keeps the registry and the
//! disk consistent (reasoned there).
//!
//! Layout, as Pungi lays out a compose (productmd can load it):
//! ```text
//! OUT/<compose-id>/STATUS                      STARTED, FINISHED once recorded
//! OUT/<compose-id>/compose/<Variant>/<arch>/os/Packages/<l>/<rpm>
//! OUT/<compose-id>/compose/<Variant>/<arch>/os/repodata/…  (+ modules.yaml)
//! OUT/<compose-id>/compose/metadata/{composeinfo,rpms,modules}.json
//! OUT/<compose-id>/logs/<arch>/repoclosure.log
//! OUT/latest-<name>-<stream> → <compose-id>
//! ```

use crate::error::{io, ComposeError, Result};
use crate::module::{modulemd_version, nevra_with_epoch, Progress};
use crate::productmd;
use crate::select::Pick;
use crate::staging::{clean_stale_staging, Staging};
use std::path::{Path, PathBuf};
use strata_model::ModuleDefinition;
use strata_registry::{ComposeRecord, Input, Outputs};
use strata_repodata::payload::{self, PlaceError};
use strata_repodata::PackageRecords;
use strata_repodata::{rewrite_location, write_repodata, ExtraMetadata, WriteOptions};
use strata_repodata::{ChecksumTrust, Location, Payload, Payloads, Repo};
use strata_solve::ClosureReport;

pub struct PublishRequest<'a> {
    pub out: &'a Path,
    pub record: &'a ComposeRecord,
    pub definition: &'a ModuleDefinition,
    pub inputs: &'a [Input],
    /// The stack below the module, bottom first (empty for a module that
    /// requires no module).
    pub stack: &'a [crate::stack::Layer],
    pub metadata_only: bool,
    pub verify_payloads: bool,
    pub cache_dir: Option<&'a Path>,
    /// Looked at between packages and stages.
    pub interrupt: &'a crate::Interrupt,
}

/// What one arch publishes.
pub struct ArchContent<'a> {
    pub arch: &'a str,
    pub sources: &'a [Repo],
    pub picks: &'a [Pick],
    /// The source metadata records of `picks`, in the same order.
    pub records: Vec<PackageRecords>,
    pub report: &'a ClosureReport,
    /// The stack's composes for this arch, bottom first.
    pub layers: Vec<LayerContent<'a>>,
    /// The Koji topdir the sources live in (a Koji tag source on a mounted
    /// topdir): their payloads are reached through Koji's own symlinks.
    pub koji_topdir: Option<&'a Path>,
}

/// One compose of the stack below the module, on one arch: its published
/// repository and the records of all its packages, in package order.
pub struct LayerContent<'a> {
    pub repo: &'a Repo,
    pub records: Vec<PackageRecords>,
}

/// The productmd variant of a module compose.
pub fn variant_uid(def: &ModuleDefinition) -> String {
    productmd::variant_uid(&def.name)
}

/// `<Variant>/<arch>/os`, relative to the compose's `compose/` directory
/// (where productmd paths start).
pub fn os_tree(def: &ModuleDefinition, arch: &str) -> PathBuf {
    PathBuf::from(productmd::os_tree(&variant_uid(def), arch))
}

/// `compose/<Variant>/<arch>/os`, relative to the compose directory.
pub fn repo_subdir(def: &ModuleDefinition, arch: &str) -> PathBuf {
    Path::new("compose").join(os_tree(def, arch))
}

/// The productmd variant of a stack compose's whole stack: the module's
/// variant and `Stack` (`PhpStack`).
pub fn stack_variant_uid(module_name: &str) -> String {
    format!("{}Stack", productmd::variant_uid(module_name))
}

/// `compose/<Variant>Stack/<arch>/os`: the repository of the whole stack
/// (the module and every compose below it), relative to the compose
/// directory. Only a module that requires modules has one.
pub fn stack_repo_subdir(module_name: &str, arch: &str) -> PathBuf {
    Path::new("compose").join(productmd::os_tree(&stack_variant_uid(module_name), arch))
}

/// Where a package goes inside its repo:
/// `Packages/<first letter>/<name>-<version>-<release>.<arch>.rpm`, as
/// Pungi lays packages out and Koji names them. The name comes from the
/// package, not from the source's href, whose last component two packages
/// may share (`a/x.rpm`, `b/x.rpm`); within one repository a name and an
/// arch are picked once, so two packages meet here only in a stack, where
/// the same file name with another checksum is refused.
fn package_href(pkg: &strata_repodata::Package<'_>) -> std::result::Result<String, String> {
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
fn published_href(repo: &Repo, pkg: &strata_repodata::Package<'_>) -> Result<String> {
    package_href(pkg).map_err(|problem| ComposeError::Payload {
        nevra: pkg.nevra().to_string(),
        path: Location::parse(&repo.location).display(pkg.location()),
        problem,
    })
}

/// A compose written and made durable in its staging directory; nothing
/// of it is visible yet. `module::compose_module` puts it in place, has it
/// recorded, then marks it finished (the order and why: module.rs).
pub(crate) struct Staged {
    pub staging: Staging,
    /// `OUT/<compose-id>`, OUT canonical.
    pub dest: PathBuf,
    /// What the record will say was published (paths under `dest`).
    pub outputs: Outputs,
}

/// Writes the compose into a new staging directory, with `STATUS`
/// `STARTED` (it becomes `FINISHED` only once the registry says so), and
/// makes it durable. Every error, and an interruption, removes the
/// staging directory.
pub(crate) fn publish(
    req: &PublishRequest<'_>,
    content: Vec<ArchContent<'_>>,
    progress: &dyn Progress,
) -> Result<Staged> {
    std::fs::create_dir_all(req.out).map_err(io(req.out))?;
    clean_stale_staging(req.out);
    let out = std::fs::canonicalize(req.out).map_err(io(req.out))?;
    let id = &req.record.id;
    let staging = Staging::create(&out, id)?;
    let stage = staging.tree();
    let arches: Vec<String> = content.iter().map(|c| c.arch.to_string()).collect();
    let (repos, rpms, modules) = publish_into(req, content, &stage, progress)?;
    req.interrupt.check()?;
    let def = req.definition;
    let meta = stage.join("compose").join("metadata");
    std::fs::create_dir_all(&meta).map_err(io(&meta))?;
    let info = productmd::ComposeInfo {
        compose_id: id.clone(),
        date: req.record.date.clone(),
        compose_type: req.record.compose_type.as_str().to_string(),
        respin: req.record.respin,
        release_name: def.name.clone(),
        release_short: def.name.clone(),
        release_version: def.stream.clone(),
        variants: std::iter::once(productmd::VariantInfo {
            uid: variant_uid(def),
            name: def.summary.clone(),
            arches: arches.clone(),
        })
        .chain((!req.stack.is_empty()).then(|| productmd::VariantInfo {
            uid: stack_variant_uid(&def.name),
            name: format!("{} and the modules below it", def.summary),
            arches,
        }))
        .collect(),
    };
    productmd::validate(&info, &rpms, &modules)
        .map_err(|e| ComposeError::Other(format!("productmd metadata of {id}: {e}")))?;
    for (file, text) in [
        ("composeinfo.json", productmd::composeinfo_json(&info)),
        ("rpms.json", productmd::rpms_json(&info, &rpms)),
        ("modules.json", productmd::modules_json(&info, &modules)),
    ] {
        let p = meta.join(file);
        std::fs::write(&p, text).map_err(io(&p))?;
    }
    // Pungi's words: STARTED while the compose is not known to be good.
    let status = stage.join("STATUS");
    std::fs::write(&status, "STARTED\n").map_err(io(&status))?;
    // Written now, while a full disk can still fail the compose cleanly;
    // after the record it only has to be renamed.
    let finished = staging.finished_status();
    std::fs::write(&finished, "FINISHED\n").map_err(io(&finished))?;
    // Make the content durable before it becomes visible.
    sync_tree(&stage)?;
    std::fs::File::open(&finished)
        .and_then(|f| f.sync_all())
        .map_err(io(&finished))?;
    sync_dir(staging.dir());
    test_pause_point(req.interrupt);
    let dest = out.join(id);
    let outputs = Outputs {
        repos: repos
            .into_iter()
            .map(|(arch, sub)| (arch, dest.join(sub)))
            .collect(),
        path: dest.clone(),
    };
    Ok(Staged {
        staging,
        dest,
        outputs,
    })
}

impl Staged {
    /// Renames the staged compose to `OUT/<compose-id>` (STATUS still
    /// STARTED) and makes the rename durable.
    pub fn place(self) -> Result<Placed> {
        let tree = self.staging.tree();
        std::fs::rename(&tree, &self.dest).map_err(io(&self.dest))?;
        if let Some(out) = self.dest.parent() {
            sync_dir(out);
        }
        Ok(Placed {
            staging: self.staging,
            dest: self.dest,
        })
    }
}

/// A compose in place at `dest` with STATUS STARTED; its staging directory
/// (still locked) holds the `STATUS` that says FINISHED.
pub(crate) struct Placed {
    staging: Staging,
    pub dest: PathBuf,
}

impl Placed {
    /// Replaces `STATUS` with FINISHED: only once the registry recorded
    /// the compose finished. A failure only leaves STATUS behind the
    /// registry (which is the authority), so it is reported, not fatal.
    pub fn mark_finished(&self) {
        let status = self.dest.join("STATUS");
        match std::fs::rename(self.staging.finished_status(), &status) {
            Ok(()) => sync_dir(&self.dest),
            Err(e) => tracing::error!(
                "cannot mark {} FINISHED: {e}; the registry records the compose finished",
                status.display()
            ),
        }
    }

    /// Takes the compose out of `OUT` again (back into its staging
    /// directory, which is then removed): one rename, so nothing is seen
    /// half-removed. Only when the rename fails is the directory removed
    /// where it is.
    pub fn withdraw(self) -> std::io::Result<()> {
        let back = self.staging.tree();
        let result = std::fs::rename(&self.dest, &back).or_else(|e| {
            tracing::warn!(
                "cannot move {} back to {}: {e}; removing it in place",
                self.dest.display(),
                back.display()
            );
            std::fs::remove_dir_all(&self.dest)
        });
        if let Some(out) = self.dest.parent() {
            sync_dir(out);
        }
        result
    }
}

type Published = (
    Vec<(String, PathBuf)>,
    Vec<productmd::RpmEntry>,
    Vec<productmd::ModuleEntry>,
);

fn publish_into(
    req: &PublishRequest<'_>,
    content: Vec<ArchContent<'_>>,
    stage: &Path,
    progress: &dyn Progress,
) -> Result<Published> {
    let def = req.definition;
    let variant = variant_uid(def);
    let mut repos = Vec::new();
    let mut rpms = Vec::new();
    let mut modules = Vec::new();
    for c in content {
        let sub = repo_subdir(def, c.arch);
        let tree = os_tree(def, c.arch);
        let dir = stage.join(&sub);
        std::fs::create_dir_all(&dir).map_err(io(&dir))?;
        let log = stage.join("logs").join(c.arch);
        std::fs::create_dir_all(&log).map_err(io(&log))?;
        let log = log.join("repoclosure.log");
        std::fs::write(&log, c.report.to_text() + &c.report.extras_text()).map_err(io(&log))?;

        progress.stage(&format!("linking packages for {}", c.arch));
        let total = c.picks.len();
        let mut artifacts = Vec::with_capacity(total);
        let mut records = Vec::with_capacity(total);
        let mut hrefs = Vec::with_capacity(total);
        let mut linker = Linker::new(req.verify_payloads);
        // Each source's payload root is opened once, when first needed.
        let mut payloads: Vec<Option<Payloads>> = c.sources.iter().map(|_| None).collect();
        for (k, (p, mut rec)) in c.picks.iter().zip(c.records).enumerate() {
            req.interrupt.check()?;
            let repo = &c.sources[p.repo];
            let pkg = repo.package(p.index);
            let href = published_href(repo, &pkg)?;
            linker.weak.check(repo, &pkg)?;
            if !req.metadata_only {
                let from = match &mut payloads[p.repo] {
                    Some(from) => from,
                    slot => slot.insert(Location::parse(&repo.location).payloads(c.koji_topdir)?),
                };
                let size = strata_repodata::package_size(&rec.primary);
                linker.link(from, &pkg, size, &dir.join(&href))?;
            }
            rec.primary = rewrite_location(&rec.primary, &href)?;
            records.push(rec);
            let nevra = nevra_with_epoch(&pkg);
            hrefs.push((href.clone(), pkg.checksum().to_string(), nevra.clone()));
            rpms.push(productmd::RpmEntry {
                variant: variant.clone(),
                arch: c.arch.to_string(),
                srpm_nevra: srpm_nevra(&pkg),
                nevra: nevra.clone(),
                path: tree.join(&href).display().to_string(),
                category: "binary".into(),
            });
            artifacts.push(nevra);
            progress.step(k + 1, total);
        }
        let modules_yaml = crate::modulemd::modules_yaml_for(req, c.arch, &artifacts)?;
        progress.stage(&format!("writing repodata for {}", c.arch));
        let stack_records = if c.layers.is_empty() {
            None
        } else {
            Some(records.clone())
        };
        let written = write_repodata(
            &dir,
            &records,
            &[ExtraMetadata {
                mdtype: "modules".into(),
                file_stem: "modules.yaml".into(),
                content: modules_yaml.into_bytes(),
            }],
            &WriteOptions {
                revision: req.record.started_at.to_string(),
                timestamp: req.record.started_at,
                ..WriteOptions::default()
            },
        )?;
        let modulemd_href = written
            .get("modules")
            .map(|f| f.href.clone())
            .unwrap_or_default();
        modules.push(productmd::ModuleEntry {
            variant: variant.clone(),
            arch: c.arch.to_string(),
            name: def.name.clone(),
            stream: def.stream.clone(),
            version: modulemd_version(req.record.started_at),
            context: req.record.context.clone(),
            rpms: artifacts.clone(),
            modulemd_path: tree.join(modulemd_href).display().to_string(),
        });
        if let Some(own_records) = stack_records {
            let (stack_rpms, stack_modules) = publish_stack_repo(
                req,
                c.arch,
                stage,
                &dir,
                own_records,
                &hrefs,
                &artifacts,
                c.layers,
                &mut linker,
                progress,
            )?;
            // The module's own packages are in the stack's tree too.
            let own_tree = format!("{}/", tree.display());
            let stack_tree = format!(
                "{}/",
                productmd::os_tree(&stack_variant_uid(&def.name), c.arch)
            );
            let own: Vec<productmd::RpmEntry> = rpms
                .iter()
                .filter(|r| r.variant == variant && r.arch == c.arch)
                .map(|r| productmd::RpmEntry {
                    variant: stack_variant_uid(&def.name),
                    path: r.path.replacen(&own_tree, &stack_tree, 1),
                    ..r.clone()
                })
                .collect();
            rpms.extend(own);
            rpms.extend(stack_rpms);
            modules.extend(stack_modules);
        }
        repos.push((c.arch.to_string(), sub));
    }
    Ok((repos, rpms, modules))
}

/// The repository of the whole stack for one arch: the module's packages
/// (linked from its own repository in the staging directory) and every
/// package of each compose below it (linked from that compose), with one
/// repodata and one modules.yaml, so one repository configuration gives a
/// client the whole stack.
#[allow(clippy::too_many_arguments)]
fn publish_stack_repo(
    req: &PublishRequest<'_>,
    arch: &str,
    stage: &Path,
    own_dir: &Path,
    own_records: Vec<PackageRecords>,
    own_hrefs: &[(String, String, String)],
    artifacts: &[String],
    layers: Vec<LayerContent<'_>>,
    linker: &mut Linker,
    progress: &dyn Progress,
) -> Result<(Vec<productmd::RpmEntry>, Vec<productmd::ModuleEntry>)> {
    let def = req.definition;
    let uid = stack_variant_uid(&def.name);
    let tree = PathBuf::from(productmd::os_tree(&uid, arch));
    let mut rpms = Vec::new();
    let dir = stage.join(stack_repo_subdir(&def.name, arch));
    std::fs::create_dir_all(&dir).map_err(io(&dir))?;
    progress.stage(&format!("linking the stack's packages for {arch}"));
    // href → (checksum, the package, where it came from)
    let mut placed: std::collections::HashMap<String, (String, String, String)> =
        std::collections::HashMap::new();
    let mut records = own_records;
    // The module's own packages, from its repository in the staging
    // directory: ours, but linked by the same rules.
    let own = Location::Dir(own_dir.to_path_buf());
    let own_payloads = match req.metadata_only {
        true => None,
        false => Some(own.payloads(None)?),
    };
    for (href, sum, nevra) in own_hrefs {
        if let Some(from) = &own_payloads {
            // Just placed and checked: no second size or checksum check.
            linker.place(from, nevra, href, sum, None, false, &dir.join(href))?;
        }
        placed.insert(
            href.clone(),
            (sum.clone(), nevra.clone(), req.record.id.clone()),
        );
    }
    let layer_repos: Vec<&Repo> = layers.iter().map(|l| l.repo).collect();
    for layer in layers {
        let repo = layer.repo;
        let payloads = match req.metadata_only {
            true => None,
            false => Some(Location::parse(&repo.location).payloads(None)?),
        };
        for (index, mut rec) in layer.records.into_iter().enumerate() {
            req.interrupt.check()?;
            let pkg = repo.package(index as u32);
            let href = published_href(repo, &pkg)?;
            if let Some((sum, nevra, from)) = placed.get(&href) {
                if sum == pkg.checksum() {
                    // The same RPM in two modules of the stack: once.
                    continue;
                }
                return Err(ComposeError::Other(format!(
                    "the stack of {} has two different packages published as {href}: \
                     {nevra} ({sum}) from {from}, and {} ({}) from {}",
                    def.nsv(),
                    nevra_with_epoch(&pkg),
                    pkg.checksum(),
                    repo.id
                )));
            }
            linker.weak.check(repo, &pkg)?;
            if let Some(from) = &payloads {
                let size = strata_repodata::package_size(&rec.primary);
                linker.link(from, &pkg, size, &dir.join(&href))?;
            }
            rec.primary = rewrite_location(&rec.primary, &href)?;
            rpms.push(productmd::RpmEntry {
                variant: uid.clone(),
                arch: arch.to_string(),
                srpm_nevra: srpm_nevra(&pkg),
                nevra: nevra_with_epoch(&pkg),
                path: tree.join(&href).display().to_string(),
                category: "binary".into(),
            });
            placed.insert(
                href,
                (
                    pkg.checksum().to_string(),
                    nevra_with_epoch(&pkg),
                    repo.id.clone(),
                ),
            );
            records.push(rec);
        }
    }
    let (modules_yaml, streams) =
        crate::modulemd::stack_modules_yaml(req, arch, artifacts, &layer_repos)?;
    progress.stage(&format!("writing the stack's repodata for {arch}"));
    let written = write_repodata(
        &dir,
        &records,
        &[ExtraMetadata {
            mdtype: "modules".into(),
            file_stem: "modules.yaml".into(),
            content: modules_yaml.into_bytes(),
        }],
        &WriteOptions {
            revision: req.record.started_at.to_string(),
            timestamp: req.record.started_at,
            ..WriteOptions::default()
        },
    )?;
    let modulemd_path = tree
        .join(
            written
                .get("modules")
                .map(|f| f.href.clone())
                .unwrap_or_default(),
        )
        .display()
        .to_string();
    let modules = streams
        .into_iter()
        .map(|s| productmd::ModuleEntry {
            variant: uid.clone(),
            arch: arch.to_string(),
            name: s.name,
            stream: s.stream,
            version: s.version,
            context: s.context,
            rpms: s.artifacts,
            modulemd_path: modulemd_path.clone(),
        })
        .collect();
    Ok((rpms, modules))
}

/// The source RPM's NEVRA from `sourcerpm` (`foo-1.0-1.fc40.src.rpm`),
/// with the binary package's epoch, as productmd keys binary RPMs.
fn srpm_nevra(p: &strata_repodata::Package<'_>) -> String {
    let e = p.evr();
    let epoch = e.epoch.filter(|e| !e.is_empty()).unwrap_or("0");
    // name-version-release → name-epoch:version-release.src
    let nvr = crate::select::build_nvr(p);
    let mut parts = nvr.rsplitn(3, '-');
    match (parts.next(), parts.next(), parts.next()) {
        (Some(r), Some(v), Some(n)) if !n.is_empty() => format!("{n}-{epoch}:{v}-{r}.src"),
        _ => format!(
            "{}-{epoch}:{}-{}.src",
            p.name(),
            e.version,
            e.release.unwrap_or_default()
        ),
    }
}

/// Checksum types of the packages a compose publishes: md5 is refused
/// (naming the package), sha1 accepted with one warning per repository
/// (see `ChecksumTrust`).
#[derive(Default)]
struct WeakChecksums {
    warned: rustc_hash::FxHashSet<String>,
}

impl WeakChecksums {
    fn check(&mut self, repo: &Repo, pkg: &strata_repodata::Package<'_>) -> Result<()> {
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
struct Linker {
    verify: bool,
    weak: WeakChecksums,
    /// Directories made so far (`Packages/<l>/`), so that each is made once.
    made: rustc_hash::FxHashSet<PathBuf>,
}

impl Linker {
    fn new(verify: bool) -> Linker {
        Linker {
            verify,
            weak: WeakChecksums::default(),
            made: Default::default(),
        }
    }

    /// Puts one RPM at `dest`, which is created new (never written
    /// through): see [`Linker::place`]. `size` is the package size the
    /// source metadata gives.
    fn link(
        &mut self,
        from: &Payloads,
        pkg: &strata_repodata::Package<'_>,
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
    fn place(
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

/// Test-only: crash-consistency and signal tests stop a compose here, with
/// everything staged and nothing published.
/// `STRATA_TEST_PAUSE_BEFORE_PUBLISH=<seconds>` sleeps that long, ending
/// early when the compose is interrupted; `=<path>` waits while that path
/// exists (at most 10 minutes) whatever happens, so that a test can line
/// up signals or lock the registry before the compose goes on.
fn test_pause_point(interrupt: &crate::Interrupt) {
    let Some(value) = std::env::var_os("STRATA_TEST_PAUSE_BEFORE_PUBLISH") else {
        return;
    };
    let step = std::time::Duration::from_millis(20);
    let start = std::time::Instant::now();
    match value.to_str().and_then(|s| s.parse::<u64>().ok()) {
        Some(secs) => {
            let limit = std::time::Duration::from_secs(secs);
            while start.elapsed() < limit && !interrupt.is_raised() {
                std::thread::sleep(step);
            }
        }
        None => {
            let path = PathBuf::from(value);
            let limit = std::time::Duration::from_secs(600);
            while path.exists() && start.elapsed() < limit {
                std::thread::sleep(step);
            }
        }
    }
}

/// Flushes every file under `dir` to disk, then the directories.
fn sync_tree(dir: &Path) -> Result<()> {
    for e in std::fs::read_dir(dir).map_err(io(dir))? {
        let e = e.map_err(io(dir))?;
        let p = e.path();
        let ft = e.file_type().map_err(io(&p))?;
        if ft.is_dir() {
            sync_tree(&p)?;
        } else if ft.is_file() {
            // Hardlinked payloads are already durable in the source.
            if e.metadata().map(|m| is_hardlinked(&m)).unwrap_or(false) {
                continue;
            }
            std::fs::File::open(&p)
                .and_then(|f| f.sync_all())
                .map_err(io(&p))?;
        }
    }
    sync_dir(dir);
    Ok(())
}

#[cfg(unix)]
fn is_hardlinked(m: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::MetadataExt;
    m.nlink() > 1
}

#[cfg(not(unix))]
fn is_hardlinked(_: &std::fs::Metadata) -> bool {
    false
}

fn sync_dir(dir: &Path) {
    if let Ok(f) = std::fs::File::open(dir) {
        let _ = f.sync_all();
    }
}

/// How long a compose waits for others to update a `latest-*` link (each
/// holds the lock for one registry read and one rename).
const LATEST_LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(60);

/// Points `OUT/latest-<name>-<stream>` at the registry's last good compose
/// of the stream, as Pungi's `latest-*` links, atomically (a new symlink
/// renamed over the old). Composes finishing at once serialize on
/// `OUT/.latest-<name>-<stream>.lock` and each reads the registry while
/// holding it, so the last to write has read after every compose before
/// it was recorded: the link ends where `strata latest` says, whatever
/// order they finish in. Returns the compose the link points at, or None
/// when it was left alone (no good compose, or the good one is published
/// somewhere else).
pub(crate) fn update_latest_link(
    out: &Path,
    name: &str,
    stream: &str,
    registry: &dyn strata_registry::Registry,
) -> Result<Option<String>> {
    let lock = out.join(format!(".latest-{name}-{stream}.lock"));
    let _held = crate::staging::lock_waiting(&lock, LATEST_LOCK_WAIT)?;
    let Some(good) = registry.latest_good(name, stream)? else {
        return Ok(None);
    };
    let link = out.join(format!("latest-{name}-{stream}"));
    let here = std::fs::canonicalize(out).map_err(io(out))?;
    // By name, not by the recorded path: hosts sharing OUT may mount it
    // at different places, and compose IDs are unique.
    let target = good
        .outputs
        .as_ref()
        .and_then(|o| o.path.file_name())
        .filter(|name| here.join(name).is_dir())
        .map(|name| name.to_owned());
    let Some(target) = target else {
        tracing::warn!(
            "{} left alone: the last good compose of {name}:{stream}, {}, is not published in {}",
            link.display(),
            good.id,
            here.display()
        );
        return Ok(None);
    };
    if std::fs::read_link(&link).is_ok_and(|t| t.as_os_str() == target) {
        return Ok(Some(good.id));
    }
    let tmp = out.join(format!(
        ".latest-{name}-{stream}.{}-{}.new",
        crate::staging::host_name(),
        std::process::id()
    ));
    let _ = std::fs::remove_file(&tmp);
    #[cfg(unix)]
    std::os::unix::fs::symlink(&target, &tmp).map_err(io(&tmp))?;
    std::fs::rename(&tmp, &link).map_err(io(&link))?;
    sync_dir(out);
    Ok(Some(good.id))
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
    fn latest_link_follows_the_registry() {
        use strata_registry::{ComposeType, NewCompose, Outcome, Registry, SqliteRegistry};
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("out");
        std::fs::create_dir(&out).unwrap();
        let mut registry = SqliteRegistry::open(&tmp.path().join("registry.sqlite")).unwrap();
        let mut finish = |path: &dyn Fn(&str) -> PathBuf| {
            let rec = registry
                .begin(&NewCompose {
                    name: "m".into(),
                    stream: "1".into(),
                    compose_type: ComposeType::Nightly,
                    started_at: 1_795_600_800,
                    definition_path: "m.yaml".into(),
                    definition_digest: "0".repeat(64),
                    scm_ref: None,
                    arches: vec!["x86_64".into()],
                    version: 1,
                    context: "00000000".into(),
                    inputs: vec![],
                    owner: None,
                })
                .unwrap();
            let path = path(&rec.id);
            std::fs::create_dir_all(&path).unwrap();
            let outputs = Outputs {
                path,
                repos: Default::default(),
            };
            registry
                .finish(
                    &rec.id,
                    &Outcome::Finished {
                        finished_at: 1_795_600_900,
                        outputs,
                        packages: Default::default(),
                        timings: serde_json::Value::Null,
                    },
                )
                .unwrap();
            rec.id
        };
        let here = finish(&|id| out.join(id));
        let elsewhere = finish(&|id| tmp.path().join("elsewhere").join(id));
        std::fs::remove_dir(tmp.path().join("elsewhere").join(&elsewhere)).unwrap();
        let link = out.join("latest-m-1");
        // The newest good compose is not in this OUT: the link is left alone.
        assert_eq!(update_latest_link(&out, "m", "1", &registry).unwrap(), None);
        assert!(std::fs::symlink_metadata(&link).is_err());
        // Once it is (OUT mounted elsewhere by the host that recorded it),
        // the link points at it by name.
        std::fs::create_dir(out.join(&elsewhere)).unwrap();
        assert_eq!(
            update_latest_link(&out, "m", "1", &registry).unwrap(),
            Some(elsewhere.clone())
        );
        assert_eq!(
            std::fs::read_link(&link).unwrap(),
            PathBuf::from(&elsewhere)
        );
        assert_ne!(here, elsewhere);
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
