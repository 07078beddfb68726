// The preload: sandboxed, CommonJS, and the only bridge between the page
// and main. It exposes one small typed API (call a contract channel, listen
// to a contract event) and never ipcRenderer itself or its event objects.
// What main sends is checked against the contract here, as the web
// transport checks what its socket brings (shared/ipc/transport.ts); a
// call's answer crosses the context bridge as data, not as a thrown error,
// because the bridge copies errors without their code.
import { contextBridge, ipcRenderer } from "electron";
import { IPC_CALL, IPC_EVENT } from "../../shared/ipc/electron-channels";
import { checkAnswer, checkEvent, type BridgeApi } from "../../shared/ipc/transport";

const api: BridgeApi = {
  async call(channel, request) {
    let arrived: unknown;
    try {
      arrived = await ipcRenderer.invoke(IPC_CALL, channel, request);
    } catch (err) {
      return { ok: false, error: { message: `The app's main process did not answer ${channel}: ${err instanceof Error ? err.message : String(err)}`, code: "ipc-failed" } };
    }
    return checkAnswer(channel, arrived);
  },
  on(event, listener) {
    const handler = (_e: unknown, name: unknown, payload: unknown) => {
      if (name !== event) return;
      const checked = checkEvent(event, payload);
      if (checked !== undefined) listener(checked);
    };
    ipcRenderer.on(IPC_EVENT, handler);
    return () => {
      ipcRenderer.off(IPC_EVENT, handler);
    };
  },
};

contextBridge.exposeInMainWorld("api", api);
