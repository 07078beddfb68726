#!/usr/bin/env bash
# Install what the app needs and run it: in Electron where its binary is
# present, otherwise the same UI through the web host in a browser.
set -euo pipefail
cd "$(dirname "$0")/.."
# The lab packages let the app offer a local lab node; without root they are optional.
if [[ $(id -u) -eq 0 ]]; then bash scripts/system-packages.sh lab; fi
bash scripts/node-deps.sh
# The command line (bin/hotplug-desk.cjs runs out/cli), so `npx hotplug-desk` works too.
node scripts/build-cli.mjs
if bin=$(node scripts/electron-binary.cjs 2>/tmp/hotplug-desk-electron.why); then
  npx electron-vite build
  exec "$bin" .
fi
echo "No Electron binary here ($(cat /tmp/hotplug-desk-electron.why)); opening the same UI through the web host instead."
exec npx tsx --import ./scripts/text-loader.mjs electron/web-host/main.ts
