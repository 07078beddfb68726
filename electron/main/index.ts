// Electron's main process: one secure window onto the same app that the web
// host serves. The checklist (README "Security") is applied here: sandboxed,
// context-isolated renderer without Node; a custom app:// scheme instead of
// file://; CSP on every response; navigation, new windows and permission
// requests refused; IPC checked for its sender and validated with zod.
import { app, BrowserWindow, dialog, protocol, safeStorage, session, net, screen, shell } from "electron";
import { join, normalize, sep } from "node:path";
import { pathToFileURL } from "node:url";
import { composeApp } from "../app/compose.js";
import { labLauncher } from "../app/lab-launcher.js";
import { ELECTRON_CSP } from "../../shared/ipc/csp.js";
import { APP_HOST, APP_ORIGIN, APP_SCHEME } from "../../shared/ipc/electron-channels.js";
import { registerIpc } from "./ipc.js";
import { SecretStore } from "./secrets.js";
import { installMenu } from "./menu.js";
import { loadWindowState, onScreen, saveWindowState } from "./window-state.js";
import { dialogTrustGesture } from "./trust-dialog.js";
import { mayOpenExternally } from "./external-links.js";

protocol.registerSchemesAsPrivileged([{ scheme: APP_SCHEME, privileges: { standard: true, secure: true, supportFetchAPI: true } }]);
app.enableSandbox();

const devUrl = app.isPackaged ? undefined : process.env.ELECTRON_RENDERER_URL;
const rendererDir = join(__dirname, "../renderer");

function serveRenderer(): void {
  protocol.handle(APP_SCHEME, async (request) => {
    const url = new URL(request.url);
    if (url.host !== APP_HOST) return new Response("Not found", { status: 404 });
    const rel = normalize(decodeURIComponent(url.pathname === "/" ? "/index.html" : url.pathname));
    const file = join(rendererDir, rel);
    if (!file.startsWith(rendererDir + sep)) return new Response("Not found", { status: 404 });
    const res = await net.fetch(pathToFileURL(file).toString());
    const headers = new Headers(res.headers);
    headers.set("content-security-policy", ELECTRON_CSP);
    return new Response(res.body, { status: res.status, headers });
  });
}

// Tests and portable setups point the app at its own data dir.
if (process.env.HOTPLUG_DESK_DATA_DIR) app.setPath("userData", process.env.HOTPLUG_DESK_DATA_DIR);

async function main(): Promise<void> {
  await app.whenReady();
  const dataDir = app.getPath("userData");
  serveRenderer();

  // Deny every permission (camera, notifications, ...): the app needs none.
  session.defaultSession.setPermissionRequestHandler((_wc, _perm, callback) => callback(false));
  session.defaultSession.setPermissionCheckHandler(() => false);
  session.defaultSession.webRequest.onHeadersReceived((details, callback) => {
    callback({ responseHeaders: { ...details.responseHeaders, "Content-Security-Policy": [ELECTRON_CSP] } });
  });

  // The window the trust dialog belongs to (made below, after the app is composed).
  const windowRef: { current?: BrowserWindow } = {};
  const composed = await composeApp({
    dataDir,
    transport: "electron",
    version: app.getVersion(),
    lab: labLauncher(),
    // Key passphrases the user asks to remember: OS keychain only, never plain text.
    secretBackend: new SecretStore(dataDir, safeStorage),
    // Trusting a host key: main's own dialog, which the page cannot answer.
    trustGesture: dialogTrustGesture(() => (windowRef.current?.isDestroyed() === false ? windowRef.current : undefined), (w, o) => dialog.showMessageBox(w, o)),
  });
  installMenu(dataDir);

  const saved = onScreen(await loadWindowState(dataDir), screen.getAllDisplays().map((d) => d.workArea));
  const win = new BrowserWindow({
    ...saved,
    minWidth: 960,
    minHeight: 600,
    title: "Hotplug Desk",
    show: false,
    webPreferences: {
      preload: join(__dirname, "../preload/index.cjs"),
      contextIsolation: true,
      sandbox: true,
      nodeIntegration: false,
      webSecurity: true,
      spellcheck: false,
    },
  });
  windowRef.current = win;
  if (saved.maximized) win.maximize();
  const unregister = registerIpc(composed.dispatcher, composed.bus, () => (win.isDestroyed() ? undefined : win.webContents), devUrl);

  const allowedOrigin = devUrl ? new URL(devUrl).origin : APP_ORIGIN;
  win.webContents.on("will-navigate", (e, url) => {
    if (new URL(url).origin !== allowedOrigin) e.preventDefault();
  });
  win.webContents.setWindowOpenHandler(({ url }) => {
    // Only the app's own links (external-links.ts) open in the browser; nothing opens inside the app.
    if (mayOpenExternally(url)) void shell.openExternal(url);
    return { action: "deny" };
  });
  win.webContents.on("will-attach-webview", (e) => e.preventDefault());
  win.once("ready-to-show", () => win.show());
  win.on("close", () => {
    const b = win.getNormalBounds();
    void saveWindowState(dataDir, { x: b.x, y: b.y, width: b.width, height: b.height, maximized: win.isMaximized() });
  });

  await win.loadURL(devUrl ?? `${APP_ORIGIN}/index.html`);

  app.on("window-all-closed", () => {
    unregister();
    void composed.dispose().finally(() => app.quit());
  });
}

void main();
