// Trusting an unknown host key needs a gesture by the user that the main
// side can verify: a caller of the API (a page, a script holding the web
// host's token) can ask for trust but cannot give it. The gesture is a port
// with one implementation per transport:
//   - Electron: a dialog owned by the main process (electron/main/trust-dialog.ts);
//   - web host: a one-time code printed only in the terminal that started it,
//     typed back into the page (electron/web-host/typed-code-gesture.ts).
// The service never branches on the transport: it asks the port.
import { NodeManagerError, type NodeManager } from "./node-manager.js";

/** The key the user is asked about: what the node presented in its "unknown" verdict. */
export interface HostKeyToTrust {
  nodeId: string;
  nodeName: string;
  /** user@host:port */
  target: string;
  keyType: string;
  fingerprint: string;
  /** What the node's Ganeti cluster says of the key (its known_hosts), when the node came from one: shown, never decisive. */
  vouched?: string;
}

export type GestureResult =
  /** The user confirmed this key in a way main saw. */
  | { kind: "confirmed"; how: string }
  /** The user said no, or the confirmation was wrong; nothing is written. */
  | { kind: "declined"; reason: string }
  /** The page must collect something from the user (a code) and call again with it. */
  | { kind: "code-needed"; prompt: string };

export interface TrustGesture {
  /**
   * Asks the user to confirm `key`. `typed` is what the user typed into the
   * page's dialog, for transports that ask for it (ignored by the others).
   */
  confirm(key: HostKeyToTrust, typed: string | undefined): Promise<GestureResult>;
}

/** Where no gesture is possible (no window, no terminal): trust is always refused, with the way out. */
export const NO_TRUST_GESTURE: TrustGesture = {
  async confirm(key) {
    return {
      kind: "declined",
      reason: `This app has no way to ask you to confirm a host key here. Add the key to known_hosts yourself after comparing it (${key.keyType} ${key.fingerprint}), e.g. with ssh-keyscan, then connect again.`,
    };
  },
};

export type TrustOutcome =
  | { outcome: "trusted"; activity: { summary: string; outcome: "info" } }
  | { outcome: "code-needed"; prompt: string }
  | { outcome: "declined"; reason: string; activity: { summary: string; outcome: "refused"; detail: string } };

/**
 * nodes.trustHostKey: the fingerprint must be the one the node presented in
 * its pending "unknown" verdict; then the user confirms through the port;
 * only then is the key written (NodeManager.trustHostKey checks again that
 * the node still presents it).
 */
export async function trustHostKeyWithGesture(
  nodes: Pick<NodeManager, "list" | "hostKeyAwaitingTrust" | "trustHostKey">,
  gesture: TrustGesture,
  req: { nodeId: string; fingerprint: string; code?: string | undefined },
): Promise<TrustOutcome> {
  // Asking the user only makes sense for the key that is actually waiting: this throws otherwise.
  const pending = nodes.hostKeyAwaitingTrust(req.nodeId, req.fingerprint);
  const config = nodes.list().find((n) => n.id === req.nodeId);
  if (!config) throw new NodeManagerError("unknown-node", `No node with id "${req.nodeId}": it may have been removed. Refresh the node list.`);
  const key: HostKeyToTrust = {
    nodeId: config.id,
    nodeName: config.name,
    target: `${config.user}@${config.host}:${config.port}`,
    keyType: pending.keyType,
    fingerprint: pending.fingerprint,
    ...(pending.expected
      ? {
          vouched: pending.expected.matches
            ? `It is the key ${pending.expected.source} lists for the cluster's nodes.`
            : `It is NOT the key ${pending.expected.source} lists (${pending.expected.keyType} ${pending.expected.fingerprint}).`,
        }
      : {}),
  };
  const said = await gesture.confirm(key, req.code);
  if (said.kind === "code-needed") return { outcome: "code-needed", prompt: said.prompt };
  if (said.kind === "declined") {
    return { outcome: "declined", reason: said.reason, activity: { summary: `Host key ${key.fingerprint} of ${key.target} not trusted`, outcome: "refused", detail: said.reason } };
  }
  await nodes.trustHostKey(req.nodeId, key.fingerprint);
  return { outcome: "trusted", activity: { summary: `Trusted host key ${key.keyType} ${key.fingerprint} of ${key.target} (${said.how})`, outcome: "info" } };
}
