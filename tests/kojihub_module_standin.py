"""A stand-in for the `kojihub` Python module and the hub's `koji.context`
session, so hub plugins load and run as inside kojihub (which cannot be
installed here). It mirrors, as read in koji's sources (kojihub/kojihub.py,
kojihub/auth.py, kojihub/kojixmlrpc.py), the names, signatures, return
shapes and fault messages of:

- `convert_value(value, cast=None, message=None, exc_type=koji.ParameterError,
  none_allowed=False, check_only=False)`
- `make_task(method, arglist, **opts)` (channel, priority, owner, arch,
  parent, label): the request is XML-RPC encoded as the hub stores it; an
  unknown channel is "No such channel: X"; a subtask's parent must be OPEN
  ("Parent task (id N) is not open") and gives it its owner, arch, channel
  (the default channel policy: the requested channel, else the parent's,
  else default) and its priority less one; returns the task ID. New tasks
  are FREE.
- `get_build(buildInfo, strict=False)` (ID, NVR string or name/version/
  release map; "No such build: ..." when strict), `new_build(data,
  strict=False)` ("Existing build found: NVR (id=N)" when strict; owner
  defaults to the session user; extra kept as data), `new_typed_build(
  build_info, btype)` (the btype must exist: lookup_name strict),
  `get_build_type(buildInfo, strict=False)`
- `lookup_name(table, info, strict=False, create=False)` for `btype`
  ("No such entry in table btype: X"), `get_tag(tagInfo, strict=False,
  event=None, blocked=False)` ("No such tagInfo: X")
- `Task(id)`: `verifyHost(host_id=None)`, `assertHost(host_id)` ("host H
  does not own task T"), `getOwner()`, `getInfo(strict=True, request=False)`,
  `getChildren(request=False)`, `getRequest()`, `getResult(raise_fault=True)`
  ("Task N is canceled", "Task N is not finished"; a failed task's fault is
  raised, or with raise_fault=False returned as {faultCode, faultString})
- the session (`context.session`, kojihub.auth.Session): `logged_in`,
  `user_id`, `host_id`, `user_data`, `hasPerm(name)`, `assertPerm(name)`
  ("NAME permission required (logged in as USER)"), `assertLogin()`
- `load_plugin(name, path)`: koji.plugin.PluginTracker plus
  HandlerRegistry.register_plugin (exports by name or export_alias,
  callbacks registered with koji.plugin.register_callback), as
  kojixmlrpc.load_plugins/get_registry do.

State lives in a `FakeHub`; `install(hub)` puts the module into
sys.modules['kojihub'] and `hub.as_user(name)` / `hub.as_host(name)` set
`context.session` for the calling thread, as the hub does per request.
"""

from __future__ import annotations

import sys
import types

import koji
import koji.plugin
import koji.xmlrpcplus
from koji.context import context

TASK = koji.TASK_STATES


class Session:
    """kojihub.auth.Session, the parts plugins use."""

    def __init__(self, user=None, host_id=None):
        self.logged_in = user is not None
        self.user_id = user["id"] if user else None
        self.user_data = user or {}
        self.perms = set(user["perms"]) if user else set()
        self.host_id = host_id

    def hasPerm(self, name):
        if not self.logged_in:
            return False
        return name in self.perms

    def assertPerm(self, name):
        if not self.hasPerm(name) and not self.hasPerm("admin"):
            msg = "%s permission required" % name
            if self.logged_in:
                msg += " (logged in as %s)" % self.user_data["name"]
            else:
                msg += " (user not logged in)"
            raise koji.ActionNotAllowed(msg)

    def assertLogin(self):
        if not self.logged_in:
            raise koji.ActionNotAllowed("you must be logged in for this operation")


class FakeHub:
    def __init__(self, workdir=None):
        self.users: dict[int, dict] = {}
        self.hosts: dict[int, dict] = {}
        self.channels = {1: {"id": 1, "name": "default", "enabled": True}}
        self.tasks: dict[int, dict] = {}
        self.builds: dict[int, dict] = {}
        self.build_types: dict[int, set] = {}
        self.btypes = {1: "rpm", 2: "maven", 3: "win", 4: "image"}
        self.tags: dict[int, dict] = {}
        self.event = 1000
        if workdir is not None:
            koji.pathinfo.topdir = str(workdir)

    # -- setup, as an admin would with the real CLI
    def add_user(self, name, perms=(), password="pw"):
        uid = len(self.users) + len(self.hosts) + 1
        self.users[uid] = {"id": uid, "name": name, "perms": list(perms), "password": password,
                           "status": 0, "usertype": 0}
        return self.users[uid]

    def add_host(self, name, channels=("default",), arches="x86_64", password="pw"):
        user = self.add_user(name, password=password)
        user["usertype"] = 1
        hid = len(self.hosts) + 1
        self.hosts[hid] = {"id": hid, "name": name, "user_id": user["id"], "arches": arches,
                           "enabled": True, "ready": True, "channels": list(channels)}
        return self.hosts[hid]

    def add_channel(self, name, enabled=True):
        cid = len(self.channels) + 1
        self.channels[cid] = {"id": cid, "name": name, "enabled": enabled}
        return self.channels[cid]

    def add_btype(self, name):  # koji add-btype
        self.btypes[len(self.btypes) + 1] = name

    def add_tag(self, name, arches="x86_64"):
        tid = len(self.tags) + 1
        self.tags[tid] = {"id": tid, "name": name, "arches": arches, "locked": False,
                          "perm": None, "perm_id": None, "maven_support": False,
                          "maven_include_all": False, "extra": {}}
        return self.tags[tid]

    def user(self, name):
        return next(u for u in self.users.values() if u["name"] == name)

    def host(self, name):
        return next(h for h in self.hosts.values() if h["name"] == name)

    def as_user(self, name):
        context.session = Session(self.user(name) if name else None)
        return context.session

    def as_host(self, name):
        h = self.host(name)
        context.session = Session(self.users[h["user_id"]], host_id=h["id"])
        return context.session

    # -- the task life cycle, as kojid + the scheduler drive it
    def open_task(self, task_id, host):
        t = self.tasks[task_id]
        t.update(state=TASK["OPEN"], host_id=self.host(host)["id"], start_ts=1764000100.0)

    def close_task(self, task_id, result):
        t = self.tasks[task_id]
        t.update(state=TASK["CLOSED"], result=koji.xmlrpcplus.dumps((result,), methodresponse=1,
                                                                    allow_none=1),
                 completion_ts=1764000200.0)

    def fail_task(self, task_id, fault: koji.GenericError):
        t = self.tasks[task_id]
        f = koji.xmlrpcplus.Fault(fault.faultCode, str(fault))
        t.update(state=TASK["FAILED"], result=koji.xmlrpcplus.dumps(f, methodresponse=1,
                                                                    allow_none=1),
                 completion_ts=1764000200.0)

    # -- the kojihub module's functions
    def convert_value(self, value, cast=None, message=None, exc_type=koji.ParameterError,
                      none_allowed=False, check_only=False):
        if value is None:
            if not none_allowed:
                raise exc_type(message or f"Invalid type, expected type {cast}")
            return value
        if check_only:
            if not isinstance(value, cast):
                raise exc_type(message or f"Invalid type for value '{value}': {type(value)}, "
                               f"expected type {cast}")
        else:
            try:
                value = cast(value)
            except (ValueError, TypeError):
                raise exc_type(message or f"Invalid type for value '{value}': {type(value)}, "
                               f"expected type {cast}")
        return value

    def make_task(self, method, arglist, **opts):
        self.convert_value(method, cast=str, check_only=True)
        if "priority" in opts:
            opts["priority"] = self.convert_value(opts["priority"], cast=int)
        parent = None
        if opts.get("parent") is not None:
            parent = self.tasks.get(self.convert_value(opts["parent"], cast=int))
            if parent is None:
                raise koji.GenericError("Invalid parent task: %(parent)s" % opts)
            if parent["state"] != TASK["OPEN"]:
                raise koji.GenericError("Parent task (id %(parent)s) is not open" % opts)
            opts.setdefault("priority", parent["priority"] - 1)
            for f in ("owner", "arch"):
                opts.setdefault(f, parent[f])
        opts.setdefault("priority", koji.PRIO_DEFAULT)
        opts.setdefault("arch", "noarch")
        if "owner" not in opts:
            if not context.session.logged_in:
                raise koji.GenericError("task must have an owner")
            opts["owner"] = context.session.user_id
        if "channel" in opts or parent is None:
            channel = opts.get("channel", "default")
            chan = next((c for c in self.channels.values() if c["name"] == channel), None)
            if chan is None:
                raise koji.GenericError("No such channel: %s" % channel)
            if not chan["enabled"]:
                raise koji.GenericError("Channel %s is disabled." % channel)
        else:
            chan = self.channels[parent["channel_id"]]
        # the hub stores the request XML-RPC encoded: it must be encodable
        request = koji.xmlrpcplus.dumps(tuple(arglist), methodname=method, allow_none=1)
        tid = len(self.tasks) + 1
        self.tasks[tid] = {"id": tid, "state": TASK["FREE"], "method": method,
                           "arch": opts["arch"], "priority": opts["priority"],
                           "owner": opts["owner"], "channel_id": chan["id"], "host_id": None,
                           "parent": parent and parent["id"],
                           "label": opts.get("label") if parent else None,
                           "waiting": None, "awaited": None,
                           "weight": 1.0, "create_ts": 1764000000.0 + tid, "start_ts": None,
                           "completion_ts": None, "create_time": "2026-11-25 08:00:00",
                           "start_time": None, "completion_time": None,
                           "request": request, "result": None}
        return tid

    def get_tag(self, tagInfo, strict=False, event=None, blocked=False):
        tag = next((t for t in self.tags.values()
                    if tagInfo in (t["id"], t["name"])), None)
        if tag is None and strict:
            raise koji.GenericError("No such tagInfo: %r" % (tagInfo,))
        return dict(tag) if tag else None

    def lookup_name(self, table, info, strict=False, create=False):
        if table != "btype":
            raise NotImplementedError(f"stand-in lookup_name: table {table}")
        for bid, name in self.btypes.items():
            if info in (bid, name):
                return {"id": bid, "name": name}
        if strict:
            raise koji.GenericError("No such entry in table %s: %s" % (table, info))
        if create:
            self.add_btype(info)
            return self.lookup_name(table, info)
        return None

    def _find_build(self, info):
        if isinstance(info, int):
            return self.builds.get(info)
        if isinstance(info, str):
            return next((b for b in self.builds.values() if b["nvr"] == info), None)
        if isinstance(info, dict):
            return next((b for b in self.builds.values()
                         if (b["name"], b["version"], b["release"])
                         == (info.get("name"), info.get("version"), info.get("release"))), None)
        raise koji.GenericError("Invalid type for buildInfo: %s" % type(info))

    def get_build(self, buildInfo, strict=False):
        b = self._find_build(buildInfo)
        if b is None:
            if strict:
                raise koji.GenericError("No such build: %s" % (buildInfo,))
            return None
        return dict(b)

    def new_build(self, data, strict=False):
        data = dict(data)
        if not data.get("name"):
            raise koji.GenericError("No name or package id provided for build")
        for f in ("version", "release", "epoch"):
            if f not in data:
                raise koji.GenericError("No %s value for build" % f)
        old = self._find_build(data)
        if old:
            if strict:
                raise koji.GenericError("Existing build found: %(nvr)s (id=%(id)s)" % old)
            raise koji.GenericError("Build already exists (id=%d)" % old["id"])
        import json
        json.dumps(data.get("extra"))  # the hub stores extra as JSON
        bid = len(self.builds) + 1
        owner = data.get("owner") or context.session.user_id
        self.event += 1
        self.builds[bid] = {
            "id": bid, "build_id": bid, "name": data["name"], "package_name": data["name"],
            "version": data["version"], "release": data["release"], "epoch": data["epoch"],
            "nvr": "%(name)s-%(version)s-%(release)s" % data, "draft": False,
            "state": data.get("state", koji.BUILD_STATES["COMPLETE"]),
            "task_id": data.get("task_id"), "owner_id": owner,
            "owner_name": self.users[owner]["name"] if owner in self.users else None,
            "source": data.get("source"), "extra": data.get("extra"), "volume_id": 0,
            "volume_name": "DEFAULT", "creation_event_id": self.event}
        self.build_types[bid] = set()
        return bid

    def new_typed_build(self, build_info, btype):
        self.lookup_name("btype", btype, strict=True)
        self.build_types[build_info["id"]].add(btype)

    def get_build_type(self, buildInfo, strict=False):
        b = self.get_build(buildInfo, strict=strict)
        if not b:
            return None
        extra = b["extra"] or {}
        return {t: extra.get("typeinfo", {}).get(t) for t in self.build_types[b["id"]]}

_CURRENT: FakeHub | None = None


def _hub() -> FakeHub:
    if _CURRENT is None:
        raise RuntimeError("kojihub stand-in: install(FakeHub(...)) first")
    return _CURRENT


class Task:
    """kojihub.Task"""

    def __init__(self, id):
        self.id = _hub().convert_value(id, cast=int)

    def verifyHost(self, host_id=None):
        if host_id is None:
            host_id = context.session.host_id
        if host_id is None:
            return False
        t = _hub().tasks.get(self.id)
        if not t:
            raise koji.GenericError("No such task: %i" % self.id)
        return t["state"] == TASK["OPEN"] and t["host_id"] == host_id

    def assertHost(self, host_id):
        if not self.verifyHost(host_id):
            raise koji.ActionNotAllowed("host %d does not own task %d" % (host_id, self.id))

    def getOwner(self):
        t = _hub().tasks.get(self.id)
        return t["owner"] if t else None

    def getRequest(self):
        return koji.xmlrpcplus.loads(_hub().tasks[self.id]["request"])[0]

    def getInfo(self, strict=True, request=False):
        t = _hub().tasks.get(self.id)
        if t is None:
            if strict:
                raise koji.GenericError("No such task: %i" % self.id)
            return None
        info = {k: v for k, v in t.items() if k not in ("request", "result")}
        if request:
            info["request"] = self.getRequest()
        return info

    def getChildren(self, request=False):
        return [Task(t["id"]).getInfo(request=request) for t in _hub().tasks.values()
                if t["parent"] == self.id]

    def getResult(self, raise_fault=True):
        t = _hub().tasks.get(self.id)
        if t is None:
            raise koji.GenericError("No such task")
        if t["state"] == TASK["CANCELED"]:
            raise koji.GenericError("Task %i is canceled" % self.id)
        if t["state"] not in (TASK["CLOSED"], TASK["FAILED"]):
            raise koji.GenericError("Task %i is not finished" % self.id)
        try:
            return koji.xmlrpcplus.loads(t["result"])[0][0]
        except koji.xmlrpcplus.Fault as fault:
            if raise_fault:
                raise
            return {"faultCode": fault.faultCode, "faultString": fault.faultString}


def _forward(name):
    def fn(*args, **kwargs):
        return getattr(_hub(), name)(*args, **kwargs)
    fn.__name__ = name
    return fn


MODULE = types.ModuleType("kojihub", "stand-in for kojihub (tests/kojihub_module_standin.py)")
for _name in ("convert_value", "make_task", "get_tag", "lookup_name", "get_build", "new_build",
              "new_typed_build", "get_build_type"):
    setattr(MODULE, _name, _forward(_name))
MODULE.Task = Task


def install(hub: FakeHub):
    """sys.modules['kojihub'] = the stand-in, working on `hub` from now on;
    a fresh koji.context session (not logged in)."""
    global _CURRENT
    _CURRENT = hub
    sys.modules["kojihub"] = MODULE
    context.opts = {}
    context.session = Session(None)


_PLUGINS: dict = {}


def load_plugin(name, path):
    """Loads a hub plugin as kojixmlrpc does (PluginTracker, then
    HandlerRegistry.register_plugin: exports by name or export_alias,
    callbacks registered); returns (module, {exported name: function}).
    Once per process, like the hub at startup (PluginTracker refuses a
    second module of the same name)."""
    if name in _PLUGINS:
        return _PLUGINS[name]
    tracker = koji.plugin.PluginTracker(path=str(path).split(":"))
    plugin = tracker.load(name)
    exports = {}
    for v in vars(plugin).values():
        if isinstance(v, type):
            continue
        if callable(v):
            if getattr(v, "exported", False):
                exports[getattr(v, "export_alias", v.__name__)] = v
            for cbtype in getattr(v, "callbacks", None) or ():
                koji.plugin.register_callback(cbtype, v)
    _PLUGINS[name] = (plugin, exports)
    return _PLUGINS[name]
