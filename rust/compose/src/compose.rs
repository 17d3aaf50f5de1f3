//! One module compose, start to end, in the order of the crate's steps:
//! read the definition, load the inputs, record the compose as started
//! while picking the packages and running the repoclosure gate, publish,
//! record the outcome. Anything that fails after the compose was recorded
//! as started (picking and gating included) is recorded as failed before
//! the error is returned; record.rs says in which order publishing and
//! recording happen, and why.

use crate::config::Config;
use crate::definition::{read_definition, ScmProbe};
use crate::error::Result;
use crate::gate::{gate, GateReport};
use crate::ids::{context, modulemd_version, now};
use crate::inputs::{
    arches_for, load_inputs, reload_layer, ArchInputs, LayerRepo, LoadRequest, Loaded,
};
use crate::interrupt::Interrupt;
use crate::layout::{stack_repo_file, stack_repos};
use crate::modulemd::ModuleDocs;
use crate::progress::Progress;
use crate::publish::{self, ArchContent, LayerContent, PublishRequest};
use crate::record::{record_failure, record_published};
use crate::select::{select, Pick};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Instant;
use strata_model::ModuleDefinition;
use strata_registry::{
    ComposeRecord, ComposeType, ModulemdByArch, NewCompose, Outcome, Outputs, PackagesByArch,
    Registry, State,
};
use strata_repodata::{LoadOptions, PackageRecords};

/// What to compose and how.
#[derive(Debug, Clone)]
pub struct ComposeRequest {
    pub definition: PathBuf,
    pub out: PathBuf,
    /// Arches asked for on the command line; empty: the definition's.
    pub arches: Vec<String>,
    /// productmd compose type: production, test, nightly (default), ci.
    pub compose_type: ComposeType,
    /// Publish repodata only, linking no RPM payloads (benchmarks, dry runs).
    pub metadata_only: bool,
    /// Checksum every RPM against the source metadata before linking it.
    /// Sizes are always checked; copied or downloaded RPMs are always
    /// checksummed.
    pub verify_payloads: bool,
    /// Where the definition came from in SCM; detected from git if None.
    pub scm_ref: Option<String>,
    /// Compose time (unix seconds): `SOURCE_DATE_EPOCH` or now. It gives
    /// the compose ID's date and the modulemd version.
    pub started_at: i64,
    pub cache_dir: Option<PathBuf>,
    /// Compose IDs to use for modules of the stack instead of their last
    /// good composes (over the definition's `compose_pins`).
    pub with_composes: Vec<String>,
    /// Raised (by a signal handler, or the Python bindings) to stop the
    /// compose at its next safe point.
    pub interrupt: Interrupt,
    /// A scratch compose's label (a Koji scratch task's ID): the compose
    /// ID gets `-<label>.scratch` after the stream, never equal to a real
    /// compose's.
    pub scratch: Option<String>,
    /// The process exits once this compose is recorded (the `strata`
    /// command): what the compose loaded is left to the exit, which hands
    /// the whole address space back at once, instead of being freed map by
    /// map. Never for a process that composes again (a chain, Koji's
    /// builder, the bindings): what it loaded would stay with it.
    pub then_exits: bool,
}

/// What a compose made, short of an error: the record as the registry
/// holds it (with what was published: outputs, packages, the stream's
/// modulemd) and the gate's findings on every arch.
#[derive(Debug, Clone)]
pub struct ComposeResult {
    /// `finished`, or `failed` when the repoclosure gate failed (then
    /// nothing was published).
    pub record: ComposeRecord,
    /// The repoclosure gate's report on each arch.
    pub gate: GateReport,
}

impl ComposeResult {
    /// Published and recorded finished.
    pub fn published(&self) -> bool {
        self.record.state == State::Finished
    }

    /// Where the compose was published.
    pub fn outputs(&self) -> Option<&Outputs> {
        self.record.outputs.as_ref()
    }

    /// arch → the stream's modulemd document as published; empty when
    /// nothing was.
    pub fn modulemd(&self) -> &ModulemdByArch {
        &self.record.modulemd
    }

    /// arch → the repository of the whole stack, for a stack compose
    /// made with `[compose] stack_repo = "merged"`.
    pub fn stack_repos(&self) -> BTreeMap<String, PathBuf> {
        stack_repos(&self.record)
    }

    /// The `.repo` file of a stack compose: every module's own repository.
    pub fn stack_repo_file(&self) -> Option<PathBuf> {
        stack_repo_file(&self.record)
    }
}

/// Composes one module. Errors before the compose is recorded (bad
/// definition, unreadable inputs) leave no record; later ones are recorded
/// as failed, and leave nothing in `OUT` (see record.rs for the order of
/// publishing and recording).
pub fn compose_module(
    req: &ComposeRequest,
    config: &Config,
    registry: &mut dyn Registry,
    progress: &dyn Progress,
) -> Result<ComposeResult> {
    compose_module_in_chain(req, None, config, registry, progress)
}

/// A compose a chain runs: the record names the chain and the event that
/// caused it, and the tests the compose must pass to be good.
#[derive(Debug, Clone)]
pub struct InChain {
    pub cause: strata_registry::ChainCause,
    pub required_tests: Vec<String>,
}

/// [`compose_module`], recorded as a step of a chain when `chain` says.
pub fn compose_module_in_chain(
    req: &ComposeRequest,
    chain: Option<&InChain>,
    config: &Config,
    registry: &mut dyn Registry,
    progress: &dyn Progress,
) -> Result<ComposeResult> {
    let t0 = Instant::now();
    let scm = ScmProbe::start(req.scm_ref.clone(), &req.definition);
    let (def, digest) = read_definition(&req.definition)?;
    req.interrupt.check()?;
    let arches = arches_for(&def, &req.arches, config)?;
    let opts = LoadOptions {
        cache_dir: req.cache_dir.clone(),
        cache_limits: config.cache_limits(),
    };
    let mut loaded = load_inputs(
        &LoadRequest {
            definition_path: &req.definition,
            definition: &def,
            arches: &arches,
            with_composes: &req.with_composes,
            interrupt: &req.interrupt,
            opts: &opts,
            stack_repo: config.compose.stack_repo,
        },
        config,
        registry,
        progress,
    )?;
    let load_s = t0.elapsed().as_secs_f64();
    let scm_ref = scm.answer();
    req.interrupt.check()?;
    let new = NewCompose {
        scratch: req.scratch.clone(),
        name: def.name.clone(),
        stream: def.stream.clone(),
        compose_type: req.compose_type,
        started_at: req.started_at,
        definition_path: req.definition.clone(),
        definition_digest: digest,
        scm_ref,
        arches,
        version: modulemd_version(req.started_at),
        context: context(&def),
        inputs: loaded.inputs.clone(),
        owner: strata_registry::Owner::current(),
        chain: chain.map(|c| c.cause.clone()),
        required_tests: chain.map(|c| c.required_tests.clone()).unwrap_or_default(),
        artifact: None,
    };
    let memos = MemoCheck::start(&mut loaded);
    let stack_memo = loaded.stack_memo.take();
    // The compose is recorded as started while its packages are picked
    // and gated: recording waits on the registry (a commit, or the
    // network), picking and gating on the processor, and neither needs
    // what the other finds. A compose whose recording fails is not
    // published; one that fails after it is recorded as failed.
    let (begun, checked) = std::thread::scope(|scope| {
        let begin = scope.spawn(|| -> Result<ComposeRecord> {
            // Composes of this stream whose process died (kill -9, a
            // reboot) would stay `started` for good: end them first.
            registry.abandon_dead(Some((&def.name, &def.stream)))?;
            Ok(registry.begin(&new)?)
        });
        let checked = check(req, &def, &loaded.arches, &opts, progress);
        let begun = begin
            .join()
            .unwrap_or_else(|p| std::panic::resume_unwind(p));
        (begun, checked)
    });
    let record = begun?;
    let id = record.id.clone();
    tracing::info!(compose = id, "compose started");
    // The stack's memo is written while the compose is published, which
    // waits on the disk: nothing waits on the memo, and a deep stack's
    // took milliseconds of processor (beside the gate, it slowed it).
    let mut ran = std::thread::scope(|scope| {
        if let Some(memo) = stack_memo {
            let layers = &loaded.layers;
            let spawned = std::thread::Builder::new()
                .name("strata-stack-memo".into())
                .spawn_scoped(scope, move || memo.write(layers));
            if let Err(e) = spawned {
                tracing::debug!(error = %e, "no thread to keep the stack memo on");
            }
        }
        checked.and_then(|checked| {
            run_recorded(
                req, config, &def, &record, &loaded, checked, load_s, progress,
            )
        })
    });
    let stale = memos.stale();
    if !stale.is_empty() {
        // What the gate said on the memos' word does not count: what was
        // staged is removed, and the compose is checked and published
        // again with those layers loaded in full.
        drop(ran);
        ran = stale
            .into_iter()
            .try_for_each(|(a, i)| {
                reload_layer(&def, &loaded.layers, &mut loaded.arches[a], i, &opts)
            })
            .and_then(|()| check(req, &def, &loaded.arches, &opts, progress))
            .and_then(|checked| {
                run_recorded(
                    req, config, &def, &record, &loaded, checked, load_s, progress,
                )
            });
    }
    // With the inputs go the stamps compared (on a deep stack hundreds of
    // paths and file lists), which the compose no longer needs either.
    if req.then_exits {
        // A deep stack is hundreds of maps, and unmapping each one
        // interrupts every other core running the process (a TLB
        // shootdown): a few milliseconds of a compose that takes a few
        // dozen, on the thread meant to free them out of the way.
        std::mem::forget((loaded, memos));
    } else {
        drop_aside((loaded, memos));
    }
    match ran {
        Ok(Ran::Published {
            staged,
            gate,
            packages,
            timings,
        }) => {
            let outcome = Outcome::Finished {
                finished_at: now(),
                outputs: staged.outputs.clone(),
                packages,
                timings,
                modulemd: staged.modulemd.clone(),
            };
            let record = record_published(
                registry,
                &id,
                *staged,
                outcome,
                &req.interrupt,
                &req.out,
                (&def.name, &def.stream),
            )?;
            Ok(ComposeResult { record, gate })
        }
        Ok(Ran::GateFailed { gate, packages }) => {
            // The record carries the report, or the compose fails.
            let report = match gate.to_value() {
                Ok(r) => r,
                Err(e) => return Err(record_failure(registry, &id, e)),
            };
            let record = registry.finish(
                &id,
                &Outcome::Failed {
                    finished_at: now(),
                    error: gate.summary(),
                    report: Some(report),
                    packages,
                },
            )?;
            Ok(ComposeResult { record, gate })
        }
        Err(e) => Err(record_failure(registry, &id, e)),
    }
}

/// Drops the loaded inputs (and what else the compose is done with) on a
/// thread of their own: a deep stack is hundreds of repositories and
/// maps, and freeing them took a few milliseconds the record does not
/// need to wait for. It runs while the compose is recorded (which waits on
/// the disk); a process that exits right after does not wait for it.
fn drop_aside<T: Send + 'static>(done_with: T) {
    let spawned = std::thread::Builder::new()
        .name("strata-drop".into())
        .spawn(move || drop(done_with));
    // Without a thread (resources exhausted), the caller frees them.
    if let Err(e) = spawned {
        tracing::debug!(error = %e, "no thread to free the inputs on");
    }
}

enum Ran {
    Published {
        staged: Box<publish::Staged>,
        gate: GateReport,
        packages: PackagesByArch,
        timings: serde_json::Value,
    },
    GateFailed {
        gate: GateReport,
        packages: PackagesByArch,
    },
}

/// What picking and gating found, before anything is published.
struct Checked {
    picks: Vec<Vec<Pick>>,
    packages: PackagesByArch,
    gate: GateReport,
    /// The records to publish (read while the gate ran); an error here
    /// matters only when the gate passed.
    fetched: Result<Vec<Fetched>>,
    select_s: f64,
    gate_s: f64,
}

/// The stamps of the layers taken on their verification memos' word
/// ([`ArchInputs::unchecked`]), compared on a thread of their own while
/// the compose is begun, checked and published: on a deep stack hundreds
/// of `lstat`s, which the load step's cores were busy without.
///
/// The thread runs only when a core is otherwise idle (`SCHED_IDLE`; nice
/// 10 where that is refused): what it does is needed only before the
/// compose is put in place, and the gaps the compose leaves (waits for the
/// disk and the registry) are enough for it. At nice 10 it still took a
/// share of the cores from the gate and from publishing. A thread that
/// runs only on idle cores may not run at all on a busy machine, so the
/// compose never waits for it: when it needs the answer it compares
/// itself every stamp the thread has not answered yet.
struct MemoCheck<S: Hold = strata_repodata::MemoStamps> {
    shared: std::sync::Arc<Stamps<S>>,
}

/// What says whether a memo's word still holds.
trait Hold: Send + Sync + 'static {
    fn hold(&self) -> bool;
}

impl Hold for strata_repodata::MemoStamps {
    fn hold(&self) -> bool {
        strata_repodata::MemoStamps::hold(self)
    }
}

/// The layers whose stamps are compared, and what is known of each.
struct Stamps<S> {
    /// (arch, index into its layers) of each layer taken on its memo's
    /// word, and the stamps the word rests on.
    pending: Vec<(usize, usize, S)>,
    /// The next entry of `pending` the thread takes.
    next: std::sync::atomic::AtomicUsize,
    /// Each entry's answer: [`UNKNOWN`], [`HOLDS`] or [`STALE`].
    answers: Vec<std::sync::atomic::AtomicU8>,
}

const UNKNOWN: u8 = 0;
const HOLDS: u8 = 1;
const STALE: u8 = 2;

/// Fewer memos than this are compared on the compose's own thread, once
/// it published: starting a thread costs more.
const MIN_STAMPS_PER_THREAD: usize = 16;

/// The nice value of the thread comparing the stamps where `SCHED_IDLE`
/// is refused.
const STAMPS_NICE: i32 = 10;

impl MemoCheck {
    /// Takes the stamps out of `loaded`, and starts comparing them.
    fn start(loaded: &mut Loaded) -> MemoCheck {
        let mut pending = Vec::new();
        for (a, arch) in loaded.arches.iter_mut().enumerate() {
            pending.extend(
                std::mem::take(&mut arch.unchecked)
                    .into_iter()
                    .map(|(i, stamps)| (a, i, stamps)),
            );
        }
        MemoCheck::comparing(pending, true)
    }
}

impl<S: Hold> MemoCheck<S> {
    /// Starts comparing the stamps of `pending`: on a thread of their own
    /// when there are enough of them and `thread` allows one.
    fn comparing(pending: Vec<(usize, usize, S)>, thread: bool) -> MemoCheck<S> {
        let shared = std::sync::Arc::new(Stamps {
            next: 0.into(),
            answers: pending.iter().map(|_| UNKNOWN.into()).collect(),
            pending,
        });
        if thread && shared.pending.len() >= MIN_STAMPS_PER_THREAD {
            let theirs = std::sync::Arc::clone(&shared);
            // Without a thread (resources exhausted), they are all compared
            // on this one at the end. The thread is not joined: it only
            // compares stamps, and stops once every entry was taken.
            let _ = std::thread::Builder::new()
                .name("strata-stamps".into())
                .spawn(move || {
                    idle_priority();
                    theirs.compare_in_turn();
                })
                .inspect_err(
                    |e| tracing::debug!(error = %e, "no thread to compare the memos' stamps on"),
                );
        }
        MemoCheck { shared }
    }

    /// The layers (arch, index into its layers) whose stamps do not hold:
    /// the thread's answers, and this thread's for every entry it has not
    /// answered (one it is comparing is compared here too). The thread
    /// takes no more entries after.
    fn stale(&self) -> Vec<(usize, usize)> {
        use std::sync::atomic::Ordering;
        let s = &self.shared;
        s.stop();
        s.pending
            .iter()
            .zip(&s.answers)
            .filter(
                |((_, _, stamps), answer)| match answer.load(Ordering::Acquire) {
                    HOLDS => false,
                    STALE => true,
                    _ => !stamps.hold(),
                },
            )
            .map(|(&(a, i, _), _)| (a, i))
            .collect()
    }
}

impl<S: Hold> Drop for MemoCheck<S> {
    /// The thread takes no more: a compose that failed before it needed
    /// the answer does not leave it comparing the rest.
    fn drop(&mut self) {
        self.shared.stop();
    }
}

impl<S: Hold> Stamps<S> {
    /// The thread takes no more entries (it finishes the one it has).
    fn stop(&self) {
        self.next
            .store(self.pending.len(), std::sync::atomic::Ordering::Relaxed);
    }

    /// Compares the entries one at a time, each taken from `next`, until
    /// none is left.
    fn compare_in_turn(&self) {
        use std::sync::atomic::Ordering;
        loop {
            let k = self.next.fetch_add(1, Ordering::Relaxed);
            let Some((_, _, stamps)) = self.pending.get(k) else {
                return;
            };
            let answer = if stamps.hold() { HOLDS } else { STALE };
            self.answers[k].store(answer, Ordering::Release);
        }
    }
}

/// Makes the calling thread run only when a core is otherwise idle
/// (`SCHED_IDLE`), or at nice [`STAMPS_NICE`] where that is refused; this
/// thread only (Linux keeps both per thread). Refused both, it runs at the
/// compose's priority.
fn idle_priority() {
    let param = libc::sched_param { sched_priority: 0 };
    // Safe: `param` is a valid sched_param for the call, which only
    // changes the calling thread's (pid 0) policy.
    let idle = unsafe { libc::sched_setscheduler(0, libc::SCHED_IDLE, &param) } == 0;
    if !idle {
        let _ = rustix::process::setpriority_process(None, STAMPS_NICE);
    }
}

/// Picks the packages of every arch and runs the gate on them; needs
/// nothing of the compose's record, so it runs while that is begun.
fn check(
    req: &ComposeRequest,
    def: &ModuleDefinition,
    loaded: &[ArchInputs],
    opts: &LoadOptions,
    progress: &dyn Progress,
) -> Result<Checked> {
    let t = Instant::now();
    let mut picks = Vec::new();
    let mut packages = PackagesByArch::new();
    for a in loaded {
        req.interrupt.check()?;
        progress.stage(&format!("selecting for {}", a.arch));
        let p = select(def, &a.sources, &a.arch, a.allowed.as_deref())?;
        for pick in &p {
            let pkg = a.sources[pick.repo].package(pick.index);
            packages
                .entry(a.arch.clone())
                .or_default()
                .insert(pkg.nevra_with_epoch());
        }
        picks.push(p);
    }
    let select_s = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let mut gate_report = GateReport::default();
    // The records to publish are read while the gate runs.
    let fetched = std::thread::scope(|scope| {
        let fetch = scope.spawn(|| -> Result<Vec<Fetched>> {
            loaded
                .iter()
                .zip(&picks)
                .map(|(a, p)| {
                    Ok(Fetched {
                        own: fetch_records(a, p)?,
                        layers: a
                            .layer_records
                            .iter()
                            .zip(&a.layers)
                            .map(|(store, repo)| {
                                let all: Vec<u32> = (0..repo.len() as u32).collect();
                                Ok(store.get_many(&all)?)
                            })
                            .collect::<Result<_>>()?,
                    })
                })
                .collect()
        });
        let mut gate_result = Ok(());
        for (a, p) in loaded.iter().zip(&picks) {
            progress.stage(&format!("repoclosure {}", a.arch));
            match req.interrupt.check().and_then(|()| gate(def, a, p, opts)) {
                Ok(r) => {
                    gate_report.arches.insert(a.arch.clone(), r);
                }
                Err(e) => {
                    gate_result = Err(e);
                    break;
                }
            }
        }
        let fetched = fetch
            .join()
            .unwrap_or_else(|p| std::panic::resume_unwind(p));
        gate_result.map(|()| fetched)
    })?;
    Ok(Checked {
        picks,
        packages,
        gate: gate_report,
        fetched,
        select_s,
        gate_s: t.elapsed().as_secs_f64(),
    })
}

/// Publishes what [`check`] found (when its gate passed) into the
/// compose recorded as `record`.
#[allow(clippy::too_many_arguments)]
fn run_recorded(
    req: &ComposeRequest,
    config: &Config,
    def: &ModuleDefinition,
    record: &ComposeRecord,
    all: &Loaded,
    checked: Checked,
    load_s: f64,
    progress: &dyn Progress,
) -> Result<Ran> {
    let (loaded, inputs, layers) = (&all.arches[..], &all.inputs[..], &all.layers[..]);
    let Checked {
        picks,
        packages,
        gate: gate_report,
        fetched,
        select_s,
        gate_s,
    } = checked;
    if !gate_report.ok() {
        return Ok(Ran::GateFailed {
            gate: gate_report,
            packages,
        });
    }
    let fetched = fetched?;
    req.interrupt.check()?;
    let t = Instant::now();
    let content: Vec<ArchContent> = loaded
        .iter()
        .zip(&picks)
        .zip(fetched)
        .map(|((a, p), f)| ArchContent {
            arch: &a.arch,
            sources: &a.sources,
            picks: p,
            records: f.own,
            report: &gate_report.arches[&a.arch],
            // Merging reads every layer (none is deferred then); else
            // `f.layers` is empty.
            layers: a
                .layers
                .iter()
                .filter_map(LayerRepo::loaded)
                .zip(f.layers)
                .zip(&a.layer_modules)
                .map(|((repo, records), modules)| LayerContent {
                    repo,
                    records,
                    modules: modules.clone(),
                })
                .collect(),
            koji_topdir: a.koji_topdir.as_deref(),
        })
        .collect();
    let staged = publish::publish(
        &PublishRequest {
            out: &req.out,
            record,
            definition: def,
            docs: ModuleDocs {
                definition: def,
                version: record.version,
                context: &record.context,
                xmd: publish::xmd_strata(record, def, inputs, layers),
            },
            layers,
            stack_repo: config.compose.stack_repo,
            repo_base_url: config.compose.repo_base_url.as_deref(),
            metadata_only: req.metadata_only,
            verify_payloads: req.verify_payloads,
            interrupt: &req.interrupt,
            cache_dir: req.cache_dir.as_deref(),
        },
        content,
        progress,
    )?;
    let publish_s = t.elapsed().as_secs_f64();
    let timings = serde_json::json!({
        "load_s": load_s,
        // Within load_s: the stack's walk through the registry.
        "walk_s": all.walk_s,
        "select_s": select_s,
        "gate_s": gate_s,
        "publish_s": publish_s,
    });
    Ok(Ran::Published {
        staged: Box::new(staged),
        gate: gate_report,
        packages,
        timings,
    })
}

/// The records one arch publishes: the module's picks, and every package
/// of each stack layer.
struct Fetched {
    own: Vec<PackageRecords>,
    layers: Vec<Vec<PackageRecords>>,
}

/// The source metadata records of `picks`, in the same order.
fn fetch_records(inputs: &ArchInputs, picks: &[Pick]) -> Result<Vec<PackageRecords>> {
    let mut slots: Vec<Option<PackageRecords>> = vec![None; picks.len()];
    for (r, store) in inputs.records.iter().enumerate() {
        let (pos, idx): (Vec<usize>, Vec<u32>) = picks
            .iter()
            .enumerate()
            .filter(|(_, p)| p.repo == r)
            .map(|(k, p)| (k, p.index))
            .unzip();
        if idx.is_empty() {
            continue;
        }
        for (k, rec) in pos.into_iter().zip(store.get_many(&idx)?) {
            slots[k] = Some(rec);
        }
    }
    Ok(slots
        .into_iter()
        .map(|s| s.expect("every pick comes from a source"))
        .collect())
}

#[cfg(test)]
mod test {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    /// Stamps that hold or not, counting how often they were compared.
    struct Fake {
        holds: bool,
        asked: Arc<AtomicUsize>,
    }

    impl Hold for Fake {
        fn hold(&self) -> bool {
            self.asked.fetch_add(1, Ordering::Relaxed);
            self.holds
        }
    }

    /// Layers taken on their memos' word, (arch, index, stamps) each.
    type Layers = Vec<(usize, usize, Fake)>;

    /// 100 layers over two arches, every seventh stale; the counter of
    /// comparisons; the stale ones.
    fn layers() -> (Layers, Arc<AtomicUsize>, Vec<(usize, usize)>) {
        let asked = Arc::new(AtomicUsize::new(0));
        let pending: Vec<_> = (0..100)
            .map(|k| {
                let fake = Fake {
                    holds: k % 7 != 3,
                    asked: Arc::clone(&asked),
                };
                (k % 2, k / 2, fake)
            })
            .collect();
        let stale = pending
            .iter()
            .filter(|(_, _, f)| !f.holds)
            .map(|&(a, i, _)| (a, i))
            .collect();
        (pending, asked, stale)
    }

    #[test]
    fn the_stale_layers_are_found_whoever_compares_them() {
        // On this thread alone.
        let (pending, asked, stale) = layers();
        assert_eq!(stale.len(), 14);
        assert_eq!(MemoCheck::comparing(pending, false).stale(), stale);
        assert_eq!(asked.load(Ordering::Relaxed), 100);
        // With the thread, however far it got (on a busy machine a thread
        // that runs only on idle cores may not have started): each layer is
        // compared once, and the one it may be comparing once more here.
        let (pending, asked, stale) = layers();
        assert_eq!(MemoCheck::comparing(pending, true).stale(), stale);
        assert!((100..=101).contains(&asked.load(Ordering::Relaxed)));
        // What the thread answered is not compared again.
        let (pending, asked, stale) = layers();
        let check = MemoCheck::comparing(pending, false);
        check.shared.compare_in_turn();
        assert_eq!(asked.load(Ordering::Relaxed), 100);
        assert_eq!(check.stale(), stale);
        assert_eq!(asked.load(Ordering::Relaxed), 100);
    }
}
