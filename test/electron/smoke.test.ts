// The desktop app itself, in Electron, driven by Playwright's _electron:
// it opens, connects to a lab node and shows that node's slot board. Where
// no Electron binary exists (these build machines cannot download one), the
// test reports itself skipped and says why.
import { it, expect, beforeAll, afterAll } from "vitest";
import { execFileSync } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { LabNode } from "../../electron/lab/node.js";
import { startDefaultInstances } from "../../electron/lab/instances.js";
import { describeWhere } from "../support/skip.js";

const repo = resolve(__dirname, "../..");

function electronBinary(): { path?: string; why?: string } {
  try {
    return { path: execFileSync(process.execPath, [join(repo, "scripts/electron-binary.cjs")], { encoding: "utf8" }).trim() };
  } catch (err) {
    return { why: String((err as { stderr?: string }).stderr ?? err).trim() };
  }
}

const binary = electronBinary();

describeWhere(binary.path ? undefined : `no Electron binary: ${binary.why}`, "Electron app (smoke)", () => {
  let node: LabNode;
  let dataDir: string;

  beforeAll(async () => {
    execFileSync("npx", ["electron-vite", "build"], { cwd: repo, stdio: "ignore" });
    node = await LabNode.start();
    await startDefaultInstances(node, { specs: [{ name: "alpha.lab", generation: "C", nics: 1, disks: [{ bus: "pci" }] }] });
    dataDir = await mkdtemp(join(tmpdir(), "hdelectron-"));
    const i = node.info;
    await writeFile(join(dataDir, "known_hosts"), `[127.0.0.1]:${i.port} ${i.hostPublicKey}\n`, { mode: 0o600 });
    await writeFile(
      join(dataDir, "nodes.json"),
      JSON.stringify({ version: 1, nodes: [{ id: "lab", name: "Lab node", host: i.host, port: i.port, user: i.user, auth: { kind: "key", keyPath: i.privateKeyPath }, root: i.root }] }),
      { mode: 0o600 },
    );
  });

  afterAll(async () => {
    await node?.stop();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  it("opens a sandboxed window, connects to the lab node and shows its slot board", async () => {
    const { _electron } = await import("playwright-core");
    const app = await _electron.launch({ executablePath: binary.path!, args: [repo], env: { ...process.env, HOTPLUG_DESK_DATA_DIR: dataDir } });
    try {
      const win = await app.firstWindow();
      const isolated = await win.evaluate(() => typeof (globalThis as { require?: unknown }).require === "undefined" && typeof (globalThis as { process?: unknown }).process === "undefined");
      expect(isolated).toBe(true);
      await win.getByText("alpha.lab").first().click({ timeout: 60_000 });
      await expect.poll(async () => win.getByRole("button", { name: /Slot 0x0c/ }).count(), { timeout: 60_000 }).toBeGreaterThan(0);
      await win.screenshot({ path: join(repo, "test-results/screenshots/electron-slot-board.png") });
    } finally {
      await app.close();
    }
  });
});
