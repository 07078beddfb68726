// app.info, activity.list and lab.start: the app itself, its log, and the
// local lab node it can start.
import { ApiError } from "../../shared/ipc/transport.js";
import type { Handlers } from "./dispatch.js";
import type { ServiceContext } from "./service-context.js";

export function appHandlers(ctx: ServiceContext): Pick<Handlers, "app.info" | "activity.list" | "lab.start"> {
  const { deps } = ctx;
  return {
    "app.info": async () => {
      const secrets = await deps.passphrases.availability();
      return {
        version: deps.version,
        transport: deps.transport,
        labAvailable: deps.lab?.available() ?? false,
        labRunning: deps.lab?.running() ?? false,
        secretStorage: secrets.ok ? { available: true } : { available: false, reason: secrets.reason },
      };
    },

    "activity.list": async (filter) => deps.activity.list(filter),

    "lab.start": async () => {
      if (!deps.lab?.available()) {
        throw new ApiError("A local lab node needs QEMU and OpenSSH's sshd: install qemu-system-x86 and openssh-server.", "lab-unavailable");
      }
      const { config: settings, knownHostsLine } = await deps.lab.start();
      await deps.trustKnownHostsLine(knownHostsLine);
      const config = await deps.nodes.add(settings);
      await deps.nodes.connect(config.id);
      await ctx.log({ nodeId: config.id, summary: `Started a local lab node at ${config.host}:${config.port}`, outcome: "info" });
      return ctx.nodeView(config.id);
    },
  };
}
