#!/usr/bin/python3
"""Conformance peer: run Ganeti's own runtime-file code on our files.

Run with /usr/bin/python3 and PYTHONPATH set to one Ganeti's Python code:
/usr/share/ganeti/3.0 (Debian's ganeti-3.0) or the unpacked ganeti-3.1
(scripts/ganeti-3.1.sh). Reads one JSON request on stdin:
  {"ops": [{"op": "version"},
           {"op": "load", "text": "..."},
           {"op": "load_file", "base64": "..."},
           {"op": "save", "kvm_cmd": [...], "nics": [...], "hvparams": {...},
            "disks": [[disk, link, uri], ...]},
           {"op": "device_ids", "uuids": [...]},
           {"op": "probe216"}]}
and prints one JSON list of results. "load" runs the loader every hotplug
and migration uses (3.0: hv_kvm._AnalyzeSerializedRuntime; 3.1:
kvm_runtime.KVMRuntime.from_serialized) and re-saves the result the way
that version saves runtime files. "load_file" does the same with a file's
bytes, read back by Ganeti's own utils.ReadFile (strict UTF-8), as a node
reads the runtime file. "save" builds objects with NIC.FromDict /
Disk.FromDict and serializes them the same way. "device_ids" gives the
QEMU ids Ganeti derives for NICs and disks with those uuids.
"""
import json
import sys
import traceback


def runtime_api():
    """(load, save) for this Ganeti: text -> 4 parts, 4 parts -> text."""
    from ganeti import serializer
    try:
        from ganeti.hypervisor.hv_kvm.kvm_runtime import KVMRuntime  # 3.1+
    except ImportError:
        from ganeti.hypervisor import hv_kvm  # 2.16, 3.0

        def save(kvm_cmd, nics, hvparams, disks):
            serialized_nics = [nic.ToDict() for nic in nics]
            serialized_disks = [(blk.ToDict(), link, uri) for blk, link, uri in disks]
            return serializer.Dump((kvm_cmd, serialized_nics, hvparams, serialized_disks))
        return hv_kvm._AnalyzeSerializedRuntime, save

    def load(text):
        runtime = KVMRuntime.from_serialized(text)
        return runtime.kvm_cmd, runtime.kvm_nics, runtime.up_hvp, runtime.kvm_disks

    def save(kvm_cmd, nics, hvparams, disks):
        return KVMRuntime([kvm_cmd, nics, hvparams, disks]).serialize()
    return load, save


def as_text(data):
    return data.decode("utf-8") if isinstance(data, bytes) else data


def do_version():
    from ganeti import constants
    return {"ok": True, "version": constants.RELEASE_VERSION}


def do_load(text):
    load, save = runtime_api()
    kvm_cmd, nics, hvparams, disks = load(text)
    return {
        "ok": True,
        "kvm_cmd": kvm_cmd,
        "hvparams": hvparams,
        "nics": [{"uuid": n.uuid, "hvinfo": n.hvinfo, "dict": n.ToDict()} for n in nics],
        "disks": [{"uuid": d.uuid, "hvinfo": d.hvinfo, "link": l, "uri": u,
                   "dict": d.ToDict()} for d, l, u in disks],
        "resaved": as_text(save(kvm_cmd, nics, hvparams, disks)),
    }


def do_load_file(req):
    import base64
    import os
    import tempfile
    from ganeti import utils
    fd, path = tempfile.mkstemp(suffix=".runtime")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(base64.b64decode(req["base64"]))
        text = utils.ReadFile(path)
    finally:
        os.unlink(path)
    return do_load(text)


def do_save(req):
    from ganeti import objects
    _, save = runtime_api()
    nics = [objects.NIC.FromDict(n) for n in req["nics"]]
    disks = [(objects.Disk.FromDict(d), l, u) for d, l, u in req["disks"]]
    return {"ok": True, "text": as_text(save(req["kvm_cmd"], nics, req["hvparams"], disks))}


def do_device_ids(req):
    from ganeti import constants, objects
    from ganeti.hypervisor import hv_kvm
    gen = hv_kvm._GenerateDeviceKVMId
    return {"ok": True,
            "nic": [gen(constants.HOTPLUG_TARGET_NIC, objects.NIC(uuid=u)) for u in req["uuids"]],
            "disk": [gen(constants.HOTPLUG_TARGET_DISK, objects.Disk(uuid=u)) for u in req["uuids"]]}


def do_probe216():
    # Debian ships only ganeti/utils/version.py under /usr/share/ganeti/2.16;
    # the 2.16 hypervisor code is Python 2 and not installed.
    import os
    root = "/usr/share/ganeti/2.16"
    have = os.path.exists(os.path.join(root, "ganeti", "hypervisor", "hv_kvm", "__init__.py"))
    return {"ok": True, "importable": have,
            "detail": ("hv_kvm present" if have else
                       "no ganeti/hypervisor under %s (only %s): the 2.16 loader is not installed" %
                       (root, ", ".join(sorted(os.listdir(os.path.join(root, "ganeti"))))
                        if os.path.isdir(os.path.join(root, "ganeti")) else root))}


def main():
    req = json.loads(sys.stdin.read())
    out = []
    for op in req["ops"]:
        try:
            if op["op"] == "load":
                out.append(do_load(op["text"]))
            elif op["op"] == "load_file":
                out.append(do_load_file(op))
            elif op["op"] == "save":
                out.append(do_save(op))
            elif op["op"] == "version":
                out.append(do_version())
            elif op["op"] == "device_ids":
                out.append(do_device_ids(op))
            elif op["op"] == "probe216":
                out.append(do_probe216())
            else:
                out.append({"ok": False, "error": "unknown op %r" % op["op"]})
        except Exception as err:  # report, the test decides
            out.append({"ok": False, "error": "%s: %s" % (type(err).__name__, err),
                        "trace": traceback.format_exc()})
    # repr for what JSON cannot hold (a DRBD secret is a serializer.Private).
    sys.stdout.write(json.dumps(out, default=repr))


if __name__ == "__main__":
    main()
