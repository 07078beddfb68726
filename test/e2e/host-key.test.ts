// End to end: a node whose host key the app has never seen. Chromium drives
// the real UI through the web host against a real sshd: the panel says the
// key is unknown, the dialog shows the fingerprint sshd really presents, the
// web host asks for the one-time code it printed in its terminal (the page
// alone cannot trust a key), and with it the node connects and the key is
// recorded in the app's known_hosts.
// Then the add-node form: a bad entry is refused per field, before main.
import { afterAll, beforeAll, expect, it } from "vitest";
import { chromium, type Browser, type Page } from "playwright-core";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startAppForTest, type AppUnderTest } from "../../electron/web-host/test-harness.js";
import { startSshd, type RunningSshd } from "../../electron/lab/sshd.js";
import { describeWhere, missingPrograms } from "../support/skip.js";

const CHROMIUM = "/usr/bin/chromium";
const missing = missingPrograms([[CHROMIUM, "chromium"], ["/usr/sbin/sshd", "openssh-server"]]);

describeWhere(missing, "host-key trust and the add-node form in Chromium", () => {
  let dir: string;
  let sshd: RunningSshd;
  let app: AppUnderTest;
  let browser: Browser;
  let page: Page;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "hdhk-"));
    sshd = await startSshd(join(dir, "ssh"));
    app = await startAppForTest({ node: { info: { ...sshd, root: "/" } }, trustHostKey: false, watchIntervalMs: 0 });
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--no-first-run", "--disable-sync"],
    });
    page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    await page.goto(app.openUrl);
  });

  afterAll(async () => {
    await browser?.close();
    await app?.stop();
    await sshd?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("an unknown host key is shown with its fingerprint; trusting it connects the node", async () => {
    await page.getByRole("list", { name: "Nodes" }).getByRole("button", { name: /Lab node/ }).click();
    const panel = page.getByRole("region", { name: "Node Lab node" });
    const review = panel.getByRole("button", { name: "Review host key…" });
    await review.waitFor({ timeout: 30_000 });
    await review.click();
    const dialog = page.getByTestId("host-key-dialog");
    expect(await dialog.textContent()).toContain(sshd.hostKeyFingerprint);
    await dialog.getByRole("button", { name: "Trust and connect" }).click();
    const codeField = dialog.getByLabel("One-time code");
    await codeField.waitFor({ timeout: 30_000 });
    expect(await dialog.textContent()).toMatch(/terminal where Hotplug Desk was started/);
    expect(await readFile(join(app.dataDir, "known_hosts"), "utf8").catch(() => "")).toBe("");
    // A wrong code is refused in the dialog; nothing is written.
    await codeField.fill("0000 0000");
    await dialog.getByRole("button", { name: "Confirm code and trust" }).click();
    await expect.poll(() => dialog.getByRole("alert").textContent().catch(() => ""), { timeout: 10_000 }).toMatch(/wrong/);
    // The user reads the code in the web host's terminal and types it.
    const printed = app.terminal.join("");
    expect(printed).toContain(sshd.hostKeyFingerprint);
    const code = [...printed.matchAll(/\n {4}(\d{4} \d{4})\n/g)].at(-1)![1]!;
    await codeField.fill(code);
    await dialog.getByRole("button", { name: "Confirm code and trust" }).click();
    await expect.poll(() => panel.textContent(), { timeout: 30_000 }).toMatch(/ready/);
    const knownHosts = await readFile(join(app.dataDir, "known_hosts"), "utf8");
    expect(knownHosts).toContain(`[127.0.0.1]:${sshd.port} ${sshd.hostPublicKey}`);
  });

  it("where the node's disks may come from is changed in its panel: a system directory is refused, a path is saved", async () => {
    const panel = page.getByRole("region", { name: "Node Lab node" });
    expect(await panel.textContent()).toContain("Disks come from the node's Ganeti storage.");
    await panel.getByRole("button", { name: "Change where disks may come from…" }).click();
    const field = panel.getByLabel("Disk paths allowed beyond the node's Ganeti storage");
    await field.fill("/srv/images, /etc/ganeti");
    await expect.poll(() => panel.getByRole("alert").textContent()).toMatch(/inside \/etc, one of the node's system directories/);
    expect(await panel.getByRole("button", { name: "Save" }).isDisabled()).toBe(true);
    await field.fill("/srv/images");
    await panel.getByRole("button", { name: "Save" }).click();
    await expect.poll(() => panel.textContent(), { timeout: 10_000 }).toContain("and from /srv/images.");
    const saved = JSON.parse(await readFile(join(app.dataDir, "nodes.json"), "utf8")) as { nodes: { diskPathAllow?: string[] }[] };
    expect(saved.nodes[0]?.diskPathAllow).toEqual(["/srv/images"]);
  });

  it("the add-node form refuses a bad port and host before anything reaches main", async () => {
    await page.getByRole("button", { name: "Add node" }).first().click();
    const form = page.getByRole("form", { name: "Add node" });
    await form.getByLabel("Port").fill("99999");
    await form.getByRole("button", { name: "Add node" }).click();
    await expect.poll(() => form.textContent()).toMatch(/host is required/);
    expect(await form.textContent()).toMatch(/port must be a whole number from 1 to 65535/);
    const nodes = (await app.app.dispatcher.call("nodes.list", {})) as unknown[];
    expect(nodes).toHaveLength(1);
  });
});
