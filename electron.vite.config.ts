// electron-vite builds the three parts into out/: main (ESM-free CJS for
// Electron), the sandboxed preload (must be CommonJS: sandboxed preloads
// have no ESM context), and the renderer.
import { resolve } from "node:path";
import { defineConfig } from "electron-vite";
import react from "@vitejs/plugin-react";

export default defineConfig({
  main: {
    build: {
      outDir: "out/main",
      rollupOptions: { input: { index: resolve(__dirname, "electron/main/index.ts") } },
    },
  },
  preload: {
    build: {
      outDir: "out/preload",
      // Bundled whole: a sandboxed preload cannot require node_modules.
      externalizeDeps: false,
      rollupOptions: {
        input: { index: resolve(__dirname, "electron/preload/index.ts") },
        output: { format: "cjs", entryFileNames: "[name].cjs" },
      },
    },
  },
  renderer: {
    root: resolve(__dirname, "renderer"),
    plugins: [react()],
    build: {
      outDir: resolve(__dirname, "out/renderer"),
      rollupOptions: { input: { index: resolve(__dirname, "renderer/index.html") } },
    },
  },
});
