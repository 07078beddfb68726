// The command line against the Ganeti lab, reaching its nodes the way admins
// reach nodes behind something: --proxy-command, and a Host of
// ~/.ssh/config that carries the ProxyCommand (the lab's nodes live in
// network namespaces; the ProxyCommand enters one). A change run on the
// master has Ganeti's job queue checked there; run on another node, the
// output says the queue could not be checked, and why.
import { afterAll, beforeAll, expect, it } from "vitest";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { addInstance } from "../../electron/lab/ganeti/cluster.js";
import type { NodeSession } from "../../electron/ssh/session.js";
import { deviceIdV2 } from "../../shared/runtime/index.js";
import { buildCli, runCliAsync } from "../unit/cli-bundle.js";
import { describeGaneti, gntOut, labNodeInfo, livePci, openNode, pnodeOf } from "./ganeti-fixture.js";

const NAME = "cli1";
const UUID = "6f1c3f0e-2b7d-4c55-9a41-0c7e2f5d8a10";

describeGaneti("the command line, through a ProxyCommand", (lab) => {
  let home: string;
  let journal: string;
  const sessions: NodeSession[] = [];
  const node1 = () => labNodeInfo("node1");
  const node2 = () => labNodeInfo("node2");
  const json = (stdout: string) => JSON.parse(stdout) as Record<string, unknown> & { result?: { ok: boolean; ganeti?: Record<string, unknown> } };

  beforeAll(async () => {
    buildCli();
    home = await mkdtemp(join(tmpdir(), "hd-cli-home-"));
    journal = join(home, "journal");
    await mkdir(join(home, ".ssh"));
    const n = node1();
    // As an admin would write it: the alias, the address, the user, the key and the way in.
    await writeFile(join(home, ".ssh", "config"), `Host gnt1\n  HostName ${n.ssh.host}\n  User root\n  IdentityFile ${n.ssh.privateKeyPath}\n  ProxyCommand ${n.ssh.proxyCommand}\n`);
    await addInstance({ name: NAME, node: 1, template: "diskless", nics: 1 });
  });

  afterAll(async () => {
    for (const s of sessions) s.close();
    await gntOut("gnt-instance", "remove", "-f", "--shutdown-timeout=0", NAME).catch(() => undefined);
    await rm(home, { recursive: true, force: true });
  });

  const live = async (node: ReturnType<typeof node1>) => {
    const s = await openNode(node);
    sessions.push(s);
    return livePci(s, NAME);
  };

  it("lists the node's instances through --proxy-command, the node's host key checked", async () => {
    const n = node1();
    const r = await runCliAsync(["inventory", "--node", `root@${n.ssh.host}`, "--proxy-command", n.ssh.proxyCommand, "-i", n.ssh.privateKeyPath, "--known-hosts", n.ssh.knownHostsPath, "--json"]);
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as { node: string; instances: { name: string; state: string }[] };
    expect(out.node).toBe(`root@${n.ssh.host}:22`);
    expect(out.instances.find((i) => i.name === NAME)?.state).toBe("running");
    // Without the key in known_hosts the node is refused, ProxyCommand or not.
    const refused = await runCliAsync(["inventory", "--node", `root@${n.ssh.host}`, "--proxy-command", n.ssh.proxyCommand, "-i", n.ssh.privateKeyPath, "--known-hosts", join(home, "empty_known_hosts")]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/host key of .* is not in/);
  });

  it("hot-adds a NIC on the master through its ~/.ssh/config Host, with Ganeti's job queue checked there", async () => {
    // Runtime only: our own uuid (configuration first, Ganeti would give its own).
    const r = await runCliAsync(["nic", "add", NAME, "--slot", "0x18", "--uuid", UUID, "--runtime-only", "--node", "gnt1", "--known-hosts", node1().ssh.knownHostsPath, "--ganeti-version", lab.ganetiVersion, "--journal", journal], {
      env: { ...process.env, HOME: home },
    });
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const out = json(r.stdout);
    expect(out.status).toBe("done");
    expect(out.node).toBe(`root@${node1().ssh.host}:22`);
    expect(out.result?.ganeti).toMatchObject({ queue: "checked", master: node1().name, waitedBefore: [], repairs: [] });
    expect(r.stderr).toMatch(/Ask Ganeti's job queue on node1\.ganeti\.example for jobs on cli1 before the change/);
    expect((await live(node1())).get(0x18)).toBe(deviceIdV2("nic", UUID));
  });

  it("removes it on node 2 after Ganeti migrated the instance there, saying Ganeti's job queue could not be checked from that node", async () => {
    await gntOut("gnt-instance", "migrate", "-f", NAME);
    expect(await pnodeOf(NAME)).toBe(node2().name);
    const n = node2();
    const r = await runCliAsync(["nic", "remove", NAME, UUID, "--node", `root@${n.ssh.host}`, "--proxy-command", n.ssh.proxyCommand, "-i", n.ssh.privateKeyPath, "--known-hosts", n.ssh.knownHostsPath, "--ganeti-version", lab.ganetiVersion, "--journal", journal]);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const out = json(r.stdout);
    expect(out.status).toBe("done");
    expect(out.ganetiQueue).toMatch(/Ganeti's job queue cannot be checked: The master, node1\.ganeti\.example \(198\.51\.100\.11\), is not among the nodes this change can reach: the command line reaches only the node given with --node/);
    expect(out.result?.ganeti).toMatchObject({ queue: "unchecked", master: node1().name });
    expect([...(await live(n)).values()]).not.toContain(deviceIdV2("nic", UUID));
  });
});
