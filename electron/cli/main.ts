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
  migrate-check  compare what a migration target would run with the live bus

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
    if (area === "nic" || area === "disk" || area === "migrate-check") return await (await import("./hotplug-commands")).runHotplugCommand(argv, io);
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
  process.exitCode = await run(argv, processIo);
}
