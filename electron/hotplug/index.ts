// Hotplug services of the main process: gather state, run plans, check migration.
export * from "./executor.js";
export * from "./state.js";
export * from "./migration.js";
export { newDeviceUuid, newMac } from "./ids.js";
