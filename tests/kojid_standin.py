"""A loopback stand-in for the Koji hub calls a builder (kojid and its task
handlers) makes, for the moduleCompose builder plugin. Kojid and kojihub
cannot be installed here. `BuilderHub` is tests/kojihub_standin.py's `Hub`
(sessions and login, rawUpload and checkUpload, getTaskInfo, getTaskResult
and getTaskChildren, getTag, getRepo, listTagged) over a
`kojihub_module_standin.FakeHub` that holds users, hosts and tasks as the
hub's tables do; it adds the host side of the API as read in koji's
sources (kojihub/kojihub.py: HostExports and Host, uploadFile,
kojihub/repos.py: RepoExports; koji/tasks.py: BaseTaskHandler.wait and
uploadFile; koji/daemon.py: TaskManager.runTask).

Set a site up on `hub.koji_hub` (add_host, add_user, make_task, open_task,
close_task), as the hub module stand-in's tests do. A user whose name is a
registered host logs in as that host.

Host calls (`host.*`, `moduleComposeImport`) without a host session are an
ActionNotAllowed fault (1004).

Tasks (states as koji.TASK_STATES: FREE 0, OPEN 1, CLOSED 2, CANCELED 3,
ASSIGNED 4, FAILED 5)
- `host.getID()`: this host's ID.
- `host.subtask(method, arglist, parent, **opts)`: a child task of
  `parent` (which must be this host's open task), made as kojihub's
  make_task makes subtasks; `owner` is not allowed, an existing child of
  the same `label` is returned instead of a new one. The hub's scheduler
  hands it to some builder; here the test plays that builder through
  `BuilderHub.on_subtask[method](task)` (the task as `BuilderHub.task`
  shows it), which may close (or fail) the task at once.
- `host.taskSetWait(parent, tasks)`: the parent waiting; the listed
  children (all for None) awaited, the others not.
- `host.taskWait(parent)`: `[finished, unfinished]` among the awaited
  children (finished: CLOSED, CANCELED or FAILED); the finished are no
  longer awaited.
- `host.taskWaitResults(parent, tasks, canfail=None)`: `[[task_id,
  result], ...]` (all finished children for None); a failed task not in
  canfail raises its fault; waiting ends.
- `host.getHostTasks()`: this host's open tasks, `{id, waiting, weight}`,
  with `alert: True` on a waiting one whose awaited children include a
  finished one: kojid (TaskManager.updateTasks) wakes that task's
  process with SIGUSR2.
- `host.repoDone(repo_id, data, expire=False, repo_json_updates=None)`:
  the INIT repo ready (expired with expire), with the `preRepoDone` and
  `postRepoDone` callbacks (repo=repo_info as it was, data, expire), as
  kojid's newRepo task ends.
- `host.closeTask(task_id, response)` / `host.failTask(task_id,
  response)`: the XML-RPC-encoded result (kojid's
  `koji.xmlrpcplus.dumps((result,), methodresponse=1)`) or fault, kept as
  the hub keeps it.
- `moduleComposeImport(task_id, compose_id)`: the hub plugin's call (the
  contract in koji_plugin/README.md), only from the host running that open
  task; recorded in `BuilderHub.imports` and answered with a new build ID.

Repos (kojihub/repos.py; used by koji.util.RepoWatcher, which
BaseTaskHandler.getRepo uses before it creates a `waitrepo` subtask)
- `repo.request(tag, min_event=None, at_event=None, opts=None,
  priority=None, force=False)`: `{"repo": <the newest READY repo of the tag
  made at or after min_event>, "request": None, "duplicate": False}`, or,
  when there is none, `{"repo": None, "request": <a new active request:
  id, tag_id, min_event, at_event, opts, active, task_id, ...>}`; min_event
  "last" is the tag's last tagging event. Login required.

Uploads: rawUpload and checkUpload are the Hub's; this adds the old
XML-RPC chunked upload, `uploadFile(path, name, size, md5sum, offset,
data, volume=None, checksum=None)` as kojihub has it: base64 data, a
(type, digest) or md5 checksum of the chunk (of the whole file at offset
-1, the last call), False when size or checksum do not match; offset 0
onto an existing file is "file already exists" except for `.log` files.
"""

from __future__ import annotations

import base64
import os

import koji
import koji.plugin
from koji.context import context

import kojihub_module_standin as khs
from kojihub_standin import Hub, _verify_class

FREE, OPEN, CLOSED, CANCELED, ASSIGNED, FAILED = 0, 1, 2, 3, 4, 5
DONE = (CLOSED, CANCELED, FAILED)
HOST_CALLS = ("moduleComposeImport", "artifactComposeImport")


class BuilderHub(Hub):
    SETUP_ONLY = Hub.SETUP_ONLY + ("task",)

    def __init__(self, topdir):
        """A hub whose koji.pathinfo.topdir is TOPDIR (uploads go to its
        work/), with the channel Strata's tasks run in."""
        super().__init__(koji_hub=khs.FakeHub(topdir))
        khs.install(self.koji_hub)
        self.koji_hub.add_channel("strata")
        self.imports: list[tuple[int, str]] = []
        self.on_subtask = {}
        self.next_build = 5000
        self.requests: list[dict] = []

    def task(self, task_id) -> dict:
        """Test side: the task as the hub has it, with its request decoded
        (`params`) and its result decoded (a Fault for a failed task)."""
        t = dict(self.koji_hub.tasks[task_id])
        t["params"] = list(khs.Task(task_id).getRequest())
        if t["result"] is not None:
            try:
                t["result"] = koji.xmlrpcplus.loads(t["result"])[0][0]
            except koji.xmlrpcplus.Fault as fault:
                t["result"] = fault
        return t

    def _own_task(self, task_id):
        """The open task TASK_ID of this session's host."""
        khs.Task(task_id).assertHost(self._host_id())
        return self.koji_hub.tasks[task_id]

    def _children(self, parent):
        return [t for t in self.koji_hub.tasks.values() if t["parent"] == parent]

    # -- host calls (HostExports)
    def host_getID(self):
        return self._host_id()

    def host_subtask(self, method, arglist, parent, **opts):
        self._own_task(parent)
        if "owner" in opts:
            raise koji.ActionNotAllowed("The owner option is not allowed here")
        if opts.get("label") is not None:
            same = [t for t in self._children(parent) if t["label"] == opts["label"]]
            if same:
                return same[0]["id"]
        if "kwargs" in opts:
            arglist = koji.encode_args(*arglist, **opts.pop("kwargs"))
        task_id = self.koji_hub.make_task(method, arglist, parent=parent, **opts)
        hook = self.on_subtask.get(method)
        if hook:
            hook(self.task(task_id))
        return task_id

    def host_taskSetWait(self, parent, tasks):
        self._own_task(parent)["waiting"] = True
        self.koji_hub.touch_task(parent)
        for t in self._children(parent):
            t["awaited"] = tasks is None or t["id"] in tasks
            self.koji_hub.touch_task(t["id"])

    def host_taskWait(self, parent):
        self._own_task(parent)
        finished, unfinished = [], []
        for t in self._children(parent):
            if t["awaited"]:
                (finished if t["state"] in DONE else unfinished).append(t["id"])
        for task_id in finished:
            self.koji_hub.tasks[task_id]["awaited"] = False
            self.koji_hub.touch_task(task_id)
        return [sorted(finished), unfinished]

    def host_taskWaitResults(self, parent, tasks, canfail=None):
        self._own_task(parent)["waiting"] = False
        self.koji_hub.touch_task(parent)
        for t in self._children(parent):
            t["awaited"] = False
            self.koji_hub.touch_task(t["id"])
        if tasks is None:
            tasks = [t["id"] for t in self._children(parent) if t["state"] in DONE]
        canfail = canfail or []
        return [[task_id, khs.Task(task_id).getResult(raise_fault=task_id not in canfail)]
                for task_id in tasks]

    def host_getHostTasks(self):
        host_id = self._host_id()
        tasks = []
        for t in self.koji_hub.tasks.values():
            if t["host_id"] != host_id or t["state"] != OPEN:
                continue
            task = {"id": t["id"], "waiting": t["waiting"], "weight": t["weight"]}
            if t["waiting"] and any(c["awaited"] and c["state"] in DONE
                                    for c in self._children(t["id"])):
                task["alert"] = True
            tasks.append(task)
        return tasks

    def host_repoDone(self, repo_id, data, expire=False, repo_json_updates=None):
        """HostExports.repoDone: the repo (made INIT by new_repo(state=0))
        ready, the `preRepoDone` and `postRepoDone` callbacks run around it
        with repo=repo_info (as read before: state INIT), data, expire; an
        expired repo (legacy expire=True) gets postRepoDone too. The
        uploaded repodata is not moved: tests write repos in place."""
        self._host_id()
        rinfo = next((dict(r) for r in self.repos if r["id"] == repo_id), None)
        if rinfo is None:
            raise koji.GenericError("No such repo: %s" % repo_id)
        if not isinstance(data, dict):
            raise koji.ParameterError("Invalid type for value '%s': %s, expected type %s"
                                      % (data, type(data), dict))
        koji.plugin.run_callbacks("preRepoDone", repo=rinfo, data=data, expire=expire)
        if rinfo["state"] != koji.REPO_INIT:
            raise koji.GenericError("Repo %(id)s not in INIT state (got %(state)s)" % rinfo)
        repo = next(r for r in self.repos if r["id"] == repo_id)
        repo["state"] = koji.REPO_EXPIRED if expire else koji.REPO_READY
        koji.plugin.run_callbacks("postRepoDone", repo=rinfo, data=data, expire=expire)

    def host_closeTask(self, task_id, response):
        self._own_task(task_id).update(state=CLOSED, result=response,
                                       completion_ts=1764000200.0)
        self.koji_hub.touch_task(task_id)

    def host_failTask(self, task_id, response):
        self._own_task(task_id).update(state=FAILED, result=response,
                                       completion_ts=1764000200.0)
        self.koji_hub.touch_task(task_id)

    def moduleComposeImport(self, task_id, compose_id):
        self._own_task(task_id)
        if not isinstance(compose_id, str) or not compose_id:
            raise koji.ParameterError("invalid compose id: %r" % (compose_id,))
        self.imports.append((task_id, compose_id))
        self.next_build += 1
        return self.next_build

    # -- repo requests (kojihub/repos.py: RepoExports, request_repo)
    def repo_request(self, tag, min_event=None, at_event=None, opts=None, priority=None,
                     force=False):
        if not context.session.logged_in:
            raise koji.AuthError("Not logged in")
        t = self._tag(tag, True)
        if at_event is not None and min_event is not None:
            raise koji.ParameterError("The min_event and at_event options conflict")
        if min_event == "last":
            min_event = max((r[2] for r in self.listing if r[0] == t["name"]), default=0)
        ret = {"repo": None, "request": None, "duplicate": False}
        ready = [r for r in self.repos if r["tag_id"] == t["id"] and r["state"] == 1
                 and (min_event is None or r["create_event"] >= int(min_event))
                 and (at_event is None or r["create_event"] == at_event)]
        if ready and not force:
            ret["repo"] = dict(max(ready, key=lambda r: r["create_event"]), opts=opts or {})
            return ret
        self.requests.append({"id": len(self.requests) + 1, "tag_id": t["id"],
                              "min_event": self.event if min_event is None else int(min_event),
                              "at_event": at_event, "opts": opts or {}, "active": True,
                              "task_id": None, "task_state": None, "repo_id": None, "tries": 0,
                              "priority": koji.PRIO_DEFAULT + (priority or 0)})
        ret["request"] = self.requests[-1]
        return ret

    # -- the XML-RPC upload (kojihub's uploadFile)
    def uploadFile(self, path, name, size, md5sum, offset, data, volume=None, checksum=None):
        context.session.assertLogin()
        contents = base64.b64decode(data)
        offset, size = koji.decode_int(offset), koji.decode_int(size)
        checksum = md5sum if checksum is None else checksum
        if isinstance(checksum, str):
            verify, digest = "md5", checksum
        elif checksum is None:
            verify = digest = None
        else:
            verify, digest = checksum
        if offset != -1:
            if size is not None and size != len(contents):
                return False
            if verify and digest != _verify_class(verify)(contents).hexdigest():
                return False
        fn = self._upload_path(path, name, create=True)
        exists = os.path.lexists(fn)
        if exists and not os.path.isfile(fn):
            raise koji.GenericError("destination not a file: %s" % fn)
        if exists and offset == 0 and not fn.endswith(".log"):
            raise koji.GenericError("file already exists: %s" % fn)
        with open(os.open(fn, os.O_RDWR | os.O_CREAT, 0o666), "r+b") as f:
            if offset == 0 or (offset == -1 and size == len(contents)):
                f.truncate(0)
            if offset == -1:
                f.seek(0, os.SEEK_END)
            else:
                f.seek(offset)
            f.write(contents)
            if offset == -1:
                if size is not None:
                    f.truncate(size)
                if verify:
                    f.seek(0)
                    if digest != _verify_class(verify)(f.read()).hexdigest():
                        return False
        return True

    # -- dispatch: `host.NAME` is host_NAME, `repo.NAME` is repo_NAME
    def _function(self, method):
        prefix, dot, name = method.partition(".")
        if dot and prefix in ("host", "repo"):
            fn = getattr(self, "%s_%s" % (prefix, name), None)
            if fn is None:
                raise koji.GenericError("Invalid method: %s" % method)
            if prefix == "host":
                self._host_id()
            return fn
        if method.startswith(("host_", "repo_")):
            raise koji.GenericError("Invalid method: %s" % method)
        if method in HOST_CALLS:
            self._host_id()
        return super()._function(method)
