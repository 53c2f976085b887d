#!/bin/bash
# `meson install --destdir` of a configured build lays out a Debian-style system (docs/manager.md, "Running it
# as a service"): the manager in sbindir, the CLI in bindir, no agent unless -Dagent=enabled, the systemd unit
# (which `systemd-analyze verify` accepts, offline), its environment file naming every MANAGER_* variable,
# tmpfiles.d, man pages, bash completion, templates and policies in datadir; the installed programs hold no
# path of the source tree.
#   tests/build/install-layout.sh BUILD_DIR      (the `build` suite runs it on its own build; exit 0 = passed)
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
build=$(cd "${1:?usage: install-layout.sh BUILD_DIR}" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0
fail() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }
ok() { echo "ok: $*"; }

meson install -C "$build" --destdir "$tmp/dest" --no-rebuild --quiet > "$tmp/install.log" 2>&1 ||
    { cat "$tmp/install.log" >&2; echo "FAIL: meson install" >&2; exit 1; }

# the build's directories, absolute (meson joins a relative one to the prefix)
eval "$(meson introspect --buildoptions "$build" | python3 -c '
import json, os, sys
o = {x["name"]: x["value"] for x in json.load(sys.stdin)}
p = o["prefix"]
for k in ("prefix", "bindir", "sbindir", "datadir", "mandir", "sysconfdir"):
    print("%s=%s" % (k, os.path.join(p, o[k])))
print("agent_opt=%s" % o["agent"])
print("unitdir=%s" % (o["systemdunitdir"] or os.path.join(p, "lib/systemd/system")))
')"
d=$tmp/dest
unit=$d$unitdir/covirt-manager.service
env_file=$d$sysconfdir/covirt/covirt-manager.env

for f in "$sbindir/covirt-manager" "$bindir/covirt"; do
    [ -x "$d$f" ] && ok "$f" || fail "$f is not installed"
done
[ ! -e "$d$bindir/covirt-manager" ] || fail "covirt-manager is also in bindir"
agents=$(find "$d" -name 'covirt-agent*' ! -path '*/bash-completion/*' ! -path '*/man/*')
if [ "$agent_opt" = enabled ]; then
    [ -x "$d$sbindir/covirt-agent" ] && [ -x "$d$sbindir/covirt-agent-archive" ] && ok "agent in sbindir (-Dagent=enabled)" ||
        fail "-Dagent=enabled installs no agent in $sbindir"
else
    [ -z "$agents" ] && ok "no agent installed (-Dagent=$agent_opt)" || fail "the agent is installed without -Dagent=enabled: $agents"
fi
for f in "$unit" "$env_file" "$d$prefix/lib/tmpfiles.d/covirt.conf" "$d$mandir/man1/covirt.1" \
         "$d$mandir/man8/covirt-manager.8" "$d$datadir/bash-completion/completions/covirt" \
         "$d$datadir/bash-completion/completions/covirt-manager" "$d$datadir/covirt/domain-templates/vtpm.xml" \
         "$d$datadir/covirt/domain-templates/sev-snp.xml" "$d$datadir/covirt/domain-templates/tdx.xml" \
         "$d$datadir/covirt/policies/sev-snp-example.json"; do
    [ -e "$f" ] && ok "${f#"$d"}" || fail "${f#"$d"} is not installed"
done
grep -q '^\.TH "COVIRT-MANAGER" 8 ' "$d$mandir/man8/covirt-manager.8" || fail "covirt-manager.8 is not a man page"

# the unit: notify, the env file optional, the installed program
grep -qx 'Type=notify' "$unit" || fail "the unit is not Type=notify"
grep -qx "EnvironmentFile=-$sysconfdir/covirt/covirt-manager.env" "$unit" || fail "the unit's EnvironmentFile"
grep -qx "ExecStart=$sbindir/covirt-manager" "$unit" || fail "the unit's ExecStart"
# offline: a root holding the install and the host's own units (sysinit.target…); any message is a failure
mkdir -p "$tmp/root/usr/lib/systemd"
cp -a "$d/." "$tmp/root/"
cp -a /lib/systemd/system "$tmp/root/usr/lib/systemd/" 2>/dev/null || cp -a /usr/lib/systemd/system "$tmp/root/usr/lib/systemd/"
if out=$(systemd-analyze verify --man=no --generators=no --root="$tmp/root" covirt-manager.service 2>&1) && [ -z "$out" ]; then
    ok "systemd-analyze verify covirt-manager.service"
else
    fail "systemd-analyze verify: $out"
fi
# tmpfiles.d: systemd-tmpfiles creates the directories in the root
if systemd-tmpfiles --root="$tmp/root" --create covirt.conf > "$tmp/tmpfiles.log" 2>&1 &&
   [ -d "$tmp/root/var/log/covirt" ] && [ -d "$tmp/root/var/lib/covirt/hal" ] && [ -d "$tmp/root$sysconfdir/covirt" ]; then
    ok "systemd-tmpfiles --create covirt.conf"
else
    fail "systemd-tmpfiles: $(cat "$tmp/tmpfiles.log")"
fi

# the env file names every MANAGER_* variable the manager and the renderer read, each with its default
missing=
for v in $(grep -ho '"MANAGER_[A-Z0-9_]*"' "$top"/src/manager/*.c "$top"/src/conf/*.c | tr -d '"' | sort -u); do
    grep -qE "^#?$v=" "$env_file" || missing="$missing $v"
done
[ -z "$missing" ] && ok "the env file lists every MANAGER_* variable" || fail "the env file lacks:$missing"
# and it is one a systemd EnvironmentFile= and a shell read: comments and NAME=value only
if grep -vE '^(#.*|[A-Z][A-Z0-9_]*=.*|)$' "$env_file" >&2; then fail "the env file has lines that are not NAME=value"; fi

# installed programs never read the source tree: its path is in no program's data (debug info aside)
for f in "$d$sbindir/covirt-manager" "$d$bindir/covirt"; do
    if readelf -p .rodata "$f" 2>/dev/null | grep -F "$top/" >&2; then fail "${f#"$d"} holds a source tree path"; fi
done
# the installed CLI, without COVIRT_TEMPLATE_DIR, looks for templates in datadir only
if [ ! -e "$datadir/covirt/domain-templates/vtpm.xml" ]; then
    if (cd "$top" && env -u COVIRT_TEMPLATE_DIR MANAGER_DOMAIN_TYPE=qemu "$d$bindir/covirt" domain render \
            tests/conf/data/vtpm-basic.json --libvirt-version 9.0.0) \
           > "$tmp/render.out" 2>&1; then
        fail "the installed covirt rendered from templates that are not installed"
    elif grep -qF "$datadir/covirt/domain-templates" "$tmp/render.out"; then
        ok "the installed covirt reads templates from $datadir/covirt/domain-templates only"
    else
        fail "the installed covirt's render error does not name $datadir/covirt/domain-templates: $(cat "$tmp/render.out")"
    fi
    # and the installed manager refuses to start without them, naming where it looked
    rc=0
    (cd "$top" && env -u COVIRT_TEMPLATE_DIR MANAGER_LIBVIRT_URI=test:///default MANAGER_HTTP_PORT=0 \
         timeout 30 "$d$sbindir/covirt-manager") > "$tmp/manager.out" 2>&1 || rc=$?
    if [ $rc -eq 2 ] && grep -qF "no domain templates in $datadir/covirt/domain-templates" "$tmp/manager.out"; then
        ok "the installed covirt-manager looks for templates in $datadir/covirt/domain-templates only"
    else
        fail "the installed covirt-manager without templates: exit $rc, $(cat "$tmp/manager.out")"
    fi
fi

[ $fails -eq 0 ] || { echo "$fails failure(s)" >&2; exit 1; }
echo "install layout: all checks passed"
