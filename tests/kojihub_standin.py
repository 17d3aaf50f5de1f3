"""A loopback stand-in for a Koji hub's XML-RPC API, for the calls Strata
makes. Kojihub cannot be installed here; this mirrors its behaviour as read
in koji's sources (kojihub/kojihub.py, koji/__init__.py):

- Transport: XML-RPC over HTTP POST at any path (kojihub serves /kojihub),
  `allow_none` responses (None is `<nil/>`), faults for errors.
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

Faults use koji's GenericError code (1000).
"""

from __future__ import annotations

import threading
from xmlrpc.server import SimpleXMLRPCRequestHandler, SimpleXMLRPCServer
from xmlrpc.client import Fault

GENERIC_ERROR = 1000
READY = 1


def decode_args(args):
    if args and isinstance(args[-1], dict) and args[-1].get("__starstar"):
        opts = dict(args[-1])
        del opts["__starstar"]
        return list(args[:-1]), opts
    return list(args), {}


class Hub:
    def __init__(self):
        self.event = 100
        self.tags: dict[str, dict] = {}
        # (tag, build, tagged at event, untagged at event or None)
        self.listing: list[list] = []
        self.repos: list[dict] = []
        self.calls: list[tuple[str, list, dict]] = []

    # -- setup, as an admin would do with the real CLI
    def add_tag(self, name, arches="x86_64"):
        self.tags[name] = {"id": len(self.tags) + 1, "name": name, "arches": arches,
                           "locked": False, "perm": None, "perm_id": None, "maven_support": False,
                           "maven_include_all": False, "extra": {}}

    def tag_build(self, tag, name, version, release, epoch=None):
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

    def new_repo(self, tag) -> dict:
        self.event += 1
        repo = {"id": 1000 + len(self.repos), "state": READY, "create_event": self.event,
                "create_ts": 1764000000.0 + self.event, "creation_time": "2026-11-25 08:00:00",
                "dist": False, "task_id": None, "tag_name": tag, "tag_id": self.tags[tag]["id"]}
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

    def listTagged(self, tag, event=None, inherit=False, prefix=None, latest=False, package=None,
                   owner=None, type=None, strict=True, extra=False, draft=None):
        t = self._tag(tag, True)
        at = self.event if event is None else event
        rows = [r[1] for r in self.listing
                if r[0] == t["name"] and r[2] <= at and (r[3] is None or r[3] > at)
                and (package is None or r[1]["name"] == package)]
        rows.sort(key=lambda b: b["create_event"], reverse=True)
        if latest:
            seen, out = set(), []
            for b in rows:
                if b["name"] not in seen:
                    seen.add(b["name"])
                    out.append(b)
            rows = out
        return rows

    def _dispatch(self, method, params):
        args, opts = decode_args(params)
        self.calls.append((method, args, opts))
        fn = getattr(self, method, None)
        if fn is None or method.startswith("_") or method in ("add_tag", "tag_build", "untag_build", "new_repo"):
            raise Fault(GENERIC_ERROR, f"Invalid method: {method}")
        return fn(*args, **opts)


class _Handler(SimpleXMLRPCRequestHandler):
    rpc_paths = ()  # any path, like /kojihub

    def log_message(self, *a):
        pass


class HubServer:
    """Serves a Hub on 127.0.0.1:<free port>."""

    def __init__(self, hub: Hub):
        self.hub = hub
        self.server = SimpleXMLRPCServer(("127.0.0.1", 0), requestHandler=_Handler, allow_none=True,
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
