// Each lab node lives in its own network, UTS and mount namespaces, kept
// alive by bind files (not by a process), so any program can be run as the
// node with nsenter. The network namespace holds the node's bridge with its
// TEST-NET address; a veth pair made inside the namespaces joins the two
// bridges. Nothing is added to the machine's own network namespace.
import { existsSync } from "node:fs";
import { mkdir, readdir, readFile, readlink, stat, writeFile } from "node:fs/promises";
import { BRIDGE, NODES, PREFIX_LENGTH, paths, type LabNodeSpec } from "./layout.js";
import { run } from "./exec.js";

async function ip(...args: string[]): Promise<void> {
  await run(["ip", ...args]);
}

async function isMountPoint(path: string): Promise<boolean> {
  try {
    await run(["findmnt", "-rn", "--mountpoint", path]);
    return true;
  } catch {
    return false;
  }
}

/** Both nodes' network namespaces: lo, a bridge with the node's address, and the wire between them. */
export async function createNetworks(): Promise<void> {
  for (const n of NODES) {
    await ip("netns", "add", n.netns);
    await ip("-n", n.netns, "link", "set", "lo", "up");
    await ip("-n", n.netns, "link", "add", BRIDGE, "type", "bridge", "stp_state", "0", "forward_delay", "0");
    await ip("-n", n.netns, "addr", "add", `${n.ip}/${PREFIX_LENGTH}`, "dev", BRIDGE);
  }
  const [a, b] = NODES as [LabNodeSpec, LabNodeSpec];
  // The kernel has no dummy driver here; a veth pair is the bridges' port.
  await ip("-n", a.netns, "link", "add", a.veth, "type", "veth", "peer", "name", b.veth, "netns", b.netns);
  for (const n of NODES) {
    await ip("-n", n.netns, "link", "set", n.veth, "master", BRIDGE, "up");
    await ip("-n", n.netns, "link", "set", BRIDGE, "up");
  }
}

/**
 * The node's UTS namespace (its hostname) and mount namespace, in which
 * `binds` (node path -> machine path) replace the machine's directories and
 * sysfs shows the node's own network devices (Ganeti checks its bridge there).
 */
export async function createNodeNamespaces(n: LabNodeSpec, binds: readonly (readonly [string, string])[]): Promise<void> {
  // unshare --mount=FILE needs FILE on a mount that does not propagate.
  if (!(await isMountPoint(paths.nsDir))) {
    await run(["mount", "--bind", paths.nsDir, paths.nsDir]);
    await run(["mount", "--make-private", paths.nsDir]);
  }
  await writeFile(paths.mountNs(n), "");
  await writeFile(paths.utsNs(n), "");
  await run(["nsenter", `--net=${paths.netnsFile(n)}`, "--", "unshare", `--mount=${paths.mountNs(n)}`, `--uts=${paths.utsNs(n)}`, "--propagation", "private", "--", "hostname", n.name]);
  const inNode = (argv: string[]) => run(["nsenter", `--net=${paths.netnsFile(n)}`, `--mount=${paths.mountNs(n)}`, "--", ...argv]);
  await inNode(["umount", "-l", "/sys"]);
  await inNode(["mount", "-t", "sysfs", "sysfs", "/sys"]);
  const done: string[] = [];
  for (const [target, source] of binds) {
    // A mount point must exist: on the machine (an empty dir), unless an earlier bind brought it.
    const underBind = done.some((d) => target.startsWith(`${d}/`));
    if (!underBind && !existsSync(target)) await mkdir(target, { recursive: true });
    await inNode(["mount", "--bind", source, target]);
    done.push(target);
  }
}

/** Inode numbers identifying the lab's namespaces, for those whose bind file still exists. */
async function labNamespaceIds(): Promise<Set<string>> {
  const ids = new Set<string>();
  for (const n of NODES) {
    for (const [kind, file] of [["net", paths.netnsFile(n)], ["mnt", paths.mountNs(n)], ["uts", paths.utsNs(n)]] as const) {
      if (!(await isMountPoint(file))) continue;
      ids.add(`${kind}:[${(await stat(file)).ino}]`);
    }
  }
  return ids;
}

export interface LabProcessInfo {
  pid: number;
  comm: string;
}

/** Every process in any of the lab's namespaces (whatever started it). */
export async function labProcesses(): Promise<LabProcessInfo[]> {
  const ids = await labNamespaceIds();
  if (ids.size === 0) return [];
  const out: LabProcessInfo[] = [];
  for (const entry of await readdir("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number(entry);
    if (pid === process.pid) continue;
    try {
      // readlink, not stat: stat on a kernel thread's ns links can stall.
      const ns = await Promise.all(["net", "mnt", "uts"].map((k) => readlink(`/proc/${pid}/ns/${k}`)));
      if (!ns.some((x) => ids.has(x))) continue;
      const st = await readFile(`/proc/${pid}/stat`, "utf8");
      if (/\) Z /.test(st)) continue; // exited, waiting to be reaped
      out.push({ pid, comm: st.slice(st.indexOf("(") + 1, st.lastIndexOf(")")) });
    } catch {
      // gone meanwhile, or a kernel thread without namespaces
    }
  }
  return out;
}

/** Unbinds the namespaces (mount and UTS first: node 2's mount namespace holds copies of node 1's files). */
export async function removeNamespaces(): Promise<void> {
  for (const n of [...NODES].reverse()) {
    for (const f of [paths.mountNs(n), paths.utsNs(n)]) if (await isMountPoint(f)) await run(["umount", f]).catch(() => run(["umount", "-l", f]));
  }
  if (await isMountPoint(paths.nsDir)) await run(["umount", paths.nsDir]).catch(() => run(["umount", "-l", paths.nsDir]));
  for (const n of [...NODES].reverse()) {
    if (existsSync(paths.netnsFile(n))) await ip("netns", "del", n.netns).catch(() => undefined);
  }
}

/** Lab namespaces still present (teardown check). */
export async function leftoverNamespaces(): Promise<string[]> {
  const left: string[] = [];
  for (const n of NODES) {
    if (existsSync(paths.netnsFile(n))) left.push(`network namespace ${n.netns}`);
    for (const f of [paths.mountNs(n), paths.utsNs(n)]) if (await isMountPoint(f)) left.push(`namespace file ${f}`);
  }
  if (await isMountPoint(paths.nsDir)) left.push(`mount ${paths.nsDir}`);
  return left;
}
