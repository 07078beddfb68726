// ProxyCommand and ProxyJump as the app reads them: a command line split
// into arguments without a shell (shell-only syntax refused with the way
// out), %-tokens expanded per argument, jump hosts parsed in order.
import { describe, expect, it } from "vitest";
import { expandProxyCommand, parseProxyCommand, parseProxyJump } from "../../shared/node-registry/proxy.js";
import { NodeConfigSchema, nodeConfigFromRequest } from "../../shared/node-registry/schema.js";

describe("ProxyCommand", () => {
  it("splits like a shell reads quotes, without running one", () => {
    expect(parseProxyCommand(`ssh -o 'ProxyUseFdpass no' -W "%h:%p" jump\\ host`)).toEqual({ ok: true, value: ["ssh", "-o", "ProxyUseFdpass no", "-W", "%h:%p", "jump host"] });
  });

  it.each([
    ["ssh bastion nc %h %p | tee log", /uses "\|", which needs a shell/],
    ["nc %h %p; rm -rf ~", /uses ";"/],
    ["nc $HOST %p", /the variable \$HOST/],
    ["nc %h %p > /tmp/x", /uses ">"/],
    ["nc * %p", /the wildcard \*/],
    ["nc %h %p # comment", /a comment/],
    ["nc %h %p %C", /uses %C, which the app does not expand/],
    ["", /empty/],
    ["none", /means no proxy/],
  ])("refuses %j, saying why", (line, why) => {
    const r = parseProxyCommand(line);
    expect(r.ok).toBe(false);
    expect(!r.ok && r.error).toMatch(why);
  });

  it("expands %h %p %r %n %% inside each argument, so a value never adds an argument", () => {
    const argv = parseProxyCommand("socat STDIO TCP:%h:%p,user=%r 100%% %n");
    expect(argv.ok).toBe(true);
    const out = expandProxyCommand(argv.ok ? argv.value : [], { host: "a b", port: 2222, user: "root", alias: "node-1" });
    expect(out).toEqual(["socat", "STDIO", "TCP:a b:2222,user=root", "100%", "node-1"]);
  });
});

describe("ProxyJump", () => {
  it("reads hops in order with users, ports, ssh:// and bracketed IPv6", () => {
    expect(parseProxyJump("bastion, jump@192.0.2.5:2222,ssh://[fd00::1]:22")).toEqual({
      ok: true,
      value: [
        { host: "bastion", port: 22 },
        { host: "192.0.2.5", port: 2222, user: "jump" },
        { host: "fd00::1", port: 22 },
      ],
    });
  });

  it.each([
    ["bastion,,other", /an empty hop/],
    ["-oProxyCommand=x", /not a host name/],
    ["bastion:99999", /not a port/],
    ["bad user@bastion", /not a login name/],
  ])("refuses %j", (text, why) => {
    const r = parseProxyJump(text);
    expect(!r.ok && r.error).toMatch(why);
  });
});

describe("a node's route in its settings", () => {
  const base = { id: "n1", name: "n1", host: "10.0.0.5", user: "root", auth: { kind: "agent" } };
  it("keeps a valid ProxyJump or ProxyCommand, and refuses both at once", () => {
    expect(NodeConfigSchema.parse({ ...base, proxyJump: "bastion" }).proxyJump).toBe("bastion");
    expect(NodeConfigSchema.parse({ ...base, proxyCommand: "nc %h %p" }).proxyCommand).toBe("nc %h %p");
    const both = NodeConfigSchema.safeParse({ ...base, proxyJump: "bastion", proxyCommand: "nc %h %p" });
    expect(both.success).toBe(false);
    expect(both.error?.issues[0]?.message).toMatch(/both set/);
  });

  it("the add-node form refuses a ProxyCommand that needs a shell, and treats blank fields as none", () => {
    const bad = nodeConfigFromRequest({ host: "10.0.0.5", proxyCommand: "nc %h %p | cat" }, { homeDir: "/h", takenIds: [] });
    expect(!bad.ok && bad.errors.join(" ")).toMatch(/needs a shell/);
    const blank = nodeConfigFromRequest({ host: "10.0.0.5", proxyCommand: "  ", proxyJump: "" }, { homeDir: "/h", takenIds: [] });
    expect(blank.ok && blank.config.proxyCommand).toBeUndefined();
  });
});
