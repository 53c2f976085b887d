"""What the e2e tests share: skipping, the image folder QEMU can reach, the agent that goes in the image."""
import atexit
import os
import shutil
import sys
import tempfile


def skip(msg):
    print("SKIP: " + msg)
    sys.exit(77)


def searchable_dir(path):
    """path if QEMU (libvirt-qemu) can reach files in it, else a fresh folder under /tmp: a
    checkout under a private home (CI's, a developer's) must not fail the boot for that."""
    d = os.path.dirname(os.path.abspath(path))
    while d != "/":
        if os.path.isdir(d) and not os.stat(d).st_mode & 0o001:
            alt = tempfile.mkdtemp(prefix="covirt-hal-image-")
            os.chmod(alt, 0o755)
            print("%s is not world-searchable; building the image in %s" % (d, alt))
            atexit.register(shutil.rmtree, alt, True)
            return alt
        d = os.path.dirname(d)
    return path


def plain_agent(agent):
    """The agent that goes into the image: the plain build's when scripts/test.sh names one
    (COVIRT_PLAIN_BUILD), so a sanitizer build's tests boot the agent users get, at full speed."""
    plain = os.environ.get("COVIRT_PLAIN_BUILD")
    if plain and os.access(os.path.join(plain, "agent", "covirt-agent"), os.X_OK):
        agent = os.path.join(plain, "agent", "covirt-agent")
    print("image agent: " + agent)
    return agent
