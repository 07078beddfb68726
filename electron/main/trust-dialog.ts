// Electron's trust gesture: a dialog owned by the main process, showing the
// fingerprint. The page only asks main to ask; it cannot answer for the
// user, because the answer comes from this native dialog. showMessageBox is
// passed in (Electron's dialog.showMessageBox), so this file holds no
// Electron import and can be tested in Node.
import type { BaseWindow, MessageBoxOptions, MessageBoxReturnValue } from "electron";
import type { GestureResult, HostKeyToTrust, TrustGesture } from "../node-registry/trust-gesture.js";
import { nodeKeyFile } from "../node-registry/host-trust.js";

export type ShowMessageBox = (window: BaseWindow, options: MessageBoxOptions) => Promise<MessageBoxReturnValue>;

const TRUST = 1;

export function trustDialogOptions(key: HostKeyToTrust): MessageBoxOptions {
  return {
    type: "warning",
    title: "Trust host key?",
    message: `Trust the host key of ${key.nodeName}?`,
    detail:
      `${key.target} presents this ${key.keyType} key:\n\n${key.fingerprint}\n\n` +
      (key.vouched ? `${key.vouched}\n\n` : "") +
      `Compare it with the node's own (ssh-keygen -lf ${nodeKeyFile(key.keyType)} on the node). Trust it only if they match: once trusted, this app connects to that key as root without asking again.`,
    buttons: ["Don't trust", "Trust and connect"],
    defaultId: 0,
    cancelId: 0,
    noLink: true,
  };
}

export function dialogTrustGesture(getWindow: () => BaseWindow | undefined, showMessageBox: ShowMessageBox): TrustGesture {
  // One dialog per key at a time: a page asking again gets the same answer.
  const open = new Map<string, Promise<GestureResult>>();
  return {
    confirm(key) {
      const id = `${key.nodeId}\n${key.fingerprint}`;
      const already = open.get(id);
      if (already) return already;
      const asked = (async (): Promise<GestureResult> => {
        const win = getWindow();
        if (!win) return { kind: "declined", reason: "The app's window is closed: there is nobody to ask. Nothing was trusted." };
        const { response } = await showMessageBox(win, trustDialogOptions(key));
        return response === TRUST ? { kind: "confirmed", how: "confirmed in the app's own dialog" } : { kind: "declined", reason: "You chose not to trust this key. Nothing was written." };
      })().finally(() => open.delete(id));
      open.set(id, asked);
      return asked;
    },
  };
}
