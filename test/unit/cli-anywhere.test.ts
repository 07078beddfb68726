// The command line wherever a user runs it: from any directory, under cron's
// bare environment, and installed as a package (npm pack, then npm install
// -g of the tarball). Also: the file commands never load the SSH side, and
// the bundler loads `?raw` imports as text.
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { builtinModules } from "node:module";
import os from "node:os";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { beforeAll, describe, expect, it } from "vitest";
import { FIXTURES, FX } from "./runtime-fixtures";
import { CLI_BIN, REPO, buildCli, runCli, type Metafile } from "./cli-bundle";

const C_FILE = path.join(FIXTURES, FX.cPy3);
const CRON_PATH = "/usr/bin:/bin";
const tmp = (prefix: string) => mkdtempSync(path.join(os.tmpdir(), prefix));

let meta: Metafile;
beforeAll(() => {
  meta = buildCli();
});

/** Output files (relative to the repo) whose inputs include an npm package. */
function chunksWith(pkg: string): string[] {
  return Object.entries(meta.outputs)
    .filter(([, o]) => Object.keys(o.inputs).some((i) => i.includes(`node_modules/${pkg}/`)))
    .map(([file]) => file);
}

/** Every output file the entry loads before any dynamic import runs. */
function staticClosure(entry: string): Set<string> {
  const seen = new Set<string>();
  const visit = (file: string) => {
    if (seen.has(file)) return;
    seen.add(file);
    for (const imp of meta.outputs[file]?.imports ?? []) if (imp.kind === "import-statement" && meta.outputs[imp.path]) visit(imp.path);
  };
  visit(entry);
  return seen;
}

/** Runs the CLI with a module hook that lists every file the ES module loader loads. */
function loadedFiles(args: string[]): { code: number | null; files: string[] } {
  const dir = tmp("hd-cli-hook-");
  const log = path.join(dir, "loaded.txt");
  const hooks = path.join(dir, "hooks.mjs");
  writeFileSync(
    hooks,
    `import { appendFileSync } from "node:fs";\nexport async function load(url, context, next) {\n  appendFileSync(${JSON.stringify(log)}, url + "\\n");\n  return next(url, context);\n}\n`,
  );
  const register = path.join(dir, "register.mjs");
  writeFileSync(register, `import { register } from "node:module";\nregister(${JSON.stringify(pathToFileURL(hooks).href)});\n`);
  const r = spawnSync(process.execPath, ["--import", pathToFileURL(register).href, CLI_BIN, ...args], { cwd: dir, encoding: "utf8", timeout: 60_000 });
  const files = existsSync(log) ? readFileSync(log, "utf8").split("\n").filter((u) => u.startsWith("file:")) : [];
  return { code: r.status, files: files.map((u) => path.relative(REPO, new URL(u).pathname)) };
}

describe("the CLI bundle", () => {
  it("keeps ssh2 out of what the entry loads: only the node commands import it", () => {
    const ssh = chunksWith("ssh2");
    expect(ssh.length).toBeGreaterThan(0);
    const eager = staticClosure("out/cli/main.mjs");
    for (const c of ssh) expect(eager.has(c), `${c} is loaded at start-up`).toBe(false);
    const runtimeChunk = Object.keys(meta.outputs).find((f) => /runtime-commands-[^/]*\.mjs$/.test(f));
    expect(runtimeChunk, "no runtime-commands chunk").toBeDefined();
    for (const c of ssh) expect(staticClosure(runtimeChunk!).has(c), `runtime commands load ${c}`).toBe(false);
  });

  it("runtime commands load no SSH code when they run; inventory does (the probe sees it)", () => {
    const ssh = new Set(chunksWith("ssh2"));
    const check = loadedFiles(["runtime", "check", C_FILE]);
    expect(check.code).toBe(0);
    expect(check.files.some((f) => /runtime-commands-[^/]*\.mjs$/.test(f))).toBe(true);
    expect(check.files.filter((f) => ssh.has(f))).toEqual([]);
    const inv = loadedFiles(["inventory", "--node", "root@127.0.0.1:1", "-i", "/nonexistent-key"]);
    expect(inv.code).toBe(1);
    expect(inv.files.filter((f) => ssh.has(f)).length).toBeGreaterThan(0);
  });

  it("holds every npm package it uses: no bare imports left but Node's own", () => {
    const external = new Set(Object.values(meta.outputs).flatMap((o) => o.imports.filter((i) => !meta.outputs[i.path]).map((i) => i.path)));
    const builtin = new Set(builtinModules);
    const notNode = [...external].filter((p) => !p.startsWith("node:") && !builtin.has(p) && !p.endsWith(".node"));
    expect(notNode).toEqual([]);
  });

  it("ships the licence of every npm package it holds", () => {
    const names = new Set(
      Object.values(meta.outputs).flatMap((o) => Object.keys(o.inputs).map((i) => /node_modules\/((?:@[^/]+\/)?[^/]+)\/[^]*$/.exec(i)?.[1]).filter((n): n is string => !!n)),
    );
    expect([...names]).toEqual(expect.arrayContaining(["ssh2", "zod"]));
    const licences = readFileSync(path.join(REPO, "out/cli/THIRD-PARTY-LICENSES.txt"), "utf8");
    for (const n of names) expect(licences, n).toMatch(new RegExp(`^${n.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&")}@\\d`, "m"));
    expect(licences).toMatch(/Permission is hereby granted/);
  });

  it("loads `import x from './f.py?raw'` as the file's text", () => {
    const dir = tmp("hd-cli-raw-");
    const py = 'print("hello from \\"raw\\"")\n# ünïcode and a `backtick` ${not a template}\n';
    writeFileSync(path.join(dir, "helper.py"), py);
    writeFileSync(path.join(dir, "entry.ts"), 'import text from "./helper.py?raw";\nprocess.stdout.write(JSON.stringify(text));\n');
    const script = path.join(dir, "build.mjs");
    writeFileSync(
      script,
      `import { build } from ${JSON.stringify(pathToFileURL(path.join(REPO, "node_modules/esbuild/lib/main.js")).href)};\n` +
        `import { rawTextPlugin } from ${JSON.stringify(pathToFileURL(path.join(REPO, "scripts/build-cli.mjs")).href)};\n` +
        `await build({ entryPoints: [${JSON.stringify(path.join(dir, "entry.ts"))}], bundle: true, platform: "node", format: "esm", outfile: ${JSON.stringify(path.join(dir, "out.mjs"))}, plugins: [rawTextPlugin], logLevel: "error" });\n`,
    );
    execFileSync(process.execPath, [script], { cwd: dir });
    expect(JSON.parse(execFileSync(process.execPath, [path.join(dir, "out.mjs")], { encoding: "utf8" }))).toBe(py);
  });
});

describe("the CLI wherever it runs", () => {
  it("from a directory that is not the repository", () => {
    const help = runCli(["--help"]);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/^Usage: hotplug-desk <area>/);
    const check = runCli(["runtime", "check", C_FILE]);
    expect(check.stderr).toBe("");
    expect(check.stdout).toBe("ok: generation C, 2 NICs, 2 disks\n");
    expect(check.code).toBe(0);
  });

  it("under cron's environment (env -i PATH=/usr/bin:/bin), the bin run as a program", (ctx) => {
    const node = ["/usr/bin/node", "/bin/node"].find((p) => existsSync(p));
    if (!node) ctx.skip(`node is not in ${CRON_PATH} (it is ${process.execPath}): cron's PATH would not find it`);
    const env = { PATH: CRON_PATH };
    const cwd = tmp("hd-cli-cron-");
    const check = spawnSync(CLI_BIN, ["runtime", "inspect", C_FILE], { cwd, env, encoding: "utf8" });
    expect(check.stderr).toBe("");
    expect(check.status).toBe(0);
    expect(JSON.parse(check.stdout).generation).toBe("C");
    // A node command loads the SSH side there too, and fails only for want of a key.
    const inv = spawnSync(CLI_BIN, ["inventory", "--node", "root@127.0.0.1:1"], { cwd, env, encoding: "utf8" });
    expect(inv.status).toBe(1);
    expect(inv.stderr).not.toMatch(/internal error|Cannot find|ERR_/);
    expect(inv.stderr).toMatch(/SSH_AUTH_SOCK/);
  });

  it("installed as a package: npm pack, then npm install -g --prefix DIR of the tarball", (ctx) => {
    const dir = tmp("hd-cli-pack-");
    const tarball = execFileSync("npm", ["pack", "--silent", "--pack-destination", dir], { cwd: REPO, encoding: "utf8" }).trim().split("\n").at(-1)!;
    const listing = execFileSync("tar", ["tzf", path.join(dir, tarball)], { encoding: "utf8" }).trim().split("\n");
    expect(listing).toEqual(expect.arrayContaining(["package/bin/hotplug-desk.cjs", "package/out/cli/main.mjs", "package/out/cli/THIRD-PARTY-LICENSES.txt", "package/package.json"]));
    expect(listing.filter((f) => f.endsWith(".ts"))).toEqual([]);
    const prefix = path.join(dir, "prefix");
    const install = spawnSync("npm", ["install", "-g", "--prefix", prefix, "--prefer-offline", "--no-audit", "--no-fund", "--loglevel=error", path.join(dir, tarball)], {
      encoding: "utf8",
      timeout: 300_000,
    });
    if (install.status !== 0 && /ENOTFOUND|EAI_AGAIN|ECONNREFUSED|ECONNRESET|ETIMEDOUT|ENETUNREACH|ENOTCACHED/.test(install.stderr)) {
      ctx.skip(`npm install -g needs the npm registry for the package's dependencies, and it is unreachable here: ${install.stderr.trim().split("\n")[0]}`);
    }
    expect(install.stderr).not.toMatch(/npm error/);
    expect(install.status).toBe(0);
    const bin = path.join(prefix, "bin", "hotplug-desk");
    const env = { PATH: `${path.dirname(process.execPath)}:${CRON_PATH}` };
    const r = spawnSync(bin, ["runtime", "check", C_FILE], { cwd: tmp("hd-cli-installed-"), env, encoding: "utf8" });
    expect(r.stderr).toBe("");
    expect(r.stdout).toBe("ok: generation C, 2 NICs, 2 disks\n");
    expect(r.status).toBe(0);
    // It runs from the installed copy, not from this repository.
    const installed = path.join(prefix, "lib", "node_modules", "hotplug-desk", "out", "cli", "main.mjs");
    expect(existsSync(installed)).toBe(true);
  });
});
