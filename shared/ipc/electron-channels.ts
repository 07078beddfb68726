// The two Electron IPC channels that carry the whole contract: one invoke
// channel for calls and one push channel for events.
export const IPC_CALL = "hotplug-desk:call";
export const IPC_EVENT = "hotplug-desk:event";
/** The custom scheme the packaged UI is served from (never file://). */
export const APP_SCHEME = "app";
export const APP_HOST = "hotplug-desk";
export const APP_ORIGIN = `${APP_SCHEME}://${APP_HOST}`;
