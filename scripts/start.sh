#!/usr/bin/env bash
# Install what the app needs and run it. Until the UI lands (renderer/ and
# the Electron shell), this starts a lab node you can inspect and connect to.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/system-packages.sh
bash scripts/node-deps.sh
echo "The desktop UI is not built yet; starting a lab node instead (Ctrl-C stops it)."
exec npx tsx test/lab/cli.ts
