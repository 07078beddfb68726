# The floor for hotplug latency: one long-lived python3 process that speaks
# QMP straight to an instance's local socket (no SSH, no lock, no runtime
# file). It stays up between requests so no interpreter start is measured.
# Python, not Node, because a tap fd must reach QEMU with SCM_RIGHTS
# (getfd), which Node's net module cannot send.
#
# stdin, one JSON per line: {"socket", "commands": [{"command", "arguments"}],
#   "tap": name or null (open it and getfd it as "fdname" first), "fdname",
#   "deleted": device id whose DEVICE_DELETED follows device_del, or null}
# stdout, one JSON per line: {"ms": elapsed} or {"error": text}
import fcntl
import json
import os
import socket
import struct
import sys
import time

TUNSETIFF = 0x400454CA
IFF_TAP, IFF_NO_PI, IFF_VNET_HDR = 0x0002, 0x1000, 0x4000


class Qmp:
    def __init__(self, path):
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.s.connect(path)
        self.f = self.s.makefile("rb")
        self.events = []
        self.until(lambda m: "QMP" in m)

    def until(self, pred):
        while True:
            line = self.f.readline()
            if not line:
                raise EOFError("QEMU closed the socket")
            m = json.loads(line)
            if "event" in m:
                self.events.append(m)
            if pred(m):
                return m

    def run(self, command, arguments=None, fd=None):
        msg = {"execute": command}
        if arguments:
            msg["arguments"] = arguments
        data = (json.dumps(msg) + "\n").encode()
        if fd is None:
            self.s.sendall(data)
        else:
            socket.send_fds(self.s, [data], [fd])
        r = self.until(lambda m: "return" in m or "error" in m)
        if "error" in r:
            raise RuntimeError("%s: %s" % (command, r["error"].get("desc")))
        return r["return"]

    def deleted(self, dev, timeout):
        match = lambda m: m.get("event") == "DEVICE_DELETED" and m.get("data", {}).get("device") == dev
        if any(match(e) for e in self.events):
            return
        self.s.settimeout(timeout)
        try:
            self.until(match)
        finally:
            self.s.settimeout(None)

    def close(self):
        self.s.close()


def once(req):
    t0 = time.perf_counter()
    q = Qmp(req["socket"])
    try:
        q.run("qmp_capabilities")
        if req.get("tap"):
            fd = os.open("/dev/net/tun", os.O_RDWR)
            try:
                fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", req["tap"].encode(), IFF_TAP | IFF_NO_PI | IFF_VNET_HDR))
                q.run("getfd", {"fdname": req["fdname"]}, fd=fd)
            finally:
                os.close(fd)
        for c in req["commands"]:
            q.run(c["command"], c.get("arguments"))
            if c["command"] == "device_del" and req.get("deleted"):
                q.deleted(req["deleted"], 30)
        q.run("query-pci")
    finally:
        q.close()
    return (time.perf_counter() - t0) * 1000


for line in sys.stdin:
    try:
        out = {"ms": once(json.loads(line))}
    except Exception as e:  # report, keep serving
        out = {"error": "%s: %s" % (type(e).__name__, e)}
    sys.stdout.write(json.dumps(out) + "\n")
    sys.stdout.flush()
