// The preload: sandboxed, CommonJS, and the only bridge between the page
// and main. It exposes one small typed API (call a contract channel, listen
// to a contract event) and never ipcRenderer itself or its event objects.
import { contextBridge, ipcRenderer } from "electron";
import type { HotplugDeskApi } from "../../shared/ipc/contract";
import { IPC_CALL, IPC_EVENT } from "../../shared/ipc/electron-channels";

type CallResult = { ok: true; response: unknown } | { ok: false; error: { message: string; code?: string } };

const api: HotplugDeskApi = {
  async call(channel, request) {
    const result = (await ipcRenderer.invoke(IPC_CALL, channel, request)) as CallResult;
    if (!result.ok) {
      const err = new Error(result.error.message);
      if (result.error.code) err.name = result.error.code;
      throw err;
    }
    return result.response as never;
  },
  on(event, listener) {
    const handler = (_e: unknown, name: unknown, payload: unknown) => {
      if (name === event) listener(payload as never);
    };
    ipcRenderer.on(IPC_EVENT, handler);
    return () => {
      ipcRenderer.off(IPC_EVENT, handler);
    };
  },
};

contextBridge.exposeInMainWorld("api", api);
