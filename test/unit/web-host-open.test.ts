// Where the web host puts the file the browser opens (readable only by the
// user), and how it builds the browser's command line from $BROWSER.
import { describe, it, expect } from "vitest";
import { chmod, mkdir, mkdtemp, readFile, rm, stat } from "node:fs/promises";
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { tmpdir } from "node:os";
import { browserCommand, writeOpenFile } from "../../electron/web-host/open-in-browser";

const URL_WITH_TOKEN = "http://127.0.0.1:4000/#token=abc_DEF-123";

describe("the redirect file", () => {
  it("goes in $XDG_RUNTIME_DIR when that is private, mode 0600, and redirects to the tokened address", async () => {
    const base = await mkdtemp(join(tmpdir(), "hdopen-"));
    try {
      const runtime = join(base, "run");
      await mkdir(runtime, { mode: 0o700 });
      await chmod(runtime, 0o700);
      const f = await writeOpenFile(URL_WITH_TOKEN, { XDG_RUNTIME_DIR: runtime });
      expect(dirname(f.path)).toBe(runtime);
      expect((await stat(f.path)).mode & 0o777).toBe(0o600);
      const html = await readFile(f.path, "utf8");
      expect(html).toContain(`<meta http-equiv="refresh" content="0;url=${URL_WITH_TOKEN}">`);
      expect(f.url).toBe(`file://${f.path}`);
      await f.remove();
      expect(existsSync(f.path)).toBe(false);
    } finally {
      await rm(base, { recursive: true, force: true });
    }
  });

  it("falls back to a 0700 directory of its own when $XDG_RUNTIME_DIR is unset or open to others", async () => {
    const base = await mkdtemp(join(tmpdir(), "hdopen-"));
    try {
      const open = join(base, "open");
      await mkdir(open);
      await chmod(open, 0o777);
      for (const env of [{}, { XDG_RUNTIME_DIR: open }, { XDG_RUNTIME_DIR: "relative/dir" }]) {
        const f = await writeOpenFile(URL_WITH_TOKEN, env);
        expect(dirname(f.path)).not.toBe(open);
        expect((await stat(dirname(f.path))).mode & 0o777).toBe(0o700);
        expect((await stat(f.path)).mode & 0o777).toBe(0o600);
        await f.remove();
        expect(existsSync(dirname(f.path))).toBe(false);
      }
    } finally {
      await rm(base, { recursive: true, force: true });
    }
  });
});

describe("the browser command", () => {
  it("is xdg-open on the file without $BROWSER, else $BROWSER's first command, split into words, no shell", () => {
    expect(browserCommand("/run/user/1/f.html", {})).toEqual({ file: "xdg-open", args: ["/run/user/1/f.html"] });
    expect(browserCommand("/f.html", { BROWSER: "firefox" })).toEqual({ file: "firefox", args: ["/f.html"] });
    expect(browserCommand("/f.html", { BROWSER: "chromium --new-window %s:firefox" })).toEqual({ file: "chromium", args: ["--new-window", "/f.html"] });
    expect(browserCommand("/f.html", { BROWSER: "sh -c 'rm -rf ~'" })).toEqual({ file: "sh", args: ["-c", "'rm", "-rf", "~'", "/f.html"] });
  });
});
