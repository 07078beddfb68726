// Picks the transport: Electron's preload provides window.api; in a plain
// browser the page was served by the web host and talks to it over WebSocket.
import type { HotplugDeskApi } from "../../../shared/ipc/contract";
import { responseOf, type BridgeApi } from "../../../shared/ipc/transport";
import { apiUrlFor, createWebApi, tokenFromHash, type ConnectionStatus } from "./web-transport";

declare global {
  interface Window {
    /** Set by Electron's preload: checked answers and events, the same checks as the web transport's. */
    api?: BridgeApi;
  }
}

/** The API plus, for the web transport, the state of its connection. */
export interface DeskApi extends HotplugDeskApi {
  transport: "electron" | "web";
  status?: () => ConnectionStatus;
  onStatus?: (listener: (s: ConnectionStatus) => void) => () => void;
}

export type ApiChoice = { ok: true; api: DeskApi } | { ok: false; message: string };

export function chooseApi(win: Window = window): ApiChoice {
  const bridged = win.api;
  if (bridged) {
    // A failed answer becomes the ApiError here, on the page's side of the bridge.
    return { ok: true, api: { transport: "electron", call: (channel, request) => bridged.call(channel, request).then(responseOf), on: bridged.on.bind(bridged) } };
  }
  const token = tokenFromHash(win.location.hash);
  if (token === null) {
    return {
      ok: false,
      message:
        "This page needs the address the Hotplug Desk host printed when it started, including its #token=… part. Open that exact address (the token changes each time the host starts).",
    };
  }
  const web = createWebApi({ url: apiUrlFor(win.location), token });
  return {
    ok: true,
    api: {
      transport: "web",
      call: web.call.bind(web),
      on: web.on.bind(web),
      status: () => web.status,
      onStatus: web.onStatus.bind(web),
    },
  };
}

export { ApiError } from "../../../shared/ipc/transport";
export type { ConnectionStatus } from "./web-transport";
