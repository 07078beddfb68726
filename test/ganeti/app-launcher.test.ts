// "Start a local Ganeti cluster" in the app: app.info offers it, lab.start
// with kind "ganeti" adds both nodes (reached through their ProxyCommand,
// host keys from the lab, each the other's migration peer), connects them,
// and the app's inventory lists an instance Ganeti started on node 2. Only
// one Ganeti lab runs on a machine, so the app is handed the suite's running
// cluster through the launcher's own interface instead of starting another.
import { afterAll, beforeAll, expect, it } from "vitest";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { composeApp, type ComposedApp } from "../../electron/app/compose.js";
import { ganetiLabNodes, labLauncher, type GanetiLabLauncher, type LocalLabs } from "../../electron/app/lab-launcher.js";
import { addInstance } from "../../electron/lab/ganeti/cluster.js";
import { AppInfoSchema, NodeViewSchema } from "../../shared/ipc/contract.js";
import { InstanceSummarySchema } from "../../shared/inventory/view.js";
import { readFile } from "node:fs/promises";
import { describeGaneti, gntOut } from "./ganeti-fixture.js";
import { z } from "zod";

const NAME = "applab1";

describeGaneti("the app's local Ganeti cluster", (lab) => {
  let dir: string;
  let app: ComposedApp;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "hd-ganeti-app-"));
    await addInstance({ name: NAME, node: 2, template: "diskless", nics: 1 });
    // The suite's cluster, handed over as GanetiLabLauncher.start() hands over the one it starts.
    let started = false;
    const suiteCluster: GanetiLabLauncher = {
      status: () => ({ available: true, running: started }),
      start: async () => {
        started = true;
        return { nodes: ganetiLabNodes(lab), knownHostsLines: lab.knownHostsLines, info: lab };
      },
      stop: async () => {},
    };
    app = await composeApp({ dataDir: join(dir, "data"), transport: "web", version: "test", journalDir: join(dir, "journal"), userKnownHostsPath: null, watchIntervalMs: 0, lab: { ...labLauncher(), ganeti: suiteCluster } as LocalLabs });
  });
  afterAll(async () => {
    await app?.dispose();
    await gntOut("gnt-instance", "remove", "-f", "--shutdown-timeout=0", NAME).catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  });

  it("is offered by app.info, and lab.start adds and connects both nodes through their ProxyCommand, trusting the lab's host keys", async () => {
    const info = AppInfoSchema.parse(await app.dispatcher.call("app.info", {}));
    expect(info.ganetiLab).toEqual({ available: true, running: false });
    const master = NodeViewSchema.parse(await app.dispatcher.call("lab.start", { kind: "ganeti" }));
    expect(master.config).toMatchObject({ id: "lab-ganeti-node1", host: lab.nodes[0]!.ip, user: "root", ganetiVersion: "3.0.2", proxyCommand: lab.nodes[0]!.ssh.proxyCommand });
    expect(master.status.state).toBe("ready");
    const nodes = z.array(NodeViewSchema).parse(await app.dispatcher.call("nodes.list", {}));
    expect(nodes.map((n) => [n.config.id, n.status.state, n.config.migrationPeers])).toEqual([
      ["lab-ganeti-node1", "ready", ["lab-ganeti-node2"]],
      ["lab-ganeti-node2", "ready", ["lab-ganeti-node1"]],
    ]);
    expect(AppInfoSchema.parse(await app.dispatcher.call("app.info", {})).ganetiLab?.running).toBe(true);
    // The host keys were trusted as the lab's lines, in the app's own known_hosts.
    const known = await readFile(app.store.knownHostsPath, "utf8");
    for (const line of lab.knownHostsLines) expect(known).toContain(line);
  });

  it("lists the instance Ganeti started on node 2 in the app's inventory", async () => {
    const list = z.array(InstanceSummarySchema).parse(await app.dispatcher.call("inventory.list", { nodeId: "lab-ganeti-node2" }));
    expect(list.find((i) => i.name === NAME)).toMatchObject({ node: "lab-ganeti-node2", state: "running", generation: "C", nics: 1, disks: 0 });
  });
});
