// hotplug-desk inventory: every instance on a node with its state,
// generation and PCI/SCSI map (file and live) and drift.
import { parseArgs } from "node:util";
import { loadNodeInventory } from "../inventory/node-inventory.js";
import { SshConnectionLostError } from "../ssh/session.js";
import type { InstanceView } from "../../shared/inventory/view.js";
import { UsageError, type CliIo } from "./io";
import { NODE_OPTIONS_HELP, NODE_PARSE_OPTIONS, nodeOptionsFrom, withNode } from "./node-options.js";

export const INVENTORY_USAGE = `Usage: hotplug-desk inventory --node USER@HOST[:PORT] [options] [--json]

Lists each instance on the node with its state, runtime generation, and its
PCI and SCSI maps from both the runtime file and the live bus (query-pci),
and where they disagree (drift).

${NODE_OPTIONS_HELP}  --json                    print JSON: { node, root, instances: [...] }
`;

function occupied(v: InstanceView): string {
  const pci = v.pci
    .filter((s) => s.fileDevices.length > 0 || (s.liveDevices.some((d) => d.qdevId !== "") && !s.reserved))
    .map((s) => `${s.slot.toString(16).padStart(2, "0")}:${s.fileDevices[0]?.deviceId ?? s.liveDevices[0]?.qdevId ?? "?"}${s.drift ? `(${s.drift})` : ""}`);
  const scsi = v.scsi.filter((t) => t.state !== "free").map((t) => `scsi${t.scsiId}:${t.fileDevice?.deviceId ?? t.liveDevice?.qdevId ?? "?"}`);
  return [...pci, ...scsi].join(" ") || "-";
}

export async function inventoryCommand(argv: string[], io: CliIo): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options: { ...NODE_PARSE_OPTIONS, json: { type: "boolean" }, help: { type: "boolean", short: "h" } }, strict: true, allowPositionals: false });
  } catch (err) {
    throw new UsageError((err as Error).message, INVENTORY_USAGE);
  }
  if (parsed.values.help) {
    io.out(INVENTORY_USAGE);
    return 0;
  }
  const node = nodeOptionsFrom(parsed.values, INVENTORY_USAGE);
  try {
    const instances = await withNode(node, async (session) => {
      const views = await loadNodeInventory(session, { nodeId: node.label, root: node.root, ...(node.ganetiVersions[0] ? { ganetiVersion: node.ganetiVersions[0] } : {}) });
      // A connection lost part-way leaves instances looking stopped: that is no inventory.
      if (session.closed) throw new SshConnectionLostError(node.label, "lost while the inventory was read; nothing listed can be trusted");
      return views;
    });
    if (parsed.values.json) {
      io.out(`${JSON.stringify({ node: node.label, root: node.root, instances }, null, 2)}\n`);
    } else {
      io.out(`${node.label}  root ${node.root}  ${instances.length} instance(s)\n`);
      for (const v of instances) {
        const gen = v.generation ? `gen ${v.generation}` : "no runtime";
        io.out(`  ${v.name.padEnd(24)} ${v.state.padEnd(13)} ${gen.padEnd(10)} ${(v.qemuVersion ?? "").padEnd(7)} ${occupied(v)}${v.drift.length ? `  DRIFT x${v.drift.length}` : ""}\n`);
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
