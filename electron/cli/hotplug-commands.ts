// `hotplug-desk nic|disk|migrate-check …`: hotplug against a node over SSH,
// through the same planner and executor the app uses. Prints one JSON
// object on stdout; exit 0 = done (or consistent / dry run), 1 = refused,
// failed or inconsistent, 2 = bad command line.
import { homedir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { NODE_OPTIONS_HELP, NODE_PARSE_OPTIONS, nodeOptionsFrom } from "./node-options";
import { NodeSession, type NodeTarget } from "../ssh/session";
import { Journal } from "../hotplug/journal";
import { executePlan } from "../hotplug/executor";
import { gatherInstanceState, type GatheredState } from "../hotplug/state";
import { gatherInstanceStateLocked, type LockedState } from "../hotplug/locked-state";
import { checkInstanceMigration } from "../hotplug/migration";
import { newDeviceUuid, newMac } from "../hotplug/ids";
import { GenerationSchema } from "../../shared/runtime";
import { planHotplug, type HotplugIntentInput, type Readers, type StepProgress } from "../../shared/hotplug";
import { UsageError, processIo, type CliIo } from "./io";

export const HOTPLUG_USAGE = `Usage: hotplug-desk <command> INSTANCE [options] --node USER@HOST[:PORT] [node options]

Commands:
  nic add INSTANCE [--slot 0xNN] [--mac M] [--link BR] [--mode bridged|openvswitch|routed] [--vlan V] [--uuid U]
  nic remove INSTANCE ID|UUID
  nic modify INSTANCE ID|UUID [--mac M] [--link BR]
  disk add INSTANCE --path P [--bus pci|scsi] [--slot 0xNN | --scsi-id N] [--size-mib N] [--uuid U]
  disk remove INSTANCE ID|UUID
  migrate-check INSTANCE   compare a target built from the runtime file with the live bus

${NODE_OPTIONS_HELP}Change options:
  --floor A|B|C             never write a newer generation than this
  --journal DIR             undo journal (default $XDG_STATE_HOME/hotplug-desk/journal)
  --unplug-timeout MS       how long to wait for the guest to release a device
  --dry-run                 print the plan, change nothing
  -h, --help                show this help

Output: one JSON object; "status" is done, dry-run, refused, failed, consistent or inconsistent.
Exit status: 0 done/consistent/dry-run, 1 refused/failed/inconsistent, 2 bad command line.
`;

const OPTIONS = {
  ...NODE_PARSE_OPTIONS,
  floor: { type: "string" },
  journal: { type: "string" },
  "unplug-timeout": { type: "string" },
  "dry-run": { type: "boolean" },
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

function nodeTarget(v: Values): { target: NodeTarget; root: string; nodeId: string } {
  const o = nodeOptionsFrom(v, HOTPLUG_USAGE);
  return { target: o.target, root: o.root, nodeId: o.label };
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

type Command = { kind: "change"; name: string; instance: string; intent: (linkOfNic0: string | undefined) => HotplugIntentInput } | { kind: "migrate-check"; instance: string };

function command(positionals: string[], v: Values): Command {
  const words = positionals[0] === "hotplug" ? positionals.slice(1) : positionals;
  const [area, verb, instance, ref, ...extra] = words;
  if (area === "migrate-check") {
    if (!verb) throw new UsageError("migrate-check: missing INSTANCE", HOTPLUG_USAGE);
    if (instance !== undefined) throw new UsageError(`migrate-check: unexpected ${instance}`, HOTPLUG_USAGE);
    return { kind: "migrate-check", instance: verb };
  }
  if (area !== "nic" && area !== "disk") throw new UsageError(area ? `unknown command "${area}"` : "missing command", HOTPLUG_USAGE);
  if (!verb || !["add", "remove", "modify"].includes(verb) || (area === "disk" && verb === "modify")) {
    throw new UsageError(`${area}: expected ${area === "nic" ? "add, remove or modify" : "add or remove"}`, HOTPLUG_USAGE);
  }
  if (!instance) throw new UsageError(`${area} ${verb}: missing INSTANCE`, HOTPLUG_USAGE);
  if (extra.length) throw new UsageError(`${area} ${verb}: unexpected ${extra.join(" ")}`, HOTPLUG_USAGE);
  const name = `${area} ${verb}`;
  if (verb === "add") {
    if (ref !== undefined) throw new UsageError(`${name}: unexpected ${ref}`, HOTPLUG_USAGE);
    const uuid = v.uuid ?? newDeviceUuid();
    if (area === "nic") {
      return {
        kind: "change",
        name,
        instance,
        intent: (link0) => {
          const mode = v.mode ?? "bridged";
          const link = v.link ?? (mode === "routed" ? undefined : link0);
          if (link === undefined && mode !== "routed") throw new UsageError(`${name}: no --link given and the instance has no NIC to take it from`, HOTPLUG_USAGE);
          return { action: "add-nic", uuid, mac: v.mac ?? newMac(), ...(link !== undefined ? { link } : {}), mode, ...(v.vlan !== undefined ? { vlan: v.vlan } : {}), ...(v.slot !== undefined ? { slot: v.slot } : {}) } as HotplugIntentInput;
        },
      };
    }
    if (!v.path) throw new UsageError(`${name}: missing --path P (a file or block device on the node)`, HOTPLUG_USAGE);
    const bus = v.bus ?? "pci";
    if (bus !== "pci" && bus !== "scsi") throw new UsageError(`--bus ${bus}: expected pci or scsi`, HOTPLUG_USAGE);
    const scsiId = int(v["scsi-id"], "scsi-id");
    const sizeMiB = int(v["size-mib"], "size-mib");
    const path = v.path;
    return {
      kind: "change",
      name,
      instance,
      intent: () =>
        ({ action: "add-disk", uuid, path, bus, ...(v.slot !== undefined ? { slot: v.slot } : {}), ...(scsiId !== undefined ? { scsiId } : {}), ...(sizeMiB !== undefined ? { sizeMiB } : {}) }) as HotplugIntentInput,
    };
  }
  if (!ref) throw new UsageError(`${name}: missing ID|UUID of the ${area}`, HOTPLUG_USAGE);
  if (verb === "remove") return { kind: "change", name, instance, intent: () => ({ action: "remove", kind: area, ref }) };
  return {
    kind: "change",
    name,
    instance,
    intent: () => ({ action: "modify-nic", ref, ...(v.mac !== undefined ? { mac: v.mac } : {}), ...(v.link !== undefined ? { link: v.link } : {}) }) as HotplugIntentInput,
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
    const { target, root, nodeId } = nodeTarget(v);
    const readers = readersOf(v);
    const unplugTimeout = int(v["unplug-timeout"], "unplug-timeout");
    session = await NodeSession.open(target);

    if (cmd.kind === "migrate-check") {
      const r = await checkInstanceMigration(session, cmd.instance, { root });
      print({ command: "migrate-check", node: nodeId, status: r.ok ? "consistent" : "inconsistent", ...r });
      return r.ok ? 0 : 1;
    }

    // A change reads the instance under its lock (the plan is made from what the lock saw); a dry run only reads.
    const gathered: GatheredState & Partial<Pick<LockedState, "lock" | "qmp">> = v["dry-run"]
      ? await gatherInstanceState(session, cmd.instance, { root, ...(readers ? { readers } : {}) })
      : await gatherInstanceStateLocked(session, cmd.instance, { root, nodeId, ...(readers ? { readers } : {}) });
    let handedOver = false;
    try {
    const intent = cmd.intent(gathered.state.runtime.runtime.nics[0]?.nicparams?.link);
    const plan = planHotplug(gathered.state, intent);
    const base = {
      command: cmd.name,
      node: nodeId,
      instance: cmd.instance,
      intent,
      ...(gathered.readersAssumed ? { readersAssumed: gathered.readersAssumed } : {}),
      ...(gathered.liveProblem ? { liveProblem: gathered.liveProblem } : {}),
    };
    if (!plan.ok) {
      print({ ...base, status: "refused", refusals: plan.refusals });
      return 1;
    }
    const planOut = {
      steps: plan.steps.map((s, i) => ({ index: i, kind: s.kind, describe: s.describe })),
      slot: plan.slot,
      writeGeneration: plan.writeGeneration,
      fileDiff: plan.fileDiff,
      warnings: plan.warnings,
    };
    if (v["dry-run"]) {
      print({ ...base, status: "dry-run", plan: { ...planOut, fileTextAfter: plan.fileTextAfter } });
      return 0;
    }
    const progress: StepProgress[] = [];
    handedOver = true;
    const result = await executePlan({
      session,
      root,
      nodeId,
      instance: cmd.instance,
      plan,
      expectedRuntime: gathered.expectedRuntime,
      ...(gathered.lock ? { lock: gathered.lock } : {}),
      ...(gathered.qmp ? { openQmp: gathered.qmp } : {}),
      journal: new Journal(v.journal ?? defaultJournalDir()),
      ...(unplugTimeout !== undefined ? { deviceDeletedTimeoutMs: unplugTimeout } : {}),
      onProgress: (e) => {
        progress.push(e);
        // Progress on stderr, so stdout stays one JSON document for scripts.
        if (e.state !== "running") io.err(`[${e.index + 1}/${e.total}] ${e.state}: ${e.describe}${e.detail ? ` (${e.detail})` : ""}\n`);
      },
    });
    print({ ...base, status: result.ok ? "done" : "failed", plan: planOut, result });
    return result.ok ? 0 : 1;
    } finally {
      // Refused or dry run: nothing ran, let the instance go.
      if (!handedOver) {
        gathered.qmp?.close();
        await gathered.lock?.release();
      }
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
