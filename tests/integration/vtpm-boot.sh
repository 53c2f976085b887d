#!/bin/bash
# Integration (real libvirtd, QEMU/TCG, OVMF, swtpm): boots a busybox guest with direct kernel boot
# and a vTPM, reads its event log and PCRs 0-9 over the serial console, and checks them with
# vtpm-boot-check (replay, and the PCR 4 / 9 events predicted by cv_attest_vtpm_policy_new).
# With VTPM_COLLECT, the guest also runs the agent's collector (agent/collector.c) on its vTPM and prints the evidence
# bundle, which vtpm-boot-check verifies (EK chain to this host's swtpm CA, quote, event log, boot
# events, PCR 16 manifest).
#   vtpm-boot.sh VTPM_BOOT_CHECK [VTPM_COLLECT]
set -u
CHECK=$(readlink -f "$1")
COLLECT=${2:+$(readlink -f "$2")}
NONCE=$(openssl rand -hex 32)
URI=qemu:///system
NAME=covirt-attest-boot-$$
MEM_MIB=512
CMDLINE="console=ttyS0 panic=-1 quiet covirt.nonce=$NONCE"
W=$(mktemp -d /tmp/covirt-attest-boot-XXXXXX); chmod 755 "$W"
cleanup() {
    virsh -c $URI destroy $NAME >/dev/null 2>&1
    rm -rf "$W" "/var/log/libvirt/qemu/$NAME.log" "/var/log/swtpm/libvirt/qemu/$NAME-swtpm.log"
}
trap cleanup EXIT
KIMG=$(ls /boot/vmlinuz-* 2>/dev/null | sort -V | tail -1)
if [ -z "$KIMG" ] || ! [ -x /bin/busybox ] || ! virsh -c $URI version >/dev/null 2>&1; then
    echo "needs /boot/vmlinuz-*, busybox-static and a running libvirtd"; exit 1
fi
cp "$KIMG" "$W/vmlinuz"
R=$W/rootfs; mkdir -p "$R"/{bin,proc,sys,dev}
cp /bin/busybox "$R/bin/busybox"
if [ -n "$COLLECT" ]; then
    # the collector and the libraries it loads, tctildr's dlopen()ed device TCTI included
    cp "$COLLECT" "$R/bin/vtpm-collect"
    TCTI=$(ls /usr/lib/x86_64-linux-gnu/libtss2-tcti-device.so.0 2>/dev/null)
    for lib in $( (ldd "$COLLECT"; [ -n "$TCTI" ] && ldd "$TCTI" && echo "x => $TCTI (0)") | awk '/=>/ {print $3} /^\t\/lib64/ {print $1}' | sort -u); do
        [ -f "$lib" ] || continue
        mkdir -p "$R$(dirname "$lib")"; cp -L "$lib" "$R$lib"
    done
    mkdir -p "$R/lib64"; cp -L /lib64/ld-linux-x86-64.so.2 "$R/lib64/"
fi
cat > "$R/init" <<'INIT'
#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc; mount -t sysfs sysfs /sys; mount -t devtmpfs devtmpfs /dev
mount -t securityfs none /sys/kernel/security
echo COVIRT-PCRS-BEGIN
for i in 0 1 2 3 4 5 6 7 8 9; do echo "$i $(cat /sys/class/tpm/tpm0/pcr-sha256/$i)"; done
echo COVIRT-PCRS-END
echo COVIRT-LOG-BEGIN
base64 /sys/kernel/security/tpm0/binary_bios_measurements
echo COVIRT-LOG-END
[ -x /bin/vtpm-collect ] && LD_LIBRARY_PATH=/lib/x86_64-linux-gnu:/usr/lib/x86_64-linux-gnu /bin/vtpm-collect
echo COVIRT-DONE
poweroff -f
INIT
chmod 755 "$R/init"
(cd "$R" && find . | cpio -o -H newc 2>/dev/null | gzip -1 > "$W/initrd.gz")
chmod 644 "$W/vmlinuz" "$W/initrd.gz"
cat > "$W/dom.xml" <<XML
<domain type='qemu'>
  <name>$NAME</name>
  <memory unit='MiB'>$MEM_MIB</memory>
  <vcpu>1</vcpu>
  <os firmware='efi'>
    <type arch='x86_64' machine='q35'>hvm</type>
    <firmware><feature enabled='no' name='secure-boot'/></firmware>
    <kernel>$W/vmlinuz</kernel>
    <initrd>$W/initrd.gz</initrd>
    <cmdline>$CMDLINE</cmdline>
  </os>
  <features><acpi/></features>
  <on_poweroff>destroy</on_poweroff><on_reboot>destroy</on_reboot><on_crash>destroy</on_crash>
  <devices>
    <serial type='file'><source path='$W/serial.log'/><target port='0'/></serial>
    <console type='file'><source path='$W/serial.log'/><target type='serial' port='0'/></console>
    <tpm model='tpm-crb'><backend type='emulator' version='2.0'/></tpm>
    <memballoon model='none'/>
  </devices>
</domain>
XML
virsh -c $URI create "$W/dom.xml" --reset-nvram >/dev/null || { echo "virsh create failed"; exit 1; }
for i in $(seq 360); do
    grep -q COVIRT-DONE "$W/serial.log" 2>/dev/null && break
    sleep 0.5
done
if ! grep -q COVIRT-DONE "$W/serial.log" 2>/dev/null; then
    echo "the guest did not print its event log in 180 s"; tail -c 2000 "$W/serial.log" 2>/dev/null; exit 1
fi
tr -d '\r' < "$W/serial.log" | sed -n '/COVIRT-PCRS-BEGIN/,/COVIRT-PCRS-END/p' | grep -v COVIRT > "$W/pcrs.txt"
tr -d '\r' < "$W/serial.log" | sed -n '/COVIRT-LOG-BEGIN/,/COVIRT-LOG-END/p' | grep -v COVIRT | base64 -d > "$W/log.bin" || {
    echo "the event log did not decode"; exit 1; }
# COVIRT_KEEP_BOOT=DIR keeps what the guest measured (tests/attest/data came from here)
if [ -n "${COVIRT_KEEP_BOOT:-}" ]; then
    mkdir -p "$COVIRT_KEEP_BOOT" && cp "$W/log.bin" "$W/pcrs.txt" "$COVIRT_KEEP_BOOT/"
    sha256sum "$W/vmlinuz" "$W/initrd.gz" > "$COVIRT_KEEP_BOOT/inputs.sha256"
    "$CHECK" "$W/log.bin" "$W/pcrs.txt" "$W/vmlinuz" "$W/initrd.gz" "$CMDLINE" $((MEM_MIB * 1024 * 1024)) \
        > "$COVIRT_KEEP_BOOT/check.txt"
    cp "$W/initrd.gz" "$COVIRT_KEEP_BOOT/"
fi
BUNDLE_ARGS=()
if [ -n "$COLLECT" ]; then
    if grep -q COVIRT-COLLECT-ERROR "$W/serial.log"; then grep -a COVIRT-COLLECT-ERROR "$W/serial.log"; exit 1; fi
    tr -d '\r' < "$W/serial.log" | sed -n '/COVIRT-BUNDLE-BEGIN/,/COVIRT-BUNDLE-END/p' | grep -v COVIRT | base64 -d > "$W/bundle.json" || {
        echo "the bundle did not decode"; exit 1; }
    BUNDLE_ARGS=("$W/bundle.json" "$NONCE")
fi
"$CHECK" "$W/log.bin" "$W/pcrs.txt" "$W/vmlinuz" "$W/initrd.gz" "$CMDLINE" $((MEM_MIB * 1024 * 1024)) "${BUNDLE_ARGS[@]}"
