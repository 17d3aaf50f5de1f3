#!/usr/bin/env bash
# Rebuilds the bundled example repositories from the specs below with real
# rpmbuild and createrepo_c: tiny noarch RPMs (Packages/) and their
# repodata, so that the example module can be composed and installed.
#   base       a tiny platform
#   apache     httpd and friends; mod_lua needs lua-libs, which base lacks
#   f40-build  the wider build tag, where lua-libs lives (for suggestions)
#   php        PHP, whose Apache module needs httpd: the php module is a
#              stack on top of the apache module
set -euo pipefail
export SOURCE_DATE_EPOCH=1700000000
here="$(cd "$(dirname "$0")" && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

spec() { # name, then lines of subpackages: "name version release arch|requires|provides"
  local repo=$1; shift
  local s="$work/$repo.spec"
  {
    echo "Name: strata-example-$repo"
    echo "Version: 1"
    echo "Release: 1"
    echo "Summary: example"
    echo "License: MIT"
    echo "BuildArch: noarch"
    echo "AutoReqProv: no"
    echo "%description"
    echo "example"
    for line in "$@"; do
      IFS='|' read -r name ver reqs provs <<<"$line"
      echo "%package -n $name"
      echo "Version: $ver"
      echo "Summary: $name"
      [ -n "$reqs" ] && echo "Requires: $reqs"
      [ -n "$provs" ] && echo "Provides: $provs"
      echo "%description -n $name"
      echo "$name"
      echo "%files -n $name"
    done
  } >"$s"
  mkdir -p "$work/$repo"/{BUILD,RPMS,SOURCES,SPECS,SRPMS,BUILDROOT}
  rpmbuild --quiet --define "_topdir $work/$repo" --define "_buildhost strata-example" \
    --define "use_source_date_epoch_as_buildtime 1" --define "clamp_mtime_to_source_date_epoch 1" \
    -bb "$s" >/dev/null
  rm -rf "$here/repos/$repo"
  mkdir -p "$here/repos/$repo/Packages"
  cp "$work/$repo"/RPMS/noarch/*.rpm "$here/repos/$repo/Packages/"
  createrepo_c --quiet --no-database --revision 1700000000 --set-timestamp-to-revision \
    "$here/repos/$repo" >/dev/null
}

spec base \
  "glibc|2.39||libc.so.6" \
  "bash|5.2|glibc|/bin/sh" \
  "openssl-libs|3.2|glibc|" \
  "pcre2|10.42|glibc|"
spec apache \
  "httpd|2.4.58|httpd-core = 2.4.58, httpd-tools|webserver" \
  "httpd-core|2.4.58|glibc, pcre2, /bin/sh|" \
  "httpd-tools|2.4.58|glibc|" \
  "mod_ssl|2.4.58|httpd-core >= 2.4, openssl-libs >= 3|" \
  "mod_lua|2.4.58|httpd-core, lua-libs >= 5.4|"
spec f40-build \
  "lua-libs|5.4.6|glibc|" \
  "lua|5.4.6|lua-libs = 5.4.6-1|"
spec php \
  "php|8.2.13|php-common = 8.2.13, httpd-core >= 2.4|" \
  "php-common|8.2.13|glibc|" \
  "php-cli|8.2.13|php-common = 8.2.13, pcre2|"
echo "example repositories written under $here/repos"
