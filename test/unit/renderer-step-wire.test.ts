// The review dialog shows the exact QMP commands, including those a
// node-side step sends after passing an fd.
import { describe, it, expect } from "vitest";
import { stepWireText, type PlanStep } from "../../shared/hotplug/steps";

// The steps as the review dialog gets them (only the fields each assertion is about).
const stepWire = (step: Partial<PlanStep>) => stepWireText(step as PlanStep);

describe("review dialog: steps as they go on the wire", () => {
  it("shows a QMP step as QEMU receives it", () => {
    expect(stepWire({ kind: "qmp", command: "device_del", arguments: { id: "nic-1" } })).toBe('{"execute":"device_del","arguments":{"id":"nic-1"}}');
    expect(stepWire({ kind: "qmp", command: "query-pci", arguments: {} })).toBe('{"execute":"query-pci"}');
  });

  it("lists the QMP commands sent inside a node-pass-fd step, one per line", () => {
    const wire = stepWire({
      kind: "node-pass-fd",
      mechanism: "getfd",
      fdnames: ["nic-1-0"],
      commands: [
        { kind: "qmp", command: "netdev_add", arguments: { type: "tap", id: "nic-1", fd: "nic-1-0" }, describe: "x" },
        { kind: "qmp", command: "device_add", arguments: { driver: "virtio-net-pci", id: "nic-1", addr: "0x10" }, describe: "y" },
      ],
    }).split("\n");
    expect(wire[0]).toBe('{"kind":"node-pass-fd","mechanism":"getfd","fdnames":["nic-1-0"]}');
    expect(wire.slice(1)).toEqual([
      '{"execute":"netdev_add","arguments":{"type":"tap","id":"nic-1","fd":"nic-1-0"}}',
      '{"execute":"device_add","arguments":{"driver":"virtio-net-pci","id":"nic-1","addr":"0x10"}}',
    ]);
  });
});
