#!/bin/bash
# A vtpm domain rendered by `covirt domain render` around a tiny busybox initramfs: libvirt defines and
# starts it, `virsh list` shows it, the guest reaches its init (serial log) and sees its vTPM, and after
# destroy + undefine nothing of it is left: no NVRAM file, no vTPM state, no channel socket, no log.
set -uo pipefail
covirt=$1
uri=qemu:///system
name="covirt-test-boot-$$"
work=$(mktemp -d /tmp/covirt-boot-XXXXXX); chmod 755 "$work"
logdir=$work/log; mkdir -p "$logdir"; chmod 755 "$logdir"
fail() { echo "FAIL: $*"; [ -f "$logdir/$name.serial" ] && { echo "--- serial:"; tail -20 "$logdir/$name.serial"; }; exit 1; }
cleanup() {
    virsh -c $uri destroy "$name" >/dev/null 2>&1
    virsh -c $uri undefine "$name" --nvram --tpm >/dev/null 2>&1
    rm -rf "$work" "/var/log/libvirt/qemu/$name.log" "/var/log/swtpm/libvirt/qemu/$name-swtpm.log"
}
trap cleanup EXIT

kver=$(ls /lib/modules | sort -V | tail -1)
cp "/boot/vmlinuz-$kver" "$work/vmlinuz" || fail "no Debian kernel in /boot"
root=$work/root; mkdir -p "$root"/{bin,proc,sys,dev}
cp /bin/busybox "$root/bin/busybox"
cat >"$root/init" <<'INIT'
#!/bin/busybox sh
/bin/busybox mount -t proc proc /proc
/bin/busybox mount -t sysfs sysfs /sys
echo "COVIRT-TEST-INIT uptime=$(/bin/busybox cut -d' ' -f1 /proc/uptime)"
[ -e /sys/class/tpm/tpm0 ] && echo "COVIRT-TEST-TPM present"
while :; do /bin/busybox sleep 3600; done
INIT
chmod 755 "$root/init"
(cd "$root" && find . | cpio -o -H newc 2>/dev/null | gzip -1 >"$work/initrd.gz")
chmod 644 "$work/vmlinuz" "$work/initrd.gz"

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat >"$work/spec.json" <<JSON
{"name": "$name", "platform": "vtpm", "vcpus": 1, "memory": "512M", "kernel": "$work/vmlinuz",
 "initrd": "$work/initrd.gz", "host_port": $port, "debug": true}
JSON
# the renderer puts debug serial logs in /var/log/covirt; this test keeps its own. The spec's kernel and
# initrd are in $work, which the operator lists as an image directory.
MANAGER_DOMAIN_TYPE=qemu MANAGER_IMAGE_DIRS="$work" "$covirt" domain render "$work/spec.json" >"$work/domain.xml" || fail "render failed"
sed -i "s|/var/log/covirt/$name.serial|$logdir/$name.serial|g" "$work/domain.xml"
virt-xml-validate "$work/domain.xml" domain >/dev/null || fail "rendered XML does not validate"

virsh -c $uri define "$work/domain.xml" >/dev/null || fail "define"
virsh -c $uri start "$name" >/dev/null || fail "start"
virsh -c $uri list --name | grep -x "$name" >/dev/null || fail "virsh list does not show $name"
uuid=$(virsh -c $uri domuuid "$name")
sock=$(virsh -c $uri dumpxml "$name" | sed -n "s|.*<source mode='bind' path='\([^']*org.covirt.agent.0\)'.*|\1|p")
[ -n "$sock" ] && [ -S "$sock" ] || fail "agent channel socket missing ($sock)"

for _ in $(seq 180); do
    grep -q COVIRT-TEST-INIT "$logdir/$name.serial" 2>/dev/null && break
    sleep 1
done
grep -a COVIRT-TEST "$logdir/$name.serial" || fail "guest did not reach its init in 180 s"
grep -q COVIRT-TEST-TPM "$logdir/$name.serial" || fail "guest has no TPM"
virsh -c $uri domstate "$name" | grep running >/dev/null || fail "domain not running"

virsh -c $uri destroy "$name" >/dev/null || fail "destroy"
virsh -c $uri undefine "$name" --nvram --tpm >/dev/null || fail "undefine"
virsh -c $uri list --all --name | grep -x "$name" >/dev/null && fail "domain still defined"
[ -e "/var/lib/libvirt/qemu/nvram/${name}_VARS.fd" ] && fail "NVRAM file left behind"
[ -e "/var/lib/libvirt/swtpm/$uuid" ] && fail "vTPM state left behind"
[ -e "$sock" ] && fail "channel socket left behind"
rm -f "$logdir/$name.serial" "/var/log/libvirt/qemu/$name.log" "/var/log/swtpm/libvirt/qemu/$name-swtpm.log"
left=$(find /var/lib/libvirt /var/log/libvirt /var/log/swtpm /run/libvirt -name "*$name*" 2>/dev/null)
[ -z "$left" ] || fail "left behind: $left"
echo "vtpm domain booted to init with a vTPM and was removed without a trace"
