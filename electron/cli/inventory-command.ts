// hotplug-desk inventory: every instance on a node with its state,
// generation and PCI/SCSI map (file and live) and drift; the node's Ganeti
// version as read from it, and for each device whether Ganeti's
// configuration knows it (when the node belongs to a cluster).
import { loadNodeInventory } from "../inventory/node-inventory.js";
import { SshConnectionLostError } from "../ssh/session.js";
import type { InstanceView } from "../../shared/inventory/view.js";
import { readGanetiNodeFiles } from "../cluster/ganeti-files.js";
import { inventoryContextOf } from "../cluster/cluster-of.js";
import type { CliIo } from "./io";
import { NODE_OPTIONS_HELP, parseNodeJsonArgs, withNode } from "./node-options.js";

export const INVENTORY_USAGE = `Usage: hotplug-desk inventory --node USER@HOST[:PORT] [options] [--json]

Lists each instance on the node with its state, runtime generation, and its
PCI and SCSI maps from both the runtime file and the live bus (query-pci),
and where they disagree (drift). On a Ganeti node it reads the node's version
(a --ganeti-version that disagrees is used as an override, and says so) and
marks devices that Ganeti's configuration does not know.

${NODE_OPTIONS_HELP}  --json                    print JSON: { node, root, ganeti: { cluster, version, config }, instances: [...] }
`;

function occupied(v: InstanceView): string {
  const pci = v.pci
    .filter((s) => s.fileDevices.length > 0 || (s.liveDevices.some((d) => d.qdevId !== "") && !s.reserved))
    .map((s) => `${s.slot.toString(16).padStart(2, "0")}:${s.fileDevices[0]?.deviceId ?? s.liveDevices[0]?.qdevId ?? "?"}${s.drift ? `(${s.drift})` : ""}`);
  const scsi = v.scsi.filter((t) => t.state !== "free").map((t) => `scsi${t.scsiId}:${t.fileDevice?.deviceId ?? t.liveDevice?.qdevId ?? "?"}`);
  return [...pci, ...scsi].join(" ") || "-";
}

export async function inventoryCommand(argv: string[], io: CliIo): Promise<number> {
  const args = await parseNodeJsonArgs(argv, INVENTORY_USAGE, io);
  if (!args) return 0;
  const { node, json } = args;
  try {
    const { instances, ganeti } = await withNode(node, async (session) => {
      // A node whose Ganeti files cannot be read (not root, say) is listed as without them.
      const files = await readGanetiNodeFiles(session, node.root).catch((err: unknown) => ({ error: err instanceof Error ? err.message : String(err) }));
      const typed = node.ganetiVersions[0];
      const ctx = "error" in files ? undefined : inventoryContextOf(files, node.target.host, typed);
      const instances = await loadNodeInventory(session, { nodeId: node.label, root: node.root, ...(typed ? { ganetiVersion: typed } : {}), ...(ctx ? { ganeti: ctx.context } : {}) });
      const model = ctx?.cluster?.model;
      const ganeti = {
        cluster: model?.name ?? null,
        ...(ctx?.cluster?.self ? { node: ctx.cluster.self.name } : {}),
        version: ctx?.context.nodeVersion ?? null,
        config: model ? model.sources.config : null,
        ...("error" in files ? { problem: `The node's Ganeti files could not be read: ${files.error}` } : files.standalone ? { problem: files.why } : {}),
      };
      // A connection lost part-way leaves instances looking stopped: that is no inventory.
      if (session.closed) throw new SshConnectionLostError(node.label, "lost while the inventory was read; nothing listed can be trusted");
      return { instances, ganeti };
    });
    if (json) {
      io.out(`${JSON.stringify({ node: node.label, root: node.root, ganeti, instances }, null, 2)}\n`);
    } else {
      io.out(`${node.label}  root ${node.root}  ${instances.length} instance(s)\n`);
      const v = ganeti.version;
      if (ganeti.cluster) io.out(`  Ganeti cluster ${ganeti.cluster}${"node" in ganeti ? ` (this is ${ganeti.node})` : ""}${ganeti.config && !ganeti.config.read ? `; configuration not read: ${ganeti.config.why}` : ""}\n`);
      if (v) io.out(`  Ganeti ${v.version} (${v.source}: ${v.from})${v.note ? `\n  ${v.note}` : ""}\n`);
      for (const v of instances) {
        const gen = v.generation ? `gen ${v.generation}` : "no runtime";
        const notInConfig = v.threeWay.filter((d) => d.where.config === false).length;
        io.out(
          `  ${v.name.padEnd(24)} ${v.state.padEnd(13)} ${gen.padEnd(10)} ${(v.qemuVersion ?? "").padEnd(7)} ${occupied(v)}${v.drift.length ? `  DRIFT x${v.drift.length}` : ""}${notInConfig ? `  NOT-IN-GANETI-CONFIG x${notInConfig}` : ""}\n`,
        );
        if (v.runtimeError) io.out(`      runtime file: ${v.runtimeError}\n`);
        if (v.stateDetail && v.state !== "running") io.out(`      ${v.stateDetail}\n`);
      }
    }
    return 0;
  } catch (err) {
    io.err(`hotplug-desk inventory: ${err instanceof Error ? err.message : String(err)}\n`);
    return 1;
  }
}
