# Strata: module composes in Koji -- the koji CLI plugin.
#
# Install into ~/.koji/plugins, a folder named by `plugin_paths` in the
# koji configuration (or --plugin-paths), or the koji_cli_plugins package.
# Commands: module-build, module-compose-info, list-module-composes,
# latest-module-compose. The hub calls are koji_plugin/README.md's.
# Needs the `strata` Python package (python3-strata): the compose types are
# the core's.

import json
import os
import time
from optparse import OptionParser

import koji
from koji.plugin import export_cli
import strata
from koji_cli.lib import (
    _progress_callback,
    _running_in_bg,
    activate_session,
    error,
    get_usage_str,
    unique_path,
    watch_tasks,
)

COMPOSE_TYPES = strata.COMPOSE_TYPES
STATES = ('started', 'finished', 'failed')


def _ts(value):
    if value is None:
        return '-'
    return time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime(value))


def _name_stream(parser, spec, need_stream):
    name, sep, stream = spec.partition(':')
    if not name or (sep and not stream) or ':' in stream or (need_stream and not stream):
        parser.error('expected NAME%s, not %r' % (':STREAM' if need_stream else '[:STREAM]', spec))
    return name, stream or None


def _wait_options(parser, goptions, what):
    parser.add_option("--wait", action="store_true",
                      help="Wait on the %s, even if running in the background" % what)
    parser.add_option("--nowait", action="store_false", dest="wait",
                      help="Don't wait on the %s" % what)
    parser.add_option("--quiet", action="store_true", default=goptions.quiet,
                      help="Do not print the task information")


def _watch(goptions, session, options, task_id):
    """Prints the new task and, unless --nowait (or in the background),
    watches it as `koji build` does."""
    if not options.quiet:
        print("Created task: %d" % task_id)
        print("Task info: %s/taskinfo?taskID=%s" % (goptions.weburl, task_id))
    if options.wait or (options.wait is None and not _running_in_bg()):
        session.logout()
        return watch_tasks(session, [task_id], quiet=options.quiet,
                           poll_interval=goptions.poll_interval, topurl=goptions.topurl)


@export_cli
def handle_module_build(goptions, session, args):
    "[build] Compose a module with Strata from its definition"
    usage = get_usage_str("""usage: %prog module-build [options] <scm url | definition file>

The SCM URL names the definition file after '?':
  git+https://src.example.org/modules/apache.git?apache.yaml#<commit>
A local definition file is uploaded and makes a scratch compose (--scratch); it travels
alone, so the repositories it names must be URLs or absolute paths.""")
    parser = OptionParser(usage=usage)
    _wait_options(parser, goptions, "compose")
    parser.add_option("--arch", action="append", dest="arches", default=[], metavar="ARCH",
                      help="Compose only this arch (may be given more than once)")
    parser.add_option("--scratch", action="store_true",
                      help="A scratch compose: recorded apart, never a build or a last good one")
    parser.add_option("--noprogress", action="store_true",
                      help="Do not display progress of the upload")
    parser.add_option("--priority", type="int", metavar="N",
                      help="Task priority offset (below 0: admins only)")
    parser.add_option("--compose-type", choices=COMPOSE_TYPES, metavar="TYPE",
                      help="Compose type: %s" % ', '.join(COMPOSE_TYPES))
    parser.add_option("--wait-build", metavar="NVR", action="append", dest="wait_builds",
                      default=[], help="Wait for the given NVR to appear in the tag's repo")
    parser.add_option("--tag", metavar="TAG",
                      help="The tag whose repo --wait-build waits on (default: the "
                      "definition's source tag)")
    (options, args) = parser.parse_args(args)
    if len(args) != 1:
        parser.error("Exactly one argument (an SCM URL or a definition file) is required")
    source = args[0]
    opts = {}
    if options.arches:
        opts['arches'] = koji.parse_arches(','.join(options.arches), to_list=True)
    if options.scratch:
        opts['scratch'] = True
    if options.compose_type:
        opts['compose_type'] = options.compose_type
    if options.priority is not None:
        opts['priority'] = options.priority
    if options.wait_builds:
        opts['wait_builds'] = options.wait_builds
    if options.tag:
        opts['tag'] = options.tag
    local = '://' not in source
    if local and not os.path.isfile(source):
        parser.error("No such definition file: %s (give an SCM URL or a file)" % source)
    if local and not options.scratch:
        # the hub refuses it too; saying so here spares the upload
        parser.error("A local definition file makes a scratch compose only: add --scratch, "
                     "or give an SCM URL (%s)" % source)
    activate_session(session, goptions)
    if local:
        if not options.quiet:
            print("Uploading definition: %s" % source)
        serverdir = unique_path('cli-build')
        if _running_in_bg() or options.noprogress or options.quiet:
            callback = None
        else:
            callback = _progress_callback
        session.uploadWrapper(source, serverdir, callback=callback)
        if callback:
            print('')
        source = "%s/%s" % (serverdir, os.path.basename(source))
    return _watch(goptions, session, options, session.moduleBuild(source, opts))


@export_cli
def handle_module_compose_info(goptions, session, args):
    "[info] Print a Strata module compose's record"
    usage = get_usage_str("usage: %prog module-compose-info [options] <compose id>")
    parser = OptionParser(usage=usage)
    (options, args) = parser.parse_args(args)
    if len(args) != 1:
        parser.error("Exactly one compose ID is required")
    activate_session(session, goptions)
    rec = session.getModuleCompose(args[0])
    if rec is None:
        error("No such module compose: %s" % args[0])
    print("Compose: %s" % rec['id'])
    print("Module: %s:%s" % (rec['name'], rec['stream']))
    print("State: %s" % rec['state'])
    print("Type: %s" % rec.get('compose_type'))
    print("Version: %s" % rec.get('version'))
    print("Context: %s" % rec.get('context'))
    print("Definition: %s" % (rec.get('scm_ref') or rec.get('definition_path')))
    print("Arches: %s" % ' '.join(rec.get('arches') or []))
    print("Started: %s" % _ts(rec.get('started_at')))
    print("Finished: %s" % _ts(rec.get('finished_at')))
    for inp in rec.get('inputs') or []:
        print("Input: %s %s %s" % (inp.get('kind'), inp.get('name'), inp.get('ident')))
    repos = (rec.get('outputs') or {}).get('repos') or {}
    for arch in sorted(repos):
        print("Repo %s: %s" % (arch, repos[arch]))
    for arch in sorted(rec.get('packages') or {}):
        print("Packages %s: %d" % (arch, len(rec['packages'][arch])))
    if rec.get('error'):
        print("Error: %s" % rec['error'])


@export_cli
def handle_list_module_composes(goptions, session, args):
    "[info] List Strata module composes, newest first"
    usage = get_usage_str("usage: %prog list-module-composes [options] [<name>[:<stream>]]")
    parser = OptionParser(usage=usage)
    parser.add_option("--state", choices=STATES, help="Only composes in this state: %s"
                      % ', '.join(STATES))
    parser.add_option("--limit", type="int", metavar="N", help="At most N composes")
    parser.add_option("--quiet", action="store_true", default=goptions.quiet,
                      help="Do not print the header")
    (options, args) = parser.parse_args(args)
    if len(args) > 1:
        parser.error("At most one NAME[:STREAM] is allowed")
    if options.limit is not None and options.limit < 1:
        parser.error("--limit must be at least 1")
    name = stream = None
    if args:
        name, stream = _name_stream(parser, args[0], need_stream=False)
    activate_session(session, goptions)
    recs = session.listModuleComposes(name=name, stream=stream, state=options.state,
                                      limit=options.limit)
    if not options.quiet:
        print("%-40s %-9s %s" % ("Compose", "State", "Started"))
        print("-" * 74)
    for rec in recs:
        print("%-40s %-9s %s" % (rec['id'], rec['state'], _ts(rec.get('started_at'))))


@export_cli
def handle_latest_module_compose(goptions, session, args):
    "[info] Print the last good compose of a module stream"
    usage = get_usage_str("usage: %prog latest-module-compose [options] <name>:<stream>")
    parser = OptionParser(usage=usage)
    (options, args) = parser.parse_args(args)
    if len(args) != 1:
        parser.error("Exactly one NAME:STREAM is required")
    name, stream = _name_stream(parser, args[0], need_stream=True)
    activate_session(session, goptions)
    rec = session.getLatestModuleCompose(name, stream)
    if rec is None:
        error("No finished compose of %s:%s" % (name, stream))
    print(rec['id'])


@export_cli
def handle_artifact_build(goptions, session, args):
    "[build] Build an artifact (container image, ostree commit, ISO) with Strata"
    usage = get_usage_str("""usage: %prog artifact-build [options] <scm url>

The SCM URL names the strata-artifact definition after '?':
  git+https://src.example.org/artifacts.git?php-web.yaml#<commit>
The artifact is built from the last good composes of the stacks it names (or
--with-compose pins) and imported as a Koji build of type image.""")
    parser = OptionParser(usage=usage)
    _wait_options(parser, goptions, "build")
    parser.add_option("--arch", metavar="ARCH",
                      help="The arch to build (one build builds one; default: the "
                      "definition's only arch)")
    parser.add_option("--scratch", action="store_true",
                      help="A scratch build: its files stay in the task, no Koji build")
    parser.add_option("--priority", type="int", metavar="N",
                      help="Task priority offset (below 0: admins only)")
    parser.add_option("--compose-type", choices=COMPOSE_TYPES, metavar="TYPE",
                      help="Compose type: %s" % ', '.join(COMPOSE_TYPES))
    parser.add_option("--with-compose", metavar="ID", action="append", dest="with_composes",
                      default=[], help="Use this compose instead of its stream's last good one")
    (options, args) = parser.parse_args(args)
    if len(args) != 1:
        parser.error("Exactly one argument (an SCM URL) is required")
    source = args[0]
    if '://' not in source:
        parser.error("Artifacts are built from SCM only: give an SCM URL, not %s" % source)
    opts = {}
    if options.arch:
        opts['arch'] = options.arch
    if options.scratch:
        opts['scratch'] = True
    if options.compose_type:
        opts['compose_type'] = options.compose_type
    if options.priority is not None:
        opts['priority'] = options.priority
    if options.with_composes:
        opts['with_composes'] = options.with_composes
    activate_session(session, goptions)
    return _watch(goptions, session, options, session.artifactBuild(source, opts))


def _events(parser, args, options):
    """{builds, tags, composes} from NVR arguments, --tag and --compose."""
    events = {}
    if args:
        events['builds'] = list(args)
    if options.tags:
        events['tags'] = list(options.tags)
    if options.composes:
        events['composes'] = list(options.composes)
    if not events:
        parser.error("Give at least one event: NVRs, --tag TAG or --compose ID")
    return events


def _event_options(parser):
    parser.add_option("--tag", metavar="TAG", action="append", dest="tags", default=[],
                      help="The tag's latest builds (what changed since each module's last "
                      "good compose)")
    parser.add_option("--compose", metavar="ID", action="append", dest="composes", default=[],
                      help="A finished module compose (the modules that require it)")


def _latest_builds(session, events):
    """--tag: the tag's latest builds, asked of the hub (listTagged
    latest=True), as build events beside the tag's; an unknown tag is the
    hub's fault ("No such tagInfo")."""
    for tag in events.get('tags', []):
        latest = session.listTagged(tag, latest=True)
        events.setdefault('builds', []).extend(
            b['nvr'] for b in latest if b['nvr'] not in events.get('builds', []))
    return events


@export_cli
def handle_module_impact(goptions, session, args):
    "[info] Show what new builds, a tag or a compose make stale, and the plan"
    usage = get_usage_str("usage: %prog module-impact [options] [<nvr> ...] [--tag TAG] "
                          "[--compose ID]")
    parser = OptionParser(usage=usage)
    _event_options(parser)
    parser.add_option("--json", action="store_true", help="Print the plan as JSON")
    (options, args) = parser.parse_args(args)
    events = _events(parser, args, options)
    activate_session(session, goptions)
    found = session.moduleImpact(_latest_builds(session, events))
    if options.json:
        print(json.dumps(found['plan'], indent=2, sort_keys=True))
    else:
        print(found['text'], end='' if found['text'].endswith('\n') else '\n')


@export_cli
def handle_module_chain(goptions, session, args):
    "[build] Recompose, as a chain of moduleCompose tasks, what events make stale"
    usage = get_usage_str("usage: %prog module-chain [options] [<nvr> ...] [--tag TAG] "
                          "[--compose ID]")
    parser = OptionParser(usage=usage)
    _event_options(parser)
    parser.add_option("--wait-repo", metavar="TAG",
                      help="Wait until TAG's repo has the given builds before computing the plan")
    parser.add_option("--compose-type", choices=COMPOSE_TYPES, metavar="TYPE",
                      help="Compose type: %s" % ', '.join(COMPOSE_TYPES))
    _wait_options(parser, goptions, "chain")
    (options, args) = parser.parse_args(args)
    events = _events(parser, args, options)
    opts = {}
    if options.wait_repo:
        opts['tag'] = options.wait_repo
    if options.compose_type:
        opts['compose_type'] = options.compose_type
    activate_session(session, goptions)
    return _watch(goptions, session, options,
                  session.moduleChain(_latest_builds(session, events), opts))


@export_cli
def handle_module_chain_info(goptions, session, args):
    "[info] Print a Strata chain: its state and each step's"
    usage = get_usage_str("usage: %prog module-chain-info [options] <chain id>")
    parser = OptionParser(usage=usage)
    (options, args) = parser.parse_args(args)
    if len(args) != 1:
        parser.error("Exactly one chain ID is required")
    activate_session(session, goptions)
    chain = session.getModuleChain(args[0])
    if chain is None:
        error("No such chain: %s" % args[0])
    print("Chain: %s" % chain['id'])
    print("State: %s" % chain['state'])
    print("Created: %s" % _ts(chain.get('created_at')))
    print("Finished: %s" % _ts(chain.get('finished_at')))
    for step in chain.get('steps') or []:
        line = _step_line(chain, step)
        if step.get('compose_id'):
            line += " %s" % step['compose_id']
        if step.get('reason'):
            line += " (%s)" % step['reason']
        print(line)


def _step_line(chain, step):
    """`Step N: [artifact ]name:stream state`, numbered from 1 as `strata
    chain show` numbers them (the recorded position counts from 0); the
    recorded plan says which steps build artifacts."""
    planned = ((chain.get('plan') or {}).get('plan') or {}).get('steps') or []
    position = step['position']
    kind = planned[position].get('kind') if 0 <= position < len(planned) else None
    return "Step %d: %s%s:%s %s" % (position + 1, "artifact " if kind == 'artifact' else "",
                                    step['name'], step['stream'], step['state'])


@export_cli
def handle_module_chain_approve(goptions, session, args):
    "[build] Approve waiting steps of a Strata chain (then module-chain-resume runs them)"
    usage = get_usage_str("usage: %prog module-chain-approve [options] <chain id> "
                          "<name:stream> [<name:stream> ...]")
    parser = OptionParser(usage=usage)
    (options, args) = parser.parse_args(args)
    if len(args) < 2:
        parser.error("A chain ID and at least one step (name:stream) are required")
    for spec in args[1:]:
        _name_stream(parser, spec, need_stream=True)
    activate_session(session, goptions)
    chain = session.moduleChainApprove(args[0], args[1:])
    for step in chain.get('steps') or []:
        if '%s:%s' % (step['name'], step['stream']) in args[1:]:
            print(_step_line(chain, step))


@export_cli
def handle_module_chain_resume(goptions, session, args):
    "[build] Continue a Strata chain (approved steps, or where a task stopped) as a new task"
    usage = get_usage_str("usage: %prog module-chain-resume [options] <chain id>")
    parser = OptionParser(usage=usage)
    parser.add_option("--compose-type", choices=COMPOSE_TYPES, metavar="TYPE",
                      help="Compose type: %s" % ', '.join(COMPOSE_TYPES))
    _wait_options(parser, goptions, "chain")
    (options, args) = parser.parse_args(args)
    if len(args) != 1:
        parser.error("Exactly one chain ID is required")
    opts = {}
    if options.compose_type:
        opts['compose_type'] = options.compose_type
    activate_session(session, goptions)
    return _watch(goptions, session, options, session.moduleChainResume(args[0], opts))


def _release_options(parser, goptions, what):
    _wait_options(parser, goptions, what)
    parser.add_option("--from", dest="previous", metavar="PREV",
                      help="Also check the upgrade from the previous release: a release compose "
                      "ID, a release name (its newest finished release compose) or the SCM URL "
                      "of its document")
    parser.add_option("--arch", metavar="ARCH", help="The arch whose composes are checked")
    parser.add_option("--priority", type="int", metavar="N",
                      help="Task priority offset (below 0: admins only)")


def _release_request(parser, options, args):
    if len(args) != 1:
        parser.error("Exactly one argument (the SCM URL of a strata-release document) is "
                     "required")
    if '://' not in args[0]:
        parser.error("Releases are checked from SCM only: give an SCM URL, not %s" % args[0])
    opts = {}
    for key in ('previous', 'arch', 'priority', 'compose_type'):
        value = getattr(options, key, None)
        if value is not None:
            opts[key] = value
    return args[0], opts


def _release_watch(goptions, session, options, task_id, show):
    """_watch, then, for a task that finished, SHOW(its result)."""
    rc = _watch(goptions, session, options, task_id)
    if rc == 0 and not options.quiet and options.wait is not False:
        info = session.getTaskInfo(task_id)
        if info and info['state'] == koji.TASK_STATES['CLOSED']:
            show(session.getTaskResult(task_id))
    return rc


def _show_release(result):
    print("Release %s %s (%s, %s): no problems, %d module(s)"
          % (result['release'], result['version'], result['date'], result['arch'],
             len(result.get('modules') or {})))
    if result.get('release_id'):
        print("Release compose: %s" % result['release_id'])
        print("Path: %s" % result['path'])


@export_cli
def handle_release_check(goptions, session, args):
    "[build] Check a Strata release (lifecycle, closure, profiles, upgrade path) on a builder"
    usage = get_usage_str("""usage: %prog release-check [options] <scm url>

The SCM URL names the strata-release document after '?':
  git+https://src.example.org/releases.git?f41.yaml#<commit>
The report is the task's output (release-report.txt, release-report.json); any problem
fails the task with every problem in its message.""")
    parser = OptionParser(usage=usage)
    _release_options(parser, goptions, "check")
    (options, args) = parser.parse_args(args)
    src, opts = _release_request(parser, options, args)
    activate_session(session, goptions)
    return _release_watch(goptions, session, options, session.releaseCheck(src, opts),
                          _show_release)


@export_cli
def handle_release_compose(goptions, session, args):
    "[build] Check a Strata release and, if it passes, freeze it into one release compose"
    usage = get_usage_str("""usage: %prog release-compose [options] <scm url>

The release is checked first (as release-check); only a release without problems is
composed: published in Pungi's layout where the builders publish composes and recorded
in Strata's registry. A failed check composes nothing and fails the task.""")
    parser = OptionParser(usage=usage)
    _release_options(parser, goptions, "compose")
    parser.add_option("--compose-type", choices=COMPOSE_TYPES, metavar="TYPE",
                      help="Compose type: %s" % ', '.join(COMPOSE_TYPES))
    (options, args) = parser.parse_args(args)
    src, opts = _release_request(parser, options, args)
    activate_session(session, goptions)
    return _release_watch(goptions, session, options, session.releaseCompose(src, opts),
                          _show_release)
