// The two trust gestures, each as its transport uses it: the web host's
// one-time code (printed only to its terminal, bounded guessing) and
// Electron's main-process dialog. Electron cannot run on the build
// machines, so the dialog is driven through a stand-in for
// dialog.showMessageBox (FAKE: it plays the user clicking a button).
import { describe, it, expect } from "vitest";
import { typedCodeGesture, CODE_TRIES, CODE_TTL_MS } from "../../electron/web-host/typed-code-gesture";
import { dialogTrustGesture, type ShowMessageBox } from "../../electron/main/trust-dialog";
import type { HostKeyToTrust } from "../../electron/node-registry/trust-gesture";
import type { BaseWindow, MessageBoxOptions } from "electron";

const key: HostKeyToTrust = { nodeId: "n1", nodeName: "Node one", target: "root@10.0.0.1:22", keyType: "ssh-ed25519", fingerprint: "SHA256:abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQ" };
const otherKey: HostKeyToTrust = { ...key, fingerprint: "SHA256:0000000000000000000000000000000000000000000" };

function codeIn(printed: string): string {
  const m = /\n {4}(\d{4}) (\d{4})\n/.exec(printed);
  if (!m) throw new Error(`no code in: ${printed}`);
  return `${m[1]}${m[2]}`;
}

describe("web host: one-time code from the terminal", () => {
  it("asks for a code, prints it only to the terminal with the fingerprint, and confirms with it once", async () => {
    const terminal: string[] = [];
    const g = typedCodeGesture({ terminal: (t) => void terminal.push(t) });
    const first = await g.confirm(key, undefined);
    expect(first.kind).toBe("code-needed");
    // What the page gets back holds no code.
    expect(JSON.stringify(first)).not.toMatch(/\d{4} ?\d{4}/);
    expect(terminal).toHaveLength(1);
    expect(terminal[0]).toContain(key.fingerprint);
    expect(terminal[0]).toContain("/etc/ssh/ssh_host_ed25519_key.pub");
    const code = codeIn(terminal[0]!);
    expect(await g.confirm(key, `${code.slice(0, 4)} ${code.slice(4)}`)).toMatchObject({ kind: "confirmed" });
    // Used up: the same code again only gets a new one printed.
    expect((await g.confirm(key, code)).kind).toBe("code-needed");
    expect(terminal).toHaveLength(2);
  });

  it("a code confirms only the key it was printed for", async () => {
    const terminal: string[] = [];
    const g = typedCodeGesture({ terminal: (t) => void terminal.push(t) });
    await g.confirm(key, undefined);
    const code = codeIn(terminal[0]!);
    expect((await g.confirm(otherKey, code)).kind).toBe("code-needed");
    expect(await g.confirm(key, code)).toMatchObject({ kind: "confirmed" });
  });

  it(`a wrong code ${CODE_TRIES} times voids the code, and an expired code is refused`, async () => {
    const terminal: string[] = [];
    let now = 1_000_000;
    const g = typedCodeGesture({ terminal: (t) => void terminal.push(t), now: () => now });
    await g.confirm(key, undefined);
    const code = codeIn(terminal[0]!);
    const wrong = code === "00000000" ? "11111111" : "00000000";
    for (let i = 1; i < CODE_TRIES; i++) expect(await g.confirm(key, wrong)).toMatchObject({ kind: "declined", reason: expect.stringMatching(/wrong/) });
    expect(await g.confirm(key, wrong)).toMatchObject({ kind: "declined", reason: expect.stringMatching(/no longer valid/) });
    expect((await g.confirm(key, code)).kind).toBe("code-needed");
    const fresh = codeIn(terminal.at(-1)!);
    now += CODE_TTL_MS + 1;
    expect(await g.confirm(key, fresh)).toMatchObject({ kind: "code-needed", prompt: expect.stringMatching(/expired/) });
  });
});

describe("Electron: the main process's own dialog", () => {
  const win = {} as BaseWindow;

  it("shows the fingerprint, defaults to not trusting, and confirms only on the trust button", async () => {
    const shown: MessageBoxOptions[] = [];
    let answer = 1;
    // FAKE dialog.showMessageBox: records what main shows and answers as the user would.
    const showMessageBox: ShowMessageBox = async (_w, o) => {
      shown.push(o);
      return { response: answer, checkboxChecked: false };
    };
    const g = dialogTrustGesture(() => win, showMessageBox);
    expect(await g.confirm(key, "anything the page typed")).toMatchObject({ kind: "confirmed" });
    expect(shown[0]?.detail).toContain(key.fingerprint);
    expect(shown[0]?.detail).toContain(key.target);
    expect(shown[0]).toMatchObject({ defaultId: 0, cancelId: 0 });
    expect(shown[0]?.buttons?.[1]).toBe("Trust and connect");
    answer = 0;
    expect((await g.confirm(key, undefined)).kind).toBe("declined");
  });

  it("asks once per key however often the page asks, and refuses without a window", async () => {
    let calls = 0;
    let click: (n: number) => void = () => {};
    const showMessageBox: ShowMessageBox = () => {
      calls++;
      return new Promise((r) => (click = (n) => r({ response: n, checkboxChecked: false })));
    };
    const g = dialogTrustGesture(() => win, showMessageBox);
    const a = g.confirm(key, undefined);
    const b = g.confirm(key, undefined);
    await new Promise((r) => setImmediate(r));
    click(1);
    expect(await a).toMatchObject({ kind: "confirmed" });
    expect(await b).toMatchObject({ kind: "confirmed" });
    expect(calls).toBe(1);
    expect((await dialogTrustGesture(() => undefined, showMessageBox).confirm(key, undefined)).kind).toBe("declined");
  });
});
