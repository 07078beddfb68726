// Fault injection (issue 13, item 6): a relay in front of the lab's real
// sshd cuts the SSH connection at random byte offsets, in either direction,
// during every CLI command and UI operation kind: NIC add, remove, modify
// and move, disk add and remove, a dry run, the inventory, migrate-check,
// and the UI's review and apply (HotplugChanges). At least 200 cuts per run
// (fixed seed; the offsets tried are printed). After each trial:
// - the runtime file loads in Ganeti 3.0.2's own loader (all distinct
//   files, in one python3 at the end) with the devices we read;
// - it records nothing that is not live, unless the outcome said the guest
//   may release it (a device_del that went out before the cut);
// - a reported success is real: the live bus shows it, and the guest does;
// - a reported failure left nothing half done that it did not name (each
//   live device that differs is named among what was not undone), or, for
//   an unknown write, what it said is on the node is what is there;
// - the next command is not stuck: the instance's lock is free (or frees
//   within its heartbeat timeout), and no command hangs.
// Between trials the test puts back what a failure reported left behind,
// as an admin would, so each trial starts from a consistent instance.
import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { connect } from "node:net";
import { createHash } from "node:crypto";
import { readFile, readdir, rm, truncate, writeFile, mkdtemp } from "node:fs/promises";
import { execFileSync } from "node:child_process";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { LabNode } from "../../electron/lab/node.js";
import { startLabInstance, type StartedLabInstance } from "../../electron/lab/instances.js";
import { NodeSession, type NodeTarget } from "../../electron/ssh/session.js";
import { sessionTarget } from "../../electron/lab/sshd.js";
import { runHotplugCommand } from "../../electron/cli/hotplug-commands.js";
import { inventoryCommand } from "../../electron/cli/inventory-command.js";
import { HotplugChanges, newDeviceUuid, newMac } from "../../electron/hotplug/index.js";
import { Journal } from "../../electron/hotplug/journal.js";
import { InstanceLocks } from "../../electron/on-node/instance-lock.js";
import { livePci, openQmp } from "../../electron/hotplug/qmp-session.js";
import { RuntimeStore } from "../../electron/on-node/runtime-store.js";
import { deviceIdV2, readRuntime, writeRuntime } from "../../shared/runtime/index.js";
import type { ChangeOutcome, ChangeRequestInput } from "../../shared/hotplug/index.js";
import { GuestConsole } from "../lab/guest-console.js";
import { GANETI_30, ganeti, requirePeer } from "../conformance/ganeti-peers.js";
import { startArmedRelay, type ArmedRelay, type Direction } from "./cutting-relay.js";

const SEED = Number(process.env.CUT_SEED ?? 20130006);
const MIN_CUTS = Number(process.env.CUT_MIN ?? 200);
/** A trial still running after this long is a hang. */
const TRIAL_LIMIT_MS = 20_000;
/** Cuts in the first bytes (key exchange, authentication) are cheap; half the trials cut there. */
const EARLY_BYTES = 6_000;
const NAME = "romeo.lab";
const KINDS = ["nic-add", "nic-remove", "nic-modify", "nic-move", "disk-add", "disk-remove", "dry-run", "inventory", "migrate-check", "ui-apply"] as const;
type Kind = (typeof KINDS)[number];

/** A small fixed-seed generator (mulberry32): the same offsets on every run. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface LiveDev {
  id: string;
  slot: number;
}
interface FileDev {
  kind: "nic" | "disk";
  uuid: string;
  id: string;
  slot: number;
  mac?: string;
}
interface NodeState {
  bytes: Buffer;
  file: FileDev[];
  live: LiveDev[];
}

/** What one trial asked for and what the command said. */
interface TrialResult {
  kind: Kind;
  direction: Direction;
  offset: number | null;
  cut: boolean;
  status: string;
  /** The change's outcome, for changes that ran. */
  outcome?: ChangeOutcome;
  /** Words the command gave for a status without an outcome. */
  said?: string;
  /** The CLI's exit status. */
  exit?: number;
  ms: number;
  /** What the trial expected on success. */
  expect?: { add?: FileDev; remove?: FileDev; mac?: string };
}

let node: LabNode;
let inst: StartedLabInstance;
let good: NodeSession;
let goodTarget: NodeTarget;
let relay: ArmedRelay;
let relayKnownHosts: string;
let journalDir: string;
let guest: GuestConsole;
let originalNic: string;

const sha = (b: Buffer | string) => createHash("sha256").update(b).digest("hex");

async function readState(): Promise<NodeState> {
  const bytes = await readFile(inst.paths.runtime);
  const rt = readRuntime(bytes.toString("utf8")).runtime;
  const file: FileDev[] = [];
  for (const n of rt.nics) {
    const h = n.hvinfo;
    if (h && typeof h.id === "string" && typeof h.addr === "string") file.push({ kind: "nic", uuid: n.uuid ?? "", id: h.id, slot: parseInt(h.addr, 16), ...(n.mac ? { mac: n.mac } : {}) });
  }
  for (const d of rt.disks) {
    const h = d.disk.hvinfo;
    if (h && typeof h.id === "string" && typeof h.addr === "string") file.push({ kind: "disk", uuid: d.disk.uuid ?? "", id: h.id, slot: parseInt(h.addr, 16) });
  }
  const q = await openQmp(good, inst.paths.qmp);
  try {
    const live = (await livePci(q)).filter((d) => d.qdevId !== "" && d.function === 0).map((d) => ({ id: d.qdevId, slot: d.slot }));
    return { bytes, file, live };
  } finally {
    q.close();
  }
}

const liveKey = (d: LiveDev) => `${d.id}@${d.slot}`;

function freeSlot(s: NodeState, rnd: () => number, not?: number): number {
  const taken = new Set([...s.file.map((d) => d.slot), ...s.live.map((d) => d.slot)]);
  const free: number[] = [];
  for (let slot = 0x0e; slot <= 0x1f; slot++) if (!taken.has(slot) && slot !== not) free.push(slot);
  return free[Math.floor(rnd() * free.length)]!;
}
const hex = (n: number) => `0x${n.toString(16).padStart(2, "0")}`;

/** A change made on the good connection (no relay): preparing a trial, or putting back what one left. */
async function changeNow(asked: ChangeRequestInput): Promise<void> {
  const changes = new HotplugChanges({ journal: new Journal(journalDir) });
  const r = await changes.now({ session: good, nodeId: "lab", root: node.root, readers: { ganetiVersions: ["3.0.2"] } }, NAME, asked, { deviceDeletedTimeoutMs: 15_000 });
  if (r.status !== "done") throw new Error(`preparing a trial: ${JSON.stringify(r.status === "refused" ? r.refusals : r.status === "dry-run" ? "dry-run" : r.outcome)}`);
}

async function newImage(): Promise<string> {
  const p = join(node.storageDir, `cut-${newDeviceUuid().slice(0, 8)}.img`);
  await writeFile(p, "");
  await truncate(p, 8 * 1024 * 1024);
  return p;
}

const ours = (s: NodeState, kind: "nic" | "disk") => s.file.filter((d) => d.kind === kind && d.uuid !== originalNic);

function cliNodeArgs(): string[] {
  return ["--node", `${node.info.user}@127.0.0.1:${relay.port}`, "-i", node.info.privateKeyPath, "--known-hosts", relayKnownHosts, "--root", node.root];
}

async function cli(args: string[]): Promise<Said> {
  const out: string[] = [];
  const err: string[] = [];
  const exit = await runHotplugCommand([...args, ...cliNodeArgs(), "--journal", journalDir, "--ganeti-version", "3.0.2", "--unplug-timeout", "15000"], { out: (t) => void out.push(t), err: (t) => void err.push(t) });
  // Every command ends with one JSON object (JSON.parse throws, failing the run, if not).
  const j = JSON.parse(out.join("")) as { status: string; result?: ChangeOutcome; error?: { message: string }; refusals?: { message: string }[] };
  return { status: j.status, exit, ...(j.result ? { outcome: j.result } : {}), said: j.error?.message ?? j.refusals?.map((r) => r.message).join("; ") ?? "" };
}

/** Prepares the instance for `kind` on the good connection, then runs it through the relay. */
/** What a command said: its status, and its outcome or words. */
type Said = { status: string; outcome?: ChangeOutcome; said?: string; exit?: number };
/** A trial ready to run: what success must show, and the command. */
interface Prepared {
  kind: Kind;
  expect?: TrialResult["expect"];
  run: () => Promise<Said>;
}

async function trial(kind: Kind, rnd: () => number): Promise<Prepared> {
  let s = await readState();
  const needNic = kind === "nic-remove" || kind === "nic-modify" || kind === "nic-move";
  if (needNic && ours(s, "nic").length === 0) {
    await changeNow({ action: "add-nic", slot: hex(freeSlot(s, rnd)) });
    s = await readState();
  }
  if ((kind === "nic-add" || kind === "ui-apply") && ours(s, "nic").length >= 2) {
    await changeNow({ action: "remove", kind: "nic", ref: ours(s, "nic")[0]!.uuid });
    s = await readState();
  }
  if (kind === "disk-remove" && ours(s, "disk").length === 0) {
    await changeNow({ action: "add-disk", path: await newImage(), bus: "pci", slot: hex(freeSlot(s, rnd)), sizeMiB: 8 });
    s = await readState();
  }
  if (kind === "disk-add" && ours(s, "disk").length >= 2) {
    await changeNow({ action: "remove", kind: "disk", ref: ours(s, "disk")[0]!.uuid });
    s = await readState();
  }
  const nic = ours(s, "nic")[0];
  const disk = ours(s, "disk")[0];
  switch (kind) {
    case "nic-add": {
      const uuid = newDeviceUuid();
      const slot = freeSlot(s, rnd);
      return { kind, expect: { add: { kind: "nic", uuid, id: deviceIdV2("nic", uuid), slot } }, run: () => cli(["nic", "add", NAME, "--slot", hex(slot), "--link", node.network.bridge!, "--uuid", uuid]) };
    }
    case "nic-remove":
      return { kind, expect: { remove: nic! }, run: () => cli(["nic", "remove", NAME, nic!.uuid]) };
    case "nic-modify": {
      const mac = newMac();
      return { kind, expect: { mac, add: { ...nic!, mac } }, run: () => cli(["nic", "modify", NAME, nic!.uuid, "--mac", mac]) };
    }
    case "nic-move": {
      const slot = freeSlot(s, rnd, nic!.slot);
      return { kind, expect: { add: { ...nic!, slot } }, run: () => cli(["nic", "move", NAME, nic!.uuid, "--slot", hex(slot)]) };
    }
    case "disk-add": {
      const uuid = newDeviceUuid();
      const slot = freeSlot(s, rnd);
      const path = await newImage();
      return { kind, expect: { add: { kind: "disk", uuid, id: deviceIdV2("disk", uuid), slot } }, run: () => cli(["disk", "add", NAME, "--path", path, "--slot", hex(slot), "--size-mib", "8", "--uuid", uuid]) };
    }
    case "disk-remove":
      return { kind, expect: { remove: disk! }, run: () => cli(["disk", "remove", NAME, disk!.uuid]) };
    case "dry-run":
      return { kind, run: () => cli(["nic", "add", NAME, "--link", node.network.bridge!, "--dry-run"]) };
    case "migrate-check":
      return { kind, run: () => cli(["migrate-check", NAME]) };
    case "inventory":
      return {
        kind,
        run: async () => {
          const out: string[] = [];
          const err: string[] = [];
          const code = await inventoryCommand([...cliNodeArgs(), "--json"], { out: (t) => void out.push(t), err: (t) => void err.push(t) });
          if (code !== 0) return { status: "error", exit: code, said: err.join("") };
          // A listing is real only if it shows the instance as it is: running, file and bus in step.
          const listed = (JSON.parse(out.join("")) as { instances: { name: string; state: string; drift: unknown[] }[] }).instances.find((x) => x.name === NAME);
          return listed?.state === "running" && listed.drift.length === 0 ? { status: "listed", exit: code } : { status: "listed-wrong", exit: code, said: JSON.stringify(listed ?? "romeo.lab missing").slice(0, 500) };
        },
      };
    case "ui-apply": {
      // The UI's path: review (read and plan), then apply, on one session through the relay.
      const uuid = newDeviceUuid();
      const slot = freeSlot(s, rnd);
      return {
        kind,
        expect: { add: { kind: "nic", uuid, id: deviceIdV2("nic", uuid), slot } },
        run: async () => {
          let session: NodeSession;
          try {
            session = await NodeSession.open({ ...goodTarget, port: relay.port, knownHostsPath: relayKnownHosts });
          } catch (e) {
            return { status: "error", said: (e as Error).message };
          }
          try {
            const changes = new HotplugChanges({ journal: new Journal(journalDir) });
            const target = { session, nodeId: "lab", root: node.root, readers: { ganetiVersions: ["3.0.2"] } };
            let reviewed;
            try {
              reviewed = await changes.review(target, NAME, { action: "add-nic", uuid, slot: hex(slot), link: node.network.bridge! });
            } catch (e) {
              return { status: "error", said: (e as Error).message };
            }
            if (!reviewed.ok) return { status: "refused", said: reviewed.refusals.map((r) => r.message).join("; ") };
            const kept = changes.kept.take(reviewed.kept.planId)!;
            const outcome = await changes.apply(kept, async () => {
              if (session.closed) throw new Error("node lab is not connected (its connection was cut)");
              return target;
            });
            return { status: outcome.ok ? "done" : outcome.write.state === "unknown" ? "unknown" : "failed", outcome };
          } finally {
            session.close();
          }
        },
      };
    }
  }
}

/** What the outcome says may be left, in one text: what was not undone, and the unknown write. */
function namedAsLeft(o: ChangeOutcome | undefined): string {
  if (!o || o.ok) return "";
  return [...o.notUndone, o.write.state === "unknown" ? o.error.message : ""].join("\n");
}

describe("fault injection: SSH connections cut at random offsets during every command", () => {
  const results: TrialResult[] = [];
  const violations: string[] = [];
  const files = new Map<string, Buffer>();
  const lockWaits: number[] = [];
  let repairs = 0;
  let guestChecks = 0;

  beforeAll(async () => {
    requirePeer(GANETI_30);
    node = await LabNode.start();
    inst = await startLabInstance(node, { name: NAME, generation: "C", nics: 1, disks: [] });
    originalNic = inst.runtime.nics[0]!.uuid!;
    goodTarget = sessionTarget(node.info);
    good = await NodeSession.open(goodTarget);
    relay = await startArmedRelay(node.info.port);
    const dir = await mkdtemp(join(tmpdir(), "hd-cutfuzz-"));
    journalDir = join(dir, "journal");
    relayKnownHosts = join(dir, "known_hosts");
    await writeFile(relayKnownHosts, `[127.0.0.1]:${relay.port} ${node.info.hostPublicKey}\n`);
    guest = new GuestConsole(connect(inst.paths.serial));
    await guest.waitReady(60_000);
  }, 180_000);

  afterAll(async () => {
    guest?.close();
    good?.close();
    await relay?.close();
    await node?.stop();
    if (journalDir) await rm(join(journalDir, ".."), { recursive: true, force: true });
  });

  /** Checks the node after a trial and puts back what a failure reported it left. */
  async function check(t: TrialResult, before: NodeState, tapsBefore: Set<string>): Promise<void> {
    const said = t.outcome && !t.outcome.ok ? ` [it said: ${t.outcome.error.message} | not undone: ${t.outcome.notUndone.join("; ")}]` : t.said ? ` [it said: ${t.said}]` : "";
    const v = (what: string) => violations.push(`${t.kind} ${t.direction}@${t.offset ?? "-"} (${t.status}): ${what}${said}`);
    let after = await readState();
    files.set(sha(after.bytes), after.bytes);
    const o = t.outcome;
    const left = namedAsLeft(o);
    const liveIds = new Set(after.live.map((d) => d.id));
    const fileChanged = !after.bytes.equals(before.bytes);

    // Success is real: the bus and the file show it, and so does the guest.
    if (t.status === "done" && t.expect) {
      const { add, remove } = t.expect;
      if (add) {
        const f = after.file.find((d) => d.uuid === add.uuid && d.slot === add.slot && (!add.mac || d.mac === add.mac));
        const l = after.live.find((d) => d.slot === add.slot && (d.id === add.id || d.id === f?.id));
        if (!f) v(`done, but the runtime file has no ${add.kind} ${add.uuid} at ${hex(add.slot)}${add.mac ? ` with MAC ${add.mac}` : ""}`);
        if (!l) v(`done, but the live bus has nothing of ours at ${hex(add.slot)}`);
        guestChecks++;
        await guest.waitForPci((list) => list.some((x) => x.address === `0000:00:${add.slot.toString(16).padStart(2, "0")}.0`), 15_000).catch(() => v(`done, but the guest does not see ${hex(add.slot)}`));
      }
      if (remove) {
        if (after.file.some((d) => d.uuid === remove.uuid)) v(`done, but the runtime file still lists ${remove.id}`);
        if (liveIds.has(remove.id)) v(`done, but ${remove.id} is still live`);
        guestChecks++;
        await guest.waitForPci((list) => !list.some((x) => x.address === `0000:00:${remove.slot.toString(16).padStart(2, "0")}.0`), 15_000).catch(() => v(`done, but the guest still sees ${hex(remove.slot)}`));
      }
    }
    // A command that failed because its connection was cut says so, naming the node (not "write EPIPE").
    if (t.cut && t.status === "error" && !(/connection|SSH/.test(t.said ?? "") && /127\.0\.0\.1:\d+/.test(t.said ?? ""))) v("the error does not say that the connection to the node was lost");
    // Exit 0 only for what worked; any failure is non-zero.
    if (t.exit !== undefined && (t.exit === 0) !== ["done", "dry-run", "consistent", "listed", "listed-wrong"].includes(t.status)) v(`exit status ${t.exit}`);
    if (t.status === "listed-wrong") v("the inventory exited 0 with a listing that is not what is on the node");
    if (t.status === "inconsistent") v("migrate-check said inconsistent, but the instance was consistent before the trial");
    // Read-only commands change nothing, whatever happened to them.
    if (["dry-run", "inventory", "migrate-check"].includes(t.kind) || ["refused", "error", "dry-run"].includes(t.status)) {
      if (fileChanged) v("the runtime file changed");
    }
    if (t.status === "failed" && fileChanged) v("failed (not written), but the runtime file changed");
    if (t.status === "unknown" && o && !o.ok && o.write.state === "unknown") {
      const on = o.write.onNode;
      if (on === "previous" && fileChanged) v("unknown: said the file held the previous bytes, but it changed");
      if (on === "planned" && !fileChanged) v("unknown: said the file held the planned bytes, but it holds the previous ones");
      if (on === "other" || on === "missing") v(`unknown: said the file was ${on}`);
    }
    // Nothing half done that the outcome did not name.
    if (t.status !== "done" && !(t.status === "unknown" && o && !o.ok && o.write.state === "unknown" && o.write.onNode === "planned")) {
      const beforeLive = new Set(before.live.map(liveKey));
      const afterLive = new Set(after.live.map(liveKey));
      for (const d of after.live) if (!beforeLive.has(liveKey(d)) && !left.includes(d.id)) v(`${d.id} is live at ${hex(d.slot)} now, and the outcome did not say it was left`);
      for (const d of before.live) if (!afterLive.has(liveKey(d)) && !left.includes(d.id) && !(t.kind === "nic-move" && left.includes("move"))) v(`${d.id} left ${hex(d.slot)}, and the outcome did not say so`);
    }
    // The file records nothing that is not live (unless the outcome said the guest may still let go of it).
    for (const d of after.file) {
      if (after.live.some((l) => l.id === d.id && l.slot === d.slot)) continue;
      if (left.includes(d.id)) continue;
      v(`the runtime file records ${d.id} at ${hex(d.slot)}, which is not live`);
    }
    // The next command is not stuck: the lock is free, or frees within its heartbeat timeout.
    const t0 = performance.now();
    try {
      await (await new InstanceLocks(good, node.root).acquire(NAME, { timeoutMs: 35_000 })).release();
    } catch (e) {
      v(`the instance's lock is stuck: ${(e as Error).message}`);
    }
    lockWaits.push(performance.now() - t0);

    // Put back what the failure left, as an admin would: devices live where the file does not
    // say (or not at all in it) unplugged, devices the file lists but the bus lacks dropped from it.
    after = await readState();
    const misplaced = after.live.filter((d) => /^(nic|disk)-/.test(d.id) && !after.file.some((f) => f.id === d.id && f.slot === d.slot));
    const q = await openQmp(good, inst.paths.qmp);
    try {
      for (const d of misplaced) {
        repairs++;
        await q.execute("device_del", { id: d.id }).catch(() => undefined);
        const deadline = Date.now() + 15_000;
        while (Date.now() < deadline && (await livePci(q)).some((x) => x.qdevId === d.id)) await new Promise((r) => setTimeout(r, 100));
        await q.execute(d.id.startsWith("nic-") ? "netdev_del" : "blockdev-del", d.id.startsWith("nic-") ? { id: d.id } : { "node-name": d.id }).catch(() => undefined);
      }
    } finally {
      q.close();
    }
    after = await readState();
    const gone = after.file.filter((d) => !after.live.some((l) => l.id === d.id && l.slot === d.slot));
    if (gone.length > 0) {
      repairs++;
      const rt = readRuntime(after.bytes.toString("utf8")).runtime;
      rt.nics = rt.nics.filter((n) => !gone.some((g) => g.uuid === n.uuid));
      rt.disks = rt.disks.filter((e) => !gone.some((g) => g.uuid === e.disk.uuid));
      await new RuntimeStore(good, "lab").writeRuntimeFile(node.root, NAME, writeRuntime(rt, "C"), { expected: after.bytes });
    }
    // Taps this trial left behind (a tap made before a cut, its fd never passed): named in the outcome, then gone.
    const used = await tapsInUse();
    for (const tap of await ourTaps()) {
      if (used.has(tap) || tapsBefore.has(tap)) continue;
      if (!left.includes(tap) && t.status !== "unknown") v(`tap ${tap} was left on the node, and the outcome did not say so`);
      repairs++;
      execFileSync("ip", ["link", "del", "dev", tap]);
    }
  }

  /** Taps made for the instance (our label on them). */
  async function ourTaps(): Promise<string[]> {
    const out: string[] = [];
    for (const tap of await readdir("/sys/class/net")) {
      const alias = await readFile(`/sys/class/net/${tap}/ifalias`, "utf8").catch(() => "");
      if (alias.trim() === `hotplug-desk:${NAME}`) out.push(tap);
    }
    return out;
  }

  /** The taps of the NICs the runtime file lists (nic/<instance>/<seq>), which QEMU holds. */
  async function tapsInUse(): Promise<Set<string>> {
    const s = await readState();
    const nics = s.file.filter((d) => d.kind === "nic").length;
    const used = new Set<string>();
    for (let seq = 0; seq < nics; seq++) {
      const tap = await readFile(join(inst.paths.nicDir, String(seq)), "utf8").catch(() => "");
      if (tap.trim()) used.add(tap.trim());
    }
    return used;
  }

  it(
    `cuts at least ${MIN_CUTS} connections (seed ${SEED}); after each the node is consistent, successes are real, failures say what they left, nothing is stuck`,
    async () => {
      const rnd = prng(SEED);
      const size = new Map<Kind, { up: number; down: number }>();
      const started = performance.now();
      let round = 0;
      let seen = 0;
      for (;;) {
        const cuts = results.filter((r) => r.cut).length;
        if (cuts >= MIN_CUTS && round > 0 && results.length % KINDS.length === 0) break;
        const kind = KINDS[results.length % KINDS.length]!;
        round = Math.floor(results.length / KINDS.length);
        const direction: Direction = rnd() < 0.5 ? "up" : "down";
        const known = size.get(kind);
        // The first round of each kind runs uncut: it measures the traffic, and its success must be real.
        const offset = !known ? null : rnd() < 0.5 ? Math.floor(rnd() * EARLY_BYTES) : Math.floor(rnd() * known[direction] * 1.05);
        const prepared = await trial(kind, rnd);
        const before = await readState();
        const tapsBefore = new Set(await ourTaps());
        relay.arm(offset === null ? null : { at: offset, direction });
        const t0 = performance.now();
        let timer: NodeJS.Timeout | undefined;
        const r = await Promise.race([
          prepared.run(),
          new Promise<"hang">((resolve) => (timer = setTimeout(() => resolve("hang"), TRIAL_LIMIT_MS))),
        ]);
        clearTimeout(timer);
        const traffic = relay.traffic();
        relay.dropAll();
        const result: TrialResult =
          r === "hang"
            ? { kind, direction, offset, cut: traffic.cut !== null, status: "hang", ms: performance.now() - t0 }
            : { ...r, kind, direction, offset, cut: traffic.cut !== null, ms: performance.now() - t0, ...(prepared.expect ? { expect: prepared.expect } : {}) };
        if (r === "hang") violations.push(`${kind} ${direction}@${offset}: the command did not finish within ${TRIAL_LIMIT_MS / 1000} s`);
        if (traffic.cut === null) size.set(kind, { up: Math.max(traffic.up, known?.up ?? 0), down: Math.max(traffic.down, known?.down ?? 0) });
        results.push(result);
        if (offset === null && result.status !== "done" && result.status !== "listed" && result.status !== "dry-run" && result.status !== "consistent") {
          violations.push(`${kind} without a cut ended ${result.status}: ${result.said ?? (result.outcome && !result.outcome.ok ? result.outcome.error.message : "")}`);
        }
        if (process.env.CUT_VERBOSE && result.ms > 3000) console.log(JSON.stringify({ slow: results.length, kind, at: offset, direction, status: result.status, ms: Math.round(result.ms), said: result.said?.slice(0, 300), traffic }));
        if (process.env.CUT_VERBOSE && result.outcome && !result.outcome.ok) console.log(JSON.stringify({ trial: results.length, kind, at: offset, direction, status: result.status, said: result.outcome.error.message, notUndone: result.outcome.notUndone }));
        await check(result, before, tapsBefore);
        if (violations.length > seen) {
          console.log(JSON.stringify({ trial: results.length, violations: violations.slice(seen) }));
          seen = violations.length;
        }
      }
      const seconds = (performance.now() - started) / 1000;

      // Every distinct runtime file the trials left loads in Ganeti 3.0.2's loader, with the devices we read.
      const loads = ganeti(GANETI_30, [...files.values()].map((b) => ({ op: "load_file" as const, base64: b.toString("base64") })));
      const notLoaded = loads.map((l, i) => ({ l, i })).filter(({ l }) => !l.ok);
      const byStatus: Record<string, number> = {};
      for (const r of results) byStatus[r.status] = (byStatus[r.status] ?? 0) + 1;
      const cutsByKind: Record<string, number> = {};
      for (const r of results) if (r.cut) cutsByKind[r.kind] = (cutsByKind[r.kind] ?? 0) + 1;
      const wrongSuccesses = violations.filter((x) => /: done, but/.test(x)).length;
      console.log(
        JSON.stringify({
          cutFuzz: {
            seed: SEED,
            trials: results.length,
            cuts: results.filter((r) => r.cut).length,
            cutsByKind,
            byStatus,
            hangs: results.filter((r) => r.status === "hang").length,
            wrongSuccesses,
            violations: violations.length,
            stuckLocks: violations.filter((x) => /lock is stuck/.test(x)).length,
            maxLockWaitMs: Math.round(Math.max(...lockWaits)),
            repairs,
            guestChecks,
            filesLoadedByGaneti: loads.length - notLoaded.length,
            filesNotLoaded: notLoaded.length,
            seconds: Math.round(seconds),
          },
        }),
      );
      if (process.env.CUT_VERBOSE) {
        const words = new Map<string, number>();
        for (const r of results) if (r.status === "error" || r.status === "refused") {
          const w = `${r.status}: ${(r.said ?? "").replace(/\d+/g, "N").slice(0, 300)}`;
          words.set(w, (words.get(w) ?? 0) + 1);
        }
        console.log(JSON.stringify({ errorWords: [...words.entries()].sort((a, b) => b[1] - a[1]) }, null, 1));
      }
      console.log(JSON.stringify({ offsetsTried: results.map((r) => `${r.kind}:${r.offset === null ? "uncut" : `${r.direction}@${r.offset}`}${r.cut ? "" : "(no cut)"}=${r.status}`) }));

      expect(violations).toEqual([]);
      expect(notLoaded.map(({ l, i }) => `file ${i}: ${l.error}`)).toEqual([]);
      expect(results.filter((r) => r.cut).length).toBeGreaterThanOrEqual(MIN_CUTS);
      for (const k of KINDS) expect(cutsByKind[k] ?? 0, `cuts during ${k}`).toBeGreaterThan(0);
    },
    900_000,
  );
});
