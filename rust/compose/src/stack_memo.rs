//! A stack's memo: the lean records of the layers a module's stack walk
//! found last time, kept in the cache directory, so that composing the
//! module again reads from the registry only the layers that changed.
//!
//! The walk itself ([`crate::stack::resolve_with`]) runs as always: the
//! memo only answers its asks for a stream's last good compose, and only
//! where the registry still names the compose the memo keeps. That is
//! checked for all the memo's streams at once, before the walk, with
//! [`Registry::latest_good_ids`], which reads the index alone. A finished
//! compose's record does not change, so a record kept under its ID is
//! what the registry would give; every other stream is asked of the
//! registry. Reading a deep stack's layers was the largest part of what
//! the top of a stack cost more than a module of median depth: each a row
//! on a page of its own, then decoded.
//!
//! A module without a memo of its own (its first compose, or the first
//! with this cache) borrows the largest memo of a module it requires: that
//! module's stack is a part of its own, and the walk reads only the rest.
//! What such a walk reads from the registry (layers composed since, the
//! modules it requires that the lent memo does not hold) loads ahead of
//! the memo's layers: no compose loaded them yet. The memo a walk leaves
//! is written where the compose does not wait on it, while it publishes
//! ([`Keep::write`]).
//!
//! The memo names the registry it was read from ([`Registry::identity`])
//! and the module; one that names another is not used. Like the other
//! files of the cache directory, it is written aside and renamed into
//! place, never followed through a symlink, read only up to a bound, and
//! checked (zstd frames with their checksums, then postcard): one that
//! does not check out is not used, and is written again after the walk.
//! Like the layers' verification memos beside it, a memo is trusted as
//! far as the cache directory is: it is this user's.
//!
//! After [`MAGIC`], a memo is a zstd frame of its [`Header`], then one of
//! its layers: a memo of another registry or module is refused before its
//! layers are read. Their repositories start loading ahead as soon as
//! they are read, while the registry is asked whether they still hold.

use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use rustix::fs::{openat, Mode, OFlags, CWD};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use strata_model::ModuleDefinition;
use strata_registry::{
    ArtifactKind, ComposeRecord, ComposeType, Input, InputKind, Outputs, Owner, Registry, State,
};

use crate::stack::Layer;

/// The first line of a memo: what it is, and the version of its format.
const MAGIC: &[u8] = b"strata stack memo 1\n";

/// The most a memo file may hold (compressed): a stack of 410 layers
/// keeps about 60 KiB.
const MAX_MEMO_BYTES: u64 = 16 << 20;

/// The most a memo may hold once decompressed: about 1 KiB a layer.
const MAX_MEMO_TEXT: u64 = 128 << 20;

/// The zstd level memos are written at: level 3 made a deep stack's memo
/// 1% smaller than level 1, a millisecond slower.
const LEVEL: i32 = 1;

/// What a memo is of.
#[derive(Serialize, Deserialize)]
struct Header<S> {
    /// [`Registry::identity`] of the registry the records were read from.
    registry: S,
    /// `name:stream` of the module whose stack it is.
    module: S,
    /// The module's requires the walk started from, `(name, stream)`,
    /// platform included.
    requires: Vec<(S, S)>,
    /// How many layers follow, in the walk's order.
    layers: usize,
}

/// How stale a memo's last-use mark (its mtime) may be.
const TOUCH_EVERY: std::time::Duration = std::time::Duration::from_secs(600);

/// A [`Layer`] as a memo keeps it.
#[derive(Serialize, Deserialize)]
struct Kept<S> {
    record: Lean<S>,
    requires: Vec<S>,
    direct: bool,
    required_by: S,
}

/// A lean record ([`Registry::latest_good_lean`]) as a memo keeps it,
/// each field in order, none named: decoding a deep stack's records from
/// JSON took longer than reading them from the registry had. What a lean
/// record leaves empty (package lists, modulemd, timings, report) is not
/// kept; a record that has any is not kept at all. A field added to the
/// record is a new version of the memo ([`MAGIC`]).
#[derive(Serialize, Deserialize)]
struct Lean<S> {
    id: S,
    name: S,
    stream: S,
    compose_type: ComposeType,
    date: S,
    respin: u32,
    state: State,
    version: u64,
    context: S,
    definition_path: S,
    definition_digest: S,
    scm_ref: Option<S>,
    arches: Vec<S>,
    /// `(kind, name, ident, location)`.
    inputs: Vec<(InputKind, S, S, S)>,
    outputs: Option<Published<S>>,
    started_at: i64,
    finished_at: Option<i64>,
    error: Option<S>,
    /// `(host, pid, start_time, boot_id, pid_namespace)`.
    owner: Option<(S, u32, u64, S, Option<u64>)>,
    artifact: Option<ArtifactKind>,
    stack_digest: Option<S>,
}

/// Where a compose was published: its directory, `(arch, repository)`,
/// its build ID.
type Published<S> = (S, Vec<(S, S)>, Option<S>);

impl<'a> Lean<&'a str> {
    /// `record` as kept, if it is a lean record whose paths are UTF-8.
    fn of(record: &'a ComposeRecord) -> Option<Self> {
        // Every field named: one added to the record must be seen here.
        let ComposeRecord {
            id,
            name,
            stream,
            compose_type,
            date,
            respin,
            state,
            version,
            context,
            definition_path,
            definition_digest,
            scm_ref,
            arches,
            inputs,
            packages,
            outputs,
            started_at,
            finished_at,
            timings,
            error,
            report,
            owner,
            modulemd,
            artifact,
            stack_digest,
        } = record;
        if !packages.is_empty() || !modulemd.is_empty() || timings.is_some() || report.is_some() {
            return None;
        }
        let outputs = match outputs {
            Some(o) => Some((
                o.path.to_str()?,
                o.repos
                    .iter()
                    .map(|(arch, p)| Some((arch.as_str(), p.to_str()?)))
                    .collect::<Option<Vec<_>>>()?,
                o.build_id.as_deref(),
            )),
            None => None,
        };
        Some(Lean {
            id,
            name,
            stream,
            compose_type: *compose_type,
            date,
            respin: *respin,
            state: *state,
            version: *version,
            context,
            definition_path: definition_path.to_str()?,
            definition_digest,
            scm_ref: scm_ref.as_deref(),
            arches: arches.iter().map(String::as_str).collect(),
            inputs: inputs
                .iter()
                .map(|i| {
                    (
                        i.kind,
                        i.name.as_str(),
                        i.ident.as_str(),
                        i.location.as_str(),
                    )
                })
                .collect(),
            outputs,
            started_at: *started_at,
            finished_at: *finished_at,
            error: error.as_deref(),
            owner: owner.as_ref().map(|o| {
                (
                    o.host.as_str(),
                    o.pid,
                    o.start_time,
                    o.boot_id.as_str(),
                    o.pid_namespace,
                )
            }),
            artifact: *artifact,
            stack_digest: stack_digest.as_deref(),
        })
    }
}

impl Lean<String> {
    fn into_record(self) -> ComposeRecord {
        ComposeRecord {
            id: self.id,
            name: self.name,
            stream: self.stream,
            compose_type: self.compose_type,
            date: self.date,
            respin: self.respin,
            state: self.state,
            version: self.version,
            context: self.context,
            definition_path: self.definition_path.into(),
            definition_digest: self.definition_digest,
            scm_ref: self.scm_ref,
            arches: self.arches,
            inputs: self
                .inputs
                .into_iter()
                .map(|(kind, name, ident, location)| Input {
                    kind,
                    name,
                    ident,
                    location,
                })
                .collect(),
            packages: Default::default(),
            outputs: self.outputs.map(|(path, repos, build_id)| Outputs {
                path: path.into(),
                repos: repos.into_iter().map(|(a, p)| (a, p.into())).collect(),
                build_id,
            }),
            started_at: self.started_at,
            finished_at: self.finished_at,
            timings: None,
            error: self.error,
            report: None,
            owner: self
                .owner
                .map(|(host, pid, start_time, boot_id, pid_namespace)| Owner {
                    host,
                    pid,
                    start_time,
                    boot_id,
                    pid_namespace,
                }),
            modulemd: Default::default(),
            artifact: self.artifact,
            stack_digest: self.stack_digest,
        }
    }
}

/// What a memo holds that the registry still names as its streams' last
/// good composes.
enum Recalled {
    /// Every layer, and the walk would start from the same requires: the
    /// walk's answer, as the walk would give it (it reads no more than
    /// the memo holds, and finds the same).
    Whole(Vec<Layer>),
    /// The records of some, by name ([`Records`]). The walk asks the
    /// registry for the others.
    Some(Records),
}

/// Records by name (a stack holds one stream of each), each with its
/// name moved out into the key ([`by_name`], [`take`]): a deep stack's
/// hundreds of records are found without a copy of a name or a stream.
type Records = HashMap<String, ComposeRecord>;

/// The stack below `def`, as [`crate::stack::resolve_with`] finds it:
/// from the memo in cache directory `cache` where it still holds, else
/// asking the registry only for the layers the memo does not hold; the
/// memo is kept again when the walk read anything, or it held more than
/// the stack now does. `ahead` is given every layer's record as it is
/// found, to load its repositories ahead. A walk with a pin (in the
/// definition or `with`) uses the memo for the other layers, but does not
/// keep one. The memo to keep is returned with the stack, for the caller
/// to write once it is not waiting on the walk ([`Keep::write`]): writing
/// a deep stack's memo took milliseconds.
pub(crate) fn resolve(
    def: &ModuleDefinition,
    registry: &dyn Registry,
    with: &[String],
    cache: Option<&Path>,
    ahead: &mut dyn FnMut(&[&ComposeRecord], bool),
) -> crate::error::Result<(Vec<Layer>, Option<Keep>)> {
    // A module without a stack has nothing to remember.
    let cache = cache.filter(|_| def.module_requires().next().is_some());
    let identity = cache.and_then(|dir| match registry.identity() {
        Ok(identity) => Some((dir, identity)),
        Err(e) => {
            tracing::debug!("no stack memo: {e}");
            None
        }
    });
    let pinned = !def.compose_pins.is_empty() || !with.is_empty();
    let recalled = identity.as_ref().and_then(|(dir, identity)| {
        recall(dir, registry, identity, def, pinned, &mut |layers| {
            ahead(&layers.iter().map(|l| &l.record).collect::<Vec<_>>(), false);
        })
    });
    let mut records = match recalled {
        // The walk's answer, as it would give it again; its layers are
        // loading ahead already.
        Some(Recalled::Whole(layers)) => return Ok((layers, None)),
        Some(Recalled::Some(records)) => Some(records),
        None => None,
    };
    let mut read_here = 0;
    let layers = crate::stack::resolve_with(def, registry, with, &mut |streams| {
        // Each taken once: the walk asks a stream once.
        let mut got: Vec<Option<ComposeRecord>> = match &mut records {
            Some(memo) => streams.iter().map(|(n, s)| take(memo, n, s)).collect(),
            None => vec![None; streams.len()],
        };
        let missing: Vec<(usize, (&str, &str))> = streams
            .iter()
            .enumerate()
            .filter(|(i, _)| got[*i].is_none())
            .map(|(i, s)| (i, *s))
            .collect();
        if !missing.is_empty() {
            read_here += missing.len();
            let asked: Vec<(&str, &str)> = missing.iter().map(|(_, s)| *s).collect();
            let read = registry.latest_good_lean_many(&asked)?;
            // (The memo's are loading ahead already.) With a memo, what
            // the walk reads was composed since, or is a module the memo
            // lent does not hold (one the module requires, as likely
            // new): loaded by no compose yet, the slowest to load, so
            // ahead of the memo's.
            ahead(
                &read.iter().flatten().collect::<Vec<_>>(),
                records.is_some(),
            );
            for ((i, _), rec) in missing.iter().zip(read) {
                got[*i] = rec;
            }
        }
        Ok(got)
    })?;
    // Not after a walk with a pin: a memo without the pinned layer would
    // be the whole answer of the next walk without it.
    let untaken = |m: &Records| !m.is_empty();
    let keep = identity
        .filter(|_| !pinned && (read_here > 0 || records.as_ref().is_none_or(untaken)))
        .map(|(dir, identity)| Keep {
            path: memo_path(dir, &identity, &def.nsv()),
            identity,
            module: def.nsv(),
            requires: def.requires.clone().into_iter().collect(),
        });
    Ok((layers, keep))
}

/// Where the memo of `module`'s stack read from registry `identity` is.
fn memo_path(dir: &Path, identity: &str, module: &str) -> PathBuf {
    let mut h = Sha256::new();
    for part in [identity, module] {
        h.update((part.len() as u64).to_le_bytes());
        h.update(part.as_bytes());
    }
    dir.join(format!("stack-{}.strata", &hex::encode(h.finalize())[..32]))
}

/// The memo of `def`'s stack, with only the records `registry` still
/// names as last good; whole if it holds every layer and `def` requires
/// what it did (and `pinned`, nothing is pinned: a pinned compose is read
/// by its ID). Where `def` has no memo of its own (its first compose, or
/// one with another cache), the largest memo of a module it requires
/// lends its records: that module's stack is a part of `def`'s. `None`
/// where there is none, or none to use (each reason a debug message): a
/// memo only saves reads. `ahead` is given the layers as soon as they are
/// read, before they are checked: to load their repositories ahead, by
/// compose ID (read in chunks of 32 layers, each given as it was read,
/// the loads started earlier but the deepest compose took a millisecond
/// longer).
fn recall(
    dir: &Path,
    registry: &dyn Registry,
    identity: &str,
    def: &ModuleDefinition,
    pinned: bool,
    ahead: &mut dyn FnMut(&[Layer]),
) -> Option<Recalled> {
    let module = def.nsv();
    let path = memo_path(dir, identity, &module);
    let wanted = |header: &Header<String>| header.registry == identity && header.module == module;
    let (header, layers) = match read(&path, &wanted) {
        Ok(memo) => memo,
        Err(why) => {
            tracing::debug!(path = %path.display(), "no stack memo to use: {why}");
            return lent(dir, registry, identity, def, ahead).map(Recalled::Some);
        }
    };
    ahead(&layers);
    let count = layers.len();
    let layers = holding(registry, layers)?;
    tracing::debug!(
        module,
        kept = count,
        holding = layers.len(),
        "stack memo checked"
    );
    let same_requires = !pinned
        && header
            .requires
            .iter()
            .map(|(m, s)| (m.as_str(), s.as_str()))
            .eq(def.requires.iter().map(|(m, s)| (m.as_str(), s.as_str())));
    if same_requires && layers.len() == count {
        return Some(Recalled::Whole(layers));
    }
    Some(Recalled::Some(by_name(layers)))
}

/// The records of the largest memo (by its file's size: about 150 bytes
/// a layer) of a module `def` requires, that `registry` still
/// names as last good. What the required module's stack holds is a part
/// of `def`'s stack; what it no longer holds, the walk does not ask for.
fn lent(
    dir: &Path,
    registry: &dyn Registry,
    identity: &str,
    def: &ModuleDefinition,
    ahead: &mut dyn FnMut(&[Layer]),
) -> Option<Records> {
    let (size, module, path) = def
        .module_requires()
        .filter_map(|(name, stream)| {
            let module = format!("{name}:{stream}");
            let path = memo_path(dir, identity, &module);
            // Not through a symlink: `read` refuses one anyway.
            let meta = std::fs::symlink_metadata(&path).ok()?;
            meta.is_file().then_some((meta.len(), module, path))
        })
        .max_by_key(|(size, ..)| *size)?;
    let wanted = |header: &Header<String>| header.registry == identity && header.module == module;
    let layers = match read(&path, &wanted) {
        Ok((_, layers)) => layers,
        Err(why) => {
            tracing::debug!(path = %path.display(), "no stack memo to borrow: {why}");
            return None;
        }
    };
    ahead(&layers);
    let count = layers.len();
    let layers = holding(registry, layers)?;
    tracing::debug!(
        module = def.nsv(),
        from = module,
        size,
        kept = count,
        holding = layers.len(),
        "stack memo of a required module borrowed"
    );
    Some(by_name(layers))
}

/// The `layers` whose records `registry` still names as their streams'
/// last good composes; `None` (a debug message) if it cannot say.
fn holding(registry: &dyn Registry, layers: Vec<Layer>) -> Option<Vec<Layer>> {
    let streams: Vec<(&str, &str)> = layers
        .iter()
        .map(|l| (l.record.name.as_str(), l.record.stream.as_str()))
        .collect();
    let ids = match registry.latest_good_ids(&streams) {
        Ok(ids) => ids,
        Err(e) => {
            tracing::debug!("cannot check the stack memo against the registry: {e}");
            return None;
        }
    };
    Some(
        layers
            .into_iter()
            .zip(&ids)
            .filter(|(l, id)| {
                id.as_deref() == Some(l.record.id.as_str()) && l.record.state == State::Finished
            })
            .map(|(l, _)| l)
            .collect(),
    )
}

/// `layers`' records, by name; each record's name is its key, until
/// [`take`] puts it back.
fn by_name(layers: Vec<Layer>) -> Records {
    layers
        .into_iter()
        .map(|l| {
            let mut record = l.record;
            (std::mem::take(&mut record.name), record)
        })
        .collect()
}

/// The record of `name:stream` in `records`, taken out whole.
fn take(records: &mut Records, name: &str, stream: &str) -> Option<ComposeRecord> {
    if records.get(name)?.stream != stream {
        return None;
    }
    let (name, mut record) = records.remove_entry(name)?;
    record.name = name;
    Some(record)
}

/// The memo at `path`, checked: a regular file (not through a symlink),
/// at most [`MAX_MEMO_BYTES`], [`MAGIC`] then two zstd frames whose
/// checksums hold, of at most [`MAX_MEMO_TEXT`] in all: a [`Header`] that
/// `wanted` takes, then the layers it counts.
fn read(
    path: &Path,
    wanted: &dyn Fn(&Header<String>) -> bool,
) -> Result<(Header<String>, Vec<Layer>), String> {
    let fd = openat(
        CWD,
        path,
        OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| e.to_string())?;
    let file = std::fs::File::from(fd);
    let meta = file.metadata().map_err(|e| e.to_string())?;
    if !meta.file_type().is_file() {
        return Err("not a regular file".into());
    }
    // Marked used (its mtime) for the cache's prune, as its other entries
    // are: at most every ten minutes.
    let now = std::time::SystemTime::now();
    if meta
        .modified()
        .ok()
        .and_then(|m| now.duration_since(m).ok())
        .is_none_or(|age| age >= TOUCH_EVERY)
    {
        let _ = file.set_modified(now);
    }
    let mut bytes = Vec::new();
    (&file)
        .take(MAX_MEMO_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| e.to_string())?;
    if bytes.len() as u64 > MAX_MEMO_BYTES {
        return Err(format!("larger than {MAX_MEMO_BYTES} bytes"));
    }
    let mut rest = bytes
        .strip_prefix(MAGIC)
        .ok_or("not a stack memo of this version")?;
    let mut budget = MAX_MEMO_TEXT;
    let mut frame = |rest: &mut &[u8]| -> Result<Vec<u8>, String> {
        // Decompressed at once into a buffer of the size the frame says
        // (a memo's always do): in a stream, it took twice as long.
        let len = zstd::zstd_safe::find_frame_compressed_size(rest)
            .map_err(|_| "cut short, or not zstd frames")?;
        let (one, after) = rest.split_at(len);
        *rest = after;
        let size = zstd::zstd_safe::get_frame_content_size(one)
            .ok()
            .flatten()
            .ok_or("a frame does not say its size")?;
        budget = budget
            .checked_sub(size)
            .ok_or(format!("more than {MAX_MEMO_TEXT} bytes decompressed"))?;
        zstd::bulk::decompress(one, size as usize).map_err(|e| format!("does not decompress: {e}"))
    };
    let damaged = |e: postcard::Error| format!("not a stack memo: {e}");
    let header: Header<String> = postcard::from_bytes(&frame(&mut rest)?).map_err(damaged)?;
    if !wanted(&header) {
        return Err("of another registry or module".into());
    }
    let kept: Vec<Kept<String>> = postcard::from_bytes(&frame(&mut rest)?).map_err(damaged)?;
    if kept.len() != header.layers || !rest.is_empty() {
        return Err("does not hold the layers it counts".into());
    }
    let layers = kept
        .into_iter()
        .map(|k| Layer {
            record: k.record.into_record(),
            requires: k.requires,
            direct: k.direct,
            pinned: false,
            required_by: k.required_by,
        })
        .collect();
    Ok((header, layers))
}

/// A memo to keep: of the stack of `module` (`name:stream`), which starts
/// from `requires`, read from registry `identity`, at `path`.
pub(crate) struct Keep {
    path: PathBuf,
    identity: String,
    module: String,
    requires: Vec<(String, String)>,
}

impl Keep {
    /// Keeps the layers the walk found (`layers`, as [`resolve`] returned
    /// them) as the memo: those taken as their streams' last good composes
    /// (a pinned one is read whole, by ID, and not asked of a memo). A
    /// memo that cannot be written only costs reads next time: a debug
    /// message.
    pub(crate) fn write(self, layers: &[Layer]) {
        let Keep {
            path,
            identity,
            module,
            requires,
        } = self;
        let header = Header {
            registry: identity.as_str(),
            module: module.as_str(),
            requires: requires
                .iter()
                .map(|(m, s)| (m.as_str(), s.as_str()))
                .collect(),
            layers: layers.iter().filter(|l| !l.pinned).count(),
        };
        let kept: Option<Vec<Kept<&str>>> = layers
            .iter()
            .filter(|l| !l.pinned)
            .map(|l| {
                Some(Kept {
                    record: Lean::of(&l.record)?,
                    requires: l.requires.iter().map(String::as_str).collect(),
                    direct: l.direct,
                    required_by: l.required_by.as_str(),
                })
            })
            .collect();
        let Some(kept) = kept else {
            tracing::debug!(
                module,
                "a layer's record is not lean, or has a path that is not UTF-8: no stack memo"
            );
            return;
        };
        let written = (|| -> std::io::Result<()> {
            let mut bytes = MAGIC.to_vec();
            let mut frame = |data: Vec<u8>| -> std::io::Result<()> {
                let mut enc = zstd::stream::write::Encoder::new(&mut bytes, LEVEL)?;
                enc.include_checksum(true)?;
                enc.set_pledged_src_size(Some(data.len() as u64))?;
                std::io::Write::write_all(&mut enc, &data)?;
                enc.finish()?;
                Ok(())
            };
            let encode = |e: postcard::Error| std::io::Error::other(e.to_string());
            frame(postcard::to_allocvec(&header).map_err(encode)?)?;
            frame(postcard::to_allocvec(&kept).map_err(encode)?)?;
            let dir = path
                .parent()
                .expect("a memo's path is in the cache directory");
            std::fs::create_dir_all(dir)?;
            let mut tmp = tempfile::Builder::new()
                .prefix(".tmp-stack-")
                .tempfile_in(dir)?;
            std::io::Write::write_all(&mut tmp, &bytes)?;
            tmp.persist(&path).map_err(|e| e.error)?;
            Ok(())
        })();
        match written {
            Ok(()) => {
                tracing::debug!(path = %path.display(), layers = kept.len(), "stack memo kept")
            }
            Err(e) => tracing::debug!(path = %path.display(), "cannot keep the stack memo: {e}"),
        }
    }
}

#[cfg(test)]
mod test {
    use super::*;
    use crate::stack::test::{compose, def, module};
    use std::collections::BTreeMap;
    use strata_registry::SqliteRegistry;

    /// What a layer is, field by field (a layer is not `PartialEq`).
    fn shown(layers: &[Layer]) -> Vec<String> {
        layers
            .iter()
            .map(|l| {
                format!(
                    "{:?} {:?} {} {} {}",
                    l.record, l.requires, l.direct, l.pinned, l.required_by
                )
            })
            .collect()
    }

    /// The stack of `def` resolved through a memo in `cache`, and the IDs
    /// of the records it asked the registry for.
    fn remembered(
        def: &ModuleDefinition,
        reg: &SqliteRegistry,
        with: &[String],
        cache: &Path,
    ) -> (Vec<Layer>, Vec<String>) {
        let mut found = Vec::new();
        let (layers, keep) = resolve(def, reg, with, Some(cache), &mut |records, _| {
            found.extend(records.iter().map(|r| r.id.clone()))
        })
        .unwrap();
        if let Some(keep) = keep {
            keep.write(&layers);
        }
        (layers, found)
    }

    /// A registry in `dir` holding base, ssl on it and apache on both (their
    /// compose IDs), and a cache directory beside it.
    fn three(dir: &Path) -> (PathBuf, SqliteRegistry, [String; 3]) {
        let mut reg = SqliteRegistry::open(&dir.join("r.sqlite")).unwrap();
        let base = compose(&mut reg, "base:f40", &[], true);
        let ssl = compose(&mut reg, "ssl:3", &[&base], true);
        let apache = compose(&mut reg, "apache:2.4", &[&base, &ssl], true);
        (dir.join("cache"), reg, [base, ssl, apache])
    }

    #[test]
    fn a_first_walk_borrows_the_largest_memo_of_a_module_it_requires() {
        let dir = tempfile::tempdir().unwrap();
        let (cache, mut reg, [base, ssl, apache]) = three(dir.path());
        let php = compose(&mut reg, "php:8.2", &[&apache, &ssl], true);
        // The memos of apache's stack (two layers) and php's (three).
        remembered(
            &module("apache", "2.4", &[("base", "f40"), ("ssl", "3")], &[]),
            &reg,
            &[],
            &cache,
        );
        remembered(
            &def(&[("apache", "2.4"), ("ssl", "3")], &[]),
            &reg,
            &[],
            &cache,
        );
        let app = module("app", "1", &[("apache", "2.4"), ("php", "8.2")], &[]);
        let plain = |reg: &SqliteRegistry| shown(&crate::stack::resolve(&app, reg, &[]).unwrap());
        let sorted = |mut ids: Vec<String>| {
            ids.sort();
            ids
        };

        // The first walk of app: php's memo answers for its three layers
        // (they load ahead at once), the registry for php itself, which
        // loads ahead of them.
        let (mut ahead, mut urgent) = (Vec::new(), Vec::new());
        let (first, keep) = resolve(&app, &reg, &[], Some(&cache), &mut |records, first| {
            let ids = records.iter().map(|r| r.id.clone());
            if first {
                urgent.extend(ids)
            } else {
                ahead.extend(ids)
            }
        })
        .unwrap();
        keep.expect("a first walk keeps its memo").write(&first);
        assert_eq!(shown(&first), plain(&reg));
        assert_eq!(
            sorted(ahead),
            sorted(vec![base.clone(), ssl.clone(), apache.clone()])
        );
        assert_eq!(urgent, [php.as_str()]);
        // And app keeps a memo of its own, which is the next walk's whole
        // answer.
        let identity = reg.identity().unwrap();
        let own = memo_path(&cache, &identity, &app.nsv());
        assert!(own.is_file());
        let whole = recall(&cache, &reg, &identity, &app, false, &mut |_| {}).unwrap();
        assert!(matches!(whole, Recalled::Whole(l) if l.len() == 4));

        // What the lent memo holds that is no longer last good is read.
        let ssl2 = compose(&mut reg, "ssl:3", &[&base], true);
        std::fs::remove_file(&own).unwrap();
        let (after, ahead) = remembered(&app, &reg, &[], &cache);
        assert_eq!(shown(&after), plain(&reg));
        assert!(after.iter().any(|l| l.record.id == ssl2));
        assert_eq!(sorted(ahead[3..].to_vec()), sorted(vec![php.clone(), ssl2]));

        // A damaged memo, the largest, is not used: the walk reads every
        // layer.
        std::fs::remove_file(&own).unwrap();
        let lent = memo_path(&cache, &identity, "php:8.2");
        std::fs::write(&lent, [MAGIC, &[0xab; 100_000][..]].concat()).unwrap();
        let (again, ahead) = remembered(&app, &reg, &[], &cache);
        assert_eq!(shown(&again), plain(&reg));
        assert_eq!(ahead.len(), 4, "each layer read once: {ahead:?}");
        assert!(
            !ahead[..2].contains(&base),
            "read in waves, top first: {ahead:?}"
        );
    }

    #[test]
    fn a_memo_answers_the_walk_as_the_registry_would_and_only_while_it_holds() {
        let dir = tempfile::tempdir().unwrap();
        let (cache, mut reg, [base, ssl, apache]) = three(dir.path());
        let php = def(&[("apache", "2.4"), ("ssl", "3")], &[]);
        let plain = |reg: &SqliteRegistry| crate::stack::resolve(&php, reg, &[]).unwrap();

        // No memo yet: the walk, kept.
        let (first, ahead) = remembered(&php, &reg, &[], &cache);
        assert_eq!(shown(&first), shown(&plain(&reg)));
        assert_eq!(ahead.len(), 3, "each layer loads ahead once: {ahead:?}");
        let files: Vec<_> = std::fs::read_dir(&cache).unwrap().collect();
        assert_eq!(files.len(), 1);
        // Again: the memo's answer, every layer loading ahead, the same.
        let (again, ahead) = remembered(&php, &reg, &[], &cache);
        assert_eq!(shown(&again), shown(&first));
        assert_eq!(ahead, [base.clone(), ssl.clone(), apache.clone()]);
        let identity = reg.identity().unwrap();
        let whole = recall(&cache, &reg, &identity, &php, false, &mut |_| {}).unwrap();
        assert!(matches!(whole, Recalled::Whole(_)));

        // A layer composed again: the others still come from the memo, the
        // new one from the registry, and the stack is the registry's.
        let ssl2 = compose(&mut reg, "ssl:3", &[&base], true);
        let recalled = recall(&cache, &reg, &identity, &php, false, &mut |_| {}).unwrap();
        let Recalled::Some(records) = &recalled else {
            panic!("a memo with a stale layer is not whole")
        };
        assert_eq!(records.len(), 2);
        assert!(!records.contains_key("ssl"));
        let (after, ahead) = remembered(&php, &reg, &[], &cache);
        assert_eq!(shown(&after), shown(&plain(&reg)));
        assert!(after.iter().any(|l| l.record.id == ssl2));
        // Loaded ahead: the memo's three, then the one read.
        assert_eq!(
            ahead,
            [base.clone(), ssl.clone(), apache.clone(), ssl2.clone()]
        );
        // Kept again: whole.
        let whole = recall(&cache, &reg, &identity, &php, false, &mut |_| {}).unwrap();
        assert!(matches!(whole, Recalled::Whole(_)));

        // A compose that is not good any more is not taken from the memo:
        // a failed newer one changes nothing, one that needs a test does.
        compose(&mut reg, "base:f40", &[], false);
        assert_eq!(
            shown(&remembered(&php, &reg, &[], &cache).0),
            shown(&plain(&reg))
        );
        let base2 = compose(&mut reg, "base:f40", &[], true);
        let (after, _) = remembered(&php, &reg, &[], &cache);
        assert_eq!(after[0].record.id, base2);
        assert_eq!(shown(&after), shown(&plain(&reg)));

        // Other requires: not whole, and the walk's answer is the
        // registry's (a layer fewer; the memo is kept again, smaller).
        let fewer = def(&[("ssl", "3")], &[]);
        let recalled = recall(&cache, &reg, &identity, &fewer, false, &mut |_| {}).unwrap();
        assert!(
            matches!(recalled, Recalled::Some(_)),
            "the memo is of php:8.2 with other requires"
        );
        let (ssl_only, _) = remembered(&fewer, &reg, &[], &cache);
        assert_eq!(
            shown(&ssl_only),
            shown(&crate::stack::resolve(&fewer, &reg, &[]).unwrap())
        );
        assert_eq!(ssl_only.len(), 2);
        // Every layer it found came from the memo, which held more: kept
        // again, it is the next walk's whole answer.
        let whole = recall(&cache, &reg, &identity, &fewer, false, &mut |_| {}).unwrap();
        assert!(matches!(whole, Recalled::Whole(ref l) if l.len() == 2));
        // A pin: the pinned layer read by its ID, the others still from
        // the memo; never whole.
        let (pinned, _) = remembered(&php, &reg, std::slice::from_ref(&ssl), &cache);
        assert_eq!(
            shown(&pinned),
            shown(&crate::stack::resolve(&php, &reg, std::slice::from_ref(&ssl)).unwrap())
        );
        assert!(pinned.iter().any(|l| l.pinned && l.record.id == ssl));
        let recalled = recall(&cache, &reg, &identity, &php, true, &mut |_| {}).unwrap();
        assert!(matches!(recalled, Recalled::Some(_)));
        // Nor kept after it: the next walk without the pin still finds the
        // layer pinned before.
        let (unpinned, _) = remembered(&php, &reg, &[], &cache);
        assert_eq!(shown(&unpinned), shown(&plain(&reg)));
        assert_eq!(unpinned.len(), 3);

        // Another stream of a module the memo holds: that stream is read
        // from the registry, not the memo's record of the other.
        let ssl4 = compose(&mut reg, "ssl:4", &[&base2], true);
        let other = def(&[("ssl", "4")], &[]);
        let (ssl4_only, read) = remembered(&other, &reg, &[], &cache);
        assert_eq!(
            shown(&ssl4_only),
            shown(&crate::stack::resolve(&other, &reg, &[]).unwrap())
        );
        assert_eq!(ssl4_only[1].record.id, ssl4);
        assert_eq!(read.last(), Some(&ssl4));
    }

    #[test]
    fn a_memo_of_another_registry_or_a_damaged_one_is_not_used() {
        let dir = tempfile::tempdir().unwrap();
        let cache = dir.path().join("cache");
        let php = def(&[("apache", "2.4")], &[]);
        // Two registries handing out the same compose IDs for different
        // composes: apache requires base in one, not in the other.
        let mut one = SqliteRegistry::open(&dir.path().join("one.sqlite")).unwrap();
        let base = compose(&mut one, "base:f40", &[], true);
        compose(&mut one, "apache:2.4", &[&base], true);
        let mut two = SqliteRegistry::open(&dir.path().join("two.sqlite")).unwrap();
        compose(&mut two, "apache:2.4", &[], true);
        let (layers, _) = remembered(&php, &one, &[], &cache);
        assert_eq!(layers.len(), 2);
        let (layers, _) = remembered(&php, &two, &[], &cache);
        assert_eq!(layers.len(), 1, "not the other registry's memo");
        // A module without a stack keeps none.
        let files = || std::fs::read_dir(&cache).unwrap().count();
        assert_eq!(files(), 2);
        assert!(remembered(&def(&[], &[]), &one, &[], &cache).0.is_empty());
        assert_eq!(files(), 2);
        assert_eq!(shown(&remembered(&php, &one, &[], &cache).0).len(), 2);

        // Whatever the memo file holds, the walk's answer is the
        // registry's, and the memo is written again.
        let identity = one.identity().unwrap();
        let path = memo_path(&cache, &identity, &php.nsv());
        let good = std::fs::read(&path).unwrap();
        let want = shown(&crate::stack::resolve(&php, &one, &[]).unwrap());
        let mut damaged: Vec<Vec<u8>> = vec![
            Vec::new(),
            b"strata stack memo 1\n".to_vec(),
            good[..good.len() - 1].to_vec(),
            [&good[..], b"x"].concat(),
            b"strata stack memo 0\n".to_vec(),
        ];
        // A byte flipped in the layers' frame: its checksum does not hold.
        let mut flipped = good.clone();
        let at = flipped.len() - 8;
        flipped[at] ^= 0x40;
        damaged.push(flipped);
        // Frames that are not what they say, behind the magic.
        let mut bogus = MAGIC.to_vec();
        bogus.extend(zstd::bulk::compress(b"not postcard at all", 1).unwrap());
        damaged.push(bogus);
        for (i, bytes) in damaged.iter().enumerate() {
            std::fs::write(&path, bytes).unwrap();
            assert!(read(&path, &|_| true).is_err(), "damaged memo {i} read");
            assert_eq!(shown(&remembered(&php, &one, &[], &cache).0), want, "{i}");
            assert_eq!(std::fs::read(&path).unwrap(), good, "{i}: kept again");
        }
        // Not through a symlink, and not what is not a regular file.
        std::fs::remove_file(&path).unwrap();
        let elsewhere = dir.path().join("elsewhere");
        std::fs::write(&elsewhere, &good).unwrap();
        std::os::unix::fs::symlink(&elsewhere, &path).unwrap();
        assert!(read(&path, &|_| true).is_err());
        std::fs::remove_file(&path).unwrap();
        std::fs::create_dir(&path).unwrap();
        assert!(read(&path, &|_| true).is_err());
        assert_eq!(shown(&remembered(&php, &one, &[], &cache).0), want);
        std::fs::remove_dir(&path).unwrap();
        assert_eq!(shown(&remembered(&php, &one, &[], &cache).0), want);
        assert_eq!(std::fs::read(&path).unwrap(), good, "kept again");
        // Used, it is marked used for the cache's prune, as its other
        // entries are (not more often than every ten minutes).
        let old = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
        std::fs::File::options()
            .write(true)
            .open(&path)
            .unwrap()
            .set_modified(old)
            .unwrap();
        read(&path, &|_| true).unwrap();
        let used = std::fs::metadata(&path).unwrap().modified().unwrap();
        assert!(used > old + std::time::Duration::from_secs(3000));
        // Larger than the bound: refused before it is decompressed.
        std::fs::write(&path, vec![0u8; MAX_MEMO_BYTES as usize + 1]).unwrap();
        let err = read(&path, &|_| true).err().unwrap();
        assert!(err.contains("larger than"), "{err}");
    }

    #[test]
    fn a_lean_record_is_kept_field_for_field_and_only_a_lean_one() {
        let record = ComposeRecord {
            id: "php-8.2-20261125.n.0".into(),
            name: "php".into(),
            stream: "8.2".into(),
            compose_type: ComposeType::Production,
            date: "20261125".into(),
            respin: 3,
            state: State::Finished,
            version: 20261125100000,
            context: "deadbeef".into(),
            definition_path: "/srv/defs/php.yaml".into(),
            definition_digest: "ab".repeat(32),
            scm_ref: Some("git+https://src/php#main".into()),
            arches: vec!["x86_64".into(), "aarch64".into()],
            inputs: vec![Input {
                kind: InputKind::Platform,
                name: "f40.x86_64".into(),
                ident: "sha256:00".into(),
                location: "/srv/f40".into(),
            }],
            packages: Default::default(),
            outputs: Some(Outputs {
                path: "/srv/out/php".into(),
                repos: BTreeMap::from([("x86_64".into(), "/srv/out/php/os".into())]),
                build_id: Some("sha256:11".into()),
            }),
            started_at: 1_795_600_800,
            finished_at: Some(1_795_600_900),
            timings: None,
            error: Some("none, really".into()),
            report: None,
            owner: Some(Owner {
                host: "builder".into(),
                pid: 42,
                start_time: 7,
                boot_id: "b".into(),
                pid_namespace: Some(4026531836),
            }),
            modulemd: Default::default(),
            artifact: Some(ArtifactKind::Iso),
            stack_digest: Some(format!("sha256:{}", "0".repeat(64))),
        };
        let kept = postcard::to_allocvec(&Lean::of(&record).unwrap()).unwrap();
        let back: Lean<String> = postcard::from_bytes(&kept).unwrap();
        assert_eq!(back.into_record(), record);
        let mut bare = record.clone();
        (bare.scm_ref, bare.outputs, bare.error, bare.owner) = (None, None, None, None);
        (bare.finished_at, bare.artifact, bare.stack_digest) = (None, None, None);
        let kept = postcard::to_allocvec(&Lean::of(&bare).unwrap()).unwrap();
        let back: Lean<String> = postcard::from_bytes(&kept).unwrap();
        assert_eq!(back.into_record(), bare);
        // What a lean read leaves empty, a memo does not keep.
        let mut whole = record.clone();
        whole.timings = Some(serde_json::json!({"load_s": 1.0}));
        assert!(Lean::of(&whole).is_none());
        let mut whole = record.clone();
        whole
            .packages
            .entry("x86_64".into())
            .or_default()
            .insert("php-8.2.0-1.x86_64".into());
        assert!(Lean::of(&whole).is_none());
        let mut whole = record;
        whole.modulemd.insert("x86_64".into(), "---".into());
        assert!(Lean::of(&whole).is_none());
    }
}
