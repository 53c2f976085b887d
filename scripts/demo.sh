#!/bin/bash
# The README's first command: installs what is missing, builds covirt, starts virtlogd/libvirtd when they
# are not running, and runs a vtpm CVM through libvirt. With the manager, the agent and the HAL in the
# tree it runs the sample computation end to end (scripts/demo-computation.sh); it stops what it started.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
. "$top/scripts/setup.sh"
. "$top/scripts/daemons.sh"

step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }

step "installing missing Debian packages"
covirt_install_deps
step "building covirt"
covirt_build "$top/build"
trap covirt_daemons_stop EXIT
step "starting virtlogd and libvirtd (when not running)"
covirt_daemons_start

if [ -x "$top/scripts/demo-computation.sh" ] && [ -x "$top/build/src/manager/covirt-manager" ] &&
   [ -x "$top/build/agent/covirt-agent" ] && [ -x "$top/hal/build-image.sh" ]; then
    exec_demo=1
else
    exec_demo=0
fi
if [ "$exec_demo" = 1 ]; then
    COVIRT_BUILD="$top/build" "$top/scripts/demo-computation.sh"
    exit $?
fi

# Without the agent and the HAL: a vtpm domain around a busybox initramfs, as the foundation shows it.
covirt=$top/build/src/cli/covirt
work=$(mktemp -d /tmp/covirt-demo-XXXXXX); chmod 755 "$work"
name=covirt-demo-$$
cleanup() {
    virsh -c qemu:///system destroy "$name" >/dev/null 2>&1 || true
    virsh -c qemu:///system undefine "$name" --nvram --tpm >/dev/null 2>&1 || true
    rm -rf "$work" "/var/log/libvirt/qemu/$name.log" "/var/log/swtpm/libvirt/qemu/$name-swtpm.log" \
           "/var/log/covirt/$name.serial"
    covirt_daemons_stop
}
trap cleanup EXIT
step "building a tiny guest image (Debian kernel + busybox initramfs)"
kver=$(ls /lib/modules | sort -V | tail -1)
cp "/boot/vmlinuz-$kver" "$work/vmlinuz"
mkdir -p "$work/root"/{bin,proc,sys}
cp /bin/busybox "$work/root/bin/"
printf '#!/bin/busybox sh\n/bin/busybox mount -t proc p /proc\necho "covirt demo guest: init reached"\nwhile :; do /bin/busybox sleep 3600; done\n' >"$work/root/init"
chmod 755 "$work/root/init"
(cd "$work/root" && find . | cpio -o -H newc 2>/dev/null | gzip -1 >"$work/initrd.gz")
chmod 644 "$work"/vmlinuz "$work"/initrd.gz
cat >"$work/spec.json" <<JSON
{"name": "$name", "platform": "vtpm", "vcpus": 1, "memory": "512M", "kernel": "$work/vmlinuz",
 "initrd": "$work/initrd.gz", "host_port": 6199, "debug": true}
JSON
mkdir -p /var/log/covirt
step "covirt domain render (the spec → libvirt domain XML)"
MANAGER_DOMAIN_TYPE=qemu "$covirt" domain render "$work/spec.json" | tee "$work/domain.xml"
step "virsh define + start"
virsh -c qemu:///system define "$work/domain.xml"
virsh -c qemu:///system start "$name"
step "virsh list"
virsh -c qemu:///system list
step "waiting for the guest's init (serial log)"
for _ in $(seq 120); do grep -q 'init reached' "/var/log/covirt/$name.serial" 2>/dev/null && break; sleep 1; done
grep -a 'init reached' "/var/log/covirt/$name.serial"
step "removing the CVM"
