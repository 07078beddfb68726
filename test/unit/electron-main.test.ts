// The Electron main process's own rules, tested without Electron (which
// cannot run on the build machines): who may call over IPC, where a saved
// window may reopen, which links may reach the system browser, and the CSP
// of each transport.
import { describe, it, expect } from "vitest";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { validSenderFrame } from "../../electron/main/sender-check";
import { DEFAULT_WINDOW_STATE, loadWindowState, onScreen, saveWindowState } from "../../electron/main/window-state";
import { EXTERNAL_LINKS, mayOpenExternally } from "../../electron/main/external-links";
import { ELECTRON_CSP, webHostCsp } from "../../shared/ipc/csp";

describe("IPC sender check", () => {
  it("accepts only our own top-level page", () => {
    expect(validSenderFrame({ origin: "app://hotplug-desk", parent: null }, undefined)).toBe(true);
    expect(validSenderFrame({ origin: "app://hotplug-desk", parent: {} }, undefined)).toBe(false);
    expect(validSenderFrame({ origin: "https://evil.example", parent: null }, undefined)).toBe(false);
    expect(validSenderFrame({ origin: "file://", parent: null }, undefined)).toBe(false);
    expect(validSenderFrame(null, undefined)).toBe(false);
  });

  it("accepts the dev server's origin only in development", () => {
    expect(validSenderFrame({ origin: "http://localhost:5173", parent: null }, "http://localhost:5173/index.html")).toBe(true);
    expect(validSenderFrame({ origin: "http://localhost:5173", parent: null }, undefined)).toBe(false);
  });
});

describe("window state", () => {
  it("round-trips, and falls back to defaults for a corrupt file", async () => {
    const dir = await mkdtemp(join(tmpdir(), "hdwin-"));
    try {
      expect(await loadWindowState(dir)).toEqual(DEFAULT_WINDOW_STATE);
      await saveWindowState(dir, { x: 10, y: 20, width: 1400, height: 900, maximized: true });
      expect(await loadWindowState(dir)).toEqual({ x: 10, y: 20, width: 1400, height: 900, maximized: true });
      await writeFile(join(dir, "window-state.json"), "{not json");
      expect(await loadWindowState(dir)).toEqual(DEFAULT_WINDOW_STATE);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("drops a saved position that is no longer on any screen", () => {
    const screens = [{ x: 0, y: 0, width: 1920, height: 1080 }];
    expect(onScreen({ x: 100, y: 100, width: 1280, height: 800, maximized: false }, screens)).toMatchObject({ x: 100, y: 100 });
    const off = onScreen({ x: 3000, y: 100, width: 1280, height: 800, maximized: false }, screens);
    expect(off.x).toBeUndefined();
    expect(off.width).toBe(1280);
  });
});

describe("links to the system browser", () => {
  it("opens none of what a page could ask for: the app links nowhere outside itself", () => {
    expect(EXTERNAL_LINKS).toEqual([]);
    for (const url of ["https://example.org/", "https://github.com/", "http://127.0.0.1:8080/", "file:///etc/passwd", "javascript:alert(1)", "smb://host/share", "not a url"]) {
      expect(mayOpenExternally(url), url).toBe(false);
    }
  });

  it("opens only an exact https address from the allow-list", () => {
    const allowed = ["https://docs.ganeti.org/docs/ganeti/3.0/html/"];
    expect(mayOpenExternally("https://docs.ganeti.org/docs/ganeti/3.0/html/", allowed)).toBe(true);
    expect(mayOpenExternally("https://docs.ganeti.org/docs/ganeti/3.0/html/../../evil", allowed)).toBe(false);
    expect(mayOpenExternally("https://docs.ganeti.org.evil.example/docs/ganeti/3.0/html/", allowed)).toBe(false);
    expect(mayOpenExternally("http://docs.ganeti.org/docs/ganeti/3.0/html/", allowed)).toBe(false);
  });
});

describe("Content-Security-Policy per transport", () => {
  const directive = (csp: string, name: string) => csp.split(";").map((d) => d.trim()).find((d) => d.startsWith(`${name} `));

  it("Electron's window may open no socket at all", () => {
    expect(directive(ELECTRON_CSP, "connect-src")).toBe("connect-src 'self'");
    expect(ELECTRON_CSP).not.toMatch(/ws:|\*/);
    expect(directive(ELECTRON_CSP, "script-src")).toBe("script-src 'self'");
  });

  it("the web host's page may reach only its own port", () => {
    const csp = webHostCsp(41234);
    expect(directive(csp, "connect-src")).toBe("connect-src 'self' ws://127.0.0.1:41234 ws://localhost:41234");
    expect(csp).not.toContain("*");
    expect(() => webHostCsp(0)).toThrow(/not a TCP port/);
  });
});
