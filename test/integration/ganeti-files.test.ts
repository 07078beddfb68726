// Reading a node's Ganeti files over SFTP against a lab node (real sshd):
// a node without ssconf is standalone and the app shows its instances
// exactly as before; with the files a real Ganeti 3.0.2 cluster wrote
// placed under its root (test/fixtures/ganeti/lab-3.0.2) and an installed
// Ganeti's share link, the node is found in its cluster with its version;
// files past their size bound are refused, naming them.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cp, mkdir, mkdtemp, rm, symlink, truncate, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { LabNode } from "../../electron/lab/node.js";
import { startDefaultInstances } from "../../electron/lab/instances.js";
import { sessionTarget } from "../../electron/lab/sshd.js";
import { NodeSession } from "../../electron/ssh/session.js";
import { GanetiFilesError, readGanetiNodeFiles } from "../../electron/cluster/ganeti-files.js";
import { clusterOf } from "../../electron/cluster/cluster-of.js";
import { loadInstanceView } from "../../electron/inventory/node-inventory.js";
import { composeApp, type ComposedApp } from "../../electron/app/compose.js";
import { ClusterDiscoverySchema } from "../../shared/ipc/contract.js";
import { InstanceViewSchema, type InstanceView } from "../../shared/inventory/view.js";
import { MAX_CONFIG_DATA_BYTES } from "../../shared/ganeti/config-data.js";
import { MAX_SSCONF_BYTES } from "../../shared/ganeti/ssconf.js";

const FIXTURE = join(import.meta.dirname, "../fixtures/ganeti/lab-3.0.2/var-lib-ganeti");

let node: LabNode;
let session: NodeSession;
let dir: string;
let app: ComposedApp;

beforeAll(async () => {
  node = await LabNode.start();
  await startDefaultInstances(node);
  session = await NodeSession.open(sessionTarget(node.info));
  dir = await mkdtemp(join(tmpdir(), "hd-ganeti-files-"));
  app = await composeApp({ dataDir: join(dir, "data"), transport: "web", version: "test", journalDir: join(dir, "journal"), userKnownHostsPath: null, watchIntervalMs: 0 });
  await app.store.appendKnownHost(`[127.0.0.1]:${node.info.port} ${node.info.hostPublicKey}`);
  await app.nodes.add({ id: "lab", name: "Lab node", host: node.info.host, port: node.info.port, user: node.info.user, auth: { kind: "key", keyPath: node.info.privateKeyPath }, root: node.root });
  expect((await app.nodes.connect("lab")).state).toBe("ready");
});

afterAll(async () => {
  await app?.dispose();
  session?.close();
  await node?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** A view without what only the cluster adds (the version's source and the three-way list), to compare with the old read. */
const withoutCluster = ({ threeWay: _t, ganetiVersion: _g, ...rest }: InstanceView) => ({ ...rest, devices: rest.devices.map(({ config: _c, ...d }) => d) });

describe("a node without ssconf (standalone)", () => {
  it("is standalone, says why, and the app shows its instances exactly as without Ganeti", async () => {
    const files = await readGanetiNodeFiles(session, node.root);
    expect(files).toMatchObject({ standalone: true, why: expect.stringMatching(/ssconf_cluster_name is not on .*: the node belongs to no Ganeti cluster/) });
    const d = ClusterDiscoverySchema.parse(await app.dispatcher.call("cluster.discover", { nodeId: "lab" }));
    expect(d).toMatchObject({ kind: "standalone", nodeId: "lab" });
    const name = (await app.dispatcher.call("inventory.list", { nodeId: "lab" }) as { name: string }[])[0]!.name;
    const viaApp = InstanceViewSchema.parse(await app.dispatcher.call("instance.get", { nodeId: "lab", instance: name }));
    const plain = await loadInstanceView(session, name, { nodeId: "lab", root: node.root });
    expect(viaApp.ganeti).toBeUndefined();
    expect(viaApp.ganetiVersion?.source).toBe("assumed");
    expect(viaApp.threeWay.every((t) => t.where.config === null && !t.drift)).toBe(true);
    expect(withoutCluster(viaApp)).toEqual(withoutCluster(plain));
  });
});

describe("a node with a cluster's files", () => {
  const lib = () => join(node.root, "var/lib/ganeti");
  beforeAll(async () => {
    await cp(FIXTURE, lib(), { recursive: true });
    // An installed Ganeti: /etc/ganeti/share -> /usr/share/ganeti/3.0 (under the node's root).
    await mkdir(join(node.root, "etc/ganeti"), { recursive: true });
    await mkdir(join(node.root, "usr/share/ganeti/3.0/ganeti"), { recursive: true });
    await writeFile(join(node.root, "usr/share/ganeti/3.0/ganeti/_constants.py"), '"""Module holding different constants."""\n\nRELEASE_VERSION = "3.0.2"\nVERSION_MAJOR = 3\n');
    await symlink("/usr/share/ganeti/3.0", join(node.root, "etc/ganeti/share"));
  });

  it("reads ssconf, the cluster's known_hosts, config.data and the installed version over SFTP, and finds the node by its address", async () => {
    const files = await readGanetiNodeFiles(session, node.root);
    if (files.standalone) throw new Error(files.why);
    expect(files.ssconf.clusterName).toBe("cluster.ganeti.example");
    expect(files.config?.clusterName).toBe("cluster.ganeti.example");
    expect(files.knownHostsText).toContain("cluster.ganeti.example ssh-rsa ");
    expect(files.installed).toEqual({ version: "3.0.2", source: "installed", from: `${node.root}/usr/share/ganeti/3.0/ganeti/_constants.py (RELEASE_VERSION)` });
    // The lab node's host name is the machine's: it is found by the address the app reaches it at instead.
    expect(clusterOf(files, "198.51.100.12").self?.name).toBe("node2.ganeti.example");
  });

  it("refuses a config.data or an ssconf file past its size bound, naming it, and reads the rest", async () => {
    await truncate(join(lib(), "config.data"), MAX_CONFIG_DATA_BYTES + 1);
    const files = await readGanetiNodeFiles(session, node.root);
    if (files.standalone) throw new Error(files.why);
    expect(files.config).toBeNull();
    expect(files.configProblem).toMatch(/config\.data \(.*config\.data\) is 67108865 bytes, more than the 67108864 this app reads/);
    expect(files.ssconf.nodeList).toHaveLength(2);
    await truncate(join(lib(), "ssconf_node_list"), MAX_SSCONF_BYTES + 1);
    await expect(readGanetiNodeFiles(session, node.root)).rejects.toThrow(GanetiFilesError);
    await expect(readGanetiNodeFiles(session, node.root)).rejects.toThrow(/ssconf_node_list .* more than the 4194304 this app reads/);
  });
});
