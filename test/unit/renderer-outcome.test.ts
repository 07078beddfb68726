// How the review dialog shows a change's end (issue 13, item 5): done,
// failed (not written), and unknown (the runtime write lost its answer),
// which is neither: it says what the file held when read again, that
// nothing was rolled back, and the next step. The outcomes are checked
// against the contract's schema first, as the UI receives them.
import { describe, expect, it } from "vitest";
import { createElement } from "react";
import { renderToString } from "react-dom/server";
import { OutcomeBanner } from "../../renderer/src/components/ReviewDialog";
import { OperationOutcomeSchema, type PlanPreview } from "../../shared/ipc/contract";
import type { ChangeOutcome, OnNode } from "../../shared/hotplug/outcome";

const plan: Extract<PlanPreview, { ok: true }> = {
  ok: true,
  planId: "p1",
  nodeId: "n1",
  instance: "alpha.lab",
  summary: "Add a NIC to alpha.lab at slot 0x10",
  steps: [],
  writeGeneration: "C",
  readers: [],
  fileDiff: [],
  slot: { bus: "pci", slot: 16, guestAddress: "0000:00:10.0" },
  warnings: [],
};

function failed(write: Extract<ChangeOutcome, { ok: false }>["write"]): ChangeOutcome {
  return {
    ok: false,
    planId: "p1",
    cause: write.state === "unknown" ? "write-unknown" : "connection-lost",
    failedStep: { index: 3, kind: "write-runtime", describe: "Replace alpha.lab.runtime (generation C).", device: "alpha.lab.runtime" },
    error: { name: "WriteUnknownFailure", message: "Step 4/4 (write-runtime) failed: the answer was lost." },
    stepsDone: 3,
    undone: write.state === "unknown" ? [] : ["netdev_del nic-1"],
    notUndone: [],
    write,
    notes: [],
  };
}

const unknown = (onNode: OnNode) => failed({ state: "unknown", why: "the helper exited (KILL)", onNode, detail: "sha256 0123456789abcdef…, 812 bytes", checkedAt: "2026-01-02T03:04:05.000Z", journalEntryId: "1700000000000-abcdef01" });

function banner(outcome: ChangeOutcome): string {
  const event = OperationOutcomeSchema.parse({ operationId: "o1", planId: "p1", nodeId: "n1", instance: "alpha.lab", outcome });
  return renderToString(createElement(OutcomeBanner, { outcome: event, plan, removing: false }));
}

describe("the review dialog's outcome", () => {
  it("unknown, planned bytes: says so, that nothing was undone, and the next step", () => {
    const html = banner(unknown("planned"));
    expect(html).toContain('data-outcome="unknown"');
    expect(html).toContain('data-on-node="planned"');
    expect(html).toMatch(/Outcome unknown/);
    expect(html).toMatch(/holds the planned bytes/);
    expect(html).toMatch(/Nothing was undone: the live changes stay/);
    expect(html).toMatch(/Next:<\/strong>.*Reload the instance to confirm it/);
    expect(html).not.toMatch(/Failed at/);
  });

  it("unknown, previous bytes, or unread: each says what is on the node and what to do", () => {
    expect(banner(unknown("previous"))).toMatch(/still held the previous bytes when read again at 2026-01-02T03:04:05.000Z/);
    expect(banner(unknown("unread"))).toMatch(/could not be read again .*Reconnect to the node/s);
  });

  it("failed (not written) and done read as before", () => {
    const f = banner(failed({ state: "not-written" }));
    expect(f).toContain('data-outcome="failed"');
    expect(f).toMatch(/Undone, in order/);
    const done = banner({ ok: true, planId: "p1", stepsDone: 4, verified: [], written: { state: "written", generation: "C", journalEntryId: "j" }, notes: [] });
    expect(done).toContain('data-outcome="succeeded"');
  });
});
