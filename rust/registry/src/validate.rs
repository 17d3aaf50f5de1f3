//! Checks every backend makes before it writes, so that what one backend
//! accepts the other accepts too, and nothing half-valid is stored.

use std::collections::HashSet;
use std::path::Path;

use crate::compose_id;
use crate::error::RegistryError;
use crate::owner::Owner;
use crate::record::{NewCompose, Outcome};
use crate::stored::PACKAGE_LIST_LIMIT;
use crate::Result;

/// A validated new compose: where its ID comes from.
pub(crate) struct Allocation {
    /// `YYYYMMDD`.
    pub date: String,
    /// The compose ID without the respin.
    pub id_base: String,
}

impl Allocation {
    /// The respin and compose ID for `next`, the respin the store found
    /// unused (one more than the highest of `id_base`).
    pub fn id(&self, new: &NewCompose, next: i64) -> Result<(u32, String)> {
        let respin = u32::try_from(next).map_err(|_| RegistryError::InvalidCompose {
            name: new.name.clone(),
            stream: new.stream.clone(),
            reason: format!("no respin left for {}", self.id_base),
        })?;
        Ok((respin, compose_id::compose_id(&self.id_base, respin)))
    }
}

pub(crate) fn new_compose(new: &NewCompose) -> Result<Allocation> {
    let invalid = |reason: String| RegistryError::InvalidCompose {
        name: new.name.clone(),
        stream: new.stream.clone(),
        reason,
    };
    if let Some(problem) = compose_id::name_problem(&new.name) {
        return Err(invalid(problem));
    }
    if let Some(problem) = compose_id::stream_problem(&new.stream) {
        return Err(invalid(problem));
    }
    let date = compose_id::compose_date(new.started_at).ok_or_else(|| {
        invalid(format!(
            "the start time {} (unix seconds) is not between 1970 and 9999",
            new.started_at
        ))
    })?;
    if i64::try_from(new.version).is_err() {
        return Err(invalid(format!(
            "the modulemd version {} is larger than {}, the largest a database stores",
            new.version,
            i64::MAX
        )));
    }
    if new.context.is_empty() {
        return Err(invalid("the modulemd context is empty".into()));
    }
    let digest = &new.definition_digest;
    if digest.len() != 64
        || !digest
            .bytes()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    {
        return Err(invalid(format!(
            "the definition digest `{digest}` is not a SHA-256 in lowercase hex"
        )));
    }
    utf8_path(&new.definition_path, "the definition path").map_err(invalid)?;
    if let Some(p) = new.scm_ref.as_deref().and_then(scm_ref_problem) {
        return Err(invalid(p));
    }
    if let Some(owner) = &new.owner {
        owner_problem(owner).map_or(Ok(()), |p| Err(invalid(p)))?;
    }
    if new.arches.is_empty() {
        return Err(invalid("no arches".into()));
    }
    let mut seen = HashSet::new();
    for arch in &new.arches {
        arch_problem(arch).map_or(Ok(()), |p| Err(invalid(p)))?;
        if !seen.insert(arch) {
            return Err(invalid(format!("arch `{arch}` is listed twice")));
        }
    }
    for input in &new.inputs {
        if input.ident.is_empty() {
            return Err(invalid(format!(
                "the {} input `{}` has no identity (checksum, repo ID or compose ID)",
                input.kind, input.name
            )));
        }
    }
    if let Some(problem) = new
        .scratch
        .as_deref()
        .and_then(compose_id::scratch_label_problem)
    {
        return Err(invalid(problem));
    }
    Ok(Allocation {
        id_base: compose_id::id_base(
            &new.name,
            &new.stream,
            new.scratch.as_deref(),
            &date,
            new.compose_type,
        ),
        date,
    })
}

pub(crate) fn outcome(compose_id: &str, outcome: &Outcome) -> Result<()> {
    let invalid = |reason: String| RegistryError::InvalidOutcome {
        compose_id: compose_id.to_owned(),
        reason,
    };
    if outcome.finished_at() < 0 {
        return Err(invalid(format!(
            "the end time {} (unix seconds) is before 1970",
            outcome.finished_at()
        )));
    }
    for (arch, nevras) in outcome.packages() {
        arch_problem(arch).map_or(Ok(()), |p| Err(invalid(p)))?;
        if nevras.contains("") {
            return Err(invalid(format!("an empty package name for arch `{arch}`")));
        }
        // Lists are stored one NEVRA a line; no NEVRA has a blank.
        if let Some(bad) = nevras
            .iter()
            .find(|n| n.chars().any(|c| c.is_whitespace() || c.is_control()))
        {
            return Err(invalid(format!(
                "the package {bad:?} of arch `{arch}` contains whitespace or a control \
                 character; a NEVRA has none"
            )));
        }
    }
    if let Outcome::Finished {
        outputs, modulemd, ..
    } = outcome
    {
        utf8_path(&outputs.path, "the output path").map_err(invalid)?;
        if let Some(build_id) = &outputs.build_id {
            // A digest or checksum, perhaps with its algorithm: short and
            // printable, as every front end shows it on one line.
            let ok = !build_id.is_empty()
                && build_id.len() <= 256
                && build_id
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b":._-".contains(&b));
            if !ok {
                return Err(invalid(format!(
                    "the build ID {build_id:?} is not 1 to 256 ASCII letters, digits and `:._-`"
                )));
            }
        }
        for (arch, path) in &outputs.repos {
            arch_problem(arch).map_or(Ok(()), |p| Err(invalid(p)))?;
            utf8_path(path, &format!("the repository path of `{arch}`")).map_err(invalid)?;
        }
        for (arch, document) in modulemd {
            arch_problem(arch).map_or(Ok(()), |p| Err(invalid(p)))?;
            // What is recorded must read back: the reader's bound.
            if document.len() > PACKAGE_LIST_LIMIT {
                return Err(invalid(format!(
                    "the modulemd of `{arch}` is {} bytes, more than the {PACKAGE_LIST_LIMIT} \
                     bytes the registry keeps",
                    document.len()
                )));
            }
        }
    }
    Ok(())
}

/// What an SCM reference must look like: a URL or commit on one line,
/// since a newline in it could pass for another line of `strata composes
/// show` or `strata releases show`.
pub(crate) fn scm_ref_problem(scm_ref: &str) -> Option<String> {
    if let Some(c) = scm_ref.chars().find(|c| c.is_control()) {
        return Some(format!(
            "the SCM reference {scm_ref:?} contains the control character {c:?}; an SCM \
             reference is a URL or commit on one line"
        ));
    }
    scm_ref
        .is_empty()
        .then(|| "the SCM reference is empty (leave it out instead)".to_owned())
}

/// What the owner of a compose must look like: a host name and a boot ID
/// on one line, of sane length, and a real PID.
pub(crate) fn owner_problem(owner: &Owner) -> Option<String> {
    let one_line = |what: &str, text: &str, max: usize| {
        if text.is_empty() || text.len() > max {
            Some(format!(
                "the owner's {what} {text:?} is empty or longer than {max} bytes"
            ))
        } else if text.chars().any(|c| c.is_control() || c.is_whitespace()) {
            Some(format!(
                "the owner's {what} {text:?} contains whitespace or a control character"
            ))
        } else {
            None
        }
    };
    one_line("host name", &owner.host, 255)
        .or_else(|| one_line("boot ID", &owner.boot_id, 64))
        .or_else(|| (owner.pid == 0).then(|| "the owner's PID is 0".to_owned()))
        .or_else(|| {
            (i64::try_from(owner.start_time).is_err()
                || owner.pid_namespace > Some(i64::MAX as u64))
            .then(|| "the owner's start time or PID namespace is out of range".to_owned())
        })
}

fn arch_problem(arch: &str) -> Option<String> {
    if arch.is_empty() || !arch.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        Some(format!("`{arch}` is not an arch name"))
    } else {
        None
    }
}

/// Paths are stored as text, which must be UTF-8 in every backend.
fn utf8_path<'a>(path: &'a Path, what: &str) -> Result<&'a str, String> {
    path.to_str()
        .ok_or_else(|| format!("{what} {} is not UTF-8", path.display()))
}
