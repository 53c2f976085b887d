#!/bin/sh
# Buildroot post-build: the same /init as hal/build-image.sh's image (one source, hal/init),
# the HAL version, and an empty module list (the kernel has the drivers built in).
set -eu
TARGET_DIR=$1
HAL_DIR=$(cd "$(dirname "$0")/../../.." && pwd)
VERSION=$(sed -n "s/^ *version *: *'\([^']*\)'.*/\1/p" "$HAL_DIR/../meson.build" | head -n 1)
KVER=$(sed -n 's/^BR2_LINUX_KERNEL_CUSTOM_VERSION_VALUE="\(.*\)"$/\1/p' "${BR2_CONFIG:-/dev/null}")
install -m 0755 "$HAL_DIR/init" "$TARGET_DIR/init"
: >"$TARGET_DIR/etc/covirt-modules"
echo "covirt-hal $VERSION buildroot linux-${KVER:-unknown}" >"$TARGET_DIR/etc/covirt-hal-version"
mkdir -p "$TARGET_DIR/var/lib/covirt"
