// The UI in Chromium, served by the real web host against a lab node with
// 500 instances: time from navigation/click to the fleet view or slot board
// being on screen, renderer heap, and frame timing during a pointer drag.
import { writeFile } from "node:fs/promises";
import { chromium, type Browser, type CDPSession, type Page } from "playwright-core";
import { startAppForTest, type AppUnderTest } from "../../electron/web-host/test-harness.js";
import type { LabNode } from "../../electron/lab/node.js";
import { buildInstanceRuntime } from "../../electron/lab/instances.js";
import { instancePaths } from "../../shared/on-node/layout.js";
import { mib, round, summarize } from "./stats.js";

export const CHROMIUM = "/usr/bin/chromium";
const VSYNC_MS = 1000 / 60;

/** Stopped instances: a runtime file in conf/ and no QEMU, as after `gnt-instance shutdown`. */
export async function addStoppedInstances(lab: LabNode, count: number): Promise<string[]> {
  const names: string[] = [];
  for (let i = 0; i < count; i++) {
    const name = `s${String(i).padStart(3, "0")}.lab`;
    const { text } = await buildInstanceRuntime(lab, { name, generation: "C", nics: 1, disks: [] });
    await writeFile(instancePaths(lab.root, name).runtime, text, { mode: 0o600 });
    names.push(name);
  }
  return names;
}

/** In the page: time from `act()` until `ready()` holds and the frame showing it has been produced. */
async function timeInPage(page: Page, action: "fleet" | "instance", arg: string, readySelector: string): Promise<number> {
  return page.evaluate(
    async ({ action, arg, readySelector }) => {
      const button =
        action === "fleet"
          ? [...document.querySelectorAll<HTMLButtonElement>(".sidebar .nav-item")].find((b) => (b.textContent ?? "").startsWith("All instances"))
          : [...document.querySelectorAll<HTMLButtonElement>(".fleet-row button.link")].find((b) => b.textContent === arg);
      if (!button) throw new Error(`no button for ${action} ${arg}`);
      const t0 = performance.now();
      const shown = new Promise<void>((resolve) => {
        if (document.querySelector(readySelector)) return resolve();
        const obs = new MutationObserver(() => {
          if (document.querySelector(readySelector)) {
            obs.disconnect();
            resolve();
          }
        });
        obs.observe(document.body, { subtree: true, childList: true, attributes: true });
      });
      button.click();
      await shown;
      // The content counts as visible once the frame with it is done: rAF, then a task after rendering.
      await new Promise<void>((resolve) =>
        requestAnimationFrame(() => {
          const ch = new MessageChannel();
          ch.port1.onmessage = () => resolve();
          ch.port2.postMessage(null);
        }),
      );
      return performance.now() - t0;
    },
    { action, arg, readySelector },
  );
}

interface TraceEvent {
  name: string;
  ph: string;
  ts: number;
  dur?: number;
  pid: number;
  tid: number;
  args?: { name?: string };
}

/** Main-thread busy time of the page's renderer per 60 Hz frame window, from a Chrome trace. */
function busyPerFrame(
  events: TraceEvent[],
  from: number,
  to: number,
): { windows: number[]; longestTaskMs: number; longestTaskAtMs: number; longestTaskContents: Record<string, number>; thread: string } {
  const mainThreads = new Set(events.filter((e) => e.ph === "M" && e.name === "thread_name" && e.args?.name === "CrRendererMain").map((e) => `${e.pid}:${e.tid}`));
  const tasks = events.filter((e) => e.ph === "X" && (e.name === "RunTask" || e.name === "ThreadControllerImpl::RunTask") && mainThreads.has(`${e.pid}:${e.tid}`) && e.ts + (e.dur ?? 0) > from && e.ts < to);
  // Use one task event name only (both describe the same task), and the renderer that worked most.
  const name = tasks.some((t) => t.name === "RunTask") ? "RunTask" : "ThreadControllerImpl::RunTask";
  const perThread = new Map<string, TraceEvent[]>();
  for (const t of tasks) if (t.name === name) perThread.set(`${t.pid}:${t.tid}`, [...(perThread.get(`${t.pid}:${t.tid}`) ?? []), t]);
  let best: [string, TraceEvent[]] = ["none", []];
  const total = (l: TraceEvent[]) => l.reduce((a, t) => a + (t.dur ?? 0), 0);
  for (const entry of perThread) if (total(entry[1]) > total(best[1])) best = entry;
  const win = VSYNC_MS * 1000;
  const windows = new Array<number>(Math.max(1, Math.ceil((to - from) / win))).fill(0);
  let longest = 0;
  let longestAt = 0;
  let longestTask: TraceEvent | undefined;
  for (const t of best[1]) {
    const s = Math.max(t.ts, from);
    const e = Math.min(t.ts + (t.dur ?? 0), to);
    if ((t.dur ?? 0) / 1000 > longest) {
      longest = (t.dur ?? 0) / 1000;
      longestAt = (t.ts - from) / 1000;
      longestTask = t;
    }
    for (let w = Math.floor((s - from) / win); w <= Math.floor((e - from - 1) / win) && w < windows.length; w++) {
      const ws = from + w * win;
      windows[w]! += (Math.min(e, ws + win) - Math.max(s, ws)) / 1000;
    }
  }
  // What the longest task spent its time on (timeline events inside it; nested ones overlap).
  const contents: Record<string, number> = {};
  if (longestTask) {
    const lt = longestTask;
    for (const e of events) {
      if (e.ph !== "X" || e === lt || e.pid !== lt.pid || e.tid !== lt.tid || e.ts < lt.ts || e.ts + (e.dur ?? 0) > lt.ts + (lt.dur ?? 0) || e.name.includes("RunTask")) continue;
      contents[e.name] = round((contents[e.name] ?? 0) + (e.dur ?? 0) / 1000);
    }
  }
  const top = Object.fromEntries(
    Object.entries(contents)
      .sort((x, y) => y[1] - x[1])
      .slice(0, 6),
  );
  return { windows, longestTaskMs: longest, longestTaskAtMs: longestAt, longestTaskContents: top, thread: best[0] };
}

async function traced<T>(cdp: CDPSession, fn: () => Promise<T>): Promise<{ value: T; events: TraceEvent[] }> {
  const events: TraceEvent[] = [];
  // The protocol types trace events loosely (string maps); they carry the fields read here.
  const onData = (d: { value: unknown[] }) => void events.push(...(d.value as TraceEvent[]));
  cdp.on("Tracing.dataCollected", onData);
  await cdp.send("Tracing.start", {
    // Few categories, to keep the tracer's own cost out of the frames: tasks (toplevel) and input events.
    traceConfig: { includedCategories: ["toplevel", "devtools.timeline", "__metadata"], recordMode: "recordAsMuchAsPossible" },
    transferMode: "ReportEvents",
  });
  let value: T;
  try {
    value = await fn();
  } finally {
    const done = new Promise<void>((resolve) => cdp.once("Tracing.tracingComplete", () => resolve()));
    await cdp.send("Tracing.end");
    await done;
    cdp.off("Tracing.dataCollected", onData);
  }
  return { value, events };
}

export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--no-first-run", "--disable-sync"],
  });
}

/** A page on the web host's URL, timed from navigation to the first fleet row and to every instance listed. */
export async function openFleet(
  browser: Browser,
  url: string,
  expected: number,
  log: (line: string) => void,
): Promise<{ page: Page; cdp: CDPSession; marks: Record<string, number>; navWall: number; rowsInDom: number }> {
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  page.on("pageerror", (e) => log(`page error: ${e.message}`));
  const cdp = await page.context().newCDPSession(page);
  // tsx (esbuild keepNames) wraps functions passed to the page in __name(); give the page one.
  await page.addInitScript({ content: "globalThis.__name = (f) => f;" });
  // Navigation: timestamps taken in the page, relative to its navigation start.
  await page.addInitScript((expected: number) => {
    const w = window as unknown as { __marks: Record<string, number> };
    w.__marks = {};
    const obs = new MutationObserver(() => {
      if (w.__marks.firstRow === undefined && document.querySelector(".fleet-row[data-instance]")) w.__marks.firstRow = performance.now();
      const status = document.querySelector(".fleet .toolbar [role=status]")?.textContent ?? "";
      if (w.__marks.allListed === undefined && status.startsWith(`${expected} of ${expected}`)) {
        w.__marks.allListed = performance.now();
        obs.disconnect();
      }
    });
    obs.observe(document, { subtree: true, childList: true, characterData: true });
  }, expected);
  const navStart = performance.now();
  await page.goto(url);
  await page.waitForFunction(() => (window as unknown as { __marks: { allListed?: number } }).__marks.allListed !== undefined, undefined, { timeout: 120_000 });
  const navWall = performance.now() - navStart;
  const marks = await page.evaluate(() => (window as unknown as { __marks: Record<string, number> }).__marks);
  const rowsInDom = await page.locator(".fleet-row[data-instance]").count();
  return { page, cdp, marks, navWall, rowsInDom };
}

/** The fleet view from a click with the data already in the page (Activity -> All instances), `runs` times after one untimed. */
export async function fleetRenderTimes(page: Page, runs: number): Promise<number[]> {
  const fleetMs: number[] = [];
  for (let i = 0; i < runs + 1; i++) {
    await page.locator(".sidebar .nav-item", { hasText: "Activity" }).click();
    await page.locator(".fleet").waitFor({ state: "detached" });
    await page.waitForTimeout(50);
    const ms = await timeInPage(page, "fleet", "", ".fleet-row[data-instance]");
    if (i > 0) fleetMs.push(ms);
  }
  return fleetMs;
}

export interface UiOptions {
  lab: LabNode;
  expected: number;
  log: (line: string) => void;
  runs: number;
}

export async function benchUi(opts: UiOptions): Promise<Record<string, unknown>> {
  const { log } = opts;
  let app: AppUnderTest | undefined;
  let browser: Browser | undefined;
  try {
    app = await startAppForTest({ node: opts.lab });
    const a = app;
    // What the page has to wait for from the node: the inventory.list the fleet view shows.
    const listMs: number[] = [];
    for (let i = 0; i < 3; i++) {
      const t0 = performance.now();
      const list = (await a.app.dispatcher.call("inventory.list", {})) as unknown[];
      listMs.push(performance.now() - t0);
      if (list.length !== opts.expected) throw new Error(`inventory.list gave ${list.length} instances, expected ${opts.expected}`);
    }
    const getMs: number[] = [];
    for (let i = 0; i < 5; i++) {
      const t0 = performance.now();
      await a.app.dispatcher.call("instance.get", { nodeId: a.nodeId, instance: "i00.lab" });
      getMs.push(performance.now() - t0);
    }

    browser = await launchChromium();
    const { page, cdp, marks, navWall, rowsInDom } = await openFleet(browser, a.openUrl, opts.expected, log);

    // Renderer heap with the fleet view showing every instance.
    await cdp.send("HeapProfiler.collectGarbage");
    const heap = (await cdp.send("Runtime.getHeapUsage")) as { usedSize: number; totalSize: number };

    const fleetSum = summarize(await fleetRenderTimes(page, opts.runs));

    // Slot board from a click on an instance (includes instance.get over SSH).
    const boardMs: number[] = [];
    for (let i = 0; i < Math.min(opts.runs, 10) + 1; i++) {
      await page.locator(".fleet-row[data-instance='i00.lab']").waitFor();
      const ms = await timeInPage(page, "instance", "i00.lab", '[data-slot="0x1f"]');
      if (i > 0) boardMs.push(ms);
      if (i < Math.min(opts.runs, 10)) {
        await page.locator(".crumbs button", { hasText: "Instances" }).click();
        await page.locator(".fleet-row[data-instance]").first().waitFor();
      }
    }
    await page.locator('[data-slot="0x1f"]').waitFor();
    await cdp.send("HeapProfiler.collectGarbage");
    const heapBoard = (await cdp.send("Runtime.getHeapUsage")) as { usedSize: number; totalSize: number };

    // Drag: a NIC from the palette across every PCI slot, at about one move per frame, dropped back on the palette.
    log("ui: dragging a NIC across the slot board");
    await page.evaluate(() => {
      const w = window as unknown as { __raf: number[]; __rafOn: boolean };
      w.__raf = [];
      w.__rafOn = true;
      const loop = (ts: number) => {
        w.__raf.push(ts);
        if (w.__rafOn) requestAnimationFrame(loop);
      };
      requestAnimationFrame(loop);
    });
    const handle = page.locator("[data-testid=palette-nic] .palette-handle");
    const hb = (await handle.boundingBox())!;
    const cells = await page.locator("[data-slot]").evaluateAll((els) =>
      els.map((e) => {
        const r = e.getBoundingClientRect();
        return { x: r.x + r.width / 2, y: r.y + r.height / 2 };
      }),
    );
    const path: { x: number; y: number }[] = [];
    let at = { x: hb.x + 16, y: hb.y + hb.height / 2 };
    for (const c of [...cells, { x: hb.x + 16, y: hb.y + hb.height / 2 }]) {
      for (let k = 1; k <= 6; k++) path.push({ x: at.x + ((c.x - at.x) * k) / 6, y: at.y + ((c.y - at.y) * k) / 6 });
      at = c;
    }
    const { value: span, events } = await traced(cdp, async () => {
      await page.mouse.move(hb.x + 16, hb.y + hb.height / 2);
      await page.mouse.down();
      const startedAt = await page.evaluate(() => performance.now());
      const t0 = Date.now();
      for (const [k, p] of path.entries()) {
        await page.mouse.move(p.x, p.y);
        // A pointer reports about once per frame.
        const wait = t0 + (k + 1) * VSYNC_MS - Date.now();
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      }
      const activeSeen = (await page.locator('[data-testid="drag-status"].active').count()) > 0;
      await page.mouse.up();
      const endedAt = await page.evaluate(() => performance.now());
      return { startedAt, endedAt, activeSeen };
    });
    const raf = await page.evaluate(() => {
      const w = window as unknown as { __raf: number[]; __rafOn: boolean };
      w.__rafOn = false;
      return w.__raf;
    });
    const inDrag = raf.filter((t) => t >= span.startedAt && t <= span.endedAt);
    const intervals = inDrag.slice(1).map((t, i) => t - inDrag[i]!);
    // Trace time: the drag's span in trace microseconds, from the first and last mouse events seen.
    const dispatches = events.filter((e) => e.name === "EventDispatch" && e.ph === "X").map((e) => e.ts);
    const from = Math.min(...dispatches);
    const to = Math.max(...dispatches);
    const busy = busyPerFrame(events, from, to);
    const dragIntervals = summarize(intervals);
    const work = summarize(busy.windows);
    const dropped = intervals.filter((d) => d > VSYNC_MS * 1.5).length;

    return {
      page: "web host (loopback) in headless Chromium, 1280x800, --disable-gpu",
      instances: opts.expected,
      nodeSide: {
        inventoryListMs: summarize(listMs),
        instanceGetMs: summarize(getMs),
        note: "server-side time of the API calls the views wait for (measured in this process, no browser)",
      },
      fleetNavigation: {
        firstRowMs: round(marks.firstRow ?? NaN),
        allListedMs: round(marks.allListed ?? NaN),
        wallMs: round(navWall),
        rowsInDom,
        note: "from navigation start (page load, JS, app.info/nodes.list/inventory.list over the WebSocket, render) to the first row / the status line counting all instances",
      },
      fleetRender: {
        ...fleetSum,
        note: "click on 'All instances' (inventory already in the page) to the rows being on screen (MutationObserver, then the frame after)",
        target: { rule: "p50 < 100 ms", p50MaxMs: 100, pass: fleetSum.p50Ms < 100 },
      },
      slotBoard: {
        ...summarize(boardMs),
        note: "click on an instance in the fleet to all 32 PCI slots on screen; includes instance.get over SSH (runtime file + QMP probe)",
      },
      drag: {
        moves: path.length,
        dragActive: span.activeSeen,
        frames: inDrag.length,
        frameIntervals: { ...dragIntervals, droppedFrames: dropped, vsyncMs: round(VSYNC_MS) },
        mainThreadWorkPerFrame: {
          ...work,
          longestTaskMs: round(busy.longestTaskMs),
          longestTaskAtMs: round(busy.longestTaskAtMs),
          longestTaskContents: busy.longestTaskContents,
          dragMs: round((to - from) / 1000),
          note: "renderer main-thread busy time (top-level tasks in a Chrome trace) per 16.7 ms window during the drag: input handling, React, style, layout, paint",
        },
        target: {
          rule: "drag frames under 16 ms: p95 main-thread work per frame < 16 ms (frame intervals cannot go below the 16.7 ms vsync; frameIntervals shows dropped frames; longestTaskAtMs is when the longest task ran, from the first pointer event)",
          workP95Ms: work.p95Ms,
          pass: work.p95Ms < 16,
        },
      },
      heap: {
        fleet500: { usedMiB: mib(heap.usedSize), totalMiB: mib(heap.totalSize) },
        slotBoard: { usedMiB: mib(heapBoard.usedSize), totalMiB: mib(heapBoard.totalSize) },
        note: "CDP Runtime.getHeapUsage after HeapProfiler.collectGarbage",
      },
    };
  } finally {
    await browser?.close();
    await app?.stop();
  }
}
