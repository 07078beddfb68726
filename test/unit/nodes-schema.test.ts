// Node settings schemas: defaults, refusals whose messages name the field and
// the fix, secrets refused, and turning typed input into a NodeConfig.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  AddNodeRequestSchema,
  NodeConfigSchema,
  NodeStatusSchema,
  NodesFileSchema,
  formatIssues,
  nodeConfigFromRequest,
  slugify,
  splitHostInput,
} from "../../shared/node-registry/schema";

const base = { id: "node-1", name: "Node 1", host: "node1.example.org", user: "root", auth: { kind: "agent" } };

function messages(input: unknown): string[] {
  const r = NodeConfigSchema.safeParse(input);
  expect(r.success).toBe(false);
  return r.success ? [] : formatIssues(r.error);
}

describe("NodeConfig", () => {
  it("fills port 22 and root / by default", () => {
    expect(NodeConfigSchema.parse(base)).toEqual({ ...base, port: 22, root: "/" });
  });

  it("keeps the optional Ganeti fields", () => {
    const full = { ...base, port: 2222, root: "/srv/chroot", auth: { kind: "key", keyPath: "/home/me/.ssh/id_ed25519" }, ganetiVersion: "3.0.2", migrationPeers: ["node-2"], generationFloor: "B" };
    expect(NodeConfigSchema.parse(full)).toEqual(full);
  });

  it.each([
    [{ id: "Node_1" }, /id must be a slug/],
    [{ id: "-x" }, /id must be a slug/],
    [{ port: 0 }, /port must be a whole number from 1 to 65535/],
    [{ port: 70000 }, /port must be a whole number from 1 to 65535/],
    [{ port: 22.5 }, /port must be a whole number/],
    [{ host: "root@node1" }, /host .*contains "@": put the user name in user/],
    [{ host: "node1:2222" }, /host .*contains a port: put the port in port/],
    [{ host: "[fd00::1]" }, /host .*brackets/],
    [{ host: "node 1" }, /host .*not a valid host name/],
    [{ host: "-oProxyCommand=x" }, /host .*not a valid host name/],
    [{ user: "1root" }, /user must be a login name/],
    [{ root: "relative/path" }, /root must be an absolute path/],
    [{ root: "/srv/../etc" }, /root must be an absolute path/],
    [{ root: "/srv/" }, /root must be an absolute path/],
    [{ auth: { kind: "key", keyPath: "~/.ssh/id" } }, /auth\.keyPath must be the absolute path/],
    [{ auth: { kind: "password" } }, /auth must be/],
    [{ ganetiVersion: "three" }, /ganetiVersion must be a Ganeti version such as "3\.0\.2"/],
    [{ migrationPeers: ["node-1"] }, /migrationPeers must not contain the node itself/],
    [{ migrationPeers: ["a", "a"] }, /migrationPeers lists a node twice/],
    [{ generationFloor: "D" }, /generationFloor/],
  ])("refuses %j with a message naming the field", (patch, expected) => {
    expect(messages({ ...base, ...patch }).join("\n")).toMatch(expected);
  });

  it("names a missing field", () => {
    const { host: _host, ...noHost } = base;
    expect(messages(noHost)).toContain("host is required");
  });

  it("refuses secrets and says to use ssh-agent", () => {
    expect(messages({ ...base, password: "hunter2" }).join("\n")).toMatch(/password: secrets are never stored.*ssh-agent/);
    expect(messages({ ...base, auth: { kind: "key", keyPath: "/k", passphrase: "x" } }).join("\n")).toMatch(/passphrase: secrets are never stored/);
    expect(messages({ ...base, colour: "red" }).join("\n")).toMatch(/unknown field\(s\) colour: remove them/);
  });

  it("accepts IPv4, IPv6 and host names", () => {
    for (const host of ["192.0.2.10", "fd00::1", "::1", "node1", "n_1.lab.example.org."]) {
      expect(NodeConfigSchema.safeParse({ ...base, host }).success, host).toBe(true);
    }
  });
});

describe("NodesFile", () => {
  it("refuses two nodes with the same id", () => {
    const r = NodesFileSchema.safeParse({ version: 1, nodes: [base, { ...base, name: "again" }] });
    expect(r.success).toBe(false);
    expect(r.success ? "" : formatIssues(r.error).join()).toMatch(/id "node-1" is used by two nodes/);
  });

  it("refuses a file from another version", () => {
    const r = NodesFileSchema.safeParse({ version: 2, nodes: [] });
    expect(r.success ? "" : formatIssues(r.error).join()).toMatch(/version must be 1/);
  });
});

describe("NodeStatus", () => {
  it("accepts a host-key failure with where the old key lives", () => {
    const s = {
      id: "node-1",
      state: "failed",
      detail: "changed",
      since: 1,
      hostKey: { verdict: "changed", fingerprint: "SHA256:a", keyType: "ssh-ed25519", knownFingerprints: ["SHA256:b"], knownAt: [{ file: "/k", line: 2 }] },
    };
    expect(NodeStatusSchema.parse(s)).toEqual(s);
    expect(NodeStatusSchema.safeParse({ ...s, state: "sleeping" }).success).toBe(false);
  });
});

describe("adding a node from what the user typed", () => {
  const ctx = { homeDir: "/home/me", takenIds: ["node1"] };

  it("splits user@host:port and defaults to root over ssh-agent", () => {
    const r = nodeConfigFromRequest({ host: "admin@node1.lab:2222" }, { homeDir: "/home/me", takenIds: [] });
    expect(r).toEqual({ ok: true, config: { id: "node1-lab", name: "node1.lab", host: "node1.lab", port: 2222, user: "admin", auth: { kind: "agent" }, root: "/" } });
    const plain = nodeConfigFromRequest({ host: "node9" }, ctx);
    expect(plain.ok && plain.config).toMatchObject({ user: "root", port: 22, auth: { kind: "agent" } });
  });

  it("handles bracketed and bare IPv6", () => {
    expect(splitHostInput("root@[fd00::1]:2200")).toEqual({ host: "fd00::1", user: "root", port: "2200" });
    expect(splitHostInput("fd00::1")).toEqual({ host: "fd00::1", user: undefined });
    const r = nodeConfigFromRequest({ host: "[fd00::1]:2200" }, ctx);
    expect(r.ok && r.config).toMatchObject({ host: "fd00::1", port: 2200, id: "fd00-1" });
  });

  it("expands ~/ in keyPath and accepts the port as text", () => {
    const r = nodeConfigFromRequest({ host: "node2", port: "2022", keyPath: "~/.ssh/../.ssh/id_lab", name: "Rack 2" }, ctx);
    expect(r).toEqual({ ok: true, config: { id: "rack-2", name: "Rack 2", host: "node2", port: 2022, user: "root", auth: { kind: "key", keyPath: "/home/me/.ssh/id_lab" }, root: "/" } });
  });

  it("picks a free id", () => {
    const r = nodeConfigFromRequest({ host: "node1" }, { homeDir: "/h", takenIds: ["node1", "node1-2"] });
    expect(r.ok && r.config.id).toBe("node1-3");
    const taken = nodeConfigFromRequest({ host: "node1", id: "node1" }, ctx);
    expect(taken).toEqual({ ok: false, errors: [expect.stringMatching(/id "node1" is already used/)] });
  });

  it.each([
    [{ host: "a@node1", user: "b" }, /user: host says "a@…" but user says "b"/],
    [{ host: "node1:22", port: 2222 }, /port: host says ":22" but port says 2222/],
    [{ host: "node1:99999" }, /port: "99999" after the host is not a port/],
    [{ host: "node1", keyPath: "/k", agent: true }, /keyPath and agent are both set/],
    [{ host: "node1", keyPath: "id_rsa" }, /must be absolute or start with "~\/"/],
    [{ host: "node1", keyPath: "~bob/.ssh/id" }, /"~user" is not supported/],
    [{ host: "" }, /host is required/],
    [{ host: "node1", port: "ssh" }, /port must be a whole number/],
    [{ host: "node1", passphrase: "x" }, /passphrase: secrets are never stored/],
    [{ host: "no de" }, /host "no de" is not a valid host name/],
  ])("refuses %j and says why", (input, expected) => {
    const r = nodeConfigFromRequest(input, ctx);
    expect(r.ok).toBe(false);
    expect(r.ok ? "" : r.errors.join("\n")).toMatch(expected);
  });

  it("AddNodeRequest is strict about stray fields", () => {
    expect(AddNodeRequestSchema.safeParse({ host: "x", pasword: "typo" }).success).toBe(false);
  });

  it("slugify always yields a valid id", () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 120 }), (text) => {
        expect(NodeConfigSchema.shape.id.safeParse(slugify(text)).success).toBe(true);
      }),
    );
  });
});
