#!/bin/bash
# libvirt 9.0 itself accepts every golden domain rendered for it (the libvirt-9 forms); the new forms
# (launchSecurity sev-snp/tdx, passt) are checked against libvirt's schema by the golden suite instead.
set -uo pipefail
data=$1
uri=qemu:///system
n=0
# sev-snp and tdx forms ask for type kvm; a host whose QEMU has no KVM (software emulation only) refuses
# that before it reads the rest, so there the form is checked as type qemu: what is tested is the XML.
virt_type=kvm
virsh -c $uri domcapabilities --virttype kvm >/dev/null 2>&1 || virt_type=qemu
for f in "$data"/*.xml; do
    grep -q -e '<launchSecurity' -e "type=\"passt\"" "$f" && continue
    name="covirt-test-def-$$-$n"
    sed -e "s|<name>[^<]*</name>|<name>$name</name>|" -e "s|type=\"kvm\">|type=\"$virt_type\">|" "$f" >"/tmp/$name.xml"
    if ! out=$(virsh -c $uri define "/tmp/$name.xml" 2>&1); then
        echo "FAIL: libvirt refused $(basename "$f"): $out"; rm -f "/tmp/$name.xml"; exit 1
    fi
    # what libvirt stored keeps what we asked for
    xml=$(virsh -c $uri dumpxml --inactive "$name")
    for want in '<tpm model=.tpm-crb.' "name='org.covirt.agent.0'" '<on_reboot>destroy'; do
        if grep -q '<tpm ' "$f" || [ "$want" != '<tpm model=.tpm-crb.' ]; then
            echo "$xml" | grep "$want" >/dev/null || { echo "FAIL: $(basename "$f"): stored domain lacks $want"; virsh -c $uri undefine "$name" --nvram >/dev/null; exit 1; }
        fi
    done
    virsh -c $uri undefine "$name" --nvram >/dev/null
    rm -f "/tmp/$name.xml"
    n=$((n + 1))
done
[ $n -ge 8 ] || { echo "FAIL: only $n domains checked"; exit 1; }
echo "libvirt accepted $n rendered domains"
