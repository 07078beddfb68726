// What a node says about a disk path and its storage (the node helper's
// "disk-path" op, answer checked with zod), judged by the pure rules in
// shared/on-node/disk-paths.ts. One request per path.
import type { NodeSession } from "../ssh/session.js";
import { judgeDiskPath, type DiskPathFacts, type DiskPathVerdict } from "../../shared/on-node/disk-paths.js";
import { callNodeHelper } from "./node-helper.js";

/** The node's facts about `path` (resolved there) and where it keeps disks; `allow` is the node's allow-list. */
export async function readDiskPathFacts(session: NodeSession, root: string, path: string, allow: readonly string[] = []): Promise<DiskPathFacts> {
  const { ok: _ok, ...facts } = await callNodeHelper(session, "disk-path", { path, root, allow: [...allow] }, 30_000);
  return facts;
}

/** The verdict on each path, judged on the node `session` reaches (named `node` in messages). */
export async function judgeDiskPaths(session: NodeSession, root: string, paths: readonly string[], allow: readonly string[] = [], node = session.label): Promise<Record<string, DiskPathVerdict>> {
  const out: Record<string, DiskPathVerdict> = {};
  for (const path of new Set(paths)) out[path] = judgeDiskPath(await readDiskPathFacts(session, root, path, allow), node);
  return out;
}
