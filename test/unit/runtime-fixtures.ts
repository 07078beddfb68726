// Runtime files for the runtime, planner, CLI and conformance tests (not a
// test file itself): the project's own files in test/fixtures/runtime, and
// Ganeti's upstream test file from the Debian package ganeti-testsuite. The
// upstream file is required: a test that reads it where it is missing fails
// and says what to install.
import { existsSync, readFileSync, readdirSync } from "node:fs";
import path from "node:path";
import { dumpGanetiJson, parsePyJson } from "../../shared/pyjson";
import { emptyRuntime, newDisk, newNic, type Runtime } from "../../shared/runtime";

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

/** A runtime of new devices (PCI NICs, a PCI disk, SCSI disks, an rbd uri), as the app creates them. */
export function newDevicesRuntime(): Runtime {
  const kvm = ["/usr/bin/kvm", "-name", "inst1", "-m", 1024, "-device", "virtio-balloon", "-vnc", "0.0.0.0:5100"];
  const rt = emptyRuntime(kvm, { disk_type: "paravirtual", kvm_pci_reservations: 12, nic_type: "paravirtual", scsi_controller_type: "virtio-scsi-pci" });
  rt.nics.push(newNic({ uuid: "9e7c85f6-b6e5-4243-b27d-680b78c6d203", mac: "aa:00:00:12:34:56", link: "br0", slot: 12 }));
  rt.nics.push(newNic({ uuid: "003fc157-66a8-4e6d-8b7e-ec4f69751396", mac: "aa:00:00:bf:2f:16", link: "br1", mode: "openvswitch", vlan: "100", slot: 16 }));
  rt.disks.push(newDisk({ uuid: "932df160-7a22-4067-a566-7e0ca8386133", size: 10240, linkName: "/var/run/ganeti/instance-disks/inst1:0", slot: 13 }));
  rt.disks.push(newDisk({ uuid: "7c079136-2573-4112-82d0-0d3d2aa90d8f", size: 1024, linkName: "/var/run/ganeti/instance-disks/inst1:1", scsiId: 0, driver: "scsi-hd", ivName: "disk/1" }));
  rt.disks.push(newDisk({ uuid: "3edc32a2-8127-4b9d-a1c3-6d0f0a3c2b1e", size: 2048, linkName: "/var/run/ganeti/instance-disks/inst1:2", uri: "rbd:ganeti/img", scsiId: 3, driver: "scsi-block", ivName: "disk/2" }));
  return rt;
}
