#!/usr/bin/python3
"""Boot check of the HAL under libvirt (qemu:///system, domain type qemu, OVMF, swtpm vTPM).

Builds the minimal image with the real covirt-agent, renders a debug vtpm domain with
`covirt domain render` (its serial console moved to a UNIX socket so the test can use
the debug shell), and checks what an operator and a user would: the init loads its
modules, brings eth0 up, names the virtio-serial port, the agent says hello on the
control channel and answers HTTPS through hostfwd, the TPM event log is readable, no
login service runs, and the init's supervisor restarts the agent when it is killed.

  hal-boot.py SOURCE_ROOT COVIRT AGENT IMAGE_DIR      (exit 77: skipped, says why)
"""
import json
import os
import re
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

from e2e_common import plain_agent, searchable_dir, skip  # noqa: E402 (beside this script)

URI = "qemu:///system"


def virsh(*args, check=True):
    return subprocess.run(["virsh", "-q", "-c", URI] + list(args), check=check,
                          capture_output=True, text=True).stdout


class Serial:
    """Reads the guest's serial console from a UNIX socket into a buffer."""

    def __init__(self, path, log):
        self.buf = b""
        self.log = open(log, "wb")
        self.sock = socket.socket(socket.AF_UNIX)
        for _ in range(100):
            try:
                self.sock.connect(path)
                break
            except OSError:
                time.sleep(0.1)
        else:
            raise RuntimeError("cannot connect to the serial socket " + path)
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        while True:
            try:
                d = self.sock.recv(4096)
            except OSError:
                return
            if not d:
                return
            self.buf += d
            self.log.write(d)
            self.log.flush()

    def text(self):
        return self.buf.decode("utf-8", "replace")

    def wait(self, pattern, timeout):
        end = time.time() + timeout
        while time.time() < end:
            m = re.search(pattern, self.text())
            if m:
                return m
            time.sleep(0.2)
        raise AssertionError("no %r on the serial console in %d s" % (pattern, timeout))

    def run(self, cmd, pattern, timeout=60):
        """Type a command into the debug shell; pattern must not match the echo of cmd."""
        start = len(self.buf)
        self.sock.sendall(cmd.encode() + b"\n")
        end = time.time() + timeout
        while time.time() < end:
            m = re.search(pattern, self.buf[start:].decode("utf-8", "replace"))
            if m:
                return m
            time.sleep(0.2)
        raise AssertionError("shell command %r: no %r in %d s" % (cmd, pattern, timeout))


def agent_state(port):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE   # key pinning is the CLI's job (covirt attest); here: is it up
    with urllib.request.urlopen("https://127.0.0.1:%d/v1/state" % port, context=ctx, timeout=5) as r:
        return json.load(r)


def wait_state(port, timeout, differs_from=None):
    end = time.time() + timeout
    last = None
    while time.time() < end:
        try:
            st = agent_state(port)
            if differs_from is None or st.get("tls_pubkey_sha256") != differs_from:
                return st
        except Exception as e:  # not up yet: connection refused/reset through hostfwd
            last = e
        time.sleep(1)
    raise AssertionError("agent HTTPS on 127.0.0.1:%d not answering in %d s (%s)" % (port, timeout, last))


def main():
    if len(sys.argv) != 5:
        sys.exit(__doc__)
    src, covirt, agent, image_dir = (os.path.abspath(a) for a in sys.argv[1:])
    agent = plain_agent(agent)
    image_dir = searchable_dir(image_dir)
    if os.geteuid() != 0:
        skip("needs root (libvirt qemu:///system and chroot)")
    if not os.path.exists("/run/libvirt/libvirt-sock"):
        skip("libvirtd is not running (scripts/test.sh starts it)")
    for p in (covirt, agent):
        if not os.access(p, os.X_OK):
            skip("%s is not built yet" % p)

    r = subprocess.run([os.path.join(src, "hal", "build-image.sh"), "--agent", agent,
                        "--output", image_dir], capture_output=True, text=True)
    print(r.stdout, r.stderr, sep="")
    assert r.returncode == 0, "hal/build-image.sh failed"
    hal_version = open(os.path.join(image_dir, "hal-version")).read().strip()

    name = "covirt-hal-boot-%d" % os.getpid()
    work = tempfile.mkdtemp(prefix="covirt-hal-boot-")
    os.chmod(work, 0o755)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    spec = {"name": name, "platform": "vtpm", "vcpus": 1, "memory": "1G", "debug": True,
            "kernel": os.path.join(image_dir, "vmlinuz"),
            "initrd": os.path.join(image_dir, "initramfs.cpio.gz"), "host_port": port}
    with open(os.path.join(work, "spec.json"), "w") as f:
        json.dump(spec, f)
    # the spec names the HAL's kernel and initrd: their folder is an image directory
    env = dict(os.environ, MANAGER_DOMAIN_TYPE="qemu", MANAGER_IMAGE_DIRS=image_dir)
    xml = subprocess.run([covirt, "domain", "render", os.path.join(work, "spec.json")], env=env,
                         check=True, capture_output=True, text=True).stdout
    # the debug console as a UNIX socket instead of the renderer's log file, for the shell
    sock_path = os.path.join(work, "serial.sock")
    logfile = '<source path="/var/log/covirt/%s.serial"/>' % name
    assert xml.count(logfile) == 2 and 'covirt.debug' in xml, "unexpected debug domain XML:\n" + xml
    xml = xml.replace(logfile, '<source mode="bind" path="%s"/>' % sock_path)
    xml = xml.replace('<serial type="file">', '<serial type="unix">')
    xml = xml.replace('<console type="file">', '<console type="unix">')
    with open(os.path.join(work, "domain.xml"), "w") as f:
        f.write(xml)

    ok = False
    serial = None
    try:
        virsh("define", os.path.join(work, "domain.xml"))
        t0 = time.time()
        virsh("start", name)
        serial = Serial(sock_path, os.path.join(work, "serial.log"))
        dom = virsh("dumpxml", name)
        m = re.search(r"<source mode='bind' path='([^']*org\.covirt\.agent\.0)'", dom)
        assert m, "no agent channel in the domain"
        ctrl = socket.socket(socket.AF_UNIX)
        ctrl.connect(m.group(1))
        ctrl.settimeout(1)
        hello = b""

        serial.wait(r"covirt-init: modules loaded", 240)
        serial.wait(r"covirt-init: network up: eth0 10\.0\.2\.15/24 via 10\.0\.2\.2", 60)
        serial.wait(r"covirt-init: control port /dev/virtio-ports/org\.covirt\.agent\.0", 60)
        serial.wait(r"covirt-init: starting covirt-agent \(platform vtpm, port 7002\)", 60)
        st = wait_state(port, 180)
        print("agent answered HTTPS through hostfwd after %.0f s: %s" % (time.time() - t0, json.dumps(st)))
        assert st.get("platform") == "vtpm", st
        key1 = st.get("tls_pubkey_sha256")
        assert key1 and re.fullmatch(r"[0-9a-f]{64}", key1), st

        # the agent's first frame on the control channel: 4-byte length, protobuf Frame{hello}
        end = time.time() + 30
        while time.time() < end and (len(hello) < 4 or len(hello) < 4 + int.from_bytes(hello[:4], "big")):
            try:
                d = ctrl.recv(65536)
                if not d:
                    break
                hello += d
            except socket.timeout:
                pass
        assert len(hello) >= 4, "no frame from the agent on the control channel"
        n = int.from_bytes(hello[:4], "big")
        assert 0 < n <= 1 << 20, "bad frame length %d" % n
        assert hal_version.encode() in hello[4:4 + n], "hello does not carry the HAL version"
        assert bytes.fromhex(key1) in hello[4:4 + n], "hello does not carry the TLS key hash"
        print("control channel: hello frame (%d bytes) with HAL version and TLS key hash" % n)

        # the debug shell on ttyS0: look inside the running image
        serial.sock.sendall(b"\n")
        m = serial.run("echo HALV=$(tr ' ' _ </etc/covirt-hal-version)", r"HALV=([A-Za-z0-9._-]+)")
        assert m.group(1) == hal_version.replace(" ", "_"), m.group(1)
        m = serial.run("echo TPMLOG=$(($(wc -c </sys/kernel/security/tpm0/binary_bios_measurements)+0))",
                       r"TPMLOG=(\d+)")
        assert int(m.group(1)) > 0, "empty TPM event log"
        m = serial.run("echo MODS=$(cut -d' ' -f1 /proc/modules | sort | tr '\\n' ,)", r"MODS=([a-z_,]+)")
        mods = set(m.group(1).split(","))
        for want in ("virtio_net", "virtio_pci", "virtio_console", "net_failover"):
            assert want in mods, "%s not loaded: %s" % (want, mods)
        m = serial.run("echo LOGIN=$(($(ps -o comm | grep -c -E 'getty|sshd|login|dropbear|telnetd')+0))",
                       r"LOGIN=(\d+)")
        assert m.group(1) == "0", "a login service runs"
        m = serial.run("echo WORK=$(stat -f -c %T /var/lib/covirt)", r"WORK=([a-z]+)")
        assert m.group(1) == "tmpfs", m.group(1)
        # what crun needs for docker algorithms: cgroup v2 alone, and a root mount that has a parent
        # (pivot_root refuses the initramfs itself; the init binds it over itself)
        m = serial.run("echo CGROUPS=$(awk '$3 ~ /^cgroup/ {print $2 \":\" $3}' /proc/mounts | tr '\\n' ,)",
                       r"CGROUPS=([a-z0-9/:,]+)\r?\n")
        assert m.group(1) == "/sys/fs/cgroup:cgroup2,", "cgroups mounted: %s" % m.group(1)
        m = serial.run("echo ROOT=$(awk '$5 == \"/\" {print ($1 == $2) ? \"own-parent\" : \"bound\"}' "
                       "/proc/self/mountinfo)", r"ROOT=([a-z-]+)\r?\n")
        assert m.group(1) == "bound", "the root mount is the initramfs itself: pivot_root would fail"

        # the supervisor: kill the agent, it comes back (a new TLS key: a fresh start)
        serial.run("kill $(pidof covirt-agent)", r"covirt-agent exited with status \d+", 60)
        serial.wait(r"(?s)exited with status.*starting covirt-agent", 60)
        st2 = wait_state(port, 120, differs_from=key1)
        print("after kill, the supervisor restarted the agent: state %s, new key %s" %
              (st2.get("state"), st2.get("tls_pubkey_sha256")))
        ok = True
    finally:
        virsh("destroy", name, check=False)
        virsh("undefine", name, "--nvram", "--tpm", check=False)
        if not ok and serial:
            print("--- serial console (last 60 lines):")
            print("\n".join(serial.text().splitlines()[-60:]))
        for p in ("/var/log/libvirt/qemu/%s.log" % name, "/var/log/swtpm/libvirt/qemu/%s-swtpm.log" % name):
            if os.path.exists(p):
                os.unlink(p)
        shutil.rmtree(work, ignore_errors=True)
    print("HAL boot check passed")


if __name__ == "__main__":
    main()
