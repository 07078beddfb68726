# The node-side helper of Hotplug Desk: everything the app does on a node
# besides reading (tap, nic file, fd passing, the per-instance lock, the
# runtime file's compare-and-swap write). node-helper.ts runs it over SSH as
#   python3 -c <this file> serve
# one process per SSH session. The protocol (request and answer schemas per
# op: electron/on-node/helper-protocol.ts):
#   request  one JSON line on stdin: {"id": N, "op": "...", "args": {...}[, "after": M]}
#   answer   one JSON line on stdout: {"kind": "answer", "id": N, "out": {...}}
#   event    one JSON line on stdout: {"kind": "event", "event": "lock-dropped", ...}
#   ".<token>" on stdin is a lock's heartbeat (no answer).
# Every line says what it is in "kind", whatever order a Python 3.5 dict puts
# the keys in. The script is a constant; everything variable travels as
# JSON data, so data never becomes code.
#
# It must run on Python 3.5, the oldest python3 on Ganeti 2.10-2.15 nodes:
# no f-strings, no time.monotonic_ns, no subprocess.run(capture_output=...),
# no dict-order assumptions (test/unit/node-helper-py.test.ts checks).
import array
import base64
import errno
import fcntl
import hashlib
import json
import os
import re
import select
import shutil
import socket
import stat
import struct
import subprocess
import sys
import time

# A runtime file is a few KiB; anything larger is not one. The answer that
# carries one (base64) must fit the app's answer limit, which is derived
# from the same number (helper-protocol.ts MAX_RUNTIME_BYTES).
MAX_RUNTIME = 16 * 1024 * 1024

# The answer of the request being served; an op's first emit is its answer.
ANSWER = []


def emit(obj):
    if not ANSWER:
        ANSWER.append(obj)


class Fail(Exception):
    # `said`: more fields for the failure answer (the runtime write's "renamed").
    def __init__(self, message, said=None):
        Exception.__init__(self, message)
        self.said = said or {}


def run(argv, env=None):
    # stdin is our request stream: a child must never read from it.
    p = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)
    return p.returncode, p.stdout.decode("utf-8", "replace")


def must(argv):
    code, out = run(argv)
    if code != 0:
        raise Fail("%s exited %d: %s" % (" ".join(argv), code, out.strip()))
    return out


def rooted(root, path):
    return path if root == "/" else root.rstrip("/") + path


# ---------------------------------------------------------------- trust

def trusted(path, what):
    # Root runs what it finds here (an ifup hook) or opens files in it (the
    # lock directory): every component from / down, symlinks followed, must
    # be owned by root (or by the user we run as) and not writable by group
    # or others. A root-owned sticky directory (/tmp) may be: there nobody
    # else can replace what root owns. The last component never may.
    # Returns the resolved path, or None when a component does not exist.
    me = os.getuid()
    if not path.startswith("/"):
        raise Fail("%s %s is not an absolute path" % (what, path))
    todo = [p for p in path.split("/") if p]
    cur = "/"
    check_component(cur, os.lstat(cur), what, path, me, last=not todo)
    hops = 0
    while todo:
        name = todo.pop(0)
        if name == ".":
            continue
        if name == "..":
            cur = os.path.dirname(cur) or "/"
            continue
        nxt = os.path.join(cur, name)
        try:
            st = os.lstat(nxt)
        except FileNotFoundError:
            return None
        if stat.S_ISLNK(st.st_mode):
            if st.st_uid not in (0, me):
                raise Fail(untrusted(what, path, nxt, "a symlink owned by uid %d" % st.st_uid))
            hops += 1
            if hops > 40:
                raise Fail("%s %s: too many levels of symbolic links" % (what, path))
            target = os.readlink(nxt)
            if target.startswith("/"):
                cur = "/"
            todo = [p for p in target.split("/") if p] + todo
            continue
        check_component(nxt, st, what, path, me, last=not todo)
        cur = nxt
    return cur


def check_component(p, st, what, path, me, last):
    if st.st_uid not in (0, me):
        raise Fail(untrusted(what, path, p, "owned by uid %d" % st.st_uid))
    if st.st_mode & 0o022:
        sticky_dir = stat.S_ISDIR(st.st_mode) and st.st_mode & stat.S_ISVTX and st.st_uid == 0
        if last or not sticky_dir:
            raise Fail(untrusted(what, path, p, "writable by %s (mode %04o)" % (
                "group and others" if st.st_mode & 0o022 == 0o022 else "group" if st.st_mode & 0o020 else "others",
                stat.S_IMODE(st.st_mode))))


def untrusted(what, path, p, why):
    return ("refusing to use %s %s: %s is %s, so a user other than root could change what root runs or opens there. "
            "Make every directory on the way owned by root and not group/other-writable (chown root; chmod go-w), "
            "or choose a node root that only root can change." % (what, path, p, why))


# ---------------------------------------------------------------- interface names

# Linux keeps interface names in IFNAMSIZ (16) bytes with the NUL: at most 15.
# Ganeti's and bridge names are plain; anything else (a slash, a colon,
# spaces, a leading dash an ip(8) option could start with) is refused.
IFNAME = re.compile(r"^[A-Za-z0-9_.+][A-Za-z0-9_.+-]{0,14}$")
ALIAS_PREFIX = "hotplug-desk:"


def check_ifname(name, what):
    if not isinstance(name, str) or not IFNAME.match(name) or name in (".", ".."):
        raise Fail("%s %s is not a usable Linux interface name: at most 15 bytes (IFNAMSIZ) of letters, digits, "
                   "'_', '.', '+' and '-', not starting with '-'. Fix it where it was recorded (nicparams link, "
                   "the nic file) or choose another name." % (what, json.dumps(name)))
    return name


def link_exists(name):
    return os.path.exists("/sys/class/net/" + name)


def is_tap(name):
    # tun_flags exists only for tun/tap devices; IFF_TAP tells a tap from a tun.
    try:
        with open("/sys/class/net/%s/tun_flags" % name) as f:
            return int(f.read().strip(), 16) & IFF_TAP != 0
    except (OSError, ValueError):
        return False


def alias_of(name):
    try:
        with open("/sys/class/net/%s/ifalias" % name, "rb") as f:
            return f.read().decode("utf-8", "replace").strip()
    except OSError:
        return ""


def set_alias(name, instance):
    # Marks the tap as ours, for this instance: only such taps (and those
    # Ganeti recorded for the instance) are ever deleted.
    with open("/sys/class/net/%s/ifalias" % name, "w") as f:
        f.write(ALIAS_PREFIX + instance)


def check_instance(name):
    if not isinstance(name, str) or not re.match(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,252}$", name):
        raise Fail("%s is not an instance name" % json.dumps(name))
    return name


# Taps this process created, by name: their instance.
CREATED = {}


# ---------------------------------------------------------------- taps

def tap_create(a):
    tap = check_ifname(a["tap"], "tap")
    link, mode, root, instance = a["link"], a["mode"], a["root"], check_instance(a["instance"])
    if mode in ("bridged", "openvswitch") and link:
        check_ifname(link, "bridge" if mode == "bridged" else "OVS switch")
    if link_exists(tap):
        raise Fail("network interface %s already exists on the node" % tap)
    hook = None
    for cand in ("/etc/ganeti/kvm-ifup-custom", "/usr/lib/ganeti/kvm-ifup"):
        p = rooted(root, cand)
        if os.path.lexists(p) and trusted(p, "the ifup hook") is not None:
            if os.path.isfile(p) and os.access(p, os.X_OK):
                hook = p
                break
    if hook is None and mode in ("bridged", "openvswitch") and not link:
        raise Fail("no ifup script and no %s given for tap %s" % ("bridge" if mode == "bridged" else "OVS switch", tap))
    if hook is None and mode == "bridged" and not os.path.isdir("/sys/class/net/%s/bridge" % link):
        raise Fail("bridge %s does not exist on the node" % link)
    make_tap(tap)
    CREATED[tap] = instance
    try:
        try:
            set_alias(tap, instance)
        except OSError as e:
            raise Fail("cannot label tap %s as made for %s: %s" % (tap, instance, e.strerror))
        if hook is not None:
            env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin") + ":/sbin:/usr/sbin"}
            env.update(a["env"])
            if root != "/":
                env["GANETI_ROOTDIR"] = root.rstrip("/")
            code, out = run([hook, tap], env=env)
            if code != 0:
                raise Fail("%s %s exited %d: %s" % (hook, tap, code, out.strip()))
            how = "ran %s" % hook
        else:
            out = ""
            if mode == "bridged":
                bridge_add(link, tap)
                how = "no ifup script (looked for %s, %s); attached to bridge %s directly" % (
                    rooted(root, "/etc/ganeti/kvm-ifup-custom"), rooted(root, "/usr/lib/ganeti/kvm-ifup"), link)
            elif mode == "openvswitch":
                must(["ovs-vsctl", "add-port", link, tap])
                how = "no ifup script; added to OVS switch %s directly" % link
            else:
                how = "no ifup script; routed mode: tap brought up, no routes set"
            link_up(tap)
    except Exception:
        run(["ip", "link", "del", "dev", tap])
        CREATED.pop(tap, None)
        raise
    master = None
    mp = "/sys/class/net/%s/master" % tap
    if os.path.islink(mp):
        master = os.path.basename(os.readlink(mp))
    emit({"ok": True, "tap": tap, "hook": hook, "how": how, "hookOutput": out[-2000:], "master": master})


def nic_file_instance(path):
    # nic/<instance>/<seq>: the instance the file records a tap for.
    seq = os.path.basename(path)
    if not seq.isdigit():
        raise Fail("%s is not a nic file (nic/<instance>/<seq>)" % path)
    return os.path.basename(os.path.dirname(path))


def tap_remove(a):
    instance = check_instance(a["instance"])
    tap = a.get("tap")
    recorded = None
    nic_file = a.get("nicFile")
    if nic_file:
        if nic_file_instance(nic_file) != instance:
            raise Fail("%s is not a nic file of instance %s" % (nic_file, instance))
        text = read_text_or_none(nic_file)
        recorded = text.strip() if text is not None and text.strip() else None
        if tap is None:
            tap = recorded
    if tap is None:
        emit({"ok": True, "tap": None, "removed": False})
        return
    check_ifname(tap, "tap")
    if not link_exists(tap):
        emit({"ok": True, "tap": tap, "removed": False})
        return
    if not is_tap(tap):
        raise Fail("refusing to delete %s: it is not a tap device, so it is not the NIC of instance %s. "
                   "Check nic/%s/ on the node." % (tap, instance, instance))
    ours = CREATED.get(tap) == instance or alias_of(tap) == ALIAS_PREFIX + instance
    if not ours and recorded != tap:
        raise Fail("refusing to delete tap %s: it was not made for instance %s (not named in %s and not created by "
                   "Hotplug Desk for %s). Delete it by hand if it is really left over." % (
                       tap, instance, nic_file or "its nic file", instance))
    must(["ip", "link", "del", "dev", tap])
    CREATED.pop(tap, None)
    emit({"ok": True, "tap": tap, "removed": True})


def link_info(a):
    res = {}
    for n in a["names"]:
        check_ifname(n, "interface")
        mp = "/sys/class/net/%s/master" % n
        res[n] = {"exists": link_exists(n), "master": os.path.basename(os.readlink(mp)) if os.path.islink(mp) else None}
    emit({"ok": True, "links": res})


# ---------------------------------------------------------------- nic files

def read_text_or_none(path, limit=4096):
    # A small text file (a nic file, a lock's holder), its bytes kept exactly
    # or refused: never cut, never decoded with replacement characters.
    try:
        with open(path, "rb") as f:
            data = f.read(limit + 1)
    except OSError:
        return None
    if len(data) > limit:
        raise Fail("%s is larger than %d bytes, which it never is; refusing to use or rewrite it. Inspect it on the node." % (path, limit))
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise Fail("%s holds bytes that are not UTF-8; refusing to use or rewrite it. Inspect it on the node." % path)


def nic_file(a):
    path = a["path"]
    previous = read_text_or_none(path)
    if a["action"] == "write":
        os.makedirs(os.path.dirname(path), exist_ok=True)
        tmp = path + ".hotplug-desk.new"
        with open(tmp, "wb") as f:
            f.write(a["content"].encode("utf-8"))
            f.flush()
            os.fsync(f.fileno())
        os.rename(tmp, path)
    elif previous is not None:
        os.unlink(path)
    emit({"ok": True, "previous": previous})


def nic_files(a):
    out = {}
    unreadable = []
    try:
        names = os.listdir(a["dir"])
    except OSError:
        names = []
    for n in names:
        if n.isdigit():
            try:
                v = read_text_or_none(os.path.join(a["dir"], n))
            except Fail:
                unreadable.append(n)
                continue
            if v is not None:
                out[n] = v.strip()
    emit({"ok": True, "files": out, "unreadable": sorted(unreadable)})


# ---------------------------------------------------------------- link ioctls

TUNSETIFF = 0x400454ca
TUNSETPERSIST = 0x400454cb
IFF_TAP, IFF_NO_PI, IFF_VNET_HDR = 0x0002, 0x1000, 0x4000
SIOCGIFFLAGS, SIOCSIFFLAGS, SIOCBRADDIF, IFF_UP = 0x8913, 0x8914, 0x89a2, 0x1
IFREQ_FLAGS, IFREQ_INDEX = "16sH22x", "16si20x"  # struct ifreq is 40 bytes


# The three link changes a tap needs, as ioctls: the same kernel calls
# ip(8) makes, without starting a process for each (~2 ms apiece). Names
# reach them checked (check_ifname), so struct's 16s never cuts one.
def make_tap(tap):
    # = ip tuntap add dev TAP mode tap vnet_hdr
    fd = os.open("/dev/net/tun", os.O_RDWR)
    try:
        fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", tap.encode("ascii"), IFF_TAP | IFF_NO_PI | IFF_VNET_HDR))
        fcntl.ioctl(fd, TUNSETPERSIST, 1)
    except OSError as e:
        raise Fail("cannot create tap %s: %s" % (tap, e.strerror))
    finally:
        os.close(fd)


def link_up(name):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            flags = struct.unpack(IFREQ_FLAGS, fcntl.ioctl(s, SIOCGIFFLAGS, struct.pack(IFREQ_FLAGS, name.encode("ascii"), 0)))[1]
            fcntl.ioctl(s, SIOCSIFFLAGS, struct.pack(IFREQ_FLAGS, name.encode("ascii"), flags | IFF_UP))
        except OSError as e:
            raise Fail("cannot bring %s up: %s" % (name, e.strerror))


def bridge_add(bridge, name):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            fcntl.ioctl(s, SIOCBRADDIF, struct.pack(IFREQ_INDEX, bridge.encode("ascii"), socket.if_nametoindex(name)))
        except OSError as e:
            raise Fail("cannot attach %s to bridge %s: %s" % (name, bridge, e.strerror))


# ---------------------------------------------------------------- fd passing over QMP

class Qmp:
    def __init__(self, path, timeout):
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.f = None
        try:
            self.s.settimeout(timeout)
            self.s.connect(path)
            self.f = self.s.makefile("rb")
            greeting = self.read()
            if "QMP" not in greeting:
                raise Fail("no QMP greeting on %s" % path)
            self.call("qmp_capabilities", {})
        except BaseException:
            self.close()
            raise

    def read(self):
        line = self.f.readline()
        if not line:
            raise Fail("QEMU closed the QMP connection")
        return json.loads(line.decode("utf-8"))

    def send(self, command, args):
        msg = {"execute": command}
        if args:
            msg["arguments"] = args
        self.s.sendall(json.dumps(msg).encode("utf-8") + b"\n")

    def reply(self):
        while True:
            m = self.read()
            if "return" in m or "error" in m:
                return m

    def call(self, command, args):
        self.send(command, args)
        return self.reply()

    def close(self):
        # The socket serves one client: free it for the next step.
        try:
            if self.f is not None:
                self.f.close()
        finally:
            self.s.close()

    def pass_fd(self, fd, command, args):
        # One byte carries the fd (as Ganeti does); the command that claims it follows.
        self.s.sendmsg([b" "], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", [fd]))])
        return self.call(command, args)


def substitute(v, placeholder, n):
    if isinstance(v, str):
        if v == placeholder:
            return n
        return v.replace(placeholder, str(n))
    if isinstance(v, list):
        return [substitute(x, placeholder, n) for x in v]
    if isinstance(v, dict):
        return dict((k, substitute(x, placeholder, n)) for k, x in v.items())
    return v


def open_fds(src):
    fds = []
    if src["type"] == "tap":
        tap = check_ifname(src["tap"], "tap")
        fd = os.open("/dev/net/tun", os.O_RDWR)
        fds.append(fd)
        fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", tap.encode("ascii"), IFF_TAP | IFF_NO_PI | IFF_VNET_HDR))
        # From now on the tap lives as long as an fd holds it (QEMU's), like a
        # tap Ganeti opens: it vanishes with its netdev or with QEMU.
        fcntl.ioctl(fd, TUNSETPERSIST, 0)
        if src.get("vhost"):
            fds.append(os.open("/dev/vhost-net", os.O_RDWR))
    else:
        fds.append(os.open(src["path"], os.O_RDWR))
    return fds


def pass_fd(a):
    results = []
    fdset = None
    q = None
    try:
        fds = open_fds(a["source"])
    except OSError as e:
        raise Fail("cannot open %s: %s" % (a["source"].get("tap") or a["source"].get("path"), e))
    try:
        try:
            q = Qmp(a["socket"], a["timeoutS"])
            if a["mechanism"] == "getfd":
                for fd, name in zip(fds, a["fdnames"]):
                    r = q.pass_fd(fd, "getfd", {"fdname": name})
                    results.append({"command": "getfd", "ok": "return" in r, "error": r.get("error")})
                    if "error" in r:
                        emit({"ok": True, "results": results, "fdset": None, "after": [], "stop": True})
                        return
            else:
                r = q.pass_fd(fds[0], "add-fd", {})
                ok = "return" in r
                results.append({"command": "add-fd", "ok": ok, "error": r.get("error"), "return": r.get("return")})
                if not ok:
                    emit({"ok": True, "results": results, "fdset": None, "after": [], "stop": True})
                    return
                fdset = r["return"]["fdset-id"]
        finally:
            # The process outlives this step: our copies must not keep a tap alive.
            for fd in fds:
                os.close(fd)
        for c in a["commands"]:
            args = substitute(c["arguments"], a["placeholder"], fdset) if fdset is not None else c["arguments"]
            r = q.call(c["command"], args)
            results.append({"command": c["command"], "ok": "return" in r, "error": r.get("error")})
            if "error" in r:
                break
        # Reads in the same session right after the change (query-pci for the
        # verify step): no second connection, no extra round trip.
        after = []
        all_ok = all(x["ok"] for x in results)
        if all_ok:
            for c in a.get("readAfter") or []:
                r = q.call(c, {})
                after.append(r.get("return"))
        # QEMU refused something: the step answered, but what is chained after it must not run.
        emit({"ok": True, "results": results, "fdset": fdset, "after": after, "stop": not all_ok})
    finally:
        if q is not None:
            q.close()


# ---------------------------------------------------------------- locks

# Per-instance operation locks held by this process: flock(2) on the lock
# file, so they end with the process (stdin EOF when the channel closes or
# the SSH connection dies) at the latest. The holder proves it is alive with
# a heartbeat line (".<token>") at least every "staleAfterS"; a lock whose
# heartbeat stops is dropped, and the holder is told with an event line.
LOCKS = {}


def read_target(path):
    # (bytes, stat), or (None, None) when the file is gone. Follows a symlink, as a reader does.
    try:
        f = open(path, "rb")
    except FileNotFoundError:
        return None, None
    except IsADirectoryError:
        raise Fail("%s is not a regular file; refusing to touch it. Inspect it on the node." % path)
    with f:
        st = os.fstat(f.fileno())
        if not stat.S_ISREG(st.st_mode):
            raise Fail("%s is not a regular file; refusing to touch it. Inspect it on the node." % path)
        data = f.read(MAX_RUNTIME + 1)
    if len(data) > MAX_RUNTIME:
        raise Fail("%s is larger than %d bytes (16 MiB), so it is not a runtime file. Inspect it on the node." % (path, MAX_RUNTIME))
    return data, st


def checked_file(path, with_bytes):
    # What the lock request reads of the runtime file once it holds the lock.
    # O_NONBLOCK: a FIFO in its place must not hang the helper; it is reported, not read.
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    with os.fdopen(fd, "rb") as f:
        st = os.fstat(fd)
        regular = stat.S_ISREG(st.st_mode)
        data = f.read(MAX_RUNTIME + 1) if regular else b""
    out = {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data), "regular": regular}
    if with_bytes and regular and len(data) <= MAX_RUNTIME:
        out["content"] = base64.b64encode(data).decode("ascii")
    return out


def lock(a):
    path, d, token = a["path"], a["dir"], a["token"]
    if os.path.dirname(path) != d.rstrip("/"):
        raise Fail("lock file %s is not in the lock directory %s" % (path, d))
    try:
        os.makedirs(d, mode=0o755, exist_ok=True)
    except OSError as e:
        raise Fail("cannot create the lock directory %s: %s" % (d, e.strerror))
    trusted(d, "the lock directory")
    if token in LOCKS:
        raise Fail("lock token %s is already in use" % token)
    # O_NOFOLLOW: the lock file is never a symlink to something else root would truncate.
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as e:
        os.close(fd)
        if e.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
            try:
                holder = read_text_or_none(path + ".holder")
            except Fail:
                holder = None
            emit({"ok": True, "locked": False, "holder": holder})
            return
        raise Fail("cannot lock %s: %s" % (path, e.strerror))
    # A holder file still there means its holder ended without releasing
    # (its connection died): when it last changed anything is unknown.
    left_behind = os.path.exists(path + ".holder")
    try:
        tmp = "%s.holder.%d" % (path, os.getpid())
        with open(tmp, "wb") as f:
            f.write((a["holder"] + "\n").encode("utf-8"))
        os.rename(tmp, path + ".holder")
    except OSError as e:
        os.close(fd)
        raise Fail("cannot write %s.holder: %s" % (path, e.strerror))
    quiet = quiet_ms(fd, left_behind)
    try:
        # "Held": a holder that ends without writing a release time (one that
        # dies, or an older app) leaves the next taker "unknown", not a stale time.
        os.ftruncate(fd, 0)
    except OSError:
        quiet = None
    LOCKS[token] = {"fd": fd, "path": path, "stale": a["staleAfterS"], "seen": time.monotonic()}
    # Read under the lock, in the same request: the caller's first check costs no round trip.
    check = None
    if a.get("check"):
        try:
            check = checked_file(a["check"], a.get("read", False))
        except Exception as e:
            # The caller never learns the token of a lock whose request failed: let it go now.
            drop_lock(token)
            raise Fail("cannot read %s under the lock: %s; the lock was released." % (
                a["check"], getattr(e, "strerror", None) or "%s: %s" % (type(e).__name__, e)))
    emit({"ok": True, "locked": True, "token": token, "check": check, "quietMs": quiet})


def now_ns():
    return int(time.monotonic() * 1e9)  # time.monotonic_ns needs Python 3.7


def quiet_ms(fd, left_behind):
    # How long the lock had been free when we took it, from the release time
    # the last holder wrote into the lock file (CLOCK_MONOTONIC, which every
    # process on the node shares); None when unknown.
    if left_behind:
        return None
    try:
        released = int(os.pread(fd, 32, 0).decode("ascii").strip())
    except (OSError, ValueError):
        return None
    quiet = now_ns() - released
    return quiet / 1e6 if quiet >= 0 else None


def drop_lock(token, clean=True):
    # Never raises: it runs after a runtime write has already been renamed.
    l = LOCKS.pop(token, None)
    if l is None:
        return False
    if clean:  # a holder dropped for silence may have been mid-change: leave "unknown"
        try:
            os.pwrite(l["fd"], ("%d\n" % now_ns()).encode("ascii"), 0)
        except Exception:
            pass  # the next holder then reads "unknown" and re-reads what it must
    try:
        os.unlink(l["path"] + ".holder")
    except Exception:
        pass
    try:
        os.close(l["fd"])  # closing the only fd of this open file ends the flock
    except Exception:
        pass
    return True


def unlock(a):
    emit({"ok": True, "released": drop_lock(a["token"])})


# ---------------------------------------------------------------- runtime write

def digest(data):
    return None if data is None else {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}


def write_runtime(a):
    # Every answer says whether the file was renamed over ("renamed"): the
    # app counts a write as not done only when the helper said so before its
    # rename; a lost or garbled answer leaves the outcome unknown.
    stage = {"renamed": False}
    try:
        write_runtime_staged(a, stage)
    except Fail as e:
        e.said["renamed"] = stage["renamed"]
        raise
    except Exception as e:
        raise Fail("%s: %s" % (type(e).__name__, e), {"renamed": stage["renamed"]})


def write_runtime_staged(a, stage):
    # Compare-and-swap of a runtime file, all on the node: the final compare
    # and the rename(2) run back to back in this process (microseconds apart,
    # where over SFTP a round trip separates them), and the directory is
    # fsynced after the rename, which SFTP has no request for.
    target, temp, expected = a["path"], a["temp"], a["expectedSha256"]
    if os.path.dirname(temp) != os.path.dirname(target):
        raise Fail("the temp file %s is not beside %s: the rename would not be atomic" % (temp, target))
    token = a.get("unlock")
    if token and token not in LOCKS:
        # The lock this write was to end is not ours (dropped for silence, or
        # taken on a helper that has since ended): another operation may hold
        # the instance now, so the write must not happen.
        raise Fail("refusing to write %s: this helper does not hold the instance lock the write was made under "
                   "(it was dropped or ended with its helper), so another operation may be changing the instance. "
                   "Nothing was written; re-read the instance and plan again." % target)
    data = base64.b64decode(a["content"], validate=True)
    if len(data) > MAX_RUNTIME:
        raise Fail("refusing to write %d bytes to %s: a runtime file is at most %d bytes" % (len(data), target, MAX_RUNTIME))
    before, st = read_target(target)
    if before is None or hashlib.sha256(before).hexdigest() != expected:
        emit({"ok": True, "written": False, "renamed": False, "now": digest(before)})
        return
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
            mine = os.fstat(fd)
            if (mine.st_uid, mine.st_gid) != (st.st_uid, st.st_gid):
                try:
                    os.fchown(fd, st.st_uid, st.st_gid)
                except PermissionError as e:
                    # Not root and the file is already ours: only the group differs,
                    # and we may not be in it. The owner (who matters for 0600) is kept.
                    if not (os.getuid() != 0 and st.st_uid == os.getuid()):
                        raise Fail("cannot give the new %s its old owner %d:%d (%s); nothing was replaced. Connect as root or as the file's owner."
                                   % (target, st.st_uid, st.st_gid, e.strerror))
        finally:
            os.close(fd)
        now, _ = read_target(target)
        if now != before:
            os.unlink(temp)
            emit({"ok": True, "written": False, "renamed": False, "now": digest(now)})
            return
        os.rename(temp, target)
        stage["renamed"] = True
    except BaseException:
        try:
            os.unlink(temp)
        except OSError:
            pass
        raise
    synced = True
    try:
        dfd = os.open(os.path.dirname(target) or ".", os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    except OSError:
        synced = False  # the rename stands; only its durability across a power loss is unsure
    # The write was the change's last act: its lock can go in the same request.
    emit({"ok": True, "written": True, "renamed": True, "dirSynced": synced, "unlocked": drop_lock(token) if token else False})


# ---------------------------------------------------------------- disk paths

# What the app needs to judge a disk path on this node (the judging is
# shared/on-node/disk-paths.ts): the path resolved here (symlinks followed),
# what it is, whether the node itself uses it (a mounted filesystem, swap,
# or a device beneath one), and where this node keeps Ganeti's disks.

def ssconf_value(root, name):
    text = read_text_or_none(rooted(root, "/var/lib/ganeti/ssconf_" + name))
    if text is None:
        return None
    value = text.strip()
    return value or None


def place(path):
    # A directory as configured, and where it really is.
    return {"path": path, "real": os.path.realpath(path), "exists": os.path.isdir(path)}


# The names vgs gave, and when: running vgs costs tens of milliseconds, more
# than the rest of a disk add's read, and volume groups are created rarely.
# A group made within VG_NAMES_TTL of the last look is missed until then
# (its disks are refused, never wrongly allowed); the volumes in each group
# are listed afresh every time.
VG_NAMES_TTL = 30.0
vg_names_seen = None  # (monotonic time, names, notes)


def volume_group_names(notes):
    global vg_names_seen
    now = time.monotonic()
    if vg_names_seen is not None and now - vg_names_seen[0] < VG_NAMES_TTL:
        notes.extend(vg_names_seen[2])
        return vg_names_seen[1]
    mine = []
    path = os.environ.get("PATH", "/usr/bin:/bin") + ":/sbin:/usr/sbin"
    vgs = shutil.which("vgs", path=path)
    names = []
    if vgs is None:
        mine.append("vgs (LVM) is not installed on the node: no volume groups")
    else:
        try:
            p = subprocess.run([vgs, "--noheadings", "-o", "vg_name"], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, timeout=15)
        except subprocess.TimeoutExpired:
            p = None
            mine.append("vgs did not answer within 15 s: volume groups unknown")
        if p is not None and p.returncode != 0:
            mine.append("vgs exited %d: %s" % (p.returncode, p.stderr.decode("utf-8", "replace").strip()[:300]))
        elif p is not None:
            names = p.stdout.decode("utf-8", "replace").split()
    if vgs_answered(mine):
        vg_names_seen = (now, names, mine)  # a failed look is not kept: the next one tries again
    notes.extend(mine)
    return names


def vgs_answered(notes):
    return not any(n.startswith("vgs did not answer") or n.startswith("vgs exited") for n in notes)


def volume_groups(notes):
    out = []
    for name in volume_group_names(notes):
        if re.match(r"^[A-Za-z0-9+_.][A-Za-z0-9+_.-]*$", name):
            try:
                lvs = sorted(os.listdir("/dev/" + name))
            except OSError:
                lvs = []  # no active volumes
            out.append({"name": name, "volumes": [{"path": "/dev/%s/%s" % (name, lv), "real": os.path.realpath("/dev/%s/%s" % (name, lv))} for lv in lvs]})
    return out


def devno(text):
    major, minor = text.split(":")
    return "%d:%d" % (int(major), int(minor))


def block_uses():
    # Block devices the node itself uses, "major:minor" -> why: what is
    # mounted (from mountinfo, so no mount point is ever stat'ed: a dead NFS
    # mount would hang us), swap, and every device beneath those (a
    # partition's disk, the slaves of a device-mapper or md device).
    uses = {}

    def mark(dev, why, depth=0):
        if dev in uses or depth > 16:
            return
        sysdir = "/sys/dev/block/" + dev
        if not os.path.exists(sysdir):
            return  # not a block device (tmpfs, proc, overlay...)
        uses[dev] = why
        name = os.path.basename(os.path.realpath(sysdir))
        if os.path.exists(sysdir + "/partition"):
            parent = os.path.dirname(os.path.realpath(sysdir))
            text = read_text_or_none(parent + "/dev")
            if text:
                mark(devno(text.strip()), "holds partition %s, which %s" % (name, why), depth + 1)
        try:
            slaves = os.listdir(sysdir + "/slaves")
        except OSError:
            slaves = []
        for sl in slaves:
            text = read_text_or_none("%s/slaves/%s/dev" % (sysdir, sl))
            if text:
                mark(devno(text.strip()), "is beneath %s, which %s" % (name, why), depth + 1)

    try:
        with open("/proc/self/mountinfo", "rb") as f:
            lines = f.read().decode("utf-8", "replace").splitlines()
    except OSError:
        lines = []
    for line in lines:
        fields = line.split(" ")
        if len(fields) < 10 or "-" not in fields:
            continue
        dash = fields.index("-")
        mount_point = fields[4].replace("\\040", " ")
        source = fields[dash + 2] if len(fields) > dash + 2 else "?"
        try:
            mark(devno(fields[2]), "is mounted at %s (%s)" % (mount_point, source))
        except ValueError:
            continue
    try:
        with open("/proc/swaps") as f:
            swaps = f.read().splitlines()[1:]
    except OSError:
        swaps = []
    for line in swaps:
        dev = line.split()[0] if line.split() else ""
        try:
            st = os.stat(dev)
        except OSError:
            continue
        if stat.S_ISBLK(st.st_mode):
            mark("%d:%d" % (os.major(st.st_rdev), os.minor(st.st_rdev)), "is swap")
    return uses


def disk_path(a):
    path, root = a["path"], a["root"]
    real = os.path.realpath(path)
    out = {"ok": True, "path": path, "real": real, "exists": False, "type": None, "device": None, "inUse": None}
    try:
        st = os.stat(real)
    except OSError:
        st = None
    if st is not None:
        out["exists"] = True
        m = st.st_mode
        out["type"] = ("file" if stat.S_ISREG(m) else "block" if stat.S_ISBLK(m) else "char" if stat.S_ISCHR(m)
                       else "dir" if stat.S_ISDIR(m) else "other")
        if stat.S_ISBLK(m):
            dev = "%d:%d" % (os.major(st.st_rdev), os.minor(st.st_rdev))
            out["device"] = dev
            out["inUse"] = block_uses().get(dev)
    notes = []
    paths_file = rooted(root, "/etc/ganeti/file-storage-paths")
    listed = read_text_or_none(paths_file)
    entries = []
    if listed is not None:
        # As Ganeti reads it (utils.FilterEmptyLinesAndComments): stripped, no blanks, no "#" lines.
        entries = [l.strip() for l in listed.splitlines() if l.strip() and not l.strip().startswith("#")]
    dirs = {}
    for key, name in (("fileStorageDir", "file_storage_dir"), ("sharedFileStorageDir", "shared_file_storage_dir"),
                      ("glusterStorageDir", "gluster_storage_dir")):
        value = ssconf_value(root, name)
        dirs[key] = place(value) if value and value.startswith("/") else None
    out["storage"] = {
        "fileStoragePathsFile": paths_file,
        "fileStoragePaths": [place(e) for e in entries if e.startswith("/")],
        "fileStorageDir": dirs["fileStorageDir"],
        "sharedFileStorageDir": dirs["sharedFileStorageDir"],
        "glusterStorageDir": dirs["glusterStorageDir"],
        "instanceDisks": place(rooted(root, "/var/run/ganeti/instance-disks")),
        "volumeGroups": volume_groups(notes),
        "notes": notes,
    }
    out["allow"] = [{"path": e, "real": os.path.realpath(e), "exists": os.path.exists(e)} for e in a["allow"]]
    emit(out)


# ---------------------------------------------------------------- serving

OPS = {"write-runtime": write_runtime, "tap-create": tap_create, "tap-remove": tap_remove, "nic-file": nic_file, "nic-files": nic_files,
       "link-info": link_info, "pass-fd": pass_fd, "lock": lock, "unlock": unlock, "disk-path": disk_path}


def answer(op, args):
    del ANSWER[:]
    try:
        OPS[op](args)
    except Fail as e:
        out = {"ok": False, "error": str(e)}
        out.update(e.said)
        emit(out)
    except Exception as e:
        emit({"ok": False, "error": "%s: %s" % (type(e).__name__, e)})
    return ANSWER[0] if ANSWER else {"ok": False, "error": "the step %s gave no answer" % op}


def send(obj):
    try:
        sys.stdout.write(json.dumps(obj) + "\n")
        sys.stdout.flush()
        return True
    except (BrokenPipeError, OSError):
        return False  # nobody is listening any more


# Ids of recent requests that did not succeed (or answered "stop": QEMU
# refused a command of theirs): a request sent "after" one of them is
# skipped, so a chain sent in one go stops where a step failed.
NOT_OK = []


def handle(line):
    if line.startswith(b"."):
        l = LOCKS.get(line[1:].decode("ascii", "replace"))
        if l is not None:
            l["seen"] = time.monotonic()
        return True
    rid = None
    try:
        req = json.loads(line.decode("utf-8"))
        rid = req["id"]
        if req.get("after") is not None and req["after"] in NOT_OK:
            out = {"ok": False, "skipped": True, "error": "not run: the step before it failed"}
        else:
            out = answer(req["op"], req["args"])
    except Exception as e:
        out = {"ok": False, "error": "bad request: %s: %s" % (type(e).__name__, e)}
    if not out.get("ok") or out.get("stop"):  # "stop": answered, but what is chained after it must not run
        NOT_OK.append(rid)
        del NOT_OK[:-64]
    return send({"kind": "answer", "id": rid, "out": out})


def drop_stale():
    now = time.monotonic()
    for token, l in list(LOCKS.items()):
        if now >= l["seen"] + l["stale"]:
            drop_lock(token, clean=False)
            send({"kind": "event", "event": "lock-dropped", "token": token, "why": "no heartbeat for %d s" % l["stale"]})


def serve():
    # Directories this process creates (the lock directory) are 0755 whatever umask sshd left.
    os.umask(0o022)
    buf = bytearray()
    while True:
        timeout = None
        if LOCKS:
            timeout = max(0.0, min(l["seen"] + l["stale"] for l in LOCKS.values()) - time.monotonic())
        ready, _, _ = select.select([0], [], [], timeout)
        if not ready:
            drop_stale()
            continue
        chunk = os.read(0, 1 << 20)
        if not chunk:
            return  # EOF: the channel was closed or the SSH connection died
        start = len(buf)
        buf += chunk
        nl = buf.find(b"\n", start)
        while nl >= 0:
            line = bytes(buf[:nl])
            del buf[:nl + 1]
            if not handle(line):
                return
            nl = buf.find(b"\n")
        # No stale check here: heartbeats sent while a step ran may still be
        # in the pipe; select() with the remaining time reads them first.


if __name__ == "__main__" and sys.argv[1:] == ["serve"]:
    serve()
