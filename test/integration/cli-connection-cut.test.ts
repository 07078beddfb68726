// The real CLI (bin/hotplug-desk.cjs, a child process) against the lab's
// real sshd through a relay that cuts the TCP connection during the SSH
// handshake. Every command must end with its JSON result and a non-zero
// exit: a cut connection must never look like success (issue 13: it used to
// exit 0 with no output, because the connect promise never settled).
import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { execFile } from "node:child_process";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { startSshd, type RunningSshd } from "../../electron/lab/sshd.js";
import { startCuttingRelay, type Direction } from "./cutting-relay.js";

const repo = resolve(__dirname, "../..");
let dir: string;
let sshd: RunningSshd;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "hdclicut-"));
  sshd = await startSshd(join(dir, "ssh"));
  await mkdir(join(dir, "root"));
});

afterAll(async () => {
  await sshd?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

function runCli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((done) => {
    execFile(process.execPath, [join(repo, "bin/hotplug-desk.cjs"), ...args], { cwd: repo, timeout: 60_000 }, (err, stdout, stderr) => {
      done({ code: err ? ((err as { code?: number }).code ?? null) : 0, stdout, stderr });
    });
  });
}

async function nicAddThroughRelay(cutAfter: number, direction: Direction, extra: string[]) {
  const relay = await startCuttingRelay(sshd.port, cutAfter, direction);
  const knownHosts = join(dir, `known_hosts_${relay.port}`);
  await writeFile(knownHosts, `[127.0.0.1]:${relay.port} ${sshd.hostPublicKey}\n`);
  try {
    const r = await runCli([
      "nic", "add", "alpha.lab", "--link", "br0",
      "--node", `${sshd.user}@127.0.0.1:${relay.port}`, "-i", sshd.privateKeyPath, "--known-hosts", knownHosts,
      "--root", join(dir, "root"), "--journal", join(dir, "journal"), ...extra,
    ]);
    const cut = await Promise.race([relay.cut, new Promise<null>((r) => setTimeout(() => r(null), 100))]);
    return { ...r, cut };
  } finally {
    await relay.close();
  }
}

describe("the CLI when the SSH connection is cut during the handshake", () => {
  const cases: [number, Direction][] = [
    [300, "up"],
    [300, "down"],
    [1500, "up"],
  ];
  for (const [cutAfter, direction] of cases) {
    for (const dry of [false, true]) {
      it(`nic add${dry ? " --dry-run" : ""}, cut after ${cutAfter} bytes ${direction}: JSON error and exit 1`, async () => {
        const r = await nicAddThroughRelay(cutAfter, direction, dry ? ["--dry-run"] : []);
        expect(r.cut, "the relay cut the connection").toMatchObject({ direction, passed: cutAfter });
        expect(r.code, `stdout: ${r.stdout} stderr: ${r.stderr}`).toBe(1);
        const out = JSON.parse(r.stdout) as { status: string; error: { message: string } };
        expect(out.status).toBe("error");
        expect(out.error.message).toMatch(/127\.0\.0\.1:\d+/);
        // A cut before "ready" is the connect's own error; after it (1,500 bytes up is past
        // authentication here) the first channel the command opens fails instead.
        expect(out.error.message).toMatch(/was closed (before the key exchange|during authentication)|No response from server|gone|connection was lost/i);
        // A cut is a lost connection, never a node without an SFTP subsystem.
        expect(out.error.message).not.toMatch(/sftp Subsystem/);
      });
    }
  }

  it("through the same relay without a cut, the command reaches the node and says why it failed there", async () => {
    const r = await nicAddThroughRelay(1 << 30, "up", ["--dry-run"]);
    expect(r.cut).toBeNull();
    expect(r.code).toBe(1);
    // The lab node has no instance alpha.lab: the change path refuses it, naming it.
    const out = JSON.parse(r.stdout) as { status: string; refusals: { message: string }[] };
    expect(out.status).toBe("refused");
    expect(out.refusals.map((x) => x.message).join("\n")).toMatch(/alpha\.lab/);
  });
});
