//! Which package a record belongs to: the identity fields cut out of each
//! record, matched between filelists/other and primary (by pkgid, then
//! name, arch and EVR), and checked against the loaded repository.
//! createrepo_c's minimal record stands in where a file is absent.

use super::blocks::{RecEntry, UNSET};
use super::scan::Scanned;
use crate::error::{RepodataError, Result};
use crate::write::escape_attr;
use crate::Repo;
use rustc_hash::FxHashMap;

/// Identity fields of a record, used to match filelists and other records
/// to primary packages.
pub(super) const PKGID: usize = 0;
pub(super) const NAME: usize = 1;
pub(super) const ARCH: usize = 2;
pub(super) const EPOCH: usize = 3;
pub(super) const VER: usize = 4;
pub(super) const REL: usize = 5;
pub(super) const FIELDS: usize = 6;

/// Rows of identity fields in one arena.
#[derive(Default)]
pub(super) struct Idents {
    arena: String,
    ends: Vec<u32>,
}

impl Idents {
    pub(super) fn push(&mut self, row: &[String; FIELDS]) {
        for f in row {
            self.arena.push_str(f);
            self.ends.push(self.arena.len() as u32);
        }
    }

    pub(super) fn len(&self) -> usize {
        self.ends.len() / FIELDS
    }

    pub(super) fn field(&self, row: usize, f: usize) -> &str {
        let i = row * FIELDS + f;
        let start = if i == 0 { 0 } else { self.ends[i - 1] as usize };
        &self.arena[start..self.ends[i] as usize]
    }

    pub(super) fn epoch(&self, row: usize) -> &str {
        match self.field(row, EPOCH) {
            "" => "0",
            e => e,
        }
    }

    /// `name-[epoch:]ver-rel.arch`, for messages.
    pub(super) fn nevra(&self, row: usize) -> String {
        let epoch = self.epoch(row);
        format!(
            "{}-{}{}-{}.{}",
            self.field(row, NAME),
            if epoch == "0" {
                String::new()
            } else {
                format!("{epoch}:")
            },
            self.field(row, VER),
            self.field(row, REL),
            self.field(row, ARCH)
        )
    }
}

/// The record createrepo_c writes for a package without files or
/// changelogs.
pub(super) fn minimal_record(idents: &Idents, row: usize) -> String {
    format!(
        "<package pkgid=\"{}\" name=\"{}\" arch=\"{}\">\n  <version epoch=\"{}\" ver=\"{}\" rel=\"{}\"/>\n</package>",
        escape_attr(idents.field(row, PKGID)),
        escape_attr(idents.field(row, NAME)),
        escape_attr(idents.field(row, ARCH)),
        escape_attr(idents.epoch(row)),
        escape_attr(idents.field(row, VER)),
        escape_attr(idents.field(row, REL)),
    )
}

/// Places the records of a filelists or other file at their primary
/// indices, checking that each names the same package as primary.
pub(super) fn match_to_primary(
    primary: &Idents,
    scanned: &Scanned,
    path: &str,
) -> Result<Vec<RecEntry>> {
    let n = primary.len();
    let mut first: FxHashMap<&str, u32> = FxHashMap::default();
    first.reserve(n);
    // Packages sharing a pkgid (the same RPM listed twice) are chained.
    let mut next_same = vec![UNSET; n];
    for i in (0..n).rev() {
        if let Some(old) = first.insert(primary.field(i, PKGID), i as u32) {
            next_same[i] = old;
        }
    }
    let mut placed = vec![
        RecEntry {
            block: UNSET,
            start: 0,
            len: 0,
        };
        n
    ];
    let ids = &scanned.idents;
    for (j, rec) in scanned.blocks.recs.iter().enumerate() {
        let pkgid = ids.field(j, PKGID);
        let mut at = first.get(pkgid).copied().unwrap_or(UNSET);
        while at != UNSET && placed[at as usize].block != UNSET {
            at = next_same[at as usize];
        }
        if at == UNSET {
            let reason = if first.contains_key(pkgid) {
                "more records for this pkgid than primary.xml has packages".to_string()
            } else {
                "primary.xml has no package with this pkgid".to_string()
            };
            return Err(RepodataError::RecordMismatch {
                path: path.to_string(),
                package: format!("{} (pkgid {pkgid})", ids.nevra(j)),
                reason,
            });
        }
        let i = at as usize;
        for (f, what) in [
            (NAME, "name"),
            (ARCH, "arch"),
            (VER, "version"),
            (REL, "release"),
        ] {
            if ids.field(j, f) != primary.field(i, f) {
                return Err(RepodataError::RecordMismatch {
                    path: path.to_string(),
                    package: primary.nevra(i),
                    reason: format!(
                        "{what} is `{}` here, `{}` in primary.xml (pkgid {pkgid})",
                        ids.field(j, f),
                        primary.field(i, f)
                    ),
                });
            }
        }
        if ids.epoch(j) != primary.epoch(i) {
            return Err(RepodataError::RecordMismatch {
                path: path.to_string(),
                package: primary.nevra(i),
                reason: format!(
                    "epoch is `{}` here, `{}` in primary.xml (pkgid {pkgid})",
                    ids.epoch(j),
                    primary.epoch(i)
                ),
            });
        }
        placed[i] = *rec;
    }
    if let Some(i) = placed.iter().position(|r| r.block == UNSET) {
        return Err(RepodataError::MissingRecord {
            path: path.to_string(),
            package: primary.nevra(i),
            pkgid: primary.field(i, PKGID).to_string(),
        });
    }
    Ok(placed)
}

/// Checks that primary.xml cut into records lists the packages `repo` was
/// loaded with, in the same order.
pub(super) fn check_against_repo(primary: &Idents, repo: &Repo, path: &str) -> Result<()> {
    if primary.len() != repo.len() {
        return Err(RepodataError::Invalid {
            path: path.to_string(),
            reason: format!(
                "holds {} packages, but `{}` was loaded with {}",
                primary.len(),
                repo.id,
                repo.len()
            ),
        });
    }
    for p in repo.iter() {
        let i = p.index as usize;
        let sum = p.checksum();
        let hex = sum.split_once(':').map_or(sum, |(_, h)| h);
        if !hex.eq_ignore_ascii_case(primary.field(i, PKGID)) || p.name() != primary.field(i, NAME)
        {
            return Err(RepodataError::RecordMismatch {
                path: path.to_string(),
                package: primary.nevra(i),
                reason: format!(
                    "package {i} is `{}` ({}) in the loaded repository",
                    p.nevra(),
                    p.checksum()
                ),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::scan::tests::{scan_str, PRIMARY};
    use crate::records::Kind;

    #[test]
    fn matches_filelists_by_pkgid_in_any_order() {
        let primary = scan_str(PRIMARY, Kind::Primary).unwrap();
        let fl = r#"<filelists xmlns="http://linux.duke.edu/metadata/filelists" packages="2">
<package pkgid="bb22" name="c" arch="x86_64"><version epoch="2" ver="3" rel="4"/><file>/x</file></package>
<package pkgid="aa11" name="a&amp;b" arch="noarch"><version epoch="0" ver="1" rel="1"/></package>
</filelists>"#;
        let s = scan_str(fl, Kind::Filelists).unwrap();
        let placed = match_to_primary(&primary.idents, &s, "fl.xml").unwrap();
        assert_eq!(placed[0].block, s.blocks.recs[1].block);
        assert_eq!(placed[0].start, s.blocks.recs[1].start);
        assert_eq!(placed[1].start, s.blocks.recs[0].start);

        let wrong = fl.replace("ver=\"3\"", "ver=\"9\"");
        let s = scan_str(&wrong, Kind::Filelists).unwrap();
        let e = match_to_primary(&primary.idents, &s, "fl.xml")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("fl.xml") && e.contains("c-2:3-4.x86_64") && e.contains("`9`"),
            "{e}"
        );

        let missing = fl.replace("<package pkgid=\"aa11\" name=\"a&amp;b\" arch=\"noarch\"><version epoch=\"0\" ver=\"1\" rel=\"1\"/></package>\n", "");
        let s = scan_str(&missing, Kind::Filelists).unwrap();
        let e = match_to_primary(&primary.idents, &s, "fl.xml")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("fl.xml") && e.contains("a&b-1-1.noarch") && e.contains("aa11"),
            "{e}"
        );
    }

    #[test]
    fn minimal_record_escapes() {
        let primary = scan_str(PRIMARY, Kind::Primary).unwrap();
        assert_eq!(
            minimal_record(&primary.idents, 0),
            "<package pkgid=\"aa11\" name=\"a&amp;b\" arch=\"noarch\">\n  <version epoch=\"0\" ver=\"1\" rel=\"1\"/>\n</package>"
        );
    }
}
