"""dnf stack: install, inspect and remove Strata module stacks (dnf 4).

A *stack* is a module compose that requires other modules (php:8.2 needs
apache:2.4, which needs base-runtime:f40). Strata records in the stack
compose's modulemd (`xmd.strata`) the compose ID of every module below it.
This plugin reads that record from the enabled repositories and checks it
against the module streams dnf would actually use.

Commands:

    dnf stack list
        Module streams of the enabled repositories that are Strata stacks:
        compose ID, number of modules, [i] when a stack compose of that
        name:stream was installed with `dnf stack install`.

    dnf stack info NAME:STREAM
        The stack, bottom first: for each module the compose ID the stack
        was composed with, the compose ID the enabled repositories offer
        (the highest version of that name:stream, which is what dnf uses),
        and MISMATCH where they differ; and the installed stack compose.

    dnf stack install NAME:STREAM[/PROFILE] [--allow-mismatch] ...
        Refuses when a module below has another compose ID in the enabled
        repositories, or is missing (--allow-mismatch: warn and go on).
        Then enables every stream of the stack, bottom first, and installs
        the given profile of the top module (else its default profiles), in
        one transaction. Afterwards it records the installed stack compose
        in <installroot>/var/lib/dnf/strata-stacks/NAME:STREAM.json.

    dnf stack remove NAME:STREAM ...
        Removes the packages of the profiles the stack installed, resets the
        streams the stack enabled that no other installed stack uses, and
        deletes the record, in one transaction.

Installation: the `strata` wheel installs this file as
`<site-packages>/dnf-plugins/stack.py`, beside the `strata` package. dnf
finds it with no configuration when that site-packages is the one in dnf's
default plugin path (`/usr/lib/python3/dist-packages/dnf-plugins` on
Debian, `/usr/lib/python3.X/site-packages/dnf-plugins` on Fedora: a
distribution package built from the wheel). Anywhere else (pip's
/usr/local, a `--target` folder, a virtualenv) add that `dnf-plugins`
folder to `pluginpath` in dnf.conf or with `--setopt=pluginpath=...` (the
option replaces the default list; give a comma-separated list to keep
dnf-plugins-core's folder too), and make `strata` importable by dnf's
Python (PYTHONPATH). See dnf_plugin/README.md.

The checks themselves (reading `xmd.strata`, comparing compose IDs, which
streams a removal may reset, argument syntax) and the tables' layout
(`strata.format_table`, every cell escaped onto one line, as the CLI's)
are Strata's Rust core, called through the `strata` package; this file
only talks to dnf.
"""

from __future__ import absolute_import, print_function, unicode_literals

import errno
import json
import logging
import os
import tempfile
import time

import dnf
import dnf.cli
import dnf.exceptions
import dnf.module.module_base
import libdnf

try:
    import strata
except ImportError as e:  # reported when a command runs, not at plugin load
    strata = None
    _STRATA_IMPORT_ERROR = e

logger = logging.getLogger("dnf.plugin")

RECORD_DIR = "var/lib/dnf/strata-stacks"


def _err(msg):
    return dnf.exceptions.Error(msg)


def _strata_call(fn, *args, **kwargs):
    """Calls into strata; its errors become dnf errors (no traceback)."""
    try:
        return fn(*args, **kwargs)
    except strata.StrataError as e:
        raise _err(str(e))


class StackPlugin(dnf.Plugin):
    """Registers `dnf stack`."""

    name = "stack"

    def __init__(self, base, cli):
        super(StackPlugin, self).__init__(base, cli)
        if cli is not None:
            cli.register_command(StackCommand)


class StackCommand(dnf.cli.Command):
    aliases = ("stack",)
    summary = "install, inspect and remove Strata module stacks"
    usage = "list | info NAME:STREAM | install NAME:STREAM[/PROFILE]... | remove NAME:STREAM..."

    SUBCOMMANDS = ("list", "info", "install", "remove")

    @staticmethod
    def set_argparser(parser):
        parser.add_argument("subcmd", nargs=1, choices=StackCommand.SUBCOMMANDS,
                            metavar="<stack command>",
                            help="list: Strata stacks in the enabled repositories; "
                                 "info: a stack's modules and compose IDs; "
                                 "install: check, enable and install a stack; "
                                 "remove: remove an installed stack")
        parser.add_argument("specs", nargs="*", metavar="NAME:STREAM[/PROFILE]",
                            help="the stack (its top module stream)")
        parser.add_argument("--allow-mismatch", action="store_true", default=False,
                            help="install even when a module below the stack has another "
                                 "compose in the enabled repositories, or none")

    def configure(self):
        if strata is None:
            raise _err("dnf stack needs the `strata` Python package, which the Python "
                       "running dnf cannot import ({}); install the strata wheel there or "
                       "set PYTHONPATH".format(_STRATA_IMPORT_ERROR))
        self.subcmd = self.opts.subcmd[0]
        specs = self.opts.specs
        if self.subcmd == "list":
            if specs:
                raise dnf.cli.CliError("dnf stack list takes no arguments")
        elif self.subcmd == "info":
            if len(specs) != 1:
                raise dnf.cli.CliError("dnf stack info takes one NAME:STREAM")
        elif not specs:
            raise dnf.cli.CliError("dnf stack {} needs NAME:STREAM".format(self.subcmd))
        allow_profile = self.subcmd == "install"
        self.parsed = [_strata_call(strata.parse_stack_spec, s, profile=allow_profile)
                       for s in specs]

        demands = self.cli.demands
        demands.available_repos = True
        demands.sack_activation = True
        if self.subcmd in ("install", "remove"):
            demands.resolving = True
            demands.root_user = True
        if self.subcmd == "remove":
            demands.allow_erasing = True
            demands.fresh_metadata = False
        self.module_base = dnf.module.module_base.ModuleBase(self.base)
        self._after = []  # record changes, applied after the transaction

    def run(self):
        getattr(self, "_run_" + self.subcmd)()

    def run_transaction(self):
        conf = self.base.conf
        if conf.downloadonly or "test" in (conf.tsflags or []):
            return
        for action in self._after:
            action()

    # ------------------------------------------------------------------
    # What the repositories and the installroot hold

    def _candidates(self, name, stream):
        return list(self.base._moduleContainer.query(name, stream, "", "", ""))

    @staticmethod
    def _pick(candidates):
        """The stream dnf uses: the highest version (ties: by context, then
        repository id, so the choice is stable)."""
        return max(candidates, key=lambda m: (m.getVersionNum(), m.getContext(),
                                              m.getRepoID()))

    def _available(self, nsv):
        """(module package dnf would use or None, its strata dict or None)."""
        name, stream = nsv.split(":", 1)
        cands = self._candidates(name, stream)
        if not cands:
            return None, None
        pkg = self._pick(cands)
        return pkg, _strata_call(strata.module_stack, pkg.getYaml())

    def _stack(self, nsv, records=None):
        """The stack of name:stream from the enabled repositories (else from
        its install record); errors for unknown streams and plain modules."""
        pkg, stack = self._available(nsv)
        if pkg is None:
            rec = (records or {}).get(nsv)
            if rec is not None:
                return None, rec["stack"]
            raise _err("Unknown stack {}: no module stream {} in the enabled repositories"
                       .format(nsv, nsv))
        if stack is None:
            raise _err("{} is not a Strata stack: its modulemd ({} from repository {}) has no "
                       "xmd.strata".format(nsv, pkg.getFullIdentifier(), pkg.getRepoID()))
        if not stack["layers"]:
            raise _err("{} is not a Strata stack: it requires no other module (install it "
                       "with `dnf module install {}`)".format(nsv, nsv))
        return pkg, stack

    def _available_ids(self, stack):
        """name:stream -> compose ID dnf would use, for each layer."""
        out = {}
        for layer in stack["layers"]:
            nsv = "{}:{}".format(layer["name"], layer["stream"])
            __, st = self._available(nsv)
            out[nsv] = st["compose_id"] if st else None
        return out

    def _record_dir(self):
        # dnf's conf.prepend_installroot is not usable from plugins on every
        # build; the path is computed here.
        return os.path.join(self.base.conf.installroot or "/", RECORD_DIR)

    def _records(self):
        d = self._record_dir()
        out = {}
        try:
            names = sorted(os.listdir(d))
        except OSError as e:
            if e.errno == errno.ENOENT:
                return out
            raise _err("cannot read {}: {}".format(d, e))
        for fn in names:
            if not fn.endswith(".json"):
                continue
            path = os.path.join(d, fn)
            try:
                with open(path) as f:
                    rec = json.load(f)
                out["{}:{}".format(rec["name"], rec["stream"])] = rec
            except (OSError, ValueError, KeyError, TypeError) as e:
                logger.warning("dnf stack: ignoring unreadable record %s: %s", path, e)
        return out

    def _write_record(self, rec):
        d = self._record_dir()
        os.makedirs(d, exist_ok=True)
        path = os.path.join(d, "{}:{}.json".format(rec["name"], rec["stream"]))
        fd, tmp = tempfile.mkstemp(dir=d, prefix=".stack-")
        with os.fdopen(fd, "w") as f:
            json.dump(rec, f, indent=2, sort_keys=True)
            f.write("\n")
        os.rename(tmp, path)
        logger.debug("dnf stack: recorded %s", path)

    def _delete_record(self, nsv):
        path = os.path.join(self._record_dir(), "{}.json".format(nsv))
        try:
            os.unlink(path)
        except OSError as e:
            if e.errno != errno.ENOENT:
                raise

    # ------------------------------------------------------------------
    # list

    def _run_list(self):
        records = self._records()
        newest = {}
        for pkg in self.base._moduleContainer.getModulePackages():
            nsv = "{}:{}".format(pkg.getName(), pkg.getStream())
            cur = newest.get(nsv)
            newest[nsv] = pkg if cur is None else self._pick([cur, pkg])
        rows = []
        for nsv in sorted(newest):
            pkg = newest[nsv]
            try:
                st = strata.module_stack(pkg.getYaml())
            except strata.StrataError as e:
                logger.warning("dnf stack: skipping %s: %s", nsv, e)
                continue
            if not st or not st["layers"]:
                continue
            rec = records.get(nsv)
            mark = "[i]" if rec else ""
            rows.append((nsv, st["compose_id"], str(len(st["layers"]) + 1), mark))
        for nsv in sorted(set(records) - set(r[0] for r in rows)):
            rec = records[nsv]
            rows.append((nsv, rec["compose_id"], str(len(rec["stack"]["layers"]) + 1),
                         "[i] (not in the enabled repositories)"))
        if not rows:
            print("No Strata stacks in the enabled repositories.")
            return
        print(strata.format_table(["Stack", "Compose ID", "Modules", ""], rows), end="")
        print("\nHint: [i]nstalled with dnf stack install")

    # ------------------------------------------------------------------
    # info

    def _run_info(self):
        spec = self.parsed[0]
        nsv = "{}:{}".format(spec["name"], spec["stream"])
        records = self._records()
        pkg, stack = self._stack(nsv, records)
        available = self._available_ids(stack)
        mismatches = {m["module"]: m for m in _strata_call(strata.check_stack, stack, available)}
        rec = records.get(nsv)
        lines = [("Stack", nsv), ("Compose ID", stack["compose_id"]),
                 ("Version", str(stack["version"])), ("Context", stack["context"])]
        if pkg is not None:
            lines.append(("Repository", pkg.getRepoID()))
        else:
            lines.append(("Repository", "(not in the enabled repositories; from the install "
                                        "record)"))
        if rec:
            lines.append(("Installed", "{} (profiles: {}; {})".format(
                rec["compose_id"], ", ".join(rec["profiles"]) or "-", rec.get("installed", "?"))))
        else:
            lines.append(("Installed", "no"))
        lines.append(("Mismatches", str(len(mismatches))))
        w = max(len(k) for k, __ in lines)
        for k, v in lines:
            print("{} : {}".format(k.ljust(w), strata.one_line(v)))
        print("\nModules, bottom first:")
        rows = []
        for layer in stack["layers"]:
            m = "{}:{}".format(layer["name"], layer["stream"])
            avail = available.get(m)
            rows.append((m, layer["compose_id"], avail or "(none)",
                         "MISMATCH" if m in mismatches else ""))
        rows.append((nsv, stack["compose_id"], stack["compose_id"] if pkg else "(none)", "(top)"))
        table = strata.format_table(["Module", "Recorded compose", "Available compose", ""], rows)
        for line in table.splitlines():
            print("  " + line)

    # ------------------------------------------------------------------
    # install

    def _run_install(self):
        container = self.base._moduleContainer
        problems = []
        plans = []
        for spec in self.parsed:
            nsv = "{}:{}".format(spec["name"], spec["stream"])
            pkg, stack = self._stack(nsv)
            mismatches = _strata_call(strata.check_stack, stack, self._available_ids(stack))
            if mismatches and not self.opts.allow_mismatch:
                problems.extend(mismatches)
            for m in mismatches if self.opts.allow_mismatch else ():
                logger.warning("Warning: stack %s: %s (installing anyway: --allow-mismatch)",
                               nsv, m["message"])
            if spec["profile"]:
                profiles = [spec["profile"]]
            else:
                profiles = list(container.getDefaultProfiles(spec["name"], spec["stream"]))
                if not profiles:
                    names = sorted(p.getName() for p in pkg.getProfiles())
                    raise _err("{} has no default profile; give one: {}/PROFILE ({})".format(
                        nsv, nsv, ", ".join(names) if names else "it has no profiles"))
            known = set(p.getName() for p in pkg.getProfiles())
            for p in profiles:
                if p not in known:
                    raise _err("{} has no profile {!r} (it has: {})".format(
                        nsv, p, ", ".join(sorted(known)) or "none"))
            plans.append((nsv, pkg, stack, profiles, mismatches))
        if problems:
            raise _err("The stack does not match the enabled repositories:\n  {}\n"
                       "Refusing to install; use --allow-mismatch to install anyway.".format(
                           "\n  ".join(m["message"] for m in problems)))

        enable = []
        for __, __, stack, __, __ in plans:
            for m in _strata_call(strata.stack_modules, stack):
                if m not in enable:
                    enable.append(m)
        was_enabled = set(m for m in enable if container.isEnabled(*m.split(":", 1)))
        _module_call(self.base, self.module_base.enable, enable)
        _module_call(self.base, self.module_base.install,
                     ["{}/{}".format(nsv, p) for nsv, __, __, profiles, __ in plans
                      for p in profiles], self.base.conf.strict)

        for nsv, pkg, stack, profiles, mismatches in plans:
            mods = _strata_call(strata.stack_modules, stack)
            rec = {
                "name": stack["name"], "stream": stack["stream"],
                "compose_id": stack["compose_id"], "repo": pkg.getRepoID(),
                "profiles": profiles, "stack": stack,
                "enabled": [m for m in mods if m not in was_enabled],
                "mismatches": mismatches,
                "installed": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            }
            self._after.append(lambda rec=rec: self._write_record(rec))

    # ------------------------------------------------------------------
    # remove

    def _run_remove(self):
        records = self._records()
        nsvs = []
        for spec in self.parsed:
            nsv = "{}:{}".format(spec["name"], spec["stream"])
            if nsv not in records:
                raise _err("Stack {} is not installed (no record in {})".format(
                    nsv, self._record_dir()))
            nsvs.append(nsv)
        others = [r["stack"] for n, r in sorted(records.items()) if n not in nsvs]
        remove_specs, reset = [], []
        for nsv in nsvs:
            rec = records[nsv]
            remove_specs += ["{}/{}".format(nsv, p) for p in rec["profiles"]]
            enabled_by_it = set(rec.get("enabled", []))
            for m in _strata_call(strata.stack_streams_to_reset, rec["stack"], others):
                if m in enabled_by_it and m not in reset:
                    reset.append(m)
        if remove_specs:
            skipped = self.module_base.remove(remove_specs)
            if skipped:
                logger.warning("Warning: no installed profile matched %s", ", ".join(skipped))
        if reset:
            # reset works on module names (a module has one stream state).
            _module_call(self.base, self.module_base.reset, [m.split(":", 1)[0] for m in reset])
        for nsv in nsvs:
            self._after.append(lambda nsv=nsv: self._delete_record(nsv))


def _module_call(base, fn, *args):
    """A ModuleBase call with dnf's CLI leniency: missing or invalid specs
    are fatal, modular dependency warnings only logged."""
    try:
        fn(*args)
    except dnf.exceptions.MarkingErrors as e:
        if base.conf.strict:
            if e.no_match_group_specs or e.error_group_specs:
                raise
            if e.module_depsolv_errors and e.module_depsolv_errors[1] != \
                    libdnf.module.ModulePackageContainer.ModuleErrorType_ERROR_IN_DEFAULTS:
                raise
        logger.error(str(e))
