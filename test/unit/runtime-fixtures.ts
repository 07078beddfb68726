// Shared fixture loading for runtime-*.test.ts (not a test file itself).
import { existsSync, readFileSync, readdirSync } from "node:fs";
import path from "node:path";
import { dumpGanetiJson, parsePyJson } from "../../shared/pyjson";

export const FIXTURES = path.resolve(__dirname, "../../../shared/research/fixtures");
export const UPSTREAM_RUNTIME = "/usr/share/ganeti/testsuite/test/data/kvm_runtime.json";

export interface Fixture {
  name: string;
  /** One-line Ganeti layout (pretty-printed files normalized through pyjson). */
  text: string;
  oneLineOnDisk: boolean;
}

export function runtimeFixtures(): Fixture[] {
  const files = [
    path.join(FIXTURES, "kvm_runtime.v2.10-2.15.pci.json"),
    path.join(FIXTURES, "kvm_runtime.v2.16-master.hvinfo.json"),
    ...readdirSync(path.join(FIXTURES, "synthesized")).map((f) => path.join(FIXTURES, "synthesized", f)),
  ];
  if (existsSync(UPSTREAM_RUNTIME)) files.push(UPSTREAM_RUNTIME);
  return files.map((f) => {
    const raw = readFileSync(f, "utf8");
    const text = dumpGanetiJson(parsePyJson(raw));
    return { name: path.relative(path.dirname(FIXTURES), f).replace(/^\.\.\//, ""), text, oneLineOnDisk: raw === text };
  });
}

export function readFixture(rel: string): string {
  return dumpGanetiJson(parsePyJson(readFileSync(path.join(FIXTURES, rel), "utf8")));
}

export function vectors(): {
  device_id: { versions: string; dev_type_const: string; uuid: string | null; pci?: number | null; expected?: string }[];
  hvinfo_generation_fresh_instance: { dev_type: string; kvm_devid: string; hv_dev_type: string; expected: Record<string, unknown> }[];
  runtime_lookup_by_uuid: { fixture: string; target: string; uuid: string; expected?: Record<string, unknown> }[];
  upgrade_pci_to_hvinfo: Record<string, unknown>[];
} {
  return JSON.parse(readFileSync(path.join(FIXTURES, "device_id_slot_vectors.json"), "utf8"));
}
