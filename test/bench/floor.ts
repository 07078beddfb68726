// Drives qmp_floor.py: one python3 process for the whole run, one request
// per floor measurement; the time is taken inside python, around the QMP
// exchange only.
import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import { createInterface } from "node:readline";
import { join } from "node:path";

export interface FloorRequest {
  socket: string;
  commands: { command: string; arguments?: Record<string, unknown> }[];
  /** Open this tap and pass it with getfd as `fdname` before the commands. */
  tap?: string;
  fdname?: string;
  /** Wait for DEVICE_DELETED of this id after device_del. */
  deleted?: string;
}

export class QmpFloor {
  private readonly waiting: ((line: string) => void)[] = [];
  private constructor(private readonly child: ChildProcessWithoutNullStreams) {
    createInterface({ input: child.stdout }).on("line", (line) => this.waiting.shift()?.(line));
  }

  static start(): QmpFloor {
    return new QmpFloor(spawn("python3", [join(__dirname, "qmp_floor.py")], { stdio: ["pipe", "pipe", "pipe"] }));
  }

  run(req: FloorRequest): Promise<number> {
    return new Promise((resolve, reject) => {
      this.waiting.push((line) => {
        const r = JSON.parse(line) as { ms?: number; error?: string };
        if (typeof r.ms === "number") resolve(r.ms);
        else reject(new Error(`QMP floor: ${r.error ?? line}`));
      });
      this.child.stdin.write(`${JSON.stringify(req)}\n`);
    });
  }

  stop(): void {
    this.child.stdin.end();
  }
}
