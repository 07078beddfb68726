// A synthetic Ganeti 3.0.2 cluster for the cluster bench: N nodes, each a
// real sshd on its own loopback address (127.0.0.11, .12, ...; the lo
// interface answers for all of 127/8, nothing is added to it) serving its
// own node root. Every node sees its root at the same path (a bind mount in
// a private mount namespace per sshd), as real nodes all have theirs at
// "/": the app adds the other nodes with the first one's settings, root
// included. Each root holds what a Ganeti node holds: ssconf files,
// the cluster's known_hosts, config.data on master candidates (in the
// format and key order Ganeti 3.0.2 writes, templated on
// test/fixtures/ganeti/lab-3.0.2), the installed version
// (/etc/ganeti/share), and the KVM runtime files of its instances. Most
// instances are stopped (a runtime file, no QEMU); one per node runs as a
// paused QEMU of the lab, its sockets linked into the node's ctrl/.
import { randomBytes, randomUUID } from "node:crypto";
import { existsSync } from "node:fs";
import { appendFile, mkdir, readFile, rm, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { LabNode } from "../../electron/lab/node.js";
import { buildInstanceRuntime, startLabInstance } from "../../electron/lab/instances.js";
import { startSshd, type RunningSshd } from "../../electron/lab/sshd.js";
import type { Runtime } from "../../shared/runtime/index.js";
import { instancePaths, kvmLayout } from "../../shared/on-node/layout.js";
import { SSCONF_KEYS } from "../../shared/ganeti/ssconf.js";
import { stopSshds } from "./inventory.js";

const FIXTURE = join(__dirname, "../fixtures/ganeti/lab-3.0.2/var-lib-ganeti");
const GANETI_SHARE = "/usr/share/ganeti/3.0";
const TEMPLATES = ["diskless", "plain", "sharedfile", "drbd"] as const;
type Template = (typeof TEMPLATES)[number];

export interface ClusterLabNode {
  name: string;
  address: string;
  port: number;
  hostPublicKey: string;
  masterCandidate: boolean;
  /** Its instances (primary here). */
  instances: string[];
  /** Every file the app reads on it, as paths the node sees: what the floor's `ssh cat` reads. */
  files: string[];
  /** The files of discovery alone (ssconf, known_hosts, config.data). */
  discoveryFiles: string[];
}

export interface ClusterLab {
  name: string;
  /** The path every node sees its root at. */
  root: string;
  user: string;
  /** The first node's client key, which every node accepts (the app adds the others with it). */
  keyPath: string;
  /** `[address]:port key` for every node: trust arranged beforehand. */
  knownHostsLines: string[];
  /** The same lines as a file, for OpenSSH's client (the floor). */
  knownHostsPath: string;
  nodes: ClusterLabNode[];
  /** Nodes Ganeti lists as offline (no sshd: nothing to connect to). */
  offline: string[];
  instances: { total: number; running: number; byTemplate: Record<string, number> };
  configDataBytes: number;
  stop(): Promise<void>;
}

export interface ClusterLabOptions {
  lab: LabNode;
  nodes: number;
  instances: number;
  /** Instances that run (paused QEMU), the first `running` ones: one per node while running <= nodes. */
  running: number;
  log: (line: string) => void;
}

const pad = (n: number, w = 2) => String(n).padStart(w, "0");
/** ssconf's layout: one item a line, a final newline, an empty file for none. */
const ssconfText = (lines: string[]) => (lines.length ? `${lines.join("\n")}\n` : "");
const now = () => Date.now() / 1000;

interface PlannedInstance {
  name: string;
  uuid: string;
  node: number;
  secondary?: number;
  template: Template;
  running: boolean;
  runtimeText: string;
  runtime: Runtime;
}

type Json = Record<string, unknown>;

/** config.data as Ganeti 3.0.2 writes it (compact JSON, its key order), templated on the lab's real file. */
function configData(template: Json, c: { name: string; nodes: { name: string; uuid: string; address: string; port: number; group: string; mc: boolean; offline: boolean; drained: boolean }[]; groups: { uuid: string; name: string }[]; instances: PlannedInstance[] }): string {
  const t = now();
  const cluster = template.cluster as Json;
  const nodeTemplate = Object.values(template.nodes as Record<string, Json>)[0]!;
  const groupTemplate = Object.values(template.nodegroups as Record<string, Json>)[0]!;
  const instTemplate = Object.values(template.instances as Record<string, Json>)[0]!;
  const diskTemplate = Object.values(template.disks as Record<string, Json>)[0]!;
  const nodeUuid = (i: number) => c.nodes[i]!.uuid;
  const nodes: Record<string, Json> = {};
  for (const n of c.nodes) {
    nodes[n.uuid] = { ...nodeTemplate, name: n.name, primary_ip: n.address, secondary_ip: n.address, master_candidate: n.mc, offline: n.offline, drained: n.drained, group: n.group, ndparams: { ssh_port: n.port }, ctime: t, mtime: t, uuid: n.uuid, serial_no: 1 };
  }
  const nodegroups: Record<string, Json> = {};
  for (const g of c.groups) nodegroups[g.uuid] = { ...groupTemplate, name: g.name, mtime: t, uuid: g.uuid };
  const instances: Record<string, Json> = {};
  const disks: Record<string, Json> = {};
  let port = 11000;
  let minor = 0;
  for (const i of c.instances) {
    const p = nodeUuid(i.node);
    const diskUuids: string[] = [];
    for (const [k, d] of i.runtime.disks.entries()) {
      const uuid = String(d.disk.uuid);
      diskUuids.push(uuid);
      const base = { ...diskTemplate, children: [], iv_name: `disk/${k}`, size: 64, mode: "rw", params: {}, uuid, serial_no: 1, ctime: t, mtime: t };
      const lv = (what: string, size: number) => ({ logical_id: ["xenvg", `${randomUUID()}.disk${k}_${what}`], dev_type: "plain", children: [], nodes: [p, nodeUuid(i.secondary!)], iv_name: "", size, mode: "rw", params: {}, uuid: randomUUID(), serial_no: 1, ctime: t, mtime: t });
      disks[uuid] =
        i.template === "plain"
          ? { ...base, logical_id: ["xenvg", `${randomUUID()}.disk${k}`], dev_type: "plain", nodes: [p] }
          : i.template === "sharedfile"
            ? { ...base, logical_id: ["loop", `/srv/ganeti/shared-file-storage/${i.name}/${randomUUID()}.sharedfile.disk${k}`], dev_type: "sharedfile", nodes: [] }
            : { ...base, logical_id: [p, nodeUuid(i.secondary!), 11500 + minor, minor, minor++, randomBytes(20).toString("hex")], dev_type: "drbd", children: [lv("data", 64), lv("meta", 128)], nodes: [p, nodeUuid(i.secondary!)] };
    }
    instances[i.uuid] = {
      ...instTemplate,
      name: i.name,
      primary_node: p,
      admin_state: i.running ? "up" : "down",
      nics: i.runtime.nics.map((n) => ({ mac: n.mac, nicparams: { link: (n.nicparams as { link?: string } | undefined)?.link ?? "gnt-br0" }, uuid: n.uuid })),
      disks: diskUuids,
      disks_active: i.running,
      network_port: port++,
      ctime: t,
      mtime: t,
      uuid: i.uuid,
      serial_no: 2,
    };
  }
  const master = c.nodes[0]!;
  const file = {
    version: template.version,
    cluster: {
      ...cluster,
      highest_used_port: port - 1,
      master_node: master.uuid,
      master_ip: "127.0.0.250",
      cluster_name: c.name,
      candidate_certs: Object.fromEntries(c.nodes.filter((n) => n.mc).map((n) => [n.uuid, [...randomBytes(20)].map((b) => b.toString(16).padStart(2, "0").toUpperCase()).join(":")])),
      ctime: t,
      mtime: t,
      uuid: randomUUID(),
      serial_no: 4,
    },
    nodes,
    nodegroups,
    instances,
    networks: {},
    disks,
    filters: {},
    ctime: t,
    mtime: t,
    serial_no: 20 + c.instances.length,
  };
  // Ganeti (Haskell's Text.JSON) writes it on one line, no spaces, no final newline.
  return JSON.stringify(file);
}

export async function startClusterLab(opts: ClusterLabOptions): Promise<ClusterLab> {
  const { lab, log } = opts;
  const name = "cluster.bench.example";
  const base = join(lab.root, "cluster");
  const root = join(base, "root");
  await mkdir(root, { recursive: true });
  const sshds: RunningSshd[] = [];
  const started: string[] = [];
  const stop = async () => {
    await stopSshds(sshds);
    for (const n of started) await lab.stopInstance(n);
    await rm(base, { recursive: true, force: true });
  };
  try {
    const nodeNames = Array.from({ length: opts.nodes }, (_, k) => `node${pad(k + 1)}.bench.example`);
    const offlineName = `node${pad(opts.nodes + 1)}.bench.example`;
    const address = (k: number) => `127.0.0.${11 + k}`;
    const dirOf = (k: number) => join(base, `n${pad(k + 1)}`);

    // sshds first: ssconf lists their ports. Each runs in its own mount namespace with its root bound at `root`.
    log(`cluster: starting ${opts.nodes} sshd nodes (127.0.0.11-${11 + opts.nodes - 1}, each root bound at ${root})`);
    const launcher = (k: number) => ["unshare", "--mount", "--propagation", "private", "--", "sh", "-c", 'mount --bind "$1" "$2" && shift 2 && exec "$@"', "sh", dirOf(k), root];
    for (let k = 0; k < opts.nodes; k++) await mkdir(dirOf(k), { recursive: true });
    sshds.push(...(await Promise.all(nodeNames.map((_, k) => startSshd(join(base, `ssh${pad(k + 1)}`), { launcher: launcher(k), extraConfig: [`ListenAddress ${address(k)}`] })))));
    const first = sshds[0]!;
    // The app reaches every node with the first node's key (the same credentials); every sshd accepts it.
    const firstPub = await readFile(`${first.privateKeyPath}.pub`, "utf8");
    for (const s of sshds.slice(1)) await appendFile(join(base, `ssh${pad(sshds.indexOf(s) + 1)}`, "authorized_keys"), firstPub);

    // Groups of ten nodes; master candidates: half of each group (candidate_pool_size 10), node01 the master; the last node drained.
    const groups = Array.from({ length: Math.ceil(opts.nodes / 10) }, (_, g) => ({ uuid: randomUUID(), name: g === 0 ? "default" : `rack${g + 1}` }));
    const groupOf = (k: number) => Math.floor(k / 10);
    const mc = (k: number) => k % 10 < 5;
    const nodes = [
      ...nodeNames.map((n, k) => ({ name: n, uuid: randomUUID(), address: address(k), port: sshds[k]!.port, group: groups[groupOf(k)]!.uuid, mc: mc(k), offline: false, drained: k === opts.nodes - 1 })),
      { name: offlineName, uuid: randomUUID(), address: address(opts.nodes), port: 22, group: groups[0]!.uuid, mc: false, offline: true, drained: false },
    ];

    // Instances round-robin over the nodes; DRBD's secondary is the next node of the same group.
    log(`cluster: ${opts.instances} instances, ${opts.running} of them running (paused QEMU)`);
    const planned: PlannedInstance[] = [];
    for (let i = 0; i < opts.instances; i++) {
      const node = i % opts.nodes;
      const running = i < opts.running;
      const template: Template = running ? (["plain", "drbd", "sharedfile"] as const)[i % 3]! : TEMPLATES[i % TEMPLATES.length]!;
      const g = groupOf(node);
      const inGroup = nodeNames.map((_, k) => k).filter((k) => groupOf(k) === g);
      const secondary = template === "drbd" ? inGroup[(inGroup.indexOf(node) + 1) % inGroup.length] : undefined;
      const iname = `vm${pad(i + 1, 3)}.bench.example`;
      const spec = { name: iname, generation: "C" as const, nics: 1, disks: template === "diskless" ? [] : [{ bus: "pci" as const }], memoryMiB: 64, paused: true };
      let runtimeText: string;
      let runtime: Runtime;
      if (running) {
        const s = await startLabInstance(lab, spec);
        started.push(s.name);
        ({ runtimeText, runtime } = s);
      } else {
        ({ text: runtimeText, runtime } = await buildInstanceRuntime(lab, spec));
      }
      planned.push({ name: iname, uuid: randomUUID(), node, ...(secondary !== undefined ? { secondary } : {}), template, running, runtimeText, runtime });
    }

    const template = JSON.parse(await readFile(join(FIXTURE, "config.data"), "utf8")) as Json;
    const config = configData(template, { name, nodes, groups, instances: planned });
    const sorted = (xs: string[]) => [...xs].sort();
    const ssconf: Record<string, string> = {
      cluster_name: `${name}\n`,
      master_node: `${nodeNames[0]}\n`,
      master_ip: "127.0.0.250\n",
      master_candidates: ssconfText(nodes.filter((n) => n.mc).map((n) => n.name)),
      node_list: ssconfText(sorted(nodes.map((n) => n.name))),
      node_primary_ips: ssconfText(nodes.map((n) => `${n.name} ${n.address}`)),
      node_secondary_ips: ssconfText(nodes.map((n) => `${n.name} ${n.address}`)),
      node_vm_capable: ssconfText(nodes.map((n) => `${n.name}=True`)),
      online_nodes: ssconfText(sorted(nodes.filter((n) => !n.offline).map((n) => n.name))),
      offline_nodes: ssconfText([offlineName]),
      nodegroups: ssconfText(groups.map((g) => `${g.uuid} ${g.name}`)),
      instance_list: ssconfText(sorted(planned.map((p) => p.name))),
      ssh_ports: ssconfText(nodes.map((n) => `${n.name}=${n.port}`)),
      release_version: "3.0.2\n",
    };
    // The rest as the real cluster wrote them.
    for (const k of SSCONF_KEYS) if (ssconf[k] === undefined) ssconf[k] = await readFile(join(FIXTURE, `ssconf_${k}`), "utf8");
    const knownHosts = `${name} ${first.hostPublicKey}\n`;

    const out: ClusterLabNode[] = [];
    for (let k = 0; k < opts.nodes; k++) {
      const dir = dirOf(k);
      const lib = join(dir, "var/lib/ganeti");
      await mkdir(lib, { recursive: true });
      for (const [key, text] of Object.entries(ssconf)) await writeFile(join(lib, `ssconf_${key}`), text, { mode: 0o444 });
      await writeFile(join(lib, "known_hosts"), knownHosts, { mode: 0o644 });
      if (nodes[k]!.mc) await writeFile(join(lib, "config.data"), config, { mode: 0o600 });
      // The installed Ganeti: /etc/ganeti/share -> /usr/share/ganeti/3.0 (the machine's, from ganeti-3.0, where installed).
      await mkdir(join(dir, "etc/ganeti"), { recursive: true });
      await symlink(GANETI_SHARE, join(dir, "etc/ganeti/share"));
      await mkdir(join(dir, "usr/share/ganeti"), { recursive: true });
      if (existsSync(join(GANETI_SHARE, "ganeti/_constants.py"))) await symlink(GANETI_SHARE, join(dir, "usr/share/ganeti/3.0"));
      else {
        await mkdir(join(dir, "usr/share/ganeti/3.0/ganeti"), { recursive: true });
        await writeFile(join(dir, "usr/share/ganeti/3.0/ganeti/_constants.py"), '"""Module holding different constants."""\n\nRELEASE_VERSION = "3.0.2"\n');
      }
      const layout = kvmLayout(dir);
      await mkdir(layout.conf, { recursive: true });
      await mkdir(layout.ctrl, { recursive: true });
      const mine = planned.filter((p) => p.node === k);
      for (const p of mine) {
        await writeFile(instancePaths(dir, p.name).runtime, p.runtimeText, { mode: 0o600 });
        if (p.running) {
          const src = instancePaths(lab.root, p.name);
          await symlink(src.qmp, instancePaths(dir, p.name).qmp);
          await symlink(src.kvmd, instancePaths(dir, p.name).kvmd);
        }
      }
      const seen = (path: string) => path.replace(dir, root);
      const discoveryFiles = [...Object.keys(ssconf).map((key) => join(lib, `ssconf_${key}`)), join(lib, "known_hosts"), ...(nodes[k]!.mc ? [join(lib, "config.data")] : [])].map(seen);
      out.push({
        name: nodeNames[k]!,
        address: address(k),
        port: sshds[k]!.port,
        hostPublicKey: sshds[k]!.hostPublicKey,
        masterCandidate: nodes[k]!.mc,
        instances: mine.map((p) => p.name),
        discoveryFiles,
        files: [...discoveryFiles, join(root, "usr/share/ganeti/3.0/ganeti/_constants.py"), "/proc/sys/kernel/hostname", ...mine.map((p) => seen(instancePaths(dir, p.name).runtime))],
      });
    }
    const knownHostsLines = out.map((n) => `[${n.address}]:${n.port} ${n.hostPublicKey}`);
    const knownHostsPath = join(base, "known_hosts");
    await writeFile(knownHostsPath, `${knownHostsLines.join("\n")}\n`, { mode: 0o600 });
    const byTemplate: Record<string, number> = {};
    for (const p of planned) byTemplate[p.template] = (byTemplate[p.template] ?? 0) + 1;
    return {
      name,
      root,
      user: first.user,
      keyPath: first.privateKeyPath,
      knownHostsLines,
      knownHostsPath,
      nodes: out,
      offline: [offlineName],
      instances: { total: planned.length, running: planned.filter((p) => p.running).length, byTemplate },
      configDataBytes: Buffer.byteLength(config),
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}
