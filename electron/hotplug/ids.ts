// Identities for new devices. Randomness lives here, never in shared/ (the
// planner is a pure function of its inputs).
import { randomBytes, randomUUID } from "node:crypto";

export function newDeviceUuid(): string {
  return randomUUID();
}

/** A MAC under Ganeti's default mac_prefix aa:00:00 (locally administered, unicast). */
export function newMac(): string {
  return ["aa", "00", "00", ...[...randomBytes(3)].map((b) => b.toString(16).padStart(2, "0"))].join(":");
}
