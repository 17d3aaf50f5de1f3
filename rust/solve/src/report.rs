//! What a repoclosure run found, and its one rendering: the text of
//! `dnf repoclosure`, the extras dnf has no format for, and JSON. Every
//! front end (CLI, Python, compose logs) prints a report through these,
//! so they cannot drift apart. Plain data: nothing here knows how the
//! answers were found.

use serde::{Deserialize, Serialize};

/// A checked package with requirements nothing provides.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Unresolved {
    /// `name-[epoch:]version-release.arch`.
    pub package: String,
    /// The id of the repository it comes from.
    pub repo: String,
    /// The unresolved requirements, sorted, as rpm prints them.
    pub deps: Vec<String>,
}

/// A checked package that cannot be installed into an empty system.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Uninstallable {
    pub package: String,
    pub repo: String,
    /// Why, in libsolv's words.
    pub problems: Vec<String>,
}

/// The installability check's verdicts.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct InstallReport {
    /// Packages checked.
    pub checked: usize,
    /// Those that cannot be installed, in report order.
    pub uninstallable: Vec<Uninstallable>,
}

/// A set of packages that cannot be installed together (see
/// [`crate::install_sets`]).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct SetFailure {
    pub label: String,
    /// Names its repository has no installable package of.
    pub missing: Vec<String>,
    /// Why the rest cannot be installed, in libsolv's words.
    pub problems: Vec<String>,
}

/// What a distribution upgrade of one installed set changes (see
/// [`crate::upgrade_sets`]), counted on the installed side.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct UpgradeCounts {
    /// Packages installed before: the set with everything it needed.
    pub before: usize,
    pub upgraded: usize,
    pub downgraded: usize,
    /// Replaced by a package of another name that obsoletes it.
    pub obsoleted: usize,
    pub erased: usize,
    /// Reinstalled or changed at the same version.
    pub changed: usize,
    /// New packages that replace nothing.
    pub installed: usize,
}

/// An installed package that keeps the upgrade from going through: it
/// stays (the new release has no update of it, or none that installs)
/// and needs something the upgrade takes away.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct UpgradeBlocker {
    /// The installed package, `name-[epoch:]version-release.arch`.
    pub package: String,
    /// Its name.
    pub name: String,
    /// What it requires, as rpm prints it: `foo-libs = 1.0-1`.
    pub requires: String,
    /// The installed packages that provide it now.
    pub provided_by: Vec<String>,
    /// What the new release has of those packages' names instead.
    pub replaced_by: Vec<String>,
    /// Packages of the new release that would update the blocker: of its
    /// name, or obsoleting it. Empty when there are none.
    pub successors: Vec<String>,
}

/// How one installed set fares in a distribution upgrade.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum UpgradeOutcome {
    /// The set does not install from the old repositories: there is no
    /// system to upgrade.
    NotInstalled {
        /// Names its repository has no installable package of.
        missing: Vec<String>,
        /// Why the rest cannot be installed, in libsolv's words.
        problems: Vec<String>,
    },
    /// The upgrade goes through.
    Upgrades(UpgradeCounts),
    /// The upgrade fails, as `dnf distro-sync` without `--allowerasing`
    /// would.
    Fails {
        /// The installed packages in the way, explained.
        blockers: Vec<UpgradeBlocker>,
        /// libsolv's problems, each as its rules' words.
        problems: Vec<Vec<String>>,
    },
}

/// One installed set and its upgrade.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct SetUpgrade {
    pub label: String,
    pub outcome: UpgradeOutcome,
}

/// A repository that took part, as it was loaded.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RepoInfo {
    pub id: String,
    /// Where it was loaded from, without the password of a URL.
    pub location: String,
    pub packages: usize,
    /// `type:hex` of its primary.xml.
    pub checksum: String,
}

/// A package of a suggestion repository.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct PackageRef {
    pub package: String,
    pub repo: String,
}

/// The candidates that provide one unresolved requirement.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DepSuggestion {
    pub dep: String,
    pub providers: Vec<PackageRef>,
}

/// Packages of suggestion repositories that would close the gaps.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct Suggestions {
    /// For each unresolved dependency, the candidates that provide it.
    pub deps: Vec<DepSuggestion>,
    /// A set of candidates that, added, closes the checked packages
    /// (including the additions' own requirements). No member can be
    /// dropped without reopening a gap.
    pub additions: Vec<PackageRef>,
    /// Dependencies no candidate can satisfy.
    pub unsatisfiable: Vec<String>,
}

/// The result of [`crate::repoclosure`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ClosureReport {
    /// Packages checked.
    pub checked: usize,
    pub repos: Vec<RepoInfo>,
    /// Packages with unresolved requirements, in report order (name, EVR,
    /// arch).
    pub unresolved: Vec<Unresolved>,
    /// Present when installability was checked.
    pub installable: Option<InstallReport>,
    /// Present when suggestion repositories were given.
    pub suggestions: Option<Suggestions>,
}

impl ClosureReport {
    /// Closed (and, when checked, installable).
    pub fn ok(&self) -> bool {
        self.unresolved.is_empty()
            && self
                .installable
                .as_ref()
                .is_none_or(|i| i.uninstallable.is_empty())
    }

    /// Number of unresolved (package, dependency) pairs, as dnf counts them.
    pub fn unresolved_pairs(&self) -> usize {
        self.unresolved.iter().map(|u| u.deps.len()).sum()
    }

    /// The report in `dnf repoclosure`'s format, and nothing else, so that
    /// whatever parses dnf's output parses this.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        for u in &self.unresolved {
            out.push_str(&format!("package: {} from {}\n", u.package, u.repo));
            out.push_str(&format!("  unresolved deps ({}):\n", u.deps.len()));
            for d in &u.deps {
                out.push_str(&format!("    {d}\n"));
            }
        }
        out
    }

    /// What dnf has no format for: installation problems and suggestions.
    /// The CLI prints it on stderr, beside dnf's summary line.
    pub fn extras_text(&self) -> String {
        let mut out = String::new();
        if let Some(inst) = &self.installable {
            for u in &inst.uninstallable {
                out.push_str(&format!("package: {} from {}\n", u.package, u.repo));
                out.push_str(&format!(
                    "  installation problems ({}):\n",
                    u.problems.len()
                ));
                for p in &u.problems {
                    out.push_str(&format!("    {p}\n"));
                }
            }
        }
        if let Some(s) = &self.suggestions {
            suggestions_text(s, &mut out);
        }
        out
    }

    /// The whole report as pretty-printed JSON (`strata repoclosure
    /// --json`, `ClosureReport.to_json()` in Python).
    pub fn to_json(&self) -> String {
        // Strings, numbers, lists and options only: nothing that can fail
        // to serialize.
        serde_json::to_string_pretty(self).expect("a closure report always serializes")
    }
}

fn suggestions_text(s: &Suggestions, out: &mut String) {
    for d in &s.deps {
        if d.providers.is_empty() {
            continue;
        }
        let names: Vec<String> = d
            .providers
            .iter()
            .map(|p| format!("{} from {}", p.package, p.repo))
            .collect();
        out.push_str(&format!(
            "suggestion: `{}` is provided by {}\n",
            d.dep,
            names.join(", ")
        ));
    }
    if !s.additions.is_empty() {
        out.push_str("suggested additions that close the set:\n");
        for a in &s.additions {
            out.push_str(&format!("    {} from {}\n", a.package, a.repo));
        }
    }
    for u in &s.unsatisfiable {
        out.push_str(&format!("no candidate provides `{u}`\n"));
    }
}

#[cfg(test)]
mod test {
    use super::*;

    fn report() -> ClosureReport {
        let pkg = |package: &str| PackageRef {
            package: package.into(),
            repo: "extra".into(),
        };
        ClosureReport {
            checked: 3,
            repos: vec![],
            unresolved: vec![Unresolved {
                package: "app-1-1.noarch".into(),
                repo: "r".into(),
                deps: vec!["lib >= 2".into(), "tool".into()],
            }],
            installable: Some(InstallReport {
                checked: 3,
                uninstallable: vec![Uninstallable {
                    package: "app-1-1.noarch".into(),
                    repo: "r".into(),
                    problems: vec!["nothing provides tool needed by app-1-1.noarch".into()],
                }],
            }),
            suggestions: Some(Suggestions {
                deps: vec![DepSuggestion {
                    dep: "tool".into(),
                    providers: vec![pkg("tool-1-1.noarch")],
                }],
                additions: vec![pkg("tool-1-1.noarch")],
                unsatisfiable: vec!["lib >= 2".into()],
            }),
        }
    }

    #[test]
    fn renders_dnfs_format_and_the_extras_apart() {
        let r = report();
        assert!(!r.ok());
        assert_eq!(r.unresolved_pairs(), 2);
        assert_eq!(
            r.to_text(),
            "package: app-1-1.noarch from r\n  unresolved deps (2):\n    lib >= 2\n    tool\n"
        );
        assert_eq!(
            r.extras_text(),
            "package: app-1-1.noarch from r\n  installation problems (1):\n    \
             nothing provides tool needed by app-1-1.noarch\n\
             suggestion: `tool` is provided by tool-1-1.noarch from extra\n\
             suggested additions that close the set:\n    tool-1-1.noarch from extra\n\
             no candidate provides `lib >= 2`\n"
        );
    }

    #[test]
    fn json_holds_every_field() {
        let json: serde_json::Value = serde_json::from_str(&report().to_json()).unwrap();
        assert_eq!(json["checked"], 3);
        assert_eq!(json["unresolved"][0]["deps"][1], "tool");
        assert_eq!(json["installable"]["uninstallable"][0]["repo"], "r");
        assert_eq!(
            json["suggestions"]["additions"][0]["package"],
            "tool-1-1.noarch"
        );
        assert!(report().to_json().starts_with("{\n  \""), "pretty-printed");
    }
}
