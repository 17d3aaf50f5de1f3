//! A container artifact: the root filesystem as an OCI image layout
//! (`oci-layout`, `index.json`, blobs: manifest, config, one gzip layer),
//! reproducible: tar entries sorted by path, every mtime the artifact's
//! time (`SOURCE_DATE_EPOCH` or the compose's), owners as installed with
//! the invoking user's own IDs written as root's (so the same inputs give
//! the same bytes whoever builds them), gzip without a timestamp, JSON
//! with sorted keys. The manifest's digest is the build ID.
//!
//! The types are oci-spec's; only the JSON is written here, with keys
//! sorted, because oci-spec keeps labels in a `HashMap` whose order
//! changes from run to run.

use crate::error::{io, ComposeError, Result};
use crate::staging::Remover;
use oci_spec::image::{
    Arch, ConfigBuilder, Descriptor, DescriptorBuilder, ImageConfigurationBuilder,
    ImageIndexBuilder, ImageManifestBuilder, MediaType, Os, PlatformBuilder, RootFsBuilder,
    Sha256Digest,
};
use sha2::{Digest as _, Sha256};
use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use strata_model::ContainerSettings;
use strata_repodata::ParallelGz;

/// The image's tag in `index.json` (`skopeo inspect oci:DIR:latest`).
pub(crate) const REF_NAME: &str = "latest";

/// What goes into the image besides the root filesystem.
pub(crate) struct Image<'a> {
    pub root: &'a Path,
    /// The OCI layout directory to create.
    pub dest: &'a Path,
    /// The RPM arch (`x86_64`); written as Go's (`amd64`).
    pub arch: &'a str,
    /// Unix seconds: every mtime, and the config's `created`.
    pub epoch: i64,
    pub settings: &'a ContainerSettings,
    /// Labels Strata adds (the inputs), under the definition's.
    pub labels: BTreeMap<String, String>,
    /// Told of each file of `root` once it is in the layer.
    pub remover: &'a Remover,
}

/// The written image: its manifest digest (`sha256:…`, the build ID) and
/// its layer (path, digest, size) for images.json.
pub(crate) struct Written {
    pub manifest_digest: String,
    pub layer: PathBuf,
    pub layer_sha256: String,
    pub layer_size: u64,
}

fn oci_err(what: &str) -> impl FnOnce(oci_spec::OciSpecError) -> ComposeError + '_ {
    move |source| ComposeError::OciImage {
        what: what.to_string(),
        source: Box::new(source),
    }
}

/// Writes the image layout at `image.dest`.
pub(crate) fn write(image: &Image<'_>) -> Result<Written> {
    let blobs = image.dest.join("blobs").join("sha256");
    std::fs::create_dir_all(&blobs).map_err(io(&blobs))?;
    let layout = image.dest.join("oci-layout");
    std::fs::write(&layout, b"{\"imageLayoutVersion\":\"1.0.0\"}").map_err(io(&layout))?;

    let (diff_id, layer_hex, layer_size) =
        write_layer(image.root, &blobs, image.epoch, image.remover)?;
    let arch = Arch::from(go_arch(image.arch));
    let created = jiff::Timestamp::from_second(image.epoch)
        .map(|t| t.to_string())
        .unwrap_or_default();
    let s = image.settings;
    let mut env: Vec<String> = s.env.iter().map(|(k, v)| format!("{k}={v}")).collect();
    if !s.env.contains_key("PATH") {
        env.insert(
            0,
            "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into(),
        );
    }
    let mut labels: HashMap<String, String> = image.labels.clone().into_iter().collect();
    labels.extend(s.labels.clone());
    let mut config = ConfigBuilder::default();
    config = config.env(env).labels(labels);
    if !s.entrypoint.is_empty() {
        config = config.entrypoint(s.entrypoint.clone());
    }
    if !s.cmd.is_empty() {
        config = config.cmd(s.cmd.clone());
    }
    if let Some(user) = &s.user {
        config = config.user(user.clone());
    }
    let config = ImageConfigurationBuilder::default()
        .created(created)
        .architecture(arch.clone())
        .os(Os::Linux)
        .config(config.build().map_err(oci_err("config"))?)
        .rootfs(
            RootFsBuilder::default()
                .typ("layers")
                .diff_ids(vec![format!("sha256:{diff_id}")])
                .build()
                .map_err(oci_err("root filesystem"))?,
        )
        .build()
        .map_err(oci_err("configuration"))?;
    let config_desc = put_blob(&blobs, MediaType::ImageConfig, &canonical(&config)?)?;
    let layer_desc = Descriptor::new(
        MediaType::ImageLayerGzip,
        layer_size,
        Sha256Digest::from_str(&layer_hex).map_err(oci_err("layer digest"))?,
    );
    let manifest = ImageManifestBuilder::default()
        .schema_version(2u32)
        .media_type(MediaType::ImageManifest)
        .config(config_desc)
        .layers(vec![layer_desc])
        .build()
        .map_err(oci_err("manifest"))?;
    let manifest_desc = put_blob(&blobs, MediaType::ImageManifest, &canonical(&manifest)?)?;
    let manifest_digest = manifest_desc.digest().to_string();
    let indexed = DescriptorBuilder::default()
        .media_type(MediaType::ImageManifest)
        .digest(manifest_desc.digest().clone())
        .size(manifest_desc.size())
        .platform(
            PlatformBuilder::default()
                .architecture(arch)
                .os(Os::Linux)
                .build()
                .map_err(oci_err("platform"))?,
        )
        .annotations(HashMap::from([(
            "org.opencontainers.image.ref.name".to_string(),
            REF_NAME.to_string(),
        )]))
        .build()
        .map_err(oci_err("index entry"))?;
    let index = ImageIndexBuilder::default()
        .schema_version(2u32)
        .media_type(MediaType::ImageIndex)
        .manifests(vec![indexed])
        .build()
        .map_err(oci_err("index"))?;
    let index_path = image.dest.join("index.json");
    std::fs::write(&index_path, canonical(&index)?).map_err(io(&index_path))?;
    Ok(Written {
        manifest_digest,
        layer: blobs.join(&layer_hex),
        layer_sha256: layer_hex,
        layer_size,
    })
}

/// Go's name of an RPM arch, as OCI platforms use it.
fn go_arch(rpm_arch: &str) -> &str {
    match rpm_arch {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "i686" | "i386" => "386",
        "armv7hl" => "arm",
        other => other,
    }
}

/// JSON with every object's keys sorted.
fn canonical(value: &impl serde::Serialize) -> Result<Vec<u8>> {
    fn sorted(v: serde_json::Value) -> serde_json::Value {
        match v {
            serde_json::Value::Object(map) => {
                let entries: BTreeMap<String, serde_json::Value> =
                    map.into_iter().map(|(k, v)| (k, sorted(v))).collect();
                serde_json::Value::Object(entries.into_iter().collect())
            }
            serde_json::Value::Array(items) => {
                serde_json::Value::Array(items.into_iter().map(sorted).collect())
            }
            other => other,
        }
    }
    let v = serde_json::to_value(value).map_err(|e| ComposeError::Io {
        path: "(OCI JSON)".into(),
        source: e.into(),
    })?;
    Ok(serde_json::to_vec(&sorted(v)).expect("a JSON value serializes"))
}

/// Writes `bytes` as a blob and describes it.
fn put_blob(blobs: &Path, media: MediaType, bytes: &[u8]) -> Result<Descriptor> {
    let hex = hex::encode(Sha256::digest(bytes));
    let path = blobs.join(&hex);
    std::fs::write(&path, bytes).map_err(io(&path))?;
    Ok(Descriptor::new(
        media,
        bytes.len() as u64,
        Sha256Digest::from_str(&hex).map_err(oci_err("blob digest"))?,
    ))
}

/// A writer that hashes and counts what passes through it.
struct Hashing<W> {
    inner: W,
    hash: Sha256,
    count: u64,
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hash.update(&buf[..n]);
        self.count += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// A file whose written bytes are handed to the disk as they come
/// (`sync_file_range`, without waiting), every [`Writeback::EVERY`]
/// bytes: the sync at the end then has little left to wait for, where it
/// waited for the whole layer (about 35 ms for 26 MB here).
struct Writeback {
    file: std::fs::File,
    /// Bytes written, and where the last hand-over ended.
    written: u64,
    handed: u64,
}

impl Writeback {
    const EVERY: u64 = 4 << 20;
}

impl Write for Writeback {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.file.write(buf)?;
        self.written += n as u64;
        if self.written - self.handed >= Self::EVERY {
            use std::os::fd::AsRawFd;
            // Only a start: durability is the sync at the end's, so a
            // file system that refuses this loses nothing.
            unsafe {
                libc::sync_file_range(
                    self.file.as_raw_fd(),
                    self.handed as libc::off64_t,
                    (self.written - self.handed) as libc::off64_t,
                    libc::SYNC_FILE_RANGE_WRITE,
                );
            }
            self.handed = self.written;
        }
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.file.flush()
    }
}

/// Writes the layer into `blobs`: gives the tar's SHA-256 (the diff ID),
/// the gzip's SHA-256 and size.
fn write_layer(
    root: &Path,
    blobs: &Path,
    epoch: i64,
    remover: &Remover,
) -> Result<(String, String, u64)> {
    let partial = blobs.join(".layer.partial");
    let file = std::fs::File::create(&partial).map_err(io(&partial))?;
    // Deflated on every core (the layer is most of an image's time); the
    // bytes do not depend on how many.
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get().min(8));
    let gz = ParallelGz::new(
        Hashing {
            inner: std::io::BufWriter::new(Writeback {
                file,
                written: 0,
                handed: 0,
            }),
            hash: Sha256::new(),
            count: 0,
        },
        flate2::Compression::default(),
        threads,
    )
    .map_err(io(&partial))?;
    let mut tar = tar::Builder::new(Hashing {
        inner: gz,
        hash: Sha256::new(),
        count: 0,
    });
    tar.follow_symlinks(false);
    let me = (
        rustix::process::getuid().as_raw(),
        rustix::process::getgid().as_raw(),
    );
    append_tree(
        &mut tar,
        root,
        Path::new(""),
        epoch.max(0) as u64,
        me,
        remover,
    )?;
    let tarred = tar.into_inner().map_err(io(&partial))?;
    let diff_id = hex::encode(tarred.hash.finalize());
    let gz = tarred.inner;
    let mut zipped = gz.finish().map_err(io(&partial))?;
    zipped.flush().map_err(io(&partial))?;
    let layer_hex = hex::encode(zipped.hash.finalize());
    let size = zipped.count;
    let file = zipped
        .inner
        .into_inner()
        .map_err(|e| io(&partial)(e.into_error()))?
        .file;
    file.sync_all().map_err(io(&partial))?;
    let dest = blobs.join(&layer_hex);
    std::fs::rename(&partial, &dest).map_err(io(&dest))?;
    Ok((diff_id, layer_hex, size))
}

/// Appends the entries under `dir` (`rel` inside the image), sorted by
/// name, directories before their contents.
fn append_tree<W: Write>(
    tar: &mut tar::Builder<W>,
    dir: &Path,
    rel: &Path,
    mtime: u64,
    me: (u32, u32),
    remover: &Remover,
) -> Result<()> {
    let mut names: Vec<std::ffi::OsString> = std::fs::read_dir(dir)
        .map_err(io(dir))?
        .map(|e| e.map(|e| e.file_name()))
        .collect::<std::io::Result<_>>()
        .map_err(io(dir))?;
    names.sort();
    for name in names {
        let path = dir.join(&name);
        let inside = rel.join(&name);
        let meta = std::fs::symlink_metadata(&path).map_err(io(&path))?;
        let mut h = tar::Header::new_gnu();
        h.set_mtime(mtime);
        h.set_mode(meta.mode() & 0o7777);
        let owner = |id: u32, mine: u32| if id == mine { 0 } else { id as u64 };
        h.set_uid(owner(meta.uid(), me.0));
        h.set_gid(owner(meta.gid(), me.1));
        let ft = meta.file_type();
        if ft.is_dir() {
            h.set_entry_type(tar::EntryType::Directory);
            h.set_size(0);
            tar.append_data(&mut h, &inside, std::io::empty())
                .map_err(io(&path))?;
            append_tree(tar, &path, &inside, mtime, me, remover)?;
        } else if ft.is_symlink() {
            let target = std::fs::read_link(&path).map_err(io(&path))?;
            h.set_entry_type(tar::EntryType::Symlink);
            h.set_size(0);
            tar.append_link(&mut h, &inside, &target)
                .map_err(io(&path))?;
        } else if ft.is_file() {
            h.set_entry_type(tar::EntryType::Regular);
            h.set_size(meta.len());
            let f = std::fs::File::open(&path).map_err(io(&path))?;
            tar.append_data(&mut h, &inside, f).map_err(io(&path))?;
            remover.done_with(path);
        } else {
            // Devices, FIFOs and sockets: a container runtime makes its
            // own /dev; nothing a package installs needs them in a layer.
            tracing::warn!(
                "{} is not a file, directory or symlink: left out of the image",
                path.display()
            );
        }
    }
    Ok(())
}
