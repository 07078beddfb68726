// The web host started as `npm start` starts it (tsx --import ./scripts/text-loader.mjs electron/web-host/main.ts),
// with a real Chromium as the user's browser ($BROWSER): the browser reaches
// the address with the token through a 0600 redirect file in the user's
// runtime directory, and the token is in no process's argv (/proc/*/cmdline
// is readable by every local user). Output to a pipe carries no token.
import { it, expect, beforeAll, afterAll } from "vitest";
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { missingPrograms, describeWhere } from "../support/skip.js";
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

const repo = resolve(__dirname, "../..");
const CHROMIUM = "/usr/bin/chromium";
const NO_CHROMIUM = missingPrograms([[CHROMIUM, "chromium"]]);

async function poll<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn().catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** Every process's argv as /proc shows it to any local user. */
async function allCommandLines(): Promise<{ pid: number; argv: string }[]> {
  const out: { pid: number; argv: string }[] = [];
  for (const name of await readdir("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    const argv = await readFile(`/proc/${name}/cmdline`).catch(() => undefined);
    if (argv) out.push({ pid: Number(name), argv: argv.toString("utf8").replaceAll("\0", " ") });
  }
  return out;
}

describeWhere(NO_CHROMIUM, "npm start's web host and the user's browser", () => {
  let dir: string;
  let runtimeDir: string;
  let profile: string;
  let host: ChildProcess;
  let stdout = "";
  let browserPid: number | undefined;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "hdlaunch-"));
    runtimeDir = join(dir, "run-user");
    await mkdir(runtimeDir, { mode: 0o700 });
    await chmod(runtimeDir, 0o700);
    profile = join(dir, "chromium-profile");
    // The user's browser: real Chromium, headless, with a DevTools port so the test can see where it went.
    const browser = join(dir, "browser.sh");
    await writeFile(
      browser,
      `#!/bin/sh\necho $$ > ${join(dir, "browser.pid")}\nexec ${CHROMIUM} --headless=new --no-sandbox --disable-gpu --disable-background-networking --no-first-run --disable-sync --user-data-dir=${profile} --remote-debugging-port=0 "$@"\n`,
      { mode: 0o755 },
    );
    const env: NodeJS.ProcessEnv = { ...process.env, BROWSER: browser, XDG_RUNTIME_DIR: runtimeDir, HOTPLUG_DESK_DATA_DIR: join(dir, "data") };
    delete env.DISPLAY;
    delete env.WAYLAND_DISPLAY;
    host = spawn(join(repo, "node_modules/.bin/tsx"), ["--import", "./scripts/text-loader.mjs", "electron/web-host/main.ts"], { cwd: repo, env, stdio: ["ignore", "pipe", "pipe"] });
    host.stdout!.on("data", (d: Buffer) => (stdout += d.toString()));
    host.stderr!.on("data", (d: Buffer) => (stdout += d.toString()));
  });

  afterAll(async () => {
    if (host && host.exitCode === null) {
      host.kill("SIGTERM");
      await new Promise((r) => host.once("exit", r));
    }
    if (browserPid) {
      const pid = browserPid;
      try {
        process.kill(pid, "SIGTERM");
        // Chromium writes its profile until it has exited.
        await poll("the browser to exit", async () => (existsSync(`/proc/${pid}`) ? undefined : true), 15_000);
      } catch {
        // already gone
      }
    }
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("opens the browser on a private redirect file, and no process's argv holds the token", async () => {
    const port = await poll("the web host's address", async () => /running at http:\/\/127\.0\.0\.1:(\d+)\//.exec(stdout)?.[1], 120_000);
    // Not a terminal: the address with the token is not printed, only where to find it.
    expect(stdout).not.toContain("#token=");
    // tsx runs the script in a child node process: the file is named by that one's pid.
    const file = await poll("the redirect file", async () => (await readdir(runtimeDir)).find((n) => /^hotplug-desk-\d+-open\.html$/.test(n)));
    const path = join(runtimeDir, file);
    expect(stdout).toContain(`file://${path}`);
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    const token = /#token=([A-Za-z0-9_-]+)/.exec(await readFile(path, "utf8"))?.[1];
    expect(token, `redirect file ${path}`).toMatch(/^[A-Za-z0-9_-]{32}$/);

    // The browser followed the redirect to the tokened address.
    browserPid = Number((await poll("the browser", () => readFile(join(dir, "browser.pid"), "utf8"))).trim());
    const devtools = (await poll("DevTools", () => readFile(join(profile, "DevToolsActivePort"), "utf8"))).split("\n")[0];
    const pageUrl = await poll("the page at the tokened address", async () => {
      const pages = (await (await fetch(`http://127.0.0.1:${devtools}/json/list`)).json()) as { url: string }[];
      return pages.map((p) => p.url).find((u) => u === `http://127.0.0.1:${port}/#token=${token}`);
    });
    expect(pageUrl).toContain(token);

    // Nobody's argv has it: not the web host (tsx and its node), not xdg-open or the browser, not the browser's helpers.
    const lines = await allCommandLines();
    expect(lines.some((l) => l.pid === host.pid)).toBe(true);
    expect(lines.filter((l) => l.argv.includes(profile)).length).toBeGreaterThan(0);
    expect(lines.filter((l) => l.argv.includes(token!)).map((l) => `${l.pid}: ${l.argv.slice(0, 200)}`)).toEqual([]);

    // Stopping removes the file.
    host.kill("SIGTERM");
    await new Promise((r) => host.once("exit", r));
    // (tsx passes the signal on to its node child, which may outlive it by a moment.)
    await poll("the redirect file to be removed", async () => (existsSync(path) ? undefined : true), 15_000);
  });
});
