// A TCP relay on 127.0.0.1 in front of a real server (the lab's sshd) that
// passes exactly `cutAfter` bytes in one direction and then drops both sides:
// a network cut at a known point of a connection, however fast the machine.
// Not a fake: the bytes on both sides are the real client's and server's.
// The one-cut relay (startCuttingRelay) is an armed relay (startArmedRelay,
// for many trials) armed once.
import { connect, createServer, type AddressInfo, type Server, type Socket } from "node:net";

export type Direction = "up" | "down";

export interface CuttingRelay {
  port: number;
  /** Resolves with the direction and byte count when the relay cut a connection. */
  cut: Promise<{ direction: Direction; passed: number }>;
  close(): Promise<void>;
}

export async function startCuttingRelay(targetPort: number, cutAfter: number, direction: Direction): Promise<CuttingRelay> {
  let resolveCut: (c: { direction: Direction; passed: number }) => void = () => {};
  const cut = new Promise<{ direction: Direction; passed: number }>((r) => (resolveCut = r));
  const relay = await startArmedRelay(targetPort, (c) => resolveCut({ direction: c.direction, passed: c.at }));
  relay.arm({ at: cutAfter, direction });
  return { port: relay.port, cut, close: () => relay.close() };
}

/** What one trial's connections through an armed relay did. */
export interface TrialTraffic {
  connections: number;
  /** Bytes passed towards the node and from it, over all the trial's connections. */
  up: number;
  down: number;
  /** Where the cut fell, if the armed cut happened. */
  cut: { direction: Direction; at: number } | null;
}

export interface ArmedRelay {
  port: number;
  /**
   * The next connection is cut once `at` bytes have passed in `direction`
   * (null: no cut). Later connections of the same trial pass untouched (a
   * reconnect after the cut). Resets the trial's traffic.
   */
  arm(cut: { at: number; direction: Direction } | null): void;
  traffic(): TrialTraffic;
  /** Drops every connection still open (a trial's leftovers). */
  dropAll(): void;
  close(): Promise<void>;
}

/**
 * One relay for many trials: each trial arms a cut for its first connection
 * (random offsets in the fault-injection test) and reads back what passed.
 * The bytes on both sides are the real client's and server's.
 */
export async function startArmedRelay(targetPort: number, onCut?: (c: { direction: Direction; at: number }) => void): Promise<ArmedRelay> {
  let armed: { at: number; direction: Direction } | null = null;
  let trial: TrialTraffic = { connections: 0, up: 0, down: 0, cut: null };
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    const upstream = connect(targetPort, "127.0.0.1");
    sockets.add(client).add(upstream);
    const mine = armed;
    armed = null;
    const t = trial;
    t.connections++;
    let passed = 0;
    let gone = false;
    const end = () => {
      gone = true;
      client.destroy();
      upstream.destroy();
    };
    const relay = (from: Direction, to: Socket) => (d: Buffer) => {
      if (gone) return;
      if (!mine || from !== mine.direction || passed + d.length < mine.at) {
        if (mine && from === mine.direction) passed += d.length;
        t[from] += d.length;
        to.write(d);
        return;
      }
      const room = mine.at - passed;
      passed += room;
      t[from] += room;
      t.cut = { direction: from, at: mine.at };
      onCut?.(t.cut);
      gone = true;
      client.pause();
      upstream.pause();
      // The last bytes before the cut go out, then the connection is gone.
      to.write(d.subarray(0, room), () => {
        client.destroy();
        upstream.destroy();
      });
    };
    client.on("data", relay("up", upstream));
    upstream.on("data", relay("down", client));
    for (const s of [client, upstream]) {
      s.on("error", end);
      s.on("close", () => {
        sockets.delete(s);
        end();
      });
    }
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  return {
    port: (server.address() as AddressInfo).port,
    arm: (cut) => {
      armed = cut;
      trial = { connections: 0, up: 0, down: 0, cut: null };
    },
    traffic: () => ({ ...trial }),
    dropAll: () => {
      for (const s of sockets) s.destroy();
    },
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}
