//! The SAT solver: jobs in, a set of packages or a list of problems out.
//! Installs go into an empty system; a distribution upgrade
//! ([`Jobs::distupgrade_all`], [`Solver::for_upgrade`]) works on the
//! pool's installed repository and gives a [`Transaction`] summary.

use super::pool::{copy_c_str, DepId, Pool, SolvableId, SYSTEMSOLVABLE};
use super::queue::Queue;
use libsolv_sys::ffi;
use std::os::raw::c_int;
use std::ptr::NonNull;

/// A list of solver jobs: (how, what) pairs in libsolv's job queue.
pub(crate) struct Jobs {
    queue: Queue,
}

impl Default for Jobs {
    fn default() -> Self {
        Jobs::new()
    }
}

impl Jobs {
    pub(crate) fn new() -> Jobs {
        Jobs {
            queue: Queue::new(),
        }
    }

    fn push(&mut self, how: u32, what: ffi::Id) {
        self.queue.push(how as ffi::Id);
        self.queue.push(what);
    }

    /// Install exactly this package.
    pub(crate) fn install_solvable(&mut self, id: SolvableId) {
        self.push(ffi::SOLVER_INSTALL | ffi::SOLVER_SOLVABLE, id.0);
    }

    /// Install this package if that does not make the job unsolvable; the
    /// solver drops weak jobs it cannot satisfy instead of reporting them.
    #[cfg(test)]
    pub(crate) fn install_solvable_weak(&mut self, id: SolvableId) {
        self.push(
            ffi::SOLVER_INSTALL | ffi::SOLVER_SOLVABLE | ffi::SOLVER_WEAK,
            id.0,
        );
    }

    /// Install this package if that does not make the job unsolvable (a
    /// weak job: dropped, not reported, when it cannot be met), without
    /// relaxing the arch policy: an explicit install of a package normally lifts the
    /// infarch rules for its name (so `foo.i686` may be installed next to
    /// an available `foo.x86_64`), and with many jobs in one solve that
    /// would leak to every package depending on `foo`.
    pub(super) fn install_solvable_weak_strict(&mut self, id: SolvableId) {
        let how =
            ffi::SOLVER_INSTALL | ffi::SOLVER_SOLVABLE | ffi::SOLVER_WEAK | ffi::SOLVER_NOAUTOSET;
        self.push(how, id.0);
    }

    /// Bring every installed package to the version the available
    /// repositories have (`dnf distro-sync`): upgrades, downgrades and
    /// obsoletes, never an erasure the solver is not allowed.
    pub(crate) fn distupgrade_all(&mut self) {
        self.push(ffi::SOLVER_DISTUPGRADE | ffi::SOLVER_SOLVABLE_ALL, 0);
    }

    pub(crate) fn clear(&mut self) {
        self.queue.clear();
    }

    /// Panics unless every id in the jobs belongs to `pool`.
    fn check(&self, pool: &Pool) {
        for job in self.queue.as_slice().chunks_exact(2) {
            let (how, what) = (job[0] as u32, job[1]);
            match how & ffi::SOLVER_SELECTMASK {
                ffi::SOLVER_SOLVABLE => pool.check_solvable(SolvableId(what)),
                ffi::SOLVER_SOLVABLE_ALL => assert_eq!(what, 0),
                other => unreachable!("Jobs only builds known selections, got {other}"),
            }
        }
    }
}

/// One reason a job cannot be solved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Problem {
    /// The rules involved, as libsolv words them: "nothing provides bar
    /// needed by foo-1-1.noarch", "package a-1-1.noarch conflicts with b
    /// provided by b-1-1.noarch", ...
    pub(crate) rules: Vec<String>,
    /// The same rules as data, for callers that explain them further (a
    /// package rule's package, dependency and other package).
    pub(crate) infos: Vec<RuleInfo>,
}

/// What kind of rule a problem involves (libsolv's SolverRuleinfo, the
/// kinds a caller tells apart).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RuleKind {
    /// `source` requires `dep`, and no provider of it can be installed.
    Requires,
    /// Nothing provides `dep`, needed by `source`.
    NothingProvides,
    /// Any other rule: conflicts, obsoletes, two versions of one name, a
    /// distupgrade rule, a job.
    Other,
}

/// One rule of a problem, as data.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct RuleInfo {
    pub(crate) kind: RuleKind,
    pub(crate) source: Option<SolvableId>,
    pub(crate) dep: Option<DepId>,
    pub(crate) text: String,
}

/// How many packages a solved transaction changes, by kind, counted on
/// the installed side (an upgrade counts the package it replaces).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct TransactionCounts {
    pub(crate) upgraded: usize,
    pub(crate) downgraded: usize,
    /// Replaced by a package of another name that obsoletes it.
    pub(crate) obsoleted: usize,
    pub(crate) erased: usize,
    /// Reinstalled or changed (same EVR, other package).
    pub(crate) changed: usize,
    /// New packages that replace nothing.
    pub(crate) installed: usize,
}

/// A libsolv solver over a pool it borrows, so the pool can neither change
/// nor go away while the solver lives. Reusable for many solves.
pub(crate) struct Solver<'pool> {
    raw: NonNull<ffi::Solver>,
    pool: &'pool Pool,
}

impl Drop for Solver<'_> {
    fn drop(&mut self) {
        // Safe because the solver came from solver_create and is freed only
        // here, before the pool it borrows.
        unsafe { ffi::solver_free(self.raw.as_ptr()) }
    }
}

impl<'pool> Solver<'pool> {
    /// A solver that leaves recommended packages out.
    pub(crate) fn new(pool: &'pool Pool) -> Solver<'pool> {
        pool.ensure_whatprovides();
        // Safe because the pool is valid and its whatprovides index built.
        let raw = NonNull::new(unsafe { ffi::solver_create(pool.as_ptr()) })
            .expect("solver_create returned NULL");
        // Safe because the solver is valid.
        unsafe {
            ffi::solver_set_flag(
                raw.as_ptr(),
                ffi::SOLVER_FLAG_IGNORE_RECOMMENDED as c_int,
                1,
            )
        };
        Solver { raw, pool }
    }

    /// A solver for a distribution upgrade, with the flags libdnf sets
    /// (libdnf's Goal: vendor changes allowed, orphans kept rather than
    /// erased, the best candidate within the arch policy, package splits
    /// through obsoletes) and no uninstall allowed: `dnf distro-sync`
    /// without `--allowerasing`.
    pub(crate) fn for_upgrade(pool: &'pool Pool) -> Solver<'pool> {
        let solver = Solver::new(pool);
        for flag in [
            ffi::SOLVER_FLAG_ALLOW_VENDORCHANGE,
            ffi::SOLVER_FLAG_KEEP_ORPHANS,
            ffi::SOLVER_FLAG_BEST_OBEY_POLICY,
            ffi::SOLVER_FLAG_YUM_OBSOLETES,
        ] {
            // Safe because the solver is valid and the flag a known one.
            unsafe { ffi::solver_set_flag(solver.raw.as_ptr(), flag as c_int, 1) };
        }
        solver
    }

    /// Solves `jobs` from an empty system; returns the number of problems.
    pub(crate) fn solve(&mut self, jobs: &Jobs) -> usize {
        jobs.check(self.pool);
        // Safe because every id in the jobs belongs to the solver's pool
        // (checked above), and solver_solve only copies the job queue.
        let n = unsafe { ffi::solver_solve(self.raw.as_ptr(), jobs.queue.as_ptr().cast_mut()) };
        n as usize
    }

    /// The problems of the last solve, each with the rules behind it.
    pub(crate) fn problems(&self) -> Vec<Problem> {
        let solv = self.raw.as_ptr();
        let mut rules = Queue::new();
        let mut problems = Vec::new();
        let mut problem = 0;
        loop {
            // Safe because the solver is valid; 0 starts the iteration.
            problem = unsafe { ffi::solver_next_problem(solv, problem) };
            if problem == 0 {
                break;
            }
            // Safe because `problem` came from solver_next_problem.
            unsafe { ffi::solver_findallproblemrules(solv, problem, rules.as_mut_ptr()) };
            let mut lines: Vec<String> = Vec::new();
            let mut infos: Vec<RuleInfo> = Vec::new();
            let mut job_lines = Vec::new();
            for &rule in rules.as_slice() {
                let (mut source, mut target, mut dep) = (0, 0, 0);
                // Safe because `rule` came from solver_findallproblemrules, and
                // the string it describes is copied before the next call.
                let (kind, text) = unsafe {
                    let kind = ffi::solver_ruleinfo(solv, rule, &mut source, &mut target, &mut dep);
                    let text = ffi::solver_problemruleinfo2str(solv, kind, source, target, dep);
                    (kind, copy_c_str(text))
                };
                // The job rule itself only says "conflicting requests".
                if kind == ffi::SolverRuleinfo_SOLVER_RULE_JOB {
                    job_lines.push(text);
                } else if !lines.contains(&text) {
                    let rule_kind = match kind {
                        ffi::SolverRuleinfo_SOLVER_RULE_PKG_REQUIRES => RuleKind::Requires,
                        ffi::SolverRuleinfo_SOLVER_RULE_PKG_NOTHING_PROVIDES_DEP => {
                            RuleKind::NothingProvides
                        }
                        _ => RuleKind::Other,
                    };
                    infos.push(RuleInfo {
                        kind: rule_kind,
                        source: (source > SYSTEMSOLVABLE).then_some(SolvableId(source)),
                        dep: (dep != 0).then_some(DepId(dep)),
                        text: text.clone(),
                    });
                    lines.push(text);
                }
            }
            if lines.is_empty() {
                lines = job_lines;
            }
            problems.push(Problem {
                rules: lines,
                infos,
            });
        }
        problems
    }

    /// What the last (successful) solve changes on the installed system.
    pub(crate) fn transaction_counts(&self) -> TransactionCounts {
        // Safe because the solver is valid; the transaction is the
        // caller's to free, which the guard does.
        let trans = TransactionGuard(unsafe { ffi::solver_create_transaction(self.raw.as_ptr()) });
        let mut classes = Queue::new();
        // Without SHOW_ACTIVE each change is classified on the installed
        // side; SHOW_OBSOLETES tells an obsoleted package from an upgraded
        // one. The queue holds (type, count, from, to) per class.
        // Safe because the transaction is valid and the queue initialized.
        unsafe {
            ffi::transaction_classify(
                trans.0,
                ffi::SOLVER_TRANSACTION_SHOW_OBSOLETES as c_int,
                classes.as_mut_ptr(),
            )
        };
        let mut counts = TransactionCounts::default();
        for class in classes.as_slice().chunks_exact(4) {
            let n = class[1] as usize;
            match class[0] as u32 {
                ffi::SOLVER_TRANSACTION_UPGRADED => counts.upgraded += n,
                ffi::SOLVER_TRANSACTION_DOWNGRADED => counts.downgraded += n,
                ffi::SOLVER_TRANSACTION_OBSOLETED => counts.obsoleted += n,
                ffi::SOLVER_TRANSACTION_ERASE => counts.erased += n,
                ffi::SOLVER_TRANSACTION_REINSTALLED | ffi::SOLVER_TRANSACTION_CHANGED => {
                    counts.changed += n
                }
                ffi::SOLVER_TRANSACTION_INSTALL | ffi::SOLVER_TRANSACTION_MULTIINSTALL => {
                    counts.installed += n
                }
                _ => {}
            }
        }
        counts
    }

    /// The packages the last solve installs, in id order.
    pub(crate) fn new_solvables(&self) -> Vec<SolvableId> {
        let mut decisions = Queue::new();
        // Safe because the solver is valid; the decisions are copied into
        // the queue.
        unsafe { ffi::solver_get_decisionqueue(self.raw.as_ptr(), decisions.as_mut_ptr()) };
        // With no installed repository, every positive decision but the
        // system solvable is a new install.
        let mut out: Vec<SolvableId> = decisions
            .as_slice()
            .iter()
            .filter(|&&p| p > SYSTEMSOLVABLE)
            .map(|&p| SolvableId(p))
            .collect();
        out.sort_unstable();
        out
    }
}

/// Frees a transaction on drop.
struct TransactionGuard(*mut ffi::Transaction);

impl Drop for TransactionGuard {
    fn drop(&mut self) {
        // Safe because the transaction came from solver_create_transaction
        // and is freed only here.
        unsafe { ffi::transaction_free(self.0) }
    }
}

#[cfg(test)]
pub(super) mod test {
    use super::*;
    use crate::libsolv::{DepId, Rel, RepoId, SolvableSpec};

    /// Builds small pools from one-line package descriptions:
    /// `"name-evr.arch R:dep R:dep P:dep C:dep O:dep"` where a dep is
    /// `name` or `name>=evr` (`<`, `<=`, `=`, `>=`, `>`), or a rich dep
    /// `(a or b)` / `(a and b)` / `(a if b)` without spaces inside names.
    pub(crate) struct TestPool {
        pub(crate) pool: Pool,
        pub(crate) repo: RepoId,
    }

    impl TestPool {
        pub(crate) fn new(arch: &str) -> TestPool {
            let mut pool = Pool::new(arch).unwrap();
            let repo = pool.add_repo("test").unwrap();
            TestPool { pool, repo }
        }

        pub(crate) fn dep(&mut self, text: &str) -> DepId {
            let text = text.trim();
            if let Some(inner) = text.strip_prefix('(').and_then(|t| t.strip_suffix(')')) {
                // Split at the first top-level operator word.
                let words: Vec<&str> = inner.split(' ').collect();
                let mut depth = 0;
                for (i, w) in words.iter().enumerate() {
                    depth += w.matches('(').count() as i32 - w.matches(')').count() as i32;
                    let op = match *w {
                        "and" => RichOp::And,
                        "or" => RichOp::Or,
                        "if" => RichOp::If,
                        "unless" => RichOp::Unless,
                        "else" => RichOp::Else,
                        "with" => RichOp::With,
                        "without" => RichOp::Without,
                        _ => continue,
                    };
                    if depth == 0 {
                        let left = self.dep(&words[..i].join(" "));
                        let right = self.dep(&words[i + 1..].join(" "));
                        return self.pool.rich(op, left, right);
                    }
                }
                return self.dep(inner);
            }
            for op in ["<=", ">=", "<", ">", "="] {
                if let Some((name, evr)) = text.split_once(op) {
                    let rel = match op {
                        "<=" => Rel::LE,
                        ">=" => Rel::GE,
                        "<" => Rel::LT,
                        ">" => Rel::GT,
                        _ => Rel::EQ,
                    };
                    let name = self.pool.intern(name).unwrap();
                    let evr = self.pool.intern(evr).unwrap();
                    return self.pool.versioned(name, rel, evr);
                }
            }
            self.pool.intern(text).unwrap().into()
        }

        /// Adds `name-version-release.arch` with its self-provide.
        pub(crate) fn add(&mut self, line: &str) -> SolvableId {
            // Rich deps may contain spaces; they are written with `_` here.
            let mut parts = line.split_whitespace();
            let nevra = parts.next().unwrap();
            let (nevr, arch) = nevra.rsplit_once('.').unwrap();
            let (nv, rel) = nevr.rsplit_once('-').unwrap();
            let (name, ver) = nv.rsplit_once('-').unwrap();
            let evr_text = format!("{ver}-{rel}");
            let (name, evr, arch) = (
                self.pool.intern(name).unwrap(),
                self.pool.intern(&evr_text).unwrap(),
                self.pool.intern(arch).unwrap(),
            );
            let mut lists: [Vec<DepId>; 6] = Default::default();
            lists[0].push(self.pool.versioned(name, Rel::EQ, evr));
            for part in parts {
                let (kind, dep) = part.split_once(':').unwrap();
                let dep = self.dep(&dep.replace('_', " "));
                let i = match kind {
                    "P" => 0,
                    "R" => 1,
                    "Rpre" => 2,
                    "C" => 3,
                    "O" => 4,
                    "Rec" => 5,
                    _ => panic!("unknown list {kind}"),
                };
                lists[i].push(dep);
            }
            let spec = SolvableSpec {
                provides: &lists[0],
                requires: &lists[1],
                prerequires: &lists[2],
                conflicts: &lists[3],
                obsoletes: &lists[4],
                recommends: &lists[5],
                ..SolvableSpec::new(name, evr, arch)
            };
            self.pool.add_solvable(self.repo, &spec)
        }
    }

    use crate::libsolv::RichOp;

    fn solve_one(tp: &TestPool, p: SolvableId) -> (usize, Vec<Problem>, Vec<SolvableId>) {
        let mut solver = Solver::new(&tp.pool);
        let mut jobs = Jobs::new();
        jobs.install_solvable(p);
        let n = solver.solve(&jobs);
        (n, solver.problems(), solver.new_solvables())
    }

    #[test]
    fn nothing_provides() {
        let mut tp = TestPool::new("x86_64");
        let foo = tp.add("foo-1-1.noarch R:bar");
        let (n, problems, _) = solve_one(&tp, foo);
        assert_eq!(n, 1);
        assert_eq!(
            problems[0].rules,
            vec!["nothing provides bar needed by foo-1-1.noarch"]
        );
    }

    #[test]
    fn conflicts_and_chains() {
        let mut tp = TestPool::new("x86_64");
        let a = tp.add("a-1-1.noarch R:b C:b");
        tp.add("b-1-1.noarch");
        let (n, problems, _) = solve_one(&tp, a);
        assert_eq!(n, 1);
        assert!(problems[0].rules.contains(
            &"package a-1-1.noarch conflicts with b provided by b-1-1.noarch".to_string()
        ));

        let top = tp.add("top-1-1.noarch R:mid>=2");
        tp.add("mid-2-1.noarch R:missing");
        let (_, problems, _) = solve_one(&tp, top);
        let rules = &problems[0].rules;
        assert!(
            rules.contains(&"nothing provides missing needed by mid-2-1.noarch".to_string()),
            "{rules:?}"
        );
        assert!(rules.contains(
            &"package top-1-1.noarch requires mid >= 2, but none of the providers can be installed"
                .to_string()
        ));
    }

    #[test]
    fn installs_dependencies_not_recommends() {
        let mut tp = TestPool::new("x86_64");
        let app = tp.add("app-1-1.x86_64 R:lib>=1.0 Rpre:/bin/sh Rec:extra");
        let lib = tp.add("lib-1.0-1.x86_64");
        let sh = tp.add("bash-5-1.x86_64 P:/bin/sh");
        tp.add("extra-1-1.noarch");
        let (n, _, installed) = solve_one(&tp, app);
        assert_eq!(n, 0);
        assert_eq!(installed, vec![app, lib, sh]);
    }

    #[test]
    fn rich_requires() {
        let mut tp = TestPool::new("x86_64");
        let a = tp.add("a-1-1.noarch R:(b_or_c)");
        let c = tp.add("c-1-1.noarch");
        let d = tp.add("d-1-1.noarch R:(b_and_c)");
        let (n, _, installed) = solve_one(&tp, a);
        assert_eq!((n, installed), (0, vec![a, c]));
        let (n, problems, _) = solve_one(&tp, d);
        assert_eq!(n, 1);
        assert!(!problems[0].rules.is_empty());
        let either = tp.dep("(b or c)");
        assert_eq!(tp.pool.dep_str(either), "(b or c)");
    }

    #[test]
    fn weak_jobs_are_dropped_not_reported() {
        let mut tp = TestPool::new("x86_64");
        let a = tp.add("a-1-1.noarch C:b");
        let b = tp.add("b-1-1.noarch");
        let broken = tp.add("broken-1-1.noarch R:nothing");
        let mut solver = Solver::new(&tp.pool);
        let mut jobs = Jobs::new();
        for p in [a, b, broken] {
            jobs.install_solvable_weak(p);
        }
        assert_eq!(solver.solve(&jobs), 0);
        let installed = solver.new_solvables();
        assert!(!installed.contains(&broken));
        assert_eq!(installed.len(), 1, "a and b conflict: {installed:?}");
    }
}
