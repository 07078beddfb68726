// The three-way details block offers the repairs that fit the device, as
// buttons described by what they do; a NIC only on the live bus is recorded
// once its MAC and link are given (the button waits for them).
import { createElement } from "react";
import { renderToString } from "react-dom/server";
import { describe, expect, it } from "vitest";
import { ThreeWayBlock } from "../../renderer/src/components/ThreeWay";
import { combinationOf, describePresence, type Presence, type ThreeWayDevice } from "../../shared/inventory/three-way";

function device(where: Presence, extra: Partial<ThreeWayDevice> = {}): ThreeWayDevice {
  return { kind: "nic", uuid: "5f0c6b1e-2d3a-4b5c-8d7e-9f0a1b2c3d4e", id: "nic-5f0c6b1e-2d3a-4b5c", slot: 0x12, where, combination: combinationOf(where), ...describePresence(where, true), ...extra };
}
const render = (t: ThreeWayDevice) => renderToString(createElement(ThreeWayBlock, { t, onRepair: () => {} }));
/** The buttons as [words, disabled]. */
const buttons = (html: string) => [...html.matchAll(/<button type="button"( disabled="")?[^>]*>([^<]*)<\/button>/g)].map((m) => [m[2], m[1] !== undefined]);

describe("repairs in the three-way details block", () => {
  it("offers adopt for a NIC live and in the runtime file only, described by what it does", () => {
    const html = render(device({ config: false, file: true, live: true }));
    expect(buttons(html)).toEqual([["Adopt into Ganeti", false]]);
    const describedBy = /aria-describedby="([^"]+)"/.exec(html)![1]!;
    expect(html).toMatch(new RegExp(`id="${describedBy}"[^>]*>(?:[^<]|<!-- -->)*Ganeti records the NIC \\(same MAC and link\\)`));
    expect(html).toContain('role="group" aria-label="Repairs for');
  });

  it("asks for the MAC and link before recording a NIC only on the live bus; unplug needs nothing", () => {
    const html = render(device({ config: false, file: false, live: true }, { uuid: undefined as never, id: "nic-0a0a0a0a-0000-4000" }));
    expect(buttons(html)).toEqual([
      ["Record in the runtime file", true],
      ["Unplug", false],
    ]);
    expect(html).toContain('aria-label="MAC of');
    expect(html).toContain('aria-label="Link of');
    expect(html).toContain("Give its MAC and link first");
  });

  it("records from Ganeti's configuration without asking, where it has the NIC", () => {
    const html = render(device({ config: true, file: false, live: true }));
    expect(buttons(html)).toEqual([
      ["Record in the runtime file", false],
      ["Unplug", false],
    ]);
    expect(html).not.toContain('aria-label="MAC of');
  });

  it("offers nothing where all three agree, or where Ganeti's configuration was not read", () => {
    expect(render(device({ config: true, file: true, live: true }))).not.toContain("<button");
    expect(render(device({ config: null, file: true, live: true }))).not.toContain("<button");
  });
});
