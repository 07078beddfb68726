// Identity for new devices. Generated in main (never in shared/, which is
// pure, and never trusted from the renderer).
import { randomBytes, randomUUID } from "node:crypto";

/** A locally administered unicast MAC under Ganeti's default prefix aa:00:00. */
export function newMac(prefix = "aa:00:00"): string {
  return [prefix, ...[...randomBytes(3)].map((b) => b.toString(16).padStart(2, "0"))].join(":");
}

export function newDeviceUuid(): string {
  return randomUUID();
}
