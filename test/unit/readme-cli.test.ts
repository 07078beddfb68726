// The README's command-line section is what the program prints: every
// "$ hotplug-desk … --help" block there is run (the built CLI) and must match
// byte for byte, and every area the program lists has its help in the README.
import { readFileSync } from "node:fs";
import path from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { REPO, buildCli, runCli } from "./cli-bundle";

const README = readFileSync(path.join(REPO, "README.md"), "utf8");

/** The fenced blocks of the README's "### The command line" section that start with "$ hotplug-desk". */
function helpBlocks(): { args: string[]; text: string }[] {
  const start = README.indexOf("\n### The command line\n");
  expect(start, "README has no '### The command line' section").toBeGreaterThan(0);
  const end = README.indexOf("\n## ", start + 1);
  const section = README.slice(start, end < 0 ? undefined : end);
  return [...section.matchAll(/^```[a-z]*\n\$ hotplug-desk ([^\n]*)\n([\s\S]*?)^```$/gm)].map((m) => ({ args: m[1]!.trim().split(/\s+/), text: m[2]! }));
}

beforeAll(() => {
  buildCli();
});

describe("README: the command line", () => {
  const blocks = helpBlocks();

  it("shows --help output blocks", () => {
    expect(blocks.map((b) => b.args.join(" "))).toEqual(expect.arrayContaining(["--help"]));
  });

  for (const b of blocks) {
    it(`"hotplug-desk ${b.args.join(" ")}" prints exactly what the README shows`, () => {
      const r = runCli(b.args);
      expect(r.code).toBe(0);
      expect(r.stdout).toBe(b.text);
    });
  }

  it("every area the program lists has its --help in the README", () => {
    const main = runCli(["--help"]).stdout;
    const areas = [...main.slice(main.indexOf("Areas:")).matchAll(/^ {2}(\S+) /gm)].map((m) => m[1]!);
    expect(areas.length).toBeGreaterThan(3);
    const shown = new Set(blocks.map((b) => b.text));
    for (const area of areas) expect(shown.has(runCli([area, "--help"]).stdout), `hotplug-desk ${area} --help is not in the README`).toBe(true);
  });
});
