// Builds the renderer on its own (no Electron needed): the Electron window
// and the loopback web host both load out/renderer/index.html.
import { defineConfig } from "vite";
import react from "@vitejs/plugin-react";

// Plain URL handling (no node:path): renderer/ is Node-free, this file included.
const dir = (rel: string): string => decodeURIComponent(new URL(rel, import.meta.url).pathname);

export default defineConfig({
  root: dir("."),
  // Relative asset URLs: the page is loaded from file:// in Electron and
  // from http://127.0.0.1:PORT/ by the web host.
  base: "./",
  plugins: [react()],
  build: {
    outDir: dir("../out/renderer"),
    emptyOutDir: true,
    // The CSP forbids inline scripts and styles; keep every asset a file.
    assetsInlineLimit: 0,
    sourcemap: true,
  },
});
