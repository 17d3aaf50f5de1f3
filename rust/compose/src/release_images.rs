//! The artifacts' images in a release compose, each artifact a variant of
//! its own, laid out as Pungi lays out image variants:
//! ```text
//! compose/<Variant>/<arch>/iso/<name>-<arch>.iso      an install ISO (productmd type dvd)
//! compose/<Variant>/<arch>/images/<name>/            a container's OCI layout (type docker)
//! compose/<Variant>/<arch>/ostree/                   an ostree repository
//! ```
//! Every file is hardlinked from the artifact compose (else copied, across
//! filesystems), found without following a symlink: a symlink in an image
//! tree is made again as a symlink, never read through. images.json lists
//! what the artifact composes' own images.json listed (type, format, size,
//! sha256), with paths under the release compose; productmd has no image
//! type for an ostree repository (Pungi keeps those outside the compose),
//! so an ostree artifact is laid out but not listed.

use crate::error::{io, ComposeError, Result};
use crate::interrupt::Interrupt;
use crate::productmd::{variant_uid, Images, VariantInfo};
use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Component, Path, PathBuf};
use strata_model::ArtifactKind;

/// The most an artifact compose's images.json may hold: it lists one image.
const MAX_IMAGES_JSON_BYTES: u64 = 16 << 20;

/// One artifact compose a release ships.
#[derive(Debug, Clone)]
pub struct ReleaseArtifact {
    pub name: String,
    pub compose_id: String,
    pub kind: ArtifactKind,
    /// The artifact compose's published directory.
    pub path: PathBuf,
}

/// What the images added to a release compose.
#[derive(Default)]
pub(crate) struct PlacedImages {
    pub variants: Vec<VariantInfo>,
    pub images: Images,
}

/// Puts each artifact's image under `compose` (the release compose's
/// `compose/` directory) as its own variant; `taken` are the variant UIDs
/// already used.
pub(crate) fn place_images(
    compose: &Path,
    arch: &str,
    artifacts: &[ReleaseArtifact],
    taken: &[String],
    verify: bool,
    interrupt: &Interrupt,
) -> Result<PlacedImages> {
    let mut placed = PlacedImages::default();
    let mut used: BTreeMap<String, String> = taken
        .iter()
        .map(|uid| (uid.clone(), "the release's modules".to_string()))
        .collect();
    for a in artifacts {
        interrupt.check()?;
        let bad = |problem: String| ComposeError::ReleaseImage {
            artifact: a.name.clone(),
            compose_id: a.compose_id.clone(),
            problem,
        };
        let uid = variant_uid(&a.name);
        if let Some(other) = used.insert(uid.clone(), format!("artifact {}", a.name)) {
            return Err(bad(format!("its variant {uid} is already {other}'s")));
        }
        let base = compose.join(&uid).join(arch);
        let listed = listed_images(a, arch).map_err(bad)?;
        let mut entries = Vec::new();
        match a.kind {
            ArtifactKind::Iso => {
                for (rel, mut entry) in listed {
                    let file = rel.file_name().expect("checked plain").to_owned();
                    let dest = base.join("iso").join(&file);
                    std::fs::create_dir_all(base.join("iso")).map_err(io(base.join("iso")))?;
                    link_file(&a.path.join(&rel), &dest)?;
                    check_image(&dest, &entry, verify).map_err(bad)?;
                    entry["path"] = format!("{uid}/{arch}/iso/{}", file.to_string_lossy()).into();
                    entries.push(entry);
                }
            }
            ArtifactKind::Container => {
                let dest = base.join("images").join(&a.name);
                std::fs::create_dir_all(base.join("images")).map_err(io(base.join("images")))?;
                link_tree(&a.path.join("image"), &dest, interrupt)?;
                for (rel, mut entry) in listed {
                    let inside = rel.strip_prefix("image").map_err(|_| {
                        bad(format!(
                            "its images.json lists {}, outside its image/",
                            rel.display()
                        ))
                    })?;
                    check_image(&dest.join(inside), &entry, verify).map_err(bad)?;
                    entry["path"] =
                        format!("{uid}/{arch}/images/{}/{}", a.name, inside.display()).into();
                    entries.push(entry);
                }
            }
            ArtifactKind::Ostree => {
                std::fs::create_dir_all(&base).map_err(io(&base))?;
                link_tree(&a.path.join("ostree"), &base.join("ostree"), interrupt)?;
            }
        }
        if !entries.is_empty() {
            placed
                .images
                .entry(uid.clone())
                .or_default()
                .insert(arch.to_string(), entries);
        }
        placed.variants.push(VariantInfo {
            uid,
            name: a.name.clone(),
            arches: vec![arch.to_string()],
        });
    }
    Ok(placed)
}

/// The images an artifact compose's images.json lists for `arch`: each
/// path (relative, checked to stay inside the compose) and its entry.
fn listed_images(
    a: &ReleaseArtifact,
    arch: &str,
) -> std::result::Result<Vec<(PathBuf, serde_json::Value)>, String> {
    let p = a.path.join("images.json");
    if a.kind == ArtifactKind::Ostree {
        return Ok(Vec::new());
    }
    let file = std::fs::File::open(&p).map_err(|e| format!("cannot open {}: {e}", p.display()))?;
    let mut text = Vec::new();
    file.take(MAX_IMAGES_JSON_BYTES + 1)
        .read_to_end(&mut text)
        .map_err(|e| format!("cannot read {}: {e}", p.display()))?;
    if text.len() as u64 > MAX_IMAGES_JSON_BYTES {
        return Err(format!(
            "{} is larger than {MAX_IMAGES_JSON_BYTES} bytes (MAX_IMAGES_JSON_BYTES)",
            p.display()
        ));
    }
    let doc: serde_json::Value =
        serde_json::from_slice(&text).map_err(|e| format!("{} is not JSON: {e}", p.display()))?;
    let mut out = Vec::new();
    let variants = doc["payload"]["images"]
        .as_object()
        .ok_or_else(|| format!("{} has no payload.images", p.display()))?;
    for arches in variants.values() {
        for entry in arches[arch].as_array().into_iter().flatten() {
            let rel = entry["path"]
                .as_str()
                .map(PathBuf::from)
                .filter(|r| r.components().all(|c| matches!(c, Component::Normal(_))))
                .ok_or_else(|| {
                    format!(
                        "{} lists an image whose path is not relative inside the compose: {}",
                        p.display(),
                        entry["path"]
                    )
                })?;
            out.push((rel, entry.clone()));
        }
    }
    if out.is_empty() {
        return Err(format!("{} lists no {arch} image", p.display()));
    }
    Ok(out)
}

/// The placed image has the size (and, with `verify`, the sha256) its
/// artifact compose recorded.
fn check_image(
    path: &Path,
    entry: &serde_json::Value,
    verify: bool,
) -> std::result::Result<(), String> {
    let meta = std::fs::symlink_metadata(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    if !meta.is_file() {
        return Err(format!("{} is not a regular file", path.display()));
    }
    if entry["size"].as_u64() != Some(meta.len()) {
        return Err(format!(
            "{} has {} bytes, its images.json says {}",
            path.display(),
            meta.len(),
            entry["size"]
        ));
    }
    let Some(sha256) = entry["checksums"]["sha256"].as_str() else {
        return Err(format!(
            "{}: its images.json gives no sha256",
            path.display()
        ));
    };
    if verify {
        let file = std::fs::File::open(path)
            .map_err(|e| format!("cannot open {}: {e}", path.display()))?;
        strata_repodata::payload::verify(&file, &format!("sha256:{sha256}"))
            .map_err(|e| format!("{}: {}", path.display(), crate::error::error_chain(&e)))?;
    }
    Ok(())
}

/// Hardlinks the regular file `from` to the new `dest`, else (another
/// filesystem) copies it; `from` must be a regular file, not a symlink.
fn link_file(from: &Path, dest: &Path) -> Result<()> {
    let meta = std::fs::symlink_metadata(from).map_err(io(from))?;
    if !meta.is_file() {
        return Err(ComposeError::Io {
            path: from.display().to_string(),
            source: std::io::Error::other("not a regular file (a symlink is never followed)"),
        });
    }
    match std::fs::hard_link(from, dest) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::CrossesDevices => {
            std::fs::copy(from, dest).map(drop).map_err(io(dest))
        }
        Err(e) => Err(io(dest)(e)),
    }
}

/// Makes `dest` a tree of `from`'s: directories made, regular files
/// hardlinked ([`link_file`]), symlinks made again as they are. Anything
/// else (a fifo, a device) is refused.
fn link_tree(from: &Path, dest: &Path, interrupt: &Interrupt) -> Result<()> {
    std::fs::create_dir(dest).map_err(io(dest))?;
    for entry in std::fs::read_dir(from).map_err(io(from))? {
        interrupt.check()?;
        let entry = entry.map_err(io(from))?;
        let (src, to) = (entry.path(), dest.join(entry.file_name()));
        let kind = entry.file_type().map_err(io(&src))?;
        if kind.is_dir() {
            link_tree(&src, &to, interrupt)?;
        } else if kind.is_file() {
            link_file(&src, &to)?;
        } else if kind.is_symlink() {
            let target = std::fs::read_link(&src).map_err(io(&src))?;
            std::os::unix::fs::symlink(target, &to).map_err(io(&to))?;
        } else {
            return Err(ComposeError::Io {
                path: src.display().to_string(),
                source: std::io::Error::other("neither a file, a directory nor a symlink"),
            });
        }
    }
    Ok(())
}
