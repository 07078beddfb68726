// hotplug-desk command line: `hotplug-desk <area> <command> …`. Exit codes:
// 0 ok, 1 the command failed (reasons on stderr), 2 bad command line.
// Each area's module is imported when that area runs, so the file commands
// (`runtime …`) never load the SSH side.
import { UsageError, processIo, type CliIo } from "./io";

export const MAIN_USAGE = `Usage: hotplug-desk <area> <command> [options]

Areas:
  runtime     inspect, convert and check Ganeti KVM runtime files
  inventory   list a node's instances with their PCI/SCSI maps (file and live) and drift
  nic         add, remove or modify a NIC of a running instance (hotplug)
  disk        add or remove a disk of a running instance (hotplug)
  repair      repair a device's drift among Ganeti's configuration, the runtime file and the live bus
  migrate-check  compare what a migration target would run with the live bus
  cluster     show the Ganeti cluster a node belongs to: nodes, versions, instances, devices three ways

Run "hotplug-desk <area> --help" for details.
`;

export async function run(argv: string[], io: CliIo): Promise<number> {
  const [area, ...rest] = argv;
  try {
    if (area === "--help" || area === "-h" || area === "help") {
      io.out(MAIN_USAGE);
      return 0;
    }
    if (area === undefined) throw new UsageError("missing area", MAIN_USAGE);
    if (area === "runtime") return (await import("./runtime-commands")).runtimeCommand(rest, io);
    if (area === "inventory") return await (await import("./inventory-command")).inventoryCommand(rest, io);
    if (area === "cluster") return await (await import("./cluster-command")).clusterCommand(rest, io);
    if (area === "nic" || area === "disk" || area === "repair" || area === "migrate-check") return await (await import("./hotplug-commands")).runHotplugCommand(argv, io);
    throw new UsageError(area.startsWith("-") ? `unknown option ${area}` : `unknown area "${area}"`, MAIN_USAGE);
  } catch (e) {
    if (e instanceof UsageError) {
      io.err(`hotplug-desk: ${e.message}\n\n${e.usage}`);
      return 2;
    }
    io.err(`hotplug-desk: internal error: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    return 1;
  }
}

/** Runs the command line of this process; the exit status is set, not forced, so stdout drains. */
export async function main(argv: string[] = process.argv.slice(2)): Promise<void> {
  let finished = false;
  // Safety net: if something the command waits for never settles, Node would
  // exit 0 with nothing said once the event loop is empty. Say so and fail.
  process.once("beforeExit", () => {
    if (finished) return;
    const message = "the command stopped before finishing: something it waited for never answered. Nothing can be assumed done; check the node.";
    if (argv[0] === "nic" || argv[0] === "disk" || argv[0] === "repair" || argv[0] === "migrate-check") {
      process.stdout.write(`${JSON.stringify({ status: "error", error: { name: "Unfinished", message } }, null, 2)}\n`);
    } else {
      process.stderr.write(`hotplug-desk: ${message}\n`);
    }
    process.exitCode = 1;
  });
  const code = await run(argv, processIo);
  finished = true;
  process.exitCode = code;
}
