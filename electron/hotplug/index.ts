// Hotplug services of the main process: the one change path (change.ts),
// gathering state, running plans, checking migration.
export * from "./change.js";
export * from "./kept-plans.js";
export * from "./executor.js";
export * from "./state.js";
export * from "./migration.js";
export { newDeviceUuid, newMac } from "./ids.js";
