// node_helper.py reaches node-helper.ts as text at build time (`?raw`), in
// every way the code runs: Vite (this test, vitest), and tsx with
// scripts/text-loader.mjs (npm run lab/web/cli/bench, bin/hotplug-desk),
// from CommonJS (how tsx runs this repo's .ts) and from an ES module.
// Each must hand over exactly the file's bytes.
import { describe, expect, it } from "vitest";
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { NODE_HELPER_PY } from "../../electron/on-node/node-helper";

const ROOT = join(__dirname, "../..");
const PY = join(ROOT, "electron/on-node/node_helper.py");
const LOADER = join(ROOT, "scripts/text-loader.mjs");
const HELPER_TS = join(ROOT, "electron/on-node/node-helper.ts");
const bytes = readFileSync(PY);

function run(args: string[]): { status: number | null; stdout: Buffer; stderr: string } {
  const r = spawnSync(process.execPath, args, { cwd: ROOT, timeout: 60_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr.toString("utf8") };
}

const printSource = `process.stdout.write(require(${JSON.stringify(HELPER_TS)}).NODE_HELPER_PY)`;

describe("the node helper's Python source", () => {
  it("under Vite (vitest, electron-vite) is the file's exact text", () => {
    expect(Buffer.from(NODE_HELPER_PY, "utf8").equals(bytes)).toBe(true);
  });

  it("under tsx with the text loader (CommonJS, as npm scripts and the CLI run it) is the file's exact bytes", () => {
    const r = run(["--import", "tsx", "--import", LOADER, "-e", printSource]);
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    expect(r.stdout.equals(bytes)).toBe(true);
  });

  it("under tsx's own command with the text loader (package.json scripts) is the file's exact bytes", () => {
    const r = run([join(ROOT, "node_modules/tsx/dist/cli.mjs"), "--import", "./scripts/text-loader.mjs", "-e", printSource]);
    expect(r.status).toBe(0);
    expect(r.stdout.equals(bytes)).toBe(true);
  });

  it("imported from an ES module with the text loader is the file's exact bytes", () => {
    const url = `${pathToFileURL(PY).href}?raw`;
    const r = run(["--import", LOADER, "--input-type=module", "-e", `import s from ${JSON.stringify(url)}; process.stdout.write(s);`]);
    expect(r.stderr).toBe("");
    expect(r.stdout.equals(bytes)).toBe(true);
  });

  it("under tsx without the loader does not load at all (so no path can run the helper as something else)", () => {
    const r = run(["--import", "tsx", "-e", printSource]);
    expect(r.status).not.toBe(0);
    expect(r.stdout.length).toBe(0);
  });

  it("every package.json script that runs TypeScript through tsx passes the text loader", () => {
    const scripts = (JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { scripts: Record<string, string> }).scripts;
    const tsx = Object.entries(scripts).filter(([, cmd]) => /(^|\s)tsx\s/.test(cmd));
    expect(tsx.map(([name]) => name).sort()).toEqual(["bench", "lab", "web"]);
    for (const [name, cmd] of tsx) expect(cmd, name).toMatch(/^tsx --import \.\/scripts\/text-loader\.mjs /);
  });
});
