#!/bin/bash
# Starts virtlogd and libvirtd when they are not running (no systemd here) and stops, by pid, only
# what it started — also when the caller fails. Source it, then call covirt_daemons_start.
covirt_run_dir=${COVIRT_RUN_DIR:-/run/covirt}
covirt_started=()

# True when something listens on the unix socket $1. The system daemons are found by their sockets,
# never by name: a private libvirtd (a test's, a user's session daemon) must not hide a missing system one.
covirt_listening() {
    ss -xlH 2>/dev/null | awk -v sock="$1" '$5 == sock { found = 1 } END { exit !found }'
}

covirt_daemons_stop() {
    local i pid
    for ((i = ${#covirt_started[@]} - 1; i >= 0; i--)); do
        pid=$(cat "${covirt_started[$i]}" 2>/dev/null) || continue
        kill "$pid" 2>/dev/null || true
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        rm -f "${covirt_started[$i]}"
    done
    covirt_started=()
}

covirt_daemons_start() {
    mkdir -p "$covirt_run_dir"
    if ! covirt_listening /run/libvirt/virtlogd-sock; then
        virtlogd -d --pid-file="$covirt_run_dir/virtlogd.pid"
        covirt_started+=("$covirt_run_dir/virtlogd.pid")
    fi
    if ! covirt_listening /run/libvirt/libvirt-sock; then
        libvirtd -d --pid-file="$covirt_run_dir/libvirtd.pid"
        covirt_started+=("$covirt_run_dir/libvirtd.pid")
        # tests that restart libvirtd behind the manager's back may do so only with a daemon we own
        export COVIRT_LIBVIRTD_PIDFILE="$covirt_run_dir/libvirtd.pid"
    fi
    for _ in $(seq 100); do [ -S /run/libvirt/libvirt-sock ] && break; sleep 0.1; done
    # the first qemu:///system connection probes QEMU's capabilities (~8 s); pay it once here
    virsh -c qemu:///system version >/dev/null
}
