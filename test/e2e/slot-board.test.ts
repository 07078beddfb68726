// End to end: Chromium drives the real UI, served by the real web host,
// against a real lab node (sshd, QEMU, a booted guest). Nothing is faked:
// the guest itself confirms where a hot-plugged NIC landed.
import { afterAll, beforeAll, expect, it } from "vitest";
import { chromium, type Browser, type Locator, type Page } from "playwright-core";
import { connect } from "node:net";
import { copyFile, mkdir, readFile } from "node:fs/promises";
import { startAppForTest, type AppUnderTest } from "../../electron/web-host/test-harness.js";
import { LabNode } from "../../electron/lab/node.js";
import { startLabInstance, type StartedLabInstance } from "../../electron/lab/instances.js";
import { descendantsOf } from "../../electron/lab/processes.js";
import { GuestConsole } from "../lab/guest-console.js";
import { readRuntime } from "../../shared/runtime/index.js";
import { describeWhere, missingPrograms } from "../support/skip.js";

const SHOTS = "test-results/screenshots";
const CHROMIUM = "/usr/bin/chromium";
const missing = missingPrograms([[CHROMIUM, "chromium"], ["/usr/bin/qemu-system-x86_64", "qemu-system-x86"], ["/usr/sbin/sshd", "openssh-server"]]);

interface WireEvent {
  event: string;
  payload: { planId?: string; state?: string; index?: number; outcome?: string };
}

describeWhere(missing, "slot board in Chromium against a lab node", () => {
  let node: LabNode;
  let alpha: StartedLabInstance;
  let app: AppUnderTest;
  let browser: Browser;
  let page: Page;
  let guest: GuestConsole;
  const events: WireEvent[] = [];

  beforeAll(async () => {
    await mkdir(SHOTS, { recursive: true });
    node = await LabNode.start();
    alpha = await startLabInstance(node, { name: "alpha.lab", generation: "C", nics: 1, disks: [{ bus: "pci" }] });
    await startLabInstance(node, { name: "delta.lab", generation: "C", nics: 1, disks: [{ bus: "scsi" }], paused: true });
    guest = new GuestConsole(connect(alpha.paths.serial));
    await guest.waitReady(90_000);
    app = await startAppForTest({ node });
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--no-first-run", "--disable-sync"],
    });
    page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    page.on("pageerror", (e) => console.error("page error:", e.message));
    // What the host pushed to the page: lets a test see a state that passes in milliseconds.
    page.on("websocket", (ws) =>
      ws.on("framereceived", (f) => {
        try {
          const m = JSON.parse(String(f.payload)) as { type?: string } & WireEvent;
          if (m.type === "event") events.push({ event: m.event, payload: m.payload });
        } catch {
          // not JSON: ignore
        }
      }),
    );
    await page.goto(app.openUrl);
  });

  afterAll(async () => {
    await browser?.close();
    guest?.close();
    await app?.stop();
    await node?.stop();
  });

  const slot = (addr: string): Locator => page.locator(`[data-slot="${addr}"]`);
  /** A slot's accessible description: what it is and why (its name is its visible text). */
  const described = (cell: Locator): Promise<string> =>
    cell.evaluate((el) =>
      (el.getAttribute("aria-describedby") ?? "")
        .split(/\s+/)
        .map((id) => document.getElementById(id)?.textContent ?? "")
        .filter(Boolean)
        .join(" "),
    );
  const shot = (name: string) => page.screenshot({ path: `${SHOTS}/${name}.png` });

  /** A pointer drag with enough intermediate moves for dnd-kit to activate and track. */
  async function dragTo(source: Locator, target: Locator, opts: { beforeDrop?: () => Promise<void> } = {}): Promise<void> {
    const s = (await source.boundingBox())!;
    await page.mouse.move(s.x + 16, s.y + s.height / 2);
    await page.mouse.down();
    await page.mouse.move(s.x + 40, s.y + s.height / 2 + 20, { steps: 5 });
    const t = (await target.boundingBox())!;
    await page.mouse.move(t.x + t.width / 2, t.y + t.height / 2, { steps: 12 });
    await page.waitForTimeout(150);
    await opts.beforeDrop?.();
    await page.mouse.up();
  }

  /** Records every step state the review dialog renders (some last only milliseconds). */
  async function recordStepStates(): Promise<void> {
    await page.evaluate(() => {
      const w = window as unknown as { __states: string[]; __obs?: MutationObserver };
      w.__states = [];
      w.__obs?.disconnect();
      const note = () => document.querySelectorAll<HTMLElement>(".steps [data-state]").forEach((el) => w.__states.push(el.dataset.state ?? ""));
      w.__obs = new MutationObserver(note);
      w.__obs.observe(document.body, { subtree: true, childList: true, attributes: true, attributeFilter: ["data-state"] });
    });
  }
  const seenStates = () => page.evaluate(() => (window as unknown as { __states: string[] }).__states);

  it("fleet view lists the lab's instances with state, generation and QEMU version", async () => {
    const row = page.locator('.fleet-row[data-instance="alpha.lab"]');
    await row.waitFor({ timeout: 60_000 });
    await expect.poll(() => row.textContent(), { timeout: 30_000 }).toContain("running");
    expect(await row.textContent()).toMatch(/C\s*7\.\d+/);
    await expect.poll(() => page.locator('.fleet-row[data-instance="delta.lab"]').textContent(), { timeout: 30_000 }).toContain("paused");
    await page.getByRole("searchbox", { name: "Search instances" }).fill("delta");
    expect(await page.locator(".fleet-row[data-instance]").count()).toBe(1);
    await page.getByRole("searchbox", { name: "Search instances" }).fill("");
    await shot("fleet-view");
  });

  it("slot board: reserved slots say why, devices show kind, id and guest address, SCSI targets appear", async () => {
    await page.getByRole("button", { name: "delta.lab" }).click();
    await page.locator('[data-scsi="0"]').waitFor({ timeout: 30_000 });
    expect(await described(page.locator('[data-scsi="0"]'))).toMatch(/^SCSI target 0, in use by disk-/);
    await shot("slot-board-scsi");

    await page.getByRole("button", { name: "← Instances" }).click();
    await page.getByRole("button", { name: "alpha.lab" }).click();
    await slot("0x10").waitFor({ timeout: 30_000 });
    expect(await described(slot("0x10"))).toBe("Slot 0x10, free");
    expect(await described(slot("0x05"))).toMatch(/^Slot 0x05, reserved: Ganeti keeps the first 12 slots/);
    const disk = slot("0x0c");
    expect(await disk.getAttribute("data-state")).toBe("taken-both");
    expect(await disk.textContent()).toContain("virtio-blk-pci");
    expect(await disk.textContent()).toContain("00:0c.0");
    expect(await slot("0x0d").textContent()).toMatch(/NIC.*virtio-net-pci.*nic-.*aa:00:00/);
    await shot("slot-board");
    // The README's screenshot is refreshed on purpose (npm run screenshot), not by every test run.
    if (process.env.UPDATE_SCREENSHOT === "1") {
      await mkdir("docs", { recursive: true });
      await copyFile(`${SHOTS}/slot-board.png`, "docs/screenshot.png");
    }
  });

  it("a reserved slot refuses a NIC and says why, while dragging and after the drop", async () => {
    const nic = page.getByTestId("palette-nic").locator(".palette-handle");
    let reason = "";
    await dragTo(nic, slot("0x05"), {
      beforeDrop: async () => {
        expect(await slot("0x05").getAttribute("data-accepts")).toBe("false");
        expect(await slot("0x10").getAttribute("data-accepts")).toBe("true");
        reason = (await page.getByTestId("over-reason").textContent()) ?? "";
        await shot("drag-over-reserved");
      },
    });
    expect(reason).toContain("Slot 0x05 is reserved");
    expect(await page.getByTestId("refusal").textContent()).toContain("Slot 0x05 is reserved");
    expect(await page.getByTestId("review-dialog").count()).toBe(0);
  });

  it("drag a NIC to slot 0x10, review the QMP steps, apply: success, and the guest sees 0000:00:10.0", async () => {
    const nic = page.getByTestId("palette-nic").locator(".palette-handle");
    await dragTo(nic, slot("0x10"), { beforeDrop: async () => void (await shot("drag-in-progress")) });
    const dialog = page.getByTestId("review-dialog");
    await dialog.getByRole("button", { name: "Apply" }).waitFor({ timeout: 30_000 });
    const text = (await dialog.textContent()) ?? "";
    expect(text).toContain('"execute":"device_add"');
    expect(text).toContain('"addr":"0x10"');
    expect(text).toContain("0000:00:10.0");
    expect(await dialog.getByLabel("Runtime file diff").textContent()).toMatch(/^\+ nics\[1\]: nic-.* at pci\.0 slot 0x10/);
    // A node of no Ganeti cluster: the review labels the change runtime only, says why, and offers no other way.
    const recording = dialog.getByTestId("recording");
    expect(await recording.getAttribute("data-mode")).toBe("runtime-only");
    expect(await recording.textContent()).toMatch(/^Runtime only Runtime only: the node belongs to no Ganeti cluster/);
    expect(await recording.getByRole("checkbox").count()).toBe(0);
    await shot("review-dialog");

    const fileBefore = await readFile(alpha.paths.runtime, "utf8");
    await recordStepStates();
    await dialog.getByRole("button", { name: "Apply" }).click();
    const outcome = dialog.getByTestId("outcome");
    await outcome.waitFor({ timeout: 60_000 });
    expect(await outcome.getAttribute("data-outcome")).toBe("succeeded");
    expect(await seenStates()).toEqual(expect.arrayContaining(["running", "done"]));
    await shot("progress-success");

    const seen = await guest.waitForPci((list) => list.some((f) => f.address === "0000:00:10.0"), 30_000);
    expect(seen.find((f) => f.address === "0000:00:10.0")?.vendorDevice).toBe("1af4:1000");
    expect(await readFile(alpha.paths.runtime, "utf8")).not.toBe(fileBefore);

    await dialog.getByRole("button", { name: "Close", exact: true }).click();
    await expect.poll(() => slot("0x10").getAttribute("data-state"), { timeout: 30_000 }).toBe("taken-both");
    expect(await slot("0x10").textContent()).toContain("00:10.0");
  });

  it("keyboard: Space picks up the NIC, arrows move between slots, Space drops; 'Place NIC at…' offers only slots that take it", async () => {
    const nic = page.getByTestId("palette-nic").locator(".palette-handle");
    await nic.focus();
    await page.keyboard.press("Space");
    const status = page.getByTestId("drag-status");
    await expect.poll(() => status.textContent()).toContain("Placing new NIC");
    // From the palette, Left reaches the board; then walk until a free slot is under us.
    let over = "";
    for (let i = 0; i < 12 && !/accepts it/.test(over); i++) {
      await page.keyboard.press(i === 0 ? "ArrowLeft" : "ArrowDown");
      await page.waitForTimeout(60);
      over = (await status.textContent()) ?? "";
    }
    expect(over).toMatch(/Slot 0x[0-9a-f]{2} accepts it/);
    await page.keyboard.press("Space");
    const dialog = page.getByTestId("review-dialog");
    await dialog.getByRole("button", { name: "Cancel" }).waitFor({ timeout: 30_000 });
    expect(await dialog.locator("h2").textContent()).toMatch(/^Add a NIC at slot 0x/);
    await dialog.getByRole("button", { name: "Cancel" }).click();

    await page.getByRole("button", { name: "Place NIC at…" }).click();
    const picker = page.getByTestId("slot-picker");
    const names = await picker.locator(".pick-list .pick-name").allTextContents();
    expect(names).toContain("Slot 0x11");
    expect(names).not.toContain("Slot 0x10");
    expect(names).not.toContain("Slot 0x05");
    await picker.getByRole("button", { name: "Close dialog" }).click();
  });

  it("unplug by dragging the NIC onto Remove: waits for the guest to release it, then the slot is free", async () => {
    await dragTo(slot("0x10"), page.getByTestId("remove-zone"));
    const dialog = page.getByTestId("review-dialog");
    await dialog.getByRole("button", { name: "Apply" }).waitFor({ timeout: 30_000 });
    expect(await dialog.textContent()).toContain('"execute":"device_del"');
    await recordStepStates();
    const from = events.length;
    await dialog.getByRole("button", { name: "Apply" }).click();
    const outcome = dialog.getByTestId("outcome");
    await outcome.waitFor({ timeout: 60_000 });
    expect(await outcome.getAttribute("data-outcome")).toBe("succeeded");
    const states = events.slice(from).filter((e) => e.event === "operation.progress").map((e) => e.payload.state);
    expect(states).toContain("waiting-guest");
    expect(await seenStates()).toContain("waiting-guest");
    await shot("unplug-success");
    await guest.waitForPci((list) => !list.some((f) => f.address === "0000:00:10.0"), 30_000);
    await dialog.getByRole("button", { name: "Close", exact: true }).click();
    await expect.poll(() => slot("0x10").getAttribute("data-state"), { timeout: 30_000 }).toBe("free");
  });

  it("keyboard: Enter on a slot selects it; 'Move to…' moves its NIC to another slot and 'Unplug…' unplugs it; the guest sees each", async () => {
    const press = async (target: Locator) => {
      await target.focus();
      await page.keyboard.press("Enter");
    };
    const details = page.getByTestId("details");
    const dialog = page.getByTestId("review-dialog");
    const apply = async (title: RegExp, execute: string[]) => {
      const button = dialog.getByRole("button", { name: "Apply" });
      await button.waitFor({ timeout: 30_000 });
      expect(await dialog.locator("h2").textContent()).toMatch(title);
      const text = (await dialog.textContent()) ?? "";
      for (const e of execute) expect(text).toContain(`"execute":"${e}"`);
      await press(button);
      const outcome = dialog.getByTestId("outcome");
      await outcome.waitFor({ timeout: 60_000 });
      expect(await outcome.getAttribute("data-outcome"), (await outcome.textContent()) ?? "").toBe("succeeded");
      await press(dialog.getByRole("button", { name: "Close", exact: true }));
    };
    const guestHas = (address: string, present: boolean) => guest.waitForPci((list) => list.some((f) => f.address === address) === present, 30_000);

    // A NIC at 0x10 to work on, added from the slot's details.
    await press(slot("0x10"));
    await press(details.getByRole("button", { name: "Add NIC here" }));
    await apply(/^Add a NIC at slot 0x10/, ["device_add"]);
    await guestHas("0000:00:10.0", true);
    await expect.poll(() => slot("0x10").getAttribute("data-state"), { timeout: 30_000 }).toBe("taken-both");

    // Move to…: the picker lists the slots that take it; Enter on 0x11.
    await press(slot("0x10"));
    await press(details.getByRole("button", { name: "Move to…" }));
    const picker = page.getByTestId("slot-picker");
    await press(picker.locator(".pick-row", { has: page.locator(".pick-name", { hasText: /^Slot 0x11$/ }) }));
    await apply(/^Move .* at slot 0x11/, ["device_del", "device_add"]);
    await guestHas("0000:00:11.0", true);
    await guestHas("0000:00:10.0", false);
    await expect.poll(() => slot("0x11").getAttribute("data-state"), { timeout: 30_000 }).toBe("taken-both");
    await expect.poll(() => slot("0x10").getAttribute("data-state"), { timeout: 30_000 }).toBe("free");

    // Unplug…: waits for the guest to release it, then the slot is free.
    await press(slot("0x11"));
    await press(details.getByRole("button", { name: "Unplug…" }));
    await apply(/^Unplug /, ["device_del"]);
    await guestHas("0000:00:11.0", false);
    await expect.poll(() => slot("0x11").getAttribute("data-state"), { timeout: 30_000 }).toBe("free");
    const file = readRuntime(await readFile(alpha.paths.runtime, "utf8")).runtime;
    expect(file.nics.map((n) => n.hvinfo?.addr)).not.toContain("0x11");
  });

  it("a SCSI disk on an instance without a SCSI controller: the plan adds the controller, and both are recorded", async () => {
    const link = await node.createDisk("alpha.lab", 7, 16);
    await page.getByLabel("Disk path on the node").fill(link);
    await page.getByLabel("Disk bus").selectOption("scsi");
    const target = page.locator('[data-scsi="0"]');
    await target.waitFor({ timeout: 10_000 });
    // lsi addresses targets 0-6 only, so the board offers no more.
    expect(await page.locator("[data-scsi]").count()).toBe(7);
    // The button path (a pointer drag near the window's edge auto-scrolls the board).
    await page.getByRole("button", { name: "Place disk at…" }).click();
    const picker = page.getByTestId("slot-picker");
    await picker.locator(".pick-list .pick-row", { hasText: /target 0\b|T0\b/ }).first().click();
    const dialog = page.getByTestId("review-dialog");
    await dialog.getByRole("button", { name: "Apply" }).waitFor({ timeout: 30_000 });
    const text = (await dialog.textContent()) ?? "";
    expect(text).toContain('"driver":"lsi"');
    expect(text).toContain('"driver":"scsi-hd"');
    await dialog.getByRole("button", { name: "Apply" }).click();
    const outcome = dialog.getByTestId("outcome");
    await outcome.waitFor({ timeout: 60_000 });
    expect(await outcome.getAttribute("data-outcome"), (await outcome.textContent()) ?? "").toBe("succeeded");
    const file = readRuntime(await readFile(alpha.paths.runtime, "utf8")).runtime;
    expect(file.kvmCmd.join(" ")).toMatch(/-device lsi,id=scsi,bus=pci\.0,addr=0x/);
    expect(file.disks.some((d) => d.disk.hvinfo?.bus === "scsi.0" && d.disk.hvinfo?.["scsi-id"] === 0)).toBe(true);
    await dialog.getByRole("button", { name: "Close", exact: true }).click();
    await expect.poll(() => target.getAttribute("data-state"), { timeout: 30_000 }).toBe("taken-both");
  });

  it("the SSH connection drops mid-operation: a clear error, and the runtime file is unchanged", async () => {
    await slot("0x12").click();
    await page.getByTestId("details").getByRole("button", { name: "Add NIC here" }).click();
    const dialog = page.getByTestId("review-dialog");
    await dialog.getByRole("button", { name: "Apply" }).waitFor({ timeout: 30_000 });
    const fileBefore = await readFile(alpha.paths.runtime);

    // Cut every SSH connection the moment the executor reports its first step
    // running. The cut happens in the app's own event listener, synchronously:
    // a whole NIC add can finish before the browser has even seen that event.
    const sshdPid = node.sshd.process.child.pid!;
    const connected = await descendantsOf(sshdPid);
    const killAll = (pids: number[]) => {
      for (const pid of pids) {
        try {
          process.kill(pid, "SIGKILL");
        } catch {
          // already gone
        }
      }
    };
    let cutAt: string | null = null;
    const unsubscribe = app.app.bus.subscribe((event, payload) => {
      if (cutAt !== null || event !== "operation.progress") return;
      const p = payload as { index?: number; state?: string; describe?: string };
      if ((p.index ?? -1) < 0 || p.state !== "running") return;
      cutAt = p.describe ?? "?";
      killAll(connected);
      // And whatever the connection started since (lock, helper).
      void descendantsOf(sshdPid).then(killAll);
    });
    await dialog.getByRole("button", { name: "Apply" }).click();
    const outcome = dialog.getByTestId("outcome");
    await outcome.waitFor({ timeout: 90_000 });
    unsubscribe();
    expect(cutAt).not.toBeNull();
    expect(await outcome.getAttribute("data-outcome")).not.toBe("succeeded");
    const message = (await outcome.textContent()) ?? "";
    expect(message).toMatch(/Failed|unknown/);
    console.log(`connection cut while running "${cutAt}"; the UI said: ${message}`);
    await shot("error-connection-dropped");
    expect((await readFile(alpha.paths.runtime)).equals(fileBefore)).toBe(true);
    await dialog.getByRole("button", { name: "Close", exact: true }).click();
  });
});
