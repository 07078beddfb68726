/**
 * Where a disk given to a guest may live on a node, judged from what the
 * node says about the path and about its storage (the node helper's
 * "disk-path" answer, electron/on-node). Pure: the facts come in, a verdict
 * goes out, so a review, the CLI and an apply refuse in the same words.
 *
 * A path is accepted when, resolved on the node (symlinks followed), it is:
 * - a regular file inside the node's Ganeti file storage (the directories
 *   in /etc/ganeti/file-storage-paths, the cluster's file, shared-file and
 *   Gluster storage directories), or reached through Ganeti's own
 *   /var/run/ganeti/instance-disks links;
 * - a block device that is a logical volume of one of the node's volume
 *   groups, a DRBD device (/dev/drbdN) or an RBD device (/dev/rbdN);
 * - or inside the node's allow-list (node settings, --allow-disk-path).
 * Never, whatever the allow-list says: anything in the node's own system
 * directories (/etc, /boot, /usr, /root, /proc, /sys, /bin, /sbin, /lib…),
 * a block device the node itself uses (mounted, swap, or beneath either),
 * and anything that is neither a regular file nor a block device. A file
 * storage directory under a prefix Ganeti itself refuses for file storage
 * (/dev, /home, /var/lib among them here) does not count as storage.
 */
import { z } from "zod";

const Place = z.object({ path: z.string(), real: z.string(), exists: z.boolean() });
export type StoragePlace = z.infer<typeof Place>;

/** The node helper's answer to "disk-path" (checked with this schema when it arrives). */
export const DiskPathFactsSchema = z.object({
  /** The path as given. */
  path: z.string(),
  /** Resolved on the node (os.path.realpath). */
  real: z.string(),
  exists: z.boolean(),
  type: z.enum(["file", "block", "char", "dir", "other"]).nullable(),
  /** A block device's "major:minor". */
  device: z.string().nullable(),
  /** Why the node itself uses this block device ("is mounted at / (/dev/vda)"), or null. */
  inUse: z.string().nullable(),
  storage: z.object({
    fileStoragePathsFile: z.string(),
    fileStoragePaths: z.array(Place),
    fileStorageDir: Place.nullable(),
    sharedFileStorageDir: Place.nullable(),
    glusterStorageDir: Place.nullable(),
    instanceDisks: Place,
    volumeGroups: z.array(z.object({ name: z.string(), volumes: z.array(z.object({ path: z.string(), real: z.string() })) })),
    /** What could not be read (no vgs, a vgs that failed). */
    notes: z.array(z.string()),
  }),
  /** The node's allow-list, each entry resolved on the node. */
  allow: z.array(Place),
});
export type DiskPathFacts = z.infer<typeof DiskPathFactsSchema>;

export type DiskPathVerdict =
  | { ok: true; path: string; real: string; kind: "file" | "block"; /** Which rule took it, for people. */ via: string }
  | { ok: false; path: string; message: string };

/** Never a disk, allow-list or not: the node's own system directories. */
export const SYSTEM_DIRS = ["/etc", "/boot", "/usr", "/root", "/proc", "/sys", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/var/lib/ganeti", "/run/ganeti", "/var/run/ganeti"] as const;
/**
 * Not storage unless the allow-list names them: prefixes Ganeti refuses for
 * file storage (storage/filestorage.py _GetForbiddenFileStoragePaths: /dev,
 * /home, ...) and /var/lib, /run.
 */
export const NOT_STORAGE_DIRS = ["/dev", "/home", "/var/lib", "/run", "/var/run", "/usr/local"] as const;

/** `p` is `dir` or inside it (both absolute and resolved). */
export function isInside(p: string, dir: string): boolean {
  if (dir === "/") return true;
  const d = dir.replace(/\/+$/, "");
  return p === d || p.startsWith(`${d}/`);
}

const insideAny = (p: string, dirs: readonly string[]) => dirs.find((d) => isInside(p, d));

/** The node's file storage directories that count as storage, with where each comes from. */
function fileStorage(f: DiskPathFacts): { dir: StoragePlace; from: string }[] {
  const s = f.storage;
  const all = [
    ...s.fileStoragePaths.map((dir) => ({ dir, from: s.fileStoragePathsFile })),
    ...(s.fileStorageDir ? [{ dir: s.fileStorageDir, from: "the cluster's file storage directory" }] : []),
    ...(s.sharedFileStorageDir ? [{ dir: s.sharedFileStorageDir, from: "the cluster's shared file storage directory" }] : []),
    ...(s.glusterStorageDir ? [{ dir: s.glusterStorageDir, from: "the cluster's Gluster storage directory" }] : []),
  ];
  return all.filter((x) => x.dir.real !== "/" && !insideAny(x.dir.real, SYSTEM_DIRS) && !insideAny(x.dir.real, NOT_STORAGE_DIRS));
}

/** Where disks may live on the node, in words: what a refusal ends with. */
export function whereDisksMayLive(f: DiskPathFacts, node: string): string {
  const files = [...new Set(fileStorage(f).map((x) => x.dir.path))];
  const vgs = f.storage.volumeGroups.map((v) => v.name);
  const allow = f.allow.filter((a) => !insideAny(a.real, SYSTEM_DIRS)).map((a) => a.path);
  const parts = [
    files.length ? `files in ${files.join(", ")} (Ganeti's file storage)` : `files in Ganeti's file storage, of which ${node} has none (${f.storage.fileStoragePathsFile} and the cluster's file storage directories name none)`,
    `Ganeti's own links in ${f.storage.instanceDisks.path}`,
    vgs.length ? `logical volumes of the volume groups ${vgs.map((v) => `${v} (/dev/${v}/…)`).join(", ")}` : "logical volumes of a volume group (the node has none)",
    "DRBD (/dev/drbdN) and RBD (/dev/rbdN) devices",
    allow.length ? `and the node's allow-list: ${allow.join(", ")}` : "or what you add to the node's allow-list (the node's panel in the app; --allow-disk-path on the command line)",
  ];
  return `On ${node}, disks may be ${parts.join("; ")}.${f.storage.notes.length ? ` (${f.storage.notes.join("; ")}.)` : ""}`;
}

/** Judge a disk path from what the node said about it. */
export function judgeDiskPath(f: DiskPathFacts, node: string): DiskPathVerdict {
  const shown = f.real === f.path ? f.path : `${f.path} (${f.real} on the node)`;
  const refuse = (why: string, where = true): DiskPathVerdict => ({ ok: false, path: f.path, message: `${why}${where ? ` ${whereDisksMayLive(f, node)}` : ""}` });
  if (!f.exists) return refuse(`${shown} does not exist on ${node}: give the path of an existing disk image or block device.`);
  const system = insideAny(f.real, SYSTEM_DIRS);
  if (system) return refuse(`${shown} is inside ${system}, one of ${node}'s own system directories: it is never given to a guest.`);
  if (f.type !== "file" && f.type !== "block") {
    const what = f.type === "dir" ? "a directory" : f.type === "char" ? "a character device" : "neither a regular file nor a block device";
    return refuse(`${shown} is ${what}: a disk is a regular file or a block device.`);
  }
  if (f.type === "block" && f.inUse) return refuse(`${shown} is in use on ${node}: it ${f.inUse}. A device the node itself uses is never given to a guest.`, false);
  const ok = (via: string): DiskPathVerdict => ({ ok: true, path: f.path, real: f.real, kind: f.type as "file" | "block", via });
  const allowed = f.allow.find((a) => !insideAny(a.real, SYSTEM_DIRS) && isInside(f.real, a.real));
  if (allowed) return ok(`in the node's allow-list (${allowed.path})`);
  if (isInside(f.path, f.storage.instanceDisks.path) || isInside(f.path, f.storage.instanceDisks.real)) return ok(`Ganeti's instance-disks link (${f.storage.instanceDisks.path})`);
  if (f.type === "block") {
    for (const vg of f.storage.volumeGroups) {
      const lv = vg.volumes.find((v) => v.real === f.real || v.path === f.path);
      if (lv) return ok(`logical volume ${lv.path} of volume group ${vg.name}`);
    }
    if (/^\/dev\/drbd\d+$/.test(f.real)) return ok("a DRBD device");
    if (/^\/dev\/rbd\d+$/.test(f.real)) return ok("an RBD device");
    return refuse(`${shown} is a block device that is not a logical volume of ${node}'s volume groups, not DRBD and not RBD.`);
  }
  const dir = fileStorage(f).find((x) => isInside(f.real, x.dir.real));
  if (dir) return ok(`in ${dir.dir.path} (${dir.from})`);
  return refuse(`${shown} is not inside ${node}'s Ganeti storage.`);
}
