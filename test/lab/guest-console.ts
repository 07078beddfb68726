// Talks to the lab guest's /init over its serial console (see guest-image.ts).
// Works on any Duplex: a net.Socket to QEMU's serial unix socket, or an ssh2
// channel forwarded to the same socket.
import type { Duplex } from "node:stream";
import { GUEST_READY } from "../../electron/lab/guest-image.js";

export interface GuestPciFunction {
  /** Full sysfs address, e.g. "0000:00:10.0". */
  address: string;
  /** "vendor:device" in lowercase hex without 0x, e.g. "1af4:1000". */
  vendorDevice: string;
}

export type PciPredicate = (list: GuestPciFunction[]) => boolean;

export interface GuestConsoleOptions {
  /** Receives every line the guest prints (after cleanup), for debugging. */
  log?: (line: string) => void;
}

interface Block {
  list: GuestPciFunction[];
  /** Counts PCI-BEGIN lines, so a wait can ignore blocks begun before it asked. */
  seq: number;
}

/** A network interface or block device and the PCI address its driver bound ("devs", guests built with drivers). */
export interface GuestDevice {
  name: string;
  address: string;
}

type Listener = { onBlock?: (b: Block) => void; onDevs?: (devs: GuestDevice[]) => void; onLine?: (line: string) => void; onEnd: (err: Error) => void };

// Anchored at the end only: serial output may carry escape sequences or a
// partial kernel message in front of our text, rarely after it.
const PCI_LINE = /([0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]) ([0-9a-f]{4}):([0-9a-f]{4})$/;
const KERNEL_LINE = /^\[\s*\d+\.\d+\]/;
const DEV_LINE = /(\S+) ([0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7])$/;
// CSI sequences (SeaBIOS clears the screen), other ESC sequences, stray controls.
// eslint-disable-next-line no-control-regex
const ESCAPES = /\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b[@-_a-z]|[\x00-\x08\x0b-\x1f\x7f]/g;

function endsWithMarker(line: string, marker: string): boolean {
  return line === marker || (line.endsWith(marker) && /\W$/.test(line.slice(0, -marker.length)));
}

export class GuestConsole {
  private buffer = "";
  private inBlock: { list: GuestPciFunction[]; corrupt: boolean; seq: number } | null = null;
  private inDevs: GuestDevice[] | null = null;
  private blockSeq = 0;
  private readySeen = false;
  private ended: Error | null = null;
  private readonly listeners = new Set<Listener>();
  private lastList: GuestPciFunction[] | null = null;

  private readonly onData = (chunk: Buffer | string): void => {
    this.buffer += typeof chunk === "string" ? chunk : chunk.toString("latin1");
    let nl: number;
    while ((nl = this.buffer.indexOf("\n")) >= 0) {
      const raw = this.buffer.slice(0, nl);
      this.buffer = this.buffer.slice(nl + 1);
      this.handleLine(raw.replace(ESCAPES, "").trim());
    }
  };
  private readonly onClose = (): void => this.fail(new Error("guest console stream closed"));
  private readonly onError = (err: Error): void => this.fail(new Error(`guest console stream error: ${err.message}`));

  constructor(
    private readonly stream: Duplex,
    private readonly opts: GuestConsoleOptions = {},
  ) {
    stream.on("data", this.onData);
    stream.on("close", this.onClose);
    stream.on("end", this.onClose);
    stream.on("error", this.onError);
  }

  /** The most recent complete PCI block seen, or null. */
  get lastPci(): GuestPciFunction[] | null {
    return this.lastList;
  }

  /**
   * Resolves once the guest's init is up: on its READY banner, or on a PONG,
   * so attaching to an already booted guest works too (pings every second).
   */
  waitReady(timeoutMs: number): Promise<void> {
    if (this.readySeen) return Promise.resolve();
    return this.wait<void>(timeoutMs, "guest READY", (resolve) => {
      this.send("ping");
      const timer = setInterval(() => this.send("ping"), 1000);
      return {
        onLine: (line) => {
          if (this.readySeen || line === "PONG") resolve();
        },
        cleanup: () => clearInterval(timer),
      };
    });
  }

  /** Asks the guest for its PCI devices and returns the next complete block. */
  listPci(timeoutMs: number): Promise<GuestPciFunction[]> {
    return this.waitForPci(() => true, timeoutMs);
  }

  /**
   * Resolves with the first PCI list begun after this call (asked for, or
   * reported unsolicited after a change) that satisfies the predicate. Re-asks every second so a
   * block lost to line noise only costs a second.
   */
  waitForPci(predicate: PciPredicate, timeoutMs: number): Promise<GuestPciFunction[]> {
    return this.wait<GuestPciFunction[]>(timeoutMs, "a matching PCI list", (resolve) => {
      const after = this.blockSeq;
      this.send("pci");
      const timer = setInterval(() => this.send("pci"), 1000);
      return {
        onBlock: (b) => {
          if (b.seq > after && predicate(b.list)) resolve(b.list);
        },
        cleanup: () => clearInterval(timer),
      };
    });
  }

  /** Detaches and destroys the stream; pending waits reject. */
  close(): void {
    this.fail(new Error("guest console closed"));
    this.stream.off("data", this.onData);
    this.stream.off("close", this.onClose);
    this.stream.off("end", this.onClose);
    this.stream.off("error", this.onError);
    // Keep a late socket error from becoming an uncaught exception.
    this.stream.on("error", () => {});
    this.stream.destroy();
  }

  /**
   * The guest's network interfaces and block devices with the PCI address
   * each one's driver bound, once `predicate` holds (guests built with
   * drivers only). Re-asks every second.
   */
  waitForDevices(predicate: (devs: GuestDevice[]) => boolean, timeoutMs: number): Promise<GuestDevice[]> {
    return this.wait<GuestDevice[]>(timeoutMs, "matching guest devices", (resolve) => {
      this.send("devs");
      const timer = setInterval(() => this.send("devs"), 1000);
      return {
        onDevs: (devs) => {
          if (predicate(devs)) resolve(devs);
        },
        cleanup: () => clearInterval(timer),
      };
    });
  }

  /** Sends one command line to the guest's init (e.g. "poweroff" on a guest built with drivers). */
  sendLine(cmd: string): void {
    this.send(cmd);
  }

  private send(cmd: string): void {
    if (this.ended || this.stream.destroyed || !this.stream.writable) return;
    this.stream.write(`${cmd}\n`);
  }

  private wait<T>(
    timeoutMs: number,
    what: string,
    start: (resolve: (v: T) => void) => { onLine?: (line: string) => void; onBlock?: (b: Block) => void; onDevs?: (devs: GuestDevice[]) => void; cleanup: () => void },
  ): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      if (this.ended) {
        reject(this.ended);
        return;
      }
      let done = false;
      const finish = (): void => {
        done = true;
        clearTimeout(timer);
        hooks.cleanup();
        this.listeners.delete(listener);
      };
      const timer = setTimeout(() => {
        finish();
        const last = this.lastList ? this.lastList.map((f) => `${f.address} ${f.vendorDevice}`).join(", ") : "none";
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what} (last PCI list seen: ${last})`));
      }, timeoutMs);
      const listener: Listener = {
        onLine: (line) => hooks.onLine?.(line),
        onBlock: (b) => hooks.onBlock?.(b),
        onDevs: (d) => hooks.onDevs?.(d),
        onEnd: (err) => {
          finish();
          reject(err);
        },
      };
      // Stream events arrive asynchronously, so no listener runs before hooks is set.
      const hooks = start((v) => {
        if (done) return;
        finish();
        resolve(v);
      });
      this.listeners.add(listener);
    });
  }

  private fail(err: Error): void {
    if (this.ended) return;
    this.ended = err;
    for (const l of [...this.listeners]) l.onEnd(err);
  }

  private handleLine(line: string): void {
    if (line.length === 0) return;
    this.opts.log?.(line);

    if (endsWithMarker(line, "DEVS-BEGIN")) {
      this.inDevs = [];
      return;
    }
    if (this.inDevs) {
      if (endsWithMarker(line, "DEVS-END")) {
        const devs = this.inDevs;
        this.inDevs = null;
        for (const l of [...this.listeners]) l.onDevs?.(devs);
        return;
      }
      const m = DEV_LINE.exec(line);
      if (m?.[1] && m[2]) this.inDevs.push({ name: m[1], address: m[2] });
      return;
    }
    if (endsWithMarker(line, "PCI-BEGIN")) {
      // A BEGIN inside an unfinished block means the old block lost its END.
      this.inBlock = { list: [], corrupt: false, seq: ++this.blockSeq };
      return;
    }
    if (this.inBlock) {
      if (endsWithMarker(line, "PCI-END")) {
        const { list, corrupt, seq } = this.inBlock;
        this.inBlock = null;
        // A garbled line may have been a device: better no answer than a wrong one.
        if (!corrupt) {
          this.lastList = list;
          for (const l of [...this.listeners]) l.onBlock?.({ list, seq });
        }
        return;
      }
      const m = PCI_LINE.exec(line);
      if (m?.[1] && m[2] && m[3]) {
        this.inBlock.list.push({ address: m[1], vendorDevice: `${m[2]}:${m[3]}` });
      } else if (!KERNEL_LINE.test(line)) {
        this.inBlock.corrupt = true;
      }
      return;
    }

    // PCI-CHANGED needs no handling of its own: the block after it is
    // delivered to waiters like any other.
    if (line.endsWith(GUEST_READY)) this.readySeen = true;
    for (const l of [...this.listeners]) l.onLine?.(line);
  }
}
