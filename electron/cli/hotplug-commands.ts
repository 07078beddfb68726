// `hotplug-desk nic|disk|repair|migrate-check …`: hotplug against a node over SSH.
// The command line becomes a change request, and the change goes the one
// way the app's changes go (electron/hotplug/change.ts), locked from the
// read to the write. Prints one JSON object on stdout; exit 0 = done (or
// consistent / dry run), 1 = refused, failed or inconsistent, 2 = bad
// command line.
import { homedir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { NODE_OPTIONS_HELP, NODE_PARSE_OPTIONS, cliGanetiAccess, nodeOptionsFrom } from "./node-options";
import { NodeSession } from "../ssh/session";
import { Journal } from "../hotplug/journal";
import { HotplugChanges } from "../hotplug/change";
import { checkInstanceMigration } from "../hotplug/migration";
import { GenerationSchema } from "../../shared/runtime";
import { DiskPathAllowSchema } from "../../shared/node-registry/schema";
import { REPAIR_KINDS, type ChangeRequestInput, type PlanOk, type Readers } from "../../shared/hotplug";
import { UsageError, processIo, type CliIo } from "./io";
import { readGanetiNodeFiles } from "../cluster/ganeti-files";
import { readersFromFiles } from "../cluster/cluster-of";

export const HOTPLUG_USAGE = `Usage: hotplug-desk <command> INSTANCE [options] --node USER@HOST[:PORT] [node options]

Commands:
  nic add INSTANCE [--slot 0xNN] [--mac M] [--link BR] [--mode bridged|openvswitch|routed] [--vlan V] [--uuid U]
  nic remove INSTANCE ID|UUID
  nic modify INSTANCE ID|UUID [--mac M] [--link BR]
  nic move INSTANCE ID|UUID --slot 0xNN   unplug and plug the same NIC at another slot
  disk add INSTANCE --size-mib N [--bus pci|scsi] [--slot 0xNN | --scsi-id N]
                            Ganeti creates the disk and records it first (file/sharedfile instances)
  disk add INSTANCE --path P [--bus pci|scsi] [--slot 0xNN | --scsi-id N] [--size-mib N] [--uuid U]
                            a disk of your own: runtime only, Ganeti never knows it
  disk remove INSTANCE ID|UUID [--delete-storage | --runtime-only]
  repair INSTANCE ID|UUID --action A [--mac M] [--link BR] [--slot 0xNN]
                            repair a drift among Ganeti's configuration, the runtime file and the
                            live bus (the inventory's three-way table names them); A is one of:
                            adopt     live and in the file, not in Ganeti's configuration (a NIC):
                                      Ganeti records it (same MAC, link), then it is re-plugged at the
                                      same slot under the id Ganeti derives (its link drops a moment)
                            record    live, not in the file: written into it at its live slot (from
                                      Ganeti's configuration, else with --mac and --link)
                            unplug    live, not in the file: unplugged
                            replug    in the file, not live: plugged back at its recorded slot
                            forget    in the file, not live: dropped from the file
                            plug      only in Ganeti's configuration (a NIC): hot-added (at --slot)
                            unrecord  only in Ganeti's configuration (a NIC): dropped from it
  migrate-check INSTANCE   compare a target built from the runtime file with the live bus

${NODE_OPTIONS_HELP}Change options:
  --runtime-only            keep the change out of Ganeti's configuration: the live bus and the runtime
                            file only (Ganeti drops an added device at the next shutdown/startup). Without
                            it, where --node is the cluster's master: a NIC add is recorded in Ganeti's
                            configuration first (gnt-instance modify, no --hotplug; Ganeti gives its uuid,
                            so no --uuid), then plugged at --slot under the id Ganeti derives; a NIC Ganeti
                            knows is removed or changed by Ganeti's own hotplug, its job's log shown;
                            a disk add with --size-mib and no --path is created and recorded by Ganeti
                            first, then plugged at --slot/--scsi-id from its instance-disks link
  --delete-storage          disk remove of a disk Ganeti knows: remove it through Ganeti, which DELETES
                            its storage (refused without this or --runtime-only, which keeps it)
  --floor A|B|C             never write a newer generation than this
  --journal DIR             undo journal (default $XDG_STATE_HOME/hotplug-desk/journal)
  --allow-disk-path P       disk add: also accept disks in P (a directory or device on the node;
                            repeat). Default: only the node's Ganeti storage (file storage dirs,
                            volume groups, DRBD, RBD); never its system paths or devices it uses
  --unplug-timeout MS       how long to wait for the guest to release a device
  --dry-run                 print the plan, change nothing
  -h, --help                show this help

Output: one JSON object; "status" is done, dry-run, refused, failed, unknown, consistent or inconsistent.
"unknown": the runtime write lost its answer; "result.write" says what the file held when read again.
Exit status: 0 done/consistent/dry-run, 1 refused/failed/unknown/inconsistent, 2 bad command line.
`;

const OPTIONS = {
  ...NODE_PARSE_OPTIONS,
  floor: { type: "string" },
  journal: { type: "string" },
  "allow-disk-path": { type: "string", multiple: true },
  "unplug-timeout": { type: "string" },
  "dry-run": { type: "boolean" },
  "runtime-only": { type: "boolean" },
  "delete-storage": { type: "boolean" },
  slot: { type: "string" },
  "scsi-id": { type: "string" },
  mac: { type: "string" },
  link: { type: "string" },
  mode: { type: "string" },
  vlan: { type: "string" },
  uuid: { type: "string" },
  path: { type: "string" },
  bus: { type: "string" },
  "size-mib": { type: "string" },
  action: { type: "string" },
  help: { type: "boolean", short: "h" },
} as const;

type Values = { [K in keyof typeof OPTIONS]?: (typeof OPTIONS)[K] extends { multiple: true } ? string[] : (typeof OPTIONS)[K]["type"] extends "boolean" ? boolean : string };

function parse(args: string[]): { values: Values; positionals: string[] } {
  try {
    const r = parseArgs({ args, options: OPTIONS, allowPositionals: true, strict: true });
    return { values: r.values as Values, positionals: r.positionals };
  } catch (e) {
    const flag = /'([^']+)'/.exec((e as Error).message)?.[1];
    throw new UsageError(flag ? `bad option ${flag}` : (e as Error).message, HOTPLUG_USAGE);
  }
}

function int(v: string | undefined, name: string): number | undefined {
  if (v === undefined) return undefined;
  if (!/^\d+$/.test(v)) throw new UsageError(`--${name} ${v}: expected a whole number`, HOTPLUG_USAGE);
  return Number(v);
}

function readersOf(v: Values): Readers | undefined {
  const versions = v["ganeti-version"];
  if (!versions?.length) {
    if (v.floor) throw new UsageError("--floor needs at least one --ganeti-version", HOTPLUG_USAGE);
    return undefined;
  }
  const readers: Readers = { ganetiVersions: versions };
  if (v.floor) {
    const f = GenerationSchema.safeParse(v.floor);
    if (!f.success) throw new UsageError(`--floor ${v.floor}: expected A, B or C`, HOTPLUG_USAGE);
    readers.floor = f.data;
  }
  return readers;
}

function defaultJournalDir(): string {
  const state = process.env.XDG_STATE_HOME || join(homedir(), ".local", "state");
  return join(state, "hotplug-desk", "journal");
}

type Command = { kind: "change"; name: string; instance: string; request: ChangeRequestInput } | { kind: "migrate-check"; instance: string };

const NIC_VERBS = ["add", "remove", "modify", "move"];
const DISK_VERBS = ["add", "remove"];

function command(positionals: string[], v: Values): Command {
  const words = positionals[0] === "hotplug" ? positionals.slice(1) : positionals;
  const [area, verb, instance, ref, ...extra] = words;
  if (area === "migrate-check") {
    if (!verb) throw new UsageError("migrate-check: missing INSTANCE", HOTPLUG_USAGE);
    if (instance !== undefined) throw new UsageError(`migrate-check: unexpected ${instance}`, HOTPLUG_USAGE);
    return { kind: "migrate-check", instance: verb };
  }
  if (area === "repair") {
    // `repair INSTANCE REF`: the words shift one to the left.
    const [inst, device, ...more] = [verb, instance, ref, ...extra].filter((x): x is string => x !== undefined);
    if (!inst) throw new UsageError("repair: missing INSTANCE", HOTPLUG_USAGE);
    if (!device) throw new UsageError("repair: missing ID|UUID of the device (its uuid, or the QEMU id it runs with)", HOTPLUG_USAGE);
    if (more.length) throw new UsageError(`repair: unexpected ${more.join(" ")}`, HOTPLUG_USAGE);
    if (!v.action) throw new UsageError(`repair: missing --action (one of ${REPAIR_KINDS.join(", ")})`, HOTPLUG_USAGE);
    const repair = REPAIR_KINDS.find((k) => k === v.action);
    if (!repair) throw new UsageError(`--action ${v.action}: expected one of ${REPAIR_KINDS.join(", ")}`, HOTPLUG_USAGE);
    const given = <T extends object>(o: T) => Object.fromEntries(Object.entries(o).filter(([, x]) => x !== undefined)) as Partial<T>;
    const request: ChangeRequestInput = { action: "repair", repair, ref: device, ...given({ mac: v.mac, link: v.link, slot: v.slot }) };
    return { kind: "change", name: `repair ${repair}`, instance: inst, request: v["runtime-only"] ? { ...request, runtimeOnly: true } : request };
  }
  if (area !== "nic" && area !== "disk") throw new UsageError(area ? `unknown command "${area}"` : "missing command", HOTPLUG_USAGE);
  const verbs = area === "nic" ? NIC_VERBS : DISK_VERBS;
  if (!verb || !verbs.includes(verb)) throw new UsageError(`${area}: expected ${verbs.slice(0, -1).join(", ")} or ${verbs.at(-1)}`, HOTPLUG_USAGE);
  if (!instance) throw new UsageError(`${area} ${verb}: missing INSTANCE`, HOTPLUG_USAGE);
  if (extra.length) throw new UsageError(`${area} ${verb}: unexpected ${extra.join(" ")}`, HOTPLUG_USAGE);
  const name = `${area} ${verb}`;
  const change = (request: ChangeRequestInput): Command => ({ kind: "change", name, instance, request: v["runtime-only"] ? { ...request, runtimeOnly: true } : request });
  // Options left out stay out: the change fills in ids, MAC and link the same way for the app and here.
  const given = <T extends object>(o: T) => Object.fromEntries(Object.entries(o).filter(([, x]) => x !== undefined)) as Partial<T>;
  if (verb === "add") {
    if (ref !== undefined) throw new UsageError(`${name}: unexpected ${ref}`, HOTPLUG_USAGE);
    // --mode is checked with the rest of the request (a bad one is refused, naming the three).
    if (area === "nic") return change({ action: "add-nic", ...given({ slot: v.slot, mac: v.mac, link: v.link, mode: v.mode as "bridged" | undefined, vlan: v.vlan, uuid: v.uuid }) });
    if (!v.path && v["size-mib"] === undefined) {
      throw new UsageError(`${name}: missing --path P (a file or block device on the node: runtime only) or --size-mib N alone (Ganeti creates and records the disk)`, HOTPLUG_USAGE);
    }
    if (!v.path && v["runtime-only"]) throw new UsageError(`${name}: --runtime-only needs --path P: only Ganeti creates a disk from a size`, HOTPLUG_USAGE);
    const bus = v.bus ?? "pci";
    if (bus !== "pci" && bus !== "scsi") throw new UsageError(`--bus ${bus}: expected pci or scsi`, HOTPLUG_USAGE);
    return change({ action: "add-disk", bus, ...given({ path: v.path, slot: v.slot, scsiId: int(v["scsi-id"], "scsi-id"), sizeMiB: int(v["size-mib"], "size-mib"), uuid: v.uuid }) });
  }
  if (!ref) throw new UsageError(`${name}: missing ID|UUID of the ${area}`, HOTPLUG_USAGE);
  if (v["delete-storage"] && !(area === "disk" && verb === "remove")) throw new UsageError(`--delete-storage is for disk remove`, HOTPLUG_USAGE);
  if (v["delete-storage"] && v["runtime-only"]) throw new UsageError(`${name}: --delete-storage (through Ganeti) and --runtime-only (Ganeti keeps the disk) exclude each other`, HOTPLUG_USAGE);
  if (verb === "remove") return change({ action: "remove", kind: area, ref, ...(v["delete-storage"] ? { deleteStorage: true } : {}) });
  if (verb === "move") {
    if (v.slot === undefined) throw new UsageError(`${name}: missing --slot 0xNN (where the NIC goes)`, HOTPLUG_USAGE);
    return change({ action: "move-nic", ref, slot: v.slot });
  }
  return change({ action: "modify-nic", ref, ...given({ mac: v.mac, link: v.link }) });
}

/** The plan as scripts read it: steps in order, where the device goes, and what the file becomes. */
function planOut(plan: PlanOk) {
  return {
    steps: plan.steps.map((s, i) => ({ index: i, kind: s.kind, describe: s.describe })),
    slot: plan.slot,
    writeGeneration: plan.writeGeneration,
    fileDiff: plan.fileDiff,
    warnings: plan.warnings,
    readers: plan.readers,
    ...(plan.recording ? { recording: plan.recording } : {}),
  };
}

/** Run one hotplug CLI command; prints JSON on io.out, returns the exit status. */
export async function runHotplugCommand(argv: string[], io: CliIo = processIo): Promise<number> {
  let session: NodeSession | undefined;
  const print = (o: unknown) => io.out(`${JSON.stringify(o, null, 2)}\n`);
  try {
    const { values: v, positionals } = parse(argv);
    if (v.help) {
      io.out(HOTPLUG_USAGE);
      return 0;
    }
    const cmd = command(positionals, v);
    const node = await nodeOptionsFrom(v, HOTPLUG_USAGE);
    const { target, root, label: nodeId } = node;
    const readers = readersOf(v);
    for (const p of v["allow-disk-path"] ?? []) {
      const ok = DiskPathAllowSchema.safeParse([p]);
      if (!ok.success) throw new UsageError(`--allow-disk-path ${p}: ${ok.error.issues[0]?.message.replace(/^diskPathAllow: /, "") ?? "not a path"}`, HOTPLUG_USAGE);
    }
    const unplugTimeout = int(v["unplug-timeout"], "unplug-timeout");
    session = await NodeSession.open(target);

    if (cmd.kind === "migrate-check") {
      const r = await checkInstanceMigration(session, cmd.instance, { root });
      print({ command: "migrate-check", node: nodeId, status: r.ok ? "consistent" : "inconsistent", ...r });
      return r.ok ? 0 : 1;
    }

    // No versions given: the node and its Ganeti cluster say who reads the file (a node whose files cannot be read: the file decides).
    const found = readers ? undefined : await readGanetiNodeFiles(session, root).then((f) => readersFromFiles(f, target.host, cmd.instance), () => undefined);
    const changes = new HotplugChanges({ journal: new Journal(v.journal ?? defaultJournalDir()) });
    // After a write whose answer was lost, the file is read again, on a new connection if this one is gone.
    const reconnect = async () => {
      const again = await NodeSession.open(target);
      return { session: again, done: () => again.close() };
    };
    const allow = v["allow-disk-path"] ?? [];
    const changeTarget = {
      session,
      nodeId,
      root,
      reconnect,
      ...(readers ? { readers } : found?.readers ? { readers: found.readers } : {}),
      ...(found ? { cluster: found.context } : {}),
      ...(allow.length ? { diskPathAllow: allow } : {}),
      ganeti: cliGanetiAccess(node, session),
    };
    const r = await changes.now(changeTarget, cmd.instance, cmd.request, {
      dryRun: v["dry-run"] ?? false,
      ...(unplugTimeout !== undefined ? { deviceDeletedTimeoutMs: unplugTimeout } : {}),
      report: {
        progress: (e) => {
          // Progress on stderr, so stdout stays one JSON document for scripts; a Ganeti job's log line by line as it comes.
          if (e.kind === "ganeti-config" && e.detail && (e.state === "running" || e.state === "undoing")) io.err(`[${e.index + 1}/${e.total}] Ganeti: ${e.detail}\n`);
          else if (e.state !== "running") io.err(`[${e.index + 1}/${e.total}] ${e.state}: ${e.describe}${e.detail ? ` (${e.detail})` : ""}\n`);
        },
      },
    });
    const base = {
      command: cmd.name,
      node: nodeId,
      instance: cmd.instance,
      // One intent for most changes; a change made of parts (nic move) lists them all.
      ...(r.intents.length === 1 ? { intent: r.intents[0] } : r.intents.length > 1 ? { intents: r.intents } : {}),
      ...r.read,
    };
    switch (r.status) {
      case "refused":
        print({ ...base, status: "refused", refusals: r.refusals });
        return 1;
      case "dry-run":
        print({ ...base, status: "dry-run", plan: { ...planOut(r.plan), fileTextAfter: r.plan.fileTextAfter } });
        return 0;
      default:
        print({ ...base, status: r.status, plan: planOut(r.plan), result: r.outcome });
        return r.outcome.ok ? 0 : 1;
    }
  } catch (e) {
    if (e instanceof UsageError) {
      io.err(`hotplug-desk: ${e.message}\n\n${e.usage}`);
      return 2;
    }
    print({ status: "error", error: { name: e instanceof Error ? e.name : "Error", message: e instanceof Error ? e.message : String(e) } });
    return 1;
  } finally {
    session?.close();
  }
}
