# Strata: module composes in Koji -- the hub plugin.
#
# Install into the hub's PluginPath (/usr/lib/koji-hub-plugins) and add
# `strata_hub` to `Plugins` in /etc/koji-hub/hub.conf. Configuration:
# /etc/koji-hub/plugins/strata_hub.conf (see strata_hub.conf beside this
# file). The contract with the CLI and builder plugins is
# koji_plugin/README.md.
#
# The plugin stays thin: compose records come from Strata's registry
# through the `strata` extension; the compose itself runs on a builder.

import gzip
import bz2
import logging
import lzma
import os
import re
import xml.etree.ElementTree as ET

import koji
import koji.tasks
from koji.context import context
from koji.daemon import SCM
from koji.plugin import callback, export
import kojihub

import strata

__all__ = ('moduleBuild', 'getModuleCompose', 'listModuleComposes',
           'getLatestModuleCompose', 'moduleComposeImport', 'module_tagged')

CONFIG_FILE = '/etc/koji-hub/plugins/strata_hub.conf'
CONFIG = None

PERMISSION = 'module-build'
TASK_METHOD = 'moduleCompose'
BTYPE = 'module'
COMPOSE_TYPES = ('nightly', 'test', 'ci', 'production')
STATES = ('started', 'finished', 'failed')

logger = logging.getLogger('koji.plugin.strata_hub')

# moduleCompose(src, opts): lets the hub's policy code (channel, build_from_*
# tests) read `src` as it does for a `build` task.
koji.tasks.LEGACY_SIGNATURES.setdefault(TASK_METHOD, [[['src', 'opts'], None, None, (None,)]])


def _config():
    """The plugin's configuration, read once as Koji's own hub plugins do."""
    global CONFIG
    if CONFIG is None:
        cp = koji.read_config_files([(CONFIG_FILE, True)])
        if not cp.has_section('strata'):
            raise koji.GenericError('%s: no [strata] section' % CONFIG_FILE)
        conf = {
            'registry': cp.get('strata', 'registry', fallback=None),
            'allowed_scms': cp.get('strata', 'allowed_scms', fallback=''),
            'channel': cp.get('strata', 'channel', fallback='strata'),
        }
        try:
            conf['priority'] = cp.getint('strata', 'priority', fallback=0)
        except ValueError:
            raise koji.GenericError('%s: [strata] priority is not an integer: %r'
                                    % (CONFIG_FILE, cp.get('strata', 'priority')))
        if not conf['registry']:
            raise koji.GenericError('%s: [strata] registry is not set' % CONFIG_FILE)
        CONFIG = conf
    return CONFIG


def _strata_call(what, fn, *args, **kwargs):
    """Calls the strata extension, turning its errors into Koji faults."""
    try:
        return fn(*args, registry=_config()['registry'], **kwargs)
    except strata.StrataError as e:
        raise koji.GenericError('%s: %s' % (what, e))


# -- moduleBuild ----------------------------------------------------------

# option -> (type(s), description); every key is optional
_OPTION_TYPES = {
    'arches': list,
    'scratch': bool,
    'compose_type': str,
    'priority': int,
    'wait_builds': list,
    'tag': str,
}

_UPLOAD_RE = re.compile(r'^[A-Za-z0-9._+-]+(/[A-Za-z0-9._+-]+)+$')


def _check_opts(opts):
    if opts is None:
        return {}
    if not isinstance(opts, dict):
        raise koji.ParameterError('moduleBuild: opts must be a struct, not %s'
                                  % type(opts).__name__)
    unknown = sorted(set(opts) - set(_OPTION_TYPES))
    if unknown:
        raise koji.ParameterError('moduleBuild: unknown option(s): %s (known: %s)'
                                  % (', '.join(unknown), ', '.join(sorted(_OPTION_TYPES))))
    out = {}
    for key, value in opts.items():
        want = _OPTION_TYPES[key]
        # bool is an int in Python; an int option must not take a bool
        if not isinstance(value, want) or (want is int and isinstance(value, bool)):
            raise koji.ParameterError('moduleBuild: option %s must be %s, not %r'
                                      % (key, want.__name__, value))
        out[key] = value
    if 'arches' in out:
        if not all(isinstance(a, str) for a in out['arches']) or not out['arches']:
            raise koji.ParameterError('moduleBuild: option arches must be a non-empty list '
                                      'of arch names, not %r' % (out['arches'],))
        out['arches'] = koji.parse_arches(' '.join(out['arches']), to_list=True, strict=True)
    if 'compose_type' in out and out['compose_type'] not in COMPOSE_TYPES:
        raise koji.ParameterError('moduleBuild: option compose_type must be one of %s, not %r'
                                  % (', '.join(COMPOSE_TYPES), out['compose_type']))
    if 'wait_builds' in out:
        for nvr in out['wait_builds']:
            if not isinstance(nvr, str):
                raise koji.ParameterError('moduleBuild: option wait_builds must list NVRs, '
                                          'not %r' % (nvr,))
            if not kojihub.get_build(nvr):
                raise koji.GenericError('moduleBuild: no such build: %s (in wait_builds)' % nvr)
    if 'tag' in out and not kojihub.get_tag(out['tag']):
        raise koji.GenericError('moduleBuild: no such tag: %s (option tag)' % out['tag'])
    return out


def _check_src(src, scratch, is_admin):
    if not isinstance(src, str) or not src:
        raise koji.ParameterError('moduleBuild: src must be an SCM URL or an uploaded file, '
                                  'not %r' % (src,))
    if '://' in src:
        try:
            scm = SCM(src)
        except koji.GenericError as e:
            raise koji.GenericError('moduleBuild: invalid SCM URL %s: %s' % (src, e))
        if not scm.module:
            # the part after '?' names the definition inside the repository
            raise koji.GenericError('moduleBuild: %s names no definition file: give it after '
                                    "'?' (scheme://host/repo?path/def.yaml#revision)" % src)
        if not scm.revision:
            raise koji.GenericError('moduleBuild: %s has no revision (#commit)' % src)
        try:
            scm.assert_allowed_by_config(_config()['allowed_scms'])
        except koji.BuildError as e:
            raise koji.ActionNotAllowed('moduleBuild: %s' % e)
        return
    # an uploaded definition, relative to the work directory (koji build's SRPM)
    if not _UPLOAD_RE.match(src) or '..' in src.split('/'):
        raise koji.GenericError('moduleBuild: invalid source %r: neither an SCM URL nor an '
                                'uploaded file (e.g. cli-build/<unique>/apache.yaml)' % src)
    if not scratch and not is_admin:
        raise koji.ActionNotAllowed('moduleBuild: only admins may compose from an uploaded '
                                    'file without --scratch (%s)' % src)
    path = os.path.join(koji.pathinfo.work(), src)
    if not os.path.isfile(path):
        raise koji.GenericError('moduleBuild: no such uploaded file: %s' % src)


@export
def moduleBuild(src, opts=None):
    """Checks a module compose request and creates a moduleCompose task.

    :param str src: SCM URL scheme://host/repo?path/def.yaml#rev, or a
                    file the CLI uploaded (cli-build/<unique>/def.yaml)
    :param dict opts: arches, scratch, compose_type, priority, wait_builds, tag
    :returns int: the task ID
    """
    context.session.assertLogin()
    is_admin = context.session.hasPerm('admin')
    if not is_admin:
        context.session.assertPerm(PERMISSION)
    conf = _config()
    opts = _check_opts(opts)
    _check_src(src, opts.get('scratch', False), is_admin)
    priority = conf['priority'] + opts.get('priority', 0)
    if opts.get('priority', 0) < 0 and not is_admin:
        raise koji.ActionNotAllowed('moduleBuild: only admins may create high-priority tasks '
                                    '(priority %d)' % opts['priority'])
    task_opts = {'channel': conf['channel'], 'priority': koji.PRIO_DEFAULT + priority}
    return kojihub.make_task(TASK_METHOD, [src, opts], **task_opts)


# -- compose records --------------------------------------------------------

@export
def getModuleCompose(compose_id, strict=False):
    """The compose record (as `strata composes show --json`), or None."""
    kojihub.convert_value(compose_id, cast=str, check_only=True)
    rec = _strata_call('getModuleCompose', strata.get_compose, compose_id)
    if rec is None and strict:
        raise koji.GenericError('No such module compose: %s' % compose_id)
    # XML-RPC marshals plain dicts only, not the typed record.
    return rec.to_dict() if rec is not None else None


@export
def listModuleComposes(name=None, stream=None, state=None, limit=None):
    """Compose records, newest first."""
    for key, val in (('name', name), ('stream', stream), ('state', state)):
        if val is not None:
            kojihub.convert_value(val, cast=str, check_only=True)
    if state is not None and state not in STATES:
        raise koji.ParameterError('listModuleComposes: state must be one of %s, not %r'
                                  % (', '.join(STATES), state))
    if limit is not None:
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise koji.ParameterError('listModuleComposes: limit must be a positive integer, '
                                      'not %r' % (limit,))
    recs = _strata_call('listModuleComposes', strata.list_composes, name=name, stream=stream,
                        state=state, limit=limit)
    return [r.to_dict() for r in recs]


@export
def getLatestModuleCompose(name, stream):
    """The last good (finished) compose of NAME:STREAM, or None."""
    kojihub.convert_value(name, cast=str, check_only=True)
    kojihub.convert_value(stream, cast=str, check_only=True)
    rec = _strata_call('getLatestModuleCompose', strata.latest_compose, name, stream)
    return rec.to_dict() if rec is not None else None


# -- import -------------------------------------------------------------------

def _read_modulemd(rec):
    """The modulemd stream document of a finished compose (first arch),
    read from its published repository's repodata."""
    repos = (rec.get('outputs') or {}).get('repos') or {}
    for arch in sorted(repos):
        repo = repos[arch]
        repomd = os.path.join(repo, 'repodata', 'repomd.xml')
        try:
            root = ET.parse(repomd).getroot()
        except (OSError, ET.ParseError) as e:
            raise koji.GenericError('moduleComposeImport: cannot read %s: %s' % (repomd, e))
        ns = {'r': 'http://linux.duke.edu/metadata/repo'}
        for data in root.findall('r:data', ns):
            if data.get('type') != 'modules':
                continue
            href = data.find('r:location', ns).get('href')
            path = os.path.join(repo, href)
            opener = {'.gz': gzip.open, '.xz': lzma.open, '.bz2': bz2.open}.get(
                os.path.splitext(path)[1], open)
            try:
                with opener(path, 'rb') as f:
                    text = f.read().decode('utf-8')
            except (OSError, EOFError, lzma.LZMAError) as e:
                raise koji.GenericError('moduleComposeImport: cannot read %s: %s' % (path, e))
            for doc in re.split(r'(?m)^---\s*$', text):
                if re.search(r'(?m)^document:\s*modulemd\s*$', doc):
                    body = doc.strip()
                    if body.endswith('...'):
                        body = body[:-3].rstrip()
                    return '---\n' + body + '\n...\n'
            raise koji.GenericError('moduleComposeImport: %s holds no modulemd document' % path)
        raise koji.GenericError('moduleComposeImport: %s lists no modules metadata' % repomd)
    raise koji.GenericError('moduleComposeImport: compose %s has no published repository'
                            % rec['id'])


@export
def moduleComposeImport(task_id, compose_id):
    """Creates the Koji build (type `module`) of a finished compose.

    Only the host that runs task `task_id` (an open moduleCompose task) may
    call it. A second import of the same compose returns the same build ID.
    """
    task_id = kojihub.convert_value(task_id, cast=int)
    kojihub.convert_value(compose_id, cast=str, check_only=True)
    host_id = context.session.host_id
    if host_id is None:
        raise koji.ActionNotAllowed('moduleComposeImport: only the build host running task %d '
                                    'may import its compose' % task_id)
    task = kojihub.Task(task_id)
    task.assertHost(host_id)
    info = task.getInfo(request=True)
    if info['method'] != TASK_METHOD:
        raise koji.GenericError('moduleComposeImport: task %d is a %s task, not %s'
                                % (task_id, info['method'], TASK_METHOD))
    src, opts = (list(info['request']) + [None, None])[:2]
    if (opts or {}).get('scratch'):
        raise koji.GenericError('moduleComposeImport: task %d is a scratch compose; scratch '
                                'composes are never imported' % task_id)
    rec = _strata_call('moduleComposeImport', strata.get_compose, compose_id)
    if rec is None:
        raise koji.GenericError('moduleComposeImport: no such module compose: %s' % compose_id)
    if rec['state'] != 'finished':
        raise koji.GenericError('moduleComposeImport: compose %s is %s, only finished composes '
                                'are imported' % (compose_id, rec['state']))
    name = rec['name']
    version = rec['stream'].replace('-', '_')  # as MBS does: no '-' in an NVR's version
    release = '%s.%s' % (rec['version'], rec['context'])
    nvr = '%s-%s-%s' % (name, version, release)
    old = kojihub.get_build({'name': name, 'version': version, 'release': release})
    if old:
        old_id = ((old.get('extra') or {}).get('typeinfo', {}).get(BTYPE) or {}).get(
            'strata_compose_id')
        if old_id == compose_id:
            return old['id']
        raise koji.GenericError('moduleComposeImport: build %s already exists (id %d, from %s), '
                                'compose %s cannot be imported as it'
                                % (nvr, old['id'], old_id or 'outside Strata', compose_id))
    typeinfo = {
        'name': name,
        'stream': rec['stream'],
        'version': str(rec['version']),
        'context': rec['context'],
        'modulemd_str': _read_modulemd(rec),
        'strata_compose_id': compose_id,
    }
    data = {
        'name': name,
        'version': version,
        'release': release,
        'epoch': None,
        'owner': task.getOwner(),
        'task_id': task_id,
        'source': rec.get('scm_ref') or src,
        'state': koji.BUILD_STATES['COMPLETE'],
        'extra': {'typeinfo': {BTYPE: typeinfo}},
    }
    build_id = kojihub.new_build(data, strict=True)
    kojihub.new_typed_build(kojihub.get_build(build_id, strict=True), BTYPE)
    logger.info('imported module compose %s as build %s (id %d, task %d)',
                compose_id, nvr, build_id, task_id)
    return build_id


# -- callbacks -------------------------------------------------------------------

@callback('postTag')
def module_tagged(cbtype, *args, **kws):
    """Notes a module build being tagged. Cheap: reads only the build's own
    extra data, never the registry."""
    build = kws.get('build') or {}
    tag = kws.get('tag') or {}
    module = ((build.get('extra') or {}).get('typeinfo') or {}).get(BTYPE)
    if not module:
        return
    user = (kws.get('user') or {}).get('name')
    logger.info('module build %s (compose %s) tagged into %s by %s',
                build.get('nvr'), module.get('strata_compose_id'), tag.get('name'), user)
