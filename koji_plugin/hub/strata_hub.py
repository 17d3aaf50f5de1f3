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

import importlib.metadata
import logging
import os
import re
import shutil

import koji
import koji.tasks
from koji.context import context
from koji.daemon import SCM
from koji.plugin import callback, export, ignore_error
import kojihub

import strata

__all__ = ('moduleBuild', 'getModuleCompose', 'listModuleComposes',
           'getLatestModuleCompose', 'moduleComposeImport', 'module_tagged',
           'artifactBuild', 'artifactComposeImport', 'moduleImpact', 'moduleChain',
           'getModuleChain', 'moduleChainApprove', 'moduleChainResume', 'chain_on_tag',
           'chain_on_repo', 'releaseCheck', 'releaseCompose')

CONFIG_FILE = '/etc/koji-hub/plugins/strata_hub.conf'
CONFIG = None

PERMISSION = 'module-build'
TASK_METHOD = 'moduleCompose'
BTYPE = 'module'
# productmd's compose types, as the core knows them (one list for every front end)
COMPOSE_TYPES = strata.COMPOSE_TYPES
# The arches a hub composes unless strata_hub.conf says otherwise: Fedora's.
DEFAULT_ARCHES = 'aarch64 i686 ppc64le s390x x86_64'
STATES = ('started', 'finished', 'failed')

ARTIFACT_PERMISSION = 'artifact-build'
ARTIFACT_METHOD = 'artifactCompose'
# The content generator artifact builds are imported as (koji add-cg / grant-cg-access)
CONTENT_GENERATOR = 'strata'
# koji.BR_TYPES / CG metadata: what Koji records of the buildroot's host
ARTIFACT_KINDS = ('container', 'ostree', 'iso')
CHAIN_METHOD = 'moduleChain'
RELEASE_CHECK_METHOD = 'releaseCheck'
RELEASE_COMPOSE_METHOD = 'releaseCompose'

logger = logging.getLogger('koji.plugin.strata_hub')

# moduleCompose(src, opts): lets the hub's policy code (channel, build_from_*
# tests) read `src` as it does for a `build` task.
koji.tasks.LEGACY_SIGNATURES.setdefault(TASK_METHOD, [[['src', 'opts'], None, None, (None,)]])
koji.tasks.LEGACY_SIGNATURES.setdefault('moduleChain',
                                        [[['events', 'opts'], None, None, (None,)]])
koji.tasks.LEGACY_SIGNATURES.setdefault(ARTIFACT_METHOD,
                                        [[['src', 'opts'], None, None, (None,)]])
for _method in (RELEASE_CHECK_METHOD, RELEASE_COMPOSE_METHOD):
    koji.tasks.LEGACY_SIGNATURES.setdefault(_method, [[['src', 'opts'], None, None, (None,)]])


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
            'arches': cp.get('strata', 'arches', fallback=DEFAULT_ARCHES).split(),
            # strata.toml with the [chain] catalog and policy, for moduleImpact
            'config': cp.get('strata', 'config', fallback=None),
            # tags whose new builds start a moduleChain (postTag)
            'watch_tags': cp.get('strata', 'watch_tags', fallback='').split(),
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


def _typed_opts(opts, types, what):
    """OPTS (a struct or None) with only keys of TYPES, each of its type."""
    if opts is None:
        return {}
    if not isinstance(opts, dict):
        raise koji.ParameterError('%s: opts must be a struct, not %s'
                                  % (what, type(opts).__name__))
    unknown = sorted(set(opts) - set(types))
    if unknown:
        raise koji.ParameterError('%s: unknown option(s): %s (known: %s)'
                                  % (what, ', '.join(unknown), ', '.join(sorted(types))))
    out = {}
    for key, value in opts.items():
        want = types[key]
        # bool is an int in Python; an int option must not take a bool
        if not isinstance(value, want) or (want is int and isinstance(value, bool)):
            raise koji.ParameterError('%s: option %s must be %s, not %r'
                                      % (what, key, want.__name__, value))
        out[key] = value
    if 'compose_type' in out and out['compose_type'] not in COMPOSE_TYPES:
        raise koji.ParameterError('%s: option compose_type must be one of %s, not %r'
                                  % (what, ', '.join(COMPOSE_TYPES), out['compose_type']))
    return out


def _check_arches(arches, what):
    """ARCHES (a list of names) canonical, each one this hub composes."""
    if not all(isinstance(a, str) for a in arches) or not arches:
        raise koji.ParameterError('%s: option arches must be a non-empty list '
                                  'of arch names, not %r' % (what, arches))
    arches = koji.parse_arches(' '.join(arches), to_list=True, strict=True)
    # refused here, not on the builder after the task was scheduled
    known = _config()['arches']
    unknown = [a for a in arches if a not in known]
    if unknown:
        raise koji.ParameterError('%s: unknown arch(es) %s: this hub composes %s '
                                  '([strata] arches in %s)'
                                  % (what, ', '.join(unknown), ', '.join(known), CONFIG_FILE))
    return arches


def _check_opts(opts):
    out = _typed_opts(opts, _OPTION_TYPES, 'moduleBuild')
    if 'arches' in out:
        out['arches'] = _check_arches(out['arches'], 'moduleBuild')
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


def _relative_repos(path):
    """The repositories of an uploaded definition given as relative paths:
    the upload carries the definition alone, so they cannot be resolved."""
    try:
        definition = strata.validate_definition(path)
    except strata.DefinitionError as e:
        problems = e.args[1] if len(e.args) > 1 else [str(e)]
        raise koji.GenericError('moduleBuild: malformed module definition:\n%s'
                                % '\n'.join(p.replace(path, os.path.basename(path))
                                            for p in problems))
    repos = (definition.get('source') or {}).get('repos') or []
    return [r for r in repos if '://' not in r and not os.path.isabs(r)]


def _check_scm(src, what):
    """An SCM URL naming a definition file and a revision, allowed by the
    plugin's allowed_scms."""
    try:
        scm = SCM(src)
    except koji.GenericError as e:
        raise koji.GenericError('%s: invalid SCM URL %s: %s' % (what, src, e))
    if not scm.module:
        # the part after '?' names the definition inside the repository
        raise koji.GenericError('%s: %s names no definition file: give it after '
                                "'?' (scheme://host/repo?path/def.yaml#revision)" % (what, src))
    if not scm.revision:
        raise koji.GenericError('%s: %s has no revision (#commit)' % (what, src))
    try:
        scm.assert_allowed_by_config(_config()['allowed_scms'])
    except koji.BuildError as e:
        raise koji.ActionNotAllowed('%s: %s' % (what, e))


def _check_src(src, scratch):
    if not isinstance(src, str) or not src:
        raise koji.ParameterError('moduleBuild: src must be an SCM URL or an uploaded file, '
                                  'not %r' % (src,))
    if '://' in src:
        _check_scm(src, 'moduleBuild')
        return
    # an uploaded definition, relative to the work directory (koji build's SRPM)
    if not _UPLOAD_RE.match(src) or '..' in src.split('/'):
        raise koji.GenericError('moduleBuild: invalid source %r: neither an SCM URL nor an '
                                'uploaded file (e.g. cli-build/<unique>/apache.yaml)' % src)
    # The builder composes an uploaded definition as a scratch compose only:
    # a real compose is reproducible from its SCM reference, an upload is not.
    if not scratch:
        raise koji.ActionNotAllowed('moduleBuild: an uploaded definition (%s) makes a scratch '
                                    'compose only: pass scratch (--scratch) or give an SCM URL'
                                    % src)
    path = os.path.join(koji.pathinfo.work(), src)
    if not os.path.isfile(path):
        raise koji.GenericError('moduleBuild: no such uploaded file: %s' % src)
    relative = _relative_repos(path)
    if relative:
        raise koji.GenericError('moduleBuild: %s names repositories by relative path (%s): an '
                                'uploaded definition travels alone, so they cannot be found; '
                                'give URLs or absolute paths the builders see, or compose from '
                                'an SCM URL' % (src, ', '.join(relative)))


@export
def moduleBuild(src, opts=None):
    """Checks a module compose request and creates a moduleCompose task.

    :param str src: SCM URL scheme://host/repo?path/def.yaml#rev, or a
                    file the CLI uploaded (cli-build/<unique>/def.yaml)
    :param dict opts: arches, scratch, compose_type, priority, wait_builds, tag
    :returns int: the task ID
    """
    is_admin = _assert_may(PERMISSION)
    opts = _check_opts(opts)
    _check_src(src, opts.get('scratch', False))
    return _make_task(TASK_METHOD, src, opts, is_admin, 'moduleBuild')


def _assert_may(permission):
    """Logged in with PERMISSION (or admin); whether an admin."""
    context.session.assertLogin()
    is_admin = context.session.hasPerm('admin')
    if not is_admin:
        context.session.assertPerm(permission)
    return is_admin


def _make_task(method, src, opts, is_admin, what):
    """The task METHOD(src, opts) in the plugin's channel, at the
    configured priority plus the option's (below 0: admins only)."""
    conf = _config()
    priority = conf['priority'] + opts.get('priority', 0)
    if opts.get('priority', 0) < 0 and not is_admin:
        raise koji.ActionNotAllowed('%s: only admins may create high-priority tasks '
                                    '(priority %d)' % (what, opts['priority']))
    task_opts = {'channel': conf['channel'], 'priority': koji.PRIO_DEFAULT + priority}
    return kojihub.make_task(method, [src, opts], **task_opts)


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

def _modulemd(rec):
    """{arch: modulemd text} of a finished compose, from its record (the
    core keeps the stream document there; the hub reads no published files)."""
    mmds = rec.get('modulemd') or {}
    if not mmds or not all(isinstance(t, str) and t for t in mmds.values()):
        raise koji.GenericError('moduleComposeImport: compose %s has no modulemd in its record '
                                '(recorded by an older Strata?)' % rec['id'])
    return mmds


def _parse_nevra(nevra):
    """name, epoch, version, release, arch of a record's `name-epoch:version-release.arch`."""
    try:
        nevr, arch = nevra.rsplit('.', 1)
        rest, release = nevr.rsplit('-', 1)
        name, ev = rest.rsplit('-', 1)
        epoch, version = ev.split(':', 1) if ':' in ev else ('0', ev)
        return name, int(epoch), version, release, arch
    except ValueError:
        raise koji.GenericError('moduleComposeImport: %r is not name-epoch:version-release.arch'
                                % (nevra,))


def _content_builds(rec):
    """The Koji builds of the compose's packages (IDs, sorted) and the
    packages Koji has no build for (from repositories outside Koji)."""
    builds, foreign = set(), []
    for arch in sorted(rec.get('packages') or {}):
        for nevra in rec['packages'][arch]:
            name, epoch, version, release, rarch = _parse_nevra(nevra)
            rpm = kojihub.get_rpm({'name': name, 'version': version, 'release': release,
                                   'arch': rarch})
            if (rpm and not rpm.get('external_repo_id')
                    and (rpm.get('epoch') or 0) == epoch):
                builds.add(rpm['build_id'])
            else:
                foreign.append(nevra)
    return sorted(builds), foreign


def module_tag_name(rec):
    """The content tag of a module build, named as MBS named them."""
    return 'module-%s-%s-%s-%s' % (rec['name'], rec['stream'], rec['version'], rec['context'])


def _tag_content(rec, owner_id):
    """Creates the module's content tag and tags the Koji builds of its
    packages into it, as MBS did; returns the tag name."""
    name = module_tag_name(rec)
    tag = kojihub.get_tag(name)
    if tag is None:
        kojihub._create_tag(name, arches=' '.join(sorted(rec.get('packages') or {})))
        tag = kojihub.get_tag(name, strict=True)
    user = kojihub.get_user(owner_id, strict=True)
    builds, foreign = _content_builds(rec)
    # Koji lists a tag's builds only for packages in its package list (as
    # MBS did, the packages go in first)
    listed = set(p['package_name'] for p in
                 kojihub.readPackageList(tagID=tag['id'], inherit=True).values())
    tagged = set(b['build_id'] for b in kojihub.readTaggedBuilds(tag['id']))
    for build_id in builds:
        build = kojihub.get_build(build_id, strict=True)
        if build['name'] not in listed:
            kojihub._direct_pkglist_add(tag['id'], build['name'], user['id'], block=False,
                                        extra_arches=None, force=False, update=False)
            listed.add(build['name'])
        if build_id not in tagged:
            kojihub._direct_tag_build(tag, build, user)
    if foreign:
        logger.info('module compose %s: %d package(s) are not Koji builds, so not in tag %s: %s',
                    rec['id'], len(foreign), name, ', '.join(foreign))
    return name


def _import_modulemd(build, mmds, task_id):
    """modulemd.txt and modulemd.<arch>.txt as archives of type `module`
    (under the build's files/module/), where MBS put them and stock Pungi
    reads them (listArchives, pathinfo.typedir)."""
    staging = os.path.join(koji.pathinfo.work(), 'strata-import', str(task_id), str(build['id']))
    if os.path.exists(staging):
        shutil.rmtree(staging)
    os.makedirs(staging)
    files = [('modulemd.txt', mmds[sorted(mmds)[0]])]
    files += [('modulemd.%s.txt' % arch, mmds[arch]) for arch in sorted(mmds)]
    try:
        for fname, text in files:
            path = os.path.join(staging, fname)
            with open(path, 'w', encoding='utf-8') as f:
                f.write(text)
            kojihub.import_archive(path, build, BTYPE, {})
    finally:
        shutil.rmtree(staging, ignore_errors=True)


@export
def moduleComposeImport(task_id, compose_id):
    """Creates the Koji build (type `module`) of a finished compose.

    Only the host that runs task `task_id` (an open moduleCompose task) may
    call it. A second import of the same compose returns the same build ID.
    """
    task_id = kojihub.convert_value(task_id, cast=int)
    kojihub.convert_value(compose_id, cast=str, check_only=True)
    task, src, opts = _own_open_task(task_id, TASK_METHOD, 'moduleComposeImport')
    if opts.get('scratch'):
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
    mmds = _modulemd(rec)
    owner = task.getOwner()
    typeinfo = {
        'name': name,
        'stream': rec['stream'],
        'version': str(rec['version']),
        'context': rec['context'],
        'content_koji_tag': _tag_content(rec, owner),
        'modulemd_str': mmds[sorted(mmds)[0]],
        'strata_compose_id': compose_id,
    }
    data = {
        'name': name,
        'version': version,
        'release': release,
        'epoch': None,
        'owner': owner,
        'task_id': task_id,
        'source': rec.get('scm_ref') or src,
        'state': koji.BUILD_STATES['COMPLETE'],
        'extra': {'typeinfo': {BTYPE: typeinfo}},
    }
    build_id = kojihub.new_build(data, strict=True)
    build = kojihub.get_build(build_id, strict=True)
    kojihub.new_typed_build(build, BTYPE)
    _import_modulemd(build, mmds, task_id)
    logger.info('imported module compose %s as build %s (id %d, task %d)',
                compose_id, nvr, build_id, task_id)
    return build_id


# -- artifacts (issue 15) ---------------------------------------------------------

_ARTIFACT_OPTION_TYPES = {
    'arch': str,
    'scratch': bool,
    'compose_type': str,
    'priority': int,
    'with_composes': list,
}


def _check_artifact_opts(opts):
    out = _typed_opts(opts, _ARTIFACT_OPTION_TYPES, 'artifactBuild')
    if 'arch' in out:
        # one artifact compose builds one arch
        out['arch'] = _check_arches([out['arch']], 'artifactBuild')[0]
    for cid in out.get('with_composes', []):
        if not isinstance(cid, str):
            raise koji.ParameterError('artifactBuild: option with_composes must list compose '
                                      'IDs, not %r' % (cid,))
        rec = _strata_call('artifactBuild', strata.get_compose, cid)
        if rec is None:
            raise koji.GenericError('artifactBuild: no such compose: %s (in with_composes)'
                                    % cid)
        if rec['state'] != 'finished':
            raise koji.GenericError('artifactBuild: compose %s is %s; only finished composes '
                                    'can be pinned (with_composes)' % (cid, rec['state']))
    return out


@export
def artifactBuild(src, opts=None):
    """Checks an artifact build request and creates an artifactCompose task.

    :param str src: SCM URL scheme://host/repo?path/artifact.yaml#rev (an
                    artifact comes from static configuration in SCM only)
    :param dict opts: arch, scratch, compose_type, priority, with_composes
    :returns int: the task ID
    """
    is_admin = _assert_may(ARTIFACT_PERMISSION)
    opts = _check_artifact_opts(opts)
    if not isinstance(src, str) or '://' not in src:
        raise koji.ParameterError('artifactBuild: src must be an SCM URL '
                                  '(scheme://host/repo?path/artifact.yaml#revision), not %r'
                                  % (src,))
    _check_scm(src, 'artifactBuild')
    return _make_task(ARTIFACT_METHOD, src, opts, is_admin, 'artifactBuild')


def artifact_nvr(rec):
    """name, version, release of an artifact compose's Koji build: the
    artifact's name, the compose date, and respin, compose type and arch
    (one compose builds one arch; the compose ID has all of them, so
    builds and composes map one to one)."""
    return (rec['name'], rec['date'],
            '%s.%s.%s' % (rec['respin'], rec['compose_type'], rec['stream']))


def _own_open_task(task_id, method, what):
    """The request (src, opts) of open task TASK_ID of METHOD, which this
    session's host runs."""
    host_id = context.session.host_id
    if host_id is None:
        raise koji.ActionNotAllowed('%s: only the build host running task %d may import its '
                                    'compose' % (what, task_id))
    task = kojihub.Task(task_id)
    task.assertHost(host_id)
    info = task.getInfo(request=True)
    if info['method'] != method:
        raise koji.GenericError('%s: task %d is a %s task, not %s'
                                % (what, task_id, info['method'], method))
    src, opts = (list(info['request']) + [None, None])[:2]
    return task, src, opts or {}


def _check_outputs(outputs, expected):
    """The builder's list of uploaded files: exactly EXPECTED's names, each
    {filename, filesize, checksum} (sha256)."""
    if not isinstance(outputs, list) or not all(isinstance(o, dict) for o in outputs):
        raise koji.ParameterError('artifactComposeImport: outputs must be a list of structs')
    names = sorted(o.get('filename') for o in outputs)
    if names != sorted(expected):
        raise koji.GenericError('artifactComposeImport: outputs %s, expected %s'
                                % (', '.join(map(str, names)), ', '.join(sorted(expected))))
    for o in outputs:
        if set(o) != {'filename', 'filesize', 'checksum'}:
            raise koji.ParameterError('artifactComposeImport: output %s must have filename, '
                                      'filesize and checksum, not %s'
                                      % (o['filename'], ', '.join(sorted(o))))
        if isinstance(o['filesize'], bool) or not isinstance(o['filesize'], int):
            raise koji.ParameterError('artifactComposeImport: output %s: filesize %r'
                                      % (o['filename'], o['filesize']))
        if not isinstance(o['checksum'], str) or not re.match(r'^[0-9a-f]{64}$', o['checksum']):
            raise koji.ParameterError('artifactComposeImport: output %s: checksum must be a '
                                      'sha256 hex digest, not %r' % (o['filename'], o['checksum']))


def artifact_files(rec):
    """The files an artifact compose's Koji build holds: the image itself
    (the OCI image layout or the ostree repository as one tar, the ISO) and
    productmd's images.json when the compose wrote one; the builder names
    them so."""
    base = '%s-%s' % (rec['name'], rec['stream'])
    image = {'container': base + '.oci.tar', 'ostree': base + '.ostree.tar',
             'iso': base + '.iso'}[rec['artifact']]
    return image, base + '.images.json'


def _cg_metadata(rec, src, task_id, owner, outputs):
    """Koji content generator metadata (version 0) for an artifact compose,
    from its record: a build of type image, one buildroot listing the
    Koji RPMs installed as components and the input composes in its extra
    data, and the outputs of type image."""
    name, version, release = artifact_nvr(rec)
    arch = rec['stream']
    inputs = rec.get('inputs') or []
    composes = [i['ident'] for i in inputs if i.get('kind') == 'compose']
    platform = [i['ident'] for i in inputs if i.get('kind') == 'platform']
    components = []
    for nevra in (rec.get('packages') or {}).get(arch, []):
        pname, epoch, pver, prel, parch = _parse_nevra(nevra)
        rpm = kojihub.get_rpm({'name': pname, 'version': pver, 'release': prel,
                               'arch': parch})
        # only Koji's own RPMs: CG_Importer refuses external ones and
        # compares sigmd5 with Koji's payload hash
        if rpm and not rpm.get('external_repo_id') and (rpm.get('epoch') or 0) == epoch:
            components.append({'type': 'rpm', 'name': pname, 'version': pver,
                               'release': prel, 'epoch': rpm.get('epoch'), 'arch': parch,
                               'sigmd5': rpm.get('payloadhash'), 'signature': None})
    image = {
        'strata_compose_id': rec['id'],
        'artifact': rec['artifact'],
        'build_id': (rec.get('outputs') or {}).get('build_id'),
        'input_composes': composes,
        'platform_checksums': platform,
        'definition_digest': rec.get('definition_digest'),
    }
    kinds = {'container': 'oci-archive', 'ostree': 'ostree-commit', 'iso': 'iso'}
    output = []
    for o in outputs:
        is_json = o['filename'].endswith('.json')
        output.append({
            'buildroot_id': 1,
            'filename': o['filename'],
            'filesize': o['filesize'],
            'arch': arch,
            'checksum': o['checksum'],
            'checksum_type': 'sha256',
            'type': 'json' if is_json else 'image',
            'extra': {'image': {'arch': arch},
                      'strata': {'content': 'images.json' if is_json
                                 else kinds[rec['artifact']]}},
        })
    return {
        'metadata_version': 0,
        'build': {
            'name': name, 'version': version, 'release': release,
            'source': rec.get('scm_ref') or src,
            'start_time': rec['started_at'], 'end_time': rec['finished_at'],
            'owner': kojihub.get_user(owner, strict=True)['name'],
            'task_id': task_id,
            'extra': {'typeinfo': {'image': image}},
        },
        'buildroots': [{
            'id': 1,
            'host': {'os': 'linux', 'arch': arch},
            'content_generator': {'name': CONTENT_GENERATOR,
                                  'version': importlib.metadata.version('strata')},
            'container': {'type': 'none', 'arch': arch},
            'tools': [{'name': 'strata', 'version': importlib.metadata.version('strata')}],
            'components': components,
            'extra': {'strata': {'input_composes': composes, 'platform_checksums': platform,
                                 'compose_id': rec['id']}},
        }],
        'output': output,
    }


def _check_chain_step(task, step, rec, what):
    """TASK (an artifactCompose subtask of a moduleChain task, with its
    opts' chain STEP) made compose REC: the chain the registry records
    has, at the step's position, this artifact and arch, and its compose
    is REC."""
    info = task.getInfo()
    parent = info.get('parent')
    if parent is None or kojihub.Task(parent).getInfo()['method'] != CHAIN_METHOD:
        raise koji.GenericError('%s: task %d has a chain step but is no subtask of a %s task'
                                % (what, task.id, CHAIN_METHOD))
    chain_id = step.get('chain_id') if isinstance(step, dict) else None
    if not isinstance(chain_id, str):
        raise koji.GenericError('%s: task %d names no chain (chain option %r)'
                                % (what, task.id, step))
    found = _strata_call(what, strata.get_chain, chain_id)
    if found is None:
        raise koji.GenericError('%s: task %d names chain %s, which the registry does not have'
                                % (what, task.id, chain_id))
    steps = found.to_dict()['steps']
    position = step.get('position')
    chained = (steps[position] if isinstance(position, int) and not isinstance(position, bool)
               and 0 <= position < len(steps) else None)
    if (chained is None or (chained['name'], chained['stream']) != (rec['name'], rec['stream'])
            or chained.get('compose_id') != rec['id']):
        # numbered from 1, as `strata chain show` and module-chain-info number steps
        shown = (position + 1 if isinstance(position, int) and not isinstance(position, bool)
                 else repr(position))
        raise koji.GenericError('%s: compose %s is not step %s of chain %s (task %d)'
                                % (what, rec['id'], shown, chain_id, task.id))


@export
def artifactComposeImport(task_id, compose_id, outputs):
    """Imports a finished artifact compose as a Koji build of type image,
    through Koji's content generator import (CG `strata`, which the host
    needs access to: koji grant-cg-access HOST strata).

    Only the host that runs task `task_id` (an open artifactCompose task,
    not scratch, that made the compose from its SCM URL, or for a step of
    a moduleChain, the compose the chain records for that step) may call
    it; the
    files are those it uploaded to the task (outputs: [{filename, filesize,
    checksum}], checked again by the import). A second import of the same
    compose returns the same build ID.
    """
    task_id = kojihub.convert_value(task_id, cast=int)
    kojihub.convert_value(compose_id, cast=str, check_only=True)
    what = 'artifactComposeImport'
    task, src, opts = _own_open_task(task_id, ARTIFACT_METHOD, what)
    if opts.get('scratch'):
        raise koji.GenericError('%s: task %d is a scratch build; scratch builds are never '
                                'imported' % (what, task_id))
    rec = _strata_call(what, strata.get_compose, compose_id)
    if rec is None:
        raise koji.GenericError('%s: no such compose: %s' % (what, compose_id))
    rec = rec.to_dict()
    if rec.get('artifact') not in ARTIFACT_KINDS:
        raise koji.GenericError('%s: compose %s is a module compose, not an artifact'
                                % (what, compose_id))
    if rec['state'] != 'finished':
        raise koji.GenericError('%s: compose %s is %s, only finished composes are imported'
                                % (what, compose_id, rec['state']))
    if opts.get('chain') is not None:
        # a moduleChain's step: built from the chain's catalog, not from src
        _check_chain_step(task, opts['chain'], rec, what)
    elif rec.get('scm_ref') != src:
        raise koji.GenericError('%s: compose %s was made from %s, not from task %d\'s %s'
                                % (what, compose_id, rec.get('scm_ref'), task_id, src))
    name, version, release = artifact_nvr(rec)
    old = kojihub.get_build({'name': name, 'version': version, 'release': release})
    if old:
        old_id = ((old.get('extra') or {}).get('typeinfo', {}).get('image') or {}).get(
            'strata_compose_id')
        if old_id == compose_id:
            return old['id']
        raise koji.GenericError('%s: build %s already exists (id %d, from %s), compose %s '
                                'cannot be imported as it'
                                % (what, old['nvr'], old['id'], old_id or 'outside Strata',
                                   compose_id))
    image, images_json = artifact_files(rec)
    # images.json: written for container and ISO composes, not ostree
    expected = [image] + ([images_json] if any(o.get('filename') == images_json
                                               for o in outputs or []) else [])
    _check_outputs(outputs, expected)
    metadata = _cg_metadata(rec, src, task_id, task.getOwner(), outputs)
    build = kojihub.cg_import(metadata, koji.pathinfo.taskrelpath(task_id))
    logger.info('imported artifact compose %s as build %s (id %d, task %d)',
                compose_id, build['nvr'], build['id'], task_id)
    return build['id']


# -- chains (issue 13) ---------------------------------------------------------------

_EVENT_KEYS = ('builds', 'tags', 'composes')


def _check_events(events, what):
    """EVENTS: {builds, tags, composes} lists of strings, at least one; every
    build NVR a Koji build, every tag a Koji tag."""
    if not isinstance(events, dict) or set(events) - set(_EVENT_KEYS) or not any(
            events.values()):
        raise koji.ParameterError('%s: events must map some of %s to lists, not %r'
                                  % (what, ', '.join(_EVENT_KEYS), events))
    for key, values in events.items():
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            raise koji.ParameterError('%s: events %s must be a list of strings, not %r'
                                      % (what, key, values))
    for nvr in events.get('builds', []):
        if not kojihub.get_build(nvr):
            raise koji.GenericError('%s: no such build: %s' % (what, nvr))
    for tag in events.get('tags', []):
        if not kojihub.get_tag(tag):
            raise koji.GenericError('%s: no such tag: %s' % (what, tag))
    return {k: list(v) for k, v in events.items() if v}


@export
def moduleImpact(events):
    """What EVENTS ({builds: [NVR], tags: [TAG], composes: [ID]}) make stale
    in the catalog of the hub's strata.toml ([strata] config): the plan as
    `strata impact` prints it (text) and as data (plan). Composes nothing."""
    events = _check_events(events, 'moduleImpact')
    conf = _config()
    if not conf['config']:
        raise koji.GenericError('moduleImpact: [strata] config (a strata.toml with the [chain] '
                                'catalog) is not set in %s' % CONFIG_FILE)
    found = _strata_call('moduleImpact', strata.impact, builds=events.get('builds'),
                         tags=events.get('tags'), composes=events.get('composes'),
                         config=conf['config'])
    return {'text': found.to_text(), 'plan': found.to_dict()}


def _chain_task(events, opts, owner=None):
    task_opts = {'channel': _config()['channel'],
                 'priority': koji.PRIO_DEFAULT + _config()['priority']}
    if owner is not None:
        task_opts['owner'] = owner
    return kojihub.make_task(CHAIN_METHOD, [events, opts], **task_opts)


@export
def moduleChain(events, opts=None):
    """Creates a moduleChain task for EVENTS (as moduleImpact takes them):
    the builder recomposes what they make stale, bottom-up, each step a
    moduleCompose subtask. opts: tag (wait for the builds in its repo),
    compose_type. Returns the task ID."""
    _assert_may(PERMISSION)
    events = _check_events(events, 'moduleChain')
    opts = _typed_opts(opts, {'tag': str, 'compose_type': str}, 'moduleChain')
    if 'tag' in opts and not kojihub.get_tag(opts['tag']):
        raise koji.GenericError('moduleChain: no such tag: %s (option tag)' % opts['tag'])
    return _chain_task(events, opts)


@export
def getModuleChain(chain_id):
    """The chain as the registry records it (`strata chain show --json`), or None."""
    kojihub.convert_value(chain_id, cast=str, check_only=True)
    found = _strata_call('getModuleChain', strata.get_chain, chain_id)
    return found.to_dict() if found is not None else None


def _known_chain(chain_id, what):
    """The chain CHAIN_ID as the registry records it (a dict); a fault naming it when
    there is none."""
    kojihub.convert_value(chain_id, cast=str, check_only=True)
    found = _strata_call(what, strata.get_chain, chain_id)
    if found is None:
        raise koji.GenericError('%s: no such chain: %s' % (what, chain_id))
    return found.to_dict()


@export
def moduleChainApprove(chain_id, steps):
    """Approves waiting steps of chain CHAIN_ID, each `name:stream` (as
    `strata chain approve`), recorded as approved by the logged-in user;
    module-build permission, as moduleChain. A step that is not waiting
    for approval is refused, naming it, and nothing after it is approved.
    Approving composes nothing: moduleChainResume continues the chain.
    Returns the chain (getModuleChain's)."""
    what = 'moduleChainApprove'
    _assert_may(PERMISSION)
    if (not isinstance(steps, list) or not steps
            or not all(isinstance(s, str) and ':' in s for s in steps)):
        raise koji.ParameterError('%s: steps must be a non-empty list of name:stream, not %r'
                                  % (what, steps))
    _known_chain(chain_id, what)
    user = kojihub.get_user(context.session.user_id, strict=True)['name']
    for step in steps:
        _strata_call('%s: %s' % (what, step), strata.approve_chain_step, chain_id, step,
                     by=user)
        logger.info('chain %s: %s approved by %s', chain_id, step, user)
    return getModuleChain(chain_id)


@export
def moduleChainResume(chain_id, opts=None):
    """Creates a moduleChain task that continues the recorded chain
    CHAIN_ID (as `strata chain resume`): its approved steps, and those a
    stopped or killed task left; what is composed already is not composed
    again. module-build permission. opts: compose_type. A finished or
    failed chain has nothing to continue and is refused. Returns the task ID."""
    what = 'moduleChainResume'
    _assert_may(PERMISSION)
    opts = _typed_opts(opts, {'compose_type': str}, what)
    chain = _known_chain(chain_id, what)
    if chain['state'] in ('finished', 'failed'):
        raise koji.GenericError('%s: chain %s is %s: nothing to resume'
                                % (what, chain_id, chain['state']))
    opts['resume'] = chain_id
    return _chain_task({}, opts)


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


def _queue_consumer(owner):
    """The moduleChain task that will take the queued events: one that has
    not started yet (FREE or ASSIGNED: it takes whatever is queued when it
    runs), else a new one owned by OWNER; (task ID, whether new). A
    consumer that has started may have taken its events already, so it
    does not count: one more consumer at worst finds the queue empty, and
    an older one sleeping through a debounce window ends when it sees the
    newer one (the builder's _sleep_until), so only one sleeps."""
    states = [koji.TASK_STATES['FREE'], koji.TASK_STATES['ASSIGNED']]
    for task in kojihub.RootExports().listTasks(
            opts={'method': CHAIN_METHOD, 'state': states, 'decode': True}):
        request = list(task.get('request') or [])
        if len(request) > 1 and isinstance(request[1], dict) and request[1].get('pending'):
            return task['id'], False
    opts = {'pending': True, 'tags': list(_config()['watch_tags'])}
    return _chain_task({}, opts, owner=owner), True


@callback('postTag')
@ignore_error
def chain_on_tag(cbtype, *args, **kws):
    """A build tagged into a watched tag ([strata] watch_tags) is queued as
    an event in the registry (strata.submit_event), and one moduleChain
    task takes the queue (_queue_consumer): a burst of taggings becomes
    one chain, after the policy's debounce, as `strata chain run
    --pending` makes it. Runs in the tagging's transaction, so it stays
    cheap: the impact is computed by the task on a builder once the tag's
    repo has the builds (Koji's repo is regenerated after this
    transaction). The queue is Strata's registry, not Koji's database: an
    event of a tagging that rolls back stays queued, and the consumer,
    finding the build in no watched tag, plans it against the repo as it
    is (nothing changed). Module and image builds are results of
    composes, not their inputs. An error here (a broken configuration, a
    full queue) is logged and never fails the tagging (ignore_error)."""
    tag = kws.get('tag') or {}
    build = kws.get('build') or {}
    conf = _config()
    if tag.get('name') not in conf['watch_tags']:
        return
    if ((build.get('extra') or {}).get('typeinfo') or {}).keys() & {BTYPE, 'image'}:
        return
    nvr = build.get('nvr') or '%(name)s-%(version)s-%(release)s' % build
    seqs = _strata_call('chain_on_tag', strata.submit_event, builds=[nvr],
                        config=conf['config'])
    owner = (kws.get('user') or {}).get('id') or context.session.user_id
    task_id, new = _queue_consumer(owner)
    logger.info('build %s tagged into %s: queued as event %s, taken by %s moduleChain task %d',
                nvr, tag['name'], ', '.join(map(str, seqs)), 'new' if new else 'waiting',
                task_id)


# -- releases (issue 14) -------------------------------------------------------------

_RELEASE_OPTION_TYPES = {
    'arch': str,
    'previous': str,
    'priority': int,
}
# a release compose ID or a release name: what `strata release check --from`
# looks up in the registry. Never a path: a builder's files are not the
# caller's to name (a previous document comes by SCM URL instead).
_RELEASE_NAME_RE = re.compile(r'^[A-Za-z0-9][A-Za-z0-9._+-]*$')


def _check_release_request(src, opts, types, what):
    """OPTS of a release task checked (arch one this hub composes; previous
    an allowed SCM URL, or a release compose ID or name); SRC an allowed
    SCM URL naming the release document."""
    opts = _typed_opts(opts, types, what)
    if 'arch' in opts:
        opts['arch'] = _check_arches([opts['arch']], what)[0]
    previous = opts.get('previous')
    if previous is not None:
        if '://' in previous:
            _check_scm(previous, what)
        elif (not _RELEASE_NAME_RE.match(previous)
              or previous.endswith(('.yaml', '.yml'))):
            raise koji.ParameterError(
                '%s: option previous must be a release compose ID, a release name or the SCM '
                'URL of the previous release document, not %r' % (what, previous))
    if not isinstance(src, str) or '://' not in src:
        raise koji.ParameterError('%s: src must be the SCM URL of a strata-release document '
                                  '(scheme://host/repo?path/release.yaml#revision), not %r'
                                  % (what, src))
    _check_scm(src, what)
    return opts


@export
def releaseCheck(src, opts=None):
    """Checks a release check request and creates a releaseCheck task: the
    builder checks out the release document and runs `strata release
    check` on it (the report is the task's output; problems fail the task).

    :param str src: SCM URL scheme://host/repo?path/release.yaml#rev
    :param dict opts: arch, previous (the upgrade path from it: a release
                      compose ID, a release name or an SCM URL), priority
    :returns int: the task ID
    """
    what = 'releaseCheck'
    is_admin = _assert_may(PERMISSION)
    opts = _check_release_request(src, opts, _RELEASE_OPTION_TYPES, what)
    return _make_task(RELEASE_CHECK_METHOD, src, opts, is_admin, what)


@export
def releaseCompose(src, opts=None):
    """Checks a release compose request and creates a releaseCompose task:
    the builder checks the release as releaseCheck does and, only when the
    check finds no problem, freezes it into one release compose, published
    in Pungi's layout under the builders' `out` and recorded in the shared
    registry (`strata release compose`).

    :param str src: SCM URL scheme://host/repo?path/release.yaml#rev
    :param dict opts: arch, previous, priority (as releaseCheck), compose_type
    :returns int: the task ID
    """
    what = 'releaseCompose'
    is_admin = _assert_may(PERMISSION)
    opts = _check_release_request(src, opts, dict(_RELEASE_OPTION_TYPES, compose_type=str),
                                  what)
    return _make_task(RELEASE_COMPOSE_METHOD, src, opts, is_admin, what)


@callback('postRepoDone')
@ignore_error
def chain_on_repo(cbtype, *args, **kws):
    """A new repo of a watched tag ([strata] watch_tags; host.repoDone's
    callback: repo (repo_info, as it was before it was made ready), data,
    expire) is queued as a repository event (strata.submit_event), and one
    moduleChain task takes the queue, as for a tagging (_queue_consumer).
    A build event waits in the queue until a repository of the catalog
    has its build (the core holds it back at most [chain] repo_wait); the repo
    that brings it makes it plannable, and this event makes sure a
    consumer looks at once. The event is also a change of a source or
    platform repository in its own right: every module is checked against
    it. An expired (legacy) or dist repo changes nothing Strata reads.
    The consumer is owned by the owner of the task that made the repo
    (kojira's newRepo), else by the host's user. Never fails repoDone
    (ignore_error)."""
    repo = kws.get('repo') or {}
    conf = _config()
    if repo.get('tag_name') not in conf['watch_tags'] or kws.get('expire') or repo.get('dist'):
        return
    location = koji.pathinfo.repo(repo['id'], repo['tag_name'])
    seqs = _strata_call('chain_on_repo', strata.submit_event, repos=[location],
                        config=conf['config'])
    owner = None
    if repo.get('task_id'):
        owner = kojihub.Task(repo['task_id']).getOwner()
    task_id, new = _queue_consumer(owner or context.session.user_id)
    logger.info('repo %s of %s done: queued as event %s, taken by %s moduleChain task %d',
                repo['id'], repo['tag_name'], ', '.join(map(str, seqs)),
                'new' if new else 'waiting', task_id)
