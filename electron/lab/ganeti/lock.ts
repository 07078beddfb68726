// One Ganeti lab per machine: it owns Ganeti's machine-wide paths and fixed
// namespace names while it runs. The lock is a file created exclusively that
// names its holder (pid and process start time); a holder that is gone
// (killed run) leaves a stale file that the next taker replaces.
import { open, readFile, rm } from "node:fs/promises";

interface Holder {
  pid: number;
  start: string;
}

async function processStart(pid: number): Promise<string | undefined> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, "utf8");
    // Field 22 (starttime), counted after the command name, which may hold spaces.
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19];
  } catch {
    return undefined;
  }
}

async function holderAlive(h: Holder): Promise<boolean> {
  return h.pid > 0 && (await processStart(h.pid)) === h.start;
}

export interface MachineLock {
  release(): Promise<void>;
}

export async function takeMachineLock(path: string, what: string): Promise<MachineLock> {
  const me: Holder = { pid: process.pid, start: (await processStart(process.pid)) ?? "" };
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const fh = await open(path, "wx", 0o644);
      await fh.writeFile(JSON.stringify(me) + "\n");
      await fh.close();
      return {
        release: async () => {
          // Only our own lock: a later taker may have replaced a lock we lost.
          const now = await readFile(path, "utf8").catch(() => "");
          if (now.trim() === JSON.stringify(me)) await rm(path, { force: true });
        },
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
    }
    let holder: Holder | undefined;
    try {
      holder = JSON.parse(await readFile(path, "utf8")) as Holder;
    } catch {
      holder = undefined; // half-written or unreadable: its writer died mid-write
    }
    if (holder && (await holderAlive(holder))) {
      throw new Error(`${what} is already running (process ${holder.pid} holds ${path}). Stop it first (Ctrl-C in its terminal); only one can run on a machine.`);
    }
    await rm(path, { force: true });
  }
  throw new Error(`Could not take ${path} for ${what}: another process keeps replacing it.`);
}
