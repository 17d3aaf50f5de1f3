"""A loopback stand-in for the Koji hub calls a builder (kojid and its task
handlers) makes, for the moduleCompose builder plugin. Kojid and kojihub
cannot be installed here; this extends tests/kojihub_standin.py's Hub (which
already mirrors getTag, getRepo and listTagged) with the host side of the
API as read in koji's sources (kojihub/kojihub.py: HostExports, the task
functions and the upload handler; koji/__init__.py: ClientSession's login,
_prepCall and _prepUpload, uploadWrapper/fastUpload; koji/tasks.py:
BaseTaskHandler.wait and uploadFile; koji/daemon.py: TaskManager.runTask and
log_output's incremental uploads).

Sessions
- `login(user, password, opts=None)`: returns the session info
  `{"session-id", "session-key", "header-auth": True}`; later calls carry
  it in the `Koji-Session-Id`/`Koji-Session-Key` headers (or, as koji's
  rawUpload does without header-auth, in the query string). A user whose
  name is a registered host logs in as that host.
- Host calls (`host.*`, `moduleComposeImport`) without a host session are
  an ActionNotAllowed fault (1004), as `context.session.assertLogin()` and
  `Host()` make them on the hub.

Tasks (states as koji.TASK_STATES: FREE 0, OPEN 1, CLOSED 2, CANCELED 3,
ASSIGNED 4, FAILED 5)
- `getTaskInfo(task_id, request=False, strict=False)`: the task dict (id,
  method, state, parent, label, arch, channel_id, host_id, owner, priority,
  weight, waiting, awaited; `request` when asked); a list for a list of IDs.
- `getTaskResult(taskId, raise_fault=True)`: the result of a closed task;
  a failed task's fault is raised again.
- `getTaskChildren(task_id)`, `cancelTaskChildren(task_id)`.
- `host.getID()`: this host's ID.
- `host.subtask(method, arglist, parent, **opts)`: a child task of
  `parent` (which must be this host's open task); opts are label, priority,
  arch, channel. The hub's scheduler hands it to some builder; here the test
  plays that builder through `Hub.on_subtask[method](task)`, which may close
  (or fail) the task at once.
- `host.taskSetWait(parent, tasks)`: marks the children awaited (all
  children for None) and the parent waiting.
- `host.taskWait(parent)`: `[finished, unfinished]` among the awaited
  children (finished: CLOSED, CANCELED or FAILED).
- `host.taskWaitResults(parent, tasks, canfail=None)`: `[[task_id,
  result], ...]`; a failed task not in canfail raises its fault.
- `host.closeTask(task_id, response)` / `host.failTask(task_id,
  response)`: the XML-RPC-encoded result (kojid's
  `koji.xmlrpcplus.dumps((result,), methodresponse=1)`) or Fault; kept
  decoded in the task.
- `moduleComposeImport(task_id, compose_id)`: the hub plugin's call (the
  contract in koji_plugin/README.md), only from the host running that open
  task; recorded in `Hub.imports` and answered with a new build ID.

Repos (kojihub/repos.py; used by koji.util.RepoWatcher, which
BaseTaskHandler.getRepo uses before it creates a `waitrepo` subtask)
- `repo.request(tag, min_event=None, at_event=None, opts=None,
  priority=None, force=False)`: `{"repo": <the newest READY repo of the tag
  made at or after min_event>, "request": None, "duplicate": False}`, or,
  when there is none, `{"repo": None, "request": <a new active request:
  id, tag_id, min_event, at_event, opts, active, task_id, ...>}`; min_event
  "last" is the tag's last tagging event. Login required.
- (inherited) `getTag`, `getRepo`, `listTagged` — `listTagged(tag,
  event=..., package=..., inherit=True)` is what koji.util.checkForBuilds
  asks.

Uploads (kojihub's work directory is `Hub.workdir`)
- `checkUpload(path, name, verify=None, tail=None, volume=None)`: None when
  the file does not exist, else `{"size", "mtime"}`, with `sumlength` and
  `hexdigest` (of the last `tail` bytes when given) when verify names a
  checksum (adler32 or a hashlib name).
- rawUpload: an HTTP POST whose query gives filename, filepath, fileverify,
  offset and overwrite and whose body is the chunk (ClientSession.fastUpload
  and daemon.fast_incremental_upload, used when the server answers
  checkUpload, or with `use_fast_upload`); offset -1 appends, overwrite
  truncates at the offset; answered with an XML-RPC `{"size", "hexdigest"}`
  of the chunk.
- `uploadFile(path, name, size, chksum, offset, data, volume=None)`: the
  old XML-RPC chunked upload (base64 data, sha256 chunk checksums; offset
  -1 checks the whole file).
Paths must be relative and stay inside the work directory.
"""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
import urllib.parse
import zlib
from xmlrpc.client import Fault, dumps, loads

import koji

from kojihub_standin import Hub, HubServer, _Handler, decode_args

FREE, OPEN, CLOSED, CANCELED, ASSIGNED, FAILED = 0, 1, 2, 3, 4, 5
DONE = (CLOSED, CANCELED, FAILED)
HOST_CALLS = ("moduleComposeImport",)


def _fault(exc_class, msg):
    return Fault(exc_class.faultCode, msg)


class BuilderHub(Hub):
    def __init__(self, workdir):
        super().__init__()
        self.workdir = str(workdir)
        self.users = {}  # name -> {"id", "password", "host_id"}
        self.hosts = {}  # host id -> name
        self.sessions = {}  # session id -> {"key", "user"}
        self.tasks: dict[int, dict] = {}
        self.imports: list[tuple[int, str]] = []
        self.on_subtask = {}
        self.current = None  # the session of the request being handled
        self.next_build = 5000
        self.requests: list[dict] = []

    # -- setup
    def add_host(self, name, password="host-password", arches="x86_64 noarch"):
        host_id = len(self.hosts) + 1
        self.hosts[host_id] = {"id": host_id, "name": name, "arches": arches}
        self.users[name] = {"id": 100 + len(self.users), "name": name, "password": password,
                            "host_id": host_id}
        return host_id

    def add_user(self, name, password="user-password"):
        self.users[name] = {"id": 100 + len(self.users), "name": name, "password": password,
                            "host_id": None}

    def make_task(self, method, params, host=None, parent=None, owner=None, label=None,
                  arch="noarch", priority=koji.PRIO_DEFAULT, channel_id=1):
        """A task as the hub creates it (moduleBuild -> make_task); with a host
        it is already OPEN on that host, as after host.openTask."""
        task_id = 1 + max(self.tasks, default=0)
        host_id = self.users[host]["host_id"] if host else None
        self.tasks[task_id] = {
            "id": task_id, "method": method, "request": dumps(tuple(params), method, allow_none=True),
            "params": list(params), "state": OPEN if host_id else FREE, "parent": parent,
            "label": label, "arch": arch, "priority": priority, "weight": 1.0,
            "channel_id": channel_id, "host_id": host_id, "owner": owner or 1,
            "waiting": None, "awaited": None, "result": None, "create_event": self.event}
        return task_id

    # -- sessions
    def _login(self, user, password, opts=None):
        u = self.users.get(user)
        if not u or u["password"] != password:
            raise _fault(koji.AuthError, "invalid username or password")
        sid = 1 + len(self.sessions)
        key = "%s-%s" % (sid, secrets.token_hex(8))
        self.sessions[sid] = {"key": key, "user": user}
        return {"session-id": sid, "session-key": key, "header-auth": True}

    def _host_id(self):
        s = self.current
        user = self.users.get(s["user"]) if s else None
        if not user or not user["host_id"]:
            raise _fault(koji.ActionNotAllowed, "host login required")
        return user["host_id"]

    def _own_task(self, task_id):
        host_id = self._host_id()
        t = self.tasks.get(task_id)
        if t is None:
            raise _fault(koji.GenericError, "No such task: %r" % task_id)
        if t["host_id"] != host_id or t["state"] != OPEN:
            raise _fault(koji.ActionNotAllowed, "task %s is not open on host %s" % (task_id, host_id))
        return t

    # -- tasks, read side
    def _info(self, t, request=False):
        info = {k: v for k, v in t.items() if k not in ("result", "params", "request")}
        if request:
            info["request"] = list(t["params"])
        return info

    def getTaskInfo(self, task_id, request=False, strict=False):
        if isinstance(task_id, list):
            return [self.getTaskInfo(i, request, strict) for i in task_id]
        t = self.tasks.get(task_id)
        if t is None:
            if strict:
                raise _fault(koji.GenericError, "No such task: %r" % task_id)
            return None
        return self._info(t, request)

    def getTaskResult(self, taskId, raise_fault=True):
        t = self.tasks.get(taskId)
        if t is None:
            raise _fault(koji.GenericError, "No such task: %r" % taskId)
        if t["state"] == CLOSED:
            return t["result"]
        if t["state"] == FAILED and raise_fault:
            raise t["result"]
        if t["state"] == CANCELED:
            raise _fault(koji.GenericError, "Task %i is canceled" % taskId)
        if t["state"] == FAILED:
            return t["result"]
        raise _fault(koji.GenericError, "Task %i is not finished" % taskId)

    def getTaskChildren(self, task_id, request=False, strict=False):
        return [self._info(t, request) for t in self.tasks.values() if t["parent"] == task_id]

    def cancelTaskChildren(self, task_id):
        for t in self.tasks.values():
            if t["parent"] == task_id and t["state"] not in DONE:
                t["state"] = CANCELED

    # -- host calls
    def host_getID(self):
        return self._host_id()

    def host_subtask(self, method, arglist, parent, **opts):
        parent_t = self._own_task(parent)
        unknown = set(opts) - {"label", "priority", "arch", "channel"}
        if unknown:
            raise _fault(koji.ParameterError, "unknown subtask options: %s" % sorted(unknown))
        task_id = self.make_task(method, arglist, parent=parent, owner=parent_t["owner"],
                                 label=opts.get("label"), arch=opts.get("arch") or "noarch",
                                 priority=opts.get("priority") or parent_t["priority"])
        hook = self.on_subtask.get(method)
        if hook:
            hook(self.tasks[task_id])
        return task_id

    def host_taskSetWait(self, parent, tasks):
        self._own_task(parent)
        for t in self.tasks.values():
            if t["parent"] == parent:
                t["awaited"] = tasks is None or t["id"] in tasks
        self.tasks[parent]["waiting"] = True

    def host_taskWait(self, parent):
        self._own_task(parent)
        finished, unfinished = [], []
        for t in self.tasks.values():
            if t["parent"] == parent and t["awaited"]:
                (finished if t["state"] in DONE else unfinished).append(t["id"])
        if not unfinished:
            self.tasks[parent]["waiting"] = False
        return [finished, unfinished]

    def host_taskWaitResults(self, parent, tasks, canfail=None):
        self._own_task(parent)
        canfail = canfail or []
        out = []
        for task_id in tasks:
            t = self.tasks[task_id]
            if t["parent"] != parent:
                raise _fault(koji.GenericError, "task %s is not a child of %s" % (task_id, parent))
            if t["state"] == FAILED and task_id not in canfail:
                raise t["result"]
            out.append([task_id, t["result"] if t["state"] == CLOSED else None])
            t["awaited"] = False
        return out

    def host_closeTask(self, task_id, response):
        t = self._own_task(task_id)
        t["result"] = loads(response)[0][0]
        t["state"] = CLOSED

    def host_failTask(self, task_id, response):
        t = self._own_task(task_id)
        try:
            loads(response)
        except Fault as f:
            t["result"] = f
        else:
            raise _fault(koji.GenericError, "failTask response is not a fault")
        t["state"] = FAILED

    # -- repo requests (kojihub/repos.py: RepoExports, request_repo)
    def repo_request(self, tag, min_event=None, at_event=None, opts=None, priority=None,
                     force=False):
        if self.current is None:
            raise _fault(koji.AuthError, "Not logged in")
        t = self._tag(tag, True)
        if at_event is not None and min_event is not None:
            raise _fault(koji.ParameterError, "The min_event and at_event options conflict")
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

    # test side: a task run by another builder
    def finish_task(self, task_id, result):
        self.tasks[task_id].update(state=CLOSED, result=result)

    def moduleComposeImport(self, task_id, compose_id):
        self._own_task(task_id)
        if not isinstance(compose_id, str) or not compose_id:
            raise _fault(koji.ParameterError, "invalid compose id: %r" % (compose_id,))
        self.imports.append((task_id, compose_id))
        self.next_build += 1
        return self.next_build

    # -- uploads
    def _upload_path(self, path, name):
        if os.path.isabs(path) or ".." in path.split("/") or "/" in name or name in ("", ".", ".."):
            raise _fault(koji.GenericError, "invalid upload path: %s/%s" % (path, name))
        return os.path.join(self.workdir, path, name)

    def checkUpload(self, path, name, verify=None, tail=None, volume=None):
        self._require_login()
        fn = self._upload_path(path, name)
        if not os.path.exists(fn):
            return None
        with open(fn, "rb") as f:
            data = f.read()
        info = {"size": len(data), "mtime": os.stat(fn).st_mtime}
        if verify:
            if tail is not None:
                data = data[max(len(data) - tail, 0):]
            info["sumlength"] = len(data)
            if verify == "adler32":
                info["hexdigest"] = "%08x" % (zlib.adler32(data) & 0xFFFFFFFF)
            else:
                info["hexdigest"] = hashlib.new(verify, data).hexdigest()
        return info

    def rawUpload(self, query, body):
        self._require_login()
        fn = self._upload_path(query["filepath"], query["filename"])
        offset = int(query.get("offset", "0"))
        overwrite = query.get("overwrite") == "1"
        os.makedirs(os.path.dirname(fn), exist_ok=True)
        if offset == 0 and os.path.exists(fn) and not overwrite:
            raise _fault(koji.GenericError, "file already exists: %s" % fn)
        with open(fn, "ab"):
            pass
        with open(fn, "r+b") as f:
            if offset == -1:  # append
                f.seek(0, 2)
            else:
                if overwrite:  # the hub truncates at the write offset
                    f.truncate(offset)
                f.seek(offset)
            f.write(body)
        ret = {"size": len(body)}
        if query.get("fileverify") == "adler32":
            ret["hexdigest"] = "%08x" % (zlib.adler32(body) & 0xFFFFFFFF)
        return ret

    def uploadFile(self, path, name, size, chksum, offset, data, volume=None):
        self._require_login()
        fn = self._upload_path(path, name)
        kind, digest = chksum
        if offset == -1:
            with open(fn, "rb") as f:
                whole = f.read()
            return len(whole) == size and hashlib.new(kind, whole).hexdigest() == digest
        raw = base64.b64decode(data)
        if len(raw) != size or hashlib.new(kind, raw).hexdigest() != digest:
            raise _fault(koji.GenericError, "upload chunk checksum or size mismatch: %s" % fn)
        os.makedirs(os.path.dirname(fn), exist_ok=True)
        with open(fn, "r+b" if os.path.exists(fn) and offset else "wb") as f:
            f.seek(offset)
            f.write(raw)
        return True

    def _require_login(self):
        if not self.current:
            raise _fault(koji.ActionNotAllowed, "you must be logged in to upload")

    # -- dispatch
    def _dispatch(self, method, params):
        args, opts = decode_args(params)
        self.calls.append((method, args, opts))
        if method == "login":
            return self._login(*args, **opts)
        if method.startswith("repo."):
            fn = getattr(self, "repo_" + method[5:], None)
            if fn is None:
                raise _fault(koji.GenericError, "Invalid method: %s" % method)
            return fn(*args, **opts)
        if method.startswith("host."):
            fn = getattr(self, "host_" + method[5:], None)
            if fn is None:
                raise _fault(koji.GenericError, "Invalid method: %s" % method)
            self._host_id()
            return fn(*args, **opts)
        if method in HOST_CALLS:
            self._host_id()
        if method in ("make_task", "finish_task", "add_host", "add_user", "rawUpload"):
            raise _fault(koji.GenericError, "Invalid method: %s" % method)
        return super()._dispatch(method, params)


class _BuilderHandler(_Handler):
    def _session(self, query):
        sid = self.headers.get("Koji-Session-Id") or query.get("session-id")
        key = self.headers.get("Koji-Session-Key") or query.get("session-key")
        hub = self.server.hub
        if sid is None:
            return None
        s = hub.sessions.get(int(sid))
        return s if s and s["key"] == key else None

    def do_POST(self):
        hub = self.server.hub
        query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(self.path).query))
        hub.current = self._session(query)
        if "filename" in query:  # rawUpload (koji.ClientSession._prepUpload)
            body = self.rfile.read(int(self.headers["Content-Length"]))
            hub.calls.append(("rawUpload", [query.get("filepath"), query.get("filename")], {}))
            try:
                resp = dumps((hub.rawUpload(query, body),), methodresponse=True, allow_none=True)
            except Fault as f:
                resp = dumps(f, methodresponse=True, allow_none=True)
            data = resp.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/xml")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            return
        super().do_POST()


class BuilderHubServer(HubServer):
    """Serves a BuilderHub on 127.0.0.1:<free port>."""

    def __init__(self, hub: BuilderHub):
        super().__init__(hub)
        self.server.RequestHandlerClass = _BuilderHandler
        self.server.hub = hub
