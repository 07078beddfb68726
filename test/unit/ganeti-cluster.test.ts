// The cluster from files a real Ganeti 3.0.2 cluster wrote (the lab's,
// test/fixtures/ganeti/lab-3.0.2): ssconf, config.data and known_hosts
// parsed, the model built, each instance's readers with why, versions
// detected and overridden, and the errors that name the file and the fix.
import { describe, expect, it } from "vitest";
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { SsconfError, parseHvparams, parseSsconf } from "../../shared/ganeti/ssconf";
import { ConfigDataError, fillHvparams, parseConfigData } from "../../shared/ganeti/config-data";
import { buildClusterModel, findClusterNode, type ClusterModel } from "../../shared/ganeti/cluster";
import { instanceReaderNodes, readersWithVersions } from "../../shared/ganeti/readers";
import { releaseVersionFromConstants, resolveNodeVersion, versionOfShareDir } from "../../shared/ganeti/node-version";
import { clusterOf, knownHostKeys } from "../../electron/cluster/cluster-of";
import { candidateSettings, clusterHostKey } from "../../electron/cluster/cluster-view";
import { typedReaders } from "../../electron/cluster/cluster-service";
import { NodeConfigSchema, formatIssues } from "../../shared/node-registry/schema";

const DIR = join(import.meta.dirname, "../fixtures/ganeti/lab-3.0.2");
const LIB = join(DIR, "var-lib-ganeti");

function ssconfFiles(): Record<string, string> {
  return Object.fromEntries(
    readdirSync(LIB)
      .filter((f) => f.startsWith("ssconf_"))
      .map((f) => [f.slice("ssconf_".length), readFileSync(join(LIB, f), "utf8")]),
  );
}
const configText = () => readFileSync(join(LIB, "config.data"), "utf8");
const knownHosts = () => readFileSync(join(LIB, "known_hosts"), "utf8");

function labModel(withConfig = true): ClusterModel {
  return buildClusterModel(parseSsconf(ssconfFiles()), {
    ssconfFrom: "node1.ganeti.example",
    config: withConfig ? { data: parseConfigData(configText()), from: "node1.ganeti.example" } : { data: null, why: "node9 is not a master candidate" },
    knownHosts: knownHostKeys(knownHosts()),
  });
}

describe("ssconf", () => {
  it("reads the lab's ssconf: name, master, nodes with addresses and ports, group, instances, typed hvparams, version", () => {
    const s = parseSsconf(ssconfFiles());
    expect(s.clusterName).toBe("cluster.ganeti.example");
    expect(s.masterNode).toBe("node1.ganeti.example");
    expect(s.masterIp).toBe("198.51.100.10");
    expect(s.nodeList).toEqual(["node1.ganeti.example", "node2.ganeti.example"]);
    expect(s.primaryIps).toEqual({ "node1.ganeti.example": "198.51.100.11", "node2.ganeti.example": "198.51.100.12" });
    expect(s.sshPorts).toEqual({ "node1.ganeti.example": 22, "node2.ganeti.example": 22 });
    expect(s.masterCandidates.sort()).toEqual(["node1.ganeti.example", "node2.ganeti.example"]);
    expect(s.offlineNodes).toEqual([]);
    expect(s.nodegroups.map((g) => g.name)).toEqual(["default"]);
    expect(s.instanceList).toEqual(["alpha", "bravo"]);
    expect(s.releaseVersion).toBe("3.0.2");
    expect(s.sharedFileStorageDir).toBe("/srv/ganeti/shared-file-storage");
    expect(s.userShutdown).toBe(true);
    // Ganeti's types: ints and bools as such, the rest as written.
    expect(s.hvparamsKvm.kvm_pci_reservations).toBe(12);
    expect(s.hvparamsKvm.use_chroot).toBe(false);
    expect(s.hvparamsKvm.nic_type).toBe("paravirtual");
    expect(s.hvparamsKvm.kernel_args).toBe("ro");
    expect(s.hvparamsKvm.vnc_bind_address).toBe("");
  });

  it("names the file that is missing or wrong", () => {
    const files = ssconfFiles();
    const { master_node: _m, ...noMaster } = files;
    expect(() => parseSsconf(noMaster)).toThrow(/ssconf_master_node missing/);
    expect(() => parseSsconf({ ...files, ssh_ports: "node1.ganeti.example=22\nnode2.ganeti.example=ssh\n" })).toThrow(/ssconf_ssh_ports: the port of node2.ganeti.example is "ssh"/);
    expect(() => parseSsconf({ ...files, master_node: "node9.ganeti.example\n" })).toThrow(/node9.ganeti.example, which ssconf_node_list does not list/);
    expect(() => parseSsconf({ ...files, nodegroups: "no-name-here\n" })).toThrow(SsconfError);
    expect(() => parseHvparams("kvm_pci_reservations=twelve\n")).toThrow(/kvm_pci_reservations is "twelve", not a whole number/);
    expect(() => parseHvparams("acpi=yes\n")).toThrow(/acpi is "yes", not True or False/);
  });
});

describe("config.data", () => {
  it("reads the lab's configuration: nodes with their group, instances with NICs and disks by uuid, cluster hvparams", () => {
    const c = parseConfigData(configText());
    expect(c.version).toBe(3000000);
    expect(c.clusterName).toBe("cluster.ganeti.example");
    const nodes = Object.values(c.nodes);
    expect(nodes.map((n) => n.name).sort()).toEqual(["node1.ganeti.example", "node2.ganeti.example"]);
    expect(new Set(nodes.map((n) => c.nodegroups[n.group]?.name))).toEqual(new Set(["default"]));
    expect(nodes.every((n) => n.masterCandidate && !n.offline && !n.drained && n.vmCapable)).toBe(true);
    const byName = Object.fromEntries(Object.values(c.instances).map((i) => [i.name, i]));
    expect(byName.alpha!.diskTemplate).toBe("sharedfile"); // 3.0 keeps no disk_template: it comes from the disk
    expect(byName.alpha!.disks).toEqual([{ uuid: "43d6851f-6e93-4e21-b1a3-e012ff2c66f0", devType: "sharedfile", sizeMiB: 64, ivName: "disk/0", nodes: [] }]);
    expect(byName.bravo!.diskTemplate).toBe("diskless");
    expect(byName.bravo!.nics).toHaveLength(6);
    expect(byName.bravo!.nics[1]).toEqual({ uuid: "09bc9af4-9b21-4404-aef0-84e05c43d20a", mac: "aa:00:00:25:38:73", mode: "bridged", link: "gnt-br0" });
    expect(c.hvparams.kvm?.kvm_pci_reservations).toBe(12);
  });

  it("keeps nothing it does not use: logical_id (DRBD secrets live there), certificates, host keys, private OS parameters", () => {
    const text = JSON.stringify(parseConfigData(configText()));
    for (const k of ["logical_id", "candidate_certs", "rsahostkeypub", "osparams_private", "osparams"]) expect(text).not.toContain(`"${k}"`);
  });

  it("says what is wrong with a file that is not a configuration", () => {
    expect(() => parseConfigData("{not json")).toThrow(/config.data is not JSON/);
    expect(() => parseConfigData(JSON.stringify({ version: 3000000 }))).toThrow(/cluster: /);
    const c = JSON.parse(configText()) as { instances: Record<string, { disks: string[] }> };
    Object.values(c.instances).find((i) => i.disks.length > 0)!.disks[0] = "0000-missing";
    expect(() => parseConfigData(JSON.stringify(c))).toThrow(ConfigDataError);
    expect(() => parseConfigData(JSON.stringify(c))).toThrow(/names disk 0 as 0000-missing/);
  });

  it("fills hvparams as Ganeti does: cluster, then the OS's, then the instance's own", () => {
    const filled = fillHvparams(
      { hvparams: { kvm: { nic_type: "paravirtual", kvm_pci_reservations: 12, disk_type: "paravirtual" } }, osHvp: { noop: { kvm: { nic_type: "e1000", disk_type: "scsi-hd" } } } },
      { hypervisor: "kvm", os: "noop", hvparams: { disk_type: "ide" } },
    );
    expect(filled).toEqual({ nic_type: "e1000", kvm_pci_reservations: 12, disk_type: "ide" });
  });
});

describe("the cluster model", () => {
  it("has the master, both nodes with address, port, group and role, and the instances with their primary node and filled hvparams", () => {
    const m = labModel();
    expect(m.name).toBe("cluster.ganeti.example");
    expect(m.master).toBe("node1.ganeti.example");
    expect(m.nodes.map((n) => [n.name, n.address, n.sshPort, n.group, n.role])).toEqual([
      ["node1.ganeti.example", "198.51.100.11", 22, "default", "master"],
      ["node2.ganeti.example", "198.51.100.12", 22, "default", "candidate"],
    ]);
    expect(m.nodes.every((n) => n.drained === false && !n.offline)).toBe(true);
    expect(m.instances?.map((i) => [i.name, i.primaryNode, i.diskTemplate])).toEqual([
      ["alpha", "node1.ganeti.example", "sharedfile"],
      ["bravo", "node2.ganeti.example", "diskless"],
    ]);
    expect(m.instances?.[0]?.effectiveHvparams).toMatchObject({ kvm_pci_reservations: 12, nic_type: "paravirtual", disk_type: "paravirtual", scsi_controller_type: "lsi" });
    expect(m.sources.config).toEqual({ read: true, from: "node1.ganeti.example", serialNo: expect.any(Number), version: 3000000 });
  });

  it("without config.data: nodes from ssconf (group and drained unknown), instances by name only, and why", () => {
    const m = labModel(false);
    expect(m.nodes.map((n) => [n.group, n.drained])).toEqual([
      [null, null],
      [null, null],
    ]);
    expect(m.instances).toBeNull();
    expect(m.instanceNames).toEqual(["alpha", "bravo"]);
    expect(m.sources.config).toEqual({ read: false, why: "node9 is not a master candidate" });
  });

  it("finds a node by name, short name or address; the cluster's known_hosts gives the key every node carries", () => {
    const m = labModel();
    expect(findClusterNode(m, "198.51.100.12")?.name).toBe("node2.ganeti.example");
    expect(findClusterNode(m, "node2")?.name).toBe("node2.ganeti.example");
    expect(findClusterNode(m, "NODE1.ganeti.example.")?.name).toBe("node1.ganeti.example");
    expect(findClusterNode(m, "node3")).toBeUndefined();
    const key = clusterHostKey(m)!;
    expect(key.keyType).toBe("ssh-rsa");
    expect(key.fingerprint).toMatch(/^SHA256:[A-Za-z0-9+/]{43}$/);
    expect(key.source).toContain("cluster.ganeti.example");
    expect(m.knownHosts[0]?.names).toEqual(["cluster.ganeti.example"]);
  });

  it("knows which node it was read on: by host name, else by the address the app uses", () => {
    const files = { standalone: false as const, ssconf: parseSsconf(ssconfFiles()), knownHostsText: knownHosts(), config: null, configProblem: "not here" };
    expect(clusterOf({ ...files, hostname: "node2.ganeti.example" }, "127.0.0.1").self?.name).toBe("node2.ganeti.example");
    expect(clusterOf(files, "198.51.100.11").self?.name).toBe("node1.ganeti.example");
    const other = clusterOf(files, "198.51.100.12", { config: parseConfigData(configText()), from: "node1 (198.51.100.11)" });
    expect(other.model.sources.config).toMatchObject({ read: true, from: "node1 (198.51.100.11)" });
    expect(clusterOf(files, "192.0.2.1").model.sources.config).toEqual({ read: false, why: "not here" });
  });

  it("offers the other nodes with the same credentials and route (%h stays for the new node's address)", () => {
    const m = labModel();
    const from = { id: "n1", name: "node1", host: "198.51.100.11", port: 22, user: "root", auth: { kind: "key" as const, keyPath: "/k/id" }, root: "/", proxyCommand: "nsenter --net=/run/netns/x -- socat STDIO TCP:%h:%p" };
    expect(candidateSettings(m, from, "node2.ganeti.example", ["node2"])).toEqual({
      id: "node2-2",
      name: "node2.ganeti.example",
      host: "198.51.100.12",
      port: 22,
      user: "root",
      root: "/",
      auth: "key",
      keyPath: "/k/id",
      proxyCommand: "nsenter --net=/run/netns/x -- socat STDIO TCP:%h:%p",
    });
  });
});

describe("a node added from its cluster", () => {
  const base = { id: "node2", name: "node2.ganeti.example", host: "198.51.100.12", user: "root", auth: { kind: "agent" } };
  it("keeps the key the cluster vouches for as an expectation, checked for form, never as trust", () => {
    const key = clusterHostKey(labModel())!;
    expect(NodeConfigSchema.parse({ ...base, expectedHostKey: key }).expectedHostKey).toEqual(key);
    const bad = NodeConfigSchema.safeParse({ ...base, expectedHostKey: { ...key, fingerprint: "MD5:aa:bb" } });
    expect(bad.success).toBe(false);
    expect(formatIssues(bad.error!)).toEqual([expect.stringMatching(/expectedHostKey.fingerprint must be SHA256:/)]);
  });
});

describe("readers: the nodes that read an instance's runtime file, and why", () => {
  it("a sharedfile instance: its node and every node of its group", () => {
    const r = instanceReaderNodes(labModel(), "alpha", "node1.ganeti.example");
    expect(r.readers.map((x) => x.node)).toEqual(["node1.ganeti.example", "node2.ganeti.example"]);
    expect(r.readers[1]!.why).toBe("node2.ganeti.example: same node group 'default'; may receive a migration or failover (sharedfile disks)");
    expect(r.excluded).toEqual([]);
  });

  it("plain or file disks stay on their node; DRBD goes only to its secondary; offline nodes receive nothing", () => {
    const base = labModel();
    const three: ClusterModel = {
      ...base,
      nodes: [...base.nodes, { ...base.nodes[1]!, name: "node3.ganeti.example", address: "198.51.100.13", role: "offline", offline: true }],
      instances: [
        { ...base.instances![0]!, name: "file1", diskTemplate: "file" },
        { ...base.instances![0]!, name: "drbd1", diskTemplate: "drbd", secondaryNodes: ["node2.ganeti.example"] },
      ],
    };
    const file = instanceReaderNodes(three, "file1");
    expect(file.readers.map((x) => x.node)).toEqual(["node1.ganeti.example"]);
    expect(file.excluded.find((x) => x.node === "node2.ganeti.example")?.why).toMatch(/file disks stay on node1.ganeti.example: the instance cannot migrate/);
    expect(file.excluded.find((x) => x.node === "node3.ganeti.example")?.why).toMatch(/offline/);
    const drbd = instanceReaderNodes(three, "drbd1");
    expect(drbd.readers.map((x) => [x.node, x.why])).toEqual([
      ["node1.ganeti.example", "node1.ganeti.example: primary node in Ganeti's configuration"],
      ["node2.ganeti.example", "node2.ganeti.example: DRBD secondary; receives the instance on migration or failover"],
    ]);
  });

  it("without Ganeti's configuration every online node counts, and says why", () => {
    const r = instanceReaderNodes(labModel(false), "bravo", "node2.ganeti.example");
    expect(r.readers.map((x) => x.node)).toEqual(["node2.ganeti.example", "node1.ganeti.example"]);
    expect(r.readers[1]!.why).toContain("node9 is not a master candidate");
  });

  it("each reader's version: the node's own where the app reads it, else the cluster's release version, saying so", () => {
    const m = labModel();
    const { readers, unknown } = readersWithVersions(m, instanceReaderNodes(m, "alpha", "node1.ganeti.example").readers, (n) =>
      n === "node1.ganeti.example" ? { version: "3.0.2", source: "installed", from: "/usr/share/ganeti/3.0/ganeti/_constants.py (RELEASE_VERSION)" } : undefined,
    );
    expect(unknown).toEqual([]);
    expect(readers.map((r) => [r.node, r.version, r.versionSource])).toEqual([
      ["node1.ganeti.example", "3.0.2", "installed"],
      ["node2.ganeti.example", "3.0.2", "ssconf"],
    ]);
    expect(readers[1]!.versionFrom).toMatch(/node2.ganeti.example's own install was not read/);
  });

  it("typed settings still give readers for a node of no cluster", () => {
    const n1 = { id: "a", name: "a", host: "192.0.2.1", port: 22, user: "root", auth: { kind: "agent" as const }, root: "/", ganetiVersion: "3.0.2", migrationPeers: ["b"] };
    const n2 = { ...n1, id: "b", name: "b", host: "192.0.2.2", ganetiVersion: "2.15.2", migrationPeers: [] };
    const r = typedReaders(n1, [n1, n2])!;
    expect(r.ganetiVersions).toEqual(["3.0.2", "2.15.2"]);
    expect(r.explained?.map((x) => x.why)).toEqual(["a: runs the instance", "b: a migration peer in a's settings"]);
  });
});

describe("versions read from the node", () => {
  it("RELEASE_VERSION from _constants.py, major.minor from the share link", () => {
    expect(releaseVersionFromConstants('# comment\nPKGLIBDIR = "/usr/lib/ganeti/3.0"\nRELEASE_VERSION = "3.0.2"\nVERSION_MAJOR = 3\n')).toBe("3.0.2");
    expect(releaseVersionFromConstants("VERSION_MAJOR = 3\n")).toBeUndefined();
    expect(versionOfShareDir("/usr/share/ganeti/3.0")).toBe("3.0");
    expect(versionOfShareDir("/usr/share/ganeti/default")).toBeUndefined();
  });

  it("a typed version is an override that says so when the node disagrees", () => {
    const detected = { version: "3.0.2", source: "installed" as const, from: "/usr/share/ganeti/3.0/ganeti/_constants.py (RELEASE_VERSION)" };
    expect(resolveNodeVersion(undefined, detected)).toEqual({ version: "3.0.2", source: "installed", from: detected.from, detected });
    expect(resolveNodeVersion("3.0.2", detected)?.note).toBeUndefined();
    const over = resolveNodeVersion("2.15.2", detected)!;
    expect(over).toMatchObject({ version: "2.15.2", source: "typed" });
    expect(over.note).toMatch(/settings say Ganeti 2.15.2, but the node reports 3.0.2 .* 2.15.2 is used as an override/);
    expect(resolveNodeVersion(undefined, undefined)).toBeUndefined();
  });
});
