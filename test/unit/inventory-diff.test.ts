import { describe, it, expect } from "vitest";
import { diffInventory } from "../../shared/inventory/diff";

const base = { name: "a", state: "running" as const, generation: "C" as const, nics: 1, disks: 1, driftCount: 0, liveIds: ["disk-1", "nic-1"] };

describe("inventory diff", () => {
  it("says nothing when nothing changed", () => {
    expect(diffInventory([base], [{ ...base, liveIds: ["nic-1", "disk-1"].sort() }])).toEqual([]);
  });

  it("reports a guest that shut itself down", () => {
    const [c] = diffInventory([base], [{ ...base, state: "user-shutdown", liveIds: [] }]);
    expect(c).toMatchObject({ kind: "state-changed", instance: "a", from: "running", to: "user-shutdown" });
    expect(c!.summary).toMatch(/shut itself down/);
  });

  it("reports a device that left the live bus and the drift it leaves", () => {
    const [c] = diffInventory([base], [{ ...base, liveIds: ["disk-1"], driftCount: 1 }]);
    expect(c).toMatchObject({ kind: "devices-changed", instance: "a" });
    expect(c!.summary).toContain("nic-1 left the live bus");
    expect(c!.summary).toContain("drift 0 → 1");
  });

  it("does not read a busy socket as devices leaving", () => {
    expect(diffInventory([base], [{ ...base, state: "busy", liveIds: [] }]).map((c) => c.kind)).toEqual(["state-changed"]);
  });

  it("reports instances that appear and disappear", () => {
    const kinds = diffInventory([base], [{ ...base, name: "b" }]).map((c) => `${c.kind}:${c.instance}`);
    expect(kinds.sort()).toEqual(["instance-added:b", "instance-removed:a"]);
  });
});
