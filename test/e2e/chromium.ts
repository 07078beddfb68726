// Debian's Chromium driven by Playwright (not a test file itself): one page
// at the size the screenshots use, page errors printed, the app opened.
import { chromium, type Browser, type Page } from "playwright-core";
import type { ComposedApp } from "../../electron/app/compose.js";
import { startWebHost, type WebHost } from "../../electron/web-host/server.js";
import { ensureRendererBuilt } from "../../electron/web-host/renderer-build.js";

export const CHROMIUM = "/usr/bin/chromium";

export async function openInChromium(url: string): Promise<{ browser: Browser; page: Page }> {
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--no-first-run", "--disable-sync"],
  });
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  page.on("pageerror", (e) => console.error("page error:", e.message));
  await page.goto(url);
  return { browser, page };
}

/** A composed app served by the web host (the UI as built from the tree) and opened in Chromium. */
export async function serveInChromium(app: Pick<ComposedApp, "dispatcher" | "bus">): Promise<{ host: WebHost; browser: Browser; page: Page }> {
  const host = await startWebHost({ dispatcher: app.dispatcher, bus: app.bus, staticDir: await ensureRendererBuilt() });
  return { host, ...(await openInChromium(host.openUrl)) };
}
