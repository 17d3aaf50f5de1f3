//! Installability of many packages: which candidates cannot be installed,
//! each alone into an empty system, and why.
//!
//! "Alone" means a fresh solver per package. A reused libsolv solver keeps
//! the package rules of its earlier solves, and the arch policy (infarch
//! rules: no `foo.i686` when a `foo.x86_64` is in play) is computed from
//! all of them, so with multilib repositories a reused solver's verdicts
//! depend on what it solved before.
//!
//! One solve per package is the obvious answer and too slow for a whole
//! distribution. [`installcheck`] reaches the same verdicts with far fewer
//! solves, in four steps:
//!
//! 1. Breakage without SAT: a package of a foreign arch, or with a
//!    requirement nothing provides, cannot be installed; nor can a package
//!    with a requirement whose providers all cannot be. A worklist carries
//!    this to a fixpoint over plain, versioned, `and` and `or`
//!    requirements; other rich dependencies count as satisfiable, which
//!    only weakens the proof. Packages whose name comes in several arches
//!    are left to the solver: asking for one of them lifts the arch policy
//!    for its name, so it may do with providers that are broken alone.
//! 2. Probes: a solve alone for the √n packages most others depend on.
//!    One of them broken for a reason step 1 cannot see (perl's own
//!    packages conflicting, say) settles thousands of dependents in the
//!    worklist.
//! 3. Installability in bulk, as libsolv's tools/installcheck.c does: a
//!    solve with a weak install job per candidate. The solver drops the
//!    weak jobs it cannot satisfy and returns a consistent set, so every
//!    package in it is installable alone: a package's own solve has a
//!    subset of the big solve's package rules and fewer arch-policy rules,
//!    as long as the weak jobs do not lift the arch policy for their names
//!    (hence SOLVER_NOAUTOSET). Each dropped weak job restarts the solve,
//!    which is why steps 1 and 2 go first and the jobs go in batches, each
//!    to a fresh solver; the jobs left over get another pass while most
//!    of a pass gets through.
//! 4. A solve alone for each candidate still undecided, those others
//!    depend on first, each breakage passed on through the worklist.
//!
//! Packages found broken by a solve carry libsolv's own explanation, the
//! same as [`naive_installcheck`] gives; the others get one built from the
//! worklist's proof in libsolv's words ("nothing provides X needed by P",
//! "package P requires X, but none of the providers can be installed",
//! followed by the reasons of those providers).

use super::pool::{DepId, DepShape, Pool, SolvableId};
use super::solver::{Jobs, Solver};
// Fx, not std's randomly seeded hashing: iteration order decides which
// requirement a proof names, and the same pool must give the same words.
use rustc_hash::{FxHashMap, FxHashSet};
use std::time::Instant;

/// Weak install jobs per solve in step 3. A dropped job restarts the
/// solve, at a cost that grows with the batch; each solve has a setup
/// cost too. 1000 was fastest on Debian's 63,440 packages (500 to 2000
/// within 15%).
const BATCH: usize = 1000;

/// For every candidate that cannot be installed alone into an empty
/// system, the problem descriptions, in candidate order.
/// `progress(done, total)` reports candidates decided so far.
pub(crate) fn installcheck(
    pool: &Pool,
    candidates: &[SolvableId],
    progress: &dyn Fn(usize, usize),
) -> Vec<(SolvableId, Vec<String>)> {
    let started = Instant::now();
    let mut check = Check::new(pool, candidates);
    let step = |check: &Check<'_>, name: &str| {
        progress(check.decided, check.total);
        tracing::debug!(decided = check.decided, total = check.total, elapsed = ?started.elapsed(), "installcheck: {name}");
    };
    step(&check, "worklist");

    let probes = (check.total as f64).sqrt().ceil() as usize;
    for p in check.undecided_by_fan_in().into_iter().take(probes) {
        check.solve_alone(p);
    }
    step(&check, "probes");

    // Another pass over the jobs that did not get through pays only while
    // most get through: what is left then is mostly broken.
    let mut jobs = Jobs::new();
    loop {
        let undecided = check.undecided();
        for batch in undecided.chunks(BATCH) {
            // A fresh solver per batch: a reused one keeps every earlier
            // batch's rules and slows down with each.
            let mut solver = Solver::new(pool);
            jobs.clear();
            for &p in batch {
                jobs.install_solvable_weak_strict(p);
            }
            solver.solve(&jobs);
            for p in solver.new_solvables() {
                check.mark_installable(p);
            }
            progress(check.decided, check.total);
        }
        step(&check, "weak installs");
        // Stop when nothing is left, or when a pass decided less than half.
        if undecided.is_empty() || check.undecided().len() * 2 > undecided.len() {
            break;
        }
    }

    for p in check.undecided_by_fan_in() {
        check.solve_alone(p);
        progress(check.decided, check.total);
    }
    step(&check, "single solves");

    let mut seen = FxHashSet::default();
    candidates
        .iter()
        .filter(|&&p| check.is_broken(p) && seen.insert(p))
        .map(|&p| (p, check.explain(p)))
        .collect()
}

/// The baseline [`installcheck`] is measured and tested against: one fresh
/// solve per candidate.
pub(crate) fn naive_installcheck(
    pool: &Pool,
    candidates: &[SolvableId],
) -> Vec<(SolvableId, Vec<String>)> {
    let mut seen = FxHashSet::default();
    candidates
        .iter()
        .filter(|&&p| seen.insert(p))
        .filter_map(|&p| solve_alone(pool, p).map(|problems| (p, problems)))
        .collect()
}

/// Installs `p` alone with a fresh solver; `None` if that works, else the
/// problem descriptions.
fn solve_alone(pool: &Pool, p: SolvableId) -> Option<Vec<String>> {
    let mut solver = Solver::new(pool);
    let mut jobs = Jobs::new();
    jobs.install_solvable(p);
    if solver.solve(&jobs) == 0 {
        return None;
    }
    Some(
        solver
            .problems()
            .into_iter()
            .flat_map(|problem| problem.rules)
            .collect(),
    )
}

/// Why a package cannot be installed.
enum Reason {
    /// Its arch does not fit the pool's.
    Arch,
    /// This requirement (an index into `Check::reqs`) cannot be met.
    Requires(usize),
    /// A solve said so, in these words.
    Solved(Vec<String>),
}

enum State {
    Undecided,
    Installable,
    Broken(Reason),
}

/// A requirement as a formula over atoms (plain or versioned deps, whose
/// providers whatprovides lists exactly).
enum Node {
    Atom(usize),
    And(usize, usize),
    Or(usize, usize),
    /// Conditional rich deps and the like: assumed satisfiable.
    Opaque,
}

struct Atom {
    providers: Vec<SolvableId>,
    /// Providers not known to be broken.
    live: usize,
    /// Requirements (indices into `Check::reqs`) that mention the atom.
    users: Vec<usize>,
}

struct Req {
    owner: SolvableId,
    dep: DepId,
    root: usize,
}

/// The verdicts so far, and the requirement graph behind the worklist.
struct Check<'a> {
    pool: &'a Pool,
    state: Vec<State>,
    is_candidate: Vec<bool>,
    total: usize,
    /// Candidates (counted once) with a verdict.
    decided: usize,
    atoms: Vec<Atom>,
    nodes: Vec<Node>,
    reqs: Vec<Req>,
    /// Per solvable, the atoms it provides.
    provides: Vec<Vec<usize>>,
    /// Per solvable, whether its name also comes in another arch. Asking
    /// for such a package lifts the arch policy for its name, so its own
    /// solve may succeed with providers that are broken alone (a library
    /// that needs it back, which alone would have to take the other
    /// arch). The worklist leaves these to the solver.
    multiarch: Vec<bool>,
    /// Newly broken packages whose providees are not yet updated.
    worklist: Vec<SolvableId>,
}

impl<'a> Check<'a> {
    fn new(pool: &'a Pool, candidates: &[SolvableId]) -> Check<'a> {
        let n = pool.nsolvables() as usize;
        let mut is_candidate = vec![false; n];
        for &p in candidates {
            pool.check_solvable(p);
            is_candidate[p.index()] = true;
        }
        let mut check = Check {
            pool,
            state: (0..n).map(|_| State::Undecided).collect(),
            total: is_candidate.iter().filter(|&&c| c).count(),
            is_candidate,
            decided: 0,
            atoms: Vec::new(),
            nodes: Vec::new(),
            reqs: Vec::new(),
            provides: vec![Vec::new(); n],
            multiarch: vec![false; n],
            worklist: Vec::new(),
        };
        let mut arches_of = FxHashMap::default();
        for s in pool.solvables() {
            if pool.is_installable_arch(s) {
                let (name, arch) = pool.solvable_name_arch(s);
                arches_of
                    .entry(name)
                    .or_insert_with(FxHashSet::default)
                    .insert(arch);
            }
        }
        for s in pool.solvables() {
            let (name, _) = pool.solvable_name_arch(s);
            check.multiarch[s.index()] = arches_of.get(&name).is_some_and(|a| a.len() > 1);
        }
        let mut atom_of = FxHashMap::default();
        for s in pool.solvables() {
            if !pool.is_installable_arch(s) {
                check.mark_broken(s, Reason::Arch);
                continue;
            }
            for dep in pool.requires(s) {
                let root = check.add_node(dep, &mut atom_of);
                check.reqs.push(Req {
                    owner: s,
                    dep,
                    root,
                });
            }
        }
        for (r, req) in check.reqs.iter().enumerate() {
            let mut atoms = Vec::new();
            collect_atoms(&check.nodes, req.root, &mut atoms);
            for k in atoms {
                check.atoms[k].users.push(r);
            }
        }
        for (&dep, &k) in &atom_of {
            let providers = pool.whatprovides(dep);
            for p in &providers {
                check.provides[p.index()].push(k);
            }
            check.atoms[k].live = providers.len();
            check.atoms[k].providers = providers;
        }
        for r in 0..check.reqs.len() {
            check.break_if_dead(r);
        }
        check.propagate();
        check
    }

    fn add_node(&mut self, dep: DepId, atom_of: &mut FxHashMap<DepId, usize>) -> usize {
        let node = match self.pool.dep_shape(dep) {
            DepShape::Simple => {
                let atoms = &mut self.atoms;
                Node::Atom(*atom_of.entry(dep).or_insert_with(|| {
                    atoms.push(Atom {
                        providers: Vec::new(),
                        live: 0,
                        users: Vec::new(),
                    });
                    atoms.len() - 1
                }))
            }
            DepShape::And(a, b) => Node::And(self.add_node(a, atom_of), self.add_node(b, atom_of)),
            DepShape::Or(a, b) => Node::Or(self.add_node(a, atom_of), self.add_node(b, atom_of)),
            DepShape::Other => Node::Opaque,
        };
        self.nodes.push(node);
        self.nodes.len() - 1
    }

    /// Whether the formula cannot be met by packages not known broken.
    fn dead(&self, node: usize) -> bool {
        match self.nodes[node] {
            Node::Atom(k) => self.atoms[k].live == 0,
            Node::And(a, b) => self.dead(a) || self.dead(b),
            Node::Or(a, b) => self.dead(a) && self.dead(b),
            Node::Opaque => false,
        }
    }

    /// Whether the formula cannot be met by any package at all.
    fn unprovided(&self, node: usize) -> bool {
        match self.nodes[node] {
            Node::Atom(k) => self.atoms[k].providers.is_empty(),
            Node::And(a, b) => self.unprovided(a) || self.unprovided(b),
            Node::Or(a, b) => self.unprovided(a) && self.unprovided(b),
            Node::Opaque => false,
        }
    }

    fn is_undecided(&self, p: SolvableId) -> bool {
        matches!(self.state[p.index()], State::Undecided)
    }

    fn is_broken(&self, p: SolvableId) -> bool {
        matches!(self.state[p.index()], State::Broken(_))
    }

    /// Undecided candidates, in id order (which keeps a repository's
    /// related packages together).
    fn undecided(&self) -> Vec<SolvableId> {
        (0..self.state.len())
            .filter(|&i| self.is_candidate[i] && matches!(self.state[i], State::Undecided))
            .map(|i| SolvableId(i as _))
            .collect()
    }

    /// Undecided candidates, those most requirements lean on first.
    fn undecided_by_fan_in(&self) -> Vec<SolvableId> {
        let mut out = self.undecided();
        out.sort_by_key(|&p| std::cmp::Reverse(self.fan_in(p)));
        out
    }

    /// How many requirements would lose a provider if `p` were broken.
    fn fan_in(&self, p: SolvableId) -> usize {
        self.provides[p.index()]
            .iter()
            .map(|&k| self.atoms[k].users.len())
            .sum()
    }

    fn decide(&mut self, p: SolvableId, state: State) {
        let i = p.index();
        debug_assert!(matches!(self.state[i], State::Undecided));
        self.state[i] = state;
        if self.is_candidate[i] {
            self.decided += 1;
        }
    }

    fn mark_installable(&mut self, p: SolvableId) {
        debug_assert!(
            !self.is_broken(p),
            "{} proven both ways",
            self.pool.solvable_str(p)
        );
        if self.is_undecided(p) {
            self.decide(p, State::Installable);
        }
    }

    /// Decides an undecided `p` with a fresh solve of its own, and passes
    /// a breakage on to its dependents.
    fn solve_alone(&mut self, p: SolvableId) {
        if !self.is_undecided(p) {
            return;
        }
        match solve_alone(self.pool, p) {
            None => self.mark_installable(p),
            Some(problems) => self.mark_broken(p, Reason::Solved(problems)),
        }
        self.propagate();
    }

    /// Records `p` as broken; [`Check::propagate`] passes it on.
    fn mark_broken(&mut self, p: SolvableId, reason: Reason) {
        if self.is_undecided(p) {
            self.decide(p, State::Broken(reason));
            self.worklist.push(p);
        }
    }

    /// Marks the owner of requirement `r` broken if `r` cannot be met.
    fn break_if_dead(&mut self, r: usize) {
        let owner = self.reqs[r].owner;
        if self.is_undecided(owner)
            && !self.multiarch[owner.index()]
            && self.dead(self.reqs[r].root)
        {
            self.mark_broken(owner, Reason::Requires(r));
        }
    }

    /// The worklist to its fixpoint: requirements whose providers all broke break
    /// their owners.
    fn propagate(&mut self) {
        while let Some(s) = self.worklist.pop() {
            for i in 0..self.provides[s.index()].len() {
                let k = self.provides[s.index()][i];
                self.atoms[k].live -= 1;
                if self.atoms[k].live > 0 {
                    continue;
                }
                for u in 0..self.atoms[k].users.len() {
                    self.break_if_dead(self.atoms[k].users[u]);
                }
            }
        }
    }

    /// Why `p` cannot be installed: its own reason, then those of the
    /// packages that reason points to, depth first, each line once.
    fn explain(&self, p: SolvableId) -> Vec<String> {
        let pool = self.pool;
        let mut lines = Vec::new();
        let mut seen_lines = FxHashSet::default();
        let mut seen = FxHashSet::default();
        let mut stack = vec![p];
        while let Some(s) = stack.pop() {
            if !seen.insert(s) {
                continue;
            }
            let mut add = |line: String| {
                if seen_lines.insert(line.clone()) {
                    lines.push(line);
                }
            };
            match &self.state[s.index()] {
                State::Broken(Reason::Arch) => add(format!(
                    "package {} does not have a compatible architecture",
                    pool.solvable_str(s)
                )),
                State::Broken(Reason::Solved(problems)) => problems.iter().cloned().for_each(add),
                State::Broken(Reason::Requires(r)) => {
                    let req = &self.reqs[*r];
                    let (dep, who) = (pool.dep_str(req.dep), pool.solvable_str(s));
                    if self.unprovided(req.root) {
                        add(format!("nothing provides {dep} needed by {who}"));
                        continue;
                    }
                    add(format!(
                        "package {who} requires {dep}, but none of the providers can be installed"
                    ));
                    let mut culprits = Vec::new();
                    self.dead_providers(req.root, &mut culprits);
                    stack.extend(culprits.into_iter().rev());
                }
                State::Undecided | State::Installable => {
                    unreachable!("explaining a package that is not broken")
                }
            }
        }
        lines
    }

    /// The broken providers that make the (dead) formula dead.
    fn dead_providers(&self, node: usize, out: &mut Vec<SolvableId>) {
        match self.nodes[node] {
            Node::Atom(k) => out.extend(&self.atoms[k].providers),
            Node::And(a, b) => self.dead_providers(if self.dead(a) { a } else { b }, out),
            Node::Or(a, b) => {
                self.dead_providers(a, out);
                self.dead_providers(b, out);
            }
            Node::Opaque => {}
        }
    }
}

fn collect_atoms(nodes: &[Node], node: usize, out: &mut Vec<usize>) {
    match nodes[node] {
        Node::Atom(k) => out.push(k),
        Node::And(a, b) | Node::Or(a, b) => {
            collect_atoms(nodes, a, out);
            collect_atoms(nodes, b, out);
        }
        Node::Opaque => {}
    }
}

#[cfg(test)]
mod test {
    use super::*;
    use crate::libsolv::solver::test::TestPool;
    use crate::testkit::XorShift;

    type Verdicts = Vec<(SolvableId, Vec<String>)>;

    /// Runs both checks over every package; they must find the same
    /// packages broken, each with an explanation.
    fn check_all(tp: &TestPool) -> (Verdicts, Verdicts) {
        let all = tp.pool.solvables();
        let naive = naive_installcheck(&tp.pool, &all);
        let fast = installcheck(&tp.pool, &all, &|_, _| {});
        let ids = |v: &Verdicts| v.iter().map(|(p, _)| *p).collect::<Vec<_>>();
        assert_eq!(ids(&fast), ids(&naive), "fast: {fast:?}\nnaive: {naive:?}");
        assert!(fast.iter().all(|(_, why)| !why.is_empty()));
        (fast, naive)
    }

    fn why<'a>(tp: &TestPool, result: &'a Verdicts, name: &str) -> &'a [String] {
        let found = result
            .iter()
            .find(|(p, _)| tp.pool.solvable_str(*p) == name);
        &found.unwrap_or_else(|| panic!("{name} is not broken")).1
    }

    #[test]
    fn hand_made_pool() {
        let mut tp = TestPool::new("x86_64");
        // Chains of missing dependencies.
        tp.add("chain1-1-1.noarch R:chain2");
        tp.add("chain2-1-1.noarch R:chain3>=2");
        tp.add("chain3-1-1.noarch");
        // Conflicts: alone each is fine; with a hard requirement, not.
        tp.add("c1-1-1.noarch C:c2");
        tp.add("c2-1-1.noarch");
        tp.add("c3-1-1.noarch R:c1 R:c2");
        // Alternatives where one provider conflicts.
        tp.add("alt-1-1.noarch R:mail C:postfix");
        tp.add("postfix-1-1.x86_64 P:mail");
        tp.add("exim-1-1.x86_64 P:mail");
        tp.add("onlybad-1-1.noarch R:smtp C:sendmail");
        tp.add("sendmail-1-1.x86_64 P:smtp");
        // Obsoletes.
        tp.add("new-2-1.noarch O:old");
        tp.add("old-1-1.noarch");
        tp.add("both-1-1.noarch R:new R:old");
        // Same name, different versions.
        tp.add("lib-1-1.x86_64");
        tp.add("lib-2-1.x86_64");
        tp.add("needsboth-1-1.noarch R:lib<2 R:lib>=2");
        tp.add("needsnew-1-1.noarch R:lib>=2");
        // noarch + x86_64 + i686 + a foreign arch. Asking for multi.i686
        // explicitly is fine; needing it through a dependency is not, when
        // multi.x86_64 is in play (libsolv's infarch policy).
        tp.add("multi-1-1.x86_64");
        tp.add("multi-1-1.i686 P:libmulti.so");
        tp.add("only32-1-1.i686");
        tp.add("user32-1-1.i686 R:libmulti.so R:multi");
        tp.add("arm-1-1.aarch64");
        tp.add("wantsarm-1-1.noarch R:arm");
        // Rich dependencies; c2 is not installed, so the `if` holds.
        tp.add("rich-1-1.noarch R:(nothere_or_c2)");
        tp.add("richbad-1-1.noarch R:(nothere_and_c2)");
        tp.add("richcond-1-1.noarch R:(nothere_if_c2)");
        tp.add("richchain-1-1.noarch R:(chain1_or_nothere)");
        // Pre-requires count.
        tp.add("pre-1-1.noarch Rpre:nothere");

        let (fast, naive) = check_all(&tp);
        let names: Vec<String> = fast.iter().map(|(p, _)| tp.pool.solvable_str(*p)).collect();
        assert_eq!(
            names,
            vec![
                "chain1-1-1.noarch",
                "chain2-1-1.noarch",
                "c3-1-1.noarch",
                "onlybad-1-1.noarch",
                "both-1-1.noarch",
                "needsboth-1-1.noarch",
                "user32-1-1.i686",
                "arm-1-1.aarch64",
                "wantsarm-1-1.noarch",
                "richbad-1-1.noarch",
                "richchain-1-1.noarch",
                "pre-1-1.noarch",
            ]
        );
        // Proofs without a solve, in libsolv's words.
        assert_eq!(
            why(&tp, &fast, "chain1-1-1.noarch"),
            [
                "package chain1-1-1.noarch requires chain2, but none of the providers can be installed",
                "nothing provides chain3 >= 2 needed by chain2-1-1.noarch",
            ]
        );
        assert_eq!(
            why(&tp, &fast, "richchain-1-1.noarch"),
            [
                "package richchain-1-1.noarch requires (chain1 or nothere), but none of the providers can be installed",
                "package chain1-1-1.noarch requires chain2, but none of the providers can be installed",
                "nothing provides chain3 >= 2 needed by chain2-1-1.noarch",
            ]
        );
        assert_eq!(
            why(&tp, &fast, "arm-1-1.aarch64"),
            ["package arm-1-1.aarch64 does not have a compatible architecture"]
        );
        assert_eq!(
            why(&tp, &fast, "richbad-1-1.noarch"),
            ["nothing provides (nothere and c2) needed by richbad-1-1.noarch"]
        );
        // These need a solve, so they read exactly as libsolv has them.
        for name in ["c3-1-1.noarch", "onlybad-1-1.noarch", "user32-1-1.i686"] {
            assert_eq!(why(&tp, &fast, name), why(&tp, &naive, name));
        }
        assert!(why(&tp, &fast, "c3-1-1.noarch")
            .contains(&"package c1-1-1.noarch conflicts with c2 provided by c2-1-1.noarch".into()));
        assert!(why(&tp, &fast, "user32-1-1.i686")
            .contains(&"multi-1-1.i686 has inferior architecture".into()));
    }

    #[test]
    fn verdicts_do_not_depend_on_order() {
        let mut tp = TestPool::new("x86_64");
        let multi = tp.add("multi-1-1.x86_64");
        tp.add("multi-1-1.i686 P:libmulti.so");
        let user = tp.add("user-1-1.i686 R:libmulti.so");
        // A reused solver would remember multi.x86_64 and then refuse
        // multi.i686 for user as an inferior arch.
        assert!(naive_installcheck(&tp.pool, &[user]).is_empty());
        assert!(naive_installcheck(&tp.pool, &[multi, user]).is_empty());
        assert!(installcheck(&tp.pool, &[multi, user], &|_, _| {}).is_empty());
    }

    #[test]
    fn requested_package_escapes_the_arch_policy() {
        // foo.i686 requested alone is fine (with q), but q alone must use
        // foo.x86_64, which is broken. q's breakage must not be passed on
        // to foo.i686.
        let mut tp = TestPool::new("x86_64");
        let q = tp.add("q-1-1.x86_64 P:libq R:foo");
        let foo64 = tp.add("foo-1-1.x86_64 R:missing");
        let foo32 = tp.add("foo-1-1.i686 R:libq");
        let (fast, _) = check_all(&tp);
        let broken: Vec<SolvableId> = fast.iter().map(|(p, _)| *p).collect();
        assert_eq!(broken, vec![q, foo64]);
        assert!(!broken.contains(&foo32));
    }

    /// A random pool of 25 names in up to 3 versions each: plain,
    /// versioned and rich requirements, provides, conflicts, obsoletes,
    /// multilib and foreign arches.
    fn random_pool(seed: u64) -> TestPool {
        let arches = ["noarch", "noarch", "x86_64", "x86_64", "i686", "aarch64"];
        let ops = ["", "", "", ">=", "<", "="];
        let mut rng = XorShift::new(seed);
        let mut tp = TestPool::new("x86_64");
        let names = 25;
        let dep = |rng: &mut XorShift| {
            // Names past `names` are never provided.
            let name = format!("n{}", rng.below(names + 3));
            match ops[rng.below(ops.len())] {
                "" => name,
                op => format!("{name}{op}{}-1", 1 + rng.below(3)),
            }
        };
        for i in 0..names {
            for v in 1..=1 + rng.below(3) {
                let mut line = format!("n{i}-{v}-1.{}", arches[rng.below(arches.len())]);
                for _ in 0..rng.below(4) {
                    line += &format!(" R:{}", dep(&mut rng));
                }
                if rng.below(4) == 0 {
                    line += &format!(" P:{}", dep(&mut rng).replace(['<', '>'], ""));
                }
                if rng.below(5) == 0 {
                    line += &format!(" C:{}", dep(&mut rng));
                }
                if rng.below(8) == 0 {
                    line += &format!(" O:{}", dep(&mut rng));
                }
                if rng.below(5) == 0 {
                    let op = ["or", "and", "if", "unless", "with"][rng.below(5)];
                    line += &format!(" R:({}_{op}_{})", dep(&mut rng), dep(&mut rng));
                }
                tp.add(&line);
            }
        }
        tp
    }

    #[test]
    fn random_pools_match_naive() {
        let (mut broken, mut total, mut same_words) = (0, 0, 0);
        for seed in 1..=60u64 {
            let tp = random_pool(seed);
            let (fast, naive) = check_all(&tp);
            broken += fast.len();
            total += tp.pool.solvables().len();
            same_words += fast.iter().zip(&naive).filter(|(f, n)| f == n).count();
        }
        // The pools must exercise both outcomes.
        assert!(
            broken > total / 10 && broken < total * 9 / 10,
            "{broken} of {total}"
        );
        assert!(same_words > 0);
    }

    #[test]
    fn explanations_are_the_same_on_every_run() {
        // Reports are kept in compose records: the same pool must give
        // the same words, not just the same verdicts.
        for seed in 1..=30u64 {
            let tp = random_pool(seed);
            let all = tp.pool.solvables();
            let first = installcheck(&tp.pool, &all, &|_, _| {});
            for _ in 0..3 {
                assert_eq!(
                    installcheck(&tp.pool, &all, &|_, _| {}),
                    first,
                    "seed {seed}"
                );
            }
        }
    }

    #[test]
    fn progress_reaches_total() {
        let mut tp = TestPool::new("x86_64");
        let a = tp.add("a-1-1.noarch R:b");
        let b = tp.add("b-1-1.noarch");
        let c = tp.add("c-1-1.noarch R:missing");
        let last = std::cell::Cell::new((0, 0));
        let result = installcheck(&tp.pool, &[a, b, c, a], &|done, total| {
            last.set((done, total))
        });
        assert_eq!(result.len(), 1);
        assert_eq!(last.get(), (3, 3));
    }
}
