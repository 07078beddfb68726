// Public surface of the slot allocator: import from "shared/slots".
export * from "./pci-addr";
export * from "./reasons";
export * from "./reservations";
export * from "./slot-map";
export * from "./pci-allocator";
export * from "./scsi-allocator";
export { describeLiveDevice } from "./live-names";
