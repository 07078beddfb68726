// A bridge and tap devices for lab NICs, where the machine allows it (root
// with /dev/net/tun). The bridge has no uplink and no address: it carries
// no traffic off the machine. Everything is named hd*-<labid> and deleted on
// teardown.
import { existsSync } from "node:fs";
import { readdir } from "node:fs/promises";
import { runCommand } from "./processes.js";

export interface LabNetwork {
  mode: "tap" | "user";
  /** Why taps are not used, when mode is "user". */
  reason?: string;
  bridge?: string;
  createTap(instanceIndex: number, seq: number): Promise<string | undefined>;
  teardown(): Promise<void>;
}

export async function setUpNetwork(labId: string): Promise<LabNetwork> {
  const taps: string[] = [];
  const userMode = (reason: string): LabNetwork => ({
    mode: "user",
    reason,
    createTap: async () => undefined,
    teardown: async () => {},
  });
  if (process.getuid?.() !== 0) return userMode("not root: tap devices need CAP_NET_ADMIN");
  if (!existsSync("/dev/net/tun")) return userMode("/dev/net/tun is missing");
  const bridge = `hdbr-${labId}`;
  try {
    await runCommand("ip", ["link", "add", bridge, "type", "bridge"]);
    await runCommand("ip", ["link", "set", bridge, "up"]);
  } catch (err) {
    return userMode(`cannot create a bridge: ${String(err)}`);
  }
  return {
    mode: "tap",
    bridge,
    async createTap(instanceIndex: number, seq: number) {
      const tap = `hdt${labId}-${instanceIndex}.${seq}`.slice(0, 15);
      await runCommand("ip", ["tuntap", "add", "dev", tap, "mode", "tap"]);
      taps.push(tap);
      await runCommand("ip", ["link", "set", tap, "master", bridge]);
      await runCommand("ip", ["link", "set", tap, "up"]);
      return tap;
    },
    async teardown() {
      // Taps hotplugged during the lab's life sit on the bridge too: remove every one.
      const attached = await readdir(`/sys/class/net/${bridge}/brif`).catch(() => [] as string[]);
      for (const tap of new Set([...taps.splice(0), ...attached])) await runCommand("ip", ["link", "del", tap]).catch(() => {});
      await runCommand("ip", ["link", "del", bridge]).catch(() => {});
    },
  };
}

/** Lab network links still present for a lab id (teardown check). */
export async function leftoverLinks(labId: string): Promise<string[]> {
  const out = await runCommand("ip", ["-o", "link", "show"]);
  return out
    .split("\n")
    .map((l) => l.split(":")[1]?.trim().split("@")[0] ?? "")
    .filter((name) => name.includes(labId));
}
