// Opening the web host in the user's browser without putting its token in
// any process's argv (readable by every local user in /proc/*/cmdline): the
// browser is started on a small HTML file, readable only by the user, that
// redirects to the address with the token (the way Jupyter's server does).
// The file lives in the user's runtime directory ($XDG_RUNTIME_DIR, private
// to the user), or else in a 0700 directory of our own.
import { spawn } from "node:child_process";
import { lstat, mkdtemp, open, rm, unlink } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";

export interface OpenFile {
  /** The redirect file (0600). */
  path: string;
  /** file:// address of it, for the browser. */
  url: string;
  remove(): Promise<void>;
}

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** $XDG_RUNTIME_DIR when it is a real directory owned by us and closed to others. */
async function privateRuntimeDir(env: NodeJS.ProcessEnv): Promise<string | undefined> {
  const dir = env.XDG_RUNTIME_DIR;
  if (!dir || !dir.startsWith("/")) return undefined;
  try {
    const st = await lstat(dir);
    const uid = process.getuid?.();
    if (!st.isDirectory() || (uid !== undefined && st.uid !== uid) || (st.mode & 0o077) !== 0) return undefined;
    return dir;
  } catch {
    return undefined;
  }
}

export async function writeOpenFile(openUrl: string, env: NodeJS.ProcessEnv = process.env): Promise<OpenFile> {
  const runtime = await privateRuntimeDir(env);
  // mkdtemp makes the directory 0700.
  const ownDir = runtime ? undefined : await mkdtemp(join(tmpdir(), "hotplug-desk-"));
  const path = join(runtime ?? ownDir!, `hotplug-desk-${process.pid}-open.html`);
  const href = escapeHtml(openUrl);
  const html = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="referrer" content="no-referrer">
<meta http-equiv="refresh" content="0;url=${href}">
<title>Opening Hotplug Desk…</title>
</head>
<body>
<p>Opening Hotplug Desk… If nothing happens, <a href="${href}">open Hotplug Desk</a>.</p>
<p>This file holds the address with this run's access token; it is readable only by you and removed when Hotplug Desk stops.</p>
</body>
</html>
`;
  // A file left by an earlier run under the same pid is ours to replace; "wx" then refuses anything raced in.
  await unlink(path).catch(() => undefined);
  const handle = await open(path, "wx", 0o600);
  try {
    await handle.writeFile(html, "utf8");
  } finally {
    await handle.close();
  }
  return {
    path,
    url: pathToFileURL(path).href,
    remove: async () => {
      await rm(path, { force: true });
      if (ownDir) await rm(ownDir, { recursive: true, force: true });
    },
  };
}

/**
 * The command that opens `target` in the user's browser: $BROWSER when set
 * (the first of its colon-separated commands; "%s" stands for the target,
 * else it is appended), otherwise xdg-open. Split into words, never run
 * through a shell.
 */
export function browserCommand(target: string, env: NodeJS.ProcessEnv = process.env): { file: string; args: string[] } {
  const first = (env.BROWSER ?? "").split(":").map((c) => c.trim()).find((c) => c !== "");
  if (!first) return { file: "xdg-open", args: [target] };
  const words = first.split(/\s+/);
  const withTarget = words.some((w) => w.includes("%s")) ? words.map((w) => w.replaceAll("%s", target)) : [...words, target];
  return { file: withTarget[0]!, args: withTarget.slice(1) };
}

/** Best effort: starts the browser on the redirect file and lets it run on its own. */
export function launchBrowser(openFile: OpenFile, env: NodeJS.ProcessEnv = process.env): void {
  const { file, args } = browserCommand(openFile.path, env);
  spawn(file, args, { stdio: "ignore", detached: true, env })
    .on("error", () => {})
    .unref();
}
