// What keeps reading a large cluster cheap, against the lab's real sshd and
// its SFTP server: a whole file is read in reads sized to it, with the read
// that finds its end sent beside them, and gets every byte whatever size it
// was said to have; a node's Ganeti files are read again only when their
// sizes or mtimes change (or changed too recently to tell), config.data is
// parsed once for every node that holds the same file, and the cluster
// model is built once per unchanged read.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { appendFile, cp, mkdir, mkdtemp, readdir, readFile, rm, symlink, utimes, writeFile } from "node:fs/promises";
import { randomBytes } from "node:crypto";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startSshd, sessionTarget, type RunningSshd } from "../../electron/lab/sshd.js";
import { NodeSession } from "../../electron/ssh/session.js";
import { NodeSftp } from "../../electron/on-node/sftp.js";
import { readGanetiNodeFiles, type GanetiNodeFiles } from "../../electron/cluster/ganeti-files.js";
import { clusterOf } from "../../electron/cluster/cluster-of.js";

const FIXTURE = join(import.meta.dirname, "../fixtures/ganeti/lab-3.0.2/var-lib-ganeti");

let dir: string;
let sshd: RunningSshd;
let session: NodeSession;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "hd-cluster-reads-"));
  sshd = await startSshd(join(dir, "ssh"));
  session = await NodeSession.open(sessionTarget(sshd));
});

afterAll(async () => {
  session?.close();
  await sshd?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe("NodeSftp.readToEnd", () => {
  /** Opens `path`; counts the read requests `readToEnd` sends, and how many were out at once. */
  async function readCounting(path: string, hint: number, max = 16 << 20): Promise<{ bytes: Buffer; reads: number; atOnce: number }> {
    const sftp = await NodeSftp.for(session);
    const handle = await sftp.open(path, "r");
    const raw = sftp.raw;
    const original = raw.read.bind(raw);
    let reads = 0;
    let out = 0;
    let atOnce = 0;
    raw.read = ((h: Buffer, buf: Buffer, off: number, len: number, pos: number, cb: (err: Error | undefined, n: number) => void) => {
      reads++;
      atOnce = Math.max(atOnce, ++out);
      return original(h, buf, off, len, pos, (err, n) => {
        out--;
        cb(err, n);
      });
    }) as typeof raw.read;
    try {
      const bytes = await sftp.readToEnd(handle, path, hint, max, () => new Error(`${path} is over ${max}`));
      return { bytes, reads, atOnce };
    } finally {
      raw.read = original;
      await sftp.close(handle, path);
    }
  }

  it("reads files of every size whole; one of the size it was said to have in one round trip: its data and the read that finds the end, sent together", async () => {
    for (const size of [0, 1, 4096, 5000, 600 * 1024]) {
      const path = join(dir, `file-${size}`);
      const data = randomBytes(size);
      await writeFile(path, data);
      const { bytes, reads, atOnce } = await readCounting(path, size);
      expect(bytes.equals(data), `file of ${size} bytes`).toBe(true);
      if (size > 0 && size <= 5000) expect([reads, atOnce], `file of ${size} bytes`).toEqual([2, 2]);
    }
  });

  it("reads every byte when the file is larger or smaller than it was said to be (it changed after fstat)", async () => {
    const path = join(dir, "changed");
    const data = randomBytes(300 * 1024);
    await writeFile(path, data);
    for (const hint of [0, 100, 5000, 299 * 1024, 301 * 1024, 2 << 20]) expect((await readCounting(path, hint)).bytes.equals(data), `said ${hint}`).toBe(true);
  });

  it("refuses a file past the bound, also one said to be within it", async () => {
    const path = join(dir, "big");
    await writeFile(path, randomBytes(5000));
    await expect(readCounting(path, 5000, 4000)).rejects.toThrow(/big is over 4000/);
    await expect(readCounting(path, 3000, 4000)).rejects.toThrow(/big is over 4000/);
    expect((await readCounting(path, 3000, 5000)).bytes.length).toBe(5000);
  });
});

describe("a node's Ganeti files, read again only when they change", () => {
  let root: string;
  const lib = () => join(root, "var/lib/ganeti");
  const anHourAgo = () => new Date(Date.now() - 3_600_000);
  const constants = () => join(root, "usr/share/ganeti/3.0/ganeti/_constants.py");
  const read = async (s = session): Promise<Extract<GanetiNodeFiles, { standalone: false }>> => {
    const f = await readGanetiNodeFiles(s, root);
    if (f.standalone) throw new Error(f.why);
    return f;
  };
  /** Ganeti wrote them a while ago: their mtimes are settled. */
  async function settle(...files: string[]): Promise<void> {
    for (const f of files) await utimes(f, anHourAgo(), anHourAgo());
  }

  beforeAll(async () => {
    root = join(dir, "node");
    await cp(FIXTURE, lib(), { recursive: true });
    await mkdir(join(root, "etc/ganeti"), { recursive: true });
    await mkdir(join(root, "usr/share/ganeti/3.0/ganeti"), { recursive: true });
    await writeFile(constants(), 'RELEASE_VERSION = "3.0.2"\n');
    await symlink("/usr/share/ganeti/3.0", join(root, "etc/ganeti/share"));
    await settle(constants(), ...(await readdir(lib())).map((f) => join(lib(), f)));
  });

  it("gives the same ssconf, config.data and version objects while nothing changed", async () => {
    const a = await read();
    const b = await read();
    expect(b.ssconf).toBe(a.ssconf);
    expect(b.config).toBe(a.config);
    expect(b.config?.clusterName).toBe("cluster.ganeti.example");
    expect(b.installed).toEqual(a.installed);
    expect(b.installed?.version).toBe("3.0.2");
  });

  it("reads ssconf again when one of its files changed, and sees the change", async () => {
    const before = await read();
    await appendFile(join(lib(), "ssconf_instance_list"), "charlie\n");
    await settle(join(lib(), "ssconf_instance_list"));
    const after = await read();
    expect(after.ssconf).not.toBe(before.ssconf);
    expect(after.ssconf.instanceList).toEqual(["alpha", "bravo", "charlie"]);
  });

  it("reads again every time while a file's mtime is too recent to tell a second write in the same second", async () => {
    const path = join(lib(), "ssconf_instance_list");
    await writeFile(path, "alpha\nbravo\ndelta\n");
    const a = await read();
    const b = await read();
    expect(b.ssconf).not.toBe(a.ssconf);
    expect(b.ssconf.instanceList).toEqual(["alpha", "bravo", "delta"]);
    await settle(path);
  });

  it("reads the installed version again when _constants.py changed, also at the same size", async () => {
    expect((await read()).installed?.version).toBe("3.0.2");
    await writeFile(constants(), 'RELEASE_VERSION = "3.0.3"\n');
    await utimes(constants(), new Date(Date.now() - 7_200_000), new Date(Date.now() - 7_200_000));
    expect((await read()).installed?.version).toBe("3.0.3");
  });

  it("parses config.data once for every node holding the same file, and again for a different one", async () => {
    const other = await NodeSession.open(sessionTarget(sshd));
    try {
      const mine = await read();
      const theirs = await read(other);
      expect(theirs.config).toBe(mine.config);
      const text = JSON.parse(await readFile(join(lib(), "config.data"), "utf8")) as { serial_no: number };
      await writeFile(join(lib(), "config.data"), JSON.stringify({ ...text, serial_no: text.serial_no + 1 }));
      await settle(join(lib(), "config.data"));
      const changed = await read(other);
      expect(changed.config).not.toBe(mine.config);
      expect(changed.config?.serialNo).toBe(text.serial_no + 1);
    } finally {
      other.close();
    }
  });

  it("builds the cluster model once per unchanged read, and anew for another node or another config.data", async () => {
    const files = await read();
    const first = clusterOf(files, "198.51.100.12");
    expect(clusterOf({ ...files }, "198.51.100.12")).toBe(first);
    expect(first.self?.name).toBe("node2.ganeti.example");
    const elsewhere = clusterOf(files, "198.51.100.11");
    expect(elsewhere).not.toBe(first);
    expect(elsewhere.self?.name).toBe("node1.ganeti.example");
    const withoutConfig = clusterOf({ ...files, config: null, configProblem: "not a master candidate" }, "198.51.100.12");
    expect(withoutConfig.model.instances).toBeNull();
    expect(clusterOf({ ...files, config: null, configProblem: "not a master candidate" }, "198.51.100.12", { config: files.config!, from: "node1" }).model.instances?.map((i) => i.name)).toEqual(["alpha", "bravo"]);
  });
});
