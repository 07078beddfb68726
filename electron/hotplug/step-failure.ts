// Why a plan run stopped, in the executor's words: a failure cause for each
// error a step can meet, and the next thing the user can do about each.
import { SshConnectionLostError } from "../ssh/session.js";
import { QmpBusyError, QmpClosedError, QmpError, QmpTimeoutError } from "../qmp/client.js";
import { RuntimeChangedError } from "../on-node/runtime-store.js";
import { InstanceLockedError } from "../on-node/instance-lock.js";
import { ExecError } from "../on-node/exec.js";
import { NodeHelperError, NodeHelperSkippedError, wasNotSent } from "../on-node/node-helper.js";
import { GanetiCommandError } from "../ganeti/config-jobs.js";
import type { FailureCause, WriteUnknown } from "../../shared/hotplug/index.js";

/** A step's own failure, with the cause it already knows and the device it concerns. */
export class StepFailure extends Error {
  constructor(
    readonly reason: FailureCause,
    message: string,
    readonly device?: string,
  ) {
    super(message);
    this.name = "StepFailure";
  }
}

/** The runtime write whose answer was lost, with what the file held when read again. */
export class WriteUnknownFailure extends StepFailure {
  constructor(
    message: string,
    readonly unknown: WriteUnknown,
    device?: string,
  ) {
    super("write-unknown", message, device);
    this.name = "WriteUnknownFailure";
  }
}

/** Errors after which their step may have run all the same: its request went out and the answer was lost. */
const answerLost = new WeakSet<object>();

/** Marks `err` as a lost answer (the step may have run); returns it. */
export function markAnswerLost<E>(err: E): E {
  if (typeof err === "object" && err !== null) answerLost.add(err);
  return err;
}

/** True when `err` failed its step after the step's request went out, with no answer to say what became of it. */
export function isAnswerLost(err: unknown): boolean {
  return typeof err === "object" && err !== null && answerLost.has(err);
}

/**
 * Whether a node helper error lost the answer of a request that went out:
 * not when the request never left, and not when the helper answered with
 * its own failure (or said the step was skipped).
 */
export function helperAnswerLost(err: unknown): boolean {
  if (wasNotSent(err)) return false;
  // Skipped by the helper's own word: it did not run.
  if (err instanceof NodeHelperSkippedError) return false;
  if (err instanceof NodeHelperError && err.said !== undefined) return false;
  return err instanceof NodeHelperError || err instanceof ExecError;
}

/** The cause of `err`; `sshClosed` when the SSH connection is known to be gone. */
export function failureCause(err: unknown, sshClosed: boolean): FailureCause {
  if (err instanceof StepFailure) return err.reason;
  if (sshClosed || err instanceof SshConnectionLostError) return "connection-lost";
  if (err instanceof InstanceLockedError) return "lock";
  if (err instanceof RuntimeChangedError) return "runtime-changed";
  if (err instanceof QmpBusyError) return "qmp-busy";
  if (err instanceof QmpError) return "qmp-refused";
  if (err instanceof QmpTimeoutError) return "timeout";
  if (err instanceof QmpClosedError) return "connection-lost";
  if (err instanceof GanetiCommandError) return "ganeti-refused";
  if (err instanceof NodeHelperError || err instanceof ExecError) return "node-step";
  return "other";
}

export const NEXT_STEP: Record<FailureCause, string> = {
  lock: "Wait for the other operation on this instance to finish, then try again.",
  "runtime-changed": "Reload the instance (someone else, Ganeti included, changed its runtime file) and plan the change again.",
  "qmp-refused": "Read QEMU's reason above; reload the instance (the live bus may hold a device the runtime file does not list) and plan again, e.g. with another slot.",
  "qmp-busy": "Another client holds the QMP socket (a Ganeti job or kvmd); try again in a moment.",
  "guest-holds-device":
    "Release the device inside the guest (unmount the disk, take the interface down) or check that the guest supports ACPI PCI hotplug, then remove it again. QEMU keeps the request: if the guest lets go later, the device disappears while the runtime file still lists it, and the inventory shows that drift.",
  "verify-failed": "Reload the instance and compare the live bus with the plan; plan the change again.",
  "node-step": "Fix the node-side problem shown above and try again.",
  "ganeti-refused": "Read Ganeti's words above (gnt-job info with the job's id, on the master, shows the whole job); fix what they name, then review the change again.",
  "connection-lost": "Reconnect to the node and reload the instance: the inventory shows any device left live that the runtime file does not list; remove it or plan again.",
  timeout: "QEMU or the node did not answer in time; reload the instance to see what state it is in, then try again.",
  "write-unknown": "Reload the instance and check its runtime file against the live bus before changing anything; the journal keeps the write (pending).",
  other: "Reload the instance and check its state before trying again.",
};
