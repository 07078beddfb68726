// The QMP client's negotiation: everything goes out before the greeting,
// and query-commands is asked only when the QEMU build answering is not the
// one that answered last time on that socket.
//
// FAKE: a scripted QMP peer on an in-memory stream. A real QEMU cannot be
// made to change its build between two connections on demand (that takes a
// package upgrade and a restart), and it cannot tell us what it received
// before it greeted; the lab's real QEMU covers the rest of the client.
import { describe, it, expect } from "vitest";
import { Duplex } from "node:stream";
import { QmpClient } from "../../electron/qmp/client.js";

interface FakeQemuPeer {
  stream: Duplex;
  /** Commands in the order received. */
  received: string[];
  /** How many commands had arrived when the greeting was sent. */
  receivedBeforeGreeting: number;
}

function fakeQemuPeer(version: { major: number; minor: number; micro: number }, commands: string[], greetAfterMs = 20): FakeQemuPeer {
  let buf = "";
  const peer: FakeQemuPeer = {
    received: [],
    receivedBeforeGreeting: -1,
    stream: new Duplex({
      read() {},
      write(chunk: Buffer, _enc, cb) {
        buf += chunk.toString("utf8");
        for (let nl = buf.indexOf("\n"); nl >= 0; nl = buf.indexOf("\n")) {
          const msg = JSON.parse(buf.slice(0, nl)) as { execute: string; id?: string };
          buf = buf.slice(nl + 1);
          peer.received.push(msg.execute);
          // Answers wait for the greeting, as QEMU reads a client only after greeting it.
          const answer = () => {
            const ret = msg.execute === "query-commands" ? commands.map((name) => ({ name })) : msg.execute === "query-status" ? { running: true, status: "running" } : {};
            peer.stream.push(`${JSON.stringify({ return: ret, id: msg.id })}\n`);
          };
          if (peer.receivedBeforeGreeting < 0) greeted.then(answer, () => undefined);
          else answer();
        }
        cb();
      },
    }),
  };
  const greeted = new Promise<void>((resolve) =>
    setTimeout(() => {
      peer.receivedBeforeGreeting = peer.received.length;
      peer.stream.push(`${JSON.stringify({ QMP: { version: { qemu: version, package: "Debian 1:8.2" }, capabilities: ["oob"] } })}\n`);
      resolve();
    }, greetAfterMs),
  );
  return peer;
}

const V8 = { major: 8, minor: 2, micro: 0 };
const V9 = { major: 9, minor: 0, micro: 0 };

describe("QmpClient negotiation", () => {
  it("sends the negotiation and the first reads before the greeting arrives", async () => {
    const peer = fakeQemuPeer(V8, ["qmp_capabilities", "query-commands", "query-status"]);
    const { client, first } = await QmpClient.connectThen(peer.stream, { label: "fake" }, (c) => c.execute("query-status"));
    expect(first).toEqual({ running: true, status: "running" });
    expect(peer.receivedBeforeGreeting).toBe(3);
    expect(peer.received).toEqual(["qmp_capabilities", "query-commands", "query-status"]);
    client.close();
  });

  it("asks query-commands once per QEMU build on a socket, and again when another build greets", async () => {
    const key = `fake-node:/ctrl/${Math.random()}.qmp`;
    const first = fakeQemuPeer(V8, ["qmp_capabilities", "query-commands", "device_add"]);
    const a = await QmpClient.connect(first.stream, { cacheKey: key });
    expect(first.received).toContain("query-commands");
    expect(a.supports("device_add")).toBe(true);
    expect(a.supports("blockdev-add")).toBe(false);
    a.close();

    const same = fakeQemuPeer(V8, ["qmp_capabilities", "query-commands", "device_add", "never-asked"]);
    const b = await QmpClient.connect(same.stream, { cacheKey: key });
    expect(same.received).toEqual(["qmp_capabilities"]);
    expect([...b.commands].sort()).toEqual(["device_add", "qmp_capabilities", "query-commands"]);
    b.close();

    // After an upgrade the greeting differs: the list is read again, and kept.
    const upgraded = fakeQemuPeer(V9, ["qmp_capabilities", "query-commands", "device_add", "blockdev-add"]);
    const c = await QmpClient.connect(upgraded.stream, { cacheKey: key });
    expect(upgraded.received).toEqual(["qmp_capabilities", "query-commands"]);
    expect(c.supports("blockdev-add")).toBe(true);
    c.close();

    // Another socket (another instance) has its own list.
    const other = fakeQemuPeer(V9, ["qmp_capabilities", "query-commands"]);
    (await QmpClient.connect(other.stream, { cacheKey: `${key}-other` })).close();
    expect(other.received).toContain("query-commands");
  });
});
