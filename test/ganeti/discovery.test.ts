// A Ganeti cluster seen from one of its nodes, against the lab's real
// Ganeti 3.0.2: the app adds node 1 only, discovers the cluster through it
// (name, master, both nodes with addresses, ports, group and roles), adds
// node 2 with node 1's credentials and route (its host key still waiting
// for the user's trust, beside the key the cluster's known_hosts lists),
// reads each node's version from the node, derives an instance's readers
// from its node group, and shows every device three ways as Ganeti's
// configuration, the runtime file and the live bus change: our runtime-only
// hotplug, Ganeti's own --hotplug, a configuration-only add, a hard reboot.
// The command line's `cluster show` and `inventory --json` read the same.
import { afterAll, beforeAll, expect, it } from "vitest";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { z } from "zod";
import type { ComposedApp } from "../../electron/app/compose.js";
import { addInstance } from "../../electron/lab/ganeti/cluster.js";
import {
  AddClusterNodesResponseSchema,
  ClusterDiscoverySchema,
  ClusterViewSchema,
  PlanPreviewSchema,
  TrustHostKeyResponseSchema,
} from "../../shared/ipc/contract.js";
import { InstanceViewSchema, type InstanceView } from "../../shared/inventory/view.js";
import { OperationOutcomeSchema } from "../../shared/ipc/contract.js";
import { buildCli, runCliAsync } from "../unit/cli-bundle.js";
import { N1, N2, composeWebApp, describeGaneti, fingerprintOfLine, gntOut, livePci, openNode, labNodeInfo } from "./ganeti-fixture.js";

const NAME = "disc1";

describeGaneti("a Ganeti cluster discovered from one node, its facts detected, its devices three ways", (lab) => {
  let dir: string;
  let app: ComposedApp;
  const terminal: string[] = [];
  const call = async <T>(schema: z.ZodType<T>, channel: string, req: unknown): Promise<T> => schema.parse(await app.dispatcher.call(channel, req));
  const rsaLine = lab.knownHostsLines.find((l) => l.includes(" ssh-rsa "))!;
  const ed25519Line = lab.knownHostsLines.find((l) => l.includes(" ssh-ed25519 "))!;
  const ganetiNicUuids = async () => (await gntOut("gnt-instance", "list", "--no-headers", "-o", "nic.uuids", NAME)).trim().replace(/[[\]' ]/g, "").split(",").filter(Boolean);
  const view = () => call(InstanceViewSchema, "instance.get", { nodeId: "n1", instance: NAME });
  const device = (v: InstanceView, uuid: string) => v.threeWay.find((d) => d.uuid === uuid);

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "hd-ganeti-discovery-"));
    await addInstance({ name: NAME, node: 1, template: "sharedfile", diskMiB: 16, nics: 1 });
    app = await composeWebApp(dir, terminal);
    // Node 1 only, as a user adds it: its address, root's key, the ProxyCommand into its namespace; its key trusted for its address alone.
    const n1 = labNodeInfo("node1");
    await app.store.appendKnownHost(`${n1.ip} ${ed25519Line.split(/\s+/).slice(1).join(" ")}`);
    await app.nodes.add({ id: "n1", name: "node1", host: n1.ssh.host, port: n1.ssh.port, user: n1.ssh.user, auth: { kind: "key", keyPath: n1.ssh.privateKeyPath }, root: "/", proxyCommand: n1.ssh.proxyCommand });
    expect((await app.nodes.connect("n1")).state).toBe("ready");
  });

  afterAll(async () => {
    await app?.dispose();
    await gntOut("gnt-instance", "remove", "-f", "--shutdown-timeout=0", NAME).catch(() => undefined);
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("discovers the cluster from node 1: name, master, both nodes with addresses, ports, group and roles, node 1's version read from it", async () => {
    const d = await call(ClusterDiscoverySchema, "cluster.discover", { nodeId: "n1" });
    if (d.kind !== "cluster") throw new Error(`standalone: ${d.why}`);
    const c = d.view.cluster;
    expect([c.name, c.master, c.masterIp, c.releaseVersion]).toEqual([lab.cluster, N1, lab.clusterIp, "3.0.2"]);
    expect(c.sources.config).toMatchObject({ read: true, from: N1 });
    expect(d.view.nodes.map((n) => [n.name, n.address, n.sshPort, n.group, n.role, n.offline, n.drained])).toEqual([
      [N1, lab.nodes[0]!.ip, 22, "default", "master", false, false],
      [N2, lab.nodes[1]!.ip, 22, "default", "candidate", false, false],
    ]);
    expect(d.view.groups).toEqual([{ name: "default", nodes: [N1, N2] }]);
    const [v1, v2] = d.view.nodes;
    expect([v1!.appNodeId, v1!.connection, v1!.version?.version, v1!.version?.source]).toEqual(["n1", "ready", "3.0.2", "installed"]);
    expect(v1!.version?.from).toBe("/usr/share/ganeti/3.0/ganeti/_constants.py (RELEASE_VERSION)");
    expect([v2!.appNodeId, v2!.connection, v2!.version]).toEqual([null, null, undefined]);
    expect(v1!.instances).toContain(NAME);
    // Node 2 is offered with node 1's credentials and route, and the key the cluster's known_hosts lists.
    expect(d.view.candidates).toEqual([
      {
        name: N2,
        settings: { id: "node2", name: N2, host: lab.nodes[1]!.ip, port: 22, user: "root", root: "/", auth: "key", keyPath: lab.nodes[0]!.ssh.privateKeyPath, proxyCommand: lab.nodes[0]!.ssh.proxyCommand },
        expectedHostKey: { keyType: "ssh-rsa", fingerprint: fingerprintOfLine(rsaLine), source: expect.stringContaining(`/var/lib/ganeti/known_hosts on ${N1}`) },
      },
    ]);
  });

  it("adds node 2 with node 1's credentials; its host key waits for the user's trust, shown beside the key the cluster lists, then it connects", async () => {
    const r = await call(AddClusterNodesResponseSchema, "cluster.addNodes", { nodeId: "n1", names: [N2, "node9.ganeti.example"] });
    expect(r.refused).toEqual([{ name: "node9.ganeti.example", reason: expect.stringMatching(/not a node of cluster/) }]);
    expect(r.added.map((n) => [n.config.id, n.config.host, n.config.proxyCommand])).toEqual([["node2", lab.nodes[1]!.ip, lab.nodes[0]!.ssh.proxyCommand]]);
    await expect.poll(() => app.nodes.status("node2")?.state, { timeout: 30_000 }).toBe("failed");
    const problem = app.nodes.status("node2")!.hostKey!;
    // The node was asked for the key type the cluster vouches for, and it is that key: still not trusted.
    expect(problem).toMatchObject({ verdict: "unknown", keyType: "ssh-rsa", fingerprint: fingerprintOfLine(rsaLine), expected: { fingerprint: fingerprintOfLine(rsaLine), matches: true } });
    expect(app.nodes.status("node2")!.detail).toMatch(/It is the key the known_hosts of Ganeti cluster/);
    // Trust is the user's act: the code printed in the terminal.
    const asked = await call(TrustHostKeyResponseSchema, "nodes.trustHostKey", { nodeId: "node2", fingerprint: problem.fingerprint });
    expect(asked.outcome).toBe("code-needed");
    // The terminal the code is printed in says what the cluster vouches for, beside the fingerprint.
    expect(terminal.join("")).toContain(`${problem.fingerprint}\nIt is the key the known_hosts of Ganeti cluster ${lab.cluster}`);
    const code = [...terminal.join("").matchAll(/\n {4}(\d{4}) (\d{4})\n/g)].at(-1)!.slice(1).join("");
    expect((await call(TrustHostKeyResponseSchema, "nodes.trustHostKey", { nodeId: "node2", fingerprint: problem.fingerprint, code })).outcome).toBe("trusted");
    await expect.poll(() => app.nodes.status("node2")?.state, { timeout: 30_000 }).toBe("ready");
    expect(await app.dispatcher.call("cluster.list", {})).toEqual([{ name: lab.cluster, master: N1, nodeIds: ["n1", "node2"], nodes: 2 }]);
    const d = await call(ClusterDiscoverySchema, "cluster.discover", { nodeId: "node2" });
    if (d.kind !== "cluster") throw new Error("node2 is standalone?");
    expect(d.view.candidates).toEqual([]);
    expect(d.view.nodes.map((n) => [n.name, n.appNodeId, n.connection, n.version?.version, n.version?.source])).toEqual([
      [N1, "n1", "ready", "3.0.2", "installed"],
      [N2, "node2", "ready", "3.0.2", "installed"],
    ]);
  });

  it("derives the instance's readers from its node group, each named with why, in the review of a change", async () => {
    const preview = await call(PlanPreviewSchema, "hotplug.plan", { nodeId: "n1", instance: NAME, intent: { action: "add-nic", link: lab.bridge, slot: "0x12" } });
    if (!preview.ok) throw new Error(preview.refusals.map((r) => r.message).join("; "));
    expect(preview.readers.map((r) => [r.node, r.version, r.versionSource, r.why])).toEqual([
      [N1, "3.0.2", "installed", `${N1}: runs the instance now (its runtime file is there)`],
      [N2, "3.0.2", "installed", `${N2}: same node group 'default'; may receive a migration or failover (sharedfile disks)`],
    ]);
  });

  let ours: string;
  let ganetis: string;

  it("after our runtime-only hotplug: our NIC is live and in the runtime file, not in Ganeti's configuration, and says what that means", async () => {
    const preview = await call(PlanPreviewSchema, "hotplug.plan", { nodeId: "n1", instance: NAME, intent: { action: "add-nic", link: lab.bridge, slot: "0x12", runtimeOnly: true } });
    if (!preview.ok) throw new Error(preview.refusals.map((r) => r.message).join("; "));
    const outcome = new Promise((resolve) => {
      const off = app.bus.subscribe((event, payload) => {
        if (event !== "operation.outcome") return;
        off();
        resolve(OperationOutcomeSchema.parse(payload).outcome);
      });
    });
    await app.dispatcher.call("hotplug.execute", { planId: preview.planId });
    expect(await outcome).toMatchObject({ ok: true });
    const v = await view();
    const [ganetiNic] = await ganetiNicUuids();
    const mine = v.threeWay.find((d) => d.slot === 0x12)!;
    ours = mine.uuid!;
    expect((await livePci(await openNode(labNodeInfo("node1")), NAME)).get(0x12)).toBe(mine.id);
    expect([mine.combination, mine.where]).toEqual(["file-and-live", { config: false, file: true, live: true }]);
    expect(mine.consequence).toBe("Live and in the runtime file, not in Ganeti's configuration: Ganeti drops it at the next shutdown/startup of this instance; a soft reboot or a migration keeps it.");
    expect(device(v, ganetiNic!)?.combination).toBe("all-three");
    expect(v.devices.find((d) => d.uuid === ours)?.config).toBe(false);
    expect(v.ganeti).toMatchObject({ cluster: lab.cluster, config: "known", primaryNode: N1 });
  });

  it("after Ganeti's own --hotplug --net add: its NIC is in all three; ours is still not in its configuration", async () => {
    const before = await ganetiNicUuids();
    await gntOut("gnt-instance", "modify", "--hotplug", "--net", `add:link=${lab.bridge}`, NAME);
    ganetis = (await ganetiNicUuids()).find((u) => !before.includes(u))!;
    const v = await view();
    expect(device(v, ganetis)).toMatchObject({ combination: "all-three", where: { config: true, file: true, live: true }, drift: false });
    expect(device(v, ours)?.combination).toBe("file-and-live");
  });

  let configOnly: string;

  it("after a configuration-only add (no --hotplug): Ganeti's new NIC is only in its configuration, not live", async () => {
    const before = await ganetiNicUuids();
    await gntOut("gnt-instance", "modify", "--net", `add:link=${lab.bridge}`, NAME);
    configOnly = (await ganetiNicUuids()).find((u) => !before.includes(u))!;
    const d = device(await view(), configOnly)!;
    expect([d.combination, d.where, d.label]).toEqual(["config-only", { config: true, file: false, live: false }, "only in Ganeti's configuration"]);
    expect(d.consequence).toMatch(/Ganeti adds it at the next shutdown\/startup/);
  });

  it("after a hard reboot (rebuilt from the configuration): ours is gone from every source, the configuration-only NIC is in all three", async () => {
    await gntOut("gnt-instance", "reboot", "--type=hard", "--shutdown-timeout=0", NAME);
    const v = await view();
    expect(v.state).toBe("running");
    expect(device(v, ours)).toBeUndefined();
    expect(device(v, configOnly)?.combination).toBe("all-three");
    expect(device(v, ganetis)?.combination).toBe("all-three");
    expect(v.threeWay.every((d) => d.combination === "all-three")).toBe(true);
    expect(v.threeWay.filter((d) => d.kind === "nic").map((d) => d.uuid)).toEqual(await ganetiNicUuids());
  });

  it("cluster show (the command line) prints the cluster, both nodes reachable with their versions, and the instance's devices three ways", async () => {
    buildCli();
    const n1 = labNodeInfo("node1");
    const args = ["cluster", "show", "--node", `root@${n1.ip}`, "-i", n1.ssh.privateKeyPath, "--known-hosts", n1.ssh.knownHostsPath, "--proxy-command", n1.ssh.proxyCommand];
    const json = await runCliAsync([...args, "--json"]);
    expect(json.code, json.stderr).toBe(0);
    const v = ClusterViewSchema.parse(JSON.parse(json.stdout));
    expect([v.cluster.name, v.cluster.master]).toEqual([lab.cluster, N1]);
    expect(v.nodes.map((n) => [n.name, n.address, n.version?.version, n.version?.source, n.group, n.role, n.connection])).toEqual([
      [N1, lab.nodes[0]!.ip, "3.0.2", "installed", "default", "master", "ready"],
      [N2, lab.nodes[1]!.ip, "3.0.2", "installed", "default", "candidate", "ready"],
    ]);
    const inst = v.instances.find((i) => i.name === NAME)!;
    expect([inst.primaryNode, inst.diskTemplate, inst.state]).toEqual([N1, "sharedfile", "running"]);
    expect(inst.freePciSlots).toBeGreaterThan(0);
    expect(inst.devices.map((d) => d.uuid).filter(Boolean).sort()).toEqual([...(await ganetiNicUuids()), ...inst.devices.filter((d) => d.kind === "disk").map((d) => d.uuid!)].sort());
    expect(inst.readers.map((r) => r.node)).toEqual([N1, N2]);
    const text = await runCliAsync(args);
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toContain(`cluster ${lab.cluster}  master ${N1}`);
    expect(text.stdout).toMatch(new RegExp(`${N2.replace(/\./g, "\\.")}\\s+${lab.nodes[1]!.ip.replace(/\./g, "\\.")}:22\\s+3\\.0\\.2 \\(installed\\)\\s+group default\\s+candidate\\s+reachable`));
    expect(text.stdout).toMatch(new RegExp(`${NAME}\\s+on ${N1.replace(/\./g, "\\.")}`));
    expect(text.stdout).toContain("[config file live] all three");
  });

  it("inventory --json carries the node's version and where it came from (a typed one that disagrees says so), and per device whether Ganeti's configuration knows it", async () => {
    const n2 = labNodeInfo("node2");
    const base = ["inventory", "--node", `root@${n2.ip}`, "-i", n2.ssh.privateKeyPath, "--known-hosts", n2.ssh.knownHostsPath, "--proxy-command", n2.ssh.proxyCommand, "--json"];
    const r = await runCliAsync(base);
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as { ganeti: { cluster: string; node: string; version: { version: string; source: string; from: string } }; instances: InstanceView[] };
    expect(out.ganeti).toMatchObject({ cluster: lab.cluster, node: N2, version: { version: "3.0.2", source: "installed" } });
    const over = await runCliAsync([...base, "--ganeti-version", "3.0.1"]);
    const o = JSON.parse(over.stdout) as typeof out & { ganeti: { version: { note?: string; detected?: { version: string } } } };
    expect(o.ganeti.version).toMatchObject({ version: "3.0.1", source: "typed", detected: { version: "3.0.2", source: "installed" } });
    expect(o.ganeti.version.note).toMatch(/settings say Ganeti 3\.0\.1, but the node reports 3\.0\.2/);
    // node1's instance, seen through node1: every device known to Ganeti's configuration after the hard reboot.
    const n1 = labNodeInfo("node1");
    const i1 = JSON.parse((await runCliAsync(["inventory", "--node", `root@${n1.ip}`, "-i", n1.ssh.privateKeyPath, "--known-hosts", n1.ssh.knownHostsPath, "--proxy-command", n1.ssh.proxyCommand, "--json"])).stdout) as typeof out;
    const mine = i1.instances.find((i) => i.name === NAME)!;
    expect(mine.devices.length).toBeGreaterThan(0);
    expect(mine.devices.every((d) => d.config === true)).toBe(true);
    expect(mine.ganetiVersion).toMatchObject({ version: "3.0.2", source: "installed" });
  });
});
