// The node helper's protocol (node_helper.py), as zod schemas: one request
// schema and one answer schema per op, and the two kinds of line the helper
// writes. Requests are checked before they leave, answers when they arrive.
import { z } from "zod";
import { DiskPathFactsSchema } from "../../shared/on-node/disk-paths.js";

/** Runtime files are a few KiB; anything near this is not one (the helper's MAX_RUNTIME is the same number). */
export const MAX_RUNTIME_BYTES = 16 * 1024 * 1024;

/**
 * The longest line the helper may answer with: a locked read of a runtime
 * file of MAX_RUNTIME_BYTES in base64, plus the answer around it.
 */
export const MAX_HELPER_LINE = Math.ceil(MAX_RUNTIME_BYTES / 3) * 4 + 64 * 1024;
/** A runtime file of MAX_RUNTIME_BYTES in base64. */
const MAX_RUNTIME_BASE64 = Math.ceil(MAX_RUNTIME_BYTES / 3) * 4;

const IFNAME_HELP = "at most 15 bytes (Linux IFNAMSIZ) of letters, digits, '_', '.', '+' and '-', not starting with '-'";
/** The interface names the helper accepts: the same pattern as node_helper.py's IFNAME (a test compares them). */
export const IFNAME_PATTERN = "^[A-Za-z0-9_.+][A-Za-z0-9_.+-]{0,14}$";
/** A Linux interface name the helper accepts. */
export const IfNameSchema = z
  .string()
  .regex(new RegExp(IFNAME_PATTERN), { error: (i) => `${JSON.stringify(i.input)} is not a usable interface name: ${IFNAME_HELP}` })
  .refine((n) => n !== "." && n !== "..", { error: `"." and ".." are not interface names` });

const AbsPath = z
  .string()
  .regex(/^\/[^\0]*$/, { error: (i) => `${JSON.stringify(i.input)} is not an absolute path` })
  .max(4096);
const InstanceName = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,252}$/, { error: (i) => `${JSON.stringify(i.input)} is not an instance name` });
const Token = z.string().regex(/^[0-9a-f]{32}$/, { error: "a lock token is 32 hex digits" });
const Sha256 = z.string().regex(/^[0-9a-f]{64}$/);
const NicMode = z.enum(["bridged", "openvswitch", "routed"]);

const TapCreateArgs = z
  .strictObject({
    tap: IfNameSchema,
    /** Bridge, OVS switch (checked as an interface name) or routing table; "" for none. */
    link: z.string().max(255),
    mode: NicMode,
    root: AbsPath,
    /** The environment Ganeti gives its ifup hook. */
    env: z.record(z.string().regex(/^[A-Z_][A-Z0-9_]*$/), z.string().regex(/^[^\0]*$/)),
    /** The instance the tap is for: it is labelled so, and only such taps are ever deleted. */
    instance: InstanceName,
  })
  .superRefine((a, ctx) => {
    if (a.mode !== "routed" && a.link !== "" && !IfNameSchema.safeParse(a.link).success) {
      ctx.addIssue({ code: "custom", path: ["link"], message: `${a.mode === "bridged" ? "bridge" : "OVS switch"} ${JSON.stringify(a.link)} is not a usable interface name: ${IFNAME_HELP}` });
    }
  });
const TapRemoveArgs = z.strictObject({
  /** null: the tap named in nicFile. */
  tap: IfNameSchema.nullable(),
  /** nic/<instance>/<seq>: Ganeti's record of the instance's tap. */
  nicFile: AbsPath.optional(),
  instance: InstanceName,
});
const NicFileArgs = z.strictObject({ path: AbsPath, action: z.enum(["write", "remove"]), content: z.string().max(4096).optional() });
const NicFilesArgs = z.strictObject({ dir: AbsPath });
const LinkInfoArgs = z.strictObject({ names: z.array(IfNameSchema) });
const FdSourceArg = z.discriminatedUnion("type", [
  z.strictObject({ type: z.literal("tap"), tap: IfNameSchema, vhost: z.boolean() }),
  z.strictObject({ type: z.literal("path"), path: AbsPath }),
]);
const PassFdArgs = z.strictObject({
  socket: AbsPath,
  mechanism: z.enum(["getfd", "add-fd"]),
  source: FdSourceArg,
  fdnames: z.array(z.string()),
  commands: z.array(z.strictObject({ command: z.string(), arguments: z.record(z.string(), z.unknown()) })),
  placeholder: z.string(),
  timeoutS: z.number().positive(),
  readAfter: z.array(z.string()),
});
const LockArgs = z.strictObject({
  dir: AbsPath,
  path: AbsPath,
  /** JSON of who holds it, for the next taker's message. */
  holder: z.string().max(2048),
  staleAfterS: z.int().min(1),
  token: Token,
  /** A file to read right after the lock is taken (null: none). */
  check: AbsPath.nullable(),
  /** Also bring back its bytes. */
  read: z.boolean(),
});
const UnlockArgs = z.strictObject({ token: Token });
const WriteRuntimeArgs = z.strictObject({
  path: AbsPath,
  temp: AbsPath,
  expectedSha256: Sha256,
  content: z.base64().max(MAX_RUNTIME_BASE64),
  /** A lock of this helper to free once the file is replaced; the write is refused if the helper does not hold it. */
  unlock: Token.nullable(),
});

const DiskPathArgs = z.strictObject({
  /** The disk path as the user gave it. */
  path: AbsPath,
  /** The node root Ganeti's configuration is read under. */
  root: AbsPath,
  /** The node's allow-list, to be resolved on the node. */
  allow: z.array(AbsPath).max(64),
});

const op = <O extends string, A extends z.ZodType>(name: O, args: A) => z.strictObject({ op: z.literal(name), args });

/** Every request the helper serves, keyed by op. */
export const HelperRequestSchema = z.discriminatedUnion("op", [
  op("tap-create", TapCreateArgs),
  op("tap-remove", TapRemoveArgs),
  op("nic-file", NicFileArgs),
  op("nic-files", NicFilesArgs),
  op("link-info", LinkInfoArgs),
  op("pass-fd", PassFdArgs),
  op("lock", LockArgs),
  op("unlock", UnlockArgs),
  op("write-runtime", WriteRuntimeArgs),
  op("disk-path", DiskPathArgs),
]);
export type HelperRequest = z.infer<typeof HelperRequestSchema>;
export type HelperOp = HelperRequest["op"];
export type HelperArgs<O extends HelperOp> = Extract<z.input<typeof HelperRequestSchema>, { op: O }>["args"];

// ---- answers

export const FailedOut = z.object({
  ok: z.literal(false),
  error: z.string(),
  skipped: z.literal(true).optional(),
  /** write-runtime: whether the file had been renamed over when the step failed (absent: the helper did not say). */
  renamed: z.boolean().optional(),
});

export const TapCreateOut = z.object({
  ok: z.literal(true),
  tap: z.string(),
  hook: z.string().nullable(),
  how: z.string(),
  hookOutput: z.string(),
  master: z.string().nullable(),
});
export const TapRemoveOut = z.object({ ok: z.literal(true), tap: z.string().nullable(), removed: z.boolean() });
export const NicFileOut = z.object({ ok: z.literal(true), previous: z.string().nullable() });
export const NicFilesOut = z.object({
  ok: z.literal(true),
  files: z.record(z.string(), z.string()),
  /** Files whose bytes are not UTF-8 (or too long to be a nic file): left out of `files`. */
  unreadable: z.array(z.string()).optional(),
});
export const LinkInfoOut = z.object({
  ok: z.literal(true),
  links: z.record(z.string(), z.object({ exists: z.boolean(), master: z.string().nullable() })),
});
const QmpErr = z.object({ class: z.string(), desc: z.string() }).nullable().optional();
export const PassFdOut = z.object({
  ok: z.literal(true),
  fdset: z.number().int().nullable(),
  results: z.array(z.object({ command: z.string(), ok: z.boolean(), error: QmpErr, return: z.unknown().optional() })),
  /** The returns of `readAfter`, in order (empty when a command failed). */
  after: z.array(z.unknown()),
});
export const LockOut = z.union([
  z.object({
    ok: z.literal(true),
    locked: z.literal(true),
    token: Token,
    check: z
      .object({
        sha256: Sha256,
        size: z.number().int().nonnegative(),
        regular: z.boolean(),
        /** The bytes themselves (base64), when asked for and the file is a regular one of at most MAX_RUNTIME_BYTES. */
        content: z.base64().optional(),
      })
      .nullable(),
    /** How long the lock had been free when taken (ms), or null when the node cannot tell. */
    quietMs: z.number().nonnegative().nullable(),
  }),
  z.object({ ok: z.literal(true), locked: z.literal(false), holder: z.string().nullable() }),
]);
export const UnlockOut = z.object({ ok: z.literal(true), released: z.boolean() });
export const WriteRuntimeOut = z.union([
  z.object({ ok: z.literal(true), written: z.literal(true), renamed: z.literal(true), dirSynced: z.boolean(), unlocked: z.boolean() }),
  z.object({
    ok: z.literal(true),
    written: z.literal(false),
    /** Said before any rename: the file was not replaced. */
    renamed: z.literal(false),
    /** What the file holds now (null: it is gone). */
    now: z.object({ sha256: Sha256, size: z.number().int().nonnegative() }).nullable(),
  }),
]);

export const DiskPathOut = DiskPathFactsSchema.extend({ ok: z.literal(true) });

/** The answer schema of each op. */
export const HELPER_ANSWERS = {
  "tap-create": TapCreateOut,
  "tap-remove": TapRemoveOut,
  "nic-file": NicFileOut,
  "nic-files": NicFilesOut,
  "link-info": LinkInfoOut,
  "pass-fd": PassFdOut,
  lock: LockOut,
  unlock: UnlockOut,
  "write-runtime": WriteRuntimeOut,
  "disk-path": DiskPathOut,
} as const satisfies Record<HelperOp, z.ZodType>;

// ---- lines from the helper

/** A line the helper sends on its own (not an answer). */
export const HelperEventSchema = z.object({ event: z.literal("lock-dropped"), token: z.string(), why: z.string() });
export type HelperEvent = z.infer<typeof HelperEventSchema>;

/** Every line says what it is in `kind`, whatever order the node's Python put the keys in. */
export const HelperLineSchema = z.discriminatedUnion("kind", [
  z.object({ kind: z.literal("answer"), id: z.number().nullable(), out: z.unknown() }),
  HelperEventSchema.extend({ kind: z.literal("event") }),
]);
export type HelperLine = z.infer<typeof HelperLineSchema>;

/** One line of the helper's output, or undefined when it is not one the protocol has. */
export function parseHelperLine(line: string): HelperLine | undefined {
  let json: unknown;
  try {
    json = JSON.parse(line);
  } catch {
    return undefined;
  }
  const r = HelperLineSchema.safeParse(json);
  return r.success ? r.data : undefined;
}

/** A request checked against its op's schema: the args to send, or why it must not be sent. */
export function checkRequest(op: string, args: unknown): { ok: true; args: unknown } | { ok: false; why: string } {
  const r = HelperRequestSchema.safeParse({ op, args });
  if (r.success) return { ok: true, args: r.data.args };
  const issue = r.error.issues[0];
  if (issue?.path.length === 1 && issue.path[0] === "op") return { ok: false, why: `there is no node-side step "${op}"` };
  const where = issue?.path.slice(1).join(".");
  return { ok: false, why: `${where ? `${where}: ` : ""}${issue?.message ?? "invalid request"}` };
}
