// The way to a node that is not reached directly, as ssh2's `sock`:
// - ProxyCommand: the command runs as an argument vector (never a shell
//   string), its stdin and stdout are the connection;
// - ProxyJump: an ssh2 connection to each jump host in turn (its host key
//   checked like the node's), each forwarding a TCP channel to the next.
// The final node's host key is checked by the caller on the stream returned.
import { spawn } from "node:child_process";
import { Duplex, Writable } from "node:stream";
import { Client, type ClientChannel, type ConnectConfig } from "ssh2";
import { expandProxyCommand, parseProxyCommand, parseProxyJump, type JumpHost } from "../../shared/node-registry/proxy.js";

/** Where the connection goes and how it gets there. */
export interface Route {
  host: string;
  port: number;
  username: string;
  proxyCommand?: string;
  proxyJump?: string;
  /** %n of ProxyCommand: the name the node was given (ssh config alias). */
  alias?: string;
}

export interface Transport {
  /** The stream for ssh2's `sock`; undefined means a plain TCP connection. */
  sock?: Duplex;
  /** Ends what the route opened (the command, the jump connections). Idempotent. */
  close(): void;
  /** An error of the final connection, with what the route knows about it (the command's exit and stderr). */
  explain(err: Error): Promise<Error>;
  /** "via …", for labels and messages; empty for a direct connection. */
  via: string;
}

/** Checks a host key presented by host:port; returns the error to fail with, undefined when trusted. */
export type HostCheck = (host: string, port: number, key: Buffer, role: "node" | "jump host") => Error | undefined;

export class ProxyError extends Error {
  constructor(
    message: string,
    /** True when retrying cannot help until the settings change (a bad command line, a refused login at a jump host). */
    readonly final = false,
  ) {
    super(message);
    this.name = "ProxyError";
  }
}

export async function openTransport(route: Route, base: ConnectConfig, check: HostCheck): Promise<Transport> {
  if (route.proxyCommand !== undefined) return proxyCommand(route, route.proxyCommand);
  if (route.proxyJump !== undefined) {
    const hops = parseProxyJump(route.proxyJump);
    if (!hops.ok) throw new ProxyError(hops.error, true);
    return jumpHosts(route, hops.value, base, check);
  }
  return { close: () => {}, explain: async (e) => e, via: "" };
}

const STDERR_LIMIT = 4096;

/**
 * A writer to `out` that passes on what is written in one tick as one write.
 * A ProxyCommand relays each write it reads to TCP; one that does so without
 * TCP_NODELAY (socat, nc, the lab's) would send each SSH packet of a batch
 * (the key exchange, pipelined requests) as its own small segment, and
 * Nagle's algorithm holds each back until the one before it is acknowledged:
 * with delayed ACKs, ~40 ms apiece.
 */
export class SameTickWriter extends Writable {
  constructor(private readonly out: Writable) {
    super();
    // The command's stdin fails when the command has gone: that ends this writer, not the app.
    out.on("error", (err) => this.destroy(err));
  }

  override write(chunk: unknown, encoding?: BufferEncoding | ((error: Error | null | undefined) => void), cb?: (error: Error | null | undefined) => void): boolean {
    if (this.writableCorked === 0) {
      this.cork();
      process.nextTick(() => this.uncork());
    }
    if (typeof encoding === "function") return super.write(chunk, encoding);
    return encoding === undefined ? super.write(chunk, cb) : super.write(chunk, encoding, cb);
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, cb: (error?: Error | null) => void): void {
    this.out.write(chunk, cb);
  }

  override _writev(chunks: { chunk: Buffer }[], cb: (error?: Error | null) => void): void {
    this.out.write(Buffer.concat(chunks.map((c) => c.chunk)), cb);
  }

  override _final(cb: (error?: Error | null) => void): void {
    this.out.end(() => cb());
  }

  override _destroy(err: Error | null, cb: (error?: Error | null) => void): void {
    this.out.destroy();
    cb(err);
  }
}

async function proxyCommand(route: Route, text: string): Promise<Transport> {
  const parsed = parseProxyCommand(text);
  if (!parsed.ok) throw new ProxyError(parsed.error, true);
  const argv = expandProxyCommand(parsed.value, { host: route.host, port: route.port, user: route.username, alias: route.alias });
  const [file, ...args] = argv as [string, ...string[]];
  const child = spawn(file, args, { stdio: ["pipe", "pipe", "pipe"] });
  let stderr = "";
  child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr = (stderr + d).slice(-STDERR_LIMIT)));
  await new Promise<void>((resolve, reject) => {
    child.once("spawn", () => resolve());
    child.once("error", (err) => reject(new ProxyError(`ProxyCommand ${argv.join(" ")} could not start: ${err.message}. Check the command in the node's settings.`, true)));
  });
  let exit: string | undefined;
  const closed = new Promise<void>((resolve) =>
    child.once("close", (code, signal) => {
      exit = code !== null ? `exited with ${code}` : `was killed by ${signal}`;
      resolve();
    }),
  );
  const sock = Duplex.from({ readable: child.stdout, writable: new SameTickWriter(child.stdin) });
  // A write after the command died must end the connection, not the app.
  sock.on("error", () => {});
  // Ending the command ends both pipes; destroying the stream instead would
  // hand ssh2 an abort error after the connection is already over.
  const close = () => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
  };
  return {
    sock,
    close,
    via: `via ProxyCommand ${file}`,
    explain: async (err) => {
      // The connection usually breaks because the command ended: let its last words arrive.
      await Promise.race([closed, new Promise((r) => setTimeout(r, 1000))]);
      const said = stderr.trim();
      if (!exit && !said) return err;
      return new ProxyError(`${err.message} (the ProxyCommand ${argv.join(" ")}${exit ? ` ${exit}` : ""}${said ? `: ${said}` : ""})`);
    },
  };
}

function forwardOut(client: Client, host: string, port: number, via: string): Promise<ClientChannel> {
  return new Promise((resolve, reject) => {
    client.forwardOut("127.0.0.1", 0, host, port, (err, stream) => {
      if (err) reject(new ProxyError(`The jump host ${via} could not open a connection to ${host}:${port}: ${err.message}. Check that ${via} reaches it and allows TCP forwarding.`));
      else resolve(stream);
    });
  });
}

function connectHop(config: ConnectConfig, label: string, check: HostCheck, host: string, port: number): Promise<Client> {
  return new Promise((resolve, reject) => {
    const client = new Client();
    let rejection: Error | undefined;
    client.once("ready", () => resolve(client));
    let failed = false;
    client.on("error", (err: Error & { level?: string }) => {
      if (failed) return; // the first error decides
      failed = true;
      client.destroy();
      const refused = err.level === "client-authentication";
      const why = refused ? `it did not accept the node's key as ${String(config.username)} (add the public key to its authorized_keys, or give the jump host's user as user@host)` : err.message;
      reject(rejection ?? new ProxyError(`Cannot connect to the jump host ${label}: ${why}.`, refused));
    });
    client.connect({
      ...config,
      hostVerifier: (key: Buffer) => {
        rejection = check(host, port, key, "jump host");
        return rejection === undefined;
      },
    });
  });
}

async function jumpHosts(route: Route, hops: JumpHost[], base: ConnectConfig, check: HostCheck): Promise<Transport> {
  const clients: Client[] = [];
  const close = () => {
    for (const c of clients.splice(0).reverse()) c.end();
  };
  try {
    let sock: ClientChannel | undefined;
    let prev: string | undefined;
    for (const hop of hops) {
      const label = `${hop.host}:${hop.port}`;
      if (prev !== undefined) sock = await forwardOut(clients[clients.length - 1]!, hop.host, hop.port, prev);
      const { sock: _s, hostVerifier: _v, ...rest } = base;
      // connectHop keeps an error listener on the client: a jump host's later
      // error (keepalive) is not thrown as unhandled; the final connection reports it.
      const client = await connectHop({ ...rest, host: hop.host, port: hop.port, username: hop.user ?? route.username, ...(sock ? { sock } : {}) }, label, check, hop.host, hop.port);
      clients.push(client);
      prev = label;
    }
    const stream = await forwardOut(clients[clients.length - 1]!, route.host, route.port, prev!);
    return { sock: stream, close, via: `via ${hops.map((h) => `${h.host}:${h.port}`).join(", ")}`, explain: async (e) => e };
  } catch (err) {
    close();
    throw err;
  }
}
