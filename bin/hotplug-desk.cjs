#!/usr/bin/env node
// hotplug-desk: runs the CLI bundle built ahead of time (scripts/build-cli.mjs
// → out/cli/main.mjs) in this process. It is found from this file's own
// location, so the command works from any directory, under cron's bare
// environment and installed as a package; it needs no loader and no
// node_modules.
"use strict";
const { existsSync } = require("node:fs");
const path = require("node:path");
const { pathToFileURL } = require("node:url");

const bundle = path.join(__dirname, "..", "out", "cli", "main.mjs");
if (!existsSync(bundle)) {
  process.stderr.write(
    `hotplug-desk: the command line is not built (${bundle} is missing).\n` +
      "In a clone of the repository, build it with: npm run build:cli\n",
  );
  process.exit(1);
}
import(pathToFileURL(bundle).href).catch((err) => {
  process.stderr.write(`hotplug-desk: cannot load ${bundle}: ${err && err.stack ? err.stack : err}\n`);
  process.exit(1);
});
