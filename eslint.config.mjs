import js from "@eslint/js";
import tseslint from "typescript-eslint";

// Layer rules: shared/ is pure (no Node, no DOM-only APIs, no electron),
// renderer/ has no Node and no electron; only electron/ talks to the world.
const nodeModules = ["node:*", "fs", "path", "child_process", "net", "os", "crypto", "ssh2", "electron"];

export default tseslint.config(
  { ignores: ["node_modules/**", "out/**", "dist/**", ".lab/**"] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
    },
  },
  {
    files: ["shared/**/*.ts"],
    rules: {
      "no-restricted-imports": ["error", { patterns: nodeModules.map((group) => ({ group: [group], message: "shared/ is pure: no I/O, no Node, no electron." })) }],
      "no-restricted-globals": ["error", "window", "document", "process", "Buffer", "require"],
    },
  },
  {
    files: ["renderer/**/*.ts", "renderer/**/*.tsx"],
    rules: {
      "no-restricted-imports": ["error", { patterns: nodeModules.map((group) => ({ group: [group], message: "renderer/ has no Node: use window.api." })) }],
    },
  },
  {
    files: ["**/*.cjs"],
    languageOptions: { sourceType: "commonjs", globals: { require: "readonly", module: "writable", process: "readonly", __dirname: "readonly", console: "readonly" } },
    rules: { "@typescript-eslint/no-require-imports": "off" },
  },
);
