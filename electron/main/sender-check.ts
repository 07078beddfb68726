// Which frames may call the app's API over Electron IPC: only the top-level
// frame of our own page (app://hotplug-desk, or the dev server in
// development). Kept free of the electron import so it can be tested in Node.
import { APP_ORIGIN } from "../../shared/ipc/electron-channels.js";

export interface SenderFrameLike {
  origin: string;
  parent: unknown;
}

export function trustedOrigin(origin: string, devUrl: string | undefined): boolean {
  if (origin === APP_ORIGIN) return true;
  return devUrl !== undefined && origin === new URL(devUrl).origin;
}

/** Use the frame's origin, not its URL; a vanished frame (null) is refused. */
export function validSenderFrame(frame: SenderFrameLike | null, devUrl: string | undefined): boolean {
  return frame !== null && frame.parent === null && trustedOrigin(frame.origin, devUrl);
}
