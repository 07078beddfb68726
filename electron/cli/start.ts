// The CLI's entry point: scripts/build-cli.mjs bundles it into
// out/cli/main.mjs for bin/hotplug-desk.cjs (`npx tsx electron/cli/start.ts …`
// runs it from source).
import { main } from "./main";

void main();
