// Names for what query-pci shows. query-pci reports vendor/device ids, not
// the QEMU driver, so messages map the ids QEMU uses for the devices Ganeti
// creates back to driver names people recognise ("virtio-net-pci").

import type { LivePciDevice } from "../qmp/query-pci";

// vendor:device (hex, 4 digits) -> QEMU device model. Virtio devices have a
// transitional id (0x1000..) and a modern-only id (0x1040 + type).
const KNOWN: Readonly<Record<string, string>> = {
  "1af4:1000": "virtio-net-pci",
  "1af4:1041": "virtio-net-pci",
  "1af4:1001": "virtio-blk-pci",
  "1af4:1042": "virtio-blk-pci",
  "1af4:1002": "virtio-balloon-pci",
  "1af4:1045": "virtio-balloon-pci",
  "1af4:1003": "virtio-serial-pci",
  "1af4:1043": "virtio-serial-pci",
  "1af4:1004": "virtio-scsi-pci",
  "1af4:1048": "virtio-scsi-pci",
  "1af4:1005": "virtio-rng-pci",
  "1af4:1044": "virtio-rng-pci",
  "8086:1237": "i440FX host bridge",
  "8086:7000": "PIIX3 ISA bridge",
  "8086:7010": "PIIX3 IDE controller",
  "8086:7020": "PIIX3 USB controller",
  "8086:7113": "PIIX4 ACPI controller",
  "8086:100e": "e1000",
  "1234:1111": "VGA",
  "1013:00b8": "cirrus-vga",
  "10ec:8139": "rtl8139",
  "10ec:8029": "ne2k_pci",
  "1022:2000": "pcnet",
  "1000:0012": "lsi53c895a",
  "1000:0060": "megasas",
  "1b36:0001": "pci-bridge",
};

function hex4(n: number): string {
  return n.toString(16).padStart(4, "0");
}

/** "virtio-net-pci 'nic-003fc157-66a8-4e6d'" or "QEMU's PIIX3 ISA bridge (no device id)". */
export function describeLiveDevice(d: LivePciDevice): string {
  const ids = `${hex4(d.vendorId)}:${hex4(d.deviceId)}`;
  const model = KNOWN[ids] ?? (d.classDesc !== null ? `${d.classDesc} ${ids}` : `PCI device ${ids}`);
  return d.qdevId === "" ? `QEMU's ${model} (no device id)` : `${model} '${d.qdevId}'`;
}
