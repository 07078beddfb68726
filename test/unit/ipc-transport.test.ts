// Both transports check what arrives the same way (shared/ipc/transport.ts):
// an answer against the contract, an event against its schema, and a
// failure as one ApiError with one code, whichever side reported it.
import { describe, it, expect } from "vitest";
import { ApiError, checkAnswer, checkEvent, responseOf } from "../../shared/ipc/transport";
import { toWireError } from "../../electron/app/dispatch";

const INFO = { version: "1", transport: "web", labAvailable: false, labRunning: false };

describe("answers", () => {
  it("a response of the contract's shape is handed on, parsed", () => {
    expect(checkAnswer("app.info", { ok: true, response: INFO })).toEqual({ ok: true, response: INFO });
    expect(responseOf(checkAnswer("app.info", { ok: true, response: INFO }))).toEqual(INFO);
  });

  it("a response of another shape, a malformed answer or an unknown channel is a bad-response error", () => {
    for (const [channel, arrived] of [
      ["app.info", { ok: true, response: { nonsense: true } }],
      ["app.info", "not an answer"],
      ["app.info", { ok: false }],
      ["no.such.channel", { ok: true, response: {} }],
    ] as const) {
      const a = checkAnswer(channel as "app.info", arrived);
      expect(a).toMatchObject({ ok: false, error: { code: "bad-response", message: expect.stringMatching(/does not match this page's contract/) } });
    }
  });

  it("an error main reported becomes one ApiError with its code, on the page's side", () => {
    const thrown = (err: unknown) => {
      try {
        responseOf(checkAnswer("nodes.list", { ok: false, error: toWireError(err) }));
      } catch (e) {
        return e;
      }
      throw new Error("expected an ApiError");
    };
    const unknownNode = thrown(new ApiError("No node with id n1", "unknown-node"));
    expect(unknownNode).toBeInstanceOf(ApiError);
    expect(unknownNode).toMatchObject({ name: "ApiError", message: "No node with id n1", code: "unknown-node" });
    const other = new Error("the file changed");
    other.name = "RuntimeChangedError";
    expect(thrown(other)).toMatchObject({ code: "RuntimeChangedError", message: "the file changed" });
    expect(thrown("a string")).toMatchObject({ code: "error", message: "a string" });
  });

  it("an answer crosses a structured clone (Electron's context bridge) whole, where a thrown ApiError would lose its code", () => {
    const failed = checkAnswer("nodes.list", { ok: false, error: { message: "gone", code: "unknown-node" } });
    expect(structuredClone(failed)).toEqual(failed);
    expect(structuredClone(checkAnswer("app.info", { ok: true, response: INFO }))).toEqual({ ok: true, response: INFO });
    // Why the preload hands over answers, not errors:
    expect((structuredClone(new ApiError("gone", "unknown-node")) as { code?: string }).code).toBeUndefined();
  });
});

describe("events", () => {
  it("an event of the contract's shape is handed on; others are dropped", () => {
    expect(checkEvent("inventory.changed", { nodeId: "n1" })).toEqual({ nodeId: "n1" });
    expect(checkEvent("inventory.changed", { nodeId: 5 })).toBeUndefined();
    expect(checkEvent("no.such.event" as "inventory.changed", {})).toBeUndefined();
  });

  it("progress and outcome events carry shared/hotplug's types", () => {
    const op = { operationId: "o", planId: "p", nodeId: "n", instance: "i" };
    expect(checkEvent("operation.progress", { ...op, index: 0, total: 3, kind: "qmp", describe: "Add it.", state: "done" })).toBeDefined();
    expect(checkEvent("operation.progress", { ...op, index: 0, total: 3, kind: "not-a-step", describe: "x", state: "done" })).toBeUndefined();
    const outcome = { ok: true, planId: "p", stepsDone: 3, verified: [], written: { state: "written", generation: "C", journalEntryId: "j" }, notes: [] };
    expect(checkEvent("operation.outcome", { ...op, outcome })).toEqual({ ...op, outcome });
    expect(checkEvent("operation.outcome", { ...op, outcome: { ...outcome, written: undefined } })).toBeUndefined();
    // A failure says what became of the write: not written, or unknown with what the file held.
    const failed = { ok: false, planId: "p", cause: "write-unknown", failedStep: { index: 2, kind: "write-runtime", describe: "Write." }, error: { name: "E", message: "m" }, stepsDone: 2, undone: [], notUndone: [], notes: [] };
    const unknown = { state: "unknown", why: "lost", onNode: "planned", detail: "sha256 …", checkedAt: "2026-01-01T00:00:00.000Z", journalEntryId: "j" };
    expect(checkEvent("operation.outcome", { ...op, outcome: { ...failed, write: unknown } })).toEqual({ ...op, outcome: { ...failed, write: unknown } });
    expect(checkEvent("operation.outcome", { ...op, outcome: { ...failed, write: { state: "written" } } })).toBeUndefined();
    expect(checkEvent("operation.outcome", { ...op, outcome: { ...failed, write: { ...unknown, onNode: "guessed" } } })).toBeUndefined();
  });
});
