// The writer in front of a ProxyCommand's stdin: what ssh2 writes in one
// tick (a batch of SSH packets) reaches the command as one write, so a
// command relaying to TCP without TCP_NODELAY sends one segment instead of
// several that Nagle's algorithm holds back behind each other.
import { describe, expect, it } from "vitest";
import { PassThrough, Writable } from "node:stream";
import { once } from "node:events";
import { SameTickWriter } from "../../electron/ssh/proxy.js";

function collecting(): { out: PassThrough; chunks: Buffer[] } {
  const out = new PassThrough();
  const chunks: Buffer[] = [];
  out.on("data", (c: Buffer) => chunks.push(c));
  return { out, chunks };
}

const tick = () => new Promise((r) => setImmediate(r));

describe("SameTickWriter", () => {
  it("passes what is written in one tick on as one write, in order, and calls every write's callback", async () => {
    const { out, chunks } = collecting();
    const w = new SameTickWriter(out);
    const done: number[] = [];
    w.write(Buffer.from("ab"), () => done.push(1));
    w.write(Buffer.from("cd"), () => done.push(2));
    w.write(Buffer.from("ef"), () => done.push(3));
    await tick();
    expect(chunks.map((c) => c.toString())).toEqual(["abcdef"]);
    expect(done).toEqual([1, 2, 3]);
  });

  it("keeps writes of different ticks apart", async () => {
    const { out, chunks } = collecting();
    const w = new SameTickWriter(out);
    w.write(Buffer.from("one"));
    await tick();
    w.write(Buffer.from("two"));
    w.write(Buffer.from("three"));
    await tick();
    expect(chunks.map((c) => c.toString())).toEqual(["one", "twothree"]);
  });

  it("ends the command's stdin when it is ended", async () => {
    const { out, chunks } = collecting();
    const w = new SameTickWriter(out);
    w.write(Buffer.from("last"));
    w.end();
    await once(out, "end");
    expect(Buffer.concat(chunks).toString()).toBe("last");
  });

  it("fails itself, not the process, when the command's stdin fails (the command has gone)", async () => {
    const out = new Writable({ write: (_c, _e, cb) => cb(Object.assign(new Error("write EPIPE"), { code: "EPIPE" })) });
    const w = new SameTickWriter(out);
    const failed = once(w, "error");
    w.write(Buffer.from("x"));
    const [err] = (await failed) as [Error];
    expect(err.message).toBe("write EPIPE");
    expect(w.destroyed).toBe(true);
  });
});
