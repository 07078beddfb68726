// The one way a command line for `ssh exec` is built. sshd hands the string
// to the login user's shell (`$SHELL -c <string>`), so every argument is
// single-quoted: inside '...' a POSIX shell gives no character a meaning,
// and a single quote itself is written as '\'' (close, escaped quote, open).
// This assumes a POSIX shell (sh, dash, bash, ksh, zsh) on the node, which
// Ganeti nodes have for root; csh/fish quote differently.

export class RemoteArgumentError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "RemoteArgumentError";
  }
}

/** Quote one argument for a POSIX shell. Always quotes, even "safe" text. */
export function shellQuote(arg: string): string {
  if (typeof arg !== "string") {
    throw new RemoteArgumentError(`A remote command argument must be a string, got ${typeof arg}.`);
  }
  // No C string (argv entry) can hold a NUL: it would silently cut the
  // argument short on the node. Refuse instead of truncating.
  const nul = arg.indexOf("\0");
  if (nul !== -1) {
    throw new RemoteArgumentError(
      `A remote command argument contains a NUL byte at offset ${nul} (${JSON.stringify(arg.slice(0, 40))}): NUL cannot be passed in a command line. Remove it or pass the data on stdin.`,
    );
  }
  return `'${arg.split("'").join(`'\\''`)}'`;
}

/** Build the command string for ssh exec from argv; argv[0] is the program. */
export function remoteCommand(argv: readonly string[]): string {
  if (argv.length === 0) {
    throw new RemoteArgumentError("A remote command needs at least the program name (argv is empty).");
  }
  if (argv[0] === "") {
    throw new RemoteArgumentError("A remote command's program name (argv[0]) is empty.");
  }
  return argv.map(shellQuote).join(" ");
}
