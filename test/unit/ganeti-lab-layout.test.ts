// The Ganeti lab's fixed layout: which machine path holds what a node sees
// as Ganeti's own, and the ProxyCommand the app is given for each node
// (accepted by the app's own parser, expanding to an nsenter into the
// node's network namespace).
import { describe, expect, it } from "vitest";
import { LAB_DIR, NODES, labNode, paths } from "../../electron/lab/ganeti/layout.js";
import { proxyCommandFor } from "../../electron/lab/ganeti/lab.js";
import { expandProxyCommand, parseProxyCommand } from "../../shared/node-registry/proxy.js";

describe("Ganeti lab layout", () => {
  it("maps a node's private paths to its own directory, and the shared file storage to one directory for both", () => {
    const n2 = labNode("node2");
    expect(paths.onMachine(n2, "/run/ganeti/kvm-hypervisor/ctrl/x.qmp")).toBe(`${LAB_DIR}/node2/run-ganeti/kvm-hypervisor/ctrl/x.qmp`);
    expect(paths.onMachine(n2, "/var/lib/ganeti")).toBe(`${LAB_DIR}/node2/var-lib-ganeti`);
    expect(paths.onMachine(labNode(1), "/srv/ganeti/shared-file-storage/a.img")).toBe(`${LAB_DIR}/shared-file-storage/a.img`);
    expect(paths.onMachine(n2, "/srv/ganeti/shared-file-storage/a.img")).toBe(`${LAB_DIR}/shared-file-storage/a.img`);
    expect(() => paths.onMachine(n2, "/etc/passwd")).toThrow(/machine's own path/);
    expect(() => labNode("node3")).toThrow(/No lab node "node3"/);
  });

  it("gives the app a ProxyCommand its parser accepts, entering the node's network namespace", () => {
    for (const n of NODES) {
      const parsed = parseProxyCommand(proxyCommandFor(n));
      expect(parsed.ok).toBe(true);
      const argv = expandProxyCommand(parsed.ok ? parsed.value : [], { host: n.ip, port: 22, user: "root" });
      expect(argv).toEqual(["nsenter", `--net=/run/netns/${n.netns}`, "--", "socat", "STDIO", `TCP:${n.ip}:22`]);
    }
  });
});
