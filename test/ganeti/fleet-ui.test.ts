// The cluster in the UI, end to end: Debian's Chromium drives the real UI
// through the web host against the lab's real two-node Ganeti 3.0.2
// cluster. Node 1 is added through the add-node form (its ProxyCommand,
// its host key trusted with the web host's one-time code); the app finds it
// in a cluster and offers node 2 with the same settings, beside the host key
// the cluster's known_hosts lists; node 2 is added and its key trusted the
// same way. The fleet is then the tree cluster -> group -> node -> instance
// with the master, each node's version and where it came from, and each
// instance's free capacity; a NIC hot-added from the slot board (runtime
// file only) is shown as live and in the runtime file, not in Ganeti's
// configuration, with its consequence, and the fleet's device filter counts
// it. A disk of a size added from the board is created and recorded by
// Ganeti first; unplugging it asks whether its storage goes. axe-core
// audits every new screen (WCAG 2.1 A/AA, no violation).
import { afterAll, beforeAll, expect, it } from "vitest";
import type { Browser, Locator, Page } from "playwright-core";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { ComposedApp } from "../../electron/app/compose.js";
import type { WebHost } from "../../electron/web-host/server.js";
import { addInstance } from "../../electron/lab/ganeti/cluster.js";
import { deviceIdV2 } from "../../shared/runtime/index.js";
import { serveInChromium } from "../e2e/chromium.js";
import { expectAccessible } from "../e2e/axe-audit.js";
import { N1, N2, composeWebApp, describeGaneti, fingerprintOfLine, gntOut, labNodeInfo, livePci, openNode } from "./ganeti-fixture.js";

const ON_1 = "ui1";
const ON_2 = "ui2";
const CONSEQUENCE = "Live and in the runtime file, not in Ganeti's configuration: Ganeti drops it at the next shutdown/startup of this instance; a soft reboot or a migration keeps it.";

describeGaneti("the cluster in the UI: added from one node, the fleet as a tree, devices three ways", (lab) => {
  let dir: string;
  let app: ComposedApp;
  let host: WebHost;
  let browser: Browser;
  let page: Page;
  const terminal: string[] = [];
  const accessible = (screen: string) => expectAccessible(page, `cluster-${screen}`);
  const rsaLine = lab.knownHostsLines.find((l) => l.includes(" ssh-rsa "))!;
  /** The newest one-time code the web host printed in its terminal. */
  const lastCode = () => [...terminal.join("").matchAll(/\n {4}(\d{4} \d{4})\n/g)].at(-1)![1]!;
  const treeRow = (attr: string, value: string): Locator => page.getByRole("tree").locator(`[${attr}="${value}"]`);

  /** Trusts the unknown host key the open dialog shows, with the code from the web host's terminal. */
  async function trustWithCode(dialog: Locator): Promise<void> {
    await dialog.getByRole("button", { name: "Trust and connect" }).click();
    const field = dialog.getByLabel("One-time code");
    await field.waitFor({ timeout: 30_000 });
    await field.fill(lastCode());
    await dialog.getByRole("button", { name: "Confirm code and trust" }).click();
    await dialog.waitFor({ state: "detached", timeout: 30_000 });
  }

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "hd-ganeti-ui-"));
    await addInstance({ name: ON_1, node: 1, template: "sharedfile", diskMiB: 16, nics: 1 });
    await addInstance({ name: ON_2, node: 2, template: "diskless", nics: 1 });
    // As the web host runs it: codes to its terminal, the user's own known_hosts left out.
    app = await composeWebApp(dir, terminal);
    ({ host, browser, page } = await serveInChromium(app));
  });

  afterAll(async () => {
    await browser?.close();
    await host?.close();
    await app?.dispose();
    for (const name of [ON_1, ON_2]) await gntOut("gnt-instance", "remove", "-f", "--shutdown-timeout=0", name).catch(() => undefined);
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("node 1, added through the form and trusted with the code, is found in its cluster: node 2 is offered with its address, group, role and the key the cluster lists", async () => {
    const n1 = labNodeInfo("node1");
    await page.getByRole("button", { name: "Add a node" }).click();
    const form = page.getByRole("form", { name: "Add node" });
    await form.getByLabel("Host", { exact: true }).fill(n1.ip);
    await form.getByLabel("User", { exact: true }).fill("root");
    await form.getByRole("radio", { name: "Key file" }).check();
    await form.getByRole("textbox", { name: "Key file" }).fill(n1.ssh.privateKeyPath);
    await form.getByLabel("ProxyCommand (optional)").fill(n1.ssh.proxyCommand);
    await form.getByLabel("Display name (optional)").fill("node1");
    await form.getByRole("button", { name: "Add node" }).click();
    const panel = page.getByRole("region", { name: "Node node1" });
    await panel.getByRole("button", { name: "Review host key…" }).click({ timeout: 60_000 });
    await trustWithCode(page.getByTestId("host-key-dialog"));

    const offer = page.getByRole("region", { name: `This node is in cluster ${lab.cluster} with 1 other node: add them with the same settings` });
    await offer.waitFor({ timeout: 60_000 });
    const row = offer.locator(`tr[data-node="${N2}"]`);
    const cells = await row.locator("th, td").allTextContents();
    expect(cells.slice(1, 5)).toEqual([N2, `${lab.nodes[1]!.ip}:22`, "default", "◆ candidate"]);
    expect(cells[5]).toBe(`ssh-rsa ${fingerprintOfLine(rsaLine)}`);
    expect(cells[6]).toBe("not added");
    expect(await row.getByRole("checkbox", { name: `Add ${N2}` }).isChecked()).toBe(true);
    expect(await offer.textContent()).toContain(`through the ProxyCommand ${n1.ssh.proxyCommand}`);
    await accessible("offer");
  });

  it("before node 2 is added, all instances shows it in the tree, not added, its instance known by Ganeti's configuration alone, and a line leading to the offer", async () => {
    await page.getByRole("button", { name: /^All instances/ }).click();
    await expect.poll(() => treeRow("data-instance", ON_2).count(), { timeout: 60_000 }).toBe(1);
    expect(await treeRow("data-node", N2).textContent()).toContain("version not read: not one of the app's nodes");
    expect(await treeRow("data-node", N2).textContent()).toContain("not added");
    expect(await treeRow("data-instance", ON_2).getByTestId("capacity").textContent()).toBe("capacity not read");
    // It cannot be opened: the app does not read its node.
    expect(await treeRow("data-instance", ON_2).getByRole("button").count()).toBe(0);
    const hint = page.getByRole("status").filter({ hasText: `Cluster ${lab.cluster} has 1 node the app does not have yet (${N2})` });
    await accessible("tree-node-missing");
    await hint.getByRole("button", { name: "Add it…" }).click();
  });

  it("adds node 2 with the same settings; its host key is trusted through the code, shown beside the key the cluster lists", async () => {
    const offer = page.getByTestId("cluster-offer");
    await offer.getByRole("button", { name: "Add 1 node with these settings" }).click();
    const row = offer.locator(`tr[data-node="${N2}"]`);
    await row.getByRole("button", { name: "Review host key…" }).click({ timeout: 60_000 });
    const dialog = page.getByTestId("host-key-dialog");
    expect(await dialog.getByTestId("expected-host-key").textContent()).toContain(`ssh-rsa ${fingerprintOfLine(rsaLine)}`);
    expect(await dialog.getByTestId("expected-verdict").textContent()).toContain("The node presents the key its Ganeti cluster lists");
    expect(await dialog.locator("code.fingerprint").first().textContent()).toBe(fingerprintOfLine(rsaLine));
    await accessible("host-key-expected");
    await trustWithCode(dialog);
    // Once node 2 is connected the offer has nothing left to do, and says so in a line.
    await expect.poll(() => page.getByTestId("cluster-line").textContent(), { timeout: 60_000 }).toBe(`In Ganeti cluster ${lab.cluster} (master ${N1}); all 1 other node is among the app's nodes.`);
    const sidebar = page.getByRole("list", { name: "Nodes" }).getByRole("button", { name: new RegExp(N2.replace(/\./g, "\\.")) });
    expect(await sidebar.locator("[data-state]").getAttribute("data-state")).toBe("ready");
  });

  it("the fleet is the tree cluster, group, nodes (the master marked, versions read on each node) and instances with their free slots and targets; arrows move through it", async () => {
    await page.getByRole("button", { name: /^All instances/ }).click();
    const tree = page.getByRole("tree", { name: "Clusters, node groups, nodes and instances" });
    await expect.poll(() => treeRow("data-instance", ON_2).count(), { timeout: 60_000 }).toBe(1);
    const cluster = treeRow("data-cluster", lab.cluster);
    expect(await cluster.textContent()).toMatch(new RegExp(`Cluster ${lab.cluster}.*master ${N1}.*Ganeti 3\\.0\\.2.*2 nodes`));
    expect(await cluster.getAttribute("aria-level")).toBe("1");
    expect(await treeRow("data-group", "default").getAttribute("aria-level")).toBe("2");
    for (const [name, role] of [
      [N1, "master"],
      [N2, "candidate"],
    ] as const) {
      const node = treeRow("data-node", name);
      expect(await node.getAttribute("aria-level")).toBe("3");
      expect(await node.locator("[data-role]").getAttribute("data-role")).toBe(role);
      // Read again once node 2 is connected (the tree follows the set of ready nodes).
      await expect.poll(() => node.getByTestId("node-version").textContent(), { timeout: 30_000 }).toBe("Ganeti 3.0.2 (read on the node)");
      expect(await node.getByTestId("node-version").getAttribute("title")).toBe("/usr/share/ganeti/3.0/ganeti/_constants.py (RELEASE_VERSION)");
      expect(await node.textContent()).toContain("● connected");
    }
    // Each instance under its primary node, with its state and capacity.
    for (const [name, node] of [
      [ON_1, N1],
      [ON_2, N2],
    ] as const) {
      const inst = treeRow("data-instance", name);
      expect(await inst.getAttribute("aria-level")).toBe("4");
      await expect.poll(() => inst.textContent(), { timeout: 30_000 }).toContain("running");
      expect(await inst.getByTestId("capacity").textContent()).toMatch(/^PCI \d+ free · SCSI \d+ free$/);
      // Its row comes after its node's and before the next node's.
      const keys = await tree.locator("[role=treeitem]").evaluateAll((els) => els.map((e) => (e as HTMLElement).dataset.key));
      expect(keys.indexOf(`i:${lab.cluster}/${name}`)).toBeGreaterThan(keys.indexOf(`n:${lab.cluster}/${node}`));
    }
    const free = Number((await treeRow("data-instance", ON_1).getByTestId("capacity").textContent())!.match(/^PCI (\d+)/)![1]);
    expect(free).toBeGreaterThan(10);
    // Keyboard: one row is the tab stop; Down moves to the group, Left closes it (its nodes leave), Left again goes up, Right opens.
    const focused = () => page.evaluate(() => (document.activeElement as HTMLElement).dataset.key);
    const group = treeRow("data-group", "default");
    await cluster.focus();
    await page.keyboard.press("ArrowDown");
    expect(await focused()).toBe(`g:${lab.cluster}/default`);
    await page.keyboard.press("ArrowLeft");
    expect(await group.getAttribute("aria-expanded")).toBe("false");
    expect(await treeRow("data-node", N1).count()).toBe(0);
    await page.keyboard.press("ArrowLeft");
    expect(await focused()).toBe(`c:${lab.cluster}`);
    await page.keyboard.press("ArrowDown");
    await page.keyboard.press("ArrowRight");
    expect(await group.getAttribute("aria-expanded")).toBe("true");
    await page.keyboard.press("ArrowRight");
    expect(await focused()).toBe(`n:${lab.cluster}/${N1}`);
    expect(await tree.locator('[role=treeitem][tabindex="0"]').count()).toBe(1);
    await accessible("tree");
    // The flat list is a click away, with the same filters.
    await page.getByRole("button", { name: "Flat list" }).click();
    await expect.poll(() => page.locator(".fleet-table[role=table] .fleet-row[data-instance]").count()).toBe(2);
    await accessible("flat-list");
    await page.getByRole("button", { name: "Clusters" }).click();
  });

  it("a NIC hot-added from the slot board (runtime file only) is live and in the runtime file, not in Ganeti's configuration, with its consequence, and the fleet's filter counts it", async () => {
    await treeRow("data-instance", ON_1).getByRole("button", { name: ON_1, exact: true }).click();
    const slot = (addr: string) => page.locator(`[data-slot="${addr}"]`);
    await slot("0x12").waitFor({ timeout: 30_000 });
    // Ganeti's own NIC is in all three.
    const ganetiNic = page.locator('.tw-table tr[data-combination="all-three"]');
    expect(await ganetiNic.count()).toBe(2);
    expect(await page.locator(".slot[data-state=taken-both] .tw-m").evaluateAll((els) => els.map((e) => (e as HTMLElement).dataset.state))).toEqual(expect.arrayContaining(["yes"]));
    await slot("0x12").click();
    await page.getByTestId("details").getByRole("button", { name: "Add NIC here" }).click();
    const dialog = page.getByTestId("review-dialog");
    await dialog.getByRole("button", { name: "Apply" }).waitFor({ timeout: 60_000 });
    expect(await dialog.getByTestId("plan-readers").textContent()).toContain(`${N2}: same node group 'default'`);
    // The cluster is reachable, so the review records the NIC in Ganeti's configuration first; runtime only is a choice, labelled.
    const recording = dialog.getByTestId("recording");
    expect(await recording.getAttribute("data-mode")).toBe("ganeti");
    await recording.getByRole("checkbox").check();
    await expect.poll(() => recording.getAttribute("data-mode"), { timeout: 60_000 }).toBe("runtime-only");
    expect(await recording.textContent()).toContain("Runtime only");
    await dialog.getByRole("button", { name: "Apply" }).waitFor({ timeout: 60_000 });
    await dialog.getByRole("button", { name: "Apply" }).click();
    await dialog.getByTestId("outcome").waitFor({ timeout: 60_000 });
    expect(await dialog.getByTestId("outcome").getAttribute("data-outcome")).toBe("succeeded");
    await dialog.getByRole("button", { name: "Close", exact: true }).click();

    // On the board: three marks, the configuration's an ✗; the details say what follows.
    await expect.poll(() => slot("0x12").getAttribute("data-state"), { timeout: 30_000 }).toBe("taken-both");
    const marks = await slot("0x12").locator(".tw-m").evaluateAll((els) => els.map((e) => [(e as HTMLElement).dataset.source, (e as HTMLElement).dataset.state, e.textContent]));
    expect(marks).toEqual([
      ["config", "no", "cfg✗ no"],
      ["file", "yes", "file✓ yes"],
      ["live", "yes", "live✓ yes"],
    ]);
    await slot("0x12").click();
    const block = page.getByTestId("details").getByTestId("three-way");
    expect(await block.getAttribute("data-combination")).toBe("file-and-live");
    expect(await block.locator(".tw-consequence").textContent()).toBe(`⚠ Not in Ganeti's configuration. ${CONSEQUENCE}`);
    const row = page.locator('.tw-table tr[data-combination="file-and-live"]');
    expect(await row.locator(".tw-means").textContent()).toBe(`⚠ not in Ganeti's configuration: ${CONSEQUENCE}`);
    // QEMU's bus has it where the board says, under the id Ganeti would derive from its uuid; Ganeti's configuration does not list it.
    const uuid = (await row.getAttribute("data-device"))!;
    const session = await openNode(labNodeInfo("node1"));
    try {
      expect((await livePci(session, ON_1)).get(0x12)).toBe(deviceIdV2("nic", uuid));
    } finally {
      session.close();
    }
    expect(await gntOut("gnt-instance", "list", "--no-headers", "-o", "nic.uuids", ON_1)).not.toContain(uuid);
    await accessible("slot-board");
    // Below the board: the legend and every device three ways, audited in view (axe cannot judge contrast off screen).
    await page.getByTestId("three-way-table").scrollIntoViewIfNeeded();
    await accessible("three-way-table");

    // The fleet's filter counts it, and shows only its instance.
    await page.getByRole("button", { name: "← Instances" }).click();
    const filter = page.getByRole("combobox", { name: "Filter by devices three ways" });
    await expect.poll(() => filter.locator('option[value="not-in-config"]').textContent(), { timeout: 30_000 }).toBe("not in Ganeti's configuration (1 device on 1 instance)");
    await filter.selectOption("not-in-config");
    await expect.poll(() => page.getByRole("tree").locator("[data-instance]").count()).toBe(1);
    expect(await treeRow("data-instance", ON_1).getByTestId("devices").textContent()).toContain("1 not in Ganeti's configuration");
    expect(await page.locator(".fleet .toolbar [role=status]").textContent()).toBe("1 of 2 instances");
    // Node 2 has no such instance: it is left out.
    expect(await treeRow("data-node", N2).count()).toBe(0);
    await accessible("tree-filtered");
    // The README's picture of a cluster's fleet is refreshed on purpose (npm run screenshot), not by every run.
    if (process.env.UPDATE_SCREENSHOT === "1") {
      await filter.selectOption("any");
      await expect.poll(() => page.getByRole("tree").locator("[data-instance]").count()).toBe(2);
      await page.screenshot({ path: "docs/cluster-fleet.png" });
    }
  });

  it("adopts that NIC from the three-way details block, by keyboard: the review warns of the link drop, and afterwards all three sources have it at the same slot", async () => {
    await page.getByRole("combobox", { name: "Filter by devices three ways" }).selectOption("any");
    await treeRow("data-instance", ON_1).getByRole("button", { name: ON_1, exact: true }).click();
    const slot = (addr: string) => page.locator(`[data-slot="${addr}"]`);
    await slot("0x12").waitFor({ timeout: 30_000 });
    await slot("0x12").click();
    const block = page.getByTestId("details").getByTestId("three-way");
    expect(await block.getAttribute("data-combination")).toBe("file-and-live");
    // The repairs that fit: adopt only, saying what it does.
    const repairs = block.getByTestId("repairs");
    expect(await repairs.locator("[data-repair]").evaluateAll((els) => els.map((e) => (e as HTMLElement).dataset.repair))).toEqual(["adopt"]);
    const adopt = repairs.getByRole("button", { name: "Adopt into Ganeti" });
    expect(await adopt.getAttribute("aria-describedby")).toBeTruthy();
    await accessible("repairs");
    await adopt.focus();
    await page.keyboard.press("Enter");
    const dialog = page.getByTestId("review-dialog");
    await dialog.getByRole("button", { name: "Apply" }).waitFor({ timeout: 60_000 });
    const recording = dialog.getByTestId("recording");
    expect(await recording.getAttribute("data-mode")).toBe("ganeti");
    expect(await recording.textContent()).toMatch(/Adopt: Ganeti records the NIC .* loses this NIC's link for a moment/);
    await dialog.getByRole("button", { name: "Apply" }).click();
    await dialog.getByTestId("outcome").waitFor({ timeout: 90_000 });
    expect(await dialog.getByTestId("outcome").getAttribute("data-outcome")).toBe("succeeded");
    await dialog.getByRole("button", { name: "Close", exact: true }).click();
    await expect.poll(() => slot("0x12").locator('.tw-m[data-source="config"]').getAttribute("data-state"), { timeout: 30_000 }).toBe("yes");
    const row = page.locator('.tw-table tr[data-combination="all-three"]');
    expect(await row.count()).toBe(3);
    // Ganeti's configuration has it now, and the live bus runs it at 0x12 under the id Ganeti derives from its uuid.
    const uuids = (await gntOut("gnt-instance", "list", "--no-headers", "-o", "nic.uuids", ON_1)).trim().replace(/[[\]' ]/g, "").split(",");
    const session = await openNode(labNodeInfo("node1"));
    try {
      const at12 = (await livePci(session, ON_1)).get(0x12);
      expect(uuids.map((u) => deviceIdV2("nic", u))).toContain(at12);
    } finally {
      session.close();
    }
  });


  it("a disk of a size added from the slot board is created and recorded by Ganeti first; unplugging it asks whether its storage goes, and through Ganeti it does", async () => {
    // From the slot board the test before left open, back to the fleet.
    const back = page.getByRole("button", { name: "← Instances" });
    if (await back.isVisible()) await back.click();
    await treeRow("data-instance", ON_1).getByRole("button", { name: ON_1, exact: true }).click();
    const slot = (addr: string) => page.locator(`[data-slot="${addr}"]`);
    await slot("0x13").waitFor({ timeout: 30_000 });
    const disksBefore = (await gntOut("gnt-instance", "list", "--no-headers", "-o", "disk.uuids", ON_1)).trim();
    await slot("0x13").click();
    // The instance is in Ganeti's configuration: the palette offers a size, and "Add disk here" says Ganeti creates the disk.
    expect(await page.getByLabel("Disk size in MiB (Ganeti creates and records the disk)").inputValue()).toBe("1024");
    await page.getByTestId("details").getByRole("button", { name: "Add disk here (1024 MiB, Ganeti creates it)" }).click();
    const dialog = page.getByTestId("review-dialog");
    await dialog.getByRole("button", { name: "Apply" }).waitFor({ timeout: 60_000 });
    const recording = dialog.getByTestId("recording");
    expect(await recording.getAttribute("data-mode")).toBe("ganeti");
    expect(await recording.textContent()).toContain("Configuration first: Ganeti creates a 1024 MiB disk (sharedfile storage)");
    await dialog.getByRole("button", { name: "Apply" }).click();
    await dialog.getByTestId("outcome").waitFor({ timeout: 60_000 });
    expect(await dialog.getByTestId("outcome").getAttribute("data-outcome")).toBe("succeeded");
    await dialog.getByRole("button", { name: "Close", exact: true }).click();
    const disksAfter = (await gntOut("gnt-instance", "list", "--no-headers", "-o", "disk.uuids", ON_1)).trim().replace(/[[\]' ]/g, "").split(",");
    const uuid = disksAfter.find((u) => !disksBefore.includes(u))!;
    expect(uuid).toMatch(/^[0-9a-f-]{36}$/);
    const session = await openNode(labNodeInfo("node1"));
    try {
      expect((await livePci(session, ON_1)).get(0x13)).toBe(deviceIdV2("disk", uuid));
    } finally {
      session.close();
    }
    await expect.poll(() => slot("0x13").getAttribute("data-state"), { timeout: 30_000 }).toBe("taken-both");

    // Unplugging it: refused until the user says whether its storage goes; through Ganeti, it goes.
    await slot("0x13").click();
    await page.getByTestId("details").getByRole("button", { name: "Unplug…" }).click();
    await dialog.getByRole("alert").waitFor({ timeout: 60_000 });
    expect(await dialog.getByRole("alert").textContent()).toMatch(/DELETES ITS STORAGE/);
    await accessible("review-disk-storage-choice");
    await dialog.getByRole("button", { name: "Remove through Ganeti, deleting its storage…" }).click();
    await dialog.getByRole("button", { name: "Apply" }).waitFor({ timeout: 60_000 });
    expect(await dialog.getByTestId("recording").textContent()).toMatch(/Through Ganeti: .*DELETES ITS STORAGE/);
    await dialog.getByRole("button", { name: "Apply" }).click();
    await dialog.getByTestId("outcome").waitFor({ timeout: 60_000 });
    expect(await dialog.getByTestId("outcome").getAttribute("data-outcome")).toBe("succeeded");
    await dialog.getByRole("button", { name: "Close", exact: true }).click();
    expect(await gntOut("gnt-instance", "list", "--no-headers", "-o", "disk.uuids", ON_1)).not.toContain(uuid);
  });
});
