#!/usr/bin/python3
"""Bench helper: run commands, report each run's wall time and peak RSS.

Reads one JSON request on stdin:
  {"commands": {"NAME": {"argv": [...], "env": {...}}, ...}, "runs": N}
Runs the commands in turn (one of each per round, so machine noise falls on
all of them alike) and prints
  {"NAME": [{"wallMs": 12.3, "maxRssKiB": 4567, "status": 0}, ...], ...}
wait4() gives the child's own peak RSS, which a parent cannot read later.
"""
import json
import os
import sys
import time


def run_once(argv, env):
    start = time.perf_counter()
    pid = os.fork()
    if pid == 0:
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, 1)
            os.execve(argv[0], argv, env)
        finally:
            os._exit(127)
    _, status, usage = os.wait4(pid, 0)
    wall = (time.perf_counter() - start) * 1000.0
    return {"wallMs": round(wall, 2), "maxRssKiB": usage.ru_maxrss,
            "status": os.waitstatus_to_exitcode(status)}


def main():
    req = json.loads(sys.stdin.read())
    out = {name: [] for name in req["commands"]}
    for _ in range(req["runs"]):
        for name, cmd in req["commands"].items():
            out[name].append(run_once(cmd["argv"], cmd["env"]))
    sys.stdout.write(json.dumps(out))


if __name__ == "__main__":
    main()
