// ~/.ssh/config import: concrete Host entries become candidates, wildcards
// and Match blocks do not (Match exec is never run), jump hosts come along
// (aliases resolved), a ProxyCommand that needs a shell is reported as
// unsupported with a reason.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { candidateToRequest, importSshConfig } from "../../electron/node-registry/ssh-config-import";
import { nodeConfigFromRequest } from "../../shared/node-registry/schema";

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "hdsshcfg-"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function load(text: string) {
  const path = join(dir, `config-${Math.random().toString(36).slice(2)}`);
  await writeFile(path, text);
  return importSshConfig({ path, homeDir: "/home/me", localUser: "me" });
}

describe("ssh config import", () => {
  it("turns each concrete Host into a candidate, with HostName, Port, User and the first IdentityFile", async () => {
    const r = await load(`
# lab nodes
Host node1 node2
  HostName %h.lab.example.org
  User root
  IdentityFile ~/.ssh/id_lab
  IdentityFile ~/.ssh/id_old

Host rack3
  hostname 192.0.2.30
  port 2222

Host *
  IdentityFile %d/.ssh/id_%u
  User admin
`);
    expect(r.found).toBe(true);
    expect(r.unsupported).toEqual([]);
    expect(r.candidates).toEqual([
      { alias: "node1", name: "node1", host: "node1.lab.example.org", port: 22, user: "root", keyPath: "/home/me/.ssh/id_lab", notes: [expect.stringMatching(/2 more IdentityFile/)] },
      { alias: "node2", name: "node2", host: "node2.lab.example.org", port: 22, user: "root", keyPath: "/home/me/.ssh/id_lab", notes: [expect.stringMatching(/2 more IdentityFile/)] },
      { alias: "rack3", name: "rack3", host: "192.0.2.30", port: 2222, user: "admin", keyPath: "/home/me/.ssh/id_me", notes: [] },
    ]);
  });

  it("skips wildcard and negated patterns", async () => {
    const r = await load(`Host *.lab !bad-* db?\n  User x\nHost real\n  User y\n`);
    expect(r.candidates.map((c) => c.alias)).toEqual(["real"]);
  });

  it("takes ProxyJump (a config alias resolved to its HostName, User and Port) and ProxyCommand along, and 'none' as no proxy", async () => {
    const r = await load(`
Host bastion
  HostName 192.0.2.5
  User jump
  Port 2222
Host behind
  HostName 10.0.0.5
  ProxyJump bastion,admin@other.example.org:2200
Host proxied
  HostName 10.0.0.6
  ProxyCommand nsenter --net=/run/netns/x -- socat STDIO TCP:%h:%p
Host direct
  ProxyJump none
Host *
  ProxyCommand none
`);
    expect(r.unsupported).toEqual([]);
    const by = (a: string) => r.candidates.find((c) => c.alias === a)!;
    expect(by("behind").proxyJump).toBe("jump@192.0.2.5:2222,admin@other.example.org:2200");
    expect(by("proxied").proxyCommand).toBe("nsenter --net=/run/netns/x -- socat STDIO TCP:%h:%p");
    expect(by("direct").proxyJump).toBeUndefined();
    expect(by("direct").proxyCommand).toBeUndefined();
    // The form gets them, and a node made from it keeps them.
    const made = nodeConfigFromRequest(candidateToRequest(by("behind")), { homeDir: "/home/me", takenIds: [] });
    expect(made.ok && made.config.proxyJump).toBe("jump@192.0.2.5:2222,admin@other.example.org:2200");
  });

  it("reports a ProxyCommand that needs a shell as unsupported, saying why", async () => {
    const r = await load(`
Host piped
  HostName 10.0.0.7
  ProxyCommand ssh bastion nc %h %p | tee /tmp/log
Host envy
  ProxyCommand connect-proxy -H $PROXY %h %p
`);
    expect(r.candidates).toEqual([]);
    expect(r.unsupported).toEqual([
      { alias: "piped", reason: expect.stringMatching(/uses "\|", which needs a shell/) },
      { alias: "envy", reason: expect.stringMatching(/uses the variable \$PROXY/) },
    ]);
  });

  it("ignores Match blocks without running Match exec, and says so", async () => {
    const marker = join(dir, "match-exec-ran");
    const r = await load(`
Host node1
  HostName 192.0.2.1
Match exec "touch ${marker}"
  User evil
Match host 192.0.2.1
  Port 2200
`);
    expect(existsSync(marker)).toBe(false);
    expect(r.candidates).toEqual([{ alias: "node1", name: "node1", host: "192.0.2.1", port: 22, notes: ["No usable IdentityFile: ssh-agent will be used."] }]);
    expect(r.warnings.filter((w) => /Match .* block ignored/.test(w))).toHaveLength(2);
  });

  it("does not resolve names through CanonicalizeHostName", async () => {
    const r = await load(`Host short\n  CanonicalizeHostName yes\n  CanonicalDomains example.org\n`);
    expect(r.candidates[0]?.host).toBe("short");
  });

  it("notes what it could not use and reports Include lines", async () => {
    const r = await load(`
Include ~/.ssh/conf.d/*
Host odd
  IdentityFile ~/.ssh/id_%C
  User "we ird"
Host rel
  IdentityFile keys/id
Host badport
  Port ssh
Host badname
  HostName "bad name"
`);
    expect(r.warnings).toEqual([expect.stringMatching(/"Include ~\/\.ssh\/conf\.d\/\*" is not followed/)]);
    const odd = r.candidates.find((c) => c.alias === "odd");
    expect(odd?.keyPath).toBeUndefined();
    expect(odd?.notes.join("\n")).toMatch(/%-tokens/);
    expect(odd?.notes.join("\n")).toMatch(/not a plain login name/);
    expect(r.candidates.find((c) => c.alias === "rel")?.notes.join("\n")).toMatch(/relative path/);
    expect(r.unsupported.map((u) => u.alias).sort()).toEqual(["badname", "badport"]);
  });

  it("treats a missing file as no candidates", async () => {
    const r = await importSshConfig({ path: join(dir, "absent"), homeDir: "/home/me", localUser: "me" });
    expect(r).toMatchObject({ found: false, candidates: [], unsupported: [] });
  });

  it("candidates become valid node configs", async () => {
    const r = await load(`Host n1\n  HostName 192.0.2.5\n  Port 2022\n  User ganeti\n  IdentityFile ~/.ssh/id\nHost n2\n`);
    const configs = r.candidates.map((c) => nodeConfigFromRequest(candidateToRequest(c), { homeDir: "/home/me", takenIds: [] }));
    expect(configs).toEqual([
      { ok: true, config: { id: "n1", name: "n1", host: "192.0.2.5", port: 2022, user: "ganeti", auth: { kind: "key", keyPath: "/home/me/.ssh/id" }, root: "/" } },
      { ok: true, config: { id: "n2", name: "n2", host: "n2", port: 22, user: "root", auth: { kind: "agent" }, root: "/" } },
    ]);
  });
});
