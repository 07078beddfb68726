// "Start a local lab node" for people trying the app without a Ganeti
// cluster: the same lab the tests use (real sshd, QEMU, guests), offered
// only where QEMU and OpenSSH's sshd are installed.
import { existsSync } from "node:fs";
import { LabNode, QEMU } from "../lab/node.js";
import { startDefaultInstances } from "../lab/instances.js";
import type { LabLauncher } from "./service.js";

export function labLauncher(): LabLauncher {
  const nodes: LabNode[] = [];
  return {
    available: () => existsSync(QEMU) && existsSync("/usr/sbin/sshd") && existsSync("/usr/bin/ssh-keygen"),
    running: () => nodes.length > 0,
    async start() {
      const node = await LabNode.start();
      nodes.push(node);
      await startDefaultInstances(node);
      const i = node.info;
      return {
        config: {
          id: `lab-${node.labId}`,
          name: `Local lab ${node.labId}`,
          host: i.host,
          port: i.port,
          user: i.user,
          auth: { kind: "key", keyPath: i.privateKeyPath },
          root: i.root,
        },
        knownHostsLine: `[127.0.0.1]:${i.port} ${i.hostPublicKey}`,
      };
    },
    async stopAll() {
      for (const n of nodes.splice(0)) await n.stop();
    },
  };
}
