// The web host serves the built renderer. Build it when it is missing or
// older than its sources, so `npm start` and the e2e tests always serve the
// UI as it is in the tree.
import { existsSync } from "node:fs";
import { readdir, stat } from "node:fs/promises";
import { join, resolve } from "node:path";

export const REPO_ROOT = resolve(__dirname, "../..");
export const RENDERER_OUT = join(REPO_ROOT, "out/renderer");
const RENDERER_SRC = join(REPO_ROOT, "renderer");

async function newestMtime(dir: string): Promise<number> {
  let newest = 0;
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, entry.name);
    if (entry.isDirectory()) newest = Math.max(newest, await newestMtime(p));
    else newest = Math.max(newest, (await stat(p)).mtimeMs);
  }
  return newest;
}

export async function ensureRendererBuilt(log: (line: string) => void = () => {}): Promise<string> {
  const index = join(RENDERER_OUT, "index.html");
  const fresh = existsSync(index) && (await stat(index)).mtimeMs >= (await newestMtime(RENDERER_SRC));
  if (!fresh) {
    log("building the UI (vite)");
    const { build } = await import("vite");
    await build({ configFile: join(RENDERER_SRC, "vite.config.ts"), logLevel: "warn" });
  }
  return RENDERER_OUT;
}
