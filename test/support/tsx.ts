// Node flags that run a TypeScript file of this repo the way its npm scripts
// do: tsx, plus the loader that lets `?raw` imports (the node helper's Python
// source) load as text.
import { join } from "node:path";

export const REPO_ROOT = join(__dirname, "../..");
export const TSX_NODE_FLAGS: readonly string[] = ["--import", "tsx", "--import", join(REPO_ROOT, "scripts/text-loader.mjs")];
