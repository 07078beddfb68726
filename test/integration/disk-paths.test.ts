// Disk paths judged on the lab node (issue 13, item 4): the node helper
// resolves the path there and reports the node's storage (the lab's file
// storage directory, listed in <root>/etc/ganeti/file-storage-paths; its
// instance-disks links; its volume groups; what is mounted), and the change
// path refuses in the same words whichever way the change came: the CLI
// (run as users run it, with its JSON) and the UI's review. Before this, any
// absolute path was opened read-write as root and handed to the guest.
import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { mkdir, mkdtemp, rm, symlink, writeFile, truncate } from "node:fs/promises";
import { existsSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { LabNode } from "../../electron/lab/node.js";
import { startLabInstance } from "../../electron/lab/instances.js";
import { NodeSession } from "../../electron/ssh/session.js";
import { sessionTarget } from "../../electron/lab/sshd.js";
import { runHotplugCommand } from "../../electron/cli/hotplug-commands.js";
import { HotplugChanges } from "../../electron/hotplug/change.js";
import { readDiskPathFacts } from "../../electron/on-node/disk-path-facts.js";
import { tempJournal } from "./hotplug-fixture.js";
import type { Journal } from "../../electron/hotplug/journal.js";

let node: LabNode;
let journal: Journal;
let journalDir: string;
let removeJournal: (() => Promise<void>) | undefined;
let outside: string; // a directory that is no storage of the node

/** The mounted block device behind "/" on this machine, if "/" is on one (from mountinfo). */
function rootDevice(): string | undefined {
  for (const line of readFileSync("/proc/self/mountinfo", "utf8").split("\n")) {
    const f = line.split(" ");
    if (f[4] !== "/") continue;
    const source = f[f.indexOf("-") + 2];
    if (source?.startsWith("/dev/") && existsSync(source)) return source;
  }
  return undefined;
}
/** A block device nothing uses: a loop device not bound to a file. */
function idleLoop(): string | undefined {
  for (let i = 7; i >= 0; i--) {
    if (existsSync(`/dev/loop${i}`) && !existsSync(`/sys/block/loop${i}/loop/backing_file`)) return `/dev/loop${i}`;
  }
  return undefined;
}

beforeAll(async () => {
  node = await LabNode.start();
  await startLabInstance(node, { name: "oscar.lab", generation: "C", nics: 1, disks: [], memoryMiB: 64, paused: true });
  ({ journal, dir: journalDir, remove: removeJournal } = await tempJournal());
  outside = await mkdtemp(join(tmpdir(), "hd-not-storage-"));
});

afterAll(async () => {
  await node?.stop();
  await removeJournal?.();
  if (outside) await rm(outside, { recursive: true, force: true });
});

async function cli(args: string[]): Promise<{ code: number; out: { status: string; refusals?: { code: string; message: string }[]; plan?: unknown; result?: { ok: boolean } } }> {
  const lines: string[] = [];
  const code = await runHotplugCommand(
    [...args, "--node", `${node.info.user}@127.0.0.1:${node.info.port}`, "-i", node.info.privateKeyPath, "--known-hosts", node.info.knownHostsPath, "--root", node.root, "--journal", journalDir, "--ganeti-version", "3.0.2"],
    { out: (t) => void lines.push(t), err: () => undefined },
  );
  return { code, out: JSON.parse(lines.join("")) };
}

const diskAdd = (path: string, ...more: string[]) => cli(["disk", "add", "oscar.lab", "--path", path, "--size-mib", "8", "--dry-run", ...more]);

async function image(dir: string, name: string): Promise<string> {
  const p = join(dir, name);
  await writeFile(p, "");
  await truncate(p, 8 * 1024 * 1024);
  return p;
}

describe("disk paths on the lab node", () => {
  it("the node reports its storage: the lab's file storage directory from file-storage-paths, instance-disks, no volume groups", async () => {
    const s = await NodeSession.open(sessionTarget(node.info));
    try {
      const f = await readDiskPathFacts(s, node.root, `${node.storageDir}/none.img`, [outside]);
      expect(f.storage.fileStoragePaths).toEqual([{ path: node.storageDir, real: node.storageDir, exists: true }]);
      expect(f.storage.instanceDisks.path).toBe(`${node.root}/var/run/ganeti/instance-disks`);
      expect(f.storage.volumeGroups).toEqual([]);
      expect(f).toMatchObject({ exists: false, allow: [{ path: outside, real: outside, exists: true }] });
    } finally {
      s.close();
    }
  });

  it("accepts an image in the node's file storage and Ganeti's instance-disks link to one, and adds it for real", async () => {
    const inStorage = await image(node.storageDir, "oscar-data.img");
    expect((await diskAdd(inStorage)).out.status).toBe("dry-run");
    const link = await node.createDisk("oscar.lab", 1, 8);
    const r = await cli(["disk", "add", "oscar.lab", "--path", link, "--slot", "0x11", "--size-mib", "8"]);
    expect(r.out.status, JSON.stringify(r.out)).toBe("done");
    expect(r.code).toBe(0);
  });

  it("refuses /etc/shadow, naming the system directory and where disks may live on the node", async () => {
    const r = await diskAdd("/etc/shadow");
    expect(r.code).toBe(1);
    expect(r.out.status).toBe("refused");
    expect(r.out.refusals).toEqual([{ code: "disk-path", message: expect.stringMatching(/^\/etc\/shadow is inside \/etc, one of .*'s own system directories: it is never given to a guest\. On .*, disks may be files in /) }]);
    expect(r.out.refusals![0]!.message).toContain(`files in ${node.storageDir} (Ganeti's file storage)`);
  });

  it("judges a symlink by where it leads on the node: one in file storage that points at /etc/passwd is refused", async () => {
    const link = join(node.storageDir, "sneaky.img");
    await symlink("/etc/passwd", link);
    const r = await diskAdd(link);
    expect(r.out.status).toBe("refused");
    expect(r.out.refusals![0]!.message).toMatch(new RegExp(`^${link.replace(/[.]/g, "\\.")} \\(/etc/passwd on the node\\) is inside /etc`));
  });

  it("refuses a file outside the node's storage, and accepts it once the node's allow-list names its directory", async () => {
    const img = await image(outside, "x.img");
    const r = await diskAdd(img);
    expect(r.out.status).toBe("refused");
    expect(r.out.refusals![0]!.message).toMatch(/is not inside .*'s Ganeti storage\. On .*, disks may be/);
    expect((await diskAdd(img, "--allow-disk-path", outside)).out.status).toBe("dry-run");
  });

  it("never takes the device of a mounted filesystem, not even from the allow-list", async (ctx) => {
    const dev = rootDevice();
    if (!dev) return ctx.skip("/ is not on a block device on this machine (no device to test with)");
    const r = await diskAdd(dev, "--allow-disk-path", dev);
    expect(r.out.status).toBe("refused");
    expect(r.out.refusals![0]!.message).toMatch(new RegExp(`^${dev} is in use on .*: it is mounted at / \\(`));
  });

  it("refuses a block device that is no volume, DRBD or RBD device, unless the allow-list names it", async (ctx) => {
    const loop = idleLoop();
    if (!loop) return ctx.skip("no unbound /dev/loopN on this machine");
    const r = await diskAdd(loop);
    expect(r.out.refusals![0]!.message).toMatch(new RegExp(`^${loop} is a block device that is not a logical volume of .*'s volume groups, not DRBD and not RBD\\.`));
    const allowed = await diskAdd(loop, "--allow-disk-path", loop);
    expect(allowed.out.status).toBe("dry-run");
    // The plan uses it as the block device the node says it is.
    expect(JSON.stringify(allowed.out.plan)).toMatch(/raw over host_device/);
  });

  it("the UI's review refuses the same way, and takes the node's allow-list from its settings", async () => {
    const s = await NodeSession.open(sessionTarget(node.info));
    try {
      const changes = new HotplugChanges({ journal });
      const img = await image(outside, "y.img");
      const target = { session: s, nodeId: "lab", root: node.root, readers: { ganetiVersions: ["3.0.2"] } };
      const asked = { action: "add-disk" as const, path: img, bus: "pci" as const };
      const refused = await changes.review(target, "oscar.lab", asked);
      expect(refused.ok).toBe(false);
      const viaCli = await diskAdd(img);
      expect(!refused.ok && refused.refusals).toEqual(viaCli.out.refusals!.map((r) => ({ ...r, message: r.message.replaceAll(`${node.info.user}@127.0.0.1:${node.info.port}`, "lab") })));
      const accepted = await changes.review({ ...target, diskPathAllow: [outside] }, "oscar.lab", asked);
      expect(accepted.ok).toBe(true);
      if (accepted.ok) changes.kept.take(accepted.kept.planId);
    } finally {
      s.close();
    }
  });

  it("refuses a path that does not exist, a directory, and a system path reached through the lab root", async () => {
    expect((await diskAdd(join(node.storageDir, "missing.img"))).out.refusals![0]!.message).toMatch(/does not exist on /);
    await mkdir(join(node.storageDir, "adir"));
    expect((await diskAdd(join(node.storageDir, "adir"))).out.refusals![0]!.message).toMatch(/is a directory: a disk is a regular file or a block device/);
    expect((await diskAdd("/proc/self/mem")).out.refusals![0]!.message).toMatch(/inside \/proc/);
  });
});
