// The Ganeti lab itself: a real two-node Ganeti 3.0.2 cluster whose nodes
// live in their own namespaces, reached by the app through a ProxyCommand
// that enters each node's network namespace, with host keys checked; the
// machine's own hostname, /etc/hosts, root's SSH keys and addresses are never
// touched, and only one such lab runs on a machine.
import { expect, it, afterAll } from "vitest";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { tmpdir } from "node:os";
import { NodeSession, HostKeyError } from "../../electron/ssh/session.js";
import { GanetiLab } from "../../electron/lab/ganeti/lab.js";
import { runOnNode } from "../../electron/lab/ganeti/exec.js";
import { labNode } from "../../electron/lab/ganeti/layout.js";
import { describeGaneti, gntOut, openNode, provided } from "./ganeti-fixture.js";
import { machineFingerprint } from "./machine.js";

const sessions: NodeSession[] = [];
afterAll(() => sessions.forEach((s) => s.close()));

function exec(session: NodeSession, command: string): Promise<string> {
  return new Promise((resolve, reject) => {
    session.client.exec(command, (err, stream) => {
      if (err) return reject(err);
      let out = "";
      stream.on("data", (d: Buffer) => (out += d.toString()));
      stream.stderr.on("data", () => {});
      stream.on("close", () => resolve(out));
    });
  });
}

describeGaneti("the Ganeti lab", (lab) => {
  it("is a Ganeti 3.0.2 cluster of two vm-capable nodes, node 1 the master", async () => {
    expect((await gntOut("gnt-cluster", "version")).match(/Software version: (\S+)/)?.[1]).toBe("3.0.2");
    const nodes = (await gntOut("gnt-node", "list", "--no-headers", "--separator=|", "-o", "name,pip,master,vm_capable,offline")).trim().split("\n");
    expect(nodes).toEqual(lab.nodes.map((n) => `${n.name}|${n.ip}|${n.master ? "Y" : "N"}|Y|N`));
    expect((await gntOut("gnt-cluster", "getmaster")).trim()).toBe(lab.nodes[0]!.name);
  });

  it("runs each node in its own UTS namespace, and leaves the machine's hostname, /etc/hosts, root's SSH keys and addresses alone", async () => {
    for (const n of lab.nodes) expect((await runOnNode(labNode(n.name), ["hostname"])).stdout.trim()).toBe(n.name);
    const now = await machineFingerprint();
    expect(now.labAddresses).toEqual([]);
    if (provided.available) expect(now).toEqual(provided.machineBefore);
  });

  it("is reached by the app through a ProxyCommand into each node's network namespace, the node's host key checked", async () => {
    for (const n of lab.nodes) {
      const session = await openNode(n);
      sessions.push(session);
      expect(session.via).toMatch(/^via ProxyCommand nsenter/);
      expect((await exec(session, "hostname")).trim()).toBe(n.name);
    }
    // Another key for the same address is refused, proxy or not.
    const wrong = join(tmpdir(), `hd-ganeti-wrong-known-hosts-${process.pid}`);
    await writeFile(wrong, `${lab.nodes[0]!.ip} ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBGpQ1Jq6bjGL2mT8fY8Iu5Vv0Mk7nY6o0mJ2c9VvQwN\n`);
    const s = lab.nodes[0]!.ssh;
    const err = await NodeSession.open({ host: s.host, port: s.port, username: s.user, privateKeyPath: s.privateKeyPath, knownHostsPath: wrong, proxyCommand: s.proxyCommand }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(HostKeyError);
    expect((err as HostKeyError).verdict.kind).toMatch(/changed|unknown/);
  });

  it("refuses a second lab while this one runs, naming the lock's holder, and touches nothing of the running one", async () => {
    await expect(GanetiLab.start()).rejects.toThrow(/A Hotplug Desk Ganeti lab is already running \(process \d+ holds \/run\/hotplug-desk-ganeti-lab\.lock\)/);
    expect((await gntOut("gnt-node", "list", "--no-headers", "-o", "name")).trim().split("\n")).toHaveLength(2);
  });
});
