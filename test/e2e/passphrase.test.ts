// End to end: a node whose key file is encrypted. Chromium drives the real
// UI served by the web host against a real sshd: the node asks for the
// passphrase, a wrong one is refused in the dialog, the right one connects.
// The web host has no keychain, so "remember" is offered disabled with why.
import { afterAll, beforeAll, expect, it } from "vitest";
import { chromium, type Browser, type Page } from "playwright-core";
import { appendFile, mkdir, mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startAppForTest, type AppUnderTest } from "../../electron/web-host/test-harness.js";
import { startSshd, type RunningSshd } from "../../electron/lab/sshd.js";
import { runCommand } from "../../electron/lab/processes.js";
import { describeWhere, missingPrograms } from "../support/skip.js";

const SHOTS = "test-results/screenshots";
const CHROMIUM = "/usr/bin/chromium";
const missing = missingPrograms([[CHROMIUM, "chromium"], ["/usr/sbin/sshd", "openssh-server"]]);
const PASSPHRASE = "e2e-Passphrase-9d1";

describeWhere(missing, "encrypted key passphrase in Chromium", () => {
  let dir: string;
  let sshd: RunningSshd;
  let app: AppUnderTest;
  let browser: Browser;
  let page: Page;
  const received: string[] = [];
  const sent: string[] = [];

  beforeAll(async () => {
    await mkdir(SHOTS, { recursive: true });
    dir = await mkdtemp(join(tmpdir(), "hdpass-"));
    sshd = await startSshd(join(dir, "ssh"));
    const encKey = join(dir, "encrypted_key");
    await runCommand("ssh-keygen", ["-q", "-t", "ed25519", "-N", PASSPHRASE, "-f", encKey]);
    await appendFile(join(dir, "ssh", "authorized_keys"), await readFile(`${encKey}.pub`));
    app = await startAppForTest({ node: { info: { ...sshd, root: "/" } }, keyPath: encKey, watchIntervalMs: 0 });
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--no-first-run", "--disable-sync"],
    });
    page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    page.on("pageerror", (e) => console.error("page error:", e.message));
    page.on("websocket", (ws) => {
      ws.on("framereceived", (f) => void received.push(String(f.payload)));
      ws.on("framesent", (f) => void sent.push(String(f.payload)));
    });
    await page.goto(app.openUrl);
  });

  afterAll(async () => {
    await browser?.close();
    await app?.stop();
    await sshd?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("the node asks for its passphrase; a wrong one is refused; the right one connects it", async () => {
    await page.getByRole("list", { name: "Nodes" }).getByRole("button", { name: /Lab node/ }).click();
    const panel = page.getByRole("region", { name: "Node Lab node" });
    await expect.poll(() => panel.locator(".node-detail").textContent(), { timeout: 30_000 }).toMatch(/is encrypted: enter its passphrase/);
    await panel.getByRole("button", { name: "Enter passphrase…" }).click();

    const dialog = page.getByTestId("passphrase-dialog");
    const input = dialog.getByLabel("Passphrase");
    expect(await input.getAttribute("type")).toBe("password");
    expect(await input.getAttribute("autocomplete")).toBe("off");
    const remember = dialog.getByRole("checkbox", { name: "Remember in the system keychain" });
    await expect.poll(() => dialog.locator(".field-hint").textContent(), { timeout: 10_000 }).toContain("remembered until the app quits");
    expect(await remember.isDisabled()).toBe(true);

    await input.fill("not-it");
    await dialog.getByRole("button", { name: "Unlock and connect" }).click();
    const alert = dialog.getByRole("alert");
    await alert.waitFor({ timeout: 30_000 });
    expect(await alert.textContent()).toMatch(/was wrong/);
    expect(await input.inputValue()).toBe("");
    await page.screenshot({ path: `${SHOTS}/passphrase-wrong.png` });

    await input.fill(PASSPHRASE);
    await dialog.getByRole("button", { name: "Unlock and connect" }).click();
    await dialog.waitFor({ state: "detached", timeout: 30_000 });
    await expect.poll(() => panel.locator("[data-state]").first().getAttribute("data-state"), { timeout: 30_000 }).toBe("ready");
    expect(await panel.getByRole("status").last().textContent()).toBe("The passphrase is kept until the app quits.");
    expect(app.app.nodes.status(app.nodeId)?.state).toBe("ready");
    await page.screenshot({ path: `${SHOTS}/passphrase-connected.png` });

    // It went to the host in the request; nothing came back with it.
    expect(sent.filter((f) => f.includes(PASSPHRASE))).toHaveLength(1);
    expect(received.length).toBeGreaterThan(0);
    expect(received.join("\n")).not.toContain(PASSPHRASE);
    expect(await page.content()).not.toContain(PASSPHRASE);
  });
});
