#!/usr/bin/python3
"""Conformance peer: run Ganeti's own runtime-file code on our files.

Run with /usr/bin/python3 and PYTHONPATH=/usr/share/ganeti/3.0 (Debian's
ganeti-3.0). Reads one JSON request on stdin:
  {"ops": [{"op": "load", "text": "..."},
           {"op": "save", "kvm_cmd": [...], "nics": [...], "hvparams": {...},
            "disks": [[disk, link, uri], ...]},
           {"op": "probe216"}]}
and prints one JSON list of results. "load" runs hv_kvm's
_AnalyzeSerializedRuntime (the loader every hotplug/migration uses) and
re-saves the result the way _SaveKVMRuntime does. "save" builds objects with
NIC.FromDict / Disk.FromDict and serializes them like _SaveKVMRuntime.
"""
import json
import sys
import traceback


def save_text(kvm_cmd, nics, hvparams, disks):
    from ganeti import serializer
    serialized_nics = [nic.ToDict() for nic in nics]
    serialized_disks = [(blk.ToDict(), link, uri) for blk, link, uri in disks]
    return serializer.Dump((kvm_cmd, serialized_nics, hvparams,
                            serialized_disks)).decode("utf-8")


def do_load(text):
    from ganeti.hypervisor import hv_kvm
    kvm_cmd, nics, hvparams, disks = hv_kvm._AnalyzeSerializedRuntime(text)
    return {
        "ok": True,
        "kvm_cmd": kvm_cmd,
        "hvparams": hvparams,
        "nics": [{"uuid": n.uuid, "hvinfo": n.hvinfo, "dict": n.ToDict()} for n in nics],
        "disks": [{"uuid": d.uuid, "hvinfo": d.hvinfo, "link": l, "uri": u,
                   "dict": d.ToDict()} for d, l, u in disks],
        "resaved": save_text(kvm_cmd, nics, hvparams, disks),
    }


def do_save(req):
    from ganeti import objects
    nics = [objects.NIC.FromDict(n) for n in req["nics"]]
    disks = [(objects.Disk.FromDict(d), l, u) for d, l, u in req["disks"]]
    return {"ok": True, "text": save_text(req["kvm_cmd"], nics, req["hvparams"], disks)}


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
            elif op["op"] == "save":
                out.append(do_save(op))
            elif op["op"] == "probe216":
                out.append(do_probe216())
            else:
                out.append({"ok": False, "error": "unknown op %r" % op["op"]})
        except Exception as err:  # report, the test decides
            out.append({"ok": False, "error": "%s: %s" % (type(err).__name__, err),
                        "trace": traceback.format_exc()})
    sys.stdout.write(json.dumps(out))


if __name__ == "__main__":
    main()
