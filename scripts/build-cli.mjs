#!/usr/bin/env node
// Builds the command line ahead of time into out/cli/: one small ES module
// entry (main.mjs) and chunks that load only when a command needs them, so
// `hotplug-desk runtime …` never loads ssh2. Everything the CLI imports,
// npm packages included, is in the bundle: bin/hotplug-desk.cjs runs it from
// any directory, from cron, and installed as a package, with no loader and
// no node_modules. ssh2's optional native add-ons stay out (it falls back to
// its JavaScript crypto). `import x from "./f.py?raw"` loads f.py as text.
import { build } from "esbuild";
import { readFile, readdir, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
export const CLI_OUT = path.join(ROOT, "out", "cli");

/** Vite's `?raw` suffix: the file's text as the module's default export. */
export const rawTextPlugin = {
  name: "raw-text",
  setup(b) {
    b.onResolve({ filter: /\?raw$/ }, (args) => ({
      path: path.resolve(args.resolveDir, args.path.slice(0, -"?raw".length)),
      namespace: "raw-text",
    }));
    b.onLoad({ filter: /.*/, namespace: "raw-text" }, async (args) => ({
      contents: await readFile(args.path, "utf8"),
      loader: "text",
      watchFiles: [args.path],
    }));
  },
};

/**
 * zod re-exports every locale (about 330 KB of messages) through its `z`
 * namespace; the CLI speaks English, so the bundle carries only that one.
 */
export const zodEnglishOnlyPlugin = {
  name: "zod-english-only",
  setup(b) {
    b.onResolve({ filter: /\/locales\/index\.js$/ }, (args) =>
      /[\\/]node_modules[\\/]zod[\\/]/.test(args.importer) ? { path: "zod-locales", namespace: "zod-english-only", pluginData: args.resolveDir } : undefined,
    );
    b.onLoad({ filter: /.*/, namespace: "zod-english-only" }, (args) => ({
      contents: 'export { default as en } from "./en.js";\n',
      resolveDir: path.resolve(args.pluginData, "..", "locales"),
      loader: "js",
    }));
  },
};

/**
 * The bundle holds copies of npm packages (MIT, BSD and the like), so it
 * ships their licence texts: out/cli/THIRD-PARTY-LICENSES.txt, one section
 * per package found among the bundle's inputs.
 */
async function writeLicenses(metafile, outdir) {
  const dirs = new Set();
  for (const input of Object.keys(metafile.inputs)) {
    const m = input.match(/^(.*node_modules\/(?:@[^/]+\/)?[^/]+)\//);
    if (m) dirs.add(m[1]);
  }
  const sections = [];
  for (const dir of [...dirs].sort()) {
    const pkg = JSON.parse(await readFile(path.join(ROOT, dir, "package.json"), "utf8"));
    const licence = pkg.license ?? pkg.licenses?.map((l) => l.type).join(", ");
    const files = (await readdir(path.join(ROOT, dir))).filter((f) => /^(licen[cs]e|copying|notice)/i.test(f)).sort();
    const texts = await Promise.all(files.map((f) => readFile(path.join(ROOT, dir, f), "utf8")));
    const body = texts.length ? texts.join("\n") : `(no licence file in the package; package.json says: ${licence ?? "nothing"})\n`;
    sections.push(`${pkg.name}@${pkg.version} (${licence ?? "licence not stated"})\n\n${body.trimEnd()}\n`);
  }
  await writeFile(path.join(outdir, "THIRD-PARTY-LICENSES.txt"), `npm packages bundled into the hotplug-desk command line\n\n${sections.join(`\n${"-".repeat(72)}\n\n`)}`);
}

export async function buildCli({ outdir = CLI_OUT } = {}) {
  await rm(outdir, { recursive: true, force: true });
  const result = await build({
    absWorkingDir: ROOT,
    entryPoints: { main: "electron/cli/start.ts" },
    outdir,
    bundle: true,
    splitting: true,
    format: "esm",
    platform: "node",
    target: "node20.19",
    outExtension: { ".js": ".mjs" },
    chunkNames: "chunks/[name]-[hash]",
    // Bundled CommonJS packages (ssh2) use require, __filename and __dirname; ES modules have none.
    banner: {
      js: [
        'import { createRequire as __hdRequire } from "node:module";',
        'import { fileURLToPath as __hdPath } from "node:url";',
        "const require = __hdRequire(import.meta.url);",
        "const __filename = __hdPath(import.meta.url);",
        'const __dirname = __hdPath(new URL(".", import.meta.url));',
      ].join(" "),
    },
    external: ["*.node"],
    plugins: [rawTextPlugin, zodEnglishOnlyPlugin],
    minifyWhitespace: true,
    minifySyntax: true,
    legalComments: "linked",
    metafile: true,
    logLevel: "warning",
  });
  await writeLicenses(result.metafile, outdir);
  return result;
}

// `node scripts/build-cli.mjs [--metafile FILE]`: FILE gets esbuild's account of what went where.
if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const i = process.argv.indexOf("--metafile");
  const result = await buildCli();
  if (i > 0) await writeFile(path.resolve(process.argv[i + 1]), JSON.stringify(result.metafile));
}
