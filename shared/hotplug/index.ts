// Public surface of the hotplug planner: import from "shared/hotplug".
export * from "./intent";
export * from "./instance-snapshot";
export * from "./steps";
export * from "./planner";
export { describeRuntimeChange } from "./diff";
export * from "./progress";
export * from "./outcome";
export * from "./change-request";
export * from "./compose";
export * from "./recording";
export * from "./ganeti-change";
export * from "./ganeti-uuid";
export * from "./repair";
