// Boots the lab's real guest under QEMU (TCG) and checks that PCI hotplug and
// unplug done over QMP are seen by the guest, and that unplug completes.
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { connect, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { GuestConsole, type GuestPciFunction } from "./guest-console";
import { ensureGuestImage } from "../../electron/lab/guest-image.js";

const NIC_ADDR = "0000:00:10.0";

function connectUnix(path: string, timeoutMs: number): Promise<Socket> {
  const deadline = Date.now() + timeoutMs;
  return new Promise((resolve, reject) => {
    const attempt = (): void => {
      const sock = connect(path);
      sock.once("connect", () => {
        sock.removeAllListeners("error");
        resolve(sock);
      });
      sock.once("error", (err) => {
        sock.destroy();
        // QEMU creates its sockets a moment after it starts.
        if (Date.now() > deadline) reject(new Error(`cannot connect to ${path}: ${err.message}`));
        else setTimeout(attempt, 50);
      });
    };
    attempt();
  });
}

type QmpMessage = Record<string, unknown>;

// Just enough QMP for this test; the project's real client lives elsewhere.
class MiniQmp {
  readonly events: QmpMessage[] = [];
  private buf = "";
  private nextId = 1;
  private readonly pending = new Map<string, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  private waiters: Array<() => void> = [];
  private greeting: Promise<void>;

  constructor(private readonly sock: Socket) {
    let greeted: () => void = () => {};
    this.greeting = new Promise((resolve) => (greeted = resolve));
    sock.setEncoding("utf8");
    sock.on("data", (chunk: string) => {
      this.buf += chunk;
      let nl: number;
      while ((nl = this.buf.indexOf("\n")) >= 0) {
        const line = this.buf.slice(0, nl).trim();
        this.buf = this.buf.slice(nl + 1);
        if (!line) continue;
        const msg = JSON.parse(line) as QmpMessage;
        if ("QMP" in msg) {
          greeted();
        } else if ("event" in msg) {
          this.events.push(msg);
          for (const w of this.waiters) w();
        } else if (typeof msg.id === "string" && this.pending.has(msg.id)) {
          const p = this.pending.get(msg.id);
          this.pending.delete(msg.id);
          if ("error" in msg) p?.reject(new Error(`QMP error: ${JSON.stringify(msg.error)}`));
          else p?.resolve(msg.return);
        }
      }
    });
  }

  async start(): Promise<void> {
    await this.greeting;
    await this.execute("qmp_capabilities");
  }

  execute(command: string, args?: Record<string, unknown>): Promise<unknown> {
    const id = `t${this.nextId++}`;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.sock.write(JSON.stringify({ execute: command, ...(args ? { arguments: args } : {}), id }) + "\r\n");
    });
  }

  waitEvent(match: (e: QmpMessage) => boolean, timeoutMs: number): Promise<QmpMessage> {
    return new Promise((resolve, reject) => {
      const check = (): boolean => {
        const found = this.events.find(match);
        if (!found) return false;
        clearTimeout(timer);
        this.waiters = this.waiters.filter((w) => w !== waiter);
        resolve(found);
        return true;
      };
      const waiter = (): void => void check();
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        reject(new Error(`no matching QMP event in ${timeoutMs} ms; events: ${JSON.stringify(this.events)}`));
      }, timeoutMs);
      if (!check()) this.waiters.push(waiter);
    });
  }

  close(): void {
    this.sock.destroy();
  }
}

const hasAddr = (addr: string) => (list: GuestPciFunction[]) => list.some((f) => f.address === addr);

describe("lab guest (real kernel + busybox init under QEMU)", () => {
  let dir: string;
  let qemu: ChildProcess | undefined;
  let qemuExit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  let qemuStderr = "";
  let guest: GuestConsole;
  let qmp: MiniQmp;
  let bootMs = 0;

  beforeAll(async () => {
    const image = await ensureGuestImage({ log: (l) => console.log(l) });
    dir = await mkdtemp(join(tmpdir(), "hotplug-desk-guest-"));
    const serialSock = join(dir, "s.sock");
    const qmpSock = join(dir, "q.sock");
    const started = Date.now();
    qemu = spawn(
      "qemu-system-x86_64",
      [
        "-machine", "pc,accel=tcg",
        "-m", "256",
        "-nodefaults", "-nographic", "-display", "none",
        "-kernel", image.kernel,
        "-initrd", image.initrd,
        // panic=-1 with -no-reboot: a guest that dies ends QEMU instead of hanging the test.
        "-append", "console=ttyS0 quiet panic=-1",
        "-no-reboot",
        "-serial", `unix:${serialSock},server=on,wait=off`,
        "-qmp", `unix:${qmpSock},server=on,wait=off`,
      ],
      { stdio: ["ignore", "ignore", "pipe"] },
    );
    qemu.stderr?.setEncoding("utf8").on("data", (d: string) => (qemuStderr += d));
    const proc = qemu;
    qemuExit = new Promise((resolve) => proc.once("exit", (code, signal) => resolve({ code, signal })));

    // Attach to the serial port before the guest prints anything worth seeing.
    guest = new GuestConsole(await connectUnix(serialSock, 10_000));
    qmp = new MiniQmp(await connectUnix(qmpSock, 10_000));
    await qmp.start();
    try {
      await guest.waitReady(90_000);
    } catch (err) {
      throw new Error(`${(err as Error).message}\nQEMU stderr: ${qemuStderr}`);
    }
    bootMs = Date.now() - started;
    console.log(`guest booted (QEMU start to READY) in ${bootMs} ms`);
  });

  afterAll(async () => {
    guest?.close();
    qmp?.close();
    if (qemu) {
      if (qemu.exitCode === null && qemu.signalCode === null) qemu.kill("SIGTERM");
      const killer = setTimeout(() => qemu?.kill("SIGKILL"), 5_000);
      const exit = await qemuExit;
      clearTimeout(killer);
      expect(exit.code !== null || exit.signal !== null).toBe(true);
      expect(qemu.exitCode !== null || qemu.signalCode !== null).toBe(true);
    }
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("reports READY and the default PCI devices", async () => {
    expect(bootMs).toBeGreaterThan(0);
    const list = await guest.listPci(10_000);
    expect(list.map((f) => f.address)).toContain("0000:00:00.0");
    expect(list.find((f) => f.address === "0000:00:00.0")?.vendorDevice).toBe("8086:1237");
    expect(list.some((f) => f.address === NIC_ADDR)).toBe(false);
  });

  it("sees a NIC hotplugged over QMP at addr 0x10", async () => {
    await qmp.execute("device_add", { driver: "virtio-net-pci", id: "nic1", bus: "pci.0", addr: "0x10" });
    const list = await guest.waitForPci(hasAddr(NIC_ADDR), 30_000);
    expect(list.find((f) => f.address === NIC_ADDR)?.vendorDevice).toBe("1af4:1000");
  });

  it("completes device_del (DEVICE_DELETED) and the NIC disappears from the guest", async () => {
    const t0 = Date.now();
    await qmp.execute("device_del", { id: "nic1" });
    const ev = await qmp.waitEvent(
      (e) => e.event === "DEVICE_DELETED" && (e.data as { device?: string } | undefined)?.device === "nic1",
      30_000,
    );
    console.log(`DEVICE_DELETED for nic1 after ${Date.now() - t0} ms`);
    expect(ev.event).toBe("DEVICE_DELETED");
    const list = await guest.waitForPci((l) => !hasAddr(NIC_ADDR)(l), 30_000);
    expect(list.map((f) => f.address)).toContain("0000:00:00.0");
    expect(list.map((f) => f.address)).not.toContain(NIC_ADDR);
  });
});
