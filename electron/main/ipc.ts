// The only ipcMain user. Every call is checked for its sender (our own
// top-level page, served from app://hotplug-desk) before the Dispatcher
// validates its payload against the contract with zod.
import { ipcMain, type WebContents, type IpcMainInvokeEvent } from "electron";
import { IPC_CALL, IPC_EVENT } from "../../shared/ipc/electron-channels.js";
import { validSenderFrame } from "./sender-check.js";
import { toWireError, type Dispatcher, type EventBus } from "../app/dispatch.js";

export function validSender(e: IpcMainInvokeEvent, devUrl: string | undefined): boolean {
  // Only the top-level frame of our own page may call: no iframes, no other origins.
  return validSenderFrame(e.senderFrame, devUrl);
}

export function registerIpc(dispatcher: Dispatcher, bus: EventBus, getContents: () => WebContents | undefined, devUrl: string | undefined): () => void {
  ipcMain.handle(IPC_CALL, async (e, channel: unknown, request: unknown) => {
    if (!validSender(e, devUrl)) return { ok: false, error: { message: "Refused: this page may not call the app's API.", code: "bad-sender" } };
    try {
      return { ok: true, response: await dispatcher.call(channel, request) };
    } catch (err) {
      return { ok: false, error: toWireError(err) };
    }
  });
  const unsubscribe = bus.subscribe((event, payload) => {
    const wc = getContents();
    if (wc && !wc.isDestroyed()) wc.send(IPC_EVENT, event, payload);
  });
  return () => {
    ipcMain.removeHandler(IPC_CALL);
    unsubscribe();
  };
}
