// Accessibility, part one: the screens before an instance is open. Chromium
// drives the real UI through the web host, composed as `npm start` composes
// it (the local labs offered), against real sshds: the empty state with its
// lab choices, the add-node form (with its errors shown), a node whose host
// key is unknown (panel, dialog, the one-time code, a wrong code), a node
// whose key file is encrypted (the passphrase dialog, a wrong passphrase), a
// node whose host key changed, the remove-node confirmation, and the page
// once the web host is gone. axe-core audits each with every WCAG 2.1 A/AA
// rule; any violation fails, naming the element.
import { afterAll, beforeAll, expect, it } from "vitest";
import type { Browser, Page } from "playwright-core";
import { appendFile, mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { composeApp, type ComposedApp } from "../../electron/app/compose.js";
import { labLauncher } from "../../electron/app/lab-launcher.js";
import { ganetiLabUnavailable } from "../../electron/lab/ganeti/lab.js";
import type { WebHost } from "../../electron/web-host/server.js";
import { typedCodeGesture } from "../../electron/web-host/typed-code-gesture.js";
import { startSshd, type RunningSshd } from "../../electron/lab/sshd.js";
import { runCommand } from "../../electron/lab/processes.js";
import { describeWhere, missingPrograms } from "../support/skip.js";
import { CHROMIUM, serveInChromium } from "./chromium.js";
import { expectAccessible as audit } from "./axe-audit.js";

const missing = missingPrograms([[CHROMIUM, "chromium"], ["/usr/sbin/sshd", "openssh-server"], ["/usr/bin/ssh-keygen", "openssh-client"]]);
const PASSPHRASE = "a11y-Passphrase-3c7";

describeWhere(missing, "accessibility of the node screens (axe-core, WCAG 2.1 A/AA) in Chromium", () => {
  let dir: string;
  let sshd: RunningSshd;
  let moved: RunningSshd;
  let encKey: string;
  let app: ComposedApp;
  let host: WebHost;
  let browser: Browser;
  let page: Page;
  const terminal: string[] = [];
  const accessible = (screen: string) => audit(page, screen);

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "hda11y-"));
    sshd = await startSshd(join(dir, "ssh"));
    // A node whose key the app knows as another one: a reinstall, or an interception.
    moved = await startSshd(join(dir, "ssh-moved"));
    encKey = join(dir, "encrypted_key");
    await runCommand("ssh-keygen", ["-q", "-t", "ed25519", "-N", PASSPHRASE, "-f", encKey]);
    await appendFile(join(dir, "ssh", "authorized_keys"), await readFile(`${encKey}.pub`));
    const old = join(dir, "old_host_key");
    await runCommand("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", old]);
    const oldLine = (await readFile(`${old}.pub`, "utf8")).split(" ").slice(0, 2).join(" ");
    const dataDir = join(dir, "data");
    await mkdir(dataDir);
    await writeFile(join(dataDir, "known_hosts"), `[127.0.0.1]:${moved.port} ${oldLine}\n`, { mode: 0o600 });
    // As `npm start` composes the web host: the local labs offered, codes to its terminal.
    app = await composeApp({
      dataDir,
      transport: "web",
      version: "test",
      userKnownHostsPath: null,
      lab: labLauncher(),
      trustGesture: typedCodeGesture({ terminal: (t) => void terminal.push(t) }),
      watchIntervalMs: 0,
    });
    ({ host, browser, page } = await serveInChromium(app));
  });

  afterAll(async () => {
    await browser?.close();
    await host?.close();
    await app?.dispose();
    await sshd?.stop();
    await moved?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("the empty state, with the local lab node and the local Ganeti cluster on offer", async () => {
    await page.getByRole("heading", { name: "No nodes yet" }).waitFor({ timeout: 30_000 });
    expect(await page.getByRole("button", { name: "Start a local lab node" }).count()).toBe(1);
    const ganeti = ganetiLabUnavailable();
    if (ganeti === undefined) expect(await page.getByRole("button", { name: "Start a local Ganeti cluster" }).count()).toBe(1);
    else expect(await page.locator(".empty-state").textContent()).toContain(`No local Ganeti cluster here: ${ganeti}`);
    await accessible("empty-state");
  });

  it("the add-node form, empty and with its field errors shown", async () => {
    await page.getByRole("button", { name: "Add a node" }).click();
    const form = page.getByRole("form", { name: "Add node" });
    await form.waitFor();
    await accessible("add-node");
    await form.getByLabel("Port", { exact: true }).fill("99999");
    await form.getByRole("radio", { name: "Key file" }).check();
    await form.getByLabel("Jump host (optional)").fill("a|b");
    await form.getByRole("button", { name: "Add node" }).click();
    await expect.poll(() => form.textContent()).toMatch(/host is required/);
    expect(await form.textContent()).toMatch(/port must be a whole number from 1 to 65535/);
    expect(await form.locator(".field-error").count()).toBeGreaterThanOrEqual(3);
    await accessible("add-node-errors");
  });

  /** Fills the add-node form (open) for the lab sshd at `port` and submits it. */
  async function addNode(port: number, keyPath: string, name: string): Promise<void> {
    const form = page.getByRole("form", { name: "Add node" });
    await form.getByLabel("Host", { exact: true }).fill("127.0.0.1");
    await form.getByLabel("Port", { exact: true }).fill(String(port));
    await form.getByRole("radio", { name: "Key file" }).check();
    await form.getByRole("textbox", { name: "Key file" }).fill(keyPath);
    await form.getByLabel("Jump host (optional)").fill("");
    await form.getByLabel("Display name (optional)").fill(name);
    await form.getByRole("button", { name: "Add node" }).click();
  }

  it("an unknown host key: the node panel, the dialog, the one-time code asked for, a wrong code refused; then the node is ready", async () => {
    await addNode(sshd.port, sshd.privateKeyPath, "Lab node");
    const panel = page.getByRole("region", { name: "Node Lab node" });
    const review = panel.getByRole("button", { name: "Review host key…" });
    await review.waitFor({ timeout: 30_000 });
    await accessible("node-panel-unknown-key");
    await review.click();
    const dialog = page.getByTestId("host-key-dialog");
    expect(await dialog.textContent()).toContain(sshd.hostKeyFingerprint);
    await accessible("host-key-unknown");
    await dialog.getByRole("button", { name: "Trust and connect" }).click();
    const codeField = dialog.getByLabel("One-time code");
    await codeField.waitFor({ timeout: 30_000 });
    await accessible("host-key-code");
    await codeField.fill("0000 0000");
    await dialog.getByRole("button", { name: "Confirm code and trust" }).click();
    await expect.poll(() => dialog.getByRole("alert").textContent().catch(() => ""), { timeout: 10_000 }).toMatch(/wrong/);
    await accessible("host-key-wrong-code");
    const code = [...terminal.join("").matchAll(/\n {4}(\d{4} \d{4})\n/g)].at(-1)![1]!;
    await codeField.fill(code);
    await dialog.getByRole("button", { name: "Confirm code and trust" }).click();
    await dialog.waitFor({ state: "detached", timeout: 30_000 });
    await expect.poll(() => panel.locator("[data-state]").first().getAttribute("data-state"), { timeout: 30_000 }).toBe("ready");
    await accessible("node-ready");
  });

  it("the passphrase dialog of an encrypted key, and a wrong passphrase refused; then the node is ready", async () => {
    // The same sshd, whose host key is trusted now, with an encrypted key file.
    await page.getByRole("button", { name: "Add node" }).first().click();
    await addNode(sshd.port, encKey, "Locked node");
    const panel = page.getByRole("region", { name: "Node Locked node" });
    const enter = panel.getByRole("button", { name: "Enter passphrase…" });
    await enter.waitFor({ timeout: 30_000 });
    await accessible("node-panel-passphrase");
    await enter.click();
    const dialog = page.getByTestId("passphrase-dialog");
    await expect.poll(() => dialog.locator(".field-hint").textContent(), { timeout: 10_000 }).toContain("remembered until the app quits");
    await accessible("passphrase");
    await dialog.getByLabel("Passphrase").fill("not-it");
    await dialog.getByRole("button", { name: "Unlock and connect" }).click();
    await expect.poll(() => dialog.getByRole("alert").textContent().catch(() => ""), { timeout: 30_000 }).toMatch(/was wrong/);
    await accessible("passphrase-wrong");
    await dialog.getByLabel("Passphrase").fill(PASSPHRASE);
    await dialog.getByRole("button", { name: "Unlock and connect" }).click();
    await dialog.waitFor({ state: "detached", timeout: 30_000 });
    await expect.poll(() => panel.locator("[data-state]").first().getAttribute("data-state"), { timeout: 30_000 }).toBe("ready");
    await accessible("node-ready-passphrase-kept");
  });

  it("a changed host key: the refusal, with both fingerprints and the line to fix", async () => {
    await page.getByRole("button", { name: "Add node" }).first().click();
    await addNode(moved.port, moved.privateKeyPath, "Moved node");
    const panel = page.getByRole("region", { name: "Node Moved node" });
    const why = panel.getByRole("button", { name: "Why was it refused?" });
    await why.waitFor({ timeout: 30_000 });
    await accessible("node-panel-changed-key");
    await why.click();
    const dialog = page.getByTestId("host-key-dialog");
    expect(await dialog.textContent()).toContain(moved.hostKeyFingerprint);
    expect(await dialog.textContent()).toMatch(/known_hosts:1/);
    await accessible("host-key-changed");
    await dialog.getByRole("button", { name: "Close", exact: true }).click();
  });

  it("all instances with a node that needs attention, and the remove-node confirmation", async () => {
    await page.getByRole("button", { name: /^All instances/ }).click();
    await expect.poll(() => page.locator(".banner.warn").textContent(), { timeout: 10_000 }).toContain("host key needs your decision");
    await accessible("fleet-node-problems");
    await page.getByRole("list", { name: "Nodes" }).getByRole("button", { name: /Moved node/ }).click();
    await page.getByRole("region", { name: "Node Moved node" }).getByRole("button", { name: "Remove node" }).click();
    const dialog = page.getByRole("dialog", { name: "Remove Moved node?" });
    await dialog.waitFor();
    await accessible("remove-node");
    await dialog.getByRole("button", { name: "Keep it" }).click();
  });

  it("the web host gone: the header says the connection is lost, the banner that it is reconnecting", async () => {
    await host.close();
    await page.getByRole("alert").filter({ hasText: "Lost the connection to the Hotplug Desk host" }).waitFor({ timeout: 30_000 });
    expect(await page.locator(".app-header [role=status]").textContent()).toBe("host connection lost");
    await accessible("host-connection-lost");
  });
});
