// FAKE: a scripted hostile QMP peer on a UNIX socket, for the QMP client's
// fuzz test (fuzz-qmp.test.ts; not a test file itself). A real QEMU cannot
// be made to send garbage, lines of megabytes, one byte per 100 ms, answers
// with wrong ids or before its greeting, floods of events, invalid UTF-8 or
// half a message on demand; the lab's real QEMU covers the client's normal
// work (test/lab, test/integration).
import net from "node:net";
import fc from "fast-check";

const GREETINGS = ["ok", "ok-extra", "no-capabilities", "bad-version", "qmp-number", "qmp-array", "deep", "invalid-utf8"] as const;
const ANSWERS = ["right", "wrong-id", "numeric-id", "no-id", "object-id", "error", "bad-error", "wrong-shape", "twice", "deep", "huge", "invalid-utf8"] as const;
const ODD_JSON = ["[]", "1", '"x"', "null", "{}", '{"return": {}}', '{"return": {}, "id": "hd-1"}', '{"error": {}}', '{"event": 5}', '{"QMP": {}}', "[", '{"return":', "\r", " "];

export const PeerAction = fc.oneof(
  { weight: 6, arbitrary: fc.record({ a: fc.constant("greet" as const), how: fc.oneof({ weight: 4, arbitrary: fc.constant("ok" as const) }, { weight: 3, arbitrary: fc.constantFrom(...GREETINGS) }) }) },
  { weight: 8, arbitrary: fc.record({ a: fc.constant("answer" as const), how: fc.oneof({ weight: 3, arbitrary: fc.constant("right" as const) }, { weight: 4, arbitrary: fc.constantFrom(...ANSWERS) }), all: fc.boolean() }) },
  { weight: 3, arbitrary: fc.record({ a: fc.constant("events" as const), count: fc.oneof({ weight: 5, arbitrary: fc.integer({ min: 1, max: 5 }) }, { weight: 1, arbitrary: fc.constantFrom(300, 3000) }), how: fc.constantFrom("ok", "device-deleted", "bad", "big") }) },
  { weight: 2, arbitrary: fc.record({ a: fc.constant("garbage" as const), bytes: fc.uint8Array({ minLength: 1, maxLength: 64 }), newline: fc.boolean() }) },
  { weight: 2, arbitrary: fc.record({ a: fc.constant("json" as const), text: fc.constantFrom(...ODD_JSON) }) },
  { weight: 1, arbitrary: fc.record({ a: fc.constant("huge" as const), mib: fc.constantFrom(2, 24), newline: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ a: fc.constant("slow" as const), bytes: fc.integer({ min: 1, max: 3 }) }) },
  { weight: 1, arbitrary: fc.record({ a: fc.constant("partial" as const) }) },
  { weight: 2, arbitrary: fc.record({ a: fc.constant("wait" as const), ms: fc.integer({ min: 0, max: 60 }) }) },
  { weight: 1, arbitrary: fc.record({ a: fc.constant("end" as const) }) },
  { weight: 1, arbitrary: fc.record({ a: fc.constant("destroy" as const) }) },
);
export type PeerAction = typeof PeerAction extends fc.Arbitrary<infer T> ? T : never;

/** What the peer does once its script is done: go silent, answer everything right, or hang up. */
export const PeerSession = fc.record({
  script: fc.array(PeerAction, { minLength: 1, maxLength: 8 }),
  then: fc.constantFrom("silent" as const, "answer" as const, "close" as const),
  throwingListener: fc.oneof({ weight: 9, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }),
});
export type PeerSession = typeof PeerSession extends fc.Arbitrary<infer T> ? T : never;

export interface PeerStats {
  /** Bytes of the longest huge line the client's socket took before it was closed. */
  hugeLineBytes: number;
  hugeLines: number;
}

const COMMANDS = ["qmp_capabilities", "query-commands", "query-status", "query-pci", "qom-list", "device_add", "device_del"];
const PCI_DEVICE = { bus: 0, slot: 16, function: 0, class_info: { class: 512 }, id: { device: 4096, vendor: 6900 }, regions: [], qdev_id: "nic-1" };
const timestamp = { seconds: 1700000000, microseconds: 1 };

function rightAnswer(command: string): unknown {
  if (command === "query-commands") return COMMANDS.map((name) => ({ name }));
  if (command === "query-status") return { running: true, status: "running" };
  if (command === "query-pci") return [{ bus: 0, devices: [PCI_DEVICE] }];
  if (command === "qom-list") return [{ name: "nic-1", type: "child<virtio-net-pci>" }];
  return {};
}

const deep = (depth: number): string => `${"[".repeat(depth)}${"]".repeat(depth)}`;
const bytes = (...parts: (string | number[])[]): Buffer => Buffer.concat(parts.map((p) => (typeof p === "string" ? Buffer.from(p) : Buffer.from(p))));

/** Runs one session's script on an accepted socket; resolves when the socket is closed. */
export function runPeer(sock: net.Socket, session: PeerSession): Promise<PeerStats> {
  const stats: PeerStats = { hugeLineBytes: 0, hugeLines: 0 };
  const pending: { execute: string; id: unknown }[] = [];
  let closed = false;
  let inbox = "";
  const done = new Promise<void>((resolve) => sock.once("close", () => resolve()));
  sock.on("close", () => (closed = true));
  sock.on("error", () => undefined);
  sock.on("data", (chunk: Buffer) => {
    inbox += chunk.toString("utf8");
    for (let nl = inbox.indexOf("\n"); nl >= 0; nl = inbox.indexOf("\n")) {
      try {
        const m = JSON.parse(inbox.slice(0, nl)) as { execute: string; id?: unknown };
        pending.push({ execute: m.execute, id: m.id });
      } catch {
        // the client only sends JSON; nothing to answer otherwise
      }
      inbox = inbox.slice(nl + 1);
    }
  });
  /** Resolves when the bytes are taken (drained) or the socket is gone; false when gone. */
  const write = (b: Buffer | string): Promise<boolean> =>
    new Promise((resolve) => {
      if (closed || sock.destroyed) return resolve(false);
      const onClose = () => resolve(false);
      sock.once("close", onClose);
      sock.write(b, (err) => {
        sock.off("close", onClose);
        resolve(!err && !closed);
      });
    });
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
  const line = (v: unknown) => `${JSON.stringify(v)}\n`;

  const greet = async (how: (typeof GREETINGS)[number]): Promise<void> => {
    const version = { qemu: { major: 7, minor: 2, micro: 0 }, package: "Debian 1:7.2+dfsg-7" };
    const text = {
      ok: line({ QMP: { version, capabilities: ["oob"] } }),
      "ok-extra": line({ QMP: { version, capabilities: [], more: [1, 2] }, extra: true }),
      "no-capabilities": line({ QMP: { version } }),
      "bad-version": line({ QMP: { version: { qemu: "7.2" }, capabilities: [] } }),
      "qmp-number": line({ QMP: 1 }),
      "qmp-array": line({ QMP: [] }),
      deep: `{"QMP": {"version": ${JSON.stringify(version)}, "capabilities": [], "x": ${deep(100_000)}}}\n`,
      "invalid-utf8": bytes('{"QMP": {"version": {"qemu": {"major": 7, "minor": 2, "micro": 0}, "package": "', [0xff, 0xc3, 0x28, 0xed, 0xa0, 0x80], '"}, "capabilities": []}}\n'),
    }[how];
    await write(text);
  };

  const answer = async (how: (typeof ANSWERS)[number], id: unknown, command: string): Promise<void> => {
    const ret = rightAnswer(command);
    switch (how) {
      case "right": return void (await write(line({ return: ret, id })));
      case "wrong-id": return void (await write(line({ return: ret, id: "hd-999999" })));
      case "numeric-id": return void (await write(line({ return: ret, id: 1 })));
      case "no-id": return void (await write(line({ return: ret })));
      case "object-id": return void (await write(line({ return: ret, id: { id } })));
      case "error": return void (await write(line({ error: { class: "GenericError", desc: "refused by the fake peer" }, id })));
      case "bad-error": return void (await write(line({ error: "boom", id })));
      case "wrong-shape": return void (await write(line({ return: command === "query-commands" ? { name: "x" } : "running", id })));
      case "twice": return void ((await write(line({ return: ret, id }))) && (await write(line({ return: ret, id }))));
      case "deep": return void (await write(`{"return": ${deep(50_000)}, "id": ${JSON.stringify(id)}}\n`));
      case "huge": return void (await write(line({ return: { status: "x".repeat(2 * 1024 * 1024) }, id })));
      case "invalid-utf8": return void (await write(bytes(`{"return": ${JSON.stringify(ret)}, "note": "`, [0xff, 0xfe, 0xc0, 0x80, 0xed, 0xa0, 0x80], `", "id": ${JSON.stringify(id)}}\n`)));
    }
  };

  const events = async (count: number, how: string): Promise<void> => {
    const one = (i: number): unknown =>
      how === "ok" ? { event: "RESUME", timestamp }
      : how === "device-deleted" ? { event: "DEVICE_DELETED", data: { device: i === count - 1 ? "nic-1" : `nic-x${i}`, path: "/machine/peripheral/nic-1" }, timestamp }
      : how === "bad" ? { event: 5, data: [] }
      : { event: "BIG", data: { blob: "b".repeat(200 * 1024) }, timestamp };
    // Many events leave in few writes, as a flood does.
    let batch = "";
    for (let i = 0; i < count; i++) {
      batch += line(one(i));
      if (batch.length > 256 * 1024 || i === count - 1) {
        if (!(await write(batch))) return;
        batch = "";
      }
    }
  };

  const huge = async (mib: number, newline: boolean): Promise<void> => {
    stats.hugeLines++;
    const chunk = Buffer.alloc(64 * 1024, 0x61);
    let sent = 0;
    if (!(await write('{"return": "'))) return;
    while (sent < mib * 1024 * 1024) {
      if (!(await write(chunk))) break;
      sent += chunk.length;
    }
    stats.hugeLineBytes = Math.max(stats.hugeLineBytes, sent);
    if (newline) await write('"}\n');
  };

  const run = async (): Promise<void> => {
    for (const act of session.script) {
      if (closed) return;
      switch (act.a) {
        case "greet": await greet(act.how); break;
        case "answer": {
          await sleep(2); // let the client's batch arrive
          for (const p of act.all ? pending.splice(0) : pending.splice(0, 1)) await answer(act.how, p.id, p.execute);
          break;
        }
        case "events": await events(act.count, act.how); break;
        case "garbage": await write(act.newline ? Buffer.concat([Buffer.from(act.bytes), Buffer.from("\n")]) : Buffer.from(act.bytes)); break;
        case "json": await write(`${act.text}\n`); break;
        case "huge": await huge(act.mib, act.newline); break;
        case "slow": {
          const text = Buffer.from(line({ QMP: { version: { qemu: { major: 7, minor: 2, micro: 0 }, package: "" }, capabilities: [] } }));
          for (let i = 0; i < act.bytes && !closed; i++) {
            await write(text.subarray(i, i + 1));
            await sleep(100);
          }
          break;
        }
        case "partial": await write('{"return": {"running": tr'); break;
        case "wait": await sleep(act.ms); break;
        case "end": sock.end(); return;
        case "destroy": sock.destroy(); return;
      }
    }
    if (session.then === "close") sock.end();
    else if (session.then === "answer") {
      // Keeps answering, right, whatever comes next.
      while (!closed) {
        for (const p of pending.splice(0)) await answer("right", p.id, p.execute);
        await sleep(5);
      }
    }
  };
  void run();
  return done.then(() => stats);
}

/** One socket path served by a queue of sessions, one connection each, in order. */
export class PeerLane {
  private readonly server: net.Server;
  private readonly queue: { session: PeerSession; resolve: (s: Promise<PeerStats>) => void }[] = [];


  constructor(readonly path: string) {
    this.server = net.createServer((sock) => {
      const next = this.queue.shift();
      if (!next) return void sock.destroy();
      next.resolve(runPeer(sock, next.session));
    });
  }

  listen(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.server.once("error", reject);
      this.server.listen(this.path, () => resolve());
    });
  }

  /** The peer's stats for the next connection, once that connection closes. */
  expect(session: PeerSession): Promise<PeerStats> {
    return new Promise((resolve) => this.queue.push({ session, resolve }));
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}
