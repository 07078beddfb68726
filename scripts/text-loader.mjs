// `import text from "./file.py?raw"` under tsx (node --import tsx --import
// ./scripts/text-loader.mjs, or tsx --import ./scripts/text-loader.mjs):
// the file's exact text as the default export, as Vite and esbuild give it
// when they build. Vite (vitest, electron-vite) needs nothing of this.
//
// tsx runs the project's .ts as CommonJS (package.json has no "type"), so
// the import becomes require("./file.py?raw"), which tsx resolves to the
// filename "file.py?raw=" and would otherwise compile as JavaScript: Node
// picks a loader by the longest registered extension, so these two catch it.
// The load hook below covers the same import from an ES module.
import { createRequire, register } from "node:module";
import { readFileSync } from "node:fs";
import { isMainThread } from "node:worker_threads";
import { fileURLToPath } from "node:url";

const RAW = /\?raw=?$/;

/** ESM: the module hooks thread loads this same file and uses this export. */
export async function load(url, context, nextLoad) {
  if (url.startsWith("file:") && RAW.test(url)) {
    const text = readFileSync(fileURLToPath(url.replace(RAW, "")), "utf8");
    return { format: "module", source: `export default ${JSON.stringify(text)};`, shortCircuit: true };
  }
  return nextLoad(url, context);
}

if (isMainThread) {
  const Module = createRequire(import.meta.url)("node:module");
  const asText = (module, filename) => {
    module.exports = { __esModule: true, default: readFileSync(filename.replace(RAW, ""), "utf8") };
  };
  for (const ext of [".py?raw", ".py?raw="]) Module._extensions[ext] = asText;
  register(import.meta.url);
}
