// Everything the app does on a node besides reading: the node-side steps
// of a hotplug plan (tap, nic file, fd passing), the per-instance lock and
// the runtime file's compare-and-swap write. Run over SSH by one long-lived
//   python3 -c <NODE_HELPER_PY> serve
// per NodeSession: each request is one JSON line on its stdin
// ({"id", "op", "args"}), each answer one JSON line on its stdout
// ({"id", "out"}); a line ".<token>" is a lock's heartbeat (no answer) and
// a line {"event": ...} on stdout is the helper speaking unasked. The script is a constant; everything variable travels as
// JSON data, so data never becomes code. Every answer is checked with zod
// before anything trusts it.
//
// Why one process per session: each exec costs an SSH round trip plus a
// python3 start (~160 ms on a small node), paid per step before; now once.
// The helper ends on stdin EOF, which it sees when we close the channel and
// when the SSH connection dies (sshd closes the session's pipes).
//
// Why python3: file descriptors (a tap, a disk opened as root) can only
// reach QEMU over a local UNIX socket with SCM_RIGHTS, never through the SSH
// tunnel, and python3 is on every Ganeti node.
import { z } from "zod";
import type { ClientChannel } from "ssh2";
import type { NodeSession } from "../ssh/session.js";
import { WriteBatch } from "../streams/write-batch.js";
import { abortChannel, describeArgv, ExecError, ExecOutputLimitError, ExecTimeoutError, openExec } from "./exec.js";

export const NODE_HELPER_PY = String.raw`
import array, base64, errno, fcntl, hashlib, json, os, select, socket, stat, struct, subprocess, sys, time

# The answer of the request being served; an op's first emit is its answer.
ANSWER = []

def emit(obj):
    if not ANSWER:
        ANSWER.append(obj)

def run(argv, env=None):
    # stdin is our request stream: a child must never read from it.
    p = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)
    return p.returncode, p.stdout.decode("utf-8", "replace")

def must(argv):
    code, out = run(argv)
    if code != 0:
        raise Fail("%s exited %d: %s" % (" ".join(argv), code, out.strip()))
    return out

class Fail(Exception):
    pass

def link_exists(name):
    return os.path.exists("/sys/class/net/" + name)

def rooted(root, path):
    return path if root == "/" else root.rstrip("/") + path

def tap_create(a):
    tap, link, mode, root = a["tap"], a["link"], a["mode"], a["root"]
    if link_exists(tap):
        raise Fail("network interface %s already exists on the node" % tap)
    hook = None
    for cand in ("/etc/ganeti/kvm-ifup-custom", "/usr/lib/ganeti/kvm-ifup"):
        p = rooted(root, cand)
        if os.path.isfile(p) and os.access(p, os.X_OK):
            hook = p
            break
    if hook is None and mode == "bridged" and not os.path.isdir("/sys/class/net/%s/bridge" % link):
        raise Fail("bridge %s does not exist on the node" % link)
    make_tap(tap)
    try:
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
        run(["ip", "link", "del", tap])
        raise
    master = None
    mp = "/sys/class/net/%s/master" % tap
    if os.path.islink(mp):
        master = os.path.basename(os.readlink(mp))
    emit({"ok": True, "tap": tap, "hook": hook, "how": how, "hookOutput": out[-2000:], "master": master})

def tap_remove(a):
    tap = a.get("tap")
    if tap is None and a.get("nicFile"):
        try:
            with open(a["nicFile"]) as f:
                tap = f.read().strip() or None
        except OSError:
            tap = None
    if tap is None or not link_exists(tap):
        emit({"ok": True, "tap": tap, "removed": False})
        return
    must(["ip", "link", "del", tap])
    emit({"ok": True, "tap": tap, "removed": True})

def read_or_none(path):
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return None

def nic_file(a):
    path = a["path"]
    previous = read_or_none(path)
    if a["action"] == "write":
        os.makedirs(os.path.dirname(path), exist_ok=True)
        tmp = path + ".hotplug-desk.new"
        with open(tmp, "w") as f:
            f.write(a["content"])
            f.flush()
            os.fsync(f.fileno())
        os.rename(tmp, path)
    elif previous is not None:
        os.unlink(path)
    emit({"ok": True, "previous": previous})

def nic_files(a):
    out = {}
    try:
        names = os.listdir(a["dir"])
    except OSError:
        names = []
    for n in names:
        if n.isdigit():
            v = read_or_none(os.path.join(a["dir"], n))
            if v is not None:
                out[n] = v.strip()
    emit({"ok": True, "files": out})

def link_info(a):
    res = {}
    for n in a["names"]:
        mp = "/sys/class/net/%s/master" % n
        res[n] = {"exists": link_exists(n), "master": os.path.basename(os.readlink(mp)) if os.path.islink(mp) else None}
    emit({"ok": True, "links": res})

TUNSETIFF = 0x400454ca
TUNSETPERSIST = 0x400454cb
IFF_TAP, IFF_NO_PI, IFF_VNET_HDR = 0x0002, 0x1000, 0x4000
SIOCGIFFLAGS, SIOCSIFFLAGS, SIOCBRADDIF, IFF_UP = 0x8913, 0x8914, 0x89a2, 0x1
IFREQ_FLAGS, IFREQ_INDEX = "16sH22x", "16si20x"  # struct ifreq is 40 bytes

# The three link changes a tap needs, as ioctls: the same kernel calls
# ip(8) makes, without starting a process for each (~2 ms apiece).
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
        fd = os.open("/dev/net/tun", os.O_RDWR)
        fds.append(fd)
        fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", src["tap"].encode("ascii"), IFF_TAP | IFF_NO_PI | IFF_VNET_HDR))
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

# Per-instance operation locks held by this process: flock(2) on the lock
# file, so they end with the process (stdin EOF when the channel closes or
# the SSH connection dies) at the latest. The holder proves it is alive with
# a heartbeat line (".<token>") at least every "staleAfterS"; a lock whose
# heartbeat stops is dropped, and the holder is told with an event line.
LOCKS = {}

def sha256_of(path, with_bytes=False):
    try:
        with open(path, "rb") as f:
            st = os.fstat(f.fileno())
            data = f.read(MAX_RUNTIME + 1)
    except FileNotFoundError:
        return None
    out = {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data), "regular": (st.st_mode & 0o170000) == 0o100000}
    if with_bytes and out["regular"] and len(data) <= MAX_RUNTIME:
        out["content"] = base64.b64encode(data).decode("ascii")
    return out

MAX_RUNTIME = 16 * 1024 * 1024

def lock(a):
    path = a["path"]
    try:
        os.makedirs(a["dir"], exist_ok=True)
    except OSError as e:
        raise Fail("cannot create the lock directory %s: %s" % (a["dir"], e.strerror))
    if a["token"] in LOCKS:
        raise Fail("lock token %s is already in use" % a["token"])
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as e:
        os.close(fd)
        if e.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
            emit({"ok": True, "locked": False, "holder": read_or_none(path + ".holder")})
            return
        raise Fail("cannot lock %s: %s" % (path, e.strerror))
    # A holder file still there means its holder ended without releasing
    # (its connection died): when it last changed anything is unknown.
    left_behind = os.path.exists(path + ".holder")
    try:
        tmp = "%s.holder.%d" % (path, os.getpid())
        with open(tmp, "w") as f:
            f.write(a["holder"] + "\n")
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
    token = a["token"]
    LOCKS[token] = {"fd": fd, "path": path, "stale": a["staleAfterS"], "seen": time.monotonic()}
    # Read under the lock, in the same request: the caller's first check costs no round trip.
    emit({"ok": True, "locked": True, "token": token, "check": sha256_of(a["check"], a.get("read", False)) if a.get("check") else None,
          "quietMs": quiet})

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

def digest(data):
    return None if data is None else {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}

def write_runtime(a):
    # Compare-and-swap of a runtime file, all on the node: the final compare
    # and the rename(2) run back to back in this process (microseconds apart,
    # where over SFTP a round trip separates them), and the directory is
    # fsynced after the rename, which SFTP has no request for.
    target, temp, expected = a["path"], a["temp"], a["expectedSha256"]
    data = base64.b64decode(a["content"], validate=True)
    before, st = read_target(target)
    if before is None or hashlib.sha256(before).hexdigest() != expected:
        emit({"ok": True, "written": False, "now": digest(before)})
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
            emit({"ok": True, "written": False, "now": digest(now)})
            return
        os.rename(temp, target)
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
    emit({"ok": True, "written": True, "dirSynced": synced, "unlocked": drop_lock(a["unlock"]) if a.get("unlock") else False})

OPS = {"write-runtime": write_runtime, "tap-create": tap_create, "tap-remove": tap_remove, "nic-file": nic_file, "nic-files": nic_files,
       "link-info": link_info, "pass-fd": pass_fd, "lock": lock, "unlock": unlock}

def answer(op, args):
    del ANSWER[:]
    try:
        OPS[op](args)
    except Fail as e:
        emit({"ok": False, "error": str(e)})
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
    return send({"id": rid, "out": out})

def drop_stale():
    now = time.monotonic()
    for token, l in list(LOCKS.items()):
        if now >= l["seen"] + l["stale"]:
            drop_lock(token, clean=False)
            send({"event": "lock-dropped", "token": token, "why": "no heartbeat for %d s" % l["stale"]})

def serve():
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

serve()
`;

const Failed = z.object({ ok: z.literal(false), error: z.string() });

export const TapCreateOut = z.object({
  ok: z.literal(true),
  tap: z.string(),
  hook: z.string().nullable(),
  how: z.string(),
  hookOutput: z.string(),
  master: z.string().nullable(),
});
export const TapRemoveOut = z.object({ ok: z.literal(true), tap: z.string().nullable(), removed: z.boolean() });
export const NicFileOut = z.object({ ok: z.literal(true), previous: z.string().nullable() });
export const NicFilesOut = z.object({ ok: z.literal(true), files: z.record(z.string(), z.string()) });
export const LinkInfoOut = z.object({
  ok: z.literal(true),
  links: z.record(z.string(), z.object({ exists: z.boolean(), master: z.string().nullable() })),
});
const QmpErr = z.object({ class: z.string(), desc: z.string() }).nullable().optional();
export const PassFdOut = z.object({
  ok: z.literal(true),
  fdset: z.number().int().nullable(),
  results: z.array(z.object({ command: z.string(), ok: z.boolean(), error: QmpErr, return: z.unknown().optional() })),
  /** The returns of `readAfter`, in order (empty when a command failed). */
  after: z.array(z.unknown()),
});

export class NodeHelperError extends Error {
  constructor(
    readonly op: string,
    message: string,
  ) {
    super(message);
    this.name = "NodeHelperError";
  }
}

export const LockOut = z.union([
  z.object({
    ok: z.literal(true),
    locked: z.literal(true),
    token: z.string().regex(/^[0-9a-f]{32}$/),
    check: z
      .object({
        sha256: z.string().regex(/^[0-9a-f]{64}$/),
        size: z.number().int().nonnegative(),
        regular: z.boolean(),
        /** The bytes themselves (base64), when asked for and the file is a regular one of at most 16 MiB. */
        content: z.base64().optional(),
      })
      .nullable(),
    /** How long the lock had been free when taken (ms), or null when the node cannot tell. */
    quietMs: z.number().nonnegative().nullable(),
  }),
  z.object({ ok: z.literal(true), locked: z.literal(false), holder: z.string().nullable() }),
]);
export const UnlockOut = z.object({ ok: z.literal(true), released: z.boolean() });
export const WriteRuntimeOut = z.union([
  z.object({ ok: z.literal(true), written: z.literal(true), dirSynced: z.boolean(), unlocked: z.boolean() }),
  z.object({
    ok: z.literal(true),
    written: z.literal(false),
    /** What the file holds now (null: it is gone). */
    now: z.object({ sha256: z.string(), size: z.number().int().nonnegative() }).nullable(),
  }),
]);

const HELPER_ARGV = ["python3", "-c", NODE_HELPER_PY, "serve"] as const;
const Answer = z.object({ id: z.number().nullable(), out: z.unknown() });
/** A line the helper sends on its own (not an answer). */
const HelperEventSchema = z.object({ event: z.literal("lock-dropped"), token: z.string(), why: z.string() });
export type HelperEvent = z.infer<typeof HelperEventSchema>;

/**
 * The helper process a request ran on: a lock taken there lives exactly as
 * long as this process, and its heartbeats go here.
 */
export interface HelperLink {
  readonly alive: boolean;
  /** Resolves with why the process ended (never rejects). */
  readonly ended: Promise<string>;
  /** A heartbeat line for one lock; no answer comes back. */
  heartbeat(token: string): void;
  onEvent(listener: (e: HelperEvent) => void): () => void;
}

/**
 * The helper process of one session. The script serves requests one after
 * the other and answers in order, so answers are matched to the requests
 * waiting, oldest first (ids are still checked, to catch a desync). Several
 * wait at once only within a chain; otherwise a session's requests take turns.
 */
class HelperProcess implements HelperLink {
  private nextId = 1;
  private readonly listeners = new Set<(e: HelperEvent) => void>();
  private endedWith: (why: string) => void = () => undefined;
  readonly ended = new Promise<string>((resolve) => (this.endedWith = resolve));
  private buffered = "";
  private firstOp = "";
  private readonly outgoing = new WriteBatch((text) => {
    if (this.closed) return;
    try {
      this.channel.write(text);
    } catch (err) {
      this.kill(new ExecError(`Cannot send "${this.firstOp}" to the node-side helper on ${this.session.label}: ${(err as Error).message}`, HELPER_ARGV));
    }
  });
  private stderr = "";
  private exit: { code: number | null; signal: string | null } | undefined;
  private closed = false;
  /** Requests written and not yet answered, oldest first: the helper answers in order. */
  private pending: { id: number; resolve: (line: string) => void; reject: (e: Error) => void }[] = [];

  private constructor(
    private readonly session: NodeSession,
    private readonly channel: ClientChannel,
    private readonly onGone: () => void,
  ) {
    channel.on("data", (chunk: Buffer) => this.onData(chunk));
    channel.stderr.on("data", (chunk: Buffer) => {
      if (this.stderr.length < 4096) this.stderr += chunk.toString("utf8");
    });
    channel.on("exit", (code: number | null, signal?: string) => {
      this.exit = { code: typeof code === "number" ? code : null, signal: typeof signal === "string" ? signal : null };
    });
    // A write racing the close must not become an unhandled 'error'; close follows.
    channel.on("error", () => undefined);
    channel.once("close", () => this.gone());
  }

  static async start(session: NodeSession, timeoutMs: number, onGone: () => void): Promise<HelperProcess> {
    const opening = openExec(session, HELPER_ARGV);
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        // A channel that opens after we gave up must not linger on the node.
        opening.then(abortChannel, () => undefined);
        reject(new ExecTimeoutError(HELPER_ARGV, session.label, timeoutMs));
      }, timeoutMs);
    });
    try {
      return new HelperProcess(session, await Promise.race([opening, timeout]), onGone);
    } finally {
      clearTimeout(timer);
    }
  }

  get alive(): boolean {
    return !this.closed;
  }

  /**
   * One request; resolves with the raw answer object. `after`: the id of an
   * earlier request (see `nextRequestId`) this one runs only if that one succeeded.
   */
  request(op: string, args: Record<string, unknown>, timeoutMs: number, after?: number): Promise<unknown> {
    if (this.closed) return Promise.reject(this.lostError(op));
    const id = this.nextId++;
    return new Promise<unknown>((resolve, reject) => {
      const timer = setTimeout(() => {
        // The process may be stuck in the step: end it; the next call starts a new one.
        this.kill(new ExecTimeoutError([...HELPER_ARGV, op], this.session.label, timeoutMs));
      }, timeoutMs);
      const entry = {
        id,
        resolve: (line: string) => {
          clearTimeout(timer);
          let answer: z.infer<typeof Answer>;
          try {
            answer = Answer.parse(JSON.parse(line));
          } catch {
            this.kill();
            return reject(new NodeHelperError(op, `The node-side step "${op}" on ${this.session.label} did not answer with JSON: ${line.trim().slice(0, 500) || "an empty line"}.`));
          }
          if (answer.id !== id) {
            this.kill();
            return reject(new NodeHelperError(op, `The node-side helper on ${this.session.label} answered request ${String(answer.id)} while ${id} ("${op}") was waiting; it was restarted.`));
          }
          resolve(answer.out);
        },
        reject: (e: Error) => {
          clearTimeout(timer);
          reject(e);
        },
      };
      this.pending.push(entry);
      this.send(`${JSON.stringify(after === undefined ? { id, op, args } : { id, op, args, after })}\n`, op);
    });
  }

  /** Lines written together (a chain) leave in one write: one SSH packet, one wake-up of the helper. */
  private send(line: string, op: string): void {
    if (this.outgoing.empty) this.firstOp = op;
    this.outgoing.add(line);
  }

  /** The id the next request will get (for a following request's `after`). */
  get nextRequestId(): number {
    return this.nextId;
  }

  heartbeat(token: string): void {
    if (this.closed) return;
    this.send(`.${token}\n`, "heartbeat");
  }

  onEvent(listener: (e: HelperEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Stdin EOF: the helper finishes and exits. */
  end(): void {
    try {
      this.channel.end();
    } catch {
      // Already closed.
    }
  }

  /** End the process; every request still waiting fails with `why` (or as the process ending would fail it). */
  private kill(why?: Error): void {
    this.endedWith("the node-side helper was stopped (a step timed out or answered out of turn)");
    this.closed = true;
    this.onGone();
    this.rejectAll(why);
    abortChannel(this.channel);
  }

  private rejectAll(why?: Error): void {
    const waiting = this.pending;
    this.pending = [];
    for (const p of waiting) p.reject(why ?? this.lostError());
  }

  private onData(chunk: Buffer): void {
    this.buffered += chunk.toString("utf8");
    if (this.buffered.length > MAX_ANSWER) {
      this.kill(new ExecOutputLimitError(HELPER_ARGV, this.session.label, "stdout", MAX_ANSWER));
      return;
    }
    for (let nl = this.buffered.indexOf("\n"); nl >= 0; nl = this.buffered.indexOf("\n")) {
      const line = this.buffered.slice(0, nl);
      this.buffered = this.buffered.slice(nl + 1);
      if (line.startsWith('{"event"')) {
        const ev = HelperEventSchema.safeParse(safeJson(line));
        if (ev.success) {
          for (const l of this.listeners) l(ev.data);
          continue;
        }
      }
      const p = this.pending.shift();
      if (p) p.resolve(line);
      else this.kill(); // an answer nobody asked for: out of step, start afresh
      if (this.closed) return;
    }
  }

  private gone(): void {
    this.endedWith(this.exit ? `the node-side helper exited (${this.exit.code ?? this.exit.signal ?? "?"})` : "the SSH connection closed");
    this.closed = true;
    this.onGone();
    this.rejectAll();
  }

  /** Why a request got no answer, in the terms a one-shot exec would have used. */
  private lostError(op = "request"): Error {
    if (!this.exit) {
      return new ExecError(
        `${describeArgv(HELPER_ARGV)} on ${this.session.label} ended without an exit status: the SSH connection was probably lost. Reconnect and check whether the step ran.`,
        HELPER_ARGV,
      );
    }
    const { code, signal } = this.exit;
    return new NodeHelperError(
      op,
      `The node-side step "${op}" on ${this.session.label} did not answer with JSON (exit ${code ?? signal ?? "?"}): ${(this.stderr || this.buffered).trim().slice(0, 500) || "no output"}. Is python3 installed on the node?`,
    );
  }
}

const MAX_ANSWER = 1024 * 1024;

function safeJson(line: string): unknown {
  try {
    return JSON.parse(line);
  } catch {
    return undefined;
  }
}

/** The helper of each session, and the tail of its request queue. */
const helpers = new WeakMap<NodeSession, { process?: Promise<HelperProcess>; queue: Promise<unknown> }>();

async function helperOf(session: NodeSession, timeoutMs: number): Promise<HelperProcess> {
  const slot = helpers.get(session)!;
  const current = slot.process && (await slot.process.catch(() => undefined));
  if (current?.alive) return current;
  const starting = HelperProcess.start(session, timeoutMs, () => {
    if (slot.process === starting) delete slot.process;
  });
  slot.process = starting;
  starting.catch(() => {
    if (slot.process === starting) delete slot.process;
  });
  return starting;
}

/**
 * Close the session's helper (stdin EOF; it exits once any step in flight
 * is done). Closing the SSH connection ends it as well.
 */
export async function closeNodeHelper(session: NodeSession): Promise<void> {
  const slot = helpers.get(session);
  if (!slot?.process) return;
  const p = slot.process;
  delete slot.process;
  (await p.catch(() => undefined))?.end();
}

/** Run one helper op on the node and validate its JSON answer. */
export async function runNodeHelper<S extends z.ZodTypeAny>(session: NodeSession, op: string, args: Record<string, unknown>, schema: S, timeoutMs = 30_000): Promise<z.infer<S>> {
  return (await runNodeHelperOn(session, op, args, schema, timeoutMs)).out;
}

/** runNodeHelper, also handing back the process that ran the op (for what must live with it). */
export async function runNodeHelperOn<S extends z.ZodTypeAny>(
  session: NodeSession,
  op: string,
  args: Record<string, unknown>,
  schema: S,
  timeoutMs = 30_000,
): Promise<{ out: z.infer<S>; link: HelperLink }> {
  const { answer, link } = await inTurn(session, timeoutMs, (helper, left) => helper.request(op, args, left).then((answer) => ({ answer, link: helper })));
  return { out: checked(op, answer, schema), link };
}

/** A step that was not run because the one before it in its chain failed. */
export class NodeHelperSkippedError extends NodeHelperError {
  constructor(op: string) {
    super(op, `The node-side step "${op}" was not run: the step before it failed.`);
    this.name = "NodeHelperSkippedError";
  }
}

export interface ChainedRequest<S extends z.ZodTypeAny = z.ZodTypeAny> {
  op: string;
  args: Record<string, unknown>;
  schema: S;
}

/**
 * Several requests sent at once, each run only if the one before it
 * succeeded: one round trip for the lot instead of one each. Returns one
 * promise per request, in order; a request the helper skipped rejects with
 * NodeHelperSkippedError. The caller learns exactly which ran. Every promise
 * has a handler attached, so one left unawaited after a failure is no
 * unhandled rejection.
 */
export function runNodeHelperChain(session: NodeSession, requests: ChainedRequest[], timeoutMs = 30_000): Promise<unknown>[] {
  let expose: (answers: Promise<unknown>[]) => void = () => undefined;
  const turn = inTurn(session, timeoutMs, async (helper, left) => {
    let after: number | undefined;
    const answers = requests.map((r, i) => {
      const id = helper.nextRequestId;
      // Each step keeps a whole limit of its own: the k-th may end k limits after the first began.
      const p = helper.request(r.op, r.args, left + i * timeoutMs, after);
      after = id;
      return p;
    });
    expose(answers); // each answer is seen as it comes
    await Promise.allSettled(answers); // the session's turn lasts until the last
  });
  // Rejects only when the chain never went out (no helper).
  const sent = new Promise<Promise<unknown>[]>((resolve, reject) => {
    expose = resolve;
    turn.catch(reject);
  });
  const outs = requests.map((r, i) =>
    sent.then(async (answers) => {
      const answer = await answers[i]!;
      if (typeof answer === "object" && answer !== null && (answer as { skipped?: unknown }).skipped === true) throw new NodeHelperSkippedError(r.op);
      return checked(r.op, answer, r.schema);
    }),
  );
  for (const o of outs) o.catch(() => undefined);
  return outs;
}

/** Run `fn` with the session's helper when the requests before it have settled. */
function inTurn<T>(session: NodeSession, timeoutMs: number, fn: (helper: HelperProcess, timeLeftMs: number) => Promise<T>): Promise<T> {
  let slot = helpers.get(session);
  if (!slot) {
    slot = { queue: Promise.resolve() };
    helpers.set(session, slot);
  }
  // One turn at a time per session; each waits for the previous to settle.
  const turn = slot.queue.then(async () => {
    // The limit covers starting the helper too, as it covered the exec before.
    const started = Date.now();
    const helper = await helperOf(session, timeoutMs);
    return fn(helper, Math.max(1, timeoutMs - (Date.now() - started)));
  });
  slot.queue = turn.catch(() => undefined);
  return turn;
}

/** A helper answer checked: its own failure as NodeHelperError, else the op's schema. */
function checked<S extends z.ZodTypeAny>(op: string, answer: unknown, schema: S): z.infer<S> {
  const failed = Failed.safeParse(answer);
  if (failed.success) throw new NodeHelperError(op, failed.data.error);
  const ok = schema.safeParse(answer);
  if (!ok.success) throw new NodeHelperError(op, `The node-side step "${op}" answered in an unexpected shape (${describeArgv(["python3", op])}): ${ok.error.issues[0]?.message ?? "invalid"}`);
  return ok.data;
}
