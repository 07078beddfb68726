// `npm run lab`: a lab node with a few instances of mixed runtime
// generations, until Ctrl-C. `npm run lab -- --ganeti`: a real two-node
// Ganeti cluster instead (root only), with instances Ganeti started.
import { LabNode } from "./node.js";
import { startDefaultInstances } from "./instances.js";
import { GanetiLab } from "./ganeti/lab.js";
import { DEFAULT_GANETI_INSTANCES } from "./ganeti/cluster.js";
import { nodeArgv } from "./ganeti/exec.js";
import { NODES } from "./ganeti/layout.js";

const log = (line: string) => console.error(`lab: ${line}`);

/** Tears down once, on Ctrl-C, SIGTERM or a failed start. */
function onStop(stopLab: () => Promise<void>): (why: string) => Promise<void> {
  let stopping = false;
  const stop = async (why: string) => {
    if (stopping) return;
    stopping = true;
    log(`${why}: tearing down`);
    await stopLab();
    process.exit(why === "error" ? 1 : 0);
  };
  process.on("SIGINT", () => void stop("Ctrl-C"));
  process.on("SIGTERM", () => void stop("SIGTERM"));
  return stop;
}

async function labNode(): Promise<void> {
  const node = await LabNode.start({ log });
  const stop = onStop(async () => {
    const { leftoverProcesses } = await node.stop();
    if (leftoverProcesses.length > 0) log(`killed leftovers: ${leftoverProcesses.map((p) => p.cmdline).join("; ")}`);
  });
  try {
    const started = await startDefaultInstances(node, { log });
    const i = node.info;
    const sshOpts = `-i ${i.privateKeyPath} -p ${i.port} -o UserKnownHostsFile=${i.knownHostsPath} -o StrictHostKeyChecking=yes`;
    console.log(
      [
        "",
        "Hotplug Desk lab node is up.",
        `  host         ${i.host}`,
        `  port         ${i.port}`,
        `  user         ${i.user}`,
        `  key          ${i.privateKeyPath}`,
        `  known_hosts  ${i.knownHostsPath}`,
        `  host key     ${i.hostPublicKey.split(" ")[0]} ${i.hostKeyFingerprint}`,
        `  root         ${i.root}`,
        `  storage      ${i.storageDir} (disk images; listed in ${i.root}/etc/ganeti/file-storage-paths)`,
        `  network      ${i.network.mode === "tap" ? `taps on bridge ${i.network.bridge}` : `QEMU user networking (${i.network.reason})`}`,
        "",
        "Instances:",
        ...started.map((s) => `  ${s.name.padEnd(22)} generation ${s.generation}  ${s.summary}`),
        "",
        "Log in:",
        `  ssh ${sshOpts} ${i.user}@${i.host}`,
        "Each guest's serial console (send 'pci' for its PCI list) is ctrl/<name>.serial under the root.",
        "",
        "Ctrl-C tears everything down.",
      ].join("\n"),
    );
  } catch (err) {
    console.error(`lab: ${String(err instanceof Error ? err.stack : err)}`);
    await stop("error");
  }
}

async function ganetiLab(): Promise<void> {
  const t0 = Date.now();
  // Ctrl-C during start-up waits for it to finish (or fail), then tears down:
  // a half-built cluster is never left behind.
  const starting = GanetiLab.start({ log, instances: DEFAULT_GANETI_INSTANCES });
  // The cluster's processes are daemons, not our children: keep this process alive until Ctrl-C.
  const keepAlive = setInterval(() => {}, 3_600_000);
  onStop(async () => {
    clearInterval(keepAlive);
    const lab = await starting.catch(() => undefined);
    if (!lab) return;
    const { leftovers, ms } = await lab.stop();
    log(leftovers.length > 0 ? `left behind: ${leftovers.join("; ")}` : `nothing left behind (${(ms / 1000).toFixed(1)} s)`);
  });
  let lab: GanetiLab;
  try {
    lab = await starting;
  } catch (err) {
    console.error(`lab: ${String(err instanceof Error ? err.message : err)}`);
    process.exit(1);
  }
  const i = lab.info;
  const quote = (a: string) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a}'`);
  console.log(
    [
      "",
      `Ganeti ${i.ganetiVersion} cluster ${i.cluster} is up (${((Date.now() - t0) / 1000).toFixed(1)} s).`,
      "",
      "Nodes (add them in the app with these settings):",
      ...i.nodes.flatMap((n) => [
        `  ${n.name}${n.master ? " (master)" : ""}`,
        `    host ${n.ssh.host}  port ${n.ssh.port}  user ${n.ssh.user}  key ${n.ssh.privateKeyPath}`,
        `    ProxyCommand ${n.ssh.proxyCommand}`,
      ]),
      `  known_hosts ${i.nodes[0]!.ssh.knownHostsPath} (host key ${i.nodes[0]!.ssh.hostKeyFingerprint})`,
      "",
      "Instances (started by Ganeti):",
      ...i.instances.map((x) => `  ${x.name.padEnd(10)} on ${x.node}`),
      "",
      "Log in:",
      ...i.nodes.map((n) => `  ssh -i ${n.ssh.privateKeyPath} -o UserKnownHostsFile=${n.ssh.knownHostsPath} -o ${quote(`ProxyCommand=${n.ssh.proxyCommand}`)} ${n.ssh.user}@${n.ssh.host}`),
      "Run Ganeti's commands on the master:",
      `  ${nodeArgv(NODES[0]!, ["gnt-instance", "list"]).join(" ")}`,
      "",
      "Ctrl-C tears everything down.",
    ].join("\n"),
  );
}

void (process.argv.includes("--ganeti") ? ganetiLab() : labNode());
