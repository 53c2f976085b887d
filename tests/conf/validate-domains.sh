#!/bin/bash
# Validates every golden domain XML: vtpm and the libvirt-9.0 forms (qemu:commandline) with the installed
# libvirt schema (virt-xml-validate), the new-libvirt sev-snp/tdx forms (launchSecurity) with the schema
# ../shared/libvirt-schema/make-schema builds.
set -euo pipefail
data=$1 shared=$2 work=$3
[ -x "$shared/libvirt-schema/make-schema" ] || { echo "missing $shared/libvirt-schema/make-schema"; exit 1; }
schema=$work/libvirt-schema
"$shared/libvirt-schema/make-schema" "$schema"
n=0
for f in "$data"/*.xml; do
    if grep -q '<launchSecurity' "$f"; then
        xmllint --noout --relaxng "$schema/domain.rng" "$f"
    else
        virt-xml-validate "$f" domain
    fi
    n=$((n + 1))
done
[ "$n" -ge 10 ] || { echo "only $n domain files found"; exit 1; }
echo "$n domains validate"
