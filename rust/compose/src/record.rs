//! Step 6 of a compose: the record. A compose is recorded `started` before
//! its packages are picked (compose.rs), and its end here: a published
//! compose is put in place and recorded `finished`, a failed one recorded
//! `failed` with its error and, when the gate failed, the gate's report.
//!
//! # Publishing and recording, in this order
//! The registry and `OUT` cannot change in one step, so the order keeps
//! what is visible in `OUT` from ever claiming more than the registry:
//! 1. *begin*: the registry says `started`.
//! 2. *stage*: everything is written into a locked staging directory
//!    (`OUT/.staging/.staging-<id>@<host>-<pid>`, see staging.rs) with `STATUS`
//!    STARTED, and synced. Errors, a full disk and interruptions (signals,
//!    KeyboardInterrupt; looked at between stages and packages) are
//!    honoured up to here: the staging directory is removed and the
//!    compose recorded `failed`.
//! 3. *place*: one rename puts the tree at `OUT/<id>`, STATUS still STARTED.
//! 4. *record*: the registry says `finished`, with the outputs.
//! 5. *mark*: a `STATUS` saying FINISHED, written in step 2, is renamed
//!    over the STARTED one.
//! 6. *point*: `OUT/latest-<name>-<stream>` is set, under its lock, to the
//!    registry's last good compose of the stream (not simply to this one).
//! 7. The staging directory, empty by now, is removed and its lock freed.
//!
//! Steps 3 to 6 are never cut short by a signal. When step 4 fails (SQLite
//! locked past its busy timeout, PostgreSQL gone), the record is read back:
//! if the write in fact went through, the compose goes on; otherwise it is
//! taken out of `OUT` again (renamed back into its staging directory, then
//! removed), recorded `failed` if the registry allows, and the error says
//! so: nothing visible says FINISHED and `latest-*` never moved.
//!
//! A crash (kill -9, power loss) right after each step leaves:
//!
//! | after | registry | OUT | what recovers it |
//! |---|---|---|---|
//! | 1, 2 | started | a staging dir whose lock died with its process | the next compose removes the dir; the record is abandoned |
//! | 3 | started | `OUT/<id>` with STATUS STARTED, no link to it | the record is abandoned; STATUS says it never finished |
//! | 4 | finished | `OUT/<id>` complete, STATUS STARTED | nothing needed: the registry (the authority) is right and the content complete; only STATUS lags |
//! | 5 | finished | STATUS FINISHED, `latest-*` not yet moved | the next compose of the stream sets the link |
//! | 6 | finished | as it should be, plus an empty staging dir | the next compose removes it |
//!
//! So the registry never says finished for a compose that is not in place
//! (4 comes after 3), and nothing in `OUT` says FINISHED, nor does a link
//! point, at a compose the registry does not hold finished. One case is
//! left to chance: a registry that fails while committing step 4 and then
//! cannot be read back. The output is withdrawn then; should the commit
//! have gone through, the record names an output that is missing, which
//! fails any compose built on it with a clear error until a newer one is
//! good.

use crate::error::{error_chain, io, ComposeError, Result};
use crate::ids::now;
use crate::interrupt::Interrupt;
use crate::publish::Staged;
use crate::staging::{sync_dir, Staging};
use std::path::{Path, PathBuf};
use strata_registry::{ComposeRecord, Outcome, PackagesByArch, Registry, State};

/// Puts a staged compose in place and records it finished with
/// `outcome` (steps 3 to 7 above); a last look at `interrupt` comes
/// first. Any failure is recorded (the compose `failed`) and returned.
pub(crate) fn record_published(
    registry: &mut dyn Registry,
    id: &str,
    staged: Staged,
    outcome: Outcome,
    interrupt: &Interrupt,
    out: &Path,
    (name, stream): (&str, &str),
) -> Result<ComposeRecord> {
    let id = id.to_string();
    // The last safe point. From here the compose is put in place and
    // recorded (a rename and one registry write), which no signal cuts
    // short.
    if let Err(e) = interrupt.check() {
        drop(staged);
        return Err(record_failure(registry, &id, e));
    }
    let placed = match staged.place() {
        Ok(p) => p,
        Err(e) => return Err(record_failure(registry, &id, e)),
    };
    let rec = match registry.finish(&id, &outcome) {
        Ok(rec) => rec,
        // A write can fail after it was committed (a connection lost
        // during COMMIT): what the registry holds decides.
        Err(e) => match recorded_finished(registry, &id) {
            Some(rec) => {
                tracing::warn!(
                    "{id}: the registry reported an error ({}), yet holds the compose as finished",
                    error_chain(&e)
                );
                rec
            }
            None => return Err(record_failure(registry, &id, placed.not_recorded(&id, e))),
        },
    };
    placed.mark_finished();
    match update_latest_link(out, name, stream, registry) {
        Ok(Some(latest)) if latest != id => {
            tracing::info!("latest-{name}-{stream} stays at {latest}, the newest good compose")
        }
        Ok(_) => {}
        // The compose is good and recorded; the link catches up with the
        // next compose of the stream.
        Err(e) => tracing::warn!(
            "{id} is finished, but latest-{name}-{stream} was not updated: {}",
            error_chain(&e)
        ),
    }
    // Dropping `placed` removes the (now empty) staging directory and
    // releases its lock.
    drop(placed);
    Ok(rec)
}

/// Records compose `id` as failed with `e` (and its causes), and gives
/// `e` back. A registry that cannot record it leaves the compose
/// `started`, which is logged.
pub(crate) fn record_failure(
    registry: &mut dyn Registry,
    id: &str,
    e: ComposeError,
) -> ComposeError {
    if let Err(re) = registry.finish(
        id,
        &Outcome::Failed {
            finished_at: now(),
            error: error_chain(&e),
            report: None,
            packages: PackagesByArch::new(),
        },
    ) {
        tracing::error!("could not record the failure of {id}: {}", error_chain(&re));
    }
    e
}

/// The record of `id` if the registry holds it as finished.
fn recorded_finished(registry: &dyn Registry, id: &str) -> Option<ComposeRecord> {
    registry
        .get(id)
        .ok()
        .flatten()
        .filter(|r| r.state == State::Finished)
}

impl Staged {
    /// Renames the staged compose to `OUT/<compose-id>` (STATUS still
    /// STARTED) and makes the rename durable.
    pub(crate) fn place(self) -> Result<Placed> {
        let tree = self.staging.tree();
        std::fs::rename(&tree, &self.dest).map_err(|e| match e.kind() {
            // rename(2) never replaces a directory that holds anything.
            std::io::ErrorKind::DirectoryNotEmpty | std::io::ErrorKind::AlreadyExists => {
                ComposeError::PublishedExists {
                    compose_id: self
                        .dest
                        .file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or_default(),
                    path: self.dest.display().to_string(),
                }
            }
            _ => io(&self.dest)(e),
        })?;
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
    dest: PathBuf,
}

impl Placed {
    /// Takes the compose out of `OUT` again because the registry could
    /// not record it (`e`): the error that says so, and whether it was
    /// withdrawn.
    pub(crate) fn not_recorded(self, id: &str, e: strata_registry::RegistryError) -> ComposeError {
        let path = self.dest.display().to_string();
        match self.withdraw() {
            Ok(()) => ComposeError::NotRecorded {
                compose_id: id.to_owned(),
                path,
                source: Box::new(e),
            },
            Err(withdraw) => ComposeError::NotRecordedNotWithdrawn {
                compose_id: id.to_owned(),
                path,
                withdraw,
                source: Box::new(e),
            },
        }
    }

    /// `OUT/<compose-id>`.
    pub(crate) fn dest(&self) -> &Path {
        &self.dest
    }

    /// Replaces `STATUS` with FINISHED: only once the registry recorded
    /// the compose finished. A failure only leaves STATUS behind the
    /// registry (which is the authority), so it is reported, not fatal.
    pub(crate) fn mark_finished(&self) {
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
    pub(crate) fn withdraw(self) -> std::io::Result<()> {
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
fn update_latest_link(
    out: &Path,
    name: &str,
    stream: &str,
    registry: &dyn strata_registry::Registry,
) -> Result<Option<String>> {
    let lock = out.join(format!(".latest-{name}-{stream}.lock"));
    let _held = crate::staging::lock_waiting(&lock, LATEST_LOCK_WAIT)?;
    // Lean: only its ID and where it was published are needed, not its
    // package lists, modulemd and stack.
    let Some(good) = registry.latest_good_lean(name, stream)? else {
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
    use strata_registry::Outputs;

    #[test]
    fn a_compose_is_never_placed_over_a_directory_of_the_same_id() {
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("out");
        std::fs::create_dir(&out).unwrap();
        let id = "m-1-20261206.n.0";
        // Another registry's compose with this ID, published into the same OUT.
        std::fs::create_dir(out.join(id)).unwrap();
        std::fs::write(out.join(id).join("STATUS"), "FINISHED\n").unwrap();
        let staging = Staging::create(&out, id).unwrap();
        std::fs::write(staging.tree().join("STATUS"), "STARTED\n").unwrap();
        let staged = Staged {
            staging,
            dest: out.join(id),
            outputs: Outputs {
                path: out.join(id),
                repos: Default::default(),
                build_id: None,
            },
            modulemd: Default::default(),
        };
        let Err(err) = staged.place() else {
            panic!("placed over another compose");
        };
        assert!(
            matches!(err, ComposeError::PublishedExists { .. }),
            "{err:?}"
        );
        let msg = err.to_string();
        assert!(
            msg.contains(&format!("cannot publish compose {id}")),
            "{msg}"
        );
        assert!(msg.contains("its own [compose] out"), "{msg}");
        // The other compose is untouched.
        assert_eq!(
            std::fs::read_to_string(out.join(id).join("STATUS")).unwrap(),
            "FINISHED\n"
        );
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
                    scratch: None,
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
                    chain: None,
                    required_tests: Vec::new(),
                    artifact: None,
                })
                .unwrap();
            let path = path(&rec.id);
            std::fs::create_dir_all(&path).unwrap();
            let outputs = Outputs {
                path,
                repos: Default::default(),
                build_id: None,
            };
            registry
                .finish(
                    &rec.id,
                    &Outcome::Finished {
                        finished_at: 1_795_600_900,
                        outputs,
                        packages: Default::default(),
                        timings: serde_json::Value::Null,
                        modulemd: Default::default(),
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
}
