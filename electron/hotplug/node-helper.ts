// Node-side steps of a hotplug plan, run over SSH as
//   python3 -c <NODE_HELPER_PY> <op> <json arguments>
// The script is a constant; everything variable travels as one JSON argument
// (quoted by remoteCommand), so data never becomes code. It prints one JSON
// object, which is checked with zod before anything trusts it.
//
// Why python3: file descriptors (a tap, a disk opened as root) can only
// reach QEMU over a local UNIX socket with SCM_RIGHTS, never through the SSH
// tunnel, and python3 is on every Ganeti node.
import { z } from "zod";
import type { NodeSession } from "../ssh/session.js";
import { describeArgv, execOnNode } from "../node/exec.js";

export const NODE_HELPER_PY = String.raw`
import array, fcntl, json, os, socket, struct, subprocess, sys

def emit(obj):
    sys.stdout.write(json.dumps(obj))
    sys.stdout.flush()

def run(argv, env=None):
    p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)
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
    must(["ip", "tuntap", "add", "dev", tap, "mode", "tap", "vnet_hdr"])
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
                must(["ip", "link", "set", tap, "master", link])
                how = "no ifup script (looked for %s, %s); attached to bridge %s directly" % (
                    rooted(root, "/etc/ganeti/kvm-ifup-custom"), rooted(root, "/usr/lib/ganeti/kvm-ifup"), link)
            elif mode == "openvswitch":
                must(["ovs-vsctl", "add-port", link, tap])
                how = "no ifup script; added to OVS switch %s directly" % link
            else:
                how = "no ifup script; routed mode: tap brought up, no routes set"
            must(["ip", "link", "set", tap, "up"])
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

class Qmp:
    def __init__(self, path, timeout):
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.s.settimeout(timeout)
        self.s.connect(path)
        self.f = self.s.makefile("rb")
        greeting = self.read()
        if "QMP" not in greeting:
            raise Fail("no QMP greeting on %s" % path)
        self.call("qmp_capabilities", {})

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
    try:
        fds = open_fds(a["source"])
    except OSError as e:
        raise Fail("cannot open %s: %s" % (a["source"].get("tap") or a["source"].get("path"), e))
    try:
        q = Qmp(a["socket"], a["timeoutS"])
        if a["mechanism"] == "getfd":
            for fd, name in zip(fds, a["fdnames"]):
                r = q.pass_fd(fd, "getfd", {"fdname": name})
                results.append({"command": "getfd", "ok": "return" in r, "error": r.get("error")})
                if "error" in r:
                    emit({"ok": True, "results": results, "fdset": None})
                    return
        else:
            r = q.pass_fd(fds[0], "add-fd", {})
            ok = "return" in r
            results.append({"command": "add-fd", "ok": ok, "error": r.get("error"), "return": r.get("return")})
            if not ok:
                emit({"ok": True, "results": results, "fdset": None})
                return
            fdset = r["return"]["fdset-id"]
    finally:
        for fd in fds:
            os.close(fd)
    for c in a["commands"]:
        args = substitute(c["arguments"], a["placeholder"], fdset) if fdset is not None else c["arguments"]
        r = q.call(c["command"], args)
        results.append({"command": c["command"], "ok": "return" in r, "error": r.get("error")})
        if "error" in r:
            break
    emit({"ok": True, "results": results, "fdset": fdset})

OPS = {"tap-create": tap_create, "tap-remove": tap_remove, "nic-file": nic_file, "nic-files": nic_files,
       "link-info": link_info, "pass-fd": pass_fd}

try:
    OPS[sys.argv[1]](json.loads(sys.argv[2]))
except Fail as e:
    emit({"ok": False, "error": str(e)})
except Exception as e:
    emit({"ok": False, "error": "%s: %s" % (type(e).__name__, e)})
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

/** Run one helper op on the node and validate its JSON answer. */
export async function runNodeHelper<S extends z.ZodTypeAny>(session: NodeSession, op: string, args: Record<string, unknown>, schema: S, timeoutMs = 30_000): Promise<z.infer<S>> {
  const argv = ["python3", "-c", NODE_HELPER_PY, op, JSON.stringify(args)];
  const r = await execOnNode(session, argv, { timeoutMs });
  let parsed: unknown;
  try {
    parsed = JSON.parse(r.stdout);
  } catch {
    throw new NodeHelperError(
      op,
      `The node-side step "${op}" on ${session.label} did not answer with JSON (exit ${r.code ?? r.signal ?? "?"}): ${(r.stderr || r.stdout).trim().slice(0, 500) || "no output"}. Is python3 installed on the node?`,
    );
  }
  const failed = Failed.safeParse(parsed);
  if (failed.success) throw new NodeHelperError(op, failed.data.error);
  const ok = schema.safeParse(parsed);
  if (!ok.success) throw new NodeHelperError(op, `The node-side step "${op}" answered in an unexpected shape (${describeArgv(["python3", op])}): ${ok.error.issues[0]?.message ?? "invalid"}`);
  return ok.data;
}
