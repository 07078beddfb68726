// The CLI's node options: --proxy-jump and --proxy-command, and a --node
// that names a Host of ~/.ssh/config (its HostName, Port, User,
// IdentityFile, ProxyJump, ProxyCommand), the command line winning.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { nodeOptionsFrom } from "../../electron/cli/node-options.js";

const USAGE = "usage";
let home: string;
const oldHome = process.env.HOME;

beforeAll(async () => {
  home = await mkdtemp(join(tmpdir(), "hd-cli-home-"));
  await mkdir(join(home, ".ssh"));
  await writeFile(
    join(home, ".ssh", "config"),
    [
      "Host gnt2",
      "  HostName 198.51.100.12",
      "  User root",
      "  Port 2222",
      "  IdentityFile ~/.ssh/lab_key",
      "  ProxyCommand nsenter --net=/run/netns/hd-ganeti-2 -- socat STDIO TCP:%h:%p",
      "Host behind",
      "  HostName node3.example.org",
      "  ProxyJump admin@bastion.example.org:2200",
      "Host piped",
      "  ProxyCommand ssh bastion nc %h %p | tee /tmp/x",
      "",
    ].join("\n"),
  );
  process.env.HOME = home;
});

afterAll(async () => {
  process.env.HOME = oldHome;
  await rm(home, { recursive: true, force: true });
});

describe("the CLI's node options", () => {
  it("takes a ~/.ssh/config Host's HostName, Port, User, IdentityFile and ProxyCommand", async () => {
    const o = await nodeOptionsFrom({ node: "gnt2" }, USAGE);
    expect(o.target).toMatchObject({
      host: "198.51.100.12",
      port: 2222,
      username: "root",
      privateKeyPath: join(home, ".ssh", "lab_key"),
      proxyCommand: "nsenter --net=/run/netns/hd-ganeti-2 -- socat STDIO TCP:%h:%p",
      alias: "gnt2",
    });
    expect(o.target.proxyJump).toBeUndefined();
    expect(o.label).toBe("root@198.51.100.12:2222");
  });

  it("lets the command line win over the entry (user, port, key, route)", async () => {
    const o = await nodeOptionsFrom({ node: "admin@gnt2:22", identity: "/keys/other", "proxy-jump": "jump.example.org" }, USAGE);
    expect(o.target).toMatchObject({ host: "198.51.100.12", port: 22, username: "admin", privateKeyPath: "/keys/other", proxyJump: "jump.example.org" });
    expect(o.target.proxyCommand).toBeUndefined();
  });

  it("takes a ProxyJump from the entry, and --proxy-command for a host the config does not name", async () => {
    expect((await nodeOptionsFrom({ node: "behind" }, USAGE)).target).toMatchObject({ host: "node3.example.org", proxyJump: "admin@bastion.example.org:2200" });
    const o = await nodeOptionsFrom({ node: "root@198.51.100.11", "proxy-command": "nsenter --net=/run/netns/hd-ganeti-1 -- socat STDIO TCP:%h:%p" }, USAGE);
    expect(o.target).toMatchObject({ host: "198.51.100.11", port: 22, proxyCommand: "nsenter --net=/run/netns/hd-ganeti-1 -- socat STDIO TCP:%h:%p" });
    expect(o.target.alias).toBeUndefined();
  });

  it("refuses both routes at once, a ProxyCommand that needs a shell, a bad jump host and an unusable config entry, saying why", async () => {
    await expect(nodeOptionsFrom({ node: "root@h", "proxy-jump": "b", "proxy-command": "c %h" }, USAGE)).rejects.toThrow(/--proxy-jump and --proxy-command are both given/);
    await expect(nodeOptionsFrom({ node: "root@h", "proxy-command": "ssh b nc %h %p | cat" }, USAGE)).rejects.toThrow(/--proxy-command: .*needs a shell/);
    await expect(nodeOptionsFrom({ node: "root@h", "proxy-jump": "user@:x" }, USAGE)).rejects.toThrow(/--proxy-jump: /);
    await expect(nodeOptionsFrom({ node: "piped" }, USAGE)).rejects.toThrow(/--node piped: its entry in .*config cannot be used: ProxyCommand .*needs a shell/);
  });
});
