// Run by local-state.test.ts under strace: one local-state operation in a
// process of its own, so the system calls it makes can be read back.
//   journal DIR          one pending journal entry (Journal.prepare)
//   activity-add DIR     one activity entry appended
//   activity-open DIR    the activity log read at start; prints the entry count and newest id
import { Journal } from "../../electron/hotplug/journal.js";
import { ActivityLog } from "../../electron/app/activity-log.js";

async function main(): Promise<void> {
  const [mode, dir] = process.argv.slice(2);
  if (!dir) throw new Error("usage: local-state-writer.ts journal|activity-add|activity-open DIR");
  if (mode === "journal") {
    const e = await new Journal(dir).prepare("node1", { root: "/", instance: "inst1.example", planId: "plan-1", content: "new bytes\n", expected: Buffer.from("old bytes\n") });
    process.stdout.write(`${JSON.stringify({ id: e.id })}\n`);
  } else if (mode === "activity-add") {
    const log = await ActivityLog.open(dir);
    const e = await log.add({ nodeId: "node1", summary: "one entry", outcome: "info" });
    process.stdout.write(`${JSON.stringify({ id: e.id })}\n`);
  } else if (mode === "activity-open") {
    const entries = (await ActivityLog.open(dir)).list();
    process.stdout.write(`${JSON.stringify({ count: entries.length, newest: entries[0]?.id })}\n`);
  } else {
    throw new Error(`unknown mode ${mode}`);
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
