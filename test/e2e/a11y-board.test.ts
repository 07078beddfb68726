// Accessibility, part two: the fleet and an instance. Chromium drives the
// real UI through the web host against a lab node (sshd, QEMU, a booted
// guest) whose instances cover what the screens show: running, paused,
// stopped, shut down by the guest, a runtime file that does not parse, an
// older generation (upgrade notes), a SCSI disk, and drift (a NIC added on
// the live bus behind the runtime file's back). axe-core audits the fleet,
// the slot board, a keyboard drag in progress, the slot picker, the review,
// progress (QEMU held with SIGSTOP so a running step stays on screen), a
// success and a failure (QEMU refuses a slot taken after the review), the
// activity log and the runtime file, with every WCAG 2.1 A/AA rule.
import { afterAll, beforeAll, expect, it } from "vitest";
import type { Browser, Locator, Page } from "playwright-core";
import { connect } from "node:net";
import { writeFile } from "node:fs/promises";
import { startAppForTest, type AppUnderTest } from "../../electron/web-host/test-harness.js";
import { LabNode } from "../../electron/lab/node.js";
import { buildInstanceRuntime, startLabInstance, type StartedLabInstance } from "../../electron/lab/instances.js";
import { QmpClient } from "../../electron/qmp/client.js";
import { instancePaths } from "../../shared/on-node/layout.js";
import { GuestConsole } from "../lab/guest-console.js";
import { describeWhere, missingPrograms } from "../support/skip.js";
import { CHROMIUM, openInChromium } from "./chromium.js";
import { expectAccessible as audit } from "./axe-audit.js";

const missing = missingPrograms([[CHROMIUM, "chromium"], ["/usr/bin/qemu-system-x86_64", "qemu-system-x86"], ["/usr/sbin/sshd", "openssh-server"]]);

describeWhere(missing, "accessibility of the fleet and the slot board (axe-core, WCAG 2.1 A/AA) in Chromium", () => {
  let node: LabNode;
  let alpha: StartedLabInstance;
  let app: AppUnderTest;
  let browser: Browser;
  let page: Page;
  let guest: GuestConsole;
  const accessible = (screen: string) => audit(page, screen);

  /** A device_add on alpha's live bus through kvmd's socket: the runtime file does not hear of it. */
  async function addBehindTheFilesBack(id: string, addr: string): Promise<void> {
    const q = await QmpClient.connect(connect(alpha.paths.kvmd), { label: alpha.paths.kvmd });
    try {
      await q.execute("device_add", { driver: "virtio-net-pci", id, bus: "pci.0", addr });
    } finally {
      q.close();
    }
  }

  beforeAll(async () => {
    node = await LabNode.start();
    alpha = await startLabInstance(node, { name: "alpha.lab", generation: "C", nics: 1, disks: [{ bus: "pci" }] });
    await startLabInstance(node, { name: "bravo.lab", generation: "B", nics: 1, disks: [], paused: true });
    await startLabInstance(node, { name: "delta.lab", generation: "C", nics: 1, disks: [{ bus: "scsi" }], paused: true });
    for (const name of ["echo.lab", "foxtrot.lab"]) {
      const { text } = await buildInstanceRuntime(node, { name, generation: "C", nics: 1, disks: [] });
      await writeFile(instancePaths(node.root, name).runtime, text, { mode: 0o600 });
    }
    await writeFile(instancePaths(node.root, "foxtrot.lab").shutdown, "");
    await writeFile(instancePaths(node.root, "golf.lab").runtime, "{not json\n", { mode: 0o600 });
    guest = new GuestConsole(connect(alpha.paths.serial));
    await guest.waitReady(90_000);
    await addBehindTheFilesBack("drifter", "0x1f");
    app = await startAppForTest({ node });
    ({ browser, page } = await openInChromium(app.openUrl));
  });

  afterAll(async () => {
    await browser?.close();
    guest?.close();
    await app?.stop();
    await node?.stop();
  });

  const slot = (addr: string): Locator => page.locator(`[data-slot="${addr}"]`);
  const fleetRow = (name: string): Locator => page.locator(`.fleet-row[data-instance="${name}"]`);
  const open = async (name: string) => {
    if ((await page.getByRole("button", { name: "← Instances" }).count()) > 0) await page.getByRole("button", { name: "← Instances" }).click();
    await page.getByRole("button", { name, exact: true }).click();
  };

  it("the fleet: running, paused, stopped, shut down by the guest, a file that does not parse", async () => {
    await expect.poll(() => fleetRow("alpha.lab").textContent(), { timeout: 60_000 }).toContain("running");
    await expect.poll(() => fleetRow("delta.lab").textContent(), { timeout: 30_000 }).toContain("paused");
    expect(await fleetRow("echo.lab").textContent()).toContain("stopped");
    expect(await fleetRow("foxtrot.lab").textContent()).toContain("user-shutdown");
    expect(await fleetRow("golf.lab").textContent()).toContain("file error");
    await expect.poll(() => fleetRow("alpha.lab").locator(".c-drift").textContent(), { timeout: 30_000 }).toMatch(/1/);
    await accessible("fleet");
    await page.getByRole("list", { name: "Nodes" }).getByRole("button", { name: /Lab node/ }).click();
    await page.getByRole("region", { name: "Node Lab node" }).waitFor();
    await accessible("fleet-of-node");
  });

  it("the slot board of a paused instance with a SCSI disk", async () => {
    await open("delta.lab");
    await page.locator('[data-scsi="0"]').waitFor({ timeout: 30_000 });
    expect(await page.locator('[data-scsi="0"]').getAttribute("data-state")).toBe("taken-both");
    await page.locator('[data-scsi="0"]').click();
    await page.getByTestId("details").waitFor();
    await accessible("slot-board-scsi");
  });

  it("the slot board with reserved slots and drift, and the drifting slot's details", async () => {
    await open("alpha.lab");
    await slot("0x10").waitFor({ timeout: 30_000 });
    expect(await slot("0x05").getAttribute("data-state")).toBe("reserved");
    await expect.poll(() => slot("0x1f").getAttribute("class"), { timeout: 30_000 }).toContain("drift");
    await accessible("slot-board-drift");
    await slot("0x1f").click();
    await expect.poll(() => page.getByTestId("details").textContent()).toContain("Drift");
    await accessible("slot-details-drift");
  });

  it("a keyboard drag in progress: the NIC picked up with Space, over a slot", async () => {
    const nic = page.getByTestId("palette-nic").locator(".palette-handle");
    await nic.focus();
    await page.keyboard.press("Space");
    const status = page.getByTestId("drag-status");
    await expect.poll(() => status.textContent()).toContain("Placing new NIC");
    await page.keyboard.press("ArrowLeft");
    await expect.poll(() => status.textContent()).toMatch(/Slot 0x[0-9a-f]{2}/);
    expect(await page.locator("[data-accepts]").count()).toBeGreaterThan(30);
    await accessible("drag-keyboard");
    await page.keyboard.press("Escape");
    await expect.poll(() => status.textContent()).not.toContain("Placing");
  });

  it("the slot picker, with the slots that do not take it shown and why", async () => {
    await page.getByRole("button", { name: "Place NIC at…" }).click();
    const picker = page.getByTestId("slot-picker");
    await picker.getByRole("checkbox").check();
    expect(await picker.textContent()).toContain("reserved");
    await accessible("slot-picker");
    await picker.getByRole("button", { name: "Close dialog" }).click();
  });

  it("review, progress with a step running, and success", async () => {
    await slot("0x10").click();
    await page.getByTestId("details").getByRole("button", { name: "Add NIC here" }).click();
    const dialog = page.getByTestId("review-dialog");
    await dialog.getByRole("button", { name: "Apply" }).waitFor({ timeout: 30_000 });
    await accessible("review");

    // Hold QEMU still the moment the first step starts, so progress stays on screen to be audited.
    const qemu = alpha.process.child.pid!;
    let held = false;
    const unsubscribe = app.app.bus.subscribe((event, payload) => {
      const p = payload as { index?: number; state?: string };
      if (held || event !== "operation.progress" || (p.index ?? -1) < 0 || p.state !== "running") return;
      held = true;
      process.kill(qemu, "SIGSTOP");
    });
    try {
      await dialog.getByRole("button", { name: "Apply" }).click();
      // A step that needs QEMU stays running while it is held: wait until the progress line stops moving.
      const status = dialog.getByRole("status").first();
      let last = "";
      await expect
        .poll(
          async () => {
            const now = (await status.textContent().catch(() => "")) ?? "";
            const steady = now === last;
            last = now;
            return steady && /^Applying… step \d+ of \d+: running/.test(now);
          },
          { interval: 500, timeout: 30_000 },
        )
        .toBe(true);
      expect(held).toBe(true);
      expect(await dialog.locator('.steps [data-state="running"]').count()).toBe(1);
      await accessible("progress");
    } finally {
      unsubscribe();
      if (held) process.kill(qemu, "SIGCONT");
    }
    const outcome = dialog.getByTestId("outcome");
    await outcome.waitFor({ timeout: 60_000 });
    expect(await outcome.getAttribute("data-outcome"), (await outcome.textContent()) ?? "").toBe("succeeded");
    await accessible("outcome-success");
    await dialog.getByRole("button", { name: "Close", exact: true }).click();
    await expect.poll(() => slot("0x10").getAttribute("data-state"), { timeout: 30_000 }).toBe("taken-both");
  });

  it("a failure: QEMU refuses a slot taken after the review; the steps done are undone", async () => {
    await slot("0x11").click();
    await page.getByTestId("details").getByRole("button", { name: "Add NIC here" }).click();
    const dialog = page.getByTestId("review-dialog");
    await dialog.getByRole("button", { name: "Apply" }).waitFor({ timeout: 30_000 });
    await addBehindTheFilesBack("intruder", "0x11");
    await dialog.getByRole("button", { name: "Apply" }).click();
    const outcome = dialog.getByTestId("outcome");
    await outcome.waitFor({ timeout: 60_000 });
    expect(await outcome.getAttribute("data-outcome")).toBe("failed");
    expect(await outcome.textContent()).toMatch(/Undone, in order/);
    // A body that scrolls is reachable with the keyboard.
    const body = dialog.locator(".dialog-body");
    const scrolls = await body.evaluate((el) => el.scrollHeight > el.clientHeight);
    expect(await body.getAttribute("tabindex")).toBe(scrolls ? "0" : null);
    await accessible("outcome-failure");
    await dialog.getByRole("button", { name: "Close", exact: true }).click();
  });

  it("the activity log of the instance (a detail open) and of every node", async () => {
    await page.getByRole("tab", { name: "Activity" }).click();
    const entries = page.locator(".activity-entry");
    await expect.poll(() => entries.count(), { timeout: 30_000 }).toBeGreaterThanOrEqual(2);
    expect(await page.locator('.activity-entry[data-outcome="failed"]').count()).toBeGreaterThanOrEqual(1);
    const detail = page.getByRole("button", { name: "detail" }).first();
    if ((await detail.count()) > 0) await detail.click();
    await accessible("activity-instance");
    await page.getByRole("navigation", { name: "Sidebar" }).getByRole("button", { name: "Activity" }).click();
    await page.getByRole("heading", { name: "Activity on all nodes" }).waitFor();
    await accessible("activity");
  });

  it("the runtime file view, generation C and an older generation B with its upgrade notes", async () => {
    await page.getByRole("navigation", { name: "Sidebar" }).getByRole("button", { name: /^All instances/ }).click();
    await open("alpha.lab");
    await page.getByRole("tab", { name: "Runtime file" }).click();
    const text = page.getByLabel("File text");
    await text.waitFor({ timeout: 30_000 });
    expect(await text.textContent()).toContain("hvinfo");
    await accessible("runtime-file");
    await open("bravo.lab");
    await page.getByRole("tab", { name: "Runtime file" }).click();
    await page.getByText("How the app reads this file").waitFor({ timeout: 30_000 });
    await accessible("runtime-file-notes");
  });
});
