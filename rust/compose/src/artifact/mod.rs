//! Artifact composes: one container image, ostree commit or install ISO
//! from the last good (or pinned) composes of the stacks a
//! `strata-artifact` document names. In order:
//!
//! 1. read the definition; pick the arch (one compose builds one);
//! 2. resolve each named stack to its compose, and every compose below
//!    it (the whole stack, bottom first), and the platform they were
//!    checked against; the platform repositories' checksums are read now;
//! 3. record the compose as started: kind artifact, stream = arch, the
//!    compose IDs and platform checksums as inputs;
//! 4. install the profiles and packages with the real dnf into an
//!    installroot in the staging directory (`install`), from those
//!    composes' repositories and the platform only;
//! 5. write the artifact into the staging tree (`oci`, `ostree`, `iso`)
//!    and productmd's `images.json` beside it;
//! 6. put it in place and record it finished with its build ID, in the
//!    order record.rs explains, so that nothing is published unless
//!    recorded; any failure after 3 is recorded failed with its reason.
//!
//! It lives in the compose crate because it is a compose like the
//! module's: the same registry records, staging directory, crash-safe
//! publish-then-record order and `latest-*` links (record.rs,
//! staging.rs), which would otherwise be made public or copied.

mod install;
mod iso;
mod oci;
mod ostree;
mod tools;

use crate::config::{substitute_arch, Config};
use crate::definition::{read_artifact_definition, ScmProbe};
use crate::error::{io, ComposeError, Result};
use crate::ids::{modulemd_version, now};
use crate::interrupt::Interrupt;
use crate::productmd::variant_uid;
use crate::progress::Progress;
use crate::publish::Staged;
use crate::record::{record_failure, record_published};
use crate::staging::{clean_stale_staging, Staging};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use strata_model::{ArtifactDefinition, ArtifactKind};
use strata_registry::{
    ComposeRecord, ComposeType, Input, InputKind, NewCompose, Outcome, Outputs, Registry, State,
};

/// How long one run of dnf, ostree or xorriso may take unless the
/// request says otherwise: a large stack installs in minutes.
pub const DEFAULT_TOOL_LIMIT: Duration = Duration::from_secs(3600);

/// What to build and how.
#[derive(Debug, Clone)]
pub struct ArtifactRequest {
    pub definition: PathBuf,
    pub out: PathBuf,
    /// The arch to build for; `None`: the definition's only arch, else
    /// the host's.
    pub arch: Option<String>,
    pub compose_type: ComposeType,
    /// Where the definition came from in SCM; detected from git if None.
    pub scm_ref: Option<String>,
    /// Compose time (unix seconds): `SOURCE_DATE_EPOCH` or now. It gives
    /// the compose ID's date and every timestamp inside the artifact.
    pub started_at: i64,
    /// Compose IDs to use instead of the last good composes of their
    /// streams (over the definition's `compose_pins`).
    pub with_composes: Vec<String>,
    pub interrupt: Interrupt,
    /// The most one external tool run may take.
    pub tool_limit: Duration,
    /// The chain that runs this compose and the event that caused it.
    pub chain: Option<strata_registry::ChainCause>,
}

/// The composes an artifact is built from.
struct Resolved {
    /// Every compose installed from: each stack's, bottom first, once.
    stack: Vec<ComposeRecord>,
    /// The platform stream they were composed for (`f40`), if any.
    platform: Option<String>,
}

/// Builds one artifact. Errors before the compose is recorded (a bad
/// definition, a stack without a good compose) leave no record; later
/// ones are recorded as failed, with nothing left in `OUT`.
pub fn compose_artifact(
    req: &ArtifactRequest,
    config: &Config,
    registry: &mut dyn Registry,
    progress: &dyn Progress,
) -> Result<ComposeRecord> {
    let prepared = prepare(req, config, &*registry, progress)?;
    build_and_record(req, prepared, None, registry, progress)
}

/// A scratch build of an artifact (Koji's `--scratch`): its inputs are the
/// shared registry's composes, read only, and its record goes to
/// `record_in`, a registry of its own, so that a scratch image never
/// becomes the shared registry's latest artifact. `label` (digits: the
/// Koji task ID) marks its ID `-<label>.scratch`, as a scratch module
/// compose's.
pub fn compose_scratch_artifact(
    req: &ArtifactRequest,
    label: &str,
    config: &Config,
    shared: &dyn Registry,
    record_in: &mut dyn Registry,
    progress: &dyn Progress,
) -> Result<ComposeRecord> {
    let prepared = prepare(req, config, shared, progress)?;
    build_and_record(req, prepared, Some(label.to_owned()), record_in, progress)
}

/// What an artifact compose knows before it is recorded.
struct Prepared {
    t0: Instant,
    scm: ScmProbe,
    def: ArtifactDefinition,
    digest: String,
    arch: String,
    resolved: Resolved,
    platform_repos: Vec<String>,
    inputs: Vec<Input>,
}

/// Reads the definition and resolves the stacks and platform in `registry`.
fn prepare(
    req: &ArtifactRequest,
    config: &Config,
    registry: &dyn Registry,
    progress: &dyn Progress,
) -> Result<Prepared> {
    let t0 = Instant::now();
    let scm = ScmProbe::start(req.scm_ref.clone(), &req.definition);
    let (def, digest) = read_artifact_definition(&req.definition)?;
    let arch = pick_arch(&def, req.arch.as_deref())?;
    progress.stage("resolving the stacks");
    let resolved = resolve(&def, registry, &req.with_composes, &arch)?;
    let platform_repos = platform_repos(&def, &resolved, config, &arch)?;
    let mut inputs: Vec<Input> = resolved
        .stack
        .iter()
        .map(|r| Input {
            kind: InputKind::Compose,
            name: format!("{}:{}", r.name, r.stream),
            ident: r.id.clone(),
            location: r
                .outputs
                .as_ref()
                .map(|o| o.path.display().to_string())
                .unwrap_or_default(),
        })
        .collect();
    for (i, loc) in platform_repos.iter().enumerate() {
        let platform = resolved.platform.as_deref().unwrap_or_default();
        inputs.push(Input {
            kind: InputKind::Platform,
            name: format!("{platform}.{arch}"),
            ident: strata_repodata::repo_checksum(&format!("platform-{}", i + 1), loc)?,
            location: loc.clone(),
        });
    }
    Ok(Prepared {
        t0,
        scm,
        def,
        digest,
        arch,
        resolved,
        platform_repos,
        inputs,
    })
}

/// Records the compose in `registry`, builds the artifact and publishes it.
fn build_and_record(
    req: &ArtifactRequest,
    prepared: Prepared,
    scratch: Option<String>,
    registry: &mut dyn Registry,
    progress: &dyn Progress,
) -> Result<ComposeRecord> {
    let (def, arch) = (&prepared.def, &prepared.arch);
    req.interrupt.check()?;
    let scm_ref = prepared.scm.answer();
    // Artifact composes of this arch whose process died (kill -9, a
    // reboot) would stay `started` for good: end them first, as a
    // module's compose does.
    registry.abandon_dead(Some((&def.name, arch)))?;
    let record = registry.begin(&NewCompose {
        name: def.name.clone(),
        stream: arch.clone(),
        compose_type: req.compose_type,
        started_at: req.started_at,
        definition_path: req.definition.clone(),
        definition_digest: prepared.digest.clone(),
        scm_ref,
        arches: vec![arch.clone()],
        version: modulemd_version(req.started_at),
        context: prepared.digest[..8].to_string(),
        inputs: prepared.inputs,
        owner: strata_registry::Owner::current(),
        scratch,
        chain: req.chain.clone(),
        required_tests: Vec::new(),
        artifact: Some(def.kind),
    })?;
    let id = record.id.clone();
    tracing::info!(compose = id, "artifact compose started");
    progress.began(&id);
    let built = build(
        req,
        def,
        &record,
        &prepared.resolved,
        &prepared.platform_repos,
        arch,
        progress,
        prepared.t0,
    );
    let (staged, outcome) = match built {
        Ok(b) => b,
        Err(e) => return Err(record_failure(registry, &id, e)),
    };
    progress.about_to_publish(&id, &req.interrupt);
    record_published(
        registry,
        &id,
        staged,
        outcome,
        &req.interrupt,
        &req.out,
        (&def.name, arch),
    )
}

/// The arches a definition is built for, one compose each: those it
/// names, else the host's (as a compose without `--arch` picks it).
pub fn artifact_arches(def: &ArtifactDefinition) -> Vec<String> {
    if def.arches.is_empty() {
        vec![strata_solve::host_arch().to_string()]
    } else {
        def.arches.clone()
    }
}

/// The arch of this compose: asked for (and named by the definition, when
/// it names any), else the definition's only one, else the host's.
fn pick_arch(def: &ArtifactDefinition, asked: Option<&str>) -> Result<String> {
    let fail = |problem: String| ComposeError::ArtifactInputs {
        artifact: def.name.clone(),
        problem,
    };
    match (asked, def.arches.as_slice()) {
        (Some(a), named) if named.is_empty() || named.iter().any(|n| n == a) => Ok(a.to_string()),
        (Some(a), named) => Err(fail(format!(
            "it is built for {}, not {a}",
            named.join(", ")
        ))),
        (None, [one]) => Ok(one.clone()),
        (None, []) => Ok(strata_solve::host_arch().to_string()),
        (None, named) => Err(fail(format!(
            "it names several arches ({}); one compose builds one: pass --arch",
            named.join(", ")
        ))),
    }
}

/// The composes of the named stacks and of everything below them.
fn resolve(
    def: &ArtifactDefinition,
    registry: &dyn Registry,
    with_composes: &[String],
    arch: &str,
) -> Result<Resolved> {
    let fail = |problem: String| ComposeError::ArtifactInputs {
        artifact: def.name.clone(),
        problem,
    };
    // Pins by module: the command line's over the definition's.
    let mut pins: BTreeMap<String, String> = def.compose_pins.clone();
    for id in with_composes {
        let rec = registry.get(id)?.ok_or_else(|| {
            fail(format!(
                "--with-compose {id}: no such compose in the registry"
            ))
        })?;
        pins.insert(rec.name.clone(), id.clone());
    }
    let mut contents = Vec::new();
    for c in &def.contents {
        let rec = match pins.get(&c.module) {
            Some(id) => {
                let rec = registry.get(id)?.ok_or_else(|| {
                    fail(format!(
                        "compose {id}, pinned for {}:{}, is not in the registry",
                        c.module, c.stream
                    ))
                })?;
                if rec.state != State::Finished {
                    return Err(fail(format!(
                        "compose {id}, pinned for {}:{}, is {}, not finished",
                        c.module, c.stream, rec.state
                    )));
                }
                if (rec.name.as_str(), rec.stream.as_str())
                    != (c.module.as_str(), c.stream.as_str())
                {
                    return Err(fail(format!(
                        "compose {id}, pinned for {}:{}, is a compose of {}:{}",
                        c.module, c.stream, rec.name, rec.stream
                    )));
                }
                rec
            }
            None => registry.latest_good(&c.module, &c.stream)?.ok_or_else(|| {
                fail(format!(
                    "{}:{} has no good compose (compose it first, or check `strata composes \
                     list {}:{}`)",
                    c.module, c.stream, c.module, c.stream
                ))
            })?,
        };
        if rec.artifact.is_some() {
            return Err(fail(format!(
                "{} is an artifact compose, not a module's",
                rec.id
            )));
        }
        contents.push(rec);
    }
    let mut stack: Vec<ComposeRecord> = Vec::new();
    let mut seen: BTreeSet<String> = BTreeSet::new();
    for rec in &contents {
        below_first(registry, rec, &mut stack, &mut seen, &fail)?;
    }
    // One compose per module: dnf enables one stream of each.
    let mut by_module: HashMap<&str, &ComposeRecord> = HashMap::new();
    for r in &stack {
        if let Some(other) = by_module.insert(&r.name, r) {
            return Err(fail(format!(
                "the stacks install two composes of {}: {} and {}; pin one with compose_pins",
                r.name, other.id, r.id
            )));
        }
        if !r
            .outputs
            .as_ref()
            .is_some_and(|o| o.repos.contains_key(arch))
        {
            return Err(ComposeError::DependencyMissingArch {
                compose_id: r.id.clone(),
                required: format!("{}:{}", r.name, r.stream),
                arch: arch.to_string(),
            });
        }
    }
    for (module, id) in &def.compose_pins {
        if !stack.iter().any(|r| &r.name == module) {
            return Err(fail(format!(
                "compose_pins names {module} ({id}), which no stack of the artifact installs"
            )));
        }
        if let Some(r) = stack.iter().find(|r| &r.name == module && &r.id != id) {
            return Err(fail(format!(
                "compose_pins pins {module} to {id}, but the stacks were composed on {}; \
                 pin the stack's compose that was built on {id} instead",
                r.id
            )));
        }
    }
    let mut platforms: BTreeSet<String> = BTreeSet::new();
    for r in &contents {
        for i in r.inputs.iter().filter(|i| i.kind == InputKind::Platform) {
            let p = i.name.rsplit_once('.').map_or(i.name.as_str(), |(p, _)| p);
            platforms.insert(p.to_string());
        }
    }
    if platforms.len() > 1 {
        return Err(fail(format!(
            "its stacks were composed for different platforms: {}",
            platforms.into_iter().collect::<Vec<_>>().join(", ")
        )));
    }
    Ok(Resolved {
        stack,
        platform: platforms.into_iter().next(),
    })
}

/// Appends the composes `rec` was built on (recursively, each once) and
/// then `rec`.
fn below_first(
    registry: &dyn Registry,
    rec: &ComposeRecord,
    out: &mut Vec<ComposeRecord>,
    seen: &mut BTreeSet<String>,
    fail: &dyn Fn(String) -> ComposeError,
) -> Result<()> {
    if !seen.insert(rec.id.clone()) {
        return Ok(());
    }
    for input in &rec.inputs {
        if !matches!(input.kind, InputKind::Compose | InputKind::StackCompose) {
            continue;
        }
        let below = registry.get(&input.ident)?.ok_or_else(|| {
            fail(format!(
                "compose {} of {}, below {}, is not in the registry",
                input.ident, input.name, rec.id
            ))
        })?;
        below_first(registry, &below, out, seen, fail)?;
    }
    out.push(rec.clone());
    Ok(())
}

/// The platform's repositories for `arch`, as the configuration names them.
fn platform_repos(
    def: &ArtifactDefinition,
    resolved: &Resolved,
    config: &Config,
    arch: &str,
) -> Result<Vec<String>> {
    let Some(p) = &resolved.platform else {
        return Ok(Vec::new());
    };
    let c = config
        .platform
        .get(p)
        .ok_or_else(|| ComposeError::UnknownPlatform {
            module: format!("artifact {}", def.name),
            platform: p.clone(),
        })?;
    Ok(c.repos.iter().map(|r| substitute_arch(r, arch)).collect())
}

/// Steps 4 and 5: the artifact, written and synced in a staging
/// directory, and the outcome to record.
#[allow(clippy::too_many_arguments)]
fn build(
    req: &ArtifactRequest,
    def: &ArtifactDefinition,
    record: &ComposeRecord,
    resolved: &Resolved,
    platform_repos: &[String],
    arch: &str,
    progress: &dyn Progress,
    t0: Instant,
) -> Result<(Staged, Outcome)> {
    std::fs::create_dir_all(&req.out).map_err(io(&req.out))?;
    clean_stale_staging(&req.out);
    let out = std::fs::canonicalize(&req.out).map_err(io(&req.out))?;
    let id = &record.id;
    let mut staging = Staging::create(&out, id)?;
    let stage = staging.tree();
    // The installroot and logs live beside the tree, in the staging
    // directory, which goes with every error.
    let work = staging.dir().join("work");
    let root = staging.dir().join("root");
    std::fs::create_dir_all(&work).map_err(io(&work))?;
    let log = stage.join("logs").join(arch);
    std::fs::create_dir_all(&log).map_err(io(&log))?;
    let log = log.join("artifact.log");
    let epoch = req.started_at;
    let mut repos: Vec<install::DnfRepo> = Vec::new();
    let mut stack_dirs: Vec<PathBuf> = Vec::new();
    for r in &resolved.stack {
        let dir = r.outputs.as_ref().expect("checked by resolve").repos[arch].clone();
        repos.push(install::DnfRepo {
            id: r.id.clone(),
            path: dir.clone(),
        });
        stack_dirs.push(dir);
    }
    for (i, loc) in platform_repos.iter().enumerate() {
        let path = strata_repodata::Location::parse(loc)
            .as_dir()
            .map(Path::to_path_buf)
            .ok_or_else(|| ComposeError::ArtifactInputs {
                artifact: def.name.clone(),
                problem: format!(
                    "the platform repository {loc} is not a local directory; dnf installs \
                     artifacts from local repositories only"
                ),
            })?;
        // dnf takes `file://` URLs, which are absolute.
        let path = std::path::absolute(&path).map_err(io(&path))?;
        repos.push(install::DnfRepo {
            id: format!("platform-{}", i + 1),
            path,
        });
    }
    let platform = resolved.platform.clone().unwrap_or_default();
    let modules: Vec<String> = def.contents.iter().map(|c| c.dnf_spec()).collect();
    progress.stage(&format!("installing {}", modules.join(", ")));
    let t_install = Instant::now();
    let installed = install::install(&install::Install {
        root: &root,
        work: &work,
        log: &log,
        arch,
        platform: &platform,
        repos: &repos,
        modules: &modules,
        packages: &def.packages,
        limit: req.tool_limit,
        interrupt: &req.interrupt,
    })?;
    let install_s = t_install.elapsed().as_secs_f64();
    req.interrupt.check()?;
    let input_ids: Vec<String> = resolved.stack.iter().map(|r| r.id.clone()).collect();
    let t_write = Instant::now();
    progress.stage(&format!("writing the {}", def.kind));
    // The installroot goes on a thread of its own: a file as soon as the
    // image has read it, the rest once the artifact is written, while it
    // is synced and recorded.
    let remover = staging.remover(root.clone());
    let dest = out.join(id);
    let write = || -> Result<(String, Option<ImageEntry>)> {
        Ok(match def.kind {
            ArtifactKind::Container => {
                let labels = BTreeMap::from([
                    ("io.strata.artifact".to_string(), def.name.clone()),
                    ("io.strata.input-composes".to_string(), input_ids.join(" ")),
                ]);
                let w = oci::write(&oci::Image {
                    root: &root,
                    dest: &stage.join("image"),
                    arch,
                    epoch,
                    settings: &def.container,
                    labels,
                    remover: &remover,
                })?;
                let rel = w
                    .layer
                    .strip_prefix(&stage)
                    .expect("the layer is in the stage")
                    .to_path_buf();
                (
                    w.manifest_digest,
                    Some(ImageEntry {
                        path: rel,
                        size: w.layer_size,
                        sha256: w.layer_sha256,
                        image_type: "docker",
                        format: "tar.gz",
                        volume_id: None,
                    }),
                )
            }
            ArtifactKind::Ostree => {
                let o = def
                    .ostree
                    .as_ref()
                    .expect("checked by the definition reader");
                let checksum = ostree::commit(&ostree::Commit {
                    root: &root,
                    repo: &stage.join("ostree"),
                    ref_: &o.ref_,
                    subject: o.subject.as_deref().unwrap_or(&def.summary),
                    artifact: &def.name,
                    epoch,
                    inputs: &input_ids,
                    log: &log,
                    limit: req.tool_limit,
                    interrupt: &req.interrupt,
                })?;
                (checksum, None)
            }
            ArtifactKind::Iso => {
                let file = format!("{}-{arch}.iso", def.name);
                let volume_id = def.volume_id();
                let (sha256, size) = iso::write(&iso::Media {
                    repos: &stack_dirs,
                    tree: &work.join("iso"),
                    iso: &stage.join(&file),
                    volume_id: &volume_id,
                    name: &def.name,
                    summary: &def.summary,
                    arch,
                    version: &platform
                        .chars()
                        .filter(char::is_ascii_digit)
                        .collect::<String>(),
                    variant: &variant_uid(&def.name),
                    epoch,
                    log: &log,
                    limit: req.tool_limit,
                    interrupt: &req.interrupt,
                })?;
                (
                    format!("sha256:{sha256}"),
                    Some(ImageEntry {
                        path: PathBuf::from(file),
                        size,
                        sha256,
                        image_type: "dvd",
                        format: "iso",
                        volume_id: Some(volume_id),
                    }),
                )
            }
        })
    };
    // The package list comes from the rpm database moved out of the
    // root, so it is read while the root is written out.
    let (listed, written) = std::thread::scope(|s| {
        let listing = s.spawn(|| installed.packages(&log, req.tool_limit, &req.interrupt));
        let written = write();
        (
            listing.join().expect("listing the packages does not panic"),
            written,
        )
    });
    drop(remover);
    let (build_id, image) = written?;
    let installed = listed?;
    let write_s = t_write.elapsed().as_secs_f64();
    req.interrupt.check()?;
    if let Some(image) = &image {
        let p = stage.join("images.json");
        std::fs::write(&p, images_json(record, def, arch, epoch, image)).map_err(io(&p))?;
    }
    staging.seal()?;
    let outputs = Outputs {
        path: dest.clone(),
        repos: BTreeMap::new(),
        build_id: Some(build_id),
    };
    let outcome = Outcome::Finished {
        finished_at: now(),
        outputs: outputs.clone(),
        packages: BTreeMap::from([(arch.to_string(), installed)]),
        timings: serde_json::json!({
            "install": install_s,
            "write": write_s,
            "total": t0.elapsed().as_secs_f64(),
        }),
        modulemd: BTreeMap::new(),
    };
    Ok((
        Staged {
            staging,
            dest,
            outputs,
            modulemd: BTreeMap::new(),
        },
        outcome,
    ))
}

/// One image in productmd's images.json.
struct ImageEntry {
    /// Relative to the artifact compose's directory.
    path: PathBuf,
    size: u64,
    sha256: String,
    image_type: &'static str,
    format: &'static str,
    volume_id: Option<String>,
}

/// productmd's images.json (format 1.2) for the one image of an artifact
/// compose, under the artifact's variant.
fn images_json(
    record: &ComposeRecord,
    def: &ArtifactDefinition,
    arch: &str,
    epoch: i64,
    image: &ImageEntry,
) -> String {
    let variant = variant_uid(&def.name);
    let entry = serde_json::json!({
        "arch": arch,
        "bootable": false,
        "checksums": {"sha256": image.sha256},
        "disc_count": 1,
        "disc_number": 1,
        "format": image.format,
        "implant_md5": null,
        "mtime": epoch,
        "path": image.path.display().to_string(),
        "size": image.size,
        "subvariant": variant,
        "type": image.image_type,
        "volume_id": image.volume_id,
    });
    let doc = serde_json::json!({
        "header": {"type": "productmd.images", "version": "1.2"},
        "payload": {
            "compose": {
                "date": record.date,
                "id": record.id,
                "respin": record.respin,
                "type": record.compose_type.as_str(),
            },
            "images": {variant: {arch: [entry]}},
        },
    });
    serde_json::to_string_pretty(&doc).expect("JSON serializes") + "\n"
}

#[cfg(test)]
mod test {
    use super::*;

    fn def(arches: &str) -> ArtifactDefinition {
        ArtifactDefinition::parse(
            &format!(
                "document: strata-artifact\nversion: 1\ndata:\n  name: web\n  kind: iso\n  \
                 summary: s\n{arches}  contents: [{{module: 'php:8.2'}}]\n"
            ),
            "a.yaml",
        )
        .unwrap()
    }

    #[test]
    fn one_compose_builds_one_arch() {
        let two = def("  arches: [x86_64, aarch64]\n");
        assert_eq!(pick_arch(&two, Some("aarch64")).unwrap(), "aarch64");
        assert_eq!(
            pick_arch(&two, None).unwrap_err().to_string(),
            "artifact web: it names several arches (x86_64, aarch64); one compose builds one: \
             pass --arch"
        );
        assert_eq!(
            pick_arch(&two, Some("s390x")).unwrap_err().to_string(),
            "artifact web: it is built for x86_64, aarch64, not s390x"
        );
        assert_eq!(
            pick_arch(&def("  arches: [ppc64le]\n"), None).unwrap(),
            "ppc64le"
        );
        assert_eq!(
            pick_arch(&def(""), None).unwrap(),
            strata_solve::host_arch()
        );
    }

    #[test]
    fn images_json_is_productmds_shape() {
        let d = def("");
        let record: ComposeRecord = serde_json::from_value(serde_json::json!({
            "id": "web-x86_64-20251205.n.0", "name": "web", "stream": "x86_64",
            "compose_type": "nightly", "date": "20251205", "respin": 0, "state": "started",
            "version": 1, "context": "c", "definition_path": "a.yaml",
            "definition_digest": "0", "scm_ref": null, "arches": ["x86_64"], "inputs": [],
            "packages": {}, "outputs": null, "started_at": 0, "finished_at": null,
            "timings": null, "error": null, "report": null,
        }))
        .unwrap();
        let text = images_json(
            &record,
            &d,
            "x86_64",
            1_764_900_000,
            &ImageEntry {
                path: "web-x86_64.iso".into(),
                size: 2048,
                sha256: "ab".repeat(32),
                image_type: "dvd",
                format: "iso",
                volume_id: Some("WEB".into()),
            },
        );
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["header"]["type"], "productmd.images");
        assert_eq!(v["payload"]["compose"]["id"], "web-x86_64-20251205.n.0");
        let img = &v["payload"]["images"]["Web"]["x86_64"][0];
        assert_eq!(img["path"], "web-x86_64.iso");
        assert_eq!(img["volume_id"], "WEB");
        assert_eq!(img["checksums"]["sha256"], "ab".repeat(32));
        assert_eq!(img["mtime"], 1_764_900_000);
    }
}
