"""Koji builder plugin: the `moduleCompose` task (kojid loads it from its
plugin folder, `plugins = strata_builder` in kojid.conf).

moduleCompose(src, opts=None) checks out the module definition (a Koji SCM
URL whose part after `?` names the file in the repository, checked against
this plugin's allowed_scms) or, for a scratch compose, takes the file the
CLI uploaded (relative to Koji's work directory), optionally waits for
`wait_builds` to reach the source tag's repo (BaseTaskHandler.getRepo,
which waits in a `waitrepo` subtask, as kojid's BuildTask does), and
composes it with Strata's Rust core (`strata.compose_module`). The compose log and the closure report are
uploaded to the task. A finished non-scratch compose is imported into Koji
(`moduleComposeImport`); a failed gate fails the task with the report and
the suggestions. The contract is koji_plugin/README.md.

Configuration: /etc/kojid/plugins/strata_builder.conf, section [strata]:
registry (the shared registry: a PostgreSQL URL or a SQLite path), config
(strata.toml: platforms, [koji] hub and topurl), out (where published
composes go), allowed_scms (kojid's format: host:repository[:use_common]).
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import tarfile
import threading
import time

import koji
import koji.tasks
from koji.daemon import SCM

import strata

__all__ = ("ModuleComposeTask", "ArtifactComposeTask", "ModuleChainTask", "ReleaseCheckTask",
           "ReleaseComposeTask")

CONFIG_FILE = "/etc/kojid/plugins/strata_builder.conf"
# seconds between a debounce-sleeping queue consumer's looks for a newer one
CONSUMER_POLL_SECS = 30
SECTION = "strata"
# the options the hub's moduleBuild accepts (koji_plugin/README.md): the two
# must agree, or a task the hub made fails here
OPTION_TYPES = {"arches": list, "scratch": bool, "compose_type": str, "priority": int,
                "wait_builds": list, "tag": str,
                # set by a moduleChain parent only (host.subtask), never by users:
                # {chain_id, position, name, stream, excuse, earlier}
                "chain": dict}


def read_config(path=None):
    """The plugin's configuration as a dict, read like kojid's own plugins
    read theirs (koji.read_config_files)."""
    cp = koji.read_config_files(path or CONFIG_FILE)
    if not cp.has_section(SECTION):
        raise koji.GenericError("%s: no [%s] section" % (path or CONFIG_FILE, SECTION))
    conf = {}
    for key in ("registry", "config", "out", "allowed_scms"):
        conf[key] = cp.get(SECTION, key) if cp.has_option(SECTION, key) else None
    for key in ("registry", "out"):
        if not conf[key]:
            raise koji.GenericError("%s: [%s] %s is not set" % (path or CONFIG_FILE, SECTION, key))
    conf["allowed_scms"] = conf["allowed_scms"] or ""
    return conf


class ModuleComposeTask(koji.tasks.BaseTaskHandler):

    Methods = ["moduleCompose"]
    _taskWeight = 1.5

    def __init__(self, *args, **kwargs):
        self.config = read_config(CONFIG_FILE)
        super(ModuleComposeTask, self).__init__(*args, **kwargs)

    # -- helpers
    def _log(self, msg):
        self.logger.info(msg)
        with open(self._logfile, "a") as f:
            f.write("%s %s\n" % (time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime()), msg))

    def _check_opts(self, opts):
        for key, value in opts.items():
            if key not in OPTION_TYPES:
                raise koji.ParameterError("moduleCompose: unknown option %r" % key)
            want = OPTION_TYPES[key]
            if not isinstance(value, want) or (want is int and isinstance(value, bool)):
                raise koji.ParameterError("moduleCompose: option %r must be a %s, not %r"
                                          % (key, want.__name__, value))
        for key in ("arches", "wait_builds"):
            if not all(isinstance(x, str) for x in opts.get(key) or []):
                raise koji.ParameterError("moduleCompose: option %r must list strings" % key)
        ctype = opts.get("compose_type", "nightly")
        if ctype not in strata.COMPOSE_TYPES:
            raise koji.ParameterError("moduleCompose: compose_type %r is not one of %s"
                                      % (ctype, ", ".join(strata.COMPOSE_TYPES)))

    def _definition(self, src, scratch, where="scm"):
        """The folder to compose in and the definition's path relative to it
        (as in the repository: what the compose records, never this
        builder's temporary checkout path); an SCM URL is checked out into
        the work directory's WHERE (checkout.log, or checkout-WHERE.log)."""
        if SCM.is_scm_url(src):
            scm = SCM(src)
            # raises koji.BuildError: "<host>:<repository> is not in the list of allowed SCMs"
            scm.assert_allowed(allowed=self.config["allowed_scms"], session=self.session,
                               by_config=True, by_policy=False)
            if not scm.module:
                raise koji.GenericError("%s: the part after '?' must name the definition file" % src)
            scmdir = os.path.join(self.workdir, where)
            os.makedirs(scmdir)
            logfile = os.path.join(self.workdir, "checkout.log" if where == "scm"
                                   else "checkout-%s.log" % where)
            path = scm.checkout(scmdir, self.session, self.getUploadDir(), logfile)
            if not os.path.isfile(path):
                raise koji.GenericError("%s: no file %s in the repository" % (src, scm.module))
            module = os.path.normpath(scm.module).lstrip("/")
            if not path.endswith("/" + module):
                raise koji.GenericError("%s: checked out as %s, not as %s" % (src, path, module))
            return path[:-len(module) - 1], module
        if not scratch:
            raise koji.GenericError("%s is not an SCM URL (uploaded definitions are for scratch "
                                    "composes only)" % src)
        if os.path.isabs(src) or ".." in src.split("/"):
            raise koji.GenericError("invalid uploaded definition path: %s" % src)
        path = self.localPath("work/%s" % src)
        if not os.path.isfile(path):
            raise koji.GenericError("uploaded definition not found: %s" % src)
        return os.path.dirname(path), os.path.basename(path)

    def _wait_builds(self, definition, nvrs, tag=None):
        source = definition.get("source") or definition.get("data", {}).get("source") or {}
        # the `tag` option (the hub checked that it exists), else the definition's
        tag = tag or (source.get("koji") or {}).get("tag")
        if not tag:
            raise koji.GenericError("wait_builds needs the tag option or a definition whose "
                                    "source is a Koji tag")
        self._log("waiting for %s in the repo of %s" % (", ".join(nvrs), tag))
        # As kojid's BuildTask does with wait_builds: BaseTaskHandler.getRepo
        # takes a current repo that has the builds, or waits in a `waitrepo`
        # subtask (host.subtask, then self.wait).
        repo = self.getRepo(tag, builds=list(nvrs))
        self._log("repo %s of %s has them" % (repo.get("id") if repo else None, tag))
        return repo

    def _upload(self, path, name=None):
        if os.path.isfile(path):
            self.uploadFile(path, remoteName=name)

    def _upload_text(self, name, text):
        path = os.path.join(self.workdir, name)
        with open(path, "w") as f:
            f.write(text)
        self._upload(path)

    # -- the task
    def handler(self, src, opts=None):
        opts = dict(opts or {})
        self._check_opts(opts)
        scratch = bool(opts.get("scratch"))
        self._logfile = os.path.join(self.workdir, "compose.log")
        try:
            if "chain" in opts:
                return self._chain_step(src, opts)
            return self._compose(src, opts, scratch)
        finally:
            self._upload(self._logfile)

    def _chain_step(self, src, opts):
        """One step of a moduleChain: composed by the core as the chain
        would (strata.compose_chain_step reads the definition from the
        catalog in this builder's strata.toml); a new compose is imported
        as a module build. A step that fails is a result, not a fault: the
        parent's chain records it and applies the policy."""
        step = opts["chain"]
        position = step.get("position")
        self._log("chain %s step %s: %s:%s (%s)" % (
            step.get("chain_id"), position + 1 if isinstance(position, int) else position,
            step.get("name"), step.get("stream"), src))
        if self.session.getTaskInfo(self.id).get("parent") is None:
            raise koji.GenericError("%s: the chain option is for moduleChain "
                                    "subtasks only" % self.method)
        try:
            end = strata.compose_chain_step(
                step["chain_id"], step["position"], step["name"], step["stream"],
                excuse=step.get("excuse"), earlier=step.get("earlier"), out=self.config["out"],
                config=self.config["config"] or None, registry=self.config["registry"],
                compose_type=opts.get("compose_type", "nightly"))
        except strata.StrataError as e:
            self._log("error: %s" % e)
            raise koji.GenericError("chain step %s:%s failed: %s"
                                    % (step.get("name"), step.get("stream"), e))
        self._log("%s %s: %s" % (end["state"], end["compose_id"], end["reason"] or ""))
        result = dict(end)
        if end["state"] == "finished":
            result.update(self._import_step(end["compose_id"], opts))
        return result

    def _import_step(self, compose_id, opts):
        """A chain step's new compose, imported into Koji: a module build."""
        build_id = self.session.moduleComposeImport(self.id, compose_id)
        self._log("imported as build %s" % build_id)
        return {"build_id": build_id}

    def _compose(self, src, opts, scratch):
        self._log("moduleCompose %s%s" % (src, " (scratch)" if scratch else ""))
        folder, name = self._definition(src, scratch)
        # Composed from inside its folder, by its name in the repository:
        # the record and the modulemd name the file as the repository does.
        cwd = os.getcwd()
        os.chdir(folder)
        try:
            return self._compose_in(src, opts, scratch, name)
        finally:
            os.chdir(cwd)

    def _compose_in(self, src, opts, scratch, path):
        try:
            definition = strata.validate_definition(path)
        except strata.DefinitionError as e:
            problems = e.args[1] if len(e.args) > 1 else [str(e)]
            raise koji.GenericError("malformed module definition %s:\n%s"
                                    % (path, "\n".join(problems)))
        if opts.get("wait_builds"):
            self._wait_builds(definition, opts["wait_builds"], opts.get("tag"))
        if scratch:
            registry = os.path.join(self.workdir, "registry.sqlite")
            out = os.path.join(self.workdir, "composes")
        else:
            registry, out = self.config["registry"], self.config["out"]
        self._log("composing into %s, registry %s" % (out, registry))
        try:
            res = strata.compose_module(path, out, arches=opts.get("arches") or None,
                                        config=self.config["config"] or None, registry=registry,
                                        compose_type=opts.get("compose_type", "nightly"),
                                        scm_ref=src if SCM.is_scm_url(src) else None,
                                        # `.scratch-<task id>`: never a real compose's ID
                                        scratch=str(self.id) if scratch else None)
        except strata.StrataError as e:
            self._log("error: %s" % e)
            raise koji.GenericError("module compose of %s failed: %s" % (path, e))
        record = res["record"]
        compose_id = record["id"]
        self._log("compose %s: %s" % (compose_id, record["state"]))
        # the gate's report as the core renders it, for every compose
        text = res.get("report_text") or ""
        reports = res.get("reports") or {}
        if reports:
            rjson = os.path.join(self.workdir, "closure-report.json")
            with open(rjson, "w") as f:
                json.dump(reports, f, indent=2, sort_keys=True)
            self._upload(rjson)
            self._upload_text("closure-report.txt", text)
        # one log per arch: a published compose's own, else (a failed
        # compose publishes nothing) each failed arch's report
        published = (record.get("outputs") or {}).get("path")
        if published:
            for arch in sorted((record.get("outputs") or {}).get("repos") or {}):
                self._upload(os.path.join(published, "logs", arch, "repoclosure.log"),
                             "repoclosure.%s.log" % arch)
        for arch, log in sorted((res.get("report_texts") or {}).items()):
            self._upload_text("repoclosure.%s.log" % arch, log)
        if not res["ok"]:
            self._log("the repoclosure gate failed")
            raise koji.GenericError("module compose %s FAILED: %s\n%s"
                                    % (compose_id, record.get("error") or "repoclosure failed",
                                       text))
        repos = dict((record.get("outputs") or {}).get("repos") or {})
        result = {"compose_id": compose_id, "state": record["state"], "repos": repos}
        if scratch:
            # The task workdir goes away: the scratch compose goes to the task output.
            self.uploadTree(os.path.join(out, compose_id))
            base = self.getUploadDir()
            result["repos"] = dict((arch, "%s/%s" % (base, os.path.relpath(p, os.path.join(out, compose_id))))
                                   for arch, p in repos.items())
            return result
        result["build_id"] = self.session.moduleComposeImport(self.id, compose_id)
        self._log("imported as build %s" % result["build_id"])
        return result


# -- artifactCompose (issue 15) ---------------------------------------------------

# the options the hub's artifactBuild accepts (koji_plugin/README.md)
ARTIFACT_OPTION_TYPES = {"arch": str, "scratch": bool, "compose_type": str, "priority": int,
                         "with_composes": list,
                         # set by a moduleChain parent only (host.subtask), as for
                         # moduleCompose: the step an artifact of the chain's plan is
                         "chain": dict}


def _reset(info, mtime):
    """A tar entry as reproducible as the artifact inside it: no owner
    names or IDs, one mtime (the compose's time)."""
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    info.mtime = mtime
    return info


def pack(folder, dest, mtime):
    """FOLDER as one tar at DEST, entries sorted (tarfile.add sorts a
    folder's entries) and reset (_reset)."""
    with tarfile.open(dest, "w", format=tarfile.PAX_FORMAT) as tf:
        tf.add(folder, arcname=".", filter=lambda i: _reset(i, mtime))
    return dest


def file_info(path, name):
    """{filename, filesize, checksum (sha256)} of a file to import."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return {"filename": name, "filesize": os.path.getsize(path), "checksum": digest.hexdigest()}


class ArtifactComposeTask(ModuleComposeTask):
    """artifactCompose(src, opts=None): checks out the artifact definition
    (an SCM URL only: artifacts come from static configuration in SCM),
    builds it with strata.compose_artifact against the shared registry,
    uploads the image (an OCI image layout or an ostree repository as one
    tar, or the ISO) and images.json to the task, and has the hub import
    them as a Koji build of type image (artifactComposeImport, Koji's
    content generator import). A scratch build is not imported: its files
    stay in the task's output."""

    Methods = ["artifactCompose"]
    # dnf installs a whole stack into an installroot, then the image is written
    _taskWeight = 2.0

    def handler(self, src, opts=None):
        opts = dict(opts or {})
        for key, value in opts.items():
            want = ARTIFACT_OPTION_TYPES.get(key)
            if want is None:
                raise koji.ParameterError("artifactCompose: unknown option %r" % key)
            if not isinstance(value, want) or (want is int and isinstance(value, bool)):
                raise koji.ParameterError("artifactCompose: option %r must be a %s, not %r"
                                          % (key, want.__name__, value))
        if not all(isinstance(x, str) for x in opts.get("with_composes") or []):
            raise koji.ParameterError("artifactCompose: option 'with_composes' must list "
                                      "compose IDs")
        self._logfile = os.path.join(self.workdir, "compose.log")
        if "chain" in opts:
            # built by the core from the chain's catalog, as the chain would
            try:
                return self._chain_step(src, opts)
            finally:
                self._upload(self._logfile)
        if not SCM.is_scm_url(src):
            raise koji.GenericError("artifactCompose: %s is not an SCM URL" % src)
        try:
            self._log("artifactCompose %s%s" % (src, " (scratch)" if opts.get("scratch") else ""))
            folder, name = self._definition(src, False)
            cwd = os.getcwd()
            os.chdir(folder)
            try:
                rec = self._build(src, opts, name)
            finally:
                os.chdir(cwd)
            return self._publish(rec, opts)
        finally:
            self._upload(self._logfile)

    def _build(self, src, opts, path):
        out = self.config["out"]
        scratch = {}
        if opts.get("scratch"):
            # the stacks come from the shared registry; the build is recorded,
            # as `-<task id>.scratch`, in the task's own registry, and its files
            # stay in the task: never the shared latest artifact
            out = os.path.join(self.workdir, "composes")
            scratch = {"scratch": str(self.id),
                       "scratch_registry": os.path.join(self.workdir, "registry.sqlite")}
        self._log("building into %s, registry %s"
                  % (out, scratch.get("scratch_registry", self.config["registry"])))
        try:
            rec = strata.compose_artifact(path, out, arch=opts.get("arch"),
                                          config=self.config["config"] or None,
                                          registry=self.config["registry"],
                                          compose_type=opts.get("compose_type", "nightly"),
                                          scm_ref=src,
                                          with_composes=opts.get("with_composes") or None,
                                          **scratch)
        except strata.StrataError as e:
            self._log("error: %s" % e)
            raise koji.GenericError("artifact build of %s failed: %s" % (path, e))
        rec = rec.to_dict()
        self._log("compose %s: %s, build ID %s"
                  % (rec["id"], rec["state"], (rec.get("outputs") or {}).get("build_id")))
        return rec

    def _import_step(self, compose_id, opts):
        """A chain step's new artifact compose: its files uploaded and
        imported as an image build (artifactComposeImport, which checks the
        compose is the chain's step)."""
        try:
            rec = strata.get_compose(compose_id, registry=self.config["registry"])
        except strata.StrataError as e:
            raise koji.GenericError("artifactCompose: cannot read compose %s: %s"
                                    % (compose_id, e))
        if rec is None:
            raise koji.GenericError("artifactCompose: compose %s is not in the registry"
                                    % compose_id)
        done = self._publish(rec.to_dict(), opts)
        return {k: done[k] for k in ("kind", "artifact_build_id", "files", "build_id")}

    def _publish(self, rec, opts):
        """Uploads the files and, unless scratch, has the hub import them."""
        top = rec["outputs"]["path"]
        base = "%s-%s" % (rec["name"], rec["stream"])
        kind = rec["artifact"]
        if kind == "iso":
            image = os.path.join(top, base + ".iso")
            name = base + ".iso"
        else:
            sub, name = {"container": ("image", base + ".oci.tar"),
                         "ostree": ("ostree", base + ".ostree.tar")}[kind]
            image = pack(os.path.join(top, sub), os.path.join(self.workdir, name),
                         rec["started_at"])
        files = [(image, name)]
        if os.path.isfile(os.path.join(top, "images.json")):
            files.append((os.path.join(top, "images.json"), base + ".images.json"))
        outputs = []
        for path, remote in files:
            outputs.append(file_info(path, remote))
            self.uploadFile(path, remoteName=remote)
        result = {"compose_id": rec["id"], "state": rec["state"], "kind": kind,
                  "artifact_build_id": rec["outputs"].get("build_id"),
                  "files": [o["filename"] for o in outputs]}
        if opts.get("scratch"):
            return result
        result["build_id"] = self.session.artifactComposeImport(self.id, rec["id"], outputs)
        self._log("imported as build %s" % result["build_id"])
        return result


# -- moduleChain (issue 13) ---------------------------------------------------------

class SubtaskWaiter:
    """Waits for the subtasks of a task as kojid's BaseTaskHandler.wait
    does -- host.taskSetWait, host.taskWait, host.taskWaitResults, asleep
    in between until kojid's SIGUSR2 says an awaited subtask ended -- for
    subtasks that the chain's step threads create at any time: one thread
    waits for all of them, each step thread for its own subtask's end.

    BaseTaskHandler.wait cannot serve here: it waits for a fixed set, and
    it sleeps in signal.pause, which only the main thread wakes from
    (Python runs signal handlers there), while the core calls the step
    runner from threads of its own. So SIGUSR2 is blocked in every thread
    of the task process (threads inherit the mask: it is blocked before
    any is started) and stays pending until this waiter's sigwait takes
    it, whichever thread kojid's os.kill reached, and however short the
    time between looking at the subtasks and going to sleep. While
    waiting, the task is `waiting` on the hub, so kojid does not count
    its weight, as for its own tasks."""

    def __init__(self, handler, lock):
        self.handler = handler
        self.lock = lock  # one hub session for every thread
        self.pending = {}  # subtask ID -> [threading.Event, result]
        self.guard = threading.Lock()
        self.stopping = False
        self.error = None
        self.thread = None

    def __enter__(self):
        self.old_mask = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR2})
        self.thread = threading.Thread(target=self._loop, name="moduleChain-wait", daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *exc):
        with self.guard:
            self.stopping = True
        self.wake()
        self.thread.join()
        # a wake-up nobody waits for any more is not delivered to kojid's
        # handler (or, outside kojid, to the default action: the end)
        while signal.SIGUSR2 in signal.sigpending():
            signal.sigwait({signal.SIGUSR2})
        signal.pthread_sigmask(signal.SIG_SETMASK, self.old_mask)

    def wake(self):
        """What kojid's SIGUSR2 does: the waiter looks at the subtasks again."""
        signal.pthread_kill(self.thread.ident, signal.SIGUSR2)

    def wait_for(self, task_id):
        """The end of subtask TASK_ID: its result, or for a failed or
        canceled one {faultCode, faultString} (host.taskWaitResults with
        canfail)."""
        done = threading.Event()
        with self.guard:
            if self.error is not None:
                raise self.error
            self.pending[task_id] = [done, None]
        self.wake()
        done.wait()
        with self.guard:
            if self.error is not None:
                raise self.error
            return self.pending.pop(task_id)[1]

    def _loop(self):
        parent = self.handler.id
        session = self.handler.session
        try:
            while True:
                with self.guard:
                    awaited = sorted(t for t, (done, _) in self.pending.items()
                                     if not done.is_set())
                    if self.stopping and not awaited:
                        return
                if awaited:
                    with self.lock:
                        session.host.taskSetWait(parent, awaited)
                        finished, _ = session.host.taskWait(parent)
                        results = (dict(session.host.taskWaitResults(parent, finished,
                                                                     canfail=finished))
                                   if finished else {})
                    if results:
                        with self.guard:
                            for task_id, result in results.items():
                                slot = self.pending.get(task_id)
                                if slot is not None:
                                    slot[1] = result
                                    slot[0].set()
                        continue
                signal.sigwait({signal.SIGUSR2})
        except BaseException as e:  # every step waiting fails with it, none hangs
            with self.guard:
                self.error = koji.GenericError("moduleChain: waiting for subtasks failed: %s" % e)
                for done, _ in self.pending.values():
                    done.set()


def _chain_failure(chain):
    """One line for a failed chain: its failed steps and why."""
    steps = ", ".join("%s:%s (%s)" % (s["name"], s["stream"], s.get("reason") or "failed")
                      for s in chain["steps"] if s["state"] == "failed")
    return "chain %s failed: %s; see `koji module-chain-info %s`" % (
        chain["chain_id"], steps or "no step failed", chain["chain_id"])


class ModuleChainTask(ModuleComposeTask):
    """moduleChain(events, opts=None): what EVENTS ({builds, tags,
    composes}: lists) make stale in the catalog of this builder's
    strata.toml, recomposed bottom-up as a chain the core records: each
    step a moduleCompose subtask (an artifact's an artifactCompose
    subtask; strata.run_chain's step_runner), which composes it with
    strata.compose_chain_step on whichever builder takes it. The core
    orders the steps, runs independent ones at once (the policy's
    `parallel`), leaves `trigger: approve` steps waiting and
    applies `on_failure`; the task waits for its subtasks as kojid's tasks
    do (SubtaskWaiter). opts: `tag` (wait until the tag's repo has
    events' builds, as moduleCompose's wait_builds), `compose_type`."""

    Methods = ["moduleChain"]
    # it only waits for its subtasks
    _taskWeight = 0.2

    def handler(self, events, opts=None):
        opts = dict(opts or {})
        events = dict(events or {})
        for key in events:
            if key not in ("builds", "tags", "composes") or not all(
                    isinstance(x, str) for x in events[key]):
                raise koji.ParameterError("moduleChain: events must map builds, tags or composes "
                                          "to lists of strings, not %r" % (events,))
        for key in opts:
            if key not in ("tag", "compose_type", "resume", "pending", "tags"):
                raise koji.ParameterError("moduleChain: unknown option %r" % key)
        if opts.get("pending") and events:
            raise koji.ParameterError("moduleChain: pending takes the queued events, no others")
        if "resume" in opts and (events or not isinstance(opts["resume"], str)):
            raise koji.ParameterError("moduleChain: resume takes a chain ID and no events")
        self._logfile = os.path.join(self.workdir, "chain.log")
        self._lock = threading.Lock()
        self.waiter = None
        try:
            result = self._chain(events, opts)
            self._upload_text("chains.json", json.dumps(result, indent=2, sort_keys=True))
        finally:
            self._upload(self._logfile)
        # As a Koji build fails when a subtask of it did: a chain that ended
        # failed fails its task (`koji module-chain` exits 1, watchers see
        # FAILED); its record stays readable (module-chain-info, chains.json).
        failed = [c for c in result.get("chains", [result]) if c.get("state") == "failed"]
        if failed:
            raise koji.GenericError("moduleChain: %s" % "; ".join(map(_chain_failure, failed)))
        return result

    def _chain(self, events, opts):
        conf = self.config
        self._compose_type = opts.get("compose_type", "nightly")
        if "resume" in opts:
            # the recorded chain's plan, continued where it stopped
            self._log("resuming chain %s" % opts["resume"])
            return self._run(resume=opts["resume"])
        if opts.get("pending"):
            return self._consume()
        if opts.get("tag") and events.get("builds"):
            self._log("waiting for %s in the repo of %s" % (", ".join(events["builds"]),
                                                            opts["tag"]))
            self.getRepo(opts["tag"], builds=list(events["builds"]))
        try:
            impact = strata.impact(builds=events.get("builds"), tags=events.get("tags"),
                                   composes=events.get("composes"),
                                   config=conf["config"] or None, registry=conf["registry"])
        except strata.StrataError as e:
            raise koji.GenericError("moduleChain: cannot compute the impact: %s" % e)
        self._upload_text("impact.txt", impact.to_text())
        return self._run(plan=impact)

    def _consume(self):
        """The queue's consumer (the hub's postTag and postRepoDone queue
        each tagging and each new repo of a watched tag, and make one such
        task): the queued events as one chain once the policy's debounce
        has passed since the newest (the core's `chain run --pending`),
        again until nothing is queued, so events queued while a chain runs
        are not left behind. A build not in a repository yet is held back
        by the core (logged, left queued) and the task ends: it never holds
        a builder slot waiting for a repo (two consumers each waiting in a
        waitrepo subtask filled a real kojid's maxjobs, so newRepo's
        createrepo never ran). The repo's postRepoDone queues an event and
        makes the consumer that takes it. (opts `tags`, the watched tags,
        is accepted for tasks made before this change.)"""
        conf = dict(config=self.config["config"] or None, registry=self.config["registry"])
        chains = []
        while True:
            try:
                queued = strata.pending_events(**conf)
            except strata.StrataError as e:
                raise koji.GenericError("moduleChain: cannot read the event queue: %s" % e)
            if not queued:
                break
            try:
                chain, until, unplannable = strata.take_pending_chain(**conf)
            except strata.StrataError as e:
                raise koji.GenericError("moduleChain: cannot plan the queued events: %s" % e)
            for line in unplannable:
                # left queued, named each time, never holding back the rest
                self._log(line)
            if chain is not None:
                self._log("chain %s takes queued event(s)" % chain.id)
                chains.append(self._run(resume=chain.id) if chain.state != "finished"
                              else self._result(chain))
                continue
            if until is None:
                break  # nothing left to take, or another consumer took it first
            # the debounce window: a burst of taggings still coming
            self._log("queued event(s) wait until %s (debounce)"
                      % time.strftime("%H:%M:%S", time.gmtime(until)))
            newer = self._sleep_until(until)
            if newer is not None:
                self._log("moduleChain task %d, a newer consumer, takes the queue" % newer)
                break
        if not chains:
            try:
                left = strata.pending_events(**conf) if queued else []
            except strata.StrataError:
                left = queued
            self._log("no chain to run now: %d queued event(s) stay queued" % len(left)
                      if left else "nothing queued")
        return {"chains": chains}

    def _sleep_until(self, until):
        """Sleeps through a debounce window, ending early when a newer
        consumer exists (its ID; None once the window has passed). A
        sleeping task holds one of its kojid's maxjobs slots, and each
        tagging while every consumer has started makes one more
        (_queue_consumer on the hub): under a steady stream of taggings
        the sleepers would pile up and starve the chain's own subtasks.
        The newer one reads the queue after this one did (it is made, or
        reused, after its event is queued), so it sees every event this
        one saw: only the newest consumer sleeps."""
        while True:
            newer = self._newer_consumer()
            left = until - time.time()
            if newer is not None or left <= 0:
                return newer
            time.sleep(min(max(left, 1), CONSUMER_POLL_SECS))

    def _newer_consumer(self):
        """The ID of a queue consumer (moduleChain, opts pending) made after
        this task that has not ended, or None."""
        states = [koji.TASK_STATES[s] for s in ("FREE", "ASSIGNED", "OPEN")]
        with self._lock:
            tasks = self.session.listTasks(opts={"method": "moduleChain", "state": states,
                                                 "decode": True})
        newer = []
        for task in tasks or []:
            request = list(task.get("request") or [])
            if (task["id"] > self.id and len(request) > 1 and isinstance(request[1], dict)
                    and request[1].get("pending")):
                newer.append(task["id"])
        # the newest: listTasks sets no order
        return max(newer) if newer else None

    def _result(self, chain):
        steps = [{"name": s.name, "stream": s.stream, "state": s.state,
                  "compose_id": s.compose_id, "reason": s.reason} for s in chain.steps]
        for s in steps:
            # as `koji module-chain-info` shows a step: what it has (a waiting
            # one no compose, a finished one no reason), its reason in brackets
            line = "%(name)s:%(stream)s %(state)s" % s
            if s["compose_id"]:
                line += " %s" % s["compose_id"]
            if s["reason"]:
                line += " (%s)" % s["reason"]
            self._log(line)
        self._log("chain %s: %s" % (chain.id, chain.state))
        return {"chain_id": chain.id, "state": chain.state, "steps": steps}

    def _run(self, **what):
        """strata.run_chain of WHAT (plan= or resume=), each step a
        subtask; the chain as its result."""
        conf = self.config
        with SubtaskWaiter(self, self._lock) as self.waiter:
            try:
                chain = strata.run_chain(config=conf["config"] or None,
                                         registry=conf["registry"], out=conf["out"],
                                         compose_type=self._compose_type,
                                         step_runner=self._run_step, **what)
            except strata.StrataError as e:
                raise koji.GenericError("moduleChain: %s" % e)
        if chain is None:
            self._log("nothing is stale")
            return {"chain_id": None, "state": None, "steps": []}
        return self._result(chain)

    def _run_step(self, call):
        """strata.run_chain's step runner: a moduleCompose subtask for the
        step, waited for by the waiter. Called from the chain's step
        threads: every hub call holds the lock (one session)."""
        step = dict(call)
        # an artifact of the plan is built by an artifactCompose subtask and
        # imported as an image build, a module by a moduleCompose subtask
        method = "artifactCompose" if step.get("kind") == "artifact" else "moduleCompose"
        opts = {"chain": step, "compose_type": self._compose_type}
        with self._lock:
            task_id = self.session.host.subtask(
                method=method, arglist=[call["definition"], opts], parent=self.id,
                label="%s:%s" % (call["name"], call["stream"]))
            self._log("%s:%s: subtask %d" % (call["name"], call["stream"], task_id))
        result = self.waiter.wait_for(task_id)
        if not isinstance(result, dict):
            raise koji.GenericError("moduleChain: subtask %d returned %r, not a struct"
                                    % (task_id, result))
        if "faultCode" in result:
            # failed or canceled: a result for the chain, which applies on_failure
            return {"state": "failed", "compose_id": None,
                    "reason": "subtask %d: %s" % (task_id, result.get("faultString"))}
        return {k: result.get(k) for k in ("state", "compose_id", "reason")}


# -- releaseCheck, releaseCompose (issue 14) -----------------------------------------

# the options the hub's releaseCheck accepts (koji_plugin/README.md);
# releaseCompose adds compose_type
RELEASE_OPTION_TYPES = {"arch": str, "previous": str, "priority": int}


class ReleaseCheckTask(ModuleComposeTask):
    """releaseCheck(src, opts=None): checks out the strata-release document
    (an SCM URL only, as artifacts: a release is static configuration in
    SCM) and checks it with strata.release_check against the shared
    registry and this builder's strata.toml (its catalog names the modules
    below the release's own), from the document's folder, so definitions
    it names by relative path are read from the same checkout. `previous`
    (the upgrade path) is a release compose ID or name, looked up in the
    registry, or the SCM URL of the previous release's document, checked
    out beside it. The report goes to the task's output
    (release-report.json, release-report.txt); a problem fails the task
    with every problem in its message."""

    Methods = ["releaseCheck"]
    # one release-wide closure and a solve per profile, like a compose's gate
    _taskWeight = 1.5
    OPTION_TYPES = RELEASE_OPTION_TYPES

    def handler(self, src, opts=None):
        opts = dict(opts or {})
        method = self.Methods[0]
        for key, value in opts.items():
            want = self.OPTION_TYPES.get(key)
            if want is None:
                raise koji.ParameterError("%s: unknown option %r" % (method, key))
            if not isinstance(value, want) or (want is int and isinstance(value, bool)):
                raise koji.ParameterError("%s: option %r must be a %s, not %r"
                                          % (method, key, want.__name__, value))
        if not SCM.is_scm_url(src):
            raise koji.GenericError("%s: %s is not an SCM URL" % (method, src))
        self._logfile = os.path.join(self.workdir, "release.log")
        try:
            self._log("%s %s" % (method, src))
            previous = self._previous(opts.get("previous"))
            folder, name = self._definition(src, False)
            cwd = os.getcwd()
            os.chdir(folder)
            try:
                if previous is not None and not os.path.isabs(previous) \
                        and os.path.lexists(previous):
                    # the core would read it as a file of this checkout
                    raise koji.GenericError("%s: previous %s is both a release name and a file "
                                            "in %s's repository; give the release compose ID"
                                            % (method, previous, src))
                self._check_locations(name, folder)
                if previous is not None and os.path.isabs(previous):
                    self._check_locations(previous, self._previous_top)
                report, record = self._run(name, opts, previous, src)
            finally:
                os.chdir(cwd)
            return self._finish(report, record)
        finally:
            self._upload(self._logfile)

    def _previous(self, previous):
        """What strata's `previous` takes: a release compose ID or name as
        given, or the checked-out previous document's absolute path."""
        if previous is None or not SCM.is_scm_url(previous):
            return previous
        folder, name = self._definition(previous, False, where="previous")
        self._previous_top = folder
        return os.path.join(folder, name)

    def _check_locations(self, path, top):
        """Every definition the release at PATH names, before the core reads
        or fetches any (hostile input): an SCM URL must be one this plugin's
        allowed_scms allows, as the release's own; a path must stay inside
        the checkout TOP, the release itself too (no absolute path, no
        `..` or symlink out of it), or a builder's files would be read as
        definitions."""
        try:
            modules, artifacts = strata.release_locations(path)
        except strata.DefinitionError as e:
            raise self._malformed(e)
        inside = os.path.realpath(top) + os.sep
        if not os.path.realpath(path).startswith(inside):
            raise koji.GenericError("release %s: the file leads out of its repository" % path)
        base = os.path.dirname(os.path.abspath(path))
        for entry in modules + artifacts:
            if "://" in entry:
                if not SCM.is_scm_url(entry):
                    raise koji.GenericError("release %s: definition %s is not a Koji SCM URL "
                                            "(%s)" % (path, entry, self.config["allowed_scms"]))
                try:
                    SCM(entry).assert_allowed(allowed=self.config["allowed_scms"],
                                              session=self.session, by_config=True,
                                              by_policy=False)
                except koji.GenericError as e:  # BuildError: not allowed; unparsable
                    raise koji.GenericError("release %s: definition %s: %s" % (path, entry, e))
            elif os.path.isabs(entry) or not os.path.realpath(
                    os.path.join(base, entry)).startswith(inside):
                raise koji.GenericError("release %s: definition %s is outside the release's "
                                        "repository" % (path, entry))

    def _shown(self, opts):
        """How the report names the previous release: the SCM URL the task
        was given, not this builder's checkout of it (None: as given)."""
        given = opts.get("previous")
        return given if given is not None and SCM.is_scm_url(given) else None

    def _run(self, path, opts, previous, src):
        """The core's check; (report, None)."""
        self._log("checking %s (arch %s, previous %s), registry %s"
                  % (path, opts.get("arch") or "default", previous, self.config["registry"]))
        try:
            report = strata.release_check(path, config=self.config["config"] or None,
                                          registry=self.config["registry"],
                                          arch=opts.get("arch"), previous=previous,
                                          previous_display=self._shown(opts))
        except strata.DefinitionError as e:
            raise self._malformed(e)
        except strata.StrataError as e:
            self._log("error: %s" % e)
            raise koji.GenericError("release check of %s failed: %s" % (path, e))
        return report, None

    def _malformed(self, e):
        """A release document (or a definition it names) that is not valid:
        the fault lists its `file:line:col: key: problem`s."""
        problems = e.args[1] if len(e.args) > 1 else [str(e)]
        self._log("error: %s" % e.args[0])
        return koji.GenericError("malformed release document %s:\n%s"
                                 % (e.args[0].split(" ", 1)[0], "\n".join(problems)))

    def _finish(self, report, record):
        """Uploads the report; fails the task with its problems, else the
        result (a summary: the report itself is the task's output)."""
        with open(os.path.join(self.workdir, "release-report.json"), "w") as f:
            f.write(report.to_json())
        self._upload(os.path.join(self.workdir, "release-report.json"))
        self._upload_text("release-report.txt", report.to_text())
        problems = [p.message for p in report.problems]
        self._log("release %s %s: %d problem(s)" % (report.release, report.version,
                                                    len(problems)))
        if problems:
            raise koji.GenericError(
                "release %s %s (%s): %d problem(s)%s:\n%s"
                % (report.release, report.version, report.file, len(problems),
                   "; nothing was composed" if self.Methods[0] == "releaseCompose" else "",
                   "\n".join("- %s" % p for p in problems)))
        return {"release": report.release, "version": report.version, "date": report.date,
                "arch": report.arch, "ok": True,
                "modules": dict((m.module, m.compose) for m in report.modules)}


class ReleaseComposeTask(ReleaseCheckTask):
    """releaseCompose(src, opts=None): releaseCheck's check and, only when
    it finds no problem, strata.release_compose: one release compose,
    published atomically in Pungi's layout under this builder's `out` (the
    composes' folder, where moduleCompose publishes) and recorded in the
    shared registry (`strata releases show`), its record uploaded as
    release.json. A failed check composes and records nothing and fails
    the task with its problems."""

    Methods = ["releaseCompose"]
    # the check, then hardlinks, one createrepo and productmd metadata
    _taskWeight = 2.0
    OPTION_TYPES = dict(RELEASE_OPTION_TYPES, compose_type=str)

    def _run(self, path, opts, previous, src):
        ctype = opts.get("compose_type", "nightly")
        if ctype not in strata.COMPOSE_TYPES:
            raise koji.ParameterError("releaseCompose: compose_type %r is not one of %s"
                                      % (ctype, ", ".join(strata.COMPOSE_TYPES)))
        out = self.config["out"]
        self._log("composing %s into %s (arch %s, previous %s), registry %s"
                  % (path, out, opts.get("arch") or "default", previous,
                     self.config["registry"]))
        try:
            report, record = strata.release_compose(
                path, out, config=self.config["config"] or None,
                registry=self.config["registry"], arch=opts.get("arch"), compose_type=ctype,
                previous=previous, previous_display=self._shown(opts),
                # the document as the task named it, as moduleCompose records its SCM URL
                scm_ref=src)
        except strata.DefinitionError as e:
            raise self._malformed(e)
        except strata.StrataError as e:
            self._log("error: %s" % e)
            raise koji.GenericError("release compose of %s failed: %s" % (path, e))
        if record is not None:
            self._log("release compose %s: %s, %s" % (record.id, record.state, record.path))
            self._upload_text("release.json", record.to_json())
        return report, record

    def _finish(self, report, record):
        result = super()._finish(report, record)
        result.update(release_id=record.id, state=record.state, path=record.path,
                      inputs=[list(i) for i in record.inputs])
        return result
