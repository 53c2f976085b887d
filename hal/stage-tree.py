#!/usr/bin/python3
"""Stage the covirt HAL root tree from the build host's Debian 12 packages.

Called by hal/build-image.sh; it only fills a directory.  Every file comes from an
installed Debian package (or the agent binary given), shared libraries are found by
reading each ELF's DT_NEEDED entries recursively (not ldd: that would run foreign code
and follows the host's ld.so.cache), and byte code is compiled hash-based so that the
image does not depend on file times.  See docs/hal.md.
"""

import argparse
import glob
import os
import py_compile
import shutil
import stat
import struct
import subprocess
import sys

LIBDIR = "usr/lib/x86_64-linux-gnu"
# glibc's trusted directories: where ld.so looks when there is no ld.so.cache.
SYSTEM_LIBDIRS = ["/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/lib", "/usr/lib"]
PYVER = "3.11"

# Kernel modules the image loads, in this order; their dependencies come first (modules.dep).
MODULES = ["virtio_pci", "virtio_net", "virtio_console", "virtio_rng"]

# Libraries programs open with dlopen(), so DT_NEEDED cannot find them.
AGENT_DLOPEN = [
    "/usr/lib/x86_64-linux-gnu/libtss2-tcti-device.so.0",   # tss2-tctildr: /dev/tpmrm0
    "/usr/lib/x86_64-linux-gnu/gio/modules/libgiognutls.so",  # GIO's TLS backend for libsoup
]

# The wasm runner: Node.js and its WASI (preview1), in the wasm variant only (docs/hal.md).
NODE = "/usr/bin/node"
# the agent's WASI launcher, built beside it (agent/covirt-agent-wasi.mjs)
WASI_LAUNCHER = "covirt-agent-wasi.mjs"

# The docker runner's tools (docs/agent.md): umoci unpacks the OCI image, crun runs it.
DOCKER_RUNTIME = ["/usr/bin/umoci", "/usr/bin/crun"]

# Standard library parts that a computation never needs.
STDLIB_SKIP_DIRS = {"test", "idlelib", "tkinter", "turtledemo", "ensurepip", "lib2to3",
                    "pydoc_data", "__pycache__", "venv",
                    "dist-packages", "site-packages",
                    "config-%s-x86_64-linux-gnu" % PYVER}
STDLIB_SKIP_FILES = {"sitecustomize.py", "crypt.py", "turtle.py", "antigravity.py", "this.py",
                     "EXTERNALLY-MANAGED", "_aix_support.py", "_osx_support.py"}
DYNLOAD_SKIP_PREFIXES = ("_tkinter", "_curses", "readline", "_test", "xxlimited", "_dbm",
                         "_ctypes_test", "xxsubtype", "_xxtestfuzz", "nis", "_crypt", "spwd")

# datascience: these packages and their python3-* dependencies.  pythran is scipy's
# build-time compiler and pkg-resources is setuptools; neither is imported at run time.
DS_ROOTS = ["python3-numpy", "python3-pandas", "python3-sklearn", "python3-joblib"]
DS_SKIP_PKGS = {"python3", "python3-minimal", "python3.11", "python3-pythran",
                "python3-pkg-resources", "python3-gast", "python3-beniget", "python3-ply"}
DS_SKIP_DIRS = {"tests", "__pycache__", "include", "benchmarks"}
DS_SKIP_SUFFIXES = (".pyx", ".pxd", ".pxi", ".c", ".h", ".cpp", ".hpp", ".f", ".f90",
                    ".pyi", ".tmpl", ".src", ".orig", ".a", ".in")
# sample pictures and signals for demos, not for computations
DS_SKIP_FILES = {"scipy/misc/face.dat", "scipy/misc/ascent.dat", "scipy/misc/ecg.dat",
                 "sklearn/datasets/images/china.jpg", "sklearn/datasets/images/flower.jpg"}


def die(msg):
    sys.stderr.write("stage-tree: %s\n" % msg)
    sys.exit(1)


# --- ELF -------------------------------------------------------------------------

def elf_info(path):
    """(interp, needed, runpath) of an ELF64 little-endian file, or None if not ELF."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:4] != b"\x7fELF":
        return None
    if data[4] != 2 or data[5] != 1:
        die("%s: not a 64-bit little-endian ELF" % path)
    (e_phoff, e_shoff) = struct.unpack_from("<QQ", data, 0x20)
    (e_phentsize, e_phnum, e_shentsize, e_shnum) = struct.unpack_from("<HHHH", data, 0x36)
    interp = None
    loads = []
    dyn_off = dyn_size = None
    for i in range(e_phnum):
        p_type, _flags, p_offset, p_vaddr, _paddr, p_filesz = struct.unpack_from(
            "<IIQQQQ", data, e_phoff + i * e_phentsize)
        if p_type == 3:  # PT_INTERP
            interp = data[p_offset:p_offset + p_filesz].rstrip(b"\0").decode()
        elif p_type == 1:  # PT_LOAD
            loads.append((p_vaddr, p_offset, p_filesz))
        elif p_type == 2:  # PT_DYNAMIC
            dyn_off, dyn_size = p_offset, p_filesz
    if dyn_off is None:
        return interp, [], []

    def vaddr_to_off(v):
        for vaddr, off, size in loads:
            if vaddr <= v < vaddr + size:
                return v - vaddr + off
        die("%s: address %#x outside every PT_LOAD" % (path, v))

    entries = []
    for i in range(dyn_size // 16):
        tag, val = struct.unpack_from("<qQ", data, dyn_off + i * 16)
        if tag == 0:
            break
        entries.append((tag, val))
    strtab = [v for t, v in entries if t == 5]  # DT_STRTAB
    if not strtab:
        return interp, [], []
    stroff = vaddr_to_off(strtab[0])

    def string(o):
        end = data.index(b"\0", stroff + o)
        return data[stroff + o:end].decode()

    needed = [string(v) for t, v in entries if t == 1]  # DT_NEEDED
    runpath = []
    for t, v in entries:
        if t in (15, 29):  # DT_RPATH, DT_RUNPATH
            runpath += [p.replace("$ORIGIN", os.path.dirname(os.path.realpath(path)))
                        for p in string(v).split(":") if p]
    return interp, needed, runpath


class Tree:
    def __init__(self, root):
        self.root = root
        self.libs_done = set()   # sonames placed
        self.elf_done = set()    # host paths scanned

    def dst(self, rel):
        return os.path.join(self.root, rel.lstrip("/"))

    def mkdir(self, rel):
        os.makedirs(self.dst(rel), exist_ok=True)

    def copy(self, src, rel, mode=None):
        """Copy a host file's contents (symlinks followed) to rel in the tree."""
        d = self.dst(rel)
        os.makedirs(os.path.dirname(d), exist_ok=True)
        if os.path.lexists(d):
            os.unlink(d)
        shutil.copyfile(src, d)
        if mode is None:
            mode = 0o755 if os.stat(src).st_mode & stat.S_IXUSR else 0o644
        os.chmod(d, mode)

    def symlink(self, target, rel):
        d = self.dst(rel)
        os.makedirs(os.path.dirname(d), exist_ok=True)
        if os.path.lexists(d):
            os.unlink(d)
        os.symlink(target, d)

    def write(self, rel, text, mode=0o644):
        d = self.dst(rel)
        os.makedirs(os.path.dirname(d), exist_ok=True)
        with open(d, "w") as f:
            f.write(text)
        os.chmod(d, mode)

    def add_elf_deps(self, host_path):
        """Place every library host_path needs (recursively) and its dynamic loader."""
        todo = [host_path]
        while todo:
            p = todo.pop()
            real = os.path.realpath(p)
            if real in self.elf_done:
                continue
            self.elf_done.add(real)
            info = elf_info(real)
            if info is None:
                continue
            interp, needed, runpath = info
            if interp and "ld-linux" not in self.libs_done:
                self.libs_done.add("ld-linux")
                name = os.path.basename(interp)
                self.copy(interp, LIBDIR + "/" + name, 0o755)
                self.symlink("../lib/x86_64-linux-gnu/" + name, os.path.dirname(interp).replace("/lib64", "usr/lib64") + "/" + name)
                todo.append(interp)
            for soname in needed:
                if soname in self.libs_done:
                    continue
                found = None
                for d in runpath + SYSTEM_LIBDIRS:
                    cand = os.path.join(d, soname)
                    if os.path.exists(cand):
                        found = cand
                        break
                if not found:
                    die("%s needs %s, which is not installed" % (p, soname))
                self.libs_done.add(soname)
                self.copy(found, LIBDIR + "/" + soname, 0o755)
                todo.append(found)

    def add_program(self, host_path, rel):
        self.copy(host_path, rel, 0o755)
        self.add_elf_deps(host_path)


# --- parts -------------------------------------------------------------------------

def stage_base(t, args):
    for d in ["usr/bin", "usr/sbin", LIBDIR, "usr/lib64", "proc", "sys", "dev", "run", "tmp",
              "etc", "root", "var/lib", "mnt"]:
        t.mkdir(d)
    os.chmod(t.dst("tmp"), 0o1777)
    os.chmod(t.dst("root"), 0o700)
    # Debian 12's merged /usr
    for l in ["bin", "sbin", "lib", "lib64"]:
        t.symlink("usr/" + l, l)
    t.copy(args.busybox, "usr/bin/busybox", 0o755)
    if elf_info(args.busybox)[1]:
        die("%s is not static: install busybox-static" % args.busybox)
    applets = subprocess.run([args.busybox, "--list-full"], check=True, capture_output=True,
                             text=True).stdout.split()
    for a in sorted(applets):
        rel = a if a.startswith("usr/") else "usr/" + a
        if rel == "usr/bin/busybox" or os.path.lexists(t.dst(rel)):
            continue
        t.symlink("/usr/bin/busybox", rel)
    t.write("etc/passwd", "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n")
    t.write("etc/group", "root:x:0:\nnogroup:x:65534:\n")
    t.write("etc/hosts", "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n")
    t.write("etc/hostname", "covirt\n")
    t.write("etc/covirt-hal-version", args.hal_version + "\n")
    t.copy(args.init, "init", 0o755)


def stage_modules(t, kver):
    base = "/lib/modules/%s" % kver
    deps = {}
    with open(base + "/modules.dep") as f:
        for line in f:
            path, _, rest = line.partition(":")
            deps[path] = rest.split()
    by_name = {}
    for path in deps:
        name = os.path.basename(path).split(".ko")[0].replace("-", "_")
        by_name[name] = path
    order = []

    def visit(path):
        if path in order:
            return
        # modules.dep lists the full closure, the deepest last
        for d in reversed(deps[path]):
            visit(d)
        order.append(path)

    for m in MODULES:
        if m not in by_name:
            die("kernel %s has no module %s" % (kver, m))
        visit(by_name[m])
    names = []
    for path in order:
        name = os.path.basename(path)
        src = os.path.join(base, path)
        if name.endswith(".ko.xz") or name.endswith(".ko.zst"):
            die("%s is compressed; this builder expects Debian 12's plain .ko files" % src)
        t.copy(src, "lib/modules/%s/%s" % (kver, name), 0o644)
        names.append(name)
    t.write("etc/covirt-modules", "".join(n + "\n" for n in names))
    return names


def stage_agent(t, agent):
    t.add_program(agent, "usr/sbin/covirt-agent")
    # its libarchive work runs in this child, found beside the agent (agent/archive-child.h)
    helper = os.path.join(os.path.dirname(os.path.abspath(agent)), "covirt-agent-archive")
    if not os.path.exists(helper):
        die("%s is missing (it is built with covirt-agent)" % helper)
    t.add_program(helper, "usr/sbin/covirt-agent-archive")
    # small and text: in every variant, so that one agent install looks the same everywhere
    launcher = os.path.join(os.path.dirname(os.path.abspath(agent)), WASI_LAUNCHER)
    if not os.path.exists(launcher):
        die("%s is missing (it is built with covirt-agent)" % launcher)
    t.copy(launcher, "usr/sbin/" + WASI_LAUNCHER, 0o644)
    for lib in AGENT_DLOPEN:
        if not os.path.exists(lib):
            die("%s is missing (install the package named in scripts/deps.txt)" % lib)
        rel = lib[1:] if "/gio/" in lib else LIBDIR + "/" + os.path.basename(lib)
        t.copy(lib, rel, 0o755)
        t.add_elf_deps(lib)


def stage_docker_runtime(t):
    for prog in DOCKER_RUNTIME:
        if not os.path.exists(prog):
            die("%s is missing (install the package named in scripts/deps.txt)" % prog)
        t.add_program(prog, prog[1:])


def stage_node(t):
    """Debian's nodejs is /usr/bin/node and libnode with its libraries (ICU, libuv, OpenSSL…), all
    found by the DT_NEEDED walk; a node binary that links fewer (one built statically) works alike."""
    if not os.path.exists(NODE):
        die("%s is missing: install nodejs (scripts/deps.txt, '# hal wasm')" % NODE)
    t.add_program(NODE, NODE[1:])


def copy_filtered(t, src_root, dst_rel, skip_dir, skip_file):
    """Copy a directory tree (symlinks to files become files) with two filters."""
    for dirpath, dirnames, filenames in os.walk(src_root):
        dirnames[:] = sorted(d for d in dirnames if not skip_dir(dirpath, d))
        rel = os.path.relpath(dirpath, src_root)
        for fn in sorted(filenames):
            if skip_file(dirpath, fn):
                continue
            src = os.path.join(dirpath, fn)
            if not os.path.exists(src):
                continue  # dangling symlink
            t.copy(src, os.path.normpath(os.path.join(dst_rel, rel, fn)))
            if fn.endswith(".so") or ".so." in fn:
                t.add_elf_deps(src)


def stage_python(t):
    interp = "/usr/bin/python" + PYVER
    t.add_program(interp, "usr/bin/python" + PYVER)
    t.symlink("python" + PYVER, "usr/bin/python3")
    stdlib = "/usr/lib/python" + PYVER

    def skip_dir(parent, d):
        return d in STDLIB_SKIP_DIRS or d.startswith("config-")

    def skip_file(parent, fn):
        if fn in STDLIB_SKIP_FILES or fn.endswith(".pyc"):
            return True
        return parent.endswith("lib-dynload") and fn.startswith(DYNLOAD_SKIP_PREFIXES)

    copy_filtered(t, stdlib, "usr/lib/python" + PYVER, skip_dir, skip_file)
    t.mkdir("usr/lib/python3/dist-packages")
    # pip for an algorithm's requirements (offline, from the wheels uploaded with it):
    # Debian's self-contained pip wheel, importable as a zip through a .pth entry.
    wheels = sorted(glob.glob("/usr/share/python-wheels/pip-*-py3-none-any.whl"))
    if not wheels:
        die("no pip wheel in /usr/share/python-wheels: install python3-pip-whl")
    rel = "usr/share/python-wheels/" + os.path.basename(wheels[-1])
    t.copy(wheels[-1], rel, 0o644)
    t.write("usr/lib/python3/dist-packages/covirt-pip.pth", "/" + rel + "\n")


def dpkg_depends(pkg):
    """Depends of an installed package (first of each alternative); None if the name is
    not an installed package (a virtual one, such as python3-numpy-abi9)."""
    r = subprocess.run(["dpkg-query", "-W", "-f=${db:Status-Status} ${Depends}", pkg],
                       capture_output=True, text=True)
    if r.returncode != 0 or not r.stdout.startswith("installed"):
        return None
    out = r.stdout.split(" ", 1)[1]
    names = []
    for alt in out.split(","):
        first = alt.split("|")[0].strip()
        if first:
            names.append(first.split()[0].split(":")[0])
    return names


def stage_datascience(t):
    pkgs, todo = [], list(DS_ROOTS)
    while todo:
        p = todo.pop(0)
        if p in pkgs or p in DS_SKIP_PKGS or not p.startswith("python3-"):
            continue
        deps = dpkg_depends(p)
        if deps is None:
            if p in DS_ROOTS:
                die("%s is not installed (scripts/deps.txt, '# hal datascience')" % p)
            continue
        pkgs.append(p)
        todo += deps
    site = "/usr/lib/python3/dist-packages/"
    files = []
    for p in sorted(pkgs):
        out = subprocess.run(["dpkg-query", "-L", p], check=True, capture_output=True,
                             text=True).stdout.split("\n")
        files += [f for f in out if f.startswith(site)]
    for f in sorted(set(files)):
        parts = f[len(site):].split("/")
        if any(d in DS_SKIP_DIRS for d in parts[:-1]) or f[len(site):] in DS_SKIP_FILES:
            continue
        if os.path.isdir(f) or not os.path.exists(f) or f.endswith(DS_SKIP_SUFFIXES):
            continue
        if os.path.islink(f) and os.path.realpath(f).startswith(site):
            t.symlink(os.readlink(f), f)   # keep in-tree links (Debian dedups data this way)
            continue
        t.copy(f, f[1:])
        if ".so" in os.path.basename(f):
            t.add_elf_deps(f)
    # time zones for pandas/dateutil/pytz (Debian's pytz reads the system tzdata)
    zi = "/usr/share/zoneinfo"
    copy_filtered(t, zi, "usr/share/zoneinfo",
                  lambda parent, d: d in ("posix", "right"),
                  lambda parent, fn: fn.endswith(".tab") and fn not in ("zone1970.tab", "tzdata.zi"))
    return pkgs


def compile_pyc(t):
    """Hash-based, never-checked .pyc next to every .py: no mtimes inside, and the
    interpreter in the image never tries to rewrite them (its tree is read-mostly)."""
    for sub in ["usr/lib/python" + PYVER, "usr/lib/python3/dist-packages"]:
        base = t.dst(sub)
        for dirpath, dirnames, filenames in os.walk(base):
            dirnames.sort()
            for fn in sorted(filenames):
                if not fn.endswith(".py"):
                    continue
                src = os.path.join(dirpath, fn)
                if os.path.islink(src):
                    continue
                rel = "/" + os.path.relpath(src, t.root)
                try:
                    py_compile.compile(src, cfile=py_compile.importlib.util.cache_from_source(src),
                                       dfile=rel, doraise=True,
                                       invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH)
                except py_compile.PyCompileError:
                    # Python 2 leftovers in some packages; the interpreter skips them too.
                    pass


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--root", required=True)
    ap.add_argument("--variant", choices=["minimal", "datascience", "wasm"], default="minimal")
    ap.add_argument("--agent", required=True)
    ap.add_argument("--init", required=True)
    ap.add_argument("--kernel-version", required=True)
    ap.add_argument("--hal-version", required=True)
    ap.add_argument("--busybox", default="/bin/busybox")
    args = ap.parse_args()
    if sys.version_info[:2] != tuple(int(x) for x in PYVER.split(".")):
        die("run me with the python%s the image carries" % PYVER)
    os.umask(0o022)
    t = Tree(args.root)
    stage_base(t, args)
    mods = stage_modules(t, args.kernel_version)
    stage_agent(t, args.agent)
    stage_docker_runtime(t)
    stage_python(t)
    extra = stage_datascience(t) if args.variant == "datascience" else []
    if args.variant == "wasm":
        stage_node(t)
    compile_pyc(t)
    print("stage-tree: modules %s" % " ".join(m.split(".ko")[0] for m in mods))
    print("stage-tree: %d shared libraries%s" % (
        len(t.libs_done), ("; python packages " + " ".join(extra)) if extra else ""))


if __name__ == "__main__":
    main()
