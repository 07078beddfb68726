// The instance the planner tests plan on: its kvm_cmd and hvparams, the
// uuids of its devices, and live-bus entries as query-pci reports them.
import type { LivePciDevice } from "../../shared/qmp/query-pci";
import type { HvParams } from "../../shared/runtime";

export const KVM = ["/usr/bin/kvm", "-name", "inst1", "-m", 1024];
export const HV: HvParams = { disk_type: "paravirtual", kvm_pci_reservations: 12, nic_type: "paravirtual", security_model: "none" };
export const NIC0 = "003fc157-66a8-4e6d-8b7e-ec4f69751396";
export const DISK0 = "7c079136-2573-4112-82d0-0d3d2aa90d8f";
export const SCSI0 = "932df160-7a22-4067-a566-7e0ca8386133";
/** The uuid a new device gets. */
export const NEW = "9e7c85f6-b6e5-4243-b27d-680b78c6d203";

/** A function-0 device on pci.0 (a virtio NIC's ids). */
export function live(slot: number, qdevId = ""): LivePciDevice {
  return { slot, function: 0, qdevId, vendorId: 0x1af4, deviceId: 0x1000, classDesc: null, classCode: 0, isBridge: false };
}
