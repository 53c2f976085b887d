#!/bin/bash
# Installs the Debian 12 packages covirt needs (only the missing ones) and builds it.
#   scripts/setup.sh [BUILD_DIR [meson options…]]
# Sourced by demo.sh and test.sh; safe to run again.
set -euo pipefail
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

covirt_install_deps() {
    local missing=()
    mapfile -t pkgs < <(grep -v -e '^#' -e '^[[:space:]]*$' "$top/scripts/deps.txt" | tr -d ' ')
    for p in "${pkgs[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
    done
    if [ ${#missing[@]} -gt 0 ] || [ "${CI:-}" = true ]; then
        echo "==> installing ${#missing[@]} Debian packages: ${missing[*]}"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -q
        [ ${#missing[@]} -eq 0 ] || apt-get install -y -q --no-install-recommends "${missing[@]}"
    fi
}

# Builds every program (-Dagent/-Dmanager/-Dcli=enabled: a missing library fails here instead of leaving a
# program and its tests out); later options override these.
covirt_build() {
    local dir=$1; shift
    if [ ! -f "$dir/build.ninja" ]; then
        meson setup "$dir" "$top" -Dagent=enabled -Dmanager=enabled -Dcli=enabled "$@"
    fi
    ninja -C "$dir"
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
    covirt_install_deps
    covirt_build "${1:-$top/build}" "${@:2}"
fi
