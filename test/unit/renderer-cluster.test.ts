// The renderer's view logic for Ganeti clusters, on files the lab's real
// Ganeti 3.0.2 wrote (test/fixtures/ganeti/lab-3.0.2: alpha on node1, bravo
// on node2 with five NICs hot-added through the runtime file only), turned
// into views by the same shared code main uses: the tree's rows and their
// ARIA facts, its keyboard moves, the device filters and their counts (the
// summary's per-combination counts agreeing with the per-device marks), the
// marks themselves, the offer of the cluster's other nodes, and that a
// 500-instance tree renders about a screenful of rows.
import { describe, expect, it } from "vitest";
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { createElement } from "react";
import { renderToString } from "react-dom/server";
import { parseSsconf } from "../../shared/ganeti/ssconf";
import { parseConfigData } from "../../shared/ganeti/config-data";
import { buildClusterModel, type ClusterModel } from "../../shared/ganeti/cluster";
import { ganetiFactsOf } from "../../shared/inventory/ganeti-facts";
import { buildInstanceView } from "../../shared/inventory/build";
import { summarize, type InstanceView } from "../../shared/inventory/view";
import type { InstanceFacts, LiveFacts } from "../../shared/inventory/facts";
import type { ClusterView, NodeView } from "../../shared/ipc/contract";
import { buildClusterView, clusterCandidates, clusterHostKey, type ClusterNodeRead } from "../../electron/cluster/cluster-view";
import { knownHostKeys } from "../../electron/cluster/cluster-of";
import { NodeConfigSchema } from "../../shared/node-registry/schema";
import { OTHERS_KEY, disagreements, filterCounts, instanceShown, treeInstances, treeKeyAction, treeRows, type TreeInput, type TreeQuery } from "../../renderer/src/lib/cluster-tree";
import { DEVICE_FILTERS, deviceMatches, filterOptionText, marksOf, marksSentence, summaryMatches, threeWayAt, threeWayOfDevice, unplaced } from "../../renderer/src/lib/three-way";
import { addableNames, clusterPeers, settingsSummary } from "../../renderer/src/lib/cluster-offer";
import { ClusterTree, TREE_ROW_HEIGHT, treeRenderStats } from "../../renderer/src/components/ClusterTree";
import { live } from "./planner-instance";

const DIR = join(import.meta.dirname, "../fixtures/ganeti/lab-3.0.2");
const LIB = join(DIR, "var-lib-ganeti");
const N1 = "node1.ganeti.example";
const N2 = "node2.ganeti.example";
const INSTALLED = { version: "3.0.2", source: "installed" as const, from: "/usr/share/ganeti/3.0/ganeti/_constants.py (RELEASE_VERSION)" };

function labModel(): ClusterModel {
  const ssconf = parseSsconf(Object.fromEntries(readdirSync(LIB).filter((f) => f.startsWith("ssconf_")).map((f) => [f.slice(7), readFileSync(join(LIB, f), "utf8")])));
  return buildClusterModel(ssconf, {
    ssconfFrom: N1,
    config: { data: parseConfigData(readFileSync(join(LIB, "config.data"), "utf8")), from: N1 },
    knownHosts: knownHostKeys(readFileSync(join(LIB, "known_hosts"), "utf8")),
  });
}
const model = labModel();
const runtime = (name: string) => readFileSync(join(DIR, `${name}.runtime`), "utf8");

/** The live bus as the runtime file records it (QEMU's own devices in the low slots), optionally without some ids. */
function busOf(text: string, without: readonly string[] = []): LiveFacts {
  const [, nics, , disks] = JSON.parse(text) as [unknown, { hvinfo?: { id: string; addr: string } }[], unknown, [{ hvinfo?: { id: string; addr: string } }][]];
  const placed = [...nics.map((n) => n.hvinfo), ...(disks ?? []).map((d) => d[0].hvinfo)].filter((h): h is { id: string; addr: string } => h !== undefined && !without.includes(h.id));
  return {
    status: "running",
    qemuVersion: "7.2.0",
    pci: [live(0), live(1), live(2), live(3, "balloon"), ...placed.map((h) => live(Number(h.addr), h.id))],
    scsi: [],
    scsiController: false,
    qmpCommands: ["device_add", "device_del", "netdev_add", "netdev_del", "getfd", "query-pci"],
  };
}

function instance(name: "alpha" | "bravo", node: string, over: Partial<InstanceFacts> = {}): InstanceView {
  const text = runtime(name);
  return buildInstanceView({ node, name, runtimeText: text, userShutdown: false, live: busOf(text), ganeti: ganetiFactsOf(model, name), nodeVersion: INSTALLED, ...over });
}

function clusterView(reads: Map<string, ClusterNodeRead>, m: ClusterModel = model): ClusterView {
  const from = NodeConfigSchema.parse({ id: "n1", name: "node1", host: "198.51.100.11", user: "root", auth: { kind: "key", keyPath: "/root/.ssh/id_ed25519" }, proxyCommand: "nsenter --net=/run/netns/hd-ganeti-1 -- socat STDIO TCP:%h:%p" });
  return buildClusterView(m, "n1", reads, clusterCandidates(m, from, reads, ["n1"]));
}

const alpha = instance("alpha", "n1");
const bravo = instance("bravo", "n2");
// Both nodes added and read.
const both = clusterView(
  new Map<string, ClusterNodeRead>([
    [N1, { appNodeId: "n1", connection: "ready", version: INSTALLED, inventory: [alpha] }],
    [N2, { appNodeId: "n2", connection: "ready", version: { ...INSTALLED, version: "3.0.1", source: "typed", from: "the node's settings (ganetiVersion)", detected: { version: "3.0.2", source: "installed", from: INSTALLED.from }, note: "The node's settings say Ganeti 3.0.1, but the node reports 3.0.2" }, inventory: [bravo] }],
  ]),
);
// Only node 1 added: node 2 is offered, bravo known by its configuration alone.
const justOne = clusterView(new Map<string, ClusterNodeRead>([[N1, { appNodeId: "n1", connection: "ready", version: INSTALLED, inventory: [alpha] }]]));
const solo = summarize(instance("bravo", "lab", { name: "solo", ganeti: undefined, nodeVersion: undefined }));
const input: TreeInput = { clusters: [both], others: [{ id: "lab", name: "Lab node" }], summaries: [summarize(alpha), summarize(bravo), solo] };
const all: TreeQuery = { text: "", state: "all", device: "any" };

describe("the fleet as a cluster tree", () => {
  it("is cluster -> group -> node -> instance, then the nodes in no cluster, each row with its level, position and set size", () => {
    const rows = treeRows(input, all, new Set());
    expect(rows.map((r) => [r.item.kind, r.level, r.posinset, r.setsize, r.expanded])).toEqual([
      ["cluster", 1, 1, 2, true],
      ["group", 2, 1, 1, true],
      ["node", 3, 1, 2, true],
      ["instance", 4, 1, 1, false],
      ["node", 3, 2, 2, true],
      ["instance", 4, 1, 1, false],
      ["others", 1, 2, 2, true],
      ["app-node", 2, 1, 1, true],
      ["instance", 3, 1, 1, false],
    ]);
    const names = rows.map((r) => (r.item.kind === "instance" ? r.item.inst.name : r.item.kind === "node" ? r.item.node.name : r.item.key));
    expect(names).toEqual([`c:${model.name}`, `g:${model.name}/default`, N1, "alpha", N2, "bravo", OTHERS_KEY, "an:lab", "solo"]);
    // Ganeti's facts beside the app's: the master, the versions with their source, bravo joined with its summary.
    const n = rows.filter((r) => r.item.kind === "node").map((r) => (r.item.kind === "node" ? r.item.node : null)!);
    expect(n.map((x) => [x.role, x.version?.version, x.version?.source, x.version?.note !== undefined])).toEqual([
      ["master", "3.0.2", "installed", false],
      ["candidate", "3.0.1", "typed", true],
    ]);
    const b = rows[5]!.item;
    expect(b.kind === "instance" && [b.inst.nodeId, b.inst.summary?.name, b.inst.cluster?.freePciSlots]).toEqual(["n2", "bravo", 32 - 12 - 11]);
  });

  it("draws the master, each node's version with its source, a typed version that overrides another, and each instance's capacity", () => {
    const html = renderToString(createElement(ClusterTree, { rows: treeRows(input, all, new Set()), onToggle: () => {}, onOpen: () => {}, initialHeight: 20 * TREE_ROW_HEIGHT }));
    const text = html.replace(/<[^>]+>/g, "").replace(/&#x27;/g, "'");
    expect(text).toContain(`Cluster ${model.name}master ${N1}Ganeti 3.0.22 nodes · 2 instances`);
    expect(text).toContain(`${N1}198.51.100.11:22★ masterGaneti 3.0.2 (read on the node)● connected`);
    expect(text).toContain(`${N2}198.51.100.12:22◆ candidateGaneti 3.0.1 (typed in the node's settings)⚠ typed 3.0.1 overrides the node's 3.0.2`);
    expect(text).toContain(`bravo▶ runningPCI ${32 - 12 - 11} free · SCSI`);
    expect(text).toContain("11 devices · ⚠ 5 not in Ganeti's configuration");
    expect(text).toContain("Nodes in no known Ganeti cluster");
  });

  it("collapsing a branch hides its rows; the parent of every row is the row it sits under", () => {
    const rows = treeRows(input, all, new Set([`n:${model.name}/${N1}`, OTHERS_KEY]));
    expect(rows.map((r) => r.item.kind)).toEqual(["cluster", "group", "node", "node", "instance", "others"]);
    expect(rows[2]!.expanded).toBe(false);
    expect(rows[4]!.parent).toBe(`n:${model.name}/${N2}`);
    // A node without instances is a leaf: nothing to open.
    const empty = treeRows({ clusters: [{ ...both, instances: both.instances.filter((i) => i.name !== "bravo") }], others: [], summaries: [] }, all, new Set());
    expect(empty.filter((r) => r.item.kind === "node").map((r) => [r.expandable, r.expanded])).toEqual([
      [true, true],
      [false, false],
    ]);
  });

  it("a node the app does not have shows its instances from Ganeti's configuration alone, and cannot be opened", () => {
    const rows = treeRows({ clusters: [justOne], others: [], summaries: [summarize(alpha)] }, all, new Set());
    const b = rows.find((r) => r.item.kind === "instance" && r.item.inst.name === "bravo")!.item;
    if (b.kind !== "instance") throw new Error("not an instance");
    expect([b.inst.nodeId, b.inst.cluster?.state, b.inst.cluster?.freePciSlots]).toEqual([null, null, null]);
    expect(b.inst.cluster?.stateNote).toMatch(/not one of the app's nodes/);
    expect(treeKeyAction(rows, rows.findIndex((r) => r.item === b), "Enter")).toBeNull();
  });

  it("moves through the rows as the WAI-ARIA tree pattern says", () => {
    const rows = treeRows(input, all, new Set());
    expect(treeKeyAction(rows, 0, "ArrowDown")).toEqual({ focus: 1 });
    expect(treeKeyAction(rows, 0, "ArrowUp")).toEqual({ focus: 0 });
    expect(treeKeyAction(rows, 3, "End")).toEqual({ focus: rows.length - 1 });
    expect(treeKeyAction(rows, 3, "Home")).toEqual({ focus: 0 });
    // Right on an open branch goes to its first child; Left on a leaf to its parent; Left on an open branch closes it.
    expect(treeKeyAction(rows, 2, "ArrowRight")).toEqual({ focus: 3 });
    expect(treeKeyAction(rows, 3, "ArrowLeft")).toEqual({ focus: 2 });
    expect(treeKeyAction(rows, 2, "ArrowLeft")).toEqual({ toggle: rows[2]!.item.key });
    const closed = treeRows(input, all, new Set([rows[2]!.item.key]));
    expect(treeKeyAction(closed, 2, "ArrowRight")).toEqual({ toggle: rows[2]!.item.key });
    // Enter opens an instance the app reads, and opens or closes a branch.
    const a = rows[3]!.item;
    expect(treeKeyAction(rows, 3, "Enter")).toEqual({ open: a.kind === "instance" ? a.inst : null });
    expect(treeKeyAction(rows, 1, "Enter")).toEqual({ toggle: rows[1]!.item.key });
    expect(treeKeyAction(rows, 5, "PageUp", 10)).toEqual({ focus: 0 });
    expect(treeKeyAction(rows, 0, "x")).toBeNull();
  });

  it("filters leave out nodes without a matching instance, and search reaches Ganeti's names", () => {
    const rows = treeRows(input, { ...all, device: "not-in-config" }, new Set());
    expect(rows.map((r) => (r.item.kind === "instance" ? r.item.inst.name : r.item.kind))).toEqual(["cluster", "group", "node", "bravo"]);
    const byNode = treeRows(input, { ...all, text: "node1.ganeti" }, new Set());
    expect(byNode.filter((r) => r.item.kind === "instance").map((r) => (r.item.kind === "instance" ? r.item.inst.name : ""))).toEqual(["alpha"]);
    expect(treeInstances(input).filter((i) => instanceShown(i, { ...all, text: "diskless" })).map((i) => i.name)).toEqual(["bravo"]);
  });
});

describe("device filters and their counts", () => {
  it("count bravo's five runtime-only NICs as not in Ganeti's configuration, and nothing on a node of no cluster", () => {
    const counts = filterCounts(treeInstances(input));
    expect(counts.find((c) => c.key === "not-in-config")).toMatchObject({ devices: 5, instances: 1 });
    expect(counts.filter((c) => c.key !== "not-in-config").every((c) => c.devices === 0)).toBe(true);
    expect(filterOptionText(counts[0]!)).toBe("not in Ganeti's configuration (5 devices on 1 instance)");
    expect(disagreements(both.instances.find((i) => i.name === "bravo")!.devices)).toEqual([{ label: "not in Ganeti's configuration", count: 5 }]);
  });

  it("a summary's per-combination counts pick the same devices as the marks, for every filter and every kind of instance", () => {
    const known = model.instances!.find((i) => i.name === "bravo")!;
    const cfgOnly = "5e1c7a40-0f3b-4b49-9c4e-7a1f4f5bd001";
    const withExtra = { ...model, instances: model.instances!.map((i) => (i === known ? { ...i, nics: [...i.nics, { uuid: cfgOnly, mac: "aa:00:00:00:00:01", link: "gnt-br0" }] } : i)) };
    const text = runtime("bravo");
    const nics = (JSON.parse(text) as [unknown, { uuid: string; hvinfo: { id: string } }[]])[1];
    const ours = nics.filter((n) => !known.nics.some((k) => k.uuid === n.uuid));
    // One of Ganeti's NICs and one of ours gone from the bus, a stray one on it.
    const bus = busOf(text, [nics[0]!.hvinfo.id, ours[0]!.hvinfo.id]);
    bus.pci.push(live(0x1f, "nic-deadbeef-0000-4000"));
    const views = [
      bravo,
      instance("bravo", "n2", { ganeti: ganetiFactsOf(withExtra, "bravo"), live: bus }),
      instance("bravo", "n2", { live: null, liveProblem: { state: "stopped", detail: "QEMU is not running." } }),
      instance("bravo", "n2", { ganeti: { cluster: model.name, config: { state: "unknown", why: "not a master candidate" } } }),
      instance("bravo", "lab", { ganeti: undefined, nodeVersion: undefined }),
    ];
    const seen = new Set<string>();
    for (const v of views) {
      const s = summarize(v);
      for (const f of DEVICE_FILTERS) {
        const n = v.threeWay.filter((d) => deviceMatches(f.key, d)).length;
        expect(summaryMatches(f.key, s), `${f.key} on ${v.node}/${v.state}/${v.ganeti?.config ?? "standalone"}`).toBe(n);
        if (n > 0) seen.add(f.key);
      }
    }
    // The fixtures exercise every filter but "not in the runtime file" (a live device Ganeti knows that the file lost).
    expect([...seen].sort()).toEqual(["config-only", "file-only", "live-only", "not-in-config"]);
    // A stopped instance's devices are not "in the runtime file only": the live bus was not read.
    expect(summaryMatches("file-only", summarize(views[2]!))).toBe(0);
    expect(summaryMatches("not-in-config", summarize(views[2]!))).toBe(5);
  });
});

describe("the three marks", () => {
  it("give each source a word and a glyph of its own per state, so nothing rests on colour", () => {
    const m = marksOf({ config: false, file: true, live: null });
    expect(m.map((x) => [x.short, x.state, x.glyph])).toEqual([
      ["cfg", "no", "✗"],
      ["file", "yes", "✓"],
      ["live", "unknown", "?"],
    ]);
    expect(marksSentence({ config: false, file: true, live: true })).toBe("not in Ganeti's configuration, in the runtime file, on the live bus");
  });

  it("find a slot's device by uuid and a live-only device by its slot; configuration-only devices have no slot", () => {
    const text = runtime("bravo");
    const bus = busOf(text);
    bus.pci.push(live(0x1f, "nic-deadbeef-0000-4000"));
    const withExtra = { ...model, instances: model.instances!.map((i) => (i.name === "bravo" ? { ...i, nics: [...i.nics, { uuid: "5e1c7a40-0f3b-4b49-9c4e-7a1f4f5bd001" }] } : i)) };
    const v = instance("bravo", "n2", { live: bus, ganeti: ganetiFactsOf(withExtra, "bravo") });
    const d = v.devices.find((x) => x.config === false)!;
    expect(threeWayOfDevice(v, d)?.combination).toBe("file-and-live");
    expect(threeWayAt(v, { slot: 0x1f })?.combination).toBe("live-only");
    expect(unplaced(v).map((t) => t.combination)).toEqual(["config-only"]);
  });
});

describe("the offer of the cluster's other nodes", () => {
  const nodeView = (id: string, host: string, state: NodeView["status"]["state"] = "ready"): NodeView => ({
    config: NodeConfigSchema.parse({ id, name: id, host, user: "root", auth: { kind: "key", keyPath: "/root/.ssh/id_ed25519" }, proxyCommand: "nsenter --net=/run/netns/hd-ganeti-1 -- socat STDIO TCP:%h:%p" }),
    status: { id, state, since: 0 },
  });
  const n1 = nodeView("n1", "198.51.100.11");

  it("lists node 2 with its address, group, role and the host key the cluster's known_hosts lists, and the settings it would get", () => {
    const peers = clusterPeers(justOne, "n1", [n1]);
    expect(peers.map((p) => [p.node.name, p.node.address, p.node.sshPort, p.node.group, p.node.role, p.app])).toEqual([[N2, "198.51.100.12", 22, "default", "candidate", undefined]]);
    expect(peers[0]!.candidate?.expectedHostKey).toEqual(clusterHostKey(model));
    expect(peers[0]!.candidate?.expectedHostKey?.fingerprint).toMatch(/^SHA256:/);
    expect(addableNames(peers)).toEqual([N2]);
    expect(settingsSummary(n1)).toBe(
      "They get n1's settings: user root, the key file /root/.ssh/id_ed25519, root /, through the ProxyCommand nsenter --net=/run/netns/hd-ganeti-1 -- socat STDIO TCP:%h:%p (%h becomes each node's address); the address and SSH port Ganeti lists for each.",
    );
  });

  it("once node 2 is added (even before the view is read again) it is the app's node, not a candidate; an offline node cannot be added", () => {
    const added = nodeView("node2", "198.51.100.12", "failed");
    const peers = clusterPeers(justOne, "n1", [n1, added]);
    expect(peers[0]!.app?.config.id).toBe("node2");
    expect(addableNames(peers)).toEqual([]);
    const offline = { ...model, nodes: model.nodes.map((n) => (n.name === N2 ? { ...n, offline: true, role: "offline" as const } : n)) };
    const v = clusterView(new Map<string, ClusterNodeRead>([[N1, { appNodeId: "n1", connection: "ready", inventory: [alpha] }]]), offline);
    const p = clusterPeers(v, "n1", [n1]);
    expect(p[0]!.candidate?.blocked).toMatch(/offline/);
    expect(addableNames(p)).toEqual([]);
  });
});

describe("a 500-instance cluster tree", () => {
  it("renders about a screenful of rows, each a treeitem with its level, position and set size", () => {
    const b = both.instances.find((i) => i.name === "bravo")!;
    const many: ClusterView = {
      ...both,
      instances: Array.from({ length: 500 }, (_, i) => ({ ...b, name: `vm${String(i).padStart(3, "0")}`, primaryNode: i % 2 ? N1 : N2 })),
    };
    const rows = treeRows({ clusters: [many], others: [], summaries: [] }, all, new Set());
    expect(rows).toHaveLength(1 + 1 + 2 + 500);
    treeRenderStats.rows = 0;
    const html = renderToString(createElement(ClusterTree, { rows, onToggle: () => {}, onOpen: () => {}, initialHeight: 20 * TREE_ROW_HEIGHT }));
    expect(treeRenderStats.rows).toBeGreaterThanOrEqual(20);
    expect(treeRenderStats.rows).toBeLessThanOrEqual(30);
    expect(html).toContain('role="tree"');
    expect(html).toContain(`height:${rows.length * TREE_ROW_HEIGHT}px`);
    expect(html).toContain('aria-level="4" aria-posinset="1" aria-setsize="250"');
    // One row is in the tab order: the first.
    expect(html.match(/tabindex="0"/g)).toHaveLength(1);
  });
});
