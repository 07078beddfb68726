// Runtime files for the runtime, planner, CLI and conformance tests (not a
// test file itself): the project's own files in test/fixtures/runtime, and
// Ganeti's upstream test file from the Debian package ganeti-testsuite. The
// upstream file is required: a test that reads it where it is missing fails
// and says what to install.
import { existsSync, readFileSync, readdirSync } from "node:fs";
import path from "node:path";
import { dumpGanetiJson, parsePyJson } from "../../shared/pyjson";

export const FIXTURES = path.resolve(__dirname, "../fixtures/runtime");
export const UPSTREAM_RUNTIME = "/usr/share/ganeti/testsuite/test/data/kvm_runtime.json";
export const UPSTREAM_NAME = "upstream kvm_runtime.json (ganeti-testsuite)";

/** Fixture names (files in FIXTURES) by what they are. */
export const FX = {
  a: "gen-a.py2.runtime",
  b: "gen-b.py2.runtime",
  cPy2: "gen-c.py2.runtime",
  cPy3: "gen-c.py3.runtime",
} as const;

export interface Fixture {
  name: string;
  /** One-line Ganeti layout (pretty-printed files normalized through pyjson); throws when the file is missing. */
  readonly text: string;
  readonly oneLineOnDisk: boolean;
}

/** The upstream file's path; throws, naming the package, where it is missing. */
export function upstreamRuntimePath(): string {
  if (!existsSync(UPSTREAM_RUNTIME)) {
    throw new Error(`${UPSTREAM_RUNTIME} is missing: install the Debian package ganeti-testsuite (npm test installs it through scripts/system-packages.sh)`);
  }
  return UPSTREAM_RUNTIME;
}

function fixtureAt(name: string, file: () => string): Fixture {
  let raw: string | undefined;
  const read = () => (raw ??= readFileSync(file(), "utf8"));
  return {
    name,
    get text() {
      return dumpGanetiJson(parsePyJson(read()));
    },
    get oneLineOnDisk() {
      return read() === this.text;
    },
  };
}

/** Every runtime file the tests run over: ours, then the upstream one. */
export function runtimeFixtures(): Fixture[] {
  const ours = readdirSync(FIXTURES)
    .filter((f) => f.endsWith(".runtime"))
    .sort()
    .map((f) => fixtureAt(f, () => path.join(FIXTURES, f)));
  return [...ours, fixtureAt(UPSTREAM_NAME, upstreamRuntimePath)];
}

/** One of our fixtures (a name from FX) in one-line form. */
export function readFixture(name: string): string {
  return dumpGanetiJson(parsePyJson(readFileSync(path.join(FIXTURES, name), "utf8")));
}

/** The upstream file in one-line form. */
export function readUpstream(): string {
  return dumpGanetiJson(parsePyJson(readFileSync(upstreamRuntimePath(), "utf8")));
}
