// The Ganeti suite's one cluster: a real two-node Ganeti 3.0.2 cluster (the
// lab in electron/lab/ganeti), up before the first test/ganeti file runs and
// torn down after the last. Vitest runs this only when a file of the ganeti
// project is queued. Where the lab cannot run (not root, packages missing)
// the files skip and say why.
import type { TestProject } from "vitest/node";
import { GanetiLab, ganetiLabUnavailable } from "../../electron/lab/ganeti/lab.js";
import { machineFingerprint, type GanetiLabProvided } from "./machine.js";

export default async function setup(project: TestProject): Promise<(() => Promise<void>) | undefined> {
  const reason = ganetiLabUnavailable();
  if (reason) {
    project.provide("ganetiLab", { available: false, reason } satisfies GanetiLabProvided);
    return undefined;
  }
  const before = await machineFingerprint();
  const t0 = Date.now();
  const lab = await GanetiLab.start({ log: (l) => console.log(`ganeti lab: ${l}`) });
  console.log(`ganeti lab: up in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  project.provide("ganetiLab", { available: true, info: lab.info, machineBefore: before } satisfies GanetiLabProvided);
  return async () => {
    const { leftovers, ms } = await lab.stop();
    console.log(`ganeti lab: down in ${(ms / 1000).toFixed(1)} s`);
    if (leftovers.length > 0) throw new Error(`The Ganeti lab's teardown left: ${leftovers.join("; ")}`);
    const after = await machineFingerprint();
    if (JSON.stringify(after) !== JSON.stringify(before)) throw new Error(`The Ganeti lab changed the machine: before ${JSON.stringify(before)}, after ${JSON.stringify(after)}`);
  };
}
