//! What `release check` found, and its one rendering (text; JSON is the
//! serde form). Every front end (CLI, Python) prints a report through
//! these. Plain data: nothing here knows how the answers were found.

use serde::{Deserialize, Serialize};
use std::fmt;
use strata_solve::{SetUpgrade, UpgradeBlocker};

/// The result of checking one release.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ReleaseReport {
    /// The release document, as named.
    pub file: String,
    /// The release's name, version and date.
    pub release: String,
    pub version: String,
    pub date: String,
    /// The arch the composes were checked for.
    pub arch: String,
    /// Every module of the release and every module below it, in the
    /// order they were reached (the release's own first).
    pub modules: Vec<ModuleUse>,
    pub artifacts: Vec<ArtifactUse>,
    /// The release-wide closure, when it could run (every module has one
    /// compose of this arch, one stream each).
    pub closure: Option<ClosureSummary>,
    /// Every problem found; none means the release can be composed.
    pub problems: Vec<Problem>,
    /// The upgrade path from the previous release, when asked for
    /// (`--from`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upgrade: Option<UpgradeSummary>,
}

/// The upgrade check from the previous release (see `upgrade`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct UpgradeSummary {
    /// The previous release's document, as named.
    pub from: String,
    /// The previous release's name and version.
    pub release: String,
    pub version: String,
    /// Whether the check ran: it needs this release's closure and every
    /// compose of the previous release.
    pub checked: bool,
    /// Each profile of a module in both releases (same stream), installed
    /// from the previous release and upgraded to this one.
    pub profiles: Vec<SetUpgrade>,
    /// Modules whose stream changed. Not a problem: the release compose
    /// publishes a modulemd-obsoletes of the old stream `obsoleted_by` the
    /// new one, which dnf acts on (see [`StreamSwitch`]).
    #[serde(default)]
    pub switches: Vec<StreamSwitch>,
    /// What named the previous release: `--from`, or the document's
    /// `data.previous`.
    #[serde(default)]
    pub by: String,
}

/// A module on another stream than in the previous release. dnf keeps an
/// enabled stream on upgrade; the release compose announces the switch
/// with a modulemd-obsoletes, so dnf with `module_obsoletes=1` (and
/// `module_stream_switch=1`, to let a transaction change an enabled
/// stream) switches by itself; others run `dnf module switch-to`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct StreamSwitch {
    pub module: String,
    /// The previous release's stream and the compose it shipped.
    pub from_stream: String,
    pub from_compose: String,
    /// This release's stream.
    pub to_stream: String,
}

/// One module stream the release ships, directly or below another.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ModuleUse {
    /// `name:stream`.
    pub module: String,
    /// How the release reaches it: the release's module first, then each
    /// module required, ending with this one.
    pub chain: Vec<String>,
    /// Where its definition was read (a path or the SCM URL as written);
    /// `None`: no definition names it.
    pub definition: Option<String>,
    /// The compose the release would ship: the pinned one, else the last
    /// good one; `None` when there is none.
    pub compose: Option<String>,
}

/// One artifact of the release.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ArtifactUse {
    /// Its definition, as the release names it.
    pub definition: String,
    /// Its name, when the definition could be read.
    pub name: Option<String>,
    /// The compose the release would ship.
    pub compose: Option<String>,
}

/// What the release-wide closure checked.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ClosureSummary {
    /// Packages of the modules' composes checked (one repoclosure).
    pub packages: usize,
    /// Platform packages hidden because a module ships a package of the
    /// same name (dnf's modular filtering).
    pub hidden_platform_packages: usize,
    /// Profiles installed (each alone, into an empty system).
    pub profiles: usize,
}

/// One thing that keeps the release from being composed. Each names the
/// chain of modules that leads to it, from the release's own module down.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Problem {
    /// An entry whose definition cannot be used: not found, not fetched,
    /// not valid, or of another module stream.
    Definition {
        /// Where in the release: `data.modules[1]`.
        entry: String,
        /// As written: the module or the definition.
        what: String,
        message: String,
    },
    /// A module stream neither the release nor the catalog defines.
    UnknownModule {
        chain: Vec<String>,
        /// Streams of the same module that are defined.
        known_streams: Vec<String>,
    },
    /// Modules that require each other, in a circle.
    Cycle { cycle: Vec<String> },
    /// Two streams of one module in one release: dnf enables one.
    StreamConflict {
        module: String,
        /// The chain to each stream.
        chains: Vec<Vec<String>>,
    },
    /// A module whose definition gives no lifecycle, so it promises
    /// nothing.
    NoLifecycle { chain: Vec<String> },
    /// A module supported less long than the release promises.
    Lifecycle {
        chain: Vec<String>,
        /// `eol`, or the service level.
        level: String,
        /// The module's last day for it.
        ends: String,
        /// The release's.
        release_ends: String,
    },
    /// Modules of the release built for different platforms, or for one
    /// the configuration does not know.
    Platform { message: String },
    /// A module stream without a good compose.
    NoGoodCompose { chain: Vec<String> },
    /// A pinned compose (or a compose found) that cannot be used.
    Compose {
        chain: Vec<String>,
        compose: String,
        message: String,
    },
    /// A compose without a repository of the checked arch.
    MissingArch {
        chain: Vec<String>,
        compose: String,
        arch: String,
    },
    /// A package of the release whose requirements nothing in the release
    /// or the platform meets.
    Unresolved {
        module: String,
        compose: String,
        package: String,
        deps: Vec<String>,
    },
    /// A profile that does not install.
    Profile {
        /// `name:stream/profile`.
        profile: String,
        /// Packages the profile names that the compose does not have.
        missing: Vec<String>,
        /// Why the rest cannot be installed, in libsolv's words.
        problems: Vec<String>,
    },
    /// An artifact that cannot ship with the release.
    Artifact { definition: String, message: String },
    /// A profile installed from the previous release that does not upgrade
    /// to this one (`dnf distro-sync` fails without `--allowerasing`).
    Upgrade {
        /// `name:stream/profile`.
        profile: String,
        /// The previous release's name.
        previous: String,
        /// The installed packages in the way, each with what it needs and
        /// what this release has instead.
        blockers: Vec<UpgradeBlocker>,
        /// libsolv's words.
        problems: Vec<String>,
    },
    /// The previous release cannot be checked against: a module without a
    /// usable compose, a profile that never installed, a platform.
    Previous { previous: String, message: String },
}

/// `php:8.2 requires apache:2.4, which requires base:1`.
pub fn chain_text(chain: &[String]) -> String {
    let mut out = String::new();
    for (i, m) in chain.iter().enumerate() {
        match i {
            0 => out.push_str(m),
            1 => {
                out.push_str(" requires ");
                out.push_str(m);
            }
            _ => {
                out.push_str(", which requires ");
                out.push_str(m);
            }
        }
    }
    out
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::Definition {
                entry,
                what,
                message,
            } => write!(f, "{entry} ({what}): {message}"),
            Problem::UnknownModule {
                chain,
                known_streams,
            } => {
                let last = chain.last().map_or("", String::as_str);
                let whom = if chain.len() > 1 {
                    format!(
                        "{}, which no definition in the release or the catalog defines",
                        chain_text(chain)
                    )
                } else {
                    format!("{last}: no definition in the release or the catalog defines it")
                };
                if known_streams.is_empty() {
                    write!(f, "{whom}")
                } else {
                    write!(f, "{whom} (defined: {})", known_streams.join(", "))
                }
            }
            Problem::Cycle { cycle } => write!(
                f,
                "modules require each other in a circle: {}",
                cycle.join(" → ")
            ),
            Problem::StreamConflict { module, chains } => {
                let uses: Vec<String> = chains.iter().map(|c| chain_text(c)).collect();
                write!(
                    f,
                    "{module}: {} streams in one release, and dnf enables one: {}",
                    chains.len(),
                    uses.join("; ")
                )
            }
            Problem::NoLifecycle { chain } => write!(
                f,
                "{}, whose definition gives no lifecycle, so it promises no support",
                chain_text(chain)
            ),
            Problem::Lifecycle {
                chain,
                level,
                ends,
                release_ends,
            } => {
                if level == "eol" {
                    write!(
                        f,
                        "{}, whose end of life is {ends}, before the release's {release_ends}",
                        chain_text(chain)
                    )
                } else {
                    write!(
                        f,
                        "{}, whose {level} end {ends}, before the release's {release_ends}",
                        chain_text(chain)
                    )
                }
            }
            Problem::Platform { message } => write!(f, "{message}"),
            Problem::NoGoodCompose { chain } => {
                let last = chain.last().map_or("", String::as_str);
                let whom = if chain.len() > 1 {
                    format!("{}, which", chain_text(chain))
                } else {
                    last.to_owned()
                };
                write!(
                    f,
                    "{whom} has no good compose (compose it, or check `strata composes list {last}`)"
                )
            }
            Problem::Compose {
                chain,
                compose,
                message,
            } => write!(f, "{}: compose {compose} {message}", chain_text(chain)),
            Problem::MissingArch {
                chain,
                compose,
                arch,
            } => write!(
                f,
                "{}: compose {compose} has no {arch} repository",
                chain_text(chain)
            ),
            Problem::Unresolved {
                module,
                compose,
                package,
                deps,
            } => write!(
                f,
                "{package} of {module} (compose {compose}) requires {}, which nothing in the \
                 release or the platform provides",
                deps.join(", ")
            ),
            Problem::Profile {
                profile,
                missing,
                problems,
            } => {
                write!(f, "the profile {profile} does not install")?;
                if !missing.is_empty() {
                    write!(f, ": its compose has no installable {}", missing.join(", "))?;
                }
                if !problems.is_empty() {
                    write!(f, ": {}", problems.join("; "))?;
                }
                Ok(())
            }
            Problem::Artifact {
                definition,
                message,
            } => write!(f, "artifact {definition}: {message}"),
            Problem::Upgrade {
                profile,
                previous,
                blockers,
                problems,
            } => {
                let shown = match profile.rsplit_once('/') {
                    Some((nsv, p)) => format!("{nsv} profile {p}"),
                    None => profile.clone(),
                };
                write!(f, "upgrade from {previous}: {shown}: ")?;
                if blockers.is_empty() {
                    return write!(f, "does not upgrade: {}", problems.join("; "));
                }
                let each: Vec<String> = blockers.iter().map(blocker_text).collect();
                write!(f, "{}", each.join("; "))
            }
            Problem::Previous { previous, message } => {
                write!(f, "upgrade from {previous}: {message}")
            }
        }
    }
}

/// `foo-tools-1.0-1.noarch requires foo-libs = 1.0-1, which the new
/// release replaces with foo-libs-2.0-1.noarch, and no package of the new
/// release updates or obsoletes foo-tools`.
fn blocker_text(b: &UpgradeBlocker) -> String {
    let name = &b.name;
    let instead = if b.replaced_by.is_empty() && b.provided_by.is_empty() {
        ", which nothing provides".to_owned()
    } else if b.replaced_by.is_empty() {
        format!(
            ", which {} provides and the new release no longer ships",
            b.provided_by.join(", ")
        )
    } else {
        format!(
            ", which the new release replaces with {}",
            b.replaced_by.join(", ")
        )
    };
    let successor = if b.successors.is_empty() {
        format!(", and no package of the new release updates or obsoletes {name}")
    } else {
        format!(
            ", and {}, which would update it, cannot be installed",
            b.successors.join(", ")
        )
    };
    format!("{} requires {}{instead}{successor}", b.package, b.requires)
}

impl ReleaseReport {
    /// No problem: the release can be composed.
    pub fn ok(&self) -> bool {
        self.problems.is_empty()
    }

    /// The report as people read it.
    pub fn to_text(&self) -> String {
        let own = self.modules.iter().filter(|m| m.chain.len() == 1).count();
        let mut out = format!(
            "release {} {} ({}), {}, checked for {}\n",
            self.release, self.version, self.date, self.file, self.arch
        );
        out.push_str(&format!(
            "modules: {} ({own} in the release, {} below them); artifacts: {}\n",
            self.modules.len(),
            self.modules.len() - own,
            self.artifacts.len()
        ));
        for m in &self.modules {
            out.push_str(&format!(
                "  {:<30} {}\n",
                m.module,
                m.compose.as_deref().unwrap_or("(no compose)")
            ));
        }
        match &self.closure {
            Some(c) => out.push_str(&format!(
                "closure: {} packages checked together against the platform \
                 ({} platform packages hidden by modules); {} profiles installed\n",
                c.packages, c.hidden_platform_packages, c.profiles
            )),
            None => out.push_str(
                "closure: not checked (it needs one stream of each module, each with a \
                 compose of this arch, on one platform)\n",
            ),
        }
        if let Some(u) = &self.upgrade {
            out.push_str(&upgrade_line(u));
        }
        if self.problems.is_empty() {
            out.push_str("OK: no problems\n");
        } else {
            let n = self.problems.len();
            out.push_str(&format!("{n} problem{}:\n", if n == 1 { "" } else { "s" }));
            for p in &self.problems {
                out.push_str(&format!("  - {p}\n"));
            }
        }
        out
    }
}

/// The report's line on the upgrade check.
fn upgrade_line(u: &UpgradeSummary) -> String {
    use strata_solve::UpgradeOutcome;
    let by = match u.by.as_str() {
        "data.previous" => ", named by the document's previous:",
        _ => "",
    };
    let head = format!("upgrade from {} {} ({}{by})", u.release, u.version, u.from);
    if !u.checked {
        return format!(
            "{head}: not checked (it needs this release's closure and a compose of every \
             module of the previous release)\n"
        );
    }
    let upgraded = u
        .profiles
        .iter()
        .filter(|p| matches!(p.outcome, UpgradeOutcome::Upgrades(_)))
        .count();
    let mut out = format!(
        "{head}: {upgraded} of {} profiles upgrade (dnf distro-sync)\n",
        u.profiles.len()
    );
    for s in &u.switches {
        out.push_str(&format!("  {}\n", switch_text(s)));
    }
    out
}

/// How a stream switch reads in the report.
pub(crate) fn switch_text(s: &StreamSwitch) -> String {
    let (m, from, to) = (&s.module, &s.from_stream, &s.to_stream);
    format!(
        "{m}:{from} -> {m}:{to}: the release compose marks {m}:{from} obsoleted by {m}:{to}; \
         dnf with module_obsoletes=1 and module_stream_switch=1 switches on upgrade, \
         others run `dnf module switch-to {m}:{to}`"
    )
}

#[cfg(test)]
mod test {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn problems_read_as_the_chain_that_causes_them() {
        let p = Problem::Lifecycle {
            chain: s(&["php:8.2", "apache:2.4"]),
            level: "security_fixes".into(),
            ends: "2027-01-31".into(),
            release_ends: "2027-06-30".into(),
        };
        assert_eq!(
            p.to_string(),
            "php:8.2 requires apache:2.4, whose security_fixes end 2027-01-31, before the \
             release's 2027-06-30"
        );
        let p = Problem::Lifecycle {
            chain: s(&["php:8.2", "apache:2.4", "base:1"]),
            level: "eol".into(),
            ends: "2027-01-31".into(),
            release_ends: "2027-11-30".into(),
        };
        assert_eq!(
            p.to_string(),
            "php:8.2 requires apache:2.4, which requires base:1, whose end of life is \
             2027-01-31, before the release's 2027-11-30"
        );
        let p = Problem::StreamConflict {
            module: "apache".into(),
            chains: vec![s(&["php:8.2", "apache:2.4"]), s(&["apache:2.6"])],
        };
        assert_eq!(
            p.to_string(),
            "apache: 2 streams in one release, and dnf enables one: php:8.2 requires \
             apache:2.4; apache:2.6"
        );
        let json = serde_json::to_value(&p).unwrap();
        assert_eq!(json["kind"], "stream_conflict");
    }

    #[test]
    fn upgrade_problems_name_the_package_in_the_way_and_what_replaced_its_need() {
        let blocker = UpgradeBlocker {
            package: "foo-tools-1.0-1.noarch".into(),
            name: "foo-tools".into(),
            requires: "foo-libs = 1.0-1".into(),
            provided_by: s(&["foo-libs-1.0-1.noarch"]),
            replaced_by: s(&["foo-libs-2.0-1.noarch"]),
            successors: vec![],
        };
        let p = Problem::Upgrade {
            profile: "php:8.2/default".into(),
            previous: "f40".into(),
            blockers: vec![blocker.clone()],
            problems: s(&["problem with installed package foo-tools-1.0-1.noarch"]),
        };
        assert_eq!(
            p.to_string(),
            "upgrade from f40: php:8.2 profile default: foo-tools-1.0-1.noarch requires \
             foo-libs = 1.0-1, which the new release replaces with foo-libs-2.0-1.noarch, and \
             no package of the new release updates or obsoletes foo-tools"
        );
        assert_eq!(serde_json::to_value(&p).unwrap()["kind"], "upgrade");
        let p = Problem::Upgrade {
            profile: "php:8.2/default".into(),
            previous: "f40".into(),
            blockers: vec![UpgradeBlocker {
                replaced_by: vec![],
                successors: s(&["foo-tools-2.0-1.noarch"]),
                ..blocker
            }],
            problems: vec![],
        };
        assert!(
            p.to_string().ends_with(
                "requires foo-libs = 1.0-1, which foo-libs-1.0-1.noarch provides and the new \
                 release no longer ships, and foo-tools-2.0-1.noarch, which would update it, \
                 cannot be installed"
            ),
            "{p}"
        );
        let s = StreamSwitch {
            module: "php".into(),
            from_stream: "8.1".into(),
            from_compose: "php-8.1-20260101.0".into(),
            to_stream: "8.2".into(),
        };
        assert_eq!(
            switch_text(&s),
            "php:8.1 -> php:8.2: the release compose marks php:8.1 obsoleted by php:8.2; dnf \
             with module_obsoletes=1 and module_stream_switch=1 switches on upgrade, others \
             run `dnf module switch-to php:8.2`"
        );
    }
}
