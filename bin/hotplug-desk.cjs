#!/usr/bin/env node
// Launcher: runs the TypeScript CLI through tsx in a child node process and
// exits with its code (the CLI is not compiled ahead of time).
"use strict";
const { spawn } = require("node:child_process");
const path = require("node:path");

const { pathToFileURL } = require("node:url");

const entry = path.resolve(__dirname, "..", "electron", "cli", "main.ts");
// The node helper's Python source is imported as text (`?raw`); this teaches tsx that.
const textLoader = pathToFileURL(path.resolve(__dirname, "..", "scripts", "text-loader.mjs")).href;
const child = spawn(process.execPath, ["--import", "tsx", "--import", textLoader, entry, ...process.argv.slice(2)], {
  stdio: "inherit",
  cwd: process.cwd(),
});

// Pass Ctrl-C and friends on; the child decides how to stop.
for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"]) {
  process.on(sig, () => child.kill(sig));
}

child.on("error", (err) => {
  process.stderr.write(`hotplug-desk: cannot start node: ${err.message}\n`);
  process.exit(1);
});

child.on("exit", (code, signal) => {
  if (signal) {
    // Re-raise so our parent sees the same signal death.
    process.removeAllListeners(signal);
    process.kill(process.pid, signal);
    return;
  }
  process.exit(code ?? 1);
});
