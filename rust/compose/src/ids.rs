//! How a compose names what it makes: the modulemd version and context of
//! the stream, package NEVRAs as modulemd and productmd want them, the NVR
//! of the build a package came from, and the compose time.

use sha2::{Digest, Sha256};
use strata_model::ModuleDefinition;
use strata_repodata::Package;

/// Modulemd version from the compose time: `YYYYMMDDHHMMSS` in UTC.
pub fn modulemd_version(started_at: i64) -> u64 {
    let ts = jiff::Timestamp::from_second(started_at).unwrap_or(jiff::Timestamp::UNIX_EPOCH);
    ts.strftime("%Y%m%d%H%M%S").to_string().parse().unwrap_or(0)
}

/// The stream's context: a digest of its runtime dependencies, as MBS
/// derives it, so that streams built against different dependencies differ.
pub fn context(def: &ModuleDefinition) -> String {
    let mut h = Sha256::new();
    for (m, s) in &def.requires {
        h.update(m.as_bytes());
        h.update(b":");
        h.update(s.as_bytes());
        h.update(b"\n");
    }
    hex::encode(h.finalize())[..8].to_string()
}

/// The NVR of the build a binary package came from: its source RPM's
/// file name without `.src.rpm`, else the package's own NVR.
pub fn build_nvr(p: &Package<'_>) -> String {
    let s = p.sourcerpm();
    match s.strip_suffix(".rpm").and_then(|s| s.rsplit_once('.')) {
        Some((nvr, _arch)) if !nvr.is_empty() => nvr.to_string(),
        _ => {
            let e = p.evr();
            format!(
                "{}-{}-{}",
                p.name(),
                e.version,
                e.release.unwrap_or_default()
            )
        }
    }
}

/// The source RPM's NEVRA from `sourcerpm` (`foo-1.0-1.fc40.src.rpm`),
/// with the binary package's epoch, as productmd keys binary RPMs.
pub(crate) fn srpm_nevra(p: &Package<'_>) -> String {
    let e = p.evr();
    let epoch = e.epoch.filter(|e| !e.is_empty()).unwrap_or("0");
    // name-version-release → name-epoch:version-release.src
    let nvr = build_nvr(p);
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

/// Unix seconds now.
pub fn now() -> i64 {
    jiff::Timestamp::now().as_second()
}

/// The clock of the chains' event queue: when an event was queued, and
/// whether its debounce window has passed. Always the real time:
/// `SOURCE_DATE_EPOCH` fixes what composes write (reproducible output),
/// and a queue read by its frozen value would never see a window pass.
/// Tests move it with `STRATA_TEST_NOW` (unix seconds), as they hold
/// composes with `STRATA_TEST_PAUSE_BEFORE_PUBLISH`.
pub fn queue_now() -> i64 {
    std::env::var("STRATA_TEST_NOW")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or_else(now)
}

/// The compose time: `SOURCE_DATE_EPOCH` when set (reproducible builds),
/// else now.
pub fn compose_time() -> i64 {
    std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or_else(now)
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn versions_are_utc_timestamps() {
        assert_eq!(modulemd_version(1_795_600_800), 20261125100000);
    }
}
