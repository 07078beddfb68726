// The Content-Security-Policy of the app's pages, one per transport: scripts
// only from the app itself, nothing framed, no plugins. Only the web host's
// page needs a socket (its API WebSocket on its own loopback port); the
// Electron window talks to main over IPC and may open none.
const COMMON = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "font-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "frame-ancestors 'none'",
  "form-action 'none'",
];

/** Electron (app://hotplug-desk, as a response header and for the dev server). */
export const ELECTRON_CSP = [...COMMON, "connect-src 'self'"].join("; ");

/** The web host on 127.0.0.1:port: its own origin and its API socket on that port, nothing else. */
export function webHostCsp(port: number): string {
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new Error(`webHostCsp: ${port} is not a TCP port`);
  return [...COMMON, `connect-src 'self' ws://127.0.0.1:${port} ws://localhost:${port}`].join("; ");
}
