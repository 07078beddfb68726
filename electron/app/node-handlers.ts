// nodes.*: the configured nodes, their connections, host keys and key-file
// passphrases.
import { importSshConfig } from "../node-registry/ssh-config-import.js";
import { NO_TRUST_GESTURE, trustHostKeyWithGesture } from "../node-registry/trust-gesture.js";
import { ApiError } from "../../shared/ipc/transport.js";
import type { Handlers } from "./dispatch.js";
import type { ServiceContext } from "./service-context.js";

type NodeChannel = Extract<keyof Handlers, `nodes.${string}`>;

export function nodeHandlers(ctx: ServiceContext): Pick<Handlers, NodeChannel> {
  const { deps, nodeView, nodeConfig, log } = ctx;
  return {
    "nodes.list": async () => deps.nodes.list().map((c) => nodeView(c.id)),

    "nodes.add": async (req) => {
      const config = await deps.nodes.addFromRequest(req);
      void deps.nodes.connect(config.id).catch(() => {});
      await log({ nodeId: config.id, summary: `Added node ${config.name} (${config.user}@${config.host}:${config.port})`, outcome: "info" });
      return nodeView(config.id);
    },

    "nodes.remove": async ({ nodeId }) => {
      await deps.nodes.remove(nodeId);
      // A node added later under the same id must not inherit the key's passphrase.
      await deps.passphrases.forget(nodeId).catch(async (err: unknown) => {
        await log({ nodeId, summary: "Could not remove the removed node's passphrase from the keychain", outcome: "failed", detail: err instanceof Error ? err.message : String(err) });
      });
      return {};
    },

    // The passphrase goes to the passphrase store and the node manager only:
    // no response, activity entry or error below contains it.
    "nodes.setPassphrase": async ({ nodeId, passphrase, remember }) => {
      const config = nodeConfig(nodeId);
      const key = await deps.nodes.checkKeyPassphrase(nodeId);
      if (!key.encrypted) {
        throw new ApiError(`The key file of ${config.name} has no passphrase: nothing to enter. Connect the node instead.`, "not-encrypted");
      }
      let outcome: { remembered: boolean; reason?: string };
      if (remember && (await deps.passphrases.availability()).ok && !(await deps.nodes.checkKeyPassphrase(nodeId, passphrase)).opens) {
        // Only a passphrase that opens the key goes into the keychain.
        await deps.passphrases.set(nodeId, passphrase, { remember: false });
        outcome = { remembered: false, reason: "It does not open the key file, so it was not remembered." };
      } else {
        const r = await deps.passphrases.set(nodeId, passphrase, { remember });
        outcome = r.remembered ? { remembered: true } : { remembered: false, reason: r.reason };
      }
      const status = await deps.nodes.reconnect(nodeId);
      const wrong = status.needs === "passphrase";
      const kept = wrong ? "it was wrong and is not kept" : outcome.remembered ? "remembered in the system keychain" : `kept until the app quits${remember ? ` (not remembered: ${outcome.reason})` : ""}`;
      await log({
        nodeId,
        summary: `Passphrase entered for the key file of ${config.name}: ${kept}`,
        outcome: wrong ? "failed" : "info",
        ...(wrong && status.detail ? { detail: status.detail } : {}),
      });
      return {
        ...nodeView(nodeId),
        remembered: !wrong && outcome.remembered,
        ...(wrong ? { rememberReason: "The passphrase is wrong: it does not open the key file." } : outcome.remembered ? {} : { rememberReason: outcome.reason }),
      };
    },

    "nodes.forgetPassphrase": async ({ nodeId }) => {
      const config = nodeConfig(nodeId);
      await deps.passphrases.forget(nodeId);
      await log({ nodeId, summary: `Forgot the passphrase for the key file of ${config.name} (in memory and in the system keychain); it is asked for at the next connection`, outcome: "info" });
      return {};
    },

    "nodes.setDiskPathAllow": async ({ nodeId, paths }) => {
      const config = await deps.nodes.setDiskPathAllow(nodeId, paths);
      await log({ nodeId, summary: paths.length ? `Disks of ${config.name} may also come from ${paths.join(", ")}` : `Disks of ${config.name} come only from its Ganeti storage`, outcome: "info" });
      return nodeView(nodeId);
    },

    "nodes.importSshConfig": async () => importSshConfig(),

    "nodes.connect": async ({ nodeId }) => {
      await deps.nodes.connect(nodeId);
      return nodeView(nodeId);
    },

    // Host-key trust: only with the user's gesture, through the transport's port.
    "nodes.trustHostKey": async (req) => {
      const r = await trustHostKeyWithGesture(deps.nodes, deps.trustGesture ?? NO_TRUST_GESTURE, req);
      if (r.outcome !== "code-needed") await log({ nodeId: req.nodeId, ...r.activity });
      return r.outcome === "trusted" ? { outcome: "trusted", node: nodeView(req.nodeId) } : r.outcome === "declined" ? { outcome: "declined", reason: r.reason } : r;
    },
  };
}
