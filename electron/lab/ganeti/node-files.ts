// The files each lab node sees as its own: Ganeti's state directories,
// /etc/ssh with the lab's host keys and an sshd_config for the node's
// address, root's key pair, /etc/hosts naming the nodes and the cluster,
// and a no-op OS definition. All of it lives under the lab directory and is
// bound over the machine's paths inside the node's mount namespace only, so
// the machine's own /etc/hosts, /etc/ssh and /root/.ssh are never written.
import { chmod, chown, copyFile, mkdir, readdir, readFile, stat, writeFile } from "node:fs/promises";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { CLUSTER_IP, CLUSTER_NAME, FILE_STORAGE_DIR, NODES, OS_NAME, PRIVATE_NODE_DIRS, SHARED_FILE_STORAGE_DIR, paths, type LabNodeSpec } from "./layout.js";
import { run } from "./exec.js";

export interface LabKeys {
  /** root's private key on both nodes; also the key the app logs in with. */
  clientKey: string;
  /** known_hosts for the app: both nodes' addresses with the cluster-wide host keys. */
  knownHostsPath: string;
  /** "SHA256:…" of the ed25519 host key. */
  hostKeyFingerprint: string;
}

const KEY_TYPES = ["rsa", "ecdsa", "ed25519"] as const;

/** One host key set for the whole cluster (Ganeti checks node-to-node ssh against one known_hosts) and one root key pair. */
export async function makeKeys(): Promise<LabKeys> {
  const hk = join(paths.sshDir, "hk");
  await mkdir(join(hk, "etc", "ssh"), { recursive: true, mode: 0o700 });
  await run(["ssh-keygen", "-q", "-A", "-f", hk]);
  const clientKey = join(paths.sshDir, "id_ed25519");
  await run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "root@hotplug-desk-ganeti-lab", "-f", clientKey]);
  const hosts = NODES.map((n) => n.ip).join(",");
  const lines = await Promise.all(
    KEY_TYPES.map(async (t) => {
      const [type, key] = (await readFile(join(hk, "etc", "ssh", `ssh_host_${t}_key.pub`), "utf8")).trim().split(/\s+/);
      return `${hosts} ${type} ${key}\n`;
    }),
  );
  const knownHostsPath = join(paths.sshDir, "known_hosts");
  await writeFile(knownHostsPath, lines.join(""), { mode: 0o600 });
  const fp = (await run(["ssh-keygen", "-l", "-E", "sha256", "-f", join(hk, "etc", "ssh", "ssh_host_ed25519_key.pub")])).stdout.trim().split(/\s+/)[1] ?? "";
  return { clientKey, knownHostsPath, hostKeyFingerprint: fp };
}

function sshdConfig(n: LabNodeSpec): string {
  return [
    `# sshd of ${n.name}, run inside its namespaces (Hotplug Desk's Ganeti lab)`,
    "Port 22",
    `ListenAddress ${n.ip}`,
    ...KEY_TYPES.map((t) => `HostKey /etc/ssh/ssh_host_${t}_key`),
    "PermitRootLogin prohibit-password",
    "PubkeyAuthentication yes",
    "AuthorizedKeysFile .ssh/authorized_keys",
    "PasswordAuthentication no",
    "KbdInteractiveAuthentication no",
    "UsePAM no",
    "UseDNS no",
    // The app reaches QMP and serial sockets through streamlocal forwarding.
    "AllowStreamLocalForwarding local",
    "AllowTcpForwarding local",
    "X11Forwarding no",
    "MaxSessions 64",
    "MaxStartups 64:30:128",
    "Subsystem sftp internal-sftp",
    "",
  ].join("\n");
}

/** Owner and mode of the machine's own directory, so the private copy looks like it to Ganeti's ensure-dirs. */
async function likeMachineDir(machinePath: string, privatePath: string): Promise<void> {
  if (!existsSync(machinePath)) return;
  const st = await stat(machinePath);
  await chown(privatePath, st.uid, st.gid);
  await chmod(privatePath, st.mode & 0o7777);
}

/** Everything node `n` sees as its own; returns the bind list (node path -> machine path) for its mount namespace. */
export async function makeNodeFiles(n: LabNodeSpec, keys: LabKeys): Promise<[string, string][]> {
  const at = (p: string) => paths.onMachine(n, p);
  await mkdir(paths.nodeDir(n), { recursive: true, mode: 0o700 });
  for (const d of PRIVATE_NODE_DIRS) {
    if (d === "/etc/ssh" || d === "/etc/ganeti") continue; // copied below
    await mkdir(at(d), { recursive: true });
    await likeMachineDir(d, at(d));
  }
  await chmod(at("/run/lock"), 0o1777);
  await chmod(at("/root"), 0o700);

  // /etc/ssh: the machine's client config, the lab's host keys, the node's sshd_config.
  await run(["cp", "-a", "/etc/ssh", at("/etc/ssh")]);
  for (const f of await readdir(at("/etc/ssh"))) if (f.startsWith("ssh_host_")) await run(["rm", "-f", join(at("/etc/ssh"), f)]);
  await run(["rm", "-rf", join(at("/etc/ssh"), "sshd_config.d")]);
  for (const f of await readdir(join(paths.sshDir, "hk", "etc", "ssh"))) await copyFile(join(paths.sshDir, "hk", "etc", "ssh", f), join(at("/etc/ssh"), f));
  await writeFile(join(at("/etc/ssh"), "sshd_config"), sshdConfig(n), { mode: 0o600 });

  const dotSsh = join(at("/root"), ".ssh");
  await mkdir(dotSsh, { mode: 0o700 });
  await copyFile(keys.clientKey, join(dotSsh, "id_ed25519"));
  await copyFile(`${keys.clientKey}.pub`, join(dotSsh, "id_ed25519.pub"));
  await copyFile(`${keys.clientKey}.pub`, join(dotSsh, "authorized_keys"));
  await chmod(join(dotSsh, "id_ed25519"), 0o600);
  await chmod(join(dotSsh, "authorized_keys"), 0o600);

  // /etc/ganeti: the package's files (ifup scripts, lib/share links), and the storage dirs Ganeti may use.
  await run(["cp", "-a", "/etc/ganeti", at("/etc/ganeti")]);
  await writeFile(join(at("/etc/ganeti"), "file-storage-paths"), `${FILE_STORAGE_DIR}\n${SHARED_FILE_STORAGE_DIR}\n`);

  await mkdir(at(FILE_STORAGE_DIR), { recursive: true });
  // Mount point of the directory both nodes share (at() of it is the shared directory itself).
  await mkdir(join(at("/srv/ganeti"), SHARED_FILE_STORAGE_DIR.slice("/srv/ganeti/".length)), { recursive: true });
  // An OS definition is needed even with --no-install: API 20, scripts that do nothing.
  const os = at(`/srv/ganeti/os/${OS_NAME}`);
  await mkdir(os, { recursive: true });
  await writeFile(join(os, "ganeti_api_version"), "20\n");
  await writeFile(join(os, "parameters.list"), "");
  for (const s of ["create", "export", "import", "rename", "verify"]) await writeFile(join(os, s), "#!/bin/sh\nexit 0\n", { mode: 0o755 });

  return [
    ["/etc/hosts", join(paths.etcDir, "hosts")],
    ["/etc/resolv.conf", join(paths.etcDir, "resolv.conf")],
    ...PRIVATE_NODE_DIRS.map((d): [string, string] => [d, at(d)]),
    [SHARED_FILE_STORAGE_DIR, paths.sharedFileStorage],
  ];
}

/** Names for every node (hosts file bound in the nodes only) and no DNS that could leave the namespaces. */
export async function makeSharedFiles(): Promise<void> {
  await mkdir(paths.etcDir, { recursive: true });
  await mkdir(paths.sharedFileStorage, { recursive: true });
  const hosts = ["127.0.0.1 localhost", ...NODES.map((n) => `${n.ip} ${n.name} ${n.name.split(".")[0]}`), `${CLUSTER_IP} ${CLUSTER_NAME} ${CLUSTER_NAME.split(".")[0]}`];
  await writeFile(join(paths.etcDir, "hosts"), hosts.join("\n") + "\n");
  await writeFile(join(paths.etcDir, "resolv.conf"), "nameserver 127.0.0.1\n");
}
