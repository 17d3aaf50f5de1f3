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
- `get_rpm(rpminfo, strict=False, multi=False)` (ID, N-V-R.A string or a
  name/version/release/arch map; "No such rpm: ..." when strict; the
  internal RPM preferred over external ones), `get_user(userInfo=None,
  strict=False)` ("No such user: ...")
- `_create_tag(name, parent=None, arches=None, ...)` ("A tag with the name
  'X' already exists"), `readTaggedBuilds(tag, event=None, ...)` (the
  builds tagged now, newest first, with build_id and tag_name),
  `_direct_tag_build(tag, build, user, force=False)` (preTag/postTag
  callbacks; "build N not complete: state S", "build N already tagged (T)"),
  shared with the XML-RPC stand-in's listTagged
- package lists: `readPackageList(tagID=None, userID=None, pkgID=None,
  event=None, inherit=False, with_dups=False, with_owners=True, ...)`
  ({package_id: {package_id, package_name, tag_id, tag_name, owner_id,
  blocked, extra_arches}}) and `_direct_pkglist_add(taginfo, pkginfo,
  owner, block, extra_arches, force, update, policy=False)`; as kojihub's
  readTaggedBuilds, listing a tag leaves out builds whose package is not
  in the tag's package list (tagging does not check it)
- `import_archive(filepath, buildinfo, type, typeInfo, buildroot_id=None)`:
  the btype's "new style" branch: "No such file: P", the archive type from
  the file extension ("unsupported file extension: F"; Koji's default
  types, `txt` among them), "Build does not have type T", the file moved to
  `koji.pathinfo.typedir(build, type)` and a symlink left behind ("Error
  importing archive file, P already exists"); returns the archive
  (`list_archives(buildID=None, type=None, filename=None, ...)` as
  get_archive/list_archives show them: id, build_id, filename, size,
  checksum, checksum_type, type_name, btype, btype_id, metadata_only)
- `cg_import(metadata, directory, token=None)` (CGImport) as CG_Importer
  checks and imports, without reservations: metadata_version 0 ("No such
  metadata version"), one content generator the caller has access to
  (`assert_cg`: "Content generator access required (CG)"; grant it with
  `FakeHub.grant_cg_access`), an NVR not built yet ("Build already
  exists"), no `-` in version or release, the owner a user name, every
  typeinfo a known btype, every buildroot used by an output and listed
  once, rpm components matched by NVRA (the unmatched ignored; `sigmd5`
  required), each output's size and checksum against the uploaded file
  under `work/DIRECTORY` ("... doesn't match. Corrupted upload?", "File
  checksum mismatch"), its typeinfo (legacy `extra.image` or
  `extra.typeinfo.image`, listed in the build's types), the build
  directory not there yet; image archives go to
  `koji.pathinfo.imagebuild(build)` with their arch, logs to data/logs,
  the raw metadata to the build's metadata.json; a missing key is a
  KeyError, as there. `get_archive_type(filename, strict=False)` by the
  longest known extension (tar, iso, txt, json, yaml, log).
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

import hashlib
import itertools
import os
import sys
import threading
import types

import koji
import koji.plugin
import koji.xmlrpcplus
from koji.context import context

from kojihub_standin import _verify_class

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
        # the order of the task rows' last writes (listTasks lists them so)
        self.task_writes: dict[int, int] = {}
        self._task_write = itertools.count(1)
        self.builds: dict[int, dict] = {}
        self.build_types: dict[int, set] = {}
        self.btypes = {1: "rpm", 2: "maven", 3: "win", 4: "image"}
        self.tags: dict[int, dict] = {}
        self.rpms: dict[int, dict] = {}
        self.archives: dict[int, dict] = {}
        # Koji's default archive types (schemas/schema.sql), those tests meet:
        # name -> (id, extensions)
        self.archivetypes = {"tar": (4, "tar tar.gz tar.bz2 tar.xz tgz"), "iso": (22, "iso"),
                             "txt": (49, "txt"), "json": (55, "json"), "yaml": (60, "yaml yml"),
                             "log": (61, "log")}
        # content generators (content_generator, cg_users) and CG buildroots
        self.cgs: dict[int, str] = {}
        self.cg_users: set[tuple[int, int]] = set()
        self.buildroots: dict[int, dict] = {}
        self.image_builds: set[int] = set()
        # (tag name, build as listTagged shows it, tagged at event, untagged at event or
        # None), shared with the XML-RPC stand-in (kojihub_standin.Hub.listing)
        self.listing: list[list] = []
        # tag name -> {package name: owner ID}
        self.pkglists: dict[str, dict[str, int]] = {}
        self.event = 1000
        # the hub's ID sequences (PostgreSQL's task_id_seq, build_id_seq, ...):
        # an ID is never handed out twice, even to two requests at once
        self._sequences: dict[str, itertools.count] = {}
        self._sequence_lock = threading.Lock()
        if workdir is not None:
            koji.pathinfo.topdir = str(workdir)

    def nextval(self, sequence: str) -> int:
        """The next value of SEQUENCE, from 1 (nextval('<sequence>_id_seq'))."""
        with self._sequence_lock:
            return next(self._sequences.setdefault(sequence, itertools.count(1)))

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

    def grant_cg_access(self, user, cg):
        """koji grant-cg-access USER CG --new"""
        cg_id = next((i for i, n in self.cgs.items() if n == cg), None)
        if cg_id is None:
            cg_id = len(self.cgs) + 1
            self.cgs[cg_id] = cg
        self.cg_users.add((self.get_user(user, strict=True)["id"], cg_id))

    def add_tag(self, name, arches="x86_64"):
        tid = len(self.tags) + 1
        self.tags[tid] = {"id": tid, "name": name, "arches": arches, "locked": False,
                          "perm": None, "perm_id": None, "maven_support": False,
                          "maven_include_all": False, "extra": {}}
        return self.tags[tid]

    def add_rpm(self, build_id, arch, name=None, external_repo_id=0):
        """An RPM (NAME, default the build's) of a build, as `koji import`
        or a build task adds them."""
        b = self.builds[build_id]
        rid = self.nextval("rpms")
        self.rpms[rid] = {"id": rid, "build_id": build_id, "name": name or b["name"],
                          "version": b["version"], "release": b["release"], "epoch": b["epoch"],
                          "arch": arch, "draft": False, "external_repo_id": external_repo_id,
                          "external_repo_name": "INTERNAL" if not external_repo_id else "ext",
                          "metadata_only": False, "extra": None}
        return self.rpms[rid]

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
    def touch_task(self, task_id):
        """Task TASK_ID's row was written (made, opened, closed, its wait
        flags set): listTasks lists it after every row written before."""
        self.task_writes[task_id] = next(self._task_write)

    def open_task(self, task_id, host):
        self.touch_task(task_id)
        t = self.tasks[task_id]
        t.update(state=TASK["OPEN"], host_id=self.host(host)["id"], start_ts=1764000100.0)

    def close_task(self, task_id, result):
        self.touch_task(task_id)
        t = self.tasks[task_id]
        t.update(state=TASK["CLOSED"], result=koji.xmlrpcplus.dumps((result,), methodresponse=1,
                                                                    allow_none=1),
                 completion_ts=1764000200.0)

    def fail_task(self, task_id, fault: koji.GenericError):
        self.touch_task(task_id)
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
        tid = self.nextval("task")
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
        self.touch_task(tid)
        return tid

    def get_tag(self, tagInfo, strict=False, event=None, blocked=False):
        tag = next((t for t in self.tags.values()
                    if tagInfo in (t["id"], t["name"])), None)
        if tag is None and strict:
            raise koji.GenericError("No such tagInfo: %r" % (tagInfo,))
        return dict(tag) if tag else None

    def get_user(self, userInfo=None, strict=False):
        if userInfo is None:
            userInfo = context.session.user_id
        u = next((x for x in self.users.values() if userInfo in (x["id"], x["name"])), None)
        if u is None and strict:
            raise koji.GenericError("No such user: %r" % (userInfo,))
        return {k: v for k, v in u.items() if k not in ("password", "perms")} if u else None

    def get_rpm(self, rpminfo, strict=False, multi=False):
        if isinstance(rpminfo, int):
            found = [r for r in self.rpms.values() if r["id"] == rpminfo]
        else:
            data = koji.parse_NVRA(rpminfo) if isinstance(rpminfo, str) else dict(rpminfo)
            found = [r for r in self.rpms.values()
                     if all(r[k] == data[k] for k in ("name", "version", "release", "arch"))]
        if multi:
            return [dict(r) for r in found]
        if not found:
            if strict:
                raise koji.GenericError("No such rpm: %r" % (rpminfo,))
            return None
        internal = [r for r in found if not r["external_repo_id"]]
        return dict(internal[0] if internal else max(found, key=lambda r: r["id"]))

    def _create_tag(self, name, parent=None, arches=None, perm=None, locked=False,
                    maven_support=False, maven_include_all=False, extra=None):
        arches = koji.parse_arches(arches, strict=True, allow_none=True)
        if self.get_tag(name):
            raise koji.GenericError("A tag with the name '%s' already exists" % name)
        if parent:
            raise NotImplementedError("stand-in _create_tag: parent")
        return self.add_tag(name, arches=arches)["id"]

    def listed(self, tag_name, package):
        """Whether PACKAGE is in the tag's package list (kojihub's listings
        show only those builds)."""
        return package in self.pkglists.get(tag_name, {})

    def readPackageList(self, tagID=None, userID=None, pkgID=None, event=None, inherit=False,
                        with_dups=False, with_owners=True, with_blocked=True):
        t = self.get_tag(tagID, strict=True)
        return {name: {"package_id": name, "package_name": name, "tag_id": t["id"],
                       "tag_name": t["name"], "owner_id": owner, "blocked": False,
                       "extra_arches": None}
                for name, owner in self.pkglists.get(t["name"], {}).items()
                if pkgID is None or pkgID == name}

    def _direct_pkglist_add(self, taginfo, pkginfo, owner, block, extra_arches, force, update,
                            policy=False):
        t = self.get_tag(taginfo, strict=True)
        if owner is not None:
            owner = self.get_user(owner, strict=True)["id"]
        lst = self.pkglists.setdefault(t["name"], {})
        if pkginfo not in lst:
            if owner is None:
                raise koji.GenericError("owner not specified")
            lst[pkginfo] = owner

    def readTaggedBuilds(self, tag, event=None, inherit=False, latest=False, package=None,
                         owner=None, type=None, extra=False, draft=None):
        t = self.get_tag(tag, strict=True)
        at = self.event if event is None else event
        rows = [dict(r[1]) for r in self.listing
                if r[0] == t["name"] and r[2] <= at and (r[3] is None or r[3] > at)
                and self.listed(t["name"], r[1]["name"])]
        return sorted(rows, key=lambda b: b["create_event"], reverse=True)

    def _direct_tag_build(self, tag, build, user, force=False):
        koji.plugin.run_callbacks("preTag", tag=tag, build=build, user=user, force=force)
        nvr = "%(name)s-%(version)s-%(release)s" % build
        if build["state"] != koji.BUILD_STATES["COMPLETE"]:
            raise koji.TagError("build %s not complete: state %s"
                                % (nvr, koji.BUILD_STATES[build["state"]]))
        if any(r[0] == tag["name"] and r[1]["build_id"] == build["id"] and r[3] is None
               for r in self.listing):
            raise koji.TagError("build %s already tagged (%s)" % (nvr, tag["name"]))
        self.event += 1
        row = {"build_id": build["id"], "id": build["id"], "name": build["name"],
               "package_name": build["name"], "version": build["version"],
               "release": build["release"], "epoch": build["epoch"], "nvr": nvr,
               "state": build["state"], "tag_name": tag["name"], "tag_id": tag["id"],
               "owner_name": build.get("owner_name"), "create_event": self.event}
        self.listing.append([tag["name"], row, self.event, None])
        koji.plugin.run_callbacks("postTag", tag=tag, build=build, user=user, force=force)

    def get_archive_type(self, filename=None, type_name=None, type_id=None, strict=False):
        """kojihub.get_archive_type by file name: the longest known extension."""
        parts = filename.lower().split(".")
        for start in range(len(parts)):
            ext = ".".join(parts[start:])
            for name, (aid, exts) in self.archivetypes.items():
                if ext in exts.split():
                    return {"id": aid, "name": name, "description": name, "extensions": exts,
                            "compression_type": "tar" if name == "tar" else None}
        if strict:
            raise koji.GenericError("unsupported file extension: %s" % filename)
        return None

    def import_archive(self, filepath, buildinfo, type, typeInfo, buildroot_id=None):
        return self.import_archive_internal(filepath, buildinfo, type, typeInfo, buildroot_id)

    def import_archive_internal(self, filepath, buildinfo, type, typeInfo, buildroot_id=None,
                                fileinfo=None):
        fileinfo = fileinfo or {}
        if not os.path.exists(filepath):
            raise koji.GenericError("No such file: %s" % filepath)
        filename = os.path.basename(filepath)
        with open(filepath, "rb") as f:
            data = f.read()
        if fileinfo.get("hub.checked_hash"):
            # trusts what CG_Importer.prep_outputs checked
            checksum = fileinfo["checksum"]
            checksum_type = koji.CHECKSUM_TYPES[fileinfo["checksum_type"]]
        else:
            checksum, checksum_type = hashlib.sha256(data).hexdigest(), 2
        if fileinfo:
            if len(data) != fileinfo["filesize"]:
                raise koji.GenericError("File size mismatch for %s: %s != %s"
                                        % (filename, len(data), fileinfo["filesize"]))
            if (checksum != fileinfo["checksum"]
                    or checksum_type != koji.CHECKSUM_TYPES[fileinfo["checksum_type"]]):
                raise koji.GenericError("File checksum mismatch for %s: %s != %s"
                                        % (filename, checksum, fileinfo["checksum"]))
        atype = self.get_archive_type(filename, strict=True)
        btype = self.lookup_name("btype", type)
        if btype is None:
            raise koji.BuildError("unsupported build type: %s" % type)
        if btype["name"] not in self.build_types[buildinfo["id"]]:
            raise koji.ImportError("Build does not have type %s" % btype["name"])
        if type == "image":
            arch = typeInfo["arch"]  # image_archives.arch: a KeyError in kojihub too
            destdir = koji.pathinfo.imagebuild(buildinfo)
        else:
            arch = None
            destdir = koji.pathinfo.typedir(buildinfo, btype["name"])
            if fileinfo.get("subdir"):
                destdir = os.path.join(destdir, fileinfo["subdir"])
        final = os.path.join(destdir, filename)
        if os.path.exists(final):
            raise koji.GenericError("Error importing archive file, %s already exists" % final)
        os.makedirs(destdir, exist_ok=True)
        os.rename(filepath, final)
        os.symlink(os.path.relpath(final, os.path.dirname(filepath)), filepath)
        aid = self.nextval("archiveinfo")
        self.archives[aid] = {
            "id": aid, "build_id": buildinfo["id"], "buildroot_id": buildroot_id,
            "filename": filename, "size": len(data), "checksum": checksum,
            "checksum_type": checksum_type, "type_id": atype["id"], "type_name": atype["name"],
            "type_extensions": atype["extensions"], "type_description": atype["description"],
            "btype": btype["name"], "btype_id": btype["id"], "metadata_only": False,
            "extra": fileinfo.get("extra"), "arch": arch}
        return dict(self.archives[aid])

    # -- content generator import (kojihub.cg_import, CG_Importer)
    def assert_cg(self, cg, user=None):
        cg_id = self._lookup_cg(cg)
        if user is None:
            if not context.session.logged_in:
                raise koji.AuthError("Not logged-in")
            user = context.session.user_id
        user = self.get_user(user, strict=True)
        if (user["id"], cg_id) not in self.cg_users:
            raise koji.AuthError("Content generator access required (%s)" % self.cgs[cg_id])

    def _lookup_cg(self, info):
        for cg_id, name in self.cgs.items():
            if info in (cg_id, name):
                return cg_id
        raise koji.GenericError("No such entry in table content_generator: %s" % info)

    def cg_import(self, metadata, directory, token=None):
        """kojihub.cg_import (CGImport) without a reservation token: the
        checks of CG_Importer.do_import, in its order, with its messages.
        A Python error where kojihub has one (a missing key is a KeyError
        there too) is left to surface as a fault."""
        if token is not None:
            raise NotImplementedError("stand-in cg_import: reservation tokens")
        if not isinstance(metadata, dict):
            raise NotImplementedError("stand-in cg_import: metadata as a dict only")
        import json
        try:
            raw = json.dumps(metadata, indent=2)
        except Exception:
            raise koji.GenericError("Invalid metadata, cannot encode: %r" % metadata)
        metadata = json.loads(raw)
        if metadata["metadata_version"] != 0:
            raise koji.GenericError("No such metadata version: %r" % metadata["metadata_version"])
        # assert_cg_access
        cg_id = None
        for br in metadata["buildroots"]:
            cg = self._lookup_cg(br["content_generator"]["name"])
            if cg_id is None:
                cg_id = cg
            elif cg_id != cg:
                raise koji.GenericError("Koji now support only one content-generator per import")
        self.assert_cg(cg_id)
        # prep_build
        binfo = metadata["build"]
        if binfo.get("build_id"):
            raise NotImplementedError("stand-in cg_import: reserved builds")
        old = self._find_build(binfo)
        if old and koji.BUILD_STATES[old["state"]] not in ("CANCELED", "FAILED"):
            raise koji.GenericError("Build already exists: %(nvr)s (id=%(id)s)" % old)
        build = {k: binfo[k] for k in ("name", "version", "release", "extra", "source")
                 if k in binfo}
        build["epoch"] = binfo.get("epoch")
        start = float(binfo["start_time"])
        end = float(binfo["end_time"])
        task_id = self.convert_value(binfo["task_id"], cast=int) if "task_id" in binfo else None
        owner = binfo.get("owner")
        if owner:
            if not isinstance(owner, str):
                raise koji.GenericError("Invalid owner format (expected username): %s" % owner)
            build["owner"] = self.get_user(owner, strict=True)["id"]
        koji.check_NVR(build, strict=True)
        build.setdefault("extra", {})
        typeinfo = build["extra"].setdefault("typeinfo", {})
        for legacy in ("maven", "win", "image"):
            if legacy in build["extra"]:
                if legacy in typeinfo:
                    raise koji.GenericError("Duplicate typeinfo for %r" % legacy)
                typeinfo[legacy] = build["extra"][legacy]
        for btype in typeinfo:
            self.lookup_name("btype", btype, strict=True)
        # prep_brs
        used = set(f["buildroot_id"] for f in metadata["output"])
        brs = {}
        for br in metadata["buildroots"]:
            if br["id"] not in used:
                raise koji.GenericError("Buildroot id not used in output: %r" % br["id"])
            if br["id"] in brs:
                raise koji.GenericError("Duplicate buildroot id in metadata: %r" % br["id"])
            brs[br["id"]] = {
                "cg_id": cg_id, "cg_version": br["content_generator"]["version"],
                "container_type": br["container"]["type"],
                "container_arch": br["container"]["arch"], "host_os": br["host"]["os"],
                "host_arch": br["host"]["arch"], "extra": br.get("extra"),
                "rpms": self._match_components(br["components"]), "tools": br["tools"]}
        # prep_outputs
        outputs = []
        for f in metadata["output"]:
            f = dict(f)
            path = os.path.join(koji.pathinfo.work(), directory, f.get("relpath", ""),
                                f["filename"])
            f["hub.path"] = path
            size = os.path.getsize(path)
            if size != f["filesize"]:
                raise koji.GenericError("File size %s for %s (expected %s) doesn't match. "
                                        "Corrupted upload?" % (size, f["filename"], f["filesize"]))
            with open(path, "rb") as fp:
                digest = _verify_class(f["checksum_type"])(fp.read()).hexdigest()
            if f["checksum"] != digest:
                raise koji.GenericError("File checksum mismatch for %s: %s != %s"
                                        % (f["filename"], f["checksum"], digest))
            f["hub.checked_hash"] = True
            if f["buildroot_id"] not in brs:
                raise koji.GenericError("Missing buildroot metadata for id %(buildroot_id)r" % f)
            if f["type"] == "rpm":
                raise NotImplementedError("stand-in cg_import: rpm outputs")
            if f["type"] != "log":
                self._prep_archive(f, typeinfo)
            outputs.append(f)
        # check_build_dir
        path = koji.pathinfo.build(dict(build, volume_name="DEFAULT"))
        if os.path.lexists(path):
            raise koji.GenericError("Destination directory already exists: %s" % path)
        # get_build, import_brs, import_outputs, import_metadata
        build_id = self.new_build(dict(build, task_id=task_id))
        self.builds[build_id].update(cg_id=cg_id, start_ts=start, completion_ts=end)
        buildinfo = self.get_build(build_id, strict=True)
        for btype in typeinfo:
            if btype == "image":
                self.image_builds.add(build_id)
            self.new_typed_build(buildinfo, btype)
        brmap = {}
        for fake_id, br in brs.items():
            br_id = self.nextval("buildroot")
            self.buildroots[br_id] = dict(br, id=br_id, br_type=koji.BR_TYPES["EXTERNAL"],
                                          cg_name=self.cgs[cg_id])
            brmap[fake_id] = br_id
        for f in outputs:
            if f["type"] == "log":
                logdir = os.path.join(koji.pathinfo.build(buildinfo), "data", "logs")
                os.makedirs(logdir, exist_ok=True)
                os.rename(f["hub.path"], os.path.join(logdir, f["filename"]))
                continue
            self.import_archive_internal(f["hub.path"], buildinfo, f["hub.btype"],
                                         f["hub.type_info"], brmap[f["buildroot_id"]], f)
        builddir = koji.pathinfo.build(buildinfo)
        os.makedirs(builddir, exist_ok=True)
        with open(os.path.join(builddir, "metadata.json"), "w", encoding="utf-8") as fo:
            fo.write(raw)
        return buildinfo

    def _match_components(self, components):
        """CG_Importer.match_components, for rpm components (files are not met here)."""
        rpms = []
        for comp in components:
            if comp["type"] != "rpm":
                if comp["type"] in ("file", "kojifile"):
                    raise NotImplementedError("stand-in cg_import: %s components" % comp["type"])
                raise koji.GenericError("No such component type: %(type)s" % comp)
            if "location" in comp:
                raise koji.GenericError("External rpms not allowed")
            if "id" in comp:
                raise koji.GenericError("Unexpected 'id' field in component")
            rinfo = self.get_rpm(comp)
            if not rinfo:
                continue  # kojihub logs "IGNORING unmatched rpm component"
            comp["sigmd5"]  # noqa: B018 -- kojihub compares it to the payloadhash: required
            rpms.append(rinfo["id"])
        return rpms

    def _prep_archive(self, f, build_typeinfo):
        extra = f.get("extra", {})
        btype = type_info = None
        for key in extra:
            if key not in ("maven", "win", "image"):
                continue
            if btype is not None:
                raise koji.GenericError("Output file has multiple types: %(filename)s" % f)
            btype, type_info = key, extra[key]
        for key in extra.get("typeinfo", {}):
            if btype == key:
                raise koji.GenericError("Duplicate typeinfo for: %r" % btype)
            elif btype is not None:
                raise koji.GenericError("Output file has multiple types: %(filename)s" % f)
            btype, type_info = key, extra["typeinfo"][key]
        if btype is None:
            raise koji.GenericError("No typeinfo for: %(filename)s" % f)
        if btype not in build_typeinfo:
            raise koji.GenericError("Output type %s not listed in build types" % btype)
        f["hub.btype"], f["hub.type_info"] = btype, type_info
        if "components" in f:
            f["hub.rpmlist"] = self._match_components(f["components"])

    def list_archives(self, buildID=None, buildrootID=None, componentBuildrootID=None,
                      hostID=None, type=None, filename=None, size=None, checksum=None,
                      checksum_type=None, typeInfo=None, queryOpts=None, imageID=None,
                      archiveID=None, strict=False):
        return [dict(a) for a in self.archives.values()
                if (buildID is None or a["build_id"] == buildID)
                and (type is None or a["btype"] == type)
                and (filename is None or a["filename"] == filename)]

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
        bid = self.nextval("build")
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
            "volume_name": "DEFAULT", "creation_event_id": self.event,
            "creation_ts": 1764000000.0 + self.event, "start_ts": 1764000000.0 + self.event,
            "completion_ts": 1764000000.0 + self.event,
            "completion_time": "2026-11-25 08:00:00"}
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
              "new_typed_build", "get_build_type", "get_rpm", "get_user", "_create_tag",
              "readTaggedBuilds", "_direct_tag_build", "import_archive", "list_archives",
              "readPackageList", "_direct_pkglist_add", "cg_import", "assert_cg",
              "get_archive_type", "import_archive_internal"):
    setattr(MODULE, _name, _forward(_name))
MODULE.Task = Task


class RootExports:
    """kojihub.RootExports, for the calls a plugin makes through it:
    listTasks(opts) with opts method, state (a list), parent and decode
    (request and result decoded, as kojihub's listTasks decodes them)."""

    def listTasks(self, opts=None, queryOpts=None):
        opts = dict(opts or {})
        unknown = set(opts) - {"method", "state", "parent", "decode"}
        if unknown or queryOpts:
            raise NotImplementedError("listTasks %r %r" % (sorted(unknown), queryOpts))
        out = []
        # The real listTasks sets no order: rows come as PostgreSQL's heap
        # holds them, and an updated row moves (a real hub listed moduleChain
        # tasks 5, 10, 8, 12). Here: in the order of their last write (a task
        # opened after newer ones were made is listed after them), never by ID.
        hub = _hub()
        for t in sorted(list(hub.tasks.values()), key=lambda t: hub.task_writes.get(t["id"], 0)):
            if "method" in opts and t["method"] != opts["method"]:
                continue
            if "state" in opts and t["state"] not in opts["state"]:
                continue
            if "parent" in opts and t["parent"] != opts["parent"]:
                continue
            info = dict(t)
            if opts.get("decode"):
                info["request"] = Task(t["id"]).getRequest()
                info["result"] = None
            out.append(info)
        return out


MODULE.RootExports = RootExports


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
