"""A loopback stand-in for a Koji hub's XML-RPC API, for the calls Strata
makes. Kojihub cannot be installed here; this mirrors its behaviour as read
in koji's sources (kojihub/kojihub.py, koji/__init__.py):

- Transport: XML-RPC over HTTP POST at any path (kojihub serves /kojihub),
  `allow_none` responses (None is `<nil/>`), large integers as `<i8>`
  (koji.xmlrpcplus, as kojixmlrpc marshals), faults for errors.
- Keyword arguments arrive as a trailing struct with `__starstar: True`
  (koji.encode_args); they are decoded like koji.decode_args.
- `getTag(tagInfo, strict=False, event=None, blocked=False)`: the tag dict
  (id, name, arches, locked, perm, ...) or None when unknown and not strict;
  with strict=True a GenericError fault ("No such tagInfo: ...").
- `getRepo(tag, state=None, event=None, dist=False, min_event=None)`: the
  newest READY repo of the tag as a dict (id, state, create_event,
  create_ts, creation_time, dist, task_id...) or None; an unknown tag is a
  GenericError fault.
- `listTagged(tag, event=None, inherit=False, prefix=None, latest=False,
  package=None, owner=None, type=None, ...)`: build dicts (build_id, nvr,
  name, version, release, epoch, tag_name, state, ...), newest first; with
  `latest` only the newest build of each package as of `event`; an unknown
  tag is a GenericError fault. Tagging history is kept per event, as the
  hub's tag_listing table does, so `event` selects what was tagged then.
- `listTags(build=NVR|ID)`: the tags the build is tagged into now, as
  getTag gives them (only the `build` filter).

Faults use koji's GenericError code (1000).

With a `kojihub_module_standin.FakeHub` and the hub plugins' exports
(`Hub(koji_hub=..., exports=...)`), it also serves what
the koji CLI needs for plugin commands and `watch_tasks`:

- Sessions (kojihub/auth.py): `login(user, password, opts=None,
  renew=False, exclusive=False)` returns `{session-id, session-key,
  header-auth: True}`; later calls carry the `Koji-Session-Id`/`-Key`/
  `-Callnum` headers (or, for old clients, the same as query arguments);
  a wrong password is an AuthError fault (1002). `logout(session_id=None)`,
  `getLoggedInUser()`, `hasPerm(perm, strict=False)`, `getAPIVersion()`.
- Uploads, as kojihub.handle_upload, get_upload_path and checkUpload do:
  an `application/octet-stream` POST is a `rawUpload` chunk (query
  arguments filename, filepath, fileverify, offset, overwrite; login
  required), written to `koji.pathinfo.work()/filepath/filename`: offset -1
  appends, `overwrite` truncates at the offset, offset 0 onto an existing
  file without `overwrite` is "upload path exists"; without `overwrite` the
  file must end where the chunk does. Answered `{size, fileverify, offset[,
  hexdigest]}` (adler32, md5 or sha256 of the chunk). Paths: no `/` or
  leading `.` in the name, no `..` or absolute folder; `tasks/N/TASK_ID`
  only for the host running that open task; any other folder belongs to
  the user who first uploaded into it (its `.user` file).
  `checkUpload(path, name, verify=None, tail=None, volume=None)` returns
  None for a missing file, else `{size, mtime[, sumlength, hexdigest]}`,
  the digest of the last `tail` bytes when given.
- Tasks, as kojihub's Task: `getTaskInfo(task_id, request=False,
  strict=False)` (an ID or a list of IDs), `getTaskChildren(task_id,
  request=False, strict=False)`, `getTaskResult(taskId, raise_fault=True)`
  (a failed task's fault is raised, or returned as a dict),
  `listTaskOutput(taskID, stat=False, all_volumes=False, strict=False)`,
  `getHost(hostInfo, strict=False, event=None)`.
- The plugin's exports, run with `context.session` set to the caller as the
  hub does per request; koji exceptions become faults with their faultCode
  and message, anything else a fault naming the exception (kojixmlrpc's
  _log_exception without KojiDebug).
"""

from __future__ import annotations

import hashlib
import os
import queue
import secrets
import socketserver
import stat
import threading
import urllib.parse
from xmlrpc.server import SimpleXMLRPCRequestHandler, SimpleXMLRPCServer
from xmlrpc.client import Fault

import koji
import koji.util
from koji import xmlrpcplus
from koji.context import context

GENERIC_ERROR = 1000
AUTH_ERROR = 1002
AUTH_EXPIRED = 1015
READY = 1


def _log_out_collected_sessions_aside():
    """koji's ClientSession.__del__ logs a session out: a call to the hub.
    In production the hub is another process; here it is threads of the
    test's own, and the cycle collector runs finalizers on whichever thread
    it interrupts. On the thread that accepts the hub's calls (or a
    request's, holding a hub lock), that logout waits for itself, and every
    client of the hub waits with it, for ever. So in this process a
    collected session that is still logged in is handed to a thread of its
    own, which logs it out as koji's finalizer does: the hub still sees the
    logout, and no thread waits on a call inside a collection.
    (A finalizer runs once per object (PEP 442): the handed-over session
    is freed, not finalized again, once logged out.)"""
    finalize = koji.ClientSession.__del__
    if getattr(finalize, "strata_aside", False):
        return
    pending: queue.SimpleQueue = queue.SimpleQueue()  # put() is safe in a finalizer

    def log_out():
        while True:
            session = pending.get()
            finalize(session)  # koji's own: logout, errors ignored
            del session

    def aside(self):
        if self.__dict__ and getattr(self, "logged_in", False):
            pending.put(self)

    aside.strata_aside = True
    threading.Thread(target=log_out, name="koji-session-logout", daemon=True).start()
    koji.ClientSession.__del__ = aside


_log_out_collected_sessions_aside()


def decode_args(args):
    if args and isinstance(args[-1], dict) and args[-1].get("__starstar"):
        opts = dict(args[-1])
        del opts["__starstar"]
        return list(args[:-1]), opts
    return list(args), {}


class Hub:
    def __init__(self, koji_hub=None, exports=None):
        self.koji_hub = koji_hub  # kojihub_module_standin.FakeHub, for plugin calls
        self.exports = exports or {}
        self.sessions: dict[int, tuple[str, str]] = {}  # id -> (key, user name)
        self._session_seq = 0
        self._session_lock = threading.Lock()
        # what one request sees (its session's headers or query, its
        # caller): per thread, as the server answers each request on one
        self._request = threading.local()
        self._event = 100
        self._tags: dict[str, dict] = {}
        # (tag, build, tagged at event, untagged at event or None); with a
        # kojihub_module_standin.FakeHub, its listing: tags, tagging and
        # events are one state, whether a plugin or an API call made them
        self.listing: list[list] = koji_hub.listing if koji_hub is not None else []
        self.repos: list[dict] = []
        self.calls: list[tuple[str, list, dict]] = []

    @property
    def _headers(self):
        return getattr(self._request, "headers", {})

    @_headers.setter
    def _headers(self, value):
        self._request.headers = value

    @property
    def _query(self):
        return getattr(self._request, "query", {})

    @_query.setter
    def _query(self, value):
        self._request.query = value

    @property
    def _caller(self) -> str | None:
        return getattr(self._request, "caller", None)

    @_caller.setter
    def _caller(self, value):
        self._request.caller = value

    @property
    def event(self):
        return self.koji_hub.event if self.koji_hub is not None else self._event

    @event.setter
    def event(self, value):
        if self.koji_hub is not None:
            self.koji_hub.event = value
        else:
            self._event = value

    @property
    def tags(self) -> dict[str, dict]:
        """name -> tag; the FakeHub's tags when there is one."""
        if self.koji_hub is not None:
            return {t["name"]: t for t in self.koji_hub.tags.values()}
        return self._tags

    # -- setup, as an admin would do with the real CLI
    def add_tag(self, name, arches="x86_64"):
        if self.koji_hub is not None:
            self.koji_hub.add_tag(name, arches=arches)
            return
        self._tags[name] = {"id": len(self._tags) + 1, "name": name, "arches": arches,
                            "locked": False, "perm": None, "perm_id": None,
                            "maven_support": False, "maven_include_all": False, "extra": {}}

    def tag_build(self, tag, name, version, release, epoch=None, rpms=None):
        """Tags the build NAME-VERSION-RELEASE into TAG; with a FakeHub the
        build (type rpm, with RPMS: (name, arch) pairs, default NAME.x86_64)
        is made there first unless it exists, and tagged as kojihub tags it."""
        if self.koji_hub is not None:
            fake = self.koji_hub
            nvr = {"name": name, "version": version, "release": release}
            build = fake.get_build(nvr)
            if build is None:
                bid = fake.new_build(dict(nvr, epoch=epoch, owner=None))
                fake.build_types[bid].add("rpm")
                for rpm_name, arch in rpms or [(name, "x86_64")]:
                    fake.add_rpm(bid, arch, name=rpm_name)
                build = fake.get_build(bid)
            # as an admin does first: koji add-pkg TAG NAME
            fake.pkglists.setdefault(tag, {}).setdefault(name, None)
            fake._direct_tag_build(fake.get_tag(tag, strict=True), build, None)
            return
        self.event += 1
        build = {"build_id": len(self.listing) + 1, "name": name, "package_name": name,
                 "version": version, "release": release, "epoch": epoch,
                 "nvr": f"{name}-{version}-{release}", "state": 1, "tag_name": tag,
                 "tag_id": self.tags[tag]["id"], "create_event": self.event}
        self.listing.append([tag, build, self.event, None])

    def untag_build(self, tag, nvr):
        self.event += 1
        for row in self.listing:
            if row[0] == tag and row[1]["nvr"] == nvr and row[3] is None:
                row[3] = self.event

    def new_repo(self, tag, state=READY, task_id=None) -> dict:
        """A repo of TAG as of now; READY at once, or INIT (repo_init's
        state) for a host's host.repoDone to make ready (kojid_standin)."""
        self.event += 1
        repo = {"id": 1000 + len(self.repos), "state": state, "create_event": self.event,
                "create_ts": 1764000000.0 + self.event, "creation_time": "2026-11-25 08:00:00",
                "dist": False, "task_id": task_id, "tag_name": tag,
                "tag_id": self.tags[tag]["id"]}
        self.repos.append(repo)
        return repo

    # -- the API
    def _tag(self, info, strict):
        tag = self.tags.get(info) if isinstance(info, str) else next(
            (t for t in self.tags.values() if t["id"] == info), None)
        if tag is None and strict:
            raise Fault(GENERIC_ERROR, f"No such tagInfo: {info!r}")
        return tag

    def getTag(self, tagInfo, strict=False, event=None, blocked=False):
        return self._tag(tagInfo, strict)

    def getRepo(self, tag, state=None, event=None, dist=False, min_event=None):
        t = self._tag(tag, True)
        ready = [r for r in self.repos if r["tag_id"] == t["id"] and r["state"] == (state or READY)
                 and (event is None or r["create_event"] <= event)]
        return max(ready, key=lambda r: r["create_event"]) if ready else None

    def _btypes(self, build_id):
        """The build types of a build; the builds tag_build made are rpm builds."""
        if self.koji_hub is not None and build_id in self.koji_hub.build_types:
            return self.koji_hub.build_types[build_id]
        return {"rpm"}

    def listTagged(self, tag, event=None, inherit=False, prefix=None, latest=False, package=None,
                   owner=None, type=None, strict=True, extra=False, draft=None):
        t = self._tag(tag, True)
        at = self.event if event is None else event
        rows = [r[1] for r in self.listing
                if r[0] == t["name"] and r[2] <= at and (r[3] is None or r[3] > at)
                and (package is None or r[1]["name"] == package)
                and (type is None or type in self._btypes(r[1]["build_id"]))
                # kojihub lists only builds of the packages in the tag's package list
                and (self.koji_hub is None or self.koji_hub.listed(t["name"], r[1]["name"]))]
        rows.sort(key=lambda b: b["create_event"], reverse=True)
        if latest:
            seen, out = set(), []
            for b in rows:
                if b["name"] not in seen:
                    seen.add(b["name"])
                    out.append(b)
            rows = out
        return rows

    def listTags(self, build=None, package=None, perms=True, queryOpts=None, pattern=None):
        """The tags BUILD (an NVR or ID) is tagged into now; only `build`."""
        if package is not None or pattern is not None or queryOpts:
            raise NotImplementedError("listTags takes only build here")
        names = {r[0] for r in self.listing
                 if r[3] is None and (r[1]["nvr"] == build or r[1]["build_id"] == build)}
        return [self._tag(n, True) for n in sorted(names)]

    def getLastEvent(self, before=None, strict=True):
        return {"id": self.event, "ts": 1764000000.0 + self.event}

    def getFullInheritance(self, tag, event=None, reverse=False):
        self._tag(tag, True)
        return []  # the stand-in's tags have no parents

    # -- builds and archives, as kojihub's getBuild, listArchives, search
    def getBuild(self, buildInfo, strict=False):
        return self.koji_hub.get_build(buildInfo, strict=strict)

    def listArchives(self, buildID=None, buildrootID=None, componentBuildrootID=None,
                     hostID=None, type=None, filename=None, size=None, checksum=None,
                     checksum_type=None, typeInfo=None, queryOpts=None, imageID=None,
                     archiveID=None, strict=False):
        return self.koji_hub.list_archives(buildID=buildID, type=type, filename=filename)

    def getBuildType(self, buildInfo, strict=False):
        return self.koji_hub.get_build_type(buildInfo, strict=strict)

    def getBuildroot(self, buildrootID, strict=False):
        """kojihub.get_buildroot for a content generator's buildroot."""
        br = self.koji_hub.buildroots.get(buildrootID)
        if br is None:
            if strict:
                raise koji.GenericError("No such buildroot: %r" % buildrootID)
            return None
        return {k: v for k, v in br.items() if k not in ("rpms", "tools")}

    def listRPMs(self, buildID=None, buildrootID=None, imageID=None, componentBuildrootID=None,
                 hostID=None, arches=None, queryOpts=None, draft=None):
        """The RPMs a buildroot lists as components (componentBuildrootID) only."""
        if componentBuildrootID is None:
            raise koji.GenericError("stand-in listRPMs: componentBuildrootID only")
        ids = self.koji_hub.buildroots[componentBuildrootID]["rpms"]
        return [dict(self.koji_hub.rpms[i]) for i in ids]

    def search(self, terms, type, matchType, queryOpts=None):
        """Builds only: [{id, name: NVR}] whose NVR matches TERMS (glob or exact)."""
        import fnmatch
        if type != "build":
            raise koji.GenericError("stand-in search: type %s" % type)
        match = (lambda n: fnmatch.fnmatchcase(n, terms)) if matchType == "glob" else (
            lambda n: n == terms)
        return [{"id": b["id"], "name": b["nvr"]} for b in self.koji_hub.builds.values()
                if match(b["nvr"])]

    # -- sessions (kojihub/auth.py)
    def _resolve_session(self):
        h = self._headers
        sid, key = h.get("Koji-Session-Id"), h.get("Koji-Session-Key")
        if sid is None:
            sid, key = self._query.get("session-id"), self._query.get("session-key")
        self._caller = None
        if sid is not None:
            entry = self.sessions.get(int(sid))
            if entry is None or entry[0] != key:
                raise Fault(AUTH_EXPIRED, "Invalid session or key: %s" % sid)
            self._caller = entry[1]
        if self.koji_hub is not None:
            is_host = any(hh["name"] == self._caller for hh in self.koji_hub.hosts.values())
            if is_host:
                self.koji_hub.as_host(self._caller)
            else:
                self.koji_hub.as_user(self._caller)

    def login(self, user, password, opts=None, renew=False, exclusive=False):
        u = next((x for x in self.koji_hub.users.values() if x["name"] == user), None)
        if u is None or u["password"] != password:
            raise Fault(AUTH_ERROR, "invalid username or password")
        # kojihub: nextval('sessions_id_seq'); a logged-out session's ID is
        # never given to the next login
        with self._session_lock:
            self._session_seq += 1
            sid = self._session_seq
        key = "%s-%s" % (sid, secrets.token_hex(8))
        self.sessions[sid] = (key, user)
        return {"session-id": sid, "session-key": key, "header-auth": True}

    def logout(self, session_id=None):
        sid = self._headers.get("Koji-Session-Id") if session_id is None else session_id
        if sid is not None:
            self.sessions.pop(int(sid), None)
        return None

    def getAPIVersion(self):
        return koji.API_VERSION

    def getLoggedInUser(self):
        if self._caller is None:
            return None
        u = next(x for x in self.koji_hub.users.values() if x["name"] == self._caller)
        return {"id": u["id"], "name": u["name"], "status": 0, "usertype": u["usertype"],
                "krb_principals": [], "authtype": 0}

    def hasPerm(self, perm, strict=False):
        return context.session.hasPerm(perm)

    # -- uploads (kojihub.handle_upload, get_upload_path, checkUpload)
    def _upload_path(self, reldir, name, create=False):
        folder, base = os.path.split(name)
        if folder or base.startswith("."):
            raise koji.GenericError("Invalid upload filename: %s" % name)
        norm = os.path.normpath(reldir)
        if not reldir or norm.startswith(".."):
            raise koji.GenericError("Invalid upload directory: %s" % reldir)
        parts = norm.split("/")
        check_user = True
        if create and parts[0] == "tasks":
            if len(parts) < 3 or not parts[2].isdigit():
                raise koji.GenericError("Invalid task upload directory: %s" % reldir)
            # only the host running this task may write here
            import kojihub_module_standin as khs
            khs.Task(int(parts[2])).assertHost(self._host_id())
            check_user = False
        udir = koji.util.joinpath(koji.pathinfo.work(), norm)
        if create:
            koji.ensuredir(udir)
            if check_user:
                owner = os.path.join(udir, ".user")
                if os.path.exists(owner):
                    with open(owner) as f:
                        if int(f.read()) != context.session.user_id:
                            raise koji.GenericError(
                                "Invalid upload directory, not owner: %s" % reldir)
                else:
                    with open(owner, "w") as f:
                        f.write(str(context.session.user_id))
        return os.path.join(udir, base)

    def _host_id(self):
        """The host of this session (kojihub's Host().id)."""
        if context.session.host_id is None:
            raise koji.ActionNotAllowed("host login required")
        return context.session.host_id

    def _raw_upload(self, query, body: bytes):
        self._resolve_session()
        self.calls.append(("rawUpload", [query.get("filepath"), query.get("filename")], {}))
        if self._caller is None:
            raise koji.ActionNotAllowed("you must be logged-in to upload a file")
        verify = query.get("fileverify", "")
        overwrite = query.get("overwrite", "")
        offset = int(query.get("offset", "0"))
        fn = self._upload_path(query.get("filepath", ""), query["filename"], create=True)
        try:
            st = os.lstat(fn)
        except FileNotFoundError:
            st = None
        if st:
            if stat.S_ISLNK(st.st_mode):
                raise koji.GenericError("destination is a symlink: %s" % fn)
            if not stat.S_ISREG(st.st_mode):
                raise koji.GenericError("destination not a file: %s" % fn)
            if offset == 0 and not overwrite:
                raise koji.GenericError("upload path exists: %s" % fn)
        with open(os.open(fn, os.O_RDWR | os.O_CREAT, 0o666), "r+b") as f:
            if offset == -1:
                offset = f.seek(0, os.SEEK_END)
            elif overwrite:
                f.truncate(offset)
                f.seek(offset)
            else:
                # a retried chunk may land on what is there already
                f.seek(offset)
            f.write(body)
            if not overwrite:
                end = f.seek(0, os.SEEK_END)
                if end != offset + len(body):
                    raise koji.GenericError("Incorrect upload length for %s - Expected %s, "
                                            "actual %s" % (fn, offset + len(body), end))
        ret = {"size": len(body), "fileverify": verify, "offset": offset}
        if verify:
            ret["hexdigest"] = _verify_class(verify)(body).hexdigest()
        return ret

    def checkUpload(self, path, name, verify=None, tail=None, volume=None):
        fn = self._upload_path(path, name)
        try:
            f = open(fn, "rb")
        except FileNotFoundError:
            return None
        with f:
            st = os.fstat(f.fileno())
            if not stat.S_ISREG(st.st_mode):
                raise koji.GenericError("Not a regular file: %s" % fn)
            data = {"size": st.st_size, "mtime": st.st_mtime}
            if verify:
                chksum = _verify_class(verify)()
                if tail is not None:
                    if tail < 0:
                        raise koji.GenericError("Invalid tail value: %r" % tail)
                    f.seek(max(st.st_size - tail, 0))
                length = 0
                for chunk in iter(lambda: f.read(65536), b""):
                    length += len(chunk)
                    chksum.update(chunk)
                data["sumlength"] = length
                data["hexdigest"] = chksum.hexdigest()
        return data

    # -- tasks, for watch_tasks
    def getTaskInfo(self, task_id, request=False, strict=False):
        import kojihub_module_standin as khs
        if isinstance(task_id, (list, tuple)):
            return [khs.Task(t).getInfo(strict, request) for t in task_id]
        return khs.Task(task_id).getInfo(strict, request)

    def listTasks(self, opts=None, queryOpts=None):
        """kojihub's RootExports.listTasks (the opts the module stand-in
        knows: method, state, parent, decode)."""
        import kojihub_module_standin as khs
        return khs.RootExports().listTasks(opts, queryOpts)

    def getTaskChildren(self, task_id, request=False, strict=False):
        import kojihub_module_standin as khs
        task = khs.Task(task_id)
        if strict:
            task.getInfo(strict=True)
        return task.getChildren(request=request)

    def getTaskResult(self, taskId, raise_fault=True):
        import kojihub_module_standin as khs
        return khs.Task(taskId).getResult(raise_fault=raise_fault)

    def listTaskOutput(self, taskID, stat=False, all_volumes=False, strict=False):
        return {}

    def getHost(self, hostInfo, strict=False, event=None):
        h = next((x for x in self.koji_hub.hosts.values() if hostInfo in (x["id"], x["name"])), None)
        if h is None and strict:
            raise Fault(GENERIC_ERROR, "No such host: %s" % hostInfo)
        return {k: v for k, v in h.items() if k != "channels"} if h else None

    # -- dispatch, as kojixmlrpc's
    SETUP_ONLY = ("add_tag", "tag_build", "untag_build", "new_repo")

    def _function(self, method):
        """What serves METHOD: a plugin export or an API method of this hub."""
        if method in self.exports:
            return self.exports[method]
        fn = getattr(self, method, None)
        if fn is None or not callable(fn) or method.startswith("_") or method in self.SETUP_ONLY:
            raise koji.GenericError(f"Invalid method: {method}")
        return fn

    def _dispatch(self, method, params):
        args, opts = decode_args(params)
        self.calls.append((method, args, opts))
        return _as_fault(lambda: self._call(method, args, opts))

    def _call(self, method, args, opts):
        if self.koji_hub is not None:
            self._resolve_session()
        return self._function(method)(*args, **opts)


def _as_fault(call):
    """CALL's result; a koji exception becomes a fault with its code and
    message, anything else a fault naming the exception (kojixmlrpc's
    _log_exception without KojiDebug)."""
    try:
        return call()
    except Fault:
        raise
    except koji.GenericError as e:
        raise Fault(e.faultCode, str(e))
    except Exception as e:  # kojixmlrpc: "%s: %s" % (e_class, e)
        raise Fault(1, "%s: %s" % (type(e), e))


def _verify_class(verify):
    """kojihub.get_verify_class: the checksum a `fileverify` names."""
    if verify == "md5":
        return hashlib.md5
    if verify == "adler32":
        return koji.util.adler32_constructor
    if verify == "sha256":
        return hashlib.sha256
    raise koji.GenericError("Unsupported verify type: %s" % verify)


class _Handler(SimpleXMLRPCRequestHandler):
    rpc_paths = ()  # any path, like /kojihub

    def log_message(self, *a):
        pass

    def do_POST(self):
        hub = self.server.instance
        parsed = urllib.parse.urlsplit(self.path)
        query = dict(urllib.parse.parse_qsl(parsed.query))
        # the session of this request, in its headers (or, from old clients,
        # its query)
        hub._headers = self.headers  # case-insensitive .get
        hub._query = query
        if self.headers.get("Content-Type") == "application/octet-stream":
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            try:
                resp = xmlrpcplus.dumps((_as_fault(lambda: hub._raw_upload(query, body)),),
                                        methodresponse=1, allow_none=1)
            except Fault as f:
                resp = xmlrpcplus.dumps(f, methodresponse=1, allow_none=1)
            data = resp.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/xml")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            return
        super().do_POST()


class _Server(socketserver.ThreadingMixIn, SimpleXMLRPCServer):
    """Marshals responses with koji.xmlrpcplus, as kojixmlrpc does: integers
    beyond 32 bits (modulemd versions) go out as <i8>. Each request on a
    thread of its own, as the hub's several processes take requests at
    once (a plugin call that calls the hub back, as the core reading a
    Koji tag does from moduleImpact, is answered)."""

    daemon_threads = True

    def _marshaled_dispatch(self, data, dispatch_method=None, path=None):
        from xmlrpc.client import loads
        try:
            params, method = loads(data, use_builtin_types=self.use_builtin_types)
            response = (self._dispatch(method, params),)
            response = xmlrpcplus.dumps(response, methodresponse=1, allow_none=1)
        except Fault as fault:
            response = xmlrpcplus.dumps(fault, methodresponse=1, allow_none=1)
        except BaseException as exc:
            response = xmlrpcplus.dumps(Fault(1, "%s:%s" % (type(exc), exc)), methodresponse=1,
                                        allow_none=1)
        return response.encode("utf-8", "xmlcharrefreplace")


class HubServer:
    """Serves a Hub on 127.0.0.1:<free port>."""

    def __init__(self, hub: Hub):
        self.hub = hub
        self.server = _Server(("127.0.0.1", 0), requestHandler=_Handler, allow_none=True,
                                         logRequests=False)
        self.server.register_instance(hub)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/kojihub"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()
