/** A runtime file that cannot be read; `issues` name the entry path. */
export class RuntimeReadError extends Error {
  constructor(readonly issues: string[]) {
    super(issues.length === 1 ? `runtime file: ${issues[0]}` : `runtime file has ${issues.length} problems:\n- ${issues.join("\n- ")}`);
    this.name = "RuntimeReadError";
  }
}

export interface WriteRefusal {
  /** The device the reason is about (its QEMU id, or nics[i]/disks[i]). */
  device?: string;
  reason: string;
}

/** A write the target generation cannot express. Nothing was produced. */
export class RuntimeWriteError extends Error {
  constructor(readonly reasons: WriteRefusal[]) {
    super(
      `cannot write this runtime: ${reasons.map((r) => (r.device ? `${r.device}: ${r.reason}` : r.reason)).join("; ")}`,
    );
    this.name = "RuntimeWriteError";
  }
}
