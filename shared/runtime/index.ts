/**
 * Ganeti KVM runtime files: read (any generation, upgraded in memory),
 * write (for a target generation), device ids, creation helpers.
 *
 * Writing rules, in short (details in write.ts):
 * - unchanged content round-trips byte for byte to its own generation;
 * - kvm_cmd/hvparams upgrade rewrites are never persisted (each Ganeti
 *   version re-applies its own on load);
 * - C: devices in hvinfo form; B: `pci` ints, only pci.0 devices whose id is
 *   the old `hot<kind>-<uuid8>-pci-N` and whose driver matches hvparams;
 *   A: no slots, no disk list;
 * - anything the target cannot express → RuntimeWriteError with reasons.
 */
export * from "./schema";
export * from "./generation";
export * from "./errors";
export * from "./device-id";
export { upgradeRuntime, type UpgradeInput, type UpgradeResult } from "./upgrade";
export { readRuntime, parseRawRuntime, validateRawRuntime, type RuntimeDocument, type RawRuntime } from "./read";
export { writeRuntime } from "./write";
export { decodeRuntimeBytes } from "./text";
export { newNic, newDisk, emptyRuntime, type NewNicOptions, type NewDiskOptions, type IdStyle } from "./create";
