// The CLI's entry point: `npm run cli -- …` runs it with tsx, and
// scripts/build-cli.mjs bundles it into out/cli/main.mjs for bin/hotplug-desk.cjs.
import { main } from "./main";

void main();
