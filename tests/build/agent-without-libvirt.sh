#!/bin/bash
# The guest's build, as hal/buildroot does it: with -Dmanager=disabled -Dcli=disabled, covirt configures and
# builds the agent programs on a machine without libvirt's development files (here: a pkg-config search path
# with every .pc file but libvirt's), looks libvirt up nowhere, neither program links a libvirt library, and
# `meson install` puts them in sbin/.
#   tests/build/agent-without-libvirt.sh    (scripts/test.sh runs it before the tests; exit 0 = passed)
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

mkdir "$tmp/pkgconfig"
IFS=: read -ra pc_dirs <<< "$(pkg-config --variable pc_path pkg-config)"
for d in "${pc_dirs[@]}"; do
    [ -d "$d" ] || continue
    # the first directory holding a name wins, as in pkg-config's own search
    find "$d" -maxdepth 1 -name '*.pc' ! -name 'libvirt*' -exec cp -n -t "$tmp/pkgconfig" {} +
done
export PKG_CONFIG_LIBDIR=$tmp/pkgconfig PKG_CONFIG_PATH=
if pkg-config --exists libvirt || pkg-config --exists libvirt-glib-1.0; then
    echo "FAIL: libvirt's pkg-config files are still visible" >&2
    exit 1
fi
pkg-config --exists libsoup-3.0 || { echo "FAIL: the copied pkg-config path lacks libsoup-3.0" >&2; exit 1; }

echo "configure: -Dagent=enabled -Dmanager=disabled -Dcli=disabled, libvirt hidden"
if ! meson setup "$tmp/build" "$top" -Dagent=enabled -Dmanager=disabled -Dcli=disabled > "$tmp/setup.log" 2>&1; then
    cat "$tmp/setup.log" >&2
    echo "FAIL: the agent's build does not configure without libvirt" >&2
    exit 1
fi
if grep -i 'dependency libvirt' "$tmp/build/meson-logs/meson-log.txt" >&2; then
    echo "FAIL: the agent's build looks libvirt up" >&2
    exit 1
fi
programs=(agent/covirt-agent agent/covirt-agent-archive)
man=()
command -v rst2man > /dev/null && man=(data/covirt-agent.8)
ninja -C "$tmp/build" "${programs[@]}" "${man[@]}" > "$tmp/ninja.log" 2>&1 || { cat "$tmp/ninja.log" >&2; echo "FAIL: build" >&2; exit 1; }
# -Dagent=enabled installs the agent (and nothing of the host's programs)
meson install -C "$tmp/build" --no-rebuild --destdir "$tmp/dest" > "$tmp/install.log" 2>&1 ||
    { cat "$tmp/install.log" >&2; echo "FAIL: meson install" >&2; exit 1; }
for f in sbin/covirt-agent sbin/covirt-agent-archive ${man:+share/man/man8/covirt-agent.8}; do
    [ -e "$tmp/dest/usr/local/$f" ] || { echo "FAIL: -Dagent=enabled does not install $f" >&2; exit 1; }
done
if find "$tmp/dest" -name 'covirt-manager*' -o -name covirt -type f | grep . >&2; then
    echo "FAIL: the agent's build installs a host program" >&2
    exit 1
fi
echo "ok: meson install puts the agent in sbin/"
for p in "${programs[@]}"; do
    needed=$(readelf -d "$tmp/build/$p" | grep '(NEEDED)')
    [ -n "$needed" ] || { echo "FAIL: readelf -d $p shows no libraries" >&2; exit 1; }
    if grep -i libvirt <<< "$needed" >&2; then
        echo "FAIL: $p links libvirt" >&2
        exit 1
    fi
    echo "ok: $p links $(grep -o '\[[^]]*\]' <<< "$needed" | tr -d '[]' | tr '\n' ' ')"
done
