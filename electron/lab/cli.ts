// `npm run lab`: a lab node with a few instances of mixed runtime
// generations, until Ctrl-C.
import { LabNode } from "./node.js";
import { startDefaultInstances } from "./instances.js";

async function main(): Promise<void> {
  const log = (line: string) => console.error(`lab: ${line}`);
  const node = await LabNode.start({ log });
  let stopping = false;
  const stop = async (why: string) => {
    if (stopping) return;
    stopping = true;
    log(`${why}: tearing down`);
    const { leftoverProcesses } = await node.stop();
    if (leftoverProcesses.length > 0) log(`killed leftovers: ${leftoverProcesses.map((p) => p.cmdline).join("; ")}`);
    process.exit(0);
  };
  process.on("SIGINT", () => void stop("Ctrl-C"));
  process.on("SIGTERM", () => void stop("SIGTERM"));
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

void main();
