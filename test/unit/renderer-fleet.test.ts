// Fleet list: search/filter, the visible window, and that a 500-instance
// list renders only about a screenful of rows.
import { describe, expect, it } from "vitest";
import { createElement } from "react";
import { renderToString } from "react-dom/server";
import type { InstanceSummary } from "../../shared/inventory/view";
import { filterFleet, visibleWindow } from "../../renderer/src/lib/fleet";
import { FleetTable, ROW_HEIGHT, renderStats } from "../../renderer/src/components/FleetView";
import { nextTarget, type Rect } from "../../renderer/src/lib/keyboard-nav";
import { fieldErrors, addNodeRequest } from "../../renderer/src/components/AddNodeForm";

function fleet(n: number): InstanceSummary[] {
  const states: InstanceSummary["state"][] = ["running", "running", "paused", "stopped", "busy"];
  return Array.from({ length: n }, (_, i) => ({
    node: i % 3 === 0 ? "n1" : "n2",
    name: `vm${String(i).padStart(3, "0")}.lab`,
    state: states[i % states.length]!,
    qemuVersion: i % 2 ? "7.2.0" : "8.2.1",
    generation: "C",
    nics: 1,
    disks: 2,
    driftCount: i % 50 === 0 ? 1 : 0,
  }));
}

describe("fleet filter", () => {
  const list = fleet(500);
  it("filters by node, state and every search word", () => {
    expect(filterFleet(list, { text: "", state: "all", nodeId: null })).toHaveLength(500);
    expect(filterFleet(list, { text: "", state: "all", nodeId: "n1" })).toHaveLength(167);
    expect(filterFleet(list, { text: "", state: "drift", nodeId: null })).toHaveLength(10);
    expect(filterFleet(list, { text: "", state: "not-running", nodeId: null }).every((s) => s.state !== "running" && s.state !== "paused")).toBe(true);
    expect(filterFleet(list, { text: "vm01 8.2", state: "all", nodeId: null }).map((s) => s.name)).toEqual(
      ["vm010.lab", "vm012.lab", "vm014.lab", "vm016.lab", "vm018.lab"],
    );
  });
});

describe("visible window", () => {
  it("covers the viewport plus overscan and clamps at both ends", () => {
    expect(visibleWindow(0, 340, 34, 500, 6)).toEqual({ start: 0, end: 17 });
    expect(visibleWindow(34 * 100, 340, 34, 500, 6)).toEqual({ start: 94, end: 117 });
    expect(visibleWindow(34 * 495, 340, 34, 500, 6)).toEqual({ start: 489, end: 500 });
    expect(visibleWindow(0, 340, 34, 0)).toEqual({ start: 0, end: 0 });
  });

  it("renders about a screenful of the 500 rows, not all of them", () => {
    renderStats.rows = 0;
    const html = renderToString(createElement(FleetTable, { list: fleet(500), nodeNames: new Map(), onOpen: () => {}, initialHeight: 20 * ROW_HEIGHT }));
    expect(renderStats.rows).toBeLessThanOrEqual(30);
    expect(renderStats.rows).toBeGreaterThanOrEqual(20);
    expect(html).toContain('aria-rowcount="501"');
    expect(html).toContain(`height:${500 * ROW_HEIGHT}px`);
  });
});

describe("keyboard drag navigation", () => {
  // A 4-column grid of 100x50 cells with 10 px gaps, plus a Remove zone to the right.
  const cells: [string, Rect][] = [];
  for (let i = 0; i < 8; i++) cells.push([`pci:${i}`, { left: (i % 4) * 110, top: Math.floor(i / 4) * 60, width: 100, height: 50 }]);
  cells.push(["remove", { left: 500, top: 0, width: 200, height: 60 }]);
  const at = (id: string) => cells.find(([k]) => k === id)![1];

  it("jumps to the neighbouring slot in the arrow's direction", () => {
    expect(nextTarget(at("pci:0"), cells, "right")).toBe("pci:1");
    expect(nextTarget(at("pci:0"), cells, "down")).toBe("pci:4");
    expect(nextTarget(at("pci:5"), cells, "up")).toBe("pci:1");
    expect(nextTarget(at("pci:5"), cells, "left")).toBe("pci:4");
    expect(nextTarget(at("pci:3"), cells, "right")).toBe("remove");
    expect(nextTarget(at("pci:0"), cells, "up")).toBeNull();
  });
});

describe("add-node form", () => {
  const base = { host: "node1.example.org", port: "22", user: "root", auth: "agent" as const, keyPath: "", root: "/", name: "", ganetiVersion: "", proxyJump: "", proxyCommand: "" };
  it("passes a good form and builds the request main expects", () => {
    expect(fieldErrors(base)).toEqual({});
    expect(addNodeRequest(base)).toEqual({ host: "node1.example.org", port: "22", user: "root", agent: true, root: "/" });
    expect(addNodeRequest({ ...base, auth: "key", keyPath: "~/.ssh/id_ed25519" })).toMatchObject({ keyPath: "~/.ssh/id_ed25519" });
  });
  it("shows the schema's messages per field", () => {
    expect(fieldErrors({ ...base, host: "" }).host).toMatch(/^host is required/);
    expect(fieldErrors({ ...base, port: "99999" }).port).toMatch(/^port must be a whole number from 1 to 65535/);
    expect(fieldErrors({ ...base, user: "9bad user" }).user).toMatch(/^user must be a login name/);
    expect(fieldErrors({ ...base, root: "srv/../x/" }).root).toMatch(/^root must be an absolute path/);
    expect(fieldErrors({ ...base, auth: "key", keyPath: "" }).keyPath).toMatch(/^keyPath must not be empty/);
    expect(fieldErrors({ ...base, ganetiVersion: "three" }).ganetiVersion).toBeTruthy();
    expect(addNodeRequest({ ...base, ganetiVersion: "2.15.2" })).toMatchObject({ ganetiVersion: "2.15.2" });
  });
  it("takes a jump host or a ProxyCommand, refuses shell syntax and both at once", () => {
    expect(addNodeRequest({ ...base, proxyJump: " admin@bastion:2222 " })).toMatchObject({ proxyJump: "admin@bastion:2222" });
    expect(addNodeRequest(base)).not.toHaveProperty("proxyCommand");
    expect(fieldErrors({ ...base, proxyCommand: "ssh -W %h:%p bastion" })).toEqual({});
    expect(fieldErrors({ ...base, proxyCommand: "nc %h %p | cat" }).proxyCommand).toMatch(/needs a shell/);
    expect(fieldErrors({ ...base, proxyJump: "bastion:0" }).proxyJump).toMatch(/not a port/);
    expect(fieldErrors({ ...base, proxyJump: "bastion", proxyCommand: "nc %h %p" }).proxyCommand).toMatch(/both given/);
  });
});
