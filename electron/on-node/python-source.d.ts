// `import text from "./x.py?raw"`: the file's text, bundled at build time
// (Vite and esbuild natively; under tsx, scripts/text-loader.mjs).
declare module "*.py?raw" {
  const text: string;
  export default text;
}
